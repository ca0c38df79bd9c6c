#!/usr/bin/python3
"""Fake Twilio: POST /2010-04-01/Accounts/{AccountSid}/Messages.json (form: To, From, Body,
StatusCallback; Basic auth AccountSid:AuthToken) answering 201 with the message resource;
incoming-message and status-callback webhooks as forms signed with X-Twilio-Signature
(base64 HMAC-SHA1 of the URL + sorted name/value pairs, keyed with the auth token).

    python3 tests/fakes/fake_twilio.py --account-sid AC123 --auth-token T \
        --mo-url https://gw.example.no/sms/twilio/tw/mo --number +4790000002
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeprov import FakeProvider, basic_auth, jdump, main_for  # noqa: E402


def twilio_signature(token, url, params):
    data = url + "".join(k + v for k, v in sorted(params.items()))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class FakeTwilio(FakeProvider):
    name = "twilio"

    def __init__(self, account_sid="AC123", auth_token="twtoken", mo_url=None,
                 number="+4790000002", **kw):
        super().__init__(**kw)
        self.sid, self.token = account_sid, auth_token
        self.mo_url, self.number = mo_url, number
        self.sent = {}

    @staticmethod
    def add_arguments(ap):
        ap.add_argument("--account-sid", default="AC123")
        ap.add_argument("--auth-token", default="twtoken")
        ap.add_argument("--mo-url")
        ap.add_argument("--number", default="+4790000002")

    @classmethod
    def from_args(cls, a):
        return cls(account_sid=a.account_sid, auth_token=a.auth_token, mo_url=a.mo_url,
                   number=a.number, api_port=a.api_port, control_port=a.control_port,
                   public_url=a.public_url, gateway_url=a.gateway_url)

    def _err(self, status, code, message):
        return status, "application/json", jdump({
            "code": code, "message": message, "status": status,
            "more_info": "https://www.twilio.com/docs/errors/%d" % code}), {}

    def api(self, method, path, query, headers, body):
        want = "/2010-04-01/Accounts/%s/Messages.json" % self.sid
        form = dict(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        call = self.record(method, path, query, headers, body, form=form)
        if not path.startswith("/2010-04-01/Accounts/"):
            return self._err(404, 20404, "The requested resource was not found")
        if basic_auth(headers) != (self.sid, self.token) or path != want:
            return self._err(401, 20003, "Authenticate")
        if method != "POST":
            return self._err(405, 20004, "Method not allowed")
        fail = self._failure()
        if fail:
            call["answered"] = fail
            return self._err(fail, 20500, "Injected failure")
        to, frm, text = form.get("To", ""), form.get("From", ""), form.get("Body")
        if not to.startswith("+") or not to[1:].isdigit():
            return self._err(400, 21211, "The 'To' number %s is not a valid phone number." % to)
        if not frm:
            return self._err(400, 21603, "A 'From' phone number is required.")
        if not text:
            return self._err(400, 21602, "Message body is required.")
        sid = "SM" + uuid.uuid4().hex
        cb = form.get("StatusCallback")
        self.sent[sid] = {"to": to, "from": frm, "callback": cb}
        self.schedule_dlrs(sid, cb)
        now = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        call["answered"] = 201
        return 201, "application/json", jdump({
            "sid": sid, "account_sid": self.sid, "to": to, "from": frm, "body": text,
            "status": "queued", "num_segments": "1", "direction": "outbound-api",
            "api_version": "2010-04-01", "date_created": now, "date_updated": now,
            "error_code": None, "error_message": None, "price": None,
            "uri": "/2010-04-01/Accounts/%s/Messages/%s.json" % (self.sid, sid)}), {}

    def _signed_post(self, url, params, forge):
        body = urllib.parse.urlencode(params).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded",
                   "I-Twilio-Idempotency-Token": uuid.uuid4().hex}
        if forge == "badsig":
            headers["X-Twilio-Signature"] = twilio_signature(self.token + "x", url, params)
        elif forge == "wrongurl":  # signed for the internal address, as if the proxy leaked
            headers["X-Twilio-Signature"] = twilio_signature(self.token, self.deliver_url(url) + "x",
                                                             params)
        elif forge == "tamper":
            headers["X-Twilio-Signature"] = twilio_signature(self.token, url, params)
            body = urllib.parse.urlencode(dict(params, Body="tampered")).encode()
        elif forge != "nosig":
            headers["X-Twilio-Signature"] = twilio_signature(self.token, url, params)
        return self.post(url, body, headers)

    def mo(self, text, id=None, forge=None, url=None, **kw):
        sid = id or "SM" + uuid.uuid4().hex
        params = {"ToCountry": "NO", "ToState": "", "SmsMessageSid": sid, "NumMedia": "0",
                  "ToCity": "", "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received",
                  "FromCity": "", "Body": text, "FromCountry": "NO", "To": self.number,
                  "ToZip": "", "NumSegments": "1", "MessageSid": sid, "AccountSid": self.sid,
                  "From": kw.get("from") or "+4791234567", "ApiVersion": "2010-04-01"}
        return self._signed_post(url or self.mo_url, params, forge)

    def dlr(self, id, status="delivered", forge=None, callback=None, error_code=None, **kw):
        sent = self.sent.get(id, {})
        params = {"SmsSid": id, "SmsStatus": status, "MessageStatus": status,
                  "To": sent.get("to", ""), "MessageSid": id, "AccountSid": self.sid,
                  "From": sent.get("from", self.number), "ApiVersion": "2010-04-01"}
        if error_code:
            params["ErrorCode"] = str(error_code)
        return self._signed_post(callback or sent.get("callback"), params, forge)


if __name__ == "__main__":
    main_for(FakeTwilio)

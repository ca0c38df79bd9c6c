#!/usr/bin/python3
"""Fake GatewayAPI: POST /rest/mtsms (JSON; API token as Basic user or ?token=), answers
{"ids": [...], "usage": {...}}; MO and delivery status webhooks with an X-Gwapi-Signature
JWT (HS256 over the same JSON, keyed with the webhook secret) — or forged on request.

    python3 tests/fakes/fake_gatewayapi.py --token T --webhook-secret S \
        --mo-url https://gw.example.no/sms/gatewayapi/dk/mo --receiver 4560000000 \
        --public-url https://gw.example.no --gateway-url http://127.0.0.1:8080
"""

import base64
import hashlib
import hmac
import itertools
import json
import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeprov import FakeProvider, basic_auth, jdump, main_for  # noqa: E402


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def jwt_hs256(claims, secret, alg="HS256"):
    head = b64url(json.dumps({"typ": "JWT", "alg": alg}).encode())
    body = b64url(json.dumps(claims).encode())
    if alg == "none":
        return head + "." + body + "."
    sig = hmac.new(secret.encode(), (head + "." + body).encode(), hashlib.sha256).digest()
    return head + "." + body + "." + b64url(sig)


class FakeGatewayAPI(FakeProvider):
    name = "gatewayapi"

    def __init__(self, token="gwtoken", webhook_secret="jwtsecret", mo_url=None, dlr_url=None,
                 receiver=4560000000, **kw):
        super().__init__(**kw)
        self.token = token
        self.webhook_secret = webhook_secret
        self.mo_url = mo_url
        self.dlr_url = dlr_url  # the account's default status webhook
        self.receiver = receiver
        self.ids = itertools.count(421332671)
        self.mo_ids = itertools.count(1000001)
        self.sent = {}  # id -> {"msisdn", "userref", "callback_url"}

    @staticmethod
    def add_arguments(ap):
        ap.add_argument("--token", default="gwtoken")
        ap.add_argument("--webhook-secret", default="jwtsecret")
        ap.add_argument("--mo-url")
        ap.add_argument("--dlr-url")
        ap.add_argument("--receiver", type=int, default=4560000000)

    @classmethod
    def from_args(cls, a):
        return cls(token=a.token, webhook_secret=a.webhook_secret, mo_url=a.mo_url,
                   dlr_url=a.dlr_url, receiver=a.receiver, api_port=a.api_port,
                   control_port=a.control_port, public_url=a.public_url,
                   gateway_url=a.gateway_url)

    def _error(self, status, code, message):
        return status, "application/json", jdump({"code": code, "message": message,
                                                  "incident_uuid": "00000000-fake"}), {}

    def api(self, method, path, query, headers, body):
        if path != "/rest/mtsms" or method != "POST":
            return 404, "application/json", jdump({"message": "Not found"}), {}
        q = dict(urllib.parse.parse_qsl(query))
        creds = basic_auth(headers)
        token = q.get("token") or (creds[0] if creds else None)
        try:
            req = json.loads(body or b"null")
        except ValueError:
            req = None
        call = self.record(method, path, query, headers, body, json=req)
        if token != self.token:
            return self._error(401, "0x0101", "Invalid API token")
        fail = self._failure()
        if fail:
            call["answered"] = fail
            return self._error(fail, "0x0000", "Injected failure %d" % fail)
        if not isinstance(req, dict):
            return self._error(422, "0x0201", "Invalid json request body")
        msg, rcpts = req.get("message"), req.get("recipients")
        if not isinstance(msg, str) or not msg:
            return self._error(400, "0x0202", "message is required")
        if (not isinstance(rcpts, list) or not rcpts or
                not all(isinstance(r, dict) and isinstance(r.get("msisdn"), int) for r in rcpts)):
            return self._error(400, "0x0203", "recipients[].msisdn must be integers")
        if req.get("encoding", "UTF8") not in ("UTF8", "UCS2"):
            return self._error(400, "0x0204", "encoding must be UTF8 or UCS2")
        sender = req.get("sender", "")
        if sender and not (sender.isdigit() and len(sender) <= 15 or len(sender) <= 11):
            return self._error(400, "0x0205", "invalid sender")
        ids = []
        for r in rcpts:
            i = next(self.ids)
            ids.append(i)
            self.sent[i] = {"msisdn": r["msisdn"], "userref": req.get("userref"),
                            "callback_url": req.get("callback_url") or self.dlr_url}
            self.schedule_dlrs(i, self.sent[i]["callback_url"])
        call["answered"] = 200
        return 200, "application/json", jdump({
            "ids": ids,
            "usage": {"countries": {"DK": len(ids)}, "currency": "DKK",
                      "total_cost": round(0.12 * len(ids), 2)}}), {}

    def _signed_post(self, url, payload, forge):
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "*/*"}
        claims = dict(payload, api=4)
        if forge == "nosig":
            pass
        elif forge == "badsig":
            headers["X-Gwapi-Signature"] = jwt_hs256(claims, self.webhook_secret + "x")
        elif forge == "alg_none":
            headers["X-Gwapi-Signature"] = jwt_hs256(claims, "", alg="none")
        elif forge == "tamper":  # a valid token for other content
            headers["X-Gwapi-Signature"] = jwt_hs256(dict(claims, id=claims["id"] + 1),
                                                     self.webhook_secret)
        else:
            headers["X-Gwapi-Signature"] = jwt_hs256(claims, self.webhook_secret)
        return self.post(url, body, headers)

    def mo(self, text, from_=None, id=None, forge=None, url=None, **kw):
        frm = kw.get("from", from_) or "+4520123456"
        msisdn = int(frm.lstrip("+"))
        payload = {"id": id if id is not None else next(self.mo_ids), "msisdn": msisdn,
                   "receiver": self.receiver, "message": text, "senttime": int(time.time()),
                   "webhook_label": "skagerrak"}
        return self._signed_post(url or self.mo_url, payload, forge)

    def dlr(self, id, status="DELIVERED", forge=None, callback=None, error=None, code=None,
            **kw):
        id = int(id)
        sent = self.sent.get(id, {})
        payload = {"id": id, "msisdn": sent.get("msisdn", 0), "time": int(time.time()),
                   "status": status, "error": error, "code": code,
                   "userref": sent.get("userref"), "callback_url": callback}
        return self._signed_post(callback or sent.get("callback_url") or self.dlr_url, payload,
                                 forge)


if __name__ == "__main__":
    main_for(FakeGatewayAPI)

#!/usr/bin/python3
"""Fake LINK Mobility: POST /sms/send (JSON, Basic auth) answering {"messageId",
"resultCode": 1005, "description": "Queued"}; MO and delivery reports delivered through a
"gate" to the gateway with the gate's Basic credentials (or forged on request).

    python3 tests/fakes/fake_link.py --user lu --password lp --platform-id COMMON \
        --platform-partner-id 123 --gate-id gate1 --mo-url .../sms/link/no/mo \
        --dlr-url .../sms/link/no/dlr --webhook-user hookuser --webhook-password hookpass
"""

import itertools
import json
import os
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeprov import FakeProvider, basic_auth, basic_header, jdump, main_for  # noqa: E402

DELIVERED, QUEUED, SENT_TO_OPERATOR, NOT_DELIVERED, UNKNOWN_SUBSCRIBER = 1001, 1005, 1000, 1006, 2104
STATES = {"DELIVERED": DELIVERED, "QUEUED": QUEUED, "SENT": SENT_TO_OPERATOR,
          "FAILED": NOT_DELIVERED, "EXPIRED": 1002}


def iso(t=None):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t or time.time()))


class FakeLink(FakeProvider):
    name = "link"

    def __init__(self, user="lu", password="lp", platform_id="COMMON", platform_partner_id="123",
                 gate_id="gate1", mo_url=None, dlr_url=None, webhook_user="hookuser",
                 webhook_password="hookpass", destination="+4790000001", **kw):
        super().__init__(**kw)
        self.user, self.password = user, password
        self.platform_id, self.platform_partner_id = platform_id, platform_partner_id
        self.gate_id = gate_id
        self.mo_url, self.dlr_url = mo_url, dlr_url
        self.webhook_user, self.webhook_password = webhook_user, webhook_password
        self.destination = destination
        self.seq = itertools.count(1)
        self.sent = {}

    @staticmethod
    def add_arguments(ap):
        for k, d in (("user", "lu"), ("password", "lp"), ("platform-id", "COMMON"),
                     ("platform-partner-id", "123"), ("gate-id", "gate1"), ("mo-url", None),
                     ("dlr-url", None), ("webhook-user", "hookuser"),
                     ("webhook-password", "hookpass"), ("destination", "+4790000001")):
            ap.add_argument("--" + k, default=d)

    @classmethod
    def from_args(cls, a):
        return cls(user=a.user, password=a.password, platform_id=a.platform_id,
                   platform_partner_id=a.platform_partner_id, gate_id=a.gate_id,
                   mo_url=a.mo_url, dlr_url=a.dlr_url, webhook_user=a.webhook_user,
                   webhook_password=a.webhook_password, destination=a.destination,
                   api_port=a.api_port, control_port=a.control_port, public_url=a.public_url,
                   gateway_url=a.gateway_url)

    def api(self, method, path, query, headers, body):
        if path != "/sms/send" or method != "POST":
            return 404, "application/json", jdump({"description": "Not found"}), {}
        try:
            req = json.loads(body or b"null")
        except ValueError:
            req = None
        call = self.record(method, path, query, headers, body, json=req)
        if basic_auth(headers) != (self.user, self.password):
            return 401, "application/json", jdump({"status": 401, "description": "Unauthorized"}), {}
        fail = self._failure()
        if fail:
            call["answered"] = fail
            return fail, "application/json", jdump({"status": fail, "description": "Injected failure"}), {}
        if not isinstance(req, dict):
            return 400, "application/json", jdump({"description": "Invalid JSON"}), {}
        for k in ("source", "destination", "platformId", "platformPartnerId"):
            if not isinstance(req.get(k), str) or not req[k]:
                return 400, "application/json", jdump({"description": "missing " + k}), {}
        if req["platformId"] != self.platform_id or req["platformPartnerId"] != self.platform_partner_id:
            return 403, "application/json", jdump({"description": "Unknown platform"}), {}
        if req.get("dcs", "TEXT") not in ("TEXT", "GSM", "UCS2", "BINARY"):
            return 400, "application/json", jdump({"description": "Invalid dcs"}), {}
        if req["destination"] == "+4700000000":  # a number the fake refuses (tests)
            call["answered"] = 200
            return 200, "application/json", jdump({"resultCode": UNKNOWN_SUBSCRIBER,
                                                   "description": "Unknown subscriber"}), {}
        mid = "%s-%d" % (uuid.uuid4().hex[:12], next(self.seq))
        self.sent[mid] = {"refId": req.get("refId"), "destination": req["destination"]}
        if req.get("useDeliveryReport") and self.gate_id in (req.get("deliveryReportGates") or []):
            self.schedule_dlrs(mid, self.dlr_url)
        call["answered"] = 200
        return 200, "application/json", jdump({"messageId": mid, "resultCode": QUEUED,
                                               "description": "Queued", "smsCount": 1}), {}

    def _gate_post(self, url, payload, forge):
        headers = {"Content-Type": "application/json"}
        if forge == "badauth":
            headers["Authorization"] = basic_header(self.webhook_user, "wrong")
        elif forge != "noauth":
            headers["Authorization"] = basic_header(self.webhook_user, self.webhook_password)
        return self.post(url, json.dumps(payload).encode(), headers)

    def mo(self, text, id=None, forge=None, url=None, **kw):
        payload = {"messageId": id or "MO-%s" % uuid.uuid4().hex[:16],
                   "source": kw.get("from") or "+4791234567", "sourceTON": "MSISDN",
                   "destination": self.destination, "destinationTON": "MSISDN",
                   "content": {"type": "TEXT", "userData": text, "encoding": "TEXT"},
                   "operator": "no.telenor", "timestamp": iso()}
        return self._gate_post(url or self.mo_url, payload, forge)

    def dlr(self, id, status="DELIVERED", forge=None, callback=None, **kw):
        code = status if isinstance(status, int) else STATES.get(status, NOT_DELIVERED)
        sent = self.sent.get(id, {})
        payload = {"id": id, "refId": sent.get("refId"), "operator": "no.telenor",
                   "sendTimestamp": iso(), "timestamp": iso(), "resultCode": code,
                   "operatorResultCode": "0", "segments": 1}
        return self._gate_post(callback or self.dlr_url, payload, forge)


if __name__ == "__main__":
    main_for(FakeLink)

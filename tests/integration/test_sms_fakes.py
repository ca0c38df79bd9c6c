"""The fake SMS providers themselves: real API shapes, credentials, failure modes, and
webhooks signed the way GatewayAPI and Twilio sign them (checked against the providers'
documented example vectors) or forged on request.  No gateway needed."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import sys
import threading
import urllib.parse

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
import harness  # noqa: E402
from fakeprov import ControlClient, basic_header  # noqa: E402
from fake_gatewayapi import FakeGatewayAPI, jwt_hs256  # noqa: E402
from fake_link import FakeLink  # noqa: E402
from fake_twilio import FakeTwilio, twilio_signature  # noqa: E402


class Receiver:
    """A webhook endpoint standing in for the gateway: records requests, answers 200."""

    def __init__(self):
        self.reqs = []
        owner = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                owner.reqs.append((self.path, dict(self.headers), self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.HTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def b64url_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def jwt_verify(tok, secret):
    h, p, s = tok.split(".")
    if json.loads(b64url_decode(h)).get("alg") != "HS256":
        return None
    mac = hmac.new(secret.encode(), (h + "." + p).encode(), hashlib.sha256).digest()
    return json.loads(b64url_decode(p)) if hmac.compare_digest(mac, b64url_decode(s)) else None


def test_documented_vectors():
    # Twilio's documentation example.
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    assert twilio_signature("12345", "https://mycompany.com/myapp.php?foo=1&bar=2",
                            params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="
    # GatewayAPI's documentation example token, secret "secret".
    tok = ("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJpZCI6MjM4MTcwMywibXNpc2RuIjo0NTQyNjA5MDQ1LCJ0"
           "aW1lIjoxNTIyNzY0MDYyLCJzdGF0dXMiOiJERUxJVkVSRUQiLCJlcnJvciI6bnVsbCwiY29kZSI6bnVsbCwid"
           "XNlcnJlZiI6bnVsbCwiY2FsbGJhY2tfdXJsIjoiaHR0cDovL2JiYWY3MTQyLm5ncm9rLmlvIiwiYXBpIjo0fQ"
           ".KdfDH65bnQtgxEkFnpAQodOciAJedZFB13r9wEo8t3Y")
    assert jwt_verify(tok, "secret")["id"] == 2381703
    assert jwt_verify(jwt_hs256({"id": 1}, "k"), "k") == {"id": 1}


def test_gatewayapi_api_and_failures():
    with FakeGatewayAPI(token="T") as f:
        ctl = ControlClient(f.control_port)
        url = f.base_url + "/rest/mtsms"
        body = json.dumps({"message": "Hei", "recipients": [{"msisdn": 4520123456}],
                           "sender": "4560000000"}).encode()
        hdr = {"Content-Type": "application/json", "Authorization": basic_header("T", "")}
        r = harness.http("POST", url, body, hdr)
        assert r.status == 200 and r.json()["ids"] == [421332671]
        assert harness.http("POST", url + "?token=T", body, {"Content-Type": "application/json"}).status == 200
        assert harness.http("POST", url, body, {"Authorization": basic_header("X", "")}).status == 401
        bad = json.dumps({"message": "x", "recipients": [{"msisdn": "452"}]}).encode()
        assert harness.http("POST", url, bad, hdr).status == 400
        ctl.mode(fail=500, count=1)
        assert harness.http("POST", url, body, hdr).status == 500
        assert harness.http("POST", url, body, hdr).status == 200
        ctl.mode(down=True)
        with pytest.raises(OSError):
            harness.http("POST", url, body, hdr, timeout=2)
        ctl.mode(down=False)
        assert harness.http("POST", url, body, hdr).status == 200
        calls = ctl.calls()
        assert calls[0]["json"]["recipients"][0]["msisdn"] == 4520123456
        assert len(calls) == 7


def test_gatewayapi_webhooks(receiver):
    gw = "http://127.0.0.1:%d" % receiver.port
    with FakeGatewayAPI(webhook_secret="S", mo_url="https://gw.example.no/sms/gatewayapi/dk/mo",
                        public_url="https://gw.example.no", gateway_url=gw) as f:
        ctl = ControlClient(f.control_port)
        assert ctl.mo(**{"from": "+4520123456", "text": "Hej"})["status"] == 200
        for forge in ("nosig", "badsig", "alg_none", "tamper"):
            ctl.mo(text="x", forge=forge)
        path, h, body = receiver.reqs[0]
        assert path == "/sms/gatewayapi/dk/mo"
        claims = jwt_verify(h["X-Gwapi-Signature"], "S")
        assert claims["message"] == "Hej" and claims["msisdn"] == 4520123456
        assert json.loads(body)["id"] == claims["id"]
        assert "X-Gwapi-Signature" not in receiver.reqs[1][1]
        assert jwt_verify(receiver.reqs[2][1]["X-Gwapi-Signature"], "S") is None
        assert jwt_verify(receiver.reqs[3][1]["X-Gwapi-Signature"], "S") is None
        t = receiver.reqs[4]
        assert jwt_verify(t[1]["X-Gwapi-Signature"], "S")["id"] != json.loads(t[2])["id"]


def test_link_api_and_gate(receiver):
    gw = "http://127.0.0.1:%d" % receiver.port
    with FakeLink(mo_url=gw + "/sms/link/no/mo", dlr_url=gw + "/sms/link/no/dlr") as f:
        ctl = ControlClient(f.control_port)
        ctl.config(auto_dlr=["SENT", "DELIVERED"], auto_dlr_delay_ms=10)
        req = {"source": "+4790000001", "destination": "+4791234567", "userData": "Hei",
               "platformId": "COMMON", "platformPartnerId": "123", "useDeliveryReport": True,
               "deliveryReportGates": ["gate1"], "refId": "sk1.0", "dcs": "TEXT"}
        r = harness.http("POST", f.base_url + "/sms/send", json.dumps(req).encode(),
                         {"Authorization": basic_header("lu", "lp"),
                          "Content-Type": "application/json"})
        assert r.status == 200 and r.json()["resultCode"] == 1005
        mid = r.json()["messageId"]
        assert harness.http("POST", f.base_url + "/sms/send", json.dumps(req).encode(),
                            {"Authorization": basic_header("lu", "x")}).status == 401
        ctl.mo(text="Hei på deg")
        ctl.mo(text="x", forge="badauth")
        import time
        for _ in range(100):
            if len(receiver.reqs) >= 4:
                break
            time.sleep(0.05)
        dlrs = [json.loads(b) for p, h, b in receiver.reqs if p.endswith("/dlr")]
        assert [d["resultCode"] for d in dlrs] == [1000, 1001]
        assert all(d["id"] == mid and d["refId"] == "sk1.0" for d in dlrs)
        mo = [(h, json.loads(b)) for p, h, b in receiver.reqs if p.endswith("/mo")]
        assert mo[0][0]["Authorization"] == basic_header("hookuser", "hookpass")
        assert mo[0][1]["content"]["userData"] == "Hei på deg"
        assert mo[1][0]["Authorization"] != basic_header("hookuser", "hookpass")


def test_twilio_api_and_signed_webhooks(receiver):
    gw = "http://127.0.0.1:%d" % receiver.port
    with FakeTwilio(account_sid="AC1", auth_token="TT",
                    mo_url="https://gw.example.no/sms/twilio/tw/mo",
                    public_url="https://gw.example.no", gateway_url=gw) as f:
        ctl = ControlClient(f.control_port)
        ctl.config(auto_dlr=["sent", "delivered"], auto_dlr_delay_ms=10, auto_dlr_reverse=True)
        form = urllib.parse.urlencode({"To": "+4791234567", "From": "+4790000002", "Body": "Hei",
                                       "StatusCallback": "https://gw.example.no/sms/twilio/tw/dlr"})
        url = f.base_url + "/2010-04-01/Accounts/AC1/Messages.json"
        auth = {"Authorization": basic_header("AC1", "TT"),
                "Content-Type": "application/x-www-form-urlencoded"}
        r = harness.http("POST", url, form.encode(), auth)
        assert r.status == 201 and r.json()["sid"].startswith("SM") and r.json()["status"] == "queued"
        bad = urllib.parse.urlencode({"To": "12", "From": "+4790000002", "Body": "x"})
        r2 = harness.http("POST", url, bad.encode(), auth)
        assert r2.status == 400 and r2.json()["code"] == 21211
        assert harness.http("POST", url, form.encode(), {"Authorization": basic_header("AC1", "x")}).status == 401
        ctl.mo(text="Hei 😊")
        import time
        for _ in range(100):
            if len(receiver.reqs) >= 3:
                break
            time.sleep(0.05)
        for path, h, body in receiver.reqs:
            params = dict(urllib.parse.parse_qsl(body.decode(), keep_blank_values=True))
            assert h["X-Twilio-Signature"] == twilio_signature(
                "TT", "https://gw.example.no" + path, params)
        statuses = [dict(urllib.parse.parse_qsl(b.decode()))["MessageStatus"]
                    for p, h, b in receiver.reqs if p.endswith("/dlr")]
        assert statuses == ["delivered", "sent"]  # reversed on request: out of order

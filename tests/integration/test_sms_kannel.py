"""Debian's Kannel (bearerbox + smsbox) with fakesmsc on loopback, as the SMS tests use it:
a text from the fake SMSC reaches our get-url with the fields the sms plugin reads, and
sendsms with our parameters (charset, coding, dlr-mask, dlr-url) reaches the fake SMSC and
calls the dlr-url back.  The gateway itself is not involved here."""

import http.server
import os
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
from kannel import Kannel, have_kannel  # noqa: E402

pytestmark = pytest.mark.skipif(not have_kannel(), reason="kannel / kannel-extras not installed")


class Hook:
    def __init__(self):
        self.got = []
        self.cond = threading.Condition()
        owner = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                u = urllib.parse.urlsplit(self.path)
                with owner.cond:
                    owner.got.append((u.path, dict(urllib.parse.parse_qsl(u.query,
                                                                           keep_blank_values=True))))
                    owner.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def wait(self, pred, timeout=20):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for g in self.got:
                    if pred(g):
                        return g
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no matching request; got %r" % self.got)
                self.cond.wait(left)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def hook():
    h = Hook()
    yield h
    h.close()


@pytest.fixture
def kannel(tmp_path, hook):
    k = Kannel(str(tmp_path / "kannel"), "http://127.0.0.1:%d/sms/kannel/kan/mo" % hook.port,
               secret="s3cret&x")
    k.start()
    yield k
    k.stop()


def test_mo_reaches_get_url(kannel, hook):
    kannel.mo("+4791234567", "Hei på deg {€}")
    path, q = hook.wait(lambda g: g[0].endswith("/mo"))
    assert path == "/sms/kannel/kan/mo"
    assert q["secret"] == "s3cret&x"
    assert q["from"] == "+4791234567"
    assert q["text"] == "Hei på deg {€}"
    assert q["charset"] == "UTF-8"
    assert len(q["id"]) == 36  # Kannel's message UUID: our dedup key


def test_ucs2_mo_recoded_to_utf8(kannel, hook):
    kannel.mo("004520123456", "Tak 😊 “hej”", ucs2=True)
    path, q = hook.wait(lambda g: g[0].endswith("/mo"))
    assert q["from"] == "004520123456"
    assert q["text"] == "Tak 😊 “hej”"
    assert q["charset"] == "UTF-8"


@pytest.mark.parametrize("text,coding,kind", [("Svar: blåbær {€} [ok]", "0", "text"),
                                              ("Hei 😊 “ok”", "2", "ucs-2")])
def test_sendsms_reaches_fake_smsc_with_dlrs(kannel, hook, text, coding, kind):
    dlr = ("http://127.0.0.1:%d/sms/kannel/kan/dlr?ref=sk7.0&type=%%d&reply=%%A&secret=x"
           % hook.port)
    q = urllib.parse.urlencode({"username": kannel.user, "password": kannel.password,
                                "from": "+4790000003", "to": "+4791234567", "text": text,
                                "charset": "UTF-8", "coding": coding, "dlr-mask": "31",
                                "dlr-url": dlr})
    with urllib.request.urlopen(kannel.sendsms_url + "/cgi-bin/sendsms?" + q, timeout=10) as r:
        assert r.status == 202
        assert r.read().startswith(b"0: Accepted")
    mt = kannel.wait_mt(lambda m: m.receiver == "+4791234567")
    assert mt.kind == kind and mt.text == text and mt.sender == "+4790000003"
    # The fake SMSC acknowledges (8) and reports delivery (1), in either order.
    hook.wait(lambda g: g[0].endswith("/dlr") and g[1]["type"] == "8")
    _, d = hook.wait(lambda g: g[0].endswith("/dlr") and g[1]["type"] == "1")
    assert d["ref"] == "sk7.0" and d["secret"] == "x"


def test_sendsms_refuses_wrong_password(kannel):
    q = urllib.parse.urlencode({"username": kannel.user, "password": "nope",
                                "to": "+4791234567", "text": "x"})
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(kannel.sendsms_url + "/cgi-bin/sendsms?" + q, timeout=10)
    assert e.value.code == 403

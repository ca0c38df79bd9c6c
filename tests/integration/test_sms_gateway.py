"""SMS end to end: a seeker texts through a (fake) provider, a counsellor answers in XMPP,
the answer reaches the provider; signatures, duplicates, outages, refusals, delivery reports
(receipts), opt-out and the parts limit.  GatewayAPI, LINK and Twilio are the fakes in
tests/fakes; Kannel is Debian's bearerbox + smsbox with fakesmsc."""

import os
import sys
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
import harness  # noqa: E402
from fakeprov import ControlClient  # noqa: E402
from fake_gatewayapi import FakeGatewayAPI  # noqa: E402
from fake_link import FakeLink  # noqa: E402
from fake_twilio import FakeTwilio  # noqa: E402
from kannel import Kannel, have_kannel  # noqa: E402

PUBLIC = "https://sms.gw.test"  # what the providers see (a reverse proxy in production)
NS_RECEIPTS = "urn:xmpp:receipts"


def sms_config(http_port, gwapi, link, twilio, kannel=None, extra=""):
    nums = [
        '{ id = "dk"; number = "+4560000000"; provider = "gatewayapi"; token = "gwtoken"; '
        'webhook_secret = "jwtsecret"; base_url = "%s"; max_parts = 3; }' % gwapi.base_url,
        '{ id = "no"; number = "+4790000001"; provider = "link"; username = "lu"; password = "lp"; '
        'platform_id = "COMMON"; platform_partner_id = "123"; gate_id = "gate1"; '
        'webhook_username = "hookuser"; webhook_password = "hookpass"; base_url = "%s"; }'
        % link.base_url,
        '{ id = "tw"; number = "+4790000002"; provider = "twilio"; account_sid = "AC123"; '
        'auth_token = "twtoken"; base_url = "%s"; }' % twilio.base_url,
    ]
    if kannel:
        nums.append(kannel.config_snippet()[:-1] +
                    ' public_url = "http://127.0.0.1:%d"; }' % http_port)
    return ("sms = { public_url = \"%s\"; http_timeout_ms = 3000; outbound_per_hour = 0; "
            "inbound_per_minute = 30; %s numbers = ( %s ); };" % (PUBLIC, extra, ", ".join(nums)))


class Env:
    pass


@pytest.fixture
def sms(prosody, tmp_state, request):
    """A gateway with the sms plugin and the three fake providers (and Kannel when asked)."""
    port = harness.free_port()
    gwurl = "http://127.0.0.1:%d" % port
    e = Env()
    e.gwapi = FakeGatewayAPI(mo_url=PUBLIC + "/sms/gatewayapi/dk/mo", public_url=PUBLIC,
                             gateway_url=gwurl).start()
    e.link = FakeLink(mo_url=PUBLIC + "/sms/link/no/mo", dlr_url=PUBLIC + "/sms/link/no/dlr",
                      public_url=PUBLIC, gateway_url=gwurl).start()
    e.twilio = FakeTwilio(mo_url=PUBLIC + "/sms/twilio/tw/mo", public_url=PUBLIC,
                          gateway_url=gwurl).start()
    e.kannel = None
    if getattr(request, "param", None) == "kannel":
        if not have_kannel():
            pytest.skip("kannel / kannel-extras not installed")
        e.kannel = Kannel(os.path.join(tmp_state, "kannel"), gwurl + "/sms/kannel/kan/mo").start()
    plugins = "loopback = { }; " + sms_config(port, e.gwapi, e.link, e.twilio, e.kannel)
    # The fakes must know the gateway's port before it starts: start it here, not through
    # gateway_factory (which picks its own port).
    import gw
    workdir = os.path.join(tmp_state, "gw-sms")
    os.makedirs(workdir, exist_ok=True)
    g = harness.Gateway(None, gw.config_text(prosody, workdir, port, plugins=plugins), workdir)
    g.http_port = port
    g.start()
    g.wait_log(r"component gw\.no\.test online", timeout=15)
    e.gw = g
    yield e
    rc = g.stop()
    for f in (e.gwapi, e.link, e.twilio):
        f.stop()
    if e.kannel:
        e.kannel.stop()
    assert rc in (0, None), "gateway exited with %r" % rc
    assert not g.sanitizer_reports()


def sign_in(cl, queue="general"):
    cl.send_presence(to="%s@gw.no.test" % queue)
    cl.wait_presence(frm="%s@gw.no.test" % queue)


def accept(kari, text):
    offer = kari.wait_message(lambda s: "!accept" in (s.body or ""), timeout=15)
    kari.send_message(offer.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == text, timeout=15)
    return offer.bare_from


def sent_texts(fake):
    """Bodies of the texts the gateway asked the provider to send."""
    out = []
    for c in ControlClient(fake.control_port).calls():
        j, f = c.get("json") or {}, c.get("form") or {}
        out.append(j.get("message") or j.get("userData") or f.get("Body"))
    return out


def wait_sent(fake, pred, timeout=15):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for c in ControlClient(fake.control_port).calls():
            if c.get("answered") in (200, 201) and pred(c):
                return c
        time.sleep(0.1)
    raise AssertionError("provider got no matching request; bodies: %r" % sent_texts(fake))


def body_of(c):
    j, f = c.get("json") or {}, c.get("form") or {}
    return j.get("message") or j.get("userData") or f.get("Body") or ""


@pytest.mark.parametrize("prov,sender", [("gwapi", "+4520123456"), ("link", "+4791234567"),
                                         ("twilio", "+4791234568")])
def test_seeker_counsellor_roundtrip_with_receipt(sms, client, prov, sender):
    fake = getattr(sms, prov)
    ctl = ControlClient(fake.control_port)
    kari = client("kari")
    sign_in(kari)
    r = ctl.mo(**{"from": sender, "text": "Hei, kan jeg få hjelp med søknaden?"})
    assert r["status"] == 200, r
    jid = accept(kari, "Hei, kan jeg få hjelp med søknaden?")
    ctl.config(auto_dlr={"gwapi": ["ENROUTE", "DELIVERED"], "link": ["SENT", "DELIVERED"],
                         "twilio": ["sent", "delivered"]}[prov], auto_dlr_delay_ms=100)
    mid = kari.send_message(jid, "Klart! Hva studerer du?",
                            extra_xml="<request xmlns='%s'/>" % NS_RECEIPTS)
    c = wait_sent(fake, lambda c: body_of(c) == "Klart! Hva studerer du?")
    assert sender.lstrip("+") in c["body"]
    rec = kari.wait_message(lambda s: s.child(NS_RECEIPTS, "received") is not None, timeout=15)
    assert rec.child(NS_RECEIPTS, "received").get("id") == mid


def is_receipt(s):
    return s.child(NS_RECEIPTS, "received") is not None


def test_receipt_only_when_asked_and_after_the_delivery_report(sms, client):
    """The provider accepting a text (and ENROUTE) is not the seeker having it: the receipt
    waits for DELIVERED, and only a message that asked for one gets it."""
    ctl = ControlClient(sms.gwapi.control_port)
    kari = client("kari")
    sign_in(kari)
    ctl.mo(**{"from": "+4520123460", "text": "Hej igen"})
    jid = accept(kari, "Hej igen")
    ctl.config(auto_dlr=["ENROUTE", "DELIVERED"], auto_dlr_delay_ms=1500)
    kari.send_message(jid, "Uden kvittering", id="s-plain")
    wait_sent(sms.gwapi, lambda c: body_of(c) == "Uden kvittering")
    kari.send_message(jid, "Med kvittering", id="s-asked",
                      extra_xml="<request xmlns='%s'/>" % NS_RECEIPTS)
    wait_sent(sms.gwapi, lambda c: body_of(c) == "Med kvittering")
    assert kari.no_message(is_receipt, within=1.0)  # accepted, not yet delivered
    rec = kari.wait_message(is_receipt, timeout=15)  # the first DELIVERED is s-plain's
    assert rec.child(NS_RECEIPTS, "received").get("id") == "s-asked"
    assert rec.to == kari.full_jid
    assert kari.no_message(is_receipt, within=1.0)


def test_forged_and_unsigned_webhooks_refused(sms, client):
    kari = client("kari")
    sign_in(kari)
    g, l, t = (ControlClient(f.control_port) for f in (sms.gwapi, sms.link, sms.twilio))
    for forge in ("nosig", "badsig", "alg_none", "tamper"):
        assert g.mo(text="forged " + forge, forge=forge)["status"] == 403
    for forge in ("noauth", "badauth"):
        assert l.mo(text="forged " + forge, forge=forge)["status"] == 401
    for forge in ("nosig", "badsig", "wrongurl", "tamper"):
        assert t.mo(text="forged " + forge, forge=forge)["status"] == 403
    assert kari.no_message(lambda s: "forged" in (s.body or "") or "!accept" in (s.body or ""),
                           within=1.0)
    sms.gw.wait_log(r"refused gatewayapi mo webhook", timeout=5)


def test_duplicate_webhook_stored_once(sms, client):
    kari = client("kari")
    sign_in(kari)
    ctl = ControlClient(sms.twilio.control_port)
    assert ctl.mo(text="Bare én gang", id="SMdup1")["status"] == 200
    assert ctl.mo(text="Bare én gang", id="SMdup1")["status"] == 200
    jid = accept(kari, "Bare én gang")
    assert kari.no_message(lambda s: s.body == "Bare én gang", within=1.0)
    assert jid


def test_provider_outage_then_delivered(sms, client):
    kari = client("kari")
    sign_in(kari)
    ctl = ControlClient(sms.link.control_port)
    ctl.mo(**{"from": "+4791234569", "text": "Er dere der?"})
    jid = accept(kari, "Er dere der?")
    ctl.mode(down=True)
    kari.send_message(jid, "Ja, her er jeg.")
    time.sleep(2)  # at least one attempt fails with connection refused
    ctl.mode(down=False)
    c = wait_sent(sms.link, lambda c: body_of(c) == "Ja, her er jeg.", timeout=60)
    assert c["json"]["destination"] == "+4791234569"
    ctl.mode(fail=503, count=2)
    kari.send_message(jid, "Og igjen.")
    wait_sent(sms.link, lambda c: body_of(c) == "Og igjen.", timeout=60)
    assert sent_texts(sms.link).count("Ja, her er jeg.") == 1


def test_refused_by_provider_counsellor_told(sms, client):
    kari = client("kari")
    sign_in(kari)
    ctl = ControlClient(sms.twilio.control_port)
    ctl.mo(**{"from": "+4791234570", "text": "Hei"})
    jid = accept(kari, "Hei")
    ctl.mode(fail=400)
    kari.send_message(jid, "Dette går ikke fram")
    note = kari.wait_message(lambda s: "could not be delivered" in (s.body or ""), timeout=15)
    assert "Injected failure" in note.body and "HTTP 400" in note.body


def test_out_of_order_reports_keep_final_state(sms, client):
    kari = client("kari")
    sign_in(kari)
    ctl = ControlClient(sms.gwapi.control_port)
    ctl.mo(**{"from": "+4520123457", "text": "Hej"})
    jid = accept(kari, "Hej")
    ctl.config(auto_dlr=["ENROUTE", "DELIVERED"], auto_dlr_reverse=True, auto_dlr_delay_ms=100)
    mid = kari.send_message(jid, "Velkommen", extra_xml="<request xmlns='%s'/>" % NS_RECEIPTS)
    rec = kari.wait_message(lambda s: s.child(NS_RECEIPTS, "received") is not None, timeout=15)
    assert rec.child(NS_RECEIPTS, "received").get("id") == mid
    time.sleep(0.5)  # the late ENROUTE arrives and changes nothing
    assert kari.no_message(lambda s: s.type == "error", within=0.5)


def test_stop_and_start(sms, client):
    kari = client("kari")
    sign_in(kari)
    ctl = ControlClient(sms.gwapi.control_port)
    ctl.mo(**{"from": "+4520123458", "text": "Hej hej"})
    accept(kari, "Hej hej")
    assert ctl.mo(**{"from": "+4520123458", "text": "STOP"})["status"] == 200
    wait_sent(sms.gwapi, lambda c: "sms'er" in body_of(c) and "START" in body_of(c))
    assert ctl.mo(**{"from": "+4520123458", "text": "start"})["status"] == 200
    wait_sent(sms.gwapi, lambda c: "Velkommen tilbage" in body_of(c))


def test_max_parts_counsellor_told_before_sending(sms, client):
    kari = client("kari")
    sign_in(kari)
    ctl = ControlClient(sms.gwapi.control_port)
    ctl.mo(**{"from": "+4520123459", "text": "Fortæl mig alt"})
    jid = accept(kari, "Fortæl mig alt")
    long = "Æbler og pærer. " * 40  # 640 septets: 5 parts > max_parts 3
    kari.send_message(jid, long)
    note = kari.wait_message(lambda s: "could not be delivered" in (s.body or ""), timeout=15)
    assert "5 sms'er" in note.body and "grænsen er 3" in note.body
    assert long not in sent_texts(sms.gwapi)


@pytest.mark.parametrize("sms", ["kannel"], indirect=True)
def test_kannel_roundtrip(sms, client):
    kari = client("kari")
    sign_in(kari)
    sms.kannel.mo("+4791234571", "Hei fra Kannel på SMS {€}")
    jid = accept(kari, "Hei fra Kannel på SMS {€}")
    kari.send_message(jid, "Svar via Kannel: blåbær 😊",
                      extra_xml="<request xmlns='%s'/>" % NS_RECEIPTS)
    mt = sms.kannel.wait_mt(lambda m: "Svar via Kannel" in m.text, timeout=30)
    assert mt.text == "Svar via Kannel: blåbær 😊" and mt.kind == "ucs-2"
    assert mt.receiver == "+4791234571" and mt.sender == "+4790000003"
    kari.wait_message(lambda s: s.child(NS_RECEIPTS, "received") is not None, timeout=30)

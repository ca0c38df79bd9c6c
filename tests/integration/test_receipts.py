"""The boundary of what a counsellor can know, against a real Prosody: an XEP-0184 receipt only
for a message that asked for one, and only once the seeker's channel confirmed it (the web
page's acknowledgement, the channel's delivery report), to the client that sent it; and after
an unclean stop (kill -9) every counsellor with an open conversation is told, in their
language, that messages sent just before may not have arrived -- after a clean stop nobody is.
(SMS and email receipts: test_sms_gateway.py, test_email_gateway.py; federation:
test_federation.py.)"""

import datetime
import os
import re
import time
import zoneinfo

import pytest

import gw
import harness
from test_webchat_api import Events, Web, webchat_conf

NS_RECEIPTS = "urn:xmpp:receipts"
REQUEST = "<request xmlns='%s'/>" % NS_RECEIPTS
TZ = zoneinfo.ZoneInfo("Europe/Oslo")  # gw.config_text's service time zone


def is_receipt(s):
    return s.child(NS_RECEIPTS, "received") is not None


def receipt_id(s):
    return s.child(NS_RECEIPTS, "received").get("id")


def sign_in(cl, queue="general"):
    cl.send_presence(to="%s@gw.no.test" % queue)
    cl.wait_presence(frm="%s@gw.no.test" % queue)


def start_conversation(lb, who, address, first, id):
    """A seeker writes `first` on the loopback channel; `who` accepts the offer and gets it.
    Returns the conversation's JID."""
    lb.send(address, first, id=id)
    offer = who.wait_message(lambda s: "!accept" in (s.body or ""), timeout=10)
    who.send_message(offer.bare_from, "!accept")
    who.wait_message(lambda s: s.body == first, timeout=10)
    return offer.bare_from


def catalogue(lang, key):
    path = os.path.join(harness.REPO_ROOT, "conf", "i18n", "%s.cfg" % lang)
    with open(path, encoding="utf-8") as f:
        m = re.search(r'^%s = "(.*)";$' % key, f.read(), re.M)
    assert m, (lang, key)
    return m.group(1)


def crash_texts(lang, around):
    """The crash notice in `lang` for each plausible HH:MM: the gateway's last heartbeat is at
    most about a second before `around` (the moment of the kill)."""
    tmpl = catalogue(lang, "crash_notice")
    times = {datetime.datetime.fromtimestamp(t, TZ).strftime("%H:%M")
             for t in (around - 3, around - 1.5, around)}
    return {tmpl.replace("{time}", t) for t in times}


def is_crash_notice(s):
    body = s.body or ""
    return any(body.startswith(catalogue(l, "crash_notice").split("{time}")[0])
               for l in ("nb", "nn", "da", "en"))


def restart(g, kill):
    """kill -9 (kill=True) or SIGTERM, then start again; returns the time of the stop."""
    if g.loopback:
        g.loopback.close()
        g.loopback = None
    at = time.time()
    if kill:
        g.kill9()
    else:
        assert g.stop() == 0
    g.start()
    g.wait_log(r"component gw\.no\.test online", timeout=15)
    g.loopback = gw.Loopback(g.http_port).start()
    return at


def test_webchat_receipt_only_when_asked_and_after_the_page_acknowledged(gateway_factory, client):
    g = gateway_factory(plugins=webchat_conf())
    kari = client("kari")
    sign_in(kari)
    w = Web(g.http_port)
    w.start(lang="nb", fields={"topic": "work"})
    ev = Events(w)
    ev.wait(lambda e, i, d: e == "ready")
    offer = kari.wait_message(lambda s: "!accept" in (s.body or ""), timeout=10)
    kari.send_message(offer.bare_from, "!accept")
    ev.wait(lambda e, i, d: e == "message" and (d.get("meta") or {}).get("type") == "joined")
    kari.send_message(offer.bare_from, "Uten kvittering", id="k-plain")
    kari.send_message(offer.bare_from, "Med kvittering", id="k-asked", extra_xml=REQUEST)
    _, plain, _ = ev.wait(lambda e, i, d: e == "message" and d.get("text") == "Uten kvittering")
    _, asked, _ = ev.wait(lambda e, i, d: e == "message" and d.get("text") == "Med kvittering")
    # the page has both but has not confirmed them: no receipt yet
    assert kari.no_message(is_receipt, within=1.0)
    assert w.req("POST", "ack", {"ids": [plain, asked]}).status == 204
    rec = kari.wait_message(is_receipt, timeout=5)
    assert receipt_id(rec) == "k-asked"
    assert rec.to == kari.full_jid  # the very client that asked
    assert rec.bare_from == offer.bare_from
    # nothing for the message that did not ask
    assert kari.no_message(is_receipt, within=1.0)


def test_channel_receipt_after_the_delivery_report_not_the_acceptance(gateway, client):
    kari = client("kari")
    sign_in(kari)
    lb = gateway.loopback
    jid = start_conversation(lb, kari, "+4790000100", "hei", "rr-1")
    lb.post("/loopback/mode", {"mode": "pending"})
    kari.send_message(jid, "one", id="k-1", extra_xml=REQUEST)
    kari.send_message(jid, "two", id="k-2")
    # per-seeker order: "two" is handed to the channel only once "one" is finished
    for body, ref in (("one", "prov-1"), ("two", "prov-2")):
        item = lb.wait(lambda i, b=body: i["kind"] == "text" and i["body"] == b)
        assert lb.post("/loopback/complete",
                       {"msg_id": item["id"], "status": "ok", "ref": ref}).status == 200
    # the channel took them: that is not the seeker having them
    assert kari.no_message(is_receipt, within=1.0)
    # the conversation is closed before the reports come: the receipt still does
    lb.post("/loopback/mode", {"mode": "ok"})
    kari.send_message(jid, "!close resolved")
    lb.wait(lambda i: i["kind"] == "closed")
    assert lb.post("/loopback/dlr", {"ref": "prov-2", "state": "delivered"}).status == 200
    assert lb.post("/loopback/dlr", {"ref": "prov-1", "state": "delivered"}).status == 200
    rec = kari.wait_message(is_receipt, timeout=5)
    assert receipt_id(rec) == "k-1" and rec.bare_from == jid and rec.to == kari.full_jid
    # once: a repeated report changes nothing
    assert lb.post("/loopback/dlr", {"ref": "prov-1", "state": "delivered"}).status == 200
    assert kari.no_message(is_receipt, within=1.0)


@pytest.mark.timeout(120)
def test_kill9_counsellors_told_in_their_language(gateway_factory, client):
    """Kari (en) is online at the restart; Ola (nb) is offline and finds the notice when she
    signs in again (the server keeps it for her bare JID)."""
    g = gateway_factory()
    lb = g.loopback
    kari = client("kari")
    sign_in(kari)
    kjid = start_conversation(lb, kari, "+4790000101", "first seeker", "ck-1")
    ola = client("ola")
    sign_in(ola)  # the next seeker goes to her: fewer open conversations than Kari
    ojid = start_conversation(lb, ola, "+4790000102", "second seeker", "ck-2")
    ola.disconnect()  # her conversation is kept for her (counsellor_grace)
    g.wait_log(r"counsellor ola@no\.test went offline")
    time.sleep(1.2)  # a heartbeat after the last change
    at = restart(g, kill=True)
    g.wait_log(r"told 2 open conversation\(s\)", timeout=10)
    note = kari.wait_message(is_crash_notice, timeout=10)
    assert note.bare_from == kjid and note.type == "chat"
    assert note.body in crash_texts("en", at), note.body
    ola.connect()
    onote = ola.wait_message(is_crash_notice, timeout=10)
    assert onote.bare_from == ojid
    assert onote.body in crash_texts("nb", at), onote.body
    # one notice per conversation, once
    assert kari.no_message(is_crash_notice, within=1.0)


@pytest.mark.timeout(120)
def test_clean_stop_tells_nobody_a_kill9_does(gateway_factory, client):
    g = gateway_factory()
    kari = client("kari")
    sign_in(kari)
    jid = start_conversation(g.loopback, kari, "+4790000103", "hello", "cs-1")
    restart(g, kill=False)
    assert kari.no_message(is_crash_notice, within=3.0)
    at = restart(g, kill=True)
    note = kari.wait_message(is_crash_notice, timeout=10)
    assert note.bare_from == jid and note.body in crash_texts("en", at)
    # told once: a clean restart after that tells nothing again
    restart(g, kill=False)
    assert kari.no_message(is_crash_notice, within=3.0)


def test_receipts_advertised_only_by_conversation_jids(gateway, client):
    ns_info = "http://jabber.org/protocol/disco#info"
    kari = client("kari")
    sign_in(kari)
    jid = start_conversation(gateway.loopback, kari, "+4790000105", "hei", "dc-1")

    def features(to):
        info = kari.iq(to, "<query xmlns='%s'/>" % ns_info)
        return [f.get("var") for f in info.xml.iter("{%s}feature" % ns_info)]
    assert NS_RECEIPTS in features(jid)
    # commands to the domain and to a queue never get a receipt
    assert NS_RECEIPTS not in features("gw.no.test")
    assert NS_RECEIPTS not in features("general@gw.no.test")

"""Issue 7: federation between two gateways (urn:skagerrak:fed:1, docs/federation.md).

Two gateways: gw.no.test (home of the seekers, loopback channel) and gw.dk.test, each with
the other as a partner.  Two topologies:
  one  one Prosody with both virtual hosts and both components (fast path);
  s2s  two Prosody servers on 127.0.0.2 (no.test) and 127.0.0.3 (dk.test), both on s2s port
       5269, names resolved from a hosts file through lua-unbound; kari@no.test and
       mette@dk.test are on their own servers.
Waits are event-based (wait_message / wait_log / loopback wait), each with a timeout.
"""

import os
import re
import secrets
import select
import socket
import time
import types

import pytest

import gw
import harness

NO, DK = "no.test", "dk.test"
GW_NO, GW_DK = "gw.no.test", "gw.dk.test"
NS_FED = "urn:skagerrak:fed:1"
USERS_NO = {"kari@no.test": "kari-Passord1", "ola@no.test": "ola-Passord2"}
USERS_DK = {"mette@dk.test": "mette-Adgang3"}
# Components on the Norwegian server that are not (or only restrictedly) partners.
EXTRA_COMPONENTS = ["gw.se.test", "gw.fi.test", "gw.xx.test"]

QUEUES_NO = """
  { id = "general"; names = { nb = "Generell"; nn = "Generell"; da = "Generel"; en = "General"; };
    counsellors = [ "kari@no.test" ]; mode = "offer"; offer_timeout = 20; },
  { id = "shared"; counsellors = [ "kari@no.test" ]; mode = "pick"; shared_with = [ "gw.dk.test" ]; },
  { id = "overflow"; counsellors = [ "ola@no.test" ]; mode = "pick";
    overflow_after = 2; overflow_to = [ "gw.dk.test" ]; }
"""
COUNSELLORS_NO = """
  { jid = "kari@no.test"; name = "Kari"; capacity = 4; lang = "en"; },
  { jid = "ola@no.test"; name = "Ola"; capacity = 2; lang = "nb"; }"""
PARTNERS_NO = """
partners = (
  { domain = "gw.dk.test"; name = "Studievejledning DK"; accept_escalations = true;
    send_transcript = true; fields = [ "topic" ]; },
  { domain = "gw.se.test"; name = "Studievägledning SE"; accept_escalations = true;
    send_transcript = false; fields = [ "topic" ]; },
  { domain = "gw.fi.test"; name = "Opinto-ohjaus FI"; accept_escalations = false; }
);"""

QUEUES_DK = """
  { id = "general"; names = { nb = "Generell"; nn = "Generell"; da = "Generel"; en = "General"; };
    counsellors = [ "mette@dk.test" ]; mode = "offer"; offer_timeout = 20; }"""
COUNSELLORS_DK = """
  { jid = "mette@dk.test"; name = "Mette"; capacity = 4; lang = "en"; }"""
PARTNERS_DK = """
partners = (
  { domain = "gw.no.test"; name = "Rådgivning NO"; accept_escalations = true;
    send_transcript = true; fields = [ "topic" ]; }
);"""

T = 15  # default wait


# --------------------------------------------------------------------------- set-up

def _gw_config(server, component, workdir, http_port, queues, counsellors, partners):
    shim = types.SimpleNamespace(component_port=server.component_port,
                                 secret=server.secrets[component])
    text = gw.config_text(shim, workdir, http_port, queues=queues, counsellors=counsellors,
                          extra=partners)
    text = text.replace('domain = "gw.no.test"', 'domain = "%s"' % component, 1)
    return text.replace('host = "127.0.0.1"; port = %d' % server.component_port,
                        'host = "%s"; port = %d' % (server.host_ip, server.component_port))


class Side:
    """One agency: its Prosody (maybe shared), its gateway, its loopback, its clients."""

    def __init__(self, name, server, component, workdir, queues, counsellors, partners):
        self.name, self.server, self.component = name, server, component
        self.http_port = harness.free_port()
        text = _gw_config(server, component, workdir, self.http_port, queues, counsellors,
                          partners)
        if name == "no":  # the home side also has a real seeker channel: the web chat
            from test_webchat_api import webchat_conf
            text = text.replace("plugins = { loopback = { }; };",
                                "plugins = { %s };" % webchat_conf())
        self.gw = harness.Gateway(None, text, workdir)
        self.loopback = None

    def start(self):
        self.gw.start()
        self.gw.wait_log(r"component %s online" % re.escape(self.component), timeout=20)
        self.loopback = gw.Loopback(self.http_port).start()

    def stop(self):
        if self.loopback:
            self.loopback.close()
            self.loopback = None
        rc = self.gw.stop()
        assert rc in (0, None), "%s gateway exited with %r" % (self.name, rc)
        assert not self.gw.sanitizer_reports(), self.gw.sanitizer_reports()


def _prosody(d, hosts, components, **kw):
    secs = {c: secrets.token_hex(12) for c in components}
    p = harness.Prosody(d, hosts=hosts, components=secs, **kw)
    p.secrets = secs
    return p


class Fed:
    def __init__(self, mode, tmp):
        self.mode = mode
        self.clients = []
        if mode == "one":
            p = _prosody(os.path.join(tmp, "prosody"), [NO, DK],
                         [GW_NO, GW_DK] + EXTRA_COMPONENTS)
            self.p_no = self.p_dk = p
            self.servers = [p]
        else:
            hosts = os.path.join(tmp, "hosts")
            with open(hosts, "w") as f:
                f.write("127.0.0.2 no.test gw.no.test\n127.0.0.3 dk.test gw.dk.test\n")
            self.p_no = _prosody(os.path.join(tmp, "prosody-no"), [NO], [GW_NO] + EXTRA_COMPONENTS,
                                 interfaces=("127.0.0.2",), s2s_port=5269, unbound_hoststxt=hosts)
            self.p_dk = _prosody(os.path.join(tmp, "prosody-dk"), [DK], [GW_DK],
                                 interfaces=("127.0.0.3",), s2s_port=5269, unbound_hoststxt=hosts)
            self.servers = [self.p_no, self.p_dk]
        for jid, pw in USERS_NO.items():
            self.p_no.adduser(jid, pw)
        for jid, pw in USERS_DK.items():
            self.p_dk.adduser(jid, pw)
        for p in self.servers:
            p.start()
        self.no = Side("no", self.p_no, GW_NO, os.path.join(tmp, "gw-no"), QUEUES_NO,
                       COUNSELLORS_NO, PARTNERS_NO)
        self.dk = Side("dk", self.p_dk, GW_DK, os.path.join(tmp, "gw-dk"), QUEUES_DK,
                       COUNSELLORS_DK, PARTNERS_DK)
        self.no.start()
        self.dk.start()

    def client(self, jid):
        p = self.p_no if jid.endswith("@" + NO) else self.p_dk
        pw = {**USERS_NO, **USERS_DK}[jid]
        c = harness.Client(jid, pw, p.c2s_port, host=p.host_ip)
        self.clients.append(c)
        c.connect()
        return c

    def close(self):
        for c in self.clients:
            c.close()
        errors = []
        for side in (self.no, self.dk):
            try:
                side.stop()
            except AssertionError as e:
                errors.append(str(e))
        for p in self.servers:
            p.stop()
        assert not errors, errors


@pytest.fixture
def fed(request, tmp_state):
    f = Fed(request.param, tmp_state)
    yield f
    f.close()


ONE = pytest.mark.parametrize("fed", ["one"], indirect=True)
BOTH = pytest.mark.parametrize("fed", ["one", "s2s"], indirect=True)
S2S = pytest.mark.parametrize("fed", ["s2s"], indirect=True)


# --------------------------------------------------------------------------- helpers

def sign_in(cl, queue_jid):
    cl.send_presence(to=queue_jid)
    cl.wait_presence(frm=queue_jid, timeout=T)


def body_has(text):
    return lambda s: s.body is not None and text in s.body


def accept_offer(cl, domain, timeout=T):
    o = cl.wait_message(lambda s: "!accept" in (s.body or "") and s.bare_from.endswith("@" + domain),
                        timeout=timeout)
    cl.send_message(o.bare_from, "!accept")
    return o.bare_from


def home_conversation(f, kari, address, first, meta=None):
    """A seeker on the no gateway's loopback, taken by Kari; returns (conv, kari's JID for it)."""
    kw = {"lang": "nb", "id": "in-" + address}
    if meta:
        kw["meta"] = meta
    r = f.no.loopback.send(address, first, **kw)
    assert r.status == 200, r.text
    conv = r.json()["conv"]
    jid = accept_offer(kari, GW_NO)
    assert jid == "%s@%s" % (conv, GW_NO)
    kari.wait_message(lambda s: s.body == first and s.bare_from == jid, timeout=T)
    return conv, jid


def seeker_says(f, address, conv, body, mid):
    r = f.no.loopback.send(address, body, conv=conv, lang="nb", id=mid)
    assert r.status == 200, r.text
    return r.json()


class RawComponent:
    """A bare XEP-0114 component to send hand-made federation stanzas."""

    def __init__(self, server, domain):
        self.domain = domain
        self.sock = harness.component_handshake(server.component_port, domain,
                                                server.secrets[domain], host=server.host_ip)
        self.buf = b""

    def iq(self, to, payload, type="set", timeout=T):
        iid = "raw-%s" % secrets.token_hex(4)
        self.sock.sendall(("<iq type='%s' id='%s' from='%s' to='%s'>%s</iq>"
                           % (type, iid, self.domain, to, payload)).encode())
        return self.wait(rb"<iq\b[^>]*\bid=['\"]" + iid.encode() + rb"['\"][^>]*(/>|>.*?</iq>)", timeout)

    def wait(self, regex, timeout=T):
        """The first received XML matching regex (bytes), as text."""
        rx = re.compile(regex, re.S)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                return m.group(0).decode()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no answer to %s: %r" % (self.domain, iid, self.buf[-500:]))
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise AssertionError("%s: stream closed: %r" % (self.domain, self.buf[-500:]))
                self.buf += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def answer_type(xml):
    return re.search(r"type=['\"](\w+)['\"]", xml).group(1)


# --------------------------------------------------------------------------- cases

def _escalated_conversation(f, kari, mette, address, consent, meta=None):
    """Seeker at home -> Kari -> !escalate -> consent answer -> Mette accepts at DK.
    Returns (conv at home, Mette's conversation JID)."""
    lb = f.no.loopback
    conv, kjid = home_conversation(f, kari, address, "Jeg vil studere i København", meta)
    kari.send_message(kjid, "Hei! Jeg finner noen som kan hjelpe.")
    assert lb.wait(lambda i: i["conv"] == conv and i["kind"] == "text", timeout=T)["body"] \
        == "Hei! Jeg finner noen som kan hjelpe."
    kari.send_message(kjid, "!escalate gw.dk.test wants to study in Copenhagen")
    kari.wait_message(body_has("Asking the seeker for consent"), timeout=T)
    lb.wait_meta("consent_question", conv=conv, timeout=T)
    seeker_says(f, address, conv, "JA" if consent else "Nei takk", "c-" + address)
    lb.wait_meta("consent", conv=conv, timeout=T)
    told = lb.wait_meta("escalated", conv=conv, timeout=T)
    assert "Studievejledning DK" in told["body"]
    kari.wait_message(body_has("handed over to Studievejledning DK"), timeout=T)
    mjid = accept_offer(mette, GW_DK)
    return conv, mjid


@BOTH
def test_escalation_with_consent_and_chat(fed):
    kari, mette = fed.client("kari@no.test"), fed.client("mette@dk.test")
    sign_in(kari, "general@" + GW_NO)
    sign_in(mette, "general@" + GW_DK)
    lb = fed.no.loopback
    address = "+4790003001"
    conv, mjid = _escalated_conversation(fed, kari, mette, address, True,
                                         meta={"fields": {"topic": "studies", "phone": "+4790003001"}})
    # Mette sees the handover note, the pre-chat fields that may cross, and the transcript
    mette.wait_message(lambda s: s.bare_from == mjid and "wants to study in Copenhagen" in (s.body or ""),
                       timeout=T)
    tr = mette.wait_message(lambda s: s.bare_from == mjid and "seeker: Jeg vil studere" in (s.body or ""),
                            timeout=T)
    assert "counsellor: Hei! Jeg finner noen" in tr.body
    fields = [m.body for m in mette.messages if m.bare_from == mjid and "studies" in (m.body or "")]
    assert fields, [m.body for m in mette.messages]
    # nothing with the seeker's number crossed: not in her messages, not in DK's database
    assert not [m.body for m in mette.messages if m.body and ("90003001" in m.body or "phone" in m.body)]
    # the seeker's channel stays at home: Mette's reply arrives on the no gateway's loopback
    mette.send_message(mjid, "Hej! Velkommen til Danmark.", id="m-1",
                       extra_xml="<request xmlns='urn:xmpp:receipts'/>")
    got = lb.wait(lambda i: i["conv"] == conv and i["body"] == "Hej! Velkommen til Danmark.", timeout=T)
    assert got["address"] == address and got["kind"] == "text"
    # the home gateway confirmed the relay (stored it): Mette's receipt
    rec = mette.wait_message(lambda s: s.child("urn:xmpp:receipts", "received") is not None,
                             timeout=T)
    assert rec.child("urn:xmpp:receipts", "received").get("id") == "m-1"
    assert rec.bare_from == mjid
    # ... and the seeker's answer reaches Mette, in the same conversation
    seeker_says(fed, address, conv, "Tusen takk!", "t-" + address)
    mette.wait_message(lambda s: s.bare_from == mjid and s.body == "Tusen takk!", timeout=T)
    # Kari is out of it
    kari.send_message("%s@%s" % (conv, GW_NO), "still mine?")
    assert kari.wait_message(lambda s: s.type == "error", timeout=T).error_condition() == "forbidden"
    # the serving side closes; the home gateway closes the seeker's channel in its language
    mette.send_message(mjid, "!close resolved")
    mette.wait_message(body_has("Conversation closed"), timeout=T)
    closed = lb.wait(lambda i: i["conv"] == conv and i["kind"] == "closed", timeout=T)
    assert "avsluttet" in closed["body"].lower(), closed


@ONE
def test_escalation_without_consent(fed):
    kari, mette = fed.client("kari@no.test"), fed.client("mette@dk.test")
    sign_in(kari, "general@" + GW_NO)
    sign_in(mette, "general@" + GW_DK)
    lb = fed.no.loopback
    address = "+4790003002"
    conv, mjid = _escalated_conversation(fed, kari, mette, address, False)
    mette.wait_message(lambda s: s.bare_from == mjid and "wants to study in Copenhagen" in (s.body or ""),
                       timeout=T)
    # a round trip after the accept: everything replayed to Mette has arrived by now
    mette.send_message(mjid, "Hej!")
    lb.wait(lambda i: i["conv"] == conv and i["body"] == "Hej!", timeout=T)
    bodies = [m.body or "" for m in mette.messages]
    assert not [b for b in bodies if "Jeg vil studere" in b or "seeker:" in b or "Jeg finner noen" in b], bodies
    # the home gateway logged no transcript; the DK database holds none
    import sqlite3
    db = sqlite3.connect(os.path.join(fed.dk.gw.workdir, "gw.db"))
    try:
        rows = db.execute("SELECT body FROM messages").fetchall()
    finally:
        db.close()
    assert not [r for r in rows if r[0] and "Jeg vil studere" in r[0]], rows


@BOTH
def test_shared_queue_partner_and_home_race(fed):
    kari, mette = fed.client("kari@no.test"), fed.client("mette@dk.test")
    sign_in(kari, "shared@" + GW_NO)
    sign_in(mette, "general@" + GW_DK)
    lb = fed.no.loopback
    r = lb.send("+4790003003", "who takes me?", queue="shared", lang="nb", id="sq-1")
    conv = r.json()["conv"]
    lb.wait_meta("welcome", conv=conv, timeout=T)
    # Mette's !queue lists the Norwegian shared queue, marked with the home agency
    # a second seeker writes from an e-mail address: its domain must not cross either
    c2 = lb.send("ola.nordmann@example.no", "me too", queue="shared", lang="nb", id="sq-2").json()["conv"]
    lb.wait_meta("welcome", conv=c2, timeout=T)
    mette.send_message(GW_DK, "!queue")
    listing = mette.wait_message(body_has("Shared queue at Rådgivning NO"), timeout=T)
    assert "!take gw.no.test:%s" % conv in listing.body and "shared" in listing.body
    assert "!take gw.no.test:%s" % c2 in listing.body
    assert "··3003" in listing.body and "4790003003" not in listing.body  # masked display only
    assert "example.no" not in listing.body and "nordmann" not in listing.body, listing.body
    # both take at once: the home gateway alone assigns, exactly one wins
    mette.send_message(GW_DK, "!take gw.no.test:" + conv)
    kari.send_message("shared@" + GW_NO, "!take " + conv)
    km = kari.wait_message(lambda s: s.body in ("who takes me?", "Nobody is waiting right now.",
                                                "A colleague has already taken this conversation."),
                           timeout=T)
    mm = mette.wait_message(lambda s: s.body in ("who takes me?", "A colleague has already taken this conversation.",
                                                 "The partner did not answer or declined. The conversation stays with you."),
                            timeout=T)
    wins = [km.body == "who takes me?", mm.body == "who takes me?"]
    assert sorted(wins) == [False, True], (km.body, mm.body)
    joined = lb.wait_meta("joined", conv=conv, timeout=T)
    assert [i for i in lb.items if i["conv"] == conv and (i["meta"] or {}).get("type") == "joined"] == [joined]
    if wins[1]:  # served at DK: the chat goes through the home gateway
        mette.send_message(mm.bare_from, "Hej fra Danmark")
        assert lb.wait(lambda i: i["conv"] == conv and i["kind"] == "text", timeout=T)["body"] == "Hej fra Danmark"
    else:
        kari.send_message(km.bare_from, "Hei fra Norge")
        assert lb.wait(lambda i: i["conv"] == conv and i["kind"] == "text", timeout=T)["body"] == "Hei fra Norge"
    # no race: Mette takes the second seeker; the chat runs both ways through the home gateway
    mette.send_message(GW_DK, "!take gw.no.test:" + c2)
    m2 = mette.wait_message(lambda s: s.body == "me too", timeout=T)
    lb.wait_meta("joined", conv=c2, timeout=T)
    lb.send("ola.nordmann@example.no", "are you Danish?", conv=c2, lang="nb", id="sq-3")
    mette.wait_message(lambda s: s.bare_from == m2.bare_from and s.body == "are you Danish?", timeout=T)
    mette.send_message(m2.bare_from, "Ja, fra København")
    assert lb.wait(lambda i: i["conv"] == c2 and i["kind"] == "text", timeout=T)["body"] == "Ja, fra København"


@ONE
def test_overflow_to_partner(fed):
    mette = fed.client("mette@dk.test")
    sign_in(mette, "general@" + GW_DK)
    lb = fed.no.loopback
    # queue "overflow": nobody at home signed in, overflow_after = 2 s, the sweep every 5 s
    conv = lb.send("+4790003004", "er det noen der?", queue="overflow", lang="nb", id="ov-1").json()["conv"]
    fed.no.gw.wait_log(r"federation: overflow of %s to gw\.dk\.test" % conv, timeout=15)
    told = lb.wait_meta("escalated", conv=conv, timeout=T)
    assert "Studievejledning DK" in told["body"]
    mjid = accept_offer(mette, GW_DK)
    mette.send_message(mjid, "Hej, jeg kan hjælpe")
    assert lb.wait(lambda i: i["conv"] == conv and i["kind"] == "text", timeout=T)["body"] == "Hej, jeg kan hjælpe"


@ONE
def test_refusals_unknown_domain_and_agreement(fed):
    kari = fed.client("kari@no.test")
    mette = fed.client("mette@dk.test")
    # a client JID, even one on the partner's server, is not a partner gateway
    for cl in (kari, mette):
        with pytest.raises(harness.XmppError) as e:
            cl.iq(GW_NO, "<queue xmlns='%s'/>" % NS_FED, type="get")
        assert e.value.condition == "forbidden"
    stranger = RawComponent(fed.p_no, "gw.xx.test")
    se = RawComponent(fed.p_no, "gw.se.test")
    fi = RawComponent(fed.p_no, "gw.fi.test")
    try:
        mark = fed.no.gw.mark()
        a = stranger.iq(GW_NO, "<queue xmlns='%s'/>" % NS_FED, type="get")
        assert answer_type(a) == "error" and "<forbidden" in a, a
        fed.no.gw.wait_log(r"federation: queue from gw\.xx\.test refused: not a configured partner",
                           since=mark)
        a = stranger.iq(GW_NO, "<escalate xmlns='%s' conv='x1' lang='nb'/>" % NS_FED)
        assert "<forbidden" in a, a
        # a partner whose escalations we do not accept
        a = fi.iq(GW_NO, "<escalate xmlns='%s' conv='fi1' lang='nb'><display>··0001</display></escalate>" % NS_FED)
        assert "<not-allowed" in a, a
        # more than the agreement allows: a transcript, or a field not agreed
        a = se.iq(GW_NO, "<escalate xmlns='%s' conv='se1' lang='nb'><transcript consent='yes'>seeker: hei"
                  "</transcript></escalate>" % NS_FED)
        assert "<not-acceptable" in a, a
        a = se.iq(GW_NO, "<escalate xmlns='%s' conv='se2' lang='nb'><fields>{\"topic\":\"x\",\"phone\":\"+4712345678\"}"
                  "</fields></escalate>" % NS_FED)
        assert "<not-acceptable" in a, a
        # unknown conversations
        a = se.iq(GW_NO, "<relay xmlns='%s' conv='nope' kind='text' id='1' dir='out'><body>x</body></relay>" % NS_FED)
        assert "<item-not-found" in a, a
        a = se.iq(GW_NO, "<take xmlns='%s' conv='nope' name='Sven'/>" % NS_FED)
        assert "<item-not-found" in a, a
        # a shared queue not shared with this partner: listed empty, not takeable
        conv = fed.no.loopback.send("+4790003005", "hei", queue="shared", lang="nb", id="rf-1").json()["conv"]
        a = se.iq(GW_NO, "<queue xmlns='%s'/>" % NS_FED, type="get")
        assert answer_type(a) == "result" and conv not in a, a
        a = se.iq(GW_NO, "<take xmlns='%s' conv='%s' name='Sven'/>" % (NS_FED, conv))
        assert "<item-not-found" in a, a
        # within the agreement it is accepted; a retry is the same conversation
        ok = "<escalate xmlns='%s' conv='se3' lang='nb'><display>··0003</display><fields>{\"topic\":\"x\"}</fields></escalate>" % NS_FED
        a1, a2 = se.iq(GW_NO, ok), se.iq(GW_NO, ok)
        c1 = re.search(r"<accepted[^>]*conv=['\"]([\w-]+)", a1).group(1)
        assert re.search(r"<accepted[^>]*conv=['\"]([\w-]+)", a2).group(1) == c1
        # relays are deduplicated by their id
        rel = "<relay xmlns='%s' conv='%s' kind='text' id='77' dir='in'><body>dup?</body></relay>" % (NS_FED, c1)
        assert answer_type(se.iq(GW_NO, rel)) == "result"
        assert answer_type(se.iq(GW_NO, rel)) == "result"
        import sqlite3
        db = sqlite3.connect(os.path.join(fed.no.gw.workdir, "gw.db"))
        try:
            n = db.execute("SELECT count(*) FROM messages WHERE body = 'dup?'").fetchone()[0]
        finally:
            db.close()
        assert n == 1
        # the gateway relays to se3 (the queue position); a refusal of a relay is final
        mark = fed.no.gw.mark()
        got = se.wait(rb"<iq\b[^>]*type=['\"]set['\"][^>]*>\s*<relay\b[^>]*conv=['\"]se3['\"].*?</iq>")
        rid = re.search(r"<iq\b[^>]*\bid=['\"]([^'\"]+)", got).group(1)
        se.sock.sendall(("<iq type='error' id='%s' from='gw.se.test' to='gw.no.test'><error type='cancel'>"
                         "<item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>" % rid).encode())
        fed.no.gw.wait_log(r"federation: gw\.se\.test refused relay of message \d+: item-not-found", since=mark)
    finally:
        for rc in (stranger, se, fi):
            rc.close()


@S2S
def test_partner_gateway_down_and_back(fed):
    kari, mette = fed.client("kari@no.test"), fed.client("mette@dk.test")
    sign_in(kari, "general@" + GW_NO)
    sign_in(mette, "general@" + GW_DK)
    lb = fed.no.loopback
    a1 = "+4790003006"
    conv, mjid = _escalated_conversation(fed, kari, mette, a1, True)
    mette.wait_message(lambda s: s.bare_from == mjid and "seeker: Jeg vil studere" in (s.body or ""), timeout=T)
    # the DK gateway goes down; the seeker writes
    fed.dk.stop()
    seeker_says(fed, a1, conv, "Er dere der?", "dn-1")
    fed.no.gw.wait_log(r"outbox: fed delivery of message \d+ deferred|answered fed-\d+ with an error",
                       timeout=T)
    # an escalation attempted meanwhile comes back to Kari with a note; the seeker stays home
    a2 = "+4790003007"
    conv2, kjid2 = home_conversation(fed, kari, a2, "Hjelp med Danmark")
    kari.send_message(kjid2, "!escalate gw.dk.test")
    kari.wait_message(body_has("Asking the seeker for consent"), timeout=T)
    lb.wait_meta("consent_question", conv=conv2, timeout=T)
    seeker_says(fed, a2, conv2, "ja", "dn-2")
    kari.wait_message(body_has("The partner did not answer or declined"), timeout=40)
    assert not [i for i in lb.items if i["conv"] == conv2 and (i["meta"] or {}).get("type") == "escalated"]
    kari.send_message(kjid2, "Jeg er fortsatt her.")
    assert lb.wait(lambda i: i["conv"] == conv2 and i["kind"] == "text", timeout=T)["body"] == "Jeg er fortsatt her."
    # DK back: the waiting message arrives, in order, once
    fed.dk.start()
    mette.wait_message(lambda s: s.bare_from == mjid and s.body == "Er dere der?", timeout=40)
    mette.send_message(mjid, "Ja, vi er her.")
    assert lb.wait(lambda i: i["conv"] == conv and i["kind"] == "text", timeout=T)["body"] == "Ja, vi er her."
    assert len([m for m in mette.messages if m.body == "Er dere der?"]) == 1


@S2S
@pytest.mark.timeout(240)
def test_link_loss_mid_conversation(fed):
    kari, mette = fed.client("kari@no.test"), fed.client("mette@dk.test")
    sign_in(kari, "general@" + GW_NO)
    sign_in(mette, "general@" + GW_DK)
    lb = fed.no.loopback
    address = "+4790003008"
    conv, mjid = _escalated_conversation(fed, kari, mette, address, False)
    mette.send_message(mjid, "Før bruddet")
    assert lb.wait(lambda i: i["conv"] == conv and i["kind"] == "text", timeout=T)["body"] == "Før bruddet"
    # the Norwegian server goes down: the s2s link and the no gateway's component link drop
    mark = fed.no.gw.mark()
    fed.p_no.stop()
    fed.no.gw.wait_log(r"(?i)xmpp.*(disconnect|down|lost|offline)", timeout=T, since=mark)
    for i in range(3):  # both sides write during the outage
        seeker_says(fed, address, conv, "seeker %d" % i, "ll-s%d" % i)
        mette.send_message(mjid, "mette %d" % i)
    # How soon the serving side hears of the outage is Prosody's business (a refused s2s
    # reconnect answers at once; a half-dead connection only after its own timeout, and on a
    # loaded machine the first can take longer than T): what is asserted is below, that
    # nothing is lost or doubled once the link is back.
    fed.dk.gw.wait_log(r"answered fed-\d+ with an error|fed delivery of message \d+ deferred", timeout=60)
    fed.p_no.start()
    fed.no.gw.wait_log(r"component gw\.no\.test online", timeout=20, since=mark)
    # The serving side's server may take a while to notice that its old s2s connection to the
    # restarted server is dead (Prosody answers the stanzas queued on it with errors after
    # its own timeout, ~45 s here); the relays are retried until the partner confirms them.
    for i in range(3):
        mette.wait_message(lambda s, i=i: s.bare_from == mjid and s.body == "seeker %d" % i, timeout=45)
        lb.wait(lambda it, i=i: it["conv"] == conv and it["body"] == "mette %d" % i, timeout=100)
    # nothing lost and nothing doubled
    assert sorted(m.body for m in mette.messages if (m.body or "").startswith("seeker ")) == \
        ["seeker 0", "seeker 1", "seeker 2"]
    assert sorted(i["body"] for i in lb.items if i["conv"] == conv and i["body"].startswith("mette ")) == \
        ["mette 0", "mette 1", "mette 2"]


@BOTH
def test_web_seeker_escalated_and_served_across(fed):
    """Issue 7's "done when": a no.test counsellor escalates a web chat seeker to dk.test; the
    dk.test counsellor chats with that seeker, whose channel (the web session) stays with the
    Norwegian gateway."""
    from test_webchat_api import Events, Web
    kari, mette = fed.client("kari@no.test"), fed.client("mette@dk.test")
    sign_in(kari, "general@" + GW_NO)
    sign_in(mette, "general@" + GW_DK)
    web = Web(fed.no.http_port)
    web.start(lang="nb", fields={"topic": "education"})
    ev = Events(web)
    ev.wait(lambda e, i, d: e == "ready", timeout=T)
    assert web.say("Jeg vil studere i Danmark").status == 200
    kjid = accept_offer(kari, GW_NO)
    kari.wait_message(lambda s: s.body == "Jeg vil studere i Danmark" and s.bare_from == kjid,
                      timeout=T)
    kari.send_message(kjid, "!escalate gw.dk.test web seeker, wants to study in Aarhus")
    kari.wait_message(body_has("Asking the seeker for consent"), timeout=T)
    ev.wait(lambda e, i, d: e == "message" and (d.get("meta") or {}).get("type") == "consent_question",
            timeout=T)
    assert web.say("Ja").status == 200
    ev.wait(lambda e, i, d: e == "message" and (d.get("meta") or {}).get("type") == "escalated",
            timeout=T)
    mjid = accept_offer(mette, GW_DK)
    mette.wait_message(lambda s: s.bare_from == mjid and "seeker: Jeg vil studere i Danmark" in (s.body or ""),
                       timeout=T)
    mette.send_message(mjid, "Hej! Aarhus Universitet har gode muligheder.")
    e, i, d = ev.wait(lambda e, i, d: e == "message" and d.get("dir") == "out", timeout=T)
    assert d["text"] == "Hej! Aarhus Universitet har gode muligheder."
    assert web.say("Tusen takk!").status == 200
    mette.wait_message(lambda s: s.bare_from == mjid and s.body == "Tusen takk!", timeout=T)
    # the seeker ends the chat on the web page: both sides close
    assert web.req("POST", "end", {}).status in (200, 204)
    mette.wait_message(lambda s: s.bare_from == mjid and "ended" in (s.body or "").lower(), timeout=T)

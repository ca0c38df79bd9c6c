"""Issue 3: conversations, queues and the counsellor workflow over plain XMPP, against a real
Prosody, with seekers arriving through the loopback test channel."""

import re

import harness
import pytest

QUEUES = """
  { id = "general"; names = { nb = "Generell"; nn = "Generell"; da = "Generel"; en = "General"; };
    counsellors = [ "@team" ]; mode = "offer"; offer_timeout = 5; },
  { id = "pick"; counsellors = [ "kari@no.test", "ola@no.test" ]; mode = "pick"; },
  { id = "studies"; names = { nb = "Studier"; nn = "Studium"; da = "Studier"; en = "Studies"; };
    counsellors = [ "ola@no.test" ]; mode = "pick"; },
  { id = "oslo"; counsellors = [ "kari@no.test" ]; mode = "pick";
    hours = { calendar = "no"; mon = "09:00-15:00"; tue = "09:00-15:00"; wed = "09:00-15:00";
              thu = "09:00-15:00"; fri = "09:00-15:00"; }; },
  { id = "kbh"; counsellors = [ "kari@no.test" ]; mode = "pick";
    hours = { calendar = "dk"; mon = "09:00-15:00"; tue = "09:00-15:00"; wed = "09:00-15:00";
              thu = "09:00-15:00"; fri = "09:00-15:00"; }; }
"""
EXTRA = 'groups = { team = [ "kari@no.test", "ola@no.test" ]; };'


@pytest.fixture
def gwq(gateway_factory):
    return gateway_factory(queues=QUEUES, extra=EXTRA)


def sign_in(cl, queue="general", show=None):
    cl.send_presence(to="%s@gw.no.test" % queue, show=show)
    cl.wait_presence(frm="%s@gw.no.test" % queue)


def offer_for(cl, timeout=10):
    return cl.wait_message(lambda s: "!accept" in (s.body or "") or "!godta" in (s.body or ""),
                           timeout=timeout)


def command(cl, to, text, expect, timeout=10):
    cl.send_message(to, text)
    return cl.wait_message(lambda s: s.body is not None and re.search(expect, s.body),
                           timeout=timeout)


def test_positions_and_wait_in_seekers_language(gwq):
    lb = gwq.loopback
    convs = []
    for i, lang in enumerate(["nb", "nn", "da", "en"]):
        r = lb.send("+479000100%d" % i, "hei %d" % i, lang=lang, id="pos-%d" % i)
        assert r.status == 200
        convs.append(r.json()["conv"])
    expect = {"nb": "Du er nummer 4 i køen", "nn": "Du er nummer 4 i køen",
              "da": "Du er nummer 4 i køen", "en": "You're number 4 in the queue"}
    welcome = {"nb": "velkommen", "nn": "velkomen", "da": "velkommen", "en": "welcome"}
    for n, (conv, lang) in enumerate(zip(convs, ["nb", "nn", "da", "en"])):
        w = lb.wait(lambda i: i["conv"] == conv and i["meta"]["type"] == "welcome")
        assert welcome[lang] in w["body"].lower(), w
        p = lb.wait(lambda i: i["conv"] == conv and i["meta"]["type"] == "position")
        assert p["lang"] == lang and p["meta"]["position"] == n + 1
        if n == 3:
            assert expect["en"] in p["body"]


def test_offer_decline_timeout_next_counsellor(gwq, client):
    kari, ola = client("kari"), client("ola")
    sign_in(kari)
    lb = gwq.loopback
    conv = lb.send("+4790001010", "trenger hjelp", id="od-1").json()["conv"]
    o1 = offer_for(kari)
    assert o1.bare_from == conv + "@gw.no.test"
    command(kari, o1.bare_from, "!decline", "Declined")
    # nobody else is ready: a new round offers it to Kari again
    offer_for(kari)
    sign_in(ola)
    # Kari lets the offer time out (5 s) -> it goes to Ola, in Ola's language (nb)
    o2 = ola.wait_message(lambda s: "!accept" in (s.body or ""), timeout=15)
    assert o2.bare_from == conv + "@gw.no.test"
    assert kari.wait_message(lambda s: "offer ran out" in (s.body or ""), timeout=10)
    ola.send_message(o2.bare_from, "!accept")
    ola.wait_message(lambda s: s.body == "trenger hjelp")
    assert lb.wait_meta("joined", conv=conv)["meta"]["name"] == "Ola"


def test_pick_mode_next_and_take(gwq, client):
    kari = client("kari")
    sign_in(kari, "pick")
    lb = gwq.loopback
    c1 = lb.send("+4790001020", "first", queue="pick", id="pk-1").json()["conv"]
    c2 = lb.send("+4790001021", "second", queue="pick", id="pk-2").json()["conv"]
    assert kari.no_message(lambda s: "!accept" in (s.body or ""), within=0.5)  # no offers
    status = command(kari, "pick@gw.no.test", "!queue pick", "2 waiting")
    assert "··1020" in status.body and "··1021" in status.body
    kari.send_message("pick@gw.no.test", "!next")
    assert kari.wait_message(lambda s: s.body == "first").bare_from == c1 + "@gw.no.test"
    kari.send_message("pick@gw.no.test", "!take 1")
    assert kari.wait_message(lambda s: s.body == "second").bare_from == c2 + "@gw.no.test"
    command(kari, "pick@gw.no.test", "!next", "No one|nobody|waiting", timeout=10)


def test_capacity_limits_offers(gwq, client):
    kari = client("kari")  # capacity 2
    sign_in(kari)
    lb = gwq.loopback
    for i in range(3):
        lb.send("+479000103%d" % i, "cap %d" % i, id="cap-%d" % i)
    for i in range(2):
        o = offer_for(kari)
        kari.send_message(o.bare_from, "!accept")
        kari.wait_message(lambda s: (s.body or "").startswith("cap "))
    # the third waits: Kari is full
    assert kari.no_message(lambda s: "!accept" in (s.body or ""), within=1.0)
    third = lb.wait(lambda i: (i["meta"] or {}).get("position") == 1 and i["address"] == "+4790001032")
    assert third


def test_transfer_to_queue_with_note_and_close(gwq, client):
    kari, ola = client("kari"), client("ola")
    sign_in(kari)
    sign_in(ola, "studies")
    lb = gwq.loopback
    conv = lb.send("+4790001040", "vil studere", lang="nb", id="tr-1").json()["conv"]
    o = offer_for(kari)
    kari.send_message(o.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "vil studere")
    command(kari, o.bare_from, "!transfer nowhere", "Can't find \"nowhere\".*studies")
    command(kari, o.bare_from, "!transfer studies wants to study in Denmark", "handed over")
    t = lb.wait_meta("transferred", conv=conv)
    assert "Studier" in t["body"]
    # Ola (pick mode) takes it and sees the seeker's text
    ola.send_message("studies@gw.no.test", "!next")
    ola.wait_message(lambda s: s.body == "vil studere")
    # Kari can no longer write in it
    kari.send_message(o.bare_from, "still mine?")
    err = kari.wait_message(lambda s: s.type == "error")
    assert err.error_condition() == "forbidden"
    command(ola, o.bare_from, "!close", "!close <")          # asks for an outcome (in nb)
    command(ola, o.bare_from, "!close referred", "referred")
    closed = lb.wait(lambda i: i["kind"] == "closed" and i["conv"] == conv)
    assert closed["meta"]["reason"] == "counsellor"


def test_requeue_when_counsellor_disconnects(gateway_factory, client):
    """A counsellor who drops out and does not come back within `counsellor_grace` loses
    the seeker to the queue (at the front); the seeker is told."""
    g = gateway_factory(queues=QUEUES, extra=EXTRA, service="counsellor_grace = 1;")
    kari, ola = client("kari"), client("ola")
    sign_in(kari)
    lb = g.loopback
    conv = lb.send("+4790001050", "hallo", id="rq-1").json()["conv"]
    o = offer_for(kari)
    kari.send_message(o.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "hallo")
    kari.disconnect()
    told = lb.wait_meta("requeued", conv=conv)
    assert "køen" in told["body"]
    g.wait_log(r"counsellor kari@no.test did not come back; requeueing")
    sign_in(ola)
    o2 = ola.wait_message(lambda s: "!accept" in (s.body or ""), timeout=10)
    assert o2.bare_from == conv + "@gw.no.test"


def test_counsellor_back_within_grace_keeps_the_seeker(gwq, client):
    """A phone changing networks: the counsellor disconnects and signs in again within
    `counsellor_grace` (default 60 s) and simply goes on; the seeker is not requeued."""
    kari = client("kari")
    sign_in(kari)
    lb = gwq.loopback
    conv = lb.send("+4790001051", "hallo", id="gr-1").json()["conv"]
    o = offer_for(kari)
    kari.send_message(o.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "hallo")
    mark = gwq.mark()
    kari.disconnect()
    gwq.wait_log(r"counsellor kari@no.test went offline; 1 conversation\(s\) kept", since=mark)
    kari.connect()
    sign_in(kari)
    gwq.wait_log(r"counsellor kari@no.test is back; keeps 1 conversation", since=mark)
    lb.send("+4790001051", "er du der fortsatt?", id="gr-2")
    # An ordinary message in the same conversation, not a new offer.
    m = kari.wait_message(lambda s: s.body == "er du der fortsatt?" or "!accept" in (s.body or ""))
    assert m.body == "er du der fortsatt?" and m.bare_from == o.bare_from
    kari.send_message(o.bare_from, "ja, her")
    lb.wait(lambda i: i["kind"] == "text" and i["body"] == "ja, her" and i["conv"] == conv)
    assert not [i for i in lb.items if (i.get("meta") or {}).get("type") == "requeued"]


@pytest.mark.parametrize("clock,queue,closed,opens", [
    ("2026-04-06T10:00:00", "oslo", True, "i morgen"),  # Easter Monday (2. påskedag)
    ("2027-05-17T10:00:00", "oslo", True, "i morgen"),  # 17 May (a Monday in 2027)
    ("2026-04-02T16:00:00", "oslo", True, "tirsdag"),   # Maundy Thursday evening -> Tuesday
    ("2026-06-05T10:00:00", "kbh", True, "mandag"),     # Grundlovsdag (Friday) in Denmark
    ("2026-06-05T10:00:00", "oslo", False, None),       # ... an ordinary Friday in Norway
])
def test_outside_hours_with_fixed_clock(gateway_factory, clock, queue, closed, opens):
    g = gateway_factory(queues=QUEUES, extra=EXTRA, test_clock=clock)
    lb = g.loopback
    conv = lb.send("+4790001060", "er dere åpne?", queue=queue, lang="nb", id="oh-1").json()["conv"]
    lb.wait_meta("welcome", conv=conv)
    pos = lb.wait_meta("position", conv=conv)
    earlier = [i for i in lb.items if i["conv"] == conv and (i["meta"] or {}).get("type") == "closed_hours"]
    if closed:
        assert earlier, lb.items
        assert opens in earlier[0]["body"] and "09:00" in earlier[0]["body"], earlier[0]["body"]
    else:
        assert not earlier
    assert pos


def test_authorization_refusals(gwq, client, prosody):
    prosody.adduser("mallory@no.test", "mallory-pw")
    mallory = client("mallory", password="mallory-pw")
    kari = client("kari")
    sign_in(kari)
    lb = gwq.loopback
    conv = lb.send("+4790001070", "privat", id="au-1").json()["conv"]
    o = offer_for(kari)
    # a stranger writing to a conversation JID or a queue JID gets 'forbidden'
    mallory.send_message(o.bare_from, "let me in")
    assert mallory.wait_message(lambda s: s.type == "error").error_condition() == "forbidden"
    mallory.send_message("general@gw.no.test", "!next")
    assert mallory.wait_message(lambda s: s.type == "error").error_condition() == "forbidden"
    # a counsellor writing in a conversation not assigned to them
    ola = client("ola")
    ola.send_message(o.bare_from, "hi")
    assert ola.wait_message(lambda s: s.type == "error").error_condition() == "forbidden"
    # non-supervisor asking for the supervisor view
    command(kari, "general@gw.no.test", "!all", "supervisors|not allowed|forbidden|only", timeout=10)
    sjef = client("sjef")
    view = command(sjef, "gw.no.test", "!all", conv)
    assert "offered" in view.body


def test_two_counsellors_race_for_one_seeker(gwq, client):
    kari, ola = client("kari"), client("ola")
    sign_in(kari, "pick")
    sign_in(ola, "pick")
    lb = gwq.loopback
    conv = lb.send("+4790001080", "who wins?", queue="pick", id="race-1").json()["conv"]
    # both send !next at the same moment; exactly one gets the seeker
    kari.send_message("pick@gw.no.test", "!next")
    ola.send_message("pick@gw.no.test", "!next")
    got = []
    for cl in (kari, ola):
        m = cl.wait_message(lambda s: s.body == "who wins?" or "Nobody" in (s.body or "")
                            or "Ingen" in (s.body or ""), timeout=10)
        got.append(m.body == "who wins?")
    assert sorted(got) == [False, True]
    joined = [i for i in lb.items if i["conv"] == conv and (i["meta"] or {}).get("type") == "joined"]
    assert len(joined) <= 1
    lb.wait_meta("joined", conv=conv)


def test_adhoc_commands_with_forms(gwq, client):
    kari = client("kari")
    sign_in(kari)
    NS = "http://jabber.org/protocol/commands"
    items = kari.iq("gw.no.test", "<query xmlns='http://jabber.org/protocol/disco#items' node='%s'/>" % NS)
    nodes = [i.get("node") for i in items.xml.iter("{http://jabber.org/protocol/disco#items}item")]
    assert "close" in nodes and "next" in nodes
    lb = gwq.loopback
    conv = lb.send("+4790001090", "adhoc", id="ah-1").json()["conv"]
    o = offer_for(kari)
    kari.send_message(o.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "adhoc")
    form = kari.iq(o.bare_from, "<command xmlns='%s' node='close' action='execute'/>" % NS, type="set")
    cmd = form.xml.find("{%s}command" % NS)
    assert cmd.get("status") == "executing"
    opts = [v.text for v in form.xml.iter("{jabber:x:data}value")]
    assert "resolved" in opts
    sid = cmd.get("sessionid")
    done = kari.iq(o.bare_from, "<command xmlns='%s' node='close' sessionid='%s'><x xmlns='jabber:x:data' type='submit'>"
                   "<field var='outcome'><value>resolved</value></field></x></command>" % (NS, sid), type="set")
    assert done.xml.find("{%s}command" % NS).get("status") == "completed"
    lb.wait(lambda i: i["kind"] == "closed" and i["conv"] == conv)


def test_snippets_notes_escape_and_help(gwq, client):
    kari = client("kari")
    sign_in(kari)
    lb = gwq.loopback
    conv = lb.send("+4790001100", "hours?", lang="en", id="sn-1").json()["conv"]
    o = offer_for(kari)
    kari.send_message(o.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "hours?")
    helptext = command(kari, o.bare_from, "!help", "!queue")
    assert "!close" in helptext.body and "!!" in helptext.body
    kari.send_message(o.bare_from, "!snippet hours")
    assert lb.wait(lambda i: i["kind"] == "text" and i["conv"] == conv)["body"] == "We are open 9-15."
    command(kari, o.bare_from, "!note seems stressed", "saved|Note")
    kari.send_message(o.bare_from, "!!important: read this")
    assert lb.wait(lambda i: i["kind"] == "text" and i["conv"] == conv)["body"] == "!important: read this"
    command(kari, o.bare_from, "!frobnicate", "Unknown command: frobnicate")
    # the note never reached the seeker
    assert not [i for i in lb.items if "stressed" in i["body"]]


def test_history_only_when_allowed_and_supervisor_stats(gwq, client):
    kari, sjef = client("kari"), client("sjef")
    sign_in(kari)
    lb = gwq.loopback
    # first conversation: the seeker allows counsellors to see earlier conversations
    lb.send("+4790001110", "first time", id="hi-1", meta={"fields": {"allow_history": True}})
    o = offer_for(kari)
    kari.send_message(o.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "first time")
    command(kari, o.bare_from, "!close resolved", "closed")
    # a second conversation of the same seeker shows the first in !history
    lb.send("+4790001110", "back again", id="hi-2")
    o2 = offer_for(kari)
    kari.send_message(o2.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "back again")
    hist = command(kari, o2.bare_from, "!history", "— general —")
    assert "resolved" in hist.body
    # another seeker who did not allow it: nothing is shown
    lb.send("+4790001111", "private", id="hi-3")
    o3 = offer_for(kari)
    kari.send_message(o3.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "private")
    command(kari, o3.bare_from, "!close info", "closed")
    lb.send("+4790001111", "private again", id="hi-4")
    o4 = offer_for(kari)
    kari.send_message(o4.bare_from, "!accept")
    kari.wait_message(lambda s: s.body == "private again")
    none = command(kari, o4.bare_from, "!history", "earlier|no previous|No earlier")
    assert "resolved" not in none.body and "info" not in none.body
    # the supervisor's figures count the closed conversations per queue
    stats = command(sjef, "gw.no.test", "!stats", "queue general closed: 2")
    assert "queue general active" in stats.body

"""Issue 12, problem 4: every time-driven transition fires on a timer of its own, on time,
without any other event to set it off -- with the test clock and with the wall clock.

What fires when (docs/core.md, "What fires when"): the opening and the closing of a queue
(its hours), offer expiry (offer_timeout), the grace of a counsellor who dropped out
(counsellor_grace), an unanswered seeker (counsellor_timeout), max_wait, overflow to a
partner (overflow_after), abandonment (abandon_after) and retention (retention_days).

How late each one is allowed to be: TOL (1 s).  Times are measured where they are seen:
the arrival of a stanza at a client (Stanza.at), of a delivery at the loopback channel
(item["_at"]), or the gateway's own log timestamp; the moment a countdown started is the
client-side time around the request that started it, so every lateness here is an upper
bound.  Deadlines in the daemon's clock are turned into real time with the offset the
daemon logs when it sets its test clock ("test clock in use: ...").

The seconds-based transitions run side by side in one gateway per clock (one queue each),
so the whole set costs ~15 s instead of a minute; abandonment (60 s at least) and retention
(a day at least) are reached by jumping the daemon's clock with a reload (test_clock is
re-read on SIGHUP): the deadline then fires after a few real seconds, on the test clock or,
after a reload back to the real clock, on the wall clock.
"""

import datetime
import math
import os
import re
import signal
import sqlite3
import time
import zoneinfo

import pytest

import gw

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
TOL = 1.0     # a transition may be this late (s)
EARLY = 0.1   # ... and this early: clock granularity, a request's own duration
LEAD = 8.0    # from writing the config to the opening/closing (s): time to sign in and write
PER_PW = "per-Passord4"
WEEKDAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
LOGTS = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) "

COUNSELLORS = """
  { jid = "kari@no.test"; name = "Kari"; capacity = 2; lang = "en"; },
  { jid = "ola@no.test"; name = "Ola"; capacity = 2; lang = "en"; },
  { jid = "sjef@no.test"; name = "Sjef"; lang = "en"; },
  { jid = "per@no.test"; name = "Per"; lang = "en"; }"""
PARTNERS = 'partners = ( { domain = "gw.dk.test"; name = "Partner DK"; } );'


def log_ts(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def local(t):
    return datetime.datetime.fromtimestamp(t, OSLO)


def clock_spec(t):
    """A test_clock value for real time t (seconds, floored), Oslo local time."""
    return local(math.floor(t)).strftime("%Y-%m-%dT%H:%M:%S")


def spec_epoch(spec):
    return datetime.datetime.strptime(spec, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=OSLO).timestamp()


def daemon_offset(g, since=0):
    """Seconds the daemon's clock is ahead of the real one, from its 'test clock' line."""
    m = g.wait_log(LOGTS + r".*test clock in use: the daemon believes it is (\S+)", since=since)
    return spec_epoch(m.group(2)) - log_ts(m.group(1))


def sign_in(cl, queue):
    cl.send_presence(to="%s@gw.no.test" % queue)
    cl.wait_presence(frm="%s@gw.no.test" % queue)


def is_offer(conv):
    return lambda s: "!accept" in (s.body or "") and s.bare_from == conv + "@gw.no.test"


class Results:
    """Lateness per transition (s, None = it did not happen in time); checked at the end so
    one run shows every transition (on an old build: which ones are late)."""

    def __init__(self):
        self.late = {}
        self.why = {}

    def measure(self, name, fn):
        try:
            self.late[name] = fn()
        except Exception as e:  # noqa: BLE001 -- reported with the others below
            self.late[name] = None
            self.why[name] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:200])

    def check(self):
        lines = []
        for k, v in self.late.items():
            lines.append("%-22s %s" % (k, "did not fire (%s)" % self.why.get(k) if v is None
                                       else "%+.3f s" % v))
        print("\nlateness:\n  " + "\n  ".join(lines))
        bad = {k: v for k, v in self.late.items() if v is None or not -EARLY <= v <= TOL}
        assert not bad, "late, early or missing: %s\n%s" % (sorted(bad), "\n".join(lines))


def timeout_for(due):
    return max(0.5, due + TOL + 2.0 - time.time())


def hours_config(clock):
    """Two queues with hours: 'hours' opens and 'closing' closes at the same instant, LEAD s
    from now.  Returns (queue text, test_clock, the instant in the daemon's clock)."""
    if clock == "test":
        # Tuesday 7 April 2026, the day after Easter Monday, 08:59:52: opening at 09:00.
        spec = "2026-04-07T08:59:52"
        at = spec_epoch("2026-04-07T09:00:00")
        week = "".join('%s = "09:00-15:00"; ' % d for d in WEEKDAYS[:5])
        early = "".join('%s = "08:00-09:00"; ' % d for d in WEEKDAYS[:5])
        return ('hours = { calendar = "no"; %s };' % week,
                'hours = { calendar = "no"; %s };' % early, spec, at)
    # Wall clock: the opening on a second (ranges take HH:MM:SS), today in Oslo.
    now = time.time()
    at = math.ceil(now + LEAD)
    if local(at).date() != local(now).date() or local(at).hour == 0 and local(at).minute == 0:
        time.sleep(at - now + 2)  # not across midnight: wait for the new day
        now = time.time()
        at = math.ceil(now + LEAD)
    lt = local(at)
    day = WEEKDAYS[lt.weekday()]
    hhmmss = lt.strftime("%H:%M:%S")
    return ('hours = { calendar = "none"; timezone = "Europe/Oslo"; %s = "%s-24:00"; };' % (day, hhmmss),
            'hours = { calendar = "none"; timezone = "Europe/Oslo"; %s = "00:00-%s"; };' % (day, hhmmss),
            None, at)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("clock", ["test", "wall"])
def test_transitions_fire_on_time(gateway_factory, client, prosody, clock):
    """Opening, closing, offer expiry, counsellor_timeout, grace, max_wait and overflow, all
    at once in one gateway, each in a queue of its own, nothing else happening to them."""
    prosody.adduser("per@no.test", PER_PW)
    open_hours, close_hours, spec, at_daemon = hours_config(clock)
    queues = """
      { id = "hours"; counsellors = [ "kari@no.test" ]; mode = "offer"; %s },
      { id = "closing"; counsellors = [ "kari@no.test" ]; mode = "pick"; %s },
      { id = "offers"; counsellors = [ "ola@no.test" ]; mode = "offer"; offer_timeout = 5; },
      { id = "unanswered"; counsellors = [ "sjef@no.test" ]; mode = "offer"; },
      { id = "grace"; counsellors = [ "per@no.test" ]; mode = "offer"; },
      { id = "maxwait"; counsellors = [ "kari@no.test" ]; mode = "pick"; max_wait = 3; },
      { id = "overflow"; counsellors = [ "kari@no.test" ]; mode = "pick"; overflow_after = 3;
        overflow_to = [ "gw.dk.test" ]; }""" % (open_hours, close_hours)
    g = gateway_factory(queues=queues, counsellors=COUNSELLORS, extra=PARTNERS, test_clock=spec,
                        service="counsellor_timeout = 10; counsellor_grace = 2;")
    offset = daemon_offset(g) if spec else 0.0
    at = at_daemon - offset  # the opening/closing in real time
    lb = g.loopback
    kari, ola, sjef = client("kari"), client("ola"), client("sjef")
    per = client("per", password=PER_PW)
    for cl, q in ((kari, "hours"), (ola, "offers"), (sjef, "unanswered"), (per, "grace")):
        sign_in(cl, q)

    def seeker(n, queue, body="hei"):
        t0 = time.time()
        r = lb.send("+47900020%02d" % n, body, queue=queue, lang="nb", id="tm-%s-%d" % (clock, n))
        assert r.status == 200, r.text
        return r.json()["conv"], t0, time.time()

    H, h0, h1 = seeker(1, "hours")
    C, _, _ = seeker(2, "closing")
    M, m0, _ = seeker(3, "maxwait")
    V, v0, _ = seeker(4, "overflow")
    O, _, _ = seeker(5, "offers")
    U, _, _ = seeker(6, "unanswered", "first")
    G, _, _ = seeker(7, "grace", "hello")
    # While closed: the closed-hours text, and no offer although Kari is ready.
    closed = lb.wait_meta("closed_hours", conv=H)
    assert closed["meta"]["next_open_ms"] == at_daemon * 1000, closed
    if clock == "test":
        assert "i dag kl. 09:00" in closed["body"], closed["body"]
    assert h1 < at - 0.5, "set-up too slow: the seeker wrote %.1f s before the opening" % (at - h1)
    # Kari signed in before that: the offer at the opening comes from the opening alone.
    sjef.send_message(sjef.wait_message(is_offer(U)).bare_from, "!accept")
    sjef.wait_message(lambda s: s.body == "first")
    per.send_message(per.wait_message(is_offer(G)).bare_from, "!accept")
    per.wait_message(lambda s: s.body == "hello")
    o_offer = ola.wait_message(is_offer(O))
    u0 = time.time()
    lb.send("+4790002006", "are you there?", queue="unanswered", lang="nb", id="tm-%s-6b" % clock)
    u1 = time.time()
    mark = g.mark()
    per.disconnect()

    r = Results()

    def opening():
        o = kari.wait_message(is_offer(H), timeout=timeout_for(at))
        return o.at - at
    r.measure("opening", opening)

    def closing():
        item = lb.wait(lambda i: i["conv"] == C and (i["meta"] or {}).get("type") == "closed_hours"
                       and i["_at"] > h1, timeout=timeout_for(at))
        if clock == "test":
            assert "i morgen kl. 08:00" in item["body"], item["body"]
        return item["_at"] - at
    r.measure("closing", closing)

    def offer_expiry():
        e = ola.wait_message(lambda s: "offer ran out" in (s.body or "") and s.bare_from == O + "@gw.no.test",
                             timeout=timeout_for(o_offer.at + 5))
        return e.at - o_offer.at - 5
    r.measure("offer_timeout", offer_expiry)

    def max_wait():
        item = lb.wait(lambda i: i["conv"] == M and i["kind"] == "closed", timeout=timeout_for(m0 + 3))
        assert item["meta"]["reason"] == "expired", item
        return item["_at"] - m0 - 3
    r.measure("max_wait", max_wait)

    def overflow():
        m = g.wait_log(LOGTS + r".*federation: overflow of %s to gw\.dk\.test" % V,
                       timeout=timeout_for(v0 + 3))
        return log_ts(m.group(1)) - v0 - 3
    r.measure("overflow_after", overflow)

    def grace():
        gone = g.wait_log(LOGTS + r".*counsellor per@no\.test went offline; 1 conversation", since=mark)
        t = log_ts(gone.group(1))
        back = g.wait_log(LOGTS + r".*conversation %s: counsellor per@no\.test did not come back" % G,
                          timeout=timeout_for(t + 2), since=mark)
        return log_ts(back.group(1)) - t - 2
    r.measure("counsellor_grace", grace)

    def unanswered():
        item = lb.wait_meta("requeued", conv=U, timeout=timeout_for(u0 + 10))
        assert item["_at"] - u1 - 10 > -EARLY, "requeued too early"
        return item["_at"] - u0 - 10
    r.measure("counsellor_timeout", unanswered)
    r.check()


def db_one(g, sql, *args):
    db = sqlite3.connect(os.path.join(g.workdir, "gw.db"), timeout=5)
    try:
        return db.execute(sql, args).fetchone()
    finally:
        db.close()


def reload(g, spec, **cfg):
    """SIGHUP with test_clock = spec (None: the real clock); returns the daemon's offset (s)."""
    mark = g.mark()
    g.write_config(gw.config_text(test_clock=spec, **cfg))
    os.kill(g.pid, signal.SIGHUP)
    g.wait_log(r"configuration reloaded", since=mark)
    return daemon_offset(g, since=mark) if spec else 0.0


@pytest.mark.timeout(90)
@pytest.mark.parametrize("clock", ["test", "wall"])
def test_abandonment_and_retention_on_time(gateway_factory, prosody, clock):
    """abandon_after (60 s at least) and retention_days (a day at least), reached by jumps
    of the daemon's clock: 'test' -- the deadline fires on a test clock; 'wall' -- the
    conversation was written and closed on a test clock set back in time, the deadline
    fires after a reload to the real clock."""
    queues = """
      { id = "general"; counsellors = [ "kari@no.test" ]; mode = "pick"; },
      { id = "expire"; counsellors = [ "kari@no.test" ]; mode = "pick"; max_wait = 1; }"""
    service = "abandon_after = 60; retention_days = 1;"
    r = Results()
    start = "2026-04-07T10:00:00" if clock == "test" else clock_spec(time.time() - 86400 + 8)
    g = gateway_factory(queues=queues, service=service, test_clock=start)
    lb = g.loopback
    cfg = dict(prosody=prosody, workdir=g.workdir, http_port=g.http_port, queues=queues,
               service=service)
    # R: expires after 1 s (closed), so its texts are due for deletion a day later.
    R = lb.send("+4790003001", "kort", queue="expire", lang="nb", id="ar-%s-r" % clock).json()["conv"]
    lb.wait(lambda i: i["conv"] == R and i["kind"] == "closed", timeout=5)
    rid, closed_r = db_one(g, "SELECT id, closed_at FROM conversations WHERE token = ?", R)
    assert closed_r and db_one(g, "SELECT count(*) FROM messages WHERE conv_id = ?", rid)[0] > 0
    if clock == "wall":
        reload(g, clock_spec(time.time() - 52), **cfg)
    # A: written now, silent for abandon_after (60 s) from here.
    a = lb.send("+4790003002", "hallo", queue="general", lang="nb", id="ar-%s-a" % clock).json()
    A = a["conv"]
    written = db_one(g, "SELECT created FROM messages WHERE id = ?", a["msg_id"])[0] / 1000.0
    mark = g.mark()
    if clock == "test":
        offset = reload(g, clock_spec(written + 52), **cfg)  # 8 s (test clock) before the deadline
    else:
        offset = reload(g, None, **cfg)  # the real clock: both deadlines in ~8 s
    due_a = written + 60 - offset

    def abandonment():
        item = lb.wait(lambda i: i["conv"] == A and i["kind"] == "closed", timeout=timeout_for(due_a))
        assert item["meta"]["reason"] == "abandoned", item
        return item["_at"] - due_a
    r.measure("abandon_after", abandonment)

    if clock == "test":
        mark = g.mark()
        offset = reload(g, clock_spec(closed_r / 1000.0 + 86400 - 6), **cfg)
    due_r = closed_r / 1000.0 + 86400 - offset

    def retention():
        m = g.wait_log(LOGTS + r".*retention: deleted (\d+) messages of \d+ conversations",
                       timeout=timeout_for(due_r), since=mark)
        # The line is logged before the turn's commit: give the commit a moment.
        deadline = time.time() + 2
        while db_one(g, "SELECT count(*) FROM messages WHERE conv_id = ?", rid)[0] and \
                time.time() < deadline:
            time.sleep(0.05)
        assert db_one(g, "SELECT count(*) FROM messages WHERE conv_id = ?", rid)[0] == 0
        aid = db_one(g, "SELECT id FROM conversations WHERE token = ?", A)[0]
        assert db_one(g, "SELECT count(*) FROM messages WHERE conv_id = ?", aid)[0] > 0, \
            "a conversation not yet due lost its messages"
        return log_ts(m.group(1)) - due_r
    r.measure("retention_days", retention)
    r.check()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("clock", ["test", "wall"])
def test_position_updates_on_time(gateway_factory, client, prosody, clock):
    """position_interval: a seeker told their place long ago who moves up is told at the end
    of their interval, even when the queue's timer already waits for a later update (of a
    seeker told more recently)."""
    queues = '{ id = "pick"; counsellors = [ "kari@no.test" ]; mode = "pick"; }'
    g = gateway_factory(start=False, queues=queues,
                        test_clock="2026-04-07T10:00:00" if clock == "test" else None)
    g.write_config(g.config_text.replace("position_interval = 0;", "position_interval = 3;"))
    g.start()
    g.wait_log(r"component gw\.no\.test online", timeout=15)
    lb = g.loopback = gw.Loopback(g.http_port).start()
    kari = client("kari")

    def seeker(n):
        return lb.send("+47900040%02d" % n, "hei", queue="pick", lang="nb",
                       id="pu-%s-%d" % (clock, n)).json()["conv"]

    def position(conv, pos, timeout=5):
        return lb.wait(lambda i: i["conv"] == conv and (i["meta"] or {}).get("type") == "position"
                       and i["meta"]["position"] == pos, timeout=timeout)

    def take(conv):
        kari.send_message("pick@gw.no.test", "!take " + conv)
        kari.wait_message(lambda s: s.body == "hei" and s.bare_from == conv + "@gw.no.test")

    s = [seeker(n) for n in range(4)]            # told 1..4 now
    first = position(s[1], 2)
    time.sleep(1.5)
    s += [seeker(4), seeker(5)]                  # told 5 and 6 1.5 s later
    late = position(s[5], 6)
    take(s[4])                                   # s[5] moves to 5: due in 3 s from its 6
    take(s[0])                                   # s[1..3] move up: due sooner, 3 s after their first
    r = Results()
    r.measure("position s[1]", lambda: position(s[1], 1, timeout_for(first["_at"] + 3))["_at"]
              - first["_at"] - 3)
    r.measure("position s[5]", lambda: position(s[5], 4, timeout_for(late["_at"] + 3))["_at"]
              - late["_at"] - 3)
    r.check()


@pytest.mark.timeout(60)
def test_opening_rearmed_by_reload(gateway_factory, client, prosody):
    """A reload that gives a closed queue an opening a few seconds from now (wall clock):
    the opening timer is re-armed by the reload and the offer comes at the opening, with
    no event after the reload."""
    never = 'hours = { calendar = "none"; timezone = "Europe/Oslo"; };'
    q = '{ id = "hours"; counsellors = [ "kari@no.test" ]; mode = "offer"; %s }'
    g = gateway_factory(queues=q % never)
    lb = g.loopback
    kari = client("kari")
    sign_in(kari, "hours")
    H = lb.send("+4790005001", "hei", queue="hours", lang="nb", id="rl-1").json()["conv"]
    assert lb.wait_meta("closed_hours", conv=H)["meta"].get("next_open_ms") is None  # never opens
    now = time.time()
    at = math.ceil(now + 3)
    if local(at).date() != local(now).date():
        time.sleep(at - now + 1)
        at = math.ceil(time.time() + 3)
    lt = local(at)
    soon = 'hours = { calendar = "none"; timezone = "Europe/Oslo"; %s = "%s-24:00"; };' % (
        WEEKDAYS[lt.weekday()], lt.strftime("%H:%M:%S"))
    reload(g, None, prosody=prosody, workdir=g.workdir, http_port=g.http_port, queues=q % soon)
    assert time.time() < at - 0.5, "reload too slow"
    r = Results()
    r.measure("opening after reload",
              lambda: kari.wait_message(is_offer(H), timeout=timeout_for(at)).at - at)
    r.check()

"""Issue 14: the read audit and retention per queue, per channel and per partner agreement,
through the real daemon, its real SQLite file and a real Prosody.

Read audit: one row for each read path -- a counsellor's !history, a supervisor's !all, the
seeker's transcript download and transcript e-mail (web chat + the e-mail plugin), a
partner receiving the transcript at an escalation (two gateways, test_federation's set-up).
The rows are read back through `skagerrakctl audit --json` when the tool and the control
socket exist in this build, else from the database file opened read-only.

Retention (docs/privacy.md): a queue with retention_days = 0 loses its texts at the
closing, one with 1 day a day later, a web chat conversation follows
service.retention_days_channel, the rest the service default; the daemon's clock is moved
with test_clock and a reload (as in test_timers.py).  Statistics (the conversation rows,
the feedback rating) and the audit rows survive; `purge --dry-run` deletes nothing.
"""

import json
import math
import os
import re
import signal
import sqlite3
import subprocess
import time
import zoneinfo
import datetime

import pytest

import gw
import harness
import test_federation
from test_federation import GW_DK, GW_NO, ONE, _escalated_conversation
from test_webchat_api import Web, webchat_conf

OSLO = zoneinfo.ZoneInfo("Europe/Oslo")
DAY = 86400


def db_path(g):
    return os.path.join(g.workdir, "gw.db")


def db_all(path, sql, *args):
    """Read-only: the test never writes behind the daemon's back."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True, timeout=5)
    try:
        return db.execute(sql, args).fetchall()
    finally:
        db.close()


def ctl_tool():
    t = os.path.join(harness.build_dir(), "skagerrakctl")
    return t if os.path.exists(t) else None


def ctl_socket_conf(workdir):
    """No config needed: the socket is skagerrak.ctl next to the database by default."""
    return ""


def ctl_sock(g):
    return os.path.join(g.workdir, "skagerrak.ctl")


def ctl(g, *args):
    """skagerrakctl --json ARGS against g; returns (exit, parsed stdout, stderr)."""
    p = subprocess.run([ctl_tool(), "--socket", ctl_sock(g), "--json"] + list(args),
                       capture_output=True, text=True, timeout=30)
    return p.returncode, (json.loads(p.stdout) if p.stdout.strip() else None), p.stderr


def audit_rows(g, *filters):
    """The audit rows (dicts with who, what, conv, detail, why), oldest first."""
    rc, out, err = ctl(g, "audit", *filters)
    assert rc == 0, err
    assert out["count"] == len(out["rows"])
    return out["rows"]


def audit_rows_db(g):
    """The same, from the database file opened read-only (a cross-check of the tool)."""
    rows = db_all(db_path(g), "SELECT a.who, a.what, c.token, a.detail, a.why FROM audit a"
                  " LEFT JOIN conversations c ON c.id = a.conv_id ORDER BY a.at, a.id")
    return [dict(who=r[0], what=r[1], conv=r[2], detail=r[3], why=r[4]) for r in rows]


def wait_for(pred, timeout=10, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def sign_in(cl, queue="general"):
    cl.send_presence(to="%s@gw.no.test" % queue)
    cl.wait_presence(frm="%s@gw.no.test" % queue)


def command(cl, to, text, expect, timeout=10):
    cl.send_message(to, text)
    return cl.wait_message(lambda s: s.body is not None and re.search(expect, s.body),
                           timeout=timeout)


# --------------------------------------------------------------------------- read audit

def test_audit_row_for_each_local_read(gateway_factory, client, tmp_state):
    """!history, !all, transcript download, transcript e-mail: one row each, who masked."""
    plugins = webchat_conf("transcript_email = true;") + \
        ' email = { address = "veiledning@no.test"; smtp_url = "smtp://127.0.0.1:9"; };'
    workdir = os.path.join(tmp_state, "gw0")
    g = gateway_factory(plugins=plugins, service=ctl_socket_conf(workdir))
    kari, sjef = client("kari"), client("sjef")
    sign_in(kari)
    w = Web(g.http_port)
    w.start(lang="nb")
    offer = kari.wait_message(lambda s: "!accept" in (s.body or ""), timeout=10)
    kari.send_message(offer.bare_from, "!accept")
    assert w.say("Hei, jeg lurer på noe.").status == 200
    kari.wait_message(lambda s: s.body == "Hei, jeg lurer på noe.", timeout=10)
    conv = offer.bare_from.split("@")[0]

    command(kari, offer.bare_from, "!history", "earlier|previous|No ")
    view = command(sjef, "gw.no.test", "!all", conv)
    assert conv in view.body
    assert w.req("POST", "end").status == 200
    t = w.req("GET", "transcript")
    assert t.status == 200 and "lurer" in t.text
    r = w.req("POST", "transcript-email", {"address": "seeker.person@example.no"})
    assert r.status == 202, r.text

    rows = wait_for(lambda: (lambda x: x if len(x) >= 4 else None)(audit_rows(g)), 10,
                    "four audit rows")
    by = {r["what"]: r for r in rows}
    assert set(by) == {"history", "all", "transcript", "transcript-email"}, rows
    assert by["history"]["who"] == "kari@no.test" and by["history"]["conv"] == conv
    assert by["all"]["who"] == "sjef@no.test" and not by["all"]["conv"]
    assert "1 open conversations" in by["all"]["detail"]
    for k in ("transcript", "transcript-email"):
        assert by[k]["conv"] == conv and by[k]["who"].startswith("seeker (webchat "), by[k]
    # the seeker's identifiers appear masked only
    address = db_all(db_path(g), "SELECT address FROM seekers WHERE channel = 'webchat'")[0][0]
    text = json.dumps(rows)
    assert address not in text and "seeker.person@example.no" not in text
    assert "s···@example.no" in by["transcript-email"]["detail"]
    # the tool shows what the file holds
    assert [(r["who"], r["what"], r["conv"]) for r in rows] == \
        [(r["who"], r["what"], r["conv"]) for r in audit_rows_db(g)]
    # the human rendering: one line per row, oldest first
    p = subprocess.run([ctl_tool(), "--socket", ctl_sock(g), "audit", "--conv", conv],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.strip().split("\n")
    assert len(lines) == 3 and "kari@no.test" in lines[0] and "history" in lines[0], lines
    assert "transcript-email" in lines[2] and address not in p.stdout
    # filters combine
    only = audit_rows(g, "--who", "kari@no.test", "--conv", conv)
    assert [r["what"] for r in only] == ["history"]
    assert audit_rows(g, "--who", "nobody@no.test") == []
    rc, _, err = ctl(g, "audit", "--conv", "c-doesnotexist")
    assert rc == 1 and "no conversation" in err
    rc, _, err = ctl(g, "audit", "--from", "yesterday")
    assert rc == 2


def test_operator_reads_audited(gateway_factory, client, tmp_state):
    """skagerrakctl show --messages and export-seeker: one row per conversation read, the
    operator's uid as who; show without --messages shows no text and is not a read."""
    workdir = os.path.join(tmp_state, "gw0")
    g = gateway_factory(service=ctl_socket_conf(workdir))
    kari = client("kari")
    sign_in(kari)
    g.loopback.send("+4790001111", "Første melding")
    offer = kari.wait_message(lambda s: "!accept" in (s.body or ""), timeout=10)
    conv = offer.bare_from.split("@")[0]
    rc, _, err = ctl(g, "show", conv)
    assert rc == 0, err
    rc, shown, err = ctl(g, "show", conv, "--messages")
    assert rc == 0, err
    assert any(m.get("body") == "Første melding" for m in shown["messages"]), shown
    rc, doc, err = ctl(g, "export-seeker", "--conv", conv)
    assert rc == 0, err
    rows = wait_for(lambda: (lambda x: x if len(x) >= 2 else None)(audit_rows(g, "--conv", conv)),
                    10, "two audit rows")
    assert [r["what"] for r in rows] == ["ctl-show", "export"], rows
    for r in rows:
        assert r["who"].startswith("skagerrakctl uid 0"), r
    assert rows[0]["detail"] == "%d messages" % len(shown["messages"]), rows
    exported = [c for c in doc["conversations"] if c["token"] == conv][0]["messages"]
    assert rows[1]["detail"] == "%d messages" % len(exported), rows


@pytest.fixture
def fed_partner_retention(request, tmp_state, monkeypatch):
    """test_federation's two gateways on one Prosody; DK keeps what it serves for NO only
    until the closing (its partner agreement: retention_days = 0)."""
    monkeypatch.setattr(test_federation, "PARTNERS_DK", test_federation.PARTNERS_DK.replace(
        "fields = [ \"topic\" ]; }", "fields = [ \"topic\" ]; retention_days = 0; }"))
    f = test_federation.Fed("one", tmp_state)
    yield f
    f.close()


def test_partner_transcript_audited_and_partner_retention(fed_partner_retention):
    f = fed_partner_retention
    kari, mette = f.client("kari@no.test"), f.client("mette@dk.test")
    test_federation.sign_in(kari, "general@" + GW_NO)
    test_federation.sign_in(mette, "general@" + GW_DK)
    conv, mjid = _escalated_conversation(f, kari, mette, "+4790004001", True)
    mette.wait_message(lambda s: s.bare_from == mjid and "seeker: Jeg vil studere" in (s.body or ""),
                       timeout=15)
    no_db = os.path.join(f.no.gw.workdir, "gw.db")
    dk_db = os.path.join(f.dk.gw.workdir, "gw.db")
    rows = db_all(no_db, "SELECT a.who, a.what, c.token, a.detail FROM audit a"
                  " JOIN conversations c ON c.id = a.conv_id WHERE a.what = 'transcript-partner'")
    assert rows == [("partner gw.dk.test", "transcript-partner", conv, rows[0][3])], rows
    assert "kari@no.test" in rows[0][3]
    # DK served it (role 2) and holds its texts while it is open ...
    dk_conv = mjid.split("@")[0]
    (dk_id,), = db_all(dk_db, "SELECT id FROM conversations WHERE token = ? AND role = 2", dk_conv)
    assert db_all(dk_db, "SELECT count(*) FROM messages WHERE conv_id = ?", dk_id)[0][0] > 0
    mette.send_message(mjid, "!close resolved")
    mette.wait_message(lambda s: "Conversation closed" in (s.body or ""), timeout=15)
    # ... and deletes them at the closing, as its agreement with NO says; the row stays
    wait_for(lambda: db_all(dk_db, "SELECT count(*) FROM messages WHERE conv_id = ?",
                            dk_id)[0][0] == 0, 10, "DK's texts deleted at the closing")
    assert db_all(dk_db, "SELECT state FROM conversations WHERE id = ?", dk_id)[0][0] == "closed"
    # the home side keeps its own copy by its own rule (the service default, 90 days)
    (no_id,), = db_all(no_db, "SELECT id FROM conversations WHERE token = ?", conv)
    assert db_all(no_db, "SELECT count(*) FROM messages WHERE conv_id = ?", no_id)[0][0] > 0


def test_partner_take_from_shared_queue_audited(fed_partner_retention):
    """A partner taking a seeker from a shared queue receives what the seeker wrote while
    waiting: one audit row on the home side."""
    f = fed_partner_retention
    mette = f.client("mette@dk.test")
    test_federation.sign_in(mette, "general@" + GW_DK)
    lb = f.no.loopback
    conv = lb.send("+4790004002", "kan noen hjelpe?", queue="shared", lang="nb",
                   id="tk-1").json()["conv"]
    lb.wait_meta("welcome", conv=conv, timeout=15)
    mette.send_message(GW_DK, "!take gw.no.test:" + conv)
    mette.wait_message(lambda s: s.body == "kan noen hjelpe?", timeout=15)
    no_db = os.path.join(f.no.gw.workdir, "gw.db")
    rows = wait_for(lambda: db_all(no_db, "SELECT a.who, c.token, a.detail, a.why FROM audit a"
                                   " JOIN conversations c ON c.id = a.conv_id"
                                   " WHERE a.what = 'history-partner'"), 10, "the audit row")
    assert rows == [("partner gw.dk.test", conv, "1 messages written while waiting",
                     "shared queue take")], rows


# --------------------------------------------------------------------------- retention

LOGTS = r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z) "


def clock_spec(t):
    return datetime.datetime.fromtimestamp(math.floor(t), OSLO).strftime("%Y-%m-%dT%H:%M:%S")


def reload(g, cfg, spec):
    mark = g.mark()
    g.write_config(gw.config_text(test_clock=spec, **cfg))
    os.kill(g.pid, signal.SIGHUP)
    g.wait_log(r"configuration reloaded", since=mark)


RET_QUEUES = """
  { id = "zero"; counsellors = [ "kari@no.test" ]; mode = "pick"; max_wait = 1; retention_days = 0; },
  { id = "one"; counsellors = [ "kari@no.test" ]; mode = "pick"; max_wait = 1; retention_days = 1; },
  { id = "general"; counsellors = [ "kari@no.test" ]; mode = "pick"; max_wait = 1; }"""


def msgs(g, conv):
    return db_all(db_path(g), "SELECT count(*) FROM messages m JOIN conversations c"
                  " ON c.id = m.conv_id WHERE c.token = ?", conv)[0][0]


def test_retention_per_queue_and_channel(gateway_factory, prosody, tmp_state):
    workdir = os.path.join(tmp_state, "gw0")
    service = ('default_queue = "general"; retention_days = 30;'
               ' retention_days_channel = { webchat = 2; }; %s' % ctl_socket_conf(workdir))
    start = "2026-04-07T10:00:00"
    plugins = webchat_conf('queues = [ "zero" ];')
    g = gateway_factory(queues=RET_QUEUES, service=service, plugins=plugins, test_clock=start)
    lb = g.loopback
    convs = {}
    for q in ("zero", "one", "general"):
        r = lb.send("+47900050%02d" % len(convs), "tekst i %s" % q, queue=q, lang="nb",
                    id="ret-" + q)
        assert r.status == 200, r.text
        convs[q] = r.json()["conv"]
    web = Web(g.http_port)
    web.start(lang="nb")
    assert web.say("nettprat-tekst").status == 200
    convs["web"] = db_all(db_path(g), "SELECT c.token FROM conversations c JOIN seekers s"
                          " ON s.id = c.seeker_id WHERE s.channel = 'webchat' AND c.queue = 'general'")[0][0]
    # max_wait = 1: every one expires (closes) within a few seconds
    wait_for(lambda: db_all(db_path(g), "SELECT count(*) FROM conversations WHERE closed_at"
                            " IS NOT NULL")[0][0] == 4, 15, "four closings")
    # the web seeker downloads the transcript and leaves feedback: an audit row, a comment
    assert web.req("GET", "transcript").status == 200
    assert web.req("POST", "feedback", {"rating": 4, "comment": "nyttig samtale"}).status == 204

    # a web seeker in queue zero: texts gone at the closing, and a feedback comment given
    # after it goes as well (the rating stays)
    web0 = Web(g.http_port)
    z = web0.start(lang="nb", queue="zero")
    assert z["queue"] == "zero"
    assert web0.say("kort nettprat").status == 200
    (zid, ztok), = db_all(db_path(g), "SELECT c.id, c.token FROM conversations c JOIN seekers s"
                          " ON s.id = c.seeker_id WHERE s.channel = 'webchat' AND c.queue = 'zero'")
    wait_for(lambda: db_all(db_path(g), "SELECT closed_at FROM conversations WHERE id = ?",
                            zid)[0][0], 10, "the web seeker's closing")
    wait_for(lambda: msgs(g, ztok) == 0, 10, "the web seeker's texts deleted at the close")
    assert web0.req("POST", "feedback", {"rating": 2, "comment": "for kort"}).status == 204
    wait_for(lambda: db_all(db_path(g), "SELECT rating, comment FROM feedback WHERE conv_id = ?",
                            zid) == [(2, None)], 10, "the late comment deleted")

    # retention 0: gone at the closing; the others still have theirs
    wait_for(lambda: msgs(g, convs["zero"]) == 0, 10, "queue zero's texts deleted at the close")
    assert msgs(g, convs["one"]) > 0 and msgs(g, convs["general"]) > 0 and msgs(g, convs["web"]) > 0

    closed = dict(db_all(db_path(g), "SELECT token, closed_at FROM conversations"))
    cfg = dict(prosody=prosody, workdir=g.workdir, http_port=g.http_port, queues=RET_QUEUES,
               service=service, plugins=plugins)

    # nothing due yet: the dry run says so and deletes nothing
    rc, out, err = ctl(g, "purge", "--dry-run")
    assert rc == 0, err
    assert out["conversations"] == 0

    # a day later (the daemon's clock): queue one's texts go, the rest stay
    t_one = closed[convs["one"]] / 1000.0 + DAY + 3
    reload(g, cfg, clock_spec(t_one))
    wait_for(lambda: msgs(g, convs["one"]) == 0, 15, "queue one's texts deleted after a day")
    assert msgs(g, convs["general"]) > 0 and msgs(g, convs["web"]) > 0

    # two days: the web chat channel's rule
    reload(g, cfg, clock_spec(closed[convs["web"]] / 1000.0 + 2 * DAY + 3))
    wait_for(lambda: msgs(g, convs["web"]) == 0, 15, "the web chat's texts deleted after 2 days")
    assert msgs(g, convs["general"]) > 0

    # what will have gone 31 days after the closing: the dry run lists the service
    # default's conversation (general, with its messages) and deletes nothing
    at = clock_spec(closed[convs["general"]] / 1000.0 + 30 * DAY + 60)
    before = msgs(g, convs["general"])
    rc, out, err = ctl(g, "purge", "--dry-run", "--at", at)
    assert rc == 0, err
    assert [(q["queue"], q["conversations"], q["messages"]) for q in out["queues"]] == \
        [("general", 1, before)], out
    assert msgs(g, convs["general"]) == before > 0
    rc, _, err = ctl(g, "purge", "--at", at)
    assert rc == 2, "--at without --dry-run must be refused"
    rc, _, err = ctl(g, "purge", "--bogus")
    assert rc == 2
    # purge now: nothing of general is due yet, so it stays
    rc, out, err = ctl(g, "purge")
    assert rc == 0, err
    assert msgs(g, convs["general"]) == before

    # 31 days: the service default
    reload(g, cfg, clock_spec(closed[convs["general"]] / 1000.0 + 30 * DAY + 3))
    wait_for(lambda: msgs(g, convs["general"]) == 0, 15, "the service default")

    # statistics survive: every conversation row, the rating (not the comment), the events
    rows = db_all(db_path(g), "SELECT token, queue, state, closed_at FROM conversations")
    assert sorted(r[0] for r in rows) == sorted(list(convs.values()) + [ztok])
    assert all(r[2] == "expired" and r[3] for r in rows), rows
    assert sorted(db_all(db_path(g), "SELECT rating, comment FROM feedback")) == \
        [(2, None), (4, None)]
    assert db_all(db_path(g), "SELECT count(*) FROM events")[0][0] >= 4
    assert db_all(db_path(g), "SELECT count(*) FROM inbound_dedup")[0][0] == 0
    # audit rows survive message retention
    rows = audit_rows(g)
    assert [(r["what"], r["conv"]) for r in rows] == [("transcript", convs["web"])], rows


def test_retention_deadline_kept_across_a_restart(gateway_factory, prosody):
    """The deletion time is in the store: a daemon started 12 s (its clock) before a
    conversation's texts are due deletes them on time, not at some later sweep."""
    queues = """
      { id = "one"; counsellors = [ "kari@no.test" ]; mode = "pick"; max_wait = 1;
        retention_days = 1; }"""
    g = gateway_factory(queues=queues, test_clock="2026-04-07T10:00:00")
    r = g.loopback.send("+4790006001", "kort", queue="one", lang="nb", id="rs-1")
    conv = r.json()["conv"]
    wait_for(lambda: db_all(db_path(g), "SELECT closed_at FROM conversations WHERE token = ?",
                            conv)[0][0], 10, "the closing")
    (closed,), = db_all(db_path(g), "SELECT closed_at FROM conversations WHERE token = ?", conv)
    (purge_at,), = db_all(db_path(g), "SELECT purge_at FROM conversations WHERE token = ?", conv)
    assert purge_at == closed + DAY * 1000
    g.loopback.close()
    g.loopback = None
    assert g.stop() in (0, None)
    g.write_config(gw.config_text(prosody, g.workdir, g.http_port, queues=queues,
                                  test_clock=clock_spec(closed / 1000.0 + DAY - 12)))
    g.start()
    started = time.time()
    g.wait_log(r"component gw\.no\.test online", timeout=15)
    g.loopback = gw.Loopback(g.http_port).start()
    # the first run (5 s after start-up) finds nothing due yet ...
    g.wait_log(r"retention: rules applied|store: migrated|component", timeout=10)
    time.sleep(max(0, started + 7 - time.time()))
    assert msgs(g, conv) > 0, "deleted before its time"
    # ... and the timer fires at the deadline, about 12 s after the start
    wait_for(lambda: msgs(g, conv) == 0, 15, "the texts deleted on time after the restart")
    assert time.time() - started < 12 + 3


# --------------------------------------------------------------------------- docs

def test_privacy_doc_config_snippets_are_valid(tmp_state):
    """Every ```cfg block of docs/privacy.md passes skagerrak --check-config (with the
    gateway and xmpp groups a real config has around it)."""
    doc = open(os.path.join(harness.REPO_ROOT, "docs", "privacy.md")).read()
    blocks = re.findall(r"```cfg\n(.*?)```", doc, re.S)
    assert blocks
    for i, b in enumerate(blocks):
        path = os.path.join(tmp_state, "privacy-%d.cfg" % i)
        with open(path, "w") as f:
            f.write('gateway = { database = "%s"; catalogue_dir = "%s"; };\n'
                    'xmpp = { domain = "gw.example.no"; secret = "x"; };\n%s'
                    % (os.path.join(tmp_state, "x.db"),
                       os.path.join(harness.REPO_ROOT, "conf", "i18n"), b))
        p = subprocess.run([harness.gateway_binary(), "--check-config", path],
                           capture_output=True, text=True)
        assert p.returncode == 0, (b, p.stdout, p.stderr)

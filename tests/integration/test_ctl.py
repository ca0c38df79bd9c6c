"""skagerrakctl through the real daemon and the real tool (docs/ctl.md): every subcommand's
text and --json output against what the test did, exit codes, the permission model (a peer
of another uid refused and logged), a stale socket replaced, a second daemon refused,
oversized and malformed requests, reload applying a changed config and refusing a broken
one."""

import datetime
import json
import os
import socket
import sqlite3
import subprocess
import time

import harness
import pytest

PICK_QUEUES = """
        { id = "general"; names = { nb = "Generell"; en = "General"; da = "Generel"; nn = "Generell"; };
          counsellors = [ "kari@no.test", "ola@no.test" ]; mode = "pick"; }"""


def tool():
    return os.path.join(harness.build_dir(), "skagerrakctl")


def sock_of(g):
    return os.path.join(g.workdir, "skagerrak.ctl")


def ctl(g, *args, json_out=False, sock=None, config=None, prefix=(), timeout=30):
    """Run the tool; returns (exit, stdout, stderr), stdout parsed as JSON with json_out."""
    cmd = list(prefix) + [tool()]
    if config:
        cmd += ["--config", config]
    else:
        cmd += ["--socket", sock or sock_of(g)]
    if json_out:
        cmd.append("--json")
    cmd += list(args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    out = p.stdout
    if json_out and p.returncode == 0:
        out = json.loads(out)
    return p.returncode, out, p.stderr


def raw(g, data, read=True):
    """Send raw bytes on one connection; the answer lines (parsed)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(sock_of(g))
    s.sendall(data)
    buf = b""
    want = data.count(b"\n") or 1
    while read and buf.count(b"\n") < want:
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    s.close()
    return [json.loads(l) for l in buf.split(b"\n") if l]


def sign_in(cl, queue="general"):
    cl.send_presence(to="%s@gw.no.test" % queue)
    cl.wait_presence(frm="%s@gw.no.test" % queue)


def test_status_text_and_json(gateway):
    rc, out, err = ctl(gateway, "status")
    assert rc == 0, err
    assert "xmpp: up" in out and "loopback" in out and "conversations: 0 open" in out
    rc, j, err = ctl(gateway, "status", json_out=True)
    assert rc == 0, err
    assert j["xmpp"]["up"] is True and j["plugins"]["loopback"]["ok"] is True
    assert j["conversations"] == {"open": 0, "queued": 0, "offered": 0, "active": 0}
    assert j["database"]["ok"] and j["uptime_s"] >= 0 and j["version"]
    # --json after the subcommand works too; --config finds the same socket
    rc, j2, _ = ctl(gateway, "status", "--json", config=gateway.config_path)
    assert rc == 0 and json.loads(j2)["xmpp"]["up"] is True
    # the socket: 0660, next to the database by default
    assert os.stat(sock_of(gateway)).st_mode & 0o777 == 0o660
    # a channel that cannot take its messages: the outbox per target shows them
    lb = gateway.loopback
    assert lb.post("/loopback/mode", {"mode": "eagain"}).status == 200
    lb.send("+4795556666", "hallo", id="s-1")
    deadline = time.time() + 10
    while time.time() < deadline:
        rc, j, _ = ctl(gateway, "status", json_out=True)
        rows = [o for o in j["outbox"] if o["target"] == "loopback"]
        if rows and rows[0]["retrying"]:
            break
        time.sleep(0.2)
    assert rows and rows[0]["depth"] >= 1 and rows[0]["oldest_age_s"] >= 0, j["outbox"]
    assert j["conversations"]["open"] == 1
    rc, out, _ = ctl(gateway, "status")
    assert "loopback" in out and "retried at least once" in out
    lb.post("/loopback/mode", {"mode": "ok"})


def test_conversations_queues_counsellors_show(gateway_factory, client):
    g = gateway_factory(queues=PICK_QUEUES)
    kari = client("kari")
    sign_in(kari)
    lb = g.loopback
    a = lb.send("+4791234567", "Hei, jeg har et spørsmål", id="c-1").json()["conv"]
    kari.send_message("general@gw.no.test", "!next")
    kari.wait_message(lambda s: s.body == "Hei, jeg har et spørsmål")
    b = lb.send("+4798765432", "Er det noen der?", id="c-2").json()["conv"]
    lb.wait_meta("welcome", conv=b)

    rc, j, err = ctl(g, "conversations", "--state", "queued", json_out=True)
    assert rc == 0, err
    assert [c["token"] for c in j["conversations"]] == [b]
    assert j["conversations"][0]["address"] == "··5432"
    assert j["conversations"][0]["position"] == 1
    rc, j, _ = ctl(g, "conversations", "--state", "active", json_out=True)
    assert [(c["token"], c["counsellor"]) for c in j["conversations"]] == [(a, "kari@no.test")]
    rc, j, _ = ctl(g, "conversations", "--queue", "general", json_out=True)
    assert sorted(c["token"] for c in j["conversations"]) == sorted([a, b])
    rc, out, _ = ctl(g, "conversations")
    assert rc == 0 and a in out and b in out and "··4567" in out
    assert "91234567" not in out and "98765432" not in out  # masked on screen
    assert ctl(g, "conversations", "--queue", "nope")[0] == 1
    assert ctl(g, "conversations", "--state", "bogus")[0] == 2

    rc, j, _ = ctl(g, "status", json_out=True)
    assert j["conversations"] == {"open": 2, "queued": 1, "offered": 0, "active": 1}

    rc, j, _ = ctl(g, "queues", json_out=True)
    q = j["queues"][0]
    assert (q["id"], q["waiting"], q["queued"], q["active"], q["counsellors_ready"]) == \
        ("general", 1, 1, 1, 1)
    assert q["hours"] == "open" and q["mode"] == "pick"
    rc, out, _ = ctl(g, "queues")
    assert rc == 0 and "general" in out and "open" in out

    rc, j, _ = ctl(g, "counsellors", json_out=True)
    assert [(c["jid"], c["online"], c["load"], c["capacity"]) for c in j["counsellors"]] == \
        [("kari@no.test", True, 1, 2)]
    assert j["counsellors"][0]["presence"][0]["queue"] == "general"
    rc, j, _ = ctl(g, "counsellors", "--all", json_out=True)
    assert {c["jid"] for c in j["counsellors"]} == {"kari@no.test", "ola@no.test", "sjef@no.test"}
    rc, out, _ = ctl(g, "counsellors")
    assert "kari@no.test" in out and "1/2" in out

    # show: details and events, no texts without --messages; by token or by JID
    rc, out, err = ctl(g, "show", a)
    assert rc == 0, err
    assert "active" in out and "kari@no.test" in out and "··4567" in out
    assert "spørsmål" not in out and "assigned" in out
    rc, j, _ = ctl(g, "show", a + "@gw.no.test", json_out=True)
    assert j["token"] == a and j["state"] == "active" and j["open"] is True
    assert "messages" not in j and j["message_counts"]["in"] == 1
    assert [e["kind"] for e in j["events"]][:2] == ["opened", "assigned"]
    rc, j, _ = ctl(g, "show", a, "--messages", json_out=True)
    assert [m["body"] for m in j["messages"] if m["dir"] == "in"] == ["Hei, jeg har et spørsmål"]
    rc, out, err = ctl(g, "show", "nosuchconv")
    assert rc == 1 and "no conversation" in err
    assert ctl(g, "show")[0] == 2

    # a closed conversation is shown from the store
    kari.send_message(a + "@gw.no.test", "!close info")
    lb.wait_meta("closed", conv=a)
    deadline = time.time() + 5
    while time.time() < deadline:
        rc, j, _ = ctl(g, "show", a, json_out=True)
        if not j["open"]:
            break
        time.sleep(0.1)
    assert j["open"] is False and j["state"] == "closed" and j["outcome"] == "info"

    # stats over the period: both conversations, per queue, channel and outcome
    today = datetime.date.today().isoformat()
    rc, j, err = ctl(g, "stats", "--from", "2000-01-01", "--to", "2100-01-01", json_out=True)
    assert rc == 0, err
    rows = {(r["group"], r["key"], r["what"]): r["count"] for r in j["rows"]}
    closed = [r for r in j["rows"] if r["group"] == "queue" and r["what"] == "closed"][0]
    assert closed["avg_wait_s"] is not None or closed["avg_handle_s"] is not None
    assert rows[("queue", "general", "closed")] == 1
    assert rows[("queue", "general", "queued")] == 1
    assert rows[("channel", "loopback", "closed")] == 1
    assert rows[("outcome", "info", "general")] == 1
    rc, out, _ = ctl(g, "stats", "--from", "2000-01-01", "--csv")
    lines = out.strip().split("\n")
    assert lines[0] == "group,key,what,count,avg_wait_s,avg_handle_s"
    assert "queue,general,closed,1," in out
    rc, j, _ = ctl(g, "stats", "--from", "2001-01-01", "--to", "2001-01-02", json_out=True)
    assert rc == 0 and j["rows"] == []
    assert ctl(g, "stats")[0] == 2
    assert ctl(g, "stats", "--from", "yesterday")[0] == 2
    assert ctl(g, "stats", "--from", today, "--to", "2000-01-01")[0] == 2


def test_block_and_unblock(gateway_factory, client):
    g = gateway_factory(queues=PICK_QUEUES)
    kari = client("kari")
    sign_in(kari)
    lb = g.loopback
    a = lb.send("+4791112222", "første", id="b-1").json()["conv"]
    kari.send_message("general@gw.no.test", "!next")
    kari.wait_message(lambda s: s.body == "første")
    rc, j, err = ctl(g, "block", a, "--why", "abuse", json_out=True)
    assert rc == 0, err
    assert j["blocked"] is True and j["closed"] == a and j["address"] == "··2222"
    lb.wait_meta("closed", conv=a)
    # the counsellor hears why their conversation ended (the catalogue's text)
    kari.wait_message(lambda s: "administrator" in (s.body or "").lower())
    r = lb.send("+4791112222", "igjen", id="b-2")
    assert r.status != 200
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(g.workdir, "gw.db"), uri=True)
    assert db.execute("SELECT blocked, blocked_why FROM seekers WHERE address='+4791112222'"
                      ).fetchone() == (1, "abuse")
    rc, out, _ = ctl(g, "unblock", "--address", "loopback:+4791112222")
    assert rc == 0 and "unblocked" in out and "91112222" not in out
    assert db.execute("SELECT blocked FROM seekers WHERE address='+4791112222'"
                      ).fetchone() == (0,)
    db.close()
    r = lb.send("+4791112222", "nå går det", id="b-3")
    assert r.status == 200
    c3 = r.json()["conv"]
    # the counsellor's !block goes through the same function
    kari.send_message("general@gw.no.test", "!next")
    kari.wait_message(lambda s: s.body == "nå går det")
    kari.send_message(c3 + "@gw.no.test", "!block spam")
    lb.wait_meta("closed", conv=c3)
    rc, j, _ = ctl(g, "show", c3, json_out=True)
    assert j["blocked"] is True and j["outcome"] == "blocked"
    assert ("blocked", "kari@no.test", "spam") in [(e["kind"], e["actor"], e["detail"])
                                                   for e in j["events"]]
    assert ctl(g, "unblock", c3)[0] == 0
    # an address never seen may be blocked in advance; unknown ones cannot be unblocked
    assert ctl(g, "block", "--address", "loopback:+4700000001")[0] == 0
    assert lb.send("+4700000001", "hei", id="b-4").status != 200
    rc, _, err = ctl(g, "unblock", "--address", "loopback:+4700000002")
    assert rc == 1 and "nothing stored" in err
    assert ctl(g, "block", "nosuch")[0] == 1
    assert ctl(g, "block")[0] == 2
    assert ctl(g, "block", a, "--address", "loopback:+47")[0] == 2
    assert ctl(g, "block", "--address", "noseparator")[0] == 2


def test_exit_codes_help_and_usage(gateway):
    rc, out, _ = ctl(gateway, "help")
    assert rc == 0
    for cmd in ("status", "queues", "counsellors", "conversations", "show", "block",
                "unblock", "reload", "stats"):
        assert cmd in out
    rc, j, _ = ctl(gateway, "help", json_out=True)
    assert "status" in [c["name"] for c in j["commands"]]
    assert ctl(gateway, "help", "show")[0] == 0
    rc, _, err = ctl(gateway, "bogus")
    assert rc == 2 and "unknown subcommand" in err
    rc, _, err = ctl(gateway, "status", "extra")
    assert rc == 2 and "usage" in err
    rc, _, err = ctl(gateway, "queues", "--nope")
    assert rc == 2 and "unknown option" in err
    # the tool's own options
    p = subprocess.run([tool(), "--bogus"], capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr
    p = subprocess.run([tool()], capture_output=True, text=True)
    assert p.returncode == 2 and "usage" in p.stderr
    p = subprocess.run([tool(), "--version"], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.startswith("skagerrakctl ")
    p = subprocess.run([tool(), "-s", "/nonexistent/x.ctl", "status"], capture_output=True,
                       text=True)
    assert p.returncode == 1 and "cannot connect" in p.stderr


def test_peer_of_another_uid_is_refused(gateway):
    # Let user nobody reach the socket at all; the daemon must still refuse it.
    d = gateway.workdir
    while d != "/":
        os.chmod(d, os.stat(d).st_mode | 0o755)
        d = os.path.dirname(d)
        if d in ("/tmp", "/"):
            break
    os.chmod(sock_of(gateway), 0o666)
    mark = gateway.mark()
    rc, out, err = ctl(gateway, "status",
                       prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    assert rc == 1 and "permission denied" in err, (rc, out, err)
    assert out == ""
    gateway.wait_log(r"ctl: refused uid 65534", since=mark)
    # a flood is summarised, not logged line by line
    for _ in range(5):
        ctl(gateway, "status",
            prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    refused = [l for l in gateway.lines[mark:] if "ctl: refused" in l]
    assert len(refused) == 1, refused
    # root is still served
    assert ctl(gateway, "status")[0] == 0
    # members of the socket's group are served: primary group, or a supplementary one
    os.chown(sock_of(gateway), 0, 65534)
    rc, out, err = ctl(gateway, "status", prefix=("setpriv", "--reuid=65534", "--regid=65534",
                                                  "--clear-groups"))
    assert rc == 0 and "xmpp: up" in out, (rc, out, err)
    rc, out, err = ctl(gateway, "status", prefix=("setpriv", "--reuid=65534", "--regid=12345",
                                                  "--groups=65534"))
    assert rc == 0, (rc, out, err)
    rc, out, err = ctl(gateway, "status", prefix=("setpriv", "--reuid=65534", "--regid=12345",
                                                  "--clear-groups"))
    assert rc == 1 and "permission denied" in err


def test_stale_socket_replaced_second_daemon_refused(gateway_factory, tmp_state):
    g = gateway_factory()
    g.loopback.close()
    g.loopback = None
    g.kill9()
    assert os.path.exists(sock_of(g))  # left behind by the crash
    g.start()
    g.wait_log(r"replaced the stale control socket", timeout=15)
    g.wait_log(r"component gw\.no\.test online", timeout=15)
    assert ctl(g, "status")[0] == 0
    # a second daemon on the same configuration (same socket, same database) stops at once
    other = harness.Gateway(None, g.config_text, os.path.join(tmp_state, "second"))
    other.start()
    other.proc.wait(15)
    other._finish()
    assert other.proc.returncode == 1
    assert any("another skagerrak daemon is listening" in l for l in other.lines), other.lines
    assert not other.sanitizer_reports(), other.sanitizer_reports()
    # ... and leaves the first one's socket alone
    assert ctl(g, "status")[0] == 0


def test_oversized_and_malformed_requests(gateway):
    [a] = raw(gateway, b"x" * 70000 + b"\n")
    assert a["exit"] == 2 and "longer than 65536" in a["error"]
    [a] = raw(gateway, b"{not json\n")
    assert a["exit"] == 2 and "malformed request" in a["error"]
    [a] = raw(gateway, b'{"v":2,"argv":["status"]}\n')
    assert a["exit"] == 2 and "\"v\" must be 1" in a["error"]
    [a] = raw(gateway, b'{"v":1,"argv":[]}\n')
    assert a["exit"] == 2 and "argv" in a["error"]
    [a] = raw(gateway, b'{"v":1,"argv":["status",3]}\n')
    assert a["exit"] == 2
    [a] = raw(gateway, b'[1,2]\n')
    assert a["exit"] == 2
    # several requests on one connection, an oversized one between them: each answered
    answers = raw(gateway, b'{"v":1,"argv":["status"]}\n' + b"y" * 70000 + b"\n" +
                  b'{"v":1,"argv":["queues"],"json":true}\n')
    assert [x["exit"] for x in answers] == [0, 2, 0]
    assert answers[2]["result"]["queues"][0]["id"] == "general"
    # many pipelined requests on one connection: all answered, in order
    many = raw(gateway, b"".join(b'{"v":1,"argv":["bogus%d"]}\n' % i for i in range(5000)))
    assert len(many) == 5000 and all(x["exit"] == 2 for x in many)
    assert "bogus4999" in many[-1]["error"]
    # at most 32 connections at once: the next one is told so, and served once they go
    held = []
    for _ in range(32):
        h = socket.socket(socket.AF_UNIX)
        h.connect(sock_of(gateway))
        held.append(h)
    time.sleep(0.5)
    rc, _, err = ctl(gateway, "status")
    assert rc == 1 and "busy" in err, err
    for h in held:
        h.close()
    time.sleep(0.3)
    assert ctl(gateway, "status")[0] == 0
    # a client that connects and goes away without a word, mid-line
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_of(gateway))
    s.sendall(b'{"v":1,"argv":["sta')
    s.close()
    rc, j, _ = ctl(gateway, "status", json_out=True)
    assert rc == 0 and j["xmpp"]["up"]
    assert gateway.running()


def test_reload_applies_and_refuses_with_reason(gateway):
    cfg = open(gateway.config_path).read()
    added = cfg.replace('mode = "offer"; offer_timeout = 5; }',
                        'mode = "offer"; offer_timeout = 5; },\n'
                        '        { id = "second"; counsellors = [ "ola@no.test" ]; }')
    assert added != cfg
    open(gateway.config_path, "w").write(added)
    rc, out, err = ctl(gateway, "reload")
    assert rc == 0 and "reloaded" in out, err
    rc, j, _ = ctl(gateway, "queues", json_out=True)
    assert [q["id"] for q in j["queues"]] == ["general", "second"]
    # a broken configuration: refused, with the reason, the running one kept
    open(gateway.config_path, "w").write(added.replace("mode =", "moed ="))
    rc, out, err = ctl(gateway, "reload")
    assert rc == 1 and "reload refused" in err and "unknown key 'moed'" in err
    rc, j, _ = ctl(gateway, "reload", json_out=True)
    assert rc == 1
    open(gateway.config_path, "w").write("this is { not a config")
    p = subprocess.run([tool(), "-s", sock_of(gateway), "--json", "reload"],
                       capture_output=True, text=True)
    assert p.returncode == 1
    res = json.loads(p.stdout)
    assert res["reloaded"] is False and res["reasons"]
    assert any("skagerrak.cfg:1" in r for r in res["reasons"]), res
    rc, j, _ = ctl(gateway, "queues", json_out=True)
    assert [q["id"] for q in j["queues"]] == ["general", "second"]
    open(gateway.config_path, "w").write(cfg)


def test_failed_commit_answers_not_stored(prosody, tmp_state, client):
    """A change the database cannot take (disk full) is answered exit 1 "not stored", and
    nothing of it remains once there is space again."""
    import faults
    import gw
    ok, why = faults.have_unshare()
    if not ok:
        pytest.skip(why)
    workdir = os.path.join(tmp_state, "ns")
    dbdir = os.path.join(workdir, "db")
    os.makedirs(dbdir)
    port = harness.free_port()
    sock = os.path.join(workdir, "skagerrak.ctl")  # outside the namespace's private tmpfs
    text = faults.gateway_config(prosody, workdir, port, "loopback = { };",
                                 db=os.path.join(dbdir, "gw.db"),
                                 service='control_socket = "%s";' % sock)
    g = faults.NsGateway(None, text, workdir, dbdir, size="4m")
    g.start()
    lb = None
    try:
        g.wait_log(r"component gw\.no\.test online", timeout=20)
        lb = gw.Loopback(port).start()
        conv = lb.send("+4793334444", "hei", id="f-1").json()["conv"]
        lb.wait_meta("welcome", conv=conv)
        g.fill()
        rc, out, err = ctl(g, "block", conv, sock=sock)
        assert rc == 1 and "not stored" in err, (rc, out, err)
        g.wait_log(r"ctl: uid 0 .*commit failed.*not stored")
        g.free()
        time.sleep(1.5)  # the checkpoint timer's commit goes through again
        rc, j, err = ctl(g, "show", conv, json_out=True, sock=sock)
        assert rc == 0, err
        assert j["open"] is True and j["blocked"] is False
        rc, j, err = ctl(g, "block", conv, json_out=True, sock=sock)
        assert rc == 0 and j["closed"] == conv, err
    finally:
        if lb:
            lb.close()
        rc = g.stop()
        assert rc in (0, None), rc
        assert not g.sanitizer_reports(), g.sanitizer_reports()

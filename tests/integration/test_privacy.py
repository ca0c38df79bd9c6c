"""Seeker export and erasure (GDPR art. 15 and 17, docs/erasure.md) through the real daemon,
the real skagerrakctl and the real SQLite file: the export matches what the seeker and the
counsellor saw; after an erase neither the database (opened read-only) nor the raw bytes of
the .db and -wal files hold the seeker's texts or address; unknown seekers, usage errors,
messages in flight; the web chat's "delete this conversation now"."""

import json
import os
import sqlite3
import subprocess
import sys
import time

import harness

from test_core import sign_in, start_conversation


def ctl(gateway, *args, as_json=True):
    """Runs skagerrakctl against the gateway's control socket: (exit, parsed or text, stderr)."""
    tool = os.path.join(harness.build_dir(), "skagerrakctl")
    sock = os.path.join(gateway.workdir, "skagerrak.ctl")
    cmd = [tool, "--socket", sock] + (["--json"] if as_json else []) + list(args)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    out = r.stdout
    if as_json and r.returncode == 0 and out.strip():
        out = json.loads(out)
    return r.returncode, out, r.stderr


def raw_has(path, needle):
    if not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        return needle.encode() in f.read()


def db_rows(gateway, q, *args):
    """Read the daemon's database read-only (a second reader: WAL allows it)."""
    db = sqlite3.connect("file:%s?mode=ro" % os.path.join(gateway.workdir, "gw.db"), uri=True)
    try:
        return db.execute(q, args).fetchall()
    finally:
        db.close()


SEEKER = "+4791112233"
SECRET_1 = "hemmelig-spørsmål-om-eksamen-7731"
SECRET_2 = "andre-hemmelighet-9912"
ANSWER = "svar-fra-veileder-4455"


def chat(gateway, kari, address=SEEKER):
    """A closed loopback conversation: two seeker messages, one answer.  Returns its JID."""
    lb = gateway.loopback
    offer = start_conversation(lb, kari, address, SECRET_1, "pv-1")
    lb.send(address, SECRET_2, id="pv-2")
    kari.wait_message(lambda s: s.body == SECRET_2, timeout=10)
    kari.send_message(offer.bare_from, ANSWER, id="k-pv-1")
    lb.wait(lambda i: i["kind"] == "text" and i["body"] == ANSWER)
    kari.send_message(offer.bare_from, "!close resolved")
    lb.wait(lambda i: i["kind"] == "closed")
    assert harness.wait_outbox_empty(gateway.http_port) == 0
    return offer.bare_from


def test_export_then_erase_leaves_no_trace_in_the_file(gateway, client):
    kari = client("kari")
    sign_in(kari)
    jid = chat(gateway, kari)
    token = jid.split("@")[0]

    # --- export: by address, by conversation JID; what both sides saw, in order ---
    rc, doc, err = ctl(gateway, "export-seeker", "--address", "loopback:" + SEEKER)
    assert rc == 0, err
    assert doc["seeker"]["address"] == SEEKER and doc["seeker"]["channel"] == "loopback"
    convs = doc["conversations"]
    assert len(convs) == 1 and convs[0]["token"] == token
    assert convs[0]["state"] == "closed" and convs[0]["closed_at"] >= convs[0]["created"]
    msgs = [(m["dir"], m["body"]) for m in convs[0]["messages"] if m["dir"] in ("in", "out")]
    assert msgs == [("in", SECRET_1), ("in", SECRET_2), ("out", ANSWER)]
    out = [m for m in convs[0]["messages"] if m["body"] == ANSWER][0]
    assert out["state"] in ("sent", "delivered") and out["created"] > 0
    assert any(e["kind"] == "assigned" for e in convs[0]["events"])
    assert doc["partners"] == [] and "sessions" in doc
    rc2, doc2, _ = ctl(gateway, "export-seeker", "--conv", jid)
    assert rc2 == 0 and doc2["conversations"][0]["token"] == token
    # the text rendering, in the seeker's language (nb: the default)
    rc, text, _ = ctl(gateway, "export-seeker", "--conv", token, as_json=False)
    assert rc == 0 and "Opplysninger vi lagrer om deg" in text and SECRET_1 in text
    assert "Veileder: " + ANSWER in text
    # --out: two new files, 0600, the daemon refuses to overwrite
    target = os.path.join(gateway.workdir, "export.json")
    rc, res, err = ctl(gateway, "export-seeker", "--conv", token, "--out", target)
    assert rc == 0, err
    assert json.load(open(target))["seeker"]["address"] == SEEKER
    assert os.stat(target).st_mode & 0o777 == 0o600 and os.path.exists(target + ".txt")
    rc, _, err = ctl(gateway, "export-seeker", "--conv", token, "--out", target)
    assert rc == 1 and "File exists" in err
    os.unlink(target)
    os.unlink(target + ".txt")

    # --- erase: the dry run changes nothing ---
    rc, res, err = ctl(gateway, "erase-seeker", "--address", "loopback:" + SEEKER, "--dry-run")
    assert rc == 0, err
    assert res["dry_run"] and res["messages"] >= 3 and res["conversations"] == 1
    assert db_rows(gateway, "SELECT count(*) FROM messages WHERE body=?", SECRET_1) == [(1,)]

    rc, res, err = ctl(gateway, "erase-seeker", "--address", "loopback:" + SEEKER)
    assert rc == 0, err
    assert not res["dry_run"] and res["messages"] >= 3
    # the statistics row stays, anonymous
    rows = db_rows(gateway, "SELECT token, queue, state, outcome, closed_at FROM conversations")
    assert len(rows) == 1 and rows[0][0] != token and rows[0][1] == "general"
    assert rows[0][2] == "closed" and rows[0][4]
    assert db_rows(gateway, "SELECT count(*) FROM seekers WHERE address=?", SEEKER) == [(0,)]
    assert db_rows(gateway, "SELECT count(*) FROM messages m JOIN conversations c ON"
                            " c.id=m.conv_id WHERE m.dir<>'sys'") == [(0,)]
    kinds = [k for (k,) in db_rows(gateway, "SELECT kind FROM events")]
    assert "erased" in kinds and "assigned" in kinds

    # the raw bytes: no text, no address, no token, in the database or its WAL
    db = os.path.join(gateway.workdir, "gw.db")
    for needle in (SECRET_1, SECRET_2, ANSWER, SEEKER, SEEKER[3:], token):
        assert not raw_has(db, needle), needle
        assert not raw_has(db + "-wal", needle), needle

    # found no more: by address, by the old conversation
    rc, _, err = ctl(gateway, "export-seeker", "--address", "loopback:" + SEEKER)
    assert rc == 1 and "nothing stored for loopback" in err
    assert SEEKER not in err  # masked on screen
    rc, _, err = ctl(gateway, "erase-seeker", "--conv", jid)
    assert rc == 1 and "nothing stored for conversation" in err

    # the daemon still works: the same number writes again, a new conversation
    lb = gateway.loopback
    start_conversation(lb, kari, SEEKER, "ny samtale", "pv-3")


def test_usage_errors(gateway):
    for args in (["export-seeker"], ["export-seeker", "--address", "nocolon"],
                 ["export-seeker", "--conv", "a", "--address", "loopback:+47"],
                 ["erase-seeker", "--bogus"], ["erase-seeker", "--conv"],
                 ["export-seeker", "--conv", "x", "--out", "relative.json"]):
        rc, _, err = ctl(gateway, *args)
        assert rc == 2, (args, err)
    rc, _, err = ctl(gateway, "export-seeker", "--session", "no-such-session")
    assert rc == 1 and "nothing stored for web chat session" in err


def test_in_flight_refused_unless_forced(gateway, client):
    kari = client("kari")
    sign_in(kari)
    lb = gateway.loopback
    addr = "+4790005555"
    offer = start_conversation(lb, kari, addr, "noe å spørre om", "if-1")
    assert harness.wait_outbox_empty(gateway.http_port) == 0
    assert lb.post("/loopback/mode", {"mode": "eagain"}).status == 200
    kari.send_message(offer.bare_from, "dette svaret henger", id="k-if-1")
    gateway.wait_log(r"loopback delivery of message \d+ deferred", timeout=10)
    rc, _, err = ctl(gateway, "erase-seeker", "--address", "loopback:" + addr)
    assert rc == 1 and "still on their way" in err and "--force" in err
    assert db_rows(gateway, "SELECT count(*) FROM messages WHERE body='dette svaret henger'") \
        == [(1,)]
    rc, res, err = ctl(gateway, "erase-seeker", "--address", "loopback:" + addr, "--force")
    assert rc == 0, err
    assert res["in_flight"] >= 1
    # the open conversation was closed in memory too: Kari's next line goes nowhere
    assert db_rows(gateway, "SELECT count(*) FROM conversations WHERE state NOT IN"
                            " ('closed','abandoned','expired')") == [(0,)]
    assert db_rows(gateway, "SELECT count(*) FROM outbox WHERE target='loopback'") == [(0,)]
    lb.post("/loopback/mode", {"mode": "ok"})
    kari.send_message(offer.bare_from, "etter slettingen", id="k-if-2")
    assert db_rows(gateway, "SELECT count(*) FROM messages WHERE body='dette svaret henger'") \
        == [(0,)]


def test_webchat_seeker_deletes_the_conversation(gateway_factory, client):
    from test_webchat_api import Events, Web, accept, webchat_conf
    gw = gateway_factory(plugins=webchat_conf())
    kari = client("kari")
    sign_in(kari)
    w = Web(gw.http_port)
    sid = w.start(lang="nn", fields={"topic": "education"})["sid"]
    ev = Events(w)
    ev.wait(lambda e, i, d: e == "ready")
    offer = accept(kari)
    assert w.say("nettprat-hemmelegheit-5150", cid="w1").status == 200
    kari.wait_message(lambda s: s.body == "nettprat-hemmelegheit-5150", timeout=10)
    kari.send_message(offer.bare_from, "nettsvar-6161", id="k-w1")
    ev.wait(lambda e, i, d: e == "message" and d["dir"] == "out")
    assert w.req("POST", "feedback", {"rating": 4, "comment": "kommentar-7272"}).status in (204, 404)

    # the operator's export finds the session by its id (the plugin's kv row)
    rc, doc, err = ctl(gw, "export-seeker", "--session", sid)
    assert rc == 0, err
    assert doc["sessions"][0]["sid"] == sid and doc["seeker"]["lang"] == "nn"
    assert [m["body"] for m in doc["conversations"][0]["messages"] if m["dir"] == "in"] \
        == ["nettprat-hemmelegheit-5150"]
    rc, text, _ = ctl(gw, "export-seeker", "--session", sid, as_json=False)
    assert "Opplysningar vi lagrar om deg" in text  # nynorsk: the seeker's language

    # the seeker ends the chat, then deletes it; the page hears "erased"
    assert w.req("POST", "end").status == 200
    r = w.req("POST", "erase")
    assert r.status == 200 and r.json() == {"erased": True}, r.text
    ev.wait(lambda e, i, d: e == "erased")
    ev.close()
    # the token opens nothing any more; the operator finds nothing
    assert w.req("GET", "session").status == 401
    assert w.req("GET", "transcript").status == 401
    rc, _, err = ctl(gw, "export-seeker", "--session", sid)
    assert rc == 1 and "nothing stored" in err
    assert db_rows(gw, "SELECT count(*) FROM kv WHERE owner='webchat'") == [(0,)]
    db = os.path.join(gw.workdir, "gw.db")
    for needle in ("nettprat-hemmelegheit-5150", "nettsvar-6161", "kommentar-7272", sid):
        assert not raw_has(db, needle), needle
        assert not raw_has(db + "-wal", needle), needle
    # the counsellor's side was closed with it
    assert db_rows(gw, "SELECT count(*) FROM conversations WHERE state NOT IN"
                       " ('closed','abandoned','expired')") == [(0,)]


# --------------------------------------------------------------------------- federation

from test_federation import (GW_DK, GW_NO, S2S, ONE, T, _escalated_conversation,  # noqa: E402
                             fed, sign_in as fed_sign_in)  # noqa: F401 (fed: the fixture)


def _escalated_and_chatted(f, address):
    kari, mette = f.client("kari@no.test"), f.client("mette@dk.test")
    fed_sign_in(kari, "general@" + GW_NO)
    fed_sign_in(mette, "general@" + GW_DK)
    conv, mjid = _escalated_conversation(f, kari, mette, address, True)
    mette.send_message(mjid, "dansk-svar-8383", id="m-pv")
    f.no.loopback.wait(lambda i: i["conv"] == conv and i["body"] == "dansk-svar-8383", timeout=T)
    dk_db = os.path.join(f.dk.gw.workdir, "gw.db")
    assert raw_has(dk_db, "dansk-svar-8383") or raw_has(dk_db + "-wal", "dansk-svar-8383")
    return conv, mjid


def _side_ctl(side, *args):
    side.workdir = side.gw.workdir
    return ctl(side, *args)


def _events(side, kind):
    return db_rows(side, "SELECT actor, detail FROM events WHERE kind=?", kind)


def _dk_holds_nothing(f):
    db = os.path.join(f.dk.gw.workdir, "gw.db")
    for needle in ("Jeg vil studere i København", "dansk-svar-8383"):
        assert not raw_has(db, needle), needle
        assert not raw_has(db + "-wal", needle), needle


@S2S
def test_erase_reaches_the_partner_over_s2s(fed):
    address = "+4790007001"
    conv, mjid = _escalated_and_chatted(fed, address)
    for s in (fed.no, fed.dk):
        s.workdir = s.gw.workdir
    rc, doc, err = ctl(fed.no, "export-seeker", "--conv", conv)
    assert rc == 0, err
    assert [p["partner"] for p in doc["partners"]] == [GW_DK]
    rc, res, err = ctl(fed.no, "erase-seeker", "--address", "loopback:" + address, "--force")
    assert rc == 0, err
    assert res["partners"] == 1
    fed.dk.gw.wait_log(r"erased our copy of a conversation for gw\.no\.test", timeout=T)
    fed.no.gw.wait_log(r"gw\.dk\.test erased its copy", timeout=T)
    assert _events(fed.no, "partner-erased") == [(GW_DK, "done")]
    rc, res, _ = ctl(fed.no, "erase-pending")
    assert rc == 0 and res["pending"] == []
    _dk_holds_nothing(fed)
    # Mette's conversation is closed and gone: her next line is refused
    rc, _, err = ctl(fed.dk, "export-seeker", "--conv", mjid)
    assert rc == 1 and "nothing stored" in err


@ONE
def test_erase_during_partner_outage_is_retried(fed):
    address = "+4790007002"
    conv, _ = _escalated_and_chatted(fed, address)
    for s in (fed.no, fed.dk):
        s.workdir = s.gw.workdir
    fed.dk.loopback.close()
    fed.dk.loopback = None
    assert fed.dk.gw.stop() in (0, None)
    rc, res, err = ctl(fed.no, "erase-seeker", "--address", "loopback:" + address, "--force")
    assert rc == 0 and res["partners"] == 1, err
    # pending, with the reason, and retried (attempts grow)
    fed.no.gw.wait_log(r"gw\.dk\.test answered fed-\d+ with an error", timeout=T)
    rc, res, _ = ctl(fed.no, "erase-pending")
    assert rc == 0 and len(res["pending"]) == 1 and res["pending"][0]["partner"] == GW_DK
    rc, text, _ = ctl(fed.no, "erase-pending", as_json=False)
    assert GW_DK in text
    rc, st, _ = ctl(fed.no, "status")  # the operator's overview shows it too
    assert rc == 0 and st["erase_pending"] == 1, st
    assert _events(fed.no, "partner-erased") == []
    # the home gateway restarts meanwhile: the request survives in the outbox
    fed.no.loopback.close()
    assert fed.no.gw.stop() in (0, None)
    fed.no.start()
    rc, res, _ = ctl(fed.no, "erase-pending")
    assert rc == 0 and len(res["pending"]) == 1
    # the partner is back: the retry reaches it, it erases and answers; nothing pending
    fed.dk.start()
    fed.no.gw.wait_log(r"gw\.dk\.test erased its copy", timeout=90)
    assert _events(fed.no, "partner-erased") == [(GW_DK, "done")]
    rc, res, _ = ctl(fed.no, "erase-pending")
    assert res["pending"] == []
    assert ctl(fed.no, "status")[1]["erase_pending"] == 0
    _dk_holds_nothing(fed)


# --------------------------------------------------------------------------- SMS

from test_sms_gateway import accept as sms_accept, body_of, sms, wait_sent  # noqa: E402,F401
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "fakes"))
from fakeprov import ControlClient  # noqa: E402


def test_sms_export_shows_delivery_and_erase_removes_number(sms, client):
    sender = "+4791234599"
    fake = ControlClient(sms.link.control_port)
    kari = client("kari")
    sign_in(kari)
    assert fake.mo(**{"from": sender, "text": "sms-spørsmål-3131"})["status"] == 200
    jid = sms_accept(kari, "sms-spørsmål-3131")
    fake.config(auto_dlr=["SENT", "DELIVERED"], auto_dlr_delay_ms=100)
    kari.send_message(jid, "sms-svar-4141")
    wait_sent(sms.link, lambda c: body_of(c) == "sms-svar-4141")
    gw_ = sms.gw

    def delivered():
        rc, doc, _ = ctl(gw_, "export-seeker", "--address", "sms:" + sender)
        ms = {m["body"]: m for m in doc["conversations"][0]["messages"]}
        return rc == 0 and ms.get("sms-svar-4141", {}).get("state") == "delivered" and doc
    doc = None
    for _ in range(150):
        doc = delivered()
        if doc:
            break
        time.sleep(0.1)
    assert doc, "the counsellor's text never showed as delivered in the export"
    assert doc["seeker"]["channel"] == "sms" and doc["seeker"]["address"] == sender
    ins = [m["body"] for m in doc["conversations"][0]["messages"] if m["dir"] == "in"]
    assert ins == ["sms-spørsmål-3131"]
    # the provider's message id is a dedup key: erased with the rest
    assert db_rows(gw_, "SELECT count(*) FROM inbound_dedup")[0][0] >= 1
    rc, res, err = ctl(gw_, "erase-seeker", "--address", "sms:" + sender)
    assert rc == 0, err
    assert res["dedup"] >= 1
    assert db_rows(gw_, "SELECT count(*) FROM inbound_dedup") == [(0,)]
    db = os.path.join(gw_.workdir, "gw.db")
    for needle in ("sms-spørsmål-3131", "sms-svar-4141", sender, sender.lstrip("+")):
        assert not raw_has(db, needle), needle
        assert not raw_has(db + "-wal", needle), needle


# --------------------------------------------------------------------------- e-mail

from test_email_gateway import (KARI as MAIL_KARI, SERVICE as MAIL_SERVICE,  # noqa: E402
                                accept as mail_accept, mail, seeker_mail)  # noqa: F401
from test_email_servers import needs_servers  # noqa: E402


@needs_servers
def test_email_export_and_erase(mail, client):
    kari = client("kari")
    sign_in(kari)
    msgid, raw = seeker_mail(MAIL_KARI, "Spørsmål", "epost-spørsmål-2121\n")
    mail.dc.append(MAIL_SERVICE, raw)
    jid = mail_accept(kari, "epost-spørsmål-2121")
    kari.send_message(jid, "epost-svar-3232")
    mail.sink.wait(lambda m: MAIL_KARI in m["rcpts"] and "epost-svar-3232" in m["msg"].get_content(),
                   timeout=30)
    g = mail.gw
    rc, doc, err = ctl(g, "export-seeker", "--address", "email:" + MAIL_KARI)
    assert rc == 0, err
    assert doc["seeker"]["address"] == MAIL_KARI
    msgs = [(m["dir"], m["body"].strip()) for m in doc["conversations"][0]["messages"]
            if m["dir"] in ("in", "out")]
    # the seeker's mail as the counsellor saw it: the subject line, then the text
    assert [b for d, b in msgs if d == "in"] == ["✉ Spørsmål\n\nepost-spørsmål-2121"]
    assert ("out", "epost-svar-3232") in msgs
    rc, res, err = ctl(g, "erase-seeker", "--address", "email:" + MAIL_KARI, "--force")
    assert rc == 0, err
    db = os.path.join(g.workdir, "gw.db")
    for needle in ("epost-spørsmål-2121", "epost-svar-3232", MAIL_KARI, msgid.strip("<>")):
        assert not raw_has(db, needle), needle
        assert not raw_has(db + "-wal", needle), needle

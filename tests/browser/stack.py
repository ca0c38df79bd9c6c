#!/usr/bin/python3
"""stack.py — the real servers for the end-to-end browser test: a private Prosody, the
skagerrak gateway with the webchat plugin, and the counsellor Kari on XMPP (slixmpp via
tests/integration/harness.py).  Everything listens on 127.0.0.1.

Usage: stack.py ORIGIN [closed]
  ORIGIN   the host page's origin, allowed by the webchat CORS list
  closed   give the queue opening hours that make it closed now

Prints one JSON line {"url": "http://127.0.0.1:PORT"} when ready, then reads one JSON
command per line on stdin and answers one JSON line each:
  {"cmd":"sign_in"}                      Kari signs in to the queue
  {"cmd":"accept"}                       waits for an offer, accepts it -> {"jid"}
  {"cmd":"say","text":...}               Kari writes in the conversation
  {"cmd":"typing"}                       Kari's client sends <composing/>
  {"cmd":"wait","text":...,"timeout":s}  waits until Kari got a message with that body
                                          (or containing it, "contains":true) -> {"body"}
  {"cmd":"count","text":...}             how many messages Kari got with that exact body
  {"cmd":"command","text":"!close info"} a text command in the conversation
  {"cmd":"quit"}
Errors answer {"error": "..."}.
"""
import json
import os
import secrets
import sys
import tempfile
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import gw  # noqa: E402

STATIC = os.path.join(harness.REPO_ROOT, "plugins", "webchat", "static")


def main():
    origin = sys.argv[1]
    closed = len(sys.argv) > 2 and sys.argv[2] == "closed"
    d = tempfile.mkdtemp(prefix="skw-e2e-")
    secret = secrets.token_hex(16)
    prosody = harness.Prosody(os.path.join(d, "prosody"), hosts=["no.test"],
                              components={"gw.no.test": secret})
    prosody.secret = secret
    prosody.adduser("kari@no.test", "kari-Passord1")
    prosody.start()
    port = harness.free_port()
    hours = ('hours = { calendar = "none"; timezone = "Europe/Oslo"; mon = "00:00-00:01"; };'
             if closed else "")
    queues = ('{ id = "general"; names = { nb = "Generell"; nn = "Generell"; da = "Generel"; '
              'en = "General"; }; counsellors = [ "kari@no.test" ]; mode = "offer"; '
              'offer_timeout = 30; %s }' % hours)
    counsellors = '{ jid = "kari@no.test"; name = "Kari"; capacity = 2; lang = "nb"; }'
    plugins = ('webchat = { static_dir = "%s"; allowed_origins = [ "%s" ]; rate_session = 12; '
               'heartbeat_s = 5; prechat = ( { id = "topic"; options = ( "education", "work", '
               '"career", "other" ); }, { id = "age"; options = ( "u16", "16-19", "20-29", '
               '"30-49", "50plus" ); } ); };' % (STATIC, origin))
    workdir = os.path.join(d, "gw")
    os.makedirs(workdir)
    g = harness.Gateway(None, gw.config_text(prosody, workdir, port, queues=queues,
                                             counsellors=counsellors, plugins=plugins), workdir)
    g.start()
    g.wait_log(r"component gw\.no\.test online", timeout=15)
    kari = harness.Client("kari@no.test", "kari-Passord1", prosody.c2s_port)
    kari.connect()
    state = {"jid": None}
    print(json.dumps({"url": "http://127.0.0.1:%d" % port, "log": g.log_path}), flush=True)

    def handle(c):
        cmd = c["cmd"]
        if cmd == "sign_in":
            kari.send_presence(to="general@gw.no.test")
            kari.wait_presence(frm="general@gw.no.test", timeout=10)
            return {}
        if cmd == "accept":
            offer = kari.wait_message(lambda s: "!accept" in (s.body or ""), timeout=c.get("timeout", 20))
            kari.send_message(offer.bare_from, "!accept")
            state["jid"] = offer.bare_from
            return {"jid": offer.bare_from, "offer": offer.body}
        if cmd in ("say", "command"):
            kari.send_message(state["jid"], c["text"])
            return {}
        if cmd == "typing":
            kari.send_message(state["jid"], None,
                              extra_xml="<composing xmlns='http://jabber.org/protocol/chatstates'/>")
            return {}
        if cmd == "wait":
            t = c["text"]
            if c.get("contains"):
                m = kari.wait_message(lambda s: t in (s.body or ""), timeout=c.get("timeout", 10))
            else:
                m = kari.wait_message(lambda s: s.body == t, timeout=c.get("timeout", 10))
            return {"body": m.body}
        if cmd == "count":
            return {"n": sum(1 for s in kari.messages if s.body == c["text"])}
        raise ValueError("unknown command %r" % cmd)

    try:
        for line in sys.stdin:
            c = json.loads(line)
            if c.get("cmd") == "quit":
                break
            try:
                out = handle(c)
            except Exception as e:  # answer, keep serving
                out = {"error": "%s: %s" % (type(e).__name__, e),
                       "trace": traceback.format_exc()[-800:]}
            print(json.dumps(out), flush=True)
    finally:
        kari.close()
        rc = g.stop()
        prosody.stop()
        print(json.dumps({"stopped": rc}), flush=True)


if __name__ == "__main__":
    main()

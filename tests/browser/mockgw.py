#!/usr/bin/python3
"""mockgw.py — a stand-in for the gateway's /webchat/ API, for widget-only browser tests.

It serves plugins/webchat/static/ and speaks the same JSON + Server-Sent Events protocol as
the webchat plugin (docs/webchat.md), with an in-memory "core".  The real end-to-end tests
run the real gateway and Prosody; this one lets the widget's states, accessibility and
screenshots be checked quickly and deterministically.

Control endpoints for the test (the "counsellor side"), all POST JSON under /_ctl/:
  say {"text"}                     counsellor message to the latest conversation
  auto {"text","meta"}             automatic item with structure (position, joined, ...)
  typing {"state"}                 composing / paused
  close {"reason","text"}          close the latest conversation
  queue {"open","waiting","wait_s","next_open_ms"}
  limits {"rate"}                  messages per minute per session
  drop {}                          end every open event stream (connection drop)
GET /_ctl/state → {"messages":[...], "feedback":[...], "events":[...]}

Usage: mockgw.py PORT STATIC_DIR   (listens on 127.0.0.1 only)
"""
import json
import os
import queue
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LOCK = threading.RLock()
STATE = {
    "next_id": 1,
    "convs": {},        # conv -> {"items": [...], "closed": False, "blocked": False, "lang"}
    "sessions": {},     # token -> {"conv", "sid", "lang", "feedback": False, "cids": {}}
    "streams": [],      # (token, Queue)
    "queue": {"id": "general", "name": "Veiledning", "open": True, "waiting": 2, "wait_s": 240,
              "next_open_ms": None, "languages": ["nb", "nn", "da", "en"]},
    "rate": 20,
    "sent": {},         # token -> [times]
    "feedback": [],
    "events": [],
    "latest": None,
}
FIELDS = [
    {"id": "topic", "type": "select", "required": False,
     "options": [{"value": v} for v in ("education", "work", "career", "other")]},
    {"id": "age", "type": "select", "required": False,
     "options": [{"value": v} for v in ("u16", "16-19", "20-29", "30-49", "50plus")]},
]


def now_ms():
    return int(time.time() * 1000)


def add_item(conv, direction, text, meta=None, cid=None):
    with LOCK:
        it = {"id": STATE["next_id"], "dir": direction, "text": text, "ts": now_ms()}
        STATE["next_id"] += 1
        if meta:
            it["meta"] = meta
        if cid:
            it["cid"] = cid
        STATE["convs"][conv]["items"].append(it)
        return it


def push(conv, event, data, with_id, skip_token=None):
    with LOCK:
        for tok, q in list(STATE["streams"]):
            if STATE["sessions"].get(tok, {}).get("conv") == conv:
                q.put((event, data, with_id))


def sse(event, data, with_id):
    out = ""
    if event != "message":
        out += "event: %s\n" % event
    if with_id:
        out += "id: %d\n" % data["id"]
    out += "data: %s\n\n" % json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return out.encode()


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    static_dir = "."

    def log_message(self, *a):
        pass

    def send_json(self, status, obj=None, headers=None):
        body = b"" if obj is None else json.dumps(obj).encode()
        self.send_response(status)
        if obj is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.cors()
        self.end_headers()
        self.wfile.write(body)

    def cors(self):
        # the mock allows every origin; the real plugin only its configured ones
        if self.headers.get("Origin"):
            self.send_header("Access-Control-Allow-Origin", self.headers["Origin"])
            self.send_header("Vary", "Origin")

    def do_OPTIONS(self):
        self.send_response(204)
        self.cors()
        self.send_header("Access-Control-Allow-Methods", "GET, POST")
        self.send_header("Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return None

    def session(self, q):
        auth = self.headers.get("Authorization", "")
        tok = auth[7:] if auth.startswith("Bearer ") else (q.get("token") or [None])[0]
        with LOCK:
            return tok, STATE["sessions"].get(tok)

    # ---- routes ----
    def do_GET(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        p = u.path
        if p == "/_ctl/state":
            with LOCK:
                conv = STATE["latest"]
                items = STATE["convs"][conv]["items"] if conv else []
                return self.send_json(200, {"messages": items, "feedback": STATE["feedback"],
                                            "events": STATE["events"], "conv": conv})
        if not p.startswith("/webchat/"):
            return self.send_json(404, {"error": "not_found"})
        p = p[len("/webchat/"):]
        if p == "config":
            with LOCK:
                cfg = {"languages": ["nb", "nn", "da", "en"], "default_lang": "nb",
                       "queue": dict(STATE["queue"]), "fields": FIELDS, "max_chars": 2000,
                       "transcript_email": True, "feedback": True, "storage": "local",
                       "timezone": "Europe/Oslo", "session_ttl_s": 7200,
                       "privacy_url": "/webchat/chat.html#personvern"}
            return self.send_json(200, cfg)
        if p == "session":
            tok, s = self.session(q)
            if not s:
                return self.send_json(401, {"error": "session"})
            c = STATE["convs"][s["conv"]]
            return self.send_json(200, {"sid": s["sid"], "closed": c["closed"], "blocked": c["blocked"],
                                        "state": "closed" if c["closed"] else "queued"})
        if p == "transcript":
            tok, s = self.session(q)
            if not s:
                return self.send_json(401, {"error": "session"})
            lines = ["%s: %s" % (i["dir"], i["text"]) for i in STATE["convs"][s["conv"]]["items"]]
            body = ("\n".join(lines) + "\n").encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Disposition", 'attachment; filename="chat.txt"')
            self.send_header("Content-Length", str(len(body)))
            self.cors()
            self.end_headers()
            self.wfile.write(body)
            return None
        if p == "events":
            return self.events(q)
        return self.static(p or "chat.html")

    def static(self, name):
        if ".." in name or name.startswith("/") or name.startswith("."):
            return self.send_json(404, {"error": "not_found"})
        path = os.path.join(self.static_dir, name)
        types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8",
                 ".html": "text/html; charset=utf-8", ".json": "application/json"}
        ext = os.path.splitext(name)[1]
        if ext not in types or not os.path.isfile(path):
            return self.send_json(404, {"error": "not_found"})
        with open(path, "rb") as f:
            data = f.read()
        self.send_response(200)
        self.send_header("Content-Type", types[ext])
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache")
        self.cors()
        if name == "chat.html":
            self.send_header("Content-Security-Policy",
                             "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                             "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
        self.end_headers()
        self.wfile.write(data)
        return None

    def events(self, q):
        tok, s = self.session(q)
        if not s:
            return self.send_json(401, {"error": "session"})
        after = self.headers.get("Last-Event-ID") or (q.get("after") or ["0"])[0]
        after = int(after or 0)
        mq = queue.Queue()
        with LOCK:
            c = STATE["convs"][s["conv"]]
            hello = {"sid": s["sid"], "state": "closed" if c["closed"] else "queued", "closed": c["closed"],
                     "blocked": c["blocked"], "feedback_given": s["feedback"]}
            replay = [i for i in c["items"] if i["id"] > after]
            STATE["streams"].append((tok, mq))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.cors()
        self.end_headers()
        try:
            out = b"retry: 1000\n\n" + sse("hello", hello, False)
            mx = after
            for it in replay:
                d = {k: v for k, v in it.items() if k not in ("meta", "cid")}  # like the core's history
                out += sse("message", d, True)
                mx = max(mx, it["id"])
            out += sse("ready", {"last_id": mx}, False)
            self.wfile.write(out)
            self.wfile.flush()
            while True:
                try:
                    ev = mq.get(timeout=15)
                except queue.Empty:
                    self.wfile.write(b": hb\n\n")
                    self.wfile.flush()
                    continue
                if ev is None:
                    break
                event, data, with_id = ev
                if with_id and data.get("id", 0) <= mx:
                    continue
                self.wfile.write(sse(event, data, with_id))
                self.wfile.flush()
        except OSError:
            pass
        finally:
            with LOCK:
                STATE["streams"] = [x for x in STATE["streams"] if x[1] is not mq]
        self.close_connection = True
        return None

    def do_POST(self):
        u = urlsplit(self.path)
        q = parse_qs(u.query)
        p = u.path
        b = self.body()
        if b is None:
            return self.send_json(400, {"error": "json_invalid"})
        if p.startswith("/_ctl/"):
            return self.ctl(p[6:], b)
        if not p.startswith("/webchat/"):
            return self.send_json(404, {"error": "not_found"})
        p = p[len("/webchat/"):]
        if p == "session":
            tok = secrets.token_urlsafe(24)
            with LOCK:
                conv = "conv-%d" % (len(STATE["convs"]) + 1)
                STATE["convs"][conv] = {"items": [], "closed": False, "blocked": False,
                                        "lang": b.get("lang", "nb"), "fields": b.get("fields")}
                STATE["sessions"][tok] = {"conv": conv, "sid": secrets.token_hex(8), "feedback": False}
                STATE["latest"] = conv
            return self.send_json(201, {"token": tok, "sid": STATE["sessions"][tok]["sid"],
                                        "lang": b.get("lang", "nb"), "queue": "general",
                                        "expires_ms": now_ms() + 7200 * 1000})
        tok, s = self.session(q)
        if not s:
            return self.send_json(401, {"error": "session"})
        c = STATE["convs"][s["conv"]]
        if p == "message":
            if c["blocked"]:
                return self.send_json(403, {"error": "blocked"})
            if c["closed"]:
                return self.send_json(409, {"error": "closed"})
            text = b.get("text")
            if not isinstance(text, str) or not text.strip():
                return self.send_json(400, {"error": "text_missing"})
            if len(text) > 2000:
                return self.send_json(413, {"error": "too_long", "max_chars": 2000})
            cid = b.get("cid")
            with LOCK:
                if cid and cid in s.setdefault("cids", {}):
                    return self.send_json(200, {"id": s["cids"][cid], "duplicate": True, "ts": now_ms()})
                t = time.time()
                sent = [x for x in STATE["sent"].get(tok, []) if x > t - 60]
                if len(sent) >= STATE["rate"]:
                    STATE["sent"][tok] = sent
                    return self.send_json(429, {"error": "rate_limited", "retry_after_s": 5},
                                          {"Retry-After": "5"})
                sent.append(t)
                STATE["sent"][tok] = sent
                it = add_item(s["conv"], "in", text)
                if cid:
                    s["cids"][cid] = it["id"]
            d = dict(it)
            if cid:
                d["cid"] = cid
            push(s["conv"], "message", d, False)
            return self.send_json(200, {"id": it["id"], "duplicate": False, "ts": it["ts"]})
        if p == "typing":
            STATE["events"].append(("typing", b.get("state")))
            return self.send_json(204)
        if p == "ack":
            STATE["events"].append(("ack", b.get("ids")))
            return self.send_json(204)
        if p == "end":
            with LOCK:
                c["closed"] = True
            STATE["events"].append(("end", None))
            push(s["conv"], "ended", {"reason": "seeker"}, False)
            return self.send_json(200, {"closed": True})
        if p == "feedback":
            if s["feedback"]:
                return self.send_json(409, {"error": "already_given"})
            s["feedback"] = True
            STATE["feedback"].append(b)
            return self.send_json(204)
        if p == "transcript-email":
            STATE["events"].append(("transcript-email", b.get("address")))
            return self.send_json(202, {"queued": True})
        return self.send_json(404, {"error": "not_found"})

    def ctl(self, what, b):
        conv = STATE["latest"]
        if what == "queue":
            with LOCK:
                STATE["queue"].update(b)
            return self.send_json(204)
        if what == "limits":
            STATE["rate"] = int(b.get("rate", 20))
            return self.send_json(204)
        if what == "drop":
            with LOCK:
                for _, q in STATE["streams"]:
                    q.put(None)
            return self.send_json(204)
        if not conv:
            return self.send_json(409, {"error": "no conversation"})
        if what == "say":
            it = add_item(conv, "out", b["text"])
            push(conv, "message", it, True)
            return self.send_json(200, it)
        if what == "auto":
            it = add_item(conv, "auto", b.get("text", ""), b.get("meta"))
            push(conv, "message", it, True)
            return self.send_json(200, it)
        if what == "typing":
            push(conv, "typing", {"state": b.get("state", "composing")}, False)
            return self.send_json(204)
        if what == "close":
            reason = b.get("reason", "counsellor")
            with LOCK:
                STATE["convs"][conv]["closed"] = True
                STATE["convs"][conv]["blocked"] = reason == "blocked"
            it = add_item(conv, "auto", b.get("text", "Samtalen er avsluttet."), {"type": "closed", "reason": reason})
            push(conv, "message", it, True)
            return self.send_json(200, it)
        return self.send_json(404, {"error": "unknown control"})


def main():
    port = int(sys.argv[1])
    H.static_dir = sys.argv[2]
    srv = ThreadingHTTPServer(("127.0.0.1", port), H)
    srv.daemon_threads = True
    print("mockgw listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()

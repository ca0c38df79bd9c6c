"""Shared machinery for the fake SMS providers (GatewayAPI, LINK Mobility, Twilio).

Each fake runs two HTTP servers on 127.0.0.1:
  * the provider API (the real paths, credentials and answers), and
  * a control API that tests use to read what the gateway sent, make the provider fail,
    take it down, and make it call the gateway's webhooks (signed correctly or forged).

Control API (JSON in and out):
  GET  /calls                 -> {"calls": [{"method","path","query","headers","body","json"|"form"}]}
  GET  /wait?n=N&timeout=S    -> waits until N API calls were recorded -> {"calls": [...]}
  POST /reset                 clear recorded calls and failure modes
  POST /mode   {"fail": 500|400|401|..., "count": N (default: until changed), "down": bool,
                "delay_ms": M}
  POST /config {"auto_dlr": ["ENROUTE","DELIVERED"], "auto_dlr_delay_ms": 50,
                "auto_dlr_reverse": bool}   status reports sent after each accepted message
  POST /mo     {"from": "+4791234567", "text": "...", "id": optional, "forge": optional}
  POST /dlr    {"id": "<provider message id>", "status": "...", "forge": optional}
               both -> {"status": <gateway's HTTP status>, "body": "..."}

"down" closes the API listener, so the gateway sees "connection refused" (a request on a
connection kept alive from before is dropped without an answer); down=false binds the same
port again.  Webhook URLs that start with public_url are delivered to gateway_url
(the same path), so signatures can cover the public URL a reverse proxy would present.

Run with Debian's /usr/bin/python3; stdlib only.
"""

import http.server
import json
import socket
import socketserver
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

LOOPBACK = "127.0.0.1"


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def _handler(owner, kind):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            u = urllib.parse.urlsplit(self.path)
            fn = owner._api_request if kind == "api" else owner._control_request
            try:
                status, ctype, out, extra = fn(self.command, u.path, u.query, self.headers, body)
            except Exception as e:  # a bug in the fake: answer 500 and say so
                status, ctype, out, extra = 500, "text/plain", ("fake error: %r" % e).encode(), {}
            if status is None:  # drop the connection without an answer
                self.close_connection = True
                return
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(out)))
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, *a):
            pass

    return H


def jdump(o):
    return json.dumps(o).encode()


class FakeProvider:
    """Base class: subclasses implement api(), mo() and dlr()."""

    name = "fake"

    def __init__(self, api_port=0, control_port=0, public_url=None, gateway_url=None):
        self.api_port = api_port
        self.control_port = control_port
        self.public_url = (public_url or "").rstrip("/")
        self.gateway_url = (gateway_url or "").rstrip("/")
        self.calls = []
        self.cond = threading.Condition()
        self.fail = None
        self.fail_count = None
        self.delay_ms = 0
        self.auto_dlr = []
        self.auto_dlr_delay_ms = 50
        self.auto_dlr_reverse = False
        self._api = None
        self._ctl = None
        self._threads = []

    # ---- life cycle

    def start(self):
        self._start_api()
        self._ctl = _Server((LOOPBACK, self.control_port), _handler(self, "control"))
        self.control_port = self._ctl.server_address[1]
        t = threading.Thread(target=self._ctl.serve_forever, daemon=True)
        t.start()
        return self

    def _start_api(self):
        self._api = _Server((LOOPBACK, self.api_port), _handler(self, "api"))
        self.api_port = self._api.server_address[1]
        t = threading.Thread(target=self._api.serve_forever, daemon=True)
        t.start()

    def _stop_api(self):
        if self._api:
            self._api.shutdown()
            self._api.server_close()
            self._api = None

    def stop(self):
        self._stop_api()
        if self._ctl:
            self._ctl.shutdown()
            self._ctl.server_close()
            self._ctl = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base_url(self):
        return "http://%s:%d" % (LOOPBACK, self.api_port)

    # ---- recording and failure modes

    def record(self, method, path, query, headers, body, **parsed):
        call = {"method": method, "path": path, "query": query,
                "headers": {k: v for k, v in headers.items()},
                "body": body.decode("utf-8", "replace")}
        call.update(parsed)
        with self.cond:
            self.calls.append(call)
            self.cond.notify_all()
        return call

    def wait_calls(self, n, timeout=10.0):
        end = time.monotonic() + timeout
        with self.cond:
            while len(self.calls) < n:
                left = end - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
            return list(self.calls)

    def _failure(self):
        """The status to fail this request with, or None."""
        if self.fail is None:
            return None
        if self.fail_count is not None:
            if self.fail_count <= 0:
                self.fail = None
                return None
            self.fail_count -= 1
        return self.fail

    def set_mode(self, fail=None, count=None, down=None, delay_ms=None):
        self.fail = fail
        self.fail_count = count
        if delay_ms is not None:
            self.delay_ms = delay_ms
        if down is True and self._api:
            self._stop_api()
        elif down is False and not self._api:
            self._start_api()

    # ---- webhooks

    def deliver_url(self, url):
        if self.public_url and self.gateway_url and url.startswith(self.public_url):
            return self.gateway_url + url[len(self.public_url):]
        return url

    def post(self, url, body, headers, method="POST"):
        """Send a webhook to the gateway; returns (status, body text)."""
        req = urllib.request.Request(self.deliver_url(url), data=body, method=method,
                                     headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")
        except (urllib.error.URLError, OSError) as e:
            return 0, str(e)

    def schedule_dlrs(self, msg_id, callback):
        """After an accepted send: the configured status reports, in order or reversed."""
        states = list(self.auto_dlr)
        if not states:
            return
        if self.auto_dlr_reverse:
            states.reverse()

        def run():
            for st in states:
                time.sleep(self.auto_dlr_delay_ms / 1000.0)
                try:
                    self.dlr(id=msg_id, status=st, callback=callback)
                except Exception:
                    pass

        t = threading.Thread(target=run, daemon=True)
        t.start()

    # ---- request dispatch

    def _api_request(self, method, path, query, headers, body):
        if self._api is None:
            # "down": the listener is closed, but a client's kept-alive connection still
            # reaches a handler thread -- drop it without an answer, as a dead server would.
            return None, None, None, None
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000.0)
        return self.api(method, path, query, headers, body)

    def _control_request(self, method, path, query, headers, body):
        args = json.loads(body or b"{}") if body else {}
        q = dict(urllib.parse.parse_qsl(query))
        if path == "/calls":
            with self.cond:
                return 200, "application/json", jdump({"calls": self.calls}), {}
        if path == "/wait":
            calls = self.wait_calls(int(q.get("n", 1)), float(q.get("timeout", 10)))
            return 200, "application/json", jdump({"calls": calls}), {}
        if path == "/reset" and method == "POST":
            with self.cond:
                self.calls = []
            self.set_mode(None, None, False, 0)
            self.auto_dlr = []
            return 200, "application/json", b"{}", {}
        if path == "/mode" and method == "POST":
            self.set_mode(args.get("fail"), args.get("count"), args.get("down"),
                          args.get("delay_ms"))
            return 200, "application/json", b"{}", {}
        if path == "/config" and method == "POST":
            self.auto_dlr = args.get("auto_dlr", self.auto_dlr)
            self.auto_dlr_delay_ms = args.get("auto_dlr_delay_ms", self.auto_dlr_delay_ms)
            self.auto_dlr_reverse = args.get("auto_dlr_reverse", self.auto_dlr_reverse)
            return 200, "application/json", b"{}", {}
        if path in ("/mo", "/dlr") and method == "POST":
            fn = self.mo if path == "/mo" else self.dlr
            st, out = fn(**args)
            return 200, "application/json", jdump({"status": st, "body": out}), {}
        return 404, "application/json", jdump({"error": "no such control"}), {}

    # ---- to implement

    def api(self, method, path, query, headers, body):
        raise NotImplementedError

    def mo(self, **kw):
        raise NotImplementedError

    def dlr(self, **kw):
        raise NotImplementedError


class ControlClient:
    """Drive a fake provider (in this process or another) through its control API."""

    def __init__(self, control_port, host=LOOPBACK):
        self.base = "http://%s:%d" % (host, control_port)

    def _req(self, method, path, obj=None, timeout=30):
        data = json.dumps(obj).encode() if obj is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"{}")

    def calls(self):
        return self._req("GET", "/calls")["calls"]

    def wait(self, n, timeout=10):
        return self._req("GET", "/wait?n=%d&timeout=%s" % (n, timeout), timeout=timeout + 5)["calls"]

    def reset(self):
        return self._req("POST", "/reset", {})

    def mode(self, **kw):
        return self._req("POST", "/mode", kw)

    def config(self, **kw):
        return self._req("POST", "/config", kw)

    def mo(self, **kw):
        return self._req("POST", "/mo", kw)

    def dlr(self, **kw):
        return self._req("POST", "/dlr", kw)


def basic_auth(headers):
    """(user, password) from an Authorization: Basic header, or None."""
    import base64
    h = headers.get("Authorization") or ""
    if not h.lower().startswith("basic "):
        return None
    try:
        raw = base64.b64decode(h[6:].strip(), validate=True).decode()
    except Exception:
        return None
    user, _, pw = raw.partition(":")
    return user, pw


def basic_header(user, password):
    import base64
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def main_for(cls, argv=None):
    """Command line entry: run one fake until SIGTERM; prints one JSON line with its ports."""
    import argparse
    import signal
    import sys

    ap = argparse.ArgumentParser(description="fake %s SMS provider" % cls.name)
    ap.add_argument("--api-port", type=int, default=0)
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--public-url", default="")
    ap.add_argument("--gateway-url", default="")
    cls.add_arguments(ap)
    a = ap.parse_args(argv)
    fake = cls.from_args(a)
    fake.start()
    print(json.dumps({"provider": cls.name, "api_port": fake.api_port,
                      "control_port": fake.control_port}), flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *x: done.set())
    signal.signal(signal.SIGINT, lambda *x: done.set())
    done.wait()
    fake.stop()
    sys.exit(0)

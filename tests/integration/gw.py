"""Helpers to run the skagerrak gateway in integration tests: config, the loopback test
channel (driven over HTTP through the gateway's own server), event waiting."""

import http.client
import json
import os
import socket
import threading
import time

import harness

REPO_ROOT = harness.REPO_ROOT


def config_text(prosody, workdir, http_port, queues=None, counsellors=None, extra="",
                service="", plugins=None, test_clock=None, log_level="debug", build=None):
    """A complete gateway config for the prosody fixture.  `build`: the build dir whose
    plugins are loaded (default harness.build_dir(); it must match the binary's build)."""
    build = build or harness.build_dir()
    if queues is None:
        queues = """
        { id = "general"; names = { nb = "Generell"; en = "General"; da = "Generel"; nn = "Generell"; };
          counsellors = [ "kari@no.test", "ola@no.test" ]; mode = "offer"; offer_timeout = 5; }"""
    if counsellors is None:
        counsellors = """
        { jid = "kari@no.test"; name = "Kari"; capacity = 2; lang = "en"; },
        { jid = "ola@no.test"; name = "Ola"; capacity = 2; lang = "nb"; },
        { jid = "sjef@no.test"; name = "Sjef"; supervisor = true; lang = "en"; }"""
    if plugins is None:
        plugins = "loopback = { };"
    clock = 'test_clock = "%s";' % test_clock if test_clock else ""
    return """
gateway = {
  log_level = "%(log_level)s";
  database = "%(db)s";
  catalogue_dir = "%(i18n)s";
  plugin_path = [ "%(build)s/plugins", "%(build)s/tests/plugins" ];
  timezone = "Europe/Oslo";
  %(clock)s
};
xmpp = { host = "127.0.0.1"; port = %(cport)d; domain = "gw.no.test"; secret = "%(secret)s";
         reconnect_max = 2; };
http = { address = "127.0.0.1"; port = %(hport)d; public_url = "http://127.0.0.1:%(hport)d"; };
service = { default_lang = "nb"; position_interval = 0; %(service)s };
queues = ( %(queues)s );
counsellors = ( %(counsellors)s );
snippets = { en = { hours = "We are open 9-15."; }; nb = { hours = "Vi har åpent 9-15."; }; };
plugins = { %(plugins)s };
%(extra)s
""" % dict(log_level=log_level, db=os.path.join(workdir, "gw.db"),
           i18n=os.path.join(REPO_ROOT, "conf", "i18n"), build=os.path.abspath(build),
           clock=clock, cport=prosody.component_port, secret=prosody.secret, hport=http_port,
           service=service, queues=queues, counsellors=counsellors, plugins=plugins, extra=extra)


class Loopback:
    """The loopback channel seen from a test: submit seeker messages, read deliveries."""

    def __init__(self, http_port):
        self.port = http_port
        self.base = "http://127.0.0.1:%d" % http_port
        self._conn = None
        self.items = []
        self.cond = threading.Condition()
        self.consumed = 0
        self._resp = None
        self._thread = None

    def start(self):
        self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=3600)
        self._conn.request("GET", "/loopback/events")
        self._resp = self._conn.getresponse()
        assert self._resp.status == 200, self._resp.status
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self):
        try:
            for line in self._resp:
                item = json.loads(line)
                item["_at"] = time.time()  # arrival (wall clock), for timing tests
                with self.cond:
                    item["_seq"] = len(self.items)  # arrival order (wait() reorders items)
                    self.items.append(item)
                    self.cond.notify_all()
        except Exception:
            pass

    def close(self):
        # Shut the socket down rather than close the response: the reader thread holds the
        # response's buffer lock while it waits for the next line.
        try:
            if self._conn and self._conn.sock:
                self._conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self._thread:
            self._thread.join(5)

    def post(self, path, obj):
        return harness.http("POST", self.base + path, json.dumps(obj).encode(),
                            {"Content-Type": "application/json"})

    def send(self, address, body, **kw):
        d = dict(address=address, body=body)
        d.update(kw)
        r = self.post("/loopback/inbound", d)
        return r

    def wait(self, pred=None, timeout=10.0):
        """The next (not yet returned) delivered item matching pred."""
        with self.cond:
            def find():
                for i in range(self.consumed, len(self.items)):
                    if pred is None or pred(self.items[i]):
                        return i
                return None
            idx = None
            ok = self.cond.wait_for(lambda: find() is not None, timeout)
            if ok:
                idx = find()
            if idx is None:
                raise AssertionError("no delivery matching within %.0fs; have: %s"
                                     % (timeout, self.items[self.consumed:]))
            item = self.items[idx]
            self.items.pop(idx)
            self.items.insert(self.consumed, item)
            self.consumed += 1
            return item

    def wait_meta(self, typ, timeout=10.0, conv=None):
        return self.wait(lambda i: i.get("meta") and i["meta"].get("type") == typ
                         and (conv is None or i["conv"] == conv), timeout)

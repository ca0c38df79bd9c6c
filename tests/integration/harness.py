"""Test harness for Skagerrak integration tests: a private Prosody, XMPP clients, the gateway.

Everything here listens on / connects to the loopback interface only.  Waiting is
event-based (conditions fed by reader threads / slixmpp callbacks); the only polling is the
bounded TCP connect loop that waits for a freshly started server to accept connections.

Run with Debian's /usr/bin/python3 (python3-slixmpp 1.8, python3-pytest 7).

    with Prosody(tmpdir, hosts=["no.test"], components={"gw.no.test": "s3cret"}) as p:
        p.adduser("kari@no.test", "pw")
        c = Client("kari@no.test", "pw", p.c2s_port); c.connect()
        ...

`python3 tests/integration/harness.py prosody --dir D ...` runs a Prosody for manual use
(see scripts/prosody.sh).
"""

import asyncio
import concurrent.futures
import copy
import ctypes
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
import logging

logging.getLogger("slixmpp.stringprep").setLevel(logging.ERROR)  # "slower stringprep" noise

REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LOOPBACK = "127.0.0.1"
NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


class HarnessError(Exception):
    """A server did not start, a wait timed out, or a process died unexpectedly."""


# --------------------------------------------------------------------------- helpers

_ports_given = set()
_ports_lock = threading.Lock()


def free_port(host=LOOPBACK):
    """Returns a TCP port that is free on `host` right now.

    Picks from 20000-32767 (below Linux's ephemeral range, so outgoing connections do not
    grab it before the server binds) and never hands the same port out twice per process.
    """
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randint(20000, 32767)
        with _ports_lock:
            if port in _ports_given:
                continue
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((host, port))
        except OSError:
            continue
        finally:
            s.close()
        with _ports_lock:
            _ports_given.add(port)
        return port
    raise HarnessError("no free port found on %s" % host)


def wait_port(port, host=LOOPBACK, timeout=10.0, proc=None, what="server"):
    """Waits until host:port accepts TCP connections (bounded connect loop).

    Raises HarnessError on timeout, or at once if `proc` (a Popen) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        if proc is not None and proc.poll() is not None:
            raise HarnessError("%s exited with %s before listening on %s:%d"
                               % (what, proc.returncode, host, port))
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            pass
        if time.monotonic() >= deadline:
            raise HarnessError("%s: %s:%d not accepting connections after %.1fs"
                               % (what, host, port, timeout))
        time.sleep(0.05)


def _loopback_only(url):
    host = urllib.parse.urlsplit(url).hostname
    if host not in ("127.0.0.1", "localhost", "::1") and not (host or "").startswith("127."):
        raise ValueError("harness.http only talks to loopback, not %r" % host)


class HttpResponse:
    """Result of http(): .status (int), .headers (message), .body (bytes), .text, .json()."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<HttpResponse %d %r>" % (self.status, self.body[:200])


_http_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method, url, body=None, headers=None, timeout=10):
    """One HTTP request to a loopback URL; never raises for HTTP error statuses.

    `body`: bytes, str (sent as UTF-8) or a dict/list (sent as JSON with Content-Type set).
    Proxy environment variables are ignored.  Returns an HttpResponse."""
    _loopback_only(url)
    headers = dict(headers or {})
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode("utf-8")
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, str):
        body = body.encode("utf-8")
    req = urllib.request.Request(url, data=body, headers=headers, method=method.upper())
    try:
        with _http_opener.open(req, timeout=timeout) as r:
            return HttpResponse(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return HttpResponse(e.code, e.headers, e.read() if e.fp else b"")


def build_dir():
    """Absolute build directory: $SKAGERRAK_BUILD (default "build"), relative to the repo root."""
    return os.path.join(REPO_ROOT, os.environ.get("SKAGERRAK_BUILD", "build"))


def gateway_binary():
    """Absolute path of <build>/skagerrak."""
    return os.path.join(build_dir(), "skagerrak")


def plugin_dirs():
    """[<build>/plugins, <build>/tests/plugins] (absolute)."""
    b = build_dir()
    return [os.path.join(b, "plugins"), os.path.join(b, "tests", "plugins")]


_libc = None


def _die_with_parent():
    """preexec_fn: the child gets SIGTERM when the thread that started it exits, so a
    killed test run leaves no servers behind.  Start servers from the main thread."""
    global _libc
    try:
        if _libc is None:
            _libc = ctypes.CDLL("libc.so.6", use_errno=True)
        _libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    os.setsid()  # own process group: a Ctrl-C to pytest does not hit the server first


class _LogFollower:
    """Reads a child's output line by line in a thread, appends it to a log file and keeps
    the lines in memory; wait() blocks on a condition until a line matches."""

    def __init__(self, stream, path):
        self.lines = []
        self.eof = False
        self.cond = threading.Condition()
        self._stream = stream
        self._log = open(path, "a", encoding="utf-8", errors="replace")
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name="log:" + os.path.basename(path))
        self._thread.start()

    def _run(self):
        try:
            for raw in iter(self._stream.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\n")
                self._log.write(line + "\n")
                self._log.flush()
                with self.cond:
                    self.lines.append(line)
                    self.cond.notify_all()
        finally:
            with self.cond:
                self.eof = True
                self.cond.notify_all()
            self._log.close()

    def join(self, timeout=5):
        self._thread.join(timeout)

    def wait(self, regex, timeout, since=0):
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        i = since
        with self.cond:
            while True:
                while i < len(self.lines):
                    m = rx.search(self.lines[i])
                    if m:
                        return i, m
                    i += 1
                if self.eof:
                    return None, "eof"
                left = deadline - time.monotonic()
                if left <= 0:
                    return None, "timeout"
                self.cond.wait(left)


def _tail(path, n=40):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


# --------------------------------------------------------------------------- Prosody

def _lua_str(s):
    return '"' + str(s).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _lua_list(items):
    return "{ " + ", ".join(_lua_str(i) if isinstance(i, str) else str(i) for i in items) + " }"


def _prosody_lua54():
    """True if the prosody binary runs on Lua 5.4 (generational GC available)."""
    try:
        with open(shutil.which("prosody") or "/usr/bin/prosody", "rb") as f:
            return b"5.4" in f.readline()
    except OSError:
        return False


class Prosody:
    """A private Prosody in `tmpdir` (config, data, pid, log), on loopback, free ports.

    hosts: VirtualHost names; components: {domain: secret} (XEP-0114);
    c2s_port/component_port: chosen free if None; s2s_port: None disables s2s entirely
    (no outgoing federation attempts), a number enables s2s + dialback on that port;
    unbound_hoststxt: path of a hosts file for lua-unbound (federation tests);
    extra_modules: more modules_enabled; extra_config: Lua text appended to the config
    (e.g. a MUC Component); log_level: file log level ("debug" shows stanzas)."""

    def __init__(self, tmpdir, hosts=("no.test",), components=None, c2s_port=None,
                 component_port=None, s2s_port=None, interfaces=(LOOPBACK,),
                 unbound_hoststxt=None, extra_modules=(), extra_config="",
                 log_level="debug", start_timeout=15.0):
        self.dir = os.path.abspath(str(tmpdir))
        os.makedirs(self.dir, exist_ok=True)
        self.hosts = list(hosts)
        self.components = dict(components or {})
        self.interfaces = list(interfaces)
        ip = self.interfaces[0]
        self.host_ip = ip
        self.c2s_port = c2s_port or free_port(ip)
        self.component_port = component_port or free_port(ip)
        self.s2s_port = s2s_port
        self.http_port = free_port(ip)
        self.unbound_hoststxt = unbound_hoststxt
        self.extra_modules = list(extra_modules)
        self.extra_config = extra_config
        self.log_level = log_level
        self.start_timeout = start_timeout
        self.config_path = os.path.join(self.dir, "prosody.cfg.lua")
        self.data_path = os.path.join(self.dir, "data")
        self.pid_path = os.path.join(self.dir, "prosody.pid")
        self.log_path = os.path.join(self.dir, "prosody.log")
        self.console_path = os.path.join(self.dir, "prosody.console.log")
        self.proc = None
        os.makedirs(self.data_path, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "certs"), exist_ok=True)
        self.write_config()

    # -- config
    def config_text(self):
        modules = ["roster", "saslauth", "disco", "ping", "time", "version", "private",
                   "vcard_legacy", "posix"]
        if self.s2s_port:
            modules.append("dialback")
        modules += [m for m in self.extra_modules if m not in modules]
        lines = [
            "-- Generated by tests/integration/harness.py; a throw-away test server.",
            "run_as_root = true  -- tests run as root here; Prosody refuses root without it",
            "daemonize = false",
            "pidfile = %s" % _lua_str(self.pid_path),
            "data_path = %s" % _lua_str(self.data_path),
            "plugin_paths = {}",
            "certificates = %s  -- empty: no TLS in tests" % _lua_str(os.path.join(self.dir, "certs")),
            "installer_plugin_path = %s" % _lua_str(os.path.join(self.dir, "custom_plugins")),
            "log = { { levels = { min = %s }, to = \"file\", filename = %s } }"
            % (_lua_str(self.log_level), _lua_str(self.log_path)),
            "admins = {}",
            "modules_enabled = %s" % _lua_list(modules),
            "modules_disabled = %s" % _lua_list([] if self.s2s_port else ["s2s"]),
            "authentication = \"internal_plain\"",
            "storage = \"internal\"",
            "c2s_require_encryption = false",
            "s2s_require_encryption = false",
            "s2s_secure_auth = false",
            "allow_unencrypted_plain_auth = true",
            "allow_registration = false",
            # Nagle off.  Prosody 0.12's default backend (server_epoll) reads `nagle = false`;
            # `tcp_nodelay` is the old server_select's name and server_epoll ignores it.
            "network_settings = { nagle = false; tcp_nodelay = true }",
            "interfaces = %s" % _lua_list(self.interfaces),
            "local_interfaces = %s" % _lua_list(self.interfaces),
            "c2s_interfaces = %s" % _lua_list(self.interfaces),
            "c2s_ports = { %d }" % self.c2s_port,
            "c2s_direct_tls_ports = {}",
            "legacy_ssl_ports = {}",
            "component_interfaces = %s" % _lua_list(self.interfaces),
            "component_ports = { %d }" % self.component_port,
            "http_interfaces = %s" % _lua_list(self.interfaces),
            "https_interfaces = %s" % _lua_list(self.interfaces),
            "http_ports = { %d }" % self.http_port,
            "https_ports = {}",
        ]
        if self.s2s_port:
            lines += [
                "s2s_interfaces = %s" % _lua_list(self.interfaces),
                "s2s_ports = { %d }" % self.s2s_port,
                "s2s_direct_tls_ports = {}",
            ]
        else:
            lines += ["s2s_ports = {}"]
        if _prosody_lua54():
            lines.append('gc = { mode = "generational" }')
        if self.unbound_hoststxt:
            # resolvconf = false + forward to loopback: no DNS query leaves the machine;
            # SRV lookups fail fast and s2s falls back to the hosts file A records.
            lines.append("unbound = { hoststxt = %s, resolvconf = false, forward = \"127.0.0.1\" }"
                         % _lua_str(self.unbound_hoststxt))
        lines.append("")
        for h in self.hosts:
            lines.append("VirtualHost %s" % _lua_str(h))
        for name, secret in self.components.items():
            lines.append("Component %s" % _lua_str(name))
            lines.append("    component_secret = %s" % _lua_str(secret))
        if self.extra_config:
            lines += ["", self.extra_config]
        return "\n".join(lines) + "\n"

    def write_config(self):
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(self.config_text())

    # -- process
    def start(self):
        """Starts prosody (same config, ports and data as before) and waits until the c2s
        and component ports accept connections."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        console = open(self.console_path, "ab")
        try:
            self.proc = subprocess.Popen(
                ["prosody", "--config", self.config_path, "-F"],
                cwd=self.dir, stdin=subprocess.DEVNULL, stdout=console,
                stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        finally:
            console.close()
        try:
            ports = [self.c2s_port] + ([self.component_port] if self.components else [])
            if self.s2s_port:
                ports.append(self.s2s_port)
            deadline = time.monotonic() + self.start_timeout
            for p in ports:
                wait_port(p, self.host_ip, max(0.1, deadline - time.monotonic()),
                          self.proc, "prosody")
        except HarnessError as e:
            self.kill()
            raise HarnessError("%s\n--- %s\n%s--- %s\n%s" % (
                e, self.console_path, _tail(self.console_path),
                self.log_path, _tail(self.log_path)))
        return self

    def stop(self, timeout=10.0):
        """SIGTERM and wait (SIGKILL after `timeout`).  Returns the exit code or None."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        """SIGKILL and wait.  Returns the exit code or None."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    # -- users
    def prosodyctl(self, *args, check=True):
        """Runs `prosodyctl --config <file> args...`; returns CompletedProcess (text)."""
        r = subprocess.run(["prosodyctl", "--config", self.config_path] + list(args),
                           cwd=self.dir, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=30)
        if check and r.returncode != 0:
            raise HarnessError("prosodyctl %s failed (%d): %s%s"
                               % (args[0] if args else "", r.returncode, r.stdout, r.stderr))
        return r

    def adduser(self, jid, password):
        """Registers jid ("user@host") with password; works with Prosody running or not."""
        user, _, host = jid.partition("@")
        if not host or host not in self.hosts:
            raise ValueError("%r is not on a host of this Prosody (%s)" % (jid, self.hosts))
        self.prosodyctl("register", user, host, password)

    def deluser(self, jid):
        user, _, host = jid.partition("@")
        self.prosodyctl("unregister", user, host)

    def log_tail(self, n=40):
        return _tail(self.log_path, n)


# --------------------------------------------------------------------------- XMPP client

class XmppError(Exception):
    """An IQ answered with type='error' (.condition, .text, .stanza) or timed out
    (.condition == 'timeout')."""

    def __init__(self, condition, text="", stanza=None):
        super().__init__("%s%s" % (condition, (": " + text) if text else ""))
        self.condition = condition
        self.text = text
        self.stanza = stanza


class Stanza:
    """A received stanza: .xml (ElementTree element, namespaced tags like
    '{jabber:client}body'), .frm, .to, .type, .id, .body (None if absent), .show, .status;
    find()/findall()/findtext() take paths with 'c:' = jabber:client and any prefixes
    passed in `ns`; str() is the XML."""

    def __init__(self, elem):
        self.xml = elem
        self.at = time.time()  # when it arrived (wall clock): timing tests measure with it
        self.tag = elem.tag.split("}")[-1]
        self.frm = elem.get("from")
        self.to = elem.get("to")
        self.type = elem.get("type")
        self.id = elem.get("id")
        self.body = elem.findtext("{%s}body" % NS_CLIENT)
        self.show = elem.findtext("{%s}show" % NS_CLIENT)
        self.status = elem.findtext("{%s}status" % NS_CLIENT)

    @property
    def bare_from(self):
        return (self.frm or "").split("/")[0]

    def _ns(self, ns):
        d = {"c": NS_CLIENT}
        d.update(ns or {})
        return d

    def find(self, path, ns=None):
        return self.xml.find(path, self._ns(ns))

    def findall(self, path, ns=None):
        return self.xml.findall(path, self._ns(ns))

    def findtext(self, path, default=None, ns=None):
        return self.xml.findtext(path, default, self._ns(ns))

    def child(self, namespace, name=None):
        """First child element in `namespace` (and with local name `name`, if given)."""
        for c in self.xml:
            if c.tag.startswith("{%s}" % namespace) and (name is None or c.tag.endswith("}" + name)):
                return c
        return None

    def error_condition(self):
        err = self.xml.find("{%s}error" % NS_CLIENT)
        if err is None:
            return None
        for c in err:
            if c.tag.startswith("{%s}" % NS_STANZAS) and not c.tag.endswith("}text"):
                return c.tag.split("}")[-1]
        return None

    def __str__(self):
        return ET.tostring(self.xml, encoding="unicode")

    __repr__ = __str__


class _LoopThread:
    """An asyncio loop running forever in a daemon thread; call()/run() execute on it."""

    def __init__(self, name):
        self.loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()
        self._ready.wait(5)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._ready.set)
        self.loop.run_forever()

    def call(self, fn, *args, timeout=10.0):
        fut = concurrent.futures.Future()

        def cb():
            try:
                fut.set_result(fn(*args))
            except BaseException as e:  # noqa: B902 - handed to the caller
                fut.set_exception(e)
        self.loop.call_soon_threadsafe(cb)
        return fut.result(timeout)

    def run(self, coro, timeout=10.0):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        """Cancels the loop's pending tasks (slixmpp keeps some forever), stops, closes."""
        if self.loop.is_closed():
            return

        async def cancel_all():
            me = asyncio.current_task()
            tasks = [t for t in asyncio.all_tasks() if t is not me]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.run(cancel_all(), timeout=5)
        except Exception:
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        if not self.thread.is_alive():
            self.loop.close()


def _to_elements(extra_xml):
    if extra_xml is None:
        return []
    if isinstance(extra_xml, (str, bytes, ET.Element)):
        extra_xml = [extra_xml]
    out = []
    for x in extra_xml:
        out.append(x if isinstance(x, ET.Element) else ET.fromstring(x))
    return out


class Client:
    """A synchronous XMPP client (slixmpp in a background asyncio thread), plain TCP to
    127.0.0.1:port, no TLS.  Received messages/presences/IQs are queued by callbacks and
    handed out by wait_*() (condition variable, no sleeping).

    auto_authorize/auto_subscribe: slixmpp roster policy for incoming subscription requests.
    plugins: slixmpp plugins to register (disco and ping answer the gateway's queries)."""

    def __init__(self, jid, password, port, host=LOOPBACK, auto_authorize=True,
                 auto_subscribe=True, plugins=("xep_0030", "xep_0199", "xep_0004", "xep_0050")):
        import slixmpp  # Debian python3-slixmpp
        from slixmpp.xmlstream.handler import Callback
        from slixmpp.xmlstream.matcher import MatchXPath

        self.jid = jid
        self.address = (host, int(port))
        self._cond = threading.Condition()
        self.messages = []          # every message received (Stanza), in order
        self.presences = []         # every presence received
        self.iqs_received = []      # IQ get/set addressed to us (slixmpp answers them)
        self._msg_pos = 0           # wait_message hands out each stanza once
        self._consumed_msgs = set()
        self._consumed_pres = set()
        self._consumed_iqs = set()
        self._sessions = 0
        self._connected = False
        self._auth_failed = False
        self.last_error = None
        self._lt = _LoopThread("xmpp:" + jid)

        def make():
            x = slixmpp.ClientXMPP(jid, password)
            x.loop = self._lt.loop
            for p in plugins:
                x.register_plugin(p)
            x.auto_authorize = auto_authorize
            x.auto_subscribe = auto_subscribe
            x.register_handler(Callback("harness-message", MatchXPath("{%s}message" % NS_CLIENT),
                                        self._on_message))
            x.register_handler(Callback("harness-presence", MatchXPath("{%s}presence" % NS_CLIENT),
                                        self._on_presence))
            x.register_handler(Callback("harness-iq", MatchXPath("{%s}iq" % NS_CLIENT),
                                        self._on_iq))
            x.add_event_handler("session_start", self._on_session_start)
            x.add_event_handler("disconnected", self._on_disconnected)
            x.add_event_handler("failed_all_auth", self._on_auth_failed)
            x.add_event_handler("connection_failed", self._on_conn_failed)
            return x
        self.xmpp = self._lt.call(make)

    # -- callbacks (loop thread)
    def _on_message(self, st):
        s = Stanza(copy.deepcopy(st.xml))
        with self._cond:
            self.messages.append(s)
            self._cond.notify_all()

    def _on_presence(self, st):
        s = Stanza(copy.deepcopy(st.xml))
        with self._cond:
            self.presences.append(s)
            self._cond.notify_all()

    def _on_iq(self, st):
        if st.xml.get("type") in ("get", "set"):
            s = Stanza(copy.deepcopy(st.xml))
            with self._cond:
                self.iqs_received.append(s)
                self._cond.notify_all()

    def _on_session_start(self, _):
        with self._cond:
            self._sessions += 1
            self._connected = True
            self._cond.notify_all()

    def _on_disconnected(self, reason):
        with self._cond:
            self._connected = False
            self.last_error = reason
            self._cond.notify_all()

    def _on_auth_failed(self, _):
        with self._cond:
            self._auth_failed = True
            self._cond.notify_all()

    def _on_conn_failed(self, err):
        with self._cond:
            self.last_error = err
            self._cond.notify_all()

    # -- connection
    @property
    def connected(self):
        with self._cond:
            return self._connected

    @property
    def full_jid(self):
        return str(self.xmpp.boundjid)

    def connect(self, timeout=10.0, presence=True, priority=0):
        """Connects (again) and waits for session_start.  Sends initial presence unless
        presence=False (without it, messages to the bare JID are not delivered to us)."""
        with self._cond:
            start = self._sessions
            self._auth_failed = False
        self._lt.call(lambda: self.xmpp.connect(self.address, use_ssl=False,
                                                force_starttls=False, disable_starttls=True))
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._sessions == start and not self._auth_failed:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            ok = self._sessions > start
            failed = self._auth_failed
        if not ok:
            self._lt.call(self.xmpp.cancel_connection_attempt)
            self._lt.call(self.xmpp.abort)
            raise HarnessError("%s: %s (last error: %r)" % (
                self.jid, "authentication failed" if failed else
                "no session after %.1fs" % timeout, self.last_error))
        if presence:
            self.send_presence(priority=priority)
        return self

    def wait_disconnected(self, timeout=10.0):
        """Waits until the stream is down (e.g. after the server stopped)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._connected:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError("%s still connected after %.1fs" % (self.jid, timeout))
                self._cond.wait(left)

    def disconnect(self, timeout=5.0):
        """Closes the stream (the client can connect() again)."""
        if not self.connected:
            self._lt.call(self.xmpp.cancel_connection_attempt)
            return
        self._lt.call(lambda: self.xmpp.disconnect(wait=min(2.0, timeout)))
        try:
            self.wait_disconnected(timeout)
        except HarnessError:
            self._lt.call(self.xmpp.abort)

    def close(self):
        """disconnect() and stop the background loop; the client is unusable afterwards."""
        try:
            self.disconnect()
        except Exception:
            pass
        self._lt.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- sending
    def send_message(self, to, body, mtype="chat", extra_xml=None, id=None):
        """Sends a message (body may be None); extra_xml: XML string(s)/Element(s) appended
        as children.  Returns the stanza id."""
        def do():
            m = self.xmpp.make_message(mto=to, mbody=body, mtype=mtype)
            m["id"] = id or self.xmpp.new_id()
            for e in _to_elements(extra_xml):
                m.xml.append(e)
            m.send()
            return m["id"]
        return self._lt.call(do)

    def send_presence(self, to=None, ptype=None, show=None, status=None, priority=None,
                      extra_xml=None):
        """Sends presence (ptype: None=available, 'unavailable', 'subscribe', ...)."""
        def do():
            p = self.xmpp.make_presence(pto=to, ptype=ptype, pshow=show, pstatus=status,
                                        ppriority=priority)
            for e in _to_elements(extra_xml):
                p.xml.append(e)
            p.send()
        self._lt.call(do)

    def send_raw(self, xml):
        """Writes `xml` to the stream as is."""
        self._lt.call(self.xmpp.send_raw, xml)

    def iq(self, to, xml_payload=None, type="get", timeout=5.0):
        """Sends an IQ with the given payload (XML string/Element) and returns the result
        as a Stanza; raises XmppError(condition) on type='error' or 'timeout'."""
        from slixmpp.exceptions import IqError, IqTimeout

        async def do():
            q = self.xmpp.make_iq(ito=to, itype=type)
            for e in _to_elements(xml_payload):
                q.xml.append(e)
            try:
                r = await q.send(timeout=timeout)
            except IqError as e:
                raise XmppError(e.condition, e.text or "", Stanza(copy.deepcopy(e.iq.xml)))
            except IqTimeout:
                raise XmppError("timeout", "no answer to iq within %.1fs" % timeout)
            return Stanza(copy.deepcopy(r.xml))
        return self._lt.run(do(), timeout + 5)

    # -- receiving
    def _wait(self, items, consumed, predicate, timeout, what, since=0):
        deadline = time.monotonic() + timeout
        i = since
        with self._cond:
            while True:
                while i < len(items):
                    s = items[i]
                    if id(s) not in consumed and (predicate is None or predicate(s)):
                        consumed.add(id(s))
                        return s
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0:
                    raise HarnessError("%s: no matching %s within %.1fs; got: %s" % (
                        self.jid, what, timeout, [str(x) for x in items[-5:]]))
                self._cond.wait(left)

    def wait_message(self, predicate=None, timeout=5.0, with_body=None):
        """Returns the oldest not yet returned message matching `predicate` (a function of
        Stanza); with_body=True skips body-less messages (chat states, receipts)."""
        pred = predicate
        if with_body:
            pred = (lambda s: s.body is not None and (predicate is None or predicate(s)))
        return self._wait(self.messages, self._consumed_msgs, pred, timeout, "message")

    def wait_presence(self, predicate=None, timeout=5.0, frm=None, ptype=None):
        """Like wait_message for presences; frm matches the bare or full sender JID,
        ptype the type attribute (None matches any)."""
        def pred(s):
            if frm is not None and s.frm != frm and s.bare_from != frm:
                return False
            if ptype is not None and s.type != ptype:
                return False
            return predicate is None or predicate(s)
        return self._wait(self.presences, self._consumed_pres, pred, timeout, "presence")

    def wait_iq(self, predicate=None, timeout=5.0):
        """Waits for an IQ get/set sent to us (slixmpp itself answers it)."""
        return self._wait(self.iqs_received, self._consumed_iqs, predicate, timeout, "iq")

    def no_message(self, predicate=None, within=0.5):
        """True if no unreturned matching message arrives within `within` seconds."""
        try:
            s = self.wait_message(predicate, within)
        except HarnessError:
            return True
        self._consumed_msgs.discard(id(s))
        return False


# --------------------------------------------------------------------------- raw component

class HandshakeFailed(HarnessError):
    """The server refused the XEP-0114 handshake; .data holds what it sent."""

    def __init__(self, msg, data=b""):
        super().__init__(msg)
        self.data = data


def component_handshake(port, domain, secret, host=LOOPBACK, timeout=5.0):
    """Opens a raw XEP-0114 stream to host:port as `domain`, sends <handshake> with the
    lower-case hex SHA-1 of stream id + secret.  Returns the connected socket (caller
    closes) on <handshake/>; raises HandshakeFailed otherwise."""
    s = socket.create_connection((host, port), timeout=timeout)
    try:
        s.sendall(("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
                   "xmlns:stream='http://etherx.jabber.org/streams' to='%s'>" % domain).encode())
        data = b""
        deadline = time.monotonic() + timeout
        while True:
            m = re.search(rb"<stream:stream\b[^>]*?\sid=['\"]([^'\"]+)['\"][^>]*>", data)
            if m:
                break
            if b"</stream:stream>" in data or time.monotonic() > deadline:
                raise HandshakeFailed("no stream header with id: %r" % data, data)
            chunk = s.recv(4096)
            if not chunk:
                raise HandshakeFailed("closed before stream header: %r" % data, data)
            data += chunk
        sid = m.group(1).decode()
        digest = hashlib.sha1((sid + secret).encode("utf-8")).hexdigest()
        s.sendall(("<handshake>%s</handshake>" % digest).encode())
        rest = data[m.end():]
        while True:
            if re.search(rb"<handshake\s*/>|<handshake>\s*</handshake>", rest):
                return s
            if b"<stream:error" in rest and (b"</stream:error>" in rest or b"/>" in rest.split(b"<stream:error", 1)[1]):
                if b"</stream:stream>" in rest or b"</stream:error>" in rest:
                    raise HandshakeFailed("handshake refused: %r" % rest, rest)
            if time.monotonic() > deadline:
                raise HandshakeFailed("no handshake answer: %r" % rest, rest)
            try:
                chunk = s.recv(4096)
            except socket.timeout:
                chunk = None
            if not chunk:
                raise HandshakeFailed("stream closed during handshake: %r" % rest, rest)
            rest += chunk
    except BaseException:
        s.close()
        raise


# --------------------------------------------------------------------------- gateway

def wait_outbox_empty(http_port, timeout=10.0):
    """Waits until the gateway at http_port reports an empty outbox in GET /health: every
    stanza confirmed by the server and every delivery recorded (confirmations are recorded
    with the next commit, within a second).  The drain has no event a test can block on, so
    this polls, bounded; returns the last count (0 unless it timed out)."""
    url = "http://127.0.0.1:%d/health" % http_port
    deadline = time.monotonic() + timeout
    while True:
        left = http("GET", url).json()["database"]["outbox"]
        if left == 0 or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


class Gateway:
    """The skagerrak daemon: writes `config_text` to <workdir>/skagerrak.cfg, runs
    `<binary> -f -c <cfg>` in workdir, its stdout+stderr go to <workdir>/skagerrak.log and
    to memory (wait_log).  binary=None means <SKAGERRAK_BUILD>/skagerrak."""

    def __init__(self, binary, config_text, workdir, env=None):
        self.binary = binary or gateway_binary()
        self.workdir = os.path.abspath(str(workdir))
        os.makedirs(self.workdir, exist_ok=True)
        self.config_path = os.path.join(self.workdir, "skagerrak.cfg")
        self.log_path = os.path.join(self.workdir, "skagerrak.log")
        self.env = dict(os.environ)
        self.env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
        self.env.update(env or {})
        self.proc = None
        self._follower = None
        self.runs = 0
        self.write_config(config_text)

    def write_config(self, text):
        """Replaces the config file (takes effect at the next start())."""
        self.config_text = text
        with open(self.config_path, "w", encoding="utf-8") as f:
            f.write(text)

    def start(self):
        """Starts the daemon (no wait; use wait_log for its readiness line)."""
        if self.proc is not None and self.proc.poll() is None:
            raise HarnessError("gateway already running")
        self.runs += 1
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write("=== harness: start #%d: %s -f -c %s\n" % (self.runs, self.binary, self.config_path))
        self.proc = subprocess.Popen([self.binary, "-f", "-c", self.config_path],
                                     cwd=self.workdir, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     preexec_fn=_die_with_parent)
        self._follower = _LogFollower(self.proc.stdout, self.log_path)
        return self

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def lines(self):
        """Output lines of the current run."""
        return list(self._follower.lines) if self._follower else []

    def mark(self):
        """Current line count of this run; pass as since= to wait_log for later lines only."""
        return len(self._follower.lines) if self._follower else 0

    def wait_log(self, regex, timeout=10.0, since=0):
        """Waits for an output line of the current run (from line `since`) matching regex;
        returns the re.Match.  Raises HarnessError on timeout or if the daemon exits."""
        if self._follower is None:
            raise HarnessError("gateway not started")
        _, m = self._follower.wait(regex, timeout, since)
        if isinstance(m, str):
            rc = self.proc.poll()
            raise HarnessError("gateway: %r not logged (%s%s)\n--- %s (tail)\n%s" % (
                regex, m, "" if rc is None else ", exit code %s" % rc,
                self.log_path, "\n".join(self._follower.lines[-40:])))
        return m

    def _finish(self):
        if self._follower:
            self._follower.join()
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode

    def stop(self, timeout=15.0):
        """SIGTERM, wait; returns the exit code (SIGKILL and HarnessError after timeout)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                self._finish()
                raise HarnessError("gateway did not exit within %.1fs of SIGTERM" % timeout)
        return self._finish()

    def kill9(self):
        """SIGKILL (a crash); returns the exit code (-9)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        return self._finish()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def sanitizer_reports(self):
        """Lines of this run that come from ASan/UBSan/LSan."""
        rx = re.compile(r"AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:")
        return [l for l in self.lines if rx.search(l)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        if self.running():
            self.stop()
        return False


# --------------------------------------------------------------------------- CLI

def _main(argv):
    import argparse
    ap = argparse.ArgumentParser(description="Run a private test Prosody on loopback.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prosody")
    p.add_argument("--dir", required=True)
    p.add_argument("--host", action="append", default=[])
    p.add_argument("--component", action="append", default=[], help="domain:secret")
    p.add_argument("--user", action="append", default=[], help="jid:password")
    p.add_argument("--c2s-port", type=int)
    p.add_argument("--component-port", type=int)
    a = ap.parse_args(argv)
    comps = dict(c.split(":", 1) for c in a.component)
    pr = Prosody(a.dir, hosts=a.host or ["no.test"], components=comps,
                 c2s_port=a.c2s_port, component_port=a.component_port)
    for u in a.user:
        jid, pw = u.split(":", 1)
        pr.adduser(jid, pw)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    pr.start()
    print(json.dumps({"c2s_port": pr.c2s_port, "component_port": pr.component_port,
                      "config": pr.config_path, "log": pr.log_path, "pid": pr.proc.pid}),
          flush=True)
    while not stop.wait(3600):
        pass
    pr.stop()
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

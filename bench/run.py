"""bench/run.py — `make bench`: the gateway against the zero-work component, one run, one machine.

Starts a private Prosody (Nagle off, generational Lua GC, log level warn), the zero-work
component (bench/zerowork) and the gateway with the loopback test channel, drives both with
bench/loadgen (C: raw c2s counsellor clients + HTTP seeker side), then measures memory per
open conversation and start-up time with 1,000,000 stored messages.  Prints a table and
writes bench/results.json.  Run with Debian's /usr/bin/python3 (see bench/README.md).

Environment: BENCH_LAT (messages per latency direction, default 10000), BENCH_TPUT_S
(throughput seconds, default 20), BENCH_CONVS (conversations, default 1000),
BENCH_MEM_MAX (largest memory step, default 100000), BENCH_START_MSGS (stored messages for
the start-up test, default 1000000), SKAGERRAK_BUILD (default build).
"""

import http.client
import json
import os
import platform
import resource
import selectors
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

LAT = int(os.environ.get("BENCH_LAT", "10000"))
TPUT_S = float(os.environ.get("BENCH_TPUT_S", "30"))  # the issue: sustained >= 30 s
CONVS = int(os.environ.get("BENCH_CONVS", "1000"))
MEM_MAX = int(os.environ.get("BENCH_MEM_MAX", "100000"))
STREAMS = int(os.environ.get("BENCH_STREAMS", "10000"))
USERS = (CONVS + 1 + 99) // 100  # capacity 100 each; + 1: the web chat conversation
HCONNS = int(os.environ.get("BENCH_HCONNS", "8"))  # seeker POSTs in flight (throughput)
# BENCH_PIN=1: the XMPP server alone on CPU 0, component and load generator on CPU 1.
PIN = os.environ.get("BENCH_PIN", "0") == "1"
WINDOW = int(os.environ.get("BENCH_WINDOW", "256"))  # counsellor stanzas in flight
CHUNKS = int(os.environ.get("BENCH_CHUNKS", "10"))  # latency pieces per phase, taken in turns
SECRET = "bench-secret"


def pin_cmd(role):
    """taskset prefix for a child (BENCH_PIN=1): "server" on CPU 0, the rest on CPU 1."""
    if not PIN or os.cpu_count() < 2:
        return []
    return ["taskset", "-c", "0" if role == "server" else "1"]


def pin_pid(pid, role):
    if PIN and os.cpu_count() >= 2:
        subprocess.run(["taskset", "-a", "-p", "-c", "0" if role == "server" else "1", str(pid)],
                       stdout=subprocess.DEVNULL, check=True)


def gw_config(workdir, prosody, http_port, log_level="info", keep=True, plugins=None):
    build = harness.build_dir()
    names = ", ".join('"c%d@no.test"' % i for i in range(USERS))
    couns = ",\n".join('{ jid = "c%d@no.test"; name = "C%d"; capacity = 100; lang = "en"; }'
                       % (i, i) for i in range(USERS))
    return """
gateway = { log_level = "%(ll)s"; database = "%(db)s"; catalogue_dir = "%(i18n)s";
  plugin_path = [ "%(b)s/plugins", "%(b)s/tests/plugins" ]; timezone = "Europe/Oslo"; };
xmpp = { host = "127.0.0.1"; port = %(cp)d; domain = "gw.no.test"; secret = "%(sec)s"; reconnect_max = 2; };
http = { address = "127.0.0.1"; port = %(hp)d; public_url = "http://127.0.0.1:%(hp)d"; };
service = { default_lang = "en"; position_interval = 0; };
queues = ( { id = "general"; names = { nb = "Generell"; en = "General"; da = "Generel"; nn = "Generell"; };
             counsellors = [ %(names)s ]; mode = "offer"; offer_timeout = 30; } );
counsellors = ( %(couns)s );
plugins = { %(plugins)s };
""" % dict(plugins=plugins or "loopback = { %s };" % ("" if keep else "keep = false;"),
           ll=log_level, db=os.path.join(workdir, "gw.db"),
           i18n=os.path.join(harness.REPO_ROOT, "conf", "i18n"), b=os.path.abspath(build),
           cp=prosody.component_port, sec=SECRET, hp=http_port, names=names, couns=couns)


class Proc:
    """A child with stdout+stderr to a file; wait_line polls that file (set-up only)."""

    def __init__(self, argv, log, cwd=None):
        self.log = log
        self.f = open(log, "ab")
        self.t0 = time.monotonic()
        self.p = subprocess.Popen(argv, stdout=self.f, stderr=subprocess.STDOUT, cwd=cwd,
                                  stdin=subprocess.DEVNULL)

    def wait_line(self, needle, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log, "rb") as f:
                if needle.encode() in f.read():
                    return
            if self.p.poll() is not None:
                break
            time.sleep(0.02)
        raise RuntimeError("%s: %r not seen; tail:\n%s" % (self.log, needle, harness._tail(self.log)))

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(20)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.f.close()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def loadgen(args, on_phase=None, timeout=900):
    """Runs bench/loadgen to the end (no gates); on_phase(name) is called when it starts a
    phase ("throughput", "end"), so a profiler can cover exactly the measured window."""
    return Loadgen("loadgen", args, on_phase, gated=False).result(timeout)


def finish_perf(p, wait_s):
    """Wait for a perf process that was sent ^C to write its data; it has been seen to miss
    the first ^C, so after wait_s a second one follows."""
    try:
        p.wait(wait_s)
    except subprocess.TimeoutExpired:
        p.send_signal(2)
        p.wait(wait_s)


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        pv = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "prosody"],
                            capture_output=True, text=True).stdout
    except OSError:
        pv = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "prosody": pv, "loadavg_at_start": os.getloadavg()}


class Loadgen:
    """bench/loadgen as a child.  gated: started with gate=1, it says "loadgen: ready" on
    stderr at every gate and goes on when run.py writes a line to its stdin (take_turns)."""

    def __init__(self, name, args, on_phase=None, gated=True):
        self.name = name
        extra = ["gate=1", "chunks=%d" % CHUNKS] if gated else []
        self.p = subprocess.Popen(pin_cmd("load") + [os.path.join(HERE, "loadgen")] + args
                                  + extra, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        self.err = []
        self.cv = threading.Condition()
        self.ready = 0
        self.out = []
        self.on_phase = on_phase
        threading.Thread(target=self._read_err, daemon=True).start()
        threading.Thread(target=lambda: self.out.append(self.p.stdout.read()),
                         daemon=True).start()

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line)
            if line.startswith("loadgen: ready"):
                with self.cv:
                    self.ready += 1
                    self.cv.notify_all()
            elif self.on_phase and line.startswith("loadgen: phase "):
                self.on_phase(line.split()[-1])
        with self.cv:
            self.ready = -1  # exited
            self.cv.notify_all()

    def wait(self, n, timeout=900):
        """Until the n-th gate is reached or the process has ended; False when it ended."""
        with self.cv:
            if not self.cv.wait_for(lambda: self.ready >= n or self.ready < 0, timeout):
                self.p.kill()
                raise RuntimeError("%s: no progress in %d s" % (self.name, timeout))
            return self.ready >= n

    def go(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

    def result(self, timeout=60):
        """Its JSON, once it has ended (within timeout seconds)."""
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        with self.cv:  # stderr read to the end (the reader marks it), stdout likewise below
            self.cv.wait_for(lambda: self.ready < 0, 10)
        for _ in range(200):
            if self.out:
                break
            time.sleep(0.05)
        if self.p.returncode != 0 or not self.out:
            raise RuntimeError("%s failed: %s\n%s" % (self.name, "".join(self.err),
                                                      self.out[0] if self.out else ""))
        return json.loads(self.out[0])


def take_turns(a, b):
    """Both loadgens pass their gates alternately (a first, then b first, ...): each latency
    piece of one is followed by the same piece of the other, and their throughput phases run
    one after the other -- so slow minutes on a shared machine hit both alike."""
    n, k = 1, 0
    alive = {a: a.wait(n), b: b.wait(n)}  # set-up done
    while any(alive.values()):
        for t in ((a, b) if k % 2 == 0 else (b, a)):
            if alive[t]:
                t.go()
                alive[t] = t.wait(n + 1)
        n += 1
        k += 1


def run_pair(tmp, pr, gw_bin):
    res = {}
    common = ["c2s=%d" % pr.c2s_port, "users=%d" % USERS, "convs=%d" % CONVS, "lat=%d" % LAT,
              "tput_s=%g" % TPUT_S, "window=%d" % WINDOW, "hconns=%d" % HCONNS, "web=1",
              "tput_dirs=%s" % os.environ.get("BENCH_TPUT_DIRS", "both")]
    # The zero-work reference and the gateway run side by side on the same server, each with
    # its own counsellor accounts (z0.., c0..); the load generators take turns.
    zport = harness.free_port()
    zw = Proc(pin_cmd("component") + [os.path.join(HERE, "zerowork"), "127.0.0.1",
                                      str(pr.component_port), "zw.no.test", SECRET, str(zport)],
              os.path.join(tmp, "zerowork.log"))
    wd = os.path.join(tmp, "gw")
    os.makedirs(wd, exist_ok=True)
    hport = harness.free_port()
    with open(os.path.join(wd, "skagerrak.cfg"), "w") as f:
        # the web chat too, for its latency phase (rate limits off: one seeker sends them all)
        f.write(gw_config(wd, pr, hport, plugins=(
            "loopback = { }; webchat = { rate_ip = 0; rate_ip_sessions = 0; rate_session = 0; };")))
    g = Proc(pin_cmd("component") + [gw_bin, "-f", "-c", os.path.join(wd, "skagerrak.cfg")],
             os.path.join(wd, "gw.log"), wd)
    try:
        zw.wait_line("online")
        harness.wait_port(zport)
        g.wait_line("component gw.no.test online")
        perf = []
        mode = os.environ.get("BENCH_PERF")

        def on_phase(name):  # profile the gateway over exactly the throughput window
            if name == "throughput" and mode:
                # BENCH_PERF=dwarf: call graphs through libraries built without frame pointers
                cg = ["--call-graph", "dwarf,16384"] if mode == "dwarf" else ["-g"]
                perf.append(subprocess.Popen(
                    ["perf", "record", "-F", "499"] + cg + ["-p", str(g.p.pid), "-o",
                                                            os.path.join(tmp, "perf.data")],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            elif name == "end" and perf:
                perf[0].send_signal(2)
        server_perf = {}

        def on_phase_server(side):
            """BENCH_PERF_SERVER=1: perf record of Prosody over each side's throughput window
            (perf-server-zw.data, perf-server-gw.data in the work directory)."""
            def cb(name):
                if not os.environ.get("BENCH_PERF_SERVER"):
                    return
                if name == "throughput":
                    # BENCH_PERF_SERVER=stat: syscall counts instead of a profile
                    cmd = (["perf", "stat", "-e", "raw_syscalls:sys_enter,"
                            "syscalls:sys_enter_epoll_wait,syscalls:sys_enter_recvfrom,"
                            "syscalls:sys_enter_read,syscalls:sys_enter_sendto,"
                            "syscalls:sys_enter_write,syscalls:sys_enter_writev"]
                           if os.environ["BENCH_PERF_SERVER"] == "stat" else
                           ["perf", "record", "-F", "999", "-g"])
                    if os.environ["BENCH_PERF_SERVER"] == "strace":
                        cmd = ["strace", "-c", "-f"]
                    server_perf[side] = subprocess.Popen(
                        cmd + ["-p", str(pr.proc.pid), "-o",
                               os.path.join(tmp, "perf-server-%s.data" % side)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                elif name == "end" and side in server_perf:
                    server_perf[side].send_signal(2)
            return cb

        def on_phase_gw(name):
            on_phase(name)
            on_phase_server("gw")(name)
        lz = Loadgen("loadgen zw", common + ["mode=zw", "http=%d" % zport, "comp=zw.no.test",
                                           "user_prefix=z",
                                           "pids=%d,%d" % (zw.p.pid, pr.proc.pid)],
                   on_phase_server("zw"))
        lg = Loadgen("loadgen gw", common + ["mode=gw", "http=%d" % hport, "comp=gw.no.test",
                                           "pids=%d,%d" % (g.p.pid, pr.proc.pid)], on_phase_gw)
        try:
            take_turns(lz, lg)
        except Exception:
            for t in (lz, lg):
                if t.p.poll() is None:
                    t.p.kill()
            raise
        for side, sp in server_perf.items():
            finish_perf(sp, 120)
            print("bench: Prosody profile (%s throughput window) in %s" % (
                side, os.path.join(tmp, "perf-server-%s.data" % side)), flush=True)
        res["zw"] = lz.result()
        res["gw"] = lg.result()
        res["gw"]["rss_kb_after"] = rss_kb(g.p.pid)
        # ack barriers the gateway sent in all phases: pings the server routed for us
        hc = http.client.HTTPConnection("127.0.0.1", hport, timeout=10)
        hc.request("GET", "/health")
        res["gw"]["barriers"] = json.loads(hc.getresponse().read())["xmpp"]["barriers"]
        hc.close()
        if perf:
            finish_perf(perf[0], 300)  # dwarf data takes a while to write
            with open(os.path.join(tmp, "perf.txt"), "w") as f:
                subprocess.run(["perf", "report", "-i", os.path.join(tmp, "perf.data"), "--stdio",
                                "--no-children", "--percent-limit", "0.7", "-g", "none"],
                               stdout=f, stderr=subprocess.DEVNULL)
            print("bench: gateway profile (throughput window) in %s"
                  % os.path.join(tmp, "perf.txt"), flush=True)
    finally:
        g.stop()
        zw.stop()
    return res


def run_memory(tmp, pr, gw_bin, budget_s):
    wd = os.path.join(tmp, "mem")
    os.makedirs(wd, exist_ok=True)
    hport = harness.free_port()
    with open(os.path.join(wd, "skagerrak.cfg"), "w") as f:
        # the test channel keeps nothing in memory here: the figure is the core's cost
        f.write(gw_config(wd, pr, hport, log_level="warn", keep=False))
    g = Proc([gw_bin, "-f", "-c", os.path.join(wd, "skagerrak.cfg")], os.path.join(wd, "gw.log"), wd)
    out = {"steps": []}
    try:
        harness.wait_port(hport, proc=g.p, what="gateway")
        time.sleep(0.5)
        base = rss_kb(g.p.pid)
        out["rss_kb_empty"] = base
        have = 0
        t_start = time.monotonic()
        for target in (1000, 10000, 100000):
            if target > MEM_MAX:
                break
            n = target - have
            if out["steps"]:
                last = out["steps"][-1]
                est = n / max(1.0, last["open_rate_per_s"])
                left = budget_s - (time.monotonic() - t_start)
                if est > left:
                    out["skipped"] = ("%d open conversations: at %.0f/s opening %d more would take "
                                      "~%.0f s, over the %.0f s left" % (target, last["open_rate_per_s"],
                                                                       n, est, left))
                    break
            r = loadgen(["http=%d" % hport, "hconns=%d" % HCONNS, "open=%d" % n,
                         "open_base=%d" % have])
            have = target
            time.sleep(0.5)
            rss = rss_kb(g.p.pid)
            out["steps"].append({"open": target, "rss_kb": rss, "errors": r["errors"],
                                 "open_seconds": r["seconds"],
                                 "open_rate_per_s": n / max(r["seconds"], 1e-9),
                                 "bytes_per_conv": (rss - base) * 1024 / target})
    finally:
        g.stop()
    return out


def run_streams(tmp, pr, gw_bin, n):
    """n web chat seekers, each with a session (POST /webchat/session opens its conversation)
    and an open event stream (GET /webchat/events, read until its first event)."""
    wd = os.path.join(tmp, "streams")
    os.makedirs(wd, exist_ok=True)
    hport = harness.free_port()
    with open(os.path.join(wd, "skagerrak.cfg"), "w") as f:
        f.write(gw_config(wd, pr, hport, log_level="warn", plugins=(
            "webchat = { rate_ip = 0; rate_ip_sessions = 0; rate_session = 0; };")))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n + 200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n + 1000), hard))
    g = Proc([gw_bin, "-f", "-c", os.path.join(wd, "skagerrak.cfg")], os.path.join(wd, "gw.log"), wd)
    out = {"streams": n}
    socks = []
    try:
        harness.wait_port(hport, proc=g.p, what="gateway")
        time.sleep(0.5)
        out["rss_kb_empty"] = rss_kb(g.p.pid)
        conn = http.client.HTTPConnection("127.0.0.1", hport, timeout=30)
        tokens = []
        t0 = time.monotonic()
        for _ in range(n):
            conn.request("POST", "/webchat/session", b'{"lang":"en"}',
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            body = r.read()
            if r.status != 201:
                raise RuntimeError("POST /webchat/session: %d %s" % (r.status, body[:200]))
            tokens.append(json.loads(body)["token"])
        conn.close()
        out["sessions_s"] = time.monotonic() - t0
        time.sleep(0.5)
        out["rss_kb_sessions"] = rss_kb(g.p.pid)
        sel = selectors.DefaultSelector()
        t0 = time.monotonic()
        for tok in tokens:
            s = socket.create_connection(("127.0.0.1", hport), timeout=30)
            s.sendall(("GET /webchat/events?token=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Accept: text/event-stream\r\n\r\n" % tok).encode())
            s.setblocking(False)
            socks.append(s)
            sel.register(s, selectors.EVENT_READ, bytearray())
        waiting, deadline = len(socks), time.monotonic() + 120
        while waiting and time.monotonic() < deadline:
            for key, _ in sel.select(1.0):
                try:
                    data = key.fileobj.recv(65536)
                except BlockingIOError:
                    continue
                key.data.extend(data)
                if b"event: hello" in key.data or not data:
                    sel.unregister(key.fileobj)
                    waiting -= 1
        if waiting:
            raise RuntimeError("%d of %d event streams never said hello" % (waiting, n))
        out["streams_s"] = time.monotonic() - t0
        time.sleep(0.5)
        out["rss_kb_streams"] = rss_kb(g.p.pid)
    finally:
        for s in socks:
            s.close()
        g.stop()
    return out


def run_startup(tmp, pr, gw_bin, nmsg=1000000, nconv=10000, nopen=1000):
    wd = os.path.join(tmp, "start")
    os.makedirs(wd, exist_ok=True)
    hport = harness.free_port()
    cfg = os.path.join(wd, "skagerrak.cfg")
    with open(cfg, "w") as f:
        f.write(gw_config(wd, pr, hport))
    g = Proc([gw_bin, "-f", "-c", cfg], os.path.join(wd, "gw0.log"), wd)
    g.wait_line("started", 30)
    g.stop()
    t0 = time.monotonic()
    now = int(time.time() * 1000)
    db = sqlite3.connect(os.path.join(wd, "gw.db"))
    db.execute("PRAGMA journal_mode=WAL")
    db.executemany("INSERT INTO seekers(id, channel, address, display, lang, created)"
                   " VALUES(?, 'loopback', ?, ?, 'en', ?)",
                   ((i + 1, "seed%d" % i, "seed***%d" % (i % 100), now) for i in range(nconv)))
    # The newest `nopen` conversations are still open (queued); the rest are closed.
    db.executemany("INSERT INTO conversations(id, token, seeker_id, queue, lang, state, created,"
                   " queued_at, closed_at, last_seeker_at) VALUES(?, ?, ?, 'general', 'en', ?, ?, ?, ?, ?)",
                   ((i + 1, "seed%08x" % i, i + 1, "queued" if i >= nconv - nopen else "closed",
                     now, now, None if i >= nconv - nopen else now, now) for i in range(nconv)))
    per = nmsg // nconv
    db.executemany("INSERT INTO messages(conv_id, dir, body, author, created, state)"
                   " VALUES(?, ?, ?, ?, ?, 'delivered')",
                   ((k // per + 1, "in" if k % 2 == 0 else "out",
                     "A typical chat line number %d, about sixty characters long." % k,
                     None if k % 2 == 0 else "c0@no.test", now) for k in range(nmsg)))
    db.commit()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    gen_s = time.monotonic() - t0
    size = os.path.getsize(os.path.join(wd, "gw.db"))
    # Drop the page cache for this file?  Not allowed without root-wide effects; the file was
    # just written, so this is a warm start.  State it.
    runs = []
    for k in range(3):
        g = Proc([gw_bin, "-f", "-c", cfg], os.path.join(wd, "gw%d.log" % (k + 1)), wd)
        try:
            t_started = t_online = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and (t_started is None or t_online is None):
                with open(g.log, "rb") as f:
                    data = f.read()
                t = time.monotonic() - g.t0
                if t_started is None and b" started: " in data:
                    t_started = t
                if t_online is None and b"component gw.no.test online" in data:
                    t_online = t
                if g.p.poll() is not None:
                    break
                time.sleep(0.002)
            runs.append({"started_s": t_started, "online_s": t_online,
                         "rss_kb": rss_kb(g.p.pid) if g.p.poll() is None else None})
        finally:
            g.stop()
    return {"messages": nmsg, "conversations": nconv, "open_conversations": nopen,
            "db_bytes": size, "generate_s": gen_s, "runs": runs,
            "started_s": min(r["started_s"] for r in runs if r["started_s"] is not None),
            "online_s": min(r["online_s"] for r in runs if r["online_s"] is not None)}


def ratio(a, b):
    return round(a / b, 3) if b else None


def summarise(pair, mem, streams, start, mach, wall):
    zw, gw = pair["zw"], pair["gw"]
    R = {"machine": mach, "config": {"latency_messages_per_direction": LAT, "throughput_s": TPUT_S,
                                     "conversations": CONVS, "counsellor_accounts": USERS,
                                     "http_connections": HCONNS, "c2s_window": WINDOW},
         "figures": [], "raw": {"pair": pair, "memory": mem, "streams": streams,
                                "startup": start},
         "wall_s": round(wall, 1)}
    F = R["figures"]

    def add(name, value, unit, ref, target, ok, how):
        F.append({"figure": name, "value": value, "unit": unit, "reference": ref,
                  "ratio": ratio(value, ref) if isinstance(ref, (int, float)) else None,
                  "target": target, "met": ok, "measured": how})

    lat_how = ("%d messages, one in flight, after 500 warm-up; %s" % (LAT, "%s"))
    for d, nm, how in (("lat_s2c", "seeker->counsellor",
                        "loadgen writes POST /loopback/inbound -> counsellor client reads the <message> (CLOCK_MONOTONIC, same process)"),
                       ("lat_c2s", "counsellor->seeker",
                        "counsellor client writes <message> -> loopback deliver event line read from GET /loopback/events")):
        for p, lim in (("p50", 1.3), ("p95", None), ("p99", 2.0)):
            v, ref = gw[d][p + "_us"], zw[d][p + "_us"]
            add("latency %s %s" % (nm, p), v, "us", ref,
                "<= %.1fx reference" % lim if lim else None,
                (v <= lim * ref) if lim else None, lat_how % how)
    web_how = ("%d messages, one in flight, after 500 warm-up; %s" % (LAT, "%s"))
    for d, nm, how in (("lat_web_s2c", "web chat seeker->counsellor",
                        "loadgen writes POST /webchat/message (bearer token of a session created "
                        "by POST /webchat/session) -> counsellor client reads the <message>"),
                       ("lat_web_c2s", "web chat counsellor->seeker",
                        "counsellor client writes <message> -> the event reaches the session's "
                        "GET /webchat/events stream (Server-Sent Events)")):
        if d not in gw:
            continue
        for p, lim in (("p50", 1.3), ("p95", None), ("p99", 2.0)):
            v, ref = gw[d][p + "_us"], zw[d][p + "_us"]
            add("latency %s %s" % (nm, p), v, "us", ref,
                "<= %.1fx reference" % lim if lim else None,
                (v <= lim * ref) if lim else None, web_how % how)
    if gw.get("lat_web_echo", {}).get("n"):
        for p in ("p50", "p95", "p99"):
            add("web chat: seeker's own message back on their stream %s" % p,
                gw["lat_web_echo"][p + "_us"], "us", None, None, None,
                "informative (no reference): POST /webchat/message -> the same text as a "
                "\"dir\":\"in\" event on the session's stream (what the seeker's other tabs show)")
    gt, zt = gw["tput"], zw["tput"]
    how_t = ("%.1f s, both directions at once over %d conversations: %d HTTP POSTs in flight "
             "seeker->counsellor, %d stanzas in flight counsellor->seeker; messages whose far end "
             "received them within the window" % (gt["seconds"], CONVS, HCONNS, WINDOW))
    add("throughput (bridged msgs/s)", round(gt["per_s"]), "msg/s", round(zt["per_s"]),
        ">= 0.8x reference", gt["per_s"] >= 0.8 * zt["per_s"], how_t)
    gcpu, pcpu = gt["cpu_s"][0], gt["cpu_s"][1]
    zcpu, zpcpu = zt["cpu_s"][0], zt["cpu_s"][1]
    how_c = "utime+stime from /proc/<pid>/stat over the throughput window / messages counted"
    g_us = gcpu * 1e6 / max(1, gt["msgs"])
    z_us = zcpu * 1e6 / max(1, zt["msgs"])
    add("gateway CPU per message", round(g_us, 1), "us/msg", round(z_us, 1),
        "<= 25 us (>= 40,000 msgs per CPU-second)", g_us <= 25, how_c)
    p_us = pcpu * 1e6 / max(1, gt["msgs"])
    pz_us = zpcpu * 1e6 / max(1, zt["msgs"])
    add("Prosody CPU per message (gateway run)", round(p_us, 1), "us/msg", round(pz_us, 1),
        None, None, how_c)
    add("gateway CPU / Prosody CPU", round(gcpu / pcpu, 3) if pcpu else None, "ratio",
        round(zcpu / zpcpu, 3) if zpcpu else None, "<= 0.25",
        (gcpu / pcpu <= 0.25) if pcpu else None, how_c + "; reference column: zero-work / Prosody")
    add("loadgen CPU during throughput (gateway run)", round(gt["loadgen_cpu_s"] / gt["seconds"], 3),
        "cores", round(zt["loadgen_cpu_s"] / zt["seconds"], 3), "< 1 (not the bottleneck)",
        gt["loadgen_cpu_s"] / gt["seconds"] < 0.9, "getrusage(RUSAGE_SELF) over the window")
    add("latency under load p50 (gateway)", gw["lat_under_load"]["p50_us"], "us",
        zw["lat_under_load"]["p50_us"], None, None, "all throughput-phase messages, both directions")
    add("latency under load p99 (gateway)", gw["lat_under_load"]["p99_us"], "us",
        zw["lat_under_load"]["p99_us"], None, None, "all throughput-phase messages, both directions")
    for s in mem["steps"]:
        add("RSS with %d open conversations" % s["open"], s["rss_kb"], "KiB", None, None, None,
            "VmRSS of the gateway (no counsellor online; each conversation queued, one seeker "
            "message, 3 automatic texts; the loopback test channel told to keep nothing)")
        add("bytes per open conversation at %d" % s["open"], round(s["bytes_per_conv"]), "B",
            None, "<= 4096 at 100,000" if s["open"] == 100000 else None,
            s["bytes_per_conv"] <= 4096 if s["open"] == 100000 else None,
            "(RSS - RSS of the empty gateway %d KiB) / conversations; opened at %.0f/s"
            % (mem["rss_kb_empty"], s["open_rate_per_s"]))
    if "skipped" in mem:
        add("RSS with 100000 open conversations", None, "KiB", None, "<= 4096 B/conv", None,
            "not measured: " + mem["skipped"])
    if streams:
        n = streams["streams"]
        add("RSS with %d web chat seekers, streams open" % n, streams["rss_kb_streams"], "KiB",
            None, None, None, "VmRSS: %d sessions created by POST /webchat/session (each opens "
            "its conversation, queued), then one GET /webchat/events each, read to its first "
            "event; sessions took %.1f s, streams %.1f s"
            % (n, streams["sessions_s"], streams["streams_s"]))
        add("bytes per web chat seeker (session + conversation + stream)",
            round((streams["rss_kb_streams"] - streams["rss_kb_empty"]) * 1024 / n), "B", None,
            None, None, "(RSS with streams - RSS of the empty gateway) / seekers")
        add("bytes per open event stream",
            round((streams["rss_kb_streams"] - streams["rss_kb_sessions"]) * 1024 / n), "B",
            None, None, None, "(RSS with streams - RSS with the same sessions, no streams) / "
            "streams: libmicrohttpd's connection + memory pool, our stream state")
    add("start-up with 1,000,000 stored messages", round(start["started_s"], 3), "s", None,
        "< 1 s", start["started_s"] < 1.0,
        "spawn -> 'started' log line, best of 3 warm starts (file in page cache); %d conversations "
        "(%d open), DB %.0f MB; XMPP 'online' at %.3f s"
        % (start["conversations"], start["open_conversations"], start["db_bytes"] / 1e6,
           start["online_s"]))
    return R


def print_table(R):
    print("\n%-48s %12s %12s %8s  %-26s %s" % ("figure", "gateway", "zero-work", "ratio", "target", "met"))
    print("-" * 118)
    for f in R["figures"]:
        v = "-" if f["value"] is None else str(f["value"])
        r = "-" if f["reference"] is None else str(f["reference"])
        print("%-48s %12s %12s %8s  %-26s %s" % (f["figure"], v + " " + (f["unit"] if f["unit"] in ("us", "s") else ""),
                                                r, "-" if f["ratio"] is None else f["ratio"],
                                                f["target"] or "", {True: "yes", False: "NO", None: ""}[f["met"]]))
    print("\nmachine: %s, %s cores, kernel %s, Prosody %s, load at start %s; wall %.0f s"
          % (R["machine"]["cpu"], R["machine"]["cores"], R["machine"]["kernel"],
             R["machine"]["prosody"], tuple(round(x, 2) for x in R["machine"]["loadavg_at_start"]),
             R["wall_s"]))


def main():
    t0 = time.monotonic()
    gw_bin = harness.gateway_binary()
    mach = machine()
    tmp = tempfile.mkdtemp(prefix="skagerrak-bench-")
    pr = harness.Prosody(os.path.join(tmp, "prosody"), hosts=["no.test"],
                         components={"gw.no.test": SECRET, "zw.no.test": SECRET}, log_level="warn")
    for i in range(USERS):
        pr.adduser("c%d@no.test" % i, "pw")  # the gateway's counsellors
        pr.adduser("z%d@no.test" % i, "pw")  # the reference's
    pr.start()
    pin_pid(pr.proc.pid, "server")
    try:
        print("bench: %d counsellor accounts, %d conversations; latency %d msgs/direction, "
              "throughput %g s" % (USERS, CONVS, LAT, TPUT_S), flush=True)
        pair = run_pair(tmp, pr, gw_bin)
        print("bench: latency + throughput done (%.0f s)" % (time.monotonic() - t0), flush=True)
        mem = run_memory(tmp, pr, gw_bin, budget_s=240)
        print("bench: memory done (%.0f s)" % (time.monotonic() - t0), flush=True)
        streams = run_streams(tmp, pr, gw_bin, STREAMS) if STREAMS else None
        print("bench: web chat streams done (%.0f s)" % (time.monotonic() - t0), flush=True)
        with open(os.path.join(tmp, "partial.json"), "w") as f:
            json.dump({"pair": pair, "memory": mem, "streams": streams}, f, indent=1)
        start = run_startup(tmp, pr, gw_bin,
                            nmsg=int(os.environ.get("BENCH_START_MSGS", "1000000")))
    finally:
        pr.stop()
    R = summarise(pair, mem, streams, start, mach, time.monotonic() - t0)
    R["workdir"] = tmp
    out = os.path.join(HERE, "results.json")
    with open(out + ".tmp", "w") as f:
        json.dump(R, f, indent=1)
    os.replace(out + ".tmp", out)
    print_table(R)
    print("written: %s (logs in %s)" % (out, tmp))


if __name__ == "__main__":
    main()

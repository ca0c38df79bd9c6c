#!/usr/bin/python3
"""bench/ab.py — compare two builds of the gateway on the throughput phase, interleaved.

    /usr/bin/python3 bench/ab.py BUILD_A BUILD_B [ROUNDS]

BUILD_A, BUILD_B: build directories (e.g. a copy of build/ made before a change, and build/).
One private Prosody; each round runs A then B (then B then A the next round, so drift on a
shared machine hits both alike): a fresh gateway and database, the loopback conversations,
throughput for BENCH_TPUT_S seconds (default 10).  Prints per round and the median of each:
gateway CPU µs per message, Prosody CPU µs per message, messages per second.

Why: on this 2-core machine a single run's CPU per message moves by 10-20 % from run to run
(the reference's throughput by up to 35 %), more than most single changes gain; make bench's
ratios are for claims, this is for deciding whether a change helped.
"""
import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402
from run import harness  # noqa: E402


def one(tmp, pr, build, tag, k):
    os.environ["SKAGERRAK_BUILD"] = os.path.abspath(build)
    wd = os.path.join(tmp, "%s%d" % (tag, k))
    os.makedirs(wd)
    hport = harness.free_port()
    with open(os.path.join(wd, "skagerrak.cfg"), "w") as f:
        f.write(run.gw_config(wd, pr, hport))
    g = run.Proc([os.path.join(os.path.abspath(build), "skagerrak"), "-f", "-c",
                  os.path.join(wd, "skagerrak.cfg")], os.path.join(wd, "gw.log"), wd)
    try:
        g.wait_line("component gw.no.test online")
        run.pin_pid(g.p.pid, "component")
        r = run.loadgen(["c2s=%d" % pr.c2s_port, "users=%d" % run.USERS, "convs=%d" % run.CONVS,
                         "lat=10", "tput_s=%g" % run.TPUT_S, "window=%d" % run.WINDOW,
                         "hconns=%d" % run.HCONNS, "mode=gw", "http=%d" % hport,
                         "comp=gw.no.test", "pids=%d,%d" % (g.p.pid, pr.proc.pid)])
    finally:
        g.stop()
    t = r["tput"]
    return (t["cpu_s"][0] * 1e6 / t["msgs"], t["cpu_s"][1] * 1e6 / t["msgs"], t["per_s"])


def main():
    a, b = sys.argv[1], sys.argv[2]
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    tmp = tempfile.mkdtemp(prefix="skagerrak-ab-")
    pr = harness.Prosody(os.path.join(tmp, "prosody"), hosts=["no.test"],
                         components={"gw.no.test": run.SECRET}, log_level="warn")
    for i in range(run.USERS):
        pr.adduser("c%d@no.test" % i, "pw")
    pr.start()
    run.pin_pid(pr.proc.pid, "server")
    res = {"A": [], "B": []}
    try:
        for k in range(rounds):
            order = [("A", a), ("B", b)] if k % 2 == 0 else [("B", b), ("A", a)]
            for tag, build in order:
                x = one(tmp, pr, build, tag, k)
                res[tag].append(x)
                print("round %d %s: gateway %.1f µs/msg, Prosody %.1f µs/msg, %.0f msg/s"
                      % (k, tag, x[0], x[1], x[2]), flush=True)
    finally:
        pr.stop()
    for tag, build in (("A", a), ("B", b)):
        xs = res[tag]
        print("median %s (%s): gateway %.1f µs/msg, Prosody %.1f µs/msg, %.0f msg/s"
              % (tag, build, statistics.median(x[0] for x in xs),
                 statistics.median(x[1] for x in xs), statistics.median(x[2] for x in xs)))


if __name__ == "__main__":
    main()

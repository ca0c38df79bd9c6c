/* loadgen_main.c — the benchmark's load generator: counsellor XMPP clients (raw c2s sockets,
 * pre-built stanzas) and the seeker side (HTTP to the loopback channel), one epoll loop.
 *
 * Drives either the gateway (mode=gw) or the zero-work component (mode=zw) the same way and
 * prints one JSON object with the measurements.  Arguments are key=value:
 *   mode=gw|zw http=PORT c2s=PORT host=no.test comp=gw.no.test queue=JID users=N pass=PW
 *   convs=N lat=N tput_s=SECONDS window=N hconns=N pids=PID,PID   (measure CPU of these)
 *   open=N   (memory phase: only open N new conversations, no counsellors; prints timing)
 *   web=1    (also measure latency through the web chat API: POST /webchat/message up,
 *             the session's Server-Sent-Event stream down; one extra conversation)
 *   user_prefix=c  (counsellor accounts <prefix>0..N-1)
 *   tput_dirs=both|s2c|c2s  (which directions the throughput phase drives)
 *   chunks=K gate=1  (each latency phase in K pieces, and the throughput phase, each after
 *             "loadgen: ready" on stderr and a line on stdin: run.py takes turns between
 *             the gateway and the reference, so both see the same machine)
 * Body markers: H<i> set-up, L<seq> latency seeker->counsellor, R<seq> latency
 * counsellor->seeker, S<seq>/C<seq> throughput.  Latency: one message in flight.
 * Throughput: hconns POSTs in flight seeker->counsellor and `window` stanzas in flight
 * counsellor->seeker, both directions at once.
 * The parts: loadgen_sock.c (sockets), loadgen_send.c / loadgen_recv.c (what goes out and
 * comes in), one file per phase (latency, web, tput); here the arguments, the memory phase
 * and the set-up. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "loadgen.h"

struct loadgen G;

static const char *arg(int argc, char **argv, const char *key, const char *def)
{
    size_t k = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, k) && argv[i][k] == '=')
            return argv[i] + k + 1;
    return def;
}

int main(int argc, char **argv)
{
    G.zw = !strcmp(arg(argc, argv, "mode", "gw"), "zw");
    G.hport = atoi(arg(argc, argv, "http", "0"));
    G.cport = atoi(arg(argc, argv, "c2s", "0"));
    G.host = arg(argc, argv, "host", "no.test");
    G.comp = arg(argc, argv, "comp", "gw.no.test");
    G.queue = G.zw ? NULL : arg(argc, argv, "queue", "general@gw.no.test");
    G.pass = arg(argc, argv, "pass", "pw");
    G.uprefix = arg(argc, argv, "user_prefix", "c");
    G.chunks = atoi(arg(argc, argv, "chunks", "1"));
    G.gated = atoi(arg(argc, argv, "gate", "0"));
    if (G.chunks < 1)
        G.chunks = 1;
    G.users = atoi(arg(argc, argv, "users", "10"));
    G.nconvs = atoi(arg(argc, argv, "convs", "1000"));
    G.hconns = atoi(arg(argc, argv, "hconns", "8"));
    int nlat = atoi(arg(argc, argv, "lat", "10000"));
    double tput_s = atof(arg(argc, argv, "tput_s", "20"));
    int window = atoi(arg(argc, argv, "window", "256"));
    /* tput_dirs=both|s2c|c2s: which directions the throughput phase drives */
    char dirs = arg(argc, argv, "tput_dirs", "both")[0] == 's'   ? 's'
                : arg(argc, argv, "tput_dirs", "both")[0] == 'c' ? 'c'
                                                                 : 'b';
    int nopen = atoi(arg(argc, argv, "open", "0"));
    int open_base = atoi(arg(argc, argv, "open_base", "0"));
    const char *pids = arg(argc, argv, "pids", "");
    G.ep = epoll_create1(0);
    G.t_sent = calloc(MAXSEQ, sizeof *G.t_sent);
    G.lat = calloc(MAXSEQ, sizeof *G.lat);
    G.hc = calloc((size_t)G.hconns, sizeof *G.hc);
    for (int i = 0; i < G.hconns; i++)
        G.hc[i] = http_conn(i, 1);

    if (nopen) { /* memory phase: open conversations, nobody to serve them */
        int64_t t0 = now_ns();
        int sent = 0;
        G.convs = calloc(1, sizeof *G.convs);
        while (G.http_ok + G.http_err < nopen) {
            for (int i = 0; i < G.hconns && sent < nopen; i++)
                if (!G.hc[i]->busy) {
                    char body[256], req[512];
                    int bl = snprintf(body, sizeof body,
                                      "{\"address\":\"idle%d\",\"body\":\"hello\",\"new\":true}",
                                      open_base + sent++);
                    int rl = snprintf(req, sizeof req,
                                      "POST /loopback/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                                      bl, body);
                    G.hc[i]->busy = 1;
                    send_buf(G.hc[i], req, (size_t)rl);
                }
            pump(100);
        }
        printf("{\"opened\":%lld,\"errors\":%lld,\"seconds\":%.3f}\n", (long long)G.http_ok,
               (long long)G.http_err, (now_ns() - t0) / 1e9);
        return 0;
    }

    G.evs = http_conn(0, 2);
    G.xc = calloc((size_t)G.users, sizeof *G.xc);
    for (int i = 0; i < G.users; i++)
        G.xc[i] = login(i);
    if (atoi(arg(argc, argv, "web", "0")))
        G.web = G.nconvs; /* one more conversation, after the loopback ones */
    G.convs = calloc((size_t)G.nconvs + 1, sizeof *G.convs);
    int64_t t0 = now_ns();
    if (G.zw) {
        for (int i = 0; i < G.nconvs; i++) {
            snprintf(G.convs[i].token, sizeof G.convs[i].token, "c%d", i);
            G.convs[i].cidx = i % G.users;
        }
        G.mapped = G.nconvs;
    } else {
        for (int k = 0; k < 50; k++) /* let the presences reach the gateway */
            pump(10);
        int sent = 0;
        int64_t deadline = now_ns() + 300 * 1000000000LL;
        while (G.mapped < G.nconvs) {
            for (int i = 0; i < G.hconns && sent < G.nconvs; i++)
                if (!G.hc[i]->busy)
                    post(G.hc[i], sent, 'H', sent, 1), sent++;
            pump(100);
            if (now_ns() > deadline) {
                fprintf(stderr, "loadgen: only %d of %d conversations assigned\n", G.mapped,
                        G.nconvs);
                die("set-up timed out");
            }
        }
        while (G.hc[0]->busy)
            pump(100);
    }
    printf("{\"mode\":\"%s\",\"convs\":%d,\"users\":%d,\"setup_s\":%.3f,\n", G.zw ? "zw" : "gw",
           G.nconvs, G.users, (now_ns() - t0) / 1e9);

    /* Latency: one message in flight; 500 unrecorded warm-up messages per direction. */
    int64_t seq = 0;
    for (int dir = 0; dir < 2; dir++) {
        latency_run(dir, -1, nlat, &seq);
        print_pct(dir == 0 ? "lat_s2c" : "lat_c2s", 0);
    }

    if (G.web)
        web_phase(nlat, &seq);

    throughput_phase(seq, tput_s, window, dirs, pids);
    return 0;
}

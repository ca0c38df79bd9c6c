/* loadgen_latency.c — the latency phases (one message in flight, warm-up unrecorded, in
 * gated pieces) and the percentiles printed for each. */
#include <stdio.h>
#include <stdlib.h>

#include "loadgen.h"

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

void print_pct(const char *name, int last)
{
    qsort(G.lat, G.nlat, sizeof *G.lat, cmp64);
    size_t n = G.nlat;
    double p50 = n ? G.lat[n / 2] / 1e3 : 0, p95 = n ? G.lat[n * 95 / 100] / 1e3 : 0,
           p99 = n ? G.lat[n * 99 / 100] / 1e3 : 0, mx = n ? G.lat[n - 1] / 1e3 : 0;
    printf("\"%s\":{\"n\":%zu,\"p50_us\":%.1f,\"p95_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}%s\n",
           name, n, p50, p95, p99, mx, last ? "" : ",");
    G.nlat = 0;
}

/* gate=1: tell run.py we are ready ("loadgen: ready" on stderr) and wait for a line on
 * stdin, so that it can take turns between the gateway and the reference. */
void gate(void)
{
    if (!G.gated)
        return;
    fprintf(stderr, "loadgen: ready\n");
    fflush(stderr);
    char line[16];
    if (!fgets(line, sizeof line, stdin))
        die("gate: stdin closed");
}

/* n messages, one in flight, in direction dir (0 seeker->counsellor, 1 back), through the
 * loopback channel (web < 0: conversations in turn) or the web chat conversation `web`. */
static void latency_send(int dir, int web, int n, int64_t *seqp)
{
    int64_t seq = *seqp;
    for (int k = 0; k < n; k++) {
        int conv = web >= 0 ? web : (int)(seq % G.nconvs);
        G.got_seq = -1;
        if (dir == 1)
            reply(conv, 'R', seq);
        else if (web >= 0)
            post_web(G.hc[0], 'L', seq);
        else
            post(G.hc[0], conv, 'L', seq, 0);
        int64_t dl = now_ns() + 10 * 1000000000LL;
        while (G.got_seq != seq || G.hc[0]->busy) {
            pump(1000);
            if (now_ns() > dl)
                die("latency message lost (10 s)");
        }
        seq++;
    }
    *seqp = seq;
}

/* One latency phase: nlat recorded messages after 500 warm-up ones, in G.chunks pieces; a
 * piece after the first starts with 20 unrecorded messages (the caches went cold while the
 * other component had its turn -- the same for both). */
void latency_run(int dir, int web, int nlat, int64_t *seqp)
{
    G.nlat = 0;
    for (int c = 0; c < G.chunks; c++) {
        gate();
        size_t keep = G.nlat, keep_echo = G.necho;
        latency_send(dir, web, c == 0 ? 500 : 20, seqp);
        G.nlat = keep; /* warm-up: not recorded */
        G.necho = keep_echo;
        latency_send(dir, web, nlat / G.chunks + (c < nlat % G.chunks), seqp);
    }
}

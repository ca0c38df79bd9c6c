/* loadgen_tput.c — the throughput phase: both directions at once (hconns POSTs and `window`
 * stanzas in flight), the latency under that load, the CPU the components used. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "loadgen.h"

static double cpu_of(int pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    unsigned long ut = 0, st = 0;
    /* after ") ": state(3) ... utime is field 14, stime 15 */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Throughput: both directions at once for tput_s seconds, counting only the receipts of
 * seqs sent inside the window (from seq on); the CPU of the given pids is measured too. */
void throughput_phase(int64_t seq, double tput_s, int window, char dirs, const char *pids)
{
    int np = 0, pid[4];
    for (const char *p = pids; *p && np < 4;) {
        pid[np++] = atoi(p);
        const char *c = strchr(p, ',');
        if (!c)
            break;
        p = c + 1;
    }
    gate(); /* the throughput phases run one after the other, never at once */
    /* While we waited at the gate (the other side's throughput phase, tput_s seconds), the
     * gateway may have closed our idle keep-alive connections (its 60 s timeout): read those
     * closes now, which reopens them, before posting on them -- otherwise the first read
     * finds a busy connection closed and loadgen stops with "http closed". */
    pump(0);
    double cpu0[4], cpu1[4], me0 = self_cpu();
    for (int i = 0; i < np; i++)
        cpu0[i] = cpu_of(pid[i]);
    fprintf(stderr, "loadgen: phase throughput\n"); /* run.py starts a profiler on this */
    fflush(stderr);
    G.counting = 1;
    G.win_lo = seq;
    G.win_hi = MAXSEQ;
    G.nlat = 0;
    int64_t start = now_ns(), end = start + (int64_t)(tput_s * 1e9);
    int64_t sent_c2s = 0, sent_s2c = 0, next_conv = 0;
    while (now_ns() < end && seq < MAXSEQ - 100000) {
        for (int i = 0; i < G.hconns && dirs != 'c'; i++)
            if (!G.hc[i]->busy && sent_s2c - G.recv_s2c < window) {
                post(G.hc[i], (int)(next_conv++ % G.nconvs), 'S', seq++, 0);
                sent_s2c++;
            }
        while (dirs != 's' && sent_c2s - G.recv_c2s < window) {
            reply((int)(next_conv++ % G.nconvs), 'C', seq++);
            sent_c2s++;
        }
        pump(1);
    }
    int64_t stop = now_ns();
    G.win_hi = seq;
    int64_t r_s2c = G.recv_s2c, r_c2s = G.recv_c2s;
    for (int i = 0; i < np; i++)
        cpu1[i] = cpu_of(pid[i]);
    double me1 = self_cpu();
    fprintf(stderr, "loadgen: phase end\n");
    fflush(stderr);
    double secs = (stop - start) / 1e9;
    /* drain (not counted in the rate) so the stream ends clean */
    int64_t dl = now_ns() + 5 * 1000000000LL;
    while ((G.recv_c2s < sent_c2s || G.recv_s2c < sent_s2c) && now_ns() < dl)
        pump(10);
    print_pct("lat_under_load", 0);
    printf("\"tput\":{\"seconds\":%.3f,\"s2c\":%lld,\"c2s\":%lld,\"msgs\":%lld,\"per_s\":%.1f,"
           "\"sent_s2c\":%lld,\"sent_c2s\":%lld,\"drained_s2c\":%lld,\"drained_c2s\":%lld,"
           "\"hconns\":%d,\"window\":%d,\"loadgen_cpu_s\":%.3f,\"cpu_s\":[",
           secs, (long long)r_s2c, (long long)r_c2s, (long long)(r_s2c + r_c2s),
           (r_s2c + r_c2s) / secs, (long long)sent_s2c, (long long)sent_c2s,
           (long long)G.recv_s2c, (long long)G.recv_c2s, G.hconns, window, me1 - me0);
    for (int i = 0; i < np; i++)
        printf("%s%.3f", i ? "," : "", cpu1[i] - cpu0[i]);
    printf("]},\"http_errors\":%lld}\n", (long long)G.http_err);
}

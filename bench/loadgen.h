/* loadgen.h — what the parts of the load generator (bench/loadgen_*.c) share: the sockets,
 * the conversations, the one global state G, and the functions one part calls in another.
 * bench/loadgen_main.c says what the program does and takes. */
#ifndef LOADGEN_H
#define LOADGEN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define RB (1 << 20)
#define MAXSEQ (4 << 20)
#define ECHO_MAX 100000

struct sock {
    int fd, kind; /* 0 xmpp client, 1 http post, 2 event stream, 3 web chat SSE stream */
    int idx;
    char *r;
    size_t rlen;
    char *w;
    size_t wlen, wcap;
    int busy;     /* http: a request in flight */
    int64_t seq;  /* http: marker seq of that request (-1 none) */
};

struct conv {
    char token[64];
    int cidx;
};

struct loadgen {
    int ep;
    int zw;
    const char *host, *comp, *queue, *pass, *uprefix;
    int chunks; /* latency phases in this many pieces, each after a "go" (gate=1) */
    int gated;
    int hport, cport, users, nconvs, hconns;
    struct sock **xc, **hc, *evs;
    struct conv *convs;
    int mapped;
    int64_t *t_sent;  /* ns, by seq */
    int64_t *lat;     /* ns, results of the current phase */
    size_t nlat;
    int64_t got_seq;  /* latency phase: the seq received (-1 none) */
    int64_t recv_s2c, recv_c2s, http_ok, http_err;
    int counting;
    int web;               /* index of the web chat conversation (G.nconvs), 0 = no web phase */
    char web_token[128];   /* its session token */
    char last_resp[1024];  /* body of the last HTTP response (session creation) */
    int64_t *echo;         /* web chat: latency of the seeker's own message on their stream */
    size_t necho;
    int64_t win_lo, win_hi; /* throughput counts only receipts of seqs sent inside the window */
};
extern struct loadgen G; /* one process, one run: a global keeps the hot paths short */

/* Inline: the latency loops and every read call it. */
static inline int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* loadgen_sock.c: sockets and their buffers */
void die(const char *what);
int tcp_connect(int port);
struct sock *sock_new(int fd, int kind, int idx);
void watch(struct sock *s, unsigned ev);
void flush_w(struct sock *s);
void send_buf(struct sock *s, const char *p, size_t n);
void set_nonblock(int fd);
void wr(int fd, const char *s);

/* loadgen_send.c: counsellor logins and replies, seeker connections and posts */
struct sock *login(int i);
struct sock *http_conn(int idx, int kind);
void post(struct sock *s, int conv, char marker, int64_t seq, int fresh);
void post_web(struct sock *s, char marker, int64_t seq);
void reply(int conv, char marker, int64_t seq);

/* loadgen_recv.c: the epoll loop and what arrives */
void pump(int timeout_ms);

/* loadgen_latency.c: the latency phases and their percentiles */
void print_pct(const char *name, int last);
void gate(void);
void latency_run(int dir, int web, int nlat, int64_t *seqp);

/* loadgen_web.c: the web chat latency phase */
void web_phase(int nlat, int64_t *seqp);

/* loadgen_tput.c: the throughput phase */
void throughput_phase(int64_t seq, double tput_s, int window, char dirs, const char *pids);

#endif

/* loadgen.c — the benchmark's load generator: counsellor XMPP clients (raw c2s sockets,
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
 * counsellor->seeker, both directions at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

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

static struct {
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
} G;

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void die(const char *what)
{
    fprintf(stderr, "loadgen: %s\n", what);
    exit(1);
}

static int tcp_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        die("connect");
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static struct sock *sock_new(int fd, int kind, int idx)
{
    struct sock *s = calloc(1, sizeof *s);
    s->fd = fd;
    s->kind = kind;
    s->idx = idx;
    s->r = malloc(RB + 1);
    s->seq = -1;
    return s;
}

static void watch(struct sock *s, unsigned ev)
{
    struct epoll_event e = {.events = ev, .data.ptr = s};
    if (epoll_ctl(G.ep, EPOLL_CTL_MOD, s->fd, &e) < 0)
        epoll_ctl(G.ep, EPOLL_CTL_ADD, s->fd, &e);
}

static void flush_w(struct sock *s)
{
    while (s->wlen) {
        ssize_t n = write(s->fd, s->w, s->wlen);
        if (n < 0) {
            if (errno == EAGAIN)
                break;
            die("write");
        }
        memmove(s->w, s->w + n, s->wlen - (size_t)n);
        s->wlen -= (size_t)n;
    }
    watch(s, EPOLLIN | (s->wlen ? EPOLLOUT : 0));
}

static void send_buf(struct sock *s, const char *p, size_t n)
{
    if (s->wlen + n > s->wcap) {
        s->wcap = (s->wlen + n) * 2;
        s->w = realloc(s->w, s->wcap);
    }
    memcpy(s->w + s->wlen, p, n);
    s->wlen += n;
    if (s->wlen == n)
        flush_w(s);
}

/* --- blocking set-up of a c2s client --- */

static void read_until(int fd, char *buf, size_t *len, const char *needle)
{
    for (;;) {
        buf[*len] = 0;
        if (strstr(buf, needle))
            return;
        if (strstr(buf, "<failure") || strstr(buf, "stream:error"))
            die(buf);
        ssize_t n = read(fd, buf + *len, RB - *len);
        if (n <= 0)
            die("c2s closed during login");
        *len += (size_t)n;
    }
}

static void set_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void wr(int fd, const char *s)
{
    if (write(fd, s, strlen(s)) != (ssize_t)strlen(s))
        die("write");
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (i + 1 < n ? (unsigned)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = i + 1 < n ? t[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? t[v & 63] : '=';
    }
    out[o] = 0;
}

static struct sock *login(int i)
{
    char user[32], buf[1024], cred[256], enc[400];
    snprintf(user, sizeof user, "%s%d", G.uprefix, i);
    int fd = tcp_connect(G.cport);
    struct sock *s = sock_new(fd, 0, i);
    char open_stream[256];
    snprintf(open_stream, sizeof open_stream,
             "<?xml version='1.0'?><stream:stream to='%s' xmlns='jabber:client' "
             "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>",
             G.host);
    wr(fd, open_stream);
    read_until(fd, s->r, &s->rlen, "</stream:features>");
    int cl = snprintf(cred, sizeof cred, "%c%s%c%s", 0, user, 0, G.pass);
    b64((unsigned char *)cred, (size_t)cl, enc);
    snprintf(buf, sizeof buf,
             "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>%s</auth>", enc);
    wr(fd, buf);
    read_until(fd, s->r, &s->rlen, "<success");
    s->rlen = 0;
    wr(fd, open_stream);
    read_until(fd, s->r, &s->rlen, "</stream:features>");
    s->rlen = 0;
    wr(fd, "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
           "<resource>bench</resource></bind></iq>");
    read_until(fd, s->r, &s->rlen, "</iq>");
    s->rlen = 0;
    wr(fd, "<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>");
    read_until(fd, s->r, &s->rlen, "id='s1'");
    s->rlen = 0;
    wr(fd, "<presence/>");
    if (G.queue) {
        snprintf(buf, sizeof buf, "<presence to='%s'/>", G.queue);
        wr(fd, buf);
    }
    set_nonblock(fd);
    watch(s, EPOLLIN);
    return s;
}

/* --- seeker side: HTTP --- */

static struct sock *http_conn(int idx, int kind)
{
    int fd = tcp_connect(G.hport);
    struct sock *s = sock_new(fd, kind, idx);
    if (kind == 2)
        wr(fd, "GET /loopback/events HTTP/1.0\r\n\r\n"); /* close-delimited: no chunking */
    set_nonblock(fd);
    watch(s, EPOLLIN);
    return s;
}

/* POST one seeker message (gw) or "send this to the client" (zw) on connection s. */
static void post(struct sock *s, int conv, char marker, int64_t seq, int fresh)
{
    char body[512], req[1024];
    int bl;
    if (G.zw)
        bl = snprintf(body, sizeof body, "{\"to\":\"%s%d@%s\",\"from\":\"%s\",\"body\":\"%c%lld\"}",
                      G.uprefix, G.convs[conv].cidx, G.host, G.convs[conv].token, marker,
                      (long long)seq);
    else
        bl = snprintf(body, sizeof body, "{\"address\":\"bench%d\",\"body\":\"%c%lld\"%s}", conv,
                      marker, (long long)seq, fresh ? ",\"new\":true" : "");
    int rl = snprintf(req, sizeof req,
                      "POST /loopback/inbound HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                      bl, body);
    s->busy = 1;
    s->seq = seq;
    if (seq >= 0 && seq < MAXSEQ)
        G.t_sent[seq] = now_ns();
    send_buf(s, req, (size_t)rl);
}

/* POST one web chat message (gw: the session's bearer token; zw: where to send it). */
static void post_web(struct sock *s, char marker, int64_t seq)
{
    char body[128], req[1024];
    int bl = snprintf(body, sizeof body, "{\"text\":\"%c%lld\"}", marker, (long long)seq);
    int rl;
    if (G.zw)
        rl = snprintf(req, sizeof req,
                      "POST /webchat/message?to=%s%d@%s&from=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
                      G.uprefix, G.convs[G.web].cidx, G.host, G.convs[G.web].token, bl, body);
    else
        rl = snprintf(req, sizeof req,
                      "POST /webchat/message HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s",
                      G.web_token, bl, body);
    s->busy = 1;
    s->seq = seq;
    if (seq >= 0 && seq < MAXSEQ)
        G.t_sent[seq] = now_ns();
    send_buf(s, req, (size_t)rl);
}

/* A counsellor's reply into conversation conv. */
static void reply(int conv, char marker, int64_t seq)
{
    char st[512];
    int n = snprintf(st, sizeof st,
                     "<message type='chat' to='%s@%s' id='%c%lld'><body>%c%lld</body></message>",
                     G.convs[conv].token, G.comp, marker, (long long)seq, marker, (long long)seq);
    if (seq >= 0 && seq < MAXSEQ)
        G.t_sent[seq] = now_ns();
    send_buf(G.xc[G.convs[conv].cidx], st, (size_t)n);
}

/* A marker body arrived at its far end. */
static void arrived(char marker, int64_t seq, int64_t t)
{
    if (seq < 0 || seq >= MAXSEQ)
        return;
    if (marker == 'L' || marker == 'R') {
        G.lat[G.nlat++] = t - G.t_sent[seq];
        G.got_seq = seq;
    } else if ((marker == 'S' || marker == 'C') && G.counting) {
        if (seq >= G.win_lo && seq < G.win_hi) {
            if (marker == 'S')
                G.recv_s2c++;
            else
                G.recv_c2s++;
            if (G.nlat < MAXSEQ)
                G.lat[G.nlat++] = t - G.t_sent[seq];
        }
    }
}

static void on_client_message(struct sock *s, const char *st, size_t len, int64_t t)
{
    char from[128] = "", body[256] = "";
    const char *f = memmem(st, len, "from=", 5);
    if (f) {
        char q = f[5];
        const char *e = memchr(f + 6, q, len - (size_t)(f + 6 - st));
        if (e && e - f - 6 < (long)sizeof from)
            snprintf(from, sizeof from, "%.*s", (int)(e - f - 6), f + 6);
    }
    const char *b = memmem(st, len, "<body>", 6);
    if (!b)
        return;
    b += 6;
    const char *be = memmem(b, len - (size_t)(b - st), "</body>", 7);
    if (!be)
        return;
    snprintf(body, sizeof body, "%.*s", (int)(be - b < 255 ? be - b : 255), b);
    if (body[0] >= 'A' && body[0] <= 'Z' && body[1] >= '0' && body[1] <= '9') {
        int64_t seq = strtoll(body + 1, NULL, 10);
        if (body[0] == 'H' && seq < G.nconvs + (G.web ? 1 : 0) && !G.convs[seq].token[0]) {
            char *at = strchr(from, '@');
            snprintf(G.convs[seq].token, sizeof G.convs[seq].token, "%.*s",
                     at ? (int)(at - from) : 0, from);
            G.convs[seq].cidx = s->idx;
            G.mapped++;
        } else {
            arrived(body[0], seq, t);
        }
        return;
    }
    if (strstr(body, "!accept")) { /* an offer: take it */
        char *slash = strchr(from, '/');
        if (slash)
            *slash = 0;
        char r[300];
        int n = snprintf(r, sizeof r, "<message type='chat' to='%s'><body>!accept</body></message>",
                         from);
        send_buf(s, r, (size_t)n);
    }
}

static void on_readable(struct sock *s)
{
    ssize_t n = read(s->fd, s->r + s->rlen, RB - s->rlen);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        if (s->kind == 1 && !s->busy) { /* idle keep-alive timed out by the server: reopen */
            epoll_ctl(G.ep, EPOLL_CTL_DEL, s->fd, NULL);
            close(s->fd);
            s->fd = tcp_connect(G.hport);
            set_nonblock(s->fd);
            s->rlen = 0;
            watch(s, EPOLLIN);
            return;
        }
        die(s->kind == 0 ? "c2s closed" : s->kind == 1 ? "http closed" : "event stream closed");
    }
    int64_t t = now_ns();
    s->rlen += (size_t)n;
    s->r[s->rlen] = 0;
    size_t used = 0;
    if (s->kind == 0) {
        char *end;
        while ((end = memmem(s->r + used, s->rlen - used, "</message>", 10))) {
            /* the last <message before this end tag starts the stanza */
            char *start = NULL, *p = s->r + used;
            while ((p = memmem(p, (size_t)(end - p), "<message", 8))) {
                start = p;
                p += 8;
            }
            if (start)
                on_client_message(s, start, (size_t)(end - start), t);
            used = (size_t)(end + 10 - s->r);
        }
        if (!used && s->rlen > RB / 2)
            used = s->rlen; /* presences only: drop them */
    } else if (s->kind == 3) { /* SSE (close-delimited): "data: {...,\"text\":\"R12\",...}" */
        char *nl;
        while ((nl = memchr(s->r + used, '\n', s->rlen - used))) {
            char *line = s->r + used;
            *nl = 0;
            /* The counsellor's messages ("dir":"out") are the latency; the seeker's own come
             * back too (for their other tabs): timed separately, as the echo. */
            char *b = !strncmp(line, "data: ", 6) ? strstr(line, "\"text\":\"") : NULL;
            if (b && b[8] >= 'A' && b[8] <= 'Z' && b[9] >= '0' && b[9] <= '9') {
                int64_t q = strtoll(b + 9, NULL, 10);
                if (strstr(line, "\"dir\":\"out\""))
                    arrived(b[8], q, t);
                else if (b[8] == 'L' && q >= 0 && q < MAXSEQ && G.necho < ECHO_MAX)
                    G.echo[G.necho++] = t - G.t_sent[q];
            }
            used = (size_t)(nl + 1 - s->r);
        }
    } else if (s->kind == 2) {
        char *nl;
        while ((nl = memchr(s->r + used, '\n', s->rlen - used))) {
            char *line = s->r + used;
            *nl = 0;
            char *b = line[0] == '{' ? strstr(line, "\"body\":\"") : NULL;
            if (b && b[8] >= 'A' && b[8] <= 'Z' && b[9] >= '0' && b[9] <= '9')
                arrived(b[8], strtoll(b + 9, NULL, 10), t);
            used = (size_t)(nl + 1 - s->r);
        }
    } else {
        for (;;) {
            char *he = strstr(s->r + used, "\r\n\r\n");
            if (!he)
                break;
            char *cl = strcasestr(s->r + used, "Content-Length:");
            size_t clen = cl && cl < he ? strtoul(cl + 15, NULL, 10) : 0;
            size_t total = (size_t)(he + 4 - (s->r + used)) + clen;
            if (s->rlen - used < total)
                break;
            snprintf(G.last_resp, sizeof G.last_resp, "%.*s", (int)clen, he + 4);
            if (!strncmp(s->r + used, "HTTP/1.1 20", 11))
                G.http_ok++;
            else {
                G.http_err++;
                if (G.http_err < 5)
                    fprintf(stderr, "loadgen: http: %.*s\n", (int)total, s->r + used);
            }
            used += total;
            s->busy = 0;
        }
    }
    memmove(s->r, s->r + used, s->rlen - used);
    s->rlen -= used;
}

static void pump(int timeout_ms)
{
    struct epoll_event ev[64];
    int n = epoll_wait(G.ep, ev, 64, timeout_ms);
    for (int i = 0; i < n; i++) {
        struct sock *s = ev[i].data.ptr;
        if (ev[i].events & EPOLLOUT)
            flush_w(s);
        if (ev[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
            on_readable(s);
    }
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void print_pct(const char *name, int last)
{
    qsort(G.lat, G.nlat, sizeof *G.lat, cmp64);
    size_t n = G.nlat;
    double p50 = n ? G.lat[n / 2] / 1e3 : 0, p95 = n ? G.lat[n * 95 / 100] / 1e3 : 0,
           p99 = n ? G.lat[n * 99 / 100] / 1e3 : 0, mx = n ? G.lat[n - 1] / 1e3 : 0;
    printf("\"%s\":{\"n\":%zu,\"p50_us\":%.1f,\"p95_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}%s\n",
           name, n, p50, p95, p99, mx, last ? "" : ",");
    G.nlat = 0;
}

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

static const char *arg(int argc, char **argv, const char *key, const char *def)
{
    size_t k = strlen(key);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], key, k) && argv[i][k] == '=')
            return argv[i] + k + 1;
    return def;
}

/* gate=1: tell run.py we are ready ("loadgen: ready" on stderr) and wait for a line on
 * stdin, so that it can take turns between the gateway and the reference. */
static void gate(void)
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
static void latency_run(int dir, int web, int nlat, int64_t *seqp)
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

/* Latency through the web chat API: a session, its event stream, its messages. */
static void web_phase(int nlat, int64_t *seqp)
{
    int w = G.web;
    if (G.zw) {
        snprintf(G.convs[w].token, sizeof G.convs[w].token, "c%d", w);
        G.convs[w].cidx = 0;
        snprintf(G.web_token, sizeof G.web_token, "zw");
    } else {
        static const char sb[] = "{\"lang\":\"en\",\"queue\":\"general\"}";
        char req[512];
        int rl = snprintf(req, sizeof req,
                          "POST /webchat/session HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                          sizeof sb - 1, sb);
        G.hc[0]->busy = 1;
        send_buf(G.hc[0], req, (size_t)rl);
        int64_t dl = now_ns() + 30 * 1000000000LL;
        while (G.hc[0]->busy && now_ns() < dl)
            pump(100);
        char *tk = strstr(G.last_resp, "\"token\":\"");
        char *te = tk ? strchr(tk + 9, '"') : NULL;
        if (!te)
            die("web chat session not created");
        snprintf(G.web_token, sizeof G.web_token, "%.*s", (int)(te - tk - 9), tk + 9);
    }
    G.echo = calloc(ECHO_MAX, sizeof *G.echo);
    int efd = tcp_connect(G.hport);
    struct sock *es = sock_new(efd, 3, 0);
    char rq[512];
    snprintf(rq, sizeof rq,
             "GET /webchat/events?token=%s HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n",
             G.web_token); /* HTTP/1.0: close-delimited, no chunking */
    wr(efd, rq);
    set_nonblock(efd);
    watch(es, EPOLLIN);
    if (!G.zw) { /* the session's conversation is offered and accepted; map its JID */
        post_web(G.hc[0], 'H', w);
        int64_t dl = now_ns() + 30 * 1000000000LL;
        while ((!G.convs[w].token[0] || G.hc[0]->busy) && now_ns() < dl)
            pump(100);
        if (!G.convs[w].token[0])
            die("web chat conversation not assigned");
    }
    for (int dir = 0; dir < 2; dir++) {
        latency_run(dir, w, nlat, seqp);
        print_pct(dir == 0 ? "lat_web_s2c" : "lat_web_c2s", 0);
        if (dir == 0) { /* the echoes of the recorded messages (warm-up ones dropped) */
            size_t keep = G.necho > (size_t)nlat ? (size_t)nlat : G.necho;
            memmove(G.lat, G.echo + (G.necho - keep), keep * sizeof *G.lat);
            G.nlat = keep;
            print_pct("lat_web_echo", 0);
        }
    }
    /* Done with it: the reference writes every message to every stream, and throughput
     * must not count a message twice. */
    epoll_ctl(G.ep, EPOLL_CTL_DEL, es->fd, NULL);
    close(es->fd);
    free(es->r);
    free(es);
    free(G.echo);
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

    /* Throughput: both directions at once for tput_s seconds. */
    int np = 0, pid[4];
    for (const char *p = pids; *p && np < 4;) {
        pid[np++] = atoi(p);
        const char *c = strchr(p, ',');
        if (!c)
            break;
        p = c + 1;
    }
    gate(); /* the throughput phases run one after the other, never at once */
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
    return 0;
}

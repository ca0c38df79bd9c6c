/* loadgen_recv.c — what the load generator receives: the epoll loop (pump), c2s stanzas
 * (offers to accept, set-up and timed markers), the loopback and web chat event streams,
 * HTTP answers; a marker's arrival records its latency or counts it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loadgen.h"

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

void pump(int timeout_ms)
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

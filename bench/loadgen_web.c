/* loadgen_web.c — the web chat phase: a session through the web chat API, its Server-Sent
 * Event stream, then latency both ways and the seeker's own echo. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "loadgen.h"

/* Latency through the web chat API: a session, its event stream, its messages. */
void web_phase(int nlat, int64_t *seqp)
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

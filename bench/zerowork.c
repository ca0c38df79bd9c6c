/* zerowork.c — the benchmark's reference: an ideal zero-work XEP-0114 component.
 *
 * Same libraries and loop shape as the gateway (libstrophe driven by xmpp_run_once(ctx, 0)
 * from one epoll loop, TCP_NODELAY on the component socket), but no storage, no routing
 * and no HTTP framework.  It speaks the loopback channel's two calls in their barest form
 * so bench/loadgen drives it exactly like the gateway:
 *
 *   POST /loopback/inbound  {"to":JID,"from":LOCAL,"body":TEXT}  -> <message> to JID, 200 {}
 *   GET  /loopback/events   (HTTP/1.0) one JSON line per <message> received:
 *                           {"kind":"text","conv":LOCAL,"body":TEXT}
 *
 * and the web chat API's shapes for the web chat latency phase:
 *
 *   POST /webchat/session   -> 201 {"token":"zw"}
 *   POST /webchat/message?to=JID&from=LOCAL  {"text":TEXT}  -> <message> to JID, 200 {}
 *   GET  /webchat/events    (HTTP/1.0) one Server-Sent Event per <message> received:
 *                           data: {"dir":"out","text":TEXT}
 *
 * Usage: zerowork HOST PORT DOMAIN SECRET HTTP_PORT
 * Bodies are benchmark markers (no quotes, no markup), so no escaping is done. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strophe.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXC 256
#define RBUF 65536

struct hconn {
    int fd;
    int events; /* an event stream: 1 loopback JSON lines, 2 web chat SSE */
    size_t len;
    char buf[RBUF];
};

struct zw {
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    int ep, xfd, lfd, online;
    const char *domain;
    struct hconn *c[MAXC];
};

static struct zw *Z; /* libstrophe 0.12's sockopt callback has no user pointer */

static int sockopt_cb(xmpp_conn_t *conn, void *sockp)
{
    (void)conn;
    int fd = *(int *)sockp, one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Z->xfd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(Z->ep, EPOLL_CTL_ADD, fd, &ev);
    return 0;
}

static void emit_event(struct zw *z, const char *conv, const char *body)
{
    char line[2048];
    int n = snprintf(line, sizeof line, "{\"kind\":\"text\",\"conv\":\"%s\",\"body\":\"%s\"}\n",
                     conv, body);
    if (n < 0 || (size_t)n >= sizeof line)
        return;
    char sse[2048];
    int m = snprintf(sse, sizeof sse, "data: {\"dir\":\"out\",\"text\":\"%s\"}\n\n", body);
    if (m < 0 || (size_t)m >= sizeof sse)
        return;
    for (int i = 0; i < MAXC; i++) /* a slow reader loses lines; the benchmark's is not slow */
        if (z->c[i] && z->c[i]->events &&
            write(z->c[i]->fd, z->c[i]->events == 2 ? sse : line,
                  (size_t)(z->c[i]->events == 2 ? m : n)) < 0)
            (void)0;
}

static int msg_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
    (void)conn;
    struct zw *z = arg;
    xmpp_stanza_t *b = xmpp_stanza_get_child_by_name(st, "body");
    const char *to = xmpp_stanza_get_to(st);
    if (!b || !to)
        return 1;
    char *text = xmpp_stanza_get_text(b);
    char local[256];
    const char *at = strchr(to, '@');
    snprintf(local, sizeof local, "%.*s", at ? (int)(at - to) : 0, to);
    if (text)
        emit_event(z, local, text);
    xmpp_free(z->ctx, text);
    return 1;
}

static void conn_handler(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                         xmpp_stream_error_t *se, void *arg)
{
    struct zw *z = arg;
    (void)se;
    if (status == XMPP_CONN_CONNECT) {
        xmpp_handler_add(conn, msg_handler, NULL, "message", NULL, z);
        z->online = 1;
        printf("zerowork: component %s online\n", z->domain);
        fflush(stdout);
        return;
    }
    fprintf(stderr, "zerowork: link down (%d)\n", error);
    exit(1);
}

/* Same workaround as gateway/io/xmpp.c give_sm_state(): libstrophe 0.12.2 dereferences the
 * XEP-0198 state on every received stanza but allocates it only for client streams. */
static void give_sm_state(struct zw *z)
{
#if defined(LIBXMPP_VERSION_MAJOR) && LIBXMPP_VERSION_MAJOR == 0 && LIBXMPP_VERSION_MINOR == 12
    void **sm = calloc(1, 1024);
    if (!sm)
        return;
    sm[0] = z->ctx;
    if (xmpp_conn_set_sm_state(z->conn, (xmpp_sm_state_t *)sm) != XMPP_EOK)
        free(sm);
#else
    (void)z;
#endif
}

/* The value of "key":"..." in a flat JSON object, copied into out. */
static int jget(const char *js, const char *key, char *out, size_t outlen)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(js, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    const char *e = strchr(p, '"');
    if (!e || (size_t)(e - p) >= outlen)
        return -1;
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = 0;
    return 0;
}

static void close_conn(struct zw *z, int i)
{
    close(z->c[i]->fd);
    free(z->c[i]);
    z->c[i] = NULL;
}

/* A chat message from LOCAL@domain to JID; the HTTP status to answer with. */
static int send_chat(struct zw *z, const char *to, const char *from, const char *text)
{
    /* The same stanza the gateway sends a counsellor (gateway/desk/router.c gw_router_chat): an
     * id, the body, the seeker's nick (XEP-0172), origin-id (XEP-0359) and <active/>
     * (XEP-0085) -- the "emits the same messages"; only the work behind it is gone. */
    char out[4096];
    static unsigned long long seq;
    ++seq;
    int m = snprintf(out, sizeof out,
                     "<message type='chat' to='%s' id='zw-m%llu' from='%s@%s'><body>%s</body>"
                     "<nick xmlns='http://jabber.org/protocol/nick'>Seeker %s</nick>"
                     "<origin-id xmlns='urn:xmpp:sid:0' id='zw-m%llu'/>"
                     "<active xmlns='http://jabber.org/protocol/chatstates'/></message>",
                     to, seq, from, z->domain, text, from, seq);
    if (m <= 0 || (size_t)m >= sizeof out || !z->online)
        return 400;
    xmpp_send_raw(z->conn, out, (size_t)m);
    return 200;
}

static void on_http(struct zw *z, int i)
{
    struct hconn *h = z->c[i];
    ssize_t n = read(h->fd, h->buf + h->len, sizeof h->buf - 1 - h->len);
    if (n <= 0) {
        if (n < 0 && errno == EAGAIN)
            return;
        close_conn(z, i);
        return;
    }
    h->len += (size_t)n;
    h->buf[h->len] = 0;
    for (;;) {
        char *hdr_end = strstr(h->buf, "\r\n\r\n");
        if (!hdr_end)
            return;
        size_t hlen = (size_t)(hdr_end + 4 - h->buf), clen = 0;
        char *cl = strcasestr(h->buf, "Content-Length:");
        if (cl && cl < hdr_end)
            clen = strtoul(cl + 15, NULL, 10);
        if (h->len < hlen + clen)
            return;
        int kind = !strncmp(h->buf, "GET /loopback/events", 20)  ? 1
                   : !strncmp(h->buf, "GET /webchat/events", 19) ? 2
                                                                 : 0;
        if (kind) { /* an event stream from now on: JSON lines (1) or Server-Sent Events (2) */
            const char *ok = kind == 1 ? "HTTP/1.0 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n"
                                       : "HTTP/1.0 200 OK\r\nContent-Type: text/event-stream\r\n\r\n";
            h->events = kind;
            h->len = 0;
            if (write(h->fd, ok, strlen(ok)) < 0)
                close_conn(z, i);
            return;
        }
        char body[4096], to[256], from[256], text[2048];
        snprintf(body, sizeof body, "%.*s", (int)clen, h->buf + hlen);
        int status = 400;
        const char *rbody = "{}";
        if (!strncmp(h->buf, "POST /webchat/session", 21)) {
            status = 201;
            rbody = "{\"token\":\"zw\"}";
        } else if (!strncmp(h->buf, "POST /webchat/message?", 22)) {
            /* to and from in the query: the reference does no routing */
            char *q = h->buf + 22, *sp = strchr(q, ' '), *amp = strchr(q, '&');
            if (sp && amp && amp < sp && !strncmp(q, "to=", 3) && !strncmp(amp, "&from=", 6) &&
                !jget(body, "text", text, sizeof text)) {
                snprintf(to, sizeof to, "%.*s", (int)(amp - q - 3), q + 3);
                snprintf(from, sizeof from, "%.*s", (int)(sp - amp - 6), amp + 6);
                status = send_chat(z, to, from, text);
            }
        } else if (!jget(body, "to", to, sizeof to) && !jget(body, "body", text, sizeof text)) {
            if (jget(body, "from", from, sizeof from))
                snprintf(from, sizeof from, "zw");
            status = send_chat(z, to, from, text);
        }
        char resp[256];
        int rl = snprintf(resp, sizeof resp, "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\n\r\n%s",
                          status, status == 200 ? "OK" : status == 201 ? "Created" : "Bad Request",
                          strlen(rbody), rbody);
        if (write(h->fd, resp, (size_t)rl) < 0) {
            close_conn(z, i);
            return;
        }
        memmove(h->buf, h->buf + hlen + clen, h->len - hlen - clen + 1);
        h->len -= hlen + clen;
    }
}

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: zerowork HOST PORT DOMAIN SECRET HTTP_PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    static struct zw z;
    Z = &z;
    z.domain = argv[3];
    z.xfd = -1;
    z.ep = epoll_create1(0);
    xmpp_initialize();
    z.ctx = xmpp_ctx_new(NULL, NULL);
    z.conn = xmpp_conn_new(z.ctx);
    xmpp_conn_set_sockopt_callback(z.conn, sockopt_cb);
    xmpp_conn_set_flags(z.conn, XMPP_CONN_FLAG_DISABLE_SM);
    give_sm_state(&z);
    xmpp_conn_set_jid(z.conn, argv[3]);
    xmpp_conn_set_pass(z.conn, argv[4]);
    if (xmpp_connect_component(z.conn, argv[1], (unsigned short)atoi(argv[2]), conn_handler, &z) !=
        XMPP_EOK) {
        fprintf(stderr, "zerowork: connect failed\n");
        return 1;
    }
    z.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(z.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[5]))};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(z.lfd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(z.lfd, 128) < 0) {
        perror("zerowork: http listen");
        return 1;
    }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = z.lfd};
    epoll_ctl(z.ep, EPOLL_CTL_ADD, z.lfd, &ev);
    for (;;) {
        struct epoll_event evs[64];
        int timeout = z.online && xmpp_conn_send_queue_len(z.conn) == 0 ? 1000 : 1;
        int n = epoll_wait(z.ep, evs, 64, z.online ? timeout : 10);
        int drive = !z.online || n == 0;
        for (int k = 0; k < n; k++) {
            int fd = evs[k].data.fd;
            if (fd == z.xfd) {
                drive = 1;
            } else if (fd == z.lfd) {
                int cfd = accept4(z.lfd, NULL, NULL, SOCK_NONBLOCK);
                if (cfd < 0)
                    continue;
                setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                int slot = -1;
                for (int i = 0; i < MAXC && slot < 0; i++)
                    if (!z.c[i])
                        slot = i;
                if (slot < 0) {
                    close(cfd);
                    continue;
                }
                z.c[slot] = calloc(1, sizeof(struct hconn));
                z.c[slot]->fd = cfd;
                struct epoll_event ce = {.events = EPOLLIN, .data.fd = cfd};
                epoll_ctl(z.ep, EPOLL_CTL_ADD, cfd, &ce);
            } else {
                for (int i = 0; i < MAXC; i++)
                    if (z.c[i] && z.c[i]->fd == fd) {
                        on_http(&z, i);
                        break;
                    }
            }
        }
        /* As the gateway does: read when readable, and flush queued output every turn. */
        if (drive || xmpp_conn_send_queue_len(z.conn) > 0)
            xmpp_run_once(z.ctx, 0);
    }
}

/* xmpp.c — the XEP-0114 component link: connect, reconnect with backoff, send, ack barrier.
 *
 * libstrophe runs inside our epoll loop: its socket is captured in the sockopt callback
 * and xmpp_run_once(ctx, 0) is called when the socket is readable, when a connect
 * completes (writable), and at the end of a loop turn whenever output is queued. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "io/log.h"
#include "io/loop.h"
#include "host/plugin_api.h"
#include "io/xmpp.h"

#define NS_PING "urn:xmpp:ping"
#define NS_VERSION "jabber:iq:version"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

enum link_state { L_IDLE, L_CONNECTING, L_ONLINE, L_BACKOFF };

struct gw_xmpp {
    struct gw_loop *loop;
    xmpp_ctx_t *ctx;
    xmpp_conn_t *conn;
    xmpp_conn_t *dead; /* released at the next turn, never inside its own callback */
    char *host, *domain, *secret;
    int port, reconnect_max_s;
    struct gw_xmpp_handlers h;
    void *arg;
    enum link_state state;
    int fd;
    unsigned backoff_ms;
    uint64_t retry_timer;
    uint64_t barrier_seq;
    char statetxt[160];
    char reason[96];
    char *name, *version;
    int logged_down; /* log each state change once, not every retry */
    int closing;     /* gw_xmpp_free() runs: libstrophe's callbacks must not act */
    int draining;    /* gw_xmpp_close() waits for the server's end of the stream */
    int drained;     /* ... and the connection has ended: 1 by the server's close, -1 not */
};

static void connect_now(void *arg);
static int iq_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg);
static int msg_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg);
static int pres_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg);

static void strophe_log(void *arg, xmpp_log_level_t level, const char *area, const char *msg)
{
    (void)arg;
    /* libstrophe's own chatter (stanza dumps included) only at debug level. */
    if (level == XMPP_LEVEL_ERROR)
        gw_log(GW_LOG_WARN, "xmpp", "%s: %s", area, msg);
    else if (gw_log_level() >= GW_LOG_DEBUG && level >= XMPP_LEVEL_DEBUG)
        gw_log(GW_LOG_DEBUG, "xmpp", "%s: %s", area, msg);
}

static void drive(struct gw_xmpp *x)
{
    xmpp_run_once(x->ctx, 0);
}

static void on_fd(void *arg, int fd, unsigned events)
{
    (void)fd;
    (void)events;
    drive(arg);
}

/* End of every loop turn (and gw_xmpp_flush): push queued output, keep write interest only
 * while needed. */
static void end_of_turn(void *arg)
{
    struct gw_xmpp *x = arg;
    if (x->dead) {
        xmpp_conn_release(x->dead);
        x->dead = NULL;
    }
    if (!x->conn || x->fd < 0)
        return;
    if (xmpp_conn_send_queue_len(x->conn) > 0)
        drive(x);
    if (x->fd >= 0 && x->conn) {
        unsigned ev = GW_EV_READ;
        if (x->state == L_CONNECTING || xmpp_conn_send_queue_len(x->conn) > 0)
            ev |= GW_EV_WRITE;
        gw_loop_fd_mod(x->loop, x->fd, ev);
    }
}

/* libstrophe 0.12 gives the sockopt callback no user pointer.  It is called synchronously
 * from inside xmpp_connect_component(), so the link being connected is handed over in this
 * variable for exactly the duration of that call (single thread). */
static struct gw_xmpp *connecting_link;

static int sockopt_cb(xmpp_conn_t *conn, void *sockp)
{
    (void)conn;
    struct gw_xmpp *x = connecting_link;
    if (!x)
        return 0;
    int fd = *(int *)sockp;
    int one = 1;
    /* Nagle would hold a chat message for a delayed ACK (~40 ms): off. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    x->fd = fd;
    gw_loop_fd_add(x->loop, fd, GW_EV_READ | GW_EV_WRITE, on_fd, x);
    return 0;
}

static void set_state(struct gw_xmpp *x, enum link_state s, const char *why)
{
    x->state = s;
    switch (s) {
    case L_ONLINE:
        snprintf(x->statetxt, sizeof x->statetxt, "online");
        break;
    case L_CONNECTING:
        snprintf(x->statetxt, sizeof x->statetxt, "connecting");
        break;
    case L_BACKOFF:
        snprintf(x->statetxt, sizeof x->statetxt, "offline, retry in %ums: %s", x->backoff_ms,
                 why ? why : "");
        break;
    default:
        snprintf(x->statetxt, sizeof x->statetxt, "idle");
        break;
    }
}

static void schedule_retry(struct gw_xmpp *x, const char *why)
{
    unsigned cap = (unsigned)x->reconnect_max_s * 1000u;
    if (x->backoff_ms == 0)
        x->backoff_ms = 250;
    else if (x->backoff_ms < cap)
        x->backoff_ms = x->backoff_ms * 2 > cap ? cap : x->backoff_ms * 2;
    /* Full jitter on the upper half so many gateways do not reconnect in lock-step. */
    unsigned r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = (unsigned)x->barrier_seq * 2654435761u;
    unsigned wait = x->backoff_ms / 2 + (x->backoff_ms / 2 ? r % (x->backoff_ms / 2 + 1) : 0);
    set_state(x, L_BACKOFF, why);
    if (!x->logged_down) {
        gw_log(GW_LOG_WARN, "xmpp", "link to %s:%d down (%s); retrying with backoff up to %ds",
               x->host, x->port, why, x->reconnect_max_s);
        x->logged_down = 1;
    } else {
        gw_log(GW_LOG_DEBUG, "xmpp", "reconnect in %u ms (%s)", wait, why);
    }
    x->retry_timer = gw_loop_timer_add(x->loop, wait, connect_now, x);
}

static const char *stream_error_text(xmpp_stream_error_t *se)
{
    if (!se)
        return NULL;
    switch (se->type) {
    case XMPP_SE_NOT_AUTHORIZED:
        return "handshake refused: not-authorized (wrong secret?)";
    case XMPP_SE_HOST_UNKNOWN:
        return "host-unknown (is the component domain configured?)";
    case XMPP_SE_CONFLICT:
        return "conflict (another component holds this domain)";
    case XMPP_SE_XML_NOT_WELL_FORMED:
        return "server said not-well-formed";
    default:
        return "stream error";
    }
}

/* The connection is gone (closed, reset, or drained at a clean stop): stop watching its
 * socket and keep it for release outside libstrophe's callback. */
static void forget_conn(struct gw_xmpp *x, xmpp_conn_t *conn)
{
    if (x->fd >= 0)
        gw_loop_fd_del(x->loop, x->fd);
    x->fd = -1;
    if (conn == x->conn) {
        x->dead = conn;
        x->conn = NULL;
    }
}

static void conn_handler(xmpp_conn_t *conn, xmpp_conn_event_t status, int error,
                         xmpp_stream_error_t *stream_error, void *arg)
{
    struct gw_xmpp *x = arg;
    if (x->closing)
        return; /* xmpp_conn_release() reports the disconnect it causes */
    if (x->draining) {
        if (status == XMPP_CONN_CONNECT)
            return;
        /* error 0: the server's </stream:stream> (libstrophe's own 2 s cleanup comes after
         * gw_xmpp_close() has stopped waiting); otherwise a reset or a read error. */
        x->drained = error ? -1 : 1;
        forget_conn(x, conn);
        return;
    }
    if (status == XMPP_CONN_CONNECT) {
        /* Handlers are added once the stream is up, as libstrophe's own examples do. */
        xmpp_handler_add(conn, iq_handler, NULL, "iq", NULL, x);
        xmpp_handler_add(conn, msg_handler, NULL, "message", NULL, x);
        xmpp_handler_add(conn, pres_handler, NULL, "presence", NULL, x);
        x->backoff_ms = 0;
        x->logged_down = 0;
        set_state(x, L_ONLINE, NULL);
        gw_log(GW_LOG_INFO, "xmpp", "component %s online via %s:%d", x->domain, x->host, x->port);
        if (x->h.online)
            x->h.online(x->arg);
        return;
    }
    int was_online = x->state == L_ONLINE;
    const char *why = stream_error_text(stream_error);
    snprintf(x->reason, sizeof x->reason, "%s", why ? why : error ? strerror(error) : "closed");
    forget_conn(x, conn);
    if (was_online) {
        x->logged_down = 0;
        if (x->h.offline)
            x->h.offline(x->arg);
    }
    if (stream_error && stream_error->type == XMPP_SE_NOT_AUTHORIZED)
        gw_log(GW_LOG_ERROR, "xmpp", "%s", x->reason);
    schedule_retry(x, x->reason);
}

static xmpp_stanza_t *reply_iq(struct gw_xmpp *x, xmpp_stanza_t *iq, const char *type)
{
    xmpp_stanza_t *r = xmpp_iq_new(x->ctx, type, xmpp_stanza_get_id(iq));
    const char *from = xmpp_stanza_get_from(iq), *to = xmpp_stanza_get_to(iq);
    if (from)
        xmpp_stanza_set_to(r, from);
    if (to)
        xmpp_stanza_set_from(r, to);
    return r;
}

void gw_xmpp_iq_error(struct gw_xmpp *x, xmpp_stanza_t *iq, const char *type, const char *condition)
{
    gw_xmpp_stanza_error(x, iq, type, condition, NULL);
}

void gw_xmpp_stanza_error(struct gw_xmpp *x, xmpp_stanza_t *st, const char *type,
                          const char *condition, const char *text)
{
    const char *stype = xmpp_stanza_get_type(st);
    if (stype && strcmp(stype, "error") == 0)
        return; /* never answer an error with an error */
    xmpp_stanza_t *r = xmpp_stanza_new(x->ctx);
    xmpp_stanza_set_name(r, xmpp_stanza_get_name(st));
    xmpp_stanza_set_type(r, "error");
    if (xmpp_stanza_get_id(st))
        xmpp_stanza_set_id(r, xmpp_stanza_get_id(st));
    if (xmpp_stanza_get_from(st))
        xmpp_stanza_set_to(r, xmpp_stanza_get_from(st));
    if (xmpp_stanza_get_to(st))
        xmpp_stanza_set_from(r, xmpp_stanza_get_to(st));
    xmpp_stanza_t *e = xmpp_stanza_new(x->ctx);
    xmpp_stanza_set_name(e, "error");
    xmpp_stanza_set_type(e, type);
    xmpp_stanza_t *c = xmpp_stanza_new(x->ctx);
    xmpp_stanza_set_name(c, condition);
    xmpp_stanza_set_ns(c, NS_STANZAS);
    xmpp_stanza_add_child_ex(e, c, 0);
    if (text) {
        xmpp_stanza_t *t = xmpp_stanza_new(x->ctx), *tx = xmpp_stanza_new(x->ctx);
        xmpp_stanza_set_name(t, "text");
        xmpp_stanza_set_ns(t, NS_STANZAS);
        xmpp_stanza_set_text(tx, text);
        xmpp_stanza_add_child_ex(t, tx, 0);
        xmpp_stanza_add_child_ex(e, t, 0);
    }
    xmpp_stanza_add_child_ex(r, e, 0);
    gw_xmpp_send(x, r);
    xmpp_stanza_release(r);
}

static int iq_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
    (void)conn;
    struct gw_xmpp *x = arg;
    const char *type = xmpp_stanza_get_type(st);
    const char *id = xmpp_stanza_get_id(st);
    const char *from = xmpp_stanza_get_from(st);
    if (!type)
        return 1;
    /* Our own ack barrier, routed back to us by the server. */
    if (id && strncmp(id, "gw-ack-", 7) == 0 && from && strcmp(from, x->domain) == 0) {
        if (strcmp(type, "get") == 0 && x->h.acked)
            x->h.acked(x->arg, strtoull(id + 7, NULL, 10));
        return 1;
    }
    if (strcmp(type, "result") == 0 || strcmp(type, "error") == 0) {
        if (x->h.iq) /* answers to our own requests (federation); never answered back */
            x->h.iq(x->arg, st);
        return 1;
    }
    xmpp_stanza_t *child = xmpp_stanza_get_children(st);
    while (child && !xmpp_stanza_is_tag(child))
        child = xmpp_stanza_get_next(child);
    const char *ns = child ? xmpp_stanza_get_ns(child) : NULL;
    if (strcmp(type, "get") == 0 && ns && strcmp(ns, NS_PING) == 0) {
        xmpp_stanza_t *r = reply_iq(x, st, "result");
        gw_xmpp_send(x, r);
        xmpp_stanza_release(r);
        return 1;
    }
    if (strcmp(type, "get") == 0 && ns && strcmp(ns, NS_VERSION) == 0) {
        xmpp_stanza_t *r = reply_iq(x, st, "result");
        xmpp_stanza_t *q = xmpp_stanza_new(x->ctx);
        xmpp_stanza_set_name(q, "query");
        xmpp_stanza_set_ns(q, NS_VERSION);
        const char *names[] = {"name", "version"};
        const char *vals[] = {x->name ? x->name : "Skagerrak", x->version ? x->version : "0"};
        for (int i = 0; i < 2; i++) {
            xmpp_stanza_t *e = xmpp_stanza_new(x->ctx), *t = xmpp_stanza_new(x->ctx);
            xmpp_stanza_set_name(e, names[i]);
            xmpp_stanza_set_text(t, vals[i]);
            xmpp_stanza_add_child_ex(e, t, 0);
            xmpp_stanza_add_child_ex(q, e, 0);
        }
        xmpp_stanza_add_child_ex(r, q, 0);
        gw_xmpp_send(x, r);
        xmpp_stanza_release(r);
        return 1;
    }
    if (x->h.iq && x->h.iq(x->arg, st))
        return 1;
    /* RFC 6120 8.4: an IQ nobody understands gets service-unavailable. */
    gw_xmpp_iq_error(x, st, "cancel", "service-unavailable");
    return 1;
}

static int msg_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
    (void)conn;
    struct gw_xmpp *x = arg;
    if (x->h.message)
        x->h.message(x->arg, st);
    return 1;
}

static int pres_handler(xmpp_conn_t *conn, xmpp_stanza_t *st, void *arg)
{
    (void)conn;
    struct gw_xmpp *x = arg;
    if (x->h.presence)
        x->h.presence(x->arg, st);
    return 1;
}

/* libstrophe 0.12 reads the XEP-0198 state (conn->sm_state->sm_enabled) for every stanza it
 * receives, but allocates that state only in xmpp_connect_client(): on a component stream
 * the first stanza dereferences NULL (seen with Debian 12's 0.12.2).  We hand the
 * connection a zeroed state block whose first member is the context, as libstrophe's own
 * allocation does, so "stream management off" reads as 0 and libstrophe can free it
 * itself.  The block is larger than the real struct (about 100 bytes in 0.12). */
static void give_sm_state(struct gw_xmpp *x)
{
#if defined(LIBXMPP_VERSION_MAJOR) && LIBXMPP_VERSION_MAJOR == 0 && LIBXMPP_VERSION_MINOR == 12
    void **sm = calloc(1, 1024);
    if (!sm)
        return;
    sm[0] = x->ctx;
    if (xmpp_conn_set_sm_state(x->conn, (xmpp_sm_state_t *)sm) != XMPP_EOK)
        free(sm);
#else
    (void)x;
#endif
}

static void connect_now(void *arg)
{
    struct gw_xmpp *x = arg;
    x->retry_timer = 0;
    if (x->dead) {
        xmpp_conn_release(x->dead);
        x->dead = NULL;
    }
    x->conn = xmpp_conn_new(x->ctx);
    if (!x->conn) {
        schedule_retry(x, "out of memory");
        return;
    }
    xmpp_conn_set_sockopt_callback(x->conn, sockopt_cb);
    xmpp_conn_set_flags(x->conn, XMPP_CONN_FLAG_DISABLE_SM);
    give_sm_state(x);
    xmpp_conn_set_jid(x->conn, x->domain);
    xmpp_conn_set_pass(x->conn, x->secret);
    set_state(x, L_CONNECTING, NULL);
    connecting_link = x;
    int rc = xmpp_connect_component(x->conn, x->host, (unsigned short)x->port, conn_handler, x);
    connecting_link = NULL;
    if (rc != XMPP_EOK) {
        x->dead = x->conn;
        x->conn = NULL;
        if (x->fd >= 0)
            gw_loop_fd_del(x->loop, x->fd);
        x->fd = -1;
        schedule_retry(x, "connect failed");
    }
}

struct gw_xmpp *gw_xmpp_new(struct gw_loop *loop, const struct gw_xmpp_conf *conf,
                            const struct gw_xmpp_handlers *h, void *arg)
{
    struct gw_xmpp *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    static const xmpp_log_t logger = {strophe_log, NULL};
    xmpp_initialize();
    x->loop = loop;
    /* libstrophe formats every log line (a copy of every stanza sent, "SENT: ...") before a
     * custom handler can drop it; only its own default logger is filtered by level first.
     * So below debug level its warnings and errors go to stderr in its own format (the
     * journal under systemd) and no stanza is formatted for nothing: ~20 % of the time a
     * bridged message spends in the gateway.  At debug level our handler gets it all. */
    x->ctx = xmpp_ctx_new(NULL, gw_log_level() >= GW_LOG_DEBUG
                                    ? &logger
                                    : xmpp_get_default_logger(XMPP_LEVEL_WARN));
    x->host = strdup(conf->host);
    x->domain = strdup(conf->domain);
    x->secret = strdup(conf->secret);
    x->port = conf->port;
    x->reconnect_max_s = conf->reconnect_max_s > 0 ? conf->reconnect_max_s : 60;
    x->h = *h;
    x->arg = arg;
    x->fd = -1;
    if (!x->ctx || !x->host || !x->domain || !x->secret ||
        gw_loop_hook_add(loop, end_of_turn, x) < 0) {
        gw_xmpp_free(&x);
        return NULL;
    }
    set_state(x, L_IDLE, NULL);
    return x;
}

int gw_xmpp_start(struct gw_xmpp *x)
{
    connect_now(x);
    return GW_OK;
}

#define CLOSE_WAIT_MS 1500

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int gw_xmpp_close(struct gw_xmpp *x)
{
    if (!x || !x->conn || x->state != L_ONLINE)
        return -1;
    /* Offline from here: handlers that answer (errors, results) send nothing after our
     * </stream:stream>; what they store waits in the outbox for the next start. */
    set_state(x, L_IDLE, NULL);
    snprintf(x->statetxt, sizeof x->statetxt, "closing");
    x->draining = 1;
    x->drained = 0;
    xmpp_disconnect(x->conn);
    int64_t deadline = mono_ms() + CLOSE_WAIT_MS;
    while (!x->drained && x->conn && mono_ms() < deadline)
        xmpp_run_once(x->ctx, 50);
    x->draining = 0;
    if (x->drained == 1)
        gw_log(GW_LOG_INFO, "xmpp", "stream closed by both sides");
    else
        gw_log(GW_LOG_WARN, "xmpp", "the server did not close the stream in time (%s)",
               x->drained ? "connection broke" : "no answer");
    return x->drained == 1;
}

void gw_xmpp_free(struct gw_xmpp **xp)
{
    struct gw_xmpp *x = xp ? *xp : NULL;
    if (!x)
        return;
    if (x->retry_timer)
        gw_loop_timer_cancel(x->loop, x->retry_timer);
    if (x->conn) {
        if (x->state == L_ONLINE) {
            xmpp_disconnect(x->conn);
            /* Let libstrophe write </stream:stream> before the socket goes. */
            for (int i = 0; i < 3 && x->conn && xmpp_conn_send_queue_len(x->conn) > 0; i++)
                xmpp_run_once(x->ctx, 10);
        }
        x->h.offline = NULL;
        x->closing = 1;
        x->h.online = NULL;
        if (x->fd >= 0)
            gw_loop_fd_del(x->loop, x->fd);
        if (x->conn)
            xmpp_conn_release(x->conn);
    }
    x->closing = 1;
    if (x->dead)
        xmpp_conn_release(x->dead);
    if (x->ctx)
        xmpp_ctx_free(x->ctx);
    if (x->secret)
        explicit_bzero(x->secret, strlen(x->secret));
    free(x->host);
    free(x->domain);
    free(x->secret);
    free(x->name);
    free(x->version);
    free(x);
    *xp = NULL;
}

int gw_xmpp_online(const struct gw_xmpp *x)
{
    return x && x->state == L_ONLINE;
}
xmpp_ctx_t *gw_xmpp_ctx(struct gw_xmpp *x)
{
    return x->ctx;
}
const char *gw_xmpp_domain(const struct gw_xmpp *x)
{
    return x->domain;
}
const char *gw_xmpp_state(const struct gw_xmpp *x)
{
    return x->statetxt;
}
uint64_t gw_xmpp_barriers(const struct gw_xmpp *x)
{
    return x->barrier_seq;
}

int gw_xmpp_send(struct gw_xmpp *x, xmpp_stanza_t *st)
{
    if (!gw_xmpp_online(x))
        return GW_EAGAIN;
    /* Not xmpp_send(): in libstrophe 0.12.2 it dereferences the stream-management state,
     * which component connections do not have (NULL -> crash).  The raw path does not. */
    char *buf = NULL;
    size_t len = 0;
    if (xmpp_stanza_to_text(st, &buf, &len) != XMPP_EOK)
        return GW_ENOMEM;
    xmpp_send_raw(x->conn, buf, len);
    xmpp_free(x->ctx, buf);
    return GW_OK;
}

void gw_xmpp_flush(struct gw_xmpp *x)
{
    if (x)
        end_of_turn(x);
}

int gw_xmpp_send_raw(struct gw_xmpp *x, const char *xml, size_t len)
{
    if (!gw_xmpp_online(x))
        return GW_EAGAIN;
    xmpp_send_raw(x->conn, xml, len);
    return GW_OK;
}

uint64_t gw_xmpp_barrier(struct gw_xmpp *x)
{
    if (!gw_xmpp_online(x))
        return 0;
    uint64_t seq = ++x->barrier_seq;
    char ping[256];
    int n = snprintf(ping, sizeof ping,
                     "<iq type='get' id='gw-ack-%llu' from='%s' to='%s'>"
                     "<ping xmlns='" NS_PING "'/></iq>",
                     (unsigned long long)seq, x->domain, x->domain);
    if (n < 0 || (size_t)n >= sizeof ping)
        return 0;
    xmpp_send_raw(x->conn, ping, (size_t)n); /* NUL-terminated: see the header */
    return seq;
}

void gw_xmpp_set_identity(struct gw_xmpp *x, const char *name, const char *version)
{
    free(x->name);
    free(x->version);
    x->name = name ? strdup(name) : NULL;
    x->version = version ? strdup(version) : NULL;
}

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid; *cp gets the code point. */
static int utf8_seq(const unsigned char *p, unsigned *cp)
{
    if (p[0] < 0x80) {
        *cp = p[0];
        return 1;
    }
    int n = (p[0] & 0xE0) == 0xC0 ? 2 : (p[0] & 0xF0) == 0xE0 ? 3 : (p[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (!n)
        return 0;
    unsigned c = p[0] & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3F);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    *cp = c;
    return n;
}

char *gw_xml_safe(const char *in, size_t max)
{
    size_t len = in ? strlen(in) : 0;
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)(in ? in : "");
    while (*p) {
        unsigned cp;
        int n = utf8_seq(p, &cp);
        if (!n) { /* invalid byte: drop it */
            p++;
            continue;
        }
        int ok = cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
                 (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
        if (ok) {
            if (o + (size_t)n > max)
                break;
            memcpy(out + o, p, (size_t)n);
            o += (size_t)n;
        }
        p += n;
    }
    out[o] = 0;
    return out;
}

char *gw_xml_escape(char *out, const char *in)
{
    for (const char *p = in; *p; p++) {
        switch (*p) {
        case '&': out = stpcpy(out, "&amp;"); break;
        case '<': out = stpcpy(out, "&lt;"); break;
        case '>': out = stpcpy(out, "&gt;"); break;
        case '"': out = stpcpy(out, "&quot;"); break;
        case '\'': out = stpcpy(out, "&apos;"); break;
        default: *out++ = *p;
        }
    }
    *out = 0;
    return out;
}

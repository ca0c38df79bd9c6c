/* http.c — libmicrohttpd (external epoll mode) on the core loop: routing, request bodies and
 * accessors, the MHD callbacks.  Responses and held answers: http_answer.c; SSE streams:
 * http_stream.c. */
#include "io/http.h"
#include "io/http_int.h"
#include "io/loop.h" /* after plugin_api.h (via http.h): see http.h */

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define DEF_MAX_BODY (1024u * 1024u)
#define DEF_MAX_CONN 1024u
#define DEF_TIMEOUT_S 60u
#define DEF_STREAM_BUF (256u * 1024u)
#define DEF_CONN_MEMORY (8u * 1024u)

/* ---- logging ---- */

static void default_log(void *arg, int level, const char *msg)
{
    (void)arg;
    if (level >= GW_LOG_DEBUG)
        return;
    static const char *const names[] = {"error", "warn", "info", "debug"};
    fprintf(stderr, "http: %s: %s\n", level >= 0 && level <= 3 ? names[level] : "?", msg);
}

void gw_http_i_hlog(struct gw_http *h, int level, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    h->log(h->log_arg, level, buf);
}

static void mhd_log(void *cls, const char *fm, va_list ap)
{
    struct gw_http *h = cls;
    char buf[512];
    vsnprintf(buf, sizeof(buf), fm, ap);
    size_t n = strlen(buf);
    while (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    if (h->start_err) {
        snprintf(h->start_err, h->start_errlen, "%s", buf);
        return;
    }
    /* Clients leaving are routine with thousands of streams: our reader ends a stream with
     * an "application error" exactly when its client is gone. */
    int level = GW_LOG_WARN;
    if (strstr(buf, "application error generating response") || strstr(buf, "remote peer") ||
        strstr(buf, "onnection reset"))
        level = GW_LOG_DEBUG;
    h->log(h->log_arg, level, buf);
}

void gw_http_set_logger(struct gw_http *h, void (*log)(void *arg, int level, const char *msg),
                        void *arg)
{
    h->log = log ? log : default_log;
    h->log_arg = log ? arg : NULL;
}

/* ---- driving MHD from the loop ---- */

static void mhd_run(struct gw_http *h)
{
    MHD_run(h->d);
}

static void on_mhd_fd(void *arg, int fd, unsigned events)
{
    (void)fd;
    (void)events;
    mhd_run(arg);
}

static void on_mhd_timer(void *arg)
{
    struct gw_http *h = arg;
    h->timer_id = 0;
    mhd_run(h);
}

#define FLUSH_RUNS_MAX 64 /* MHD_run() calls per drain: up to 64 blocks per stream */

/* After resumes: one MHD_run() takes the resumed connections back, then MHD_run() again
 * while MHD asks for it at once (timeout 0).  A stream sends at most one block
 * (STREAM_BLOCK) per MHD_run(); without the repeat a burst left one block per loop turn, and
 * a client waiting for all of it (a browser replaying history, the benchmark's counsellors)
 * waited for the turns.  Bounded. */
static void mhd_drain(struct gw_http *h)
{
    MHD_run(h->d);
    for (int i = 0; i < FLUSH_RUNS_MAX; i++) {
        MHD_run(h->d);
        MHD_UNSIGNED_LONG_LONG t;
        if (MHD_get_timeout(h->d, &t) != MHD_YES || t > 0)
            break;
    }
}

/* MHD_resume_connection() does not wake an external-mode daemon (0.9.75 signals its
 * inter-thread channel only with internal threads): MHD_run() must follow, so resumes
 * schedule a drain, coalesced, within this turn (or gw_http_flush() runs it first). */
static void on_kick(void *arg)
{
    struct gw_http *h = arg;
    h->kick_id = 0;
    mhd_drain(h);
}

void gw_http_i_mhd_kick(struct gw_http *h)
{
    if (!h->kick_id)
        h->kick_id = gw_loop_timer_add(h->loop, 0, on_kick, h);
}

/* Before each wait: MHD says when it next needs MHD_run() even without socket activity
 * (connection timeouts, data already pending).  It must then run inside the turn's dispatch
 * (so end-of-turn hooks see what handlers did), hence a loop timer rather than running it
 * here; the answer is returned as well so the loop never oversleeps. */
static long mhd_timeout_hook(void *arg)
{
    struct gw_http *h = arg;
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(h->d, &t) != MHD_YES) {
        if (h->timer_id) {
            gw_loop_timer_cancel(h->loop, h->timer_id);
            h->timer_id = 0;
        }
        return -1;
    }
    if (t > (MHD_UNSIGNED_LONG_LONG)INT32_MAX)
        t = INT32_MAX;
    uint64_t deadline = gw_loop_mono_ms() + t;
    if (!h->timer_id || deadline != h->timer_deadline) {
        if (h->timer_id)
            gw_loop_timer_cancel(h->loop, h->timer_id);
        h->timer_id = gw_loop_timer_add(h->loop, t, on_mhd_timer, h);
        h->timer_deadline = deadline;
    }
    return (long)t;
}

/* ---- routes ---- */

static struct owner *owner_get(struct gw_http *h, const char *name, bool create)
{
    struct owner *o;
    TAILQ_FOREACH(o, &h->owners, entry)
    if ((!name && !o->name) || (name && o->name && strcmp(name, o->name) == 0))
        return o;
    if (!create)
        return NULL;
    o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    if (name && !(o->name = strdup(name))) {
        free(o);
        return NULL;
    }
    o->mount_len = name ? strlen(name) + 1 : 0;
    TAILQ_INIT(&o->streams);
    TAILQ_INSERT_TAIL(&h->owners, o, entry);
    return o;
}

static bool valid_owner(const char *name)
{
    if (!*name)
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.'))
            return false;
    return strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int gw_http_route(struct gw_http *h, const char *owner, const char *method, const char *path,
                  gw_http_handler fn, void *arg)
{
    if (!h || !path || path[0] != '/' || !fn || (owner && !valid_owner(owner)))
        return GW_EINVAL;
    size_t len = strlen(path);
    bool prefix = len > 0 && path[len - 1] == '*';
    if (prefix)
        len--;
    if (memchr(path, '*', len))
        return GW_EINVAL;
    char full[1024];
    int n = snprintf(full, sizeof(full), "%s%s%.*s", owner ? "/" : "", owner ? owner : "", (int)len,
                     path);
    if (n < 0 || (size_t)n >= sizeof(full))
        return GW_EINVAL;
    struct route *r;
    TAILQ_FOREACH(r, &h->routes, entry)
    {
        if (r->prefix == prefix && strcmp(r->pattern, full) == 0 &&
            ((!r->method && !method) || (r->method && method && strcmp(r->method, method) == 0)))
            return GW_EDUP;
    }
    struct owner *o = owner_get(h, owner, true);
    if (!o || !(r = calloc(1, sizeof(*r))))
        return GW_ENOMEM;
    r->pattern = strdup(full);
    r->method = method ? strdup(method) : NULL;
    if (!r->pattern || (method && !r->method)) {
        free(r->pattern);
        free(r->method);
        free(r);
        return GW_ENOMEM;
    }
    r->owner = o;
    r->plen = (size_t)n;
    r->prefix = prefix;
    r->fn = fn;
    r->arg = arg;
    TAILQ_INSERT_TAIL(&h->routes, r, entry);
    return GW_OK;
}

static void route_free(struct route *r)
{
    free(r->pattern);
    free(r->method);
    free(r);
}

/* The longest pattern matching `path`; an exact pattern beats a prefix of equal length.
 * *matched says whether any route matched the path at all (for 404 vs 405). */
static struct route *route_find(struct gw_http *h, const char *path, const char *method,
                                char *allow, size_t allowlen, bool *matched)
{
    size_t plen = strlen(path), best_len = 0;
    bool best_exact = false, found = false;
    struct route *r, *hit = NULL;
    /* First pass: the best pattern. */
    TAILQ_FOREACH(r, &h->routes, entry)
    {
        bool ok = r->prefix ? strncmp(path, r->pattern, r->plen) == 0
                            : (plen == r->plen && strcmp(path, r->pattern) == 0);
        if (!ok)
            continue;
        if (!found || r->plen > best_len || (r->plen == best_len && !r->prefix && !best_exact)) {
            found = true;
            best_len = r->plen;
            best_exact = !r->prefix;
        }
    }
    *matched = found;
    if (allowlen)
        allow[0] = '\0';
    if (!found)
        return NULL;
    /* Second pass: among routes with that pattern, the one taking the method. */
    size_t used = 0;
    TAILQ_FOREACH(r, &h->routes, entry)
    {
        if (r->plen != best_len || r->prefix == best_exact ||
            strncmp(path, r->pattern, r->plen) != 0)
            continue;
        if (!r->method || strcmp(r->method, method) == 0) {
            if (!hit || (hit->method == NULL && r->method)) /* a named method beats "any" */
                hit = r;
        } else if (allowlen) {
            int n = snprintf(allow + used, allowlen - used, "%s%s", used ? ", " : "", r->method);
            if (n > 0 && (size_t)n < allowlen - used)
                used += (size_t)n;
        }
    }
    return hit;
}

void gw_http_unroute_owner(struct gw_http *h, const char *owner)
{
    if (!h)
        return;
    struct route *r, *next;
    for (r = TAILQ_FIRST(&h->routes); r; r = next) {
        next = TAILQ_NEXT(r, entry);
        if ((!owner && !r->owner->name) ||
            (owner && r->owner->name && strcmp(owner, r->owner->name) == 0)) {
            TAILQ_REMOVE(&h->routes, r, entry);
            route_free(r);
        }
    }
    struct owner *o = owner_get(h, owner, false);
    if (!o)
        return;
    struct gw_http_stream *s;
    while ((s = TAILQ_FIRST(&o->streams)))
        gw_http_stream_close(s); /* takes s off the list */
}

void gw_http_flush(struct gw_http *h)
{
    if (!h || !h->kick_id)
        return;
    gw_loop_timer_cancel(h->loop, h->kick_id);
    on_kick(h);
}

/* ---- request accessors ---- */

const char *gw_http_req_method(struct gw_http_req *r)
{
    return r->method;
}

const char *gw_http_req_path(struct gw_http_req *r)
{
    return r->url + r->mount_len;
}

const char *gw_http_req_header(struct gw_http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *gw_http_req_query(struct gw_http_req *r, const char *name)
{
    const char *v = NULL;
    size_t vlen = 0;
    if (MHD_lookup_connection_value_n(r->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &vlen) != MHD_YES)
        return NULL;
    return v ? v : "";
}

const char *gw_http_req_body(struct gw_http_req *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body ? r->body : "";
}

const char *gw_http_req_peer(struct gw_http_req *r)
{
    if (r->peer)
        return r->peer;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    char buf[INET6_ADDRSTRLEN] = "";
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        if (sa->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, buf,
                      sizeof(buf));
        else if (sa->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, buf,
                      sizeof(buf));
    }
    r->peer = strdup(buf);
    return r->peer ? r->peer : "";
}

/* ---- MHD callbacks ---- */

/* 400 for targets we will not route: not absolute, control characters, dot segments. */
static bool path_ok(const char *p)
{
    if (p[0] != '/')
        return false;
    for (const char *q = p; *q; q++)
        if ((unsigned char)*q < 0x20 || *q == 0x7f)
            return false;
    for (const char *seg = p; seg; seg = strchr(seg + 1, '/')) {
        const char *s = seg + 1;
        size_t n = strcspn(s, "/");
        if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
    }
    return true;
}

static enum MHD_Result dispatch(struct gw_http_req *r)
{
    struct gw_http *h = r->h;
    char allow[256];
    bool matched;
    struct route *rt = route_find(h, r->url, r->method, allow, sizeof(allow), &matched);
    if (!rt)
        return gw_http_i_queue_plain(r, matched ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND,
                           matched ? allow : NULL);
    r->owner = rt->owner;
    r->mount_len = rt->owner->mount_len;
    r->in_handler = true;
    h->in_handler++;
    rt->fn(rt->arg, r); /* may free rt (unroute); do not touch it afterwards */
    h->in_handler--;
    r->in_handler = false;
    free(r->body); /* the body is only valid inside the handler: do not keep it per stream */
    r->body = NULL;
    r->body_len = r->body_cap = 0;
    if (!r->answered) {
        gw_http_i_hlog(h, GW_LOG_ERROR, "%s %s: handler did not answer", r->method, r->url);
        return gw_http_i_queue_plain(r, MHD_HTTP_INTERNAL_SERVER_ERROR, NULL);
    }
    return MHD_YES;
}

static bool body_append(struct gw_http_req *r, const char *data, size_t n)
{
    size_t max = r->h->max_body;
    if (n > max || r->body_len > max - n)
        return false;
    if (r->body_len + n + 1 > r->body_cap) {
        size_t cap = r->body_cap ? r->body_cap : 1024;
        while (cap < r->body_len + n + 1)
            cap *= 2;
        if (cap > max + 1)
            cap = max + 1;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return false;
        r->body = nb;
        r->body_cap = cap;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return true;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **req_cls)
{
    (void)version;
    struct gw_http *h = cls;
    struct gw_http_req *r = *req_cls;
    if (!r) { /* headers are in; decide early what we can */
        r = calloc(1, sizeof(*r));
        if (!r)
            return MHD_NO;
        r->h = h;
        r->conn = conn;
        r->url = url;
        r->method = method;
        *req_cls = r;
        if (!path_ok(url))
            return gw_http_i_queue_plain(r, MHD_HTTP_BAD_REQUEST, NULL);
        char allow[256];
        bool matched;
        if (!route_find(h, url, method, allow, sizeof(allow), &matched))
            return gw_http_i_queue_plain(r, matched ? MHD_HTTP_METHOD_NOT_ALLOWED : MHD_HTTP_NOT_FOUND,
                               matched ? allow : NULL);
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno || end == cl || *end)
                return gw_http_i_queue_plain(r, MHD_HTTP_BAD_REQUEST, NULL);
            if (v > h->max_body) /* before any byte is read (and before 100 Continue) */
                return gw_http_i_queue_plain(r, MHD_HTTP_CONTENT_TOO_LARGE, NULL);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!r->answered && !r->too_big && !body_append(r, upload, *upload_size)) {
            r->too_big = true; /* chunked upload over the limit: drop what we have */
            free(r->body);
            r->body = NULL;
            r->body_len = r->body_cap = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    if (r->held_status) { /* resumed after the commit: now the answer may go */
        struct MHD_Response *resp = r->held;
        unsigned status = r->held_status;
        r->held = NULL;
        r->held_status = 0;
        if (!resp)
            return MHD_NO; /* no memory for the 503: close, the client retries */
        enum MHD_Result ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    if (r->answered)
        return MHD_YES;
    if (r->too_big)
        return gw_http_i_queue_plain(r, MHD_HTTP_CONTENT_TOO_LARGE, NULL);
    return dispatch(r);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    struct gw_http_req *r = *req_cls;
    if (!r)
        return;
    *req_cls = NULL;
    struct gw_http_stream *s = r->stream;
    if (s) {
        gw_http_i_stream_unwatch(s); /* before MHD closes the socket and its number is reused */
        s->conn = NULL;
        s->suspended = false;
        gw_http_i_stream_deliver_closed(s);
        gw_http_i_stream_unref(s);
    }
    if (r->held)
        MHD_destroy_response(r->held);
    free(r->body);
    free(r->peer);
    free(r);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)cls;
    (void)socket_ctx;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci) {
        int one = 1; /* no Nagle delay on chat messages */
        setsockopt(ci->connect_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
}

/* ---- lifecycle ---- */

struct gw_http *gw_http_new(struct gw_loop *l, const char *addr, int port,
                            const struct gw_http_limits *lim, char *err, size_t errlen)
{
    struct gw_http_limits L = lim ? *lim : (struct gw_http_limits){0};
    if (!L.max_body)
        L.max_body = DEF_MAX_BODY;
    if (!L.max_connections)
        L.max_connections = DEF_MAX_CONN;
    if (!L.conn_timeout_s)
        L.conn_timeout_s = DEF_TIMEOUT_S;
    if (!L.max_stream_buffer)
        L.max_stream_buffer = DEF_STREAM_BUF;
    if (!L.conn_memory)
        L.conn_memory = DEF_CONN_MEMORY;
    if (port < 0 || port > 65535 || !addr) {
        snprintf(err, errlen, "http: bad listen address or port");
        return NULL;
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    unsigned flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)port);
    } else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        snprintf(err, errlen, "http: listen address '%s' is not an IP address", addr);
        return NULL;
    }
    struct gw_http *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "http: out of memory");
        return NULL;
    }
    h->loop = l;
    h->epfd = -1;
    h->max_body = L.max_body;
    h->max_stream_buf = L.max_stream_buffer;
    h->log = default_log;
    TAILQ_INIT(&h->routes);
    TAILQ_INIT(&h->owners);
    char why[256] = "";
    h->start_err = why;
    h->start_errlen = sizeof(why);
    h->d = MHD_start_daemon(
        flags, (uint16_t)port, NULL, NULL, on_access, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
        L.max_connections, MHD_OPTION_CONNECTION_TIMEOUT, L.conn_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, L.conn_memory, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, h, MHD_OPTION_NOTIFY_CONNECTION, on_connection, h, MHD_OPTION_END);
    h->start_err = NULL;
    if (!h->d) {
        snprintf(err, errlen, "http: cannot listen on %s:%d: %s", addr, port,
                 why[0] ? why : "libmicrohttpd refused to start");
        free(h);
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *pi = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = pi ? pi->port : port;
    int rc = di ? gw_loop_fd_add(l, di->epoll_fd, GW_EV_READ, on_mhd_fd, h) : -EINVAL;
    if (rc == 0 && (rc = gw_loop_timeout_hook_add(l, mhd_timeout_hook, h)) < 0)
        gw_loop_fd_del(l, di->epoll_fd);
    if (rc < 0) {
        snprintf(err, errlen, "http: cannot watch the server: %s", strerror(-rc));
        MHD_stop_daemon(h->d);
        free(h);
        return NULL;
    }
    h->epfd = di->epoll_fd;
    return h;
}

int gw_http_port(const struct gw_http *h)
{
    return h->port;
}

void gw_http_free(struct gw_http **hp)
{
    if (!hp || !*hp)
        return;
    struct gw_http *h = *hp;
    /* End every stream (closed callbacks run now) and resume the suspended ones: MHD must
     * not be stopped with suspended connections. */
    struct owner *o;
    TAILQ_FOREACH(o, &h->owners, entry)
    {
        struct gw_http_stream *s;
        while ((s = TAILQ_FIRST(&o->streams)))
            gw_http_stream_close(s);
    }
    /* Answers still kept back: the core released what it committed before freeing us. */
    gw_http_release(h, 0);
    gw_loop_fd_del(h->loop, h->epfd);
    gw_loop_timeout_hook_del(h->loop, mhd_timeout_hook, h);
    if (h->timer_id)
        gw_loop_timer_cancel(h->loop, h->timer_id);
    if (h->kick_id)
        gw_loop_timer_cancel(h->loop, h->kick_id);
    MHD_run(h->d); /* let resumed connections settle */
    MHD_stop_daemon(h->d);
    struct route *r;
    while ((r = TAILQ_FIRST(&h->routes))) {
        TAILQ_REMOVE(&h->routes, r, entry);
        route_free(r);
    }
    while ((o = TAILQ_FIRST(&h->owners))) {
        TAILQ_REMOVE(&h->owners, o, entry);
        free(o->name);
        free(o);
    }
    free(h->held);
    free(h);
    *hp = NULL;
}

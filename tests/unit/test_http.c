/* test_http.c — the HTTP server on a real loop, talked to by gw_fetch and raw sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/fetch.h"
#include "io/http.h"
#include "io/loop.h" /* after plugin_api.h: see http.h */

#define MAX_BODY 4096

struct env {
    struct gw_loop *l;
    struct gw_http *h;
    struct gw_fetch *f;
    int logged_errors;
};

static void quiet_log(void *arg, int level, const char *msg)
{
    (void)msg;
    struct env *e = arg;
    if (level == GW_LOG_ERROR)
        e->logged_errors++;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    e->l = gw_loop_new();
    char err[256];
    struct gw_http_limits lim = {.max_body = MAX_BODY, .max_connections = 20000,
                                 .max_stream_buffer = 64 * 1024};
    e->h = gw_http_new(e->l, "127.0.0.1", 0, &lim, err, sizeof(err));
    if (!e->h) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    gw_http_set_logger(e->h, quiet_log, e);
    e->f = gw_fetch_new(e->l);
    *state = e;
    return e->f ? 0 : -1;
}

static int teardown(void **state)
{
    struct env *e = *state;
    gw_fetch_free(&e->f);
    gw_http_free(&e->h);
    gw_loop_free(&e->l);
    free(e);
    return 0;
}

/* Run the loop until *flag becomes non-zero or ms elapse.  Returns the flag. */
static int run_until(struct env *e, const int *flag, uint64_t ms)
{
    uint64_t end = gw_loop_mono_ms() + ms;
    while (!*flag && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 20);
    return *flag;
}

/* ---- a client on gw_fetch ---- */

struct resp {
    long status;
    int code;
    int done;
    char *body;
    size_t len;
    char hdrs[4096];
    size_t hlen;
    const char *upload;
    size_t upload_len, upload_off;
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    r->body = realloc(r->body, r->len + sz * n + 1);
    memcpy(r->body + r->len, p, sz * n);
    r->len += sz * n;
    r->body[r->len] = '\0';
    return sz * n;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t k = sz * n;
    if (r->hlen + k < sizeof(r->hdrs)) {
        memcpy(r->hdrs + r->hlen, p, k);
        r->hlen += k;
        r->hdrs[r->hlen] = '\0';
    }
    return k;
}

static size_t on_read(char *p, size_t sz, size_t n, void *ud)
{
    struct resp *r = ud;
    size_t k = r->upload_len - r->upload_off;
    if (k > sz * n)
        k = sz * n;
    if (k > 100) /* several chunks */
        k = 100;
    memcpy(p, r->upload + r->upload_off, k);
    r->upload_off += k;
    return k;
}

static void on_done(void *arg, void *easy, int code)
{
    struct resp *r = arg;
    r->code = code;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(easy);
    r->done = 1;
}

enum { REQ_CHUNKED = 1, REQ_PATH_AS_IS = 2 };

static struct curl_slist *request_start(struct env *e, const char *method, const char *path,
                                        const char *body, size_t blen, const char *header,
                                        int opts, struct resp *r);

static void request(struct env *e, const char *method, const char *path, const char *body,
                    size_t blen, const char *header, int opts, struct resp *r)
{
    struct curl_slist *hl = request_start(e, method, path, body, blen, header, opts, r);
    assert_true(run_until(e, &r->done, 5000));
    curl_slist_free_all(hl);
}

/* Start a request; the caller runs the loop until r->done and frees the returned list. */
static struct curl_slist *request_start(struct env *e, const char *method, const char *path,
                                        const char *body, size_t blen, const char *header,
                                        int opts, struct resp *r)
{
    memset(r, 0, sizeof(*r));
    CURL *c = curl_easy_init();
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", gw_http_port(e->h), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (opts & REQ_PATH_AS_IS)
        curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    struct curl_slist *hl = NULL;
    if (header)
        hl = curl_slist_append(hl, header);
    if (body && (opts & REQ_CHUNKED)) {
        r->upload = body;
        r->upload_len = blen;
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, r);
        hl = curl_slist_append(hl, "Transfer-Encoding: chunked");
    } else if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    assert_int_equal(gw_fetch_add(e->f, c, on_done, r, NULL), GW_OK);
    return hl;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    r->body = NULL;
}

/* "\r\nName: value" present in the response head (name case-insensitive). */
static int has_header(const struct resp *r, const char *name, const char *value)
{
    char want[256];
    snprintf(want, sizeof(want), "%s: %s\r\n", name, value);
    for (const char *p = r->hdrs; (p = strstr(p, "\r\n")); p += 2)
        if (strncasecmp(p + 2, want, strlen(name) + 2) == 0 &&
            strncmp(p + 2 + strlen(name) + 2, value, strlen(value)) == 0 &&
            strncmp(p + 2 + strlen(name) + 2 + strlen(value), "\r\n", 2) == 0)
            return 1;
    return 0;
}

static int count_header(const struct resp *r, const char *name)
{
    int n = 0;
    for (const char *p = r->hdrs; (p = strstr(p, "\r\n")); p += 2)
        if (strncasecmp(p + 2, name, strlen(name)) == 0 && p[2 + strlen(name)] == ':')
            n++;
    return n;
}

/* ---- handlers ---- */

static int last_status = 0;

/* Describes the request back as text. */
static void h_echo(void *arg, struct gw_http_req *r)
{
    size_t blen;
    const char *body = gw_http_req_body(r, &blen);
    unsigned sum = 0;
    for (size_t i = 0; i < blen; i++)
        sum = sum * 31 + (unsigned char)body[i];
    const char *q = gw_http_req_query(r, "a"), *q2 = gw_http_req_query(r, "b"),
               *q3 = gw_http_req_query(r, "c"), *q4 = gw_http_req_query(r, "d"),
               *hd = gw_http_req_header(r, "x-foo");
    char out[1024];
    int n = snprintf(out, sizeof(out), "tag=%s method=%s path=%s a=%s b=%s c=%s d=%s x-foo=%s "
                     "peer=%s len=%zu sum=%u",
                     (const char *)arg, gw_http_req_method(r), gw_http_req_path(r),
                     q ? q : "(null)", q2 ? q2 : "(null)", q3 ? q3 : "(null)",
                     q4 ? q4 : "(null)", hd ? hd : "(null)", gw_http_req_peer(r), blen, sum);
    const char *hdrs[] = {"X-Test", "yes", NULL};
    last_status = gw_http_req_respond(r, 200, "text/plain", out, (size_t)n, hdrs);
    /* A second answer is refused. */
    assert_int_equal(gw_http_req_respond(r, 200, "text/plain", "x", 1, NULL), GW_EINVAL);
}

static void h_cached(void *arg, struct gw_http_req *r)
{
    (void)arg;
    const char *bad[] = {"X-Bad", "a\r\nSet-Cookie: x=y", NULL};
    last_status = gw_http_req_respond(r, 200, "text/plain", "x", 1, bad);
    const char *hdrs[] = {"cache-control", "max-age=60", NULL};
    assert_int_equal(gw_http_req_respond(r, 201, "text/plain", "cached", 6, hdrs), GW_OK);
}

static void h_silent(void *arg, struct gw_http_req *r)
{
    (void)arg;
    (void)r;
}

static int handled;
static void h_count(void *arg, struct gw_http_req *r)
{
    (void)arg;
    handled++;
    size_t blen;
    const char *body = gw_http_req_body(r, &blen);
    assert_int_equal(gw_http_req_respond(r, 202, "text/plain", body, blen, NULL), GW_OK);
}

static int hold_now;
static int hold_pred(void *arg)
{
    (void)arg;
    return hold_now;
}

/* ---- tests: plain requests ---- */

static void test_port_and_routes(void **state)
{
    struct env *e = *state;
    assert_true(gw_http_port(e->h) > 0);
    assert_int_equal(gw_http_route(e->h, NULL, "GET", "/health", h_echo, "core"), GW_OK);
    assert_int_equal(gw_http_route(e->h, "webchat", "GET", "/api/*", h_echo, "prefix"), GW_OK);
    assert_int_equal(gw_http_route(e->h, "webchat", "GET", "/api/events", h_echo, "exact"), GW_OK);
    assert_int_equal(gw_http_route(e->h, "webchat", NULL, "/api/x/*", h_echo, "longer"), GW_OK);
    assert_int_equal(gw_http_route(e->h, "webchat", "GET", "/api/events", h_echo, "x"), GW_EDUP);
    assert_int_equal(gw_http_route(e->h, "webchat", "GET", "no-slash", h_echo, "x"), GW_EINVAL);
    assert_int_equal(gw_http_route(e->h, "web/chat", "GET", "/a", h_echo, "x"), GW_EINVAL);
    assert_int_equal(gw_http_route(e->h, "webchat", "GET", "/a*b", h_echo, "x"), GW_EINVAL);

    struct resp r;
    request(e, "GET", "/health", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.code, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tag=core method=GET path=/health "));
    assert_non_null(strstr(r.body, "peer=127.0.0.1 "));
    resp_free(&r);

    request(e, "GET", "/webchat/api/events", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tag=exact method=GET path=/api/events "));
    resp_free(&r);

    request(e, "GET", "/webchat/api/other/thing", NULL, 0, NULL, 0, &r);
    assert_non_null(strstr(r.body, "tag=prefix method=GET path=/api/other/thing "));
    resp_free(&r);

    request(e, "DELETE", "/webchat/api/x/1", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "tag=longer method=DELETE path=/api/x/1 "));
    resp_free(&r);

    /* The prefix includes its own root: "/api/" but not "/api". */
    request(e, "GET", "/webchat/api/", NULL, 0, NULL, 0, &r);
    assert_non_null(strstr(r.body, "tag=prefix"));
    resp_free(&r);
    request(e, "GET", "/webchat/api", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

static void test_errors(void **state)
{
    struct env *e = *state;
    gw_http_route(e->h, NULL, "GET", "/health", h_echo, "core");
    gw_http_route(e->h, NULL, "HEAD", "/health", h_echo, "core");
    gw_http_route(e->h, NULL, "POST", "/silent", h_silent, NULL);
    struct resp r;

    request(e, "GET", "/nope", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    assert_true(has_header(&r, "X-Content-Type-Options", "nosniff"));
    resp_free(&r);

    request(e, "POST", "/health", "x", 1, NULL, 0, &r);
    assert_int_equal(r.status, 405);
    assert_true(has_header(&r, "Allow", "GET, HEAD"));
    resp_free(&r);

    request(e, "GET", "/webchat/../health", NULL, 0, NULL, REQ_PATH_AS_IS, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    request(e, "GET", "/a/%2e%2e/health", NULL, 0, NULL, REQ_PATH_AS_IS, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);
    request(e, "GET", "/./health", NULL, 0, NULL, REQ_PATH_AS_IS, &r);
    assert_int_equal(r.status, 400);
    resp_free(&r);

    e->logged_errors = 0;
    request(e, "POST", "/silent", "x", 1, NULL, 0, &r);
    assert_int_equal(r.status, 500);
    assert_int_equal(e->logged_errors, 1);
    resp_free(&r);

    /* The server still serves after all that. */
    request(e, "GET", "/health", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void test_headers_query(void **state)
{
    struct env *e = *state;
    gw_http_route(e->h, NULL, "GET", "/q", h_echo, "q");
    gw_http_route(e->h, NULL, "GET", "/cached", h_cached, NULL);
    struct resp r;
    request(e, "GET", "/q?a=1&b=x%20y+z&c", NULL, 0, "X-FOO: bar baz", 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "a=1 b=x y z c= d=(null) x-foo=bar baz "));
    assert_true(has_header(&r, "X-Content-Type-Options", "nosniff"));
    assert_true(has_header(&r, "Cache-Control", "no-store"));
    assert_true(has_header(&r, "X-Test", "yes"));
    assert_true(has_header(&r, "Content-Type", "text/plain"));
    assert_int_equal(last_status, GW_OK);
    resp_free(&r);

    request(e, "GET", "/cached", NULL, 0, NULL, 0, &r);
    assert_int_equal(last_status, GW_EINVAL); /* CR/LF in a header value */
    assert_int_equal(r.status, 201);
    assert_int_equal(count_header(&r, "Cache-Control"), 1);
    assert_true(has_header(&r, "Cache-Control", "max-age=60"));
    assert_true(has_header(&r, "X-Content-Type-Options", "nosniff"));
    assert_int_equal(count_header(&r, "Set-Cookie"), 0);
    resp_free(&r);
}

static unsigned checksum(const char *b, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum = sum * 31 + (unsigned char)b[i];
    return sum;
}

static void test_post_body(void **state)
{
    struct env *e = *state;
    gw_http_route(e->h, "sms", "POST", "/in", h_echo, "in");
    char *big = malloc(MAX_BODY + 100);
    for (size_t i = 0; i < MAX_BODY + 100; i++)
        big[i] = (char)(i * 7 + (i >> 8)); /* binary, with NULs */
    char want[64];
    struct resp r;

    request(e, "POST", "/sms/in", big, MAX_BODY, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    snprintf(want, sizeof(want), "len=%d sum=%u", MAX_BODY, checksum(big, MAX_BODY));
    assert_non_null(strstr(r.body, want));
    resp_free(&r);

    request(e, "POST", "/sms/in", big, MAX_BODY, NULL, REQ_CHUNKED, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, want));
    resp_free(&r);

    request(e, "POST", "/sms/in", "", 0, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "len=0 "));
    resp_free(&r);

    request(e, "POST", "/sms/in", big, MAX_BODY + 1, NULL, 0, &r);
    assert_int_equal(r.status, 413);
    resp_free(&r);

    request(e, "POST", "/sms/in", big, MAX_BODY + 100, NULL, REQ_CHUNKED, &r);
    assert_int_equal(r.status, 413);
    resp_free(&r);

    /* Still fine afterwards. */
    request(e, "POST", "/sms/in", "hello", 5, NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "len=5 "));
    resp_free(&r);
    free(big);
}

/* ---- streams ---- */

struct raw {
    struct env *e;
    int fd;
    char buf[16384];
    size_t len;
    int eof;
};

static void raw_cb(void *arg, int fd, unsigned events)
{
    (void)events;
    struct raw *c = arg;
    ssize_t n = read(fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len);
    if (n > 0) {
        c->len += (size_t)n;
        c->buf[c->len] = '\0';
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
        c->eof = 1;
        gw_loop_fd_del(c->e->l, fd);
    }
}

static void raw_open_v(struct env *e, struct raw *c, const char *path, const char *version);

static void raw_open(struct env *e, struct raw *c, const char *path)
{
    raw_open_v(e, c, path, "1.1");
}

static void raw_open_v(struct env *e, struct raw *c, const char *path, const char *version)
{
    memset(c, 0, sizeof(*c));
    c->e = e;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw_http_port(e->h))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[256];
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/%s\r\nHost: localhost\r\nAccept: text/event-stream\r\n\r\n",
                     path, version);
    assert_int_equal(write(c->fd, req, (size_t)n), n);
    fcntl(c->fd, F_SETFL, O_NONBLOCK);
    assert_int_equal(gw_loop_fd_add(e->l, c->fd, GW_EV_READ, raw_cb, c), 0);
}

static void raw_close(struct raw *c)
{
    if (c->fd >= 0) {
        gw_loop_fd_del(c->e->l, c->fd);
        close(c->fd);
        c->fd = -1;
    }
}

/* Run until `needle` shows up in the client's data. */
static int raw_wait(struct raw *c, const char *needle, uint64_t ms)
{
    uint64_t end = gw_loop_mono_ms() + ms;
    while (!strstr(c->buf, needle) && gw_loop_mono_ms() < end)
        gw_loop_run_once(c->e->l, 20);
    return strstr(c->buf, needle) != NULL;
}

struct sse {
    struct gw_http_stream *s;
    int opened, closed;
    int write_in_closed;
};
static struct sse sse_tab[4];
static int sse_next;

static void sse_closed(void *arg, struct gw_http_stream *s)
{
    struct sse *x = arg;
    assert_ptr_equal(s, x->s);
    x->closed++;
    x->write_in_closed = gw_http_stream_write(s, "late", 4);
}

static void h_sse(void *arg, struct gw_http_req *r)
{
    (void)arg;
    struct sse *x = &sse_tab[sse_next++];
    const char *hdrs[] = {"Cache-Control", "no-cache", NULL};
    x->s = gw_http_stream_open(r, "text/event-stream", hdrs, sse_closed, x);
    assert_non_null(x->s);
    x->opened = 1;
    assert_null(gw_http_stream_open(r, "text/plain", NULL, NULL, NULL)); /* only once */
    assert_int_equal(gw_http_req_respond(r, 200, NULL, "", 0, NULL), GW_EINVAL);
}

static void sse_reset(void)
{
    memset(sse_tab, 0, sizeof(sse_tab));
    sse_next = 0;
}

/* Loop turns that did something while nothing should happen (a busy loop shows here). */
static int busy_turns(struct env *e, uint64_t ms)
{
    int busy = 0;
    uint64_t end = gw_loop_mono_ms() + ms;
    while (gw_loop_mono_ms() < end)
        if (gw_loop_run_once(e->l, 20) > 0)
            busy++;
    return busy;
}

static void test_sse_stream(void **state)
{
    struct env *e = *state;
    sse_reset();
    gw_http_route(e->h, "webchat", "GET", "/events", h_sse, NULL);
    struct raw c;
    raw_open(e, &c, "/webchat/events");
    assert_true(run_until(e, &sse_tab[0].opened, 2000));
    assert_true(raw_wait(&c, "\r\n\r\n", 2000));
    assert_non_null(strstr(c.buf, "HTTP/1.1 200"));
    assert_non_null(strcasestr(c.buf, "Content-Type: text/event-stream\r\n"));
    assert_non_null(strcasestr(c.buf, "Cache-Control: no-cache\r\n"));
    assert_non_null(strcasestr(c.buf, "X-Content-Type-Options: nosniff\r\n"));
    assert_int_equal(gw_http_stream_count(e->h), 1);

    /* Idle stream: the loop sleeps (the connection is suspended, not polled). */
    assert_true(busy_turns(e, 200) <= 2);

    struct gw_http_stream *s = sse_tab[0].s;
    assert_int_equal(gw_http_stream_write(s, "data: one\n\n", 11), GW_OK);
    assert_true(raw_wait(&c, "data: one\n\n", 2000));
    assert_true(busy_turns(e, 100) <= 2);
    assert_int_equal(gw_http_stream_write(s, "data: two\n\n", 11), GW_OK);
    assert_int_equal(gw_http_stream_write(s, "data: three\n\n", 13), GW_OK);
    assert_true(raw_wait(&c, "data: three\n\n", 2000));
    char *p1 = strstr(c.buf, "data: one"), *p2 = strstr(c.buf, "data: two"),
         *p3 = strstr(c.buf, "data: three");
    assert_true(p1 && p2 && p3 && p1 < p2 && p2 < p3);
    assert_true(busy_turns(e, 100) <= 2);

    /* Slow reader guard: more than max_stream_buffer at once is refused. */
    static char huge[65 * 1024];
    assert_int_equal(gw_http_stream_write(s, huge, sizeof(huge)), GW_ELIMIT);

    /* The client goes away while the stream is idle: closed runs once, writes fail. */
    raw_close(&c);
    assert_true(run_until(e, &sse_tab[0].closed, 2000));
    assert_int_equal(sse_tab[0].write_in_closed, GW_EIO);
    busy_turns(e, 100);
    assert_int_equal(sse_tab[0].closed, 1);
    assert_int_equal(gw_http_stream_count(e->h), 0);
}

/* A burst larger than one block goes out with one gw_http_flush() (the core's end of turn),
 * not one block per loop turn: the client has all of it without the loop running again.
 * HTTP/1.0 (close-delimited, as the loopback channel's readers use): libmicrohttpd then sends
 * at most one block per MHD_run(); chunked HTTP/1.1 fills more per run. */
static void test_sse_burst_in_one_flush(void **state)
{
    struct env *e = *state;
    sse_reset();
    gw_http_route(e->h, "webchat", "GET", "/events", h_sse, NULL);
    struct raw c;
    raw_open_v(e, &c, "/webchat/events", "1.0");
    assert_true(run_until(e, &sse_tab[0].opened, 2000));
    assert_true(raw_wait(&c, "\r\n\r\n", 2000));
    gw_loop_fd_del(e->l, c.fd); /* from now on the test reads the socket itself */
    char ev[1000];
    memset(ev, 'x', sizeof ev);
    memcpy(ev, "data: ", 6);
    for (int i = 0; i < 12; i++) { /* ~12 KB: a dozen blocks */
        snprintf(ev + sizeof ev - 12, 12, "%04d\n\n", i);
        assert_int_equal(gw_http_stream_write(sse_tab[0].s, ev, strlen(ev)), GW_OK);
    }
    gw_http_flush(e->h);
    /* no loop turn from here: only what that flush wrote can arrive */
    char got[32768];
    size_t len = 0;
    struct pollfd pfd = {.fd = c.fd, .events = POLLIN};
    while (!memmem(got, len, "0011\n\n", 6) && poll(&pfd, 1, 1000) > 0) {
        ssize_t n = read(c.fd, got + len, sizeof got - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    assert_non_null(memmem(got, len, "0011\n\n", 6));
    raw_close(&c);
}

static void test_sse_close_and_unroute(void **state)
{
    struct env *e = *state;
    sse_reset();
    gw_http_route(e->h, "webchat", "GET", "/events", h_sse, NULL);
    gw_http_route(e->h, NULL, "GET", "/events", h_sse, NULL);
    struct raw a, b, c;
    raw_open(e, &a, "/webchat/events");
    raw_open(e, &b, "/webchat/events");
    raw_open(e, &c, "/events");
    assert_true(run_until(e, &sse_tab[2].opened, 2000));
    assert_int_equal(gw_http_stream_count(e->h), 3);

    /* The plugin closes one stream itself: closed runs before close returns; the client
     * still gets what was queued, then the end of the chunked response. */
    /* Find the core stream (the one whose client is c): a marker on each. */
    struct sse *core = NULL;
    for (int i = 0; i < 3; i++) {
        char m[32];
        int n = snprintf(m, sizeof(m), "data: m%d\n\n", i);
        assert_int_equal(gw_http_stream_write(sse_tab[i].s, m, (size_t)n), GW_OK);
    }
    assert_true(raw_wait(&c, "data: m", 2000));
    for (int i = 0; i < 3; i++) {
        char m[32];
        snprintf(m, sizeof(m), "data: m%d", i);
        if (strstr(c.buf, m))
            core = &sse_tab[i];
    }
    assert_non_null(core);
    assert_int_equal(gw_http_stream_write(core->s, "data: bye\n\n", 11), GW_OK);
    gw_http_stream_close(core->s);
    assert_int_equal(core->closed, 1);
    assert_int_equal(core->write_in_closed, GW_EIO);
    assert_true(raw_wait(&c, "data: bye\n\n\r\n0\r\n\r\n", 2000));
    assert_int_equal(gw_http_stream_count(e->h), 2);

    /* Unroute the plugin: its two streams close synchronously, clients see the end. */
    gw_http_unroute_owner(e->h, "webchat");
    int closed = 0;
    for (int i = 0; i < 3; i++)
        closed += sse_tab[i].closed;
    assert_int_equal(closed, 3);
    assert_int_equal(gw_http_stream_count(e->h), 0);
    assert_true(raw_wait(&a, "\r\n0\r\n\r\n", 2000));
    assert_true(raw_wait(&b, "\r\n0\r\n\r\n", 2000));
    busy_turns(e, 50);
    for (int i = 0; i < 3; i++)
        assert_int_equal(sse_tab[i].closed, 1);

    /* Its routes are gone; core routes stay. */
    struct resp r;
    request(e, "GET", "/webchat/events", NULL, 0, NULL, 0, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
    raw_close(&a);
    raw_close(&b);
    raw_close(&c);
    struct raw d;
    raw_open(e, &d, "/events");
    assert_true(run_until(e, &sse_tab[3].opened, 2000));
    /* Freeing the server ends the open stream too. */
    gw_http_free(&e->h);
    assert_int_equal(sse_tab[3].closed, 1);
    raw_close(&d);
}

/* A stream whose client goes away while data is being written. */
static void test_sse_client_gone_busy(void **state)
{
    struct env *e = *state;
    sse_reset();
    gw_http_route(e->h, "webchat", "GET", "/events", h_sse, NULL);
    struct raw c;
    raw_open(e, &c, "/webchat/events");
    assert_true(run_until(e, &sse_tab[0].opened, 2000));
    raw_close(&c);
    /* Writes may succeed until the server notices; then they fail; closed runs once. */
    uint64_t end = gw_loop_mono_ms() + 2000;
    while (!sse_tab[0].closed && gw_loop_mono_ms() < end) {
        gw_http_stream_write(sse_tab[0].s, "data: x\n\n", 9);
        gw_loop_run_once(e->l, 5);
    }
    assert_int_equal(sse_tab[0].closed, 1);
    busy_turns(e, 50);
    assert_int_equal(sse_tab[0].closed, 1);
}

/* An idle connection is closed after conn_timeout_s: only MHD's deadline (armed as a loop
 * timer by the timeout hook) can make that happen, there is no socket activity. */
static void test_connection_timeout(void **state)
{
    struct env *e = *state;
    char err[256];
    struct gw_http_limits lim = {.conn_timeout_s = 1};
    struct gw_http *h2 = gw_http_new(e->l, "127.0.0.1", 0, &lim, err, sizeof(err));
    assert_non_null(h2);
    gw_http_set_logger(h2, quiet_log, e);
    struct raw c = {.e = e};
    c.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gw_http_port(h2))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    fcntl(c.fd, F_SETFL, O_NONBLOCK);
    assert_int_equal(gw_loop_fd_add(e->l, c.fd, GW_EV_READ, raw_cb, &c), 0);
    uint64_t start = gw_loop_mono_ms();
    uint64_t end = start + 5000;
    while (!c.eof && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 4000); /* long: the loop must wake up by itself */
    uint64_t took = gw_loop_mono_ms() - start;
    assert_true(c.eof);
    assert_true(took >= 900 && took < 3000);
    close(c.fd);
    gw_http_free(&h2);
    /* Listening on a bad address fails cleanly. */
    assert_null(gw_http_new(e->l, "not-an-ip", 0, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "not-an-ip"));
    assert_null(gw_http_new(e->l, "127.0.0.1", gw_http_port(e->h), NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "in use"));
}

/* Group commit: answers given while hold() is true wait for gw_http_release(); a failed
 * commit turns them into 503s. */
static void test_hold_until_release(void **state)
{
    struct env *e = *state;
    assert_int_equal(gw_http_route(e->h, NULL, "POST", "/submit", h_count, NULL), GW_OK);
    gw_http_set_hold(e->h, hold_pred, NULL);
    hold_now = 1;
    handled = 0;
    struct resp a, b;
    struct curl_slist *la = request_start(e, "POST", "/submit", "one", 3, NULL, 0, &a);
    struct curl_slist *lb = request_start(e, "POST", "/submit", "two", 3, NULL, 0, &b);
    int two = 0;
    uint64_t end = gw_loop_mono_ms() + 5000;
    while (handled < 2 && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 20);
    assert_int_equal(handled, 2);
    /* Both handlers answered; the answers stay on the server until released. */
    assert_false(run_until(e, &two, 200));
    assert_false(a.done || b.done);
    hold_now = 0; /* "committed" */
    gw_http_release(e->h, 1);
    assert_true(run_until(e, &a.done, 5000));
    assert_true(run_until(e, &b.done, 5000));
    assert_int_equal(a.status, 202);
    assert_int_equal(b.status, 202);
    assert_string_equal(a.body, "one");
    assert_string_equal(b.body, "two");
    resp_free(&a);
    resp_free(&b);
    curl_slist_free_all(la);
    curl_slist_free_all(lb);

    /* Not held: straight out. */
    request(e, "POST", "/submit", "three", 5, NULL, 0, &a);
    assert_int_equal(a.status, 202);
    resp_free(&a);

    /* The commit failed: the client hears 503 and will retry. */
    hold_now = 1;
    la = request_start(e, "POST", "/submit", "four", 4, NULL, 0, &a);
    end = gw_loop_mono_ms() + 5000;
    while (handled < 4 && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 20);
    assert_int_equal(handled, 4);
    hold_now = 0;
    gw_http_release(e->h, 0);
    assert_true(run_until(e, &a.done, 5000));
    assert_int_equal(a.status, 503);
    assert_non_null(strstr(a.body, "storage failure"));
    resp_free(&a);
    curl_slist_free_all(la);

    /* Held at shutdown: teardown's gw_http_free() answers 503 rather than leak or hang. */
    hold_now = 1;
    la = request_start(e, "POST", "/submit", "five", 4, NULL, 0, &a);
    end = gw_loop_mono_ms() + 5000;
    while (handled < 5 && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 20);
    assert_int_equal(handled, 5);
    gw_http_free(&e->h);
    assert_true(run_until(e, &a.done, 5000));
    assert_true(a.status == 503 || a.code != CURLE_OK);
    resp_free(&a);
    curl_slist_free_all(la);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_port_and_routes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_headers_query, setup, teardown),
        cmocka_unit_test_setup_teardown(test_post_body, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_burst_in_one_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_close_and_unroute, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sse_client_gone_busy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hold_until_release, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

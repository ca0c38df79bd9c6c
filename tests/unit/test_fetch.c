/* test_fetch.c — curl-multi on the loop, against our own HTTP server on the same loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/fetch.h"
#include "io/http.h"
#include "io/loop.h" /* after plugin_api.h: see http.h */

struct env {
    struct gw_loop *l;
    struct gw_http *h;
    struct gw_fetch *f;
    struct gw_http_stream *streams[8];
    int nstreams, stream_closed;
};

static void h_hello(void *arg, struct gw_http_req *r)
{
    (void)arg;
    const char *n = gw_http_req_query(r, "n");
    char out[64];
    int len = snprintf(out, sizeof(out), "hello %s", n ? n : "");
    gw_http_req_respond(r, 200, "text/plain", out, (size_t)len, NULL);
}

static void stream_closed(void *arg, struct gw_http_stream *s)
{
    (void)s;
    struct env *e = arg;
    e->stream_closed++;
}

static void h_forever(void *arg, struct gw_http_req *r)
{
    struct env *e = arg;
    struct gw_http_stream *s = gw_http_stream_open(r, "text/event-stream", NULL, stream_closed, e);
    assert_non_null(s);
    e->streams[e->nstreams++] = s;
    gw_http_stream_write(s, ": hi\n\n", 6);
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    char err[256];
    e->l = gw_loop_new();
    e->h = gw_http_new(e->l, "127.0.0.1", 0, NULL, err, sizeof(err));
    e->f = gw_fetch_new(e->l);
    if (!e->h || !e->f)
        return -1;
    gw_http_route(e->h, NULL, "GET", "/hello", h_hello, e);
    gw_http_route(e->h, NULL, "GET", "/forever", h_forever, e);
    *state = e;
    return 0;
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

struct job {
    struct env *e;
    int done, code;
    long status;
    char body[256];
    size_t len;
    void *priv;
    struct job *then; /* started from the callback */
};

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    struct job *j = ud;
    size_t k = sz * n;
    if (j->len + k < sizeof(j->body)) {
        memcpy(j->body + j->len, p, k);
        j->len += k;
        j->body[j->len] = '\0';
    }
    return sz * n;
}

static CURL *make(struct env *e, struct job *j, const char *path)
{
    CURL *c = curl_easy_init();
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", gw_http_port(e->h), path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(c, CURLOPT_PRIVATE, j); /* the plugin's: must survive */
    j->e = e;
    return c;
}

static void on_done(void *arg, void *easy, int code)
{
    struct job *j = arg;
    j->done++;
    j->code = code;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &j->status);
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, &j->priv);
    curl_easy_cleanup(easy);
    if (j->then) /* chain: add another transfer from inside the callback */
        assert_int_equal(gw_fetch_add(j->e->f, make(j->e, j->then, "/hello?n=chained"), on_done,
                                      j->then, NULL),
                         GW_OK);
}

static int run_until(struct env *e, const int *flag, uint64_t ms)
{
    uint64_t end = gw_loop_mono_ms() + ms;
    while (!*flag && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 20);
    return *flag;
}

static void test_get(void **state)
{
    struct env *e = *state;
    struct job j = {0}, j2 = {0};
    j.then = &j2;
    assert_int_equal(gw_fetch_add(e->f, make(e, &j, "/hello?n=1"), on_done, &j, "web"), GW_OK);
    assert_int_equal(gw_fetch_count(e->f), 1);
    assert_true(run_until(e, &j.done, 5000));
    assert_int_equal(j.done, 1);
    assert_int_equal(j.code, CURLE_OK);
    assert_int_equal(j.status, 200);
    assert_string_equal(j.body, "hello 1");
    assert_ptr_equal(j.priv, &j);
    assert_true(run_until(e, &j2.done, 5000));
    assert_string_equal(j2.body, "hello chained");
    assert_int_equal(gw_fetch_count(e->f), 0);

    /* Bad arguments; the same handle twice. */
    assert_int_equal(gw_fetch_add(e->f, NULL, on_done, &j, NULL), GW_EINVAL);
    struct job j3 = {0};
    CURL *c = make(e, &j3, "/hello");
    assert_int_equal(gw_fetch_add(e->f, c, on_done, &j3, NULL), GW_OK);
    assert_int_equal(gw_fetch_add(e->f, c, on_done, &j3, NULL), GW_EINVAL);
    assert_true(run_until(e, &j3.done, 5000));
    assert_int_equal(j3.done, 1);
}

static void test_parallel(void **state)
{
    struct env *e = *state;
    enum { N = 50 };
    struct job *j = calloc(N, sizeof(*j));
    for (int i = 0; i < N; i++) {
        char path[64];
        snprintf(path, sizeof(path), "/hello?n=%d", i);
        assert_int_equal(gw_fetch_add(e->f, make(e, &j[i], path), on_done, &j[i], NULL), GW_OK);
    }
    uint64_t end = gw_loop_mono_ms() + 10000;
    int all = 0;
    while (!all && gw_loop_mono_ms() < end) {
        gw_loop_run_once(e->l, 20);
        all = 1;
        for (int i = 0; i < N; i++)
            all &= j[i].done;
    }
    for (int i = 0; i < N; i++) {
        char want[64];
        snprintf(want, sizeof(want), "hello %d", i);
        assert_int_equal(j[i].done, 1);
        assert_string_equal(j[i].body, want);
    }
    free(j);
}

static void test_errors_and_timeout(void **state)
{
    struct env *e = *state;
    /* A port nobody listens on. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    socklen_t sl = sizeof(sa);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    getsockname(s, (struct sockaddr *)&sa, &sl);
    close(s);
    struct job j = {0};
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(sa.sin_port));
    curl_easy_setopt(c, CURLOPT_URL, url);
    assert_int_equal(gw_fetch_add(e->f, c, on_done, &j, NULL), GW_OK);
    assert_true(run_until(e, &j.done, 5000));
    assert_int_equal(j.code, CURLE_COULDNT_CONNECT);

    /* curl's own timer (CURLOPT_TIMEOUT_MS) runs on loop timers. */
    struct job t = {0};
    CURL *ct = make(e, &t, "/forever");
    curl_easy_setopt(ct, CURLOPT_TIMEOUT_MS, 150L);
    uint64_t start = gw_loop_mono_ms();
    assert_int_equal(gw_fetch_add(e->f, ct, on_done, &t, NULL), GW_OK);
    assert_true(run_until(e, &t.done, 5000));
    uint64_t took = gw_loop_mono_ms() - start;
    assert_int_equal(t.code, CURLE_OPERATION_TIMEDOUT);
    assert_true(took >= 140 && took < 2000);
    assert_string_equal(t.body, ": hi\n\n");
    /* The server sees its client go. */
    assert_true(run_until(e, &e->stream_closed, 2000));
}

static void test_cancel_owner(void **state)
{
    struct env *e = *state;
    struct job a = {0}, b = {0}, m = {0};
    assert_int_equal(gw_fetch_add(e->f, make(e, &a, "/forever"), on_done, &a, "sms"), GW_OK);
    assert_int_equal(gw_fetch_add(e->f, make(e, &b, "/forever"), on_done, &b, "sms"), GW_OK);
    assert_int_equal(gw_fetch_add(e->f, make(e, &m, "/forever"), on_done, &m, "mail"), GW_OK);
    uint64_t end = gw_loop_mono_ms() + 5000;
    while (e->nstreams < 3 && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 20);
    assert_int_equal(e->nstreams, 3);
    gw_fetch_cancel_owner(e->f, "nobody");
    assert_int_equal(gw_fetch_count(e->f), 3);
    gw_fetch_cancel_owner(e->f, "sms");
    assert_int_equal(a.done, 1);
    assert_int_equal(b.done, 1);
    assert_int_equal(a.code, CURLE_ABORTED_BY_CALLBACK);
    assert_int_equal(b.code, CURLE_ABORTED_BY_CALLBACK);
    assert_int_equal(m.done, 0);
    assert_int_equal(gw_fetch_count(e->f), 1);
    /* The server notices both clients going; the mail transfer goes on, and ends cleanly
     * when the server ends its stream. */
    end = gw_loop_mono_ms() + 5000;
    while (e->stream_closed < 2 && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 20);
    assert_int_equal(e->stream_closed, 2);
    assert_int_equal(m.done, 0);
    gw_http_unroute_owner(e->h, NULL); /* closes the remaining (core) stream */
    assert_int_equal(e->stream_closed, 3);
    assert_true(run_until(e, &m.done, 5000));
    assert_int_equal(m.code, CURLE_OK);
    assert_int_equal(m.status, 200);

    /* Freeing the fetch layer aborts what still runs. */
    gw_http_route(e->h, NULL, "GET", "/forever", h_forever, e);
    struct job z = {0};
    assert_int_equal(gw_fetch_add(e->f, make(e, &z, "/forever"), on_done, &z, NULL), GW_OK);
    end = gw_loop_mono_ms() + 5000;
    while (e->nstreams < 4 && gw_loop_mono_ms() < end)
        gw_loop_run_once(e->l, 20);
    gw_fetch_free(&e->f);
    assert_int_equal(z.done, 1);
    assert_int_equal(z.code, CURLE_ABORTED_BY_CALLBACK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errors_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel_owner, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

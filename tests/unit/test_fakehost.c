/* test_fakehost.c — proves the fake host API (tests/unit/fakehost/) with a tiny inline plugin.
 *
 * Unlike the other tests/unit/test_*.c (core tests, linked with libgw.a), the Makefile
 * links this one with the fake host's objects (tests/unit/fakehost/), like a plugin test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fakehost.h"

/* ---- a tiny plugin ------------------------------------------------------------------------ */

struct demo {
    const struct gw_host_api *api;
    struct gw_host *h;
    char *token;
    long long max;
    int ticks;
    struct gw_http_stream *stream;
    int stream_closed;
    int64_t pending_id;
    int easy; /* stands in for a CURL easy handle */
};

static int demo_init(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                     struct gw_host *h, char *err, size_t errlen)
{
    static const char *const known[] = {"token", "token_file", "max", "verbose", NULL};
    int bad = api->cfg_known_keys(h, conf, known);
    long long max;
    int verbose;
    bad |= api->cfg_int(h, conf, "max", 160, 1, 1000, &max);
    bad |= api->cfg_bool(h, conf, "verbose", 0, &verbose);
    char *token = api->cfg_secret(h, conf, "token");
    if (bad || !token) {
        free(token);
        snprintf(err, errlen, "bad demo config");
        return GW_EINVAL;
    }
    struct demo *d = calloc(1, sizeof *d);
    d->api = api;
    d->h = h;
    d->token = token;
    d->max = max;
    *self = d;
    return GW_OK;
}

static void demo_inbound(void *arg, struct gw_http_req *req)
{
    struct demo *d = arg;
    const struct gw_host_api *api = d->api;
    const char *auth = api->http_header(req, "authorization");
    if (!auth || strcmp(auth, d->token)) {
        api->http_respond(req, 401, "text/plain", "no", 2, NULL);
        return;
    }
    size_t len;
    const char *body = api->http_body(req, &len);
    struct gw_inbound in = {
        .channel_msg_id = api->http_query(req, "id"),
        .address = api->http_query(req, "from"),
        .display = "··4567",
        .body = body,
        .lang = "nb",
    };
    struct gw_submitted out;
    char err[128], resp[128];
    int rc = api->submit(d->h, &in, &out, err, sizeof err);
    if (rc != GW_OK) {
        api->http_respond(req, 403, "text/plain", err, strlen(err), NULL);
        return;
    }
    int n = snprintf(resp, sizeof resp, "{\"conv\":\"%s\",\"dup\":%d}", out.conv, out.duplicate);
    const char *hdrs[] = {"X-Demo", "yes", NULL};
    api->http_respond(req, 200, "application/json", resp, (size_t)n, hdrs);
}

static void demo_stream_closed(void *arg, struct gw_http_stream *s)
{
    struct demo *d = arg;
    (void)s;
    d->stream_closed++;
    d->stream = NULL;
}

static void demo_events(void *arg, struct gw_http_req *req)
{
    struct demo *d = arg;
    d->stream = d->api->http_stream_open(req, "text/event-stream", NULL, demo_stream_closed, d);
    d->api->http_stream_write(d->stream, "data: hi\n\n", 10);
}

static void demo_tick(void *arg)
{
    struct demo *d = arg;
    d->ticks++;
    d->api->log(d->h, GW_LOG_DEBUG, "tick %d", d->ticks);
    d->api->timer_add(d->h, 1000, demo_tick, d);
}

static int demo_start(void *self)
{
    struct demo *d = self;
    d->api->http_route(d->h, "POST", "/inbound", demo_inbound, d);
    d->api->http_route(d->h, "GET", "/events/*", demo_events, d);
    d->api->timer_add(d->h, 1000, demo_tick, d);
    return GW_OK;
}

static void demo_stop(void *self)
{
    struct demo *d = self;
    free(d->token);
    free(d);
}

static void demo_fetched(void *arg, void *easy, int code)
{
    struct demo *d = arg;
    assert_ptr_equal(easy, &d->easy);
    if (code == 0)
        d->api->deliver_done(d->h, d->pending_id, GW_OK, "ref-1", NULL);
    else
        d->api->deliver_done(d->h, d->pending_id, GW_EAGAIN, NULL, "timeout");
}

static int demo_deliver(void *self, const struct gw_msg *m, char *err, size_t errlen)
{
    struct demo *d = self;
    (void)err;
    (void)errlen;
    d->pending_id = m->id;
    d->api->fetch(d->h, &d->easy, demo_fetched, d);
    return GW_PENDING;
}

static const struct gw_plugin demo_plugin = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_plugin),
    .name = "demo",
    .version = "0",
    .init = demo_init,
    .start = demo_start,
    .stop = demo_stop,
    .deliver = demo_deliver,
};

/* ---- tests ------------------------------------------------------------------------------- */

static struct fakehost *started(void)
{
    struct fakehost *fh = fakehost_new();
    const config_setting_t *conf = fakehost_conf(fh, "demo = { token = \"s3cret\"; max = 10; };", "demo");
    assert_non_null(conf);
    char err[128];
    assert_int_equal(fakehost_plugin_init(fh, &demo_plugin, conf, err, sizeof err), GW_OK);
    assert_int_equal(fakehost_plugin_start(fh), GW_OK);
    return fh;
}

static void test_config(void **state)
{
    (void)state;
    struct fakehost *fh = fakehost_new();
    char err[128];
    const config_setting_t *conf =
        fakehost_conf(fh, "demo = {\n token = \"x\";\n max = 5000;\n colour = \"red\";\n};", "demo");
    assert_int_equal(fakehost_plugin_init(fh, &demo_plugin, conf, err, sizeof err), GW_EINVAL);
    assert_int_equal(fh->ncfg_errors, 2);
    assert_string_equal(fh->cfg_errors[0], "(config):4: unknown key 'colour'");
    assert_true(fakehost_cfg_error_contains(fh, ":3: 'max' must be between 1 and 1000"));

    /* Secret from a file (first line); both given is an error; neither is an error. */
    char path[] = "/tmp/fakehost_secret_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "filesecret\nsecond\n", 18), 18);
    close(fd);
    char text[256];
    snprintf(text, sizeof text, "a = { token_file = \"%s\"; }; b = { token = \"x\"; token_file = "
                                "\"%s\"; }; c = { };", path, path);
    const config_setting_t *root = fakehost_conf(fh, text, NULL);
    const struct gw_host_api *api = fakehost_api(fh);
    struct gw_host *h = fakehost_host(fh);
    char *s = api->cfg_secret(h, config_setting_get_member(root, "a"), "token");
    assert_string_equal(s, "filesecret");
    free(s);
    assert_null(api->cfg_secret(h, config_setting_get_member(root, "b"), "token"));
    assert_true(fakehost_cfg_error_contains(fh, "either 'token' or 'token_file'"));
    assert_null(api->cfg_secret(h, config_setting_get_member(root, "c"), "token"));
    assert_true(fakehost_cfg_error_contains(fh, "missing 'token'"));
    unlink(path);

    const char *str;
    long long n;
    int b;
    assert_int_equal(api->cfg_string(h, NULL, "x", "def", &str), GW_OK);
    assert_string_equal(str, "def");
    assert_int_equal(api->cfg_int(h, config_setting_get_member(root, "a"), "token_file", 1, 0, 9, &n),
                     GW_EINVAL);
    assert_int_equal(api->cfg_bool(h, config_setting_get_member(root, "c"), "on", 1, &b), GW_OK);
    assert_int_equal(b, 1);
    fakehost_free(&fh);
    assert_null(fh);
}

static void test_http_submit(void **state)
{
    (void)state;
    struct fakehost *fh = started();
    struct fakehost_resp r;
    const char *auth[] = {"Authorization", "s3cret", NULL};
    const char *q1[] = {"from", "+4791234567", "id", "m1", NULL};

    assert_int_equal(fakehost_http(fh, "POST", "/inbound", NULL, q1, "Hei", NULL, &r), 401);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(fh, "POST", "/inbound", auth, q1, "Hei", "10.0.0.1", &r), 200);
    assert_string_equal(r.body, "{\"conv\":\"conv-1\",\"dup\":0}");
    assert_string_equal(r.content_type, "application/json");
    assert_string_equal(fakehost_resp_header(&r, "x-demo"), "yes");
    fakehost_resp_free(&r);
    assert_int_equal(fh->nsubmits, 1);
    assert_string_equal(fh->submits[0].body, "Hei");
    assert_string_equal(fh->submits[0].address, "+4791234567");
    assert_string_equal(fh->submits[0].lang, "nb");
    assert_null(fh->submits[0].conv);

    /* Same provider id again: duplicate, same conversation and message id. */
    fakehost_http(fh, "POST", "/inbound", auth, q1, "Hei", NULL, &r);
    assert_string_equal(r.body, "{\"conv\":\"conv-1\",\"dup\":1}");
    fakehost_resp_free(&r);
    assert_int_equal(fh->submits[1].out.msg_id, fh->submits[0].out.msg_id);

    /* Same address, new id: same open conversation; another address: a new one. */
    const char *q2[] = {"from", "+4791234567", "id", "m2", NULL};
    const char *q3[] = {"from", "+4540000000", "id", "m3", NULL};
    fakehost_http(fh, "POST", "/inbound", auth, q2, "Er dere der?", NULL, &r);
    assert_string_equal(r.body, "{\"conv\":\"conv-1\",\"dup\":0}");
    fakehost_resp_free(&r);
    fakehost_http(fh, "POST", "/inbound", auth, q3, "Hej", NULL, &r);
    assert_string_equal(r.body, "{\"conv\":\"conv-2\",\"dup\":0}");
    fakehost_resp_free(&r);

    /* Blocking: submit refused; forced failures. */
    const struct gw_host_api *api = fakehost_api(fh);
    api->seeker_block(fakehost_host(fh), "+4540000000", 1, "STOP");
    assert_true(api->seeker_blocked(fakehost_host(fh), "+4540000000"));
    char st[16];
    api->conv_info(fakehost_host(fh), "conv-2", NULL, 0, st, sizeof st);
    assert_string_equal(st, "closed");
    const char *q4[] = {"from", "+4540000000", "id", "m4", NULL};
    assert_int_equal(fakehost_http(fh, "POST", "/inbound", auth, q4, "x", NULL, &r), 403);
    fakehost_resp_free(&r);
    assert_int_equal(fh->submits[fh->nsubmits - 1].rc, GW_EPERM);
    fh->submit_rc = GW_EIO;
    const char *q5[] = {"from", "+4791234567", "id", "m5", NULL};
    assert_int_equal(fakehost_http(fh, "POST", "/inbound", auth, q5, "x", NULL, &r), 403);
    assert_string_equal(r.body, "fake failure");
    fakehost_resp_free(&r);
    fh->submit_rc = 0;

    /* No route; wrong method. */
    assert_int_equal(fakehost_http(fh, "GET", "/inbound", NULL, NULL, NULL, NULL, &r), 404);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(fh, "POST", "/nothing", NULL, NULL, NULL, NULL, &r), 404);
    fakehost_resp_free(&r);

    fakehost_free(&fh);
}

static int count_items(void *arg, const struct gw_history_item *it)
{
    int *n = arg;
    (*n)++;
    return strcmp(it->dir, "out") == 0; /* stop at the first counsellor message */
}

static void test_history_kv_text_mask(void **state)
{
    (void)state;
    struct fakehost *fh = started();
    const struct gw_host_api *api = fakehost_api(fh);
    struct gw_host *h = fakehost_host(fh);
    struct fakehost_resp r;
    const char *auth[] = {"Authorization", "s3cret", NULL};
    const char *q[] = {"from", "kari@example.no", NULL};
    fakehost_http(fh, "POST", "/inbound", auth, q, "one", NULL, &r);
    fakehost_resp_free(&r);
    fakehost_history_add(fh, "conv-1", "out", "svar", "delivered");
    fakehost_history_add(fh, "conv-1", "in", "three", NULL);
    int n = 0;
    assert_int_equal(api->history(h, "conv-1", 0, count_items, &n), GW_OK);
    assert_int_equal(n, 2);
    n = 0;
    api->history(h, "conv-1", fh->submits[0].out.msg_id, count_items, &n);
    assert_int_equal(n, 1);
    assert_int_equal(api->history(h, "conv-9", 0, count_items, &n), GW_ENOTFOUND);

    assert_null(api->kv_get(h, "uid"));
    api->kv_set(h, "uid", "41");
    api->kv_set(h, "uid", "42");
    char *v = api->kv_get(h, "uid");
    assert_string_equal(v, "42");
    free(v);

    assert_string_equal(api->text(h, "nn", "welcome"), "[nn:welcome]");
    fakehost_set_text(fh, "nb", "welcome", "Hei!");
    fakehost_set_text(fh, NULL, "bye", "Ha det");
    assert_string_equal(api->text(h, "nb", "welcome"), "Hei!");
    assert_string_equal(api->text(h, "da", "bye"), "Ha det");
    assert_ptr_equal(api->text(h, "nn", "welcome"), api->text(h, "nn", "welcome"));

    char buf[64];
    assert_string_equal(api->mask_address("+4791234567", buf, sizeof buf), "··4567");
    assert_string_equal(api->mask_address("kari@example.no", buf, sizeof buf), "k···@example.no");
    assert_string_equal(api->mask_address("ørjan@example.no", buf, sizeof buf), "ø···@example.no");

    api->log(h, GW_LOG_INFO, "seeker %s", "··4567");
    assert_true(fakehost_log_contains(fh, "seeker ··4567"));
    assert_int_equal(api->now_ms(h), 1767225600000LL);
    fakehost_free(&fh);
}

static void test_stream(void **state)
{
    (void)state;
    struct fakehost *fh = started();
    struct demo *d = fakehost_plugin_self(fh);
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(fh, "GET", "/events/abc", NULL, NULL, NULL, NULL, &r), 200);
    assert_non_null(r.stream);
    assert_string_equal(r.content_type, "text/event-stream");
    const struct gw_host_api *api = fakehost_api(fh);
    api->http_stream_write(d->stream, "data: more\n\n", 12);
    size_t len;
    assert_string_equal(fakehost_stream_data(r.stream, &len), "data: hi\n\ndata: more\n\n");
    assert_int_equal(len, 22);
    fakehost_stream_drop(r.stream);
    assert_true(fakehost_stream_closed(r.stream));
    assert_int_equal(d->stream_closed, 1);
    assert_int_equal(api->http_stream_write(r.stream, "x", 1), GW_EIO);
    fakehost_resp_free(&r);

    /* A stream still open at stop is closed (callback runs) before the plugin stops. */
    fakehost_http(fh, "GET", "/events/def", NULL, NULL, NULL, NULL, &r);
    struct gw_http_stream *s = r.stream;
    fakehost_resp_free(&r);
    assert_int_equal(d->stream_closed, 1);
    fakehost_plugin_stop(fh);
    assert_true(fakehost_stream_closed(s));
    assert_int_equal(fakehost_http(fh, "GET", "/events/x", NULL, NULL, NULL, NULL, &r), 404);
    fakehost_resp_free(&r);
    fakehost_free(&fh);
}

static void test_timers_fetch_dlr(void **state)
{
    (void)state;
    struct fakehost *fh = started();
    struct demo *d = fakehost_plugin_self(fh);
    assert_int_equal(fakehost_timers_pending(fh), 1);
    assert_int_equal(fakehost_fire_timers(fh, 999), 0);
    assert_int_equal(fakehost_fire_timers(fh, 1), 1);
    assert_int_equal(d->ticks, 1);
    assert_int_equal(fakehost_fire_timers(fh, 3500), 3); /* re-added timers fire too */
    assert_int_equal(d->ticks, 4);
    assert_int_equal(fh->now_ms, 1767225600000LL + 4500);
    assert_true(fakehost_log_contains(fh, "tick 4"));

    struct gw_msg m = {.id = 77, .kind = GW_MSG_TEXT, .conv = "conv-5", .address = "+4791234567",
                       .lang = "nb", .body = "Hei"};
    char err[64];
    assert_int_equal(fakehost_plugin_deliver(fh, &m, err, sizeof err), GW_PENDING);
    assert_int_equal(fh->nfetches, 1);
    assert_int_equal(fakehost_fetch_complete(fh, 0, 0), GW_OK);
    assert_int_equal(fakehost_fetch_complete(fh, 0, 0), GW_EINVAL);
    assert_int_equal(fh->ndones, 1);
    assert_int_equal(fh->dones[0].msg_id, 77);
    assert_int_equal(fh->dones[0].status, GW_OK);
    assert_string_equal(fh->dones[0].channel_ref, "ref-1");

    const struct gw_host_api *api = fakehost_api(fh);
    struct gw_host *h = fakehost_host(fh);
    char conv[40];
    assert_int_equal(api->conv_by_ref(h, "ref-1", conv, sizeof conv), GW_OK);
    assert_string_equal(conv, "conv-5");
    assert_int_equal(api->delivery_report(h, "ref-x", GW_DLR_DELIVERED, NULL), GW_ENOTFOUND);
    assert_int_equal(api->delivery_report(h, "ref-1", GW_DLR_DELIVERED, NULL), GW_OK);
    assert_int_equal(api->delivery_report(h, "ref-1", GW_DLR_SENT, NULL), GW_OK);
    assert_int_equal(fakehost_ref_state(fh, "ref-1"), GW_DLR_DELIVERED);
    assert_int_equal(fh->ndlrs, 3);

    /* fds */
    assert_false(fakehost_fd_watched(fh, 7));
    assert_int_equal(fakehost_fd_fire(fh, 7, 1), GW_ENOTFOUND);

    /* Stopping drops the plugin's timers. */
    fakehost_plugin_stop(fh);
    assert_int_equal(fakehost_timers_pending(fh), 0);
    assert_int_equal(fakehost_fire_timers(fh, 10000), 0);
    fakehost_free(&fh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_http_submit),
        cmocka_unit_test(test_history_kv_text_mask),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_timers_fetch_dlr),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

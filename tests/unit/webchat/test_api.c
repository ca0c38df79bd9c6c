/* test_api.c — the web chat plugin end to end against the fake host: config, sessions,
 * messages, limits, CORS, event streams with replay, deliver(), blocking, static files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "api.h"
#include "fakehost.h"
#include "plugin_api.h"
#include "token.h"

extern const struct gw_plugin skagerrak_plugin;

/* The fake host leaves the seeker-page members (queue_info, transcript, feedback,
 * transcript_text) to the test: these stubs record what the plugin asks. */
static struct {
    int feedback_rating;
    char feedback_comment[256];
    int nfeedback;
    char transcript_addr[256];
    int ntranscript;
    int queue_open;
    char erased_conv[40];
    int nerase;
    void *self; /* the plugin, for st_erase_conv to call forget() as the core does */
} rec;

static int st_queue_info(struct gw_host *h, const char *queue, const char *lang, char *buf,
                         size_t len)
{
    (void)h;
    snprintf(buf, len,
             "{\"id\":\"%s\",\"name\":\"Q-%s\",\"open\":%s,\"next_open_ms\":1767330000000,"
             "\"waiting\":2,\"wait_s\":240}",
             queue, lang, rec.queue_open ? "true" : "false");
    return GW_OK;
}
static int st_transcript(struct gw_host *h, const char *conv, const char *channel,
                         const char *address)
{
    (void)h;
    (void)conv;
    assert_string_equal(channel, "email");
    snprintf(rec.transcript_addr, sizeof(rec.transcript_addr), "%s", address);
    rec.ntranscript++;
    return GW_OK;
}
static int st_feedback(struct gw_host *h, const char *conv, int rating, const char *comment)
{
    (void)h;
    (void)conv;
    rec.feedback_rating = rating;
    snprintf(rec.feedback_comment, sizeof(rec.feedback_comment), "%s", comment ? comment : "");
    rec.nfeedback++;
    return GW_OK;
}
/* The core erases, then tells the plugin to forget the conversation (desk/privacy.c). */
static int st_erase_conv(struct gw_host *h, const char *conv)
{
    (void)h;
    snprintf(rec.erased_conv, sizeof(rec.erased_conv), "%s", conv);
    rec.nerase++;
    skagerrak_plugin.forget(rec.self, conv);
    return GW_OK;
}
static char *st_transcript_text(struct gw_host *h, const char *conv)
{
    (void)h;
    char *s = NULL;
    if (asprintf(&s, "Transcript of %s\n", conv) < 0)
        return NULL;
    return s;
}

static const char *CONF = "webchat = {\n"
                          "  static_dir = \"%s\";\n"
                          "  allowed_origins = [\"https://www.example.no\"];\n"
                          "  queue = \"general\"; queues = [\"work\"];\n"
                          "  rate_session = 3; rate_ip = 100; rate_ip_sessions = 5;\n"
                          "  max_message_chars = 50;\n"
                          "  max_streams_per_session = 2;\n"
                          "  transcript_email = true;\n"
                          "  prechat = ( { id = \"topic\"; options = ( \"education\", { value = "
                          "\"work\"; label = { nb = \"Arbeid\"; en = \"Work\"; }; } ); } );\n"
                          "};\n";

struct t {
    struct fakehost *fh;
    void *self;
    char dir[64];
};

/* The fake host's table lacks the seeker-page members; fill them in (the table is the fake
 * host's own, non-const object: casting the const away is fine). */
static void extend_api(struct fakehost *fh)
{
    struct gw_host_api *api = (struct gw_host_api *)(uintptr_t)fakehost_api(fh);
    api->queue_info = st_queue_info;
    api->transcript = st_transcript;
    api->feedback = st_feedback;
    api->transcript_text = st_transcript_text;
    api->erase_conv = st_erase_conv;
}

static void plugin_up(struct t *t)
{
    char conf[2048];
    snprintf(conf, sizeof(conf), CONF, t->dir);
    const config_setting_t *c = fakehost_conf(t->fh, conf, "webchat");
    assert_non_null(c);
    char err[256] = "";
    assert_int_equal(fakehost_plugin_init(t->fh, &skagerrak_plugin, c, err, sizeof(err)), GW_OK);
    assert_int_equal(fakehost_plugin_start(t->fh), GW_OK);
    t->self = fakehost_plugin_self(t->fh);
    rec.self = t->self;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    struct t *t = calloc(1, sizeof(*t));
    memset(&rec, 0, sizeof(rec));
    rec.queue_open = 1;
    snprintf(t->dir, sizeof(t->dir), "/tmp/webchat-test-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    char i18n[128];
    snprintf(i18n, sizeof(i18n), "%s/i18n", t->dir);
    mkdir(i18n, 0700);
    write_file(t->dir, "chat.html", "<!doctype html><title>x</title>");
    write_file(t->dir, "widget.js", "console.log(1)");
    write_file(t->dir, "i18n/nb.json", "{}");
    write_file(t->dir, "secret.db", "no");

    t->fh = fakehost_new();
    extend_api(t->fh);
    plugin_up(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct t *t = *state;
    fakehost_free(&t->fh); /* stops the plugin */
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
    assert_int_equal(system(cmd), 0);
    free(t);
    return 0;
}

static json_t *body_json(const struct fakehost_resp *r)
{
    json_t *j = json_loads(r->body, 0, NULL);
    assert_non_null(j);
    return j;
}

/* Start a session; copies the token into tok (33 bytes).  Returns the conv. */
static const char *start(struct t *t, char *tok, const char *body)
{
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "POST", "/session", NULL, NULL, body, "10.0.0.1", &r),
                     201);
    json_t *j = body_json(&r);
    snprintf(tok, 33, "%s", json_string_value(json_object_get(j, "token")));
    json_decref(j);
    fakehost_resp_free(&r);
    return t->fh->submits[t->fh->nsubmits - 1].out.conv;
}

static int post(struct t *t, const char *tok, const char *path, const char *body,
                struct fakehost_resp *r)
{
    char auth[64];
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    const char *hdr[] = {"Authorization", auth, "Content-Type", "application/json", NULL};
    return fakehost_http(t->fh, "POST", path, hdr, NULL, body, "10.0.0.1", r);
}

static int post_free(struct t *t, const char *tok, const char *path, const char *body)
{
    struct fakehost_resp r;
    int st = post(t, tok, path, body, &r);
    fakehost_resp_free(&r);
    return st;
}

static struct gw_http_stream *open_events(struct t *t, const char *tok, const char *after)
{
    const char *q[] = {"token", tok, after ? "after" : NULL, after, NULL};
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "GET", "/events", NULL, q, NULL, "10.0.0.1", &r), 200);
    assert_non_null(r.stream);
    assert_non_null(strstr(r.content_type, "text/event-stream"));
    struct gw_http_stream *s = r.stream;
    fakehost_resp_free(&r);
    return s;
}

static void config_lists_fields_and_queue(void **state)
{
    struct t *t = *state;
    struct fakehost_resp r;
    const char *q[] = {"lang", "da", "queue", "work", NULL};
    assert_int_equal(fakehost_http(t->fh, "GET", "/config", NULL, q, NULL, NULL, &r), 200);
    json_t *j = body_json(&r);
    assert_int_equal(json_array_size(json_object_get(j, "languages")), 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "queue"), "name")),
                        "Q-da");
    json_t *f = json_array_get(json_object_get(j, "fields"), 0);
    assert_string_equal(json_string_value(json_object_get(f, "id")), "topic");
    json_t *o = json_array_get(json_object_get(f, "options"), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "label"), "nb")),
                        "Arbeid");
    assert_int_equal(json_integer_value(json_object_get(j, "max_chars")), 50);
    json_decref(j);
    fakehost_resp_free(&r);
    const char *bad[] = {"queue", "secret", NULL};
    assert_int_equal(fakehost_http(t->fh, "GET", "/config", NULL, bad, NULL, NULL, &r), 400);
    fakehost_resp_free(&r);
}

static void session_start_submits_prechat(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv =
        start(t, tok, "{\"lang\":\"nn\",\"queue\":\"work\",\"fields\":{\"topic\":\"work\"}}");
    assert_int_equal(strlen(tok), 32);
    assert_int_equal(t->fh->nsubmits, 1);
    struct fakehost_submit *s = &t->fh->submits[0];
    assert_int_equal(s->new_conversation, 1);
    assert_string_equal(s->body, "");
    assert_string_equal(s->lang, "nn");
    assert_string_equal(s->queue, "work");
    assert_string_equal(s->meta_json, "{\"fields\":{\"topic\":\"work\"}}");
    assert_int_equal(strncmp(s->address, "web:", 4), 0);
    assert_null(strstr(s->display, s->address + 4)); /* only the masked tail */
    assert_string_equal(conv, "conv-1");
    /* the token is never logged */
    assert_false(fakehost_log_contains(t->fh, tok));

    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "POST", "/session", NULL, NULL,
                                   "{\"fields\":{\"age\":\"9\"}}", NULL, &r),
                     400);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "field_unknown");
    json_decref(j);
    fakehost_resp_free(&r);
}

static void message_roundtrip_and_idempotency(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv = start(t, tok, NULL);
    struct fakehost_resp r;
    assert_int_equal(
        post(t, tok, "/message", "{\"text\":\"Hei, jeg lurer på studier\",\"cid\":\"c1\"}", &r),
        200);
    json_t *j = body_json(&r);
    int64_t id = json_integer_value(json_object_get(j, "id"));
    assert_true(id > 0);
    assert_false(json_is_true(json_object_get(j, "duplicate")));
    json_decref(j);
    fakehost_resp_free(&r);
    struct fakehost_submit *s = &t->fh->submits[1];
    assert_string_equal(s->body, "Hei, jeg lurer på studier");
    assert_string_equal(s->conv, conv);
    assert_non_null(strstr(s->channel_msg_id, ":c1"));
    assert_int_equal(strncmp(s->channel_msg_id, "web:", 4), 0);

    /* a retry with the same cid is a duplicate with the same id */
    assert_int_equal(
        post(t, tok, "/message", "{\"text\":\"Hei, jeg lurer på studier\",\"cid\":\"c1\"}", &r),
        200);
    j = body_json(&r);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), id);
    assert_true(json_is_true(json_object_get(j, "duplicate")));
    json_decref(j);
    fakehost_resp_free(&r);
}

static void auth_and_limits(void **state)
{
    struct t *t = *state;
    char tok[33];
    start(t, tok, NULL);
    struct fakehost_resp r;
    assert_int_equal(
        post_free(t, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "/message", "{\"text\":\"x\"}"), 401);
    assert_int_equal(
        fakehost_http(t->fh, "POST", "/message", NULL, NULL, "{\"text\":\"x\"}", NULL, &r), 401);
    assert_string_equal(fakehost_resp_header(&r, "WWW-Authenticate"), "Bearer");
    fakehost_resp_free(&r);
    /* a token in the query is not accepted for POSTs */
    const char *q[] = {"token", tok, NULL};
    assert_int_equal(
        fakehost_http(t->fh, "POST", "/message", NULL, q, "{\"text\":\"x\"}", NULL, &r), 401);
    fakehost_resp_free(&r);

    /* too long: 51 characters */
    assert_int_equal(post(t, tok, "/message",
                          "{\"text\":\"æææææææææææææææææææææææææææææææææææææææææææææææææææ\"}", &r),
                     413);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "too_long");
    assert_int_equal(json_integer_value(json_object_get(j, "max_chars")), 50);
    json_decref(j);
    fakehost_resp_free(&r);

    /* rate: 3 per minute per session */
    for (int i = 0; i < 3; i++)
        assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"x\"}"), 200);
    assert_int_equal(post(t, tok, "/message", "{\"text\":\"x\"}", &r), 429);
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "rate_limited");
    assert_true(json_integer_value(json_object_get(j, "retry_after_s")) >= 1);
    assert_non_null(fakehost_resp_header(&r, "Retry-After"));
    json_decref(j);
    fakehost_resp_free(&r);
    t->fh->now_ms += 20001;
    assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"x\"}"), 200);

    /* new sessions per IP: 5 per hour (one used above) */
    for (int i = 0; i < 4; i++)
        start(t, tok, NULL);
    assert_int_equal(fakehost_http(t->fh, "POST", "/session", NULL, NULL, NULL, "10.0.0.1", &r),
                     429);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "POST", "/session", NULL, NULL, NULL, "10.0.0.2", &r),
                     201);
    fakehost_resp_free(&r);
}

static void cors(void **state)
{
    struct t *t = *state;
    struct fakehost_resp r;
    const char *good[] = {"Origin", "https://www.example.no", "Host", "chat.example.no", NULL};
    const char *evil[] = {"Origin", "https://evil.example", "Host", "chat.example.no", NULL};
    const char *same[] = {"Origin", "https://chat.example.no", "Host", "chat.example.no", NULL};
    assert_int_equal(fakehost_http(t->fh, "POST", "/session", good, NULL, NULL, NULL, &r), 201);
    assert_string_equal(fakehost_resp_header(&r, "Access-Control-Allow-Origin"),
                        "https://www.example.no");
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "POST", "/session", evil, NULL, NULL, NULL, &r), 403);
    assert_null(fakehost_resp_header(&r, "Access-Control-Allow-Origin"));
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1); /* the refused one did nothing */
    assert_int_equal(fakehost_http(t->fh, "POST", "/session", same, NULL, NULL, NULL, &r), 201);
    assert_null(fakehost_resp_header(&r, "Access-Control-Allow-Origin"));
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "OPTIONS", "/message", good, NULL, NULL, NULL, &r), 204);
    assert_string_equal(fakehost_resp_header(&r, "Access-Control-Allow-Methods"), "POST");
    assert_non_null(
        strstr(fakehost_resp_header(&r, "Access-Control-Allow-Headers"), "Authorization"));
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "OPTIONS", "/message", evil, NULL, NULL, NULL, &r), 403);
    fakehost_resp_free(&r);
}

static void events_replay_then_live(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv = start(t, tok, NULL);
    char cv[40];
    snprintf(cv, sizeof(cv), "%s", conv);
    int64_t a = fakehost_history_add(t->fh, cv, "auto", "Du er nummer 2 i køen.", "sent");
    int64_t b = fakehost_history_add(t->fh, cv, "out", "Hei! Jeg heter Kari.", "sent");
    struct gw_http_stream *s = open_events(t, tok, NULL);
    const char *d = fakehost_stream_data(s, NULL);
    assert_non_null(strstr(d, "retry: 2000\n"));
    assert_non_null(strstr(d, "event: hello\n"));
    assert_non_null(strstr(d, "\"state\":\"queued\""));
    char idline[32];
    snprintf(idline, sizeof(idline), "id: %lld\n", (long long)b);
    assert_non_null(strstr(d, idline));
    assert_non_null(strstr(d, "Hei! Jeg heter Kari."));
    assert_non_null(strstr(d, "event: ready\n"));

    /* a live deliver of an already replayed id is not sent twice */
    size_t before = 0;
    fakehost_stream_data(s, &before);
    struct gw_msg m = {
        .id = b, .kind = GW_MSG_TEXT, .conv = cv, .body = "Hei! Jeg heter Kari.", .lang = "nb"};
    char err[128];
    assert_int_equal(skagerrak_plugin.deliver(t->self, &m, err, sizeof(err)), GW_PENDING);
    size_t after = 0;
    fakehost_stream_data(s, &after);
    assert_int_equal(before, after);

    /* a new one is */
    m.id = b + 10;
    m.body = "<img src=x onerror=alert(1)>";
    assert_int_equal(skagerrak_plugin.deliver(t->self, &m, err, sizeof(err)), GW_PENDING);
    d = fakehost_stream_data(s, NULL);
    snprintf(idline, sizeof(idline), "id: %lld\n", (long long)(b + 10));
    assert_non_null(strstr(d, idline));
    assert_non_null(
        strstr(d, "<img src=x onerror=alert(1)>")); /* as data; the widget uses textContent */

    /* typing: no id */
    struct gw_msg ty = {.id = 0, .kind = GW_MSG_TYPING, .conv = cv, .body = "composing"};
    skagerrak_plugin.deliver(t->self, &ty, err, sizeof(err));
    d = fakehost_stream_data(s, NULL);
    assert_non_null(strstr(d, "event: typing\ndata: {\"state\":\"composing\"}\n\n"));

    /* an AUTO item with structure */
    struct gw_msg au = {.id = b + 11,
                        .kind = GW_MSG_AUTO,
                        .conv = cv,
                        .body = "Kari er med",
                        .meta_json = "{\"type\":\"joined\",\"name\":\"Kari\"}"};
    skagerrak_plugin.deliver(t->self, &au, err, sizeof(err));
    d = fakehost_stream_data(s, NULL);
    assert_non_null(strstr(d, "\"meta\":{\"type\":\"joined\",\"name\":\"Kari\"}"));

    /* reconnect with Last-Event-ID: only what came after */
    char lei[24];
    snprintf(lei, sizeof(lei), "%lld", (long long)a);
    struct gw_http_stream *s2 = open_events(t, tok, lei);
    d = fakehost_stream_data(s2, NULL);
    assert_null(strstr(d, "Du er nummer 2"));
    assert_non_null(strstr(d, "Hei! Jeg heter Kari."));

    /* the seeker's own message shows in every tab, without an SSE id */
    assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"Fra fane 1\",\"cid\":\"x9\"}"),
                     200);
    d = fakehost_stream_data(s2, NULL);
    const char *own = strstr(d, "Fra fane 1");
    assert_non_null(own);
    assert_non_null(strstr(d, "\"cid\":\"x9\""));
    /* the frame holding it has no id line */
    const char *frame = own;
    while (frame > d && !(frame[-1] == '\n' && frame[-2] == '\n'))
        frame--;
    assert_true(strncmp(frame, "data: ", 6) == 0);

    /* heartbeats go to every stream */
    fakehost_fire_timers(t->fh, 25000);
    d = fakehost_stream_data(s, NULL);
    assert_non_null(strstr(d, ": hb\n\n"));

    /* a third stream for the same session closes the oldest (limit 2) */
    struct gw_http_stream *s3 = open_events(t, tok, NULL);
    assert_true(fakehost_stream_closed(s));
    assert_false(fakehost_stream_closed(s2));
    fakehost_stream_drop(s2);
    fakehost_stream_drop(s3);
    char health[128];
    skagerrak_plugin.health(t->self, health, sizeof(health));
    assert_non_null(strstr(health, "\"streams\":0"));
}

static void events_need_a_session(void **state)
{
    struct t *t = *state;
    struct fakehost_resp r;
    const char *q[] = {"token", "nope", NULL};
    assert_int_equal(fakehost_http(t->fh, "GET", "/events", NULL, q, NULL, NULL, &r), 401);
    assert_null(r.stream);
    fakehost_resp_free(&r);
    char tok[33];
    start(t, tok, NULL);
    const char *q2[] = {"token", tok, "after", "x1", NULL};
    assert_int_equal(fakehost_http(t->fh, "GET", "/events", NULL, q2, NULL, NULL, &r), 400);
    fakehost_resp_free(&r);
}

static void blocked_session_is_refused(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv = start(t, tok, NULL);
    char cv[40];
    snprintf(cv, sizeof(cv), "%s", conv);
    struct gw_http_stream *s = open_events(t, tok, NULL);
    struct gw_msg m = {.id = 99,
                       .kind = GW_MSG_CLOSED,
                       .conv = cv,
                       .body = "Samtalen er avsluttet.",
                       .meta_json = "{\"type\":\"closed\",\"reason\":\"blocked\"}"};
    char err[128];
    assert_int_equal(skagerrak_plugin.deliver(t->self, &m, err, sizeof(err)), GW_OK);
    assert_non_null(strstr(fakehost_stream_data(s, NULL), "\"reason\":\"blocked\""));
    struct fakehost_resp r;
    assert_int_equal(post(t, tok, "/message", "{\"text\":\"hallo?\"}", &r), 403);
    json_t *j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "blocked");
    json_decref(j);
    fakehost_resp_free(&r);
    assert_int_equal(t->fh->nsubmits, 1);
    /* the core refusing (blocked address) is handled the same way */
    char tok2[33];
    start(t, tok2, NULL);
    t->fh->submit_rc = GW_EPERM;
    assert_int_equal(post_free(t, tok2, "/message", "{\"text\":\"x\"}"), 403);
    t->fh->submit_rc = 0;
    assert_int_equal(post_free(t, tok2, "/message", "{\"text\":\"x\"}"), 403);
    /* a core outage is a 503 the widget retries */
    char tok3[33];
    start(t, tok3, NULL);
    t->fh->submit_rc = GW_EIO;
    assert_int_equal(post_free(t, tok3, "/message", "{\"text\":\"x\"}"), 503);
    t->fh->submit_rc = 0;
    assert_int_equal(post_free(t, tok3, "/message", "{\"text\":\"x\"}"), 200);
}

static void end_transcript_feedback(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv = start(t, tok, NULL);
    char cv[40];
    snprintf(cv, sizeof(cv), "%s", conv);
    struct gw_http_stream *s = open_events(t, tok, NULL);
    assert_int_equal(post_free(t, tok, "/typing", "{\"state\":\"composing\"}"), 204);
    assert_int_equal(t->fh->events[t->fh->nevents - 1].ev, GW_EV_COMPOSING);
    assert_int_equal(post_free(t, tok, "/end", NULL), 200);
    assert_int_equal(t->fh->events[t->fh->nevents - 1].ev, GW_EV_ENDED);
    assert_string_equal(t->fh->events[t->fh->nevents - 1].conv, cv);
    assert_non_null(strstr(fakehost_stream_data(s, NULL), "event: ended"));
    size_t nev = t->fh->nevents;
    assert_int_equal(post_free(t, tok, "/end", NULL), 200); /* idempotent */
    assert_int_equal(t->fh->nevents, nev);
    assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"x\"}"), 409);

    char auth[64];
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    const char *hdr[] = {"Authorization", auth, NULL};
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "GET", "/transcript", hdr, NULL, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, cv));
    assert_non_null(strstr(fakehost_resp_header(&r, "Content-Disposition"),
                           "attachment; filename=\"chat-2026"));
    fakehost_resp_free(&r);

    assert_int_equal(post_free(t, tok, "/transcript-email", "{\"address\":\"kari@example.no\"}"),
                     202);
    assert_string_equal(rec.transcript_addr, "kari@example.no");
    assert_false(fakehost_log_contains(t->fh, "kari@example.no"));
    assert_int_equal(post_free(t, tok, "/transcript-email", "{\"address\":\"x\"}"), 400);

    assert_int_equal(post_free(t, tok, "/feedback", "{\"rating\":4,\"comment\":\"Nyttig\"}"), 204);
    assert_int_equal(rec.feedback_rating, 4);
    assert_string_equal(rec.feedback_comment, "Nyttig");
    assert_int_equal(post_free(t, tok, "/feedback", "{\"rating\":5}"), 409);
    assert_int_equal(rec.nfeedback, 1);
    fakehost_stream_drop(s);
}

/* "Delete this conversation now": the core is asked, the plugin forgets the session (its
 * pages hear "erased" and lose their streams; the token opens nothing; no stored copy is
 * written back). */
static void erase_by_the_seeker(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv = start(t, tok, NULL);
    char cv[40];
    snprintf(cv, sizeof(cv), "%s", conv);
    struct gw_http_stream *s = open_events(t, tok, NULL);
    assert_int_equal(post_free(t, tok, "/end", NULL), 200);
    assert_int_equal(post_free(t, tok, "/erase", NULL), 200);
    assert_int_equal(rec.nerase, 1);
    assert_string_equal(rec.erased_conv, cv);
    assert_non_null(strstr(fakehost_stream_data(s, NULL), "event: erased"));
    assert_true(fakehost_stream_closed(s));
    /* what the fake host still keeps in kv is what the core deletes; the plugin must not
     * write the session again: drop it and see nothing come back */
    char auth[64];
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    const char *hdr[] = {"Authorization", auth, NULL};
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "GET", "/session", hdr, NULL, NULL, NULL, &r), 401);
    fakehost_resp_free(&r);
    /* the core deleted the stored copy with the erase (store_privacy.c); do as it does */
    char key[WEB_TOKEN_KEY_LEN + 1], kvkey[WEB_TOKEN_KEY_LEN + 8];
    assert_int_equal(web_token_key(tok, key, sizeof(key)), GW_OK);
    snprintf(kvkey, sizeof(kvkey), "s.%s", key);
    const struct gw_host_api *api = fakehost_api(t->fh);
    api->kv_del(fakehost_host(t->fh), kvkey);
    fakehost_fire_timers(t->fh, 10); /* idle drop, sweep: nothing writes it back */
    char *again = api->kv_get(fakehost_host(t->fh), kvkey);
    assert_null(again);
    assert_int_equal(post_free(t, tok, "/erase", NULL), 401);
    assert_int_equal(rec.nerase, 1);
    fakehost_stream_drop(s);
}

/* Sessions the plugin holds in memory (its health detail). */
static int sessions_in_memory(struct t *t)
{
    char buf[128];
    skagerrak_plugin.health(t->self, buf, sizeof(buf));
    json_t *j = json_loads(buf, 0, NULL);
    assert_non_null(j);
    int n = (int)json_integer_value(json_object_get(j, "sessions"));
    json_decref(j);
    return n;
}

static int get_status(struct t *t, const char *tok, json_t **out)
{
    char auth[64];
    snprintf(auth, sizeof(auth), "Bearer %s", tok);
    const char *hdr[] = {"Authorization", auth, NULL};
    struct fakehost_resp r;
    int st = fakehost_http(t->fh, "GET", "/session", hdr, NULL, NULL, NULL, &r);
    *out = st == 200 ? body_json(&r) : NULL;
    fakehost_resp_free(&r);
    return st;
}

/* Ended, closed and blocked conversations leave no session in memory once no page shows
 * them (issue 12: ~1 KB per ended conversation stayed for session_ttl_s); what the page
 * may still ask is answered from the stored copy. */
static void closed_sessions_leave_memory(void **state)
{
    struct t *t = *state;
    char tok[33];
    start(t, tok, NULL);
    assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"x\"}"), 200);
    assert_int_equal(post_free(t, tok, "/end", NULL), 200);
    assert_int_equal(sessions_in_memory(t), 1); /* dropped on the next loop turn */
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(sessions_in_memory(t), 0);
    json_t *j = NULL;
    assert_int_equal(get_status(t, tok, &j), 200);
    assert_true(json_is_true(json_object_get(j, "closed")));
    json_decref(j);
    assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"x\"}"), 409);
    assert_int_equal(post_free(t, tok, "/feedback", "{\"rating\":3}"), 204);
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(sessions_in_memory(t), 0);
    assert_int_equal(post_free(t, tok, "/feedback", "{\"rating\":3}"), 409); /* stored */
    assert_int_equal(rec.nfeedback, 1);

    /* a page that shows the ended conversation keeps it until it goes */
    char tok2[33];
    char cv2[40];
    snprintf(cv2, sizeof(cv2), "%s", start(t, tok2, NULL));
    struct gw_http_stream *s = open_events(t, tok2, NULL);
    assert_int_equal(post_free(t, tok2, "/end", NULL), 200);
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(sessions_in_memory(t), 1);
    fakehost_stream_drop(s);
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(sessions_in_memory(t), 0);

    /* closed by the service (a counsellor's !close or !block, max_wait) with no page open */
    char tok3[33];
    char cv3[40];
    snprintf(cv3, sizeof(cv3), "%s", start(t, tok3, NULL));
    struct gw_msg m = {.id = 7,
                       .kind = GW_MSG_CLOSED,
                       .conv = cv3,
                       .body = "Samtalen er avsluttet.",
                       .meta_json = "{\"type\":\"closed\",\"reason\":\"blocked\"}"};
    char err[64];
    assert_int_equal(skagerrak_plugin.deliver(t->self, &m, err, sizeof(err)), GW_OK);
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(sessions_in_memory(t), 0);
    assert_int_equal(post_free(t, tok3, "/message", "{\"text\":\"x\"}"), 403);
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(sessions_in_memory(t), 0);

    /* an open conversation stays in memory (deliveries find it by conversation) */
    char tok4[33];
    start(t, tok4, NULL);
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(sessions_in_memory(t), 1);
}

static void acks_only_own_messages(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv = start(t, tok, NULL);
    char cv[40];
    snprintf(cv, sizeof(cv), "%s", conv);
    struct gw_http_stream *s = open_events(t, tok, NULL);
    struct gw_msg m = {.id = 500, .kind = GW_MSG_TEXT, .conv = cv, .body = "Hei"};
    char err[64];
    /* a counsellor's text is confirmed with a reference on the next turn */
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof(err)), GW_PENDING);
    assert_int_equal(t->fh->ndones, 0);
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(t->fh->ndones, 1);
    assert_int_equal(t->fh->dones[0].msg_id, 500);
    assert_int_equal(t->fh->dones[0].status, GW_OK);
    assert_string_equal(t->fh->dones[0].channel_ref, "web:500");
    fakehost_ref_add(t->fh, "web:501", "conv-other");
    assert_int_equal(post_free(t, tok, "/ack", "{\"ids\":[500,501]}"), 204);
    assert_int_equal(fakehost_ref_state(t->fh, "web:500"), GW_DLR_DELIVERED);
    assert_int_equal(fakehost_ref_state(t->fh, "web:501"), 0);
    assert_int_equal(t->fh->events[t->fh->nevents - 1].ev, GW_EV_SEEN);
    assert_int_equal(post_free(t, tok, "/ack", "{\"ids\":\"x\"}"), 400);
    fakehost_stream_drop(s);
}

static void resume_after_restart(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv = start(t, tok, NULL);
    char cv[40];
    snprintf(cv, sizeof(cv), "%s", conv);
    /* restart the plugin: memory is gone, the kv store is not */
    fakehost_plugin_stop(t->fh);
    plugin_up(t);
    assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"Er du der fortsatt?\"}"), 200);
    assert_string_equal(t->fh->submits[t->fh->nsubmits - 1].conv, cv);
    /* the core closed the conversation meanwhile: the restored session knows */
    char tok2[33];
    const char *c2 = start(t, tok2, NULL);
    char cv2[40];
    snprintf(cv2, sizeof(cv2), "%s", c2);
    fakehost_plugin_stop(t->fh);
    fakehost_conv_state(t->fh, cv2, "closed");
    plugin_up(t);
    assert_int_equal(post_free(t, tok2, "/message", "{\"text\":\"x\"}"), 409);
}

static void pending_confirmed_on_stop(void **state)
{
    struct t *t = *state;
    char tok[33];
    const char *conv = start(t, tok, NULL);
    struct gw_msg m = {.id = 77, .kind = GW_MSG_TEXT, .conv = conv, .body = "Hei"};
    char err[64];
    /* offline seeker: still accepted (replay covers it) */
    assert_int_equal(fakehost_plugin_deliver(t->fh, &m, err, sizeof(err)), GW_PENDING);
    struct gw_msg tr = {.id = 78, .kind = GW_MSG_TRANSCRIPT, .conv = conv, .body = "x"};
    assert_int_equal(fakehost_plugin_deliver(t->fh, &tr, err, sizeof(err)), GW_EPERM);
    fakehost_plugin_stop(t->fh);
    assert_int_equal(t->fh->ndones, 1);
    assert_int_equal(t->fh->dones[0].msg_id, 77);
    plugin_up(t);
}

/* The stored copy of a session (under "s." and the token's key). */
static char *stored(struct t *t, const char *tok)
{
    char key[WEB_TOKEN_KEY_LEN + 1], kv[WEB_TOKEN_KEY_LEN + 3];
    assert_int_equal(web_token_key(tok, key, sizeof(key)), GW_OK);
    snprintf(kv, sizeof(kv), "s.%s", key);
    return fakehost_api(t->fh)->kv_get(fakehost_host(t->fh), kv);
}

static void expiry(void **state)
{
    struct t *t = *state;
    char tok[33], tok2[33];
    start(t, tok, NULL);
    assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"x\"}"), 200);
    start(t, tok2, NULL); /* ended: not in memory, only stored */
    assert_int_equal(post_free(t, tok2, "/end", NULL), 200);
    fakehost_fire_timers(t->fh, 0);
    assert_int_equal(sessions_in_memory(t), 1);
    char *json = stored(t, tok2);
    assert_non_null(json);
    free(json);
    /* default ttl 2 h; the sweep runs every minute: memory and store are freed */
    fakehost_fire_timers(t->fh, 2 * 3600 * 1000 + 120000);
    assert_int_equal(sessions_in_memory(t), 0);
    assert_null(stored(t, tok));
    assert_int_equal(post_free(t, tok, "/message", "{\"text\":\"x\"}"), 401);
    /* the ended one, found expired in the store, is deleted there */
    assert_int_equal(post_free(t, tok2, "/feedback", "{\"rating\":1}"), 401);
    assert_null(stored(t, tok2));
    assert_int_equal(sessions_in_memory(t), 0);
}

static void static_files(void **state)
{
    struct t *t = *state;
    struct fakehost_resp r;
    assert_int_equal(fakehost_http(t->fh, "GET", "/chat.html", NULL, NULL, NULL, NULL, &r), 200);
    const char *csp = fakehost_resp_header(&r, "Content-Security-Policy");
    assert_non_null(csp);
    assert_non_null(strstr(csp, "script-src 'self'"));
    assert_null(strstr(csp, "unsafe-inline"));
    assert_non_null(strstr(r.content_type, "text/html"));
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "GET", "/", NULL, NULL, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "<!doctype html>"));
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "GET", "/widget.js", NULL, NULL, NULL, NULL, &r), 200);
    assert_string_equal(r.body, "console.log(1)");
    assert_null(fakehost_resp_header(&r, "Content-Security-Policy"));
    char etag[64];
    snprintf(etag, sizeof(etag), "%s", fakehost_resp_header(&r, "ETag"));
    fakehost_resp_free(&r);
    const char *inm[] = {"If-None-Match", etag, NULL};
    assert_int_equal(fakehost_http(t->fh, "GET", "/widget.js", inm, NULL, NULL, NULL, &r), 304);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "GET", "/i18n/nb.json", NULL, NULL, NULL, NULL, &r), 200);
    fakehost_resp_free(&r);
    const char *no[] = {"/secret.db", "/../etc/passwd", "/i18n/../secret.db", "/.hidden.js",
                        "/nope.js"};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_int_equal(fakehost_http(t->fh, "GET", no[i], NULL, NULL, NULL, NULL, &r), 404);
        fakehost_resp_free(&r);
    }
    assert_int_equal(fakehost_http(t->fh, "POST", "/widget.js", NULL, NULL, NULL, NULL, &r), 405);
    fakehost_resp_free(&r);
    assert_int_equal(fakehost_http(t->fh, "GET", "/message", NULL, NULL, NULL, NULL, &r), 405);
    fakehost_resp_free(&r);
}

static void bad_config_is_reported(void **state)
{
    (void)state;
    struct fakehost *fh = fakehost_new();
    const char *bad[] = {
        "webchat = { colour = \"red\"; };",
        "webchat = { allowed_origins = [\"https://x.no/\"]; };",
        "webchat = { languages = [\"sv\"]; };",
        "webchat = { default_lang = \"da\"; languages = [\"nb\"]; };",
        "webchat = { session_ttl_s = 1; };",
        "webchat = { prechat = ( { id = \"topic\"; } ); };",
        "webchat = { prechat = ( { id = \"a\"; type = \"text\"; }, { id = \"a\"; type = \"text\"; "
        "} ); };",
        "webchat = { storage = \"cookie\"; };",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        void *self = NULL;
        char err[256] = "";
        const config_setting_t *c = fakehost_conf(fh, bad[i], "webchat");
        assert_non_null(c);
        size_t before = fh->ncfg_errors;
        assert_int_equal(
            skagerrak_plugin.init(&self, c, fakehost_api(fh), fakehost_host(fh), err, sizeof(err)),
            GW_EINVAL);
        assert_null(self);
        assert_true(fh->ncfg_errors > before);
    }
    assert_true(fakehost_cfg_error_contains(fh, "colour"));
    /* no group at all: every default */
    void *self = NULL;
    char err[256];
    assert_int_equal(
        skagerrak_plugin.init(&self, NULL, fakehost_api(fh), fakehost_host(fh), err, sizeof(err)),
        GW_OK);
    skagerrak_plugin.stop(self);
    fakehost_free(&fh);
}

static void address_helpers(void **state)
{
    (void)state;
    char out[64];
    web_api_ip_key("192.0.2.7", out, sizeof(out));
    assert_string_equal(out, "192.0.2.7");
    web_api_ip_key("2001:db8:1:2:3:4:5:6", out, sizeof(out));
    assert_string_equal(out, "2001:db8:1:2::/64");
    web_api_ip_key("junk", out, sizeof(out));
    assert_string_equal(out, "");
    web_api_forwarded_for("203.0.113.9, 198.51.100.1", out, sizeof(out));
    assert_string_equal(out, "198.51.100.1");
    web_api_forwarded_for(NULL, out, sizeof(out));
    assert_string_equal(out, "");
    assert_true(web_api_same_host("https://chat.example.no", "chat.example.no"));
    assert_true(web_api_same_host("http://127.0.0.1:8080", "127.0.0.1:8080"));
    assert_false(web_api_same_host("https://chat.example.no.evil", "chat.example.no"));
    assert_false(web_api_same_host("null", "chat.example.no"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(config_lists_fields_and_queue, setup, teardown),
        cmocka_unit_test_setup_teardown(session_start_submits_prechat, setup, teardown),
        cmocka_unit_test_setup_teardown(message_roundtrip_and_idempotency, setup, teardown),
        cmocka_unit_test_setup_teardown(auth_and_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(cors, setup, teardown),
        cmocka_unit_test_setup_teardown(events_replay_then_live, setup, teardown),
        cmocka_unit_test_setup_teardown(events_need_a_session, setup, teardown),
        cmocka_unit_test_setup_teardown(blocked_session_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(end_transcript_feedback, setup, teardown),
        cmocka_unit_test_setup_teardown(erase_by_the_seeker, setup, teardown),
        cmocka_unit_test_setup_teardown(closed_sessions_leave_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(acks_only_own_messages, setup, teardown),
        cmocka_unit_test_setup_teardown(resume_after_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(pending_confirmed_on_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(expiry, setup, teardown),
        cmocka_unit_test_setup_teardown(static_files, setup, teardown),
        cmocka_unit_test(bad_config_is_reported),
        cmocka_unit_test(address_helpers),
    };
    return cmocka_run_group_tests_name("webchat/api", tests, NULL, NULL);
}

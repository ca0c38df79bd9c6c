/* test_privacy.c — unit tests for gateway/store/store_privacy.c: finding a seeker, the export
 * document, the erase (what goes, what stays) and that the erased text is gone from the
 * database file and its write-ahead log, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/plugin_api.h"
#include "store/store.h"
#include "store/store_privacy.h"

#define SECRET_IN "my-secret-seeker-text-4711"
#define SECRET_OUT "counsellor-answer-text-0815"
#define ADDRESS "+4799887766"

struct fx {
    char dir[64];
    char db[128];
    struct gw_store *s;
    int64_t seeker, other, conv, conv2, msg_in, msg_out;
};

static int64_t add_conv(struct gw_store *s, int64_t seeker, const char *token, const char *state,
                        const char *partner, int role)
{
    struct gw_conv_row c = {0};
    static int64_t next_id = 1;
    c.id = next_id++;
    snprintf(c.token, sizeof c.token, "%s", token);
    c.seeker_id = seeker;
    snprintf(c.queue, sizeof c.queue, "general");
    snprintf(c.lang, sizeof c.lang, "nb");
    snprintf(c.state, sizeof c.state, "%s", state);
    c.created = c.queued_at = 1000;
    c.assigned_at = 2000;
    c.closed_at = 5000;
    snprintf(c.outcome, sizeof c.outcome, "done");
    snprintf(c.meta, sizeof c.meta, "{\"fields\":{\"age\":\"17\"}}");
    if (partner) {
        snprintf(c.partner, sizeof c.partner, "%s", partner);
        snprintf(c.partner_ref, sizeof c.partner_ref, "peer-ref-1");
        c.role = role;
    }
    return gw_store_conv_insert(s, &c);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/gwtest-priv-XXXXXX");
    if (!f || !mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/gw.db", f->dir);
    char err[256] = "";
    f->s = gw_store_open(f->db, err, sizeof err);
    if (!f->s)
        return -1;
    f->seeker = gw_store_seeker_upsert(f->s, "sms", ADDRESS, "Kari", "nn");
    f->other = gw_store_seeker_upsert(f->s, "sms", "+4711111111", NULL, "nb");
    f->conv = add_conv(f->s, f->seeker, "tokA1", "closed", "partner.example", 1);
    f->conv2 = add_conv(f->s, f->seeker, "tokA2", "active", NULL, 0);
    int64_t oc = add_conv(f->s, f->other, "tokB1", "closed", NULL, 0);
    f->msg_in =
        gw_store_msg_insert(f->s, f->conv, "in", SECRET_IN, ADDRESS, 1500, "stored", NULL, NULL);
    f->msg_out = gw_store_msg_insert(f->s, f->conv, "out", SECRET_OUT, "c@example", 2500,
                                     "delivered", NULL, NULL);
    gw_store_msg_insert(f->s, f->conv, "sys", "close-relay", NULL, 2600, "stored", NULL, NULL);
    gw_store_msg_insert(f->s, oc, "in", "other-seeker-keeps-this", "+4711111111", 1500, "stored",
                        NULL, NULL);
    gw_store_dedup_add(f->s, "sms", "ext-" ADDRESS, f->msg_in);
    gw_store_event(f->s, f->conv, 1600, "consent", ADDRESS, "yes");
    gw_store_event(f->s, f->conv, 1700, "escalated", "c@example", "partner.example");
    gw_store_feedback(f->s, f->conv, 5, "comment-" SECRET_IN);
    gw_store_kv_set(f->s, "webchat", "s.abc",
                    "{\"sid\":\"sidA\",\"conv\":\"tokA2\",\"lang\":\"nn\",\"queue\":\"general\","
                    "\"created\":1,\"exp\":99}");
    gw_store_kv_set(f->s, "webchat", "plain", "not json");
    gw_store_kv_set(f->s, "email", "refs:tokA1", "<mid-" ADDRESS "@seeker.test>");
    if (gw_store_commit(f->s) != GW_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gw_store_close(&f->s);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", f->dir);
    if (system(cmd) != 0)
        return -1;
    free(f);
    return 0;
}

static void test_find(void **state)
{
    struct fx *f = *state;
    assert_int_equal(gw_store_privacy_by_address(f->s, "sms", ADDRESS), f->seeker);
    assert_int_equal(gw_store_privacy_by_address(f->s, "email", ADDRESS), GW_ENOTFOUND);
    assert_int_equal(gw_store_privacy_by_address(f->s, "sms", ""), GW_ENOTFOUND);
    assert_int_equal(gw_store_privacy_by_conv(f->s, "tokA2"), f->seeker);
    assert_int_equal(gw_store_privacy_by_conv(f->s, "tokA1@gw.example/x"), f->seeker);
    assert_int_equal(gw_store_privacy_by_conv(f->s, "nope"), GW_ENOTFOUND);
    assert_int_equal(gw_store_privacy_by_session(f->s, "sidA"), f->seeker);
    assert_int_equal(gw_store_privacy_by_session(f->s, "sidZ"), GW_ENOTFOUND);
}

static void test_export(void **state)
{
    struct fx *f = *state;
    json_t *d = gw_store_privacy_export(f->s, f->seeker);
    assert_non_null(d);
    json_t *sk = json_object_get(d, "seeker");
    assert_string_equal(json_string_value(json_object_get(sk, "address")), ADDRESS);
    assert_string_equal(json_string_value(json_object_get(sk, "lang")), "nn");
    json_t *cs = json_object_get(d, "conversations");
    assert_int_equal(json_array_size(cs), 2);
    json_t *c0 = json_array_get(cs, 0);
    assert_string_equal(json_string_value(json_object_get(c0, "token")), "tokA1");
    /* the pre-chat form is JSON, not a string */
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_object_get(c0, "meta"), "fields"), "age")),
                        "17");
    json_t *ms = json_object_get(c0, "messages");
    assert_int_equal(json_array_size(ms), 2); /* "sys" is left out */
    assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 0), "body")),
                        SECRET_IN);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ms, 1), "state")),
                        "delivered");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c0, "feedback"), "rating")),
                     5);
    assert_int_equal(json_array_size(json_object_get(d, "consent")), 1);
    json_t *ps = json_object_get(d, "partners");
    assert_int_equal(json_array_size(ps), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ps, 0), "partner")),
                        "partner.example");
    json_t *ss = json_object_get(d, "sessions");
    assert_int_equal(json_array_size(ss), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ss, 0), "sid")), "sidA");
    assert_int_equal(json_array_size(json_object_get(d, "plugin_data")), 1);
    char *txt = json_dumps(d, 0);
    assert_null(strstr(txt, "other-seeker")); /* nobody else's data */
    free(txt);
    json_decref(d);
}

static int count_cb(void *arg, const struct gw_conv_row *c)
{
    (void)c;
    (*(int *)arg)++;
    return 0;
}

/* 1 when `needle` occurs in the bytes of file `path`. */
static int file_has(const char *path, const char *needle)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    rewind(fp);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, fp);
    fclose(fp);
    int hit = got && memmem(b, got, needle, strlen(needle)) != NULL;
    free(b);
    return hit;
}

static void test_erase(void **state)
{
    struct fx *f = *state;
    int nconv = 0;
    assert_int_equal(gw_store_privacy_convs(f->s, f->seeker, count_cb, &nconv), 2);
    assert_int_equal(nconv, 2);

    /* in flight: a channel row for one of the seeker's messages */
    gw_store_outbox_add(f->s, f->msg_out, "sms", 0, NULL, 0);
    gw_store_outbox_add(
        f->s, 0, "xmpp", 0,
        "<message to='c@example' from='tokA1@gw'><body>" SECRET_OUT "</body></message>", 0);
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    assert_int_equal(gw_store_privacy_in_flight(f->s, f->seeker), 1);

    struct gw_erase_counts n;
    assert_int_equal(gw_store_privacy_erase(f->s, f->seeker, "uid 0", 9000, 1, &n), GW_OK);
    assert_int_equal(n.messages, 3);
    assert_int_equal(n.outbox, 2);
    assert_int_equal(n.in_flight, 1);
    assert_false(gw_store_dirty(f->s)); /* the dry run wrote nothing */
    assert_int_equal(gw_store_privacy_by_address(f->s, "sms", ADDRESS), f->seeker);

    assert_int_equal(gw_store_privacy_erase(f->s, f->seeker, "uid 0", 9000, 0, &n), GW_OK);
    assert_int_equal(n.conversations, 2);
    assert_int_equal(n.dedup, 1);
    assert_int_equal(n.sessions, 2); /* the web chat session, the e-mail refs row */
    assert_int_equal(n.feedback, 1);
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    assert_int_equal(gw_store_scrub(f->s), GW_OK);

    assert_int_equal(gw_store_privacy_by_address(f->s, "sms", ADDRESS), GW_ENOTFOUND);
    assert_int_equal(gw_store_privacy_by_conv(f->s, "tokA1"), GW_ENOTFOUND);
    assert_int_equal(gw_store_privacy_by_session(f->s, "sidA"), GW_ENOTFOUND);
    assert_int_equal(gw_store_count(f->s, "messages"), 1); /* the other seeker's */
    assert_int_equal(gw_store_count(f->s, "outbox"), 0);
    assert_int_equal(gw_store_count(f->s, "conversations"), 3); /* statistics stay */
    assert_int_equal(gw_store_count(f->s, "kv"), 1);

    /* the statistics rows: times, queue, outcome, rating kept; anonymous */
    json_t *d = gw_store_privacy_export(f->s, f->seeker);
    assert_non_null(d);
    json_t *c0 = json_array_get(json_object_get(d, "conversations"), 0);
    assert_int_equal(json_integer_value(json_object_get(c0, "closed_at")), 5000);
    assert_string_equal(json_string_value(json_object_get(c0, "outcome")), "done");
    assert_string_equal(json_string_value(json_object_get(c0, "partner")), "partner.example");
    assert_true(json_is_null(json_object_get(c0, "meta")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(c0, "feedback"), "rating")),
                     5);
    assert_int_equal(json_array_size(json_object_get(c0, "messages")), 0);
    char *txt = json_dumps(d, 0);
    assert_null(strstr(txt, ADDRESS));
    assert_null(strstr(txt, "tokA1"));
    assert_non_null(strstr(txt, "\"erased\""));
    json_t *evs = json_object_get(c0, "events");
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(evs, json_array_size(evs) - 1), "at")),
        9000);
    free(txt);
    json_decref(d);

    /* the file itself: no byte of the erased text, address or token (secure_delete, and the
     * write-ahead log truncated) */
    char wal[160];
    snprintf(wal, sizeof wal, "%s-wal", f->db);
    const char *gone[] = {SECRET_IN, SECRET_OUT, ADDRESS, "ext-" ADDRESS, "tokA1", "sidA", NULL};
    for (int i = 0; gone[i]; i++) {
        assert_false(file_has(f->db, gone[i]));
        assert_false(file_has(wal, gone[i]));
    }
    assert_true(file_has(f->db, "other-seeker-keeps-this"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_export, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erase, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

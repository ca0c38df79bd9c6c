/* test_session.c — the session table: indexes, stored form, expiry, streams, ack ring. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "map.h"
#include "plugin_api.h"
#include "session.h"

#define KEY1 "1111111111111111111111111111111111111111111111111111111111111111"
#define KEY2 "2222222222222222222222222222222222222222222222222222222222222222"

static void add_find_remove(void **state)
{
    (void)state;
    struct web_sessions ss;
    assert_int_equal(web_sessions_init(&ss, 42), GW_OK);
    struct web_session *s =
        web_session_new(KEY1, "0123456789abcdef", "conv-1", "nb", "general", 1000, 5000);
    assert_non_null(s);
    assert_string_equal(s->address, "web:0123456789abcdef");
    assert_int_equal(s->expires_ms, 6000);
    assert_int_equal(web_sessions_add(&ss, s), GW_OK);
    assert_ptr_equal(web_sessions_by_key(&ss, KEY1), s);
    assert_ptr_equal(web_sessions_by_conv(&ss, "conv-1"), s);
    assert_null(web_sessions_by_key(&ss, KEY2));
    assert_null(web_sessions_by_conv(&ss, NULL));

    struct web_session *dup =
        web_session_new(KEY1, "fedcba9876543210", "conv-2", "en", "general", 0, 1);
    assert_int_equal(web_sessions_add(&ss, dup), GW_EDUP);
    web_session_free(&dup);
    assert_null(dup);

    assert_int_equal(web_sessions_set_conv(&ss, s, "conv-9"), GW_OK);
    assert_null(web_sessions_by_conv(&ss, "conv-1"));
    assert_ptr_equal(web_sessions_by_conv(&ss, "conv-9"), s);
    assert_int_equal(web_sessions_count(&ss), 1);

    web_sessions_remove(&ss, s);
    assert_null(web_sessions_by_key(&ss, KEY1));
    assert_null(web_sessions_by_conv(&ss, "conv-9"));
    web_session_free(&s);
    web_sessions_release(&ss);
}

static void stored_form_round_trip(void **state)
{
    (void)state;
    struct web_session *s =
        web_session_new(KEY1, "0123456789abcdef", "c1", "nn", "work", 1000, 9000);
    s->closed = 1;
    s->feedback_given = 1;
    char *json = web_session_to_json(s);
    assert_non_null(json);
    /* the stored form never holds the token or its key */
    assert_null(strstr(json, KEY1));
    struct web_session *r = web_session_from_json(json, KEY1, 2000);
    assert_non_null(r);
    assert_string_equal(r->sid, s->sid);
    assert_string_equal(r->conv, "c1");
    assert_string_equal(r->lang, "nn");
    assert_string_equal(r->queue, "work");
    assert_int_equal(r->expires_ms, 10000);
    assert_int_equal(r->closed, 1);
    assert_int_equal(r->blocked, 0);
    assert_int_equal(r->feedback_given, 1);
    web_session_free(&r);
    /* expired, malformed, empty ("" is how a deleted session is stored) */
    assert_null(web_session_from_json(json, KEY1, 10000));
    assert_null(web_session_from_json("{\"sid\":\"x\"}", KEY1, 0));
    assert_null(web_session_from_json("", KEY1, 0));
    assert_null(web_session_from_json(NULL, KEY1, 0));
    assert_null(web_session_from_json("{\"sid\":\"ZZZ\",\"conv\":\"c\",\"lang\":\"nb\",\"queue\":"
                                      "\"q\",\"created\":1,\"exp\":99999}",
                                      KEY1, 0));
    free(json);
    web_session_free(&s);
}

static void touch_persists_rarely(void **state)
{
    (void)state;
    struct web_session *s = web_session_new(KEY1, "0123456789abcdef", "c1", "nb", "q", 0, 1000);
    s->persisted_exp_ms = s->expires_ms;
    assert_int_equal(web_session_touch(s, 100, 1000), 0);
    assert_int_equal(s->expires_ms, 1100);
    assert_int_equal(web_session_touch(s, 300, 1000), 1); /* lags by > 250 */
    s->persisted_exp_ms = s->expires_ms;
    /* touching with an earlier time never shortens */
    web_session_touch(s, 0, 1000);
    assert_int_equal(s->expires_ms, 1300);
    web_session_free(&s);
}

static int gone_count;
static void gone(void *arg, struct web_session *s)
{
    (void)arg;
    gone_count++;
    web_session_free(&s);
}

static void expiry_spares_open_streams(void **state)
{
    (void)state;
    struct web_sessions ss;
    web_sessions_init(&ss, 1);
    struct web_session *a = web_session_new(KEY1, "0123456789abcdef", "ca", "nb", "q", 0, 1000);
    struct web_session *b = web_session_new(KEY2, "0123456789abcdee", "cb", "nb", "q", 0, 1000);
    web_sessions_add(&ss, a);
    web_sessions_add(&ss, b);
    struct web_stream *st = web_stream_attach(&ss, b, (struct gw_http_stream *)0x1, 0);
    assert_non_null(st);
    assert_int_equal(ss.n_streams, 1);
    assert_int_equal(b->n_streams, 1);
    assert_ptr_equal(web_session_oldest_stream(b), st);
    gone_count = 0;
    assert_int_equal(web_sessions_expire(&ss, 500, gone, NULL), 0);
    assert_int_equal(web_sessions_expire(&ss, 2000, gone, NULL), 1);
    assert_int_equal(gone_count, 1);
    assert_null(web_sessions_by_key(&ss, KEY1));
    assert_null(web_sessions_by_conv(&ss, "ca"));
    assert_non_null(web_sessions_by_key(&ss, KEY2));
    web_stream_detach(&ss, &st);
    assert_null(st);
    assert_int_equal(ss.n_streams, 0);
    assert_int_equal(web_sessions_expire(&ss, 2000, gone, NULL), 1);
    assert_int_equal(web_sessions_count(&ss), 0);
    web_sessions_release(&ss);
}

/* Closed sessions without a stream are listed for dropping; dropping spares those that are
 * open again or have a stream by then; removal and expiry take a session off the list. */
static void idle_sessions_are_dropped(void **state)
{
    (void)state;
    struct web_sessions ss;
    web_sessions_init(&ss, 1);
    struct web_session *a = web_session_new(KEY1, "0123456789abcdef", "ca", "nb", "q", 0, 1000);
    struct web_session *b = web_session_new(KEY2, "0123456789abcdee", "cb", "nb", "q", 0, 1000);
    web_sessions_add(&ss, a);
    web_sessions_add(&ss, b);
    assert_int_equal(web_sessions_note_idle(&ss, a), 0); /* not closed */
    a->closed = b->closed = 1;
    struct web_stream *st = web_stream_attach(&ss, b, NULL, 0);
    assert_int_equal(web_sessions_note_idle(&ss, b), 0); /* a page still shows it */
    assert_int_equal(web_sessions_note_idle(&ss, a), 1);
    assert_int_equal(web_sessions_note_idle(&ss, a), 0); /* listed once */
    web_stream_detach(&ss, &st);
    assert_int_equal(web_sessions_note_idle(&ss, b), 1);
    st = web_stream_attach(&ss, b, NULL, 0); /* reopened before the drop */
    gone_count = 0;
    assert_int_equal(web_sessions_drop_idle(&ss, gone, NULL), 1);
    assert_int_equal(gone_count, 1);
    assert_null(web_sessions_by_key(&ss, KEY1));
    assert_null(web_sessions_by_conv(&ss, "ca"));
    assert_ptr_equal(web_sessions_by_key(&ss, KEY2), b);
    assert_int_equal(web_sessions_drop_idle(&ss, gone, NULL), 0); /* b was unlisted */
    web_stream_detach(&ss, &st);
    /* a listed session that is removed or expires first is not dropped twice */
    assert_int_equal(web_sessions_note_idle(&ss, b), 1);
    web_sessions_remove(&ss, b);
    assert_int_equal(web_sessions_drop_idle(&ss, gone, NULL), 0);
    web_sessions_add(&ss, b);
    assert_int_equal(web_sessions_note_idle(&ss, b), 1);
    assert_int_equal(web_sessions_expire(&ss, 2000, gone, NULL), 1);
    assert_int_equal(web_sessions_drop_idle(&ss, gone, NULL), 0);
    assert_int_equal(gone_count, 2);
    assert_int_equal(web_sessions_count(&ss), 0);
    web_sessions_release(&ss);
}

static void release_frees_streams(void **state)
{
    (void)state;
    struct web_sessions ss;
    web_sessions_init(&ss, 1);
    struct web_session *a = web_session_new(KEY1, "0123456789abcdef", "ca", "nb", "q", 0, 1000);
    web_sessions_add(&ss, a);
    web_stream_attach(&ss, a, NULL, 0);
    web_stream_attach(&ss, a, NULL, 0);
    assert_int_equal(a->n_streams, 2);
    web_sessions_release(&ss); /* ASan/valgrind check that nothing leaks */
}

static void ack_ring(void **state)
{
    (void)state;
    struct web_session *s = web_session_new(KEY1, "0123456789abcdef", "c", "nb", "q", 0, 1);
    assert_false(web_session_has_out(s, 5));
    web_session_note_out(s, 5);
    web_session_note_out(s, 5);
    assert_true(web_session_has_out(s, 5));
    assert_int_equal(s->n_out, 1);
    for (int64_t i = 100; i < 100 + WEB_OUT_RING; i++)
        web_session_note_out(s, i);
    assert_false(web_session_has_out(s, 5)); /* pushed out of the ring */
    assert_true(web_session_has_out(s, 100));
    assert_true(web_session_has_out(s, 100 + WEB_OUT_RING - 1));
    web_session_free(&s);
}

static int count_each(void *arg, const char *key, void *val)
{
    (void)key;
    (*(int *)arg)++;
    return ((intptr_t)val % 2) == 0; /* delete the even ones */
}

static void map_basics(void **state)
{
    (void)state;
    struct web_map *m = web_map_new(99);
    char key[32];
    for (intptr_t i = 1; i <= 1000; i++) {
        snprintf(key, sizeof(key), "k%ld", (long)i);
        assert_int_equal(web_map_put(m, key, (void *)i), GW_OK);
    }
    assert_int_equal(web_map_count(m), 1000);
    assert_ptr_equal(web_map_get(m, "k500"), (void *)500);
    assert_int_equal(web_map_put(m, "k500", (void *)501), GW_OK);
    assert_int_equal(web_map_count(m), 1000);
    assert_ptr_equal(web_map_del(m, "k500"), (void *)501);
    assert_null(web_map_del(m, "k500"));
    int n = 0;
    web_map_each(m, count_each, &n);
    assert_int_equal(n, 999);
    assert_int_equal(web_map_count(m), 500);
    assert_null(web_map_get(m, "k2"));
    assert_ptr_equal(web_map_get(m, "k3"), (void *)3);
    web_map_free(&m);
    assert_null(m);
    web_map_free(&m);
}

static int drop_all_but_k7(void *arg, const char *key, void *val)
{
    (void)arg;
    (void)val;
    return strcmp(key, "k7") != 0;
}

/* The slot array follows the entries down again, by deletion and by removal in a walk. */
static void map_shrinks(void **state)
{
    (void)state;
    struct web_map *m = web_map_new(5);
    size_t small = web_map_slots(m);
    char key[32];
    for (intptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", (long)i);
        assert_int_equal(web_map_put(m, key, (void *)i), GW_OK);
    }
    assert_true(web_map_slots(m) >= 4096);
    for (intptr_t i = 1; i <= 4990; i++) {
        snprintf(key, sizeof(key), "k%ld", (long)i);
        assert_ptr_equal(web_map_del(m, key), (void *)i);
    }
    assert_true(web_map_slots(m) <= 64);
    for (intptr_t i = 4991; i <= 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", (long)i);
        assert_ptr_equal(web_map_get(m, key), (void *)i);
    }
    for (intptr_t i = 1; i <= 5000; i++) {
        snprintf(key, sizeof(key), "k%ld", (long)i);
        assert_int_equal(web_map_put(m, key, (void *)i), GW_OK);
    }
    web_map_each(m, drop_all_but_k7, NULL);
    assert_int_equal(web_map_count(m), 1);
    assert_int_equal(web_map_slots(m), small);
    assert_ptr_equal(web_map_get(m, "k7"), (void *)7);
    web_map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(add_find_remove),
        cmocka_unit_test(stored_form_round_trip),
        cmocka_unit_test(touch_persists_rarely),
        cmocka_unit_test(expiry_spares_open_streams),
        cmocka_unit_test(idle_sessions_are_dropped),
        cmocka_unit_test(release_frees_streams),
        cmocka_unit_test(ack_ring),
        cmocka_unit_test(map_basics),
        cmocka_unit_test(map_shrinks),
    };
    return cmocka_run_group_tests_name("webchat/session", tests, NULL, NULL);
}

/* test_hashmap.c — unit tests for the string-keyed hash map (gateway/io/hashmap.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/hashmap.h"

#define N 10000

static void *val(size_t i) { return (void *)(uintptr_t)(i + 1); }

static void test_basic(void **state)
{
    (void)state;
    struct gw_map *m = gw_map_new();
    assert_non_null(m);
    assert_null(gw_map_get(m, "a"));
    assert_int_equal(gw_map_count(m), 0);
    char key[8] = "a";
    assert_int_equal(gw_map_set(m, key, val(1)), 0);
    key[0] = 'z'; /* the key was copied */
    assert_ptr_equal(gw_map_get(m, "a"), val(1));
    assert_null(gw_map_get(m, "z"));
    assert_int_equal(gw_map_set(m, "a", val(2)), 0); /* replace */
    assert_int_equal(gw_map_count(m), 1);
    assert_ptr_equal(gw_map_get(m, "a"), val(2));
    assert_int_equal(gw_map_set(m, "", val(3)), 0); /* empty key is a key */
    assert_ptr_equal(gw_map_get(m, ""), val(3));
    gw_map_del(m, "nope"); /* no-op */
    gw_map_del(m, "a");
    assert_null(gw_map_get(m, "a"));
    gw_map_del(m, "a");
    assert_int_equal(gw_map_count(m), 1);
    gw_map_free(&m);
    assert_null(m);
    gw_map_free(&m);
    gw_map_free(NULL);
}

struct visit {
    size_t n;
    uintptr_t sum;
    size_t stop_at;
};

static int on_each(void *arg, const char *key, void *value)
{
    struct visit *v = arg;
    (void)key;
    v->n++;
    v->sum += (uintptr_t)value;
    return v->stop_at && v->n >= v->stop_at;
}

static void test_many(void **state)
{
    (void)state;
    struct gw_map *m = gw_map_new();
    char k[32];
    for (size_t i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key-%zu", i);
        assert_int_equal(gw_map_set(m, k, val(i)), 0);
    }
    assert_int_equal(gw_map_count(m), N);
    for (size_t i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key-%zu", i);
        assert_ptr_equal(gw_map_get(m, k), val(i));
    }
    snprintf(k, sizeof k, "key-%d", N);
    assert_null(gw_map_get(m, k));

    struct visit v = {0};
    gw_map_each(m, on_each, &v);
    assert_int_equal(v.n, N);
    assert_int_equal(v.sum, (uintptr_t)N * (N + 1) / 2);
    struct visit v2 = {.stop_at = 10};
    gw_map_each(m, on_each, &v2);
    assert_int_equal(v2.n, 10);

    /* delete the even ones */
    for (size_t i = 0; i < N; i += 2) {
        snprintf(k, sizeof k, "key-%zu", i);
        gw_map_del(m, k);
    }
    assert_int_equal(gw_map_count(m), N / 2);
    for (size_t i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key-%zu", i);
        if (i % 2)
            assert_ptr_equal(gw_map_get(m, k), val(i));
        else
            assert_null(gw_map_get(m, k));
    }
    /* re-insert them with new values; replacing an odd one must not duplicate it */
    for (size_t i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key-%zu", i);
        assert_int_equal(gw_map_set(m, k, val(i + N)), 0);
    }
    assert_int_equal(gw_map_count(m), N);
    for (size_t i = 0; i < N; i++) {
        snprintf(k, sizeof k, "key-%zu", i);
        assert_ptr_equal(gw_map_get(m, k), val(i + N));
    }
    struct visit v3 = {0};
    gw_map_each(m, on_each, &v3);
    assert_int_equal(v3.n, N);
    gw_map_free(&m);
}

/* Churn: many distinct keys inserted and deleted with few live at a time.  Tombstones must
 * be reused or cleaned so lookups keep working and the map does not fill up. */
static void test_tombstones(void **state)
{
    (void)state;
    struct gw_map *m = gw_map_new();
    char k[32];
    for (size_t i = 0; i < 20 * N; i++) {
        snprintf(k, sizeof k, "c%zu", i);
        assert_int_equal(gw_map_set(m, k, val(i)), 0);
        if (i >= 5) {
            snprintf(k, sizeof k, "c%zu", i - 5);
            gw_map_del(m, k);
        }
        if (i % 997 == 0) {
            snprintf(k, sizeof k, "c%zu", i);
            assert_ptr_equal(gw_map_get(m, k), val(i));
            assert_null(gw_map_get(m, "never-there"));
        }
    }
    assert_int_equal(gw_map_count(m), 5);
    for (size_t i = 20 * N - 5; i < 20 * N; i++) {
        snprintf(k, sizeof k, "c%zu", i);
        assert_ptr_equal(gw_map_get(m, k), val(i));
    }
    /* same key deleted and re-added in a loop: a tombstone before the live slot must not
     * leave a second copy behind */
    for (int r = 0; r < 1000; r++) {
        assert_int_equal(gw_map_set(m, "same", val(r)), 0);
        assert_int_equal(gw_map_set(m, "other", val(r)), 0);
        gw_map_del(m, "same");
        assert_null(gw_map_get(m, "same"));
        assert_int_equal(gw_map_count(m), 6);
    }
    gw_map_free(&m);
}

/* The table follows the entries down again: 100,000 conversations open once must not
 * leave their slots behind when they close. */
static void test_shrinks(void **state)
{
    (void)state;
    struct gw_map *m = gw_map_new();
    size_t small = gw_map_capacity(m);
    char k[32];
    for (size_t i = 0; i < 10 * N; i++) {
        snprintf(k, sizeof k, "s%zu", i);
        assert_int_equal(gw_map_set(m, k, val(i)), 0);
    }
    assert_true(gw_map_capacity(m) >= 10 * N * 4 / 3);
    for (size_t i = 0; i < 10 * N - 3; i++) {
        snprintf(k, sizeof k, "s%zu", i);
        gw_map_del(m, k);
        if (i % 9973 == 0) { /* still consistent while it shrinks */
            snprintf(k, sizeof k, "s%zu", (size_t)(10 * N - 1));
            assert_ptr_equal(gw_map_get(m, k), val(10 * N - 1));
        }
    }
    assert_int_equal(gw_map_count(m), 3);
    assert_int_equal(gw_map_capacity(m), small);
    for (size_t i = 10 * N - 3; i < 10 * N; i++) {
        snprintf(k, sizeof k, "s%zu", i);
        assert_ptr_equal(gw_map_get(m, k), val(i));
    }
    snprintf(k, sizeof k, "s%d", 0);
    assert_null(gw_map_get(m, k));
    struct visit v = {0};
    gw_map_each(m, on_each, &v);
    assert_int_equal(v.n, 3);
    gw_map_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_many),
        cmocka_unit_test(test_tombstones),
        cmocka_unit_test(test_shrinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

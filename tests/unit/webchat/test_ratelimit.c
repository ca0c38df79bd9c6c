/* test_ratelimit.c — token buckets: burst, refill, retry hints, bounded memory, sweep. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "plugin_api.h"
#include "ratelimit.h"

static void burst_then_refill(void **state)
{
    (void)state;
    struct web_rl *rl = web_rl_new(3, 60000, 100, 1);
    int64_t retry = -1;
    assert_non_null(rl);
    for (int i = 0; i < 3; i++)
        assert_int_equal(web_rl_take(rl, "a", 1000, &retry), GW_OK);
    assert_int_equal(web_rl_take(rl, "a", 1000, &retry), GW_ELIMIT);
    /* one token per 20 s */
    assert_true(retry > 19000 && retry <= 20001);
    /* other keys are independent */
    assert_int_equal(web_rl_take(rl, "b", 1000, NULL), GW_OK);
    assert_int_equal(web_rl_take(rl, "a", 1000 + 19000, NULL), GW_ELIMIT);
    assert_int_equal(web_rl_take(rl, "a", 1000 + 20001, NULL), GW_OK);
    assert_int_equal(web_rl_take(rl, "a", 1000 + 20001, NULL), GW_ELIMIT);
    /* a long pause refills only up to the burst */
    for (int i = 0; i < 3; i++)
        assert_int_equal(web_rl_take(rl, "a", 10000000, NULL), GW_OK);
    assert_int_equal(web_rl_take(rl, "a", 10000000, NULL), GW_ELIMIT);
    web_rl_free(&rl);
    assert_null(rl);
    web_rl_free(&rl);
}

static void unlimited(void **state)
{
    (void)state;
    struct web_rl *rl = web_rl_new(0, 1000, 10, 1);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(web_rl_take(rl, "x", 0, NULL), GW_OK);
    assert_int_equal(web_rl_count(rl), 0);
    web_rl_free(&rl);
}

static void bounded_and_swept(void **state)
{
    (void)state;
    struct web_rl *rl = web_rl_new(2, 1000, 4, 7);
    char key[16];
    for (int i = 0; i < 4; i++) {
        snprintf(key, sizeof(key), "k%d", i);
        assert_int_equal(web_rl_take(rl, key, 0, NULL), GW_OK);
    }
    /* table full, nobody idle: new keys are refused (fail closed) */
    assert_int_equal(web_rl_take(rl, "new", 0, NULL), GW_ELIMIT);
    assert_int_equal(web_rl_count(rl), 4);
    /* after a full refill period the old buckets are idle and can go */
    assert_int_equal(web_rl_take(rl, "new", 1000, NULL), GW_OK);
    assert_int_equal(web_rl_count(rl), 1);
    assert_int_equal(web_rl_sweep(rl, 5000), 1);
    assert_int_equal(web_rl_count(rl), 0);
    web_rl_free(&rl);
}

static void reconfigure(void **state)
{
    (void)state;
    struct web_rl *rl = web_rl_new(5, 1000, 10, 1);
    assert_int_equal(web_rl_take(rl, "a", 0, NULL), GW_OK);
    web_rl_set(rl, 1, 1000, 10);
    /* the bucket's level is capped at the new burst */
    assert_int_equal(web_rl_take(rl, "a", 0, NULL), GW_OK);
    assert_int_equal(web_rl_take(rl, "a", 0, NULL), GW_ELIMIT);
    web_rl_free(&rl);
}

static void clock_going_back_is_harmless(void **state)
{
    (void)state;
    struct web_rl *rl = web_rl_new(1, 1000, 10, 1);
    assert_int_equal(web_rl_take(rl, "a", 5000, NULL), GW_OK);
    assert_int_equal(web_rl_take(rl, "a", 1000, NULL), GW_ELIMIT);
    assert_int_equal(web_rl_take(rl, "a", 6001, NULL), GW_OK);
    web_rl_free(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(burst_then_refill),
        cmocka_unit_test(unlimited),
        cmocka_unit_test(bounded_and_swept),
        cmocka_unit_test(reconfigure),
        cmocka_unit_test(clock_going_back_is_harmless),
    };
    return cmocka_run_group_tests_name("webchat/ratelimit", tests, NULL, NULL);
}

/* test_token.c — session tokens: length, alphabet, uniqueness, keys, Bearer parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "plugin_api.h"
#include "token.h"

static void token_shape_and_uniqueness(void **state)
{
    (void)state;
    char a[WEB_TOKEN_LEN + 1], b[WEB_TOKEN_LEN + 1];
    assert_int_equal(web_token_new(a, sizeof(a)), GW_OK);
    assert_int_equal(web_token_new(b, sizeof(b)), GW_OK);
    assert_int_equal(strlen(a), 32);
    assert_true(web_token_valid(a));
    assert_true(web_token_valid(b));
    assert_string_not_equal(a, b);
    /* 24 bytes -> 192 bits >= 128 */
    assert_true(WEB_TOKEN_BYTES * 8 >= 128);
    char small[8];
    assert_int_equal(web_token_new(small, sizeof(small)), GW_EINVAL);
}

static void token_bits_are_spread(void **state)
{
    (void)state;
    /* 2000 tokens: each of the 64 symbols must appear in every position class somewhere,
     * and no token repeats (a broken RNG would fail both) */
    static char seen[2000][WEB_TOKEN_LEN + 1];
    int used[64] = {0};
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 2000; i++) {
        assert_int_equal(web_token_new(seen[i], sizeof(seen[i])), GW_OK);
        for (int k = 0; k < WEB_TOKEN_LEN; k++)
            used[strchr(alpha, seen[i][k]) - alpha]++;
    }
    for (int s = 0; s < 64; s++)
        assert_true(used[s] > 0);
    for (int i = 0; i < 2000; i++)
        for (int j = i + 1; j < 2000; j++)
            assert_string_not_equal(seen[i], seen[j]);
}

static void token_validation(void **state)
{
    (void)state;
    assert_false(web_token_valid(NULL));
    assert_false(web_token_valid(""));
    assert_false(web_token_valid("abc"));
    assert_true(web_token_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_false(web_token_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")); /* 33 */
    assert_false(web_token_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    assert_false(web_token_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/"));
    assert_false(web_token_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "));
    assert_false(web_token_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\xc3\xa6"));
}

static void sid_shape(void **state)
{
    (void)state;
    char s[WEB_SID_LEN + 1];
    assert_int_equal(web_sid_new(s, sizeof(s)), GW_OK);
    assert_int_equal(strlen(s), 16);
    assert_true(web_sid_valid(s));
    assert_false(web_sid_valid("0123456789abcdeF"));
    assert_false(web_sid_valid("0123456789abcde"));
    assert_false(web_sid_valid(NULL));
}

static void key_is_sha256(void **state)
{
    (void)state;
    char k[WEB_TOKEN_KEY_LEN + 1];
    /* sha256("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA") */
    assert_int_equal(web_token_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", k, sizeof(k)), GW_OK);
    assert_int_equal(strlen(k), 64);
    assert_string_equal(k, "22a48051594c1949deed7040850c1f0f8764537f5191be56732d16a54c1d8153");
    assert_int_equal(web_token_key("short", k, sizeof(k)), GW_EINVAL);
    char small[10];
    assert_int_equal(web_token_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", small, sizeof(small)),
                     GW_EINVAL);
}

static void bearer(void **state)
{
    (void)state;
    assert_null(web_token_from_bearer(NULL));
    assert_null(web_token_from_bearer("Basic abc"));
    assert_string_equal(web_token_from_bearer("Bearer abc"), "abc");
    assert_string_equal(web_token_from_bearer("bearer  abc"), "abc");
    assert_false(
        web_token_valid(web_token_from_bearer("Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA x")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(token_shape_and_uniqueness),
        cmocka_unit_test(token_bits_are_spread),
        cmocka_unit_test(token_validation),
        cmocka_unit_test(sid_shape),
        cmocka_unit_test(key_is_sha256),
        cmocka_unit_test(bearer),
    };
    return cmocka_run_group_tests_name("webchat/token", tests, NULL, NULL);
}

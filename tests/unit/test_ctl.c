/* test_ctl.c — unit tests for the control socket's pure parts: the default socket path
 * (gateway/conf/config.c, shared by the daemon and skagerrakctl), the subcommands' argument
 * parser and the output helpers (gateway/ctl/).  The socket itself is tested through the
 * real daemon in tests/integration/test_ctl.py. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "ctl/ctl.h"
#include "ctl/ctl_ops.h"

static void test_default_path(void **state)
{
    (void)state;
    char b[256];
    assert_string_equal(gw_config_ctl_default("/var/lib/skagerrak/skagerrak.db", b, sizeof b),
                        "/var/lib/skagerrak/skagerrak.ctl");
    assert_string_equal(gw_config_ctl_default("/x.db", b, sizeof b), "/skagerrak.ctl");
    assert_string_equal(gw_config_ctl_default("gw.db", b, sizeof b), "skagerrak.ctl");
    assert_string_equal(gw_config_ctl_default(NULL, b, sizeof b), "skagerrak.ctl");
}

static struct gw_ctl_req req(char **argv)
{
    struct gw_ctl_req r = {0};
    while (argv[r.argc])
        r.argc++;
    r.argv = argv;
    return r;
}

static void test_args(void **state)
{
    (void)state;
    const char *queue = NULL, *why = NULL, *pos[2];
    int flag = 0, npos;
    struct gw_ctl_opt opts[] = {
        {"--queue", &queue, NULL}, {"--why", &why, NULL}, {"--messages", NULL, &flag}, {0}};
    struct gw_ctl_out out = {0};
    char *a1[] = {"x", "--queue", "general", "tok", "--why=a b", "--messages", NULL};
    struct gw_ctl_req r = req(a1);
    assert_int_equal(gw_ctl_args(&r, opts, pos, 2, &npos, &out, "x"), 0);
    assert_string_equal(queue, "general");
    assert_string_equal(why, "a b");
    assert_int_equal(flag, 1);
    assert_int_equal(npos, 1);
    assert_string_equal(pos[0], "tok");
    /* "--" ends the options: a token that starts with '-' */
    char *a2[] = {"x", "--", "--queue", NULL};
    r = req(a2);
    assert_int_equal(gw_ctl_args(&r, opts, pos, 2, &npos, &out, "x"), 0);
    assert_int_equal(npos, 1);
    assert_string_equal(pos[0], "--queue");
    /* errors: 2 with a reason and the usage */
    char *a3[] = {"x", "--nope", NULL};
    r = req(a3);
    assert_int_equal(gw_ctl_args(&r, opts, pos, 2, &npos, &out, "x [--queue Q]"), 2);
    assert_non_null(strstr(out.error, "unknown option '--nope'"));
    assert_non_null(strstr(out.error, "usage: skagerrakctl x [--queue Q]"));
    char *a4[] = {"x", "--queue", NULL};
    r = req(a4);
    assert_int_equal(gw_ctl_args(&r, opts, pos, 2, &npos, &out, "x"), 2);
    assert_non_null(strstr(out.error, "--queue needs a value"));
    char *a5[] = {"x", "--messages=1", NULL};
    r = req(a5);
    assert_int_equal(gw_ctl_args(&r, opts, pos, 2, &npos, &out, "x"), 2);
    char *a6[] = {"x", "a", "b", "c", NULL};
    r = req(a6);
    assert_int_equal(gw_ctl_args(&r, opts, pos, 2, &npos, &out, "x"), 2);
    assert_non_null(strstr(out.error, "unexpected argument 'c'"));
    /* a prefix of an option is not that option */
    char *a7[] = {"x", "--que", "q", NULL};
    r = req(a7);
    assert_int_equal(gw_ctl_args(&r, opts, pos, 2, &npos, &out, "x"), 2);
}

static void test_printf_grows_and_fail(void **state)
{
    (void)state;
    struct gw_ctl_out out = {0};
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    for (int i = 0; i < 100; i++)
        gw_ctl_printf(&out, "%d:%s\n", i, i % 10 ? "x" : big);
    assert_int_equal(out.len, strlen(out.text));
    assert_non_null(strstr(out.text, "99:x\n"));
    assert_int_equal(gw_ctl_fail(&out, 1, "no conversation '%s'", "abc"), 1);
    assert_string_equal(out.error, "no conversation 'abc'");
    free(out.text);
    char b[32];
    assert_string_equal(gw_ctl_fmt_age(5000, b, sizeof b), "5s");
    assert_string_equal(gw_ctl_fmt_age(185000, b, sizeof b), "3m05s");
    assert_string_equal(gw_ctl_fmt_age(7800000, b, sizeof b), "2h10m");
    assert_string_equal(gw_ctl_fmt_age(-5, b, sizeof b), "0s");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_path),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_printf_grows_and_fail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_xmlsafe.c — unit tests for gw_xml_safe (gateway/io/xmpp.c): what XML 1.0 forbids is
 * stripped and the result is cut on a character boundary; and for gw_xml_escape, which the
 * stanzas written as text (gw_router_chat) rely on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "io/xmpp.h"

static void check(const char *in, size_t max, const char *want)
{
    char *out = gw_xml_safe(in, max);
    assert_non_null(out);
    assert_string_equal(out, want);
    free(out);
}

static void test_plain(void **state)
{
    (void)state;
    check("hello", 100, "hello");
    check("", 100, "");
    check(NULL, 100, "");
    check("tab\tnl\ncr\r.", 100, "tab\tnl\ncr\r.");
    check("<&>'\"", 100, "<&>'\""); /* escaping is not its job */
}

static void test_controls(void **state)
{
    (void)state;
    check("a\x01" "b\x08" "c\x0b" "d\x0c" "e\x1f" "f\x1b[0m", 100, "abcdef[0m");
    check("\x7f", 100, "\x7f"); /* DEL and C1 controls are legal XML 1.0 characters */
    check("x\xc2\x85y", 100, "x\xc2\x85y");
}

static void test_nonchars(void **state)
{
    (void)state;
    check("a\xef\xbf\xbe" "b\xef\xbf\xbf" "c", 100, "abc");   /* U+FFFE, U+FFFF */
    check("\xef\xbf\xbd", 100, "\xef\xbf\xbd");                  /* U+FFFD stays */
    check("\xee\x80\x80", 100, "\xee\x80\x80");                  /* U+E000 stays */
    check("\xf4\x8f\xbf\xbf", 100, "\xf4\x8f\xbf\xbf");          /* U+10FFFF stays */
}

static void test_invalid_utf8(void **state)
{
    (void)state;
    check("a\xff" "b\xfe" "c\x80" "d", 100, "abcd");             /* stray bytes */
    check("a\xc3" "b", 100, "ab");                               /* truncated 2-byte */
    check("a\xe2\x82", 100, "a");                                /* truncated at the end */
    check("a\xf0\x9f\x98", 100, "a");
    check("\xc0\x80" "x", 100, "x");                             /* overlong NUL */
    check("\xc1\xbf" "x", 100, "x");                             /* overlong 0x7F */
    check("\xe0\x80\xaf" "x", 100, "x");                         /* overlong '/' */
    check("\xf0\x80\x80\xaf" "x", 100, "x");                     /* overlong '/' (4 bytes) */
    check("\xed\xa0\x80" "x\xed\xbf\xbf", 100, "x");             /* surrogates */
    check("\xf4\x90\x80\x80" "x", 100, "x");                     /* > U+10FFFF */
    check("\xf8\x88\x80\x80\x80" "x", 100, "x");                 /* 5-byte form */
}

static void test_keeps_text(void **state)
{
    (void)state;
    const char *s = "Hei på deg, æøå ÆØÅ — 😀👍🏽 🇳🇴";
    check(s, 1000, s);
}

static void test_cut(void **state)
{
    (void)state;
    check("abcdef", 3, "abc");
    check("abc", 3, "abc");
    check("abc", 0, "");
    check("æøå", 6, "æøå");
    check("æøå", 5, "æø");   /* never half a character */
    check("æøå", 1, "");
    check("a😀", 4, "a");     /* emoji is 4 bytes */
    check("a😀", 5, "a😀");
    /* stripped bytes do not count against max */
    check("\x01\x02\x03" "abc", 3, "abc");
    /* no partial character even after a skipped one */
    check("ab\xff" "ø", 3, "ab");
}

static void test_long(void **state)
{
    (void)state;
    size_t n = 100000;
    char *in = malloc(n + 1);
    assert_non_null(in);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)(i % 3 == 0 ? 0x01 : 'x');
    in[n] = 0;
    char *out = gw_xml_safe(in, n);
    assert_non_null(out);
    assert_int_equal(strlen(out), n - (n + 2) / 3);
    assert_null(strchr(out, 0x01));
    free(out);
    free(in);
}

static void escape_check(const char *in, const char *want)
{
    char out[256];
    char *end = gw_xml_escape(out, in);
    assert_string_equal(out, want);
    assert_ptr_equal(end, out + strlen(want));
}

static void test_escape(void **state)
{
    (void)state;
    escape_check("", "");
    escape_check("plain æøå", "plain æøå");
    escape_check("<b>&amp;</b>", "&lt;b&gt;&amp;amp;&lt;/b&gt;");
    escape_check("a\"b'c", "a&quot;b&apos;c");
    /* the worst case the callers size for: 6 bytes out per byte in */
    escape_check("''", "&apos;&apos;");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),       cmocka_unit_test(test_controls),
        cmocka_unit_test(test_nonchars),    cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_keeps_text),  cmocka_unit_test(test_cut),
        cmocka_unit_test(test_long),        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

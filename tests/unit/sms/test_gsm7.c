/* test_gsm7.c — GSM 03.38 detection, septet and segment counting, transliteration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "gsm7.h"
#include "plugin_api.h"

static struct sms_encinfo an(const char *s)
{
    struct sms_encinfo e;
    assert_int_equal(sms_gsm7_analyse(s, strlen(s), &e), GW_OK);
    return e;
}

static char *rep(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static void test_norwegian_danish_stay_gsm7(void **st)
{
    (void)st;
    struct sms_encinfo e = an("Hei! Jeg lurer på om jeg bør søke på økonomi. Æ Ø Å æ ø å");
    assert_int_equal(e.coding, SMS_GSM7);
    assert_int_equal(e.units, e.chars);
    assert_int_equal(e.parts, 1);
    e = an("Hvad gør jeg, når jeg ikke ved, hvilken uddannelse jeg skal vælge? Ü ä ö é");
    assert_int_equal(e.coding, SMS_GSM7);
}

static void test_extension_chars_cost_two(void **st)
{
    (void)st;
    struct sms_encinfo e = an("€[]{}~\\^|");
    assert_int_equal(e.coding, SMS_GSM7);
    assert_int_equal(e.chars, 9);
    assert_int_equal(e.units, 18);
    assert_int_equal(sms_gsm7_septets(0x20AC), 2);
    assert_int_equal(sms_gsm7_septets('@'), 1);
    assert_int_equal(sms_gsm7_septets(0x00E6), 1); /* æ */
    assert_int_equal(sms_gsm7_septets(0x00C5), 1); /* Å */
    assert_int_equal(sms_gsm7_septets('`'), 0);
}

static void test_emoji_and_typographic_quotes_force_ucs2(void **st)
{
    (void)st;
    struct sms_encinfo e = an("Takk 😊");
    assert_int_equal(e.coding, SMS_UCS2);
    assert_int_equal(e.chars, 6);
    assert_int_equal(e.units, 7); /* surrogate pair */
    e = an("Han sa «hei» og “hallo”");
    assert_int_equal(e.coding, SMS_UCS2);
    e = an("Det koster 100 kr – ikke mer");
    assert_int_equal(e.coding, SMS_UCS2);
}

static void test_gsm7_segments(void **st)
{
    (void)st;
    char *s = rep("ø", 160);
    struct sms_encinfo e = an(s);
    assert_int_equal(e.parts, 1);
    assert_int_equal(e.per_part, 160);
    assert_int_equal(e.free_in_last, 0);
    free(s);
    s = rep("å", 161);
    e = an(s);
    assert_int_equal(e.parts, 2);
    assert_int_equal(e.per_part, 153);
    free(s);
    s = rep("a", 306);
    assert_int_equal(an(s).parts, 2);
    free(s);
    s = rep("a", 307);
    assert_int_equal(an(s).parts, 3);
    free(s);
    /* 80 euro signs = 160 septets: one part.  81 = 162: two parts. */
    s = rep("€", 80);
    assert_int_equal(an(s).parts, 1);
    free(s);
    s = rep("€", 81);
    e = an(s);
    assert_int_equal(e.units, 162);
    assert_int_equal(e.parts, 2);
    free(s);
    /* An escape pair is never split: 152 'a' + '€' does not fit 153 -> second part. */
    char buf[400];
    memset(buf, 'a', 152);
    strcpy(buf + 152, "€");
    strcat(buf, "bbbbbbbbbb"); /* 152 + 2 + 10 = 164 septets */
    e = an(buf);
    assert_int_equal(e.parts, 2);
    assert_int_equal(e.free_in_last, 153 - 12);
}

static void test_ucs2_segments(void **st)
{
    (void)st;
    char *s = rep("é😊", 23); /* 23 * 3 = 69 units */
    struct sms_encinfo e = an(s);
    assert_int_equal(e.coding, SMS_UCS2);
    assert_int_equal(e.units, 69);
    assert_int_equal(e.parts, 1);
    free(s);
    s = rep("ø", 70);
    char *t = malloc(strlen(s) + 8);
    strcpy(t, s);
    strcat(t, "😊"); /* 72 units */
    e = an(t);
    assert_int_equal(e.parts, 2);
    assert_int_equal(e.per_part, 67);
    free(s);
    free(t);
    /* 66 'x' + emoji: the pair does not fit in unit 67 -> it starts part 2. */
    s = rep("x", 66);
    t = malloc(200);
    strcpy(t, s);
    strcat(t, "😊xxxx"); /* 66 + 2 + 4 = 72 units > 70 */
    e = an(t);
    assert_int_equal(e.parts, 2);
    assert_int_equal(e.free_in_last, 67 - 6);
    free(s);
    free(t);
    /* 134 units, but a part of 67 units holds only 33 emoji (pairs are not split). */
    s = rep("😊", 67);
    assert_int_equal(an(s).parts, 3);
    free(s);
    s = rep("😊", 66);
    assert_int_equal(an(s).parts, 2);
    free(s);
}

static void test_empty_and_invalid(void **st)
{
    (void)st;
    struct sms_encinfo e = an("");
    assert_int_equal(e.parts, 0);
    assert_int_equal(e.coding, SMS_GSM7);
    assert_int_equal(sms_gsm7_analyse("\xC3\x28", 2, &e), GW_EINVAL);
    assert_int_equal(sms_gsm7_analyse("\xED\xA0\x80", 3, &e), GW_EINVAL); /* surrogate */
    assert_int_equal(sms_gsm7_analyse("\xC0\xAF", 2, &e), GW_EINVAL);     /* overlong */
    assert_int_equal(sms_gsm7_analyse("\xF4\x90\x80\x80", 4, &e), GW_EINVAL);
    assert_int_equal(sms_gsm7_analyse("\xE2\x82", 2, &e), GW_EINVAL); /* truncated */
}

static void test_translit(void **st)
{
    (void)st;
    const char *in = "Han sa «hei» – “kom” ‘hit’… ok\xC2\xA0nå\xC2\xAD";
    char *t = sms_translit(in, strlen(in));
    assert_non_null(t);
    assert_string_equal(t, "Han sa \"hei\" - \"kom\" 'hit'... ok nå");
    struct sms_encinfo e = an(t);
    assert_int_equal(e.coding, SMS_GSM7);
    free(t);
    /* Emoji and letters are left alone. */
    t = sms_translit("blåbær 😊", strlen("blåbær 😊"));
    assert_string_equal(t, "blåbær 😊");
    assert_int_equal(an(t).coding, SMS_UCS2);
    free(t);
    assert_null(sms_translit("\xff", 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norwegian_danish_stay_gsm7),
        cmocka_unit_test(test_extension_chars_cost_two),
        cmocka_unit_test(test_emoji_and_typographic_quotes_force_ucs2),
        cmocka_unit_test(test_gsm7_segments),
        cmocka_unit_test(test_ucs2_segments),
        cmocka_unit_test(test_empty_and_invalid),
        cmocka_unit_test(test_translit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

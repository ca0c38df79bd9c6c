/* test_msisdn.c — E.164 normalisation of Norwegian, Danish and provider number forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "msisdn.h"
#include "plugin_api.h"

static void ok(const char *in, const char *cc, int flags, const char *want)
{
    char out[SMS_E164_MAX];
    assert_int_equal(sms_msisdn_normalise(in, cc, flags, out, sizeof out), GW_OK);
    assert_string_equal(out, want);
}

static void bad(const char *in, const char *cc, int flags)
{
    char out[SMS_E164_MAX];
    assert_int_equal(sms_msisdn_normalise(in, cc, flags, out, sizeof out), GW_EINVAL);
    assert_string_equal(out, "");
}

static void test_norwegian_forms(void **st)
{
    (void)st;
    ok("+4791234567", "47", 0, "+4791234567");
    ok("+47 912 34 567", "47", 0, "+4791234567");
    ok("0047 91234567", "47", 0, "+4791234567");
    ok("91234567", "47", 0, "+4791234567");
    ok("912 34 567", "47", 0, "+4791234567");
    ok("  +47-912-34-567", "47", 0, "+4791234567");
}

static void test_danish_forms(void **st)
{
    (void)st;
    ok("+45 20 12 34 56", "45", 0, "+4520123456");
    ok("004520123456", "45", 0, "+4520123456");
    ok("20123456", "45", 0, "+4520123456");
    /* An 8-digit national form takes the number's own country. */
    ok("20123456", "47", 0, "+4720123456");
}

static void test_provider_forms(void **st)
{
    (void)st;
    ok("4791234567", "47", SMS_MSISDN_PROVIDER, "+4791234567");
    ok("4520123456", "47", SMS_MSISDN_PROVIDER, "+4520123456");
    ok("46701234567", "47", SMS_MSISDN_PROVIDER, "+46701234567");
    ok("+14155550100", "47", 0, "+14155550100");
    bad("4791234567", "47", SMS_MSISDN_NATIONAL); /* a person typing 10 digits: ambiguous */
}

static void test_garbage(void **st)
{
    (void)st;
    bad("", "47", 0);
    bad("+", "47", 0);
    bad("hello", "47", 0);
    bad("+47 9123 456a", "47", 0);
    bad("+479123456", "47", 0);      /* Norway needs 8 national digits */
    bad("+47912345678", "47", 0);
    bad("+4520 12 34 5", "45", 0);
    bad("1204", "45", 0);            /* short code */
    bad("+0123456789", "47", 0);     /* country code cannot start with 0 */
    bad("+1234567890123456", "47", 0); /* 16 digits */
    bad("+47 912;34567", "47", 0);
    bad("1234567", "47", 0);
    bad("91234567", "", 0);          /* national form without a default country */
    bad("++4791234567", "47", 0);
    char small[4];
    assert_int_equal(sms_msisdn_normalise("+4791234567", "47", 0, small, sizeof small),
                     GW_EINVAL);
    assert_int_equal(sms_msisdn_normalise(NULL, "47", 0, small, sizeof small), GW_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_norwegian_forms),
        cmocka_unit_test(test_danish_forms),
        cmocka_unit_test(test_provider_forms),
        cmocka_unit_test(test_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

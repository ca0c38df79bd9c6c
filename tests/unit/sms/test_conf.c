/* test_conf.c — the sms configuration group: strict keys, required settings, defaults. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fakehost.h"
#include "smsconf.h"

extern const struct gw_plugin skagerrak_plugin;

static int init_with(struct fakehost *fh, const char *text)
{
    const config_setting_t *c = fakehost_conf(fh, text, "sms");
    char err[256];
    assert_non_null(c);
    return fakehost_plugin_init(fh, &skagerrak_plugin, c, err, sizeof err);
}

#define GW "provider = \"gatewayapi\"; token = \"t\"; webhook_secret = \"s\";"

static void test_minimal_and_defaults(void **st)
{
    (void)st;
    struct fakehost *fh = fakehost_new();
    const config_setting_t *c = fakehost_conf(
        fh, "sms = { public_url = \"https://x.no\"; numbers = ( { number = \"90000000\"; " GW
            " country = \"47\"; }, { number = \"+4560000000\"; " GW " } ); };",
        "sms");
    struct sms_conf *conf = NULL;
    char err[128];
    assert_int_equal(sms_conf_load(c, fakehost_api(fh), fakehost_host(fh), &conf, err, sizeof err),
                     GW_EINVAL); /* "90000000" is not E.164 */
    c = fakehost_conf(fh,
                      "sms = { public_url = \"https://x.no/\"; numbers = ( { number = \"+4790000000\"; "
                      GW " }, { number = \"+45 60 00 00 00\"; id = \"dk\"; " GW " } ); };",
                      "sms");
    assert_int_equal(sms_conf_load(c, fakehost_api(fh), fakehost_host(fh), &conf, err, sizeof err),
                     GW_OK);
    assert_string_equal(conf->public_url, "https://x.no");
    assert_int_equal(conf->n, 2);
    assert_string_equal(conf->numbers[0].id, "4790000000");
    assert_string_equal(conf->numbers[0].lang, "nb");
    assert_string_equal(conf->numbers[0].cc, "47");
    assert_int_equal(conf->numbers[0].max_parts, 4);
    assert_string_equal(conf->numbers[0].base_url, "https://gatewayapi.com");
    assert_string_equal(conf->numbers[1].lang, "da");
    assert_string_equal(conf->numbers[1].number, "+4560000000");
    assert_non_null(sms_conf_number(conf, "gatewayapi", "dk"));
    assert_null(sms_conf_number(conf, "twilio", "dk"));
    assert_true(sms_conf_is_word(conf->stop_words, conf->nstop, "stopp"));
    assert_true(sms_conf_is_word(conf->stop_words, conf->nstop, "  Afmeld   alt! "));
    assert_false(sms_conf_is_word(conf->stop_words, conf->nstop, "stop det der"));
    assert_true(sms_conf_is_word(conf->start_words, conf->nstart, "Start"));
    sms_conf_free(&conf);
    assert_null(conf);
    fakehost_free(&fh);
}

static void test_errors(void **st)
{
    (void)st;
    static const struct {
        const char *conf, *needle;
    } cases[] = {
        {"sms = { numbers = ( { number = \"+4790000000\"; " GW " } ); };", "public_url"},
        {"sms = { public_url = \"https://x\"; };", "numbers"},
        {"sms = { public_url = \"https://x\"; bogus = 1; numbers = ( { number = \"+4790000000\"; "
         GW " } ); };", "bogus"},
        {"sms = { public_url = \"https://x\"; numbers = ( { number = \"+4790000000\"; " GW
         " account_sid = \"AC1\"; } ); };", "account_sid"},
        {"sms = { public_url = \"https://x\"; numbers = ( { number = \"+4790000000\"; "
         "provider = \"sinch\"; } ); };", "provider"},
        {"sms = { public_url = \"https://x\"; numbers = ( { number = \"+4790000000\"; "
         "provider = \"gatewayapi\"; token = \"t\"; } ); };", "webhook_secret"},
        {"sms = { public_url = \"https://x\"; numbers = ( { number = \"hello\"; " GW " } ); };",
         "number"},
        {"sms = { public_url = \"https://x\"; numbers = ( { number = \"+4790000000\"; " GW
         " max_parts = 0; } ); };", "max_parts"},
        {"sms = { public_url = \"https://x\"; numbers = ( { number = \"+4790000000\"; " GW
         " lang = \"sv\"; } ); };", "lang"},
        {"sms = { public_url = \"https://x\"; numbers = ( { number = \"+4790000000\"; " GW
         " }, { number = \"+4790000000\"; " GW " } ); };", "two numbers"},
        {"sms = { public_url = \"https://x\"; numbers = ( { number = \"+4790000000\"; "
         "provider = \"kannel\"; username = \"u\"; password = \"p\"; secret = \"s\"; "
         "allow = [\"localhost\"]; } ); };", "allow"},
        {"sms = { public_url = \"ftp://x\"; numbers = ( { number = \"+4790000000\"; " GW
         " } ); };", "public_url"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct fakehost *fh = fakehost_new();
        if (init_with(fh, cases[i].conf) != GW_EINVAL || !fakehost_cfg_error_contains(fh, cases[i].needle)) {
            for (size_t k = 0; k < fh->ncfg_errors; k++)
                fprintf(stderr, "  cfg error: %s\n", fh->cfg_errors[k]);
            fail_msg("case %zu (%s) did not fail with '%s'", i, cases[i].conf, cases[i].needle);
        }
        fakehost_free(&fh);
    }
}

static void test_secret_from_file(void **st)
{
    (void)st;
    char path[] = "/tmp/sms-test-secret-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "filetoken\n", 10), 10);
    close(fd);
    struct fakehost *fh = fakehost_new();
    char text[512];
    snprintf(text, sizeof text,
             "sms = { public_url = \"https://x\"; numbers = ( { number = \"+4790000000\"; "
             "provider = \"gatewayapi\"; token_file = \"%s\"; webhook_secret = \"s\"; } ); };",
             path);
    const config_setting_t *c = fakehost_conf(fh, text, "sms");
    struct sms_conf *conf = NULL;
    char err[128];
    assert_int_equal(sms_conf_load(c, fakehost_api(fh), fakehost_host(fh), &conf, err, sizeof err),
                     GW_OK);
    assert_string_equal(conf->numbers[0].secret, "filetoken");
    sms_conf_free(&conf);
    fakehost_free(&fh);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_and_defaults),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_secret_from_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

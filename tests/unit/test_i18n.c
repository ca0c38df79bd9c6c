/* test_i18n.c — unit tests for the message catalogues (gateway/i18n.c, conf/i18n/). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/i18n.h"

static const char *i18n_dir(void)
{
    const char *d = getenv("SKAGERRAK_I18N_DIR");
    return d && d[0] ? d : "conf/i18n";
}

static int setup(void **state)
{
    char err[256];
    struct gw_i18n *i = gw_i18n_load(i18n_dir(), err, sizeof err);
    if (!i)
        fprintf(stderr, "load: %s\n", err);
    *state = i;
    return i ? 0 : -1;
}

static int teardown(void **state)
{
    struct gw_i18n *i = *state;
    gw_i18n_free(&i);
    assert_null(i);
    gw_i18n_free(&i);
    gw_i18n_free(NULL);
    return 0;
}

/* The keys other modules rely on (brief + calendar).  Each must exist in every language:
 * looking it up must not fall back to the key itself. */
static const char *const required[] = {
    "welcome", "privacy_notice", "queue_position", "queue_position_unknown_wait",
    "wait_less_than_minute", "wait_minutes", "wait_hours", "counsellor_joined",
    "counsellor_left_requeued", "transferred", "closed_by_service", "closed_abandoned",
    "closed_hours", "closed_hours_never", "message_left_ack", "message_too_long", "rate_limited",
    "sms_opted_out", "sms_opted_in", "sms_too_many_parts", "attachment_not_accepted",
    "escalated_to_partner", "consent_question", "consent_yes_ack", "consent_no_ack",
    "transcript_header", "feedback_thanks", "blocked",
    "weekday_0", "weekday_1", "weekday_2", "weekday_3", "weekday_4", "weekday_5", "weekday_6",
    "next_open_today", "next_open_tomorrow", "next_open_date", "date_day_month", "month_1",
    "month_12",
    "help_header", "help_queue", "help_take", "help_next", "help_accept", "help_decline",
    "help_transfer", "help_note", "help_snippet", "help_close", "help_history",
    "help_supervisor", "help_reassign", "help_block", "help_escape", "help_lang", "offer",
    "offer_expired", "offer_taken_by_other", "taken", "nothing_waiting", "not_in_queue",
    "not_your_conversation", "forbidden", "unknown_command", "queue_status_header",
    "queue_status_line", "transfer_unknown_target", "transfer_done", "note_saved", "closed_ok",
    "close_needs_outcome", "conversation_requeued", "seeker_ended", "seeker_typing_unsupported",
    "message_failed", "sms_parts_warning", "signed_in", "signed_out", "history_none",
    "history_line",
    NULL,
};

static void test_required_keys(void **state)
{
    const struct gw_i18n *i = *state;
    for (int l = 0; gw_i18n_langs[l]; l++)
        for (int k = 0; required[k]; k++) {
            const char *t = gw_i18n_text(i, gw_i18n_langs[l], required[k]);
            if (t == required[k])
                fprintf(stderr, "missing %s in %s\n", required[k], gw_i18n_langs[l]);
            assert_ptr_not_equal(t, required[k]);
            assert_true(strlen(t) > 0);
        }
}

static void test_lookup_and_fallback(void **state)
{
    const struct gw_i18n *i = *state;
    assert_string_equal(gw_i18n_text(i, "nn", "weekday_2"), "tysdag");
    assert_string_equal(gw_i18n_text(i, "nb", "weekday_2"), "tirsdag");
    assert_string_equal(gw_i18n_text(i, "da", "month_3"), "marts");
    assert_string_equal(gw_i18n_text(i, "en", "weekday_0"), "Sunday");
    /* Unknown language -> en; unknown key -> the key; NULL key -> "". */
    assert_string_equal(gw_i18n_text(i, "sv", "weekday_0"), "Sunday");
    assert_string_equal(gw_i18n_text(i, NULL, "weekday_0"), "Sunday");
    const char *key = "no_such_key";
    assert_ptr_equal(gw_i18n_text(i, "nb", key), key);
    assert_string_equal(gw_i18n_text(i, "nb", NULL), "");
    assert_ptr_equal(gw_i18n_text(NULL, "nb", key), key);
    assert_true(gw_i18n_has_lang(i, "nn"));
    assert_true(gw_i18n_has_lang(i, "da"));
    assert_false(gw_i18n_has_lang(i, "sv"));
    assert_false(gw_i18n_has_lang(i, NULL));
    assert_false(gw_i18n_has_lang(NULL, "nb"));
}

static void test_format(void **state)
{
    const struct gw_i18n *i = *state;
    char buf[256];
    const char *vars[] = {"position", "3", "wait", "about 5 minutes", NULL};
    int n = gw_i18n_format(i, "en", "queue_position", buf, sizeof buf, vars);
    assert_string_equal(buf, "You're number 3 in the queue. Expected wait: about 5 minutes.");
    assert_int_equal(n, (int)strlen(buf));
    gw_i18n_format(i, "nn", "queue_position", buf, sizeof buf, vars);
    assert_string_equal(buf, "Du er nummer 3 i køen. Forventa ventetid: about 5 minutes.");

    /* Unknown placeholders stay; a lone brace is text; a name without value stays. */
    assert_int_equal(gw_i18n_expand("{a} {b} {} {c d} {", buf, sizeof buf,
                                    (const char *const[]){"a", "1", NULL}),
                     (int)strlen("1 {b} {} {c d} {"));
    assert_string_equal(buf, "1 {b} {} {c d} {");
    /* Values are not re-expanded; repeated placeholders all replaced. */
    gw_i18n_expand("{x}{x}", buf, sizeof buf, (const char *const[]){"x", "{x}", NULL});
    assert_string_equal(buf, "{x}{x}");
    /* vars == NULL and an odd trailing name are harmless. */
    assert_int_equal(gw_i18n_expand("hi {x}", buf, sizeof buf, NULL), 6);
    assert_int_equal(gw_i18n_expand("hi {x}", buf, sizeof buf, (const char *const[]){"x", NULL}), 6);
    /* Unknown key formats the key itself. */
    assert_int_equal(gw_i18n_format(i, "nb", "nope", buf, sizeof buf, NULL), 4);
    assert_string_equal(buf, "nope");
}

static void test_truncation(void **state)
{
    (void)state;
    char buf[8];
    /* "abc" + "ø" (2 bytes) + ... : cut must not split a UTF-8 sequence. */
    assert_int_equal(gw_i18n_expand("abcdeføg", buf, 8, NULL), -1);
    assert_string_equal(buf, "abcdef");
    char big[16];
    assert_int_equal(gw_i18n_expand("abcdeføg", big, sizeof big, NULL), 9);
    assert_int_equal(gw_i18n_expand("{v}", buf, sizeof buf,
                                    (const char *const[]){"v", "123456789", NULL}),
                     -1);
    assert_string_equal(buf, "1234567");
    assert_int_equal(gw_i18n_expand("abc", buf, 4, NULL), 3);
    assert_int_equal(gw_i18n_expand("abcd", buf, 4, NULL), -1);
    assert_string_equal(buf, "abc");
    assert_int_equal(gw_i18n_expand("abc", buf, 0, NULL), -1);
    /* A 3-byte character (–) at the edge. */
    assert_int_equal(gw_i18n_expand("abcde–", buf, 8, NULL), -1);
    assert_string_equal(buf, "abcde");
}

/* --- broken catalogues ------------------------------------------------------------------- */

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void remove_dir(const char *dir)
{
    static const char *const names[] = {"nb.cfg", "nn.cfg", "da.cfg", "en.cfg"};
    char path[512];
    for (size_t k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        unlink(path);
    }
    rmdir(dir);
}

static void expect_load_error(const char *nb, const char *nn, const char *da, const char *en,
                              const char *needle)
{
    char dir[] = "/tmp/test_i18n_XXXXXX";
    assert_non_null(mkdtemp(dir));
    if (nb)
        write_file(dir, "nb.cfg", nb);
    if (nn)
        write_file(dir, "nn.cfg", nn);
    if (da)
        write_file(dir, "da.cfg", da);
    if (en)
        write_file(dir, "en.cfg", en);
    char err[512];
    struct gw_i18n *i = gw_i18n_load(dir, err, sizeof err);
    if (needle) {
        if (i || !strstr(err, needle))
            fprintf(stderr, "err \"%s\", wanted \"%s\"\n", err, needle);
        assert_null(i);
        assert_non_null(strstr(err, needle));
    } else {
        assert_non_null(i);
        assert_string_equal(gw_i18n_text(i, "nn", "b"), "B nn {x}");
        gw_i18n_free(&i);
    }
    remove_dir(dir);
}

static void test_load_errors(void **state)
{
    (void)state;
    const char *ok_nb = "a = \"A nb\";\nb = \"B nb {x}\";\n";
    const char *ok_nn = "a = \"A nn\";\nb = \"B nn {x}\";\n";
    const char *ok_da = "b = \"B da {x}\";\na = \"A da\";\n";
    const char *ok_en = "a = \"A\";\nb = \"B {x}\";\n";
    expect_load_error(ok_nb, ok_nn, ok_da, ok_en, NULL);
    expect_load_error(ok_nb, NULL, ok_da, ok_en, "nn.cfg: cannot read");
    expect_load_error(ok_nb, "a = \"A nn\";\n", ok_da, ok_en, "nn.cfg: key 'b' is missing");
    expect_load_error(ok_nb, ok_nn, "a = \"A\";\nb = \"B {y}\";\n", ok_en,
                      "da.cfg:2: key 'b' must use the same {placeholders}");
    expect_load_error(ok_nb, ok_nn, "a = \"A\";\nb = \"B\";\n", ok_en, "da.cfg:2: key 'b'");
    expect_load_error("a = \"A\";\nb = \"B {x}\";\nc = \"C\";\n", ok_nn, ok_da, ok_en,
                      "nb.cfg:3: key 'c' is not in en.cfg");
    expect_load_error(ok_nb, ok_nn, ok_da, "a = \"A\";\nb = 3;\n", "en.cfg:2: key 'b' must be a string");
    expect_load_error(ok_nb, ok_nn, ok_da, "a = \"A\";\nb = = \"B\";\n", "en.cfg:2:");
    char err[128];
    assert_null(gw_i18n_load("/nonexistent/dir", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/dir/nb.cfg"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_keys),
        cmocka_unit_test(test_lookup_and_fallback),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_load_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

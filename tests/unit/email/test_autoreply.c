/* test_autoreply.c — robot, list, out-of-office and bounce detection (plugins/email/autoreply.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "autoreply.h"
#include "fixtures.h"

static struct mail_auto_info classify_raw(const char *raw)
{
    struct mail_parsed *p = NULL;
    assert_int_equal(mail_parse(raw, strlen(raw), &p, NULL, 0), 0);
    struct mail_auto_info ai;
    assert_int_equal(mail_auto_classify(p, &ai), 0);
    mail_parsed_free(&p);
    return ai;
}

static struct mail_auto_info classify_fixture(const char *name)
{
    char *raw = fixture_load(name, NULL);
    struct mail_auto_info ai = classify_raw(raw);
    free(raw);
    return ai;
}

static void test_people_from_fixtures(void **state)
{
    (void)state;
    static const char *const people[] = {
        "gmail_new_nb.eml", "gmail_reply_en.eml", "gmail_reply_nb.eml", "outlook_reply_nb.eml",
        "outlook_original_en_cp1252.eml", "apple_iphone_reply_en.eml", "apple_mail_reply_da.eml",
        "danish_skrev_foelgende_latin1.eml", "html_only_nb.eml", "gmail_html_only_reply_nb.eml",
        "encoded_subject.eml", "attachments.eml", "stranger_token.eml", NULL};
    for (int i = 0; people[i]; i++) {
        struct mail_auto_info ai = classify_fixture(people[i]);
        if (ai.kind != MAIL_PERSON || ai.no_autoreply)
            fail_msg("%s classified as %s", people[i], mail_sender_kind_name(ai.kind));
        mail_auto_info_release(&ai);
    }
}

static void test_robots_from_fixtures(void **state)
{
    (void)state;
    struct mail_auto_info ai = classify_fixture("autoreply_outlook_ooo_nb.eml");
    assert_int_equal(ai.kind, MAIL_AUTOREPLY);
    assert_true(ai.no_autoreply);
    assert_false(ai.weak); /* Auto-Submitted: auto-generated backs the subject up */
    mail_auto_info_release(&ai);

    ai = classify_fixture("autoreply_vacation.eml");
    assert_int_equal(ai.kind, MAIL_AUTOREPLY);
    assert_string_equal(ai.why, "auto-submitted");
    mail_auto_info_release(&ai);

    ai = classify_fixture("mailing_list.eml");
    assert_int_equal(ai.kind, MAIL_BULK);
    assert_true(ai.no_autoreply);
    mail_auto_info_release(&ai);

    ai = classify_fixture("bounce_postfix.eml");
    assert_int_equal(ai.kind, MAIL_BOUNCE);
    assert_string_equal(ai.why, "dsn");
    assert_string_equal(ai.failed_rcpt, "kari.typo@gmial.example");
    assert_string_equal(ai.action, "failed");
    assert_string_equal(ai.status, "5.1.1");
    assert_non_null(strstr(ai.diagnostic, "User unknown"));
    assert_true(ai.permanent);
    mail_auto_info_release(&ai);
    mail_auto_info_release(&ai);
}

#define HDRS "From: Kari <kari@example.no>\nTo: v@x.no\nMessage-ID: <m@x>\n"

static void test_header_rules(void **state)
{
    (void)state;
    static const struct {
        const char *raw;
        enum mail_sender_kind kind;
        int no_autoreply;
        const char *why;
    } cases[] = {
        {HDRS "Subject: hei\n\nx\n", MAIL_PERSON, 0, NULL},
        {HDRS "Auto-Submitted: no\nSubject: hei\n\nx\n", MAIL_PERSON, 0, NULL},
        {HDRS "Auto-Submitted: auto-generated\nSubject: hei\n\nx\n", MAIL_AUTOMATED, 1,
         "auto-submitted"},
        {HDRS "Auto-Submitted: Auto-Replied; owner-email=\"x@y\"\nSubject: hei\n\nx\n",
         MAIL_AUTOREPLY, 1, "auto-submitted"},
        {HDRS "Precedence: junk\nSubject: hei\n\nx\n", MAIL_BULK, 1, "precedence"},
        {HDRS "Precedence: bulk\nSubject: hei\n\nx\n", MAIL_BULK, 1, "precedence"},
        {HDRS "Precedence: auto_reply\nSubject: hei\n\nx\n", MAIL_AUTOREPLY, 1, "x-autoreply"},
        {HDRS "List-Id: <l.x.no>\nSubject: hei\n\nx\n", MAIL_BULK, 1, "list-id"},
        {HDRS "X-Autoreply: yes\nSubject: hei\n\nx\n", MAIL_AUTOREPLY, 1, "x-autoreply"},
        {HDRS "X-Auto-Response-Suppress: All\nSubject: hei\n\nx\n", MAIL_PERSON, 1,
         "x-auto-response-suppress"},
        {HDRS "X-Auto-Response-Suppress: DR, RN\nSubject: hei\n\nx\n", MAIL_PERSON, 0, NULL},
        {"To: v@x.no\nSubject: hei\n\nx\n", MAIL_AUTOMATED, 1, "null-sender"},
        {"Return-Path: <>\n" HDRS "Subject: hei\n\nx\n", MAIL_AUTOMATED, 1, "null-sender"},
        {"From: MAILER-DAEMON@mx.x.no\nSubject: failure\n\nx\n", MAIL_BOUNCE, 1, "mailer-daemon"},
        {"From: postmaster@x.no\nSubject: failure\n\nx\n", MAIL_BOUNCE, 1, "mailer-daemon"},
        {"From: no-reply@service.example\nSubject: Kvittering\n\nx\n", MAIL_AUTOMATED, 1,
         "no-reply-sender"},
        {HDRS "Subject: Out of Office: Re: hei\n\nx\n", MAIL_AUTOREPLY, 1, "out-of-office"},
        {HDRS "Subject: Automatic reply: hei\n\nx\n", MAIL_AUTOREPLY, 1, "out-of-office"},
        {HDRS "Auto-Submitted: auto-generated\nSubject: Automatic reply: hei\n\nx\n",
         MAIL_AUTOREPLY, 1, "out-of-office"},
        {HDRS "Subject: =?utf-8?Q?Frav=C3=A6rende=3A_hei?=\n\nx\n", MAIL_AUTOREPLY, 1,
         "out-of-office"},
        {HDRS "Subject: Ude af kontoret: hej\n\nx\n", MAIL_AUTOREPLY, 1, "out-of-office"},
        {HDRS "Subject: Frånvaro: hej\n\nx\n", MAIL_AUTOREPLY, 1, "out-of-office"},
        /* students ask about absence ("fravær") a lot: that is a person */
        {HDRS "Subject: Fravær fra skolen - hva nå?\n\nx\n", MAIL_PERSON, 0, NULL},
        {HDRS "Subject: Out of office hours?\n\nx\n", MAIL_PERSON, 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct mail_auto_info ai = classify_raw(cases[i].raw);
        if (ai.kind != cases[i].kind || ai.no_autoreply != cases[i].no_autoreply ||
            (cases[i].why && (!ai.why || strcmp(ai.why, cases[i].why) != 0)))
            fail_msg("case %zu: kind %s no_autoreply %d why %s", i, mail_sender_kind_name(ai.kind),
                     ai.no_autoreply, ai.why ? ai.why : "-");
        mail_auto_info_release(&ai);
    }
}

static void test_dsn_variants(void **state)
{
    (void)state;
    struct mail_auto_info ai = {0};
    /* delayed first, failed second: the failed one is taken */
    assert_int_equal(mail_dsn_parse("Reporting-MTA: dns; mx\n\nFinal-Recipient: rfc822;<a@x.no>\n"
                                    "Action: delayed\nStatus: 4.4.1\n\nFinal-Recipient: rfc822; "
                                    "b@x.no\nAction: Failed\nStatus: 5.2.2\n",
                                    &ai),
                     0);
    assert_string_equal(ai.failed_rcpt, "b@x.no");
    assert_string_equal(ai.action, "failed");
    assert_true(ai.permanent);
    mail_auto_info_release(&ai);

    memset(&ai, 0, sizeof ai);
    assert_int_equal(mail_dsn_parse("Final-Recipient: rfc822; <a@x.no>\r\nAction: delayed\r\n"
                                    "Status: 4.4.1\r\n",
                                    &ai),
                     0);
    assert_string_equal(ai.failed_rcpt, "a@x.no");
    assert_false(ai.permanent);
    mail_auto_info_release(&ai);

    memset(&ai, 0, sizeof ai);
    assert_int_equal(mail_dsn_parse("garbage without fields", &ai), 0);
    assert_null(ai.failed_rcpt);
    assert_int_equal(mail_dsn_parse(NULL, &ai), 0);
    mail_auto_info_release(&ai);
}

static int setup(void **state)
{
    (void)state;
    g_mime_init();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    g_mime_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_people_from_fixtures),
        cmocka_unit_test(test_robots_from_fixtures),
        cmocka_unit_test(test_header_rules),
        cmocka_unit_test(test_dsn_variants),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

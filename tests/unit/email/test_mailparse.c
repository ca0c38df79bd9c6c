/* test_mailparse.c — parsing the fixture mails (plugins/email/mailparse.c + quote.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "mailparse.h"
#include "quote.h"

#define OURID "<5f1c2a9e0b7d4e21.8a6b3c9d1e2f4a5b@karriere.example.no>"
#define TOKADDR "veiledning+k3x9q2mf7h@karriere.example.no"

static struct mail_parsed *load(const char *name)
{
    size_t len;
    char *raw = fixture_load(name, &len);
    struct mail_parsed *p = NULL;
    char err[128] = "";
    assert_int_equal(mail_parse(raw, len, &p, err, sizeof err), 0);
    free(raw);
    assert_non_null(p);
    return p;
}

/* The new text a counsellor would see. */
static char *clean(const struct mail_parsed *p)
{
    char *c = mail_quote_strip(p->text);
    assert_non_null(c);
    char *f = mail_links_append(c, &p->links);
    free(c);
    return f;
}

static void test_gmail_new(void **state)
{
    (void)state;
    struct mail_parsed *p = load("gmail_new_nb.eml");
    assert_string_equal(p->from_addr, "kari.nordmann@gmail.com");
    assert_string_equal(p->from_name, "Kari Nordmann");
    assert_string_equal(p->subject, "Spørsmål om sykepleie");
    assert_string_equal(p->message_id, "<CAF9zq1pX7y=V4nC2bLk8Qm+R3t@mail.gmail.com>");
    assert_null(p->in_reply_to);
    assert_int_equal(p->n_references, 0);
    assert_int_equal(p->from_html, 0);
    assert_int_equal(p->n_rcpts, 1);
    assert_string_equal(p->rcpts[0], "veiledning@karriere.example.no");
    char *c = clean(p);
    assert_string_equal(c, "Hei!\n\nJeg går siste året på videregående og lurer på om jeg bør "
                           "søke sykepleie eller\nvernepleie. Hva er forskjellen i praksis?\n\nMvh Kari");
    free(c);
    mail_parsed_free(&p);
    assert_null(p);
}

static void test_gmail_replies(void **state)
{
    (void)state;
    struct mail_parsed *p = load("gmail_reply_en.eml");
    assert_string_equal(p->in_reply_to, OURID);
    assert_int_equal(p->n_references, 2);
    assert_string_equal(p->references[1], OURID);
    int has_tok = 0;
    for (size_t i = 0; i < p->n_rcpts; i++)
        has_tok |= strcmp(p->rcpts[i], TOKADDR) == 0;
    assert_true(has_tok);
    char *c = clean(p);
    assert_string_equal(c, "Thanks, that helps a lot! Can I apply to both?\n\nKari");
    free(c);
    mail_parsed_free(&p);

    p = load("gmail_reply_nb.eml");
    assert_string_equal(p->subject, "Re: Spørsmål om sykepleie");
    c = clean(p);
    assert_string_equal(c, "Tusen takk! Da søker jeg begge deler.");
    free(c);
    mail_parsed_free(&p);

    p = load("gmail_html_only_reply_nb.eml");
    assert_int_equal(p->from_html, 1);
    c = clean(p);
    assert_string_equal(c, "Takk, jeg tar kontakt med NAV [1] også.\n\n[1] https://www.nav.no/");
    free(c);
    mail_parsed_free(&p);
}

static void test_outlook(void **state)
{
    (void)state;
    struct mail_parsed *p = load("outlook_reply_nb.eml");
    assert_string_equal(p->subject, "SV: Opptakskrav");
    assert_string_equal(p->lang, "nb-NO");
    char *c = clean(p);
    assert_string_equal(c, "Hei igjen,\n\nJeg har sett på opptakskravene. Må jeg ha R1 for å "
                           "komme inn på ingeniør?\n\nHilsen\nPer");
    free(c);
    mail_parsed_free(&p);

    p = load("outlook_original_en_cp1252.eml");
    c = clean(p);
    assert_string_equal(c, "Hi,\n\nI’m worried about the cost – is the “study abroad” grant "
                           "really €1000 a term?\n\nRegards,\nJohn");
    free(c);
    assert_string_equal(p->message_id, "<000d01dab65f$4a3b2c10$de6f8430$@example.com>");
    mail_parsed_free(&p);
}

static void test_apple(void **state)
{
    (void)state;
    struct mail_parsed *p = load("apple_iphone_reply_en.eml");
    char *c = clean(p);
    assert_string_equal(c, "Yes, Thursday afternoon works for me. Should I bring my grades?");
    free(c);
    mail_parsed_free(&p);

    p = load("apple_mail_reply_da.eml");
    assert_string_equal(p->subject, "Re: Optagelse på sygeplejerskeuddannelsen");
    assert_int_equal(p->from_html, 0);
    /* format=flowed; delsp=yes joined back into one line */
    c = clean(p);
    assert_string_equal(c, "Tak for svaret! Jeg vil gerne høre mere om SU, når jeg flytter "
                           "hjemmefra.\n\nVenlig hilsen\nMads");
    free(c);
    mail_parsed_free(&p);

    p = load("danish_skrev_foelgende_latin1.eml");
    assert_string_equal(p->subject, "Sv: Optagelse på pædagog");
    c = clean(p);
    assert_string_equal(c, "Hej,\n\nJeg har fået afslag fra pædagoguddannelsen. Hvad kan jeg "
                           "gøre nu?\n\nMvh. Sofie");
    free(c);
    mail_parsed_free(&p);
}

static void test_html_only_and_encoded(void **state)
{
    (void)state;
    struct mail_parsed *p = load("html_only_nb.eml");
    assert_int_equal(p->from_html, 1);
    char *c = clean(p);
    assert_string_equal(c, "Hei,\n\nJeg søkte på Samordna opptak [1] i april, men fikk ikke "
                           "svar. Se også https://utdanning.no.\n\n- Førstevalg: sykepleie\n"
                           "- Andrevalg: vernepleie\n\nRing meg gjerne på e-post "
                           "<lise@example.no>.\nHilsen Lise\n\n"
                           "[1] https://www.samordnaopptak.no/info/");
    free(c);
    mail_parsed_free(&p);

    p = load("encoded_subject.eml");
    assert_string_equal(p->subject, "Spørsmål om å bytta studium 😊 — hjelp");
    assert_string_equal(p->from_name, "Jørgen Ærlig");
    assert_string_equal(p->text, "Eg vil byta frå økonomi til lærar. Korleis gjer eg det?\n");
    mail_parsed_free(&p);
}

static void test_attachments(void **state)
{
    (void)state;
    struct mail_parsed *p = load("attachments.eml");
    assert_int_equal(p->n_att, 2); /* the inline logo of the HTML part is not listed */
    assert_string_equal(p->att[0].name, "Søknad og CV.pdf");
    assert_string_equal(p->att[0].type, "application/pdf");
    assert_int_equal(p->att[0].size, 2016);
    assert_string_equal(p->att[1].name, "vitnemaal.jpg");
    assert_string_equal(p->att[1].type, "image/jpeg");
    assert_int_equal(p->att[1].size, 1506);
    assert_string_equal(p->text, "Hei, her er CV-en min og vitnemålet.");
    mail_parsed_free(&p);
}

static void test_bounce_report(void **state)
{
    (void)state;
    struct mail_parsed *p = load("bounce_postfix.eml");
    assert_string_equal(p->report_type, "delivery-status");
    assert_non_null(p->dsn_text);
    assert_non_null(strstr(p->dsn_text, "Final-Recipient: rfc822; kari.typo@gmial.example"));
    assert_string_equal(p->dsn_orig_message_id, OURID);
    assert_int_equal(p->n_att, 0);
    assert_string_equal(mail_parsed_header(p, "return-path"), "<>");
    mail_parsed_free(&p);
}

static void test_helpers(void **state)
{
    (void)state;
    char *s = mail_rfc2047_decode("=?UTF-8?B?SGVsbG8=?= =?UTF-8?B?IHdvcmxk?=");
    assert_string_equal(s, "Hello world"); /* GMime 3.2.13 says "Hello" */
    free(s);
    s = mail_rfc2047_decode("Re: =?iso-8859-1?Q?bl=E5b=E6r?= og =?utf-8?q?=C3=B8l?=\r\n er godt");
    assert_string_equal(s, "Re: blåbær og øl er godt");
    free(s);
    s = mail_rfc2047_decode("=?utf-8?B?8J8=?= =?utf-8?B?mIo=?= split");
    assert_string_equal(s, "😊 split");
    free(s);
    s = mail_rfc2047_decode("8bit \xe6\xf8\xe5 latin1");
    assert_string_equal(s, "8bit æøå latin1");
    free(s);
    s = mail_rfc2047_decode("=?bogus?X?abc?= plain");
    assert_string_equal(s, "=?bogus?X?abc?= plain");
    free(s);

    s = mail_to_utf8("\x93quoted\x94 \x80", 10, "iso-8859-1");
    assert_string_equal(s, "“quoted” €");
    free(s);
    s = mail_to_utf8("a\r\nb\rc\xff", 7, "utf-8");
    assert_string_equal(s, "a\nb\nc\xef\xbf\xbd");
    free(s);
    s = mail_unflow("one \ntwo\n> q1 \n> q2\nthree\n-- \nsig\n", 0);
    assert_string_equal(s, "one two\n> q1 q2\nthree\n-- \nsig\n");
    free(s);
    s = mail_msgid_canon(" <a@b> ");
    assert_string_equal(s, "<a@b>");
    free(s);
    s = mail_msgid_canon("a@b");
    assert_string_equal(s, "<a@b>");
    free(s);
    assert_null(mail_msgid_canon("<>"));

    struct mail_parsed *p = NULL;
    assert_int_not_equal(mail_parse("", 0, &p, NULL, 0), 0);
    assert_null(p);
    /* no header block at all: refused, the caller leaves it for a human */
    char err[64] = "";
    assert_int_equal(mail_parse("garbage\x01\x02", 9, &p, err, sizeof err), -1);
    assert_null(p);
    assert_string_equal(err, "not a mail message");
    /* headers without a body or From still parse */
    assert_int_equal(mail_parse("Subject: x\n", 11, &p, NULL, 0), 0);
    assert_string_equal(p->from_addr, "");
    assert_string_equal(p->subject, "x");
    assert_string_equal(p->text, "");
    mail_parsed_free(&p);
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
        cmocka_unit_test(test_gmail_new),    cmocka_unit_test(test_gmail_replies),
        cmocka_unit_test(test_outlook),      cmocka_unit_test(test_apple),
        cmocka_unit_test(test_html_only_and_encoded), cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_bounce_report), cmocka_unit_test(test_helpers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

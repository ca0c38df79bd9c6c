/* test_compose.c — outbound MIME (plugins/email/compose.c), read back with our own parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <gmime/gmime.h>
#include <stdlib.h>
#include <string.h>

#include "compose.h"
#include "mailparse.h"

static void test_reply_subject(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        {"Spørsmål", "Re: Spørsmål"}, {"Re: x", "Re: x"},   {"RE: x", "RE: x"},
        {"SV: x", "SV: x"},           {"Sv: x", "Sv: x"},   {"AW: x", "AW: x"},
        {"  VS: x", "VS: x"},         {"Re[2]: x", "Re[2]: x"}, {"Regarding", "Re: Regarding"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *s = mail_reply_subject(cases[i][0], "fb");
        assert_string_equal(s, cases[i][1]);
        free(s);
    }
    char *s = mail_reply_subject("", "Din henvendelse");
    assert_string_equal(s, "Din henvendelse");
    free(s);
    s = mail_reply_subject(NULL, NULL);
    assert_string_equal(s, "");
    free(s);
}

static void test_references(void **state)
{
    (void)state;
    char *r = mail_references_add(NULL, "<a@x>", 10);
    assert_string_equal(r, "<a@x>");
    free(r);
    r = mail_references_add("<a@x> <b@x>\r\n <c@x>", "<d@x>", 10);
    assert_string_equal(r, "<a@x> <b@x> <c@x> <d@x>");
    free(r);
    /* trimmed in the middle, first and newest kept */
    r = mail_references_add("<1@x> <2@x> <3@x> <4@x> <5@x>", "<6@x>", 4);
    assert_string_equal(r, "<1@x> <4@x> <5@x> <6@x>");
    free(r);
    /* id already there: moved to the end, not repeated */
    r = mail_references_add("<1@x> <2@x>", "<1@x>", 10);
    assert_string_equal(r, "<2@x> <1@x>");
    free(r);
    char *id = mail_new_message_id("karriere.example.no");
    assert_int_equal(strlen(id), 1 + 33 + 1 + strlen("karriere.example.no") + 1);
    assert_non_null(strstr(id, "@karriere.example.no>"));
    char *id2 = mail_new_message_id(NULL);
    assert_string_not_equal(id, id2);
    assert_non_null(strstr(id2, "@skagerrak.invalid>"));
    free(id);
    free(id2);
}

static void test_compose_reply_roundtrip(void **state)
{
    (void)state;
    struct mail_out o = {
        .from_addr = "veiledning@karriere.example.no",
        .from_name = "Karriereveiledning – Kari",
        .reply_to = "veiledning+k3x9q2mf7h@karriere.example.no",
        .to = "kari.nordmann@gmail.com",
        .subject = "Re: Spørsmål om sykepleie",
        .in_reply_to = "<CAF9@mail.gmail.com>",
        .references = "<CAF9@mail.gmail.com>",
        .body = "Hei Kari,\n\nSykepleie og vernepleie er begge bachelorgrader på tre år. "
                "Denne linjen er ganske lang for å se at quoted-printable bryter den pent uten å "
                "ødelegge æøå.\n\nVennlig hilsen\nOla\n",
        .lang = "nb",
        .date_ms = 1717488900000,
    };
    size_t len;
    char *msgid = NULL, err[128];
    char *raw = mail_compose(&o, &len, &msgid, err, sizeof err);
    assert_non_null(raw);
    assert_int_equal(strlen(raw), len);
    assert_non_null(strstr(msgid, "@karriere.example.no>"));
    /* CRLF everywhere, no bare LF; no line over 998 */
    for (size_t i = 0; i < len; i++)
        if (raw[i] == '\n')
            assert_true(i > 0 && raw[i - 1] == '\r');
    assert_non_null(strstr(raw, "charset=utf-8"));
    assert_non_null(strstr(raw, "Content-Transfer-Encoding: quoted-printable"));
    assert_null(strstr(raw, "Auto-Submitted"));
    assert_non_null(strstr(raw, "Content-Language: nb"));
    assert_non_null(strstr(raw, "Date: Tue, 04 Jun 2024 08:15:00 +0000"));

    struct mail_parsed *p = NULL;
    assert_int_equal(mail_parse(raw, len, &p, NULL, 0), 0);
    assert_string_equal(p->from_addr, "veiledning@karriere.example.no");
    assert_string_equal(p->from_name, "Karriereveiledning – Kari");
    assert_string_equal(p->reply_to, "veiledning+k3x9q2mf7h@karriere.example.no");
    assert_string_equal(p->subject, "Re: Spørsmål om sykepleie");
    assert_string_equal(p->message_id, msgid);
    assert_string_equal(p->in_reply_to, "<CAF9@mail.gmail.com>");
    assert_int_equal(p->n_references, 1);
    assert_string_equal(p->text, o.body);
    mail_parsed_free(&p);
    free(raw);
    free(msgid);
}

static void test_compose_auto_and_ascii(void **state)
{
    (void)state;
    struct mail_out o = {
        .from_addr = "veiledning@karriere.example.no",
        .to = "kari@example.no",
        .subject = "Your question",
        .message_id = "<fixed@karriere.example.no>",
        .body = "We have received your message.",
        .auto_submitted = "auto-replied",
    };
    size_t len;
    char *msgid = NULL;
    char *raw = mail_compose(&o, &len, &msgid, NULL, 0);
    assert_non_null(raw);
    assert_string_equal(msgid, "<fixed@karriere.example.no>");
    assert_non_null(strstr(raw, "Message-Id: <fixed@karriere.example.no>") ?
                        strstr(raw, "Message-Id: <fixed@karriere.example.no>") :
                        strstr(raw, "Message-ID: <fixed@karriere.example.no>"));
    assert_non_null(strstr(raw, "Auto-Submitted: auto-replied\r\n"));
    assert_non_null(strstr(raw, "X-Auto-Response-Suppress: All\r\n"));
    assert_null(strstr(raw, "quoted-printable")); /* plain ASCII stays 7bit */
    assert_null(strstr(raw, "base64"));
    assert_null(strstr(raw, "Reply-To"));
    assert_null(strstr(raw, "In-Reply-To"));
    free(raw);
    free(msgid);

    /* header injection through the recipient is refused */
    char err[64] = "";
    o.to = "kari@example.no\r\nBcc: x@y";
    assert_null(mail_compose(&o, &len, &msgid, err, sizeof err));
    assert_null(msgid);
    assert_string_equal(err, "recipient is not a plain address");
    o.to = NULL;
    assert_null(mail_compose(&o, &len, &msgid, err, sizeof err));
    /* a subject with CR/LF cannot inject headers either */
    o.to = "kari@example.no";
    o.subject = "x\r\nBcc: evil@example.com";
    raw = mail_compose(&o, &len, &msgid, err, sizeof err);
    assert_non_null(raw);
    assert_null(strstr(raw, "\r\nBcc:"));
    assert_non_null(strstr(raw, "Subject: x Bcc: evil@example.com\r\n"));
    free(raw);
    free(msgid);
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
        cmocka_unit_test(test_reply_subject),
        cmocka_unit_test(test_references),
        cmocka_unit_test(test_compose_reply_roundtrip),
        cmocka_unit_test(test_compose_auto_and_ascii),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* test_quote.c — quoted-history and signature stripping (plugins/email/quote.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>

#include "quote.h"

static void check(const char *in, const char *want)
{
    char *got = mail_quote_strip(in);
    assert_non_null(got);
    assert_string_equal(got, want);
    free(got);
}

static void test_gmail_en_wrapped_attribution(void **state)
{
    (void)state;
    check("Thanks, that helps!\n\nKari\n\nOn Tue, 4 Jun 2024 at 10:15, Karriereveiledning <\n"
          "veiledning+abc@karriere.example.no> wrote:\n\n> Hi Kari,\n>\n> Nursing...\n",
          "Thanks, that helps!\n\nKari");
}

static void test_norwegian_skrev(void **state)
{
    (void)state;
    check("Tusen takk!\n\ntir. 4. jun. 2024 kl. 10:15 skrev Karriereveiledning <\n"
          "veiledning+abc@karriere.example.no>:\n\n> Hei Kari,\n> Ola\n",
          "Tusen takk!");
    /* nynorsk / short form without quote marks but with an address */
    check("Takk for svar.\n\ntys. 4. jun. 2024 kl. 10:15 skreiv Ola <ola@example.no>:\nHei\n",
          "Takk for svar.");
}

static void test_danish_forms(void **state)
{
    (void)state;
    check("Tak!\n\nDen 4. jun. 2024 kl. 10.15 skrev Karriereveiledning <v@x.dk>:\n\nHej Mads\n",
          "Tak!");
    check("Hej,\nHvad nu?\n\nKarriereveiledning <v+t@x.dk> skrev følgende:\nHej Sofie\n",
          "Hej,\nHvad nu?");
    check("Svar her\n\nVejledning skrev følgende:\n> gammelt\n", "Svar her");
}

static void test_outlook_blocks(void **state)
{
    (void)state;
    check("Hei igjen,\n\nMå jeg ha R1?\n\n________________________________\n"
          "Fra: Karriereveiledning <v@x.no>\nSendt: tirsdag 4. juni 2024 10:15\n"
          "Til: Per\nEmne: Re: x\n\nHei Per\n",
          "Hei igjen,\n\nMå jeg ha R1?");
    check("Hi,\n\ncost?\n\n-----Original Message-----\nFrom: K <v@x.no>\nSent: Tuesday\n\nold\n",
          "Hi,\n\ncost?");
    check("Hei\r\n\r\n-----Opprinnelig melding-----\r\nFra: x\r\n", "Hei");
    /* From:/Sent: without a rule (Outlook for Mac, HTML converted) */
    check("Ok!\n\nFrom: Karriereveiledning <v@x.no>\nDate: Tuesday, 4 June 2024 at 10:15\n"
          "To: Per\nSubject: Re: x\n\nold text\n",
          "Ok!");
    /* a lone "From:" in the seeker's own text is kept */
    check("From: my school I got a letter.\nWhat now?\n",
          "From: my school I got a letter.\nWhat now?");
}

static void test_signature_and_device(void **state)
{
    (void)state;
    check("Hei\n\n-- \nKari Nordmann\nTlf 12345678\n", "Hei");
    check("Yes, Thursday works.\n\nSent from my iPhone\n\n> On 4 Jun 2024, at 10:15, V <v@x.no> "
          "wrote:\n>\n> Hi\n",
          "Yes, Thursday works.");
    check("Ja takk\n\nSendt fra min iPhone\n", "Ja takk");
    check("Ok\n\nHent Outlook for Android\n", "Ok");
}

static void test_interleaved_and_bottom_post(void **state)
{
    (void)state;
    check("On Tue, 4 Jun 2024, V <v@x.no> wrote:\n> Do you have grades?\nYes, mostly 5s.\n"
          "> When can you talk?\nThursday.\n",
          "Yes, mostly 5s.\nThursday.");
    check("> quoted only\n> more\n", "");
}

static void test_not_an_attribution(void **state)
{
    (void)state;
    /* no date, no address, no '>' after: the seeker's own words */
    check("Min lærer skrev:\nDu må søke innen april.\nStemmer det?\n",
          "Min lærer skrev:\nDu må søke innen april.\nStemmer det?");
    check("On Monday I wrote:\nhello\n", "On Monday I wrote:\nhello");
}

static void test_blank_lines_and_forward(void **state)
{
    (void)state;
    check("\n\n  \nHei\n\n\n\nDu  \n\n", "Hei\n\nDu");
    check("Se under\n\n---------- Forwarded message ---------\nFra: NAV <nav@nav.no>\n"
          "Date: man. 3. jun. 2024\nSubject: Vedtak\n\nDu har fått avslag.\n",
          "Se under\n\n---------- Forwarded message ---------\nFra: NAV <nav@nav.no>\n"
          "Date: man. 3. jun. 2024\nSubject: Vedtak\n\nDu har fått avslag.");
    check("FYI\n\nBegin forwarded message:\n\nSubject: Vedtak\nDu har fått avslag.\n",
          "FYI\n\nBegin forwarded message:\n\nSubject: Vedtak\nDu har fått avslag.");
    check("", "");
    char *n = mail_quote_strip(NULL);
    assert_string_equal(n, "");
    free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gmail_en_wrapped_attribution),
        cmocka_unit_test(test_norwegian_skrev),
        cmocka_unit_test(test_danish_forms),
        cmocka_unit_test(test_outlook_blocks),
        cmocka_unit_test(test_signature_and_device),
        cmocka_unit_test(test_interleaved_and_bottom_post),
        cmocka_unit_test(test_not_an_attribution),
        cmocka_unit_test(test_blank_lines_and_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

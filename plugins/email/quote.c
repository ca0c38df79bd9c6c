/* quote.c — reply-header, '>' quote, Outlook block and signature stripping (see quote.h). */
#include "quote.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct line {
    const char *s;
    size_t n; /* without line end */
    int skip; /* an attribution line to drop */
};

/* Outlook's separators, in the languages our seekers' clients use. */
static const char *const original_message[] = {
    "-----Original Message-----",  "-----Opprinnelig melding-----",
    "-----Oprindelig meddelelse-----", "-----Ursprüngliche Nachricht-----",
    "-----Originalmeddelande-----", "-----Alkuperäinen viesti-----",
    "----- Original Message -----", "----- Opprinnelig melding -----",
    "----- Oprindelig meddelelse -----", NULL};

/* First and second lines of an Outlook header block ("From: x" then "Sent: y"). */
static const char *const from_words[] = {"From:", "Fra:", "Från:", "Von:", "De:", "Lähettäjä:",
                                         NULL};
static const char *const sent_words[] = {"Sent:", "Sendt:", "Skickat:", "Gesendet:",
                                         "Envoyé:", "Date:", "Dato:", "Datum:", "Lähetetty:",
                                         NULL};

/* Lines that start a forwarded message: everything after them is kept as written. */
static const char *const forward_marks[] = {
    "---------- Forwarded message", "-------- Forwarded Message", "Begin forwarded message:",
    "-------- Videresendt melding", "Videresendt melding:", "Start på videresendt melding:",
    "Begynn videresendt melding:", "Begynd videresendt besked:", "Videresendt besked:",
    "-------- Videresendt besked", "-------- Vidarebefordrat meddelande",
    "---------- Weitergeleitete Nachricht", NULL};

/* Trailing lines added by mobile and webmail clients. */
static const char *const device_sigs[] = {
    "Sent from my ",        "Sendt fra min ",        "Sendt fra ",         "Sent from ",
    "Skickat från min ",    "Get Outlook for ",      "Hent Outlook for ",  "Få Outlook for ",
    "Von meinem ",          "Envoyé de mon ",        NULL};

static int starts_any(const struct line *l, const char *const *words)
{
    const char *s = l->s;
    size_t n = l->n;
    while (n && (*s == ' ' || *s == '\t' || *s == '*')) {
        s++;
        n--;
    }
    for (int i = 0; words[i]; i++) {
        size_t wl = strlen(words[i]);
        if (n >= wl && strncasecmp(s, words[i], wl) == 0)
            return 1;
    }
    return 0;
}

static int blank(const struct line *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (!isspace((unsigned char)l->s[i]))
            return 0;
    return 1;
}

static int quoted(const struct line *l)
{
    return l->n && l->s[0] == '>';
}

static int trimmed_eq(const struct line *l, const char *w)
{
    const char *s = l->s;
    size_t n = l->n;
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return strlen(w) == n && strncasecmp(s, w, n) == 0;
}

/* Case-insensitive search for a whole word in [s, s+n). */
static int has_word(const char *s, size_t n, const char *w)
{
    size_t wl = strlen(w);
    for (size_t i = 0; i + wl <= n; i++) {
        if (strncasecmp(s + i, w, wl) != 0)
            continue;
        int left = i == 0 || !isalpha((unsigned char)s[i - 1]);
        int right = i + wl == n || !isalpha((unsigned char)s[i + wl]);
        if (left && right)
            return 1;
    }
    return 0;
}

static int ends_with_colon(const char *s, size_t n)
{
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return n && s[n - 1] == ':';
}

static int has_date_or_address(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (isdigit((unsigned char)s[i]) || s[i] == '@')
            return 1;
    return 0;
}

/* Is [s, n) an attribution such as "On … wrote:" / "… skrev:" / "Am … schrieb …:"? */
static int attribution_text(const char *s, size_t n)
{
    if (!ends_with_colon(s, n))
        return 0;
    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    if (n > 400)
        return 0;
    if (n >= 3 && strncasecmp(s, "On ", 3) == 0 && has_word(s, n, "wrote"))
        return 1;
    if (has_word(s, n, "skrev") || has_word(s, n, "skreiv") || has_word(s, n, "schrieb") || has_word(s, n, "kirjoitti"))
        return 1;
    if (n >= 3 && strncasecmp(s, "Le ", 3) == 0 && strstr(s, "crit") && has_word(s, n, "a"))
        return 1;
    return 0;
}

/* Does an attribution start at line i?  Long ones are wrapped over up to three lines
 * (Gmail wraps before the address).  Returns the number of lines it spans (0 = none) and
 * sets *then_quote when '>' lines follow it. */
static size_t attribution_at(const struct line *ls, size_t nl, size_t i, int *then_quote)
{
    struct mail_buf b = {0};
    size_t found = 0;
    *then_quote = 0;
    for (size_t k = i; k < nl && k < i + 3; k++) {
        if (blank(&ls[k]) || quoted(&ls[k]))
            break;
        if (k > i)
            mail_buf_addc(&b, ' ');
        mail_buf_add(&b, ls[k].s, ls[k].n);
        if (b.oom)
            break;
        if (attribution_text(b.s, b.len)) {
            /* evidence: a date or address in it, or '>' lines right after */
            size_t j = k + 1;
            while (j < nl && blank(&ls[j]))
                j++;
            *then_quote = j < nl && quoted(&ls[j]);
            if (has_date_or_address(b.s, b.len) || *then_quote)
                found = k - i + 1;
            break;
        }
        if (ends_with_colon(ls[k].s, ls[k].n))
            break;
    }
    mail_buf_release(&b);
    return found;
}

static int outlook_block_at(const struct line *ls, size_t nl, size_t i)
{
    for (int k = 0; original_message[k]; k++)
        if (trimmed_eq(&ls[i], original_message[k]))
            return 1;
    /* a "________________________________" rule followed by a From: line */
    if (ls[i].n >= 10 && strspn(ls[i].s, "_") >= 10) {
        size_t j = i + 1;
        while (j < nl && blank(&ls[j]))
            j++;
        if (j < nl && starts_any(&ls[j], from_words))
            return 1;
    }
    if (starts_any(&ls[i], from_words)) {
        for (size_t j = i + 1; j < nl && j <= i + 4; j++)
            if (starts_any(&ls[j], sent_words))
                return 1;
    }
    return 0;
}

static int signature_at(const struct line *l)
{
    return (l->n == 3 && memcmp(l->s, "-- ", 3) == 0) || (l->n == 2 && memcmp(l->s, "--", 2) == 0);
}

char *mail_quote_strip(const char *text)
{
    if (!text)
        return strdup("");
    /* split into lines */
    size_t cap = 16, nl = 0;
    struct line *ls = malloc(cap * sizeof *ls);
    if (!ls)
        return NULL;
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (nl == cap) {
            struct line *t = realloc(ls, cap * 2 * sizeof *ls);
            if (!t) {
                free(ls);
                return NULL;
            }
            ls = t;
            cap *= 2;
        }
        ls[nl].s = p;
        ls[nl].n = (n && p[n - 1] == '\r') ? n - 1 : n;
        ls[nl].skip = 0;
        nl++;
        if (!e)
            break;
        p = e + 1;
    }

    /* An attribution followed by '>' lines only introduces a quote: drop the attribution
     * and keep scanning, so answers written below or between quoted lines survive.  Any
     * other reply header ends the new text. */
    size_t cut = nl, fwd = nl;
    for (size_t i = 0; i < nl; i++) {
        if (quoted(&ls[i]))
            continue;
        if (starts_any(&ls[i], forward_marks)) {
            fwd = i;
            break;
        }
        int then_quote;
        size_t span = attribution_at(ls, nl, i, &then_quote);
        if (span && then_quote) {
            for (size_t k = i; k < i + span; k++)
                ls[k].skip = 1;
            i += span - 1;
            continue;
        }
        if (span || signature_at(&ls[i]) || outlook_block_at(ls, nl, i)) {
            cut = i;
            break;
        }
    }
    /* drop a trailing device signature ("Sent from my iPhone") */
    size_t end = cut;
    while (end && end <= fwd && (blank(&ls[end - 1]) || quoted(&ls[end - 1]) || ls[end - 1].skip))
        end--;
    if (end && end <= fwd && ls[end - 1].n < 60 && starts_any(&ls[end - 1], device_sigs))
        end--;

    struct mail_buf b = {0};
    int blanks = 0, started = 0;
    for (size_t i = 0; i < end; i++) {
        if ((quoted(&ls[i]) && i < fwd) || ls[i].skip)
            continue;
        if (blank(&ls[i])) {
            blanks = started;
            continue;
        }
        if (blanks)
            mail_buf_addc(&b, '\n');
        blanks = 0;
        if (started)
            mail_buf_addc(&b, '\n');
        size_t n = ls[i].n;
        while (n && (ls[i].s[n - 1] == ' ' || ls[i].s[n - 1] == '\t'))
            n--;
        mail_buf_add(&b, ls[i].s, n);
        started = 1;
    }
    free(ls);
    return mail_buf_detach(&b);
}

/* autoreply.c — RFC 3834 robot detection, out-of-office subjects and DSN parsing. */
#include "autoreply.h"
#include "plugin_api.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Subject prefixes of out-of-office answers (Exchange, Gmail, Apple, webmail), by language. */
static const char *const ooo_subjects[] = {
    "Automatic reply:", "Auto-reply:", "Autoreply:", "Auto:", "Out of Office:",
    "Out of Office AutoReply:", "Out of Office Reply", "Automatisk svar:", "Autosvar:",
    "Fraværende:", "Ikke til stede:", "Ikkje til stades:", "Ude af kontoret:", "Frånvaro:",
    "Abwesenheitsnotiz:", "Automatische Antwort:", "Réponse automatique:", "Vacation reply:",
    NULL};

/* Local parts of senders that are machines. */
static const char *const robot_locals[] = {"noreply", "no-reply", "no_reply", "donotreply",
                                           "do-not-reply", "do_not_reply", "bounce", "bounces",
                                           NULL};

const char *mail_sender_kind_name(enum mail_sender_kind k)
{
    switch (k) {
    case MAIL_PERSON: return "person";
    case MAIL_AUTOREPLY: return "autoreply";
    case MAIL_AUTOMATED: return "automated";
    case MAIL_BULK: return "bulk";
    case MAIL_BOUNCE: return "bounce";
    }
    return "person";
}

/* First token of a header value, lowercased, into buf ("auto-replied; owner=x" -> "auto-replied"). */
static const char *token(const char *v, char *buf, size_t len)
{
    size_t i = 0;
    while (*v == ' ' || *v == '\t')
        v++;
    while (*v && *v != ';' && *v != ' ' && *v != '\t' && *v != ',' && i + 1 < len)
        buf[i++] = (char)tolower((unsigned char)*v++);
    buf[i] = '\0';
    return buf;
}

static int local_is(const char *addr, const char *local)
{
    const char *at = strchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr);
    return strlen(local) == n && strncasecmp(addr, local, n) == 0;
}

static int ooo_subject(const char *subj)
{
    while (subj && (*subj == ' ' || *subj == '['))
        subj++;
    for (int i = 0; subj && ooo_subjects[i]; i++)
        if (mail_prefix(subj, ooo_subjects[i]))
            return 1;
    return 0;
}

static char *field_value(const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        n--;
    return strndup(v, n);
}

/* End of a recipient group: keep it if it failed, or as a first guess.  Takes the
 * strings (sets them NULL).  Returns 1 when a failed recipient was taken. */
static int finish_group(struct mail_auto_info *out, char **rcpt, char **action, char **status,
                        char **diag)
{
    int taken = 0;
    if (*rcpt) {
        int failed = *action && strcasecmp(*action, "failed") == 0;
        if (failed || !out->failed_rcpt) {
            free(out->failed_rcpt);
            free(out->action);
            free(out->status);
            free(out->diagnostic);
            out->failed_rcpt = *rcpt;
            out->action = *action ? mail_lower(*action) : NULL;
            out->status = *status;
            out->diagnostic = *diag;
            *rcpt = *action = *status = *diag = NULL;
            taken = failed;
        }
    }
    mail_freep(rcpt);
    mail_freep(action);
    mail_freep(status);
    mail_freep(diag);
    return taken;
}

int mail_dsn_parse(const char *dsn, struct mail_auto_info *out)
{
    if (!dsn)
        return 0;
    /* The body is a per-message group, then per-recipient groups separated by blank lines.
     * Fields may be folded (continuation lines start with whitespace). */
    char *rcpt = NULL, *action = NULL, *status = NULL, *diag = NULL;
    int chosen = 0; /* a failed recipient was taken */
    const char *p = dsn;
    int oom = 0;
    while (*p && !chosen) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        int group_end = (n == 0 || (n == 1 && *p == '\r'));
        if (!group_end) {
            const char *colon = memchr(p, ':', n);
            if (colon) {
                size_t kn = (size_t)(colon - p);
                /* collect folded continuation lines */
                struct mail_buf v = {0};
                mail_buf_add(&v, colon + 1, n - kn - 1);
                const char *q = e ? e + 1 : p + n;
                while (*q == ' ' || *q == '\t') {
                    const char *qe = strchr(q, '\n');
                    size_t qn = qe ? (size_t)(qe - q) : strlen(q);
                    mail_buf_add(&v, q, qn);
                    q = qe ? qe + 1 : q + qn;
                    e = qe;
                }
                char **slot = NULL;
                if (kn == 15 && strncasecmp(p, "Final-Recipient", kn) == 0)
                    slot = &rcpt;
                else if (kn == 18 && strncasecmp(p, "Original-Recipient", kn) == 0 && !rcpt)
                    slot = &rcpt;
                else if (kn == 6 && strncasecmp(p, "Action", kn) == 0)
                    slot = &action;
                else if (kn == 6 && strncasecmp(p, "Status", kn) == 0)
                    slot = &status;
                else if (kn == 15 && strncasecmp(p, "Diagnostic-Code", kn) == 0)
                    slot = &diag;
                if (slot && v.s) {
                    free(*slot);
                    *slot = field_value(v.s, v.len);
                    if (!*slot)
                        oom = 1;
                }
                mail_buf_release(&v);
            }
        }
        if (group_end || !e)
            chosen = finish_group(out, &rcpt, &action, &status, &diag);
        if (!e)
            break;
        p = e + 1;
    }
    if (!chosen)
        finish_group(out, &rcpt, &action, &status, &diag);
    if (out->failed_rcpt) {
        /* "rfc822; kari@example.no" -> "kari@example.no" */
        char *semi = strchr(out->failed_rcpt, ';');
        if (semi) {
            const char *a = semi + 1;
            while (*a == ' ')
                a++;
            memmove(out->failed_rcpt, a, strlen(a) + 1);
        }
        size_t n = strlen(out->failed_rcpt);
        if (n && out->failed_rcpt[0] == '<' && out->failed_rcpt[n - 1] == '>') {
            memmove(out->failed_rcpt, out->failed_rcpt + 1, n - 2);
            out->failed_rcpt[n - 2] = '\0';
        }
    }
    out->permanent = (out->action && strcasecmp(out->action, "failed") == 0) ||
                     (!out->action && out->status && out->status[0] == '5');
    return oom ? GW_ENOMEM : 0;
}

int mail_auto_classify(const struct mail_parsed *p, struct mail_auto_info *out)
{
    memset(out, 0, sizeof *out);
    char tok[64];
    const char *from = p->from_addr ? p->from_addr : "";
    const char *as = mail_parsed_header(p, "Auto-Submitted");
    const char *prec = mail_parsed_header(p, "Precedence");
    const char *xars = mail_parsed_header(p, "X-Auto-Response-Suppress");
    const char *rp = mail_parsed_header(p, "Return-Path");

    if (xars && (strcasestr(xars, "all") || strcasestr(xars, "oof") ||
                 strcasestr(xars, "autoreply")))
        out->no_autoreply = 1;

    if (p->report_type && strcmp(p->report_type, "delivery-status") == 0) {
        out->kind = MAIL_BOUNCE;
        out->why = "dsn";
        if (mail_dsn_parse(p->dsn_text, out) < 0) {
            mail_auto_info_release(out);
            return GW_ENOMEM;
        }
    } else if (local_is(from, "mailer-daemon") || local_is(from, "postmaster")) {
        out->kind = MAIL_BOUNCE;
        out->why = "mailer-daemon";
    } else if (as && strcmp(token(as, tok, sizeof tok), "auto-replied") == 0) {
        out->kind = MAIL_AUTOREPLY;
        out->why = "auto-submitted";
    } else if (mail_parsed_header(p, "X-Autoreply") || mail_parsed_header(p, "X-Autorespond") ||
               (prec && strcmp(token(prec, tok, sizeof tok), "auto_reply") == 0)) {
        out->kind = MAIL_AUTOREPLY;
        out->why = "x-autoreply";
    } else if (ooo_subject(p->subject)) {
        out->kind = MAIL_AUTOREPLY;
        out->why = "out-of-office";
        /* only the subject says so, unless a robot header backs it up */
        out->weak = !(as && strcmp(token(as, tok, sizeof tok), "no") != 0) && !out->no_autoreply;
    } else if (prec && (strcmp(token(prec, tok, sizeof tok), "bulk") == 0 ||
                        strcmp(tok, "list") == 0 || strcmp(tok, "junk") == 0)) {
        out->kind = MAIL_BULK;
        out->why = "precedence";
    } else if (mail_parsed_header(p, "List-Id") || mail_parsed_header(p, "List-Unsubscribe") ||
               mail_parsed_header(p, "List-Post")) {
        out->kind = MAIL_BULK;
        out->why = "list-id";
    } else if (as && strcmp(token(as, tok, sizeof tok), "no") != 0) {
        out->kind = MAIL_AUTOMATED;
        out->why = "auto-submitted";
    } else if (!*from || (rp && strstr(rp, "<>"))) {
        out->kind = MAIL_AUTOMATED;
        out->why = "null-sender";
    } else {
        for (int i = 0; robot_locals[i]; i++) {
            if (local_is(from, robot_locals[i])) {
                out->kind = MAIL_AUTOMATED;
                out->why = "no-reply-sender";
                break;
            }
        }
    }
    if (out->kind != MAIL_PERSON)
        out->no_autoreply = 1;
    else if (out->no_autoreply)
        out->why = "x-auto-response-suppress";
    return 0;
}

void mail_auto_info_release(struct mail_auto_info *ai)
{
    if (!ai)
        return;
    mail_freep(&ai->failed_rcpt);
    mail_freep(&ai->action);
    mail_freep(&ai->status);
    mail_freep(&ai->diagnostic);
}

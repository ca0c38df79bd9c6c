/* charset.c — charset conversion (glib iconv), RFC 2047 decoding, RFC 3676 unflowing. */
#include "charset.h"
#include "util.h"

#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *norm_charset(const char *cs)
{
    if (!cs || !*cs)
        return NULL;
    static const char *const latin1[] = {"iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
                                         "latin-1", "l1", "cp819", "us-ascii", "ascii",
                                         "ansi_x3.4-1968", NULL};
    for (int i = 0; latin1[i]; i++)
        if (strcasecmp(cs, latin1[i]) == 0)
            return "WINDOWS-1252";
    if (strcasecmp(cs, "utf8") == 0 || strcasecmp(cs, "utf-8") == 0)
        return "UTF-8";
    return cs;
}

char *mail_to_utf8(const char *bytes, size_t len, const char *charset)
{
    if (!bytes || !len)
        return strdup("");
    const char *cs = norm_charset(charset);
    char *conv = NULL;
    if (cs && strcmp(cs, "UTF-8") != 0) {
        gsize w = 0;
        conv = g_convert(bytes, (gssize)len, "UTF-8", cs, NULL, &w, NULL);
        if (!conv && strcmp(cs, "WINDOWS-1252") != 0 && !g_utf8_validate(bytes, (gssize)len, NULL))
            conv = g_convert(bytes, (gssize)len, "UTF-8", "WINDOWS-1252", NULL, &w, NULL);
        if (conv)
            len = w;
    } else if (!cs && !g_utf8_validate(bytes, (gssize)len, NULL)) {
        gsize w = 0;
        conv = g_convert(bytes, (gssize)len, "UTF-8", "WINDOWS-1252", NULL, &w, NULL);
        if (conv)
            len = w;
    }
    const char *src = conv ? conv : bytes;
    /* g_utf8_make_valid replaces what is still broken (e.g. bytes 0x81 in windows-1252) */
    char *valid = g_utf8_make_valid(src, (gssize)len);
    g_free(conv);
    if (!valid)
        return NULL;
    struct mail_buf b = {0};
    const char *s = valid;
    if ((unsigned char)s[0] == 0xef && (unsigned char)s[1] == 0xbb && (unsigned char)s[2] == 0xbf)
        s += 3;
    for (; *s; s++) {
        if (*s == '\r') {
            if (s[1] != '\n')
                mail_buf_addc(&b, '\n');
            continue;
        }
        mail_buf_addc(&b, *s);
    }
    g_free(valid);
    return mail_buf_detach(&b);
}

char *mail_unflow(const char *text, int delsp)
{
    struct mail_buf b = {0};
    const char *p = text;
    int joining = 0; /* previous line was flowed: this one continues it */
    size_t prev_depth = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        size_t depth = 0;
        while (depth < n && p[depth] == '>')
            depth++;
        const char *c = p + depth;
        size_t cn = n - depth;
        if (cn && *c == ' ') { /* space-stuffing */
            c++;
            cn--;
        }
        int sig = cn == 3 && memcmp(c, "-- ", 3) == 0;
        if (joining && depth != prev_depth) {
            mail_buf_addc(&b, '\n');
            joining = 0;
        }
        if (!joining) {
            for (size_t i = 0; i < depth; i++)
                mail_buf_addc(&b, '>');
            if (depth)
                mail_buf_addc(&b, ' ');
        }
        int flowed = cn && c[cn - 1] == ' ' && !sig;
        mail_buf_add(&b, c, (flowed && delsp) ? cn - 1 : cn);
        if (flowed) {
            joining = 1;
        } else {
            joining = 0;
            if (e)
                mail_buf_addc(&b, '\n');
        }
        prev_depth = depth;
        if (!e)
            break;
        p = e + 1;
    }
    return mail_buf_detach(&b);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Parse "=?charset?X?text?=" at p.  On success fills charset (without RFC 2231 language),
 * appends the decoded bytes to out and returns the length consumed; else 0. */
static size_t encoded_word(const char *p, char *charset, size_t cslen, struct mail_buf *out)
{
    if (p[0] != '=' || p[1] != '?')
        return 0;
    const char *cs = p + 2;
    const char *q1 = strchr(cs, '?');
    if (!q1 || q1 == cs || (size_t)(q1 - cs) >= cslen || !q1[1] || q1[2] != '?')
        return 0;
    char enc = (char)(q1[1] | 0x20);
    if (enc != 'b' && enc != 'q')
        return 0;
    const char *text = q1 + 3;
    const char *end = strstr(text, "?=");
    if (!end)
        return 0;
    for (const char *c = text; c < end; c++)
        if (*c == ' ' || *c == '\t' || *c == '\n')
            return 0;
    memcpy(charset, cs, (size_t)(q1 - cs));
    charset[q1 - cs] = '\0';
    char *star = strchr(charset, '*');
    if (star)
        *star = '\0';
    if (enc == 'b') {
        char *t = strndup(text, (size_t)(end - text));
        if (!t) {
            out->oom = 1;
            return 0;
        }
        gsize n = 0;
        guchar *d = g_base64_decode(t, &n);
        free(t);
        if (d)
            mail_buf_add(out, (const char *)d, n);
        g_free(d);
    } else {
        for (const char *c = text; c < end; c++) {
            if (*c == '_') {
                mail_buf_addc(out, ' ');
            } else if (*c == '=' && c + 2 < end && hexval(c[1]) >= 0 && hexval(c[2]) >= 0) {
                mail_buf_addc(out, (char)(hexval(c[1]) * 16 + hexval(c[2])));
                c += 2;
            } else {
                mail_buf_addc(out, *c);
            }
        }
    }
    return (size_t)(end + 2 - p);
}

char *mail_rfc2047_decode(const char *raw)
{
    struct mail_buf out = {0};  /* UTF-8 result */
    struct mail_buf pend = {0}; /* decoded bytes of the current run of encoded words */
    char pend_cs[64] = "";
    struct mail_buf lit = {0};  /* literal text (undeclared charset) */
    const char *p = raw ? raw : "";
    const char *ws = NULL; /* whitespace seen after an encoded word, not yet emitted */
    size_t wsn = 0;
    while (*p) {
        char cs[64];
        struct mail_buf word = {0};
        size_t used = encoded_word(p, cs, sizeof cs, &word);
        if (used) {
            /* whitespace between two encoded words is dropped (RFC 2047 6.2) */
            if (lit.len) {
                char *u = mail_to_utf8(lit.s, lit.len, NULL);
                mail_buf_adds(&out, u);
                free(u);
                mail_buf_release(&lit);
            }
            if (pend.len && strcasecmp(cs, pend_cs) != 0) {
                char *u = mail_to_utf8(pend.s, pend.len, pend_cs);
                mail_buf_adds(&out, u);
                free(u);
                mail_buf_release(&pend);
            }
            snprintf(pend_cs, sizeof pend_cs, "%s", cs);
            mail_buf_add(&pend, word.s ? word.s : "", word.len);
            mail_buf_release(&word);
            ws = NULL;
            wsn = 0;
            p += used;
            continue;
        }
        mail_buf_release(&word);
        if (*p == '\r' || *p == '\n') { /* unfold */
            p++;
            continue;
        }
        if ((*p == ' ' || *p == '\t') && pend.len) {
            if (!ws)
                ws = p;
            wsn++;
            p++;
            continue;
        }
        if (pend.len) {
            char *u = mail_to_utf8(pend.s, pend.len, pend_cs);
            mail_buf_adds(&out, u);
            free(u);
            mail_buf_release(&pend);
            if (ws)
                mail_buf_add(&out, " ", 1);
            ws = NULL;
            wsn = 0;
        }
        mail_buf_addc(&lit, *p == '\t' ? ' ' : *p);
        p++;
    }
    if (pend.len) {
        char *u = mail_to_utf8(pend.s, pend.len, pend_cs);
        mail_buf_adds(&out, u);
        free(u);
    }
    if (lit.len) {
        char *u = mail_to_utf8(lit.s, lit.len, NULL);
        mail_buf_adds(&out, u);
        free(u);
    }
    if (pend.oom || lit.oom)
        out.oom = 1;
    mail_buf_release(&pend);
    mail_buf_release(&lit);
    /* trim */
    mail_buf_rtrim(&out, " ");
    char *s = mail_buf_detach(&out);
    if (s) {
        size_t lead = strspn(s, " ");
        memmove(s, s + lead, strlen(s + lead) + 1);
    }
    return s;
}

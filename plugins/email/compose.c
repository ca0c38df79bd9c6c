/* compose.c — GMime message construction for the email channel's outbound mail. */
#include "compose.h"
#include "util.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* Reply prefixes clients put before a subject (English, Nordic, German, Finnish, Turkish). */
static const char *const reply_prefixes[] = {"Re:", "SV:", "Sv:", "AW:", "VS:", "Vs:", "Ynt:",
                                             "Antw:", "Re[", NULL};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

char *mail_reply_subject(const char *orig, const char *fallback)
{
    while (orig && (*orig == ' ' || *orig == '\t'))
        orig++;
    if (!orig || !*orig)
        return strdup(fallback ? fallback : "");
    for (int i = 0; reply_prefixes[i]; i++)
        if (mail_prefix(orig, reply_prefixes[i]))
            return strdup(orig);
    struct mail_buf b = {0};
    mail_buf_addf(&b, "Re: %s", orig);
    return mail_buf_detach(&b);
}

char *mail_new_message_id(const char *domain)
{
    unsigned char r[16];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r) {
        /* getrandom cannot fail for 16 bytes after boot; fall back to time + address */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        memcpy(r, &ts, sizeof ts < sizeof r ? sizeof ts : sizeof r);
    }
    struct mail_buf b = {0};
    mail_buf_addc(&b, '<');
    for (size_t i = 0; i < sizeof r; i++) {
        mail_buf_addf(&b, "%02x", r[i]);
        if (i == 7)
            mail_buf_addc(&b, '.');
    }
    mail_buf_addf(&b, "@%s>", domain && *domain ? domain : "skagerrak.invalid");
    return mail_buf_detach(&b);
}

char *mail_references_add(const char *prev, const char *id, size_t max)
{
    /* split prev into ids */
    char **ids = NULL;
    size_t n = 0;
    int oom = 0;
    for (const char *p = prev; p && *p;) {
        const char *lt = strchr(p, '<');
        const char *gt = lt ? strchr(lt, '>') : NULL;
        if (!lt || !gt)
            break;
        char **t = realloc(ids, (n + 1) * sizeof *t);
        if (!t || !(t[n] = strndup(lt, (size_t)(gt - lt + 1)))) {
            if (t)
                ids = t;
            oom = 1;
            break;
        }
        ids = t;
        n++;
        p = gt + 1;
    }
    struct mail_buf b = {0};
    if (!oom) {
        size_t total = n + (id ? 1 : 0);
        if (max < 2)
            max = 2;
        size_t skip_from = 1, skip_to = 1; /* keep ids[0], drop [skip_from, skip_to) */
        if (total > max)
            skip_to = skip_from + (total - max);
        for (size_t i = 0; i < n; i++) {
            if (i >= skip_from && i < skip_to)
                continue;
            if (id && strcmp(ids[i], id) == 0)
                continue;
            if (b.len)
                mail_buf_addc(&b, ' ');
            mail_buf_adds(&b, ids[i]);
        }
        if (id) {
            if (b.len)
                mail_buf_addc(&b, ' ');
            mail_buf_adds(&b, id);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(ids[i]);
    free(ids);
    if (oom) {
        mail_buf_release(&b);
        return NULL;
    }
    return mail_buf_detach(&b);
}

static GMimePart *text_part(const char *body)
{
    GMimeTextPart *tp = g_mime_text_part_new_with_subtype("plain");
    /* Write the UTF-8 bytes ourselves: g_mime_text_part_set_text() would pick ISO-8859-1
     * for Nordic text, and we promise UTF-8. */
    struct mail_buf b = {0};
    for (const char *p = body; *p; p++) {
        if (*p == '\r')
            continue;
        mail_buf_addc(&b, *p);
    }
    if (b.oom || !b.s) {
        mail_buf_release(&b);
        mail_buf_adds(&b, "");
    }
    GMimeStream *st = g_mime_stream_mem_new_with_buffer(b.s ? b.s : "", b.len);
    mail_buf_release(&b);
    GMimeDataWrapper *w = g_mime_data_wrapper_new_with_stream(st, GMIME_CONTENT_ENCODING_DEFAULT);
    g_mime_part_set_content(GMIME_PART(tp), w);
    g_object_unref(w);
    g_object_unref(st);
    g_mime_text_part_set_charset(tp, "utf-8");
    GMimeContentEncoding enc =
        g_mime_part_get_best_content_encoding(GMIME_PART(tp), GMIME_ENCODING_CONSTRAINT_7BIT);
    g_mime_part_set_content_encoding(GMIME_PART(tp), enc);
    return GMIME_PART(tp);
}

char *mail_compose(const struct mail_out *o, size_t *len, char **msgid_out, char *err,
                   size_t errlen)
{
    *msgid_out = NULL;
    *len = 0;
    if (!o->from_addr || !*o->from_addr || !o->to || !*o->to || !o->body) {
        set_err(err, errlen, "from, to and body are required");
        return NULL;
    }
    if (strpbrk(o->to, "\r\n<>,;\" ") || !strchr(o->to, '@')) {
        set_err(err, errlen, "recipient is not a plain address");
        return NULL;
    }
    char *msgid = NULL;
    if (o->message_id) {
        msgid = strdup(o->message_id);
    } else {
        const char *dom = o->msgid_domain;
        if (!dom) {
            dom = strrchr(o->from_addr, '@');
            dom = dom ? dom + 1 : NULL;
        }
        msgid = mail_new_message_id(dom);
    }
    if (!msgid) {
        set_err(err, errlen, "out of memory");
        return NULL;
    }

    GMimeMessage *msg = g_mime_message_new(TRUE);
    GMimeObject *obj = GMIME_OBJECT(msg);
    g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, o->from_name ? o->from_name : "",
                               o->from_addr);
    g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_TO, "", o->to);
    if (o->reply_to && *o->reply_to)
        g_mime_message_add_mailbox(msg, GMIME_ADDRESS_TYPE_REPLY_TO,
                                   o->from_name ? o->from_name : "", o->reply_to);
    /* a subject is one line: CR/LF from a seeker's subject become spaces */
    char *subj = strdup(o->subject ? o->subject : "");
    for (char *c = subj; c && *c; c++)
        if (*c == '\r' || *c == '\n' || *c == '\t')
            *c = ' ';
    if (subj) {
        /* collapse the doubled space of a CRLF */
        char *w = subj;
        for (char *r = subj; *r; r++)
            if (!(*r == ' ' && w > subj && w[-1] == ' '))
                *w++ = *r;
        *w = '\0';
    }
    g_mime_message_set_subject(msg, subj ? subj : "", "utf-8");
    free(subj);
    GDateTime *dt = g_date_time_new_from_unix_utc(o->date_ms / 1000);
    if (dt) {
        g_mime_message_set_date(msg, dt);
        g_date_time_unref(dt);
    }
    /* GMime wants the id without brackets */
    char *bare = strndup(msgid + (msgid[0] == '<'), strlen(msgid) - (msgid[0] == '<') -
                                                         (msgid[strlen(msgid) - 1] == '>'));
    if (bare)
        g_mime_message_set_message_id(msg, bare);
    free(bare);
    if (o->in_reply_to && *o->in_reply_to)
        g_mime_object_set_header(obj, "In-Reply-To", o->in_reply_to, NULL);
    if (o->references && *o->references)
        g_mime_object_set_header(obj, "References", o->references, NULL);
    if (o->auto_submitted) {
        g_mime_object_set_header(obj, "Auto-Submitted", o->auto_submitted, NULL);
        g_mime_object_set_header(obj, "X-Auto-Response-Suppress", "All", NULL);
    }
    if (o->lang && *o->lang)
        g_mime_object_set_header(obj, "Content-Language", o->lang, NULL);

    GMimePart *part = text_part(o->body);
    g_mime_message_set_mime_part(msg, GMIME_OBJECT(part));
    g_object_unref(part);

    GMimeFormatOptions *fo = g_mime_format_options_new();
    g_mime_format_options_set_newline_format(fo, GMIME_NEWLINE_FORMAT_DOS);
    GMimeStream *st = g_mime_stream_mem_new();
    g_mime_object_write_to_stream(obj, fo, st);
    GByteArray *arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(st));
    char *out = malloc(arr->len + 1);
    if (out) {
        memcpy(out, arr->data, arr->len);
        out[arr->len] = '\0';
        *len = arr->len;
    }
    g_object_unref(st);
    g_mime_format_options_free(fo);
    g_object_unref(msg);
    if (!out) {
        free(msgid);
        set_err(err, errlen, "out of memory");
        return NULL;
    }
    *msgid_out = msgid;
    return out;
}

/* mailparse.c — GMime walk of an inbound message: addresses, ids, body text, attachments, DSN. */
#include "mailparse.h"
#include "plugin_api.h"
#include "util.h"

#include <gmime/gmime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Headers whose addresses may carry our reply token. */
static const char *const rcpt_headers[] = {"To", "Cc", "Delivered-To", "X-Original-To",
                                           "Envelope-To", "X-Envelope-To", NULL};

struct walk {
    struct mail_parsed *p;
    struct mail_buf plain;
    struct mail_buf html;
    int in_report;
    int oom;
};

static void set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

char *mail_msgid_canon(const char *id)
{
    if (!id)
        return NULL;
    while (*id == ' ' || *id == '\t' || *id == '<')
        id++;
    size_t n = strlen(id);
    while (n && (id[n - 1] == ' ' || id[n - 1] == '\t' || id[n - 1] == '>' || id[n - 1] == '\r' ||
                 id[n - 1] == '\n'))
        n--;
    if (!n)
        return NULL;
    char *s = malloc(n + 3);
    if (!s)
        return NULL;
    s[0] = '<';
    memcpy(s + 1, id, n);
    s[n + 1] = '>';
    s[n + 2] = '\0';
    return s;
}

/* Decoded content of a leaf part as bytes (transfer encoding undone).  g_free the result. */
static GByteArray *part_bytes(GMimePart *part)
{
    GMimeDataWrapper *w = g_mime_part_get_content(part);
    if (!w)
        return NULL;
    GMimeStream *mem = g_mime_stream_mem_new();
    g_mime_data_wrapper_write_to_stream(w, mem);
    GByteArray *arr = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
    GByteArray *copy = g_byte_array_sized_new(arr->len);
    g_byte_array_append(copy, arr->data, arr->len);
    g_object_unref(mem);
    return copy;
}

static char *part_text(GMimeObject *obj)
{
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    GByteArray *bytes = part_bytes(GMIME_PART(obj));
    if (!bytes)
        return strdup("");
    char *t = mail_to_utf8((const char *)bytes->data, bytes->len,
                           g_mime_content_type_get_parameter(ct, "charset"));
    g_byte_array_free(bytes, TRUE);
    if (!t)
        return NULL;
    const char *fmt = g_mime_content_type_get_parameter(ct, "format");
    if (fmt && strcasecmp(fmt, "flowed") == 0 && g_mime_content_type_is_type(ct, "text", "plain")) {
        const char *delsp = g_mime_content_type_get_parameter(ct, "delsp");
        char *u = mail_unflow(t, delsp && strcasecmp(delsp, "yes") == 0);
        free(t);
        t = u;
    }
    return t;
}

static int add_str(char ***arr, size_t *n, const char *s)
{
    if (!s || !*s)
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (strcasecmp((*arr)[i], s) == 0)
            return 0;
    char **t = realloc(*arr, (*n + 1) * sizeof *t);
    if (!t)
        return -1;
    *arr = t;
    if (!(t[*n] = strdup(s)))
        return -1;
    (*n)++;
    return 0;
}

static int add_addresses(InternetAddressList *list, char ***arr, size_t *n)
{
    for (int i = 0; list && i < internet_address_list_length(list); i++) {
        InternetAddress *a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_GROUP(a)) {
            if (add_addresses(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)), arr,
                              n) < 0)
                return -1;
        } else if (INTERNET_ADDRESS_IS_MAILBOX(a)) {
            if (add_str(arr, n, internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(a))) < 0)
                return -1;
        }
    }
    return 0;
}

static InternetAddressMailbox *first_mailbox(InternetAddressList *list)
{
    for (int i = 0; list && i < internet_address_list_length(list); i++) {
        InternetAddress *a = internet_address_list_get_address(list, i);
        if (INTERNET_ADDRESS_IS_MAILBOX(a))
            return INTERNET_ADDRESS_MAILBOX(a);
        if (INTERNET_ADDRESS_IS_GROUP(a)) {
            InternetAddressMailbox *m =
                first_mailbox(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(a)));
            if (m)
                return m;
        }
    }
    return NULL;
}

static void add_attachment(struct walk *w, GMimeObject *obj, const char *name)
{
    struct mail_parsed *p = w->p;
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    struct mail_attachment *t = realloc(p->att, (p->n_att + 1) * sizeof *t);
    if (!t) {
        w->oom = 1;
        return;
    }
    p->att = t;
    struct mail_attachment *a = &p->att[p->n_att];
    char *mt = g_mime_content_type_get_mime_type(ct);
    a->type = strdup(mt ? mt : "application/octet-stream");
    g_free(mt);
    mail_lower(a->type);
    a->name = strdup(name ? name : "");
    a->size = 0;
    if (GMIME_IS_PART(obj)) {
        GMimeDataWrapper *dw = g_mime_part_get_content(GMIME_PART(obj));
        if (dw) {
            GMimeStream *null = g_mime_stream_null_new();
            g_mime_data_wrapper_write_to_stream(dw, null);
            a->size = (size_t)GMIME_STREAM_NULL(null)->written;
            g_object_unref(null);
        }
    } else if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeStream *null = g_mime_stream_null_new();
        g_mime_object_write_to_stream(obj, NULL, null);
        a->size = (size_t)GMIME_STREAM_NULL(null)->written;
        g_object_unref(null);
    }
    if (!a->type || !a->name) {
        free(a->type);
        free(a->name);
        w->oom = 1;
        return;
    }
    p->n_att++;
}

/* Message-ID from a text/rfc822-headers block. */
static char *msgid_from_headers(const char *h)
{
    for (const char *l = h; l && *l;) {
        if (strncasecmp(l, "Message-ID:", 11) == 0) {
            const char *v = l + 11;
            const char *lt = strchr(v, '<');
            const char *gt = lt ? strchr(lt, '>') : NULL;
            if (lt && gt) {
                char *id = strndup(lt, (size_t)(gt - lt + 1));
                return id;
            }
        }
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    return NULL;
}

static void walk(struct walk *w, GMimeObject *obj, GMimeObject *parent, int index);

static void walk_multipart(struct walk *w, GMimeMultipart *mp)
{
    GMimeObject *obj = GMIME_OBJECT(mp);
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    int n = g_mime_multipart_get_count(mp);
    if (g_mime_content_type_is_type(ct, "multipart", "alternative")) {
        /* prefer text/plain (with text in it); else the last, richest alternative */
        int pick = -1;
        for (int i = 0; i < n; i++) {
            GMimeObject *c = g_mime_multipart_get_part(mp, i);
            GMimeContentType *cct = g_mime_object_get_content_type(c);
            if (g_mime_content_type_is_type(cct, "text", "plain") && GMIME_IS_PART(c)) {
                char *t = part_text(c);
                int useful = t && strspn(t, " \t\r\n") < strlen(t);
                free(t);
                if (useful) {
                    pick = i;
                    break;
                }
            }
        }
        if (pick < 0)
            pick = n - 1;
        if (pick >= 0)
            walk(w, g_mime_multipart_get_part(mp, pick), obj, pick);
        return;
    }
    if (g_mime_content_type_is_type(ct, "multipart", "signed")) {
        if (n > 0)
            walk(w, g_mime_multipart_get_part(mp, 0), obj, 0);
        return;
    }
    if (g_mime_content_type_is_type(ct, "multipart", "report")) {
        const char *rt = g_mime_content_type_get_parameter(ct, "report-type");
        free(w->p->report_type);
        w->p->report_type = mail_lower(strdup(rt ? rt : ""));
        w->in_report = 1;
    }
    for (int i = 0; i < n; i++)
        walk(w, g_mime_multipart_get_part(mp, i), obj, i);
}

static void walk(struct walk *w, GMimeObject *obj, GMimeObject *parent, int index)
{
    if (w->oom)
        return;
    if (GMIME_IS_MULTIPART(obj)) {
        walk_multipart(w, GMIME_MULTIPART(obj));
        return;
    }
    GMimeContentType *ct = g_mime_object_get_content_type(obj);
    if (GMIME_IS_MESSAGE_PART(obj)) {
        GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
        if (w->in_report && inner &&
            (g_mime_content_type_is_type(ct, "message", "delivery-status") ||
             g_mime_content_type_is_type(ct, "message", "global-delivery-status"))) {
            /* GMime reads a delivery-status body as a message: its first field group
             * became "headers".  Writing it back gives the original text. */
            if (!w->p->dsn_text) {
                gchar *t = g_mime_object_to_string(GMIME_OBJECT(inner), NULL);
                w->p->dsn_text = t ? mail_to_utf8(t, strlen(t), "utf-8") : NULL;
                g_free(t);
            }
            return;
        }
        if (w->in_report) {
            if (inner && !w->p->dsn_orig_message_id) {
                const char *id = g_mime_message_get_message_id(inner);
                w->p->dsn_orig_message_id = mail_msgid_canon(id);
            }
            return;
        }
        const char *subj = inner ? g_mime_message_get_subject(inner) : NULL;
        char name[256];
        snprintf(name, sizeof name, "%s.eml", subj && *subj ? subj : "message");
        add_attachment(w, obj, name);
        return;
    }
    if (!GMIME_IS_PART(obj))
        return;
    GMimePart *part = GMIME_PART(obj);
    if (w->in_report && (g_mime_content_type_is_type(ct, "message", "delivery-status") ||
                         g_mime_content_type_is_type(ct, "message", "global-delivery-status"))) {
        if (!w->p->dsn_text)
            w->p->dsn_text = part_text(obj);
        return;
    }
    if (w->in_report && (g_mime_content_type_is_type(ct, "text", "rfc822-headers") ||
                         g_mime_content_type_is_type(ct, "message", "rfc822-headers"))) {
        char *h = part_text(obj);
        if (h && !w->p->dsn_orig_message_id)
            w->p->dsn_orig_message_id = msgid_from_headers(h);
        free(h);
        return;
    }
    /* signatures of signed mail are not attachments the seeker chose */
    if (g_mime_content_type_is_type(ct, "application", "pgp-signature") ||
        g_mime_content_type_is_type(ct, "application", "pkcs7-signature") ||
        g_mime_content_type_is_type(ct, "application", "x-pkcs7-signature"))
        return;
    /* embedded images of an HTML body (multipart/related, referenced by Content-ID) */
    if (parent && index > 0 && g_mime_content_type_is_type(g_mime_object_get_content_type(parent),
                                                           "multipart", "related") &&
        g_mime_object_get_content_id(obj)) {
        GMimeContentDisposition *d = g_mime_object_get_content_disposition(obj);
        if (!d || !g_mime_content_disposition_is_attachment(d))
            return;
    }
    GMimeContentDisposition *disp = g_mime_object_get_content_disposition(obj);
    int is_att = disp && g_mime_content_disposition_is_attachment(disp);
    const char *fname = g_mime_part_get_filename(part);
    int plain = g_mime_content_type_is_type(ct, "text", "plain");
    int html = g_mime_content_type_is_type(ct, "text", "html");
    if (!is_att && (plain || html) && !(fname && *fname && w->plain.len + w->html.len > 0)) {
        char *t = part_text(obj);
        if (!t) {
            w->oom = 1;
            return;
        }
        struct mail_buf *b = plain ? &w->plain : &w->html;
        if (b->len)
            mail_buf_adds(b, plain ? "\n" : "<br>");
        mail_buf_adds(b, t);
        free(t);
        return;
    }
    if (w->in_report)
        return;
    add_attachment(w, obj, fname);
}

/* Append the headers of obj.  GMime keeps a message's Content-* headers on its top MIME
 * part, so the message and that part are both collected. */
static void collect_headers(struct walk *w, GMimeObject *obj)
{
    GMimeHeaderList *hl = g_mime_object_get_header_list(obj);
    int n = g_mime_header_list_get_count(hl);
    struct mail_parsed *p = w->p;
    struct mail_header *t = realloc(p->headers, (p->n_headers + (size_t)n + 1) * sizeof *t);
    if (!t) {
        w->oom = 1;
        return;
    }
    p->headers = t;
    for (int i = 0; i < n; i++) {
        GMimeHeader *h = g_mime_header_list_get_header_at(hl, i);
        const char *name = g_mime_header_get_name(h);
        const char *val = g_mime_header_get_value(h);
        struct mail_header *mh = &p->headers[p->n_headers];
        mh->name = strdup(name ? name : "");
        mh->value = strdup(val ? val : "");
        p->n_headers++;
        if (!mh->name || !mh->value) {
            w->oom = 1;
            return;
        }
        for (char *c = mh->value; *c; c++)
            if (*c == '\r' || *c == '\n' || *c == '\t')
                *c = ' ';
    }
}

const char *mail_parsed_header(const struct mail_parsed *p, const char *name)
{
    for (size_t i = 0; p && i < p->n_headers; i++)
        if (strcasecmp(p->headers[i].name, name) == 0)
            return p->headers[i].value;
    return NULL;
}

static int parse_ids(GMimeParserOptions *opt, const char *v, char ***arr, size_t *n)
{
    if (!v)
        return 0;
    GMimeReferences *refs = g_mime_references_parse(opt, v);
    int rc = 0;
    for (int i = 0; refs && i < g_mime_references_length(refs); i++) {
        char *id = mail_msgid_canon(g_mime_references_get_message_id(refs, i));
        if (id && add_str(arr, n, id) < 0)
            rc = -1;
        free(id);
    }
    if (refs)
        g_mime_references_free(refs);
    return rc;
}

int mail_parse(const char *raw, size_t len, struct mail_parsed **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!raw || !len) {
        set_err(err, errlen, "empty message");
        return GW_EINVAL;
    }
    GMimeParserOptions *opt = g_mime_parser_options_new();
    g_mime_parser_options_set_rfc2047_compliance_mode(opt, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_address_compliance_mode(opt, GMIME_RFC_COMPLIANCE_LOOSE);
    g_mime_parser_options_set_parameter_compliance_mode(opt, GMIME_RFC_COMPLIANCE_LOOSE);
    /* undeclared 8-bit headers: UTF-8 when valid, else what Windows clients send */
    const char *fallback[] = {"utf-8", "windows-1252", NULL};
    g_mime_parser_options_set_fallback_charsets(opt, fallback);

    GMimeStream *st = g_mime_stream_mem_new_with_buffer(raw, len);
    GMimeParser *parser = g_mime_parser_new_with_stream(st);
    g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
    GMimeMessage *msg = g_mime_parser_construct_message(parser, opt);
    g_object_unref(parser);
    g_object_unref(st);
    if (!msg) {
        g_mime_parser_options_free(opt);
        set_err(err, errlen, "not a mail message");
        return GW_EINVAL;
    }

    struct mail_parsed *p = calloc(1, sizeof *p);
    if (!p) {
        g_object_unref(msg);
        g_mime_parser_options_free(opt);
        return GW_ENOMEM;
    }
    struct walk w = {.p = p};
    GMimeObject *top = GMIME_OBJECT(msg);

    InternetAddressMailbox *from = first_mailbox(g_mime_message_get_from(msg));
    const char *fa = from ? internet_address_mailbox_get_addr(from) : NULL;
    const char *fn = from ? internet_address_get_name(INTERNET_ADDRESS(from)) : NULL;
    p->from_addr = strdup(fa ? fa : "");
    p->from_name = strdup(fn ? fn : "");
    InternetAddressMailbox *rt = first_mailbox(g_mime_message_get_reply_to(msg));
    if (rt)
        p->reply_to = mail_strdup(internet_address_mailbox_get_addr(rt));
    GMimeHeader *sh = g_mime_header_list_get_header(g_mime_object_get_header_list(top), "Subject");
    const char *raw_subj = sh ? g_mime_header_get_raw_value(sh) : NULL;
    p->subject = raw_subj ? mail_rfc2047_decode(raw_subj) : strdup("");
    p->message_id = mail_msgid_canon(g_mime_message_get_message_id(msg));
    collect_headers(&w, top);
    GMimeObject *body = g_mime_message_get_mime_part(msg);
    if (body && !w.oom)
        collect_headers(&w, body);

    for (size_t i = 0; !w.oom && i < p->n_headers; i++) {
        for (int k = 0; rcpt_headers[k]; k++) {
            if (strcasecmp(p->headers[i].name, rcpt_headers[k]) != 0)
                continue;
            InternetAddressList *l = internet_address_list_parse(opt, p->headers[i].value);
            if (l) {
                if (add_addresses(l, &p->rcpts, &p->n_rcpts) < 0)
                    w.oom = 1;
                g_object_unref(l);
            }
        }
    }
    char **irt = NULL;
    size_t n_irt = 0;
    if (parse_ids(opt, mail_parsed_header(p, "In-Reply-To"), &irt, &n_irt) < 0)
        w.oom = 1;
    if (n_irt)
        p->in_reply_to = strdup(irt[n_irt - 1]);
    for (size_t i = 0; i < n_irt; i++)
        free(irt[i]);
    free(irt);
    if (parse_ids(opt, mail_parsed_header(p, "References"), &p->references, &p->n_references) < 0)
        w.oom = 1;
    const char *lang = mail_parsed_header(p, "Content-Language");
    if (lang)
        p->lang = strdup(lang);

    if (body)
        walk(&w, body, NULL, 0);

    if (w.plain.len && strspn(w.plain.s, " \t\r\n") < w.plain.len) {
        p->text = mail_buf_detach(&w.plain);
    } else if (w.html.len) {
        p->text = mail_html_to_text(w.html.s, &p->links);
        p->from_html = 1;
    } else {
        p->text = strdup("");
    }
    mail_buf_release(&w.plain);
    mail_buf_release(&w.html);
    g_object_unref(msg);
    g_mime_parser_options_free(opt);

    if (w.oom || !p->from_addr || !p->from_name || !p->subject || !p->text) {
        mail_parsed_free(&p);
        set_err(err, errlen, "out of memory");
        return GW_ENOMEM;
    }
    *out = p;
    return GW_OK;
}

void mail_parsed_free(struct mail_parsed **pp)
{
    if (!pp || !*pp)
        return;
    struct mail_parsed *p = *pp;
    free(p->from_addr);
    free(p->from_name);
    free(p->reply_to);
    for (size_t i = 0; i < p->n_rcpts; i++)
        free(p->rcpts[i]);
    free(p->rcpts);
    free(p->subject);
    free(p->message_id);
    free(p->in_reply_to);
    for (size_t i = 0; i < p->n_references; i++)
        free(p->references[i]);
    free(p->references);
    free(p->lang);
    free(p->text);
    mail_links_release(&p->links);
    for (size_t i = 0; i < p->n_att; i++) {
        free(p->att[i].name);
        free(p->att[i].type);
    }
    free(p->att);
    for (size_t i = 0; i < p->n_headers; i++) {
        free(p->headers[i].name);
        free(p->headers[i].value);
    }
    free(p->headers);
    free(p->report_type);
    free(p->dsn_text);
    free(p->dsn_orig_message_id);
    free(p);
    *pp = NULL;
}

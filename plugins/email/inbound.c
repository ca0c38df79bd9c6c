/* inbound.c — one inbound mail: classify, match to a conversation, clean, submit.
 *
 * Threading rule (docs/email.md): a reply token in a recipient address first, then
 * In-Reply-To/References against Message-IDs the core knows, else no conversation (the
 * core uses the sender's open one or opens a new one).  A token or reference only counts
 * when the sender is the conversation's seeker: a stranger quoting someone else's token or
 * thread never joins that conversation.  The subject is never used for matching. */
#include "autoreply.h"
#include "compose.h"
#include "email.h"
#include "mailparse.h"
#include "quote.h"
#include "util.h"

#include <ctype.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *mail_lang_from(const char *cl)
{
    static const struct {
        const char *prefix, *lang;
    } map[] = {{"nb", "nb"}, {"no", "nb"}, {"nn", "nn"}, {"da", "da"}, {"en", "en"}};
    while (cl && (*cl == ' ' || *cl == '\t'))
        cl++;
    for (size_t i = 0; cl && i < sizeof map / sizeof map[0]; i++)
        if (strncasecmp(cl, map[i].prefix, 2) == 0 && !isalpha((unsigned char)cl[2]))
            return map[i].lang;
    return NULL;
}

int mail_token_from_address(const struct mail_conf *cf, const char *addr, char *tok, size_t toklen)
{
    const char *at = strrchr(addr, '@');
    size_t ll = strlen(cf->local);
    if (!at || strcasecmp(at + 1, cf->domain) != 0 || (size_t)(at - addr) <= ll + 1 ||
        strncasecmp(addr, cf->local, ll) != 0 || addr[ll] != cf->sep)
        return 0;
    const char *t = addr + ll + 1;
    size_t n = (size_t)(at - t);
    if (n == 0 || n >= toklen || n >= 40)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)t[i]) && t[i] != '-' && t[i] != '_')
            return 0;
    memcpy(tok, t, n);
    tok[n] = '\0';
    return 1;
}

/* Is conv a conversation whose seeker is `sender`?  -1 unknown conv, 0 other seeker, 1 yes. */
static int conv_is_senders(struct mail_ctx *c, const char *conv, const char *sender)
{
    char addr[320];
    if (c->api->conv_info(c->h, conv, addr, sizeof addr, NULL, 0) != GW_OK)
        return -1;
    return strcasecmp(addr, sender) == 0;
}

/* Find the conversation for p (see the rule at the top).  Writes conv (40 bytes) and
 * returns how it matched: "token", "references", "stranger" (a token/ref of someone else's
 * conversation: ignored) or "none". */
static const char *match(struct mail_ctx *c, const struct mail_parsed *p, char *conv)
{
    int stranger = 0;
    conv[0] = '\0';
    for (size_t i = 0; i < p->n_rcpts; i++) {
        char tok[40];
        if (!mail_token_from_address(&c->conf, p->rcpts[i], tok, sizeof tok))
            continue;
        int r = conv_is_senders(c, tok, p->from_addr);
        if (r < 0) { /* some clients lowercase addresses; tokens are lowercase */
            mail_lower(tok);
            r = conv_is_senders(c, tok, p->from_addr);
        }
        if (r == 1) {
            snprintf(conv, 40, "%s", tok);
            return "token";
        }
        stranger |= r == 0;
    }
    /* In-Reply-To, then References newest first */
    size_t n = p->n_references + 1;
    for (size_t k = 0; k < n; k++) {
        const char *id = k == 0 ? p->in_reply_to : p->references[p->n_references - k];
        char cv[40];
        if (!id || c->api->conv_by_ref(c->h, id, cv, sizeof cv) != GW_OK)
            continue;
        int r = conv_is_senders(c, cv, p->from_addr);
        if (r == 1) {
            snprintf(conv, 40, "%s", cv);
            return "references";
        }
        stranger |= r == 0;
    }
    return stranger ? "stranger" : "none";
}

/* Cut text to at most max bytes on a UTF-8 boundary. */
static void cut_utf8(struct mail_buf *b, size_t max)
{
    if (b->len <= max)
        return;
    size_t n = max;
    while (n && (((unsigned char)b->s[n]) & 0xc0) == 0x80)
        n--;
    b->len = n;
    b->s[n] = '\0';
    mail_buf_adds(b, " […]");
}

static void human_size(char *buf, size_t len, size_t n)
{
    if (n < 1024)
        snprintf(buf, len, "%zu B", n);
    else if (n < 1024 * 1024)
        snprintf(buf, len, "%.1f kB", (double)n / 1024);
    else
        snprintf(buf, len, "%.1f MB", (double)n / (1024 * 1024));
}

/* Strip "Re: " / "SV: " prefixes for comparing subjects. */
static const char *bare_subject(const char *s)
{
    for (;;) {
        while (*s == ' ')
            s++;
        const char *colon = strchr(s, ':');
        if (!colon || colon - s > 4)
            return s;
        int word = 1;
        for (const char *q = s; q < colon; q++)
            if (!isalpha((unsigned char)*q) && *q != '[' && *q != ']' && !isdigit((unsigned char)*q))
                word = 0;
        if (!word)
            return s;
        s = colon + 1;
    }
}

/* The text the counsellor sees: subject line when it is news, the new part of the mail,
 * link footnotes, attachment list.  Returns malloc'd or NULL. */
static char *counsellor_text(struct mail_ctx *c, const struct mail_parsed *p, const char *conv,
                             const char *robot_mark)
{
    struct mail_buf b = {0};
    if (robot_mark) {
        mail_buf_adds(&b, robot_mark);
        mail_buf_addc(&b, '\n');
    }
    const char *bs = bare_subject(p->subject);
    int show_subject = *bs != '\0';
    if (show_subject && conv && *conv) {
        char *old = mail_kv_get_conv(c, "subj", conv);
        if (old && strcasecmp(bare_subject(old), bs) == 0)
            show_subject = 0;
        free(old);
    }
    if (show_subject) {
        mail_buf_adds(&b, "✉ ");
        mail_buf_adds(&b, p->subject);
        mail_buf_adds(&b, "\n\n");
    }
    char *clean = mail_quote_strip(p->text);
    if (!clean) {
        mail_buf_release(&b);
        return NULL;
    }
    /* nothing new (all quoted)?  Better the whole text than nothing */
    const char *use = *clean ? clean : p->text;
    char *with_links = mail_links_append(use, &p->links);
    free(clean);
    if (!with_links) {
        mail_buf_release(&b);
        return NULL;
    }
    struct mail_buf body = {0};
    mail_buf_adds(&body, with_links);
    free(with_links);
    size_t max = (size_t)c->conf.max_body_bytes;
    cut_utf8(&body, max > 200 ? max - 200 : max);
    mail_buf_add(&b, body.s ? body.s : "", body.len);
    mail_buf_release(&body);
    for (size_t i = 0; i < p->n_att; i++) {
        char sz[32];
        human_size(sz, sizeof sz, p->att[i].size);
        mail_buf_adds(&b, (i == 0 && b.len) ? "\n\n" : (i == 0 ? "" : "\n"));
        mail_buf_addf(&b, "📎 %s (%s, %s)", *p->att[i].name ? p->att[i].name : "—",
                      p->att[i].type, sz);
    }
    mail_buf_rtrim(&b, "\n ");
    return mail_buf_detach(&b);
}

static char *meta_json(const struct mail_parsed *p, const struct mail_auto_info *ai,
                       const char *matched)
{
    json_t *o = json_object(), *e = json_object(), *atts = json_array();
    if (!o || !e || !atts) {
        json_decref(o);
        json_decref(e);
        json_decref(atts);
        return NULL;
    }
    json_object_set_new(e, "subject", json_string(p->subject));
    if (p->message_id)
        json_object_set_new(e, "message_id", json_string(p->message_id));
    json_object_set_new(e, "matched", json_string(matched));
    for (size_t i = 0; i < p->n_att; i++)
        json_array_append_new(atts, json_pack("{s:s,s:s,s:I}", "name", p->att[i].name, "type",
                                              p->att[i].type, "size", (json_int_t)p->att[i].size));
    json_object_set_new(e, "attachments", atts);
    /* the full text as received, quotes and all, for the record (cut at 256 kB) */
    size_t tl = strlen(p->text);
    json_object_set_new(e, "original", json_stringn(p->text, tl > 262144 ? 262144 : tl));
    json_object_set_new(o, "email", e);
    if (ai->no_autoreply) {
        /* the core must never answer this automatically (loop protection) */
        json_object_set_new(o, "auto", json_true());
        json_object_set_new(o, "auto_kind", json_string(mail_sender_kind_name(ai->kind)));
        json_object_set_new(o, "auto_why", json_string(ai->why ? ai->why : ""));
    }
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

static void bounce(struct mail_ctx *c, const struct mail_parsed *p, const struct mail_auto_info *ai)
{
    char masked[128];
    const char *who = ai->failed_rcpt ? c->api->mask_address(ai->failed_rcpt, masked, sizeof masked)
                                      : "?";
    MAIL_LOG(c, GW_LOG_INFO, "bounce for %s: action %s status %s", who,
             ai->action ? ai->action : "?", ai->status ? ai->status : "?");
    if (!ai->permanent)
        return; /* "delayed": the MTA keeps trying */
    if (ai->failed_rcpt) {
        char key[400];
        snprintf(key, sizeof key, "bounced:%s", ai->failed_rcpt);
        mail_lower(key);
        c->api->kv_set(c->h, key, ai->status ? ai->status : "5.0.0");
    }
    if (p->dsn_orig_message_id) {
        char reason[300];
        snprintf(reason, sizeof reason, "%s%s%s", ai->status ? ai->status : "",
                 ai->diagnostic ? " " : "", ai->diagnostic ? ai->diagnostic : "");
        int rc = c->api->delivery_report(c->h, p->dsn_orig_message_id, GW_DLR_FAILED, reason);
        if (rc != GW_OK)
            MAIL_LOG(c, GW_LOG_INFO, "bounce refers to a mail the core does not know (%d)", rc);
    }
}

static int is_own_address(const struct mail_conf *cf, const char *addr)
{
    char tok[40];
    return strcasecmp(addr, cf->address) == 0 ||
           (cf->envelope_from && strcasecmp(addr, cf->envelope_from) == 0) ||
           mail_token_from_address(cf, addr, tok, sizeof tok);
}

enum mail_imap_verdict mail_inbound(struct mail_ctx *c, const char *raw, size_t len)
{
    struct mail_parsed *p = NULL;
    char err[160] = "";
    int rc = mail_parse(raw, len, &p, err, sizeof err);
    if (rc == GW_ENOMEM)
        return MAIL_IMAP_RETRY;
    if (rc != GW_OK) {
        MAIL_LOG(c, GW_LOG_WARN, "unreadable mail (%s): left for a human", err);
        return MAIL_IMAP_SKIP;
    }
    struct mail_auto_info ai;
    if (mail_auto_classify(p, &ai) != GW_OK) {
        mail_parsed_free(&p);
        return MAIL_IMAP_RETRY;
    }
    enum mail_imap_verdict v = MAIL_IMAP_DONE;
    char masked[128];
    c->api->mask_address(p->from_addr, masked, sizeof masked);

    if (ai.kind == MAIL_BOUNCE) {
        bounce(c, p, &ai);
        goto out;
    }
    if (*p->from_addr && is_own_address(&c->conf, p->from_addr)) {
        MAIL_LOG(c, GW_LOG_INFO, "mail from our own address ignored (loop guard)");
        goto out;
    }
    char conv[40];
    const char *matched = match(c, p, conv);
    if (ai.kind != MAIL_PERSON && !*conv && !ai.weak) {
        /* a robot with nothing to attach to: not a new conversation */
        MAIL_LOG(c, GW_LOG_INFO, "ignored %s mail (%s) from %s", mail_sender_kind_name(ai.kind),
                 ai.why ? ai.why : "", masked);
        goto out;
    }
    if (!strcmp(matched, "stranger"))
        MAIL_LOG(c, GW_LOG_INFO, "mail from %s quotes another seeker's conversation: not joined",
                 masked);
    const char *robot_mark = NULL;
    if (ai.kind != MAIL_PERSON) {
        robot_mark = mail_text(c, NULL, "email_auto_reply");
        if (!robot_mark)
            robot_mark = "🤖";
    }
    char *body = counsellor_text(c, p, conv, robot_mark);
    char *meta = meta_json(p, &ai, matched);
    /* a mail without Message-ID still needs a stable id for dedup on re-reads */
    char *msgid = p->message_id ? strdup(p->message_id) : NULL;
    if (!p->message_id) {
        gchar *sum = g_compute_checksum_for_data(G_CHECKSUM_SHA256, (const guchar *)raw, len);
        struct mail_buf b = {0};
        mail_buf_addf(&b, "<sha256.%s@skagerrak.invalid>", sum ? sum : "x");
        g_free(sum);
        msgid = mail_buf_detach(&b);
    }
    if (!body || !meta || !msgid) {
        free(body);
        free(meta);
        free(msgid);
        v = MAIL_IMAP_RETRY;
        goto out;
    }
    const char *lang = mail_lang_from(p->lang);
    struct gw_inbound in = {
        .channel_msg_id = msgid,
        .address = p->from_addr,
        .display = masked,
        .body = body,
        .lang = lang ? lang : c->conf.lang,
        .queue = c->conf.queue,
        .conv = *conv ? conv : NULL,
        .meta_json = meta,
    };
    struct gw_submitted out = {0};
    rc = c->api->submit(c->h, &in, &out, err, sizeof err);
    if (rc == GW_OK) {
        MAIL_LOG(c, GW_LOG_INFO, "mail from %s stored in %s (%s%s)", masked, out.conv, matched,
                 out.duplicate ? ", duplicate" : "");
        /* what outbound replies thread onto */
        char *refs = mail_kv_get_conv(c, "refs", out.conv);
        const char *prev = refs;
        struct mail_buf chain = {0};
        for (size_t i = 0; i < p->n_references; i++) {
            mail_buf_adds(&chain, i ? " " : "");
            mail_buf_adds(&chain, p->references[i]);
        }
        if (p->n_references)
            prev = chain.s;
        char *nrefs = mail_references_add(prev, msgid, 20);
        if (nrefs)
            mail_kv_set_conv(c, "refs", out.conv, nrefs);
        free(nrefs);
        free(refs);
        mail_buf_release(&chain);
        if (*bare_subject(p->subject))
            mail_kv_set_conv(c, "subj", out.conv, p->subject);
        mail_kv_set_conv(c, "robot", out.conv, ai.kind != MAIL_PERSON ? "1" : "0");
        if (ai.kind == MAIL_PERSON) {
            char key[400];
            snprintf(key, sizeof key, "bounced:%s", p->from_addr);
            mail_lower(key);
            char *b = c->api->kv_get(c->h, key);
            if (b && *b)
                c->api->kv_set(c->h, key, ""); /* they wrote: the address works again */
            free(b);
            if (p->n_att && c->conf.attachments_note && !ai.no_autoreply && !out.duplicate)
                mail_out_notice(c, out.conv, p->from_addr, in.lang, "attachment_not_accepted");
        }
    } else if (rc == GW_EPERM) {
        MAIL_LOG(c, GW_LOG_INFO, "mail from %s refused: %s", masked, err);
    } else if (rc == GW_ELIMIT || rc == GW_EINVAL) {
        MAIL_LOG(c, GW_LOG_WARN, "mail from %s not stored (%s): left for a human", masked, err);
        v = MAIL_IMAP_SKIP;
    } else {
        MAIL_LOG(c, GW_LOG_WARN, "mail from %s not stored yet (%s): will retry", masked, err);
        v = MAIL_IMAP_RETRY;
    }
    free(body);
    free(meta);
    free(msgid);
out:
    mail_auto_info_release(&ai);
    mail_parsed_free(&p);
    return v;
}

/* outbound.c — deliver(): batching counsellor lines into one mail, automatic-text limits,
 * transcripts, and the SMTP hand-off that ends in api->deliver_done(). */
#include "compose.h"
#include "email.h"
#include "smtp.h"
#include "util.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *mail_text(struct mail_ctx *c, const char *lang, const char *key)
{
    const char *t = c->api->text(c->h, lang ? lang : c->conf.lang, key);
    if (!t || !*t || strcmp(t, key) == 0)
        return NULL;
    return t;
}

int mail_kv_set_conv(struct mail_ctx *c, const char *what, const char *conv, const char *value)
{
    char key[128];
    snprintf(key, sizeof key, "%s:%s", what, conv);
    return c->api->kv_set(c->h, key, value);
}

char *mail_kv_get_conv(struct mail_ctx *c, const char *what, const char *conv)
{
    char key[128];
    snprintf(key, sizeof key, "%s:%s", what, conv);
    return c->api->kv_get(c->h, key);
}

static int plain_address(const char *a)
{
    const char *at = a ? strchr(a, '@') : NULL;
    return at && at != a && at[1] && !strpbrk(a, " \t\r\n<>,;\"()") && strlen(a) < 320;
}

static int64_t kv_ms(struct mail_ctx *c, const char *key)
{
    char *v = c->api->kv_get(c->h, key);
    int64_t ms = v ? strtoll(v, NULL, 10) : 0;
    free(v);
    return ms;
}

static void kv_set_ms(struct mail_ctx *c, const char *key, int64_t ms)
{
    char v[32];
    snprintf(v, sizeof v, "%" PRId64, ms);
    c->api->kv_set(c->h, key, v);
}

/* One composed mail on its way: which outbox items it carries. */
struct sending {
    struct mail_ctx *c;
    char *msgid;
    int64_t *ids;
    size_t nids;
    char auto_key[400]; /* kv key to stamp when an automatic mail went out, or "" */
};

static void sending_free(struct sending *s)
{
    free(s->msgid);
    free(s->ids);
    free(s);
}

static void on_sent(void *arg, int status, const char *reason)
{
    struct sending *s = arg;
    struct mail_ctx *c = s->c;
    if (status == GW_OK) {
        c->sent++;
        if (s->auto_key[0])
            kv_set_ms(c, s->auto_key, c->api->now_ms(c->h));
    } else {
        c->failed++;
        MAIL_LOG(c, GW_LOG_WARN, "sending %s failed: %s", s->msgid, reason);
    }
    for (size_t i = 0; i < s->nids; i++)
        c->api->deliver_done(c->h, s->ids[i], status, status == GW_OK ? s->msgid : NULL,
                             status == GW_OK ? NULL : reason);
    /* The SMTP server's 250 for this mail is the last confirmation mail gives (nothing
     * reports a mail read), so it counts as delivered: the counsellor's receipt.  A bounce
     * later still reaches the counsellor as a failure (inbound.c, the core's report). */
    if (status == GW_OK)
        c->api->delivery_report(c->h, s->msgid, GW_DLR_DELIVERED, NULL);
    sending_free(s);
}

/* Compose and send.  Takes nothing; on GW_OK the ids get deliver_done() later. */
static int send_mail(struct mail_ctx *c, const struct mail_out *o, const int64_t *ids, size_t nids,
                     const char *auto_key, char *err, size_t errlen)
{
    struct sending *s = calloc(1, sizeof *s);
    if (!s || !(s->ids = calloc(nids ? nids : 1, sizeof *s->ids))) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return GW_EAGAIN;
    }
    s->c = c;
    memcpy(s->ids, ids, nids * sizeof *ids);
    s->nids = nids;
    if (auto_key)
        snprintf(s->auto_key, sizeof s->auto_key, "%s", auto_key);
    size_t len;
    char *raw = mail_compose(o, &len, &s->msgid, err, errlen);
    if (!raw) {
        sending_free(s);
        return GW_EPERM;
    }
    MAIL_LOG(c, GW_LOG_DEBUG, "sending %s (%zu bytes, %zu items)", s->msgid, len, nids);
    int rc = mail_smtp_send(&c->xs, &c->conf.smtp, c->conf.envelope_from, o->to, raw, len,
                            on_sent, s);
    if (rc != GW_OK) {
        sending_free(s);
        snprintf(err, errlen, "cannot start SMTP transfer");
        return GW_EAGAIN;
    }
    return GW_OK;
}

static void reply_to(struct mail_ctx *c, const char *conv, char *buf, size_t len)
{
    snprintf(buf, len, "%s%c%s@%s", c->conf.local, c->conf.sep, conv, c->conf.domain);
}

/* ---- batches ---------------------------------------------------------------------------- */

static void batch_free(struct mail_batch *b)
{
    struct mail_item *it;
    while ((it = TAILQ_FIRST(&b->items))) {
        TAILQ_REMOVE(&b->items, it, link);
        free(it->body);
        free(it);
    }
    free(b->address);
    free(b->lang);
    free(b->reply_ref);
    free(b);
}

static void flush(struct mail_batch *b)
{
    struct mail_ctx *c = b->ctx;
    TAILQ_REMOVE(&c->batches, b, link);
    b->timer = 0;
    size_t n = 0;
    struct mail_item *it;
    struct mail_buf body = {0};
    TAILQ_FOREACH(it, &b->items, link) {
        if (n++)
            mail_buf_adds(&body, "\n\n");
        mail_buf_adds(&body, it->body);
    }
    mail_buf_addc(&body, '\n');
    int64_t *ids = calloc(n ? n : 1, sizeof *ids);
    size_t k = 0;
    TAILQ_FOREACH(it, &b->items, link) {
        if (ids)
            ids[k++] = it->id;
    }
    char *subj = mail_kv_get_conv(c, "subj", b->conv);
    char *refs = mail_kv_get_conv(c, "refs", b->conv);
    const char *fallback = mail_text(c, b->lang, "email_subject");
    char *subject = mail_reply_subject(subj, fallback ? fallback : c->conf.from_name);
    char rt[400];
    reply_to(c, b->conv, rt, sizeof rt);
    char *nrefs = b->reply_ref ? mail_references_add(refs, b->reply_ref, 20) : NULL;
    /* no reply_ref from the core: answer the newest mail we know of */
    const char *irt = b->reply_ref ? b->reply_ref : (refs ? strrchr(refs, '<') : NULL);
    struct mail_out o = {
        .from_addr = c->conf.address,
        .from_name = c->conf.from_name,
        .reply_to = rt,
        .to = b->address,
        .subject = subject,
        .in_reply_to = irt,
        .references = nrefs ? nrefs : (refs && *refs ? refs : NULL),
        .body = body.s ? body.s : "",
        .lang = b->lang,
        .auto_submitted = b->has_text ? NULL : "auto-replied",
        .date_ms = c->api->now_ms(c->h),
    };
    char auto_key[128];
    snprintf(auto_key, sizeof auto_key, "auto:%s", b->conv);
    char err[200] = "";
    int rc = (!ids || body.oom || !subject) ? GW_EAGAIN
                                            : send_mail(c, &o, ids, n, b->has_text ? NULL : auto_key,
                                                        err, sizeof err);
    if (rc != GW_OK) {
        MAIL_LOG(c, GW_LOG_WARN, "mail for %s not sent: %s", b->conv, err[0] ? err : "no memory");
        TAILQ_FOREACH(it, &b->items, link)
            c->api->deliver_done(c->h, it->id, rc, NULL, err[0] ? err : "out of memory");
    }
    free(ids);
    free(subj);
    free(refs);
    free(subject);
    free(nrefs);
    mail_buf_release(&body);
    batch_free(b);
}

static void on_batch_timer(void *arg)
{
    struct mail_batch *b = arg;
    b->timer = 0;
    flush(b);
}

static void arm(struct mail_batch *b, int64_t now)
{
    struct mail_ctx *c = b->ctx;
    if (b->timer)
        c->api->timer_cancel(c->h, b->timer);
    int64_t wait = b->due_ms > now ? b->due_ms - now : 0;
    b->timer = c->api->timer_add(c->h, (uint64_t)wait, on_batch_timer, b);
}

static struct mail_batch *batch_for(struct mail_ctx *c, const struct gw_msg *m)
{
    struct mail_batch *b;
    TAILQ_FOREACH(b, &c->batches, link) {
        if (!strcmp(b->conv, m->conv) && !strcasecmp(b->address, m->address))
            return b;
    }
    return NULL;
}

static int add_to_batch(struct mail_ctx *c, const struct gw_msg *m, char *err, size_t errlen)
{
    int64_t now = c->api->now_ms(c->h);
    struct mail_batch *b;
    TAILQ_FOREACH(b, &c->batches, link) { /* already waiting (a retry): nothing to add */
        struct mail_item *it;
        TAILQ_FOREACH(it, &b->items, link)
            if (it->id == m->id)
                return GW_PENDING;
    }
    b = batch_for(c, m);
    if (!b) {
        b = calloc(1, sizeof *b);
        if (!b || !(b->address = strdup(m->address))) {
            free(b);
            snprintf(err, errlen, "out of memory");
            return GW_EAGAIN;
        }
        b->ctx = c;
        snprintf(b->conv, sizeof b->conv, "%s", m->conv);
        TAILQ_INIT(&b->items);
        b->first_ms = now;
        b->due_ms = 0;
        TAILQ_INSERT_TAIL(&c->batches, b, link);
    }
    struct mail_item *it = calloc(1, sizeof *it);
    if (!it || !(it->body = strdup(m->body ? m->body : ""))) {
        free(it);
        if (TAILQ_EMPTY(&b->items)) {
            TAILQ_REMOVE(&c->batches, b, link);
            batch_free(b);
        }
        snprintf(err, errlen, "out of memory");
        return GW_EAGAIN;
    }
    it->id = m->id;
    it->kind = m->kind;
    TAILQ_INSERT_TAIL(&b->items, it, link);
    /* the newest item decides the language and what the mail replies to */
    if (m->lang) {
        free(b->lang);
        b->lang = strdup(m->lang);
    }
    if (m->reply_ref) {
        free(b->reply_ref);
        b->reply_ref = strdup(m->reply_ref);
    }
    if (m->kind == GW_MSG_TEXT)
        b->has_text = 1;
    int64_t w = (m->kind == GW_MSG_TEXT ? c->conf.batch_window_s : c->conf.auto_window_s) * 1000;
    int64_t due = now + w;
    if (due < b->due_ms)
        due = b->due_ms;
    if (due > b->first_ms + c->conf.batch_max_s * 1000)
        due = b->first_ms + c->conf.batch_max_s * 1000;
    b->due_ms = due;
    arm(b, now);
    return GW_PENDING;
}

void mail_out_release(struct mail_ctx *c)
{
    struct mail_batch *b;
    while ((b = TAILQ_FIRST(&c->batches))) {
        TAILQ_REMOVE(&c->batches, b, link);
        if (b->timer)
            c->api->timer_cancel(c->h, b->timer);
        batch_free(b); /* not done: the core's outbox delivers them again after a restart */
    }
}

/* ---- transcripts and notices ------------------------------------------------------------ */

static int transcript(struct mail_ctx *c, const struct gw_msg *m, char *err, size_t errlen)
{
    const char *to = m->address;
    json_t *meta = m->meta_json ? json_loads(m->meta_json, 0, NULL) : NULL;
    json_t *jt = meta ? json_object_get(meta, "to") : NULL;
    if (json_is_string(jt))
        to = json_string_value(jt);
    if (!plain_address(to)) {
        json_decref(meta);
        snprintf(err, errlen, "not an email address");
        return GW_EPERM;
    }
    const char *subj = mail_text(c, m->lang, "email_transcript_subject");
    char *subject = NULL;
    if (!subj) {
        const char *hdr = mail_text(c, m->lang, "transcript_header");
        time_t t = (time_t)(c->api->now_ms(c->h) / 1000);
        struct tm tm;
        char date[16];
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%Y-%m-%d", &tm);
        subject = mail_subst(hdr ? hdr : "{date}", "date", date);
    }
    struct mail_out o = {
        .from_addr = c->conf.address,
        .from_name = c->conf.from_name,
        .to = to,
        .subject = subj ? subj : subject,
        .body = m->body ? m->body : "",
        .lang = m->lang,
        .auto_submitted = "auto-generated",
        .date_ms = c->api->now_ms(c->h),
    };
    int rc = send_mail(c, &o, &m->id, 1, NULL, err, errlen);
    json_decref(meta);
    free(subject);
    return rc == GW_OK ? GW_PENDING : rc;
}

static void on_notice_sent(void *arg, int status, const char *reason)
{
    struct sending *s = arg;
    if (status != GW_OK)
        MAIL_LOG(s->c, GW_LOG_WARN, "notice not sent: %s", reason);
    else if (s->auto_key[0])
        kv_set_ms(s->c, s->auto_key, s->c->api->now_ms(s->c->h));
    sending_free(s);
}

void mail_out_notice(struct mail_ctx *c, const char *conv, const char *to, const char *lang,
                     const char *key)
{
    const char *text = mail_text(c, lang, key);
    if (!text || !plain_address(to))
        return;
    char kvkey[400];
    snprintf(kvkey, sizeof kvkey, "notice:%s:%s", key, to);
    int64_t now = c->api->now_ms(c->h), last = kv_ms(c, kvkey);
    if (last && now - last < c->conf.auto_interval_h * 3600 * 1000)
        return;
    char rt[400];
    reply_to(c, conv, rt, sizeof rt);
    char *subj = mail_kv_get_conv(c, "subj", conv);
    char *subject = mail_reply_subject(subj, c->conf.from_name);
    char *refs = mail_kv_get_conv(c, "refs", conv);
    const char *last_ref = refs ? strrchr(refs, '<') : NULL;
    struct mail_out o = {
        .from_addr = c->conf.address,
        .from_name = c->conf.from_name,
        .reply_to = rt,
        .to = to,
        .subject = subject,
        .in_reply_to = last_ref,
        .references = refs,
        .body = text,
        .lang = lang,
        .auto_submitted = "auto-replied",
        .date_ms = now,
    };
    struct sending *s = calloc(1, sizeof *s);
    char err[160];
    size_t len;
    char *raw = s ? mail_compose(&o, &len, &s->msgid, err, sizeof err) : NULL;
    if (raw) {
        s->c = c;
        snprintf(s->auto_key, sizeof s->auto_key, "%s", kvkey);
        if (mail_smtp_send(&c->xs, &c->conf.smtp, c->conf.envelope_from, to, raw, len,
                           on_notice_sent, s) != GW_OK)
            sending_free(s);
    } else if (s) {
        sending_free(s);
    }
    free(subj);
    free(subject);
    free(refs);
}

/* ---- deliver ---------------------------------------------------------------------------- */

int mail_out_deliver(struct mail_ctx *c, const struct gw_msg *m, char *err, size_t errlen)
{
    if (m->kind == GW_MSG_TYPING)
        return GW_OK; /* mail has no typing notifications */
    if (m->kind == GW_MSG_TRANSCRIPT)
        return transcript(c, m, err, errlen);
    if (!m->conv || !*m->conv || strlen(m->conv) >= 40) {
        snprintf(err, errlen, "no conversation token");
        return GW_EPERM;
    }
    if (!plain_address(m->address)) {
        snprintf(err, errlen, "not an email address");
        return GW_EPERM;
    }
    char key[400];
    snprintf(key, sizeof key, "bounced:%s", m->address);
    mail_lower(key);
    char *bounced = c->api->kv_get(c->h, key);
    if (bounced && *bounced) {
        snprintf(err, errlen, "the address bounced earlier (%s)", bounced);
        free(bounced);
        return GW_EPERM;
    }
    free(bounced);
    if (m->kind == GW_MSG_AUTO && !batch_for(c, m)) {
        /* RFC 3834: never answer a robot automatically; and at most one automatic mail per
         * conversation per auto_interval_h.  Suppressed texts count as done. */
        char *robot = mail_kv_get_conv(c, "robot", m->conv);
        int is_robot = robot && !strcmp(robot, "1");
        free(robot);
        snprintf(key, sizeof key, "auto:%s", m->conv);
        int64_t now = c->api->now_ms(c->h), last = kv_ms(c, key);
        if (is_robot || (last && now - last < c->conf.auto_interval_h * 3600 * 1000)) {
            MAIL_LOG(c, GW_LOG_DEBUG, "automatic text %" PRId64 " for %s not mailed (%s)", m->id,
                     m->conv, is_robot ? "last mail came from a robot" : "sent one recently");
            return GW_OK;
        }
    }
    return add_to_batch(c, m, err, errlen);
}

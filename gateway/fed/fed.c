/* fed.c — federation: the gateway-to-gateway protocol (urn:skagerrak:fed:1).
 *
 * The home gateway keeps the seeker's channel; a serving gateway gives its counsellor an
 * ordinary conversation JID and relays both ways.  Every exchange is an IQ so the partner
 * confirms it end to end (over s2s, our own server's ack is not enough): relays ride the
 * durable outbox as the pseudo-channel "fed" and stay there until the partner's result.
 * The home gateway alone assigns its seekers, so a seeker is never given to two
 * counsellors on two gateways.  Wire format: docs/federation.md. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/calendar.h"
#include "conf/i18n.h"
#include "desk/core.h"
#include "fed/fed.h"
#include "fed/fed_int.h"
#include "io/log.h"
#include "io/loop.h"
#include "io/xmpp.h"

#define FED_TIMEOUT_MS 30000

struct gw_fed {
    struct pend *pending;
    uint64_t seq;
    int deferred; /* some relay is waiting to be retried (a partner was unreachable) */
};

/* A partner that was unreachable spoke again: resend what waits for it now, instead of
 * after the backoff (or the 30 s answer timeout of requests lost during the outage).
 * Relays are idempotent: the partner deduplicates them by id. */
static void partner_back(struct gw_core *c, const char *domain)
{
    c->fed->deferred = 0;
    for (struct pend **pp = &c->fed->pending; *pp;) {
        struct pend *p = *pp;
        if (p->kind == P_RELAY && !strcmp(p->partner, domain)) {
            *pp = p->next;
            gw_outbox_channel_done(c, p->msg_id, GW_EAGAIN, NULL, "resent: partner is back");
            if (p->timer)
                gw_loop_timer_cancel(c->loop, p->timer);
            free(p);
            continue;
        }
        pp = &p->next;
    }
    gw_store_outbox_wake_target(c->store, GW_FED_CHANNEL);
    gw_outbox_rescan(c);
    GW_INFO("federation: %s answers again; resending what waited for it", domain);
}

void gw_fed_i_defer(struct gw_core *c)
{
    c->fed->deferred = 1;
}

/* What the desk calls of federation (desk/core.h struct gw_fed_ops). */
static const struct gw_fed_ops fed_ops = {
    .iq = gw_fed_iq,
    .cmd_escalate = gw_fed_cmd_escalate,
    .cmd_queue = gw_fed_cmd_queue,
    .cmd_take = gw_fed_cmd_take,
    .consent_answer = gw_fed_consent_answer,
    .overflow_due = gw_fed_overflow_due,
    .overflow_check = gw_fed_overflow_check,
};

int gw_fed_init(struct gw_core *c)
{
    c->fed_ops = &fed_ops;
    c->fed = calloc(1, sizeof *c->fed);
    return c->fed ? GW_OK : GW_ENOMEM;
}

static void pend_free(struct gw_core *c, struct pend *p)
{
    if (p->timer)
        gw_loop_timer_cancel(c->loop, p->timer);
    free(p);
}

void gw_fed_release(struct gw_core *c)
{
    if (!c->fed)
        return;
    struct pend *p;
    while ((p = c->fed->pending)) {
        c->fed->pending = p->next;
        pend_free(c, p);
    }
    free(c->fed);
    c->fed = NULL;
}

xmpp_stanza_t *gw_fed_i_el(xmpp_ctx_t *ctx, const char *name, const char *ns)
{
    xmpp_stanza_t *e = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(e, name);
    if (ns)
        xmpp_stanza_set_ns(e, ns);
    return e;
}

void gw_fed_i_add_text(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *text)
{
    xmpp_stanza_t *e = gw_fed_i_el(ctx, name, NULL), *t = xmpp_stanza_new(ctx);
    xmpp_stanza_set_text(t, text ? text : "");
    xmpp_stanza_add_child_ex(e, t, 0);
    xmpp_stanza_add_child_ex(parent, e, 0);
}

char *gw_fed_i_child_text(xmpp_stanza_t *st, const char *name)
{
    xmpp_stanza_t *e = xmpp_stanza_get_child_by_name(st, name);
    return e ? xmpp_stanza_get_text(e) : NULL;
}

const char *gw_fed_i_text(struct gw_core *c, const char *jid, const char *key)
{
    return gw_i18n_text(c->i18n, gw_counsellor_lang(c, jid), key);
}

void gw_fed_i_tell_counsellor(struct gw_core *c, const char *to_full, const char *text)
{
    if (to_full && *to_full)
        gw_router_chat(c, NULL, to_full, text, NULL, 0);
}

void gw_fed_i_bare_of(const char *full, char *bare, size_t len)
{
    const char *slash = full ? strchr(full, '/') : NULL;
    snprintf(bare, len, "%.*s", slash ? (int)(slash - full) : (int)strlen(full ? full : ""),
             full ? full : "");
}

/* The display name that may cross: never a phone number or an e-mail address, whatever
 * the channel put in it (an SMS plugin with mask_numbers = false shows the full number). */
const char *gw_fed_i_cross_display(const char *display, char *buf, size_t len)
{
    const char *d = display ? display : "";
    const char *at = strchr(d, '@');
    size_t digits = 0, n = strlen(d);
    for (const char *q = d; *q; q++)
        digits += (*q >= '0' && *q <= '9');
    if (at) { /* "k···": no domain */
        int ascii = (unsigned char)d[0] < 0x80 && d[0] != '@';
        snprintf(buf, len, "%.*s\u00b7\u00b7\u00b7", ascii, d);
    } else if (digits >= 5 && n >= 4) {
        size_t from = n - 4;
        while (d[from] && ((unsigned char)d[from] & 0xC0) == 0x80)
            from++; /* not inside a UTF-8 sequence */
        snprintf(buf, len, "\u00b7\u00b7%s", d + from);
    } else
        snprintf(buf, len, "%s", d);
    return buf;
}

/* The defined condition of an IQ error, or NULL. */
static const char *error_condition(xmpp_stanza_t *iq)
{
    xmpp_stanza_t *e = iq ? xmpp_stanza_get_child_by_name(iq, "error") : NULL;
    for (xmpp_stanza_t *k = e ? xmpp_stanza_get_children(e) : NULL; k;
         k = xmpp_stanza_get_next(k)) {
        const char *ns = xmpp_stanza_get_ns(k);
        if (xmpp_stanza_is_tag(k) && ns && !strcmp(ns, "urn:ietf:params:xml:ns:xmpp-stanzas") &&
            strcmp(xmpp_stanza_get_name(k), "text"))
            return xmpp_stanza_get_name(k);
    }
    return NULL;
}

static void pend_expired(void *arg);

/* Send an IQ set/get to a partner gateway and remember what it was for. */
struct pend *gw_fed_i_send_iq(struct gw_core *c, const char *type, const char *partner,
                              xmpp_stanza_t *payload, enum pend_kind kind)
{
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    struct pend *p = calloc(1, sizeof *p);
    if (!p) {
        xmpp_stanza_release(payload);
        return NULL;
    }
    p->c = c;
    p->kind = kind;
    snprintf(p->partner, sizeof p->partner, "%s", partner);
    snprintf(p->id, sizeof p->id, "fed-%llu", (unsigned long long)++c->fed->seq);
    xmpp_stanza_t *iq = xmpp_iq_new(ctx, type, p->id);
    xmpp_stanza_set_to(iq, partner);
    xmpp_stanza_set_from(iq, c->cfg->domain);
    xmpp_stanza_add_child_ex(iq, payload, 0);
    int rc = gw_xmpp_send(c->xmpp, iq);
    xmpp_stanza_release(iq);
    if (rc < 0) {
        free(p);
        return NULL;
    }
    p->timer = gw_loop_timer_add(c->loop, FED_TIMEOUT_MS, pend_expired, p);
    p->next = c->fed->pending;
    c->fed->pending = p;
    return p;
}

static struct pend *pend_take(struct gw_core *c, const char *id)
{
    for (struct pend **pp = &c->fed->pending; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->id, id)) {
            struct pend *p = *pp;
            *pp = p->next;
            return p;
        }
    return NULL;
}

/* --- escalation (home side) --- */

static const struct gw_partner_conf *find_partner(struct gw_core *c, const char *name)
{
    if (!name)
        return NULL;
    const struct gw_partner_conf *p = gw_config_partner(c->cfg, name);
    for (int i = 0; !p && i < c->cfg->npartners; i++)
        if (!strcasecmp(c->cfg->partners[i].name, name))
            p = &c->cfg->partners[i];
    return p;
}

/* Only the fields the agreement lets cross. */
char *gw_fed_i_allowed_fields(const struct gw_partner_conf *pc, const char *meta)
{
    json_t *in = meta && *meta ? json_loads(meta, 0, NULL) : NULL, *out = json_object();
    json_t *fields = in ? json_object_get(in, "fields") : NULL;
    if (!json_is_object(fields))
        fields = in;
    for (int i = 0; pc && json_is_object(fields) && i < pc->nfields; i++) {
        json_t *v = json_object_get(fields, pc->fields[i]);
        if (v)
            json_object_set(out, pc->fields[i], v);
    }
    char *s = json_dumps(out, JSON_COMPACT);
    json_decref(in);
    json_decref(out);
    return s;
}

struct tx_ctx {
    char *buf;
    size_t len, cap;
};

static int tx_line(void *arg, const struct gw_msg_row *m)
{
    struct tx_ctx *t = arg;
    const char *who = !strcmp(m->dir, "in")    ? "seeker"
                      : !strcmp(m->dir, "out") ? "counsellor"
                                               : "service";
    size_t need = strlen(m->body ? m->body : "") + 32;
    if (t->len + need >= t->cap) {
        size_t ncap = (t->cap + need) * 2;
        char *nb = realloc(t->buf, ncap);
        if (!nb)
            return 1;
        t->buf = nb;
        t->cap = ncap;
    }
    t->len +=
        (size_t)snprintf(t->buf + t->len, t->cap - t->len, "%s: %s\n", who, m->body ? m->body : "");
    return 0;
}

void gw_fed_i_escalate_now(struct gw_core *c, struct gw_conv *cv, const struct gw_partner_conf *pc,
                           const char *note, int transcript, const char *requester, int overflow)
{
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    xmpp_stanza_t *e = gw_fed_i_el(ctx, "escalate", GW_NS_FED);
    xmpp_stanza_set_attribute(e, "conv", cv->row.token);
    xmpp_stanza_set_attribute(e, "lang", cv->row.lang);
    xmpp_stanza_set_attribute(e, "channel", cv->channel);
    if (overflow)
        xmpp_stanza_set_attribute(e, "reason", "overflow");
    char dbuf[96];
    gw_fed_i_add_text(ctx, e, "display", gw_fed_i_cross_display(cv->display, dbuf, sizeof dbuf));
    if (note && *note)
        gw_fed_i_add_text(ctx, e, "note", note);
    char *fields = gw_fed_i_allowed_fields(pc, cv->row.meta);
    if (fields && strcmp(fields, "{}"))
        gw_fed_i_add_text(ctx, e, "fields", fields);
    free(fields);
    if (transcript && pc->send_transcript) {
        struct tx_ctx t = {NULL, 0, 0};
        gw_store_msg_each(c->store, cv->row.id, 0, "in,out", tx_line, &t);
        if (t.buf) {
            xmpp_stanza_t *tr = gw_fed_i_el(ctx, "transcript", NULL), *tt = xmpp_stanza_new(ctx);
            xmpp_stanza_set_attribute(tr, "consent", "yes");
            char *safe = gw_xml_safe(t.buf, 1 << 20);
            xmpp_stanza_set_text(tt, safe ? safe : "");
            free(safe);
            xmpp_stanza_add_child_ex(tr, tt, 0);
            xmpp_stanza_add_child_ex(e, tr, 0);
            free(t.buf);
            /* The read audit, on the sending side: the partner receives the transcript (the
             * partner's own reads are theirs to audit). */
            char who[300], detail[400];
            snprintf(who, sizeof who, "partner %s", pc->domain);
            snprintf(detail, sizeof detail, "escalation%s%s", requester && *requester ? " by " : "",
                     requester ? requester : "");
            gw_audit(c, who, cv->row.id, "transcript-partner", detail, "the seeker consented");
        }
    }
    struct pend *p = gw_fed_i_send_iq(c, "set", pc->domain, e, P_ESCALATE);
    if (!p) {
        gw_fed_i_tell_counsellor(c, requester, gw_fed_i_text(c, requester, "partner_unreachable"));
        return;
    }
    cv->fed_busy = 1;
    snprintf(p->conv, sizeof p->conv, "%s", cv->row.token);
    snprintf(p->requester, sizeof p->requester, "%s", requester ? requester : "");
    p->overflow = overflow;
    gw_store_event(c->store, cv->row.id, gw_now_ms(c), "escalate-sent", requester, pc->domain);
}

void gw_fed_cmd_escalate(struct gw_core *c, const char *from_full, struct gw_conv *cv,
                         const char *args)
{
    char bare[256];
    gw_fed_i_bare_of(from_full, bare, sizeof bare);
    if (!cv || cv->state != CS_ACTIVE || strcmp(cv->row.counsellor, bare) || cv->row.role) {
        gw_fed_i_tell_counsellor(c, from_full, gw_fed_i_text(c, bare, "not_your_conversation"));
        return;
    }
    char name[256] = "";
    const char *note = NULL;
    if (args) {
        size_t n = strcspn(args, " ");
        snprintf(name, sizeof name, "%.*s", (int)n, args);
        note = args[n] ? args + n + 1 : NULL;
    }
    const struct gw_partner_conf *pc = find_partner(c, name);
    if (!pc) {
        char known[1024] = "", text[1400];
        size_t off = 0;
        for (int i = 0; i < c->cfg->npartners && off < sizeof known; i++)
            off += (size_t)snprintf(known + off, sizeof known - off, "%s%s (%s)", i ? ", " : "",
                                    c->cfg->partners[i].domain, c->cfg->partners[i].name);
        const char *v[] = {"target", name, "known", known, NULL};
        gw_i18n_format(c->i18n, gw_counsellor_lang(c, bare), "transfer_unknown_target", text,
                       sizeof text, v);
        gw_fed_i_tell_counsellor(c, from_full, text);
        return;
    }
    if (pc->send_transcript) {
        /* The transcript may cross only with the seeker's consent: ask on their channel. */
        free(cv->esc_partner);
        free(cv->esc_note);
        free(cv->esc_requester);
        cv->esc_partner = strdup(pc->domain);
        cv->esc_note = note ? strdup(note) : NULL;
        cv->esc_requester = strdup(from_full);
        gw_conv_tell(c, cv, "consent_question", NULL, "{\"type\":\"consent_question\"}");
        gw_fed_i_tell_counsellor(c, from_full, gw_fed_i_text(c, bare, "consent_waiting"));
        return;
    }
    gw_fed_i_escalate_now(c, cv, pc, note, 0, from_full, 0);
}

static int word_in(const char *body, const char *const *words)
{
    char w[32];
    size_t n = 0;
    for (const char *p = body; *p && n + 1 < sizeof w; p++)
        if (*p != '.' && *p != '!' && *p != ' ' && *p != '\n')
            w[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        else if (n)
            break;
    w[n] = 0;
    for (int i = 0; words[i]; i++)
        if (!strcmp(w, words[i]))
            return 1;
    return 0;
}

int gw_fed_consent_answer(struct gw_core *c, struct gw_conv *cv, const char *body)
{
    static const char *const yes[] = {"ja", "yes", "jo", "ok", "okay", "gjerne", "gerne", NULL};
    static const char *const no[] = {"nei", "nej", "no", NULL};
    if (!cv->esc_partner)
        return 0;
    int y = word_in(body, yes), n = !y && word_in(body, no);
    if (!y && !n) {
        gw_conv_tell(c, cv, "consent_answer_hint", NULL, "{\"type\":\"consent_question\"}");
        return 0;
    }
    /* The answer is stored with its time (events.at) before anything crosses. */
    gw_store_event(c->store, cv->row.id, gw_now_ms(c), "consent", "seeker", y ? "yes" : "no");
    gw_conv_tell(c, cv, y ? "consent_yes_ack" : "consent_no_ack", NULL, "{\"type\":\"consent\"}");
    const struct gw_partner_conf *pc = find_partner(c, cv->esc_partner);
    char *req = cv->esc_requester, *note = cv->esc_note;
    free(cv->esc_partner);
    cv->esc_partner = NULL;
    cv->esc_requester = NULL;
    cv->esc_note = NULL;
    if (pc)
        gw_fed_i_escalate_now(c, cv, pc, note, y, req, 0);
    free(req);
    free(note);
    return 1;
}

/* The partner took the conversation: it is now served there, relayed from here. */
void gw_fed_i_served_by_partner(struct gw_core *c, struct gw_conv *cv, const char *partner,
                                const char *their_conv, const char *requester)
{
    const struct gw_partner_conf *pc = gw_config_partner(c->cfg, partner);
    gw_queue_remove(c, cv);
    cv->state = CS_ACTIVE;
    cv->row.role = 1;
    cv->fed_busy = 0;
    cv->row.counsellor[0] = 0;
    snprintf(cv->row.partner, sizeof cv->row.partner, "%s", partner);
    snprintf(cv->row.partner_ref, sizeof cv->row.partner_ref, "%s", their_conv);
    if (!cv->row.assigned_at)
        cv->row.assigned_at = gw_now_ms(c);
    gw_conv_save(c, cv);
    gw_store_event(c->store, cv->row.id, gw_now_ms(c), "escalated", requester, partner);
    const char *v[] = {"partner", pc ? pc->name : partner, NULL};
    gw_conv_tell(c, cv, "escalated_to_partner", v, "{\"type\":\"escalated\"}");
    if (requester && *requester) {
        char bare[256], text[600];
        gw_fed_i_bare_of(requester, bare, sizeof bare);
        gw_i18n_format(c->i18n, gw_counsellor_lang(c, bare), "escalated_ok", text, sizeof text, v);
        gw_fed_i_tell_counsellor(c, requester, text);
    }
    gw_queue_dispatch(c, cv->row.queue);
}

/* --- relays --- */

int gw_fed_deliver(struct gw_core *c, const struct gw_msg *m, char *err, size_t errlen)
{
    struct gw_conv_row row;
    if (m->kind == GW_MSG_TYPING)
        return GW_OK; /* typing is not relayed in protocol version 1 */
    if (gw_fed_i_is_erase(m))
        return gw_fed_i_erase_deliver(c, m, err, errlen);
    if (gw_store_conv_by_token(c->store, m->conv, &row) < 0 || !row.partner[0]) {
        snprintf(err, errlen, "not a federated conversation");
        return GW_EPERM;
    }
    if (!gw_xmpp_online(c->xmpp)) {
        snprintf(err, errlen, "XMPP link down");
        return GW_EAGAIN;
    }
    static const char *const kinds[] = {"text", "auto", "typing", "closed", "transcript"};
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    xmpp_stanza_t *r = gw_fed_i_el(ctx, "relay", GW_NS_FED);
    /* conv: the receiver's conversation, when known (after a take the home gateway does not
     * know the serving gateway's id until its first relay); from-conv: ours, always. */
    if (row.partner_ref[0])
        xmpp_stanza_set_attribute(r, "conv", row.partner_ref);
    xmpp_stanza_set_attribute(r, "from-conv", row.token);
    xmpp_stanza_set_attribute(r, "kind", kinds[m->kind]);
    char idb[32];
    snprintf(idb, sizeof idb, "%lld", (long long)m->id);
    xmpp_stanza_set_attribute(r, "id", idb);
    /* role 1: a seeker's message from here to the serving gateway; role 2: the counsellor's
     * (or an automatic text) back to the home gateway. */
    xmpp_stanza_set_attribute(r, "dir", row.role == 1 ? "in" : "out");
    gw_fed_i_add_text(ctx, r, "body", m->body);
    struct pend *p = gw_fed_i_send_iq(c, "set", row.partner, r, P_RELAY);
    if (!p) {
        snprintf(err, errlen, "XMPP link down");
        return GW_EAGAIN;
    }
    p->msg_id = m->id;
    p->closing = m->kind == GW_MSG_CLOSED;
    p->confirms = row.role == 2 && m->kind == GW_MSG_TEXT;
    snprintf(p->conv, sizeof p->conv, "%s", row.token);
    return GW_PENDING;
}

/* --- answers to our requests --- */

static void on_result(struct gw_core *c, struct pend *p, xmpp_stanza_t *iq, int ok)
{
    struct gw_conv *cv = p->conv[0] ? gw_conv_find(c, p->conv) : NULL;
    xmpp_stanza_t *a = xmpp_stanza_get_child_by_ns(iq, GW_NS_FED);
    char bare[256];
    gw_fed_i_bare_of(p->requester, bare, sizeof bare);
    switch (p->kind) {
    case P_RELAY: {
        /* A refusal is final (retrying would be refused forever); unreachable, timeouts and
         * the like are retried.  A close for a conversation the partner no longer has is done. */
        const char *cond = ok ? NULL : error_condition(iq);
        int refused =
            cond && (!strcmp(cond, "item-not-found") || !strcmp(cond, "forbidden") ||
                     !strcmp(cond, "not-allowed") || !strcmp(cond, "not-acceptable") ||
                     !strcmp(cond, "bad-request") || !strcmp(cond, "feature-not-implemented"));
        if (refused && p->closing && !strcmp(cond, "item-not-found"))
            ok = 1;
        if (refused && !ok)
            GW_WARN("federation: %s refused relay of message %lld: %s", p->partner,
                    (long long)p->msg_id, cond);
        if (!ok && !refused)
            c->fed->deferred = 1;
        gw_outbox_channel_done(c, p->msg_id,
                               ok        ? GW_OK
                               : refused ? GW_EPERM
                                         : GW_EAGAIN,
                               NULL,
                               ok        ? NULL
                               : refused ? "refused by the partner"
                                         : "partner did not confirm");
        /* The partner answers only once it has stored the message (its outbox takes it on
         * to the seeker's channel; protocol version 1 relays no delivery reports back), so
         * for our counsellor this is as far as the confirmation goes: their receipt. */
        if (ok && p->confirms)
            gw_outbox_report(c, p->msg_id, GW_DLR_DELIVERED, NULL);
        break;
    }
    case P_ERASE:
        gw_fed_i_erase_result(c, p, ok ? NULL : error_condition(iq), ok);
        break;
    case P_ESCALATE:
        if (cv)
            cv->fed_busy = 0;
        if (ok && cv && a && xmpp_stanza_get_attribute(a, "conv")) {
            gw_fed_i_served_by_partner(c, cv, p->partner, xmpp_stanza_get_attribute(a, "conv"),
                                       p->requester);
        } else if (cv && p->overflow) {
            cv->overflow_next++; /* the next partner, now: its deadline has passed already */
            gw_queue_arm(c, cv);
        } else {
            gw_fed_i_tell_counsellor(c, p->requester,
                                     gw_fed_i_text(c, bare, "partner_unreachable"));
            if (cv) {
                gw_store_event(c->store, cv->row.id, gw_now_ms(c), "escalate-failed", bare,
                               p->partner);
                gw_queue_arm(c, cv); /* no longer busy: an overflow may be due */
            }
        }
        break;
    case P_QUEUE: {
        const struct gw_partner_conf *pc = gw_config_partner(c->cfg, p->partner);
        char text[4096];
        const char *v[] = {"partner", pc ? pc->name : p->partner, NULL};
        size_t off = (size_t)gw_i18n_format(c->i18n, gw_counsellor_lang(c, bare),
                                            "fed_queue_header", text, sizeof text, v);
        int n = 0;
        for (xmpp_stanza_t *it = a ? xmpp_stanza_get_children(a) : NULL; it;
             it = xmpp_stanza_get_next(it)) {
            if (!xmpp_stanza_is_tag(it) || off >= sizeof text)
                continue;
            const char *waited = xmpp_stanza_get_attribute(it, "waited");
            char wbuf[64];
            gw_fmt_wait(c, gw_counsellor_lang(c, bare), (waited ? atoll(waited) : 0) * 1000, wbuf,
                        sizeof wbuf);
            off += (size_t)snprintf(
                text + off, sizeof text - off, "\n%d. %s %s · %s · %s — %s  (!take %s:%s)", ++n,
                pc ? pc->name : p->partner,
                xmpp_stanza_get_attribute(it, "display") ? xmpp_stanza_get_attribute(it, "display")
                                                         : "",
                xmpp_stanza_get_attribute(it, "lang") ? xmpp_stanza_get_attribute(it, "lang") : "",
                xmpp_stanza_get_attribute(it, "queue") ? xmpp_stanza_get_attribute(it, "queue")
                                                       : "",
                wbuf, p->partner, xmpp_stanza_get_attribute(it, "conv"));
        }
        if (ok && n)
            gw_fed_i_tell_counsellor(c, p->requester, text);
        break;
    }
    case P_TAKE: {
        const struct gw_partner_conf *pc = gw_config_partner(c->cfg, p->partner);
        if (!ok || !a || !pc) {
            gw_fed_i_tell_counsellor(
                c, p->requester,
                gw_fed_i_text(c, bare, ok ? "partner_unreachable" : "offer_taken_by_other"));
            break;
        }
        char *display = gw_fed_i_child_text(a, "display"),
             *fields = gw_fed_i_child_text(a, "fields");
        const char *lang = xmpp_stanza_get_attribute(a, "lang");
        struct gw_conv *sv = gw_fed_i_open_serving(
            c, pc, xmpp_stanza_get_attribute(a, "conv"),
            gw_lang_index(lang) >= 0 ? lang : c->cfg->default_lang,
            xmpp_stanza_get_attribute(a, "channel"), display, fields, c->cfg->default_queue);
        xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
        if (sv) {
            xmpp_stanza_t *h = xmpp_stanza_get_child_by_name(a, "history");
            for (xmpp_stanza_t *m = h ? xmpp_stanza_get_children(h) : NULL; m;
                 m = xmpp_stanza_get_next(m)) {
                char *body = xmpp_stanza_is_tag(m) ? xmpp_stanza_get_text(m) : NULL;
                if (body) {
                    char *safe = gw_xml_safe(body, (size_t)c->cfg->max_body_bytes);
                    gw_store_msg_insert(c->store, sv->row.id, "in", safe ? safe : "", NULL,
                                        gw_now_ms(c), "stored", NULL, NULL);
                    free(safe);
                    xmpp_free(ctx, body);
                }
            }
            if (sv->state == CS_QUEUED) {
                if (!gw_queue_position(c, sv))
                    gw_queue_enqueue(c, sv, 1);
                gw_queue_assign(c, sv, bare, "take");
            }
        }
        if (display)
            xmpp_free(ctx, display);
        if (fields)
            xmpp_free(ctx, fields);
        break;
    }
    }
}

static void pend_expired(void *arg)
{
    struct pend *p = arg;
    struct gw_core *c = p->c;
    p->timer = 0;
    pend_take(c, p->id);
    GW_WARN("federation: no answer from %s to %s within %d s", p->partner, p->id,
            FED_TIMEOUT_MS / 1000);
    on_result(c, p, NULL, 0);
    free(p);
}

int gw_fed_iq(struct gw_core *c, xmpp_stanza_t *st)
{
    const char *type = xmpp_stanza_get_type(st), *id = xmpp_stanza_get_id(st);
    const char *from = xmpp_stanza_get_from(st);
    if (!type || !c->fed)
        return 0;
    if (!strcmp(type, "result") || !strcmp(type, "error")) {
        struct pend *p = id && !strncmp(id, "fed-", 4) ? pend_take(c, id) : NULL;
        if (!p)
            return 0;
        if (from && strcmp(from, p->partner)) { /* an answer must come from whom we asked */
            p->next = c->fed->pending;
            c->fed->pending = p;
            return 1;
        }
        if (!strcmp(type, "error"))
            GW_WARN("federation: %s answered %s with an error", p->partner, p->id);
        int ok = !strcmp(type, "result");
        char partner[256];
        snprintf(partner, sizeof partner, "%s", p->partner);
        on_result(c, p, st, ok);
        pend_free(c, p);
        if (ok && c->fed->deferred)
            partner_back(c, partner);
        return 1;
    }
    xmpp_stanza_t *req = xmpp_stanza_get_child_by_ns(st, GW_NS_FED);
    if (!req)
        req = xmpp_stanza_get_child_by_ns(st, GW_NS_FED_ERASE);
    if (!req)
        return 0;
    char domain[256];
    gw_fed_i_bare_of(from, domain, sizeof domain);
    const struct gw_partner_conf *pc =
        strchr(domain, '@') ? NULL : gw_config_partner(c->cfg, domain);
    if (!pc) {
        gw_fed_i_refuse(c, st, "auth", "forbidden", "not a configured partner");
        return 1;
    }
    if (c->fed->deferred)
        partner_back(c, pc->domain);
    const char *name = xmpp_stanza_get_name(req);
    if (!strcmp(xmpp_stanza_get_ns(req), GW_NS_FED_ERASE)) {
        if (!strcmp(type, "set") && !strcmp(name, "erase"))
            gw_fed_i_on_erase(c, st, req, pc);
        else
            gw_fed_i_refuse(c, st, "cancel", "feature-not-implemented", "unknown request");
    } else if (!strcmp(type, "set") && !strcmp(name, "escalate"))
        gw_fed_i_on_escalate(c, st, req, pc);
    else if (!strcmp(type, "set") && !strcmp(name, "relay"))
        gw_fed_i_on_relay(c, st, req, pc);
    else if (!strcmp(type, "get") && !strcmp(name, "queue"))
        gw_fed_i_on_queue_query(c, st, pc);
    else if (!strcmp(type, "set") && !strcmp(name, "take"))
        gw_fed_i_on_take(c, st, req, pc);
    else
        gw_fed_i_refuse(c, st, "cancel", "feature-not-implemented", "unknown request");
    return 1;
}

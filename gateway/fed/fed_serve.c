/* fed_serve.c — federation: answering partners' requests (escalate, relay, queue, take),
 * and refusing what the partner agreement does not allow.  Our own requests and the
 * answers to them are in fed.c; the wire format is in docs/federation.md. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/core.h"
#include "fed/fed.h"
#include "fed/fed_int.h"
#include "conf/i18n.h"
#include "io/log.h"
#include "io/xmpp.h"

/* --- requests from partners --- */

static void iq_reply(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *payload)
{
    xmpp_stanza_t *r = xmpp_iq_new(gw_xmpp_ctx(c->xmpp), "result", xmpp_stanza_get_id(iq));
    xmpp_stanza_set_to(r, xmpp_stanza_get_from(iq));
    xmpp_stanza_set_from(r, xmpp_stanza_get_to(iq));
    if (payload)
        xmpp_stanza_add_child_ex(r, payload, 0);
    gw_xmpp_send(c->xmpp, r);
    xmpp_stanza_release(r);
}

void gw_fed_i_refuse(struct gw_core *c, xmpp_stanza_t *iq, const char *type, const char *cond,
                     const char *why)
{
    GW_WARN("federation: %s from %s refused: %s",
            xmpp_stanza_get_name(xmpp_stanza_get_children(iq))
                ? xmpp_stanza_get_name(xmpp_stanza_get_children(iq))
                : "iq",
            xmpp_stanza_get_from(iq), why);
    gw_xmpp_iq_error(c->xmpp, iq, type, cond);
}

/* Open the serving side of a conversation homed at `partner`. */
struct gw_conv *gw_fed_i_open_serving(struct gw_core *c, const struct gw_partner_conf *pc,
                                      const char *their_conv, const char *lang, const char *channel,
                                      const char *display, const char *fields, const char *queue)
{
    char address[400], disp[160];
    snprintf(address, sizeof address, "%s/%s", pc->domain, their_conv);
    snprintf(disp, sizeof disp, "%s %s", pc->name, display ? display : "");
    (void)channel;
    int64_t sid = gw_store_seeker_upsert(c->store, GW_FED_CHANNEL, address, disp, lang);
    if (sid < 0)
        return NULL;
    struct gw_conv *cv = gw_conv_for_seeker(c, GW_FED_CHANNEL, address);
    if (cv)
        return cv; /* a retried request: the same conversation */
    /* The handover fields are the conversation's pre-chat form on this side. */
    char *meta = NULL;
    json_t *fj = fields ? json_loads(fields, 0, NULL) : NULL;
    if (json_is_object(fj) && json_object_size(fj)) {
        json_t *m = json_pack("{s:O}", "fields", fj);
        meta = m ? json_dumps(m, JSON_COMPACT) : NULL;
        json_decref(m);
    }
    json_decref(fj);
    cv = gw_conv_open(c, sid, GW_FED_CHANNEL, address, disp, queue, lang, meta);
    free(meta);
    if (!cv)
        return NULL;
    cv->row.role = 2;
    snprintf(cv->row.partner, sizeof cv->row.partner, "%s", pc->domain);
    snprintf(cv->row.partner_ref, sizeof cv->row.partner_ref, "%s", their_conv);
    gw_conv_save(c, cv);
    return cv;
}

static int fields_allowed(const struct gw_partner_conf *pc, const char *fields)
{
    json_t *j = fields ? json_loads(fields, 0, NULL) : NULL;
    if (fields && !json_is_object(j)) {
        json_decref(j);
        return 0;
    }
    const char *k;
    json_t *v;
    int ok = 1;
    json_object_foreach(j, k, v)
    {
        int found = 0;
        for (int i = 0; i < pc->nfields; i++)
            found |= !strcmp(pc->fields[i], k);
        ok &= found;
    }
    json_decref(j);
    return ok;
}

void gw_fed_i_on_escalate(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *e,
                          const struct gw_partner_conf *pc)
{
    if (!pc->accept_escalations) {
        gw_fed_i_refuse(c, iq, "cancel", "not-allowed",
                        "escalations from this partner are not accepted");
        return;
    }
    const char *their = xmpp_stanza_get_attribute(e, "conv");
    const char *lang = xmpp_stanza_get_attribute(e, "lang");
    if (!their || strlen(their) >= 24 || gw_lang_index(lang) < 0) {
        gw_fed_i_refuse(c, iq, "modify", "bad-request", "escalate needs conv and lang");
        return;
    }
    char *fields = gw_fed_i_child_text(e, "fields"), *note = gw_fed_i_child_text(e, "note"),
         *display = gw_fed_i_child_text(e, "display"),
         *transcript = gw_fed_i_child_text(e, "transcript");
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    if (!fields_allowed(pc, fields) || (transcript && !pc->send_transcript)) {
        gw_fed_i_refuse(c, iq, "modify", "not-acceptable",
                        "more data than the partner agreement allows");
    } else {
        struct gw_conv *cv =
            gw_fed_i_open_serving(c, pc, their, lang, xmpp_stanza_get_attribute(e, "channel"),
                                  display, fields, c->cfg->default_queue);
        if (!cv) {
            gw_fed_i_refuse(c, iq, "wait", "internal-server-error", "storage");
        } else {
            int64_t now = gw_now_ms(c);
            char text[1 << 12];
            if (note) {
                snprintf(text, sizeof text, "[%s] %s", pc->name, note);
                gw_store_msg_insert(c->store, cv->row.id, "note", text, pc->domain, now, "stored",
                                    NULL, NULL);
            }
            if (transcript)
                gw_store_msg_insert(c->store, cv->row.id, "note", transcript, pc->domain, now,
                                    "stored", NULL, "{\"transcript\":true,\"consent\":true}");
            gw_store_event(c->store, cv->row.id, now, "escalation-received", pc->domain, their);
            if (cv->state == CS_QUEUED && !gw_queue_position(c, cv)) {
                gw_queue_enqueue(c, cv, 0);
                gw_queue_dispatch(c, cv->row.queue);
            }
            xmpp_stanza_t *a = gw_fed_i_el(ctx, "accepted", GW_NS_FED);
            xmpp_stanza_set_attribute(a, "conv", cv->row.token);
            iq_reply(c, iq, a);
            GW_INFO("federation: escalation from %s accepted as %s", pc->domain, cv->row.token);
        }
    }
    if (fields)
        xmpp_free(ctx, fields);
    if (note)
        xmpp_free(ctx, note);
    if (display)
        xmpp_free(ctx, display);
    if (transcript)
        xmpp_free(ctx, transcript);
}

void gw_fed_i_on_relay(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *r,
                       const struct gw_partner_conf *pc)
{
    const char *conv = xmpp_stanza_get_attribute(r, "conv");
    const char *kind = xmpp_stanza_get_attribute(r, "kind");
    const char *rid = xmpp_stanza_get_attribute(r, "id");
    const char *from_conv = xmpp_stanza_get_attribute(r, "from-conv");
    struct gw_conv *cv = conv && *conv ? gw_conv_find(c, conv) : NULL;
    if (cv && strcmp(cv->row.partner, pc->domain))
        cv = NULL;
    if (!cv && from_conv && *from_conv && strlen(from_conv) < 24) {
        /* The sender does not know our id: find the conversation by theirs. */
        char address[400];
        snprintf(address, sizeof address, "%s/%s", pc->domain, from_conv);
        cv = gw_conv_for_seeker(c, GW_FED_CHANNEL, address); /* serving side */
        if (!cv)
            cv = gw_conv_by_partner_ref(c, pc->domain, from_conv); /* home side */
    }
    if (!cv || strcmp(cv->row.partner, pc->domain)) {
        gw_fed_i_refuse(c, iq, "cancel", "item-not-found", "no such federated conversation");
        return;
    }
    if (!cv->row.partner_ref[0] && from_conv && *from_conv &&
        strlen(from_conv) < sizeof cv->row.partner_ref) {
        /* Learn the partner's id (a seeker taken from our shared queue). */
        snprintf(cv->row.partner_ref, sizeof cv->row.partner_ref, "%s", from_conv);
        gw_conv_save(c, cv);
    }
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    char *body = gw_fed_i_child_text(r, "body");
    char *safe = gw_xml_safe(body ? body : "", (size_t)c->cfg->max_body_bytes);
    if (body)
        xmpp_free(ctx, body);
    /* Relays are retried by the partner's outbox: dedup by their message id. */
    char key[320];
    snprintf(key, sizeof key, "%s/%s", pc->domain, rid ? rid : "");
    if (rid && gw_store_dedup_find(c->store, GW_FED_CHANNEL, key) > 0) {
        free(safe);
        iq_reply(c, iq, NULL);
        return;
    }
    int64_t now = gw_now_ms(c);
    int64_t mid = 0;
    if (kind && !strcmp(kind, "closed")) {
        free(safe);
        iq_reply(c, iq, NULL);
        if (cv->row.role == 2 && cv->state == CS_ACTIVE && cv->row.counsellor[0])
            gw_conv_notify_counsellor(
                c, cv, cv->row.counsellor,
                gw_i18n_text(c->i18n, gw_counsellor_lang(c, cv->row.counsellor), "seeker_ended"));
        /* Home closes with its own closing text to the seeker; serving just closes. */
        gw_conv_finish(c, cv, CS_CLOSED, "partner", cv->row.role == 1 ? "closed_by_service" : NULL,
                       "partner");
        return;
    }
    if (cv->row.role == 2) { /* the seeker wrote at home */
        mid =
            gw_store_msg_insert(c->store, cv->row.id, "in", safe, NULL, now, "stored", NULL, NULL);
        cv->row.last_seeker_at = now;
        if (cv->state == CS_ACTIVE && cv->row.counsellor[0])
            gw_router_chat(c, cv->row.token, cv->row.counsellor, safe, cv->nick, mid);
    } else { /* the partner's counsellor (or service) wrote to our seeker */
        int automatic = kind && !strcmp(kind, "auto");
        mid = gw_store_msg_insert(c->store, cv->row.id, automatic ? "auto" : "out", safe,
                                  pc->domain, now, "stored", NULL, NULL);
        cv->row.last_counsellor_at = now;
        if (mid > 0)
            gw_outbox_channel(c, mid, cv->channel, automatic ? GW_MSG_AUTO : GW_MSG_TEXT);
    }
    free(safe);
    if (mid > 0 && rid)
        gw_store_dedup_add(c->store, GW_FED_CHANNEL, key, mid);
    gw_conv_save(c, cv);
    /* Stored before the partner hears "done"; if not, it hears "wait" and sends again. */
    if (gw_turn_commit(c) != GW_OK) {
        gw_xmpp_iq_error(c->xmpp, iq, "wait", "resource-constraint");
        return;
    }
    iq_reply(c, iq, NULL);
}

void gw_fed_i_on_queue_query(struct gw_core *c, xmpp_stanza_t *iq, const struct gw_partner_conf *pc)
{
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    xmpp_stanza_t *q = gw_fed_i_el(ctx, "queue", GW_NS_FED);
    for (int i = 0; i < c->cfg->nqueues; i++) {
        const struct gw_queue_conf *qc = &c->cfg->queues[i];
        int shared = 0;
        for (int k = 0; k < qc->nshared; k++)
            shared |= !strcmp(qc->shared_with[k], pc->domain);
        struct gw_queue_rt *rt = gw_queue_rt(c, qc->id);
        if (!shared || !rt)
            continue;
        struct gw_conv *cv;
        TAILQ_FOREACH(cv, &rt->waiting, qlink)
        {
            if (cv->state != CS_QUEUED || cv->row.role || cv->fed_busy)
                continue;
            xmpp_stanza_t *it = gw_fed_i_el(ctx, "item", NULL);
            char waited[32];
            snprintf(waited, sizeof waited, "%lld",
                     (long long)((gw_now_ms(c) - cv->row.queued_at) / 1000));
            xmpp_stanza_set_attribute(it, "conv", cv->row.token);
            xmpp_stanza_set_attribute(it, "queue", qc->id);
            xmpp_stanza_set_attribute(it, "lang", cv->row.lang);
            xmpp_stanza_set_attribute(it, "channel", cv->channel);
            xmpp_stanza_set_attribute(it, "waited", waited);
            char dbuf[96];
            xmpp_stanza_set_attribute(it, "display",
                                      gw_fed_i_cross_display(cv->display, dbuf, sizeof dbuf));
            xmpp_stanza_add_child_ex(q, it, 0);
        }
    }
    iq_reply(c, iq, q);
}

struct hist_ctx {
    xmpp_ctx_t *ctx;
    xmpp_stanza_t *parent;
    int n; /* messages added (for the read audit) */
};

static int last_out(void *arg, const struct gw_msg_row *m)
{
    *(int64_t *)arg = m->id;
    return 0;
}

static int add_history(void *arg, const struct gw_msg_row *m)
{
    struct hist_ctx *h = arg;
    xmpp_stanza_t *e = gw_fed_i_el(h->ctx, "message", NULL), *t = xmpp_stanza_new(h->ctx);
    xmpp_stanza_set_attribute(e, "dir", m->dir);
    xmpp_stanza_set_text(t, m->body ? m->body : "");
    xmpp_stanza_add_child_ex(e, t, 0);
    xmpp_stanza_add_child_ex(h->parent, e, 0);
    h->n++;
    return 0;
}

void gw_fed_i_on_take(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *t,
                      const struct gw_partner_conf *pc)
{
    struct gw_conv *cv = gw_conv_find(c, xmpp_stanza_get_attribute(t, "conv"));
    const struct gw_queue_conf *qc = cv ? gw_config_queue(c->cfg, cv->row.queue) : NULL;
    int shared = 0;
    for (int k = 0; qc && k < qc->nshared; k++)
        shared |= !strcmp(qc->shared_with[k], pc->domain);
    if (!cv || !shared || cv->row.role) {
        gw_fed_i_refuse(c, iq, "cancel", "item-not-found",
                        "not a waiting seeker of a shared queue");
        return;
    }
    if (cv->state != CS_QUEUED || cv->fed_busy) {
        /* Someone (here or at another partner) was first. */
        gw_fed_i_refuse(c, iq, "cancel", "conflict", "already taken");
        return;
    }
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    xmpp_stanza_t *a = gw_fed_i_el(ctx, "accepted", GW_NS_FED);
    xmpp_stanza_set_attribute(a, "conv", cv->row.token);
    xmpp_stanza_set_attribute(a, "lang", cv->row.lang);
    xmpp_stanza_set_attribute(a, "channel", cv->channel);
    char dbuf[96];
    gw_fed_i_add_text(ctx, a, "display", gw_fed_i_cross_display(cv->display, dbuf, sizeof dbuf));
    char *fields = gw_fed_i_allowed_fields(pc, cv->row.meta);
    if (fields && strcmp(fields, "{}"))
        gw_fed_i_add_text(ctx, a, "fields", fields);
    free(fields);
    /* A shared queue shares its conversations: what the seeker wrote while waiting. */
    xmpp_stanza_t *h = gw_fed_i_el(ctx, "history", NULL);
    struct hist_ctx hc = {ctx, h, 0};
    /* Only what the seeker wrote while waiting: nothing from before a home counsellor's last
     * line (a requeued or transferred seeker's earlier dialogue needs consent to cross). */
    int64_t after = 0;
    gw_store_msg_each(c->store, cv->row.id, 0, "out", last_out, &after);
    gw_store_msg_each(c->store, cv->row.id, after, "in", add_history, &hc);
    xmpp_stanza_add_child_ex(a, h, 0);
    const char *name = xmpp_stanza_get_attribute(t, "name");
    {
        /* The read audit: a partner receives what the seeker wrote while waiting. */
        char who[300], detail[128];
        snprintf(who, sizeof who, "partner %s", pc->domain);
        snprintf(detail, sizeof detail, "%d messages written while waiting", hc.n);
        gw_audit(c, who, cv->row.id, "history-partner", detail, "shared queue take");
    }
    gw_fed_i_served_by_partner(c, cv, pc->domain,
                               xmpp_stanza_get_attribute(t, "serving-conv")
                                   ? xmpp_stanza_get_attribute(t, "serving-conv")
                                   : "",
                               NULL);
    if (name) {
        const char *v[] = {"name", name, NULL};
        char meta[200];
        snprintf(meta, sizeof meta, "{\"type\":\"joined\",\"partner\":\"%s\"}", pc->domain);
        gw_conv_tell(c, cv, "counsellor_joined", v, meta);
    }
    iq_reply(c, iq, a);
    GW_INFO("federation: %s taken by %s (shared queue)", cv->row.token, pc->domain);
}

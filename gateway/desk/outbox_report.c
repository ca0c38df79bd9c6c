/* outbox_report.c — what the counsellor hears about a message's fate: delivery reports from
 * the channels (gw_outbox_report), XEP-0184 receipts once the seeker's channel confirmed, and
 * the failure notice (an XMPP error on the message plus a plain line) when it will not
 * arrive.  The scheduling of deliveries is in outbox.c. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/core.h"
#include "conf/i18n.h"
#include "io/xmpp.h"

static int meta_from(void *arg, const struct gw_msg_row *m)
{
    char **out = arg;
    json_t *j = m->meta ? json_loads(m->meta, 0, NULL) : NULL;
    const char *f = json_string_value(json_object_get(j, "from"));
    if (f)
        *out = strdup(f);
    json_decref(j);
    return 1;
}

/* The full JID a counsellor's message came from (else the bare author). */
static void sender_of(struct gw_core *c, int64_t msg_id, const char *author, char *buf, size_t len)
{
    char *full = NULL;
    gw_store_msg_full(c->store, msg_id, meta_from, &full);
    snprintf(buf, len, "%s", full ? full : author);
    free(full);
}

/* Tell the counsellor that their message will not reach the seeker. */
static void report_failure(struct gw_core *c, const struct gw_msg_row *m, const char *reason)
{
    if (strcmp(m->dir, "out") != 0 || !m->author[0])
        return;
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    char from[128], text[600];
    struct gw_conv_row row;
    if (gw_store_conv_by_id(c->store, m->conv_id, &row) < 0)
        return;
    const char *token = row.token;
    snprintf(from, sizeof from, "%s@%s", token, c->cfg->domain);
    const char *v[] = {"reason", reason ? reason : "", NULL};
    gw_i18n_format(c->i18n, gw_counsellor_lang(c, m->author), "message_failed", text, sizeof text,
                   v);
    /* The XMPP error on the original message id, for clients that mark failed messages... */
    char to[400];
    sender_of(c, m->id, m->author, to, sizeof to);
    if (m->stanza_id[0]) {
        xmpp_stanza_t *e = xmpp_message_new(ctx, "error", to, m->stanza_id);
        xmpp_stanza_set_from(e, from);
        xmpp_stanza_t *er = xmpp_stanza_new(ctx), *cond = xmpp_stanza_new(ctx),
                      *t = xmpp_stanza_new(ctx), *tx = xmpp_stanza_new(ctx);
        xmpp_stanza_set_name(er, "error");
        xmpp_stanza_set_type(er, "cancel");
        xmpp_stanza_set_name(cond, "recipient-unavailable");
        xmpp_stanza_set_ns(cond, "urn:ietf:params:xml:ns:xmpp-stanzas");
        xmpp_stanza_set_name(t, "text");
        xmpp_stanza_set_ns(t, "urn:ietf:params:xml:ns:xmpp-stanzas");
        xmpp_stanza_set_text(tx, text);
        xmpp_stanza_add_child_ex(t, tx, 0);
        xmpp_stanza_add_child_ex(er, cond, 0);
        xmpp_stanza_add_child_ex(er, t, 0);
        xmpp_stanza_add_child_ex(e, er, 0);
        gw_router_queue_stanza(c, e, 0);
    }
    /* ...and a plain line for the many that do not. */
    gw_router_chat(c, token, m->author, text, NULL, 0);
}

/* What a receipt needs from a counsellor's message, read in one look-up. */
struct receipt_ctx {
    int64_t conv_id;
    int wanted;   /* the message carried an XEP-0184 <request/> (router.c) */
    char to[400]; /* the full JID that sent it */
    char stanza_id[64];
};

static int receipt_of(void *arg, const struct gw_msg_row *m)
{
    struct receipt_ctx *r = arg;
    if (strcmp(m->dir, "out") != 0 || !m->author[0] || !m->stanza_id[0] || !m->meta)
        return 1;
    json_t *j = json_loads(m->meta, 0, NULL);
    const char *from = json_string_value(json_object_get(j, "from"));
    r->wanted = json_is_true(json_object_get(j, "receipt"));
    gw_copy(r->to, sizeof r->to, from ? from : m->author);
    gw_copy(r->stanza_id, sizeof r->stanza_id, m->stanza_id);
    r->conv_id = m->conv_id;
    json_decref(j);
    return 1;
}

/* XEP-0184: the seeker's channel confirmed the message, and the counsellor's client asked to
 * hear it.  The receipt is the only sign a counsellor gets that a message reached the seeker,
 * so it must never come early (before the channel's confirmation) nor unasked; it goes to the
 * full JID that sent the message, from the conversation JID it was sent to -- also when the
 * conversation has been closed since. */
static void send_receipt(struct gw_core *c, int64_t msg_id)
{
    struct receipt_ctx r = {0};
    if (gw_store_msg_full(c->store, msg_id, receipt_of, &r) < 0 || !r.wanted)
        return;
    struct gw_conv *cv = gw_conv_by_id(c, r.conv_id);
    struct gw_conv_row row;
    char from[128];
    if (cv)
        gw_conv_jid(c, cv, from, sizeof from);
    else if (gw_store_conv_by_id(c->store, r.conv_id, &row) == GW_OK)
        snprintf(from, sizeof from, "%s@%s", row.token, c->cfg->domain);
    else
        return;
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    xmpp_stanza_t *st = xmpp_message_new(ctx, NULL, r.to, NULL);
    xmpp_stanza_set_from(st, from);
    xmpp_stanza_t *rc = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(rc, "received");
    xmpp_stanza_set_ns(rc, "urn:xmpp:receipts");
    xmpp_stanza_set_attribute(rc, "id", r.stanza_id);
    xmpp_stanza_add_child_ex(st, rc, 0);
    gw_router_queue_stanza(c, st, 0);
}

int gw_outbox_report(struct gw_core *c, int64_t msg_id, enum gw_dlr state, const char *reason)
{
    static const char *const names[] = {"", "sent", "delivered", "failed"};
    if (state < GW_DLR_SENT || state > GW_DLR_FAILED)
        return GW_EINVAL;
    int changed = gw_store_msg_state(c->store, msg_id, names[state], NULL, reason);
    if (changed < 0)
        return changed;
    struct gw_msg_row m;
    if (!changed) {
        /* A final state already stands (reports arrive out of order).  One case still
         * concerns the counsellor: a failure after "delivered" -- a bounce after the SMTP
         * server accepted the mail, which email counts as delivered (it has no later
         * confirmation).  The counsellor had a receipt and must hear that the message did
         * not arrive after all; the store keeps its first final state. */
        if (state == GW_DLR_FAILED && gw_store_msg_get(c->store, msg_id, &m) == GW_OK &&
            !strcmp(m.state, "delivered"))
            report_failure(c, &m, reason);
        return GW_OK;
    }
    if (state == GW_DLR_DELIVERED)
        send_receipt(c, msg_id);
    else if (state == GW_DLR_FAILED && gw_store_msg_get(c->store, msg_id, &m) == GW_OK)
        report_failure(c, &m, reason);
    return GW_OK;
}

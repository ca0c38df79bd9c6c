/* fed_erase.c — the erase request (urn:skagerrak:fed:erase:1, docs/federation.md): a home
 * gateway whose seeker was erased asks each partner that holds an escalated copy to erase it
 * too; the partner erases with the same code (desk/privacy.c) and answers done, or an error
 * whose condition says why not.
 *
 * The request travels through the durable outbox: desk/privacy.c stores a "sys" message
 * with meta {"type":"fed-erase","partner":P,"conv":PARTNER-CONV} and an outbox row for the
 * federation channel; gw_fed_deliver hands it here.  So a partner outage (or our restart)
 * retries it with the outbox's backoff, and it shows as pending until answered. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "desk/core.h"
#include "desk/privacy.h"
#include "fed/fed.h"
#include "fed/fed_int.h"
#include "io/log.h"
#include "io/xmpp.h"
#include "store/store.h"
#include "store/store_privacy.h"

int gw_fed_i_is_erase(const struct gw_msg *m)
{
    return m->meta_json && strstr(m->meta_json, "\"type\":\"fed-erase\"") != NULL;
}

int gw_fed_i_erase_deliver(struct gw_core *c, const struct gw_msg *m, char *err, size_t errlen)
{
    json_t *j = json_loads(m->meta_json, 0, NULL);
    const char *partner = NULL, *conv = NULL;
    if (!j || json_unpack(j, "{s:s, s:s}", "partner", &partner, "conv", &conv) != 0) {
        json_decref(j);
        snprintf(err, errlen, "erase request without partner or conversation");
        return GW_EPERM;
    }
    if (!gw_xmpp_online(c->xmpp)) {
        json_decref(j);
        snprintf(err, errlen, "XMPP link down");
        return GW_EAGAIN;
    }
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    xmpp_stanza_t *e = gw_fed_i_el(ctx, "erase", GW_NS_FED_ERASE);
    xmpp_stanza_set_attribute(e, "conv", conv);
    struct pend *p = gw_fed_i_send_iq(c, "set", partner, e, P_ERASE);
    json_decref(j);
    if (!p) {
        snprintf(err, errlen, "XMPP link down");
        return GW_EAGAIN;
    }
    p->msg_id = m->id;
    snprintf(p->conv, sizeof p->conv, "%s", m->conv);
    return GW_PENDING;
}

void gw_fed_i_erase_result(struct gw_core *c, struct pend *p, const char *cond, int ok)
{
    /* item-not-found: the partner holds nothing (any more) of it — as good as done.  The
     * other refusals are final: asking again would be refused again; they are recorded
     * with the reason for the data protection officer.  Anything else (no answer, the
     * partner's server unreachable, wait) is retried by the outbox. */
    int gone = !ok && cond && !strcmp(cond, "item-not-found");
    int refused = !ok && !gone && cond &&
                  (!strcmp(cond, "forbidden") || !strcmp(cond, "not-allowed") ||
                   !strcmp(cond, "not-acceptable") || !strcmp(cond, "bad-request") ||
                   !strcmp(cond, "feature-not-implemented"));
    struct gw_conv_row row;
    int64_t conv_id = gw_store_conv_by_token(c->store, p->conv, &row) == GW_OK ? row.id : 0;
    int64_t now = gw_now_ms(c);
    if (ok || gone) {
        gw_store_event(c->store, conv_id, now, "partner-erased", p->partner,
                       gone ? "nothing stored" : "done");
        GW_INFO("federation: %s erased its copy of an erased conversation", p->partner);
        gw_outbox_channel_done(c, p->msg_id, GW_OK, NULL, NULL);
    } else if (refused) {
        gw_store_event(c->store, conv_id, now, "partner-erase-refused", p->partner, cond);
        GW_WARN("federation: %s refused to erase its copy: %s", p->partner, cond);
        gw_outbox_channel_done(c, p->msg_id, GW_EPERM, NULL, "refused by the partner");
    } else {
        gw_fed_i_defer(c);
        gw_outbox_channel_done(c, p->msg_id, GW_EAGAIN, NULL,
                               cond ? cond : "partner did not answer");
    }
}

void gw_fed_i_on_erase(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *e,
                       const struct gw_partner_conf *pc)
{
    const char *conv = xmpp_stanza_get_attribute(e, "conv");
    struct gw_conv_row row;
    if (!conv || !*conv) {
        gw_fed_i_refuse(c, iq, "modify", "bad-request", "erase without conv");
        return;
    }
    /* Only the partner the conversation is shared with may have it erased; to anyone else
     * it does not exist (no oracle for tokens). */
    if (gw_store_conv_by_token(c->store, conv, &row) != GW_OK || strcmp(row.partner, pc->domain)) {
        gw_fed_i_refuse(c, iq, "cancel", "item-not-found", "no such conversation shared");
        return;
    }
    /* Only a copy we serve for the sender (role 2) is erased on its word.  A conversation
     * we are home to is our seeker's: erased on their own request (or by our operator),
     * not because a partner that served it was asked. */
    if (row.role != 2) {
        gw_fed_i_refuse(c, iq, "cancel", "not-allowed", "we are this conversation's home");
        return;
    }
    char actor[300];
    snprintf(actor, sizeof actor, "partner %s", pc->domain);
    struct gw_erase_counts n;
    /* On this side the seeker is the partner's pseudo-seeker of that one conversation
     * (fed_serve.c: address "domain/their-conv"), so the seeker's erase is the copy's. */
    if (gw_privacy_erase(c, row.seeker_id, actor, GW_ERASE_NO_PARTNERS, &n, NULL) != GW_OK ||
        gw_turn_commit(c) != GW_OK) {
        gw_xmpp_iq_error(c->xmpp, iq, "wait", "internal-server-error");
        return;
    }
    GW_INFO("federation: erased our copy of a conversation for %s (%lld messages)", pc->domain,
            n.messages);
    xmpp_stanza_t *r = xmpp_iq_new(gw_xmpp_ctx(c->xmpp), "result", xmpp_stanza_get_id(iq));
    xmpp_stanza_set_to(r, xmpp_stanza_get_from(iq));
    xmpp_stanza_set_from(r, xmpp_stanza_get_to(iq));
    xmpp_stanza_t *d = gw_fed_i_el(gw_xmpp_ctx(c->xmpp), "erased", GW_NS_FED_ERASE);
    char cnt[32];
    snprintf(cnt, sizeof cnt, "%lld", n.messages);
    xmpp_stanza_set_attribute(d, "messages", cnt);
    xmpp_stanza_add_child_ex(r, d, 0);
    gw_xmpp_send(c->xmpp, r);
    xmpp_stanza_release(r);
}

/* fed_queue.c — federation's shared queues and overflow: the counsellor commands that look
 * into partners' queues ("!queue", "!take <domain>:<conv>") and the overflow of waiting
 * conversations to partners (due times, the check, the 5 s safety net).  Split from fed.c,
 * whose requests (gw_fed_i_send_iq) and escalation (gw_fed_i_escalate_now) it uses. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "conf/calendar.h"
#include "conf/config.h"
#include "desk/core.h"
#include "fed/fed.h"
#include "fed/fed_int.h"
#include "io/log.h"
#include "io/xmpp.h"

/* --- counsellor commands on the serving side --- */

void gw_fed_cmd_queue(struct gw_core *c, const char *from_full, const char *to_local)
{
    (void)to_local;
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    for (int i = 0; i < c->cfg->npartners; i++) {
        struct pend *p = gw_fed_i_send_iq(c, "get", c->cfg->partners[i].domain,
                                          gw_fed_i_el(ctx, "queue", GW_NS_FED), P_QUEUE);
        if (p)
            snprintf(p->requester, sizeof p->requester, "%s", from_full);
    }
}

void gw_fed_cmd_take(struct gw_core *c, const char *from_full, const char *to_local,
                     const char *target)
{
    (void)to_local;
    char domain[256], bare[256];
    gw_fed_i_bare_of(from_full, bare, sizeof bare);
    const char *colon = strrchr(target, ':');
    snprintf(domain, sizeof domain, "%.*s", colon ? (int)(colon - target) : 0, target);
    const struct gw_partner_conf *pc = gw_config_partner(c->cfg, domain);
    if (!pc || !colon) {
        gw_fed_i_tell_counsellor(c, from_full, gw_fed_i_text(c, bare, "nothing_waiting"));
        return;
    }
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    xmpp_stanza_t *t = gw_fed_i_el(ctx, "take", GW_NS_FED);
    xmpp_stanza_set_attribute(t, "conv", colon + 1);
    xmpp_stanza_set_attribute(t, "name", gw_counsellor_name(c, bare));
    struct pend *p = gw_fed_i_send_iq(c, "set", pc->domain, t, P_TAKE);
    if (p)
        snprintf(p->requester, sizeof p->requester, "%s", from_full);
    else
        gw_fed_i_tell_counsellor(c, from_full, gw_fed_i_text(c, bare, "partner_unreachable"));
}

/* The queue is closed for overflow: as the hours timer last saw it (queue.c), so the
 * deadline and the check agree with the moment the queue's state changed. */
static int queue_closed(struct gw_core *c, const struct gw_queue_conf *qc, int64_t now)
{
    if (!qc->hours)
        return 0;
    const struct gw_queue_rt *q = gw_queue_rt(c, qc->id);
    if (q && q->open >= 0)
        return !q->open;
    return !gw_hours_is_open(qc->hours, (time_t)(now / 1000));
}

int64_t gw_fed_overflow_due(struct gw_core *c, const struct gw_conv *cv, int64_t now)
{
    if (cv->state != CS_QUEUED || cv->row.role || cv->fed_busy || cv->esc_partner)
        return -1;
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, cv->row.queue);
    if (!qc || !qc->noverflow || cv->overflow_next >= qc->noverflow)
        return -1;
    if (queue_closed(c, qc, now))
        return now;
    if (!qc->overflow_after_s)
        return -1;
    return cv->row.queued_at + (int64_t)qc->overflow_after_s * 1000;
}

void gw_fed_overflow_check(struct gw_core *c, struct gw_conv *cv, int64_t now)
{
    int64_t due = gw_fed_overflow_due(c, cv, now);
    if (due < 0 || due > now)
        return;
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, cv->row.queue);
    const struct gw_partner_conf *pc = NULL;
    while (!pc && cv->overflow_next < qc->noverflow) {
        pc = gw_config_partner(c->cfg, qc->overflow_to[cv->overflow_next]);
        if (!pc)
            cv->overflow_next++; /* removed by a reload: the next one */
    }
    if (!pc)
        return;
    GW_INFO("federation: overflow of %s to %s after %lld s", cv->row.token, pc->domain,
            (long long)((now - cv->row.queued_at) / 1000));
    gw_fed_i_escalate_now(c, cv, pc, NULL, 0, NULL, 1);
}

struct sweep_ctx {
    struct gw_core *c;
    int64_t now;
};

static void sweep_one(void *arg, struct gw_conv *cv)
{
    struct sweep_ctx *x = arg;
    gw_fed_overflow_check(x->c, cv, x->now);
}

void gw_fed_sweep(struct gw_core *c)
{
    struct sweep_ctx x = {c, gw_now_ms(c)};
    gw_conv_each(c, sweep_one, &x);
}

/* presence.c — counsellor presence towards the queues: sign-in and sign-out, readiness,
 * probes after a (re)connect, and the grace a counsellor who drops out gets before their
 * seekers are requeued. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/core.h"
#include "io/log.h"
#include "io/loop.h"
#include "io/xmpp.h"

static void bare_of(const char *full, char *bare, size_t blen, char *res, size_t rlen)
{
    const char *slash = strchr(full, '/');
    size_t n = slash ? (size_t)(slash - full) : strlen(full);
    snprintf(bare, blen, "%.*s", (int)n, full);
    snprintf(res, rlen, "%s", slash ? slash + 1 : "");
}

static int show_ready(const char *show)
{
    return !*show || strcmp(show, "chat") == 0;
}

void gw_presence_probe(struct gw_core *c)
{
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    for (int i = 0; i < c->cfg->nqueues; i++) {
        const struct gw_queue_conf *q = &c->cfg->queues[i];
        char from[400];
        snprintf(from, sizeof from, "%s@%s", q->id, c->cfg->domain);
        for (int k = 0; k < q->ncounsellors; k++) {
            xmpp_stanza_t *p = xmpp_presence_new(ctx);
            xmpp_stanza_set_type(p, "probe");
            xmpp_stanza_set_from(p, from);
            xmpp_stanza_set_to(p, q->counsellors[k]);
            gw_xmpp_send(c->xmpp, p);
            xmpp_stanza_release(p);
        }
    }
}

int gw_counsellor_online(struct gw_core *c, const char *bare)
{
    struct gw_presence *p;
    TAILQ_FOREACH(p, &c->desk.presence, link)
    if (strcmp(p->bare, bare) == 0)
        return 1;
    return 0;
}

int gw_counsellor_ready(struct gw_core *c, const char *bare, const char *queue)
{
    struct gw_presence *p;
    TAILQ_FOREACH(p, &c->desk.presence, link)
    if (strcmp(p->bare, bare) == 0 && (strcmp(p->queue, queue) == 0 || !strcmp(p->queue, "*")) &&
        show_ready(p->show))
        return 1;
    return 0;
}

/* A counsellor who disappears keeps their active conversations for `counsellor_grace`
 * seconds: a phone changing networks or a server restart takes a counsellor away for
 * moments, and handing their seeker to a stranger for that would be worse than a short wait.
 * cv->held_until marks a conversation whose counsellor is away; grace_check() requeues
 * those whose grace ran out.  Offers are withdrawn at once: nobody can accept them. */
static void grace_check(void *arg);

static void arm_grace(struct gw_core *c, int64_t due)
{
    if (c->desk.grace_timer && c->desk.grace_at <= due)
        return;
    if (c->desk.grace_timer)
        gw_loop_timer_cancel(c->loop, c->desk.grace_timer);
    int64_t at;
    c->desk.grace_timer = gw_loop_timer_add(c->loop, gw_clock_delay_ms(c, due, &at), grace_check, c);
    c->desk.grace_at = at;
}

static int64_t grace_ms(const struct gw_core *c)
{
    return (int64_t)c->cfg->counsellor_grace_s * 1000;
}

static void grace_check(void *arg)
{
    struct gw_core *c = arg;
    c->desk.grace_timer = 0;
    if (!gw_xmpp_online(c->xmpp))
        return; /* nobody can come back meanwhile; gw_presence_link_up() starts over */
    int64_t now = gw_now_ms(c), soonest = -1;
    struct gw_conv *cv, *tmp;
    TAILQ_FOREACH_SAFE(cv, &c->desk.convs, all, tmp)
    {
        if (cv->state != CS_ACTIVE || !cv->held_until)
            continue;
        if (gw_counsellor_online(c, cv->row.counsellor)) {
            cv->held_until = 0;
        } else if (now >= cv->held_until) {
            GW_INFO("conversation %s: counsellor %s did not come back; requeueing", cv->row.token,
                    cv->row.counsellor);
            cv->held_until = 0;
            gw_queue_requeue(c, cv, "counsellor_left_requeued");
        } else if (soonest < 0 || cv->held_until < soonest) {
            soonest = cv->held_until;
        }
    }
    if (soonest >= 0)
        arm_grace(c, soonest);
}

static void withdraw_offer(struct gw_core *c, struct gw_conv *cv)
{
    free(cv->offered_to);
    cv->offered_to = NULL;
    cv->state = CS_QUEUED;
    if (cv->offer_timer)
        gw_loop_timer_cancel(c->loop, cv->offer_timer);
    cv->offer_timer = 0;
    gw_conv_save(c, cv);
}

/* Hold the active conversations of `bare` (NULL: of every local counsellor) for their
 * counsellor for `wait` ms from now; returns how many. */
static int hold_conversations(struct gw_core *c, const char *bare, int64_t wait)
{
    int n = 0;
    int64_t now = gw_now_ms(c);
    struct gw_conv *cv;
    TAILQ_FOREACH(cv, &c->desk.convs, all)
    if (cv->state == CS_ACTIVE && cv->row.role != 1 && cv->row.counsellor[0] &&
        (!bare || !strcmp(cv->row.counsellor, bare))) {
        if (!cv->held_until)
            cv->held_until = now + wait;
        n++;
    }
    if (n)
        arm_grace(c, now + wait);
    return n;
}

static void counsellor_gone(struct gw_core *c, const char *bare)
{
    struct gw_conv *cv, *tmp;
    TAILQ_FOREACH_SAFE(cv, &c->desk.convs, all, tmp)
    if (cv->state == CS_OFFERED && cv->offered_to && strcmp(cv->offered_to, bare) == 0)
        withdraw_offer(c, cv);
    if (!grace_ms(c)) {
        GW_INFO("counsellor %s went offline; requeueing their conversations", bare);
        TAILQ_FOREACH_SAFE(cv, &c->desk.convs, all, tmp)
        if (cv->state == CS_ACTIVE && strcmp(cv->row.counsellor, bare) == 0)
            gw_queue_requeue(c, cv, "counsellor_left_requeued");
        return;
    }
    int n = hold_conversations(c, bare, grace_ms(c));
    GW_INFO("counsellor %s went offline; %d conversation(s) kept for them for %d s", bare, n,
            c->cfg->counsellor_grace_s);
}

static void counsellor_back(struct gw_core *c, const char *bare)
{
    int n = 0;
    struct gw_conv *cv;
    TAILQ_FOREACH(cv, &c->desk.convs, all)
    if (cv->state == CS_ACTIVE && cv->held_until && !strcmp(cv->row.counsellor, bare)) {
        cv->held_until = 0;
        n++;
    }
    if (n)
        GW_INFO("counsellor %s is back; keeps %d conversation(s)", bare, n);
}

/* After a lost link the server needs a moment to answer our probes even when nobody left. */
#define LINK_GRACE_MIN_MS 10000

void gw_presence_link_down(struct gw_core *c)
{
    /* What we knew of presence died with the link (a server restart signs everyone out,
     * often without telling us); the probes on reconnect rebuild it. */
    struct gw_presence *p;
    while ((p = TAILQ_FIRST(&c->desk.presence))) {
        TAILQ_REMOVE(&c->desk.presence, p, link);
        free(p);
    }
    struct gw_conv *cv, *tmp;
    TAILQ_FOREACH_SAFE(cv, &c->desk.convs, all, tmp)
    {
        if (cv->state == CS_OFFERED)
            withdraw_offer(c, cv);
        cv->held_until = 0;
    }
    if (c->desk.grace_timer)
        gw_loop_timer_cancel(c->loop, c->desk.grace_timer);
    c->desk.grace_timer = 0;
}

void gw_presence_link_up(struct gw_core *c)
{
    gw_presence_probe(c);
    int64_t wait = grace_ms(c) > LINK_GRACE_MIN_MS ? grace_ms(c) : LINK_GRACE_MIN_MS;
    int n = hold_conversations(c, NULL, wait);
    if (n)
        GW_INFO("link up: %d active conversation(s) wait up to %lld s for their counsellors", n,
                (long long)(wait / 1000));
}

void gw_presence_in(struct gw_core *c, const char *from_full, const char *to_queue,
                    const char *type, const char *show)
{
    char bare[256], res[128];
    bare_of(from_full, bare, sizeof bare, res, sizeof res);
    struct gw_presence *p, *found = NULL;
    TAILQ_FOREACH(p, &c->desk.presence, link)
    if (!strcmp(p->bare, bare) && !strcmp(p->resource, res) && !strcmp(p->queue, to_queue))
        found = p;
    int was_online = gw_counsellor_online(c, bare);
    if (type && strcmp(type, "unavailable") == 0) {
        if (found) {
            TAILQ_REMOVE(&c->desk.presence, found, link);
            free(found);
            GW_INFO("counsellor %s signed out of %s", bare, to_queue);
        }
        if (was_online && !gw_counsellor_online(c, bare))
            counsellor_gone(c, bare);
    } else {
        if (!found) {
            found = calloc(1, sizeof *found);
            if (!found)
                return;
            snprintf(found->bare, sizeof found->bare, "%s", bare);
            snprintf(found->resource, sizeof found->resource, "%s", res);
            snprintf(found->queue, sizeof found->queue, "%s", to_queue);
            TAILQ_INSERT_TAIL(&c->desk.presence, found, link);
            GW_INFO("counsellor %s signed in to %s", bare, to_queue);
        }
        if (!was_online)
            counsellor_back(c, bare);
        snprintf(found->show, sizeof found->show, "%s", show ? show : "");
    }
    for (int i = 0; i < c->desk.nqueues; i++)
        if (!strcmp(to_queue, "*") || !strcmp(c->desk.queues[i].id, to_queue))
            gw_queue_dispatch(c, c->desk.queues[i].id);
}

void gw_presence_rearm(struct gw_core *c)
{
    if (c->desk.grace_timer)
        gw_loop_timer_cancel(c->loop, c->desk.grace_timer);
    c->desk.grace_timer = 0;
    grace_check(c); /* requeues what is due now, sleeps until the next held_until */
}

void gw_presence_release(struct gw_core *c)
{
    if (c->desk.grace_timer)
        gw_loop_timer_cancel(c->loop, c->desk.grace_timer);
    c->desk.grace_timer = 0;
    struct gw_presence *p;
    while ((p = TAILQ_FIRST(&c->desk.presence))) {
        TAILQ_REMOVE(&c->desk.presence, p, link);
        free(p);
    }
}

/* queue.c — waiting lists, counsellor load, assignment (offer and pick), requeue.
 * Positions, timeouts and opening hours are in queue_time.c; presence in presence.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/calendar.h"
#include "desk/core.h"
#include "conf/i18n.h"
#include "io/log.h"
#include "io/loop.h"
#include "io/xmpp.h"

static void cancel_queue_timers(struct gw_core *c, struct gw_queue_rt *q)
{
    /* Their callbacks point at q, which is about to be freed or replaced. */
    if (q->position_timer)
        gw_loop_timer_cancel(c->loop, q->position_timer);
    if (q->hours_timer)
        gw_loop_timer_cancel(c->loop, q->hours_timer);
    q->position_timer = q->hours_timer = 0;
}

int gw_queues_init(struct gw_core *c)
{
    /* Keep waiting lists across a reload: conversations of a queue that disappeared stay
     * in memory and are served when it returns (logged). */
    struct gw_queue_rt *old = c->desk.queues;
    int nold = c->desk.nqueues;
    struct gw_queue_rt *nq = calloc((size_t)c->cfg->nqueues + (size_t)nold + 1, sizeof *nq);
    if (!nq)
        return GW_ENOMEM;
    int n = 0;
    for (int i = 0; i < c->cfg->nqueues; i++) {
        struct gw_queue_rt *q = &nq[n++];
        q->core = c;
        snprintf(q->id, sizeof q->id, "%s", c->cfg->queues[i].id);
        TAILQ_INIT(&q->waiting);
        q->positions_all = 1;
        q->open = -1;
        q->wait_ms_cache = gw_store_wait_estimate(c->store, q->id, c->cfg->wait_window);
        q->handle_ms_cache = gw_store_handle_estimate(c->store, q->id, c->cfg->wait_window);
    }
    for (int i = 0; i < nold; i++) {
        struct gw_queue_rt *o = &old[i], *q = NULL;
        cancel_queue_timers(c, o);
        for (int k = 0; k < n; k++)
            if (strcmp(nq[k].id, o->id) == 0)
                q = &nq[k];
        if (q)
            q->open = o->open; /* a reload that changes the hours is a change of state */
        if (!q && TAILQ_EMPTY(&o->waiting))
            continue;
        if (!q) {
            GW_WARN("queue '%s' was removed from the config but has waiting seekers", o->id);
            q = &nq[n++];
            q->core = c;
            snprintf(q->id, sizeof q->id, "%s", o->id);
            TAILQ_INIT(&q->waiting);
            q->open = -1;
        }
        struct gw_conv *cv;
        while ((cv = TAILQ_FIRST(&o->waiting))) {
            TAILQ_REMOVE(&o->waiting, cv, qlink);
            TAILQ_INSERT_TAIL(&q->waiting, cv, qlink);
            q->nwaiting++;
        }
    }
    free(old);
    c->desk.queues = nq;
    c->desk.nqueues = n;
    /* The opening/closing timers; at start-up this only learns whether each queue is open. */
    for (int i = 0; i < n; i++)
        gw_queue_hours(c, &nq[i]);
    return GW_OK;
}

void gw_queues_release(struct gw_core *c)
{
    for (int i = 0; i < c->desk.nqueues; i++)
        cancel_queue_timers(c, &c->desk.queues[i]);
    free(c->desk.queues);
    c->desk.queues = NULL;
    c->desk.nqueues = 0;
}

struct gw_queue_rt *gw_queue_rt(struct gw_core *c, const char *id)
{
    for (int i = 0; id && i < c->desk.nqueues; i++)
        if (strcmp(c->desk.queues[i].id, id) == 0)
            return &c->desk.queues[i];
    return NULL;
}

/* Service order: higher priority first; requeued ("front") before new ones of the same
 * priority; then first come, first served. */
static int before(const struct gw_conv *a, const struct gw_conv *b)
{
    if (a->row.priority != b->row.priority)
        return a->row.priority > b->row.priority;
    if (a->front != b->front)
        return a->front > b->front;
    return a->row.queued_at < b->row.queued_at ||
           (a->row.queued_at == b->row.queued_at && a->row.id < b->row.id);
}

void gw_queue_enqueue(struct gw_core *c, struct gw_conv *cv, int front)
{
    struct gw_queue_rt *q = gw_queue_rt(c, cv->row.queue);
    if (!q) {
        GW_WARN("conversation %s: unknown queue '%s'; using '%s'", cv->row.token, cv->row.queue,
                c->cfg->default_queue);
        snprintf(cv->row.queue, sizeof cv->row.queue, "%s", c->cfg->default_queue);
        q = gw_queue_rt(c, cv->row.queue);
        if (!q)
            return;
    }
    cv->front = front;
    /* Search from the tail: a new seeker belongs there (O(1)); only a requeue walks far. */
    struct gw_conv *it;
    TAILQ_FOREACH_REVERSE(it, &q->waiting, gw_conv_list, qlink)
    if (!before(cv, it))
        break;
    if (it)
        TAILQ_INSERT_AFTER(&q->waiting, it, cv, qlink);
    else
        TAILQ_INSERT_HEAD(&q->waiting, cv, qlink);
    if (TAILQ_NEXT(cv, qlink))
        q->positions_all = 1; /* everyone behind moved one place */
    q->nwaiting++;
}

void gw_queue_remove(struct gw_core *c, struct gw_conv *cv)
{
    if (cv->state != CS_QUEUED && cv->state != CS_OFFERED)
        return;
    struct gw_queue_rt *q = gw_queue_rt(c, cv->row.queue);
    if (!q)
        return;
    TAILQ_REMOVE(&q->waiting, cv, qlink);
    q->nwaiting--;
    q->positions_all = 1;
    if (cv->offer_timer)
        gw_loop_timer_cancel(c->loop, cv->offer_timer);
    cv->offer_timer = 0;
    free(cv->offered_to);
    cv->offered_to = NULL;
}

int gw_queue_position(struct gw_core *c, const struct gw_conv *cv)
{
    struct gw_queue_rt *q = gw_queue_rt(c, cv->row.queue);
    if (!q || (cv->state != CS_QUEUED && cv->state != CS_OFFERED))
        return 0;
    int pos = 1;
    struct gw_conv *it;
    TAILQ_FOREACH(it, &q->waiting, qlink)
    {
        if (it == cv)
            return pos;
        pos++;
    }
    return 0;
}

/* --- counsellor load --- */

int gw_counsellor_load(struct gw_core *c, const char *bare)
{
    int n = 0;
    struct gw_conv *cv;
    TAILQ_FOREACH(cv, &c->desk.convs, all)
    if ((cv->state == CS_ACTIVE && strcmp(cv->row.counsellor, bare) == 0) ||
        (cv->state == CS_OFFERED && cv->offered_to && strcmp(cv->offered_to, bare) == 0))
        n++;
    return n;
}

int gw_counsellor_capacity(struct gw_core *c, const char *bare)
{
    const struct gw_counsellor_conf *k = gw_config_counsellor(c->cfg, bare);
    return k ? k->capacity : 3;
}

/* --- assignment --- */

static int declined_by(const struct gw_conv *cv, const char *jid)
{
    if (!cv->declined)
        return 0;
    size_t n = strlen(jid);
    for (const char *p = cv->declined; (p = strstr(p, jid)); p += n)
        if ((p == cv->declined || p[-1] == ' ') && (p[n] == ' ' || !p[n]))
            return 1;
    return 0;
}

static void add_declined(struct gw_conv *cv, const char *jid)
{
    size_t old = cv->declined ? strlen(cv->declined) : 0;
    char *n = realloc(cv->declined, old + strlen(jid) + 2);
    if (!n)
        return;
    if (!old)
        n[0] = 0;
    else
        strcat(n, " ");
    strcat(n, jid);
    cv->declined = n;
}

static void offer_expired(void *arg);

static void make_offer(struct gw_core *c, struct gw_conv *cv, const char *jid,
                       const struct gw_queue_conf *qc)
{
    cv->state = CS_OFFERED;
    cv->offered_to = strdup(jid);
    gw_conv_save(c, cv);
    char waited[64], text[1024];
    const char *lang = gw_counsellor_lang(c, jid);
    gw_fmt_wait(c, lang, gw_now_ms(c) - cv->row.queued_at, waited, sizeof waited);
    const char *vars[] = {"nick", cv->nick, "queue", cv->row.queue, "waited", waited, NULL};
    gw_i18n_format(c->i18n, lang, "offer", text, sizeof text, vars);
    gw_conv_notify_counsellor(c, cv, jid, text);
    /* The timer is cancelled whenever cv leaves the offered state or is freed. */
    cv->offer_timer =
        gw_loop_timer_add(c->loop, (uint64_t)qc->offer_timeout_s * 1000, offer_expired, cv);
    gw_store_event(c->store, cv->row.id, gw_now_ms(c), "offered", jid, NULL);
}

static void offer_expired(void *arg)
{
    struct gw_conv *cv = arg;
    struct gw_core *c = cv->core;
    cv->offer_timer = 0;
    if (cv->state != CS_OFFERED)
        return;
    char jid[256];
    snprintf(jid, sizeof jid, "%s", cv->offered_to ? cv->offered_to : "");
    GW_INFO("offer of %s to %s expired", cv->row.token, jid);
    gw_conv_notify_counsellor(c, cv, jid,
                              gw_i18n_text(c->i18n, gw_counsellor_lang(c, jid), "offer_expired"));
    add_declined(cv, jid);
    free(cv->offered_to);
    cv->offered_to = NULL;
    cv->state = CS_QUEUED;
    gw_conv_save(c, cv);
    gw_queue_dispatch(c, cv->row.queue);
}

/* One counsellor of a queue as dispatch sees it.  Built once per dispatch with a single
 * pass over the open conversations, so offering costs O(conversations + counsellors), not a
 * walk of every conversation for every counsellor. */
struct slot {
    const char *jid;
    int load;    /* active + offered */
    int offered; /* has an offer pending (one at a time) */
    int cap;
    int ready;
};

static struct slot *slots_for(struct gw_core *c, const struct gw_queue_conf *qc)
{
    struct slot *sl = calloc((size_t)qc->ncounsellors + 1, sizeof *sl);
    if (!sl)
        return NULL;
    for (int i = 0; i < qc->ncounsellors; i++) {
        sl[i].jid = qc->counsellors[i];
        sl[i].cap = gw_counsellor_capacity(c, sl[i].jid);
        sl[i].ready = gw_counsellor_ready(c, sl[i].jid, qc->id);
    }
    struct gw_conv *o;
    TAILQ_FOREACH(o, &c->desk.convs, all)
    {
        const char *who = o->state == CS_ACTIVE    ? o->row.counsellor
                          : o->state == CS_OFFERED ? o->offered_to
                                                   : NULL;
        if (!who || !*who)
            continue;
        for (int i = 0; i < qc->ncounsellors; i++)
            if (!strcmp(sl[i].jid, who)) {
                sl[i].load++;
                sl[i].offered |= o->state == CS_OFFERED;
                break;
            }
    }
    return sl;
}

/* The ready counsellor with the fewest open conversations and room left, skipping those
 * who declined cv this round.  Returns an index into sl or -1. */
static int pick_counsellor(const struct slot *sl, int n, const struct gw_conv *cv)
{
    int best = -1;
    for (int i = 0; i < n; i++) {
        if (!sl[i].ready || sl[i].offered || sl[i].load >= sl[i].cap || declined_by(cv, sl[i].jid))
            continue;
        if (best < 0 || sl[i].load < sl[best].load)
            best = i;
    }
    return best;
}

void gw_queue_dispatch(struct gw_core *c, const char *queue)
{
    struct gw_queue_rt *q = gw_queue_rt(c, queue);
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, queue);
    if (!q)
        return;
    if (qc && qc->mode == GW_ASSIGN_OFFER && q->nwaiting &&
        (!qc->hours || gw_hours_is_open(qc->hours, (time_t)(gw_now_ms(c) / 1000)))) {
        int anyone = 0;
        for (int i = 0; i < qc->ncounsellors && !anyone; i++)
            anyone = gw_counsellor_ready(c, qc->counsellors[i], qc->id);
        struct slot *sl = anyone ? slots_for(c, qc) : NULL; /* nobody ready: nothing to offer */
        struct gw_conv *cv;
        if (sl)
            TAILQ_FOREACH(cv, &q->waiting, qlink)
            {
                if (cv->state != CS_QUEUED || cv->fed_busy || cv->esc_partner)
                    continue;
                int k = pick_counsellor(sl, qc->ncounsellors, cv);
                if (k < 0 && cv->declined) { /* everyone declined: start a new round */
                    free(cv->declined);
                    cv->declined = NULL;
                    k = pick_counsellor(sl, qc->ncounsellors, cv);
                }
                if (k < 0)
                    break; /* FIFO: nobody free for the head means nobody for later ones */
                make_offer(c, cv, sl[k].jid, qc);
                sl[k].load++;
                sl[k].offered = 1;
            }
        free(sl);
    }
    gw_queue_positions(c, q);
}

int gw_queue_assign(struct gw_core *c, struct gw_conv *cv, const char *jid, const char *how)
{
    if (cv->state != CS_QUEUED && cv->state != CS_OFFERED)
        return GW_EPERM;
    if (cv->state == CS_OFFERED && cv->offered_to && strcmp(cv->offered_to, jid) != 0 &&
        strcmp(how, "reassign") != 0 && strcmp(how, "take") != 0)
        return GW_EPERM;
    if (cv->state == CS_OFFERED && cv->offered_to && strcmp(cv->offered_to, jid) != 0) {
        /* Taken by someone else while offered: tell the one it was offered to. */
        gw_conv_notify_counsellor(
            c, cv, cv->offered_to,
            gw_i18n_text(c->i18n, gw_counsellor_lang(c, cv->offered_to), "offer_taken_by_other"));
    }
    gw_queue_remove(c, cv);
    int64_t now = gw_now_ms(c);
    cv->state = CS_ACTIVE;
    cv->held_until = 0;
    snprintf(cv->row.counsellor, sizeof cv->row.counsellor, "%s", jid);
    cv->row.assigned_at = now;
    cv->row.last_counsellor_at = now;
    cv->front = 0;
    free(cv->declined);
    cv->declined = NULL;
    gw_conv_save(c, cv);
    gw_store_event(c->store, cv->row.id, now, "assigned", jid, how);
    struct gw_queue_rt *q = gw_queue_rt(c, cv->row.queue);
    if (q) /* refresh the statistics the wait estimate uses */
        q->wait_ms_cache = gw_store_wait_estimate(c->store, q->id, c->cfg->wait_window);
    const char *name = gw_counsellor_name(c, jid);
    char meta[300];
    snprintf(meta, sizeof meta, "{\"type\":\"joined\",\"name\":\"%s\"}", name);
    const char *vars[] = {"name", name, NULL};
    gw_conv_tell(c, cv, "counsellor_joined", vars, meta);
    /* Give the counsellor the conversation so far: pre-chat fields and the seeker's
     * messages while waiting. */
    char text[1024];
    const char *lang = gw_counsellor_lang(c, jid);
    const char *tv[] = {"nick", cv->nick, NULL};
    gw_i18n_format(c->i18n, lang, "taken", text, sizeof text, tv);
    gw_conv_notify_counsellor(c, cv, jid, text);
    gw_router_replay_to_counsellor(c, cv, jid);
    GW_INFO("conversation %s assigned to %s (%s)", cv->row.token, jid, how);
    gw_queue_dispatch(c, cv->row.queue);
    return GW_OK;
}

void gw_queue_requeue(struct gw_core *c, struct gw_conv *cv, const char *key)
{
    if (cv->state != CS_ACTIVE)
        return;
    char old[256];
    snprintf(old, sizeof old, "%s", cv->row.counsellor);
    cv->state = CS_QUEUED;
    cv->row.counsellor[0] = 0;
    cv->held_until = 0;
    cv->last_pos = 0;
    gw_conv_save(c, cv);
    gw_store_event(c->store, cv->row.id, gw_now_ms(c), "requeued", old, key);
    if (key)
        gw_conv_tell(c, cv, key, NULL, "{\"type\":\"requeued\"}");
    gw_queue_enqueue(c, cv, 1);
    gw_queue_dispatch(c, cv->row.queue);
}

/* queue_time.c — what time does to a queue: positions told to waiting seekers and the
 * wait estimate, each conversation's time-driven transitions (unanswered, abandoned,
 * max_wait, overflow) on a deadline timer of its own, and opening hours.  The waiting lists
 * and assignment are in queue.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/calendar.h"
#include "conf/i18n.h"
#include "desk/core.h"
#include "io/log.h"
#include "io/loop.h"
#include "io/xmpp.h"

/* --- positions and wait estimates --- */

int64_t gw_queue_wait_estimate(struct gw_core *c, const char *queue, int pos)
{
    struct gw_queue_rt *q = gw_queue_rt(c, queue);
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, queue);
    if (!q || !qc)
        return -1;
    /* From recent statistics: the mean recent wait for the head of the queue, plus, for
     * each seeker ahead, the mean handle time spread over the counsellors ready now. */
    int ready = 0;
    for (int i = 0; i < qc->ncounsellors; i++)
        ready += gw_counsellor_ready(c, qc->counsellors[i], queue)
                     ? gw_counsellor_capacity(c, qc->counsellors[i])
                     : 0;
    if (q->wait_ms_cache < 0 && q->handle_ms_cache < 0)
        return -1;
    int64_t base = q->wait_ms_cache > 0 ? q->wait_ms_cache : 0;
    int64_t per = q->handle_ms_cache > 0 ? q->handle_ms_cache / (ready > 0 ? ready : 1) : base;
    return base + (int64_t)(pos - 1) * per;
}

const char *gw_fmt_wait(struct gw_core *c, const char *lang, int64_t ms, char *buf, size_t len)
{
    int64_t min = (ms + 59999) / 60000;
    char a[32], b[32];
    if (ms < 60000) {
        snprintf(buf, len, "%s", gw_i18n_text(c->i18n, lang, "wait_less_than_minute"));
    } else if (min < 60) {
        snprintf(a, sizeof a, "%lld", (long long)min);
        const char *v[] = {"minutes", a, NULL};
        gw_i18n_format(c->i18n, lang, "wait_minutes", buf, len, v);
    } else {
        snprintf(a, sizeof a, "%lld", (long long)(min / 60));
        snprintf(b, sizeof b, "%lld", (long long)(min % 60));
        const char *v[] = {"hours", a, "minutes", b, NULL};
        gw_i18n_format(c->i18n, lang, "wait_hours", buf, len, v);
    }
    return buf;
}

static void positions_due(void *arg)
{
    struct gw_queue_rt *q = arg; /* timers are cancelled before the array is replaced */
    q->position_timer = 0;
    q->positions_all = 1;
    gw_queue_positions(q->core, q);
}

/* Tell one seeker their position and the wait estimate. */
static void tell_position(struct gw_core *c, struct gw_queue_rt *q, struct gw_conv *cv, int pos,
                          int64_t now)
{
    char posb[16], wait[96], meta[160];
    snprintf(posb, sizeof posb, "%d", pos);
    int64_t est = gw_queue_wait_estimate(c, q->id, pos);
    if (est >= 0) {
        gw_fmt_wait(c, cv->row.lang, est, wait, sizeof wait);
        const char *v[] = {"position", posb, "wait", wait, NULL};
        snprintf(meta, sizeof meta, "{\"type\":\"position\",\"position\":%d,\"wait_s\":%lld}", pos,
                 (long long)(est / 1000));
        gw_conv_tell(c, cv, "queue_position", v, meta);
    } else {
        const char *v[] = {"position", posb, NULL};
        snprintf(meta, sizeof meta, "{\"type\":\"position\",\"position\":%d,\"wait_s\":null}", pos);
        gw_conv_tell(c, cv, "queue_position_unknown_wait", v, meta);
    }
    cv->last_pos = pos;
    cv->last_pos_at = now;
}

void gw_queue_positions(struct gw_core *c, struct gw_queue_rt *q)
{
    int64_t now = gw_now_ms(c), interval = (int64_t)c->cfg->position_interval_s * 1000;
    struct gw_conv *cv;
    if (!q->positions_all) {
        /* Only arrivals at the tail since the last walk: nobody else moved. */
        int pos = q->nwaiting;
        for (cv = TAILQ_LAST(&q->waiting, gw_conv_list); cv && !cv->last_pos;
             cv = TAILQ_PREV(cv, gw_conv_list, qlink), pos--)
            if (cv->row.role != 1)
                tell_position(c, q, cv, pos, now);
        return;
    }
    q->positions_all = 0;
    int64_t soonest = -1;
    int pos = 0;
    TAILQ_FOREACH(cv, &q->waiting, qlink)
    {
        pos++;
        if (pos == cv->last_pos || cv->row.role == 1)
            continue;
        /* The first position goes out at once; later changes at most once per interval. */
        if (cv->last_pos && now - cv->last_pos_at < interval) {
            int64_t due = cv->last_pos_at + interval;
            if (soonest < 0 || due < soonest)
                soonest = due;
            continue;
        }
        tell_position(c, q, cv, pos, now);
    }
    /* An update may come due before the one the timer waits for (someone told long ago
     * moved just now): wake for the earlier one. */
    if (soonest >= 0 && (!q->position_timer || soonest < q->position_at)) {
        if (q->position_timer)
            gw_loop_timer_cancel(c->loop, q->position_timer);
        q->position_timer = gw_loop_timer_add(
            c->loop, gw_clock_delay_ms(c, soonest, &q->position_at), positions_due, q);
    }
}

/* --- time-driven transitions of a conversation ---
 *
 * Each open conversation has one deadline timer, armed for the earliest of: requeue when
 * the seeker is unanswered (counsellor_timeout), close as abandoned when both sides are
 * silent (abandon_after), expire when queued too long (max_wait), overflow to a partner
 * (fed.c).  All are wall-clock deadlines (gw_now_ms), the loop's timers run on the
 * monotonic clock: the delay is the deadline minus gw_now_ms(), capped at an hour
 * (gw_clock_delay_ms), so a stepped system clock is corrected within the hour even if the
 * sweep's step detection (main.c) missed it.  The timer is armed lazily: activity only
 * moves most deadlines later, so an earlier wake-up is left alone; it re-evaluates and
 * re-arms when it fires.  Only what can make a deadline earlier re-arms at once: a state
 * change (every gw_conv_save) and a seeker's message that starts the counsellor_timeout
 * (gw_conv_touch). */

/* A transition that was due but could not be carried out (an overflow while the link is
 * down) is tried again after this long, as the sweep used to. */
#define RETRY_MS 5000

static int64_t earliest(int64_t a, int64_t b)
{
    return a < 0 ? b : b < 0 ? a : a < b ? a : b;
}

int64_t gw_queue_unanswered_due(const struct gw_core *c, const struct gw_conv *cv)
{
    if (cv->state != CS_ACTIVE || cv->row.role == 1 ||
        cv->row.last_seeker_at <= cv->row.last_counsellor_at)
        return -1;
    return cv->row.last_seeker_at + (int64_t)c->cfg->counsellor_timeout_s * 1000 + 1;
}

/* The first moment the checks of check_conv() or the overflow would act on cv (the
 * conditions there are strict: "more than", hence the + 1), or -1. */
static int64_t conv_due(struct gw_core *c, const struct gw_conv *cv, int64_t now)
{
    if (cv->row.role == 1 || cv->state == CS_CLOSED || cv->state == CS_ABANDONED ||
        cv->state == CS_EXPIRED)
        return -1; /* served by a partner: it decides; closed: nothing left to do */
    int64_t due = gw_queue_unanswered_due(c, cv);
    int64_t last = cv->row.last_seeker_at > cv->row.last_counsellor_at ? cv->row.last_seeker_at
                                                                       : cv->row.last_counsellor_at;
    due = earliest(due, last + (int64_t)gw_config_abandon_s(c->cfg, cv->channel) * 1000 + 1);
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, cv->row.queue);
    if (cv->state == CS_QUEUED && qc && qc->max_wait_s)
        due = earliest(due, cv->row.queued_at + (int64_t)qc->max_wait_s * 1000 + 1);
    return earliest(due, gw_fed_overflow_due_call(c, cv, now));
}

/* The queue's transitions of cv that are due at `now`.  Returns 1 when cv was closed (and
 * freed). */
static int check_conv(struct gw_core *c, struct gw_conv *cv, int64_t now)
{
    if (cv->row.role == 1)
        return 0; /* served by a partner: it decides about its counsellors */
    int64_t unanswered = (int64_t)c->cfg->counsellor_timeout_s * 1000;
    int64_t abandon = (int64_t)gw_config_abandon_s(c->cfg, cv->channel) * 1000;
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, cv->row.queue);
    if (cv->state == CS_ACTIVE && cv->row.last_seeker_at > cv->row.last_counsellor_at &&
        now - cv->row.last_seeker_at > unanswered) {
        GW_INFO("conversation %s unanswered by %s; requeueing", cv->row.token, cv->row.counsellor);
        gw_conv_notify_counsellor(c, cv, cv->row.counsellor,
                                  gw_i18n_text(c->i18n, gw_counsellor_lang(c, cv->row.counsellor),
                                               "conversation_requeued"));
        gw_queue_requeue(c, cv, "counsellor_left_requeued");
    } else if (now - cv->row.last_seeker_at > abandon &&
               now - cv->row.last_counsellor_at > abandon) {
        GW_INFO("conversation %s abandoned (silent for %lld s)", cv->row.token,
                (long long)(abandon / 1000));
        gw_conv_finish(c, cv, CS_ABANDONED, NULL, "closed_abandoned", "abandoned");
        return 1;
    } else if (cv->state == CS_QUEUED && qc && qc->max_wait_s &&
               now - cv->row.queued_at > (int64_t)qc->max_wait_s * 1000) {
        GW_INFO("conversation %s expired after waiting %d s", cv->row.token, qc->max_wait_s);
        gw_conv_finish(c, cv, CS_EXPIRED, NULL, "closed_by_service", "expired");
        return 1;
    }
    return 0;
}

static void conv_due_fired(void *arg);

/* Arm cv's deadline timer for `due` (-1: none).  Unless forced, an armed timer that fires
 * no later is kept. */
static void arm_at(struct gw_core *c, struct gw_conv *cv, int64_t due, int force)
{
    if (due < 0) {
        if (cv->due_timer)
            gw_loop_timer_cancel(c->loop, cv->due_timer);
        cv->due_timer = 0;
        return;
    }
    int64_t at;
    uint64_t ms = gw_clock_delay_ms(c, due, &at);
    if (!force && cv->due_timer && cv->due_at <= at)
        return;
    if (cv->due_timer)
        gw_loop_timer_cancel(c->loop, cv->due_timer);
    cv->due_timer = gw_loop_timer_add(c->loop, ms, conv_due_fired, cv);
    cv->due_at = at;
}

void gw_queue_arm(struct gw_core *c, struct gw_conv *cv)
{
    arm_at(c, cv, conv_due(c, cv, gw_now_ms(c)), 0);
}

static void conv_due_fired(void *arg)
{
    struct gw_conv *cv = arg; /* cancelled when cv is freed (conv.c conv_release) */
    struct gw_core *c = cv->core;
    cv->due_timer = 0;
    int64_t now = gw_now_ms(c);
    if (check_conv(c, cv, now))
        return;
    gw_fed_overflow_check_call(c, cv, now);
    int64_t due = conv_due(c, cv, now);
    if (due >= 0 && due <= now)
        due = now + RETRY_MS;
    arm_at(c, cv, due, 0);
}

void gw_queue_sweep(struct gw_core *c)
{
    int64_t now = gw_now_ms(c);
    struct gw_conv *cv, *tmp;
    TAILQ_FOREACH_SAFE(cv, &c->desk.convs, all, tmp)
    check_conv(c, cv, now);
}

/* --- opening hours --- */

void gw_queue_tell_closed(struct gw_core *c, struct gw_conv *cv)
{
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, cv->row.queue);
    time_t now = (time_t)(gw_now_ms(c) / 1000);
    if (!qc || !qc->hours || gw_hours_is_open(qc->hours, now))
        return;
    char when[256], meta[128];
    time_t next = gw_hours_next_open(qc->hours, now);
    if (next == (time_t)-1) {
        gw_conv_tell(c, cv, "closed_hours_never", NULL, "{\"type\":\"closed_hours\"}");
        return;
    }
    gw_hours_next_open_text(qc->hours, c->i18n, cv->row.lang, now, when, sizeof when);
    snprintf(meta, sizeof meta, "{\"type\":\"closed_hours\",\"next_open_ms\":%lld}",
             (long long)next * 1000);
    const char *v[] = {"next_open", when, NULL};
    gw_conv_tell(c, cv, "closed_hours", v, meta);
}

static void hours_due(void *arg)
{
    struct gw_queue_rt *q = arg; /* cancelled before the queue array is replaced */
    q->hours_timer = 0;
    gw_queue_hours(q->core, q);
}

/* The timer sleeps until the exact next opening or closing the calendar computes
 * (gw_hours_next_change: holidays, exceptions and DST included, as an instant), but never
 * more than an hour (gw_clock_delay_ms): a long sleep (overnight, a weekend, Easter) wakes
 * hourly, checks and sleeps again, so a stepped system clock, a test clock changed by a
 * reload, or a calendar that only changes beyond its 400-day horizon cannot leave a queue
 * in the wrong state for long.  The sweep's step detection re-arms at once. */
void gw_queue_hours(struct gw_core *c, struct gw_queue_rt *q)
{
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, q->id);
    int64_t now = gw_now_ms(c);
    time_t t = (time_t)(now / 1000);
    int open = !qc || !qc->hours || gw_hours_is_open(qc->hours, t);
    int was = q->open;
    q->open = open;
    if (q->hours_timer)
        gw_loop_timer_cancel(c->loop, q->hours_timer);
    q->hours_timer = 0;
    if (qc && qc->hours) {
        time_t next = gw_hours_next_change(qc->hours, t);
        int64_t due = next == (time_t)-1 ? now + GW_TIMER_MAX_MS : (int64_t)next * 1000;
        q->hours_timer = gw_loop_timer_add(c->loop, gw_clock_delay_ms(c, due, NULL), hours_due, q);
    }
    if (was < 0 || was == open)
        return;
    GW_INFO("queue %s %s (%d waiting)", q->id, open ? "opens" : "closes", q->nwaiting);
    if (open) {
        gw_queue_dispatch(c, q->id); /* offers go to the counsellors who are ready */
        return;
    }
    /* Closed: no new offers (gw_queue_dispatch checks the hours); offers already made stand
     * until accepted or expired.  The waiting seekers hear when it opens again, as a seeker
     * who writes now would, and overflow "when closed" becomes due. */
    struct gw_conv *cv, *tmp;
    TAILQ_FOREACH_SAFE(cv, &q->waiting, qlink, tmp)
    {
        if (cv->row.role == 0)
            gw_queue_tell_closed(c, cv);
        gw_queue_arm(c, cv);
    }
}

void gw_timers_rearm(struct gw_core *c, int clock_changed)
{
    struct gw_conv *cv;
    TAILQ_FOREACH(cv, &c->desk.convs, all)
    arm_at(c, cv, conv_due(c, cv, gw_now_ms(c)), clock_changed);
    for (int i = 0; i < c->desk.nqueues; i++) {
        struct gw_queue_rt *q = &c->desk.queues[i];
        gw_queue_hours(c, q);
        if (clock_changed) {
            if (q->position_timer)
                gw_loop_timer_cancel(c->loop, q->position_timer);
            q->position_timer = 0;
            q->positions_all = 1;
            gw_queue_positions(c, q);
        }
    }
    if (clock_changed)
        gw_presence_rearm(c);
    gw_retention_rearm(c);
}

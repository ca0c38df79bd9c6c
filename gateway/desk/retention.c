/* retention.c — the texts of closed conversations are deleted when their rule says, on a
 * timer of their own (docs/core.md, "what fires when"; docs/privacy.md, "for how long").
 *
 * The rule for a conversation (gw_config_retention_days: the partner agreement for one
 * served here for a partner, else its queue, else its channel, else the service default) is
 * applied once, at the closing: the conversation's purge_at (closed_at + the rule; NULL for
 * "keep") is written to the store in the closing's turn.  The timer then sleeps until the
 * earliest purge_at in the store (an indexed min()), deletes the texts of every
 * conversation due by then and sleeps until the next — the same after a restart, since the
 * deadlines are in the store and not in memory.  A message still in the outbox is kept and
 * its conversation tried again later: a tenth of the time since its closing, 5 s to an
 * hour (the closing's own message to the seeker is usually out within a second; a channel
 * that is down for a day is not asked every few seconds).  Retention 0 (delete at the closing)
 * is a purge_at equal to closed_at: the timer fires in the next loop turn, after the
 * closing's commit.
 *
 * When the rules change (a reload, or an upgrade from a store that had no purge_at), every
 * closed conversation that still holds content gets its purge_at again from the new rules;
 * a fingerprint of the rules in the store's kv (owner "core", key "retention_rules") says
 * whether they did, so a restart with the same config costs nothing.
 *
 * The same timer expires audit rows older than service.audit_retention_days (the oldest
 * audit row is also an indexed min()).  Runs are capped at RET_MAX_WAIT_MS apart, so a
 * suspended machine or a stepped clock is caught up within the hour even where no
 * gw_retention_rearm() came. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/core.h"
#include "io/log.h"
#include "io/loop.h"

#define RET_FIRST_MS 5000              /* the first run: off the start-up path */
#define RET_MAX_WAIT_MS (3600 * 1000)  /* a run at least hourly (a cheap min() when idle) */
#define RET_RETRY_MIN_MS 5000         /* a conversation whose message was still in the outbox: */
#define RET_RETRY_MAX_MS (3600 * 1000) /* tried again after a tenth of its time since closing */
#define RET_BATCH 500                  /* conversations per run; more: the next turn goes on */
#define DAY_MS 86400000LL

static void run(void *arg);

static void arm(struct gw_core *c, int64_t due)
{
    if (c->desk.retention_timer)
        gw_loop_timer_cancel(c->loop, c->desk.retention_timer);
    c->desk.retention_timer =
        gw_loop_timer_add(c->loop, gw_clock_delay_ms(c, due, &c->desk.retention_at), run, c);
}

static int64_t purge_at_for(const struct gw_core *c, const char *queue, const char *channel,
                            int role, const char *partner, int64_t closed_at)
{
    int d = gw_config_retention_days(c->cfg, queue, channel, role, partner, NULL);
    return d < 0 ? -1 : closed_at + (int64_t)d * DAY_MS;
}

/* The earliest of: a conversation's texts come due, the oldest audit row expires, the
 * hourly run. */
static int64_t next_due(struct gw_core *c, int64_t now)
{
    int64_t due = now + RET_MAX_WAIT_MS, p = gw_store_purge_next(c->store);
    if (p >= 0 && p < due)
        due = p;
    if (c->cfg->audit_retention_days > 0) {
        int64_t a = gw_store_audit_oldest(c->store);
        if (a >= 0 && a + (int64_t)c->cfg->audit_retention_days * DAY_MS + 1 < due)
            due = a + (int64_t)c->cfg->audit_retention_days * DAY_MS + 1;
    }
    return due;
}

struct recompute_ctx {
    struct gw_core *c;
    int64_t (*set)[2];
    size_t n, cap;
    int oom;
};

static int recompute_one(void *arg, const struct gw_purge_row *r)
{
    struct recompute_ctx *x = arg;
    int64_t at = purge_at_for(x->c, r->queue, r->channel, r->role, r->partner, r->closed_at);
    if (at == r->purge_at)
        return 0;
    if (x->n == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 256;
        int64_t(*nb)[2] = realloc(x->set, ncap * sizeof *nb);
        if (!nb) {
            x->oom = 1;
            return 1;
        }
        x->set = nb;
        x->cap = ncap;
    }
    x->set[x->n][0] = r->id;
    x->set[x->n][1] = at;
    x->n++;
    return 0;
}

/* Apply the current rules to every closed conversation with content, if they changed. */
static void recompute(struct gw_core *c)
{
    char rules[2048];
    gw_config_retention_rules(c->cfg, rules, sizeof rules);
    char *old = gw_store_kv_get(c->store, "core", "retention_rules");
    int same = old && strcmp(old, rules) == 0;
    free(old);
    if (same)
        return;
    struct recompute_ctx x = {c, NULL, 0, 0, 0};
    if (gw_store_purge_closed_each(c->store, recompute_one, &x) < 0 || x.oom) {
        GW_ERROR("retention: could not apply the new rules (%s); tried again at the next run",
                 x.oom ? "out of memory" : "store error");
        free(x.set);
        return;
    }
    int ok = 1;
    for (size_t i = 0; i < x.n && ok; i++)
        ok = gw_store_purge_set(c->store, x.set[i][0], x.set[i][1]) == GW_OK;
    free(x.set);
    if (ok && gw_store_kv_set(c->store, "core", "retention_rules", rules) == GW_OK)
        GW_INFO("retention: rules applied to %zu closed conversations (%s)", x.n, rules);
}

struct due_ctx {
    int64_t ids[RET_BATCH], closed[RET_BATCH];
    int n;
};

static int collect(void *arg, const struct gw_purge_row *r)
{
    struct due_ctx *d = arg;
    d->closed[d->n] = r->closed_at;
    d->ids[d->n++] = r->id;
    return d->n >= RET_BATCH;
}

static int64_t retry_at(int64_t now, int64_t closed_at)
{
    int64_t d = (now - closed_at) / 10;
    return now + (d < RET_RETRY_MIN_MS ? RET_RETRY_MIN_MS : d > RET_RETRY_MAX_MS ? RET_RETRY_MAX_MS : d);
}

/* Delete what is due at `now`; returns the messages deleted (or GW_EIO), *more when a full
 * batch was taken. */
static int64_t purge_due(struct gw_core *c, int64_t now, int *nconv, int *more)
{
    struct due_ctx *d = calloc(1, sizeof *d);
    *nconv = 0;
    *more = 0;
    if (!d)
        return GW_ENOMEM;
    int64_t total = 0;
    if (gw_store_purge_each(c->store, now, RET_BATCH, collect, d) < 0) {
        free(d);
        return GW_EIO;
    }
    for (int i = 0; i < d->n; i++) {
        int64_t n = gw_store_purge_conv(c->store, d->ids[i], retry_at(now, d->closed[i]));
        if (n < 0) {
            free(d);
            return GW_EIO;
        }
        total += n;
    }
    *nconv = d->n;
    *more = d->n >= RET_BATCH;
    free(d);
    return total;
}

int64_t gw_retention_run_now(struct gw_core *c, int *nconv, int64_t *naudit)
{
    int64_t now = gw_now_ms(c);
    recompute(c);
    int64_t total = 0;
    int n = 0, more = 1, rounds = 0;
    *nconv = 0;
    *naudit = 0;
    while (more && rounds++ < 10000) {
        int64_t k = purge_due(c, now, &n, &more);
        if (k < 0)
            return k;
        total += k;
        *nconv += n;
    }
    if (c->cfg->audit_retention_days > 0) {
        int64_t a =
            gw_store_audit_expire(c->store, now - (int64_t)c->cfg->audit_retention_days * DAY_MS);
        if (a < 0)
            return a;
        *naudit = a;
    }
    if (total > 0 || *nconv)
        GW_INFO("retention: deleted %lld messages of %d conversations", (long long)total, *nconv);
    if (*naudit > 0)
        GW_INFO("retention: deleted %lld audit rows older than %d days", (long long)*naudit,
                c->cfg->audit_retention_days);
    arm(c, next_due(c, now));
    return total;
}

static void run(void *arg)
{
    struct gw_core *c = arg;
    c->desk.retention_timer = 0;
    int64_t now = gw_now_ms(c);
    recompute(c);
    int n = 0, more = 0;
    int64_t k = purge_due(c, now, &n, &more);
    if (k > 0 || n)
        GW_INFO("retention: deleted %lld messages of %d conversations", (long long)k, n);
    if (c->cfg->audit_retention_days > 0) {
        int64_t a =
            gw_store_audit_expire(c->store, now - (int64_t)c->cfg->audit_retention_days * DAY_MS);
        if (a > 0)
            GW_INFO("retention: deleted %lld audit rows older than %d days", (long long)a,
                    c->cfg->audit_retention_days);
    }
    /* A failed store (k < 0) is tried again at the hourly run, not in a tight loop. */
    arm(c, k >= 0 && more ? now : (k < 0 ? now + RET_MAX_WAIT_MS : next_due(c, now)));
}

void gw_retention_start(struct gw_core *c)
{
    arm(c, gw_now_ms(c) + RET_FIRST_MS);
}

void gw_retention_closed(struct gw_core *c, const struct gw_conv *cv)
{
    int64_t at = purge_at_for(c, cv->row.queue, cv->channel, cv->row.role, cv->row.partner,
                              cv->row.closed_at);
    if (gw_store_purge_set(c->store, cv->row.id, at) < 0 || at < 0)
        return;
    /* Due before the timer: it is brought forward (0 = the next turn, after this commit). */
    if (!c->desk.retention_timer || at < c->desk.retention_at)
        arm(c, at);
}

void gw_retention_late_content(struct gw_core *c, const struct gw_conv_row *r)
{
    if (!r->closed_at || (strcmp(r->state, "closed") && strcmp(r->state, "abandoned") &&
                          strcmp(r->state, "expired")))
        return; /* open: its closing sets the deadline */
    struct gw_seeker_row sk;
    memset(&sk, 0, sizeof sk);
    gw_store_seeker_get(c->store, r->seeker_id, &sk);
    int64_t at = purge_at_for(c, r->queue, sk.channel, r->role, r->partner, r->closed_at);
    if (at < 0 || gw_store_purge_set(c->store, r->id, at) < 0)
        return;
    if (!c->desk.retention_timer || at < c->desk.retention_at)
        arm(c, at);
}

void gw_retention_rearm(struct gw_core *c)
{
    /* A reload may have changed the rules: the next run applies them (recompute); a clock
     * change moves every deadline, so the timer is armed anew from the store. */
    arm(c, gw_now_ms(c));
}

void gw_retention_release(struct gw_core *c)
{
    if (c->desk.retention_timer)
        gw_loop_timer_cancel(c->loop, c->desk.retention_timer);
    c->desk.retention_timer = 0;
}

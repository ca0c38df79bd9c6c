/* retention.c — the texts of closed conversations are deleted retention_days after they
 * closed, on a timer of their own (docs/core.md, "what fires when").
 *
 * Every closing seen by this process is remembered as a cut-off (closed_at + 1 ms) in a
 * ring, oldest first; the timer sleeps until the oldest cut-off plus retention_days, runs
 * gw_store_retention() (which deletes everything closed before now - retention_days, so
 * one run covers every conversation due by then) and sleeps until the next.  Closings less
 * than a second apart share one entry (the earliest of them is deleted at most a second
 * late), so the ring holds at most one entry per second with a closing in it; past
 * RET_MAX entries newer closings are folded into the newest entry.
 *
 * Conversations closed before this process started are not in the ring: the first run,
 * 5 s after start-up, deletes those already due, and an hourly run the ones that come due
 * later (at most an hour late).  Exact for those as well would need the store to say when
 * the oldest closed conversation that still has messages closed; see docs/core.md. */
#include <stdlib.h>

#include "desk/core.h"
#include "io/log.h"
#include "io/loop.h"

#define RET_FIRST_MS 5000             /* the first run: off the start-up path */
#define RET_FALLBACK_MS (3600 * 1000) /* the hourly run for what the ring does not know */
#define RET_BUCKET_MS 1000
#define RET_MAX 65536 /* 512 KiB at most */

static int64_t retention_ms(const struct gw_core *c)
{
    return (int64_t)c->cfg->retention_days * 86400000;
}

static void run(void *arg);

static void arm(struct gw_core *c, int64_t due)
{
    if (c->retention_timer)
        gw_loop_timer_cancel(c->loop, c->retention_timer);
    c->retention_timer =
        gw_loop_timer_add(c->loop, gw_clock_delay_ms(c, due, &c->retention_at), run, c);
}

/* The earliest of: the oldest remembered closing comes due, the hourly run. */
static int64_t next_due(const struct gw_core *c)
{
    int64_t due = c->last_retention_ms + RET_FALLBACK_MS;
    if (c->ret_n && c->ret_cut[c->ret_head] + retention_ms(c) < due)
        due = c->ret_cut[c->ret_head] + retention_ms(c);
    return due;
}

static void run(void *arg)
{
    struct gw_core *c = arg;
    c->retention_timer = 0;
    if (!c->cfg->retention_days)
        return;
    int64_t now = gw_now_ms(c), cutoff = now - retention_ms(c);
    c->last_retention_ms = now;
    int64_t n = gw_store_retention(c->store, cutoff);
    if (n > 0)
        GW_INFO("retention: deleted %lld messages older than %d days", (long long)n,
                c->cfg->retention_days);
    while (c->ret_n && c->ret_cut[c->ret_head] <= cutoff) {
        c->ret_head = (c->ret_head + 1) % c->ret_cap;
        c->ret_n--;
    }
    arm(c, next_due(c));
}

void gw_retention_start(struct gw_core *c)
{
    c->last_retention_ms = 0;
    if (c->cfg->retention_days)
        arm(c, gw_now_ms(c) + RET_FIRST_MS);
}

static int push(struct gw_core *c, int64_t cut)
{
    if (c->ret_n == c->ret_cap) {
        size_t ncap = c->ret_cap ? c->ret_cap * 2 : 64;
        int64_t *nr = malloc(ncap * sizeof *nr);
        if (!nr)
            return -1;
        for (size_t i = 0; i < c->ret_n; i++)
            nr[i] = c->ret_cut[(c->ret_head + i) % c->ret_cap];
        free(c->ret_cut);
        c->ret_cut = nr;
        c->ret_cap = ncap;
        c->ret_head = 0;
    }
    c->ret_cut[(c->ret_head + c->ret_n) % c->ret_cap] = cut;
    c->ret_n++;
    return 0;
}

void gw_retention_closed(struct gw_core *c, int64_t closed_at)
{
    if (!c->cfg->retention_days)
        return;
    int64_t cut = closed_at + 1;
    int64_t *tail = c->ret_n ? &c->ret_cut[(c->ret_head + c->ret_n - 1) % c->ret_cap] : NULL;
    if (tail && cut <= *tail)
        return; /* the clock went back: deleted with the newer entry, late by the step */
    if (tail && (closed_at - c->ret_tail_first < RET_BUCKET_MS || c->ret_n >= RET_MAX)) {
        *tail = cut;
    } else if (push(c, cut) == 0) {
        c->ret_tail_first = closed_at;
    } else if (tail) {
        *tail = cut; /* no memory for another entry: later, not never */
    }
    if (!c->retention_timer || next_due(c) < c->retention_at)
        arm(c, next_due(c));
}

void gw_retention_rearm(struct gw_core *c)
{
    if (!c->cfg->retention_days) {
        if (c->retention_timer)
            gw_loop_timer_cancel(c->loop, c->retention_timer);
        c->retention_timer = 0;
        c->ret_n = 0;
        return;
    }
    int64_t now = gw_now_ms(c);
    if (c->last_retention_ms > now) /* the clock went back: the hourly run counts from now */
        c->last_retention_ms = now;
    arm(c, next_due(c));
}

void gw_retention_release(struct gw_core *c)
{
    if (c->retention_timer)
        gw_loop_timer_cancel(c->loop, c->retention_timer);
    c->retention_timer = 0;
    free(c->ret_cut);
    c->ret_cut = NULL;
    c->ret_n = c->ret_cap = c->ret_head = 0;
}

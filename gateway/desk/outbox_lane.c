/* outbox_lane.c — per-seeker order in the outbox.
 *
 * A lane is what one conversation has waiting for one channel: the ids of its unfinished
 * outbox rows, oldest first.  The rule the outbox keeps with it: a later message to a seeker
 * never overtakes an earlier one that is still undelivered.  Only the head of a lane is
 * handed to its plugin; the rest wait, whatever their own next_at says, until the head is
 * finished (delivered, or failed for good) — then the next becomes the head at once.
 * Plugins that declare GW_PLUGIN_F_PIPELINE (the e-mail plugin batches a conversation's
 * lines into one mail) may be handed a row while every earlier row of its lane is in their
 * hands, because they finish them in order and fail them together.
 *
 * Lanes live in memory (one small map entry per conversation with something waiting) and are
 * rebuilt from the outbox table at start-up and after a rolled-back turn. */
#include <stdlib.h>
#include <string.h>

#include "desk/core.h"
#include "io/hashmap.h"
#include "desk/outbox_int.h"

struct gw_lane {
    int64_t *ids; /* unfinished rows, ascending */
    size_t n, cap;
    int64_t retry_at; /* rows of the lane that fail together retry together */
};

/* "target\n<conv id>", written by hand: this runs a few times for every message to a
 * channel (the delivery path avoids the format parser; see gw_copy in core.h). */
static void lane_key(const char *target, int64_t conv_id, char key[64])
{
    size_t n = strnlen(target, 31);
    memcpy(key, target, n);
    key[n++] = '\n';
    char digits[21];
    int d = 0;
    uint64_t v = conv_id < 0 ? 0 : (uint64_t)conv_id;
    do
        digits[d++] = (char)('0' + v % 10);
    while ((v /= 10) && d < 20);
    while (d)
        key[n++] = digits[--d];
    key[n] = 0;
}

static struct gw_lane *lane_get(struct gw_core *c, const char *target, int64_t conv_id)
{
    if (!c->outbox.lanes)
        return NULL;
    char key[64];
    lane_key(target, conv_id, key);
    return gw_map_get(c->outbox.lanes, key);
}

static int free_lane(void *arg, const char *key, void *value)
{
    (void)arg;
    (void)key;
    struct gw_lane *l = value;
    free(l->ids);
    free(l);
    return 0;
}

void gw_lanes_free(struct gw_core *c)
{
    if (c->outbox.lanes)
        gw_map_each(c->outbox.lanes, free_lane, NULL);
    gw_map_free(&c->outbox.lanes);
}

int gw_lane_add(struct gw_core *c, const char *target, int64_t conv_id, int64_t id)
{
    if (!c->outbox.lanes && !(c->outbox.lanes = gw_map_new()))
        return -1;
    char key[64];
    lane_key(target, conv_id, key);
    struct gw_lane *l = gw_map_get(c->outbox.lanes, key);
    if (!l) {
        if (!(l = calloc(1, sizeof *l)))
            return -1;
        if (gw_map_set(c->outbox.lanes, key, l) < 0) {
            free(l);
            return -1;
        }
    }
    if (l->n && l->ids[l->n - 1] >= id) /* ids grow; a duplicate add is ignored */
        return 0;
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 4;
        int64_t *ni = realloc(l->ids, ncap * sizeof *ni);
        if (!ni)
            return -1;
        l->ids = ni;
        l->cap = ncap;
    }
    l->ids[l->n++] = id;
    return 0;
}

int gw_lane_done(struct gw_core *c, const char *target, int64_t conv_id, int64_t id)
{
    struct gw_lane *l = lane_get(c, target, conv_id);
    if (!l)
        return 0;
    size_t i = 0;
    while (i < l->n && l->ids[i] != id)
        i++;
    if (i == l->n)
        return l->n > 0;
    memmove(l->ids + i, l->ids + i + 1, (l->n - i - 1) * sizeof *l->ids);
    l->n--;
    if (l->n)
        return 1;
    char key[64];
    lane_key(target, conv_id, key);
    gw_map_del(c->outbox.lanes, key);
    free_lane(NULL, key, l);
    return 0;
}

int gw_lane_may_deliver(struct gw_core *c, const char *target, int64_t conv_id, int64_t id,
                        int (*in_flight)(struct gw_core *c, int64_t outbox_id))
{
    struct gw_lane *l = lane_get(c, target, conv_id);
    if (!l || !l->n || l->ids[0] >= id)
        return 1; /* the head (or not tracked: no memory when it was added; deliver rather
                     than stall) */
    if (!gw_channel_pipelined(c, target))
        return 0;
    for (size_t i = 0; i < l->n && l->ids[i] < id; i++)
        if (!in_flight(c, l->ids[i]))
            return 0;
    return 1;
}

int64_t gw_lane_retry_at(struct gw_core *c, const char *target, int64_t conv_id, int64_t now,
                         int64_t wait)
{
    struct gw_lane *l = lane_get(c, target, conv_id);
    if (!l)
        return now + wait;
    if (l->retry_at <= now)
        l->retry_at = now + wait;
    return l->retry_at;
}

struct rebuild_ctx {
    struct gw_core *c;
    const struct gw_ack *skip; /* recorded as finished, waiting for the next commit */
    size_t nskip;
};

static int rebuild_one(void *arg, const struct gw_outbox_row *r)
{
    struct rebuild_ctx *x = arg;
    for (size_t i = 0; i < x->nskip; i++)
        if (x->skip[i].outbox_id == r->id)
            return 0;
    gw_lane_add(x->c, r->target, r->conv_id, r->id);
    return 0;
}

void gw_lanes_rebuild(struct gw_core *c)
{
    gw_lanes_free(c);
    struct rebuild_ctx x = {c, c->outbox.acked, c->outbox.nacked};
    gw_store_outbox_each_channel(c->store, rebuild_one, &x);
}

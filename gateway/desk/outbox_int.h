/* outbox_int.h — private to the outbox (outbox.c, outbox_lane.c): the lanes that keep a
 * conversation's messages to its channel in order.  See outbox_lane.c. */
#ifndef GW_OUTBOX_INT_H
#define GW_OUTBOX_INT_H

#include <stddef.h>
#include <stdint.h>

struct gw_core;

/* Track row `id` (channel `target`, conversation conv_id) as unfinished.  Ids must grow per
 * lane (the outbox's counter guarantees it).  0, or -1 when memory runs out (the row is then
 * not held back: order is kept as long as memory is). */
int gw_lane_add(struct gw_core *c, const char *target, int64_t conv_id, int64_t id);
/* Row `id` is finished (delivered or failed for good).  Returns 1 when its lane still has
 * rows waiting (the caller wakes them), else 0. */
int gw_lane_done(struct gw_core *c, const char *target, int64_t conv_id, int64_t id);
/* May row `id` be handed to its plugin now?  Yes when it is the oldest unfinished row of its
 * lane, or, for a pipelined plugin (gw_channel_pipelined, host.c), when every older row is in flight
 * (in_flight says). */
int gw_lane_may_deliver(struct gw_core *c, const char *target, int64_t conv_id, int64_t id,
                        int (*in_flight)(struct gw_core *c, int64_t outbox_id));
/* When a failed row of this lane is retried: rows failing within one outage share the first
 * one's time, so they are handed over again together and in order. */
int64_t gw_lane_retry_at(struct gw_core *c, const char *target, int64_t conv_id, int64_t now,
                         int64_t wait);
/* Forget every lane and read them again from the outbox table, leaving out rows recorded as
 * finished but not yet committed (c->outbox.acked). */
void gw_lanes_rebuild(struct gw_core *c);
void gw_lanes_free(struct gw_core *c);

#endif

/* privacy.h — erasing one seeker (GDPR art. 17) across the desk's memory, the store and the
 * partners that hold an escalated copy.  Called by skagerrakctl erase-seeker (ctl/), the web
 * chat's "delete this conversation now" (host/ for the plugin) and a partner's erase request
 * (fed/).  docs/erasure.md describes what goes and what stays. */
#ifndef GW_DESK_PRIVACY_H
#define GW_DESK_PRIVACY_H

#include <stdint.h>

#include "store/store_privacy.h"

struct gw_core;

enum {
    GW_ERASE_DRY_RUN = 1,     /* count only: nothing changes, nobody is asked */
    GW_ERASE_NO_PARTNERS = 2, /* the request came from a partner: ask nobody further */
};

/* Erase seeker `seeker_id` in this turn's transaction: their open conversations are closed
 * (in memory too; no closing text is sent, it would be one more message to erase), the
 * store erases (gw_store_privacy_erase), every partner that got an escalated copy is sent
 * an erase request through the durable outbox (target "fed", retried across outages and
 * restarts; the answer is an event "partner-erased" / "partner-erase-refused"), the
 * channel plugins are told to forget the conversations' sessions (gw_channel_ops.forget),
 * and after the commit the write-ahead log is truncated (gw_store_scrub).  `actor` is
 * recorded in the "erased" events.  *partners (may be NULL) gets the number of partners
 * asked.  GW_OK or GW_EIO (the turn's writes are then rolled back). */
int gw_privacy_erase(struct gw_core *c, int64_t seeker_id, const char *actor, int flags,
                     struct gw_erase_counts *n, int *partners);

/* Erase requests still waiting for a partner's answer (for skagerrakctl status and
 * erase-pending): see gw_store_privacy_erase_pending. */
int gw_privacy_erase_pending(struct gw_core *c,
                             int (*cb)(void *arg, const char *partner, int64_t asked_at,
                                       int attempts, const char *last_error),
                             void *arg);

#endif

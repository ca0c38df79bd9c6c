/* fed.h — federation: the gateway-to-gateway protocol (urn:skagerrak:fed:1) for escalation,
 * shared queues and overflow between agencies (docs/federation.md). */
#ifndef GW_FED_H
#define GW_FED_H

#include <strophe.h>

#include "host/plugin_api.h"

struct gw_core;
struct gw_conv;

#define GW_NS_FED "urn:skagerrak:fed:1"
/* The erase request, a versioned extension of the protocol (fed_erase.c). */
#define GW_NS_FED_ERASE "urn:skagerrak:fed:erase:1"
/* GW_FED_CHANNEL, the pseudo-channel federation serves, is in desk/core.h. */

/* Create the federation state and register its services with the desk (c->fed_ops). */
int gw_fed_init(struct gw_core *c);
void gw_fed_release(struct gw_core *c);
/* An IQ with our namespace, or a result/error to one of our requests.  1 = handled. */
int gw_fed_iq(struct gw_core *c, xmpp_stanza_t *st);
/* The outbox delivers an item of a federated conversation (relay to the partner).
 * Returns GW_PENDING (the partner's answer completes it), or an error. */
int gw_fed_deliver(struct gw_core *c, const struct gw_msg *m, char *err, size_t errlen);
/* Commands: "!escalate <partner> [note]", partner part of "!queue", "!take <domain>:<conv>". */
void gw_fed_cmd_escalate(struct gw_core *c, const char *from_full, struct gw_conv *cv,
                         const char *args);
void gw_fed_cmd_queue(struct gw_core *c, const char *from_full, const char *to_local);
void gw_fed_cmd_take(struct gw_core *c, const char *from_full, const char *to_local,
                     const char *target);
/* A seeker's message arrived in a conversation waiting for their consent answer.
 * Returns 1 when the text was a yes/no answer (it is still stored as a message). */
int gw_fed_consent_answer(struct gw_core *c, struct gw_conv *cv, const char *body);
/* Overflow to partners: when cv is due to go to its next overflow_to partner (gw_now_ms
 * time): `now` while its queue is closed, queued_at + overflow_after otherwise; -1 when it
 * will not (not waiting, a request in flight, no partner left).  The conversation's
 * deadline timer (queue.c) wakes then and calls gw_fed_overflow_check. */
int64_t gw_fed_overflow_due(struct gw_core *c, const struct gw_conv *cv, int64_t now);
/* Send cv to its next overflow partner if that is due. */
void gw_fed_overflow_check(struct gw_core *c, struct gw_conv *cv, int64_t now);
/* The safety net (every 5 s): gw_fed_overflow_check for every conversation. */
void gw_fed_sweep(struct gw_core *c);

#endif

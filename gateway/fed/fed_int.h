/* fed_int.h — private to federation (fed.c, fed_serve.c, fed_queue.c): the helpers they share.
 * Nothing else includes it. */
#ifndef GW_FED_INT_H
#define GW_FED_INT_H

#include <stddef.h>
#include <strophe.h>

#include "desk/core.h"

/* --- our requests to partners (fed.c) --- */

enum pend_kind { P_ESCALATE, P_RELAY, P_QUEUE, P_TAKE, P_ERASE };

struct pend {
    char id[48];
    enum pend_kind kind;
    struct gw_core *c;
    char conv[24];       /* our conversation token */
    int64_t msg_id;      /* relay: the message being delivered */
    char requester[400]; /* counsellor full JID to report to */
    char partner[256];
    int overflow; /* escalation started by overflow, not a counsellor */
    int closing;  /* relay: a kind="closed" relay */
    int confirms; /* relay: our counsellor's text; the partner's result is its confirmation */
    uint64_t timer;
    struct pend *next;
};

/* Send an IQ set/get with `payload` (consumed) to a partner gateway and remember what it was
 * for; the answer or a timeout goes to fed.c on_result.  NULL when it could not be sent. */
struct pend *gw_fed_i_send_iq(struct gw_core *c, const char *type, const char *partner,
                              xmpp_stanza_t *payload, enum pend_kind kind);
/* Ask partner pc to take cv (overflow = 1: an overflow, not a counsellor's escalation): the
 * request carries the fields pc may see, the note, and the transcript when `transcript` and
 * pc's agreement allows it.  `requester` (full JID, may be NULL) is told when the request
 * cannot be sent, and of the answer later (on_result). */
void gw_fed_i_escalate_now(struct gw_core *c, struct gw_conv *cv, const struct gw_partner_conf *pc,
                           const char *note, int transcript, const char *requester, int overflow);
/* The catalogue text `key` in the language of counsellor `jid`. */
const char *gw_fed_i_text(struct gw_core *c, const char *jid, const char *key);
/* A chat message from the gateway domain to a counsellor's full JID (nothing if empty). */
void gw_fed_i_tell_counsellor(struct gw_core *c, const char *to_full, const char *text);
/* The bare JID of `full` (may be NULL: "") into bare. */
void gw_fed_i_bare_of(const char *full, char *bare, size_t len);

/* --- stanza helpers (fed.c) --- */

/* A new element `name` (namespace ns, or none if NULL); the caller owns the reference. */
xmpp_stanza_t *gw_fed_i_el(xmpp_ctx_t *ctx, const char *name, const char *ns);

/* Append <name>text</name> to parent (NULL text gives an empty element). */
void gw_fed_i_add_text(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *text);

/* The text of st's child `name`, or NULL; free it with xmpp_free(ctx, ...). */
char *gw_fed_i_child_text(xmpp_stanza_t *st, const char *name);

/* The display name that may cross to a partner, written to buf (len bytes) and returned:
 * an e-mail address or phone number is reduced to a hint, never sent whole. */
const char *gw_fed_i_cross_display(const char *display, char *buf, size_t len);

/* The fields of a conversation's meta (JSON) that pc's agreement lets cross, as compact
 * JSON ("{}" when none); the caller frees it with free().  NULL on allocation failure. */
char *gw_fed_i_allowed_fields(const struct gw_partner_conf *pc, const char *meta);

/* Home side: `partner` took cv (its conversation their_conv): cv leaves our queue, becomes
 * active with role 1, is saved, the seeker and `requester` (a full JID, may be NULL) are
 * told, and the queue is dispatched again. */
void gw_fed_i_served_by_partner(struct gw_core *c, struct gw_conv *cv, const char *partner,
                                const char *their_conv, const char *requester);

/* --- partners' requests (fed_serve.c) --- */

/* Answer iq with an error of `type` and defined condition `cond`; `why` is only logged. */
void gw_fed_i_refuse(struct gw_core *c, xmpp_stanza_t *iq, const char *type, const char *cond,
                     const char *why);

/* Serving side: the conversation (role 2) for a seeker of pc's conversation their_conv, opened
 * in `queue` if it does not exist yet (a retried request gets the same one).  NULL when the
 * store or the router fails. */
struct gw_conv *gw_fed_i_open_serving(struct gw_core *c, const struct gw_partner_conf *pc,
                                      const char *their_conv, const char *lang, const char *channel,
                                      const char *display, const char *fields, const char *queue);

/* Handle a configured partner's request iq, whose fed payload is e / r / t; each answers the
 * IQ (result or error) itself. */
void gw_fed_i_on_escalate(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *e,
                          const struct gw_partner_conf *pc);
void gw_fed_i_on_relay(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *r,
                       const struct gw_partner_conf *pc);
void gw_fed_i_on_queue_query(struct gw_core *c, xmpp_stanza_t *iq,
                             const struct gw_partner_conf *pc);
void gw_fed_i_on_take(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *t,
                      const struct gw_partner_conf *pc);

/* --- erase requests (fed_erase.c) --- */

/* 1 when outbox item m is an erase request (a "sys" message with meta type fed-erase). */
int gw_fed_i_is_erase(const struct gw_msg *m);
/* Send it: GW_PENDING (gw_fed_i_erase_result completes it) or an error with err filled. */
int gw_fed_i_erase_deliver(struct gw_core *c, const struct gw_msg *m, char *err, size_t errlen);
/* The partner's answer to P_ERASE request p: ok, or the error condition (NULL: no answer). */
void gw_fed_i_erase_result(struct gw_core *c, struct pend *p, const char *cond, int ok);
/* A partner asks us to erase our copy of a conversation (payload e). */
void gw_fed_i_on_erase(struct gw_core *c, xmpp_stanza_t *iq, xmpp_stanza_t *e,
                       const struct gw_partner_conf *pc);
/* Note that something for a partner waits to be retried (fed.c partner_back wakes it). */
void gw_fed_i_defer(struct gw_core *c);

#endif

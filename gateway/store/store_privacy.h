/* store_privacy.h — a seeker's rights over what the store holds (GDPR art. 15 and 17):
 * find one seeker, export everything stored about them as one JSON document, and erase it
 * while keeping the anonymous statistics (docs/erasure.md says what goes and what stays).
 *
 * These run inside the daemon, on its one connection, in a loop turn (skagerrakctl
 * export-seeker / erase-seeker, the web chat's "delete this conversation now", a partner's
 * erase request).  The erase writes in the turn's transaction like every other write: the
 * caller commits (gw_store_commit) and then calls gw_store_scrub() so no old page image
 * survives in the write-ahead log. */
#ifndef GW_STORE_PRIVACY_H
#define GW_STORE_PRIVACY_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"

/* Find the seeker.  Each returns the seeker id (> 0), GW_ENOTFOUND when nothing is stored,
 * or GW_EIO.  An erased seeker is not found by its old address (it no longer has one). */
int64_t gw_store_privacy_by_address(struct gw_store *s, const char *channel, const char *address);
/* By conversation token, or conversation JID ("token@domain/res": the part before '@'). */
int64_t gw_store_privacy_by_conv(struct gw_store *s, const char *token_or_jid);
/* By web chat session id: the session rows a plugin keeps in the kv table (owner = the
 * plugin, value a JSON object with "sid" and "conv", the conversation token). */
int64_t gw_store_privacy_by_session(struct gw_store *s, const char *sid);

/* Everything stored about seeker `id`, a new JSON object (json_decref it), NULL on error:
 *   {"seeker":{channel, address, display, lang, blocked, created, ...},
 *    "conversations":[{token, queue, lang, state, times, outcome, meta, partner, role,
 *                      "messages":[{id, dir, body, created, state, error}],
 *                      "events":[{at, kind, actor, detail}], "feedback":{rating, comment}}],
 *    "consent":[{conv, at, answer}], "partners":[{partner, conv, partner_ref, role}],
 *    "sessions":[{owner, sid, conv, created, expires}],
 *    "plugin_data":[{owner, key, value}]}   (plugin rows keyed by a conversation token)
 * Protocol bookkeeping ("sys" messages) is left out: it carries no text of the seeker. */
json_t *gw_store_privacy_export(struct gw_store *s, int64_t seeker_id);

/* What an erase removed (or, with dry_run, would remove). */
struct gw_erase_counts {
    long long conversations; /* conversation rows made anonymous (kept for statistics) */
    long long messages, dedup, outbox, events, feedback, sessions;
    long long in_flight; /* outbox rows to the seeker's channel not yet delivered */
};

/* Count the seeker's messages still on their way to the seeker (channel outbox rows). */
long long gw_store_privacy_in_flight(struct gw_store *s, int64_t seeker_id);

/* The conversation tokens of a seeker (for the caller to close open ones in memory and to
 * tell partners).  cb gets each row; returns the number or GW_EIO. */
int gw_store_privacy_convs(struct gw_store *s, int64_t seeker_id,
                           int (*cb)(void *arg, const struct gw_conv_row *c), void *arg);

/* Erase seeker `id` in the current transaction: message texts, dedup keys, outbox rows
 * (channel and xmpp rows naming the conversations), plugins' kv rows of the conversations
 * (a JSON value with "conv": token, or a key containing the token), feedback
 * comments, event details; the seeker row loses its address (a random placeholder keeps
 * UNIQUE(channel, address) and the statistics), display name and block reason; each
 * conversation row loses its token (replaced by a random one: the old JID no longer leads
 * here), meta and partner_ref, and gets an "erased" event with `actor` at `now_ms`.  Statistics stay:
 * times, queue, state, outcome, transfers, partner, ratings.  With dry_run nothing is
 * written, only counted.  GW_OK or GW_EIO (the turn is then doomed, see store.h). */
int gw_store_privacy_erase(struct gw_store *s, int64_t seeker_id, const char *actor,
                           int64_t now_ms, int dry_run, struct gw_erase_counts *n);

/* Erase requests to partners still waiting in the outbox (target "fed", a "sys" message
 * whose meta is {"type":"fed-erase",...}): cb gets the partner, when it was asked (ms), the
 * attempts so far and the last error ("" none).  Returns the number or GW_EIO. */
int gw_store_privacy_erase_pending(struct gw_store *s,
                                   int (*cb)(void *arg, const char *partner, int64_t asked_at,
                                             int attempts, const char *last_error),
                                   void *arg);

/* After the commit of an erase: copy the write-ahead log into the database and truncate it
 * to zero bytes (SQLITE_CHECKPOINT_TRUNCATE), so the old page images of erased rows are
 * gone from the -wal file too.  Deleted rows are overwritten in the database file itself
 * because the store runs with PRAGMA secure_delete=ON.  GW_OK, or GW_EAGAIN (a transaction is open)
 * / GW_EIO. */
int gw_store_scrub(struct gw_store *s);

#endif

/* store.h — the durable store: SQLite (WAL), numbered migrations, prepared statements.
 *
 * Rule: store first, then acknowledge or send.  Writes made during a loop turn share one
 * transaction, committed at the end of the turn (gw_store_commit); a caller that is about
 * to acknowledge something to the outside world commits at once (gw_store_commit too). */
#ifndef GW_STORE_H
#define GW_STORE_H

#include <stddef.h>
#include <stdint.h>

struct gw_store;

/* Open (creating when absent, mode 0600) and migrate.  NULL with err on failure: a
 * read-only file, a corrupt database or a newer schema each get a clear message. */
struct gw_store *gw_store_open(const char *path, char *err, size_t errlen);
/* Commit what is pending and close.  NULL-safe; sets *sp = NULL. */
void gw_store_close(struct gw_store **sp);
/* The schema version after migrations. */
int gw_store_version(struct gw_store *s);
/* Commit the open transaction, if any.  Returns 0 or GW_EIO. */
int gw_store_commit(struct gw_store *s);
/* 1 when the last operation hit an I/O error (for /health). */
int gw_store_failed(struct gw_store *s);
/* True while writes are waiting for gw_store_commit(). */
int gw_store_dirty(const struct gw_store *s);
/* True once a write or the commit of the current turn failed (disk full, I/O error): the
 * transaction has been rolled back, gw_store_commit() answers GW_EIO and every write is
 * refused (GW_EIO) until gw_store_recover().  Reads see what is committed.  The core calls
 * gw_store_recover() at the end of the turn, after it has brought its memory back in line
 * with the store (turn.c); the next write then starts a new transaction. */
int gw_store_doomed(const struct gw_store *s);
void gw_store_recover(struct gw_store *s);

/* Key/value per owner.  kv_get returns malloc'd or NULL. */
char *gw_store_kv_get(struct gw_store *s, const char *owner, const char *key);
int gw_store_kv_set(struct gw_store *s, const char *owner, const char *key, const char *value);
int gw_store_kv_del(struct gw_store *s, const char *owner, const char *key);

/* Seekers. */
struct gw_seeker_row {
    int64_t id;
    char channel[32];
    char address[256];
    char display[64];
    char lang[4];
    int blocked;
    int history_ok;
};
/* Find or create the seeker (channel, address).  Returns id > 0 or negative. */
int64_t gw_store_seeker_upsert(struct gw_store *s, const char *channel, const char *address,
                               const char *display, const char *lang);
int gw_store_seeker_get(struct gw_store *s, int64_t id, struct gw_seeker_row *out);
int gw_store_seeker_find(struct gw_store *s, const char *channel, const char *address,
                         struct gw_seeker_row *out);
int gw_store_seeker_block(struct gw_store *s, int64_t id, int blocked, const char *why);
int gw_store_seeker_history_ok(struct gw_store *s, int64_t id, int ok);

/* Conversations.  States: queued offered active closed abandoned expired. */
struct gw_conv_row {
    int64_t id;
    char token[24];
    int64_t seeker_id;
    char queue[64];
    char lang[4];
    char state[16];
    char counsellor[256];
    int priority;
    int64_t created, queued_at, assigned_at, closed_at;
    int64_t last_seeker_at, last_counsellor_at;
    char outcome[64];
    int transfers;
    char meta[512];       /* pre-chat form as JSON ({"fields":{...}}); longer forms are not kept */
    char partner[256];    /* federation: partner domain serving or homing this conversation */
    char partner_ref[64]; /* federation: the peer's conversation token */
    int role;             /* 0 local, 1 home (served by partner), 2 serving (homed at partner) */
};
int64_t gw_store_conv_insert(struct gw_store *s, const struct gw_conv_row *c);
/* Persist the mutable fields (state, counsellor, queue, times, outcome, transfers, lang,
 * partner fields) of an existing row. */
int gw_store_conv_update(struct gw_store *s, const struct gw_conv_row *c);
/* Persist only last_seeker_at and last_counsellor_at (the per-message update). */
int gw_store_conv_touch(struct gw_store *s, const struct gw_conv_row *c);
int gw_store_conv_by_token(struct gw_store *s, const char *token, struct gw_conv_row *out);
int gw_store_conv_by_id(struct gw_store *s, int64_t id, struct gw_conv_row *out);
/* Call cb for every conversation not closed (start-up).  cb returns non-zero to stop. */
int gw_store_conv_open_each(struct gw_store *s, int (*cb)(void *arg, const struct gw_conv_row *c),
                            void *arg);
/* Earlier closed conversations of a seeker, newest first, at most `limit`. */
int gw_store_conv_history(struct gw_store *s, int64_t seeker_id, int64_t except_id, int limit,
                          int (*cb)(void *arg, const struct gw_conv_row *c), void *arg);
/* Mean handle time (ms) of the last `window` closed conversations of a queue; -1 = none. */
int64_t gw_store_handle_estimate(struct gw_store *s, const char *queue, int window);
/* Mean wait (ms) of the last `window` assigned conversations of a queue; -1 = no data. */
int64_t gw_store_wait_estimate(struct gw_store *s, const char *queue, int window);

/* Messages.  dir: "in" (seeker) "out" (counsellor) "auto" (system to seeker) "note"
 * (internal) "sys" (protocol bookkeeping, e.g. a close relayed to a partner; never shown).  state: stored sent delivered failed. */
struct gw_msg_row {
    int64_t id, conv_id;
    char dir[8];
    const char *body; /* borrowed from the statement: valid inside the callback only */
    char author[256];
    int64_t created;
    char state[12];
    char channel_ref[256];
    char stanza_id[64];
    const char *meta;
};
int64_t gw_store_msg_insert(struct gw_store *s, int64_t conv_id, const char *dir, const char *body,
                            const char *author, int64_t created, const char *state,
                            const char *stanza_id, const char *meta);
/* Advance a message's delivery state.  A final state (delivered, failed) is never replaced
 * by a transient one (sent).  channel_ref/error may be NULL (kept).  Returns 1 when the
 * state changed, 0 when it did not, negative on error. */
int gw_store_msg_state(struct gw_store *s, int64_t id, const char *state, const char *channel_ref,
                       const char *error);
/* Look up one message (body not filled). */
int gw_store_msg_get(struct gw_store *s, int64_t id, struct gw_msg_row *out);
/* Look up one message with body and meta; cb runs once (its strings valid inside only).
 * Must not write to the store from cb.  GW_ENOTFOUND when absent. */
int gw_store_msg_full(struct gw_store *s, int64_t id,
                      int (*cb)(void *arg, const struct gw_msg_row *m), void *arg);
/* The message whose channel_ref is `ref` (id and conv_id filled); GW_ENOTFOUND otherwise. */
int gw_store_msg_by_ref(struct gw_store *s, const char *ref, struct gw_msg_row *out);
/* Every message whose channel_ref is `ref`, oldest first (body not filled).  Returns the
 * number visited or GW_EIO. */
int gw_store_msg_each_ref(struct gw_store *s, const char *ref,
                          int (*cb)(void *arg, const struct gw_msg_row *m), void *arg);
/* Record the channel ref of an inbound message (e.g. its Message-ID) for threading. */
int gw_store_msg_set_ref(struct gw_store *s, int64_t id, const char *ref);
/* Messages of a conversation with id > after, oldest first; dirs is a comma list filter
 * ("in,out,auto") or NULL for all. */
int gw_store_msg_each(struct gw_store *s, int64_t conv_id, int64_t after, const char *dirs,
                      int (*cb)(void *arg, const struct gw_msg_row *m), void *arg);
/* The channel_ref of the seeker's latest inbound message in a conversation ("" if none). */
int gw_store_last_inbound_ref(struct gw_store *s, int64_t conv_id, char *buf, size_t len);

/* Inbound dedup by (channel, channel message id).  Returns the stored msg id or 0. */
int64_t gw_store_dedup_find(struct gw_store *s, const char *channel, const char *ext_id);
int gw_store_dedup_add(struct gw_store *s, const char *channel, const char *ext_id, int64_t msg_id);

/* Outbox: target is "xmpp" (payload = a ready stanza) or a channel plugin name (payload =
 * NULL; the item is built from the message row). */
struct gw_outbox_row {
    int64_t id, msg_id;
    char target[32];
    int kind;
    const char *payload; /* borrowed inside the callback */
    int attempts;
    int64_t next_at;
    int64_t conv_id; /* the message's conversation (0: none, or the message is gone) */
};
int64_t gw_store_outbox_add(struct gw_store *s, int64_t msg_id, const char *target, int kind,
                            const char *payload, int64_t next_at);
/* Due entries (next_at <= now, id > after_id) in id order, at most limit. */
int gw_store_outbox_due(struct gw_store *s, int64_t now, int64_t after_id, int limit,
                        int (*cb)(void *arg, const struct gw_outbox_row *r), void *arg);
int gw_store_outbox_done(struct gw_store *s, int64_t id);
/* Make every entry due now (start-up: a restart retries at once, whatever the backoff). */
int gw_store_outbox_wake_all(struct gw_store *s);
/* Make the entries of one target due now (a partner that was unreachable answers again). */
int gw_store_outbox_wake_target(struct gw_store *s, const char *target);
int gw_store_outbox_retry(struct gw_store *s, int64_t id, int64_t next_at, const char *error);
/* Earliest next_at later than `after` (unix ms), or -1 when no entry waits that long. */
int64_t gw_store_outbox_next(struct gw_store *s, int64_t after);
/* Every channel entry (not xmpp) in id order, with id, msg_id, target and conv_id filled
 * (start-up and after a rollback: the outbox rebuilds its lanes from this). */
int gw_store_outbox_each_channel(struct gw_store *s,
                                 int (*cb)(void *arg, const struct gw_outbox_row *r), void *arg);
/* Entries in the outbox (for /health). */
int64_t gw_store_outbox_count(struct gw_store *s);

/* --- store_ops.c: read-only queries for the operator (skagerrakctl) --- */
/* Per outbox target ("xmpp", a channel, "fed"...): rows, the oldest row's message time (unix
 * ms, 0 when none has a message) and rows already retried.  cb returns non-zero to stop.
 * Returns the number of targets or GW_EIO. */
int gw_store_outbox_summary(struct gw_store *s,
                            int (*cb)(void *arg, const char *target, long long n,
                                      int64_t oldest_ms, long long retrying),
                            void *arg);
/* The events of one conversation, oldest first (strings valid inside cb; actor and detail
 * may be NULL).  Returns the number visited or GW_EIO. */
int gw_store_events_each(struct gw_store *s, int64_t conv_id,
                         int (*cb)(void *arg, int64_t at, const char *kind, const char *actor,
                                   const char *detail),
                         void *arg);
/* Statistics of the conversations created in [from_ms, to_ms): rows of (group, key, what,
 * count, mean wait ms, mean handle ms) with group "queue" (key queue, what state),
 * "channel" (channel, state), "outcome" (outcome or "-", queue; ended ones only) and
 * "partner" (domain, "sent"/"received").  Means are 0 when unknown.  Rows or GW_EIO. */
int gw_store_stats_range(struct gw_store *s, int64_t from_ms, int64_t to_ms,
                         int (*cb)(void *arg, const char *group, const char *key,
                                   const char *what, long long n, double avg_wait_ms,
                                   double avg_handle_ms),
                         void *arg);

/* Audit and statistics events ("assigned", "transfer", "read", "escalated", ...). */
int gw_store_event(struct gw_store *s, int64_t conv_id, int64_t at, const char *kind,
                   const char *actor, const char *detail);
/* Feedback from a seeker. */
int gw_store_feedback(struct gw_store *s, int64_t conv_id, int rating, const char *comment);
/* Statistics since since_ms for reports: rows of (group "queue"|"partner", key, what, count,
 * mean wait ms, mean handle ms); means are 0 when unknown.  Returns rows or GW_EIO. */
int gw_store_stats(struct gw_store *s, int64_t since_ms,
                   int (*cb)(void *arg, const char *group, const char *key, const char *what,
                             long long n, double avg_wait_ms, double avg_handle_ms),
                   void *arg);
/* Copy the write-ahead log into the database (passive).  Called from a housekeeping timer,
 * so no message's commit pays for it.  GW_OK or GW_EIO. */
int gw_store_checkpoint(struct gw_store *s);
/* Frames in the write-ahead log after the last commit (0 right after a checkpoint reset). */
int gw_store_wal_frames(const struct gw_store *s);
/* Delete the messages of conversations closed before cutoff_ms (retention); returns the
 * number deleted or GW_EIO.  Conversation rows (statistics) are kept. */
int64_t gw_store_retention(struct gw_store *s, int64_t cutoff_ms);
/* Count rows of a table (tests, bench, health). -1 on error. */
int64_t gw_store_count(struct gw_store *s, const char *table);

#endif

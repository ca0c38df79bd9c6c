/* session.h — web chat sessions (token key -> conversation) and their open event streams. */
#ifndef WEB_SESSION_H
#define WEB_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "token.h"

struct gw_http_stream;
struct web_session;

/* One open Server-Sent Events response. */
struct web_stream {
    TAILQ_ENTRY(web_stream) in_sess; /* the session's streams */
    TAILQ_ENTRY(web_stream) in_all;  /* every stream (heartbeats) */
    struct web_session *sess;
    struct web_sessions *ss;   /* the table it is listed in */
    struct gw_http_stream *hs; /* the host's stream */
    int64_t replay_max;        /* highest id replayed from history on open: a live
                                  item with an id <= this was already sent */
    int64_t opened_ms;
};
TAILQ_HEAD(web_stream_list, web_stream);

#define WEB_OUT_RING 64

/* One seeker's session: created by POST session, found by its token's key. */
struct web_session {
    char key[WEB_TOKEN_KEY_LEN + 1]; /* SHA-256 of the token (the token itself is not kept) */
    char sid[WEB_SID_LEN + 1];       /* public id */
    char address[WEB_SID_LEN + 5];   /* "web:<sid>": the seeker's address on this channel */
    char conv[40];                   /* the core's conversation token */
    char lang[3];
    char queue[64];
    int64_t created_ms;
    int64_t expires_ms;       /* resumable until then (moved on activity) */
    int64_t persisted_exp_ms; /* expires_ms as last written to the store */
    int closed;               /* no more input: ended by the seeker or closed by the service */
    int blocked;              /* closed because a counsellor blocked the seeker */
    int feedback_given;
    struct web_stream_list streams;
    unsigned n_streams;
    int64_t out_ids[WEB_OUT_RING]; /* recent counsellor message ids sent to this session:
                                      only these may be acknowledged by it */
    unsigned n_out;
    TAILQ_ENTRY(web_session) in_idle; /* on web_sessions.idle (see web_sessions_note_idle) */
    int idle_listed;
};
TAILQ_HEAD(web_session_list, web_session);

struct web_sessions {
    struct web_map *by_key;  /* key -> session (owns sessions) */
    struct web_map *by_conv; /* conv -> session */
    struct web_stream_list all;
    unsigned n_streams;
    struct web_session_list idle; /* closed, no stream: to be dropped from memory */
};

/* Initialise an empty table; `seed` randomises hashing.  GW_OK or GW_ENOMEM. */
int web_sessions_init(struct web_sessions *ss, uint64_t seed);
/* Free every session and stream struct (the caller closes the host streams first). */
void web_sessions_release(struct web_sessions *ss);

/* A new session (not yet in the table).  Strings are copied (truncated to fit; callers
 * pass validated values).  NULL on ENOMEM. */
struct web_session *web_session_new(const char *key, const char *sid, const char *conv,
                                    const char *lang, const char *queue, int64_t now_ms,
                                    int64_t ttl_ms);
/* Free a session that is not in a table.  NULL-safe; sets *sp = NULL. */
void web_session_free(struct web_session **sp);
/* Put `s` into the table (the table owns it then).  GW_OK, GW_EDUP (key taken: s is not
 * added) or GW_ENOMEM. */
int web_sessions_add(struct web_sessions *ss, struct web_session *s);
/* Take `s` out of the table (its streams must be detached); the caller owns it again. */
void web_sessions_remove(struct web_sessions *ss, struct web_session *s);
struct web_session *web_sessions_by_key(const struct web_sessions *ss, const char *key);
struct web_session *web_sessions_by_conv(const struct web_sessions *ss, const char *conv);
/* Unlink s from the conv index and clear s->conv (an erased conversation: later messages
 * for the old token find no session). */
void web_sessions_remove_conv(struct web_sessions *ss, struct web_session *s);
/* Move `s` to conversation `conv` (the core opened another).  GW_OK or GW_ENOMEM. */
int web_sessions_set_conv(struct web_sessions *ss, struct web_session *s, const char *conv);
/* Number of sessions in the table. */
size_t web_sessions_count(const struct web_sessions *ss);

/* Extend the session's life to now + ttl.  Returns 1 when the stored copy should be
 * rewritten (it lags by more than a quarter of the ttl), else 0. */
int web_session_touch(struct web_session *s, int64_t now_ms, int64_t ttl_ms);

/* Remove and hand to `gone` (which frees it, e.g. after deleting the stored copy) every
 * session expired at now_ms that has no open stream.  Returns how many. */
size_t web_sessions_expire(struct web_sessions *ss, int64_t now_ms,
                           void (*gone)(void *arg, struct web_session *s), void *arg);

/* A closed session with no open stream needs nothing in memory: its stored copy has all it
 * still answers (state, feedback given, transcript access), and web_session_for_token
 * reloads it on demand.  Keeping such sessions until they expire made memory grow with
 * every conversation ever ended within session_ttl_s.
 *
 * web_sessions_note_idle lists `s` for dropping when it is closed and has no stream; it
 * returns 1 when it listed s now (the caller then schedules web_sessions_drop_idle), else
 * 0.  Dropping is deferred because the callers (a request handler, deliver(), a stream's
 * closed callback) may still use s after the call. */
int web_sessions_note_idle(struct web_sessions *ss, struct web_session *s);
/* Remove from the table and hand to `gone` (which frees it, after writing the stored copy
 * if it lags) every listed session that is still closed with no stream; the others (a page
 * reopened the stream meanwhile) are only unlisted.  Returns how many were dropped. */
size_t web_sessions_drop_idle(struct web_sessions *ss,
                              void (*gone)(void *arg, struct web_session *s), void *arg);

/* The stored form: a JSON object string (malloc'd; caller frees), or NULL on ENOMEM.
 * It holds no token, only the key it is stored under. */
char *web_session_to_json(const struct web_session *s);
/* Rebuild a session from its stored form under `key`.  NULL when malformed or expired at
 * now_ms. */
struct web_session *web_session_from_json(const char *json, const char *key, int64_t now_ms);

/* Attach a new stream record for host stream `hs` to `s`.  NULL on ENOMEM. */
struct web_stream *web_stream_attach(struct web_sessions *ss, struct web_session *s,
                                     struct gw_http_stream *hs, int64_t now_ms);
/* Detach and free a stream record.  NULL-safe; sets *stp = NULL. */
void web_stream_detach(struct web_sessions *ss, struct web_stream **stp);
/* The session's oldest stream (the one to drop when a session opens too many), or NULL. */
struct web_stream *web_session_oldest_stream(const struct web_session *s);

/* Remember that counsellor message `id` was sent to this session (acks are checked
 * against the last WEB_OUT_RING of them). */
void web_session_note_out(struct web_session *s, int64_t id);
/* 1 if `id` is one of the remembered message ids, else 0. */
int web_session_has_out(const struct web_session *s, int64_t id);

#endif

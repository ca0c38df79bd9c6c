/* webchat.h — the web chat plugin's shared context and the helpers its modules call. */
#ifndef WEB_WEBCHAT_H
#define WEB_WEBCHAT_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "plugin_api.h"
#include "ratelimit.h"
#include "session.h"

/* The one context of a plugin instance (the `self` the host passes back). */
struct web_ctx {
    const struct gw_host_api *api;
    struct gw_host *h;
    struct web_conf conf;
    struct web_sessions ss;
    struct web_rl *rl_session;     /* messages per session */
    struct web_rl *rl_ip;          /* messages per client address */
    struct web_rl *rl_ip_sessions; /* new sessions per client address */
    struct web_rl *rl_typing;      /* typing events per session */
    uint64_t hb_timer;             /* heartbeat comments on every stream */
    uint64_t done_timer;           /* pending deliver_done() calls (see plugin.c) */
    int64_t *done_ids;             /* counsellor messages accepted, to confirm next turn */
    size_t n_done, cap_done;
    uint64_t sweep_timer; /* session expiry, limiter sweeps */
    uint64_t idle_timer;  /* closed sessions without a stream leave memory (web_session_idle) */
};

/* The context that owns session table `ss` (a stream's closed callback knows only that). */
static inline struct web_ctx *web_ctx_of(struct web_sessions *ss)
{
    return (struct web_ctx *)(void *)((char *)ss - offsetof(struct web_ctx, ss));
}

/* Push an event to every open stream of `s`.  `id` > 0 sends an SSE id and, when `live` is
 * 1, skips streams that already replayed that id from history.  `data` is one JSON text.
 * Streams whose write fails (client gone or not reading) are closed. */
void web_push(struct web_ctx *x, struct web_session *s, const char *event, int64_t id,
              const char *data, int live);
/* Write the session's state to the host's key/value store (so it survives restarts). */
void web_persist(struct web_ctx *x, struct web_session *s);
/* The session for a token: from memory, else from the store (then kept in memory).
 * NULL for malformed, unknown or expired tokens. */
struct web_session *web_session_for_token(struct web_ctx *x, const char *token);

/* Call after `s` may have become closed or lost a stream: a closed session with no open
 * stream is dropped from memory on the next loop turn (its stored copy is brought up to
 * date first), so ended and expired conversations hold no memory here; a later request
 * with its token reloads it from the store.  s stays valid until the caller returns. */
void web_session_idle(struct web_ctx *x, struct web_session *s);

/* The channel reference of counsellor message `id` ("web:<id>"), used for delivery reports
 * when the seeker's page acknowledges it.  Writes into buf (buflen >= 32). */
void web_msg_ref(int64_t id, char *buf, size_t buflen);

/* Confirm now (deliver_done with their refs) the counsellor messages waiting for the next
 * turn's confirmation: a page can acknowledge a message in the very turn it arrived, and its
 * delivery report needs the ref the confirmation records. */
void web_confirm_pending(struct web_ctx *x);

/* The catch-all route handler for /webchat/... (api.c). */
void web_api_handle(void *arg, struct gw_http_req *req);

#endif

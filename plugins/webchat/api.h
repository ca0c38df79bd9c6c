/* api.h — the web chat's HTTP API below /webchat/ (JSON up, Server-Sent Events down).
 *
 * The routes, their bodies and answers are documented in docs/webchat.md.  One catch-all
 * route is registered with the host; web_api_handle() (declared in webchat.h) dispatches
 * through the table in api.c, answers CORS preflights, and hands everything else to the
 * static file server. */
#ifndef WEB_API_H
#define WEB_API_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "webchat.h"

/* The key a client address is rate-limited under: IPv4 as is, IPv6 by its /64 (one
 * subscriber usually holds a whole /64).  Writes into out; "" when `ip` is not an address. */
void web_api_ip_key(const char *ip, char *out, size_t outlen);
/* The client address from an X-Forwarded-For value: its last (rightmost) entry, the one our
 * own proxy added.  Writes into out ("" when none). */
void web_api_forwarded_for(const char *xff, char *out, size_t outlen);
/* 1 if Origin `origin` names the same host as the Host header `host` (scheme ignored). */
int web_api_same_host(const char *origin, const char *host);

/* ---- for the modules of the API (api.c, events.c) ---- */

#define WEB_CALL_MAX_HDR 24

/* One request in flight. */
struct web_call {
    struct web_ctx *x;
    struct gw_http_req *r;
    struct web_session *s;             /* set for authenticated routes */
    const char *hdr[WEB_CALL_MAX_HDR]; /* response headers (pairs) */
    size_t nh;
    char ip[64]; /* rate-limit key of the client address */
    char retry_after[24];
    int64_t now;
};

/* Add a response header (name and value must outlive the answer; at most
 * WEB_CALL_MAX_HDR/2 - 1 headers, extra ones are dropped). */
void web_call_header(struct web_call *c, const char *name, const char *value);
/* Answer {"error": code} with `status` and the call's headers. */
void web_call_error(struct web_call *c, int status, const char *code);
/* The session's state as a JSON object (new reference; NULL on ENOMEM); asks the core for
 * the conversation state and marks the session closed when the core has closed it. */
json_t *web_call_session_json(struct web_call *c);
/* GET events: open the session's Server-Sent Events stream, replay from Last-Event-ID (or
 * ?after=), then stream live (events.c). */
void web_events_open(struct web_call *c);

#endif

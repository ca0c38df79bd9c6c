/* api.h — the web chat's HTTP API below /webchat/ (JSON up, Server-Sent Events down).
 *
 * The routes, their bodies and answers are documented in docs/webchat.md.  One catch-all
 * route is registered with the host; web_api_handle() (declared in webchat.h) dispatches
 * through the table in api.c, answers CORS preflights, and hands everything else to the
 * static file server. */
#ifndef WEB_API_H
#define WEB_API_H

#include <stddef.h>

/* The key a client address is rate-limited under: IPv4 as is, IPv6 by its /64 (one
 * subscriber usually holds a whole /64).  Writes into out; "" when `ip` is not an address. */
void web_api_ip_key(const char *ip, char *out, size_t outlen);
/* The client address from an X-Forwarded-For value: its last (rightmost) entry, the one our
 * own proxy added.  Writes into out ("" when none). */
void web_api_forwarded_for(const char *xff, char *out, size_t outlen);
/* 1 if Origin `origin` names the same host as the Host header `host` (scheme ignored). */
int web_api_same_host(const char *origin, const char *host);

#endif

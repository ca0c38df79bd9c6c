/* http.h — the core's HTTP server: libmicrohttpd in external epoll mode on the core loop,
 * routes per owner (plugin), whole-body requests, and Server-Sent-Event streams.
 *
 * Everything runs on the loop's thread.  Handlers are called with the complete request body
 * and must answer (gw_http_respond) or open a stream (gw_http_stream_open) before returning;
 * a handler that does neither gets a 500 for its client.
 *
 * Every response carries `X-Content-Type-Options: nosniff` and `Cache-Control: no-store`
 * (unless the handler set its own Cache-Control).
 *
 * Requests the router answers itself: 400 for a malformed request target (not starting with
 * '/', control characters, "." or ".." path segments after percent-decoding), 404 when no
 * route matches, 405 (with Allow) when routes match the path but not the method, 413 when the
 * body is larger than the limit (the body is never buffered past the limit), 500 when a
 * handler did not answer.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include "host/plugin_api.h"

/* loop.h is not included here: its GW_EV_READ macro collides with plugin_api.h's
 * enum gw_seeker_event GW_EV_READ.  Include loop.h after this header. */
struct gw_loop;
struct gw_http;

/* Limits; a zero field takes the default shown. */
struct gw_http_limits {
    size_t max_body;           /* request body bytes, beyond: 413 (default 1 MiB) */
    unsigned max_connections;  /* open connections incl. streams (default 1024; 20000+ is fine,
                                  but RLIMIT_NOFILE must allow it) */
    unsigned conn_timeout_s;   /* idle timeout of a connection that is not a waiting stream
                                  (default 60 s); idle streams are suspended and never time
                                  out — plugins send SSE keep-alive comments */
    size_t max_stream_buffer;  /* bytes queued on one stream before writes fail with
                                  GW_ELIMIT (slow reader; default 256 KiB) */
    size_t conn_memory;        /* libmicrohttpd per-connection memory pool (default 8 KiB).
                                  It sets the cost of an open stream and the largest request
                                  head (431 beyond).  Measured with 10,000 idle SSE streams:
                                  8 KiB -> ~10.4 KB RSS per stream, heads up to ~7 KB;
                                  4 KiB -> ~6.4 KB per stream, heads up to ~3.5 KB. */
};

/* Start a server on addr:port (IPv4 or IPv6 literal; port 0 picks a free port) driven by
 * loop `l`.  `lim` may be NULL (all defaults).  NULL on failure with the reason in err. */
struct gw_http *gw_http_new(struct gw_loop *l, const char *addr, int port,
                            const struct gw_http_limits *lim, char *err, size_t errlen);
/* Stop the server: open streams end (their closed callbacks run), connections close, routes
 * are freed.  NULL-safe; sets *hp = NULL. */
void gw_http_free(struct gw_http **hp);
/* The bound TCP port (useful after port 0). */
int gw_http_port(const struct gw_http *h);

/* Replace the log sink (default: stderr, debug lines dropped).  `level` is an enum
 * gw_log_level; libmicrohttpd's own messages arrive as WARN, routine client disconnects as
 * DEBUG.  log NULL restores the default. */
void gw_http_set_logger(struct gw_http *h, void (*log)(void *arg, int level, const char *msg),
                        void *arg);

/* Group commit.  While hold(arg) returns true at the moment a handler answers, the answer is
 * kept back and its connection suspended, until gw_http_release(): the core passes "the store
 * has uncommitted writes", so no client is told "stored" before the commit that stores it, and
 * the requests of one loop turn share one commit.  hold NULL turns this off (the default). */
void gw_http_set_hold(struct gw_http *h, int (*hold)(void *arg), void *arg);
/* Send the answers kept back: as given when `committed`, else each becomes
 * 503 "storage failure, please retry".  Handlers of requests that arrived meanwhile may run
 * (and be held again; the server then schedules another turn). */
void gw_http_release(struct gw_http *h, int committed);
/* Write what this turn queued on event streams now, not in the next turn: a resumed
 * connection takes one MHD_run() to be taken back and another to be written (the core calls
 * this at the end of each turn, after the commit; no-op when nothing was resumed). */
void gw_http_flush(struct gw_http *h);
/* True while a route handler runs (its answer may be held: see gw_http_set_hold). */
int gw_http_in_handler(const struct gw_http *h);

/* Add a route.  owner: a plugin name (the route lives at "/<owner><path>") or NULL for a core
 * route at the absolute `path`.  path starts with '/'; a trailing '*' matches any suffix.
 * method: "GET", "POST", ... or NULL for any.  The longest matching pattern wins (an exact
 * pattern beats a prefix of the same length); if its routes do not take the request's method
 * the answer is 405.  Strings are copied.  Returns GW_OK, GW_EINVAL (bad path/owner),
 * GW_EDUP (same owner, method and path already routed) or GW_ENOMEM. */
int gw_http_route(struct gw_http *h, const char *owner, const char *method, const char *path,
                  gw_http_handler fn, void *arg);

/* Remove every route of `owner` and end its open streams.  Order: routes are removed first
 * (new requests get 404), then for each open stream of the owner its closed callback runs,
 * synchronously, before this function returns; the stream handles are invalid afterwards
 * (buffered data is still flushed to the client, then the response ends).  The plugin host
 * calls this BEFORE the plugin's stop(), so that stop() finds its streams already closed. */
void gw_http_unroute_owner(struct gw_http *h, const char *owner);

/* ---- request accessors (the host API's http_* members) ----
 * A request is valid until its handler returns, or while a stream opened on it is open.
 * Returned strings are owned by the server and live as long as the request. */

/* "GET", "POST", ... */
const char *gw_http_req_method(struct gw_http_req *r);
/* Path below the owner's mount ("/api/events" for "/webchat/api/events"); the full path for
 * core routes.  Percent-decoded, without the query string. */
const char *gw_http_req_path(struct gw_http_req *r);
/* Request header value (name case-insensitive) or NULL. */
const char *gw_http_req_header(struct gw_http_req *r, const char *name);
/* Decoded query-string argument or NULL (an argument without '=' yields ""). */
const char *gw_http_req_query(struct gw_http_req *r, const char *name);
/* The whole request body (NUL-terminated for convenience; binary-safe via *len; len may be
 * NULL).  Never NULL: an empty body is "".  Only valid inside the handler. */
const char *gw_http_req_body(struct gw_http_req *r, size_t *len);
/* The peer's IP address as text ("127.0.0.1", "::1"); "" if unknown. */
const char *gw_http_req_peer(struct gw_http_req *r);

/* Answer the request (once).  content_type may be NULL (no Content-Type).  headers: a
 * NULL-terminated list of name, value pairs, or NULL.  The body is copied.  Returns GW_OK,
 * GW_EINVAL (already answered, bad header such as one containing CR/LF), GW_ENOMEM. */
int gw_http_req_respond(struct gw_http_req *r, int status, const char *content_type,
                        const char *body, size_t len, const char *const *headers);

/* Turn the request into a long-lived 200 response whose body is written with
 * gw_http_stream_write (Server-Sent Events: content_type "text/event-stream").  `closed` (may
 * be NULL) runs exactly once when the stream ends: client went away, connection failed or
 * timed out, the server stops, or — synchronously, before the call returns —
 * gw_http_stream_close / gw_http_unroute_owner.  The handle is valid until `closed` returns.
 * NULL on failure (already answered, bad header, no memory). */
struct gw_http_stream *gw_http_stream_open(struct gw_http_req *r, const char *content_type,
                                           const char *const *headers, gw_stream_closed_cb closed,
                                           void *arg);
/* Queue data on the stream; it is sent from the loop.  Returns GW_OK, GW_EIO when the client
 * has gone or the stream is closing, GW_ELIMIT when the queued bytes would exceed
 * max_stream_buffer (the client does not read), GW_ENOMEM. */
int gw_http_stream_write(struct gw_http_stream *s, const char *data, size_t len);
/* End the stream: queued data is still sent, then the response ends.  The closed callback
 * runs before this returns (if it has not run yet).  The handle is invalid afterwards. */
void gw_http_stream_close(struct gw_http_stream *s);

/* Number of open streams (all owners) — for health output and tests. */
size_t gw_http_stream_count(const struct gw_http *h);

#endif

/* http_int.h — private to the HTTP server (http.c, http_answer.c, http_stream.c): its
 * structures and the functions they share.  Nothing else includes it. */
#ifndef GW_HTTP_INT_H
#define GW_HTTP_INT_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "io/http.h"

struct owner;

struct route {
    TAILQ_ENTRY(route) entry;
    struct owner *owner;
    char *method;  /* NULL = any */
    char *pattern; /* full path, without a trailing '*' */
    size_t plen;
    bool prefix;
    gw_http_handler fn;
    void *arg;
};
TAILQ_HEAD(route_list, route);

TAILQ_HEAD(stream_list, gw_http_stream);

/* Owners (plugins) are kept until the server is freed: streams and routes point at them,
 * and there are only a handful. */
struct owner {
    TAILQ_ENTRY(owner) entry;
    char *name;       /* NULL for core routes */
    size_t mount_len; /* strlen("/<name>"), 0 for core */
    struct stream_list streams;
};
TAILQ_HEAD(owner_list, owner);

struct gw_http {
    struct gw_loop *loop;
    struct MHD_Daemon *d;
    int epfd;
    int port;
    size_t max_body, max_stream_buf;
    uint64_t timer_id;       /* loop timer for MHD's next deadline, 0 = none */
    uint64_t timer_deadline; /* monotonic ms */
    uint64_t kick_id;        /* 0 ms loop timer: run MHD after resumes, 0 = none */
    struct route_list routes;
    struct owner_list owners;
    size_t nstreams;
    void (*log)(void *arg, int level, const char *msg);
    void *log_arg;
    char *start_err; /* while starting: MHD's complaint goes to the caller's err instead */
    size_t start_errlen;
    int (*hold)(void *arg); /* true: responses wait for gw_http_release() (group commit) */
    void *hold_arg;
    struct gw_http_req **held; /* suspended requests with a response waiting */
    size_t nheld, capheld;
    int in_handler;            /* a route handler is running */
};

struct gw_http_req {
    struct gw_http *h;
    struct MHD_Connection *conn;
    const char *method, *url; /* owned by MHD, live as long as the request */
    struct owner *owner;      /* of the route that took the request */
    size_t mount_len;
    char *body;
    size_t body_len, body_cap;
    char *peer;
    bool too_big, answered, in_handler;
    struct MHD_Response *held; /* answered, waiting for the commit (see gw_http_set_hold) */
    unsigned held_status;
    struct gw_http_stream *stream;
};

/* A stream is referenced by its request (dropped when MHD reports completion) and by its
 * MHD response (dropped in the response's free callback); whichever comes last frees it. */
struct gw_http_stream {
    TAILQ_ENTRY(gw_http_stream) entry;
    struct gw_http *h;
    struct owner *owner;
    struct MHD_Connection *conn; /* NULL once the request completed */
    char *buf;
    size_t len, off, cap;
    gw_stream_closed_cb closed;
    void *arg;
    int fd; /* socket watched for hang-up while idle, -1 = not watched */
    unsigned refs : 2;
    bool suspended : 1;
    bool finishing : 1;   /* no more writes; end the response once the buffer drained */
    bool client_gone : 1; /* end the response with an error */
    bool closed_done : 1; /* closed callback delivered (or never owed) */
    bool listed : 1;      /* on owner->streams */
};

/* Log through the server's logger (gw_http_set_logger); the message is cut at 511 bytes. */
__attribute__((format(printf, 3, 4))) void gw_http_i_hlog(struct gw_http *h, int level,
                                                          const char *fmt, ...);

/* Have MHD_run() called within this loop turn (coalesced): an external-mode daemon is not
 * woken by MHD_resume_connection() alone. */
void gw_http_i_mhd_kick(struct gw_http *h);

/* Add Content-Type (if not NULL), the handler's name/value pairs (NULL-terminated, may be
 * NULL) and our defaults (nosniff; no-store unless the handler set Cache-Control).  Returns
 * false on an invalid header or when MHD refuses one; resp is left for the caller to free. */
bool gw_http_i_add_headers(struct MHD_Response *resp, const char *content_type,
                           const char *const *headers);
/* Answer r with an empty body and `status` (Allow: `allow` when not NULL), now: the server's
 * own refusals (404, 405, 400, 413, 500), never held.  Marks r answered. */
enum MHD_Result gw_http_i_queue_plain(struct gw_http_req *r, unsigned status, const char *allow);

/* Stop watching the stream's socket for hang-up (before MHD closes it). */
void gw_http_i_stream_unwatch(struct gw_http_stream *s);

/* Take the stream off its owner's list and run its closed callback, both at most once. */
void gw_http_i_stream_deliver_closed(struct gw_http_stream *s);

/* Drop one reference (the request's or the response's); the last one frees the stream. */
void gw_http_i_stream_unref(struct gw_http_stream *s);

#endif

/* http_stream.c — Server-Sent-Event streams of the HTTP server: open, write, close,
 * suspend/resume of idle connections, hang-up detection and the closed callbacks. */
#include "io/http.h"
#include "io/http_int.h"
#include "io/loop.h" /* after plugin_api.h (via http.h): see http.h */

#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#define STREAM_BUF_MIN 256u   /* first allocation of a stream buffer */
#define STREAM_BUF_KEEP 4096u /* a drained buffer larger than this is released */
#define STREAM_BLOCK 1024u    /* advisory block size for the content reader */

/* ---- streams ---- */

void gw_http_i_stream_unwatch(struct gw_http_stream *s)
{
    if (s->fd >= 0) {
        gw_loop_fd_del(s->h->loop, s->fd);
        s->fd = -1;
    }
}

static void stream_resume(struct gw_http_stream *s)
{
    if (s->suspended && s->conn) {
        s->suspended = false;
        MHD_resume_connection(s->conn);
        gw_http_i_mhd_kick(s->h);
    }
}

/* Run the closed callback once and take the stream off its owner's list. */
void gw_http_i_stream_deliver_closed(struct gw_http_stream *s)
{
    if (s->listed) {
        TAILQ_REMOVE(&s->owner->streams, s, entry);
        s->listed = false;
        s->h->nstreams--;
    }
    if (s->closed_done)
        return;
    s->closed_done = true;
    s->finishing = true;
    if (s->closed)
        s->closed(s->arg, s);
}

void gw_http_i_stream_unref(struct gw_http_stream *s)
{
    if (--s->refs > 0)
        return;
    free(s->buf);
    free(s);
}

/* MHD asks for body bytes.  With nothing queued the connection is suspended (returning 0
 * alone would make MHD ask again on every MHD_run: a busy loop); a write resumes it. */
static ssize_t stream_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct gw_http_stream *s = cls;
    if (s->client_gone)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    if (s->len > s->off) {
        size_t n = s->len - s->off;
        if (n > max)
            n = max;
        memcpy(buf, s->buf + s->off, n);
        s->off += n;
        if (s->off == s->len) {
            s->off = s->len = 0;
            if (s->cap > STREAM_BUF_KEEP) { /* a burst is over: give the memory back */
                free(s->buf);
                s->buf = NULL;
                s->cap = 0;
            }
        }
        return (ssize_t)n;
    }
    if (s->finishing || !s->conn)
        return MHD_CONTENT_READER_END_OF_STREAM;
    MHD_suspend_connection(s->conn);
    s->suspended = true;
    return 0;
}

/* The response is being destroyed (connection done with it). */
static void stream_response_free(void *cls)
{
    struct gw_http_stream *s = cls;
    gw_http_i_stream_unwatch(s);
    gw_http_i_stream_deliver_closed(s);
    gw_http_i_stream_unref(s);
}

/* The client's socket while a stream is open: the client never sends anything after its
 * request, so readability means EOF or an error (a suspended connection is invisible to
 * MHD, which would otherwise only notice at the next write). */
static void on_stream_sock(void *arg, int fd, unsigned events)
{
    struct gw_http_stream *s = arg;
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) {
        /* Pipelined bytes: leave them to MHD; keep only hang-up/error reports. */
        gw_loop_fd_mod(s->h->loop, fd, 0);
        return;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
        !(events & (GW_EV_ERROR | GW_EV_HUP)))
        return;
    s->client_gone = true;
    gw_http_i_stream_unwatch(s);
    stream_resume(s); /* the reader now ends the response with an error; MHD cleans up */
}

struct gw_http_stream *gw_http_stream_open(struct gw_http_req *r, const char *content_type,
                                           const char *const *headers, gw_stream_closed_cb closed,
                                           void *arg)
{
    if (!r || r->answered || !r->in_handler)
        return NULL;
    struct gw_http_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->h = r->h;
    s->fd = -1;
    s->refs = 1;           /* the response's */
    s->closed_done = true; /* nothing owed until the response is queued */
    struct MHD_Response *resp = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, stream_reader, s, stream_response_free);
    if (!resp) {
        free(s);
        return NULL;
    }
    if (!gw_http_i_add_headers(resp, content_type, headers)) {
        gw_http_i_hlog(r->h, GW_LOG_WARN, "%s %s: stream with an invalid header", r->method,
                       r->url);
        MHD_destroy_response(resp); /* frees s */
        return NULL;
    }
    s->conn = r->conn;
    s->refs = 2; /* and the request's, dropped on completion */
    if (MHD_queue_response(r->conn, MHD_HTTP_OK, resp) != MHD_YES) {
        s->conn = NULL;
        s->refs = 1;
        MHD_destroy_response(resp);
        return NULL;
    }
    MHD_destroy_response(resp); /* the connection holds it now */
    r->answered = true;
    r->stream = s;
    s->closed = closed;
    s->arg = arg;
    s->closed_done = false;
    s->owner = r->owner; /* owners outlive routes and streams */
    TAILQ_INSERT_TAIL(&s->owner->streams, s, entry);
    s->listed = true;
    r->h->nstreams++;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (ci && gw_loop_fd_add(r->h->loop, ci->connect_fd, GW_EV_READ, on_stream_sock, s) == 0)
        s->fd = ci->connect_fd;
    return s;
}

int gw_http_stream_write(struct gw_http_stream *s, const char *data, size_t len)
{
    if (!s || s->client_gone || s->finishing || !s->conn)
        return GW_EIO;
    if (len == 0)
        return GW_OK;
    size_t pending = s->len - s->off;
    if (len > s->h->max_stream_buf || pending > s->h->max_stream_buf - len)
        return GW_ELIMIT;
    if (s->off > 0 && s->len + len > s->cap) { /* compact before growing */
        memmove(s->buf, s->buf + s->off, pending);
        s->len = pending;
        s->off = 0;
    }
    if (s->len + len > s->cap) {
        size_t cap = s->cap ? s->cap : STREAM_BUF_MIN;
        while (cap < s->len + len)
            cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb)
            return GW_ENOMEM;
        s->buf = nb;
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, len);
    s->len += len;
    stream_resume(s);
    return GW_OK;
}

void gw_http_stream_close(struct gw_http_stream *s)
{
    if (!s || s->closed_done)
        return;
    s->finishing = true;
    gw_http_i_stream_unwatch(s);
    stream_resume(s);
    gw_http_i_stream_deliver_closed(s);
}

size_t gw_http_stream_count(const struct gw_http *h)
{
    return h->nstreams;
}

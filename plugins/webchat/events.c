/* events.c — the Server-Sent Events stream of a session: open, replay from history, close. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "sse.h"
#include "webchat.h"

static void on_stream_closed(void *arg, struct gw_http_stream *hs)
{
    struct web_stream *st = arg;
    (void)hs;
    struct web_sessions *ss = st->ss;
    struct web_session *s = st->sess;
    web_stream_detach(ss, &st);
    /* The page of an ended conversation went away: nothing left to keep in memory. */
    web_session_idle(web_ctx_of(ss), s);
}

struct replay {
    struct web_session *s;
    struct web_buf *b;
    int64_t max;
};

static int replay_one(void *arg, const struct gw_history_item *it)
{
    struct replay *rp = arg;
    const char *dir = it->dir ? it->dir : "auto";
    json_t *d = json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)it->id, "dir", dir, "text",
                          it->body ? it->body : "", "ts", (json_int_t)it->created_ms);
    if (d && it->state)
        json_object_set_new(d, "state", json_string(it->state));
    char *data = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!data)
        return 1;
    web_sse_event(rp->b, "message", it->id, data);
    free(data);
    if (strcmp(dir, "out") == 0)
        web_session_note_out(rp->s, it->id);
    if (it->id > rp->max)
        rp->max = it->id;
    return web_buf_status(rp->b) != GW_OK;
}

void web_events_open(struct web_call *c)
{
    struct web_ctx *x = c->x;
    struct web_session *s = c->s;
    const char *lei = x->api->http_header(c->r, "Last-Event-ID");
    if (!lei || !*lei)
        lei = x->api->http_query(c->r, "after");
    int64_t after = web_sse_parse_id(lei);
    if (after < 0) {
        web_call_error(c, 400, "after_invalid");
        return;
    }
    if (x->ss.n_streams >= x->conf.max_streams) {
        web_call_header(c, "Retry-After", "10");
        web_call_error(c, 503, "busy");
        return;
    }
    /* Too many tabs: the oldest stream goes (the host runs its closed callback, which
     * detaches it, before http_stream_close returns; the bound guards against a host
     * that would not). */
    for (unsigned i = 0; s->n_streams >= x->conf.max_streams_per_session && i < 1000; i++) {
        struct web_stream *old = web_session_oldest_stream(s);
        x->api->http_stream_close(old->hs);
    }
    struct web_stream *st = web_stream_attach(&x->ss, s, NULL, c->now);
    if (!st) {
        web_call_error(c, 503, "unavailable");
        return;
    }
    web_call_header(c, "X-Accel-Buffering", "no");
    st->hs = x->api->http_stream_open(c->r, "text/event-stream; charset=utf-8", c->hdr,
                                      on_stream_closed, st);
    if (!st->hs) {
        web_stream_detach(&x->ss, &st);
        web_call_error(c, 503, "unavailable");
        return;
    }
    struct web_buf b = {0};
    web_sse_retry(&b, 2000);
    json_t *hello = web_call_session_json(c);
    char *hs = hello ? json_dumps(hello, JSON_COMPACT) : NULL;
    json_decref(hello);
    web_sse_event(&b, "hello", 0, hs ? hs : "{}");
    free(hs);
    struct replay rp = {s, &b, after};
    x->api->history(x->h, s->conv, after, replay_one, &rp);
    st->replay_max = rp.max;
    char ready[64];
    snprintf(ready, sizeof(ready), "{\"last_id\":%" PRId64 "}", rp.max);
    web_sse_event(&b, "ready", 0, ready);
    if (web_buf_status(&b) != GW_OK || x->api->http_stream_write(st->hs, b.s, b.len) != GW_OK)
        x->api->http_stream_close(st->hs);
    web_buf_release(&b);
    if (web_session_touch(s, c->now, x->conf.session_ttl_ms))
        web_persist(x, s);
}

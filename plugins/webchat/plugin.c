/* plugin.c — the web chat channel: descriptor, lifecycle, deliver() and event pushing. */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"
#include "token.h"
#include "webchat.h"

#ifndef GW_VERSION
#define GW_VERSION "0"
#endif

#define SWEEP_MS 60000
#define KV_PREFIX "s."

static uint64_t seed64(void)
{
    uint64_t s = 0;
    if (web_random(&s, sizeof(s)) != GW_OK)
        s = (uint64_t)(uintptr_t)&s; /* hashing stays correct, only less unpredictable */
    return s;
}

static int make_limiters(struct web_ctx *x)
{
    const struct web_conf *c = &x->conf;
    if (!x->rl_session) {
        x->rl_session = web_rl_new(c->rate_session, c->rate_session_ms, c->rate_max_keys, seed64());
        x->rl_ip = web_rl_new(c->rate_ip, c->rate_ip_ms, c->rate_max_keys, seed64());
        x->rl_ip_sessions =
            web_rl_new(c->rate_ip_sessions, c->rate_ip_sessions_ms, c->rate_max_keys, seed64());
        x->rl_typing = web_rl_new(c->rate_typing, 60000, c->rate_max_keys, seed64());
        return x->rl_session && x->rl_ip && x->rl_ip_sessions && x->rl_typing ? GW_OK : GW_ENOMEM;
    }
    web_rl_set(x->rl_session, c->rate_session, c->rate_session_ms, c->rate_max_keys);
    web_rl_set(x->rl_ip, c->rate_ip, c->rate_ip_ms, c->rate_max_keys);
    web_rl_set(x->rl_ip_sessions, c->rate_ip_sessions, c->rate_ip_sessions_ms, c->rate_max_keys);
    web_rl_set(x->rl_typing, c->rate_typing, 60000, c->rate_max_keys);
    return GW_OK;
}

static void free_ctx(struct web_ctx **xp)
{
    struct web_ctx *x = *xp;
    if (!x)
        return;
    free(x->done_ids);
    web_sessions_release(&x->ss);
    web_rl_free(&x->rl_session);
    web_rl_free(&x->rl_ip);
    web_rl_free(&x->rl_ip_sessions);
    web_rl_free(&x->rl_typing);
    web_conf_release(&x->conf);
    free(x);
    *xp = NULL;
}

static int web_init(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                    struct gw_host *h, char *err, size_t errlen)
{
    *self = NULL;
    if (!api || api->abi != GW_PLUGIN_ABI ||
        api->size < offsetof(struct gw_host_api, transcript_text) + sizeof(api->transcript_text)) {
        snprintf(err, errlen, "webchat: host API too old");
        return GW_EINVAL;
    }
    struct web_ctx *x = calloc(1, sizeof(*x));
    if (!x) {
        snprintf(err, errlen, "webchat: out of memory");
        return GW_ENOMEM;
    }
    x->api = api;
    x->h = h;
    int rc = web_conf_load(&x->conf, conf, api, h, err, errlen);
    if (rc == GW_OK && web_sessions_init(&x->ss, seed64()) != GW_OK)
        rc = GW_ENOMEM;
    if (rc == GW_OK && make_limiters(x) != GW_OK)
        rc = GW_ENOMEM;
    if (rc != GW_OK) {
        if (rc == GW_ENOMEM)
            snprintf(err, errlen, "webchat: out of memory");
        free_ctx(&x);
        return rc;
    }
    *self = x;
    return GW_OK;
}

/* ---- pushing events ---- */

static void close_stream(struct web_ctx *x, struct web_stream *st)
{
    /* the host runs on_stream_closed synchronously, which detaches and frees st */
    x->api->http_stream_close(st->hs);
}

void web_push(struct web_ctx *x, struct web_session *s, const char *event, int64_t id,
              const char *data, int live)
{
    struct web_buf b = {0};
    if (web_sse_event(&b, event, id, data) != GW_OK) {
        x->api->log(x->h, GW_LOG_ERROR, "out of memory building an event");
        web_buf_release(&b);
        return;
    }
    struct web_stream *st = TAILQ_FIRST(&s->streams);
    while (st) {
        struct web_stream *next = TAILQ_NEXT(st, in_sess);
        if (!(live && id > 0 && id <= st->replay_max) &&
            x->api->http_stream_write(st->hs, b.s, b.len) != GW_OK)
            close_stream(x, st);
        st = next;
    }
    web_buf_release(&b);
}

/* ---- persistence (the host's key/value store; the key is the token's hash) ---- */

void web_persist(struct web_ctx *x, struct web_session *s)
{
    char key[sizeof(KV_PREFIX) + WEB_TOKEN_KEY_LEN];
    snprintf(key, sizeof(key), KV_PREFIX "%s", s->key);
    char *json = web_session_to_json(s);
    if (!json || x->api->kv_set(x->h, key, json) != GW_OK)
        x->api->log(x->h, GW_LOG_WARN, "session %s: could not store its state", s->sid);
    else
        s->persisted_exp_ms = s->expires_ms;
    free(json);
}

/* Delete the stored copy under kv key `kvkey`.  Hosts older than kv_del get "" (which
 * web_session_from_json reads as gone). */
static void kv_forget(struct web_ctx *x, const char *kvkey)
{
    if (x->api->size >= offsetof(struct gw_host_api, kv_del) + sizeof(x->api->kv_del) &&
        x->api->kv_del)
        x->api->kv_del(x->h, kvkey);
    else
        x->api->kv_set(x->h, kvkey, "");
}

static void forget(void *arg, struct web_session *s)
{
    struct web_ctx *x = arg;
    char key[sizeof(KV_PREFIX) + WEB_TOKEN_KEY_LEN];
    snprintf(key, sizeof(key), KV_PREFIX "%s", s->key);
    kv_forget(x, key);
    web_session_free(&s);
}

/* A closed session leaves memory; its stored copy stays (until it expires) for what the
 * page may still ask: state, transcript, feedback. */
static void drop_idle(void *arg, struct web_session *s)
{
    struct web_ctx *x = arg;
    if (s->expires_ms > s->persisted_exp_ms)
        web_persist(x, s); /* activity moved the expiry on since the last write */
    web_session_free(&s);
}

static void on_idle(void *arg)
{
    struct web_ctx *x = arg;
    x->idle_timer = 0;
    web_sessions_drop_idle(&x->ss, drop_idle, x);
}

void web_session_idle(struct web_ctx *x, struct web_session *s)
{
    if (web_sessions_note_idle(&x->ss, s) && !x->idle_timer)
        x->idle_timer = x->api->timer_add(x->h, 0, on_idle, x);
}

struct web_session *web_session_for_token(struct web_ctx *x, const char *token)
{
    char key[WEB_TOKEN_KEY_LEN + 1];
    if (!web_token_valid(token) || web_token_key(token, key, sizeof(key)) != GW_OK)
        return NULL;
    int64_t now = x->api->now_ms(x->h);
    struct web_session *s = web_sessions_by_key(&x->ss, key);
    if (s)
        return s->expires_ms > now || s->n_streams > 0 ? s : NULL;
    char kvkey[sizeof(KV_PREFIX) + WEB_TOKEN_KEY_LEN];
    snprintf(kvkey, sizeof(kvkey), KV_PREFIX "%s", key);
    char *json = x->api->kv_get(x->h, kvkey);
    s = web_session_from_json(json, key, now);
    if (!s && json)
        kv_forget(x, kvkey); /* expired (or unreadable): nobody can resume it */
    free(json);
    if (!s)
        return NULL;
    /* The stored copy may be older than the conversation: ask the core. */
    char state[32] = "";
    if (x->api->conv_info(x->h, s->conv, NULL, 0, state, sizeof(state)) == GW_OK &&
        strcmp(state, "closed") == 0)
        s->closed = 1;
    if (x->api->seeker_blocked(x->h, s->address) == 1)
        s->closed = s->blocked = 1;
    if (web_sessions_add(&x->ss, s) != GW_OK) {
        web_session_free(&s);
        return NULL;
    }
    return s;
}

/* ---- delivery confirmations ----
 * A counsellor's message is answered GW_PENDING and confirmed with deliver_done() on the
 * next loop turn, with a channel reference: that gives the core a ref for the delivery
 * report the widget triggers when the message is on the seeker's screen (with GW_OK the
 * core keeps no ref).  The host does not accept deliver_done() from inside deliver(). */

void web_msg_ref(int64_t id, char *buf, size_t buflen)
{
    snprintf(buf, buflen, "web:%" PRId64, id);
}

static void confirm_all(struct web_ctx *x)
{
    char ref[32];
    size_t n = x->n_done;
    x->n_done = 0;
    for (size_t i = 0; i < n; i++) {
        web_msg_ref(x->done_ids[i], ref, sizeof(ref));
        x->api->deliver_done(x->h, x->done_ids[i], GW_OK, ref, NULL);
    }
}

static void on_done(void *arg)
{
    struct web_ctx *x = arg;
    x->done_timer = 0;
    confirm_all(x);
}

void web_confirm_pending(struct web_ctx *x)
{
    if (!x->n_done)
        return;
    if (x->done_timer)
        x->api->timer_cancel(x->h, x->done_timer);
    x->done_timer = 0;
    confirm_all(x);
}

/* Queue `id` for confirmation; GW_OK or GW_ENOMEM (then the caller answers GW_OK). */
static int confirm_later(struct web_ctx *x, int64_t id)
{
    if (x->n_done == x->cap_done) {
        size_t cap = x->cap_done ? x->cap_done * 2 : 16;
        int64_t *v = realloc(x->done_ids, cap * sizeof(*v));
        if (!v)
            return GW_ENOMEM;
        x->done_ids = v;
        x->cap_done = cap;
    }
    x->done_ids[x->n_done++] = id;
    if (!x->done_timer)
        x->done_timer = x->api->timer_add(x->h, 0, on_done, x);
    return GW_OK;
}

/* ---- timers ---- */

static void on_heartbeat(void *arg)
{
    struct web_ctx *x = arg;
    int64_t now = x->api->now_ms(x->h);
    struct web_stream *st = TAILQ_FIRST(&x->ss.all);
    while (st) {
        struct web_stream *next = TAILQ_NEXT(st, in_all);
        /* an open page is an active seeker: keep the session resumable */
        if (web_session_touch(st->sess, now, x->conf.session_ttl_ms))
            web_persist(x, st->sess);
        if (x->api->http_stream_write(st->hs, ": hb\n\n", 6) != GW_OK)
            close_stream(x, st);
        st = next;
    }
    x->hb_timer = x->api->timer_add(x->h, (uint64_t)x->conf.heartbeat_ms, on_heartbeat, x);
}

static void on_sweep(void *arg)
{
    struct web_ctx *x = arg;
    int64_t now = x->api->now_ms(x->h);
    size_t n = web_sessions_expire(&x->ss, now, forget, x);
    web_sessions_drop_idle(&x->ss, drop_idle, x); /* in case the idle timer could not be set */
    if (n)
        x->api->log(x->h, GW_LOG_DEBUG, "%zu sessions expired", n);
    web_rl_sweep(x->rl_session, now);
    web_rl_sweep(x->rl_ip, now);
    web_rl_sweep(x->rl_ip_sessions, now);
    web_rl_sweep(x->rl_typing, now);
    x->sweep_timer = x->api->timer_add(x->h, SWEEP_MS, on_sweep, x);
}

static int web_start(void *self)
{
    struct web_ctx *x = self;
    int rc = x->api->http_route(x->h, NULL, "/*", web_api_handle, x);
    if (rc != GW_OK) {
        x->api->log(x->h, GW_LOG_ERROR, "cannot add the /webchat/ route (%d)", rc);
        return rc;
    }
    x->hb_timer = x->api->timer_add(x->h, (uint64_t)x->conf.heartbeat_ms, on_heartbeat, x);
    x->sweep_timer = x->api->timer_add(x->h, SWEEP_MS, on_sweep, x);
    x->api->log(x->h, GW_LOG_INFO, "serving %s, %zu allowed origins", x->conf.static_dir,
                x->conf.n_origins);
    return GW_OK;
}

static void web_stop(void *self)
{
    struct web_ctx *x = self;
    if (!x)
        return;
    /* The host normally ends our streams before stop(); close any left. */
    while (!TAILQ_EMPTY(&x->ss.all)) {
        struct web_stream *st = TAILQ_FIRST(&x->ss.all);
        struct gw_http_stream *hs = st->hs;
        x->api->http_stream_close(hs);
        if (TAILQ_FIRST(&x->ss.all) == st) /* host did not call back: drop it ourselves */
            web_stream_detach(&x->ss, &st);
    }
    x->api->timer_cancel(x->h, x->hb_timer);
    x->api->timer_cancel(x->h, x->sweep_timer);
    if (x->done_timer)
        x->api->timer_cancel(x->h, x->done_timer);
    if (x->idle_timer) /* armed by the streams closed above, among others */
        x->api->timer_cancel(x->h, x->idle_timer);
    /* Idle sessions are stored already (drop_idle would only move their expiry on). */
    confirm_all(x); /* nothing stays pending in the core */
    /* Sessions are in the store already; their in-memory expiry may be ahead of it. */
    free_ctx(&x);
}

static int web_reload(void *self, const config_setting_t *conf, char *err, size_t errlen)
{
    struct web_ctx *x = self;
    struct web_conf c;
    int rc = web_conf_load(&c, conf, x->api, x->h, err, errlen);
    if (rc != GW_OK)
        return rc;
    web_conf_release(&x->conf);
    x->conf = c;
    return make_limiters(x);
}

/* ---- deliver: core -> seeker ---- */

static int web_deliver(void *self, const struct gw_msg *m, char *err, size_t errlen)
{
    struct web_ctx *x = self;
    if (m->kind == GW_MSG_TRANSCRIPT) {
        snprintf(err, errlen, "the web chat offers transcripts as a download, not as messages");
        return GW_EPERM;
    }
    struct web_session *s = web_sessions_by_conv(&x->ss, m->conv);
    /* meta matters for system texts only; a counsellor's text carries the core's routing
     * meta, which the seeker never sees: not parsed on every counsellor message. */
    json_t *meta = m->meta_json && m->kind != GW_MSG_TEXT && m->kind != GW_MSG_TYPING
                       ? json_loads(m->meta_json, 0, NULL)
                       : NULL;
    if (meta && !json_is_object(meta)) {
        json_decref(meta);
        meta = NULL;
    }
    if (m->kind == GW_MSG_CLOSED && s) {
        const char *reason = json_string_value(json_object_get(meta, "reason"));
        s->closed = 1;
        if (reason && strcmp(reason, "blocked") == 0)
            s->blocked = 1;
        web_persist(x, s);
        web_session_idle(x, s); /* after this call: the push below still uses s */
    }
    /* A counsellor's text is confirmed with a reference (see confirm_later); everything
     * else is done once pushed.  Either way the core has stored it: a seeker who is not
     * connected now gets it by replay on the next visit. */
    int done = GW_OK;
    if (m->kind == GW_MSG_TEXT && confirm_later(x, m->id) == GW_OK)
        done = GW_PENDING;
    if (!s || s->n_streams == 0) {
        json_decref(meta);
        return done;
    }
    int64_t now = x->api->now_ms(x->h);
    json_t *d = NULL;
    const char *event = "message";
    switch (m->kind) {
    case GW_MSG_TYPING:
        event = "typing";
        d = json_pack("{s:s}", "state", m->body ? m->body : "paused");
        break;
    case GW_MSG_TEXT:
        web_session_note_out(s, m->id);
        d = json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)m->id, "dir", "out", "text",
                      m->body ? m->body : "", "ts", (json_int_t)now);
        break;
    default: /* AUTO, CLOSED */
        if (m->kind == GW_MSG_CLOSED && !meta)
            meta = json_pack("{s:s}", "type", "closed");
        d = json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)m->id, "dir", "auto", "text",
                      m->body ? m->body : "", "ts", (json_int_t)now);
        if (d && meta)
            json_object_set(d, "meta", meta);
        break;
    }
    json_decref(meta);
    char *data = d ? json_dumps(d, JSON_COMPACT) : NULL;
    json_decref(d);
    if (!data) {
        /* not pushed live; stored all the same, so replay brings it */
        snprintf(err, errlen, "out of memory");
        return done;
    }
    web_push(x, s, event, m->kind == GW_MSG_TYPING ? 0 : m->id, data, 1);
    free(data);
    return done;
}

static int web_health(void *self, char *buf, size_t buflen)
{
    struct web_ctx *x = self;
    snprintf(buf, buflen, "{\"sessions\":%zu,\"streams\":%u}", web_sessions_count(&x->ss),
             x->ss.n_streams);
    return 1;
}

/* The core erased conversation `conv` (the seeker's "delete this conversation now", or an
 * operator's erase-seeker): its session stays in memory only as an expired, closed husk —
 * its pages hear "erased" and lose their streams, requests with its token get 401, the
 * sweep frees it, and nothing writes it back to the store (persisted_exp_ms = expires_ms
 * = 0, see drop_idle).  Not freed here: a request handler may still hold it. */
static void web_forget(void *self, const char *conv)
{
    struct web_ctx *x = self;
    struct web_session *s = web_sessions_by_conv(&x->ss, conv);
    if (!s)
        return;
    web_push(x, s, "erased", 0, "{}", 0);
    while (!TAILQ_EMPTY(&s->streams))
        close_stream(x, TAILQ_FIRST(&s->streams));
    s->closed = 1;
    s->expires_ms = s->persisted_exp_ms = 0;
    web_sessions_remove_conv(&x->ss, s);
    web_session_idle(x, s);
}

__attribute__((visibility("default"))) const struct gw_plugin skagerrak_plugin = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_plugin),
    .name = "webchat",
    .version = GW_VERSION,
    .init = web_init,
    .start = web_start,
    .stop = web_stop,
    .reload = web_reload,
    .deliver = web_deliver,
    .health = web_health,
    .flags = 0,
    .forget = web_forget,
};

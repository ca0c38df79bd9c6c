/* session.c — the session table: two indexes over one set of sessions, plus stream lists. */
#include "session.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map.h"
#include "plugin_api.h"

int web_sessions_init(struct web_sessions *ss, uint64_t seed)
{
    memset(ss, 0, sizeof(*ss));
    TAILQ_INIT(&ss->all);
    TAILQ_INIT(&ss->idle);
    ss->by_key = web_map_new(seed);
    ss->by_conv = web_map_new(seed ^ 0x9e3779b97f4a7c15ULL);
    if (!ss->by_key || !ss->by_conv) {
        web_map_free(&ss->by_key);
        web_map_free(&ss->by_conv);
        return GW_ENOMEM;
    }
    return GW_OK;
}

static int free_each(void *arg, const char *key, void *val)
{
    (void)arg;
    (void)key;
    struct web_session *s = val;
    while (!TAILQ_EMPTY(&s->streams)) {
        struct web_stream *st = TAILQ_FIRST(&s->streams);
        web_stream_detach(arg, &st);
    }
    web_session_free(&s);
    return 1;
}

void web_sessions_release(struct web_sessions *ss)
{
    if (!ss || !ss->by_key)
        return;
    web_map_each(ss->by_key, free_each, ss);
    web_map_free(&ss->by_key);
    web_map_free(&ss->by_conv);
    TAILQ_INIT(&ss->idle); /* its sessions are gone with by_key */
}

struct web_session *web_session_new(const char *key, const char *sid, const char *conv,
                                    const char *lang, const char *queue, int64_t now_ms,
                                    int64_t ttl_ms)
{
    struct web_session *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    snprintf(s->key, sizeof(s->key), "%s", key);
    snprintf(s->sid, sizeof(s->sid), "%s", sid);
    snprintf(s->address, sizeof(s->address), "web:%s", s->sid);
    snprintf(s->conv, sizeof(s->conv), "%s", conv ? conv : "");
    snprintf(s->lang, sizeof(s->lang), "%s", lang);
    snprintf(s->queue, sizeof(s->queue), "%s", queue);
    s->created_ms = now_ms;
    s->expires_ms = now_ms + ttl_ms;
    TAILQ_INIT(&s->streams);
    return s;
}

void web_session_free(struct web_session **sp)
{
    if (!sp || !*sp)
        return;
    free(*sp);
    *sp = NULL;
}

int web_sessions_add(struct web_sessions *ss, struct web_session *s)
{
    if (web_map_get(ss->by_key, s->key))
        return GW_EDUP;
    if (web_map_put(ss->by_key, s->key, s) != GW_OK)
        return GW_ENOMEM;
    if (s->conv[0] && web_map_put(ss->by_conv, s->conv, s) != GW_OK) {
        web_map_del(ss->by_key, s->key);
        return GW_ENOMEM;
    }
    return GW_OK;
}

static void unlist_idle(struct web_sessions *ss, struct web_session *s)
{
    if (!s->idle_listed)
        return;
    TAILQ_REMOVE(&ss->idle, s, in_idle);
    s->idle_listed = 0;
}

void web_sessions_remove(struct web_sessions *ss, struct web_session *s)
{
    unlist_idle(ss, s);
    web_map_del(ss->by_key, s->key);
    if (s->conv[0] && web_map_get(ss->by_conv, s->conv) == s)
        web_map_del(ss->by_conv, s->conv);
}

struct web_session *web_sessions_by_key(const struct web_sessions *ss, const char *key)
{
    return key ? web_map_get(ss->by_key, key) : NULL;
}

void web_sessions_remove_conv(struct web_sessions *ss, struct web_session *s)
{
    if (s->conv[0] && web_map_get(ss->by_conv, s->conv) == s)
        web_map_del(ss->by_conv, s->conv);
    s->conv[0] = '\0';
}

struct web_session *web_sessions_by_conv(const struct web_sessions *ss, const char *conv)
{
    return conv ? web_map_get(ss->by_conv, conv) : NULL;
}

int web_sessions_set_conv(struct web_sessions *ss, struct web_session *s, const char *conv)
{
    if (strcmp(s->conv, conv) == 0)
        return GW_OK;
    if (web_map_put(ss->by_conv, conv, s) != GW_OK)
        return GW_ENOMEM;
    if (s->conv[0] && web_map_get(ss->by_conv, s->conv) == s)
        web_map_del(ss->by_conv, s->conv);
    snprintf(s->conv, sizeof(s->conv), "%s", conv);
    return GW_OK;
}

size_t web_sessions_count(const struct web_sessions *ss)
{
    return web_map_count(ss->by_key);
}

int web_session_touch(struct web_session *s, int64_t now_ms, int64_t ttl_ms)
{
    if (now_ms + ttl_ms > s->expires_ms)
        s->expires_ms = now_ms + ttl_ms;
    return s->expires_ms - s->persisted_exp_ms > ttl_ms / 4;
}

struct expire_ctx {
    struct web_sessions *ss;
    int64_t now_ms;
    void (*gone)(void *arg, struct web_session *s);
    void *arg;
    size_t n;
};

static int expire_each(void *arg, const char *key, void *val)
{
    struct expire_ctx *c = arg;
    struct web_session *s = val;
    (void)key;
    if (s->expires_ms > c->now_ms || s->n_streams > 0)
        return 0;
    unlist_idle(c->ss, s);
    if (s->conv[0] && web_map_get(c->ss->by_conv, s->conv) == s)
        web_map_del(c->ss->by_conv, s->conv);
    c->gone(c->arg, s);
    c->n++;
    return 1; /* drop from by_key */
}

size_t web_sessions_expire(struct web_sessions *ss, int64_t now_ms,
                           void (*gone)(void *arg, struct web_session *s), void *arg)
{
    struct expire_ctx c = {ss, now_ms, gone, arg, 0};
    web_map_each(ss->by_key, expire_each, &c);
    return c.n;
}

int web_sessions_note_idle(struct web_sessions *ss, struct web_session *s)
{
    if (!s->closed || s->n_streams > 0 || s->idle_listed)
        return 0;
    TAILQ_INSERT_TAIL(&ss->idle, s, in_idle);
    s->idle_listed = 1;
    return 1;
}

size_t web_sessions_drop_idle(struct web_sessions *ss,
                              void (*gone)(void *arg, struct web_session *s), void *arg)
{
    size_t n = 0;
    struct web_session *s;
    while ((s = TAILQ_FIRST(&ss->idle))) {
        unlist_idle(ss, s);
        if (!s->closed || s->n_streams > 0)
            continue;
        web_sessions_remove(ss, s);
        gone(arg, s);
        n++;
    }
    return n;
}

char *web_session_to_json(const struct web_session *s)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:b, s:b, s:b}", "sid", s->sid, "conv",
                          s->conv, "lang", s->lang, "queue", s->queue, "created",
                          (json_int_t)s->created_ms, "exp", (json_int_t)s->expires_ms, "closed",
                          s->closed, "blocked", s->blocked, "feedback", s->feedback_given);
    if (!j)
        return NULL;
    char *out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return out;
}

struct web_session *web_session_from_json(const char *json, const char *key, int64_t now_ms)
{
    if (!json || !*json)
        return NULL;
    json_t *j = json_loads(json, 0, NULL);
    if (!j)
        return NULL;
    const char *sid = NULL, *conv = NULL, *lang = NULL, *queue = NULL;
    json_int_t created = 0, exp = 0;
    int closed = 0, blocked = 0, feedback = 0;
    struct web_session *s = NULL;
    if (json_unpack(j, "{s:s, s:s, s:s, s:s, s:I, s:I, s?b, s?b, s?b}", "sid", &sid, "conv", &conv,
                    "lang", &lang, "queue", &queue, "created", &created, "exp", &exp, "closed",
                    &closed, "blocked", &blocked, "feedback", &feedback) == 0 &&
        exp > now_ms && web_sid_valid(sid) && strlen(conv) < 40 && strlen(lang) == 2 &&
        strlen(queue) < 64) {
        s = web_session_new(key, sid, conv, lang, queue, created, 0);
        if (s) {
            s->expires_ms = exp;
            s->persisted_exp_ms = exp;
            s->closed = closed;
            s->blocked = blocked;
            s->feedback_given = feedback;
        }
    }
    json_decref(j);
    return s;
}

struct web_stream *web_stream_attach(struct web_sessions *ss, struct web_session *s,
                                     struct gw_http_stream *hs, int64_t now_ms)
{
    struct web_stream *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    st->sess = s;
    st->ss = ss;
    st->hs = hs;
    st->opened_ms = now_ms;
    TAILQ_INSERT_TAIL(&s->streams, st, in_sess);
    TAILQ_INSERT_TAIL(&ss->all, st, in_all);
    s->n_streams++;
    ss->n_streams++;
    return st;
}

void web_stream_detach(struct web_sessions *ss, struct web_stream **stp)
{
    if (!stp || !*stp)
        return;
    struct web_stream *st = *stp;
    TAILQ_REMOVE(&st->sess->streams, st, in_sess);
    TAILQ_REMOVE(&ss->all, st, in_all);
    st->sess->n_streams--;
    ss->n_streams--;
    free(st);
    *stp = NULL;
}

struct web_stream *web_session_oldest_stream(const struct web_session *s)
{
    return TAILQ_FIRST(&s->streams);
}

void web_session_note_out(struct web_session *s, int64_t id)
{
    if (web_session_has_out(s, id))
        return;
    s->out_ids[s->n_out % WEB_OUT_RING] = id;
    s->n_out++;
}

int web_session_has_out(const struct web_session *s, int64_t id)
{
    unsigned n = s->n_out < WEB_OUT_RING ? s->n_out : WEB_OUT_RING;
    for (unsigned i = 0; i < n; i++)
        if (s->out_ids[i] == id)
            return 1;
    return 0;
}

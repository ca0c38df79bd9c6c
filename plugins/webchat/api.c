/* api.c — request dispatch, CORS, authentication and the JSON handlers of the web chat. */
#include "api.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "req.h"
#include "static.h"
#include "token.h"
#include "webchat.h"

enum auth { AUTH_NONE = 0, AUTH_BEARER, AUTH_BEARER_OR_QUERY };

void web_call_header(struct web_call *c, const char *name, const char *value)
{
    if (c->nh + 3 <= WEB_CALL_MAX_HDR) {
        c->hdr[c->nh++] = name;
        c->hdr[c->nh++] = value;
        c->hdr[c->nh] = NULL;
    }
}

/* Answer with a JSON body (stolen; NULL = "{}"). */
static void reply(struct web_call *c, int status, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    const char *body = s ? s : "{}";
    c->x->api->http_respond(c->r, status, "application/json", body, strlen(body), c->hdr);
    free(s);
}

void web_call_error(struct web_call *c, int status, const char *code)
{
    reply(c, status, json_pack("{s:s}", "error", code));
}

static void reply_limited(struct web_call *c, int64_t retry_ms)
{
    int64_t s = retry_ms / 1000 + 1;
    snprintf(c->retry_after, sizeof(c->retry_after), "%" PRId64, s);
    web_call_header(c, "Retry-After", c->retry_after);
    reply(c, 429, json_pack("{s:s, s:I}", "error", "rate_limited", "retry_after_s", (json_int_t)s));
}

static void reply_empty(struct web_call *c, int status)
{
    c->x->api->http_respond(c->r, status, NULL, "", 0, c->hdr);
}

/* ---- client address ---- */

void web_api_forwarded_for(const char *xff, char *out, size_t outlen)
{
    out[0] = '\0';
    if (!xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ' || *last == '\t')
        last++;
    size_t n = strcspn(last, " \t");
    if (n >= outlen)
        return;
    memcpy(out, last, n);
    out[n] = '\0';
}

void web_api_ip_key(const char *ip, char *out, size_t outlen)
{
    unsigned char a[16];
    out[0] = '\0';
    if (!ip)
        return;
    if (inet_pton(AF_INET, ip, a) == 1) {
        inet_ntop(AF_INET, a, out, (socklen_t)outlen);
    } else if (inet_pton(AF_INET6, ip, a) == 1) {
        memset(a + 8, 0, 8);
        if (inet_ntop(AF_INET6, a, out, (socklen_t)outlen) && strlen(out) + 4 < outlen)
            strcat(out, "/64"); /* bounded by the check above */
    }
}

int web_api_same_host(const char *origin, const char *host)
{
    if (!origin || !host)
        return 0;
    if (strncmp(origin, "https://", 8) == 0)
        origin += 8;
    else if (strncmp(origin, "http://", 7) == 0)
        origin += 7;
    else
        return 0;
    return strcasecmp(origin, host) == 0;
}

/* ---- handlers ---- */

static void h_config(struct web_call *c)
{
    struct web_ctx *x = c->x;
    const char *queue = x->api->http_query(c->r, "queue");
    const char *lang = x->api->http_query(c->r, "lang");
    if (!queue || !*queue)
        queue = x->conf.queues[0];
    if (!web_conf_has_queue(&x->conf, queue)) {
        web_call_error(c, 400, "queue_unknown");
        return;
    }
    if (!web_conf_has_lang(&x->conf, lang))
        lang = x->conf.default_lang;
    char qbuf[2048] = "";
    json_t *qi = NULL;
    if (x->api->queue_info(x->h, queue, lang, qbuf, sizeof(qbuf)) == GW_OK)
        qi = json_loads(qbuf, 0, NULL);
    if (!json_is_object(qi)) {
        json_decref(qi);
        qi = json_pack("{s:s}", "id", queue);
    }
    json_t *langs = json_array();
    for (size_t i = 0; i < x->conf.n_langs; i++)
        json_array_append_new(langs, json_string(x->conf.langs[i]));
    json_t *j =
        json_pack("{s:o, s:s, s:o, s:O, s:i, s:b, s:b, s:s, s:s, s:I}", "languages", langs,
                  "default_lang", x->conf.default_lang, "queue", qi, "fields", x->conf.fields_json,
                  "max_chars", (int)x->conf.max_chars, "transcript_email", x->conf.transcript_email,
                  "feedback", x->conf.feedback, "storage", x->conf.storage, "timezone",
                  x->conf.timezone, "session_ttl_s", (json_int_t)(x->conf.session_ttl_ms / 1000));
    if (j && x->conf.privacy_url[0])
        json_object_set_new(j, "privacy_url", json_string(x->conf.privacy_url));
    if (!j) {
        web_call_error(c, 500, "internal");
        return;
    }
    reply(c, 200, j);
}

static void h_start(struct web_call *c)
{
    struct web_ctx *x = c->x;
    int64_t retry = 0;
    if (web_rl_take(x->rl_ip_sessions, c->ip, c->now, &retry) != GW_OK) {
        reply_limited(c, retry);
        return;
    }
    size_t len = 0;
    const char *body = x->api->http_body(c->r, &len);
    if (len > 16384) {
        web_call_error(c, 413, "too_long");
        return;
    }
    struct web_req_start st;
    char code[32];
    int rc = web_req_start(&x->conf, body, len, &st, code, sizeof(code));
    if (rc != GW_OK) {
        web_call_error(c, rc == GW_ELIMIT ? 413 : 400, code);
        return;
    }
    char token[WEB_TOKEN_LEN + 1], key[WEB_TOKEN_KEY_LEN + 1], sid[WEB_SID_LEN + 1];
    if (web_token_new(token, sizeof(token)) != GW_OK || web_sid_new(sid, sizeof(sid)) != GW_OK ||
        web_token_key(token, key, sizeof(key)) != GW_OK) {
        x->api->log(x->h, GW_LOG_ERROR, "no randomness for a session token");
        web_req_start_release(&st);
        web_call_error(c, 503, "unavailable");
        return;
    }
    struct web_session *s =
        web_session_new(key, sid, "", st.lang, st.queue, c->now, x->conf.session_ttl_ms);
    char *meta = NULL;
    if (json_object_size(st.fields) > 0) {
        json_t *m = json_pack("{s:O}", "fields", st.fields);
        meta = m ? json_dumps(m, JSON_COMPACT) : NULL;
        json_decref(m);
    }
    web_req_start_release(&st);
    if (!s) {
        free(meta);
        web_call_error(c, 503, "unavailable");
        return;
    }
    char display[16];
    snprintf(display, sizeof(display), "\xc2\xb7\xc2\xb7%s", sid + WEB_SID_LEN - 4);
    struct gw_inbound in = {
        .address = s->address,
        .display = display,
        .body = "",
        .lang = s->lang,
        .queue = s->queue,
        .meta_json = meta,
        .new_conversation = 1,
    };
    struct gw_submitted out;
    char err[256] = "";
    memset(&out, 0, sizeof(out));
    rc = x->api->submit(x->h, &in, &out, err, sizeof(err));
    free(meta);
    if (rc != GW_OK) {
        x->api->log(x->h, GW_LOG_WARN, "session start refused (%d): %s", rc, err);
        web_session_free(&s);
        if (rc == GW_EPERM)
            web_call_error(c, 403, "blocked");
        else if (rc == GW_ELIMIT)
            reply_limited(c, 60000);
        else
            web_call_error(c, 503, "unavailable");
        return;
    }
    snprintf(s->conv, sizeof(s->conv), "%s", out.conv);
    if (web_sessions_add(&x->ss, s) != GW_OK) {
        web_session_free(&s);
        web_call_error(c, 503, "unavailable");
        return;
    }
    web_persist(x, s);
    x->api->log(x->h, GW_LOG_INFO, "session %s started (queue %s, %s)", s->sid, s->queue, s->lang);
    reply(c, 201,
          json_pack("{s:s, s:s, s:s, s:s, s:I}", "token", token, "sid", s->sid, "lang", s->lang,
                    "queue", s->queue, "expires_ms", (json_int_t)s->expires_ms));
    memset(token, 0, sizeof(token));
}

static const char *conv_state(struct web_call *c, char *buf, size_t len)
{
    if (c->x->api->conv_info(c->x->h, c->s->conv, NULL, 0, buf, len) != GW_OK)
        snprintf(buf, len, "unknown");
    if (strcmp(buf, "closed") == 0)
        c->s->closed = 1;
    return buf;
}

json_t *web_call_session_json(struct web_call *c)
{
    char state[32];
    conv_state(c, state, sizeof(state));
    struct web_session *s = c->s;
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:b, s:b, s:I}", "sid", s->sid, "lang", s->lang,
                     "queue", s->queue, "state", state, "closed", s->closed, "blocked", s->blocked,
                     "feedback_given", s->feedback_given, "expires_ms", (json_int_t)s->expires_ms);
}

static void h_status(struct web_call *c)
{
    reply(c, 200, web_call_session_json(c));
}

/* Refuse input to a closed or blocked session; 1 if refused (answered). */
static int refuse_closed(struct web_call *c)
{
    if (c->s->blocked) {
        web_call_error(c, 403, "blocked");
        return 1;
    }
    if (c->s->closed) {
        web_call_error(c, 409, "closed");
        return 1;
    }
    return 0;
}

/* The seeker's own message, shown in their other tabs only once it is committed: if the
 * commit fails the POST is answered 503 and the widget sends it again (a second echo of a
 * message that was never stored would show it twice). */
struct echo {
    struct web_ctx *x;
    char key[WEB_TOKEN_KEY_LEN + 1];
    char data[];
};

static void echo_now(void *arg)
{
    struct echo *e = arg;
    struct web_session *s = web_sessions_by_key(&e->x->ss, e->key);
    if (s) /* the session may have expired meanwhile */
        web_push(e->x, s, "message", 0, e->data, 0);
    free(e);
}

static void echo_after_commit(struct web_ctx *x, struct web_session *s, const char *data)
{
    if (x->api->size < offsetof(struct gw_host_api, after_commit) + sizeof x->api->after_commit) {
        web_push(x, s, "message", 0, data, 0); /* an older core */
        return;
    }
    size_t n = strlen(data) + 1;
    struct echo *e = malloc(sizeof *e + n);
    if (!e)
        return; /* only the other tabs miss it; the history has it */
    e->x = x;
    snprintf(e->key, sizeof e->key, "%s", s->key);
    memcpy(e->data, data, n);
    if (x->api->after_commit(x->h, echo_now, free, e) != GW_OK)
        free(e);
}

static void h_message(struct web_call *c)
{
    struct web_ctx *x = c->x;
    struct web_session *s = c->s;
    if (refuse_closed(c))
        return;
    size_t len = 0;
    const char *body = x->api->http_body(c->r, &len);
    struct web_req_message m;
    char code[32];
    int rc = web_req_message(&x->conf, body, len, &m, code, sizeof(code));
    if (rc != GW_OK) {
        if (rc == GW_ELIMIT)
            reply(c, 413,
                  json_pack("{s:s, s:i}", "error", code, "max_chars", (int)x->conf.max_chars));
        else
            web_call_error(c, 400, code);
        return;
    }
    int64_t retry = 0;
    if (web_rl_take(x->rl_session, s->key, c->now, &retry) != GW_OK ||
        web_rl_take(x->rl_ip, c->ip, c->now, &retry) != GW_OK) {
        web_req_message_release(&m);
        reply_limited(c, retry);
        return;
    }
    char cmid[WEB_SID_LEN + WEB_CID_MAX + 8];
    /* namespaced, so that one session cannot collide with another's ids */
    snprintf(cmid, sizeof(cmid), "web:%s:%s", s->sid, m.cid);
    struct gw_inbound in = {
        .channel_msg_id = m.cid[0] ? cmid : NULL,
        .address = s->address,
        .body = m.text,
        .lang = s->lang,
        .queue = s->queue,
        .conv = s->conv,
    };
    char display[16];
    snprintf(display, sizeof(display), "\xc2\xb7\xc2\xb7%s", s->sid + WEB_SID_LEN - 4);
    in.display = display;
    struct gw_submitted out;
    char err[256] = "";
    memset(&out, 0, sizeof(out));
    rc = x->api->submit(x->h, &in, &out, err, sizeof(err));
    if (rc != GW_OK) {
        web_req_message_release(&m);
        x->api->log(x->h, rc == GW_EIO ? GW_LOG_ERROR : GW_LOG_INFO,
                    "session %s: message refused (%d): %s", s->sid, rc, err);
        if (rc == GW_EPERM) {
            s->closed = s->blocked = 1;
            web_persist(x, s);
            web_call_error(c, 403, "blocked");
        } else if (rc == GW_ELIMIT) {
            reply_limited(c, 60000);
        } else if (rc == GW_EINVAL) {
            web_call_error(c, 400, "invalid");
        } else {
            web_call_error(c, 503, "unavailable"); /* the widget keeps the text and retries */
        }
        return;
    }
    if (out.conv[0] && strcmp(out.conv, s->conv) != 0)
        web_sessions_set_conv(&x->ss, s, out.conv);
    if (!out.duplicate) {
        /* Show it in the seeker's other tabs.  No SSE id: ids on the stream come only from
         * replay and deliver(), which the core keeps in order; the id is in the data. */
        json_t *d = json_pack("{s:I, s:s, s:s, s:I}", "id", (json_int_t)out.msg_id, "dir", "in",
                              "text", m.text, "ts", (json_int_t)c->now);
        if (d && m.cid[0])
            json_object_set_new(d, "cid", json_string(m.cid));
        char *data = d ? json_dumps(d, JSON_COMPACT) : NULL;
        json_decref(d);
        if (data)
            echo_after_commit(x, s, data);
        free(data);
    }
    web_req_message_release(&m);
    if (web_session_touch(s, c->now, x->conf.session_ttl_ms))
        web_persist(x, s);
    reply(c, 200,
          json_pack("{s:I, s:b, s:I}", "id", (json_int_t)out.msg_id, "duplicate", out.duplicate,
                    "ts", (json_int_t)c->now));
}

static void h_typing(struct web_call *c)
{
    struct web_ctx *x = c->x;
    size_t len = 0;
    const char *body = x->api->http_body(c->r, &len);
    int composing = 0;
    char code[32];
    if (web_req_typing(body, len, &composing, code, sizeof(code)) != GW_OK) {
        web_call_error(c, 400, code);
        return;
    }
    /* Extra typing events are dropped quietly: they carry nothing the seeker loses. */
    if (!c->s->closed && web_rl_take(x->rl_typing, c->s->key, c->now, NULL) == GW_OK)
        x->api->seeker_event(x->h, c->s->conv, composing ? GW_EV_COMPOSING : GW_EV_PAUSED);
    reply_empty(c, 204);
}

/* Is `id` a counsellor's message of this session's conversation?  Asked of the store when the
 * session's memory of what it was sent does not have it: after a restart the ring is empty,
 * yet the page still acknowledges what it showed before (its receipt must not be lost). */
struct ack_probe {
    int64_t id;
    int mine;
};

static int ack_probe_one(void *arg, const struct gw_history_item *it)
{
    struct ack_probe *p = arg;
    p->mine = it->id == p->id && !strcmp(it->dir, "out");
    return 1; /* the first item after id - 1 is the only one that matters */
}

static int ack_is_mine(struct web_ctx *x, struct web_session *s, int64_t id)
{
    if (web_session_has_out(s, id))
        return 1;
    struct ack_probe p = {id, 0};
    if (id > 0 && s->conv[0])
        x->api->history(x->h, s->conv, id - 1, ack_probe_one, &p);
    return p.mine;
}

static void h_ack(struct web_call *c)
{
    struct web_ctx *x = c->x;
    size_t len = 0, n = 0;
    const char *body = x->api->http_body(c->r, &len);
    int64_t ids[WEB_ACK_MAX];
    char code[32];
    if (web_req_ack(body, len, ids, WEB_ACK_MAX, &n, code, sizeof(code)) != GW_OK) {
        web_call_error(c, 400, code);
        return;
    }
    int any = 0;
    web_confirm_pending(x); /* else an ack in the turn the message arrived finds no ref */
    for (size_t i = 0; i < n; i++) {
        if (!ack_is_mine(x, c->s, ids[i]))
            continue; /* not a message this session was sent: ignore */
        char ref[32];
        web_msg_ref(ids[i], ref, sizeof(ref));
        x->api->delivery_report(x->h, ref, GW_DLR_DELIVERED, NULL);
        any = 1;
    }
    if (any)
        x->api->seeker_event(x->h, c->s->conv, GW_EV_SEEN);
    reply_empty(c, 204);
}

static void h_end(struct web_call *c)
{
    struct web_ctx *x = c->x;
    struct web_session *s = c->s;
    if (!s->closed) {
        x->api->seeker_event(x->h, s->conv, GW_EV_ENDED);
        s->closed = 1;
        web_persist(x, s);
        web_push(x, s, "ended", 0, "{\"reason\":\"seeker\"}", 0);
        x->api->log(x->h, GW_LOG_INFO, "session %s ended by the seeker", s->sid);
    }
    reply(c, 200, web_call_session_json(c));
}

static void h_transcript(struct web_call *c)
{
    struct web_ctx *x = c->x;
    char *text = x->api->transcript_text(x->h, c->s->conv);
    if (!text) {
        web_call_error(c, 404, "not_found");
        return;
    }
    time_t t = (time_t)(c->now / 1000);
    struct tm tm;
    char disp[64];
    gmtime_r(&t, &tm);
    strftime(disp, sizeof(disp), "attachment; filename=\"chat-%Y%m%d.txt\"", &tm);
    web_call_header(c, "Content-Disposition", disp);
    x->api->http_respond(c->r, 200, "text/plain; charset=utf-8", text, strlen(text), c->hdr);
    free(text);
}

static void h_transcript_email(struct web_call *c)
{
    struct web_ctx *x = c->x;
    if (!x->conf.transcript_email) {
        web_call_error(c, 404, "not_enabled");
        return;
    }
    int64_t retry = 0;
    if (web_rl_take(x->rl_session, c->s->key, c->now, &retry) != GW_OK) {
        reply_limited(c, retry);
        return;
    }
    size_t len = 0;
    const char *body = x->api->http_body(c->r, &len);
    char *addr = NULL;
    char code[32];
    if (web_req_email(body, len, &addr, code, sizeof(code)) != GW_OK) {
        web_call_error(c, 400, code);
        return;
    }
    int rc = x->api->transcript(x->h, c->s->conv, "email", addr);
    free(addr);
    if (rc != GW_OK) {
        x->api->log(x->h, GW_LOG_WARN, "session %s: transcript by email refused (%d)", c->s->sid,
                    rc);
        web_call_error(c, rc == GW_EINVAL ? 400 : 503,
                       rc == GW_EINVAL ? "address_invalid" : "unavailable");
        return;
    }
    reply(c, 202, json_pack("{s:b}", "queued", 1));
}

static void h_feedback(struct web_call *c)
{
    struct web_ctx *x = c->x;
    if (!x->conf.feedback) {
        web_call_error(c, 404, "not_enabled");
        return;
    }
    if (c->s->feedback_given) {
        web_call_error(c, 409, "already_given");
        return;
    }
    size_t len = 0;
    const char *body = x->api->http_body(c->r, &len);
    int rating = 0;
    char *comment = NULL;
    char code[32];
    int rc = web_req_feedback(body, len, &rating, &comment, code, sizeof(code));
    if (rc != GW_OK) {
        web_call_error(c, rc == GW_ELIMIT ? 413 : 400, code);
        return;
    }
    rc = x->api->feedback(x->h, c->s->conv, rating, comment);
    free(comment);
    if (rc != GW_OK) {
        web_call_error(c, 503, "unavailable");
        return;
    }
    c->s->feedback_given = 1;
    web_persist(x, c->s);
    reply_empty(c, 204);
}

/* "Delete this conversation now" (docs/erasure.md): the core erases everything stored
 * about this seeker and calls web_forget for the session; after that `s` is an erased
 * husk (no conversation, expired), so only the answer is written here. */
static void h_erase(struct web_call *c)
{
    struct web_ctx *x = c->x;
    if (x->api->size < offsetof(struct gw_host_api, erase_conv) + sizeof(x->api->erase_conv) ||
        !x->api->erase_conv) {
        web_call_error(c, 404, "not_enabled");
        return;
    }
    char sid[64];
    snprintf(sid, sizeof(sid), "%s", c->s->sid);
    if (!c->s->conv[0]) { /* a session that never got a conversation: nothing stored */
        reply(c, 200, json_pack("{s:b}", "erased", 1));
        return;
    }
    int rc = x->api->erase_conv(x->h, c->s->conv);
    if (rc != GW_OK) {
        x->api->log(x->h, GW_LOG_WARN, "session %s: erase failed (%d)", sid, rc);
        web_call_error(c, rc == GW_ENOTFOUND ? 404 : 503,
                       rc == GW_ENOTFOUND ? "not_found" : "unavailable");
        return;
    }
    x->api->log(x->h, GW_LOG_INFO, "session %s erased by the seeker", sid);
    reply(c, 200, json_pack("{s:b}", "erased", 1));
}

/* ---- dispatch ---- */

static const struct route {
    const char *method;
    const char *path; /* below /webchat/ */
    void (*fn)(struct web_call *c);
    enum auth auth;
} routes[] = {
    {"GET", "config", h_config, AUTH_NONE},
    {"POST", "session", h_start, AUTH_NONE},
    {"GET", "session", h_status, AUTH_BEARER},
    {"POST", "message", h_message, AUTH_BEARER},
    {"POST", "typing", h_typing, AUTH_BEARER},
    {"POST", "ack", h_ack, AUTH_BEARER},
    {"POST", "end", h_end, AUTH_BEARER},
    {"GET", "transcript", h_transcript, AUTH_BEARER_OR_QUERY},
    {"POST", "transcript-email", h_transcript_email, AUTH_BEARER},
    {"POST", "feedback", h_feedback, AUTH_BEARER},
    {"POST", "erase", h_erase, AUTH_BEARER},
    {"GET", "events", web_events_open, AUTH_BEARER_OR_QUERY},
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static void preflight(struct web_call *c, const char *path)
{
    char allow[64] = "";
    for (size_t i = 0; i < N_ROUTES; i++)
        if (strcmp(routes[i].path, path) == 0) {
            if (allow[0])
                strncat(allow, ", ", sizeof(allow) - strlen(allow) - 1);
            strncat(allow, routes[i].method, sizeof(allow) - strlen(allow) - 1);
        }
    if (!allow[0]) {
        web_call_error(c, 404, "not_found");
        return;
    }
    web_call_header(c, "Access-Control-Allow-Methods", allow);
    web_call_header(c, "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, Last-Event-ID");
    web_call_header(c, "Access-Control-Max-Age", "600");
    reply_empty(c, 204);
}

void web_api_handle(void *arg, struct gw_http_req *req)
{
    struct web_ctx *x = arg;
    const struct gw_host_api *api = x->api;
    struct web_call c;
    memset(&c, 0, sizeof(c));
    c.x = x;
    c.r = req;
    c.now = api->now_ms(x->h);
    const char *method = api->http_method(req);
    const char *path = api->http_path(req);
    while (*path == '/')
        path++;

    char peer[64];
    if (x->conf.trust_proxy)
        web_api_forwarded_for(api->http_header(req, "X-Forwarded-For"), peer, sizeof(peer));
    else
        peer[0] = '\0';
    web_api_ip_key(peer[0] ? peer : api->http_peer(req), c.ip, sizeof(c.ip));

    /* CORS: only configured origins (and our own host) may use the API from a page. */
    const char *origin = api->http_header(req, "Origin");
    int cross = origin && !web_api_same_host(origin, api->http_header(req, "Host"));
    int allowed = !cross || web_conf_origin_allowed(&x->conf, origin);
    web_call_header(&c, "Vary", "Origin");
    if (cross && allowed)
        web_call_header(&c, "Access-Control-Allow-Origin", origin);

    const struct route *rt = NULL;
    int path_known = 0;
    for (size_t i = 0; i < N_ROUTES; i++)
        if (strcmp(routes[i].path, path) == 0) {
            path_known = 1;
            if (strcmp(routes[i].method, method) == 0)
                rt = &routes[i];
        }

    if (strcmp(method, "OPTIONS") == 0) {
        if (!allowed)
            web_call_error(&c, 403, "origin");
        else
            preflight(&c, path);
        return;
    }
    if (!path_known) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
            web_call_header(&c, "Allow", "GET, HEAD");
            web_call_error(&c, 405, "method");
            return;
        }
        web_static_serve(x, req, path, c.hdr);
        return;
    }
    if (!rt) {
        web_call_error(&c, 405, "method");
        return;
    }
    if (!allowed) {
        api->log(x->h, GW_LOG_INFO, "refused %s /%s from origin %s", method, path, origin);
        web_call_error(&c, 403, "origin");
        return;
    }
    if (rt->auth != AUTH_NONE) {
        const char *tok = web_token_from_bearer(api->http_header(req, "Authorization"));
        if (!tok && rt->auth == AUTH_BEARER_OR_QUERY)
            tok = api->http_query(req, "token");
        c.s = tok ? web_session_for_token(x, tok) : NULL;
        if (!c.s) {
            web_call_header(&c, "WWW-Authenticate", "Bearer");
            web_call_error(&c, 401, "session");
            return;
        }
    }
    rt->fn(&c);
    if (c.s) /* ended now, or reloaded from the store for this request only */
        web_session_idle(x, c.s);
}

/* plugin.c — "loopback", a test channel: tests drive it over HTTP through the core's own
 * server, the same way a real channel's webhooks arrive.
 *
 *   POST /loopback/inbound   {"address","body","id"?,"lang"?,"queue"?,"new"?,"conv"?,"meta"?}
 *                            -> 200 {"msg_id","conv","duplicate"} | 4xx {"error"}
 *   GET  /loopback/events    a stream (one JSON object per line) of everything deliver()
 *                            was asked to carry, from the start (?after=N skips the first N)
 *   POST /loopback/mode      {"mode":"ok"|"eagain"|"eperm"|"pending"}
 *   POST /loopback/complete  {"msg_id", "status":"ok"|"eagain"|"eperm", "ref"?}
 *   POST /loopback/dlr       {"ref","state":"delivered"|"failed"|"sent","reason"?}
 *   POST /loopback/event     {"conv","event":"composing"|"paused"|"ended"}
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "plugin_api.h"

struct lb_stream {
    struct gw_http_stream *s;
    struct lb *lb;
    struct lb_stream *next;
};

struct lb {
    const struct gw_host_api *api;
    struct gw_host *h;
    char **items; /* every delivered item as a JSON line */
    size_t nitems, cap;
    struct lb_stream *streams;
    char mode[16];
    int keep; /* keep delivered items for replay (tests); off for memory benchmarks */
};

static void respond_json(struct lb *lb, struct gw_http_req *r, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    lb->api->http_respond(r, status, "application/json", s ? s : "{}", s ? strlen(s) : 2, NULL);
    free(s);
    json_decref(j);
}

static json_t *body_json(struct lb *lb, struct gw_http_req *r)
{
    size_t len;
    const char *b = lb->api->http_body(r, &len);
    return b ? json_loadb(b, len, 0, NULL) : NULL;
}

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void on_inbound(void *arg, struct gw_http_req *r)
{
    struct lb *lb = arg;
    json_t *j = body_json(lb, r);
    if (!j) {
        respond_json(lb, r, 400, json_pack("{s:s}", "error", "body must be JSON"));
        return;
    }
    char *meta =
        json_object_get(j, "meta") ? json_dumps(json_object_get(j, "meta"), JSON_COMPACT) : NULL;
    char masked[64];
    struct gw_inbound in = {.channel_msg_id = jstr(j, "id"),
                            .address = jstr(j, "address"),
                            .body = jstr(j, "body"),
                            .lang = jstr(j, "lang"),
                            .queue = jstr(j, "queue"),
                            .conv = jstr(j, "conv"),
                            .meta_json = meta,
                            .new_conversation = json_is_true(json_object_get(j, "new"))};
    in.display = lb->api->mask_address(in.address, masked, sizeof masked);
    struct gw_submitted out;
    char err[256] = "";
    int rc = lb->api->submit(lb->h, &in, &out, err, sizeof err);
    free(meta);
    json_decref(j);
    if (rc < 0) {
        respond_json(lb, r,
                     rc == GW_EPERM    ? 403
                     : rc == GW_ELIMIT ? 413
                     : rc == GW_EIO    ? 503
                                       : 400,
                     json_pack("{s:s,s:i}", "error", err, "code", rc));
        return;
    }
    respond_json(lb, r, 200,
                 json_pack("{s:I,s:s,s:b}", "msg_id", (json_int_t)out.msg_id, "conv", out.conv,
                           "duplicate", out.duplicate));
}

static void stream_closed(void *arg, struct gw_http_stream *s)
{
    struct lb_stream *ls = arg;
    (void)s;
    for (struct lb_stream **pp = &ls->lb->streams; *pp; pp = &(*pp)->next)
        if (*pp == ls) {
            *pp = ls->next;
            break;
        }
    free(ls);
}

static void on_events(void *arg, struct gw_http_req *r)
{
    struct lb *lb = arg;
    const char *after = lb->api->http_query(r, "after");
    size_t skip = after ? (size_t)strtoul(after, NULL, 10) : 0;
    struct lb_stream *ls = calloc(1, sizeof *ls);
    if (!ls) {
        lb->api->http_respond(r, 500, "text/plain", "oom", 3, NULL);
        return;
    }
    ls->lb = lb;
    ls->s = lb->api->http_stream_open(r, "application/x-ndjson", NULL, stream_closed, ls);
    if (!ls->s) {
        free(ls);
        return;
    }
    ls->next = lb->streams;
    lb->streams = ls;
    for (size_t i = skip; i < lb->nitems; i++)
        lb->api->http_stream_write(ls->s, lb->items[i], strlen(lb->items[i]));
}

static void on_mode(void *arg, struct gw_http_req *r)
{
    struct lb *lb = arg;
    json_t *j = body_json(lb, r);
    const char *m = j ? jstr(j, "mode") : NULL;
    if (!m ||
        (strcmp(m, "ok") && strcmp(m, "eagain") && strcmp(m, "eperm") && strcmp(m, "pending"))) {
        json_decref(j);
        respond_json(lb, r, 400, json_pack("{s:s}", "error", "mode: ok|eagain|eperm|pending"));
        return;
    }
    snprintf(lb->mode, sizeof lb->mode, "%s", m);
    json_decref(j);
    respond_json(lb, r, 200, json_pack("{s:s}", "mode", lb->mode));
}

static int status_of(const char *s)
{
    return !s || !strcmp(s, "ok") ? GW_OK : !strcmp(s, "eagain") ? GW_EAGAIN : GW_EPERM;
}

static void on_complete(void *arg, struct gw_http_req *r)
{
    struct lb *lb = arg;
    json_t *j = body_json(lb, r);
    if (!j) {
        respond_json(lb, r, 400, json_pack("{s:s}", "error", "JSON"));
        return;
    }
    lb->api->deliver_done(lb->h, (int64_t)json_integer_value(json_object_get(j, "msg_id")),
                          status_of(jstr(j, "status")), jstr(j, "ref"), jstr(j, "reason"));
    json_decref(j);
    respond_json(lb, r, 200, json_object());
}

static void on_dlr(void *arg, struct gw_http_req *r)
{
    struct lb *lb = arg;
    json_t *j = body_json(lb, r);
    const char *st = j ? jstr(j, "state") : NULL;
    enum gw_dlr d = st && !strcmp(st, "delivered") ? GW_DLR_DELIVERED
                    : st && !strcmp(st, "failed")  ? GW_DLR_FAILED
                                                   : GW_DLR_SENT;
    int rc = j ? lb->api->delivery_report(lb->h, jstr(j, "ref"), d, jstr(j, "reason")) : GW_EINVAL;
    json_decref(j);
    respond_json(lb, r, rc == GW_OK ? 200 : 404, json_pack("{s:i}", "rc", rc));
}

static void on_event(void *arg, struct gw_http_req *r)
{
    struct lb *lb = arg;
    json_t *j = body_json(lb, r);
    const char *ev = j ? jstr(j, "event") : NULL;
    enum gw_seeker_event e = ev && !strcmp(ev, "ended")    ? GW_EV_ENDED
                             : ev && !strcmp(ev, "paused") ? GW_EV_PAUSED
                                                           : GW_EV_COMPOSING;
    int rc = j ? lb->api->seeker_event(lb->h, jstr(j, "conv"), e) : GW_EINVAL;
    json_decref(j);
    respond_json(lb, r, rc == GW_OK ? 200 : 404, json_pack("{s:i}", "rc", rc));
}

static int lb_init(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                   struct gw_host *h, char *err, size_t errlen)
{
    static const char *const known[] = {"mode", "keep", NULL};
    (void)err;
    (void)errlen;
    if (api->cfg_known_keys(h, conf, known) < 0)
        return GW_EINVAL;
    struct lb *lb = calloc(1, sizeof *lb);
    if (!lb)
        return GW_ENOMEM;
    lb->api = api;
    lb->h = h;
    const char *mode;
    api->cfg_string(h, conf, "mode", "ok", &mode);
    snprintf(lb->mode, sizeof lb->mode, "%s", mode);
    api->cfg_bool(h, conf, "keep", 1, &lb->keep);
    *self = lb;
    return GW_OK;
}

static int lb_start(void *self)
{
    struct lb *lb = self;
    lb->api->http_route(lb->h, "POST", "/inbound", on_inbound, lb);
    lb->api->http_route(lb->h, "GET", "/events", on_events, lb);
    lb->api->http_route(lb->h, "POST", "/mode", on_mode, lb);
    lb->api->http_route(lb->h, "POST", "/complete", on_complete, lb);
    lb->api->http_route(lb->h, "POST", "/dlr", on_dlr, lb);
    lb->api->http_route(lb->h, "POST", "/event", on_event, lb);
    return GW_OK;
}

static void lb_stop(void *self)
{
    struct lb *lb = self;
    for (size_t i = 0; i < lb->nitems; i++)
        free(lb->items[i]);
    free(lb->items);
    free(lb);
}

/* Write s as a JSON string at p (room for 6 bytes per input byte + 2); returns the end. */
static char *put_json_str(char *p, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    for (const unsigned char *u = (const unsigned char *)s; *u; u++) {
        if (*u == '"' || *u == '\\') {
            *p++ = '\\';
            *p++ = (char)*u;
        } else if (*u < 0x20) {
            p = stpcpy(p, "\\u00");
            *p++ = hex[*u >> 4];
            *p++ = hex[*u & 15];
        } else {
            *p++ = (char)*u;
        }
    }
    *p++ = '"';
    *p = 0;
    return p;
}

static int lb_deliver(void *self, const struct gw_msg *m, char *err, size_t errlen)
{
    static const char *const kinds[] = {"text", "auto", "typing", "closed", "transcript"};
    struct lb *lb = self;
    if (m->kind != GW_MSG_TYPING) {
        if (!strcmp(lb->mode, "eagain")) {
            snprintf(err, errlen, "loopback is in eagain mode");
            return GW_EAGAIN;
        }
        if (!strcmp(lb->mode, "eperm")) {
            snprintf(err, errlen, "loopback refuses (eperm mode)");
            return GW_EPERM;
        }
    }
    /* One JSON line per delivery, written directly: this channel carries the benchmark's
     * every counsellor message, and building a jansson object per line cost more than the
     * rest of the delivery.  meta is the core's own JSON text, embedded as it is. */
    size_t cap = 160 + 6 * (strlen(m->conv) + strlen(m->address) + strlen(m->lang) +
                            strlen(m->body)) +
                 (m->meta_json ? strlen(m->meta_json) : 4);
    char *withnl = malloc(cap);
    if (!withnl)
        return GW_EAGAIN;
    char *p = withnl;
    p += sprintf(p, "{\"id\":%lld,\"kind\":\"%s\",\"conv\":", (long long)m->id, kinds[m->kind]);
    p = put_json_str(p, m->conv);
    p = put_json_str(stpcpy(p, ",\"address\":"), m->address);
    p = put_json_str(stpcpy(p, ",\"lang\":"), m->lang);
    p = put_json_str(stpcpy(p, ",\"body\":"), m->body);
    p += sprintf(p, ",\"attempt\":%d,\"meta\":%s}\n", m->attempt,
                 m->meta_json ? m->meta_json : "null");
    size_t n = (size_t)(p - withnl) - 1;
    for (struct lb_stream *s = lb->streams; s; s = s->next)
        lb->api->http_stream_write(s->s, withnl, n + 1);
    if (!lb->keep) {
        free(withnl);
        return !strcmp(lb->mode, "pending") && m->kind != GW_MSG_TYPING ? GW_PENDING : GW_OK;
    }
    if (lb->nitems == lb->cap) {
        size_t ncap = lb->cap ? lb->cap * 2 : 64;
        char **ni = realloc(lb->items, ncap * sizeof *ni);
        if (!ni) {
            free(withnl);
            return GW_EAGAIN;
        }
        lb->items = ni;
        lb->cap = ncap;
    }
    lb->items[lb->nitems++] = withnl;
    return !strcmp(lb->mode, "pending") && m->kind != GW_MSG_TYPING ? GW_PENDING : GW_OK;
}

static int lb_health(void *self, char *buf, size_t len)
{
    struct lb *lb = self;
    snprintf(buf, len, "{\"delivered\":%zu,\"mode\":\"%s\"}", lb->nitems, lb->mode);
    return 1;
}

__attribute__((visibility("default"))) const struct gw_plugin skagerrak_plugin = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_plugin),
    .name = "loopback",
    .version = "1",
    .init = lb_init,
    .start = lb_start,
    .stop = lb_stop,
    .deliver = lb_deliver,
    .health = lb_health,
};

/* plugin.c — the SMS channel: webhook routes, inbound (verify -> opt-out -> submit),
 * deliver() (checks, then send.c), delivery reports, life cycle. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "msisdn.h"
#include "sms.h"

/* ---- helpers --------------------------------------------------------------------- */

static void respond(struct sms_plugin *p, struct gw_http_req *req, int status, const char *type,
                    const char *body, const char *const *headers)
{
    p->api->http_respond(req, status, type, body, strlen(body), headers);
}

/* The number a reply goes out from: the one the seeker last wrote to (its id prefixes the
 * channel_msg_id the core hands back as reply_ref), else the queue's, else the first. */
static struct sms_number *pick_number(struct sms_plugin *p, const struct gw_msg *m)
{
    struct sms_conf *c = p->conf;
    if (m->reply_ref) {
        const char *colon = strchr(m->reply_ref, ':');
        if (colon && (size_t)(colon - m->reply_ref) < SMS_ID_MAX) {
            char id[SMS_ID_MAX];
            snprintf(id, sizeof id, "%.*s", (int)(colon - m->reply_ref), m->reply_ref);
            struct sms_number *n = sms_conf_number(c, NULL, id);
            if (n)
                return n;
        }
    }
    for (size_t i = 0; m->queue && i < c->n; i++)
        if (c->numbers[i].queue && strcmp(c->numbers[i].queue, m->queue) == 0)
            return &c->numbers[i];
    return c->n ? &c->numbers[0] : NULL;
}

static int sms_deliver(void *self, const struct gw_msg *m, char *err, size_t errlen)
{
    struct sms_plugin *p = self;
    const struct gw_host_api *api = p->api;
    if (m->kind == GW_MSG_TYPING)
        return GW_OK; /* SMS has no typing notifications */
    if (m->kind == GW_MSG_AUTO && m->meta_json && p->conf->nskip) {
        /* Each text costs money: a service may keep some automatic texts off SMS. */
        json_error_t je;
        json_t *meta = json_loads(m->meta_json, 0, &je);
        int skip = sms_conf_skip_auto(p->conf, json_string_value(json_object_get(meta, "type")));
        json_decref(meta);
        if (skip)
            return GW_OK;
    }
    struct sms_number *n = pick_number(p, m);
    char to[SMS_E164_MAX];
    if (!n) {
        snprintf(err, errlen, "no SMS number configured");
        return GW_EPERM;
    }
    if (!m->address ||
        sms_msisdn_normalise(m->address, n->cc, SMS_MSISDN_PROVIDER, to, sizeof to) != GW_OK) {
        snprintf(err, errlen, "%s", api->text(p->h, n->lang, "sms_bad_number"));
        return GW_EPERM;
    }
    if (api->seeker_blocked(p->h, to) == 1) {
        snprintf(err, errlen, "%s", api->text(p->h, n->lang, "sms_seeker_opted_out"));
        return GW_EPERM;
    }
    const char *body = m->body ? m->body : "";
    struct sms_encinfo enc;
    if (sms_gsm7_analyse(body, strlen(body), &enc) != GW_OK) {
        snprintf(err, errlen, "text is not valid UTF-8");
        return GW_EPERM;
    }
    if (enc.parts == 0)
        return GW_OK;
    char *t = NULL;
    if (enc.coding == SMS_UCS2 && n->translit) {
        t = sms_translit(body, strlen(body));
        if (t && sms_gsm7_analyse(t, strlen(t), &enc) == GW_OK)
            body = t;
    }
    int rc;
    if (enc.parts > (unsigned)n->max_parts) {
        sms_fill(api->text(p->h, n->lang, "sms_too_many_parts"), enc.parts, n->max_parts, err, errlen);
        rc = GW_ELIMIT;
    } else if (!sms_rl_hit(p->rl_out, to, api->now_ms(p->h), 3600 * 1000, p->conf->out_per_hour)) {
        snprintf(err, errlen, "%s", api->text(p->h, n->lang, "sms_rate_limited"));
        rc = GW_EAGAIN;
    } else {
        char ref[48];
        snprintf(ref, sizeof ref, "sk%lld.%d", (long long)m->id, m->attempt);
        rc = sms_send_start(p, n, to, body, &enc, m->id, ref, err, errlen);
        if (rc == GW_PENDING)
            api->log(p->h, GW_LOG_DEBUG, "msg %lld: %u part(s) %s via %s", (long long)m->id,
                     enc.parts, enc.coding == SMS_GSM7 ? "GSM-7" : "UCS-2", n->id);
    }
    free(t);
    return rc;
}

/* ---- inbound --------------------------------------------------------------------- */

static void handle_mo(struct sms_plugin *p, struct sms_number *n, struct gw_http_req *req,
                      struct sms_event *ev)
{
    const struct gw_host_api *api = p->api;
    char addr[SMS_E164_MAX], masked[48], err[256] = "";
    const char *ok_type = n->prov->ok_type, *ok_body = n->prov->ok_body;

    if (sms_msisdn_normalise(ev->from, n->cc, SMS_MSISDN_PROVIDER, addr, sizeof addr) != GW_OK) {
        /* An alphanumeric or short-code sender cannot be answered: nothing to store. */
        api->log(p->h, GW_LOG_WARN, "MO on %s from a sender that is not a phone number: "
                 "dropped", n->id);
        respond(p, req, 200, ok_type, ok_body, NULL);
        return;
    }
    api->mask_address(addr, masked, sizeof masked);
    struct sms_encinfo enc;
    if (sms_gsm7_analyse(ev->text, strlen(ev->text), &enc) != GW_OK) {
        api->log(p->h, GW_LOG_WARN, "MO on %s from %s is not valid UTF-8", n->id, masked);
        respond(p, req, 400, "text/plain", "invalid text encoding", NULL);
        return;
    }
    if (!sms_rl_hit(p->rl_in, addr, api->now_ms(p->h), 60 * 1000, p->conf->in_per_minute)) {
        static const char *const retry[] = {"Retry-After", "60", NULL};
        api->log(p->h, GW_LOG_WARN, "MO on %s from %s over the inbound rate limit: "
                 "asked the provider to retry", n->id, masked);
        respond(p, req, 429, "text/plain", "rate limited", retry);
        return;
    }
    if (sms_conf_is_word(p->conf->stop_words, p->conf->nstop, ev->text)) {
        int was = api->seeker_blocked(p->h, addr) == 1;
        if (api->seeker_block(p->h, addr, 1, "sms opt-out") != GW_OK) {
            respond(p, req, 503, "text/plain", "try again", NULL);
            return;
        }
        api->log(p->h, GW_LOG_INFO, "%s opted out on %s%s", masked, n->id,
                 was ? " (again)" : "");
        if (!was)
            sms_send_confirmation(p, n, addr, "sms_opted_out");
        respond(p, req, 200, ok_type, ok_body, NULL);
        return;
    }
    if (sms_conf_is_word(p->conf->start_words, p->conf->nstart, ev->text) &&
        api->seeker_blocked(p->h, addr) == 1) {
        if (api->seeker_block(p->h, addr, 0, "sms opt-in") != GW_OK) {
            respond(p, req, 503, "text/plain", "try again", NULL);
            return;
        }
        api->log(p->h, GW_LOG_INFO, "%s opted in again on %s", masked, n->id);
        sms_send_confirmation(p, n, addr, "sms_opted_in");
        respond(p, req, 200, ok_type, ok_body, NULL);
        return;
    }

    /* The number id in the dedup key keeps providers' id spaces apart, and comes back as
     * reply_ref so the answer leaves from the number the seeker wrote to; "mo" keeps it
     * apart from the refs of our own sent texts (a provider may reuse numbers). */
    char cid[256];
    snprintf(cid, sizeof cid, "%s:mo:%.200s", n->id, ev->id); /* "mo": apart from send refs */
    struct gw_inbound in = {
        .channel_msg_id = cid,
        .address = addr,
        .display = p->conf->mask_numbers ? masked : addr,
        .body = ev->text,
        .lang = n->lang,
        .queue = n->queue,
    };
    struct gw_submitted out = {0};
    int rc = api->submit(p->h, &in, &out, err, sizeof err);
    switch (rc) {
    case GW_OK:
        api->log(p->h, GW_LOG_INFO, "MO from %s on %s: %s msg %lld", masked, n->id,
                 out.duplicate ? "duplicate of" : "stored as", (long long)out.msg_id);
        api->log(p->h, GW_LOG_DEBUG, "MO body: %s", ev->text);
        respond(p, req, 200, ok_type, ok_body, NULL);
        break;
    case GW_EPERM: /* blocked seeker: accepted and dropped, a retry would not help */
        api->log(p->h, GW_LOG_INFO, "MO from %s on %s refused: %s", masked, n->id, err);
        respond(p, req, 200, ok_type, ok_body, NULL);
        break;
    case GW_ELIMIT:
        api->log(p->h, GW_LOG_WARN, "MO from %s on %s over a limit: %s", masked, n->id, err);
        respond(p, req, 429, "text/plain", "limit", NULL);
        break;
    case GW_EINVAL:
        api->log(p->h, GW_LOG_WARN, "MO from %s on %s invalid: %s", masked, n->id, err);
        respond(p, req, 400, "text/plain", "invalid", NULL);
        break;
    default: /* not stored: the provider must retry */
        api->log(p->h, GW_LOG_ERROR, "MO from %s on %s not stored (%d): %s", masked, n->id, rc,
                 err);
        respond(p, req, 503, "text/plain", "not stored, retry", NULL);
        break;
    }
}

static void on_request(void *arg, struct gw_http_req *req)
{
    struct sms_plugin *p = arg;
    const struct gw_host_api *api = p->api;
    const char *path = api->http_path(req), *method = api->http_method(req);
    char prov[16], id[SMS_ID_MAX], kind[8], why[200] = "";
    while (path && *path == '/')
        path++;
    if (!path || sscanf(path, "%15[a-z]/%31[A-Za-z0-9_-]/%7[a-z]", prov, id, kind) != 3 ||
        (strcmp(kind, "mo") && strcmp(kind, "dlr")) ||
        strlen(prov) + strlen(id) + strlen(kind) + 2 != strlen(path)) {
        respond(p, req, 404, "text/plain", "not found", NULL);
        return;
    }
    struct sms_number *n = sms_conf_number(p->conf, prov, id);
    if (!n) {
        respond(p, req, 404, "text/plain", "not found", NULL);
        return;
    }
    int is_get = method && strcmp(method, "GET") == 0;
    if (!(method && strcmp(method, "POST") == 0) && !(is_get && n->prov == &sms_provider_kannel)) {
        static const char *const allow[] = {"Allow", "POST", NULL};
        respond(p, req, 405, "text/plain", "method not allowed", allow);
        return;
    }
    enum sms_hook hk = strcmp(kind, "mo") == 0 ? SMS_HOOK_MO : SMS_HOOK_DLR;
    char url[512];
    snprintf(url, sizeof url, "%s/sms/%s", n->public_url, path);
    size_t len = 0;
    const char *body = api->http_body(req, &len);
    struct sms_webhook w = {.api = api, .req = req, .method = method, .body = body ? body : "",
                            .len = body ? len : 0, .peer = api->http_peer(req), .url = url,
                            .now_s = api->now_ms(p->h) / 1000};
    struct sms_event ev = {0};
    int rc = n->prov->webhook(n, hk, &w, &ev, why, sizeof why);
    if (rc == GW_EPERM) {
        static const char *const basic[] = {"WWW-Authenticate", "Basic realm=\"skagerrak-sms\"",
                                            NULL};
        int st = ev.deny_status ? ev.deny_status : 403;
        api->log(p->h, GW_LOG_WARN, "refused %s %s webhook for %s from %s: %s", prov, kind, id,
                 w.peer ? w.peer : "?", why);
        respond(p, req, st, "text/plain", st == 401 ? "unauthorized" : "forbidden",
                st == 401 ? basic : NULL);
    } else if (rc != GW_OK) {
        api->log(p->h, GW_LOG_WARN, "malformed %s %s webhook for %s: %s", prov, kind, id, why);
        respond(p, req, 400, "text/plain", "bad request", NULL);
    } else if (hk == SMS_HOOK_MO) {
        handle_mo(p, n, req, &ev);
    } else {
        char ref[SMS_REF_MAX];
        snprintf(ref, sizeof ref, "%s:%.120s", n->id, ev.id);
        int r = api->delivery_report(p->h, ref, ev.state, ev.reason);
        if (r == GW_ENOTFOUND)
            sms_stash_put(p, ref, ev.state, ev.reason);
        api->log(p->h, GW_LOG_DEBUG, "%s report %s state %d%s", prov, ref, (int)ev.state,
                 r == GW_ENOTFOUND ? " (not known yet: kept)" : "");
        respond(p, req, 200, n->prov->ok_type, n->prov->ok_body, NULL);
    }
    sms_event_release(&ev);
}

/* ---- life cycle ------------------------------------------------------------------ */

static int sms_init(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                    struct gw_host *h, char *err, size_t errlen)
{
    *self = NULL;
    if (!api || api->abi != GW_PLUGIN_ABI ||
        api->size < offsetof(struct gw_host_api, now_ms) + sizeof api->now_ms) {
        snprintf(err, errlen, "host API too old for the sms plugin");
        return GW_EINVAL;
    }
    struct sms_plugin *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return GW_ENOMEM;
    }
    p->api = api;
    p->h = h;
    TAILQ_INIT(&p->xfers);
    int rc = sms_conf_load(conf, api, h, &p->conf, err, errlen);
    if (rc == GW_OK) {
        p->rl_in = sms_rl_new(4096);
        p->rl_out = sms_rl_new(4096);
        if (!p->rl_in || !p->rl_out) {
            snprintf(err, errlen, "out of memory");
            rc = GW_ENOMEM;
        }
    }
    if (rc != GW_OK) {
        sms_conf_free(&p->conf);
        sms_rl_free(&p->rl_in);
        sms_rl_free(&p->rl_out);
        free(p);
        return rc;
    }
    *self = p;
    return GW_OK;
}

static int sms_start(void *self)
{
    struct sms_plugin *p = self;
    int rc = p->api->http_route(p->h, NULL, "/*", on_request, p);
    if (rc == GW_OK)
        p->api->log(p->h, GW_LOG_INFO, "%zu number(s); webhooks under %s/sms/", p->conf->n,
                    p->conf->public_url);
    return rc;
}

static void sms_stop(void *self)
{
    struct sms_plugin *p = self;
    if (!p)
        return;
    /* The core cancels our transfers before stop() (their callbacks free them); a host
     * that drops them without callbacks leaves them here, and the handles are ours. */
    sms_send_free_all(p);
    sms_conf_free(&p->conf);
    sms_rl_free(&p->rl_in);
    sms_rl_free(&p->rl_out);
    free(p);
}

static int sms_reload(void *self, const config_setting_t *conf, char *err, size_t errlen)
{
    struct sms_plugin *p = self;
    struct sms_conf *c = NULL;
    int rc = sms_conf_load(conf, p->api, p->h, &c, err, errlen);
    if (rc != GW_OK)
        return rc;
    sms_conf_free(&p->conf); /* transfers in flight keep only number ids, not pointers */
    p->conf = c;
    return GW_OK;
}

static int sms_health(void *self, char *buf, size_t buflen)
{
    struct sms_plugin *p = self;
    snprintf(buf, buflen, "{\"numbers\":%zu,\"in_flight\":%zu}", p->conf->n,
             sms_send_inflight(p));
    return 1;
}

__attribute__((visibility("default"))) const struct gw_plugin skagerrak_plugin = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_plugin),
    .name = "sms",
    .version = GW_VERSION,
    .init = sms_init,
    .start = sms_start,
    .stop = sms_stop,
    .reload = sms_reload,
    .deliver = sms_deliver,
    .health = sms_health,
};

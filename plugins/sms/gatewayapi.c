/* gatewayapi.c — GatewayAPI adapter: POST /rest/mtsms (JSON, token auth); MO and delivery
 * status webhooks authenticated by the X-Gwapi-Signature JWT (HS256, webhook secret). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "sig.h"

static const char *const gwapi_keys[] = {"token", "token_file", "webhook_secret",
                                         "webhook_secret_file", "sender", NULL};

static int gwapi_configure(struct sms_number *n, const config_setting_t *s,
                           const struct gw_host_api *api, struct gw_host *h)
{
    if (sms_cfg_secret(s, "token", 1, api, h, &n->secret) != GW_OK ||
        sms_cfg_secret(s, "webhook_secret", 1, api, h, &n->hook_secret) != GW_OK ||
        sms_cfg_strdup(s, "sender", 0, api, h, &n->sender) != GW_OK)
        return GW_EINVAL;
    return GW_OK;
}

static int gwapi_build_send(const struct sms_number *n, const struct sms_send *s,
                            struct sms_request *r, char *err, size_t errlen)
{
    char path[128];
    snprintf(path, sizeof path, "/sms/gatewayapi/%s/dlr", n->id);
    char *cb = sms_url_join(n->public_url, path);
    long long msisdn = strtoll(sms_digits(s->to), NULL, 10);
    json_t *o = json_pack("{s:s, s:s, s:[{s:I}], s:s, s:s, s:I}", "sender",
                          n->sender ? n->sender : sms_digits(n->number), "message", s->text,
                          "recipients", "msisdn", (json_int_t)msisdn, "userref", s->ref,
                          "callback_url", cb ? cb : "", "max_parts", (json_int_t)n->max_parts);
    free(cb);
    if (!o) {
        snprintf(err, errlen, "cannot build request");
        return GW_ENOMEM;
    }
    if (s->coding == SMS_UCS2)
        json_object_set_new(o, "encoding", json_string("UCS2"));
    r->body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    r->url = sms_url_join(n->base_url, "/rest/mtsms");
    r->user = strdup(n->secret); /* the API token as Basic user, empty password */
    r->password = strdup("");
    if (!r->body || !r->url || !r->user || !r->password) {
        snprintf(err, errlen, "out of memory");
        return GW_ENOMEM;
    }
    r->body_len = strlen(r->body);
    r->content_type = "application/json";
    return GW_OK;
}

static int gwapi_send_result(const struct sms_number *n, const struct sms_send *s, long status,
                             const char *body, size_t len, char *ref, size_t reflen,
                             char *reason, size_t reasonlen)
{
    (void)n, (void)s, (void)status, (void)reason, (void)reasonlen;
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    json_t *id = json_array_get(json_object_get(o, "ids"), 0);
    int rc = GW_EINVAL;
    if (json_is_integer(id)) {
        snprintf(ref, reflen, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        rc = GW_OK;
    } else if (json_is_string(id) && json_string_length(id) > 0) {
        snprintf(ref, reflen, "%s", json_string_value(id));
        rc = GW_OK;
    }
    json_decref(o);
    return rc;
}

/* A JSON scalar (integer or string) as a malloc'd string, or NULL. */
static char *scalar(json_t *v)
{
    char buf[64];
    if (json_is_integer(v)) {
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return strdup(buf);
    }
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return NULL;
}

static const struct {
    const char *status;
    enum gw_dlr state;
} gwapi_states[] = {
    {"DELIVERED", GW_DLR_DELIVERED},  {"EXPIRED", GW_DLR_FAILED},
    {"DELETED", GW_DLR_FAILED},       {"UNDELIVERABLE", GW_DLR_FAILED},
    {"REJECTED", GW_DLR_FAILED},      {"SKIPPED", GW_DLR_FAILED},
    {"ACCEPTED", GW_DLR_SENT},        {"ENROUTE", GW_DLR_SENT},
    {"BUFFERED", GW_DLR_SENT},        {"SCHEDULED", GW_DLR_SENT},
    {"UNKNOWN", GW_DLR_SENT},
};

static int gwapi_webhook(const struct sms_number *n, enum sms_hook kind,
                         const struct sms_webhook *w, struct sms_event *ev, char *why,
                         size_t whylen)
{
    const char *tok = w->api->http_header(w->req, "X-Gwapi-Signature");
    json_t *claims = NULL, *body = NULL;
    if (!tok || !*tok) {
        snprintf(why, whylen, "no X-Gwapi-Signature");
        return GW_EPERM;
    }
    int rc = sms_jwt_hs256_verify(tok, (const unsigned char *)n->hook_secret,
                                  strlen(n->hook_secret), w->now_s, &claims, why, whylen);
    if (rc != GW_OK)
        return rc == GW_EINVAL ? GW_EPERM : rc; /* a malformed token is a failed check */

    /* The signed claims carry the webhook's data; the body must be the same message. */
    json_error_t je;
    body = json_loadb(w->body, w->len, JSON_REJECT_DUPLICATES, &je);
    rc = GW_EINVAL;
    if (!json_is_object(body)) {
        snprintf(why, whylen, "body is not a JSON object");
        goto out;
    }
    json_t *cm = json_object_get(claims, "msisdn"), *bm = json_object_get(body, "msisdn");
    if (!json_equal(json_object_get(claims, "id"), json_object_get(body, "id")) ||
        ((cm || bm) && !json_equal(cm, bm))) {
        snprintf(why, whylen, "body does not match the signed token");
        rc = GW_EPERM;
        goto out;
    }
    ev->id = scalar(json_object_get(claims, "id"));
    if (!ev->id) {
        snprintf(why, whylen, "no message id");
        goto out;
    }
    if (kind == SMS_HOOK_MO) {
        json_t *msg = json_object_get(claims, "message");
        if (!msg)
            msg = json_object_get(body, "message");
        ev->from = scalar(json_object_get(claims, "msisdn"));
        ev->text = json_is_string(msg) ? strdup(json_string_value(msg)) : NULL;
        if (!ev->from || !ev->text) {
            snprintf(why, whylen, "MO without msisdn or message");
            goto out;
        }
    } else {
        const char *st = json_string_value(json_object_get(claims, "status"));
        if (!st) {
            snprintf(why, whylen, "status report without status");
            goto out;
        }
        ev->state = 0;
        for (size_t i = 0; i < sizeof gwapi_states / sizeof gwapi_states[0]; i++)
            if (strcmp(gwapi_states[i].status, st) == 0)
                ev->state = gwapi_states[i].state;
        if (!ev->state)
            ev->state = GW_DLR_SENT; /* a state we do not know yet: not final */
        if (ev->state == GW_DLR_FAILED) {
            const char *e = json_string_value(json_object_get(claims, "error"));
            const char *code = json_string_value(json_object_get(claims, "code"));
            char r[256];
            snprintf(r, sizeof r, "%s%s%s%s%s", st, e ? ": " : "", e ? e : "",
                     code ? " " : "", code ? code : "");
            ev->reason = strdup(r);
        }
    }
    rc = GW_OK;
out:
    json_decref(claims);
    json_decref(body);
    return rc;
}

const struct sms_provider sms_provider_gatewayapi = {
    .name = "gatewayapi",
    .default_base_url = "https://gatewayapi.com",
    .keys = gwapi_keys,
    .configure = gwapi_configure,
    .build_send = gwapi_build_send,
    .send_result = gwapi_send_result,
    .webhook = gwapi_webhook,
    .ok_type = "text/plain",
    .ok_body = "",
};

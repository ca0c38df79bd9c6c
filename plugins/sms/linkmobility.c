/* linkmobility.c — LINK Mobility adapter: POST /sms/send (JSON, Basic auth); MO and
 * delivery reports arrive through LINK gates that call us with Basic auth. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "sig.h"

static const char *const link_keys[] = {"username", "password", "password_file", "platform_id",
                                        "platform_partner_id", "gate_id", "webhook_username",
                                        "webhook_password", "webhook_password_file", NULL};

static int link_configure(struct sms_number *n, const config_setting_t *s,
                          const struct gw_host_api *api, struct gw_host *h)
{
    if (sms_cfg_strdup(s, "username", 1, api, h, &n->user) != GW_OK ||
        sms_cfg_secret(s, "password", 1, api, h, &n->secret) != GW_OK ||
        sms_cfg_strdup(s, "platform_id", 1, api, h, &n->platform_id) != GW_OK ||
        sms_cfg_strdup(s, "platform_partner_id", 1, api, h, &n->platform_partner_id) != GW_OK ||
        sms_cfg_strdup(s, "gate_id", 0, api, h, &n->gate_id) != GW_OK ||
        sms_cfg_strdup(s, "webhook_username", 1, api, h, &n->hook_user) != GW_OK ||
        sms_cfg_secret(s, "webhook_password", 1, api, h, &n->hook_password) != GW_OK)
        return GW_EINVAL;
    return GW_OK;
}

static int link_build_send(const struct sms_number *n, const struct sms_send *s,
                           struct sms_request *r, char *err, size_t errlen)
{
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "source", n->number,
                          "sourceTON", "MSISDN", "destination", s->to, "userData", s->text,
                          "dcs", s->coding == SMS_UCS2 ? "UCS2" : "TEXT", "platformId",
                          n->platform_id, "platformPartnerId", n->platform_partner_id, "refId",
                          s->ref, "useDeliveryReport", n->gate_id != NULL);
    if (!o) {
        snprintf(err, errlen, "cannot build request");
        return GW_ENOMEM;
    }
    if (n->gate_id)
        json_object_set_new(o, "deliveryReportGates", json_pack("[s]", n->gate_id));
    r->body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    r->url = sms_url_join(n->base_url, "/sms/send");
    r->user = strdup(n->user);
    r->password = strdup(n->secret);
    if (!r->body || !r->url || !r->user || !r->password) {
        snprintf(err, errlen, "out of memory");
        return GW_ENOMEM;
    }
    r->body_len = strlen(r->body);
    r->content_type = "application/json";
    return GW_OK;
}

/* LINK result codes: 1000..1999 are states of an accepted message; everything else is
 * an error (0..6 temporary/routing, 104/105 configuration, 2xxx..4xxx refusals). */
static int link_send_result(const struct sms_number *n, const struct sms_send *s, long status,
                            const char *body, size_t len, char *ref, size_t reflen,
                            char *reason, size_t reasonlen)
{
    (void)n, (void)s, (void)status;
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    json_t *code = json_object_get(o, "resultCode");
    const char *id = json_string_value(json_object_get(o, "messageId"));
    int rc = GW_EINVAL;
    if (json_is_integer(code) &&
        (json_integer_value(code) < 1000 || json_integer_value(code) >= 2000)) {
        const char *d = json_string_value(json_object_get(o, "description"));
        snprintf(reason, reasonlen, "LINK result %" JSON_INTEGER_FORMAT "%s%s",
                 json_integer_value(code), d ? ": " : "", d ? d : "");
        rc = GW_EPERM;
    } else if (id && *id) {
        snprintf(ref, reflen, "%s", id);
        rc = GW_OK;
    }
    json_decref(o);
    return rc;
}

static enum gw_dlr link_state(json_int_t code)
{
    switch (code) {
    case 1001: /* billed and delivered */
    case 1007: /* delivered, billing delayed */
        return GW_DLR_DELIVERED;
    case 1000: /* sent to operator */
    case 1005: /* queued */
    case 1008: /* billed OK (delivery follows) */
    case 1011: /* billed OK and sent to operator */
    case 1012: /* delayed */
    case 1013: /* sent to operator, billing delayed */
        return GW_DLR_SENT;
    default:
        return GW_DLR_FAILED;
    }
}

static int link_webhook(const struct sms_number *n, enum sms_hook kind,
                        const struct sms_webhook *w, struct sms_event *ev, char *why,
                        size_t whylen)
{
    const char *auth = w->api->http_header(w->req, "Authorization");
    if (sms_basic_auth_check(auth, n->hook_user, n->hook_password) != GW_OK) {
        snprintf(why, whylen, auth ? "wrong Basic credentials" : "no Basic credentials");
        ev->deny_status = 401;
        return GW_EPERM;
    }
    json_error_t je;
    json_t *o = json_loadb(w->body, w->len, JSON_REJECT_DUPLICATES, &je);
    int rc = GW_EINVAL;
    if (!json_is_object(o)) {
        snprintf(why, whylen, "body is not a JSON object");
        goto out;
    }
    if (kind == SMS_HOOK_MO) {
        const char *id = json_string_value(json_object_get(o, "messageId"));
        const char *src = json_string_value(json_object_get(o, "source"));
        json_t *content = json_object_get(o, "content");
        const char *text = json_string_value(json_object_get(content, "userData"));
        if (!text)
            text = json_string_value(json_object_get(o, "userData"));
        if (!id || !src || !text) {
            snprintf(why, whylen, "MO without messageId, source or userData");
            goto out;
        }
        ev->id = strdup(id);
        ev->from = strdup(src);
        ev->text = strdup(text);
    } else {
        const char *id = json_string_value(json_object_get(o, "id"));
        json_t *code = json_object_get(o, "resultCode");
        if (!id || !json_is_integer(code)) {
            snprintf(why, whylen, "delivery report without id or resultCode");
            goto out;
        }
        ev->id = strdup(id);
        ev->state = link_state(json_integer_value(code));
        if (ev->state == GW_DLR_FAILED) {
            char r[128];
            const char *op = json_string_value(json_object_get(o, "operatorResultCode"));
            snprintf(r, sizeof r, "LINK result %" JSON_INTEGER_FORMAT "%s%s",
                     json_integer_value(code), op ? ", operator " : "", op ? op : "");
            ev->reason = strdup(r);
        }
    }
    rc = GW_OK;
out:
    json_decref(o);
    return rc;
}

const struct sms_provider sms_provider_link = {
    .name = "link",
    .default_base_url = "https://n-eu.linkmobility.io",
    .keys = link_keys,
    .configure = link_configure,
    .build_send = link_build_send,
    .send_result = link_send_result,
    .webhook = link_webhook,
    .ok_type = "text/plain",
    .ok_body = "",
};

/* twilio.c — Twilio adapter: POST /2010-04-01/Accounts/{sid}/Messages.json (form, Basic
 * auth sid:token); form webhooks verified by X-Twilio-Signature over the public URL. */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "sig.h"

static const char *const twilio_keys[] = {"account_sid", "auth_token", "auth_token_file", NULL};

static int twilio_configure(struct sms_number *n, const config_setting_t *s,
                            const struct gw_host_api *api, struct gw_host *h)
{
    if (sms_cfg_strdup(s, "account_sid", 1, api, h, &n->user) != GW_OK ||
        sms_cfg_secret(s, "auth_token", 1, api, h, &n->secret) != GW_OK)
        return GW_EINVAL;
    if (strspn(n->user, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789") !=
        strlen(n->user)) {
        api->cfg_error(h, s, "`account_sid` must be letters and digits");
        return GW_EINVAL;
    }
    return GW_OK;
}

/* Append "&name=value" (form-encoded) to a growing buffer. */
static int form_add(char **buf, size_t *len, const char *name, const char *value)
{
    char *ev = curl_easy_escape(NULL, value, 0);
    if (!ev)
        return GW_ENOMEM;
    size_t need = *len + strlen(name) + strlen(ev) + 3;
    char *nb = realloc(*buf, need);
    if (!nb) {
        curl_free(ev);
        return GW_ENOMEM;
    }
    int n = snprintf(nb + *len, need - *len, "%s%s=%s", *len ? "&" : "", name, ev);
    curl_free(ev);
    *buf = nb;
    *len += (size_t)n;
    return GW_OK;
}

static int twilio_build_send(const struct sms_number *n, const struct sms_send *s,
                             struct sms_request *r, char *err, size_t errlen)
{
    char path[192], cbpath[128];
    snprintf(path, sizeof path, "/2010-04-01/Accounts/%s/Messages.json", n->user);
    snprintf(cbpath, sizeof cbpath, "/sms/twilio/%s/dlr", n->id);
    char *cb = sms_url_join(n->public_url, cbpath);
    size_t len = 0;
    if (!cb || form_add(&r->body, &len, "To", s->to) || form_add(&r->body, &len, "From", n->number) ||
        form_add(&r->body, &len, "Body", s->text) ||
        form_add(&r->body, &len, "StatusCallback", cb)) {
        free(cb);
        snprintf(err, errlen, "out of memory");
        return GW_ENOMEM;
    }
    free(cb);
    r->body_len = len;
    r->url = sms_url_join(n->base_url, path);
    r->user = strdup(n->user);
    r->password = strdup(n->secret);
    if (!r->url || !r->user || !r->password) {
        snprintf(err, errlen, "out of memory");
        return GW_ENOMEM;
    }
    r->content_type = "application/x-www-form-urlencoded";
    return GW_OK;
}

static int twilio_send_result(const struct sms_number *n, const struct sms_send *s, long status,
                              const char *body, size_t len, char *ref, size_t reflen,
                              char *reason, size_t reasonlen)
{
    (void)n, (void)s, (void)status;
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    const char *sid = json_string_value(json_object_get(o, "sid"));
    const char *st = json_string_value(json_object_get(o, "status"));
    int rc = GW_EINVAL;
    if (st && (strcmp(st, "failed") == 0 || strcmp(st, "undelivered") == 0)) {
        snprintf(reason, reasonlen, "Twilio status %s", st);
        rc = GW_EPERM;
    } else if (sid && *sid) {
        snprintf(ref, reflen, "%s", sid);
        rc = GW_OK;
    }
    json_decref(o);
    return rc;
}

static enum gw_dlr twilio_state(const char *st)
{
    if (strcmp(st, "delivered") == 0 || strcmp(st, "read") == 0)
        return GW_DLR_DELIVERED;
    if (strcmp(st, "failed") == 0 || strcmp(st, "undelivered") == 0 ||
        strcmp(st, "canceled") == 0)
        return GW_DLR_FAILED;
    return GW_DLR_SENT; /* queued accepted scheduled sending sent ... */
}

static int twilio_webhook(const struct sms_number *n, enum sms_hook kind,
                          const struct sms_webhook *w, struct sms_event *ev, char *why,
                          size_t whylen)
{
    const char *sig = w->api->http_header(w->req, "X-Twilio-Signature");
    struct sms_form f;
    if (!sig || !*sig) {
        snprintf(why, whylen, "no X-Twilio-Signature");
        return GW_EPERM;
    }
    if (sms_form_parse(w->body, w->len, &f) != GW_OK) {
        snprintf(why, whylen, "body is not form data");
        return GW_EINVAL;
    }
    int rc = GW_EPERM;
    if (sms_twilio_verify(n->secret, w->url, &f, sig) != GW_OK) {
        snprintf(why, whylen, "bad X-Twilio-Signature for %s", w->url);
        goto out;
    }
    const char *acct = sms_form_get(&f, "AccountSid");
    if (acct && strcmp(acct, n->user) != 0) {
        snprintf(why, whylen, "AccountSid is not ours");
        goto out;
    }
    rc = GW_EINVAL;
    const char *sid = sms_form_get(&f, "MessageSid");
    if (!sid)
        sid = sms_form_get(&f, "SmsSid");
    if (!sid || !*sid) {
        snprintf(why, whylen, "no MessageSid");
        goto out;
    }
    ev->id = strdup(sid);
    if (kind == SMS_HOOK_MO) {
        const char *from = sms_form_get(&f, "From"), *body = sms_form_get(&f, "Body");
        if (!from || !body) {
            snprintf(why, whylen, "MO without From or Body");
            goto out;
        }
        ev->from = strdup(from);
        ev->text = strdup(body);
    } else {
        const char *st = sms_form_get(&f, "MessageStatus");
        if (!st)
            st = sms_form_get(&f, "SmsStatus");
        if (!st) {
            snprintf(why, whylen, "status callback without MessageStatus");
            goto out;
        }
        ev->state = twilio_state(st);
        if (ev->state == GW_DLR_FAILED) {
            const char *code = sms_form_get(&f, "ErrorCode");
            char r[128];
            snprintf(r, sizeof r, "Twilio %s%s%s", st, code ? " error " : "", code ? code : "");
            ev->reason = strdup(r);
        }
    }
    rc = GW_OK;
out:
    sms_form_release(&f);
    return rc;
}

const struct sms_provider sms_provider_twilio = {
    .name = "twilio",
    .default_base_url = "https://api.twilio.com",
    .keys = twilio_keys,
    .configure = twilio_configure,
    .build_send = twilio_build_send,
    .send_result = twilio_send_result,
    .webhook = twilio_webhook,
    .ok_type = "text/xml",
    .ok_body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>",
};

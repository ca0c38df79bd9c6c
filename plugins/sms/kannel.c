/* kannel.c — Kannel adapter: sendsms HTTP interface out (coding, dlr-mask, dlr-url); MO by
 * an sms-service get-url and DLR callbacks in, checked by shared secret + source allowlist. */
#include <curl/curl.h>
#include <errno.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "provider.h"
#include "sig.h"

static const char *const kannel_keys[] = {"username", "password", "password_file", "secret",
                                          "secret_file", "allow", "dlr_mask", "smsc", NULL};

static int kannel_configure(struct sms_number *n, const config_setting_t *s,
                            const struct gw_host_api *api, struct gw_host *h)
{
    if (sms_cfg_strdup(s, "username", 1, api, h, &n->user) != GW_OK ||
        sms_cfg_secret(s, "password", 1, api, h, &n->secret) != GW_OK ||
        sms_cfg_secret(s, "secret", 1, api, h, &n->hook_secret) != GW_OK ||
        sms_cfg_strdup(s, "smsc", 0, api, h, &n->smsc) != GW_OK ||
        api->cfg_int(h, s, "dlr_mask", 31, 0, 31, &n->dlr_mask) != GW_OK)
        return GW_EINVAL;
    const config_setting_t *al = config_setting_get_member(s, "allow");
    if (!al) {
        n->allow = calloc(1, sizeof *n->allow);
        if (!n->allow || !(n->allow[0] = strdup("127.0.0.1")))
            return GW_ENOMEM;
        n->nallow = 1;
        return GW_OK;
    }
    if (!config_setting_is_array(al) && !config_setting_is_list(al)) {
        api->cfg_error(h, al, "`allow` must be a list of addresses, e.g. [\"127.0.0.1\"]");
        return GW_EINVAL;
    }
    int cnt = config_setting_length(al);
    n->allow = calloc((size_t)cnt + 1, sizeof *n->allow);
    if (!n->allow)
        return GW_ENOMEM;
    for (int i = 0; i < cnt; i++) {
        const config_setting_t *e = config_setting_get_elem(al, (unsigned)i);
        const char *v = e ? config_setting_get_string(e) : NULL;
        if (!v || !sms_cidr_valid(v)) {
            api->cfg_error(h, e ? e : al, "`allow`: not an address or network: %s",
                           v ? v : "(not a string)");
            return GW_EINVAL;
        }
        if (!(n->allow[n->nallow++] = strdup(v)))
            return GW_ENOMEM;
    }
    return GW_OK;
}

/* Append "&name=escaped(value)" to *q. */
static int q_add(char **q, size_t *len, const char *name, const char *value)
{
    char *ev = curl_easy_escape(NULL, value, 0);
    if (!ev)
        return GW_ENOMEM;
    size_t need = *len + strlen(name) + strlen(ev) + 3;
    char *nq = realloc(*q, need);
    if (!nq) {
        curl_free(ev);
        return GW_ENOMEM;
    }
    int n = snprintf(nq + *len, need - *len, "%s%s=%s", *len ? "&" : "", name, ev);
    curl_free(ev);
    *q = nq;
    *len += (size_t)n;
    return GW_OK;
}

static int kannel_build_send(const struct sms_number *n, const struct sms_send *s,
                             struct sms_request *r, char *err, size_t errlen)
{
    char *q = NULL, *dlr = NULL, *ref = NULL, *sec = NULL;
    size_t len = 0;
    int rc = GW_ENOMEM;
    char mask[16], path[128];
    snprintf(mask, sizeof mask, "%lld", n->dlr_mask);
    snprintf(path, sizeof path, "/sms/kannel/%s/dlr", n->id);
    /* The DLR URL carries our reference and the shared secret; Kannel fills %d/%A. */
    ref = curl_easy_escape(NULL, s->ref, 0);
    sec = curl_easy_escape(NULL, n->hook_secret, 0);
    char *base = sms_url_join(n->public_url, path);
    if (!ref || !sec || !base)
        goto out;
    size_t dl = strlen(base) + strlen(ref) + strlen(sec) + 64;
    dlr = malloc(dl);
    if (!dlr)
        goto out;
    snprintf(dlr, dl, "%s?ref=%s&type=%%d&reply=%%A&secret=%s", base, ref, sec);
    if (q_add(&q, &len, "username", n->user) || q_add(&q, &len, "password", n->secret) ||
        q_add(&q, &len, "from", n->number) || q_add(&q, &len, "to", s->to) ||
        q_add(&q, &len, "text", s->text) || q_add(&q, &len, "charset", "UTF-8") ||
        q_add(&q, &len, "coding", s->coding == SMS_UCS2 ? "2" : "0"))
        goto out;
    if (n->dlr_mask && (q_add(&q, &len, "dlr-mask", mask) || q_add(&q, &len, "dlr-url", dlr)))
        goto out;
    if (n->smsc && q_add(&q, &len, "smsc", n->smsc))
        goto out;
    char *u = sms_url_join(n->base_url, "/cgi-bin/sendsms?");
    if (!u)
        goto out;
    size_t ul = strlen(u) + len + 1;
    r->url = malloc(ul);
    if (r->url)
        snprintf(r->url, ul, "%s%s", u, q);
    free(u);
    rc = r->url ? GW_OK : GW_ENOMEM;
out:
    if (rc != GW_OK)
        snprintf(err, errlen, "out of memory");
    free(base);
    free(dlr);
    curl_free(ref);
    curl_free(sec);
    free(q);
    return rc;
}

static int kannel_send_result(const struct sms_number *n, const struct sms_send *s, long status,
                              const char *body, size_t len, char *ref, size_t reflen,
                              char *reason, size_t reasonlen)
{
    (void)n, (void)status;
    /* "0: Accepted for delivery" or "3: Queued for later delivery"; Kannel has no id of
     * its own here: our reference travels in the dlr-url. */
    if (len >= 1 && (body[0] == '0' || body[0] == '3')) {
        snprintf(ref, reflen, "%s", s->ref);
        return GW_OK;
    }
    snprintf(reason, reasonlen, "Kannel: %.*s", (int)(len > 100 ? 100 : len), body);
    return GW_EPERM;
}

/* Convert Kannel's %b text in charset %C to UTF-8.  Returns malloc'd UTF-8 or NULL. */
static char *to_utf8(const char *in, size_t len, const char *charset)
{
    if (!charset || !*charset || strcasecmp(charset, "UTF-8") == 0 ||
        strcasecmp(charset, "GSM") == 0) {
        struct sms_encinfo e;
        if (sms_gsm7_analyse(in, len, &e) != GW_OK)
            return NULL;
        char *o = malloc(len + 1);
        if (o) {
            memcpy(o, in, len);
            o[len] = '\0';
        }
        return o;
    }
    iconv_t cd = iconv_open("UTF-8", charset);
    if (cd == (iconv_t)-1)
        return NULL;
    size_t cap = len * 4 + 4, left = cap;
    char *o = malloc(cap), *op = o, *ip = (char *)in;
    size_t il = len;
    if (!o || iconv(cd, &ip, &il, &op, &left) == (size_t)-1) {
        free(o);
        iconv_close(cd);
        return NULL;
    }
    iconv_close(cd);
    *op = '\0';
    return o;
}

static int kannel_webhook(const struct sms_number *n, enum sms_hook kind,
                          const struct sms_webhook *w, struct sms_event *ev, char *why,
                          size_t whylen)
{
    if (!sms_ip_allowed(w->peer, (const char *const *)n->allow, n->nallow)) {
        snprintf(why, whylen, "source address not in allow list");
        return GW_EPERM;
    }
    const char *sec = w->api->http_query(w->req, "secret");
    if (!sms_secret_eq(sec, n->hook_secret)) {
        snprintf(why, whylen, sec ? "wrong secret" : "no secret");
        return GW_EPERM;
    }
    if (kind == SMS_HOOK_MO) {
        const char *id = w->api->http_query(w->req, "id");
        const char *from = w->api->http_query(w->req, "from");
        const char *text = w->api->http_query(w->req, "text");
        const char *cs = w->api->http_query(w->req, "charset");
        if (!id || !*id || !from || !text) {
            snprintf(why, whylen, "MO without id, from or text");
            return GW_EINVAL;
        }
        ev->text = to_utf8(text, strlen(text), cs);
        if (!ev->text) {
            snprintf(why, whylen, "text not decodable from charset %.20s", cs ? cs : "?");
            return GW_EINVAL;
        }
        ev->id = strdup(id);
        ev->from = strdup(from);
        return GW_OK;
    }
    const char *ref = w->api->http_query(w->req, "ref");
    const char *type = w->api->http_query(w->req, "type");
    if (!ref || !*ref || !type) {
        snprintf(why, whylen, "DLR without ref or type");
        return GW_EINVAL;
    }
    ev->id = strdup(ref);
    switch (atoi(type)) {
    case 1: /* delivered to phone */
        ev->state = GW_DLR_DELIVERED;
        break;
    case 2:  /* non-delivered to phone */
    case 16: /* non-delivered to SMSC */
        ev->state = GW_DLR_FAILED;
        {
            const char *reply = w->api->http_query(w->req, "reply");
            char r[160];
            snprintf(r, sizeof r, "Kannel DLR %d%s%.100s", atoi(type), reply && *reply ? ": " : "",
                     reply ? reply : "");
            ev->reason = strdup(r);
        }
        break;
    case 4: /* queued on SMSC */
    case 8: /* delivered to SMSC */
        ev->state = GW_DLR_SENT;
        break;
    default:
        snprintf(why, whylen, "unknown DLR type");
        return GW_EINVAL;
    }
    return GW_OK;
}

const struct sms_provider sms_provider_kannel = {
    .name = "kannel",
    .default_base_url = "http://127.0.0.1:13013",
    .keys = kannel_keys,
    .configure = kannel_configure,
    .build_send = kannel_build_send,
    .send_result = kannel_send_result,
    .webhook = kannel_webhook,
    .ok_type = "text/plain",
    .ok_body = "",
};

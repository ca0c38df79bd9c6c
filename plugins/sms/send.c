/* send.c — provider requests on the core's curl-multi: build, run, map the answer to
 * deliver_done(); delivery reports that arrive before the answer are kept and replayed. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sms.h"

void sms_fill(const char *tpl, long long parts, long long max, char *out, size_t outlen)
{
    size_t o = 0;
    for (const char *s = tpl; *s && o + 1 < outlen;) {
        int n = 0;
        if (strncmp(s, "{parts}", 7) == 0) {
            n = snprintf(out + o, outlen - o, "%lld", parts);
            s += 7;
        } else if (strncmp(s, "{max}", 5) == 0) {
            n = snprintf(out + o, outlen - o, "%lld", max);
            s += 5;
        } else {
            out[o++] = *s++;
            continue;
        }
        if (n < 0 || (size_t)n >= outlen - o)
            break;
        o += (size_t)n;
    }
    out[o < outlen ? o : outlen - 1] = '\0';
}


static void provider_error(const char *body, size_t len, char *out, size_t outlen)
{
    json_error_t je;
    json_t *o = json_loadb(body, len, 0, &je);
    const char *m = json_string_value(json_object_get(o, "message"));
    if (!m)
        m = json_string_value(json_object_get(o, "description"));
    if (m) {
        snprintf(out, outlen, "%.120s", m);
    } else {
        size_t n = len < 120 ? len : 120;
        snprintf(out, outlen, "%.*s", (int)n, body ? body : "");
    }
    json_decref(o);
    for (char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
}

static size_t on_write(char *data, size_t sz, size_t nm, void *arg)
{
    struct sms_xfer *x = arg;
    size_t n = sz * nm;
    if (x->rlen + n > SMS_RESP_MAX)
        return 0; /* aborts the transfer: a provider does not answer with megabytes */
    char *r = realloc(x->resp, x->rlen + n + 1);
    if (!r)
        return 0;
    memcpy(r + x->rlen, data, n);
    x->rlen += n;
    r[x->rlen] = '\0';
    x->resp = r;
    return n;
}

static void xfer_free(struct sms_xfer *x)
{
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->hdrs);
    free(x->resp);
    free(x);
}

void sms_stash_put(struct sms_plugin *p, const char *ref, enum gw_dlr st, const char *why)
{
    struct sms_stashed *s = &p->stash[p->stash_next++ % SMS_STASH];
    snprintf(s->ref, sizeof s->ref, "%s", ref);
    s->state = st;
    snprintf(s->reason, sizeof s->reason, "%s", why ? why : "");
    s->at_ms = p->api->now_ms(p->h);
}

/* Replay reports that arrived before the send answer told the core this ref. */
static void stash_replay(struct sms_plugin *p, const char *ref)
{
    int64_t now = p->api->now_ms(p->h);
    for (unsigned k = 0; k < SMS_STASH; k++) {
        struct sms_stashed *s = &p->stash[(p->stash_next + k) % SMS_STASH]; /* oldest first */
        if (!s->ref[0] || now - s->at_ms > SMS_STASH_TTL_MS || strcmp(s->ref, ref) != 0)
            continue;
        p->api->delivery_report(p->h, s->ref, s->state, s->reason[0] ? s->reason : NULL);
        s->ref[0] = '\0';
    }
}


static void on_done(void *arg, void *easy, int curl_code)
{
    struct sms_xfer *x = arg;
    struct sms_plugin *p = x->p;
    const struct gw_host_api *api = p->api;
    long status = 0;
    char ref[SMS_REF_MAX] = "", pid[120] = "", reason[300] = "", detail[160];
    int st;

    TAILQ_REMOVE(&p->xfers, x, link);
    curl_easy_getinfo((CURL *)easy, CURLINFO_RESPONSE_CODE, &status);
    if (curl_code != CURLE_OK) {
        st = GW_EAGAIN;
        snprintf(reason, sizeof reason, "%s: %s", x->prov->name,
                 curl_easy_strerror((CURLcode)curl_code));
    } else if (status >= 200 && status < 300) {
        struct sms_send s = {.ref = x->ref};
        int rc = x->prov->send_result(sms_conf_number(p->conf, NULL, x->numid), &s, status,
                                      x->resp ? x->resp : "", x->rlen, pid, sizeof pid, detail,
                                      sizeof detail);
        /* Provider ids are only unique per provider account: scope them by number. */
        if (rc == GW_OK && pid[0])
            snprintf(ref, sizeof ref, "%s:%s", x->numid, pid);
        if (rc == GW_EPERM) {
            st = GW_EPERM;
            snprintf(reason, sizeof reason, "%s: %s",
                     api->text(p->h, x->lang, "sms_provider_refused"), detail);
        } else {
            st = GW_OK;
            /* Long texts cost more: say so (the core may show it to the counsellor). */
            if (x->parts > 1)
                sms_fill(api->text(p->h, x->lang, "sms_parts_warning"), x->parts, 0, reason,
                     sizeof reason);
            if (rc != GW_OK)
                api->log(p->h, GW_LOG_WARN, "%s accepted a text for %s without a message id: "
                         "no delivery reports for it", x->prov->name, x->masked);
        }
    } else if (status >= 500 || status == 408 || status == 429) {
        st = GW_EAGAIN;
        snprintf(reason, sizeof reason, "%s answered HTTP %ld", x->prov->name, status);
    } else {
        st = GW_EPERM;
        provider_error(x->resp, x->rlen, detail, sizeof detail);
        snprintf(reason, sizeof reason, "%s (%s, HTTP %ld): %s",
                 api->text(p->h, x->lang, "sms_provider_refused"), x->prov->name, status, detail);
    }
    if (st == GW_OK)
        api->log(p->h, GW_LOG_INFO, "%s sent to %s via %s: ref %s, %u part(s)",
                 x->msg_id ? "text" : "confirmation", x->masked, x->numid, ref[0] ? ref : "-",
                 x->parts);
    else
        api->log(p->h, GW_LOG_WARN, "%s to %s via %s %s: %s", x->msg_id ? "text" : "confirmation",
                 x->masked, x->numid, st == GW_EAGAIN ? "to be retried" : "refused", reason);
    if (x->msg_id)
        api->deliver_done(p->h, x->msg_id, st, ref[0] ? ref : NULL, reason[0] ? reason : NULL);
    if (st == GW_OK && ref[0])
        stash_replay(p, ref);
    xfer_free(x);
}

/* Build and start one provider request.  Returns GW_PENDING or an error with err set. */
int sms_send_start(struct sms_plugin *p, const struct sms_number *n, const char *to,
                      const char *text, const struct sms_encinfo *enc, int64_t msg_id,
                      const char *ref, char *err, size_t errlen)
{
    struct sms_send s = {.to = to, .text = text, .coding = enc->coding, .parts = enc->parts,
                         .ref = ref};
    struct sms_request r = {0};
    struct sms_xfer *x = calloc(1, sizeof *x);
    int rc = GW_EAGAIN;
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return GW_EAGAIN;
    }
    x->p = p;
    x->msg_id = msg_id;
    x->prov = n->prov;
    snprintf(x->numid, sizeof x->numid, "%s", n->id);
    snprintf(x->ref, sizeof x->ref, "%s", ref);
    snprintf(x->lang, sizeof x->lang, "%s", n->lang);
    x->parts = enc->parts;
    p->api->mask_address(to, x->masked, sizeof x->masked);
    if (n->prov->build_send(n, &s, &r, err, errlen) != GW_OK)
        goto fail;
    x->easy = curl_easy_init();
    if (!x->easy) {
        snprintf(err, errlen, "curl_easy_init failed");
        goto fail;
    }
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, r.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)p->conf->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(p->conf->timeout_ms / 2));
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "skagerrak-sms/" GW_VERSION);
    if (r.user) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, r.user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, r.password ? r.password : "");
    }
    if (r.body) {
        char ct[96];
        snprintf(ct, sizeof ct, "Content-Type: %s", r.content_type);
        x->hdrs = curl_slist_append(NULL, ct);
        struct curl_slist *h2 = x->hdrs ? curl_slist_append(x->hdrs, "Accept: application/json") : NULL;
        if (!h2) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        x->hdrs = h2;
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->hdrs);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)r.body_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, r.body);
    }
    sms_request_release(&r);
    TAILQ_INSERT_TAIL(&p->xfers, x, link);
    if (p->api->fetch(p->h, x->easy, on_done, x) != GW_OK) {
        TAILQ_REMOVE(&p->xfers, x, link);
        snprintf(err, errlen, "cannot start the provider request");
        xfer_free(x);
        return GW_EAGAIN;
    }
    return GW_PENDING;
fail:
    sms_request_release(&r);
    xfer_free(x);
    return rc;
}

/* Send a catalogue text outside the outbox (opt-out/opt-in confirmation). */
void sms_send_confirmation(struct sms_plugin *p, const struct sms_number *n, const char *to,
                              const char *key)
{
    const char *text = p->api->text(p->h, n->lang, key);
    struct sms_encinfo enc;
    char ref[32], err[128];
    if (sms_gsm7_analyse(text, strlen(text), &enc) != GW_OK)
        return;
    snprintf(ref, sizeof ref, "skc%llu", (unsigned long long)++p->seq);
    if (sms_send_start(p, n, to, text, &enc, 0, ref, err, sizeof err) != GW_PENDING)
        p->api->log(p->h, GW_LOG_WARN, "cannot send %s confirmation: %s", key, err);
}

void sms_send_free_all(struct sms_plugin *p)
{
    struct sms_xfer *x;
    while ((x = TAILQ_FIRST(&p->xfers))) {
        TAILQ_REMOVE(&p->xfers, x, link);
        xfer_free(x);
    }
}

size_t sms_send_inflight(const struct sms_plugin *p)
{
    size_t n = 0;
    const struct sms_xfer *x;
    TAILQ_FOREACH(x, &p->xfers, link)
        n++;
    return n;
}

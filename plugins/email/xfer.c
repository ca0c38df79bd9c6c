/* xfer.c — curl easy handles for the email plugin, handed to the core's curl-multi. */
#include "xfer.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

void mail_xfers_init(struct mail_xfers *xs, const struct gw_host_api *api, struct gw_host *h)
{
    TAILQ_INIT(&xs->list);
    xs->api = api;
    xs->h = h;
}

void mail_xfers_release(struct mail_xfers *xs)
{
    struct mail_xfer *x;
    while ((x = TAILQ_FIRST(&xs->list))) {
        if (x->done) /* as the core does before stop(): the owner frees its state */
            x->done(x->arg, x, CURLE_ABORTED_BY_CALLBACK);
        else
            mail_xfer_free(&x);
    }
}

static size_t on_write(char *p, size_t size, size_t n, void *arg)
{
    struct mail_xfer *x = arg;
    size_t len = size * n;
    if (x->max && x->resp.len + len > x->max) {
        x->too_big = 1;
        return 0; /* aborts with CURLE_WRITE_ERROR */
    }
    mail_buf_add(&x->resp, p, len);
    return x->resp.oom ? 0 : len;
}

static size_t on_read(char *p, size_t size, size_t n, void *arg)
{
    struct mail_xfer *x = arg;
    size_t room = size * n, left = x->up_len - x->up_off;
    size_t k = left < room ? left : room;
    memcpy(p, x->up + x->up_off, k);
    x->up_off += k;
    return k;
}

struct mail_xfer *mail_xfer_new(struct mail_xfers *xs, const struct mail_server *srv,
                                const char *url, const char *protocols)
{
    struct mail_xfer *x = calloc(1, sizeof *x);
    if (!x)
        return NULL;
    CURL *e = curl_easy_init();
    if (!e) {
        free(x);
        return NULL;
    }
    x->easy = e;
    x->owner = xs;
    TAILQ_INSERT_TAIL(&xs->list, x, link);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, protocols);
    curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, srv->timeout_s > 0 ? srv->timeout_s : 30L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, srv->timeout_s > 0 ? srv->timeout_s * 4 : 120L);
    if (srv->user && *srv->user) {
        curl_easy_setopt(e, CURLOPT_USERNAME, srv->user);
        curl_easy_setopt(e, CURLOPT_PASSWORD, srv->password ? srv->password : "");
    }
    long ssl = srv->tls == MAIL_TLS_OFF ? CURLUSESSL_NONE
               : srv->tls == MAIL_TLS_TRY ? CURLUSESSL_TRY
                                          : CURLUSESSL_ALL;
    curl_easy_setopt(e, CURLOPT_USE_SSL, ssl);
    return x;
}

static void on_fetch_done(void *arg, void *easy, int curl_code)
{
    struct mail_xfer *x = arg;
    (void)easy;
    x->done(x->arg, x, curl_code);
}

int mail_xfer_start(struct mail_xfer *x, mail_xfer_done done, void *arg)
{
    x->done = done;
    x->arg = arg;
    if (x->up) {
        curl_easy_setopt(x->easy, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(x->easy, CURLOPT_READDATA, x);
        curl_easy_setopt(x->easy, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(x->easy, CURLOPT_INFILESIZE_LARGE, (curl_off_t)x->up_len);
    }
    int rc = x->owner->api->fetch(x->owner->h, x->easy, on_fetch_done, x);
    if (rc != GW_OK) {
        mail_xfer_free(&x);
        return rc < 0 ? rc : GW_EIO;
    }
    return GW_OK;
}

void mail_xfer_free(struct mail_xfer **xp)
{
    if (!xp || !*xp)
        return;
    struct mail_xfer *x = *xp;
    TAILQ_REMOVE(&x->owner->list, x, link);
    if (x->easy)
        curl_easy_cleanup(x->easy);
    if (x->rcpt)
        curl_slist_free_all(x->rcpt);
    mail_buf_release(&x->resp);
    free(x->up);
    free(x);
    *xp = NULL;
}

int mail_xfer_feed(void *easy, const char *data, size_t len)
{
    struct mail_xfer *x = NULL;
    if (!easy || curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x) != CURLE_OK || !x)
        return GW_ENOTFOUND;
    return on_write((char *)data, 1, len, x) == len ? GW_OK : GW_ELIMIT;
}

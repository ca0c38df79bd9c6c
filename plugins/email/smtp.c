/* smtp.c — SMTP submission through libcurl; permanent vs temporary failure mapping. */
#include "smtp.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct send_ctx {
    mail_smtp_done done;
    void *arg;
};

int mail_smtp_classify(int curl_code, long smtp_code, char *reason, size_t len)
{
    if (curl_code == CURLE_OK) {
        snprintf(reason, len, "SMTP %ld", smtp_code);
        return GW_OK;
    }
    /* The server said no to MAIL FROM, RCPT TO or the data with a 5xx: sending again will
     * not help.  Everything else (network, TLS, timeouts, 4xx, our own login) is retried by
     * the core's outbox, so a misconfigured relay never loses a counsellor's answer. */
    if (smtp_code >= 500 && smtp_code < 600 && curl_code != CURLE_LOGIN_DENIED &&
        smtp_code != 530 && smtp_code != 535) {
        snprintf(reason, len, "SMTP %ld refused", smtp_code);
        return GW_EPERM;
    }
    if (smtp_code)
        snprintf(reason, len, "SMTP %ld: %s", smtp_code, curl_easy_strerror(curl_code));
    else
        snprintf(reason, len, "%s", curl_easy_strerror(curl_code));
    return GW_EAGAIN;
}

static void on_done(void *arg, struct mail_xfer *x, int curl_code)
{
    struct send_ctx *sc = arg;
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    char reason[160];
    int st = mail_smtp_classify(curl_code, code, reason, sizeof reason);
    mail_xfer_free(&x);
    mail_smtp_done done = sc->done;
    void *darg = sc->arg;
    free(sc);
    done(darg, st, reason);
}

int mail_smtp_send(struct mail_xfers *xs, const struct mail_server *srv, const char *mail_from,
                   const char *rcpt, char *data, size_t len, mail_smtp_done done, void *arg)
{
    struct send_ctx *sc = calloc(1, sizeof *sc);
    struct mail_xfer *x = sc ? mail_xfer_new(xs, srv, srv->url, "smtp,smtps") : NULL;
    if (!x) {
        free(sc);
        free(data);
        return GW_ENOMEM;
    }
    sc->done = done;
    sc->arg = arg;
    x->up = data;
    x->up_len = len;
    char addr[512];
    snprintf(addr, sizeof addr, "<%s>", rcpt);
    x->rcpt = curl_slist_append(NULL, addr);
    if (!x->rcpt) {
        mail_xfer_free(&x);
        free(sc);
        return GW_ENOMEM;
    }
    snprintf(addr, sizeof addr, "<%s>", mail_from ? mail_from : "");
    curl_easy_setopt(x->easy, CURLOPT_MAIL_FROM, addr);
    curl_easy_setopt(x->easy, CURLOPT_MAIL_RCPT, (struct curl_slist *)x->rcpt);
    int rc = mail_xfer_start(x, on_done, sc);
    if (rc != GW_OK)
        free(sc);
    return rc;
}

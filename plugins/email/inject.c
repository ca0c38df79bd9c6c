/* inject.c — POST /email/inject: mail handed over by the MTA (tools/skagerrak-inject). */
#include "email.h"
#include "util.h"

#include <stdio.h>
#include <string.h>

/* Constant-time comparison, so the token cannot be guessed byte by byte. */
static int same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la && i < lb; i++)
        d |= (unsigned char)(a[i] ^ b[i]);
    return d == 0;
}

static void respond(struct mail_ctx *c, struct gw_http_req *r, int status, const char *text)
{
    c->api->http_respond(r, status, "text/plain; charset=utf-8", text, strlen(text), NULL);
}

/* The injector's contract: 200 stored (or deliberately dropped: robots, bounces), 422 will
 * never be stored (the MTA should bounce it), 503 try again later (EX_TEMPFAIL). */
static void on_inject(void *arg, struct gw_http_req *r)
{
    struct mail_ctx *c = arg;
    if (!c->conf.inject_token) { /* removed by a reload */
        respond(c, r, 404, "not enabled\n");
        return;
    }
    const char *peer = c->api->http_peer(r);
    if (!peer || (strncmp(peer, "127.", 4) != 0 && strcmp(peer, "::1") != 0)) {
        respond(c, r, 403, "loopback only\n");
        return;
    }
    const char *auth = c->api->http_header(r, "Authorization");
    const char *tok = auth ? mail_prefix(auth, "Bearer ") : NULL;
    if (!tok || !same_secret(tok, c->conf.inject_token)) {
        MAIL_LOG(c, GW_LOG_WARN, "inject from %s refused: bad token", peer);
        respond(c, r, 401, "bad token\n");
        return;
    }
    size_t len = 0;
    const char *body = c->api->http_body(r, &len);
    if (!body || !len) {
        respond(c, r, 422, "empty message\n");
        return;
    }
    if (c->conf.max_message_kb && len > (size_t)c->conf.max_message_kb * 1024) {
        respond(c, r, 422, "message too large\n");
        return;
    }
    switch (mail_inbound(c, body, len)) {
    case MAIL_IMAP_DONE:
        respond(c, r, 200, "ok\n");
        break;
    case MAIL_IMAP_SKIP:
        respond(c, r, 422, "not accepted\n");
        break;
    case MAIL_IMAP_RETRY:
        respond(c, r, 503, "try again later\n");
        break;
    }
}

int mail_inject_start(struct mail_ctx *c)
{
    if (!c->conf.inject_token)
        return GW_OK;
    return c->api->http_route(c->h, "POST", "/inject", on_inject, c);
}

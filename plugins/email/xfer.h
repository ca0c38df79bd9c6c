/* xfer.h — libcurl transfers (IMAP, SMTP) run on the core's curl-multi via api->fetch. */
#ifndef MAIL_XFER_H
#define MAIL_XFER_H

#include <stddef.h>
#include <sys/queue.h>

#include "plugin_api.h"
#include "util.h"

/* TLS policy for imap:// and smtp:// URLs (imaps:// and smtps:// are always TLS). */
enum mail_tls {
    MAIL_TLS_REQUIRED = 0, /* STARTTLS or fail (the default) */
    MAIL_TLS_TRY,          /* STARTTLS when offered */
    MAIL_TLS_OFF,          /* never (loopback tests only) */
};

/* Server and login for one protocol.  Strings owned by whoever filled it in. */
struct mail_server {
    char *url;      /* "imaps://mail.example.no" / "smtp://127.0.0.1:2525" (no path) */
    char *user;     /* NULL = no login */
    char *password;
    enum mail_tls tls;
    long timeout_s;
};

struct mail_xfer;
typedef void (*mail_xfer_done)(void *arg, struct mail_xfer *x, int curl_code);

/* One transfer.  The plugin's view; the easy handle is the plugin's until freed. */
struct mail_xfer {
    void *easy;              /* CURL * */
    struct mail_buf resp;    /* bytes received (IMAP FETCH body, custom command output) */
    size_t max;              /* receive limit (0 = none); over it the transfer aborts */
    int too_big;             /* the limit was hit */
    char *up;                /* upload data (owned) */
    size_t up_len, up_off;
    void *rcpt;              /* struct curl_slist * (SMTP recipients) */
    mail_xfer_done done;
    void *arg;
    struct mail_xfers *owner;
    TAILQ_ENTRY(mail_xfer) link;
};

/* The transfers one plugin instance has in flight. */
struct mail_xfers {
    TAILQ_HEAD(, mail_xfer) list;
    const struct gw_host_api *api;
    struct gw_host *h;
};

/* Initialise an empty set. */
void mail_xfers_init(struct mail_xfers *xs, const struct gw_host_api *api, struct gw_host *h);
/* End every transfer still in flight: its done callback runs with CURLE_ABORTED_BY_CALLBACK
 * (and must free it), as the core does before a plugin's stop().  Normally the core has
 * already done this and nothing is left; a test host may not have. */
void mail_xfers_release(struct mail_xfers *xs);

/* A new transfer for `url` with the login, TLS policy and timeout of `srv`, allowed
 * protocols `protocols` ("imap,imaps").  NULL on failure. */
struct mail_xfer *mail_xfer_new(struct mail_xfers *xs, const struct mail_server *srv,
                                const char *url, const char *protocols);
/* Start it on the core loop; `done(arg, x, curl_code)` runs once when it ends, and must
 * call mail_xfer_free(x).  Returns GW_OK, or an error (x is then freed, done not called). */
int mail_xfer_start(struct mail_xfer *x, mail_xfer_done done, void *arg);
/* Clean up the easy handle and the buffers, unlink, set *xp = NULL.  NULL-safe. */
void mail_xfer_free(struct mail_xfer **xp);

/* Tests: append `len` bytes to the response of the transfer whose easy handle is `easy`,
 * as if curl had received them.  Returns GW_OK or GW_ENOTFOUND. */
int mail_xfer_feed(void *easy, const char *data, size_t len);

#endif

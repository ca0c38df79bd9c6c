/* email.h — the email plugin's context, shared by plugin.c, inbound.c and outbound.c. */
#ifndef MAIL_EMAIL_H
#define MAIL_EMAIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "imap.h"
#include "plugin_api.h"
#include "xfer.h"

/* The plugin's config group, parsed (strings owned). */
struct mail_conf {
    char *address;       /* service address: From, and local+token@domain for Reply-To */
    char *local, *domain;
    char sep;            /* between local part and token ('+') */
    char *from_name;     /* display name or NULL */
    char *envelope_from; /* SMTP MAIL FROM (bounces return here) */
    char *queue, *lang;  /* defaults for submit(), or NULL */
    struct mail_server imap, smtp;
    int imap_enabled;    /* imap_url set */
    char *mailbox;
    int move;            /* processed = "move" */
    char *move_to;
    long long poll_s;
    long long max_message_kb;
    long long fetch_batch;
    long long max_body_bytes;  /* longer seeker texts are cut (the original stays in meta) */
    long long batch_window_s;  /* counsellor lines: send after this much quiet */
    long long batch_max_s;     /* ...but no later than this after the first line */
    long long auto_window_s;   /* automatic texts alone: wait this long for company */
    long long auto_interval_h; /* automatic mail at most once per conversation per N hours */
    int attachments_note;      /* tell seekers their attachments are not forwarded */
    char *inject_token;        /* bearer token for POST /email/inject, or NULL (no route) */
};

/* One item waiting in a batch. */
struct mail_item {
    int64_t id;
    int kind; /* enum gw_msg_kind */
    char *body;
    TAILQ_ENTRY(mail_item) link;
};

/* Counsellor lines (and service texts) for one conversation that go out as one mail. */
struct mail_batch {
    struct mail_ctx *ctx;
    char conv[40];
    char *address, *lang, *reply_ref;
    TAILQ_HEAD(, mail_item) items;
    int has_text;      /* a person's words are in it: no Auto-Submitted header */
    int64_t first_ms, due_ms;
    uint64_t timer;
    int sending;
    TAILQ_ENTRY(mail_batch) link;
};

struct mail_ctx {
    const struct gw_host_api *api;
    struct gw_host *h;
    struct mail_conf conf;
    struct mail_xfers xs;
    struct mail_imap *imap;
    TAILQ_HEAD(, mail_batch) batches;
    int started;
    unsigned sent, failed; /* counters for health */
};

#define MAIL_LOG(c, lvl, ...) (c)->api->log((c)->h, lvl, __VA_ARGS__)

/* inbound.c: handle one raw inbound message (from IMAP or an injector).  Returns what the
 * mailbox should do with it (see enum mail_imap_verdict). */
enum mail_imap_verdict mail_inbound(struct mail_ctx *c, const char *raw, size_t len);
/* Extract a conversation token from an address "local+token@domain" of ours into tok
 * (toklen >= 40).  Returns 1 when found. */
int mail_token_from_address(const struct mail_conf *cf, const char *addr, char *tok, size_t toklen);
/* Map a Content-Language value to "nb" "nn" "da" "en", or NULL. */
const char *mail_lang_from(const char *content_language);

/* inject.c: register POST /email/inject when an inject token is configured. */
int mail_inject_start(struct mail_ctx *c);

/* outbound.c */
int mail_out_deliver(struct mail_ctx *c, const struct gw_msg *m, char *err, size_t errlen);
/* Free all batches without sending (stop). */
void mail_out_release(struct mail_ctx *c);
/* Send an automatic text (a catalogue key) to `to` outside the outbox, at most once per
 * auto_interval_h per (key, address).  Used for the attachment note. */
void mail_out_notice(struct mail_ctx *c, const char *conv, const char *to, const char *lang,
                     const char *key);
/* Per-conversation kv keys. */
int mail_kv_set_conv(struct mail_ctx *c, const char *what, const char *conv, const char *value);
char *mail_kv_get_conv(struct mail_ctx *c, const char *what, const char *conv);
/* The catalogue text for key, or NULL when the catalogue does not have it. */
const char *mail_text(struct mail_ctx *c, const char *lang, const char *key);

#endif

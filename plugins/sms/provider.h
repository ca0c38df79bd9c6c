/* provider.h — the small interface between the SMS plugin and its provider adapters
 * (GatewayAPI, LINK Mobility, Twilio, Kannel), and the configured numbers they serve. */
#ifndef SMS_PROVIDER_H
#define SMS_PROVIDER_H

#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

#include "gsm7.h"
#include "msisdn.h"
#include "plugin_api.h"

struct sms_provider;

/* Longest number id (the <number-id> in /sms/<provider>/<number-id>/mo). */
#define SMS_ID_MAX 32

/* One configured number: our long number or short code, its provider and credentials.
 * All strings are owned (copied out of libconfig); secrets are wiped when freed. */
struct sms_number {
    char id[SMS_ID_MAX];       /* URL id: `id` from config, default the number's digits */
    char number[SMS_E164_MAX]; /* our number, E.164 */
    char cc[4];                /* its country code digits, for national forms ("47") */
    const struct sms_provider *prov;
    char *queue;               /* queue id, NULL = core default */
    char *lang;                /* default language of seekers on this number */
    long long max_parts;       /* most SMS parts one outgoing text may take */
    int translit;              /* replace typographic quotes/dashes to stay in GSM-7 */
    char *base_url;            /* provider API base URL (no trailing slash) */
    char *public_url;          /* our public base URL as the provider calls it (no slash) */

    /* Credentials and provider settings; which ones are used depends on the provider. */
    char *user;            /* LINK / Kannel sendsms user; Twilio account SID */
    char *secret;          /* GatewayAPI token; LINK / Kannel password; Twilio auth token */
    char *hook_secret;     /* GatewayAPI webhook JWT secret; Kannel shared secret */
    char *hook_user;       /* LINK: Basic auth user LINK uses on our endpoints */
    char *hook_password;   /* LINK: its password */
    char *sender;          /* sender shown to the seeker (GatewayAPI; default: number) */
    char *platform_id;     /* LINK */
    char *platform_partner_id; /* LINK */
    char *gate_id;         /* LINK delivery report gate */
    char *smsc;            /* Kannel smsc-id to route through, or NULL */
    long long dlr_mask;    /* Kannel dlr-mask */
    char **allow;          /* Kannel: source addresses/networks allowed to call us */
    size_t nallow;
};

/* An outgoing text as an adapter needs it. */
struct sms_send {
    const char *to;        /* seeker, E.164 */
    const char *text;      /* UTF-8 (already transliterated when configured) */
    enum sms_coding coding;
    unsigned parts;
    const char *ref;       /* our reference for this attempt (userref/refId/Kannel DLR) */
};

/* An HTTP request an adapter prepared; the plugin runs it with libcurl on the core's loop.
 * All pointers are owned by the request; release with sms_request_release(). */
struct sms_request {
    char *url;
    char *body;            /* NULL for GET */
    size_t body_len;
    const char *content_type; /* static string */
    char *user;            /* Basic auth user, or NULL */
    char *password;        /* Basic auth password (wiped on release) */
};
void sms_request_release(struct sms_request *r);

/* Which webhook a request is. */
enum sms_hook {
    SMS_HOOK_MO = 0,
    SMS_HOOK_DLR = 1,
};

/* What the plugin knows about an incoming webhook request. */
struct sms_webhook {
    const struct gw_host_api *api;
    struct gw_http_req *req;   /* for api->http_header() / http_query() */
    const char *method;
    const char *body;
    size_t len;
    const char *peer;          /* remote IP */
    const char *url;           /* the public URL of this endpoint (Twilio signs it) */
    int64_t now_s;
};

/* The result of parsing a webhook.  Strings are malloc'd; sms_event_release() frees. */
struct sms_event {
    char *id;      /* MO: provider message id; DLR: provider message id (our channel_ref) */
    char *from;    /* MO: sender as the provider wrote it */
    char *text;    /* MO: UTF-8 body */
    enum gw_dlr state; /* DLR */
    char *reason;  /* DLR: provider status/error text for failures, or NULL */
    int deny_status;   /* on GW_EPERM: 401 (ask for credentials) or 403 (default) */
};
void sms_event_release(struct sms_event *ev);

/* A provider adapter: a table of functions, one static instance per provider. */
struct sms_provider {
    const char *name;             /* "gatewayapi" "link" "twilio" "kannel" (URL segment) */
    const char *default_base_url;
    const char *const *keys;      /* its config keys beyond the common ones, NULL-ended */
    /* Read provider keys from number group `s` into n.  Errors go through api->cfg_error()
     * and return GW_EINVAL. */
    int (*configure)(struct sms_number *n, const config_setting_t *s,
                     const struct gw_host_api *api, struct gw_host *h);
    /* Prepare the send request.  Returns 0, GW_EINVAL or GW_ENOMEM (detail in err). */
    int (*build_send)(const struct sms_number *n, const struct sms_send *s,
                      struct sms_request *r, char *err, size_t errlen);
    /* From a 2xx answer, the provider's message id into ref.  Returns 0, or GW_EINVAL
     * when the answer carries no usable id (the text is then taken as sent, without ref)
     * or GW_EPERM when a 2xx answer says the message was refused (reason given). */
    int (*send_result)(const struct sms_number *n, const struct sms_send *s, long status,
                       const char *body, size_t len, char *ref, size_t reflen, char *reason,
                       size_t reasonlen);
    /* Authenticate and parse a webhook.  Returns 0, GW_EPERM (authentication failed:
     * answer ev->deny_status, store nothing) or GW_EINVAL (malformed: 400); `why` says
     * why, without secrets. */
    int (*webhook)(const struct sms_number *n, enum sms_hook kind, const struct sms_webhook *w,
                   struct sms_event *ev, char *why, size_t whylen);
    /* Content type and body of the 2xx answer to an accepted webhook. */
    const char *ok_type;
    const char *ok_body;
};

extern const struct sms_provider sms_provider_gatewayapi;
extern const struct sms_provider sms_provider_link;
extern const struct sms_provider sms_provider_twilio;
extern const struct sms_provider sms_provider_kannel;

/* The adapter named `name`, or NULL. */
const struct sms_provider *sms_provider_find(const char *name);

/* Shared helpers for adapters (provider.c). */

/* Read secret `key` (or `<key>_file`) with api->cfg_secret() into *out when present in s.
 * Returns 0 (also when absent and !required) or GW_EINVAL. */
int sms_cfg_secret(const config_setting_t *s, const char *key, int required,
                   const struct gw_host_api *api, struct gw_host *h, char **out);
/* Read string `key` into a malloc'd copy *out (NULL when absent and !required). */
int sms_cfg_strdup(const config_setting_t *s, const char *key, int required,
                   const struct gw_host_api *api, struct gw_host *h, char **out);
/* malloc'd "%s%s..." concatenation helpers: join base URL and path. */
char *sms_url_join(const char *base, const char *path);
/* Map an E.164 string to its digits ("+4791234567" -> "4791234567"). */
const char *sms_digits(const char *e164);
/* strdup that returns NULL for NULL. */
char *sms_strdup0(const char *s);

#endif

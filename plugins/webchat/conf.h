/* conf.h — the web chat plugin's configuration group: typed, bounded, strict. */
#ifndef WEB_CONF_H
#define WEB_CONF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "plugin_api.h"

#define WEB_MAX_LANGS 4
#define WEB_FIELD_ID_MAX 32

enum web_field_type { WEB_FIELD_SELECT = 0, WEB_FIELD_TEXT };

/* One optional pre-chat field (topic, age group...).  None is required unless configured. */
struct web_field {
    char id[WEB_FIELD_ID_MAX + 1]; /* [a-z0-9_]{1,32} */
    enum web_field_type type;
    int required;
    unsigned maxlen; /* TEXT: characters */
    char **options;  /* SELECT: allowed values (owned) */
    size_t n_options;
};

/* Everything the plugin reads from its group.  All strings are owned copies (libconfig's
 * die on reload). */
struct web_conf {
    char *static_dir; /* directory of widget.js, chat.html, widget.css, i18n/ */
    char **origins;   /* CORS: origins allowed to embed ("https://host[:port]") */
    size_t n_origins;
    char **queues; /* queue ids a page may name; queues[0] is the default */
    size_t n_queues;
    char langs[WEB_MAX_LANGS][3]; /* offered languages, in order */
    size_t n_langs;
    char default_lang[3];
    char *timezone;         /* IANA zone the widget formats opening times in */
    char *privacy_url;      /* link to the full privacy statement, or "" */
    char *storage;          /* "local" or "session": where the widget keeps its token */
    int64_t session_ttl_ms; /* a session can be resumed this long after its last activity */
    unsigned max_chars;     /* longest message, in characters (code points) */
    size_t max_body;        /* longest request body, in bytes (derived from max_chars) */
    unsigned rate_session;  /* messages per session per rate_session_ms */
    int64_t rate_session_ms;
    unsigned rate_ip; /* messages per IP address per rate_ip_ms */
    int64_t rate_ip_ms;
    unsigned rate_ip_sessions; /* new sessions per IP address per rate_ip_sessions_ms */
    int64_t rate_ip_sessions_ms;
    unsigned rate_typing; /* typing events per session per minute (extra ones dropped) */
    size_t rate_max_keys; /* bound on tracked sessions/addresses per limiter */
    unsigned max_streams_per_session;
    unsigned max_streams;     /* all open event streams together */
    int64_t heartbeat_ms;     /* SSE comment interval (keeps proxies from timing out) */
    int transcript_email;     /* offer "send the transcript by email" (needs the email channel) */
    int feedback;             /* offer the anonymous feedback form */
    int trust_proxy;          /* take the client address from X-Forwarded-For (behind a proxy) */
    struct web_field *fields; /* pre-chat fields, in order */
    size_t n_fields;
    json_t *fields_json; /* the same as JSON for GET config (with labels), owned */
};

/* Read group `conf` (NULL = all defaults) into *c, which must be zeroed or released.
 * Problems are reported with api->cfg_error() (file:line) and a summary in err.
 * Returns GW_OK, GW_EINVAL or GW_ENOMEM; on failure *c is released. */
int web_conf_load(struct web_conf *c, const config_setting_t *conf, const struct gw_host_api *api,
                  struct gw_host *h, char *err, size_t errlen);
/* Free what *c owns and zero it.  NULL-safe. */
void web_conf_release(struct web_conf *c);
/* 1 if `lang` is one of the configured languages. */
int web_conf_has_lang(const struct web_conf *c, const char *lang);
/* 1 if `queue` is one of the configured queues. */
int web_conf_has_queue(const struct web_conf *c, const char *queue);
/* 1 if `origin` (an Origin header value) is allowed to use the API cross-origin. */
int web_conf_origin_allowed(const struct web_conf *c, const char *origin);
/* The field with id `id`, or NULL. */
const struct web_field *web_conf_field(const struct web_conf *c, const char *id);

#endif

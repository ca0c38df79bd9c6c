/* config.h — the daemon's configuration: strict libconfig parsing into typed structs. */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <libconfig.h>
#include <stdint.h>

#include "host/plugin_api.h"

struct gw_hours; /* calendar.h */

#define GW_NLANG 4
/* Supported languages, in catalogue order.  Index with gw_lang_index(). */
extern const char *const gw_langs[GW_NLANG];
/* Index of lang in gw_langs, or -1. */
int gw_lang_index(const char *lang);

/* Accumulated configuration errors, each "file:line: message". */
struct gw_cfg_errors {
    char **msgs;
    int n;
};
/* Add an error at setting s (may be NULL: no location). */
void gw_cfg_errorf(struct gw_cfg_errors *e, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gw_cfg_errors_release(struct gw_cfg_errors *e);

/* Schema-driven checks shared with the plugin host.  Type codes are CONFIG_TYPE_*; an entry
 * with type 0 accepts any type.  Unknown keys and wrong types are reported to e. */
struct gw_cfg_key {
    const char *name;
    int type;
};
int gw_cfg_check_keys(struct gw_cfg_errors *e, const config_setting_t *group,
                      const struct gw_cfg_key *keys, const char *where);
/* Typed getters with default and bounds; wrong type/range -> error + default. */
const char *gw_cfg_str(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                       const char *def);
long long gw_cfg_int(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                     long long def, long long min, long long max);
int gw_cfg_bool(struct gw_cfg_errors *e, const config_setting_t *g, const char *key, int def);
/* `key` or the first line of the file `<key>_file`; malloc'd or NULL (error reported when
 * `required`). */
char *gw_cfg_secret(struct gw_cfg_errors *e, const config_setting_t *g, const char *key,
                    int required);

/* One counsellor. */
struct gw_counsellor_conf {
    const char *jid;  /* bare JID */
    const char *name; /* first name or alias shown to seekers */
    const char *lang; /* language of the texts this counsellor reads */
    int capacity;     /* max concurrent conversations */
    int supervisor;
};

enum gw_assign_mode { GW_ASSIGN_OFFER = 0, GW_ASSIGN_PICK = 1 };

/* One queue. */
struct gw_queue_conf {
    const char *id;
    const char *names[GW_NLANG]; /* per language; NULL = use id */
    const char **counsellors;    /* bare JIDs (groups expanded) */
    int ncounsellors;
    const char **langs; /* languages served */
    int nlangs;
    int priority;   /* higher first */
    int max_wait_s; /* 0 = unlimited; beyond it the conversation expires */
    enum gw_assign_mode mode;
    int offer_timeout_s;
    struct gw_hours *hours;   /* NULL = always open */
    const char **shared_with; /* partner domains that may take from this queue */
    int nshared;
    int overflow_after_s;     /* 0 = no overflow */
    const char **overflow_to; /* partner domains, in order */
    int noverflow;
};

/* One federation partner. */
struct gw_partner_conf {
    const char *domain;     /* the partner gateway's component domain */
    const char *name;       /* display name */
    int accept_escalations; /* we accept escalations from them */
    int send_transcript;    /* a transcript may go to them (with consent) */
    const char **fields;    /* pre-chat/handover fields that may cross */
    int nfields;
};

struct gw_config {
    config_t cfg; /* kept alive: plugin groups and strings point into it */
    const char *path;
    /* gateway */
    int log_level;
    int use_syslog;
    const char *database;
    const char *catalogue_dir;
    const char **plugin_path;
    int nplugin_path;
    const char *timezone;
    int max_body_bytes; /* largest message body accepted from any side */
    /* xmpp */
    const char *xmpp_host;
    int xmpp_port;
    const char *domain; /* component domain */
    char *secret;       /* owned */
    int reconnect_max_s;
    const char *service_name;
    /* http */
    const char *http_addr;
    int http_port; /* 0 = disabled... -1 disabled, 0 any */
    const char *public_url;
    int http_max_body;
    int http_max_conns;
    /* service */
    const char *default_lang;
    const char *default_queue;
    int position_interval_s;  /* minimum interval between position updates */
    int counsellor_timeout_s; /* an active conversation unanswered this long is requeued */
    int counsellor_grace_s;   /* an absent counsellor keeps their conversations this long */
    int abandon_s;            /* seeker silent this long: closed as abandoned (default) */
    config_setting_t *abandon_channel; /* group: channel name -> seconds (overrides) */
    const char **outcomes;
    int noutcomes;
    int wait_window; /* recent conversations the wait estimate averages */
    int retention_days;
    int retry_max_s; /* cap of the outbox's retry backoff */
    char *control_socket; /* owned; skagerrakctl's socket, "" = none (default: next to the
                             database, gw_config_ctl_default) */
    const char *test_clock;     /* "2026-04-06T10:00:00" for tests; NULL = real clock */
    config_setting_t *snippets; /* group: lang -> { name = "text" } */
    config_setting_t *plugins;  /* group: name -> plugin group */
    struct gw_queue_conf *queues;
    int nqueues;
    struct gw_counsellor_conf *counsellors;
    int ncounsellors;
    struct gw_partner_conf *partners;
    int npartners;
};

/* Load and validate `path`.  On any problem returns NULL with every error in e. */
struct gw_config *gw_config_load(const char *path, struct gw_cfg_errors *e);
void gw_config_free(struct gw_config **cp);
/* The control socket's default path: "skagerrak.ctl" in the database's directory (the
 * daemon and skagerrakctl agree on it through this one function).  Returns buf. */
const char *gw_config_ctl_default(const char *database, char *buf, size_t len);
/* sun_path's size: a longer control_socket is a configuration error. */
#define GW_CTL_PATH_MAX 108

const struct gw_queue_conf *gw_config_queue(const struct gw_config *c, const char *id);
const struct gw_counsellor_conf *gw_config_counsellor(const struct gw_config *c,
                                                      const char *bare_jid);
const struct gw_partner_conf *gw_config_partner(const struct gw_config *c, const char *domain);
/* 1 when jid serves queue q. */
int gw_queue_has_counsellor(const struct gw_queue_conf *q, const char *bare_jid);
/* Seconds of silence after which a conversation on `channel` is closed as abandoned. */
int gw_config_abandon_s(const struct gw_config *c, const char *channel);
/* The snippet `name` in lang (falls back to en, then any); NULL when none. */
const char *gw_config_snippet(const struct gw_config *c, const char *lang, const char *name);

#endif

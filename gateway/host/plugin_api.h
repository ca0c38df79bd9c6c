/* plugin_api.h — the ABI between the skagerrak core and its channel plugins.
 *
 * A plugin is a shared object exporting exactly one symbol, `skagerrak_plugin`, a
 * `const struct gw_plugin`.  The loader checks `abi` and `size` before calling anything.
 * The core hands the plugin a `struct gw_host_api` (a table of functions, SQLite-extension
 * style) and an opaque `struct gw_host *` that every call takes back.  Plugins never touch
 * SQLite or XMPP: everything goes through this table.
 *
 * Rules of the table: members are only ever added at the end; `api->size` tells a plugin
 * how much of it the running core has.  Everything a plugin registers (HTTP routes, timers,
 * fds, curl transfers) is owned by the host and removed when the plugin stops.
 *
 * Threading: there is one thread.  Every callback runs on the core's event loop; a callback
 * must not block (no sleeping, no synchronous network I/O).
 *
 * Strings: `const char *` arguments are borrowed for the duration of the call.  Strings the
 * caller must free are documented as such (free with free()).
 */
#ifndef SKAGERRAK_PLUGIN_API_H
#define SKAGERRAK_PLUGIN_API_H

#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

#define GW_PLUGIN_ABI 1

/* Return codes shared by core and plugins.  0 is success; failures are negative. */
enum gw_status {
    GW_OK = 0,
    GW_PENDING = 1,      /* deliver(): accepted, result comes later via api->deliver_done() */
    GW_EINVAL = -1,      /* bad argument or input; detail in err */
    GW_ENOMEM = -2,
    GW_EIO = -3,         /* storage or I/O failure */
    GW_EAGAIN = -4,      /* temporary failure: the core retries from the outbox with backoff */
    GW_EPERM = -5,       /* permanent failure (refused, forbidden): not retried */
    GW_ENOTFOUND = -6,
    GW_EDUP = -7,        /* duplicate: already stored (not an error for inbound dedup) */
    GW_ELIMIT = -8,      /* a limit (size, rate, parts) was hit */
};

enum gw_log_level { GW_LOG_ERROR = 0, GW_LOG_WARN, GW_LOG_INFO, GW_LOG_DEBUG };

/* What kind of outgoing item deliver() is asked to carry to the seeker. */
enum gw_msg_kind {
    GW_MSG_TEXT = 0,   /* a counsellor's message */
    GW_MSG_AUTO,       /* an automatic text (welcome, position, closed hours, joined, closing) */
    GW_MSG_TYPING,     /* ephemeral: counsellor typing state in `body` ("composing"/"paused"); never stored */
    GW_MSG_CLOSED,     /* the conversation was closed by the service; body = closing text */
    GW_MSG_TRANSCRIPT, /* a transcript the seeker asked for; body = plain text transcript */
};

/* Delivery states reported by a channel for an outgoing message.  Final states are never
 * overwritten by a later transient one (delivery reports arrive out of order). */
enum gw_dlr {
    GW_DLR_SENT = 1,      /* handed to the channel/provider (transient) */
    GW_DLR_DELIVERED = 2, /* final: reached the seeker */
    GW_DLR_FAILED = 3,    /* final: will not reach the seeker (reason given) */
};

/* Seeker-side events a channel reports besides text. */
enum gw_seeker_event {
    GW_EV_COMPOSING = 1, /* seeker is typing */
    GW_EV_PAUSED,        /* seeker stopped typing */
    GW_EV_ENDED,         /* seeker ended the conversation */
    GW_EV_SEEN,          /* seeker saw the latest messages */
};

/* A message arriving from a seeker (plugin -> core). */
struct gw_inbound {
    const char *channel_msg_id; /* provider's id, for dedup (providers retry); NULL = none */
    const char *address;        /* seeker address on the channel (E.164, email, web session) */
    const char *display;        /* how counsellors see the address, already masked ("··4567") */
    const char *body;           /* UTF-8 text; the core makes it XML-safe and checks limits */
    const char *lang;           /* "nb" "nn" "da" "en", or NULL for the plugin's default */
    const char *queue;          /* queue id, or NULL for the plugin's default */
    const char *conv;           /* a conversation token the channel matched, or NULL: the core
                                   then uses the seeker's open conversation or opens one */
    const char *meta_json;      /* optional JSON object (pre-chat fields, attachments); NULL */
    int new_conversation;       /* 1: always open a new conversation (web chat session start).
                                   With new_conversation, body may be "" (a start without text:
                                   the pre-chat fields in meta_json reach the counsellor as the
                                   first, clearly marked message). */
};

/* Result of a successful submit(). */
struct gw_submitted {
    int64_t msg_id;   /* the stored message's id (> 0) */
    char conv[40];    /* the conversation token it went to */
    int duplicate;    /* 1 when channel_msg_id had been seen before: nothing new stored */
};

/* An item the core asks a plugin to carry to the seeker (core -> plugin). */
struct gw_msg {
    int64_t id;              /* stable message id (same on every retry) */
    enum gw_msg_kind kind;
    const char *conv;        /* conversation token */
    const char *address;     /* seeker address on this channel */
    const char *lang;        /* seeker's language */
    const char *body;        /* UTF-8 text */
    const char *queue;       /* queue id */
    const char *reply_ref;   /* channel ref of the seeker's latest inbound message (e.g. the
                                email Message-ID), or NULL */
    int attempt;             /* 0 on the first try */
    const char *meta_json;   /* structured form of an AUTO/CLOSED item, or NULL, e.g.
                                {"type":"position","position":3,"wait_s":240}
                                {"type":"joined","name":"Kari"}
                                {"type":"closed_hours","next_open_ms":...}
                                {"type":"closed","reason":"counsellor"|"abandoned"|"blocked"}
                                TRANSCRIPT: {"to":"<address on this channel>"} */
};

/* HTTP, as the core's server presents it to a plugin. */
struct gw_http_req;    /* opaque; valid until the handler returns (or the stream closes) */
struct gw_http_stream; /* opaque; a long-lived response (Server-Sent Events) */

/* A route handler.  It must answer with api->http_respond() or open a stream with
 * api->http_stream_open() before returning.  `body` holds the whole request body. */
typedef void (*gw_http_handler)(void *arg, struct gw_http_req *req);
/* Called once when a stream ends (client went away or the plugin/host closed it). */
typedef void (*gw_stream_closed_cb)(void *arg, struct gw_http_stream *s);

typedef void (*gw_timer_cb)(void *arg);
typedef void (*gw_fd_cb)(void *arg, int fd, unsigned events);
/* Completion of an HTTP/SMTP/IMAP transfer run on the core's curl-multi.  `easy` is still the
 * plugin's: clean it up (curl_easy_cleanup) in the callback or later. */
typedef void (*gw_fetch_cb)(void *arg, void *easy, int curl_code);
/* One stored message of a conversation, for replay (web chat resume, transcripts). */
struct gw_history_item {
    int64_t id;
    const char *dir;     /* "in" (seeker), "out" (counsellor), "auto" (system text) */
    const char *body;
    int64_t created_ms;  /* unix time in ms */
    const char *state;   /* "stored" "sent" "delivered" "failed" */
    const char *meta_json; /* structured form of an "auto" item (as in gw_msg), or NULL */
};
typedef int (*gw_history_cb)(void *arg, const struct gw_history_item *it);

struct gw_host;

struct gw_host_api {
    unsigned abi;
    size_t size; /* sizeof(struct gw_host_api) of the running core */

    /* Log a line prefixed with the plugin's name.  Never log secrets; bodies only at DEBUG;
     * mask addresses with mask_address(). */
    void (*log)(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

    /* Config helpers.  Each reads `key` of group `conf` (which may be NULL = all defaults).
     * A wrong type or an out-of-range value is reported with file:line via cfg_error() and
     * returns GW_EINVAL; a missing key yields `def`.  cfg_string stores a pointer owned by
     * libconfig (valid until the next reload: copy what you keep). */
    int (*cfg_string)(struct gw_host *h, const config_setting_t *conf, const char *key,
                      const char *def, const char **out);
    int (*cfg_int)(struct gw_host *h, const config_setting_t *conf, const char *key, long long def,
                   long long min, long long max, long long *out);
    int (*cfg_bool)(struct gw_host *h, const config_setting_t *conf, const char *key, int def,
                    int *out);
    /* Report a config problem at `s` (file:line); init() then fails. */
    void (*cfg_error)(struct gw_host *h, const config_setting_t *s, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));
    /* Check that group `conf` has only keys from the NULL-terminated `known` list; each
     * unknown key is reported with cfg_error().  Returns GW_OK or GW_EINVAL. */
    int (*cfg_known_keys)(struct gw_host *h, const config_setting_t *conf, const char *const *known);
    /* Read a secret: the value of `key`, or the first line of the file named by
     * `<key>_file`.  Returns a malloc'd string (caller frees) or NULL with cfg_error(). */
    char *(*cfg_secret)(struct gw_host *h, const config_setting_t *conf, const char *key);

    /* Store a seeker's message (store first, then acknowledge).  Returns GW_OK (see `out`,
     * duplicates included), GW_ELIMIT (too long/rate), GW_EPERM (seeker blocked),
     * GW_EINVAL, GW_EIO — with a reason in err. */
    int (*submit)(struct gw_host *h, const struct gw_inbound *in, struct gw_submitted *out,
                  char *err, size_t errlen);
    /* Report a seeker event (typing, ended...) for conversation `conv`. */
    int (*seeker_event)(struct gw_host *h, const char *conv, enum gw_seeker_event ev);
    /* Finish a deliver() that returned GW_PENDING.  status: GW_OK (accepted by the channel;
     * `channel_ref` = provider message id / Message-ID for later reports, may be NULL),
     * GW_EAGAIN (retry later), GW_EPERM (permanent failure, `reason` shown to counsellor). */
    void (*deliver_done)(struct gw_host *h, int64_t msg_id, int status, const char *channel_ref,
                         const char *reason);
    /* A delivery report from the channel for the outgoing message whose channel_ref is
     * `channel_ref`.  Unknown refs return GW_ENOTFOUND; out-of-order transient reports after a
     * final one are ignored (GW_OK). */
    int (*delivery_report)(struct gw_host *h, const char *channel_ref, enum gw_dlr state,
                           const char *reason); /* every message carrying that ref */
    /* Find the conversation an outgoing or incoming message with `channel_ref` belongs to
     * (email threading by References).  Writes the token into conv (convlen >= 40). */
    int (*conv_by_ref)(struct gw_host *h, const char *channel_ref, char *conv, size_t convlen);
    /* The seeker address and state of a conversation ("queued" "offered" "active" "closed"...).
     * Either output may be NULL. Returns GW_ENOTFOUND for unknown tokens. */
    int (*conv_info)(struct gw_host *h, const char *conv, char *address, size_t addrlen,
                     char *state, size_t statelen);
    /* Replay the stored messages of conversation `conv` with id > after_id, oldest first,
     * only those visible to the seeker.  Stops when cb returns non-zero. */
    int (*history)(struct gw_host *h, const char *conv, int64_t after_id, gw_history_cb cb,
                   void *arg);
    /* Block or unblock a seeker address on this channel (opt-out, abuse).  Blocking closes
     * the open conversation.  Stored; honoured across restarts. */
    int (*seeker_block)(struct gw_host *h, const char *address, int blocked, const char *why);
    /* 1 if the address is blocked on this channel, else 0. */
    int (*seeker_blocked)(struct gw_host *h, const char *address);

    /* The text for `key` in language `lang` from the catalogues (falls back to en, then to
     * the key itself).  Never NULL; owned by the core; valid until reload. */
    const char *(*text)(struct gw_host *h, const char *lang, const char *key);
    /* Mask an address for logs and counsellors: "+4791234567" -> "··4567",
     * "kari@example.no" -> "k···@example.no".  Writes into buf. */
    const char *(*mask_address)(const char *addr, char *buf, size_t buflen);

    /* Small persistent key/value store, namespaced per plugin (IMAP UIDs and the like).
     * kv_get returns a malloc'd string (caller frees) or NULL when absent. */
    char *(*kv_get)(struct gw_host *h, const char *key);
    int (*kv_set)(struct gw_host *h, const char *key, const char *value);

    /* HTTP routes on the core server, mounted under /<plugin>/<path>.  `method` "GET",
     * "POST", ... or NULL for any; a trailing '*' in path matches a prefix. */
    int (*http_route)(struct gw_host *h, const char *method, const char *path,
                      gw_http_handler fn, void *arg);
    const char *(*http_method)(struct gw_http_req *r);
    const char *(*http_path)(struct gw_http_req *r);  /* path below the plugin's mount */
    const char *(*http_header)(struct gw_http_req *r, const char *name);
    const char *(*http_query)(struct gw_http_req *r, const char *name);
    const char *(*http_body)(struct gw_http_req *r, size_t *len);
    const char *(*http_peer)(struct gw_http_req *r); /* remote IP as text */
    /* Answer a request.  headers: NULL-terminated list of "Name", "Value" pairs, or NULL. */
    int (*http_respond)(struct gw_http_req *r, int status, const char *content_type,
                        const char *body, size_t len, const char *const *headers);
    /* Turn the request into a long-lived streaming response (status 200). */
    struct gw_http_stream *(*http_stream_open)(struct gw_http_req *r, const char *content_type,
                                               const char *const *headers,
                                               gw_stream_closed_cb closed, void *arg);
    int (*http_stream_write)(struct gw_http_stream *s, const char *data, size_t len);
    void (*http_stream_close)(struct gw_http_stream *s);

    /* Timers (one-shot; re-add for periodic work) and fds on the core loop. */
    uint64_t (*timer_add)(struct gw_host *h, uint64_t ms, gw_timer_cb cb, void *arg);
    void (*timer_cancel)(struct gw_host *h, uint64_t id);
    int (*fd_add)(struct gw_host *h, int fd, unsigned events, gw_fd_cb cb, void *arg);
    void (*fd_del)(struct gw_host *h, int fd);
    /* Run a prepared libcurl easy handle on the core's curl-multi; cb when done. */
    int (*fetch)(struct gw_host *h, void *easy, gw_fetch_cb cb, void *arg);
    /* Milliseconds: wall clock (unix epoch; the test clock when one is set). */
    int64_t (*now_ms)(struct gw_host *h);

    /* Queue facts for a seeker-facing page, as a JSON object written into buf:
     * {"id","name" (in lang),"open":bool,"next_open_ms","waiting","wait_s","languages":[..]}.
     * queue NULL = the plugin's default queue is not known to the core: pass an id. */
    int (*queue_info)(struct gw_host *h, const char *queue, const char *lang, char *buf,
                      size_t buflen);
    /* Send the transcript of `conv` to `address` on channel `channel` (e.g. "email"); the
     * core builds it and queues a GW_MSG_TRANSCRIPT item for that channel's plugin. */
    int (*transcript)(struct gw_host *h, const char *conv, const char *channel,
                      const char *address);
    /* Store anonymous feedback (rating 1..5, comment may be NULL) for `conv`. */
    int (*feedback)(struct gw_host *h, const char *conv, int rating, const char *comment);
    /* Build the plain-text transcript of `conv` (what the seeker saw) in the seeker's
     * language.  Returns a malloc'd string (caller frees) or NULL. */
    char *(*transcript_text)(struct gw_host *h, const char *conv);
    /* Delete a key of the plugin's key/value store (no-op when absent). */
    int (*kv_del)(struct gw_host *h, const char *key);
    /* Run cb(arg) once what this turn stored is committed (at the end of the turn, or at
     * once when nothing waits for a commit); if the commit fails, drop(arg) runs instead
     * (drop may be NULL).  Either runs exactly once, also when the plugin stops first (then
     * drop).  For effects nobody may see unless the store has what they show, e.g. the
     * seeker's own message in their other tabs after submit().  GW_OK or GW_ENOMEM. */
    int (*after_commit)(struct gw_host *h, void (*cb)(void *arg), void (*drop)(void *arg),
                        void *arg);
    /* The seeker of `conv` (a conversation of this plugin's channel) asks for everything
     * stored about them to be erased now (GDPR art. 17; docs/erasure.md): their open
     * conversation is closed, texts, address, sessions go, partners are asked; the plugin's
     * forget() is called for each of the seeker's conversations before this returns, so
     * the plugin must not use what it keeps of `conv` afterwards.  Committed before it
     * returns.  GW_OK, GW_ENOTFOUND (not this channel's), GW_EIO. */
    int (*erase_conv)(struct gw_host *h, const char *conv);
};

/* The one descriptor a plugin exports as `skagerrak_plugin`. */
struct gw_plugin {
    unsigned abi;        /* GW_PLUGIN_ABI */
    size_t size;         /* sizeof(struct gw_plugin) */
    const char *name;    /* channel name: "webchat" "sms" "email" ... */
    const char *version;
    /* Parse and validate config, allocate; no I/O.  Errors via api->cfg_error() or err. */
    int (*init)(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                struct gw_host *h, char *err, size_t errlen);
    /* Register routes, timers, fds; begin work. */
    int (*start)(void *self);
    /* Stop and free self.  Cannot fail.  The host removes what the plugin registered. */
    void (*stop)(void *self);
    /* Apply a new config group (already validated by a throwaway init()).  May be NULL. */
    int (*reload)(void *self, const config_setting_t *conf, char *err, size_t errlen);
    /* Carry `m` to the seeker: GW_OK done, GW_PENDING (deliver_done later), GW_EAGAIN retry,
     * GW_EPERM permanent failure (reason in err). */
    int (*deliver)(void *self, const struct gw_msg *m, char *err, size_t errlen);
    /* Optional: write a JSON object describing health into buf; return 1 healthy, 0 not. */
    int (*health)(void *self, char *buf, size_t buflen);
    /* GW_PLUGIN_F_* (0: none).  Read only when `size` covers it. */
    unsigned flags;
    /* Optional (read only when `size` covers it): conversation `conv` was erased; forget
     * what is kept of it in memory and in the plugin's kv rows (the core has deleted the
     * rows whose JSON value has "conv": conv already), and never write it back. */
    void (*forget)(void *self, const char *conv);
};

/* The core keeps a conversation's messages to its channel in order: it hands a plugin the
 * next one only when the earlier ones are finished.  A plugin with this flag may be handed
 * the next while earlier ones are pending (GW_PENDING), because it finishes them in order and
 * a failure fails the later ones too (the e-mail plugin batches a conversation's lines into
 * one mail). */
#define GW_PLUGIN_F_PIPELINE 0x1u

#define GW_PLUGIN_SYMBOL "skagerrak_plugin"

#endif

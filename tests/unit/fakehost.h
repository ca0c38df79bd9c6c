/* fakehost.h — a fake host API (struct gw_host_api) for plugin unit tests: it records what a
 * plugin asks of the host and lets the test drive HTTP requests, timers, fds and fetches.
 *
 * Typical use:
 *
 *   struct fakehost *fh = fakehost_new();
 *   const config_setting_t *conf = fakehost_conf(fh, "sms = { provider = \"twilio\"; };", "sms");
 *   char err[256];
 *   assert_int_equal(fakehost_plugin_init(fh, &skagerrak_plugin, conf, err, sizeof err), 0);
 *   assert_int_equal(fakehost_plugin_start(fh), 0);
 *   struct fakehost_resp r;
 *   const char *hdr[] = {"Content-Type", "application/x-www-form-urlencoded", NULL};
 *   fakehost_http(fh, "POST", "/inbound", hdr, NULL, "From=%2B4791234567&Body=Hei", "127.0.0.1", &r);
 *   assert_int_equal(r.status, 200);
 *   assert_string_equal(fh->submits[0].body, "Hei");
 *   fakehost_resp_free(&r);
 *   fakehost_free(&fh);              // stops the plugin if it is still running
 *
 * Everything is in memory and deterministic: now_ms() is a settable clock, timers fire only in
 * fakehost_fire_timers(), fetches complete only in fakehost_fetch_complete().  Strings in the
 * records are copies owned by the fake host (freed by fakehost_free()).
 *
 * Behaviour of the fake API (where the real core has more, the fake keeps the contract):
 *   submit()        records a copy of every field (duplicates too).  A channel_msg_id seen
 *                   before gives GW_OK with duplicate = 1 and the first message's id and conv.
 *                   The conversation is in->conv if given; else the address's open
 *                   conversation unless new_conversation; else a new token "conv-1", "conv-2"...
 *                   Blocked addresses get GW_EPERM.  Set fh->submit_rc (and fh->submit_err)
 *                   to make the next submits fail with that code (still recorded).
 *                   Each stored message is also added to the history as dir "in".
 *   seeker_event(), deliver_done(), delivery_report(), seeker_block() are recorded.
 *   delivery_report() knows refs from deliver_done(GW_OK, ref) of a message sent through
 *                   fakehost_plugin_deliver(), and refs added with fakehost_ref_add(); unknown
 *                   refs give GW_ENOTFOUND.  A transient state after a final one is ignored.
 *   conv_info()     address and state ("queued" for new conversations; see fakehost_conv_state).
 *   history()       items added by submit() and fakehost_history_add(), oldest first.
 *   text()          "[lang:key]" (interned; valid until fakehost_free), or a text set with
 *                   fakehost_set_text().
 *   mask_address()  "+4791234567" -> "··4567", "kari@example.no" -> "k···@example.no".
 *   cfg_*()         on top of libconfig, as documented in plugin_api.h.  cfg_error() records
 *                   "file:line: message" in fh->cfg_errors (file is "(config)" for settings
 *                   parsed from a string by fakehost_conf()).
 *   kv_get/kv_set   in memory.
 *   http_*()        routes are kept; fakehost_http() runs a request through them.
 *   timer_*, fd_*   kept; fired by fakehost_fire_timers() / fakehost_fd_fire().
 *   fetch()         recorded in fh->fetches; completed by fakehost_fetch_complete().
 *   now_ms()        fh->now_ms (default 1767225600000 = 2026-01-01T00:00:00Z).
 *   log()           recorded in fh->logs; also printed to stderr if FAKEHOST_VERBOSE is set.
 */
#ifndef FAKEHOST_H
#define FAKEHOST_H

#include <stddef.h>
#include <stdint.h>

#include "plugin_api.h"

/* One submit() call. */
struct fakehost_submit {
    char *channel_msg_id, *address, *display, *body, *lang, *queue, *conv, *meta_json;
    int new_conversation;
    int rc;                 /* what submit() returned */
    struct gw_submitted out; /* what it wrote to *out (zeroed when rc != GW_OK) */
};

struct fakehost_done { /* one deliver_done() call */
    int64_t msg_id;
    int status;
    char *channel_ref, *reason;
};

struct fakehost_dlr { /* one delivery_report() call */
    char *channel_ref;
    enum gw_dlr state;
    char *reason;
    int rc; /* what it returned */
};

struct fakehost_event { /* one seeker_event() call */
    char *conv;
    enum gw_seeker_event ev;
};

struct fakehost_block { /* one seeker_block() call */
    char *address;
    int blocked;
    char *why;
};

struct fakehost_log {
    enum gw_log_level lvl;
    char *line;
};

struct fakehost_fetch { /* one fetch() call */
    void *easy;
    gw_fetch_cb cb;
    void *arg;
    int done; /* set by fakehost_fetch_complete() */
};

/* A response to fakehost_http().  Free with fakehost_resp_free(). */
struct fakehost_resp {
    int status;           /* 0 if the handler answered nothing (a plugin bug); 404 no route */
    char *content_type;
    char *body;           /* NUL-terminated copy; len bytes */
    size_t len;
    char **headers;       /* "Name", "Value", ..., NULL (never NULL itself after a call) */
    struct gw_http_stream *stream; /* set when the handler opened a stream (status 200) */
};

struct fakehost_priv;

/* Fields are read-only for tests except those marked settable. */
struct fakehost {
    int64_t now_ms;         /* settable: what now_ms() returns */
    int submit_rc;          /* settable: non-zero makes submit() fail with it */
    char submit_err[128];   /* settable: the err text for submit_rc */

    struct fakehost_submit *submits;
    size_t nsubmits;
    struct fakehost_done *dones;
    size_t ndones;
    struct fakehost_dlr *dlrs;
    size_t ndlrs;
    struct fakehost_event *events;
    size_t nevents;
    struct fakehost_block *blocks;
    size_t nblocks;
    struct fakehost_log *logs;
    size_t nlogs;
    char **cfg_errors;      /* "file:line: message" */
    size_t ncfg_errors;
    struct fakehost_fetch *fetches;
    size_t nfetches;

    struct fakehost_priv *priv;
};

/* New fake host (aborts on out-of-memory: it is test code).  Free with fakehost_free(). */
struct fakehost *fakehost_new(void);
/* Stop the plugin if running, free everything, set *fh = NULL.  NULL-safe. */
void fakehost_free(struct fakehost **fh);

/* The API table and host handle to give a plugin's init() by hand. */
const struct gw_host_api *fakehost_api(struct fakehost *fh);
struct gw_host *fakehost_host(struct fakehost *fh);

/* Parse libconfig text (kept until fakehost_free) and return the setting at `path`
 * (config_lookup syntax), or the root for path NULL.  NULL if the text does not parse
 * (reason printed to stderr) or the path is missing. */
const config_setting_t *fakehost_conf(struct fakehost *fh, const char *text, const char *path);

/* Plugin lifecycle with this host.  init() calls p->init with the fake API; start/deliver
 * call the plugin.  stop() closes open streams (their closed callbacks run first), calls
 * p->stop, then drops the plugin's routes, timers and fds. */
int fakehost_plugin_init(struct fakehost *fh, const struct gw_plugin *p,
                         const config_setting_t *conf, char *err, size_t errlen);
int fakehost_plugin_start(struct fakehost *fh);
/* Calls p->deliver and remembers m->id -> m->conv so later deliver_done refs resolve. */
int fakehost_plugin_deliver(struct fakehost *fh, const struct gw_msg *m, char *err,
                            size_t errlen);
void fakehost_plugin_stop(struct fakehost *fh);
void *fakehost_plugin_self(struct fakehost *fh);

/* Run one HTTP request through the registered routes.  `path` is below the plugin's mount
 * ("/inbound"); headers and query are NULL-terminated "name", "value" lists (may be NULL);
 * body is a NUL-terminated string (may be NULL); peer the remote IP (NULL = "127.0.0.1").
 * Exact routes win over prefix routes ("/x/ *"), longer prefixes over shorter.  Fills *resp
 * and returns resp->status. */
int fakehost_http(struct fakehost *fh, const char *method, const char *path,
                  const char *const *headers, const char *const *query, const char *body,
                  const char *peer, struct fakehost_resp *resp);
/* Like fakehost_http() with an explicit body length (binary bodies). */
int fakehost_http_len(struct fakehost *fh, const char *method, const char *path,
                      const char *const *headers, const char *const *query, const char *body,
                      size_t body_len, const char *peer, struct fakehost_resp *resp);
/* A response header (case-insensitive name), or NULL. */
const char *fakehost_resp_header(const struct fakehost_resp *r, const char *name);
void fakehost_resp_free(struct fakehost_resp *r);

/* Streams: everything written so far (NUL-terminated; *len if len != NULL), whether it was
 * closed, and simulating the client going away (runs the closed callback once). */
const char *fakehost_stream_data(const struct gw_http_stream *s, size_t *len);
int fakehost_stream_closed(const struct gw_http_stream *s);
void fakehost_stream_drop(struct gw_http_stream *s);

/* Advance the fake clock (now_ms too) by advance_ms, firing due timers in order (timers
 * added while firing fire too if due).  Returns how many fired. */
int fakehost_fire_timers(struct fakehost *fh, uint64_t advance_ms);
/* Number of pending (not fired, not cancelled) timers. */
size_t fakehost_timers_pending(const struct fakehost *fh);
/* Call the callback registered for fd with `events`.  GW_OK or GW_ENOTFOUND. */
int fakehost_fd_fire(struct fakehost *fh, int fd, unsigned events);
/* 1 if fd is registered. */
int fakehost_fd_watched(const struct fakehost *fh, int fd);
/* Complete fetch number idx (index into fh->fetches) with curl_code (0 = CURLE_OK): calls
 * the plugin's callback.  GW_EINVAL if idx is out of range or already done. */
int fakehost_fetch_complete(struct fakehost *fh, size_t idx, int curl_code);

/* Seed state. */
void fakehost_set_text(struct fakehost *fh, const char *lang, const char *key, const char *text);
void fakehost_ref_add(struct fakehost *fh, const char *channel_ref, const char *conv);
int fakehost_conv_state(struct fakehost *fh, const char *conv, const char *state);
int64_t fakehost_history_add(struct fakehost *fh, const char *conv, const char *dir,
                             const char *body, const char *state);
/* The last delivery state of a ref (0 if none). */
enum gw_dlr fakehost_ref_state(const struct fakehost *fh, const char *channel_ref);

/* Convenience checks: 1 if any log line / cfg error contains `needle`. */
int fakehost_log_contains(const struct fakehost *fh, const char *needle);
int fakehost_cfg_error_contains(const struct fakehost *fh, const char *needle);

#endif

/* host_api.c — the host API table handed to every plugin, and its functions.
 *
 * The host owns what a plugin registers (routes, timers, fds, transfers) and removes it
 * when the plugin stops (host.c), so a plugin cannot leave a dangling callback behind. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "conf/calendar.h"
#include "desk/core.h"
#include "desk/privacy.h"
#include "io/fetch.h"
#include "host/host_int.h"
#include "io/http.h"
#include "conf/i18n.h"
#include "io/log.h"
#include "io/loop.h"

/* --- the API functions --- */

static void api_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gw_vlog(lvl, h->name, fmt, ap);
    va_end(ap);
}

static void api_cfg_error(struct gw_host *h, const config_setting_t *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (h->errs)
        gw_cfg_errorf(h->errs, s, "plugins.%s: %s", h->name, msg);
    else
        gw_log(GW_LOG_ERROR, h->name, "config: %s", msg);
}

/* During init, the host's error list collects; afterwards (reload of a live plugin) a
 * private list is used and logged. */
static struct gw_cfg_errors *errs_of(struct gw_host *h, struct gw_cfg_errors *tmp)
{
    return h->errs ? h->errs : tmp;
}

static int flush_tmp(struct gw_host *h, struct gw_cfg_errors *tmp, int before)
{
    int bad = tmp->n > before;
    for (int i = 0; i < tmp->n; i++)
        gw_log(GW_LOG_ERROR, h->name, "config: %s", tmp->msgs[i]);
    gw_cfg_errors_release(tmp);
    return bad;
}

static int api_cfg_string(struct gw_host *h, const config_setting_t *conf, const char *key,
                          const char *def, const char **out)
{
    struct gw_cfg_errors tmp = {0}, *e = errs_of(h, &tmp);
    int before = e->n;
    *out = gw_cfg_str(e, conf, key, def);
    int bad = e == &tmp ? flush_tmp(h, &tmp, 0) : e->n > before;
    return bad ? GW_EINVAL : GW_OK;
}

static int api_cfg_int(struct gw_host *h, const config_setting_t *conf, const char *key,
                       long long def, long long min, long long max, long long *out)
{
    struct gw_cfg_errors tmp = {0}, *e = errs_of(h, &tmp);
    int before = e->n;
    *out = gw_cfg_int(e, conf, key, def, min, max);
    int bad = e == &tmp ? flush_tmp(h, &tmp, 0) : e->n > before;
    return bad ? GW_EINVAL : GW_OK;
}

static int api_cfg_bool(struct gw_host *h, const config_setting_t *conf, const char *key, int def,
                        int *out)
{
    struct gw_cfg_errors tmp = {0}, *e = errs_of(h, &tmp);
    int before = e->n;
    *out = gw_cfg_bool(e, conf, key, def);
    int bad = e == &tmp ? flush_tmp(h, &tmp, 0) : e->n > before;
    return bad ? GW_EINVAL : GW_OK;
}

static int api_cfg_known_keys(struct gw_host *h, const config_setting_t *conf,
                              const char *const *known)
{
    if (!conf)
        return GW_OK;
    int bad = 0;
    for (int i = 0; i < config_setting_length(conf); i++) {
        config_setting_t *s = config_setting_get_elem(conf, (unsigned)i);
        const char *name = config_setting_name(s);
        int ok = 0;
        for (int k = 0; known[k] && !ok; k++)
            ok = name && !strcmp(name, known[k]);
        if (!ok) {
            api_cfg_error(h, s, "unknown key '%s'", name ? name : "?");
            bad = 1;
        }
    }
    return bad ? GW_EINVAL : GW_OK;
}

static char *api_cfg_secret(struct gw_host *h, const config_setting_t *conf, const char *key)
{
    struct gw_cfg_errors tmp = {0}, *e = errs_of(h, &tmp);
    char *r = gw_cfg_secret(e, conf, key, 1);
    if (e == &tmp)
        flush_tmp(h, &tmp, 0);
    return r;
}

static int api_submit(struct gw_host *h, const struct gw_inbound *in, struct gw_submitted *out,
                      char *err, size_t errlen)
{
    return gw_router_submit(h->core, h->name, in, out, err, errlen);
}

static int api_seeker_event(struct gw_host *h, const char *conv, enum gw_seeker_event ev)
{
    struct gw_conv *cv = gw_conv_find(h->core, conv);
    if (!cv || strcmp(cv->channel, h->name))
        return GW_ENOTFOUND;
    gw_router_seeker_event(h->core, conv, ev);
    return GW_OK;
}

static void api_deliver_done(struct gw_host *h, int64_t msg_id, int status, const char *ref,
                             const char *reason)
{
    gw_outbox_channel_done(h->core, msg_id, status, ref, reason);
}

struct ids {
    int64_t id[64];
    int n;
};

static int collect_id(void *arg, const struct gw_msg_row *m)
{
    struct ids *ids = arg;
    if (ids->n < 64)
        ids->id[ids->n++] = m->id;
    return ids->n >= 64;
}

static int api_delivery_report(struct gw_host *h, const char *ref, enum gw_dlr state,
                               const char *reason)
{
    /* One channel ref may cover several messages (an email batching counsellor lines). */
    struct ids ids = {.n = 0};
    if (!ref || gw_store_msg_each_ref(h->core->store, ref, collect_id, &ids) <= 0)
        return GW_ENOTFOUND;
    int rc = GW_OK;
    for (int i = 0; i < ids.n; i++) {
        int r = gw_outbox_report(h->core, ids.id[i], state, reason);
        if (r < 0)
            rc = r;
    }
    return rc;
}

static int api_conv_by_ref(struct gw_host *h, const char *ref, char *conv, size_t convlen)
{
    struct gw_msg_row m;
    struct gw_conv_row r;
    if (!ref || gw_store_msg_by_ref(h->core->store, ref, &m) < 0 ||
        gw_store_conv_by_id(h->core->store, m.conv_id, &r) < 0)
        return GW_ENOTFOUND;
    snprintf(conv, convlen, "%s", r.token);
    return GW_OK;
}

static int api_conv_info(struct gw_host *h, const char *conv, char *address, size_t addrlen,
                         char *state, size_t statelen)
{
    struct gw_conv_row r;
    struct gw_seeker_row sk;
    if (!conv || gw_store_conv_by_token(h->core->store, conv, &r) < 0 ||
        gw_store_seeker_get(h->core->store, r.seeker_id, &sk) < 0 || strcmp(sk.channel, h->name))
        return GW_ENOTFOUND;
    struct gw_conv *cv = gw_conv_find(h->core, conv);
    if (address)
        snprintf(address, addrlen, "%s", sk.address);
    if (state)
        snprintf(state, statelen, "%s", cv ? gw_conv_state_name(cv->state) : r.state);
    return GW_OK;
}

struct hist_ctx {
    gw_history_cb cb;
    void *arg;
};

static int hist_one(void *arg, const struct gw_msg_row *m)
{
    struct hist_ctx *hc = arg;
    struct gw_history_item it = {m->id,      m->dir,   m->body ? m->body : "",
                                 m->created, m->state, m->meta};
    return hc->cb(hc->arg, &it);
}

static int api_history(struct gw_host *h, const char *conv, int64_t after_id, gw_history_cb cb,
                       void *arg)
{
    struct gw_conv_row r;
    struct gw_seeker_row sk;
    if (!conv || gw_store_conv_by_token(h->core->store, conv, &r) < 0 ||
        gw_store_seeker_get(h->core->store, r.seeker_id, &sk) < 0 || strcmp(sk.channel, h->name))
        return GW_ENOTFOUND;
    struct hist_ctx hc = {cb, arg};
    gw_store_msg_each(h->core->store, r.id, after_id, "in,out,auto", hist_one, &hc);
    return GW_OK;
}

static int api_seeker_block(struct gw_host *h, const char *address, int blocked, const char *why)
{
    struct gw_core *c = h->core;
    int64_t sid = gw_store_seeker_upsert(c->store, h->name, address, NULL, NULL);
    if (sid < 0)
        return GW_EIO;
    gw_store_seeker_block(c->store, sid, blocked, why);
    struct gw_conv *cv = gw_conv_for_seeker(c, h->name, address);
    if (blocked && cv) {
        if (cv->state == CS_ACTIVE)
            gw_conv_notify_counsellor(
                c, cv, cv->row.counsellor,
                gw_i18n_text(c->i18n, gw_counsellor_lang(c, cv->row.counsellor), "seeker_ended"));
        gw_conv_finish(c, cv, CS_CLOSED, why ? why : "blocked", NULL, "blocked");
    }
    return gw_turn_commit(c);
}

static int api_seeker_blocked(struct gw_host *h, const char *address)
{
    struct gw_seeker_row sk;
    return gw_store_seeker_find(h->core->store, h->name, address, &sk) == GW_OK && sk.blocked;
}

static const char *api_text(struct gw_host *h, const char *lang, const char *key)
{
    return gw_i18n_text(h->core->i18n, lang, key);
}

static char *api_kv_get(struct gw_host *h, const char *key)
{
    return gw_store_kv_get(h->core->store, h->name, key);
}

static int api_kv_set(struct gw_host *h, const char *key, const char *value)
{
    return gw_store_kv_set(h->core->store, h->name, key, value);
}

static int api_kv_del(struct gw_host *h, const char *key)
{
    return gw_store_kv_del(h->core->store, h->name, key);
}

static int api_after_commit(struct gw_host *h, void (*cb)(void *arg), void (*drop)(void *arg),
                            void *arg)
{
    return gw_turn_after_commit(h->core, h, cb, drop, arg);
}

static int api_http_route(struct gw_host *h, const char *method, const char *path,
                          gw_http_handler fn, void *arg)
{
    if (!h->core->http)
        return GW_EINVAL;
    return gw_http_route(h->core->http, h->name, method, path, fn, arg);
}

static void timer_fire(void *arg)
{
    struct host_timer *t = arg;
    LIST_REMOVE(t, link);
    gw_timer_cb cb = t->cb;
    void *a = t->arg;
    free(t);
    cb(a);
}

static uint64_t api_timer_add(struct gw_host *h, uint64_t ms, gw_timer_cb cb, void *arg)
{
    struct host_timer *t = calloc(1, sizeof *t);
    if (!t)
        return 0;
    *t = (struct host_timer){.h = h, .cb = cb, .arg = arg};
    t->id = gw_loop_timer_add(h->core->loop, ms, timer_fire, t);
    LIST_INSERT_HEAD(&h->timers, t, link);
    return t->id;
}

static void api_timer_cancel(struct gw_host *h, uint64_t id)
{
    struct host_timer *t;
    LIST_FOREACH(t, &h->timers, link)
    if (t->id == id) {
        gw_loop_timer_cancel(h->core->loop, id);
        LIST_REMOVE(t, link);
        free(t);
        return;
    }
}

static void fd_fire(void *arg, int fd, unsigned events)
{
    struct host_fd *f = arg;
    f->cb(f->arg, fd, events);
}

static int api_fd_add(struct gw_host *h, int fd, unsigned events, gw_fd_cb cb, void *arg)
{
    struct host_fd *f = calloc(1, sizeof *f);
    if (!f)
        return GW_ENOMEM;
    *f = (struct host_fd){.h = h, .fd = fd, .cb = cb, .arg = arg};
    int rc = gw_loop_fd_add(h->core->loop, fd, events, fd_fire, f);
    if (rc < 0) {
        free(f);
        return GW_EIO;
    }
    LIST_INSERT_HEAD(&h->fds, f, link);
    return GW_OK;
}

static void api_fd_del(struct gw_host *h, int fd)
{
    struct host_fd *f;
    LIST_FOREACH(f, &h->fds, link)
    if (f->fd == fd) {
        gw_loop_fd_del(h->core->loop, fd);
        LIST_REMOVE(f, link);
        free(f);
        return;
    }
}

static int api_fetch(struct gw_host *h, void *easy, gw_fetch_cb cb, void *arg)
{
    return gw_fetch_add(h->core->fetch, easy, cb, arg, h->name);
}

static int64_t api_now_ms(struct gw_host *h)
{
    return gw_now_ms(h->core);
}

static int api_queue_info(struct gw_host *h, const char *queue, const char *lang, char *buf,
                          size_t buflen)
{
    struct gw_core *c = h->core;
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, queue ? queue : c->cfg->default_queue);
    if (!qc)
        return GW_ENOTFOUND;
    int li = gw_lang_index(lang);
    const char *name = li >= 0 && qc->names[li] ? qc->names[li] : qc->id;
    time_t now = (time_t)(gw_now_ms(c) / 1000);
    int open = !qc->hours || gw_hours_is_open(qc->hours, now);
    long long next = open ? now : (qc->hours ? (long long)gw_hours_next_open(qc->hours, now) : -1);
    struct gw_queue_rt *q = gw_queue_rt(c, qc->id);
    int waiting = q ? q->nwaiting : 0;
    int64_t est = gw_queue_wait_estimate(c, qc->id, waiting + 1);
    size_t off =
        (size_t)snprintf(buf, buflen,
                         "{\"id\":\"%s\",\"name\":\"%s\",\"open\":%s,\"next_open_ms\":%lld,"
                         "\"waiting\":%d,\"wait_s\":%lld,\"languages\":[",
                         qc->id, name, open ? "true" : "false", next > 0 ? next * 1000 : -1,
                         waiting, est >= 0 ? (long long)(est / 1000) : -1LL);
    int nl = qc->nlangs;
    for (int i = 0; i < (nl ? nl : GW_NLANG) && off < buflen; i++)
        off += (size_t)snprintf(buf + off, buflen - off, "%s\"%s\"", i ? "," : "",
                                nl ? qc->langs[i] : gw_langs[i]);
    if (off < buflen)
        off += (size_t)snprintf(buf + off, buflen - off, "]}");
    return off < buflen ? GW_OK : GW_ELIMIT;
}

static int api_transcript(struct gw_host *h, const char *conv, const char *channel,
                          const char *address)
{
    struct gw_core *c = h->core;
    struct gw_conv_row r;
    if (!conv || gw_store_conv_by_token(c->store, conv, &r) < 0)
        return GW_ENOTFOUND;
    if (!gw_host_plugin(c, channel))
        return GW_EINVAL;
    char *text = gw_transcript_text(c, &r);
    if (!text)
        return GW_ENOMEM;
    char meta[400];
    snprintf(meta, sizeof meta, "{\"to\":\"%s\"}", address);
    int64_t mid = gw_store_msg_insert(c->store, r.id, "transcript", text, NULL, gw_now_ms(c),
                                      "stored", NULL, meta);
    free(text);
    if (mid < 0)
        return GW_EIO;
    /* The read audit: the seeker (by their masked address) had the transcript sent. */
    char who[300], detail[300], m[128];
    gw_audit_seeker_who(c, r.seeker_id, who, sizeof who);
    snprintf(detail, sizeof detail, "by %s to %s (via %s)", channel,
             gw_mask_address(address ? address : "", m, sizeof m), h->name);
    gw_audit(c, who, r.id, "transcript-email", detail, NULL);
    gw_retention_late_content(c, &r); /* the copy in messages follows the conversation's rule */
    return gw_outbox_channel(c, mid, channel, GW_MSG_TRANSCRIPT);
}

static int api_feedback(struct gw_host *h, const char *conv, int rating, const char *comment)
{
    struct gw_conv_row r;
    if (rating < 1 || rating > 5)
        return GW_EINVAL;
    if (!conv || gw_store_conv_by_token(h->core->store, conv, &r) < 0)
        return GW_ENOTFOUND;
    gw_store_feedback(h->core->store, r.id, rating, comment);
    if (comment && *comment)
        gw_retention_late_content(h->core, &r); /* feedback comes after the closing */
    return gw_turn_commit(h->core);
}

static int api_erase_conv(struct gw_host *h, const char *conv)
{
    struct gw_conv_row r;
    struct gw_seeker_row sk;
    struct gw_core *c = h->core;
    if (!conv || gw_store_conv_by_token(c->store, conv, &r) < 0 ||
        gw_store_seeker_get(c->store, r.seeker_id, &sk) < 0 || strcmp(sk.channel, h->name))
        return GW_ENOTFOUND;
    struct gw_erase_counts n;
    char actor[80];
    snprintf(actor, sizeof actor, "seeker (%s)", h->name);
    /* The seeker's own request: nothing is held back for messages still on their way to
     * them (they asked for those to go too). */
    if (gw_privacy_erase(c, r.seeker_id, actor, 0, &n, NULL) != GW_OK)
        return GW_EIO;
    if (gw_turn_commit(c) != GW_OK)
        return GW_EIO;
    GW_INFO("%s: a seeker erased their conversation (%lld messages)", h->name, n.messages);
    return GW_OK;
}

static char *api_transcript_text(struct gw_host *h, const char *conv)
{
    struct gw_conv_row r;
    if (!conv || gw_store_conv_by_token(h->core->store, conv, &r) < 0)
        return NULL;
    char *text = gw_transcript_text(h->core, &r);
    if (text) {
        /* The read audit: the seeker downloaded it (who: their masked address). */
        char who[300], detail[64];
        gw_audit_seeker_who(h->core, r.seeker_id, who, sizeof who);
        snprintf(detail, sizeof detail, "download via %s", h->name);
        gw_audit(h->core, who, r.id, "transcript", detail, NULL);
    }
    return text;
}

const struct gw_host_api gw_host_i_api = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_host_api),
    .log = api_log,
    .cfg_string = api_cfg_string,
    .cfg_int = api_cfg_int,
    .cfg_bool = api_cfg_bool,
    .cfg_error = api_cfg_error,
    .cfg_known_keys = api_cfg_known_keys,
    .cfg_secret = api_cfg_secret,
    .submit = api_submit,
    .seeker_event = api_seeker_event,
    .deliver_done = api_deliver_done,
    .delivery_report = api_delivery_report,
    .conv_by_ref = api_conv_by_ref,
    .conv_info = api_conv_info,
    .history = api_history,
    .seeker_block = api_seeker_block,
    .seeker_blocked = api_seeker_blocked,
    .text = api_text,
    .mask_address = gw_mask_address,
    .kv_get = api_kv_get,
    .kv_set = api_kv_set,
    .http_route = api_http_route,
    .http_method = gw_http_req_method,
    .http_path = gw_http_req_path,
    .http_header = gw_http_req_header,
    .http_query = gw_http_req_query,
    .http_body = gw_http_req_body,
    .http_peer = gw_http_req_peer,
    .http_respond = gw_http_req_respond,
    .http_stream_open = gw_http_stream_open,
    .http_stream_write = gw_http_stream_write,
    .http_stream_close = gw_http_stream_close,
    .timer_add = api_timer_add,
    .timer_cancel = api_timer_cancel,
    .fd_add = api_fd_add,
    .fd_del = api_fd_del,
    .fetch = api_fetch,
    .now_ms = api_now_ms,
    .queue_info = api_queue_info,
    .transcript = api_transcript,
    .feedback = api_feedback,
    .transcript_text = api_transcript_text,
    .kv_del = api_kv_del,
    .after_commit = api_after_commit,
    .erase_conv = api_erase_conv,
};

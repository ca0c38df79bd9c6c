/* fakehost.c — a fake host API for plugin unit tests (see fakehost.h for the behaviour). */
#include "fakehost.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct gw_host {
    struct fakehost *fh;
};

struct fh_conv {
    char token[40];
    char *address;
    char state[16];
};

struct fh_kv {
    char *key, *value;
};

struct fh_text {
    char *lang, *key, *text; /* lang NULL = any */
};

struct fh_ref {
    char *ref, *conv;
    enum gw_dlr state;
};

struct fh_idconv {
    int64_t id;
    char *conv;
};

struct fh_hist {
    char *conv, *dir, *body, *state;
    int64_t id, created_ms;
};

struct fh_route {
    char *method, *path;
    gw_http_handler fn;
    void *arg;
};

struct fh_timer {
    uint64_t id, due;
    gw_timer_cb cb;
    void *arg;
    int pending;
};

struct fh_fd {
    int fd;
    unsigned events;
    gw_fd_cb cb;
    void *arg;
};

struct gw_http_stream {
    struct fakehost *fh;
    char *data;
    size_t len;
    int closed;
    gw_stream_closed_cb cb;
    void *arg;
};

struct gw_http_req {
    struct fakehost *fh;
    const char *method, *path, *body, *peer;
    size_t body_len;
    const char *const *headers, *const *query;
    struct fakehost_resp *resp;
    int answered;
};

#define VEC(T) \
    T *v;      \
    size_t n, cap

struct fakehost_priv {
    struct gw_host host;
    struct gw_host_api api;
    const struct gw_plugin *plugin;
    void *self;
    int started;
    int64_t next_msg_id;
    int next_conv;
    uint64_t next_timer, mono_ms;
    struct { VEC(config_t *); } configs;
    struct { VEC(struct fh_conv); } convs;
    struct { VEC(struct fh_kv); } kv;
    struct { VEC(struct fh_text); } texts;
    struct { VEC(struct fh_ref); } refs;
    struct { VEC(struct fh_idconv); } sent;
    struct { VEC(struct fh_hist); } hist;
    struct { VEC(struct fh_route); } routes;
    struct { VEC(struct fh_timer); } timers;
    struct { VEC(struct fh_fd); } fds;
    struct { VEC(struct gw_http_stream *); } streams;
    struct { VEC(char *); } blocked;
    size_t cap_submits, cap_dones, cap_dlrs, cap_events, cap_blocks, cap_logs, cap_cfg_errors,
        cap_fetches;
};

/* ---- small helpers (test code: abort on OOM) -------------------------------------------- */

static void *xgrow(void *p, size_t *cap, size_t n, size_t elsz)
{
    if (n < *cap)
        return p;
    size_t nc = *cap ? *cap * 2 : 8;
    void *q = realloc(p, nc * elsz);
    if (!q)
        abort();
    memset((char *)q + *cap * elsz, 0, (nc - *cap) * elsz);
    *cap = nc;
    return q;
}
#define PUSH(vec) (*((vec).v = xgrow((vec).v, &(vec).cap, (vec).n, sizeof *(vec).v), &(vec).v[(vec).n++]))
#define RECORD(fh, arr, cnt, capf)                                                         \
    (*((fh)->arr = xgrow((fh)->arr, &(fh)->priv->capf, (fh)->cnt, sizeof *(fh)->arr),     \
       &(fh)->arr[(fh)->cnt++]))

static char *xdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

static char *xdupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static char *xvprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    return s;
}

static struct fakehost *FH(struct gw_host *h)
{
    return h->fh;
}

/* ---- log, config -------------------------------------------------------------------------- */

static void fh_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fh_log(struct gw_host *h, enum gw_log_level lvl, const char *fmt, ...)
{
    struct fakehost *fh = FH(h);
    va_list ap;
    va_start(ap, fmt);
    char *line = xvprintf(fmt, ap);
    va_end(ap);
    struct fakehost_log *l = &RECORD(fh, logs, nlogs, cap_logs);
    l->lvl = lvl;
    l->line = line;
    if (getenv("FAKEHOST_VERBOSE"))
        fprintf(stderr, "[fakehost %d] %s\n", (int)lvl, line);
}

static void fh_cfg_error(struct gw_host *h, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fh_cfg_error(struct gw_host *h, const config_setting_t *s, const char *fmt, ...)
{
    struct fakehost *fh = FH(h);
    va_list ap;
    va_start(ap, fmt);
    char *msg = xvprintf(fmt, ap);
    va_end(ap);
    const char *file = s ? config_setting_source_file(s) : NULL;
    char *line = NULL;
    if (asprintf(&line, "%s:%u: %s", file ? file : "(config)",
                 s ? config_setting_source_line(s) : 0u, msg) < 0)
        abort();
    free(msg);
    RECORD(fh, cfg_errors, ncfg_errors, cap_cfg_errors) = line;
    if (getenv("FAKEHOST_VERBOSE"))
        fprintf(stderr, "[fakehost cfg] %s\n", line);
}

static int fh_cfg_string(struct gw_host *h, const config_setting_t *conf, const char *key,
                         const char *def, const char **out)
{
    const config_setting_t *s = conf ? config_setting_get_member(conf, key) : NULL;
    *out = def;
    if (!s)
        return GW_OK;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        fh_cfg_error(h, s, "'%s' must be a string", key);
        return GW_EINVAL;
    }
    *out = config_setting_get_string(s);
    return GW_OK;
}

static int fh_cfg_int(struct gw_host *h, const config_setting_t *conf, const char *key,
                      long long def, long long min, long long max, long long *out)
{
    const config_setting_t *s = conf ? config_setting_get_member(conf, key) : NULL;
    *out = def;
    if (!s)
        return GW_OK;
    int t = config_setting_type(s);
    if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
        fh_cfg_error(h, s, "'%s' must be an integer", key);
        return GW_EINVAL;
    }
    long long v = config_setting_get_int64(s);
    if (v < min || v > max) {
        fh_cfg_error(h, s, "'%s' must be between %lld and %lld", key, min, max);
        return GW_EINVAL;
    }
    *out = v;
    return GW_OK;
}

static int fh_cfg_bool(struct gw_host *h, const config_setting_t *conf, const char *key, int def,
                       int *out)
{
    const config_setting_t *s = conf ? config_setting_get_member(conf, key) : NULL;
    *out = def;
    if (!s)
        return GW_OK;
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        fh_cfg_error(h, s, "'%s' must be true or false", key);
        return GW_EINVAL;
    }
    *out = config_setting_get_bool(s);
    return GW_OK;
}

static int fh_cfg_known_keys(struct gw_host *h, const config_setting_t *conf,
                             const char *const *known)
{
    int rc = GW_OK;
    if (!conf)
        return GW_OK;
    for (int i = 0; i < config_setting_length(conf); i++) {
        const config_setting_t *c = config_setting_get_elem(conf, (unsigned)i);
        const char *name = config_setting_name(c);
        int ok = 0;
        for (size_t k = 0; known && known[k] && !ok; k++)
            ok = name && !strcmp(name, known[k]);
        if (!ok) {
            fh_cfg_error(h, c, "unknown key '%s'", name ? name : "?");
            rc = GW_EINVAL;
        }
    }
    return rc;
}

static char *fh_cfg_secret(struct gw_host *h, const config_setting_t *conf, const char *key)
{
    char fkey[128];
    snprintf(fkey, sizeof fkey, "%s_file", key);
    const config_setting_t *v = conf ? config_setting_get_member(conf, key) : NULL;
    const config_setting_t *f = conf ? config_setting_get_member(conf, fkey) : NULL;
    if (v && f) {
        fh_cfg_error(h, f, "give either '%s' or '%s', not both", key, fkey);
        return NULL;
    }
    if (!v && !f) {
        fh_cfg_error(h, conf, "missing '%s' (or '%s')", key, fkey);
        return NULL;
    }
    const config_setting_t *s = v ? v : f;
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        fh_cfg_error(h, s, "'%s' must be a string", v ? key : fkey);
        return NULL;
    }
    const char *val = config_setting_get_string(s);
    if (v) {
        if (!val[0]) {
            fh_cfg_error(h, s, "'%s' is empty", key);
            return NULL;
        }
        return xdup(val);
    }
    FILE *fp = fopen(val, "r");
    if (!fp) {
        fh_cfg_error(h, s, "cannot read '%s' (%s)", fkey, val);
        return NULL;
    }
    char line[4096];
    char *r = fgets(line, sizeof line, fp);
    fclose(fp);
    if (r)
        line[strcspn(line, "\r\n")] = '\0';
    if (!r || !line[0]) {
        fh_cfg_error(h, s, "'%s' (%s) is empty", fkey, val);
        return NULL;
    }
    return xdup(line);
}

/* ---- conversations and messages ------------------------------------------------------- */

static struct fh_conv *conv_find(struct fakehost *fh, const char *token)
{
    struct fakehost_priv *p = fh->priv;
    for (size_t i = 0; token && i < p->convs.n; i++)
        if (!strcmp(p->convs.v[i].token, token))
            return &p->convs.v[i];
    return NULL;
}

static struct fh_conv *conv_open_for(struct fakehost *fh, const char *address)
{
    struct fakehost_priv *p = fh->priv;
    for (size_t i = p->convs.n; address && i-- > 0;)
        if (p->convs.v[i].address && !strcmp(p->convs.v[i].address, address) &&
            strcmp(p->convs.v[i].state, "closed"))
            return &p->convs.v[i];
    return NULL;
}

static int is_blocked(struct fakehost *fh, const char *address)
{
    for (size_t i = 0; address && i < fh->priv->blocked.n; i++)
        if (!strcmp(fh->priv->blocked.v[i], address))
            return 1;
    return 0;
}

static int64_t hist_add(struct fakehost *fh, const char *conv, const char *dir, const char *body,
                        const char *state)
{
    struct fh_hist *it = &PUSH(fh->priv->hist);
    it->id = fh->priv->next_msg_id++;
    it->conv = xdup(conv);
    it->dir = xdup(dir);
    it->body = xdup(body ? body : "");
    it->state = xdup(state ? state : "stored");
    it->created_ms = fh->now_ms;
    return it->id;
}

static int fh_submit(struct gw_host *h, const struct gw_inbound *in, struct gw_submitted *out,
                     char *err, size_t errlen)
{
    struct fakehost *fh = FH(h);
    struct fakehost_submit *r = &RECORD(fh, submits, nsubmits, cap_submits);
    r->channel_msg_id = xdup(in->channel_msg_id);
    r->address = xdup(in->address);
    r->display = xdup(in->display);
    r->body = xdup(in->body);
    r->lang = xdup(in->lang);
    r->queue = xdup(in->queue);
    r->conv = xdup(in->conv);
    r->meta_json = xdup(in->meta_json);
    r->new_conversation = in->new_conversation;
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (fh->submit_rc) {
        r->rc = fh->submit_rc;
        if (err && errlen)
            snprintf(err, errlen, "%s", fh->submit_err[0] ? fh->submit_err : "fake failure");
        return r->rc;
    }
    if (!in->address || !in->body) {
        if (err && errlen)
            snprintf(err, errlen, "address and body are required");
        return r->rc = GW_EINVAL;
    }
    if (is_blocked(fh, in->address)) {
        if (err && errlen)
            snprintf(err, errlen, "seeker is blocked");
        return r->rc = GW_EPERM;
    }
    /* Dedup by channel_msg_id: the first record with the same id and GW_OK wins. */
    for (size_t i = 0; in->channel_msg_id && i + 1 < fh->nsubmits; i++) {
        const struct fakehost_submit *o = &fh->submits[i];
        if (o->rc == GW_OK && !o->out.duplicate && o->channel_msg_id &&
            !strcmp(o->channel_msg_id, in->channel_msg_id)) {
            *out = o->out;
            out->duplicate = 1;
            r->out = *out;
            return r->rc = GW_OK;
        }
    }
    struct fh_conv *c = in->conv ? conv_find(fh, in->conv) : NULL;
    if (in->conv && !c) {
        if (err && errlen)
            snprintf(err, errlen, "unknown conversation %s", in->conv);
        return r->rc = GW_ENOTFOUND;
    }
    if (!c && !in->new_conversation)
        c = conv_open_for(fh, in->address);
    if (!c) {
        c = &PUSH(fh->priv->convs);
        snprintf(c->token, sizeof c->token, "conv-%d", ++fh->priv->next_conv);
        c->address = xdup(in->address);
        snprintf(c->state, sizeof c->state, "queued");
    }
    out->msg_id = hist_add(fh, c->token, "in", in->body, "stored");
    snprintf(out->conv, sizeof out->conv, "%s", c->token);
    r->out = *out;
    return r->rc = GW_OK;
}

static int fh_seeker_event(struct gw_host *h, const char *conv, enum gw_seeker_event ev)
{
    struct fakehost *fh = FH(h);
    struct fakehost_event *e = &RECORD(fh, events, nevents, cap_events);
    e->conv = xdup(conv);
    e->ev = ev;
    return conv_find(fh, conv) ? GW_OK : GW_ENOTFOUND;
}

static struct fh_ref *ref_find(const struct fakehost *fh, const char *ref)
{
    for (size_t i = 0; ref && i < fh->priv->refs.n; i++)
        if (!strcmp(fh->priv->refs.v[i].ref, ref))
            return &fh->priv->refs.v[i];
    return NULL;
}

void fakehost_ref_add(struct fakehost *fh, const char *channel_ref, const char *conv)
{
    struct fh_ref *r = ref_find(fh, channel_ref);
    if (!r) {
        r = &PUSH(fh->priv->refs);
        r->ref = xdup(channel_ref);
    }
    free(r->conv);
    r->conv = xdup(conv);
}

enum gw_dlr fakehost_ref_state(const struct fakehost *fh, const char *channel_ref)
{
    const struct fh_ref *r = ref_find(fh, channel_ref);
    return r ? r->state : (enum gw_dlr)0;
}

static void fh_deliver_done(struct gw_host *h, int64_t msg_id, int status, const char *channel_ref,
                            const char *reason)
{
    struct fakehost *fh = FH(h);
    struct fakehost_done *d = &RECORD(fh, dones, ndones, cap_dones);
    d->msg_id = msg_id;
    d->status = status;
    d->channel_ref = xdup(channel_ref);
    d->reason = xdup(reason);
    if (status == GW_OK && channel_ref) {
        const char *conv = NULL;
        for (size_t i = 0; i < fh->priv->sent.n; i++)
            if (fh->priv->sent.v[i].id == msg_id)
                conv = fh->priv->sent.v[i].conv;
        fakehost_ref_add(fh, channel_ref, conv);
        ref_find(fh, channel_ref)->state = GW_DLR_SENT;
    }
}

static int fh_delivery_report(struct gw_host *h, const char *channel_ref, enum gw_dlr state,
                              const char *reason)
{
    struct fakehost *fh = FH(h);
    struct fakehost_dlr *d = &RECORD(fh, dlrs, ndlrs, cap_dlrs);
    d->channel_ref = xdup(channel_ref);
    d->state = state;
    d->reason = xdup(reason);
    struct fh_ref *r = ref_find(fh, channel_ref);
    if (!r)
        return d->rc = GW_ENOTFOUND;
    int final = r->state == GW_DLR_DELIVERED || r->state == GW_DLR_FAILED;
    if (!final)
        r->state = state;
    return d->rc = GW_OK;
}

static int fh_conv_by_ref(struct gw_host *h, const char *channel_ref, char *conv, size_t convlen)
{
    const struct fh_ref *r = ref_find(FH(h), channel_ref);
    if (!r || !r->conv)
        return GW_ENOTFOUND;
    snprintf(conv, convlen, "%s", r->conv);
    return GW_OK;
}

static int fh_conv_info(struct gw_host *h, const char *conv, char *address, size_t addrlen,
                        char *state, size_t statelen)
{
    const struct fh_conv *c = conv_find(FH(h), conv);
    if (!c)
        return GW_ENOTFOUND;
    if (address)
        snprintf(address, addrlen, "%s", c->address ? c->address : "");
    if (state)
        snprintf(state, statelen, "%s", c->state);
    return GW_OK;
}

int fakehost_conv_state(struct fakehost *fh, const char *conv, const char *state)
{
    struct fh_conv *c = conv_find(fh, conv);
    if (!c)
        return GW_ENOTFOUND;
    snprintf(c->state, sizeof c->state, "%s", state);
    return GW_OK;
}

int64_t fakehost_history_add(struct fakehost *fh, const char *conv, const char *dir,
                             const char *body, const char *state)
{
    return hist_add(fh, conv, dir, body, state);
}

static int fh_history(struct gw_host *h, const char *conv, int64_t after_id, gw_history_cb cb,
                      void *arg)
{
    struct fakehost *fh = FH(h);
    if (!conv_find(fh, conv))
        return GW_ENOTFOUND;
    for (size_t i = 0; i < fh->priv->hist.n; i++) {
        const struct fh_hist *it = &fh->priv->hist.v[i];
        if (strcmp(it->conv, conv) || it->id <= after_id)
            continue;
        struct gw_history_item item = {it->id, it->dir, it->body, it->created_ms, it->state, NULL};
        if (cb(arg, &item))
            break;
    }
    return GW_OK;
}

static int fh_seeker_block(struct gw_host *h, const char *address, int blocked, const char *why)
{
    struct fakehost *fh = FH(h);
    struct fakehost_block *b = &RECORD(fh, blocks, nblocks, cap_blocks);
    b->address = xdup(address);
    b->blocked = blocked;
    b->why = xdup(why);
    struct fakehost_priv *p = fh->priv;
    for (size_t i = 0; i < p->blocked.n; i++)
        if (!strcmp(p->blocked.v[i], address)) {
            if (!blocked) {
                free(p->blocked.v[i]);
                p->blocked.v[i] = p->blocked.v[--p->blocked.n];
            }
            return GW_OK;
        }
    if (blocked) {
        PUSH(p->blocked) = xdup(address);
        struct fh_conv *c = conv_open_for(fh, address);
        if (c)
            snprintf(c->state, sizeof c->state, "closed");
    }
    return GW_OK;
}

static int fh_seeker_blocked(struct gw_host *h, const char *address)
{
    return is_blocked(FH(h), address);
}

/* ---- texts, masking, kv --------------------------------------------------------------- */

void fakehost_set_text(struct fakehost *fh, const char *lang, const char *key, const char *text)
{
    struct fh_text *t = &PUSH(fh->priv->texts);
    t->lang = xdup(lang);
    t->key = xdup(key);
    t->text = xdup(text);
}

static const char *fh_text(struct gw_host *h, const char *lang, const char *key)
{
    struct fakehost_priv *p = FH(h)->priv;
    if (!key)
        return "";
    /* Newest first, so a later fakehost_set_text() overrides; exact language beats any. */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = p->texts.n; i-- > 0;) {
            const struct fh_text *t = &p->texts.v[i];
            if (strcmp(t->key, key))
                continue;
            if (pass == 0 ? (t->lang && lang && !strcmp(t->lang, lang)) : !t->lang)
                return t->text;
        }
    char *s = NULL;
    if (asprintf(&s, "[%s:%s]", lang ? lang : "en", key) < 0)
        abort();
    /* Interned as an exact-language entry so the pointer lives until fakehost_free. */
    struct fh_text *t = &PUSH(p->texts);
    t->lang = xdup(lang ? lang : "en");
    t->key = xdup(key);
    t->text = s;
    return s;
}

static const char *fh_mask_address(const char *addr, char *buf, size_t buflen)
{
    if (!buf || !buflen)
        return "";
    if (!addr) {
        snprintf(buf, buflen, "?");
        return buf;
    }
    const char *at = strchr(addr, '@');
    if (at && at > addr) {
        /* First character (a whole UTF-8 sequence) + dots + domain. */
        size_t first = 1;
        while (addr + first < at && ((unsigned char)addr[first] & 0xC0) == 0x80)
            first++;
        snprintf(buf, buflen, "%.*s\xC2\xB7\xC2\xB7\xC2\xB7%s", (int)first, addr, at);
        return buf;
    }
    size_t n = strlen(addr);
    snprintf(buf, buflen, "\xC2\xB7\xC2\xB7%s", n > 4 ? addr + n - 4 : addr);
    return buf;
}

static char *fh_kv_get(struct gw_host *h, const char *key)
{
    struct fakehost_priv *p = FH(h)->priv;
    for (size_t i = 0; i < p->kv.n; i++)
        if (!strcmp(p->kv.v[i].key, key))
            return xdup(p->kv.v[i].value);
    return NULL;
}

static int fh_kv_set(struct gw_host *h, const char *key, const char *value)
{
    struct fakehost_priv *p = FH(h)->priv;
    for (size_t i = 0; i < p->kv.n; i++)
        if (!strcmp(p->kv.v[i].key, key)) {
            free(p->kv.v[i].value);
            p->kv.v[i].value = xdup(value);
            return GW_OK;
        }
    struct fh_kv *e = &PUSH(p->kv);
    e->key = xdup(key);
    e->value = xdup(value);
    return GW_OK;
}

/* The fake host commits every submit at once (it has no turns): run the effect now. */
static int fh_after_commit(struct gw_host *h, void (*cb)(void *arg), void (*drop)(void *arg),
                           void *arg)
{
    (void)h;
    (void)drop;
    cb(arg);
    return GW_OK;
}

static int fh_kv_del(struct gw_host *h, const char *key)
{
    struct fakehost_priv *p = FH(h)->priv;
    for (size_t i = 0; i < p->kv.n; i++)
        if (!strcmp(p->kv.v[i].key, key)) {
            free(p->kv.v[i].key);
            free(p->kv.v[i].value);
            p->kv.v[i] = p->kv.v[--p->kv.n];
            return GW_OK;
        }
    return GW_OK;
}

/* ---- HTTP ------------------------------------------------------------------------------ */

static int fh_http_route(struct gw_host *h, const char *method, const char *path,
                         gw_http_handler fn, void *arg)
{
    if (!path || !fn)
        return GW_EINVAL;
    struct fh_route *r = &PUSH(FH(h)->priv->routes);
    r->method = xdup(method);
    r->path = xdup(path);
    r->fn = fn;
    r->arg = arg;
    return GW_OK;
}

static const char *pair_get(const char *const *list, const char *name, int nocase)
{
    for (size_t i = 0; list && list[i] && list[i + 1]; i += 2)
        if (nocase ? !strcasecmp(list[i], name) : !strcmp(list[i], name))
            return list[i + 1];
    return NULL;
}

static const char *fh_http_method(struct gw_http_req *r) { return r->method; }
static const char *fh_http_path(struct gw_http_req *r) { return r->path; }
static const char *fh_http_peer(struct gw_http_req *r) { return r->peer; }

static const char *fh_http_header(struct gw_http_req *r, const char *name)
{
    return pair_get(r->headers, name, 1);
}

static const char *fh_http_query(struct gw_http_req *r, const char *name)
{
    return pair_get(r->query, name, 0);
}

static const char *fh_http_body(struct gw_http_req *r, size_t *len)
{
    if (len)
        *len = r->body_len;
    return r->body;
}

static char **copy_pairs(const char *const *headers)
{
    size_t n = 0;
    while (headers && headers[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        abort();
    for (size_t i = 0; i < n; i++)
        v[i] = xdup(headers[i]);
    return v;
}

static int fh_http_respond(struct gw_http_req *r, int status, const char *content_type,
                           const char *body, size_t len, const char *const *headers)
{
    if (r->answered)
        return GW_EINVAL;
    r->answered = 1;
    struct fakehost_resp *o = r->resp;
    o->status = status;
    o->content_type = xdup(content_type);
    o->body = xdupn(body ? body : "", body ? len : 0);
    o->len = body ? len : 0;
    free(o->headers);
    o->headers = copy_pairs(headers);
    return GW_OK;
}

static struct gw_http_stream *fh_http_stream_open(struct gw_http_req *r, const char *content_type,
                                                  const char *const *headers,
                                                  gw_stream_closed_cb closed, void *arg)
{
    if (r->answered)
        return NULL;
    r->answered = 1;
    struct gw_http_stream *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->data = xdupn("", 0);
    s->cb = closed;
    s->arg = arg;
    struct fakehost_resp *o = r->resp;
    s->fh = r->fh;
    o->stream = s;
    o->status = 200;
    o->content_type = xdup(content_type);
    free(o->headers);
    o->headers = copy_pairs(headers);
    PUSH(s->fh->priv->streams) = s;
    return s;
}

static int fh_http_stream_write(struct gw_http_stream *s, const char *data, size_t len)
{
    if (s->closed)
        return GW_EIO;
    char *d = realloc(s->data, s->len + len + 1);
    if (!d)
        abort();
    memcpy(d + s->len, data, len);
    s->len += len;
    d[s->len] = '\0';
    s->data = d;
    return GW_OK;
}

static void stream_end(struct gw_http_stream *s)
{
    if (s->closed)
        return;
    s->closed = 1;
    if (s->cb)
        s->cb(s->arg, s);
}

static void fh_http_stream_close(struct gw_http_stream *s) { stream_end(s); }

void fakehost_stream_drop(struct gw_http_stream *s) { stream_end(s); }

const char *fakehost_stream_data(const struct gw_http_stream *s, size_t *len)
{
    if (len)
        *len = s->len;
    return s->data;
}

int fakehost_stream_closed(const struct gw_http_stream *s) { return s->closed; }

int fakehost_http_len(struct fakehost *fh, const char *method, const char *path,
                      const char *const *headers, const char *const *query, const char *body,
                      size_t body_len, const char *peer, struct fakehost_resp *resp)
{
    memset(resp, 0, sizeof *resp);
    const struct fh_route *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < fh->priv->routes.n; i++) {
        const struct fh_route *r = &fh->priv->routes.v[i];
        if (r->method && strcmp(r->method, method))
            continue;
        size_t pl = strlen(r->path);
        if (pl && r->path[pl - 1] == '*') {
            if (!strncmp(path, r->path, pl - 1) && (!best || (best_len != (size_t)-1 &&
                                                              pl - 1 > best_len))) {
                best = r;
                best_len = pl - 1;
            }
        } else if (!strcmp(path, r->path)) {
            best = r;
            best_len = (size_t)-1; /* exact beats any prefix */
            break;
        }
    }
    if (!best) {
        resp->status = 404;
        resp->body = xdupn("", 0);
        resp->headers = copy_pairs(NULL);
        return 404;
    }
    struct gw_http_req req = {
        .fh = fh,
        .method = method,
        .path = path,
        .body = body ? body : "",
        .body_len = body ? body_len : 0,
        .peer = peer ? peer : "127.0.0.1",
        .headers = headers,
        .query = query,
        .resp = resp,
    };
    best->fn(best->arg, &req);
    if (!resp->body)
        resp->body = xdupn("", 0);
    if (!resp->headers)
        resp->headers = copy_pairs(NULL);
    return resp->status;
}

int fakehost_http(struct fakehost *fh, const char *method, const char *path,
                  const char *const *headers, const char *const *query, const char *body,
                  const char *peer, struct fakehost_resp *resp)
{
    return fakehost_http_len(fh, method, path, headers, query, body, body ? strlen(body) : 0,
                             peer, resp);
}

const char *fakehost_resp_header(const struct fakehost_resp *r, const char *name)
{
    return pair_get((const char *const *)r->headers, name, 1);
}

void fakehost_resp_free(struct fakehost_resp *r)
{
    if (!r)
        return;
    free(r->content_type);
    free(r->body);
    for (size_t i = 0; r->headers && r->headers[i]; i++)
        free(r->headers[i]);
    free(r->headers);
    memset(r, 0, sizeof *r); /* the stream itself is owned by the fake host */
}

/* ---- timers, fds, fetch, clock ---------------------------------------------------------- */

static uint64_t fh_timer_add(struct gw_host *h, uint64_t ms, gw_timer_cb cb, void *arg)
{
    struct fakehost_priv *p = FH(h)->priv;
    struct fh_timer *t = &PUSH(p->timers);
    t->id = ++p->next_timer;
    t->due = p->mono_ms + ms;
    t->cb = cb;
    t->arg = arg;
    t->pending = 1;
    return t->id;
}

static void fh_timer_cancel(struct gw_host *h, uint64_t id)
{
    struct fakehost_priv *p = FH(h)->priv;
    for (size_t i = 0; i < p->timers.n; i++)
        if (p->timers.v[i].id == id)
            p->timers.v[i].pending = 0;
}

int fakehost_fire_timers(struct fakehost *fh, uint64_t advance_ms)
{
    struct fakehost_priv *p = fh->priv;
    uint64_t target = p->mono_ms + advance_ms;
    int fired = 0;
    for (;;) {
        size_t best = (size_t)-1;
        for (size_t i = 0; i < p->timers.n; i++) {
            const struct fh_timer *t = &p->timers.v[i];
            if (t->pending && t->due <= target &&
                (best == (size_t)-1 || t->due < p->timers.v[best].due))
                best = i; /* ties: the earlier-added (lower index) stays */
        }
        if (best == (size_t)-1)
            break;
        struct fh_timer t = p->timers.v[best]; /* the vector may move inside cb */
        p->timers.v[best].pending = 0;
        fh->now_ms += (int64_t)(t.due - p->mono_ms);
        p->mono_ms = t.due;
        t.cb(t.arg);
        fired++;
    }
    fh->now_ms += (int64_t)(target - p->mono_ms);
    p->mono_ms = target;
    return fired;
}

size_t fakehost_timers_pending(const struct fakehost *fh)
{
    size_t n = 0;
    for (size_t i = 0; i < fh->priv->timers.n; i++)
        n += fh->priv->timers.v[i].pending != 0;
    return n;
}

static int fh_fd_add(struct gw_host *h, int fd, unsigned events, gw_fd_cb cb, void *arg)
{
    struct fakehost_priv *p = FH(h)->priv;
    for (size_t i = 0; i < p->fds.n; i++)
        if (p->fds.v[i].fd == fd) {
            p->fds.v[i].events = events;
            p->fds.v[i].cb = cb;
            p->fds.v[i].arg = arg;
            return GW_OK;
        }
    struct fh_fd *f = &PUSH(p->fds);
    f->fd = fd;
    f->events = events;
    f->cb = cb;
    f->arg = arg;
    return GW_OK;
}

static void fh_fd_del(struct gw_host *h, int fd)
{
    struct fakehost_priv *p = FH(h)->priv;
    for (size_t i = 0; i < p->fds.n; i++)
        if (p->fds.v[i].fd == fd) {
            p->fds.v[i] = p->fds.v[--p->fds.n];
            return;
        }
}

int fakehost_fd_watched(const struct fakehost *fh, int fd)
{
    for (size_t i = 0; i < fh->priv->fds.n; i++)
        if (fh->priv->fds.v[i].fd == fd)
            return 1;
    return 0;
}

int fakehost_fd_fire(struct fakehost *fh, int fd, unsigned events)
{
    for (size_t i = 0; i < fh->priv->fds.n; i++)
        if (fh->priv->fds.v[i].fd == fd) {
            struct fh_fd f = fh->priv->fds.v[i];
            f.cb(f.arg, fd, events);
            return GW_OK;
        }
    return GW_ENOTFOUND;
}

static int fh_fetch(struct gw_host *h, void *easy, gw_fetch_cb cb, void *arg)
{
    struct fakehost *fh = FH(h);
    if (!easy || !cb)
        return GW_EINVAL;
    struct fakehost_fetch *f = &RECORD(fh, fetches, nfetches, cap_fetches);
    f->easy = easy;
    f->cb = cb;
    f->arg = arg;
    f->done = 0;
    return GW_OK;
}

int fakehost_fetch_complete(struct fakehost *fh, size_t idx, int curl_code)
{
    if (idx >= fh->nfetches || fh->fetches[idx].done)
        return GW_EINVAL;
    fh->fetches[idx].done = 1;
    struct fakehost_fetch f = fh->fetches[idx]; /* the array may move inside cb */
    f.cb(f.arg, f.easy, curl_code);
    return GW_OK;
}

static int64_t fh_now_ms(struct gw_host *h)
{
    return FH(h)->now_ms;
}

/* ---- lifecycle --------------------------------------------------------------------------- */

struct fakehost *fakehost_new(void)
{
    struct fakehost *fh = calloc(1, sizeof *fh);
    struct fakehost_priv *p = calloc(1, sizeof *p);
    if (!fh || !p)
        abort();
    fh->priv = p;
    fh->now_ms = 1767225600000LL;
    p->host.fh = fh;
    p->next_msg_id = 1;
    p->api = (struct gw_host_api){
        .abi = GW_PLUGIN_ABI,
        .size = sizeof(struct gw_host_api),
        .log = fh_log,
        .cfg_string = fh_cfg_string,
        .cfg_int = fh_cfg_int,
        .cfg_bool = fh_cfg_bool,
        .cfg_error = fh_cfg_error,
        .cfg_known_keys = fh_cfg_known_keys,
        .cfg_secret = fh_cfg_secret,
        .submit = fh_submit,
        .seeker_event = fh_seeker_event,
        .deliver_done = fh_deliver_done,
        .delivery_report = fh_delivery_report,
        .conv_by_ref = fh_conv_by_ref,
        .conv_info = fh_conv_info,
        .history = fh_history,
        .seeker_block = fh_seeker_block,
        .seeker_blocked = fh_seeker_blocked,
        .text = fh_text,
        .mask_address = fh_mask_address,
        .kv_get = fh_kv_get,
        .kv_set = fh_kv_set,
        .kv_del = fh_kv_del,
        .after_commit = fh_after_commit,
        .http_route = fh_http_route,
        .http_method = fh_http_method,
        .http_path = fh_http_path,
        .http_header = fh_http_header,
        .http_query = fh_http_query,
        .http_body = fh_http_body,
        .http_peer = fh_http_peer,
        .http_respond = fh_http_respond,
        .http_stream_open = fh_http_stream_open,
        .http_stream_write = fh_http_stream_write,
        .http_stream_close = fh_http_stream_close,
        .timer_add = fh_timer_add,
        .timer_cancel = fh_timer_cancel,
        .fd_add = fh_fd_add,
        .fd_del = fh_fd_del,
        .fetch = fh_fetch,
        .now_ms = fh_now_ms,
    };
    return fh;
}

const struct gw_host_api *fakehost_api(struct fakehost *fh)
{
    return &fh->priv->api;
}

struct gw_host *fakehost_host(struct fakehost *fh)
{
    return &fh->priv->host;
}

const config_setting_t *fakehost_conf(struct fakehost *fh, const char *text, const char *path)
{
    config_t *cfg = malloc(sizeof *cfg);
    if (!cfg)
        abort();
    config_init(cfg);
    PUSH(fh->priv->configs) = cfg;
    if (!config_read_string(cfg, text)) {
        fprintf(stderr, "fakehost_conf: line %d: %s\n", config_error_line(cfg),
                config_error_text(cfg));
        return NULL;
    }
    return path ? config_lookup(cfg, path) : config_root_setting(cfg);
}

int fakehost_plugin_init(struct fakehost *fh, const struct gw_plugin *p,
                         const config_setting_t *conf, char *err, size_t errlen)
{
    struct fakehost_priv *pv = fh->priv;
    if (pv->plugin || !p || p->abi != GW_PLUGIN_ABI || p->size < sizeof(struct gw_plugin)) {
        snprintf(err, errlen, "fakehost: plugin already loaded or bad descriptor");
        return GW_EINVAL;
    }
    void *self = NULL;
    int rc = p->init(&self, conf, &pv->api, &pv->host, err, errlen);
    if (rc != GW_OK)
        return rc;
    pv->plugin = p;
    pv->self = self;
    return GW_OK;
}

int fakehost_plugin_start(struct fakehost *fh)
{
    struct fakehost_priv *pv = fh->priv;
    if (!pv->plugin || pv->started)
        return GW_EINVAL;
    int rc = pv->plugin->start ? pv->plugin->start(pv->self) : GW_OK;
    pv->started = rc == GW_OK;
    return rc;
}

int fakehost_plugin_deliver(struct fakehost *fh, const struct gw_msg *m, char *err, size_t errlen)
{
    struct fakehost_priv *pv = fh->priv;
    if (!pv->plugin)
        return GW_EINVAL;
    int known = 0;
    for (size_t i = 0; i < pv->sent.n; i++)
        known |= pv->sent.v[i].id == m->id;
    if (!known) {
        struct fh_idconv *s = &PUSH(pv->sent);
        s->id = m->id;
        s->conv = xdup(m->conv);
    }
    return pv->plugin->deliver(pv->self, m, err, errlen);
}

void *fakehost_plugin_self(struct fakehost *fh)
{
    return fh->priv->self;
}

void fakehost_plugin_stop(struct fakehost *fh)
{
    struct fakehost_priv *pv = fh->priv;
    if (!pv->plugin)
        return;
    for (size_t i = 0; i < pv->streams.n; i++)
        stream_end(pv->streams.v[i]);
    pv->plugin->stop(pv->self);
    pv->plugin = NULL;
    pv->self = NULL;
    pv->started = 0;
    for (size_t i = 0; i < pv->routes.n; i++) {
        free(pv->routes.v[i].method);
        free(pv->routes.v[i].path);
    }
    pv->routes.n = 0;
    for (size_t i = 0; i < pv->timers.n; i++)
        pv->timers.v[i].pending = 0;
    pv->fds.n = 0;
}

/* ---- queries ----------------------------------------------------------------------------- */

int fakehost_log_contains(const struct fakehost *fh, const char *needle)
{
    for (size_t i = 0; i < fh->nlogs; i++)
        if (strstr(fh->logs[i].line, needle))
            return 1;
    return 0;
}

int fakehost_cfg_error_contains(const struct fakehost *fh, const char *needle)
{
    for (size_t i = 0; i < fh->ncfg_errors; i++)
        if (strstr(fh->cfg_errors[i], needle))
            return 1;
    return 0;
}

/* ---- free -------------------------------------------------------------------------------- */

void fakehost_free(struct fakehost **fhp)
{
    if (!fhp || !*fhp)
        return;
    struct fakehost *fh = *fhp;
    struct fakehost_priv *p = fh->priv;
    fakehost_plugin_stop(fh);
    for (size_t i = 0; i < fh->nsubmits; i++) {
        struct fakehost_submit *s = &fh->submits[i];
        free(s->channel_msg_id), free(s->address), free(s->display), free(s->body);
        free(s->lang), free(s->queue), free(s->conv), free(s->meta_json);
    }
    free(fh->submits);
    for (size_t i = 0; i < fh->ndones; i++)
        free(fh->dones[i].channel_ref), free(fh->dones[i].reason);
    free(fh->dones);
    for (size_t i = 0; i < fh->ndlrs; i++)
        free(fh->dlrs[i].channel_ref), free(fh->dlrs[i].reason);
    free(fh->dlrs);
    for (size_t i = 0; i < fh->nevents; i++)
        free(fh->events[i].conv);
    free(fh->events);
    for (size_t i = 0; i < fh->nblocks; i++)
        free(fh->blocks[i].address), free(fh->blocks[i].why);
    free(fh->blocks);
    for (size_t i = 0; i < fh->nlogs; i++)
        free(fh->logs[i].line);
    free(fh->logs);
    for (size_t i = 0; i < fh->ncfg_errors; i++)
        free(fh->cfg_errors[i]);
    free(fh->cfg_errors);
    free(fh->fetches);

    for (size_t i = 0; i < p->configs.n; i++) {
        config_destroy(p->configs.v[i]);
        free(p->configs.v[i]);
    }
    free(p->configs.v);
    for (size_t i = 0; i < p->convs.n; i++)
        free(p->convs.v[i].address);
    free(p->convs.v);
    for (size_t i = 0; i < p->kv.n; i++)
        free(p->kv.v[i].key), free(p->kv.v[i].value);
    free(p->kv.v);
    for (size_t i = 0; i < p->texts.n; i++)
        free(p->texts.v[i].lang), free(p->texts.v[i].key), free(p->texts.v[i].text);
    free(p->texts.v);
    for (size_t i = 0; i < p->refs.n; i++)
        free(p->refs.v[i].ref), free(p->refs.v[i].conv);
    free(p->refs.v);
    for (size_t i = 0; i < p->sent.n; i++)
        free(p->sent.v[i].conv);
    free(p->sent.v);
    for (size_t i = 0; i < p->hist.n; i++) {
        free(p->hist.v[i].conv), free(p->hist.v[i].dir);
        free(p->hist.v[i].body), free(p->hist.v[i].state);
    }
    free(p->hist.v);
    free(p->routes.v);
    free(p->timers.v);
    free(p->fds.v);
    for (size_t i = 0; i < p->streams.n; i++) {
        free(p->streams.v[i]->data);
        free(p->streams.v[i]);
    }
    free(p->streams.v);
    for (size_t i = 0; i < p->blocked.n; i++)
        free(p->blocked.v[i]);
    free(p->blocked.v);
    free(p);
    free(fh);
    *fhp = NULL;
}

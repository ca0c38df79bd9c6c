/* lifecycle.c — the fake host itself: small helpers, fakehost_new() (assembling the API table
 * from the parts), loading and driving the plugin, queries, fakehost_free(). */

#include "priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- small helpers (test code: abort on OOM) -------------------------------------------- */

void *fh_xgrow(void *p, size_t *cap, size_t n, size_t elsz)
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

char *fh_xdup(const char *s)
{
    if (!s)
        return NULL;
    char *d = strdup(s);
    if (!d)
        abort();
    return d;
}

char *fh_xdupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (!d)
        abort();
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *fh_xvprintf(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    return s;
}

struct fakehost *fh_of(struct gw_host *h)
{
    return h->fh;
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
    };
    fh_api_config(&p->api);
    fh_api_store(&p->api);
    fh_api_http(&p->api);
    fh_api_loop(&p->api);
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
        s->conv = fh_xdup(m->conv);
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
        fh_stream_end(pv->streams.v[i]);
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

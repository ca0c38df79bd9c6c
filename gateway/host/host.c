/* host.c — plugin loader: finds, checks, initialises, starts, reloads and stops plugins,
 * and hands them messages to deliver.
 *
 * The host owns what a plugin registers (routes, timers, fds, transfers) and removes it
 * when the plugin stops, so a plugin cannot leave a dangling callback behind.  The API
 * table the plugins call is in host_api.c. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "desk/core.h"
#include "fed/fed.h"
#include "io/fetch.h"
#include "host/host.h"
#include "host/host_int.h"
#include "io/http.h"
#include "io/log.h"
#include "io/loop.h"

/* --- loading --- */

static int find_file(struct gw_config *cfg, const char *name, char *out, size_t len)
{
    for (int i = 0; i < cfg->nplugin_path; i++) {
        snprintf(out, len, "%s/%s.so", cfg->plugin_path[i], name);
        if (access(out, R_OK) == 0)
            return 0;
    }
    snprintf(out, len, "%s/%s.so", GW_LIBDIR, name);
    return access(out, R_OK) == 0 ? 0 : -1;
}

/* Open and check one plugin; on success the slot is returned (not yet initialised). */
static struct gw_plugin_slot *open_plugin(struct gw_core *c, struct gw_config *cfg,
                                          const char *name, struct gw_cfg_errors *e,
                                          const config_setting_t *where)
{
    struct gw_plugin_slot *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->host.core = c;
    p->host.slot = p;
    snprintf(p->host.name, sizeof p->host.name, "%s", name);
    LIST_INIT(&p->host.timers);
    LIST_INIT(&p->host.fds);
    if (find_file(cfg, name, p->file, sizeof p->file) < 0) {
        gw_cfg_errorf(e, where, "plugin '%s': no %s.so in plugin_path or %s", name, name,
                      GW_LIBDIR);
        free(p);
        return NULL;
    }
    p->dl = dlopen(p->file, RTLD_NOW | RTLD_LOCAL);
    if (!p->dl) {
        gw_cfg_errorf(e, where, "plugin '%s' (%s): cannot load: %s", name, p->file, dlerror());
        free(p);
        return NULL;
    }
    p->desc = dlsym(p->dl, GW_PLUGIN_SYMBOL);
    const char *why = NULL;
    if (!p->desc)
        why = "no '" GW_PLUGIN_SYMBOL "' symbol (not a skagerrak plugin)";
    else if (p->desc->abi != GW_PLUGIN_ABI)
        why = "built for another plugin ABI version";
    else if (p->desc->size < offsetof(struct gw_plugin, flags) || !p->desc->init ||
             !p->desc->deliver ||
             !p->desc->stop)
        why = "descriptor is incomplete";
    else if (!p->desc->name || strcmp(p->desc->name, name))
        why = "descriptor name does not match the file name";
    if (why) {
        gw_cfg_errorf(e, where, "plugin '%s' (%s): %s", name, p->file, why);
        /* Never dlclose: a half-initialised library may have registered destructors. */
        free(p);
        return NULL;
    }
    return p;
}

static int init_plugin(struct gw_plugin_slot *p, const config_setting_t *conf,
                       struct gw_cfg_errors *e)
{
    char err[512] = "";
    int before = e->n;
    p->host.errs = e;
    int rc = p->desc->init(&p->self, conf, &gw_host_i_api, &p->host, err, sizeof err);
    p->host.errs = NULL;
    if (rc < 0 || e->n > before) {
        if (err[0] || e->n == before)
            gw_cfg_errorf(e, conf, "plugin '%s' (%s): init failed: %s", p->host.name, p->file,
                          err[0] ? err : "no reason given");
        if (rc >= 0 && p->self)
            p->desc->stop(p->self);
        p->self = NULL;
        return GW_EINVAL;
    }
    return GW_OK;
}

static void release_owned(struct gw_plugin_slot *p);
static void release_timers_fds(struct gw_plugin_slot *p);

int gw_host_check(struct gw_core *c, struct gw_config *cfg, struct gw_cfg_errors *e)
{
    int bad = 0;
    for (int i = 0; cfg->plugins && i < config_setting_length(cfg->plugins); i++) {
        config_setting_t *g = config_setting_get_elem(cfg->plugins, (unsigned)i);
        struct gw_plugin_slot *p = open_plugin(c, cfg, config_setting_name(g), e, g);
        if (!p) {
            bad = 1;
            continue;
        }
        if (init_plugin(p, g, e) == GW_OK)
            p->desc->stop(p->self);
        else
            bad = 1;
        release_timers_fds(p); /* in case init() registered something against the rules */
        free(p);
    }
    return bad ? GW_EINVAL : GW_OK;
}

int gw_host_load_all(struct gw_core *c, char *err, size_t errlen)
{
    struct gw_cfg_errors e = {0};
    struct gw_plugin_slot **tail = &c->plugins;
    for (int i = 0; c->cfg->plugins && i < config_setting_length(c->cfg->plugins); i++) {
        config_setting_t *g = config_setting_get_elem(c->cfg->plugins, (unsigned)i);
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            gw_cfg_errorf(&e, g, "plugins.%s must be a group", config_setting_name(g));
            break;
        }
        struct gw_plugin_slot *p = open_plugin(c, c->cfg, config_setting_name(g), &e, g);
        if (!p || init_plugin(p, g, &e) < 0) {
            if (p)
                release_owned(p);
            free(p);
            break;
        }
        *tail = p;
        tail = &p->next;
        gw_log(GW_LOG_INFO, p->host.name, "loaded %s version %s", p->file,
               p->desc->version ? p->desc->version : "?");
    }
    if (e.n) {
        snprintf(err, errlen, "%s", e.msgs[0]);
        for (int i = 1; i < e.n; i++)
            GW_ERROR("%s", e.msgs[i]);
        gw_cfg_errors_release(&e);
        return GW_EINVAL;
    }
    return GW_OK;
}

int gw_host_start_all(struct gw_core *c, char *err, size_t errlen)
{
    for (struct gw_plugin_slot *p = c->plugins; p; p = p->next) {
        if (p->desc->start && p->desc->start(p->self) < 0) {
            snprintf(err, errlen, "plugin '%s' (%s): start failed", p->host.name, p->file);
            return GW_EINVAL;
        }
        p->started = 1;
    }
    return GW_OK;
}

/* Routes and transfers are owned by name: only a live plugin's stop may remove them (a
 * throwaway instance checking a new config shares the name with the live one). */
static void release_owned(struct gw_plugin_slot *p)
{
    struct gw_host *h = &p->host;
    if (h->core->http)
        gw_http_unroute_owner(h->core->http, h->name);
    if (h->core->fetch)
        gw_fetch_cancel_owner(h->core->fetch, h->name);
    release_timers_fds(p);
}

static void release_timers_fds(struct gw_plugin_slot *p)
{
    struct gw_host *h = &p->host;
    struct host_timer *t;
    while ((t = LIST_FIRST(&h->timers))) {
        gw_loop_timer_cancel(h->core->loop, t->id);
        LIST_REMOVE(t, link);
        free(t);
    }
    struct host_fd *f;
    while ((f = LIST_FIRST(&h->fds))) {
        gw_loop_fd_del(h->core->loop, f->fd);
        LIST_REMOVE(f, link);
        free(f);
    }
}

void gw_host_stop_all(struct gw_core *c)
{
    struct gw_plugin_slot *p;
    while ((p = c->plugins)) {
        c->plugins = p->next;
        /* Routes and streams go first so their closed callbacks still see the plugin. */
        if (c->http)
            gw_http_unroute_owner(c->http, p->host.name);
        if (c->fetch)
            gw_fetch_cancel_owner(c->fetch, p->host.name);
        gw_turn_drop_owner(c, &p->host); /* its after_commit items: dropped, not run */
        p->desc->stop(p->self);
        release_owned(p);
        free(p);
    }
}

int gw_host_reload_all(struct gw_core *c, struct gw_config *ncfg, char *err, size_t errlen)
{
    for (struct gw_plugin_slot *p = c->plugins; p; p = p->next) {
        config_setting_t *g =
            ncfg->plugins ? config_setting_get_member(ncfg->plugins, p->host.name) : NULL;
        if (!g) {
            GW_WARN("plugin '%s' removed from the config: it keeps running until restart",
                    p->host.name);
            continue;
        }
        if (p->desc->reload && p->desc->reload(p->self, g, err, errlen) < 0)
            return GW_EINVAL;
    }
    return GW_OK;
}

struct gw_plugin_slot *gw_host_plugin(struct gw_core *c, const char *name)
{
    for (struct gw_plugin_slot *p = c->plugins; p; p = p->next)
        if (!strcmp(p->host.name, name))
            return p;
    return NULL;
}

int gw_host_deliver(struct gw_core *c, const char *channel, const struct gw_msg *m, char *err,
                    size_t errlen)
{
    if (!strcmp(channel, GW_FED_CHANNEL))
        return gw_fed_deliver(c, m, err, errlen);
    struct gw_plugin_slot *p = gw_host_plugin(c, channel);
    if (!p) {
        snprintf(err, errlen, "no plugin for channel '%s'", channel);
        return GW_ENOTFOUND;
    }
    return p->desc->deliver(p->self, m, err, errlen);
}

int gw_host_pipelined(struct gw_core *c, const char *channel)
{
    struct gw_plugin_slot *p = gw_host_plugin(c, channel);
    return p && p->desc->size >= offsetof(struct gw_plugin, flags) + sizeof p->desc->flags &&
           (p->desc->flags & GW_PLUGIN_F_PIPELINE);
}

/* An erased conversation: the channel's plugin forgets it, if it can (an optional member,
 * so older plugins are checked by the size they were built with). */
static void host_forget(struct gw_core *c, const char *channel, const char *conv)
{
    struct gw_plugin_slot *p = gw_host_plugin(c, channel);
    if (p && p->self &&
        p->desc->size >= offsetof(struct gw_plugin, forget) + sizeof p->desc->forget &&
        p->desc->forget)
        p->desc->forget(p->self, conv);
}

/* What the desk calls of the host (desk/core.h struct gw_channel_ops). */
static const struct gw_channel_ops channel_ops = {
    .deliver = gw_host_deliver,
    .pipelined = gw_host_pipelined,
    .forget = host_forget,
};

void gw_host_attach(struct gw_core *c)
{
    c->channel_ops = &channel_ops;
}

int gw_host_health(struct gw_core *c, char *buf, size_t len)
{
    int all = 1;
    size_t off = (size_t)snprintf(buf, len, "{");
    for (struct gw_plugin_slot *p = c->plugins; p && off < len; p = p->next) {
        char h[1024] = "{}";
        int ok = p->desc->health ? p->desc->health(p->self, h, sizeof h) : 1;
        all &= ok;
        off += (size_t)snprintf(buf + off, len - off, "%s\"%s\":{\"ok\":%s,\"detail\":%s}",
                                p == c->plugins ? "" : ",", p->host.name, ok ? "true" : "false", h);
    }
    if (off < len)
        snprintf(buf + off, len - off, "}");
    return all;
}

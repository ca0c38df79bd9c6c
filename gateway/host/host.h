/* host.h — the plugin host (host.c, host_api.c): loads the channel plugins named in the
 * configuration, starts, reloads and stops them, and hands them the host API table
 * (plugin_api.h).  Used by main.c; the desk reaches deliver/pipelined only through the
 * struct gw_channel_ops that gw_host_attach registers (desk/core.h). */
#ifndef GW_HOST_H
#define GW_HOST_H

#include <stddef.h>

#include "conf/config.h"
#include "host/plugin_api.h"

struct gw_core;
struct gw_plugin_slot;

/* Register the host's channel services in c (c->channel_ops): before anything delivers. */
void gw_host_attach(struct gw_core *c);
struct gw_plugin_slot *gw_host_plugin(struct gw_core *c, const char *name);
int gw_host_deliver(struct gw_core *c, const char *channel, const struct gw_msg *m, char *err,
                    size_t errlen);
int gw_host_load_all(struct gw_core *c, char *err, size_t errlen);
int gw_host_start_all(struct gw_core *c, char *err, size_t errlen);
void gw_host_stop_all(struct gw_core *c);
int gw_host_check(struct gw_core *c, struct gw_config *cfg, struct gw_cfg_errors *e);
int gw_host_reload_all(struct gw_core *c, struct gw_config *ncfg, char *err, size_t errlen);
/* 1 when the channel's plugin declares GW_PLUGIN_F_PIPELINE (see plugin_api.h). */
int gw_host_pipelined(struct gw_core *c, const char *channel);
/* Health of every plugin as a JSON object fragment into buf; returns 1 if all healthy. */
int gw_host_health(struct gw_core *c, char *buf, size_t len);

#endif

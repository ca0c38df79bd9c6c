/* host_int.h — private to the plugin host (host.c, host_api.c): what the host keeps per
 * plugin and the API table.  Nothing else includes it. */
#ifndef GW_HOST_INT_H
#define GW_HOST_INT_H

#include <stdint.h>
#include <sys/queue.h>

#include "desk/core.h" /* struct gw_core; plugin_api.h: the callback types */
#include "host/host.h"

struct host_timer {
    struct gw_host *h;
    gw_timer_cb cb;
    void *arg;
    uint64_t id;
    LIST_ENTRY(host_timer) link;
};

struct host_fd {
    struct gw_host *h;
    int fd;
    gw_fd_cb cb;
    void *arg;
    LIST_ENTRY(host_fd) link;
};

struct gw_host {
    struct gw_core *core;
    struct gw_plugin_slot *slot;
    struct gw_cfg_errors *errs; /* where cfg_error() goes during init */
    char name[32];
    LIST_HEAD(, host_timer) timers;
    LIST_HEAD(, host_fd) fds;
};

struct gw_plugin_slot {
    struct gw_plugin_slot *next;
    struct gw_host host;
    const struct gw_plugin *desc;
    void *self;
    void *dl;
    char file[512];
    int started;
};

/* The table handed to every plugin's init(); its functions (host_api.c) record what a plugin
 * registers in its struct gw_host, and host.c removes that when the plugin stops. */
extern const struct gw_host_api gw_host_i_api;

#endif

/* plugin.c — "good", a well-behaved test plugin: checks its keys, and on start registers
 * an HTTP route, a timer and an fd so tests can check the host removes them on stop.
 *
 * Counters are exported (default visibility) so test_host can read them with dlsym on the
 * already-loaded object; they survive stop() because the host never dlcloses. */
#include <stdlib.h>
#include <unistd.h>

#include "plugin_api.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int good_inits, good_starts, good_stops, good_timer_fired, good_fd_fired;
EXPORT int good_route_rc = 1, good_fd_rc = 1;
EXPORT unsigned long long good_timer_id;
EXPORT int good_fd_read = -1;
EXPORT long long good_delay_ms;

struct good {
    const struct gw_host_api *api;
    struct gw_host *h;
    int pipe[2];
};

static int good_init(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                     struct gw_host *h, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    static const char *const known[] = {"delay_ms", NULL};
    if (api->cfg_known_keys(h, conf, known) < 0 ||
        api->cfg_int(h, conf, "delay_ms", 20, 1, 10000, &good_delay_ms) < 0)
        return GW_EINVAL;
    struct good *g = calloc(1, sizeof *g);
    if (!g)
        return GW_ENOMEM;
    g->api = api;
    g->h = h;
    g->pipe[0] = g->pipe[1] = -1;
    *self = g;
    good_inits++;
    return GW_OK;
}

static void on_get(void *arg, struct gw_http_req *r)
{
    struct good *g = arg;
    g->api->http_respond(r, 200, "text/plain", "good", 4, NULL);
}

static void on_timer(void *arg)
{
    (void)arg;
    good_timer_fired++;
}

static void on_fd(void *arg, int fd, unsigned events)
{
    (void)arg, (void)fd, (void)events;
    good_fd_fired++;
}

static int good_start(void *self)
{
    struct good *g = self;
    good_starts++;
    good_route_rc = g->api->http_route(g->h, "GET", "/ping", on_get, g);
    good_timer_id = g->api->timer_add(g->h, (uint64_t)good_delay_ms, on_timer, g);
    if (pipe(g->pipe) == 0) {
        /* Readable at once: if the host forgot the fd, the loop would call on_fd. */
        (void)!write(g->pipe[1], "x", 1);
        good_fd_rc = g->api->fd_add(g->h, g->pipe[0], 0x001u, on_fd, g);
    }
    return GW_OK;
}

static void good_stop(void *self)
{
    struct good *g = self;
    good_stops++;
    /* Deliberately leave the timer, fd and route registered: the host owns them.  The fd
     * stays open until after the host has unregistered it (closing it here would let a
     * later pipe() reuse the number); the test closes the read end it can see via
     * good_fd_read. */
    if (g->pipe[1] >= 0)
        close(g->pipe[1]);
    good_fd_read = g->pipe[0];
    free(g);
}

static int good_deliver(void *self, const struct gw_msg *m, char *err, size_t errlen)
{
    (void)self, (void)m, (void)err, (void)errlen;
    return GW_OK;
}

EXPORT const struct gw_plugin skagerrak_plugin = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_plugin),
    .name = "good",
    .version = "1.0",
    .init = good_init,
    .start = good_start,
    .stop = good_stop,
    .deliver = good_deliver,
};

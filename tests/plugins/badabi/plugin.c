/* plugin.c — "badabi", a test plugin whose descriptor claims another ABI version. */
#include <stdlib.h>

#include "plugin_api.h"

static int ba_init(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                   struct gw_host *h, char *err, size_t errlen)
{
    (void)conf, (void)api, (void)h, (void)err, (void)errlen;
    /* Never reached: the loader must refuse the descriptor first.  Crash loudly if it does
     * not, so a wrong ABI that gets through cannot pass unnoticed. */
    *self = NULL;
    abort();
}

static void ba_stop(void *self) { (void)self; }

static int ba_deliver(void *self, const struct gw_msg *m, char *err, size_t errlen)
{
    (void)self, (void)m, (void)err, (void)errlen;
    return GW_EPERM;
}

__attribute__((visibility("default"))) const struct gw_plugin skagerrak_plugin = {
    .abi = GW_PLUGIN_ABI + 41,
    .size = sizeof(struct gw_plugin),
    .name = "badabi",
    .version = "0",
    .init = ba_init,
    .stop = ba_stop,
    .deliver = ba_deliver,
};

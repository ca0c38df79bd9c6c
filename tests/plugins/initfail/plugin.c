/* plugin.c — "initfail", a test plugin whose init() reports a config error at the
 * setting `bad` (file:line) through the host API and fails. */
#include <stdlib.h>

#include "plugin_api.h"

static int if_init(void **self, const config_setting_t *conf, const struct gw_host_api *api,
                   struct gw_host *h, char *err, size_t errlen)
{
    (void)err, (void)errlen;
    *self = NULL;
    const config_setting_t *bad = conf ? config_setting_get_member(conf, "bad") : NULL;
    api->cfg_error(h, bad ? bad : conf, "initfail refuses '%s'",
                   bad && config_setting_get_string(bad) ? config_setting_get_string(bad) : "?");
    return GW_EINVAL;
}

static void if_stop(void *self) { free(self); }

static int if_deliver(void *self, const struct gw_msg *m, char *err, size_t errlen)
{
    (void)self, (void)m, (void)err, (void)errlen;
    return GW_EPERM;
}

__attribute__((visibility("default"))) const struct gw_plugin skagerrak_plugin = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_plugin),
    .name = "initfail",
    .version = "0",
    .init = if_init,
    .stop = if_stop,
    .deliver = if_deliver,
};

/* plugin.c — "nosym", a shared object that exports no skagerrak_plugin descriptor. */
#include "plugin_api.h"

/* A descriptor under the wrong name: the loader looks only for GW_PLUGIN_SYMBOL. */
__attribute__((visibility("default"))) const struct gw_plugin skagerrak_plugin_v2 = {
    .abi = GW_PLUGIN_ABI,
    .size = sizeof(struct gw_plugin),
    .name = "nosym",
};

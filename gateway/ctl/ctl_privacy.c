/* ctl_privacy.c — skagerrakctl export-seeker / erase-seeker (GDPR art. 15 and 17). */
#include "ctl/ctl.h"

const struct gw_ctl_cmd gw_ctl_privacy_cmds[] = {
    {NULL, NULL, NULL, NULL},
};

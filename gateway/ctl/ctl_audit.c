/* ctl_audit.c — skagerrakctl audit / purge: who read what, and retention by hand. */
#include "ctl/ctl.h"

const struct gw_ctl_cmd gw_ctl_audit_cmds[] = {
    {NULL, NULL, NULL, NULL},
};

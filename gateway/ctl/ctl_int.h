/* ctl_int.h — shared inside ctl/: the command lookup and helpers the handlers use. */
#ifndef GW_CTL_INT_H
#define GW_CTL_INT_H

#include <jansson.h>

#include "ctl/ctl.h"

/* The command named `name` in any table, or NULL. */
const struct gw_ctl_cmd *gw_ctl_find(const char *name);
/* A JSON string from bytes that may not be valid UTF-8 (invalid bytes become '?'). */
json_t *gw_ctl_str(const char *s);

#endif

/* ctl_int.h — shared inside ctl/: the command lookup and helpers the handlers use. */
#ifndef GW_CTL_INT_H
#define GW_CTL_INT_H

#include <jansson.h>
#include <stddef.h>

#include "ctl/ctl.h"

/* The command named `name` in any table, or NULL. */
const struct gw_ctl_cmd *gw_ctl_find(const char *name);
/* A JSON string from bytes that may not be valid UTF-8 (invalid bytes become '?'). */
json_t *gw_ctl_str(const char *s);

/* Encode an answer as one line ending in a newline (owned; takes result), NULL on ENOMEM. */
char *gw_ctl_encode_answer(int code, json_t *result, const char *text, const char *error);
/* Run one request line from `peer` (ctl_cmd.c): parse it, dispatch it to its handler, log
 * it.  Returns the encoded answer (owned), NULL on ENOMEM; *ran = 1 when a handler ran, so
 * the answer must wait for the turn's commit (0: refused before, as malformed). */
struct gw_core;
char *gw_ctl_run(struct gw_core *c, const char *peer, const char *line, size_t len, int *ran);

#endif

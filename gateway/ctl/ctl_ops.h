/* ctl_ops.h — helpers shared by the operations subcommands (ctl_ops*.c). */
#ifndef GW_CTL_OPS_H
#define GW_CTL_OPS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl/ctl.h"

/* "42s", "3m05s", "2h10m", "4d03h" into buf. */
const char *gw_ctl_fmt_age(int64_t ms, char *buf, size_t len);
/* Local "YYYY-MM-DD HH:MM:SS", "-" for 0. */
const char *gw_ctl_fmt_time(int64_t ms, char *buf, size_t len);
/* ISO 8601 local time with offset, null for 0. */
json_t *gw_ctl_time_json(int64_t ms);

/* An option of a subcommand: "--queue" with value (value != NULL) or a flag. */
struct gw_ctl_opt {
    const char *name;
    const char **value;
    int *flag;
};
/* Parse rq's arguments after the subcommand: options in specs (NULL-name ended; "--x=v" and
 * "--x v" both work; "--" ends options), the rest into pos (at most maxpos).  0, or 2 with
 * out->error set (the usage line appended). */
int gw_ctl_args(const struct gw_ctl_req *rq, const struct gw_ctl_opt *specs, const char **pos,
                int maxpos, int *npos, struct gw_ctl_out *out, const char *usage);

/* The handlers (ctl_conv.c, ctl_admin.c); the table is in ctl_ops.c. */
struct gw_core;
int gw_ctl_cmd_conversations(struct gw_core *c, const struct gw_ctl_req *rq,
                             struct gw_ctl_out *out);
int gw_ctl_cmd_show(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out);
int gw_ctl_cmd_block(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out);
int gw_ctl_cmd_unblock(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out);
int gw_ctl_cmd_queues(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out);
int gw_ctl_cmd_counsellors(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out);
int gw_ctl_cmd_reload(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out);
int gw_ctl_cmd_stats(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out);

#endif

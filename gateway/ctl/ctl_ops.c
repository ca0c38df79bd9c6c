/* ctl_ops.c — skagerrakctl's operations subcommands: status, queues, counsellors,
 * conversations, show, block, unblock, reload, stats.  This file: the table, status and the
 * shared helpers; ctl_conv.c: conversations, show, block, unblock; ctl_admin.c: queues,
 * counsellors, reload, stats.
 *
 * Each handler reads the daemon's state (memory first, the store for what only it holds),
 * renders text for a person and the same data as JSON; addresses are masked as in the logs
 * (gw_mask_address), in the JSON too: the tool's output ends up in terminals, tickets and
 * scripts' logs, and nothing an operator does with these commands needs the full address. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "ctl/ctl_ops.h"
#include "desk/core.h"
#include "desk/privacy.h"
#include "host/host.h"
#include "io/log.h"
#include "io/xmpp.h"

#ifndef GW_VERSION
#define GW_VERSION "0"
#endif

/* --- shared helpers (ctl_ops.h) --- */

const char *gw_ctl_fmt_age(int64_t ms, char *buf, size_t len)
{
    if (ms < 0)
        ms = 0;
    long long s = ms / 1000;
    if (s < 60)
        snprintf(buf, len, "%llds", s);
    else if (s < 3600)
        snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, len, "%lldh%02lldm", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, len, "%lldd%02lldh", s / 86400, (s % 86400) / 3600);
    return buf;
}

const char *gw_ctl_fmt_time(int64_t ms, char *buf, size_t len)
{
    if (ms <= 0) {
        snprintf(buf, len, "-");
        return buf;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    return buf;
}

json_t *gw_ctl_time_json(int64_t ms)
{
    if (ms <= 0)
        return json_null();
    char buf[40];
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S%z", &tm);
    return json_string(buf);
}

/* Parse the request's arguments after the subcommand with getopt-like rules: options from
 * specs ("--queue=" takes a value, "--json" does not), the rest positional.  2 with
 * out->error set on an unknown option or a missing value. */
int gw_ctl_args(const struct gw_ctl_req *rq, const struct gw_ctl_opt *specs, const char **pos,
                int maxpos, int *npos, struct gw_ctl_out *out, const char *usage)
{
    *npos = 0;
    int only_pos = 0;
    for (int i = 1; i < rq->argc; i++) {
        const char *a = rq->argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && a[0] == '-' && a[1]) {
            const struct gw_ctl_opt *o = specs;
            size_t alen = strcspn(a, "=");
            for (; o && o->name; o++)
                if (strlen(o->name) == alen && strncmp(o->name, a, alen) == 0)
                    break;
            if (!o || !o->name)
                return gw_ctl_fail(out, 2, "unknown option '%s'\nusage: skagerrakctl %s", a, usage);
            if (o->value) {
                if (a[alen] == '=')
                    *o->value = a + alen + 1;
                else if (i + 1 < rq->argc)
                    *o->value = rq->argv[++i];
                else
                    return gw_ctl_fail(out, 2, "%s needs a value\nusage: skagerrakctl %s", o->name,
                                       usage);
            } else {
                if (a[alen] == '=')
                    return gw_ctl_fail(out, 2, "%s takes no value\nusage: skagerrakctl %s", o->name,
                                       usage);
                if (o->flag)
                    *o->flag = 1;
            }
            continue;
        }
        if (*npos >= maxpos)
            return gw_ctl_fail(out, 2, "unexpected argument '%s'\nusage: skagerrakctl %s", a,
                               usage);
        pos[(*npos)++] = a;
    }
    return 0;
}

/* --- status --- */

struct outbox_acc {
    struct gw_ctl_out *out;
    json_t *arr;
    int64_t now;
};

static int outbox_row(void *arg, const char *target, long long n, int64_t oldest,
                      long long retrying)
{
    struct outbox_acc *a = arg;
    char age[32] = "-";
    if (oldest > 0)
        gw_ctl_fmt_age(a->now - oldest, age, sizeof age);
    gw_ctl_printf(a->out, "  %-12s %6lld waiting, oldest %s", target, n, age);
    if (retrying)
        gw_ctl_printf(a->out, ", %lld retried at least once", retrying);
    gw_ctl_printf(a->out, "\n");
    json_array_append_new(
        a->arr,
        json_pack("{s:o,s:I,s:o,s:I}", "target", gw_ctl_str(target), "depth", (json_int_t)n,
                  "oldest_age_s", oldest > 0 ? json_integer((a->now - oldest) / 1000) : json_null(),
                  "retrying", (json_int_t)retrying));
    return 0;
}

static int cmd_status(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    const char **pos = NULL;
    int npos;
    int rc = gw_ctl_args(rq, NULL, pos, 0, &npos, out, "status");
    if (rc)
        return rc;
    int64_t now = gw_now_ms(c);
    char a[64], b[64];
    int up = gw_xmpp_online(c->xmpp);
    gw_ctl_printf(out, "skagerrak %s, up %s (since %s)\n", GW_VERSION,
                  gw_ctl_fmt_age(now - c->started_ms, a, sizeof a),
                  gw_ctl_fmt_time(c->started_ms, b, sizeof b));
    gw_ctl_printf(out, "xmpp: %s (%s) to %s:%d as %s, since %s (%s)\n", up ? "up" : "down",
                  gw_xmpp_state(c->xmpp), c->cfg->xmpp_host, c->cfg->xmpp_port, c->cfg->domain,
                  gw_ctl_fmt_time(c->link_changed_ms, a, sizeof a),
                  gw_ctl_fmt_age(now - c->link_changed_ms, b, sizeof b));
    int dok = !gw_store_failed(c->store);
    gw_ctl_printf(out, "database: %s, schema %d, %s\n", dok ? "ok" : "FAILING",
                  gw_store_version(c->store), c->cfg->database);
    json_t *res = json_object();
    json_object_set_new(res, "version", json_string(GW_VERSION));
    json_object_set_new(res, "started", gw_ctl_time_json(c->started_ms));
    json_object_set_new(res, "uptime_s", json_integer((now - c->started_ms) / 1000));
    json_object_set_new(res, "xmpp",
                        json_pack("{s:b,s:o,s:o,s:o,s:I}", "up", up, "state",
                                  gw_ctl_str(gw_xmpp_state(c->xmpp)), "server",
                                  json_sprintf("%s:%d", c->cfg->xmpp_host, c->cfg->xmpp_port),
                                  "since", gw_ctl_time_json(c->link_changed_ms), "since_s",
                                  (json_int_t)((now - c->link_changed_ms) / 1000)));
    json_object_set_new(res, "database",
                        json_pack("{s:b,s:i}", "ok", dok, "schema", gw_store_version(c->store)));

    /* Plugins: their own health documents, as /health shows them. */
    char *hbuf = malloc(65536);
    int pok = hbuf ? gw_host_health(c, hbuf, 65536) : 0;
    json_t *plugins = hbuf ? json_loads(hbuf, 0, NULL) : NULL;
    free(hbuf);
    if (!plugins)
        plugins = json_object();
    gw_ctl_printf(out, "plugins: %s\n",
                  json_object_size(plugins) ? (pok ? "all healthy" : "NOT all healthy") : "none");
    const char *name;
    json_t *pv;
    json_object_foreach(plugins, name, pv)
    {
        json_t *detail = json_object_get(pv, "detail");
        char *d = detail ? json_dumps(detail, JSON_COMPACT) : NULL;
        gw_ctl_printf(out, "  %-12s %s %s\n", name,
                      json_is_true(json_object_get(pv, "ok")) ? "ok  " : "FAIL",
                      d && strcmp(d, "{}") ? d : "");
        free(d);
    }
    json_object_set_new(res, "plugins", plugins);

    /* The outbox, per target. */
    gw_ctl_printf(out, "outbox: %lld waiting\n", (long long)gw_store_outbox_count(c->store));
    struct outbox_acc acc = {out, json_array(), now};
    gw_store_outbox_summary(c->store, outbox_row, &acc);
    json_object_set_new(res, "outbox", acc.arr);
    /* Erase requests to partners not yet answered (retried through the outbox). */
    int epend = gw_privacy_erase_pending(c, NULL, NULL);
    if (epend > 0)
        gw_ctl_printf(out, "erase requests to partners pending: %d (see erase-pending)\n", epend);
    json_object_set_new(res, "erase_pending", json_integer(epend > 0 ? epend : 0));

    /* Open conversations per state. */
    long long per[CS_EXPIRED + 1] = {0}, total = 0;
    struct gw_conv *cv;
    GW_CONV_FOREACH(cv, c)
    {
        per[cv->state]++;
        total++;
    }
    json_t *convs = json_object();
    gw_ctl_printf(out, "conversations: %lld open", total);
    for (int s = CS_QUEUED; s <= CS_ACTIVE; s++) {
        gw_ctl_printf(out, "%s %lld %s", s == CS_QUEUED ? " (" : ",", per[s],
                      gw_conv_state_name((enum gw_conv_state)s));
        json_object_set_new(convs, gw_conv_state_name((enum gw_conv_state)s), json_integer(per[s]));
    }
    gw_ctl_printf(out, ")\n");
    json_object_set_new(convs, "open", json_integer(total));
    json_object_set_new(res, "conversations", convs);
    out->result = res;
    return 0;
}

const struct gw_ctl_cmd gw_ctl_ops_cmds[] = {
    {"status", "status", "the daemon: XMPP link, plugins, outbox, open conversations", cmd_status},
    {"queues", "queues", "per queue: hours, waiting, offered, active, counsellors ready, wait",
     gw_ctl_cmd_queues},
    {"counsellors", "counsellors [--all]",
     "signed-in counsellors: presence per queue, load against capacity", gw_ctl_cmd_counsellors},
    {"conversations", "conversations [--queue Q] [--state S]",
     "open conversations (state queued, offered or active)", gw_ctl_cmd_conversations},
    {"show", "show CONV [--messages]",
     "one conversation (token or JID): details and events; texts only with --messages",
     gw_ctl_cmd_show},
    {"block", "block (CONV | --address CH:ADDR) [--why TEXT]",
     "block a seeker on their channel (closes the open conversation), as !block", gw_ctl_cmd_block},
    {"unblock", "unblock (CONV | --address CH:ADDR) [--why TEXT]", "lift a block",
     gw_ctl_cmd_unblock},
    {"reload", "reload", "reload the configuration (as SIGHUP); says why when refused",
     gw_ctl_cmd_reload},
    {"stats", "stats --from DATE [--to DATE] [--csv]",
     "counts per queue, channel, outcome and partner; mean wait and handle times",
     gw_ctl_cmd_stats},
    {NULL, NULL, NULL, NULL},
};

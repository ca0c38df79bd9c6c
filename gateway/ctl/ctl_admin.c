/* ctl_admin.c — skagerrakctl queues, counsellors, reload, stats. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "ctl/ctl_ops.h"
#include "desk/core.h"
#include "io/log.h"

/* --- queues --- */

int gw_ctl_cmd_queues(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    int npos;
    int rc = gw_ctl_args(rq, NULL, NULL, 0, &npos, out, "queues");
    if (rc)
        return rc;
    json_t *arr = json_array();
    gw_ctl_printf(out, "%-16s %-7s %7s %7s %7s %7s %9s\n", "QUEUE", "HOURS", "WAITING", "OFFERED",
                  "ACTIVE", "READY", "EST.WAIT");
    for (int i = 0; i < c->cfg->nqueues; i++) {
        const struct gw_queue_conf *qc = &c->cfg->queues[i];
        struct gw_queue_rt *q = gw_queue_rt(c, qc->id);
        int offered = 0, active = 0, queued = 0;
        struct gw_conv *cv;
        TAILQ_FOREACH(cv, &c->convs, all)
        {
            if (strcmp(cv->row.queue, qc->id))
                continue;
            offered += cv->state == CS_OFFERED;
            active += cv->state == CS_ACTIVE;
            queued += cv->state == CS_QUEUED;
        }
        int ready = 0;
        for (int k = 0; k < qc->ncounsellors; k++)
            ready += gw_counsellor_ready(c, qc->counsellors[k], qc->id);
        int waiting = q ? q->nwaiting : queued + offered;
        int64_t est = gw_queue_wait_estimate(c, qc->id, waiting + 1);
        const char *hours = !q || q->open < 0 ? "unknown" : q->open ? "open" : "closed";
        char e[32] = "-";
        if (est >= 0)
            gw_ctl_fmt_age(est, e, sizeof e);
        gw_ctl_printf(out, "%-16s %-7s %7d %7d %7d %7d %9s\n", qc->id, hours, waiting, offered,
                      active, ready, e);
        json_t *o = json_object();
        json_object_set_new(o, "id", gw_ctl_str(qc->id));
        json_object_set_new(o, "hours", json_string(hours));
        json_object_set_new(o, "open", q && q->open >= 0 ? json_boolean(q->open) : json_null());
        json_object_set_new(o, "mode", json_string(qc->mode == GW_ASSIGN_PICK ? "pick" : "offer"));
        json_object_set_new(o, "waiting", json_integer(waiting));
        json_object_set_new(o, "queued", json_integer(queued));
        json_object_set_new(o, "offered", json_integer(offered));
        json_object_set_new(o, "active", json_integer(active));
        json_object_set_new(o, "counsellors", json_integer(qc->ncounsellors));
        json_object_set_new(o, "counsellors_ready", json_integer(ready));
        json_object_set_new(o, "wait_estimate_s",
                            est >= 0 ? json_integer(est / 1000) : json_null());
        json_array_append_new(arr, o);
    }
    out->result = json_pack("{s:o}", "queues", arr);
    return 0;
}

/* --- counsellors --- */

int gw_ctl_cmd_counsellors(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    int all = 0, npos;
    struct gw_ctl_opt opts[] = {{"--all", NULL, &all}, {0}};
    int rc = gw_ctl_args(rq, opts, NULL, 0, &npos, out, "counsellors [--all]");
    if (rc)
        return rc;
    json_t *arr = json_array();
    int shown = 0;
    for (int i = 0; i < c->cfg->ncounsellors; i++) {
        const struct gw_counsellor_conf *cc = &c->cfg->counsellors[i];
        int online = gw_counsellor_online(c, cc->jid);
        if (!online && !all)
            continue;
        if (!shown++)
            gw_ctl_printf(out, "%-28s %-8s %9s  %s\n", "COUNSELLOR", "STATUS", "LOAD",
                          "PRESENCE (queue/resource: show)");
        int load = gw_counsellor_load(c, cc->jid);
        json_t *pres = json_array();
        char line[2048] = "";
        size_t off = 0;
        struct gw_presence *p;
        TAILQ_FOREACH(p, &c->presence, link)
        {
            if (strcmp(p->bare, cc->jid))
                continue;
            const char *show = p->show[0] ? p->show : "available";
            if (off < sizeof line)
                off += (size_t)snprintf(line + off, sizeof line - off, "%s%s/%s: %s",
                                        off ? ", " : "", p->queue, p->resource, show);
            json_array_append_new(pres,
                                  json_pack("{s:o,s:o,s:s,s:b}", "queue", gw_ctl_str(p->queue),
                                            "resource", gw_ctl_str(p->resource), "show", show,
                                            "ready", gw_counsellor_ready(c, cc->jid, p->queue)));
        }
        char lc[32];
        snprintf(lc, sizeof lc, "%d/%d", load, cc->capacity);
        gw_ctl_printf(out, "%-28s %-8s %9s  %s\n", cc->jid, online ? "online" : "offline", lc,
                      line[0] ? line : "-");
        json_array_append_new(arr, json_pack("{s:o,s:o,s:b,s:b,s:i,s:i,s:o}", "jid",
                                             gw_ctl_str(cc->jid), "name", gw_ctl_str(cc->name),
                                             "online", online, "supervisor", cc->supervisor, "load",
                                             load, "capacity", cc->capacity, "presence", pres));
    }
    if (!shown)
        gw_ctl_printf(out, "no counsellor signed in%s\n", all ? "" : " (--all lists everyone)");
    out->result = json_pack("{s:o}", "counsellors", arr);
    return 0;
}

/* --- reload --- */

int gw_ctl_cmd_reload(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    int npos;
    int rc = gw_ctl_args(rq, NULL, NULL, 0, &npos, out, "reload");
    if (rc)
        return rc;
    if (!c->reload)
        return gw_ctl_fail(out, 1, "this daemon cannot reload");
    struct gw_cfg_errors why = {0};
    GW_INFO("ctl: reload asked by %s", rq->peer ? rq->peer : "?");
    int ok = c->reload(c, &why) == 0;
    json_t *reasons = json_array();
    char err[sizeof out->error] = "";
    size_t off = 0;
    for (int i = 0; i < why.n; i++) {
        json_array_append_new(reasons, gw_ctl_str(why.msgs[i]));
        if (off < sizeof err)
            off += (size_t)snprintf(err + off, sizeof err - off, "\n  %s", why.msgs[i]);
    }
    gw_cfg_errors_release(&why);
    out->result = json_pack("{s:b,s:o,s:o}", "reloaded", ok, "config", gw_ctl_str(c->config_path),
                            "reasons", reasons);
    if (!ok)
        return gw_ctl_fail(out, 1, "reload refused, the running configuration is kept:%s", err);
    gw_ctl_printf(out, "configuration reloaded from %s\n", c->config_path);
    return 0;
}

/* --- stats --- */

/* "YYYY-MM-DD" (the day's start; *date_only = 1) or "YYYY-MM-DD[T ]HH:MM[:SS]", local time.
 * Unix ms, or -1. */
static int64_t parse_when(const char *s, int *date_only)
{
    struct tm tm = {0};
    const char *end = strptime(s, "%Y-%m-%d", &tm);
    *date_only = 1;
    if (!end)
        return -1;
    if (*end == 'T' || *end == ' ') {
        const char *e2 = strptime(end + 1, "%H:%M:%S", &tm);
        if (!e2)
            e2 = strptime(end + 1, "%H:%M", &tm);
        if (!e2)
            return -1;
        end = e2;
        *date_only = 0;
    }
    if (*end)
        return -1;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    return t == (time_t)-1 ? -1 : (int64_t)t * 1000;
}

struct stats_acc {
    struct gw_ctl_out *out;
    json_t *rows;
    int csv;
};

/* A CSV field: quoted when it holds a separator, a quote or a line break. */
static void csv_field(struct gw_ctl_out *out, const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n")) {
        gw_ctl_printf(out, "\"");
        for (const char *p = s; *p; p++)
            gw_ctl_printf(out, *p == '"' ? "\"\"" : "%c", *p);
        gw_ctl_printf(out, "\"");
    } else {
        gw_ctl_printf(out, "%s", s);
    }
    gw_ctl_printf(out, last ? "\n" : ",");
}

static int stats_row(void *arg, const char *group, const char *key, const char *what, long long n,
                     double wait, double handle)
{
    struct stats_acc *a = arg;
    group = group ? group : "";
    key = key ? key : "";
    what = what ? what : "";
    if (a->csv) {
        char nb[32], wb[32], hb[32];
        snprintf(nb, sizeof nb, "%lld", n);
        snprintf(wb, sizeof wb, "%.0f", wait / 1000.0);
        snprintf(hb, sizeof hb, "%.0f", handle / 1000.0);
        csv_field(a->out, group, 0);
        csv_field(a->out, key, 0);
        csv_field(a->out, what, 0);
        csv_field(a->out, nb, 0);
        csv_field(a->out, wait > 0 ? wb : "", 0);
        csv_field(a->out, handle > 0 ? hb : "", 1);
    } else {
        char w[32] = "-", h[32] = "-";
        if (wait > 0)
            gw_ctl_fmt_age((int64_t)wait, w, sizeof w);
        if (handle > 0)
            gw_ctl_fmt_age((int64_t)handle, h, sizeof h);
        gw_ctl_printf(a->out, "%-8s %-20s %-12s %7lld %10s %10s\n", group, key, what, n, w, h);
    }
    json_array_append_new(
        a->rows,
        json_pack("{s:o,s:o,s:o,s:I,s:o,s:o}", "group", gw_ctl_str(group), "key", gw_ctl_str(key),
                  "what", gw_ctl_str(what), "count", (json_int_t)n, "avg_wait_s",
                  wait > 0 ? json_integer((json_int_t)(wait / 1000)) : json_null(), "avg_handle_s",
                  handle > 0 ? json_integer((json_int_t)(handle / 1000)) : json_null()));
    return 0;
}

int gw_ctl_cmd_stats(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    const char *from = NULL, *to = NULL, *usage = "stats --from DATE [--to DATE] [--csv]";
    int csv = 0, npos;
    struct gw_ctl_opt opts[] = {
        {"--from", &from, NULL}, {"--to", &to, NULL}, {"--csv", NULL, &csv}, {0}};
    int rc = gw_ctl_args(rq, opts, NULL, 0, &npos, out, usage);
    if (rc)
        return rc;
    if (!from)
        return gw_ctl_fail(out, 2, "--from is needed\nusage: skagerrakctl %s", usage);
    int d1, d2 = 0;
    int64_t f = parse_when(from, &d1), t;
    if (f < 0)
        return gw_ctl_fail(out, 2, "--from '%s': YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]", from);
    if (to) {
        t = parse_when(to, &d2);
        if (t < 0)
            return gw_ctl_fail(out, 2, "--to '%s': YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]", to);
        if (d2) /* a date: up to the end of that day, as a person reading "to 7 Dec" means */
            t += 86400LL * 1000;
    } else {
        t = gw_now_ms(c) + 1;
    }
    if (t <= f)
        return gw_ctl_fail(out, 2, "--to must be after --from");
    char fb[40], tb[40];
    struct stats_acc a = {out, json_array(), csv};
    if (csv)
        gw_ctl_printf(out, "group,key,what,count,avg_wait_s,avg_handle_s\n");
    else
        gw_ctl_printf(out, "conversations created %s to %s\n%-8s %-20s %-12s %7s %10s %10s\n",
                      gw_ctl_fmt_time(f, fb, sizeof fb), gw_ctl_fmt_time(t, tb, sizeof tb), "GROUP",
                      "KEY", "WHAT", "COUNT", "AVG.WAIT", "AVG.HANDLE");
    int n = gw_store_stats_range(c->store, f, t, stats_row, &a);
    if (n < 0) {
        json_decref(a.rows);
        return gw_ctl_fail(out, 1, "the database could not answer (see the daemon's log)");
    }
    if (!n && !csv)
        gw_ctl_printf(out, "(no conversations in this period)\n");
    out->result = json_pack("{s:o,s:o,s:o}", "from", gw_ctl_time_json(f), "to", gw_ctl_time_json(t),
                            "rows", a.rows);
    return 0;
}

/* ctl_audit.c — skagerrakctl audit / purge: who read what, and retention by hand.
 *
 *   audit [--conv C] [--who WHO] [--from DATE] [--to DATE] [--limit N]
 *       the read audit, oldest first; the filters combine.  C is a conversation token or
 *       its JID; WHO the reader exactly as recorded (a counsellor's bare JID, "partner
 *       DOMAIN", "seeker (...)", "skagerrakctl uid ..."); DATE is YYYY-MM-DD or
 *       YYYY-MM-DDTHH:MM[:SS] in the daemon's local time, --to a date alone meaning the end
 *       of that day.  Exit 1 for an unknown conversation; no matching rows is exit 0.
 *   purge [--dry-run [--at DATE]]
 *       run retention now; with --dry-run list what would go (per queue: conversations,
 *       messages, the oldest message; audit rows past their retention) and delete nothing.
 *       The retention timer deletes what is due when it is due, so "now" is mostly empty:
 *       --at lists what will have gone by DATE under the rules in force (the DPO's "what
 *       goes by the end of the month?").
 *
 * Seeker identifiers are masked when the audit row is written (desk/audit.c), so nothing
 * here needs to mask; conversation tokens are random and shown as they are (they are the
 * handle for `show`). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "ctl/ctl_ops.h"
#include "desk/core.h"
#include "store/store.h"

#define DAY_MS 86400000LL

static void fmt_time(int64_t ms, char *buf, size_t len)
{
    gw_ctl_fmt_time(ms, buf, len);
}

/* DATE → unix ms (local time); end_of_day: a date alone means the end of that day. */
static int parse_date(const char *s, int end_of_day, int64_t *out)
{
    static const char *const fmts[] = {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S",
                                       "%Y-%m-%d %H:%M", "%Y-%m-%d"};
    for (size_t i = 0; i < sizeof fmts / sizeof *fmts; i++) {
        struct tm tm;
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, fmts[i], &tm);
        if (!end || *end)
            continue;
        int date_only = i == sizeof fmts / sizeof *fmts - 1;
        if (date_only && end_of_day)
            tm.tm_mday++; /* mktime normalises */
        tm.tm_isdst = -1;
        time_t t = mktime(&tm);
        if (t == (time_t)-1)
            return -1;
        *out = (int64_t)t * 1000;
        return 0;
    }
    return -1;
}

/* The local part of a conversation JID ("c-abc@gw.example" → "c-abc"). */
static void conv_token(const char *arg, char *buf, size_t len)
{
    size_t n = strcspn(arg, "@/");
    snprintf(buf, len, "%.*s", (int)n, arg);
}

struct audit_out {
    struct gw_ctl_out *out;
    json_t *rows;
    int n;
};

static int audit_row(void *arg, const struct gw_audit_row *r)
{
    struct audit_out *a = arg;
    char at[32];
    fmt_time(r->at, at, sizeof at);
    json_t *j = json_pack("{s:I, s:o, s:I, s:s, s:s?, s:s?, s:s, s:s?, s:s?}", "id",
                          (json_int_t)r->id, "at", gw_ctl_time_json(r->at), "at_ms",
                          (json_int_t)r->at, "who", r->who,
                          "conv", r->conv_token[0] ? r->conv_token : NULL, "queue",
                          r->queue[0] ? r->queue : NULL, "what", r->what, "detail",
                          r->detail[0] ? r->detail : NULL, "why", r->why[0] ? r->why : NULL);
    if (j)
        json_array_append_new(a->rows, j);
    gw_ctl_printf(a->out, "%s  %-30s %-18s %-16s %s%s%s%s\n", at, r->who, r->what,
                  r->conv_token[0] ? r->conv_token : "-", r->detail, r->why[0] ? " (why: " : "",
                  r->why, r->why[0] ? ")" : "");
    a->n++;
    return 0;
}

static const char audit_usage[] =
    "audit [--conv C] [--who WHO] [--from DATE] [--to DATE] [--limit N]";

static int cmd_audit(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    struct gw_audit_filter f;
    memset(&f, 0, sizeof f);
    const char *conv = NULL, *from = NULL, *to = NULL, *limit = NULL, *pos[1];
    struct gw_ctl_opt opts[] = {{"--conv", &conv, NULL},   {"--who", &f.who, NULL},
                                {"--from", &from, NULL},   {"--to", &to, NULL},
                                {"--limit", &limit, NULL}, {0}};
    int npos = 0, rc = gw_ctl_args(rq, opts, pos, 0, &npos, out, audit_usage);
    if (rc)
        return rc;
    if ((from && parse_date(from, 0, &f.from_ms) < 0) || (to && parse_date(to, 1, &f.to_ms) < 0))
        return gw_ctl_fail(out, 2, "'%s': a date is YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]\n"
                                   "usage: skagerrakctl %s",
                           from && parse_date(from, 0, &f.from_ms) < 0 ? from : to, audit_usage);
    if (limit) {
        char *end;
        long n = strtol(limit, &end, 10);
        if (*end || n < 1 || n > 1000000)
            return gw_ctl_fail(out, 2, "--limit is 1 to 1000000\nusage: skagerrakctl %s",
                               audit_usage);
        f.limit = (int)n;
    }
    if (f.from_ms && f.to_ms && f.to_ms <= f.from_ms)
        return gw_ctl_fail(out, 2, "--to must be after --from\nusage: skagerrakctl %s",
                           audit_usage);
    if (conv) {
        char tok[64];
        struct gw_conv_row r;
        conv_token(conv, tok, sizeof tok);
        if (gw_store_conv_by_token(c->store, tok, &r) < 0)
            return gw_ctl_fail(out, 1, "no conversation %s is stored", tok);
        f.conv_id = r.id;
    }
    struct audit_out a = {out, json_array(), 0};
    if (!a.rows)
        return gw_ctl_fail(out, 1, "out of memory");
    if (gw_store_audit_each(c->store, &f, audit_row, &a) < 0) {
        json_decref(a.rows);
        return gw_ctl_fail(out, 1, "the store could not be read");
    }
    if (!a.n)
        gw_ctl_printf(out, "no audit rows match\n");
    out->result = json_pack("{s:o, s:i}", "rows", a.rows, "count", a.n);
    return 0;
}

/* --- purge --- */

struct q_sum {
    char queue[64];
    long long convs, msgs;
    int64_t oldest; /* -1 none */
};

struct dry_ctx {
    struct q_sum *q;
    size_t n, cap;
    int oom;
};

static int dry_row(void *arg, const struct gw_purge_row *r)
{
    struct dry_ctx *d = arg;
    size_t i = 0;
    while (i < d->n && strcmp(d->q[i].queue, r->queue))
        i++;
    if (i == d->n) {
        if (d->n == d->cap) {
            size_t ncap = d->cap ? d->cap * 2 : 8;
            struct q_sum *nq = realloc(d->q, ncap * sizeof *nq);
            if (!nq) {
                d->oom = 1;
                return 1;
            }
            d->q = nq;
            d->cap = ncap;
        }
        memset(&d->q[i], 0, sizeof d->q[i]);
        snprintf(d->q[i].queue, sizeof d->q[i].queue, "%s", r->queue);
        d->q[i].oldest = -1;
        d->n++;
    }
    d->q[i].convs++;
    d->q[i].msgs += r->messages;
    if (r->oldest >= 0 && (d->q[i].oldest < 0 || r->oldest < d->q[i].oldest))
        d->q[i].oldest = r->oldest;
    return 0;
}

static int count_row(void *arg, const struct gw_audit_row *r)
{
    (void)r;
    ++*(long long *)arg;
    return 0;
}

static int cmd_purge(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    int dry = 0, npos = 0;
    int64_t now = gw_now_ms(c), at = 0;
    const char *at_s = NULL, *pos[1], *usage = "purge [--dry-run [--at DATE]]";
    struct gw_ctl_opt opts[] = {{"--dry-run", NULL, &dry}, {"--at", &at_s, NULL}, {0}};
    int rc = gw_ctl_args(rq, opts, pos, 0, &npos, out, usage);
    if (rc)
        return rc;
    if (at_s && parse_date(at_s, 0, &at) < 0)
        return gw_ctl_fail(out, 2, "--at '%s': a date is YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]\n"
                                   "usage: skagerrakctl %s",
                           at_s, usage);
    if (at && !dry)
        return gw_ctl_fail(out, 2, "--at only with --dry-run: nothing is deleted before its"
                                   " time\nusage: skagerrakctl %s",
                           usage);
    if (at && at > now)
        now = at;
    if (!dry) {
        int nconv = 0;
        int64_t naudit = 0, n = gw_retention_run_now(c, &nconv, &naudit);
        if (n < 0)
            return gw_ctl_fail(out, 1, "retention failed: the store could not be written");
        gw_ctl_printf(out, "deleted %lld messages of %d conversations, %lld audit rows\n",
                      (long long)n, nconv, (long long)naudit);
        out->result = json_pack("{s:b, s:I, s:i, s:I}", "dry_run", 0, "messages", (json_int_t)n,
                                "conversations", nconv, "audit_rows", (json_int_t)naudit);
        return 0;
    }
    struct dry_ctx d = {NULL, 0, 0, 0};
    if (gw_store_purge_each(c->store, now, 0, dry_row, &d) < 0 || d.oom) {
        free(d.q);
        return gw_ctl_fail(out, 1, "the store could not be read");
    }
    long long naudit = 0;
    if (c->cfg->audit_retention_days > 0) {
        struct gw_audit_filter f;
        memset(&f, 0, sizeof f);
        f.to_ms = now - (int64_t)c->cfg->audit_retention_days * DAY_MS;
        f.limit = 1000000;
        if (f.to_ms > 0)
            gw_store_audit_each(c->store, &f, count_row, &naudit);
    }
    json_t *qs = json_array();
    long long tc = 0, tm = 0;
    for (size_t i = 0; i < d.n; i++) {
        char old[32] = "-";
        if (d.q[i].oldest >= 0)
            fmt_time(d.q[i].oldest, old, sizeof old);
        gw_ctl_printf(out, "%-20s %6lld conversations %8lld messages  oldest %s\n", d.q[i].queue,
                      d.q[i].convs, d.q[i].msgs, old);
        json_array_append_new(qs, json_pack("{s:s, s:I, s:I, s:s?}", "queue", d.q[i].queue,
                                            "conversations", (json_int_t)d.q[i].convs, "messages",
                                            (json_int_t)d.q[i].msgs, "oldest",
                                            d.q[i].oldest >= 0 ? old : NULL));
        tc += d.q[i].convs;
        tm += d.q[i].msgs;
    }
    free(d.q);
    char by[32];
    fmt_time(now, by, sizeof by);
    gw_ctl_printf(out, "%s%lld conversations, %lld messages and %lld audit rows would be deleted"
                       " by %s (dry run: nothing was)\n",
                  tc ? "" : "nothing is due: ", tc, tm, naudit, by);
    out->result = json_pack("{s:b, s:s, s:o, s:I, s:I, s:I}", "dry_run", 1, "by", by, "queues", qs,
                            "conversations", (json_int_t)tc, "messages", (json_int_t)tm,
                            "audit_rows", (json_int_t)naudit);
    return 0;
}

const struct gw_ctl_cmd gw_ctl_audit_cmds[] = {
    {"audit", "audit [--conv C] [--who WHO] [--from DATE] [--to DATE] [--limit N]",
     "who read which stored conversation, when and why (the read audit)", cmd_audit},
    {"purge", "purge [--dry-run [--at DATE]]",
     "run retention now; --dry-run lists what would be deleted (by DATE) and deletes nothing",
     cmd_purge},
    {NULL, NULL, NULL, NULL},
};

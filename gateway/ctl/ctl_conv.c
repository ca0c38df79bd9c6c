/* ctl_conv.c — skagerrakctl conversations, show, block, unblock: the conversations and
 * seekers (addresses masked as in the logs, in the JSON too). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "ctl/ctl_ops.h"
#include "desk/core.h"
#include "io/log.h"

static const char *mask(const char *addr, char *buf, size_t len)
{
    return gw_mask_address(addr ? addr : "", buf, len);
}

/* Parse CONV: a token, or the conversation JID ("token@domain", any resource).  The token
 * part into buf; 0, or -1 when it cannot be one. */
static int conv_token(struct gw_core *c, const char *arg, char *buf, size_t len)
{
    char tmp[512];
    gw_copy(tmp, sizeof tmp, arg);
    char *slash = strchr(tmp, '/');
    if (slash)
        *slash = 0;
    char *at = strchr(tmp, '@');
    if (at) {
        if (strcmp(at + 1, c->cfg->domain) != 0)
            return -1; /* another domain's conversation: not ours */
        *at = 0;
    }
    if (!tmp[0] || strlen(tmp) >= len || strlen(tmp) >= sizeof(((struct gw_conv_row *)0)->token))
        return -1;
    gw_copy(buf, len, tmp);
    return 0;
}

/* The conversation CONV names: in memory (open) or in the store (closed).  Fills row and,
 * for an open one, *cvp; the seeker row into sk.  0, or 1 with out->error set. */
static int find_conv(struct gw_core *c, const char *arg, struct gw_conv **cvp,
                     struct gw_conv_row *row, struct gw_seeker_row *sk, struct gw_ctl_out *out)
{
    char token[64];
    *cvp = NULL;
    if (conv_token(c, arg, token, sizeof token) == 0) {
        struct gw_conv *cv = gw_conv_find(c, token);
        if (cv) {
            *cvp = cv;
            *row = cv->row;
        } else if (gw_store_conv_by_token(c->store, token, row) != GW_OK) {
            cv = NULL;
            goto none;
        }
        if (gw_store_seeker_get(c->store, row->seeker_id, sk) != GW_OK)
            memset(sk, 0, sizeof *sk);
        return 0;
    }
none:;
    char m[128];
    gw_copy(m, sizeof m, arg); /* a token or JID, not an address: shown as given */
    return gw_ctl_fail(out, 1, "no conversation '%s'", m);
}

static const char *conv_channel(const struct gw_conv *cv, const struct gw_seeker_row *sk)
{
    return cv ? cv->channel : sk->channel;
}

/* --- conversations --- */

int gw_ctl_cmd_conversations(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    const char *queue = NULL, *state = NULL, *usage = "conversations [--queue Q] [--state S]";
    struct gw_ctl_opt opts[] = {{"--queue", &queue, NULL}, {"--state", &state, NULL}, {0}};
    int npos;
    int rc = gw_ctl_args(rq, opts, NULL, 0, &npos, out, usage);
    if (rc)
        return rc;
    if (queue && !gw_config_queue(c->cfg, queue))
        return gw_ctl_fail(out, 1, "no queue '%s'", queue);
    if (state && strcmp(state, "queued") && strcmp(state, "offered") && strcmp(state, "active"))
        return gw_ctl_fail(out, 2,
                           "--state '%s': open conversations are queued, offered or active\n"
                           "usage: skagerrakctl %s",
                           state, usage);
    int64_t now = gw_now_ms(c);
    json_t *arr = json_array();
    int n = 0;
    struct gw_conv *cv;
    GW_CONV_FOREACH(cv, c)
    {
        const char *st = gw_conv_state_name(cv->state);
        if ((queue && strcmp(queue, cv->row.queue)) || (state && strcmp(state, st)))
            continue;
        if (!n++)
            gw_ctl_printf(out, "%-14s %-12s %-8s %-8s %-20s %-22s %8s %8s\n", "TOKEN", "QUEUE",
                          "STATE", "CHANNEL", "ADDRESS", "COUNSELLOR", "AGE", "IDLE");
        char m[64], age[32], idle[32];
        mask(cv->address, m, sizeof m);
        int64_t last = cv->row.last_seeker_at > cv->row.last_counsellor_at
                           ? cv->row.last_seeker_at
                           : cv->row.last_counsellor_at;
        if (!last)
            last = cv->row.created;
        gw_ctl_printf(out, "%-14s %-12s %-8s %-8s %-20s %-22s %8s %8s\n", cv->row.token,
                      cv->row.queue, st, cv->channel, m,
                      cv->row.counsellor[0] ? cv->row.counsellor : "-",
                      gw_ctl_fmt_age(now - cv->row.created, age, sizeof age),
                      gw_ctl_fmt_age(now - last, idle, sizeof idle));
        char jid[400];
        gw_conv_jid(c, cv, jid, sizeof jid);
        json_t *o = json_object();
        json_object_set_new(o, "token", json_string(cv->row.token));
        json_object_set_new(o, "jid", gw_ctl_str(jid));
        json_object_set_new(o, "queue", gw_ctl_str(cv->row.queue));
        json_object_set_new(o, "state", json_string(st));
        json_object_set_new(o, "channel", gw_ctl_str(cv->channel));
        json_object_set_new(o, "address", gw_ctl_str(m));
        json_object_set_new(o, "counsellor",
                            cv->row.counsellor[0] ? gw_ctl_str(cv->row.counsellor) : json_null());
        json_object_set_new(o, "position", json_integer(gw_queue_position(c, cv)));
        json_object_set_new(o, "age_s", json_integer((now - cv->row.created) / 1000));
        json_object_set_new(o, "idle_s", json_integer((now - last) / 1000));
        json_object_set_new(o, "created", gw_ctl_time_json(cv->row.created));
        json_array_append_new(arr, o);
    }
    if (!n)
        gw_ctl_printf(out, "no open conversations%s%s%s%s\n", queue ? " in queue " : "",
                      queue ? queue : "", state ? " in state " : "", state ? state : "");
    out->result = json_pack("{s:o}", "conversations", arr);
    return 0;
}

/* --- show --- */

struct show_acc {
    struct gw_ctl_out *out;
    json_t *arr;
};

static int show_event(void *arg, int64_t at, const char *kind, const char *actor,
                      const char *detail)
{
    struct show_acc *a = arg;
    char t[40];
    gw_ctl_printf(a->out, "  %s  %-20s %s%s%s\n", gw_ctl_fmt_time(at, t, sizeof t),
                  kind ? kind : "?", actor ? actor : "", detail && *detail ? "  " : "",
                  detail ? detail : "");
    json_array_append_new(a->arr, json_pack("{s:o,s:o,s:o,s:o}", "at", gw_ctl_time_json(at), "kind",
                                            gw_ctl_str(kind), "actor", gw_ctl_str(actor), "detail",
                                            gw_ctl_str(detail)));
    return 0;
}

struct msg_acc {
    struct gw_ctl_out *out;
    json_t *arr;
    long long n[4]; /* in, out, auto, other */
    int texts;
};

static int show_msg(void *arg, const struct gw_msg_row *m)
{
    struct msg_acc *a = arg;
    int k = strcmp(m->dir, "in") == 0     ? 0
            : strcmp(m->dir, "out") == 0  ? 1
            : strcmp(m->dir, "auto") == 0 ? 2
                                          : 3;
    a->n[k]++;
    if (!a->texts)
        return 0;
    /* texts are shown here (the audit is recorded in gw_ctl_cmd_show, see AUDIT there) */
    char t[40];
    gw_ctl_printf(a->out, "  %s  %-4s %-10s %-22s %s\n", gw_ctl_fmt_time(m->created, t, sizeof t),
                  m->dir, m->state, m->author[0] ? m->author : "-", m->body ? m->body : "");
    json_array_append_new(a->arr,
                          json_pack("{s:I,s:o,s:o,s:o,s:o,s:o}", "id", (json_int_t)m->id, "at",
                                    gw_ctl_time_json(m->created), "dir", gw_ctl_str(m->dir),
                                    "state", gw_ctl_str(m->state), "author", gw_ctl_str(m->author),
                                    "body", gw_ctl_str(m->body)));
    return 0;
}

int gw_ctl_cmd_show(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    int messages = 0;
    const char *pos[1], *usage = "show CONV [--messages]";
    struct gw_ctl_opt opts[] = {{"--messages", NULL, &messages}, {0}};
    int npos;
    int rc = gw_ctl_args(rq, opts, pos, 1, &npos, out, usage);
    if (rc)
        return rc;
    if (npos != 1)
        return gw_ctl_fail(out, 2, "usage: skagerrakctl %s", usage);
    struct gw_conv *cv;
    struct gw_conv_row row;
    struct gw_seeker_row sk;
    if (find_conv(c, pos[0], &cv, &row, &sk, out))
        return 1;
    int64_t now = gw_now_ms(c);
    char m[64], t[40], a[32], jid[400];
    mask(cv ? cv->address : sk.address, m, sizeof m);
    snprintf(jid, sizeof jid, "%s@%s", row.token, c->cfg->domain);
    const char *state = cv ? gw_conv_state_name(cv->state) : row.state;
    json_t *o = json_object();
    gw_ctl_printf(out, "conversation %s (%s)\n", row.token, jid);
    gw_ctl_printf(out, "  state       %s%s\n", state, cv ? "" : " (in the store)");
    gw_ctl_printf(out, "  queue       %s\n", row.queue);
    gw_ctl_printf(out, "  channel     %s\n", conv_channel(cv, &sk));
    gw_ctl_printf(out, "  address     %s%s\n", m, sk.blocked ? " (blocked)" : "");
    gw_ctl_printf(out, "  language    %s\n", row.lang);
    gw_ctl_printf(out, "  counsellor  %s\n", row.counsellor[0] ? row.counsellor : "-");
    if (cv && (cv->state == CS_QUEUED || cv->state == CS_OFFERED))
        gw_ctl_printf(out, "  position    %d\n", gw_queue_position(c, cv));
    if (cv && cv->offered_to)
        gw_ctl_printf(out, "  offered to  %s\n", cv->offered_to);
    gw_ctl_printf(out, "  created     %s (%s ago)\n", gw_ctl_fmt_time(row.created, t, sizeof t),
                  gw_ctl_fmt_age(now - row.created, a, sizeof a));
    gw_ctl_printf(out, "  assigned    %s\n", gw_ctl_fmt_time(row.assigned_at, t, sizeof t));
    gw_ctl_printf(out, "  last seeker %s\n", gw_ctl_fmt_time(row.last_seeker_at, t, sizeof t));
    gw_ctl_printf(out, "  last reply  %s\n", gw_ctl_fmt_time(row.last_counsellor_at, t, sizeof t));
    if (row.closed_at)
        gw_ctl_printf(out, "  closed      %s, outcome %s\n",
                      gw_ctl_fmt_time(row.closed_at, t, sizeof t),
                      row.outcome[0] ? row.outcome : "-");
    if (row.transfers)
        gw_ctl_printf(out, "  transfers   %d\n", row.transfers);
    if (row.partner[0])
        gw_ctl_printf(out, "  partner     %s (%s)\n", row.partner,
                      row.role == 1   ? "served there"
                      : row.role == 2 ? "served here for them"
                                      : "-");
    json_object_set_new(o, "token", json_string(row.token));
    json_object_set_new(o, "jid", gw_ctl_str(jid));
    json_object_set_new(o, "state", gw_ctl_str(state));
    json_object_set_new(o, "open", json_boolean(cv != NULL));
    json_object_set_new(o, "queue", gw_ctl_str(row.queue));
    json_object_set_new(o, "channel", gw_ctl_str(conv_channel(cv, &sk)));
    json_object_set_new(o, "address", gw_ctl_str(m));
    json_object_set_new(o, "blocked", json_boolean(sk.blocked));
    json_object_set_new(o, "lang", gw_ctl_str(row.lang));
    json_object_set_new(o, "counsellor",
                        row.counsellor[0] ? gw_ctl_str(row.counsellor) : json_null());
    json_object_set_new(o, "position", json_integer(cv ? gw_queue_position(c, cv) : 0));
    json_object_set_new(o, "offered_to",
                        cv && cv->offered_to ? gw_ctl_str(cv->offered_to) : json_null());
    json_object_set_new(o, "created", gw_ctl_time_json(row.created));
    json_object_set_new(o, "queued_at", gw_ctl_time_json(row.queued_at));
    json_object_set_new(o, "assigned_at", gw_ctl_time_json(row.assigned_at));
    json_object_set_new(o, "closed_at", gw_ctl_time_json(row.closed_at));
    json_object_set_new(o, "last_seeker_at", gw_ctl_time_json(row.last_seeker_at));
    json_object_set_new(o, "last_counsellor_at", gw_ctl_time_json(row.last_counsellor_at));
    json_object_set_new(o, "outcome", row.outcome[0] ? gw_ctl_str(row.outcome) : json_null());
    json_object_set_new(o, "transfers", json_integer(row.transfers));
    json_object_set_new(o, "partner", row.partner[0] ? gw_ctl_str(row.partner) : json_null());
    json_object_set_new(o, "role", json_integer(row.role));

    gw_ctl_printf(out, "events:\n");
    struct show_acc ea = {out, json_array()};
    gw_store_events_each(c->store, row.id, show_event, &ea);
    json_object_set_new(o, "events", ea.arr);

    if (messages)
        gw_ctl_printf(out, "messages:\n");
    struct msg_acc ma = {out, json_array(), {0}, messages};
    gw_store_msg_each(c->store, row.id, 0, NULL, show_msg, &ma);
    if (messages) /* the texts were shown to rq->peer: the read audit */
        gw_audit_ctl(c, rq->peer, row.id, "ctl-show",
                     (int)(ma.n[0] + ma.n[1] + ma.n[2] + ma.n[3]), NULL);
    gw_ctl_printf(out,
                  "messages stored: %lld from the seeker, %lld to them, %lld automatic, "
                  "%lld other%s\n",
                  ma.n[0], ma.n[1], ma.n[2], ma.n[3], messages ? "" : " (texts with --messages)");
    json_object_set_new(o, "message_counts",
                        json_pack("{s:I,s:I,s:I,s:I}", "in", (json_int_t)ma.n[0], "out",
                                  (json_int_t)ma.n[1], "auto", (json_int_t)ma.n[2], "other",
                                  (json_int_t)ma.n[3]));
    if (messages)
        json_object_set_new(o, "messages", ma.arr);
    else
        json_decref(ma.arr);
    out->result = o;
    return 0;
}

/* --- block / unblock --- */

static int block_cmd(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out,
                     int blocked)
{
    const char *addr = NULL, *why = NULL, *pos[1];
    const char *usage = blocked ? "block (CONV | --address CH:ADDR) [--why TEXT]"
                                : "unblock (CONV | --address CH:ADDR) [--why TEXT]";
    struct gw_ctl_opt opts[] = {{"--address", &addr, NULL}, {"--why", &why, NULL}, {0}};
    int npos;
    int rc = gw_ctl_args(rq, opts, pos, 1, &npos, out, usage);
    if (rc)
        return rc;
    if ((npos == 1) == (addr != NULL))
        return gw_ctl_fail(out, 2,
                           "give a conversation or --address, one of them\nusage: "
                           "skagerrakctl %s",
                           usage);
    struct gw_seeker_row sk;
    int64_t conv_id = 0;
    char what[160];
    if (addr) {
        const char *colon = strchr(addr, ':');
        if (!colon || colon == addr || !colon[1] || (size_t)(colon - addr) >= sizeof sk.channel)
            return gw_ctl_fail(out, 2,
                               "--address '%s': CHANNEL:ADDRESS, e.g. sms:+4791234567\n"
                               "usage: skagerrakctl %s",
                               "…", usage);
        char ch[32];
        gw_copyn(ch, sizeof ch, addr, (size_t)(colon - addr));
        char m[64];
        mask(colon + 1, m, sizeof m);
        if (gw_store_seeker_find(c->store, ch, colon + 1, &sk) != GW_OK) {
            if (!blocked)
                return gw_ctl_fail(out, 1, "nothing stored for %s:%s", ch, m);
            /* Blocking an address never seen yet (abuse announced elsewhere) is allowed:
             * the seeker row holds the flag. */
            int64_t id = gw_store_seeker_upsert(c->store, ch, colon + 1, NULL, NULL);
            if (id < 0 || gw_store_seeker_get(c->store, id, &sk) != GW_OK)
                return gw_ctl_fail(out, 1, "not stored: the database refused the seeker");
        }
        snprintf(what, sizeof what, "%s:%s", ch, m);
    } else {
        struct gw_conv *cv;
        struct gw_conv_row row;
        if (find_conv(c, pos[0], &cv, &row, &sk, out))
            return 1;
        if (!sk.id)
            return gw_ctl_fail(out, 1, "conversation '%s' has no stored seeker", row.token);
        conv_id = row.id;
        char m[64];
        mask(sk.address, m, sizeof m);
        snprintf(what, sizeof what, "%s:%s (conversation %s)", sk.channel, m, row.token);
    }
    struct gw_conv *open = gw_conv_for_seeker(c, sk.channel, sk.address);
    char token[32] = "";
    if (open)
        gw_copy(token, sizeof token, open->row.token);
    int was = sk.blocked;
    char actor[200];
    snprintf(actor, sizeof actor, "skagerrakctl %s", rq->peer ? rq->peer : "");
    if (gw_seeker_block(c, sk.id, conv_id, blocked, why, actor, "blocked_by_admin") != GW_OK)
        return gw_ctl_fail(out, 1, "not stored: the database refused the change");
    gw_ctl_printf(out, "%s %s%s", what, blocked ? "blocked" : "unblocked",
                  was == blocked ? (blocked ? " (it already was)" : " (it was not blocked)") : "");
    if (blocked && open)
        gw_ctl_printf(out, "; open conversation %s closed", token);
    gw_ctl_printf(out, "\n");
    char m[64];
    mask(sk.address, m, sizeof m);
    out->result = json_pack("{s:o,s:o,s:b,s:b,s:o}", "channel", gw_ctl_str(sk.channel), "address",
                            gw_ctl_str(m), "blocked", blocked, "changed", was != blocked, "closed",
                            blocked && open ? json_string(token) : json_null());
    return 0;
}

int gw_ctl_cmd_block(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    return block_cmd(c, rq, out, 1);
}

int gw_ctl_cmd_unblock(struct gw_core *c, const struct gw_ctl_req *rq, struct gw_ctl_out *out)
{
    return block_cmd(c, rq, out, 0);
}

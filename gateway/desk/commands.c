/* commands.c — the counsellor's workflow as plain-text commands ("!next", "!close info").
 *
 * Every action works from any XMPP client: the prefix '!' is one no client swallows
 * (Profanity eats '/'); "!!text" sends a text that starts with '!'.  The same actions are
 * offered as XEP-0050 ad-hoc commands in adhoc.c, which calls gw_command_run(). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "desk/core.h"
#include "conf/i18n.h"
#include "io/log.h"

struct cmd_ctx {
    struct gw_core *c;
    const char *from; /* full JID of the counsellor */
    char bare[256];
    const char *to_local; /* queue id, conversation token or NULL (domain) */
    struct gw_conv *cv;   /* the conversation the command was written in, if any */
    const char *lang;     /* the counsellor's language */
    int supervisor;
};

typedef void (*cmd_fn)(struct cmd_ctx *x, char *args);

struct cmd_entry {
    const char *name;
    const char *alias;
    cmd_fn fn;
    const char *help_key;
    int supervisor_only;
};

static void reply(struct cmd_ctx *x, const char *text)
{
    gw_router_chat(x->c, x->to_local, x->from, text, NULL, 0);
}

static void replyf(struct cmd_ctx *x, const char *key, const char *const *vars)
{
    char text[2048];
    gw_i18n_format(x->c->i18n, x->lang, key, text, sizeof text, vars);
    reply(x, text);
}

static const char *T(struct cmd_ctx *x, const char *key)
{
    return gw_i18n_text(x->c->i18n, x->lang, key);
}

/* Queues this counsellor serves (the one written to first, if it is a queue). */
static int serves(struct cmd_ctx *x, const struct gw_queue_conf *q)
{
    return x->supervisor || gw_queue_has_counsellor(q, x->bare);
}

static void cmd_help(struct cmd_ctx *x, char *args);

static void cmd_queue(struct cmd_ctx *x, char *args)
{
    struct gw_core *c = x->c;
    int any = 0;
    for (int i = 0; i < c->cfg->nqueues; i++) {
        const struct gw_queue_conf *qc = &c->cfg->queues[i];
        if ((args && *args && strcmp(args, qc->id)) || !serves(x, qc))
            continue;
        struct gw_queue_rt *q = gw_queue_rt(c, qc->id);
        int ready = 0;
        for (int k = 0; k < qc->ncounsellors; k++)
            ready += gw_counsellor_ready(c, qc->counsellors[k], qc->id);
        char w[16], r[16], text[4096];
        snprintf(w, sizeof w, "%d", q ? q->nwaiting : 0);
        snprintf(r, sizeof r, "%d", ready);
        const char *hv[] = {"queue", qc->id, "waiting", w, "ready", r, NULL};
        size_t off =
            (size_t)gw_i18n_format(c->i18n, x->lang, "queue_status_header", text, sizeof text, hv);
        int pos = 0;
        struct gw_conv *cv;
        if (q)
            TAILQ_FOREACH(cv, &q->waiting, qlink)
            {
                char waited[64], line[512];
                gw_fmt_wait(c, x->lang, gw_now_ms(c) - cv->row.queued_at, waited, sizeof waited);
                const char *lv[] = {"nick",      cv->nick, "waited",     waited, "channel",
                                    cv->channel, "lang",   cv->row.lang, NULL};
                gw_i18n_format(c->i18n, x->lang, "queue_status_line", line, sizeof line, lv);
                if (off < sizeof text)
                    off += (size_t)snprintf(text + off, sizeof text - off, "\n%d. %s", ++pos, line);
            }
        reply(x, text);
        any = 1;
    }
    /* shared queues of partners, answered async */
    if (c->cfg->npartners && !(args && *args) && c->fed_ops)
        c->fed_ops->cmd_queue(c, x->from, x->to_local);
    if (!any && !c->cfg->npartners)
        reply(x, T(x, "not_in_queue"));
}

static void take(struct cmd_ctx *x, struct gw_conv *cv, const char *how)
{
    if (!cv) {
        reply(x, T(x, "nothing_waiting"));
        return;
    }
    const struct gw_queue_conf *qc = gw_config_queue(x->c->cfg, cv->row.queue);
    if (!qc || !serves(x, qc)) {
        reply(x, T(x, "forbidden"));
        return;
    }
    if (gw_queue_assign(x->c, cv, x->bare, how) < 0)
        reply(x, T(x, "offer_taken_by_other"));
}

static struct gw_conv *first_waiting(struct cmd_ctx *x, const char *queue)
{
    struct gw_conv *best = NULL;
    for (int i = 0; i < x->c->cfg->nqueues; i++) {
        const struct gw_queue_conf *qc = &x->c->cfg->queues[i];
        if ((queue && strcmp(queue, qc->id)) || !gw_queue_has_counsellor(qc, x->bare))
            continue;
        struct gw_queue_rt *q = gw_queue_rt(x->c, qc->id);
        struct gw_conv *cv;
        if (q)
            TAILQ_FOREACH(cv, &q->waiting, qlink)
            {
                if (cv->state == CS_OFFERED && strcmp(cv->offered_to, x->bare))
                    continue;
                if (!best || cv->row.priority > best->row.priority ||
                    (cv->row.priority == best->row.priority &&
                     cv->row.queued_at < best->row.queued_at))
                    best = cv;
                break;
            }
    }
    return best;
}

static void cmd_next(struct cmd_ctx *x, char *args)
{
    (void)args;
    const char *q = x->to_local && gw_config_queue(x->c->cfg, x->to_local) ? x->to_local : NULL;
    take(x, first_waiting(x, q), "next");
}

static void cmd_take(struct cmd_ctx *x, char *args)
{
    if (!args || !*args) {
        cmd_next(x, args);
        return;
    }
    if (strchr(args, ':')) { /* "<partner-domain>:<conv>" from a partner's shared queue */
        if (x->c->fed_ops)
            x->c->fed_ops->cmd_take(x->c, x->from, x->to_local, args);
        return;
    }
    struct gw_conv *cv = gw_conv_find(x->c, args);
    if (!cv) { /* a position number from !queue */
        int n = atoi(args);
        const char *queue =
            x->to_local && gw_config_queue(x->c->cfg, x->to_local) ? x->to_local : NULL;
        for (int i = 0; n > 0 && !cv && i < x->c->cfg->nqueues; i++) {
            const struct gw_queue_conf *qc = &x->c->cfg->queues[i];
            if ((queue && strcmp(queue, qc->id)) || !serves(x, qc))
                continue;
            struct gw_queue_rt *q = gw_queue_rt(x->c, qc->id);
            int pos = 0;
            struct gw_conv *it;
            if (q)
                TAILQ_FOREACH(it, &q->waiting, qlink)
            if (++pos == n) {
                cv = it;
                break;
            }
            if (!queue)
                break; /* numbers refer to the first queue listed */
        }
    }
    take(x, cv, "take");
}

static struct gw_conv *my_offer(struct cmd_ctx *x)
{
    if (x->cv && x->cv->state == CS_OFFERED)
        return x->cv;
    struct gw_conv *cv;
    TAILQ_FOREACH(cv, &x->c->convs, all)
    if (cv->state == CS_OFFERED && cv->offered_to && !strcmp(cv->offered_to, x->bare))
        return cv;
    return NULL;
}

static void cmd_accept(struct cmd_ctx *x, char *args)
{
    (void)args;
    struct gw_conv *cv = my_offer(x);
    if (!cv || !cv->offered_to || strcmp(cv->offered_to, x->bare)) {
        reply(x, T(x, cv ? "offer_taken_by_other" : "nothing_waiting"));
        return;
    }
    take(x, cv, "accept");
}

static void cmd_decline(struct cmd_ctx *x, char *args)
{
    (void)args;
    struct gw_conv *cv = my_offer(x);
    if (!cv || !cv->offered_to || strcmp(cv->offered_to, x->bare)) {
        reply(x, T(x, "nothing_waiting"));
        return;
    }
    gw_store_event(x->c->store, cv->row.id, gw_now_ms(x->c), "declined", x->bare, NULL);
    /* Back in line (same place) and on to the next counsellor. */
    gw_queue_remove(x->c, cv);
    cv->state = CS_QUEUED;
    size_t old = cv->declined ? strlen(cv->declined) : 0;
    char *d = realloc(cv->declined, old + strlen(x->bare) + 2);
    if (d) {
        snprintf(d + old, strlen(x->bare) + 2, "%s%s", old ? " " : "", x->bare);
        cv->declined = d;
    }
    gw_conv_save(x->c, cv);
    reply(x, T(x, "offer_declined"));
    gw_queue_enqueue(x->c, cv, cv->front);
    gw_queue_dispatch(x->c, cv->row.queue);
}

/* The conversation must be the caller's (or they supervise). */
static struct gw_conv *mine(struct cmd_ctx *x)
{
    struct gw_conv *cv = x->cv;
    if (!cv || cv->state != CS_ACTIVE || (strcmp(cv->row.counsellor, x->bare) && !x->supervisor)) {
        reply(x, T(x, "not_your_conversation"));
        return NULL;
    }
    return cv;
}

static void known_targets(struct gw_core *c, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < c->cfg->nqueues && off < len; i++)
        off +=
            (size_t)snprintf(buf + off, len - off, "%s%s", off ? ", " : "", c->cfg->queues[i].id);
    for (int i = 0; i < c->cfg->ncounsellors && off < len; i++)
        off += (size_t)snprintf(buf + off, len - off, ", %s", c->cfg->counsellors[i].jid);
}

static void cmd_transfer(struct cmd_ctx *x, char *args)
{
    struct gw_conv *cv = mine(x);
    if (!cv)
        return;
    char *target = args ? strtok(args, " ") : NULL;
    char *note = target ? strtok(NULL, "") : NULL;
    struct gw_core *c = x->c;
    const struct gw_queue_conf *qc = target ? gw_config_queue(c->cfg, target) : NULL;
    const struct gw_counsellor_conf *who = target ? gw_config_counsellor(c->cfg, target) : NULL;
    int queue_member = 0;
    for (int i = 0; target && !who && i < c->cfg->nqueues; i++)
        queue_member |= gw_queue_has_counsellor(&c->cfg->queues[i], target);
    if (!qc && !who && !queue_member) {
        char known[1024];
        known_targets(c, known, sizeof known);
        const char *v[] = {"target", target ? target : "", "known", known, NULL};
        replyf(x, "transfer_unknown_target", v);
        return;
    }
    if (note && *note)
        gw_store_msg_insert(c->store, cv->row.id, "note", note, x->bare, gw_now_ms(c), "stored",
                            NULL, NULL);
    cv->row.transfers++;
    gw_store_event(c->store, cv->row.id, gw_now_ms(c), "transfer", x->bare, target);
    const char *v[] = {"target", target, NULL};
    replyf(x, "transfer_done", v);
    if (qc) {
        snprintf(cv->row.queue, sizeof cv->row.queue, "%s", qc->id);
        const char *tv[] = {"queue",
                            qc->names[gw_lang_index(cv->row.lang)]
                                ? qc->names[gw_lang_index(cv->row.lang)]
                                : qc->id,
                            NULL};
        gw_queue_requeue(c, cv, NULL);
        gw_conv_tell(c, cv, "transferred", tv, "{\"type\":\"transferred\"}");
    } else {
        /* Straight to the colleague: requeue at the front and assign to them. */
        gw_queue_requeue(c, cv, NULL);
        if (cv->state != CS_ACTIVE)
            gw_queue_assign(c, cv, target, "take");
    }
    if (note && *note && cv->state == CS_ACTIVE)
        gw_conv_notify_counsellor(c, cv, cv->row.counsellor, note);
}

static void cmd_note(struct cmd_ctx *x, char *args)
{
    struct gw_conv *cv = mine(x);
    if (!cv || !args || !*args)
        return;
    gw_store_msg_insert(x->c->store, cv->row.id, "note", args, x->bare, gw_now_ms(x->c), "stored",
                        NULL, NULL);
    reply(x, T(x, "note_saved"));
}

static void send_as_counsellor(struct cmd_ctx *x, struct gw_conv *cv, const char *text)
{
    int64_t now = gw_now_ms(x->c);
    int64_t mid = gw_store_msg_insert(x->c->store, cv->row.id, "out", text, x->bare, now, "stored",
                                      NULL, NULL);
    if (mid > 0) {
        cv->row.last_counsellor_at = now;
        gw_conv_save(x->c, cv);
        gw_outbox_channel(x->c, mid, cv->channel, GW_MSG_TEXT);
    }
}

static void cmd_snippet(struct cmd_ctx *x, char *args)
{
    struct gw_conv *cv = mine(x);
    if (!cv)
        return;
    const char *text = gw_config_snippet(x->c->cfg, cv->row.lang, args);
    if (!text) {
        char known[1024] = "";
        size_t off = 0;
        config_setting_t *g = x->c->cfg->snippets
                                  ? config_setting_get_member(x->c->cfg->snippets, cv->row.lang)
                                  : NULL;
        if (!g && x->c->cfg->snippets)
            g = config_setting_get_member(x->c->cfg->snippets, "en");
        for (int i = 0; g && i < config_setting_length(g) && off < sizeof known; i++)
            off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", off ? ", " : "",
                                    config_setting_name(config_setting_get_elem(g, (unsigned)i)));
        const char *v[] = {"name", args ? args : "", "known", known, NULL};
        replyf(x, "snippet_unknown", v);
        return;
    }
    send_as_counsellor(x, cv, text);
}

static void cmd_close(struct cmd_ctx *x, char *args)
{
    struct gw_conv *cv = mine(x);
    if (!cv)
        return;
    struct gw_config *cfg = x->c->cfg;
    int ok = 0;
    for (int i = 0; args && i < cfg->noutcomes; i++)
        ok |= strcmp(args, cfg->outcomes[i]) == 0;
    if (!ok) {
        char list[512] = "";
        size_t off = 0;
        for (int i = 0; i < cfg->noutcomes && off < sizeof list; i++)
            off += (size_t)snprintf(list + off, sizeof list - off, "%s%s", i ? ", " : "",
                                    cfg->outcomes[i]);
        const char *v[] = {"outcomes", list, NULL};
        replyf(x, "close_needs_outcome", v);
        return;
    }
    const char *v[] = {"outcome", args, NULL};
    replyf(x, "closed_ok", v);
    gw_conv_finish(x->c, cv, CS_CLOSED, args, "closed_by_service", "counsellor");
}

struct hist_ctx {
    struct cmd_ctx *x;
    char text[4096];
    size_t off;
};

static int hist_line(void *arg, const struct gw_conv_row *r)
{
    struct hist_ctx *h = arg;
    char date[32], line[512];
    time_t t = (time_t)(r->created / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    const char *v[] = {"date",  date,     "outcome", r->outcome[0] ? r->outcome : r->state,
                       "queue", r->queue, NULL};
    gw_i18n_format(h->x->c->i18n, h->x->lang, "history_line", line, sizeof line, v);
    if (h->off < sizeof h->text)
        h->off += (size_t)snprintf(h->text + h->off, sizeof h->text - h->off, "%s%s",
                                   h->off ? "\n" : "", line);
    return 0;
}

static void cmd_history(struct cmd_ctx *x, char *args)
{
    (void)args;
    struct gw_conv *cv = mine(x);
    if (!cv)
        return;
    struct gw_seeker_row sk;
    struct hist_ctx h = {x, "", 0};
    /* Earlier conversations are shown only where the seeker allowed it. */
    if (gw_store_seeker_get(x->c->store, cv->row.seeker_id, &sk) == GW_OK && sk.history_ok)
        gw_store_conv_history(x->c->store, cv->row.seeker_id, cv->row.id, 10, hist_line, &h);
    reply(x, h.off ? h.text : T(x, "history_none"));
}

static void cmd_all(struct cmd_ctx *x, char *args)
{
    (void)args;
    char text[8192];
    size_t off = 0;
    struct gw_conv *cv;
    TAILQ_FOREACH(cv, &x->c->convs, all)
    if (off < sizeof text)
        off += (size_t)snprintf(text + off, sizeof text - off, "%s%s %s %s %s", off ? "\n" : "",
                                cv->row.token, gw_conv_state_name(cv->state), cv->nick,
                                cv->row.counsellor[0] ? cv->row.counsellor
                                                      : (cv->offered_to ? cv->offered_to : "-"));
    reply(x, off ? text : T(x, "nothing_waiting"));
}

struct stats_ctx {
    char text[8192];
    size_t off;
};

static int stats_row(void *arg, const char *group, const char *key, const char *what,
                     long long n, double wait, double handle)
{
    struct stats_ctx *s = arg;
    if (s->off < sizeof s->text)
        s->off += (size_t)snprintf(s->text + s->off, sizeof s->text - s->off,
                                   "%s%s %s %s: %lld (wait %.0f s, handle %.0f s)",
                                   s->off ? "\n" : "", group, key ? key : "-", what ? what : "-", n,
                                   wait / 1000, handle / 1000);
    return 0;
}

/* !stats [days]: counts and mean times per queue and per partner (supervisors). */
static void cmd_stats(struct cmd_ctx *x, char *args)
{
    int days = args ? atoi(args) : 30;
    struct stats_ctx s = {"", 0};
    gw_store_stats(x->c->store, gw_now_ms(x->c) - (int64_t)(days > 0 ? days : 30) * 86400000,
                   stats_row, &s);
    reply(x, s.off ? s.text : T(x, "nothing_waiting"));
}

static void cmd_reassign(struct cmd_ctx *x, char *args)
{
    char *token = args ? strtok(args, " ") : NULL, *jid = token ? strtok(NULL, " ") : NULL;
    struct gw_conv *cv = token ? gw_conv_find(x->c, token) : NULL;
    if (!cv && x->cv) { /* "!reassign <jid>" inside the conversation */
        cv = x->cv;
        jid = token;
    }
    if (!cv || !jid || !gw_config_counsellor(x->c->cfg, jid)) {
        char known[1024];
        known_targets(x->c, known, sizeof known);
        const char *v[] = {"target", jid ? jid : "", "known", known, NULL};
        replyf(x, "transfer_unknown_target", v);
        return;
    }
    if (cv->state == CS_ACTIVE)
        gw_queue_requeue(x->c, cv, NULL);
    const char *v[] = {"nick", cv->nick, "target", jid, NULL};
    if (gw_queue_assign(x->c, cv, jid, "reassign") == GW_OK)
        replyf(x, "reassigned", v);
}

static void cmd_block(struct cmd_ctx *x, char *args)
{
    struct gw_conv *cv = mine(x);
    if (!cv)
        return;
    reply(x, T(x, "blocked_ok"));
    gw_seeker_block(x->c, cv->row.seeker_id, cv->row.id, 1, args, x->bare, NULL);
}

static void cmd_lang(struct cmd_ctx *x, char *args)
{
    struct gw_conv *cv = mine(x);
    if (!cv)
        return;
    if (!args || gw_lang_index(args) < 0) {
        const char *v[] = {"lang", args ? args : "", NULL};
        replyf(x, "lang_unknown", v);
        return;
    }
    snprintf(cv->row.lang, sizeof cv->row.lang, "%s", args);
    gw_conv_save(x->c, cv);
    const char *v[] = {"lang", args, NULL};
    replyf(x, "lang_set", v);
}

static void cmd_escalate(struct cmd_ctx *x, char *args)
{
    if (x->c->fed_ops)
        x->c->fed_ops->cmd_escalate(x->c, x->from, x->cv, args);
}

static const struct cmd_entry commands[] = {
    {"help", "?", cmd_help, "help_header", 0},
    {"queue", "q", cmd_queue, "help_queue", 0},
    {"next", "n", cmd_next, "help_next", 0},
    {"take", "t", cmd_take, "help_take", 0},
    {"accept", "a", cmd_accept, "help_accept", 0},
    {"decline", "d", cmd_decline, "help_decline", 0},
    {"transfer", "tr", cmd_transfer, "help_transfer", 0},
    {"note", NULL, cmd_note, "help_note", 0},
    {"snippet", "s", cmd_snippet, "help_snippet", 0},
    {"close", "c", cmd_close, "help_close", 0},
    {"history", "h", cmd_history, "help_history", 0},
    {"escalate", "esc", cmd_escalate, "help_escalate", 0},
    {"block", NULL, cmd_block, "help_block", 0},
    {"lang", NULL, cmd_lang, "help_lang", 0},
    {"all", NULL, cmd_all, "help_supervisor", 1},
    {"reassign", NULL, cmd_reassign, "help_reassign", 1},
    {"stats", NULL, cmd_stats, "help_stats", 1},
    {NULL, NULL, NULL, NULL, 0},
};

static void cmd_help(struct cmd_ctx *x, char *args)
{
    (void)args;
    char text[4096];
    size_t off = (size_t)snprintf(text, sizeof text, "%s", T(x, "help_header"));
    for (const struct cmd_entry *e = commands + 1; e->name; e++)
        if ((!e->supervisor_only || x->supervisor) && off < sizeof text)
            off += (size_t)snprintf(text + off, sizeof text - off, "\n%s", T(x, e->help_key));
    if (off < sizeof text)
        snprintf(text + off, sizeof text - off, "\n%s", T(x, "help_escape"));
    reply(x, text);
}

void gw_command(struct gw_core *c, const char *from_full, const char *to_local, const char *text)
{
    struct cmd_ctx x = {.c = c, .from = from_full, .to_local = to_local};
    const char *slash = strchr(from_full, '/');
    snprintf(x.bare, sizeof x.bare, "%.*s",
             slash ? (int)(slash - from_full) : (int)strlen(from_full), from_full);
    const struct gw_counsellor_conf *who = gw_config_counsellor(c->cfg, x.bare);
    x.supervisor = who && who->supervisor;
    x.lang = gw_counsellor_lang(c, x.bare);
    x.cv = to_local ? gw_conv_find(c, to_local) : NULL;
    char *line = strdup(text);
    if (!line)
        return;
    char *name = line + strspn(line, " \t");
    char *args = name + strcspn(name, " \t\n");
    if (*args) {
        *args++ = 0;
        args += strspn(args, " \t");
        size_t n = strlen(args);
        while (n && (args[n - 1] == ' ' || args[n - 1] == '\n' || args[n - 1] == '\r'))
            args[--n] = 0;
    }
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    const struct cmd_entry *e = commands;
    while (e->name && strcmp(e->name, name) && (!e->alias || strcmp(e->alias, name)))
        e++;
    if (!e->name) {
        const char *v[] = {"command", name, NULL};
        replyf(&x, "unknown_command", v);
    } else if (e->supervisor_only && !x.supervisor) {
        GW_WARN("command !%s from %s refused: supervisors only", e->name, x.bare);
        reply(&x, T(&x, "forbidden"));
    } else {
        e->fn(&x, *args ? args : NULL);
    }
    free(line);
}

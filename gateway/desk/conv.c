/* conv.c — open conversations in memory, their persistence, and texts to seekers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "desk/core.h"
#include "io/hashmap.h"
#include "conf/i18n.h"
#include "io/log.h"
#include "io/loop.h"
#include "io/xmpp.h"

static const char *const state_names[] = {"queued", "offered",   "active",
                                          "closed", "abandoned", "expired"};

const char *gw_conv_state_name(enum gw_conv_state s)
{
    return state_names[s];
}

static enum gw_conv_state state_parse(const char *s)
{
    for (int i = 0; i < 6; i++)
        if (strcmp(s, state_names[i]) == 0)
            return (enum gw_conv_state)i;
    return CS_QUEUED;
}

static void seeker_key(const char *channel, const char *address, char *buf, size_t len)
{
    snprintf(buf, len, "%s\n%s", channel, address);
}

static const char *channel_label(const char *channel)
{
    static const struct {
        const char *ch, *label;
    } labels[] = {{"sms", "SMS"}, {"webchat", "Web"}, {"email", "E-mail"}, {"loopback", "Test"}};
    for (size_t i = 0; i < sizeof labels / sizeof *labels; i++)
        if (strcmp(labels[i].ch, channel) == 0)
            return labels[i].label;
    return channel;
}

static void make_nick(struct gw_conv *cv)
{
    snprintf(cv->nick, sizeof cv->nick, "%s %s \u00b7 %s \u00b7 %s", channel_label(cv->channel),
             cv->display[0] ? cv->display : "-", cv->row.lang, cv->row.queue);
}

struct gw_conv *gw_conv_find(struct gw_core *c, const char *token)
{
    return token ? gw_map_get(c->desk.conv_by_token, token) : NULL;
}

/* The key of a conversation's id in conv_by_token: "#" and the id in decimal (written by
 * hand: this lookup runs for every delivery). */
static void id_key(int64_t id, char key[24])
{
    char digits[21];
    int n = 0;
    uint64_t v = id < 0 ? 0 - (uint64_t)id : (uint64_t)id;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < 20);
    char *p = key;
    *p++ = '#';
    if (id < 0)
        *p++ = '-';
    while (n)
        *p++ = digits[--n];
    *p = 0;
}

struct gw_conv *gw_conv_by_id(struct gw_core *c, int64_t id)
{
    char idkey[24];
    id_key(id, idkey);
    return gw_map_get(c->desk.conv_by_token, idkey);
}

struct gw_conv *gw_conv_for_seeker(struct gw_core *c, const char *channel, const char *address)
{
    char key[320];
    seeker_key(channel, address, key, sizeof key);
    return gw_map_get(c->desk.conv_by_seeker, key);
}

static void index_conv(struct gw_core *c, struct gw_conv *cv)
{
    char key[320];
    seeker_key(cv->channel, cv->address, key, sizeof key);
    char idkey[24];
    id_key(cv->row.id, idkey);
    gw_map_set(c->desk.conv_by_token, cv->row.token, cv);
    gw_map_set(c->desk.conv_by_token, idkey, cv); /* tokens never start with '#' */
    gw_map_set(c->desk.conv_by_seeker, key, cv);
    TAILQ_INSERT_TAIL(&c->desk.convs, cv, all);
    c->desk.nconvs++;
}

static void new_token(char *buf, size_t len)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned char r[12];
    if (getrandom(r, sizeof r, 0) != (ssize_t)sizeof r)
        for (size_t i = 0; i < sizeof r; i++)
            r[i] = (unsigned char)rand();
    char t[16] = "c-";
    for (size_t i = 0; i < sizeof r; i++)
        t[2 + i] = alphabet[r[i] & 31];
    t[14] = 0;
    snprintf(buf, len, "%s", t);
}

struct gw_conv *gw_conv_open(struct gw_core *c, int64_t seeker_id, const char *channel,
                             const char *address, const char *display, const char *queue,
                             const char *lang, const char *meta_json)
{
    struct gw_conv *cv = calloc(1, sizeof *cv);
    if (!cv)
        return NULL;
    cv->core = c;
    int64_t now = gw_now_ms(c);
    do
        new_token(cv->row.token, sizeof cv->row.token);
    while (gw_conv_find(c, cv->row.token));
    cv->row.seeker_id = seeker_id;
    snprintf(cv->row.queue, sizeof cv->row.queue, "%s", queue);
    snprintf(cv->row.lang, sizeof cv->row.lang, "%s", lang);
    snprintf(cv->row.state, sizeof cv->row.state, "queued");
    const struct gw_queue_conf *qc = gw_config_queue(c->cfg, queue);
    cv->row.priority = qc ? qc->priority : 0;
    cv->row.created = now;
    cv->row.queued_at = now;
    cv->row.last_seeker_at = now;
    if (meta_json) {
        /* Cut JSON is no JSON: a form too long to keep is dropped here (every message keeps
         * its full meta in the messages table). */
        if (strlen(meta_json) < sizeof cv->row.meta)
            snprintf(cv->row.meta, sizeof cv->row.meta, "%s", meta_json);
        else
            GW_WARN("conversation pre-chat form of %zu bytes not kept (max %zu)", strlen(meta_json),
                    sizeof cv->row.meta - 1);
    }
    snprintf(cv->channel, sizeof cv->channel, "%s", channel);
    snprintf(cv->address, sizeof cv->address, "%s", address);
    snprintf(cv->display, sizeof cv->display, "%s", display ? display : "");
    cv->state = CS_QUEUED;
    int64_t id = gw_store_conv_insert(c->store, &cv->row);
    if (id < 0) {
        free(cv);
        return NULL;
    }
    cv->row.id = id;
    make_nick(cv);
    index_conv(c, cv);
    gw_store_event(c->store, id, now, "opened", channel, queue);
    gw_queue_arm(c, cv); /* max_wait, abandonment, overflow count from now */
    return cv;
}

void gw_conv_touch(struct gw_core *c, struct gw_conv *cv)
{
    /* A seeker's message to a counsellor who had answered starts the counsellor_timeout,
     * which can be earlier than the deadline the conversation's timer sleeps until.  Every
     * other change of activity only moves deadlines later: no timer work per message. */
    int64_t due = gw_queue_unanswered_due(c, cv);
    if (due >= 0 && (!cv->due_timer || due < cv->due_at))
        gw_queue_arm(c, cv);
    if (cv->touched)
        return;
    if (c->desk.ntouched == c->desk.captouched) {
        size_t ncap = c->desk.captouched ? c->desk.captouched * 2 : 64;
        int64_t *n = realloc(c->desk.touched, ncap * sizeof *n);
        if (!n) { /* no memory to defer: write now */
            gw_store_conv_touch(c->store, &cv->row);
            return;
        }
        c->desk.touched = n;
        c->desk.captouched = ncap;
    }
    c->desk.touched[c->desk.ntouched++] = cv->row.id;
    cv->touched = 1;
}

void gw_conv_flush_touches(struct gw_core *c)
{
    for (size_t i = 0; i < c->desk.ntouched; i++) {
        struct gw_conv *cv = gw_conv_by_id(c, c->desk.touched[i]);
        if (cv && cv->touched) /* closed ones were saved whole and are gone */
            gw_store_conv_touch(c->store, &cv->row);
        if (cv)
            cv->touched = 0;
    }
    c->desk.ntouched = 0;
}

int gw_conv_save(struct gw_core *c, struct gw_conv *cv)
{
    cv->touched = 0; /* the whole row, activity times included */
    snprintf(cv->row.state, sizeof cv->row.state, "%s", state_names[cv->state]);
    gw_queue_arm(c, cv); /* a state change can bring a deadline nearer (or remove it) */
    return gw_store_conv_update(c->store, &cv->row);
}

static void conv_release(struct gw_core *c, struct gw_conv *cv)
{
    char key[320];
    seeker_key(cv->channel, cv->address, key, sizeof key);
    if (gw_map_get(c->desk.conv_by_seeker, key) == cv)
        gw_map_del(c->desk.conv_by_seeker, key);
    char idkey[24];
    id_key(cv->row.id, idkey);
    gw_map_del(c->desk.conv_by_token, cv->row.token);
    gw_map_del(c->desk.conv_by_token, idkey);
    TAILQ_REMOVE(&c->desk.convs, cv, all);
    c->desk.nconvs--;
    if (cv->offer_timer)
        gw_loop_timer_cancel(c->loop, cv->offer_timer);
    if (cv->due_timer)
        gw_loop_timer_cancel(c->loop, cv->due_timer);
    free(cv->offered_to);
    free(cv->declined);
    free(cv->reply_ref);
    free(cv->esc_partner);
    free(cv->esc_note);
    free(cv->esc_requester);
    free(cv);
}

void gw_conv_finish(struct gw_core *c, struct gw_conv *cv, enum gw_conv_state st,
                    const char *outcome, const char *text_key, const char *reason)
{
    int64_t now = gw_now_ms(c);
    gw_queue_remove(c, cv);
    char queue[64];
    snprintf(queue, sizeof queue, "%s", cv->row.queue);
    if (text_key) {
        const char *text = gw_i18n_text(c->i18n, cv->row.lang, text_key);
        char meta[128];
        snprintf(meta, sizeof meta, "{\"type\":\"closed\",\"reason\":\"%s\"}",
                 reason ? reason : "service");
        int64_t mid = gw_store_msg_insert(c->store, cv->row.id, "auto", text, NULL, now, "stored",
                                          NULL, meta);
        if (mid > 0)
            gw_outbox_channel(c, mid, cv->channel, GW_MSG_CLOSED);
    }
    if (cv->row.role == 1 && (!reason || strcmp(reason, "partner"))) {
        /* Served by a partner: tell them (durably, through the outbox). */
        int64_t cid = gw_store_msg_insert(c->store, cv->row.id, "sys", reason ? reason : "closed",
                                          NULL, now, "stored", NULL, "{\"type\":\"fed-close\"}");
        if (cid > 0)
            gw_outbox_channel(c, cid, GW_FED_CHANNEL, GW_MSG_CLOSED);
    }
    cv->state = st;
    cv->row.closed_at = now;
    if (outcome)
        snprintf(cv->row.outcome, sizeof cv->row.outcome, "%s", outcome);
    gw_conv_save(c, cv);
    gw_store_event(c->store, cv->row.id, now, state_names[st], cv->row.counsellor,
                   outcome ? outcome : reason);
    gw_retention_closed(c, cv);
    conv_release(c, cv);
    gw_queue_dispatch(c, queue); /* capacity freed or the queue changed */
}

struct load_ctx {
    struct gw_core *c;
    int n;
};

static int load_one(void *arg, const struct gw_conv_row *r)
{
    struct load_ctx *lc = arg;
    struct gw_core *c = lc->c;
    struct gw_conv *cv = calloc(1, sizeof *cv);
    struct gw_seeker_row sk;
    if (!cv || gw_store_seeker_get(c->store, r->seeker_id, &sk) < 0) {
        free(cv);
        return 0;
    }
    cv->core = c;
    cv->row = *r;
    cv->state = state_parse(r->state);
    cv->quiet = strstr(r->meta, "\"quiet\":true") != NULL;
    snprintf(cv->channel, sizeof cv->channel, "%s", sk.channel);
    snprintf(cv->address, sizeof cv->address, "%s", sk.address);
    snprintf(cv->display, sizeof cv->display, "%s", sk.display);
    make_nick(cv);
    index_conv(c, cv);
    if (cv->state == CS_OFFERED) /* an offer does not survive a restart */
        cv->state = CS_QUEUED;
    if (cv->state == CS_QUEUED)
        gw_queue_enqueue(c, cv, 0);
    gw_queue_arm(c, cv); /* deadlines that passed while the daemon was down fire at once */
    lc->n++;
    return 0;
}

int gw_conv_load_all(struct gw_core *c)
{
    struct load_ctx lc = {c, 0};
    gw_store_conv_open_each(c->store, load_one, &lc);
    return lc.n;
}

/* Drop a conversation from memory only (its store row says something else). */
static void conv_forget(struct gw_core *c, struct gw_conv *cv)
{
    struct gw_queue_rt *q = gw_queue_rt(c, cv->row.queue);
    if (q && (cv->state == CS_QUEUED || cv->state == CS_OFFERED)) {
        TAILQ_REMOVE(&q->waiting, cv, qlink);
        q->nwaiting--;
        q->positions_all = 1;
    }
    conv_release(c, cv);
}

/* The fields a turn changes together with the store; if memory and store disagree on any,
 * the turn that changed them was rolled back. */
static int same_as_row(const struct gw_conv *cv, const struct gw_conv_row *r)
{
    return !strcmp(state_names[cv->state], r->state) && !strcmp(cv->row.counsellor, r->counsellor) &&
           !strcmp(cv->row.queue, r->queue) && cv->row.role == r->role &&
           cv->row.transfers == r->transfers && !strcmp(cv->row.partner, r->partner);
}

static int reconcile_one(void *arg, const struct gw_conv_row *r)
{
    struct load_ctx *lc = arg;
    struct gw_conv *cv = gw_conv_by_id(lc->c, r->id);
    if (cv && same_as_row(cv, r)) {
        cv->seen = 1;
        cv->reply_ref_known = 0; /* the cached ref may be one the turn stored */
        return 0;
    }
    if (cv)
        conv_forget(lc->c, cv);
    load_one(arg, r);
    if ((cv = gw_conv_by_id(lc->c, r->id)))
        cv->seen = 1;
    return 0;
}

void gw_conv_reconcile(struct gw_core *c)
{
    struct gw_conv *cv, *next;
    TAILQ_FOREACH(cv, &c->desk.convs, all)
        cv->seen = cv->touched = 0;
    struct load_ctx lc = {c, 0};
    gw_store_conv_open_each(c->store, reconcile_one, &lc);
    int dropped = 0;
    TAILQ_FOREACH_SAFE(cv, &c->desk.convs, all, next)
        if (!cv->seen) { /* opened by the rolled-back turn (or closed in the store) */
            conv_forget(c, cv);
            dropped++;
        }
    c->desk.ntouched = 0; /* ids of the dropped ones may be among them; times are a second's worth */
    if (lc.n || dropped)
        GW_INFO("store: after the rollback %d conversation(s) reloaded, %d dropped", lc.n,
                dropped);
    for (int i = 0; i < c->cfg->nqueues; i++)
        gw_queue_dispatch(c, c->cfg->queues[i].id);
}

void gw_conv_free_all(struct gw_core *c)
{
    struct gw_conv *cv;
    while ((cv = TAILQ_FIRST(&c->desk.convs))) {
        struct gw_queue_rt *q = gw_queue_rt(c, cv->row.queue);
        if (q && (cv->state == CS_QUEUED || cv->state == CS_OFFERED)) {
            TAILQ_REMOVE(&q->waiting, cv, qlink);
            q->nwaiting--;
        }
        conv_release(c, cv);
    }
    free(c->desk.touched);
    c->desk.touched = NULL;
    c->desk.ntouched = c->desk.captouched = 0;
}

const char *gw_conv_jid(struct gw_core *c, const struct gw_conv *cv, char *buf, size_t len)
{
    snprintf(buf, len, "%s@%s", cv->row.token, c->cfg->domain);
    return buf;
}

int gw_conv_tell(struct gw_core *c, struct gw_conv *cv, const char *key, const char *const *vars,
                 const char *meta_json)
{
    if (cv->quiet)
        return GW_OK; /* never answer a robot automatically (RFC 3834) */
    char text[2048];
    gw_i18n_format(c->i18n, cv->row.lang, key, text, sizeof text, vars);
    int64_t mid = gw_store_msg_insert(c->store, cv->row.id, "auto", text, NULL, gw_now_ms(c),
                                      "stored", NULL, meta_json);
    if (mid < 0)
        return (int)mid;
    return gw_outbox_channel_msg(c, mid, cv->channel, GW_MSG_AUTO, cv->row.id, text, meta_json);
}

int gw_conv_notify_counsellor(struct gw_core *c, struct gw_conv *cv, const char *jid,
                              const char *text)
{
    return gw_router_chat(c, cv->row.token, jid, text, cv->nick, 0);
}

const char *gw_counsellor_lang(struct gw_core *c, const char *bare_jid)
{
    const struct gw_counsellor_conf *k = gw_config_counsellor(c->cfg, bare_jid);
    return k && k->lang ? k->lang : c->cfg->default_lang;
}

const char *gw_counsellor_name(struct gw_core *c, const char *bare_jid)
{
    const struct gw_counsellor_conf *k = gw_config_counsellor(c->cfg, bare_jid);
    if (k && k->name)
        return k->name;
    return gw_i18n_text(c->i18n, c->cfg->default_lang, "counsellor_default_name");
}

/* --- transcripts --- */

struct tr_ctx {
    struct gw_core *c;
    const char *lang;
    char *buf;
    size_t len, cap;
};

static int tr_line(void *arg, const struct gw_msg_row *m)
{
    struct tr_ctx *t = arg;
    time_t s = (time_t)(m->created / 1000);
    struct tm tm;
    char when[32];
    localtime_r(&s, &tm);
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", &tm);
    const char *who = !strcmp(m->dir, "in") ? gw_i18n_text(t->c->i18n, t->lang, "transcript_you")
                      : !strcmp(m->dir, "out")
                          ? gw_i18n_text(t->c->i18n, t->lang, "transcript_counsellor")
                          : gw_i18n_text(t->c->i18n, t->lang, "transcript_service");
    size_t need = strlen(when) + strlen(who) + strlen(m->body ? m->body : "") + 8;
    if (t->len + need >= t->cap) {
        size_t ncap = (t->cap + need) * 2;
        char *nb = realloc(t->buf, ncap);
        if (!nb)
            return 1;
        t->buf = nb;
        t->cap = ncap;
    }
    t->len += (size_t)snprintf(t->buf + t->len, t->cap - t->len, "[%s] %s: %s\n", when, who,
                               m->body ? m->body : "");
    return 0;
}

char *gw_transcript_text(struct gw_core *c, const struct gw_conv_row *r)
{
    struct tr_ctx t = {c, r->lang, NULL, 0, 0};
    char date[32], head[512];
    time_t s = (time_t)(r->created / 1000);
    struct tm tm;
    localtime_r(&s, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    const char *v[] = {"date", date, NULL};
    gw_i18n_format(c->i18n, r->lang, "transcript_header", head, sizeof head, v);
    t.cap = strlen(head) + 1024;
    t.buf = malloc(t.cap);
    if (!t.buf)
        return NULL;
    t.len = (size_t)snprintf(t.buf, t.cap, "%s\n\n", head);
    gw_store_msg_each(c->store, r->id, 0, "in,out,auto", tr_line, &t);
    return t.buf;
}

/* router.c — the message paths: seeker -> store -> counsellor, counsellor -> store -> seeker,
 * presence for queue sign-in, and service discovery. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/calendar.h"
#include "desk/core.h"
#include "io/hashmap.h"
#include "io/http.h"
#include "conf/i18n.h"
#include "io/log.h"
#include "io/xmpp.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_CHATSTATES "http://jabber.org/protocol/chatstates"
#define NS_RECEIPTS "urn:xmpp:receipts"
#define NS_NICK "http://jabber.org/protocol/nick"
#define NS_SID "urn:xmpp:sid:0"
#define NS_COMMANDS "http://jabber.org/protocol/commands"

static xmpp_stanza_t *child_ns(xmpp_stanza_t *st, const char *ns)
{
    for (xmpp_stanza_t *ch = xmpp_stanza_get_children(st); ch; ch = xmpp_stanza_get_next(ch))
        if (xmpp_stanza_is_tag(ch) && xmpp_stanza_get_ns(ch) && !strcmp(xmpp_stanza_get_ns(ch), ns))
            return ch;
    return NULL;
}

static void add_text_child(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name, const char *ns,
                           const char *text)
{
    xmpp_stanza_t *e = xmpp_stanza_new(ctx), *t = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(e, name);
    if (ns)
        xmpp_stanza_set_ns(e, ns);
    xmpp_stanza_set_text(t, text);
    xmpp_stanza_add_child_ex(e, t, 0);
    xmpp_stanza_add_child_ex(parent, e, 0);
}

static void add_empty_child(xmpp_ctx_t *ctx, xmpp_stanza_t *parent, const char *name,
                            const char *ns, const char *attr, const char *val)
{
    xmpp_stanza_t *e = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(e, name);
    if (ns)
        xmpp_stanza_set_ns(e, ns);
    if (attr)
        xmpp_stanza_set_attribute(e, attr, val);
    xmpp_stanza_add_child_ex(parent, e, 0);
}

/* Serialize and queue durably. */
int gw_router_queue_stanza(struct gw_core *c, xmpp_stanza_t *st, int64_t msg_id)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = GW_ENOMEM;
    if (xmpp_stanza_to_text(st, &buf, &len) == XMPP_EOK) {
        rc = gw_outbox_xmpp(c, msg_id, buf);
        xmpp_free(gw_xmpp_ctx(c->xmpp), buf);
    }
    xmpp_stanza_release(st);
    return rc;
}

int gw_router_chat(struct gw_core *c, const char *from_local, const char *to, const char *body,
                   const char *nick, int64_t msg_id)
{
    char from[400], id[48];
    if (from_local)
        snprintf(from, sizeof from, "%s@%s", from_local, c->cfg->domain);
    else
        snprintf(from, sizeof from, "%s", c->cfg->domain);
    /* Stable ids: a resend after a crash carries the same id (XEP-0359 origin-id). */
    if (msg_id)
        snprintf(id, sizeof id, "gw-m%lld", (long long)msg_id);
    else
        snprintf(id, sizeof id, "gw-n%llx-%llu", (unsigned long long)gw_now_ms(c),
                 (unsigned long long)++c->desk.stanza_seq);
    /* Written directly rather than built as a libstrophe tree and serialised: this is every
     * seeker message's path, and the tree cost a dozen allocations per message. */
    char *safe = gw_xml_safe(body, (size_t)c->cfg->max_body_bytes * 4);
    char *snick = nick ? gw_xml_safe(nick, 1024) : NULL;
    size_t cap = 6 * (strlen(to) + strlen(from) + (safe ? strlen(safe) : 0) +
                      (snick ? strlen(snick) : 0)) +
                 2 * sizeof id + 256;
    char *xml = malloc(cap);
    if (!safe || (nick && !snick) || !xml) {
        free(safe);
        free(snick);
        free(xml);
        return GW_ENOMEM;
    }
    char *p = stpcpy(xml, "<message type=\"chat\" to=\"");
    p = gw_xml_escape(p, to);
    p = stpcpy(stpcpy(stpcpy(p, "\" id=\""), id), "\" from=\"");
    p = gw_xml_escape(p, from);
    p = gw_xml_escape(stpcpy(p, "\"><body>"), safe);
    p = stpcpy(p, "</body>");
    if (snick)
        p = stpcpy(gw_xml_escape(stpcpy(p, "<nick xmlns=\"" NS_NICK "\">"), snick), "</nick>");
    p = stpcpy(stpcpy(stpcpy(p, "<origin-id xmlns=\"" NS_SID "\" id=\""), id), "\"/>");
    stpcpy(p, "<active xmlns=\"" NS_CHATSTATES "\"/></message>");
    int rc = gw_outbox_xmpp(c, msg_id, xml);
    free(xml);
    free(safe);
    free(snick);
    return rc;
}

/* Forward a seeker's stored message to the counsellor serving the conversation. */
static void forward_to_counsellor(struct gw_core *c, struct gw_conv *cv, int64_t msg_id,
                                  const char *body)
{
    if (cv->state == CS_ACTIVE && cv->row.counsellor[0])
        gw_router_chat(c, cv->row.token, cv->row.counsellor, body, cv->nick, msg_id);
}

struct replay_ctx {
    struct gw_core *c;
    struct gw_conv *cv;
    const char *jid;
};

static int replay_one(void *arg, const struct gw_msg_row *m)
{
    struct replay_ctx *rc = arg;
    gw_router_chat(rc->c, rc->cv->row.token, rc->jid, m->body, rc->cv->nick, m->id);
    return 0;
}

void gw_router_replay_to_counsellor(struct gw_core *c, struct gw_conv *cv, const char *jid)
{
    json_t *meta = cv->row.meta[0] ? json_loads(cv->row.meta, 0, NULL) : NULL;
    json_t *fields = json_object_get(meta, "fields");
    if (json_is_object(fields) && json_object_size(fields)) {
        /* Pre-chat fields: the first, clearly marked message, one "name: value" per line. */
        char text[1400];
        size_t off =
            (size_t)snprintf(text, sizeof text, "%s",
                             gw_i18n_text(c->i18n, gw_counsellor_lang(c, jid), "prechat_fields"));
        const char *k;
        json_t *v;
        json_object_foreach(fields, k, v)
        {
            if (off >= sizeof text)
                break;
            char *vs = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            off += (size_t)snprintf(text + off, sizeof text - off, "\n%s: %s", k,
                                    vs ? vs : json_string_value(v));
            free(vs);
        }
        gw_conv_notify_counsellor(c, cv, jid, text);
    }
    json_decref(meta);
    struct replay_ctx rc = {c, cv, jid};
    gw_store_msg_each(c->store, cv->row.id, 0, "in,note", replay_one, &rc);
}

int gw_router_submit(struct gw_core *c, const char *channel, const struct gw_inbound *in,
                     struct gw_submitted *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (!in->address || !*in->address) {
        snprintf(err, errlen, "no seeker address");
        return GW_EINVAL;
    }
    const char *raw = in->body ? in->body : "";
    if (strlen(raw) > (size_t)c->cfg->max_body_bytes) {
        snprintf(err, errlen, "message too long (%zu bytes, at most %d)", strlen(raw),
                 c->cfg->max_body_bytes);
        return GW_ELIMIT;
    }
    if (!*raw && !in->new_conversation) {
        snprintf(err, errlen, "empty message");
        return GW_EINVAL;
    }
    if (in->channel_msg_id) {
        int64_t dup = gw_store_dedup_find(c->store, channel, in->channel_msg_id);
        if (dup > 0) {
            struct gw_msg_row m;
            out->duplicate = 1;
            out->msg_id = dup;
            struct gw_conv *dcv;
            if (gw_store_msg_get(c->store, dup, &m) == GW_OK && (dcv = gw_conv_by_id(c, m.conv_id)))
                snprintf(out->conv, sizeof out->conv, "%s", dcv->row.token);
            return GW_OK;
        }
    }
    /* XML 1.0 forbids most control characters; one of them in a body would make the server
     * close our whole stream.  Clean here, once, before anything is stored. */
    char *body = gw_xml_safe(raw, (size_t)c->cfg->max_body_bytes);
    if (!body)
        return GW_ENOMEM;
    if (*raw && !*body) {
        free(body);
        snprintf(err, errlen, "message has no readable text (binary?)");
        return GW_EINVAL;
    }
    if (gw_store_doomed(c->store)) { /* this turn already failed to store: see turn.c */
        free(body);
        snprintf(err, errlen, "storage failure");
        return GW_EIO;
    }
    const char *lang = in->lang && gw_lang_index(in->lang) >= 0 ? in->lang : c->cfg->default_lang;
    /* meta_json: "fields" (pre-chat form) belong to the conversation and are shown to the
     * counsellor; "auto": true marks mail from a robot, never answered automatically; the
     * whole object is kept with the message for the record. */
    json_t *meta = in->meta_json ? json_loads(in->meta_json, 0, NULL) : NULL;
    json_t *fields = json_object_get(meta, "fields");
    int robot = json_is_true(json_object_get(meta, "auto"));
    /* A seeker may let counsellors see their earlier conversations (!history), e.g. by a
     * pre-chat checkbox; the channel passes it as "allow_history". */
    int allow_history = json_is_true(json_object_get(meta, "allow_history")) ||
                        json_is_true(json_object_get(fields, "allow_history"));
    char *conv_meta = NULL;
    if (json_is_object(fields) || robot) {
        json_t *cm = json_object();
        if (json_is_object(fields))
            json_object_set(cm, "fields", fields);
        if (robot)
            json_object_set_new(cm, "quiet", json_true());
        conv_meta = json_dumps(cm, JSON_COMPACT);
        json_decref(cm);
    }
    json_decref(meta);
    struct gw_conv *cv = NULL;
    if (in->conv) {
        cv = gw_conv_find(c, in->conv);
        if (cv && (strcmp(cv->channel, channel) || strcmp(cv->address, in->address)))
            cv = NULL; /* a token alone never joins someone else's conversation */
    }
    if (!cv && !in->new_conversation && !in->conv)
        cv = gw_conv_for_seeker(c, channel, in->address);
    /* A seeker with an open conversation costs no lookup (and is not blocked: blocking closes
     * the conversation); otherwise one lookup, and only a new seeker is inserted. */
    struct gw_seeker_row sk = {.id = cv ? cv->row.seeker_id : 0};
    int64_t sid = sk.id;
    if (!cv || allow_history) {
        if (gw_store_seeker_find(c->store, channel, in->address, &sk) == GW_OK)
            sid = sk.id;
        else if ((sid = gw_store_seeker_upsert(c->store, channel, in->address, in->display,
                                               lang)) < 0 ||
                 gw_store_seeker_get(c->store, sid, &sk) < 0)
            sid = -1;
    }
    if (sid < 0) {
        free(conv_meta);
        free(body);
        snprintf(err, errlen, "storage failure");
        return GW_EIO;
    }
    if (sk.blocked) {
        free(conv_meta);
        free(body);
        snprintf(err, errlen, "seeker is blocked on this channel");
        return GW_EPERM;
    }
    if (allow_history && !sk.history_ok)
        gw_store_seeker_history_ok(c->store, sid, 1);
    int fresh = 0;
    if (!cv) {
        const char *queue =
            in->queue && gw_config_queue(c->cfg, in->queue) ? in->queue : c->cfg->default_queue;
        cv = gw_conv_open(c, sid, channel, in->address, in->display, queue, lang, conv_meta);
        if (!cv) {
            free(conv_meta);
            free(body);
            snprintf(err, errlen, "storage failure");
            return GW_EIO;
        }
        fresh = 1;
        cv->quiet = robot;
    } else if (!robot) {
        cv->quiet = 0; /* a person writes: automatic texts are fine again */
    }
    free(conv_meta);
    int64_t now = gw_now_ms(c);
    int64_t mid = 0;
    if (*body) {
        mid = gw_store_msg_insert(c->store, cv->row.id, "in", body, NULL, now, "stored", NULL,
                                  in->meta_json);
        if (mid < 0) {
            free(body);
            snprintf(err, errlen, "storage failure");
            return GW_EIO;
        }
        if (in->channel_msg_id) {
            gw_store_dedup_add(c->store, channel, in->channel_msg_id, mid);
            gw_store_msg_set_ref(c->store, mid, in->channel_msg_id);
            free(cv->reply_ref);
            cv->reply_ref = strdup(in->channel_msg_id);
            cv->reply_ref_known = cv->reply_ref != NULL;
        }
        cv->row.last_seeker_at = now;
        gw_conv_touch(c, cv);
    }
    out->msg_id = mid;
    snprintf(out->conv, sizeof out->conv, "%s", cv->row.token);
    if (fresh) {
        gw_conv_tell(c, cv, "welcome", NULL, "{\"type\":\"welcome\"}");
        gw_conv_tell(c, cv, "privacy_notice", NULL, "{\"type\":\"privacy\"}");
        gw_queue_tell_closed(c, cv);
        gw_queue_enqueue(c, cv, 0);
        gw_queue_dispatch(c, cv->row.queue);
    } else if (mid && cv->row.role == 1) {
        gw_outbox_channel(c, mid, GW_FED_CHANNEL, GW_MSG_TEXT); /* served by a partner */
    } else if (mid) {
        forward_to_counsellor(c, cv, mid, body);
        if (cv->esc_partner)
            gw_fed_consent_call(c, cv, body);
    }
    free(body);
    /* Store first, then acknowledge.  Inside an HTTP handler the answer is the
     * acknowledgement, and the HTTP layer holds it until the end-of-turn commit (group
     * commit: one per loop turn, not per message); elsewhere (an IMAP fetch marks the mail
     * processed next) the caller needs it committed now. */
    if (!gw_http_in_handler(c->http) && gw_turn_commit(c) < 0) {
        snprintf(err, errlen, "storage failure");
        return GW_EIO;
    }
    char masked[96];
    GW_DEBUG("%s: message %lld from %s stored in %s", channel, (long long)mid,
            gw_mask_address(in->address, masked, sizeof masked), cv->row.token);
    return GW_OK;
}

void gw_router_seeker_event(struct gw_core *c, const char *conv, enum gw_seeker_event ev)
{
    struct gw_conv *cv = gw_conv_find(c, conv);
    if (!cv)
        return;
    if (ev == GW_EV_ENDED) {
        if (cv->state == CS_ACTIVE)
            gw_conv_notify_counsellor(
                c, cv, cv->row.counsellor,
                gw_i18n_text(c->i18n, gw_counsellor_lang(c, cv->row.counsellor), "seeker_ended"));
        gw_conv_finish(c, cv, CS_CLOSED, "seeker-ended", NULL, "seeker");
        return;
    }
    if ((ev == GW_EV_COMPOSING || ev == GW_EV_PAUSED) && cv->state == CS_ACTIVE &&
        gw_xmpp_online(c->xmpp)) {
        /* Typing is ephemeral: sent when the link is up, never stored. */
        xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
        char from[128];
        gw_conv_jid(c, cv, from, sizeof from);
        xmpp_stanza_t *m = xmpp_message_new(ctx, "chat", cv->row.counsellor, NULL);
        xmpp_stanza_set_from(m, from);
        add_empty_child(ctx, m, ev == GW_EV_COMPOSING ? "composing" : "paused", NS_CHATSTATES, NULL,
                        NULL);
        gw_xmpp_send(c->xmpp, m);
        xmpp_stanza_release(m);
    }
}

/* --- from XMPP --- */

static void split_to(struct gw_core *c, const char *to, char *local, size_t len)
{
    local[0] = 0;
    if (!to)
        return;
    const char *at = strchr(to, '@');
    if (!at)
        return;
    size_t dlen = strlen(c->cfg->domain);
    if (strncmp(at + 1, c->cfg->domain, dlen) != 0 || (at[1 + dlen] && at[1 + dlen] != '/'))
        return;
    snprintf(local, len, "%.*s", (int)(at - to), to);
}

static void bare_jid(const char *full, char *bare, size_t len)
{
    const char *f = full ? full : "";
    const char *slash = strchr(f, '/');
    gw_copyn(bare, len, f, slash ? (size_t)(slash - f) : strlen(f));
}

static void typing_to_seeker(struct gw_core *c, struct gw_conv *cv, const char *state)
{
    struct gw_msg m = {.kind = GW_MSG_TYPING,
                       .conv = cv->row.token,
                       .address = cv->address,
                       .lang = cv->row.lang,
                       .body = state,
                       .queue = cv->row.queue};
    char err[128];
    gw_channel_deliver(c, cv->channel, &m, err, sizeof err);
}

void gw_router_xmpp_message(void *arg, xmpp_stanza_t *st)
{
    struct gw_core *c = arg;
    const char *type = xmpp_stanza_get_type(st);
    const char *from = xmpp_stanza_get_from(st);
    if (!from || (type && (!strcmp(type, "error") || !strcmp(type, "groupchat"))))
        return;
    char bare[256], local[128];
    bare_jid(from, bare, sizeof bare);
    split_to(c, xmpp_stanza_get_to(st), local, sizeof local);
    const struct gw_counsellor_conf *who = gw_config_counsellor(c->cfg, bare);
    int in_some_queue = 0;
    for (int i = 0; i < c->cfg->nqueues; i++)
        in_some_queue |= gw_queue_has_counsellor(&c->cfg->queues[i], bare);
    if (!who && !in_some_queue) {
        GW_WARN("message from %s to %s refused: not a configured counsellor", bare,
                local[0] ? local : c->cfg->domain);
        gw_xmpp_stanza_error(c->xmpp, st, "auth", "forbidden", NULL);
        return;
    }
    xmpp_stanza_t *bst = xmpp_stanza_get_child_by_name(st, "body");
    char *body = bst ? xmpp_stanza_get_text(bst) : NULL;
    struct gw_conv *cv = local[0] ? gw_conv_find(c, local) : NULL;
    if (!body) {
        /* Chat states only (XEP-0085). */
        if (cv && cv->state == CS_ACTIVE && !strcmp(cv->row.counsellor, bare)) {
            if (child_ns(st, NS_CHATSTATES)) {
                xmpp_stanza_t *cs = child_ns(st, NS_CHATSTATES);
                const char *n = xmpp_stanza_get_name(cs);
                if (!strcmp(n, "composing") || !strcmp(n, "paused"))
                    typing_to_seeker(c, cv, n);
            }
        }
        return;
    }
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    if (body[0] == '!' && body[1] != '!') {
        gw_command(c, from, local[0] ? local : NULL, body + 1);
        xmpp_free(ctx, body);
        return;
    }
    const char *text = body[0] == '!' ? body + 1 : body; /* "!!x" sends "!x" */
    if (!cv) {
        if (local[0] && !gw_config_queue(c->cfg, local)) {
            gw_xmpp_stanza_error(
                c->xmpp, st, "cancel", "item-not-found",
                gw_i18n_text(c->i18n, gw_counsellor_lang(c, bare), "no_such_conversation"));
        } else {
            gw_router_chat(
                c, local[0] ? local : NULL, from,
                gw_i18n_text(c->i18n, gw_counsellor_lang(c, bare), "plain_text_to_queue"), NULL, 0);
        }
        xmpp_free(ctx, body);
        return;
    }
    int supervisor = who && who->supervisor;
    if (cv->state != CS_ACTIVE || (strcmp(cv->row.counsellor, bare) != 0 && !supervisor)) {
        GW_WARN("message from %s to %s refused: not their conversation", bare, cv->row.token);
        gw_xmpp_stanza_error(
            c->xmpp, st, "auth", "forbidden",
            gw_i18n_text(c->i18n, gw_counsellor_lang(c, bare), "not_your_conversation"));
        xmpp_free(ctx, body);
        return;
    }
    if (strlen(text) > (size_t)c->cfg->max_body_bytes) {
        char why[160];
        char mx[16];
        snprintf(mx, sizeof mx, "%d", c->cfg->max_body_bytes);
        const char *v[] = {"max", mx, NULL};
        gw_i18n_format(c->i18n, gw_counsellor_lang(c, bare), "message_too_long", why, sizeof why,
                       v);
        gw_xmpp_stanza_error(c->xmpp, st, "modify", "not-acceptable", why);
        xmpp_free(ctx, body);
        return;
    }
    char *safe = gw_xml_safe(text, (size_t)c->cfg->max_body_bytes);
    int64_t now = gw_now_ms(c);
    /* The full JID is kept so a failure can be reported to the very client that sent it
     * (servers drop type="error" messages addressed to a bare JID), and so can the receipt
     * it asked for.  XEP-0184: a receipt only when the message carried <request/> (and an
     * id to name); outbox.c sends it once the seeker's channel has confirmed the message. */
    xmpp_stanza_t *rq = child_ns(st, NS_RECEIPTS);
    int want_receipt = rq && !strcmp(xmpp_stanza_get_name(rq), "request") &&
                       xmpp_stanza_get_id(st) && *xmpp_stanza_get_id(st);
    json_t *meta = want_receipt ? json_pack("{s:s,s:b}", "from", from, "receipt", 1)
                                : json_pack("{s:s}", "from", from);
    char *metas = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
    json_decref(meta);
    int64_t mid = gw_store_msg_insert(c->store, cv->row.id, "out", safe ? safe : "", bare, now,
                                      "stored", xmpp_stanza_get_id(st), metas);
    xmpp_free(ctx, body);
    if (mid < 0) {
        free(metas);
        free(safe);
        gw_xmpp_stanza_error(c->xmpp, st, "wait", "internal-server-error", NULL);
        return;
    }
    cv->row.last_counsellor_at = now;
    gw_conv_touch(c, cv);
    gw_outbox_channel_msg(c, mid, cv->channel, GW_MSG_TEXT, cv->row.id, safe ? safe : "", metas);
    gw_turn_note_reply(c, from, cv->row.token, xmpp_stanza_get_id(st));
    free(metas);
    free(safe);
}

void gw_router_xmpp_presence(void *arg, xmpp_stanza_t *st)
{
    struct gw_core *c = arg;
    const char *from = xmpp_stanza_get_from(st), *to = xmpp_stanza_get_to(st);
    const char *type = xmpp_stanza_get_type(st);
    /* Presence read while the stream closes at shutdown (main.c) carries nothing to keep,
     * and acting on it would offer seekers no one can answer: the next start probes. */
    if (c->stopping || !from || !to || (type && !strcmp(type, "error")))
        return;
    char bare[256], local[128];
    bare_jid(from, bare, sizeof bare);
    split_to(c, to, local, sizeof local);
    const char *queue = local[0] ? local : "*";
    const struct gw_queue_conf *qc = local[0] ? gw_config_queue(c->cfg, local) : NULL;
    struct gw_conv *cv = local[0] ? gw_conv_find(c, local) : NULL;
    int allowed =
        qc ? gw_queue_has_counsellor(qc, bare) : gw_config_counsellor(c->cfg, bare) != NULL;
    if (!local[0])
        for (int i = 0; i < c->cfg->nqueues; i++)
            allowed |= gw_queue_has_counsellor(&c->cfg->queues[i], bare);
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    char me[400];
    snprintf(me, sizeof me, "%s%s%s", local[0] ? local : "", local[0] ? "@" : "", c->cfg->domain);
    if (!qc && !cv && local[0]) {
        gw_xmpp_stanza_error(c->xmpp, st, "cancel", "item-not-found", NULL);
        return;
    }
    if (!allowed && !cv) {
        GW_WARN("presence %s from %s to %s refused: not a counsellor of this queue",
                type ? type : "available", bare, me);
        if (type && !strcmp(type, "subscribe")) {
            xmpp_stanza_t *p = xmpp_presence_new(ctx);
            xmpp_stanza_set_type(p, "unsubscribed");
            xmpp_stanza_set_to(p, bare);
            xmpp_stanza_set_from(p, me);
            gw_router_queue_stanza(c, p, 0);
        } else if (!type || strcmp(type, "unavailable")) {
            gw_xmpp_stanza_error(c->xmpp, st, "auth", "forbidden", NULL);
        }
        return;
    }
    if (type && (!strcmp(type, "subscribe") || !strcmp(type, "probe"))) {
        if (!strcmp(type, "subscribe")) {
            /* Accept, and subscribe back: from then on the counsellor's server sends us
             * their presence on every login, which is how they sign in to the queue. */
            const char *seq[] = {"subscribed", NULL, "subscribe"};
            for (int i = 0; i < 3; i++) {
                xmpp_stanza_t *p = xmpp_presence_new(ctx);
                if (seq[i])
                    xmpp_stanza_set_type(p, seq[i]);
                xmpp_stanza_set_to(p, bare);
                xmpp_stanza_set_from(p, me);
                if (!seq[i] && cv)
                    add_text_child(ctx, p, "nick", NS_NICK, cv->nick);
                gw_router_queue_stanza(c, p, 0);
            }
        } else {
            xmpp_stanza_t *p = xmpp_presence_new(ctx);
            xmpp_stanza_set_to(p, from);
            xmpp_stanza_set_from(p, me);
            gw_router_queue_stanza(c, p, 0);
        }
        return;
    }
    if (type && (!strcmp(type, "unsubscribe") || !strcmp(type, "subscribed") ||
                 !strcmp(type, "unsubscribed")))
        return;
    if (cv)
        return; /* presence to a conversation JID carries no meaning for us */
    xmpp_stanza_t *sh = xmpp_stanza_get_child_by_name(st, "show");
    char *show = sh ? xmpp_stanza_get_text(sh) : NULL;
    gw_presence_in(c, from, queue, type, show);
    if (show)
        xmpp_free(ctx, show);
    if (!type) { /* answer with our own presence so the client shows the queue online */
        xmpp_stanza_t *p = xmpp_presence_new(ctx);
        xmpp_stanza_set_to(p, from);
        xmpp_stanza_set_from(p, me);
        gw_router_queue_stanza(c, p, 0);
    }
}

static void disco_feature(xmpp_ctx_t *ctx, xmpp_stanza_t *q, const char *var)
{
    add_empty_child(ctx, q, "feature", NULL, "var", var);
}

int gw_router_xmpp_iq(void *arg, xmpp_stanza_t *st)
{
    struct gw_core *c = arg;
    const char *type = xmpp_stanza_get_type(st);
    xmpp_ctx_t *ctx = gw_xmpp_ctx(c->xmpp);
    char local[128];
    if (gw_fed_iq_call(c, st))
        return 1;
    if (type && (!strcmp(type, "result") || !strcmp(type, "error")))
        return 1;
    split_to(c, xmpp_stanza_get_to(st), local, sizeof local);
    if (child_ns(st, NS_COMMANDS) ||
        (child_ns(st, NS_DISCO_ITEMS) &&
         xmpp_stanza_get_attribute(child_ns(st, NS_DISCO_ITEMS), "node")))
        return gw_adhoc_iq(c, st);
    xmpp_stanza_t *info = child_ns(st, NS_DISCO_INFO), *items = child_ns(st, NS_DISCO_ITEMS);
    if (!type || strcmp(type, "get") || (!info && !items))
        return 0;
    const struct gw_queue_conf *qc = local[0] ? gw_config_queue(c->cfg, local) : NULL;
    struct gw_conv *cv = local[0] ? gw_conv_find(c, local) : NULL;
    if (local[0] && !qc && !cv) {
        gw_xmpp_iq_error(c->xmpp, st, "cancel", "item-not-found");
        return 1;
    }
    xmpp_stanza_t *r = xmpp_iq_new(ctx, "result", xmpp_stanza_get_id(st));
    xmpp_stanza_set_to(r, xmpp_stanza_get_from(st));
    xmpp_stanza_set_from(r, xmpp_stanza_get_to(st));
    xmpp_stanza_t *q = xmpp_stanza_new(ctx);
    xmpp_stanza_set_name(q, "query");
    xmpp_stanza_set_ns(q, info ? NS_DISCO_INFO : NS_DISCO_ITEMS);
    if (info) {
        xmpp_stanza_t *id = xmpp_stanza_new(ctx);
        xmpp_stanza_set_name(id, "identity");
        if (!local[0]) {
            xmpp_stanza_set_attribute(id, "category", "gateway");
            xmpp_stanza_set_attribute(id, "type", "skagerrak");
            xmpp_stanza_set_attribute(id, "name", c->cfg->service_name);
        } else {
            xmpp_stanza_set_attribute(id, "category", qc ? "directory" : "client");
            xmpp_stanza_set_attribute(id, "type", qc ? "queue" : "pc");
            xmpp_stanza_set_attribute(id, "name", qc ? qc->id : cv->nick);
        }
        xmpp_stanza_add_child_ex(q, id, 0);
        static const char *const features[] = {NS_DISCO_INFO,
                                               NS_DISCO_ITEMS,
                                               "urn:xmpp:ping",
                                               "jabber:iq:version",
                                               NS_COMMANDS,
                                               NS_CHATSTATES,
                                               NS_RECEIPTS,
                                               NS_NICK,
                                               NS_SID,
                                               "urn:skagerrak:fed:1",
                                               "urn:skagerrak:fed:erase:1",
                                               NULL};
        /* Receipts only where they are answered: a conversation JID.  Commands to the domain
         * or a queue get no receipt, and a client that saw the feature there would show
         * every command as undelivered. */
        for (int i = 0; features[i]; i++)
            if (cv || strcmp(features[i], NS_RECEIPTS) != 0)
                disco_feature(ctx, q, features[i]);
    } else if (!local[0]) {
        for (int i = 0; i < c->cfg->nqueues; i++) {
            const struct gw_queue_conf *qq = &c->cfg->queues[i];
            char jid[400];
            snprintf(jid, sizeof jid, "%s@%s", qq->id, c->cfg->domain);
            xmpp_stanza_t *it = xmpp_stanza_new(ctx);
            xmpp_stanza_set_name(it, "item");
            xmpp_stanza_set_attribute(it, "jid", jid);
            int li = gw_lang_index(c->cfg->default_lang);
            xmpp_stanza_set_attribute(
                it, "name", qq->names[li > 0 ? li : 0] ? qq->names[li > 0 ? li : 0] : qq->id);
            xmpp_stanza_add_child_ex(q, it, 0);
        }
    }
    xmpp_stanza_add_child_ex(r, q, 0);
    gw_xmpp_send(c->xmpp, r);
    xmpp_stanza_release(r);
    return 1;
}

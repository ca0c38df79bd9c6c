/* turn.c — one loop turn, one transaction: what a turn stored is committed at its end, and
 * only then may its effects leave the process.
 *
 * The core changes its memory (conversations, queues, the outbox's work list) as it stores,
 * and the HTTP layer holds every answer given while the store has uncommitted writes (group
 * commit).  When the commit fails (disk full, I/O error) SQLite rolls the transaction back,
 * and memory no longer matches the store.  Then, at the end of the turn:
 *   - nothing the turn queued is sent (the outbox drops its work and rescans the store),
 *   - every held HTTP answer becomes 503 "storage failure, please retry",
 *   - each counsellor whose message the turn took gets an XMPP error and a plain line saying
 *     it was not sent (sent straight over the link: the store cannot take it),
 *   - conversations are brought back in line with the store (gw_conv_reconcile),
 *   - and the store takes writes again, so the service carries on by itself once space is
 *     back (the next turn's writes start a new transaction).
 * Recovery runs only here, at the end of the turn, never inside a handler that may still hold
 * a conversation pointer: a failure mid-turn leaves the store refusing writes until then. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "desk/core.h"
#include "io/http.h"
#include "conf/i18n.h"
#include "io/log.h"
#include "io/xmpp.h"

#define WAL_CHECKPOINT_FRAMES 1024  /* 4 MiB of 4 KiB pages */
#define RECENT_FAILURE_MS (60 * 1000) /* after a failed commit, the disk may be nearly full */

/* A counsellor's message stored in the current transaction (told if it rolls back). */
struct gw_turn_reply {
    char from[400];    /* the full JID that sent it */
    char conv[24];     /* conversation token */
    char stanza_id[64];
};

void gw_turn_note_reply(struct gw_core *c, const char *from_full, const char *conv,
                        const char *stanza_id)
{
    if (c->turn.nreplies == c->turn.capreplies) {
        size_t ncap = c->turn.capreplies ? c->turn.capreplies * 2 : 8;
        struct gw_turn_reply *n = realloc(c->turn.replies, ncap * sizeof *n);
        if (!n)
            return; /* the counsellor then only misses the notice, not the message */
        c->turn.replies = n;
        c->turn.capreplies = ncap;
    }
    struct gw_turn_reply *r = &c->turn.replies[c->turn.nreplies++];
    gw_copy(r->from, sizeof r->from, from_full);
    gw_copy(r->conv, sizeof r->conv, conv);
    gw_copy(r->stanza_id, sizeof r->stanza_id, stanza_id ? stanza_id : "");
}

/* An effect a plugin asked to run only after the commit (host API after_commit). */
struct gw_turn_after {
    const void *owner;
    void (*cb)(void *arg), (*drop)(void *arg);
    void *arg;
};

/* Run (committed) or drop the waiting effects.  Callbacks may add new ones: those belong to
 * the next transaction and stay. */
static void run_after(struct gw_core *c, int committed)
{
    size_t n = c->turn.nafter;
    if (!n)
        return;
    struct gw_turn_after *items = malloc(n * sizeof *items);
    if (!items) { /* never run an effect whose data was not committed */
        committed = 0;
        items = c->turn.after;
        c->turn.after = NULL;
        c->turn.nafter = c->turn.capafter = 0;
    } else {
        memcpy(items, c->turn.after, n * sizeof *items);
        memmove(c->turn.after, c->turn.after + n, (c->turn.nafter - n) * sizeof *c->turn.after);
        c->turn.nafter -= n;
    }
    for (size_t i = 0; i < n; i++) {
        if (committed)
            items[i].cb(items[i].arg);
        else if (items[i].drop)
            items[i].drop(items[i].arg);
    }
    free(items);
}

int gw_turn_after_commit(struct gw_core *c, const void *owner, void (*cb)(void *arg),
                         void (*drop)(void *arg), void *arg)
{
    if (!gw_store_dirty(c->store) && !gw_store_doomed(c->store)) {
        cb(arg); /* nothing waits for a commit */
        return GW_OK;
    }
    if (c->turn.nafter == c->turn.capafter) {
        size_t ncap = c->turn.capafter ? c->turn.capafter * 2 : 16;
        struct gw_turn_after *n = realloc(c->turn.after, ncap * sizeof *n);
        if (!n)
            return GW_ENOMEM;
        c->turn.after = n;
        c->turn.capafter = ncap;
    }
    c->turn.after[c->turn.nafter++] = (struct gw_turn_after){owner, cb, drop, arg};
    return GW_OK;
}

void gw_turn_drop_owner(struct gw_core *c, const void *owner)
{
    size_t k = 0;
    for (size_t i = 0; i < c->turn.nafter; i++) {
        if (c->turn.after[i].owner == owner) {
            if (c->turn.after[i].drop)
                c->turn.after[i].drop(c->turn.after[i].arg);
        } else {
            c->turn.after[k++] = c->turn.after[i];
        }
    }
    c->turn.nafter = k;
}

int gw_turn_commit(struct gw_core *c)
{
    if (gw_store_commit(c->store) != GW_OK)
        return GW_EIO;
    gw_outbox_committed(c);
    c->turn.nreplies = 0;
    return GW_OK;
}

/* Tell one counsellor that their message did not get through: an error on its stanza id
 * (clients that mark failed messages) and a plain line (the many that do not). */
static void tell_not_sent(struct gw_core *c, const struct gw_turn_reply *r)
{
    char bare[400];
    gw_copy(bare, sizeof bare, r->from);
    char *slash = strchr(bare, '/');
    if (slash)
        *slash = 0;
    const char *text = gw_i18n_text(c->i18n, gw_counsellor_lang(c, bare), "message_not_stored");
    char from[128];
    snprintf(from, sizeof from, "%s@%s", r->conv, c->cfg->domain);
    size_t n = 6 * (strlen(text) + strlen(r->from) + strlen(from) + strlen(r->stanza_id)) + 512;
    char *xml = malloc(n), *p = xml;
    if (!xml)
        return;
    if (r->stanza_id[0]) {
        p = stpcpy(p, "<message type='error' to='");
        p = gw_xml_escape(p, r->from);
        p = stpcpy(p, "' from='");
        p = gw_xml_escape(p, from);
        p = stpcpy(p, "' id='");
        p = gw_xml_escape(p, r->stanza_id);
        p = stpcpy(p, "'><error type='wait'><resource-constraint "
                      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
                      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>");
        p = gw_xml_escape(p, text);
        p = stpcpy(p, "</text></error></message>");
    }
    p = stpcpy(p, "<message type='chat' to='");
    p = gw_xml_escape(p, r->from);
    p = stpcpy(p, "' from='");
    p = gw_xml_escape(p, from);
    p = stpcpy(p, "'><body>");
    p = gw_xml_escape(p, text);
    p = stpcpy(p, "</body></message>");
    gw_xmpp_send_raw(c->xmpp, xml, (size_t)(p - xml));
    free(xml);
}

/* Failures come in floods when the disk is full (every turn fails): one line, then a
 * summary at most every 10 s. */
static void log_rollback(struct gw_core *c, size_t replies)
{
    int64_t now = gw_now_ms(c);
    c->turn.rollbacks++;
    c->turn.rollback_replies += (long long)replies;
    if (c->turn.rollback_logged_at && now - c->turn.rollback_logged_at < 10000)
        return;
    GW_ERROR("store: %lld turn(s) rolled back%s: their messages were refused (503 to channels,"
             " %lld counsellor message(s) reported as not sent); retrying as new ones come",
             c->turn.rollbacks, c->turn.rollback_logged_at ? " in the last 10 s" : "",
             c->turn.rollback_replies);
    c->turn.rollback_logged_at = now;
    c->turn.rollbacks = c->turn.rollback_replies = 0;
}

static void recover(struct gw_core *c)
{
    log_rollback(c, c->turn.nreplies);
    for (size_t i = 0; i < c->turn.nreplies; i++)
        tell_not_sent(c, &c->turn.replies[i]);
    c->turn.nreplies = 0;
    run_after(c, 0);
    gw_store_recover(c->store);
    c->turn.rollback_at = gw_now_ms(c);
    /* Before anything writes again: the space freed may be just enough for the checkpoint
     * that lets the WAL start over (see gw_turn_end). */
    gw_store_checkpoint(c->store);
    gw_outbox_rolled_back(c);
    gw_conv_reconcile(c);
}

void gw_turn_end(struct gw_core *c)
{
    /* Delivering can queue more (receipts, failure notices): drain, bounded. */
    for (int i = 0; i < 4 && gw_outbox_has_work(c) && !gw_store_doomed(c->store); i++)
        gw_outbox_flush(c);
    int ok = gw_turn_commit(c) == GW_OK;
    if (ok)
        run_after(c, 1); /* here, not in every commit: never inside another callback */
    else
        recover(c);
    /* The stanzas first (a seeker's message is on its way to the counsellor before the
     * seeker's HTTP client hears "stored"), then the held HTTP answers (group commit). */
    gw_xmpp_flush(c->xmpp);
    gw_http_release(c->http, ok);
    gw_http_flush(c->http);
    /* The 1 s checkpoint timer keeps checkpoints off the message path, but a burst can grow
     * the WAL by megabytes within that second, and on a filling disk a WAL that took the
     * last free space leaves no room for the checkpoint that would let it shrink.  So after
     * a failed commit, and for a minute after one, a big WAL is checkpointed here, after the
     * turn's answers are out.  Not always: under load that put two fsyncs on the message path
     * every few dozen milliseconds (bench: counsellor->seeker p99 x2). */
    if (c->turn.rollback_at && gw_now_ms(c) - c->turn.rollback_at < RECENT_FAILURE_MS &&
        gw_store_wal_frames(c->store) > WAL_CHECKPOINT_FRAMES)
        gw_store_checkpoint(c->store);
}

void gw_turn_release(struct gw_core *c)
{
    run_after(c, 0);
    free(c->turn.after);
    c->turn.after = NULL;
    c->turn.nafter = c->turn.capafter = 0;
    free(c->turn.replies);
    c->turn.replies = NULL;
    c->turn.nreplies = c->turn.capreplies = 0;
}

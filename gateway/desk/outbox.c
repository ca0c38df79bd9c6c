/* outbox.c — the durable outbox: everything leaves from here, and only after it is stored.
 *
 * XMPP: a stanza row stays in the outbox until the server has confirmed everything sent
 * before a barrier (a ping to our own domain that the server routes back to us); if the
 * link drops first, the rows are sent again on reconnect with the same stanza ids.
 * Channels: a row stays until the plugin's deliver() succeeds, answers GW_PENDING and later
 * deliver_done(), or fails permanently; GW_EAGAIN retries with exponential backoff.
 * Per-seeker order: outbox_lane.c.  What the counsellor hears of a message's fate (receipts,
 * failures): outbox_report.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "desk/core.h"
#include "io/log.h"
#include "io/loop.h"
#include "desk/outbox_int.h"
#include "io/xmpp.h"

#define FLUSH_BATCH 512
#define BARRIER_DELAY_MS 5     /* after the stanzas it confirms: see arm_barrier() */
#define BARRIER_STUCK_MS 10000 /* a barrier unanswered this long is replaced */

/* Remember a new row for this turn's flush.  If memory runs out the row is still in the
 * store: a rescan finds it. */
static struct gw_work *work_add(struct gw_core *c, int64_t id, int64_t msg_id, const char *target,
                                int kind, const char *payload)
{
    if (c->outbox.nwork == c->outbox.capwork) {
        size_t ncap = c->outbox.capwork ? c->outbox.capwork * 2 : 64;
        struct gw_work *nw = realloc(c->outbox.work, ncap * sizeof *nw);
        if (!nw) {
            c->outbox.rescan = 1;
            return NULL;
        }
        c->outbox.work = nw;
        c->outbox.capwork = ncap;
    }
    struct gw_work *w = &c->outbox.work[c->outbox.nwork];
    *w = (struct gw_work){.id = id, .msg_id = msg_id, .kind = kind};
    snprintf(w->target, sizeof w->target, "%s", target);
    if (payload && !(w->payload = strdup(payload))) {
        c->outbox.rescan = 1;
        return NULL;
    }
    c->outbox.nwork++;
    return w;
}

static void work_clear(struct gw_core *c)
{
    for (size_t i = 0; i < c->outbox.nwork; i++) {
        free(c->outbox.work[i].payload);
        free(c->outbox.work[i].body);
        free(c->outbox.work[i].meta);
    }
    c->outbox.nwork = 0;
    if (c->outbox.capwork > 1024) { /* a burst's list is not kept for good */
        free(c->outbox.work);
        c->outbox.work = NULL;
        c->outbox.capwork = 0;
    }
}

static void acks_drop(struct gw_core *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(c->outbox.acked[i].ref);
    memmove(c->outbox.acked, c->outbox.acked + n, (c->outbox.nacked - n) * sizeof *c->outbox.acked);
    c->outbox.nacked -= n;
    c->outbox.napplied = 0;
}

void gw_outbox_release(struct gw_core *c)
{
    if (c->outbox.acked)
        acks_drop(c, c->outbox.nacked);
    free(c->outbox.acked);
    c->outbox.acked = NULL;
    c->outbox.nacked = c->outbox.capacked = 0;
    gw_lanes_free(c);
    work_clear(c);
    free(c->outbox.work);
    c->outbox.work = NULL;
    c->outbox.capwork = 0;
    free(c->outbox.inflight);
    c->outbox.inflight = NULL;
    free(c->outbox.pending);
    c->outbox.pending = NULL;
}

void gw_outbox_rescan(struct gw_core *c)
{
    c->outbox.rescan = 1;
    c->outbox.dirty = 1;
}

int gw_outbox_has_work(const struct gw_core *c)
{
    return c->outbox.dirty;
}

int gw_outbox_xmpp(struct gw_core *c, int64_t msg_id, const char *xml)
{
    int64_t id = gw_store_outbox_add(c->store, msg_id, "xmpp", 0, xml, 0);
    if (id < 0)
        return (int)id;
    work_add(c, id, msg_id, "xmpp", 0, xml);
    c->outbox.dirty = 1;
    return GW_OK;
}

int gw_outbox_channel_msg(struct gw_core *c, int64_t msg_id, const char *channel, int kind,
                          int64_t conv_id, const char *body, const char *meta)
{
    int64_t id = gw_store_outbox_add(c->store, msg_id, channel, kind, NULL, 0);
    if (id < 0)
        return (int)id;
    int64_t lane = conv_id;
    struct gw_msg_row mr;
    if (lane <= 0 && gw_store_msg_get(c->store, msg_id, &mr) == GW_OK)
        lane = mr.conv_id;
    gw_lane_add(c, channel, lane, id);
    struct gw_work *w = work_add(c, id, msg_id, channel, kind, NULL);
    if (w)
        w->lane_conv = lane;
    if (w && conv_id > 0) {
        w->body = strdup(body ? body : "");
        w->meta = meta ? strdup(meta) : NULL;
        w->conv_id = (w->body && (!meta || w->meta)) ? conv_id : 0; /* else: read back */
    }
    c->outbox.dirty = 1;
    return GW_OK;
}

int gw_outbox_channel(struct gw_core *c, int64_t msg_id, const char *channel, int kind)
{
    return gw_outbox_channel_msg(c, msg_id, channel, kind, 0, NULL, NULL);
}

/* Exponential backoff with jitter over the upper half, capped at service.retry_max: a
 * provider that recovers is used again within the cap, however long it was down. */
static int64_t backoff_ms(const struct gw_core *c, int attempts)
{
    int64_t cap = (int64_t)c->cfg->retry_max_s * 1000;
    int64_t ms = 1000LL << (attempts < 12 ? attempts : 12);
    if (ms > cap)
        ms = cap;
    unsigned r = 0;
    if (getrandom(&r, sizeof r, GRND_NONBLOCK) != sizeof r)
        r = 0;
    return ms / 2 + (int64_t)(r % (unsigned)(ms / 2 + 1));
}

static int in_flight(struct gw_core *c, int64_t outbox_id);

/* A channel row is finished (taken, or refused for good): its lane's next row goes now. */
static void lane_finished(struct gw_core *c, const char *target, int64_t conv_id, int64_t id)
{
    if (gw_lane_done(c, target, conv_id, id)) {
        c->outbox.rescan = 1;
        c->outbox.dirty = 1;
    }
}

static struct gw_pending *pending_find(struct gw_core *c, int64_t msg_id, int64_t outbox_id)
{
    for (size_t i = 0; i < c->outbox.npending; i++)
        if ((msg_id && c->outbox.pending[i].msg_id == msg_id) ||
            (outbox_id && c->outbox.pending[i].outbox_id == outbox_id))
            return &c->outbox.pending[i];
    return NULL;
}

static void pending_del(struct gw_core *c, struct gw_pending *p)
{
    *p = c->outbox.pending[--c->outbox.npending];
}

static int in_flight(struct gw_core *c, int64_t outbox_id)
{
    return pending_find(c, 0, outbox_id) != NULL;
}

struct build_ctx {
    int64_t conv_id;
    char *body, *meta;
};

static int copy_msg(void *arg, const struct gw_msg_row *r)
{
    struct build_ctx *b = arg;
    b->conv_id = r->conv_id;
    b->body = strdup(r->body ? r->body : "");
    b->meta = r->meta ? strdup(r->meta) : NULL;
    return 1;
}

static void defer_delivered(struct gw_core *c, int64_t outbox_id, int64_t msg_id,
                            const char *ref, int state_set);
static void arm_retry(struct gw_core *c, int64_t due);

/* Deliver one channel row; `w` is its work item when the message is in hand (else NULL: read
 * it).  Returns 1 when the row is finished (delete it), 2 when it was rescheduled (retry
 * timer), 3 when it was delivered (recorded with the next turn's commit), 0 when it waits for
 * deliver_done(). */
static int deliver_row(struct gw_core *c, const struct gw_outbox_row *r, struct gw_work *w)
{
    struct build_ctx b = {0, NULL, NULL};
    if (w && w->conv_id > 0) { /* ownership moves to b; work_clear() frees the NULLs */
        b = (struct build_ctx){w->conv_id, w->body, w->meta};
        w->body = w->meta = NULL;
    } else if (gw_store_msg_full(c->store, r->msg_id, copy_msg, &b) < 0)
        return 1; /* message gone (erased): nothing to send */
    struct gw_conv *cv = gw_conv_by_id(c, b.conv_id);
    struct gw_conv_row crow;
    struct gw_seeker_row sk;
    char reply_ref[256] = "", token[24] = "", address[256] = "", lang[4] = "", queue[64] = "";
    if (cv) {
        gw_copy(token, sizeof token, cv->row.token);
        gw_copy(address, sizeof address, cv->address);
        gw_copy(lang, sizeof lang, cv->row.lang);
        gw_copy(queue, sizeof queue, cv->row.queue);
    } else if (gw_store_conv_by_id(c->store, b.conv_id, &crow) == GW_OK &&
               gw_store_seeker_get(c->store, crow.seeker_id, &sk) == GW_OK) {
        gw_copy(token, sizeof token, crow.token);
        gw_copy(address, sizeof address, sk.address);
        gw_copy(lang, sizeof lang, crow.lang);
        gw_copy(queue, sizeof queue, crow.queue);
    }
    /* The seeker's latest channel ref (email threading): kept on the open conversation, so
     * a delivery does not search the conversation's history. */
    if (cv && cv->reply_ref_known)
        snprintf(reply_ref, sizeof reply_ref, "%s", cv->reply_ref ? cv->reply_ref : "");
    else {
        gw_store_last_inbound_ref(c->store, b.conv_id, reply_ref, sizeof reply_ref);
        if (cv) {
            free(cv->reply_ref);
            cv->reply_ref = reply_ref[0] ? strdup(reply_ref) : NULL;
            cv->reply_ref_known = 1;
        }
    }
    struct gw_msg m = {.id = r->msg_id,
                       .kind = (enum gw_msg_kind)r->kind,
                       .conv = token,
                       .address = address,
                       .lang = lang,
                       .body = b.body ? b.body : "",
                       .queue = queue,
                       .reply_ref = reply_ref[0] ? reply_ref : NULL,
                       .attempt = r->attempts,
                       .meta_json = b.meta};
    if (r->kind == GW_MSG_TRANSCRIPT && b.meta) {
        /* Transcripts name their own address in meta {"to": ...}. */
        const char *to = strstr(b.meta, "\"to\":\"");
        if (to) {
            to += 6;
            const char *end = strchr(to, '"');
            if (end)
                snprintf(address, sizeof address, "%.*s", (int)(end - to), to);
        }
    }
    char err[256] = "";
    int rc = token[0] ? gw_channel_deliver(c, r->target, &m, err, sizeof err) : GW_EPERM;
    if (!token[0])
        snprintf(err, sizeof err, "conversation not found");
    free(b.body);
    free(b.meta);
    if (rc == GW_OK) {
        defer_delivered(c, r->id, r->msg_id, NULL, 0);
        return 3;
    }
    if (rc == GW_PENDING) {
        if (c->outbox.npending == c->outbox.cappending) {
            size_t ncap = c->outbox.cappending ? c->outbox.cappending * 2 : 16;
            struct gw_pending *np = realloc(c->outbox.pending, ncap * sizeof *np);
            if (!np)
                return 0;
            c->outbox.pending = np;
            c->outbox.cappending = ncap;
        }
        struct gw_pending *p = &c->outbox.pending[c->outbox.npending++];
        *p = (struct gw_pending){r->id, r->msg_id, r->attempts, r->conv_id, ""};
        gw_copy(p->target, sizeof p->target, r->target);
        return 0;
    }
    if (rc == GW_EAGAIN || rc == GW_ENOTFOUND) {
        int64_t now = gw_now_ms(c);
        int64_t due = gw_lane_retry_at(c, r->target, r->conv_id, now, backoff_ms(c, r->attempts));
        gw_store_outbox_retry(c->store, r->id, due, err[0] ? err : "temporary failure");
        arm_retry(c, due);
        if (r->attempts == 0)
            GW_WARN("outbox: %s delivery of message %lld deferred: %s", r->target,
                    (long long)r->msg_id, err[0] ? err : "try again later");
        return 2;
    }
    GW_WARN("outbox: %s refused message %lld: %s", r->target, (long long)r->msg_id, err);
    gw_outbox_report(c, r->msg_id, GW_DLR_FAILED, err[0] ? err : "refused");
    return 1;
}

struct flush_ctx {
    struct gw_core *c;
    int sent_xmpp;
    int64_t last_id;
    struct gw_work *cur; /* the work item being flushed (NULL on a store scan) */
    /* The stanzas of one flush go to the socket as one write: one syscall, and the server
     * reads them in one go, instead of a write per stanza. */
    char *xbuf;
    size_t xlen, xcap;
};

/* Append a stanza to the flush's write buffer; false when memory runs out. */
static int xbuf_add(struct flush_ctx *f, const char *xml)
{
    size_t n = strlen(xml);
    if (f->xlen + n + 1 > f->xcap) { /* + 1: kept NUL-terminated for libstrophe */
        size_t cap = f->xcap ? f->xcap : 16384;
        while (cap < f->xlen + n + 1)
            cap *= 2;
        char *b = realloc(f->xbuf, cap);
        if (!b)
            return 0;
        f->xbuf = b;
        f->xcap = cap;
    }
    memcpy(f->xbuf + f->xlen, xml, n + 1);
    f->xlen += n;
    return 1;
}

static int flush_one(void *arg, const struct gw_outbox_row *r)
{
    struct flush_ctx *f = arg;
    struct gw_core *c = f->c;
    f->last_id = r->id;
    if (strcmp(r->target, "xmpp") == 0) {
        if (!gw_xmpp_online(c->xmpp) || r->id <= c->outbox.xmpp_sent_upto)
            return 0;
        if (!xbuf_add(f, r->payload)) { /* no memory for batching: write in order, now */
            if (f->xlen)
                gw_xmpp_send_raw(c->xmpp, f->xbuf, f->xlen);
            f->xlen = 0;
            gw_xmpp_send_raw(c->xmpp, r->payload, strlen(r->payload));
        }
        c->outbox.xmpp_sent_upto = r->id;
        if (c->outbox.ninflight == c->outbox.capinflight) {
            size_t ncap = c->outbox.capinflight ? c->outbox.capinflight * 2 : 64;
            struct gw_inflight *ni = realloc(c->outbox.inflight, ncap * sizeof *ni);
            if (!ni)
                return 1;
            c->outbox.inflight = ni;
            c->outbox.capinflight = ncap;
        }
        c->outbox.inflight[c->outbox.ninflight++] = (struct gw_inflight){r->id, r->msg_id, 0};
        f->sent_xmpp++;
        return 0;
    }
    if (in_flight(c, r->id) ||
        !gw_lane_may_deliver(c, r->target, r->conv_id, r->id, in_flight))
        return 0; /* in the plugin's hands, or held behind an older message to the seeker */
    int rc = deliver_row(c, r, f->cur);
    if (rc == 1)
        gw_store_outbox_done(c->store, r->id);
    if (rc == 1 || rc == 3)
        lane_finished(c, r->target, r->conv_id, r->id);
    return 0;
}

static void retry_timer(void *arg)
{
    struct gw_core *c = arg;
    c->outbox.timer = 0;
    c->outbox.timer_at = 0;
    c->outbox.rescan = 1;
    c->outbox.dirty = 1;
}

/* Make sure the retry timer fires by `due` (unix ms): an earlier row re-arms it.  Every
 * deferred row calls this with its own time, and every rescan arms it for the earliest row
 * still waiting, so no row depends on another row's fate (or an unrelated event) to be
 * retried. */
static void arm_retry(struct gw_core *c, int64_t due)
{
    int64_t now = gw_now_ms(c);
    if (c->outbox.timer && c->outbox.timer_at <= due)
        return;
    if (c->outbox.timer)
        gw_loop_timer_cancel(c->loop, c->outbox.timer);
    c->outbox.timer_at = due;
    c->outbox.timer =
        gw_loop_timer_add(c->loop, (uint64_t)(due > now ? due - now : 0), retry_timer, c);
}

static void tag_barrier(struct gw_core *c, uint64_t seq);

/* Confirm what was sent since the last barrier with a new one -- unless one is in flight (it
 * re-arms this when it returns; one unanswered for 10 s is replaced). */
static void barrier_due(void *arg)
{
    struct gw_core *c = arg;
    c->outbox.barrier_timer = 0;
    if (!c->outbox.ninflight || c->outbox.inflight[c->outbox.ninflight - 1].seq != 0)
        return; /* nothing new to confirm */
    if (c->outbox.barrier_pending && gw_now_ms(c) - c->outbox.barrier_sent_at < BARRIER_STUCK_MS)
        return;
    tag_barrier(c, gw_xmpp_barrier(c->xmpp));
}

/* The barrier follows BARRIER_DELAY_MS after the stanzas it confirms, not in the same write:
 * the server handles everything it reads in one go before it writes any of it out, so a
 * ping in the same read delayed the message to the counsellor by the time the server took to
 * answer the ping.  The delay also gathers the stanzas of many turns under one barrier.  The
 * price: a crash re-sends (same ids) what those milliseconds left unconfirmed. */
static void arm_barrier(struct gw_core *c)
{
    if (!c->outbox.barrier_timer)
        c->outbox.barrier_timer = gw_loop_timer_add(c->loop, BARRIER_DELAY_MS, barrier_due, c);
}

void gw_outbox_flush(struct gw_core *c)
{
    if (!c->outbox.dirty)
        return;
    c->outbox.dirty = 0;
    /* Confirmations kept in memory ride along with this commit (and must be recorded before
     * a rescan reads the rows again). */
    gw_outbox_apply_acks(c);
    /* Store first, then send: if the commit failed, nothing this turn queued may leave (it
     * is not stored); the end of the turn puts memory back in line (turn.c). */
    if (gw_store_commit(c->store) != GW_OK)
        return;
    gw_outbox_committed(c);
    int64_t now = gw_now_ms(c);
    struct flush_ctx f = {c, 0, 0, NULL, NULL, 0, 0};
    int rescanned = c->outbox.rescan;
    if (c->outbox.rescan) {
        /* Start-up, reconnect, or a retry is due: everything due comes from the store. */
        c->outbox.rescan = 0;
        work_clear(c);
        int n;
        do {
            n = gw_store_outbox_due(c->store, now, f.last_id, FLUSH_BATCH, flush_one, &f);
        } while (n == FLUSH_BATCH);
    } else {
        /* The common path: only what this turn added, already in memory. */
        for (size_t i = 0; i < c->outbox.nwork; i++) {
            struct gw_work *w = &c->outbox.work[i];
            struct gw_outbox_row r = {.id = w->id,
                                      .msg_id = w->msg_id,
                                      .kind = w->kind,
                                      .payload = w->payload,
                                      .attempts = 0,
                                      .next_at = 0};
            r.conv_id = w->lane_conv;
            gw_copy(r.target, sizeof r.target, w->target);
            f.cur = w;
            flush_one(&f, &r);
            f.cur = NULL;
        }
        work_clear(c);
    }
    if (f.xlen)
        gw_xmpp_send_raw(c->xmpp, f.xbuf, f.xlen);
    if (f.sent_xmpp)
        arm_barrier(c);
    free(f.xbuf);
    if (gw_store_commit(c->store) == GW_OK)
        gw_outbox_committed(c);
    /* After a rescan, rows may remain that are due later (their own backoff): keep a timer
     * for the earliest of them, or they would wait for the next unrelated event.  Rows that
     * are due but skipped (in a plugin's hands, or held in their lane) need none: their
     * deliver_done() or their lane's head moves them. */
    if (rescanned) {
        int64_t next = gw_store_outbox_next(c->store, now);
        if (next > now)
            arm_retry(c, next);
    }
}

/* Rows sent but not yet covered by a barrier get `seq` (0: the link is down, nothing sent). */
static void tag_barrier(struct gw_core *c, uint64_t seq)
{
    if (!seq)
        return;
    for (size_t i = c->outbox.ninflight; i-- > 0 && c->outbox.inflight[i].seq == 0;)
        c->outbox.inflight[i].seq = seq;
    c->outbox.barrier_pending = seq;
    c->outbox.barrier_sent_at = gw_now_ms(c);
}

/* Delete confirmed rows and mark their messages sent. */
static void record_acks(struct gw_core *c, const struct gw_ack *e, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        gw_store_outbox_done(c->store, e[i].outbox_id);
        if (e[i].msg_id && !e[i].state_set)
            gw_store_msg_state(c->store, e[i].msg_id, "sent", e[i].ref, NULL);
    }
}

/* Room for n more deferred confirmations; false when memory runs out. */
static int acked_reserve(struct gw_core *c, size_t n)
{
    if (c->outbox.nacked + n <= c->outbox.capacked)
        return 1;
    size_t ncap = c->outbox.capacked ? c->outbox.capacked : 64;
    while (ncap < c->outbox.nacked + n)
        ncap *= 2;
    struct gw_ack *na = realloc(c->outbox.acked, ncap * sizeof *na);
    if (!na)
        return 0;
    c->outbox.acked = na;
    c->outbox.capacked = ncap;
    return 1;
}

/* A confirmation is bookkeeping (delete the row, mark the message sent): it need not be
 * durable at once, only before the row could be read again.  Keeping it in memory until the
 * next commit that happens anyway saves a transaction per message at low load; a crash in
 * between resends the stanza (same id) after the restart, as for any unconfirmed row. */
void gw_outbox_acked(void *arg, uint64_t seq)
{
    struct gw_core *c = arg;
    size_t k = 0;
    while (k < c->outbox.ninflight && c->outbox.inflight[k].seq && c->outbox.inflight[k].seq <= seq)
        k++;
    if (k && acked_reserve(c, k)) {
        for (size_t i = 0; i < k; i++)
            c->outbox.acked[c->outbox.nacked++] =
                (struct gw_ack){c->outbox.inflight[i].outbox_id, c->outbox.inflight[i].msg_id, NULL, 0};
    } else {
        for (size_t i = 0; i < k; i++) { /* no memory to defer: record now */
            struct gw_ack e = {c->outbox.inflight[i].outbox_id, c->outbox.inflight[i].msg_id, NULL, 0};
            record_acks(c, &e, 1);
        }
    }
    memmove(c->outbox.inflight, c->outbox.inflight + k, (c->outbox.ninflight - k) * sizeof *c->outbox.inflight);
    c->outbox.ninflight -= k;
    if (seq >= c->outbox.barrier_pending) {
        c->outbox.barrier_pending = 0;
        /* Rows sent while that barrier was out: their own barrier. */
        if (c->outbox.ninflight && c->outbox.inflight[c->outbox.ninflight - 1].seq == 0)
            arm_barrier(c);
    }
}

static void record_soon(void *arg)
{
    struct gw_core *c = arg;
    c->outbox.record_timer = 0;
    c->outbox.dirty = 1; /* this turn's flush records them, with whatever else it commits */
}

/* A channel took a message at once: delete its row and mark it sent -- not with a commit of
 * its own right after the delivery, but with the next loop turn's (a 0 ms timer makes sure
 * there is one).  Under load that turn commits new messages anyway, so a turn costs one
 * transaction instead of two; idle, it is the same one commit a moment later.  A crash in
 * between delivers the message again, as a crash between deliver() and that second commit
 * always could. */
static void defer_delivered(struct gw_core *c, int64_t outbox_id, int64_t msg_id,
                            const char *ref, int state_set)
{
    struct gw_ack e = {outbox_id, msg_id, ref ? strdup(ref) : NULL, state_set};
    if (!acked_reserve(c, 1) || (ref && !e.ref)) {
        struct gw_ack now = {outbox_id, msg_id, (char *)ref, 0};
        record_acks(c, &now, 1); /* no memory to defer: record now */
        free(e.ref);
        return;
    }
    c->outbox.acked[c->outbox.nacked++] = e;
    if (!c->outbox.record_timer)
        c->outbox.record_timer = gw_loop_timer_add(c->loop, 0, record_soon, c);
}

void gw_outbox_apply_acks(struct gw_core *c)
{
    record_acks(c, c->outbox.acked + c->outbox.napplied, c->outbox.nacked - c->outbox.napplied);
    c->outbox.napplied = c->outbox.nacked;
}

void gw_outbox_committed(struct gw_core *c)
{
    if (c->outbox.napplied)
        acks_drop(c, c->outbox.napplied);
}

void gw_outbox_rolled_back(struct gw_core *c)
{
    work_clear(c);
    c->outbox.napplied = 0; /* written again with the next transaction, states included */
    for (size_t i = 0; i < c->outbox.nacked; i++)
        c->outbox.acked[i].state_set = 0;
    gw_lanes_rebuild(c);
    c->outbox.rescan = 1;
    c->outbox.dirty = 1;
    /* Written again at once, not with the next flush: a delivery report in the next turn
     * must find the channel ref its deliver_done() recorded. */
    gw_outbox_apply_acks(c);
}

void gw_outbox_start(struct gw_core *c)
{
    gw_lanes_rebuild(c);
    c->outbox.rescan = 1;
    c->outbox.dirty = 1;
}

void gw_outbox_last_barrier(struct gw_core *c)
{
    if (c->outbox.ninflight && c->outbox.inflight[c->outbox.ninflight - 1].seq == 0)
        tag_barrier(c, gw_xmpp_barrier(c->xmpp));
}

void gw_outbox_online(struct gw_core *c)
{
    c->outbox.xmpp_sent_upto = 0;
    c->outbox.ninflight = 0;
    c->outbox.barrier_pending = 0;
    c->outbox.rescan = 1; /* everything unconfirmed goes again */
    c->outbox.dirty = 1;
    /* What waited because the link was down goes now, not after its backoff. */
    gw_store_outbox_wake_all(c->store);
}

void gw_outbox_offline(struct gw_core *c)
{
    /* Unconfirmed stanzas are still in the outbox: resend them all on reconnect. */
    c->outbox.xmpp_sent_upto = 0;
    c->outbox.ninflight = 0;
    c->outbox.barrier_pending = 0;
}

void gw_outbox_channel_done(struct gw_core *c, int64_t msg_id, int status, const char *ref,
                            const char *reason)
{
    struct gw_pending *p = pending_find(c, msg_id, 0);
    if (!p) {
        GW_WARN("outbox: deliver_done for unknown message %lld", (long long)msg_id);
        return;
    }
    int64_t oid = p->outbox_id, conv = p->conv_id;
    int attempts = p->attempts;
    char target[32];
    gw_copy(target, sizeof target, p->target);
    pending_del(c, p);
    if (status == GW_OK && reason && *reason) {
        /* Accepted, with something the counsellor should know (e.g. the SMS part count). */
        struct gw_msg_row m;
        struct gw_conv_row row;
        if (gw_store_msg_get(c->store, msg_id, &m) == GW_OK && !strcmp(m.dir, "out") &&
            m.author[0] && gw_store_conv_by_id(c->store, m.conv_id, &row) == GW_OK)
            gw_router_chat(c, row.token, m.author, reason, NULL, 0);
    }
    if (status == GW_OK) {
        /* Recorded like a confirmation: kept until committed, so a rolled-back turn cannot
         * make the outbox send it again. */
        gw_store_msg_state(c->store, msg_id, "sent", ref, NULL); /* reports may come at once */
        defer_delivered(c, oid, msg_id, ref, 1); /* state written: until a rollback */
        lane_finished(c, target, conv, oid);
    } else if (status == GW_EAGAIN) {
        int64_t now = gw_now_ms(c);
        int64_t due = gw_lane_retry_at(c, target, conv, now, backoff_ms(c, attempts));
        gw_store_outbox_retry(c->store, oid, due, reason ? reason : "temporary failure");
        arm_retry(c, due);
    } else {
        gw_store_outbox_done(c->store, oid);
        gw_outbox_report(c, msg_id, GW_DLR_FAILED, reason ? reason : "refused");
        lane_finished(c, target, conv, oid);
    }
    c->outbox.dirty = 1;
}

/* core.h — the daemon's one context and the state shared by the core's modules.
 *
 * Everything the core owns hangs off struct gw_core, passed explicitly (no globals).
 * Module map:  conv.c (conversations in memory + persistence + texts to seekers),
 * queue.c (waiting lists, assignment), queue_time.c (positions, timeouts, opening hours),
 * presence.c (counsellor presence, grace after a drop-out), router.c (inbound from
 * channels and from XMPP, disco), outbox.c (durable sending), commands.c (text commands),
 * adhoc.c (XEP-0050), turn.c, runmark.c, retention.c, clock.c (wall/test clock), desk.c
 * (the state as a whole), block.c, audit.c, all in
 * gateway/desk/.  The other rooms (docs/architecture.md): io/ (loop, XMPP link, HTTP, fetch,
 * log, hashmap), store/ (SQLite), conf/ (configuration, calendar, i18n) below the desk; fed/
 * (federation) and host/ (plugin loader, host API) above it, reached through the ops tables
 * below; ctl/ (the control socket) above them; main.c (start-up, signals, reload) on top. */
#ifndef GW_CORE_H
#define GW_CORE_H

#include <stdint.h>
#include <strophe.h>
#include <sys/queue.h>

#include "conf/config.h"
#include "host/plugin_api.h"
#include "store/store.h"
#include <stdio.h>
#include <string.h>

/* Copy at most n bytes of src into dst (size bytes), truncating, always NUL-terminated:
 * snprintf(dst, size, "%s", src) without the format parser, which the message path ran
 * several times per message. */
static inline void gw_copyn(char *dst, size_t size, const char *src, size_t n)
{
    if (!size)
        return;
    size_t len = strnlen(src, n < size - 1 ? n : size - 1);
    memcpy(dst, src, len);
    dst[len] = 0;
}

static inline void gw_copy(char *dst, size_t size, const char *src)
{
    gw_copyn(dst, size, src, size - 1);
}

/* glibc's <sys/queue.h> lacks the _SAFE variant (BSD has it). */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)                                                 \
    for ((var) = TAILQ_FIRST((head)); (var) && ((tvar) = TAILQ_NEXT((var), field), 1);             \
         (var) = (tvar))
#endif

struct gw_loop;
struct gw_xmpp;
struct gw_http;
struct gw_fetch;
struct gw_i18n;
struct gw_map;
struct gw_plugin_slot;

enum gw_conv_state { CS_QUEUED, CS_OFFERED, CS_ACTIVE, CS_CLOSED, CS_ABANDONED, CS_EXPIRED };

/* An open conversation, in memory.  Closed ones live only in the store. */
struct gw_conv {
    struct gw_core *core;   /* back pointer for timer callbacks */
    struct gw_conv_row row; /* the persisted fields */
    enum gw_conv_state state;
    char channel[32];
    char address[256];
    char display[64];
    char nick[256];   /* "SMS ··4567 · nb · general" */
    char *offered_to; /* bare JID while offered */
    char *declined;   /* space-separated JIDs that declined/ignored this round */
    uint64_t offer_timer;
    /* Deadline timer (queue.c gw_queue_arm): wakes at the next time-driven transition of
     * the conversation (unanswered, abandoned, max_wait, overflow), or an hour from now. */
    uint64_t due_timer;
    int64_t due_at; /* when it fires (gw_now_ms time) */
    int last_pos; /* last position told to the seeker (0 = none) */
    int64_t last_pos_at;
    int front;             /* requeued: goes before others of its priority */
    int64_t held_until;    /* counsellor away: requeued at this time (ms) unless back; 0 = no */
    char *esc_partner;     /* escalation waiting for the seeker's consent answer */
    char *esc_note;
    char *esc_requester;        /* full JID of the counsellor who asked */
    int overflow_next;          /* next overflow_to partner to try (0 = first) */
    int quiet;                   /* opened by a robot (auto-reply): no automatic texts */
    int touched;                 /* activity times changed since last written (conv.c) */
    char *reply_ref;             /* channel ref of the seeker's latest message (cache) */
    int reply_ref_known;         /* reply_ref is loaded (may be NULL: none) */
    int fed_busy;               /* an escalation/overflow request is in flight */
    int seen;                   /* gw_conv_reconcile(): found in the store */
    TAILQ_ENTRY(gw_conv) qlink; /* waiting list of its queue (queued/offered) */
    TAILQ_ENTRY(gw_conv) all;   /* every open conversation */
};
TAILQ_HEAD(gw_conv_list, gw_conv);

/* A counsellor resource's presence towards one queue (or "*" = the gateway domain). */
struct gw_presence {
    char bare[256];
    char resource[128];
    char queue[64];
    char show[8]; /* "" available, chat, away, xa, dnd */
    TAILQ_ENTRY(gw_presence) link;
};
TAILQ_HEAD(gw_presence_list, gw_presence);

/* Runtime state per queue (config is in gw_queue_conf; matched by id after reload). */
struct gw_queue_rt {
    struct gw_core *core; /* back pointer for timer callbacks */
    char id[64];
    struct gw_conv_list waiting; /* queued + offered, in service order */
    int nwaiting;
    uint64_t position_timer;
    int64_t position_at;           /* when it fires (ms) */
    uint64_t hours_timer;          /* the next opening or closing (or an hourly re-check) */
    int open;                      /* open at the last check: 1, 0, -1 not yet known */
    int positions_all;             /* someone moved: the next update walks the whole list */
    int64_t wait_ms_cache; /* recent mean wait (-1 unknown) */
    int64_t handle_ms_cache;
};

struct gw_inflight {
    int64_t outbox_id, msg_id;
    uint64_t seq;
};
/* A row finished in memory (confirmed by the server, or taken by a channel), recorded with
 * the next commit (outbox.c record_acks). */
struct gw_ack {
    int64_t outbox_id, msg_id;
    char *ref;     /* the channel's ref for later delivery reports (owned), or NULL */
    int state_set; /* the message's state was written in this transaction already */
};
/* An outbox row queued during this loop turn (so the common path never scans the table). */
struct gw_work {
    int64_t id, msg_id;
    int kind;
    char target[32];
    char *payload; /* xmpp: the stanza (owned) */
    /* channel rows queued with the message in hand (gw_outbox_channel_msg): no read-back */
    int64_t conv_id; /* 0 = read the message from the store */
    char *body, *meta;
    int64_t lane_conv; /* the message's conversation: its lane (outbox_lane.c) */
};
struct gw_pending {
    int64_t outbox_id, msg_id;
    int attempts;
    int64_t conv_id; /* lane */
    char target[32];
};

/* The durable outbox's memory (outbox.c, outbox_lane.c, outbox_report.c own it; other
 * modules use the gw_outbox_* functions). */
struct gw_outbox {
    int dirty;               /* new entries since the last flush */
    int rescan;              /* read due rows from the store (start-up, reconnect, retries) */
    struct gw_work *work;    /* rows added since the last flush, in id order */
    size_t nwork, capwork;
    uint64_t timer;
    int64_t timer_at;             /* when it fires (unix ms) */
    uint64_t barrier_pending;     /* barrier seq in flight, 0 = none (outbox.c) */
    uint64_t barrier_timer;       /* the next barrier is due (outbox.c arm_barrier) */
    int64_t barrier_sent_at;      /* when it was sent (ms) */
    struct gw_inflight *inflight; /* xmpp outbox rows sent, waiting for their barrier */
    size_t ninflight, capinflight;
    struct gw_ack *acked; /* confirmed by the server or delivered by a channel, not yet
                             committed (outbox.c); the first napplied are written to the
                             open transaction and dropped when it commits */
    size_t nacked, capacked, napplied;
    struct gw_map *lanes; /* per-conversation order of channel rows (outbox_lane.c) */
    uint64_t record_timer; /* 0 ms: a channel delivery's record goes with the next turn */
    int64_t xmpp_sent_upto;     /* highest xmpp outbox id sent on this link */
    struct gw_pending *pending; /* channel deliveries that answered GW_PENDING */
    size_t npending, cappending;
};

/* One loop turn's transaction (turn.c owns it). */
struct gw_turn_reply;
struct gw_turn_after;
struct gw_turn {
    struct gw_turn_reply *replies; /* counsellor messages in this transaction */
    size_t nreplies, capreplies;
    struct gw_turn_after *after; /* effects waiting for this turn's commit */
    size_t nafter, capafter;
    long long rollbacks, rollback_replies; /* since the last log line */
    int64_t rollback_logged_at;
    int64_t rollback_at;         /* last failed commit (ms), 0 = none */
};

/* The pseudo-channel of conversations served here for a partner (and of relays to partners
 * for conversations served elsewhere): the desk routes it like a channel, fed/ serves it. */
#define GW_FED_CHANNEL "fed"

/* Services of the rooms above the desk (docs/architecture.md, "directions").  The desk never
 * includes fed/ or host/ headers: federation and the plugin host fill these tables in at
 * start-up (gw_fed_init, gw_host_attach), as plugins hand the host their struct gw_plugin.
 * The desk calls them through the gw_fed_* / gw_channel_* helpers below, which do nothing
 * (or answer "not there") while a table is unset -- as in unit tests that build a core
 * without federation. */
struct gw_fed_ops {
    /* An IQ with the federation namespace, or an answer to one of our requests: 1 = handled. */
    int (*iq)(struct gw_core *c, xmpp_stanza_t *st);
    /* Counsellor commands: "!escalate <partner> [note]", the partner part of "!queue",
     * "!take <domain>:<conv>". */
    void (*cmd_escalate)(struct gw_core *c, const char *from_full, struct gw_conv *cv,
                         const char *args);
    void (*cmd_queue)(struct gw_core *c, const char *from_full, const char *to_local);
    void (*cmd_take)(struct gw_core *c, const char *from_full, const char *to_local,
                     const char *target);
    /* A seeker's message in a conversation waiting for their consent answer: 1 = it was one. */
    int (*consent_answer)(struct gw_core *c, struct gw_conv *cv, const char *body);
    /* When cv is due to overflow to its next partner (gw_now_ms time), -1 never; and send it
     * if that is due now. */
    int64_t (*overflow_due)(struct gw_core *c, const struct gw_conv *cv, int64_t now);
    void (*overflow_check)(struct gw_core *c, struct gw_conv *cv, int64_t now);
};

struct gw_channel_ops {
    /* Hand message m to the channel's plugin (or to federation for GW_FED_CHANNEL):
     * GW_OK, GW_PENDING (deliver_done completes it) or an error with err filled in. */
    int (*deliver)(struct gw_core *c, const char *channel, const struct gw_msg *m, char *err,
                   size_t errlen);
    /* 1 when the channel's plugin declares GW_PLUGIN_F_PIPELINE (see plugin_api.h). */
    int (*pipelined)(struct gw_core *c, const char *channel);
    /* An erased conversation (token as it was): the channel's plugin forgets what it keeps
     * of it in memory (a web chat session).  NULL-safe to leave unset. */
    void (*forget)(struct gw_core *c, const char *channel, const char *conv);
};

/* The desk's own state: open conversations (conv.c), queues (queue.c), counsellor presence
 * (presence.c), the router's stanza counter, the test clock (clock.c).  Only desk/ reads
 * these fields; the other rooms use the functions below (gw_conv_find, gw_conv_each,
 * gw_conv_count, gw_queue_rt_find, ...).  gw_desk_init / gw_desk_release (desk.c) make and
 * free it. */
struct gw_desk {
    int ready;                     /* gw_desk_init ran */
    struct gw_map *conv_by_token;
    struct gw_map *conv_by_seeker; /* "channel\naddress" -> open conversation */
    struct gw_conv_list convs;     /* every open conversation, in opening order */
    size_t nconvs;
    struct gw_presence_list presence;
    struct gw_queue_rt *queues;
    int nqueues;
    int64_t *touched; /* ids of conversations whose activity times wait to be written */
    size_t ntouched, captouched;
    uint64_t grace_timer; /* next check of conversations held for an absent counsellor */
    int64_t grace_at;     /* when it fires (ms) */
    uint64_t stanza_seq;
    int64_t clock_offset_ms; /* test clock: wall = real + offset */
    /* runmark.c */
    int run_marked;           /* the store's run marker says "running" */
    int64_t alive_written_at; /* last heartbeat written (ms) */
    int64_t crashed_at; /* an unclean stop at about this time (ms) not yet announced, 0 none */
    /* retention.c */
    uint64_t retention_timer;
    int64_t retention_at;      /* when it fires (the earliest purge_at in the store, ...) */
};

struct gw_core {
    const char *config_path;
    struct gw_config *cfg;
    struct gw_loop *loop;
    struct gw_store *store;
    struct gw_xmpp *xmpp;
    struct gw_http *http;
    struct gw_fetch *fetch;
    struct gw_i18n *i18n;
    struct gw_plugin_slot *plugins; /* linked list (host.c) */
    struct gw_desk desk;     /* the desk's files only; the others call gw_conv_*(), gw_queue_*() */
    struct gw_outbox outbox; /* outbox*.c only; the others call gw_outbox_*() */
    uint64_t sweep_timer;
    uint64_t checkpoint_timer;      /* WAL checkpoints, off the message path */
    int stopping;
    struct gw_fed *fed;        /* federation state (fed/, opaque to the desk) */
    const struct gw_fed_ops *fed_ops;         /* set by gw_fed_init */
    const struct gw_channel_ops *channel_ops; /* set by gw_host_attach */
    struct gw_turn turn;     /* turn.c only */
    int64_t clock_skew_ms;     /* real-time minus monotonic clock at the last sweep */
    /* For the operator (skagerrakctl status): when the daemon started and when the XMPP
     * link last went up or down (gw_now_ms time; main.c sets them). */
    int64_t started_ms;
    int64_t link_changed_ms;
    /* The configuration reload (SIGHUP and skagerrakctl reload), registered by main.c so the
     * rooms below it can ask for one: 0 applied, -1 refused with every reason in why. */
    int (*reload)(struct gw_core *c, struct gw_cfg_errors *why);
};

/* --- turn.c: one loop turn, one transaction --- */
struct gw_turn_reply;
/* Commit what the turn stored (and drop the outbox's bookkeeping it covered).  GW_OK, or
 * GW_EIO: the store then refuses writes until the end of the turn recovers. */
int gw_turn_commit(struct gw_core *c);
/* The end-of-turn hook: flush the outbox, commit, and on failure recover (see turn.c); then
 * write the XMPP stream and release the held HTTP answers. */
void gw_turn_end(struct gw_core *c);
/* A counsellor's message from `from_full` to conversation `conv` was stored in this turn:
 * if the turn rolls back they are told it was not sent. */
void gw_turn_note_reply(struct gw_core *c, const char *from_full, const char *conv,
                        const char *stanza_id);
void gw_turn_release(struct gw_core *c);
/* Run cb(arg) after this turn's commit, or drop(arg) if it fails (host API after_commit).
 * `owner` identifies the plugin (gw_turn_drop_owner drops its items when it stops). */
int gw_turn_after_commit(struct gw_core *c, const void *owner, void (*cb)(void *arg),
                         void (*drop)(void *arg), void *arg);
void gw_turn_drop_owner(struct gw_core *c, const void *owner);

/* --- clock.c --- */
/* Wall-clock milliseconds (unix epoch), shifted by the test clock when one is set. */
int64_t gw_now_ms(const struct gw_core *c);
/* Set the test clock from "YYYY-MM-DDTHH:MM:SS" (local time); NULL = real clock.
 * Returns 0 or -1 when the text does not parse (nothing changed then). */
int gw_clock_set_test(struct gw_core *c, const char *spec);
/* The longest a time-driven timer sleeps before it re-evaluates (an hour).  Deadlines are
 * wall-clock times, the loop's timers run on the monotonic clock: after a step of the
 * system clock (or of the test clock) a timer computed before it is wrong, and this bounds
 * by how much, whatever else notices the step. */
#define GW_TIMER_MAX_MS (3600 * 1000)
/* The delay for a loop timer to fire at `due` (gw_now_ms time): due - gw_now_ms(), 0 when
 * past, at most GW_TIMER_MAX_MS.  *fires_at (may be NULL) gets the moment it will fire. */
uint64_t gw_clock_delay_ms(const struct gw_core *c, int64_t due, int64_t *fires_at);
/* 1 when spec parses as a test clock (or is NULL). */
int gw_clock_valid(const char *spec);
/* Real-time minus monotonic clock (ms): changes only when the system clock is stepped. */
int64_t gw_clock_skew_ms(void);

/* --- conv.c --- */
const char *gw_conv_state_name(enum gw_conv_state s);
struct gw_conv *gw_conv_find(struct gw_core *c, const char *token);
/* The open conversation with store id `id`, or NULL. */
struct gw_conv *gw_conv_by_id(struct gw_core *c, int64_t id);
/* The open conversation of a seeker on a channel, or NULL. */
struct gw_conv *gw_conv_for_seeker(struct gw_core *c, const char *channel, const char *address);
/* Note new activity times (row.last_seeker_at / last_counsellor_at): written with the next
 * gw_conv_save() or gw_conv_flush_touches(), not a statement per message.  Up to a second
 * of activity can be lost in a crash; it only times abandonment. */
void gw_conv_touch(struct gw_core *c, struct gw_conv *cv);
/* Write the activity times noted since the last call (the 1 s timer and shutdown). */
void gw_conv_flush_touches(struct gw_core *c);
/* Open a new conversation (persisted, state queued).  NULL on failure. */
struct gw_conv *gw_conv_open(struct gw_core *c, int64_t seeker_id, const char *channel,
                             const char *address, const char *display, const char *queue,
                             const char *lang, const char *meta_json);
/* Persist c->row after a change (state name synced from c->state). */
int gw_conv_save(struct gw_core *c, struct gw_conv *cv);
/* Move to a closed state: persist, notify seeker channel (GW_MSG_CLOSED with `text_key`),
 * free the memory.  cv is invalid afterwards. */
void gw_conv_finish(struct gw_core *c, struct gw_conv *cv, enum gw_conv_state st,
                    const char *outcome, const char *text_key, const char *reason);
/* Load every open conversation from the store (start-up). */
int gw_conv_load_all(struct gw_core *c);
/* After a rolled-back transaction: make the open conversations in memory those of the
 * store again — conversations the turn opened are dropped, those it closed come back, and
 * those whose state, counsellor or queue it changed are reloaded; the others keep what only
 * memory knows (offers, consent questions).  Then every queue is dispatched again. */
void gw_conv_reconcile(struct gw_core *c);
void gw_conv_free_all(struct gw_core *c);

/* --- desk.c: the desk's state as a whole --- */
/* Make the desk's state (empty lists and maps).  0, or -1 out of memory. */
int gw_desk_init(struct gw_core *c);
/* Free everything the desk holds (conversations, queues, presence, retention); safe when
 * gw_desk_init never ran. */
void gw_desk_release(struct gw_core *c);
/* How many conversations are open. */
size_t gw_conv_count(const struct gw_core *c);
/* cb for every open conversation, in opening order; cb may finish the one it is given
 * (not others). */
void gw_conv_each(struct gw_core *c, void (*cb)(void *arg, struct gw_conv *cv), void *arg);
/* Walk the open conversations in opening order without a callback (the loop body must not
 * open or finish conversations; gw_conv_each allows finishing the current one):
 *     struct gw_conv *cv;
 *     GW_CONV_FOREACH(cv, c) { ... } */
struct gw_conv *gw_conv_first(struct gw_core *c);
struct gw_conv *gw_conv_next(struct gw_core *c, struct gw_conv *cv);
#define GW_CONV_FOREACH(cv, c) for ((cv) = gw_conv_first(c); (cv); (cv) = gw_conv_next((c), (cv)))
/* The same for counsellor presences (one per resource and queue, presence.c). */
const struct gw_presence *gw_presence_first(struct gw_core *c);
const struct gw_presence *gw_presence_next(struct gw_core *c, const struct gw_presence *p);
#define GW_PRESENCE_FOREACH(p, c)                                                                 \
    for ((p) = gw_presence_first(c); (p); (p) = gw_presence_next((c), (p)))
/* The open conversation served elsewhere (role 1, "home side") that partner knows as ref. */
struct gw_conv *gw_conv_by_partner_ref(struct gw_core *c, const char *partner, const char *ref);
/* JID of the conversation ("token@domain") into buf. */
const char *gw_conv_jid(struct gw_core *c, const struct gw_conv *cv, char *buf, size_t len);
/* Tell the seeker an automatic text (catalogue key, vars name/value pairs, NULL-ended),
 * stored and queued for the channel.  meta_json describes it for structured channels. */
int gw_conv_tell(struct gw_core *c, struct gw_conv *cv, const char *key, const char *const *vars,
                 const char *meta_json);
/* Send the counsellor a text from the conversation JID (not stored as a seeker message). */
int gw_conv_notify_counsellor(struct gw_core *c, struct gw_conv *cv, const char *jid,
                              const char *text);
/* The counsellor's language (config, else default). */
const char *gw_counsellor_lang(struct gw_core *c, const char *bare_jid);
/* Name shown to seekers for a counsellor. */
const char *gw_counsellor_name(struct gw_core *c, const char *bare_jid);

/* --- block.c --- */
/* Block (blocked=1) or unblock a seeker on their channel: stored (honoured across restarts),
 * an event "blocked"/"unblocked" by `actor` with `why` on their open conversation (else on
 * conv_id, 0 = none); blocking closes the open conversation, telling the seeker the
 * "blocked" text, and the counsellor of an active one the text `counsellor_key` (NULL: not
 * told — the counsellor asked for it).  GW_OK, GW_ENOTFOUND (no such seeker) or GW_EIO. */
int gw_seeker_block(struct gw_core *c, int64_t seeker_id, int64_t conv_id, int blocked,
                    const char *why, const char *actor, const char *counsellor_key);

/* --- presence.c --- */
/* A presence stanza arrived for a queue JID or the domain. */
void gw_presence_in(struct gw_core *c, const char *from_full, const char *to_queue,
                    const char *type, const char *show);
/* Ask the server for every counsellor's presence towards their queues (after a (re)start
 * the gateway has forgotten who was signed in; subscribed servers answer a probe). */
void gw_presence_probe(struct gw_core *c);
/* The component link went down: forget presence, withdraw offers. */
void gw_presence_link_down(struct gw_core *c);
/* The link is up: probe counsellors; active conversations wait for theirs to reappear. */
void gw_presence_link_up(struct gw_core *c);
/* Signed in to any queue / ready (available or chat) for `queue`. */
int gw_counsellor_online(struct gw_core *c, const char *bare);
int gw_counsellor_ready(struct gw_core *c, const char *bare, const char *queue);
/* Free the presence list and the grace timer (shutdown). */
void gw_presence_release(struct gw_core *c);
/* The clock changed: re-arm the grace timer from the conversations' held_until. */
void gw_presence_rearm(struct gw_core *c);

/* --- queue.c --- */
int gw_queues_init(struct gw_core *c); /* also after reload */
void gw_queues_release(struct gw_core *c);
struct gw_queue_rt *gw_queue_rt(struct gw_core *c, const char *id);
/* Put cv into its queue's waiting list (front=1 for requeue) and dispatch. */
void gw_queue_enqueue(struct gw_core *c, struct gw_conv *cv, int front);
/* Remove cv from its waiting list (when assigned/closed). */
void gw_queue_remove(struct gw_core *c, struct gw_conv *cv);
/* Try to assign waiting conversations of queue q (offer mode) and update positions. */
void gw_queue_dispatch(struct gw_core *c, const char *queue);
/* Assign cv to counsellor jid (accept, take, next, reassign).  Returns GW_OK or GW_EPERM
 * when cv is no longer waiting (someone else won). */
int gw_queue_assign(struct gw_core *c, struct gw_conv *cv, const char *jid, const char *how);
/* Put an active conversation back in its queue (front), telling the seeker `key`. */
void gw_queue_requeue(struct gw_core *c, struct gw_conv *cv, const char *key);
/* Open conversations assigned to bare. */
int gw_counsellor_load(struct gw_core *c, const char *bare);
/* How many conversations counsellor `bare` may hold at once (config, default 3). */
int gw_counsellor_capacity(struct gw_core *c, const char *bare);
/* Position (1-based) of cv in its queue, 0 if not waiting. */
int gw_queue_position(struct gw_core *c, const struct gw_conv *cv);
/* Estimated wait for position pos in queue (ms), -1 unknown. */
int64_t gw_queue_wait_estimate(struct gw_core *c, const char *queue, int pos);
/* Send position updates where they changed (respecting the interval). */
void gw_queue_positions(struct gw_core *c, struct gw_queue_rt *q);
/* Each of these fires on a timer of its own at the moment it is due (docs/core.md, "what
 * fires when"); gw_queue_sweep() runs the same checks over every conversation every 5 s
 * as a safety net.
 * (Re)arm cv's deadline timer for its next time-driven transition.  Cheap when an earlier
 * wake-up is already armed (it re-evaluates when it fires).  Called whenever the
 * conversation is saved (gw_conv_save) and from gw_conv_touch when a seeker's message
 * starts the counsellor_timeout. */
void gw_queue_arm(struct gw_core *c, struct gw_conv *cv);
/* The unanswered deadline of cv (counsellor_timeout), or -1: the per-message check. */
int64_t gw_queue_unanswered_due(const struct gw_core *c, const struct gw_conv *cv);
/* The safety net: unanswered, abandoned, expired, for every conversation. */
void gw_queue_sweep(struct gw_core *c);
/* Check queue q's opening hours now: on a change open -> dispatch, closed -> the closed
 * state (waiting seekers told the hours, overflow when closed); re-arm its hours timer. */
void gw_queue_hours(struct gw_core *c, struct gw_queue_rt *q);
/* Re-arm every time-driven timer (after a reload; clock_changed: the test clock changed
 * or the system clock was stepped, so even timers armed earlier are wrong). */
void gw_timers_rearm(struct gw_core *c, int clock_changed);
/* The closed-hours text for a seeker of a closed queue (nothing when it is open). */
void gw_queue_tell_closed(struct gw_core *c, struct gw_conv *cv);
/* Format a duration in the given language into buf (catalogue wait_* keys). */
const char *gw_fmt_wait(struct gw_core *c, const char *lang, int64_t ms, char *buf, size_t len);

/* Plain-text transcript of a conversation (what the seeker saw), in its language.
 * malloc'd; caller frees. */
char *gw_transcript_text(struct gw_core *c, const struct gw_conv_row *r);

/* --- router.c --- */
int gw_router_submit(struct gw_core *c, const char *channel, const struct gw_inbound *in,
                     struct gw_submitted *out, char *err, size_t errlen);
void gw_router_xmpp_message(void *arg, xmpp_stanza_t *st);
void gw_router_xmpp_presence(void *arg, xmpp_stanza_t *st);
int gw_router_xmpp_iq(void *arg, xmpp_stanza_t *st);
/* Serialize a stanza into the durable XMPP outbox and release it.  msg_id may be 0. */
int gw_router_queue_stanza(struct gw_core *c, xmpp_stanza_t *st, int64_t msg_id);
/* Send a chat message from `from_local@domain` (NULL = the domain) to `to`. */
int gw_router_chat(struct gw_core *c, const char *from_local, const char *to, const char *body,
                   const char *nick, int64_t msg_id);
void gw_router_seeker_event(struct gw_core *c, const char *conv, enum gw_seeker_event ev);
/* Send the counsellor what the seeker wrote while waiting (pre-chat fields first). */
void gw_router_replay_to_counsellor(struct gw_core *c, struct gw_conv *cv, const char *jid);

/* --- outbox.c --- */
/* Queue a stanza for XMPP (durable).  msg_id may be 0. */
int gw_outbox_xmpp(struct gw_core *c, int64_t msg_id, const char *xml);
/* Queue a stored message for its channel plugin. */
int gw_outbox_channel(struct gw_core *c, int64_t msg_id, const char *channel, int kind);
/* The same, by a caller that has just stored the message (conversation, body, meta may be
 * NULL): a delivery within this turn then reads nothing back from the store. */
int gw_outbox_channel_msg(struct gw_core *c, int64_t msg_id, const char *channel, int kind,
                          int64_t conv_id, const char *body, const char *meta);
/* Send what is due; called at the end of a loop turn and by the retry timer. */
void gw_outbox_flush(struct gw_core *c);
/* Free the outbox's memory (shutdown). */
void gw_outbox_release(struct gw_core *c);
/* Rows became due that this turn's work list does not hold (a partner answers again after
 * their relays were put back): the next flush reads the due rows from the store. */
void gw_outbox_rescan(struct gw_core *c);
/* 1 while entries wait for a flush (the end of the turn drains them, bounded). */
int gw_outbox_has_work(const struct gw_core *c);
/* A clean stop is coming: confirm what was sent since the last barrier with one more, whose
 * answer the closing stream still reads (else those stanzas go again after the start). */
void gw_outbox_last_barrier(struct gw_core *c);
void gw_outbox_online(struct gw_core *c);
void gw_outbox_offline(struct gw_core *c);
void gw_outbox_acked(void *arg, uint64_t seq);
/* Record the confirmations gw_outbox_acked() kept in memory (before any commit that is due
 * anyway, the 1 s checkpoint timer and shutdown call this).  They stay in memory until
 * gw_outbox_committed(): a rolled-back turn writes them again. */
void gw_outbox_apply_acks(struct gw_core *c);
/* The turn's transaction committed: forget what it recorded. */
void gw_outbox_committed(struct gw_core *c);
/* The turn's transaction was rolled back (turn.c): nothing it queued may leave.  Drops this
 * turn's work, rebuilds the lanes from the store and rescans it at the next flush. */
void gw_outbox_rolled_back(struct gw_core *c);
/* Start-up: read the lanes of what the outbox holds. */
void gw_outbox_start(struct gw_core *c);
/* A channel finished a pending delivery (plugin api deliver_done). */
void gw_outbox_channel_done(struct gw_core *c, int64_t msg_id, int status, const char *ref,
                            const char *reason);
/* Apply a delivery report for a message. */
int gw_outbox_report(struct gw_core *c, int64_t msg_id, enum gw_dlr state, const char *reason);

/* --- runmark.c --- */
/* Start-up (store open, conversations loaded): read the previous run's marker -- "running"
 * means it died without a clean stop -- and mark this run running. */
void gw_run_begin(struct gw_core *c);
/* The heartbeat (1 s checkpoint timer, before its commit): when this run was last alive. */
void gw_run_alive(struct gw_core *c);
/* The link is up: after an unclean stop, tell the counsellor of every open conversation,
 * once, that messages sent shortly before it may not have arrived. */
void gw_run_link_up(struct gw_core *c);
/* Shutdown, before the last commit: clean = the stream was closed by both sides (or was not
 * up), so nothing the server forwarded can be unread; only then the marker says "stopped". */
void gw_run_end(struct gw_core *c, int clean);
/* --- retention.c --- */
/* The first run shortly after start-up, then on its own timer (the earliest purge_at). */
void gw_retention_start(struct gw_core *c);
/* cv has just closed (row.closed_at set, row saved): its purge_at is written from the rule
 * that applies (gw_config_retention_days) and the timer brought forward if needed. */
void gw_retention_closed(struct gw_core *c, const struct gw_conv *cv);
/* Content was added to a conversation after it closed (the seeker's feedback comment, a
 * transcript copy sent by e-mail): its deadline is set again from its rule, so what came
 * late goes too — at once when the deadline has passed (retention 0). */
void gw_retention_late_content(struct gw_core *c, const struct gw_conv_row *r);
/* Re-arm after a reload (rules may have changed) or a clock change. */
void gw_retention_rearm(struct gw_core *c);
void gw_retention_release(struct gw_core *c);
/* Run retention now (skagerrakctl purge): every conversation due by now loses its texts,
 * audit rows past audit_retention_days go.  *nconv = conversations purged, *naudit = audit
 * rows deleted.  Returns messages deleted or a negative GW_E*.  The writes join the turn. */
int64_t gw_retention_run_now(struct gw_core *c, int *nconv, int64_t *naudit);

/* --- audit.c: the read audit (docs/privacy.md, "the audit") --- */
/* Record that `who` read `what` of conversation conv_id (0: not one conversation) now;
 * detail says what was shown, why is the reason given (both may be NULL).  Seeker
 * identifiers in who/detail must already be masked.  Joins the turn's transaction; a
 * failed write is logged (the read itself is not undone). */
void gw_audit(struct gw_core *c, const char *who, int64_t conv_id, const char *what,
              const char *detail, const char *why);
/* A read through skagerrakctl (ctl/, its peer string "uid 1000 (name)"): one audit row
 * `what` ("ctl-show" for show --messages, "export" for export-seeker) for conversation
 * conv_id with the number of messages shown. */
void gw_audit_ctl(struct gw_core *c, const char *peer, int64_t conv_id, const char *what,
                  int nmessages, const char *why);
/* "seeker (webchat ··abcd)": who, for a read by the seeker themselves on their channel. */
void gw_audit_seeker_who(struct gw_core *c, int64_t seeker_id, char *buf, size_t len);

/* --- commands.c --- */
/* Handle a counsellor's command text (without the prefix) sent to `to_local` (queue id,
 * conversation token or NULL for the domain).  Replies go to from_full. */
void gw_command(struct gw_core *c, const char *from_full, const char *to_local, const char *text);

/* --- adhoc.c --- */
/* XEP-0050 ad-hoc commands (and their disco items).  Returns 1 when answered. */
int gw_adhoc_iq(struct gw_core *c, xmpp_stanza_t *st);

/* --- calls upward, through the tables above --- */
static inline int gw_fed_iq_call(struct gw_core *c, xmpp_stanza_t *st)
{
    return c->fed_ops ? c->fed_ops->iq(c, st) : 0;
}
static inline int gw_fed_consent_call(struct gw_core *c, struct gw_conv *cv, const char *body)
{
    return c->fed_ops ? c->fed_ops->consent_answer(c, cv, body) : 0;
}
static inline int64_t gw_fed_overflow_due_call(struct gw_core *c, const struct gw_conv *cv,
                                               int64_t now)
{
    return c->fed_ops ? c->fed_ops->overflow_due(c, cv, now) : -1;
}
static inline void gw_fed_overflow_check_call(struct gw_core *c, struct gw_conv *cv, int64_t now)
{
    if (c->fed_ops)
        c->fed_ops->overflow_check(c, cv, now);
}
static inline int gw_channel_deliver(struct gw_core *c, const char *channel,
                                     const struct gw_msg *m, char *err, size_t errlen)
{
    if (!c->channel_ops) {
        snprintf(err, errlen, "no plugin for channel '%s'", channel);
        return GW_ENOTFOUND;
    }
    return c->channel_ops->deliver(c, channel, m, err, errlen);
}
static inline int gw_channel_pipelined(struct gw_core *c, const char *channel)
{
    return c->channel_ops ? c->channel_ops->pipelined(c, channel) : 0;
}

#endif

/* store_int.h — private to the store (store.c, store_conv.c, store_msg.c): the handle, the
 * prepared statements and the helpers the three share.  Nothing else includes it. */
#ifndef GW_STORE_INT_H
#define GW_STORE_INT_H

#include <sqlite3.h>
#include <stddef.h>

#include "store/store.h"

/* The prepared statements: gw_store_open() prepares each once (s->st[k]); iterations whose
 * callbacks write to the store prepare a private copy from the same text.  The table is
 * static, so each file that reads it has its own (small) array of pointers. */
enum stmt {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_KV_GET,
    S_KV_SET,
    S_KV_DEL,
    S_MSG_EACHREF,
    S_SEEKER_FIND,
    S_SEEKER_INS,
    S_SEEKER_GET,
    S_SEEKER_BLOCK,
    S_SEEKER_HIST,
    S_CONV_INS,
    S_CONV_UPD,
    S_CONV_TOUCH,
    S_CONV_TOKEN,
    S_CONV_ID,
    S_CONV_OPEN,
    S_CONV_HISTORY,
    S_WAIT,
    S_HANDLE,
    S_MSG_INS,
    S_MSG_STATE,
    S_MSG_GET,
    S_MSG_FULL,
    S_MSG_REF,
    S_MSG_SETREF,
    S_MSG_EACH,
    S_MSG_LASTIN,
    S_DEDUP_FIND,
    S_DEDUP_ADD,
    S_OB_ADD,
    S_OB_WAKE,
    S_OB_WAKE_TARGET,
    S_OB_DUE,
    S_OB_CHANNEL,
    S_OB_DONE,
    S_OB_RETRY,
    S_OB_NEXT,
    S_OB_COUNT,
    S_EVENT,
    S_FEEDBACK,
    S_AUDIT_ADD,
    S_AUDIT_EXPIRE,
    S_PURGE_SET,
    S_PURGE_DEDUP,
    S_PURGE_MSG,
    S_PURGE_FEEDBACK,
    S_PURGE_KV,
    S_PURGE_DONE,
    S_PURGE_NEXT,
    S_AUDIT_OLDEST,
    S_COUNT_MAX
};

#define CONV_COLS                                                                                  \
    "id, token, seeker_id, queue, lang, state, counsellor, priority, created,"                     \
    " queued_at, assigned_at, closed_at, last_seeker_at, last_counsellor_at, outcome,"             \
    " transfers, meta, partner, partner_ref, role"

static const char *const gw_store_i_sql[S_COUNT_MAX] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_KV_GET] = "SELECT value FROM kv WHERE owner=?1 AND key=?2",
    [S_KV_SET] = "INSERT INTO kv(owner,key,value) VALUES(?1,?2,?3)"
                 " ON CONFLICT(owner,key) DO UPDATE SET value=excluded.value",
    [S_KV_DEL] = "DELETE FROM kv WHERE owner=?1 AND key=?2",
    [S_MSG_EACHREF] = "SELECT id, conv_id, dir, author, created, state, channel_ref, stanza_id"
                      " FROM messages WHERE channel_ref=?1 ORDER BY id",
    [S_SEEKER_FIND] = "SELECT id, channel, address, display, lang, blocked, history_ok"
                      " FROM seekers WHERE channel=?1 AND address=?2",
    [S_SEEKER_INS] = "INSERT INTO seekers(channel,address,display,lang,created)"
                     " VALUES(?1,?2,?3,?4,?5)",
    [S_SEEKER_GET] = "SELECT id, channel, address, display, lang, blocked, history_ok"
                     " FROM seekers WHERE id=?1",
    [S_SEEKER_BLOCK] = "UPDATE seekers SET blocked=?2, blocked_why=?3 WHERE id=?1",
    [S_SEEKER_HIST] = "UPDATE seekers SET history_ok=?2 WHERE id=?1",
    [S_CONV_INS] = "INSERT INTO conversations(id, token, seeker_id, queue, lang, state, counsellor,"
                   " priority, created, queued_at, assigned_at, closed_at, last_seeker_at,"
                   " last_counsellor_at, outcome, transfers, meta, partner, partner_ref, role)"
                   " VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)",
    [S_CONV_UPD] = "UPDATE conversations SET queue=?4, lang=?5, state=?6, counsellor=?7,"
                   " priority=?8, queued_at=?10, assigned_at=?11, closed_at=?12,"
                   " last_seeker_at=?13, last_counsellor_at=?14, outcome=?15, transfers=?16,"
                   " meta=?17, partner=?18, partner_ref=?19, role=?20 WHERE id=?1",
    /* Only the activity times: no indexed column changes, so no index is rewritten. */
    [S_CONV_TOUCH] = "UPDATE conversations SET last_seeker_at=?2, last_counsellor_at=?3 WHERE id=?1",
    [S_CONV_TOKEN] = "SELECT " CONV_COLS " FROM conversations WHERE token=?1",
    [S_CONV_ID] = "SELECT " CONV_COLS " FROM conversations WHERE id=?1",
    [S_CONV_OPEN] = "SELECT " CONV_COLS " FROM conversations WHERE state NOT IN"
                    " ('closed','abandoned','expired') ORDER BY id",
    [S_CONV_HISTORY] = "SELECT " CONV_COLS " FROM conversations WHERE seeker_id=?1 AND id<>?2"
                       " AND state IN ('closed','abandoned','expired') ORDER BY id DESC LIMIT ?3",
    [S_WAIT] = "SELECT avg(w), count(w) FROM (SELECT assigned_at - queued_at AS w FROM"
               " conversations WHERE queue=?1 AND assigned_at IS NOT NULL"
               " ORDER BY assigned_at DESC LIMIT ?2)",
    [S_HANDLE] = "SELECT avg(h), count(h) FROM (SELECT closed_at - assigned_at AS h FROM"
                 " conversations WHERE queue=?1 AND assigned_at IS NOT NULL AND closed_at IS NOT"
                 " NULL ORDER BY closed_at DESC LIMIT ?2)",
    [S_MSG_INS] = "INSERT INTO messages(conv_id, dir, body, author, created, state, stanza_id,"
                  " meta, id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9)",
    /* Final states (delivered, failed) are never replaced by 'sent'; 'failed' never by
     * 'delivered' arriving later either: first final state wins. */
    [S_MSG_STATE] = "UPDATE messages SET state=?2, channel_ref=coalesce(?3, channel_ref),"
                    " error=coalesce(?4, error) WHERE id=?1 AND state NOT IN"
                    " ('delivered','failed') AND NOT (state=?2 AND ?3 IS NULL)",
    [S_MSG_GET] = "SELECT id, conv_id, dir, author, created, state, channel_ref, stanza_id"
                  " FROM messages WHERE id=?1",
    [S_MSG_FULL] = "SELECT id, conv_id, dir, author, created, state, channel_ref, stanza_id,"
                   " body, meta FROM messages WHERE id=?1",
    [S_MSG_REF] = "SELECT id, conv_id, dir, author, created, state, channel_ref, stanza_id"
                  " FROM messages WHERE channel_ref=?1 ORDER BY id DESC LIMIT 1",
    [S_MSG_SETREF] = "UPDATE messages SET channel_ref=?2 WHERE id=?1",
    [S_MSG_EACH] = "SELECT id, conv_id, dir, author, created, state, channel_ref, stanza_id,"
                   " body, meta FROM messages WHERE conv_id=?1 AND id>?2 ORDER BY id",
    [S_MSG_LASTIN] = "SELECT channel_ref FROM messages WHERE conv_id=?1 AND dir='in' AND"
                     " channel_ref IS NOT NULL ORDER BY id DESC LIMIT 1",
    [S_DEDUP_FIND] = "SELECT msg_id FROM inbound_dedup WHERE channel=?1 AND ext_id=?2",
    [S_DEDUP_ADD] = "INSERT OR IGNORE INTO inbound_dedup(channel, ext_id, msg_id) VALUES(?1,?2,?3)",
    [S_OB_ADD] =
        "INSERT INTO outbox(msg_id, target, kind, payload, next_at, id) VALUES(?1,?2,?3,?4,?5,?6)",
    [S_OB_WAKE] = "UPDATE outbox SET next_at=0 WHERE next_at>0",
    [S_OB_WAKE_TARGET] = "UPDATE outbox SET next_at=0 WHERE next_at>0 AND target=?1",
    /* With the message's conversation: channel rows keep their order per conversation
     * (outbox.c, lanes).  A primary-key lookup per row, on the rescan path only. */
    [S_OB_DUE] = "SELECT o.id, o.msg_id, o.target, o.kind, o.payload, o.attempts, o.next_at,"
                 " m.conv_id FROM outbox o LEFT JOIN messages m ON m.id=o.msg_id"
                 " WHERE o.next_at<=?1 AND o.id>?2 ORDER BY o.id LIMIT ?3",
    [S_OB_CHANNEL] = "SELECT o.id, o.msg_id, o.target, m.conv_id FROM outbox o LEFT JOIN"
                     " messages m ON m.id=o.msg_id WHERE o.target<>'xmpp' ORDER BY o.id",
    [S_OB_DONE] = "DELETE FROM outbox WHERE id=?1",
    [S_OB_RETRY] = "UPDATE outbox SET attempts=attempts+1, next_at=?2, last_error=?3 WHERE id=?1",
    [S_OB_NEXT] = "SELECT min(next_at) FROM outbox WHERE next_at>?1",
    [S_OB_COUNT] = "SELECT count(*) FROM outbox",
    [S_EVENT] = "INSERT INTO events(conv_id, at, kind, actor, detail) VALUES(?1,?2,?3,?4,?5)",
    [S_FEEDBACK] = "INSERT OR REPLACE INTO feedback(conv_id, rating, comment) VALUES(?1,?2,?3)",
    /* store_audit.c: the read audit and the per-conversation purge (issue 14). */
    [S_AUDIT_ADD] = "INSERT INTO audit(at, who, conv_id, what, detail, why) VALUES(?1,?2,?3,?4,?5,?6)",
    [S_AUDIT_EXPIRE] = "DELETE FROM audit WHERE at < ?1",
    [S_AUDIT_OLDEST] = "SELECT min(at) FROM audit",
    [S_PURGE_SET] = "UPDATE conversations SET purge_at=?2 WHERE id=?1",
    /* A message still waiting in the outbox stays (it is the seeker's, on its way); the
     * dedup keys go first, while the messages they point at can still be found. */
    [S_PURGE_DEDUP] = "DELETE FROM inbound_dedup WHERE msg_id IN (SELECT id FROM messages WHERE"
                      " conv_id=?1 AND id NOT IN (SELECT msg_id FROM outbox WHERE msg_id IS NOT"
                      " NULL))",
    [S_PURGE_MSG] = "DELETE FROM messages WHERE conv_id=?1 AND id NOT IN (SELECT msg_id FROM"
                    " outbox WHERE msg_id IS NOT NULL)",
    [S_PURGE_FEEDBACK] = "UPDATE feedback SET comment=NULL WHERE conv_id=?1 AND comment IS NOT NULL",
    /* A plugin's per-conversation keys ("subj:<token>", "refs:<token>" of the e-mail
     * channel: a subject line is text) go with the texts. */
    [S_PURGE_KV] = "DELETE FROM kv WHERE owner <> 'core' AND key LIKE '%:' || (SELECT token FROM"
                   " conversations WHERE id=?1)",
    /* The pre-chat form goes with the texts; what a message held back by the outbox keeps
     * is tried again at ?2. */
    [S_PURGE_DONE] = "UPDATE conversations SET meta=NULL, purge_at=CASE WHEN EXISTS(SELECT 1 FROM"
                     " messages WHERE conv_id=?1) THEN ?2 ELSE NULL END WHERE id=?1",
    [S_PURGE_NEXT] = "SELECT min(purge_at) FROM conversations WHERE purge_at IS NOT NULL",
};

struct gw_store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT_MAX];
    int in_txn;
    int failed;
    int doomed;           /* a write of this transaction failed: see doom() in store.c */
    long long refused;    /* writes refused since */
    int64_t err_logged_ms;           /* monotonic ms of the last failure logged */
    int wal_frames;                  /* frames in the WAL after the last commit */
    long long err_turns, err_refused; /* failures not logged since (summarised in doom()) */
    int version;
    /* Ids of new rows come from counters seeded with max(id) at open, not from SQLite's
     * rowid: a rolled-back insert must not hand its id to the next message, because the id
     * is on the wire (stanza id and origin-id gw-m<id>, event ids).  Never reused while we
     * run; after a restart only ids that never left the process can come again. */
    int64_t outbox_last_id, msg_last_id, conv_last_id;
};

/* Fetch statement k ready to bind: reset, bindings cleared.  With `write`, a transaction is
 * opened first if none is (gw_store_commit() ends it), so a loop turn's writes commit
 * together; a failed BEGIN is logged and sets s->failed. */
sqlite3_stmt *gw_store_i_prep(struct gw_store *s, enum stmt k, int write);

/* Step a write (or a statement whose row is not wanted) and reset it.  GW_OK, or GW_EIO
 * after logging the SQLite error and setting s->failed (cleared by the next success). */
int gw_store_i_step_done(struct gw_store *s, sqlite3_stmt *st);

/* Bind v (borrowed until the statement is reset: SQLITE_STATIC) as parameter i; NULL binds
 * SQL NULL. */
void gw_store_i_bind_text(sqlite3_stmt *st, int i, const char *v);

/* Copy text column i into dst (n bytes, always terminated, truncated if longer); NULL
 * becomes "". */
void gw_store_i_copy_col(sqlite3_stmt *st, int i, char *dst, size_t n);

#endif

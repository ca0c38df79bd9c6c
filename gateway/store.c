/* store.c — the durable store: SQLite (WAL), numbered migrations, prepared statements. */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "plugin_api.h"
#include "store.h"

/* Migrations, applied in order; user_version holds how many have run.  Append only:
 * a released migration is never edited. */
static const char *const migrations[] = {
    /* 1: the initial schema */
    "CREATE TABLE kv(owner TEXT NOT NULL, key TEXT NOT NULL, value TEXT,"
    "  PRIMARY KEY(owner, key)) WITHOUT ROWID;"
    "CREATE TABLE seekers(id INTEGER PRIMARY KEY, channel TEXT NOT NULL, address TEXT NOT NULL,"
    "  display TEXT, lang TEXT, blocked INTEGER NOT NULL DEFAULT 0, blocked_why TEXT,"
    "  history_ok INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL,"
    "  UNIQUE(channel, address));"
    "CREATE TABLE conversations(id INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE,"
    "  seeker_id INTEGER NOT NULL REFERENCES seekers(id), queue TEXT NOT NULL,"
    "  lang TEXT NOT NULL, state TEXT NOT NULL, counsellor TEXT, priority INTEGER NOT NULL"
    "  DEFAULT 0, created INTEGER NOT NULL, queued_at INTEGER, assigned_at INTEGER,"
    "  closed_at INTEGER, last_seeker_at INTEGER, last_counsellor_at INTEGER, outcome TEXT,"
    "  transfers INTEGER NOT NULL DEFAULT 0, meta TEXT, partner TEXT, partner_ref TEXT,"
    "  role INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX conv_open ON conversations(state) WHERE state NOT IN"
    "  ('closed','abandoned','expired');"
    "CREATE INDEX conv_seeker ON conversations(seeker_id, id);"
    "CREATE INDEX conv_wait ON conversations(queue, assigned_at) WHERE assigned_at IS NOT NULL;"
    "CREATE TABLE messages(id INTEGER PRIMARY KEY, conv_id INTEGER NOT NULL,"
    "  dir TEXT NOT NULL, body TEXT NOT NULL, author TEXT, created INTEGER NOT NULL,"
    "  state TEXT NOT NULL, channel_ref TEXT, stanza_id TEXT, error TEXT, meta TEXT);"
    "CREATE INDEX msg_conv ON messages(conv_id, id);"
    "CREATE INDEX msg_ref ON messages(channel_ref) WHERE channel_ref IS NOT NULL;"
    "CREATE TABLE inbound_dedup(channel TEXT NOT NULL, ext_id TEXT NOT NULL,"
    "  msg_id INTEGER NOT NULL, PRIMARY KEY(channel, ext_id)) WITHOUT ROWID;"
    /* AUTOINCREMENT: ids must never be reused, the XMPP sender relies on their order. */
    "CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, msg_id INTEGER, target TEXT NOT "
    "NULL,"
    "  kind INTEGER NOT NULL DEFAULT 0, payload TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL, last_error TEXT);"
    "CREATE INDEX outbox_next ON outbox(next_at);"
    "CREATE TABLE events(id INTEGER PRIMARY KEY, conv_id INTEGER, at INTEGER NOT NULL,"
    "  kind TEXT NOT NULL, actor TEXT, detail TEXT);"
    "CREATE INDEX events_conv ON events(conv_id);"
    "CREATE TABLE feedback(conv_id INTEGER PRIMARY KEY, rating INTEGER, comment TEXT);",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

enum stmt {
    S_BEGIN,
    S_COMMIT,
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
    S_OB_DUE,
    S_OB_DONE,
    S_OB_RETRY,
    S_OB_NEXT,
    S_OB_COUNT,
    S_EVENT,
    S_FEEDBACK,
    S_RET_MSG,
    S_RET_DEDUP,
    S_COUNT_MAX
};

#define CONV_COLS                                                                                  \
    "id, token, seeker_id, queue, lang, state, counsellor, priority, created,"                     \
    " queued_at, assigned_at, closed_at, last_seeker_at, last_counsellor_at, outcome,"             \
    " transfers, meta, partner, partner_ref, role"

static const char *const sql[S_COUNT_MAX] = {
    [S_BEGIN] = "BEGIN",
    [S_COMMIT] = "COMMIT",
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
    [S_CONV_INS] = "INSERT INTO conversations(token, seeker_id, queue, lang, state, counsellor,"
                   " priority, created, queued_at, assigned_at, closed_at, last_seeker_at,"
                   " last_counsellor_at, outcome, transfers, meta, partner, partner_ref, role)"
                   " VALUES(?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16,?17,?18,?19,?20)",
    [S_CONV_UPD] = "UPDATE conversations SET queue=?4, lang=?5, state=?6, counsellor=?7,"
                   " priority=?8, queued_at=?10, assigned_at=?11, closed_at=?12,"
                   " last_seeker_at=?13, last_counsellor_at=?14, outcome=?15, transfers=?16,"
                   " meta=?17, partner=?18, partner_ref=?19, role=?20 WHERE id=?1",
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
                  " meta) VALUES(?1,?2,?3,?4,?5,?6,?7,?8)",
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
        "INSERT INTO outbox(msg_id, target, kind, payload, next_at) VALUES(?1,?2,?3,?4,?5)",
    [S_OB_WAKE] = "UPDATE outbox SET next_at=0 WHERE next_at>0",
    [S_OB_DUE] = "SELECT id, msg_id, target, kind, payload, attempts, next_at FROM outbox"
                 " WHERE next_at<=?1 AND id>?2 ORDER BY id LIMIT ?3",
    [S_OB_DONE] = "DELETE FROM outbox WHERE id=?1",
    [S_OB_RETRY] = "UPDATE outbox SET attempts=attempts+1, next_at=?2, last_error=?3 WHERE id=?1",
    [S_OB_NEXT] = "SELECT min(next_at) FROM outbox",
    [S_OB_COUNT] = "SELECT count(*) FROM outbox",
    [S_EVENT] = "INSERT INTO events(conv_id, at, kind, actor, detail) VALUES(?1,?2,?3,?4,?5)",
    /* Retention: the text of conversations closed before the cutoff goes; the conversation
     * rows (times, queue, outcome: the statistics) stay, without content. */
    [S_RET_MSG] = "DELETE FROM messages WHERE conv_id IN (SELECT id FROM conversations WHERE"
                  " closed_at IS NOT NULL AND closed_at < ?1) AND id NOT IN (SELECT msg_id FROM"
                  " outbox WHERE msg_id IS NOT NULL)",
    [S_RET_DEDUP] = "DELETE FROM inbound_dedup WHERE msg_id NOT IN (SELECT id FROM messages)",
    [S_FEEDBACK] = "INSERT OR REPLACE INTO feedback(conv_id, rating, comment) VALUES(?1,?2,?3)",
};

struct gw_store {
    sqlite3 *db;
    sqlite3_stmt *st[S_COUNT_MAX];
    int in_txn;
    int failed;
    int version;
};

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b);
}

/* Fetch a ready statement: reset, bindings cleared, and a write transaction opened for
 * writes so a loop turn's writes commit together. */
static sqlite3_stmt *prep(struct gw_store *s, enum stmt k, int write)
{
    if (write && !s->in_txn) {
        sqlite3_stmt *b = s->st[S_BEGIN];
        sqlite3_reset(b);
        if (sqlite3_step(b) != SQLITE_DONE) {
            GW_ERROR("store: BEGIN failed: %s", sqlite3_errmsg(s->db));
            s->failed = 1;
        } else {
            s->in_txn = 1;
        }
    }
    sqlite3_stmt *st = s->st[k];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

static int step_done(struct gw_store *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        GW_ERROR("store: %s", sqlite3_errmsg(s->db));
        s->failed = 1;
        sqlite3_reset(st);
        return GW_EIO;
    }
    s->failed = 0;
    sqlite3_reset(st);
    return GW_OK;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static void copy_col(sqlite3_stmt *st, int i, char *dst, size_t n)
{
    const unsigned char *v = sqlite3_column_text(st, i);
    snprintf(dst, n, "%s", v ? (const char *)v : "");
}

static int exec(struct gw_store *s, const char *q, char *err, size_t errlen)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, q, NULL, NULL, &msg) != SQLITE_OK) {
        set_err(err, errlen, "%s%s", msg ? msg : "sqlite error", "");
        sqlite3_free(msg);
        return GW_EIO;
    }
    return GW_OK;
}

static int migrate(struct gw_store *s, const char *path, char *err, size_t errlen)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        set_err(err, errlen, "%s: not a usable SQLite database: %s", path, sqlite3_errmsg(s->db));
        sqlite3_finalize(st);
        return GW_EIO;
    }
    int v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (v > NMIGRATIONS) {
        char b[16];
        snprintf(b, sizeof b, "%d", v);
        set_err(err, errlen, "%s: schema version %s is newer than this skagerrak knows", path, b);
        return GW_EINVAL;
    }
    for (; v < NMIGRATIONS; v++) {
        char q[64], e2[512] = "";
        if (exec(s, "BEGIN IMMEDIATE", e2, sizeof e2) < 0 ||
            exec(s, migrations[v], e2, sizeof e2) < 0) {
            exec(s, "ROLLBACK", NULL, 0);
            set_err(err, errlen, "%s: migration failed: %s", path, e2);
            return GW_EIO;
        }
        snprintf(q, sizeof q, "PRAGMA user_version=%d", v + 1);
        if (exec(s, q, e2, sizeof e2) < 0 || exec(s, "COMMIT", e2, sizeof e2) < 0) {
            exec(s, "ROLLBACK", NULL, 0);
            set_err(err, errlen, "%s: migration failed: %s", path, e2);
            return GW_EIO;
        }
        GW_INFO("store: migrated %s to schema version %d", path, v + 1);
    }
    s->version = v;
    return GW_OK;
}

struct gw_store *gw_store_open(const char *path, char *err, size_t errlen)
{
    struct gw_store *s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "%s%s", "out of memory", "");
        return NULL;
    }
    /* Create the file ourselves so it is 0600 from the first byte on. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 && errno != EACCES && errno != EROFS) {
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        free(s);
        return NULL;
    }
    if (fd >= 0)
        close(fd);
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) !=
        SQLITE_OK) {
        set_err(err, errlen, "%s: cannot open database: %s", path,
                s->db ? sqlite3_errmsg(s->db) : "out of memory");
        gw_store_close(&s);
        return NULL;
    }
    if (sqlite3_db_readonly(s->db, "main") == 1) {
        set_err(err, errlen, "%s: database is read-only (check permissions)%s", path, "");
        gw_store_close(&s);
        return NULL;
    }
    sqlite3_busy_timeout(s->db, 2000);
    char e2[512] = "";
    /* WAL: readers never block the writer; synchronous=NORMAL in WAL survives a process
     * crash (kill -9) without loss; only an OS crash/power cut may lose the last commits. */
    if (exec(s, "PRAGMA journal_mode=WAL", e2, sizeof e2) < 0 ||
        exec(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;", e2, sizeof e2) < 0) {
        set_err(err, errlen, "%s: %s", path, e2);
        gw_store_close(&s);
        return NULL;
    }
    if (exec(s, "PRAGMA quick_check", e2, sizeof e2) < 0) {
        set_err(err, errlen, "%s: database is corrupt or not a database: %s", path, e2);
        gw_store_close(&s);
        return NULL;
    }
    chmod(path, 0600);
    if (migrate(s, path, err, errlen) < 0) {
        gw_store_close(&s);
        return NULL;
    }
    for (int i = 0; i < S_COUNT_MAX; i++) {
        if (sqlite3_prepare_v3(s->db, sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL) !=
            SQLITE_OK) {
            set_err(err, errlen, "prepare failed: %s (%s)", sqlite3_errmsg(s->db), sql[i]);
            gw_store_close(&s);
            return NULL;
        }
    }
    return s;
}

void gw_store_close(struct gw_store **sp)
{
    struct gw_store *s = sp ? *sp : NULL;
    if (!s)
        return;
    if (s->st[S_COMMIT])
        gw_store_commit(s);
    for (int i = 0; i < S_COUNT_MAX; i++)
        sqlite3_finalize(s->st[i]);
    if (s->db)
        sqlite3_close(s->db);
    free(s);
    *sp = NULL;
}

int gw_store_version(struct gw_store *s)
{
    return s->version;
}
int gw_store_failed(struct gw_store *s)
{
    return s->failed;
}

int gw_store_commit(struct gw_store *s)
{
    if (!s->in_txn)
        return GW_OK;
    sqlite3_stmt *st = s->st[S_COMMIT];
    sqlite3_reset(st);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        GW_ERROR("store: COMMIT failed: %s", sqlite3_errmsg(s->db));
        s->failed = 1;
        if (sqlite3_get_autocommit(s->db))
            s->in_txn = 0;
        return GW_EIO;
    }
    s->in_txn = 0;
    return GW_OK;
}

char *gw_store_kv_get(struct gw_store *s, const char *owner, const char *key)
{
    sqlite3_stmt *st = prep(s, S_KV_GET, 0);
    bind_text(st, 1, owner);
    bind_text(st, 2, key);
    char *r = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        r = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return r;
}

int gw_store_kv_set(struct gw_store *s, const char *owner, const char *key, const char *value)
{
    sqlite3_stmt *st = prep(s, S_KV_SET, 1);
    bind_text(st, 1, owner);
    bind_text(st, 2, key);
    bind_text(st, 3, value);
    return step_done(s, st);
}

int gw_store_kv_del(struct gw_store *s, const char *owner, const char *key)
{
    sqlite3_stmt *st = prep(s, S_KV_DEL, 1);
    bind_text(st, 1, owner);
    bind_text(st, 2, key);
    return step_done(s, st);
}

static void seeker_from(sqlite3_stmt *st, struct gw_seeker_row *o)
{
    o->id = sqlite3_column_int64(st, 0);
    copy_col(st, 1, o->channel, sizeof o->channel);
    copy_col(st, 2, o->address, sizeof o->address);
    copy_col(st, 3, o->display, sizeof o->display);
    copy_col(st, 4, o->lang, sizeof o->lang);
    o->blocked = sqlite3_column_int(st, 5);
    o->history_ok = sqlite3_column_int(st, 6);
}

int gw_store_seeker_find(struct gw_store *s, const char *channel, const char *address,
                         struct gw_seeker_row *out)
{
    sqlite3_stmt *st = prep(s, S_SEEKER_FIND, 0);
    bind_text(st, 1, channel);
    bind_text(st, 2, address);
    int rc = sqlite3_step(st) == SQLITE_ROW ? GW_OK : GW_ENOTFOUND;
    if (rc == GW_OK && out)
        seeker_from(st, out);
    sqlite3_reset(st);
    return rc;
}

int64_t gw_store_seeker_upsert(struct gw_store *s, const char *channel, const char *address,
                               const char *display, const char *lang)
{
    struct gw_seeker_row r;
    if (gw_store_seeker_find(s, channel, address, &r) == GW_OK)
        return r.id;
    sqlite3_stmt *st = prep(s, S_SEEKER_INS, 1);
    bind_text(st, 1, channel);
    bind_text(st, 2, address);
    bind_text(st, 3, display);
    bind_text(st, 4, lang);
    sqlite3_bind_int64(st, 5, time(NULL));
    if (step_done(s, st) < 0)
        return GW_EIO;
    return sqlite3_last_insert_rowid(s->db);
}

int gw_store_seeker_get(struct gw_store *s, int64_t id, struct gw_seeker_row *out)
{
    sqlite3_stmt *st = prep(s, S_SEEKER_GET, 0);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st) == SQLITE_ROW ? GW_OK : GW_ENOTFOUND;
    if (rc == GW_OK)
        seeker_from(st, out);
    sqlite3_reset(st);
    return rc;
}

int gw_store_seeker_block(struct gw_store *s, int64_t id, int blocked, const char *why)
{
    sqlite3_stmt *st = prep(s, S_SEEKER_BLOCK, 1);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, blocked);
    bind_text(st, 3, why);
    return step_done(s, st);
}

int gw_store_seeker_history_ok(struct gw_store *s, int64_t id, int ok)
{
    sqlite3_stmt *st = prep(s, S_SEEKER_HIST, 1);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, ok);
    return step_done(s, st);
}

static void bind_opt_time(sqlite3_stmt *st, int i, int64_t v)
{
    if (v)
        sqlite3_bind_int64(st, i, v);
    else
        sqlite3_bind_null(st, i);
}

static void bind_conv(sqlite3_stmt *st, const struct gw_conv_row *c)
{
    sqlite3_bind_int64(st, 1, c->id);
    bind_text(st, 2, c->token);
    sqlite3_bind_int64(st, 3, c->seeker_id);
    bind_text(st, 4, c->queue);
    bind_text(st, 5, c->lang);
    bind_text(st, 6, c->state);
    bind_text(st, 7, c->counsellor[0] ? c->counsellor : NULL);
    sqlite3_bind_int(st, 8, c->priority);
    sqlite3_bind_int64(st, 9, c->created);
    bind_opt_time(st, 10, c->queued_at);
    bind_opt_time(st, 11, c->assigned_at);
    bind_opt_time(st, 12, c->closed_at);
    bind_opt_time(st, 13, c->last_seeker_at);
    bind_opt_time(st, 14, c->last_counsellor_at);
    bind_text(st, 15, c->outcome[0] ? c->outcome : NULL);
    sqlite3_bind_int(st, 16, c->transfers);
    bind_text(st, 17, c->meta[0] ? c->meta : NULL);
    bind_text(st, 18, c->partner[0] ? c->partner : NULL);
    bind_text(st, 19, c->partner_ref[0] ? c->partner_ref : NULL);
    sqlite3_bind_int(st, 20, c->role);
}

static void conv_from(sqlite3_stmt *st, struct gw_conv_row *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    copy_col(st, 1, c->token, sizeof c->token);
    c->seeker_id = sqlite3_column_int64(st, 2);
    copy_col(st, 3, c->queue, sizeof c->queue);
    copy_col(st, 4, c->lang, sizeof c->lang);
    copy_col(st, 5, c->state, sizeof c->state);
    copy_col(st, 6, c->counsellor, sizeof c->counsellor);
    c->priority = sqlite3_column_int(st, 7);
    c->created = sqlite3_column_int64(st, 8);
    c->queued_at = sqlite3_column_int64(st, 9);
    c->assigned_at = sqlite3_column_int64(st, 10);
    c->closed_at = sqlite3_column_int64(st, 11);
    c->last_seeker_at = sqlite3_column_int64(st, 12);
    c->last_counsellor_at = sqlite3_column_int64(st, 13);
    copy_col(st, 14, c->outcome, sizeof c->outcome);
    c->transfers = sqlite3_column_int(st, 15);
    copy_col(st, 16, c->meta, sizeof c->meta);
    copy_col(st, 17, c->partner, sizeof c->partner);
    copy_col(st, 18, c->partner_ref, sizeof c->partner_ref);
    c->role = sqlite3_column_int(st, 19);
}

int64_t gw_store_conv_insert(struct gw_store *s, const struct gw_conv_row *c)
{
    sqlite3_stmt *st = prep(s, S_CONV_INS, 1);
    bind_conv(st, c);
    if (step_done(s, st) < 0)
        return GW_EIO;
    return sqlite3_last_insert_rowid(s->db);
}

int gw_store_conv_update(struct gw_store *s, const struct gw_conv_row *c)
{
    sqlite3_stmt *st = prep(s, S_CONV_UPD, 1);
    bind_conv(st, c);
    return step_done(s, st);
}

int gw_store_conv_by_token(struct gw_store *s, const char *token, struct gw_conv_row *out)
{
    sqlite3_stmt *st = prep(s, S_CONV_TOKEN, 0);
    bind_text(st, 1, token);
    int rc = sqlite3_step(st) == SQLITE_ROW ? GW_OK : GW_ENOTFOUND;
    if (rc == GW_OK)
        conv_from(st, out);
    sqlite3_reset(st);
    return rc;
}

int gw_store_conv_by_id(struct gw_store *s, int64_t id, struct gw_conv_row *out)
{
    sqlite3_stmt *st = prep(s, S_CONV_ID, 0);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st) == SQLITE_ROW ? GW_OK : GW_ENOTFOUND;
    if (rc == GW_OK)
        conv_from(st, out);
    sqlite3_reset(st);
    return rc;
}

static int conv_iter(sqlite3_stmt *st, int (*cb)(void *, const struct gw_conv_row *), void *arg)
{
    struct gw_conv_row *c = malloc(sizeof *c);
    int n = 0;
    while (c && sqlite3_step(st) == SQLITE_ROW) {
        conv_from(st, c);
        n++;
        if (cb(arg, c))
            break;
    }
    sqlite3_reset(st);
    free(c);
    return n;
}

int gw_store_conv_open_each(struct gw_store *s, int (*cb)(void *arg, const struct gw_conv_row *c),
                            void *arg)
{
    return conv_iter(prep(s, S_CONV_OPEN, 0), cb, arg);
}

int gw_store_conv_history(struct gw_store *s, int64_t seeker_id, int64_t except_id, int limit,
                          int (*cb)(void *arg, const struct gw_conv_row *c), void *arg)
{
    sqlite3_stmt *st = prep(s, S_CONV_HISTORY, 0);
    sqlite3_bind_int64(st, 1, seeker_id);
    sqlite3_bind_int64(st, 2, except_id);
    sqlite3_bind_int(st, 3, limit);
    return conv_iter(st, cb, arg);
}

int64_t gw_store_wait_estimate(struct gw_store *s, const char *queue, int window)
{
    sqlite3_stmt *st = prep(s, S_WAIT, 0);
    bind_text(st, 1, queue);
    sqlite3_bind_int(st, 2, window);
    int64_t r = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) > 0)
        r = (int64_t)sqlite3_column_double(st, 0);
    sqlite3_reset(st);
    return r;
}

int64_t gw_store_handle_estimate(struct gw_store *s, const char *queue, int window)
{
    sqlite3_stmt *st = prep(s, S_HANDLE, 0);
    bind_text(st, 1, queue);
    sqlite3_bind_int(st, 2, window);
    int64_t r = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) > 0)
        r = (int64_t)sqlite3_column_double(st, 0);
    sqlite3_reset(st);
    return r;
}

int64_t gw_store_msg_insert(struct gw_store *s, int64_t conv_id, const char *dir, const char *body,
                            const char *author, int64_t created, const char *state,
                            const char *stanza_id, const char *meta)
{
    sqlite3_stmt *st = prep(s, S_MSG_INS, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    bind_text(st, 2, dir);
    bind_text(st, 3, body ? body : "");
    bind_text(st, 4, author);
    sqlite3_bind_int64(st, 5, created);
    bind_text(st, 6, state);
    bind_text(st, 7, stanza_id);
    bind_text(st, 8, meta);
    if (step_done(s, st) < 0)
        return GW_EIO;
    return sqlite3_last_insert_rowid(s->db);
}

int gw_store_msg_state(struct gw_store *s, int64_t id, const char *state, const char *channel_ref,
                       const char *error)
{
    sqlite3_stmt *st = prep(s, S_MSG_STATE, 1);
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, state);
    bind_text(st, 3, channel_ref);
    bind_text(st, 4, error);
    if (step_done(s, st) < 0)
        return GW_EIO;
    return sqlite3_changes(s->db) > 0;
}

static void msg_from(sqlite3_stmt *st, struct gw_msg_row *m)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(st, 0);
    m->conv_id = sqlite3_column_int64(st, 1);
    copy_col(st, 2, m->dir, sizeof m->dir);
    copy_col(st, 3, m->author, sizeof m->author);
    m->created = sqlite3_column_int64(st, 4);
    copy_col(st, 5, m->state, sizeof m->state);
    copy_col(st, 6, m->channel_ref, sizeof m->channel_ref);
    copy_col(st, 7, m->stanza_id, sizeof m->stanza_id);
}

int gw_store_msg_get(struct gw_store *s, int64_t id, struct gw_msg_row *out)
{
    sqlite3_stmt *st = prep(s, S_MSG_GET, 0);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st) == SQLITE_ROW ? GW_OK : GW_ENOTFOUND;
    if (rc == GW_OK)
        msg_from(st, out);
    sqlite3_reset(st);
    return rc;
}

int gw_store_msg_full(struct gw_store *s, int64_t id,
                      int (*cb)(void *arg, const struct gw_msg_row *m), void *arg)
{
    sqlite3_stmt *st = prep(s, S_MSG_FULL, 0);
    sqlite3_bind_int64(st, 1, id);
    int rc = GW_ENOTFOUND;
    if (sqlite3_step(st) == SQLITE_ROW) {
        struct gw_msg_row m;
        msg_from(st, &m);
        m.body = (const char *)sqlite3_column_text(st, 8);
        m.meta = (const char *)sqlite3_column_text(st, 9);
        rc = GW_OK;
        cb(arg, &m);
    }
    sqlite3_reset(st);
    return rc;
}

int gw_store_msg_by_ref(struct gw_store *s, const char *ref, struct gw_msg_row *out)
{
    sqlite3_stmt *st = prep(s, S_MSG_REF, 0);
    bind_text(st, 1, ref);
    int rc = sqlite3_step(st) == SQLITE_ROW ? GW_OK : GW_ENOTFOUND;
    if (rc == GW_OK)
        msg_from(st, out);
    sqlite3_reset(st);
    return rc;
}

int gw_store_msg_each_ref(struct gw_store *s, const char *ref,
                          int (*cb)(void *arg, const struct gw_msg_row *m), void *arg)
{
    /* Private statement: callbacks write to the store. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql[S_MSG_EACHREF], -1, &st, NULL) != SQLITE_OK)
        return GW_EIO;
    bind_text(st, 1, ref);
    int n = 0;
    struct gw_msg_row m;
    while (sqlite3_step(st) == SQLITE_ROW) {
        msg_from(st, &m);
        n++;
        if (cb(arg, &m))
            break;
    }
    sqlite3_finalize(st);
    return n;
}

int gw_store_msg_set_ref(struct gw_store *s, int64_t id, const char *ref)
{
    sqlite3_stmt *st = prep(s, S_MSG_SETREF, 1);
    sqlite3_bind_int64(st, 1, id);
    bind_text(st, 2, ref);
    return step_done(s, st);
}

static int dir_in(const char *dirs, const char *d)
{
    if (!dirs)
        return 1;
    size_t n = strlen(d);
    for (const char *p = dirs; (p = strstr(p, d)); p += n)
        if ((p == dirs || p[-1] == ',') && (p[n] == ',' || p[n] == 0))
            return 1;
    return 0;
}

int gw_store_msg_each(struct gw_store *s, int64_t conv_id, int64_t after, const char *dirs,
                      int (*cb)(void *arg, const struct gw_msg_row *m), void *arg)
{
    /* A conversation's messages may be replayed while new ones are written (web chat
     * resume inside a handler), so this statement is private to the call. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql[S_MSG_EACH], -1, &st, NULL) != SQLITE_OK)
        return GW_EIO;
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, after);
    int n = 0;
    struct gw_msg_row m;
    while (sqlite3_step(st) == SQLITE_ROW) {
        msg_from(st, &m);
        if (!dir_in(dirs, m.dir))
            continue;
        m.body = (const char *)sqlite3_column_text(st, 8);
        m.meta = (const char *)sqlite3_column_text(st, 9);
        n++;
        if (cb(arg, &m))
            break;
    }
    sqlite3_finalize(st);
    return n;
}

int gw_store_last_inbound_ref(struct gw_store *s, int64_t conv_id, char *buf, size_t len)
{
    sqlite3_stmt *st = prep(s, S_MSG_LASTIN, 0);
    sqlite3_bind_int64(st, 1, conv_id);
    buf[0] = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        copy_col(st, 0, buf, len);
    sqlite3_reset(st);
    return GW_OK;
}

int64_t gw_store_dedup_find(struct gw_store *s, const char *channel, const char *ext_id)
{
    sqlite3_stmt *st = prep(s, S_DEDUP_FIND, 0);
    bind_text(st, 1, channel);
    bind_text(st, 2, ext_id);
    int64_t r = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        r = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r;
}

int gw_store_dedup_add(struct gw_store *s, const char *channel, const char *ext_id, int64_t msg_id)
{
    sqlite3_stmt *st = prep(s, S_DEDUP_ADD, 1);
    bind_text(st, 1, channel);
    bind_text(st, 2, ext_id);
    sqlite3_bind_int64(st, 3, msg_id);
    return step_done(s, st);
}

int64_t gw_store_outbox_add(struct gw_store *s, int64_t msg_id, const char *target, int kind,
                            const char *payload, int64_t next_at)
{
    sqlite3_stmt *st = prep(s, S_OB_ADD, 1);
    if (msg_id)
        sqlite3_bind_int64(st, 1, msg_id);
    bind_text(st, 2, target);
    sqlite3_bind_int(st, 3, kind);
    bind_text(st, 4, payload);
    sqlite3_bind_int64(st, 5, next_at);
    if (step_done(s, st) < 0)
        return GW_EIO;
    return sqlite3_last_insert_rowid(s->db);
}

int gw_store_outbox_due(struct gw_store *s, int64_t now, int64_t after_id, int limit,
                        int (*cb)(void *arg, const struct gw_outbox_row *r), void *arg)
{
    /* The callback writes to the store (marks sent, deletes), so iterate a private
     * statement rather than the shared one. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, sql[S_OB_DUE], -1, &st, NULL) != SQLITE_OK)
        return GW_EIO;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int(st, 3, limit);
    int n = 0;
    struct gw_outbox_row r;
    while (sqlite3_step(st) == SQLITE_ROW) {
        memset(&r, 0, sizeof r);
        r.id = sqlite3_column_int64(st, 0);
        r.msg_id = sqlite3_column_int64(st, 1);
        copy_col(st, 2, r.target, sizeof r.target);
        r.kind = sqlite3_column_int(st, 3);
        r.payload = (const char *)sqlite3_column_text(st, 4);
        r.attempts = sqlite3_column_int(st, 5);
        r.next_at = sqlite3_column_int64(st, 6);
        n++;
        if (cb(arg, &r))
            break;
    }
    sqlite3_finalize(st);
    return n;
}

int gw_store_outbox_wake_all(struct gw_store *s)
{
    return step_done(s, prep(s, S_OB_WAKE, 1));
}

int gw_store_outbox_done(struct gw_store *s, int64_t id)
{
    sqlite3_stmt *st = prep(s, S_OB_DONE, 1);
    sqlite3_bind_int64(st, 1, id);
    return step_done(s, st);
}

int gw_store_outbox_retry(struct gw_store *s, int64_t id, int64_t next_at, const char *error)
{
    sqlite3_stmt *st = prep(s, S_OB_RETRY, 1);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, next_at);
    bind_text(st, 3, error);
    return step_done(s, st);
}

int64_t gw_store_outbox_next(struct gw_store *s)
{
    sqlite3_stmt *st = prep(s, S_OB_NEXT, 0);
    int64_t r = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        r = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r;
}

int64_t gw_store_outbox_count(struct gw_store *s)
{
    sqlite3_stmt *st = prep(s, S_OB_COUNT, 0);
    int64_t r = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        r = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r;
}

int gw_store_event(struct gw_store *s, int64_t conv_id, int64_t at, const char *kind,
                   const char *actor, const char *detail)
{
    sqlite3_stmt *st = prep(s, S_EVENT, 1);
    if (conv_id)
        sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, at);
    bind_text(st, 3, kind);
    bind_text(st, 4, actor);
    bind_text(st, 5, detail);
    return step_done(s, st);
}

int gw_store_feedback(struct gw_store *s, int64_t conv_id, int rating, const char *comment)
{
    sqlite3_stmt *st = prep(s, S_FEEDBACK, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int(st, 2, rating);
    bind_text(st, 3, comment);
    return step_done(s, st);
}

int gw_store_stats(struct gw_store *s, int64_t since_ms,
                   int (*cb)(void *arg, const char *group, const char *key, const char *what,
                             long long n, double avg_wait_ms, double avg_handle_ms),
                   void *arg)
{
    /* Reports: per queue and channel, per partner and direction (role 1 = we escalated,
     * role 2 = we served for them), and the escalation events per partner. */
    static const char *const q[] = {
        "SELECT 'queue', queue, state, count(*), avg(assigned_at - queued_at),"
        " avg(closed_at - assigned_at) FROM conversations WHERE created >= ?1"
        " GROUP BY queue, state ORDER BY queue, state",
        "SELECT 'partner', partner, CASE role WHEN 1 THEN 'sent' ELSE 'received' END, count(*),"
        " avg(assigned_at - queued_at), avg(closed_at - assigned_at) FROM conversations"
        " WHERE partner IS NOT NULL AND role > 0 AND created >= ?1 GROUP BY partner, role",
        "SELECT 'partner', CASE kind WHEN 'escalation-received' THEN actor ELSE detail END, kind,"
        " count(*), NULL, NULL FROM events WHERE kind IN ('escalate-sent', 'escalated',"
        " 'escalate-failed', 'escalation-received') AND at >= ?1 GROUP BY 2, 3",
    };
    int n = 0;
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        sqlite3_stmt *x;
        if (sqlite3_prepare_v2(s->db, q[i], -1, &x, NULL) != SQLITE_OK)
            return GW_EIO;
        sqlite3_bind_int64(x, 1, since_ms);
        while (sqlite3_step(x) == SQLITE_ROW) {
            n++;
            if (cb(arg, (const char *)sqlite3_column_text(x, 0),
                   (const char *)sqlite3_column_text(x, 1), (const char *)sqlite3_column_text(x, 2),
                   sqlite3_column_int64(x, 3), sqlite3_column_double(x, 4),
                   sqlite3_column_double(x, 5)))
                break;
        }
        sqlite3_finalize(x);
    }
    return n;
}

int64_t gw_store_retention(struct gw_store *s, int64_t cutoff_ms)
{
    sqlite3_stmt *st = prep(s, S_RET_MSG, 1);
    sqlite3_bind_int64(st, 1, cutoff_ms);
    if (step_done(s, st) < 0)
        return GW_EIO;
    int64_t n = sqlite3_changes(s->db);
    if (n > 0 && step_done(s, prep(s, S_RET_DEDUP, 1)) < 0)
        return GW_EIO;
    return n;
}

int64_t gw_store_count(struct gw_store *s, const char *table)
{
    static const char *const allowed[] = {
        "seekers", "conversations", "messages", "outbox", "inbound_dedup",
        "events",  "feedback",      "kv",       NULL};
    int ok = 0;
    for (int i = 0; allowed[i]; i++)
        ok |= strcmp(allowed[i], table) == 0;
    if (!ok)
        return -1;
    char q[64];
    snprintf(q, sizeof q, "SELECT count(*) FROM %s", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int64_t r = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    sqlite3_finalize(st);
    return r;
}

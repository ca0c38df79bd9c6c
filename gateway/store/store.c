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

#include "io/log.h"
#include "host/plugin_api.h"
#include "store/store.h"
#include "store/store_int.h"

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
    /* 2: the outbox without AUTOINCREMENT and without the next_at index.  Both cost a page
     * write per commit on the path of every message; the ids come from a counter in memory
     * (gw_store_open seeds it with max(id)), which is monotonic for the life of the process
     * — all the XMPP sender needs — and the table holds only undelivered rows, so scanning
     * it for due rows is cheap. */
    "CREATE TABLE outbox_v2(id INTEGER PRIMARY KEY, msg_id INTEGER, target TEXT NOT NULL,"
    "  kind INTEGER NOT NULL DEFAULT 0, payload TEXT, attempts INTEGER NOT NULL DEFAULT 0,"
    "  next_at INTEGER NOT NULL, last_error TEXT);"
    "INSERT INTO outbox_v2 SELECT id, msg_id, target, kind, payload, attempts, next_at,"
    "  last_error FROM outbox;"
    "DROP TABLE outbox;"
    "ALTER TABLE outbox_v2 RENAME TO outbox;",
    /* (Dropping the AUTOINCREMENT table removes its sqlite_sequence row; deleting it here as
     * well failed on a database whose outbox had none and so no sqlite_sequence at all.) */
    /* 3 (issue 14, read audit and retention per queue/channel/partner): the audit table,
     * one row per read of stored content (who, which conversation, what was shown, why),
     * purged only by service.audit_retention_days; and conversations.purge_at, the instant
     * the closed conversation's texts are due for deletion (NULL: nothing due), computed
     * by the desk at the closing from the rule that applies (desk/retention.c), so the
     * retention timer survives restarts and needs no scan to find its next deadline. */
    "CREATE TABLE audit(id INTEGER PRIMARY KEY, at INTEGER NOT NULL, who TEXT NOT NULL,"
    "  conv_id INTEGER, what TEXT NOT NULL, detail TEXT, why TEXT);"
    "CREATE INDEX audit_at ON audit(at);"
    "CREATE INDEX audit_conv ON audit(conv_id) WHERE conv_id IS NOT NULL;"
    "ALTER TABLE conversations ADD COLUMN purge_at INTEGER;"
    "CREATE INDEX conv_purge ON conversations(purge_at) WHERE purge_at IS NOT NULL;",
};
#define NMIGRATIONS ((int)(sizeof migrations / sizeof *migrations))

static void set_err(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    if (err && errlen)
        snprintf(err, errlen, fmt, a, b);
}

/* A write that fails dooms the whole transaction: it is rolled back at once (so reads see
 * only what is committed) and every further write is refused until the core has put its
 * memory back in line with the store (gw_store_recover).  Otherwise a turn whose INSERT hit
 * SQLITE_FULL could go on, commit its later writes, and acknowledge half of what it did. */
static void doom(struct gw_store *s, const char *what)
{
    /* A full disk fails every turn: the first failure is logged, then one line at most every
     * 10 s with what happened meanwhile. */
    if (!s->doomed) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (!s->err_logged_ms || now - s->err_logged_ms >= 10000) {
            if (s->err_turns)
                GW_ERROR("store: %s failed: %s; this turn's writes are rolled back (%lld more"
                         " turns failed, %lld writes refused in the last %lld s)",
                         what, sqlite3_errmsg(s->db), s->err_turns, s->err_refused,
                         (long long)(now - s->err_logged_ms) / 1000);
            else
                GW_ERROR("store: %s failed: %s; this turn's writes are rolled back", what,
                         sqlite3_errmsg(s->db));
            s->err_logged_ms = now;
            s->err_turns = s->err_refused = 0;
        } else {
            s->err_turns++;
        }
    }
    s->refused++;
    if (s->in_txn && !sqlite3_get_autocommit(s->db)) {
        sqlite3_stmt *rb = s->st[S_ROLLBACK];
        sqlite3_reset(rb);
        sqlite3_step(rb);
        sqlite3_reset(rb);
    }
    s->in_txn = 0;
    s->doomed = 1;
    s->failed = 1;
}

/* Fetch a ready statement: reset, bindings cleared, and a write transaction opened for
 * writes so a loop turn's writes commit together. */
sqlite3_stmt *gw_store_i_prep(struct gw_store *s, enum stmt k, int write)
{
    if (write && !s->in_txn && !s->doomed) {
        sqlite3_stmt *b = s->st[S_BEGIN];
        sqlite3_reset(b);
        if (sqlite3_step(b) != SQLITE_DONE)
            doom(s, "BEGIN");
        else
            s->in_txn = 1;
        sqlite3_reset(b);
    }
    sqlite3_stmt *st = s->st[k];
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return st;
}

int gw_store_i_step_done(struct gw_store *s, sqlite3_stmt *st)
{
    int write = !sqlite3_stmt_readonly(st);
    if (write && s->doomed) { /* refused: the turn already failed (see doom()) */
        s->refused++;
        sqlite3_reset(st);
        return GW_EIO;
    }
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (write)
            doom(s, "a write");
        else {
            GW_ERROR("store: %s", sqlite3_errmsg(s->db));
            s->failed = 1;
        }
        return GW_EIO;
    }
    sqlite3_reset(st);
    return GW_OK;
}

void gw_store_i_bind_text(sqlite3_stmt *st, int i, const char *v)
{
    if (v)
        sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

void gw_store_i_copy_col(sqlite3_stmt *st, int i, char *dst, size_t n)
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

/* SQLite calls this after every commit with the frames now in the WAL. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    (void)db;
    (void)name;
    ((struct gw_store *)arg)->wal_frames = frames;
    return SQLITE_OK;
}

struct gw_store *gw_store_open(const char *path, char *err, size_t errlen)
{
    struct gw_store *s = calloc(1, sizeof *s);
    if (!s) {
        set_err(err, errlen, "%s%s", "out of memory", "");
        return NULL;
    }
    /* One thread uses SQLite: no mutexes, no allocation statistics (measured: the memstatus
     * mutex alone was ~0.6 % of the gateway's CPU under load).  Only effective before SQLite
     * initialises; later calls fail harmlessly. */
    sqlite3_config(SQLITE_CONFIG_SINGLETHREAD);
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
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
    /* secure_delete: a deleted row's bytes are overwritten with zeros in its page, so an
     * erased seeker's text (and every outbox payload or message retention deleted before)
     * is not left readable in the file's free space (docs/erasure.md; its cost on the
     * message path is in the bench figures there).
     * WAL: readers never block the writer; synchronous=NORMAL in WAL survives a process
     * crash (kill -9) without loss; only an OS crash/power cut may lose the last commits. */
    if (exec(s, "PRAGMA journal_mode=WAL", e2, sizeof e2) < 0 ||
        exec(s, "PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-16384;"
                " PRAGMA mmap_size=268435456; PRAGMA temp_store=MEMORY;"
                " PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=16777216;"
                " PRAGMA secure_delete=ON;", e2,
                sizeof e2) < 0) {
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
    sqlite3_wal_hook(s->db, wal_hook, s);
    if (migrate(s, path, err, errlen) < 0) {
        gw_store_close(&s);
        return NULL;
    }
    for (int i = 0; i < S_COUNT_MAX; i++) {
        if (sqlite3_prepare_v3(s->db, gw_store_i_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i],
                               NULL) != SQLITE_OK) {
            set_err(err, errlen, "prepare failed: %s (%s)", sqlite3_errmsg(s->db),
                    gw_store_i_sql[i]);
            gw_store_close(&s);
            return NULL;
        }
    }
    sqlite3_stmt *mx;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT coalesce(max(id), 0) FROM outbox),"
                           " (SELECT coalesce(max(id), 0) FROM messages),"
                           " (SELECT coalesce(max(id), 0) FROM conversations)",
                           -1, &mx, NULL) == SQLITE_OK &&
        sqlite3_step(mx) == SQLITE_ROW) {
        s->outbox_last_id = sqlite3_column_int64(mx, 0);
        s->msg_last_id = sqlite3_column_int64(mx, 1);
        s->conv_last_id = sqlite3_column_int64(mx, 2);
    }
    sqlite3_finalize(mx);
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

int gw_store_dirty(const struct gw_store *s)
{
    return s->in_txn;
}

int gw_store_doomed(const struct gw_store *s)
{
    return s->doomed;
}

void gw_store_recover(struct gw_store *s)
{
    if (!s->doomed)
        return;
    s->err_refused += s->refused;
    s->doomed = 0;
    s->refused = 0;
}

int gw_store_commit(struct gw_store *s)
{
    if (s->doomed)
        return GW_EIO;
    if (!s->in_txn)
        return GW_OK;
    sqlite3_stmt *st = s->st[S_COMMIT];
    sqlite3_reset(st);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        doom(s, "COMMIT");
        return GW_EIO;
    }
    s->in_txn = 0;
    s->failed = 0;
    return GW_OK;
}

char *gw_store_kv_get(struct gw_store *s, const char *owner, const char *key)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_KV_GET, 0);
    gw_store_i_bind_text(st, 1, owner);
    gw_store_i_bind_text(st, 2, key);
    char *r = NULL;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        r = strdup((const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    return r;
}

int gw_store_kv_set(struct gw_store *s, const char *owner, const char *key, const char *value)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_KV_SET, 1);
    gw_store_i_bind_text(st, 1, owner);
    gw_store_i_bind_text(st, 2, key);
    gw_store_i_bind_text(st, 3, value);
    return gw_store_i_step_done(s, st);
}

int gw_store_kv_del(struct gw_store *s, const char *owner, const char *key)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_KV_DEL, 1);
    gw_store_i_bind_text(st, 1, owner);
    gw_store_i_bind_text(st, 2, key);
    return gw_store_i_step_done(s, st);
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

int gw_store_wal_frames(const struct gw_store *s)
{
    return s->wal_frames;
}

int gw_store_checkpoint(struct gw_store *s)
{
    /* PASSIVE: copies what it can without waiting for readers; never inside a commit of a
     * message (automatic checkpoints are off: they made a commit now and then take ms). */
    if (s->in_txn)
        return GW_OK;
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    return rc == SQLITE_OK ? GW_OK : GW_EIO;
}

int64_t gw_store_count(struct gw_store *s, const char *table)
{
    static const char *const allowed[] = {
        "seekers", "conversations", "messages", "outbox", "inbound_dedup",
        "events",  "feedback",      "kv",       "audit", NULL};
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

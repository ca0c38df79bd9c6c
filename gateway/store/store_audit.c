/* store_audit.c — the read audit (who read what, when, why) and retention per conversation
 * (conversations.purge_at, the deletion of one conversation's texts).  See store.h. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "host/plugin_api.h"
#include "store/store.h"
#include "store/store_int.h"

int gw_store_audit_add(struct gw_store *s, int64_t at, const char *who, int64_t conv_id,
                       const char *what, const char *detail, const char *why)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_AUDIT_ADD, 1);
    sqlite3_bind_int64(st, 1, at);
    gw_store_i_bind_text(st, 2, who && *who ? who : "?");
    if (conv_id > 0)
        sqlite3_bind_int64(st, 3, conv_id);
    else
        sqlite3_bind_null(st, 3);
    gw_store_i_bind_text(st, 4, what);
    gw_store_i_bind_text(st, 5, detail && *detail ? detail : NULL);
    gw_store_i_bind_text(st, 6, why && *why ? why : NULL);
    return gw_store_i_step_done(s, st);
}

int gw_store_audit_each(struct gw_store *s, const struct gw_audit_filter *f,
                        int (*cb)(void *arg, const struct gw_audit_row *r), void *arg)
{
    /* One statement for every combination: a NULL parameter does not filter. */
    static const char q[] =
        "SELECT a.id, a.at, coalesce(a.conv_id, 0), coalesce(c.token, ''), coalesce(c.queue, ''),"
        " a.who, a.what, coalesce(a.detail, ''), coalesce(a.why, '') FROM audit a"
        " LEFT JOIN conversations c ON c.id = a.conv_id"
        " WHERE (?1 IS NULL OR a.conv_id = ?1) AND (?2 IS NULL OR a.who = ?2)"
        " AND (?3 IS NULL OR a.at >= ?3) AND (?4 IS NULL OR a.at < ?4)"
        " ORDER BY a.at, a.id LIMIT ?5";
    sqlite3_stmt *x;
    if (sqlite3_prepare_v2(s->db, q, -1, &x, NULL) != SQLITE_OK)
        return GW_EIO;
    if (f && f->conv_id)
        sqlite3_bind_int64(x, 1, f->conv_id);
    if (f && f->who && *f->who)
        sqlite3_bind_text(x, 2, f->who, -1, SQLITE_STATIC);
    if (f && f->from_ms)
        sqlite3_bind_int64(x, 3, f->from_ms);
    if (f && f->to_ms)
        sqlite3_bind_int64(x, 4, f->to_ms);
    sqlite3_bind_int(x, 5, f && f->limit > 0 ? f->limit : 1000);
    int n = 0, rc;
    while ((rc = sqlite3_step(x)) == SQLITE_ROW) {
        struct gw_audit_row r;
        memset(&r, 0, sizeof r);
        r.id = sqlite3_column_int64(x, 0);
        r.at = sqlite3_column_int64(x, 1);
        r.conv_id = sqlite3_column_int64(x, 2);
        gw_store_i_copy_col(x, 3, r.conv_token, sizeof r.conv_token);
        gw_store_i_copy_col(x, 4, r.queue, sizeof r.queue);
        gw_store_i_copy_col(x, 5, r.who, sizeof r.who);
        gw_store_i_copy_col(x, 6, r.what, sizeof r.what);
        gw_store_i_copy_col(x, 7, r.detail, sizeof r.detail);
        gw_store_i_copy_col(x, 8, r.why, sizeof r.why);
        n++;
        if (cb(arg, &r))
            break;
    }
    sqlite3_finalize(x);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : GW_EIO;
}

int64_t gw_store_audit_expire(struct gw_store *s, int64_t cutoff_ms)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_AUDIT_EXPIRE, 1);
    sqlite3_bind_int64(st, 1, cutoff_ms);
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    return sqlite3_changes(s->db);
}

static int64_t min_of(struct gw_store *s, enum stmt k)
{
    sqlite3_stmt *st = gw_store_i_prep(s, k, 0);
    int64_t r = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        r = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r;
}

int64_t gw_store_audit_oldest(struct gw_store *s)
{
    return min_of(s, S_AUDIT_OLDEST);
}

int64_t gw_store_purge_next(struct gw_store *s)
{
    return min_of(s, S_PURGE_NEXT);
}

int gw_store_purge_set(struct gw_store *s, int64_t conv_id, int64_t purge_at)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_PURGE_SET, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    if (purge_at >= 0)
        sqlite3_bind_int64(st, 2, purge_at);
    else
        sqlite3_bind_null(st, 2);
    return gw_store_i_step_done(s, st);
}

static void fill(sqlite3_stmt *x, struct gw_purge_row *r, int counts)
{
    memset(r, 0, sizeof *r);
    r->id = sqlite3_column_int64(x, 0);
    gw_store_i_copy_col(x, 1, r->token, sizeof r->token);
    gw_store_i_copy_col(x, 2, r->queue, sizeof r->queue);
    gw_store_i_copy_col(x, 3, r->channel, sizeof r->channel);
    gw_store_i_copy_col(x, 4, r->partner, sizeof r->partner);
    r->role = sqlite3_column_int(x, 5);
    r->closed_at = sqlite3_column_int64(x, 6);
    r->purge_at = sqlite3_column_type(x, 7) == SQLITE_NULL ? -1 : sqlite3_column_int64(x, 7);
    r->oldest = -1;
    if (counts) {
        r->messages = sqlite3_column_int64(x, 8);
        if (sqlite3_column_type(x, 9) != SQLITE_NULL)
            r->oldest = sqlite3_column_int64(x, 9);
    }
}

#define PURGE_COLS                                                                                 \
    "c.id, c.token, c.queue, coalesce(k.channel, ''), coalesce(c.partner, ''), c.role,"            \
    " coalesce(c.closed_at, 0), c.purge_at"

static int each(struct gw_store *s, const char *q, int64_t due, int limit, int counts,
                int (*cb)(void *arg, const struct gw_purge_row *r), void *arg)
{
    sqlite3_stmt *x;
    if (sqlite3_prepare_v2(s->db, q, -1, &x, NULL) != SQLITE_OK)
        return GW_EIO;
    if (counts) {
        sqlite3_bind_int64(x, 1, due);
        sqlite3_bind_int64(x, 2, limit > 0 ? limit : -1);
    }
    int n = 0, rc;
    while ((rc = sqlite3_step(x)) == SQLITE_ROW) {
        struct gw_purge_row r;
        fill(x, &r, counts);
        n++;
        if (cb(arg, &r))
            break;
    }
    sqlite3_finalize(x);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : GW_EIO;
}

int gw_store_purge_each(struct gw_store *s, int64_t due_ms, int limit,
                        int (*cb)(void *arg, const struct gw_purge_row *r), void *arg)
{
    static const char q[] =
        "SELECT " PURGE_COLS ", (SELECT count(*) FROM messages m WHERE m.conv_id = c.id),"
        " (SELECT min(created) FROM messages m WHERE m.conv_id = c.id)"
        " FROM conversations c LEFT JOIN seekers k ON k.id = c.seeker_id"
        " WHERE c.purge_at IS NOT NULL AND c.purge_at <= ?1 ORDER BY c.purge_at, c.id LIMIT ?2";
    return each(s, q, due_ms, limit, 1, cb, arg);
}

int gw_store_purge_closed_each(struct gw_store *s,
                               int (*cb)(void *arg, const struct gw_purge_row *r), void *arg)
{
    static const char q[] =
        "SELECT " PURGE_COLS " FROM conversations c LEFT JOIN seekers k ON k.id = c.seeker_id"
        " WHERE c.state IN ('closed', 'abandoned', 'expired') AND (c.purge_at IS NOT NULL"
        " OR c.meta IS NOT NULL OR EXISTS(SELECT 1 FROM messages m WHERE m.conv_id = c.id)"
        " OR EXISTS(SELECT 1 FROM feedback f WHERE f.conv_id = c.id AND f.comment IS NOT NULL))";
    return each(s, q, 0, 0, 0, cb, arg);
}

int64_t gw_store_purge_conv(struct gw_store *s, int64_t conv_id, int64_t retry_at)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_PURGE_DEDUP, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    st = gw_store_i_prep(s, S_PURGE_MSG, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    int64_t n = sqlite3_changes(s->db);
    st = gw_store_i_prep(s, S_PURGE_FEEDBACK, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    st = gw_store_i_prep(s, S_PURGE_KV, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    st = gw_store_i_prep(s, S_PURGE_DONE, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, retry_at);
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    return n;
}

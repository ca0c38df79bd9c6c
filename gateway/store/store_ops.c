/* store_ops.c — read-only queries for the operator (skagerrakctl, ctl/): outbox depth per
 * target, conversations' stored details and events, statistics over a period.  They run on
 * the daemon's one connection, inside its loop turn, so they see what the turn has written;
 * they prepare their statements on use (an operator's command, not the message path). */
#include <string.h>

#include "host/plugin_api.h"
#include "store/store.h"
#include "store/store_int.h"

int gw_store_outbox_summary(struct gw_store *s,
                            int (*cb)(void *arg, const char *target, long long n, int64_t oldest_ms,
                                      long long retrying),
                            void *arg)
{
    /* The age of a row is its message's (rows without a message, stanzas, count as now). */
    static const char q[] =
        "SELECT o.target, count(*), min(m.created), sum(o.attempts > 0) FROM outbox o"
        " LEFT JOIN messages m ON m.id = o.msg_id GROUP BY o.target ORDER BY o.target";
    sqlite3_stmt *x;
    if (sqlite3_prepare_v2(s->db, q, -1, &x, NULL) != SQLITE_OK)
        return GW_EIO;
    int n = 0, rc;
    while ((rc = sqlite3_step(x)) == SQLITE_ROW) {
        n++;
        const char *t = (const char *)sqlite3_column_text(x, 0);
        int64_t oldest = sqlite3_column_type(x, 2) == SQLITE_NULL ? 0 : sqlite3_column_int64(x, 2);
        if (cb(arg, t ? t : "", sqlite3_column_int64(x, 1), oldest, sqlite3_column_int64(x, 3)))
            break;
    }
    sqlite3_finalize(x);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : GW_EIO;
}

int gw_store_events_each(struct gw_store *s, int64_t conv_id,
                         int (*cb)(void *arg, int64_t at, const char *kind, const char *actor,
                                   const char *detail),
                         void *arg)
{
    static const char q[] =
        "SELECT at, kind, actor, detail FROM events WHERE conv_id = ?1 ORDER BY at, id";
    sqlite3_stmt *x;
    if (sqlite3_prepare_v2(s->db, q, -1, &x, NULL) != SQLITE_OK)
        return GW_EIO;
    sqlite3_bind_int64(x, 1, conv_id);
    int n = 0, rc;
    while ((rc = sqlite3_step(x)) == SQLITE_ROW) {
        n++;
        if (cb(arg, sqlite3_column_int64(x, 0), (const char *)sqlite3_column_text(x, 1),
               (const char *)sqlite3_column_text(x, 2), (const char *)sqlite3_column_text(x, 3)))
            break;
    }
    sqlite3_finalize(x);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : GW_EIO;
}

int gw_store_stats_range(struct gw_store *s, int64_t from_ms, int64_t to_ms,
                         int (*cb)(void *arg, const char *group, const char *key, const char *what,
                                   long long n, double avg_wait_ms, double avg_handle_ms),
                         void *arg)
{
    /* Conversations created in [from, to): per queue and state, per channel and state, per
     * outcome (closed ones), and federation per partner and direction.  Only the rows that
     * retention keeps (conversations, seekers' channel, events), so statistics survive a
     * purge of the texts. */
    static const char *const q[] = {
        "SELECT 'queue', queue, state, count(*), avg(assigned_at - queued_at),"
        " avg(closed_at - assigned_at) FROM conversations WHERE created >= ?1 AND created < ?2"
        " GROUP BY queue, state ORDER BY queue, state",
        "SELECT 'channel', s.channel, c.state, count(*), avg(c.assigned_at - c.queued_at),"
        " avg(c.closed_at - c.assigned_at) FROM conversations c JOIN seekers s ON"
        " s.id = c.seeker_id WHERE c.created >= ?1 AND c.created < ?2"
        " GROUP BY s.channel, c.state ORDER BY s.channel, c.state",
        "SELECT 'outcome', coalesce(outcome, '-'), queue, count(*), avg(assigned_at - queued_at),"
        " avg(closed_at - assigned_at) FROM conversations WHERE created >= ?1 AND created < ?2"
        " AND state IN ('closed', 'abandoned', 'expired') GROUP BY 2, queue ORDER BY 2, queue",
        "SELECT 'partner', partner, CASE role WHEN 1 THEN 'sent' ELSE 'received' END, count(*),"
        " avg(assigned_at - queued_at), avg(closed_at - assigned_at) FROM conversations"
        " WHERE partner IS NOT NULL AND role > 0 AND created >= ?1 AND created < ?2"
        " GROUP BY partner, role",
    };
    int n = 0;
    for (size_t i = 0; i < sizeof q / sizeof *q; i++) {
        sqlite3_stmt *x;
        if (sqlite3_prepare_v2(s->db, q[i], -1, &x, NULL) != SQLITE_OK)
            return GW_EIO;
        sqlite3_bind_int64(x, 1, from_ms);
        sqlite3_bind_int64(x, 2, to_ms);
        int rc, stop = 0;
        while (!stop && (rc = sqlite3_step(x)) == SQLITE_ROW) {
            n++;
            const char *key = (const char *)sqlite3_column_text(x, 1);
            stop = cb(arg, (const char *)sqlite3_column_text(x, 0), key ? key : "-",
                      (const char *)sqlite3_column_text(x, 2), sqlite3_column_int64(x, 3),
                      sqlite3_column_double(x, 4), sqlite3_column_double(x, 5));
        }
        sqlite3_finalize(x);
        if (stop)
            break;
        if (rc != SQLITE_DONE)
            return GW_EIO;
    }
    return n;
}

/* store_ops.c — read-only queries for the operator (skagerrakctl, ctl/): outbox depth per
 * target, conversations' stored details and events, statistics over a period.  They run on
 * the daemon's one connection, inside its loop turn, so they see what the turn has written;
 * they prepare their statements on use (an operator's command, not the message path). */
#include <string.h>

#include "host/plugin_api.h"
#include "store/store.h"
#include "store/store_int.h"

int gw_store_outbox_summary(struct gw_store *s,
                            int (*cb)(void *arg, const char *target, long long n,
                                      int64_t oldest_ms, long long retrying),
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

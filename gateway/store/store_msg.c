/* store_msg.c — the durable store: messages, inbound dedup, the outbox, events, feedback. */
#include <sqlite3.h>
#include <string.h>

#include "host/plugin_api.h"
#include "store/store.h"
#include "store/store_int.h"

int64_t gw_store_msg_insert(struct gw_store *s, int64_t conv_id, const char *dir, const char *body,
                            const char *author, int64_t created, const char *state,
                            const char *stanza_id, const char *meta)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_MSG_INS, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    gw_store_i_bind_text(st, 2, dir);
    gw_store_i_bind_text(st, 3, body ? body : "");
    gw_store_i_bind_text(st, 4, author);
    sqlite3_bind_int64(st, 5, created);
    gw_store_i_bind_text(st, 6, state);
    gw_store_i_bind_text(st, 7, stanza_id);
    gw_store_i_bind_text(st, 8, meta);
    sqlite3_bind_int64(st, 9, s->msg_last_id + 1); /* see msg_last_id in store_int.h */
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    return ++s->msg_last_id;
}

int gw_store_msg_state(struct gw_store *s, int64_t id, const char *state, const char *channel_ref,
                       const char *error)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_MSG_STATE, 1);
    sqlite3_bind_int64(st, 1, id);
    gw_store_i_bind_text(st, 2, state);
    gw_store_i_bind_text(st, 3, channel_ref);
    gw_store_i_bind_text(st, 4, error);
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    return sqlite3_changes(s->db) > 0;
}

static void msg_from(sqlite3_stmt *st, struct gw_msg_row *m)
{
    memset(m, 0, sizeof *m);
    m->id = sqlite3_column_int64(st, 0);
    m->conv_id = sqlite3_column_int64(st, 1);
    gw_store_i_copy_col(st, 2, m->dir, sizeof m->dir);
    gw_store_i_copy_col(st, 3, m->author, sizeof m->author);
    m->created = sqlite3_column_int64(st, 4);
    gw_store_i_copy_col(st, 5, m->state, sizeof m->state);
    gw_store_i_copy_col(st, 6, m->channel_ref, sizeof m->channel_ref);
    gw_store_i_copy_col(st, 7, m->stanza_id, sizeof m->stanza_id);
}

int gw_store_msg_get(struct gw_store *s, int64_t id, struct gw_msg_row *out)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_MSG_GET, 0);
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
    sqlite3_stmt *st = gw_store_i_prep(s, S_MSG_FULL, 0);
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
    sqlite3_stmt *st = gw_store_i_prep(s, S_MSG_REF, 0);
    gw_store_i_bind_text(st, 1, ref);
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
    if (sqlite3_prepare_v2(s->db, gw_store_i_sql[S_MSG_EACHREF], -1, &st, NULL) != SQLITE_OK)
        return GW_EIO;
    gw_store_i_bind_text(st, 1, ref);
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
    sqlite3_stmt *st = gw_store_i_prep(s, S_MSG_SETREF, 1);
    sqlite3_bind_int64(st, 1, id);
    gw_store_i_bind_text(st, 2, ref);
    return gw_store_i_step_done(s, st);
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
    if (sqlite3_prepare_v2(s->db, gw_store_i_sql[S_MSG_EACH], -1, &st, NULL) != SQLITE_OK)
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
    sqlite3_stmt *st = gw_store_i_prep(s, S_MSG_LASTIN, 0);
    sqlite3_bind_int64(st, 1, conv_id);
    buf[0] = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        gw_store_i_copy_col(st, 0, buf, len);
    sqlite3_reset(st);
    return GW_OK;
}

int64_t gw_store_dedup_find(struct gw_store *s, const char *channel, const char *ext_id)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_DEDUP_FIND, 0);
    gw_store_i_bind_text(st, 1, channel);
    gw_store_i_bind_text(st, 2, ext_id);
    int64_t r = 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        r = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r;
}

int gw_store_dedup_add(struct gw_store *s, const char *channel, const char *ext_id, int64_t msg_id)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_DEDUP_ADD, 1);
    gw_store_i_bind_text(st, 1, channel);
    gw_store_i_bind_text(st, 2, ext_id);
    sqlite3_bind_int64(st, 3, msg_id);
    return gw_store_i_step_done(s, st);
}

int64_t gw_store_outbox_add(struct gw_store *s, int64_t msg_id, const char *target, int kind,
                            const char *payload, int64_t next_at)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_OB_ADD, 1);
    if (msg_id)
        sqlite3_bind_int64(st, 1, msg_id);
    gw_store_i_bind_text(st, 2, target);
    sqlite3_bind_int(st, 3, kind);
    gw_store_i_bind_text(st, 4, payload);
    sqlite3_bind_int64(st, 5, next_at);
    sqlite3_bind_int64(st, 6, s->outbox_last_id + 1);
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    return ++s->outbox_last_id;
}

/* Step an outbox query and hand each row to cb (until it returns non-zero); `full`: the row
 * has every column (S_OB_DUE), else only id, msg_id, target and conv_id (S_OB_CHANNEL). */
static int outbox_rows(sqlite3_stmt *st, int full,
                       int (*cb)(void *arg, const struct gw_outbox_row *r), void *arg)
{
    int n = 0;
    struct gw_outbox_row r;
    while (sqlite3_step(st) == SQLITE_ROW) {
        memset(&r, 0, sizeof r);
        r.id = sqlite3_column_int64(st, 0);
        r.msg_id = sqlite3_column_int64(st, 1);
        gw_store_i_copy_col(st, 2, r.target, sizeof r.target);
        if (full) {
            r.kind = sqlite3_column_int(st, 3);
            r.payload = (const char *)sqlite3_column_text(st, 4);
            r.attempts = sqlite3_column_int(st, 5);
            r.next_at = sqlite3_column_int64(st, 6);
            r.conv_id = sqlite3_column_int64(st, 7);
        } else {
            r.conv_id = sqlite3_column_int64(st, 3);
        }
        n++;
        if (cb(arg, &r))
            break;
    }
    return n;
}

int gw_store_outbox_due(struct gw_store *s, int64_t now, int64_t after_id, int limit,
                        int (*cb)(void *arg, const struct gw_outbox_row *r), void *arg)
{
    /* The callback writes to the store (marks sent, deletes), so iterate a private
     * statement rather than the shared one. */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(s->db, gw_store_i_sql[S_OB_DUE], -1, &st, NULL) != SQLITE_OK)
        return GW_EIO;
    sqlite3_bind_int64(st, 1, now);
    sqlite3_bind_int64(st, 2, after_id);
    sqlite3_bind_int(st, 3, limit);
    int n = outbox_rows(st, 1, cb, arg);
    sqlite3_finalize(st);
    return n;
}

int gw_store_outbox_wake_all(struct gw_store *s)
{
    return gw_store_i_step_done(s, gw_store_i_prep(s, S_OB_WAKE, 1));
}

int gw_store_outbox_wake_target(struct gw_store *s, const char *target)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_OB_WAKE_TARGET, 1);
    gw_store_i_bind_text(st, 1, target);
    return gw_store_i_step_done(s, st);
}

int gw_store_outbox_done(struct gw_store *s, int64_t id)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_OB_DONE, 1);
    sqlite3_bind_int64(st, 1, id);
    return gw_store_i_step_done(s, st);
}

int gw_store_outbox_retry(struct gw_store *s, int64_t id, int64_t next_at, const char *error)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_OB_RETRY, 1);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int64(st, 2, next_at);
    gw_store_i_bind_text(st, 3, error);
    return gw_store_i_step_done(s, st);
}

int gw_store_outbox_each_channel(struct gw_store *s,
                                 int (*cb)(void *arg, const struct gw_outbox_row *r), void *arg)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_OB_CHANNEL, 0);
    int n = outbox_rows(st, 0, cb, arg);
    sqlite3_reset(st);
    return n;
}

int64_t gw_store_outbox_next(struct gw_store *s, int64_t after)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_OB_NEXT, 0);
    sqlite3_bind_int64(st, 1, after);
    int64_t r = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        r = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r;
}

int64_t gw_store_outbox_count(struct gw_store *s)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_OB_COUNT, 0);
    int64_t r = -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        r = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return r;
}

int gw_store_event(struct gw_store *s, int64_t conv_id, int64_t at, const char *kind,
                   const char *actor, const char *detail)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_EVENT, 1);
    if (conv_id)
        sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int64(st, 2, at);
    gw_store_i_bind_text(st, 3, kind);
    gw_store_i_bind_text(st, 4, actor);
    gw_store_i_bind_text(st, 5, detail);
    return gw_store_i_step_done(s, st);
}

int gw_store_feedback(struct gw_store *s, int64_t conv_id, int rating, const char *comment)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_FEEDBACK, 1);
    sqlite3_bind_int64(st, 1, conv_id);
    sqlite3_bind_int(st, 2, rating);
    gw_store_i_bind_text(st, 3, comment);
    return gw_store_i_step_done(s, st);
}

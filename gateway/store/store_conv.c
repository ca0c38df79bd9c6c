/* store_conv.c — the durable store: seekers, conversations and the wait/handle estimates. */
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/plugin_api.h"
#include "store/store.h"
#include "store/store_int.h"

static void seeker_from(sqlite3_stmt *st, struct gw_seeker_row *o)
{
    o->id = sqlite3_column_int64(st, 0);
    gw_store_i_copy_col(st, 1, o->channel, sizeof o->channel);
    gw_store_i_copy_col(st, 2, o->address, sizeof o->address);
    gw_store_i_copy_col(st, 3, o->display, sizeof o->display);
    gw_store_i_copy_col(st, 4, o->lang, sizeof o->lang);
    o->blocked = sqlite3_column_int(st, 5);
    o->history_ok = sqlite3_column_int(st, 6);
}

int gw_store_seeker_find(struct gw_store *s, const char *channel, const char *address,
                         struct gw_seeker_row *out)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_SEEKER_FIND, 0);
    gw_store_i_bind_text(st, 1, channel);
    gw_store_i_bind_text(st, 2, address);
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
    sqlite3_stmt *st = gw_store_i_prep(s, S_SEEKER_INS, 1);
    gw_store_i_bind_text(st, 1, channel);
    gw_store_i_bind_text(st, 2, address);
    gw_store_i_bind_text(st, 3, display);
    gw_store_i_bind_text(st, 4, lang);
    sqlite3_bind_int64(st, 5, time(NULL));
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    return sqlite3_last_insert_rowid(s->db);
}

int gw_store_seeker_get(struct gw_store *s, int64_t id, struct gw_seeker_row *out)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_SEEKER_GET, 0);
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st) == SQLITE_ROW ? GW_OK : GW_ENOTFOUND;
    if (rc == GW_OK)
        seeker_from(st, out);
    sqlite3_reset(st);
    return rc;
}

int gw_store_seeker_block(struct gw_store *s, int64_t id, int blocked, const char *why)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_SEEKER_BLOCK, 1);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, blocked);
    gw_store_i_bind_text(st, 3, why);
    return gw_store_i_step_done(s, st);
}

int gw_store_seeker_history_ok(struct gw_store *s, int64_t id, int ok)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_SEEKER_HIST, 1);
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, ok);
    return gw_store_i_step_done(s, st);
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
    gw_store_i_bind_text(st, 2, c->token);
    sqlite3_bind_int64(st, 3, c->seeker_id);
    gw_store_i_bind_text(st, 4, c->queue);
    gw_store_i_bind_text(st, 5, c->lang);
    gw_store_i_bind_text(st, 6, c->state);
    gw_store_i_bind_text(st, 7, c->counsellor[0] ? c->counsellor : NULL);
    sqlite3_bind_int(st, 8, c->priority);
    sqlite3_bind_int64(st, 9, c->created);
    bind_opt_time(st, 10, c->queued_at);
    bind_opt_time(st, 11, c->assigned_at);
    bind_opt_time(st, 12, c->closed_at);
    bind_opt_time(st, 13, c->last_seeker_at);
    bind_opt_time(st, 14, c->last_counsellor_at);
    gw_store_i_bind_text(st, 15, c->outcome[0] ? c->outcome : NULL);
    sqlite3_bind_int(st, 16, c->transfers);
    gw_store_i_bind_text(st, 17, c->meta[0] ? c->meta : NULL);
    gw_store_i_bind_text(st, 18, c->partner[0] ? c->partner : NULL);
    gw_store_i_bind_text(st, 19, c->partner_ref[0] ? c->partner_ref : NULL);
    sqlite3_bind_int(st, 20, c->role);
}

static void conv_from(sqlite3_stmt *st, struct gw_conv_row *c)
{
    memset(c, 0, sizeof *c);
    c->id = sqlite3_column_int64(st, 0);
    gw_store_i_copy_col(st, 1, c->token, sizeof c->token);
    c->seeker_id = sqlite3_column_int64(st, 2);
    gw_store_i_copy_col(st, 3, c->queue, sizeof c->queue);
    gw_store_i_copy_col(st, 4, c->lang, sizeof c->lang);
    gw_store_i_copy_col(st, 5, c->state, sizeof c->state);
    gw_store_i_copy_col(st, 6, c->counsellor, sizeof c->counsellor);
    c->priority = sqlite3_column_int(st, 7);
    c->created = sqlite3_column_int64(st, 8);
    c->queued_at = sqlite3_column_int64(st, 9);
    c->assigned_at = sqlite3_column_int64(st, 10);
    c->closed_at = sqlite3_column_int64(st, 11);
    c->last_seeker_at = sqlite3_column_int64(st, 12);
    c->last_counsellor_at = sqlite3_column_int64(st, 13);
    gw_store_i_copy_col(st, 14, c->outcome, sizeof c->outcome);
    c->transfers = sqlite3_column_int(st, 15);
    gw_store_i_copy_col(st, 16, c->meta, sizeof c->meta);
    gw_store_i_copy_col(st, 17, c->partner, sizeof c->partner);
    gw_store_i_copy_col(st, 18, c->partner_ref, sizeof c->partner_ref);
    c->role = sqlite3_column_int(st, 19);
}

int64_t gw_store_conv_insert(struct gw_store *s, const struct gw_conv_row *c)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_CONV_INS, 1);
    bind_conv(st, c);
    sqlite3_bind_int64(st, 1, s->conv_last_id + 1); /* see conv_last_id in store_int.h */
    if (gw_store_i_step_done(s, st) < 0)
        return GW_EIO;
    return ++s->conv_last_id;
}

int gw_store_conv_touch(struct gw_store *s, const struct gw_conv_row *c)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_CONV_TOUCH, 1);
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_int64(st, 2, c->last_seeker_at);
    sqlite3_bind_int64(st, 3, c->last_counsellor_at);
    return gw_store_i_step_done(s, st);
}

int gw_store_conv_update(struct gw_store *s, const struct gw_conv_row *c)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_CONV_UPD, 1);
    bind_conv(st, c);
    return gw_store_i_step_done(s, st);
}

int gw_store_conv_by_token(struct gw_store *s, const char *token, struct gw_conv_row *out)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_CONV_TOKEN, 0);
    gw_store_i_bind_text(st, 1, token);
    int rc = sqlite3_step(st) == SQLITE_ROW ? GW_OK : GW_ENOTFOUND;
    if (rc == GW_OK)
        conv_from(st, out);
    sqlite3_reset(st);
    return rc;
}

int gw_store_conv_by_id(struct gw_store *s, int64_t id, struct gw_conv_row *out)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_CONV_ID, 0);
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
    return conv_iter(gw_store_i_prep(s, S_CONV_OPEN, 0), cb, arg);
}

int gw_store_conv_history(struct gw_store *s, int64_t seeker_id, int64_t except_id, int limit,
                          int (*cb)(void *arg, const struct gw_conv_row *c), void *arg)
{
    sqlite3_stmt *st = gw_store_i_prep(s, S_CONV_HISTORY, 0);
    sqlite3_bind_int64(st, 1, seeker_id);
    sqlite3_bind_int64(st, 2, except_id);
    sqlite3_bind_int(st, 3, limit);
    return conv_iter(st, cb, arg);
}

/* Mean of the statement's first column over the last `window` rows of a queue, -1 when
 * there are none (both estimates have that shape). */
static int64_t queue_mean(struct gw_store *s, enum stmt k, const char *queue, int window)
{
    sqlite3_stmt *st = gw_store_i_prep(s, k, 0);
    gw_store_i_bind_text(st, 1, queue);
    sqlite3_bind_int(st, 2, window);
    int64_t r = -1;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 1) > 0)
        r = (int64_t)sqlite3_column_double(st, 0);
    sqlite3_reset(st);
    return r;
}

int64_t gw_store_wait_estimate(struct gw_store *s, const char *queue, int window)
{
    return queue_mean(s, S_WAIT, queue, window);
}

int64_t gw_store_handle_estimate(struct gw_store *s, const char *queue, int window)
{
    return queue_mean(s, S_HANDLE, queue, window);
}

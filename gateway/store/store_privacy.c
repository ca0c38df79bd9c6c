/* store_privacy.c — find, export and erase one seeker (GDPR art. 15 and 17).
 *
 * An admin path (a few calls a month), so the statements are prepared per call rather
 * than kept in the store's table: they cost nothing on the message path. */
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "host/plugin_api.h"
#include "store/store.h"
#include "store/store_int.h"
#include "store/store_privacy.h"

/* The conversations of one seeker, as a subquery used by most statements below. */
#define SEEKER_CONVS "(SELECT id FROM conversations WHERE seeker_id=?1)"
/* kv rows of a seeker's conversations (see gw_store_privacy_erase). */
#define KV_OF_SEEKER                                                                               \
    "EXISTS (SELECT 1 FROM conversations c WHERE c.seeker_id=?1 AND (instr(kv.key, c.token)>0 OR"  \
    " (json_valid(kv.value) AND json_extract(kv.value,'$.conv')=c.token)))"
#define SEEKER_MSGS "(SELECT id FROM messages WHERE conv_id IN " SEEKER_CONVS ")"

/* One integer from a query with one text or integer parameter; -1 on error, 0 if no row. */
static int64_t one_int(struct gw_store *s, const char *q, const char *text, int64_t num)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_int64(st, 1, num);
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return v;
}

static int64_t found(int64_t id)
{
    return id > 0 ? id : id == 0 ? GW_ENOTFOUND : GW_EIO;
}

int64_t gw_store_privacy_by_address(struct gw_store *s, const char *channel, const char *address)
{
    if (!channel || !address || !*channel || !*address)
        return GW_ENOTFOUND;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT id FROM seekers WHERE channel=?1 AND address=?2", -1, &st,
                           NULL) != SQLITE_OK)
        return GW_EIO;
    sqlite3_bind_text(st, 1, channel, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, address, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    return found(id);
}

int64_t gw_store_privacy_by_conv(struct gw_store *s, const char *token_or_jid)
{
    if (!token_or_jid || !*token_or_jid)
        return GW_ENOTFOUND;
    char tok[64];
    snprintf(tok, sizeof tok, "%s", token_or_jid);
    tok[strcspn(tok, "@/")] = '\0';
    return found(one_int(s, "SELECT seeker_id FROM conversations WHERE token=?1", tok, 0));
}

int64_t gw_store_privacy_by_session(struct gw_store *s, const char *sid)
{
    if (!sid || !*sid)
        return GW_ENOTFOUND;
    /* json_valid first: a plugin may keep other values (or "" for a forgotten session). */
    return found(one_int(s,
                         "SELECT c.seeker_id FROM kv JOIN conversations c ON"
                         " c.token=json_extract(kv.value,'$.conv') WHERE json_valid(kv.value)"
                         " AND json_extract(kv.value,'$.sid')=?1 LIMIT 1",
                         sid, 0));
}

/* ---- export ---- */

static json_t *col_json(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_NULL:
        return json_null();
    case SQLITE_INTEGER:
        return json_integer(sqlite3_column_int64(st, i));
    case SQLITE_FLOAT:
        return json_real(sqlite3_column_double(st, i));
    default:
        return json_string((const char *)sqlite3_column_text(st, i));
    }
}

/* Rows of `q` (parameter ?1 = num) as JSON objects named by their columns. */
static json_t *rows(struct gw_store *s, const char *q, int64_t num, int *err)
{
    json_t *a = json_array();
    sqlite3_stmt *st = NULL;
    if (!a || sqlite3_prepare_v2(s->db, q, -1, &st, NULL) != SQLITE_OK) {
        *err = 1;
        return a;
    }
    sqlite3_bind_int64(st, 1, num);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        for (int i = 0; o && i < sqlite3_column_count(st); i++) {
            json_t *v = col_json(st, i);
            /* The pre-chat form is stored as JSON text: export it as JSON. */
            if (json_is_string(v) && strcmp(sqlite3_column_name(st, i), "meta") == 0) {
                json_t *p = json_loads(json_string_value(v), 0, NULL);
                if (p) {
                    json_decref(v);
                    v = p;
                }
            }
            json_object_set_new(o, sqlite3_column_name(st, i), v);
        }
        json_array_append_new(a, o);
    }
    if (rc != SQLITE_DONE)
        *err = 1;
    sqlite3_finalize(st);
    return a;
}

json_t *gw_store_privacy_export(struct gw_store *s, int64_t seeker_id)
{
    int err = 0;
    json_t *doc = json_object();
    json_t *seeker = rows(s,
                          "SELECT channel, address, display, lang, blocked, blocked_why,"
                          " history_ok, created FROM seekers WHERE id=?1",
                          seeker_id, &err);
    if (!doc || err || json_array_size(seeker) != 1) {
        json_decref(seeker);
        json_decref(doc);
        return NULL;
    }
    json_object_set(doc, "seeker", json_array_get(seeker, 0));
    json_decref(seeker);
    json_t *convs = rows(s,
                         "SELECT id, token, queue, lang, state, priority, created, queued_at,"
                         " assigned_at, closed_at, outcome, transfers, meta, partner,"
                         " partner_ref, role FROM conversations WHERE seeker_id=?1 ORDER BY id",
                         seeker_id, &err);
    size_t i;
    json_t *cv;
    json_array_foreach(convs, i, cv)
    {
        int64_t id = json_integer_value(json_object_get(cv, "id"));
        json_object_set_new(cv, "messages",
                            rows(s,
                                 "SELECT id, dir, body, created, state, error FROM messages"
                                 " WHERE conv_id=?1 AND dir<>'sys' ORDER BY id",
                                 id, &err));
        json_object_set_new(cv, "events",
                            rows(s,
                                 "SELECT at, kind, actor, detail FROM events WHERE conv_id=?1"
                                 " ORDER BY id",
                                 id, &err));
        json_t *fb = rows(s, "SELECT rating, comment FROM feedback WHERE conv_id=?1", id, &err);
        json_object_set(cv, "feedback", json_array_size(fb) ? json_array_get(fb, 0) : json_null());
        json_decref(fb);
        json_object_del(cv, "id"); /* internal */
    }
    json_object_set_new(doc, "conversations", convs);
    json_object_set_new(doc, "consent",
                        rows(s,
                             "SELECT c.token AS conv, e.at, e.detail AS answer FROM events e"
                             " JOIN conversations c ON c.id=e.conv_id WHERE c.seeker_id=?1 AND"
                             " e.kind='consent' ORDER BY e.id",
                             seeker_id, &err));
    /* Partners that received a copy: conversations served by (role 1) or for (role 2) a
     * partner, and escalations recorded as events (the partner in detail). */
    json_object_set_new(doc, "partners",
                        rows(s,
                             "SELECT partner, token AS conv, partner_ref, role FROM"
                             " conversations WHERE seeker_id=?1 AND partner IS NOT NULL AND"
                             " partner<>'' UNION SELECT e.detail, c.token, NULL, 1 FROM events e"
                             " JOIN conversations c ON c.id=e.conv_id WHERE c.seeker_id=?1 AND"
                             " e.kind='escalated' AND e.detail IS NOT NULL AND NOT EXISTS"
                             " (SELECT 1 FROM conversations c2 WHERE c2.id=c.id AND"
                             " c2.partner=e.detail)",
                             seeker_id, &err));
    json_object_set_new(doc, "sessions",
                        rows(s,
                             "SELECT kv.owner, json_extract(kv.value,'$.sid') AS sid,"
                             " c.token AS conv, json_extract(kv.value,'$.created') AS created,"
                             " json_extract(kv.value,'$.exp') AS expires FROM kv JOIN"
                             " conversations c ON c.token=json_extract(kv.value,'$.conv')"
                             " WHERE json_valid(kv.value) AND c.seeker_id=?1 ORDER BY c.id",
                             seeker_id, &err));
    /* Other rows plugins keep about the conversations (e.g. e-mail threading references). */
    json_object_set_new(doc, "plugin_data",
                        rows(s,
                             "SELECT kv.owner, kv.key, kv.value FROM kv JOIN conversations c ON"
                             " instr(kv.key, c.token)>0 WHERE c.seeker_id=?1 ORDER BY c.id",
                             seeker_id, &err));
    if (err) {
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* ---- erase ---- */

long long gw_store_privacy_in_flight(struct gw_store *s, int64_t seeker_id)
{
    return one_int(s, "SELECT count(*) FROM outbox WHERE target<>'xmpp' AND msg_id IN " SEEKER_MSGS,
                   NULL, seeker_id);
}

int gw_store_privacy_convs(struct gw_store *s, int64_t seeker_id,
                           int (*cb)(void *arg, const struct gw_conv_row *c), void *arg)
{
    /* Ids first, then each row: cb may write to the store. */
    int64_t ids[256];
    int n = 0, total = 0;
    int64_t after = 0;
    for (;;) {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db,
                               "SELECT id FROM conversations WHERE seeker_id=?1 AND id>?2"
                               " ORDER BY id LIMIT 256",
                               -1, &st, NULL) != SQLITE_OK)
            return GW_EIO;
        sqlite3_bind_int64(st, 1, seeker_id);
        sqlite3_bind_int64(st, 2, after);
        n = 0;
        while (sqlite3_step(st) == SQLITE_ROW)
            ids[n++] = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
        for (int i = 0; i < n; i++) {
            struct gw_conv_row row;
            if (gw_store_conv_by_id(s, ids[i], &row) != GW_OK)
                return GW_EIO;
            total++;
            if (cb(arg, &row))
                return total;
        }
        if (n < 256)
            return total;
        after = ids[n - 1];
    }
}

struct step {
    const char *count; /* SELECT count(*) ... (?1 = seeker id) */
    const char *write; /* the write; ?1 = seeker id, ?2 = actor */
    long long *into;
};

int gw_store_privacy_erase(struct gw_store *s, int64_t seeker_id, const char *actor, int64_t now_ms,
                           int dry_run, struct gw_erase_counts *n)
{
    memset(n, 0, sizeof *n);
    n->in_flight = gw_store_privacy_in_flight(s, seeker_id);
    /* Order matters: dedup and outbox rows are found through the messages, so they go
     * before the messages; the outbox's xmpp rows name the conversation's JID (token@…) in
     * their stanza, so they go before the token changes; the "erased" events are written
     * after the event details are cleared. */
    const struct step steps[] = {
        {"SELECT count(*) FROM inbound_dedup WHERE msg_id IN " SEEKER_MSGS,
         "DELETE FROM inbound_dedup WHERE msg_id IN " SEEKER_MSGS, &n->dedup},
        {"SELECT count(*) FROM outbox WHERE msg_id IN " SEEKER_MSGS
         " OR (payload IS NOT NULL AND EXISTS (SELECT 1 FROM conversations c WHERE"
         " c.seeker_id=?1 AND instr(outbox.payload, c.token||'@')>0))",
         "DELETE FROM outbox WHERE msg_id IN " SEEKER_MSGS
         " OR (payload IS NOT NULL AND EXISTS (SELECT 1 FROM conversations c WHERE"
         " c.seeker_id=?1 AND instr(outbox.payload, c.token||'@')>0))",
         &n->outbox},
        {"SELECT count(*) FROM messages WHERE conv_id IN " SEEKER_CONVS,
         "DELETE FROM messages WHERE conv_id IN " SEEKER_CONVS, &n->messages},
        /* Plugins' rows: a session whose JSON names the conversation, or a row keyed by
         * the token (the e-mail plugin's "refs:<token>": the seeker's Message-IDs). */
        {"SELECT count(*) FROM kv WHERE " KV_OF_SEEKER, "DELETE FROM kv WHERE " KV_OF_SEEKER,
         &n->sessions},
        {"SELECT count(*) FROM feedback WHERE comment IS NOT NULL AND conv_id IN " SEEKER_CONVS,
         "UPDATE feedback SET comment=NULL WHERE comment IS NOT NULL AND conv_id IN " SEEKER_CONVS,
         &n->feedback},
        /* The escalation events keep the partner (detail): the per-partner statistics
         * count them.  Every other detail (consent answers, block reasons, transfer notes)
         * and any actor that is the seeker's own address goes. */
        {"SELECT count(*) FROM events WHERE conv_id IN " SEEKER_CONVS,
         "UPDATE events SET detail=CASE WHEN kind IN ('escalate-sent','escalated',"
         "'escalate-failed') THEN detail END, actor=CASE WHEN actor=(SELECT address FROM"
         " seekers WHERE id=?1) THEN NULL ELSE actor END WHERE conv_id IN " SEEKER_CONVS,
         &n->events},
        {NULL,
         "INSERT INTO events(conv_id, at, kind, actor) SELECT id,"
         " ?3, 'erased', ?2 FROM"
         " conversations WHERE seeker_id=?1",
         NULL},
        {"SELECT count(*) FROM conversations WHERE seeker_id=?1",
         "UPDATE conversations SET token='erased-'||lower(hex(randomblob(8))), meta=NULL,"
         " partner_ref=NULL WHERE seeker_id=?1",
         &n->conversations},
        {NULL,
         "UPDATE seekers SET address='erased:'||lower(hex(randomblob(12))), display=NULL,"
         " blocked=0, blocked_why=NULL WHERE id=?1",
         NULL},
    };
    if (!dry_run)
        gw_store_i_prep(s, S_BEGIN, 1); /* opens the turn's transaction if none is open */
    for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
        const struct step *p = &steps[i];
        if (p->count && p->into) {
            int64_t c = one_int(s, p->count, NULL, seeker_id);
            if (c < 0)
                return GW_EIO;
            *p->into = c;
        }
        if (dry_run)
            continue;
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, p->write, -1, &st, NULL) != SQLITE_OK)
            return GW_EIO;
        sqlite3_bind_int64(st, 1, seeker_id);
        if (sqlite3_bind_parameter_count(st) >= 2)
            sqlite3_bind_text(st, 2, actor ? actor : "", -1, SQLITE_STATIC);
        if (sqlite3_bind_parameter_count(st) >= 3)
            sqlite3_bind_int64(st, 3, now_ms);
        int rc = gw_store_i_step_done(s, st);
        sqlite3_finalize(st);
        if (rc != GW_OK)
            return GW_EIO;
    }
    return GW_OK;
}

int gw_store_privacy_erase_pending(struct gw_store *s,
                                   int (*cb)(void *arg, const char *partner, int64_t asked_at,
                                             int attempts, const char *last_error),
                                   void *arg)
{
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT c.partner, m.created, o.attempts, o.last_error FROM outbox o"
                           " JOIN messages m ON m.id=o.msg_id JOIN conversations c ON"
                           " c.id=m.conv_id WHERE o.target='fed' AND m.dir='sys' AND"
                           " json_valid(m.meta) AND json_extract(m.meta,'$.type')='fed-erase'"
                           " ORDER BY o.id",
                           -1, &st, NULL) != SQLITE_OK)
        return GW_EIO;
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        n++;
        const unsigned char *p = sqlite3_column_text(st, 0), *e = sqlite3_column_text(st, 3);
        if (cb && cb(arg, p ? (const char *)p : "", sqlite3_column_int64(st, 1),
                     sqlite3_column_int(st, 2), e ? (const char *)e : ""))
            break;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? n : GW_EIO;
}

int gw_store_scrub(struct gw_store *s)
{
    if (s->in_txn)
        return GW_EAGAIN;
    int log = 0, done = 0;
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    if (rc == SQLITE_OK)
        s->wal_frames = 0;
    return rc == SQLITE_OK ? GW_OK : rc == SQLITE_BUSY ? GW_EAGAIN : GW_EIO;
}

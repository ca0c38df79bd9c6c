/* test_store.c — unit tests for the durable store (gateway/store/store.c): creation, migrations,
 * refusal of bad files, and every table's operations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "host/plugin_api.h"
#include "store/store.h"

struct fx {
    char dir[64];
    char db[128];
    struct gw_store *s;
};

static void rm_db(const char *db)
{
    char p[200];
    unlink(db);
    snprintf(p, sizeof p, "%s-wal", db);
    unlink(p);
    snprintf(p, sizeof p, "%s-shm", db);
    unlink(p);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/gwtest-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->db, sizeof f->db, "%s/gw.db", f->dir);
    *state = f;
    return 0;
}

/* Setup plus an open store. */
static int setup_open(void **state)
{
    if (setup(state) < 0)
        return -1;
    struct fx *f = *state;
    char err[256] = "";
    f->s = gw_store_open(f->db, err, sizeof err);
    if (!f->s)
        fprintf(stderr, "open: %s\n", err);
    return f->s ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gw_store_close(&f->s);
    rm_db(f->db);
    char p[200];
    snprintf(p, sizeof p, "%s/file", f->dir);
    unlink(p);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Run a query with the sqlite3 library directly; the first column of the first row
 * as text into out (may be NULL). */
static int sql1(const char *db, const char *q, char *out, size_t len)
{
    sqlite3 *d;
    if (sqlite3_open(db, &d) != SQLITE_OK)
        return -1;
    sqlite3_stmt *st;
    int rc = -1;
    if (sqlite3_prepare_v2(d, q, -1, &st, NULL) == SQLITE_OK) {
        int r = sqlite3_step(st);
        if (r == SQLITE_ROW || r == SQLITE_DONE)
            rc = 0;
        if (out)
            snprintf(out, len, "%s",
                     r == SQLITE_ROW && sqlite3_column_text(st, 0)
                         ? (const char *)sqlite3_column_text(st, 0) : "");
        sqlite3_finalize(st);
    }
    sqlite3_close(d);
    return rc;
}

/* Run several statements on one connection of their own (PRAGMAs that hold per connection). */
static int sql_exec(const char *db, const char *q)
{
    sqlite3 *d;
    if (sqlite3_open(db, &d) != SQLITE_OK)
        return -1;
    int rc = sqlite3_exec(d, q, NULL, NULL, NULL) == SQLITE_OK ? 0 : -1;
    sqlite3_close(d);
    return rc;
}

/* Create the database at the current schema and close it, for a test to reshape. */
static void create_closed(struct fx *f)
{
    char err[256];
    f->s = gw_store_open(f->db, err, sizeof err);
    assert_non_null(f->s);
    gw_store_close(&f->s);
}

/* ---- opening and migrations ---- */

static void test_create(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    mode_t old = umask(0);
    f->s = gw_store_open(f->db, err, sizeof err);
    umask(old);
    assert_non_null(f->s);
    struct stat st;
    assert_int_equal(stat(f->db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    int v = gw_store_version(f->s);
    assert_true(v >= 1);
    gw_store_close(&f->s);
    assert_null(f->s);
    gw_store_close(&f->s); /* NULL-safe */
    gw_store_close(NULL);

    char out[64];
    assert_int_equal(sql1(f->db, "PRAGMA journal_mode", out, sizeof out), 0);
    assert_string_equal(out, "wal");
    assert_int_equal(sql1(f->db, "PRAGMA user_version", out, sizeof out), 0);
    assert_int_equal(atoi(out), v);
    const char *tables[] = {"kv", "seekers", "conversations", "messages", "inbound_dedup",
                            "outbox", "events", "feedback"};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++) {
        char q[128];
        snprintf(q, sizeof q, "SELECT name FROM sqlite_master WHERE type='table' AND name='%s'",
                 tables[i]);
        assert_int_equal(sql1(f->db, q, out, sizeof out), 0);
        assert_string_equal(out, tables[i]);
    }
}

static void test_reopen_idempotent(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    f->s = gw_store_open(f->db, err, sizeof err);
    assert_non_null(f->s);
    int v = gw_store_version(f->s);
    int64_t sid = gw_store_seeker_upsert(f->s, "sms", "+4791234567", "··4567", "nb");
    assert_true(sid > 0);
    assert_int_equal(gw_store_kv_set(f->s, "sms", "k", "v"), GW_OK);
    gw_store_close(&f->s); /* close commits what is pending */
    /* A pre-existing file with loose permissions is tightened. */
    assert_int_equal(chmod(f->db, 0644), 0);
    for (int i = 0; i < 2; i++) {
        f->s = gw_store_open(f->db, err, sizeof err);
        assert_non_null(f->s);
        assert_int_equal(gw_store_version(f->s), v);
        assert_int_equal(gw_store_count(f->s, "seekers"), 1);
        char *val = gw_store_kv_get(f->s, "sms", "k");
        assert_non_null(val);
        assert_string_equal(val, "v");
        free(val);
        gw_store_close(&f->s);
    }
    struct stat st;
    assert_int_equal(stat(f->db, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_not_a_database(void **state)
{
    struct fx *f = *state;
    FILE *fp = fopen(f->db, "w");
    assert_non_null(fp);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite database, just text\n", fp);
    fclose(fp);
    char err[256] = "";
    f->s = gw_store_open(f->db, err, sizeof err);
    assert_null(f->s);
    assert_non_null(strstr(err, f->db));
    assert_non_null(strstr(err, "not a database"));
}

static void test_parent_is_a_file(void **state)
{
    struct fx *f = *state;
    char file[200], path[240];
    snprintf(file, sizeof file, "%s/file", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(path, sizeof path, "%s/sub.db", file);
    char err[256] = "";
    f->s = gw_store_open(path, err, sizeof err);
    assert_null(f->s);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "Not a directory"));
}

/* Create a store, make the file 0400, reopen: 1 when refused (err filled). */
static int read_only_refused(struct fx *f, char *err, size_t errlen)
{
    struct gw_store *s = gw_store_open(f->db, err, errlen);
    if (!s)
        return -1;
    gw_store_close(&s);
    rm_db(f->db);
    s = gw_store_open(f->db, err, errlen); /* a fresh file without -wal/-shm */
    gw_store_close(&s);
    if (chmod(f->db, 0400) < 0)
        return -1;
    s = gw_store_open(f->db, err, errlen);
    chmod(f->db, 0600);
    int refused = s == NULL;
    gw_store_close(&s);
    return refused;
}

static void test_read_only(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    if (geteuid() != 0) {
        assert_int_equal(read_only_refused(f, err, sizeof err), 1);
        assert_non_null(strstr(err, f->db));
        assert_non_null(strstr(err, "read-only"));
        return;
    }
    /* root writes through file modes: run the case as "nobody" in a child. */
    assert_int_equal(chown(f->dir, 65534, 65534), 0);
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
            _exit(3);
        int r = read_only_refused(f, err, sizeof err);
        (void)!write(p[1], err, strlen(err) + 1);
        _exit(r == 1 ? 0 : 1);
    }
    close(p[1]);
    char buf[256] = "";
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    buf[n > 0 ? n : 0] = 0;
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("read-only store was not refused (exit %d): '%s'", WEXITSTATUS(status), buf);
    assert_non_null(strstr(buf, f->db));
    assert_non_null(strstr(buf, "read-only"));
}

static void test_newer_schema(void **state)
{
    struct fx *f = *state;
    char err[256] = "";
    f->s = gw_store_open(f->db, err, sizeof err);
    assert_non_null(f->s);
    gw_store_close(&f->s);
    assert_int_equal(sql1(f->db, "PRAGMA user_version=999", NULL, 0), 0);
    f->s = gw_store_open(f->db, err, sizeof err);
    assert_null(f->s);
    assert_non_null(strstr(err, "999"));
    assert_non_null(strstr(err, "newer"));
}

/* ---- kv ---- */

static void test_kv(void **state)
{
    struct fx *f = *state;
    assert_null(gw_store_kv_get(f->s, "email", "uid"));
    assert_int_equal(gw_store_kv_set(f->s, "email", "uid", "41"), GW_OK);
    assert_int_equal(gw_store_kv_set(f->s, "email", "uid", "42"), GW_OK);
    assert_int_equal(gw_store_kv_set(f->s, "sms", "uid", "7"), GW_OK);
    char *v = gw_store_kv_get(f->s, "email", "uid");
    assert_string_equal(v, "42");
    free(v);
    v = gw_store_kv_get(f->s, "sms", "uid");
    assert_string_equal(v, "7");
    free(v);
    assert_null(gw_store_kv_get(f->s, "webchat", "uid"));
    assert_int_equal(gw_store_count(f->s, "kv"), 2);
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    assert_int_equal(gw_store_commit(f->s), GW_OK); /* nothing pending: still fine */
    assert_int_equal(gw_store_failed(f->s), 0);
    assert_int_equal(gw_store_count(f->s, "sqlite_master; DROP TABLE kv"), -1);
}

/* ---- seekers ---- */

static void test_seekers(void **state)
{
    struct fx *f = *state;
    struct gw_seeker_row r;
    assert_int_equal(gw_store_seeker_find(f->s, "sms", "+4791234567", &r), GW_ENOTFOUND);
    int64_t a = gw_store_seeker_upsert(f->s, "sms", "+4791234567", "··4567", "nn");
    int64_t b = gw_store_seeker_upsert(f->s, "sms", "+4791234567", "other", "en");
    int64_t c = gw_store_seeker_upsert(f->s, "email", "+4791234567", NULL, NULL);
    assert_true(a > 0);
    assert_int_equal(a, b);
    assert_true(c > 0 && c != a);
    assert_int_equal(gw_store_seeker_find(f->s, "sms", "+4791234567", &r), GW_OK);
    assert_int_equal(r.id, a);
    assert_string_equal(r.channel, "sms");
    assert_string_equal(r.display, "··4567"); /* the first upsert's values are kept */
    assert_string_equal(r.lang, "nn");
    assert_int_equal(r.blocked, 0);
    assert_int_equal(r.history_ok, 0);

    assert_int_equal(gw_store_seeker_block(f->s, a, 1, "abuse"), GW_OK);
    assert_int_equal(gw_store_seeker_history_ok(f->s, a, 1), GW_OK);
    assert_int_equal(gw_store_seeker_get(f->s, a, &r), GW_OK);
    assert_int_equal(r.blocked, 1);
    assert_int_equal(r.history_ok, 1);
    assert_int_equal(gw_store_seeker_get(f->s, c, &r), GW_OK);
    assert_int_equal(r.blocked, 0);
    assert_int_equal(gw_store_seeker_block(f->s, a, 0, NULL), GW_OK);
    assert_int_equal(gw_store_seeker_find(f->s, "sms", "+4791234567", &r), GW_OK);
    assert_int_equal(r.blocked, 0);
    assert_int_equal(gw_store_seeker_get(f->s, 99999, &r), GW_ENOTFOUND);
}

/* ---- conversations ---- */

static int64_t new_conv(struct gw_store *s, int64_t seeker, const char *token, const char *queue,
                        const char *state, int64_t queued, int64_t assigned, int64_t closed)
{
    struct gw_conv_row c;
    memset(&c, 0, sizeof c);
    snprintf(c.token, sizeof c.token, "%s", token);
    c.seeker_id = seeker;
    snprintf(c.queue, sizeof c.queue, "%s", queue);
    snprintf(c.lang, sizeof c.lang, "nb");
    snprintf(c.state, sizeof c.state, "%s", state);
    c.created = queued;
    c.queued_at = queued;
    c.assigned_at = assigned;
    c.closed_at = closed;
    return gw_store_conv_insert(s, &c);
}

struct open_seen {
    char tokens[8][24];
    int n;
    int stop_after;
};

static int on_open(void *arg, const struct gw_conv_row *c)
{
    struct open_seen *o = arg;
    if (o->n < 8)
        snprintf(o->tokens[o->n], sizeof o->tokens[0], "%s", c->token);
    o->n++;
    return o->stop_after && o->n >= o->stop_after;
}

static void test_conversations(void **state)
{
    struct fx *f = *state;
    int64_t sk = gw_store_seeker_upsert(f->s, "sms", "+4790000001", NULL, "nb");
    assert_true(sk > 0);
    int64_t c1 = new_conv(f->s, sk, "tokA", "general", "queued", 1000, 0, 0);
    int64_t c2 = new_conv(f->s, sk, "tokB", "general", "active", 2000, 2500, 0);
    int64_t c3 = new_conv(f->s, sk, "tokC", "general", "closed", 3000, 3100, 3900);
    assert_true(c1 > 0 && c2 > c1 && c3 > c2);
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    /* token is unique (a refused write dooms its turn: test_failed_write_dooms_turn) */
    assert_true(new_conv(f->s, sk, "tokA", "general", "queued", 1, 0, 0) < 0);
    assert_true(gw_store_doomed(f->s));
    gw_store_recover(f->s);
    /* seeker must exist (foreign key) */
    assert_true(new_conv(f->s, 424242, "tokZ", "general", "queued", 1, 0, 0) < 0);
    gw_store_recover(f->s);

    struct gw_conv_row r;
    assert_int_equal(gw_store_conv_by_token(f->s, "tokB", &r), GW_OK);
    assert_int_equal(r.id, c2);
    assert_string_equal(r.state, "active");
    assert_int_equal(r.assigned_at, 2500);
    assert_int_equal(r.closed_at, 0);
    assert_string_equal(r.counsellor, "");
    snprintf(r.state, sizeof r.state, "closed");
    snprintf(r.counsellor, sizeof r.counsellor, "kari@example.no");
    snprintf(r.outcome, sizeof r.outcome, "resolved");
    snprintf(r.meta, sizeof r.meta, "{\"age\":\"15\"}");
    snprintf(r.partner, sizeof r.partner, "gw.dk.test");
    r.closed_at = 2900;
    r.transfers = 2;
    r.role = 1;
    assert_int_equal(gw_store_conv_update(f->s, &r), GW_OK);
    struct gw_conv_row q;
    assert_int_equal(gw_store_conv_by_id(f->s, c2, &q), GW_OK);
    assert_string_equal(q.token, "tokB");
    assert_string_equal(q.state, "closed");
    assert_string_equal(q.counsellor, "kari@example.no");
    assert_string_equal(q.outcome, "resolved");
    assert_string_equal(q.meta, "{\"age\":\"15\"}");
    assert_string_equal(q.partner, "gw.dk.test");
    assert_int_equal(q.closed_at, 2900);
    assert_int_equal(q.transfers, 2);
    assert_int_equal(q.role, 1);
    assert_int_equal(gw_store_conv_by_token(f->s, "nope", &q), GW_ENOTFOUND);
    assert_int_equal(gw_store_conv_by_id(f->s, 9999, &q), GW_ENOTFOUND);

    /* Only tokA is open now (tokB was closed by the update, tokC was closed). */
    new_conv(f->s, sk, "tokD", "general", "offered", 4000, 0, 0);
    struct open_seen o = {0};
    assert_int_equal(gw_store_conv_open_each(f->s, on_open, &o), 2);
    assert_int_equal(o.n, 2);
    assert_string_equal(o.tokens[0], "tokA");
    assert_string_equal(o.tokens[1], "tokD");
    struct open_seen o1 = {.stop_after = 1};
    assert_int_equal(gw_store_conv_open_each(f->s, on_open, &o1), 1);

    /* History: closed ones, newest first, excluding one id. */
    struct open_seen h = {0};
    assert_int_equal(gw_store_conv_history(f->s, sk, c3, 10, on_open, &h), 1);
    assert_string_equal(h.tokens[0], "tokB");
    struct open_seen h2 = {0};
    assert_int_equal(gw_store_conv_history(f->s, sk, 0, 10, on_open, &h2), 2);
    assert_string_equal(h2.tokens[0], "tokC");
}

static void test_wait_estimate(void **state)
{
    struct fx *f = *state;
    int64_t sk = gw_store_seeker_upsert(f->s, "sms", "+4790000002", NULL, "nb");
    assert_int_equal(gw_store_wait_estimate(f->s, "general", 20), -1);
    new_conv(f->s, sk, "w0", "general", "queued", 500, 0, 0); /* not assigned: ignored */
    new_conv(f->s, sk, "w1", "general", "closed", 1000, 2000, 5000);   /* wait 1000 */
    new_conv(f->s, sk, "w2", "general", "active", 3000, 5000, 0);      /* wait 2000 */
    new_conv(f->s, sk, "w3", "general", "closed", 4000, 7000, 8000);   /* wait 3000 */
    new_conv(f->s, sk, "x1", "other", "active", 1000, 101000, 0);
    assert_int_equal(gw_store_wait_estimate(f->s, "general", 20), 2000);
    assert_int_equal(gw_store_wait_estimate(f->s, "general", 2), 2500); /* latest two */
    assert_int_equal(gw_store_wait_estimate(f->s, "general", 1), 3000);
    assert_int_equal(gw_store_wait_estimate(f->s, "other", 5), 100000);
    assert_int_equal(gw_store_wait_estimate(f->s, "none", 5), -1);
    /* handle time: closed - assigned of closed ones: 3000 and 1000 */
    assert_int_equal(gw_store_handle_estimate(f->s, "general", 20), 2000);
    assert_int_equal(gw_store_handle_estimate(f->s, "general", 1), 1000);
    assert_int_equal(gw_store_handle_estimate(f->s, "other", 5), -1);
}

/* ---- messages ---- */

static int on_full(void *arg, const struct gw_msg_row *m)
{
    char *out = arg;
    snprintf(out, 128, "%s|%s", m->body, m->meta ? m->meta : "");
    return 0;
}

struct each_seen {
    int64_t ids[8];
    char bodies[8][32];
    int n;
};

static int on_each(void *arg, const struct gw_msg_row *m)
{
    struct each_seen *e = arg;
    if (e->n < 8) {
        e->ids[e->n] = m->id;
        snprintf(e->bodies[e->n], sizeof e->bodies[0], "%s", m->body);
    }
    e->n++;
    return 0;
}

static void test_messages(void **state)
{
    struct fx *f = *state;
    int64_t sk = gw_store_seeker_upsert(f->s, "sms", "+4790000003", NULL, "nb");
    int64_t cv = new_conv(f->s, sk, "m1", "general", "active", 1, 2, 0);
    int64_t in1 = gw_store_msg_insert(f->s, cv, "in", "hei", NULL, 10, "stored", NULL, NULL);
    int64_t out1 = gw_store_msg_insert(f->s, cv, "out", "hallo", "kari@example.no", 11,
                                       "stored", "st-1", "{\"x\":1}");
    int64_t note = gw_store_msg_insert(f->s, cv, "note", "internal", "kari@example.no", 12,
                                       "stored", NULL, NULL);
    int64_t aut = gw_store_msg_insert(f->s, cv, "auto", "velkommen", NULL, 13, "stored", NULL,
                                      NULL);
    assert_true(in1 > 0 && out1 > in1 && note > out1 && aut > note);

    struct gw_msg_row m;
    assert_int_equal(gw_store_msg_get(f->s, out1, &m), GW_OK);
    assert_int_equal(m.conv_id, cv);
    assert_string_equal(m.dir, "out");
    assert_string_equal(m.author, "kari@example.no");
    assert_string_equal(m.state, "stored");
    assert_string_equal(m.stanza_id, "st-1");
    assert_int_equal(m.created, 11);
    assert_int_equal(gw_store_msg_get(f->s, 9999, &m), GW_ENOTFOUND);
    char full[128] = "";
    assert_int_equal(gw_store_msg_full(f->s, out1, on_full, full), GW_OK);
    assert_string_equal(full, "hallo|{\"x\":1}");
    assert_int_equal(gw_store_msg_full(f->s, 9999, on_full, full), GW_ENOTFOUND);

    /* State machine: stored -> sent -> delivered; late 'sent' ignored; failed is final. */
    assert_int_equal(gw_store_msg_state(f->s, out1, "sent", "prov-1", NULL), 1);
    assert_int_equal(gw_store_msg_state(f->s, out1, "sent", NULL, NULL), 0); /* no change */
    assert_int_equal(gw_store_msg_state(f->s, out1, "delivered", NULL, NULL), 1);
    assert_int_equal(gw_store_msg_state(f->s, out1, "sent", "prov-2", NULL), 0);
    assert_int_equal(gw_store_msg_state(f->s, out1, "failed", NULL, "late"), 0);
    assert_int_equal(gw_store_msg_get(f->s, out1, &m), GW_OK);
    assert_string_equal(m.state, "delivered");
    assert_string_equal(m.channel_ref, "prov-1");

    assert_int_equal(gw_store_msg_state(f->s, aut, "failed", "prov-3", "no route"), 1);
    assert_int_equal(gw_store_msg_state(f->s, aut, "delivered", NULL, NULL), 0);
    assert_int_equal(gw_store_msg_state(f->s, aut, "sent", NULL, NULL), 0);
    assert_int_equal(gw_store_msg_get(f->s, aut, &m), GW_OK);
    assert_string_equal(m.state, "failed");

    /* by_ref */
    assert_int_equal(gw_store_msg_by_ref(f->s, "prov-1", &m), GW_OK);
    assert_int_equal(m.id, out1);
    assert_int_equal(m.conv_id, cv);
    assert_int_equal(gw_store_msg_by_ref(f->s, "prov-2", &m), GW_ENOTFOUND);
    char ref[64];
    assert_int_equal(gw_store_last_inbound_ref(f->s, cv, ref, sizeof ref), GW_OK);
    assert_string_equal(ref, "");
    assert_int_equal(gw_store_msg_set_ref(f->s, in1, "<abc@mail>"), GW_OK);
    assert_int_equal(gw_store_last_inbound_ref(f->s, cv, ref, sizeof ref), GW_OK);
    assert_string_equal(ref, "<abc@mail>");
    assert_int_equal(gw_store_msg_by_ref(f->s, "<abc@mail>", &m), GW_OK);
    assert_int_equal(m.id, in1);

    /* each: filter by dir, after id */
    struct each_seen e = {0};
    assert_int_equal(gw_store_msg_each(f->s, cv, 0, "in,out,auto", on_each, &e), 3);
    assert_string_equal(e.bodies[0], "hei");
    assert_string_equal(e.bodies[1], "hallo");
    assert_string_equal(e.bodies[2], "velkommen");
    struct each_seen e2 = {0};
    assert_int_equal(gw_store_msg_each(f->s, cv, in1, NULL, on_each, &e2), 3);
    assert_int_equal(e2.ids[0], out1);
    struct each_seen e3 = {0};
    assert_int_equal(gw_store_msg_each(f->s, cv, 0, "out", on_each, &e3), 1);
    assert_int_equal(e3.ids[0], out1);
}

static void test_dedup(void **state)
{
    struct fx *f = *state;
    assert_int_equal(gw_store_dedup_find(f->s, "sms", "ext-1"), 0);
    assert_int_equal(gw_store_dedup_add(f->s, "sms", "ext-1", 17), GW_OK);
    assert_int_equal(gw_store_dedup_find(f->s, "sms", "ext-1"), 17);
    assert_int_equal(gw_store_dedup_find(f->s, "email", "ext-1"), 0);
    assert_int_equal(gw_store_dedup_add(f->s, "sms", "ext-1", 99), GW_OK); /* ignored */
    assert_int_equal(gw_store_dedup_find(f->s, "sms", "ext-1"), 17);
    assert_int_equal(gw_store_count(f->s, "inbound_dedup"), 1);
}

/* ---- outbox ---- */

struct due_seen {
    int64_t ids[16];
    int attempts[16];
    char payload[16][32];
    int n;
    struct gw_store *s;
    int done_inside;
};

static int on_due(void *arg, const struct gw_outbox_row *r)
{
    struct due_seen *d = arg;
    if (d->n < 16) {
        d->ids[d->n] = r->id;
        d->attempts[d->n] = r->attempts;
        snprintf(d->payload[d->n], sizeof d->payload[0], "%s", r->payload ? r->payload : "-");
    }
    d->n++;
    if (d->done_inside)
        gw_store_outbox_done(d->s, r->id);
    return 0;
}

static void test_outbox(void **state)
{
    struct fx *f = *state;
    assert_int_equal(gw_store_outbox_next(f->s, -1), -1);
    int64_t a = gw_store_outbox_add(f->s, 0, "xmpp", 0, "<message/>", 100);
    int64_t b = gw_store_outbox_add(f->s, 5, "sms", 1, NULL, 50);
    int64_t c = gw_store_outbox_add(f->s, 6, "sms", 0, NULL, 500);
    assert_true(a > 0 && b > a && c > b);
    assert_int_equal(gw_store_outbox_count(f->s), 3);
    assert_int_equal(gw_store_outbox_next(f->s, -1), 50);
    /* Only rows later than `after`: a row due now (or in a plugin's hands) must not hide
     * the next one that is due later (the retry timer is armed from this). */
    assert_int_equal(gw_store_outbox_next(f->s, 50), 100);
    assert_int_equal(gw_store_outbox_next(f->s, 500), -1);

    struct due_seen d = {0};
    assert_int_equal(gw_store_outbox_due(f->s, 100, 0, 10, on_due, &d), 2);
    assert_int_equal(d.ids[0], a); /* id order, not next_at order */
    assert_int_equal(d.ids[1], b);
    assert_string_equal(d.payload[0], "<message/>");
    assert_string_equal(d.payload[1], "-");
    struct due_seen d2 = {0};
    assert_int_equal(gw_store_outbox_due(f->s, 1000, a, 10, on_due, &d2), 2); /* after_id */
    assert_int_equal(d2.ids[0], b);
    struct due_seen d3 = {0};
    assert_int_equal(gw_store_outbox_due(f->s, 1000, 0, 1, on_due, &d3), 1); /* limit */

    assert_int_equal(gw_store_outbox_retry(f->s, b, 9000, "timeout"), GW_OK);
    assert_int_equal(gw_store_outbox_retry(f->s, b, 9500, "timeout"), GW_OK);
    assert_int_equal(gw_store_outbox_next(f->s, -1), 100);
    struct due_seen d4 = {0};
    assert_int_equal(gw_store_outbox_due(f->s, 1000, 0, 10, on_due, &d4), 2);
    assert_int_equal(d4.ids[0], a);
    assert_int_equal(d4.ids[1], c);

    assert_int_equal(gw_store_outbox_wake_all(f->s), GW_OK);
    assert_int_equal(gw_store_outbox_next(f->s, -1), 0);
    assert_int_equal(gw_store_outbox_next(f->s, 0), -1);
    struct due_seen d5 = {0};
    assert_int_equal(gw_store_outbox_due(f->s, 0, 0, 10, on_due, &d5), 3);
    assert_int_equal(d5.ids[1], b);
    assert_int_equal(d5.attempts[1], 2);

    /* Deleting from inside the callback (as the sender does). */
    struct due_seen d6 = {.s = f->s, .done_inside = 1};
    assert_int_equal(gw_store_outbox_due(f->s, 0, 0, 10, on_due, &d6), 3);
    assert_int_equal(gw_store_outbox_count(f->s), 0);
    assert_int_equal(gw_store_outbox_next(f->s, -1), -1);

    /* Ids are never reused while the store is open (the XMPP sender relies on their order),
     * also when the table was emptied; after a reopen they continue above what is left. */
    int64_t e = gw_store_outbox_add(f->s, 0, "xmpp", 0, "<x/>", 0);
    assert_true(e > c);
    assert_int_equal(gw_store_outbox_done(f->s, e), GW_OK);
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    int64_t g = gw_store_outbox_add(f->s, 0, "xmpp", 0, "<y/>", 0);
    assert_true(g > e);
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    gw_store_close(&f->s);
    char err[256];
    f->s = gw_store_open(f->db, err, sizeof err);
    assert_non_null(f->s);
    int64_t h = gw_store_outbox_add(f->s, 0, "xmpp", 0, "<z/>", 0);
    assert_true(h > g);
}

/* Undo the objects of migrations after 2 (a test that fakes an old schema from a new
 * database sets user_version back, so those migrations run again). */
static void drop_after_v2(struct fx *f)
{
    assert_int_equal(sql_exec(f->db, "DROP INDEX conv_purge; ALTER TABLE conversations DROP COLUMN"
                                     " purge_at; DROP TABLE audit;"),
                     0);
}

/* Schema 1 -> 2: the outbox is rebuilt without AUTOINCREMENT and its next_at index; waiting
 * rows survive with their ids. */
static void test_migrate_outbox_v1(void **state)
{
    struct fx *f = *state;
    char err[256], out[256];
    create_closed(f);
    assert_int_equal(sql1(f->db, "DROP TABLE outbox", NULL, 0), 0);
    assert_int_equal(sql1(f->db, "CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, "
                                 "msg_id INTEGER, target TEXT NOT NULL, kind INTEGER NOT NULL "
                                 "DEFAULT 0, payload TEXT, attempts INTEGER NOT NULL DEFAULT 0, "
                                 "next_at INTEGER NOT NULL, last_error TEXT)", NULL, 0), 0);
    assert_int_equal(sql1(f->db, "CREATE INDEX outbox_next ON outbox(next_at)", NULL, 0), 0);
    assert_int_equal(sql1(f->db, "INSERT INTO outbox(id, target, payload, next_at, attempts) "
                                 "VALUES(41, 'xmpp', '<waiting/>', 7, 2)", NULL, 0), 0);
    assert_int_equal(sql1(f->db, "PRAGMA user_version=1", NULL, 0), 0);
    drop_after_v2(f);

    f->s = gw_store_open(f->db, err, sizeof err);
    assert_non_null(f->s);
    assert_true(gw_store_version(f->s) >= 2);
    struct due_seen d = {0};
    assert_int_equal(gw_store_outbox_due(f->s, 100, 0, 10, on_due, &d), 1);
    assert_int_equal(d.ids[0], 41);
    assert_string_equal(d.payload[0], "<waiting/>");
    assert_int_equal(d.attempts[0], 2);
    assert_true(gw_store_outbox_add(f->s, 0, "sms", 0, NULL, 0) > 41);
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    assert_int_equal(sql1(f->db, "SELECT count(*) FROM sqlite_master WHERE name='outbox_next'",
                          out, sizeof out), 0);
    assert_string_equal(out, "0");
    assert_int_equal(sql1(f->db, "SELECT sql FROM sqlite_master WHERE name='outbox'", out,
                          sizeof out), 0);
    assert_non_null(strstr(out, "outbox"));
    assert_null(strstr(out, "AUTOINCREMENT"));
}

/* A schema-1 database that never had an AUTOINCREMENT table, so no sqlite_sequence (a demo
 * database from a development build had that shape): migration 2 must not depend on it. */
static void test_migrate_outbox_without_sequence(void **state)
{
    struct fx *f = *state;
    char err[256], out[256];
    create_closed(f);
    assert_int_equal(sql_exec(f->db, "PRAGMA writable_schema=ON;"
                                     "DELETE FROM sqlite_master WHERE name='sqlite_sequence';"
                                     "PRAGMA writable_schema=OFF;"),
                     0);
    assert_int_equal(sql_exec(f->db, "VACUUM; PRAGMA user_version=1;"), 0);
    drop_after_v2(f);
    assert_int_equal(sql1(f->db, "SELECT count(*) FROM sqlite_master WHERE name='sqlite_sequence'",
                          out, sizeof out), 0);
    assert_string_equal(out, "0");

    f->s = gw_store_open(f->db, err, sizeof err);
    assert_non_null(f->s);
    assert_true(gw_store_version(f->s) >= 2);
}

static void test_events_feedback(void **state)
{
    struct fx *f = *state;
    assert_int_equal(gw_store_event(f->s, 0, 1, "started", NULL, NULL), GW_OK);
    assert_int_equal(gw_store_event(f->s, 3, 2, "assigned", "kari@example.no", "offer"), GW_OK);
    assert_int_equal(gw_store_count(f->s, "events"), 2);
    assert_int_equal(gw_store_feedback(f->s, 3, 4, "takk"), GW_OK);
    assert_int_equal(gw_store_feedback(f->s, 3, 5, NULL), GW_OK); /* replaces */
    assert_int_equal(gw_store_count(f->s, "feedback"), 1);
}

/* Uncommitted writes survive close (close commits); commit is visible to another reader. */
static void test_commit_visibility(void **state)
{
    struct fx *f = *state;
    assert_int_equal(gw_store_kv_set(f->s, "o", "k", "1"), GW_OK);
    char out[32];
    assert_int_equal(sql1(f->db, "SELECT count(*) FROM kv", out, sizeof out), 0);
    assert_string_equal(out, "0"); /* still inside the turn's transaction */
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    assert_int_equal(sql1(f->db, "SELECT value FROM kv WHERE key='k'", out, sizeof out), 0);
    assert_string_equal(out, "1");
    assert_int_equal(gw_store_kv_set(f->s, "o", "k", "2"), GW_OK);
    gw_store_close(&f->s);
    assert_int_equal(sql1(f->db, "SELECT value FROM kv WHERE key='k'", out, sizeof out), 0);
    assert_string_equal(out, "2");
}

/* A write that fails dooms the turn: rolled back at once, later writes and the commit
 * refused until gw_store_recover(), and no id handed out in the failed turn comes again
 * (ids are on the wire: stanza ids gw-m<id>). */
static void test_failed_write_dooms_turn(void **state)
{
    struct fx *f = *state;
    int64_t sk = gw_store_seeker_upsert(f->s, "sms", "+4790000001", "··0001", "nb");
    struct gw_conv_row r = {.seeker_id = sk};
    snprintf(r.token, sizeof r.token, "c-one");
    snprintf(r.queue, sizeof r.queue, "general");
    snprintf(r.lang, sizeof r.lang, "nb");
    snprintf(r.state, sizeof r.state, "queued");
    int64_t cv = gw_store_conv_insert(f->s, &r);
    assert_true(cv > 0);
    assert_int_equal(gw_store_commit(f->s), GW_OK);

    int64_t m1 = gw_store_msg_insert(f->s, cv, "in", "first", NULL, 1, "stored", NULL, NULL);
    assert_true(m1 > 0);
    assert_int_equal(gw_store_kv_set(f->s, "o", "k", "v"), GW_OK);
    assert_false(gw_store_doomed(f->s));
    struct gw_conv_row bad = r; /* a seeker that does not exist: the FOREIGN KEY refuses it */
    bad.seeker_id = sk + 1000;
    snprintf(bad.token, sizeof bad.token, "c-two");
    assert_true(gw_store_conv_insert(f->s, &bad) < 0);
    assert_true(gw_store_doomed(f->s));
    assert_true(gw_store_failed(f->s));
    /* Everything after is refused, and nothing of the turn is committed. */
    assert_int_equal(gw_store_kv_set(f->s, "o", "k2", "v"), GW_EIO);
    assert_true(gw_store_msg_insert(f->s, cv, "in", "second", NULL, 2, "stored", NULL, NULL) < 0);
    assert_int_equal(gw_store_commit(f->s), GW_EIO);
    char out[32];
    assert_int_equal(sql1(f->db, "SELECT count(*) FROM kv", out, sizeof out), 0);
    assert_string_equal(out, "0");
    assert_int_equal(sql1(f->db, "SELECT count(*) FROM messages", out, sizeof out), 0);
    assert_string_equal(out, "0");
    /* Reads see the committed state meanwhile. */
    struct gw_conv_row back;
    assert_int_equal(gw_store_conv_by_id(f->s, cv, &back), GW_OK);

    gw_store_recover(f->s);
    assert_false(gw_store_doomed(f->s));
    int64_t m2 = gw_store_msg_insert(f->s, cv, "in", "again", NULL, 3, "stored", NULL, NULL);
    assert_true(m2 > m1); /* m1 was rolled back, but its id is not handed out again */
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    assert_false(gw_store_failed(f->s));
    assert_int_equal(sql1(f->db, "SELECT group_concat(body) FROM messages", out, sizeof out), 0);
    assert_string_equal(out, "again");
}

/* Retention per conversation: purge_conv deletes one conversation's texts (messages, their
 * dedup keys, the feedback comment, the pre-chat form), keeps its row, events, rating and
 * audit rows and anything still waiting in the outbox; purge_each finds what is due. */
static int on_purge(void *arg, const struct gw_purge_row *r)
{
    struct gw_purge_row *out = arg;
    if (!out[0].id)
        out[0] = *r;
    else
        out[1] = *r;
    return 0;
}

static void test_retention(void **state)
{
    struct fx *f = *state;
    char out[256];
    int64_t sk = gw_store_seeker_upsert(f->s, "sms", "+4790000000", "··0000", "nb");
    int64_t old = new_conv(f->s, sk, "c-old", "general", "closed", 100, 200, 1000);
    int64_t recent = new_conv(f->s, sk, "c-new", "general", "closed", 100, 200, 900000);
    int64_t open = new_conv(f->s, sk, "c-open", "general", "active", 100, 200, 0);
    int64_t m1 = gw_store_msg_insert(f->s, old, "in", "gammel", NULL, 500, "stored", NULL, NULL);
    int64_t m2 = gw_store_msg_insert(f->s, old, "out", "pending", NULL, 600, "stored", NULL, NULL);
    gw_store_outbox_add(f->s, m2, "sms", 0, NULL, 0);
    gw_store_dedup_add(f->s, "sms", "prov-1", m1);
    gw_store_feedback(f->s, old, 4, "takk for praten");
    gw_store_kv_set(f->s, "email", "subj:c-old", "Re: om studier");
    gw_store_kv_set(f->s, "email", "subj:c-new", "Re: annet");
    gw_store_kv_set(f->s, "core", "run", "running");
    gw_store_event(f->s, old, 1000, "closed", "kari@example.no", "info");
    gw_store_audit_add(f->s, 900, "kari@example.no", old, "history", "0 earlier", NULL);
    gw_store_msg_insert(f->s, recent, "in", "ny", NULL, 800000, "stored", NULL, NULL);
    gw_store_msg_insert(f->s, open, "in", "åpen", NULL, 700, "stored", NULL, NULL);
    assert_int_equal(gw_store_purge_set(f->s, old, 1000), GW_OK);
    assert_int_equal(gw_store_purge_set(f->s, recent, 900000 + 86400000), GW_OK);
    assert_int_equal(gw_store_purge_next(f->s), 1000);

    struct gw_purge_row due[2];
    memset(due, 0, sizeof due);
    assert_int_equal(gw_store_purge_each(f->s, 5000, 0, on_purge, due), 1);
    assert_int_equal(due[0].id, old);
    assert_string_equal(due[0].queue, "general");
    assert_string_equal(due[0].channel, "sms");
    assert_int_equal(due[0].messages, 2);
    assert_int_equal(due[0].oldest, 500);

    assert_int_equal(gw_store_purge_conv(f->s, old, 7000), 1); /* m2 waits in the outbox */
    assert_int_equal(gw_store_count(f->s, "messages"), 3);
    assert_int_equal(gw_store_dedup_find(f->s, "sms", "prov-1"), 0);
    assert_int_equal(gw_store_count(f->s, "conversations"), 3);
    assert_int_equal(gw_store_count(f->s, "events"), 1);
    assert_int_equal(gw_store_count(f->s, "audit"), 1);
    assert_int_equal(gw_store_count(f->s, "kv"), 2); /* subj:c-new and core's run marker */
    assert_int_equal(gw_store_commit(f->s), GW_OK);
    assert_int_equal(sql1(f->db, "SELECT coalesce(comment, 'NULL') || ' ' || rating FROM feedback",
                          out, sizeof out), 0);
    assert_string_equal(out, "NULL 4");
    /* Held back by the outbox: tried again at the retry time. */
    assert_int_equal(gw_store_purge_next(f->s), 7000);
    assert_int_equal(gw_store_outbox_done(f->s, 1), GW_OK);
    assert_int_equal(gw_store_purge_conv(f->s, old, 9000), 1);
    assert_int_equal(gw_store_purge_next(f->s), 900000 + 86400000);
    /* Nothing left to find for the recompute but the one still due later. */
    memset(due, 0, sizeof due);
    assert_int_equal(gw_store_purge_closed_each(f->s, on_purge, due), 1);
    assert_int_equal(due[0].id, recent);
}

struct audit_seen {
    int n;
    struct gw_audit_row last;
};

static int on_audit(void *arg, const struct gw_audit_row *r)
{
    struct audit_seen *a = arg;
    a->n++;
    a->last = *r;
    return 0;
}

/* The audit's filters combine; rows expire only by their own cutoff. */
static void test_audit(void **state)
{
    struct fx *f = *state;
    int64_t sk = gw_store_seeker_upsert(f->s, "sms", "+4790000000", "··0000", "nb");
    int64_t a = new_conv(f->s, sk, "c-a", "general", "closed", 100, 200, 1000);
    int64_t b = new_conv(f->s, sk, "c-b", "exam", "closed", 100, 200, 1000);
    assert_int_equal(gw_store_audit_add(f->s, 1000, "kari@example.no", a, "history", "2", NULL),
                     GW_OK);
    assert_int_equal(gw_store_audit_add(f->s, 2000, "ola@example.no", a, "history", NULL, "case"),
                     GW_OK);
    assert_int_equal(gw_store_audit_add(f->s, 3000, "kari@example.no", b, "transcript", NULL,
                                        NULL), GW_OK);
    assert_int_equal(gw_store_audit_add(f->s, 4000, "ola@example.no", 0, "all", "5", NULL), GW_OK);
    struct audit_seen s = {0};
    struct gw_audit_filter fl = {0};
    assert_int_equal(gw_store_audit_each(f->s, &fl, on_audit, &s), 4);
    assert_string_equal(s.last.what, "all");
    assert_string_equal(s.last.conv_token, "");
    fl.who = "kari@example.no";
    memset(&s, 0, sizeof s);
    assert_int_equal(gw_store_audit_each(f->s, &fl, on_audit, &s), 2);
    fl.conv_id = a;
    memset(&s, 0, sizeof s);
    assert_int_equal(gw_store_audit_each(f->s, &fl, on_audit, &s), 1);
    assert_string_equal(s.last.conv_token, "c-a");
    assert_string_equal(s.last.detail, "2");
    fl = (struct gw_audit_filter){0};
    fl.from_ms = 2000;
    fl.to_ms = 4000;
    memset(&s, 0, sizeof s);
    assert_int_equal(gw_store_audit_each(f->s, &fl, on_audit, &s), 2);
    assert_string_equal(s.last.queue, "exam");
    assert_int_equal(gw_store_audit_oldest(f->s), 1000);
    assert_int_equal(gw_store_audit_expire(f->s, 2500), 2);
    assert_int_equal(gw_store_audit_oldest(f->s), 3000);
    /* Purging a conversation's texts leaves its audit rows. */
    assert_int_equal(gw_store_purge_conv(f->s, b, 0), 0);
    assert_int_equal(gw_store_count(f->s, "audit"), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_database, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_is_a_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_seekers, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_conversations, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_wait_estimate, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_messages, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_dedup, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_outbox, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_outbox_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_outbox_without_sequence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_feedback, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_commit_visibility, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_audit, setup_open, teardown),
        cmocka_unit_test_setup_teardown(test_failed_write_dooms_turn, setup_open, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

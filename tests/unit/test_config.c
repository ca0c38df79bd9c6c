/* test_config.c — unit tests for the configuration loader (gateway/conf/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config.h"

struct fx {
    char dir[64];
    char path[128];
    char secret[128];
    struct gw_cfg_errors e;
    struct gw_config *c;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/gwtest-config-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof f->path, "%s/gw.cfg", f->dir);
    snprintf(f->secret, sizeof f->secret, "%s/secret", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gw_config_free(&f->c);
    gw_cfg_errors_release(&f->e);
    unlink(f->path);
    unlink(f->secret);
    rmdir(f->dir);
    free(f);
    return 0;
}

/* A minimal valid config, with `extra` appended. */
#define MIN_XMPP "xmpp = { domain = \"gw.no.test\"; secret = \"s3cret\"; };\n"
#define MIN_QUEUE "queues = ( { id = \"general\"; } );\n"

static struct gw_config *load(struct fx *f, const char *text)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    gw_config_free(&f->c);
    gw_cfg_errors_release(&f->e);
    f->c = gw_config_load(f->path, &f->e);
    for (int i = 0; i < f->e.n; i++)
        fprintf(stderr, "  config error: %s\n", f->e.msgs[i]);
    return f->c;
}

/* Loading fails and some error contains every needle ("@L" is replaced by "path:L: "). */
static void expect_error(struct fx *f, const char *text, const char *const *needles)
{
    assert_null(load(f, text));
    assert_true(f->e.n >= 1);
    for (int i = 0; i < f->e.n; i++) {
        int all = 1;
        for (int k = 0; needles[k] && all; k++) {
            char nd[300];
            if (needles[k][0] == '@')
                snprintf(nd, sizeof nd, "%s:%s: ", f->path, needles[k] + 1);
            else
                snprintf(nd, sizeof nd, "%s", needles[k]);
            all = strstr(f->e.msgs[i], nd) != NULL;
        }
        if (all)
            return;
    }
    fail_msg("no error matched '%s'%s", needles[0], needles[1] ? " ..." : "");
}

static void test_valid(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load(
        f, "gateway = { log_level = \"debug\"; database = \"/tmp/x.db\";\n"
           "            plugin_path = [ \"/a\", \"/b\" ]; };\n"
           MIN_XMPP
           "service = { default_lang = \"nn\"; default_queue = \"youth\"; };\n"
           "groups = { night = [ \"ola@example.no\", \"eva@example.no\" ]; };\n"
           "counsellors = (\n"
           "  { jid = \"kari@example.no\"; name = \"Kari\"; capacity = 5; supervisor = true; },\n"
           "  { jid = \"ola@example.no\"; lang = \"en\"; }\n"
           ");\n"
           "partners = ( { domain = \"gw.dk.test\"; name = \"DK\"; fields = [ \"age\" ]; } );\n"
           "queues = (\n"
           "  { id = \"general\"; names = { nb = \"Generelt\"; en = \"General\"; };\n"
           "    counsellors = [ \"kari@example.no\", \"@night\" ]; languages = [ \"nb\", \"en\" ];\n"
           "    priority = 5; mode = \"pick\"; shared_with = [ \"gw.dk.test\" ];\n"
           "    hours = { calendar = \"no\"; mon = \"09:00-15:00\"; }; },\n"
           "  { id = \"youth\"; max_wait = 600; }\n"
           ");\n");
    assert_non_null(c);
    assert_int_equal(f->e.n, 0);
    assert_int_equal(c->log_level, 3);
    assert_string_equal(c->database, "/tmp/x.db");
    assert_int_equal(c->nplugin_path, 2);
    assert_string_equal(c->plugin_path[1], "/b");
    assert_string_equal(c->domain, "gw.no.test");
    assert_string_equal(c->secret, "s3cret");
    /* defaults */
    assert_string_equal(c->xmpp_host, "127.0.0.1");
    assert_int_equal(c->xmpp_port, 5347);
    assert_int_equal(c->reconnect_max_s, 60);
    assert_int_equal(c->http_port, 8080);
    assert_int_equal(c->max_body_bytes, 32768);
    assert_int_equal(c->counsellor_timeout_s, 600);
    assert_int_equal(c->abandon_s, 3600);
    assert_int_equal(c->wait_window, 20);
    assert_int_equal(c->noutcomes, 4);
    assert_string_equal(c->outcomes[0], "resolved");
    assert_null(c->test_clock);
    assert_string_equal(c->default_lang, "nn");
    assert_string_equal(c->default_queue, "youth");

    assert_int_equal(c->ncounsellors, 2);
    const struct gw_counsellor_conf *k = gw_config_counsellor(c, "kari@example.no");
    assert_non_null(k);
    assert_string_equal(k->name, "Kari");
    assert_string_equal(k->lang, "nn"); /* default_lang */
    assert_int_equal(k->capacity, 5);
    assert_int_equal(k->supervisor, 1);
    k = gw_config_counsellor(c, "ola@example.no");
    assert_string_equal(k->lang, "en");
    assert_int_equal(k->capacity, 3);
    assert_null(gw_config_counsellor(c, "nobody@example.no"));

    assert_int_equal(c->nqueues, 2);
    const struct gw_queue_conf *q = gw_config_queue(c, "general");
    assert_non_null(q);
    assert_string_equal(q->names[0], "Generelt");
    assert_null(q->names[1]);
    assert_string_equal(q->names[3], "General");
    assert_int_equal(q->ncounsellors, 3); /* kari + the two of @night */
    assert_string_equal(q->counsellors[0], "kari@example.no");
    assert_true(gw_queue_has_counsellor(q, "ola@example.no"));
    assert_true(gw_queue_has_counsellor(q, "eva@example.no"));
    assert_false(gw_queue_has_counsellor(q, "night"));
    assert_int_equal(q->nlangs, 2);
    assert_int_equal(q->priority, 5);
    assert_int_equal(q->mode, GW_ASSIGN_PICK);
    assert_int_equal(q->offer_timeout_s, 60);
    assert_non_null(q->hours);
    assert_int_equal(q->nshared, 1);
    q = gw_config_queue(c, "youth");
    assert_int_equal(q->max_wait_s, 600);
    assert_int_equal(q->mode, GW_ASSIGN_OFFER);
    assert_null(q->hours);
    assert_int_equal(q->ncounsellors, 0);
    assert_null(gw_config_queue(c, "nope"));

    const struct gw_partner_conf *p = gw_config_partner(c, "gw.dk.test");
    assert_non_null(p);
    assert_string_equal(p->name, "DK");
    assert_int_equal(p->nfields, 1);
    assert_int_equal(p->accept_escalations, 0);
}

static void test_minimal_defaults(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load(f, MIN_XMPP MIN_QUEUE);
    assert_non_null(c);
    assert_string_equal(c->default_queue, "general");
    assert_string_equal(c->default_lang, "nb");
    assert_int_equal(c->nplugin_path, 0);
    assert_null(c->plugins);
    assert_int_equal(c->npartners, 0);
    gw_config_free(&f->c);
    assert_null(f->c);
    gw_config_free(&f->c);
}

static void test_http_disabled(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load(f, MIN_XMPP MIN_QUEUE "http = { enabled = false; };\n");
    assert_non_null(c);
    assert_int_equal(c->http_port, -1);
}

static void test_unknown_key(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"@3", "unknown key 'reconect_max' in xmpp", NULL};
    expect_error(f, MIN_QUEUE "xmpp = { domain = \"d.test\"; secret = \"s\";\n"
                              "  reconect_max = 10; };\n", a);
    const char *b[] = {"@1", "unknown key 'capcity' in a counsellor", NULL};
    expect_error(f, "counsellors = ( { jid = \"a@b.c\"; capcity = 2; } );\n" MIN_XMPP MIN_QUEUE,
                 b);
    const char *c[] = {"@3", "unknown key 'gatway' in the top level", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "gatway = {};\n", c);
    const char *d[] = {"unknown key 'prority' in a queue", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\"; prority = 1; } );\n", d);
    const char *e[] = {"unknown key 'se' in queue names", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\"; names = { se = \"x\"; }; } );\n", e);
}

static void test_wrong_types(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"@1", "'port' in xmpp must be an integer", NULL};
    expect_error(f, "xmpp = { domain = \"d.test\"; secret = \"s\"; port = \"5347\"; };\n"
                 MIN_QUEUE, a);
    const char *b[] = {"'syslog' in gateway must be a boolean", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "gateway = { syslog = 1; };\n", b);
    const char *c[] = {"'xmpp' in the top level must be a group", NULL};
    expect_error(f, "xmpp = \"x\";\n" MIN_QUEUE, c);
    const char *d[] = {"'counsellors' must hold strings", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\"; counsellors = [ 1, 2 ]; } );\n", d);
    const char *e[] = {"mode 'grab'", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\"; mode = \"grab\"; } );\n", e);
    const char *g[] = {"log_level 'loud'", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "gateway = { log_level = \"loud\"; };\n", g);
}

static void test_out_of_range(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"@1", "'port' = 70000 is out of range 1..65535", NULL};
    expect_error(f, "xmpp = { domain = \"d.test\"; secret = \"s\"; port = 70000; };\n" MIN_QUEUE,
                 a);
    const char *b[] = {"'capacity' = 0 is out of range 1..100", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "counsellors = ( { jid = \"a@b.c\"; capacity = 0; } );\n",
                 b);
    const char *c[] = {"'priority' = 101 is out of range -100..100", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\"; priority = 101; } );\n", c);
    const char *d[] = {"'offer_timeout' = 1 is out of range 5..3600", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\"; offer_timeout = 1; } );\n", d);
}

static void test_missing_domain(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"@1", "xmpp needs 'domain'", NULL};
    expect_error(f, "xmpp = { secret = \"s\"; };\n" MIN_QUEUE, a);
    const char *b[] = {"missing group 'xmpp'", NULL};
    expect_error(f, MIN_QUEUE, b);
    const char *c[] = {"missing 'secret' (or 'secret_file')", NULL};
    expect_error(f, "xmpp = { domain = \"d.test\"; };\n" MIN_QUEUE, c);
    const char *d[] = {"at least one queue", NULL};
    expect_error(f, MIN_XMPP, d);
}

static void test_duplicate_queue(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"@3", "duplicate queue id 'general'", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"general\"; },\n"
                             "  { id = \"general\"; } );\n", a);
    const char *b[] = {"queue id 'Gen eral'", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"Gen eral\"; } );\n", b);
    const char *c[] = {"a queue needs an 'id'", NULL};
    expect_error(f, MIN_XMPP "queues = ( { priority = 1; } );\n", c);
    const char *d[] = {"default_queue 'nope' is not a configured queue", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "service = { default_queue = \"nope\"; };\n", d);
}

static void test_unknown_language(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"@3", "unknown language 'sv'", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\";\n languages = [ \"nb\", \"sv\" ]; } );\n",
                 a);
    const char *b[] = {"'default_lang' = \"de\"", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "service = { default_lang = \"de\"; };\n", b);
    const char *c[] = {"'lang' = \"fi\"", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "counsellors = ( { jid = \"a@b.c\"; lang = \"fi\"; } );\n",
                 c);
}

static void test_secret_file(void **state)
{
    struct fx *f = *state;
    FILE *fp = fopen(f->secret, "w");
    assert_non_null(fp);
    fputs("t0p-secret\r\nsecond line\n", fp);
    fclose(fp);
    char text[512];
    snprintf(text, sizeof text, "xmpp = { domain = \"d.test\"; secret_file = \"%s\"; };\n" MIN_QUEUE,
             f->secret);
    struct gw_config *c = load(f, text);
    assert_non_null(c);
    assert_string_equal(c->secret, "t0p-secret");

    snprintf(text, sizeof text,
             "xmpp = { domain = \"d.test\"; secret = \"x\";\n secret_file = \"%s\"; };\n" MIN_QUEUE,
             f->secret);
    const char *a[] = {"@2", "give either 'secret' or 'secret_file', not both", NULL};
    expect_error(f, text, a);

    snprintf(text, sizeof text,
             "xmpp = { domain = \"d.test\"; secret_file = \"%s/none\"; };\n" MIN_QUEUE, f->dir);
    const char *b[] = {"@1", "cannot read secret_file", "No such file", NULL};
    expect_error(f, text, b);

    fp = fopen(f->secret, "w");
    assert_non_null(fp);
    fclose(fp);
    snprintf(text, sizeof text, "xmpp = { domain = \"d.test\"; secret_file = \"%s\"; };\n" MIN_QUEUE,
             f->secret);
    const char *e[] = {"is empty", NULL};
    expect_error(f, text, e);
}

static void test_partners(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"queue 'general': shared_with 'gw.se.test' is not a configured partner",
                       NULL};
    expect_error(f, MIN_XMPP "partners = ( { domain = \"gw.dk.test\"; } );\n"
                             "queues = ( { id = \"general\"; shared_with = [ \"gw.se.test\" ]; } );\n",
                 a);
    const char *b[] = {"overflow_to 'gw.fi.test' is not a configured partner", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"general\"; overflow_to = [ \"gw.fi.test\" ]; } );\n",
                 b);
    const char *c[] = {"a partner needs a 'domain'", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "partners = ( { name = \"x\"; } );\n", c);
}

/* Retention: the most specific rule wins — partner agreement (a conversation served for the
 * partner), queue, channel, service default; -1 keeps; 0 for the audit is refused. */
static void test_retention_rules(void **state)
{
    struct fx *f = *state;
    struct gw_config *c =
        load(f, MIN_XMPP "service = { retention_days = 30; retention_days_channel = { sms = 7;"
                         " webchat = -1; }; audit_retention_days = 365; };\n"
                         "queues = ( { id = \"general\"; }, { id = \"exam\"; retention_days = 0; } );\n"
                         "partners = ( { domain = \"gw.dk.test\"; retention_days = 1; },"
                         " { domain = \"gw.se.test\"; } );\n");
    assert_non_null(c);
    const char *why = NULL;
    assert_int_equal(gw_config_retention_days(c, "general", "loopback", 0, NULL, &why), 30);
    assert_string_equal(why, "service");
    assert_int_equal(gw_config_retention_days(c, "general", "sms", 0, NULL, &why), 7);
    assert_string_equal(why, "channel");
    assert_int_equal(gw_config_retention_days(c, "general", "webchat", 0, NULL, NULL), -1);
    assert_int_equal(gw_config_retention_days(c, "exam", "sms", 0, NULL, &why), 0);
    assert_string_equal(why, "queue");
    assert_int_equal(gw_config_retention_days(c, "exam", "sms", 2, "gw.dk.test", &why), 1);
    assert_string_equal(why, "partner");
    /* a partner without a rule of its own, and role 1 (we escalated it): our rules */
    assert_int_equal(gw_config_retention_days(c, "exam", "sms", 2, "gw.se.test", NULL), 0);
    assert_int_equal(gw_config_retention_days(c, "general", "sms", 1, "gw.dk.test", NULL), 7);
    assert_int_equal(c->audit_retention_days, 365);
    char rules[512];
    gw_config_retention_rules(c, rules, sizeof rules);
    assert_string_equal(rules, "v1 service=30 channel:sms=7 channel:webchat=-1 queue:exam=0"
                               " partner:gw.dk.test=1");
    gw_config_free(&f->c);
    const char *a[] = {"audit_retention_days = 0 would delete the audit at once", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "service = { audit_retention_days = 0; };\n", a);
    const char *b[] = {"'retention_days' = -5 is out of range -1..3650", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\"; retention_days = -5; } );\n", b);
}

static void test_groups(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"unknown counsellor group 'day'", NULL};
    expect_error(f, MIN_XMPP "groups = { night = [ \"a@b.c\" ]; };\n"
                             "queues = ( { id = \"q\"; counsellors = [ \"@day\" ]; } );\n", a);
    const char *b[] = {"counsellor 'kari' is not a bare JID", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\"; counsellors = [ \"kari\" ]; } );\n", b);
    const char *c[] = {"counsellor jid 'a@b.c/phone' is not a bare JID", NULL};
    expect_error(f, MIN_XMPP MIN_QUEUE "counsellors = ( { jid = \"a@b.c/phone\"; } );\n", c);
}

static void test_hours(void **state)
{
    struct fx *f = *state;
    const char *a[] = {f->path, NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\";\n"
                             "  hours = { calendar = \"no\"; mon = \"25:00-26:00\"; }; } );\n", a);
    int found = 0;
    for (int i = 0; i < f->e.n; i++)
        found |= strstr(f->e.msgs[i], "25:00") != NULL;
    assert_true(found);
}

static void test_syntax_and_io(void **state)
{
    struct fx *f = *state;
    const char *a[] = {"@2", NULL};
    expect_error(f, MIN_XMPP "queues = ( { id = \"q\" } ;\n", a);
    gw_cfg_errors_release(&f->e);
    char missing[200];
    snprintf(missing, sizeof missing, "%s/none.cfg", f->dir);
    assert_null(gw_config_load(missing, &f->e));
    assert_int_equal(f->e.n, 1);
    assert_non_null(strstr(f->e.msgs[0], "cannot read"));
    assert_non_null(strstr(f->e.msgs[0], missing));
}

/* Every problem of a file is reported, not only the first. */
static void test_errors_accumulate(void **state)
{
    struct fx *f = *state;
    assert_null(load(f, "xmpp = { domain = \"d.test\"; secret = \"s\"; prot = 1; };\n"
                        "queues = ( { id = \"a\"; }, { id = \"a\"; } );\n"
                        "service = { default_lang = \"xx\"; };\n"));
    assert_int_equal(f->e.n, 3);
}

static void test_snippets(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load(f, MIN_XMPP MIN_QUEUE
                               "snippets = { en = { hi = \"Hello\"; }; nb = { hi = \"Hei\"; "
                               "bye = \"Ha det\"; }; };\n");
    assert_non_null(c);
    assert_string_equal(gw_config_snippet(c, "nb", "hi"), "Hei");
    assert_string_equal(gw_config_snippet(c, "da", "hi"), "Hello"); /* falls back to en */
    assert_string_equal(gw_config_snippet(c, "en", "bye"), "Ha det"); /* then others */
    assert_null(gw_config_snippet(c, "nb", "nope"));
}

static void test_lang_index(void **state)
{
    (void)state;
    assert_int_equal(gw_lang_index("nb"), 0);
    assert_int_equal(gw_lang_index("en"), 3);
    assert_int_equal(gw_lang_index("EN"), -1);
    assert_int_equal(gw_lang_index(NULL), -1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_valid),          T(test_minimal_defaults), T(test_http_disabled),
        T(test_unknown_key),    T(test_wrong_types),      T(test_out_of_range),
        T(test_missing_domain), T(test_duplicate_queue),  T(test_unknown_language),
        T(test_secret_file),    T(test_partners),         T(test_groups),
        T(test_retention_rules),
        T(test_hours),          T(test_syntax_and_io),    T(test_errors_accumulate),
        T(test_snippets),       T(test_lang_index),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}

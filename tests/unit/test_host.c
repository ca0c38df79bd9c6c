/* test_host.c — unit tests for the plugin loader (gateway/host/host.c): gw_host_check on good,
 * missing, wrong-ABI, symbol-less and init-failing plugins, and the load/start/stop cycle
 * (the host removes the routes, timers and fds a plugin registered). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "desk/core.h"
#include "host/host.h"
#include "io/http.h"
#include "io/loop.h"

static char plugin_dir[PATH_MAX];

struct fx {
    char dir[64];
    char cfgpath[128];
    char dbpath[128];
    struct gw_core core;
    struct gw_cfg_errors errs;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/gwtest-host-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->cfgpath, sizeof f->cfgpath, "%s/gw.cfg", f->dir);
    snprintf(f->dbpath, sizeof f->dbpath, "%s/gw.db", f->dir);
    char err[256] = "";
    f->core.loop = gw_loop_new();
    f->core.store = gw_store_open(f->dbpath, err, sizeof err);
    if (!f->core.loop || !f->core.store) {
        fprintf(stderr, "setup: %s\n", err);
        return -1;
    }
    TAILQ_INIT(&f->core.desk.convs);
    TAILQ_INIT(&f->core.desk.presence);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    gw_host_stop_all(&f->core);
    gw_http_free(&f->core.http);
    gw_store_close(&f->core.store);
    gw_loop_free(&f->core.loop);
    gw_config_free(&f->core.cfg);
    gw_cfg_errors_release(&f->errs);
    char p[200];
    const char *names[] = {"gw.cfg", "gw.db", "gw.db-wal", "gw.db-shm"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Write a config whose plugins group is `plugins` (libconfig text) and load it. */
static struct gw_config *load_cfg(struct fx *f, const char *plugins)
{
    FILE *fp = fopen(f->cfgpath, "w");
    assert_non_null(fp);
    fprintf(fp,
            "gateway = { plugin_path = [ \"%s\" ]; };\n"
            "xmpp = { domain = \"gw.test\"; secret = \"s3cret\"; };\n"
            "queues = ( { id = \"general\"; } );\n"
            "plugins = {\n%s\n};\n",
            plugin_dir, plugins);
    fclose(fp);
    struct gw_cfg_errors e = {0};
    struct gw_config *c = gw_config_load(f->cfgpath, &e);
    for (int i = 0; i < e.n; i++)
        fprintf(stderr, "config: %s\n", e.msgs[i]);
    assert_int_equal(e.n, 0);
    assert_non_null(c);
    gw_cfg_errors_release(&e);
    f->core.cfg = c;
    return c;
}

/* The one error of f->errs must contain every needle. */
static void assert_one_error(struct fx *f, const char *const *needles)
{
    for (int i = 0; i < f->errs.n; i++)
        fprintf(stderr, "  host error: %s\n", f->errs.msgs[i]);
    assert_int_equal(f->errs.n, 1);
    for (int i = 0; needles[i]; i++) {
        if (!strstr(f->errs.msgs[0], needles[i]))
            fail_msg("'%s' not in '%s'", needles[i], f->errs.msgs[0]);
    }
}

static void *good_sym(const char *name)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/good.so", plugin_dir);
    void *dl = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(dl);
    void *p = dlsym(dl, name);
    dlclose(dl); /* drops only the reference RTLD_NOLOAD added */
    assert_non_null(p);
    return p;
}

static void test_check_good(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load_cfg(f, "good = { delay_ms = 30; };");
    assert_int_equal(gw_host_check(&f->core, c, &f->errs), GW_OK);
    assert_int_equal(f->errs.n, 0);
    int *inits = good_sym("good_inits"), *stops = good_sym("good_stops"),
        *starts = good_sym("good_starts");
    assert_true(*inits >= 1);
    assert_int_equal(*inits, *stops); /* check inits and stops, never starts */
    assert_int_equal(*starts, 0);
    assert_null(f->core.plugins);     /* check leaves nothing loaded */
}

static void test_check_good_bad_key(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load_cfg(f, "good = {\n  delay_ms = 30;\n  dleay = 1;\n};");
    assert_int_equal(gw_host_check(&f->core, c, &f->errs), GW_EINVAL);
    char where[200];
    snprintf(where, sizeof where, "%s:7: ", f->cfgpath); /* line of `dleay` */
    const char *needles[] = {where, "plugins.good", "unknown key 'dleay'", NULL};
    assert_one_error(f, needles);
}

static void test_check_good_out_of_range(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load_cfg(f, "good = {\n  delay_ms = 0;\n};");
    assert_int_equal(gw_host_check(&f->core, c, &f->errs), GW_EINVAL);
    char where[200];
    snprintf(where, sizeof where, "%s:6: ", f->cfgpath);
    /* Note: api->cfg_int's range error does not carry the "plugins.good:" prefix that
     * cfg_error()/cfg_known_keys() add (reported to the lead); file:line is there. */
    const char *needles[] = {where, "'delay_ms' = 0 is out of range 1..10000", NULL};
    assert_one_error(f, needles);
}

static void test_check_missing(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load_cfg(f, "nosuchplugin = {};");
    assert_int_equal(gw_host_check(&f->core, c, &f->errs), GW_EINVAL);
    const char *needles[] = {f->cfgpath, "plugin 'nosuchplugin'", "no nosuchplugin.so", NULL};
    assert_one_error(f, needles);
}

static void test_check_badabi(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load_cfg(f, "badabi = {};");
    assert_int_equal(gw_host_check(&f->core, c, &f->errs), GW_EINVAL);
    const char *needles[] = {"plugin 'badabi'", "badabi.so", "another plugin ABI", NULL};
    assert_one_error(f, needles);
}

static void test_check_nosym(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load_cfg(f, "nosym = {};");
    assert_int_equal(gw_host_check(&f->core, c, &f->errs), GW_EINVAL);
    const char *needles[] = {"plugin 'nosym'", "no 'skagerrak_plugin' symbol", NULL};
    assert_one_error(f, needles);
}

static void test_check_initfail(void **state)
{
    struct fx *f = *state;
    struct gw_config *c = load_cfg(f, "initfail = {\n  ok = 1;\n  bad = \"zzz\";\n};");
    assert_int_equal(gw_host_check(&f->core, c, &f->errs), GW_EINVAL);
    char where[200];
    snprintf(where, sizeof where, "%s:7: ", f->cfgpath); /* line of `bad` */
    const char *needles[] = {where, "plugins.initfail", "initfail refuses 'zzz'", NULL};
    assert_one_error(f, needles);
}

/* Every plugin is checked, errors of all of them are collected, good ones pass. */
static void test_check_all_collected(void **state)
{
    struct fx *f = *state;
    struct gw_config *c =
        load_cfg(f, "good = {};\nbadabi = {};\nnosym = {};\ninitfail = { bad = \"x\"; };\n"
                    "gone = {};");
    assert_int_equal(gw_host_check(&f->core, c, &f->errs), GW_EINVAL);
    assert_int_equal(f->errs.n, 4);
    assert_non_null(strstr(f->errs.msgs[0], "badabi"));
    assert_non_null(strstr(f->errs.msgs[1], "nosym"));
    assert_non_null(strstr(f->errs.msgs[2], "initfail"));
    assert_non_null(strstr(f->errs.msgs[3], "gone"));
}

static void test_load_missing_fails(void **state)
{
    struct fx *f = *state;
    load_cfg(f, "good = {};\ninitfail = { bad = \"q\"; };");
    char err[512] = "";
    assert_int_equal(gw_host_load_all(&f->core, err, sizeof err), GW_EINVAL);
    assert_non_null(strstr(err, "initfail refuses 'q'"));
}

static void dummy_handler(void *arg, struct gw_http_req *r)
{
    (void)arg, (void)r;
}

static void test_lifecycle_owned_removed(void **state)
{
    struct fx *f = *state;
    char err[512] = "";
    f->core.http = gw_http_new(f->core.loop, "127.0.0.1", 0, NULL, err, sizeof err);
    assert_non_null(f->core.http);
    load_cfg(f, "good = { delay_ms = 40; };");
    int *fired = good_sym("good_timer_fired");
    int *fdfired = good_sym("good_fd_fired");
    int *route_rc = good_sym("good_route_rc");
    int *fd_rc = good_sym("good_fd_rc");
    int *fd_read = good_sym("good_fd_read");
    int *stops = good_sym("good_stops");
    *fired = 0;
    *fdfired = 0;

    assert_int_equal(gw_host_load_all(&f->core, err, sizeof err), GW_OK);
    assert_non_null(gw_host_plugin(&f->core, "good"));
    assert_null(gw_host_plugin(&f->core, "bad"));
    assert_int_equal(gw_host_start_all(&f->core, err, sizeof err), GW_OK);
    assert_int_equal(*route_rc, GW_OK);
    assert_int_equal(*fd_rc, GW_OK);
    /* The route is registered under the plugin's name: the same one again is a duplicate. */
    assert_int_equal(gw_http_route(f->core.http, "good", "GET", "/ping", dummy_handler, NULL), GW_EDUP);

    int before = *stops;
    gw_host_stop_all(&f->core);
    assert_null(f->core.plugins);
    assert_int_equal(*stops, before + 1);
    /* The route is gone... */
    assert_int_equal(gw_http_route(f->core.http, "good", "GET", "/ping", dummy_handler, NULL), GW_OK);
    gw_http_unroute_owner(f->core.http, "good");
    /* ...and so are the timer and the (readable) fd: run the loop past the timer. */
    uint64_t until = gw_loop_mono_ms() + 150;
    while (gw_loop_mono_ms() < until)
        gw_loop_run_once(f->core.loop, 20);
    assert_int_equal(*fired, 0);
    assert_int_equal(*fdfired, 0);
    if (*fd_read >= 0)
        close(*fd_read);
    *fd_read = -1;
}

/* Without stop, the same plugin's timer does fire: proves the test above can fail. */
static void test_lifecycle_timer_fires_while_running(void **state)
{
    struct fx *f = *state;
    char err[512] = "";
    load_cfg(f, "good = { delay_ms = 10; };");
    int *fired = good_sym("good_timer_fired");
    int *fdfired = good_sym("good_fd_fired");
    int *fd_read = good_sym("good_fd_read");
    *fired = 0;
    *fdfired = 0;
    assert_int_equal(gw_host_load_all(&f->core, err, sizeof err), GW_OK);
    assert_int_equal(gw_host_start_all(&f->core, err, sizeof err), GW_OK);
    uint64_t until = gw_loop_mono_ms() + 150;
    while (gw_loop_mono_ms() < until && (!*fired || !*fdfired))
        gw_loop_run_once(f->core.loop, 20);
    assert_int_equal(*fired, 1);
    assert_true(*fdfired >= 1);
    gw_host_stop_all(&f->core);
    if (*fd_read >= 0)
        close(*fd_read);
    *fd_read = -1;
}

static void test_deliver_unknown_channel(void **state)
{
    struct fx *f = *state;
    load_cfg(f, "");
    char err[256] = "";
    struct gw_msg m = {.id = 1, .body = "x"};
    assert_int_equal(gw_host_deliver(&f->core, "nope", &m, err, sizeof err), GW_ENOTFOUND);
    assert_non_null(strstr(err, "nope"));
}

int main(int argc, char **argv)
{
    (void)argc;
    /* Plugins are found under $SKAGERRAK_BUILD/tests/plugins; by default next to this
     * binary (build/tests/test_host -> build), so build/san tests use build/san plugins. */
    const char *b = getenv("SKAGERRAK_BUILD");
    char build[PATH_MAX] = "build";
    if (b && *b) {
        snprintf(build, sizeof build, "%s", b);
    } else {
        const char *suffix = "/tests/test_host";
        size_t n = strlen(argv[0]), sn = strlen(suffix);
        if (n > sn && strcmp(argv[0] + n - sn, suffix) == 0)
            snprintf(build, sizeof build, "%.*s", (int)(n - sn), argv[0]);
    }
    char rel[PATH_MAX + 32];
    snprintf(rel, sizeof rel, "%s/tests/plugins", build);
    if (!realpath(rel, plugin_dir)) {
        fprintf(stderr, "test_host: %s missing: build the test plugins first "
                        "(make %s/tests/plugins/good.so ...)\n", rel, build);
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_check_good, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_good_bad_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_good_out_of_range, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_badabi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_nosym, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_initfail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_all_collected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_missing_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_owned_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lifecycle_timer_fires_while_running, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_deliver_unknown_channel, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

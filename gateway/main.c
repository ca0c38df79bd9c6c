/* main.c — the skagerrak daemon: arguments, start-up, signals, reload, shutdown. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "desk/core.h"
#include "fed/fed.h"
#include "ctl/ctl.h"
#include "host/host.h"
#include "io/fetch.h"
#include "io/hashmap.h"
#include "io/http.h"
#include "conf/i18n.h"
#include "io/log.h"
#include "io/loop.h"
#include "io/xmpp.h"

#define SWEEP_MS 5000

static void usage(FILE *f)
{
    fprintf(f, "usage: skagerrak [-f] [-c FILE] [--check-config FILE] [--version] [--help]\n"
               "  -c, --config FILE      configuration (default /etc/skagerrak/skagerrak.cfg)\n"
               "  -f, --foreground       stay in the foreground, log to stderr\n"
               "      --check-config FILE  validate FILE (and its plugins) and exit\n"
               "      --version          print the version\n");
}

/* --- loop glue --- */

static void end_of_turn(void *arg)
{
    gw_turn_end(arg);
}

static int store_dirty(void *arg)
{
    struct gw_core *c = arg;
    return gw_store_dirty(c->store);
}

#define CHECKPOINT_MS 1000

static void checkpoint(void *arg)
{
    struct gw_core *c = arg;
    gw_outbox_apply_acks(c);
    gw_conv_flush_touches(c);
    gw_run_alive(c); /* rides this commit: the message path pays nothing for it */
    gw_turn_commit(c);
    gw_store_checkpoint(c->store);
    c->checkpoint_timer = gw_loop_timer_add(c->loop, CHECKPOINT_MS, checkpoint, c);
}

/* Every time-driven transition has a timer of its own (docs/core.md, "what fires when");
 * this runs their checks over everything every 5 s only as a safety net.  It also notices
 * a step of the system clock (NTP, a resumed VM): deadlines are wall-clock times but the
 * loop's timers run on the monotonic clock, so after a step every timer is re-armed. */
#define CLOCK_STEP_MS 1000

static void sweep(void *arg)
{
    struct gw_core *c = arg;
    int64_t skew = gw_clock_skew_ms();
    if (llabs(skew - c->clock_skew_ms) > CLOCK_STEP_MS) {
        GW_WARN("the system clock was stepped by %+lld ms; re-arming the timers",
                (long long)(skew - c->clock_skew_ms));
        c->clock_skew_ms = skew;
        gw_timers_rearm(c, 1);
    }
    gw_queue_sweep(c);
    gw_fed_sweep(c);
    c->sweep_timer = gw_loop_timer_add(c->loop, SWEEP_MS, sweep, c);
}

static void on_online(void *arg)
{
    struct gw_core *c = arg;
    c->link_changed_ms = gw_now_ms(c);
    gw_outbox_online(c);
    gw_presence_link_up(c);
    gw_run_link_up(c);
}

static void on_offline(void *arg)
{
    ((struct gw_core *)arg)->link_changed_ms = gw_now_ms(arg);
    gw_outbox_offline(arg);
    gw_presence_link_down(arg);
}

static void health(void *arg, struct gw_http_req *req)
{
    struct gw_core *c = arg;
    char plugins[4096], body[6000];
    int pok = gw_host_health(c, plugins, sizeof plugins);
    int xok = gw_xmpp_online(c->xmpp), dok = !gw_store_failed(c->store);
    snprintf(body, sizeof body,
             "{\"ok\":%s,\"xmpp\":{\"ok\":%s,\"state\":\"%s\",\"barriers\":%llu},\"database\":{\"ok\":%s,"
             "\"schema\":%d,\"outbox\":%lld},\"conversations_open\":%zu,\"plugins\":%s}\n",
             xok && dok && pok ? "true" : "false", xok ? "true" : "false", gw_xmpp_state(c->xmpp),
             (unsigned long long)gw_xmpp_barriers(c->xmpp),
             dok ? "true" : "false", gw_store_version(c->store),
             (long long)gw_store_outbox_count(c->store), gw_map_count(c->conv_by_token) / 2,
             plugins);
    gw_http_req_respond(req, xok && dok && pok ? 200 : 503, "application/json", body, strlen(body),
                        NULL);
}

static void http_log(void *arg, int level, const char *msg)
{
    (void)arg;
    gw_log(level, "http", "%s", msg);
}

static void print_errors(struct gw_cfg_errors *e)
{
    for (int i = 0; i < e->n; i++)
        fprintf(stderr, "%s\n", e->msgs[i]);
}

/* The configuration reload, for SIGHUP and skagerrakctl reload (registered on the core as
 * c->reload, so ctl/ asks for it without calling up into main.c).  0 applied; -1 refused,
 * the running configuration kept, every reason in why (and in the log). */
static int reload(struct gw_core *c, struct gw_cfg_errors *why)
{
    struct gw_cfg_errors e = {0};
    GW_INFO("reloading %s", c->config_path);
    struct gw_config *n = gw_config_load(c->config_path, &e);
    if (n)
        gw_host_check(c, n, &e);
    if (n && !e.n && !gw_clock_valid(n->test_clock))
        gw_cfg_errorf(&e, NULL, "test_clock '%s' is not YYYY-MM-DDTHH:MM:SS", n->test_clock);
    if (!n || e.n) {
        for (int i = 0; i < e.n; i++) {
            GW_ERROR("reload refused: %s", e.msgs[i]);
            gw_cfg_errorf(why, NULL, "%s", e.msgs[i]);
        }
        if (!e.n)
            gw_cfg_errorf(why, NULL, "%s: cannot load", c->config_path);
        GW_ERROR("reload refused: keeping the running configuration");
        gw_cfg_errors_release(&e);
        gw_config_free(&n);
        return -1;
    }
    if (strcmp(n->domain, c->cfg->domain) || strcmp(n->xmpp_host, c->cfg->xmpp_host) ||
        n->xmpp_port != c->cfg->xmpp_port || strcmp(n->database, c->cfg->database))
        GW_WARN("reload: xmpp and database settings change only on restart");
    if (strcmp(n->control_socket, c->cfg->control_socket))
        GW_WARN("reload: service.control_socket changes only on restart");
    char err[512] = "";
    if (gw_host_reload_all(c, n, err, sizeof err) < 0) {
        GW_ERROR("reload refused by a plugin: %s; keeping the running configuration", err);
        gw_cfg_errorf(why, NULL, "refused by a plugin: %s", err);
        gw_config_free(&n);
        return -1;
    }
    struct gw_config *old = c->cfg;
    c->cfg = n;
    gw_log_setup((enum gw_log_level)n->log_level, n->use_syslog);
    /* A changed test clock jumps there (tests of what happens when time passes); the
     * hours and every deadline are then re-evaluated on the new clock. */
    int clock_changed = (old->test_clock == NULL) != (n->test_clock == NULL) ||
                        (old->test_clock && strcmp(old->test_clock, n->test_clock));
    if (clock_changed)
        gw_clock_set_test(c, n->test_clock);
    gw_queues_init(c); /* re-arms the opening/closing timers */
    gw_config_free(&old);
    for (int i = 0; i < c->nqueues; i++)
        gw_queue_dispatch(c, c->queues[i].id);
    gw_timers_rearm(c, clock_changed); /* timeouts may have changed */
    GW_INFO("configuration reloaded");
    return 0;
}

static void on_signal(void *arg, int fd, unsigned events)
{
    (void)events;
    struct gw_core *c = arg;
    struct signalfd_siginfo si;
    while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGHUP) {
            struct gw_cfg_errors why = {0};
            GW_INFO("SIGHUP");
            reload(c, &why);
            gw_cfg_errors_release(&why);
        } else {
            GW_INFO("signal %u: stopping", si.ssi_signo);
            c->stopping = 1;
            gw_loop_stop(c->loop);
        }
    }
}

static int start(struct gw_core *c, struct gw_ctl **ctl, char *err, size_t errlen)
{
    struct gw_config *cfg = c->cfg;
    if (setenv("TZ", cfg->timezone, 1) == 0)
        tzset();
    if (gw_clock_set_test(c, cfg->test_clock) < 0) {
        snprintf(err, errlen, "%s: test_clock '%s' is not YYYY-MM-DDTHH:MM:SS", c->config_path,
                 cfg->test_clock);
        return -1;
    }
    c->i18n = gw_i18n_load(cfg->catalogue_dir, err, errlen);
    if (!c->i18n)
        return -1;
    c->loop = gw_loop_new();
    if (!c->loop) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    c->started_ms = c->link_changed_ms = gw_now_ms(c);
    c->reload = reload;
    /* The control socket before the database: a second daemon on the same configuration
     * stops here, before it touches the store (whose run marker belongs to the first), the
     * XMPP link or the plugins' ports. */
    if (cfg->control_socket[0]) {
        *ctl = gw_ctl_start(c, err, errlen);
        if (!*ctl)
            return -1;
    }
    c->store = gw_store_open(cfg->database, err, errlen);
    if (!c->store)
        return -1;
    c->conv_by_token = gw_map_new();
    c->conv_by_seeker = gw_map_new();
    if (!c->loop || !c->conv_by_token || !c->conv_by_seeker) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    /* Our end-of-turn hook first, so the XMPP link's hook writes what it queued. */
    gw_loop_hook_add(c->loop, end_of_turn, c);
    c->fetch = gw_fetch_new(c->loop);
    if (cfg->http_port >= 0) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max; /* many open event streams need many fds */
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        struct gw_http_limits lim = {.max_body = (size_t)cfg->http_max_body,
                                     .max_connections = (unsigned)cfg->http_max_conns};
        c->http = gw_http_new(c->loop, cfg->http_addr, cfg->http_port, &lim, err, errlen);
        if (!c->http)
            return -1;
        gw_http_set_logger(c->http, http_log, c);
        gw_http_set_hold(c->http, store_dirty, c);
        gw_http_route(c->http, NULL, "GET", "/health", health, c);
        GW_INFO("http on %s:%d", cfg->http_addr, gw_http_port(c->http));
    }
    struct gw_xmpp_conf xc = {cfg->xmpp_host, cfg->xmpp_port, cfg->domain, cfg->secret,
                              cfg->reconnect_max_s};
    struct gw_xmpp_handlers xh = {
        on_online,         on_offline,     gw_router_xmpp_message, gw_router_xmpp_presence,
        gw_router_xmpp_iq, gw_outbox_acked};
    c->xmpp = gw_xmpp_new(c->loop, &xc, &xh, c);
    if (!c->xmpp) {
        snprintf(err, errlen, "cannot create the XMPP link");
        return -1;
    }
    gw_xmpp_set_identity(c->xmpp, cfg->service_name, GW_VERSION);
    /* The upper rooms register their services with the desk before anything can use them. */
    gw_host_attach(c);
    if (gw_fed_init(c) < 0 || gw_queues_init(c) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int n = gw_conv_load_all(c);
    if (gw_host_load_all(c, err, errlen) < 0 || gw_host_start_all(c, err, errlen) < 0)
        return -1;
    int64_t pending = gw_store_outbox_count(c->store);
    GW_INFO("skagerrak %s started: %d open conversations, %lld in the outbox", GW_VERSION, n,
            (long long)pending);
    /* After a crash or restart: send what was stored but not sent, now. */
    gw_store_outbox_wake_all(c->store);
    gw_run_begin(c);
    gw_turn_commit(c);
    gw_outbox_start(c);
    c->clock_skew_ms = gw_clock_skew_ms();
    c->sweep_timer = gw_loop_timer_add(c->loop, SWEEP_MS, sweep, c);
    c->checkpoint_timer = gw_loop_timer_add(c->loop, CHECKPOINT_MS, checkpoint, c);
    gw_retention_start(c);
    return gw_xmpp_start(c->xmpp);
}

static void shutdown_core(struct gw_core *c)
{
    /* First close the stream and read what the server forwarded before it saw the close
     * (XEP-0114 has no acknowledgement: unread, it would be lost without a trace); the
     * plugins still run, since those stanzas reach the router. */
    if (c->xmpp)
        gw_outbox_last_barrier(c);
    int closed = c->xmpp ? gw_xmpp_close(c->xmpp) : -1;
    if (c->plugins)
        gw_host_stop_all(c);
    if (c->store) {
        gw_outbox_apply_acks(c);
        gw_conv_flush_touches(c);
        gw_run_end(c, closed != 0);
        gw_http_release(c->http, gw_turn_commit(c) == GW_OK);
    }
    gw_xmpp_free(&c->xmpp);
    gw_http_free(&c->http);
    gw_fetch_free(&c->fetch);
    gw_conv_free_all(c);
    gw_queues_release(c);
    gw_presence_release(c);
    gw_retention_release(c);
    gw_fed_release(c);
    gw_map_free(&c->conv_by_token);
    gw_map_free(&c->conv_by_seeker);
    gw_outbox_release(c);
    gw_turn_release(c);
    gw_loop_free(&c->loop);
    gw_store_close(&c->store);
    gw_i18n_free(&c->i18n);
    gw_config_free(&c->cfg);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"foreground", no_argument, NULL, 'f'},
                                         {"check-config", required_argument, NULL, 'C'},
                                         {"version", no_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *path = "/etc/skagerrak/skagerrak.cfg", *check = NULL;
    int foreground = 0, o;
    while ((o = getopt_long(argc, argv, "c:fhV", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            path = optarg;
            break;
        case 'f':
            foreground = 1;
            break;
        case 'C':
            check = optarg;
            break;
        case 'V':
            printf("skagerrak %s\n", GW_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    struct gw_core core = {0};
    struct gw_core *c = &core;
    TAILQ_INIT(&c->convs);
    TAILQ_INIT(&c->presence);
    struct gw_cfg_errors e = {0};
    c->config_path = check ? check : path;
    c->cfg = gw_config_load(c->config_path, &e);
    if (c->cfg && check) {
        gw_log_setup(GW_LOG_ERROR, 0);
        gw_host_check(c, c->cfg, &e);
        if (!e.n) {
            char err[512];
            struct gw_i18n *i = gw_i18n_load(c->cfg->catalogue_dir, err, sizeof err);
            if (!i)
                gw_cfg_errorf(&e, NULL, "%s", err);
            gw_i18n_free(&i);
        }
    }
    if (!c->cfg || e.n) {
        print_errors(&e);
        fprintf(stderr, "%s: %d problem%s found\n", c->config_path, e.n, e.n == 1 ? "" : "s");
        gw_cfg_errors_release(&e);
        gw_config_free(&c->cfg);
        return 1;
    }
    if (check) {
        printf("%s: configuration is valid\n", check);
        gw_config_free(&c->cfg);
        return 0;
    }
    gw_log_setup((enum gw_log_level)c->cfg->log_level, foreground ? 0 : c->cfg->use_syslog);
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    char err[1024] = "";
    struct gw_ctl *ctl = NULL;
    int rc = start(c, &ctl, err, sizeof err);
    if (rc < 0) {
        GW_ERROR("cannot start: %s", err);
        gw_ctl_stop(&ctl);
        shutdown_core(c);
        close(sfd);
        return 1;
    }
    gw_loop_fd_add(c->loop, sfd, GW_EV_READ, on_signal, c);
    gw_loop_run(c->loop);
    gw_loop_fd_del(c->loop, sfd);
    close(sfd);
    gw_ctl_stop(&ctl);
    GW_INFO("stopped cleanly");
    shutdown_core(c);
    return 0;
}

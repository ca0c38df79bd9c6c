/* skagerrakctl — operate a running skagerrak daemon through its control socket
 * (docs/ctl.md, skagerrakctl(8)).
 *
 * The tool is thin on purpose: it sends the command line as one JSON request, prints the
 * answer's text (or its result with --json), the error on stderr, and exits with the
 * answer's exit status.  Parsing the subcommand's arguments, masking and rendering happen in
 * the daemon, so every subcommand behaves the same and the tool never needs to change when
 * one is added.  It never opens the database. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <libconfig.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "conf/config.h"

#ifndef GW_VERSION
#define GW_VERSION "0"
#endif

#define DEFAULT_CONFIG "/etc/skagerrak/skagerrak.cfg"
#define DEFAULT_DATABASE "/var/lib/skagerrak/skagerrak.db" /* the daemon's default */
#define MAX_ANSWER (256u << 20) /* a stats or conversations listing can be long, not this */
#define TIMEOUT_MS 120000       /* a reload with slow plugins; the daemon answers in a turn */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: skagerrakctl [--socket PATH | --config FILE] [--json] SUBCOMMAND [ARGS...]\n"
            "       skagerrakctl help [SUBCOMMAND]   the subcommands (asked from the daemon)\n"
            "       skagerrakctl --version\n"
            "  -s, --socket PATH   the daemon's control socket (default: service.control_socket\n"
            "                      of the configuration, else skagerrak.ctl next to the database:\n"
            "                      %s)\n"
            "  -c, --config FILE   read the socket's path from FILE (default %s if it exists)\n"
            "  -j, --json          print the result as JSON (for scripts)\n"
            "exit status: 0 done, 1 failed or nothing found, 2 usage\n",
            "/var/lib/skagerrak/skagerrak.ctl", DEFAULT_CONFIG);
}

/* The socket path from a configuration file: service.control_socket, else next to
 * gateway.database (gw_config_ctl_default, the daemon's own rule).  Only these two keys are
 * read, with libconfig, so an operator who may not read the secret file can still use it.
 * 0, or -1 with a message on stderr. */
static int socket_from_config(const char *file, int must_exist, char *buf, size_t len)
{
    config_t cfg;
    config_init(&cfg);
    if (!config_read_file(&cfg, file)) {
        int io = config_error_type(&cfg) == CONFIG_ERR_FILE_IO;
        if (io && !must_exist) {
            config_destroy(&cfg);
            gw_config_ctl_default(DEFAULT_DATABASE, buf, len);
            return 0;
        }
        if (io)
            fprintf(stderr, "skagerrakctl: %s: cannot read: %s\n", file, strerror(errno));
        else
            fprintf(stderr, "skagerrakctl: %s:%d: %s\n", file, config_error_line(&cfg),
                    config_error_text(&cfg));
        config_destroy(&cfg);
        return -1;
    }
    const char *sock = NULL, *db = NULL;
    if (config_lookup_string(&cfg, "service.control_socket", &sock) && sock) {
        if (!*sock) {
            fprintf(stderr,
                    "skagerrakctl: %s: service.control_socket is empty: the daemon has "
                    "no control socket\n",
                    file);
            config_destroy(&cfg);
            return -1;
        }
        snprintf(buf, len, "%s", sock);
    } else {
        if (!config_lookup_string(&cfg, "gateway.database", &db))
            db = DEFAULT_DATABASE;
        gw_config_ctl_default(db, buf, len);
    }
    config_destroy(&cfg);
    return 0;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to be ready for `events` until deadline; 0, or -1 on timeout/error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return -1;
        struct pollfd p = {fd, events, 0};
        int r = poll(&p, 1, (int)left);
        if (r > 0)
            return 0;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"socket", required_argument, NULL, 's'}, {"config", required_argument, NULL, 'c'},
        {"json", no_argument, NULL, 'j'},         {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *sock = NULL, *conf = NULL;
    int json = 0, o;
    /* "+": options end at the subcommand; what follows is the subcommand's. */
    while ((o = getopt_long(argc, argv, "+s:c:jhV", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            sock = optarg;
            break;
        case 'c':
            conf = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'V':
            printf("skagerrakctl %s\n", GW_VERSION);
            return 0;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (sock && conf) {
        fprintf(stderr, "skagerrakctl: --socket and --config exclude each other\n");
        usage(stderr);
        return 2;
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    char path[4096];
    if (sock)
        snprintf(path, sizeof path, "%s", sock);
    else if (socket_from_config(conf ? conf : DEFAULT_CONFIG, conf != NULL, path, sizeof path) < 0)
        return 1;
    if (strlen(path) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        fprintf(stderr, "skagerrakctl: %s: socket path too long\n", path);
        return 2;
    }

    /* The request: argv after the tool's options; --json anywhere before "--" counts as the
     * tool's (people type it after the subcommand too). */
    json_t *req = json_object(), *args = json_array();
    int dashdash = 0;
    for (int i = optind; i < argc; i++) {
        if (!dashdash && strcmp(argv[i], "--") == 0)
            dashdash = 1;
        if (!dashdash && i > optind && strcmp(argv[i], "--json") == 0) {
            json = 1;
            continue;
        }
        json_t *s = json_string(argv[i]);
        if (!s) {
            fprintf(stderr, "skagerrakctl: argument %d is not valid UTF-8\n", i - optind + 1);
            return 2;
        }
        json_array_append_new(args, s);
    }
    json_object_set_new(req, "v", json_integer(1));
    json_object_set_new(req, "argv", args);
    json_object_set_new(req, "json", json_boolean(json));
    char *line = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!line) {
        fprintf(stderr, "skagerrakctl: out of memory\n");
        return 1;
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        fprintf(stderr, "skagerrakctl: cannot connect to %s: %s%s\n", path, strerror(e),
                e == ENOENT || e == ECONNREFUSED ? " (is the daemon running?)"
                : e == EACCES                    ? " (run as root or the daemon's group)"
                                                 : "");
        free(line);
        return 1;
    }
    int64_t deadline = mono_ms() + TIMEOUT_MS;
    size_t n = strlen(line);
    line[n] = '\n'; /* json_dumps' NUL becomes the line end; length n + 1 */
    for (size_t off = 0; off < n + 1;) {
        ssize_t w = send(fd, line + off, n + 1 - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) < 0)
                break;
            continue;
        }
        if (w < 0)
            break; /* the daemon may still have answered (a refusal): read it */
        off += (size_t)w;
    }
    free(line);

    char *ans = NULL;
    size_t nans = 0, cap = 0;
    for (;;) {
        if (wait_fd(fd, POLLIN, deadline) < 0) {
            fprintf(stderr, "skagerrakctl: no answer from %s within %d s\n", path,
                    TIMEOUT_MS / 1000);
            return 1;
        }
        if (cap - nans < 65536) {
            cap = cap ? cap * 2 : 131072;
            if (cap > MAX_ANSWER) {
                fprintf(stderr, "skagerrakctl: answer too long\n");
                return 1;
            }
            char *t = realloc(ans, cap);
            if (!t) {
                fprintf(stderr, "skagerrakctl: out of memory\n");
                return 1;
            }
            ans = t;
        }
        ssize_t r = recv(fd, ans + nans, cap - nans - 1, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        nans += (size_t)r;
        if (memchr(ans + nans - (size_t)r, '\n', (size_t)r))
            break;
    }
    close(fd);
    if (!nans) {
        fprintf(stderr, "skagerrakctl: %s closed the connection without an answer\n", path);
        free(ans);
        return 1;
    }
    json_error_t jerr;
    json_t *a = json_loadb(ans, nans, JSON_DISABLE_EOF_CHECK, &jerr);
    free(ans);
    json_t *jexit = a ? json_object_get(a, "exit") : NULL;
    if (!json_is_integer(jexit)) {
        fprintf(stderr, "skagerrakctl: malformed answer from the daemon: %s\n",
                a ? "no exit status" : jerr.text);
        json_decref(a);
        return 1;
    }
    int code = (int)json_integer_value(jexit);
    const char *text = json_string_value(json_object_get(a, "text"));
    const char *error = json_string_value(json_object_get(a, "error"));
    if (json) {
        json_t *res = json_object_get(a, "result");
        if (res) {
            json_dumpf(res, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
            fputc('\n', stdout);
        }
    } else if (text && *text) {
        fputs(text, stdout);
        if (text[strlen(text) - 1] != '\n')
            fputc('\n', stdout);
    }
    if (error && *error)
        fprintf(stderr, "skagerrakctl: %s\n", error);
    if (fflush(stdout) != 0)
        code = code ? code : 1;
    json_decref(a);
    return code < 0 || code > 125 ? 1 : code;
}

/* ctl.h — the control socket: skagerrakctl(8) talks to the running daemon through it.
 *
 * The room ctl/ sits on top of the core (order: io store conf desk fed host ctl; main.c
 * above all): it reads the desk's state, asks fed/ and host/ for theirs, and never opens
 * the database behind the daemon's back — everything goes through the daemon's one
 * connection, inside its loop turns, so a command sees committed state and its writes are
 * committed with the turn (the answer goes out only after that commit; a failed commit
 * answers exit 1, "not stored").
 *
 * Wire format (docs/ctl.md): a UNIX stream socket (service.control_socket, mode 0660, the
 * daemon's user and group; peers of another uid that are not root and not of the socket's
 * group are refused and logged).  The tool sends one JSON object per line,
 *     {"v":1, "argv":["conversations","--queue","general"], "json":true}
 * and gets one JSON object per line back,
 *     {"exit":0, "result":{...}, "text":"what a person reads", "error":"why not"}
 * where exit is 0 (done), 1 (failed / nothing found) or 2 (usage).  The tool is thin: it
 * prints text (or result with --json) and exits with exit.  Argument parsing, masking and
 * rendering happen here, in one place, so every subcommand behaves the same.
 *
 * A subcommand is a struct gw_ctl_cmd in one of the tables below; ctl.c looks a command up
 * in all of them. */
#ifndef GW_CTL_H
#define GW_CTL_H

#include <jansson.h>
#include <stddef.h>

struct gw_core;
struct gw_ctl;

/* One request, parsed. */
struct gw_ctl_req {
    int argc;          /* argv[0] is the subcommand */
    char **argv;
    int json;          /* --json was given: result matters, text may be left empty */
    const char *peer;  /* "uid 1000 (name)" for the audit and the log */
};

/* What a handler fills in. */
struct gw_ctl_out {
    json_t *result; /* owned; a JSON object (or array) for --json; NULL = {} */
    char *text;     /* human-readable output (gw_ctl_printf), owned */
    size_t len, cap;
    char error[512]; /* set with gw_ctl_fail: the reason, shown on stderr */
};

/* Returns the exit status: 0 done, 1 failed or nothing found, 2 usage. */
typedef int (*gw_ctl_fn)(struct gw_core *c, const struct gw_ctl_req *rq,
                         struct gw_ctl_out *out);

struct gw_ctl_cmd {
    const char *name;    /* "status", "export-seeker", ... */
    const char *usage;   /* "export-seeker (--address CH:ADDR | --conv JID | --session ID)" */
    const char *summary; /* one line for `skagerrakctl help` */
    gw_ctl_fn fn;
};

/* The tables, each ended by an entry with name == NULL.  ctl_ops.c: status, queues,
 * counsellors, conversations, show, block, unblock, reload, stats.  ctl_privacy.c:
 * export-seeker, erase-seeker.  ctl_audit.c: audit, purge. */
extern const struct gw_ctl_cmd gw_ctl_ops_cmds[];
extern const struct gw_ctl_cmd gw_ctl_privacy_cmds[];
extern const struct gw_ctl_cmd gw_ctl_audit_cmds[];

/* Append to out->text (printf-style).  Never fails visibly: on ENOMEM the text is cut. */
void gw_ctl_printf(struct gw_ctl_out *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Set out->error and return code (1 or 2): `return gw_ctl_fail(out, 2, "usage: ...");` */
int gw_ctl_fail(struct gw_ctl_out *out, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Start listening on cfg->control_socket (NULL/"" = no socket).  NULL with err set when the
 * socket cannot be made (the daemon then refuses to start: an agency relies on it). */
struct gw_ctl *gw_ctl_start(struct gw_core *c, char *err, size_t errlen);
/* Close the socket (and unlink it), drop open control connections. NULL-safe. */
void gw_ctl_stop(struct gw_ctl **cp);

#endif

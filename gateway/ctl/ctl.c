/* ctl.c — the control socket: listening, peer checks, framing, answers after the turn's
 * commit (the contract is ctl.h; the wire format docs/ctl.md; parsing and dispatching a
 * request line is ctl_cmd.c).
 *
 * Everything runs on the daemon's one loop: the listening socket and each client are
 * non-blocking fds.  A client sends one request line (at most GW_CTL_MAX_REQUEST bytes),
 * the handler runs inside that loop turn (so it sees and changes the daemon's state, and its
 * store writes belong to the turn's transaction), and its answer is queued with
 * gw_turn_after_commit: it leaves only after the commit, and a failed commit answers exit 1
 * "not stored" instead.  A client may send further requests on the same connection; they
 * are read one at a time, each after the previous answer is queued. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl/ctl.h"
#include "ctl/ctl_int.h"
#include "desk/core.h"
#include "io/log.h"
#include "io/loop.h"

#define GW_CTL_MAX_REQUEST (64 * 1024) /* a request line, newline excluded */
#define GW_CTL_MAX_CLIENTS 32          /* an operator tool, not a public service */
#define GW_CTL_IDLE_MS (60 * 1000)     /* a connection that sends nothing this long is dropped */
#define REFUSAL_LOG_MS 10000 /* refused peers: one line, then a summary at most this often */

struct ctl_client {
    struct gw_ctl *ctl;
    uint64_t id; /* answers find their client by id: it may be gone by then */
    int fd;
    char peer[160]; /* "uid 1000 (kari)" */
    char *in;       /* request bytes not yet handled */
    size_t nin;
    int overflow; /* the current line passed the limit: skip to its newline */
    char *out;    /* answer bytes not yet written */
    size_t nout, offout, capout;
    int waiting; /* an answer waits for the commit: read no further request */
    int reading; /* inside client_read: an answer sent at once does not recurse */
    int closing; /* close once out is written */
    uint64_t idle_timer;
    struct ctl_client *next;
};

struct gw_ctl {
    struct gw_core *core;
    int fd;
    char path[GW_CTL_PATH_MAX];
    dev_t dev; /* the socket file we made: stop unlinks only that one */
    ino_t ino;
    gid_t group; /* the socket file's group: its members may use it */
    struct ctl_client *clients;
    int nclients;
    uint64_t next_id;
    int stopping;
    /* refusals (summarised when they flood) */
    int64_t refused_logged_at;
    long refused_since;
};

static void client_close(struct ctl_client *cl);
static void client_read(struct ctl_client *cl);
static int client_alive(struct gw_ctl *ctl, struct ctl_client *cl);

static struct ctl_client *client_by_id(struct gw_ctl *ctl, uint64_t id)
{
    for (struct ctl_client *cl = ctl->clients; cl; cl = cl->next)
        if (cl->id == id)
            return cl;
    return NULL;
}

static void client_flush(struct ctl_client *cl)
{
    while (cl->offout < cl->nout) {
        ssize_t w = send(cl->fd, cl->out + cl->offout, cl->nout - cl->offout, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            gw_loop_fd_mod(cl->ctl->core->loop, cl->fd, GW_EV_READ | GW_EV_WRITE);
            return;
        }
        if (w <= 0) {
            client_close(cl); /* the tool went away: nothing to tell */
            return;
        }
        cl->offout += (size_t)w;
    }
    cl->offout = cl->nout = 0;
    gw_loop_fd_mod(cl->ctl->core->loop, cl->fd, GW_EV_READ);
    if (cl->closing)
        client_close(cl);
}

/* Queue raw answer bytes (taken over) to the client and try to send them. */
static void client_send(struct ctl_client *cl, char *line)
{
    if (!line) {
        client_close(cl);
        return;
    }
    size_t n = strlen(line);
    if (cl->nout + n > cl->capout) {
        size_t ncap = cl->nout + n;
        char *t = realloc(cl->out, ncap);
        if (!t) {
            free(line);
            client_close(cl);
            return;
        }
        cl->out = t;
        cl->capout = ncap;
    }
    memcpy(cl->out + cl->nout, line, n);
    cl->nout += n;
    free(line);
    client_flush(cl);
}

static void client_answer(struct ctl_client *cl, int code, json_t *result, const char *text,
                          const char *error)
{
    client_send(cl, gw_ctl_encode_answer(code, result, text, error));
}

/* An answer waiting for the turn's commit. */
struct pending_answer {
    struct gw_ctl *ctl;
    uint64_t client;
    char *line;
};

static void idle_expired(void *arg);

static void answer_release(struct pending_answer *pa, char *line)
{
    struct ctl_client *cl = client_by_id(pa->ctl, pa->client);
    free(pa->line);
    free(pa);
    if (!cl) {
        free(line);
        return;
    }
    struct gw_ctl *ctl = cl->ctl;
    cl->waiting = 0;
    client_send(cl, line);
    /* A request that arrived behind this one: read it now, unless this answer went out
     * from inside client_read (nothing to commit), whose loop goes on by itself — pipelined
     * requests must not recurse once per request. */
    if (client_alive(ctl, cl) && !cl->reading && !cl->closing && cl->nin)
        client_read(cl);
}

static void answer_committed(void *arg)
{
    struct pending_answer *pa = arg;
    char *line = pa->line;
    pa->line = NULL;
    answer_release(pa, line);
}

static void answer_dropped(void *arg)
{
    struct pending_answer *pa = arg;
    if (pa->ctl->stopping) { /* gw_ctl_stop: its client goes too */
        free(pa->line);
        free(pa);
        return;
    }
    struct ctl_client *cl = client_by_id(pa->ctl, pa->client);
    GW_WARN("ctl: %s: the turn's commit failed: the command's changes were rolled back, "
            "answered \"not stored\"",
            cl ? cl->peer : "a client that has gone");
    answer_release(pa,
                   gw_ctl_encode_answer(1, NULL, "",
                                        "not stored: the database did not take the change (see the "
                                        "daemon's log); nothing was changed"));
}

/* --- requests --- */

static void handle_line(struct ctl_client *cl, const char *line, size_t len)
{
    struct gw_core *c = cl->ctl->core;
    int ran;
    char *answer = gw_ctl_run(c, cl->peer, line, len, &ran);
    if (!answer) {
        client_close(cl);
        return;
    }
    if (!ran) { /* refused before any handler ran: nothing waits for a commit */
        client_send(cl, answer);
        return;
    }
    /* The answer leaves only after the commit of what the handler stored. */
    struct pending_answer *pa = malloc(sizeof *pa);
    if (!pa) {
        free(answer);
        client_close(cl);
        return;
    }
    *pa = (struct pending_answer){cl->ctl, cl->id, answer};
    cl->waiting = 1;
    if (gw_turn_after_commit(c, cl->ctl, answer_committed, answer_dropped, pa) != GW_OK) {
        free(pa->line);
        free(pa);
        cl->waiting = 0;
        client_answer(cl, 1, NULL, "", "out of memory");
    }
}

/* Handle complete lines in cl->in, one at a time (the next after the answer is queued). */
static void client_read(struct ctl_client *cl)
{
    struct gw_ctl *ctl = cl->ctl;
    while (!cl->waiting && !cl->closing && cl->nin) {
        char *nl = memchr(cl->in, '\n', cl->nin);
        if (cl->overflow) {
            if (!nl) {
                cl->nin = 0; /* still inside the long line: drop what came */
                return;
            }
            size_t skip = (size_t)(nl - cl->in) + 1;
            memmove(cl->in, cl->in + skip, cl->nin - skip);
            cl->nin -= skip;
            cl->overflow = 0;
            continue;
        }
        if (!nl) {
            if (cl->nin > GW_CTL_MAX_REQUEST) {
                GW_WARN("ctl: %s: request longer than %d bytes refused", cl->peer,
                        GW_CTL_MAX_REQUEST);
                cl->overflow = 1;
                cl->nin = 0;
                client_answer(cl, 2, NULL, "", "request refused: longer than 65536 bytes");
            }
            return;
        }
        size_t len = (size_t)(nl - cl->in);
        if (len > GW_CTL_MAX_REQUEST) {
            GW_WARN("ctl: %s: request longer than %d bytes refused", cl->peer, GW_CTL_MAX_REQUEST);
            memmove(cl->in, nl + 1, cl->nin - len - 1);
            cl->nin -= len + 1;
            client_answer(cl, 2, NULL, "", "request refused: longer than 65536 bytes");
            if (!client_alive(ctl, cl))
                return;
            continue;
        }
        *nl = 0;
        char *line = malloc(len + 1);
        if (!line) {
            client_close(cl);
            return;
        }
        memcpy(line, cl->in, len + 1);
        memmove(cl->in, nl + 1, cl->nin - len - 1);
        cl->nin -= len + 1;
        if (len && line[len - 1] == '\r')
            line[--len] = 0;
        cl->reading = 1;
        if (len) /* an empty line is a keep-alive, not a request */
            handle_line(cl, line, len);
        free(line);
        /* handle_line may have closed cl (an error writing): then stop here */
        if (!client_alive(ctl, cl))
            return;
        cl->reading = 0;
    }
}

static void client_rearm_idle(struct ctl_client *cl)
{
    struct gw_loop *l = cl->ctl->core->loop;
    gw_loop_timer_cancel(l, cl->idle_timer);
    cl->idle_timer = gw_loop_timer_add(l, GW_CTL_IDLE_MS, idle_expired, cl);
}

static int client_alive(struct gw_ctl *ctl, struct ctl_client *cl)
{
    for (struct ctl_client *x = ctl->clients; x; x = x->next)
        if (x == cl)
            return 1;
    return 0;
}

static void on_client(void *arg, int fd, unsigned events)
{
    struct ctl_client *cl = arg;
    struct gw_ctl *ctl = cl->ctl;
    (void)fd;
    if (events & GW_EV_WRITE) {
        client_flush(cl);
        if (!client_alive(ctl, cl))
            return;
    }
    if (!(events & (GW_EV_READ | GW_EV_HUP | GW_EV_ERROR)))
        return;
    for (;;) {
        char buf[16384];
        ssize_t r = recv(cl->fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        if (r <= 0) {
            /* The tool closed its end: an answer still waiting for the commit has no
             * reader; drop the connection (the pending answer finds no client). */
            client_close(cl);
            return;
        }
        /* A client that sends on while its answer waits for the commit: bounded. */
        if (cl->waiting && cl->nin + (size_t)r > 4 * (size_t)GW_CTL_MAX_REQUEST) {
            cl->nin = 0;
            cl->closing = 1;
            return; /* the pending answer is sent, then the connection closed */
        }
        if (r > 0) {
            char *t = realloc(cl->in, cl->nin + (size_t)r);
            if (!t) {
                client_close(cl);
                return;
            }
            cl->in = t;
            memcpy(cl->in + cl->nin, buf, (size_t)r);
            cl->nin += (size_t)r;
        }
        client_read(cl);
        if (!client_alive(ctl, cl))
            return;
        if (cl->waiting || cl->closing)
            break;
    }
    if (client_alive(ctl, cl))
        client_rearm_idle(cl);
}

static void idle_expired(void *arg)
{
    struct ctl_client *cl = arg;
    cl->idle_timer = 0;
    if (cl->waiting) { /* never drop a client whose answer is on its way */
        client_rearm_idle(cl);
        return;
    }
    client_close(cl);
}

static void client_close(struct ctl_client *cl)
{
    struct gw_ctl *ctl = cl->ctl;
    for (struct ctl_client **pp = &ctl->clients; *pp; pp = &(*pp)->next)
        if (*pp == cl) {
            *pp = cl->next;
            break;
        }
    ctl->nclients--;
    gw_loop_timer_cancel(ctl->core->loop, cl->idle_timer);
    gw_loop_fd_del(ctl->core->loop, cl->fd);
    close(cl->fd);
    free(cl->in);
    free(cl->out);
    free(cl);
}

/* --- peers --- */

static int in_group(int fd, gid_t primary, gid_t want)
{
    if (primary == want)
        return 1;
#ifdef SO_PEERGROUPS
    gid_t groups[256];
    socklen_t len = sizeof groups;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
        for (size_t i = 0; i < len / sizeof groups[0]; i++)
            if (groups[i] == want)
                return 1;
#endif
    return 0;
}

static void describe_peer(const struct ucred *cr, char *buf, size_t len)
{
    struct passwd pw, *res = NULL;
    char tmp[1024];
    if (getpwuid_r(cr->uid, &pw, tmp, sizeof tmp, &res) == 0 && res)
        snprintf(buf, len, "uid %u (%s) pid %d", (unsigned)cr->uid, pw.pw_name, (int)cr->pid);
    else
        snprintf(buf, len, "uid %u pid %d", (unsigned)cr->uid, (int)cr->pid);
}

static void log_refusal(struct gw_ctl *ctl, const char *peer)
{
    int64_t now = gw_now_ms(ctl->core);
    ctl->refused_since++;
    if (ctl->refused_logged_at && now - ctl->refused_logged_at < REFUSAL_LOG_MS)
        return;
    if (ctl->refused_since == 1)
        GW_WARN("ctl: refused %s: not root, the daemon's user or a member of the socket's "
                "group (gid %u)",
                peer, (unsigned)ctl->group);
    else
        GW_WARN("ctl: refused %ld connection(s) in the last %d s, the latest from %s: not "
                "root, the daemon's user or a member of the socket's group (gid %u)",
                ctl->refused_since, REFUSAL_LOG_MS / 1000, peer, (unsigned)ctl->group);
    ctl->refused_logged_at = now;
    ctl->refused_since = 0;
}

static void on_accept(void *arg, int fd, unsigned events)
{
    struct gw_ctl *ctl = arg;
    (void)events;
    for (;;) {
        int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (cfd < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                GW_WARN("ctl: accept: %s", strerror(errno));
            return;
        }
        struct ucred cr;
        socklen_t crlen = sizeof cr;
        char peer[160];
        if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cr, &crlen) != 0) {
            GW_WARN("ctl: cannot read the peer's credentials (%s): refused", strerror(errno));
            close(cfd);
            continue;
        }
        describe_peer(&cr, peer, sizeof peer);
        /* The group is read from the file each time: an administrator may chgrp the
         * socket after start-up (ours only: a replaced path keeps the group we saw). */
        struct stat st;
        if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
            ctl->group = st.st_gid;
        int ok = cr.uid == 0 || cr.uid == geteuid() || in_group(cfd, cr.gid, ctl->group);
        if (!ok || ctl->nclients >= GW_CTL_MAX_CLIENTS) {
            char *line = ok ? gw_ctl_encode_answer(1, NULL, "",
                                                   "busy: too many control connections; try again")
                            : gw_ctl_encode_answer(
                                  1, NULL, "",
                                  "permission denied: only root, the daemon's user and members "
                                  "of the control socket's group may use it");
            if (line) {
                ssize_t w = send(cfd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
                (void)w; /* best effort: the socket buffer takes one short line */
                free(line);
            }
            if (!ok)
                log_refusal(ctl, peer);
            else
                GW_WARN("ctl: %s: refused, %d control connections open", peer, ctl->nclients);
            close(cfd);
            continue;
        }
        struct ctl_client *cl = calloc(1, sizeof *cl);
        if (!cl) {
            close(cfd);
            continue;
        }
        cl->ctl = ctl;
        cl->id = ++ctl->next_id;
        cl->fd = cfd;
        gw_copy(cl->peer, sizeof cl->peer, peer);
        if (gw_loop_fd_add(ctl->core->loop, cfd, GW_EV_READ, on_client, cl) < 0) {
            close(cfd);
            free(cl);
            continue;
        }
        cl->next = ctl->clients;
        ctl->clients = cl;
        ctl->nclients++;
        cl->idle_timer = gw_loop_timer_add(ctl->core->loop, GW_CTL_IDLE_MS, idle_expired, cl);
        GW_DEBUG("ctl: connection from %s", peer);
    }
}

/* --- start / stop --- */

/* Is something listening on path?  1 yes, 0 no (stale or absent), -1 error (err set). */
static int probe(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        return -1;
    }
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen,
                 "control socket %s: exists and is not a socket; not replacing it (set "
                 "service.control_socket to another path, or remove it)",
                 path);
        return -1;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    gw_copy(sa.sun_path, sizeof sa.sun_path, path);
    int r = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    close(fd);
    if (r == 0) {
        snprintf(err, errlen,
                 "control socket %s: another skagerrak daemon is listening on it (is one "
                 "already running with this configuration?)",
                 path);
        return 1;
    }
    if (e == ECONNREFUSED)
        return 0; /* left behind by a daemon that did not stop cleanly */
    snprintf(err, errlen, "control socket %s: %s", path, strerror(e));
    return -1;
}

struct gw_ctl *gw_ctl_start(struct gw_core *c, char *err, size_t errlen)
{
    const char *path = c->cfg->control_socket;
    if (!path || !*path) {
        GW_INFO("ctl: no control socket (service.control_socket is empty)");
        return NULL;
    }
    if (strlen(path) >= GW_CTL_PATH_MAX) {
        snprintf(err, errlen, "control socket %s: path too long", path);
        return NULL;
    }
    int p = probe(path, err, errlen);
    if (p != 0)
        return NULL;
    if (unlink(path) == 0)
        GW_INFO("ctl: replaced the stale control socket %s (a previous run did not stop "
                "cleanly)",
                path);
    struct gw_ctl *ctl = calloc(1, sizeof *ctl);
    if (!ctl) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctl->core = c;
    gw_copy(ctl->path, sizeof ctl->path, path);
    ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (ctl->fd < 0) {
        snprintf(err, errlen, "control socket: %s", strerror(errno));
        free(ctl);
        return NULL;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    gw_copy(sa.sun_path, sizeof sa.sun_path, path);
    /* Made 0660 from the start (the umask decides a fresh socket file's mode), then chmod
     * in case the umask was stricter than that. */
    mode_t old = umask(0117);
    int r = bind(ctl->fd, (struct sockaddr *)&sa, sizeof sa);
    int e = errno;
    umask(old);
    struct stat st;
    if (r != 0 || chmod(path, 0660) != 0 || stat(path, &st) != 0 || listen(ctl->fd, 16) != 0) {
        if (r == 0)
            e = errno;
        snprintf(err, errlen, "control socket %s: %s", path, strerror(e));
        if (r == 0)
            unlink(path);
        close(ctl->fd);
        free(ctl);
        return NULL;
    }
    ctl->dev = st.st_dev;
    ctl->ino = st.st_ino;
    ctl->group = st.st_gid;
    if (gw_loop_fd_add(c->loop, ctl->fd, GW_EV_READ, on_accept, ctl) < 0) {
        snprintf(err, errlen, "control socket: cannot watch it");
        unlink(path);
        close(ctl->fd);
        free(ctl);
        return NULL;
    }
    GW_INFO("ctl: control socket %s (mode 0660, group %u)", path, (unsigned)ctl->group);
    return ctl;
}

void gw_ctl_stop(struct gw_ctl **cp)
{
    struct gw_ctl *ctl = cp ? *cp : NULL;
    if (!ctl)
        return;
    /* Answers still waiting for a commit are dropped (their clients go now). */
    struct gw_loop *l = ctl->core->loop;
    ctl->stopping = 1;
    gw_turn_drop_owner(ctl->core, ctl);
    while (ctl->clients)
        client_close(ctl->clients);
    if (l)
        gw_loop_fd_del(l, ctl->fd);
    close(ctl->fd);
    /* Unlink only our own socket file: a successor may already have replaced it. */
    struct stat st;
    if (stat(ctl->path, &st) == 0 && st.st_dev == ctl->dev && st.st_ino == ctl->ino)
        unlink(ctl->path);
    free(ctl);
    *cp = NULL;
}

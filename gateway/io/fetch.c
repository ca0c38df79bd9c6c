/* fetch.c — curl-multi on the core loop: socket/timer callbacks, completion dispatch. */
#include "io/fetch.h"
#include "io/loop.h" /* after plugin_api.h (via fetch.h): see http.h */

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

struct xfer {
    TAILQ_ENTRY(xfer) entry;
    CURL *easy;
    gw_fetch_cb cb;
    void *arg;
    char *owner; /* NULL = none */
};
TAILQ_HEAD(xfer_list, xfer);

struct gw_fetch {
    struct gw_loop *loop;
    CURLM *multi;
    uint64_t timer_id;
    struct xfer_list xfers; /* few at a time: a list is enough to find one by handle */
    size_t count;
};

static struct xfer *find(struct gw_fetch *f, CURL *easy)
{
    struct xfer *x;
    TAILQ_FOREACH (x, &f->xfers, entry)
        if (x->easy == easy)
            return x;
    return NULL;
}

/* Take x out of the multi and the list; the caller then runs its callback and frees it. */
static void detach(struct gw_fetch *f, struct xfer *x)
{
    curl_multi_remove_handle(f->multi, x->easy);
    TAILQ_REMOVE(&f->xfers, x, entry);
    f->count--;
}

static void finish(struct xfer *x, int code)
{
    x->cb(x->arg, x->easy, code);
    free(x->owner);
    free(x);
}

static void check_done(struct gw_fetch *f)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(f->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *easy = m->easy_handle;
        CURLcode code = m->data.result; /* read before removing: m dies with the handle */
        struct xfer *x = find(f, easy);
        if (!x)
            continue;
        detach(f, x);
        finish(x, (int)code);
    }
}

static void on_sock(void *arg, int fd, unsigned events)
{
    struct gw_fetch *f = arg;
    int flags = 0, running;
    if (events & GW_EV_READ)
        flags |= CURL_CSELECT_IN;
    if (events & GW_EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    if (events & (GW_EV_ERROR | GW_EV_HUP))
        flags |= CURL_CSELECT_ERR;
    curl_multi_socket_action(f->multi, fd, flags, &running);
    check_done(f);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    struct gw_fetch *f = userp;
    if (what == CURL_POLL_REMOVE) {
        gw_loop_fd_del(f->loop, s);
        return 0;
    }
    unsigned ev = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        ev |= GW_EV_READ;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        ev |= GW_EV_WRITE;
    return gw_loop_fd_add(f->loop, s, ev, on_sock, f) == 0 ? 0 : -1;
}

static void on_timeout(void *arg)
{
    struct gw_fetch *f = arg;
    int running;
    f->timer_id = 0;
    curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(f);
}

/* curl asks for one timer: replace ours.  Never drive curl from here (curl's rule); a 0 ms
 * timer fires in the next loop turn. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct gw_fetch *f = userp;
    if (f->timer_id) {
        gw_loop_timer_cancel(f->loop, f->timer_id);
        f->timer_id = 0;
    }
    if (timeout_ms >= 0) {
        f->timer_id = gw_loop_timer_add(f->loop, (uint64_t)timeout_ms, on_timeout, f);
        if (!f->timer_id)
            return -1;
    }
    return 0;
}

struct gw_fetch *gw_fetch_new(struct gw_loop *l)
{
    /* Process-wide and idempotent; main() should call it first, before any thread. */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return NULL;
    struct gw_fetch *f = calloc(1, sizeof(*f));
    if (!f)
        return NULL;
    f->loop = l;
    TAILQ_INIT(&f->xfers);
    f->multi = curl_multi_init();
    if (!f->multi) {
        free(f);
        return NULL;
    }
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
    return f;
}

int gw_fetch_add(struct gw_fetch *f, CURL *easy, gw_fetch_cb cb, void *arg, const char *owner)
{
    if (!f || !easy || !cb || find(f, easy))
        return GW_EINVAL;
    struct xfer *x = calloc(1, sizeof(*x));
    if (!x || (owner && !(x->owner = strdup(owner)))) {
        free(x);
        return GW_ENOMEM;
    }
    x->easy = easy;
    x->cb = cb;
    x->arg = arg;
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    TAILQ_INSERT_TAIL(&f->xfers, x, entry);
    f->count++;
    if (curl_multi_add_handle(f->multi, easy) != CURLM_OK) {
        TAILQ_REMOVE(&f->xfers, x, entry);
        f->count--;
        free(x->owner);
        free(x);
        return GW_EIO;
    }
    return GW_OK;
}

static bool owned_by(const struct xfer *x, const char *owner)
{
    return owner ? (x->owner && strcmp(x->owner, owner) == 0) : !x->owner;
}

/* Detach first, then call back: a callback may add or cancel other transfers. */
static void cancel_matching(struct gw_fetch *f, const char *owner, bool all)
{
    struct xfer_list gone = TAILQ_HEAD_INITIALIZER(gone);
    struct xfer *x, *next;
    for (x = TAILQ_FIRST(&f->xfers); x; x = next) {
        next = TAILQ_NEXT(x, entry);
        if (all || owned_by(x, owner)) {
            detach(f, x);
            TAILQ_INSERT_TAIL(&gone, x, entry);
        }
    }
    while ((x = TAILQ_FIRST(&gone))) {
        TAILQ_REMOVE(&gone, x, entry);
        finish(x, CURLE_ABORTED_BY_CALLBACK);
    }
}

void gw_fetch_cancel_owner(struct gw_fetch *f, const char *owner)
{
    if (f)
        cancel_matching(f, owner, false);
}

size_t gw_fetch_count(const struct gw_fetch *f)
{
    return f->count;
}

void gw_fetch_free(struct gw_fetch **fp)
{
    if (!fp || !*fp)
        return;
    struct gw_fetch *f = *fp;
    cancel_matching(f, NULL, true);
    curl_multi_cleanup(f->multi); /* may still report sockets of cached connections */
    if (f->timer_id)
        gw_loop_timer_cancel(f->loop, f->timer_id);
    free(f);
    *fp = NULL;
}

/* loop.c — the fake host's timers, fd watches, fetches and clock, all fired by the test. */

#include "priv.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- timers, fds, fetch, clock ---------------------------------------------------------- */

static uint64_t fh_timer_add(struct gw_host *h, uint64_t ms, gw_timer_cb cb, void *arg)
{
    struct fakehost_priv *p = fh_of(h)->priv;
    struct fh_timer *t = &PUSH(p->timers);
    t->id = ++p->next_timer;
    t->due = p->mono_ms + ms;
    t->cb = cb;
    t->arg = arg;
    t->pending = 1;
    return t->id;
}

static void fh_timer_cancel(struct gw_host *h, uint64_t id)
{
    struct fakehost_priv *p = fh_of(h)->priv;
    for (size_t i = 0; i < p->timers.n; i++)
        if (p->timers.v[i].id == id)
            p->timers.v[i].pending = 0;
}

int fakehost_fire_timers(struct fakehost *fh, uint64_t advance_ms)
{
    struct fakehost_priv *p = fh->priv;
    uint64_t target = p->mono_ms + advance_ms;
    int fired = 0;
    for (;;) {
        size_t best = (size_t)-1;
        for (size_t i = 0; i < p->timers.n; i++) {
            const struct fh_timer *t = &p->timers.v[i];
            if (t->pending && t->due <= target &&
                (best == (size_t)-1 || t->due < p->timers.v[best].due))
                best = i; /* ties: the earlier-added (lower index) stays */
        }
        if (best == (size_t)-1)
            break;
        struct fh_timer t = p->timers.v[best]; /* the vector may move inside cb */
        p->timers.v[best].pending = 0;
        fh->now_ms += (int64_t)(t.due - p->mono_ms);
        p->mono_ms = t.due;
        t.cb(t.arg);
        fired++;
    }
    fh->now_ms += (int64_t)(target - p->mono_ms);
    p->mono_ms = target;
    return fired;
}

size_t fakehost_timers_pending(const struct fakehost *fh)
{
    size_t n = 0;
    for (size_t i = 0; i < fh->priv->timers.n; i++)
        n += fh->priv->timers.v[i].pending != 0;
    return n;
}

static int fh_fd_add(struct gw_host *h, int fd, unsigned events, gw_fd_cb cb, void *arg)
{
    struct fakehost_priv *p = fh_of(h)->priv;
    for (size_t i = 0; i < p->fds.n; i++)
        if (p->fds.v[i].fd == fd) {
            p->fds.v[i].events = events;
            p->fds.v[i].cb = cb;
            p->fds.v[i].arg = arg;
            return GW_OK;
        }
    struct fh_fd *f = &PUSH(p->fds);
    f->fd = fd;
    f->events = events;
    f->cb = cb;
    f->arg = arg;
    return GW_OK;
}

static void fh_fd_del(struct gw_host *h, int fd)
{
    struct fakehost_priv *p = fh_of(h)->priv;
    for (size_t i = 0; i < p->fds.n; i++)
        if (p->fds.v[i].fd == fd) {
            p->fds.v[i] = p->fds.v[--p->fds.n];
            return;
        }
}

int fakehost_fd_watched(const struct fakehost *fh, int fd)
{
    for (size_t i = 0; i < fh->priv->fds.n; i++)
        if (fh->priv->fds.v[i].fd == fd)
            return 1;
    return 0;
}

int fakehost_fd_fire(struct fakehost *fh, int fd, unsigned events)
{
    for (size_t i = 0; i < fh->priv->fds.n; i++)
        if (fh->priv->fds.v[i].fd == fd) {
            struct fh_fd f = fh->priv->fds.v[i];
            f.cb(f.arg, fd, events);
            return GW_OK;
        }
    return GW_ENOTFOUND;
}

static int fh_fetch(struct gw_host *h, void *easy, gw_fetch_cb cb, void *arg)
{
    struct fakehost *fh = fh_of(h);
    if (!easy || !cb)
        return GW_EINVAL;
    struct fakehost_fetch *f = &RECORD(fh, fetches, nfetches, cap_fetches);
    f->easy = easy;
    f->cb = cb;
    f->arg = arg;
    f->done = 0;
    return GW_OK;
}

int fakehost_fetch_complete(struct fakehost *fh, size_t idx, int curl_code)
{
    if (idx >= fh->nfetches || fh->fetches[idx].done)
        return GW_EINVAL;
    fh->fetches[idx].done = 1;
    struct fakehost_fetch f = fh->fetches[idx]; /* the array may move inside cb */
    f.cb(f.arg, f.easy, curl_code);
    return GW_OK;
}

static int64_t fh_now_ms(struct gw_host *h)
{
    return fh_of(h)->now_ms;
}

void fh_api_loop(struct gw_host_api *api)
{
    api->timer_add = fh_timer_add;
    api->timer_cancel = fh_timer_cancel;
    api->fd_add = fh_fd_add;
    api->fd_del = fh_fd_del;
    api->fetch = fh_fetch;
    api->now_ms = fh_now_ms;
}

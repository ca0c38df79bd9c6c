/* loop.c — the core's single epoll loop: fds, a min-heap of one-shot timers, hooks. */
#include "io/loop.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define GW_LOOP_MAX_EVENTS 256

/* One watched fd.  epoll's data points at the entry, not at the fd number: if a callback
 * deletes an fd (and perhaps a new socket gets the same number and is added) while events
 * for the old one are still in this turn's batch, the stale events find a dead entry and
 * are dropped.  Dead entries are freed at the end of the turn. */
struct fd_entry {
    int fd;
    unsigned events;
    bool dead;
    gw_loop_fd_cb cb;
    void *arg;
    struct fd_entry *next_dead;
};

/* Timer records live in a slab; an id is (generation << 32 | slot + 1), so cancel finds
 * its record in O(1) and a stale id (fired, cancelled, slot reused) is recognised. */
struct timer {
    uint64_t id;       /* 0 = slot free */
    uint64_t deadline; /* monotonic ms */
    uint64_t seq;      /* insertion order: equal deadlines fire first-in first-out */
    size_t heap_pos;
    gw_loop_timer_cb cb;
    void *arg;
    uint32_t gen;
    uint32_t next_free; /* free-list link (slot index + 1, 0 = end) */
};

struct hook {
    gw_loop_hook_cb cb;
    void *arg;
};

struct thook {
    gw_loop_timeout_cb cb;
    void *arg;
};

struct gw_loop {
    int epfd;
    bool stop;

    struct fd_entry **fds; /* indexed by fd */
    size_t nfds_cap;
    struct fd_entry *dead; /* entries deleted this turn */

    struct timer *slots;
    size_t nslots, slots_cap;
    uint32_t free_head; /* slot index + 1 of the first free slot, 0 = none */
    uint32_t *heap;     /* slot indices ordered as a binary min-heap */
    size_t heap_len, heap_cap;
    uint64_t seq;

    struct hook *hooks;
    size_t nhooks, hooks_cap;
    struct thook *thooks;
    size_t nthooks, thooks_cap;
    bool hooks_dirty; /* a hook was deleted: compact at the end of the turn */
};

uint64_t gw_loop_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = realloc(*p, n * elem);
    if (!q)
        return -ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

struct gw_loop *gw_loop_new(void)
{
    struct gw_loop *l = calloc(1, sizeof(*l));
    if (!l)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (l->epfd < 0) {
        int e = errno;
        free(l);
        errno = e;
        return NULL;
    }
    return l;
}

static void free_dead(struct gw_loop *l)
{
    while (l->dead) {
        struct fd_entry *e = l->dead;
        l->dead = e->next_dead;
        free(e);
    }
}

void gw_loop_free(struct gw_loop **lp)
{
    if (!lp || !*lp)
        return;
    struct gw_loop *l = *lp;
    for (size_t i = 0; i < l->nfds_cap; i++)
        free(l->fds[i]);
    free(l->fds);
    free_dead(l);
    free(l->slots);
    free(l->heap);
    free(l->hooks);
    free(l->thooks);
    close(l->epfd);
    free(l);
    *lp = NULL;
}

/* ---- fds ---- */

static uint32_t to_epoll(unsigned events)
{
    return (uint32_t)(events & (GW_EV_READ | GW_EV_WRITE));
}

int gw_loop_fd_add(struct gw_loop *l, int fd, unsigned events, gw_loop_fd_cb cb, void *arg)
{
    if (fd < 0 || !cb)
        return -EINVAL;
    if ((size_t)fd >= l->nfds_cap) {
        size_t old = l->nfds_cap;
        if (grow((void **)&l->fds, &l->nfds_cap, (size_t)fd + 1, sizeof(*l->fds)) < 0)
            return -ENOMEM;
        memset(l->fds + old, 0, (l->nfds_cap - old) * sizeof(*l->fds));
    }
    struct fd_entry *e = l->fds[fd];
    struct epoll_event ev = {.events = to_epoll(events)};
    if (e) {
        ev.data.ptr = e;
        if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0) {
            /* The fd was closed (epoll forgot it) and the number reused without fd_del. */
            if (errno != ENOENT || epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
                return -errno;
        }
        e->events = events;
        e->cb = cb;
        e->arg = arg;
        return 0;
    }
    e = calloc(1, sizeof(*e));
    if (!e)
        return -ENOMEM;
    e->fd = fd;
    e->events = events;
    e->cb = cb;
    e->arg = arg;
    ev.data.ptr = e;
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        int err = errno;
        free(e);
        return -err;
    }
    l->fds[fd] = e;
    return 0;
}

int gw_loop_fd_mod(struct gw_loop *l, int fd, unsigned events)
{
    if (fd < 0 || (size_t)fd >= l->nfds_cap || !l->fds[fd])
        return -ENOENT;
    struct fd_entry *e = l->fds[fd];
    if (e->events == events)
        return 0; /* callers set their interest every turn: no syscall when it stays */
    struct epoll_event ev = {.events = to_epoll(events), .data.ptr = e};
    if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &ev) < 0)
        return -errno;
    e->events = events;
    return 0;
}

void gw_loop_fd_del(struct gw_loop *l, int fd)
{
    if (fd < 0 || (size_t)fd >= l->nfds_cap || !l->fds[fd])
        return;
    struct fd_entry *e = l->fds[fd];
    /* Fails harmlessly (EBADF/ENOENT) when the caller already closed the fd. */
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
    l->fds[fd] = NULL;
    e->dead = true;
    e->next_dead = l->dead;
    l->dead = e;
}

/* ---- timers ---- */

static bool before(const struct gw_loop *l, uint32_t a, uint32_t b)
{
    const struct timer *x = &l->slots[a], *y = &l->slots[b];
    return x->deadline < y->deadline || (x->deadline == y->deadline && x->seq < y->seq);
}

static void heap_set(struct gw_loop *l, size_t pos, uint32_t slot)
{
    l->heap[pos] = slot;
    l->slots[slot].heap_pos = pos;
}

static void sift_up(struct gw_loop *l, size_t pos)
{
    uint32_t s = l->heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!before(l, s, l->heap[parent]))
            break;
        heap_set(l, pos, l->heap[parent]);
        pos = parent;
    }
    heap_set(l, pos, s);
}

static void sift_down(struct gw_loop *l, size_t pos)
{
    uint32_t s = l->heap[pos];
    for (;;) {
        size_t c = 2 * pos + 1;
        if (c >= l->heap_len)
            break;
        if (c + 1 < l->heap_len && before(l, l->heap[c + 1], l->heap[c]))
            c++;
        if (!before(l, l->heap[c], s))
            break;
        heap_set(l, pos, l->heap[c]);
        pos = c;
    }
    heap_set(l, pos, s);
}

/* Take slot out of the heap and put it on the free list. */
static void timer_remove(struct gw_loop *l, uint32_t slot)
{
    size_t pos = l->slots[slot].heap_pos;
    l->heap_len--;
    if (pos != l->heap_len) {
        heap_set(l, pos, l->heap[l->heap_len]);
        if (pos > 0 && before(l, l->heap[pos], l->heap[(pos - 1) / 2]))
            sift_up(l, pos);
        else
            sift_down(l, pos);
    }
    l->slots[slot].id = 0;
    l->slots[slot].cb = NULL;
    l->slots[slot].next_free = l->free_head;
    l->free_head = slot + 1;
}

uint64_t gw_loop_timer_add(struct gw_loop *l, uint64_t ms, gw_loop_timer_cb cb, void *arg)
{
    if (!cb)
        return 0;
    uint32_t slot;
    if (l->free_head) {
        slot = l->free_head - 1;
        l->free_head = l->slots[slot].next_free;
    } else {
        if (l->nslots >= UINT32_MAX - 1)
            return 0;
        if (grow((void **)&l->slots, &l->slots_cap, l->nslots + 1, sizeof(*l->slots)) < 0)
            return 0;
        slot = (uint32_t)l->nslots++;
        l->slots[slot].gen = 0;
    }
    if (grow((void **)&l->heap, &l->heap_cap, l->heap_len + 1, sizeof(*l->heap)) < 0) {
        l->slots[slot].next_free = l->free_head;
        l->free_head = slot + 1;
        return 0;
    }
    struct timer *t = &l->slots[slot];
    t->gen++;
    if (t->gen == 0)
        t->gen = 1;
    t->id = ((uint64_t)t->gen << 32) | (uint64_t)(slot + 1);
    uint64_t now = gw_loop_mono_ms();
    t->deadline = ms > UINT64_MAX - now ? UINT64_MAX : now + ms;
    t->seq = l->seq++;
    t->cb = cb;
    t->arg = arg;
    l->heap[l->heap_len] = slot;
    t->heap_pos = l->heap_len++;
    sift_up(l, t->heap_pos);
    return t->id;
}

void gw_loop_timer_cancel(struct gw_loop *l, uint64_t id)
{
    uint64_t low = id & 0xffffffffu;
    if (low == 0 || low > l->nslots)
        return;
    uint32_t slot = (uint32_t)(low - 1);
    if (l->slots[slot].id != id)
        return;
    timer_remove(l, slot);
}

/* Fire due timers.  Only timers that existed before this pass may fire, so a callback that
 * re-adds a 0 ms timer cannot keep the loop here forever. */
static int run_timers(struct gw_loop *l)
{
    int n = 0;
    uint64_t now = gw_loop_mono_ms();
    uint64_t seq_limit = l->seq;
    while (l->heap_len > 0) {
        uint32_t slot = l->heap[0];
        struct timer *t = &l->slots[slot];
        if (t->deadline > now || t->seq >= seq_limit)
            break;
        gw_loop_timer_cb cb = t->cb;
        void *arg = t->arg;
        timer_remove(l, slot); /* first: cancelling itself from the callback is a no-op */
        cb(arg);
        n++;
    }
    return n;
}

/* ---- hooks ---- */

int gw_loop_hook_add(struct gw_loop *l, gw_loop_hook_cb cb, void *arg)
{
    if (grow((void **)&l->hooks, &l->hooks_cap, l->nhooks + 1, sizeof(*l->hooks)) < 0)
        return -ENOMEM;
    l->hooks[l->nhooks++] = (struct hook){cb, arg};
    return 0;
}

int gw_loop_timeout_hook_add(struct gw_loop *l, gw_loop_timeout_cb cb, void *arg)
{
    if (grow((void **)&l->thooks, &l->thooks_cap, l->nthooks + 1, sizeof(*l->thooks)) < 0)
        return -ENOMEM;
    l->thooks[l->nthooks++] = (struct thook){cb, arg};
    return 0;
}

/* Deleting only clears the slot (hooks may be running); compact_hooks() closes the gaps
 * at the end of the turn. */
void gw_loop_hook_del(struct gw_loop *l, gw_loop_hook_cb cb, void *arg)
{
    for (size_t i = 0; i < l->nhooks; i++)
        if (l->hooks[i].cb == cb && l->hooks[i].arg == arg) {
            l->hooks[i].cb = NULL;
            l->hooks_dirty = true;
            return;
        }
}

void gw_loop_timeout_hook_del(struct gw_loop *l, gw_loop_timeout_cb cb, void *arg)
{
    for (size_t i = 0; i < l->nthooks; i++)
        if (l->thooks[i].cb == cb && l->thooks[i].arg == arg) {
            l->thooks[i].cb = NULL;
            l->hooks_dirty = true;
            return;
        }
}

static void compact_hooks(struct gw_loop *l)
{
    if (!l->hooks_dirty)
        return;
    size_t j = 0;
    for (size_t i = 0; i < l->nhooks; i++)
        if (l->hooks[i].cb)
            l->hooks[j++] = l->hooks[i];
    l->nhooks = j;
    j = 0;
    for (size_t i = 0; i < l->nthooks; i++)
        if (l->thooks[i].cb)
            l->thooks[j++] = l->thooks[i];
    l->nthooks = j;
    l->hooks_dirty = false;
}

/* ---- running ---- */

static long min_timeout(long a, long b)
{
    if (a < 0)
        return b;
    if (b < 0)
        return a;
    return a < b ? a : b;
}

/* Timeout hooks first: they may arm timers that the heap then accounts for. */
static int compute_timeout(struct gw_loop *l, int max_ms)
{
    long t = max_ms < 0 ? -1 : max_ms;
    for (size_t i = 0; i < l->nthooks; i++)
        if (l->thooks[i].cb)
            t = min_timeout(t, l->thooks[i].cb(l->thooks[i].arg));
    if (l->heap_len > 0) {
        uint64_t now = gw_loop_mono_ms(), d = l->slots[l->heap[0]].deadline;
        uint64_t left = d > now ? d - now : 0;
        t = min_timeout(t, left > (uint64_t)INT32_MAX ? INT32_MAX : (long)left);
    }
    if (t > INT32_MAX)
        t = INT32_MAX;
    return (int)t;
}

int gw_loop_run_once(struct gw_loop *l, int max_ms)
{
    struct epoll_event evs[GW_LOOP_MAX_EVENTS];
    int timeout = compute_timeout(l, max_ms);
    int n = epoll_wait(l->epfd, evs, GW_LOOP_MAX_EVENTS, timeout);
    if (n < 0) {
        if (errno != EINTR)
            return -errno;
        n = 0;
    }
    int handled = 0;
    for (int i = 0; i < n; i++) {
        struct fd_entry *e = evs[i].data.ptr;
        if (e->dead)
            continue;
        unsigned ev = evs[i].events & (GW_EV_READ | GW_EV_WRITE | GW_EV_ERROR | GW_EV_HUP);
        e->cb(e->arg, e->fd, ev);
        handled++;
    }
    handled += run_timers(l);
    for (size_t i = 0; i < l->nhooks; i++)
        if (l->hooks[i].cb)
            l->hooks[i].cb(l->hooks[i].arg);
    compact_hooks(l);
    free_dead(l);
    return handled;
}

int gw_loop_run(struct gw_loop *l)
{
    while (!l->stop) {
        int r = gw_loop_run_once(l, -1);
        if (r < 0)
            break;
    }
    l->stop = false;
    return 0;
}

void gw_loop_stop(struct gw_loop *l)
{
    l->stop = true;
}

/* test_loop.c — unit tests for the epoll loop (fds, timers, hooks, timeouts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/loop.h"

struct rec {
    int order[256];
    int n;
};

static void rec_push(struct rec *r, int v)
{
    assert_true(r->n < 256);
    r->order[r->n++] = v;
}

/* ---- fds ---- */

struct fdctx {
    struct gw_loop *l;
    int calls;
    unsigned last_events;
    int del_fd;      /* fd to delete (and close) from inside the callback, -1 = none */
    int del_self;    /* delete own fd from inside the callback */
    int readd_pipe[2];
};

static void fd_cb(void *arg, int fd, unsigned events)
{
    struct fdctx *c = arg;
    c->calls++;
    c->last_events = events;
    char buf[64];
    if (events & GW_EV_READ)
        (void)!read(fd, buf, sizeof(buf));
    if (c->del_self)
        gw_loop_fd_del(c->l, fd);
}

static void test_fd_read(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    assert_non_null(l);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct fdctx c = {.l = l, .del_fd = -1};
    assert_int_equal(gw_loop_fd_add(l, p[0], GW_EV_READ, fd_cb, &c), 0);
    assert_int_equal(gw_loop_run_once(l, 0), 0);
    assert_int_equal(c.calls, 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_int_equal(c.calls, 1);
    assert_true(c.last_events & GW_EV_READ);
    /* fd_mod to WRITE on a read end: nothing fires; back to READ works. */
    assert_int_equal(gw_loop_fd_mod(l, p[0], 0), 0);
    assert_int_equal(write(p[1], "y", 1), 1);
    assert_int_equal(gw_loop_run_once(l, 0), 0);
    assert_int_equal(gw_loop_fd_mod(l, p[0], GW_EV_READ), 0);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_int_equal(c.calls, 2);
    /* Unknown fds. */
    assert_int_equal(gw_loop_fd_mod(l, 999, GW_EV_READ), -ENOENT);
    gw_loop_fd_del(l, 999);
    gw_loop_fd_del(l, -1);
    /* Writer end: writable immediately. */
    struct fdctx w = {.l = l, .del_fd = -1, .del_self = 1};
    assert_int_equal(gw_loop_fd_add(l, p[1], GW_EV_WRITE, fd_cb, &w), 0);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_int_equal(w.calls, 1);
    assert_true(w.last_events & GW_EV_WRITE);
    assert_int_equal(gw_loop_run_once(l, 0), 0); /* deleted itself */
    assert_int_equal(w.calls, 1);
    /* Hang-up is reported. */
    close(p[1]);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_true(c.last_events & GW_EV_HUP);
    gw_loop_fd_del(l, p[0]);
    close(p[0]);
    gw_loop_free(&l);
    assert_null(l);
    gw_loop_free(&l);
}

/* Both fds are readable in the same turn; whichever runs first deletes and closes the
 * other, opens a new pipe (likely reusing the number) and watches it: the stale event
 * must not reach anyone. */
struct pairctx {
    struct gw_loop *l;
    int fds[2];  /* read ends */
    int wfds[2]; /* write ends */
    int calls[2];
    int fresh_calls;
    int fresh[2];
};

static void fresh_cb(void *arg, int fd, unsigned events)
{
    (void)fd;
    (void)events;
    struct pairctx *c = arg;
    c->fresh_calls++;
}

static void pair_cb(void *arg, int fd, unsigned events)
{
    (void)events;
    struct pairctx *c = arg;
    int me = fd == c->fds[0] ? 0 : 1;
    c->calls[me]++;
    int other = c->fds[1 - me];
    gw_loop_fd_del(c->l, other);
    close(other);
    close(c->wfds[1 - me]);
    assert_int_equal(pipe(c->fresh), 0);
    assert_int_equal(gw_loop_fd_add(c->l, c->fresh[0], GW_EV_READ, fresh_cb, c), 0);
    gw_loop_fd_del(c->l, fd); /* and itself */
}

static void test_fd_delete_inside_callback(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    struct pairctx c = {.l = l};
    int a[2], b[2];
    assert_int_equal(pipe(a), 0);
    assert_int_equal(pipe(b), 0);
    c.fds[0] = a[0];
    c.fds[1] = b[0];
    c.wfds[0] = a[1];
    c.wfds[1] = b[1];
    assert_int_equal(gw_loop_fd_add(l, a[0], GW_EV_READ, pair_cb, &c), 0);
    assert_int_equal(gw_loop_fd_add(l, b[0], GW_EV_READ, pair_cb, &c), 0);
    assert_int_equal(write(a[1], "x", 1), 1);
    assert_int_equal(write(b[1], "x", 1), 1);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_int_equal(c.calls[0] + c.calls[1], 1);
    assert_int_equal(c.fresh_calls, 0);
    /* The fresh pipe works. */
    assert_int_equal(write(c.fresh[1], "x", 1), 1);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_int_equal(c.fresh_calls, 1);
    assert_int_equal(c.calls[0] + c.calls[1], 1);
    int me = c.calls[0] ? 0 : 1;
    close(c.fds[me]);
    close(c.wfds[me]);
    gw_loop_fd_del(l, c.fresh[0]);
    close(c.fresh[0]);
    close(c.fresh[1]);
    gw_loop_free(&l);
}

/* Adding an fd twice replaces its callback; an fd closed without fd_del and whose number
 * is reused can be added again. */
static void test_fd_replace_and_reuse(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct fdctx c1 = {.l = l, .del_fd = -1}, c2 = {.l = l, .del_fd = -1};
    assert_int_equal(gw_loop_fd_add(l, p[0], GW_EV_READ, fd_cb, &c1), 0);
    assert_int_equal(gw_loop_fd_add(l, p[0], GW_EV_READ, fd_cb, &c2), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_int_equal(c1.calls, 0);
    assert_int_equal(c2.calls, 1);
    int old = p[0];
    close(p[0]);
    close(p[1]);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(p[0], old);
    assert_int_equal(gw_loop_fd_add(l, p[0], GW_EV_READ, fd_cb, &c1), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_int_equal(c1.calls, 1);
    gw_loop_fd_del(l, p[0]);
    close(p[0]);
    close(p[1]);
    gw_loop_free(&l);
}

/* ---- timers ---- */

struct tctx {
    struct rec *r;
    int v;
    struct gw_loop *l;
    uint64_t cancel_id;
};

static void timer_cb(void *arg)
{
    struct tctx *t = arg;
    rec_push(t->r, t->v);
    if (t->cancel_id)
        gw_loop_timer_cancel(t->l, t->cancel_id);
}

static void run_until(struct gw_loop *l, struct rec *r, int n, uint64_t max_ms)
{
    uint64_t end = gw_loop_mono_ms() + max_ms;
    while (r->n < n && gw_loop_mono_ms() < end)
        assert_true(gw_loop_run_once(l, 50) >= 0);
}

static void test_timer_order(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    struct rec r = {0};
    struct tctx t[6];
    int ms[6] = {30, 10, 20, 0, 10, 5};
    uint64_t start = gw_loop_mono_ms();
    for (int i = 0; i < 6; i++) {
        t[i] = (struct tctx){.r = &r, .v = i, .l = l};
        assert_true(gw_loop_timer_add(l, (uint64_t)ms[i], timer_cb, &t[i]) != 0);
    }
    run_until(l, &r, 6, 2000);
    assert_int_equal(r.n, 6);
    assert_true(gw_loop_mono_ms() - start >= 29);
    int want[6] = {3, 5, 1, 4, 2, 0}; /* equal deadlines (1, 4) in insertion order */
    for (int i = 0; i < 6; i++)
        assert_int_equal(r.order[i], want[i]);
    gw_loop_free(&l);
}

/* Many timers in shuffled order, a third cancelled: the heap fires the rest in order. */
static void test_timer_heap_cancel(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    enum { N = 60 };
    struct rec r = {0};
    struct tctx t[N];
    uint64_t ids[N];
    int perm[N];
    for (int i = 0; i < N; i++)
        perm[i] = i;
    srand(7);
    for (int i = N - 1; i > 0; i--) {
        int j = rand() % (i + 1), x = perm[i];
        perm[i] = perm[j];
        perm[j] = x;
    }
    /* Deadlines are base + 2i on one clock, not "2i from whenever the add ran": a
     * machine that pauses the test for 2 ms between two adds must not reorder them. */
    uint64_t base = gw_loop_mono_ms() + 100;
    for (int k = 0; k < N; k++) {
        int i = perm[k];
        t[i] = (struct tctx){.r = &r, .v = i, .l = l};
        uint64_t now = gw_loop_mono_ms(), due = base + (uint64_t)i * 2;
        ids[i] = gw_loop_timer_add(l, due > now ? due - now : 0, timer_cb, &t[i]);
        assert_true(ids[i] != 0);
    }
    int expect = 0;
    for (int i = 0; i < N; i++)
        if (i % 3 == 1)
            gw_loop_timer_cancel(l, ids[i]);
        else
            expect++;
    gw_loop_timer_cancel(l, ids[1]); /* twice: ignored */
    gw_loop_timer_cancel(l, 0);
    gw_loop_timer_cancel(l, 0xdeadbeef00000001ull);
    run_until(l, &r, expect, 3000);
    assert_int_equal(r.n, expect);
    for (int i = 1; i < r.n; i++)
        assert_true(r.order[i - 1] < r.order[i]);
    for (int i = 0; i < r.n; i++)
        assert_int_not_equal(r.order[i] % 3, 1);
    /* Fired ids are stale: cancelling them does nothing, even after slot reuse. */
    struct tctx x = {.r = &r, .v = 1000, .l = l};
    uint64_t nid = gw_loop_timer_add(l, 0, timer_cb, &x);
    for (int i = 0; i < N; i++)
        assert_true(ids[i] != nid);
    gw_loop_timer_cancel(l, ids[0]);
    int before = r.n;
    run_until(l, &r, before + 1, 1000);
    assert_int_equal(r.order[r.n - 1], 1000);
    gw_loop_free(&l);
}

/* A timer cancels another that is due in the same turn; and cancels itself (no-op). */
static void test_timer_cancel_inside_callback(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    struct rec r = {0};
    struct tctx a = {.r = &r, .v = 1, .l = l}, b = {.r = &r, .v = 2, .l = l};
    uint64_t ia = gw_loop_timer_add(l, 0, timer_cb, &a);
    uint64_t ib = gw_loop_timer_add(l, 0, timer_cb, &b);
    a.cancel_id = ib;
    b.cancel_id = ib;
    (void)ia;
    run_until(l, &r, 1, 500);
    assert_int_equal(gw_loop_run_once(l, 20), 0);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.order[0], 1);
    /* A pending timer is freed with the loop (ASan/valgrind check). */
    assert_true(gw_loop_timer_add(l, 100000, timer_cb, &a) != 0);
    gw_loop_free(&l);
}

/* A 0 ms timer that re-adds itself fires once per turn, never spins inside one turn. */
struct rearm {
    struct gw_loop *l;
    int n;
};
static void rearm_cb(void *arg)
{
    struct rearm *a = arg;
    a->n++;
    gw_loop_timer_add(a->l, 0, rearm_cb, a);
}

static void test_timer_rearm_zero(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    struct rearm a = {.l = l};
    gw_loop_timer_add(l, 0, rearm_cb, &a);
    assert_int_equal(gw_loop_run_once(l, 0), 1);
    assert_int_equal(a.n, 1);
    assert_int_equal(gw_loop_run_once(l, 1000), 1);
    assert_int_equal(a.n, 2);
    gw_loop_free(&l);
}

/* ---- hooks, timeouts, stop ---- */

struct hctx {
    struct rec *r;
    int v;
    long answer;
    int asked;
};

static void hook_cb(void *arg)
{
    struct hctx *h = arg;
    rec_push(h->r, h->v);
}

static long thook_cb(void *arg)
{
    struct hctx *h = arg;
    h->asked++;
    return h->answer;
}

static void test_hooks(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    struct rec r = {0};
    struct hctx h1 = {.r = &r, .v = 1}, h2 = {.r = &r, .v = 2};
    assert_int_equal(gw_loop_hook_add(l, hook_cb, &h1), 0);
    assert_int_equal(gw_loop_hook_add(l, hook_cb, &h2), 0);
    assert_int_equal(gw_loop_run_once(l, 0), 0);
    assert_int_equal(gw_loop_run_once(l, 0), 0);
    assert_int_equal(r.n, 4);
    int want[4] = {1, 2, 1, 2};
    for (int i = 0; i < 4; i++)
        assert_int_equal(r.order[i], want[i]);
    /* Hooks run after the turn's timers. */
    struct tctx t = {.r = &r, .v = 9, .l = l};
    gw_loop_timer_add(l, 0, timer_cb, &t);
    gw_loop_run_once(l, 0);
    assert_int_equal(r.n, 7);
    assert_int_equal(r.order[4], 9);
    assert_int_equal(r.order[5], 1);
    /* Deleting a hook (also an unknown pair) keeps the others in order. */
    gw_loop_hook_del(l, hook_cb, &h1);
    gw_loop_hook_del(l, hook_cb, &t);
    r.n = 0;
    gw_loop_run_once(l, 0);
    gw_loop_run_once(l, 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.order[0], 2);
    assert_int_equal(r.order[1], 2);
    gw_loop_free(&l);
}

static void test_timeout_hooks(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    struct rec r = {0};
    struct hctx none = {.r = &r, .answer = -1}, short_ = {.r = &r, .answer = 30};
    assert_int_equal(gw_loop_timeout_hook_add(l, thook_cb, &none), 0);
    assert_int_equal(gw_loop_timeout_hook_add(l, thook_cb, &short_), 0);
    /* A 5 s timer and an unlimited wait: the 30 ms hook bounds the sleep. */
    struct tctx t = {.r = &r, .v = 1, .l = l};
    uint64_t id = gw_loop_timer_add(l, 5000, timer_cb, &t);
    uint64_t start = gw_loop_mono_ms();
    assert_int_equal(gw_loop_run_once(l, -1), 0);
    uint64_t took = gw_loop_mono_ms() - start;
    assert_true(took >= 29 && took < 1000);
    assert_true(none.asked >= 1 && short_.asked >= 1);
    /* The timer bounds it when it is nearer than the hooks. */
    gw_loop_timer_cancel(l, id);
    short_.answer = 5000;
    gw_loop_timer_add(l, 20, timer_cb, &t);
    start = gw_loop_mono_ms();
    assert_int_equal(gw_loop_run_once(l, -1), 1);
    took = gw_loop_mono_ms() - start;
    assert_true(took >= 19 && took < 1000);
    /* max_ms bounds it too. */
    start = gw_loop_mono_ms();
    assert_int_equal(gw_loop_run_once(l, 10), 0);
    took = gw_loop_mono_ms() - start;
    assert_true(took >= 9 && took < 1000);
    /* A deleted timeout hook is no longer asked. */
    gw_loop_timeout_hook_del(l, thook_cb, &short_);
    int asked = short_.asked;
    gw_loop_run_once(l, 0);
    assert_int_equal(short_.asked, asked);
    gw_loop_free(&l);
}

static void stop_cb(void *arg)
{
    struct tctx *t = arg;
    rec_push(t->r, t->v);
    gw_loop_stop(t->l);
}

/* A timeout hook may arm a timer that the same wait honours (libmicrohttpd's deadline). */
struct armctx {
    struct gw_loop *l;
    struct tctx *t;
    int armed;
};
static long arm_hook(void *arg)
{
    struct armctx *a = arg;
    if (!a->armed) {
        a->armed = 1;
        gw_loop_timer_add(a->l, 15, timer_cb, a->t);
    }
    return -1;
}

static void test_timeout_hook_arms_timer(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    struct rec r = {0};
    struct tctx t = {.r = &r, .v = 5, .l = l};
    struct armctx a = {.l = l, .t = &t};
    gw_loop_timeout_hook_add(l, arm_hook, &a);
    uint64_t start = gw_loop_mono_ms();
    assert_int_equal(gw_loop_run_once(l, -1), 1);
    uint64_t took = gw_loop_mono_ms() - start;
    assert_true(took >= 14 && took < 1000);
    assert_int_equal(r.n, 1);
    gw_loop_free(&l);
}

static void test_run_stop(void **state)
{
    (void)state;
    struct gw_loop *l = gw_loop_new();
    struct rec r = {0};
    struct tctx a = {.r = &r, .v = 1, .l = l}, b = {.r = &r, .v = 2, .l = l};
    gw_loop_timer_add(l, 10, timer_cb, &a);
    gw_loop_timer_add(l, 20, stop_cb, &b);
    gw_loop_timer_add(l, 100000, timer_cb, &a);
    assert_int_equal(gw_loop_run(l), 0);
    assert_int_equal(r.n, 2);
    assert_int_equal(r.order[1], 2);
    /* run again: it does not return immediately because of the old stop. */
    struct tctx c = {.r = &r, .v = 3, .l = l};
    gw_loop_timer_add(l, 5, timer_cb, &a);
    gw_loop_timer_add(l, 15, stop_cb, &c);
    assert_int_equal(gw_loop_run(l), 0);
    assert_int_equal(r.n, 4);
    assert_int_equal(r.order[3], 3);
    gw_loop_free(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fd_read),
        cmocka_unit_test(test_fd_delete_inside_callback),
        cmocka_unit_test(test_fd_replace_and_reuse),
        cmocka_unit_test(test_timer_order),
        cmocka_unit_test(test_timer_heap_cancel),
        cmocka_unit_test(test_timer_cancel_inside_callback),
        cmocka_unit_test(test_timer_rearm_zero),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_timeout_hooks),
        cmocka_unit_test(test_timeout_hook_arms_timer),
        cmocka_unit_test(test_run_stop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

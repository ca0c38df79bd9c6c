/* loop.h — the one event loop: epoll over fds, one-shot timers, end-of-turn hooks. */
#ifndef GW_LOOP_H
#define GW_LOOP_H

#include <stdint.h>

struct gw_loop;

/* Event bits passed to and from fd callbacks (same values as EPOLLIN/EPOLLOUT/...). */
#define GW_EV_READ 0x001u
#define GW_EV_WRITE 0x004u
#define GW_EV_ERROR 0x008u
#define GW_EV_HUP 0x010u

typedef void (*gw_loop_fd_cb)(void *arg, int fd, unsigned events);
typedef void (*gw_loop_timer_cb)(void *arg);
typedef void (*gw_loop_hook_cb)(void *arg);

/* Create a loop.  NULL on failure (errno set). */
struct gw_loop *gw_loop_new(void);
/* Free the loop and all timers/hooks; fds are not closed. NULL-safe; sets *lp = NULL. */
void gw_loop_free(struct gw_loop **lp);

/* Watch `fd` for `events` (GW_EV_READ/WRITE).  One registration per fd; adding an fd that
 * is already watched replaces its callback and events.  Returns 0 or -errno. */
int gw_loop_fd_add(struct gw_loop *l, int fd, unsigned events, gw_loop_fd_cb cb, void *arg);
/* Change the events of a watched fd.  Returns 0 or -errno. */
int gw_loop_fd_mod(struct gw_loop *l, int fd, unsigned events);
/* Stop watching fd (safe to call from inside its callback, and for unknown fds). */
void gw_loop_fd_del(struct gw_loop *l, int fd);

/* One-shot timer after `ms` milliseconds (monotonic).  Returns a non-zero id. */
uint64_t gw_loop_timer_add(struct gw_loop *l, uint64_t ms, gw_loop_timer_cb cb, void *arg);
/* Cancel a pending timer; unknown or fired ids are ignored. */
void gw_loop_timer_cancel(struct gw_loop *l, uint64_t id);

/* Hooks run at the end of every loop turn, in registration order (the store commits its
 * batch there; libstrophe flushes queued output).  Returns 0 or -ENOMEM. */
int gw_loop_hook_add(struct gw_loop *l, gw_loop_hook_cb cb, void *arg);

/* Hooks asked, before each wait, for the longest the loop may sleep (ms, -1 = no limit);
 * the loop sleeps for the smallest answer (libmicrohttpd and curl timeouts). */
typedef long (*gw_loop_timeout_cb)(void *arg);
int gw_loop_timeout_hook_add(struct gw_loop *l, gw_loop_timeout_cb cb, void *arg);
/* Timeout hooks run before the timer heap is consulted, so a hook may arm a loop timer
 * (libmicrohttpd's deadline) and the coming wait already honours it. */

/* Remove the end-of-turn hook / timeout hook registered with exactly (cb, arg); unknown
 * pairs are ignored.  Safe from inside any callback, including the hook itself. */
void gw_loop_hook_del(struct gw_loop *l, gw_loop_hook_cb cb, void *arg);
void gw_loop_timeout_hook_del(struct gw_loop *l, gw_loop_timeout_cb cb, void *arg);

/* Run one turn: wait (at most max_ms, -1 = until something happens), dispatch fds, due
 * timers, then end-of-turn hooks.  Returns number of events handled or -errno. */
int gw_loop_run_once(struct gw_loop *l, int max_ms);
/* Run until gw_loop_stop().  Returns 0. */
int gw_loop_run(struct gw_loop *l);
/* Ask gw_loop_run() to return after the current turn (safe from any callback). */
void gw_loop_stop(struct gw_loop *l);

/* Monotonic milliseconds. */
uint64_t gw_loop_mono_ms(void);

#endif

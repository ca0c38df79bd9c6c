/* clock.c — the service's wall clock (real, or a fixed test clock that keeps running). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "desk/core.h"
#include "io/log.h"

int64_t gw_now_ms(const struct gw_core *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + c->desk.clock_offset_ms;
}

static int parse_spec(const char *spec, time_t *out)
{
    struct tm tm = {0};
    if (!strptime(spec, "%Y-%m-%dT%H:%M:%S", &tm))
        return -1;
    tm.tm_isdst = -1;
    *out = mktime(&tm);
    return 0;
}

int gw_clock_valid(const char *spec)
{
    time_t t;
    return !spec || parse_spec(spec, &t) == 0;
}

/* A test clock "YYYY-MM-DDTHH:MM:SS" (local time of the process TZ): the daemon runs from
 * that moment on, so opening hours and holidays can be tested on any day.  Set again by a
 * reload, it jumps there (every time-driven timer is re-armed then, main.c). */
int gw_clock_set_test(struct gw_core *c, const char *spec)
{
    time_t t;
    if (!spec) {
        if (c->desk.clock_offset_ms)
            GW_WARN("test clock off: the daemon runs on the real clock again");
        c->desk.clock_offset_ms = 0;
        return 0;
    }
    if (parse_spec(spec, &t) < 0)
        return -1;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->desk.clock_offset_ms = (int64_t)t * 1000 - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    GW_WARN("test clock in use: the daemon believes it is %s", spec);
    return 0;
}

int64_t gw_clock_skew_ms(void)
{
    struct timespec r, m;
    clock_gettime(CLOCK_REALTIME, &r);
    clock_gettime(CLOCK_MONOTONIC, &m);
    return ((int64_t)r.tv_sec - (int64_t)m.tv_sec) * 1000 + (r.tv_nsec - m.tv_nsec) / 1000000;
}

uint64_t gw_clock_delay_ms(const struct gw_core *c, int64_t due, int64_t *fires_at)
{
    int64_t now = gw_now_ms(c);
    int64_t d = due - now;
    if (d < 0)
        d = 0;
    if (d > GW_TIMER_MAX_MS)
        d = GW_TIMER_MAX_MS;
    if (fires_at)
        *fires_at = now + d;
    return (uint64_t)d;
}

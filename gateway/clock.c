/* clock.c — the service's wall clock (real, or a fixed test clock that keeps running). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core.h"
#include "log.h"

int64_t gw_now_ms(const struct gw_core *c)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + c->clock_offset_ms;
}

/* A test clock "YYYY-MM-DDTHH:MM:SS" (local time of the process TZ): the daemon runs from
 * that moment on, so opening hours and holidays can be tested on any day. */
int gw_clock_set_test(struct gw_core *c, const char *spec)
{
    struct tm tm = {0};
    if (!spec)
        return 0;
    if (!strptime(spec, "%Y-%m-%dT%H:%M:%S", &tm))
        return -1;
    tm.tm_isdst = -1;
    time_t t = mktime(&tm);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->clock_offset_ms = (int64_t)t * 1000 - ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
    GW_WARN("test clock in use: the daemon believes it is %s", spec);
    return 0;
}

/* log.c — levelled logging to stderr or syslog, with address masking helpers. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "io/log.h"

/* The logger is process-wide configuration set once at start-up (and on reload); it is
 * the one piece of global state, like syslog's own. */
static enum gw_log_level cur_level = GW_LOG_INFO;
static int cur_syslog;

void gw_log_setup(enum gw_log_level level, int use_syslog)
{
    cur_level = level;
    if (use_syslog && !cur_syslog)
        openlog("skagerrak", LOG_PID, LOG_DAEMON);
    cur_syslog = use_syslog;
}

enum gw_log_level gw_log_level(void)
{
    return cur_level;
}

int gw_log_parse_level(const char *s)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (s && strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void gw_vlog(enum gw_log_level lvl, const char *who, const char *fmt, va_list ap)
{
    static const char *const tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    if (lvl > cur_level)
        return;
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    if (cur_syslog) {
        syslog(prio[lvl], "[%s] %s", who ? who : "core", msg);
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
            tags[lvl], who ? who : "core", msg);
}

void gw_log(enum gw_log_level lvl, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    gw_vlog(lvl, who, fmt, ap);
    va_end(ap);
}

const char *gw_mask_address(const char *addr, char *buf, size_t buflen)
{
    if (!buf || buflen == 0)
        return "";
    if (!addr || !*addr) {
        snprintf(buf, buflen, "-");
        return buf;
    }
    const char *at = strchr(addr, '@');
    size_t n = strlen(addr);
    size_t digits = 0;
    for (const char *p = addr; *p; p++)
        digits += (*p >= '0' && *p <= '9');
    if (at && at != addr)
        snprintf(buf, buflen, "%c\u00b7\u00b7\u00b7%s", addr[0], at);
    else if (digits >= 6 && n >= 4)
        snprintf(buf, buflen, "\u00b7\u00b7%s", addr + n - 4);
    else
        snprintf(buf, buflen, "%.4s\u00b7\u00b7\u00b7", addr);
    return buf;
}

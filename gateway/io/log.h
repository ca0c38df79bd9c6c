/* log.h — levelled logging to stderr or syslog, with address masking helpers. */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stddef.h>

#include "host/plugin_api.h"

/* Configure the logger: level (GW_LOG_*), syslog (1) or stderr (0). */
void gw_log_setup(enum gw_log_level level, int use_syslog);
/* The current level (messages above it are dropped). */
enum gw_log_level gw_log_level(void);
/* Log one line: "<level> [<who>] message".  `who` may be NULL ("core"). */
void gw_log(enum gw_log_level lvl, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void gw_vlog(enum gw_log_level lvl, const char *who, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
/* Parse "error" "warn" "info" "debug"; -1 when unknown. */
int gw_log_parse_level(const char *s);

/* Mask a seeker address for logs and counsellors: phone numbers keep the last four digits
 * ("··4567"), email addresses keep the first letter and the domain ("k···@example.no"),
 * anything else keeps its first four characters.  Returns buf. */
const char *gw_mask_address(const char *addr, char *buf, size_t buflen);

#define GW_ERROR(...) gw_log(GW_LOG_ERROR, NULL, __VA_ARGS__)
#define GW_WARN(...) gw_log(GW_LOG_WARN, NULL, __VA_ARGS__)
#define GW_INFO(...) gw_log(GW_LOG_INFO, NULL, __VA_ARGS__)
#define GW_DEBUG(...)                                                                              \
    do {                                                                                           \
        if (gw_log_level() >= GW_LOG_DEBUG)                                                        \
            gw_log(GW_LOG_DEBUG, NULL, __VA_ARGS__);                                               \
    } while (0)

#endif

/* ratelimit.h — fixed-window counters per key (phone number), bounded in memory. */
#ifndef SMS_RATELIMIT_H
#define SMS_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct sms_rl;

/* A limiter remembering at most `cap` keys (the oldest window is dropped when full).
 * Returns NULL on out of memory. */
struct sms_rl *sms_rl_new(size_t cap);
/* Free the limiter; NULL-safe; sets *rl = NULL. */
void sms_rl_free(struct sms_rl **rl);

/* Count one event for `key` at time now_ms in windows of window_ms.  Returns 1 when the
 * event is within `limit` per window (and counts it), 0 when over the limit (not
 * counted).  limit <= 0 means unlimited (always 1).  Keys longer than 47 bytes are
 * truncated. */
int sms_rl_hit(struct sms_rl *rl, const char *key, int64_t now_ms, int64_t window_ms,
               long long limit);

#endif

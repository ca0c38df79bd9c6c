/* ratelimit.h — token-bucket rate limits keyed by string (per session, per IP address). */
#ifndef WEB_RATELIMIT_H
#define WEB_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct web_rl;

/* A limiter allowing `burst` events at once per key, refilled at `burst` per `period_ms`
 * (so a steady `burst` per period).  burst 0 = unlimited.  At most `max_keys` keys are
 * tracked; when the table is full, idle keys are swept, and if none can go, new keys are
 * refused (web_rl_take returns GW_ELIMIT): memory stays bounded under a flood.
 * `seed` randomises the hash (see web_map_new).  NULL on ENOMEM. */
struct web_rl *web_rl_new(unsigned burst, int64_t period_ms, size_t max_keys, uint64_t seed);
/* Change the limits (config reload); existing buckets keep their level, capped. */
void web_rl_set(struct web_rl *rl, unsigned burst, int64_t period_ms, size_t max_keys);
/* Free the limiter.  NULL-safe; sets *rlp = NULL. */
void web_rl_free(struct web_rl **rlp);
/* Take one event for `key` at time `now_ms`.  GW_OK when allowed; GW_ELIMIT when not, with
 * the wait until one is allowed in *retry_ms (may be NULL).  GW_ENOMEM is reported as
 * GW_ELIMIT too (fail closed). */
int web_rl_take(struct web_rl *rl, const char *key, int64_t now_ms, int64_t *retry_ms);
/* Drop buckets that have refilled completely (they behave like absent ones).  Returns the
 * number dropped. */
size_t web_rl_sweep(struct web_rl *rl, int64_t now_ms);
/* Number of keys tracked. */
size_t web_rl_count(const struct web_rl *rl);

#endif

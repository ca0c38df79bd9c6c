/* ratelimit.c — token buckets in a hash table; refill is computed lazily on each take. */
#include "ratelimit.h"

#include <stdlib.h>

#include "map.h"
#include "plugin_api.h"

struct bucket {
    double tokens; /* events still allowed now */
    int64_t at_ms; /* when `tokens` was computed */
};

struct web_rl {
    struct web_map *map;
    unsigned burst;
    int64_t period_ms;
    size_t max_keys;
};

struct web_rl *web_rl_new(unsigned burst, int64_t period_ms, size_t max_keys, uint64_t seed)
{
    struct web_rl *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->map = web_map_new(seed);
    if (!rl->map) {
        free(rl);
        return NULL;
    }
    web_rl_set(rl, burst, period_ms, max_keys);
    return rl;
}

void web_rl_set(struct web_rl *rl, unsigned burst, int64_t period_ms, size_t max_keys)
{
    rl->burst = burst;
    rl->period_ms = period_ms > 0 ? period_ms : 1;
    rl->max_keys = max_keys ? max_keys : 1;
}

static int free_one(void *arg, const char *key, void *val)
{
    (void)arg;
    (void)key;
    free(val);
    return 1;
}

void web_rl_free(struct web_rl **rlp)
{
    if (!rlp || !*rlp)
        return;
    web_map_each((*rlp)->map, free_one, NULL);
    web_map_free(&(*rlp)->map);
    free(*rlp);
    *rlp = NULL;
}

static double level(const struct web_rl *rl, const struct bucket *b, int64_t now_ms)
{
    double t = b->tokens;
    if (now_ms > b->at_ms)
        t += (double)(now_ms - b->at_ms) * rl->burst / (double)rl->period_ms;
    return t > rl->burst ? rl->burst : t;
}

struct sweep_ctx {
    const struct web_rl *rl;
    int64_t now_ms;
    size_t dropped;
};

static int sweep_one(void *arg, const char *key, void *val)
{
    struct sweep_ctx *c = arg;
    (void)key;
    if (level(c->rl, val, c->now_ms) >= c->rl->burst) {
        free(val);
        c->dropped++;
        return 1;
    }
    return 0;
}

size_t web_rl_sweep(struct web_rl *rl, int64_t now_ms)
{
    struct sweep_ctx c = {rl, now_ms, 0};
    web_map_each(rl->map, sweep_one, &c);
    return c.dropped;
}

int web_rl_take(struct web_rl *rl, const char *key, int64_t now_ms, int64_t *retry_ms)
{
    if (retry_ms)
        *retry_ms = 0;
    if (rl->burst == 0)
        return GW_OK;
    struct bucket *b = web_map_get(rl->map, key);
    if (!b) {
        if (web_map_count(rl->map) >= rl->max_keys)
            web_rl_sweep(rl, now_ms);
        if (web_map_count(rl->map) >= rl->max_keys || !(b = malloc(sizeof(*b)))) {
            if (retry_ms)
                *retry_ms = rl->period_ms / rl->burst + 1;
            return GW_ELIMIT;
        }
        b->tokens = rl->burst;
        b->at_ms = now_ms;
        if (web_map_put(rl->map, key, b) != GW_OK) {
            free(b);
            if (retry_ms)
                *retry_ms = rl->period_ms / rl->burst + 1;
            return GW_ELIMIT;
        }
    }
    b->tokens = level(rl, b, now_ms);
    if (now_ms > b->at_ms)
        b->at_ms = now_ms;
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return GW_OK;
    }
    if (retry_ms) {
        double per_token_ms = (double)rl->period_ms / rl->burst;
        *retry_ms = (int64_t)((1.0 - b->tokens) * per_token_ms) + 1;
    }
    return GW_ELIMIT;
}

size_t web_rl_count(const struct web_rl *rl)
{
    return web_map_count(rl->map);
}

/* ratelimit.c — a small table of fixed windows; a linear scan is plenty for a few
 * thousand active numbers and keeps the code obviously correct. */
#include "ratelimit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct sms_rl_entry {
    char key[48];
    int64_t start;
    long long count;
};

struct sms_rl {
    size_t cap, n;
    struct sms_rl_entry *e;
};

struct sms_rl *sms_rl_new(size_t cap)
{
    struct sms_rl *rl = calloc(1, sizeof *rl);
    if (!rl)
        return NULL;
    rl->cap = cap ? cap : 1;
    rl->e = calloc(rl->cap, sizeof *rl->e);
    if (!rl->e) {
        free(rl);
        return NULL;
    }
    return rl;
}

void sms_rl_free(struct sms_rl **rl)
{
    if (!rl || !*rl)
        return;
    free((*rl)->e);
    free(*rl);
    *rl = NULL;
}

int sms_rl_hit(struct sms_rl *rl, const char *key, int64_t now_ms, int64_t window_ms,
               long long limit)
{
    if (limit <= 0)
        return 1;
    char k[48];
    snprintf(k, sizeof k, "%s", key);
    struct sms_rl_entry *slot = NULL, *oldest = NULL;
    for (size_t i = 0; i < rl->n; i++) {
        struct sms_rl_entry *e = &rl->e[i];
        if (strcmp(e->key, k) == 0) {
            slot = e;
            break;
        }
        if (!oldest || e->start < oldest->start)
            oldest = e;
    }
    if (!slot) {
        if (rl->n < rl->cap) {
            slot = &rl->e[rl->n++];
        } else {
            /* Full: reuse the entry whose window started longest ago. */
            slot = oldest;
        }
        snprintf(slot->key, sizeof slot->key, "%s", k);
        slot->start = now_ms;
        slot->count = 0;
    }
    if (now_ms - slot->start >= window_ms || now_ms < slot->start) {
        slot->start = now_ms;
        slot->count = 0;
    }
    if (slot->count >= limit)
        return 0;
    slot->count++;
    return 1;
}

/* hashmap.c — string-keyed hash map (open addressing, linear probing, tombstones). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/hashmap.h"

struct slot {
    char *key; /* NULL = empty; TOMB = deleted */
    void *value;
    uint32_t hash;
};

struct gw_map {
    struct slot *slots;
    size_t cap, count, used; /* used counts tombstones too */
};

#define MIN_CAP 16 /* slots; a power of two */

static char tomb_mark;
#define TOMB (&tomb_mark)

static uint32_t hash_str(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    while (*s)
        h = (h ^ (unsigned char)*s++) * 16777619u;
    return h;
}

struct gw_map *gw_map_new(void)
{
    struct gw_map *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->cap = MIN_CAP;
    m->slots = calloc(m->cap, sizeof *m->slots);
    if (!m->slots) {
        free(m);
        return NULL;
    }
    return m;
}

void gw_map_free(struct gw_map **mp)
{
    struct gw_map *m = mp ? *mp : NULL;
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != TOMB)
            free(m->slots[i].key);
    free(m->slots);
    free(m);
    *mp = NULL;
}

static struct slot *find(const struct gw_map *m, const char *key, uint32_t h)
{
    for (size_t i = h & (m->cap - 1), n = 0; n < m->cap; i = (i + 1) & (m->cap - 1), n++) {
        struct slot *s = &m->slots[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

/* Rehash into ncap slots (a power of two holding count entries), dropping tombstones. */
static int resize(struct gw_map *m, size_t ncap)
{
    struct slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        struct slot *s = &m->slots[i];
        if (!s->key || s->key == TOMB)
            continue;
        size_t j = s->hash & (ncap - 1);
        while (ns[j].key)
            j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->cap = ncap;
    m->used = m->count;
    return 0;
}

/* Full of entries and tombstones: double if entries alone fill a quarter, else rehash in
 * place (tombstones of churn go, the size stays). */
static int grow(struct gw_map *m)
{
    return resize(m, m->count * 4 > m->cap ? m->cap * 2 : m->cap);
}

int gw_map_set(struct gw_map *m, const char *key, void *value)
{
    uint32_t h = hash_str(key);
    struct slot *s = find(m, key, h);
    if (s) {
        s->value = value;
        return 0;
    }
    if ((m->used + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return -1;
    size_t i = h & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != TOMB)
        i = (i + 1) & (m->cap - 1);
    char *k = strdup(key);
    if (!k)
        return -1;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i] = (struct slot){k, value, h};
    m->count++;
    return 0;
}

void *gw_map_get(const struct gw_map *m, const char *key)
{
    struct slot *s = find(m, key, hash_str(key));
    return s ? s->value : NULL;
}

void gw_map_del(struct gw_map *m, const char *key)
{
    struct slot *s = find(m, key, hash_str(key));
    if (!s)
        return;
    free(s->key);
    s->key = TOMB;
    s->value = NULL;
    m->count--;
    /* Memory follows what is in the map, not its peak (100,000 conversations open once
     * left ~9 MB of slots after they closed).  Halving at 1/8 full leaves it 1/4 full,
     * far from the 3/4 that grows it again; failing to shrink is harmless. */
    if (m->cap > MIN_CAP && m->count * 8 < m->cap)
        resize(m, m->cap / 2);
}

size_t gw_map_count(const struct gw_map *m)
{
    return m->count;
}

size_t gw_map_capacity(const struct gw_map *m)
{
    return m->cap;
}

void gw_map_each(const struct gw_map *m, int (*fn)(void *arg, const char *key, void *value),
                 void *arg)
{
    for (size_t i = 0; i < m->cap; i++) {
        struct slot *s = &m->slots[i];
        if (s->key && s->key != TOMB && fn(arg, s->key, s->value))
            return;
    }
}

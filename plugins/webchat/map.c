/* map.c — chained hash table with a seeded FNV-1a hash, doubling when the load exceeds 1,
 * halving when it falls below 1/4. */
#include "map.h"

#include <stdlib.h>
#include <string.h>

#include "plugin_api.h"

struct ent {
    struct ent *next;
    uint64_t hash;
    void *val;
    char key[]; /* NUL-terminated copy */
};

#define MIN_SLOTS 16 /* a power of two */

struct web_map {
    struct ent **slots;
    size_t nslots; /* power of two */
    size_t count;
    uint64_t seed;
};

static uint64_t hash(const struct web_map *m, const char *key)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ m->seed;
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    /* final avalanche (splitmix64), so the low bits used for the slot depend on all bits */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

struct web_map *web_map_new(uint64_t seed)
{
    struct web_map *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->nslots = MIN_SLOTS;
    m->slots = calloc(m->nslots, sizeof(*m->slots));
    if (!m->slots) {
        free(m);
        return NULL;
    }
    m->seed = seed;
    return m;
}

void web_map_free(struct web_map **mp)
{
    if (!mp || !*mp)
        return;
    struct web_map *m = *mp;
    for (size_t i = 0; i < m->nslots; i++) {
        struct ent *e = m->slots[i];
        while (e) {
            struct ent *n = e->next;
            free(e);
            e = n;
        }
    }
    free(m->slots);
    free(m);
    *mp = NULL;
}

static struct ent **find(const struct web_map *m, const char *key, uint64_t h)
{
    struct ent **pp = &m->slots[h & (m->nslots - 1)];
    for (; *pp; pp = &(*pp)->next)
        if ((*pp)->hash == h && strcmp((*pp)->key, key) == 0)
            return pp;
    return pp;
}

void *web_map_get(const struct web_map *m, const char *key)
{
    struct ent **pp = find(m, key, hash(m, key));
    return *pp ? (*pp)->val : NULL;
}

/* Move every entry into a table of n slots (a power of two).  On ENOMEM the old table
 * stays: only the chains are longer (growing) or the memory is not given back (shrinking). */
static void resize(struct web_map *m, size_t n)
{
    struct ent **slots = calloc(n, sizeof(*slots));
    if (!slots)
        return;
    for (size_t i = 0; i < m->nslots; i++) {
        struct ent *e = m->slots[i];
        while (e) {
            struct ent *next = e->next;
            e->next = slots[e->hash & (n - 1)];
            slots[e->hash & (n - 1)] = e;
            e = next;
        }
    }
    free(m->slots);
    m->slots = slots;
    m->nslots = n;
}

/* After deletions: memory follows the entries, not their peak (a flood of sessions or
 * limiter keys would otherwise leave its slot array behind).  Halving below a quarter
 * full leaves the load under 1/2, far from the 1 that grows it again. */
static void shrink(struct web_map *m)
{
    size_t n = m->nslots;
    while (n > MIN_SLOTS && m->count * 4 < n)
        n /= 2;
    if (n != m->nslots)
        resize(m, n);
}

int web_map_put(struct web_map *m, const char *key, void *val)
{
    uint64_t h = hash(m, key);
    struct ent **pp = find(m, key, h);
    if (*pp) {
        (*pp)->val = val;
        return GW_OK;
    }
    size_t klen = strlen(key);
    struct ent *e = malloc(sizeof(*e) + klen + 1);
    if (!e)
        return GW_ENOMEM;
    e->next = NULL;
    e->hash = h;
    e->val = val;
    memcpy(e->key, key, klen + 1);
    *pp = e;
    if (++m->count > m->nslots)
        resize(m, m->nslots * 2);
    return GW_OK;
}

void *web_map_del(struct web_map *m, const char *key)
{
    struct ent **pp = find(m, key, hash(m, key));
    struct ent *e = *pp;
    if (!e)
        return NULL;
    void *val = e->val;
    *pp = e->next;
    free(e);
    m->count--;
    shrink(m);
    return val;
}

size_t web_map_count(const struct web_map *m)
{
    return m->count;
}

size_t web_map_slots(const struct web_map *m)
{
    return m->nslots;
}

void web_map_each(struct web_map *m, int (*fn)(void *arg, const char *key, void *val), void *arg)
{
    size_t before = m->count;
    for (size_t i = 0; i < m->nslots; i++) {
        struct ent **pp = &m->slots[i];
        while (*pp) {
            struct ent *e = *pp;
            if (fn(arg, e->key, e->val)) {
                *pp = e->next;
                free(e);
                m->count--;
            } else {
                pp = &e->next;
            }
        }
    }
    if (m->count < before) /* not inside the walk: it would move entries under it */
        shrink(m);
}

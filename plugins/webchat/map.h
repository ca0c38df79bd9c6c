/* map.h — a small string-keyed hash table (sessions by token hash, rate buckets by key). */
#ifndef WEB_MAP_H
#define WEB_MAP_H

#include <stddef.h>
#include <stdint.h>

struct web_map;

/* A new empty map.  `seed` perturbs the hash so that keys chosen by a client (IP
 * addresses) cannot be aimed at one bucket; pass a random value.  NULL on ENOMEM. */
struct web_map *web_map_new(uint64_t seed);
/* Free the map and its copies of the keys (values are the caller's).  NULL-safe;
 * sets *mp = NULL. */
void web_map_free(struct web_map **mp);
/* The value stored under `key`, or NULL. */
void *web_map_get(const struct web_map *m, const char *key);
/* Store `val` (not NULL) under `key` (copied), replacing any earlier value.
 * Returns GW_OK or GW_ENOMEM. */
int web_map_put(struct web_map *m, const char *key, void *val);
/* Remove `key`; returns the value it had, or NULL.  The table shrinks as entries go. */
void *web_map_del(struct web_map *m, const char *key);
/* Number of entries. */
size_t web_map_count(const struct web_map *m);
/* Slots allocated (8 bytes each, plus the entries); for tests. */
size_t web_map_slots(const struct web_map *m);
/* Call fn for every entry (any order).  When fn returns 1 the entry is removed (after the
 * call; fn may free the value).  fn must not otherwise change the map. */
void web_map_each(struct web_map *m, int (*fn)(void *arg, const char *key, void *val), void *arg);

#endif

/* hashmap.h — string-keyed hash map (open addressing) for in-memory indexes.  Its table
 * grows with the entries and shrinks again when they are deleted. */
#ifndef GW_HASHMAP_H
#define GW_HASHMAP_H

#include <stddef.h>

struct gw_map;

/* New empty map; NULL on allocation failure. */
struct gw_map *gw_map_new(void);
/* Free the map (not the values).  NULL-safe; sets *mp = NULL. */
void gw_map_free(struct gw_map **mp);
/* Insert or replace; the key is copied.  Returns 0 or -1 (out of memory). */
int gw_map_set(struct gw_map *m, const char *key, void *value);
/* The value for key, or NULL. */
void *gw_map_get(const struct gw_map *m, const char *key);
/* Remove key (no-op when absent); may shrink the table (pointers from gw_map_get stay
 * valid: they are the caller's values). */
void gw_map_del(struct gw_map *m, const char *key);
size_t gw_map_count(const struct gw_map *m);
/* Slots allocated (memory is about 24 bytes each plus the keys); for tests. */
size_t gw_map_capacity(const struct gw_map *m);
/* Visit every entry; stop when fn returns non-zero.  Do not modify the map meanwhile. */
void gw_map_each(const struct gw_map *m, int (*fn)(void *arg, const char *key, void *value),
                 void *arg);

#endif

/* map: open-addressing hash maps with string or 64-bit keys.
 *
 * Used by handlers (accounts by JID, sessions by JID) and the kernel
 * (connections by id). Pure: no I/O, so handlers may use it. Values are
 * opaque pointers the caller owns; the map owns its copies of string keys.
 * Iteration order is the slot order: never rely on it for anything that
 * reaches the journal or the wire unsorted (replay must be exact, and slot
 * order depends on insertion history). */
#ifndef STANZAD_MAP_H
#define STANZAD_MAP_H

#include <stddef.h>
#include <stdint.h>

struct map_slot {
    char *skey;     /* string maps */
    uint64_t ukey;  /* u64 maps */
    void *val;
    uint8_t state;  /* 0 empty, 1 used, 2 deleted */
};

struct map {
    struct map_slot *slots;
    size_t cap;   /* power of two, or 0 */
    size_t len;   /* used slots */
    size_t dead;  /* deleted slots */
    int strkeys;
};

void map_init_str(struct map *m);
void map_init_u64(struct map *m);
/* Frees the map's memory (and string keys), not the values. */
void map_free(struct map *m);

void *map_get(const struct map *m, const char *key);
/* Inserts or replaces; returns the previous value or NULL. key is copied. */
void *map_put(struct map *m, const char *key, void *val);
/* Removes; returns the value or NULL. */
void *map_del(struct map *m, const char *key);

void *map_uget(const struct map *m, uint64_t key);
void *map_uput(struct map *m, uint64_t key, void *val);
void *map_udel(struct map *m, uint64_t key);

/* Iteration: for (size_t i = 0; map_next(m, &i, &slot);) ... Do not
 * insert while iterating; deleting the current slot is fine. */
int map_next(const struct map *m, size_t *i, const struct map_slot **slot /* OUT */);

/* The string keys in byte order, for deterministic output. Returns an
 * array of borrowed pointers the caller frees with free(). */
const char **map_sorted_keys(const struct map *m, size_t *n /* OUT */);

#endif

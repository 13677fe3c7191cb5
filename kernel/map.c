/* map: see map.h. Linear probing, FNV-1a for strings, a 64-bit mixer for
 * ids; grows at 3/4 load counting tombstones. */
#include "kernel/map.h"

#include <stdlib.h>
#include <string.h>

#include "kernel/mem.h"

enum { SLOT_EMPTY = 0, SLOT_USED = 1, SLOT_DEAD = 2 };

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static uint64_t hash_u64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

static void map_init(struct map *m, int strkeys)
{
    memset(m, 0, sizeof *m);
    m->strkeys = strkeys;
}

void map_init_str(struct map *m) { map_init(m, 1); }
void map_init_u64(struct map *m) { map_init(m, 0); }

void map_free(struct map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].state == SLOT_USED)
            free(m->slots[i].skey);
    free(m->slots);
    map_init(m, m->strkeys);
}

static int slot_matches(const struct map *m, const struct map_slot *s, const char *skey, uint64_t ukey)
{
    if (s->state != SLOT_USED)
        return 0;
    return m->strkeys ? strcmp(s->skey, skey) == 0 : s->ukey == ukey;
}

/* Returns the slot holding the key, or NULL. */
static struct map_slot *find(const struct map *m, const char *skey, uint64_t ukey)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    size_t i = (size_t)(m->strkeys ? hash_str(skey) : hash_u64(ukey)) & mask;
    for (size_t probes = 0; probes < m->cap; probes++, i = (i + 1) & mask) {
        struct map_slot *s = &m->slots[i];
        if (s->state == SLOT_EMPTY)
            return NULL;
        if (slot_matches(m, s, skey, ukey))
            return s;
    }
    return NULL;
}

static void insert_new(struct map *m, char *skey, uint64_t ukey, void *val)
{
    size_t mask = m->cap - 1;
    size_t i = (size_t)(m->strkeys ? hash_str(skey) : hash_u64(ukey)) & mask;
    while (m->slots[i].state == SLOT_USED)
        i = (i + 1) & mask;
    if (m->slots[i].state == SLOT_DEAD)
        m->dead--;
    m->slots[i] = (struct map_slot){.skey = skey, .ukey = ukey, .val = val, .state = SLOT_USED};
    m->len++;
}

static void grow(struct map *m)
{
    struct map_slot *old = m->slots;
    size_t oldcap = m->cap;
    size_t cap = oldcap ? oldcap : 16;
    if ((m->len + 1) * 2 > cap) /* mostly live: double; else just drop tombstones */
        cap *= 2;
    m->slots = xcalloc(cap, sizeof *m->slots);
    m->cap = cap;
    m->len = 0;
    m->dead = 0;
    for (size_t i = 0; i < oldcap; i++)
        if (old[i].state == SLOT_USED)
            insert_new(m, old[i].skey, old[i].ukey, old[i].val);
    free(old);
}

static void *put(struct map *m, const char *skey, uint64_t ukey, void *val)
{
    struct map_slot *s = find(m, skey, ukey);
    if (s) {
        void *prev = s->val;
        s->val = val;
        return prev;
    }
    if ((m->len + m->dead + 1) * 4 > m->cap * 3)
        grow(m);
    insert_new(m, m->strkeys ? xstrdup(skey) : NULL, ukey, val);
    return NULL;
}

static void *del(struct map *m, const char *skey, uint64_t ukey)
{
    struct map_slot *s = find(m, skey, ukey);
    if (!s)
        return NULL;
    void *val = s->val;
    free(s->skey);
    s->skey = NULL;
    s->val = NULL;
    s->state = SLOT_DEAD;
    m->len--;
    m->dead++;
    return val;
}

void *map_get(const struct map *m, const char *key)
{
    struct map_slot *s = find(m, key, 0);
    return s ? s->val : NULL;
}
void *map_put(struct map *m, const char *key, void *val) { return put(m, key, 0, val); }
void *map_del(struct map *m, const char *key) { return del(m, key, 0); }

void *map_uget(const struct map *m, uint64_t key)
{
    struct map_slot *s = find(m, NULL, key);
    return s ? s->val : NULL;
}
void *map_uput(struct map *m, uint64_t key, void *val) { return put(m, NULL, key, val); }
void *map_udel(struct map *m, uint64_t key) { return del(m, NULL, key); }

int map_next(const struct map *m, size_t *i, const struct map_slot **slot)
{
    for (; *i < m->cap; (*i)++) {
        if (m->slots[*i].state == SLOT_USED) {
            *slot = &m->slots[(*i)++];
            return 1;
        }
    }
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

const char **map_sorted_keys(const struct map *m, size_t *n)
{
    const char **keys = xmalloc((m->len ? m->len : 1) * sizeof *keys);
    size_t k = 0;
    const struct map_slot *s;
    for (size_t i = 0; map_next(m, &i, &s);)
        keys[k++] = s->skey;
    qsort(keys, k, sizeof *keys, cmp_str);
    *n = k;
    return keys;
}

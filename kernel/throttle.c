/* throttle: see throttle.h. Fixed windows: simple, and a burst at a
 * window edge can at most double the rate, which is fine for this job. */
#include "kernel/throttle.h"

#include <stdlib.h>

#include "kernel/mem.h"

struct throttle_entry {
    int64_t window_start_us;
    uint32_t count;
};

void throttle_init(struct throttle *t, uint32_t limit, int64_t window_us)
{
    map_init_str(&t->by_key);
    t->limit = limit;
    t->window_us = window_us;
}

void throttle_free(struct throttle *t)
{
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&t->by_key, &i, &slot);)
        free(slot->val);
    map_free(&t->by_key);
}

/* Drops expired windows when the table is full, so memory stays bounded. */
static void throttle_prune(struct throttle *t, int64_t now_us)
{
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&t->by_key, &i, &slot);) {
        struct throttle_entry *e = slot->val;
        if (now_us - e->window_start_us >= t->window_us || t->by_key.len >= THROTTLE_KEYS_MAX)
            free(map_del(&t->by_key, slot->skey));
    }
}

int throttle_blocked(struct throttle *t, const char *key, int64_t now_us)
{
    struct throttle_entry *e = map_get(&t->by_key, key);
    if (!t->limit || !e)
        return 0;
    if (now_us - e->window_start_us >= t->window_us)
        return 0;
    return e->count >= t->limit;
}

void throttle_hit(struct throttle *t, const char *key, int64_t now_us)
{
    if (!t->limit)
        return;
    struct throttle_entry *e = map_get(&t->by_key, key);
    if (!e) {
        if (t->by_key.len >= THROTTLE_KEYS_MAX)
            throttle_prune(t, now_us);
        e = xcalloc(1, sizeof *e);
        e->window_start_us = now_us;
        map_put(&t->by_key, key, e);
    }
    if (now_us - e->window_start_us >= t->window_us) {
        e->window_start_us = now_us;
        e->count = 0;
    }
    e->count++;
}

void throttle_clear(struct throttle *t, const char *key) { free(map_del(&t->by_key, key)); }

/* throttle: counts events per key (an IP address) in a fixed window, to
 * slow down password guessing and registration floods. Kernel only. */
#ifndef STANZAD_THROTTLE_H
#define STANZAD_THROTTLE_H

#include <stdint.h>

#include "kernel/map.h"

/* Keys tracked at once; past it expired windows are dropped, then any. */
#define THROTTLE_KEYS_MAX 100000

struct throttle {
    struct map by_key; /* key -> struct throttle_entry */
    uint32_t limit;    /* events allowed per window (0: no limit) */
    int64_t window_us;
};

void throttle_init(struct throttle *t, uint32_t limit, int64_t window_us);
void throttle_free(struct throttle *t);
/* 1 if key has reached the limit in its current window. */
int throttle_blocked(struct throttle *t, const char *key, int64_t now_us);
/* Counts one event for key. */
void throttle_hit(struct throttle *t, const char *key, int64_t now_us);
/* Forgets key (e.g. after a successful login). */
void throttle_clear(struct throttle *t, const char *key);

#endif

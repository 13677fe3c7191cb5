/* offline: see offline.h. PLACEHOLDER: being written. */
#include "handlers/offline/offline.h"

#include <stdlib.h>

#include "kernel/mem.h"

static void *create(void) { return xcalloc(1, 1); }
static void destroy(void *state) { free(state); }
static int apply(void *state, const struct event *ev, struct effects *out)
{
    (void)state;
    (void)ev;
    (void)out;
    return H_PASS;
}

const struct handler offline_handler = {
    .name = "offline",
    .wants = 0,
    .create = create,
    .destroy = destroy,
    .apply = apply,
};

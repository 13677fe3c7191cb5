/* last: see last.h. PLACEHOLDER: being written. */
#include "handlers/last/last.h"

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

const struct handler last_handler = {
    .name = "last",
    .wants = 0,
    .create = create,
    .destroy = destroy,
    .apply = apply,
};

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

struct event *offline_ev_store(const char *bare, const struct xnode *msg)
{
    struct event *ev = event_new(EV_OFFLINE_STORE, ORIGIN_SERVER, 0, bare, NULL);
    xml_set_attr(ev->body, "jid", bare);
    xml_append(ev->body, xml_copy(msg));
    return ev;
}

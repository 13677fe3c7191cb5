/* fuzz_event_decode: the journal payload decoder (kernel/event.c and
 * kernel/xml_bin.c). Any bytes either decode to an event that encodes
 * back to the same bytes, or are refused; never a crash or a leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/event.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int err = 0;
    struct event *ev = event_decode(1, 0, EV_STANZA, data, size, &err);
    if (!ev)
        return 0;
    struct buf b;
    buf_init(&b);
    event_encode(ev, &b);
    struct event *again = event_decode(1, 0, EV_STANZA, b.p, b.len, &err);
    if (!again || !xml_equal(again->body, ev->body) || strcmp(again->subject, ev->subject) != 0)
        abort();
    event_free(again);
    event_free(ev);
    buf_free(&b);
    return 0;
}

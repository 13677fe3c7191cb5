/* replay: rebuild handler state from the journal. The same dispatcher the
 * live server uses applies each record in order; effects are handed to a
 * callback (replay-as-test compares them) or dropped (server start). */
#ifndef STANZAD_REPLAY_H
#define STANZAD_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"
#include "journal/journal.h"
#include "kernel/dispatch.h"

/* Called with each event and its effects; may be NULL. */
typedef void (*replay_effects_cb)(void *arg, const struct event *ev, const struct effects *fx);

/* Applies every journal record with seq >= from to d. Returns the number
 * of events applied (>= 0) or a negative code with a reason in errbuf
 * (a record that does not decode is damage: it stops the replay). */
int64_t replay_journal(struct journal *j, struct dispatch *d, uint64_t from, replay_effects_cb cb,
                       void *arg, char *errbuf, size_t errlen);

#endif

/* dispatch: hands an event to the handlers, in registry order, and
 * collects their effects. The same code runs live (kernel/bus.c) and on
 * replay (replay/), which is what makes replay exact.
 * Pure, like the handlers: checked by tests/purity.sh. */
#ifndef STANZAD_DISPATCH_H
#define STANZAD_DISPATCH_H

#include "handlers/handler.h"

struct dispatch;

/* Creates every handler's empty state. Free with dispatch_free(). */
struct dispatch *dispatch_new(void);
void dispatch_free(struct dispatch *d);

/* Applies ev to every handler that wants it (see handlers/handler.h for
 * the rules) and appends the effects to out. Events must come in
 * sequence order; returns 0, or -ERR_SEQ for an event out of order
 * (nothing is applied then). */
int dispatch_event(struct dispatch *d, const struct event *ev, struct effects *out);

/* The state of a handler by name (for read-only kernel lookups such as
 * SASL credentials), or NULL. */
const void *dispatch_state(const struct dispatch *d, const char *name);

/* 1 while some handler keeps the content of event seq (handler.holds). */
int dispatch_holds(const struct dispatch *d, uint64_t seq);

/* Counts event seq as applied without applying it: its content was
 * erased (journal/erasure.h), so no handler can see it. Same order rule
 * as dispatch_event. */
int dispatch_skip(struct dispatch *d, uint64_t seq);

/* Sequence number of the last event applied (0: none). */
uint64_t dispatch_last_seq(const struct dispatch *d);

/* Snapshot of every durable handler: u8 version, varint last seq, then
 * sections (str name, bytes content): "server-started" first when one
 * was applied (the last one: varint seq, u64 time_us, tree body), then
 * each durable handler's state in registry order (doc/formats/snapshot.md,
 * "State"). Decoding replaces the durable states, sets the last sequence
 * and hands that server-started to every handler's settings(). */
void dispatch_encode(const struct dispatch *d, struct buf *out);
int dispatch_decode(struct dispatch *d, const uint8_t *p, size_t n);

#endif

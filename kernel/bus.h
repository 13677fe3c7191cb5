/* bus: where an input becomes an event, is made durable, and is applied.
 *
 *   bus_submit(ev)  stamp time, encode, journal_append (loop thread)
 *   uv_prepare      once per loop turn: seal the open batch and commit it
 *                   on a libuv worker (group commit: one fsync per batch)
 *   after commit    dispatch each event in order; carry out its effects
 *
 * Nobody outside sees an event's effects before the event is durable. If
 * a commit fails, the batch's events are refused (never applied, never
 * acknowledged) and so is every later event until restart. */
#ifndef STANZAD_BUS_H
#define STANZAD_BUS_H

#include <stdint.h>

#include <uv.h>

#include "handlers/handler.h"
#include "journal/journal.h"
#include "kernel/dispatch.h"

struct bus_ops {
    /* Carries out the effects of one applied event. */
    void (*exec)(void *arg, const struct event *ev, struct effects *fx);
    /* Tells the origin of ev that it was refused with err (journal
     * failure); no effect of ev will ever be seen. */
    void (*refuse)(void *arg, const struct event *ev, int err);
    /* Sends what exec queued for connections (optional). Called before a
     * batch is sealed for commit: what the effects of applied events wrote
     * must reach the sockets before a later decision can be durable (an
     * offline message before its tombstone). */
    void (*flush)(void *arg);
};

struct bus;

/* d and j are borrowed for the bus's life. */
struct bus *bus_new(uv_loop_t *loop, struct journal *j, struct dispatch *d,
                    const struct bus_ops *ops, void *arg);
/* Closes the bus's handles; call once it is idle. */
void bus_close(struct bus *b);
void bus_free(struct bus *b);

/* Takes ownership of ev. Its effects are carried out later, once durable. */
void bus_submit(struct bus *b, struct event *ev);
/* 1 when nothing is waiting or being committed. */
int bus_idle(const struct bus *b);
/* 1 once a commit has failed. */
int bus_readonly(const struct bus *b);
/* Sequence number of the last applied event. */
uint64_t bus_applied_seq(const struct bus *b);
/* Events applied, batches committed since start (for status). */
void bus_stats(const struct bus *b, uint64_t *events /* OUT */, uint64_t *batches /* OUT */);
/* Destroys the data key of every sealed record no handler holds any more
 * (crypto-erasure; see journal/erasure.h). The bus does this after each
 * event; the server calls it once after replay, for keys a crash left
 * behind. Returns how many were destroyed. */
size_t bus_erase_released(struct journal *j, const struct dispatch *d);

/* Called when the bus becomes idle (for shutdown); NULL to clear. */
void bus_on_idle(struct bus *b, void (*cb)(void *arg), void *arg);

#endif

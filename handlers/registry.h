/* registry: the one table of handlers. Its order is the dispatch order and
 * part of what a journal means on replay: append new handlers, and never
 * reorder without a journal format version bump. */
#ifndef STANZAD_REGISTRY_H
#define STANZAD_REGISTRY_H

#include <stddef.h>

#include "handlers/handler.h"

extern const struct handler *const handlers[];
extern const size_t handlers_count;

/* Index of the handler with this name, or -1. */
int registry_find(const char *name);

#endif

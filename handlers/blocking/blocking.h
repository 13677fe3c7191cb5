/* blocking: blocking command (XEP-0191). PLACEHOLDER: being written. */
#ifndef STANZAD_BLOCKING_H
#define STANZAD_BLOCKING_H

#include "handlers/handler.h"

extern const struct handler blocking_handler;

#endif

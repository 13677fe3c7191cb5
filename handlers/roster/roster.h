/* roster: rosters and subscriptions (RFC 6121 §2, §3). PLACEHOLDER: being written. */
#ifndef STANZAD_ROSTER_H
#define STANZAD_ROSTER_H

#include "handlers/handler.h"

extern const struct handler roster_handler;

#endif

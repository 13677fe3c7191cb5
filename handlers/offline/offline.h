/* offline: offline messages (XEP-0160). PLACEHOLDER: being written. */
#ifndef STANZAD_OFFLINE_H
#define STANZAD_OFFLINE_H

#include "handlers/handler.h"

extern const struct handler offline_handler;

#endif

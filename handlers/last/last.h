/* last: last activity (XEP-0012). PLACEHOLDER: being written. */
#ifndef STANZAD_LAST_H
#define STANZAD_LAST_H

#include "handlers/handler.h"

extern const struct handler last_handler;

#endif

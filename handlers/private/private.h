/* private: private XML storage (XEP-0049). PLACEHOLDER: being written. */
#ifndef STANZAD_PRIVATE_H
#define STANZAD_PRIVATE_H

#include "handlers/handler.h"

extern const struct handler private_handler;

#endif

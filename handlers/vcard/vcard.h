/* vcard: vcard-temp (XEP-0054). PLACEHOLDER: being written. */
#ifndef STANZAD_VCARD_H
#define STANZAD_VCARD_H

#include "handlers/handler.h"

extern const struct handler vcard_handler;

#endif

/* registry: see registry.h. A new handler is one folder and one row. */
#include "handlers/registry.h"

#include <string.h>

#include "handlers/accounts/accounts.h"
#include "handlers/audit/audit.h"
#include "handlers/blocking/blocking.h"
#include "handlers/last/last.h"
#include "handlers/muc/muc.h"
#include "handlers/offline/offline.h"
#include "handlers/private/private.h"
#include "handlers/roster/roster.h"
#include "handlers/vcard/vcard.h"
#include "handlers/serverinfo/serverinfo.h"
#include "handlers/sessions/sessions.h"

const struct handler *const handlers[] = {
    &accounts_handler,   /* accounts, in-band registration (XEP-0077) */
    &blocking_handler,   /* block lists (XEP-0191): first, so blocked JIDs get nothing */
    &roster_handler,     /* rosters, subscriptions, presence to contacts (RFC 6121) */
    &vcard_handler,      /* vcard-temp (XEP-0054) */
    &private_handler,    /* private XML storage (XEP-0049) */
    &last_handler,       /* last activity (XEP-0012) */
    &offline_handler,    /* offline messages (XEP-0160) */
    &muc_handler,        /* group chat service on chat.<domain> (XEP-0045) */
    &sessions_handler,   /* bound resources, presence, carbons; delivery to local users */
    &serverinfo_handler, /* disco, version, ping, time: stateless answers */
    &audit_handler,      /* timeline of state changes (stanzactl audit) */
};

const size_t handlers_count = sizeof handlers / sizeof handlers[0];

int registry_find(const char *name)
{
    for (size_t i = 0; i < handlers_count; i++)
        if (strcmp(handlers[i]->name, name) == 0)
            return (int)i;
    return -1;
}

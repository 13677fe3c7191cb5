/* registry: see registry.h. A new handler is one folder and one row. */
#include "handlers/registry.h"

#include <string.h>

#include "handlers/accounts/accounts.h"
#include "handlers/audit/audit.h"
#include "handlers/serverinfo/serverinfo.h"
#include "handlers/sessions/sessions.h"

const struct handler *const handlers[] = {
    &accounts_handler,   /* accounts, in-band registration (XEP-0077) */
    &sessions_handler,   /* bound resources; routing to local users */
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

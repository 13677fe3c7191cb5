/* jid: parse and normalise Jabber IDs.
 *
 * RFC 6122 stringprep profiles through GNU libidn (Nodeprep, Nameprep,
 * Resourceprep), as Prosody and ejabberd do, so a JID compares equal here
 * exactly when it does on the servers we federate with; doc/jid.md says
 * why this and not RFC 7622 PRECIS. Domains: IDNA ToASCII-compatible
 * labels checked, IPv4/IPv6 literals accepted, trailing dot removed.
 * Every part is limited to 1023 bytes after preparation (RFC 6122 §2). */
#ifndef STANZAD_JID_H
#define STANZAD_JID_H

#include <stddef.h>

#define JID_PART_MAX 1023
/* local@domain/resource, each part prepared, plus separators and NUL. */
#define JID_MAX (3 * JID_PART_MAX + 3)

struct jid {
    char local[JID_PART_MAX + 1];    /* "" when absent */
    char domain[JID_PART_MAX + 1];   /* never empty in a valid JID */
    char resource[JID_PART_MAX + 1]; /* "" when absent */
};

/* Parses and prepares s. Returns 0, or -ERR_JID when any part is empty
 * where present ("@d", "l@/r"), too long, or fails its profile. */
int jid_parse(struct jid *out /* OUT */, const char *s);
/* Writes "local@domain/resource" (parts omitted when empty). */
void jid_full(const struct jid *j, char out[JID_MAX]);
/* Writes "local@domain" or "domain". */
void jid_bare(const struct jid *j, char out[JID_MAX]);
/* Prepares one part; returns 0 or -ERR_JID. out has JID_PART_MAX + 1 bytes. */
int jid_nodeprep(const char *in, char *out);
int jid_nameprep(const char *in, char *out);
int jid_resourceprep(const char *in, char *out);
/* Normalises s into out (full form); returns 0 or -ERR_JID. */
int jid_normalize(const char *s, char out[JID_MAX]);

#endif

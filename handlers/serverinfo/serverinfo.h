/* serverinfo: the server's stateless answers to IQs addressed to it:
 * service discovery (XEP-0030), software version (XEP-0092), ping
 * (XEP-0199), entity time (XEP-0202) and the legacy session request
 * (RFC 3921 §3, accepted as a no-op per RFC 6121 Appendix E).
 * Volatile: holds only the domain and version from EV_SERVER_STARTED.
 * Pure: the time it reports is the event's timestamp. */
#ifndef STANZAD_SERVERINFO_H
#define STANZAD_SERVERINFO_H

#include "handlers/handler.h"

#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_VERSION "jabber:iq:version"
#define NS_PING "urn:xmpp:ping"
#define NS_TIME "urn:xmpp:time"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

extern const struct handler serverinfo_handler;

#endif

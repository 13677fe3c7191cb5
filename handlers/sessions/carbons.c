/* carbons: Message Carbons (XEP-0280 1.0.1): enabling per resource
 * (§4, §5), which messages are copied (§6.1), and the <sent/> and
 * <received/> copies themselves (§6, §7).
 *
 * §6.1 leaves the rules to the server and suggests a set; we follow it:
 * a message is eligible unless it carries <private xmlns='urn:xmpp:carbons:2'/>
 * or the XEP-0334 <no-copy/> hint, and if it is of type chat, or of type
 * normal (or no or unknown type) with a <body/> or an IM payload
 * (XEP-0085 chat states, XEP-0184 receipts, XEP-0333 markers). Never
 * eligible: groupchat; headline; error (the suggested "error in reply to
 * an eligible message" needs per-message tracking we do not keep); a
 * message that is itself a carbon (no copies of copies); and, received
 * only, a private message from a MUC occupant (<x xmlns=muc#user/>),
 * since the user's other clients are not in that room. */
#include <stdlib.h>
#include <string.h>

#include "handlers/sessions/sessions_int.h"
#include "kernel/mem.h"

#define NS_MUC_USER "http://jabber.org/protocol/muc#user"

int carbons_is_toggle(const struct xnode *st)
{
    if (strcmp(st->name, "iq") != 0 || !stanza_type_is(st, "set"))
        return 0;
    const struct xnode *c = xml_first_elem(st);
    return c && strcmp(c->ns, NS_CARBONS) == 0 &&
           (strcmp(c->name, "enable") == 0 || strcmp(c->name, "disable") == 0);
}

void carbons_toggle(struct session *se, const struct event *ev, struct effects *out)
{
    const struct xnode *c = xml_first_elem(ev->body);
    se->carbons = strcmp(c->name, "enable") == 0; /* §10.1: repeats are no-ops */
    fx_stanza(out, ev->origin, stanza_reply(ev->body, "result"));
}

static int has_im_payload(const struct xnode *msg)
{
    static const char *const ns[] = {
        "http://jabber.org/protocol/chatstates", /* XEP-0085 */
        "urn:xmpp:receipts",                     /* XEP-0184 */
        "urn:xmpp:chat-markers:0",               /* XEP-0333 */
    };
    for (const struct xnode *c = xml_first_elem(msg); c; c = xml_next_elem(c))
        for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
            if (strcmp(c->ns, ns[i]) == 0)
                return 1;
    return 0;
}

int carbons_eligible(const struct xnode *msg, int inbound)
{
    if (xml_child(msg, "private", NS_CARBONS) || xml_child(msg, "no-copy", NS_HINTS))
        return 0;
    if (xml_child(msg, "sent", NS_CARBONS) || xml_child(msg, "received", NS_CARBONS))
        return 0;
    if (stanza_type_is(msg, "groupchat") || stanza_type_is(msg, "headline") ||
        stanza_type_is(msg, "error"))
        return 0;
    if (inbound && xml_child(msg, "x", NS_MUC_USER))
        return 0;
    if (stanza_type_is(msg, "chat"))
        return 1;
    return xml_child(msg, "body", NULL) != NULL || has_im_payload(msg);
}

/* <message from=bare to=full type=chat><wrapper xmlns=carbons>
 * <forwarded xmlns=forward:0>msg</forwarded></wrapper></message> (§6, §7) */
static struct xnode *carbon(const char *bare, const char *to, const struct xnode *msg,
                            const char *wrapper)
{
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "from", bare);
    xml_set_attr(m, "to", to);
    xml_set_attr(m, "type", "chat");
    struct xnode *fwd = xml_add(xml_add(m, wrapper, NS_CARBONS), "forwarded", NS_FORWARD);
    struct xnode *copy = xml_copy(msg);
    if (strcmp(copy->ns, NS_CLIENT) != 0) { /* XEP-0297: the original, as jabber:client */
        free(copy->ns);
        copy->ns = xstrdup(NS_CLIENT);
    }
    xml_append(fwd, copy);
    return m;
}

void carbons_copy(const struct account_sessions *as, const char *bare, const struct xnode *msg,
                  const char *wrapper, struct session *const *skip, size_t nskip,
                  struct effects *out)
{
    for (size_t i = 0; as && i < as->n; i++) {
        const struct session *se = as->v[i];
        int skipped = 0;
        for (size_t k = 0; k < nskip; k++)
            skipped |= skip[k] == se;
        if (skipped || !se->available || !se->carbons)
            continue;
        fx_stanza(out, se->conn, carbon(bare, se->full, msg, wrapper));
    }
}

/* disco: what the service and its rooms say about themselves (XEP-0045
 * §6, XEP-0030), and IQs to occupants: self-ping (XEP-0410) answered by
 * the service, anything else passed between occupants (§7.? IQ
 * forwarding) from room/nick to the other's real JID. */
#include <stdlib.h>
#include <string.h>

#include "handlers/muc/form.h"
#include "handlers/muc/muc_int.h"
#include "kernel/jid.h"

#define NS_SELF_PING "http://jabber.org/protocol/muc#self-ping-optimization"

static const struct xnode *request_query(const struct xnode *st, const char *type,
                                         const char *ns)
{
    const char *t = xml_attr(st, "type");
    if (!t || strcmp(t, type) != 0)
        return NULL;
    const struct xnode *q = xml_first_elem(st);
    return q && q->ns && strcmp(q->ns, ns) == 0 ? q : NULL;
}

static void add_feature(struct xnode *q, const char *var)
{
    xml_set_attr(xml_add(q, "feature", NULL), "var", var);
}

static void add_identity(struct xnode *q, const char *name)
{
    struct xnode *id = xml_add(q, "identity", NULL);
    xml_set_attr(id, "category", "conference");
    xml_set_attr(id, "type", "text");
    xml_set_attr(id, "name", name);
}

/* A request with a node (XEP-0030 §3.2) names something we do not have. */
static int has_node(const struct xnode *q) { return xml_attr(q, "node") != NULL; }

int muc_iq_service(struct muc_state *s, const struct event *ev, const struct xnode *st,
                   struct effects *out)
{
    (void)ev;
    const struct xnode *q;
    if ((q = request_query(st, "get", NS_DISCO_INFO))) {
        if (has_node(q))
            return stanza_err(STANZA_ITEM_NOT_FOUND);
        struct xnode *reply = stanza_reply(st, "result");
        struct xnode *rq = xml_add(reply, "query", NS_DISCO_INFO);
        add_identity(rq, "Chatrooms");
        add_feature(rq, NS_DISCO_INFO);
        add_feature(rq, NS_DISCO_ITEMS);
        add_feature(rq, NS_MUC);
        add_feature(rq, NS_SELF_PING);
        add_feature(rq, NS_PING);
        fx_route(out, reply);
        return 0;
    }
    if ((q = request_query(st, "get", NS_DISCO_ITEMS))) {
        if (has_node(q))
            return stanza_err(STANZA_ITEM_NOT_FOUND);
        struct xnode *reply = stanza_reply(st, "result");
        struct xnode *rq = xml_add(reply, "query", NS_DISCO_ITEMS);
        size_t n;
        const char **names = map_sorted_keys(&s->rooms, &n);
        for (size_t i = 0; i < n; i++) {
            const struct room *r = map_get(&s->rooms, names[i]);
            if (!r->cfg.public_ || r->locked)
                continue;
            struct xnode *it = xml_add(rq, "item", NULL);
            xml_set_attr(it, "jid", r->jid);
            xml_set_attr(it, "name", *r->cfg.name ? r->cfg.name : r->name);
        }
        free(names);
        fx_route(out, reply);
        return 0;
    }
    if (request_query(st, "get", NS_PING)) {
        fx_route(out, stanza_reply(st, "result"));
        return 0;
    }
    const char *t = xml_attr(st, "type");
    if (t && (strcmp(t, "result") == 0 || strcmp(t, "error") == 0))
        return 0;
    return stanza_err(STANZA_SERVICE_UNAVAILABLE);
}

static void room_features(const struct room *r, struct xnode *q)
{
    const struct room_config *c = &r->cfg;
    add_feature(q, NS_MUC);
    add_feature(q, c->public_ ? "muc_public" : "muc_hidden");
    add_feature(q, c->persistent ? "muc_persistent" : "muc_temporary");
    add_feature(q, c->members_only ? "muc_membersonly" : "muc_open");
    add_feature(q, c->moderated ? "muc_moderated" : "muc_unmoderated");
    add_feature(q, c->whois == WHOIS_ANYONE ? "muc_nonanonymous" : "muc_semianonymous");
    add_feature(q, c->password_protected ? "muc_passwordprotected" : "muc_unsecured");
    add_feature(q, NS_DISCO_INFO);
    add_feature(q, NS_SELF_PING);
}

int muc_iq_room_disco(struct muc_state *s, const struct event *ev, const struct xnode *st,
                      struct room *r, struct effects *out)
{
    (void)s;
    (void)ev;
    const struct xnode *q;
    char bare[JID_MAX];
    muc_bare_of(xml_attr(st, "from"), bare);
    /* §10.1: until configured, a new room exists only for its owner. */
    if (r->locked && room_affil(r, bare) != AFFIL_OWNER)
        return stanza_err(STANZA_ITEM_NOT_FOUND);
    if ((q = request_query(st, "get", NS_DISCO_INFO))) {
        if (has_node(q))
            return stanza_err(STANZA_ITEM_NOT_FOUND);
        struct xnode *reply = stanza_reply(st, "result");
        struct xnode *rq = xml_add(reply, "query", NS_DISCO_INFO);
        add_identity(rq, *r->cfg.name ? r->cfg.name : r->name);
        room_features(r, rq);
        xml_append(rq, muc_roominfo_form(r, r->nocc));
        fx_route(out, reply);
        return 0;
    }
    if ((q = request_query(st, "get", NS_DISCO_ITEMS))) {
        /* §6.5: the occupant list is not given to the world. */
        struct xnode *reply = stanza_reply(st, "result");
        xml_add(reply, "query", NS_DISCO_ITEMS);
        fx_route(out, reply);
        return 0;
    }
    const char *t = xml_attr(st, "type");
    if (t && (strcmp(t, "result") == 0 || strcmp(t, "error") == 0))
        return 0;
    return stanza_err(STANZA_SERVICE_UNAVAILABLE);
}

int muc_iq_occupant(struct muc_state *s, const struct event *ev, const struct xnode *st,
                    struct room *r, const char *nick, struct effects *out)
{
    (void)s;
    (void)ev;
    const char *t = xml_attr(st, "type");
    int response = t && (strcmp(t, "result") == 0 || strcmp(t, "error") == 0);
    struct occupant *me = room_occupant_by_real(r, xml_attr(st, "from"));
    if (!me) /* XEP-0410 §3: not joined; and only occupants talk to occupants */
        return response ? 0 : stanza_err(STANZA_NOT_ACCEPTABLE);
    struct occupant *target = room_occupant_by_nick(r, nick);
    if (!target)
        return response ? 0 : stanza_err(STANZA_ITEM_NOT_FOUND);
    if (target == me && request_query(st, "get", NS_PING)) {
        fx_route(out, stanza_reply(st, "result"));
        return 0;
    }
    struct xnode *fwd = xml_copy(st);
    char from[JID_MAX];
    muc_occupant_jid(r, me->nick, from);
    xml_set_attr(fwd, "from", from);
    const char *id = xml_attr(st, "id");
    if (response) { /* back to the client of target's that asked */
        char to[JID_MAX];
        occupant_iq_answer_to(target, id, me->nick, to);
        xml_set_attr(fwd, "to", to);
    } else { /* a request goes to one client: the newest */
        if (id)
            occupant_iq_remember(me, id, target->nick, xml_attr(st, "from"));
        xml_set_attr(fwd, "to", occupant_real(target));
    }
    fx_route(out, fwd);
    return 0;
}

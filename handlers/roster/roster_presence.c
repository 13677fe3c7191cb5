/* roster_presence: subscription presence (RFC 6121 §3, the Appendix A
 * tables in subscription.c plus §3.4 pre-approval), presence to contacts
 * (§4.2-§4.5: broadcast, probes, unavailable when a session ends), and
 * the XEP-0012 §5 gate on last activity. Part of the roster handler; see
 * roster.h. Contacts are visited in JID order so effects are replayable. */
#include <stdlib.h>
#include <string.h>

#include "handlers/roster/roster_internal.h"
#include "handlers/sessions/sessions.h"
#include "kernel/mem.h"

static int parse_bare(const char *jid, char bare[JID_MAX])
{
    struct jid j;
    bare[0] = 0;
    if (!jid || jid_parse(&j, jid))
        return -1;
    jid_bare(&j, bare);
    return 0;
}

/* Routes a copy of st with new addresses. */
static void route_copy(struct effects *out, const struct xnode *st, const char *from,
                       const char *to)
{
    struct xnode *c = xml_copy(st);
    xml_set_attr(c, "from", from);
    xml_set_attr(c, "to", to);
    fx_route(out, c);
}

/* Items with the subscription `has` (sub_has_from or sub_has_to), in
 * JID order; returns a list the caller frees with free(). */
static const struct roster_item **contacts(const struct roster_account *a,
                                           int (*has)(enum sub_state), size_t *n /* OUT */)
{
    size_t all;
    const char **keys = map_sorted_keys(&a->items, &all);
    const struct roster_item **v = xcalloc(all + 1, sizeof *v);
    *n = 0;
    for (size_t i = 0; i < all; i++) {
        const struct roster_item *it = map_get(&a->items, keys[i]);
        if (!has || has(it->state))
            v[(*n)++] = it;
    }
    free(keys);
    return v;
}

/* §3.1.5, §3.4.2: once a contact may see the account's presence it gets
 * the current presence of every available resource. */
static void route_current_presence(const struct roster_account *a, const char *contact,
                                   struct effects *out)
{
    for (size_t i = 0; i < a->nres; i++)
        if (a->res[i]->presence)
            route_copy(out, a->res[i]->presence, a->res[i]->full, contact);
}

/* What a client sees of an item (§2.1.2): Pending In is not shown, so a
 * change of it alone is pushed to no one and keeps the version. */
static int visible(const struct roster_item *it)
{
    if (!it || !it->listed)
        return 0;
    return 1 | (sub_has_from(it->state) << 1) | (sub_has_to(it->state) << 2) |
           (sub_pending_out(it->state) << 3) | (it->approved << 4);
}

/* After a state change: tidies the item, pushes it when its face changed
 * (seen_before: visible() before the change). */
static void item_changed(struct roster_state *s, const struct event *ev,
                         struct roster_account *a, struct roster_item *it, int seen_before,
                         struct effects *out)
{
    if (sub_has_from(it->state))
        it->approved = 0; /* a pre-approval is spent once the contact subscribes */
    if (!sub_pending_in(it->state)) {
        xml_free(it->request);
        it->request = NULL;
    }
    if (it->listed && visible(it) != seen_before)
        roster_push(s, ev, a, it, NULL, out);
}

/* --- outbound: the user's server (A.2, §3.4.1) ------------------------- */

/* §3.4.1: 'subscribed' with no request pending pre-approves in None,
 * None + Pending Out and To, is ignored otherwise, and is never routed. */
static int preapprove(struct roster_state *s, const struct event *ev, struct roster_account *a,
                      struct roster_item *it, const char *contact, struct effects *out)
{
    if (!sub_preapproval_allowed(it ? it->state : SUB_NONE))
        return 0;
    if (!it && !(it = roster_item_add(a, contact)))
        return stanza_err(STANZA_NOT_ALLOWED);
    if (it->approved && it->listed)
        return 0;
    it->approved = 1;
    it->listed = 1;
    roster_push(s, ev, a, it, NULL, out);
    return 0;
}

static int outbound_subscription(struct roster_state *s, const struct event *ev,
                                 enum sub_type t, struct effects *out)
{
    const struct xnode *st = ev->body;
    char bare[JID_MAX], contact[JID_MAX];
    if (!roster_local_bare(s, xml_attr(st, "from"), bare))
        return H_PASS;
    if (parse_bare(xml_attr(st, "to"), contact) || strcmp(contact, bare) == 0)
        return 0; /* no contact, or oneself: nothing to subscribe to */
    struct roster_account *a = roster_account_get(s, bare, 1);
    struct roster_item *it = map_get(&a->items, contact);
    enum sub_state was = it ? it->state : SUB_NONE;
    if (t == SUB_SUBSCRIBED && !sub_pending_in(was))
        return preapprove(s, ev, a, it, contact, out);
    struct sub_step step = sub_transition(SUB_OUTBOUND, t, was);
    int changed = 0, seen = visible(it);
    if (!it && t == SUB_SUBSCRIBE && !(it = roster_item_add(a, contact)))
        return stanza_err(STANZA_NOT_ALLOWED);
    if (t == SUB_UNSUBSCRIBED && it && it->approved) {
        it->approved = 0; /* §3.2.2: cancels a pre-approval, not routed */
        changed = 1;
    }
    if (step.forward && t == SUB_UNSUBSCRIBED && sub_has_from(was))
        roster_route_unavailable_to(a, contact, out);
    if (it && step.next != was) {
        it->state = step.next;
        changed = 1;
    }
    /* §3.1.2, §3.1.5: asking or approving puts the contact in the roster */
    if (it && !it->listed && (t == SUB_SUBSCRIBE || (t == SUB_SUBSCRIBED && step.forward))) {
        it->listed = 1;
        changed = 1;
    }
    if (changed)
        item_changed(s, ev, a, it, seen, out);
    if (step.forward)
        route_copy(out, st, bare, contact);
    if (step.forward && t == SUB_SUBSCRIBED)
        route_current_presence(a, contact, out);
    roster_item_gc(a, it);
    return 0;
}

/* --- inbound: the contact's server (A.3, §3.1.3, §3.4.2) --------------- */

/* A subscribe the account already approved: answered on its behalf. */
static int auto_approve(struct roster_state *s, const struct event *ev, struct roster_account *a,
                        struct roster_item *it, const char *bare, const char *contact,
                        struct effects *out)
{
    if (!sub_has_from(it->state)) { /* §3.4.2: pre-approved */
        int seen = visible(it);
        enum sub_state mid = sub_transition(SUB_INBOUND, SUB_SUBSCRIBE, it->state).next;
        it->state = sub_transition(SUB_OUTBOUND, SUB_SUBSCRIBED, mid).next;
        item_changed(s, ev, a, it, seen, out);
    }
    roster_route_presence(out, "subscribed", bare, contact); /* §3.1.3 step 2 */
    route_current_presence(a, contact, out);
    return 0;
}

static int inbound_subscription(struct roster_state *s, const struct event *ev,
                                enum sub_type t, struct effects *out)
{
    const struct xnode *st = ev->body;
    char bare[JID_MAX], contact[JID_MAX];
    if (!roster_local_bare(s, xml_attr(st, "to"), bare))
        return H_PASS;
    if (parse_bare(xml_attr(st, "from"), contact) || strcmp(contact, bare) == 0)
        return 0;
    struct roster_account *a = roster_account_get(s, bare, 1);
    struct roster_item *it = map_get(&a->items, contact);
    enum sub_state was = it ? it->state : SUB_NONE;
    if (t == SUB_SUBSCRIBE && it &&
        (sub_has_from(was) || (it->approved && sub_preapproval_allowed(was))))
        return auto_approve(s, ev, a, it, bare, contact, out);
    struct sub_step step = sub_transition(SUB_INBOUND, t, was);
    /* §3.1.3: a request from a stranger is recorded, not listed */
    if (!it && step.next != was && !(it = roster_item_add(a, contact)))
        return 0; /* roster full: the request is dropped */
    if (step.forward && t == SUB_UNSUBSCRIBE && sub_has_from(was))
        roster_route_unavailable_to(a, contact, out); /* §3.3.3 */
    if (it && step.forward && t == SUB_SUBSCRIBE) {
        /* §3.1.3: kept and delivered again at every login until answered */
        xml_free(it->request);
        it->request = xml_copy(st);
        xml_set_attr(it->request, "from", contact);
        xml_set_attr(it->request, "to", bare);
    }
    if (it && step.next != was) {
        int seen = visible(it);
        it->state = step.next;
        item_changed(s, ev, a, it, seen, out);
    }
    roster_item_gc(a, it);
    return step.forward ? H_PASS : 0;
}

/* §4.3.2: only a subscriber learns presence from a probe; anyone else is
 * told the subscription is gone, unless it has a request pending here (an
 * 'unsubscribed' would cancel that request at its server). */
static int inbound_probe(struct roster_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    char bare[JID_MAX], contact[JID_MAX];
    if (!roster_local_bare(s, xml_attr(st, "to"), bare))
        return H_PASS;
    if (parse_bare(xml_attr(st, "from"), contact))
        return 0;
    if (strcmp(contact, bare) == 0)
        return H_PASS; /* the account's own server asking */
    struct roster_account *a = roster_account_get(s, bare, 0);
    const struct roster_item *it = a ? map_get(&a->items, contact) : NULL;
    if (it && sub_has_from(it->state))
        return H_PASS;
    if (!(it && sub_pending_in(it->state)))
        roster_route_presence(out, "unsubscribed", bare, contact);
    return 0;
}

/* --- presence broadcast (§4.2, §4.4, §4.5) ----------------------------- */

static void broadcast_to_subscribers(const struct roster_account *a, const struct xnode *st,
                                     const char *full, struct effects *out)
{
    size_t n;
    const struct roster_item **v = contacts(a, sub_has_from, &n);
    for (size_t i = 0; i < n; i++)
        route_copy(out, st, full, v[i]->jid);
    free(v);
}

/* §4.2.2: initial presence probes the contacts the account subscribes to
 * (from its bare JID, §4.3) and brings back the requests still waiting. */
static void initial_presence(const struct event *ev, const struct roster_account *a,
                             const char *bare, struct effects *out)
{
    size_t n;
    const struct roster_item **v = contacts(a, sub_has_to, &n);
    for (size_t i = 0; i < n; i++)
        roster_route_presence(out, "probe", bare, v[i]->jid);
    free(v);
    v = contacts(a, NULL, &n);
    for (size_t i = 0; i < n; i++)
        if (v[i]->request)
            fx_stanza(out, ev->origin, xml_copy(v[i]->request));
    free(v);
}

/* Presence without 'to', available or unavailable: always passed on,
 * the sessions and offline handlers need it too. */
static int broadcast(struct roster_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *full = xml_attr(st, "from");
    const char *type = xml_attr(st, "type");
    char bare[JID_MAX];
    if (!roster_local_bare(s, full, bare) || strcmp(full, bare) == 0)
        return H_PASS;
    struct roster_account *a = roster_account_get(s, bare, 1);
    if (type) { /* unavailable */
        struct roster_resource *r = roster_resource_get(a, full, 0);
        if (r && r->presence) {
            broadcast_to_subscribers(a, st, full, out);
            xml_free(r->presence);
            r->presence = NULL;
            if (!r->interested)
                roster_resource_del(a, r);
        }
        return H_PASS;
    }
    /* RFC 6121 §4.7.2.3: a priority outside -128..127 is a bad request.
     * Roster is the first to act on a broadcast, so it refuses it before
     * anyone (contacts, offline delivery, sessions) has seen it. */
    int prio;
    if (presence_priority(st, &prio))
        return stanza_err(STANZA_BAD_REQUEST);
    struct roster_resource *r = roster_resource_get(a, full, ev->origin);
    if (!r)
        return H_PASS;
    int initial = r->presence == NULL;
    xml_free(r->presence);
    r->presence = xml_copy(st);
    if (initial)
        initial_presence(ev, a, bare, out);
    broadcast_to_subscribers(a, st, full, out);
    return H_PASS;
}

void roster_session_gone(struct roster_state *s, const char *full, uint64_t conn, int bound,
                         struct effects *out)
{
    char bare[JID_MAX];
    if (parse_bare(full, bare))
        return;
    struct roster_account *a = roster_account_get(s, bare, 0);
    struct roster_resource *r = a ? roster_resource_get(a, full, 0) : NULL;
    if (!r || (bound ? r->conn == conn : r->conn != conn))
        return;
    if (r->presence) { /* §4.5.1: ended without unavailable */
        size_t n;
        const struct roster_item **v = contacts(a, sub_has_from, &n);
        for (size_t i = 0; i < n; i++)
            roster_route_presence(out, "unavailable", full, v[i]->jid);
        free(v);
    }
    roster_resource_del(a, r);
}

int roster_presence_apply(struct roster_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *type = xml_attr(st, "type");
    int t = sub_type_parse(type);
    if (stanza_outbound(ev)) {
        if (t >= 0)
            return outbound_subscription(s, ev, (enum sub_type)t, out);
        if (!xml_attr(st, "to") && (!type || strcmp(type, "unavailable") == 0))
            return broadcast(s, ev, out);
        return H_PASS;
    }
    if (t >= 0)
        return inbound_subscription(s, ev, (enum sub_type)t, out);
    if (type && strcmp(type, "probe") == 0)
        return inbound_probe(s, ev, out);
    return H_PASS; /* §4.4.3, §4.5.3: delivered by the sessions handler */
}

/* XEP-0012 §5: an account's last activity is for itself and for contacts
 * it lets see its presence. */
int roster_last_gate(struct roster_state *s, const struct event *ev)
{
    const struct xnode *st = ev->body;
    const char *type = xml_attr(st, "type");
    const char *to = xml_attr(st, "to");
    char bare[JID_MAX], asker[JID_MAX];
    if (!type || strcmp(type, "get") != 0 || !xml_child(st, "query", NS_LAST))
        return H_PASS;
    if (!roster_local_bare(s, to, bare) || strcmp(to, bare) != 0)
        return H_PASS; /* the server, a full JID, or another domain */
    if (parse_bare(xml_attr(st, "from"), asker) == 0 && strcmp(asker, bare) == 0)
        return H_PASS;
    struct roster_account *a = roster_account_get(s, bare, 0);
    const struct roster_item *it = a ? map_get(&a->items, asker) : NULL;
    if (it && sub_has_from(it->state))
        return H_PASS;
    return stanza_err(STANZA_FORBIDDEN);
}

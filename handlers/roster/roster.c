/* roster: see roster.h. This file: the state, roster get/set/remove with
 * pushes and versioning (RFC 6121 §2), account deletion, the snapshot
 * codec. Subscriptions and presence are in roster_presence.c. */
#include "handlers/roster/roster.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/roster/roster_internal.h"
#include "kernel/mem.h"

#define ROSTER_SNAPSHOT_VERSION 1

/* --- state ------------------------------------------------------------ */

static void item_free(struct roster_item *it)
{
    if (!it)
        return;
    for (size_t i = 0; i < it->ngroups; i++)
        free(it->groups[i]);
    free(it->groups);
    free(it->name);
    free(it->jid);
    xml_free(it->request);
    free(it);
}

static void account_free(struct roster_account *a)
{
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&a->items, &i, &slot);)
        item_free(slot->val);
    map_free(&a->items);
    while (a->nres > 0)
        roster_resource_del(a, a->res[a->nres - 1]);
    free(a->res);
    free(a);
}

static void *roster_create(void)
{
    struct roster_state *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup("");
    map_init_str(&s->accounts);
    return s;
}

static void roster_destroy(void *state)
{
    struct roster_state *s = state;
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->accounts, &i, &slot);)
        account_free(slot->val);
    map_free(&s->accounts);
    free(s->domain);
    free(s);
}

struct roster_account *roster_account_get(struct roster_state *s, const char *bare, int create)
{
    struct roster_account *a = map_get(&s->accounts, bare);
    if (!a && create) {
        a = xcalloc(1, sizeof *a);
        map_init_str(&a->items);
        map_put(&s->accounts, bare, a);
    }
    return a;
}

struct roster_item *roster_item_add(struct roster_account *a, const char *jid)
{
    if (a->items.len >= ROSTER_ITEMS_MAX)
        return NULL;
    struct roster_item *it = xcalloc(1, sizeof *it);
    it->jid = xstrdup(jid);
    it->state = SUB_NONE;
    map_put(&a->items, jid, it);
    return it;
}

void roster_item_del(struct roster_account *a, const char *jid)
{
    item_free(map_del(&a->items, jid));
}

void roster_item_gc(struct roster_account *a, struct roster_item *it)
{
    if (it && !it->listed && it->state == SUB_NONE && !it->approved)
        roster_item_del(a, it->jid);
}

struct roster_resource *roster_resource_get(struct roster_account *a, const char *full,
                                            uint64_t conn)
{
    for (size_t i = 0; i < a->nres; i++) {
        if (strcmp(a->res[i]->full, full) == 0) {
            if (conn)
                a->res[i]->conn = conn;
            return a->res[i];
        }
    }
    if (!conn || a->nres >= ROSTER_RESOURCES_MAX)
        return NULL;
    if (a->nres == a->rescap) {
        a->rescap = a->rescap ? a->rescap * 2 : 2;
        a->res = xrealloc(a->res, a->rescap * sizeof *a->res);
    }
    struct roster_resource *r = xcalloc(1, sizeof *r);
    a->res[a->nres++] = r;
    r->full = xstrdup(full);
    r->conn = conn;
    return r;
}

void roster_resource_del(struct roster_account *a, struct roster_resource *r)
{
    size_t i = 0;
    while (i < a->nres && a->res[i] != r)
        i++;
    if (i == a->nres)
        return;
    free(r->full);
    xml_free(r->presence);
    free(r);
    memmove(&a->res[i], &a->res[i + 1], (a->nres - i - 1) * sizeof a->res[0]);
    a->nres--;
}

/* Volatile parts go; the rosters stay (they are durable). */
static void forget_resources(struct roster_state *s)
{
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->accounts, &i, &slot);) {
        struct roster_account *a = slot->val;
        while (a->nres > 0)
            roster_resource_del(a, a->res[a->nres - 1]);
    }
}

int roster_local_bare(const struct roster_state *s, const char *jid, char bare[JID_MAX])
{
    struct jid j;
    bare[0] = 0;
    if (!jid || jid_parse(&j, jid))
        return 0;
    jid_bare(&j, bare);
    return *j.local && strcmp(j.domain, s->domain) == 0;
}

int roster_item_state(const void *state, const char *bare, const char *contact, int *listed,
                      int *approved)
{
    const struct roster_state *s = state;
    const struct roster_account *a = map_get(&s->accounts, bare);
    const struct roster_item *it = a ? map_get(&a->items, contact) : NULL;
    if (!it)
        return -1;
    if (listed)
        *listed = it->listed;
    if (approved)
        *approved = it->approved;
    return (int)it->state;
}

uint64_t roster_version(const void *state, const char *bare)
{
    const struct roster_state *s = state;
    const struct roster_account *a = map_get(&s->accounts, bare);
    return a ? a->ver : 0;
}

/* --- items as XML (RFC 6121 §2.1.2) ------------------------------------ */

static void item_to_xml(struct xnode *query, const struct roster_item *it)
{
    struct xnode *x = xml_add(query, "item", NULL);
    xml_set_attr(x, "jid", it->jid);
    if (it->name)
        xml_set_attr(x, "name", it->name);
    xml_set_attr(x, "subscription", sub_attr(it->state));
    if (sub_pending_out(it->state))
        xml_set_attr(x, "ask", "subscribe");
    if (it->approved)
        xml_set_attr(x, "approved", "true");
    for (size_t i = 0; i < it->ngroups; i++)
        xml_add_text(xml_add(x, "group", NULL), it->groups[i]);
}

static void ver_string(const struct roster_account *a, char out[24])
{
    snprintf(out, 24, "%llu", (unsigned long long)a->ver);
}

void roster_push(struct roster_state *s, const struct event *ev, struct roster_account *a,
                 const struct roster_item *it, const char *jid, struct effects *out)
{
    char ver[24], id[64];
    a->ver++;
    ver_string(a, ver);
    if (s->push_seq != ev->seq) {
        s->push_seq = ev->seq;
        s->push_n = 0;
    }
    for (size_t i = 0; i < a->nres; i++) {
        const struct roster_resource *r = a->res[i];
        if (!r->interested)
            continue;
        struct xnode *iq = xml_new("iq", NS_CLIENT);
        snprintf(id, sizeof id, "push-%llu-%llu", (unsigned long long)ev->seq,
                 (unsigned long long)++s->push_n);
        xml_set_attr(iq, "type", "set");
        xml_set_attr(iq, "id", id);
        xml_set_attr(iq, "to", r->full);
        struct xnode *q = xml_add(iq, "query", NS_ROSTER);
        if (r->versioning)
            xml_set_attr(q, "ver", ver);
        if (it) {
            item_to_xml(q, it);
        } else {
            struct xnode *x = xml_add(q, "item", NULL);
            xml_set_attr(x, "jid", jid);
            xml_set_attr(x, "subscription", "remove");
        }
        fx_stanza(out, r->conn, iq);
    }
}

void roster_route_presence(struct effects *out, const char *type, const char *from,
                           const char *to)
{
    struct xnode *p = xml_new("presence", NS_CLIENT);
    if (type)
        xml_set_attr(p, "type", type);
    xml_set_attr(p, "from", from);
    xml_set_attr(p, "to", to);
    fx_route(out, p);
}

void roster_route_unavailable_to(struct roster_account *a, const char *contact,
                                 struct effects *out)
{
    for (size_t i = 0; i < a->nres; i++)
        if (a->res[i]->presence)
            roster_route_presence(out, "unavailable", a->res[i]->full, contact);
}

/* Routes what ends every subscription with contact (RFC 6121 §2.5.2):
 * unsubscribe when the account has or asked for the contact's presence,
 * unsubscribed when the contact has or asked for the account's. */
static void route_cancel(struct roster_account *a, const char *bare,
                         const struct roster_item *it, struct effects *out)
{
    char cbare[JID_MAX];
    struct jid j;
    if (jid_parse(&j, it->jid))
        return;
    jid_bare(&j, cbare);
    if (sub_has_to(it->state) || sub_pending_out(it->state))
        roster_route_presence(out, "unsubscribe", bare, cbare);
    if (sub_has_from(it->state) || sub_pending_in(it->state)) {
        if (sub_has_from(it->state))
            roster_route_unavailable_to(a, cbare, out);
        roster_route_presence(out, "unsubscribed", bare, cbare);
    }
}

/* --- roster get, set, remove ------------------------------------------ */

static int roster_get(struct roster_state *s, const struct event *ev, const char *bare,
                      const struct xnode *q, struct effects *out)
{
    const struct xnode *st = ev->body;
    struct roster_account *a = roster_account_get(s, bare, 1);
    const char *cver = xml_attr(q, "ver");
    struct roster_resource *r = roster_resource_get(a, xml_attr(st, "from"), ev->origin);
    if (r) {
        r->interested = 1;
        r->versioning = cver != NULL;
    }
    char ver[24];
    ver_string(a, ver);
    struct xnode *res = stanza_reply(st, "result");
    if (cver && strcmp(cver, ver) == 0) { /* §2.6.3: unchanged, pushes follow */
        fx_stanza(out, ev->origin, res);
        return 0;
    }
    struct xnode *rq = xml_add(res, "query", NS_ROSTER);
    if (cver)
        xml_set_attr(rq, "ver", ver);
    size_t n;
    const char **keys = map_sorted_keys(&a->items, &n);
    for (size_t i = 0; i < n; i++) {
        const struct roster_item *it = map_get(&a->items, keys[i]);
        if (it->listed)
            item_to_xml(rq, it);
    }
    free(keys);
    fx_stanza(out, ev->origin, res);
    return 0;
}

/* §2.5: removal pushes subscription='remove' and cancels both ways. */
static int roster_remove(struct roster_state *s, const struct event *ev, const char *bare,
                         const char *jid, struct effects *out)
{
    struct roster_account *a = roster_account_get(s, bare, 1);
    struct roster_item *it = map_get(&a->items, jid);
    if (!it || !it->listed)
        return stanza_err(STANZA_ITEM_NOT_FOUND);
    route_cancel(a, bare, it, out);
    roster_item_del(a, jid);
    roster_push(s, ev, a, NULL, jid, out);
    fx_stanza(out, ev->origin, stanza_reply(ev->body, "result"));
    return 0;
}

/* §2.3.3 checks on name and groups; returns 0 or a stanza error. */
static int check_item(const struct xnode *x, size_t *ngroups /* OUT */)
{
    const char *name = xml_attr(x, "name");
    if (name && strlen(name) > ROSTER_NAME_BYTES_MAX)
        return stanza_err(STANZA_NOT_ACCEPTABLE);
    size_t n = 0;
    for (const struct xnode *g = xml_first_elem(x); g; g = xml_next_elem(g)) {
        if (strcmp(g->name, "group") != 0)
            continue;
        const char *text = xml_text(g);
        if (!*text || strlen(text) > ROSTER_GROUP_BYTES_MAX)
            return stanza_err(STANZA_NOT_ACCEPTABLE);
        for (const struct xnode *h = xml_first_elem(x); h != g; h = xml_next_elem(h))
            if (strcmp(h->name, "group") == 0 && strcmp(xml_text(h), text) == 0)
                return stanza_err(STANZA_BAD_REQUEST); /* duplicate group */
        if (++n > ROSTER_GROUPS_MAX)
            return stanza_err(STANZA_NOT_ACCEPTABLE);
    }
    *ngroups = n;
    return 0;
}

static void item_set_details(struct roster_item *it, const struct xnode *x, size_t ngroups)
{
    const char *name = xml_attr(x, "name");
    for (size_t i = 0; i < it->ngroups; i++)
        free(it->groups[i]);
    free(it->groups);
    free(it->name);
    it->name = name && *name ? xstrdup(name) : NULL;
    it->groups = ngroups ? xcalloc(ngroups, sizeof *it->groups) : NULL;
    it->ngroups = 0;
    for (const struct xnode *g = xml_first_elem(x); g; g = xml_next_elem(g))
        if (strcmp(g->name, "group") == 0)
            it->groups[it->ngroups++] = xstrdup(xml_text(g));
}

static int roster_set(struct roster_state *s, const struct event *ev, const char *bare,
                      const struct xnode *q, struct effects *out)
{
    const struct xnode *x = NULL;
    size_t nitems = 0, ngroups = 0;
    for (const struct xnode *c = xml_first_elem(q); c; c = xml_next_elem(c)) {
        if (strcmp(c->name, "item") == 0) {
            x = c;
            nitems++;
        }
    }
    if (nitems != 1) /* §2.3.3: exactly one item */
        return stanza_err(STANZA_BAD_REQUEST);
    const char *raw = xml_attr(x, "jid");
    char jid[JID_MAX];
    if (!raw)
        return stanza_err(STANZA_BAD_REQUEST);
    if (jid_normalize(raw, jid))
        return stanza_err(STANZA_JID_MALFORMED);
    const char *sub = xml_attr(x, "subscription");
    if (sub && strcmp(sub, "remove") == 0)
        return roster_remove(s, ev, bare, jid, out);
    int rc = check_item(x, &ngroups); /* other 'subscription', 'ask', 'approved': ignored */
    if (rc)
        return rc;
    struct roster_account *a = roster_account_get(s, bare, 1);
    struct roster_item *it = map_get(&a->items, jid);
    if (!it && !(it = roster_item_add(a, jid)))
        return stanza_err(STANZA_NOT_ALLOWED); /* §2.3.3: roster size limit */
    it->listed = 1;
    item_set_details(it, x, ngroups);
    roster_push(s, ev, a, it, NULL, out);
    fx_stanza(out, ev->origin, stanza_reply(ev->body, "result"));
    return 0;
}

/* Roster IQs: a user's own (outbound, no 'to' or to its bare JID); any
 * other entity's get or set on it is forbidden (§2.1.5). Results to our
 * pushes are consumed. */
static int roster_iq(struct roster_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *type = xml_attr(st, "type");
    const char *to = xml_attr(st, "to");
    struct xnode *q = xml_child(st, "query", NS_ROSTER);
    char bare[JID_MAX], to_bare[JID_MAX] = "";
    int request = type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
    int to_local = to && roster_local_bare(s, to, to_bare);
    if (!stanza_outbound(ev)) {
        if (q && request && to_local)
            return stanza_err(STANZA_FORBIDDEN);
        return H_PASS;
    }
    if (!roster_local_bare(s, xml_attr(st, "from"), bare))
        return H_PASS;
    if (to && strcmp(to_bare, bare) != 0)
        return (q && request && to_local) ? stanza_err(STANZA_FORBIDDEN) : H_PASS;
    if (!q) {
        const char *id = xml_attr(st, "id");
        int push_answer = !request && id && strncmp(id, "push-", 5) == 0;
        return push_answer ? 0 : H_PASS;
    }
    if (!request)
        return 0;
    if (strcmp(type, "get") == 0)
        return roster_get(s, ev, bare, q, out);
    return roster_set(s, ev, bare, q, out);
}

/* --- events ------------------------------------------------------------ */

/* XEP-0077 §3.2 / RFC 6121 §2.5.2: a deleted account cancels every
 * subscription, so the contacts' rosters follow. */
static void account_delete(struct roster_state *s, const struct event *ev, struct effects *out)
{
    const char *bare = xml_attr(ev->body, "jid");
    struct roster_account *a = bare ? map_del(&s->accounts, bare) : NULL;
    if (!a)
        return;
    size_t n;
    const char **keys = map_sorted_keys(&a->items, &n);
    for (size_t i = 0; i < n; i++)
        route_cancel(a, bare, map_get(&a->items, keys[i]), out);
    free(keys);
    account_free(a);
}

static void roster_settings(void *state, const struct event *started)
{
    struct roster_state *s = state;
    const char *d = xml_attr(started->body, "domain");
    free(s->domain);
    s->domain = xstrdup(d ? d : "");
}

static int roster_apply(void *state, const struct event *ev, struct effects *out)
{
    struct roster_state *s = state;
    switch (ev->type) {
    case EV_SERVER_STARTED:
        forget_resources(s);
        roster_settings(s, ev);
        return 0;
    case EV_SESSION_BOUND: /* a bind replaces a stale resource of that name */
    case EV_SESSION_CLOSED: {
        const char *full = xml_attr(ev->body, "jid");
        if (full)
            roster_session_gone(s, full, ev->origin, ev->type == EV_SESSION_BOUND, out);
        return 0;
    }
    case EV_ACCOUNT_DELETE: account_delete(s, ev, out); return 0;
    case EV_STANZA: break;
    default: return H_PASS;
    }
    const char *name = ev->body->name;
    if (strcmp(name, "presence") == 0)
        return roster_presence_apply(s, ev, out);
    if (strcmp(name, "iq") != 0)
        return H_PASS;
    int rc = roster_iq(s, ev, out);
    return rc == H_PASS ? roster_last_gate(s, ev) : rc;
}

/* --- snapshot ----------------------------------------------------------
 * u8 version, varint accounts, per account in JID order: str bare,
 * varint ver, varint items, per item in JID order: str jid, u8 state,
 * u8 flags (1 approved, 2 listed, 4 has name, 8 has request), [str name],
 * varint groups, str group..., [tree request (xml_encode_bin)]. */

static void encode_item(const struct roster_item *it, struct buf *out)
{
    buf_put_str(out, it->jid);
    buf_put_u8(out, (uint8_t)it->state);
    buf_put_u8(out, (uint8_t)((it->approved ? 1 : 0) | (it->listed ? 2 : 0) |
                              (it->name ? 4 : 0) | (it->request ? 8 : 0)));
    if (it->name)
        buf_put_str(out, it->name);
    buf_put_varint(out, it->ngroups);
    for (size_t g = 0; g < it->ngroups; g++)
        buf_put_str(out, it->groups[g]);
    if (it->request)
        xml_encode_bin(it->request, out);
}

static void roster_encode(const void *state, struct buf *out)
{
    const struct roster_state *s = state;
    size_t n;
    const char **keys = map_sorted_keys(&s->accounts, &n);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        const struct roster_account *a = map_get(&s->accounts, keys[i]);
        kept += a->items.len > 0 || a->ver > 0;
    }
    buf_put_u8(out, ROSTER_SNAPSHOT_VERSION);
    buf_put_varint(out, kept);
    for (size_t i = 0; i < n; i++) {
        const struct roster_account *a = map_get(&s->accounts, keys[i]);
        if (a->items.len == 0 && a->ver == 0)
            continue; /* only volatile data: nothing to keep */
        size_t m;
        const char **jids = map_sorted_keys(&a->items, &m);
        buf_put_str(out, keys[i]);
        buf_put_varint(out, a->ver);
        buf_put_varint(out, m);
        for (size_t k = 0; k < m; k++)
            encode_item(map_get(&a->items, jids[k]), out);
        free(jids);
    }
    free(keys);
}

static struct roster_item *decode_item(struct rd *in)
{
    struct roster_item *it = xcalloc(1, sizeof *it);
    it->jid = rd_strdup(in);
    uint8_t state = rd_u8(in), flags = rd_u8(in);
    it->state = (enum sub_state)state;
    it->approved = flags & 1;
    it->listed = (flags >> 1) & 1;
    if (flags & 4)
        it->name = rd_strdup(in);
    uint64_t ng = rd_varint(in);
    if (state >= SUB_STATE_COUNT_ || flags > 15 || ng > ROSTER_GROUPS_MAX || !it->jid)
        in->err = -ERR_CORRUPT;
    if (!in->err && ng > 0)
        it->groups = xcalloc((size_t)ng, sizeof *it->groups);
    for (uint64_t g = 0; g < ng && !in->err; g++)
        if ((it->groups[it->ngroups] = rd_strdup(in)) != NULL)
            it->ngroups++;
    if (!in->err && (flags & 8))
        it->request = xml_decode_bin(in);
    if (in->err || ((flags & 8) && !it->request)) {
        in->err = -ERR_CORRUPT;
        item_free(it);
        return NULL;
    }
    return it;
}

static int decode_account(struct roster_state *s, struct rd *in)
{
    char *bare = rd_strdup(in);
    uint64_t ver = rd_varint(in), m = rd_varint(in);
    if (in->err || !bare || m > ROSTER_ITEMS_MAX || map_get(&s->accounts, bare)) {
        free(bare);
        return -ERR_CORRUPT;
    }
    struct roster_account *a = roster_account_get(s, bare, 1);
    free(bare);
    a->ver = ver;
    for (uint64_t k = 0; k < m; k++) {
        struct roster_item *it = decode_item(in);
        if (!it)
            return -ERR_CORRUPT;
        if (map_get(&a->items, it->jid)) {
            item_free(it);
            return -ERR_CORRUPT;
        }
        map_put(&a->items, it->jid, it);
    }
    return 0;
}

static int roster_decode(void *state, struct rd *in)
{
    struct roster_state *s = state;
    if (rd_u8(in) != ROSTER_SNAPSHOT_VERSION)
        return in->err ? -ERR_CORRUPT : -ERR_VERSION;
    uint64_t n = rd_varint(in);
    for (uint64_t i = 0; i < n && !in->err; i++)
        if (decode_account(s, in))
            return -ERR_CORRUPT;
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler roster_handler = {
    .name = "roster",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_SESSION_BOUND) | EV_BIT(EV_SESSION_CLOSED) |
             EV_BIT(EV_ACCOUNT_DELETE) | EV_BIT(EV_STANZA),
    .create = roster_create,
    .destroy = roster_destroy,
    .apply = roster_apply,
    .encode = roster_encode,
    .decode = roster_decode,
    .settings = roster_settings,
};

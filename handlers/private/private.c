/* private: see private.h. State: bare JID -> account store, which maps
 * "name namespace" (an element name holds no space) -> the stored tree. */
#include "handlers/private/private.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/vcard/vcard.h"
#include "kernel/jid.h"
#include "kernel/map.h"
#include "kernel/mem.h"

#define PRIVATE_SNAPSHOT_VERSION 1

struct private_state {
    char *domain;       /* from EV_SERVER_STARTED */
    uint64_t bytes_max; /* "vcard-bytes-max" from EV_SERVER_STARTED */
    struct map by_jid;  /* bare JID -> struct map (key -> struct xnode) */
};

static void *private_create(void)
{
    struct private_state *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup("");
    s->bytes_max = VCARD_BYTES_MAX_DEFAULT;
    map_init_str(&s->by_jid);
    return s;
}

static void store_free(struct map *m)
{
    const struct map_slot *slot;
    for (size_t i = 0; map_next(m, &i, &slot);)
        xml_free(slot->val);
    map_free(m);
    free(m);
}

static void private_destroy(void *state)
{
    struct private_state *s = state;
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->by_jid, &i, &slot);)
        store_free(slot->val);
    map_free(&s->by_jid);
    free(s->domain);
    free(s);
}

size_t private_count(const void *state, const char *bare)
{
    const struct private_state *s = state;
    const struct map *m = map_get(&s->by_jid, bare);
    return m ? m->len : 0;
}

/* The store key of an element: "name namespace". Caller frees. */
static char *element_key(const struct xnode *e)
{
    size_t n = strlen(e->name) + strlen(e->ns) + 2;
    char *k = xmalloc(n);
    snprintf(k, n, "%s %s", e->name, e->ns);
    return k;
}

/* XEP-0049 §3: an element in its own, unreserved namespace. */
static int namespace_ok(const char *ns)
{
    return *ns && strncmp(ns, "jabber:", 7) != 0 && strncmp(ns, "http://jabber.org/", 18) != 0 &&
           strcmp(ns, NS_VCARD) != 0;
}

/* Returns 0 when the request is the sender's own (to absent or its bare
 * JID), H_PASS when not for a local account, or forbidden. */
static int check_owner(const struct private_state *s, const struct xnode *st, char *bare)
{
    const char *from = xml_attr(st, "from");
    const char *to = xml_attr(st, "to");
    struct jid j;
    if (!from || jid_parse(&j, from) || !*j.local || strcmp(j.domain, s->domain) != 0)
        return H_PASS;
    jid_bare(&j, bare);
    if (!to)
        return 0;
    char to_bare[JID_MAX];
    if (jid_parse(&j, to) || !*j.local || *j.resource || strcmp(j.domain, s->domain) != 0)
        return H_PASS;
    jid_bare(&j, to_bare);
    return strcmp(to_bare, bare) == 0 ? 0 : stanza_err(STANZA_FORBIDDEN);
}

static void answer(const struct event *ev, struct xnode *r, struct effects *out)
{
    if (stanza_outbound(ev))
        fx_stanza(out, ev->origin, r);
    else if (xml_attr(r, "to"))
        fx_route(out, r);
    else
        xml_free(r);
}

static int apply_get(struct private_state *s, const struct event *ev, const struct xnode *q,
                     const char *bare, struct effects *out)
{
    const struct xnode *want = xml_first_elem(q);
    if (xml_next_elem(want))
        return stanza_err(STANZA_BAD_REQUEST); /* one namespace per get */
    const struct map *m = map_get(&s->by_jid, bare);
    char *key = element_key(want);
    const struct xnode *have = m ? map_get(m, key) : NULL;
    free(key);
    struct xnode *r = stanza_reply(ev->body, "result");
    struct xnode *rq = xml_add(r, "query", NS_PRIVATE);
    xml_append(rq, have ? xml_copy(have) : xml_new(want->name, want->ns));
    answer(ev, r, out);
    return 0;
}

/* Checks every element of a set before storing any: all or nothing. */
static int check_set(const struct private_state *s, const struct xnode *q, const char *bare)
{
    const struct xnode *first = xml_first_elem(q);
    const struct map *m = map_get(&s->by_jid, bare);
    size_t added = 0;
    for (const struct xnode *e = first; e; e = xml_next_elem(e)) {
        if (strcmp(e->ns, first->ns) != 0)
            return stanza_err(STANZA_BAD_REQUEST); /* §2.3: one namespace per set */
        struct buf b;
        buf_init(&b);
        xml_serialize(e, NS_CLIENT, &b);
        size_t len = b.len;
        buf_free(&b);
        if (len > s->bytes_max)
            return stanza_err(STANZA_NOT_ACCEPTABLE);
        char *key = element_key(e);
        added += !m || !map_get(m, key);
        free(key);
    }
    if ((m ? m->len : 0) + added > PRIVATE_ELEMENTS_MAX)
        return stanza_err(STANZA_RESOURCE_CONSTRAINT);
    return 0;
}

static int apply_set(struct private_state *s, const struct event *ev, const struct xnode *q,
                     const char *bare, struct effects *out)
{
    int rc = check_set(s, q, bare);
    if (rc)
        return rc;
    struct map *m = map_get(&s->by_jid, bare);
    if (!m) {
        m = xcalloc(1, sizeof *m);
        map_init_str(m);
        map_put(&s->by_jid, bare, m);
    }
    for (const struct xnode *e = xml_first_elem(q); e; e = xml_next_elem(e)) {
        char *key = element_key(e);
        xml_free(map_put(m, key, xml_copy(e)));
        free(key);
    }
    answer(ev, stanza_reply(ev->body, "result"), out);
    return 0;
}

static int apply_stanza(struct private_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *type = xml_attr(st, "type");
    if (strcmp(st->name, "iq") != 0 || !type)
        return H_PASS;
    const struct xnode *q = xml_first_elem(st);
    if (!q || strcmp(q->name, "query") != 0 || strcmp(q->ns, NS_PRIVATE) != 0)
        return H_PASS;
    int get = strcmp(type, "get") == 0;
    if (!get && strcmp(type, "set") != 0)
        return H_PASS; /* results and errors travel on to their addressee */
    char bare[JID_MAX];
    int rc = check_owner(s, st, bare);
    if (rc)
        return rc;
    if (!xml_first_elem(q))
        return stanza_err(STANZA_BAD_REQUEST); /* "Bad Format": nothing named */
    for (const struct xnode *e = xml_first_elem(q); e; e = xml_next_elem(e))
        if (!namespace_ok(e->ns))
            return stanza_err(STANZA_NOT_ACCEPTABLE);
    return get ? apply_get(s, ev, q, bare, out) : apply_set(s, ev, q, bare, out);
}

static void private_settings(void *state, const struct event *started)
{
    struct private_state *s = state;
    const char *d = xml_attr(started->body, "domain");
    free(s->domain);
    s->domain = xstrdup(d ? d : "");
    s->bytes_max = event_limit(started, "vcard-bytes-max", VCARD_BYTES_MAX_DEFAULT);
}

static int private_apply(void *state, const struct event *ev, struct effects *out)
{
    struct private_state *s = state;
    const char *jid;
    struct map *m;
    switch (ev->type) {
    case EV_SERVER_STARTED: private_settings(s, ev); return 0;
    case EV_ACCOUNT_DELETE:
        jid = xml_attr(ev->body, "jid");
        m = jid ? map_del(&s->by_jid, jid) : NULL;
        if (m)
            store_free(m);
        return 0;
    case EV_STANZA: return apply_stanza(s, ev, out);
    default: return H_PASS;
    }
}

/* Snapshot: u8 version, varint accounts, then per account in JID order:
 * str bare JID, varint elements, then each element's tree
 * (xml_encode_bin) in key order. The key is derived from the tree. */
static void private_encode(const void *state, struct buf *out)
{
    const struct private_state *s = state;
    size_t n;
    const char **jids = map_sorted_keys(&s->by_jid, &n);
    buf_put_u8(out, PRIVATE_SNAPSHOT_VERSION);
    buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        const struct map *m = map_get(&s->by_jid, jids[i]);
        size_t k;
        const char **keys = map_sorted_keys(m, &k);
        buf_put_str(out, jids[i]);
        buf_put_varint(out, k);
        for (size_t j = 0; j < k; j++)
            xml_encode_bin(map_get(m, keys[j]), out);
        free(keys);
    }
    free(jids);
}

/* Reads one account's elements into m; returns 0 or -ERR_CORRUPT. */
static int decode_store(struct rd *in, struct map *m)
{
    uint64_t k = rd_varint(in);
    if (k == 0 || k > PRIVATE_ELEMENTS_MAX)
        return -ERR_CORRUPT;
    for (uint64_t j = 0; j < k && !in->err; j++) {
        struct xnode *e = xml_decode_bin(in);
        if (!e || e->text || !namespace_ok(e->ns)) {
            xml_free(e);
            return -ERR_CORRUPT;
        }
        char *key = element_key(e);
        struct xnode *dup = map_put(m, key, e);
        free(key);
        if (dup) {
            xml_free(dup);
            return -ERR_CORRUPT;
        }
    }
    return in->err ? -ERR_CORRUPT : 0;
}

static int private_decode(void *state, struct rd *in)
{
    struct private_state *s = state;
    if (rd_u8(in) != PRIVATE_SNAPSHOT_VERSION)
        return in->err ? -ERR_CORRUPT : -ERR_VERSION;
    uint64_t n = rd_varint(in);
    for (uint64_t i = 0; i < n && !in->err; i++) {
        char *jid = rd_strdup(in);
        if (!jid || map_get(&s->by_jid, jid)) {
            free(jid);
            return -ERR_CORRUPT;
        }
        struct map *m = xcalloc(1, sizeof *m);
        map_init_str(m);
        map_put(&s->by_jid, jid, m); /* owned by the state even if what follows fails */
        free(jid);
        int rc = decode_store(in, m);
        if (rc)
            return rc;
    }
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler private_handler = {
    .name = "private",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_ACCOUNT_DELETE) | EV_BIT(EV_STANZA),
    .create = private_create,
    .destroy = private_destroy,
    .apply = private_apply,
    .encode = private_encode,
    .decode = private_decode,
    .settings = private_settings,
};

/* vcard: see vcard.h. State: bare JID -> the stored <vCard/> tree. */
#include "handlers/vcard/vcard.h"

#include <stdlib.h>
#include <string.h>

#include "kernel/jid.h"
#include "kernel/map.h"
#include "kernel/mem.h"

#define VCARD_SNAPSHOT_VERSION 1

struct vcard_state {
    char *domain;             /* from EV_SERVER_STARTED */
    uint64_t bytes_max;       /* "vcard-bytes-max" from EV_SERVER_STARTED */
    struct map by_jid;        /* bare JID -> struct xnode (owned) */
};

static void *vcard_create(void)
{
    struct vcard_state *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup("");
    s->bytes_max = VCARD_BYTES_MAX_DEFAULT;
    map_init_str(&s->by_jid);
    return s;
}

static void vcard_destroy(void *state)
{
    struct vcard_state *s = state;
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->by_jid, &i, &slot);)
        xml_free(slot->val);
    map_free(&s->by_jid);
    free(s->domain);
    free(s);
}

size_t vcard_count(const void *state)
{
    const struct vcard_state *s = state;
    return s->by_jid.len;
}

/* Whose vCard a request is about: the sender's bare JID in from_bare and
 * the target account's in to_bare. Returns 0, or H_PASS when the target
 * is no local account (the server, a full JID, another domain). */
static int target(const struct vcard_state *s, const struct xnode *st, char *from_bare,
                  char *to_bare)
{
    const char *from = xml_attr(st, "from");
    const char *to = xml_attr(st, "to");
    struct jid j;
    if (!from || jid_parse(&j, from) || !*j.local)
        return H_PASS;
    jid_bare(&j, from_bare);
    if (!to) {
        if (strcmp(j.domain, s->domain) != 0)
            return H_PASS;
        memcpy(to_bare, from_bare, strlen(from_bare) + 1);
        return 0;
    }
    if (jid_parse(&j, to) || !*j.local || *j.resource || strcmp(j.domain, s->domain) != 0)
        return H_PASS;
    jid_bare(&j, to_bare);
    return 0;
}

/* Sends an answer the way the request came: on the connection for an
 * outbound stanza, routed to its 'to' for an inbound one. */
static void answer(const struct event *ev, struct xnode *r, struct effects *out)
{
    if (stanza_outbound(ev))
        fx_stanza(out, ev->origin, r);
    else if (xml_attr(r, "to"))
        fx_route(out, r);
    else
        xml_free(r);
}

static int apply_get(struct vcard_state *s, const struct event *ev, const char *from_bare,
                     const char *to_bare, struct effects *out)
{
    const struct xnode *card = map_get(&s->by_jid, to_bare);
    int own = strcmp(from_bare, to_bare) == 0;
    if (!card && !own)
        return stanza_err(STANZA_ITEM_NOT_FOUND); /* §3.3: an error, not an empty card */
    struct xnode *r = stanza_reply(ev->body, "result");
    xml_append(r, card ? xml_copy(card) : xml_new("vCard", NS_VCARD));
    answer(ev, r, out);
    return 0;
}

static int apply_set(struct vcard_state *s, const struct event *ev, const struct xnode *card,
                     const char *from_bare, const char *to_bare, struct effects *out)
{
    if (strcmp(from_bare, to_bare) != 0)
        return stanza_err(STANZA_FORBIDDEN); /* §3.2: only one's own vCard */
    struct buf b;
    buf_init(&b);
    xml_serialize(card, NS_CLIENT, &b);
    size_t len = b.len;
    buf_free(&b);
    if (len > s->bytes_max)
        return stanza_err(STANZA_NOT_ACCEPTABLE);
    xml_free(map_put(&s->by_jid, to_bare, xml_copy(card)));
    answer(ev, stanza_reply(ev->body, "result"), out);
    return 0;
}

static int apply_stanza(struct vcard_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *type = xml_attr(st, "type");
    if (strcmp(st->name, "iq") != 0 || !type)
        return H_PASS;
    const struct xnode *card = xml_first_elem(st);
    if (!card || strcmp(card->name, "vCard") != 0 || strcmp(card->ns, NS_VCARD) != 0)
        return H_PASS;
    int get = strcmp(type, "get") == 0;
    if (!get && strcmp(type, "set") != 0)
        return H_PASS; /* results and errors travel on to their addressee */
    char from_bare[JID_MAX], to_bare[JID_MAX];
    if (target(s, st, from_bare, to_bare) == H_PASS)
        return H_PASS;
    return get ? apply_get(s, ev, from_bare, to_bare, out)
               : apply_set(s, ev, card, from_bare, to_bare, out);
}

static void vcard_settings(void *state, const struct event *started)
{
    struct vcard_state *s = state;
    const char *d = xml_attr(started->body, "domain");
    free(s->domain);
    s->domain = xstrdup(d ? d : "");
    s->bytes_max = event_limit(started, "vcard-bytes-max", VCARD_BYTES_MAX_DEFAULT);
}

static int vcard_apply(void *state, const struct event *ev, struct effects *out)
{
    struct vcard_state *s = state;
    const char *jid;
    switch (ev->type) {
    case EV_SERVER_STARTED: vcard_settings(s, ev); return 0;
    case EV_ACCOUNT_DELETE:
        jid = xml_attr(ev->body, "jid");
        if (jid)
            xml_free(map_del(&s->by_jid, jid));
        return 0;
    case EV_STANZA: return apply_stanza(s, ev, out);
    default: return H_PASS;
    }
}

/* Snapshot: u8 version, varint count, then per account in JID order:
 * str bare JID, tree vCard (xml_encode_bin). */
static void vcard_encode(const void *state, struct buf *out)
{
    const struct vcard_state *s = state;
    size_t n;
    const char **keys = map_sorted_keys(&s->by_jid, &n);
    buf_put_u8(out, VCARD_SNAPSHOT_VERSION);
    buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        buf_put_str(out, keys[i]);
        xml_encode_bin(map_get(&s->by_jid, keys[i]), out);
    }
    free(keys);
}

static int vcard_decode(void *state, struct rd *in)
{
    struct vcard_state *s = state;
    if (rd_u8(in) != VCARD_SNAPSHOT_VERSION)
        return in->err ? -ERR_CORRUPT : -ERR_VERSION;
    uint64_t n = rd_varint(in);
    for (uint64_t i = 0; i < n && !in->err; i++) {
        char *jid = rd_strdup(in);
        struct xnode *card = jid ? xml_decode_bin(in) : NULL;
        int ok = card && !card->text && strcmp(card->name, "vCard") == 0 &&
                 strcmp(card->ns, NS_VCARD) == 0 && !map_get(&s->by_jid, jid);
        if (!ok) {
            free(jid);
            xml_free(card);
            return -ERR_CORRUPT;
        }
        map_put(&s->by_jid, jid, card);
        free(jid);
    }
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler vcard_handler = {
    .name = "vcard",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_ACCOUNT_DELETE) | EV_BIT(EV_STANZA),
    .create = vcard_create,
    .destroy = vcard_destroy,
    .apply = vcard_apply,
    .encode = vcard_encode,
    .decode = vcard_decode,
    .settings = vcard_settings,
};

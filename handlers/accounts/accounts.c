/* accounts: see accounts.h. The state is a map from bare JID to stored
 * SCRAM credentials. Events: account-register, account-passwd,
 * account-delete, account-list; the in-band registration form
 * (jabber:iq:register get) is a stanza answered here too. */
#include "handlers/accounts/accounts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>

#include "kernel/jid.h"
#include "kernel/map.h"
#include "kernel/mem.h"

#define ACCOUNTS_SNAPSHOT_VERSION 1

struct account {
    struct scram_creds creds;
    int64_t created_us;
};

struct accounts_state {
    struct map by_jid; /* bare JID -> struct account */
    char *domain;      /* from EV_SERVER_STARTED; not in snapshots */
};

static void *accounts_create(void)
{
    struct accounts_state *s = xcalloc(1, sizeof *s);
    map_init_str(&s->by_jid);
    return s;
}

static void accounts_destroy(void *state)
{
    struct accounts_state *s = state;
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->by_jid, &i, &slot);)
        free(slot->val);
    map_free(&s->by_jid);
    free(s->domain);
    free(s);
}

/* --- credentials as event attributes (base64) ------------------------ */

static void attr_b64(struct xnode *n, const char *name, const uint8_t *p, size_t len)
{
    unsigned char out[128];
    size_t olen = 0;
    mbedtls_base64_encode(out, sizeof out, &olen, p, len);
    out[olen < sizeof out ? olen : sizeof out - 1] = 0;
    xml_set_attr(n, name, (const char *)out);
}

static int attr_unb64(const struct xnode *n, const char *name, uint8_t *p, size_t len)
{
    const char *v = xml_attr(n, name);
    size_t olen = 0;
    if (!v || mbedtls_base64_decode(p, len, &olen, (const unsigned char *)v, strlen(v)) || olen != len)
        return -ERR_CORRUPT;
    return 0;
}

/* Key lengths per hash (SHA-1, SHA-256), as scram_hash_len() says; kept
 * here so this pure handler does not call into the crypto library. */
static const size_t key_len[SCRAM_HASH_COUNT_] = {20, 32};

static const char *const key_attr[SCRAM_HASH_COUNT_][2] = {
    {"sha1-stored", "sha1-server"},
    {"sha256-stored", "sha256-server"},
};

static void creds_to_xml(struct xnode *n, const struct scram_creds *c)
{
    char iter[16];
    snprintf(iter, sizeof iter, "%u", (unsigned)c->iter);
    xml_set_attr(n, "iter", iter);
    attr_b64(n, "salt", c->salt, SCRAM_SALT_LEN);
    for (int h = 0; h < SCRAM_HASH_COUNT_; h++) {
        size_t len = key_len[h];
        attr_b64(n, key_attr[h][0], c->key[h].stored, len);
        attr_b64(n, key_attr[h][1], c->key[h].server, len);
    }
}

static int creds_from_xml(const struct xnode *n, struct scram_creds *c)
{
    memset(c, 0, sizeof *c);
    const char *iter = xml_attr(n, "iter");
    char *end = NULL;
    unsigned long v = iter ? strtoul(iter, &end, 10) : 0;
    if (!iter || *end || v < SCRAM_ITER_MIN || v > UINT32_MAX)
        return -ERR_CORRUPT;
    c->iter = (uint32_t)v;
    int rc = attr_unb64(n, "salt", c->salt, SCRAM_SALT_LEN);
    for (int h = 0; h < SCRAM_HASH_COUNT_ && !rc; h++) {
        size_t len = key_len[h];
        rc = attr_unb64(n, key_attr[h][0], c->key[h].stored, len);
        if (!rc)
            rc = attr_unb64(n, key_attr[h][1], c->key[h].server, len);
    }
    return rc;
}

/* --- event builders ---------------------------------------------------- */

static struct event *ev_account(enum ev_type t, enum ev_origin kind, uint64_t origin,
                                const char *bare, const char *req_id, const struct scram_creds *c)
{
    struct event *ev = event_new(t, kind, origin, bare, NULL);
    if (bare)
        xml_set_attr(ev->body, "jid", bare);
    if (req_id)
        xml_set_attr(ev->body, "req", req_id);
    if (c)
        creds_to_xml(ev->body, c);
    return ev;
}

struct event *accounts_ev_register(enum ev_origin kind, uint64_t origin, const char *bare,
                                   const char *req_id, const struct scram_creds *c)
{
    return ev_account(EV_ACCOUNT_REGISTER, kind, origin, bare, req_id, c);
}

struct event *accounts_ev_passwd(enum ev_origin kind, uint64_t origin, const char *bare,
                                 const char *req_id, const struct scram_creds *c)
{
    return ev_account(EV_ACCOUNT_PASSWD, kind, origin, bare, req_id, c);
}

struct event *accounts_ev_delete(enum ev_origin kind, uint64_t origin, const char *bare,
                                 const char *req_id)
{
    return ev_account(EV_ACCOUNT_DELETE, kind, origin, bare, req_id, NULL);
}

struct event *accounts_ev_list(enum ev_origin kind, uint64_t origin)
{
    return ev_account(EV_ACCOUNT_LIST, kind, origin, NULL, NULL, NULL);
}

/* --- lookups ------------------------------------------------------------ */

const struct scram_creds *accounts_creds(const void *state, const char *bare)
{
    const struct accounts_state *s = state;
    const struct account *a = map_get(&s->by_jid, bare);
    return a ? &a->creds : NULL;
}

size_t accounts_count(const void *state)
{
    const struct accounts_state *s = state;
    return s->by_jid.len;
}

/* --- answers -------------------------------------------------------------- */

/* Answers the requester of an account event: an IQ result or error for a
 * client, a status line for the operator. */
static void answer(const struct event *ev, enum stanza_err cond, const char *ok_text,
                   struct effects *out)
{
    if (ev->origin_kind == ORIGIN_CTL) {
        if (cond == STANZA_OK_)
            fx_ctl(out, ev->origin, 0, ok_text);
        else
            fx_ctl(out, ev->origin, 1, stanza_err_name(cond));
        return;
    }
    if (ev->origin_kind != ORIGIN_C2S)
        return;
    struct xnode *iq = xml_new("iq", NS_CLIENT);
    const char *req = xml_attr(ev->body, "req");
    if (req)
        xml_set_attr(iq, "id", req);
    if (cond == STANZA_OK_) {
        xml_set_attr(iq, "type", "result");
    } else {
        xml_set_attr(iq, "type", "error");
        struct xnode *e = xml_add(iq, "error", NULL);
        xml_set_attr(e, "type", stanza_err_type(cond));
        xml_add(e, stanza_err_name(cond), "urn:ietf:params:xml:ns:xmpp-stanzas");
    }
    fx_stanza(out, ev->origin, iq);
}

static void apply_register(struct accounts_state *s, const struct event *ev, struct effects *out)
{
    const char *jid = xml_attr(ev->body, "jid");
    struct account a;
    a.created_us = ev->time_us;
    if (!jid || creds_from_xml(ev->body, &a.creds)) {
        answer(ev, STANZA_BAD_REQUEST, NULL, out);
        return;
    }
    if (map_get(&s->by_jid, jid)) {
        answer(ev, STANZA_CONFLICT, NULL, out);
        return;
    }
    if (s->by_jid.len >= ACCOUNTS_MAX) {
        answer(ev, STANZA_RESOURCE_CONSTRAINT, NULL, out);
        return;
    }
    struct account *na = xmalloc(sizeof *na);
    *na = a;
    map_put(&s->by_jid, jid, na);
    answer(ev, STANZA_OK_, "account created", out);
}

static void apply_passwd(struct accounts_state *s, const struct event *ev, struct effects *out)
{
    const char *jid = xml_attr(ev->body, "jid");
    struct account *a = jid ? map_get(&s->by_jid, jid) : NULL;
    struct scram_creds c;
    if (!a) {
        answer(ev, STANZA_ITEM_NOT_FOUND, NULL, out);
        return;
    }
    if (creds_from_xml(ev->body, &c)) {
        answer(ev, STANZA_BAD_REQUEST, NULL, out);
        return;
    }
    a->creds = c;
    answer(ev, STANZA_OK_, "password changed", out);
}

static void apply_delete(struct accounts_state *s, const struct event *ev, struct effects *out)
{
    const char *jid = xml_attr(ev->body, "jid");
    struct account *a = jid ? map_del(&s->by_jid, jid) : NULL;
    if (!a) {
        answer(ev, STANZA_ITEM_NOT_FOUND, NULL, out);
        return;
    }
    free(a);
    answer(ev, STANZA_OK_, "account deleted", out);
}

static void apply_list(struct accounts_state *s, const struct event *ev, struct effects *out)
{
    size_t n;
    const char **keys = map_sorted_keys(&s->by_jid, &n);
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < n; i++) {
        buf_puts(&b, keys[i]);
        buf_puts(&b, "\n");
    }
    free(keys);
    fx_ctl(out, ev->origin, 0, buf_cstr(&b));
    buf_free(&b);
}

struct xnode *accounts_register_form(const void *state, const struct xnode *req)
{
    const struct accounts_state *s = state;
    struct xnode *r = stanza_reply(req, "result");
    struct xnode *rq = xml_add(r, "query", NS_REGISTER);
    const char *from = xml_attr(req, "from");
    char bare[JID_MAX] = "";
    struct jid j;
    if (from && jid_parse(&j, from) == 0)
        jid_bare(&j, bare);
    if (*bare && map_get(&s->by_jid, bare)) {
        xml_add(rq, "registered", NULL);
        xml_add_text(xml_add(rq, "username", NULL), j.local);
    } else {
        xml_add_text(xml_add(rq, "instructions", NULL),
                     "Choose a username and password for use with this service.");
        xml_add(rq, "username", NULL);
    }
    xml_add(rq, "password", NULL);
    return r;
}

/* XEP-0077 §3.1: the registration form, for an authenticated user (the
 * kernel answers unauthenticated ones itself). Set requests never arrive
 * as stanzas: they carry a password, so the kernel turns them into
 * account events with derived keys. */
static int apply_stanza(struct accounts_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    struct xnode *q = xml_child(st, "query", NS_REGISTER);
    if (strcmp(st->name, "iq") != 0 || !q)
        return H_PASS;
    const char *type = xml_attr(st, "type");
    const char *to = xml_attr(st, "to");
    if (to && strchr(to, '@'))
        return H_PASS; /* registration with some other entity */
    if (!type || strcmp(type, "get") != 0)
        return stanza_err(STANZA_BAD_REQUEST);
    fx_stanza(out, ev->origin, accounts_register_form(s, st));
    return 0;
}

/* RFC 6121 §8.5.1: a stanza on its way to a local account that does not
 * exist. IQ get/set and messages bounce with service-unavailable (for
 * messages the RFC allows ignoring; telling the sender is kinder), other
 * IQs and every presence are dropped. Being first in the chain, this
 * keeps every later handler from storing anything for a non-account. */
static int gate_no_such_user(const struct accounts_state *s, const struct event *ev)
{
    const char *to = xml_attr(ev->body, "to");
    struct jid j;
    char bare[JID_MAX];
    if (ev->origin_kind != ORIGIN_ROUTE || !to || jid_parse(&j, to) || !*j.local ||
        !s->domain || strcmp(j.domain, s->domain) != 0)
        return H_PASS;
    jid_bare(&j, bare);
    if (map_get(&s->by_jid, bare))
        return H_PASS;
    const char *name = ev->body->name;
    const char *type = xml_attr(ev->body, "type");
    if (strcmp(name, "message") == 0 ||
        (strcmp(name, "iq") == 0 && type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0)))
        return stanza_err(STANZA_SERVICE_UNAVAILABLE);
    return 0;
}

static void accounts_settings(void *state, const struct event *started)
{
    struct accounts_state *s = state;
    const char *d = xml_attr(started->body, "domain");
    free(s->domain);
    s->domain = xstrdup(d ? d : "");
}

static int accounts_apply(void *state, const struct event *ev, struct effects *out)
{
    struct accounts_state *s = state;
    int rc;
    switch (ev->type) {
    case EV_SERVER_STARTED: accounts_settings(s, ev); return 0;
    case EV_ACCOUNT_REGISTER: apply_register(s, ev, out); return 0;
    case EV_ACCOUNT_PASSWD: apply_passwd(s, ev, out); return 0;
    case EV_ACCOUNT_DELETE: apply_delete(s, ev, out); return 0;
    case EV_ACCOUNT_LIST: apply_list(s, ev, out); return 0;
    case EV_STANZA:
        rc = gate_no_such_user(s, ev);
        return rc != H_PASS ? rc : apply_stanza(s, ev, out);
    default: return H_PASS;
    }
}

/* Snapshot: u8 version, varint count, then per account in JID order:
 * str jid, varint created_us (two's complement), bytes salt, varint iter,
 * and for each hash its stored and server keys as bytes. */
static void accounts_encode(const void *state, struct buf *out)
{
    const struct accounts_state *s = state;
    size_t n;
    const char **keys = map_sorted_keys(&s->by_jid, &n);
    buf_put_u8(out, ACCOUNTS_SNAPSHOT_VERSION);
    buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        const struct account *a = map_get(&s->by_jid, keys[i]);
        buf_put_str(out, keys[i]);
        buf_put_u64(out, (uint64_t)a->created_us);
        buf_put_bytes(out, a->creds.salt, SCRAM_SALT_LEN);
        buf_put_varint(out, a->creds.iter);
        for (int h = 0; h < SCRAM_HASH_COUNT_; h++) {
            size_t len = key_len[h];
            buf_put_bytes(out, a->creds.key[h].stored, len);
            buf_put_bytes(out, a->creds.key[h].server, len);
        }
    }
    free(keys);
}

static int read_fixed(struct rd *in, uint8_t *out, size_t want)
{
    size_t len;
    const uint8_t *p = rd_bytes(in, &len);
    if (!p || len != want)
        return in->err = -ERR_CORRUPT;
    memcpy(out, p, len);
    return 0;
}

static int accounts_decode(void *state, struct rd *in)
{
    struct accounts_state *s = state;
    if (rd_u8(in) != ACCOUNTS_SNAPSHOT_VERSION)
        return -ERR_VERSION;
    uint64_t n = rd_varint(in);
    for (uint64_t i = 0; i < n && !in->err; i++) {
        char *jid = rd_strdup(in);
        struct account *a = xcalloc(1, sizeof *a);
        a->created_us = (int64_t)rd_u64(in);
        read_fixed(in, a->creds.salt, SCRAM_SALT_LEN);
        a->creds.iter = (uint32_t)rd_varint(in);
        for (int h = 0; h < SCRAM_HASH_COUNT_; h++) {
            size_t len = key_len[h];
            read_fixed(in, a->creds.key[h].stored, len);
            read_fixed(in, a->creds.key[h].server, len);
        }
        if (in->err || !jid || map_get(&s->by_jid, jid)) {
            free(jid);
            free(a);
            return -ERR_CORRUPT;
        }
        map_put(&s->by_jid, jid, a);
        free(jid);
    }
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler accounts_handler = {
    .name = "accounts",
    .wants = EV_BIT(EV_ACCOUNT_REGISTER) | EV_BIT(EV_ACCOUNT_PASSWD) | EV_BIT(EV_ACCOUNT_DELETE) |
             EV_BIT(EV_ACCOUNT_LIST) | EV_BIT(EV_STANZA) | EV_BIT(EV_SERVER_STARTED),
    .create = accounts_create,
    .destroy = accounts_destroy,
    .apply = accounts_apply,
    .encode = accounts_encode,
    .decode = accounts_decode,
    .settings = accounts_settings,
};

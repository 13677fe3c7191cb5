/* blocking: see blocking.h.
 *
 * State: bare JID -> sorted list of blocked JIDs (prepared, full form),
 * and, volatile, full JID -> connection of each resource that asked for
 * its list. Sorted lists give deterministic results, pushes and
 * snapshots, and a binary search per candidate when matching.
 *
 * Audit: a command that changes the list emits one audit note (block,
 * unblock, unblock-all) naming the JIDs that were added or removed; a
 * command that changes nothing emits none. */
#include "handlers/blocking/blocking.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/audit/audit.h"
#include "kernel/buf.h"
#include "kernel/jid.h"
#include "kernel/map.h"
#include "kernel/mem.h"

#define BLOCKING_SNAPSHOT_VERSION 1

struct blist {
    char **v; /* sorted by strcmp, no duplicates; owned */
    size_t n;
    size_t cap;
};

struct blocking_state {
    struct map lists;      /* bare JID -> struct blist */
    struct map interested; /* full JID -> uint64_t conn (volatile) */
    /* Stanzas this handler routed itself in the current event (the
     * unavailable presence on block): the inbound check lets exactly
     * these through. Pointers are compared only, never dereferenced;
     * cleared by every event that is not a routed stanza. */
    const struct xnode **pass;
    size_t npass;
    size_t pass_cap;
};

static void *blocking_create(void)
{
    struct blocking_state *s = xcalloc(1, sizeof *s);
    map_init_str(&s->lists);
    map_init_str(&s->interested);
    return s;
}

static void blist_free(struct blist *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->v[i]);
    free(b->v);
    free(b);
}

static void interested_clear(struct blocking_state *s)
{
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->interested, &i, &slot);)
        free(slot->val);
    map_free(&s->interested);
    map_init_str(&s->interested);
}

static void blocking_destroy(void *state)
{
    struct blocking_state *s = state;
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->lists, &i, &slot);)
        blist_free(slot->val);
    map_free(&s->lists);
    interested_clear(s);
    map_free(&s->interested);
    free(s->pass);
    free(s);
}

size_t blocking_count(const void *state, const char *bare)
{
    const struct blocking_state *s = state;
    const struct blist *b = map_get(&s->lists, bare);
    return b ? b->n : 0;
}

/* --- the sorted list ------------------------------------------------------ */

/* Index of jid, or of where it would go (then *found is 0). */
static size_t blist_pos(const struct blist *b, const char *jid, int *found)
{
    size_t lo = 0, hi = b->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(b->v[mid], jid);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

static int blist_has(const struct blist *b, const char *jid)
{
    int found;
    blist_pos(b, jid, &found);
    return found;
}

/* Returns 1 when added, 0 when it was there already. */
static int blist_add(struct blist *b, const char *jid)
{
    int found;
    size_t at = blist_pos(b, jid, &found);
    if (found)
        return 0;
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 8;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    memmove(&b->v[at + 1], &b->v[at], (b->n - at) * sizeof b->v[0]);
    b->v[at] = xstrdup(jid);
    b->n++;
    return 1;
}

/* Returns 1 when removed, 0 when it was not there. */
static int blist_del(struct blist *b, const char *jid)
{
    int found;
    size_t at = blist_pos(b, jid, &found);
    if (!found)
        return 0;
    free(b->v[at]);
    memmove(&b->v[at], &b->v[at + 1], (b->n - at - 1) * sizeof b->v[0]);
    b->n--;
    return 1;
}

/* XEP-0016 §2.1 (XEP-0191 defers to it for matching): an item matches a JID
 * when it equals its full JID, bare JID, domain/resource or domain. */
static int blist_matches(const struct blist *b, const char *jid)
{
    struct jid j;
    char cand[JID_MAX];
    if (!b || !jid || jid_parse(&j, jid))
        return 0;
    jid_full(&j, cand);
    if (blist_has(b, cand))
        return 1;
    jid_bare(&j, cand);
    if (*j.resource && blist_has(b, cand))
        return 1;
    if (*j.local && *j.resource) {
        snprintf(cand, sizeof cand, "%s/%s", j.domain, j.resource);
        if (blist_has(b, cand))
            return 1;
    }
    return blist_has(b, j.domain);
}

/* The list of the account `jid` belongs to, or NULL. */
static const struct blist *list_of(const struct blocking_state *s, const char *jid)
{
    struct jid j;
    char bare[JID_MAX];
    if (s->lists.len == 0) /* nobody blocks anyone: no JID to prepare (group chat fan-out) */
        return NULL;
    if (!jid || jid_parse(&j, jid) || !*j.local)
        return NULL;
    jid_bare(&j, bare);
    return map_get(&s->lists, bare);
}

/* --- the commands (§3.2-§3.5) ------------------------------------------------ */

/* Prepares every item's JID before anything changes, so a bad item
 * leaves the list as it was. Returns the count, or a stanza error. */
static int read_items(const struct xnode *cmd, char ***out /* OUT */)
{
    size_t n = 0;
    for (const struct xnode *it = xml_first_elem(cmd); it; it = xml_next_elem(it))
        n += strcmp(it->name, "item") == 0;
    if (n > BLOCKLIST_ITEMS_MAX)
        return stanza_err(STANZA_RESOURCE_CONSTRAINT);
    char **v = xcalloc(n ? n : 1, sizeof *v);
    size_t k = 0;
    for (const struct xnode *it = xml_first_elem(cmd); it; it = xml_next_elem(it)) {
        if (strcmp(it->name, "item") != 0)
            continue;
        const char *raw = xml_attr(it, "jid");
        char norm[JID_MAX];
        if (!raw || jid_normalize(raw, norm)) {
            for (size_t i = 0; i < k; i++)
                free(v[i]);
            free(v);
            return stanza_err(raw ? STANZA_JID_MALFORMED : STANZA_BAD_REQUEST);
        }
        v[k++] = xstrdup(norm);
    }
    *out = v;
    return (int)n;
}

static void free_items(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* §3.3/§3.4/§3.5: the same payload goes to every resource of the account
 * that asked for the list, in full-JID order. */
static void push_all(const struct blocking_state *s, const struct event *ev, const char *bare,
                     const char *cmd, char **items, size_t n, struct effects *out)
{
    size_t nkeys, blen = strlen(bare), sent = 0;
    const char **keys = map_sorted_keys(&s->interested, &nkeys);
    for (size_t i = 0; i < nkeys; i++) {
        if (strncmp(keys[i], bare, blen) != 0 || keys[i][blen] != '/')
            continue;
        const uint64_t *conn = map_get(&s->interested, keys[i]);
        char id[64];
        snprintf(id, sizeof id, "block-push-%llu-%zu", (unsigned long long)ev->seq, sent++);
        struct xnode *iq = xml_new("iq", NS_CLIENT);
        xml_set_attr(iq, "type", "set");
        xml_set_attr(iq, "id", id);
        xml_set_attr(iq, "to", keys[i]);
        struct xnode *c = xml_add(iq, cmd, NS_BLOCKING);
        for (size_t k = 0; k < n; k++)
            xml_set_attr(xml_add(c, "item", NULL), "jid", items[k]);
        fx_stanza(out, *conn, iq);
    }
    free(keys);
}

/* §3.3: a newly blocked contact sees the user go offline. Routed as
 * inbound; the pass list keeps our own "sender blocks recipient" rule
 * from dropping it. Whether the contact may see the user's presence
 * (subscription 'from' or 'both') is the roster's to know, not ours. */
static void send_unavailable(struct blocking_state *s, const char *bare, const char *contact,
                             struct effects *out)
{
    struct jid j;
    if (jid_parse(&j, contact) || !*j.local)
        return; /* a domain or server: no presence to withdraw */
    struct xnode *p = xml_new("presence", NS_CLIENT);
    xml_set_attr(p, "type", "unavailable");
    xml_set_attr(p, "from", bare);
    xml_set_attr(p, "to", contact);
    if (s->npass == s->pass_cap) {
        s->pass_cap = s->pass_cap ? s->pass_cap * 2 : 8;
        s->pass = xrealloc(s->pass, s->pass_cap * sizeof *s->pass);
    }
    s->pass[s->npass++] = p;
    fx_route(out, p);
}

/* --- audit notes ------------------------------------------------------------ */

/* The JIDs a command changed, for an audit note: space-separated, in
 * list order, cut short with "(+N more)" so the note stays within
 * AUDIT_NOTE_DETAIL_MAX. */
struct changed {
    struct buf text;
    size_t n, left_out;
};

/* Room kept for " (+N more)" at the end of the detail. */
#define CHANGED_TAIL_BYTES 24

static void changed_add(struct changed *c, const char *jid)
{
    size_t need = (c->n ? 1 : 0) + strlen(jid);
    c->n++;
    if (c->left_out || c->text.len + need > AUDIT_NOTE_DETAIL_MAX - CHANGED_TAIL_BYTES) {
        c->left_out++;
        return;
    }
    if (c->text.len)
        buf_puts(&c->text, " ");
    buf_puts(&c->text, jid);
}

/* Emits the note when anything changed, and frees c. */
static void changed_note(struct changed *c, const char *what, const char *bare,
                         struct effects *out)
{
    if (c->n) {
        if (c->left_out)
            buf_printf(&c->text, "%s(+%zu more)", c->text.len ? " " : "", c->left_out);
        fx_event(out, audit_ev_note(what, bare, bare, buf_cstr(&c->text)));
    }
    buf_free(&c->text);
}

static int apply_block(struct blocking_state *s, const struct event *ev, const char *bare,
                       const struct xnode *cmd, struct effects *out)
{
    char **items;
    int n = read_items(cmd, &items);
    if (n < 0)
        return n;
    if (n == 0) {
        free(items);
        return stanza_err(STANZA_BAD_REQUEST); /* §3.3: at least one item */
    }
    struct blist *b = map_get(&s->lists, bare);
    size_t fresh = 0;
    for (int i = 0; i < n; i++)
        fresh += !(b && blist_has(b, items[i]));
    if ((b ? b->n : 0) + fresh > BLOCKLIST_ITEMS_MAX) {
        free_items(items, (size_t)n);
        return stanza_err(STANZA_RESOURCE_CONSTRAINT);
    }
    if (!b) {
        b = xcalloc(1, sizeof *b);
        map_put(&s->lists, bare, b);
    }
    fx_stanza(out, ev->origin, stanza_reply(ev->body, "result"));
    push_all(s, ev, bare, "block", items, (size_t)n, out);
    struct changed added = {0};
    buf_init(&added.text);
    for (int i = 0; i < n; i++) {
        if (blist_add(b, items[i])) {
            send_unavailable(s, bare, items[i], out);
            changed_add(&added, items[i]);
        }
    }
    changed_note(&added, "block", bare, out);
    free_items(items, (size_t)n);
    return 0;
}

/* §3.4 and §3.5 (no items: unblock everyone). */
static int apply_unblock(struct blocking_state *s, const struct event *ev, const char *bare,
                         const struct xnode *cmd, struct effects *out)
{
    char **items;
    int n = read_items(cmd, &items);
    if (n < 0)
        return n;
    struct blist *b = map_get(&s->lists, bare);
    struct changed removed = {0};
    buf_init(&removed.text);
    if (n == 0) {
        for (size_t i = 0; b && i < b->n; i++)
            changed_add(&removed, b->v[i]);
        if (b)
            blist_free(map_del(&s->lists, bare));
    } else if (b) {
        for (int i = 0; i < n; i++)
            if (blist_del(b, items[i]))
                changed_add(&removed, items[i]);
        if (b->n == 0)
            blist_free(map_del(&s->lists, bare));
    }
    fx_stanza(out, ev->origin, stanza_reply(ev->body, "result"));
    push_all(s, ev, bare, "unblock", items, (size_t)n, out);
    changed_note(&removed, n == 0 ? "unblock-all" : "unblock", bare, out);
    free_items(items, (size_t)n);
    return 0;
}

static int apply_command(struct blocking_state *s, const struct event *ev, const struct xnode *cmd,
                         struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *type = xml_attr(st, "type");
    const char *from = xml_attr(st, "from");
    struct jid j;
    char bare[JID_MAX];
    if (!from || jid_parse(&j, from) || !*j.local)
        return stanza_err(STANZA_BAD_REQUEST);
    jid_bare(&j, bare);
    int get = type && strcmp(type, "get") == 0;
    int set = type && strcmp(type, "set") == 0;
    if (get && strcmp(cmd->name, "blocklist") == 0) { /* §3.2 */
        struct xnode *r = stanza_reply(st, "result");
        struct xnode *bl = xml_add(r, "blocklist", NS_BLOCKING);
        const struct blist *b = map_get(&s->lists, bare);
        for (size_t i = 0; b && i < b->n; i++)
            xml_set_attr(xml_add(bl, "item", NULL), "jid", b->v[i]);
        fx_stanza(out, ev->origin, r);
        uint64_t *conn = xmalloc(sizeof *conn);
        *conn = ev->origin;
        free(map_put(&s->interested, from, conn)); /* §3.2: now "interested" */
        return 0;
    }
    if (set && strcmp(cmd->name, "block") == 0)
        return apply_block(s, ev, bare, cmd, out);
    if (set && strcmp(cmd->name, "unblock") == 0)
        return apply_unblock(s, ev, bare, cmd, out);
    return stanza_err(STANZA_BAD_REQUEST);
}

/* --- enforcement ------------------------------------------------------------ */

static int type_is(const struct xnode *st, const char *t)
{
    const char *type = xml_attr(st, "type");
    return type && strcmp(type, t) == 0;
}

static int is_iq_request(const struct xnode *st)
{
    return strcmp(st->name, "iq") == 0 && (type_is(st, "get") || type_is(st, "set"));
}

/* The sender is blocked by the recipient (§3.3 rules for the user's
 * server): the recipient must look offline. */
static int refuse_as_offline(const struct xnode *st)
{
    if (strcmp(st->name, "presence") == 0 || type_is(st, "error"))
        return 0;
    if (strcmp(st->name, "iq") == 0 && !is_iq_request(st))
        return 0;
    return stanza_err(STANZA_SERVICE_UNAVAILABLE);
}

/* The sender blocks the recipient (§3.3, last example): the user is told
 * with <not-acceptable/> and <blocked/>. The example's error type is
 * 'cancel', so it is set here rather than taken from the table. */
static int refuse_as_blocked(const struct event *ev, const struct xnode *st, struct effects *out)
{
    if (strcmp(st->name, "presence") == 0 || type_is(st, "error"))
        return 0;
    if (strcmp(st->name, "iq") == 0 && !is_iq_request(st))
        return 0;
    struct xnode *r = stanza_error_reply(st, STANZA_NOT_ACCEPTABLE, NULL);
    struct xnode *e = xml_child(r, "error", NULL);
    xml_set_attr(e, "type", "cancel");
    xml_add(e, "blocked", NS_BLOCKING_ERRORS);
    fx_stanza(out, ev->origin, r);
    return 0;
}

static int is_own_account(const char *from, const char *to)
{
    struct jid f, t;
    char fb[JID_MAX], tb[JID_MAX];
    if (!to)
        return 1;
    if (!from || jid_parse(&f, from) || jid_parse(&t, to) || *t.resource)
        return 0;
    jid_bare(&f, fb);
    jid_bare(&t, tb);
    return strcmp(fb, tb) == 0;
}

static int check_outbound(struct blocking_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *from = xml_attr(st, "from");
    const char *to = xml_attr(st, "to");
    if (strcmp(st->name, "iq") == 0 && is_own_account(from, to)) {
        const struct xnode *cmd = xml_first_elem(st);
        if (cmd && strcmp(cmd->ns, NS_BLOCKING) == 0)
            return apply_command(s, ev, cmd, out);
    }
    if (!to)
        return H_PASS;
    if (blist_matches(list_of(s, from), to))
        return refuse_as_blocked(ev, st, out);
    /* A local recipient's list applies here too: handlers that answer
     * for an account (vCard, last activity) do so on this pass. */
    if (blist_matches(list_of(s, to), from))
        return refuse_as_offline(st);
    return H_PASS;
}

static int take_pass(struct blocking_state *s, const struct xnode *st)
{
    for (size_t i = 0; i < s->npass; i++) {
        if (s->pass[i] == st) {
            s->pass[i] = s->pass[--s->npass];
            return 1;
        }
    }
    return 0;
}

static int check_inbound(struct blocking_state *s, const struct event *ev)
{
    const struct xnode *st = ev->body;
    const char *from = xml_attr(st, "from");
    const char *to = xml_attr(st, "to");
    if (!from || !to || take_pass(s, st))
        return H_PASS;
    if (blist_matches(list_of(s, to), from))
        return refuse_as_offline(st);
    /* Errors pass: they are our own bounces, sent for the blocker. */
    if (!type_is(st, "error") && blist_matches(list_of(s, from), to))
        return 0;
    return H_PASS;
}

/* --- events ----------------------------------------------------------------- */

static void apply_session_closed(struct blocking_state *s, const struct event *ev)
{
    const char *full = xml_attr(ev->body, "jid");
    uint64_t *conn = full ? map_get(&s->interested, full) : NULL;
    if (conn && *conn == ev->origin)
        free(map_del(&s->interested, full));
}

static void apply_account_delete(struct blocking_state *s, const struct event *ev)
{
    const char *bare = xml_attr(ev->body, "jid");
    struct blist *b = bare ? map_del(&s->lists, bare) : NULL;
    if (b)
        blist_free(b);
}

static int blocking_apply(void *state, const struct event *ev, struct effects *out)
{
    struct blocking_state *s = state;
    if (ev->origin_kind != ORIGIN_ROUTE)
        s->npass = 0; /* a new event: last event's routes are done */
    switch (ev->type) {
    case EV_SERVER_STARTED: interested_clear(s); return 0;
    case EV_SESSION_CLOSED: apply_session_closed(s, ev); return 0;
    case EV_ACCOUNT_DELETE: apply_account_delete(s, ev); return 0;
    case EV_STANZA:
        if (stanza_outbound(ev))
            return check_outbound(s, ev, out);
        return check_inbound(s, ev);
    default: return H_PASS;
    }
}

/* --- snapshot ----------------------------------------------------------------- */

/* u8 version, varint accounts, then per account in JID byte order:
 * str jid, varint count, count x str blocked JID (byte order). */
static void blocking_encode(const void *state, struct buf *out)
{
    const struct blocking_state *s = state;
    size_t n;
    const char **keys = map_sorted_keys(&s->lists, &n);
    buf_put_u8(out, BLOCKING_SNAPSHOT_VERSION);
    buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        const struct blist *b = map_get(&s->lists, keys[i]);
        buf_put_str(out, keys[i]);
        buf_put_varint(out, b->n);
        for (size_t k = 0; k < b->n; k++)
            buf_put_str(out, b->v[k]);
    }
    free(keys);
}

static int decode_list(struct rd *in, struct blist *b)
{
    uint64_t n = rd_varint(in);
    if (n == 0 || n > BLOCKLIST_ITEMS_MAX || n > rd_left(in))
        return -ERR_CORRUPT;
    for (uint64_t k = 0; k < n && !in->err; k++) {
        char *jid = rd_strdup(in);
        /* strictly increasing: sorted, no duplicates */
        if (!jid || (b->n > 0 && strcmp(b->v[b->n - 1], jid) >= 0)) {
            free(jid);
            return -ERR_CORRUPT;
        }
        blist_add(b, jid);
        free(jid);
    }
    return in->err ? -ERR_CORRUPT : 0;
}

static int blocking_decode(void *state, struct rd *in)
{
    struct blocking_state *s = state;
    if (rd_u8(in) != BLOCKING_SNAPSHOT_VERSION)
        return in->err ? -ERR_CORRUPT : -ERR_VERSION;
    uint64_t n = rd_varint(in);
    for (uint64_t i = 0; i < n && !in->err; i++) {
        char *bare = rd_strdup(in);
        if (!bare || map_get(&s->lists, bare)) {
            free(bare);
            return -ERR_CORRUPT;
        }
        struct blist *b = xcalloc(1, sizeof *b);
        map_put(&s->lists, bare, b);
        free(bare);
        if (decode_list(in, b))
            return -ERR_CORRUPT;
    }
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler blocking_handler = {
    .name = "blocking",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_SESSION_CLOSED) | EV_BIT(EV_ACCOUNT_DELETE) |
             EV_BIT(EV_STANZA),
    .create = blocking_create,
    .destroy = blocking_destroy,
    .apply = blocking_apply,
    .encode = blocking_encode,
    .decode = blocking_decode,
};

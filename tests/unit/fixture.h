/* fixture.h: what the unit tests that drive the real dispatcher share.
 * They feed it events the way the bus does (numbered, stamped, one at a
 * time) and read the effects it returns. Static inline, so a test only
 * includes this header: nothing more to link. The state below is per test
 * program; Check runs each test in its own process, and every world
 * starts with fresh()/fresh_from(). */
#ifndef STANZAD_TEST_FIXTURE_H
#define STANZAD_TEST_FIXTURE_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/accounts/accounts.h"
#include "handlers/sessions/sessions.h"
#include "kernel/dispatch.h"

#ifndef NS_STANZAS
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#endif

/* --- applying events ---------------------------------------------------- */

/* The seq of the last event applied; fresh() starts again at 0. */
static uint64_t next_seq;
/* Event N happens at clock_base_us + N seconds (a test that reads dates
 * sets a real-looking base before fresh_from()). */
static int64_t clock_base_us;
/* Set by tests whose handlers make decisions they want carried out (the
 * muc's subject and memberships): apply() then goes through
 * apply_with_decisions(). Off by default, since most tests inspect the
 * FX_EVENT decisions themselves. */
static int apply_feeds_decisions;

/* Stamps ev as the next event at time_us, applies it (it must be taken
 * without error), frees it. Effects join fx; with fx NULL they are
 * dropped. */
static inline void apply_at(struct dispatch *d, struct event *ev, int64_t time_us,
                            struct effects *fx)
{
    struct effects dropped;
    effects_init(&dropped);
    ev->seq = ++next_seq;
    ev->time_us = time_us;
    ck_assert_int_eq(dispatch_event(d, ev, fx ? fx : &dropped), 0);
    event_free(ev);
    effects_clear(&dropped);
}

/* apply_at() on the test clock. */
static inline void apply_plain(struct dispatch *d, struct event *ev, struct effects *fx)
{
    apply_at(d, ev, clock_base_us + 1000000 * (int64_t)(next_seq + 1), fx);
}

/* apply_plain(), then, as the kernel does, each decision (FX_EVENT) the
 * event made, as the next event, recursively; their effects join fx too
 * (fx NULL: all dropped). The decisions are taken out of fx. */
static inline void apply_with_decisions(struct dispatch *d, struct event *ev, struct effects *fx)
{
    if (!fx) {
        struct effects quiet;
        effects_init(&quiet);
        apply_with_decisions(d, ev, &quiet);
        effects_clear(&quiet);
        return;
    }
    size_t first = fx->n;
    apply_plain(d, ev, fx);
    for (size_t i = first; i < fx->n; i++) {
        if (fx->v[i].kind != FX_EVENT || !fx->v[i].event)
            continue;
        struct event *decision = fx->v[i].event;
        fx->v[i].event = NULL;
        apply_with_decisions(d, decision, fx);
    }
}

/* The way every helper below applies an event (see apply_feeds_decisions). */
static inline void apply(struct dispatch *d, struct event *ev, struct effects *fx)
{
    if (apply_feeds_decisions)
        apply_with_decisions(d, ev, fx);
    else
        apply_plain(d, ev, fx);
}

static inline void apply_quiet(struct dispatch *d, struct event *ev) { apply(d, ev, NULL); }

/* A new dispatcher that has applied `started` as event 1. */
static inline struct dispatch *fresh_from(struct event *started)
{
    next_seq = 0;
    struct dispatch *d = dispatch_new();
    apply_quiet(d, started);
    return d;
}

/* The same on the default settings: domain localhost, default limits. */
static inline struct dispatch *fresh(void)
{
    return fresh_from(event_server_started("localhost", "test"));
}

/* Encodes d, decodes that into a new dispatcher, and asserts the copy
 * encodes to the same bytes; returns the copy (the caller frees it). The
 * snapshot is left in `keep` when not NULL (an initialised buf). */
static inline struct dispatch *snapshot_round_trip(const struct dispatch *d, struct buf *keep)
{
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    dispatch_encode(d, &a);
    struct dispatch *copy = dispatch_new();
    ck_assert_int_eq(dispatch_decode(copy, a.p, a.len), 0);
    dispatch_encode(copy, &b);
    ck_assert_uint_eq(a.len, b.len);
    ck_assert_mem_eq(a.p, b.p, a.len);
    if (keep)
        buf_put(keep, a.p, a.len);
    buf_free(&a);
    buf_free(&b);
    return copy;
}

/* --- accounts and sessions ---------------------------------------------- */

/* SCRAM credentials filled with `fill`; the SHA-1 keys are 20 bytes and
 * the rest of their arrays stays zero, as a real registration leaves it. */
static inline struct scram_creds creds(uint8_t fill)
{
    struct scram_creds c;
    memset(&c, fill, sizeof c);
    c.iter = 4096;
    memset(c.key[SCRAM_SHA1].stored + 20, 0, SCRAM_KEY_MAX - 20);
    memset(c.key[SCRAM_SHA1].server + 20, 0, SCRAM_KEY_MAX - 20);
    return c;
}

/* Registers the account bare (by the operator): accounts refuses stanzas
 * for JIDs that are not accounts before any other handler sees them. */
static inline void registered(struct dispatch *d, const char *bare)
{
    struct scram_creds c = creds(7);
    apply_quiet(d, accounts_ev_register(ORIGIN_CTL, 1, bare, NULL, &c));
}

/* The bare part of a JID, in a buffer the next call reuses. */
static inline const char *bare_of(const char *full)
{
    static char bare[128];
    ck_assert_uint_lt(strlen(full), sizeof bare);
    snprintf(bare, sizeof bare, "%s", full);
    char *slash = strchr(bare, '/');
    if (slash)
        *slash = 0;
    return bare;
}

/* <name xmlns=jabber:client from=...> with to, type and id when not NULL. */
static inline struct xnode *stanza(const char *name, const char *from, const char *to,
                                   const char *type, const char *id)
{
    struct xnode *st = xml_new(name, NS_CLIENT);
    xml_set_attr(st, "from", from);
    if (to)
        xml_set_attr(st, "to", to);
    if (type)
        xml_set_attr(st, "type", type);
    if (id)
        xml_set_attr(st, "id", id);
    return st;
}

/* A stanza from the session on conn bound as its 'from' (the outbound
 * pass); takes st. */
static inline void send(struct dispatch *d, uint64_t conn, struct xnode *st, struct effects *fx)
{
    apply(d, event_new(EV_STANZA, ORIGIN_C2S, conn, bare_of(xml_attr(st, "from")), st), fx);
}

/* A stanza on its way to a local entity (the inbound pass: FX_ROUTE, or
 * from another server); takes st. */
static inline void route(struct dispatch *d, struct xnode *st, struct effects *fx)
{
    apply(d, event_new(EV_STANZA, ORIGIN_ROUTE, 0, "", st), fx);
}

/* Binds full on conn (its answers dropped). */
static inline void bind_session(struct dispatch *d, uint64_t conn, const char *full)
{
    apply_quiet(d, sessions_ev_bound(conn, full, "bind1"));
}

/* Binds full on conn and sends initial presence, so that stanzas routed
 * to it show up as FX_STANZA effects. */
static inline void bind_online(struct dispatch *d, uint64_t conn, const char *full)
{
    bind_session(d, conn, full);
    send(d, conn, stanza("presence", full, NULL, NULL, NULL), NULL);
}

/* bind_online() for a new account. */
static inline void online(struct dispatch *d, uint64_t conn, const char *full)
{
    registered(d, bare_of(full));
    bind_online(d, conn, full);
}

/* --- reading effects ---------------------------------------------------- */

/* How many stanzas named name (NULL: any) fx sends on conn. */
static inline size_t count_to(const struct effects *fx, uint64_t conn, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n; i++)
        n += fx->v[i].kind == FX_STANZA && fx->v[i].to == conn &&
             (!name || strcmp(fx->v[i].stanza->name, name) == 0);
    return n;
}

/* The nth (from 0) stanza fx sends on conn, or NULL. */
static inline const struct xnode *nth_to(const struct effects *fx, uint64_t conn, size_t nth)
{
    for (size_t i = 0; i < fx->n; i++)
        if (fx->v[i].kind == FX_STANZA && fx->v[i].to == conn && nth-- == 0)
            return fx->v[i].stanza;
    return NULL;
}

/* The defined condition of st's <error/> ("" when st is NULL or carries
 * none): its first child in the stanzas namespace other than <text/>. */
static inline const char *error_cond_or_none(const struct xnode *st)
{
    const struct xnode *e = st ? xml_child(st, "error", NULL) : NULL;
    for (const struct xnode *c = e ? xml_first_elem(e) : NULL; c; c = xml_next_elem(c))
        if (c->ns && strcmp(c->ns, NS_STANZAS) == 0 && strcmp(c->name, "text") != 0)
            return c->name;
    return "";
}

/* The same, for a stanza that must be an error (RFC 6120 §8.3):
 * type='error' and an <error/> with a defined condition, asserted. */
static inline const char *error_cond(const struct xnode *st)
{
    ck_assert_ptr_nonnull(st);
    ck_assert_pstr_eq(xml_attr(st, "type"), "error");
    ck_assert_ptr_nonnull(xml_child(st, "error", NULL));
    const char *cond = error_cond_or_none(st);
    ck_assert_str_ne(cond, "");
    return cond;
}

/* --- running ------------------------------------------------------------ */

/* Runs suite s (Check's defaults: each test in its own process); the
 * exit status of a test program. */
static inline int run_suite(Suite *s)
{
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif

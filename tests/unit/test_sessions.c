/* test_sessions: the sessions handler, driven through the real
 * dispatcher (accounts alice, bob and carol registered): RFC 6121 §8.5
 * delivery as a table of cases, presence among an account's own
 * resources (§4), directed presence ended on close (§4.6), probe answers
 * (§4.3.2), Message Carbons (XEP-0280), binding. Probes go straight to the
 * handler, since in the chain roster first checks the subscription. */
#include "handlers/sessions/sessions_int.h"
#include "fixture.h"

#define ALICE "alice@localhost"
#define BOB "bob@localhost"

/* alice, bob and carol have accounts. */
static struct dispatch *fresh_with_users(void)
{
    static const char *const users[] = {ALICE, BOB, "carol@localhost"};
    struct dispatch *d = fresh();
    for (size_t i = 0; i < sizeof users / sizeof users[0]; i++)
        registered(d, users[i]);
    return d;
}

static struct xnode *message(const char *from, const char *to, const char *type, const char *id)
{
    struct xnode *m = stanza("message", from, to, type, id);
    xml_add_text(xml_add(m, "body", NULL), "hi");
    return m;
}

static struct xnode *presence(const char *from, const char *priority, const char *type)
{
    struct xnode *p = stanza("presence", from, NULL, type, NULL);
    if (priority)
        xml_add_text(xml_add(p, "priority", NULL), priority);
    return p;
}

/* Binds full on conn; with priority, also sends initial presence. */
static void online_at(struct dispatch *d, uint64_t conn, const char *full, const char *priority)
{
    bind_session(d, conn, full);
    if (priority)
        send(d, conn, presence(full, priority, NULL), NULL);
}

static void enable_carbons(struct dispatch *d, uint64_t conn, const char *full)
{
    struct effects fx;
    effects_init(&fx);
    struct xnode *iq = stanza("iq", full, NULL, "set", "cb");
    xml_add(iq, "enable", NS_CARBONS);
    send(d, conn, iq, &fx);
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_uint_eq(fx.v[0].to, conn);
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "type"), "result");
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "id"), "cb");
    effects_clear(&fx);
}

/* --- reading effects ------------------------------------------------- */

static const struct xnode *carbon_wrapper(const struct xnode *st)
{
    const struct xnode *w = xml_child(st, "sent", NS_CARBONS);
    return w ? w : xml_child(st, "received", NS_CARBONS);
}

/* Stanzas named `name` for conn that are not carbons or errors. */
static size_t plain_to(const struct effects *fx, uint64_t conn, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n; i++) {
        const struct effect *e = &fx->v[i];
        if (e->kind == FX_STANZA && e->to == conn && strcmp(e->stanza->name, name) == 0 &&
            !carbon_wrapper(e->stanza) && !xml_child(e->stanza, "error", NULL))
            n++;
    }
    return n;
}

/* Carbons of kind wrapper ("sent", "received") for conn. */
static size_t carbons_to(const struct effects *fx, uint64_t conn, const char *wrapper)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n; i++)
        if (fx->v[i].kind == FX_STANZA && fx->v[i].to == conn &&
            xml_child(fx->v[i].stanza, wrapper, NS_CARBONS))
            n++;
    return n;
}

/* The error condition of the error stanza sent to conn, or "" when none. */
static const char *error_to(const struct effects *fx, uint64_t conn)
{
    for (size_t i = 0; i < fx->n; i++) {
        const struct xnode *err;
        if (fx->v[i].kind == FX_STANZA && fx->v[i].to == conn &&
            (err = xml_child(fx->v[i].stanza, "error", NULL)) && xml_first_elem(err))
            return xml_first_elem(err)->name;
    }
    return "";
}

static size_t offline_stores(const struct effects *fx, const char *bare)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n; i++)
        if (fx->v[i].kind == FX_EVENT && fx->v[i].event->type == EV_OFFLINE_STORE &&
            strcmp(fx->v[i].event->subject, bare) == 0)
            n++;
    return n;
}

/* --- RFC 6121 §8.5 as a table --------------------------------------- */

/* Alice's resources and their connections. */
#define A5 11   /* alice/a5, priority 5 */
#define B1 12   /* alice/b1, priority 1 */
#define NEG 13  /* alice/neg, priority -1 */
#define IDLE 14 /* alice/idle, bound, never sent presence */
#define T5 15   /* alice/t5, priority 5, available after a5 */
#define BOBC 21 /* bob/x, the sender */
static const uint64_t alice_conns[] = {A5, B1, NEG, IDLE, T5};
#define BIT(conn) (1u << ((conn) - A5))

enum setup {
    S_USUAL, /* a5, b1, neg available; idle bound */
    S_NEG,   /* neg available, idle bound: nobody takes bare-JID messages */
    S_NONE,  /* alice has no session */
    S_TIE,   /* a5 then t5 available at priority 5; a5 updates its presence last */
};

static void set_up(struct dispatch *d, enum setup setup)
{
    online_at(d, BOBC, BOB "/x", "0");
    if (setup == S_USUAL || setup == S_TIE)
        online_at(d, A5, ALICE "/a5", "5");
    if (setup == S_USUAL)
        online_at(d, B1, ALICE "/b1", "1");
    if (setup == S_USUAL || setup == S_NEG) {
        online_at(d, NEG, ALICE "/neg", "-1");
        online_at(d, IDLE, ALICE "/idle", NULL);
    }
    if (setup == S_TIE) {
        online_at(d, T5, ALICE "/t5", "5");
        struct effects fx;
        effects_init(&fx);
        send(d, A5, presence(ALICE "/a5", "5", NULL), &fx); /* not initial: order stays */
        effects_clear(&fx);
    }
}

struct route_case {
    enum setup setup;
    const char *name; /* message, iq */
    const char *type; /* NULL: no 'type' */
    const char *to;
    unsigned delivered; /* BIT() of alice's conns that get it */
    const char *bounce; /* condition bob gets back, "" for none */
    int offline;        /* an offline-store decision is made */
};

static const struct route_case route_cases[] = {
    /* §8.5.2.1.1: bare JID, highest non-negative priority only */
    {S_USUAL, "message", "chat", ALICE, BIT(A5), "", 0},
    {S_USUAL, "message", NULL, ALICE, BIT(A5), "", 0},
    {S_USUAL, "message", "normal", ALICE, BIT(A5), "", 0},
    {S_USUAL, "message", "x-unknown", ALICE, BIT(A5), "", 0},
    {S_USUAL, "message", "headline", ALICE, BIT(A5) | BIT(B1), "", 0},
    {S_USUAL, "message", "groupchat", ALICE, 0, "service-unavailable", 0},
    {S_USUAL, "message", "error", ALICE, 0, "", 0},
    {S_TIE, "message", "chat", ALICE, BIT(T5), "", 0},
    {S_TIE, "message", "headline", ALICE, BIT(A5) | BIT(T5), "", 0},
    /* §8.5.2.2.1: no available resource with non-negative priority */
    {S_NEG, "message", "chat", ALICE, 0, "", 1},
    {S_NEG, "message", NULL, ALICE, 0, "", 1},
    {S_NEG, "message", "headline", ALICE, 0, "", 0},
    {S_NEG, "message", "groupchat", ALICE, 0, "service-unavailable", 0},
    {S_NONE, "message", "chat", ALICE, 0, "", 1},
    {S_NONE, "message", "headline", ALICE, 0, "", 0},
    /* §8.5.3.1: a connected resource gets it, whatever its presence */
    {S_USUAL, "message", "chat", ALICE "/b1", BIT(B1), "", 0},
    {S_USUAL, "message", "chat", ALICE "/neg", BIT(NEG), "", 0},
    {S_USUAL, "message", "chat", ALICE "/idle", BIT(IDLE), "", 0},
    {S_USUAL, "message", "groupchat", ALICE "/b1", BIT(B1), "", 0},
    {S_USUAL, "message", "headline", ALICE "/neg", BIT(NEG), "", 0},
    /* §8.5.3.2.1: the resource is gone */
    {S_USUAL, "message", "chat", ALICE "/gone", BIT(A5), "", 0},
    {S_USUAL, "message", NULL, ALICE "/gone", BIT(A5), "", 0},
    {S_USUAL, "message", "groupchat", ALICE "/gone", 0, "service-unavailable", 0},
    {S_USUAL, "message", "headline", ALICE "/gone", 0, "", 0},
    {S_USUAL, "message", "error", ALICE "/gone", 0, "", 0},
    {S_NEG, "message", "chat", ALICE "/gone", 0, "", 1},
    /* IQs: full JID delivered if bound; bare JID is the server's business */
    {S_USUAL, "iq", "get", ALICE "/neg", BIT(NEG), "", 0},
    {S_USUAL, "iq", "result", ALICE "/idle", BIT(IDLE), "", 0},
    {S_USUAL, "iq", "get", ALICE "/gone", 0, "service-unavailable", 0},
    {S_USUAL, "iq", "set", ALICE "/gone", 0, "service-unavailable", 0},
    {S_USUAL, "iq", "result", ALICE "/gone", 0, "", 0},
    {S_USUAL, "iq", "get", ALICE, 0, "service-unavailable", 0},
    /* no federation yet */
    {S_USUAL, "message", "chat", "juliet@remote.example", 0, "remote-server-not-found", 0},
    {S_USUAL, "iq", "get", "remote.example", 0, "remote-server-not-found", 0},
};

START_TEST(routing_follows_rfc6121_8_5)
{
    const struct route_case *c = &route_cases[_i];
    struct dispatch *d = fresh_with_users();
    set_up(d, c->setup);
    struct effects fx;
    effects_init(&fx);
    struct xnode *st = strcmp(c->name, "message") == 0
                           ? message(BOB "/x", c->to, c->type, "r1")
                           : stanza("iq", BOB "/x", c->to, c->type, "r1");
    if (strcmp(c->name, "iq") == 0)
        xml_add(st, "query", "urn:example:nobody-answers");
    send(d, BOBC, st, &fx);
    for (size_t i = 0; i < sizeof alice_conns / sizeof alice_conns[0]; i++) {
        uint64_t conn = alice_conns[i];
        size_t want = (c->delivered & BIT(conn)) ? 1 : 0;
        ck_assert_msg(plain_to(&fx, conn, c->name) == want, "case %d: conn %d got %zu, want %zu",
                      _i, (int)conn, plain_to(&fx, conn, c->name), want);
        if (want) { /* a copy, unchanged */
            const struct xnode *got = nth_to(&fx, conn, 0);
            ck_assert_str_eq(xml_attr(got, "id"), "r1");
            ck_assert_str_eq(xml_attr(got, "from"), BOB "/x");
            ck_assert_str_eq(xml_attr(got, "to"), c->to);
        }
    }
    ck_assert_msg(strcmp(error_to(&fx, BOBC), c->bounce) == 0, "case %d: bounce '%s', want '%s'",
                  _i, error_to(&fx, BOBC), c->bounce);
    ck_assert_uint_eq(plain_to(&fx, BOBC, c->name), 0);
    ck_assert_msg(offline_stores(&fx, ALICE) == (size_t)c->offline, "case %d: offline", _i);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(negative_priority_resource_still_gets_headlines_only_by_full_jid)
{
    /* §4.7.2.3 with §8.5.2.1.1: a -1 resource is never chosen for the bare
     * JID even when it is the only available one, but becomes eligible
     * once it raises its priority. */
    struct dispatch *d = fresh_with_users();
    set_up(d, S_NEG);
    struct effects fx;
    effects_init(&fx);
    send(d, NEG, presence(ALICE "/neg", "0", NULL), &fx);
    effects_clear(&fx);
    send(d, BOBC, message(BOB "/x", ALICE, "chat", "m"), &fx);
    ck_assert_uint_eq(plain_to(&fx, NEG, "message"), 1);
    ck_assert_uint_eq(offline_stores(&fx, ALICE), 0);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* --- presence among an account's own resources (§4) ------------------ */

START_TEST(broadcast_presence_reaches_own_available_resources_including_sender)
{
    struct dispatch *d = fresh_with_users();
    online_at(d, A5, ALICE "/a5", NULL);
    online_at(d, B1, ALICE "/b1", NULL);
    struct effects fx;
    effects_init(&fx);
    send(d, A5, presence(ALICE "/a5", "5", NULL), &fx);
    ck_assert_uint_eq(plain_to(&fx, A5, "presence"), 1); /* §4.2.2: the sender too */
    ck_assert_uint_eq(plain_to(&fx, B1, "presence"), 0); /* not available yet */
    ck_assert_str_eq(xml_attr(nth_to(&fx, A5, 0), "from"), ALICE "/a5");
    effects_clear(&fx);
    /* b1's initial presence: both get it, and b1 learns a5's presence. */
    send(d, B1, presence(ALICE "/b1", "1", NULL), &fx);
    ck_assert_uint_eq(plain_to(&fx, A5, "presence"), 1);
    ck_assert_uint_eq(plain_to(&fx, B1, "presence"), 2);
    int saw_a5 = 0;
    for (size_t i = 0; i < 2; i++) {
        const struct xnode *p = nth_to(&fx, B1, i);
        if (strcmp(xml_attr(p, "from"), ALICE "/a5") == 0) {
            saw_a5 = 1;
            ck_assert_str_eq(xml_text(xml_child(p, "priority", NULL)), "5");
            ck_assert_str_eq(xml_attr(p, "to"), ALICE "/b1");
        }
    }
    ck_assert(saw_a5);
    effects_clear(&fx);
    /* An update is not initial: no replay of the others' presence. */
    send(d, B1, presence(ALICE "/b1", "2", NULL), &fx);
    ck_assert_uint_eq(plain_to(&fx, B1, "presence"), 1);
    ck_assert_uint_eq(plain_to(&fx, A5, "presence"), 1);
    effects_clear(&fx);
    /* §4.5.2: unavailable reaches the others and the sender. */
    send(d, A5, presence(ALICE "/a5", NULL, "unavailable"), &fx);
    ck_assert_uint_eq(plain_to(&fx, A5, "presence"), 1);
    ck_assert_uint_eq(plain_to(&fx, B1, "presence"), 1);
    ck_assert_str_eq(xml_attr(nth_to(&fx, B1, 0), "type"), "unavailable");
    effects_clear(&fx);
    /* a5 is no longer a candidate for bare-JID messages. */
    send(d, B1, message(ALICE "/b1", ALICE, "chat", "self"), &fx);
    ck_assert_uint_eq(plain_to(&fx, B1, "message"), 1);
    ck_assert_uint_eq(plain_to(&fx, A5, "message"), 0);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(priority_outside_a_byte_is_bad_request)
{
    static const char *const bad[] = {"128", "-129", "high", "", "1 2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct dispatch *d = fresh_with_users();
        online_at(d, A5, ALICE "/a5", NULL);
        online_at(d, BOBC, BOB "/x", "0");
        struct effects fx;
        effects_init(&fx);
        send(d, A5, presence(ALICE "/a5", bad[i], NULL), &fx);
        ck_assert_str_eq(error_to(&fx, A5), "bad-request");
        ck_assert_uint_eq(plain_to(&fx, A5, "presence"), 0);
        effects_clear(&fx);
        /* still unavailable: a bare-JID message goes offline */
        send(d, BOBC, message(BOB "/x", ALICE, "chat", "m"), &fx);
        ck_assert_uint_eq(offline_stores(&fx, ALICE), 1);
        effects_clear(&fx);
        dispatch_free(d);
    }
    int prio;
    struct xnode *p = presence(ALICE "/a", " -128 ", NULL);
    ck_assert_int_eq(presence_priority(p, &prio), 0);
    ck_assert_int_eq(prio, -128);
    xml_free(p);
}
END_TEST

/* --- directed presence (§4.6) ----------------------------------------- */

START_TEST(directed_presence_is_ended_when_the_session_closes)
{
    struct dispatch *d = fresh_with_users();
    online_at(d, A5, ALICE "/a5", "5");
    online_at(d, B1, ALICE "/b1", "1");
    online_at(d, BOBC, BOB "/x", "0");
    struct effects fx;
    effects_init(&fx);
    struct xnode *dp = stanza("presence", ALICE "/a5", BOB "/x", NULL, "dp");
    send(d, A5, dp, &fx);
    ck_assert_uint_eq(plain_to(&fx, BOBC, "presence"), 1); /* routed */
    effects_clear(&fx);
    apply(d, sessions_ev_closed(A5, ALICE "/a5"), &fx);
    ck_assert_uint_eq(plain_to(&fx, BOBC, "presence"), 1);
    const struct xnode *un = nth_to(&fx, BOBC, 0);
    ck_assert_str_eq(xml_attr(un, "type"), "unavailable");
    ck_assert_str_eq(xml_attr(un, "from"), ALICE "/a5");
    ck_assert_uint_eq(plain_to(&fx, B1, "presence"), 1); /* own other resource */
    ck_assert_str_eq(xml_attr(nth_to(&fx, B1, 0), "from"), ALICE "/a5");
    effects_clear(&fx);
    ck_assert_uint_eq(sessions_count(dispatch_state(d, "sessions")), 2);
    dispatch_free(d);
}
END_TEST

START_TEST(directed_unavailable_forgets_and_broadcast_unavailable_ends_directed)
{
    struct dispatch *d = fresh_with_users();
    online_at(d, A5, ALICE "/a5", "5");
    online_at(d, BOBC, BOB "/x", "0");
    online_at(d, 31, "carol@localhost/c", "0");
    struct effects fx;
    effects_init(&fx);
    send(d, A5, stanza("presence", ALICE "/a5", BOB "/x", NULL, NULL), &fx);
    send(d, A5, stanza("presence", ALICE "/a5", "carol@localhost/c", NULL, NULL), &fx);
    send(d, A5, stanza("presence", ALICE "/a5", BOB "/x", "unavailable", NULL), &fx);
    effects_clear(&fx);
    /* Broadcast unavailable: carol (still directed) hears, bob does not again. */
    send(d, A5, presence(ALICE "/a5", NULL, "unavailable"), &fx);
    ck_assert_uint_eq(plain_to(&fx, 31, "presence"), 1);
    ck_assert_str_eq(xml_attr(nth_to(&fx, 31, 0), "type"), "unavailable");
    ck_assert_uint_eq(plain_to(&fx, BOBC, "presence"), 0);
    effects_clear(&fx);
    /* The list was cleared: closing now tells nobody. */
    apply(d, sessions_ev_closed(A5, ALICE "/a5"), &fx);
    ck_assert_uint_eq(plain_to(&fx, 31, "presence"), 0);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* --- probes (§4.3.2), straight to the handler ------------------------- */

static void direct(void *s, struct event *ev, struct effects *fx, int want_rc)
{
    ck_assert_int_eq(sessions_handler.apply(s, ev, fx), want_rc);
    event_free(ev);
}

/* A stanza from alice's session on conn, as the kernel submits it. */
static struct event *from_alice(uint64_t conn, struct xnode *st)
{
    return event_new(EV_STANZA, ORIGIN_C2S, conn, ALICE, st);
}

static void *handler_with_alice(void)
{
    void *s = sessions_handler.create();
    struct effects fx;
    effects_init(&fx);
    direct(s, event_server_started("localhost", "test"), &fx, 0);
    direct(s, sessions_ev_bound(A5, ALICE "/a5", "b"), &fx, 0);
    direct(s, sessions_ev_bound(B1, ALICE "/b1", "b"), &fx, 0);
    direct(s, from_alice(A5, presence(ALICE "/a5", "5", NULL)), &fx, 0);
    struct xnode *p = presence(ALICE "/b1", "1", NULL);
    xml_add_text(xml_add(p, "show", NULL), "away");
    direct(s, from_alice(B1, p), &fx, 0);
    effects_clear(&fx);
    return s;
}

static struct event *probe(const char *to)
{
    return event_new(EV_STANZA, ORIGIN_ROUTE, 0, NULL, stanza("presence", BOB, to, "probe", "p"));
}

START_TEST(probe_is_answered_with_each_available_resource_presence)
{
    void *s = handler_with_alice();
    struct effects fx;
    effects_init(&fx);
    direct(s, probe(ALICE), &fx, 0);
    ck_assert_uint_eq(fx.n, 2);
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(fx.v[i].kind, FX_ROUTE);
        ck_assert_str_eq(xml_attr(fx.v[i].stanza, "to"), BOB);
        ck_assert_ptr_null(xml_attr(fx.v[i].stanza, "type"));
    }
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "from"), ALICE "/a5");
    ck_assert_str_eq(xml_attr(fx.v[1].stanza, "from"), ALICE "/b1");
    ck_assert_str_eq(xml_text(xml_child(fx.v[1].stanza, "show", NULL)), "away");
    effects_clear(&fx);
    direct(s, probe(ALICE "/b1"), &fx, 0); /* only that resource */
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "from"), ALICE "/b1");
    effects_clear(&fx);
    /* After both go unavailable: one unavailable presence from the bare JID. */
    direct(s, from_alice(A5, presence(ALICE "/a5", NULL, "unavailable")), &fx, 0);
    direct(s, sessions_ev_closed(B1, ALICE "/b1"), &fx, 0);
    effects_clear(&fx);
    direct(s, probe(ALICE), &fx, 0);
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.v[0].kind, FX_ROUTE);
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "from"), ALICE);
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "type"), "unavailable");
    effects_clear(&fx);
    sessions_handler.destroy(s);
}
END_TEST

START_TEST(iq_to_own_bare_jid_is_left_to_the_server)
{
    void *s = handler_with_alice();
    struct effects fx;
    effects_init(&fx);
    direct(s, from_alice(A5, stanza("iq", ALICE "/a5", ALICE, "get", "v")), &fx, H_PASS);
    direct(s, from_alice(A5, stanza("iq", ALICE "/a5", BOB, "get", "v")), &fx, H_ROUTE);
    direct(s, from_alice(A5, stanza("iq", ALICE "/a5", ALICE "/b1", "get", "v")), &fx, H_ROUTE);
    direct(s, from_alice(A5, stanza("iq", ALICE "/a5", "localhost", "get", "v")), &fx, H_PASS);
    direct(s,
           event_new(EV_STANZA, ORIGIN_C2S, A5, ALICE,
                     stanza("presence", ALICE "/a5", "x@remote.example", NULL, NULL)),
           &fx, 0);
    ck_assert_uint_eq(fx.n, 0);
    sessions_handler.destroy(s);
}
END_TEST

START_TEST(directed_presence_targets_are_limited_and_all_told_on_close)
{
    void *s = handler_with_alice();
    struct effects fx;
    effects_init(&fx);
    char to[64];
    for (int i = 0; i <= DIRECTED_PRESENCE_MAX; i++) {
        snprintf(to, sizeof to, "u%d@localhost", i);
        int want = i < DIRECTED_PRESENCE_MAX ? H_ROUTE : stanza_err(STANZA_RESOURCE_CONSTRAINT);
        direct(s, from_alice(A5, stanza("presence", ALICE "/a5", to, NULL, NULL)), &fx, want);
    }
    /* Again to a known target: not a new one, so no limit. */
    direct(s, from_alice(A5, stanza("presence", ALICE "/a5", "u0@localhost", NULL, NULL)), &fx,
           H_ROUTE);
    ck_assert_uint_eq(fx.n, 0);
    direct(s, sessions_ev_closed(A5, ALICE "/a5"), &fx, 0);
    size_t routed = 0;
    for (size_t i = 0; i < fx.n; i++)
        routed += fx.v[i].kind == FX_ROUTE && stanza_type_is(fx.v[i].stanza, "unavailable");
    ck_assert_uint_eq(routed, DIRECTED_PRESENCE_MAX);
    effects_clear(&fx);
    sessions_handler.destroy(s);
}
END_TEST

/* --- Message Carbons (XEP-0280) --------------------------------------- */

/* alice a5 and b1 with carbons, neg (priority -1) without; bob online. */
static struct dispatch *carbons_world(void)
{
    struct dispatch *d = fresh_with_users();
    online_at(d, BOBC, BOB "/x", "0");
    online_at(d, A5, ALICE "/a5", "5");
    online_at(d, B1, ALICE "/b1", "1");
    online_at(d, NEG, ALICE "/neg", "-1");
    enable_carbons(d, A5, ALICE "/a5");
    enable_carbons(d, B1, ALICE "/b1");
    return d;
}

START_TEST(sent_carbons_go_to_other_enabled_resources)
{
    struct dispatch *d = carbons_world();
    struct effects fx;
    effects_init(&fx);
    send(d, A5, message(ALICE "/a5", BOB, "chat", "s1"), &fx);
    ck_assert_uint_eq(plain_to(&fx, BOBC, "message"), 1);
    ck_assert_uint_eq(carbons_to(&fx, B1, "sent"), 1);
    ck_assert_uint_eq(carbons_to(&fx, A5, "sent"), 0);  /* not the sender */
    ck_assert_uint_eq(carbons_to(&fx, NEG, "sent"), 0); /* not enabled */
    const struct xnode *c = nth_to(&fx, B1, 0);
    ck_assert_str_eq(xml_attr(c, "from"), ALICE);
    ck_assert_str_eq(xml_attr(c, "to"), ALICE "/b1");
    ck_assert_str_eq(xml_attr(c, "type"), "chat");
    const struct xnode *fwd =
        xml_child(xml_child(c, "sent", NS_CARBONS), "forwarded", "urn:xmpp:forward:0");
    ck_assert_ptr_nonnull(fwd);
    const struct xnode *orig = xml_child(fwd, "message", NS_CLIENT);
    ck_assert_ptr_nonnull(orig);
    ck_assert_str_eq(xml_attr(orig, "id"), "s1");
    ck_assert_str_eq(xml_attr(orig, "to"), BOB);
    ck_assert_str_eq(xml_attr(orig, "from"), ALICE "/a5");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(received_carbons_go_to_enabled_resources_that_did_not_get_it)
{
    struct dispatch *d = carbons_world();
    struct effects fx;
    effects_init(&fx);
    send(d, BOBC, message(BOB "/x", ALICE, "chat", "r1"), &fx);
    ck_assert_uint_eq(plain_to(&fx, A5, "message"), 1);
    ck_assert_uint_eq(carbons_to(&fx, A5, "received"), 0);
    ck_assert_uint_eq(carbons_to(&fx, B1, "received"), 1);
    ck_assert_uint_eq(carbons_to(&fx, NEG, "received"), 0);
    ck_assert_uint_eq(carbons_to(&fx, BOBC, "sent"), 0);
    const struct xnode *fwd = xml_child(xml_child(nth_to(&fx, B1, 0), "received", NS_CARBONS),
                                        "forwarded", "urn:xmpp:forward:0");
    ck_assert_str_eq(xml_attr(xml_child(fwd, "message", NS_CLIENT), "id"), "r1");
    effects_clear(&fx);
    /* To a full JID: the other enabled resource gets the copy. */
    send(d, BOBC, message(BOB "/x", ALICE "/neg", "chat", "r2"), &fx);
    ck_assert_uint_eq(plain_to(&fx, NEG, "message"), 1);
    ck_assert_uint_eq(carbons_to(&fx, A5, "received"), 1);
    ck_assert_uint_eq(carbons_to(&fx, B1, "received"), 1);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

struct carbon_case {
    const char *type;
    const char *extra_ns; /* a child element added, or NULL */
    const char *extra_name;
    int body;
    int copied;
};

static const struct carbon_case carbon_cases[] = {
    {"chat", NULL, NULL, 1, 1},
    {"chat", NULL, NULL, 0, 1},
    {NULL, NULL, NULL, 1, 1},
    {"normal", NULL, NULL, 0, 0},
    {"normal", "http://jabber.org/protocol/chatstates", "composing", 0, 1},
    {NULL, "urn:xmpp:receipts", "received", 0, 1},
    {"headline", NULL, NULL, 1, 0},
    {"chat", NS_CARBONS, "private", 1, 0},
    {"chat", "urn:xmpp:hints", "no-copy", 1, 0},
    {"chat", NS_CARBONS, "sent", 0, 0},
};

START_TEST(carbons_copy_only_eligible_messages)
{
    const struct carbon_case *c = &carbon_cases[_i];
    struct dispatch *d = carbons_world();
    struct effects fx;
    effects_init(&fx);
    for (int dir = 0; dir < 2; dir++) { /* sent by a5, then received from bob */
        struct xnode *m =
            stanza("message", dir ? BOB "/x" : ALICE "/a5", dir ? ALICE : BOB, c->type, "e");
        if (c->body)
            xml_add_text(xml_add(m, "body", NULL), "hi");
        if (c->extra_ns)
            xml_add(m, c->extra_name, c->extra_ns);
        send(d, dir ? BOBC : A5, m, &fx);
        size_t copies = carbons_to(&fx, B1, dir ? "received" : "sent");
        ck_assert_msg(copies == (size_t)c->copied, "case %d dir %d: %zu copies", _i, dir, copies);
        effects_clear(&fx);
    }
    dispatch_free(d);
}
END_TEST

START_TEST(carbons_disabled_or_unavailable_get_nothing)
{
    struct dispatch *d = carbons_world();
    struct effects fx;
    effects_init(&fx);
    struct xnode *iq = stanza("iq", ALICE "/b1", ALICE, "set", "off");
    xml_add(iq, "disable", NS_CARBONS);
    send(d, B1, iq, &fx);
    ck_assert_str_eq(xml_attr(nth_to(&fx, B1, 0), "type"), "result");
    effects_clear(&fx);
    send(d, A5, message(ALICE "/a5", BOB, "chat", "s"), &fx);
    ck_assert_uint_eq(carbons_to(&fx, B1, "sent"), 0);
    effects_clear(&fx);
    /* a5 enabled but unavailable: no received copy for it. */
    send(d, A5, presence(ALICE "/a5", NULL, "unavailable"), &fx);
    effects_clear(&fx);
    send(d, BOBC, message(BOB "/x", ALICE "/neg", "chat", "r"), &fx);
    ck_assert_uint_eq(carbons_to(&fx, A5, "received"), 0);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* --- binding ----------------------------------------------------------- */

START_TEST(rebinding_a_resource_closes_the_old_one_and_announces_it_gone)
{
    struct dispatch *d = fresh_with_users();
    online_at(d, A5, ALICE "/a5", "5");
    online_at(d, B1, ALICE "/b1", "1");
    struct effects fx;
    effects_init(&fx);
    apply(d, sessions_ev_bound(16, ALICE "/a5", "again"), &fx);
    int closed = 0;
    for (size_t i = 0; i < fx.n; i++)
        closed |= fx.v[i].kind == FX_CLOSE && fx.v[i].to == A5 && fx.v[i].cond == STREAM_CONFLICT;
    ck_assert(closed);
    ck_assert_uint_eq(plain_to(&fx, B1, "presence"), 1);
    ck_assert_str_eq(xml_attr(nth_to(&fx, B1, 0), "type"), "unavailable");
    effects_clear(&fx);
    ck_assert_uint_eq(sessions_count(dispatch_state(d, "sessions")), 2);
    /* The new session is bound but not available: b1 takes bare messages. */
    online_at(d, BOBC, BOB "/x", "0");
    send(d, BOBC, message(BOB "/x", ALICE, "chat", "m"), &fx);
    ck_assert_uint_eq(plain_to(&fx, B1, "message"), 1);
    ck_assert_uint_eq(plain_to(&fx, 16, "message"), 0);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(server_started_forgets_every_session)
{
    struct dispatch *d = fresh_with_users();
    online_at(d, A5, ALICE "/a5", "5");
    ck_assert_uint_eq(sessions_count(dispatch_state(d, "sessions")), 1);
    apply_quiet(d, event_server_started("localhost", "test"));
    ck_assert_uint_eq(sessions_count(dispatch_state(d, "sessions")), 0);
    dispatch_free(d);
}
END_TEST

START_TEST(sessions_per_account_are_limited)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    char full[64];
    for (int i = 0; i <= SESSIONS_PER_ACCOUNT_MAX; i++) {
        snprintf(full, sizeof full, ALICE "/r%d", i);
        apply(d, sessions_ev_bound(100 + (uint64_t)i, full, "b"), &fx);
    }
    ck_assert_uint_eq(sessions_count(dispatch_state(d, "sessions")), SESSIONS_PER_ACCOUNT_MAX);
    const struct xnode *last = fx.v[fx.n - 1].stanza;
    ck_assert_str_eq(xml_attr(last, "type"), "error");
    ck_assert_ptr_nonnull(xml_child(xml_child(last, "error", NULL), "resource-constraint", NULL));
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sessions");
    TCase *tc = tcase_create("sessions");
    tcase_add_loop_test(tc, routing_follows_rfc6121_8_5, 0,
                        (int)(sizeof route_cases / sizeof route_cases[0]));
    tcase_add_test(tc, negative_priority_resource_still_gets_headlines_only_by_full_jid);
    tcase_add_test(tc, broadcast_presence_reaches_own_available_resources_including_sender);
    tcase_add_test(tc, priority_outside_a_byte_is_bad_request);
    tcase_add_test(tc, directed_presence_is_ended_when_the_session_closes);
    tcase_add_test(tc, directed_unavailable_forgets_and_broadcast_unavailable_ends_directed);
    tcase_add_test(tc, probe_is_answered_with_each_available_resource_presence);
    tcase_add_test(tc, iq_to_own_bare_jid_is_left_to_the_server);
    tcase_add_test(tc, directed_presence_targets_are_limited_and_all_told_on_close);
    tcase_add_test(tc, sent_carbons_go_to_other_enabled_resources);
    tcase_add_test(tc, received_carbons_go_to_enabled_resources_that_did_not_get_it);
    tcase_add_loop_test(tc, carbons_copy_only_eligible_messages, 0,
                        (int)(sizeof carbon_cases / sizeof carbon_cases[0]));
    tcase_add_test(tc, carbons_disabled_or_unavailable_get_nothing);
    tcase_add_test(tc, rebinding_a_resource_closes_the_old_one_and_announces_it_gone);
    tcase_add_test(tc, server_started_forgets_every_session);
    tcase_add_test(tc, sessions_per_account_are_limited);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

/* test_storage: the durable per-account stores — vcard-temp (XEP-0054),
 * private XML storage (XEP-0049) and last activity (XEP-0012) — driven
 * through the real dispatcher: who may read and write what, the size
 * limit, the answers the XEPs prescribe, account deletion, and snapshots
 * that decode to the same state and encode in a deterministic order. */
#include "handlers/last/last.h"
#include "handlers/private/private.h"
#include "handlers/vcard/vcard.h"
#include "fixture.h"

#define VCARD_LIMIT 300 /* vcard-bytes-max for these tests */

/* --- parsing stanzas as a client stream would deliver them ------------- */

struct one {
    struct xnode *first;
    int errors;
};

static void one_open(void *arg, const struct xnode *hdr) { (void)arg, (void)hdr; }
static void one_close(void *arg) { (void)arg; }
static void one_error(void *arg, enum stream_err cond, const char *text)
{
    (void)cond, (void)text;
    ((struct one *)arg)->errors++;
}
static void one_stanza(void *arg, struct xnode *st)
{
    struct one *o = arg;
    if (!o->first)
        o->first = st;
    else
        xml_free(st);
}

static struct xnode *parse(const char *xml)
{
    static const char hdr[] = "<stream:stream xmlns='jabber:client' "
                              "xmlns:stream='http://etherx.jabber.org/streams'>";
    static const struct xml_limits lim = {1 << 20, 64, 64};
    static const struct xml_stream_cbs cbs = {one_open, one_stanza, one_close, one_error};
    struct one o = {NULL, 0};
    struct xml_stream *s = xml_stream_new(&lim, &cbs, &o);
    ck_assert_int_eq(xml_stream_feed(s, hdr, strlen(hdr)), 0);
    ck_assert_int_eq(xml_stream_feed(s, xml, strlen(xml)), 0);
    xml_stream_free(s);
    ck_assert_int_eq(o.errors, 0);
    ck_assert_ptr_nonnull(o.first);
    return o.first;
}

/* A stanza from the session on connection conn (outbound pass); 'from'
 * is in the text, as the kernel stamps it. */
static void send_xml(struct dispatch *d, uint64_t conn, const char *xml, struct effects *fx)
{
    send(d, conn, parse(xml), fx);
}

/* A stanza on its way to a local entity (the inbound pass that an
 * outbound handler's H_ROUTE starts). */
static void route_xml(struct dispatch *d, const char *xml, struct effects *fx)
{
    route(d, parse(xml), fx);
}

/* The one stanza sent on conn among fx's effects (asserted unique). */
static const struct xnode *reply_on(const struct effects *fx, uint64_t conn)
{
    const struct xnode *got = NULL;
    for (size_t i = 0; i < fx->n; i++) {
        if (fx->v[i].kind != FX_STANZA || fx->v[i].to != conn)
            continue;
        ck_assert_msg(got == NULL, "answered more than once");
        got = fx->v[i].stanza;
    }
    ck_assert_msg(got != NULL, "no answer on connection %llu", (unsigned long long)conn);
    return got;
}

/* --- a small server: three accounts, alice and bob online -------------- */

#define ALICE 11
#define BOB 12

static struct event *started(void)
{
    struct event *st = event_server_started("localhost", "test");
    event_set_limits(st, 1000, VCARD_LIMIT);
    return st;
}

static struct dispatch *fresh_with_users(void)
{
    struct dispatch *d = fresh_from(started());
    static const char *const users[] = {"alice@localhost", "bob@localhost", "carol@localhost"};
    for (size_t i = 0; i < 3; i++)
        registered(d, users[i]);
    apply_quiet(d, sessions_ev_bound(ALICE, "alice@localhost/home", "b1"));
    apply_quiet(d, sessions_ev_bound(BOB, "bob@localhost/work", "b2"));
    return d;
}

static const char ALICE_CARD_SET[] =
    "<iq from='alice@localhost/home' id='v2' type='set'>"
    "<vCard xmlns='vcard-temp'><FN>Alice Liddell</FN><NICKNAME>al</NICKNAME></vCard></iq>";

/* --- vcard-temp ---------------------------------------------------------- */

START_TEST(vcard_own_is_empty_until_set_then_returned)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    send_xml(d, ALICE, "<iq from='alice@localhost/home' id='v1' type='get'><vCard xmlns='vcard-temp'/></iq>",
         &fx);
    const struct xnode *r = reply_on(&fx, ALICE);
    ck_assert_str_eq(xml_attr(r, "type"), "result");
    ck_assert_str_eq(xml_attr(r, "id"), "v1");
    const struct xnode *card = xml_child(r, "vCard", NS_VCARD);
    ck_assert_ptr_nonnull(card);
    ck_assert_ptr_null(xml_first_elem(card)); /* §3.1: an empty vCard */
    effects_clear(&fx);

    send_xml(d, ALICE, ALICE_CARD_SET, &fx);
    ck_assert_str_eq(xml_attr(reply_on(&fx, ALICE), "type"), "result");
    effects_clear(&fx);
    ck_assert_uint_eq(vcard_count(dispatch_state(d, "vcard")), 1);

    /* both spellings of "mine": no 'to', and the own bare JID */
    static const char *const gets[] = {
        "<iq from='alice@localhost/home' id='v3' type='get'><vCard xmlns='vcard-temp'/></iq>",
        "<iq from='alice@localhost/home' to='alice@localhost' id='v3' type='get'>"
        "<vCard xmlns='vcard-temp'/></iq>",
    };
    for (size_t i = 0; i < 2; i++) {
        send_xml(d, ALICE, gets[i], &fx);
        r = reply_on(&fx, ALICE);
        ck_assert_str_eq(xml_attr(r, "type"), "result");
        card = xml_child(r, "vCard", NS_VCARD);
        ck_assert_ptr_nonnull(card);
        ck_assert_str_eq(xml_text(xml_child(card, "FN", NULL)), "Alice Liddell");
        ck_assert_str_eq(xml_text(xml_child(card, "NICKNAME", NULL)), "al");
        effects_clear(&fx);
    }
    dispatch_free(d);
}
END_TEST

START_TEST(vcard_of_another_user_answered_once_or_item_not_found)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    send_xml(d, ALICE, ALICE_CARD_SET, &fx);
    effects_clear(&fx);

    send_xml(d, BOB, "<iq from='bob@localhost/work' to='alice@localhost' id='o1' type='get'>"
                 "<vCard xmlns='vcard-temp'/></iq>", &fx);
    const struct xnode *r = reply_on(&fx, BOB); /* asserts: exactly once */
    ck_assert_str_eq(xml_attr(r, "type"), "result");
    ck_assert_str_eq(xml_attr(r, "from"), "alice@localhost");
    ck_assert_str_eq(xml_attr(r, "to"), "bob@localhost/work");
    ck_assert_str_eq(xml_text(xml_child(xml_child(r, "vCard", NS_VCARD), "FN", NULL)),
                     "Alice Liddell");
    for (size_t i = 0; i < fx.n; i++) /* the server answers; alice's client sees nothing */
        ck_assert(!(fx.v[i].kind == FX_STANZA && fx.v[i].to == ALICE));
    effects_clear(&fx);

    /* §3.3: no vCard for another user is an error, not an empty card */
    send_xml(d, BOB, "<iq from='bob@localhost/work' to='carol@localhost' id='o2' type='get'>"
                 "<vCard xmlns='vcard-temp'/></iq>", &fx);
    ck_assert_str_eq(error_cond(reply_on(&fx, BOB)), "item-not-found");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(vcard_set_on_someone_else_is_forbidden_and_changes_nothing)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    send_xml(d, BOB, "<iq from='bob@localhost/work' to='alice@localhost' id='x1' type='set'>"
                 "<vCard xmlns='vcard-temp'><FN>Mallory</FN></vCard></iq>", &fx);
    ck_assert_str_eq(error_cond(reply_on(&fx, BOB)), "forbidden");
    effects_clear(&fx);
    ck_assert_uint_eq(vcard_count(dispatch_state(d, "vcard")), 0);
    dispatch_free(d);
}
END_TEST

START_TEST(vcard_larger_than_the_limit_is_not_acceptable)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    char desc[VCARD_LIMIT + 1];
    memset(desc, 'x', VCARD_LIMIT);
    desc[VCARD_LIMIT] = 0;
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<iq from='alice@localhost/home' id='big' type='set'>"
                   "<vCard xmlns='vcard-temp'><DESC>%s</DESC></vCard></iq>", desc);
    send_xml(d, ALICE, buf_cstr(&b), &fx);
    buf_free(&b);
    ck_assert_str_eq(error_cond(reply_on(&fx, ALICE)), "not-acceptable");
    effects_clear(&fx);
    ck_assert_uint_eq(vcard_count(dispatch_state(d, "vcard")), 0);
    /* just under the limit is fine */
    send_xml(d, ALICE, ALICE_CARD_SET, &fx);
    ck_assert_str_eq(xml_attr(reply_on(&fx, ALICE), "type"), "result");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* --- private XML storage --------------------------------------------------- */

static const char PREFS_SET[] =
    "<iq from='alice@localhost/home' id='p1' type='set'><query xmlns='jabber:iq:private'>"
    "<exodus xmlns='exodus:prefs'><defaultnick>Hamlet</defaultnick></exodus></query></iq>";

START_TEST(private_set_then_get_returns_it_and_unknown_gets_empty)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    send_xml(d, ALICE, PREFS_SET, &fx);
    ck_assert_str_eq(xml_attr(reply_on(&fx, ALICE), "type"), "result");
    effects_clear(&fx);
    ck_assert_uint_eq(private_count(dispatch_state(d, "private"), "alice@localhost"), 1);

    send_xml(d, ALICE, "<iq from='alice@localhost/home' to='alice@localhost' id='p2' type='get'>"
                   "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>",
         &fx);
    const struct xnode *r = reply_on(&fx, ALICE);
    ck_assert_str_eq(xml_attr(r, "type"), "result");
    const struct xnode *e = xml_child(xml_child(r, "query", NS_PRIVATE), "exodus", "exodus:prefs");
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(xml_text(xml_child(e, "defaultnick", NULL)), "Hamlet");
    effects_clear(&fx);

    /* same namespace, other name: a different item, returned empty */
    send_xml(d, ALICE, "<iq from='alice@localhost/home' id='p3' type='get'>"
                   "<query xmlns='jabber:iq:private'><other xmlns='exodus:prefs'/></query></iq>",
         &fx);
    r = reply_on(&fx, ALICE);
    e = xml_child(xml_child(r, "query", NS_PRIVATE), "other", "exodus:prefs");
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(e->kids);
    effects_clear(&fx);

    /* bob's store is his own: he sees nothing of alice's */
    send_xml(d, BOB, "<iq from='bob@localhost/work' id='p4' type='get'>"
                 "<query xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>",
         &fx);
    e = xml_child(xml_child(reply_on(&fx, BOB), "query", NS_PRIVATE), "exodus", "exodus:prefs");
    ck_assert_ptr_nonnull(e);
    ck_assert_ptr_null(e->kids);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(private_refusals_follow_the_xep)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    static const struct {
        const char *xml;
        const char *cond;
    } cases[] = {
        /* another user's data, get or set: forbidden */
        {"<iq from='bob@localhost/work' to='alice@localhost' id='r1' type='get'><query "
         "xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>", "forbidden"},
        {"<iq from='bob@localhost/work' to='alice@localhost' id='r2' type='set'><query "
         "xmlns='jabber:iq:private'><exodus xmlns='exodus:prefs'/></query></iq>", "forbidden"},
        /* nothing named: bad format */
        {"<iq from='bob@localhost/work' id='r3' type='get'><query xmlns='jabber:iq:private'/></iq>",
         "bad-request"},
        /* no namespace of its own, or a reserved one */
        {"<iq from='bob@localhost/work' id='r4' type='set'><query xmlns='jabber:iq:private'>"
         "<exodus/></query></iq>", "not-acceptable"},
        {"<iq from='bob@localhost/work' id='r5' type='set'><query xmlns='jabber:iq:private'>"
         "<x xmlns='jabber:x:data'/></query></iq>", "not-acceptable"},
        {"<iq from='bob@localhost/work' id='r6' type='get'><query xmlns='jabber:iq:private'>"
         "<vCard xmlns='vcard-temp'/></query></iq>", "not-acceptable"},
        {"<iq from='bob@localhost/work' id='r7' type='set'><query xmlns='jabber:iq:private'>"
         "<q xmlns='http://jabber.org/protocol/muc'/></query></iq>", "not-acceptable"},
        /* a get asks for one element only */
        {"<iq from='bob@localhost/work' id='r8' type='get'><query xmlns='jabber:iq:private'>"
         "<a xmlns='x:a'/><b xmlns='x:a'/></query></iq>", "bad-request"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        send_xml(d, BOB, cases[i].xml, &fx);
        ck_assert_str_eq(error_cond(reply_on(&fx, BOB)), cases[i].cond);
        effects_clear(&fx);
    }
    ck_assert_uint_eq(private_count(dispatch_state(d, "private"), "alice@localhost"), 0);
    ck_assert_uint_eq(private_count(dispatch_state(d, "private"), "bob@localhost"), 0);
    dispatch_free(d);
}
END_TEST

START_TEST(private_element_larger_than_the_limit_is_not_acceptable)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    char big[VCARD_LIMIT + 1];
    memset(big, 'y', VCARD_LIMIT);
    big[VCARD_LIMIT] = 0;
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<iq from='alice@localhost/home' id='pb' type='set'><query "
                   "xmlns='jabber:iq:private'><n xmlns='x:notes'>%s</n></query></iq>", big);
    send_xml(d, ALICE, buf_cstr(&b), &fx);
    buf_free(&b);
    ck_assert_str_eq(error_cond(reply_on(&fx, ALICE)), "not-acceptable");
    effects_clear(&fx);
    ck_assert_uint_eq(private_count(dispatch_state(d, "private"), "alice@localhost"), 0);
    dispatch_free(d);
}
END_TEST

/* --- last activity ---------------------------------------------------------- */

static const char *seconds_of(const struct xnode *r)
{
    ck_assert_str_eq(xml_attr(r, "type"), "result");
    const struct xnode *q = xml_child(r, "query", NS_LAST);
    ck_assert_ptr_nonnull(q);
    ck_assert_ptr_nonnull(xml_attr(q, "seconds"));
    return xml_attr(q, "seconds");
}

START_TEST(last_to_the_server_is_its_uptime)
{
    struct dispatch *d = fresh_with_users(); /* started at t=1s, by event 1 */
    struct effects fx;
    effects_init(&fx);
    static const char *const asks[] = {
        "<iq from='alice@localhost/home' id='u1' type='get'><query xmlns='jabber:iq:last'/></iq>",
        "<iq from='alice@localhost/home' to='localhost' id='u2' type='get'>"
        "<query xmlns='jabber:iq:last'/></iq>",
    };
    for (size_t i = 0; i < 2; i++) {
        send_xml(d, ALICE, asks[i], &fx);
        char want[24];
        snprintf(want, sizeof want, "%llu", (unsigned long long)(next_seq - 1));
        const struct xnode *r = reply_on(&fx, ALICE);
        ck_assert_str_eq(seconds_of(r), want);
        ck_assert_str_eq(xml_text(xml_child(r, "query", NS_LAST)), ""); /* §5: no text */
        effects_clear(&fx);
    }
    dispatch_free(d);
}
END_TEST

static const char LAST_OF_ALICE[] =
    "<iq from='alice@localhost/tablet' to='alice@localhost' id='l1' type='get'>"
    "<query xmlns='jabber:iq:last'/></iq>";

START_TEST(last_of_an_account_online_offline_and_never_left)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    apply_quiet(d, sessions_ev_bound(13, "alice@localhost/tablet", "b3"));
    /* bound but never available and never left: nothing to say */
    send_xml(d, 13, LAST_OF_ALICE, &fx);
    ck_assert_str_eq(error_cond(reply_on(&fx, 13)), "service-unavailable");
    effects_clear(&fx);

    /* available: seconds='0' (§3) */
    send_xml(d, ALICE, "<presence from='alice@localhost/home'/>", &fx);
    effects_clear(&fx);
    send_xml(d, 13, LAST_OF_ALICE, &fx);
    ck_assert_str_eq(seconds_of(reply_on(&fx, 13)), "0");
    effects_clear(&fx);

    /* leaves with a status, then the session closes */
    send_xml(d, ALICE, "<presence from='alice@localhost/home' type='unavailable'>"
                   "<status>Heading Home</status></presence>", &fx);
    effects_clear(&fx);
    apply_quiet(d, sessions_ev_closed(ALICE, "alice@localhost/home"));
    uint64_t closed_at = next_seq;
    for (int i = 0; i < 3; i++) /* time passes: three more events */
        apply_quiet(d, event_new(EV_ACCOUNT_LIST, ORIGIN_CTL, 1, NULL, NULL));
    send_xml(d, 13, LAST_OF_ALICE, &fx);
    char want[24];
    snprintf(want, sizeof want, "%llu", (unsigned long long)(next_seq - closed_at));
    const struct xnode *r = reply_on(&fx, 13);
    ck_assert_str_eq(seconds_of(r), want);
    ck_assert_str_eq(xml_text(xml_child(r, "query", NS_LAST)), "Heading Home");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* bob asks for alice's last activity; outbound: as his client sends it
 * (the chain routes it to alice's side), else as the inbound pass alone. */
static void last_of_alice_asked_by_bob(int outbound)
{
    struct dispatch *d = fresh_with_users();
    struct effects fx;
    effects_init(&fx);
    /* bob subscribes to alice's presence (RFC 6121 §3.1), so a roster
     * handler that checks authorization lets the query through */
    send_xml(d, BOB, "<presence from='bob@localhost/work' to='alice@localhost' type='subscribe'/>",
         &fx);
    effects_clear(&fx);
    send_xml(d, ALICE, "<presence from='alice@localhost/home' to='bob@localhost' type='subscribed'/>",
         &fx);
    effects_clear(&fx);
    send_xml(d, ALICE, "<presence from='alice@localhost/home' type='unavailable'>"
                   "<status>Gone fishing</status></presence>", &fx);
    effects_clear(&fx);
    apply_quiet(d, sessions_ev_closed(ALICE, "alice@localhost/home"));
    uint64_t closed_at = next_seq;
    static const char ask[] = "<iq from='bob@localhost/work' to='alice@localhost' id='l2' "
                              "type='get'><query xmlns='jabber:iq:last'/></iq>";
    if (outbound)
        send_xml(d, BOB, ask, &fx);
    else
        route_xml(d, ask, &fx);
    const struct xnode *r = reply_on(&fx, BOB);
    char want[24];
    snprintf(want, sizeof want, "%llu", (unsigned long long)(next_seq - closed_at));
    ck_assert_str_eq(seconds_of(r), want);
    ck_assert_str_eq(xml_attr(r, "from"), "alice@localhost");
    ck_assert_str_eq(xml_text(xml_child(r, "query", NS_LAST)), "Gone fishing");
    effects_clear(&fx);
    dispatch_free(d);
}

START_TEST(last_of_another_user_is_answered_on_the_inbound_pass)
{
    last_of_alice_asked_by_bob(0);
}
END_TEST

START_TEST(last_of_another_user_is_answered_once_from_the_client)
{
    last_of_alice_asked_by_bob(1);
}
END_TEST

/* --- accounts and snapshots ------------------------------------------------- */

/* Gives alice a vCard, a private element and a last-activity record. */
static void fill_alice(struct dispatch *d)
{
    struct effects fx;
    effects_init(&fx);
    send_xml(d, ALICE, ALICE_CARD_SET, &fx);
    send_xml(d, ALICE, PREFS_SET, &fx);
    send_xml(d, ALICE, "<presence from='alice@localhost/home' type='unavailable'>"
                   "<status>bye</status></presence>", &fx);
    effects_clear(&fx);
    apply_quiet(d, sessions_ev_closed(ALICE, "alice@localhost/home"));
}

START_TEST(account_delete_drops_all_three)
{
    struct dispatch *d = fresh_with_users();
    fill_alice(d);
    ck_assert_uint_eq(vcard_count(dispatch_state(d, "vcard")), 1);
    ck_assert_uint_eq(private_count(dispatch_state(d, "private"), "alice@localhost"), 1);
    size_t lasts = last_count(dispatch_state(d, "last"));
    ck_assert_uint_eq(lasts, 2); /* alice and bob bound once */
    apply_quiet(d, sessions_ev_bound(13, "alice@localhost/tablet", "b3"));
    apply_quiet(d, accounts_ev_delete(ORIGIN_CTL, 1, "alice@localhost", NULL));
    ck_assert_uint_eq(vcard_count(dispatch_state(d, "vcard")), 0);
    ck_assert_uint_eq(private_count(dispatch_state(d, "private"), "alice@localhost"), 0);
    ck_assert_uint_eq(last_count(dispatch_state(d, "last")), 1);
    /* the close of her last session, which follows, does not bring it back */
    apply_quiet(d, sessions_ev_closed(13, "alice@localhost/tablet"));
    ck_assert_uint_eq(last_count(dispatch_state(d, "last")), 1);
    dispatch_free(d);
}
END_TEST

START_TEST(snapshot_round_trip_keeps_all_three)
{
    struct dispatch *d = fresh_with_users();
    fill_alice(d);
    struct dispatch *d2 = snapshot_round_trip(d, NULL);

    /* and the decoded state answers like the original after a restart */
    apply_quiet(d2, started());
    apply_quiet(d2, sessions_ev_bound(BOB, "bob@localhost/work", "b9"));
    struct effects fx;
    effects_init(&fx);
    send_xml(d2, BOB, "<iq from='bob@localhost/work' to='alice@localhost' id='s1' type='get'>"
                  "<vCard xmlns='vcard-temp'/></iq>", &fx);
    const struct xnode *r = reply_on(&fx, BOB);
    ck_assert_str_eq(xml_text(xml_child(xml_child(r, "vCard", NS_VCARD), "FN", NULL)),
                     "Alice Liddell");
    effects_clear(&fx);
    ck_assert_uint_eq(private_count(dispatch_state(d2, "private"), "alice@localhost"), 1);
    ck_assert_uint_eq(last_count(dispatch_state(d2, "last")), 2);
    apply_quiet(d2, sessions_ev_bound(13, "alice@localhost/tablet", "b3"));
    send_xml(d2, 13, LAST_OF_ALICE, &fx);
    r = reply_on(&fx, 13);
    seconds_of(r);
    ck_assert_str_eq(xml_text(xml_child(r, "query", NS_LAST)), "bye");
    effects_clear(&fx);
    dispatch_free(d);
    dispatch_free(d2);
}
END_TEST

/* Same contents written in a different order encode to the same bytes. */
START_TEST(snapshot_order_does_not_depend_on_history)
{
    static const char *const sets[] = {
        ALICE_CARD_SET,
        "<iq from='bob@localhost/work' id='v' type='set'><vCard xmlns='vcard-temp'>"
        "<FN>Bob</FN></vCard></iq>",
        PREFS_SET,
        "<iq from='bob@localhost/work' id='p' type='set'><query xmlns='jabber:iq:private'>"
        "<b xmlns='x:b'/><a xmlns='x:b'/></query></iq>",
    };
    static const uint64_t conns[] = {ALICE, BOB, ALICE, BOB};
    static const int orders[2][4] = {{0, 1, 2, 3}, {3, 1, 2, 0}};
    struct buf out[2];
    for (int o = 0; o < 2; o++) {
        struct dispatch *d = fresh_with_users();
        struct effects fx;
        effects_init(&fx);
        for (int i = 0; i < 4; i++)
            send_xml(d, conns[orders[o][i]], sets[orders[o][i]], &fx);
        effects_clear(&fx);
        buf_init(&out[o]);
        dispatch_encode(d, &out[o]);
        dispatch_free(d);
    }
    ck_assert_uint_eq(out[0].len, out[1].len);
    ck_assert_mem_eq(out[0].p, out[1].p, out[0].len);
    buf_free(&out[0]);
    buf_free(&out[1]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("storage");
    TCase *tv = tcase_create("vcard");
    tcase_add_test(tv, vcard_own_is_empty_until_set_then_returned);
    tcase_add_test(tv, vcard_of_another_user_answered_once_or_item_not_found);
    tcase_add_test(tv, vcard_set_on_someone_else_is_forbidden_and_changes_nothing);
    tcase_add_test(tv, vcard_larger_than_the_limit_is_not_acceptable);
    suite_add_tcase(s, tv);
    TCase *tp = tcase_create("private");
    tcase_add_test(tp, private_set_then_get_returns_it_and_unknown_gets_empty);
    tcase_add_test(tp, private_refusals_follow_the_xep);
    tcase_add_test(tp, private_element_larger_than_the_limit_is_not_acceptable);
    suite_add_tcase(s, tp);
    TCase *tl = tcase_create("last");
    tcase_add_test(tl, last_to_the_server_is_its_uptime);
    tcase_add_test(tl, last_of_an_account_online_offline_and_never_left);
    tcase_add_test(tl, last_of_another_user_is_answered_on_the_inbound_pass);
    tcase_add_test(tl, last_of_another_user_is_answered_once_from_the_client);
    suite_add_tcase(s, tl);
    TCase *ts = tcase_create("accounts_and_snapshots");
    tcase_add_test(ts, account_delete_drops_all_three);
    tcase_add_test(ts, snapshot_round_trip_keeps_all_three);
    tcase_add_test(ts, snapshot_order_does_not_depend_on_history);
    suite_add_tcase(s, ts);
    return run_suite(s);
}

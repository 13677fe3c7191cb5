/* test_offline: the offline handler (XEP-0160 with XEP-0203 stamps),
 * driven through the real dispatcher: stored messages come back on
 * available presence with the storage time, only once (in flight until
 * the tombstone, gone after it, also from snapshots), never to a
 * negative priority, and past the quota the sender gets
 * service-unavailable. */
#include "handlers/offline/offline.h"
#include "fixture.h"

/* 2026-11-25T21:00:00.123Z; event n is stamped n seconds later. */
#define BASE_US (1795640400LL * 1000000 + 123000)
#define JULIET "juliet@localhost"

static struct event *started(uint64_t quota)
{
    struct event *ev = event_server_started("localhost", "test");
    event_set_limits(ev, quota, 65536);
    return ev;
}

/* The delay stamps are checked as dates: the clock starts at BASE_US. */
static struct dispatch *fresh_with_quota(uint64_t quota)
{
    clock_base_us = BASE_US;
    return fresh_from(started(quota));
}

static struct xnode *chat(const char *from, const char *id, const char *type, const char *body)
{
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "from", from);
    xml_set_attr(m, "to", JULIET);
    xml_set_attr(m, "id", id);
    if (type)
        xml_set_attr(m, "type", type);
    xml_add_text(xml_add(m, "body", NULL), body);
    return m;
}

/* Stores a message from romeo for juliet, as sessions would decide. */
static void store(struct dispatch *d, const char *id, const char *type, const char *body,
                  struct effects *fx)
{
    struct xnode *m = chat("romeo@localhost/orchard", id, type, body);
    apply(d, offline_ev_store(JULIET, m), fx);
    xml_free(m);
}

/* Available presence from a session of juliet (outbound). */
static void presence(struct dispatch *d, uint64_t conn, const char *resource,
                     const char *priority, const char *type, struct effects *fx)
{
    struct xnode *p = xml_new("presence", NS_CLIENT);
    char full[64];
    strcpy(full, JULIET "/");
    strcat(full, resource);
    xml_set_attr(p, "from", full);
    if (type)
        xml_set_attr(p, "type", type);
    if (priority)
        xml_add_text(xml_add(p, "priority", NULL), priority);
    apply(d, event_new(EV_STANZA, ORIGIN_C2S, conn, JULIET, p), fx);
}

static size_t count_kind(const struct effects *fx, enum fx_kind k)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n; i++)
        n += fx->v[i].kind == k;
    return n;
}

static const struct effect *nth_kind(const struct effects *fx, enum fx_kind k, size_t nth)
{
    for (size_t i = 0; i < fx->n; i++)
        if (fx->v[i].kind == k && nth-- == 0)
            return &fx->v[i];
    return NULL;
}

static size_t offline_n(const struct dispatch *d)
{
    return offline_count(dispatch_state(d, "offline"), JULIET);
}

/* Applies the tombstone the handler asked for, as the kernel would. */
static void apply_tombstone(struct dispatch *d, struct effects *fx)
{
    const struct effect *e = nth_kind(fx, FX_EVENT, 0);
    ck_assert_ptr_nonnull(e);
    struct event *ev = e->event;
    ((struct effect *)e)->event = NULL;
    apply_quiet(d, ev);
}

START_TEST(presence_delivers_stored_messages_with_delay_stamps)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "first", &fx); /* seq 2 */
    store(d, "m2", NULL, "second", &fx);  /* seq 3 */
    ck_assert_uint_eq(fx.n, 0);
    ck_assert_uint_eq(offline_n(d), 2);
    presence(d, 7, "balcony", NULL, NULL, &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 2);
    const char *stamps[] = {"2026-11-25T21:00:02.123Z", "2026-11-25T21:00:03.123Z"};
    const char *ids[] = {"m1", "m2"};
    for (size_t i = 0; i < 2; i++) {
        const struct effect *e = nth_kind(&fx, FX_STANZA, i);
        ck_assert_uint_eq(e->to, 7);
        ck_assert_str_eq(e->stanza->name, "message");
        ck_assert_str_eq(xml_attr(e->stanza, "id"), ids[i]);
        ck_assert_str_eq(xml_attr(e->stanza, "to"), JULIET);
        ck_assert_str_eq(xml_attr(e->stanza, "from"), "romeo@localhost/orchard");
        const struct xnode *delay = xml_child(e->stanza, "delay", NS_DELAY);
        ck_assert_ptr_nonnull(delay);
        ck_assert_str_eq(xml_attr(delay, "from"), "localhost");
        ck_assert_str_eq(xml_attr(delay, "stamp"), stamps[i]);
    }
    ck_assert_uint_eq(count_kind(&fx, FX_EVENT), 1);
    const struct event *tomb = nth_kind(&fx, FX_EVENT, 0)->event;
    ck_assert_int_eq(tomb->type, EV_OFFLINE_DELIVERED);
    ck_assert_str_eq(tomb->subject, JULIET);
    ck_assert_str_eq(xml_attr(tomb->body, "jid"), JULIET);
    const struct xnode *it = xml_first_elem(tomb->body);
    ck_assert_str_eq(xml_attr(it, "id"), "2");
    ck_assert_str_eq(xml_attr(xml_next_elem(it), "id"), "3");
    ck_assert_ptr_null(xml_next_elem(xml_next_elem(it)));
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(after_the_tombstone_a_second_login_gets_nothing)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "hello", &fx);
    presence(d, 7, "balcony", "5", NULL, &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 1);
    struct event *copy = offline_ev_delivered(JULIET, (uint64_t[]){2}, 1);
    apply_tombstone(d, &fx);
    effects_clear(&fx);
    ck_assert_uint_eq(offline_n(d), 0);
    apply_quiet(d, copy); /* the same tombstone again: harmless */
    apply_quiet(d, offline_ev_delivered(JULIET, (uint64_t[]){99}, 1)); /* unknown id */
    apply_quiet(d, started(100)); /* a restart clears in-flight marks only */
    presence(d, 8, "chamber", NULL, NULL, &fx);
    ck_assert_uint_eq(fx.n, 0);
    dispatch_free(d);
}
END_TEST

START_TEST(in_flight_messages_are_not_delivered_twice_before_the_tombstone)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "one", &fx);
    presence(d, 7, "balcony", NULL, NULL, &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 1);
    effects_clear(&fx);
    store(d, "m2", "chat", "two", &fx); /* arrives while m1 is in flight */
    presence(d, 8, "chamber", NULL, NULL, &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 1);
    ck_assert_str_eq(xml_attr(nth_kind(&fx, FX_STANZA, 0)->stanza, "id"), "m2");
    ck_assert_uint_eq(nth_kind(&fx, FX_STANZA, 0)->to, 8);
    effects_clear(&fx);
    presence(d, 7, "balcony", NULL, NULL, &fx); /* a presence update */
    ck_assert_uint_eq(fx.n, 0);
    ck_assert_uint_eq(offline_n(d), 2);
    dispatch_free(d);
}
END_TEST

START_TEST(a_restart_before_the_tombstone_delivers_again)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "one", &fx);
    presence(d, 7, "balcony", NULL, NULL, &fx);
    effects_clear(&fx);
    apply_quiet(d, started(100));
    presence(d, 9, "balcony", NULL, NULL, &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 1);
    ck_assert_uint_eq(nth_kind(&fx, FX_STANZA, 0)->to, 9);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(negative_priority_and_other_presence_get_nothing)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "one", &fx);
    presence(d, 7, "balcony", "-1", NULL, &fx);
    presence(d, 7, "balcony", NULL, "unavailable", &fx);
    struct xnode *directed = xml_new("presence", NS_CLIENT);
    xml_set_attr(directed, "from", JULIET "/balcony");
    xml_set_attr(directed, "to", "romeo@localhost");
    apply(d, event_new(EV_STANZA, ORIGIN_C2S, 7, JULIET, directed), &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 0);
    ck_assert_uint_eq(count_kind(&fx, FX_EVENT), 0);
    presence(d, 7, "balcony", "0", NULL, &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 1);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(past_the_quota_the_sender_gets_service_unavailable)
{
    struct dispatch *d = fresh_with_quota(2);
    struct effects fx;
    effects_init(&fx);
    /* Romeo is online, so the bounce routed to him reaches his session. */
    registered(d, "romeo@localhost");
    apply_quiet(d, sessions_ev_bound(3, "romeo@localhost/orchard", "b1"));
    struct xnode *avail = xml_new("presence", NS_CLIENT);
    xml_set_attr(avail, "from", "romeo@localhost/orchard");
    apply_quiet(d, event_new(EV_STANZA, ORIGIN_C2S, 3, "romeo@localhost", avail));
    store(d, "m1", "chat", "one", &fx);
    store(d, "m2", "chat", "two", &fx);
    ck_assert_uint_eq(fx.n, 0);
    store(d, "m3", "chat", "three", &fx);
    ck_assert_uint_eq(offline_n(d), 2);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 1);
    const struct effect *e = nth_kind(&fx, FX_STANZA, 0);
    ck_assert_uint_eq(e->to, 3);
    ck_assert_str_eq(xml_attr(e->stanza, "type"), "error");
    ck_assert_str_eq(xml_attr(e->stanza, "id"), "m3");
    ck_assert_str_eq(xml_attr(e->stanza, "to"), "romeo@localhost/orchard");
    ck_assert_str_eq(xml_attr(e->stanza, "from"), JULIET);
    const struct xnode *err = xml_child(e->stanza, "error", NULL);
    ck_assert_ptr_nonnull(xml_child(err, "service-unavailable", NULL));
    effects_clear(&fx);
    store(d, "m4", "error", "an error is never answered", &fx);
    ck_assert_uint_eq(fx.n, 0);
    ck_assert_uint_eq(offline_n(d), 2);
    dispatch_free(d);
    d = fresh_with_quota(100); /* below the quota, such types are still not kept */
    store(d, "h1", "headline", "news", &fx);
    store(d, "e1", "error", "an error", &fx);
    store(d, "g1", "groupchat", "room", &fx);
    ck_assert_uint_eq(fx.n, 0);
    ck_assert_uint_eq(offline_n(d), 0);
    dispatch_free(d);
}
END_TEST

START_TEST(quota_zero_stores_nothing)
{
    struct dispatch *d = fresh_with_quota(0);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "one", &fx);
    ck_assert_uint_eq(offline_n(d), 0);
    effects_clear(&fx);
    presence(d, 7, "balcony", NULL, NULL, &fx);
    ck_assert_uint_eq(fx.n, 0);
    dispatch_free(d);
}
END_TEST

START_TEST(account_delete_drops_the_messages)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "one", &fx);
    struct event *del = event_new(EV_ACCOUNT_DELETE, ORIGIN_CTL, 1, JULIET, NULL);
    xml_set_attr(del->body, "jid", JULIET);
    apply(d, del, &fx);
    effects_clear(&fx);
    ck_assert_uint_eq(offline_n(d), 0);
    dispatch_free(d);
}
END_TEST

/* Takes the tombstone out of fx (NULL if none), leaving fx cleared. */
static struct event *take_tombstone(struct effects *fx)
{
    const struct effect *e = nth_kind(fx, FX_EVENT, 0);
    struct event *ev = e ? e->event : NULL;
    if (e)
        ((struct effect *)e)->event = NULL;
    effects_clear(fx);
    return ev;
}

/* A long backlog goes out in chunks, each following the tombstone of the
 * one before, so what one connection is sent at once stays bounded; a
 * session that ends stops the chain and leaves the rest stored. */
START_TEST(long_backlog_goes_out_in_chunks_while_the_session_lasts)
{
    struct dispatch *d = fresh_with_quota(1000);
    struct effects fx;
    effects_init(&fx);
    char big[20001];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 40; i++)
        store(d, "m", "chat", big, &fx);
    effects_clear(&fx);
    presence(d, 7, "balcony", "0", NULL, &fx);
    size_t total = 0, chunks = 0;
    for (int guard = 0; guard < 100; guard++) {
        size_t n = count_kind(&fx, FX_STANZA);
        ck_assert_uint_le(n, 14); /* about 256 KiB of 20 KiB messages */
        for (size_t k = 0; k < n; k++)
            ck_assert_uint_eq(nth_kind(&fx, FX_STANZA, k)->to, 7);
        total += n;
        chunks += n > 0;
        struct event *t = take_tombstone(&fx);
        if (!t)
            break;
        apply(d, t, &fx);
    }
    ck_assert_uint_eq(total, 40);
    ck_assert_uint_ge(chunks, 3);
    ck_assert_uint_eq(offline_n(d), 0);

    for (int i = 0; i < 40; i++)
        store(d, "m", "chat", big, &fx);
    effects_clear(&fx);
    presence(d, 8, "chamber", "0", NULL, &fx);
    size_t first = count_kind(&fx, FX_STANZA);
    struct event *t = take_tombstone(&fx);
    struct event *closed = event_new(EV_SESSION_CLOSED, ORIGIN_C2S, 8, JULIET, NULL);
    xml_set_attr(closed->body, "jid", JULIET "/chamber");
    apply(d, closed, &fx);
    effects_clear(&fx);
    apply(d, t, &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 0); /* the chain stopped */
    effects_clear(&fx);
    ck_assert_uint_eq(offline_n(d), 40 - first);
    presence(d, 9, "garden", "0", NULL, &fx); /* the rest waits for the next login */
    ck_assert_uint_gt(count_kind(&fx, FX_STANZA), 0);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

struct walk {
    int n;
    uint64_t ids[4];
    char bodies[4][32];
};

static int walk_cb(void *arg, const char *bare, uint64_t id, int64_t time_us,
                   const struct xnode *msg)
{
    struct walk *w = arg;
    ck_assert_str_eq(bare, JULIET);
    ck_assert_int_eq(time_us, BASE_US + 1000000 * (int64_t)id); /* stamped like apply() */
    ck_assert_int_lt(w->n, 4);
    const struct xnode *b = xml_child(msg, "body", NULL);
    snprintf(w->bodies[w->n], sizeof w->bodies[0], "%s", b ? xml_text(b) : "");
    w->ids[w->n++] = id;
    return w->n == 2 ? 7 : 0; /* a non-zero return stops the walk and comes back */
}

START_TEST(each_walks_stored_messages_in_order)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "first", &fx);
    store(d, "m2", "chat", "second", &fx);
    store(d, "m3", "chat", "third", &fx);
    effects_clear(&fx);
    struct walk w = {0};
    ck_assert_int_eq(offline_each(dispatch_state(d, "offline"), walk_cb, &w), 7);
    ck_assert_int_eq(w.n, 2);
    ck_assert_str_eq(w.bodies[0], "first");
    ck_assert_str_eq(w.bodies[1], "second");
    ck_assert_uint_lt(w.ids[0], w.ids[1]);
    dispatch_free(d);
}
END_TEST

/* Crypto-erasure asks the handlers which stored content they still hold:
 * a stored message until its tombstone or its account's deletion, a
 * message refused past the quota never. */
START_TEST(holds_exactly_the_stored_messages)
{
    struct dispatch *d = fresh_with_quota(1);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "kept", &fx); /* seq 2 */
    store(d, "m2", "chat", "over quota", &fx); /* seq 3: bounced */
    effects_clear(&fx);
    ck_assert_int_eq(dispatch_holds(d, 2), 1);
    ck_assert_int_eq(dispatch_holds(d, 3), 0);
    ck_assert_int_eq(dispatch_holds(d, 1), 0);
    presence(d, 7, "balcony", "0", NULL, &fx);
    ck_assert_int_eq(dispatch_holds(d, 2), 1); /* in flight: the tombstone decides */
    apply_tombstone(d, &fx);
    effects_clear(&fx);
    ck_assert_int_eq(dispatch_holds(d, 2), 0);

    store(d, "m3", "chat", "again", &fx);
    uint64_t seq = next_seq;
    ck_assert_int_eq(dispatch_holds(d, seq), 1);
    struct buf snap;
    buf_init(&snap);
    dispatch_encode(d, &snap);
    struct dispatch *d2 = dispatch_new();
    ck_assert_int_eq(dispatch_decode(d2, snap.p, snap.len), 0);
    ck_assert_int_eq(dispatch_holds(d2, seq), 1); /* a restart keeps the key alive */
    dispatch_free(d2);
    buf_free(&snap);
    struct event *del = event_new(EV_ACCOUNT_DELETE, ORIGIN_CTL, 1, JULIET, NULL);
    xml_set_attr(del->body, "jid", JULIET);
    apply(d, del, &fx);
    effects_clear(&fx);
    ck_assert_int_eq(dispatch_holds(d, seq), 0);
    dispatch_free(d);
}
END_TEST

static int contains(const struct buf *b, const char *s)
{
    size_t n = strlen(s);
    for (size_t i = 0; i + n <= b->len; i++)
        if (memcmp(b->p + i, s, n) == 0)
            return 1;
    return 0;
}

START_TEST(snapshot_round_trip_and_no_trace_after_the_tombstone)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "kept-secret-one", &fx);
    store(d, "m2", "chat", "kept-secret-two", &fx);
    presence(d, 7, "balcony", NULL, NULL, &fx); /* both in flight: not encoded */
    struct buf a;
    buf_init(&a);
    struct dispatch *d2 = snapshot_round_trip(d, &a);
    ck_assert(contains(&a, "kept-secret-one"));
    ck_assert_uint_eq(offline_count(dispatch_state(d2, "offline"), JULIET), 2);
    ck_assert_int_eq(dispatch_decode(d2, a.p, a.len - 1), -ERR_CORRUPT);
    dispatch_free(d2);

    apply_tombstone(d, &fx);
    effects_clear(&fx);
    buf_reset(&a);
    dispatch_encode(d, &a);
    ck_assert(!contains(&a, "kept-secret-one"));
    ck_assert(!contains(&a, "kept-secret-two"));
    buf_free(&a);
    dispatch_free(d);
}
END_TEST

START_TEST(decoded_state_delivers_the_same_messages)
{
    struct dispatch *d = fresh_with_quota(100);
    struct effects fx;
    effects_init(&fx);
    store(d, "m1", "chat", "one", &fx);
    struct buf a;
    buf_init(&a);
    dispatch_encode(d, &a);
    struct dispatch *d2 = dispatch_new();
    ck_assert_int_eq(dispatch_decode(d2, a.p, a.len), 0);
    buf_free(&a);
    apply_quiet(d2, started(100));
    presence(d2, 4, "balcony", NULL, NULL, &fx);
    ck_assert_uint_eq(count_kind(&fx, FX_STANZA), 1);
    const struct xnode *delay = xml_child(nth_kind(&fx, FX_STANZA, 0)->stanza, "delay", NS_DELAY);
    ck_assert_str_eq(xml_attr(delay, "stamp"), "2026-11-25T21:00:02.123Z");
    effects_clear(&fx);
    dispatch_free(d2);
    dispatch_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("offline");
    TCase *tc = tcase_create("offline");
    tcase_add_test(tc, presence_delivers_stored_messages_with_delay_stamps);
    tcase_add_test(tc, after_the_tombstone_a_second_login_gets_nothing);
    tcase_add_test(tc, in_flight_messages_are_not_delivered_twice_before_the_tombstone);
    tcase_add_test(tc, a_restart_before_the_tombstone_delivers_again);
    tcase_add_test(tc, negative_priority_and_other_presence_get_nothing);
    tcase_add_test(tc, past_the_quota_the_sender_gets_service_unavailable);
    tcase_add_test(tc, quota_zero_stores_nothing);
    tcase_add_test(tc, account_delete_drops_the_messages);
    tcase_add_test(tc, snapshot_round_trip_and_no_trace_after_the_tombstone);
    tcase_add_test(tc, decoded_state_delivers_the_same_messages);
    tcase_add_test(tc, holds_exactly_the_stored_messages);
    tcase_add_test(tc, each_walks_stored_messages_in_order);
    tcase_add_test(tc, long_backlog_goes_out_in_chunks_while_the_session_lasts);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

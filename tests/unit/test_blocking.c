/* test_blocking: the blocking handler (XEP-0191) through the real
 * dispatcher: the list commands and their pushes to interested
 * resources, the <blocked/> error for the user, a blocked contact seeing
 * the user as offline, server-made stanzas not reaching a blocked JID,
 * unavailable presence on block, the snapshot codec, and the audit note
 * emitted once per command that changed the list (none for a no-op). */
#include "handlers/audit/audit.h"
#include "handlers/blocking/blocking.h"
#include "fixture.h"

#define JULIET "juliet@localhost"
#define BALCONY JULIET "/balcony"
#define CHAMBER JULIET "/chamber"
#define ROMEO "romeo@localhost"
#define ORCHARD ROMEO "/orchard"

/* <iq type=set><block|unblock><item jid=.../>...</...></iq>, items NULL-ended. */
static void command(struct dispatch *d, uint64_t conn, const char *from, const char *cmd,
                    const char *const *items, struct effects *fx)
{
    struct xnode *iq = stanza("iq", from, NULL, "set", "cmd1");
    struct xnode *c = xml_add(iq, cmd, NS_BLOCKING);
    for (size_t i = 0; items && items[i]; i++)
        xml_set_attr(xml_add(c, "item", NULL), "jid", items[i]);
    send(d, conn, iq, fx);
}

static void get_list(struct dispatch *d, uint64_t conn, const char *from, struct effects *fx)
{
    struct xnode *iq = stanza("iq", from, NULL, "get", "list1");
    xml_add(iq, "blocklist", NS_BLOCKING);
    send(d, conn, iq, fx);
}

static size_t count(const struct dispatch *d, const char *bare)
{
    return blocking_count(dispatch_state(d, "blocking"), bare);
}

START_TEST(get_block_get_lists_the_prepared_jid)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    get_list(d, 1, BALCONY, &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 1);
    const struct xnode *r = nth_to(&fx, 1, 0);
    ck_assert_str_eq(xml_attr(r, "type"), "result");
    ck_assert_str_eq(xml_attr(r, "id"), "list1");
    const struct xnode *bl = xml_child(r, "blocklist", NS_BLOCKING);
    ck_assert_ptr_nonnull(bl);
    ck_assert_ptr_null(xml_first_elem(bl));
    effects_clear(&fx);

    command(d, 1, BALCONY, "block", (const char *[]){"Romeo@LocalHost", NULL}, &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 2); /* result, then the push */
    ck_assert_str_eq(xml_attr(nth_to(&fx, 1, 0), "type"), "result");
    ck_assert_str_eq(xml_attr(nth_to(&fx, 1, 0), "id"), "cmd1");
    const struct xnode *push = nth_to(&fx, 1, 1);
    ck_assert_str_eq(xml_attr(push, "type"), "set");
    ck_assert_str_eq(xml_attr(push, "to"), BALCONY);
    const struct xnode *blk = xml_child(push, "block", NS_BLOCKING);
    ck_assert_str_eq(xml_attr(xml_first_elem(blk), "jid"), ROMEO);
    effects_clear(&fx);

    get_list(d, 1, BALCONY, &fx);
    bl = xml_child(nth_to(&fx, 1, 0), "blocklist", NS_BLOCKING);
    ck_assert_str_eq(xml_attr(xml_first_elem(bl), "jid"), ROMEO);
    ck_assert_ptr_null(xml_next_elem(xml_first_elem(bl)));
    effects_clear(&fx);
    ck_assert_uint_eq(count(d, JULIET), 1);
    dispatch_free(d);
}
END_TEST

START_TEST(pushes_go_to_every_interested_resource_and_only_those)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    get_list(d, 1, BALCONY, &fx);
    get_list(d, 3, JULIET "/garden", &fx);
    effects_clear(&fx);
    apply_quiet(d, sessions_ev_closed(3, JULIET "/garden"));
    command(d, 2, CHAMBER, "block", (const char *[]){ROMEO, "tybalt@localhost", NULL}, &fx);
    ck_assert_uint_eq(count_to(&fx, 2, NULL), 1); /* the result only: chamber never asked */
    ck_assert_str_eq(xml_attr(nth_to(&fx, 2, 0), "type"), "result");
    ck_assert_uint_eq(count_to(&fx, 3, NULL), 0); /* garden is gone */
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 1);
    const struct xnode *blk = xml_child(nth_to(&fx, 1, 0), "block", NS_BLOCKING);
    const struct xnode *it = xml_first_elem(blk);
    ck_assert_str_eq(xml_attr(it, "jid"), ROMEO);
    ck_assert_str_eq(xml_attr(xml_next_elem(it), "jid"), "tybalt@localhost");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(bad_block_commands_change_nothing)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    command(d, 1, BALCONY, "block", NULL, &fx);
    ck_assert_str_eq(error_cond(nth_to(&fx, 1, 0)), "bad-request");
    effects_clear(&fx);
    command(d, 1, BALCONY, "block", (const char *[]){ROMEO, "@localhost", NULL}, &fx);
    ck_assert_str_eq(xml_attr(nth_to(&fx, 1, 0), "type"), "error");
    ck_assert_str_eq(error_cond(nth_to(&fx, 1, 0)), "jid-malformed");
    effects_clear(&fx);
    ck_assert_uint_eq(count(d, JULIET), 0);
    struct xnode *wrong = stanza("iq", BALCONY, NULL, "get", "x");
    xml_add(wrong, "block", NS_BLOCKING);
    send(d, 1, wrong, &fx);
    ck_assert_str_eq(error_cond(nth_to(&fx, 1, 0)), "bad-request");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(unblock_one_then_unblock_all)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    get_list(d, 1, BALCONY, &fx);
    command(d, 1, BALCONY, "block", (const char *[]){"a@x.example", "b@x.example", "c.example", NULL},
            &fx);
    effects_clear(&fx);
    ck_assert_uint_eq(count(d, JULIET), 3);
    command(d, 1, BALCONY, "unblock", (const char *[]){"b@x.example", NULL}, &fx);
    ck_assert_uint_eq(count(d, JULIET), 2);
    ck_assert_str_eq(xml_attr(nth_to(&fx, 1, 0), "type"), "result");
    const struct xnode *ub = xml_child(nth_to(&fx, 1, 1), "unblock", NS_BLOCKING);
    ck_assert_str_eq(xml_attr(xml_first_elem(ub), "jid"), "b@x.example");
    effects_clear(&fx);
    command(d, 1, BALCONY, "unblock", NULL, &fx);
    ck_assert_uint_eq(count(d, JULIET), 0);
    ck_assert_str_eq(xml_attr(nth_to(&fx, 1, 0), "type"), "result");
    ub = xml_child(nth_to(&fx, 1, 1), "unblock", NS_BLOCKING);
    ck_assert_ptr_nonnull(ub);
    ck_assert_ptr_null(xml_first_elem(ub)); /* §3.5: the empty push */
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(the_user_is_told_a_contact_is_blocked)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    command(d, 1, BALCONY, "block", (const char *[]){ROMEO, "evil.example", NULL}, &fx);
    effects_clear(&fx);
    const char *targets[] = {ORCHARD, ROMEO, "someone@evil.example/x"};
    for (size_t i = 0; i < 3; i++) {
        struct xnode *m = stanza("message", BALCONY, targets[i], "chat", "m1");
        xml_add_text(xml_add(m, "body", NULL), "wherefore");
        send(d, 1, m, &fx);
        ck_assert_uint_eq(fx.n, 1);
        const struct xnode *r = nth_to(&fx, 1, 0);
        ck_assert_str_eq(xml_attr(r, "type"), "error");
        ck_assert_str_eq(error_cond(r), "not-acceptable");
        const struct xnode *e = xml_child(r, "error", NULL);
        ck_assert_str_eq(xml_attr(e, "type"), "cancel");
        ck_assert_ptr_nonnull(xml_child(e, "blocked", NS_BLOCKING_ERRORS));
        effects_clear(&fx);
    }
    struct xnode *iq = stanza("iq", BALCONY, ORCHARD, "get", "v1");
    xml_add(iq, "query", "jabber:iq:version");
    send(d, 1, iq, &fx);
    ck_assert_ptr_nonnull(xml_child(xml_child(nth_to(&fx, 1, 0), "error", NULL), "blocked",
                                    NS_BLOCKING_ERRORS));
    effects_clear(&fx);
    send(d, 1, stanza("presence", BALCONY, ROMEO, "subscribe", NULL), &fx);
    send(d, 1, stanza("iq", BALCONY, ORCHARD, "result", "r1"), &fx);
    ck_assert_uint_eq(fx.n, 0); /* presence and IQ results: dropped */
    dispatch_free(d);
}
END_TEST

START_TEST(a_blocked_contact_sees_the_user_offline)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    online(d, 1, BALCONY);
    online(d, 5, ORCHARD);
    online(d, 6, "nurse@localhost/hall");
    command(d, 1, BALCONY, "block", (const char *[]){ROMEO, NULL}, &fx);
    effects_clear(&fx);
    struct xnode *m = stanza("message", ORCHARD, JULIET, "chat", "m1");
    send(d, 5, m, &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 0);
    ck_assert_uint_eq(count_to(&fx, 5, NULL), 1);
    ck_assert_str_eq(error_cond(nth_to(&fx, 5, 0)), "service-unavailable");
    ck_assert_ptr_null(xml_child(xml_child(nth_to(&fx, 5, 0), "error", NULL), "blocked", NULL));
    effects_clear(&fx);
    struct xnode *iq = stanza("iq", ORCHARD, BALCONY, "get", "v1");
    xml_add(iq, "query", "jabber:iq:version");
    send(d, 5, iq, &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 0);
    ck_assert_str_eq(error_cond(nth_to(&fx, 5, 0)), "service-unavailable");
    effects_clear(&fx);
    send(d, 5, stanza("presence", ORCHARD, JULIET, "subscribe", NULL), &fx);
    send(d, 5, stanza("iq", ORCHARD, BALCONY, "result", "r1"), &fx);
    send(d, 5, stanza("message", ORCHARD, JULIET, "error", "e1"), &fx);
    ck_assert_uint_eq(fx.n, 0);
    send(d, 6, stanza("message", "nurse@localhost/hall", JULIET, "chat", "n1"), &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 1); /* others still get through */
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(inbound_stanzas_are_filtered_both_ways)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    online(d, 1, BALCONY);
    online(d, 5, ORCHARD);
    command(d, 1, BALCONY, "block", (const char *[]){ROMEO, NULL}, &fx);
    effects_clear(&fx);
    route(d, stanza("message", ORCHARD, JULIET, "chat", "m1"), &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 0);
    ck_assert_uint_eq(count_to(&fx, 5, NULL), 1); /* the bounce, routed back */
    ck_assert_str_eq(error_cond(nth_to(&fx, 5, 0)), "service-unavailable");
    effects_clear(&fx);
    route(d, stanza("presence", ORCHARD, JULIET, NULL, NULL), &fx);
    ck_assert_uint_eq(fx.n, 0);
    /* Server-made stanzas for juliet must not reach the JID she blocks. */
    route(d, stanza("presence", BALCONY, ROMEO, NULL, NULL), &fx);
    route(d, stanza("message", BALCONY, ORCHARD, "headline", "h1"), &fx);
    ck_assert_uint_eq(fx.n, 0);
    command(d, 1, BALCONY, "unblock", NULL, &fx);
    effects_clear(&fx);
    route(d, stanza("message", ORCHARD, JULIET, "chat", "m2"), &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 1);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(blocking_a_contact_sends_it_unavailable_presence)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    online(d, 1, BALCONY);
    online(d, 5, ORCHARD);
    command(d, 1, BALCONY, "block", (const char *[]){ROMEO, "evil.example", NULL}, &fx);
    ck_assert_uint_eq(count_to(&fx, 5, NULL), 1);
    const struct xnode *p = nth_to(&fx, 5, 0);
    ck_assert_str_eq(p->name, "presence");
    ck_assert_str_eq(xml_attr(p, "type"), "unavailable");
    ck_assert_str_eq(xml_attr(p, "from"), JULIET);
    effects_clear(&fx);
    /* Only once: blocking again changes nothing, so nothing is sent. */
    command(d, 1, BALCONY, "block", (const char *[]){ROMEO, NULL}, &fx);
    ck_assert_uint_eq(count_to(&fx, 5, NULL), 0);
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(snapshot_round_trip_keeps_lists_not_interest)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    get_list(d, 1, BALCONY, &fx);
    command(d, 1, BALCONY, "block", (const char *[]){ROMEO, "z.example", "a@b.example/r", NULL},
            &fx);
    command(d, 7, "nurse@localhost/hall", "block", (const char *[]){"tybalt@localhost", NULL}, &fx);
    effects_clear(&fx);
    struct buf a;
    buf_init(&a);
    struct dispatch *d2 = snapshot_round_trip(d, &a);
    ck_assert_uint_eq(count(d2, JULIET), 3);
    ck_assert_uint_eq(count(d2, "nurse@localhost"), 1);
    next_seq = dispatch_last_seq(d2);
    apply_quiet(d2, event_server_started("localhost", "test"));
    command(d2, 1, BALCONY, "unblock", NULL, &fx);
    ck_assert_uint_eq(count_to(&fx, 1, NULL), 1); /* result; no push: interest is volatile */
    effects_clear(&fx);
    ck_assert_int_eq(dispatch_decode(d2, a.p, a.len - 1), -ERR_CORRUPT);
    dispatch_free(d2);
    buf_free(&a);
    dispatch_free(d);
}
END_TEST

START_TEST(account_delete_drops_the_list)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    command(d, 1, BALCONY, "block", (const char *[]){ROMEO, NULL}, &fx);
    struct event *del = event_new(EV_ACCOUNT_DELETE, ORIGIN_CTL, 9, JULIET, NULL);
    xml_set_attr(del->body, "jid", JULIET);
    apply(d, del, &fx);
    effects_clear(&fx);
    ck_assert_uint_eq(count(d, JULIET), 0);
    dispatch_free(d);
}
END_TEST

static size_t notes_in(const struct effects *fx)
{
    size_t n = 0;
    for (size_t i = 0; i < fx->n; i++)
        n += fx->v[i].kind == FX_EVENT;
    return n;
}

/* Runs a command and checks it emitted exactly one audit note with this
 * what and detail (what NULL: no note at all). */
static void command_noting(struct dispatch *d, const char *cmd, const char *const *items,
                           const char *what, const char *detail)
{
    struct effects fx;
    effects_init(&fx);
    command(d, 1, BALCONY, cmd, items, &fx);
    ck_assert_uint_eq(notes_in(&fx), what ? 1 : 0);
    for (size_t i = 0; what && i < fx.n; i++) {
        if (fx.v[i].kind != FX_EVENT)
            continue;
        const struct event *ev = fx.v[i].event;
        ck_assert_int_eq(ev->type, EV_AUDIT_NOTE);
        ck_assert_int_eq(ev->origin_kind, ORIGIN_SERVER);
        ck_assert_str_eq(xml_attr(ev->body, "what"), what);
        ck_assert_str_eq(xml_attr(ev->body, "subject"), JULIET);
        ck_assert_str_eq(xml_attr(ev->body, "actor"), JULIET);
        ck_assert_str_eq(xml_attr(ev->body, "detail"), detail);
    }
    effects_clear(&fx);
}

START_TEST(each_real_change_emits_one_audit_note)
{
    struct dispatch *d = fresh();
    command_noting(d, "block", (const char *[]){"Romeo@LocalHost", NULL}, "block", ROMEO);
    command_noting(d, "block", (const char *[]){ROMEO, NULL}, NULL, NULL); /* already there */
    command_noting(d, "block", (const char *[]){ROMEO, "tybalt@localhost", "z.example", NULL},
                   "block", "tybalt@localhost z.example"); /* only the new ones */
    command_noting(d, "block", (const char *[]){"@bad", NULL}, NULL, NULL); /* refused */
    command_noting(d, "unblock", (const char *[]){"nurse@localhost", NULL}, NULL, NULL);
    command_noting(d, "unblock", (const char *[]){"nurse@localhost", ROMEO, NULL}, "unblock",
                   ROMEO);
    command_noting(d, "unblock", NULL, "unblock-all", "tybalt@localhost z.example");
    command_noting(d, "unblock", NULL, NULL, NULL); /* nothing left */
    ck_assert_uint_eq(count(d, JULIET), 0);
    dispatch_free(d);
}
END_TEST

START_TEST(a_long_audit_detail_is_cut_with_a_count)
{
    struct dispatch *d = fresh();
    enum { N = 40 };
    char jids[N][32];
    const char *items[N + 1];
    for (int i = 0; i < N; i++) {
        snprintf(jids[i], sizeof jids[i], "user%02d@far.example", i);
        items[i] = jids[i];
    }
    items[N] = NULL;
    struct effects fx;
    effects_init(&fx);
    command(d, 1, BALCONY, "block", items, &fx);
    ck_assert_uint_eq(notes_in(&fx), 1);
    const char *detail = NULL;
    for (size_t i = 0; i < fx.n; i++)
        if (fx.v[i].kind == FX_EVENT)
            detail = xml_attr(fx.v[i].event->body, "detail");
    ck_assert_uint_le(strlen(detail), AUDIT_NOTE_DETAIL_MAX);
    ck_assert_int_eq(strncmp(detail, "user00@far.example user01@far.example", 37), 0);
    /* 19 bytes per JID: 12 fit in the budget; the other 28 are counted. */
    const char *tail = strrchr(detail, '(');
    ck_assert_ptr_nonnull(tail);
    ck_assert_str_eq(tail, "(+28 more)");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("blocking");
    TCase *tc = tcase_create("blocking");
    tcase_add_test(tc, get_block_get_lists_the_prepared_jid);
    tcase_add_test(tc, pushes_go_to_every_interested_resource_and_only_those);
    tcase_add_test(tc, bad_block_commands_change_nothing);
    tcase_add_test(tc, unblock_one_then_unblock_all);
    tcase_add_test(tc, the_user_is_told_a_contact_is_blocked);
    tcase_add_test(tc, a_blocked_contact_sees_the_user_offline);
    tcase_add_test(tc, inbound_stanzas_are_filtered_both_ways);
    tcase_add_test(tc, blocking_a_contact_sends_it_unavailable_presence);
    tcase_add_test(tc, snapshot_round_trip_keeps_lists_not_interest);
    tcase_add_test(tc, account_delete_drops_the_list);
    tcase_add_test(tc, each_real_change_emits_one_audit_note);
    tcase_add_test(tc, a_long_audit_detail_is_cut_with_a_count);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

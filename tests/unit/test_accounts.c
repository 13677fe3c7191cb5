/* test_accounts: the accounts handler applies account events
 * deterministically through the dispatcher, answers each requester in its
 * own terms, and its state survives a snapshot round trip and a replay. */
#include "fixture.h"

START_TEST(operator_register_then_conflict)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    struct scram_creds c = creds(1);
    apply(d, accounts_ev_register(ORIGIN_CTL, 9, "alice@localhost", NULL, &c), &fx);
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.v[0].kind, FX_CTL);
    ck_assert_uint_eq(fx.v[0].to, 9);
    ck_assert_int_eq(fx.v[0].status, 0);
    effects_clear(&fx);
    apply(d, accounts_ev_register(ORIGIN_CTL, 9, "alice@localhost", NULL, &c), &fx);
    ck_assert_int_eq(fx.v[0].status, 1);
    ck_assert_str_eq(fx.v[0].text, "conflict");
    effects_clear(&fx);
    ck_assert_uint_eq(accounts_count(dispatch_state(d, "accounts")), 1);
    dispatch_free(d);
}
END_TEST

START_TEST(client_register_is_answered_with_an_iq_result)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    struct scram_creds c = creds(2);
    apply(d, accounts_ev_register(ORIGIN_C2S, 5, "bob@localhost", "reg1", &c), &fx);
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.v[0].kind, FX_STANZA);
    ck_assert_str_eq(fx.v[0].stanza->name, "iq");
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "type"), "result");
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "id"), "reg1");
    effects_clear(&fx);
    apply(d, accounts_ev_register(ORIGIN_C2S, 6, "bob@localhost", "reg2", &c), &fx);
    ck_assert_str_eq(xml_attr(fx.v[0].stanza, "type"), "error");
    ck_assert_ptr_nonnull(xml_child(xml_child(fx.v[0].stanza, "error", NULL), "conflict", NULL));
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

START_TEST(passwd_replaces_credentials_and_needs_an_account)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    struct scram_creds c1 = creds(1), c2 = creds(7);
    apply(d, accounts_ev_passwd(ORIGIN_CTL, 1, "carol@localhost", NULL, &c2), &fx);
    ck_assert_int_eq(fx.v[0].status, 1);
    ck_assert_str_eq(fx.v[0].text, "item-not-found");
    effects_clear(&fx);
    apply(d, accounts_ev_register(ORIGIN_CTL, 1, "carol@localhost", NULL, &c1), &fx);
    apply(d, accounts_ev_passwd(ORIGIN_CTL, 1, "carol@localhost", NULL, &c2), &fx);
    effects_clear(&fx);
    const struct scram_creds *got = accounts_creds(dispatch_state(d, "accounts"), "carol@localhost");
    ck_assert_ptr_nonnull(got);
    ck_assert_mem_eq(got, &c2, sizeof c2);
    dispatch_free(d);
}
END_TEST

START_TEST(delete_removes_the_account_and_closes_its_sessions)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    struct scram_creds c = creds(3);
    apply(d, accounts_ev_register(ORIGIN_CTL, 1, "dave@localhost", NULL, &c), &fx);
    apply(d, sessions_ev_bound(77, "dave@localhost/phone", "b1"), &fx);
    effects_clear(&fx);
    apply(d, accounts_ev_delete(ORIGIN_CTL, 1, "dave@localhost", NULL), &fx);
    ck_assert_uint_eq(fx.n, 2);
    ck_assert_int_eq(fx.v[0].kind, FX_CTL);
    ck_assert_int_eq(fx.v[0].status, 0);
    ck_assert_int_eq(fx.v[1].kind, FX_CLOSE);
    ck_assert_uint_eq(fx.v[1].to, 77);
    ck_assert_int_eq(fx.v[1].cond, STREAM_NOT_AUTHORIZED);
    effects_clear(&fx);
    ck_assert_ptr_null(accounts_creds(dispatch_state(d, "accounts"), "dave@localhost"));
    dispatch_free(d);
}
END_TEST

START_TEST(list_is_sorted)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    struct scram_creds c = creds(4);
    apply(d, accounts_ev_register(ORIGIN_CTL, 1, "zed@localhost", NULL, &c), &fx);
    apply(d, accounts_ev_register(ORIGIN_CTL, 1, "amy@localhost", NULL, &c), &fx);
    effects_clear(&fx);
    apply(d, accounts_ev_list(ORIGIN_CTL, 1), &fx);
    ck_assert_str_eq(fx.v[0].text, "amy@localhost\nzed@localhost\n");
    effects_clear(&fx);
    dispatch_free(d);
}
END_TEST

/* Runs a fixed history into d, collecting every effect as text. */
static void history(struct dispatch *d, struct buf *log)
{
    struct effects fx;
    effects_init(&fx);
    struct scram_creds c1 = creds(5), c2 = creds(6);
    struct event *evs[] = {
        accounts_ev_register(ORIGIN_C2S, 3, "erin@localhost", "r1", &c1),
        accounts_ev_register(ORIGIN_CTL, 4, "frank@localhost", NULL, &c2),
        accounts_ev_passwd(ORIGIN_CTL, 4, "erin@localhost", NULL, &c2),
        accounts_ev_delete(ORIGIN_CTL, 4, "frank@localhost", NULL),
        accounts_ev_register(ORIGIN_CTL, 4, "gina@localhost", NULL, &c1),
    };
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++) {
        /* Through the journal's encoding, as replay sees it. */
        struct buf b;
        buf_init(&b);
        evs[i]->seq = ++next_seq;
        evs[i]->time_us = (int64_t)next_seq;
        event_encode(evs[i], &b);
        int err;
        struct event *back = event_decode(evs[i]->seq, evs[i]->time_us, evs[i]->type, b.p, b.len, &err);
        ck_assert_ptr_nonnull(back);
        ck_assert_int_eq(dispatch_event(d, back, &fx), 0);
        for (size_t k = 0; k < fx.n; k++) {
            buf_printf(log, "%d %llu %d %s|", fx.v[k].kind, (unsigned long long)fx.v[k].to,
                       fx.v[k].status, fx.v[k].text ? fx.v[k].text : "");
            if (fx.v[k].stanza)
                xml_serialize(fx.v[k].stanza, NS_CLIENT, log);
        }
        effects_clear(&fx);
        event_free(back);
        event_free(evs[i]);
        buf_free(&b);
    }
}

START_TEST(replay_reproduces_state_and_effects)
{
    struct dispatch *d1 = fresh(), *d2;
    struct buf log1, log2, s1, s2;
    buf_init(&log1);
    buf_init(&log2);
    buf_init(&s1);
    buf_init(&s2);
    history(d1, &log1);
    d2 = fresh();
    history(d2, &log2);
    ck_assert_uint_eq(log1.len, log2.len);
    ck_assert_mem_eq(log1.p, log2.p, log1.len);
    dispatch_encode(d1, &s1);
    dispatch_encode(d2, &s2);
    ck_assert_uint_eq(s1.len, s2.len);
    ck_assert_mem_eq(s1.p, s2.p, s1.len);
    dispatch_free(d1);
    dispatch_free(d2);
    buf_free(&log1);
    buf_free(&log2);
    buf_free(&s1);
    buf_free(&s2);
}
END_TEST

START_TEST(snapshot_round_trip_is_exact)
{
    struct dispatch *d1 = fresh();
    struct buf log, s1;
    buf_init(&log);
    buf_init(&s1);
    history(d1, &log);
    struct dispatch *d2 = snapshot_round_trip(d1, &s1);
    ck_assert_uint_eq(dispatch_last_seq(d2), dispatch_last_seq(d1));
    ck_assert_ptr_nonnull(accounts_creds(dispatch_state(d2, "accounts"), "gina@localhost"));
    ck_assert_ptr_null(accounts_creds(dispatch_state(d2, "accounts"), "frank@localhost"));
    /* A damaged snapshot is refused. */
    for (size_t n = 0; n < s1.len; n++) {
        struct dispatch *d3 = dispatch_new();
        ck_assert_int_ne(dispatch_decode(d3, s1.p, n), 0);
        dispatch_free(d3);
    }
    dispatch_free(d1);
    dispatch_free(d2);
    buf_free(&log);
    buf_free(&s1);
}
END_TEST

START_TEST(events_out_of_sequence_are_refused)
{
    struct dispatch *d = fresh();
    struct effects fx;
    effects_init(&fx);
    struct event *ev = accounts_ev_list(ORIGIN_CTL, 1);
    ev->seq = next_seq + 2; /* a gap */
    ck_assert_int_eq(dispatch_event(d, ev, &fx), -ERR_SEQ);
    ck_assert_uint_eq(fx.n, 0);
    event_free(ev);
    dispatch_free(d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("accounts");
    TCase *tc = tcase_create("apply");
    tcase_add_test(tc, operator_register_then_conflict);
    tcase_add_test(tc, client_register_is_answered_with_an_iq_result);
    tcase_add_test(tc, passwd_replaces_credentials_and_needs_an_account);
    tcase_add_test(tc, delete_removes_the_account_and_closes_its_sessions);
    tcase_add_test(tc, list_is_sorted);
    tcase_add_test(tc, replay_reproduces_state_and_effects);
    tcase_add_test(tc, snapshot_round_trip_is_exact);
    tcase_add_test(tc, events_out_of_sequence_are_refused);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

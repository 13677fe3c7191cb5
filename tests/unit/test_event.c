/* test_event: the event payload codec (kernel/event.c) round-trips every
 * field and refuses damaged or foreign input instead of guessing. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/event.h"
#include "fixture.h"

static struct event *sample(void)
{
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "to", "b@localhost");
    xml_set_attr(m, "from", "a@localhost/x");
    xml_add_text(xml_add(m, "body", NULL), "hi <there> & \xc3\xa9");
    struct event *ev = event_new(EV_STANZA, ORIGIN_C2S, 42, "a@localhost", m);
    ev->seq = 7;
    ev->time_us = 1700000000123456;
    return ev;
}

START_TEST(encode_decode_round_trip_keeps_every_field)
{
    struct event *ev = sample();
    struct buf b;
    buf_init(&b);
    event_encode(ev, &b);
    int err = -1;
    struct event *d = event_decode(ev->seq, ev->time_us, ev->type, b.p, b.len, &err);
    ck_assert_ptr_nonnull(d);
    ck_assert_int_eq(err, 0);
    ck_assert_uint_eq(d->seq, 7);
    ck_assert(d->time_us == ev->time_us);
    ck_assert_int_eq(d->type, EV_STANZA);
    ck_assert_int_eq(d->origin_kind, ORIGIN_C2S);
    ck_assert_uint_eq(d->origin, 42);
    ck_assert_str_eq(d->subject, "a@localhost");
    ck_assert(xml_equal(d->body, ev->body));
    event_free(d);
    event_free(ev);
    buf_free(&b);
}
END_TEST

START_TEST(truncated_payload_is_refused_at_every_length)
{
    struct event *ev = sample();
    struct buf b;
    buf_init(&b);
    event_encode(ev, &b);
    for (size_t n = 0; n < b.len; n++) {
        int err = 0;
        struct event *d = event_decode(1, 0, EV_STANZA, b.p, n, &err);
        ck_assert_msg(d == NULL, "a payload cut to %zu of %zu bytes decoded", n, b.len);
        ck_assert_int_lt(err, 0);
    }
    event_free(ev);
    buf_free(&b);
}
END_TEST

START_TEST(trailing_bytes_are_damage)
{
    struct event *ev = sample();
    struct buf b;
    buf_init(&b);
    event_encode(ev, &b);
    buf_put_u8(&b, 0);
    int err = 0;
    ck_assert_ptr_null(event_decode(1, 0, EV_STANZA, b.p, b.len, &err));
    ck_assert_int_eq(err, -ERR_CORRUPT);
    event_free(ev);
    buf_free(&b);
}
END_TEST

START_TEST(unknown_version_is_refused)
{
    struct event *ev = sample();
    struct buf b;
    buf_init(&b);
    event_encode(ev, &b);
    b.p[0] = EVENT_FORMAT_VERSION + 1;
    int err = 0;
    ck_assert_ptr_null(event_decode(1, 0, EV_STANZA, b.p, b.len, &err));
    ck_assert_int_eq(err, -ERR_VERSION);
    event_free(ev);
    buf_free(&b);
}
END_TEST

START_TEST(server_started_carries_domain_and_version)
{
    struct event *ev = event_server_started("example.org", "1.2");
    ck_assert_int_eq(ev->type, EV_SERVER_STARTED);
    ck_assert_str_eq(ev->body->name, "server-started");
    ck_assert_str_eq(ev->body->ns, NS_EVENT);
    ck_assert_str_eq(xml_attr(ev->body, "domain"), "example.org");
    ck_assert_str_eq(xml_attr(ev->body, "version"), "1.2");
    ck_assert_str_eq(ev_type_name(EV_ACCOUNT_REGISTER), "account-register");
    event_free(ev);
}
END_TEST

static struct event *stanza_event(const char *name, const char *type)
{
    struct xnode *st = xml_new(name, NS_CLIENT);
    if (type)
        xml_set_attr(st, "type", type);
    return event_new(EV_STANZA, ORIGIN_C2S, 1, "a@localhost", st);
}

/* What the bus may commit without fsync (kernel/bus.c): reads and
 * presence of availability, logins and logouts; never a change. */
START_TEST(volatile_events_are_reads_availability_and_sessions)
{
    static const struct {
        const char *name, *type;
        int is_volatile;
    } cases[] = {
        {"iq", "get", 1},           {"iq", "set", 0},
        {"iq", "result", 0},        {"iq", "error", 0},
        {"iq", NULL, 0},            {"presence", NULL, 1},
        {"presence", "unavailable", 1}, {"presence", "subscribe", 0},
        {"presence", "subscribed", 0},  {"presence", "unsubscribe", 0},
        {"presence", "unsubscribed", 0}, {"presence", "probe", 0},
        {"presence", "error", 0},   {"message", NULL, 0},
        {"message", "chat", 0},     {"message", "groupchat", 0},
        {"message", "error", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct event *ev = stanza_event(cases[i].name, cases[i].type);
        ck_assert_msg(event_volatile(ev) == cases[i].is_volatile, "%s type=%s", cases[i].name,
                      cases[i].type ? cases[i].type : "(none)");
        event_free(ev);
    }
    static const struct {
        enum ev_type t;
        int is_volatile;
    } kinds[] = {
        {EV_SESSION_BOUND, 1},     {EV_SESSION_CLOSED, 1},    {EV_ACCOUNT_REGISTER, 0},
        {EV_SERVER_STARTED, 0},    {EV_OFFLINE_STORE, 0},     {EV_AUDIT_NOTE, 0},
        {EV_MUC_MEMBER, 0},
    };
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        struct event *ev = event_new(kinds[i].t, ORIGIN_SERVER, 0, NULL, NULL);
        ck_assert_msg(event_volatile(ev) == kinds[i].is_volatile, "%s", ev_type_name(kinds[i].t));
        event_free(ev);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("event");
    TCase *tc = tcase_create("codec");
    tcase_add_test(tc, encode_decode_round_trip_keeps_every_field);
    tcase_add_test(tc, truncated_payload_is_refused_at_every_length);
    tcase_add_test(tc, trailing_bytes_are_damage);
    tcase_add_test(tc, unknown_version_is_refused);
    tcase_add_test(tc, server_started_carries_domain_and_version);
    tcase_add_test(tc, volatile_events_are_reads_availability_and_sessions);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

/* test_audit: the audit handler, fed through the dispatcher after the
 * accounts handler as in the server, records exactly the account changes
 * that took effect (with who and when), answers `audit [--since]` in time
 * order, drops entries past the retention carried by events, keeps at
 * most AUDIT_ENTRIES_MAX, and keeps entries and its JID set across a
 * snapshot round trip. Audit notes (decisions of other handlers) become
 * entries with actor and detail, bounded, and survive snapshots; a
 * version 1 snapshot (before notes) is still read. */
#include "handlers/audit/audit.h"
#include "fixture.h"

#define DAY_US (86400LL * 1000000LL)

/* Runs `audit --since since_us` at time now_us; returns the answer text
 * (caller frees). */
static char *query_at(struct dispatch *d, int64_t since_us, uint64_t retention, int64_t now_us)
{
    struct effects fx;
    effects_init(&fx);
    apply_at(d, audit_ev_query(42, since_us, retention), now_us, &fx);
    ck_assert_uint_eq(fx.n, 1);
    ck_assert_int_eq(fx.v[0].kind, FX_CTL);
    ck_assert_uint_eq(fx.v[0].to, 42);
    ck_assert_int_eq(fx.v[0].status, 0);
    char *text = strdup(fx.v[0].text);
    effects_clear(&fx);
    return text;
}

static char *query(struct dispatch *d, int64_t since_us)
{
    return query_at(d, since_us, 365, 1000000 * (int64_t)(next_seq + 1));
}

static void add(struct dispatch *d, enum ev_origin kind, const char *jid, uint8_t fill)
{
    struct scram_creds c = creds(fill);
    apply_quiet(d, accounts_ev_register(kind, 9, jid, kind == ORIGIN_C2S ? "r" : NULL, &c));
}

START_TEST(changes_are_recorded_with_who_and_when)
{
    struct dispatch *d = fresh(); /* seq 1 */
    struct scram_creds c = creds(3);
    add(d, ORIGIN_CTL, "alice@localhost", 1);                                     /* 2 */
    add(d, ORIGIN_C2S, "bob@localhost", 2);                                       /* 3 */
    apply_quiet(d, accounts_ev_passwd(ORIGIN_C2S, 5, "bob@localhost", "p", &c)); /* 4 */
    apply_quiet(d, accounts_ev_passwd(ORIGIN_CTL, 9, "alice@localhost", NULL, &c)); /* 5 */
    apply_quiet(d, accounts_ev_delete(ORIGIN_CTL, 9, "alice@localhost", NULL));  /* 6 */
    char *t = query(d, 0);
    ck_assert_str_eq(t, "1970-01-01T00:00:02.000000Z seq=2 account-created alice@localhost by=operator\n"
                        "1970-01-01T00:00:03.000000Z seq=3 account-created bob@localhost by=client\n"
                        "1970-01-01T00:00:04.000000Z seq=4 password-changed bob@localhost by=client\n"
                        "1970-01-01T00:00:05.000000Z seq=5 password-changed alice@localhost by=operator\n"
                        "1970-01-01T00:00:06.000000Z seq=6 account-deleted alice@localhost by=operator\n");
    free(t);
    dispatch_free(d);
}
END_TEST

START_TEST(refused_changes_are_not_recorded)
{
    struct dispatch *d = fresh();
    struct scram_creds c = creds(3);
    add(d, ORIGIN_CTL, "alice@localhost", 1);                                    /* 2: created */
    add(d, ORIGIN_C2S, "alice@localhost", 2);                                    /* 3: conflict */
    apply_quiet(d, accounts_ev_passwd(ORIGIN_CTL, 9, "nobody@localhost", NULL, &c)); /* 4: not found */
    apply_quiet(d, accounts_ev_delete(ORIGIN_CTL, 9, "nobody@localhost", NULL)); /* 5: not found */
    struct event *bad = accounts_ev_register(ORIGIN_CTL, 9, "carol@localhost", NULL, &c);
    xml_set_attr(bad->body, "salt", "c2hvcnQ="); /* 5 bytes: accounts says bad-request */
    apply_quiet(d, bad);                                                         /* 6 */
    apply_quiet(d, accounts_ev_delete(ORIGIN_CTL, 9, "alice@localhost", NULL));  /* 7: deleted */
    add(d, ORIGIN_CTL, "alice@localhost", 4);                                    /* 8: created again */
    ck_assert_uint_eq(accounts_count(dispatch_state(d, "accounts")), 1);
    char *t = query(d, 0);
    ck_assert_str_eq(t, "1970-01-01T00:00:02.000000Z seq=2 account-created alice@localhost by=operator\n"
                        "1970-01-01T00:00:07.000000Z seq=7 account-deleted alice@localhost by=operator\n"
                        "1970-01-01T00:00:08.000000Z seq=8 account-created alice@localhost by=operator\n");
    free(t);
    dispatch_free(d);
}
END_TEST

START_TEST(since_keeps_entries_at_or_after_it)
{
    struct dispatch *d = fresh();
    add(d, ORIGIN_CTL, "a@localhost", 1); /* t=2 s */
    add(d, ORIGIN_CTL, "b@localhost", 1); /* t=3 s */
    add(d, ORIGIN_CTL, "c@localhost", 1); /* t=4 s */
    char *t = query(d, 3000000);
    ck_assert_str_eq(t, "1970-01-01T00:00:03.000000Z seq=3 account-created b@localhost by=operator\n"
                        "1970-01-01T00:00:04.000000Z seq=4 account-created c@localhost by=operator\n");
    free(t);
    t = query(d, 4000001);
    ck_assert_str_eq(t, "");
    free(t);
    dispatch_free(d);
}
END_TEST

START_TEST(answer_is_in_time_order_when_the_clock_stepped_back)
{
    struct dispatch *d = fresh();
    struct scram_creds c = creds(1);
    apply_at(d, accounts_ev_register(ORIGIN_CTL, 9, "late@localhost", NULL, &c), 9000000, NULL);
    apply_at(d, accounts_ev_register(ORIGIN_CTL, 9, "early@localhost", NULL, &c), 5000000, NULL);
    char *t = query_at(d, 0, 365, 10000000);
    ck_assert_str_eq(t, "1970-01-01T00:00:05.000000Z seq=3 account-created early@localhost by=operator\n"
                        "1970-01-01T00:00:09.000000Z seq=2 account-created late@localhost by=operator\n");
    free(t);
    dispatch_free(d);
}
END_TEST

START_TEST(retention_drops_entries_past_their_age)
{
    struct dispatch *d = fresh();
    struct scram_creds c = creds(1);
    int64_t t0 = 1795600000LL * 1000000; /* 2026-11-24 */
    apply_at(d, accounts_ev_register(ORIGIN_CTL, 9, "old@localhost", NULL, &c), t0, NULL);
    apply_at(d, accounts_ev_register(ORIGIN_CTL, 9, "new@localhost", NULL, &c), t0 + 20 * DAY_US, NULL);
    /* 0 keeps everything forever, even 100 years later. */
    char *t = query_at(d, 0, 0, t0 + 36500 * DAY_US);
    ck_assert_ptr_nonnull(strstr(t, "old@localhost"));
    free(t);
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), 2);
    /* 30 days, 31 days after the first: it goes, the second stays. */
    t = query_at(d, 0, 30, t0 + 31 * DAY_US);
    ck_assert_ptr_null(strstr(t, "old@localhost"));
    ck_assert_ptr_nonnull(strstr(t, "new@localhost"));
    free(t);
    /* The retention from server-started (12 days) applies to later
     * account events: at day 33, new@ (day 20) is past it and goes. */
    struct event *st = event_server_started("localhost", "test");
    audit_ev_set_retention(st, 12);
    apply_at(d, st, t0 + 31 * DAY_US, NULL);
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), 1); /* new@: 11 days old */
    apply_at(d, accounts_ev_delete(ORIGIN_CTL, 9, "old@localhost", NULL), t0 + 33 * DAY_US, NULL);
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), 1);
    t = query_at(d, 0, 12, t0 + 33 * DAY_US);
    ck_assert_ptr_nonnull(strstr(t, "account-deleted old@localhost"));
    ck_assert_ptr_null(strstr(t, "new@localhost"));
    free(t);
    dispatch_free(d);
}
END_TEST

static void snapshot_and_back(struct dispatch **d)
{
    struct buf b;
    buf_init(&b);
    dispatch_encode(*d, &b);
    dispatch_free(*d);
    *d = dispatch_new();
    ck_assert_int_eq(dispatch_decode(*d, b.p, b.len), 0);
    buf_free(&b);
}

START_TEST(snapshot_round_trip_keeps_entries_and_jids)
{
    struct dispatch *d = fresh();
    add(d, ORIGIN_CTL, "alice@localhost", 1);
    add(d, ORIGIN_C2S, "bob@localhost", 2);
    apply_quiet(d, accounts_ev_delete(ORIGIN_CTL, 9, "bob@localhost", NULL));
    char *before = query(d, 0);
    snapshot_and_back(&d);
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), 3);
    char *after = query(d, 0);
    ck_assert_str_eq(after, before);
    free(after);
    /* The JID set came back too: alice exists (no new entry), bob not. */
    add(d, ORIGIN_CTL, "alice@localhost", 3);
    add(d, ORIGIN_CTL, "bob@localhost", 3);
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), 4);
    /* Encoding is deterministic: encode, decode, encode gives the same bytes. */
    dispatch_free(snapshot_round_trip(d, NULL));
    free(before);
    dispatch_free(d);
}
END_TEST

START_TEST(damaged_snapshot_is_refused)
{
    struct dispatch *d = fresh();
    add(d, ORIGIN_CTL, "alice@localhost", 1);
    struct buf b;
    buf_init(&b);
    dispatch_encode(d, &b);
    dispatch_free(d);
    d = dispatch_new();
    /* Cut inside the audit handler's entry (the last bytes of the snapshot). */
    ck_assert_int_ne(dispatch_decode(d, b.p, b.len - 3), 0);
    buf_free(&b);
    dispatch_free(d);
}
END_TEST

START_TEST(bound_drops_the_oldest_first)
{
    struct dispatch *d = fresh();
    struct scram_creds c = creds(1);
    add(d, ORIGIN_CTL, "alice@localhost", 1); /* seq 2 */
    for (int i = 0; i < AUDIT_ENTRIES_MAX + 9; i++)
        apply_quiet(d, accounts_ev_passwd(ORIGIN_CTL, 9, "alice@localhost", NULL, &c));
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), AUDIT_ENTRIES_MAX);
    char *t = query_at(d, 0, 0, 1);
    /* 1 + MAX + 9 entries were made (seq 2 .. MAX + 11); the first 10 went. */
    ck_assert_ptr_null(strstr(t, "account-created"));
    ck_assert_int_eq(strncmp(t, "1970-01-01T00:00:12.000000Z seq=12 password-changed", 51), 0);
    free(t);
    dispatch_free(d);
}
END_TEST

/* A note as the kernel journals a decision: origin server. */
static void note(struct dispatch *d, const char *what, const char *subject, const char *actor,
                 const char *detail)
{
    apply_quiet(d, audit_ev_note(what, subject, actor, detail));
}

START_TEST(notes_are_recorded_with_actor_and_detail)
{
    struct dispatch *d = fresh();
    add(d, ORIGIN_CTL, "alice@localhost", 1);                                         /* 2 */
    note(d, "block", "alice@localhost", "alice@localhost", "bob@localhost evil.example"); /* 3 */
    note(d, "unblock-all", "alice@localhost", "alice@localhost", "");                 /* 4 */
    note(d, "room-created", "den@chat.localhost", "alice@localhost", "");             /* 5 */
    note(d, "affiliation", "den@chat.localhost", "", "member -> owner of bob@localhost"); /* 6 */
    note(d, "room-destroyed", "den@chat.localhost", "alice@localhost", "");           /* 7 */
    char *t = query(d, 0);
    ck_assert_str_eq(t,
        "1970-01-01T00:00:02.000000Z seq=2 account-created alice@localhost by=operator\n"
        "1970-01-01T00:00:03.000000Z seq=3 block alice@localhost by=alice@localhost"
        " detail=bob@localhost evil.example\n"
        "1970-01-01T00:00:04.000000Z seq=4 unblock-all alice@localhost by=alice@localhost\n"
        "1970-01-01T00:00:05.000000Z seq=5 room-created den@chat.localhost by=alice@localhost\n"
        "1970-01-01T00:00:06.000000Z seq=6 affiliation den@chat.localhost by=server"
        " detail=member -> owner of bob@localhost\n"
        "1970-01-01T00:00:07.000000Z seq=7 room-destroyed den@chat.localhost by=alice@localhost\n");
    free(t);
    /* The note event is what the journal holds: origin server, the subject
     * as the event's subject too. */
    struct event *ev = audit_ev_note("room-config", "den@chat.localhost", "a@localhost", "x");
    ck_assert_int_eq(ev->type, EV_AUDIT_NOTE);
    ck_assert_int_eq(ev->origin_kind, ORIGIN_SERVER);
    ck_assert_str_eq(ev->subject, "den@chat.localhost");
    ck_assert_str_eq(xml_attr(ev->body, "what"), "room-config");
    event_free(ev);
    dispatch_free(d);
}
END_TEST

START_TEST(notes_not_from_the_server_or_malformed_are_ignored)
{
    struct dispatch *d = fresh();
    struct event *ev = audit_ev_note("block", "alice@localhost", "alice@localhost", "b@localhost");
    ev->origin_kind = ORIGIN_C2S; /* not a decision */
    apply_quiet(d, ev);
    ev = audit_ev_note("block", "alice@localhost", "alice@localhost", "b@localhost");
    xml_set_attr(ev->body, "what", "message-sent"); /* not a word of the list */
    apply_quiet(d, ev);
    ev = audit_ev_note("block", "alice@localhost", "alice@localhost", "b@localhost");
    xml_set_attr(ev->body, "subject", "");
    apply_quiet(d, ev);
    ev = event_new(EV_AUDIT_NOTE, ORIGIN_SERVER, 0, "alice@localhost", NULL); /* no actor */
    xml_set_attr(ev->body, "what", "block");
    xml_set_attr(ev->body, "subject", "alice@localhost");
    apply_quiet(d, ev);
    ev = audit_ev_note("block", "alice@localhost", "alice@localhost", "b@localhost");
    apply_quiet(d, ev); /* the control: a good note counts */
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), 1);
    dispatch_free(d);
    d = fresh();
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), 0);
    dispatch_free(d);
}
END_TEST

START_TEST(note_detail_is_bounded_and_one_line)
{
    char long_detail[AUDIT_NOTE_DETAIL_MAX + 40];
    /* "é" (2 bytes) repeated: the cut must not split one. */
    _Static_assert(AUDIT_NOTE_DETAIL_MAX % 2 == 0, "the cut below falls inside a character");
    long_detail[0] = 'x'; /* then "é" at odd offsets: byte MAX is a continuation byte */
    for (size_t i = 1; i + 2 < sizeof long_detail; i += 2)
        memcpy(long_detail + i, "\xc3\xa9", 2);
    long_detail[sizeof long_detail - 1] = 0;
    struct event *ev = audit_ev_note("unblock", "alice@localhost", "alice@localhost", long_detail);
    const char *d = xml_attr(ev->body, "detail");
    ck_assert_uint_eq(strlen(d), AUDIT_NOTE_DETAIL_MAX - 1); /* the split "é" went whole */
    ck_assert_uint_eq((unsigned char)d[strlen(d) - 1], 0xa9);
    event_free(ev);
    struct dispatch *d2 = fresh();
    note(d2, "room-config", "den@chat.localhost", "alice@localhost", "name\nsubject\x7f");
    char *t = query(d2, 0);
    ck_assert_ptr_nonnull(strstr(t, " detail=name?subject?\n"));
    free(t);
    dispatch_free(d2);
}
END_TEST

START_TEST(snapshot_round_trip_keeps_notes)
{
    struct dispatch *d = fresh();
    add(d, ORIGIN_CTL, "alice@localhost", 1);
    note(d, "block", "alice@localhost", "alice@localhost", "bob@localhost");
    note(d, "affiliation", "den@chat.localhost", "", "none -> member of bob@localhost");
    note(d, "unblock", "alice@localhost", "alice@localhost", "");
    char *before = query(d, 0);
    ck_assert_ptr_nonnull(strstr(before, "by=server detail=none -> member of bob@localhost\n"));
    snapshot_and_back(&d);
    ck_assert_uint_eq(audit_count(dispatch_state(d, "audit")), 4);
    char *after = query(d, 0);
    ck_assert_str_eq(after, before);
    free(after);
    free(before);
    struct buf x;
    buf_init(&x);
    dispatch_free(snapshot_round_trip(d, &x));
    /* Cut inside the last note's detail: refused. */
    dispatch_free(d);
    d = dispatch_new();
    ck_assert_int_ne(dispatch_decode(d, x.p, x.len - 2), 0);
    buf_free(&x);
    dispatch_free(d);
}
END_TEST

/* The offset of the audit handler's version byte in a dispatch snapshot:
 * after its name (str "audit") and its state's length (varint). */
static size_t audit_version_at(const struct buf *b)
{
    const uint8_t *p = memmem(b->p, b->len, "\x05" "audit", 6);
    ck_assert_ptr_nonnull(p);
    size_t at = (size_t)(p - b->p) + 6;
    while (b->p[at] & 0x80)
        at++;
    return at + 1;
}

START_TEST(version_1_snapshot_is_still_read)
{
    struct dispatch *d = fresh();
    add(d, ORIGIN_CTL, "alice@localhost", 1);
    add(d, ORIGIN_C2S, "bob@localhost", 2);
    char *before = query(d, 0);
    struct buf b;
    buf_init(&b);
    dispatch_encode(d, &b);
    dispatch_free(d);
    /* Without notes, version 2 writes what version 1 wrote, but for the
     * version byte. */
    size_t at = audit_version_at(&b);
    ck_assert_uint_eq(b.p[at], 2);
    b.p[at] = 1;
    d = dispatch_new();
    ck_assert_int_eq(dispatch_decode(d, b.p, b.len), 0);
    char *after = query(d, 0);
    ck_assert_str_eq(after, before);
    dispatch_free(d);
    /* A version from the future is refused as such. */
    b.p[at] = 3;
    d = dispatch_new();
    ck_assert_int_eq(dispatch_decode(d, b.p, b.len), -ERR_VERSION);
    dispatch_free(d);
    buf_free(&b);
    free(before);
    free(after);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, changes_are_recorded_with_who_and_when);
    tcase_add_test(tc, refused_changes_are_not_recorded);
    tcase_add_test(tc, since_keeps_entries_at_or_after_it);
    tcase_add_test(tc, answer_is_in_time_order_when_the_clock_stepped_back);
    tcase_add_test(tc, retention_drops_entries_past_their_age);
    tcase_add_test(tc, snapshot_round_trip_keeps_entries_and_jids);
    tcase_add_test(tc, damaged_snapshot_is_refused);
    tcase_add_test(tc, bound_drops_the_oldest_first);
    tcase_add_test(tc, notes_are_recorded_with_actor_and_detail);
    tcase_add_test(tc, notes_not_from_the_server_or_malformed_are_ignored);
    tcase_add_test(tc, note_detail_is_bounded_and_one_line);
    tcase_add_test(tc, snapshot_round_trip_keeps_notes);
    tcase_add_test(tc, version_1_snapshot_is_still_read);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

/* test_replay: replay-as-test (replay/replay.c, doc/replay.md).
 *
 * Every golden file in tests/replay/ (recorded from real server runs)
 * replays into fresh handlers with every effect as recorded; a file with
 * one expected effect changed, removed or added fails and names the line;
 * a hand-written file (no times, another domain) works the same way; the
 * writer keeps one block per event on single lines; state digests change
 * with the durable state and only with it; a dispatcher restored from a
 * snapshot applies the events after it with the settings (domain,
 * limits) of the server-started before it, as live did. */
#include <check.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/accounts/accounts.h"
#include "handlers/private/private.h"
#include "handlers/roster/roster.h"
#include "handlers/sessions/sessions.h"
#include "handlers/vcard/vcard.h"
#include "kernel/mem.h"
#include "replay/replay.h"
#include "fixture.h"

#define ERR_BYTES 4096

static char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    struct buf b;
    char tmp[4096];
    size_t got;
    buf_init(&b);
    while ((got = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_put(&b, tmp, got);
    fclose(f);
    *n = b.len;
    buf_put_u8(&b, 0);
    return (char *)b.p;
}

/* The golden files of the source tree (run.sh runs us from its root). */
static size_t goldens(glob_t *g)
{
    const char *src = getenv("STANZAD_SRCDIR");
    char pat[4096];
    snprintf(pat, sizeof pat, "%s/tests/replay/*.golden", src ? src : ".");
    int rc = glob(pat, 0, NULL, g);
    ck_assert_msg(rc == 0 && g->gl_pathc >= 2, "no golden files match %s", pat);
    return g->gl_pathc;
}

static int check_text(const char *text, uint64_t *events, char *err)
{
    return replay_golden_check(text, strlen(text), events, err, ERR_BYTES);
}

START_TEST(every_recorded_golden_file_replays_with_the_same_effects)
{
    glob_t g;
    size_t n = goldens(&g);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *text = slurp(g.gl_pathv[i], &len), err[ERR_BYTES];
        uint64_t events = 0;
        int rc = replay_golden_check(text, len, &events, err, sizeof err);
        ck_assert_msg(rc == 0, "%s: %s", g.gl_pathv[i], err);
        ck_assert_msg(events >= 5, "%s: only %llu events", g.gl_pathv[i], (unsigned long long)events);
        free(text);
    }
    globfree(&g);
}
END_TEST

/* Returns a copy of text with the first line starting with prefix
 * replaced by repl ("" removes it), or with keep, kept and followed by
 * repl. Sets *line to that line's number. */
static char *edit_first(const char *text, const char *prefix, const char *repl, int keep,
                        unsigned *line)
{
    const char *p = text;
    *line = 1;
    while (strncmp(p, prefix, strlen(prefix)) != 0) {
        p = strchr(p, '\n');
        ck_assert_msg(p != NULL, "no line starts with %s", prefix);
        p++;
        (*line)++;
    }
    const char *end = strchr(p, '\n');
    end = end ? end + 1 : p + strlen(p);
    struct buf b;
    buf_init(&b);
    buf_put(&b, text, (size_t)((keep ? end : p) - text));
    buf_puts(&b, repl);
    buf_puts(&b, end);
    char *out = xstrdup(buf_cstr(&b));
    buf_free(&b);
    return out;
}

START_TEST(a_changed_expected_effect_fails_and_names_its_line)
{
    glob_t g;
    size_t n = goldens(&g);
    for (size_t i = 0; i < n; i++) {
        size_t len;
        char *text = slurp(g.gl_pathv[i], &len), err[ERR_BYTES], want[64];
        uint64_t events;
        unsigned line;
        /* the first session's bind goes to another connection */
        char *bad = edit_first(text, "fx bind ", "fx bind 999 someone@localhost/else\n", 0, &line);
        ck_assert_int_eq(check_text(bad, &events, err), 1);
        snprintf(want, sizeof want, "line %u:", line);
        ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "%s: %s", want, err);
        ck_assert_ptr_nonnull(strstr(err, "expected: fx bind 999"));
        free(bad);
        /* an expected effect missing: dispatch produces one more */
        bad = edit_first(text, "fx stanza ", "", 0, &line);
        ck_assert_int_eq(check_text(bad, &events, err), 1);
        ck_assert_ptr_nonnull(strstr(err, "expected: (no more effects)"));
        free(bad);
        /* an effect expected that dispatch does not produce */
        bad = edit_first(text, "fx stanza ", "fx close 1 conflict\n", 1, &line);
        ck_assert_int_eq(check_text(bad, &events, err), 1);
        ck_assert_ptr_nonnull(strstr(err, "produced: (no more effects)"));
        free(bad);
        free(text);
    }
    globfree(&g);
}
END_TEST

/* Written by hand: another domain, no times, a body with a line break. */
static const char hand[] =
    "# a hand-written test\n"
    "event server-started server -\n"
    "body <server-started xmlns='urn:stanzad:event' domain='example.org' version='1'/>\n"
    "\n"
    "event account-register ctl:5 juliet@example.org\n"
    "body <account-register xmlns='urn:stanzad:event' jid='juliet@example.org' iter='4096' "
    "salt='KaB8Wblv8upa2yD8oZVtFA==' sha1-stored='PNOZbt/0BoIWuHLN1qcTR/s8bpI=' "
    "sha1-server='iXTl+H4q333L0AZQo/5ictvGXB4=' "
    "sha256-stored='I3XILowfDp4vvBvj9rIB3qcWOKeAwNhNDI1hoFT1kvw=' "
    "sha256-server='nNWGYHDDI3qAI53LReG+eYhr2ldK2ZB+98boKWHPuUY='/>\n"
    "fx ctl 5 0 account created\n"
    "\n"
    "event session-bound c2s:7 juliet@example.org\n"
    "body <session-bound xmlns='urn:stanzad:event' jid='juliet@example.org/balcony' req='b1'/>\n"
    "fx bind 7 juliet@example.org/balcony\n"
    "fx stanza 7 <iq id='b1' type='result'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
    "<jid>juliet@example.org/balcony</jid></bind></iq>\n"
    "\n"
    "event stanza c2s:7 juliet@example.org\n"
    "body <iq type='get' id='u1' to='example.org' from='juliet@example.org/balcony'>"
    "<query xmlns='urn:example:unknown'/></iq>\n"
    "fx stanza 7 <iq type='error' id='u1' from='example.org' to='juliet@example.org/balcony'>"
    "<query xmlns='urn:example:unknown'/><error type='cancel'>"
    "<service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>\n"
    "\n"
    "event stanza c2s:7 juliet@example.org\n"
    "body <message to='juliet@example.org/balcony' from='juliet@example.org/balcony'>"
    "<body>two&#10;lines</body></message>\n"
    "fx stanza 7 <message to='juliet@example.org/balcony' from='juliet@example.org/balcony'>"
    "<body>two&#10;lines</body></message>\n";

START_TEST(a_hand_written_golden_file_is_checked_like_a_recorded_one)
{
    char err[ERR_BYTES];
    uint64_t events = 0;
    int rc = check_text(hand, &events, err);
    ck_assert_msg(rc == 0, "%s", err);
    ck_assert_uint_eq(events, 5);
    unsigned line;
    char *bad = edit_first(hand, "fx stanza 7 <message", "fx stanza 7 <message to='juliet@example.org/balcony' "
                           "from='juliet@example.org/balcony'><body>two lines</body></message>\n", 0, &line);
    ck_assert_int_eq(check_text(bad, &events, err), 1); /* the line break matters */
    ck_assert_uint_eq(events, 4);
    free(bad);
}
END_TEST

START_TEST(a_malformed_golden_file_is_refused_with_its_line)
{
    static const struct {
        const char *text, *why;
    } cases[] = {
        {"event no-such-type server -\nbody <x/>\n", "line 1: unknown event type"},
        {"event stanza c2s:x a@b\nbody <x/>\n", "line 1: bad origin"},
        {"event stanza c2s:1 a@b\n\nfx close 1 conflict\n", "line 3: an fx line outside"},
        {"event stanza c2s:1 a@b\nbody <x>\n", "line 2: expected one XML element"},
        {"event stanza c2s:1 a@b\nbody <x/><y/>\n", "line 2: expected one XML element"},
        {"event stanza c2s:1 a@b\nbody <x/>\nfx close 1 no-such-condition\n", "line 3: unknown stream error"},
        {"event stanza c2s:1 a@b\nbody <x/>\nfx ctl 1 0 bad\\escape\n", "line 3: expected: fx ctl"},
        {"event stanza c2s:1 a@b\n", "line 1: the last event has no body line"},
        {"bogus\n", "line 1: unknown line"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char err[ERR_BYTES];
        uint64_t events;
        int rc = check_text(cases[i].text, &events, err);
        ck_assert_msg(rc < 0, "case %zu parsed", i);
        ck_assert_msg(strncmp(err, cases[i].why, strlen(cases[i].why)) == 0, "case %zu: %s", i, err);
    }
}
END_TEST

START_TEST(the_writer_keeps_each_field_on_one_line_and_reads_back)
{
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "to", "a@localhost/x");
    xml_add_text(xml_add(m, "body", NULL), "one\ntwo\r\nthree <&>");
    struct event *ev = event_new(EV_STANZA, ORIGIN_C2S, 3, "a@localhost", m);
    ev->time_us = 1700000000000001;
    struct effects fx;
    effects_init(&fx);
    fx_stanza(&fx, 3, xml_copy(m));
    fx_ctl(&fx, 9, 1, "line one\nback\\slash");
    fx_bind(&fx, 4, NULL);
    fx_close(&fx, 5, STREAM_POLICY_VIOLATION);
    struct buf b;
    buf_init(&b);
    replay_golden_block(ev, &fx, &b);
    const char *s = buf_cstr(&b);
    ck_assert_ptr_nonnull(strstr(s, "\nevent stanza c2s:3 a@localhost time=1700000000000001\nbody <message "));
    ck_assert_ptr_nonnull(strstr(s, "one&#10;two&#13;&#10;three &lt;&amp;&gt;"));
    ck_assert_ptr_nonnull(strstr(s, "\nfx ctl 9 1 line one\\nback\\\\slash\n"));
    ck_assert_ptr_nonnull(strstr(s, "\nfx bind 4 -\n"));
    ck_assert_ptr_nonnull(strstr(s, "\nfx close 5 policy-violation\n"));
    int lines = 0;
    for (const char *p = s; *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 7); /* blank, event, body, 4 effects */
    buf_free(&b);
    effects_clear(&fx);
    event_free(ev);
}
END_TEST

START_TEST(the_state_digest_follows_the_durable_state_only)
{
    struct dispatch *a = dispatch_new(), *b = dispatch_new();
    uint8_t da[REPLAY_DIGEST_BYTES], db[REPLAY_DIGEST_BYTES];
    ck_assert_int_eq(replay_digest(a, da), 0);
    ck_assert_int_eq(replay_digest(b, db), 0);
    ck_assert_mem_eq(da, db, sizeof da);
    /* a start (volatile only) moves the last seq, which the digest covers */
    struct effects fx;
    effects_init(&fx);
    struct event *ev = event_server_started("example.org", "1");
    ev->seq = 1;
    ck_assert_int_eq(dispatch_event(a, ev, &fx), 0);
    ck_assert_int_eq(dispatch_event(b, ev, &fx), 0);
    ck_assert_int_eq(replay_digest(a, da), 0);
    ck_assert_int_eq(replay_digest(b, db), 0);
    ck_assert_mem_eq(da, db, sizeof da);
    /* the same state decoded from a snapshot has the same digest */
    struct buf enc;
    buf_init(&enc);
    dispatch_encode(a, &enc);
    struct dispatch *c = dispatch_new();
    ck_assert_int_eq(dispatch_decode(c, enc.p, enc.len), 0);
    ck_assert_int_eq(replay_digest(c, db), 0);
    ck_assert_mem_eq(da, db, sizeof da);
    char hex[REPLAY_DIGEST_HEX];
    replay_digest_hex(da, hex);
    ck_assert_uint_eq(strlen(hex), 64);
    /* an empty state differs from it */
    struct dispatch *e = dispatch_new();
    ck_assert_int_eq(replay_digest(e, db), 0);
    ck_assert_mem_ne(da, db, sizeof da);
    buf_free(&enc);
    event_free(ev);
    effects_clear(&fx);
    dispatch_free(a);
    dispatch_free(b);
    dispatch_free(c);
    dispatch_free(e);
}
END_TEST

/* ---- settings survive a snapshot ---- */

#define ALICE "alice@localhost"
#define ALICE_PHONE ALICE "/phone"
#define BOB "bob@localhost"
#define ALICE_CONN 5
#define TAIL_QUEUE_MAX 16

/* A stanza from alice's phone (kept apart from the fixture's stanza():
 * the golden logs fix this attribute order). */
static struct xnode *alice_stanza(const char *name, const char *type, const char *id,
                                  const char *to)
{
    struct xnode *st = xml_new(name, NS_CLIENT);
    if (type)
        xml_set_attr(st, "type", type);
    xml_set_attr(st, "id", id);
    xml_set_attr(st, "from", ALICE_PHONE); /* the kernel stamps the session's JID */
    if (to)
        xml_set_attr(st, "to", to);
    return st;
}

static struct event *from_alice(struct xnode *st)
{
    return event_new(EV_STANZA, ORIGIN_C2S, ALICE_CONN, NULL, st);
}

/* The journal up to the snapshot: a start on localhost with an offline
 * quota of 2, and two accounts. */
static struct event *before_snapshot(size_t i)
{
    struct scram_creds c;
    memset(&c, 7, sizeof c);
    c.iter = 4096;
    switch (i) {
    case 0: {
        struct event *ev = event_server_started("localhost", "test");
        event_set_limits(ev, 2, 65536);
        return ev;
    }
    case 1: return accounts_ev_register(ORIGIN_CTL, 1, ALICE, NULL, &c);
    case 2: return accounts_ev_register(ORIGIN_CTL, 1, BOB, NULL, &c);
    default: return NULL;
    }
}

/* The journal after the snapshot: every request here depends on the
 * domain or the offline quota. */
static struct event *after_snapshot(size_t i)
{
    struct xnode *st, *q;
    switch (i) {
    case 0: return sessions_ev_bound(ALICE_CONN, ALICE_PHONE, "b1");
    case 1:
        st = alice_stanza("iq", "set", "v1", NULL);
        xml_add_text(xml_add(xml_add(st, "vCard", NS_VCARD), "FN", NULL), "Alice");
        return from_alice(st);
    case 2:
        st = alice_stanza("iq", "get", "v2", NULL);
        xml_add(st, "vCard", NS_VCARD);
        return from_alice(st);
    case 3:
        st = alice_stanza("iq", "set", "p1", NULL);
        q = xml_add(xml_add(st, "query", NS_PRIVATE), "prefs", "urn:example:prefs");
        xml_add_text(q, "dark");
        return from_alice(st);
    case 4:
        st = alice_stanza("iq", "set", "r1", NULL);
        q = xml_add(xml_add(st, "query", NS_ROSTER), "item", NULL);
        xml_set_attr(q, "jid", BOB);
        return from_alice(st);
    case 5: return from_alice(alice_stanza("presence", "subscribe", "s1", BOB));
    case 6:
    case 7:
    case 8: { /* bob is offline: stored twice, then bounced (quota 2) */
        char id[8];
        snprintf(id, sizeof id, "m%zu", i);
        st = alice_stanza("message", "chat", id, BOB);
        xml_add_text(xml_add(st, "body", NULL), "hello");
        return from_alice(st);
    }
    default: return NULL;
    }
}

/* Applies ev as the bus does: stamped, and every decision it asks for
 * (FX_EVENT) applied right after it, in order. Logs each event with its
 * effects in golden-file form. */
static void apply_logged(struct dispatch *d, struct event *ev, uint64_t *seq, struct buf *log)
{
    struct event *queue[TAIL_QUEUE_MAX];
    size_t head = 0, n = 0;
    queue[n++] = ev;
    while (head < n) {
        struct event *e = queue[head++];
        e->seq = ++*seq;
        e->time_us = 1700000000000000 + 1000000 * (int64_t)e->seq;
        struct effects fx;
        effects_init(&fx);
        ck_assert_int_eq(dispatch_event(d, e, &fx), 0);
        replay_golden_block(e, &fx, log);
        for (size_t k = 0; k < fx.n; k++) {
            if (fx.v[k].kind != FX_EVENT)
                continue;
            ck_assert_uint_lt(n, TAIL_QUEUE_MAX);
            queue[n++] = fx.v[k].event;
            fx.v[k].event = NULL; /* the queue owns it now */
        }
        effects_clear(&fx);
        event_free(e);
    }
}

/* Asserts two logs are equal, naming the first line that differs (the
 * whole logs are too long for a Check message). */
static void assert_same_log(const char *got, const char *want)
{
    unsigned line = 1;
    while (*got && *got == *want) {
        line += *got == '\n';
        got++, want++;
    }
    if (*got == *want)
        return;
    while (line > 1 && got[-1] != '\n')
        got--, want--;
    ck_abort_msg("logs differ at line %u:\n  restored: %.300s\n  live:     %.300s", line, got, want);
}

static size_t count(const char *hay, const char *needle)
{
    size_t k = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        k++;
    return k;
}

START_TEST(events_after_a_snapshot_are_applied_with_the_settings_before_it)
{
    struct dispatch *live = dispatch_new(), *restored = dispatch_new();
    struct buf log_live, log_restored, snap, enc_live, enc_restored;
    buf_init(&log_live);
    buf_init(&log_restored);
    buf_init(&snap);
    buf_init(&enc_live);
    buf_init(&enc_restored);
    uint64_t seq_live = 0, seq_restored;
    struct event *ev;
    for (size_t i = 0; (ev = before_snapshot(i)); i++)
        apply_logged(live, ev, &seq_live, &log_live);
    dispatch_encode(live, &snap);
    ck_assert_int_eq(dispatch_decode(restored, snap.p, snap.len), 0);
    seq_restored = seq_live;
    buf_reset(&log_live);
    for (size_t i = 0; (ev = after_snapshot(i)); i++) {
        apply_logged(live, ev, &seq_live, &log_live);
        apply_logged(restored, after_snapshot(i), &seq_restored, &log_restored);
    }
    /* the same answers, event by event, and the same state */
    assert_same_log(buf_cstr(&log_restored), buf_cstr(&log_live));
    dispatch_encode(live, &enc_live);
    dispatch_encode(restored, &enc_restored);
    ck_assert_uint_eq(enc_restored.len, enc_live.len);
    ck_assert_mem_eq(enc_restored.p, enc_live.p, enc_live.len);
    /* and they are the right ones: the vCard set took, two messages were
     * kept and the third bounced at the quota of the start before */
    const char *got = buf_cstr(&log_restored);
    ck_assert_msg(strstr(got, "<FN>Alice</FN></vCard></iq>") != NULL, "no vCard in the get answer");
    ck_assert_uint_eq(count(got, "fx event 0 offline-store"), 3);
    ck_assert_uint_eq(count(got, "offline storage is full"), 1);
    ck_assert_int_eq(roster_item_state(dispatch_state(restored, "roster"), ALICE, BOB, NULL, NULL),
                     roster_item_state(dispatch_state(live, "roster"), ALICE, BOB, NULL, NULL));
    ck_assert_int_ge(roster_item_state(dispatch_state(restored, "roster"), ALICE, BOB, NULL, NULL), 0);
    /* a snapshot of the restored dispatcher carries the same settings */
    buf_reset(&enc_restored);
    dispatch_encode(restored, &enc_restored);
    struct dispatch *again = dispatch_new();
    ck_assert_int_eq(dispatch_decode(again, enc_restored.p, enc_restored.len), 0);
    buf_reset(&enc_live);
    dispatch_encode(again, &enc_live);
    ck_assert_uint_eq(enc_restored.len, enc_live.len);
    ck_assert_mem_eq(enc_restored.p, enc_live.p, enc_live.len);
    /* the format before the settings were kept is refused as such */
    snap.p[0] = 1;
    ck_assert_int_eq(dispatch_decode(again, snap.p, snap.len), -ERR_VERSION);
    buf_free(&log_live);
    buf_free(&log_restored);
    buf_free(&snap);
    buf_free(&enc_live);
    buf_free(&enc_restored);
    dispatch_free(live);
    dispatch_free(restored);
    dispatch_free(again);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("golden");
    tcase_add_test(tc, every_recorded_golden_file_replays_with_the_same_effects);
    tcase_add_test(tc, a_changed_expected_effect_fails_and_names_its_line);
    tcase_add_test(tc, a_hand_written_golden_file_is_checked_like_a_recorded_one);
    tcase_add_test(tc, a_malformed_golden_file_is_refused_with_its_line);
    tcase_add_test(tc, the_writer_keeps_each_field_on_one_line_and_reads_back);
    tcase_add_test(tc, the_state_digest_follows_the_durable_state_only);
    tcase_add_test(tc, events_after_a_snapshot_are_applied_with_the_settings_before_it);
    suite_add_tcase(s, tc);
    return run_suite(s);
}

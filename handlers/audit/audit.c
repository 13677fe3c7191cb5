/* audit: see audit.h. The state is a list of entries in sequence order
 * (a window v[head..n) of one array, trimmed from the front) and the set
 * of JIDs that exist, kept to tell a change that happened from one the
 * accounts handler refused. Events: server-started (retention),
 * account-register, account-passwd, account-delete, audit-note,
 * audit-query. */
#include "handlers/audit/audit.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mbedtls/base64.h>

#include "handlers/accounts/accounts.h"
#include "kernel/map.h"
#include "kernel/mem.h"
#include "kernel/scram.h"

/* 2 added the notes' actor and detail; version 1 is still read. */
#define AUDIT_SNAPSHOT_VERSION 2
#define US_PER_DAY (86400LL * 1000000LL)
/* Retention accepted from an event; larger values mean "forever" anyway. */
#define AUDIT_RETENTION_DAYS_MAX 36500
/* Largest answer, well below the ctl protocol's CTL_REPLY_MAX (64 MB):
 * past it the answer ends with a note to ask again with --since. */
#define AUDIT_REPLY_MAX (32u << 20)

/* A JID longer than this in a note is not a JID (kernel/jid.h allows
 * 3 x 1023 bytes and two separators): the note is ignored. */
#define AUDIT_JID_BYTES_MAX 3071

/* What happened; the numbers are part of the snapshot format. From
 * AW_NOTE_FIRST on, entries come from audit notes and have an actor. */
enum audit_what {
    AW_CREATED = 1, AW_PASSWD = 2, AW_DELETED = 3,
    AW_BLOCK = 4, AW_UNBLOCK = 5, AW_UNBLOCK_ALL = 6,
    AW_ROOM_CREATED = 7, AW_ROOM_DESTROYED = 8, AW_ROOM_CONFIG = 9, AW_AFFILIATION = 10,
    AW_MAX_
};
#define AW_NOTE_FIRST AW_BLOCK
static const char *const what_name[AW_MAX_] = {
    NULL, "account-created", "password-changed", "account-deleted",
    "block", "unblock", "unblock-all",
    "room-created", "room-destroyed", "room-config", "affiliation"};

/* Who did it, from the event's origin; numbers are in snapshots too. An
 * in-band (client) change is made by the account holder: the subject. */
enum audit_by { AB_SERVER = 0, AB_CLIENT = 1, AB_OPERATOR = 2, AB_PEER = 3, AB_MAX_ };
static const char *const by_name[AB_MAX_] = {"server", "client", "operator", "peer"};

struct audit_entry {
    int64_t time_us;
    uint64_t seq;
    uint8_t what; /* enum audit_what */
    uint8_t by;   /* enum audit_by */
    char *subject; /* bare JID; owned */
    char *actor;   /* notes: bare JID, "" for the server; else NULL; owned */
    char *detail;  /* notes: short text, may be ""; else NULL; owned */
};

struct audit_state {
    struct audit_entry *v;
    size_t head, n, cap; /* live entries are v[head..n) */
    struct map jids;     /* bare JID -> &present: the accounts that exist */
    uint64_t retention_days; /* 0: forever */
};

static const char present = 1;

static void entry_free(struct audit_entry *e)
{
    free(e->subject);
    free(e->actor);
    free(e->detail);
}

static void *audit_create(void)
{
    struct audit_state *s = xcalloc(1, sizeof *s);
    map_init_str(&s->jids);
    s->retention_days = AUDIT_RETENTION_DEFAULT_DAYS;
    return s;
}

static void audit_destroy(void *state)
{
    struct audit_state *s = state;
    for (size_t i = s->head; i < s->n; i++)
        entry_free(&s->v[i]);
    free(s->v);
    map_free(&s->jids);
    free(s);
}

size_t audit_count(const void *state)
{
    const struct audit_state *s = state;
    return s->n - s->head;
}

/* --- entries ------------------------------------------------------------ */

static void drop_oldest(struct audit_state *s)
{
    assert(s->head < s->n);
    entry_free(&s->v[s->head]);
    s->head++;
    /* Move the window back once half the array is dead space. */
    if (s->head == s->n || s->head >= s->cap / 2) {
        memmove(s->v, s->v + s->head, (s->n - s->head) * sizeof *s->v);
        s->n -= s->head;
        s->head = 0;
    }
}

/* actor and detail: NULL for account entries, set for notes. */
static void push(struct audit_state *s, int64_t time_us, uint64_t seq, enum audit_what w,
                 enum audit_by by, const char *subject, const char *actor, const char *detail)
{
    assert((w >= AW_NOTE_FIRST) == (actor != NULL));
    if (audit_count(s) >= AUDIT_ENTRIES_MAX)
        drop_oldest(s);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = (struct audit_entry){time_us, seq, (uint8_t)w, (uint8_t)by, xstrdup(subject),
                                        actor ? xstrdup(actor) : NULL,
                                        actor ? xstrdup(detail ? detail : "") : NULL};
    assert(audit_count(s) <= AUDIT_ENTRIES_MAX);
}

/* Drops entries older than the retention at time now_us, oldest first. */
static void prune(struct audit_state *s, int64_t now_us)
{
    if (s->retention_days == 0)
        return;
    int64_t cutoff = now_us - (int64_t)s->retention_days * US_PER_DAY;
    while (s->head < s->n && s->v[s->head].time_us < cutoff)
        drop_oldest(s);
}

static void take_retention(struct audit_state *s, const struct event *ev)
{
    const char *v = xml_attr(ev->body, "retention-days");
    char *end = NULL;
    unsigned long long d = v ? strtoull(v, &end, 10) : 0;
    if (v && *v && !*end && d <= AUDIT_RETENTION_DAYS_MAX)
        s->retention_days = d;
}

/* --- mirroring the accounts handler's decisions --------------------------- */

static int b64_len_is(const struct xnode *n, const char *name, size_t want)
{
    unsigned char out[64];
    size_t olen = 0;
    const char *v = xml_attr(n, name);
    return v && mbedtls_base64_decode(out, sizeof out, &olen, (const unsigned char *)v,
                                      strlen(v)) == 0 && olen == want;
}

/* True when accounts.c's creds_from_xml() would accept the event's
 * credentials; the same checks, without keeping the keys. */
static int creds_ok(const struct xnode *n)
{
    static const size_t key_len[SCRAM_HASH_COUNT_] = {20, 32};
    static const char *const key_attr[SCRAM_HASH_COUNT_][2] = {
        {"sha1-stored", "sha1-server"}, {"sha256-stored", "sha256-server"}};
    const char *iter = xml_attr(n, "iter");
    char *end = NULL;
    unsigned long v = iter ? strtoul(iter, &end, 10) : 0;
    if (!iter || *end || v < SCRAM_ITER_MIN || v > UINT32_MAX)
        return 0;
    if (!b64_len_is(n, "salt", SCRAM_SALT_LEN))
        return 0;
    for (int h = 0; h < SCRAM_HASH_COUNT_; h++)
        if (!b64_len_is(n, key_attr[h][0], key_len[h]) || !b64_len_is(n, key_attr[h][1], key_len[h]))
            return 0;
    return 1;
}

static enum audit_by by_of(const struct event *ev)
{
    switch (ev->origin_kind) {
    case ORIGIN_C2S: return AB_CLIENT;
    case ORIGIN_CTL: return AB_OPERATOR;
    case ORIGIN_S2S: return AB_PEER;
    default: return AB_SERVER;
    }
}

/* Returns what the account event did, or 0 when accounts refused it. */
static enum audit_what account_change(struct audit_state *s, const struct event *ev,
                                      const char *jid)
{
    int exists = map_get(&s->jids, jid) != NULL;
    switch (ev->type) {
    case EV_ACCOUNT_REGISTER:
        if (!creds_ok(ev->body) || exists || s->jids.len >= ACCOUNTS_MAX)
            return 0;
        map_put(&s->jids, jid, (void *)&present);
        return AW_CREATED;
    case EV_ACCOUNT_PASSWD:
        return exists && creds_ok(ev->body) ? AW_PASSWD : 0;
    case EV_ACCOUNT_DELETE:
        if (!exists)
            return 0;
        map_del(&s->jids, jid);
        return AW_DELETED;
    default:
        return 0;
    }
}

static void apply_account(struct audit_state *s, const struct event *ev)
{
    const char *jid = xml_attr(ev->body, "jid");
    if (!jid)
        return; /* accounts answers bad-request */
    enum audit_what w = account_change(s, ev, jid);
    if (w)
        push(s, ev->time_us, ev->seq, w, by_of(ev), jid, NULL, NULL);
}

/* --- notes from other handlers ------------------------------------------- */

static enum audit_what note_what(const char *word)
{
    for (int w = AW_NOTE_FIRST; word && w < AW_MAX_; w++)
        if (strcmp(what_name[w], word) == 0)
            return (enum audit_what)w;
    return 0;
}

/* A copy of text cut to max bytes at a UTF-8 character boundary, with
 * control characters as '?': one entry stays one line. */
static char *bounded_text(const char *text, size_t max)
{
    size_t n = strlen(text);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* text[n] continues a character: cut before it */
    }
    char *out = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)text[i];
        out[i] = c < 0x20 || c == 0x7f ? '?' : (char)c;
    }
    out[n] = 0;
    return out;
}

/* The note is recorded as it is: its maker decided that the change took
 * effect. Only a note from the server (a decision) with a known word and
 * a subject counts; anything else is not ours to record. */
static void apply_note(struct audit_state *s, const struct event *ev)
{
    enum audit_what w = note_what(xml_attr(ev->body, "what"));
    const char *subject = xml_attr(ev->body, "subject");
    const char *actor = xml_attr(ev->body, "actor");
    const char *detail = xml_attr(ev->body, "detail");
    if (ev->origin_kind != ORIGIN_SERVER || !w || !subject || !*subject || !actor ||
        strlen(subject) > AUDIT_JID_BYTES_MAX || strlen(actor) > AUDIT_JID_BYTES_MAX)
        return;
    char *d = bounded_text(detail ? detail : "", AUDIT_NOTE_DETAIL_MAX);
    push(s, ev->time_us, ev->seq, w, AB_SERVER, subject, actor, d);
    free(d);
}

/* --- the operator's query ------------------------------------------------- */

/* "2026-11-25T10:00:00.123456Z": UTC, microseconds. */
static void put_time(struct buf *b, int64_t us)
{
    int64_t sec = us / 1000000, frac = us % 1000000;
    if (frac < 0) {
        frac += 1000000;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) {
        buf_printf(b, "@%lld", (long long)us);
        return;
    }
    buf_printf(b, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
               tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
}

static int by_time(const void *a, const void *b)
{
    const struct audit_entry *x = *(const struct audit_entry *const *)a;
    const struct audit_entry *y = *(const struct audit_entry *const *)b;
    if (x->time_us != y->time_us)
        return x->time_us < y->time_us ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* One line per entry. A note names its actor (by=server when the server
 * made the change) and ends with its detail, which may hold spaces. */
static void put_line(struct buf *b, const struct audit_entry *e)
{
    put_time(b, e->time_us);
    const char *by = e->actor ? (*e->actor ? e->actor : "server") : by_name[e->by];
    buf_printf(b, " seq=%llu %s %s by=%s", (unsigned long long)e->seq, what_name[e->what],
               e->subject, by);
    if (e->detail && *e->detail)
        buf_printf(b, " detail=%s", e->detail);
    buf_puts(b, "\n");
}

static void apply_query(struct audit_state *s, const struct event *ev, struct effects *out)
{
    const char *since_s = xml_attr(ev->body, "since");
    long long since = since_s ? strtoll(since_s, NULL, 10) : 0;
    size_t k = 0;
    const struct audit_entry **sel = xcalloc(audit_count(s) + 1, sizeof *sel);
    for (size_t i = s->head; i < s->n; i++)
        if (s->v[i].time_us >= since)
            sel[k++] = &s->v[i];
    /* Sequence order is time order unless the wall clock stepped back. */
    qsort(sel, k, sizeof *sel, by_time);
    struct buf b;
    buf_init(&b);
    for (size_t i = 0; i < k; i++) {
        if (b.len > AUDIT_REPLY_MAX) {
            buf_printf(&b, "(%zu more; ask again with --since the last time above)\n", k - i);
            break;
        }
        put_line(&b, sel[i]);
    }
    free(sel);
    fx_ctl(out, ev->origin, 0, buf_cstr(&b));
    buf_free(&b);
}

static void audit_settings(void *state, const struct event *started)
{
    take_retention(state, started);
}

static int audit_apply(void *state, const struct event *ev, struct effects *out)
{
    struct audit_state *s = state;
    if (ev->type == EV_SERVER_STARTED)
        audit_settings(s, ev);
    else if (ev->type == EV_AUDIT_QUERY)
        take_retention(s, ev);
    prune(s, ev->time_us);
    switch (ev->type) {
    case EV_SERVER_STARTED: return 0;
    case EV_ACCOUNT_REGISTER:
    case EV_ACCOUNT_PASSWD:
    case EV_ACCOUNT_DELETE: apply_account(s, ev); return 0;
    case EV_AUDIT_NOTE: apply_note(s, ev); return 0;
    case EV_AUDIT_QUERY:
        if (ev->origin_kind == ORIGIN_CTL)
            apply_query(s, ev, out);
        return 0;
    default: return H_PASS;
    }
}

/* --- event builders --------------------------------------------------------- */

void audit_ev_set_retention(struct event *ev, uint64_t retention_days)
{
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)retention_days);
    xml_set_attr(ev->body, "retention-days", v);
}

struct event *audit_ev_query(uint64_t origin, int64_t since_us, uint64_t retention_days)
{
    struct event *ev = event_new(EV_AUDIT_QUERY, ORIGIN_CTL, origin, NULL, NULL);
    char v[24];
    snprintf(v, sizeof v, "%lld", (long long)since_us);
    xml_set_attr(ev->body, "since", v);
    audit_ev_set_retention(ev, retention_days);
    return ev;
}

struct event *audit_ev_note(const char *what, const char *subject, const char *actor,
                            const char *detail)
{
    assert(note_what(what) != 0);
    assert(subject && *subject && actor);
    struct event *ev = event_new(EV_AUDIT_NOTE, ORIGIN_SERVER, 0, subject, NULL);
    char *d = bounded_text(detail ? detail : "", AUDIT_NOTE_DETAIL_MAX);
    xml_set_attr(ev->body, "what", what);
    xml_set_attr(ev->body, "subject", subject);
    xml_set_attr(ev->body, "actor", actor);
    xml_set_attr(ev->body, "detail", d);
    free(d);
    return ev;
}

/* --- snapshot ------------------------------------------------------------------ */

/* Snapshot: u8 version, varint retention_days, varint jid count, str jid
 * (sorted), varint entry count, then per entry in sequence order:
 * u64 time_us (two's complement), varint seq, u8 what, u8 by, str subject,
 * and from version 2 on, when what >= AW_NOTE_FIRST (a note), str actor,
 * str detail. Version 1 has no notes. */
static void audit_encode(const void *state, struct buf *out)
{
    const struct audit_state *s = state;
    size_t nj;
    const char **keys = map_sorted_keys(&s->jids, &nj);
    buf_put_u8(out, AUDIT_SNAPSHOT_VERSION);
    buf_put_varint(out, s->retention_days);
    buf_put_varint(out, nj);
    for (size_t i = 0; i < nj; i++)
        buf_put_str(out, keys[i]);
    free(keys);
    buf_put_varint(out, audit_count(s));
    for (size_t i = s->head; i < s->n; i++) {
        const struct audit_entry *e = &s->v[i];
        buf_put_u64(out, (uint64_t)e->time_us);
        buf_put_varint(out, e->seq);
        buf_put_u8(out, e->what);
        buf_put_u8(out, e->by);
        buf_put_str(out, e->subject);
        if (e->what >= AW_NOTE_FIRST) {
            buf_put_str(out, e->actor);
            buf_put_str(out, e->detail);
        }
    }
}

static int decode_jids(struct audit_state *s, struct rd *in)
{
    uint64_t n = rd_varint(in);
    if (n > ACCOUNTS_MAX)
        return -ERR_CORRUPT;
    for (uint64_t i = 0; i < n && !in->err; i++) {
        char *jid = rd_strdup(in);
        int bad = !jid || map_get(&s->jids, jid);
        if (!bad)
            map_put(&s->jids, jid, (void *)&present);
        free(jid);
        if (bad)
            return -ERR_CORRUPT;
    }
    return in->err ? -ERR_CORRUPT : 0;
}

/* One entry of a version `version` snapshot; returns 0 or -ERR_CORRUPT.
 * Entries are in strictly rising sequence order (*prev_seq). */
static int decode_entry(struct audit_state *s, struct rd *in, int version, uint64_t *prev_seq)
{
    int64_t t = (int64_t)rd_u64(in);
    uint64_t seq = rd_varint(in);
    uint8_t w = rd_u8(in), by = rd_u8(in);
    int note = w >= AW_NOTE_FIRST;
    int wmax = version == 1 ? AW_NOTE_FIRST : AW_MAX_;
    char *subject = rd_strdup(in);
    char *actor = note && version >= 2 ? rd_strdup(in) : NULL;
    char *detail = note && version >= 2 ? rd_strdup(in) : NULL;
    int rc = 0;
    if (in->err || !subject || w == 0 || w >= wmax || by >= AB_MAX_ || seq <= *prev_seq ||
        (note && (!actor || !detail || strlen(detail) > AUDIT_NOTE_DETAIL_MAX)))
        rc = -ERR_CORRUPT;
    else
        push(s, t, seq, (enum audit_what)w, (enum audit_by)by, subject, actor, detail);
    free(subject);
    free(actor);
    free(detail);
    *prev_seq = seq;
    return rc;
}

static int audit_decode(void *state, struct rd *in)
{
    struct audit_state *s = state;
    uint8_t version = rd_u8(in);
    if (in->err)
        return -ERR_CORRUPT;
    if (version != 1 && version != AUDIT_SNAPSHOT_VERSION)
        return -ERR_VERSION;
    s->retention_days = rd_varint(in);
    if (s->retention_days > AUDIT_RETENTION_DAYS_MAX || decode_jids(s, in))
        return -ERR_CORRUPT;
    uint64_t n = rd_varint(in);
    if (n > AUDIT_ENTRIES_MAX)
        return -ERR_CORRUPT;
    uint64_t prev_seq = 0;
    for (uint64_t i = 0; i < n && !in->err; i++)
        if (decode_entry(s, in, version, &prev_seq))
            return -ERR_CORRUPT;
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler audit_handler = {
    .name = "audit",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_ACCOUNT_REGISTER) | EV_BIT(EV_ACCOUNT_PASSWD) |
             EV_BIT(EV_ACCOUNT_DELETE) | EV_BIT(EV_AUDIT_NOTE) | EV_BIT(EV_AUDIT_QUERY),
    .create = audit_create,
    .destroy = audit_destroy,
    .apply = audit_apply,
    .encode = audit_encode,
    .decode = audit_decode,
    .settings = audit_settings,
};

/* audit: see audit.h. The state is a list of entries in sequence order
 * (a window v[head..n) of one array, trimmed from the front) and the set
 * of JIDs that exist, kept to tell a change that happened from one the
 * accounts handler refused. Events: server-started (retention),
 * account-register, account-passwd, account-delete, audit-query. */
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

#define AUDIT_SNAPSHOT_VERSION 1
#define US_PER_DAY (86400LL * 1000000LL)
/* Retention accepted from an event; larger values mean "forever" anyway. */
#define AUDIT_RETENTION_DAYS_MAX 36500
/* Largest answer, well below the ctl protocol's CTL_REPLY_MAX (64 MB):
 * past it the answer ends with a note to ask again with --since. */
#define AUDIT_REPLY_MAX (32u << 20)

/* What happened; the numbers are part of the snapshot format. */
enum audit_what { AW_CREATED = 1, AW_PASSWD = 2, AW_DELETED = 3, AW_MAX_ };
static const char *const what_name[AW_MAX_] = {
    NULL, "account-created", "password-changed", "account-deleted"};

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
};

struct audit_state {
    struct audit_entry *v;
    size_t head, n, cap; /* live entries are v[head..n) */
    struct map jids;     /* bare JID -> &present: the accounts that exist */
    uint64_t retention_days; /* 0: forever */
};

static const char present = 1;

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
        free(s->v[i].subject);
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
    free(s->v[s->head].subject);
    s->head++;
    /* Move the window back once half the array is dead space. */
    if (s->head == s->n || s->head >= s->cap / 2) {
        memmove(s->v, s->v + s->head, (s->n - s->head) * sizeof *s->v);
        s->n -= s->head;
        s->head = 0;
    }
}

static void push(struct audit_state *s, int64_t time_us, uint64_t seq, enum audit_what w,
                 enum audit_by by, const char *subject)
{
    if (audit_count(s) >= AUDIT_ENTRIES_MAX)
        drop_oldest(s);
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = (struct audit_entry){time_us, seq, (uint8_t)w, (uint8_t)by, xstrdup(subject)};
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
        push(s, ev->time_us, ev->seq, w, by_of(ev), jid);
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
        put_time(&b, sel[i]->time_us);
        buf_printf(&b, " seq=%llu %s %s by=%s\n", (unsigned long long)sel[i]->seq,
                   what_name[sel[i]->what], sel[i]->subject, by_name[sel[i]->by]);
    }
    free(sel);
    fx_ctl(out, ev->origin, 0, buf_cstr(&b));
    buf_free(&b);
}

static int audit_apply(void *state, const struct event *ev, struct effects *out)
{
    struct audit_state *s = state;
    if (ev->type == EV_SERVER_STARTED || ev->type == EV_AUDIT_QUERY)
        take_retention(s, ev);
    prune(s, ev->time_us);
    switch (ev->type) {
    case EV_SERVER_STARTED: return 0;
    case EV_ACCOUNT_REGISTER:
    case EV_ACCOUNT_PASSWD:
    case EV_ACCOUNT_DELETE: apply_account(s, ev); return 0;
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

/* --- snapshot ------------------------------------------------------------------ */

/* Snapshot: u8 version, varint retention_days, varint jid count, str jid
 * (sorted), varint entry count, then per entry in sequence order:
 * u64 time_us (two's complement), varint seq, u8 what, u8 by, str subject. */
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

static int audit_decode(void *state, struct rd *in)
{
    struct audit_state *s = state;
    if (rd_u8(in) != AUDIT_SNAPSHOT_VERSION)
        return in->err ? -ERR_CORRUPT : -ERR_VERSION;
    s->retention_days = rd_varint(in);
    if (s->retention_days > AUDIT_RETENTION_DAYS_MAX || decode_jids(s, in))
        return -ERR_CORRUPT;
    uint64_t n = rd_varint(in);
    if (n > AUDIT_ENTRIES_MAX)
        return -ERR_CORRUPT;
    uint64_t prev_seq = 0;
    for (uint64_t i = 0; i < n && !in->err; i++) {
        int64_t t = (int64_t)rd_u64(in);
        uint64_t seq = rd_varint(in);
        uint8_t w = rd_u8(in), by = rd_u8(in);
        char *subject = rd_strdup(in);
        if (in->err || !subject || w == 0 || w >= AW_MAX_ || by >= AB_MAX_ || seq <= prev_seq) {
            free(subject);
            return -ERR_CORRUPT; /* entries are in strictly rising sequence order */
        }
        push(s, t, seq, (enum audit_what)w, (enum audit_by)by, subject);
        free(subject);
        prev_seq = seq;
    }
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler audit_handler = {
    .name = "audit",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_ACCOUNT_REGISTER) | EV_BIT(EV_ACCOUNT_PASSWD) |
             EV_BIT(EV_ACCOUNT_DELETE) | EV_BIT(EV_AUDIT_QUERY),
    .create = audit_create,
    .destroy = audit_destroy,
    .apply = audit_apply,
    .encode = audit_encode,
    .decode = audit_decode,
};

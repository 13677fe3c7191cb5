/* loadgen_scen_offline: the offline scenario (bench/README.md),
 * XEP-0160 storage and delivery. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen_scen.h"
#include "kernel/err.h"
#include "kernel/mem.h"

/* ---- offline ----
 *
 * Phase 1: the recipient (account --first) is not logged in; the senders
 * (the next --senders accounts) send --count chat messages to its bare
 * JID, each with id 'o<tag>-<seq>' and body "lgoff <tag> <seq> " padded
 * to --body-bytes; <tag> is random per run, so messages stored by an
 * earlier run are told apart (`stale`). A server gives no receipt for a
 * stored message, so each sender pings the server (XEP-0199) after every
 * --ping-every messages and when its window is full or it has nothing
 * left: the answer comes after the server has dealt with everything sent
 * before it on that stream (stanzad answers once it is durable). At most
 * --window messages per sender are not covered by an answered ping.
 * Phase 2: the recipient logs in and sends initial presence; from that
 * moment to the last of its stored messages is the drain. */

struct offline {
    struct pool *senders, *rcpt;
    uint64_t tag;
    uint64_t count;
    char to[2 * LG_TEXT_MAX + 2]; /* the recipient's bare JID */
    uint8_t *got;               /* per message: copies received (to 255) */
    uint8_t *bounced;           /* per message: came back as an error */
    uint64_t sent, acked, bounced_n;
    uint64_t t_send0, t_stored; /* first send, last ping answer */
    /* phase 2 */
    uint64_t distinct, dup, no_delay, bad_body, stale;
    uint64_t t_presence, t_last_rx;
    double last_progress_s;     /* lg_now_s() of the last new message */
    int drain_ping;             /* 0 not sent, 1 sent, 2 answered */
    struct meter drain;
    bool drain_stopped;
};

static void off_send_ping(struct pool *p, struct slot *s)
{
    char iq[LG_TEXT_MAX + 128];
    int n = snprintf(iq, sizeof iq,
                     "<iq type='get' id='op%" PRIu64 "' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>",
                     s->off_sent, p->x->opts->domain);
    s->off_pinged = s->off_sent;
    lg_conn_send(s->conn, iq, (size_t)n);
}

static void off_send_message(struct pool *p, struct slot *s)
{
    struct offline *f = p->off;
    uint64_t seq = f->sent++;
    int h = snprintf(p->stanza, LG_STANZA_MAX,
                     "<message to='%s' type='chat' id='o%016" PRIx64 "-%" PRIu64 "'><body>", f->to,
                     f->tag, seq);
    int b = snprintf(p->stanza + h, LG_STANZA_MAX - (size_t)h, "lgoff %016" PRIx64 " %" PRIu64 " ",
                     f->tag, seq);
    size_t len = finish_message(p->stanza, (size_t)h, (size_t)h + (size_t)b,
                                p->x->opts->body_bytes);
    s->off_sent++;
    lg_conn_send(s->conn, p->stanza, len);
}

/* Sends what the sender's window allows, then a ping for what no ping
 * covers yet (or the window would never reopen). */
static void off_fill(struct pool *p, struct slot *s)
{
    struct offline *f = p->off;
    const struct lg_opts *o = p->x->opts;
    if (s->conn == NULL)
        return;
    while (f->sent < f->count && s->off_sent - s->off_acked < o->window) {
        off_send_message(p, s);
        if (s->off_sent - s->off_pinged >= o->ping_every)
            off_send_ping(p, s);
    }
    if (s->off_pinged < s->off_sent)
        off_send_ping(p, s);
}

/* 'o<tag>-<seq>' of this run, seq sent: true and *seq. */
static bool off_parse_id(const struct offline *f, const char *id, uint64_t *seq)
{
    uint64_t tag;
    int end = 0;
    if (id == NULL || id[0] != 'o' ||
        sscanf(id + 1, "%16" SCNx64 "-%" SCNu64 "%n", &tag, seq, &end) != 2 ||
        id[1 + end] != '\0')
        return false;
    return tag == f->tag && *seq < f->sent;
}

/* Every message the server kept has arrived: the drain is over. A ping
 * then shows whether anything (a second copy) was still queued. */
static void off_check_drained(struct offline *f)
{
    if (f->t_presence == 0 || f->drain_ping != 0 || f->distinct < f->sent - f->bounced_n)
        return;
    struct pool *r = f->rcpt;
    meter_stop(&f->drain, r->x);
    f->drain_stopped = true;
    if (r->slots[0].conn == NULL)
        return;
    static const char ping[] = "<iq type='get' id='od'><ping xmlns='urn:xmpp:ping'/></iq>";
    f->drain_ping = 1;
    lg_conn_send(r->slots[0].conn, ping, sizeof ping - 1);
}

static bool is_delay(const struct lg_el *k)
{
    return strcmp(k->name, "delay") == 0 && strcmp(k->ns, "urn:xmpp:delay") == 0;
}

/* A message at the recipient: one of ours, once, stamped, intact? */
static void off_received(struct offline *f, const struct lg_el *el)
{
    uint64_t seq;
    if (!off_parse_id(f, lg_el_attr(el, "id"), &seq)) {
        f->stale++;
        return;
    }
    const struct lg_el *delay = NULL, *body = lg_el_child(el, "body");
    for (const struct lg_el *k = el->kids; k && !delay; k = k->next)
        delay = is_delay(k) ? k : NULL;
    if (delay == NULL)
        f->no_delay++;
    char head[64];
    int hn = snprintf(head, sizeof head, "lgoff %016" PRIx64 " %" PRIu64 " ", f->tag, seq);
    size_t want = (size_t)hn > f->rcpt->x->opts->body_bytes ? (size_t)hn
                                                            : f->rcpt->x->opts->body_bytes;
    if (!body || !body->text || body->text_len != want ||
        memcmp(body->text, head, (size_t)hn) != 0)
        f->bad_body++;
    if (f->got[seq] < UINT8_MAX)
        f->got[seq]++;
    if (f->got[seq] > 1) {
        f->dup++;
        return;
    }
    f->distinct++;
    f->t_last_rx = uv_hrtime();
    f->last_progress_s = lg_now_s();
    off_check_drained(f);
}

static void off_on_stanza(struct lg_conn *c, const struct lg_el *el)
{
    struct slot *s = lg_conn_user(c);
    struct pool *p = s->pool;
    struct offline *f = p->off;
    const char *id = lg_el_attr(el, "id"), *type = lg_el_attr(el, "type");
    bool error = type && strcmp(type, "error") == 0;
    uint64_t seq;
    if (strcmp(el->name, "iq") == 0) {
        /* A ping's answer, even an error, follows what was sent before. */
        if (p == f->rcpt && id && strcmp(id, "od") == 0) {
            f->drain_ping = 2;
        } else if (p == f->senders && id && strncmp(id, "op", 2) == 0) {
            uint64_t n = strtoull(id + 2, NULL, 10);
            if (n > s->off_acked && n <= s->off_sent) {
                f->acked += n - s->off_acked;
                s->off_acked = n;
                f->t_stored = uv_hrtime();
            }
            off_fill(p, s);
        }
    } else if (p == f->rcpt && !error) {
        off_received(f, el);
    } else if (p == f->senders && error && off_parse_id(f, id, &seq) && !f->bounced[seq]) {
        f->bounced[seq] = 1; /* not kept: over the quota, or refused */
        f->bounced_n++;
        off_check_drained(f);
    }
}

static void off_on_ready(struct lg_conn *c)
{
    struct slot *s = lg_conn_user(c);
    struct pool *p = s->pool;
    struct offline *f = p->off;
    on_ready(c);
    if (p != f->rcpt)
        return;
    /* lgc_ready sent the initial presence just before this call. */
    f->t_presence = uv_hrtime();
    f->last_progress_s = lg_now_s();
    meter_start(&f->drain, p->x);
    off_check_drained(f);
}

static const struct lg_conn_ops offline_ops = {
    .ready_cb = off_on_ready,
    .stanza_cb = off_on_stanza,
    .closed_cb = on_closed,
};

static bool off_stored(const struct pool *p)
{
    const struct offline *f = p->off;
    if (p->dropped > 0)
        return true; /* what it had sent is unknown: the run failed */
    return f->sent == f->count && f->acked == f->sent;
}

static bool off_drained(const struct pool *p)
{
    const struct offline *f = p->off;
    if (f->drain_ping == 2 || p->dropped > 0)
        return true;
    return lg_now_s() - f->last_progress_s > LG_DRAIN_S;
}

/* Phase 1; false when it did not finish. */
static bool off_store(struct offline *f, struct meter *m)
{
    struct pool *p = f->senders;
    if (!pool_run(p) || p->failed > 0)
        return false;
    meter_start(m, p->x);
    f->t_send0 = uv_hrtime();
    for (uint32_t i = 0; i < p->total; i++)
        off_fill(p, &p->slots[i]);
    bool ok = run_until(p->x, off_stored, p, p->x->t_end) && p->dropped == 0;
    meter_stop(m, p->x);
    return ok;
}

/* Phase 2; false when the recipient could not log in or time ran out. */
static bool off_drain(struct offline *f)
{
    struct pool *r = f->rcpt;
    if (!pool_run(r) || r->failed > 0)
        return false;
    bool ok = run_until(r->x, off_drained, r, r->x->t_end);
    if (!f->drain_stopped)
        meter_stop(&f->drain, r->x);
    return ok && r->dropped == 0;
}

static void off_print(struct offline *f, const struct meter *store, bool finished,
                      uint64_t missing)
{
    const struct lg_opts *o = f->senders->x->opts;
    double stored_s = f->t_stored > f->t_send0 ? (double)(f->t_stored - f->t_send0) / 1e9 : 0;
    double drain_s = f->t_last_rx > f->t_presence && f->t_presence
                         ? (double)(f->t_last_rx - f->t_presence) / 1e9
                         : 0;
    printf("scenario=offline tls=%s count=%" PRIu64 " senders=%" PRIu32 " window=%" PRIu32
           " ping_every=%" PRIu32 " body_bytes=%" PRIu32 " logins_fail=%" PRIu32
           " sent=%" PRIu64 " stored_s=%.3f store_rate_per_s=%.1f",
           o->tls == LG_DIRECT_TLS ? "direct" : "starttls", f->count, o->senders, o->window,
           o->ping_every, o->body_bytes, f->senders->failed + f->rcpt->failed, f->sent, stored_s,
           stored_s > 0 ? f->acked / stored_s : 0.0);
    meter_print_as(store, "store_");
    printf(" delivered=%" PRIu64 " dup=%" PRIu64 " missing=%" PRIu64 " bounced=%" PRIu64
           " no_delay=%" PRIu64 " bad_body=%" PRIu64 " stale=%" PRIu64
           " drain_ms=%.1f drain_rate_per_s=%.1f",
           f->distinct, f->dup, missing, f->bounced_n, f->no_delay, f->bad_body, f->stale,
           drain_s * 1e3, drain_s > 0 ? f->distinct / drain_s : 0.0);
    meter_print(&f->drain);
    printf("%s\n", finished ? "" : " aborted=1");
}

int run_offline(struct lg_ctx *x)
{
    const struct lg_opts *o = x->opts;
    struct pool senders, rcpt;
    struct offline f = {.senders = &senders, .rcpt = &rcpt, .count = o->count};
    struct meter store = {0};
    mbedtls_ctr_drbg_random(&x->drbg, (unsigned char *)&f.tag, sizeof f.tag);
    snprintf(f.to, sizeof f.to, "%s@%s", x->acct[0].user, o->domain);
    f.got = xcalloc(f.count, 1);
    f.bounced = xcalloc(f.count, 1);
    pool_init(&senders, x, LG_GOAL_LOGIN, o->senders, true);
    pool_init(&rcpt, x, LG_GOAL_LOGIN, 1, true);
    senders.acct_base = 1;
    senders.ops = rcpt.ops = &offline_ops;
    senders.off = rcpt.off = &f;
    senders.stanza = xmalloc(LG_STANZA_MAX);
    bool finished = off_store(&f, &store) && off_drain(&f);
    /* Senders stay until now: a late bounce still counts. */
    uint64_t missing = 0;
    for (uint64_t i = 0; i < f.sent; i++)
        missing += f.got[i] == 0 && !f.bounced[i];
    off_print(&f, &store, finished, missing);
    pool_close_all(&rcpt);
    pool_close_all(&senders);
    int rc = finished && missing == 0 && f.dup == 0 && f.bounced_n == 0 && f.no_delay == 0 &&
                     f.bad_body == 0 && senders.dropped == 0
                 ? 0
                 : 1;
    pool_free(&rcpt);
    pool_free(&senders);
    free(f.got);
    free(f.bounced);
    return rc;
}


/* loadgen_scen_muc: the muc scenario (bench/README.md), group chat
 * fan-out (XEP-0045).
 *
 * K accounts (--occupants) log in and join one room, room@<muc domain>,
 * with nicknames n<k> and <history maxstanzas='0'/> (XEP-0045 §7.2.14),
 * so nothing from before the join reaches the measurement. The first
 * occupant creates the room; a join with <x xmlns='.../muc'/> gets a
 * locked room (§10.1.2), which it unlocks with an empty submitted
 * configuration form (an instant room, §10.1.2). Only then do the others
 * join, each followed by a self-ping to its own occupant JID (XEP-0410):
 * its answer, after the join on the same stream, says whether the join
 * worked without reading the K^2 presences of the joins.
 *
 * Then the first --senders occupants send groupchat messages for
 * --duration seconds, each keeping --window of them outstanding; a message
 * is done for its sender when the room reflects it back (XEP-0045 §7.4:
 * the service sends a groupchat message to every occupant, the sender
 * included). Every occupant counts the deliveries; a body is
 * "lg <send time ns> <sender> " padded to --body-bytes, so each delivery
 * gives one latency sample and the sender knows its own reflection. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen_scen.h"
#include "kernel/mem.h"

/* Longest room JID: local part, '@', service domain. */
#define MUC_ROOM_MAX (2 * LG_TEXT_MAX + 2)

struct muc {
    struct pool *p;
    char room[MUC_ROOM_MAX];   /* the room's bare JID */
    int created;               /* owner form: 0 waiting, 1 accepted, -1 refused */
    uint32_t joined, join_failed;
    uint64_t t_join0, t_joined;
    bool sending;
    uint64_t sent, delivered, bounced, inflight;
    uint64_t t_send0, t_last_rx;
    struct lg_lat lat;
};

__attribute__((format(printf, 2, 3))) static void send_fmt(struct slot *s, const char *fmt, ...)
{
    char buf[MUC_ROOM_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (s->conn && n > 0 && (size_t)n < sizeof buf)
        lg_conn_send(s->conn, buf, (size_t)n);
}

static void send_join(struct muc *m, struct slot *s)
{
    send_fmt(s,
             "<presence to='%s/n%" PRIu32 "'><x xmlns='http://jabber.org/protocol/muc'>"
             "<history maxstanzas='0'/></x></presence>",
             m->room, s->k);
}

static bool may_send(const struct muc *m)
{
    const struct lg_opts *o = m->p->x->opts;
    return m->sending && m->sent < o->count &&
           (double)(uv_hrtime() - m->t_send0) / 1e9 < o->duration_s;
}

static void send_groupchat(struct muc *m, struct slot *s)
{
    struct pool *p = m->p;
    if (s->conn == NULL)
        return;
    int h = snprintf(p->stanza, LG_STANZA_MAX, "<message to='%s' type='groupchat' id='g%" PRIu64
                     "'><body>", m->room, m->sent);
    int b = snprintf(p->stanza + h, LG_STANZA_MAX - (size_t)h, "lg %" PRIu64 " %" PRIu32 " ",
                     uv_hrtime(), s->k);
    size_t len = finish_message(p->stanza, (size_t)h, (size_t)h + (size_t)b,
                                p->x->opts->body_bytes);
    s->inflight++;
    m->inflight++;
    m->sent++;
    lg_conn_send(s->conn, p->stanza, len);
}

/* One of the sender's messages is done (reflected or refused). */
static void sender_done(struct muc *m, struct slot *s)
{
    if (s->inflight == 0)
        return;
    s->inflight--;
    m->inflight--;
    if (may_send(m))
        send_groupchat(m, s);
}

static bool from_room(const struct muc *m, const char *from)
{
    size_t n = strlen(m->room);
    return from && strncmp(from, m->room, n) == 0 && (from[n] == '/' || from[n] == '\0');
}

static void on_groupchat(struct muc *m, struct slot *s, const struct lg_el *el)
{
    const char *type = lg_el_attr(el, "type");
    const struct lg_el *body = lg_el_child(el, "body");
    uint64_t t;
    uint32_t sender;
    if (type && strcmp(type, "error") == 0) {
        m->bounced++; /* a message of ours the room refused */
        sender_done(m, s);
        return;
    }
    if (!type || strcmp(type, "groupchat") != 0 || !from_room(m, lg_el_attr(el, "from")) ||
        !body || !body->text ||
        sscanf(body->text, "lg %" SCNu64 " %" SCNu32, &t, &sender) != 2)
        return; /* the subject, status messages: not ours */
    uint64_t now = uv_hrtime();
    lg_lat_add(&m->lat, now - t);
    m->delivered++;
    m->t_last_rx = now;
    if (sender == s->k)
        sender_done(m, s);
}

static void on_iq(struct muc *m, struct slot *s, const struct lg_el *el)
{
    const char *id = lg_el_attr(el, "id"), *type = lg_el_attr(el, "type");
    bool ok = type && strcmp(type, "result") == 0;
    if (id == NULL)
        return;
    if (strcmp(id, "cfg") == 0 && s->k == 0) {
        m->created = ok ? 1 : -1;
        s->in_room = ok;
        if (!ok)
            show_error(m->p->x, s, "the room refused its configuration form (did it exist?)");
    } else if (strcmp(id, "join") == 0 && !s->in_room) {
        s->in_room = ok;
        if (ok) {
            m->joined++;
            m->t_joined = uv_hrtime();
        } else {
            m->join_failed++;
            show_error(m->p->x, s, "the self-ping after the join failed: not in the room");
        }
    }
}

static void muc_on_stanza(struct lg_conn *c, const struct lg_el *el)
{
    struct slot *s = lg_conn_user(c);
    struct muc *m = s->pool->muc;
    if (strcmp(el->name, "message") == 0)
        on_groupchat(m, s, el);
    else if (strcmp(el->name, "iq") == 0)
        on_iq(m, s, el);
}

static const struct lg_conn_ops muc_ops = {
    .ready_cb = on_ready,
    .stanza_cb = muc_on_stanza,
    .closed_cb = on_closed,
};

static bool created(const struct pool *p) { return p->muc->created != 0 || p->dropped > 0; }

static bool all_joined(const struct pool *p)
{
    return p->muc->joined + p->muc->join_failed + 1 >= p->total || p->dropped > 0;
}

/* Nothing more to send, every reflection back, every delivery counted. */
static bool drained(const struct pool *p)
{
    const struct muc *m = p->muc;
    if (p->dropped > 0)
        return true;
    return !may_send(m) && m->inflight == 0 &&
           m->delivered >= (m->sent - m->bounced) * (m->joined + 1);
}

/* Creates the room and brings everyone in; false when it failed. */
static bool muc_enter(struct muc *m)
{
    struct pool *p = m->p;
    struct lg_ctx *x = p->x;
    struct slot *owner = &p->slots[0];
    m->t_join0 = uv_hrtime();
    send_join(m, owner);
    send_fmt(owner,
             "<iq type='set' id='cfg' to='%s'><query xmlns='http://jabber.org/protocol/muc#owner'>"
             "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
             m->room);
    if (!run_until(x, created, p, x->t_end) || m->created != 1 || p->dropped > 0)
        return false;
    for (uint32_t i = 1; i < p->total; i++) {
        send_join(m, &p->slots[i]);
        send_fmt(&p->slots[i],
                 "<iq type='get' id='join' to='%s/n%" PRIu32 "'><ping xmlns='urn:xmpp:ping'/></iq>",
                 m->room, i);
    }
    if (p->total == 1)
        m->t_joined = uv_hrtime();
    return run_until(x, all_joined, p, x->t_end) && m->join_failed == 0 && p->dropped == 0;
}

static void muc_print(struct muc *m, const struct meter *mt, bool finished, uint64_t lost)
{
    const struct pool *p = m->p;
    const struct lg_opts *o = p->x->opts;
    double s = m->t_last_rx > m->t_send0 ? (double)(m->t_last_rx - m->t_send0) / 1e9 : 0;
    double join_s = m->t_joined > m->t_join0 ? (double)(m->t_joined - m->t_join0) / 1e9 : 0;
    printf("scenario=muc tls=%s room=%s occupants=%" PRIu32 " senders=%" PRIu32
           " window=%" PRIu32 " body_bytes=%" PRIu32 " logins_ok=%" PRIu32
           " logins_fail=%" PRIu32 " joined=%" PRIu32 " join_s=%.2f sent=%" PRIu64
           " delivered=%" PRIu64 " lost=%" PRIu64 " bounced=%" PRIu64
           " wall_s=%.2f rate_per_s=%.1f msg_rate_per_s=%.1f p50_ms=%.3f p99_ms=%.3f",
           tls_name(o), m->room, o->occupants, o->senders, o->window, o->body_bytes, p->ready,
           p->failed, m->joined + (m->created == 1), join_s, m->sent, m->delivered, lost,
           m->bounced, s, s > 0 ? m->delivered / s : 0.0, s > 0 ? m->sent / s : 0.0,
           lg_lat_pct_ms(&m->lat, 50), lg_lat_pct_ms(&m->lat, 99));
    meter_print(mt);
    printf("%s\n", finished ? "" : " aborted=1");
}

int run_muc(struct lg_ctx *x)
{
    const struct lg_opts *o = x->opts;
    struct pool p;
    struct muc m = {.p = &p};
    struct meter mt = {0};
    char local[LG_TEXT_MAX + 1];
    if (o->room) {
        snprintf(local, sizeof local, "%s", o->room);
    } else { /* a fresh room per run: no earlier run's state or history */
        uint64_t tag;
        mbedtls_ctr_drbg_random(&x->drbg, (unsigned char *)&tag, sizeof tag);
        snprintf(local, sizeof local, "lg%016" PRIx64, tag);
    }
    snprintf(m.room, sizeof m.room, "%s@%s", local, o->muc_domain);
    pool_init(&p, x, LG_GOAL_LOGIN, o->occupants, true);
    p.ops = &muc_ops;
    p.muc = &m;
    p.stanza = xmalloc(LG_STANZA_MAX);
    bool finished = pool_run(&p) && p.failed == 0 && muc_enter(&m);
    meter_start(&mt, x);
    m.t_send0 = uv_hrtime();
    m.sending = finished;
    for (uint32_t w = 0; w < o->window && finished; w++)
        for (uint32_t i = 0; i < o->senders && may_send(&m); i++)
            send_groupchat(&m, &p.slots[i]);
    finished = finished && run_until(x, drained, &p, lg_now_s() + o->duration_s + LG_DRAIN_S);
    m.sending = false;
    meter_stop(&mt, x);
    uint64_t occupants = m.joined + (m.created == 1);
    uint64_t want = (m.sent - m.bounced) * occupants;
    uint64_t lost = want > m.delivered ? want - m.delivered : 0;
    muc_print(&m, &mt, finished, lost);
    pool_close_all(&p);
    int rc = finished && lost == 0 && m.bounced == 0 && p.dropped == 0 && m.delivered > 0 ? 0 : 1;
    lg_lat_free(&m.lat);
    pool_free(&p);
    return rc;
}

/* loadgen_scen_msg: the msg scenario (bench/README.md): pairs of
 * accounts exchange timestamped chat messages with a bounded window. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen_scen.h"
#include "kernel/err.h"
#include "kernel/mem.h"

/* Sends one timestamped message from slot s to its pair partner. */
static void send_message(struct pool *p, struct slot *s)
{
    struct slot *peer = &p->slots[s->k ^ 1];
    if (s->conn == NULL || peer->conn == NULL)
        return;
    const struct lg_opts *o = p->x->opts;
    int h = snprintf(p->stanza, LG_STANZA_MAX,
                     "<message to='%s' type='chat' id='m%" PRIu64 "'><body>",
                     lg_conn_jid(peer->conn), p->sent);
    if (h < 0 || h > LG_STANZA_MAX - LG_BODY_MAX - 64)
        return; /* a JID too long for the scratch buffer */
    /* The timestamp is the body's start; 'x' pads it to body_bytes. */
    int b = snprintf(p->stanza + h, LG_STANZA_MAX - (size_t)h, "lg %" PRIu64 " ", uv_hrtime());
    size_t len = finish_message(p->stanza, (size_t)h, (size_t)h + (size_t)b, o->body_bytes);
    s->inflight++;
    p->sent++;
    lg_conn_send(s->conn, p->stanza, len);
}

static bool may_send(const struct pool *p)
{
    if (!p->sending)
        return false;
    if (p->sent >= p->count)
        return false;
    return (double)(uv_hrtime() - p->t_msg0) / 1e9 < p->x->opts->duration_s;
}

void msg_on_message(struct pool *p, struct slot *s, const struct lg_el *el)
{
    struct slot *peer = &p->slots[s->k ^ 1];
    const char *type = lg_el_attr(el, "type");
    const struct lg_el *body = lg_el_child(el, "body");
    uint64_t t = 0;
    if (type && strcmp(type, "error") == 0) {
        /* Our own message came back: it was not delivered. */
        p->bounced++;
        peer = s;
    } else if (body && body->text && sscanf(body->text, "lg %" SCNu64, &t) == 1) {
        uint64_t now = uv_hrtime();
        lg_lat_add(&p->msg_lat, now - t);
        p->delivered++;
        p->t_last_rx = now;
    } else {
        return; /* not one of ours */
    }
    if (peer->inflight > 0)
        peer->inflight--;
    if (may_send(p))
        send_message(p, peer);
}



static bool msg_drained(const struct pool *p)
{
    if (may_send(p))
        return false;
    return p->delivered + p->bounced >= p->sent || p->ready - p->dropped < 2 * p->x->opts->pairs;
}

int run_msg(struct lg_ctx *x)
{
    const struct lg_opts *o = x->opts;
    struct pool p;
    struct meter m;
    pool_init(&p, x, LG_GOAL_LOGIN, 2 * o->pairs, true);
    bool finished = pool_run(&p) && p.failed == 0;
    run_for(x, o->settle_s);
    p.count = o->count;
    p.stanza = xmalloc(LG_STANZA_MAX);
    meter_start(&m, x);
    p.t_msg0 = uv_hrtime();
    p.sending = finished;
    for (uint32_t w = 0; w < o->window && finished; w++)
        for (uint32_t i = 0; i < p.total && may_send(&p); i++)
            send_message(&p, &p.slots[i]);
    finished = finished && run_until(x, msg_drained, &p, lg_now_s() + o->duration_s + LG_DRAIN_S);
    p.sending = false;
    meter_stop(&m, x);
    double s = p.t_last_rx > p.t_msg0 ? (double)(p.t_last_rx - p.t_msg0) / 1e9 : 0;
    uint64_t lost = p.sent - p.delivered - p.bounced;
    printf("scenario=msg tls=%s pairs=%" PRIu32 " window=%" PRIu32 " body_bytes=%" PRIu32
           " logins_ok=%" PRIu32 " logins_fail=%" PRIu32 " sent=%" PRIu64 " delivered=%" PRIu64
           " bounced=%" PRIu64 " lost=%" PRIu64 " wall_s=%.2f rate_per_s=%.1f p50_ms=%.3f"
           " p99_ms=%.3f",
           o->tls == LG_DIRECT_TLS ? "direct" : "starttls", o->pairs, o->window, o->body_bytes,
           p.ready, p.failed, p.sent, p.delivered, p.bounced, lost, s,
           s > 0 ? p.delivered / s : 0.0, lg_lat_pct_ms(&p.msg_lat, 50),
           lg_lat_pct_ms(&p.msg_lat, 99));
    meter_print(&m);
    printf("%s\n", finished ? "" : " aborted=1");
    pool_close_all(&p);
    int rc = finished && lost == 0 && p.bounced == 0 && p.dropped == 0 && p.delivered > 0 ? 0 : 1;
    pool_free(&p);
    return rc;
}


/* bus: see bus.h. */
#include "kernel/bus.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel/log.h"
#include "kernel/mem.h"

struct evlist {
    struct event **v;
    size_t n;
    size_t cap;
};

/* An applied event whose effects wait for an earlier decision. */
struct held {
    struct event *ev;
    struct effects fx;
};

struct bus {
    uv_loop_t *loop;
    struct journal *j;
    struct dispatch *d;
    struct bus_ops ops;
    void *arg;
    uv_prepare_t prepare; /* before the loop polls: commit what timers and closes submitted */
    uv_check_t check;     /* right after the poll: commit what socket reads submitted */
    uv_work_t work;
    struct evlist open;     /* appended, not yet sealed */
    struct evlist inflight; /* sealed, being committed */
    struct jbatch *batch;   /* the batch being committed, or NULL */
    int commit_rc;
    int readonly;
    int64_t last_time_us;
    struct buf scratch;
    uint64_t events, batches;
    void (*idle_cb)(void *arg);
    void *idle_arg;
    /* Decisions (FX_EVENT) are journaled after the event that made them,
     * behind events already in flight. Until a decision is durable, the
     * effects of those later events wait here: an answer they carry (a
     * ping result, an ack) must never tell a client that something is
     * safe while the decision about what came before it could still be
     * lost. */
    int executing;        /* inside ops.exec: a submit is a decision */
    uint64_t hold_until;  /* seq of the newest decision not yet applied (0: none) */
    struct held *held;
    size_t nheld, heldcap;
};

static void evlist_push(struct evlist *l, struct event *ev)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = ev;
}

/* Wall-clock time, never going backwards within one run, so events'
 * times are ordered like their sequence numbers. */
static int64_t bus_now_us(struct bus *b)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    if (t < b->last_time_us)
        t = b->last_time_us;
    b->last_time_us = t;
    return t;
}

/* Crypto-erasure (journal/erasure.h): which events carry message content,
 * and whether its key must survive a crash. A message stanza is routed
 * when applied and never delivered again by replay, so its key can live
 * in memory; an offline message waits for its recipient, so its key is
 * durable until the offline-delivered tombstone. */
enum content { CONTENT_NONE, CONTENT_EPHEMERAL, CONTENT_DURABLE };

static enum content content_of(const struct event *ev)
{
    if (ev->type == EV_STANZA && strcmp(ev->body->name, "message") == 0)
        return CONTENT_EPHEMERAL;
    if (ev->type == EV_OFFLINE_STORE)
        return CONTENT_DURABLE;
    return CONTENT_NONE;
}

/* A batch of only volatile events (event_volatile: logins, logouts, IQ
 * gets, availability presence) needs no fsync of its own: a crash undoes
 * or leaves unchanged what they did, and the next batch's fsync makes
 * them durable too. The snapshotter syncs before it writes a state that
 * includes them (journal_sync_to). */
static int all_volatile(const struct evlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        if (!event_volatile(l->v[i]))
            return 0;
    return 1;
}

struct sweep {
    const struct dispatch *d;
    uint64_t upto; /* seqs after this are sealed but not applied yet */
    uint64_t *v;
    size_t n, cap;
};

static void sweep_one(void *arg, uint64_t seq)
{
    struct sweep *w = arg;
    if (seq > w->upto || dispatch_holds(w->d, seq))
        return;
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 16;
        w->v = xrealloc(w->v, w->cap * sizeof *w->v);
    }
    w->v[w->n++] = seq;
}

static size_t erase_released_upto(struct journal *j, const struct dispatch *d, uint64_t upto)
{
    struct sweep w = {.d = d, .upto = upto};
    journal_erasable_each(j, sweep_one, &w);
    size_t erased = 0;
    for (size_t i = 0; i < w.n; i++) {
        int rc = journal_erase(j, w.v[i]);
        if (rc < 0)
            log_error("journal: cannot overwrite the data key of record %llu: %s",
                      (unsigned long long)w.v[i], err_str(rc));
        erased += rc != 0;
    }
    free(w.v);
    return erased;
}

size_t bus_erase_released(struct journal *j, const struct dispatch *d)
{
    return erase_released_upto(j, d, UINT64_MAX);
}

/* After ev is applied: destroy the keys of content nobody holds any more.
 * A tombstone or an account deletion can release content of other events. */
static void erase_after_apply(struct bus *b, const struct event *ev)
{
    if (content_of(ev) != CONTENT_NONE && !dispatch_holds(b->d, ev->seq)) {
        int rc = journal_erase(b->j, ev->seq);
        if (rc < 0)
            log_error("journal: cannot overwrite the data key of record %llu: %s",
                      (unsigned long long)ev->seq, err_str(rc));
    }
    if (ev->type == EV_OFFLINE_DELIVERED || ev->type == EV_ACCOUNT_DELETE)
        erase_released_upto(b->j, b->d, ev->seq);
}

void bus_submit(struct bus *b, struct event *ev)
{
    if (b->readonly) {
        b->ops.refuse(b->arg, ev, -ERR_READONLY);
        event_free(ev);
        return;
    }
    ev->time_us = bus_now_us(b);
    int decision = b->executing;
    buf_reset(&b->scratch);
    event_encode(ev, &b->scratch);
    enum content c = content_of(ev);
    if (c == CONTENT_NONE)
        ev->seq = journal_append(b->j, (uint16_t)ev->type, ev->time_us, b->scratch.p, b->scratch.len);
    else
        ev->seq = journal_append_sealed(b->j, (uint16_t)ev->type, ev->time_us,
                                        c == CONTENT_DURABLE, b->scratch.p, b->scratch.len);
    if (decision && ev->seq > b->hold_until)
        b->hold_until = ev->seq;
    evlist_push(&b->open, ev);
}

static void commit_work_cb(uv_work_t *w)
{
    struct bus *b = w->data;
    b->commit_rc = journal_commit(b->j, b->batch);
}

static void maybe_idle(struct bus *b)
{
    if (bus_idle(b) && b->idle_cb)
        b->idle_cb(b->idle_arg);
}

static void exec(struct bus *b, struct event *ev, struct effects *fx)
{
    b->executing = 1;
    b->ops.exec(b->arg, ev, fx);
    b->executing = 0;
    effects_clear(fx);
    event_free(ev);
}

static void hold(struct bus *b, struct event *ev, struct effects *fx)
{
    if (b->nheld == b->heldcap) {
        b->heldcap = b->heldcap ? b->heldcap * 2 : 64;
        b->held = xrealloc(b->held, b->heldcap * sizeof *b->held);
    }
    b->held[b->nheld].ev = ev;
    b->held[b->nheld].fx = *fx; /* moved */
    b->nheld++;
    effects_init(fx);
}

/* Carries out what waited, in order; it may make decisions of its own,
 * which then hold what comes after. */
static void release_held(struct bus *b)
{
    size_t n = b->nheld;
    struct held *v = b->held;
    b->held = NULL;
    b->nheld = b->heldcap = 0;
    size_t i = 0;
    for (; i < n && !b->hold_until; i++)
        exec(b, v[i].ev, &v[i].fx);
    for (; i < n; i++) /* a decision made above holds the rest */
        hold(b, v[i].ev, &v[i].fx);
    free(v);
}

static void apply_batch(struct bus *b)
{
    struct effects fx;
    effects_init(&fx);
    for (size_t i = 0; i < b->inflight.n; i++) {
        struct event *ev = b->inflight.v[i];
        int rc = dispatch_event(b->d, ev, &fx);
        if (rc)
            log_error("bus: event %llu not applied: %s", (unsigned long long)ev->seq, err_str(rc));
        erase_after_apply(b, ev);
        b->events++;
        if (b->hold_until && ev->seq < b->hold_until) {
            hold(b, ev, &fx);
            continue;
        }
        if (b->hold_until && ev->seq == b->hold_until) {
            b->hold_until = 0;
            release_held(b);
            if (b->hold_until) { /* a released event decided: ev waits too */
                hold(b, ev, &fx);
                continue;
            }
        }
        exec(b, ev, &fx);
    }
}

static void refuse_batch(struct bus *b, int err)
{
    /* A decision that cannot be stored: what waited for it goes out
     * anyway (the journal is read-only from now on, and says so loudly). */
    for (size_t i = 0; b->hold_until && i < b->inflight.n; i++) {
        if (b->inflight.v[i]->seq >= b->hold_until) {
            b->hold_until = 0;
            release_held(b);
        }
    }
    for (size_t i = 0; i < b->inflight.n; i++) {
        b->ops.refuse(b->arg, b->inflight.v[i], err);
        event_free(b->inflight.v[i]);
    }
}

static void start_commit(struct bus *b);

static void commit_done_cb(uv_work_t *w, int status)
{
    struct bus *b = w->data;
    (void)status;
    journal_batch_free(b->batch);
    b->batch = NULL;
    if (b->commit_rc == 0) {
        b->batches++;
        apply_batch(b);
    } else {
        if (!b->readonly)
            log_error("journal: commit failed (%s): refusing every state change until restart",
                      err_str(b->commit_rc));
        b->readonly = 1;
        refuse_batch(b, b->commit_rc);
    }
    b->inflight.n = 0;
    start_commit(b);
    maybe_idle(b);
}

/* Seals the open batch and hands it to a worker, unless one is busy. */
static void start_commit(struct bus *b)
{
    if (b->batch || b->open.n == 0)
        return;
    if (b->readonly) {
        struct evlist t = b->inflight;
        b->inflight = b->open;
        b->open = t;
        refuse_batch(b, -ERR_READONLY);
        b->inflight.n = 0;
        return;
    }
    /* Output first: a decision in this batch (a tombstone) may say that
     * what an applied event wrote to a client was delivered. */
    if (b->ops.flush)
        b->ops.flush(b->arg);
    b->batch = journal_seal(b->j);
    if (all_volatile(&b->open))
        journal_batch_lazy(b->batch); /* logins and logouts only: no fsync */
    struct evlist t = b->inflight; /* swap: the open list becomes in flight */
    b->inflight = b->open;
    b->open = t;
    b->open.n = 0;
    b->work.data = b;
    int rc = uv_queue_work(b->loop, &b->work, commit_work_cb, commit_done_cb);
    if (rc) {
        /* Without a worker, commit here: slower, never wrong. */
        commit_work_cb(&b->work);
        commit_done_cb(&b->work, 0);
    }
}

static void prepare_cb(uv_prepare_t *h) { start_commit(h->data); }
static void check_cb(uv_check_t *h) { start_commit(h->data); }

struct bus *bus_new(uv_loop_t *loop, struct journal *j, struct dispatch *d,
                    const struct bus_ops *ops, void *arg)
{
    struct bus *b = xcalloc(1, sizeof *b);
    b->loop = loop;
    b->j = j;
    b->d = d;
    b->ops = *ops;
    b->arg = arg;
    buf_init(&b->scratch);
    uv_prepare_init(loop, &b->prepare);
    b->prepare.data = b;
    uv_prepare_start(&b->prepare, prepare_cb);
    uv_check_init(loop, &b->check);
    b->check.data = b;
    uv_check_start(&b->check, check_cb);
    return b;
}

void bus_close(struct bus *b)
{
    uv_prepare_stop(&b->prepare);
    uv_close((uv_handle_t *)&b->prepare, NULL);
    uv_check_stop(&b->check);
    uv_close((uv_handle_t *)&b->check, NULL);
}

void bus_free(struct bus *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->open.n; i++)
        event_free(b->open.v[i]);
    free(b->open.v);
    free(b->inflight.v);
    for (size_t i = 0; i < b->nheld; i++) {
        effects_clear(&b->held[i].fx);
        event_free(b->held[i].ev);
    }
    free(b->held);
    buf_free(&b->scratch);
    free(b);
}

int bus_idle(const struct bus *b) { return !b->batch && b->open.n == 0; }
int bus_readonly(const struct bus *b) { return b->readonly; }
uint64_t bus_applied_seq(const struct bus *b) { return dispatch_last_seq(b->d); }

void bus_stats(const struct bus *b, uint64_t *events, uint64_t *batches)
{
    *events = b->events;
    *batches = b->batches;
}

void bus_on_idle(struct bus *b, void (*cb)(void *arg), void *arg)
{
    b->idle_cb = cb;
    b->idle_arg = arg;
}

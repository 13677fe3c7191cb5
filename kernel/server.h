/* server: the process-wide context the kernel's pieces share: the loop,
 * configuration, TLS, journal, dispatcher, bus, router and throttles.
 * There is one per process; its fields are read by kernel code only
 * (handlers see events, never this). */
#ifndef STANZAD_SERVER_H
#define STANZAD_SERVER_H

#include <stdint.h>

#include <uv.h>

#include "kernel/bus.h"
#include "kernel/config.h"
#include "kernel/dispatch.h"
#include "kernel/map.h"
#include "kernel/throttle.h"
#include "kernel/tls.h"
#include "journal/journal.h"

#define STANZAD_VERSION "0.1.0"

/* What a connection id in the router stands for. */
enum endpoint_kind { EP_C2S = 1, EP_CTL = 2 };

struct endpoint {
    enum endpoint_kind kind;
    void *conn; /* struct c2s * or struct ctl_conn * */
};

struct server {
    uv_loop_t *loop;
    struct config cfg;
    struct tls_server *tls;
    struct journal *journal;
    struct dispatch *dispatch;
    struct bus *bus;
    struct map endpoints;    /* connection id -> struct endpoint */
    uint64_t next_conn_id;
    uint64_t c2s_count;      /* open client connections */
    struct throttle auth_fail; /* failed logins per IP */
    struct throttle reg_rate;  /* in-band registrations per IP */
    uint8_t fake_salt_key[32]; /* makes stable fake SCRAM salts for unknown users */
    uv_tcp_t c2s_listener;
    uv_tcp_t c2s_tls_listener;
    uv_pipe_t ctl_listener;
    uv_signal_t sigint, sigterm;
    uv_timer_t trim_timer; /* sweeps idle connections' TLS buffers */
    uv_prepare_t flush_prepare; /* writes the stanzas queued this iteration */
    uint64_t *dirty;            /* ids of connections with queued stanzas */
    size_t ndirty, dirtycap;
    int64_t started_us;
    int stopping;
    int lock_fd;
    uint8_t master_key[JOURNAL_KEY_LEN]; /* seals journal and snapshots; never written out by us */
    struct snapshotter *snap;            /* kernel/snapshotter.c */
};

/* Allocates a connection id and registers conn under it. */
uint64_t server_endpoint_add(struct server *s, enum endpoint_kind kind, void *conn);
void server_endpoint_del(struct server *s, uint64_t id);
struct endpoint *server_endpoint(struct server *s, uint64_t id);

/* The router: carries out one event's effects (bus_ops.exec), and tells an
 * origin its event was refused (bus_ops.refuse). See kernel/router.c. */
void router_exec(void *server, const struct event *ev, struct effects *fx);
void router_refuse(void *server, const struct event *ev, int err);

/* Starts and runs the server until it is stopped; returns the exit code. */
int server_run(struct config *cfg);

#endif

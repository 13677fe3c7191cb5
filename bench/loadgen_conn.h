/* loadgen_conn: the inside of one generator connection, shared by
 * loadgen_conn.c (socket, TLS pipe, lifetime) and loadgen_xmpp.c (what
 * the server says and what to answer). Nothing else includes this. */
#ifndef STANZAD_BENCH_LOADGEN_CONN_H
#define STANZAD_BENCH_LOADGEN_CONN_H

#include "bench/loadgen.h"
#include "kernel/buf.h"

/* Where a connection is in its login; names in state_names[]. */
enum lg_state {
    ST_TCP,
    ST_PLAIN_FEATURES,
    ST_STARTTLS,
    ST_HANDSHAKE,
    ST_FEATURES,
    ST_SASL_FIRST,
    ST_SASL_FINAL,
    ST_BOUND_FEATURES,
    ST_BIND,
    ST_SESSION,
    ST_REG_GET,
    ST_REG_SET,
    ST_READY,
    ST_CLOSING,
};


struct lg_conn {
    uv_tcp_t tcp;           /* data points back here */
    uv_timer_t defer;       /* reports a socket that could not be made */
    uv_connect_t creq;
    uv_shutdown_t shut;
    struct lg_ctx *ctx;
    struct lg_account *acct;
    const struct lg_conn_ops *ops;
    void *user;
    struct lg_conn *prev, *next;
    enum lg_goal goal;
    enum lg_state st;
    bool tcp_made;          /* tcp is an initialised handle */
    bool dead;              /* uv_close called */
    bool tls_up;
    bool resumed;
    bool session_needed;
    bool stream_open;       /* our stream header was sent */
    bool sig_checked;       /* SCRAM server signature came as a challenge */
    mbedtls_ssl_context *ssl;
    const uint8_t *in_p;    /* ciphertext mbedTLS reads: socket bytes... */
    size_t in_n, in_off;
    struct buf rx;          /* ...or what was left over from them */
    struct buf tx;          /* ciphertext (or plain text) to write */
    struct lg_xml *xml;
    enum scram_hash mech;
    char *first_bare;
    uint8_t server_sig[SCRAM_KEY_MAX];
    char *jid;
    char resource[24];
    uint64_t t_start, t_ready, deadline_ms;
    int err;
    char why[160];
};

/* Ends the connection with an error: closed_cb gets err and the text
 * ("<state>: <fmt>"). Does nothing on a dead connection; in ST_CLOSING it
 * is a clean end (the server went first). */
void lgc_fail(struct lg_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Sends bytes, through TLS once it is up; s is copied. */
void lgc_send_raw(struct lg_conn *c, const char *s, size_t n);
void lgc_send_fmt(struct lg_conn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void lgc_send_stream_header(struct lg_conn *c);
/* The goal is reached: presence if asked, then ready_cb. */
void lgc_ready(struct lg_conn *c);
/* After <proceed/>: starts the TLS handshake. */
void lgc_tls_begin(struct lg_conn *c);
/* The server ended its stream or TCP (expected after our stream end). */
void lgc_peer_ended(struct lg_conn *c, int err, const char *what);

/* loadgen_xmpp.c: one complete top-level element from the server, owned
 * by the XML reader (freed after the call). arg is the connection. */
void lgc_on_element(void *arg, struct lg_el *el);

#endif

/* c2s: one client connection (RFC 6120): TCP through libuv, TLS (STARTTLS
 * or direct, XEP-0368), the XML stream, SASL, in-band registration and
 * resource binding; after binding, each stanza is checked, stamped with
 * the sender's full JID and submitted to the bus as an EV_STANZA event.
 *
 * Where things are:
 *   c2s.c           accept, read/write, TLS pipe, stream header, features,
 *                   top-level elements, stanza checks, bind, close
 *   c2s_sasl.c      SASL SCRAM-SHA-256, SCRAM-SHA-1, PLAIN (RFC 6120 §6)
 *   c2s_register.c  in-band registration (XEP-0077) and password changes */
#ifndef STANZAD_C2S_H
#define STANZAD_C2S_H

#include <stdint.h>

#include <uv.h>

#include "kernel/jid.h"
#include "kernel/scram.h"
#include "kernel/server.h"
#include "kernel/xml.h"

#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_STREAM_ERRORS "urn:ietf:params:xml:ns:xmpp-streams"
#define NS_STANZA_ERRORS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define NS_FEATURE_REGISTER "http://jabber.org/features/iq-register"
#define NS_SESSION_FEATURE "urn:ietf:params:xml:ns:xmpp-session"

/* Ciphertext or plaintext waiting for the socket; past it the client is
 * not reading and is disconnected (resource-constraint). */
#define C2S_OUTBUF_MAX (4u << 20)
/* How long a closing stream may take to flush its last bytes. */
#define C2S_LINGER_MS 5000
/* SASL failures on one stream before it is closed (RFC 6120 §6.4.5
 * allows a reasonable number of retries). */
#define C2S_SASL_TRIES_MAX 3

enum c2s_sasl_state { SASL_NONE, SASL_SCRAM_FIRST_SENT, SASL_BUSY };

/* What only a stream that is still logging in needs: allocated at
 * accept, freed once authenticated, so an idle session does not carry it
 * (doc/performance.md, "Idle memory"). */
struct c2s_login {
    enum c2s_sasl_state sasl;
    int sasl_failures;
    int sasl_unknown_user;     /* the SCRAM exchange runs on fake credentials */
    struct scram_server scram;
};

struct c2s {
    struct server *srv;
    uint64_t id;
    uv_tcp_t tcp;
    /* Login timeout, then the release of what arrived during bind, then
     * the linger of a closing stream; NULL (closed) while a bound session
     * is open: a bound session needs no timer until it closes. Owned. */
    uv_timer_t *timer;
    struct c2s_login *login;   /* NULL once authenticated; owned */
    struct tls_conn *tls;      /* NULL until STARTTLS or on a direct-TLS port */
    int tls_restart;           /* STARTTLS done: reset the parser at the first plaintext */
    struct xml_stream *xs;
    char ip[64];
    int header_sent;           /* our <stream:stream> went out */
    int authenticated;
    char *user;                /* bare JID once authenticated, else NULL; owned */
    int binding;               /* bind submitted, waiting for FX_BIND */
    char *full;                /* full JID asked for or bound, else NULL; owned */
    size_t out_pending;        /* bytes handed to uv_write, not yet written */
    int closing;               /* no more input; closes once output drains */
    int torn_down;             /* handles closed (c2s_teardown ran) */
    int handles_open;          /* tcp and timer not yet closed */
    int bound;                 /* full holds the bound JID */
    int active;                /* read or wrote since the last idle sweep */
    int trimmed;               /* TLS record buffers returned to the OS */
    struct c2s_held *held;     /* input that arrived while binding */
    /* What is sent to this connection during one loop iteration waits
     * here and leave together (one TLS write, one socket write) when the
     * server flushes before it polls again (c2s_flush_queued). */
    struct buf outq;
    int queued;                /* on the server's list of connections to flush */
};

/* Returns the TLS record buffers' pages of every connection that was
 * idle since the last call (see doc/performance.md). Called by a timer. */
void c2s_trim_idle(struct server *s);

/* Writes out what was queued on every connection; called
 * once per loop iteration, before the loop polls. */
void c2s_flush_queued(struct server *s);

/* Starts listening on the configured client ports. Returns 0 or a
 * negative code (logged). */
int c2s_listen(struct server *s);

/* Effects and kernel actions on a connection. Stanzas and raw output
 * (stream headers, SASL, errors) are queued in order, and all that a
 * connection got in one loop iteration leaves as one TLS record and one
 * socket write; STARTTLS and c2s_close flush at once. Nothing is sent
 * once the stream is closing. */
void c2s_send_stanza(struct c2s *c, const struct xnode *stanza);
void c2s_send_raw(struct c2s *c, const char *p, size_t n);
/* Sends a stream error (if cond is not STREAM_OK_) and closes the stream. */
void c2s_close(struct c2s *c, enum stream_err cond, const char *text);
void c2s_bound(struct c2s *c, const char *full_jid /* NULL: refused */);
/* The login succeeded: new stream expected. */
void c2s_authenticated(struct c2s *c, const char *bare);
/* Sends an error reply to a stanza the kernel refuses itself. */
void c2s_stanza_error(struct c2s *c, const struct xnode *req, enum stanza_err cond,
                      const char *text);

/* libuv callbacks, for code that pauses and resumes reading. */
void c2s_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b);
void c2s_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b);

/* c2s_sasl.c */
void c2s_sasl_element(struct c2s *c, struct xnode *el);
/* c2s_register.c: returns 1 if the IQ was an in-band registration
 * request and has been taken care of. */
int c2s_register_iq(struct c2s *c, struct xnode *iq);
/* 1 when this client may register in-band (policy and rate limit). */
int c2s_register_allowed(const struct c2s *c);

/* The bus's wall clock for kernel decisions (throttles). */
int64_t c2s_now_us(void);

#endif

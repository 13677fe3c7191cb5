/* test_tls: kernel/tls.c and kernel/tls_cert.c against a real mbedTLS
 * client, both ends driven in memory by shuttling bytes between them.
 *
 * One self-signed certificate for example.org is made in a temp dir
 * before the tests run (it is also what the certificate tests inspect);
 * the client trusts exactly that certificate. */
#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "kernel/buf.h"
#include "kernel/err.h"
#include "kernel/tls.h"

#define DOMAIN "example.org"
/* Rounds of shuttling before pump() gives up: a handshake needs ~4. */
#define PUMP_ROUNDS_MAX 64
#define BIG_LEN (100 * 1024)
#define TICKET_LIFETIME_S 3600

static char g_dir[64];
static char g_cert[128];
static char g_key[128];

/* ------------------------------------------------------------------ */
/* an mbedTLS client on memory buffers                                  */

struct client {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt ca;
    mbedtls_ssl_context ssl;
    struct buf in; /* ciphertext from the server; in.p[0..in_off) consumed */
    size_t in_off;
    struct buf out;   /* ciphertext to the server */
    struct buf plain; /* plaintext received */
    int err;          /* first fatal mbedTLS error */
    int closed;       /* the server sent close_notify */
};

static int test_rng(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    rng_bytes(out, n);
    return 0;
}

static int cli_send(void *ctx, const unsigned char *p, size_t n)
{
    struct client *cl = ctx;
    buf_put(&cl->out, p, n);
    return (int)n;
}

static int cli_recv(void *ctx, unsigned char *p, size_t n)
{
    struct client *cl = ctx;
    size_t avail = cl->in.len - cl->in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (n > avail)
        n = avail;
    memcpy(p, cl->in.p + cl->in_off, n);
    cl->in_off += n;
    return (int)n;
}

static const char *cli_alpn[] = {"xmpp-client", NULL};

/* hostname NULL: no verification at all. */
static void client_init(struct client *cl, const char *hostname, int alpn)
{
    memset(cl, 0, sizeof *cl);
    mbedtls_ssl_config_init(&cl->conf);
    mbedtls_x509_crt_init(&cl->ca);
    mbedtls_ssl_init(&cl->ssl);
    ck_assert_int_eq(mbedtls_ssl_config_defaults(&cl->conf, MBEDTLS_SSL_IS_CLIENT,
                                                 MBEDTLS_SSL_TRANSPORT_STREAM,
                                                 MBEDTLS_SSL_PRESET_DEFAULT),
                     0);
    mbedtls_ssl_conf_rng(&cl->conf, test_rng, NULL);
    if (hostname != NULL) {
        ck_assert_int_eq(mbedtls_x509_crt_parse_file(&cl->ca, g_cert), 0);
        mbedtls_ssl_conf_ca_chain(&cl->conf, &cl->ca, NULL);
        mbedtls_ssl_conf_authmode(&cl->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
    } else {
        mbedtls_ssl_conf_authmode(&cl->conf, MBEDTLS_SSL_VERIFY_NONE);
    }
    if (alpn)
        ck_assert_int_eq(mbedtls_ssl_conf_alpn_protocols(&cl->conf, cli_alpn), 0);
    ck_assert_int_eq(mbedtls_ssl_setup(&cl->ssl, &cl->conf), 0);
    if (hostname != NULL)
        ck_assert_int_eq(mbedtls_ssl_set_hostname(&cl->ssl, hostname), 0);
    mbedtls_ssl_set_bio(&cl->ssl, cl, cli_send, cli_recv, NULL);
}

static void client_free(struct client *cl)
{
    mbedtls_ssl_free(&cl->ssl);
    mbedtls_ssl_config_free(&cl->conf);
    mbedtls_x509_crt_free(&cl->ca);
    buf_free(&cl->in);
    buf_free(&cl->out);
    buf_free(&cl->plain);
}

static int want(int rc)
{
    return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* Advances the handshake, then takes in whatever plaintext arrived. */
static void client_step(struct client *cl)
{
    if (cl->err || cl->closed)
        return;
    if (cl->ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
        int rc = mbedtls_ssl_handshake(&cl->ssl);
        if (rc != 0 && !want(rc))
            cl->err = rc;
        if (rc != 0)
            return;
    }
    for (;;) {
        uint8_t tmp[4096];
        int rc = mbedtls_ssl_read(&cl->ssl, tmp, sizeof tmp);
        if (rc > 0) {
            buf_put(&cl->plain, tmp, (size_t)rc);
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            cl->closed = 1;
        else if (rc != 0 && !want(rc))
            cl->err = rc;
        return;
    }
}

static void client_write(struct client *cl, const uint8_t *p, size_t n)
{
    while (n > 0) {
        int rc = mbedtls_ssl_write(&cl->ssl, p, n);
        ck_assert_int_gt(rc, 0);
        p += rc;
        n -= (size_t)rc;
    }
}

/* ------------------------------------------------------------------ */
/* a server tls_conn and a client, joined by pump()                     */

struct pair {
    struct tls_conn *s;
    struct buf s_plain; /* plaintext the server read */
    int s_rc;           /* the server's last non-positive tls_conn_read */
    size_t s_cap;       /* how much the server asks for per read */
    struct client cl;
};

/* Seconds spent inside tls_conn_* by pump(), for the handshake rate. */
static double g_server_s;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pair_open(struct pair *pr, struct tls_server *srv, const char *hostname, int alpn)
{
    memset(pr, 0, sizeof *pr);
    pr->s = tls_conn_new(srv);
    ck_assert_ptr_nonnull(pr->s);
    pr->s_cap = 4096;
    client_init(&pr->cl, hostname, alpn);
}

static void pair_close(struct pair *pr)
{
    tls_conn_free(pr->s);
    buf_free(&pr->s_plain);
    client_free(&pr->cl);
}

/* The server side of one round: feed, read until 0 or an error, send. */
static int server_round(struct pair *pr)
{
    int moved = 0;
    double t0 = now_s();
    if (pr->cl.out.len > 0) {
        tls_conn_feed(pr->s, pr->cl.out.p, pr->cl.out.len);
        buf_reset(&pr->cl.out);
        moved = 1;
    }
    uint8_t *tmp = malloc(pr->s_cap);
    int rc;
    while ((rc = tls_conn_read(pr->s, tmp, pr->s_cap)) > 0)
        buf_put(&pr->s_plain, tmp, (size_t)rc);
    free(tmp);
    pr->s_rc = rc;
    struct buf *o = tls_conn_pending_out(pr->s);
    if (o->len > 0) {
        buf_put(&pr->cl.in, o->p, o->len);
        buf_reset(o);
        moved = 1;
    }
    g_server_s += now_s() - t0;
    return moved;
}

/* Shuttles bytes both ways until neither side has anything to say. */
static void pump(struct pair *pr)
{
    for (int round = 0; round < PUMP_ROUNDS_MAX; round++) {
        size_t consumed = pr->cl.in_off;
        client_step(&pr->cl);
        int moved = pr->cl.in_off != consumed;
        moved |= server_round(pr);
        if (!moved)
            return;
    }
    ck_abort_msg("pump: no quiet point after %d rounds", PUMP_ROUNDS_MAX);
}

static struct tls_server *server_new_signing(uint32_t ticket_lifetime_s, int mbedtls_signs)
{
    struct tls_server_opts o = {.cert_path = g_cert,
                                .key_path = g_key,
                                .ticket_lifetime_s = ticket_lifetime_s,
                                .mbedtls_signs = mbedtls_signs};
    char err[256];
    struct tls_server *s = NULL;
    int rc = tls_server_new(&s, &o, err, sizeof err);
    ck_assert_msg(rc == 0, "tls_server_new: %s", err);
    return s;
}

static struct tls_server *server_new(uint32_t ticket_lifetime_s)
{
    return server_new_signing(ticket_lifetime_s, 0);
}

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 131 + seed) ^ (i >> 8));
}

/* Sends n patterned bytes each way and checks both sides got them. */
static void exchange(struct pair *pr, size_t n, unsigned seed)
{
    uint8_t *msg = malloc(n);
    fill_pattern(msg, n, seed);
    buf_reset(&pr->s_plain);
    client_write(&pr->cl, msg, n);
    pump(pr);
    ck_assert_int_eq(pr->s_rc, 0);
    ck_assert_uint_eq(pr->s_plain.len, n);
    ck_assert_mem_eq(pr->s_plain.p, msg, n);

    fill_pattern(msg, n, seed + 1);
    buf_reset(&pr->cl.plain);
    ck_assert_int_eq(tls_conn_write(pr->s, msg, n), 0);
    pump(pr);
    ck_assert_int_eq(pr->cl.err, 0);
    ck_assert_uint_eq(pr->cl.plain.len, n);
    ck_assert_mem_eq(pr->cl.plain.p, msg, n);
    free(msg);
}

/* ------------------------------------------------------------------ */
/* handshake and data                                                   */

START_TEST(test_handshake_verifies_and_exchanges_100k_both_ways)
{
    struct tls_server *srv = server_new(TICKET_LIFETIME_S);
    struct pair pr;
    pair_open(&pr, srv, DOMAIN, 1);
    ck_assert_int_eq(tls_conn_established(pr.s), 0);
    pump(&pr);
    ck_assert_int_eq(pr.cl.err, 0);
    ck_assert_int_eq(pr.s_rc, 0);
    ck_assert_int_eq(tls_conn_established(pr.s), 1);
    ck_assert_int_eq(tls_conn_resumed(pr.s), 0);
    ck_assert_uint_eq(mbedtls_ssl_get_verify_result(&pr.cl.ssl), 0);
    ck_assert_str_eq(mbedtls_ssl_get_version(&pr.cl.ssl), "TLSv1.2");
    /* The server's first preference, though the client lists others first. */
    ck_assert_str_eq(mbedtls_ssl_get_ciphersuite(&pr.cl.ssl),
                     "TLS-ECDHE-ECDSA-WITH-AES-128-GCM-SHA256");
    ck_assert_str_eq(mbedtls_ssl_get_alpn_protocol(&pr.cl.ssl), "xmpp-client");
    exchange(&pr, 5, 1);
    exchange(&pr, BIG_LEN, 2);
    exchange(&pr, 1, 3);
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

/* Both signers make a ServerKeyExchange signature the client verifies
 * (mbedTLS's client always checks it against the certificate). */
START_TEST(test_either_signer_handshakes)
{
    for (int mbedtls_signs = 0; mbedtls_signs <= 1; mbedtls_signs++) {
        struct tls_server *srv = server_new_signing(TICKET_LIFETIME_S, mbedtls_signs);
        ck_assert_str_eq(tls_server_signer(srv), mbedtls_signs ? "mbedTLS (as configured)"
                                                               : "libcrypto");
        for (int i = 0; i < 3; i++) {
            struct pair pr;
            pair_open(&pr, srv, DOMAIN, 1);
            pump(&pr);
            ck_assert_int_eq(pr.cl.err, 0);
            ck_assert_int_eq(tls_conn_established(pr.s), 1);
            exchange(&pr, 5, 1);
            pair_close(&pr);
        }
        tls_server_free(srv);
    }
}
END_TEST

START_TEST(test_client_without_alpn_still_connects)
{
    struct tls_server *srv = server_new(TICKET_LIFETIME_S);
    struct pair pr;
    pair_open(&pr, srv, NULL, 0);
    pump(&pr);
    ck_assert_int_eq(pr.cl.err, 0);
    ck_assert_int_eq(tls_conn_established(pr.s), 1);
    ck_assert_ptr_null(mbedtls_ssl_get_alpn_protocol(&pr.cl.ssl));
    exchange(&pr, 300, 4);
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

START_TEST(test_wildcard_san_covers_subdomain_not_other_domain)
{
    struct tls_server *srv = server_new(0);
    struct pair ok, bad;
    pair_open(&ok, srv, "conference." DOMAIN, 1);
    pump(&ok);
    ck_assert_int_eq(ok.cl.err, 0);
    ck_assert_int_eq(tls_conn_established(ok.s), 1);
    pair_open(&bad, srv, "example.com", 1);
    pump(&bad);
    ck_assert_int_eq(bad.cl.err, MBEDTLS_ERR_X509_CERT_VERIFY_FAILED);
    ck_assert_uint_eq(mbedtls_ssl_get_verify_result(&bad.cl.ssl) & MBEDTLS_X509_BADCERT_CN_MISMATCH,
                      MBEDTLS_X509_BADCERT_CN_MISMATCH);
    pair_close(&ok);
    pair_close(&bad);
    tls_server_free(srv);
}
END_TEST

/* Several records arrive in one feed and the reader asks for 7 bytes at
 * a time: what mbedTLS decrypted but did not hand out must come later. */
START_TEST(test_buffered_plaintext_survives_small_reads)
{
    struct tls_server *srv = server_new(0);
    struct pair pr;
    pair_open(&pr, srv, DOMAIN, 1);
    pump(&pr);
    ck_assert_int_eq(tls_conn_established(pr.s), 1);
    uint8_t msg[3 * 5000];
    fill_pattern(msg, sizeof msg, 5);
    for (int i = 0; i < 3; i++)
        client_write(&pr.cl, msg + i * 5000, 5000);
    pr.s_cap = 7;
    pump(&pr);
    ck_assert_int_eq(pr.s_rc, 0);
    ck_assert_uint_eq(pr.s_plain.len, sizeof msg);
    ck_assert_mem_eq(pr.s_plain.p, msg, sizeof msg);
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

/* A record cut anywhere is completed by the next feed. */
START_TEST(test_record_split_across_feeds_is_reassembled)
{
    struct tls_server *srv = server_new(0);
    struct pair pr;
    pair_open(&pr, srv, DOMAIN, 1);
    pump(&pr);
    uint8_t msg[2000];
    fill_pattern(msg, sizeof msg, 6);
    client_write(&pr.cl, msg, sizeof msg);
    struct buf wire = pr.cl.out;
    buf_init(&pr.cl.out);
    uint8_t got[sizeof msg + 1]; /* room left: tls_conn_read wants cap > 0 */
    size_t have = 0;
    for (size_t i = 0; i < wire.len; i++) {
        tls_conn_feed(pr.s, wire.p + i, 1);
        int rc;
        while ((rc = tls_conn_read(pr.s, got + have, sizeof got - have)) > 0)
            have += (size_t)rc;
        ck_assert_int_eq(rc, 0);
        if (i + 1 < wire.len)
            ck_assert_uint_eq(have, 0);
    }
    ck_assert_uint_eq(have, sizeof msg);
    ck_assert_mem_eq(got, msg, sizeof msg);
    buf_free(&wire);
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

START_TEST(test_close_notify_both_directions)
{
    struct tls_server *srv = server_new(0);
    struct pair a, b;
    pair_open(&a, srv, DOMAIN, 1);
    pump(&a);
    ck_assert_int_eq(mbedtls_ssl_close_notify(&a.cl.ssl), 0);
    pump(&a);
    ck_assert_int_eq(a.s_rc, -ERR_CLOSED);
    uint8_t tmp[16];
    ck_assert_int_eq(tls_conn_read(a.s, tmp, sizeof tmp), -ERR_CLOSED);
    ck_assert_int_eq(tls_conn_write(a.s, tmp, 1), -ERR_TLS);
    /* The server may still answer with its own close_notify. */
    tls_conn_close_notify(a.s);
    ck_assert_uint_gt(tls_conn_pending_out(a.s)->len, 0);

    pair_open(&b, srv, DOMAIN, 1);
    pump(&b);
    tls_conn_close_notify(b.s);
    ck_assert_uint_gt(tls_conn_pending_out(b.s)->len, 0);
    pump(&b);
    ck_assert_int_eq(b.cl.closed, 1);
    ck_assert_int_eq(b.cl.err, 0);
    pair_close(&a);
    pair_close(&b);
    tls_server_free(srv);
}
END_TEST

/* ------------------------------------------------------------------ */
/* resumption                                                           */

/* Connects, takes the client's session, then connects again with it. */
static int second_connection_resumed(uint32_t ticket_lifetime_s)
{
    struct tls_server *srv = server_new(ticket_lifetime_s);
    struct pair first, second;
    pair_open(&first, srv, DOMAIN, 1);
    pump(&first);
    ck_assert_int_eq(tls_conn_established(first.s), 1);
    ck_assert_int_eq(tls_conn_resumed(first.s), 0);
    mbedtls_ssl_session sess;
    mbedtls_ssl_session_init(&sess);
    ck_assert_int_eq(mbedtls_ssl_get_session(&first.cl.ssl, &sess), 0);
    if (ticket_lifetime_s > 0)
        ck_assert_uint_gt(sess.ticket_len, 0);

    pair_open(&second, srv, DOMAIN, 1);
    ck_assert_int_eq(mbedtls_ssl_set_session(&second.cl.ssl, &sess), 0);
    pump(&second);
    ck_assert_int_eq(second.cl.err, 0);
    ck_assert_int_eq(tls_conn_established(second.s), 1);
    exchange(&second, 1000, 7);
    int resumed = tls_conn_resumed(second.s);
    mbedtls_ssl_session_free(&sess);
    pair_close(&first);
    pair_close(&second);
    tls_server_free(srv);
    return resumed;
}

START_TEST(test_ticket_resumes_second_connection)
{
    ck_assert_int_eq(second_connection_resumed(TICKET_LIFETIME_S), 1);
}
END_TEST

START_TEST(test_lifetime_zero_disables_tickets)
{
    ck_assert_int_eq(second_connection_resumed(0), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* failures                                                             */

START_TEST(test_garbage_before_handshake_is_fatal)
{
    struct tls_server *srv = server_new(0);
    struct tls_conn *c = tls_conn_new(srv);
    static const char http[] = "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n";
    tls_conn_feed(c, (const uint8_t *)http, sizeof http - 1);
    uint8_t tmp[64];
    ck_assert_int_eq(tls_conn_read(c, tmp, sizeof tmp), -ERR_TLS);
    ck_assert_int_eq(tls_conn_read(c, tmp, sizeof tmp), -ERR_TLS);
    ck_assert_int_eq(tls_conn_established(c), 0);
    ck_assert_int_eq(tls_conn_write(c, tmp, 1), -ERR_TLS);
    tls_conn_free(c);
    tls_server_free(srv);
}
END_TEST

/* A forged application-data record fails authentication and the server
 * answers with a fatal alert before giving up. */
START_TEST(test_forged_record_after_handshake_is_fatal)
{
    struct tls_server *srv = server_new(0);
    struct pair pr;
    pair_open(&pr, srv, DOMAIN, 1);
    pump(&pr);
    ck_assert_int_eq(tls_conn_established(pr.s), 1);
    uint8_t rec[5 + 40] = {0x17, 0x03, 0x03, 0x00, 40};
    rng_bytes(rec + 5, 40);
    tls_conn_feed(pr.s, rec, sizeof rec);
    uint8_t tmp[64];
    ck_assert_int_eq(tls_conn_read(pr.s, tmp, sizeof tmp), -ERR_TLS);
    struct buf *o = tls_conn_pending_out(pr.s);
    ck_assert_uint_gt(o->len, 0);
    ck_assert_uint_eq(o->p[0], 0x15); /* alert record */
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

static void expect_load_error(const char *cert, const char *key, int code, const char *needle1,
                              const char *needle2)
{
    struct tls_server_opts o = {.cert_path = cert, .key_path = key};
    char err[256];
    struct tls_server *s = (struct tls_server *)&o; /* must be reset to NULL */
    int rc = tls_server_new(&s, &o, err, sizeof err);
    ck_assert_int_eq(rc, code);
    ck_assert_ptr_null(s);
    ck_assert_msg(strstr(err, needle1) != NULL, "'%s' lacks '%s'", err, needle1);
    ck_assert_msg(strstr(err, needle2) != NULL, "'%s' lacks '%s'", err, needle2);
    ck_assert_ptr_null(strchr(err, '\n'));
}

START_TEST(test_bad_cert_or_key_gives_one_line_reason)
{
    char missing[160], junk[160], cert2[160], key2[160];
    snprintf(missing, sizeof missing, "%s/nope.pem", g_dir);
    snprintf(junk, sizeof junk, "%s/junk.pem", g_dir);
    snprintf(cert2, sizeof cert2, "%s/other/cert.pem", g_dir);
    snprintf(key2, sizeof key2, "%s/other/key.pem", g_dir);
    write_file(junk, "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n");
    expect_load_error(missing, g_key, -ENOENT, missing, "No such file");
    expect_load_error(g_cert, missing, -ENOENT, missing, "No such file");
    expect_load_error(junk, g_key, -ERR_CONFIG, junk, "PEM");
    expect_load_error(g_cert, junk, -ERR_CONFIG, junk, "PK");
    int made = 0;
    ck_assert_int_eq(tls_make_selfsigned(cert2, key2, DOMAIN, &made), 0);
    ck_assert_int_eq(made, 1);
    expect_load_error(g_cert, key2, -ERR_CONFIG, key2, "does not match");
}
END_TEST

/* ------------------------------------------------------------------ */
/* trim                                                                 */

START_TEST(test_trim_releases_buffer_pages_and_conn_still_works)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    struct tls_server *srv = server_new(0);
    struct pair pr;
    pair_open(&pr, srv, DOMAIN, 1);
    pump(&pr);
    exchange(&pr, BIG_LEN, 8); /* full records touch every page of both */
    size_t before = tls_conn_resident(pr.s);
    ck_assert_uint_ge(before, 8 * page);
    tls_conn_trim(pr.s);
    size_t after = tls_conn_resident(pr.s);
    printf("test_tls: record buffers resident after 100 KB each way: %zu KiB; "
           "after trim: %zu KiB\n",
           before / 1024, after / 1024);
    /* The buffers are whole pages of their own (kernel/tls.c): none stays. */
    ck_assert_uint_eq(after, 0);
    exchange(&pr, 10, 9);
    exchange(&pr, BIG_LEN, 10);
    tls_conn_trim(pr.s);
    ck_assert_uint_eq(tls_conn_resident(pr.s), 0);
    exchange(&pr, 3000, 11);
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

/* Two trims in a row, then traffic both ways: the second trim must not
 * save the zeros the first left where mbedTLS keeps the incoming record
 * counter (in_ctr, restored before the next call into mbedTLS), or the
 * next record would fail to decrypt. And trims between small records. */
START_TEST(test_trim_twice_keeps_the_record_counter)
{
    struct tls_server *srv = server_new(0);
    struct pair pr;
    pair_open(&pr, srv, DOMAIN, 1);
    pump(&pr);
    exchange(&pr, BIG_LEN, 14);
    tls_conn_trim(pr.s);
    tls_conn_trim(pr.s);
    ck_assert_uint_eq(tls_conn_resident(pr.s), 0);
    exchange(&pr, BIG_LEN, 15);
    for (int i = 0; i < 5; i++) {
        tls_conn_trim(pr.s);
        exchange(&pr, 100, (uint8_t)(16 + i));
    }
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

/* Half a record sits in mbedTLS's input buffer: trim must leave it. */
START_TEST(test_trim_keeps_partial_record)
{
    struct tls_server *srv = server_new(0);
    struct pair pr;
    pair_open(&pr, srv, DOMAIN, 1);
    pump(&pr);
    uint8_t msg[16000], got[16001]; /* room left: cap > 0 */
    fill_pattern(msg, sizeof msg, 12);
    client_write(&pr.cl, msg, sizeof msg);
    size_t cut = pr.cl.out.len / 2;
    tls_conn_feed(pr.s, pr.cl.out.p, cut);
    ck_assert_int_eq(tls_conn_read(pr.s, got, sizeof got), 0);
    tls_conn_trim(pr.s);
    tls_conn_feed(pr.s, pr.cl.out.p + cut, pr.cl.out.len - cut);
    buf_reset(&pr.cl.out);
    size_t have = 0;
    int rc;
    while ((rc = tls_conn_read(pr.s, got + have, sizeof got - have)) > 0)
        have += (size_t)rc;
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(have, sizeof msg);
    ck_assert_mem_eq(got, msg, sizeof msg);
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

/* Decrypted plaintext not yet read lives in the input buffer: trim must
 * leave it too. */
START_TEST(test_trim_keeps_unread_plaintext)
{
    struct tls_server *srv = server_new(0);
    struct pair pr;
    pair_open(&pr, srv, DOMAIN, 1);
    pump(&pr);
    uint8_t msg[16000], got[16001]; /* room left: cap > 0 */
    fill_pattern(msg, sizeof msg, 13);
    client_write(&pr.cl, msg, sizeof msg);
    tls_conn_feed(pr.s, pr.cl.out.p, pr.cl.out.len);
    buf_reset(&pr.cl.out);
    ck_assert_int_eq(tls_conn_read(pr.s, got, 100), 100);
    tls_conn_trim(pr.s);
    size_t have = 100;
    int rc;
    while ((rc = tls_conn_read(pr.s, got + have, sizeof got - have)) > 0)
        have += (size_t)rc;
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(have, sizeof msg);
    ck_assert_mem_eq(got, msg, sizeof msg);
    pair_close(&pr);
    tls_server_free(srv);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the self-signed certificate                                          */

START_TEST(test_selfsigned_files_modes_and_idempotence)
{
    struct stat st;
    ck_assert_int_eq(stat(g_key, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0600);
    ck_assert_int_eq(stat(g_cert, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0644);
    char dir[160];
    snprintf(dir, sizeof dir, "%s/conf/tls", g_dir);
    ck_assert_int_eq(stat(dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 07777, 0700);

    struct stat before, after;
    ck_assert_int_eq(stat(g_cert, &before), 0);
    int made = -1;
    ck_assert_int_eq(tls_make_selfsigned(g_cert, g_key, DOMAIN, &made), 0);
    ck_assert_int_eq(made, 0);
    ck_assert_int_eq(stat(g_cert, &after), 0);
    ck_assert_uint_eq(before.st_ino, after.st_ino);
}
END_TEST

START_TEST(test_selfsigned_remade_when_key_missing)
{
    char cert[160], key[160];
    snprintf(cert, sizeof cert, "%s/remake/cert.pem", g_dir);
    snprintf(key, sizeof key, "%s/remake/key.pem", g_dir);
    int made = 0;
    ck_assert_int_eq(tls_make_selfsigned(cert, key, DOMAIN, &made), 0);
    ck_assert_int_eq(made, 1);
    ck_assert_int_eq(unlink(key), 0);
    ck_assert_int_eq(tls_make_selfsigned(cert, key, DOMAIN, &made), 0);
    ck_assert_int_eq(made, 1);
    /* And the new pair matches. */
    struct tls_server_opts o = {.cert_path = cert, .key_path = key};
    char err[256];
    struct tls_server *s;
    ck_assert_msg(tls_server_new(&s, &o, err, sizeof err) == 0, "%s", err);
    tls_server_free(s);
}
END_TEST

START_TEST(test_selfsigned_rejects_bad_domain)
{
    static const char *bad[] = {"", "a,b.org", "CN=x", ".example.org", "a..b", "x y"};
    char cert[160], key[160];
    snprintf(cert, sizeof cert, "%s/bad/cert.pem", g_dir);
    snprintf(key, sizeof key, "%s/bad/key.pem", g_dir);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int made = -1;
        ck_assert_int_eq(tls_make_selfsigned(cert, key, bad[i], &made), -ERR_INVAL);
        ck_assert_int_eq(made, 0);
        ck_assert_int_ne(access(key, F_OK), 0);
    }
}
END_TEST

START_TEST(test_selfsigned_reports_unmakeable_directory)
{
    char file[160], cert[200], key[200];
    snprintf(file, sizeof file, "%s/plainfile", g_dir);
    write_file(file, "x");
    snprintf(cert, sizeof cert, "%s/sub/cert.pem", file);
    snprintf(key, sizeof key, "%s/sub/key.pem", file);
    int made = -1;
    ck_assert_int_eq(tls_make_selfsigned(cert, key, DOMAIN, &made), -ENOTDIR);
    ck_assert_int_eq(made, 0);
}
END_TEST

static time_t x509_time(const mbedtls_x509_time *t)
{
    struct tm tm = {.tm_year = t->year - 1900, .tm_mon = t->mon - 1, .tm_mday = t->day,
                    .tm_hour = t->hour, .tm_min = t->min, .tm_sec = t->sec};
    return timegm(&tm);
}

static void check_san(const mbedtls_x509_crt *crt)
{
    const char *want_names[2] = {DOMAIN, "*." DOMAIN};
    const mbedtls_x509_sequence *san = &crt->subject_alt_names;
    for (int i = 0; i < 2; i++) {
        ck_assert_ptr_nonnull(san);
        ck_assert_int_eq(san->buf.tag, MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME);
        ck_assert_uint_eq(san->buf.len, strlen(want_names[i]));
        ck_assert_mem_eq(san->buf.p, want_names[i], san->buf.len);
        san = san->next;
    }
    ck_assert_ptr_null(san);
}

/* The signature verifies, and both signature AlgorithmIdentifiers are
 * ecdsa-with-SHA256 with the parameters absent (RFC 5758 §3.2), not the
 * NULL that mbedTLS 2.28.3 writes. */
static void check_signature(const mbedtls_x509_crt *crt)
{
    static const unsigned char with_null[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                              0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00};
    static const unsigned char absent[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};
    const unsigned char *raw = crt->raw.p, *end = raw + crt->raw.len;
    ck_assert_ptr_null(memmem(raw, crt->raw.len, with_null, sizeof with_null));
    const unsigned char *first = memmem(raw, crt->raw.len, absent, sizeof absent);
    ck_assert_ptr_nonnull(first);
    first += sizeof absent;
    ck_assert_ptr_nonnull(memmem(first, (size_t)(end - first), absent, sizeof absent));
    unsigned char hash[32];
    ck_assert_int_eq(mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), crt->tbs.p,
                                crt->tbs.len, hash),
                     0);
    mbedtls_pk_context *pk = (mbedtls_pk_context *)&crt->pk;
    ck_assert_int_eq(mbedtls_pk_verify(pk, MBEDTLS_MD_SHA256, hash, sizeof hash, crt->sig.p,
                                       crt->sig.len),
                     0);
}

START_TEST(test_selfsigned_cert_fields)
{
    mbedtls_x509_crt crt;
    mbedtls_x509_crt_init(&crt);
    ck_assert_int_eq(mbedtls_x509_crt_parse_file(&crt, g_cert), 0);
    ck_assert_int_eq(crt.version, 3);
    char dn[128];
    ck_assert_int_gt(mbedtls_x509_dn_gets(dn, sizeof dn, &crt.subject), 0);
    ck_assert_str_eq(dn, "CN=" DOMAIN);
    check_san(&crt);
    ck_assert_int_ne(crt.ext_types & MBEDTLS_X509_EXT_BASIC_CONSTRAINTS, 0);
    ck_assert_int_eq(crt.ca_istrue, 0);
    ck_assert_int_eq(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE), 0);
    ck_assert_int_ne(mbedtls_x509_crt_check_key_usage(&crt, MBEDTLS_X509_KU_KEY_CERT_SIGN), 0);
    ck_assert_int_eq(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_SERVER_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH)),
                     0);
    ck_assert_int_eq(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CLIENT_AUTH, MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH)),
                     0);
    ck_assert_int_ne(mbedtls_x509_crt_check_extended_key_usage(
                         &crt, MBEDTLS_OID_CODE_SIGNING,
                         MBEDTLS_OID_SIZE(MBEDTLS_OID_CODE_SIGNING)),
                     0);
    ck_assert_int_eq(crt.sig_md, MBEDTLS_MD_SHA256);
    ck_assert_int_eq(mbedtls_pk_get_type(&crt.pk), MBEDTLS_PK_ECKEY);
    ck_assert_int_eq(mbedtls_pk_ec(crt.pk)->grp.id, MBEDTLS_ECP_DP_SECP256R1);
    ck_assert_uint_eq(crt.serial.len, 16);
    ck_assert_uint_eq(crt.serial.p[0] & 0xc0, 0x40);
    time_t now = time(NULL);
    time_t from = x509_time(&crt.valid_from);
    ck_assert_int_le(labs((long)(now - 24 * 3600 - from)), 300);
    struct tm tm;
    gmtime_r(&now, &tm);
    ck_assert_int_eq(crt.valid_to.year, tm.tm_year + 1900 + 10);
    check_signature(&crt);
    /* Trusted as itself, it verifies for the domain and one label below. */
    uint32_t flags = 0;
    ck_assert_int_eq(mbedtls_x509_crt_verify(&crt, &crt, NULL, DOMAIN, &flags, NULL, NULL), 0);
    ck_assert_int_eq(mbedtls_x509_crt_verify(&crt, &crt, NULL, "muc." DOMAIN, &flags, NULL, NULL),
                     0);
    ck_assert_int_ne(mbedtls_x509_crt_verify(&crt, &crt, NULL, "a.b." DOMAIN, &flags, NULL, NULL),
                     0);
    mbedtls_x509_crt_free(&crt);
}
END_TEST

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char text[16384];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    return strstr(text, needle) != NULL;
}

START_TEST(test_selfsigned_cert_accepted_by_openssl)
{
    if (system("command -v openssl >/dev/null 2>&1") != 0) {
        printf("test_tls: openssl not installed; skipping the openssl check\n");
        return;
    }
    char cmd[512], out[160];
    snprintf(out, sizeof out, "%s/openssl.txt", g_dir);
    snprintf(cmd, sizeof cmd, "openssl x509 -noout -text -in %s >%s 2>&1", g_cert, out);
    ck_assert_int_eq(system(cmd), 0);
    static const char *needles[] = {
        "Version: 3",
        "Subject: CN = " DOMAIN,
        "DNS:" DOMAIN ", DNS:*." DOMAIN,
        "CA:FALSE",
        "Digital Signature",
        "TLS Web Server Authentication, TLS Web Client Authentication",
        "ecdsa-with-SHA256",
        "prime256v1",
    };
    for (size_t i = 0; i < sizeof needles / sizeof needles[0]; i++)
        ck_assert_msg(file_contains(out, needles[i]), "openssl output lacks '%s'", needles[i]);
    snprintf(cmd, sizeof cmd, "openssl pkey -noout -in %s >/dev/null 2>&1", g_key);
    ck_assert_int_eq(system(cmd), 0);
    /* -check_ss_sig makes openssl check the self-signature as well. */
    snprintf(cmd, sizeof cmd, "openssl verify -CAfile %s -check_ss_sig %s >/dev/null 2>&1", g_cert,
             g_cert);
    ck_assert_int_eq(system(cmd), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* randomness                                                           */

START_TEST(test_rng_bytes_fills_past_one_drbg_request)
{
    uint8_t a[4096], b[32], c[32];
    memset(a, 0, sizeof a);
    rng_bytes(a, sizeof a);
    /* The DRBG serves 1024 bytes per request; the tail must be filled. */
    int zero_tail = 1;
    for (size_t i = sizeof a - 64; i < sizeof a; i++)
        zero_tail &= a[i] == 0;
    ck_assert_int_eq(zero_tail, 0);
    ck_assert_int_ne(memcmp(a, a + 1024, 1024), 0);
    rng_bytes(b, sizeof b);
    rng_bytes(c, sizeof c);
    ck_assert_int_ne(memcmp(b, c, sizeof b), 0);
    rng_bytes(b, 0);
}
END_TEST

START_TEST(test_rng_token_alphabet_nul_and_uniform)
{
    char t[33];
    memset(t, 'x', sizeof t);
    rng_token(t, 0);
    ck_assert_int_eq(t[0], '\0');
    enum { LEN = 62000 };
    char *big = malloc(LEN + 1);
    rng_token(big, LEN);
    ck_assert_int_eq(big[LEN], '\0');
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    int count[256] = {0};
    for (size_t i = 0; i < LEN; i++) {
        ck_assert_ptr_nonnull(strchr(alphabet, big[i]));
        count[(unsigned char)big[i]]++;
    }
    /* 1000 expected per character, sd ~31; a plain b % 62 would give the
     * first eight characters ~1210. */
    for (const char *p = alphabet; *p; p++)
        ck_assert_msg(count[(unsigned char)*p] > 850 && count[(unsigned char)*p] < 1150,
                      "'%c' drawn %d times", *p, count[(unsigned char)*p]);
    free(big);
}
END_TEST

enum { RNG_THREADS = 4, RNG_DRAWS = 200 };
static uint8_t g_draws[RNG_THREADS][RNG_DRAWS][16];

static void *rng_worker(void *arg)
{
    uint8_t(*mine)[16] = g_draws[(size_t)arg];
    for (int i = 0; i < RNG_DRAWS; i++)
        rng_bytes(mine[i], 16);
    return NULL;
}

static int cmp16(const void *a, const void *b) { return memcmp(a, b, 16); }

START_TEST(test_rng_threads_never_get_the_same_bytes)
{
    pthread_t th[RNG_THREADS];
    for (size_t i = 0; i < RNG_THREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, rng_worker, (void *)i), 0);
    for (size_t i = 0; i < RNG_THREADS; i++)
        pthread_join(th[i], NULL);
    uint8_t(*all)[16] = &g_draws[0][0];
    size_t n = RNG_THREADS * RNG_DRAWS;
    qsort(all, n, 16, cmp16);
    for (size_t i = 1; i < n; i++)
        ck_assert_int_ne(memcmp(all[i - 1], all[i], 16), 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/* the handshake rate, for doc/performance.md                           */

enum { RATE_HANDSHAKES = 200 };

START_TEST(test_200_full_handshakes_succeed_and_rate_is_printed)
{
    struct tls_server *srv = server_new(0);
    g_server_s = 0;
    double t0 = now_s();
    for (int i = 0; i < RATE_HANDSHAKES; i++) {
        struct pair pr;
        pair_open(&pr, srv, NULL, 1);
        pump(&pr);
        ck_assert_int_eq(tls_conn_established(pr.s), 1);
        ck_assert_int_eq(tls_conn_resumed(pr.s), 0);
        pair_close(&pr);
    }
    double total = now_s() - t0;
    printf("test_tls: %d full ECDSA P-256 handshakes: server side %.0f/s per core "
           "(%.2f ms each); with the in-process client %.0f/s\n",
           RATE_HANDSHAKES, RATE_HANDSHAKES / g_server_s, 1e3 * g_server_s / RATE_HANDSHAKES,
           RATE_HANDSHAKES / total);
    tls_server_free(srv);
}
END_TEST

/* ------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static Suite *tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *conn = tcase_create("conn");
    tcase_set_timeout(conn, 120);
    tcase_add_test(conn, test_handshake_verifies_and_exchanges_100k_both_ways);
    tcase_add_test(conn, test_either_signer_handshakes);
    tcase_add_test(conn, test_client_without_alpn_still_connects);
    tcase_add_test(conn, test_wildcard_san_covers_subdomain_not_other_domain);
    tcase_add_test(conn, test_buffered_plaintext_survives_small_reads);
    tcase_add_test(conn, test_record_split_across_feeds_is_reassembled);
    tcase_add_test(conn, test_close_notify_both_directions);
    tcase_add_test(conn, test_ticket_resumes_second_connection);
    tcase_add_test(conn, test_lifetime_zero_disables_tickets);
    tcase_add_test(conn, test_garbage_before_handshake_is_fatal);
    tcase_add_test(conn, test_forged_record_after_handshake_is_fatal);
    tcase_add_test(conn, test_bad_cert_or_key_gives_one_line_reason);
    tcase_add_test(conn, test_trim_releases_buffer_pages_and_conn_still_works);
    tcase_add_test(conn, test_trim_twice_keeps_the_record_counter);
    tcase_add_test(conn, test_trim_keeps_partial_record);
    tcase_add_test(conn, test_trim_keeps_unread_plaintext);
    suite_add_tcase(s, conn);
    TCase *cert = tcase_create("cert");
    tcase_add_test(cert, test_selfsigned_files_modes_and_idempotence);
    tcase_add_test(cert, test_selfsigned_remade_when_key_missing);
    tcase_add_test(cert, test_selfsigned_rejects_bad_domain);
    tcase_add_test(cert, test_selfsigned_reports_unmakeable_directory);
    tcase_add_test(cert, test_selfsigned_cert_fields);
    tcase_add_test(cert, test_selfsigned_cert_accepted_by_openssl);
    suite_add_tcase(s, cert);
    TCase *rng = tcase_create("rng");
    tcase_add_test(rng, test_rng_bytes_fills_past_one_drbg_request);
    tcase_add_test(rng, test_rng_token_alphabet_nul_and_uniform);
    tcase_add_test(rng, test_rng_threads_never_get_the_same_bytes);
    suite_add_tcase(s, rng);
    TCase *rate = tcase_create("rate");
    tcase_set_timeout(rate, 300);
    tcase_add_test(rate, test_200_full_handshakes_succeed_and_rate_is_printed);
    suite_add_tcase(s, rate);
    return s;
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/test_tls.XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    /* conf/tls does not exist yet: the maker creates it 0700. */
    snprintf(g_cert, sizeof g_cert, "%s/conf/tls/cert.pem", g_dir);
    snprintf(g_key, sizeof g_key, "%s/conf/tls/key.pem", g_dir);
    int made = 0;
    int rc = tls_make_selfsigned(g_cert, g_key, DOMAIN, &made);
    if (rc != 0 || made != 1) {
        fprintf(stderr, "tls_make_selfsigned: %s (made %d)\n", err_str(rc), made);
        return 1;
    }
    SRunner *sr = srunner_create(tls_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return failed == 0 ? 0 : 1;
}

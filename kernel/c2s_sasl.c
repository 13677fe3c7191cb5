/* c2s_sasl: SASL authentication on a client stream (RFC 6120 §6).
 *
 * SCRAM-SHA-256 and SCRAM-SHA-1 check the client's proof against the
 * stored keys: no PBKDF2 at login. PLAIN (offered only under TLS, as every
 * mechanism here) needs PBKDF2 over the password, so it runs on a libuv
 * worker. An unknown user gets a made-up but stable salt, so the exchange
 * looks the same until the proof fails. Failures count per IP; past the
 * limit the IP gets temporary-auth-failure until its window ends. */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "handlers/accounts/accounts.h"
#include "kernel/c2s.h"
#include "kernel/log.h"
#include "kernel/mem.h"

/* A SASL message bigger than this is malformed (SCRAM messages are small). */
#define SASL_MSG_MAX 4096

static void sasl_send(struct c2s *c, const char *el, const char *payload, size_t len)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<%s xmlns='" NS_SASL "'>", el);
    if (len) {
        size_t olen = 0;
        buf_reserve(&b, len * 4 / 3 + 8);
        mbedtls_base64_encode(b.p + b.len, b.cap - b.len, &olen, (const uint8_t *)payload, len);
        b.len += olen;
    } else if (strcmp(el, "success") == 0) {
        buf_puts(&b, "=");
    }
    buf_printf(&b, "</%s>", el);
    c2s_send_raw(c, (const char *)b.p, b.len);
    buf_free(&b);
}

static void sasl_reset(struct c2s *c)
{
    scram_server_free(&c->login->scram);
    scram_server_init(&c->login->scram, SCRAM_SHA256);
    c->login->sasl = SASL_NONE;
}

/* RFC 6120 §6.5: a failure; wrong credentials also count against the IP. */
static void sasl_fail(struct c2s *c, const char *cond, int counts)
{
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<failure xmlns='" NS_SASL "'><%s/></failure>", cond);
    c2s_send_raw(c, (const char *)b.p, b.len);
    buf_free(&b);
    sasl_reset(c);
    if (!counts)
        return;
    throttle_hit(&c->srv->auth_fail, c->ip, c2s_now_us());
    log_info("c2s %llu %s: authentication failed (%s)", (unsigned long long)c->id, c->ip, cond);
    if (++c->login->sasl_failures >= C2S_SASL_TRIES_MAX)
        c2s_close(c, STREAM_POLICY_VIOLATION, "too many failed authentication attempts");
}

static void sasl_success(struct c2s *c, const char *bare, const char *final, size_t len)
{
    sasl_send(c, "success", final, len);
    sasl_reset(c);
    throttle_clear(&c->srv->auth_fail, c->ip);
    log_info("c2s %llu %s: authenticated as %s", (unsigned long long)c->id, c->ip, bare);
    c2s_authenticated(c, bare);
}

/* Decodes the base64 text of a SASL element ("=" is the empty response).
 * Returns the length or -1. out has SASL_MSG_MAX + 1 bytes. */
static long sasl_decode(const struct xnode *el, char *out)
{
    const char *t = xml_text(el);
    size_t olen = 0;
    if (strcmp(t, "=") == 0)
        t = "";
    if (mbedtls_base64_decode((uint8_t *)out, SASL_MSG_MAX, &olen, (const uint8_t *)t, strlen(t)))
        return -1;
    out[olen] = 0;
    return (long)olen;
}

/* Made-up credentials for a user that does not exist: stable per name so
 * that asking twice does not reveal anything. The proof can never match. */
static void fake_creds(struct c2s *c, const char *bare, struct scram_creds *out)
{
    uint8_t mac[32];
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    mbedtls_md_hmac(md, c->srv->fake_salt_key, sizeof c->srv->fake_salt_key,
                    (const uint8_t *)bare, strlen(bare), mac);
    memset(out, 0, sizeof *out);
    memcpy(out->salt, mac, SCRAM_SALT_LEN);
    out->iter = (uint32_t)c->srv->cfg.scram_iterations;
    rng_bytes(out->key, sizeof out->key);
}

static int user_to_bare(struct c2s *c, const char *user, char out[JID_MAX])
{
    char local[JID_PART_MAX + 1];
    if (!*user || jid_nodeprep(user, local))
        return -1;
    snprintf(out, JID_MAX, "%s@%s", local, c->srv->cfg.domain);
    return 0;
}

static void scram_start(struct c2s *c, enum scram_hash h, const char *msg, size_t len)
{
    char bare[JID_MAX];
    scram_server_free(&c->login->scram);
    scram_server_init(&c->login->scram, h);
    int rc = scram_server_client_first(&c->login->scram, msg, len);
    if (rc) {
        sasl_fail(c, rc == -ERR_PARSE ? "malformed-request" : "not-authorized", rc != -ERR_PARSE);
        return;
    }
    struct scram_creds fake;
    const struct scram_creds *cr = NULL;
    if (user_to_bare(c, c->login->scram.user, bare) == 0)
        cr = accounts_creds(dispatch_state(c->srv->dispatch, "accounts"), bare);
    if (!cr) {
        fake_creds(c, c->login->scram.user, &fake);
        cr = &fake;
        c->login->sasl_unknown_user = 1;
    } else {
        c->login->sasl_unknown_user = 0;
    }
    char nonce[25];
    rng_token(nonce, sizeof nonce - 1); /* 24 characters, ~143 bits */
    char *first = scram_server_first(&c->login->scram, cr, nonce);
    sasl_send(c, "challenge", first, strlen(first));
    free(first);
    c->login->sasl = SASL_SCRAM_FIRST_SENT;
}

static void scram_finish(struct c2s *c, const char *msg, size_t len)
{
    char *final = NULL;
    char bare[JID_MAX];
    int rc = scram_server_client_final(&c->login->scram, msg, len, &final);
    if (rc || c->login->sasl_unknown_user || user_to_bare(c, c->login->scram.user, bare)) {
        free(final);
        sasl_fail(c, rc == -ERR_PARSE ? "malformed-request" : "not-authorized", rc != -ERR_PARSE);
        return;
    }
    sasl_success(c, bare, final, strlen(final));
    free(final);
}

/* --- PLAIN: PBKDF2 on a worker ------------------------------------------ */

struct plain_work {
    uv_work_t req;
    struct server *srv;
    uint64_t conn;
    char bare[JID_MAX];
    char *password;
    struct scram_creds creds;
    int known;
    int rc;
};

static void plain_work_cb(uv_work_t *req)
{
    struct plain_work *w = req->data;
    w->rc = scram_creds_check(&w->creds, w->password);
}

static void plain_done_cb(uv_work_t *req, int status)
{
    struct plain_work *w = req->data;
    struct endpoint *ep = server_endpoint(w->srv, w->conn);
    (void)status;
    if (ep && ep->kind == EP_C2S) {
        struct c2s *c = ep->conn;
        c->login->sasl = SASL_NONE;
        if (w->rc == 0 && w->known)
            sasl_success(c, w->bare, NULL, 0);
        else
            sasl_fail(c, "not-authorized", 1);
        if (!c->closing)
            uv_read_start((uv_stream_t *)&c->tcp, c2s_alloc_cb, c2s_read_cb);
    }
    explicit_bzero(w->password, strlen(w->password));
    free(w->password);
    free(w);
}

/* RFC 4616: [authzid] NUL authcid NUL passwd. */
static void plain_start(struct c2s *c, const char *msg, size_t len)
{
    const char *authzid = msg;
    const char *authcid = memchr(msg, 0, len);
    const char *pass = authcid ? memchr(authcid + 1, 0, len - (size_t)(authcid + 1 - msg)) : NULL;
    if (!authcid || !pass || memchr(pass + 1, 0, len - (size_t)(pass + 1 - msg))) {
        sasl_fail(c, "malformed-request", 0);
        return;
    }
    authcid++;
    pass++;
    char bare[JID_MAX], authz[JID_MAX];
    if (user_to_bare(c, authcid, bare) ||
        (*authzid && (jid_normalize(authzid, authz) || strcmp(authz, bare) != 0))) {
        sasl_fail(c, *authzid ? "invalid-authzid" : "not-authorized", 1);
        return;
    }
    struct plain_work *w = xcalloc(1, sizeof *w);
    w->req.data = w;
    w->srv = c->srv;
    w->conn = c->id;
    snprintf(w->bare, sizeof w->bare, "%s", bare);
    w->password = xstrdup(pass);
    const struct scram_creds *cr = accounts_creds(dispatch_state(c->srv->dispatch, "accounts"), bare);
    w->known = cr != NULL;
    if (cr)
        w->creds = *cr;
    else
        fake_creds(c, bare, &w->creds); /* same work either way: no timing oracle */
    c->login->sasl = SASL_BUSY;
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_queue_work(c->srv->loop, &w->req, plain_work_cb, plain_done_cb);
}

static void sasl_auth(struct c2s *c, const struct xnode *el)
{
    const char *mech = xml_attr(el, "mechanism");
    char msg[SASL_MSG_MAX + 1];
    if (throttle_blocked(&c->srv->auth_fail, c->ip, c2s_now_us())) {
        sasl_fail(c, "temporary-auth-failure", 0);
        return;
    }
    long len = sasl_decode(el, msg);
    if (len < 0) {
        sasl_fail(c, "incorrect-encoding", 0);
        return;
    }
    if (!mech) {
        sasl_fail(c, "invalid-mechanism", 0);
    } else if (strcmp(mech, "SCRAM-SHA-256") == 0) {
        scram_start(c, SCRAM_SHA256, msg, (size_t)len);
    } else if (strcmp(mech, "SCRAM-SHA-1") == 0) {
        scram_start(c, SCRAM_SHA1, msg, (size_t)len);
    } else if (strcmp(mech, "PLAIN") == 0) {
        plain_start(c, msg, (size_t)len);
    } else {
        sasl_fail(c, "invalid-mechanism", 0);
    }
    explicit_bzero(msg, sizeof msg);
}

void c2s_sasl_element(struct c2s *c, struct xnode *el)
{
    if (c->login->sasl == SASL_BUSY)
        return; /* reading is paused; nothing can arrive */
    if (strcmp(el->name, "auth") == 0) {
        sasl_auth(c, el);
    } else if (strcmp(el->name, "response") == 0 && c->login->sasl == SASL_SCRAM_FIRST_SENT) {
        char msg[SASL_MSG_MAX + 1];
        long len = sasl_decode(el, msg);
        if (len < 0)
            sasl_fail(c, "incorrect-encoding", 0);
        else
            scram_finish(c, msg, (size_t)len);
    } else if (strcmp(el->name, "abort") == 0) {
        sasl_fail(c, "aborted", 0);
    } else {
        sasl_fail(c, "malformed-request", 0);
    }
}

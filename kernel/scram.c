/* scram: see scram.h. SASL SCRAM (RFC 5802 §3 algorithm, §5 exchange,
 * §7 grammar) with SHA-1 and SHA-256 (RFC 7677), over mbedTLS HMAC,
 * hashes, PBKDF2 and base64.
 *
 * SASLprep (RFC 4013, libidn's "SASLprep" stringprep profile) is applied
 * - to the password in scram_creds_make(), with the rules for stored
 *   strings (unassigned code points refused), and in scram_creds_check(),
 *   with the rules for queries, as RFC 5802 §2.2 Normalize() says;
 * - to the username of client-first-message (query rules), so s->user is
 *   the prepared name. For printable ASCII, SASLprep changes nothing.
 * scram_salted_password() is Hi() alone: a client normalises first.
 * A password SASLprep refuses (prohibited or, when stored, unassigned
 * characters, bad UTF-8, empty result) makes scram_creds_make() return
 * -ERR_INVAL, as RFC 5802 §5.1 says to abort; fewer than SCRAM_ITER_MIN
 * iterations return -ERR_CRYPTO.
 *
 * The server checks the whole RFC 5802 §7 grammar: a gs2 header of "n" or
 * "y" (we offer no -PLUS mechanism, so "y" is fine, §6) and "p=" refused;
 * an authzid only when it is the username itself, byte for byte after
 * saslname decoding (a JID such as "user@domain" is refused, since this
 * file does not know the domain); no "m=" mandatory
 * extension; saslname escapes "=2C" and "=3D" only; printable nonces;
 * strict base64. Optional extensions are parsed and ignored. No message
 * may contain a NUL byte. */
#include "kernel/scram.h"

#include <assert.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/constant_time.h>
#include <mbedtls/md.h>
#include <mbedtls/pkcs5.h>
#include <stringprep.h>

#include "kernel/err.h"
#include "kernel/mem.h"

/* A SCRAM message longer than this is malformed (-ERR_PARSE); honest ones
 * are a few hundred bytes. c2s_sasl.c caps the decoded payload the same. */
#define SCRAM_MSG_MAX 4096
/* Client nonce and the caller's server nonce, in bytes. Together they fill
 * s->nonce; a longer client nonce is malformed, a longer server nonce is a
 * bug in the caller (assertion). Clients send 24 to 44. */
#define SCRAM_CNONCE_MAX 63
#define SCRAM_SNONCE_MAX 32
/* A password or username longer than this (bytes, before SASLprep) is
 * refused: usernames become JID local parts of at most 1023 bytes. */
#define SCRAM_TEXT_MAX 1023
/* SASLprep output room: NFKC can lengthen text; past this it fails. */
#define SCRAM_PREP_MAX (4 * SCRAM_TEXT_MAX)

_Static_assert(SCRAM_CNONCE_MAX + SCRAM_SNONCE_MAX < sizeof(((struct scram_server *)0)->nonce),
               "the combined nonce must fit in struct scram_server");

enum { ST_START = 0, ST_CLIENT_FIRST, ST_SERVER_FIRST, ST_DONE };

size_t scram_hash_len(enum scram_hash h)
{
    assert(h == SCRAM_SHA1 || h == SCRAM_SHA256);
    return h == SCRAM_SHA1 ? 20 : 32;
}

const char *scram_mech_name(enum scram_hash h)
{
    assert(h == SCRAM_SHA1 || h == SCRAM_SHA256);
    return h == SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

static const mbedtls_md_info_t *md_of(enum scram_hash h)
{
    const mbedtls_md_info_t *md =
        mbedtls_md_info_from_type(h == SCRAM_SHA1 ? MBEDTLS_MD_SHA1 : MBEDTLS_MD_SHA256);
    assert(md != NULL);
    assert(mbedtls_md_get_size(md) == scram_hash_len(h));
    return md;
}

static int hmac(enum scram_hash h, const uint8_t *key, const void *msg, size_t n, uint8_t *out)
{
    return mbedtls_md_hmac(md_of(h), key, scram_hash_len(h), msg, n, out) ? -ERR_CRYPTO : 0;
}

int scram_salted_password(enum scram_hash h, const char *password, const uint8_t *salt,
                          size_t salt_len, uint32_t iter, uint8_t *out)
{
    mbedtls_md_context_t ctx;
    int rc = -ERR_CRYPTO;
    if (iter == 0)
        return rc;
    mbedtls_md_init(&ctx);
    if (mbedtls_md_setup(&ctx, md_of(h), 1) == 0 &&
        mbedtls_pkcs5_pbkdf2_hmac(&ctx, (const uint8_t *)password, strlen(password), salt, salt_len,
                                  iter, (uint32_t)scram_hash_len(h), out) == 0)
        rc = 0;
    mbedtls_md_free(&ctx);
    return rc;
}

/* RFC 5802 §3: ClientKey, and the StoredKey and ServerKey kept instead of
 * the password. */
static int derive_keys(enum scram_hash h, const uint8_t *salted, uint8_t client_key[SCRAM_KEY_MAX],
                       struct scram_key *k /* OUT */)
{
    static const char ck[] = "Client Key", sk[] = "Server Key";
    memset(k, 0, sizeof *k);
    if (hmac(h, salted, ck, sizeof ck - 1, client_key) ||
        mbedtls_md(md_of(h), client_key, scram_hash_len(h), k->stored) ||
        hmac(h, salted, sk, sizeof sk - 1, k->server))
        return -ERR_CRYPTO;
    return 0;
}

/* Applies SASLprep into out. Returns 0, or -1 when in is too long, not
 * UTF-8 (libidn checks), holds a prohibited character, or prepares to "". */
static int saslprep(const char *in, Stringprep_profile_flags flags, char out[SCRAM_PREP_MAX + 1])
{
    size_t n = strlen(in);
    out[0] = '\0';
    if (n == 0 || n > SCRAM_TEXT_MAX)
        return -1;
    memcpy(out, in, n + 1);
    if (stringprep(out, SCRAM_PREP_MAX + 1, flags, stringprep_saslprep) != STRINGPREP_OK ||
        out[0] == '\0') {
        explicit_bzero(out, SCRAM_PREP_MAX + 1);
        return -1;
    }
    return 0;
}

int scram_creds_make(struct scram_creds *out /* OUT */, const char *password,
                     const uint8_t salt[SCRAM_SALT_LEN], uint32_t iter)
{
    char prep[SCRAM_PREP_MAX + 1];
    uint8_t salted[SCRAM_KEY_MAX], client_key[SCRAM_KEY_MAX];
    int rc = 0;
    memset(out, 0, sizeof *out);
    if (iter < SCRAM_ITER_MIN)
        return -ERR_CRYPTO;
    if (saslprep(password, STRINGPREP_NO_UNASSIGNED, prep))
        return -ERR_INVAL;
    memcpy(out->salt, salt, SCRAM_SALT_LEN);
    out->iter = iter;
    for (int h = 0; h < SCRAM_HASH_COUNT_ && rc == 0; h++) {
        rc = scram_salted_password((enum scram_hash)h, prep, salt, SCRAM_SALT_LEN, iter, salted);
        if (rc == 0)
            rc = derive_keys((enum scram_hash)h, salted, client_key, &out->key[h]);
    }
    explicit_bzero(prep, sizeof prep);
    explicit_bzero(salted, sizeof salted);
    explicit_bzero(client_key, sizeof client_key);
    if (rc)
        memset(out, 0, sizeof *out);
    return rc;
}

/* Derives StoredKey for SHA-256 from the password and compares it with the
 * stored one; one PBKDF2 whatever the outcome. */
int scram_creds_check(const struct scram_creds *c, const char *password)
{
    char prep[SCRAM_PREP_MAX + 1];
    uint8_t salted[SCRAM_KEY_MAX], client_key[SCRAM_KEY_MAX];
    struct scram_key k;
    int rc = -ERR_AUTH;
    if (saslprep(password, 0, prep) == 0 &&
        scram_salted_password(SCRAM_SHA256, prep, c->salt, SCRAM_SALT_LEN, c->iter, salted) == 0 &&
        derive_keys(SCRAM_SHA256, salted, client_key, &k) == 0 &&
        mbedtls_ct_memcmp(k.stored, c->key[SCRAM_SHA256].stored, scram_hash_len(SCRAM_SHA256)) == 0)
        rc = 0;
    explicit_bzero(prep, sizeof prep);
    explicit_bzero(salted, sizeof salted);
    explicit_bzero(client_key, sizeof client_key);
    explicit_bzero(&k, sizeof k);
    return rc;
}

/* ---- Grammar helpers (RFC 5802 §7) ---- */

static bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

/* printable = %x21-2B / %x2D-7E: visible ASCII but ','. */
static bool is_printable(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x21 || p[i] > 0x7E || p[i] == ',')
            return false;
    return true;
}

/* cb-name = 1*(ALPHA / DIGIT / "." / "-") */
static bool is_cb_name(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_alpha(p[i]) && !(p[i] >= '0' && p[i] <= '9') && p[i] != '.' && p[i] != '-')
            return false;
    return true;
}

/* Strict base64 (§7): groups of four from the RFC 4648 alphabet, '=' only
 * as padding at the very end. mbedtls alone would also skip whitespace. */
static bool is_base64(const char *p, size_t n)
{
    if (n % 4 != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '=') {
            if (i + 2 < n || (i + 2 == n && p[n - 1] != '='))
                return false;
        } else if (!is_alpha(c) && !(c >= '0' && c <= '9') && c != '+' && c != '/') {
            return false;
        }
    }
    return true;
}

/* Decodes validated base64 p[0..n) into out (cap bytes); returns the
 * length or -1. */
static long base64_decode(const char *p, size_t n, uint8_t *out, size_t cap)
{
    size_t olen = 0;
    if (!is_base64(p, n) || mbedtls_base64_decode(out, cap, &olen, (const uint8_t *)p, n))
        return -1;
    return (long)olen;
}

/* Returns a malloc'd base64 text of p[0..n). */
static char *base64_encode(const uint8_t *p, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1, olen = 0;
    char *s = xmalloc(cap);
    int rc = mbedtls_base64_encode((uint8_t *)s, cap, &olen, p, n);
    assert(rc == 0);
    (void)rc;
    return s;
}

/* saslname = 1*(value-safe-char / "=2C" / "=3D"): returns the decoded
 * name, malloc'd, or NULL when empty or holding any other '=' sequence. */
static char *saslname_decode(const char *p, size_t n)
{
    if (n == 0)
        return NULL;
    char *out = xmalloc(n + 1), *w = out;
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '=') {
            *w++ = p[i];
        } else if (i + 2 < n && p[i + 1] == '2' && p[i + 2] == 'C') {
            *w++ = ',';
            i += 2;
        } else if (i + 2 < n && p[i + 1] == '3' && p[i + 2] == 'D') {
            *w++ = '=';
            i += 2;
        } else {
            free(out);
            return NULL;
        }
    }
    *w = '\0';
    return out;
}

/* attr-val = ALPHA "=" value; value = 1*value-char (anything but ',').
 * Returns its length, or 0 when p does not start with one. */
static size_t attr_val_len(const char *p)
{
    if (!is_alpha(p[0]) || p[1] != '=')
        return 0;
    size_t n = strcspn(p + 2, ",");
    return n ? n + 2 : 0;
}

/* extensions = attr-val *("," attr-val), running to the end of the text. */
static bool extensions_ok(const char *p)
{
    for (;;) {
        size_t n = attr_val_len(p);
        if (n == 0)
            return false;
        p += n;
        if (*p == '\0')
            return true;
        p++; /* ',' */
    }
}

/* Returns a NUL-terminated copy of a message, or NULL when it is empty,
 * too long or holds a NUL byte. */
static char *message_copy(const char *msg, size_t len)
{
    if (len == 0 || len > SCRAM_MSG_MAX || memchr(msg, '\0', len))
        return NULL;
    return xstrndup(msg, len);
}

/* AuthMessage = client-first-message-bare "," server-first-message ","
 * client-final-message-without-proof (§3). Malloc'd; *len gets its size. */
static char *auth_message(const char *first_bare, const char *server_first, const char *final_np,
                          size_t final_np_len, size_t *len /* OUT */)
{
    size_t a = strlen(first_bare), b = strlen(server_first);
    char *m = xmalloc(a + b + final_np_len + 3);
    memcpy(m, first_bare, a);
    m[a] = ',';
    memcpy(m + a + 1, server_first, b);
    m[a + 1 + b] = ',';
    memcpy(m + a + b + 2, final_np, final_np_len);
    *len = a + b + 2 + final_np_len;
    m[*len] = '\0';
    return m;
}

/* ---- Server: client-first-message ---- */

/* gs2-header = gs2-cbind-flag "," [ authzid ] "," */
struct gs2 {
    bool binding;  /* "p=cb-name": channel binding, which we do not offer */
    char *authzid; /* decoded, malloc'd, or NULL */
    size_t len;    /* bytes of the header, both commas included */
};

static int parse_gs2(const char *m, struct gs2 *g /* OUT */)
{
    const char *p = m;
    memset(g, 0, sizeof *g);
    if ((p[0] == 'n' || p[0] == 'y') && p[1] == ',') {
        p += 2;
    } else if (p[0] == 'p' && p[1] == '=') {
        size_t n = strcspn(p + 2, ",");
        if (!is_cb_name(p + 2, n) || p[2 + n] != ',')
            return -ERR_PARSE;
        g->binding = true;
        p += 2 + n + 1;
    } else {
        return -ERR_PARSE;
    }
    if (p[0] == 'a' && p[1] == '=') {
        size_t n = strcspn(p + 2, ",");
        g->authzid = saslname_decode(p + 2, n);
        if (!g->authzid)
            return -ERR_PARSE;
        p += 2 + n;
    }
    if (*p != ',') {
        free(g->authzid);
        g->authzid = NULL;
        return -ERR_PARSE;
    }
    g->len = (size_t)(p + 1 - m);
    return 0;
}

/* client-first-message-bare = [reserved-mext ","] username "," nonce
 * ["," extensions]. "m=" names a mandatory extension we do not know, so
 * §5.1 says to fail. */
static int parse_first_bare(const char *p, char **user /* OUT */, const char **nonce /* OUT */)
{
    *user = NULL;
    if (p[0] != 'n' || p[1] != '=')
        return -ERR_PARSE; /* includes "m=" */
    size_t n = strcspn(p + 2, ",");
    if (p[2 + n] != ',' || !(*user = saslname_decode(p + 2, n)))
        return -ERR_PARSE;
    p += 2 + n + 1;
    n = p[0] == 'r' && p[1] == '=' ? strcspn(p + 2, ",") : 0;
    if (!is_printable(p + 2, n) || n > SCRAM_CNONCE_MAX ||
        (p[2 + n] == ',' && !extensions_ok(p + 2 + n + 1))) {
        free(*user);
        *user = NULL;
        return -ERR_PARSE;
    }
    *nonce = p + 2;
    return 0;
}

/* Keeps client-first-message-bare for AuthMessage and, after its NUL in
 * the same allocation, the gs2 header for the c= check of client-final
 * (struct scram_server has no field of its own for it). */
static const char *gs2_header_of(const struct scram_server *s)
{
    return s->client_first_bare + strlen(s->client_first_bare) + 1;
}

static void keep_client_first(struct scram_server *s, const char *m, size_t gs2_len,
                              const char *nonce)
{
    size_t bare = strlen(m + gs2_len);
    char *k = xmalloc(bare + 1 + gs2_len + 1);
    memcpy(k, m + gs2_len, bare + 1);
    memcpy(k + bare + 1, m, gs2_len);
    k[bare + 1 + gs2_len] = '\0';
    s->client_first_bare = k;
    size_t n = strcspn(nonce, ",");
    assert(n <= SCRAM_CNONCE_MAX);
    memcpy(s->nonce, nonce, n);
    s->nonce[n] = '\0';
}

int scram_server_client_first(struct scram_server *s, const char *msg, size_t len)
{
    assert(s->state == ST_START);
    char *m = message_copy(msg, len);
    struct gs2 g = {0};
    char *user = NULL;
    const char *nonce = NULL;
    char prep[SCRAM_PREP_MAX + 1];
    int rc = m ? parse_gs2(m, &g) : -ERR_PARSE;
    if (rc == 0)
        rc = parse_first_bare(m + g.len, &user, &nonce);
    if (rc == 0 && g.binding)
        rc = -ERR_AUTH; /* RFC 5802 §6: we advertise no -PLUS mechanism */
    if (rc == 0 && g.authzid && strcmp(g.authzid, user) != 0)
        rc = -ERR_AUTH; /* acting for another user is not offered */
    if (rc == 0 && saslprep(user, 0, prep) != 0)
        rc = -ERR_AUTH; /* no account can have that name */
    if (rc == 0) {
        s->user = xstrdup(prep);
        keep_client_first(s, m, g.len, nonce);
        s->state = ST_CLIENT_FIRST;
    }
    free(g.authzid);
    free(user);
    free(m);
    return rc;
}

/* ---- Server: server-first-message ---- */

char *scram_server_first(struct scram_server *s, const struct scram_creds *creds,
                         const char *server_nonce)
{
    size_t cn = strlen(s->nonce), sn = strlen(server_nonce);
    assert(s->state == ST_CLIENT_FIRST);
    assert(sn <= SCRAM_SNONCE_MAX);
    assert(is_printable(server_nonce, sn));
    assert(creds->iter > 0);
    memcpy(s->nonce + cn, server_nonce, sn + 1);
    s->creds = *creds;
    char *salt = base64_encode(creds->salt, SCRAM_SALT_LEN);
    size_t cap = strlen(s->nonce) + strlen(salt) + 32;
    s->server_first = xmalloc(cap);
    snprintf(s->server_first, cap, "r=%s,s=%s,i=%" PRIu32, s->nonce, salt, creds->iter);
    free(salt);
    s->state = ST_SERVER_FIRST;
    return xstrdup(s->server_first);
}

/* ---- Server: client-final-message ---- */

/* client-final-message = channel-binding "," nonce ["," extensions] ","
 * proof; the proof is last and the rest is the "without-proof" part. */
struct final_parts {
    const char *cbind, *nonce, *proof;
    size_t cbind_len, nonce_len, proof_len;
    size_t without_proof_len;
};

static int parse_final(const char *m, struct final_parts *f /* OUT */)
{
    const char *p = m;
    memset(f, 0, sizeof *f);
    if (p[0] != 'c' || p[1] != '=')
        return -ERR_PARSE;
    f->cbind = p + 2;
    f->cbind_len = strcspn(f->cbind, ",");
    p = f->cbind + f->cbind_len;
    if (p[0] != ',' || p[1] != 'r' || p[2] != '=')
        return -ERR_PARSE;
    f->nonce = p + 3;
    f->nonce_len = strcspn(f->nonce, ",");
    if (!is_printable(f->nonce, f->nonce_len))
        return -ERR_PARSE;
    p = f->nonce + f->nonce_len;
    for (;;) {
        if (*p != ',')
            return -ERR_PARSE; /* ended without a proof */
        p++;
        if (p[0] == 'p' && p[1] == '=')
            break;
        size_t n = attr_val_len(p);
        if (n == 0)
            return -ERR_PARSE;
        p += n;
    }
    f->without_proof_len = (size_t)(p - 1 - m);
    f->proof = p + 2;
    f->proof_len = strlen(f->proof);
    if (!is_base64(f->cbind, f->cbind_len) || !is_base64(f->proof, f->proof_len))
        return -ERR_PARSE; /* also refuses anything after the proof */
    return 0;
}

/* c= must repeat our gs2 header (no channel-binding data: §6, §7), and
 * r= the combined nonce of server-first-message. */
static int check_binding_and_nonce(const struct scram_server *s, const struct final_parts *f)
{
    uint8_t cb[SCRAM_MSG_MAX];
    const char *gs2 = gs2_header_of(s);
    long n = base64_decode(f->cbind, f->cbind_len, cb, sizeof cb);
    if (n < 0)
        return -ERR_PARSE;
    if ((size_t)n != strlen(gs2) || memcmp(cb, gs2, (size_t)n) != 0)
        return -ERR_AUTH;
    if (f->nonce_len != strlen(s->nonce) || memcmp(f->nonce, s->nonce, f->nonce_len) != 0)
        return -ERR_AUTH;
    return 0;
}

/* §3: ClientKey = ClientProof XOR HMAC(StoredKey, AuthMessage), and
 * H(ClientKey) must equal StoredKey (compared in constant time). */
static int verify_proof(const struct scram_server *s, const char *m, const struct final_parts *f,
                        char **out_final /* OUT */)
{
    enum scram_hash h = s->hash;
    size_t hl = scram_hash_len(h), alen;
    const struct scram_key *k = &s->creds.key[h];
    uint8_t proof[SCRAM_MSG_MAX], sig[SCRAM_KEY_MAX], key[SCRAM_KEY_MAX];
    long n = base64_decode(f->proof, f->proof_len, proof, sizeof proof);
    if (n < 0)
        return -ERR_PARSE;
    if ((size_t)n != hl)
        return -ERR_AUTH;
    char *am = auth_message(s->client_first_bare, s->server_first, m, f->without_proof_len, &alen);
    int rc = hmac(h, k->stored, am, alen, sig);
    for (size_t i = 0; i < hl; i++)
        key[i] = proof[i] ^ sig[i];
    if (rc == 0)
        rc = mbedtls_md(md_of(h), key, hl, sig) ? -ERR_CRYPTO : 0;
    if (rc == 0 && mbedtls_ct_memcmp(sig, k->stored, hl) != 0)
        rc = -ERR_AUTH;
    if (rc == 0)
        rc = hmac(h, k->server, am, alen, sig); /* ServerSignature */
    if (rc == 0) {
        char *v = base64_encode(sig, hl);
        *out_final = xmalloc(strlen(v) + 3);
        sprintf(*out_final, "v=%s", v);
        free(v);
    }
    explicit_bzero(key, sizeof key);
    free(am);
    return rc;
}

int scram_server_client_final(struct scram_server *s, const char *msg, size_t len,
                              char **out_final /* OUT */)
{
    *out_final = NULL;
    assert(s->state == ST_SERVER_FIRST);
    s->state = ST_DONE; /* one attempt per exchange, whatever the outcome */
    char *m = message_copy(msg, len);
    struct final_parts f;
    int rc = m ? parse_final(m, &f) : -ERR_PARSE;
    if (rc == 0)
        rc = check_binding_and_nonce(s, &f);
    if (rc == 0)
        rc = verify_proof(s, m, &f, out_final);
    free(m);
    return rc;
}

void scram_server_init(struct scram_server *s, enum scram_hash h)
{
    assert(h == SCRAM_SHA1 || h == SCRAM_SHA256);
    memset(s, 0, sizeof *s);
    s->hash = h;
    s->state = ST_START;
}

/* Leaves s as scram_server_init() does, keys wiped; safe to call twice. */
void scram_server_free(struct scram_server *s)
{
    enum scram_hash h = s->hash;
    free(s->user);
    free(s->client_first_bare);
    free(s->server_first);
    explicit_bzero(s, sizeof *s);
    s->hash = h;
    s->state = ST_START;
}

/* ---- Client side (tests, load generator) ---- */

int scram_client_final(enum scram_hash h, const uint8_t *salted_password,
                       const char *client_first_bare, const char *server_first,
                       const char *client_final_without_proof, char **out /* OUT */,
                       uint8_t server_signature[SCRAM_KEY_MAX] /* OUT */)
{
    size_t hl = scram_hash_len(h), alen;
    uint8_t client_key[SCRAM_KEY_MAX], sig[SCRAM_KEY_MAX];
    struct scram_key k;
    *out = NULL;
    memset(server_signature, 0, SCRAM_KEY_MAX);
    char *am = auth_message(client_first_bare, server_first, client_final_without_proof,
                            strlen(client_final_without_proof), &alen);
    int rc = derive_keys(h, salted_password, client_key, &k);
    if (rc == 0)
        rc = hmac(h, k.stored, am, alen, sig); /* ClientSignature */
    if (rc == 0)
        rc = hmac(h, k.server, am, alen, server_signature);
    if (rc == 0) {
        for (size_t i = 0; i < hl; i++)
            sig[i] ^= client_key[i]; /* ClientProof */
        char *p = base64_encode(sig, hl);
        size_t cap = strlen(client_final_without_proof) + strlen(p) + 4;
        *out = xmalloc(cap);
        snprintf(*out, cap, "%s,p=%s", client_final_without_proof, p);
        free(p);
    }
    explicit_bzero(client_key, sizeof client_key);
    explicit_bzero(&k, sizeof k);
    free(am);
    return rc;
}

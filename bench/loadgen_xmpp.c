/* loadgen_xmpp: what a generator connection answers to each element the
 * server sends, from the first features to a bound session: STARTTLS
 * (RFC 6120 §5.4), SASL SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 6120 §6.4,
 * RFC 5802 §5 and §7, RFC 7677), resource binding (RFC 6120 §7.6), the
 * legacy session when it is not <optional/> (RFC 3921 §3), in-band
 * registration (XEP-0077 §3.1), and once ready: messages and iq replies to
 * the scenario, pings (XEP-0199) answered, other requests refused with
 * service-unavailable (RFC 6120 §8.4).
 *
 * The server's SCRAM signature is checked (RFC 5802 §5.1: a client that
 * skipped it would not notice a server that never knew the password).
 * SaltedPassword is cached per account and hash, keyed by salt and
 * iteration count, as real clients do: the generator's PBKDF2 runs once
 * per account, not once per login, so it does not limit the login rate. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/ctr_drbg.h>

#include "bench/loadgen_conn.h"
#include "kernel/err.h"
#include "kernel/mem.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"
#define NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"
#define NS_REGISTER "jabber:iq:register"
#define NS_PING "urn:xmpp:ping"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* SCRAM client nonce length; RFC 5802 asks only for printable text. */
#define LG_NONCE_LEN 24
/* A SCRAM message above this (decoded) fails the login. */
#define LG_SASL_MAX 4096
/* More PBKDF2 iterations than this from a server fails the login rather
 * than stalling every other connection of the generator. */
#define LG_ITER_MAX 1000000
/* An iq id or JID the generator echoes back longer than this is not
 * answered. */
#define LG_ECHO_MAX 256

static bool is(const struct lg_el *e, const char *name, const char *ns)
{
    return strcmp(e->name, name) == 0 && strcmp(e->ns, ns) == 0;
}

/* Base64 of n bytes into a string the caller frees. */
static char *b64_encode(const void *p, size_t n)
{
    size_t cap = 4 * ((n + 2) / 3) + 1, olen = 0;
    char *s = xmalloc(cap);
    if (mbedtls_base64_encode((unsigned char *)s, cap, &olen, p, n) != 0)
        abort(); /* cap is exact: cannot happen */
    s[olen] = '\0';
    return s;
}

/* Decodes base64 text (NULL: empty) into out, NUL-terminated. Returns the
 * decoded length or -1. */
static long b64_decode(const char *text, uint8_t *out, size_t cap)
{
    size_t olen = 0;
    if (text == NULL)
        text = "";
    if (mbedtls_base64_decode(out, cap - 1, &olen, (const unsigned char *)text, strlen(text)) != 0)
        return -1;
    out[olen] = '\0';
    return (long)olen;
}

/* ---- SASL SCRAM (RFC 5802 §5) ---- */

static void sasl_start(struct lg_conn *c, const struct lg_el *mechs)
{
    const struct lg_opts *o = c->ctx->opts;
    int want = -1;
    for (int h = SCRAM_SHA256; h >= 0; h--) {
        if (o->mech >= 0 && o->mech != h)
            continue;
        for (const struct lg_el *m = mechs ? mechs->kids : NULL; m && want < 0; m = m->next)
            if (m->text && strcmp(m->text, scram_mech_name((enum scram_hash)h)) == 0)
                want = h;
        if (want >= 0)
            break;
    }
    if (want < 0) {
        lgc_fail(c, -ERR_AUTH, "server offers no usable SCRAM mechanism");
        return;
    }
    c->mech = (enum scram_hash)want;
    static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    uint8_t rnd[LG_NONCE_LEN];
    char nonce[LG_NONCE_LEN + 1];
    mbedtls_ctr_drbg_random(&c->ctx->drbg, rnd, sizeof rnd);
    for (size_t i = 0; i < LG_NONCE_LEN; i++)
        nonce[i] = alnum[rnd[i] % (sizeof alnum - 1)];
    nonce[LG_NONCE_LEN] = '\0';
    /* User names are checked at start-up to need no saslname escaping. */
    size_t n = strlen(c->acct->user) + LG_NONCE_LEN + 8;
    c->first_bare = xmalloc(n);
    snprintf(c->first_bare, n, "n=%s,r=%s", c->acct->user, nonce);
    char *first = xmalloc(n + 3);
    snprintf(first, n + 3, "n,,%s", c->first_bare);
    char *b = b64_encode(first, strlen(first));
    lgc_send_fmt(c, "<auth xmlns='" NS_SASL "' mechanism='%s'>%s</auth>",
                 scram_mech_name(c->mech), b);
    free(b);
    free(first);
    c->st = ST_SASL_FIRST;
}

/* The value of attribute k ("r", "s", "i") of a SCRAM message, copied
 * into out; false when absent or too long. */
static bool scram_attr(const char *msg, char k, char *out, size_t cap)
{
    for (const char *p = msg; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        if (p[0] != k || p[1] != '=')
            continue;
        size_t n = strcspn(p + 2, ",");
        if (n >= cap)
            return false;
        memcpy(out, p + 2, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

/* SaltedPassword for this account, salt and count: from the cache, or
 * computed (slow, counted in ctx->pbkdf2) and cached. */
static const uint8_t *salted_password(struct lg_conn *c, const uint8_t *salt, size_t salt_len,
                                      uint32_t iter)
{
    struct lg_account *a = c->acct;
    struct lg_salted *s = &a->salted[c->mech];
    if (s->valid && s->iter == iter && s->salt_len == salt_len &&
        memcmp(s->salt, salt, salt_len) == 0)
        return s->key;
    s->valid = false;
    if (scram_salted_password(c->mech, c->ctx->opts->password, salt, salt_len, iter, s->key) != 0)
        return NULL;
    c->ctx->pbkdf2++;
    memcpy(s->salt, salt, salt_len);
    s->salt_len = salt_len;
    s->iter = iter;
    s->valid = true;
    return s->key;
}

static void sasl_challenge(struct lg_conn *c, const struct lg_el *el)
{
    uint8_t server_first[LG_SASL_MAX + 1], salt[LG_SALT_MAX + 1];
    char nonce[LG_SASL_MAX], salt64[LG_SASL_MAX], iters[16];
    if (b64_decode(el->text, server_first, sizeof server_first) <= 0 ||
        strncmp((const char *)server_first, "r=", 2) != 0 ||
        !scram_attr((const char *)server_first, 'r', nonce, sizeof nonce) ||
        !scram_attr((const char *)server_first, 's', salt64, sizeof salt64) ||
        !scram_attr((const char *)server_first, 'i', iters, sizeof iters)) {
        lgc_fail(c, -ERR_PARSE, "malformed SCRAM server-first-message");
        return;
    }
    const char *cnonce = strstr(c->first_bare, ",r=") + 3;
    long salt_len = b64_decode(salt64, salt, sizeof salt);
    unsigned long iter = strtoul(iters, NULL, 10);
    if (strncmp(nonce, cnonce, strlen(cnonce)) != 0 || salt_len <= 0 || iter == 0 ||
        iter > LG_ITER_MAX) {
        lgc_fail(c, -ERR_AUTH, "bad SCRAM nonce, salt or iteration count");
        return;
    }
    const uint8_t *key = salted_password(c, salt, (size_t)salt_len, (uint32_t)iter);
    char without_proof[LG_SASL_MAX + 16], *final = NULL;
    snprintf(without_proof, sizeof without_proof, "c=biws,r=%s", nonce); /* biws: "n,," */
    if (key == NULL ||
        scram_client_final(c->mech, key, c->first_bare, (const char *)server_first,
                           without_proof, &final, c->server_sig) != 0) {
        lgc_fail(c, -ERR_CRYPTO, "SCRAM computation failed");
        return;
    }
    char *b = b64_encode(final, strlen(final));
    lgc_send_raw(c, "<response xmlns='" NS_SASL "'>", sizeof "<response xmlns='" NS_SASL "'>" - 1);
    lgc_send_raw(c, b, strlen(b));
    lgc_send_raw(c, "</response>", sizeof "</response>" - 1);
    free(b);
    free(final);
    c->st = ST_SASL_FINAL;
}

/* server-final-message "v=<ServerSignature>" (RFC 5802 §7). */
static bool server_final_ok(struct lg_conn *c, const char *text)
{
    uint8_t msg[LG_SASL_MAX + 1], sig[SCRAM_KEY_MAX + 1];
    char v64[LG_SASL_MAX];
    size_t hl = scram_hash_len(c->mech);
    return b64_decode(text, msg, sizeof msg) > 0 &&
           scram_attr((const char *)msg, 'v', v64, sizeof v64) &&
           b64_decode(v64, sig, sizeof sig) == (long)hl && memcmp(sig, c->server_sig, hl) == 0;
}

static void sasl_final(struct lg_conn *c, const struct lg_el *el)
{
    if (is(el, "challenge", NS_SASL)) {
        /* Some servers send v= as a challenge and an empty <success/>. */
        if (!server_final_ok(c, el->text)) {
            lgc_fail(c, -ERR_AUTH, "wrong SCRAM server signature");
            return;
        }
        c->sig_checked = true;
        lgc_send_fmt(c, "<response xmlns='" NS_SASL "'/>");
        return;
    }
    if (!c->sig_checked && !server_final_ok(c, el->text)) {
        lgc_fail(c, -ERR_AUTH, "wrong SCRAM server signature");
        return;
    }
    lg_xml_restart(c->xml);
    c->st = ST_BOUND_FEATURES;
    lgc_send_stream_header(c);
}

/* ---- after authentication ---- */

static void bind_start(struct lg_conn *c, const struct lg_el *features)
{
    if (lg_el_child(features, "bind") == NULL) {
        lgc_fail(c, -ERR_PARSE, "no <bind/> offered");
        return;
    }
    const struct lg_el *s = lg_el_child(features, "session");
    c->session_needed = s && strcmp(s->ns, NS_SESSION) == 0 && lg_el_child(s, "optional") == NULL;
    lgc_send_fmt(c,
                 "<iq type='set' id='bind1'><bind xmlns='" NS_BIND
                 "'><resource>%s</resource></bind></iq>",
                 c->resource);
    c->st = ST_BIND;
}

/* The defined condition among e's children (RFC 6120 §4.9.2, §6.5,
 * §8.3.2), skipping <text/>, for messages. */
static const char *condition(const struct lg_el *e)
{
    for (const struct lg_el *k = e ? e->kids : NULL; k; k = k->next)
        if (strcmp(k->name, "text") != 0)
            return k->name;
    return "no condition";
}

static const char *error_condition(const struct lg_el *el)
{
    return condition(lg_el_child(el, "error"));
}

static void bind_result(struct lg_conn *c, const struct lg_el *el)
{
    const char *type = lg_el_attr(el, "type");
    if (type == NULL || strcmp(type, "result") != 0) {
        lgc_fail(c, -ERR_AUTH, "bind refused: %s", error_condition(el));
        return;
    }
    const struct lg_el *b = lg_el_child(el, "bind");
    const struct lg_el *j = b ? lg_el_child(b, "jid") : NULL;
    if (j == NULL || j->text == NULL) {
        lgc_fail(c, -ERR_PARSE, "bind result without a JID");
        return;
    }
    c->jid = xstrdup(j->text);
    if (c->session_needed) {
        lgc_send_fmt(c, "<iq type='set' id='sess1'><session xmlns='" NS_SESSION "'/></iq>");
        c->st = ST_SESSION;
        return;
    }
    lgc_ready(c);
}

static void register_step(struct lg_conn *c, const struct lg_el *el)
{
    const char *type = lg_el_attr(el, "type");
    bool ok = type && strcmp(type, "result") == 0;
    if (c->st == ST_REG_GET && ok) {
        lgc_send_fmt(c,
                     "<iq type='set' id='reg2'><query xmlns='" NS_REGISTER
                     "'><username>%s</username><password>%s</password></query></iq>",
                     c->acct->user, c->ctx->opts->password);
        c->st = ST_REG_SET;
    } else if (c->st == ST_REG_SET && (ok || strcmp(error_condition(el), "conflict") == 0)) {
        lgc_ready(c); /* conflict: the account exists already, as wanted */
    } else {
        lgc_fail(c, -ERR_AUTH, "registration refused: %s", error_condition(el));
    }
}

/* Appends s with the five XML specials escaped, for attribute values. */
static void put_escaped(struct buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '&': buf_puts(b, "&amp;"); break;
        case '\'': buf_puts(b, "&apos;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        default: buf_put_u8(b, (uint8_t)*s);
        }
    }
}

/* A request from the server or a peer: pong a ping, refuse the rest. */
static void answer_iq(struct lg_conn *c, const struct lg_el *el)
{
    const char *id = lg_el_attr(el, "id"), *from = lg_el_attr(el, "from");
    if (id == NULL || strlen(id) > LG_ECHO_MAX || (from && strlen(from) > LG_ECHO_MAX))
        return;
    bool ping = el->kids && is(el->kids, "ping", NS_PING);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "<iq type='%s' id='", ping ? "result" : "error");
    put_escaped(&b, id);
    if (from) {
        buf_puts(&b, "' to='");
        put_escaped(&b, from);
    }
    if (ping)
        buf_puts(&b, "'/>");
    else
        buf_puts(&b, "'><error type='cancel'><service-unavailable xmlns='" NS_STANZAS
                     "'/></error></iq>");
    lgc_send_raw(c, (const char *)b.p, b.len);
    buf_free(&b);
}

static void on_ready_element(struct lg_conn *c, const struct lg_el *el)
{
    if (strcmp(el->name, "message") == 0) {
        c->ops->stanza_cb(c, el);
    } else if (strcmp(el->name, "iq") == 0) {
        const char *type = lg_el_attr(el, "type");
        if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0))
            answer_iq(c, el);
        else
            c->ops->stanza_cb(c, el);
    }
    /* Presence needs no answer. */
}

/* Features after TLS: register, or authenticate. */
static void features_after_tls(struct lg_conn *c, const struct lg_el *el)
{
    if (c->goal == LG_GOAL_REGISTER) {
        lgc_send_fmt(c, "<iq type='get' id='reg1'><query xmlns='" NS_REGISTER "'/></iq>");
        c->st = ST_REG_GET;
        return;
    }
    const struct lg_el *m = lg_el_child(el, "mechanisms");
    sasl_start(c, m && strcmp(m->ns, NS_SASL) == 0 ? m : NULL);
}

static void on_login_element(struct lg_conn *c, const struct lg_el *el)
{
    bool features = is(el, "features", NS_STREAMS);
    bool iq = strcmp(el->name, "iq") == 0;
    if (is(el, "failure", NS_SASL) || is(el, "failure", NS_TLS)) {
        lgc_fail(c, -ERR_AUTH, "<failure/>: %s", condition(el));
        return;
    }
    switch (c->st) {
    case ST_PLAIN_FEATURES:
        if (!features)
            break;
        if (lg_el_child(el, "starttls") == NULL) {
            lgc_fail(c, -ERR_TLS, "server offers no STARTTLS");
            break;
        }
        lgc_send_fmt(c, "<starttls xmlns='" NS_TLS "'/>");
        c->st = ST_STARTTLS;
        break;
    case ST_STARTTLS:
        if (is(el, "proceed", NS_TLS)) {
            lg_xml_restart(c->xml);
            lgc_tls_begin(c);
        }
        break;
    case ST_FEATURES:
        if (features)
            features_after_tls(c, el);
        break;
    case ST_SASL_FIRST:
        if (is(el, "challenge", NS_SASL))
            sasl_challenge(c, el);
        break;
    case ST_SASL_FINAL:
        if (is(el, "challenge", NS_SASL) || is(el, "success", NS_SASL))
            sasl_final(c, el);
        break;
    case ST_BOUND_FEATURES:
        if (features)
            bind_start(c, el);
        break;
    case ST_BIND:
        if (iq && lg_el_attr(el, "id") && strcmp(lg_el_attr(el, "id"), "bind1") == 0)
            bind_result(c, el);
        break;
    case ST_SESSION:
        if (!iq || !lg_el_attr(el, "id") || strcmp(lg_el_attr(el, "id"), "sess1") != 0)
            break;
        if (strcmp(lg_el_attr(el, "type") ? lg_el_attr(el, "type") : "", "result") == 0)
            lgc_ready(c);
        else
            lgc_fail(c, -ERR_AUTH, "session refused: %s", error_condition(el));
        break;
    case ST_REG_GET:
    case ST_REG_SET:
        if (iq)
            register_step(c, el);
        break;
    default:
        break; /* anything else before ready is ignored */
    }
}

void lgc_on_element(void *arg, struct lg_el *el)
{
    struct lg_conn *c = arg;
    if (c->dead)
        return;
    if (is(el, "error", NS_STREAMS)) {
        lgc_fail(c, -ERR_CLOSED, "stream error <%s/>", condition(el));
        return;
    }
    if (c->st == ST_READY)
        on_ready_element(c, el);
    else if (c->st != ST_CLOSING)
        on_login_element(c, el);
}

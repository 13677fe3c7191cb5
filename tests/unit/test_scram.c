/* test_scram: kernel/scram.c — the RFC 5802 §5 (SHA-1) and RFC 7677 §3
 * (SHA-256) example exchanges, byte for byte; the server state machine
 * refusing a wrong password, a tampered nonce, proof or channel binding,
 * an authzid for someone else, channel binding requests, and every kind of
 * malformed message; SASLprep of passwords and usernames; PLAIN checks
 * against stored credentials. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/md.h>

#include "kernel/err.h"
#include "kernel/scram.h"
#include "fixture.h"

/* RFC 5802 §5 (SHA-1). */
#define R1_FIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define R1_FIRST_BARE "n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define R1_SNONCE "3rfcNHYJY1ZVvWVs7j"
#define R1_NONCE "fyko+d2lbbFgONRv9qkxdawL" R1_SNONCE
#define R1_SALT "QSXCR+Q6sek8bf92"
#define R1_SERVER_FIRST "r=" R1_NONCE ",s=" R1_SALT ",i=4096"
#define R1_FINAL_NP "c=biws,r=" R1_NONCE
#define R1_FINAL R1_FINAL_NP ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define R1_V "rmF9pqV8S7suAoZWja4dJRkFsKQ="

/* RFC 7677 §3 (SHA-256). */
#define R2_FIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define R2_FIRST_BARE "n=user,r=rOprNGfwEbeRWgbNEkqO"
#define R2_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define R2_NONCE "rOprNGfwEbeRWgbNEkqO" R2_SNONCE
#define R2_SALT "W22ZaJ0SNY7soEsUEjb6gQ=="
#define R2_SERVER_FIRST "r=" R2_NONCE ",s=" R2_SALT ",i=4096"
#define R2_FINAL_NP "c=biws,r=" R2_NONCE
#define R2_FINAL R2_FINAL_NP ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define R2_V "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static size_t b64d(const char *s, uint8_t *out, size_t cap)
{
    size_t n = 0;
    ck_assert_int_eq(mbedtls_base64_decode(out, cap, &n, (const uint8_t *)s, strlen(s)), 0);
    return n;
}

static void expect_b64(const uint8_t *p, size_t n, const char *want)
{
    char s[128];
    size_t olen = 0;
    ck_assert_int_eq(mbedtls_base64_encode((uint8_t *)s, sizeof s, &olen, p, n), 0);
    ck_assert_str_eq(s, want);
}

/* Credentials for "pencil" with RFC 7677's 16-byte salt, 4096 iterations. */
static void pencil_creds(struct scram_creds *c)
{
    uint8_t salt[SCRAM_SALT_LEN];
    ck_assert_uint_eq(b64d(R2_SALT, salt, sizeof salt), SCRAM_SALT_LEN);
    ck_assert_int_eq(scram_creds_make(c, "pencil", salt, 4096), 0);
}

static int client_first(struct scram_server *s, const char *msg)
{
    return scram_server_client_first(s, msg, strlen(msg));
}

/* Runs client-first and server-first; returns server-first (free it). */
static char *start(struct scram_server *s, enum scram_hash h, const struct scram_creds *c,
                   const char *first, const char *snonce)
{
    scram_server_init(s, h);
    ck_assert_int_eq(client_first(s, first), 0);
    char *sf = scram_server_first(s, c, snonce);
    ck_assert_ptr_nonnull(sf);
    return sf;
}

/* What a client knowing `password` sends as client-final; sig gets the
 * ServerSignature it expects. */
static char *client_final(enum scram_hash h, const char *password, const struct scram_creds *c,
                          const char *first_bare, const char *sf, const char *final_np,
                          uint8_t sig[SCRAM_KEY_MAX])
{
    uint8_t salted[SCRAM_KEY_MAX];
    char *out = NULL;
    ck_assert_int_eq(
        scram_salted_password(h, password, c->salt, SCRAM_SALT_LEN, c->iter, salted), 0);
    ck_assert_int_eq(scram_client_final(h, salted, first_bare, sf, final_np, &out, sig), 0);
    return out;
}

static int server_final(struct scram_server *s, const char *msg, char **out)
{
    return scram_server_client_final(s, msg, strlen(msg), out);
}

START_TEST(hash_names_and_lengths)
{
    ck_assert_uint_eq(scram_hash_len(SCRAM_SHA1), 20);
    ck_assert_uint_eq(scram_hash_len(SCRAM_SHA256), 32);
    ck_assert_str_eq(scram_mech_name(SCRAM_SHA1), "SCRAM-SHA-1");
    ck_assert_str_eq(scram_mech_name(SCRAM_SHA256), "SCRAM-SHA-256");
}
END_TEST

START_TEST(rfc5802_client_proof_and_server_signature)
{
    uint8_t salt[16], salted[SCRAM_KEY_MAX], sig[SCRAM_KEY_MAX];
    size_t n = b64d(R1_SALT, salt, sizeof salt);
    char *out = NULL;
    ck_assert_int_eq(scram_salted_password(SCRAM_SHA1, "pencil", salt, n, 4096, salted), 0);
    ck_assert_int_eq(scram_client_final(SCRAM_SHA1, salted, R1_FIRST_BARE, R1_SERVER_FIRST,
                                        R1_FINAL_NP, &out, sig),
                     0);
    ck_assert_str_eq(out, R1_FINAL);
    expect_b64(sig, 20, R1_V);
    free(out);
}
END_TEST

START_TEST(rfc7677_client_proof_and_server_signature)
{
    uint8_t salt[16], salted[SCRAM_KEY_MAX], sig[SCRAM_KEY_MAX];
    size_t n = b64d(R2_SALT, salt, sizeof salt);
    char *out = NULL;
    ck_assert_int_eq(scram_salted_password(SCRAM_SHA256, "pencil", salt, n, 4096, salted), 0);
    ck_assert_int_eq(scram_client_final(SCRAM_SHA256, salted, R2_FIRST_BARE, R2_SERVER_FIRST,
                                        R2_FINAL_NP, &out, sig),
                     0);
    ck_assert_str_eq(out, R2_FINAL);
    expect_b64(sig, 32, R2_V);
    free(out);
}
END_TEST

/* The whole RFC 7677 exchange through the server, every message exact. */
START_TEST(rfc7677_exchange_through_server)
{
    struct scram_creds c;
    struct scram_server s;
    pencil_creds(&c);
    char *sf = start(&s, SCRAM_SHA256, &c, R2_FIRST, R2_SNONCE);
    ck_assert_str_eq(s.user, "user");
    ck_assert_str_eq(s.client_first_bare, R2_FIRST_BARE);
    ck_assert_str_eq(sf, R2_SERVER_FIRST);
    char *final = NULL;
    ck_assert_int_eq(server_final(&s, R2_FINAL, &final), 0);
    ck_assert_str_eq(final, "v=" R2_V);
    free(final);
    free(sf);
    scram_server_free(&s);
}
END_TEST

/* RFC 5802's salt is 12 bytes and ours are 16, so its server-first cannot
 * be reproduced; the same user, password, nonces and iterations with a
 * 16-byte salt check our SHA-1 keys and server path. */
START_TEST(rfc5802_exchange_through_server_with_16_byte_salt)
{
    struct scram_creds c;
    struct scram_server s;
    uint8_t sig[SCRAM_KEY_MAX];
    pencil_creds(&c);
    char *sf = start(&s, SCRAM_SHA1, &c, R1_FIRST, R1_SNONCE);
    ck_assert_str_eq(sf, "r=" R1_NONCE ",s=" R2_SALT ",i=4096");
    char *msg = client_final(SCRAM_SHA1, "pencil", &c, R1_FIRST_BARE, sf, R1_FINAL_NP, sig);
    char *final = NULL;
    ck_assert_int_eq(server_final(&s, msg, &final), 0);
    ck_assert_ptr_nonnull(final);
    ck_assert_int_eq(strncmp(final, "v=", 2), 0);
    uint8_t v[SCRAM_KEY_MAX];
    ck_assert_uint_eq(b64d(final + 2, v, sizeof v), 20);
    ck_assert_mem_eq(v, sig, 20);
    free(final);
    free(msg);
    free(sf);
    scram_server_free(&s);
}
END_TEST

START_TEST(wrong_password_is_refused)
{
    struct scram_creds c;
    struct scram_server s;
    uint8_t sig[SCRAM_KEY_MAX];
    pencil_creds(&c);
    char *sf = start(&s, SCRAM_SHA256, &c, R2_FIRST, R2_SNONCE);
    char *np = "c=biws,r=" R2_NONCE;
    char *msg = client_final(SCRAM_SHA256, "pencil2", &c, R2_FIRST_BARE, sf, np, sig);
    char *final = (char *)1;
    ck_assert_int_eq(server_final(&s, msg, &final), -ERR_AUTH);
    ck_assert_ptr_null(final);
    free(msg);
    free(sf);
    scram_server_free(&s);
}
END_TEST

/* Runs the RFC 7677 exchange with client-final replaced by `msg`. */
static int rfc7677_final_with(const char *msg)
{
    struct scram_creds c;
    struct scram_server s;
    pencil_creds(&c);
    char *sf = start(&s, SCRAM_SHA256, &c, R2_FIRST, R2_SNONCE);
    char *final = NULL;
    int rc = server_final(&s, msg, &final);
    if (rc)
        ck_assert_ptr_null(final);
    free(final);
    free(sf);
    scram_server_free(&s);
    return rc;
}

START_TEST(tampered_nonce_is_refused)
{
    /* Proof recomputed by an honest client for the wrong nonce, and the
     * RFC's own proof with the nonce cut or changed. */
    struct scram_creds c;
    struct scram_server s;
    uint8_t sig[SCRAM_KEY_MAX];
    pencil_creds(&c);
    char *sf = start(&s, SCRAM_SHA256, &c, R2_FIRST, R2_SNONCE);
    char *msg = client_final(SCRAM_SHA256, "pencil", &c, R2_FIRST_BARE, sf,
                             "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k1", sig);
    char *final = NULL;
    ck_assert_int_eq(server_final(&s, msg, &final), -ERR_AUTH);
    free(msg);
    free(sf);
    scram_server_free(&s);

    ck_assert_int_eq(rfc7677_final_with("c=biws,r=rOprNGfwEbeRWgbNEkqO,p="
                                        "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
                     -ERR_AUTH);
    ck_assert_int_eq(rfc7677_final_with("c=biws,r=" R2_NONCE "x,p="
                                        "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
                     -ERR_AUTH);
}
END_TEST

START_TEST(tampered_proof_is_refused)
{
    ck_assert_int_eq(rfc7677_final_with(R2_FINAL), 0); /* control */
    ck_assert_int_eq(rfc7677_final_with(R2_FINAL_NP
                                        ",p=eHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="),
                     -ERR_AUTH);
    /* A SHA-1-sized proof for a SHA-256 exchange. */
    ck_assert_int_eq(rfc7677_final_with(R2_FINAL_NP ",p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="), -ERR_AUTH);
    ck_assert_int_eq(rfc7677_final_with(R2_FINAL_NP ",p="), -ERR_AUTH);
}
END_TEST

/* c= must be base64 of the client's own gs2 header: "biws" is "n,,". */
START_TEST(channel_binding_data_must_match_gs2_header)
{
    struct scram_creds c;
    struct scram_server s;
    uint8_t sig[SCRAM_KEY_MAX];
    pencil_creds(&c);
    /* "eSws" is "y,,": a proof computed over it still fails. */
    char *sf = start(&s, SCRAM_SHA256, &c, R2_FIRST, R2_SNONCE);
    char *msg = client_final(SCRAM_SHA256, "pencil", &c, R2_FIRST_BARE, sf, "c=eSws,r=" R2_NONCE, sig);
    char *final = NULL;
    ck_assert_int_eq(server_final(&s, msg, &final), -ERR_AUTH);
    free(msg);
    free(sf);
    scram_server_free(&s);

    /* Client said "y": then "eSws" is right and "biws" is wrong. */
    sf = start(&s, SCRAM_SHA256, &c, "y,,n=user,r=abc", "srv");
    msg = client_final(SCRAM_SHA256, "pencil", &c, "n=user,r=abc", sf, "c=eSws,r=abcsrv", sig);
    ck_assert_int_eq(server_final(&s, msg, &final), 0);
    ck_assert_ptr_nonnull(final);
    free(final);
    free(msg);
    free(sf);
    scram_server_free(&s);

    sf = start(&s, SCRAM_SHA256, &c, "y,,n=user,r=abc", "srv");
    msg = client_final(SCRAM_SHA256, "pencil", &c, "n=user,r=abc", sf, "c=biws,r=abcsrv", sig);
    ck_assert_int_eq(server_final(&s, msg, &final), -ERR_AUTH);
    free(msg);
    free(sf);
    scram_server_free(&s);
}
END_TEST

START_TEST(channel_binding_request_is_refused)
{
    struct scram_server s;
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(client_first(&s, "p=tls-unique,,n=user,r=abc"), -ERR_AUTH);
    ck_assert_ptr_null(s.user);
    scram_server_free(&s);
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(client_first(&s, "p=tls-exporter,a=user,n=user,r=abc"), -ERR_AUTH);
    scram_server_free(&s);
}
END_TEST

START_TEST(authzid_must_be_the_user)
{
    struct scram_creds c;
    struct scram_server s;
    uint8_t sig[SCRAM_KEY_MAX];
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(client_first(&s, "n,a=admin,n=user,r=abc"), -ERR_AUTH);
    ck_assert_ptr_null(s.user);
    scram_server_free(&s);
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(client_first(&s, "n,a=user@example.com,n=user,r=abc"), -ERR_AUTH);
    scram_server_free(&s);

    /* The same name is fine, and c= then carries it: "n,a=user,". */
    pencil_creds(&c);
    char *sf = start(&s, SCRAM_SHA256, &c, "n,a=user,n=user,r=abc", "srv");
    char *msg = client_final(SCRAM_SHA256, "pencil", &c, "n=user,r=abc", sf,
                             "c=bixhPXVzZXIs,r=abcsrv", sig);
    char *final = NULL;
    ck_assert_int_eq(server_final(&s, msg, &final), 0);
    free(final);
    free(msg);
    free(sf);
    scram_server_free(&s);
}
END_TEST

START_TEST(saslname_escapes_are_decoded)
{
    struct scram_server s;
    scram_server_init(&s, SCRAM_SHA1);
    ck_assert_int_eq(client_first(&s, "n,a=a=2Cb=3Dc,n=a=2Cb=3Dc,r=abc"), 0);
    ck_assert_str_eq(s.user, "a,b=c");
    ck_assert_str_eq(s.client_first_bare, "n=a=2Cb=3Dc,r=abc");
    scram_server_free(&s);
}
END_TEST

START_TEST(malformed_client_first_is_refused)
{
    static const char *const bad[] = {
        "n",
        "n,",
        "n,,",
        "x,,n=user,r=abc",    /* unknown gs2 flag */
        "n,,r=abc",           /* no username */
        "n,,n=user",          /* no nonce */
        "n,,n=user,",         /* empty after the username */
        "n,,n=,r=abc",        /* empty saslname */
        "n,,n=user,r=",       /* empty nonce */
        "n,,n=us=2cer,r=abc", /* escapes are upper case */
        "n,,n=us=2Xer,r=abc", /* unknown escape */
        "n,,n=us=er,r=abc",   /* bare '=' */
        "n,,n=user=,r=abc",   /* '=' at the end */
        "n,,n=user,r=a b",    /* space in the nonce */
        "n,,n=user,r=a\x7f",  /* DEL in the nonce */
        "n,,n=user,r=abc,",   /* trailing comma */
        "n,,n=user,r=abc,x",  /* extension without '=' */
        "n,,n=user,r=abc,x=", /* extension without a value */
        "n,,n=user,r=abc,1=x",          /* extension name not ALPHA */
        "n,,m=ext,n=user,r=abc",        /* mandatory extension */
        "n,a=,n=user,r=abc",            /* empty authzid */
        "n,b=x,n=user,r=abc",           /* not an authzid */
        "n,a=user,x,n=user,r=abc",      /* junk in the gs2 header */
        "p=,,n=user,r=abc",             /* empty cb-name */
        "p=tls unique,,n=user,r=abc",   /* bad cb-name */
        "y,n=user,r=abc",               /* one comma short */
        " n,,n=user,r=abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct scram_server s;
        scram_server_init(&s, SCRAM_SHA256);
        int rc = client_first(&s, bad[i]);
        ck_assert_msg(rc == -ERR_PARSE, "'%s' gave %d", bad[i], rc);
        ck_assert_ptr_null(s.user);
        scram_server_free(&s);
    }
}
END_TEST

START_TEST(nul_and_oversized_messages_are_refused)
{
    struct scram_server s;
    static const char nul[] = "n,,n=us\0er,r=abc";
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(scram_server_client_first(&s, nul, sizeof nul - 1), -ERR_PARSE);
    ck_assert_int_eq(scram_server_client_first(&s, "", 0), -ERR_PARSE);

    char big[5000] = "n,,n=user,r=abc,x=";
    memset(big + strlen(big), 'a', sizeof big - strlen(big) - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(client_first(&s, big), -ERR_PARSE);
    big[4096] = '\0'; /* the limit exactly: fine */
    ck_assert_int_eq(client_first(&s, big), 0);
    scram_server_free(&s);

    /* A NUL in client-final, with the rest of the RFC message around it. */
    static const char fin[] = "c=biws,r=" R2_NONCE ",p=dHzbZapWIk4jUhN+Ute9\0tag9zjfMHgsqmmiz7AndVQ=";
    struct scram_creds c;
    pencil_creds(&c);
    char *sf = start(&s, SCRAM_SHA256, &c, R2_FIRST, R2_SNONCE);
    char *final = NULL;
    ck_assert_int_eq(scram_server_client_final(&s, fin, sizeof fin - 1, &final), -ERR_PARSE);
    free(sf);
    scram_server_free(&s);
}
END_TEST

START_TEST(client_nonce_length_is_limited)
{
    struct scram_server s;
    char msg[128];
    char nonce[65];
    memset(nonce, 'n', 64);
    nonce[64] = '\0';
    scram_server_init(&s, SCRAM_SHA256);
    snprintf(msg, sizeof msg, "n,,n=user,r=%s", nonce);
    ck_assert_int_eq(client_first(&s, msg), -ERR_PARSE);
    nonce[63] = '\0';
    snprintf(msg, sizeof msg, "n,,n=user,r=%s", nonce);
    ck_assert_int_eq(client_first(&s, msg), 0);
    scram_server_free(&s);
}
END_TEST

START_TEST(extensions_are_ignored)
{
    struct scram_creds c;
    struct scram_server s;
    uint8_t sig[SCRAM_KEY_MAX];
    pencil_creds(&c);
    char *sf = start(&s, SCRAM_SHA256, &c, "n,,n=user,r=abc,x=1,y=a=b", "srv");
    ck_assert_str_eq(s.client_first_bare, "n=user,r=abc,x=1,y=a=b");
    /* An extension in client-final is part of the signed AuthMessage. */
    char *msg = client_final(SCRAM_SHA256, "pencil", &c, s.client_first_bare, sf,
                             "c=biws,r=abcsrv,z=zz", sig);
    char *final = NULL;
    ck_assert_int_eq(server_final(&s, msg, &final), 0);
    free(final);
    free(msg);
    free(sf);
    scram_server_free(&s);
}
END_TEST

START_TEST(malformed_client_final_is_refused)
{
    static const char *const bad[] = {
        "",
        "r=" R2_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", /* no c= */
        "c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",        /* no r= */
        R2_FINAL_NP,                                                      /* no proof */
        R2_FINAL_NP ",",
        "c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,r=" R2_NONCE,
        R2_FINAL ",x=1",                                                  /* proof not last */
        R2_FINAL_NP ",x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", /* bad extension */
        "c=biw,r=" R2_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",   /* short */
        "c=bi=s,r=" R2_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",  /* '=' inside */
        "c=bi ws,r=" R2_NONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", /* space */
        R2_FINAL_NP ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ",    /* no padding */
        R2_FINAL_NP ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndV=Q",   /* bad padding */
        R2_FINAL_NP ",p=dHzbZapWIk4jUhN-Ute9ytag9zjfMHgsqmmiz7AndVQ=",   /* URL alphabet */
        "c=biws,r=,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",     /* empty nonce */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = rfc7677_final_with(bad[i]);
        ck_assert_msg(rc == -ERR_PARSE, "'%s' gave %d", bad[i], rc);
    }
}
END_TEST

/* SASLprep (RFC 4013): non-ASCII spaces become ' ', soft hyphens vanish,
 * NFKC applies; so these passwords are the same password. */
START_TEST(creds_check_applies_saslprep)
{
    struct scram_creds c;
    uint8_t salt[SCRAM_SALT_LEN] = {1, 2, 3};
    ck_assert_int_eq(scram_creds_make(&c, "a\xc2\xa0" "b", salt, SCRAM_ITER_MIN), 0);
    ck_assert_int_eq(scram_creds_check(&c, "a b"), 0);
    ck_assert_int_eq(scram_creds_check(&c, "a\xc2\xad b"), 0);
    ck_assert_int_eq(scram_creds_check(&c, "ab"), -ERR_AUTH);
    ck_assert_int_eq(scram_creds_make(&c, "\xe2\x85\xa8", salt, SCRAM_ITER_MIN), 0); /* Ⅸ */
    ck_assert_int_eq(scram_creds_check(&c, "IX"), 0);
}
END_TEST

START_TEST(plain_password_checked_against_stored_keys)
{
    struct scram_creds c;
    pencil_creds(&c);
    ck_assert_int_eq(scram_creds_check(&c, "pencil"), 0);
    ck_assert_int_eq(scram_creds_check(&c, "Pencil"), -ERR_AUTH);
    ck_assert_int_eq(scram_creds_check(&c, "pencil "), -ERR_AUTH);
    ck_assert_int_eq(scram_creds_check(&c, ""), -ERR_AUTH);
    ck_assert_int_eq(scram_creds_check(&c, "penc\x01il"), -ERR_AUTH);
    ck_assert_int_eq(scram_creds_check(&c, "penc\xffil"), -ERR_AUTH);
    struct scram_creds other = c;
    other.salt[0] ^= 1;
    ck_assert_int_eq(scram_creds_check(&other, "pencil"), -ERR_AUTH);
    other = c;
    other.key[SCRAM_SHA256].stored[31] ^= 1;
    ck_assert_int_eq(scram_creds_check(&other, "pencil"), -ERR_AUTH);
}
END_TEST

/* Both hashes come from one salt and iteration count, by RFC 5802 §3:
 * StoredKey = H(HMAC(SaltedPassword, "Client Key")), ServerKey =
 * HMAC(SaltedPassword, "Server Key"), recomputed here with mbedTLS. SHA-1
 * keys fill 20 bytes and leave the rest zero. */
START_TEST(creds_make_fills_both_hashes)
{
    struct scram_creds c;
    uint8_t salt[SCRAM_SALT_LEN], zero[SCRAM_KEY_MAX] = {0};
    pencil_creds(&c);
    ck_assert_uint_eq(c.iter, 4096);
    ck_assert_uint_eq(b64d(R2_SALT, salt, sizeof salt), SCRAM_SALT_LEN);
    ck_assert_mem_eq(c.salt, salt, SCRAM_SALT_LEN);
    for (int h = 0; h < SCRAM_HASH_COUNT_; h++) {
        size_t hl = scram_hash_len((enum scram_hash)h);
        const mbedtls_md_info_t *md =
            mbedtls_md_info_from_type(h == SCRAM_SHA1 ? MBEDTLS_MD_SHA1 : MBEDTLS_MD_SHA256);
        uint8_t salted[SCRAM_KEY_MAX], ck[SCRAM_KEY_MAX], stored[SCRAM_KEY_MAX], server[SCRAM_KEY_MAX];
        ck_assert_int_eq(
            scram_salted_password((enum scram_hash)h, "pencil", salt, sizeof salt, 4096, salted), 0);
        ck_assert_int_eq(mbedtls_md_hmac(md, salted, hl, (const uint8_t *)"Client Key", 10, ck), 0);
        ck_assert_int_eq(mbedtls_md(md, ck, hl, stored), 0);
        ck_assert_int_eq(mbedtls_md_hmac(md, salted, hl, (const uint8_t *)"Server Key", 10, server), 0);
        ck_assert_mem_eq(c.key[h].stored, stored, hl);
        ck_assert_mem_eq(c.key[h].server, server, hl);
        ck_assert_mem_eq(c.key[h].stored + hl, zero, SCRAM_KEY_MAX - hl);
        ck_assert_mem_eq(c.key[h].server + hl, zero, SCRAM_KEY_MAX - hl);
    }
}
END_TEST

START_TEST(creds_make_refuses_bad_input)
{
    struct scram_creds c;
    uint8_t salt[SCRAM_SALT_LEN] = {0};
    ck_assert_int_eq(scram_creds_make(&c, "pencil", salt, SCRAM_ITER_MIN - 1), -ERR_CRYPTO);
    ck_assert_int_eq(scram_creds_make(&c, "", salt, SCRAM_ITER_MIN), -ERR_INVAL);
    ck_assert_int_eq(scram_creds_make(&c, "\xc2\xad", salt, SCRAM_ITER_MIN), -ERR_INVAL);
    ck_assert_int_eq(scram_creds_make(&c, "pen\x01" "cil", salt, SCRAM_ITER_MIN), -ERR_INVAL);
    ck_assert_int_eq(scram_creds_make(&c, "pen\xc0\xaf" "cil", salt, SCRAM_ITER_MIN), -ERR_INVAL);
    /* U+0221 was unassigned in Unicode 3.2: refused in a stored string. */
    ck_assert_int_eq(scram_creds_make(&c, "pen\xc8\xa1", salt, SCRAM_ITER_MIN), -ERR_INVAL);
    ck_assert_uint_eq(c.iter, 0); /* nothing half-made is left behind */
}
END_TEST

/* The username goes through SASLprep; ASCII is unchanged. */
START_TEST(username_is_saslprepped)
{
    struct scram_server s;
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(client_first(&s, "n,,n=\xe2\x85\xa8,r=abc"), 0); /* Ⅸ */
    ck_assert_str_eq(s.user, "IX");
    ck_assert_str_eq(s.client_first_bare, "n=\xe2\x85\xa8,r=abc"); /* AuthMessage keeps it raw */
    scram_server_free(&s);
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(client_first(&s, "n,,n=Juliet Capulet,r=abc"), 0);
    ck_assert_str_eq(s.user, "Juliet Capulet");
    scram_server_free(&s);
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(client_first(&s, "n,,n=a\x01" "b,r=abc"), -ERR_AUTH);
    scram_server_free(&s);
    scram_server_init(&s, SCRAM_SHA256);
    ck_assert_int_eq(client_first(&s, "n,,n=a\xff,r=abc"), -ERR_AUTH);
    scram_server_free(&s);
}
END_TEST

START_TEST(free_is_safe_twice_and_resets)
{
    struct scram_server s;
    scram_server_init(&s, SCRAM_SHA1);
    ck_assert_int_eq(client_first(&s, R1_FIRST), 0);
    scram_server_free(&s);
    ck_assert_ptr_null(s.user);
    ck_assert_ptr_null(s.client_first_bare);
    ck_assert_int_eq(s.hash, SCRAM_SHA1);
    scram_server_free(&s);
    ck_assert_int_eq(client_first(&s, R1_FIRST), 0); /* usable again */
    scram_server_free(&s);
}
END_TEST

static Suite *scram_suite(void)
{
    Suite *s = suite_create("scram");
    TCase *t = tcase_create("core");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, hash_names_and_lengths);
    tcase_add_test(t, rfc5802_client_proof_and_server_signature);
    tcase_add_test(t, rfc7677_client_proof_and_server_signature);
    tcase_add_test(t, rfc7677_exchange_through_server);
    tcase_add_test(t, rfc5802_exchange_through_server_with_16_byte_salt);
    tcase_add_test(t, wrong_password_is_refused);
    tcase_add_test(t, tampered_nonce_is_refused);
    tcase_add_test(t, tampered_proof_is_refused);
    tcase_add_test(t, channel_binding_data_must_match_gs2_header);
    tcase_add_test(t, channel_binding_request_is_refused);
    tcase_add_test(t, authzid_must_be_the_user);
    tcase_add_test(t, saslname_escapes_are_decoded);
    tcase_add_test(t, malformed_client_first_is_refused);
    tcase_add_test(t, nul_and_oversized_messages_are_refused);
    tcase_add_test(t, client_nonce_length_is_limited);
    tcase_add_test(t, extensions_are_ignored);
    tcase_add_test(t, malformed_client_final_is_refused);
    tcase_add_test(t, creds_check_applies_saslprep);
    tcase_add_test(t, plain_password_checked_against_stored_keys);
    tcase_add_test(t, creds_make_fills_both_hashes);
    tcase_add_test(t, creds_make_refuses_bad_input);
    tcase_add_test(t, username_is_saslprepped);
    tcase_add_test(t, free_is_safe_twice_and_resets);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    return run_suite(scram_suite());
}

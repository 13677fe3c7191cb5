/* test_tls_sign: kernel/tls_sign.c. A key handed to libcrypto must sign
 * exactly as mbedTLS would be asked to (DER ECDSA-Sig-Value that mbedTLS
 * verifies with the public key), refuse what it cannot take without
 * touching the key, and a TLS server built on a self-signed certificate
 * must say that libcrypto signs. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/ecp.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>

#include "kernel/tls.h"
#include "kernel/tls_sign.h"
#include "fixture.h"

static int test_rng(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    rng_bytes(out, n);
    return 0;
}

/* A fresh EC key on curve, and a context holding only its public half. */
static void ec_pair(mbedtls_ecp_group_id curve, mbedtls_pk_context *key, mbedtls_pk_context *pub)
{
    mbedtls_pk_init(key);
    mbedtls_pk_init(pub);
    ck_assert_int_eq(mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY)), 0);
    ck_assert_int_eq(mbedtls_ecp_gen_key(curve, mbedtls_pk_ec(*key), test_rng, NULL), 0);
    unsigned char der[256];
    int n = mbedtls_pk_write_pubkey_der(key, der, sizeof der);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(mbedtls_pk_parse_public_key(pub, der + sizeof der - n, (size_t)n), 0);
}

static void fill_hash(unsigned char *h, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++)
        h[i] = (unsigned char)(seed * 31 + i * 7);
}

/* Signs with key and checks that mbedTLS accepts the signature with pub,
 * and rejects it for another hash. */
static void sign_and_verify(mbedtls_pk_context *key, mbedtls_pk_context *pub, mbedtls_md_type_t md,
                            size_t hlen, unsigned seed, unsigned char *sig /* OUT */,
                            size_t *len /* OUT */)
{
    unsigned char h[64];
    fill_hash(h, hlen, seed);
    ck_assert_int_eq(mbedtls_pk_sign(key, md, h, hlen, sig, len, test_rng, NULL), 0);
    ck_assert_int_gt(*len, 0);
    ck_assert_int_le(*len, MBEDTLS_PK_SIGNATURE_MAX_SIZE);
    ck_assert_int_eq(sig[0], 0x30); /* DER SEQUENCE { r, s } */
    ck_assert_int_eq(mbedtls_pk_verify(pub, md, h, hlen, sig, *len), 0);
    h[0] ^= 1;
    ck_assert_int_ne(mbedtls_pk_verify(pub, md, h, hlen, sig, *len), 0);
}

START_TEST(test_p256_signatures_verify_and_nonces_differ)
{
    mbedtls_pk_context key, pub;
    ec_pair(MBEDTLS_ECP_DP_SECP256R1, &key, &pub);
    char why[64] = "";
    ck_assert_int_eq(tls_sign_offload(&key, &pub, why, sizeof why), 0);
    ck_assert_int_eq(mbedtls_pk_get_type(&key), MBEDTLS_PK_ECDSA);
    ck_assert_int_eq(mbedtls_pk_get_bitlen(&key), 256);
    ck_assert(mbedtls_pk_can_do(&key, MBEDTLS_PK_ECDSA));
    unsigned char first[MBEDTLS_PK_SIGNATURE_MAX_SIZE], sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t first_len = 0, len = 0;
    sign_and_verify(&key, &pub, MBEDTLS_MD_SHA256, 32, 1, first, &first_len);
    for (unsigned i = 0; i < 50; i++) {
        sign_and_verify(&key, &pub, MBEDTLS_MD_SHA256, 32, 1, sig, &len);
        /* The same hash signed twice: a random nonce gives another r. */
        ck_assert(len != first_len || memcmp(sig, first, len) != 0);
    }
    /* TLS 1.2 may pair P-256 with SHA-384 or SHA-512: the hash is cut to
     * the order's length, as RFC 6979 / SEC 1 say, by both libraries. */
    sign_and_verify(&key, &pub, MBEDTLS_MD_SHA384, 48, 2, sig, &len);
    sign_and_verify(&key, &pub, MBEDTLS_MD_SHA512, 64, 3, sig, &len);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pub);
}
END_TEST

START_TEST(test_p384_key_is_taken_too)
{
    mbedtls_pk_context key, pub;
    ec_pair(MBEDTLS_ECP_DP_SECP384R1, &key, &pub);
    char why[64] = "";
    ck_assert_int_eq(tls_sign_offload(&key, &pub, why, sizeof why), 0);
    ck_assert_int_eq(mbedtls_pk_get_bitlen(&key), 384);
    unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len = 0;
    sign_and_verify(&key, &pub, MBEDTLS_MD_SHA384, 48, 4, sig, &len);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pub);
}
END_TEST

START_TEST(test_mismatched_public_key_leaves_key_to_mbedtls)
{
    mbedtls_pk_context key, pub, other, other_pub;
    ec_pair(MBEDTLS_ECP_DP_SECP256R1, &key, &pub);
    ec_pair(MBEDTLS_ECP_DP_SECP256R1, &other, &other_pub);
    char why[64] = "";
    ck_assert_int_eq(tls_sign_offload(&key, &other_pub, why, sizeof why), -1);
    ck_assert_str_eq(why, "a libcrypto signature did not verify");
    /* Untouched: still mbedTLS's EC key, still signing for its own pub. */
    ck_assert_int_eq(mbedtls_pk_get_type(&key), MBEDTLS_PK_ECKEY);
    unsigned char sig[MBEDTLS_PK_SIGNATURE_MAX_SIZE];
    size_t len = 0;
    sign_and_verify(&key, &pub, MBEDTLS_MD_SHA256, 32, 5, sig, &len);
    mbedtls_pk_free(&key);
    mbedtls_pk_free(&pub);
    mbedtls_pk_free(&other);
    mbedtls_pk_free(&other_pub);
}
END_TEST

START_TEST(test_rsa_key_stays_with_mbedtls)
{
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    ck_assert_int_eq(mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_RSA)), 0);
    ck_assert_int_eq(mbedtls_rsa_gen_key(mbedtls_pk_rsa(key), test_rng, NULL, 1024, 65537), 0);
    char why[64] = "";
    ck_assert_int_eq(tls_sign_offload(&key, &key, why, sizeof why), -1);
    ck_assert_str_eq(why, "the key is not an EC key");
    ck_assert_int_eq(mbedtls_pk_get_type(&key), MBEDTLS_PK_RSA);
    mbedtls_pk_free(&key);
}
END_TEST

START_TEST(test_server_on_selfsigned_cert_signs_with_libcrypto)
{
    char dir[] = "/tmp/test_tls_sign.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    int made = 0;
    ck_assert_int_eq(tls_make_selfsigned(cert, key, "example.org", &made), 0);
    struct tls_server *s = NULL;
    struct tls_server_opts o = {.cert_path = cert, .key_path = key, .ticket_lifetime_s = 3600};
    char err[256] = "";
    ck_assert_int_eq(tls_server_new(&s, &o, err, sizeof err), 0);
    ck_assert_str_eq(tls_server_signer(s), "libcrypto");
    tls_server_free(s);
    unlink(cert);
    unlink(key);
    rmdir(dir);
}
END_TEST

static Suite *tls_sign_suite(void)
{
    Suite *s = suite_create("tls_sign");
    TCase *tc = tcase_create("sign");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_p256_signatures_verify_and_nonces_differ);
    tcase_add_test(tc, test_p384_key_is_taken_too);
    tcase_add_test(tc, test_mismatched_public_key_leaves_key_to_mbedtls);
    tcase_add_test(tc, test_rsa_key_stays_with_mbedtls);
    tcase_add_test(tc, test_server_on_selfsigned_cert_signs_with_libcrypto);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return run_suite(tls_sign_suite());
}

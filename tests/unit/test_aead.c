/* test_aead: AES-256-GCM through libcrypto (journal/aead.h).
 *
 * The journal, the erasure keys and the snapshots were sealed with
 * mbedTLS's GCM before aead.c; files written then must still open, so
 * every seal here is compared byte for byte with mbedTLS's on the same
 * key, nonce, AAD and plaintext (lengths around the 16-byte block and the
 * sizes the journal uses), and mbedTLS's output must open. Also: the
 * NIST/McGrew-Viega vector (test case 16), in-place use, and that a
 * flipped bit anywhere (nonce, AAD, body, tag) fails and leaves no
 * plaintext. */
#include <check.h>
#include <mbedtls/gcm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "journal/aead.h"
#include "kernel/err.h"
#include "fixture.h"

/* Deterministic bytes: the test must not depend on a random source. */
static void fill(uint8_t *p, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        p[i] = (uint8_t)x;
    }
}

static void mbed_seal(const uint8_t *key, const uint8_t *nonce, const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
    mbedtls_gcm_context g;
    mbedtls_gcm_init(&g);
    ck_assert_int_eq(mbedtls_gcm_setkey(&g, MBEDTLS_CIPHER_ID_AES, key, 256), 0);
    ck_assert_int_eq(mbedtls_gcm_crypt_and_tag(&g, MBEDTLS_GCM_ENCRYPT, n, nonce, AEAD_NONCE_BYTES,
                                               aad, aad_len, in, out, AEAD_TAG_BYTES, tag),
                     0);
    mbedtls_gcm_free(&g);
}

static void unhex(const char *s, uint8_t *out)
{
    for (size_t i = 0; s[2 * i]; i++) {
        unsigned v;
        ck_assert_int_eq(sscanf(s + 2 * i, "%2x", &v), 1);
        out[i] = (uint8_t)v;
    }
}

START_TEST(test_known_answer)
{
    uint8_t key[32], nonce[12], aad[20], pt[60], ct[60], tag[16], want_ct[60], want_tag[16];
    unhex("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", key);
    unhex("cafebabefacedbaddecaf888", nonce);
    unhex("feedfacedeadbeeffeedfacedeadbeefabaddad2", aad);
    unhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
          "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", pt);
    unhex("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
          "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662", want_ct);
    unhex("76fc6ece0f4e1768cddf8853bb2d551b", want_tag);
    struct aead a;
    ck_assert_int_eq(aead_init(&a, key), 0);
    ck_assert_int_eq(aead_seal(&a, nonce, aad, sizeof aad, pt, sizeof pt, ct, tag), 0);
    ck_assert_mem_eq(ct, want_ct, sizeof ct);
    ck_assert_mem_eq(tag, want_tag, sizeof tag);
    aead_free(&a);
    ck_assert_int_eq(aead_seal_once(key, nonce, aad, sizeof aad, pt, sizeof pt, ct, tag), 0);
    ck_assert_mem_eq(ct, want_ct, sizeof ct);
    ck_assert_mem_eq(tag, want_tag, sizeof tag);
}
END_TEST

START_TEST(test_same_bytes_as_mbedtls)
{
    static const size_t lens[] = {0, 1, 15, 16, 17, 31, 32, 33, 64, 100, 255, 256, 1000, 4096,
                                  65536 + 7, 1u << 20};
    static const size_t aad_lens[] = {0, 13, 44, 76};
    size_t max = 1u << 20;
    uint8_t *in = malloc(max), *mine = malloc(max), *theirs = malloc(max), *back = malloc(max);
    ck_assert(in && mine && theirs && back);
    for (size_t li = 0; li < sizeof lens / sizeof *lens; li++) {
        for (size_t ai = 0; ai < sizeof aad_lens / sizeof *aad_lens; ai++) {
            uint8_t key[32], nonce[12], aad[76], t1[16], t2[16];
            size_t n = lens[li], al = aad_lens[ai];
            uint32_t seed = (uint32_t)(li * 16 + ai);
            fill(key, sizeof key, seed), fill(nonce, sizeof nonce, seed + 1000);
            fill(aad, sizeof aad, seed + 2000), fill(in, n, seed + 3000);
            struct aead a;
            ck_assert_int_eq(aead_init(&a, key), 0);
            ck_assert_int_eq(aead_seal(&a, nonce, aad, al, in, n, mine, t1), 0);
            mbed_seal(key, nonce, aad, al, in, n, theirs, t2);
            ck_assert_msg(memcmp(mine, theirs, n) == 0 && memcmp(t1, t2, 16) == 0,
                          "len %zu aad %zu: ciphertext or tag differs from mbedTLS", n, al);
            ck_assert_int_eq(aead_open(&a, nonce, aad, al, theirs, n, back, t2), 0);
            ck_assert_msg(memcmp(back, in, n) == 0, "len %zu: mbedTLS output opens", n);
            aead_free(&a);
            ck_assert_int_eq(aead_open_once(key, nonce, aad, al, theirs, n, back, t2), 0);
            ck_assert_msg(memcmp(back, in, n) == 0, "len %zu: opens once", n);
        }
    }
    free(in), free(mine), free(theirs), free(back);
}
END_TEST

START_TEST(test_in_place_and_context_reuse)
{
    uint8_t key[32], nonce[12], aad[44], msg[300], buf[300], tag[16], tag2[16], ref[300];
    fill(key, sizeof key, 7), fill(aad, sizeof aad, 8), fill(msg, sizeof msg, 9);
    struct aead a;
    ck_assert_int_eq(aead_init(&a, key), 0);
    /* One context, many messages, seals and opens interleaved. */
    for (uint32_t i = 0; i < 50; i++) {
        fill(nonce, sizeof nonce, 100 + i);
        size_t n = (size_t)(i * 6);
        memcpy(buf, msg, n);
        ck_assert_int_eq(aead_seal(&a, nonce, aad, sizeof aad, buf, n, buf, tag), 0);
        mbed_seal(key, nonce, aad, sizeof aad, msg, n, ref, tag2);
        ck_assert(memcmp(buf, ref, n) == 0 && memcmp(tag, tag2, 16) == 0);
        ck_assert_int_eq(aead_open(&a, nonce, aad, sizeof aad, buf, n, buf, tag), 0);
        ck_assert(memcmp(buf, msg, n) == 0);
    }
    aead_free(&a);
}
END_TEST

START_TEST(test_any_flipped_bit_fails_and_leaves_no_plaintext)
{
    uint8_t key[32], nonce[12], aad[44], msg[40], ct[40], out[40], tag[16];
    fill(key, sizeof key, 11), fill(nonce, sizeof nonce, 12), fill(aad, sizeof aad, 13);
    memset(msg, 'x', sizeof msg);
    struct aead a;
    ck_assert_int_eq(aead_init(&a, key), 0);
    ck_assert_int_eq(aead_seal(&a, nonce, aad, sizeof aad, msg, sizeof msg, ct, tag), 0);
    uint8_t *parts[] = {nonce, aad, ct, tag};
    size_t sizes[] = {sizeof nonce, sizeof aad, sizeof ct, sizeof tag};
    for (size_t p = 0; p < 4; p++) {
        for (size_t bit = 0; bit < sizes[p] * 8; bit += 5) {
            parts[p][bit / 8] ^= (uint8_t)(1u << bit % 8);
            memset(out, 'x', sizeof out);
            ck_assert_int_eq(aead_open(&a, nonce, aad, sizeof aad, ct, sizeof ct, out, tag),
                             -ERR_CORRUPT);
            for (size_t i = 0; i < sizeof out; i++)
                ck_assert_int_eq(out[i], 0);
            parts[p][bit / 8] ^= (uint8_t)(1u << bit % 8);
        }
    }
    ck_assert_int_eq(aead_open(&a, nonce, aad, sizeof aad, ct, sizeof ct, out, tag), 0);
    ck_assert_mem_eq(out, msg, sizeof msg);
    aead_free(&a);
    /* A wrong key fails too. */
    key[0] ^= 1;
    ck_assert_int_eq(aead_open_once(key, nonce, aad, sizeof aad, ct, sizeof ct, out, tag),
                     -ERR_CORRUPT);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("aead");
    TCase *t = tcase_create("gcm");
    tcase_add_test(t, test_known_answer);
    tcase_add_test(t, test_same_bytes_as_mbedtls);
    tcase_add_test(t, test_in_place_and_context_reuse);
    tcase_add_test(t, test_any_flipped_bit_fails_and_leaves_no_plaintext);
    suite_add_tcase(s, t);
    return run_suite(s);
}

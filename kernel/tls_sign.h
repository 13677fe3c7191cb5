/* tls_sign: the server's ECDSA key signs TLS handshakes through libcrypto
 * instead of mbedTLS's bignum code (see tls_sign.c for why and how). */
#ifndef STANZAD_TLS_SIGN_H
#define STANZAD_TLS_SIGN_H

#include <stddef.h>

#include <mbedtls/pk.h>

/* Makes key, an EC private key that pub (the certificate's public key)
 * matches, sign through libcrypto. Returns 0, or -1 with a reason in why
 * and key untouched: it then keeps signing with mbedTLS. */
int tls_sign_offload(mbedtls_pk_context *key, mbedtls_pk_context *pub, char *why,
                     size_t whylen);

#endif

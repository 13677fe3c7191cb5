/* tls_cert: the self-signed certificate maker declared in tls.h
 * (tls_make_selfsigned), kept apart from the TLS pipe in tls.c.
 *
 * A fresh install needs a certificate before an operator brings one, so
 * the server makes an ECDSA P-256 key and a self-signed X.509 v3
 * certificate (RFC 5280) for its domain: subject CN=domain, subjectAltName
 * dNSName domain and *.domain (§4.2.1.6; XMPP services such as MUC live on
 * subdomains), basicConstraints CA:false, keyUsage digitalSignature (all
 * an ECDHE_ECDSA server signs), extKeyUsage serverAuth and clientAuth,
 * SHA-256 signature, random serial, valid from a day ago for ten years.
 * The key is written 0600 through a temp file, fsync and rename, so a
 * crash never leaves half a key or a key others could read. */
#include "kernel/tls.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/asn1.h>
#include <mbedtls/asn1write.h>
#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pem.h>
#include <mbedtls/pk.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/x509_crt.h>

#include "kernel/err.h"
#include "kernel/fileio.h"
#include "kernel/mem.h"

/* Longest domain accepted (RFC 1035 name length); longer is -ERR_INVAL. */
#define TLS_DOMAIN_MAX 253
/* Room for one PEM object we write: a P-256 key is ~230 bytes and our
 * certificate ~800; a bigger output makes mbedTLS fail the write. */
#define TLS_PEM_MAX 4096
/* Room for our certificate in DER (~500 bytes), as built and as fixed. */
#define TLS_DER_MAX 2048
/* Room for one DER extension value we build (SAN, EKU). */
#define TLS_EXT_MAX (2 * TLS_DOMAIN_MAX + 64)
/* Length of the random certificate serial (RFC 5280 §4.1.2.2 allows 20). */
#define TLS_SERIAL_LEN 16
/* Certificate validity: from a day ago (clients with a slow clock) to ten
 * years ahead (a self-signed certificate is pinned, not renewed). */
#define TLS_CERT_BACKDATE_S (24 * 60 * 60)
#define TLS_CERT_YEARS 10

/* The f_rng for mbedTLS: the process-wide generator of tls.c. */
static int cert_rng(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    rng_bytes(out, n);
    return 0;
}

/* Creates the missing directories above path, each with mode 0700. */
static int mkdir_parents(const char *path)
{
    char tmp[PATH_MAX];
    if (strlen(path) >= sizeof tmp)
        return -ENAMETOOLONG;
    strcpy(tmp, path);
    for (char *s = strchr(tmp + 1, '/'); s != NULL; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return -errno;
        *s = '/';
    }
    return 0;
}

/* Makes a rename into path's directory durable. */
static int fsync_parent(const char *path)
{
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        strcpy(dir, ".");
    else if (slash == path)
        strcpy(dir, "/");
    else
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

/* Writes path so that a crash leaves either the old file or the whole new
 * one. mkostemp creates the temp file 0600, so a key is never readable by
 * others, not even for a moment. */
static int write_atomic(const char *path, const void *data, size_t n, mode_t mode)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fchmod(fd, mode) == 0 ? 0 : -errno;
    if (rc == 0)
        rc = fileio_write_all(fd, data, n);
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rc;
    }
    return fsync_parent(path);
}

/* Letters, digits, '-' and '.', no empty label: it also goes into the
 * subject name string, where ',' '=' '+' would be syntax. */
static int domain_ok(const char *d)
{
    size_t n = strlen(d);
    if (n == 0 || n > TLS_DOMAIN_MAX || d[0] == '.' || d[n - 1] == '.' || strstr(d, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char ch = d[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                 (ch >= '0' && ch <= '9') || ch == '-' || ch == '.';
        if (!ok)
            return 0;
    }
    return 1;
}

/* Wraps the `inner` bytes just written before *p into a SEQUENCE. */
static int der_seq(unsigned char **p, unsigned char *start, size_t inner)
{
    int a = mbedtls_asn1_write_len(p, start, inner);
    if (a < 0)
        return a;
    int b = mbedtls_asn1_write_tag(p, start, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (b < 0)
        return b;
    return (int)inner + a + b;
}

/* Writes one GeneralName dNSName: [2] IMPLICIT IA5String. */
static int der_dns_name(unsigned char **p, unsigned char *start, const char *name)
{
    size_t n = strlen(name);
    int a = mbedtls_asn1_write_raw_buffer(p, start, (const unsigned char *)name, n);
    if (a < 0)
        return a;
    int b = mbedtls_asn1_write_len(p, start, n);
    if (b < 0)
        return b;
    int c = mbedtls_asn1_write_tag(p, start,
                                   MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_X509_SAN_DNS_NAME);
    if (c < 0)
        return c;
    return a + b + c;
}

/* subjectAltName (RFC 5280 §4.2.1.6): SEQUENCE { dNSName domain, dNSName
 * *.domain }. mbedTLS 2.28 has no setter, so it is written here, from the
 * end of buf backwards as mbedtls_asn1_write_* do; *der points into buf. */
static int der_san(const char *domain, unsigned char *buf, size_t cap,
                   unsigned char **der /* OUT */)
{
    char wild[TLS_DOMAIN_MAX + 3];
    snprintf(wild, sizeof wild, "*.%s", domain);
    unsigned char *p = buf + cap;
    int b = der_dns_name(&p, buf, wild);
    if (b < 0)
        return b;
    int a = der_dns_name(&p, buf, domain);
    if (a < 0)
        return a;
    int len = der_seq(&p, buf, (size_t)(a + b));
    *der = p;
    return len;
}

/* extKeyUsage (RFC 5280 §4.2.1.12): serverAuth, and clientAuth because
 * s2s peers present the same certificate as clients (XEP-0178). */
static int der_eku(unsigned char *buf, size_t cap, unsigned char **der /* OUT */)
{
    unsigned char *p = buf + cap;
    int a = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_CLIENT_AUTH,
                                   MBEDTLS_OID_SIZE(MBEDTLS_OID_CLIENT_AUTH));
    if (a < 0)
        return a;
    int b = mbedtls_asn1_write_oid(&p, buf, MBEDTLS_OID_SERVER_AUTH,
                                   MBEDTLS_OID_SIZE(MBEDTLS_OID_SERVER_AUTH));
    if (b < 0)
        return b;
    int len = der_seq(&p, buf, (size_t)(a + b));
    *der = p;
    return len;
}

/* Formats t as mbedTLS wants validity times: "YYYYMMDDhhmmss" UTC. */
static void cert_time(time_t t, char out[15])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    size_t n = strftime(out, 15, "%Y%m%d%H%M%S", &tm);
    assert(n == 14);
}

static int cert_validity(mbedtls_x509write_cert *crt)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    tm.tm_year += TLS_CERT_YEARS;
    time_t until = timegm(&tm); /* normalises 29 February to 1 March */
    char from_s[15], until_s[15];
    cert_time(now - TLS_CERT_BACKDATE_S, from_s);
    cert_time(until, until_s);
    return mbedtls_x509write_crt_set_validity(crt, from_s, until_s);
}

static int cert_serial(mbedtls_x509write_cert *crt)
{
    unsigned char raw[TLS_SERIAL_LEN];
    rng_bytes(raw, sizeof raw);
    raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x40); /* positive, full length */
    mbedtls_mpi serial;
    mbedtls_mpi_init(&serial);
    int rc = mbedtls_mpi_read_binary(&serial, raw, sizeof raw);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_serial(crt, &serial);
    mbedtls_mpi_free(&serial);
    return rc;
}

static int cert_extensions(mbedtls_x509write_cert *crt, const char *domain)
{
    unsigned char buf[TLS_EXT_MAX];
    unsigned char *der;
    int rc = mbedtls_x509write_crt_set_basic_constraints(crt, 0, -1);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_key_usage(crt, MBEDTLS_X509_KU_DIGITAL_SIGNATURE);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_subject_key_identifier(crt);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_authority_key_identifier(crt);
    if (rc != 0)
        return rc;
    int n = der_san(domain, buf, sizeof buf, &der);
    if (n < 0)
        return n;
    rc = mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
                                             MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
                                             der, (size_t)n);
    if (rc != 0)
        return rc;
    n = der_eku(buf, sizeof buf, &der);
    if (n < 0)
        return n;
    return mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_EXTENDED_KEY_USAGE,
                                               MBEDTLS_OID_SIZE(MBEDTLS_OID_EXTENDED_KEY_USAGE), 0,
                                               der, (size_t)n);
}

/* ecdsa-with-SHA256 (RFC 5758 §3.2) as mbedTLS 2.28.3 writes it, with a
 * NULL parameter, and as it must be, with the parameter absent. */
static const unsigned char ALG_WITH_NULL[] = {0x30, 0x0c, 0x06, 0x08, 0x2a, 0x86, 0x48,
                                              0xce, 0x3d, 0x04, 0x03, 0x02, 0x05, 0x00};
static const unsigned char ALG_ABSENT[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                           0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

/* Finds the signature AlgorithmIdentifier inside the TBSCertificate of
 * der: [tbs, tbs_end) are the TBS contents and alg is where it starts. */
static int der_find_sig_alg(const unsigned char *der, size_t len, unsigned char **tbs,
                            unsigned char **tbs_end, unsigned char **alg)
{
    unsigned char *p = (unsigned char *)der, *end = p + len;
    size_t n;
    int rc = mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (rc == 0)
        rc = mbedtls_asn1_get_tag(&p, end, &n, MBEDTLS_ASN1_CONSTRUCTED | MBEDTLS_ASN1_SEQUENCE);
    if (rc != 0)
        return rc;
    *tbs = p;
    *tbs_end = p + n;
    rc = mbedtls_asn1_get_tag(&p, *tbs_end, &n,
                              MBEDTLS_ASN1_CONTEXT_SPECIFIC | MBEDTLS_ASN1_CONSTRUCTED | 0);
    if (rc != 0)
        return rc;
    p += n; /* version */
    rc = mbedtls_asn1_get_tag(&p, *tbs_end, &n, MBEDTLS_ASN1_INTEGER);
    if (rc != 0)
        return rc;
    *alg = p + n; /* after the serial number */
    return 0;
}

/* mbedTLS 2.28.3 (fixed upstream in 2.28.4, Mbed-TLS/mbedtls#2924) puts a
 * NULL parameter in the ECDSA AlgorithmIdentifier; RFC 5758 §3.2 says it
 * MUST be absent, and strict verifiers (Chrome, rustls/webpki, wolfSSL)
 * refuse such a certificate. So: rebuild the TBS without it, sign that
 * again, and write the Certificate (RFC 5280 §4.1) around it into out,
 * backwards. *cert points into out. Returns its length or an mbedTLS
 * error. A DER already without the NULL is only copied. */
static int der_fix_sig_alg(mbedtls_pk_context *key, const unsigned char *der, size_t len,
                           unsigned char *out, size_t cap, unsigned char **cert /* OUT */)
{
    unsigned char *tbs, *tbs_end, *alg, *w = out + cap;
    int rc = der_find_sig_alg(der, len, &tbs, &tbs_end, &alg);
    if (rc != 0)
        return rc;
    if ((size_t)(tbs_end - alg) < sizeof ALG_WITH_NULL ||
        memcmp(alg, ALG_WITH_NULL, sizeof ALG_WITH_NULL) != 0) {
        rc = mbedtls_asn1_write_raw_buffer(&w, out, der, len);
        *cert = w;
        return rc;
    }
    const unsigned char *rest = alg + sizeof ALG_WITH_NULL;
    unsigned char tbs_buf[TLS_DER_MAX], *t = tbs_buf + sizeof tbs_buf;
    size_t tbs_len = (size_t)(tbs_end - rest) + sizeof ALG_ABSENT + (size_t)(alg - tbs);
    if (mbedtls_asn1_write_raw_buffer(&t, tbs_buf, rest, (size_t)(tbs_end - rest)) < 0 ||
        mbedtls_asn1_write_raw_buffer(&t, tbs_buf, ALG_ABSENT, sizeof ALG_ABSENT) < 0 ||
        mbedtls_asn1_write_raw_buffer(&t, tbs_buf, tbs, (size_t)(alg - tbs)) < 0)
        return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
    rc = der_seq(&t, tbs_buf, tbs_len);
    if (rc < 0)
        return rc;
    tbs_len = (size_t)rc;
    unsigned char hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t sig_len = 0;
    rc = mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), t, tbs_len, hash);
    if (rc == 0)
        rc = mbedtls_pk_sign(key, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, &sig_len, cert_rng,
                             NULL);
    if (rc != 0)
        return rc;
    if (mbedtls_asn1_write_bitstring(&w, out, sig, sig_len * 8) < 0 ||
        mbedtls_asn1_write_raw_buffer(&w, out, ALG_ABSENT, sizeof ALG_ABSENT) < 0 ||
        mbedtls_asn1_write_raw_buffer(&w, out, t, tbs_len) < 0)
        return MBEDTLS_ERR_ASN1_BUF_TOO_SMALL;
    rc = der_seq(&w, out, (size_t)(out + cap - w));
    *cert = w;
    return rc;
}

/* Sets every field of the certificate except the signature. */
static int cert_fields(mbedtls_x509write_cert *crt, mbedtls_pk_context *key, const char *domain)
{
    char name[TLS_DOMAIN_MAX + 4];
    snprintf(name, sizeof name, "CN=%s", domain);
    mbedtls_x509write_crt_set_version(crt, MBEDTLS_X509_CRT_VERSION_3);
    mbedtls_x509write_crt_set_md_alg(crt, MBEDTLS_MD_SHA256);
    mbedtls_x509write_crt_set_subject_key(crt, key);
    mbedtls_x509write_crt_set_issuer_key(crt, key);
    int rc = mbedtls_x509write_crt_set_subject_name(crt, name);
    if (rc == 0)
        rc = mbedtls_x509write_crt_set_issuer_name(crt, name);
    if (rc == 0)
        rc = cert_serial(crt);
    if (rc == 0)
        rc = cert_validity(crt);
    if (rc == 0)
        rc = cert_extensions(crt, domain);
    return rc;
}

/* Signs a certificate for key, issued by itself, into pem (NUL-ended). */
static int cert_write(mbedtls_pk_context *key, const char *domain, unsigned char *pem,
                      size_t cap)
{
    unsigned char *der = xmalloc(2 * TLS_DER_MAX), *fixed = der + TLS_DER_MAX, *cert = NULL;
    mbedtls_x509write_cert crt;
    mbedtls_x509write_crt_init(&crt);
    int rc = cert_fields(&crt, key, domain);
    /* len: bytes of DER, or an mbedTLS error; the DER ends at der's end. */
    int len = rc == 0 ? mbedtls_x509write_crt_der(&crt, der, TLS_DER_MAX, cert_rng, NULL) : rc;
    if (len > 0)
        len = der_fix_sig_alg(key, der + TLS_DER_MAX - len, (size_t)len, fixed, TLS_DER_MAX, &cert);
    size_t olen;
    if (len > 0)
        rc = mbedtls_pem_write_buffer("-----BEGIN CERTIFICATE-----\n",
                                      "-----END CERTIFICATE-----\n", cert, (size_t)len, pem, cap,
                                      &olen);
    else
        rc = len < 0 ? len : MBEDTLS_ERR_X509_BAD_INPUT_DATA;
    mbedtls_x509write_crt_free(&crt);
    free(der);
    return rc;
}

/* Makes the key and certificate PEMs in memory; nothing touches disk. */
static int selfsigned_pems(const char *domain, unsigned char *key_pem, unsigned char *crt_pem)
{
    mbedtls_pk_context key;
    mbedtls_pk_init(&key);
    int rc = mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
    if (rc == 0)
        rc = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key), cert_rng, NULL);
    if (rc == 0)
        rc = mbedtls_pk_write_key_pem(&key, key_pem, TLS_PEM_MAX);
    if (rc == 0)
        rc = cert_write(&key, domain, crt_pem, TLS_PEM_MAX);
    mbedtls_pk_free(&key);
    return rc;
}

int tls_make_selfsigned(const char *cert_path, const char *key_path, const char *domain,
                        int *made /* OUT */)
{
    *made = 0;
    if (access(cert_path, F_OK) == 0 && access(key_path, F_OK) == 0)
        return 0;
    if (!domain_ok(domain))
        return -ERR_INVAL;
    unsigned char *key_pem = xcalloc(1, TLS_PEM_MAX);
    unsigned char *crt_pem = xcalloc(1, TLS_PEM_MAX);
    int rc = selfsigned_pems(domain, key_pem, crt_pem) == 0 ? 0 : -ERR_CRYPTO;
    if (rc == 0)
        rc = mkdir_parents(key_path);
    if (rc == 0)
        rc = mkdir_parents(cert_path);
    /* Key first: a crash between the two leaves the certificate missing,
     * so the next start makes a fresh pair instead of a mismatched one. */
    if (rc == 0)
        rc = write_atomic(key_path, key_pem, strlen((char *)key_pem), 0600);
    if (rc == 0)
        rc = write_atomic(cert_path, crt_pem, strlen((char *)crt_pem), 0644);
    mbedtls_platform_zeroize(key_pem, TLS_PEM_MAX);
    free(key_pem);
    free(crt_pem);
    if (rc == 0)
        *made = 1;
    return rc;
}

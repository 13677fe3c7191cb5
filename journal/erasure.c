/* erasure: see erasure.h. */
#include "journal/erasure.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/aead.h"
#include "kernel/err.h"
#include "kernel/fileio.h"
#include "kernel/le.h"
#include "kernel/map.h"
#include "kernel/mem.h"
#include "kernel/tls.h"

#define ERASURE_MAGIC "STZERAS1"
#define ERASURE_VERSION 1
#define HEADER_BYTES 16
#define SLOT_BYTES (8 + ERASURE_KEY_LEN)
#define SLOTS_MAX (1u << 26) /* 2.5 GiB of table: far past any sane backlog */
#define HKDF_INFO_WRAP "stanzad erasure wrap v1"

struct slot {
    uint64_t seq; /* 0: free */
    uint8_t wrapped[ERASURE_KEY_LEN];
};

struct erasure {
    char *path;
    int fd;
    int readonly;
    uint8_t wrap_key[32];
    struct slot *slots;
    uint32_t nslots, cap;
    uint32_t *free_v; /* free slot indices, used as a stack */
    uint32_t nfree, free_cap;
    struct map by_seq; /* seq -> slot index + 1 (keys in the table) */
    struct map ephemeral; /* seq -> struct slot * (keys only in memory) */
    struct erasure_writes *pending;
    atomic_int dirty; /* a slot was overwritten since the last sync */
};

struct erasure_writes {
    uint32_t n, cap;
    uint32_t *idx;
    struct slot *v; /* what to write at idx[i] */
};

/* ---- keys ---- */

static void pad_for(const struct erasure *e, uint64_t seq, uint8_t out[32])
{
    uint8_t msg[12] = {'s', 'l', 'o', 't'};
    le_put64(msg + 4, seq);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (mbedtls_md_hmac(md, e->wrap_key, sizeof e->wrap_key, msg, sizeof msg, out) != 0)
        abort(); /* SHA-256 HMAC on fixed inputs cannot fail */
}

static void xor_key(uint8_t *out, const uint8_t *a, const uint8_t *b)
{
    for (size_t i = 0; i < ERASURE_KEY_LEN; i++)
        out[i] = a[i] ^ b[i];
}

/* The IV need not be secret; with a fresh key per record any fixed IV is
 * safe, and the seq in it ties the ciphertext to its record. */
static void iv_for(uint64_t seq, uint8_t iv[12])
{
    memset(iv, 0, 12);
    le_put64(iv, seq);
}

_Static_assert(ERASURE_KEY_LEN == AEAD_KEY_BYTES && ERASURE_TAG_LEN == AEAD_TAG_BYTES,
               "data keys are AES-256-GCM keys (aead.h)");

static int gcm(int encrypt, const uint8_t key[32], uint64_t seq, const uint8_t *in, size_t n,
               uint8_t *out, uint8_t tag[ERASURE_TAG_LEN])
{
    uint8_t iv[AEAD_NONCE_BYTES];
    iv_for(seq, iv);
    return encrypt ? aead_seal_once(key, iv, NULL, 0, in, n, out, tag)
                   : aead_open_once(key, iv, NULL, 0, in, n, out, tag);
}

/* ---- slots ---- */

static void slot_bytes(const struct slot *s, uint8_t out[SLOT_BYTES])
{
    le_put64(out, s->seq);
    memcpy(out + 8, s->wrapped, ERASURE_KEY_LEN);
}

static int slot_pwrite(struct erasure *e, uint32_t idx, const struct slot *s)
{
    uint8_t b[SLOT_BYTES];
    slot_bytes(s, b);
    off_t off = (off_t)HEADER_BYTES + (off_t)idx * SLOT_BYTES;
    ssize_t w = pwrite(e->fd, b, sizeof b, off);
    mbedtls_platform_zeroize(b, sizeof b);
    if (w == (ssize_t)sizeof b)
        return 0;
    return w < 0 ? -errno : -EIO;
}

/* A new slot at the end of the table. */
static uint32_t slot_append(struct erasure *e)
{
    if (e->nslots == e->cap) {
        if (e->cap >= SLOTS_MAX)
            abort(); /* millions of undelivered messages: quotas failed */
        e->cap = e->cap ? e->cap * 2 : 256;
        e->slots = xrealloc(e->slots, e->cap * sizeof *e->slots);
    }
    memset(&e->slots[e->nslots], 0, sizeof e->slots[0]);
    return e->nslots++;
}

static uint32_t slot_reserve(struct erasure *e)
{
    return e->nfree ? e->free_v[--e->nfree] : slot_append(e);
}

static void slot_free(struct erasure *e, uint32_t idx)
{
    mbedtls_platform_zeroize(&e->slots[idx], sizeof e->slots[idx]);
    if (e->nfree == e->free_cap) {
        e->free_cap = e->free_cap ? e->free_cap * 2 : 64;
        e->free_v = xrealloc(e->free_v, e->free_cap * sizeof *e->free_v);
    }
    e->free_v[e->nfree++] = idx;
}

/* ---- open and close ---- */

static int load(struct erasure *e, char *errbuf, size_t errlen)
{
    struct stat st;
    if (fstat(e->fd, &st) != 0)
        return err_fail(errbuf, errlen, -errno, "erasure: %s: %s", e->path, strerror(errno));
    uint8_t hdr[HEADER_BYTES];
    if (st.st_size == 0) {
        if (e->readonly)
            return 0;
        memcpy(hdr, ERASURE_MAGIC, 8);
        le_put32(hdr + 8, ERASURE_VERSION);
        le_put32(hdr + 12, SLOT_BYTES);
        int rc = fileio_write_all(e->fd, hdr, sizeof hdr);
        if (rc == 0 && fsync(e->fd) != 0)
            rc = -errno;
        return rc ? err_fail(errbuf, errlen, rc, "erasure: %s: cannot create: %s", e->path,
                             err_str(rc))
                  : 0;
    }
    if ((uint64_t)st.st_size < HEADER_BYTES ||
        ((uint64_t)st.st_size - HEADER_BYTES) % SLOT_BYTES != 0 ||
        ((uint64_t)st.st_size - HEADER_BYTES) / SLOT_BYTES > SLOTS_MAX)
        return err_fail(errbuf, errlen, -ERR_CORRUPT, "erasure: %s: size %lld is not a key table",
                        e->path, (long long)st.st_size);
    uint8_t *all = xmalloc((size_t)st.st_size);
    ssize_t got = pread(e->fd, all, (size_t)st.st_size, 0);
    int rc = 0;
    if (got != st.st_size)
        rc = err_fail(errbuf, errlen, got < 0 ? -errno : -EIO, "erasure: %s: short read", e->path);
    else if (memcmp(all, ERASURE_MAGIC, 8) != 0 || le_get32(all + 8) != ERASURE_VERSION ||
             le_get32(all + 12) != SLOT_BYTES)
        rc = err_fail(errbuf, errlen, -ERR_VERSION, "erasure: %s: not a version %d key table",
                      e->path, ERASURE_VERSION);
    uint32_t n = (uint32_t)(((uint64_t)st.st_size - HEADER_BYTES) / SLOT_BYTES);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        const uint8_t *p = all + HEADER_BYTES + (size_t)i * SLOT_BYTES;
        uint32_t idx = slot_append(e); /* slot i on disk is slot i here */
        e->slots[idx].seq = le_get64(p);
        memcpy(e->slots[idx].wrapped, p + 8, ERASURE_KEY_LEN);
        if (e->slots[idx].seq == 0) {
            slot_free(e, idx);
        } else if (map_uget(&e->by_seq, e->slots[idx].seq)) {
            rc = err_fail(errbuf, errlen, -ERR_CORRUPT, "erasure: %s: offset %llu: seq %llu has "
                          "two keys", e->path, (unsigned long long)(p - all),
                          (unsigned long long)e->slots[idx].seq);
        } else {
            map_uput(&e->by_seq, e->slots[idx].seq, (void *)(uintptr_t)(idx + 1));
        }
    }
    mbedtls_platform_zeroize(all, (size_t)st.st_size);
    free(all);
    return rc;
}

int erasure_open(struct erasure **out, const char *dir, const uint8_t master[32], int readonly,
                 char *errbuf, size_t errlen)
{
    *out = NULL;
    struct erasure *e = xcalloc(1, sizeof *e);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, ERASURE_FILE);
    e->path = xstrdup(path);
    e->readonly = readonly != 0;
    map_init_u64(&e->by_seq);
    map_init_u64(&e->ephemeral);
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    if (mbedtls_hkdf(md, NULL, 0, master, 32, (const uint8_t *)HKDF_INFO_WRAP,
                     sizeof HKDF_INFO_WRAP - 1, e->wrap_key, sizeof e->wrap_key) != 0)
        abort();
    e->fd = open(path, readonly ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    int rc = 0;
    if (e->fd < 0 && !(readonly && errno == ENOENT)) /* read-only and none: no keys held */
        rc = err_fail(errbuf, errlen, -errno, "erasure: %s: %s", path, strerror(errno));
    if (rc == 0 && e->fd >= 0)
        rc = load(e, errbuf, errlen);
    if (rc) {
        erasure_close(e);
        return rc;
    }
    *out = e;
    return 0;
}

void erasure_close(struct erasure *e)
{
    if (!e)
        return;
    if (e->fd >= 0) {
        if (!e->readonly)
            (void)fdatasync(e->fd); /* destroys since the last commit */
        close(e->fd);
    }
    erasure_writes_free(e->pending);
    mbedtls_platform_zeroize(e->wrap_key, sizeof e->wrap_key);
    if (e->slots)
        mbedtls_platform_zeroize(e->slots, e->cap * sizeof *e->slots);
    free(e->slots);
    free(e->free_v);
    map_free(&e->by_seq);
    const struct map_slot *ms;
    for (size_t i = 0; map_next(&e->ephemeral, &i, &ms);) {
        mbedtls_platform_zeroize(ms->val, sizeof(struct slot));
        free(ms->val);
    }
    map_free(&e->ephemeral);
    free(e->path);
    free(e);
}

/* ---- seal, unseal, destroy ---- */

static void pending_add(struct erasure *e, uint32_t idx, const struct slot *s)
{
    struct erasure_writes *w = e->pending;
    if (!w)
        w = e->pending = xcalloc(1, sizeof *w);
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 64;
        w->idx = xrealloc(w->idx, w->cap * sizeof *w->idx);
        w->v = xrealloc(w->v, w->cap * sizeof *w->v);
    }
    w->idx[w->n] = idx;
    w->v[w->n++] = *s;
}

void erasure_seal(struct erasure *e, uint64_t seq, int durable, const uint8_t *p, size_t n,
                  struct buf *out)
{
    uint8_t key[ERASURE_KEY_LEN], pad[32], tag[ERASURE_TAG_LEN];
    rng_bytes(key, sizeof key);
    size_t at = out->len;
    buf_reserve(out, n + ERASURE_TAG_LEN);
    if (out->err || gcm(1, key, seq, p, n, out->p + at, tag) != 0)
        abort(); /* out of memory or AES failing on valid input: not recoverable */
    out->len = at + n;
    buf_put(out, tag, sizeof tag);
    if (durable) {
        pad_for(e, seq, pad); /* only a key that reaches the disk is wrapped */
        uint32_t idx = slot_reserve(e);
        e->slots[idx].seq = seq;
        xor_key(e->slots[idx].wrapped, key, pad);
        map_uput(&e->by_seq, seq, (void *)(uintptr_t)(idx + 1));
        pending_add(e, idx, &e->slots[idx]);
    } else {
        struct slot *s = xmalloc(sizeof *s);
        s->seq = seq;
        memcpy(s->wrapped, key, sizeof key); /* memory only: held as is */
        map_uput(&e->ephemeral, seq, s);
    }
    mbedtls_platform_zeroize(key, sizeof key);
    mbedtls_platform_zeroize(pad, sizeof pad);
}

int erasure_unseal(struct erasure *e, uint64_t seq, const uint8_t *p, size_t n, struct buf *out)
{
    uintptr_t v = (uintptr_t)map_uget(&e->by_seq, seq);
    const struct slot *s = v ? &e->slots[v - 1] : map_uget(&e->ephemeral, seq);
    if (!s)
        return -ERR_NOTFOUND;
    if (n < ERASURE_TAG_LEN)
        return -ERR_CORRUPT;
    uint8_t key[ERASURE_KEY_LEN], pad[32] = {0};
    if (v)
        pad_for(e, seq, pad);
    xor_key(key, s->wrapped, pad);
    size_t len = n - ERASURE_TAG_LEN;
    buf_reset(out);
    buf_reserve(out, len + 1);
    int rc = out->err ? -ERR_NOMEM : gcm(0, key, seq, p, len, out->p, (uint8_t *)p + len);
    mbedtls_platform_zeroize(key, sizeof key);
    mbedtls_platform_zeroize(pad, sizeof pad);
    if (rc)
        return rc == -ERR_NOMEM ? rc : -ERR_CORRUPT;
    out->len = len;
    return 0;
}

int erasure_destroy(struct erasure *e, uint64_t seq)
{
    struct slot *s = map_udel(&e->ephemeral, seq);
    if (s) {
        mbedtls_platform_zeroize(s, sizeof *s);
        free(s);
        return 1;
    }
    uintptr_t v = (uintptr_t)map_udel(&e->by_seq, seq);
    if (!v)
        return 0;
    uint32_t idx = (uint32_t)(v - 1);
    slot_free(e, idx);
    int rc = e->readonly ? -ERR_READONLY : slot_pwrite(e, idx, &e->slots[idx]);
    atomic_store(&e->dirty, 1);
    return rc ? rc : 1;
}

int erasure_holds(const struct erasure *e, uint64_t seq)
{
    return map_uget(&e->by_seq, seq) != NULL || map_uget(&e->ephemeral, seq) != NULL;
}

size_t erasure_count(const struct erasure *e) { return e->by_seq.len + e->ephemeral.len; }

void erasure_each(const struct erasure *e, void (*cb)(void *arg, uint64_t seq), void *arg)
{
    for (uint32_t i = 0; i < e->nslots; i++)
        if (e->slots[i].seq)
            cb(arg, e->slots[i].seq);
    const struct map_slot *ms;
    for (size_t i = 0; map_next(&e->ephemeral, &i, &ms);)
        cb(arg, ((const struct slot *)ms->val)->seq);
}

/* ---- the commit's half ---- */

struct erasure_writes *erasure_take(struct erasure *e)
{
    struct erasure_writes *w = e->pending;
    e->pending = NULL;
    return w;
}

int erasure_write(struct erasure *e, const struct erasure_writes *w, int sync)
{
    if (e->readonly)
        return -ERR_READONLY;
    for (uint32_t i = 0; w && i < w->n; i++) {
        int rc = slot_pwrite(e, w->idx[i], &w->v[i]);
        if (rc)
            return rc;
    }
    /* Sync when a new key must survive a crash, or a destroyed one must
     * be gone from the disk too; an idle table costs no fsync. */
    int dirty = atomic_exchange(&e->dirty, 0);
    if (sync && (dirty || (w && w->n)) && fdatasync(e->fd) != 0) {
        atomic_store(&e->dirty, 1);
        return -errno;
    }
    return 0;
}

void erasure_writes_free(struct erasure_writes *w)
{
    if (!w)
        return;
    if (w->v)
        mbedtls_platform_zeroize(w->v, w->cap * sizeof *w->v);
    free(w->idx);
    free(w->v);
    free(w);
}

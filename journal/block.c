/* block: encoding of one segment header or one block of the journal.
 *
 * Layout, grammar and the rule for a valid block: doc/formats/journal.md;
 * offsets: block.h. Records are framed with a CRC32C, the record area is
 * LZ4-compressed when that shrinks it, and the body is sealed with
 * AES-256-GCM (aead.c) under a per-segment key derived with HKDF-SHA256,
 * the block header being the additional authenticated data. */
#include "journal/block.h"

#include <assert.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/err.h"
#include "kernel/le.h"
#include "kernel/mem.h"

#define HKDF_INFO_SEGMENT "stanzad journal v1 segment key"
#define HKDF_INFO_KEY_CHECK "stanzad journal v1 key check"
#define CRC32C_POLY_REFLECTED 0x82F63B78u

/* ---- CRC32C ---- */

static uint32_t crc_table[8][256];
static int crc_have_sse42;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY_REFLECTED : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

/* Slicing-by-8: eight table lookups per 8 input bytes. */
uint32_t crc32c_sw(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (n >= 8) {
        uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                           (uint32_t)p[3] << 24);
        uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
                      (uint32_t)p[7] << 24;
        c = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
            crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^ crc_table[3][hi & 0xff] ^
            crc_table[2][(hi >> 8) & 0xff] ^ crc_table[1][(hi >> 16) & 0xff] ^
            crc_table[0][hi >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        c = (c >> 8) ^ crc_table[0][(c ^ *p++) & 0xff];
    return ~c;
}

#if defined(__x86_64__)
/* The SSE4.2 crc32 instruction computes exactly CRC32C; the target
 * attribute lets this one function use it without -msse4.2 for the file. */
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t n)
{
    uint64_t c = ~crc;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        n -= 8;
    }
    uint32_t c32 = (uint32_t)c;
    while (n--)
        c32 = __builtin_ia32_crc32qi(c32, *p++);
    return ~c32;
}
#endif

uint32_t crc32c(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
#if defined(__x86_64__)
    if (crc_have_sse42)
        return crc32c_hw(crc, data, n);
#endif
    return crc32c_sw(crc, data, n);
}

/* ---- little-endian helpers for fixed offsets ---- */

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* ---- keys ---- */

static int hkdf(const uint8_t master[JOURNAL_KEY_LEN], const uint8_t *salt, size_t salt_len,
                const char *info, uint8_t *out, size_t n)
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    int rc = mbedtls_hkdf(md, salt, salt_len, master, JOURNAL_KEY_LEN, (const uint8_t *)info,
                          strlen(info), out, n);
    return rc ? -ERR_CRYPTO : 0;
}

int journal_key_check(const uint8_t master[JOURNAL_KEY_LEN], uint8_t out[SEG_KEY_CHECK_BYTES])
{
    return hkdf(master, NULL, 0, HKDF_INFO_KEY_CHECK, out, SEG_KEY_CHECK_BYTES);
}

int seg_key_init(struct seg_key *k, const uint8_t master[JOURNAL_KEY_LEN],
                 const uint8_t id[SEG_ID_BYTES])
{
    uint8_t sk[AEAD_KEY_BYTES];
    k->aead.ctx = NULL;
    int rc = hkdf(master, id, SEG_ID_BYTES, HKDF_INFO_SEGMENT, sk, sizeof sk);
    if (rc == 0)
        rc = aead_init(&k->aead, sk);
    mbedtls_platform_zeroize(sk, sizeof sk);
    return rc;
}

void seg_key_free(struct seg_key *k) { aead_free(&k->aead); }

/* ---- segment header ---- */

/* The header's GMAC uses a nonce no block can have: blocks start 00000000. */
static const uint8_t seg_hdr_nonce[BLOCK_NONCE_BYTES] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

int seg_header_encode(const struct seg_header *h, const struct seg_key *k,
                      const uint8_t master[JOURNAL_KEY_LEN], uint8_t out[SEG_HDR_BYTES])
{
    assert(h->first_seq >= 1);
    memset(out, 0, SEG_HDR_BYTES);
    memcpy(out, SEG_MAGIC, SEG_MAGIC_BYTES);
    le_put16(out + SEG_OFF_VERSION, JOURNAL_FORMAT_VERSION);
    le_put16(out + SEG_OFF_FLAGS, 0);
    le_put64(out + SEG_OFF_FIRST_SEQ, h->first_seq);
    memcpy(out + SEG_OFF_ID, h->id, SEG_ID_BYTES);
    int rc = journal_key_check(master, out + SEG_OFF_KEY_CHECK);
    if (rc)
        return rc;
    if ((rc = aead_seal(&k->aead, seg_hdr_nonce, out, SEG_OFF_TAG, NULL, 0, NULL,
                        out + SEG_OFF_TAG)))
        return rc;
    le_put32(out + SEG_OFF_CRC, crc32c(0, out, SEG_OFF_CRC));
    return 0;
}

int seg_header_decode(const uint8_t in[SEG_HDR_BYTES], const uint8_t master[JOURNAL_KEY_LEN],
                      struct seg_header *h, struct seg_key *k, const char **why)
{
    uint8_t kcv[SEG_KEY_CHECK_BYTES];
    if (memcmp(in, SEG_MAGIC, SEG_MAGIC_BYTES) != 0)
        return *why = "not a journal segment (bad magic)", -ERR_CORRUPT;
    if (crc32c(0, in, SEG_OFF_CRC) != le_get32(in + SEG_OFF_CRC))
        return *why = "segment header checksum mismatch", -ERR_CORRUPT;
    if (le_get16(in + SEG_OFF_VERSION) != JOURNAL_FORMAT_VERSION)
        return *why = "unsupported journal format version", -ERR_VERSION;
    if (le_get16(in + SEG_OFF_FLAGS) != 0)
        return *why = "segment header has unknown flags", -ERR_VERSION;
    h->first_seq = le_get64(in + SEG_OFF_FIRST_SEQ);
    if (h->first_seq == 0)
        return *why = "segment header first_seq is 0", -ERR_CORRUPT;
    memcpy(h->id, in + SEG_OFF_ID, SEG_ID_BYTES);
    int rc = journal_key_check(master, kcv);
    if (rc)
        return *why = "key derivation failed", rc;
    if (memcmp(kcv, in + SEG_OFF_KEY_CHECK, SEG_KEY_CHECK_BYTES) != 0)
        return *why = "wrong journal key (the segment's key check value differs)", -ERR_CRYPTO;
    rc = seg_key_init(k, master, h->id);
    if (rc)
        return *why = "key derivation failed", rc;
    if (aead_open(&k->aead, seg_hdr_nonce, in, SEG_OFF_TAG, NULL, 0, NULL, in + SEG_OFF_TAG)) {
        seg_key_free(k);
        return *why = "segment header fails authentication", -ERR_CORRUPT;
    }
    return 0;
}

/* ---- records ---- */

void record_put(struct buf *area, uint64_t seq, int64_t time_us, uint16_t type,
                const uint8_t *payload, size_t len)
{
    size_t start = area->len;
    uint64_t zz = ((uint64_t)time_us << 1) ^ (uint64_t)(time_us >> 63);
    buf_put_u32(area, 0); /* the CRC, filled in below */
    buf_put_varint(area, seq);
    buf_put_varint(area, zz);
    buf_put_varint(area, type);
    buf_put_varint(area, len);
    buf_put(area, payload, len);
    if (area->err)
        return;
    le_put32(area->p + start, crc32c(0, area->p + start + 4, area->len - start - 4));
}

int record_next(struct rd *area, struct jrec *r, const char **why)
{
    uint32_t crc = rd_u32(area);
    size_t body = area->off;
    r->seq = rd_varint(area);
    uint64_t zz = rd_varint(area);
    uint64_t type = rd_varint(area);
    uint64_t len = rd_varint(area);
    if (area->err)
        return *why = "truncated record header", -ERR_CORRUPT;
    if (type > UINT16_MAX)
        return *why = "record type out of range", -ERR_CORRUPT;
    if (len > rd_left(area))
        return *why = "record passes the end of its block", -ERR_CORRUPT;
    r->time_us = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
    r->type = (uint16_t)type;
    r->erased = 0;
    r->payload = area->p + area->off;
    r->len = (size_t)len;
    area->off += (size_t)len;
    if (crc32c(0, area->p + body, area->off - body) != crc)
        return *why = "record checksum mismatch", -ERR_CORRUPT;
    return 0;
}

/* ---- blocks ---- */

int block_hdr_decode(const uint8_t in[BLOCK_HDR_BYTES], struct block_hdr *h, const char **why)
{
    if (memcmp(in, BLOCK_MAGIC, BLOCK_MAGIC_BYTES) != 0)
        return *why = "bad block magic", -ERR_CORRUPT;
    if (crc32c(0, in, BLOCK_OFF_CRC) != le_get32(in + BLOCK_OFF_CRC))
        return *why = "block header checksum mismatch", -ERR_CORRUPT;
    h->len = le_get32(in + BLOCK_OFF_LEN);
    h->first_seq = le_get64(in + BLOCK_OFF_FIRST_SEQ);
    h->count = le_get32(in + BLOCK_OFF_COUNT);
    h->raw_len = le_get32(in + BLOCK_OFF_RAW_LEN);
    h->codec = in[BLOCK_OFF_CODEC];
    h->index = le_get64(in + BLOCK_OFF_NONCE + 4);
    if (!all_zero(in + BLOCK_OFF_RESERVED, 3) || !all_zero(in + BLOCK_OFF_NONCE, 4))
        return *why = "block header reserved bytes are not zero", -ERR_CORRUPT;
    if (h->codec != BLOCK_CODEC_STORED && h->codec != BLOCK_CODEC_LZ4)
        return *why = "unknown block codec", -ERR_CORRUPT;
    if (h->len < BLOCK_BYTES_MIN || h->len > BLOCK_BYTES_MAX)
        return *why = "block length out of range", -ERR_CORRUPT;
    if (h->count == 0 || h->raw_len > BLOCK_RAW_BYTES_MAX)
        return *why = "block record count or size out of range", -ERR_CORRUPT;
    if (h->count > h->raw_len / RECORD_BYTES_MIN)
        return *why = "block claims more records than its size allows", -ERR_CORRUPT;
    return 0;
}

static void nonce_of(uint64_t index, uint8_t nonce[BLOCK_NONCE_BYTES])
{
    memset(nonce, 0, 4);
    le_put64(nonce + 4, index);
}

void block_work_init(struct block_work *w)
{
    w->lz4_state = xmalloc((size_t)LZ4_sizeofState());
    buf_init(&w->tmp);
    buf_init(&w->raw);
}

void block_work_free(struct block_work *w)
{
    free(w->lz4_state);
    w->lz4_state = NULL;
    buf_free(&w->tmp);
    buf_free(&w->raw);
}

/* Compresses the area into w->tmp; returns the codec and sets body. */
static uint8_t block_compress(struct block_work *w, const uint8_t *area, size_t raw_len,
                              const uint8_t **body, size_t *body_len)
{
    int bound = LZ4_compressBound((int)raw_len);
    buf_reset(&w->tmp);
    if (bound > 0 && buf_reserve(&w->tmp, (size_t)bound) == 0) {
        int n = LZ4_compress_fast_extState(w->lz4_state, (const char *)area, (char *)w->tmp.p,
                                           (int)raw_len, bound, 1);
        if (n > 0 && (size_t)n < raw_len) {
            *body = w->tmp.p;
            *body_len = (size_t)n;
            return BLOCK_CODEC_LZ4;
        }
    }
    *body = area;
    *body_len = raw_len;
    return BLOCK_CODEC_STORED;
}

int block_seal(struct block_work *w, const struct seg_key *k, uint64_t index, uint64_t first_seq,
               uint32_t count, const uint8_t *area, size_t raw_len, struct buf *out)
{
    assert(count >= 1);
    assert(raw_len >= (size_t)count * RECORD_BYTES_MIN);
    assert(raw_len <= BLOCK_RAW_BYTES_MAX);
    const uint8_t *body;
    size_t body_len;
    uint8_t codec = block_compress(w, area, raw_len, &body, &body_len);
    size_t total = BLOCK_HDR_BYTES + body_len + BLOCK_TAG_BYTES;
    assert(total >= BLOCK_BYTES_MIN && total <= BLOCK_BYTES_MAX);
    if (buf_reserve(out, total))
        return -ERR_NOMEM;
    uint8_t *h = out->p + out->len;
    memset(h, 0, BLOCK_HDR_BYTES);
    memcpy(h, BLOCK_MAGIC, BLOCK_MAGIC_BYTES);
    le_put32(h + BLOCK_OFF_LEN, (uint32_t)total);
    le_put64(h + BLOCK_OFF_FIRST_SEQ, first_seq);
    le_put32(h + BLOCK_OFF_COUNT, count);
    le_put32(h + BLOCK_OFF_RAW_LEN, (uint32_t)raw_len);
    h[BLOCK_OFF_CODEC] = codec;
    nonce_of(index, h + BLOCK_OFF_NONCE);
    le_put32(h + BLOCK_OFF_CRC, crc32c(0, h, BLOCK_OFF_CRC));
    if (aead_seal(&k->aead, h + BLOCK_OFF_NONCE, h, BLOCK_HDR_BYTES, body, body_len,
                  h + BLOCK_HDR_BYTES, h + BLOCK_HDR_BYTES + body_len))
        return -ERR_CRYPTO;
    out->len += total;
    return 0;
}

int block_open(struct block_work *w, const struct seg_key *k, const struct block_hdr *h,
               const uint8_t *blk, uint64_t index, const char **why)
{
    uint8_t nonce[BLOCK_NONCE_BYTES];
    size_t body_len = h->len - BLOCK_HDR_BYTES - BLOCK_TAG_BYTES;
    if (h->index != index)
        return *why = "block nonce does not match its place in the segment", -ERR_CORRUPT;
    nonce_of(index, nonce);
    /* A stored body is decrypted straight into raw; LZ4 goes through tmp. */
    struct buf *dst = h->codec == BLOCK_CODEC_STORED ? &w->raw : &w->tmp;
    buf_reset(dst);
    if (buf_reserve(dst, body_len))
        return *why = "out of memory", -ERR_NOMEM;
    if (aead_open(&k->aead, nonce, blk, BLOCK_HDR_BYTES, blk + BLOCK_HDR_BYTES, body_len, dst->p,
                  blk + h->len - BLOCK_TAG_BYTES))
        return *why = "block fails authentication (bad tag)", -ERR_CORRUPT;
    if (h->codec == BLOCK_CODEC_STORED) {
        if (body_len != h->raw_len)
            return *why = "stored block body length differs from raw_len", -ERR_CORRUPT;
        w->raw.len = body_len;
        return 0;
    }
    buf_reset(&w->raw);
    if (buf_reserve(&w->raw, h->raw_len))
        return *why = "out of memory", -ERR_NOMEM;
    int n = LZ4_decompress_safe((const char *)w->tmp.p, (char *)w->raw.p, (int)body_len,
                                (int)h->raw_len);
    if (n < 0 || (uint32_t)n != h->raw_len)
        return *why = "LZ4 body does not decode to raw_len bytes", -ERR_CORRUPT;
    w->raw.len = h->raw_len;
    return 0;
}

int block_has_zero_sector(const uint8_t *p, size_t n, uint64_t off)
{
    size_t start = 0;
    while (start < n) {
        uint64_t at = off + start;
        size_t frag = (size_t)(DISK_SECTOR_BYTES - at % DISK_SECTOR_BYTES);
        if (frag > n - start)
            frag = n - start;
        if (all_zero(p + start, frag))
            return 1;
        start += frag;
    }
    return 0;
}

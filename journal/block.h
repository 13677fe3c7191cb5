/* block: the bytes of the journal, one segment header or block at a time.
 *
 * Every constant that fixes the on-disk layout is here, each with its
 * offset; the grammar, a worked example and the rule for a valid block are
 * in doc/formats/journal.md. This file knows nothing of files, threads or
 * batches: it turns records into a sealed block and back (CRC32C framing,
 * LZ4, AES-256-GCM), and builds and checks segment headers. journal.c does
 * the I/O and the recovery rules. */
#ifndef STANZAD_JOURNAL_BLOCK_H
#define STANZAD_JOURNAL_BLOCK_H

#include <lz4.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/aead.h"
#include "journal/journal.h"
#include "kernel/buf.h"

#define JOURNAL_FORMAT_VERSION 1

/* Segment header, 64 bytes. */
#define SEG_MAGIC "SZJOURNL"      /* off 0, 8 bytes */
#define SEG_MAGIC_BYTES 8
#define SEG_OFF_VERSION 8         /* u16 */
#define SEG_OFF_FLAGS 10          /* u16, 0: a reader refuses any other value */
#define SEG_OFF_FIRST_SEQ 12      /* u64, = file name */
#define SEG_OFF_ID 20             /* 16 random bytes: salt of the segment key */
#define SEG_OFF_KEY_CHECK 36      /* 8 bytes: names a wrong key as such */
#define SEG_OFF_TAG 44            /* 16 bytes: GMAC of bytes 0..43 under the segment key */
#define SEG_OFF_CRC 60            /* u32 CRC32C of bytes 0..59 */
#define SEG_HDR_BYTES 64
#define SEG_ID_BYTES 16
#define SEG_KEY_CHECK_BYTES 8

/* Block header, 44 bytes, then the sealed body, then the tag. */
#define BLOCK_MAGIC "SZBK"        /* off 0, 4 bytes */
#define BLOCK_MAGIC_BYTES 4
#define BLOCK_OFF_LEN 4           /* u32: header + sealed body + tag */
#define BLOCK_OFF_FIRST_SEQ 8     /* u64 */
#define BLOCK_OFF_COUNT 16        /* u32, >= 1 */
#define BLOCK_OFF_RAW_LEN 20      /* u32: record area before compression */
#define BLOCK_OFF_CODEC 24        /* u8: BLOCK_CODEC_* */
#define BLOCK_OFF_RESERVED 25     /* 3 bytes of 0 */
#define BLOCK_OFF_NONCE 28        /* 12 bytes: 00000000 || u64 block index */
#define BLOCK_OFF_CRC 40          /* u32 CRC32C of bytes 0..39 */
#define BLOCK_HDR_BYTES 44
#define BLOCK_NONCE_BYTES 12
#define BLOCK_TAG_BYTES 16
#define BLOCK_CODEC_STORED 0
#define BLOCK_CODEC_LZ4 1

/* Records: u32 crc32c, varint seq, varint zigzag time, varint type,
 * varint len, payload. */
#define JOURNAL_PAYLOAD_BYTES_MAX (16u << 20) /* journal_append asserts: events are far smaller */
#define RECORD_OVERHEAD_MAX 32                /* crc 4 + varints 10 + 10 + 3 + 4, rounded up */
#define RECORD_BYTES_MIN 8                    /* crc 4 + four one-byte varints */
/* A commit starts the next block of a batch once this many record bytes
 * are in the current one: big enough for LZ4, small enough to bound a
 * reader's buffers. A single larger record gets a block of its own. */
#define BLOCK_RAW_TARGET (1u << 20)
#define BLOCK_RAW_BYTES_MAX (JOURNAL_PAYLOAD_BYTES_MAX + RECORD_OVERHEAD_MAX)
#define BLOCK_BYTES_MAX \
    ((uint32_t)BLOCK_HDR_BYTES + LZ4_COMPRESSBOUND(BLOCK_RAW_BYTES_MAX) + BLOCK_TAG_BYTES)
/* An LZ4 body can be far shorter than its records: only one byte is sure. */
#define BLOCK_BYTES_MIN (BLOCK_HDR_BYTES + BLOCK_TAG_BYTES + 1)

_Static_assert(SEG_OFF_CRC + 4 == SEG_HDR_BYTES, "segment header layout");
_Static_assert(SEG_OFF_TAG + BLOCK_TAG_BYTES == SEG_OFF_CRC, "segment header layout");
_Static_assert(BLOCK_OFF_CRC + 4 == BLOCK_HDR_BYTES, "block header layout");
_Static_assert(BLOCK_OFF_NONCE + BLOCK_NONCE_BYTES == BLOCK_OFF_CRC, "block header layout");
_Static_assert(BLOCK_NONCE_BYTES == AEAD_NONCE_BYTES && BLOCK_TAG_BYTES == AEAD_TAG_BYTES,
               "blocks are sealed with aead.h");
_Static_assert(BLOCK_RAW_BYTES_MAX >= BLOCK_RAW_TARGET, "a full block fits the reader's limit");
_Static_assert(BLOCK_BYTES_MAX < UINT32_MAX / 2, "block_len fits in u32");

/* CRC32C (Castagnoli, RFC 3720 §B.4). crc32c(0, p, n) is the CRC of p;
 * passing an earlier result continues it. Uses the SSE4.2 instruction
 * when the CPU has it; crc32c_sw is the table version (tests compare). */
uint32_t crc32c(uint32_t crc, const void *p, size_t n);
uint32_t crc32c_sw(uint32_t crc, const void *p, size_t n);

/* One segment's crypto: AES-256-GCM keyed with the segment key. */
struct seg_key {
    struct aead aead;
};

/* The key check value every segment header carries for this master key. */
int journal_key_check(const uint8_t master[JOURNAL_KEY_LEN],
                      uint8_t out[SEG_KEY_CHECK_BYTES] /* OUT */);
/* Derives the key of segment id and sets up k (free with seg_key_free). */
int seg_key_init(struct seg_key *k /* OUT */, const uint8_t master[JOURNAL_KEY_LEN],
                 const uint8_t id[SEG_ID_BYTES]);
void seg_key_free(struct seg_key *k);

struct seg_header {
    uint64_t first_seq;
    uint8_t id[SEG_ID_BYTES];
};

/* Writes the 64 header bytes for h; k must be the key of h->id. */
int seg_header_encode(const struct seg_header *h, const struct seg_key *k,
                      const uint8_t master[JOURNAL_KEY_LEN], uint8_t out[SEG_HDR_BYTES] /* OUT */);
/* Checks 64 header bytes and, when valid, fills h and sets up k (the
 * caller frees it with seg_key_free). Returns 0, -ERR_CORRUPT (damage:
 * bad CRC, magic or tag), -ERR_VERSION or -ERR_CRYPTO (wrong key), with a
 * static reason in *why. On error k is not set up. */
int seg_header_decode(const uint8_t in[SEG_HDR_BYTES], const uint8_t master[JOURNAL_KEY_LEN],
                      struct seg_header *h /* OUT */, struct seg_key *k /* OUT */,
                      const char **why /* OUT */);

/* Appends one record to a record area (checks nothing: journal_append
 * asserts the limits). */
void record_put(struct buf *area, uint64_t seq, int64_t time_us, uint16_t type,
                const uint8_t *payload, size_t len);
/* Decodes the next record of an area into r (payload borrowed from the
 * area). Returns 0, or -ERR_CORRUPT with a reason in *why. */
int record_next(struct rd *area, struct jrec *r /* OUT */, const char **why /* OUT */);

struct block_hdr {
    uint32_t len; /* whole block */
    uint64_t first_seq;
    uint32_t count;
    uint32_t raw_len;
    uint8_t codec;
    uint64_t index; /* from the nonce */
};

/* Checks the 44 header bytes alone (rules 1-2 of the doc, except the
 * file size). Returns 0 or -ERR_CORRUPT with a reason. */
int block_hdr_decode(const uint8_t in[BLOCK_HDR_BYTES], struct block_hdr *h /* OUT */,
                     const char **why /* OUT */);

/* Scratch memory for sealing and opening blocks; one per thread. */
struct block_work {
    void *lz4_state; /* LZ4_compress_fast_extState's state, from xmalloc */
    struct buf tmp;  /* compressed or decrypted body */
    struct buf raw;  /* the opened record area */
};
void block_work_init(struct block_work *w);
void block_work_free(struct block_work *w);

/* Seals count records (area of raw_len bytes, seqs from first_seq) as the
 * index-th block of the segment keyed by k, and appends it to out.
 * Returns 0 or -ERR_CRYPTO. */
int block_seal(struct block_work *w, const struct seg_key *k, uint64_t index, uint64_t first_seq,
               uint32_t count, const uint8_t *area, size_t raw_len, struct buf *out);
/* Opens a whole block (h from block_hdr_decode, blk its h->len bytes) as
 * the index-th of its segment: checks the nonce, the tag, and decompresses
 * into w->raw (rules 3, 4, 6). Sequence numbers are the caller's to check.
 * Returns 0 or -ERR_CORRUPT with a reason. */
int block_open(struct block_work *w, const struct seg_key *k, const struct block_hdr *h,
               const uint8_t *blk, uint64_t index, const char **why /* OUT */);

/* The crash signature of the recovery rules: returns 1 when, for some
 * 512-byte-aligned sector of the file, every byte of p[0..n) that falls
 * in it is zero (p holds the n bytes at file offset off, n > 0). */
int block_has_zero_sector(const uint8_t *p, size_t n, uint64_t off);
#define DISK_SECTOR_BYTES 512

#endif

/* buf: a growable byte buffer and a bounds-checked reader.
 *
 * Every binary encoding in stanzad (events, journal records, snapshots)
 * is written with buf_put_* and read back with rd_*. Integers are
 * little-endian fixed width or LEB128 varints; strings and byte runs are
 * a varint length followed by the bytes.
 *
 * A reader never reads past its end: the first short read sets rd.err to
 * ERR_CORRUPT and every later read returns zero, so a decoder checks
 * rd.err once at the end. */
#ifndef STANZAD_BUF_H
#define STANZAD_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *p;
    size_t len;
    size_t cap;
    int err; /* first error of any put (ERR_NOMEM); later puts do nothing */
};

void buf_init(struct buf *b);
/* Frees the memory; b is empty and usable afterwards. */
void buf_free(struct buf *b);
/* Drops the contents but keeps the memory. */
static inline void buf_reset(struct buf *b) { b->len = 0; b->err = 0; }
/* Makes room for n more bytes; returns 0 or -ERR_NOMEM (also in b->err). */
int buf_reserve(struct buf *b, size_t n);
/* Hands the bytes to the caller, who frees them with free(); b is empty. */
uint8_t *buf_take(struct buf *b, size_t *len);

void buf_put(struct buf *b, const void *p, size_t n);
void buf_put_u8(struct buf *b, uint8_t v);
void buf_put_u16(struct buf *b, uint16_t v);
void buf_put_u32(struct buf *b, uint32_t v);
void buf_put_u64(struct buf *b, uint64_t v);
void buf_put_varint(struct buf *b, uint64_t v);
void buf_put_bytes(struct buf *b, const void *p, size_t n); /* varint length + bytes */
void buf_put_str(struct buf *b, const char *s);             /* NULL is written as "" */
/* Appends a C string without a length prefix (text output). */
void buf_puts(struct buf *b, const char *s);
/* printf into the buffer. */
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ensures p[len] == 0 without counting it; returns p as a C string. */
const char *buf_cstr(struct buf *b);

struct rd {
    const uint8_t *p;
    size_t n;
    size_t off;
    int err; /* 0 or -ERR_CORRUPT after the first short read */
};

static inline void rd_init(struct rd *r, const void *p, size_t n)
{
    r->p = p;
    r->n = n;
    r->off = 0;
    r->err = 0;
}
static inline size_t rd_left(const struct rd *r) { return r->n - r->off; }

uint8_t rd_u8(struct rd *r);
uint16_t rd_u16(struct rd *r);
uint32_t rd_u32(struct rd *r);
uint64_t rd_u64(struct rd *r);
uint64_t rd_varint(struct rd *r);
/* Returns a pointer into the reader's memory (borrowed) and its length. */
const uint8_t *rd_bytes(struct rd *r, size_t *len);
/* Copies n raw bytes. */
void rd_copy(struct rd *r, void *out, size_t n);
/* Returns a malloc'd NUL-terminated copy of a length-prefixed string, or
 * NULL (and sets err) when short, when it holds a NUL, or on no memory. */
char *rd_strdup(struct rd *r);

#endif

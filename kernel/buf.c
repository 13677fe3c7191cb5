/* buf: see buf.h. */
#include "kernel/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/err.h"

void buf_init(struct buf *b) { memset(b, 0, sizeof *b); }

void buf_free(struct buf *b)
{
    free(b->p);
    buf_init(b);
}

int buf_reserve(struct buf *b, size_t n)
{
    if (b->err)
        return b->err;
    if (b->cap - b->len > n)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2)
            return b->err = -ERR_NOMEM;
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return b->err = -ERR_NOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

uint8_t *buf_take(struct buf *b, size_t *len)
{
    uint8_t *p = b->p;
    if (len)
        *len = b->len;
    buf_init(b);
    return p;
}

void buf_put(struct buf *b, const void *p, size_t n)
{
    if (n == 0 || buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void buf_put_u8(struct buf *b, uint8_t v) { buf_put(b, &v, 1); }

void buf_put_u16(struct buf *b, uint16_t v)
{
    uint8_t t[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_put(b, t, 2);
}

void buf_put_u32(struct buf *b, uint32_t v)
{
    uint8_t t[4];
    for (int i = 0; i < 4; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    buf_put(b, t, 4);
}

void buf_put_u64(struct buf *b, uint64_t v)
{
    uint8_t t[8];
    for (int i = 0; i < 8; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    buf_put(b, t, 8);
}

void buf_put_varint(struct buf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    do {
        t[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v)
            t[n] |= 0x80;
        n++;
    } while (v);
    buf_put(b, t, n);
}

void buf_put_bytes(struct buf *b, const void *p, size_t n)
{
    buf_put_varint(b, n);
    buf_put(b, p, n);
}

void buf_put_str(struct buf *b, const char *s) { buf_put_bytes(b, s ? s : "", s ? strlen(s) : 0); }

void buf_puts(struct buf *b, const char *s) { buf_put(b, s, strlen(s)); }

void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || buf_reserve(b, (size_t)n + 1))
        return;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

const char *buf_cstr(struct buf *b)
{
    if (buf_reserve(b, 1))
        return "";
    b->p[b->len] = 0;
    return (const char *)b->p;
}

static const uint8_t *rd_take(struct rd *r, size_t n)
{
    if (r->err || rd_left(r) < n) {
        r->err = -ERR_CORRUPT;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t rd_u8(struct rd *r)
{
    const uint8_t *p = rd_take(r, 1);
    return p ? p[0] : 0;
}

uint16_t rd_u16(struct rd *r)
{
    const uint8_t *p = rd_take(r, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

uint32_t rd_u32(struct rd *r)
{
    const uint8_t *p = rd_take(r, 4);
    if (!p)
        return 0;
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

uint64_t rd_u64(struct rd *r)
{
    const uint8_t *p = rd_take(r, 8);
    if (!p)
        return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

uint64_t rd_varint(struct rd *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        const uint8_t *p = rd_take(r, 1);
        if (!p)
            return 0;
        v |= (uint64_t)(p[0] & 0x7f) << shift;
        if (!(p[0] & 0x80))
            return v;
    }
    r->err = -ERR_CORRUPT;
    return 0;
}

const uint8_t *rd_bytes(struct rd *r, size_t *len)
{
    uint64_t n = rd_varint(r);
    const uint8_t *p = (r->err || n > rd_left(r)) ? NULL : rd_take(r, (size_t)n);
    if (!p) {
        r->err = -ERR_CORRUPT;
        *len = 0;
        return NULL;
    }
    *len = (size_t)n;
    return p;
}

void rd_copy(struct rd *r, void *out, size_t n)
{
    const uint8_t *p = rd_take(r, n);
    if (p)
        memcpy(out, p, n);
    else
        memset(out, 0, n);
}

char *rd_strdup(struct rd *r)
{
    size_t n;
    const uint8_t *p = rd_bytes(r, &n);
    if (!p)
        return NULL;
    if (memchr(p, 0, n)) {
        r->err = -ERR_CORRUPT;
        return NULL;
    }
    char *s = malloc(n + 1);
    if (!s) {
        r->err = -ERR_NOMEM;
        return NULL;
    }
    memcpy(s, p, n);
    s[n] = 0;
    return s;
}

/* xml_heap: see xml_heap.h.
 *
 * Layout. Every block starts with a 16-byte header: the slab it belongs
 * to (NULL for a large block) and its size class or, for a large block,
 * its mapping length. A slab is one 64 KiB anonymous mapping: a struct
 * slab, then blocks of one class (header + payload) carved from the rest.
 * Free blocks of a slab form a list through their payload. A class keeps
 * its slabs that still have room on a list; a slab whose last block is
 * freed is unmapped at once, so memory that only parsers used goes back
 * to the system as soon as they are gone. A request above the largest
 * class gets a mapping of its own.
 *
 * One mutex guards it all: parsers live on the loop thread, but nothing
 * here needs to know that. */
#include "kernel/xml_heap.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define SLAB_BYTES (64u << 10)
#define HDR_BYTES 16u
/* Classes: 16 to 128 bytes in steps of 16, then eight steps between
 * powers of two up to 16 KiB (3 to a slab), so no block wastes more than
 * an eighth of its class (expat asks for 520, 1032, 1044, 1096 bytes). */
#define SMALL_MAX 128u
#define CLASS_MAX (16u << 10)
#define NCLASSES (8 + 7 * 8)

struct slab;

struct hdr {
    struct slab *slab; /* NULL: a large block */
    size_t size;       /* payload bytes of the class, or the large mapping's length */
};

struct free_block {
    struct free_block *next;
};

struct slab {
    struct slab *prev, *next; /* on its class's list while it has room */
    struct free_block *free;
    unsigned cls;
    unsigned used;     /* blocks handed out */
    unsigned capacity; /* blocks it holds */
    int listed;
};

static struct {
    pthread_mutex_t lock;
    struct slab *partial[NCLASSES];
    size_t slabs, large, bytes_mapped;
} heap = {.lock = PTHREAD_MUTEX_INITIALIZER};

_Static_assert(sizeof(struct hdr) == HDR_BYTES, "block header size");

static void *map_or_die(size_t n)
{
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        fprintf(stderr, "stanzad: out of memory (xml_heap, %zu bytes)\n", n);
        abort(); /* as xmalloc does (kernel/mem.h) */
    }
    heap.bytes_mapped += n;
    return p;
}

static void unmap(void *p, size_t n)
{
    munmap(p, n);
    heap.bytes_mapped -= n;
}

/* n in 1..CLASS_MAX. */
static unsigned class_of(size_t n)
{
    if (n <= SMALL_MAX)
        return (unsigned)((n + 15) / 16 - 1);
    unsigned p = 63u - (unsigned)__builtin_clzll((unsigned long long)(n - 1)); /* 2^p < n <= 2^(p+1) */
    size_t step = (size_t)1 << (p - 3);
    unsigned k = (unsigned)((n - ((size_t)1 << p) + step - 1) / step); /* 1..8 */
    return 8 + (p - 7) * 8 + (k - 1);
}

static size_t class_bytes(unsigned c)
{
    if (c < 8)
        return 16u * (c + 1);
    unsigned p = 7 + (c - 8) / 8, k = (c - 8) % 8 + 1;
    return ((size_t)1 << p) + k * ((size_t)1 << (p - 3));
}

static void list_add(struct slab *s)
{
    s->prev = NULL;
    s->next = heap.partial[s->cls];
    if (s->next)
        s->next->prev = s;
    heap.partial[s->cls] = s;
    s->listed = 1;
}

static void list_del(struct slab *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        heap.partial[s->cls] = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
    s->listed = 0;
}

static struct slab *slab_new(unsigned cls)
{
    struct slab *s = map_or_die(SLAB_BYTES);
    size_t stride = HDR_BYTES + class_bytes(cls);
    size_t first = (sizeof *s + 15u) & ~(size_t)15u;
    s->cls = cls;
    s->capacity = (unsigned)((SLAB_BYTES - first) / stride);
    for (unsigned i = s->capacity; i-- > 0;) { /* the list runs in address order */
        struct free_block *f = (struct free_block *)((char *)s + first + i * stride + HDR_BYTES);
        f->next = s->free;
        s->free = f;
    }
    heap.slabs++;
    list_add(s);
    return s;
}

static void *alloc_locked(size_t n)
{
    if (n == 0)
        n = 1;
    if (n > CLASS_MAX) {
        size_t len = (HDR_BYTES + n + 4095u) & ~(size_t)4095u;
        struct hdr *h = map_or_die(len);
        h->slab = NULL;
        h->size = len;
        heap.large++;
        return (char *)h + HDR_BYTES;
    }
    unsigned cls = class_of(n);
    struct slab *s = heap.partial[cls];
    if (!s)
        s = slab_new(cls);
    struct free_block *f = s->free;
    s->free = f->next;
    if (++s->used == s->capacity)
        list_del(s);
    struct hdr *h = (struct hdr *)((char *)f - HDR_BYTES);
    h->slab = s;
    h->size = class_bytes(cls);
    return f;
}

static void free_locked(void *p)
{
    struct hdr *h = (struct hdr *)((char *)p - HDR_BYTES);
    struct slab *s = h->slab;
    if (!s) {
        heap.large--;
        unmap(h, h->size);
        return;
    }
    struct free_block *f = p;
    f->next = s->free;
    s->free = f;
    if (!s->listed)
        list_add(s);
    if (--s->used == 0) { /* nothing left in it: back to the system */
        list_del(s);
        heap.slabs--;
        unmap(s, SLAB_BYTES);
    }
}

void *xml_heap_malloc(size_t n)
{
    pthread_mutex_lock(&heap.lock);
    void *p = alloc_locked(n);
    pthread_mutex_unlock(&heap.lock);
    return p;
}

void xml_heap_free(void *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&heap.lock);
    free_locked(p);
    pthread_mutex_unlock(&heap.lock);
}

void *xml_heap_realloc(void *p, size_t n)
{
    if (!p)
        return xml_heap_malloc(n);
    const struct hdr *h = (const struct hdr *)((char *)p - HDR_BYTES);
    size_t have = h->slab ? h->size : h->size - HDR_BYTES;
    if (h->slab ? n >= 1 && n <= CLASS_MAX && class_of(n) == h->slab->cls : n <= have && n > CLASS_MAX)
        return p; /* the block it would get anyway */
    pthread_mutex_lock(&heap.lock);
    void *q = alloc_locked(n);
    memcpy(q, p, n < have ? n : have);
    free_locked(p);
    pthread_mutex_unlock(&heap.lock);
    return q;
}

void xml_heap_stats(struct xml_heap_stats *out)
{
    pthread_mutex_lock(&heap.lock);
    out->slabs = heap.slabs;
    out->large = heap.large;
    out->bytes_mapped = heap.bytes_mapped;
    pthread_mutex_unlock(&heap.lock);
}

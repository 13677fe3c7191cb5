/* xml_heap: the memory of expat's parsers, kept apart from the main heap.
 *
 * Why: a connection's parser (about 12 KiB) lives from its login until it
 * has been idle for a sweep (kernel/c2s.c), while the session's own small
 * objects, made during that login, live on. In glibc's heap the freed
 * parsers left holes between those objects: pages neither wholly used nor
 * free, which malloc_trim cannot return. With parsers here, an idle
 * session's memory went from 14.3 to about 6 KiB (doc/performance.md).
 *
 * Small requests go to size classes (32 B to 16 KiB, powers of two) in
 * 64 KiB slabs of their own, and a slab is unmapped as soon as its last
 * block is freed; a larger request gets its own mapping. Any thread. */
#ifndef STANZAD_XML_HEAP_H
#define STANZAD_XML_HEAP_H

#include <stddef.h>

/* malloc, realloc and free for expat (XML_Memory_Handling_Suite). Out of
 * memory aborts, as xmalloc does. */
void *xml_heap_malloc(size_t n);
void *xml_heap_realloc(void *p, size_t n);
void xml_heap_free(void *p);

struct xml_heap_stats {
    size_t slabs;        /* slabs mapped */
    size_t large;        /* blocks with a mapping of their own */
    size_t bytes_mapped; /* all of it */
};
void xml_heap_stats(struct xml_heap_stats *out /* OUT */);

#endif

/* mem: allocation that never returns NULL.
 *
 * Out of memory is fatal in stanzad, as in Redis: the process logs and
 * aborts. That is safe because nothing is acknowledged before it is in the
 * journal, and it keeps every caller free of a failure path that would be
 * tested nowhere. Limits (stanza size, sessions, queues) keep honest
 * traffic far from this edge. */
#ifndef STANZAD_MEM_H
#define STANZAD_MEM_H

#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif

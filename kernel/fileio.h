/* fileio: the two system-call loops every writer of files needs, kept in
 * one place: writing all of a buffer, and drawing random bytes from the
 * kernel (for salts and file ids, not for handlers, which never draw). */
#ifndef STANZAD_FILEIO_H
#define STANZAD_FILEIO_H

#include <stddef.h>

/* Writes all n bytes at the file position, retrying short writes and
 * EINTR. Returns 0 or -errno. */
int fileio_write_all(int fd, const void *p, size_t n);
/* Fills p with n bytes from getrandom(2). Returns 0 or -errno. */
int fileio_random(void *p, size_t n);

#endif

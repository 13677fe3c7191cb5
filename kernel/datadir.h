/* datadir: one process per data directory. The server and every offline
 * tool take an exclusive flock on <data_dir>/lock and write their pid
 * into it, so the one that is refused can say who holds it. */
#ifndef STANZAD_DATADIR_H
#define STANZAD_DATADIR_H

#include <stddef.h>

#define DATADIR_PID_BYTES 32

/* Takes the lock, creating dir (mode 0700) first when create_dir is set.
 * Returns the lock's file descriptor (keep it open to hold the lock), or
 * -ERR_LOCKED with the holder's pid in holder ("unknown" if unreadable),
 * or another negative code with a one-line reason in errbuf. */
int datadir_lock(const char *dir, int create_dir, char holder[DATADIR_PID_BYTES], char *errbuf,
                 size_t errlen);

#endif

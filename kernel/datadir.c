/* datadir: see datadir.h. */
#include "kernel/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel/err.h"

int datadir_lock(const char *dir, int create_dir, char holder[DATADIR_PID_BYTES], char *errbuf,
                 size_t errlen)
{
    char path[4096];
    if (snprintf(path, sizeof path, "%s/lock", dir) >= (int)sizeof path) {
        snprintf(errbuf, errlen, "data_dir path too long: %s", dir);
        return -ENAMETOOLONG;
    }
    if (create_dir && mkdir(dir, 0700) && errno != EEXIST) {
        int e = errno;
        snprintf(errbuf, errlen, "data_dir %s: %s", dir, strerror(e));
        return -e;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        snprintf(errbuf, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    if (flock(fd, LOCK_EX | LOCK_NB)) {
        ssize_t n = pread(fd, holder, DATADIR_PID_BYTES - 1, 0);
        holder[n > 0 ? n : 0] = 0;
        holder[strcspn(holder, "\n")] = 0;
        if (!*holder)
            snprintf(holder, DATADIR_PID_BYTES, "unknown");
        snprintf(errbuf, errlen, "%s is locked by pid %s", path, holder);
        close(fd);
        return -ERR_LOCKED;
    }
    char pid[DATADIR_PID_BYTES];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) || pwrite(fd, pid, (size_t)n, 0) != n)
        snprintf(errbuf, errlen, "%s: could not record our pid", path); /* not fatal */
    return fd;
}

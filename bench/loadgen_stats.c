/* loadgen_stats: what the generator measures besides counts: latency
 * samples and their percentiles, its own CPU time (getrusage), and the
 * server's CPU time and resident memory (/proc/PID/stat, /proc/PID/status),
 * so every figure line shows whether the generator or the server was the
 * bottleneck. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/loadgen.h"
#include "kernel/mem.h"

/* xorshift64*: the reservoir's coin; no need for a strong generator. */
static uint64_t next_rand(uint64_t *s)
{
    if (*s == 0)
        *s = 0x9E3779B97F4A7C15ull;
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

void lg_lat_add(struct lg_lat *l, uint64_t ns)
{
    uint64_t us = (ns + 500) / 1000;
    uint32_t v = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    if (l->us == NULL)
        l->us = xmalloc(LG_SAMPLES_MAX * sizeof *l->us);
    l->seen++;
    if (l->n < LG_SAMPLES_MAX) {
        l->us[l->n++] = v;
        return;
    }
    /* Algorithm R: keep the new sample with probability MAX/seen. */
    uint64_t j = next_rand(&l->rng) % l->seen;
    if (j < LG_SAMPLES_MAX)
        l->us[j] = v;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

double lg_lat_pct_ms(struct lg_lat *l, double p)
{
    if (l->n == 0)
        return 0;
    qsort(l->us, l->n, sizeof *l->us, cmp_u32);
    /* Nearest rank: the smallest sample with at least p% at or below. */
    double rank = p / 100.0 * (double)l->n;
    size_t i = rank <= 1 ? 0 : (size_t)rank - 1;
    if ((double)(i + 1) < rank)
        i++;
    if (i >= l->n)
        i = l->n - 1;
    return (double)l->us[i] / 1000.0;
}

void lg_lat_free(struct lg_lat *l)
{
    free(l->us);
    memset(l, 0, sizeof *l);
}

double lg_cpu_self_s(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return -1;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double lg_cpu_pid_s(pid_t pid)
{
    char path[64], line[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* The command name may hold spaces and ')': fields start after the
     * last ')'. utime and stime are fields 14 and 15 (proc(5)). */
    char *p = strrchr(line, ')');
    if (p == NULL)
        return -1;
    unsigned long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    long hz = sysconf(_SC_CLK_TCK);
    return hz > 0 ? (double)(ut + st) / (double)hz : -1;
}

long lg_rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

double lg_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* journalbench: scenario 6 of issue 6, the journal on its own.
 *
 *   durable  events made durable per second (group commit, sync policies
 *            batch and always), through the path kernel/bus.c takes
 *   replay   a data directory with N events (accounts, sessions, chat
 *            messages), read back in-process (open, read+unseal,
 *            read+dispatch), then a real build/stanzad started on it and
 *            timed until its client port accepts a connection
 *
 * journalbench.c holds options, the group-commit pipeline and `durable`;
 * journalbench_start.c builds the data directory and times replay and
 * start. Each measurement prints one `scenario=... key=value` line. */
#ifndef STANZAD_JOURNALBENCH_H
#define STANZAD_JOURNALBENCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"
#include "kernel/event.h"

struct jb_opts {
    char base[1024];        /* temporary directory of this run (removed unless keep) */
    int keep;
    uint64_t count;         /* durable: events per configuration, at most */
    double duration_s;      /* durable: seconds per configuration, at most */
    uint32_t batches[8];    /* durable: batch sizes; 0: as the bus (adaptive) */
    size_t nbatches;
    int sync_batch, sync_always;
    uint32_t body_bytes;    /* message body text */
    uint64_t events;        /* replay: events in the data directory */
    uint32_t build_batch;   /* replay: batch size while building it */
    int start;              /* replay: also time a real stanzad start */
    uint32_t starts;        /* how many timed starts */
    char stanzad[1024];
    double start_timeout_s;
    uint64_t snap_accounts;    /* snapshot: accounts in the state */
    uint32_t snap_contacts;    /* snapshot: roster items per account */
    uint32_t snap_vcard_bytes; /* snapshot: vCard text per account (0: none) */
};

/* fsync + fdatasync calls made by this process (journalbench.c counts
 * them by wrapping both). */
uint64_t jb_syncs(void);
uint64_t jb_now_ns(void);
double jb_cpu_s(void); /* user + system time of this process */
uint64_t jb_dir_bytes(const char *dir); /* sum of regular files' sizes, one level */

/* A chat message from a bound session, as c2s submits it: the stanza
 * with 'from' set to the sender's full JID, subject its bare JID. */
struct event *jb_message(uint64_t conn, uint32_t from_user, uint32_t to_user, uint64_t n,
                         uint32_t body_bytes, uint64_t *rng);

/* Group commit as kernel/bus.c does it: the caller appends the next batch
 * while one worker thread commits the previous one (journal_commit), and
 * seals a new batch only once that commit is done. */
struct jb_pipe {
    struct journal *j;
    pthread_t worker;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct jbatch *batch; /* being committed, or NULL */
    int rc;               /* of the last commit */
    int quit;
};

int jb_pipe_start(struct jb_pipe *p, struct journal *j);
/* Waits until no commit is in flight; returns that commit's result. */
int jb_pipe_wait(struct jb_pipe *p);
/* 1 when no commit is in flight (the bus's cue to seal the next batch). */
int jb_pipe_idle(struct jb_pipe *p);
/* Hands a sealed batch to the worker (none may be in flight). */
void jb_pipe_submit(struct jb_pipe *p, struct jbatch *b);
void jb_pipe_stop(struct jb_pipe *p);

/* Opens (creating) a journal in dir with the key file keyfile. */
int jb_journal_open(struct journal **j /* OUT */, const char *dir, const char *keyfile,
                    enum journal_sync sync, int readonly);

/* The `replay` command (journalbench_start.c). 0 when every step worked. */
int jb_run_replay(const struct jb_opts *o);
/* Snapshot size per account (journalbench_snapshot.c). */
int jb_run_snapshot(const struct jb_opts *o);

#endif

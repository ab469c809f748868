/* worker.h: the worker component: slot threads that claim jobs under a lease, run them and report
 * results; a maintenance thread renews leases and passes kills on to running tasks. */
#pragma once

#include "sandbox.h"
#include "store.h"

typedef struct WorkerOptions {
        const char *id;          /* service id; also the lease holder's name */
        unsigned slots;          /* tasks run at once; 0 = 4 */
        const char *queue;       /* worker group; NULL = default */
        usec_t lease;            /* 0 = 30 s; renewed every lease/3 */
        const char *work_root;   /* per-attempt working directories go below it (created) */
        const char *cache_root;  /* what tasks keep between runs (Python dependencies' virtual
                                  * environments), shared with the other workers of the state
                                  * directory; NULL: nothing is kept */
        const char *pip_index_url; /* Python tasks' dependencies come from it; NULL: pip's default */
        char *const *base_env;   /* environment external processes start from; NULL = PATH and LANG */
        const char *storage_url; /* internal storage (storage_open()'s URL, credentials as it looks them
                                  * up): output files, input files, read(); NULL = none */
        const SandboxOptions *sandbox; /* how external processes are isolated (kept by the caller); NULL = plain */
        /* Task log kept per task run (attempt): past either limit one WARN line says so and the
         * rest is dropped (the task runs on; its ::{"outputs":...}:: lines are still read).
         * 0 = the defaults below. */
        unsigned max_log_lines;
        uint64_t max_log_bytes;
        /* A task run's output files and downloads kept in storage, in all (and each input file
         * fetched); 0 = the default. */
        uint64_t max_output_bytes;
} WorkerOptions;

#define WORKER_MAX_LOG_LINES_DEFAULT 10000u
#define WORKER_MAX_LOG_BYTES_DEFAULT (10ull * 1024 * 1024)
#define WORKER_MAX_OUTPUT_BYTES_DEFAULT (4096ull * 1024 * 1024)

typedef struct Worker Worker;

/* store is used to open one connection per thread (store_dup); the caller keeps it. */
int worker_new(Store *store, const WorkerOptions *opt, Worker **ret);
/* On failure (a connection refused) nothing of it runs any more; worker_free() as usual. */
int worker_start(Worker *w);
/* Stop claiming and wait for a claim in flight: no job is claimed once it returns (running and
 * queued ones go on). worker_stop() does it too. */
void worker_stop_claiming(Worker *w);
/* Stop claiming, let running tasks finish for up to grace (then cancel them), join the threads. */
void worker_stop(Worker *w, usec_t grace);
Worker *worker_free(Worker *w);
DEFINE_FREE_CLEANUP(Worker, worker_free)

typedef struct WorkerStats {
        unsigned slots, busy;
        uint64_t jobs_done, jobs_lost;
        usec_t last_progress; /* monotonic time of the last claim, completion or idle wait */
} WorkerStats;
void worker_stats(Worker *w, WorkerStats *ret);

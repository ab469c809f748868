/* job.h: run one worker job: render the task's properties with the job's variables, prepare a
 * working directory, run the task implementation and build the result the executor expects. */
#pragma once

#include <jansson.h>

#include "storage.h"
#include "task-impl.h"

typedef struct WorkerJobEnv {
        const char *work_root;   /* per-attempt working directories are made below it */
        const char *cache_root;  /* TaskRunContext.cache_root */
        const char *pip_index_url; /* TaskRunContext.pip_index_url */
        char *const *base_env;   /* environment external processes start from */
        const char *worker_id;
        int cancel_fd;           /* readable: stop the task (kill, shutdown) */
        /* Task log lines (required). */
        void (*log)(void *userdata, json_t *job, TaskLogLevel level, const char *message);
        int (*secret)(void *userdata, const char *key, char **ret);
        /* Internal storage (the slot's handle: used by this thread only): output files go up to
         * it, input files and read() come from it. NULL: none (tasks that need it fail saying so). */
        Storage *storage;
        const SandboxOptions *sandbox; /* external processes' sandbox; NULL = plain processes */
        /* A task run's files kept in storage, in all, and each input file fetched (0: no limit). */
        uint64_t output_bytes_max;
        int64_t epoch;                 /* the claim's fencing epoch: each claim's own working directory */
        const TaskServices *services; /* kv store and logs; NULL when there is no database */
        void *userdata;
} WorkerJobEnv;

/* Run the job to its end. *ret_result is {state, outputs?, metrics?, error?, startedAt, endedAt,
 * attempt}: a task that failed is a result, not an error. Returns a negative errno only when the
 * worker could not run the job at all (out of memory, no working directory). */
int worker_job_run(const WorkerJobEnv *env, json_t *job, json_t **ret_result);

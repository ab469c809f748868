/* worker-kafka.h: the worker on the Kafka queue backend (docs/KAFKA.md): a member of the group over
 * worker-jobs that runs jobs in its slots, fetching only while a slot is free, claims each job on
 * worker-heartbeats before its offset is committed, and produces each result to worker-results. */
#pragma once

#include "kafka.h"
#include "sandbox.h"
#include "store.h"
#include "worker.h"

typedef struct WorkerKafkaOptions {
        const char *id;            /* service id: the results' workerId, and logs */
        const KafkaOptions *kafka; /* [queue] (kept by the caller for the worker's life) */
        unsigned slots;            /* tasks run at once; 0 = 4 */
        const char *work_root;     /* per-attempt working directories go below it (created) */
        char *const *base_env;     /* environment external processes start from; NULL = PATH and LANG */
        const char *storage_url;   /* internal storage; NULL = none */
        const SandboxOptions *sandbox; /* kept by the caller; NULL = plain processes */
        uint64_t max_output_bytes; /* 0 = WORKER_MAX_OUTPUT_BYTES_DEFAULT */
        usec_t heartbeat;          /* [liveness] heartbeat: how often it says which jobs it holds; 0 = 5 s */
        usec_t dead_after;         /* [liveness] dead-after: silent this long, its jobs are others'; 0 = 30 s */
} WorkerKafkaOptions;

typedef struct WorkerKafka WorkerKafka;

/* store (kept by the caller) is where task logs go, over a connection per slot (store_dup).
 * *ret_error (optional) says why the brokers refused. */
int worker_kafka_new(Store *store, const WorkerKafkaOptions *opt, WorkerKafka **ret, char **ret_error);
int worker_kafka_start(WorkerKafka *w);
/* Stop fetching, let running tasks finish for up to grace (then cancel them), join the threads. The
 * jobs whose result was not produced are handed back in a last heartbeat (state STOPPED): the
 * executor resubmits them at once. */
void worker_kafka_stop(WorkerKafka *w, usec_t grace);
WorkerKafka *worker_kafka_free(WorkerKafka *w);
DEFINE_FREE_CLEANUP(WorkerKafka, worker_kafka_free)
void worker_kafka_stats(WorkerKafka *w, WorkerStats *ret);

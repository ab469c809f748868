/* executor-kafka.h: the executor on the Kafka queue backend (docs/KAFKA.md): a member of the group
 * over execution-events and worker-results that applies the engine in transactional steps, with the
 * state of its partitions in memory, rebuilt from the compacted execution-state topic. */
#pragma once

#include "engine.h"
#include "executor.h"
#include "flow-cache.h"
#include "kafka.h"
#include "store.h"

typedef struct ExecutorKafkaOptions {
        const char *id;          /* this executor's service id: its transactional id, and logs */
        const KafkaOptions *kafka; /* [queue] (kept by the caller for the executor's life) */
        size_t batch;            /* events per transaction; 0 = 32 */
        EngineConfig engine;     /* its function hook is the executor's own (files in storage_url) */
        ApiFlowCache *flows;     /* parsed flows, shared with the process's other components; NULL: its own */
        const char *storage_url; /* internal storage for read(), fileSize(), fileExists(); NULL: none */
        usec_t dead_after;       /* [liveness] dead-after: a worker silent this long has its jobs resubmitted; 0 = 30 s */
} ExecutorKafkaOptions;

typedef struct ExecutorKafka ExecutorKafka;

/* Takes ownership of store (give it its own connection: store_dup): flows are read from it. The
 * executions this member steps reach the repositories the API reads through the indexer
 * (daemons/indexer), which reads them from execution-state and logs. *ret_error (optional) says
 * why the brokers refused. */
int executor_kafka_new(Store *store, const ExecutorKafkaOptions *opt, ExecutorKafka **ret, char **ret_error);
ExecutorKafka *executor_kafka_free(ExecutorKafka *x);
DEFINE_FREE_CLEANUP(ExecutorKafka, executor_kafka_free)

/* Steps until stop_fd is readable. Returns 0, or a negative errno when this member cannot go on
 * (fenced by a newer one with its transactional id, or librdkafka gave up). */
int executor_kafka_run(ExecutorKafka *x, int stop_fd);
/* Safe from another thread than the one stepping. */
void executor_kafka_stats(ExecutorKafka *x, ExecutorStats *ret);

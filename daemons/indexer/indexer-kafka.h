/* indexer-kafka.h: the indexer of the Kafka queue backend (docs/KAFKA.md): a member of the group
 * over execution-state and logs that writes executions, their task runs and log lines into the
 * store the API reads, with each partition's offset in the same transaction (nothing twice). */
#pragma once

#include "kafka.h"
#include "store.h"

typedef struct IndexerKafkaOptions {
        const KafkaOptions *kafka; /* [queue] (kept by the caller for the indexer's life) */
        size_t batch;              /* records per store transaction at most; 0 = 500 */
} IndexerKafkaOptions;

typedef struct IndexerStats {
        uint64_t transactions, records, executions, logs, refused;
        usec_t last_progress; /* monotonic time of the last loop turn (the watchdog's gate) */
} IndexerStats;

typedef struct IndexerKafka IndexerKafka;

/* The consumer group the indexer's members join, and the name its offsets have in the store. */
#define INDEXER_KAFKA_GROUP "tern-indexer"

/* Takes ownership of store (give it its own connection: store_dup) once it succeeds. *ret_error
 * (optional) says why the brokers refused. */
int indexer_kafka_new(Store *store, const IndexerKafkaOptions *opt, IndexerKafka **ret, char **ret_error);
IndexerKafka *indexer_kafka_free(IndexerKafka *x);
DEFINE_FREE_CLEANUP(IndexerKafka, indexer_kafka_free)

/* Indexes until stop_fd is readable. Returns 0, or a negative errno when it cannot go on. */
int indexer_kafka_run(IndexerKafka *x, int stop_fd);
/* Safe from another thread than the one indexing. */
void indexer_kafka_stats(IndexerKafka *x, IndexerStats *ret);

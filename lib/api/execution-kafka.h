/* execution-kafka.h: what a front end sends to the executors on the Kafka queue backend ([queue]
 * type = kafka), written once for the CLI and the webserver: an execution's events on
 * execution-events, and a new execution shown in the database before its executor indexes it. */
#pragma once

#include <jansson.h>

#include "execution.h"
#include "kafka.h"
#include "store.h"
#include "timeutil.h"

/* The options of cfg's [queue] (pointing into cfg). */
#define API_KAFKA_OPTIONS(cfg)                                                                                 \
        ((KafkaOptions) { .brokers = (cfg)->queue_brokers, .topic_prefix = (cfg)->queue_topic_prefix,           \
                          .partitions = (cfg)->queue_partitions, .replication = (cfg)->queue_replication,       \
                          .properties = (cfg)->queue_kafka })

/* Send the engine event {type, payload, execution} for execution id to execution-events, keyed by
 * the id (so that it lands in the partition of the executor that holds the execution, after the
 * execution's earlier events), and wait up to timeout for the brokers. execution (may be NULL) is
 * the document an executor takes the execution from when it does not hold it: a new one, a
 * restarted one. 0; -ENOMEM; or kafka_sender_send()'s error with *ret_error saying why. */
int api_kafka_event(KafkaSender *k, const char *id, const char *type, json_t *payload, json_t *execution,
                    usec_t timeout, char **ret_error);

/* Write the execution e just announced (doc: its document) to s as created, so that it shows
 * before its executor's state reaches the indexer; one the indexer wrote first is left as it is.
 * 0, or the store's error. */
int api_kafka_index_created(Store *s, const Execution *e, json_t *doc);

/* scheduler-kafka.h: the scheduler's executions started on the Kafka queue backend ([queue] type = kafka). */
#pragma once

#include "execution.h"
#include "kafka.h"
#include "store.h"

/* How long a firing waits for the brokers' acknowledgement of its execution's start before its
 * transaction gives up (and the slot is tried again at the next step). */
#define SCHEDULER_KAFKA_TIMEOUT_USEC (10 * USEC_PER_SEC)

typedef struct SchedulerKafka SchedulerKafka;

/* A producer kept for the scheduler's life; o (and its strings) must outlive it. */
int scheduler_kafka_new(const KafkaOptions *o, SchedulerKafka **ret, char **ret_error);
SchedulerKafka *scheduler_kafka_free(SchedulerKafka *k);
DEFINE_FREE_CLEANUP(SchedulerKafka, scheduler_kafka_free);

/* SchedulerOptions.start on Kafka (userdata: the SchedulerKafka): store e's row without an event in
 * tx, then send its "created" event to execution-events and wait for the brokers, all before tx
 * commits the trigger's new state. -EEXIST when its row exists (the slot was started already: by
 * an earlier transaction, or indexed since); a failed send is logged naming the execution and the
 * brokers' reason, and its error returned (tx rolls back: nothing recorded, tried again). */
int scheduler_kafka_start(StoreTx *tx, const Execution *e, usec_t now, void *userdata);

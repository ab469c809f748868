/* kafka.h: tern's Kafka client (librdkafka): the topic set, clients made from [queue], topic
 * creation and the transactional step (docs/KAFKA.md). */
#pragma once

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "timeutil.h"

/* Conventions as in store.h: functions return >= 0 on success and a negative errno on failure.
 * A failure with a reason to tell also sets *ret_error (optional; the caller frees it) to a
 * sentence naming the brokers or the topic and librdkafka's own message. Nothing here logs. */

/* For _cleanup_(): a partition list of librdkafka's, destroyed when set. */
static inline void kafka_partition_list_freep(rd_kafka_topic_partition_list_t **l) {
        if (*l)
                rd_kafka_topic_partition_list_destroy(*l);
}

typedef struct KafkaOptions {
        const char *brokers;      /* bootstrap servers "HOST:PORT[,HOST:PORT...]" (required) */
        const char *topic_prefix; /* NULL: "tern." */
        unsigned partitions;      /* of every topic; 0: 12 */
        unsigned replication;     /* replication factor; 0: 3 */
        char *const *properties;  /* "property=value" handed to librdkafka as written; may be NULL */
} KafkaOptions;

#define KAFKA_TOPIC_PREFIX_DEFAULT "tern."
#define KAFKA_PARTITIONS_DEFAULT 12u
#define KAFKA_REPLICATION_DEFAULT 3u

typedef enum KafkaTopic {
        KAFKA_TOPIC_EXECUTION_EVENTS,  /* keyed by execution id */
        KAFKA_TOPIC_EXECUTION_STATE,   /* compacted: the latest document of each execution */
        KAFKA_TOPIC_WORKER_JOBS,       /* keyed by worker group */
        KAFKA_TOPIC_WORKER_RESULTS,    /* keyed by execution id */
        KAFKA_TOPIC_WORKER_HEARTBEATS, /* compacted: the latest heartbeat of each worker */
        KAFKA_TOPIC_LOGS,              /* keyed by execution id */
        KAFKA_TOPIC_TRIGGER_EVENTS,    /* keyed by flow */
        _KAFKA_TOPIC_MAX,
} KafkaTopic;

/* "execution-events", ...; NULL out of range. */
const char *kafka_topic_suffix(KafkaTopic t);
/* cleanup.policy=compact (true) or delete. */
bool kafka_topic_compacted(KafkaTopic t);
/* The topic's full name: prefix and suffix. */
int kafka_topic_name(const KafkaOptions *o, KafkaTopic t, char **ret);

/* The errno that stands for a librdkafka error (-ETIMEDOUT for timeouts, -ECONNREFUSED when no
 * broker answers, -ENOENT for an unknown topic, -EPERM for authorization, -EIO otherwise). */
int kafka_errno(rd_kafka_resp_err_t e);

/* A librdkafka configuration from o: bootstrap.servers, o's properties in order, then extra
 * ("name", "value", ..., NULL: what the caller's role needs, set last so that a property cannot
 * undo it). A property librdkafka refuses is -EINVAL with a reason naming it as tern.conf spells it
 * ("[queue] kafka.NAME = 'VALUE': ..."). */
int kafka_conf_new(const KafkaOptions *o, const char *const *extra, rd_kafka_conf_t **ret, char **ret_error);
/* A client of type made from kafka_conf_new(o, extra). */
int kafka_client_new(const KafkaOptions *o, rd_kafka_type_t type, const char *const *extra, rd_kafka_t **ret,
                     char **ret_error);
/* rd_kafka_destroy() that accepts NULL. */
rd_kafka_t *kafka_client_free(rd_kafka_t *rk);
DEFINE_FREE_CLEANUP(rd_kafka_t, kafka_client_free);
#define _cleanup_kafka_client_ _cleanup_(kafka_client_freep)

/* ---- records one at a time (kafka-send.c) --------------------------------------------------- */

/* An idempotent producer for records sent on their own, outside a step, each acknowledged before
 * the call returns: what a command, the API or the scheduler sends (a new execution, a kill). o
 * (and its strings) must outlive it. */
typedef struct KafkaSender KafkaSender;
int kafka_sender_new(const KafkaOptions *o, KafkaSender **ret, char **ret_error);
KafkaSender *kafka_sender_free(KafkaSender *s);
DEFINE_FREE_CLEANUP(KafkaSender, kafka_sender_free);

/* Produce value under key to topic t (the key's partition) and wait up to timeout for the brokers'
 * acknowledgement. 0 once acknowledged; -ETIMEDOUT when none came (the record is withdrawn if it
 * was still queued); librdkafka's error otherwise. After a failure, make a new sender: librdkafka
 * may have given this one up. */
int kafka_sender_send(KafkaSender *s, KafkaTopic t, const char *key, const char *value, usec_t timeout,
                      char **ret_error);
/* The engine event {type, payload, execution} for execution id, to execution-events keyed by the
 * id (the partition of the executor that holds the execution, after its earlier events); execution
 * (may be NULL) is the document an executor takes the execution from when it does not hold it (a
 * new one, a restarted one). Results as kafka_sender_send(). */
int kafka_sender_event(KafkaSender *s, const char *id, const char *type, json_t *payload, json_t *execution,
                       usec_t timeout, char **ret_error);
/* The same with a sender of its own, for one event (a command's). */
int kafka_send_event(const KafkaOptions *o, const char *id, const char *type, json_t *payload, json_t *execution,
                     usec_t timeout, char **ret_error);

/* ---- topics (kafka-admin.c) ---------------------------------------------------------------- */

typedef enum KafkaTopicState {
        KAFKA_TOPIC_CREATED, /* it was missing and is made */
        KAFKA_TOPIC_PRESENT, /* it exists as it should (detail: what could not be checked, if anything) */
        KAFKA_TOPIC_WRONG,   /* it exists with other settings (detail says which) */
        KAFKA_TOPIC_FAILED,  /* it is missing and could not be made (detail: the broker's reason) */
} KafkaTopicState;

typedef struct KafkaTopicReport {
        char *name;
        KafkaTopicState state;
        char *detail; /* NULL when there is nothing to add */
} KafkaTopicReport;

void kafka_topic_reports_free(KafkaTopicReport *r, size_t n);

/* Make sure that every topic of the set exists with o's partition count, replication factor and
 * cleanup policy: missing ones are created, present ones checked (never changed: repartitioning
 * moves keys between partitions, which only an operator may decide). Idempotent. One report per
 * topic in *ret (in KafkaTopic order). Returns the number of topics WRONG or FAILED (0: all as
 * they should be); negative when the cluster could not be asked at all (*ret_error says why). */
int kafka_topics_init(const KafkaOptions *o, usec_t timeout, KafkaTopicReport **ret, size_t *ret_n, char **ret_error);

/* ---- the transactional step (kafka-step.c) ------------------------------------------------- */

typedef struct KafkaStep KafkaStep;

typedef struct KafkaStepOptions {
        const char *group;            /* consumer group */
        const char *transactional_id; /* one per member, the same after the member restarts (fencing) */
        char *const *topics;          /* full names of the topics consumed */
        size_t batch;                 /* records per transaction at most; 0: 100 */
        usec_t txn_timeout;           /* how long a transaction operation may take; 0: 30 s */
        /* Called after each committed transaction, before the next poll, with the offsets it
         * committed (per partition, the next to read; NULL after kafka_step_produce(), which
         * consumed nothing) and its number (kafka_step_txn()); may be NULL. An executor makes the
         * state it applied in the transaction its committed state here. */
        void (*committed)(KafkaStep *s, const rd_kafka_topic_partition_list_t *offsets, uint64_t txn, void *userdata);
        /* Called when partitions are assigned to this member, before it consumes them (inside
         * kafka_step_run()); may be NULL. An executor rebuilds the state of those partitions from
         * execution-state here. Each partition starts at parts' offset when the hook sets one, else
         * at the group's committed offset. */
        void (*assigned)(KafkaStep *s, rd_kafka_topic_partition_list_t *parts, void *userdata);
        void *userdata;
} KafkaStepOptions;

/* The pure part of a step: one consumed record in (in offset order per partition), records out
 * through kafka_step_emit(). A negative return aborts the transaction (every record of the batch
 * is consumed again) and is what kafka_step_run() returns. */
typedef int (*KafkaStepFn)(KafkaStep *s, const rd_kafka_message_t *in, void *userdata);

/* Join the group (subscribe) and initialize the transactional producer. */
int kafka_step_new(const KafkaOptions *o, const KafkaStepOptions *so, KafkaStep **ret, char **ret_error);
/* Leave the group (closing the consumer) and free. */
KafkaStep *kafka_step_free(KafkaStep *s);
DEFINE_FREE_CLEANUP(KafkaStep, kafka_step_free);
#define _cleanup_kafka_step_ _cleanup_(kafka_step_freep)

/* Produce one record in the transaction being built (only from a KafkaStepFn). */
int kafka_step_emit(KafkaStep *s, const char *topic, const void *key, size_t key_len, const void *value,
                    size_t value_len);
/* The same into a given partition (RD_KAFKA_PARTITION_UA: the key's, as kafka_step_emit()); value
 * NULL is a tombstone (a compacted topic forgets the key). */
int kafka_step_emit_to(KafkaStep *s, const char *topic, int32_t partition, const void *key, size_t key_len,
                       const void *value, size_t value_len);
/* The number of the transaction being built (or, between steps, of the next one): 1, 2, ... per
 * KafkaStep. */
uint64_t kafka_step_txn(const KafkaStep *s);

/* The member's consumer, for what librdkafka offers beyond this module (positions, statistics,
 * rd_kafka_memberid()); owned by s. */
rd_kafka_t *kafka_step_consumer(KafkaStep *s);

/* Named outcome of kafka_step_run(). */
enum {
        KAFKA_STEP_IDLE = 0, /* nothing consumed within the timeout, or the batch was dropped by a rebalance */
};

/* One step: wait up to timeout for records, take up to batch of them, apply fn to each, and commit
 * the records fn emitted with the consumed offsets in one transaction. Returns the number of
 * records consumed and committed (> 0) or KAFKA_STEP_IDLE. When the transaction had to be aborted
 * (a broker failed it; fn failed) the batch is rewound to be consumed again and -EAGAIN (or fn's
 * error) is returned: call again. Any other negative return is fatal for this member (its producer
 * was fenced by a newer one with the same transactional id, or librdkafka gave up): free it. */
int kafka_step_run(KafkaStep *s, usec_t timeout, KafkaStepFn fn, void *userdata, char **ret_error);
/* A transaction that consumes nothing: fn emits records (kafka_step_emit()) and they are committed
 * together, or none of them (what a member produces on its own, such as its due timers). Returns 0
 * when committed; otherwise as kafka_step_run() (-EAGAIN: aborted, call again; fn's error). */
int kafka_step_produce(KafkaStep *s, int (*fn)(KafkaStep *s, void *userdata), void *userdata, char **ret_error);

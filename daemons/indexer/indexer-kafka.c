/* indexer-kafka.c: the Kafka indexer: execution-state and logs read in batches and written to the
 * store with each partition's next offset in the same transaction, so that replays write nothing twice. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "execution-store.h"
#include "execution.h"
#include "id.h"
#include "indexer-kafka.h"
#include "log.h"
#include "strutil.h"

/* Keys of execution-state that are not executions (the executor's "offsets:TOPIC"). */
#define NOT_EXECUTION_CHAR ':'
/* How long the first record of a batch is waited for, and how long the rest may take to gather. */
#define POLL_FIRST_MS 250
#define GATHER_USEC (50 * USEC_PER_MSEC)

struct IndexerKafka {
        Store *store;
        rd_kafka_t *consumer;
        char *topics[_KAFKA_TOPIC_MAX];
        size_t batch;
        rd_kafka_message_t **msgs; /* the batch being gathered, in the order consumed */
        size_t n_msgs;
        /* Per assigned partition "TOPIC/P": the next offset as the store has it (-1: none yet).
         * The store's row is compared with it in every write, a fence against another member
         * that read the partition meanwhile. */
        json_t *positions;
        bool rebalanced; /* the assignment changed while a batch was gathered: it is dropped */
        pthread_mutex_t stats_lock;
        IndexerStats stats;
};

static void where_of(char *buf, size_t size, const char *topic, int32_t partition) {
        snprintf(buf, size, "%s/%d", topic, (int) partition);
}

static void batch_drop(IndexerKafka *x) {
        for (size_t i = 0; i < x->n_msgs; i++)
                rd_kafka_message_destroy(x->msgs[i]);
        x->n_msgs = 0;
}

/* ---- where each partition starts: the store's offsets ------------------------------------------ */

typedef struct OffsetsRead {
        IndexerKafka *x;
        rd_kafka_topic_partition_list_t *parts;
} OffsetsRead;

static int offsets_read_tx(StoreTx *tx, void *userdata) {
        OffsetsRead *o = userdata;
        for (int i = 0; i < o->parts->cnt; i++) {
                rd_kafka_topic_partition_t *p = &o->parts->elems[i];
                char where[300];
                int64_t next = -1;
                int r = store_queue_offset_get(tx, INDEXER_KAFKA_GROUP, p->topic, (int) p->partition, &next);
                if (r < 0 && r != -ENOENT)
                        return r;
                where_of(where, sizeof where, p->topic, p->partition);
                if (json_object_set_new(o->x->positions, where, json_integer(r < 0 ? -1 : next)) < 0)
                        return -ENOMEM;
                /* (Compaction may have removed the records before it; the broker starts at the next.) */
                p->offset = r < 0 ? RD_KAFKA_OFFSET_BEGINNING : next;
        }
        return 0;
}

/* Start every partition of parts where the store says this indexer wrote up to (the group's own
 * committed offsets are not used: the store's are written with the rows, so they cannot disagree). */
static int offsets_read(IndexerKafka *x, rd_kafka_topic_partition_list_t *parts) {
        OffsetsRead o = { .x = x, .parts = parts };
        json_object_clear(x->positions);
        return store_transact(x->store, offsets_read_tx, &o);
}

/* Eager rebalancing: every assignment is the member's whole share. A batch being gathered is
 * dropped (its partitions may be another's now; their next owner reads them from the store's offsets). */
static void indexer_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                              void *opaque) {
        IndexerKafka *x = opaque;
        x->rebalanced = true;
        if (err != RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                json_object_clear(x->positions);
                (void) rd_kafka_assign(rk, NULL);
                return;
        }
        int r = offsets_read(x, parts);
        if (r < 0) {
                /* Taken all the same (the group will not offer them again until the next rebalance),
                 * with no position known: the first batch of them is refused by the fence and they
                 * are read again from where the database says (resync()), once it answers. */
                log_error_errno(r, "Cannot read where the indexer stopped in the database: %s", store_error(x->store));
                json_object_clear(x->positions);
        }
        (void) rd_kafka_assign(rk, parts);
        log_info("Indexer took %d partition(s).", parts->cnt);
}

/* After a write was refused (another member wrote a partition meanwhile): every assigned partition
 * starts again where the store says. */
static int resync(IndexerKafka *x) {
        _cleanup_(kafka_partition_list_freep) rd_kafka_topic_partition_list_t *l = NULL;
        if (rd_kafka_assignment(x->consumer, &l) || !l)
                return -EIO;
        int r = offsets_read(x, l);
        if (r < 0)
                return r;
        rd_kafka_resp_err_t err = rd_kafka_assign(x->consumer, l);
        return err ? kafka_errno(err) : 0;
}

/* ---- one batch, one transaction -------------------------------------------------------------------- */

/* Did e end with this record? Not when the row says it had ended already with the same history (a
 * later record of an ended execution: its last timers), but again when it ends after a restart. */
static int ends_here(StoreTx *tx, const Execution *e) {
        _cleanup_json_ json_t *prev = NULL;
        if (!state_is_terminal(e->state.current))
                return 0;
        int r = store_execution_get(tx, e->id, &prev);
        if (r == -ENOENT || r == -EBADMSG)
                return 1;
        if (r < 0)
                return r;
        json_t *st = json_object_get(prev, "state");
        State was = state_from_string(json_string_value(json_object_get(st, "current")));
        return !(was >= 0 && state_is_terminal(was) &&
                 json_array_size(json_object_get(st, "histories")) == e->state.n_histories);
}

static int index_execution(StoreTx *tx, const char *id, json_t *record, usec_t now) {
        _cleanup_execution_ Execution *e = NULL;
        _cleanup_(execution_store_meta_done) StoreExecutionMeta meta = {};
        _cleanup_json_ json_t *doc = NULL;
        int r = execution_from_json(json_object_get(record, "execution"), &e);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !streq(e->id, id)) {
                /* One bad record blocks no other: it is skipped, saying so. */
                log_error("Execution '%s': its state record cannot be read (%s); not indexed.", id,
                          r < 0 ? strerror(-r) : "another execution's document");
                return 0;
        }
        /* The document as the engine writes it, so that it matches the task runs meta lists. */
        if (!(doc = execution_to_json(e)) || execution_store_meta(e, now, &meta) < 0)
                return -ENOMEM;
        int ended = ends_here(tx, e);
        if (ended < 0)
                return ended;
        r = store_execution_save(tx, &meta, doc, now);
        if (r == -ENOENT)
                r = store_execution_create(tx, &meta, doc, NULL, NULL, now);
        /* Written meanwhile by its creator (a scheduler writes the row in the transaction that sends
         * the execution's event, and commits after the brokers' acknowledgement): this is newer. */
        if (r == -EEXIST)
                r = store_execution_save(tx, &meta, doc, now);
        /* The scheduler's Flow triggers hear of the end here, in the transaction that indexes it
         * with its offset: once per end, as the database executor reports it in its step. */
        if (r >= 0 && ended)
                r = store_execution_ended_emit(tx, e->id, e->namespace, e->flow_id, state_to_string(e->state.current),
                                               now);
        return r < 0 ? r : 1;
}

static int index_log(json_t *v, StoreLog *l) {
        const char *exec = json_string_value(json_object_get(v, "executionId"));
        const char *message = json_string_value(json_object_get(v, "message"));
        if (isempty(exec) || !message)
                return -EBADMSG;
        int level = store_log_level_from_string(json_string_value(json_object_get(v, "level")));
        *l = (StoreLog) {
                .execution_id = exec,
                .task_run_id = json_string_value(json_object_get(v, "taskRunId")),
                .task_id = json_string_value(json_object_get(v, "taskId")),
                .attempt = (int) json_integer_value(json_object_get(v, "attempt")),
                .level = level < 0 ? STORE_LOG_INFO : (StoreLogLevel) level,
                .timestamp = (usec_t) json_integer_value(json_object_get(v, "timestamp")),
                .message = message,
        };
        return 0;
}

typedef struct BatchWrite {
        IndexerKafka *x;
        size_t executions, logs;
} BatchWrite;

static int batch_tx(StoreTx *tx, void *userdata) {
        BatchWrite *b = userdata;
        IndexerKafka *x = b->x;
        const char *state_topic = x->topics[KAFKA_TOPIC_EXECUTION_STATE];
        _cleanup_json_ json_t *latest = json_object(), *next = json_object(), *logs = json_array();
        usec_t now = now_realtime();
        int r;

        b->executions = b->logs = 0;
        if (!latest || !next || !logs)
                return -ENOMEM;
        /* An execution's states are in one partition, in order: the last of the batch is its newest,
         * the only one worth writing. */
        for (size_t i = 0; i < x->n_msgs; i++) {
                const rd_kafka_message_t *m = x->msgs[i];
                const char *topic = rd_kafka_topic_name(m->rkt);
                char where[300], id[ID_MAX];
                where_of(where, sizeof where, topic, m->partition);
                if (json_object_set_new(next, where, json_integer(m->offset + 1)) < 0)
                        return -ENOMEM;
                if (!m->payload || m->key_len == 0 || m->key_len >= sizeof id ||
                    memchr(m->key, NOT_EXECUTION_CHAR, m->key_len))
                        continue; /* a tombstone, or the executor's offsets */
                json_t *v = json_loadb(m->payload, m->len, 0, NULL);
                if (!json_is_object(v)) {
                        log_error("Record at offset %lld of partition %d of '%s' is not JSON; not indexed.",
                                  (long long) m->offset, (int) m->partition, topic);
                        json_decref(v);
                        continue;
                }
                snprintf(id, sizeof id, "%.*s", (int) m->key_len, (const char *) m->key);
                if (streq(topic, state_topic))
                        r = json_object_set_new(latest, id, v);
                else
                        r = json_array_append_new(logs, v);
                if (r < 0)
                        return -ENOMEM;
        }
        /* The fence first: a member that lost a partition to another writes none of its records
         * (-ESTALE, not STORE_STALE: the transaction must roll back, offsets of other partitions
         * it moved already included). */
        const char *where;
        json_t *o;
        json_object_foreach(next, where, o) {
                json_t *pos = json_object_get(x->positions, where);
                const char *slash = strrchr(where, '/');
                if (!pos || !slash)
                        return -ESTALE; /* (not assigned any more) */
                _cleanup_free_ char *topic = strndup(where, (size_t) (slash - where));
                if (!topic)
                        return -ENOMEM;
                r = store_queue_offset_set(tx, INDEXER_KAFKA_GROUP, topic, atoi(slash + 1), json_integer_value(pos),
                                           json_integer_value(o));
                if (r != 0)
                        return r == STORE_STALE ? -ESTALE : r;
        }
        const char *id;
        json_t *rec;
        json_object_foreach(latest, id, rec) {
                if ((r = index_execution(tx, id, rec, now)) < 0)
                        return r;
                b->executions += (size_t) r;
        }
        size_t n = json_array_size(logs), i, k = 0;
        if (n > 0) {
                _cleanup_free_ StoreLog *lines = calloc(n, sizeof *lines);
                json_t *v;
                if (!lines)
                        return -ENOMEM;
                json_array_foreach(logs, i, v)
                        if (index_log(v, &lines[k]) >= 0)
                                k++;
                if (k > 0 && (r = store_log_append_tx(tx, lines, k)) < 0)
                        return r;
                b->logs = k;
        }
        return 0;
}

/* Write the gathered batch and, with it, where each of its partitions is read up to. */
static int batch_write(IndexerKafka *x) {
        BatchWrite b = { .x = x };
        int r = store_transact(x->store, batch_tx, &b);
        if (r == -ESTALE) {
                log_warning("Another indexer wrote some of this one's partitions meanwhile (a rebalance): "
                            "reading them again from where the database says.");
                pthread_mutex_lock(&x->stats_lock);
                x->stats.refused++;
                pthread_mutex_unlock(&x->stats_lock);
                batch_drop(x);
                return resync(x);
        }
        if (r < 0)
                return r;
        /* Committed: these are the store's positions now. */
        for (size_t i = 0; i < x->n_msgs; i++) {
                char where[300];
                where_of(where, sizeof where, rd_kafka_topic_name(x->msgs[i]->rkt), x->msgs[i]->partition);
                if (json_object_get(x->positions, where))
                        (void) json_object_set_new(x->positions, where, json_integer(x->msgs[i]->offset + 1));
        }
        pthread_mutex_lock(&x->stats_lock);
        x->stats.transactions++;
        x->stats.records += x->n_msgs;
        x->stats.executions += b.executions;
        x->stats.logs += b.logs;
        pthread_mutex_unlock(&x->stats_lock);
        batch_drop(x);
        return 0;
}

/* Gather up to a batch of records: wait for the first, then take what arrives within GATHER_USEC. */
static int batch_gather(IndexerKafka *x) {
        usec_t until = 0;
        while (x->n_msgs < x->batch) {
                int wait = 0;
                if (x->n_msgs == 0)
                        wait = POLL_FIRST_MS;
                else if (now_monotonic() < until)
                        wait = 10;
                else
                        break;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(x->consumer, wait);
                if (x->rebalanced) {
                        x->rebalanced = false;
                        batch_drop(x);
                }
                if (!m) {
                        if (x->n_msgs == 0)
                                return 0;
                        continue;
                }
                if (m->err) {
                        log_debug("Kafka consumer of the indexer: %s", rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        if (x->n_msgs == 0)
                                return 0;
                        continue;
                }
                if (x->n_msgs == 0)
                        until = now_monotonic() + GATHER_USEC;
                x->msgs[x->n_msgs++] = m;
        }
        return 0;
}

/* ---- the member ------------------------------------------------------------------------------------ */

int indexer_kafka_new(Store *store, const IndexerKafkaOptions *opt, IndexerKafka **ret, char **ret_error) {
        _cleanup_(indexer_kafka_freep) IndexerKafka *x = calloc(1, sizeof *x);
        int r;
        if (!x)
                return -ENOMEM;
        pthread_mutex_init(&x->stats_lock, NULL);
        x->stats.last_progress = now_monotonic();
        x->batch = opt->batch ?: 500;
        if (!(x->msgs = calloc(x->batch, sizeof *x->msgs)) || !(x->positions = json_object()))
                return -ENOMEM;
        for (KafkaTopic t = 0; t < _KAFKA_TOPIC_MAX; t++)
                if ((r = kafka_topic_name(opt->kafka, t, &x->topics[t])) < 0)
                        return r;
        /* Only what the executor's transactions committed is indexed; offsets live in the store. */
        const char *extra[] = { "group.id", INDEXER_KAFKA_GROUP, "enable.auto.commit", "false",
                                "enable.auto.offset.store", "false", "isolation.level", "read_committed",
                                "auto.offset.reset", "earliest", "enable.partition.eof", "false", NULL };
        rd_kafka_conf_t *conf;
        if ((r = kafka_conf_new(opt->kafka, extra, &conf, ret_error)) < 0)
                return r;
        rd_kafka_conf_set_rebalance_cb(conf, indexer_rebalance);
        rd_kafka_conf_set_opaque(conf, x);
        char why[512];
        x->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
        if (!x->consumer) {
                rd_kafka_conf_destroy(conf);
                error_setf(ret_error, "cannot make a Kafka consumer for '%s': %s", opt->kafka->brokers, why);
                return -EINVAL;
        }
        (void) rd_kafka_poll_set_consumer(x->consumer);
        _cleanup_(kafka_partition_list_freep) rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(2);
        if (!sub)
                return -ENOMEM;
        rd_kafka_topic_partition_list_add(sub, x->topics[KAFKA_TOPIC_EXECUTION_STATE], RD_KAFKA_PARTITION_UA);
        rd_kafka_topic_partition_list_add(sub, x->topics[KAFKA_TOPIC_LOGS], RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(x->consumer, sub);
        if (err) {
                error_setf(ret_error, "cannot join the Kafka consumer group '%s' on '%s': %s", INDEXER_KAFKA_GROUP,
                          opt->kafka->brokers, rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        /* (Taken last: on failure the store is the caller's.) */
        x->store = store;
        *ret = TAKE_PTR(x);
        return 0;
}

IndexerKafka *indexer_kafka_free(IndexerKafka *x) {
        if (!x)
                return NULL;
        if (x->consumer) {
                /* Leave the group now: the others take the partitions over at once. */
                (void) rd_kafka_consumer_close(x->consumer);
                batch_drop(x);
                rd_kafka_destroy(x->consumer);
        }
        free(x->msgs);
        json_decref(x->positions);
        for (KafkaTopic t = 0; t < _KAFKA_TOPIC_MAX; t++)
                free(x->topics[t]);
        store_free(x->store);
        pthread_mutex_destroy(&x->stats_lock);
        free(x);
        return NULL;
}

void indexer_kafka_stats(IndexerKafka *x, IndexerStats *ret) {
        pthread_mutex_lock(&x->stats_lock);
        *ret = x->stats;
        pthread_mutex_unlock(&x->stats_lock);
}

int indexer_kafka_run(IndexerKafka *x, int stop_fd) {
        for (;;) {
                struct pollfd p = { stop_fd, POLLIN, 0 };
                int r;
                if (stop_fd >= 0 && poll(&p, 1, 0) > 0)
                        return 0;
                r = batch_gather(x);
                if (r >= 0 && x->n_msgs > 0)
                        r = batch_write(x);
                pthread_mutex_lock(&x->stats_lock);
                x->stats.last_progress = now_monotonic();
                pthread_mutex_unlock(&x->stats_lock);
                if (r >= 0)
                        continue;
                /* The database failed the batch (store_transact() rides out lost connections on its
                 * own): it is read again from the store's offsets after a pause. */
                log_warning_errno(r, "Cannot write %zu record(s) to the database, reading them again: %s", x->n_msgs,
                                  store_error(x->store));
                batch_drop(x);
                (void) poll(&p, stop_fd >= 0 ? 1 : 0, 1000);
                if ((r = resync(x)) < 0)
                        log_warning_errno(r, "Cannot read where the indexer stopped in the database: %s",
                                          store_error(x->store));
        }
}

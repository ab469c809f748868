/* kafka-step.c: the transactional step: consume a batch, apply a pure function, produce its records
 * and commit the consumed offsets in one Kafka transaction (engine rule 2 on Kafka). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kafka-internal.h"
#include "kafka.h"
#include "strutil.h"

struct KafkaStep {
        rd_kafka_t *consumer, *producer;
        char *group, *brokers;
        size_t batch;
        int txn_timeout_ms;
        uint64_t txn;           /* number of the transaction being built or next */
        bool rebalanced;        /* the assignment changed while a batch was being gathered */
        int emit_error;         /* the first kafka_step_emit() failure of this transaction */
        char *emit_why;
        void (*committed)(KafkaStep *s, const rd_kafka_topic_partition_list_t *offsets, uint64_t txn, void *userdata);
        void (*assigned)(KafkaStep *s, rd_kafka_topic_partition_list_t *parts, void *userdata);
        void *userdata;
};

/* Eager rebalancing: every partition is revoked, then the new assignment given, and consumption of
 * each starts at its committed offset. A batch gathered across a rebalance is dropped (its offsets
 * were not committed, so whoever owns its partitions now consumes it again). No transaction is
 * ever open here: callbacks run inside rd_kafka_consumer_poll(), which is only called between
 * transactions. */
static void step_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                           void *opaque) {
        KafkaStep *s = opaque;
        s->rebalanced = true;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                if (s->assigned)
                        s->assigned(s, parts, s->userdata);
                (void) rd_kafka_assign(rk, parts);
        } else
                (void) rd_kafka_assign(rk, NULL);
}

KafkaStep *kafka_step_free(KafkaStep *s) {
        if (!s)
                return NULL;
        if (s->consumer) {
                /* Leave the group now rather than after session.timeout.ms: the others take over at once. */
                (void) rd_kafka_consumer_close(s->consumer);
                rd_kafka_destroy(s->consumer);
        }
        kafka_client_free(s->producer);
        free(s->group);
        free(s->brokers);
        free(s->emit_why);
        free(s);
        return NULL;
}

static void kafka_error_freep(rd_kafka_error_t **e) {
        if (*e)
                rd_kafka_error_destroy(*e);
}

int kafka_step_new(const KafkaOptions *o, const KafkaStepOptions *so, KafkaStep **ret, char **ret_error) {
        if (isempty(so->group) || isempty(so->transactional_id) || !so->topics || !so->topics[0])
                return -EINVAL;
        _cleanup_kafka_step_ KafkaStep *s = calloc(1, sizeof *s);
        if (!s)
                return -ENOMEM;
        s->group = strdup(so->group);
        s->brokers = strdup(o->brokers ?: "");
        if (!s->group || !s->brokers)
                return -ENOMEM;
        s->batch = so->batch ?: 100;
        s->txn_timeout_ms = (int) ((so->txn_timeout ?: 30 * USEC_PER_SEC) / USEC_PER_MSEC);
        s->txn = 1;
        s->committed = so->committed;
        s->assigned = so->assigned;
        s->userdata = so->userdata;

        /* Only what a transaction has committed is read, and offsets move only with transactions.
         * The range assignor gives a member the same partition numbers of every topic it consumes
         * (the topics have as many partitions): an executor owns partition p of the events and of
         * the results together, as docs/KAFKA.md says. */
        const char *cextra[] = { "group.id", so->group, "enable.auto.commit", "false", "enable.auto.offset.store", "false",
                                 "partition.assignment.strategy", "range",
                                 "isolation.level", "read_committed", "auto.offset.reset", "earliest",
                                 "enable.partition.eof", "false", NULL };
        rd_kafka_conf_t *conf;
        int r = kafka_conf_new(o, cextra, &conf, ret_error);
        if (r < 0)
                return r;
        rd_kafka_conf_set_rebalance_cb(conf, step_rebalance);
        rd_kafka_conf_set_opaque(conf, s);
        char why[512];
        s->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, conf, why, sizeof why);
        if (!s->consumer) {
                rd_kafka_conf_destroy(conf);
                kafka_set_error(ret_error, "cannot make a Kafka consumer for '%s': %s", o->brokers, why);
                return -EINVAL;
        }
        (void) rd_kafka_poll_set_consumer(s->consumer);

        char timeout[32];
        snprintf(timeout, sizeof timeout, "%d", s->txn_timeout_ms * 2);
        const char *pextra[] = { "transactional.id", so->transactional_id, "transaction.timeout.ms", timeout, NULL };
        r = kafka_client_new(o, RD_KAFKA_PRODUCER, pextra, &s->producer, ret_error);
        if (r < 0)
                return r;
        /* Fences any older producer with this transactional id (a previous life of this member) and
         * waits for its open transaction to end. */
        _cleanup_(kafka_error_freep) rd_kafka_error_t *e = rd_kafka_init_transactions(s->producer, s->txn_timeout_ms);
        if (e) {
                kafka_set_error(ret_error, "cannot start transactions (id '%s') on the Kafka brokers '%s': %s",
                                so->transactional_id, o->brokers, rd_kafka_error_string(e));
                return kafka_errno(rd_kafka_error_code(e));
        }

        _cleanup_(kafka_partition_list_freep) rd_kafka_topic_partition_list_t *sub =
                rd_kafka_topic_partition_list_new((int) strv_length((char **) so->topics));
        if (!sub)
                return -ENOMEM;
        for (char *const *t = so->topics; *t; t++)
                rd_kafka_topic_partition_list_add(sub, *t, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t err = rd_kafka_subscribe(s->consumer, sub);
        if (err) {
                kafka_set_error(ret_error, "cannot join the Kafka consumer group '%s' on '%s': %s", so->group,
                                o->brokers, rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        *ret = TAKE_PTR(s);
        return 0;
}

rd_kafka_t *kafka_step_consumer(KafkaStep *s) {
        return s->consumer;
}

uint64_t kafka_step_txn(const KafkaStep *s) {
        return s->txn;
}

int kafka_step_emit(KafkaStep *s, const char *topic, const void *key, size_t key_len, const void *value,
                    size_t value_len) {
        return kafka_step_emit_to(s, topic, RD_KAFKA_PARTITION_UA, key, key_len, value, value_len);
}

int kafka_step_emit_to(KafkaStep *s, const char *topic, int32_t partition, const void *key, size_t key_len,
                       const void *value, size_t value_len) {
        for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition), RD_KAFKA_V_KEY(key, key_len),
                        RD_KAFKA_V_VALUE((void *) value, value_len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                        RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        /* Delivery reports free room; a step's records are few, this is rare. */
                        rd_kafka_poll(s->producer, 100);
                        continue;
                }
                if (e && !s->emit_error) {
                        s->emit_error = kafka_errno(e);
                        free(s->emit_why);
                        s->emit_why = NULL;
                        kafka_set_error(&s->emit_why, "cannot produce to Kafka topic '%s': %s", topic, rd_kafka_err2str(e));
                }
                return e ? kafka_errno(e) : 0;
        }
}

/* Where each partition of the batch starts and ends: first offsets (to rewind to) and next ones (to
 * commit). Records of a partition come in offset order. */
static int batch_offsets(rd_kafka_message_t **msgs, size_t n, rd_kafka_topic_partition_list_t **ret_first,
                         rd_kafka_topic_partition_list_t **ret_next) {
        _cleanup_(kafka_partition_list_freep) rd_kafka_topic_partition_list_t *first = rd_kafka_topic_partition_list_new(8),
                                                                              *next = rd_kafka_topic_partition_list_new(8);
        if (!first || !next)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const char *topic = rd_kafka_topic_name(msgs[i]->rkt);
                rd_kafka_topic_partition_t *p = rd_kafka_topic_partition_list_find(next, topic, msgs[i]->partition);
                if (!p) {
                        rd_kafka_topic_partition_list_add(first, topic, msgs[i]->partition)->offset = msgs[i]->offset;
                        p = rd_kafka_topic_partition_list_add(next, topic, msgs[i]->partition);
                }
                p->offset = msgs[i]->offset + 1;
        }
        *ret_first = TAKE_PTR(first);
        *ret_next = TAKE_PTR(next);
        return 0;
}

/* Back to the batch's first offsets, so that the records of an aborted transaction are consumed
 * again by this member (a partition lost meanwhile is its new owner's, from the committed offset). */
static void step_rewind(KafkaStep *s, rd_kafka_topic_partition_list_t *first) {
        rd_kafka_error_t *e = rd_kafka_seek_partitions(s->consumer, first, s->txn_timeout_ms);
        if (e)
                rd_kafka_error_destroy(e);
}

/* Abort the open transaction (retrying while the brokers say the abort may be retried) and rewind. */
static int step_abort(KafkaStep *s, rd_kafka_topic_partition_list_t *first, char **ret_error) {
        for (;;) {
                _cleanup_(kafka_error_freep) rd_kafka_error_t *e = rd_kafka_abort_transaction(s->producer, s->txn_timeout_ms);
                if (!e)
                        break;
                if (!rd_kafka_error_is_retriable(e)) {
                        kafka_set_error(ret_error, "cannot abort a Kafka transaction on '%s': %s", s->brokers,
                                        rd_kafka_error_string(e));
                        return -ENOTRECOVERABLE;
                }
        }
        s->txn++;
        if (first)
                step_rewind(s, first);
        return 0;
}

/* What an error of a transaction operation means: abort and try again, or this member is done. */
static int step_failed(KafkaStep *s, rd_kafka_error_t *e, const char *what, rd_kafka_topic_partition_list_t *first,
                       char **ret_error) {
        kafka_set_error(ret_error, "%s (group '%s', brokers '%s'): %s", what, s->group, s->brokers,
                        rd_kafka_error_string(e));
        if (rd_kafka_error_txn_requires_abort(e)) {
                int r = step_abort(s, first, ret_error);
                return r < 0 ? r : -EAGAIN;
        }
        return rd_kafka_error_is_fatal(e) ? -ENOTRECOVERABLE : -EIO;
}

static int step_commit(KafkaStep *s, rd_kafka_topic_partition_list_t *first, rd_kafka_topic_partition_list_t *next,
                       char **ret_error);

static void messages_free(rd_kafka_message_t **msgs, size_t n) {
        for (size_t i = 0; i < n; i++)
                rd_kafka_message_destroy(msgs[i]);
        free(msgs);
}

int kafka_step_run(KafkaStep *s, usec_t timeout, KafkaStepFn fn, void *userdata, char **ret_error) {
        rd_kafka_message_t **msgs = calloc(s->batch, sizeof *msgs);
        size_t n = 0;
        int r;

        if (!msgs)
                return -ENOMEM;
        s->rebalanced = false;
        int wait_ms = (int) (timeout / USEC_PER_MSEC);
        while (n < s->batch) {
                rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, n == 0 ? wait_ms : 0);
                if (!m)
                        break;
                if (m->err) {
                        /* Consumer errors are reports (a broker down, a partition moving); librdkafka
                         * recovers by itself. They end the gathering, not the step. */
                        rd_kafka_message_destroy(m);
                        break;
                }
                msgs[n++] = m;
                if (s->rebalanced)
                        break;
        }
        if (n == 0) {
                free(msgs);
                return KAFKA_STEP_IDLE;
        }

        _cleanup_(kafka_partition_list_freep) rd_kafka_topic_partition_list_t *first = NULL, *next = NULL;
        r = batch_offsets(msgs, n, &first, &next);
        if (r < 0) {
                messages_free(msgs, n);
                return r;
        }
        if (s->rebalanced) {
                /* The batch straddles a rebalance: drop it. Records taken from the new assignment have
                 * moved its positions on: back to where they were. Partitions now someone else's
                 * are not ours to seek (their owner starts at the committed offsets). */
                step_rewind(s, first);
                messages_free(msgs, n);
                return KAFKA_STEP_IDLE;
        }

        rd_kafka_error_t *e = rd_kafka_begin_transaction(s->producer);
        if (e) {
                messages_free(msgs, n);
                r = step_failed(s, e, "cannot begin a Kafka transaction", NULL, ret_error);
                rd_kafka_error_destroy(e);
                /* Nothing was done: the records are read again from where they were. */
                step_rewind(s, first);
                return r;
        }
        s->emit_error = 0;
        for (size_t i = 0; i < n; i++) {
                r = fn(s, msgs[i], userdata);
                if (r >= 0 && s->emit_error)
                        r = s->emit_error;
                if (r < 0) {
                        if (s->emit_error && s->emit_why)
                                kafka_set_error(ret_error, "%s", s->emit_why);
                        messages_free(msgs, n);
                        int q = step_abort(s, first, ret_error);
                        return q < 0 ? q : r;
                }
        }
        messages_free(msgs, n);
        r = step_commit(s, first, next, ret_error);
        return r < 0 ? r : (int) n;
}

int kafka_step_produce(KafkaStep *s, int (*fn)(KafkaStep *s, void *userdata), void *userdata, char **ret_error) {
        rd_kafka_error_t *e = rd_kafka_begin_transaction(s->producer);
        if (e) {
                int r = step_failed(s, e, "cannot begin a Kafka transaction", NULL, ret_error);
                rd_kafka_error_destroy(e);
                return r;
        }
        s->emit_error = 0;
        int r = fn(s, userdata);
        if (r >= 0 && s->emit_error)
                r = s->emit_error;
        if (r < 0) {
                if (s->emit_error && s->emit_why)
                        kafka_set_error(ret_error, "%s", s->emit_why);
                int q = step_abort(s, NULL, ret_error);
                return q < 0 ? q : r;
        }
        return step_commit(s, NULL, NULL, ret_error);
}

/* Commit the open transaction, with the consumed offsets next (NULL: none were consumed), and tell
 * the committed hook. */
static int step_commit(KafkaStep *s, rd_kafka_topic_partition_list_t *first, rd_kafka_topic_partition_list_t *next,
                       char **ret_error) {
        rd_kafka_error_t *e;
        int r;

        if (next) {
                rd_kafka_consumer_group_metadata_t *cgmd = rd_kafka_consumer_group_metadata(s->consumer);
                if (!cgmd) {
                        (void) step_abort(s, first, NULL);
                        return -ENOMEM;
                }
                while ((e = rd_kafka_send_offsets_to_transaction(s->producer, next, cgmd, s->txn_timeout_ms)) &&
                       rd_kafka_error_is_retriable(e))
                        rd_kafka_error_destroy(e);
                rd_kafka_consumer_group_metadata_destroy(cgmd);
                if (e) {
                        r = step_failed(s, e, "cannot add the consumed offsets to the Kafka transaction", first, ret_error);
                        rd_kafka_error_destroy(e);
                        return r;
                }
        }
        for (unsigned tries = 1;; tries++) {
                e = rd_kafka_commit_transaction(s->producer, s->txn_timeout_ms);
                if (!e)
                        break;
                if (rd_kafka_error_is_retriable(e) && tries < 5) {
                        /* The outcome is not known yet (a timeout, a coordinator moving): committing
                         * again is how librdkafka asks to learn it. */
                        rd_kafka_error_destroy(e);
                        continue;
                }
                if (rd_kafka_error_is_retriable(e)) {
                        /* Still unknown after five timeouts: this member gives up; its successor's
                         * init_transactions() with the same id ends the transaction either way. */
                        kafka_set_error(ret_error, "cannot learn whether a Kafka transaction committed (group '%s', "
                                        "brokers '%s'): %s", s->group, s->brokers, rd_kafka_error_string(e));
                        rd_kafka_error_destroy(e);
                        return -ETIMEDOUT;
                }
                r = step_failed(s, e, "cannot commit a Kafka transaction", first, ret_error);
                rd_kafka_error_destroy(e);
                return r;
        }
        if (s->committed)
                s->committed(s, next, s->txn, s->userdata);
        s->txn++;
        return 0;
}

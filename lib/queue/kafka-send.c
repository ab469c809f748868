/* kafka-send.c: keyed records produced and acknowledged one by one, outside a step: what a command
 * or the API sends to the executors (a new execution, a kill, a resume), through one producer that
 * a process keeps and its threads share. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kafka-internal.h"
#include "kafka.h"
#include "strutil.h"

struct KafkaSender {
        rd_kafka_t *producer;
        char *brokers;
        char *topics[_KAFKA_TOPIC_MAX]; /* full names */
        pthread_mutex_t lock;           /* guards every Delivery */
};

/* One record's fate, written by whichever thread serves its delivery report. A sender that gave
 * up waiting leaves it to the report to free (abandoned), so that no report writes freed memory. */
typedef struct Delivery {
        rd_kafka_resp_err_t err;
        bool done, abandoned;
} Delivery;

static void send_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        KafkaSender *s = opaque;
        Delivery *d = m->_private;
        pthread_mutex_lock(&s->lock);
        if (d->abandoned)
                free(d);
        else {
                d->err = m->err;
                d->done = true;
        }
        pthread_mutex_unlock(&s->lock);
}

int kafka_sender_new(const KafkaOptions *o, usec_t timeout, KafkaSender **ret, char **ret_error) {
        _cleanup_(kafka_sender_freep) KafkaSender *s = NULL;
        rd_kafka_conf_t *conf;
        char why[512], ms[32];
        int r;

        /* Idempotent: a retry after a lost acknowledgement does not write the record twice. A
         * record not acknowledged within the timeout is failed by librdkafka itself, so that one
         * sender giving up withdraws its record and no other's. */
        snprintf(ms, sizeof ms, "%llu", (unsigned long long) MAX(timeout / USEC_PER_MSEC, 1ULL));
        const char *extra[] = { "enable.idempotence", "true", "message.timeout.ms", ms, NULL };
        if (!(s = calloc(1, sizeof *s)))
                return -ENOMEM;
        pthread_mutex_init(&s->lock, NULL);
        if (!(s->brokers = strdup(o->brokers ?: "")))
                return -ENOMEM;
        for (KafkaTopic t = 0; t < _KAFKA_TOPIC_MAX; t++)
                if ((r = kafka_topic_name(o, t, &s->topics[t])) < 0)
                        return r;
        if ((r = kafka_conf_new(o, extra, &conf, ret_error)) < 0)
                return r;
        rd_kafka_conf_set_dr_msg_cb(conf, send_delivered);
        rd_kafka_conf_set_opaque(conf, s);
        if (!(s->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
                rd_kafka_conf_destroy(conf);
                kafka_set_error(ret_error, "cannot make a Kafka producer for '%s': %s", o->brokers, why);
                return -EINVAL;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

KafkaSender *kafka_sender_free(KafkaSender *s) {
        if (!s)
                return NULL;
        if (s->producer) {
                /* What is still on its way gets its acknowledgement, or its timeout's failure:
                 * every delivery report is served before the lock goes. */
                (void) rd_kafka_flush(s->producer, 10 * 1000);
                rd_kafka_destroy(s->producer);
        }
        pthread_mutex_destroy(&s->lock);
        for (KafkaTopic t = 0; t < _KAFKA_TOPIC_MAX; t++)
                free(s->topics[t]);
        free(s->brokers);
        free(s);
        return NULL;
}

int kafka_sender_ping(KafkaSender *s, usec_t timeout, char **ret_error) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t err = rd_kafka_metadata(s->producer, 0, NULL, &md, (int) (timeout / USEC_PER_MSEC));
        if (md)
                rd_kafka_metadata_destroy(md);
        if (err) {
                kafka_set_error(ret_error, "no Kafka broker of '%s' answered: %s", s->brokers, rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        return 0;
}

int kafka_sender_send(KafkaSender *s, KafkaTopic t, const char *key, const char *value, usec_t timeout,
                      char **ret_error) {
        if (t < 0 || t >= _KAFKA_TOPIC_MAX)
                return -EINVAL;
        const char *topic = s->topics[t];
        Delivery *d = calloc(1, sizeof *d);
        if (!d)
                return -ENOMEM;
        rd_kafka_resp_err_t err = rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                                    RD_KAFKA_V_VALUE((void *) value, strlen(value)),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(d),
                                                    RD_KAFKA_V_END);
        if (err)
                free(d);
        else {
                /* The producer's message.timeout.ms fails the record by then; the margin is for its
                 * report to be served. Any thread's poll serves any report. */
                usec_t until = now_monotonic() + timeout + 5 * USEC_PER_SEC;
                bool done = false;
                while (!done && now_monotonic() < until) {
                        rd_kafka_poll(s->producer, 100);
                        pthread_mutex_lock(&s->lock);
                        done = d->done;
                        pthread_mutex_unlock(&s->lock);
                }
                pthread_mutex_lock(&s->lock);
                if (d->done) {
                        err = d->err;
                        free(d);
                } else {
                        d->abandoned = true;
                        err = RD_KAFKA_RESP_ERR__TIMED_OUT;
                }
                pthread_mutex_unlock(&s->lock);
        }
        if (err) {
                kafka_set_error(ret_error, "cannot send to Kafka topic '%s' on '%s': %s", topic, s->brokers,
                                rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        return 0;
}

/* kafka-send.c: keyed records produced and acknowledged one at a time, outside a step: what a
 * command, the API or the scheduler sends to the executors (a new execution, a kill, a resume). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "kafka-internal.h"
#include "kafka.h"
#include "strutil.h"

struct KafkaSender {
        KafkaOptions o;
        rd_kafka_t *producer;
};

static void send_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        rd_kafka_resp_err_t *err = m->_private;
        *err = m->err;
}

int kafka_sender_new(const KafkaOptions *o, KafkaSender **ret, char **ret_error) {
        _cleanup_(kafka_sender_freep) KafkaSender *s = calloc(1, sizeof *s);
        rd_kafka_conf_t *conf;
        char why[512];
        /* Idempotent: a retry after a lost acknowledgement does not write the record twice. */
        const char *extra[] = { "enable.idempotence", "true", NULL };
        int r;

        if (!s)
                return -ENOMEM;
        s->o = *o;
        if ((r = kafka_conf_new(o, extra, &conf, ret_error)) < 0)
                return r;
        rd_kafka_conf_set_dr_msg_cb(conf, send_delivered);
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
        kafka_client_free(s->producer);
        free(s);
        return NULL;
}

int kafka_sender_send(KafkaSender *s, KafkaTopic t, const char *key, const char *value, usec_t timeout,
                      char **ret_error) {
        _cleanup_free_ char *topic = NULL;
        int r;

        if ((r = kafka_topic_name(&s->o, t, &topic)) < 0)
                return r;
        rd_kafka_resp_err_t delivered = RD_KAFKA_RESP_ERR__IN_PROGRESS;
        rd_kafka_resp_err_t err = rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(topic),
                                                    RD_KAFKA_V_KEY(key, strlen(key)),
                                                    RD_KAFKA_V_VALUE((void *) value, strlen(value)),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                    RD_KAFKA_V_OPAQUE(&delivered), RD_KAFKA_V_END);
        if (!err) {
                usec_t until = now_monotonic() + timeout;
                while (delivered == RD_KAFKA_RESP_ERR__IN_PROGRESS && now_monotonic() < until)
                        rd_kafka_poll(s->producer, 100);
                /* Still queued: purged, so that no report comes after this function returned (the
                 * report of the purge itself says nothing of why). */
                if (delivered == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
                        (void) rd_kafka_purge(s->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                        (void) rd_kafka_flush(s->producer, 1000);
                        kafka_set_error(ret_error,
                                        "cannot send to Kafka topic '%s' on '%s': no acknowledgement from the brokers "
                                        "within %llu ms",
                                        topic, s->o.brokers, (unsigned long long) (timeout / USEC_PER_MSEC));
                        return -ETIMEDOUT;
                }
                err = delivered;
        }
        if (err) {
                kafka_set_error(ret_error, "cannot send to Kafka topic '%s' on '%s': %s", topic, s->o.brokers,
                                rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        return 0;
}

int kafka_sender_event(KafkaSender *s, const char *id, const char *type, json_t *payload, json_t *execution,
                       usec_t timeout, char **ret_error) {
        /* The record the executor consumes (docs/KAFKA.md, execution-events). */
        _cleanup_json_ json_t *v = json_pack("{s:s, s:O?, s:O?}", "type", type, "payload", payload, "execution",
                                             execution);
        _cleanup_free_ char *buf = v ? json_dumps(v, JSON_COMPACT) : NULL;
        if (!buf)
                return -ENOMEM;
        return kafka_sender_send(s, KAFKA_TOPIC_EXECUTION_EVENTS, id, buf, timeout, ret_error);
}

int kafka_send_event(const KafkaOptions *o, const char *id, const char *type, json_t *payload, json_t *execution,
                     usec_t timeout, char **ret_error) {
        _cleanup_(kafka_sender_freep) KafkaSender *s = NULL;
        int r = kafka_sender_new(o, &s, ret_error);
        if (r < 0)
                return r;
        return kafka_sender_event(s, id, type, payload, execution, timeout, ret_error);
}

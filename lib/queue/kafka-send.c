/* kafka-send.c: one keyed record produced and acknowledged on its own, outside a step: what a
 * command or the API sends to the executors (a new execution, a kill, a resume). */
#include <errno.h>
#include <string.h>

#include "kafka-internal.h"
#include "kafka.h"
#include "strutil.h"

static void send_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        rd_kafka_resp_err_t *err = m->_private;
        *err = m->err;
}

int kafka_send(const KafkaOptions *o, KafkaTopic t, const char *key, const char *value, usec_t timeout,
               char **ret_error) {
        _cleanup_free_ char *topic = NULL;
        _cleanup_kafka_client_ rd_kafka_t *p = NULL;
        rd_kafka_conf_t *conf;
        char why[512];
        /* Idempotent: a retry after a lost acknowledgement does not write the record twice. */
        const char *extra[] = { "enable.idempotence", "true", NULL };
        int r;

        if ((r = kafka_topic_name(o, t, &topic)) < 0)
                return r;
        if ((r = kafka_conf_new(o, extra, &conf, ret_error)) < 0)
                return r;
        rd_kafka_conf_set_dr_msg_cb(conf, send_delivered);
        if (!(p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
                rd_kafka_conf_destroy(conf);
                kafka_set_error(ret_error, "cannot make a Kafka producer for '%s': %s", o->brokers, why);
                return -EINVAL;
        }
        rd_kafka_resp_err_t delivered = RD_KAFKA_RESP_ERR__IN_PROGRESS;
        rd_kafka_resp_err_t err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                                    RD_KAFKA_V_VALUE((void *) value, strlen(value)),
                                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                                    RD_KAFKA_V_OPAQUE(&delivered), RD_KAFKA_V_END);
        if (!err) {
                usec_t until = now_monotonic() + timeout;
                while (delivered == RD_KAFKA_RESP_ERR__IN_PROGRESS && now_monotonic() < until)
                        rd_kafka_poll(p, 100);
                /* Still queued: purged, so that no report comes after this function returned. */
                if (delivered == RD_KAFKA_RESP_ERR__IN_PROGRESS) {
                        (void) rd_kafka_purge(p, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
                        (void) rd_kafka_flush(p, 1000);
                        if (delivered == RD_KAFKA_RESP_ERR__IN_PROGRESS)
                                delivered = RD_KAFKA_RESP_ERR__TIMED_OUT;
                }
                err = delivered;
        }
        if (err) {
                kafka_set_error(ret_error, "cannot send to Kafka topic '%s' on '%s': %s", topic, o->brokers,
                                rd_kafka_err2str(err));
                return kafka_errno(err);
        }
        return 0;
}

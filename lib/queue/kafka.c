/* kafka.c: Kafka clients made from tern's [queue] settings, the topic set, librdkafka errors as errno. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka-internal.h"
#include "kafka.h"
#include "strbuf.h"
#include "strutil.h"

static const struct {
        const char *suffix;
        bool compacted;
} kafka_topics[_KAFKA_TOPIC_MAX] = {
        [KAFKA_TOPIC_EXECUTION_EVENTS] = { "execution-events", false },
        [KAFKA_TOPIC_EXECUTION_STATE] = { "execution-state", true },
        [KAFKA_TOPIC_WORKER_JOBS] = { "worker-jobs", false },
        [KAFKA_TOPIC_WORKER_RESULTS] = { "worker-results", false },
        [KAFKA_TOPIC_WORKER_HEARTBEATS] = { "worker-heartbeats", true },
        [KAFKA_TOPIC_LOGS] = { "logs", false },
        [KAFKA_TOPIC_TRIGGER_EVENTS] = { "trigger-events", false },
        [KAFKA_TOPIC_WORKER_KILLS] = { "worker-kills", false },
};

const char *kafka_topic_suffix(KafkaTopic t) {
        return t >= 0 && t < _KAFKA_TOPIC_MAX ? kafka_topics[t].suffix : NULL;
}

bool kafka_topic_compacted(KafkaTopic t) {
        return t >= 0 && t < _KAFKA_TOPIC_MAX && kafka_topics[t].compacted;
}

int kafka_topic_name(const KafkaOptions *o, KafkaTopic t, char **ret) {
        const char *suffix = kafka_topic_suffix(t);
        if (!suffix)
                return -EINVAL;
        char *s = strjoin(o->topic_prefix ?: KAFKA_TOPIC_PREFIX_DEFAULT, suffix);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int kafka_errno(rd_kafka_resp_err_t e) {
        switch (e) {
        case RD_KAFKA_RESP_ERR_NO_ERROR:
                return 0;
        case RD_KAFKA_RESP_ERR__TIMED_OUT:
        case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
        case RD_KAFKA_RESP_ERR__TIMED_OUT_QUEUE:
                return -ETIMEDOUT;
        case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
        case RD_KAFKA_RESP_ERR__TRANSPORT:
                return -ECONNREFUSED;
        case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
        case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
                return -ENOENT;
        case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR_TRANSACTIONAL_ID_AUTHORIZATION_FAILED:
        case RD_KAFKA_RESP_ERR__AUTHENTICATION:
                return -EPERM;
        case RD_KAFKA_RESP_ERR__UNSUPPORTED_FEATURE:
        case RD_KAFKA_RESP_ERR_UNSUPPORTED_VERSION:
                return -EOPNOTSUPP;
        case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS:
                return -EEXIST;
        case RD_KAFKA_RESP_ERR__INVALID_ARG:
        case RD_KAFKA_RESP_ERR_INVALID_CONFIG:
        case RD_KAFKA_RESP_ERR_INVALID_PARTITIONS:
        case RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR:
                return -EINVAL;
        default:
                return -EIO;
        }
}

int kafka_set_error(char **ret_error, const char *fmt, ...) {
        if (!ret_error)
                return 0;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        va_list ap;
        va_start(ap, fmt);
        strbuf_vappendf(&sb, fmt, ap);
        va_end(ap);
        free(*ret_error);
        *ret_error = strbuf_steal(&sb);
        return *ret_error ? 0 : -ENOMEM;
}

int kafka_conf_new(const KafkaOptions *o, const char *const *extra, rd_kafka_conf_t **ret, char **ret_error) {
        char why[512];

        if (isempty(o->brokers)) {
                kafka_set_error(ret_error, "no Kafka brokers configured ([queue] brokers)");
                return -EINVAL;
        }
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (!conf)
                return -ENOMEM;
        if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, why, sizeof why) != RD_KAFKA_CONF_OK) {
                kafka_set_error(ret_error, "[queue] brokers = '%s': %s", o->brokers, why);
                rd_kafka_conf_destroy(conf);
                return -EINVAL;
        }
        for (char *const *p = o->properties; p && *p; p++) {
                const char *eq = strchr(*p, '=');
                _cleanup_free_ char *name = eq ? strndup(*p, (size_t) (eq - *p)) : NULL;
                if (!name) {
                        rd_kafka_conf_destroy(conf);
                        return eq ? -ENOMEM : -EINVAL;
                }
                if (rd_kafka_conf_set(conf, name, eq + 1, why, sizeof why) != RD_KAFKA_CONF_OK) {
                        /* The value may be a secret: only the name is repeated. */
                        kafka_set_error(ret_error, "[queue] kafka.%s: librdkafka refuses it: %s", name, why);
                        rd_kafka_conf_destroy(conf);
                        return -EINVAL;
                }
        }
        /* Every tern client places a key where the Java client would (murmur2), whatever the
         * properties say: an execution's events, state and results must share a partition number,
         * and a producer that hashed otherwise would send its events to another executor. */
        if (rd_kafka_conf_set(conf, "partitioner", "murmur2_random", why, sizeof why) != RD_KAFKA_CONF_OK) {
                kafka_set_error(ret_error, "cannot set Kafka property partitioner = 'murmur2_random': %s", why);
                rd_kafka_conf_destroy(conf);
                return -EINVAL;
        }
        for (const char *const *e = extra; e && e[0] && e[1]; e += 2)
                if (rd_kafka_conf_set(conf, e[0], e[1], why, sizeof why) != RD_KAFKA_CONF_OK) {
                        kafka_set_error(ret_error, "cannot set Kafka property %s = '%s': %s", e[0], e[1], why);
                        rd_kafka_conf_destroy(conf);
                        return -EINVAL;
                }
        *ret = conf;
        return 0;
}

int kafka_client_new(const KafkaOptions *o, rd_kafka_type_t type, const char *const *extra, rd_kafka_t **ret,
                     char **ret_error) {
        rd_kafka_conf_t *conf;
        char why[512];
        int r = kafka_conf_new(o, extra, &conf, ret_error);
        if (r < 0)
                return r;
        /* rd_kafka_new() takes the configuration only when it succeeds. */
        rd_kafka_t *rk = rd_kafka_new(type, conf, why, sizeof why);
        if (!rk) {
                rd_kafka_conf_destroy(conf);
                kafka_set_error(ret_error, "cannot make a Kafka %s for '%s': %s",
                          type == RD_KAFKA_PRODUCER ? "producer" : "consumer", o->brokers, why);
                return -EINVAL;
        }
        *ret = rk;
        return 0;
}

rd_kafka_t *kafka_client_free(rd_kafka_t *rk) {
        if (rk)
                rd_kafka_destroy(rk);
        return NULL;
}

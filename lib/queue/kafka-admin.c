/* kafka-admin.c: tern's topics made and checked on a Kafka cluster ('tern kafka init'). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kafka-internal.h"
#include "kafka.h"
#include "strutil.h"

void kafka_topic_reports_free(KafkaTopicReport *r, size_t n) {
        for (size_t i = 0; r && i < n; i++) {
                free(r[i].name);
                free(r[i].detail);
        }
        free(r);
}

static void kafka_metadata_freep(const struct rd_kafka_metadata **md) {
        if (*md)
                rd_kafka_metadata_destroy(*md);
}

static void kafka_queue_freep(rd_kafka_queue_t **q) {
        if (*q)
                rd_kafka_queue_destroy(*q);
}

static void kafka_event_freep(rd_kafka_event_t **e) {
        if (*e)
                rd_kafka_event_destroy(*e);
}

static void kafka_admin_options_freep(rd_kafka_AdminOptions_t **o) {
        if (*o)
                rd_kafka_AdminOptions_destroy(*o);
}

static int timeout_ms(usec_t timeout) {
        return timeout / USEC_PER_MSEC > 3600000 ? 3600000 : (int) (timeout / USEC_PER_MSEC);
}

static int report_set(KafkaTopicReport *r, KafkaTopicState state, const char *fmt, ...) _printf_(3, 4);
static int report_set(KafkaTopicReport *r, KafkaTopicState state, const char *fmt, ...) {
        r->state = state;
        if (!fmt)
                return 0;
        va_list ap;
        va_start(ap, fmt);
        char *s = NULL;
        int n = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (n < 0)
                return -ENOMEM;
        free(r->detail);
        r->detail = s;
        return 0;
}

/* Ask the brokers for an admin operation's result: the event, or NULL with *ret_error said. */
static rd_kafka_event_t *admin_wait(rd_kafka_queue_t *q, usec_t timeout, const char *what, const char *brokers,
                                    char **ret_error, int *ret_r) {
        /* The request carries the timeout itself, and librdkafka answers with a timed-out result when
         * it passes: this wait only guards against an answer that never comes. It is generous because
         * a loaded machine delivers that result late (a margin of 1 s failed with two test suites
         * running side by side). */
        int ms = timeout_ms(timeout);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, ms + MAX(ms, 5000));
        if (!ev) {
                kafka_set_error(ret_error, "%s: no answer from the Kafka brokers '%s' in time", what, brokers);
                *ret_r = -ETIMEDOUT;
                return NULL;
        }
        *ret_r = 0;
        return ev;
}

/* cleanup.policy of each present topic, checked with DescribeConfigs; a broker that cannot tell
 * (no DescribeConfigs: librdkafka's mock cluster) leaves a note rather than a failure. */
static int check_policies(rd_kafka_t *rk, const KafkaOptions *o, KafkaTopicReport *reports, usec_t timeout,
                          char **ret_error) {
        rd_kafka_ConfigResource_t *res[_KAFKA_TOPIC_MAX];
        size_t n = 0;
        int r;

        for (size_t i = 0; i < _KAFKA_TOPIC_MAX; i++)
                if (reports[i].state == KAFKA_TOPIC_PRESENT &&
                    !(res[n++] = rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, reports[i].name))) {
                        rd_kafka_ConfigResource_destroy_array(res, n - 1);
                        return -ENOMEM;
                }
        if (n == 0)
                return 0;
        _cleanup_(kafka_queue_freep) rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        _cleanup_(kafka_admin_options_freep) rd_kafka_AdminOptions_t *opt =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS);
        if (!q || !opt) {
                rd_kafka_ConfigResource_destroy_array(res, n);
                return -ENOMEM;
        }
        (void) rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms(timeout), NULL, 0);
        rd_kafka_DescribeConfigs(rk, res, n, opt, q);
        rd_kafka_ConfigResource_destroy_array(res, n);
        _cleanup_(kafka_event_freep) rd_kafka_event_t *ev =
                admin_wait(q, timeout, "cannot read the topics' settings", o->brokers, ret_error, &r);
        if (!ev)
                return r;
        rd_kafka_resp_err_t e = rd_kafka_event_error(ev);
        if (e) {
                for (size_t i = 0; i < _KAFKA_TOPIC_MAX; i++)
                        if (reports[i].state == KAFKA_TOPIC_PRESENT &&
                            report_set(&reports[i], KAFKA_TOPIC_PRESENT, "cleanup.policy not checked: %s",
                                       rd_kafka_event_error_string(ev)) < 0)
                                return -ENOMEM;
                return 0;
        }
        size_t nres = 0;
        const rd_kafka_ConfigResource_t **got =
                rd_kafka_DescribeConfigs_result_resources(rd_kafka_event_DescribeConfigs_result(ev), &nres);
        for (size_t j = 0; j < nres; j++) {
                KafkaTopicReport *rep = NULL;
                for (size_t i = 0; i < _KAFKA_TOPIC_MAX && !rep; i++)
                        if (streq(reports[i].name, rd_kafka_ConfigResource_name(got[j])))
                                rep = &reports[i];
                if (!rep)
                        continue;
                KafkaTopic t = (KafkaTopic) (rep - reports);
                if (rd_kafka_ConfigResource_error(got[j])) {
                        r = report_set(rep, KAFKA_TOPIC_PRESENT, "cleanup.policy not checked: %s",
                                       rd_kafka_ConfigResource_error_string(got[j]));
                        if (r < 0)
                                return r;
                        continue;
                }
                size_t nent = 0;
                const rd_kafka_ConfigEntry_t **ent = rd_kafka_ConfigResource_configs(got[j], &nent);
                const char *policy = "delete"; /* Kafka's default */
                for (size_t k = 0; k < nent; k++)
                        if (streq(rd_kafka_ConfigEntry_name(ent[k]), "cleanup.policy") && rd_kafka_ConfigEntry_value(ent[k]))
                                policy = rd_kafka_ConfigEntry_value(ent[k]);
                bool compact = strstr(policy, "compact") != NULL;
                if (compact != kafka_topic_compacted(t)) {
                        r = report_set(rep, KAFKA_TOPIC_WRONG, "cleanup.policy is '%s', tern needs '%s'", policy,
                                       kafka_topic_compacted(t) ? "compact" : "delete");
                        if (r < 0)
                                return r;
                }
        }
        return 0;
}

static int create_missing(rd_kafka_t *rk, const KafkaOptions *o, unsigned partitions, unsigned replication,
                          KafkaTopicReport *reports, usec_t timeout, char **ret_error) {
        rd_kafka_NewTopic_t *nt[_KAFKA_TOPIC_MAX];
        size_t n = 0;
        char why[256];
        int r;

        for (size_t i = 0; i < _KAFKA_TOPIC_MAX; i++) {
                if (reports[i].state != KAFKA_TOPIC_CREATED)
                        continue;
                nt[n] = rd_kafka_NewTopic_new(reports[i].name, (int) partitions, (int) replication, why, sizeof why);
                if (!nt[n]) {
                        rd_kafka_NewTopic_destroy_array(nt, n);
                        kafka_set_error(ret_error, "cannot describe topic '%s': %s", reports[i].name, why);
                        return -EINVAL;
                }
                n++;
                if (rd_kafka_NewTopic_set_config(nt[n - 1], "cleanup.policy",
                                                 kafka_topic_compacted((KafkaTopic) i) ? "compact" : "delete")) {
                        rd_kafka_NewTopic_destroy_array(nt, n);
                        return -ENOMEM;
                }
        }
        if (n == 0)
                return 0;
        _cleanup_(kafka_queue_freep) rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
        _cleanup_(kafka_admin_options_freep) rd_kafka_AdminOptions_t *opt =
                rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
        if (!q || !opt) {
                rd_kafka_NewTopic_destroy_array(nt, n);
                return -ENOMEM;
        }
        (void) rd_kafka_AdminOptions_set_request_timeout(opt, timeout_ms(timeout), NULL, 0);
        (void) rd_kafka_AdminOptions_set_operation_timeout(opt, timeout_ms(timeout), NULL, 0);
        rd_kafka_CreateTopics(rk, nt, n, opt, q);
        rd_kafka_NewTopic_destroy_array(nt, n);
        _cleanup_(kafka_event_freep) rd_kafka_event_t *ev =
                admin_wait(q, timeout, "cannot create the topics", o->brokers, ret_error, &r);
        if (!ev)
                return r;
        if (rd_kafka_event_error(ev)) {
                /* The request as a whole failed (no broker supports CreateTopics, not authorized...). */
                for (size_t i = 0; i < _KAFKA_TOPIC_MAX; i++)
                        if (reports[i].state == KAFKA_TOPIC_CREATED &&
                            report_set(&reports[i], KAFKA_TOPIC_FAILED, "cannot create it on '%s': %s", o->brokers,
                                       rd_kafka_event_error_string(ev)) < 0)
                                return -ENOMEM;
                return 0;
        }
        size_t nres = 0;
        const rd_kafka_topic_result_t **res =
                rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &nres);
        for (size_t j = 0; j < nres; j++)
                for (size_t i = 0; i < _KAFKA_TOPIC_MAX; i++) {
                        if (!streq(reports[i].name, rd_kafka_topic_result_name(res[j])))
                                continue;
                        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[j]);
                        if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                                /* Made by someone else since the metadata was read: checked next time. */
                                r = report_set(&reports[i], KAFKA_TOPIC_PRESENT, "made meanwhile by another client");
                        else if (e)
                                r = report_set(&reports[i], KAFKA_TOPIC_FAILED, "cannot create it on '%s': %s",
                                               o->brokers, rd_kafka_topic_result_error_string(res[j]) ?: rd_kafka_err2str(e));
                        else
                                r = report_set(&reports[i], KAFKA_TOPIC_CREATED,
                                               "%u partitions, replication factor %u, cleanup.policy=%s", partitions,
                                               replication, kafka_topic_compacted((KafkaTopic) i) ? "compact" : "delete");
                        if (r < 0)
                                return r;
                }
        return 0;
}

int kafka_topics_init(const KafkaOptions *o, usec_t timeout, KafkaTopicReport **ret, size_t *ret_n, char **ret_error) {
        unsigned partitions = o->partitions ?: KAFKA_PARTITIONS_DEFAULT,
                 replication = o->replication ?: KAFKA_REPLICATION_DEFAULT;
        _cleanup_kafka_client_ rd_kafka_t *rk = NULL;
        int r;

        r = kafka_client_new(o, RD_KAFKA_PRODUCER, NULL, &rk, ret_error);
        if (r < 0)
                return r;
        _cleanup_(kafka_metadata_freep) const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms(timeout));
        if (e) {
                kafka_set_error(ret_error, "cannot read the topics of the Kafka brokers '%s': %s", o->brokers,
                                rd_kafka_err2str(e));
                return kafka_errno(e);
        }

        KafkaTopicReport *reports = calloc(_KAFKA_TOPIC_MAX, sizeof *reports);
        if (!reports)
                return -ENOMEM;
        for (size_t i = 0; i < _KAFKA_TOPIC_MAX; i++) {
                KafkaTopicReport *rep = &reports[i];
                if ((r = kafka_topic_name(o, (KafkaTopic) i, &rep->name)) < 0)
                        goto fail;
                const struct rd_kafka_metadata_topic *mt = NULL;
                for (int j = 0; j < md->topic_cnt && !mt; j++)
                        if (streq(md->topics[j].topic, rep->name) &&
                            md->topics[j].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
                                mt = &md->topics[j];
                if (!mt) {
                        rep->state = KAFKA_TOPIC_CREATED; /* to be: create_missing() says how it went */
                        continue;
                }
                int replicas = mt->partition_cnt > 0 ? mt->partitions[0].replica_cnt : 0;
                if (mt->err)
                        r = report_set(rep, KAFKA_TOPIC_WRONG, "the brokers report it as broken: %s",
                                       rd_kafka_err2str(mt->err));
                else if (mt->partition_cnt != (int) partitions)
                        r = report_set(rep, KAFKA_TOPIC_WRONG,
                                       "has %d partitions, [queue] partitions = %u (tern does not repartition: "
                                       "records would change partitions)",
                                       mt->partition_cnt, partitions);
                else if (replicas != (int) replication)
                        r = report_set(rep, KAFKA_TOPIC_WRONG, "has replication factor %d, [queue] replication-factor = %u",
                                       replicas, replication);
                else
                        r = report_set(rep, KAFKA_TOPIC_PRESENT, NULL);
                if (r < 0)
                        goto fail;
        }
        if ((r = create_missing(rk, o, partitions, replication, reports, timeout, ret_error)) < 0 ||
            (r = check_policies(rk, o, reports, timeout, ret_error)) < 0)
                goto fail;

        int bad = 0;
        for (size_t i = 0; i < _KAFKA_TOPIC_MAX; i++)
                bad += reports[i].state == KAFKA_TOPIC_WRONG || reports[i].state == KAFKA_TOPIC_FAILED;
        *ret = reports;
        *ret_n = _KAFKA_TOPIC_MAX;
        return bad;
fail:
        kafka_topic_reports_free(reports, _KAFKA_TOPIC_MAX);
        return r;
}

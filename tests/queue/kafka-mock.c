/* kafka-mock: librdkafka's mock Kafka cluster in a process of its own, for tests of commands that
 * talk to Kafka ('tern kafka init') and of the daemons. Usage: kafka-mock BROKERS
 * [TOPIC:PARTITIONS:REPLICATION...]: makes the topics, prints the bootstrap servers on one line,
 * runs until SIGTERM or SIGINT. Meanwhile it takes commands on standard input, one a line, for
 * broker failures under the daemons: "down BROKER", "up BROKER" (ids 1..BROKERS), "leader TOPIC
 * PARTITION BROKER"; and "produce TOPIC KEY VALUE" (VALUE to the end of the line, into the key's
 * partition as tern's clients choose it) for a record a test sends as a daemon would; each is
 * answered "ok" or "error: ..." on standard error. */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        *(rd_kafka_resp_err_t *) m->_private = m->err;
}

/* One record acknowledged by the cluster, with the partitioner every tern client sets. */
static rd_kafka_resp_err_t produce(rd_kafka_mock_cluster_t *mc, const char *topic, const char *key, const char *value) {
        char why[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        if (rd_kafka_conf_set(conf, "bootstrap.servers", rd_kafka_mock_cluster_bootstraps(mc), why, sizeof why) ||
            rd_kafka_conf_set(conf, "partitioner", "murmur2_random", why, sizeof why)) {
                rd_kafka_conf_destroy(conf);
                return RD_KAFKA_RESP_ERR__INVALID_ARG;
        }
        rd_kafka_conf_set_dr_msg_cb(conf, delivered);
        rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
        if (!p) {
                rd_kafka_conf_destroy(conf);
                return RD_KAFKA_RESP_ERR__FAIL;
        }
        rd_kafka_resp_err_t got = RD_KAFKA_RESP_ERR__IN_PROGRESS;
        rd_kafka_resp_err_t e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                                  RD_KAFKA_V_VALUE((void *) value, strlen(value)),
                                                  RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&got),
                                                  RD_KAFKA_V_END);
        if (!e) {
                rd_kafka_flush(p, 10000);
                e = got == RD_KAFKA_RESP_ERR__IN_PROGRESS ? RD_KAFKA_RESP_ERR__TIMED_OUT : got;
        }
        rd_kafka_destroy(p);
        return e;
}

static void *control(void *arg) {
        rd_kafka_mock_cluster_t *mc = arg;
        static char line[1 << 20];
        char topic[256], key[256];
        int id, part, at;
        while (fgets(line, sizeof line, stdin)) {
                rd_kafka_resp_err_t e;
                if (sscanf(line, "produce %255s %255s %n", topic, key, &at) == 2) {
                        line[strcspn(line, "\n")] = 0;
                        e = produce(mc, topic, key, line + at);
                        strcpy(line, "produce\n");
                } else if (sscanf(line, "down %d", &id) == 1)
                        e = rd_kafka_mock_broker_set_down(mc, id);
                else if (sscanf(line, "up %d", &id) == 1)
                        e = rd_kafka_mock_broker_set_up(mc, id);
                else if (sscanf(line, "leader %255s %d %d", topic, &part, &id) == 3)
                        e = rd_kafka_mock_partition_set_leader(mc, topic, part, id);
                else {
                        fprintf(stderr, "error: unknown command: %s", line);
                        continue;
                }
                if (e)
                        fprintf(stderr, "error: %s", rd_kafka_err2str(e));
                else
                        fprintf(stderr, "ok: %s", line);
        }
        return NULL;
}

int main(int argc, char *argv[]) {
        if (argc < 2) {
                fprintf(stderr, "usage: kafka-mock BROKERS [TOPIC:PARTITIONS:REPLICATION...]\n");
                return 2;
        }
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        /* Before librdkafka's threads start, so that they inherit the mask and sigwait() gets the signal. */
        sigprocmask(SIG_BLOCK, &ss, NULL);

        char why[256];
        rd_kafka_conf_t *conf = rd_kafka_conf_new();
        rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why);
        if (!rk) {
                fprintf(stderr, "kafka-mock: %s\n", why);
                return 1;
        }
        rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(rk, atoi(argv[1]));
        if (!mc) {
                fprintf(stderr, "kafka-mock: cannot start the mock cluster\n");
                return 1;
        }
        for (int i = 2; i < argc; i++) {
                char topic[256];
                int parts, repl;
                if (sscanf(argv[i], "%255[^:]:%d:%d", topic, &parts, &repl) != 3) {
                        fprintf(stderr, "kafka-mock: '%s' is not TOPIC:PARTITIONS:REPLICATION\n", argv[i]);
                        return 2;
                }
                rd_kafka_resp_err_t e = rd_kafka_mock_topic_create(mc, topic, parts, repl);
                if (e) {
                        fprintf(stderr, "kafka-mock: cannot make topic '%s': %s\n", topic, rd_kafka_err2str(e));
                        return 1;
                }
        }
        printf("%s\n", rd_kafka_mock_cluster_bootstraps(mc));
        fflush(stdout);
        pthread_t t;
        if (pthread_create(&t, NULL, control, mc) == 0)
                pthread_detach(t);
        int sig;
        sigwait(&ss, &sig);
        rd_kafka_mock_cluster_destroy(mc);
        rd_kafka_destroy(rk);
        return 0;
}

/* bench-submit.c: creates executions of a stored flow as fast as the store API allows (batched transactions), for bench/run. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "engine.h"
#include "execution-create.h"
#include "flow-cache.h"
#include "state.h"
#include "store.h"
#include "strutil.h"
#if HAVE_KAFKA
#include "execution.h"
#include "kafka.h"
#endif

/* Forking 'tern execution start' per execution would measure process start-up, not tern: this
 * does what that command does (api_execution_create), many executions
 * per transaction. It prints one JSON object on stdout: {"count", "start", "end"} with the
 * realtime (usec) of the first transaction's start and of the last commit, and with --wait the
 * time the last execution was seen in a wanted state.
 *
 * With --kafka BROKERS the executions go to the Kafka queue backend instead, as 'tern kafka
 * submit' sends one: a "created" event carrying the document on execution-events, nothing written
 * to the database (the indexer writes them there, where --wait-each and --wait-all look). */

typedef struct Args {
        const char *db, *ns, *flow;
        uint64_t count, batch;
        bool wait_each, wait_all;
        unsigned until_mask; /* states to wait for; 0: terminal states */
        usec_t timeout;
        const char *kafka, *topic_prefix; /* --kafka BROKERS: submit through Kafka */
} Args;

static bool state_wanted(const Args *a, const char *state) {
        State s = state ? state_from_string(state) : _STATE_INVALID;
        if (s < 0)
                return false;
        return a->until_mask ? (a->until_mask & (1u << s)) != 0 : state_is_terminal(s);
}

/* One execution's state, polled until wanted: the latency scenarios submit one execution at a
 * time on an idle system. The figures come from the documents' state histories, so the poll
 * period only spaces the executions apart. */
static int wait_one(Store *s, const Args *a, const char *id) {
        usec_t deadline = now_monotonic() + a->timeout;
        for (;;) {
                StoreTx *tx;
                _cleanup_json_ json_t *doc = NULL;
                int r = store_begin(s, &tx);
                if (r < 0)
                        return r;
                r = store_execution_get(tx, id, &doc);
                store_rollback(tx);
                if (r < 0)
                        return r;
                if (state_wanted(a, json_string_value(json_object_get(json_object_get(doc, "state"), "current"))))
                        return 0;
                if (now_monotonic() > deadline)
                        return -ETIME;
                usleep(2000);
        }
}

#if HAVE_KAFKA
/* wait_one() for an execution sent through Kafka: absent from the database until the indexer
 * writes it. */
static int wait_one_kafka(Store *s, const Args *a, const char *id) {
        usec_t deadline = now_monotonic() + a->timeout;
        for (;;) {
                int r = wait_one(s, a, id);
                if (r != -ENOENT)
                        return r;
                if (now_monotonic() > deadline)
                        return -ETIME;
                usleep(2000);
        }
}
#endif

/* Every execution of the flow in a wanted state: counted through the store, one count per wanted
 * state (the filter takes one), so that it runs on every backend. */
static int wait_all(Store *s, const Args *a) {
        usec_t deadline = now_monotonic() + a->timeout;
        while (now_monotonic() < deadline) {
                StoreTx *tx;
                int64_t total = 0;
                int r = store_begin(s, &tx);
                if (r < 0)
                        return r;
                for (State st = 0; st < _STATE_MAX && r >= 0; st++) {
                        if (!(a->until_mask ? (a->until_mask & (1u << st)) : state_is_terminal(st)))
                                continue;
                        StoreExecutionFilter f = { .namespace = a->ns, .flow_id = a->flow, .state = state_to_string(st) };
                        int64_t n = 0;
                        r = store_execution_count(tx, &f, &n);
                        total += n;
                }
                store_rollback(tx);
                if (r < 0)
                        return r;
                if (total >= (int64_t) a->count)
                        return 0;
                /* The count is not free (it reads the flow's executions): polling it often would
                 * show in the server's CPU per execution. The figures come from the documents. */
                usleep(250000);
        }
        return -ETIME;
}

static void help(void) {
        printf("Usage: bench-submit --db URL --namespace NS --flow ID --count N [--batch N]\n"
               "                    [--wait-each | --wait-all] [--until STATES] [--timeout SECONDS]\n"
               "                    [--kafka BROKERS [--topic-prefix PREFIX]]\n");
}

static int parse(int argc, char *argv[], Args *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },       { "db", required_argument, NULL, 'd' },
                { "namespace", required_argument, NULL, 'n' }, { "flow", required_argument, NULL, 'f' },
                { "count", required_argument, NULL, 'c' }, { "batch", required_argument, NULL, 'b' },
                { "wait-each", no_argument, NULL, 'e' },  { "wait-all", no_argument, NULL, 'a' },
                { "until", required_argument, NULL, 'u' }, { "timeout", required_argument, NULL, 't' },
                { "kafka", required_argument, NULL, 'k' }, { "topic-prefix", required_argument, NULL, 'p' },
                {},
        };
        unsigned secs = 600;
        int c;
        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        exit(0);
                case 'd':
                        a->db = optarg;
                        break;
                case 'n':
                        a->ns = optarg;
                        break;
                case 'f':
                        a->flow = optarg;
                        break;
                case 'c':
                        if (safe_atou64(optarg, &a->count) < 0)
                                return -EINVAL;
                        break;
                case 'b':
                        if (safe_atou64(optarg, &a->batch) < 0 || a->batch == 0)
                                return -EINVAL;
                        break;
                case 'e':
                        a->wait_each = true;
                        break;
                case 'a':
                        a->wait_all = true;
                        break;
                case 'u': {
                        _cleanup_strv_free_ char **l = NULL;
                        if (strv_split(optarg, ",", &l) < 0)
                                return -ENOMEM;
                        for (char **x = l; *x; x++) {
                                State st = state_from_string(*x);
                                if (st < 0)
                                        return -EINVAL;
                                a->until_mask |= 1u << st;
                        }
                        break;
                }
                case 't':
                        if (safe_atou(optarg, &secs) < 0)
                                return -EINVAL;
                        break;
                case 'k':
                        a->kafka = optarg;
                        break;
                case 'p':
                        a->topic_prefix = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        }
        a->timeout = (usec_t) secs * USEC_PER_SEC;
        if (!a->db || !a->ns || !a->flow || a->count == 0 || optind < argc)
                return -EINVAL;
        return 0;
}

#if HAVE_KAFKA
static void kafka_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        int *failed = opaque;
        if (m->err) {
                fprintf(stderr, "bench-submit: a created event was not delivered: %s\n", rd_kafka_err2str(m->err));
                (*failed)++;
        }
}

/* n executions of f as "created" events on execution-events, acknowledged by the brokers (one
 * flush per batch, as the database mode commits one transaction per batch); *last gets the last id. */
static int kafka_submit(rd_kafka_t *p, const char *topic, const Flow *f, uint64_t n, char *last, size_t last_size) {
        for (uint64_t i = 0; i < n; i++) {
                _cleanup_execution_ Execution *e = NULL;
                _cleanup_free_ char *err = NULL, *buf = NULL;
                _cleanup_json_ json_t *v = NULL;
                ApiExecutionNew new = {};
                int r = api_execution_build(f, &new, now_realtime(), &e, &err);
                if (r < 0) {
                        if (err)
                                fprintf(stderr, "bench-submit: %s\n", err);
                        return r;
                }
                if (!(v = json_pack("{s:s, s:o}", "type", ENGINE_EVENT_CREATED, "execution", execution_to_json(e))) ||
                    !json_object_get(v, "execution") || !(buf = json_dumps(v, JSON_COMPACT)))
                        return -ENOMEM;
                rd_kafka_resp_err_t ke;
                while ((ke = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(e->id, strlen(e->id)),
                                               RD_KAFKA_V_VALUE(buf, strlen(buf)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                               RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
                        rd_kafka_poll(p, 10);
                if (ke) {
                        fprintf(stderr, "bench-submit: cannot send to '%s': %s\n", topic, rd_kafka_err2str(ke));
                        return -EIO;
                }
                snprintf(last, last_size, "%s", e->id);
        }
        return rd_kafka_flush(p, 60 * 1000) ? -ETIMEDOUT : 0;
}
#endif

int main(int argc, char *argv[]) {
        Args a = { .batch = 100 };
        _cleanup_store_ Store *s = NULL;
        _cleanup_(flow_freep) Flow *f = NULL;
        StoreTx *tx = NULL;
        int r;

        if (parse(argc, argv, &a) < 0) {
                help();
                return 2;
        }
        if ((r = store_open(a.db, &s)) < 0 || (r = store_check_schema(s, NULL)) < 0) {
                fprintf(stderr, "bench-submit: cannot open '%s': %s\n", a.db, s ? store_error(s) : strerror(-r));
                return 1;
        }
        if ((r = store_begin(s, &tx)) < 0 || (r = api_flow_load_owned(tx, a.ns, a.flow, 0, &f)) < 0) {
                fprintf(stderr, "bench-submit: cannot load flow '%s.%s': %s\n", a.ns, a.flow,
                        r == -ENOENT ? "not found" : store_error(s));
                if (tx)
                        store_rollback(tx);
                return 1;
        }
        store_rollback(tx);

#if HAVE_KAFKA
        _cleanup_kafka_client_ rd_kafka_t *producer = NULL;
        _cleanup_free_ char *topic = NULL;
        int undelivered = 0;
        KafkaOptions ko = { .brokers = a.kafka, .topic_prefix = a.topic_prefix };
        if (a.kafka) {
                const char *extra[] = { "enable.idempotence", "true", "linger.ms", "5", NULL };
                rd_kafka_conf_t *conf;
                _cleanup_free_ char *err = NULL;
                char why[512];
                if ((r = kafka_topic_name(&ko, KAFKA_TOPIC_EXECUTION_EVENTS, &topic)) < 0 ||
                    (r = kafka_conf_new(&ko, extra, &conf, &err)) < 0) {
                        fprintf(stderr, "bench-submit: %s\n", err ? err : strerror(-r));
                        return 1;
                }
                rd_kafka_conf_set_dr_msg_cb(conf, kafka_delivered);
                rd_kafka_conf_set_opaque(conf, &undelivered);
                if (!(producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
                        rd_kafka_conf_destroy(conf);
                        fprintf(stderr, "bench-submit: cannot make a Kafka producer for '%s': %s\n", a.kafka, why);
                        return 1;
                }
        }
#else
        if (a.kafka) {
                fprintf(stderr, "bench-submit: built without the Kafka queue backend (librdkafka)\n");
                return 1;
        }
#endif

        uint64_t batch = a.wait_each ? 1 : a.batch;
        usec_t start = now_realtime();
        for (uint64_t done = 0; done < a.count;) {
                uint64_t n = MIN(batch, a.count - done);
                char last[ID_MAX] = "";
#if HAVE_KAFKA
                if (producer) {
                        if ((r = kafka_submit(producer, topic, f, n, last, sizeof last)) < 0 || undelivered > 0) {
                                fprintf(stderr, "bench-submit: sending executions to '%s': %s\n", a.kafka,
                                        r < 0 ? strerror(-r) : "not delivered");
                                return 1;
                        }
                        done += n;
                        if (a.wait_each && (r = wait_one_kafka(s, &a, last)) < 0) {
                                fprintf(stderr, "bench-submit: execution %s: %s\n", last,
                                        r == -ETIME ? "timed out" : store_error(s));
                                return 1;
                        }
                        continue;
                }
#endif
                if ((r = store_begin(s, &tx)) < 0)
                        goto fail;
                for (uint64_t i = 0; i < n; i++) {
                        _cleanup_json_ json_t *doc = NULL;
                        _cleanup_free_ char *err = NULL;
                        ApiExecutionNew new = {};
                        if ((r = api_execution_create(tx, f, &new, now_realtime(), &doc, &err)) < 0) {
                                if (err && r != -EAGAIN)
                                        fprintf(stderr, "bench-submit: %s\n", err);
                                break;
                        }
                        snprintf(last, sizeof last, "%s", json_string_value(json_object_get(doc, "id")));
                }
                /* A deadlock with the executor's step (MariaDB) is transient: the batch runs again,
                 * as store_transact() reruns the product's own transactions. */
                if (r == -EAGAIN) {
                        store_rollback(tx);
                        continue;
                }
                if (r < 0)
                        goto fail_tx;
                if ((r = store_commit(tx)) == -EAGAIN)
                        continue;
                if (r < 0)
                        goto fail;
                done += n;
                if (a.wait_each && (r = wait_one(s, &a, last)) < 0) {
                        fprintf(stderr, "bench-submit: execution %s: %s\n", last,
                                r == -ETIME ? "timed out" : store_error(s));
                        return 1;
                }
        }
        usec_t end = now_realtime();
        usec_t waited = end;
        if (a.wait_all) {
                if ((r = wait_all(s, &a)) < 0) {
                        fprintf(stderr, "bench-submit: waiting for %llu executions: %s\n",
                                (unsigned long long) a.count, r == -ETIME ? "timed out" : store_error(s));
                        return 1;
                }
                waited = now_realtime();
        }
        printf("{\"count\": %llu, \"start\": %llu, \"end\": %llu, \"waited\": %llu}\n", (unsigned long long) a.count,
               (unsigned long long) start, (unsigned long long) end, (unsigned long long) waited);
        return 0;

fail_tx:
        store_rollback(tx);
fail:
        fprintf(stderr, "bench-submit: creating executions: %s\n", r == -ENOMEM ? "out of memory" : store_error(s));
        return 1;
}

/* cmd-kafka.c: "tern kafka init" (make tern's topics on a Kafka cluster, check those present) and
 * "tern kafka submit" (start an execution on the Kafka queue), "tern kafka topics" (list them). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "cli-kafka.h"
#include "cli-store.h"
#include "cli.h"
#include "config.h"
#include "strutil.h"
#if HAVE_KAFKA
#include "execution-create.h"
#include "flow-cache.h"
#include "kafka.h"
#endif

static int verb_kafka_init(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "brokers", required_argument, NULL, 'b' },
                { "timeout", required_argument, NULL, 't' },
                {},
        };
        const char *cmd = "tern kafka init", *path = NULL;
        _cleanup_strv_free_ char **overrides = NULL;
        usec_t timeout = 30 * USEC_PER_SEC;
        int c;

        while ((c = cli_getopt(cmd, argc, argv, "hc:b:t:", options)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: %s [--config FILE] [--brokers HOST:PORT,...] [--timeout DURATION]\n\n"
                               "Make the topics of the Kafka queue backend ([queue] in tern.conf): each missing\n"
                               "topic is created with [queue] partitions and replication-factor, the compacted ones\n"
                               "with cleanup.policy=compact; each present one is checked, never changed. Running it\n"
                               "again is harmless. One line per topic: created, present, WRONG or FAILED.\n\n"
                               "  -c, --config FILE      tern.conf to read (default: $TERN_CONFIG, else %s)\n"
                               "  -b, --brokers LIST     bootstrap servers, over [queue] brokers\n"
                               "  -t, --timeout DURATION how long to wait for the brokers (default 30s)\n\n"
                               "Exit status 0 when every topic is as it should be, 1 otherwise.\n",
                               cmd, CONFIG_DEFAULT_PATH);
                        return 0;
                case 'c':
                        path = optarg;
                        break;
                case 'b': {
                        char *a = strjoin("queue.brokers=", optarg);
                        if (!a || strv_consume(&overrides, a) < 0)
                                return fprintf(stderr, "%s: out of memory\n", cmd), 1;
                        break;
                }
                case 't':
                        if (config_parse_duration(optarg, &timeout) < 0 || timeout < USEC_PER_SEC)
                                return cli_usage_error(cmd, "--timeout '%s' is not a duration of 1s or more", optarg);
                        break;
                }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);

#if HAVE_KAFKA
        TernConfig cfg;
        int r = cli_kafka_config_load(cmd, path, overrides, &cfg);
        if (r != 0)
                return r;
        if (!cfg.queue_brokers) {
                fprintf(stderr, "%s: no Kafka brokers: set [queue] brokers in tern.conf or pass --brokers\n", cmd);
                config_done(&cfg);
                return 1;
        }
        KafkaOptions o = {
                .brokers = cfg.queue_brokers,
                .topic_prefix = cfg.queue_topic_prefix,
                .partitions = cfg.queue_partitions,
                .replication = cfg.queue_replication,
                .properties = cfg.queue_kafka,
        };
        KafkaTopicReport *reports = NULL;
        size_t n = 0;
        _cleanup_free_ char *why = NULL;
        r = kafka_topics_init(&o, timeout, &reports, &n, &why);
        config_done(&cfg);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, why ? why : strerror(-r));
                return 1;
        }
        static const char *const state_name[] = {
                [KAFKA_TOPIC_CREATED] = "created",
                [KAFKA_TOPIC_PRESENT] = "present",
                [KAFKA_TOPIC_WRONG] = "WRONG",
                [KAFKA_TOPIC_FAILED] = "FAILED",
        };
        for (size_t i = 0; i < n; i++) {
                bool bad = reports[i].state == KAFKA_TOPIC_WRONG || reports[i].state == KAFKA_TOPIC_FAILED;
                fprintf(bad ? stderr : stdout, "%s%s %s%s%s\n", bad ? "tern kafka init: " : "", reports[i].name,
                        state_name[reports[i].state], reports[i].detail ? ": " : "", strempty(reports[i].detail));
        }
        kafka_topic_reports_free(reports, n);
        return r > 0 ? 1 : 0;
#else
        (void) path;
        (void) timeout;
        fprintf(stderr, "%s: this tern was built without the Kafka queue backend (librdkafka; meson -Dkafka=enabled)\n",
                cmd);
        return 1;
#endif
}

#if HAVE_KAFKA
typedef struct SubmitLoad {
        const char *ns, *id;
        ApiFlow *flow;
} SubmitLoad;

static int submit_load_tx(StoreTx *tx, void *userdata) {
        SubmitLoad *l = userdata;
        return api_flow_load(NULL, tx, l->ns, l->id, 0, &l->flow);
}

/* Build the execution from the flow the database holds and start it on Kafka. */
static int kafka_submit(const char *cmd, const TernConfig *cfg, const char *db, const char *ns, const char *flow_id,
                        json_t *inputs, usec_t timeout) {
        _cleanup_store_ Store *s = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_execution_ Execution *e = NULL;
        SubmitLoad l = { .ns = ns, .id = flow_id };
        int r;

        if ((r = cli_store_open_config(cmd, db, cfg, CLI_STORE_CHECK, &s)) != 0)
                return r;
        r = store_transact(s, submit_load_tx, &l);
        _cleanup_api_flow_ ApiFlow *f = l.flow;
        if (r == -ENOENT) {
                fprintf(stderr, "%s: no flow '%s' in namespace '%s' (see 'tern flow list')\n", cmd, flow_id, ns);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: flow '%s.%s' cannot be loaded: %s\n", cmd, ns, flow_id,
                        r == -EBADMSG ? "it is not valid" : store_error(s));
                return 1;
        }
        ApiExecutionNew n = { .inputs = inputs };
        r = api_execution_build(f->flow, &n, now_realtime(), &e, &err);
        if (r == -EPERM) {
                fprintf(stderr, "%s: flow '%s' in namespace '%s' is disabled: a disabled flow cannot be executed\n", cmd,
                        flow_id, ns);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s%s\n", cmd, r == -EINVAL ? "invalid inputs: " : "", err ? err : strerror(-r));
                return 1;
        }
        if ((r = cli_kafka_submit(cmd, cfg, s, e, timeout)) != 0)
                return r;
        printf("%s\n", e->id);
        return 0;
}
#endif

static int verb_kafka_submit(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "db", required_argument, NULL, 'd' },
                { "input", required_argument, NULL, 'i' },
                { "timeout", required_argument, NULL, 't' },
                {},
        };
        const char *cmd = "tern kafka submit", *path = NULL, *db = NULL;
        _cleanup_json_ json_t *inputs = json_object();
        usec_t timeout = 30 * USEC_PER_SEC;
        int c;

        if (!inputs)
                return fprintf(stderr, "%s: out of memory\n", cmd), 1;
        while ((c = cli_getopt(cmd, argc, argv, "hc:i:t:", options)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: %s NAMESPACE FLOW [-i NAME=VALUE ...] [--config FILE] [--db URL] [--timeout DURATION]\n\n"
                               "Start an execution of the latest revision of a flow on the Kafka queue backend ([queue]\n"
                               "type = kafka): its 'created' event goes to the execution-events topic, where the executor\n"
                               "owning its partition starts it. Prints the execution's id.\n\n"
                               "  -i, --input NAME=VALUE  an input of the flow (repeatable)\n"
                               "  -c, --config FILE       tern.conf to read (default: $TERN_CONFIG, else %s)\n"
                               "      --db URL            database holding the flow, over [database] url\n"
                               "  -t, --timeout DURATION  how long to wait for the brokers (default 30s)\n",
                               cmd, CONFIG_DEFAULT_PATH);
                        return 0;
                case 'c':
                        path = optarg;
                        break;
                case 'd':
                        db = optarg;
                        break;
                case 'i': {
                        const char *eq = strchr(optarg, '=');
                        _cleanup_free_ char *name = eq ? strndup(optarg, (size_t) (eq - optarg)) : NULL;
                        if (!eq || eq == optarg)
                                return cli_usage_error(cmd, "--input '%s' is not NAME=VALUE", optarg);
                        if (!name || json_object_set_new(inputs, name, json_string(eq + 1)) < 0)
                                return fprintf(stderr, "%s: out of memory\n", cmd), 1;
                        break;
                }
                case 't':
                        if (config_parse_duration(optarg, &timeout) < 0 || timeout < USEC_PER_SEC)
                                return cli_usage_error(cmd, "--timeout '%s' is not a duration of 1s or more", optarg);
                        break;
                }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (argc - optind != 2)
                return cli_usage_error(cmd, "NAMESPACE and FLOW are required");
#if HAVE_KAFKA
        TernConfig cfg;
        int r = cli_kafka_config_load(cmd, path, NULL, &cfg);
        if (r != 0)
                return r;
        if (!config_queue_is_kafka(&cfg)) {
                fprintf(stderr, "%s: [queue] type is not kafka: start executions with 'tern execution start'\n", cmd);
                config_done(&cfg);
                return 1;
        }
        r = kafka_submit(cmd, &cfg, db, argv[optind], argv[optind + 1], inputs, timeout);
        config_done(&cfg);
        return r;
#else
        (void) path;
        (void) db;
        (void) timeout;
        fprintf(stderr, "%s: this tern was built without the Kafka queue backend (librdkafka; meson -Dkafka=enabled)\n",
                cmd);
        return 1;
#endif
}

/* One suffix a line, in the product's own order: what tests and scripts give a cluster to make. */
static int verb_kafka_topics(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                {},
        };
        const char *cmd = "tern kafka topics";
        int c;

        while ((c = cli_getopt(cmd, argc, argv, "h", options)) >= 0)
                if (c == 'h') {
                        printf("Usage: %s\n\n"
                               "List the topics of the Kafka queue backend, one a line, without [queue] topic-prefix.\n",
                               cmd);
                        return 0;
                }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
#if HAVE_KAFKA
        for (KafkaTopic t = 0; t < _KAFKA_TOPIC_MAX; t++)
                printf("%s\n", kafka_topic_suffix(t));
        return 0;
#else
        fprintf(stderr, "%s: this tern was built without the Kafka queue backend (librdkafka; meson -Dkafka=enabled)\n",
                cmd);
        return 1;
#endif
}

const Verb kafka_verbs[] = {
        { "init", "[--config FILE]", "create the Kafka queue backend's topics, check those present", verb_kafka_init, NULL },
        { "submit", "NAMESPACE FLOW", "start an execution on the Kafka queue", verb_kafka_submit, NULL },
        { "topics", "", "list the Kafka queue backend's topics", verb_kafka_topics, NULL },
        {},
};

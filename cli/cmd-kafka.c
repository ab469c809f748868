/* cmd-kafka.c: "tern kafka init": make tern's topics on a Kafka cluster, check those present. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "strutil.h"
#if HAVE_KAFKA
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
        _cleanup_strv_free_ char **errors = NULL;
        int r = config_load_from(&(ConfigSource) { .path = path, .overrides = overrides, .command = true }, &cfg, &errors);
        if (r < 0) {
                for (size_t i = 0; errors && errors[i]; i++)
                        fprintf(stderr, "%s: %s\n", cmd, errors[i]);
                if (!errors)
                        fprintf(stderr, "%s: cannot read the configuration: %s\n", cmd, strerror(-r));
                return 1;
        }
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

const Verb kafka_verbs[] = {
        { "init", "[--config FILE]", "create the Kafka queue backend's topics, check those present", verb_kafka_init, NULL },
        {},
};

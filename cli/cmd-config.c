/* cmd-config.c: "tern config check": validate /etc/tern/tern.conf and its drop-ins, print the result. */
#include <stdio.h>

#include "cli.h"
#include "config.h"
#include "sandbox-config.h"
#include "strutil.h"
#if HAVE_KAFKA
#include "kafka.h"
#endif

static int verb_config_check(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "file", required_argument, NULL, 'f' },
                { "quiet", no_argument, NULL, 'q' },
                {},
        };
        const char *cmd = "tern config check", *path = NULL;
        bool quiet = false;
        int c;

        while ((c = cli_getopt(cmd, argc, argv, "hc:f:q", options)) >= 0)
                switch (c) {
                case 'h':
                        printf("Usage: %s [--config FILE] [--quiet]\n\n"
                               "Validate the daemons' configuration: FILE (-c, --config, or --file as before;\n"
                               "default $TERN_CONFIG, else %s), the\n"
                               "drop-ins in FILE.d/*.conf, TERN_<SECTION>_<KEY> environment overrides and the\n"
                               "secret files, and [queue] kafka.* with librdkafka; print the effective\n"
                               "configuration (secrets hidden).\n"
                               "Exit status 0 when valid, 1 when not (each problem named with file and line).\n",
                               cmd, CONFIG_DEFAULT_PATH);
                        return 0;
                case 'c':
                case 'f':
                        path = optarg;
                        break;
                case 'q':
                        quiet = true;
                        break;
                }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);

        TernConfig cfg;
        _cleanup_strv_free_ char **errors = NULL;
        int r = config_load(path, &cfg, &errors);
        if (r < 0) {
                for (size_t i = 0; errors && errors[i]; i++)
                        fprintf(stderr, "%s: %s\n", cmd, errors[i]);
                if (!errors)
                        fprintf(stderr, "%s: %s\n", cmd, strerror(-r));
                return 1;
        }
        /* [sandbox] is the worker's to apply; its values are checked here all the same. */
        _cleanup_(sandbox_config_done) SandboxConfig sc;
        _cleanup_free_ char *err = NULL;
        sandbox_config_init(&sc, true);
        r = sandbox_config_load(&sc, &cfg, &err);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, err ? err : strerror(-r));
                config_done(&cfg);
                return 1;
        }
#if HAVE_KAFKA
        /* [queue] kafka.* is librdkafka's to judge: a client configuration is made, no connection. */
        if (cfg.queue_kafka) {
                KafkaOptions o = { .brokers = cfg.queue_brokers ?: "localhost:9092", .properties = cfg.queue_kafka };
                rd_kafka_conf_t *conf = NULL;
                r = kafka_conf_new(&o, NULL, &conf, &err);
                if (r < 0) {
                        fprintf(stderr, "%s: %s\n", cmd, err ? err : strerror(-r));
                        config_done(&cfg);
                        return 1;
                }
                rd_kafka_conf_destroy(conf);
        }
#endif
        if (!quiet)
                config_dump(&cfg, stdout);
        config_done(&cfg);
        return 0;
}

const Verb config_verbs[] = {
        { "check", "[--config FILE]", "validate the daemons' configuration and print it", verb_config_check, NULL },
        {},
};

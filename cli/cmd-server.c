/* cmd-server.c: "tern server standalone|executor|worker|scheduler|webserver|indexer": run components in the
 * foreground until SIGTERM or SIGINT, in the daemon frame the systemd daemons use (tern.conf,
 * sd_notify, watchdog, status socket, heartbeats, SIGHUP reload). */
#include <stdio.h>
#include <string.h>

#include "cli-store.h"
#include "cli.h"
#include "daemon.h"
#include "executor-component.h"
#include "indexer-component.h"
#include "log.h"
#include "scheduler-component.h"
#include "strutil.h"
#include "web-component.h"
#include "worker-component.h"

typedef struct ServerArgs {
        CliConfig config;
        CliSandboxFlags sandbox; /* worker, standalone: over [sandbox] */
        const char *db;
} ServerArgs;

static void server_help(const char *which) {
        printf("Usage: tern server %s [--config FILE] [--db URL] [--storage URL]%s\n\n", which,
               streq(which, "executor") || streq(which, "scheduler") || streq(which, "indexer") ? ""
               : streq(which, "webserver")                           ? " [--listen ADDR]"
                                                                     : " [--workers N] [--queue NAME]");
        if (streq(which, "standalone"))
                printf("Run the executor, a scheduler and workers in one process until SIGTERM or Ctrl-C;\n"
                       "with --listen ADDR (or [webserver] listen in tern.conf) also the webserver (REST API and\n"
                       "web UI).\n");
        else if (streq(which, "webserver"))
                printf("Run the webserver: the REST API and the web UI on --listen ADDR (else [webserver] listen of\n"
                       "tern.conf or $TERN_WEBSERVER_LISTEN, else 127.0.0.1:8080; several separated by commas),\n"
                       "with authentication (tern user add, tern token create).\n");
        else if (streq(which, "scheduler"))
                printf("Run a scheduler: it starts the executions of Schedule and Flow triggers and backfills.\n"
                       "Any number may run against the same PostgreSQL database; each slot runs once.\n");
        else if (streq(which, "indexer"))
                printf("Run the indexer of the Kafka queue backend ([queue] type = kafka): it writes the executions,\n"
                       "task runs and log lines of the execution-state and logs topics into the database the API\n"
                       "reads, each once. Any number may run (consumer group 'tern-indexer').\n");
        else if (streq(which, "executor"))
                printf("Run an executor: it applies execution events and re-queues the jobs of vanished workers.\n"
                       "Any number may run against the same PostgreSQL database.\n");
        else
                printf("Run a worker: it claims jobs under a lease and runs tasks (--workers at once).\n");
        printf("\nIt reads tern.conf as the daemons do (the options below win over it), says READY=1 and\n"
               "STATUS= to $NOTIFY_SOCKET, answers health, status and metrics on <runtime-dir>/%s.sock\n"
               "(default <state-dir>/run), and reloads the configuration on SIGHUP.\n",
               which);
        printf("\nOptions:\n"
               "  -c, --config FILE     configuration (default: $TERN_CONFIG, else %s)\n"
               "      --db URL          database (default: [database] url, $TERN_DB, else the embedded SQLite file)\n"
               "      --storage URL     internal storage shared by every host ([storage] url; default\n"
               "                        file://<state-dir>/storage): file:///DIR, s3://BUCKET/PREFIX?endpoint=...,\n"
               "                        gs://BUCKET/PREFIX, azure://ACCOUNT/CONTAINER/PREFIX\n"
               "  -w, --workers N       task slots ([worker] slots, default 4)\n"
               "      --queue NAME      worker group to take jobs from ([worker] queue; default: the default group)\n"
               "      --grace DURATION  on stop, how long running tasks may finish ([server] grace, default PT30S)\n"
               "      --lease DURATION  worker: how long a claimed job stays ours without renewal ([worker] lease,\n"
               "                        default PT30S); a worker that dies loses its jobs to others after this long,\n"
               "                        and one cut off from the database stops their tasks\n"
               "      --listen ADDR     webserver, standalone: serve the REST API and the web UI on HOST:PORT\n"
               "                        ([webserver] listen)\n"
               "      --ui-dir DIR      the web UI's files ([webserver] ui-dir, $TERN_WEBSERVER_UI_DIR; default:\n"
               "                        the installed ones; \"\" for none)\n",
               CONFIG_DEFAULT_PATH);
        if (streq(which, "worker") || streq(which, "standalone"))
                cli_sandbox_help(streq(which, "standalone"));
}

/* -1 to go on, else the exit code. */
static int parse(const char *cmd, const char *which, int argc, char *argv[], ServerArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "db", required_argument, NULL, 'd' },
                { "workers", required_argument, NULL, 'w' },
                { "queue", required_argument, NULL, 'Q' },
                { "grace", required_argument, NULL, 'G' },
                { "lease", required_argument, NULL, 'E' },
                { "listen", required_argument, NULL, 'L' },
                { "ui-dir", required_argument, NULL, 'U' },
                { "storage", required_argument, NULL, 'S' },
                CLI_SANDBOX_OPTIONS,
                {},
        };
        int c, r;
        while ((c = cli_getopt(cmd, argc, argv, "hc:w:", options)) >= 0) {
                if ((r = cli_sandbox_record(cmd, c, optarg, &a->sandbox)) == 0)
                        continue;
                if (r != 1)
                        return r;
                r = 0;
                switch (c) {
                case 'h':
                        server_help(which);
                        return 0;
                case 'c':
                        a->config.path = optarg;
                        break;
                case 'd':
                        a->db = optarg;
                        break;
                case 'w': {
                        unsigned n;
                        if (safe_atou(optarg, &n) < 0 || n == 0 || n > 1024)
                                return cli_usage_error(cmd, "--workers '%s' must be a number from 1 to 1024", optarg);
                        r = cli_config_add(&a->config, "worker.slots", optarg);
                        break;
                }
                case 'Q':
                        r = cli_config_add(&a->config, "worker.queue", optarg);
                        break;
                case 'L':
                        r = cli_config_add(&a->config, "webserver.listen", optarg);
                        break;
                case 'U':
                        r = cli_config_add(&a->config, "webserver.ui-dir", optarg);
                        break;
                case 'S':
                        r = cli_config_add(&a->config, "storage.url", optarg);
                        break;
                case 'G':
                case 'E': {
                        susec_t d;
                        if (duration_parse(optarg, &d) < 0 || d < 0 || (c == 'E' && d < (susec_t) USEC_PER_SEC))
                                return cli_usage_error(cmd, "--%s '%s' is not an ISO-8601 duration%s",
                                                       c == 'G' ? "grace" : "lease", optarg,
                                                       c == 'E' ? " of at least PT1S" : "");
                        r = cli_config_add(&a->config, c == 'G' ? "server.grace" : "worker.lease", optarg);
                        break;
                }
                }
                if (r != 0)
                        return r;
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return -1;
}

static void server_args_done(ServerArgs *a) {
        cli_config_done(&a->config);
        cli_sandbox_flags_done(&a->sandbox);
}

static int run_server(const char *which, int argc, char *argv[]) {
        char cmd[64];
        _cleanup_(server_args_done) ServerArgs a = {};
        _cleanup_(sandbox_config_done) SandboxConfig sandbox;
        int r;

        sandbox_config_init(&sandbox, true);
        snprintf(cmd, sizeof cmd, "tern server %s", which);
        if ((r = parse(cmd, which, argc, argv, &a)) >= 0)
                return r;
        log_setup("tern", which);
        if ((r = cli_config_load(cmd, &a.config)) != 0)
                return r;

        bool standalone = streq(which, "standalone");
        const WorkerComponentParams worker_params = { .sandbox = &sandbox };
        const WebComponentParams web_params = { .http_fd = -1 };
        DaemonPart parts[5];
        size_t n = 0;
        if (standalone || streq(which, "executor"))
                parts[n++] = (DaemonPart) { &executor_component, NULL };
        if (standalone || streq(which, "scheduler"))
                parts[n++] = (DaemonPart) { &scheduler_component, NULL };
        if (standalone || streq(which, "worker")) {
                /* A worker on its own is a server: it isolates its tasks or fails them; standalone is
                 * also how people try tern out, so it falls back to plain processes where it cannot
                 * (with a warning). Tasks see neither the state directory nor /etc/tern. */
                if ((r = cli_sandbox_build(cmd, &a.config.cfg, standalone, &a.sandbox, &sandbox)) != 0 ||
                    (r = cli_sandbox_setup(cmd, &sandbox, a.config.cfg.state_dir)) != 0)
                        return r;
                parts[n++] = (DaemonPart) { &worker_component, &worker_params };
        }
        /* On Kafka the repositories the API reads are the indexer's to write (docs/KAFKA.md). */
        if (streq(which, "indexer") || (standalone && config_queue_is_kafka(&a.config.cfg)))
                parts[n++] = (DaemonPart) { &indexer_component, NULL };
        /* Last: stopped first, so that it answers no request about components already gone. */
        if (streq(which, "webserver") || (standalone && a.config.cfg.webserver_listen))
                parts[n++] = (DaemonPart) { &web_component, &web_params };

        DaemonOptions opt = {
                .name = which,
                .config = a.config.source,
                .loaded = &a.config.cfg,
                .db_url = a.db,
                .parts = parts,
                .n_parts = n,
        };
        if (a.db && cli_db_url_has_password(a.db))
                log_warning("%s: --db gives the database password on the command line, where every user of this host "
                            "can read it (ps, /proc/PID/cmdline): set [database] password-file in tern.conf instead, "
                            "or keep the password in a PGPASSFILE (~/.pgpass).",
                            cmd);
        return daemon_run(&opt);
}

static int verb_standalone(int argc, char *argv[]) {
        return run_server("standalone", argc, argv);
}
static int verb_webserver(int argc, char *argv[]) {
        return run_server("webserver", argc, argv);
}
static int verb_executor(int argc, char *argv[]) {
        return run_server("executor", argc, argv);
}
static int verb_scheduler(int argc, char *argv[]) {
        return run_server("scheduler", argc, argv);
}
static int verb_indexer(int argc, char *argv[]) {
        return run_server("indexer", argc, argv);
}
static int verb_worker(int argc, char *argv[]) {
        return run_server("worker", argc, argv);
}

const Verb server_verbs[] = {
        { "standalone", "[--config FILE] [--db URL] [--workers N] [--listen ADDR]",
          "executor, scheduler and workers in one process", verb_standalone, NULL },
        { "executor", "[--config FILE] [--db URL]", "an executor (many may share PostgreSQL)", verb_executor, NULL },
        { "webserver", "[--config FILE] [--db URL] [--listen ADDR] [--ui-dir DIR]",
          "the REST API and the web UI (many may share PostgreSQL)",
          verb_webserver, NULL },
        { "worker", "[--config FILE] [--db URL] [--workers N]", "a worker that runs tasks", verb_worker, NULL },
        { "scheduler", "[--config FILE] [--db URL]", "a scheduler (Schedule and Flow triggers; many may share PostgreSQL)",
          verb_scheduler, NULL },
        { "indexer", "[--config FILE] [--db URL]", "the Kafka queue backend's indexer (executions and logs into the database)",
          verb_indexer, NULL },
        {},
};

/* cmd-server.c: "tern server standalone|executor|worker": run components in the foreground until
 * SIGTERM or SIGINT (the systemd daemons wrap the same components). */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "cli-store.h"
#include "cli.h"
#include "executor.h"
#include "log.h"
#include "scheduler.h"
#include "strutil.h"
#include "web-server.h"
#include "worker.h"

static int stop_fd = -1;

static void on_signal(int sig) {
        uint64_t one = 1;
        (void) !write(stop_fd, &one, sizeof one);
}

typedef struct ServerArgs {
        SandboxConfig sandbox; /* worker, standalone: how shell tasks are isolated */
        const char *db;
        unsigned workers;
        usec_t grace;
        usec_t lease;
        const char *queue;
        const char *listen; /* webserver address (standalone: none unless given) */
        const char *ui_dir; /* the web UI's files (NULL: $TERN_WEBSERVER_UI_DIR, else the installed ones) */
} ServerArgs;

static void server_help(const char *which) {
        printf("Usage: tern server %s [--db URL]%s\n\n", which,
               streq(which, "executor") || streq(which, "scheduler") ? "" : " [--workers N] [--queue NAME]");
        if (streq(which, "standalone"))
                printf("Run the executor, a scheduler and workers in one process until SIGTERM or Ctrl-C;\n"
                       "with --listen ADDR also the webserver (REST API and web UI).\n");
        else if (streq(which, "webserver"))
                printf("Run the webserver: the REST API and the web UI on --listen ADDR (else $TERN_WEBSERVER_LISTEN, else\n"
                       "127.0.0.1:8080; several separated by commas), with authentication (tern user add,\n"
                       "tern token create).\n");
        else if (streq(which, "scheduler"))
                printf("Run a scheduler: it starts the executions of Schedule and Flow triggers and backfills.\n"
                       "Any number may run against the same PostgreSQL database; each slot runs once.\n");
        else if (streq(which, "executor"))
                printf("Run an executor: it applies execution events and re-queues the jobs of vanished workers.\n"
                       "Any number may run against the same PostgreSQL database.\n");
        else
                printf("Run a worker: it claims jobs under a lease and runs tasks (--workers at once).\n");
        printf("\nOptions:\n"
               "      --db URL          database (default: $TERN_DB, else the embedded SQLite file)\n"
               "  -w, --workers N       task slots (default 4)\n"
               "      --queue NAME      worker group to take jobs from (default: the default group)\n"
               "      --grace DURATION  on stop, how long running tasks may finish (default PT30S)\n"
               "      --lease DURATION  worker: how long a claimed job stays ours without renewal (default PT30S);\n"
               "                        a worker that dies loses its jobs to others after this long\n"
               "      --listen ADDR     webserver, standalone: serve the REST API and the web UI on HOST:PORT\n"
               "      --ui-dir DIR      the web UI's files (default: $TERN_WEBSERVER_UI_DIR, else the installed\n"
               "                        ones; \"\" for none)\n");
        if (streq(which, "worker") || streq(which, "standalone"))
                cli_sandbox_help(streq(which, "standalone"));
}

static int parse(const char *cmd, const char *which, int argc, char *argv[], ServerArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "db", required_argument, NULL, 'd' },
                { "workers", required_argument, NULL, 'w' },
                { "queue", required_argument, NULL, 'Q' },
                { "grace", required_argument, NULL, 'G' },
                { "lease", required_argument, NULL, 'E' },
                { "listen", required_argument, NULL, 'L' },
                { "ui-dir", required_argument, NULL, 'U' },
                CLI_SANDBOX_OPTIONS,
                {},
        };
        int c;
        while ((c = cli_getopt(cmd, argc, argv, "hw:", options)) >= 0) {
                int r = cli_sandbox_option(cmd, c, optarg, &a->sandbox);
                if (r == 0)
                        continue;
                if (r != 1)
                        return r;
                switch (c) {
                case 'h':
                        server_help(which);
                        return 0;
                case 'd':
                        a->db = optarg;
                        break;
                case 'w':
                        if (safe_atou(optarg, &a->workers) < 0 || a->workers == 0 || a->workers > 1024)
                                return cli_usage_error(cmd, "--workers '%s' must be a number from 1 to 1024", optarg);
                        break;
                case 'Q':
                        a->queue = optarg;
                        break;
                case 'L':
                        a->listen = optarg;
                        break;
                case 'U':
                        a->ui_dir = optarg;
                        break;
                case 'G':
                case 'E': {
                        susec_t d;
                        if (duration_parse(optarg, &d) < 0 || d < 0 || (c == 'E' && d < (susec_t) USEC_PER_SEC))
                                return cli_usage_error(cmd, "--%s '%s' is not an ISO-8601 duration%s",
                                                       c == 'G' ? "grace" : "lease", optarg,
                                                       c == 'E' ? " of at least PT1S" : "");
                        if (c == 'G')
                                a->grace = (usec_t) d;
                        else
                                a->lease = (usec_t) d;
                        break;
                }
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return -1;
}

static int setup_signals(void) {
        stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (stop_fd < 0)
                return -errno;
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        signal(SIGPIPE, SIG_IGN);
        return 0;
}

static void wait_stop(void) {
        struct pollfd p = { stop_fd, POLLIN, 0 };
        while (poll(&p, 1, -1) < 0 && errno == EINTR)
                ;
}

static void server_args_done(ServerArgs *a) {
        sandbox_config_done(&a->sandbox);
}

static int run_server(const char *which, int argc, char *argv[]) {
        char cmd[64];
        _cleanup_(server_args_done) ServerArgs a = { .workers = 4, .grace = 30 * USEC_PER_SEC };
        int r;

        /* A worker on its own is a server: it isolates its tasks or fails them; standalone is also how
         * people try tern out, so it falls back to plain processes where it cannot (with a warning). */
        sandbox_config_init(&a.sandbox, streq(which, "standalone"));

        snprintf(cmd, sizeof cmd, "tern server %s", which);
        if ((r = parse(cmd, which, argc, argv, &a)) >= 0)
                return r;
        log_setup("tern", which);
        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        _cleanup_free_ char *state_dir = NULL;
        if (cli_state_dir_make(cmd, &state_dir) < 0)
                return 1;
        _cleanup_(cli_engine_config_done) EngineConfig cfg = {};
        if (cli_engine_config(cmd, &cfg) < 0 || setup_signals() < 0)
                return 1;

        _cleanup_(web_server_freep) WebServer *web = NULL;
        if (a.listen || streq(which, "webserver")) {
                WebServerOptions wo = WEB_SERVER_OPTIONS_INIT;
                _cleanup_free_ char *storage = strjoin(state_dir, "/storage");
                if (!storage)
                        return log_oom(), 1;
                /* As tern-webserver reads [webserver] listen: the environment's override, which the flag beats. */
                const char *env_listen = streq(which, "webserver") ? getenv("TERN_WEBSERVER_LISTEN") : NULL;
                wo.listen = a.listen ? a.listen : !isempty(env_listen) ? env_listen : "127.0.0.1:8080";
                wo.storage_root = storage; /* the workers' (FILE inputs, file downloads) */
                wo.ui_dir = a.ui_dir ?: getenv("TERN_WEBSERVER_UI_DIR");
                if ((r = web_server_start(s, &wo, &web)) < 0)
                        return log_error_errno(r, "Cannot listen on %s: %m", wo.listen), 1;
                log_info("Webserver listening on %s (port %u).", wo.listen, web_server_port(web));
        }
        if (streq(which, "webserver")) {
                wait_stop();
                return 0;
        }
        if (streq(which, "standalone")) {
                _cleanup_(inproc_freep) Inproc *ip = NULL;
                if ((r = cli_sandbox_setup(cmd, &a.sandbox, state_dir)) != 0)
                        return r;
                InprocOptions io = { .workers = a.workers, .state_dir = state_dir, .engine = &cfg, .scheduler = true,
                                     .sandbox = &a.sandbox.options };
                if ((r = inproc_start(s, &io, &ip)) < 0)
                        return log_error_errno(r, "Cannot start the executor and workers: %m"), 1;
                log_info("Standalone server running (%u task slots); stop with SIGTERM or Ctrl-C.", a.workers);
                wait_stop();
                log_info("Stopping: running tasks have %llus to finish.", (unsigned long long) (a.grace / USEC_PER_SEC));
                inproc_stop(ip, a.grace);
                return 0;
        }
        if (streq(which, "executor")) {
                Store *xs = NULL;
                _cleanup_(executor_freep) Executor *x = NULL;
                ExecutorOptions xo = { .id = "executor", .engine = cfg };
                if ((r = store_dup(s, &xs)) < 0 || (r = executor_new(xs, &xo, &x)) < 0)
                        return log_error_errno(r, "Cannot start the executor: %m"), 1;
                log_info("Executor running; stop with SIGTERM or Ctrl-C.");
                (void) executor_run(x, stop_fd);
                return 0;
        }
        if (streq(which, "scheduler")) {
                Store *ss = NULL;
                _cleanup_(scheduler_freep) Scheduler *sch = NULL;
                SchedulerOptions so = { .id = "scheduler", .engine = cfg };
                if ((r = store_dup(s, &ss)) < 0 || (r = scheduler_new(ss, &so, &sch)) < 0)
                        return log_error_errno(r, "Cannot start the scheduler: %m"), 1;
                log_info("Scheduler running; stop with SIGTERM or Ctrl-C.");
                (void) scheduler_run(sch, stop_fd);
                return 0;
        }
        char id[128], host[64] = "";
        (void) gethostname(host, sizeof host - 1);
        snprintf(id, sizeof id, "worker-%s-%d", host, (int) getpid());
        _cleanup_free_ char *work = strjoin(state_dir, "/work"), *storage = strjoin(state_dir, "/storage");
        _cleanup_(worker_freep) Worker *w = NULL;
        /* Tasks see neither the worker's state (database file, storage, other tasks' directories) nor
         * /etc/tern. */
        if ((r = cli_sandbox_setup(cmd, &a.sandbox, state_dir)) != 0)
                return r;
        WorkerOptions wo = { .id = id, .slots = a.workers, .queue = a.queue, .lease = a.lease, .work_root = work,
                             .storage_root = storage, .sandbox = &a.sandbox.options };
        if (!work || !storage || (r = worker_new(s, &wo, &w)) < 0 || (r = worker_start(w)) < 0)
                return log_error_errno(r < 0 ? r : -ENOMEM, "Cannot start the worker: %m"), 1;
        log_info("Worker %s running (%u task slots); stop with SIGTERM or Ctrl-C.", id, a.workers);
        wait_stop();
        log_info("Stopping: running tasks have %llus to finish.", (unsigned long long) (a.grace / USEC_PER_SEC));
        worker_stop(w, a.grace);
        return 0;
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
static int verb_worker(int argc, char *argv[]) {
        return run_server("worker", argc, argv);
}

const Verb server_verbs[] = {
        { "standalone", "[--db URL] [--workers N] [--listen ADDR]", "executor, scheduler and workers in one process", verb_standalone, NULL },
        { "executor", "[--db URL]", "an executor (many may share PostgreSQL)", verb_executor, NULL },
        { "webserver", "[--db URL] [--listen ADDR]", "the REST API (many may share PostgreSQL)", verb_webserver, NULL },
        { "worker", "[--db URL] [--workers N]", "a worker that runs tasks", verb_worker, NULL },
        { "scheduler", "[--db URL]", "a scheduler (Schedule and Flow triggers; many may share PostgreSQL)",
          verb_scheduler, NULL },
        {},
};

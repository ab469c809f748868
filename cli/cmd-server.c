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
        SandboxOptions sandbox; /* worker: how shell tasks are isolated */
        char **binds_ro, **binds_rw, **hidden;
        const char *db;
        unsigned workers;
        usec_t grace;
        usec_t lease;
        const char *queue;
        const char *listen; /* webserver address (standalone: none unless given) */
} ServerArgs;

static void server_help(const char *which) {
        printf("Usage: tern server %s [--db URL]%s\n\n", which,
               streq(which, "executor") || streq(which, "scheduler") ? "" : " [--workers N] [--queue NAME]");
        if (streq(which, "standalone"))
                printf("Run the executor, a scheduler and workers in one process until SIGTERM or Ctrl-C;\n"
                       "with --listen ADDR also the webserver (REST API).\n");
        else if (streq(which, "webserver"))
                printf("Run the webserver: the REST API on --listen ADDR (default 127.0.0.1:8080), with\n"
                       "authentication (tern user add, tern token create).\n");
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
               "      --listen ADDR     webserver, standalone: serve the REST API on HOST:PORT\n");
        if (streq(which, "worker"))
                printf("\nSandbox of shell tasks (worker):\n"
                       "      --sandbox MODE          required (default): namespaces, read-only root, nobody, no\n"
                       "                              capabilities, seccomp, cgroup limits, or the task fails;\n"
                       "                              best-effort: what the privileges allow, the rest logged; off\n"
                       "      --sandbox-network       tasks keep the host's network (default: loopback only)\n"
                       "      --sandbox-userns        also a user namespace (a worker that is not root needs it)\n"
                       "      --sandbox-uid UID[:GID] the tasks' identity (default 65534:65534, nobody)\n"
                       "      --sandbox-memory SIZE   memory limit per task, e.g. 512MB (default none)\n"
                       "      --sandbox-pids N        processes per task (default 1024)\n"
                       "      --sandbox-cpu PERCENT   CPU per task, 100 = one CPU (default none)\n"
                       "      --sandbox-bind-ro PATH[:INSIDE], --sandbox-bind-rw PATH[:INSIDE]\n"
                       "                              extra host paths visible to tasks (repeatable)\n"
                       "      --sandbox-hide PATH     mask a host path inside (repeatable; /etc/tern and the\n"
                       "                              worker's state directory always are)\n");
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
                { "sandbox", required_argument, NULL, 'S' },
                { "sandbox-network", no_argument, NULL, 'N' },
                { "sandbox-userns", no_argument, NULL, 'U' },
                { "sandbox-uid", required_argument, NULL, 'I' },
                { "sandbox-memory", required_argument, NULL, 'M' },
                { "sandbox-pids", required_argument, NULL, 'P' },
                { "sandbox-cpu", required_argument, NULL, 'C' },
                { "sandbox-bind-ro", required_argument, NULL, 'R' },
                { "sandbox-bind-rw", required_argument, NULL, 'W' },
                { "sandbox-hide", required_argument, NULL, 'H' },
                {},
        };
        int c;
        while ((c = cli_getopt(cmd, argc, argv, "hw:", options)) >= 0) {
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
                case 'S':
                        a->sandbox.mode = sandbox_mode_from_string(optarg);
                        if (a->sandbox.mode < 0)
                                return cli_usage_error(cmd, "--sandbox '%s' must be required, best-effort or off", optarg);
                        break;
                case 'N':
                        a->sandbox.network = true;
                        break;
                case 'U':
                        a->sandbox.user_namespace = true;
                        break;
                case 'I': {
                        unsigned uid, gid;
                        char *colon = strchr(optarg, ':');
                        if (colon)
                                *colon = 0;
                        if (safe_atou(optarg, &uid) < 0 || uid == 0 || (colon && (safe_atou(colon + 1, &gid) < 0 || gid == 0)))
                                return cli_usage_error(cmd, "--sandbox-uid must be UID[:GID], not root");
                        a->sandbox.uid = uid;
                        a->sandbox.gid = colon ? gid : uid;
                        break;
                }
                case 'M':
                        if (sandbox_parse_bytes(optarg, &a->sandbox.memory_max) < 0 || a->sandbox.memory_max < (1 << 20))
                                return cli_usage_error(cmd, "--sandbox-memory '%s' is not a size such as 512MB", optarg);
                        break;
                case 'P': {
                        unsigned v;
                        if (safe_atou(optarg, &v) < 0 || v == 0)
                                return cli_usage_error(cmd, "--sandbox-pids '%s' must be a positive number", optarg);
                        a->sandbox.pids_max = v;
                        break;
                }
                case 'C':
                        if (safe_atou(optarg, &a->sandbox.cpu_percent) < 0 || a->sandbox.cpu_percent == 0)
                                return cli_usage_error(cmd, "--sandbox-cpu '%s' must be a positive percentage", optarg);
                        break;
                case 'R':
                case 'W':
                case 'H':
                        if (optarg[0] != '/')
                                return cli_usage_error(cmd, "sandbox paths must be absolute: '%s'", optarg);
                        if (strv_extend(c == 'R' ? &a->binds_ro : c == 'W' ? &a->binds_rw : &a->hidden, optarg) < 0)
                                return log_oom(), 1;
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
        strv_free(a->binds_ro);
        strv_free(a->binds_rw);
        strv_free(a->hidden);
}

static int run_server(const char *which, int argc, char *argv[]) {
        char cmd[64];
        _cleanup_(server_args_done) ServerArgs a = { .workers = 4, .grace = 30 * USEC_PER_SEC };
        int r;

        sandbox_options_init(&a.sandbox);

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
                wo.listen = a.listen ? a.listen : "127.0.0.1:8080";
                wo.storage_root = storage; /* the workers' (FILE inputs, file downloads) */
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
                InprocOptions io = { .workers = a.workers, .state_dir = state_dir, .engine = &cfg, .scheduler = true };
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
        if (strv_extend(&a.hidden, state_dir) < 0)
                return log_oom(), 1;
        a.sandbox.ro_binds = a.binds_ro;
        a.sandbox.rw_binds = a.binds_rw;
        a.sandbox.hidden = a.hidden;
        WorkerOptions wo = { .id = id, .slots = a.workers, .queue = a.queue, .lease = a.lease, .work_root = work,
                             .storage_root = storage, .sandbox = &a.sandbox };
        if (a.sandbox.mode != SANDBOX_OFF)
                log_info("Shell tasks run in the sandbox (%s%s%s).", sandbox_mode_to_string(a.sandbox.mode),
                         a.sandbox.network ? ", network" : ", no network", a.sandbox.user_namespace ? ", user namespace" : "");
        else
                log_warning("Shell tasks run WITHOUT sandbox (--sandbox off): they can do anything this worker's user can.");
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

/* cmd-run.c: "tern run": run one flow to its end in this process, on the embedded store by default,
 * showing task states and logs as they happen. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "cli-execution.h"
#include "cli-kafka.h"
#include "cli-store.h"
#include "cli.h"
#include "config.h"
#include "execution-create.h"
#include "execution-files.h"
#include "fd-util.h"
#include "flow.h"
#include "hashmap.h"
#include "id.h"
#include "log.h"
#include "strbuf.h"
#include "strutil.h"
#include "variables.h"

static volatile int interrupted;

static void on_sigint(int sig) {
        interrupted++;
        if (interrupted >= 3)
                _exit(130);
}

static void run_help(void) {
        printf("Usage: tern run FLOW.yaml [OPTIONS]\n\n"
               "Run one execution of a flow to its end in this process and show its progress.\n"
               "By default it uses the embedded database in the state directory; no server is needed.\n\n"
               "Options:\n"
               "  -i, --input NAME=VALUE   an input value (repeatable); NAME=@PATH uploads a file for a FILE input\n"
               "      --inputs-json JSON   inputs as one JSON object (typed values, \"@PATH\" for files)\n"
               "      --raw-inputs         take inputs as given without validation; defaults fill the rest\n"
               "  -l, --label KEY=VALUE    a label of the execution (repeatable)\n"
               "      --flows DIR          apply the flows in DIR first (for subflows)\n"
               "  -c, --config FILE        tern.conf to read (default: $TERN_CONFIG, else %s); the options\n"
               "                           here win over it\n"
               "      --db URL             database (default: [database] url, $TERN_DB, else the embedded SQLite file)\n"
               "      --storage URL        internal storage for the execution's files ([storage] url; default\n"
               "                           file://<state dir>/storage; s3://, gs://, azure://: docs/OPERATIONS.md)\n"
               "      --plugins-path DIRS  plugin directories, ':'-separated, after the installed ones\n"
               "                           ([plugins] path, $TERN_PLUGINS_PATH; docs/PLUGINS.md)\n"
               "  -w, --workers N          tasks run at once ([worker] slots, default 4)\n"
               "      --remote             run no executor or workers here: the servers or daemons sharing\n"
               "                           the database run the execution, this command follows it (with\n"
               "                           [queue] type = kafka: sent to the executors on Kafka)\n"
               "  -o, --output FORMAT      'table' (live progress, default) or 'json' (the final execution)\n"
               "      --include-logs       with --output json: add the execution's logs as \"logs\"\n"
               "  -q, --quiet              no progress, only the summary\n"
               "      --timeout DURATION   kill the execution after this long (ISO-8601, e.g. PT10M)\n"
               "  -h, --help               show this help\n\n"
               "Exit status: 0 when the execution ends SUCCESS, 1 otherwise (WARNING, FAILED, KILLED...),\n"
               "2 for usage errors. Ctrl-C kills the execution; a second Ctrl-C leaves at once.\n"
               "State directory: [server] state-dir, $TERN_STATE_DIR, or /var/lib/tern (root), or\n"
               "~/.local/state/tern. [executor] and [worker] settings (log and output limits) and [sandbox]\n"
               "apply as in the daemons; [worker] queue does not (this execution is all the work).\n",
               CONFIG_DEFAULT_PATH);
        cli_sandbox_help(true);
}

typedef struct RunArgs {
        const char *flow_path, *flows_dir, *db, *inputs_json;
        json_t *inputs; /* object of raw strings */
        json_t *labels;
        bool raw_inputs, include_logs, quiet, remote;
        OutputFormat output;
        usec_t timeout;
} RunArgs;

static int parse_kv(const char *cmd, const char *what, const char *arg, json_t *into) {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg)
                return cli_usage_error(cmd, "%s '%s' must be NAME=VALUE", what, arg);
        _cleanup_free_ char *k = strndup(arg, (size_t) (eq - arg));
        if (!k || json_object_set_new(into, k, json_string(eq + 1)) < 0)
                return log_oom(), 1;
        return 0;
}

/* Apply every valid flow file of a directory; invalid ones are reported and skipped. */
typedef struct FlowPut {
        const Flow *flow;
        usec_t now;
        int revision;
} FlowPut;

/* Rerun safely (store_transact()): the same source again is no new revision. */
static int flow_put_tx(StoreTx *tx, void *userdata) {
        FlowPut *p = userdata;
        int r = store_flow_put(tx, p->flow->namespace, p->flow->id, p->flow->source, p->now, &p->revision);
        return r < 0 ? r : 0;
}

/* The flows of these files (those that load), rerun safely as flow_put_tx(). */
static int flows_dir_put_tx(StoreTx *tx, void *userdata) {
        char **files = userdata;
        for (char **f = files; f && *f; f++) {
                _cleanup_(flow_freep) Flow *flow = NULL;
                FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                if (flow_load_file(*f, &flow, &diags) != 0) {
                        flow_diagnostics_done(&diags);
                        continue; /* not runnable as a subflow; `tern flow validate` says why */
                }
                flow_diagnostics_done(&diags);
                int rev;
                int r = store_flow_put(tx, flow->namespace, flow->id, flow->source, now_realtime(), &rev);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int apply_flows_dir(const char *cmd, Store *s, const char *dir) {
        _cleanup_strv_free_ char **files = NULL;
        int r = 0;

        struct dirent **entries = NULL;
        int k = scandir(dir, &entries, NULL, alphasort);
        if (k < 0) {
                fprintf(stderr, "%s: --flows '%s': %m\n", cmd, dir);
                return 1;
        }
        for (int i = 0; i < k; i++) {
                const char *e = entries[i]->d_name;
                struct stat st;
                _cleanup_free_ char *path = NULL;
                if ((endswith(e, ".yaml") || endswith(e, ".yml")) && (path = strjoin(dir, "/", e)) &&
                    stat(path, &st) >= 0 && S_ISREG(st.st_mode) && strv_extend(&files, path) < 0)
                        r = -ENOMEM;
                free(entries[i]);
        }
        free(entries);
        if (r < 0)
                return log_oom(), 1;
        if (store_transact(s, flows_dir_put_tx, files) >= 0)
                return 0;
        fprintf(stderr, "%s: cannot store the flows of '%s': %s\n", cmd, dir, store_error(s));
        return 1;
}

/* FILE inputs given as @PATH are streamed into internal storage and replaced by their URI. */
static int upload_file_inputs(const char *cmd, const Flow *f, const char *exec_id, const TernConfig *cfg,
                              json_t *inputs) {
        _cleanup_storage_ Storage *storage = NULL;
        const char *k;
        json_t *v;
        int r;
        json_object_foreach(inputs, k, v) {
                const char *s = json_string_value(v);
                const FlowInput *in = flow_find_input(f, k);
                if (!s || s[0] != '@' || !in || in->type != FLOW_INPUT_FILE)
                        continue;
                const char *path = s + 1;
                if (!storage && (r = cli_storage_open(cmd, cfg, &storage)) != 0)
                        return r;
                _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        fprintf(stderr, "%s: input '%s': cannot read '%s': %m\n", cmd, k, path);
                        return 1;
                }
                _cleanup_free_ char *uri = NULL;
                r = api_file_input_put(storage, f, exec_id, k, path, fd, &uri);
                if (r == -ENOMEM)
                        return log_oom(), 1;
                if (r < 0) {
                        fprintf(stderr, "%s: input '%s': cannot store '%s': %s\n", cmd, k, path,
                                r == -EINVAL ? "the input's id cannot name a file" : storage_error(storage));
                        return 1;
                }
                json_object_set_new(inputs, k, json_string(uri));
        }
        return 0;
}

/* With --remote on Kafka ([queue] type = kafka) the execution is announced on execution-events,
 * not in the database's queue, which no executor reads there. Returns as api_execution_submit(),
 * or 1 when it could not be sent (said). */
static int run_submit(const char *cmd, const TernConfig *cfg, Store *s, const Flow *f, const ApiExecutionNew *n,
                      usec_t now, char **ret_error) {
        if (!config_queue_is_kafka(cfg))
                return api_execution_submit(s, f, n, now, NULL, ret_error);
        _cleanup_execution_ Execution *e = NULL;
        int r = api_execution_build(f, n, now, &e, ret_error);
        return r < 0 ? r : cli_kafka_submit(cmd, cfg, s, e, CLI_KAFKA_TIMEOUT_USEC);
}

/* Kill it where it runs (the timeout, Ctrl-C). */
static void run_kill(const char *cmd, const TernConfig *cfg, Store *s, const char *id) {
        if (config_queue_is_kafka(cfg))
                (void) cli_kafka_event(cmd, cfg, id, ENGINE_EVENT_KILL, NULL, NULL, CLI_KAFKA_TIMEOUT_USEC);
        else if (api_execution_event(s, id, ENGINE_EVENT_KILL, NULL) < 0)
                fprintf(stderr, "%s: cannot kill: %s\n", cmd, store_error(s));
}

int verb_run(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "input", required_argument, NULL, 'i' },
                { "inputs-json", required_argument, NULL, 'J' },
                { "raw-inputs", no_argument, NULL, 'R' },
                { "label", required_argument, NULL, 'l' },
                { "flows", required_argument, NULL, 'F' },
                { "config", required_argument, NULL, 'c' },
                { "db", required_argument, NULL, 'd' },
                { "workers", required_argument, NULL, 'w' },
                { "output", required_argument, NULL, 'o' },
                { "include-logs", no_argument, NULL, 'L' },
                { "quiet", no_argument, NULL, 'q' },
                { "timeout", required_argument, NULL, 'T' },
                { "remote", no_argument, NULL, 'M' },
                { "storage", required_argument, NULL, 'S' },
                { "plugins-path", required_argument, NULL, 'P' },
                CLI_SANDBOX_OPTIONS,
                {},
        };
        const char *cmd = "tern run";
        /* The in-process components' own chatter stays out of the way of the progress display. */
        if (!getenv("TERN_LOG_LEVEL"))
                log_set_max_level(LOG_WARNING);
        _cleanup_json_ json_t *inputs = json_object(), *labels = json_object();
        RunArgs a = { .inputs = inputs, .labels = labels };
        _cleanup_(cli_config_done) CliConfig conf = {};
        _cleanup_(cli_sandbox_flags_done) CliSandboxFlags sandbox_flags = {};
        _cleanup_(sandbox_config_done) SandboxConfig sandbox;
        int c, r;

        sandbox_config_init(&sandbox, true);

        if (!inputs || !labels)
                return log_oom(), 1;
        while ((c = cli_getopt(cmd, argc, argv, "hi:l:c:w:o:q", options)) >= 0) {
                if ((r = cli_sandbox_record(cmd, c, optarg, &sandbox_flags)) == 0)
                        continue;
                if (r != 1)
                        return r;
                switch (c) {
                case 'h':
                        run_help();
                        return 0;
                case 'i':
                        if ((r = parse_kv(cmd, "input", optarg, inputs)) != 0)
                                return r;
                        break;
                case 'J':
                        a.inputs_json = optarg;
                        break;
                case 'R':
                        a.raw_inputs = true;
                        break;
                case 'l':
                        if ((r = parse_kv(cmd, "label", optarg, labels)) != 0)
                                return r;
                        break;
                case 'F':
                        a.flows_dir = optarg;
                        break;
                case 'c':
                        conf.path = optarg;
                        break;
                case 'd':
                        a.db = optarg;
                        break;
                case 'w': {
                        unsigned n;
                        if (safe_atou(optarg, &n) < 0 || n == 0 || n > 1024)
                                return cli_usage_error(cmd, "--workers '%s' must be a number from 1 to 1024", optarg);
                        if ((r = cli_config_add(&conf, "worker.slots", optarg)) != 0)
                                return r;
                        break;
                }
                case 'o':
                        if ((r = cli_parse_output(cmd, optarg, &a.output)) != 0)
                                return r;
                        break;
                case 'L':
                        a.include_logs = true;
                        break;
                case 'q':
                        a.quiet = true;
                        break;
                case 'M':
                        a.remote = true;
                        break;
                case 'S':
                        if ((r = cli_config_add(&conf, "storage.url", optarg)) != 0)
                                return r;
                        break;
                case 'P':
                        if ((r = cli_config_add(&conf, "plugins.path", optarg)) != 0)
                                return r;
                        break;
                case 'T': {
                        susec_t d;
                        if (duration_parse(optarg, &d) < 0 || d <= 0)
                                return cli_usage_error(cmd, "--timeout '%s' is not an ISO-8601 duration such as PT10M",
                                                       optarg);
                        a.timeout = (usec_t) d;
                        break;
                }
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind != argc - 1)
                return cli_usage_error(cmd, optind >= argc ? "a flow file is required" : "only one flow file can run");
        a.flow_path = argv[optind];
        if (a.inputs_json) {
                json_error_t jerr;
                _cleanup_json_ json_t *j = json_loads(a.inputs_json, 0, &jerr);
                if (!json_is_object(j))
                        return cli_usage_error(cmd, "--inputs-json is not a JSON object: %s", jerr.text);
                json_object_update(inputs, j);
        }
        /* tern.conf as the daemons read it, under the options above. */
        if ((r = cli_config_load(cmd, &conf)) != 0)
                return r;
        const char *unsupported = config_queue_unsupported(&conf.cfg, "tern run");
        if (!a.remote && unsupported) {
                /* --remote runs nothing here: it works on Kafka, with the executor and workers there. */
                fprintf(stderr, "%s: %s, or --remote with the executor and workers running on Kafka.\n", cmd,
                        unsupported);
                return 1;
        }
        flow_set_max_tasks(conf.cfg.flow_max_tasks);
        const char *state_dir = conf.cfg.state_dir;

        /* The flow first: nothing is stored for a flow that does not validate. */
        _cleanup_(flow_freep) Flow *flow = NULL;
        FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        r = flow_load_file(a.flow_path, &flow, &diags);
        if (r != 0) {
                if (r == FLOW_INVALID)
                        flow_diagnostics_print(&diags, stderr);
                else
                        fprintf(stderr, "%s: cannot read '%s': %s\n", cmd, a.flow_path, strerror(-r));
                flow_diagnostics_done(&diags);
                return 1;
        }
        flow_diagnostics_done(&diags);

        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open_config(cmd, a.db, &conf.cfg, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        if (a.flows_dir && (r = apply_flows_dir(cmd, s, a.flows_dir)) != 0)
                return r;

        _cleanup_(runtime_engine_config_done) EngineConfig cfg = {};
        if (cli_engine_config(cmd, &cfg) < 0)
                return 1;
        /* Checked before the execution exists: --sandbox required that cannot work creates nothing. */
        if (!a.remote && ((r = cli_sandbox_build(cmd, &conf.cfg, true, &sandbox_flags, &sandbox)) != 0 ||
                          (r = cli_sandbox_setup(cmd, &sandbox, state_dir)) != 0))
                return r;

        /* The storage too: one that cannot be used says why before anything is created. */
        if (!a.remote) {
                _cleanup_storage_ Storage *probe = NULL;
                if ((r = cli_storage_open(cmd, &conf.cfg, &probe)) != 0)
                        return r;
        }

        /* Store this flow (a new revision only when it changed) and create the execution. */
        usec_t now = now_realtime();
        FlowPut put = { .flow = flow, .now = now };
        if ((r = store_transact(s, flow_put_tx, &put)) < 0) {
                fprintf(stderr, "%s: cannot store flow '%s.%s': %s\n", cmd, flow->namespace, flow->id, store_error(s));
                return 1;
        }
        flow->revision = put.revision;

        /* The id first: FILE inputs are stored under it. */
        char id[ID_MAX];
        if ((r = id_new(id)) < 0) {
                fprintf(stderr, "%s: cannot draw an execution id: %s\n", cmd, strerror(-r));
                return 1;
        }
        if ((r = upload_file_inputs(cmd, flow, id, &conf.cfg, inputs)) != 0)
                return r;
        {
                _cleanup_free_ char *err = NULL;
                ApiExecutionNew n = { .id = id, .inputs = inputs, .labels = labels, .even_disabled = true,
                                      .inputs_mode = a.raw_inputs ? API_INPUTS_RAW : API_INPUTS_RESOLVE };
                r = run_submit(cmd, &conf.cfg, s, flow, &n, now, &err);
                if (r == 1)
                        return 1;
                if (r == -EINVAL || r == -E2BIG) {
                        fprintf(stderr, "%s: %s%s\n", cmd, r == -EINVAL ? "invalid inputs: " : "",
                                err ? err : "out of memory");
                        return 1;
                }
                if (r == -ENOMEM)
                        return log_oom(), 1;
                if (r < 0) {
                        fprintf(stderr, "%s: cannot create the execution: %s\n", cmd, store_error(s));
                        return 1;
                }
        }

        bool show = a.output == OUTPUT_TABLE && !a.quiet;
        if (show)
                printf("Execution %s of %s.%s (revision %d)\n", id, flow->namespace, flow->id, put.revision);

        _cleanup_(inproc_freep) Inproc *ip = NULL;
        InprocOptions io = { .cfg = &conf.cfg, .engine = &cfg, .sandbox = &sandbox.options };
        if (!a.remote && (r = inproc_start(s, &io, &ip)) < 0) {
                fprintf(stderr, "%s: cannot start the executor and workers: %s\n", cmd, strerror(-r));
                return 1;
        }
        struct sigaction sa = { .sa_handler = on_sigint }, old_int, old_term;
        sigaction(SIGINT, &sa, &old_int);
        sigaction(SIGTERM, &sa, &old_term);

        _cleanup_(cli_progress_done) CliProgress p = { .start = now, .tty = isatty(STDOUT_FILENO) };
        _cleanup_json_ json_t *final = NULL;
        usec_t deadline = a.timeout;
        for (;;) {
                r = cli_execution_wait(s, id, 0, deadline, show ? &p : NULL, &interrupted, &final);
                if (r == -EINTR || r == -ETIME) {
                        /* Kill once, then keep waiting for the kill to land. */
                        if (a.output == OUTPUT_TABLE)
                                fprintf(stderr, "%s: %s, killing execution %s\n", cmd,
                                        r == -EINTR ? "interrupted" : "timeout reached", id);
                        run_kill(cmd, &conf.cfg, s, id);
                        interrupted = 0;
                        deadline = 0;
                        continue;
                }
                if (r < 0)
                        fprintf(stderr, "%s: cannot read the execution: %s\n", cmd, store_error(s));
                break;
        }
        if (ip)
                inproc_stop(ip, 5 * USEC_PER_SEC);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (!final)
                return 1;

        State st = api_execution_state(final);
        api_execution_strip(final);
        if (a.output == OUTPUT_JSON) {
                if (a.include_logs)
                        json_object_set_new(final, "logs", api_execution_logs_json(s, id, STORE_LOG_TRACE));
                if (json_dumpf(final, stdout, JSON_INDENT(2)) < 0)
                        return 1;
                printf("\n");
        } else {
                char d[DURATION_MAX];
                printf("%s %s in %s, %zu task run%s\n", id, state_to_string(st),
                       duration_format_short(d, now_realtime() - now), json_array_size(json_object_get(final, "taskRunList")),
                       json_array_size(json_object_get(final, "taskRunList")) == 1 ? "" : "s");
                json_t *outs = json_object_get(final, "outputs");
                if (json_object_size(outs) > 0) {
                        _cleanup_free_ char *o = json_dumps(outs, JSON_INDENT(2));
                        printf("outputs: %s\n", strempty(o));
                }
        }
        return st == STATE_SUCCESS ? 0 : 1;
}

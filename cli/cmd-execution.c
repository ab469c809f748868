/* cmd-execution.c: "tern execution ...": start, list, show, logs, kill, resume, restart and wait for
 * executions in the database (a server or daemons run them). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "cli-execution.h"
#include "cli-kafka.h"
#include "cli-store.h"
#include "cli.h"
#include "engine.h"
#include "execution-create.h"
#include "flow-cache.h"
#include "json-limits.h"
#include "log.h"
#include "strutil.h"

static volatile int interrupted;
static void on_sigint(int sig) {
        interrupted = 1;
}

typedef struct ExecArgs {
        const char *db;
        OutputFormat output;
        json_t *inputs, *labels;
        bool wait;
        usec_t timeout;
        const char *ns, *flow, *state;
        size_t limit;
        const char *level;
        unsigned until_mask;
        const char *task_run;
        bool no_cascade;
} ExecArgs;

enum {
        OPT_DB = 1000, OPT_WAIT, OPT_TIMEOUT, OPT_NAMESPACE, OPT_FLOW, OPT_STATE, OPT_LIMIT, OPT_LEVEL, OPT_UNTIL,
        OPT_INPUTS_JSON, OPT_TASK_RUN, OPT_NO_CASCADE,
};

static int kv_into(const char *cmd, const char *arg, json_t **into) {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg)
                return cli_usage_error(cmd, "'%s' must be NAME=VALUE", arg);
        if (!*into && !(*into = json_object()))
                return log_oom(), 1;
        _cleanup_free_ char *k = strndup(arg, (size_t) (eq - arg));
        json_object_set_new(*into, k, json_string(eq + 1));
        return 0;
}

/* Options every execution command understands; returns -1 to go on, else an exit status. */
static int parse(const char *cmd, void (*help)(void), int argc, char *argv[], ExecArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "db", required_argument, NULL, OPT_DB },
                { "output", required_argument, NULL, 'o' },
                { "input", required_argument, NULL, 'i' },
                { "inputs-json", required_argument, NULL, OPT_INPUTS_JSON },
                { "label", required_argument, NULL, 'l' },
                { "wait", no_argument, NULL, OPT_WAIT },
                { "timeout", required_argument, NULL, OPT_TIMEOUT },
                { "namespace", required_argument, NULL, OPT_NAMESPACE },
                { "flow", required_argument, NULL, OPT_FLOW },
                { "state", required_argument, NULL, OPT_STATE },
                { "limit", required_argument, NULL, OPT_LIMIT },
                { "level", required_argument, NULL, OPT_LEVEL },
                { "until", required_argument, NULL, OPT_UNTIL },
                { "task-run", required_argument, NULL, OPT_TASK_RUN },
                { "no-cascade", no_argument, NULL, OPT_NO_CASCADE },
                {},
        };
        int c, r;
        while ((c = cli_getopt(cmd, argc, argv, "ho:i:l:", options)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case OPT_DB:
                        a->db = optarg;
                        break;
                case 'o':
                        if ((r = cli_parse_output(cmd, optarg, &a->output)) != 0)
                                return r;
                        break;
                case 'i':
                        if ((r = kv_into(cmd, optarg, &a->inputs)) != 0)
                                return r;
                        break;
                case OPT_INPUTS_JSON: {
                        json_error_t jerr;
                        _cleanup_json_ json_t *j = json_loads(optarg, 0, &jerr);
                        if (!json_is_object(j))
                                return cli_usage_error(cmd, "--inputs-json is not a JSON object: %s", jerr.text);
                        if (!a->inputs)
                                a->inputs = json_object();
                        json_object_update(a->inputs, j);
                        break;
                }
                case 'l':
                        if ((r = kv_into(cmd, optarg, &a->labels)) != 0)
                                return r;
                        break;
                case OPT_WAIT:
                        a->wait = true;
                        break;
                case OPT_TASK_RUN:
                        a->task_run = optarg;
                        break;
                case OPT_NO_CASCADE:
                        a->no_cascade = true;
                        break;
                case OPT_TIMEOUT: {
                        susec_t d;
                        if (duration_parse(optarg, &d) < 0 || d <= 0)
                                return cli_usage_error(cmd, "--timeout '%s' is not an ISO-8601 duration such as PT5M",
                                                       optarg);
                        a->timeout = (usec_t) d;
                        break;
                }
                case OPT_NAMESPACE:
                        a->ns = optarg;
                        break;
                case OPT_FLOW:
                        a->flow = optarg;
                        break;
                case OPT_STATE:
                        if (state_from_string(optarg) < 0)
                                return cli_usage_error(cmd, "--state '%s' is not a state (SUCCESS, FAILED, RUNNING...)",
                                                       optarg);
                        a->state = optarg;
                        break;
                case OPT_LIMIT:
                        if (safe_atou64(optarg, (uint64_t *) &a->limit) < 0 || a->limit == 0)
                                return cli_usage_error(cmd, "--limit '%s' must be a positive number", optarg);
                        break;
                case OPT_LEVEL:
                        if (store_log_level_from_string(optarg) < 0)
                                return cli_usage_error(cmd, "--level '%s' is not TRACE, DEBUG, INFO, WARN or ERROR",
                                                       optarg);
                        a->level = optarg;
                        break;
                case OPT_UNTIL: {
                        _cleanup_strv_free_ char **l = NULL;
                        if (strv_split(optarg, ",", &l) < 0)
                                return log_oom(), 1;
                        for (char **x = l; *x; x++) {
                                State st = state_from_string(*x);
                                if (st < 0)
                                        return cli_usage_error(cmd, "--until '%s' is not a state", *x);
                                a->until_mask |= 1u << st;
                        }
                        break;
                }
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        return -1;
}

static int need_args(const char *cmd, int argc, char *argv[], int n, const char *what) {
        if (argc - optind != n)
                return cli_usage_error(cmd, argc - optind < n ? "%s required" : "too many arguments (%s expected)",
                                       what);
        return -1;
}

static int print_doc(json_t *doc, OutputFormat output) {
        api_execution_strip(doc);
        if (output == OUTPUT_JSON) {
                json_dumpf(doc, stdout, JSON_INDENT(2));
                printf("\n");
        } else
                cli_execution_print(doc, isatty(STDOUT_FILENO));
        return 0;
}

/* Wait (when asked) for the execution, once its state history has more than n_histories entries,
 * and print it; the exit status follows its state. */
static int wait_and_print(const char *cmd, Store *s, const char *id, size_t n_histories, const ExecArgs *a) {
        _cleanup_json_ json_t *doc = NULL;
        struct sigaction sa = { .sa_handler = on_sigint }, old;
        sigaction(SIGINT, &sa, &old);
        int r = cli_execution_wait_after(s, id, n_histories, a->until_mask, a->timeout, &interrupted, &doc);
        sigaction(SIGINT, &old, NULL);
        if (r == -ETIME) {
                fprintf(stderr, "%s: %s is still running after the timeout\n", cmd, id);
                return 1;
        }
        if (r == -EINTR)
                return 130;
        if (r < 0) {
                fprintf(stderr, "%s: cannot read execution %s: %s\n", cmd, id, store_error(s));
                return 1;
        }
        State st = api_execution_state(doc);
        print_doc(doc, a->output);
        return st == STATE_SUCCESS || (a->until_mask & (1u << st)) ? 0 : 1;
}

/* The database the execution commands read: with the Kafka queue, the one its executors index
 * executions into ([database] url of tern.conf, under --db); else --db, $TERN_DB or the embedded
 * file, as always. */
static int exec_store_open(const char *cmd, const char *db, const TernConfig *kafka, Store **ret) {
        if (kafka)
                return cli_store_open_config(cmd, db, kafka, CLI_STORE_CHECK, ret);
        return cli_store_open(cmd, db, CLI_STORE_MIGRATE_EMBEDDED, ret);
}

/* For the commands that only read: the same database as the others. */
static int exec_store_open_read(const char *cmd, const char *db, Store **ret) {
        _cleanup_(config_done) TernConfig kafka = {};
        bool on_kafka = cli_queue_is_kafka(&kafka);
        return exec_store_open(cmd, db, on_kafka ? &kafka : NULL, ret);
}

/* On Kafka ([queue] type = kafka) a new execution is announced on execution-events, where the
 * executor owning its partition starts it. Returns as api_execution_submit(), or 1 when it could
 * not be sent (said). */
static int start_on_kafka(const char *cmd, const TernConfig *cfg, Store *s, const Flow *f, const ApiExecutionNew *n,
                          json_t **ret_doc, char **ret_error) {
        _cleanup_execution_ Execution *e = NULL;
        int r = api_execution_build(f, n, now_realtime(), &e, ret_error);
        if (r < 0)
                return r;
        if ((r = cli_kafka_submit(cmd, cfg, s, e, CLI_KAFKA_TIMEOUT_USEC)) != 0)
                return r;
        return (*ret_doc = execution_to_json(e)) ? 0 : -ENOMEM;
}

static void help_start(void) {
        printf("Usage: tern execution start NAMESPACE FLOW [OPTIONS]\n\n"
               "Create an execution of the latest revision of a stored flow. Prints its id, or with --wait\n"
               "waits for its end (a server or the daemons must be running) and shows it.\n\n"
               "  -i, --input NAME=VALUE   input value (repeatable)\n"
               "      --inputs-json JSON   inputs as one JSON object\n"
               "  -l, --label KEY=VALUE    label (repeatable)\n"
               "      --wait               wait for the end; exit 0 only for SUCCESS\n"
               "      --until STATES       with --wait: also stop at these states (e.g. PAUSED)\n"
               "      --timeout DURATION   with --wait: give up after this long\n"
               "  -o, --output FORMAT      table or json\n"
               "      --db URL             database (default: $TERN_DB, else the embedded file)\n\n"
               "With [queue] type = kafka in tern.conf, start, kill, resume and restart send their event to\n"
               "the executors on Kafka, and the database is tern.conf's [database] url.\n");
}

static int verb_start(int argc, char *argv[]) {
        const char *cmd = "tern execution start";
        ExecArgs a = {};
        _cleanup_json_ json_t *inputs = NULL, *labels = NULL;
        int r = parse(cmd, help_start, argc, argv, &a);
        inputs = a.inputs, labels = a.labels;
        if (r >= 0)
                return r;
        if ((r = need_args(cmd, argc, argv, 2, "NAMESPACE and FLOW")) >= 0)
                return r;
        const char *ns = argv[optind], *flow_id = argv[optind + 1];
        _cleanup_store_ Store *s = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_api_flow_ ApiFlow *f = NULL;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_(config_done) TernConfig kafka = {};
        bool on_kafka = cli_queue_is_kafka(&kafka);
        if ((r = exec_store_open(cmd, a.db, on_kafka ? &kafka : NULL, &s)) != 0)
                return r;

        if ((r = store_begin(s, &tx)) < 0)
                goto db_error;
        r = api_flow_load(NULL, tx, ns, flow_id, 0, &f);
        if (r == -ENOENT) {
                fprintf(stderr, "%s: no flow '%s' in namespace '%s' (see 'tern flow list')\n", cmd, flow_id, ns);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: flow '%s.%s' cannot be loaded: %s\n", cmd, ns, flow_id,
                        r == -EBADMSG ? "it is not valid" : strerror(-r));
                return 1;
        }
        /* The execution is stored by a transaction of its own, rerun when the connection is lost. */
        store_rollback(TAKE_PTR(tx));
        ApiExecutionNew n = { .inputs = inputs, .labels = labels };
        if (on_kafka) {
                if ((r = start_on_kafka(cmd, &kafka, s, f->flow, &n, &doc, &err)) == 1)
                        return 1;
        } else
                r = api_execution_submit(s, f->flow, &n, now_realtime(), &doc, &err);
        if (r == -EPERM) {
                fprintf(stderr, "%s: flow '%s' in namespace '%s' is disabled: a disabled flow cannot be executed\n", cmd,
                        flow_id, ns);
                return 1;
        }
        if (r == -EINVAL || r == -E2BIG) {
                fprintf(stderr, "%s: %s%s\n", cmd, r == -EINVAL ? "invalid inputs: " : "",
                        err ? err : "out of memory");
                return 1;
        }
        if (r < 0)
                goto db_error;
        const char *id = json_string_value(json_object_get(doc, "id"));
        if (!a.wait) {
                printf("%s\n", id);
                return 0;
        }
        return wait_and_print(cmd, s, id, 0, &a);
db_error:
        fprintf(stderr, "%s: %s\n", cmd, store_error(s));
        return 1;
}

static void help_list(void) {
        printf("Usage: tern execution list [--namespace NS] [--flow ID] [--state STATE] [--limit N] [-o json]\n\n"
               "List executions, newest first (default limit 50).\n");
}

static int verb_list(int argc, char *argv[]) {
        const char *cmd = "tern execution list";
        ExecArgs a = { .limit = 50 };
        int r = parse(cmd, help_list, argc, argv, &a);
        json_decref(a.inputs);
        json_decref(a.labels);
        if (r >= 0)
                return r;
        if ((r = need_args(cmd, argc, argv, 0, "no argument")) >= 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        if ((r = exec_store_open_read(cmd, a.db, &s)) != 0)
                return r;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_json_ json_t *list = NULL;
        StoreExecutionFilter f = { .namespace_prefix = a.ns, .flow_id = a.flow, .state = a.state, .limit = a.limit };
        size_t skipped = 0;
        if ((r = store_begin(s, &tx)) < 0 || (r = store_execution_search_skipping(tx, &f, &list, &skipped)) < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        store_rollback(TAKE_PTR(tx));
        if (skipped > 0)
                fprintf(stderr, "%s: warning: %zu execution(s) left out: their documents cannot be read\n", cmd, skipped);
        size_t i;
        json_t *d;
        json_array_foreach(list, i, d)
                api_execution_strip(d);
        if (a.output == OUTPUT_JSON) {
                _cleanup_json_ json_t *page = json_pack("{s:O, s:I}", "results", list, "total",
                                                        (json_int_t) json_array_size(list));
                json_dumpf(page, stdout, JSON_INDENT(2));
                printf("\n");
                return 0;
        }
        printf("%-22s  %-40s %-9s %-24s %s\n", "ID", "FLOW", "STATE", "STARTED", "DURATION");
        json_array_foreach(list, i, d) {
                char flow[256], dur[DURATION_MAX] = "";
                snprintf(flow, sizeof flow, "%s.%s", strna(json_string_value(json_object_get(d, "namespace"))),
                         strna(json_string_value(json_object_get(d, "flowId"))));
                StateInfo si;
                if (state_info_from_json(json_object_get(d, "state"), &si) == 0) {
                        usec_t end = state_info_end_date(&si);
                        if (end != USEC_INFINITY)
                                duration_format_short(dur, end - state_info_start_date(&si));
                        state_info_done(&si);
                }
                printf("%-22s  %-40s %-9s %-24s %s\n", strna(json_string_value(json_object_get(d, "id"))), flow,
                       strna(json_string_value(json_object_get(json_object_get(d, "state"), "current"))),
                       strempty(json_string_value(json_object_get(json_object_get(d, "state"), "startDate"))), dur);
        }
        return 0;
}

static void help_show(void) {
        printf("Usage: tern execution show ID [-o json] [--db URL]\n\nShow an execution, its task runs and what they\n"
               "measured (metrics: counters, timers in milliseconds, gauges; \"metrics\" in JSON).\n");
}

static int verb_show(int argc, char *argv[]) {
        const char *cmd = "tern execution show";
        ExecArgs a = {};
        int r = parse(cmd, help_show, argc, argv, &a);
        json_decref(a.inputs);
        json_decref(a.labels);
        if (r >= 0)
                return r;
        if ((r = need_args(cmd, argc, argv, 1, "an execution ID")) >= 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        if ((r = exec_store_open_read(cmd, a.db, &s)) != 0)
                return r;
        _cleanup_json_ json_t *doc = NULL;
        r = api_execution_get(s, argv[optind], &doc);
        if (r == -ENOENT) {
                fprintf(stderr, "%s: no execution '%s'\n", cmd, argv[optind]);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        /* What its tasks measured, as GET /api/v1/metrics/{id} has them. */
        _cleanup_json_ json_t *metrics = NULL;
        StoreMetricFilter f = { .execution_id = argv[optind], .limit = 10000 };
        if ((r = api_metrics_search_json(s, &f, &metrics)) < 0) {
                fprintf(stderr, "%s: cannot read the metrics of %s: %s\n", cmd, argv[optind], store_error(s));
                return 1;
        }
        json_t *entries = json_object_get(metrics, "results");
        if (a.output == OUTPUT_JSON) {
                json_object_set(doc, "metrics", entries);
                return print_doc(doc, a.output);
        }
        r = print_doc(doc, a.output);
        cli_execution_print_metrics(entries);
        return r;
}

static void help_logs(void) {
        printf("Usage: tern execution logs ID [--level LEVEL] [-o json] [--db URL]\n\n"
               "Print an execution's logs, oldest first; --level keeps that level and above.\n");
}

static int verb_logs(int argc, char *argv[]) {
        const char *cmd = "tern execution logs";
        ExecArgs a = {};
        int r = parse(cmd, help_logs, argc, argv, &a);
        json_decref(a.inputs);
        json_decref(a.labels);
        if (r >= 0)
                return r;
        if ((r = need_args(cmd, argc, argv, 1, "an execution ID")) >= 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        if ((r = exec_store_open_read(cmd, a.db, &s)) != 0)
                return r;
        _cleanup_json_ json_t *logs = api_execution_logs_json(s, argv[optind], STORE_LOG_TRACE);
        int min = a.level ? store_log_level_from_string(a.level) : 0;
        size_t i;
        json_t *l;
        _cleanup_json_ json_t *kept = json_array();
        json_array_foreach(logs, i, l)
                if (store_log_level_from_string(json_string_value(json_object_get(l, "level"))) >= min)
                        json_array_append(kept, l);
        if (a.output == OUTPUT_JSON) {
                json_dumpf(kept, stdout, JSON_INDENT(2));
                printf("\n");
                return 0;
        }
        json_array_foreach(kept, i, l)
                printf("%s %-5s %-20s %s\n", json_string_value(json_object_get(l, "timestamp")),
                       json_string_value(json_object_get(l, "level")),
                       strempty(json_string_value(json_object_get(l, "taskId"))),
                       json_string_value(json_object_get(l, "message")));
        return 0;
}

static int signal_verb(const char *cmd, void (*help)(void), const char *type, int argc, char *argv[],
                       State required, const char *not_that) {
        ExecArgs a = {};
        _cleanup_json_ json_t *inputs = NULL;
        int r = parse(cmd, help, argc, argv, &a);
        inputs = a.inputs;
        json_decref(a.labels);
        if (r >= 0)
                return r;
        if ((r = need_args(cmd, argc, argv, 1, "an execution ID")) >= 0)
                return r;
        bool kill = streq(type, ENGINE_EVENT_KILL);
        if (a.no_cascade && !kill)
                return cli_usage_error(cmd, "--no-cascade is an option of 'tern execution kill' only");
        const char *id = argv[optind];
        _cleanup_store_ Store *s = NULL;
        _cleanup_(config_done) TernConfig kafka = {};
        bool on_kafka = cli_queue_is_kafka(&kafka);
        if ((r = exec_store_open(cmd, a.db, on_kafka ? &kafka : NULL, &s)) != 0)
                return r;
        _cleanup_json_ json_t *doc = NULL;
        r = api_execution_get(s, id, &doc);
        if (r == -ENOENT) {
                fprintf(stderr, "%s: no execution '%s'\n", cmd, id);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        State st = api_execution_state(doc);
        bool ok = required == _STATE_INVALID ? !state_is_terminal(st)
                  : required == STATE_FAILED ? state_is_failed(st) || st == STATE_WARNING
                                             : st == required;
        if (!ok) {
                fprintf(stderr, "%s: execution %s is %s; %s\n", cmd, id, state_to_string(st), not_that);
                return 1;
        }
        _cleanup_json_ json_t *payload = json_pack("{s:o}", "inputs", inputs ? json_incref(inputs) : json_object());
        if (kill && (!payload || json_object_set_new(payload, "cascade", json_boolean(!a.no_cascade)) < 0))
                return log_oom(), 1;
        /* Bounded on both queues alike (api_execution_event() checks the database's path again). */
        _cleanup_free_ char *too_big = NULL;
        if (json_value_check(inputs, "the inputs object", &too_big) < 0) {
                fprintf(stderr, "%s: %s\n", cmd, too_big ?: "the inputs are nested too deep or too large");
                return 1;
        }
        if (on_kafka) {
                /* The executor holding it applies it after its earlier events (same key, same
                 * partition). A restarted execution has ended: no executor holds it any more, and
                 * the one owning its partition takes it from the document the database shows. */
                bool restart = streq(type, ENGINE_EVENT_RESTART);
                if ((r = cli_kafka_event(cmd, &kafka, id, type, payload, restart ? doc : NULL, CLI_KAFKA_TIMEOUT_USEC)) != 0)
                        return r;
        } else if ((r = api_execution_event(s, id, type, payload)) < 0) {
                fprintf(stderr, "%s: %s\n", cmd,
                        r == -E2BIG ? "the inputs are nested too deep or too large" : store_error(s));
                return 1;
        }
        if (!a.wait)
                return 0;
        /* Wait for the effect of this very request, not the state the execution was already in. */
        return wait_and_print(cmd, s, id, json_array_size(json_object_get(json_object_get(doc, "state"), "histories")), &a);
}

static void help_kill(void) {
        printf("Usage: tern execution kill ID [--no-cascade] [--wait] [--db URL]\n\n"
               "Kill a running or paused execution: running tasks are stopped, nothing new starts.\n"
               "The subflow executions it started are killed too, unless --no-cascade is given.\n");
}
static int verb_kill(int argc, char *argv[]) {
        return signal_verb("tern execution kill", help_kill, ENGINE_EVENT_KILL, argc, argv, _STATE_INVALID,
                           "only unfinished executions can be killed");
}

static void help_resume(void) {
        printf("Usage: tern execution resume ID [-i NAME=VALUE ...] [--wait] [--db URL]\n\n"
               "Resume a paused execution, with the Pause task's onResume inputs if it declares any.\n");
}
static int verb_resume(int argc, char *argv[]) {
        return signal_verb("tern execution resume", help_resume, ENGINE_EVENT_RESUME, argc, argv, STATE_PAUSED,
                           "only PAUSED executions can be resumed");
}

static void help_restart(void) {
        printf("Usage: tern execution restart ID [--wait] [--db URL]\n\n"
               "Restart a failed execution from its failed tasks.\n");
}
static int verb_restart(int argc, char *argv[]) {
        return signal_verb("tern execution restart", help_restart, ENGINE_EVENT_RESTART, argc, argv, STATE_FAILED,
                           "only FAILED, KILLED or WARNING executions can be restarted");
}

static void help_replay(void) {
        printf("Usage: tern execution replay ID [--task-run TASK_RUN_ID] [--wait] [--db URL]\n\n"
               "Run an ended execution again as a new one (same flow revision and inputs) and print its ID.\n"
               "With --task-run, the task runs before that one are kept and the flow runs again from it.\n");
}
static int verb_replay(int argc, char *argv[]) {
        const char *cmd = "tern execution replay";
        ExecArgs a = {};
        int r = parse(cmd, help_replay, argc, argv, &a);
        json_decref(a.inputs);
        json_decref(a.labels);
        if (r >= 0)
                return r;
        if ((r = need_args(cmd, argc, argv, 1, "an execution ID")) >= 0)
                return r;
        const char *id = argv[optind];
        _cleanup_store_ Store *s = NULL;
        _cleanup_(config_done) TernConfig kafka = {};
        if (cli_queue_is_kafka(&kafka)) {
                /* The replay would be created in the database's queue, which no executor reads there. */
                fprintf(stderr, "%s: [queue] type = kafka: replays are not sent to Kafka yet (docs/KAFKA.md)\n", cmd);
                return 1;
        }
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        _cleanup_json_ json_t *doc = NULL;
        r = api_execution_replay(s, id, a.task_run, &doc);
        if (r == -ENOENT || r == -ESRCH || r == -EBUSY) {
                fprintf(stderr, "%s: %s\n", cmd,
                        r == -ENOENT ? "no such execution"
                        : r == -ESRCH ? "the execution has no such task run (see 'tern execution show ID')"
                                      : "the execution has not ended; only ended executions can be replayed");
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, r == -ENOMEM ? strerror(-r) : store_error(s));
                return 1;
        }
        const char *new_id = json_string_value(json_object_get(doc, "id"));
        if (!a.wait) {
                printf("%s\n", new_id);
                return 0;
        }
        return wait_and_print(cmd, s, new_id, 0, &a);
}

static void help_wait(void) {
        printf("Usage: tern execution wait ID [--until STATES] [--timeout DURATION] [-o json] [--db URL]\n\n"
               "Wait until the execution ends (or reaches one of STATES, e.g. PAUSED,RUNNING) and show it.\n"
               "Exit 0 for SUCCESS or a state named in --until.\n");
}
static int verb_wait(int argc, char *argv[]) {
        const char *cmd = "tern execution wait";
        ExecArgs a = {};
        int r = parse(cmd, help_wait, argc, argv, &a);
        json_decref(a.inputs);
        json_decref(a.labels);
        if (r >= 0)
                return r;
        if ((r = need_args(cmd, argc, argv, 1, "an execution ID")) >= 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        if ((r = exec_store_open_read(cmd, a.db, &s)) != 0)
                return r;
        return wait_and_print(cmd, s, argv[optind], 0, &a);
}

const Verb execution_verbs[] = {
        { "start", "NAMESPACE FLOW", "create an execution of a stored flow", verb_start, NULL },
        { "list", "", "list executions, newest first", verb_list, NULL },
        { "show", "ID", "show an execution, its task runs and their metrics", verb_show, NULL },
        { "logs", "ID", "print an execution's logs", verb_logs, NULL },
        { "kill", "ID", "kill a running execution", verb_kill, NULL },
        { "resume", "ID", "resume a paused execution", verb_resume, NULL },
        { "restart", "ID", "restart a failed execution", verb_restart, NULL },
        { "replay", "ID [--task-run ID]", "run an ended execution again, from a task run", verb_replay, NULL },
        { "wait", "ID", "wait for an execution to end", verb_wait, NULL },
        { "files", "ID [--get URI]", "list an execution's files in internal storage, or write one out", verb_execution_files,
          NULL },
        { "purge", "--older-than DURATION", "delete ended executions older than that, with their files and logs",
          verb_execution_purge, NULL },
        {},
};

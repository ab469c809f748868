/* cmd-trigger.c: "tern trigger list|enable|disable|unlock" and "tern backfill create|pause|resume|delete". */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "cli-store.h"
#include "cli.h"
#include "strutil.h"
#include "triggers.h"

typedef struct TriggerArgs {
        const char *db, *ns;
        OutputFormat output;
        usec_t start, end;
        json_t *inputs, *labels;
        /* positional: NAMESPACE FLOW TRIGGER */
        const char *t_ns, *t_flow, *t_id;
} TriggerArgs;

static int parse_kv(const char *cmd, const char *opt, const char *arg, json_t *obj) {
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg)
                return cli_usage_error(cmd, "%s '%s' must be KEY=VALUE", opt, arg);
        _cleanup_free_ char *k = strndup(arg, (size_t) (eq - arg));
        if (!k || json_object_set_new(obj, k, json_string(eq + 1)) < 0)
                return 1;
        return 0;
}

static int parse(const char *cmd, const char *usage, int argc, char *argv[], int positional, TriggerArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },         { "db", required_argument, NULL, 'd' },
                { "namespace", required_argument, NULL, 'n' }, { "output", required_argument, NULL, 'o' },
                { "start", required_argument, NULL, 'S' },  { "end", required_argument, NULL, 'E' },
                { "input", required_argument, NULL, 'i' },  { "label", required_argument, NULL, 'l' },
                {},
        };
        int c, r;
        while ((c = cli_getopt(cmd, argc, argv, "hn:o:", options)) >= 0) {
                switch (c) {
                case 'h':
                        printf("%s", usage);
                        return 0;
                case 'd':
                        a->db = optarg;
                        break;
                case 'n':
                        a->ns = optarg;
                        break;
                case 'o':
                        if ((r = cli_parse_output(cmd, optarg, &a->output)) != 0)
                                return r;
                        break;
                case 'S':
                case 'E':
                        if (timestamp_parse(optarg, 0, c == 'S' ? &a->start : &a->end) < 0)
                                return cli_usage_error(cmd, "'%s' is not a date-time (2024-01-31T00:00:00Z)", optarg);
                        break;
                case 'i':
                        if ((r = parse_kv(cmd, "--input", optarg, a->inputs)) != 0)
                                return r;
                        break;
                case 'l':
                        if ((r = parse_kv(cmd, "--label", optarg, a->labels)) != 0)
                                return r;
                        break;
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (argc - optind != positional)
                return cli_usage_error(cmd, positional ? "expected NAMESPACE FLOW TRIGGER" : "unexpected argument '%s'",
                                       optind < argc ? argv[optind] : "");
        if (positional) {
                a->t_ns = argv[optind];
                a->t_flow = argv[optind + 1];
                a->t_id = argv[optind + 2];
        }
        return -1;
}

static int list_tx(StoreTx *tx, void *userdata) {
        void **p = userdata;
        TriggerArgs *a = p[0];
        return store_trigger_list(tx, a->ns, NULL, NULL, (StoreTrigger **) p[1], (size_t *) p[2]);
}

static const char usage_list[] =
        "Usage: tern trigger list [--namespace NS] [--output table|json] [--db URL]\n\n"
        "Triggers known to the scheduler, with their next date, last execution and state:\n"
        "enabled, disabled (in the flow or by hand), stopped (by stopAfter: an execution it started\n"
        "ended in a listed state; 'tern trigger enable' restarts it) or backfill (one is running).\n"
        "KIND is schedule, flow (Flow trigger on ended executions), flow_states (a Flow trigger that\n"
        "also lists states on the way, such as RUNNING or PAUSED), webhook or other.\n";

static int verb_list(int argc, char *argv[]) {
        const char *cmd = "tern trigger list";
        _cleanup_json_ json_t *in = json_object(), *lb = json_object();
        TriggerArgs a = { .inputs = in, .labels = lb };
        _cleanup_store_ Store *s = NULL;
        StoreTrigger *t = NULL;
        size_t n = 0;
        int r;

        if ((r = parse(cmd, usage_list, argc, argv, 0, &a)) >= 0)
                return r;
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        void *p[] = { &a, &t, &n };
        if ((r = store_transact(s, list_tx, p)) < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        _cleanup_json_ json_t *out = json_array();
        if (a.output == OUTPUT_TABLE)
                printf("%-24s %-28s %-16s %-11s %-8s %-24s %s\n", "NAMESPACE", "FLOW", "TRIGGER", "KIND", "STATE",
                       "NEXT", "LAST EXECUTION");
        for (size_t i = 0; i < n; i++) {
                char next[TIMESTAMP_MAX] = "-";
                json_t *b = json_object_get(t[i].state, "backfill");
                json_t *stopped = json_object_get(t[i].state, "stoppedAfter");
                if (t[i].next_date)
                        timestamp_format(next, t[i].next_date);
                const char *st = t[i].disabled ? (stopped ? "stopped" : "disabled") : b ? "backfill" : "enabled";
                if (a.output == OUTPUT_TABLE)
                        printf("%-24s %-28s %-16s %-11s %-8s %-24s %s\n", t[i].namespace, t[i].flow_id, t[i].trigger_id,
                               strempty(t[i].kind), st, next, strna(t[i].last_execution_id));
                else
                        json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:s?, s:b, s:s?, s:s?, s:O?, s:o?}",
                                                             "namespace", t[i].namespace, "flowId", t[i].flow_id,
                                                             "triggerId", t[i].trigger_id, "kind", t[i].kind,
                                                             "disabled", t[i].disabled, "nextExecutionDate",
                                                             t[i].next_date ? next : NULL, "executionId",
                                                             t[i].last_execution_id, "backfill", b, "stoppedAfter",
                                                             stopped ? json_pack("{s:O, s:O}", "executionId",
                                                                                 json_object_get(stopped, "executionId"),
                                                                                 "state", json_object_get(stopped, "state"))
                                                                     : NULL));
        }
        if (a.output == OUTPUT_JSON) {
                char *text = json_dumps(out, JSON_INDENT(2));
                printf("%s\n", strempty(text));
                free(text);
        }
        store_triggers_free(t, n);
        return 0;
}

typedef enum TriggerOp { OP_ENABLE, OP_DISABLE, OP_UNLOCK, OP_BF_CREATE, OP_BF_PAUSE, OP_BF_RESUME, OP_BF_DELETE } TriggerOp;

typedef struct OpCtx {
        TriggerArgs *a;
        TriggerOp op;
} OpCtx;

static int op_tx(StoreTx *tx, void *userdata) {
        OpCtx *c = userdata;
        TriggerArgs *a = c->a;
        usec_t now = now_realtime();
        switch (c->op) {
        case OP_ENABLE:
        case OP_DISABLE:
                return api_trigger_set_enabled(tx, a->t_ns, a->t_flow, a->t_id, c->op == OP_ENABLE, now);
        case OP_UNLOCK:
                return api_trigger_unlock(tx, a->t_ns, a->t_flow, a->t_id, now);
        case OP_BF_CREATE:
                return api_backfill_create(tx, a->t_ns, a->t_flow, a->t_id, a->start, a->end ?: now, a->inputs,
                                           a->labels, now);
        case OP_BF_PAUSE:
        case OP_BF_RESUME:
                return api_backfill_pause(tx, a->t_ns, a->t_flow, a->t_id, c->op == OP_BF_PAUSE, now);
        case OP_BF_DELETE:
                return api_backfill_delete(tx, a->t_ns, a->t_flow, a->t_id, now);
        }
        return -EINVAL;
}

static const char usage_op[] =
        "Usage: tern trigger enable|disable|unlock NAMESPACE FLOW TRIGGER [--db URL]\n"
        "       tern backfill create NAMESPACE FLOW TRIGGER --start DATE [--end DATE]\n"
        "                            [--input KEY=VALUE]... [--label KEY=VALUE]... [--db URL]\n"
        "       tern backfill pause|resume|delete NAMESPACE FLOW TRIGGER [--db URL]\n\n"
        "disable/enable: stop or restart a trigger by hand (kept across flow revisions); enable also\n"
        "  restarts a trigger that its stopAfter stopped. A Schedule enabled again runs the slots it\n"
        "  missed meanwhile as its recoverMissedSchedules says (ALL by default).\n"
        "unlock: clear a stuck evaluation and compute the next date from now.\n"
        "backfill create: run a Schedule's past slots in [start, end) (end: now), at a bounded rate,\n"
        "  each slot at most once; the live schedule goes on meanwhile.\n";

static int run_op(const char *cmd, TriggerOp op, int argc, char *argv[]) {
        _cleanup_json_ json_t *in = json_object(), *lb = json_object();
        TriggerArgs a = { .inputs = in, .labels = lb };
        _cleanup_store_ Store *s = NULL;
        int r;

        if (!in || !lb)
                return 1;
        if ((r = parse(cmd, usage_op, argc, argv, 3, &a)) >= 0)
                return r;
        if (op == OP_BF_CREATE && !a.start)
                return cli_usage_error(cmd, "--start is required");
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        OpCtx c = { &a, op };
        r = store_transact(s, op_tx, &c);
        if (r == -ENOENT) {
                fprintf(stderr, "%s: %s trigger '%s' of '%s.%s'\n", cmd, op >= OP_BF_PAUSE ? "no backfill for" : "no",
                        a.t_id, a.t_ns, a.t_flow);
                return 1;
        }
        if (r == -EBUSY) {
                fprintf(stderr, "%s: trigger '%s' already has a backfill (delete it first)\n", cmd, a.t_id);
                return 1;
        }
        if (r == -EINVAL || r == -ERANGE) {
                fprintf(stderr, "%s: %s\n", cmd,
                        r == -ERANGE ? "no slot of the schedule falls in [start, end)"
                                     : "only Schedule triggers take backfills, and start must be before end");
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        return 0;
}

static int verb_enable(int argc, char *argv[]) {
        return run_op("tern trigger enable", OP_ENABLE, argc, argv);
}
static int verb_disable(int argc, char *argv[]) {
        return run_op("tern trigger disable", OP_DISABLE, argc, argv);
}
static int verb_unlock(int argc, char *argv[]) {
        return run_op("tern trigger unlock", OP_UNLOCK, argc, argv);
}
static int verb_bf_create(int argc, char *argv[]) {
        return run_op("tern backfill create", OP_BF_CREATE, argc, argv);
}
static int verb_bf_pause(int argc, char *argv[]) {
        return run_op("tern backfill pause", OP_BF_PAUSE, argc, argv);
}
static int verb_bf_resume(int argc, char *argv[]) {
        return run_op("tern backfill resume", OP_BF_RESUME, argc, argv);
}
static int verb_bf_delete(int argc, char *argv[]) {
        return run_op("tern backfill delete", OP_BF_DELETE, argc, argv);
}

const Verb trigger_verbs[] = {
        { "list", "[--namespace NS] [--output json]", "triggers with their next date and state", verb_list, NULL },
        { "enable", "NAMESPACE FLOW TRIGGER", "enable a trigger disabled by hand or by stopAfter", verb_enable, NULL },
        { "disable", "NAMESPACE FLOW TRIGGER", "disable a trigger (kept across revisions)", verb_disable, NULL },
        { "unlock", "NAMESPACE FLOW TRIGGER", "clear a stuck trigger, next date from now", verb_unlock, NULL },
        {},
};

const Verb backfill_verbs[] = {
        { "create", "NAMESPACE FLOW TRIGGER --start DATE [--end DATE]", "run a schedule's past slots", verb_bf_create,
          NULL },
        { "pause", "NAMESPACE FLOW TRIGGER", "pause a running backfill", verb_bf_pause, NULL },
        { "resume", "NAMESPACE FLOW TRIGGER", "resume a paused backfill", verb_bf_resume, NULL },
        { "delete", "NAMESPACE FLOW TRIGGER", "stop and forget a backfill", verb_bf_delete, NULL },
        {},
};

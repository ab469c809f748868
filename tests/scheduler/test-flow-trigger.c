/* test-flow-trigger.c: Flow triggers from the Kestra corpus (trigger-flow*, trigger-multiplecondition*, states on the way, preconditions, stopAfter) with executor, worker and scheduler in process. */
#include <sys/stat.h>

#include "cleanup-jansson.h"
#include "execution-create.h"
#include "executor.h"
#include "id.h"
#include "scheduler.h"
#include "store-test.h"
#include "triggers.h"
#include "worker.h"

static StoreTestEnv env;
static Store *store;
static Executor *executor;
static Scheduler *scheduler;
static const char *corpus;

static char *read_corpus(const char *name) {
        char path[1024];
        snprintf(path, sizeof path, "%s/flows/%s", corpus, name);
        FILE *f = fopen(path, "re");
        if (!f)
                return NULL;
        char *buf = calloc(1, 1 << 16);
        if (buf)
                (void) !fread(buf, 1, (1 << 16) - 1, f);
        fclose(f);
        return buf;
}

#define NS "io.kestra.tests.trigger"

typedef struct PutArgs {
        const char *ns, *id, *source;
} PutArgs;

static int put_tx(StoreTx *tx, void *userdata) {
        PutArgs *a = userdata;
        return store_flow_put(tx, a->ns, a->id, a->source, now_realtime(), NULL);
}

static void deploy_source(const char *ns, const char *id, const char *src) {
        PutArgs a = { ns, id, src };
        if (!src || store_transact(store, put_tx, &a) < 0)
                printf("# cannot deploy %s: %s\n", id, store_error(store));
}

static void deploy(const char *file, const char *id, const char *rename_from) {
        _cleanup_free_ char *src = read_corpus(file);
        if (!src) {
                printf("Bail out! cannot read %s\n", file);
                exit(EXIT_FAILURE);
        }
        if (rename_from) {
                /* A copy of a corpus flow under another id (the corpus lacks flow-b). */
                char *p = strstr(src, rename_from);
                _cleanup_free_ char *n = p ? strdup_printf("%.*s%s%s", (int) (p - src), src, id, p + strlen(rename_from))
                                           : NULL;
                free(src);
                src = TAKE_PTR(n);
        }
        deploy_source(strstr(file, "with-pause")      ? NS ".pause"
                      : strstr(file, "preconditions") ? NS ".preconditions"
                                                      : NS,
                      id, src);
}

typedef struct StartArgs {
        const char *ns, *flow_id;
        char id[ID_MAX];
} StartArgs;

/* A rerun after an in-doubt commit finds the execution there (its id is drawn once). */
static int start_tx(StoreTx *tx, void *userdata) {
        StartArgs *a = userdata;
        _cleanup_api_flow_ ApiFlow *f = NULL;
        int r = api_flow_load(NULL, tx, a->ns, a->flow_id, 0, &f);
        if (r < 0)
                return r;
        if (!a->id[0] && (r = id_new(a->id)) < 0)
                return r;
        ApiExecutionNew n = { .id = a->id };
        r = api_execution_create(tx, f->flow, &n, now_realtime(), NULL, NULL);
        return r == -EEXIST ? 0 : r;
}

static void start_in(const char *ns, const char *flow_id, char id[static ID_MAX]) {
        StartArgs a = { ns, flow_id, "" };
        if (store_transact(store, start_tx, &a) < 0)
                printf("# cannot start %s: %s\n", flow_id, store_error(store));
        memcpy(id, a.id, ID_MAX);
}

static void start(const char *flow_id, char id[static ID_MAX]) {
        start_in(NS, flow_id, id);
}

typedef struct SearchArgs {
        const char *flow_id;
        json_t *found;
} SearchArgs;

static int search_tx(StoreTx *tx, void *userdata) {
        SearchArgs *a = userdata;
        StoreExecutionFilter f = { .flow_id = a->flow_id, .limit = 1000 };
        json_decref(a->found);
        a->found = NULL;
        return store_execution_search(tx, &f, &a->found);
}

static json_t *executions(const char *flow_id) {
        SearchArgs a = { flow_id, NULL };
        if (store_transact(store, search_tx, &a) < 0)
                return json_array();
        return a.found;
}

static size_t count_of(const char *flow_id) {
        _cleanup_json_ json_t *l = executions(flow_id);
        return json_array_size(l);
}

static size_t ended(const char *flow_id) {
        _cleanup_json_ json_t *l = executions(flow_id);
        size_t n = 0, i;
        json_t *e;
        json_array_foreach(l, i, e)
                if (state_is_terminal(state_from_string(
                            json_string_value(json_object_get(json_object_get(e, "state"), "current")))))
                        n++;
        return n;
}

/* Drive the executor and scheduler (the worker has its own threads) until want() holds. */
static bool run_until(bool (*want)(void *), void *userdata, usec_t timeout) {
        usec_t deadline = now_monotonic() + timeout;
        while (now_monotonic() < deadline) {
                int a = executor_step(executor), b = scheduler_step(scheduler);
                if (want(userdata))
                        return true;
                if (a <= 0 && b <= 0)
                        (void) executor_wait(executor, -1);
        }
        return want(userdata);
}

typedef struct Want {
        const char *flow_id;
        size_t n;
} Want;

static bool want_ended(void *userdata) {
        Want *w = userdata;
        for (; w->flow_id; w++)
                if (ended(w->flow_id) < w->n)
                        return false;
        return true;
}

static json_t *trigger_vars(json_t *e) {
        return json_object_get(json_object_get(e, "trigger"), "variables");
}

static json_t *task_output(json_t *e, const char *task, const char *key) {
        size_t i;
        json_t *tr;
        json_array_foreach(json_object_get(e, "taskRunList"), i, tr)
                if (streq_ptr(json_string_value(json_object_get(tr, "taskId")), task))
                        return json_object_get(json_object_get(tr, "outputs"), key);
        return NULL;
}

static void test_flow_triggers(void) {
        char src_id[ID_MAX];
        deploy("trigger-flow.yaml", "trigger-flow", NULL);
        deploy("trigger-flow-listener.yaml", "trigger-flow-listener", NULL);
        deploy("trigger-flow-listener-no-inputs.yaml", "trigger-flow-listener-no-inputs", NULL);
        deploy("trigger-flow-listener-namespace-condition.yaml", "trigger-flow-listener-namespace-condition", NULL);
        deploy("trigger-flow-listener-invalid.yaml", "trigger-flow-listener-invalid", NULL);
        scheduler_step(scheduler); /* register the triggers */

        start("trigger-flow", src_id);
        Want w[] = { { "trigger-flow", 1 }, { "trigger-flow-listener", 1 }, { "trigger-flow-listener-no-inputs", 1 },
                     { "trigger-flow-listener-namespace-condition", 1 }, {} };
        ok(run_until(want_ended, w, 30 * USEC_PER_SEC), "the three listeners ran after trigger-flow ended");

        _cleanup_json_ json_t *l = executions("trigger-flow-listener");
        json_t *e = json_array_get(l, 0);
        is_int(json_array_size(l), 1, "trigger-flow-listener: one execution");
        is_str(json_string_value(json_object_get(json_object_get(e, "state"), "current")), "SUCCESS",
               "trigger-flow-listener: SUCCESS");
        _cleanup_free_ char *want_out = strdup_printf("childs: from parents: %s", src_id);
        is_str(json_string_value(task_output(e, "only-listener", "value")), want_out,
               "its input came from the ended execution's outputs");
        is_str(json_string_value(json_object_get(trigger_vars(e), "executionId")), src_id, "trigger.executionId");
        is_str(json_string_value(json_object_get(trigger_vars(e), "namespace")), "io.kestra.tests.trigger",
               "trigger.namespace");
        is_str(json_string_value(json_object_get(trigger_vars(e), "flowId")), "trigger-flow", "trigger.flowId");
        is_str(json_string_value(json_object_get(trigger_vars(e), "state")), "SUCCESS", "trigger.state");

        _cleanup_json_ json_t *ni = executions("trigger-flow-listener-no-inputs");
        is_int(json_array_size(ni), 1, "trigger-flow-listener-no-inputs: one execution (its FAILED/other-flow "
                                        "trigger did not fire)");
        is_str(json_string_value(json_object_get(trigger_vars(json_array_get(ni, 0)), "executionId")), src_id,
               "no-inputs: trigger.executionId");

        _cleanup_json_ json_t *nc = executions("trigger-flow-listener-namespace-condition");
        size_t i;
        json_t *x;
        bool flows_ok = json_array_size(nc) >= 1;
        json_array_foreach(nc, i, x) {
                const char *fid = json_string_value(json_object_get(trigger_vars(x), "flowId"));
                flows_ok = flows_ok && (streq_ptr(fid, "trigger-flow") || streq_ptr(fid, "trigger-flow-listener") ||
                                        streq_ptr(fid, "trigger-flow-listener-no-inputs"));
        }
        ok(flows_ok, "namespace-condition listener: triggered by namespace flows, never by itself (%zu)",
           json_array_size(nc));
        is_int(count_of("trigger-flow-listener-invalid"), 0,
               "an input expression that fails to render starts no execution");
}

static void test_multiple_condition(void) {
        char a_id[ID_MAX], b_id[ID_MAX];
        deploy("trigger-multiplecondition-listener.yaml", "trigger-multiplecondition-listener", NULL);
        deploy("trigger-multiplecondition-flow-a.yaml", "trigger-multiplecondition-flow-a", NULL);
        deploy("trigger-multiplecondition-flow-a.yaml", "trigger-multiplecondition-flow-b", "trigger-multiplecondition-flow-a");
        scheduler_step(scheduler);

        start("trigger-multiplecondition-flow-a", a_id);
        Want wa[] = { { "trigger-multiplecondition-flow-a", 1 }, {} };
        ok(run_until(want_ended, wa, 30 * USEC_PER_SEC), "flow-a ended");
        /* Let the scheduler see it (the inbox), then check nothing started. */
        for (int i = 0; i < 5; i++)
                scheduler_step(scheduler);
        is_int(count_of("trigger-multiplecondition-listener"), 0,
               "after flow-a alone the MultipleCondition listener did not start");

        start("trigger-multiplecondition-flow-b", b_id);
        Want wb[] = { { "trigger-multiplecondition-flow-b", 1 }, { "trigger-multiplecondition-listener", 1 }, {} };
        ok(run_until(want_ended, wb, 30 * USEC_PER_SEC), "after flow-b the listener ran");
        _cleanup_json_ json_t *l = executions("trigger-multiplecondition-listener");
        is_int(json_array_size(l), 1, "exactly one listener execution");
        json_t *e = json_array_get(l, 0);
        is_str(json_string_value(json_object_get(json_object_get(e, "state"), "current")), "SUCCESS", "listener SUCCESS");
        is_str(json_string_value(json_object_get(trigger_vars(e), "executionId")), b_id,
               "trigger.executionId is flow-b's execution");
        is_str(json_string_value(json_object_get(trigger_vars(e), "flowId")), "trigger-multiplecondition-flow-b",
               "trigger.flowId is flow-b");
}

/* ---- states on the way (Kestra's FlowTriggerCaseTest#triggerWithPause) ------------------------ */

/* The corpus lacks the watched flow (depends_on): Kestra's pauses one second, then goes on. */
static const char with_pause[] = "id: trigger-flow-with-pause\nnamespace: io.kestra.tests.trigger.pause\n"
                                 "tasks:\n  - id: pause\n    type: io.kestra.plugin.core.flow.Pause\n"
                                 "    delay: PT1S\n  - id: after\n    type: io.kestra.plugin.core.log.Log\n"
                                 "    message: resumed\n";

static const char *exec_state(json_t *e) {
        return json_string_value(json_object_get(json_object_get(e, "state"), "current"));
}

static const char *start_date(json_t *e) {
        return strempty(json_string_value(json_object_get(json_object_get(e, "state"), "startDate")));
}

/* Do the executions' outputs.status follow want, as far as their start dates tell (executions
 * created in one scheduler step share a date)? */
static bool in_order(json_t *list, const char *const *want, size_t n) {
        _cleanup_json_ json_t *rest = json_copy(list);
        if (!rest || json_array_size(rest) != n)
                return false;
        for (size_t k = 0; k < n; k++) {
                const char *first = NULL;
                size_t i, pick = SIZE_MAX;
                json_t *e;
                json_array_foreach(rest, i, e)
                        if (!first || strcmp(start_date(e), first) < 0)
                                first = start_date(e);
                json_array_foreach(rest, i, e) {
                        const char *st = json_string_value(json_object_get(json_object_get(e, "outputs"), "status"));
                        if (streq(start_date(e), first) && streq_ptr(st, want[k])) {
                                pick = i;
                                break;
                        }
                }
                if (pick == SIZE_MAX)
                        return false;
                json_array_remove(rest, pick);
        }
        return true;
}

static void test_states_on_the_way(void) {
        char src_id[ID_MAX];
        static const char *const want[] = { "RUNNING", "PAUSED", "RUNNING", "SUCCESS" };
        deploy("trigger-flow-listener-with-pause.yaml", "trigger-flow-listener-with-pause", NULL);
        deploy_source(NS ".pause", "trigger-flow-with-pause", with_pause);
        scheduler_step(scheduler);

        start_in(NS ".pause", "trigger-flow-with-pause", src_id);
        Want w[] = { { "trigger-flow-with-pause", 1 }, { "trigger-flow-listener-with-pause", 4 }, {} };
        ok(run_until(want_ended, w, 30 * USEC_PER_SEC), "the watched execution ended and four listeners ran");
        _cleanup_json_ json_t *src = executions("trigger-flow-with-pause");
        is_str(exec_state(json_array_get(src, 0)), "SUCCESS", "the watched execution paused, resumed and succeeded");
        _cleanup_json_ json_t *l = executions("trigger-flow-listener-with-pause");
        is_int(json_array_size(l), 4, "one listener execution per listed state entered (RUNNING twice)");
        size_t i, succeeded = 0;
        json_t *e;
        json_array_foreach(l, i, e)
                succeeded += streq_ptr(exec_state(e), "SUCCESS");
        is_int(succeeded, 4, "the four listener executions succeeded");
        ok(in_order(l, want, 4), "their outputs.status (trigger.state) are RUNNING, PAUSED, RUNNING, SUCCESS");
}

/* ---- stopAfter -------------------------------------------------------------------------------- */

static const char stop_listener[] =
        "id: stop-listener\nnamespace: io.kestra.tests.trigger\n"
        "tasks:\n  - id: fail\n    type: io.kestra.plugin.core.execution.Fail\n"
        "triggers:\n  - id: on-flow\n    type: io.kestra.plugin.core.trigger.Flow\n    stopAfter: [FAILED]\n"
        "    conditions:\n      - type: io.kestra.plugin.core.condition.ExecutionFlow\n"
        "        namespace: io.kestra.tests.trigger\n        flowId: trigger-flow\n";

static const char stop_schedule[] =
        "id: stop-schedule\nnamespace: io.kestra.tests.trigger\n"
        "tasks:\n  - id: fail\n    type: io.kestra.plugin.core.execution.Fail\n"
        "triggers:\n  - id: every-second\n    type: io.kestra.plugin.core.trigger.Schedule\n"
        "    cron: \"* * * * * *\"\n    withSeconds: true\n    recoverMissedSchedules: NONE\n"
        "    stopAfter: [FAILED]\n";

typedef struct RowArgs {
        const char *flow_id, *trigger_id;
        StoreTrigger row;
        int op; /* 0 get, 1 enable */
} RowArgs;

static int row_tx(StoreTx *tx, void *userdata) {
        RowArgs *a = userdata;
        store_trigger_done(&a->row);
        if (a->op == 1)
                return api_trigger_set_enabled(tx, NS, a->flow_id, a->trigger_id, true, now_realtime());
        return store_trigger_get(tx, NS, a->flow_id, a->trigger_id, &a->row);
}

static bool want_disabled(void *userdata) {
        RowArgs *a = userdata;
        return store_transact(store, row_tx, a) >= 0 && a->row.disabled;
}

static bool never(void *userdata) {
        return false;
}

static void test_stop_after(void) {
        char id[ID_MAX];
        deploy_source(NS, "stop-listener", stop_listener);
        scheduler_step(scheduler);
        size_t sources = ended("trigger-flow");

        start("trigger-flow", id);
        Want w1[] = { { "trigger-flow", sources + 1 }, { "stop-listener", 1 }, {} };
        ok(run_until(want_ended, w1, 30 * USEC_PER_SEC), "the listener ran once");
        _cleanup_json_ json_t *l = executions("stop-listener");
        is_str(exec_state(json_array_get(l, 0)), "FAILED", "and failed");
        RowArgs a = { "stop-listener", "on-flow", {}, 0 };
        ok(run_until(want_disabled, &a, 10 * USEC_PER_SEC), "stopAfter [FAILED]: the trigger is disabled");
        json_t *why = json_object_get(a.row.state, "stoppedAfter");
        is_str(json_string_value(json_object_get(why, "state")), "FAILED", "the trigger says it stopped after FAILED");
        is_str(json_string_value(json_object_get(why, "executionId")),
               json_string_value(json_object_get(json_array_get(l, 0), "id")), "and after which execution");

        start("trigger-flow", id);
        Want w2[] = { { "trigger-flow", sources + 2 }, {} };
        ok(run_until(want_ended, w2, 30 * USEC_PER_SEC), "trigger-flow ran again");
        (void) run_until(never, NULL, 300 * USEC_PER_MSEC);
        is_int(count_of("stop-listener"), 1, "the stopped trigger started nothing");

        a.op = 1;
        is_int(store_transact(store, row_tx, &a), 0, "enabled by hand");
        a.op = 0;
        ok(!want_disabled(&a) && !json_object_get(a.row.state, "stoppedAfter"), "enabled: stoppedAfter is cleared");
        start("trigger-flow", id);
        Want w3[] = { { "trigger-flow", sources + 3 }, { "stop-listener", 2 }, {} };
        ok(run_until(want_ended, w3, 30 * USEC_PER_SEC), "enabled again, the listener runs again");
        ok(run_until(want_disabled, &a, 10 * USEC_PER_SEC), "and stops again after its failure");
        store_trigger_done(&a.row);

        /* A Schedule every second whose executions fail: it stops after the first failure (the
         * slots that started while the first one ran still run). */
        deploy_source(NS, "stop-schedule", stop_schedule);
        RowArgs b = { "stop-schedule", "every-second", {}, 0 };
        ok(run_until(want_disabled, &b, 20 * USEC_PER_SEC), "stopAfter on a Schedule disables it after a failure");
        Want w4[] = { { "stop-schedule", count_of("stop-schedule") }, {} };
        ok(run_until(want_ended, w4, 20 * USEC_PER_SEC), "its started executions end");
        size_t n = count_of("stop-schedule");
        (void) run_until(never, NULL, 2500 * USEC_PER_MSEC);
        ok(count_of("stop-schedule") == n, "no slot starts after the trigger stopped (%zu ran)", n);
        store_trigger_done(&b.row);
}

/* ---- preconditions (the Flow trigger's successor of MultipleCondition) ---------------------- */

/* Kestra's listener of flow-trigger-preconditions-flow-a/-b is not in the corpus: one in its spirit,
 * and one with a `where` filter only. */
static const char pre_listener[] =
        "id: preconditions-listener\nnamespace: io.kestra.tests.trigger.preconditions\n"
        "tasks:\n  - id: only\n    type: io.kestra.plugin.core.debug.Return\n    format: \"{{ trigger.flowId }}\"\n"
        "triggers:\n  - id: both\n    type: io.kestra.plugin.core.trigger.Flow\n    preconditions:\n"
        "      id: both\n      flows:\n"
        "        - namespace: io.kestra.tests.trigger.preconditions\n          flowId: flow-trigger-preconditions-flow-a\n"
        "          states: [SUCCESS]\n          labels:\n            some: label\n"
        "        - namespace: io.kestra.tests.trigger.preconditions\n          flowId: flow-trigger-preconditions-flow-b\n"
        "          states: [SUCCESS]\n";

static const char where_listener[] =
        "id: where-listener\nnamespace: io.kestra.tests.trigger.preconditions\n"
        "tasks:\n  - id: only\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{ trigger.flowId }}\"\n"
        "triggers:\n  - id: b-only\n    type: io.kestra.plugin.core.trigger.Flow\n    preconditions:\n"
        "      id: b-only\n      where:\n        - id: b\n          filters:\n"
        "            - field: NAMESPACE\n              type: STARTS_WITH\n              value: io.kestra.tests.trigger\n"
        "            - field: FLOW_ID\n              type: ENDS_WITH\n              value: flow-b\n";

static void test_preconditions(void) {
        char id[ID_MAX];
        const char *ns = NS ".preconditions";
        deploy("flow-trigger-preconditions-flow-a.yaml", "flow-trigger-preconditions-flow-a", NULL);
        deploy("flow-trigger-preconditions-flow-b.yaml", "flow-trigger-preconditions-flow-b", NULL);
        deploy_source(ns, "preconditions-listener", pre_listener);
        deploy_source(ns, "where-listener", where_listener);
        scheduler_step(scheduler);

        start_in(ns, "flow-trigger-preconditions-flow-b", id);
        Want w1[] = { { "flow-trigger-preconditions-flow-b", 1 }, { "where-listener", 1 }, {} };
        ok(run_until(want_ended, w1, 30 * USEC_PER_SEC), "preconditions.where: flow-b's end starts the where listener");
        for (int i = 0; i < 5; i++)
                scheduler_step(scheduler);
        is_int(count_of("preconditions-listener"), 0, "preconditions.flows: flow-b alone starts nothing");

        start_in(ns, "flow-trigger-preconditions-flow-a", id);
        Want w2[] = { { "flow-trigger-preconditions-flow-a", 1 }, { "preconditions-listener", 1 }, {} };
        ok(run_until(want_ended, w2, 30 * USEC_PER_SEC), "then flow-a (labelled some: label) completes them");
        _cleanup_json_ json_t *l = executions("preconditions-listener");
        json_t *e = json_array_get(l, 0);
        is_str(json_string_value(json_object_get(trigger_vars(e), "executionId")), id,
               "trigger.executionId is the execution that completed the preconditions");
        is_int(count_of("where-listener"), 1, "the where listener ignores flow-a");

        start_in(ns, "flow-trigger-preconditions-flow-b", id);
        Want w3[] = { { "flow-trigger-preconditions-flow-b", 2 }, { "where-listener", 2 }, {} };
        ok(run_until(want_ended, w3, 30 * USEC_PER_SEC), "flow-b again: the where listener again");
        for (int i = 0; i < 5; i++)
                scheduler_step(scheduler);
        is_int(count_of("preconditions-listener"), 1, "but the preconditions were reset by their success");
}

int main(void) {
        corpus = getenv("KESTRA_COMPAT") ?: "../shared/kestra-compat";
        char probe[1024];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/flows/trigger-flow.yaml", corpus);
        if (stat(probe, &st) < 0)
                tap_skip_all("Kestra corpus not found (set KESTRA_COMPAT)");

        store_test_setup("sqlite", &env);
        if (store_open(env.url, &store) < 0 || store_migrate(store) < 0) {
                printf("Bail out! cannot open %s\n", env.url);
                return EXIT_FAILURE;
        }
        Store *xs = NULL, *ss = NULL;
        ExecutorOptions xo = { .id = "executor" };
        SchedulerOptions so = { .id = "scheduler" };
        char work[512];
        snprintf(work, sizeof work, "%s/work", env.sqlite_dir);
        WorkerOptions wo = { .id = "worker", .slots = 2, .work_root = work };
        Worker *worker = NULL;
        if (store_dup(store, &xs) < 0 || executor_new(xs, &xo, &executor) < 0 || store_dup(store, &ss) < 0 ||
            scheduler_new(ss, &so, &scheduler) < 0 || worker_new(store, &wo, &worker) < 0 || worker_start(worker) < 0) {
                printf("Bail out! cannot start the components\n");
                return EXIT_FAILURE;
        }
        test_flow_triggers();
        test_multiple_condition();
        test_states_on_the_way();
        test_preconditions();
        test_stop_after();
        worker_stop(worker, 0);
        worker_free(worker);
        executor_free(executor);
        scheduler_free(scheduler);
        store_free(store);
        store_test_teardown(&env);
        return tap_done();
}

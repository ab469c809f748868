/* test-engine-tasks: the tasks that change the execution itself, run by the executor (Exit, Kill,
 * SetVariables, UnsetVariables), Assert, and ForEachItem (a worker's split, then the executor's
 * subflows), driven in memory with the real worker tasks; the flows and what is checked follow
 * Kestra's ExitTest, KillTest, SetVariablesTest, UnsetVariablesTest, AssertTest and ForEachItemCaseTest. */
#include <stdlib.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "driver.h"
#include "strutil.h"
#include "tap.h"

static char workdir[] = "/tmp/tern-test-engine-tasks-XXXXXX";

/* Run to the end; the driver keeps the flow. */
static Execution *run_flow(Driver **d, const char *yaml) {
        return driver_run_yaml(workdir, d, yaml);
}

static const char *exec_state(const Execution *e) {
        return e ? state_to_string(e->state.current) : "(none)";
}

static const char *output_value(const Execution *e, const char *task_id, const char *key) {
        const TaskRun *tr = driver_run_of(e, task_id);
        return tr ? json_string_value(json_object_get(json_object_get(tr->outputs, "values"), key)) : NULL;
}

static bool logged(Driver *d, const char *level, const char *text) {
        size_t i;
        json_t *l;
        json_array_foreach(driver_logs(d), i, l) {
                const char *m = json_string_value(json_object_get(l, "message"));
                if (streq_ptr(json_string_value(json_object_get(l, "level")), level) && m && strstr(m, text))
                        return true;
        }
        return false;
}

#define EXIT_FLOW(state)                                                                                      \
        "id: exit\nnamespace: io.kestra.tests\n"                                                              \
        "inputs:\n  - id: state\n    type: SELECT\n    values: [CONTINUE, END]\n    defaults: END\n"          \
        "tasks:\n  - id: if\n    type: io.kestra.plugin.core.flow.If\n"                                       \
        "    condition: \"{{inputs.state == 'CONTINUE'}}\"\n"                                                  \
        "    then:\n      - id: hello\n        type: io.kestra.plugin.core.log.Log\n        message: go on\n" \
        "    else:\n      - id: exit\n        type: io.kestra.plugin.core.execution.Exit\n"                   \
        "        state: " state "\n"                                                                          \
        "  - id: end\n    type: io.kestra.plugin.core.log.Log\n    message: I'm ending\n"

/* ExitTest: the execution ends in the Exit's state, with the task runs above the Exit; nothing after
 * it runs, not even errors or finally. */
static void test_exit(void) {
        Driver *d;
        Execution *e = run_flow(&d, EXIT_FLOW("WARNING"));
        is_str(exec_state(e), "WARNING", "Exit WARNING: the execution ends WARNING");
        is_int(e ? e->n_task_runs : 0, 2, "two task runs: if and exit");
        is_str(driver_state_of(e, "if"), "WARNING", "the If above the Exit ends WARNING");
        is_str(driver_state_of(e, "exit"), "WARNING", "and the Exit itself");
        is_str(driver_state_of(e, "end"), "(none)", "the task after it never starts");
        driver_free(d);

        e = run_flow(&d, EXIT_FLOW("KILLED"));
        is_str(exec_state(e), "KILLED", "Exit KILLED: the execution ends KILLED");
        is_int(e ? e->n_task_runs : 0, 2, "two task runs");
        is_str(driver_state_of(e, "if"), "KILLED", "the If is KILLED");
        is_str(driver_state_of(e, "exit"), "KILLED", "and the Exit");
        driver_free(d);

        e = run_flow(&d, "id: exit-killed-parallel\nnamespace: t\n"
                         "tasks:\n  - id: parallel\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
                         "      - id: exit\n        type: io.kestra.plugin.core.execution.Exit\n        state: KILLED\n"
                         "      - id: sibling\n        type: io.kestra.plugin.core.log.Log\n        message: never\n");
        is_str(exec_state(e), "KILLED", "Exit KILLED first in a Parallel: KILLED");
        is_str(driver_state_of(e, "sibling"), "(none)", "the sibling after it is not started by the same pass");
        driver_free(d);

        e = run_flow(&d, "id: exit-failed\nnamespace: t\n"
                         "tasks:\n  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n    tasks:\n"
                         "      - id: first\n        type: io.kestra.plugin.core.log.Log\n        message: one\n"
                         "      - id: exit\n        type: io.kestra.plugin.core.execution.Exit\n"
                         "        state: \"{{ 'FAIL' ~ 'ED' }}\"\n"
                         "      - id: after\n        type: io.kestra.plugin.core.log.Log\n        message: never\n"
                         "errors:\n  - id: handler\n    type: io.kestra.plugin.core.log.Log\n    message: never\n"
                         "finally:\n  - id: last\n    type: io.kestra.plugin.core.log.Log\n    message: never\n"
                         "afterExecution:\n  - id: post\n    type: io.kestra.plugin.core.output.OutputValues\n"
                         "    values:\n      state: \"{{ execution.state }}\"\n");
        is_str(exec_state(e), "FAILED", "Exit with a rendered state FAILED: the execution is FAILED");
        is_str(driver_state_of(e, "first"), "SUCCESS", "what ran before it keeps its state");
        is_str(driver_state_of(e, "seq"), "FAILED", "the Sequential above it is FAILED");
        is_str(driver_state_of(e, "after"), "(none)", "the next sibling never starts");
        is_str(driver_state_of(e, "handler"), "(none)", "errors do not run");
        is_str(driver_state_of(e, "last"), "(none)", "finally does not run");
        is_str(output_value(e, "post", "state"), "FAILED", "afterExecution runs and sees FAILED");
        driver_free(d);

        e = run_flow(&d, "id: exit-default\nnamespace: t\n"
                         "tasks:\n  - id: exit\n    type: io.kestra.plugin.core.execution.Exit\n"
                         "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: never\n");
        is_str(exec_state(e), "SUCCESS", "Exit without a state ends SUCCESS");
        is_str(driver_state_of(e, "after"), "(none)", "and nothing runs after it");
        driver_free(d);

        e = run_flow(&d, "id: exit-bad\nnamespace: t\n"
                         "tasks:\n  - id: exit\n    type: io.kestra.plugin.core.execution.Exit\n"
                         "    state: \"{{ 'NOPE' }}\"\n");
        is_str(driver_state_of(e, "exit"), "FAILED", "a state that renders to no exit state fails the task");
        ok(logged(d, "ERROR", "state 'NOPE' is not one of SUCCESS, WARNING, KILLED, FAILED, CANCELED"),
           "saying which states are allowed");
        driver_free(d);
}

#define KILL_CHILD                                                                                        \
        "id: child-flow\nnamespace: io.kestra.tests\n"                                                    \
        "tasks:\n  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n    delay: PT1H\n"

/* A parent flow run with KILL_CHILD available for its subflows. */
static Execution *run_with_child(Driver **d, const char *yaml) {
        Flow *f = driver_load_yaml(yaml), *child = driver_load_yaml(KILL_CHILD);
        Execution *e = NULL;
        _cleanup_json_ json_t *inputs = NULL;
        _cleanup_free_ char *err = NULL;
        *d = NULL;
        if (!f || !child || driver_new(workdir, d) < 0 || driver_add_flow(*d, f) < 0 || driver_add_flow(*d, child) < 0 ||
            flow_inputs_resolve(f, NULL, &inputs, &err) < 0 || driver_start(*d, f, inputs, NULL, &e) < 0 ||
            driver_run(*d, 5 * USEC_PER_SEC) < 0)
                return NULL;
        return e;
}

/* The execution a Subflow task started. */
static const char *child_state(Driver *d, const Execution *e, const char *task_id) {
        const TaskRun *tr = driver_run_of(e, task_id);
        const char *id = tr ? json_string_value(json_object_get(tr->outputs, "executionId")) : NULL;
        if (!id && tr)
                id = json_string_value(json_object_get(tr->engine, "executionId"));
        return id ? exec_state(driver_execution(d, id)) : "(no child)";
}

/* KillTest: the execution ends KILLED, the Kill task run KILLED and what ran before it SUCCESS;
 * propagateKill kills the subflow executions it started too, waited for or not. */
static void test_kill(void) {
        Driver *d;
        Execution *e = run_flow(&d, "id: kill\nnamespace: io.kestra.tests\n"
                                    "tasks:\n  - id: first\n    type: io.kestra.plugin.core.log.Log\n    message: before\n"
                                    "  - id: kill\n    type: io.kestra.plugin.core.execution.Kill\n"
                                    "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: never\n");
        is_str(exec_state(e), "KILLED", "Kill: the execution ends KILLED");
        is_int(e ? e->n_task_runs : 0, 2, "two task runs");
        is_str(driver_state_of(e, "first"), "SUCCESS", "the task before it is SUCCESS");
        is_str(driver_state_of(e, "kill"), "KILLED", "the Kill task run is KILLED");
        driver_free(d);

        e = run_flow(&d, "id: kill-conditional\nnamespace: io.kestra.tests\n"
                         "inputs:\n  - id: shouldKill\n    type: BOOLEAN\n    defaults: false\n"
                         "tasks:\n  - id: first\n    type: io.kestra.plugin.core.log.Log\n    message: before\n"
                         "  - id: kill\n    type: io.kestra.plugin.core.execution.Kill\n"
                         "    runIf: \"{{ inputs.shouldKill }}\"\n"
                         "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: goes on\n");
        is_str(exec_state(e), "SUCCESS", "a Kill whose runIf is false does nothing");
        is_str(driver_state_of(e, "after"), "SUCCESS", "and the next task runs");
        driver_free(d);

        e = run_with_child(&d, "id: kill-without-propagation\nnamespace: io.kestra.tests\n"
                               "tasks:\n  - id: subflow\n    type: io.kestra.plugin.core.flow.Subflow\n"
                               "    namespace: io.kestra.tests\n    flowId: child-flow\n    wait: false\n"
                               "  - id: kill\n    type: io.kestra.plugin.core.execution.Kill\n");
        is_str(exec_state(e), "KILLED", "Kill without propagation: the execution is KILLED");
        is_str(driver_state_of(e, "subflow"), "SUCCESS", "the Subflow task that did not wait is SUCCESS");
        is_str(driver_state_of(e, "kill"), "KILLED", "the Kill is KILLED");
        is_str(child_state(d, e, "subflow"), "PAUSED", "its subflow execution goes on");
        driver_free(d);

        e = run_with_child(&d, "id: kill-with-propagation\nnamespace: io.kestra.tests\n"
                               "tasks:\n  - id: subflow\n    type: io.kestra.plugin.core.flow.Subflow\n"
                               "    namespace: io.kestra.tests\n    flowId: child-flow\n    wait: false\n"
                               "  - id: kill\n    type: io.kestra.plugin.core.execution.Kill\n    propagateKill: true\n");
        is_str(exec_state(e), "KILLED", "Kill with propagateKill: the execution is KILLED");
        is_str(child_state(d, e, "subflow"), "KILLED", "and so is its subflow execution");
        driver_free(d);

        e = run_with_child(&d, "id: kill-waiting\nnamespace: io.kestra.tests\n"
                               "tasks:\n  - id: parallel\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
                               "      - id: subflow\n        type: io.kestra.plugin.core.flow.Subflow\n"
                               "        namespace: io.kestra.tests\n        flowId: child-flow\n"
                               "      - id: kill\n        type: io.kestra.plugin.core.execution.Kill\n"
                               "        propagateKill: \"{{ true }}\"\n");
        is_str(child_state(d, e, "subflow"), "KILLED", "a subflow execution waited for is killed too");
        is_str(driver_state_of(e, "subflow"), "KILLED", "its Subflow task run ends KILLED");
        is_str(exec_state(e), "KILLED", "and the execution KILLED");
        driver_free(d);

        /* A kill from outside (API, CLI): Kestra's isOnKillCascade is true unless said otherwise. */
        static const char waiting_parent[] = "id: parent\nnamespace: io.kestra.tests\n"
                                             "tasks:\n  - id: subflow\n    type: io.kestra.plugin.core.flow.Subflow\n"
                                             "    namespace: io.kestra.tests\n    flowId: child-flow\n";
        e = run_with_child(&d, waiting_parent);
        is_str(child_state(d, e, "subflow"), "PAUSED", "a parent waits for its paused subflow execution");
        ok(e && driver_send(d, e->id, ENGINE_EVENT_KILL, NULL) >= 0 && driver_run(d, 5 * USEC_PER_SEC) >= 0,
           "a kill without a cascade setting is applied");
        e = e ? driver_execution(d, e->id) : NULL;
        is_str(child_state(d, e, "subflow"), "KILLED", "it kills the subflow execution too");
        is_str(exec_state(e), "KILLED", "and the parent ends KILLED");
        driver_free(d);

        e = run_with_child(&d, waiting_parent);
        _cleanup_json_ json_t *spare = json_pack("{s:b}", "cascade", 0);
        ok(e && driver_send(d, e->id, ENGINE_EVENT_KILL, spare) >= 0 &&
           driver_run(d, 5 * USEC_PER_SEC) >= 0, "a kill with cascade false is applied");
        e = e ? driver_execution(d, e->id) : NULL;
        is_str(child_state(d, e, "subflow"), "PAUSED", "its subflow execution goes on");
        is_str(exec_state(e), "KILLING", "and the parent waits for it, KILLING");
        driver_free(d);
}

/* SetVariablesTest and UnsetVariablesTest. */
static void test_variables(void) {
        Driver *d;
        Execution *e = run_flow(&d, "id: set-variables\nnamespace: io.kestra.tests\n"
                                    "variables:\n  name: World\n  deep:\n    a: 1\n    b: 2\n"
                                    "tasks:\n  - id: set-vars\n    type: io.kestra.plugin.core.execution.SetVariables\n"
                                    "    variables:\n      message: Hello\n      name: Loïc\n      deep:\n        b: 3\n"
                                    "  - id: output\n    type: io.kestra.plugin.core.output.OutputValues\n"
                                    "    values:\n      message: \"{{ vars.message }} {{ vars.name }}\"\n"
                                    "      deep: \"{{ vars.deep.a }}{{ vars.deep.b }}\"\n");
        is_str(exec_state(e), "SUCCESS", "SetVariables: SUCCESS");
        is_int(e ? e->n_task_runs : 0, 2, "two task runs");
        is_str(output_value(e, "output", "message"), "Hello Loïc", "a later task sees the variables set and replaced");
        is_str(output_value(e, "output", "deep"), "13", "maps merge key by key");
        driver_free(d);

        e = run_flow(&d, "id: set-variables-duplicate\nnamespace: io.kestra.tests\n"
                         "variables:\n  name: World\n"
                         "tasks:\n  - id: set-vars\n    type: io.kestra.plugin.core.execution.SetVariables\n"
                         "    variables:\n      message: Hello\n      name: Loïc\n    overwrite: false\n"
                         "  - id: output\n    type: io.kestra.plugin.core.output.OutputValues\n"
                         "    values:\n      message: \"{{ vars.message }} {{ vars.name }}\"\n");
        is_str(exec_state(e), "FAILED", "overwrite: false and an existing variable: FAILED");
        is_int(e ? e->n_task_runs : 0, 1, "one task run");
        is_str(driver_state_of(e, "set-vars"), "FAILED", "the SetVariables task failed");
        ok(logged(d, "ERROR", "`overwrite` is set to false and the following variables already exist: name"),
           "naming the variable");
        driver_free(d);

        e = run_flow(&d, "id: unset-variables\nnamespace: io.kestra.tests\n"
                         "variables:\n  keep: kept\n  nested:\n    a: x\n    b: y\n"
                         "tasks:\n  - id: set-vars\n    type: io.kestra.plugin.core.execution.SetVariables\n"
                         "    variables:\n      message: Hello World\n"
                         "  - id: unset-variables\n    type: io.kestra.plugin.core.execution.UnsetVariables\n"
                         "    variables:\n      - message\n      - nested.a\n"
                         "  - id: output\n    type: io.kestra.plugin.core.output.OutputValues\n"
                         "    values:\n      message: \"{{ vars.message ??? 'default' }}\"\n"
                         "      a: \"{{ vars.nested.a ??? 'gone' }}\"\n      b: \"{{ vars.nested.b }}\"\n"
                         "      keep: \"{{ vars.keep }}\"\n");
        is_str(exec_state(e), "SUCCESS", "UnsetVariables: SUCCESS");
        is_int(e ? e->n_task_runs : 0, 3, "three task runs");
        is_str(output_value(e, "output", "message"), "default", "the variable is gone");
        is_str(output_value(e, "output", "a"), "gone", "a dotted name removes inside a map");
        is_str(output_value(e, "output", "b"), "y", "and leaves the rest of the map");
        is_str(output_value(e, "output", "keep"), "kept", "other variables stay");
        driver_free(d);

        e = run_flow(&d, "id: unset-missing\nnamespace: t\n"
                         "tasks:\n  - id: unset\n    type: io.kestra.plugin.core.execution.UnsetVariables\n"
                         "    variables: [nothing]\n");
        is_str(driver_state_of(e, "unset"), "FAILED", "unsetting a missing variable fails");
        ok(logged(d, "ERROR", "there is no variable 'nothing'"), "naming it");
        driver_free(d);

        e = run_flow(&d, "id: unset-missing-ignored\nnamespace: t\n"
                         "tasks:\n  - id: unset\n    type: io.kestra.plugin.core.execution.UnsetVariables\n"
                         "    variables: [nothing]\n    ignoreMissing: true\n");
        is_str(driver_state_of(e, "unset"), "SUCCESS", "unless ignoreMissing is true");
        driver_free(d);
}

/* The variables live in the execution's document: an executor that restarts between two steps (the
 * execution read back from its JSON) renders the next task with them; the loaded flow's own
 * variables are never changed. */
static void test_variables_survive_restart(void) {
        _cleanup_(flow_freep) Flow *f = driver_load_yaml("id: vars-restart\nnamespace: t\nvariables:\n  x: flow\n"
                                             "tasks:\n  - id: set\n    type: io.kestra.plugin.core.execution.SetVariables\n"
                                             "    variables:\n      x: set\n"
                                             "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{ vars.x }}\"\n"
                                             "  - id: b\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{ vars.x }}\"\n");
        _cleanup_execution_ Execution *e = NULL, *back = NULL;
        EngineConfig cfg = {};
        EngineEffects fx;
        if (!ok(f != NULL, "the flow loads"))
                return;
        engine_execution_new(&cfg, f, NULL, NULL, NULL, NULL, now_realtime(), &e);
        engine_effects_init(&fx);
        engine_apply(&cfg, f, e, ENGINE_EVENT_CREATED, NULL, now_realtime(), &fx);
        json_t *job = json_array_get(fx.jobs, 0);
        is_str(json_string_value(json_object_get(job, "taskId")), "a", "SetVariables ran in the executor: a's job is out");
        is_str(json_string_value(json_object_get(json_object_get(json_object_get(job, "variables"), "vars"), "x")), "set",
               "with the variable set");
        _cleanup_json_ json_t *doc = execution_to_json(e);
        ok(execution_from_json(doc, &back) == 0, "the execution is read back from its document");
        _cleanup_json_ json_t *result = json_pack("{s:s, s:i, s:{s:s}}", "taskRunId", json_string_value(json_object_get(job, "taskRunId")),
                                                  "epoch", 1, "result", "state", "SUCCESS");
        engine_effects_done(&fx);
        engine_effects_init(&fx);
        engine_apply(&cfg, f, back, ENGINE_EVENT_TASK_RESULT, result, now_realtime(), &fx);
        job = json_array_get(fx.jobs, 0);
        is_str(json_string_value(json_object_get(job, "taskId")), "b", "after the restart, b's job is out");
        is_str(json_string_value(json_object_get(json_object_get(json_object_get(job, "variables"), "vars"), "x")), "set",
               "and still sees the variable set");
        is_str(json_string_value(json_object_get(f->variables, "x")), "flow", "the flow's own variables are unchanged");
        engine_effects_done(&fx);
}

/* AssertTest: every condition is checked; the failed ones are logged and counted. */
static void test_assert(void) {
        Driver *d;
        Execution *e = run_flow(&d, "id: assert\nnamespace: io.kestra.tests\n"
                                    "inputs:\n  - id: param\n    type: STRING\n    defaults: ok\n"
                                    "tasks:\n  - id: fail\n    type: io.kestra.plugin.core.execution.Assert\n"
                                    "    conditions:\n      - \"{{ inputs.param == 'ok' }}\"\n      - \"{{ 1 + 1 == 3 }}\"\n"
                                    "      - \"{{ undefined_thing.x }}\"\n"
                                    "    errorMessage: \"bad {{ inputs.param }}\"\n");
        is_str(exec_state(e), "FAILED", "Assert with false conditions: FAILED");
        ok(logged(d, "ERROR", "Assertion `{{ 1 + 1 == 3 }}` failed!"), "the false condition is logged");
        ok(logged(d, "ERROR", "Assertion `{{ undefined_thing.x }}` failed, failed to render"),
           "one that cannot be rendered counts as failed");
        ok(logged(d, "ERROR", "2 assertions failed!\nbad ok"), "the task fails with the count and the errorMessage");
        driver_free(d);

        e = run_flow(&d, "id: assert-ok\nnamespace: t\n"
                         "tasks:\n  - id: check\n    type: io.kestra.plugin.core.execution.Assert\n"
                         "    conditions:\n      - \"{{ 1 + 1 == 2 }}\"\n      - \"yes\"\n");
        is_str(exec_state(e), "SUCCESS", "Assert with true conditions: SUCCESS");
        driver_free(d);
}

static Flow *child_flow(const char *id, const char *extra_task) {
        _cleanup_free_ char *y = strdup_printf("id: %s\nnamespace: io.kestra.tests\n"
                                               "inputs:\n  - id: items\n    type: STRING\n  - id: iteration\n    type: INT\n"
                                               "tasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n"
                                               "    message: \"batch {{ inputs.iteration }} {{ inputs.items }}\"\n%s",
                                               id, extra_task);
        return y ? driver_load_yaml(y) : NULL;
}

/* Start a parent flow that makes its items file with `lines` lines (seq 1 N) and hands it to a
 * ForEachItem with the given batch and extra properties; children of flow child. */
static Execution *run_items(Driver **d, Flow *child, int lines, const char *batch, const char *extra) {
        char gen[64] = "true";
        if (lines > 0)
                snprintf(gen, sizeof gen, "seq 1 %d", lines);
        _cleanup_free_ char *y = strdup_printf(
                "id: for-each-item\nnamespace: io.kestra.tests\n"
                "tasks:\n  - id: gen\n    type: io.kestra.plugin.scripts.shell.Commands\n    outputFiles: [items.txt]\n"
                "    commands:\n      - \"%s > items.txt\"\n"
                "  - id: each\n    type: io.kestra.plugin.core.flow.ForEachItem\n"
                "    items: \"{{ outputs.gen.outputFiles['items.txt'] }}\"\n    batch:\n%s"
                "    namespace: io.kestra.tests\n    flowId: %s\n"
                "    inputs:\n      items: \"{{ taskrun.items }}\"\n      iteration: \"{{ taskrun.iteration }}\"\n%s"
                "  - id: after\n    type: io.kestra.plugin.core.output.OutputValues\n"
                "    values:\n      batches: \"{{ outputs.each.numberOfBatches ??? 'none' }}\"\n"
                "      kestra: \"{{ outputs.each_items.iterations.SUCCESS ??? 'none' }}\"\n",
                gen, batch, child ? child->id : "nope", extra);
        Flow *f = y ? driver_load_yaml(y) : NULL;
        Execution *e = NULL;
        _cleanup_json_ json_t *inputs = NULL;
        _cleanup_free_ char *err = NULL;
        *d = NULL;
        if (!f || driver_new(workdir, d) < 0 || driver_add_flow(*d, f) < 0 || (child && driver_add_flow(*d, child) < 0) ||
            flow_inputs_resolve(f, NULL, &inputs, &err) < 0 || driver_start(*d, f, inputs, NULL, &e) < 0 ||
            driver_run(*d, 10 * USEC_PER_SEC) < 0)
                return NULL;
        return e;
}

static int64_t iterations(const Execution *e, const char *state) {
        const TaskRun *tr = driver_run_of(e, "each");
        json_t *v = tr ? json_object_get(json_object_get(tr->outputs, "iterations"), state) : NULL;
        return json_is_integer(v) ? json_integer_value(v) : -1;
}

static int64_t batches(const Execution *e) {
        const TaskRun *tr = driver_run_of(e, "each");
        json_t *v = tr ? json_object_get(tr->outputs, "numberOfBatches") : NULL;
        return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* Log lines of the children: "batch I URI", one per subflow execution that ran. */
static size_t batch_logs(Driver *d, const char *must_contain) {
        size_t i, n = 0;
        json_t *l;
        json_array_foreach(driver_logs(d), i, l) {
                const char *m = json_string_value(json_object_get(l, "message"));
                if (m && startswith(m, "batch ") && (!must_contain || strstr(m, must_contain)))
                        n++;
        }
        return n;
}

/* ForEachItemCaseTest: 103 lines by 4 (Kestra's 26 batches); by 1 (more batches than one step
 * creates: the rest in later steps); failures transmitted or not; not waiting; no items. */
static void test_for_each_item(void) {
        Driver *d;
        Execution *e = run_items(&d, child_flow("for-each-item-subflow", ""), 103, "      rows: 4\n", "");
        is_str(exec_state(e), "SUCCESS", "ForEachItem: the execution succeeds");
        is_int(batches(e), 26, "103 lines by 4: 26 batches");
        is_int(iterations(e, "SUCCESS"), 26, "26 subflow executions succeeded");
        is_int(iterations(e, "RUNNING"), 0, "none running");
        is_int(iterations(e, "CREATED"), 0, "none waiting");
        is_int(batch_logs(d, NULL), 26, "26 subflow executions ran");
        ok(batch_logs(d, "batch 0 kestra:///io/kestra/tests/for-each-item/executions/") == 1 &&
                   batch_logs(d, "/0.txt") == 1 && batch_logs(d, "batch 25 ") == 1 && batch_logs(d, "/25.txt") == 1,
           "taskrun.iteration counts from 0, taskrun.items is the batch's kestra:/// URI (with the file's extension)");
        is_str(output_value(e, "after", "batches"), "26", "the next task sees outputs.each.numberOfBatches");
        is_str(output_value(e, "after", "kestra"), "26", "and Kestra's outputs.each_items.iterations");
        driver_free(d);

        e = run_items(&d, child_flow("for-each-item-subflow", ""), 103, "      rows: 1\n", "");
        is_str(exec_state(e), "SUCCESS", "rows 1: SUCCESS");
        is_int(batches(e), 103, "103 batches");
        is_int(iterations(e, "SUCCESS"), 103, "all 103 created (over several steps) and succeeded");
        is_int(batch_logs(d, NULL), 103, "103 subflow executions ran");
        driver_free(d);

        e = run_items(&d, child_flow("for-each-item-subflow", ""), 10, "      partitions: 3\n", "");
        is_int(batches(e), 3, "partitions 3: 3 batches");
        driver_free(d);
        e = run_items(&d, child_flow("for-each-item-subflow", ""), 2, "      partitions: 3\n", "");
        is_int(batches(e), 2, "partitions 3 of 2 lines: the empty one is dropped");
        driver_free(d);
        e = run_items(&d, child_flow("for-each-item-subflow", ""), 10, "      bytes: \"6\"\n", "");
        /* "1\n".."9\n" are 2 bytes, "10\n" 3: a batch closes once it holds 6 bytes or more. */
        is_int(batches(e), 4, "bytes 6: batches close once they reach 6 bytes");
        driver_free(d);

        e = run_items(&d, child_flow("for-each-item-subflow-failed",
                                     "  - id: fail\n    type: io.kestra.plugin.core.execution.Fail\n"),
                      8, "      rows: 4\n", "");
        is_str(exec_state(e), "FAILED", "failing subflows: the execution fails");
        is_str(driver_state_of(e, "each"), "FAILED", "the ForEachItem fails");
        is_int(iterations(e, "FAILED"), 2, "iterations count them FAILED");
        is_str(driver_state_of(e, "after"), "(none)", "the next task does not run");
        driver_free(d);

        e = run_items(&d, child_flow("for-each-item-subflow-failed",
                                     "  - id: fail\n    type: io.kestra.plugin.core.execution.Fail\n"),
                      8, "      rows: 4\n", "    transmitFailed: false\n");
        is_str(driver_state_of(e, "each"), "SUCCESS", "transmitFailed false: the ForEachItem succeeds");
        is_int(iterations(e, "FAILED"), 2, "and still counts the failures");
        driver_free(d);

        e = run_items(&d, child_flow("for-each-item-subflow", ""), 8, "      rows: 4\n", "    wait: false\n");
        is_str(driver_state_of(e, "each"), "SUCCESS", "wait false: SUCCESS once created");
        is_int(iterations(e, "SUCCESS"), 2, "iterations count what was created");
        is_int(iterations(e, "RUNNING"), 0, "none running");
        driver_free(d);

        e = run_items(&d, child_flow("for-each-item-subflow", ""), 0, "      rows: 4\n", "");
        if (!is_str(exec_state(e), "SUCCESS", "no items: SUCCESS")) {
                _cleanup_free_ char *logs = json_dumps(driver_logs(d), JSON_COMPACT);
                diag("logs: %s", logs);
        }
        const TaskRun *each = driver_run_of(e, "each");
        ok(each && !each->outputs, "without outputs");
        is_int(batch_logs(d, NULL), 0, "and no subflow execution");
        driver_free(d);

        e = run_items(&d, NULL, 3, "      rows: 1\n", "");
        is_str(driver_state_of(e, "each"), "FAILED", "a missing subflow fails the ForEachItem");
        is_int(iterations(e, "FAILED"), 3, "each batch counted FAILED");
        driver_free(d);

        e = run_flow(&d, "id: items-not-storage\nnamespace: t\n"
                         "tasks:\n  - id: each\n    type: io.kestra.plugin.core.flow.ForEachItem\n"
                         "    items: /etc/passwd\n    namespace: t\n    flowId: x\n");
        is_str(driver_state_of(e, "each"), "FAILED", "items that are not a kestra:/// URI fail the task");
        ok(logged(d, "ERROR", "Unable to split the items from '/etc/passwd', this is not an internal storage URI!"),
           "saying so");
        driver_free(d);
}

/* Subflow executions that logged a "batch " line. */
static size_t batch_executions(Driver *d) {
        _cleanup_json_ json_t *ids = json_object();
        size_t i;
        json_t *l;
        json_array_foreach(driver_logs(d), i, l) {
                const char *m = json_string_value(json_object_get(l, "message"));
                if (m && startswith(m, "batch "))
                        json_object_set(ids, json_string_value(json_object_get(l, "executionId")), json_true());
        }
        return json_object_size(ids);
}

/* batch.regexPattern, the merged subflowOutputs (Kestra's ForEachItemMergeOutputs) and restarts:
 * RETRY_FAILED restarts the failed batches' executions, NEW_EXECUTION starts every batch anew. */
static void test_for_each_item_more(void) {
        Driver *d;
        /* 1..10 grouped by their first digit: 1 and 10 together, 2..9 alone. */
        Execution *e = run_items(&d, child_flow("for-each-item-subflow", ""), 10, "      regexPattern: \"^([0-9])\"\n", "");
        is_str(exec_state(e), "SUCCESS", "regexPattern: SUCCESS");
        is_int(batches(e), 9, "regexPattern ^([0-9]) over 1..10: 9 batches, one per first digit");
        driver_free(d);
        e = run_items(&d, child_flow("for-each-item-subflow", ""), 10, "      regexPattern: \"^x([0-9])\"\n", "");
        is_str(exec_state(e), "SUCCESS", "regexPattern that no row matches: SUCCESS");
        is_int(batch_logs(d, NULL), 0, "without a batch (rows that do not match go)");
        driver_free(d);
        e = run_items(&d, child_flow("for-each-item-subflow", ""), 10, "      regexPattern: \"^[0-9]\"\n", "");
        is_str(driver_state_of(e, "each"), "FAILED", "regexPattern without a capture group fails the task");
        ok(logged(d, "ERROR", "batch 'regexPattern' ('^[0-9]') needs a capture group"), "saying so");
        driver_free(d);

        /* Each batch's flow outputs, one Ion line per batch in batch order. */
        e = run_items(&d,
                      child_flow("for-each-item-outputs-subflow",
                                 "outputs:\n  - id: it\n    type: STRING\n    value: \"b{{ inputs.iteration }}\"\n"),
                      7, "      rows: 2\n",
                      "  - id: merged\n    type: io.kestra.plugin.core.output.OutputValues\n"
                      "    values:\n      content: \"{{ read(outputs.each_merge.subflowOutputs) }}\"\n"
                      "      same: \"{{ outputs.each.subflowOutputs == outputs.each_merge.subflowOutputs }}\"\n");
        is_str(exec_state(e), "SUCCESS", "subflow outputs: SUCCESS");
        is_str(output_value(e, "merged", "content"), "{it:\"b0\"}\n{it:\"b1\"}\n{it:\"b2\"}\n{it:\"b3\"}\n",
               "outputs.each_merge.subflowOutputs: a file of one Ion line per batch, in batch order");
        is_str(output_value(e, "merged", "same"), "true", "outputs.each.subflowOutputs names it too");
        driver_free(d);
        e = run_items(&d, child_flow("for-each-item-subflow", ""), 3, "      rows: 1\n", "");
        const TaskRun *each = driver_run_of(e, "each");
        ok(each && !json_object_get(each->outputs, "subflowOutputs"), "subflows without outputs: no subflowOutputs");
        driver_free(d);

        /* Kestra's restart-child: fails at its first attempt, succeeds when restarted. */
        static const char flaky[] = "  - id: flaky\n    type: io.kestra.plugin.core.log.Log\n"
                                    "    message: \"{{ taskrun.attemptsCount == 1 ? 'ok' : ko }}\"\n";
        e = run_items(&d, child_flow("restart-child", flaky), 3, "      rows: 1\n", "");
        is_str(exec_state(e), "FAILED", "restart: every batch fails at first");
        is_int(iterations(e, "FAILED"), 3, "3 batches FAILED");
        driver_send(d, e->id, ENGINE_EVENT_RESTART, NULL);
        driver_run(d, 10 * USEC_PER_SEC);
        is_str(exec_state(e), "SUCCESS", "RETRY_FAILED (the default): after a restart the execution succeeds");
        is_int(iterations(e, "SUCCESS"), 3, "its 3 batches SUCCESS");
        is_int(iterations(e, "FAILED"), -1, "none FAILED any more");
        is_int(batch_executions(d), 3, "the failed executions were restarted: no new subflow execution");
        is_str(output_value(e, "after", "batches"), "3", "the tasks after it run");
        driver_free(d);

        e = run_items(&d, child_flow("restart-child", flaky), 3, "      rows: 1\n", "    restartBehavior: NEW_EXECUTION\n");
        is_str(exec_state(e), "FAILED", "NEW_EXECUTION: every batch fails at first");
        driver_send(d, e->id, ENGINE_EVENT_RESTART, NULL);
        driver_run(d, 10 * USEC_PER_SEC);
        is_int(batch_executions(d), 6, "NEW_EXECUTION: a restart splits again and starts 3 new executions");
        is_str(exec_state(e), "FAILED", "whose first attempts fail again");
        driver_free(d);
}

int main(void) {
        if (!mkdtemp(workdir))
                return 1;
        test_exit();
        test_kill();
        test_variables();
        test_variables_survive_restart();
        test_assert();
        test_for_each_item();
        test_for_each_item_more();
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
        (void) !system(cmd);
        return tap_done();
}

/* test-engine: the executor's transition function driven in memory (no database) with the real
 * worker tasks: each flowable, retries, errors/finally, allowFailure, runIf, pause/resume, kill,
 * subflows and outputs. */
#include <stdlib.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "driver.h"
#include "tap.h"

static char workdir[] = "/tmp/tern-test-engine-XXXXXX";

typedef struct Run {
        Driver *d;
        Execution *e;
} Run;

static Flow *load(const char *yaml) {
        Flow *f = NULL;
        FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        int r = flow_load_string(yaml, strlen(yaml), "test.yaml", &f, &diags);
        if (r != 0) {
                diag("loading the flow: %s", r < 0 ? strerror(-r) : "refused");
                flow_diagnostics_print(&diags, stdout);
                f = NULL;
        }
        flow_diagnostics_done(&diags);
        return f;
}

/* Run a flow to its end (or to a pause) and return the driver; the execution is in r->e. */
static bool run_flow(Run *r, const char *yaml, const char *inputs_json) {
        Flow *f = load(yaml);
        _cleanup_json_ json_t *supplied = inputs_json ? json_loads(inputs_json, 0, NULL) : NULL, *inputs = NULL;
        _cleanup_free_ char *err = NULL;
        *r = (Run) {};
        int k;
        if (!f)
                return false;
        if ((k = driver_new(workdir, &r->d)) < 0 || (k = driver_add_flow(r->d, f)) < 0) {
                diag("driver: %s", strerror(-k));
                return false;
        }
        if (flow_inputs_resolve(f, supplied, &inputs, &err) < 0) {
                diag("inputs: %s", err);
                return false;
        }
        if ((k = driver_start(r->d, f, inputs, NULL, &r->e)) < 0) {
                diag("start: %s", strerror(-k));
                return false;
        }
        return driver_run(r->d, 5 * USEC_PER_SEC) >= 0;
}

static const TaskRun *run_of(const Execution *e, const char *task_id, const char *value) {
        for (size_t i = 0; i < e->n_task_runs; i++)
                if (streq(e->task_runs[i]->task_id, task_id) && (!value || streq_ptr(e->task_runs[i]->value, value)))
                        return e->task_runs[i];
        return NULL;
}

static const char *state_of(const Execution *e, const char *task_id) {
        const TaskRun *tr = run_of(e, task_id, NULL);
        return tr ? state_to_string(tr->state.current) : "(none)";
}

static const char *output_of(const Execution *e, const char *task_id, const char *value, const char *key) {
        const TaskRun *tr = run_of(e, task_id, value);
        return tr ? json_string_value(json_object_get(tr->outputs, key)) : NULL;
}

static bool logs_contain(Driver *d, const char *needle) {
        size_t i;
        json_t *l;
        json_array_foreach(driver_logs(d), i, l)
                if (strstr(json_string_value(json_object_get(l, "message")) ?: "", needle))
                        return true;
        return false;
}

static void done(Run *r) {
        driver_free(r->d);
}

int main(void) {
        Run r;
        if (!mkdtemp(workdir))
                return 1;

        ok(run_flow(&r,
                    "id: seq\nnamespace: t\ninputs:\n  - id: who\n    type: STRING\n    defaults: world\n"
                    "tasks:\n  - id: a\n    type: io.kestra.plugin.core.debug.Return\n    format: hello {{ inputs.who }}\n"
                    "  - id: b\n    type: io.kestra.plugin.core.debug.Return\n    format: '{{ outputs.a.value }}!'\n"
                    "outputs:\n  - id: out\n    type: STRING\n    value: '{{ outputs.b.value }}'\n",
                    NULL),
           "sequential flow runs");
        is_str(state_to_string(r.e->state.current), "SUCCESS", "sequential: SUCCESS");
        is_str(output_of(r.e, "b", NULL, "value"), "hello world!", "outputs of an earlier task, input default");
        is_str(json_string_value(json_object_get(r.e->outputs, "out")), "hello world!", "flow outputs rendered at the end");
        is_int(r.e->n_task_runs, 2, "two task runs");
        done(&r);

        run_flow(&r,
                 "id: fail\nnamespace: t\ntasks:\n  - id: a\n    type: io.kestra.plugin.core.execution.Fail\n"
                 "  - id: never\n    type: io.kestra.plugin.core.log.Log\n    message: no\n"
                 "errors:\n  - id: handler\n    type: io.kestra.plugin.core.log.Log\n    message: handled {{ task.id }}\n"
                 "finally:\n  - id: fin\n    type: io.kestra.plugin.core.log.Log\n    message: finally\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "FAILED", "a failing task fails the execution");
        is_str(state_of(r.e, "never"), "(none)", "tasks after a failure do not start");
        is_str(state_of(r.e, "handler"), "SUCCESS", "errors branch runs");
        is_str(state_of(r.e, "fin"), "SUCCESS", "finally runs");
        ok(logs_contain(r.d, "handled handler"), "error handler logged with its own task id");
        done(&r);

        run_flow(&r,
                 "id: retry\nnamespace: t\ntasks:\n  - id: flaky\n    type: io.kestra.plugin.core.log.Log\n"
                 "    message: \"{{ taskrun.attemptsCount == 2 ? 'ok' : undefinedVariable }}\"\n"
                 "    retry:\n      type: constant\n      interval: PT0.05S\n      maxAttempt: 5\n      warningOnRetry: true\n",
                 NULL);
        const TaskRun *fl = run_of(r.e, "flaky", NULL);
        ok(fl && fl->n_attempts == 3, "retried until the third attempt succeeded");
        is_str(state_to_string(r.e->state.current), "WARNING", "warningOnRetry makes a retried success WARNING");
        done(&r);

        run_flow(&r,
                 "id: retry2\nnamespace: t\ntasks:\n  - id: always\n    type: io.kestra.plugin.core.execution.Fail\n"
                 "    retry:\n      type: exponential\n      interval: PT0.01S\n      maxInterval: PT0.05S\n      maxAttempts: 3\n",
                 NULL);
        fl = run_of(r.e, "always", NULL);
        ok(fl && fl->n_attempts == 3 && r.e->state.current == STATE_FAILED, "maxAttempts (Kestra's name since 0.24; maxAttempt before) bounds the attempts");
        done(&r);

        run_flow(&r,
                 "id: flowables\nnamespace: t\ninputs:\n  - id: n\n    type: INT\n    defaults: 2\ntasks:\n"
                 "  - id: par\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n"
                 "      - id: p1\n        type: io.kestra.plugin.core.debug.Return\n        format: p1\n"
                 "      - id: p2\n        type: io.kestra.plugin.core.debug.Return\n        format: p2\n"
                 "  - id: cond\n    type: io.kestra.plugin.core.flow.If\n    condition: '{{ inputs.n > 1 }}'\n"
                 "    then:\n      - id: yes\n        type: io.kestra.plugin.core.debug.Return\n        format: big\n"
                 "    else:\n      - id: no\n        type: io.kestra.plugin.core.debug.Return\n        format: small\n"
                 "  - id: sw\n    type: io.kestra.plugin.core.flow.Switch\n    value: '{{ outputs.yes.value }}'\n"
                 "    cases:\n      big:\n        - id: case_big\n          type: io.kestra.plugin.core.debug.Return\n"
                 "          format: matched\n    defaults:\n      - id: def\n        type: io.kestra.plugin.core.debug.Return\n"
                 "        format: default\n"
                 "  - id: loop\n    type: io.kestra.plugin.core.flow.ForEach\n    values: '[\"a\", \"b\", \"c\"]'\n"
                 "    concurrencyLimit: 2\n    tasks:\n      - id: item\n        type: io.kestra.plugin.core.debug.Return\n"
                 "        format: 'item {{ taskrun.value }}'\n"
                 "  - id: after\n    type: io.kestra.plugin.core.debug.Return\n    format: \"{{ outputs.item['b'].value }}\"\n"
                 "  - id: skipped\n    type: io.kestra.plugin.core.log.Log\n    message: x\n    runIf: '{{ false }}'\n"
                 "  - id: off\n    type: io.kestra.plugin.core.log.Log\n    message: x\n    disabled: true\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "SUCCESS", "flowables: SUCCESS");
        ok(run_of(r.e, "p1", NULL) && run_of(r.e, "p2", NULL), "parallel children both ran");
        ok(run_of(r.e, "yes", NULL) && !run_of(r.e, "no", NULL), "If took the then branch");
        ok(run_of(r.e, "case_big", NULL) && !run_of(r.e, "def", NULL), "Switch matched its case");
        is_str(output_of(r.e, "item", "c", "value"), "item c", "ForEach child has its loop value");
        is_str(output_of(r.e, "after", NULL, "value"), "item b", "loop outputs are keyed by value");
        is_str(state_of(r.e, "skipped"), "SKIPPED", "runIf false skips");
        is_str(state_of(r.e, "off"), "(none)", "disabled tasks make no task run");
        is_int(r.e->n_task_runs, 13, "13 task runs in all");
        done(&r);

        run_flow(&r,
                 "id: allow\nnamespace: t\ntasks:\n  - id: bad\n    type: io.kestra.plugin.core.execution.Fail\n"
                 "    allowFailure: true\n  - id: next\n    type: io.kestra.plugin.core.log.Log\n    message: goes on\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "WARNING", "allowFailure: execution WARNING, the flow goes on");
        is_str(state_of(r.e, "next"), "SUCCESS", "the next task ran");
        done(&r);

        run_flow(&r,
                 "id: dag\nnamespace: t\ntasks:\n  - id: dag\n    type: io.kestra.plugin.core.flow.Dag\n    tasks:\n"
                 "      - task:\n          id: last\n          type: io.kestra.plugin.core.debug.Return\n"
                 "          format: \"{{ outputs.first.value }}+{{ outputs.second.value }}\"\n"
                 "        dependsOn: [first, second]\n"
                 "      - task:\n          id: first\n          type: io.kestra.plugin.core.debug.Return\n          format: '1'\n"
                 "      - task:\n          id: second\n          type: io.kestra.plugin.core.debug.Return\n          format: '2'\n"
                 "        dependsOn: [first]\n",
                 NULL);
        is_str(output_of(r.e, "last", NULL, "value"), "1+2", "Dag runs tasks after their dependencies");
        done(&r);

        run_flow(&r,
                 "id: pause\nnamespace: t\ntasks:\n  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n"
                 "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: resumed\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "PAUSED", "Pause pauses the execution");
        is_str(state_of(r.e, "wait"), "PAUSED", "the Pause task run is PAUSED");
        driver_send(r.d, r.e->id, ENGINE_EVENT_RESUME, NULL);
        driver_run(r.d, USEC_PER_SEC);
        is_str(state_to_string(r.e->state.current), "SUCCESS", "resume continues to the end");
        done(&r);

        run_flow(&r,
                 "id: pd\nnamespace: t\ntasks:\n  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n    pauseDuration: PT0.1S\n"
                 "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: resumed\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "SUCCESS", "a Pause with a duration resumes by itself");
        done(&r);

        run_flow(&r,
                 "id: kill\nnamespace: t\ntasks:\n  - id: wait\n    type: io.kestra.plugin.core.flow.Pause\n"
                 "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: never\n",
                 NULL);
        driver_send(r.d, r.e->id, ENGINE_EVENT_KILL, NULL);
        driver_run(r.d, USEC_PER_SEC);
        is_str(state_to_string(r.e->state.current), "KILLED", "kill ends a paused execution as KILLED");
        is_str(state_of(r.e, "after"), "(none)", "nothing starts after a kill");
        done(&r);

        {
                Flow *child = load("id: child\nnamespace: t\ninputs:\n  - id: x\n    type: STRING\n"
                                   "tasks:\n  - id: c\n    type: io.kestra.plugin.core.debug.Return\n    format: 'got {{ inputs.x }}'\n"
                                   "outputs:\n  - id: res\n    type: STRING\n    value: '{{ outputs.c.value }}'\n");
                Flow *parent = load("id: parent\nnamespace: t\ntasks:\n  - id: sub\n    type: io.kestra.plugin.core.flow.Subflow\n"
                                    "    namespace: t\n    flowId: child\n    inputs:\n      x: hi\n"
                                    "  - id: use\n    type: io.kestra.plugin.core.debug.Return\n"
                                    "    format: '{{ outputs.sub.outputs.res }}'\n");
                Driver *d = NULL;
                Execution *e = NULL;
                driver_new(workdir, &d);
                driver_add_flow(d, child);
                driver_add_flow(d, parent);
                driver_start(d, parent, NULL, NULL, &e);
                driver_run(d, USEC_PER_SEC);
                is_str(state_to_string(e->state.current), "SUCCESS", "parent of a subflow succeeds");
                is_str(output_of(e, "use", NULL, "value"), "got hi", "subflow inputs in, outputs back");
                /* The driver's id source counts: the parent, its Subflow task run, then the child
                 * execution that the parent's step announced, which is created with that id. */
                is_str(e->id, "0000000000000000000001", "ids come from the configured id source");
                is_str(run_of(e, "sub", NULL)->id, "0000000000000000000002", "task run ids too");
                Execution *ce = driver_execution(d, "0000000000000000000003");
                ok(ce && streq_ptr(ce->parent_id, e->id), "the subflow execution has the id its parent announced");
                _cleanup_free_ char *cl = ce ? json_dumps(ce->labels, JSON_COMPACT) : NULL;
                ok(cl && strstr(cl, "\"system.correlationId\",\"value\":\"0000000000000000000003\""),
                   "its correlation label names that id, not one drawn before it");
                driver_free(d);
        }

        run_flow(&r,
                 "id: labels\nnamespace: t\nlabels:\n  team: data\ntasks:\n  - id: l\n    type: io.kestra.plugin.core.execution.Labels\n"
                 "    labels:\n      run: '{{ taskrun.id }}'\n      team: ops\n",
                 NULL);
        _cleanup_free_ char *labels = json_dumps(r.e->labels, JSON_COMPACT);
        ok(strstr(labels, "\"team\",\"value\":\"ops\"") && strstr(labels, run_of(r.e, "l", NULL)->id),
           "Labels task merges rendered labels into the execution");
        done(&r);

        run_flow(&r,
                 "id: sh\nnamespace: t\ntasks:\n  - id: sh\n    type: io.kestra.plugin.scripts.shell.Commands\n"
                 "    commands:\n      - echo '::{\"outputs\":{\"n\":\"{{ 40 + 2 }}\"}}::'\n"
                 "  - id: use\n    type: io.kestra.plugin.core.debug.Return\n    format: '{{ outputs.sh.vars.n }}'\n",
                 NULL);
        is_str(output_of(r.e, "use", NULL, "value"), "42", "shell outputs reach later tasks");
        done(&r);

        /* Restart: error handlers that ran are dropped, the failed task gets a new attempt. */
        run_flow(&r,
                 "id: restart\nnamespace: t\ntasks:\n  - id: before\n    type: io.kestra.plugin.core.log.Log\n    message: b\n"
                 "  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n    tasks:\n"
                 "      - id: flaky\n        type: io.kestra.plugin.core.log.Log\n"
                 "        message: \"{{ taskrun.attemptsCount == 1 ? 'ok' : ko }}\"\n"
                 "    errors:\n      - id: handler\n        type: io.kestra.plugin.core.log.Log\n        message: handled\n"
                 "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: a\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "FAILED", "restart scenario: first run fails");
        is_int(r.e->n_task_runs, 4, "before, seq, flaky, handler");
        driver_send(r.d, r.e->id, ENGINE_EVENT_RESTART, NULL);
        driver_run(r.d, USEC_PER_SEC);
        is_str(state_to_string(r.e->state.current), "SUCCESS", "after a restart the failed task runs again and succeeds");
        is_str(state_of(r.e, "handler"), "(none)", "the error handler's run was dropped");
        fl = run_of(r.e, "flaky", NULL);
        ok(fl && fl->n_attempts == 2, "the restarted task has a second attempt");
        is_str(state_of(r.e, "after"), "SUCCESS", "the rest of the flow ran");
        bool saw_restarted = false;
        for (size_t i = 0; i < r.e->state.n_histories; i++)
                saw_restarted |= r.e->state.histories[i].state == STATE_RESTARTED;
        ok(saw_restarted, "the execution's history shows RESTARTED");
        done(&r);

        /* Change state (Kestra's markAs): the failed task made SUCCESS, the flow goes on from there
         * without running it again; then the ended execution's own state. */
        run_flow(&r,
                 "id: markas\nnamespace: t\ntasks:\n  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n    tasks:\n"
                 "      - id: boom\n        type: io.kestra.plugin.core.execution.Fail\n"
                 "    errors:\n      - id: handler\n        type: io.kestra.plugin.core.log.Log\n        message: handled\n"
                 "  - id: after\n    type: io.kestra.plugin.core.log.Log\n    message: a\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "FAILED", "change state scenario: first run fails");
        const TaskRun *boom = run_of(r.e, "boom", NULL);
        json_t *mark = json_pack("{s:s, s:s}", "taskRunId", boom ? boom->id : "x", "state", "SUCCESS");
        driver_send(r.d, r.e->id, ENGINE_EVENT_CHANGE_STATE, mark);
        json_decref(mark);
        driver_run(r.d, USEC_PER_SEC);
        is_str(state_to_string(r.e->state.current), "SUCCESS", "change state: the execution goes on and succeeds");
        is_str(state_of(r.e, "boom"), "SUCCESS", "the task run has the state given");
        is_str(state_of(r.e, "seq"), "SUCCESS", "its parent walked again and ended");
        is_str(state_of(r.e, "handler"), "(none)", "the error handler's run was dropped");
        is_str(state_of(r.e, "after"), "SUCCESS", "the next task ran");
        mark = json_pack("{s:s}", "state", "WARNING");
        driver_send(r.d, r.e->id, ENGINE_EVENT_CHANGE_STATE, mark);
        json_decref(mark);
        driver_run(r.d, USEC_PER_SEC);
        is_str(state_to_string(r.e->state.current), "WARNING", "change state without a task run: the execution's own");
        done(&r);

        /* WorkingDirectory: its tasks share one directory, removed at its end. */
        run_flow(&r,
                 "id: wd\nnamespace: t\ntasks:\n  - id: wd\n    type: io.kestra.plugin.core.flow.WorkingDirectory\n    tasks:\n"
                 "      - id: write\n        type: io.kestra.plugin.scripts.shell.Commands\n"
                 "        commands: ['echo shared > note.txt']\n"
                 "      - id: read\n        type: io.kestra.plugin.scripts.shell.Commands\n"
                 "        commands: ['cat note.txt', 'pwd']\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "SUCCESS", "WorkingDirectory: the second task reads the first's file");
        ok(logs_contain(r.d, "shared"), "the file's content was logged");
        char wdpath[256];
        snprintf(wdpath, sizeof wdpath, "%s/wd-%s", workdir, run_of(r.e, "wd", NULL)->id);
        ok(access(wdpath, F_OK) < 0, "the shared directory is removed when the WorkingDirectory ends");
        done(&r);

        /* SLA: a MAX_DURATION that passes fails the execution (stopping what runs); an assertion
         * that does not hold at the end cancels it or only labels it. */
        run_flow(&r,
                 "id: sla\nnamespace: t\nsla:\n  - id: fast\n    type: MAX_DURATION\n    behavior: FAIL\n    duration: PT0.2S\n"
                 "    labels:\n      late: yes\ntasks:\n  - id: slow\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT3S\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "FAILED", "SLA MAX_DURATION with FAIL fails a slow execution");
        /* (In memory the task has already run to its end when the timer fires: stopping a running
         * task is the kill path, tested with real workers.) */
        _cleanup_free_ char *sla_labels = json_dumps(r.e->labels, JSON_COMPACT);
        ok(sla_labels && strstr(sla_labels, "late"), "the SLA's labels were added");
        done(&r);
        run_flow(&r,
                 "id: sla2\nnamespace: t\ninputs:\n  - id: x\n    type: INT\n    defaults: 1\nsla:\n  - id: a\n    type: EXECUTION_ASSERTION\n"
                 "    behavior: CANCEL\n    assert: '{{ inputs.x == 2 }}'\n"
                 "tasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n    message: x\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "CANCELLED", "an assertion that fails with CANCEL cancels");
        done(&r);

        /* WaitFor: the body runs again until the condition holds. */
        run_flow(&r,
                 "id: waitfor\nnamespace: t\ntasks:\n  - id: loop\n    type: io.kestra.plugin.core.flow.WaitFor\n"
                 "    condition: \"{{ outputs.return.value == '3' }}\"\n    checkFrequency:\n      interval: PT0.01S\n"
                 "    tasks:\n      - id: return\n        type: io.kestra.plugin.core.debug.Return\n"
                 "        format: \"{{ outputs.loop.iterationCount }}\"\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "SUCCESS", "WaitFor ends once its condition holds");
        size_t returns = 0;
        for (size_t i = 0; i < r.e->n_task_runs; i++)
                returns += streq(r.e->task_runs[i]->task_id, "return");
        is_int(returns, 4, "one task run per iteration (0, 1, 2, 3)");
        is_int(json_integer_value(json_object_get(run_of(r.e, "loop", NULL)->outputs, "iterationCount")), 4,
               "iterationCount output");
        done(&r);
        run_flow(&r,
                 "id: waitfor2\nnamespace: t\ntasks:\n  - id: loop\n    type: io.kestra.plugin.core.flow.WaitFor\n"
                 "    condition: \"{{ false }}\"\n    failOnMaxReached: true\n"
                 "    checkFrequency:\n      interval: PT0.01S\n      maxIterations: 3\n"
                 "    tasks:\n      - id: log\n        type: io.kestra.plugin.core.log.Log\n        message: again\n",
                 NULL);
        is_str(state_to_string(r.e->state.current), "FAILED", "WaitFor fails at maxIterations with failOnMaxReached");
        ok(logs_contain(r.d, "maxIterations"), "and says why");
        done(&r);

        /* Flow concurrency: the loop passes the count of active executions with "created". */
        static const char *const behaviors[][2] = { { "QUEUE", "QUEUED" }, { "CANCEL", "CANCELLED" }, { "FAIL", "FAILED" } };
        for (size_t b = 0; b < ELEMENTSOF(behaviors); b++) {
                char yaml[512];
                snprintf(yaml, sizeof yaml,
                         "id: conc\nnamespace: t\nconcurrency:\n  limit: 1\n  behavior: %s\n"
                         "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: x\n", behaviors[b][0]);
                _cleanup_(flow_freep) Flow *cf = load(yaml);
                _cleanup_execution_ Execution *ce = NULL;
                EngineEffects fx;
                EngineConfig cfg = {};
                _cleanup_json_ json_t *busy = json_pack("{s:i}", "running", 1), *free_slot = json_pack("{s:i}", "running", 0);
                engine_execution_new(&cfg, cf, NULL, NULL, NULL, NULL, now_realtime(), &ce);
                engine_effects_init(&fx);
                engine_apply(&cfg, cf, ce, ENGINE_EVENT_CREATED, busy, now_realtime(), &fx);
                is_str(state_to_string(ce->state.current), behaviors[b][1], behaviors[b][0]);
                ok(json_array_size(fx.jobs) == 0, "%s: no task starts over the limit", behaviors[b][0]);
                engine_effects_done(&fx);
                if (b == 0) {
                        engine_effects_init(&fx);
                        engine_apply(&cfg, cf, ce, ENGINE_EVENT_CREATED, free_slot, now_realtime(), &fx);
                        is_str(state_to_string(ce->state.current), "RUNNING", "a queued execution runs once a slot is free");
                        is_int(json_array_size(fx.jobs), 1, "and its first task starts");
                        engine_effects_done(&fx);
                }
        }

        /* Its own directory only: the other engine tests' directories start with the same name and
         * they run at the same time. */
        char cmd[sizeof workdir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
        (void) !system(cmd);
        return tap_done();
}

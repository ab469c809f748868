/* test-engine-flow-props: flow properties the engine applies, driven in memory with the real worker
 * tasks: afterExecution (Kestra's AfterExecutionTestCase) and the flow's workerGroup. */
#include <stdlib.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "driver.h"
#include "tap.h"

static char workdir[] = "/tmp/tern-test-engine-props-XXXXXX";

/* Run to the end; the driver keeps the flow. */
static Execution *run_flow(Driver **d, const char *yaml) {
        return driver_run_yaml(workdir, d, yaml);
}

static const char *after_state_output(const Execution *e) {
        const TaskRun *tr = driver_run_of(e, "end");
        return tr ? json_string_value(json_object_get(json_object_get(tr->outputs, "values"), "state")) : NULL;
}

static void test_after_execution(void) {
        Driver *d;
        Execution *e = run_flow(&d, "id: after-execution\nnamespace: io.kestra.tests\n"
                                    "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: Hello\n"
                                    "outputs:\n  - id: out\n    type: STRING\n    value: a flow output\n"
                                    "afterExecution:\n  - id: end\n    type: io.kestra.plugin.core.output.OutputValues\n"
                                    "    values:\n      state: \"{{ execution.state }}\"\n"
                                    "      output: \"{{ execution.outputs.out }}\"\n");
        ok(e != NULL, "after-execution runs");
        is_str(e ? state_to_string(e->state.current) : NULL, "SUCCESS", "the execution is SUCCESS");
        is_int(e ? e->n_task_runs : 0, 2, "two task runs: hello, then end");
        is_str(driver_state_of(e, "end"), "SUCCESS", "the afterExecution task ran");
        is_str(after_state_output(e), "SUCCESS", "it saw the execution's end state");
        const TaskRun *end = driver_run_of(e, "end"), *hello = driver_run_of(e, "hello");
        ok(end && json_is_string(json_object_get(json_object_get(end->outputs, "values"), "output")) &&
                   streq(json_string_value(json_object_get(json_object_get(end->outputs, "values"), "output")), "a flow output"),
           "and the execution's outputs");
        ok(end && hello && state_info_start_date(&end->state) >= state_info_end_date(&hello->state) &&
                   state_info_start_date(&end->state) >= state_info_end_date(&e->state),
           "it started after the task and after the execution ended");
        ok(e && !execution_after_pending(e), "nothing is pending once it ran");
        driver_free(d);

        e = run_flow(&d, "id: after-execution-error\nnamespace: io.kestra.tests\n"
                         "tasks:\n  - id: fail\n    type: io.kestra.plugin.core.execution.Fail\n"
                         "errors:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: I'm failing\n"
                         "afterExecution:\n  - id: end\n    type: io.kestra.plugin.core.output.OutputValues\n"
                         "    values:\n      state: \"{{ execution.state }}\"\n");
        is_str(e ? state_to_string(e->state.current) : NULL, "FAILED", "after errors: the execution is FAILED");
        is_int(e ? e->n_task_runs : 0, 3, "fail, the error handler, then end");
        is_str(driver_state_of(e, "hello"), "SUCCESS", "the error handler ran");
        is_str(after_state_output(e), "FAILED", "the afterExecution task saw FAILED");
        driver_free(d);

        e = run_flow(&d, "id: after-execution-finally\nnamespace: io.kestra.tests\n"
                         "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: Hello\n"
                         "finally:\n  - id: finally\n    type: io.kestra.plugin.core.log.Log\n    message: finally\n"
                         "afterExecution:\n  - id: end\n    type: io.kestra.plugin.core.output.OutputValues\n"
                         "    values:\n      state: \"{{ execution.state }}\"\n");
        const TaskRun *fin = driver_run_of(e, "finally");
        end = driver_run_of(e, "end");
        ok(fin && end && state_info_start_date(&end->state) >= state_info_end_date(&fin->state),
           "afterExecution runs after finally");
        is_str(after_state_output(e), "SUCCESS", "and sees SUCCESS");
        driver_free(d);

        e = run_flow(&d, "id: after-execution-flowable\nnamespace: io.kestra.tests\n"
                         "tasks:\n  - id: mytask\n    type: io.kestra.plugin.core.debug.Return\n    format: done\n"
                         "afterExecution:\n  - id: after_if\n    type: io.kestra.plugin.core.flow.If\n    condition: \"{{ true }}\"\n"
                         "    then:\n      - id: after_if_log\n        type: io.kestra.plugin.core.log.Log\n"
                         "        message: after execution if child ran\n"
                         "  - id: after_end\n    type: io.kestra.plugin.core.log.Log\n    message: following task ran\n");
        is_str(driver_state_of(e, "after_if_log"), "SUCCESS", "a flowable's child runs in afterExecution");
        is_str(driver_state_of(e, "after_end"), "SUCCESS", "and the task after it");
        is_str(e ? state_to_string(e->state.current) : NULL, "SUCCESS", "the execution stays SUCCESS");
        driver_free(d);

        e = run_flow(&d, "id: after-fails\nnamespace: t\n"
                         "tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: Hello\n"
                         "afterExecution:\n  - id: end\n    type: io.kestra.plugin.core.execution.Fail\n");
        is_str(driver_state_of(e, "end"), "FAILED", "a failing afterExecution task fails");
        is_str(e ? state_to_string(e->state.current) : NULL, "SUCCESS", "but does not change the execution's state");
        driver_free(d);
}

/* The flow's workerGroup is the queue of its tasks' jobs, unless a task names its own. */
static void test_worker_group(void) {
        _cleanup_(flow_freep) Flow *f = driver_load_yaml("id: wg\nnamespace: t\nworkerGroup:\n  key: gpu\n"
                                             "tasks:\n  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: x\n"
                                             "  - id: b\n    type: io.kestra.plugin.core.log.Log\n    message: x\n"
                                             "    workerGroup:\n      key: cpu\n");
        _cleanup_execution_ Execution *e = NULL;
        EngineConfig cfg = {};
        EngineEffects fx;
        ok(f && streq_ptr(f->worker_group, "gpu"), "the flow's workerGroup is parsed");
        if (!f)
                return;
        engine_execution_new(&cfg, f, NULL, NULL, NULL, NULL, now_realtime(), &e);
        engine_effects_init(&fx);
        engine_apply(&cfg, f, e, ENGINE_EVENT_CREATED, NULL, now_realtime(), &fx);
        is_str(json_string_value(json_object_get(json_array_get(fx.jobs, 0), "queue")), "gpu",
               "a task without its own goes to the flow's worker group");
        _cleanup_json_ json_t *result = json_pack("{s:s, s:i, s:{s:s}}", "taskRunId", e->task_runs[0]->id, "epoch", 1, "result", "state", "SUCCESS");
        engine_effects_done(&fx);
        engine_effects_init(&fx);
        engine_apply(&cfg, f, e, ENGINE_EVENT_TASK_RESULT, result, now_realtime(), &fx);
        is_str(json_string_value(json_object_get(json_array_get(fx.jobs, 0), "queue")), "cpu",
               "a task's own workerGroup wins");
        engine_effects_done(&fx);
}

/* JdbcRunnerRetryTest#retryNewExecution*: a failure ends RETRYING, then RETRIED with a new execution
 * in its place, until the retry's bounds: RETRIED, RETRIED, FAILED. */
static void test_retry_new_execution(void) {
        _cleanup_(flow_freep) Flow *f = driver_load_yaml("id: retry-new-execution-task-attempts\nnamespace: io.kestra.tests\n"
                                             "tasks:\n  - id: fail\n    type: io.kestra.plugin.core.execution.Fail\n"
                                             "    retry:\n      behavior: CREATE_NEW_EXECUTION\n      type: constant\n"
                                             "      maxAttempt: 3\n      interval: PT1S\n");
        EngineConfig cfg = {};
        usec_t now = now_realtime();
        const char *states[3] = {};
        json_t *engine = NULL;
        if (!ok(f != NULL, "a flow with a CREATE_NEW_EXECUTION retry loads"))
                return;
        for (int attempt = 0; attempt < 3; attempt++) {
                _cleanup_execution_ Execution *e = NULL;
                EngineEffects fx;
                engine_execution_new(&cfg, f, NULL, NULL, NULL, NULL, now, &e);
                e->engine = engine; /* what the executor creates it with */
                engine = NULL;
                engine_effects_init(&fx);
                engine_apply(&cfg, f, e, ENGINE_EVENT_CREATED, NULL, now, &fx);
                _cleanup_json_ json_t *result = json_pack("{s:s, s:i, s:{s:s}}", "taskRunId", e->task_runs[0]->id, "epoch", 1,
                                                          "result", "state", "FAILED");
                engine_effects_done(&fx);
                engine_effects_init(&fx);
                engine_apply(&cfg, f, e, ENGINE_EVENT_TASK_RESULT, result, now, &fx);
                ok(json_array_size(fx.jobs) == 0, "attempt %d: the task is not retried in place", attempt + 1);
                if (attempt < 2) {
                        is_str(state_to_string(e->state.current), "RETRYING", "a failure waits RETRYING");
                        json_t *ev = json_array_get(fx.events, 0);
                        ok(streq_ptr(json_string_value(json_object_get(json_object_get(ev, "payload"), "kind")), "retryExecution") &&
                                   json_integer_value(json_object_get(ev, "dueAt")) == (json_int_t) (now + USEC_PER_SEC),
                           "for the retry's interval");
                        _cleanup_json_ json_t *timer = json_pack("{s:s}", "kind", "retryExecution");
                        engine_effects_done(&fx);
                        engine_effects_init(&fx);
                        now += USEC_PER_SEC;
                        engine_apply(&cfg, f, e, ENGINE_EVENT_TIMER, timer, now, &fx);
                        is_int(json_array_size(fx.executions), 1, "then a new execution is asked for");
                        json_t *x = json_array_get(fx.executions, 0);
                        is_str(json_string_value(json_object_get(x, "flowId")), "retry-new-execution-task-attempts",
                               "of the same flow");
                        engine = json_incref(json_object_get(x, "engine"));
                }
                states[attempt] = state_to_string(e->state.current);
                engine_effects_done(&fx);
        }
        ok(streq_ptr(states[0], "RETRIED") && streq_ptr(states[1], "RETRIED") && streq_ptr(states[2], "FAILED"),
           "the three executions end RETRIED, RETRIED, FAILED");
        json_decref(engine);
}

int main(void) {
        if (!mkdtemp(workdir))
                return 1;
        test_after_execution();
        test_worker_group();
        test_retry_new_execution();
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", workdir);
        (void) !system(cmd);
        return tap_done();
}

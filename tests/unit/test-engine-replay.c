/* test-engine-replay: replaying an ended execution from a task run, with the real engine and
 * results answered by the test (no worker, no database). */
#include <stdio.h>
#include <stdlib.h>

#include "cleanup-jansson.h"
#include "engine-replay.h"
#include "engine.h"
#include "strbuf.h"
#include "strutil.h"
#include "tap.h"

static const char FLOW[] = "id: replay\nnamespace: t\n"
                           "inputs:\n  - id: who\n    type: STRING\n"
                           "tasks:\n"
                           "  - id: a\n    type: io.kestra.plugin.core.log.Log\n    message: a\n"
                           "  - id: seq\n    type: io.kestra.plugin.core.flow.Sequential\n    tasks:\n"
                           "      - id: b\n        type: io.kestra.plugin.core.log.Log\n        message: b\n"
                           "      - id: c\n        type: io.kestra.plugin.core.log.Log\n        message: c\n"
                           "  - id: d\n    type: io.kestra.plugin.core.log.Log\n    message: d\n";

/* Apply ev, then answer every job it emits (task `fail` fails, the others succeed with an output
 * naming the round), until nothing is left. Returns the task ids run, space-separated. */
static char *drive(const EngineConfig *cfg, const Flow *f, Execution *e, const char *fail, const char *round) {
        _cleanup_json_ json_t *queue = json_array(), *ran = json_array();
        json_array_append_new(queue, json_pack("{s:s, s:{}}", "type", ENGINE_EVENT_CREATED, "payload"));
        usec_t now = now_realtime();
        while (json_array_size(queue) > 0) {
                _cleanup_json_ json_t *ev = json_incref(json_array_get(queue, 0));
                json_array_remove(queue, 0);
                EngineEffects fx;
                if (engine_effects_init(&fx) < 0 ||
                    engine_apply(cfg, f, e, json_string_value(json_object_get(ev, "type")), json_object_get(ev, "payload"),
                                 now += 1000, &fx) < 0)
                        return NULL;
                size_t i;
                json_t *job;
                json_array_foreach(fx.jobs, i, job) {
                        const char *task = json_string_value(json_object_get(job, "taskId"));
                        json_array_append_new(ran, json_string(task));
                        bool bad = fail && streq(task, fail);
                        _cleanup_free_ char *out = strjoin(task, "@", round);
                        json_array_append_new(queue, json_pack("{s:s, s:{s:O, s:s, s:{s:s, s:{s:s}}}}", "type",
                                                               ENGINE_EVENT_TASK_RESULT, "payload", "taskRunId",
                                                               json_object_get(job, "taskRunId"), "workerId", "test",
                                                               "result", "state", bad ? "FAILED" : "SUCCESS", "outputs",
                                                               "value", out));
                }
                engine_effects_done(&fx);
        }
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        size_t i;
        json_t *t;
        json_array_foreach(ran, i, t)
                strbuf_appendf(&sb, "%s%s", i ? " " : "", json_string_value(t));
        return strbuf_steal(&sb) ?: strdup("");
}

/* Ids that count up, so that the test knows which one comes next. */
static int counter_id(void *userdata, char ret[static ID_MAX]) {
        unsigned *n = userdata;
        snprintf(ret, ID_MAX, "id%020u", ++*n);
        return 0;
}

static const TaskRun *run_of(const Execution *e, const char *task_id) {
        for (size_t i = 0; i < e->n_task_runs; i++)
                if (streq(e->task_runs[i]->task_id, task_id))
                        return e->task_runs[i];
        return NULL;
}

int main(void) {
        _cleanup_(flow_freep) Flow *f = NULL;
        FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        unsigned last_id = 0;
        EngineConfig cfg = { .new_id = counter_id, .id_userdata = &last_id };
        if (flow_load_string(FLOW, strlen(FLOW), "replay.yaml", &f, &diags) != 0) {
                flow_diagnostics_print(&diags, stdout);
                return 1;
        }
        flow_diagnostics_done(&diags);
        f->revision = 3;

        _cleanup_json_ json_t *inputs = json_pack("{s:s}", "who", "ada");
        _cleanup_execution_ Execution *old = NULL;
        ok(engine_execution_new(&cfg, f, NULL, inputs, NULL, NULL, now_realtime(), &old) == 0, "an execution");
        is_str(old->id, "id00000000000000000001", "its id from the configured source");
        _cleanup_free_ char *ran = drive(&cfg, f, old, "c", "first");
        is_str(ran, "a b c", "the first run stops where c fails");
        is_str(state_to_string(old->state.current), "FAILED", "and fails");

        const TaskRun *c = run_of(old, "c");
        _cleanup_execution_ Execution *e = NULL;
        ok(engine_replay(&cfg, old, c->id, now_realtime(), &e) == 0, "replay from c");
        ok(streq(e->id, "id00000000000000000006") && streq_ptr(e->original_id, old->id),
           "a new execution with the next id (after a b c and seq's runs), originalId the old one");
        is_str(state_to_string(e->state.current), "CREATED", "in state CREATED");
        ok(e->flow_revision == 3 && json_equal(e->inputs, inputs), "of the same revision, with the same inputs");
        ok(e->n_task_runs == 3 && run_of(e, "a") && run_of(e, "seq") && run_of(e, "b") && !run_of(e, "c") && !run_of(e, "d"),
           "keeps the task runs before c, drops c and what came after");
        ok(streq(run_of(e, "a")->id, run_of(old, "a")->id) &&
           streq_ptr(json_string_value(json_object_get(run_of(e, "b")->outputs, "value")), "b@first"),
           "the kept runs keep their ids and outputs");
        is_str(state_to_string(run_of(e, "b")->state.current), "SUCCESS", "a kept runnable stays SUCCESS");
        is_str(state_to_string(run_of(e, "seq")->state.current), "RUNNING", "c's flowable parent runs again");
        free(ran);
        ran = drive(&cfg, f, e, NULL, "replay");
        is_str(ran, "c d", "the replay runs c and what follows, not a or b");
        is_str(state_to_string(e->state.current), "SUCCESS", "and succeeds");
        ok(streq_ptr(json_string_value(json_object_get(run_of(e, "a")->outputs, "value")), "a@first") &&
           streq_ptr(json_string_value(json_object_get(run_of(e, "c")->outputs, "value")), "c@replay"),
           "a's output is the original's, c's the replay's");
        is_str(state_to_string(old->state.current), "FAILED", "the original is left as it was");

        _cleanup_execution_ Execution *whole = NULL;
        ok(engine_replay(&cfg, old, NULL, now_realtime(), &whole) == 0 && whole->n_task_runs == 0, "replay without a task run keeps none");
        free(ran);
        ran = drive(&cfg, f, whole, NULL, "whole");
        is_str(ran, "a b c d", "and runs the whole flow");

        _cleanup_execution_ Execution *first = NULL;
        ok(engine_replay(&cfg, old, run_of(old, "a")->id, now_realtime(), &first) == 0 && first->n_task_runs == 0,
           "replay from the first task keeps none");
        Execution *none = NULL;
        ok(engine_replay(&cfg, old, "nosuchtaskrun", now_realtime(), &none) == -ENOENT && !none, "an unknown task run is -ENOENT");
        return tap_done();
}

/* test-execution: execution/task-run model, lookups and the Kestra-shaped JSON round trip. */
#include <errno.h>
#include <stdio.h>

#include "cleanup-jansson.h"
#include "execution.h"
#include "tap.h"

int main(void) {
        _cleanup_execution_ Execution *e = NULL;
        TaskRun *a, *b, *c;

        Execution *none = NULL;
        ok(execution_new("an-id-longer-than-22-characters", "company.team", "hello", 3, 1000000, &none) == -EINVAL &&
                   !none,
           "an id longer than an id is refused");
        ok(execution_new("", "company.team", "hello", 3, 1000000, &none) == -EINVAL && !none, "so is an empty one");
        ok(execution_new("exec0000000000000000001", "company.team", "hello", 3, 1000000, &e) == -EINVAL,
           "23 characters do not fit");
        ok(execution_new("exec000000000000000001", "company.team", "hello", 3, 1000000, &e) == 0, "new execution");
        is_str(e->id, "exec000000000000000001", "with the caller's id");
        is_int(e->state.current, STATE_CREATED, "starts CREATED");

        ok(execution_add_task_run(e, "run-a", "loop", NULL, NULL, 1100000, &a) == 0, "top-level task run");
        is_str(a->id, "run-a", "with the caller's id");
        ok(execution_add_task_run(e, "run-b", "child", a->id, "v1", 1200000, &b) == 0, "child with loop value v1");
        ok(execution_add_task_run(e, "run-c", "child", a->id, "v2", 1200000, &c) == 0, "child with loop value v2");
        for (int i = 0; i < 50; i++) {
                char id[ID_MAX];
                snprintf(id, sizeof id, "many-%d", i);
                execution_add_task_run(e, id, "many", NULL, NULL, 1300000, NULL);
        }
        ok(e->n_task_runs == 53 && a == e->task_runs[0], "pointers stay valid while the list grows");
        ok(execution_find_task_run(e, c->id) == c, "find by id");
        ok(execution_find_task_run_by_task(e, "child", a->id, "v2") == c, "find by task, parent and value");
        ok(execution_find_task_run_by_task(e, "child", a->id, NULL) == NULL, "NULL value matches only NULL");
        ok(execution_find_task_run_by_task(e, "child", NULL, "v1") == NULL, "parent must match");

        TaskRunAttempt *at;
        ok(task_run_add_attempt(b, 1300000, &at) == 0 && b->n_attempts == 1, "attempt added");
        state_info_set(&at->state, STATE_RUNNING, 1400000);
        state_info_set(&at->state, STATE_SUCCESS, 1500000);
        at->worker_id = strdup("worker-1");
        state_info_set(&b->state, STATE_RUNNING, 1400000);
        state_info_set(&b->state, STATE_SUCCESS, 1500000);
        b->outputs = json_pack("{s:s}", "value", "hello");
        b->iteration = 0;
        json_object_set_new(e->inputs, "name", json_string("world"));
        json_array_append_new(e->labels, json_pack("{s:s,s:s}", "key", "team", "value", "data"));
        e->engine = json_pack("{s:i}", "cursor", 7);
        e->parent_id = strdup("parentexecution0000001");

        _cleanup_json_ json_t *j = execution_to_json(e);
        is_str(json_string_value(json_object_get(j, "flowId")), "hello", "flowId");
        is_int(json_integer_value(json_object_get(j, "flowRevision")), 3, "flowRevision");
        is_str(json_string_value(json_object_get(json_object_get(j, "state"), "current")), "CREATED", "state.current");
        json_t *list = json_object_get(j, "taskRunList");
        is_int(json_array_size(list), 53, "taskRunList");
        json_t *jb = json_array_get(list, 1);
        is_str(json_string_value(json_object_get(jb, "parentTaskRunId")), a->id, "parentTaskRunId");
        is_str(json_string_value(json_object_get(jb, "value")), "v1", "value");
        is_str(json_string_value(json_object_get(jb, "executionId")), e->id, "executionId");
        ok(json_is_null(json_object_get(json_array_get(list, 0), "value")), "no value is null");
        is_str(json_string_value(json_object_get(json_object_get(jb, "outputs"), "value")), "hello", "outputs");
        json_t *jat = json_array_get(json_object_get(jb, "attempts"), 0);
        is_str(json_string_value(json_object_get(json_object_get(jat, "state"), "current")), "SUCCESS",
               "attempts[0].state.current");
        is_str(json_string_value(json_object_get(json_object_get(jb, "state"), "duration")), "PT0.3S",
               "task run duration runs from creation to the end");

        _cleanup_execution_ Execution *back = NULL;
        ok(execution_from_json(j, &back) == 0, "parse back");
        _cleanup_json_ json_t *j2 = execution_to_json(back);
        ok(json_equal(j, j2), "JSON round trip is exact");
        TaskRun *bb = execution_find_task_run(back, b->id);
        ok(bb && bb->n_attempts == 1 && streq(bb->attempts[0].worker_id, "worker-1") && bb->iteration == 0,
           "attempts, worker and iteration survive");
        is_int(json_integer_value(json_object_get(back->engine, "cursor")), 7, "engine bookkeeping survives");

        _cleanup_execution_ Execution *cp = NULL;
        ok(execution_copy(e, &cp) == 0 && cp->n_task_runs == 53 && streq(cp->id, e->id), "copy");

        _cleanup_json_ json_t *bad = json_pack("{s:s}", "id", "x");
        is_int(execution_from_json(bad, &none), -EBADMSG, "missing fields are malformed");
        json_object_set_new(j, "taskRunList", json_string("nope"));
        is_int(execution_from_json(j, &none), -EBADMSG, "taskRunList must be a list");
        return tap_done();
}

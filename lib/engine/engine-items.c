/* engine-items.c: ForEachItem: one subflow execution per batch of the items of a file.
 *
 * Splitting needs internal storage, which the engine (pure) and the executor's step (one transaction,
 * no long I/O) should not do: a worker job of the internal type ForEachItem.split
 * (daemons/worker/tasks/split.c) streams the file into batch files "<i><ext>" under the task run's
 * prefix and answers with their number and that prefix, as Kestra's ForEachItemSplit does. The
 * executor then creates the subflow executions itself, as for Subflow, naming batch i's URI without
 * reading anything: at most ITEMS_PER_STEP per step, a "foreachitem" timer due at once asking for the
 * next ones, so that a file of 10,000 lines never makes one step (or one transaction) hold 10,000
 * executions. What the task run keeps is a few counters, whatever the number of batches.
 *
 * When the batches have ended, the outputs of the subflows that have some (each flow's `outputs`, kept
 * per iteration as they end) go to a second job, ForEachItem.merge (Kestra's ForEachItemMergeOutputs),
 * which writes them one Ion line per batch, in batch order, into the file outputs.<id>.subflowOutputs
 * names. A restart with restartBehavior RETRY_FAILED (the default) restarts the batches' failed
 * executions themselves; NEW_EXECUTION splits again and starts every batch anew.
 *
 * Bookkeeping (tr->engine): splitting (the split job is out), batches/prefix/extension (its answer),
 * created, ended, worst (the worst state transmitted), iterations (state -> count), failed (the
 * execution ids of failed batches), subflowOutputs (iteration -> outputs), merging (the merge job is
 * out), merged (its file's URI). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "engine-internal.h"
#include "json-limits.h"
#include "strutil.h"

#define ITEMS_PER_STEP 100
#define SPLIT_TYPE "ForEachItem.split"
#define MERGE_TYPE "ForEachItem.merge"

static int64_t bk_int(json_t *bk, const char *key) {
        json_t *v = json_object_get(bk, key);
        return json_is_integer(v) ? json_integer_value(v) : 0;
}

static bool bool_prop(const Task *t, const char *name, bool def) {
        json_t *v = task_property(t, name);
        if (json_is_boolean(v))
                return json_is_true(v);
        if (json_is_string(v))
                return streq(json_string_value(v), "true");
        return def;
}

static int fail_items(Engine *E, TaskRun *tr, const char *fmt, ...) _printf_(3, 4);
static int fail_items(Engine *E, TaskRun *tr, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r >= 0)
                engine_log(E, tr, "ERROR", "ForEachItem: %s", m);
        free(m);
        return engine_run_set(E, tr, STATE_FAILED);
}

/* outputs.<id>: numberOfBatches and iterations (state -> count, RUNNING for those not ended), as
 * Kestra shows them on the task run of its ForEachItemExecutable. */
static int items_outputs(Engine *E, TaskRun *tr, bool wait) {
        json_t *bk = tr->engine;
        int64_t n = bk_int(bk, "batches"), created = bk_int(bk, "created"), ended = bk_int(bk, "ended");
        json_t *have = json_object_get(bk, "iterations");
        _cleanup_json_ json_t *it = have ? json_deep_copy(have) : json_object();
        if (!it)
                return -ENOMEM;
        if (wait) {
                json_object_set_new(it, "CREATED", json_integer(0));
                json_object_set_new(it, "RUNNING", json_integer(created - ended));
        } else {
                /* Not waited for: what was created counts as done, as Kestra reports it. */
                json_object_set_new(it, "RUNNING", json_integer(0));
                json_object_set_new(it, "SUCCESS", json_integer(created));
        }
        json_t *o = json_pack("{s:I, s:O}", "numberOfBatches", (json_int_t) n, "iterations", it);
        if (!o)
                return -ENOMEM;
        json_t *merged = json_object_get(bk, "merged");
        if (json_is_string(merged)) {
                /* Kestra's uri names one batch's file of outputs; tern keeps only the merged one. */
                json_object_set(o, "subflowOutputs", merged);
                json_object_set(o, "uri", merged);
        }
        json_decref(tr->outputs);
        tr->outputs = o;
        engine_outputs_changed(E);
        return 0;
}

/* Create the subflow executions of batches [created, created + ITEMS_PER_STEP). */
static int create_batch_subflows(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = tr->engine;
        int64_t n = bk_int(bk, "batches"), created = bk_int(bk, "created");
        const char *prefix = json_string_value(json_object_get(bk, "prefix"));
        const char *ext = json_string_value(json_object_get(bk, "extension"));
        _cleanup_json_ json_t *ns = NULL, *flow_id = NULL, *vars = NULL;
        _cleanup_free_ char *err = NULL;
        bool wait = bool_prop(t, "wait", true), inherit = bool_prop(t, "inheritLabels", false);
        int r;

        if (!prefix || !ext)
                return fail_items(E, tr, "the split job gave no batch files");
        if ((r = engine_render_value(E, t, tr, task_property(t, "namespace"), &ns, &err)) < 0 ||
            (r = engine_render_value(E, t, tr, task_property(t, "flowId"), &flow_id, &err)) < 0)
                return r == -ENOMEM ? r : fail_items(E, tr, "%s", strempty(err));
        if (!json_is_string(ns) || !json_is_string(flow_id))
                return fail_items(E, tr, "namespace and flowId are required");
        if (!(vars = engine_variables(E, t, tr)))
                return -ENOMEM;
        json_t *taskrun = json_object_get(vars, "taskrun");
        int64_t end = MIN(n, created + ITEMS_PER_STEP);
        for (int64_t i = created; i < end; i++) {
                _cleanup_json_ json_t *inputs = NULL, *labels = NULL;
                _cleanup_free_ char *uri = strdup_printf("%s%lld%s", prefix, (long long) i, ext);
                char child[ID_MAX];
                if (!uri)
                        return -ENOMEM;
                /* taskrun.items and taskrun.iteration: the batch, for the inputs and labels. */
                json_object_set_new(taskrun, "items", json_string(uri));
                json_object_set_new(taskrun, "iteration", json_integer(i));
                if ((r = engine_render_with(E, tr, vars, task_property(t, "inputs"), &inputs, &err)) < 0 ||
                    (r = engine_render_with(E, tr, vars, task_property(t, "labels"), &labels, &err)) < 0)
                        return r == -ENOMEM ? r : fail_items(E, tr, "batch %lld: %s", (long long) i, strempty(err));
                if ((r = engine_new_id(E->cfg, child)) < 0)
                        return r;
                json_t *req = json_pack("{s:s, s:O, s:O, s:o, s:O, s:s, s:s, s:b, s:b, s:I}", "executionId", child,
                                        "namespace", ns, "flowId", flow_id, "inputs",
                                        json_ref_or_object(json_is_object(inputs) ? inputs : NULL), "labels",
                                        labels ? labels : json_null(), "parentExecutionId", E->e->id, "parentTaskRunId",
                                        tr->id, "wait", wait, "inheritLabels", inherit, "iteration", (json_int_t) i);
                if (!req)
                        return -ENOMEM;
                json_t *rev = task_property(t, "revision");
                if (json_is_integer(rev))
                        json_object_set(req, "revision", rev);
                if (inherit)
                        json_object_set(req, "parentLabels", E->e->labels);
                if (json_array_append_new(E->fx->subflows, req) < 0)
                        return -ENOMEM;
        }
        json_object_set_new(bk, "created", json_integer(end));
        E->progressed = true;
        if (end < n)
                return engine_emit_timer(E, tr, "foreachitem", E->now);
        return 0;
}

/* Once every batch has ended: the subflows' outputs into one file, by the merge job. Returns 1 while
 * it is out, 0 when there is nothing (more) to merge. */
static int merge_outputs(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = tr->engine, *kept = json_object_get(bk, "subflowOutputs");
        if (json_object_get(bk, "merged") || json_object_size(kept) == 0)
                return 0;
        if (json_is_true(json_object_get(bk, "merging")))
                return 1;
        _cleanup_json_ json_t *list = json_array(), *props = NULL;
        if (!list)
                return -ENOMEM;
        /* In batch order, as Kestra lists its per-batch files. */
        for (int64_t i = 0, n = bk_int(bk, "batches"); i < n; i++) {
                char key[32];
                snprintf(key, sizeof key, "%lld", (long long) i);
                json_t *o = json_object_get(kept, key);
                if (o && json_array_append(list, o) < 0)
                        return -ENOMEM;
        }
        if (!(props = json_pack("{s:O}", "outputs", list)))
                return -ENOMEM;
        json_object_set_new(bk, "merging", json_true());
        int r = engine_emit_job_as(E, t, tr, MERGE_TYPE, props);
        return r < 0 ? r : 1;
}

int engine_resolve_for_each_item(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = engine_run_bookkeeping(tr);
        int r;
        if (!bk)
                return -ENOMEM;
        bool wait = bool_prop(t, "wait", true);

        if (E->killing) {
                /* The split or merge job may be out; the subflows already created run on (as a Subflow's do). */
                if ((json_is_true(json_object_get(bk, "splitting")) || json_is_true(json_object_get(bk, "merging"))) &&
                    json_array_append_new(E->fx->cancels, json_string(tr->id)) < 0)
                        return -ENOMEM;
                return engine_run_set(E, tr, STATE_KILLED);
        }
        if (json_is_true(json_object_get(bk, "splitting")) || json_is_true(json_object_get(bk, "merging")))
                return 0; /* waiting for the split or merge job */
        if (!json_object_get(bk, "batches")) {
                /* First: the worker splits the file. items and batch are rendered by the worker. */
                _cleanup_json_ json_t *props = json_pack("{s:O?, s:O?}", "items", task_property(t, "items"), "batch",
                                                         task_property(t, "batch"));
                if (!props)
                        return -ENOMEM;
                json_object_set_new(bk, "splitting", json_true());
                if (tr->state.current != STATE_RUNNING && (r = engine_run_set(E, tr, STATE_RUNNING)) < 0)
                        return r;
                return engine_emit_job_as(E, t, tr, SPLIT_TYPE, props);
        }
        int64_t n = bk_int(bk, "batches"), created = bk_int(bk, "created"), ended = bk_int(bk, "ended");
        if (n == 0)
                return engine_run_set(E, tr, STATE_SUCCESS); /* no items: nothing to run, no outputs (Kestra's) */
        if (created < n && !json_is_true(json_object_get(bk, "pending"))) {
                /* One chunk per step; the "foreachitem" timer clears "pending" for the next. */
                if ((r = create_batch_subflows(E, t, tr)) < 0 || state_is_terminal(tr->state.current))
                        return r;
                created = bk_int(bk, "created");
                if (created < n)
                        json_object_set_new(bk, "pending", json_true());
                if ((r = items_outputs(E, tr, wait)) < 0)
                        return r;
        }
        if (created < n)
                return 0;
        if (!wait)
                return engine_run_set(E, tr, STATE_SUCCESS);
        if (ended < n)
                return 0;
        const char *worst = json_string_value(json_object_get(bk, "worst"));
        State end = worst ? state_from_string(worst) : STATE_SUCCESS;
        if (!state_is_failed(end) && (r = merge_outputs(E, t, tr)) != 0)
                return r < 0 ? r : 0; /* the merge job is out */
        return engine_run_set(E, tr, end);
}

int engine_for_each_item_split_result(Engine *E, const Task *t, TaskRun *tr, State s, json_t *outputs) {
        json_t *bk = tr->engine;
        if (engine_task_hook(t) != TASK_HOOK_FOR_EACH_ITEM)
                return 0;
        if (json_is_true(json_object_get(bk, "merging"))) {
                json_object_del(bk, "merging");
                json_t *uri = json_object_get(outputs, "subflowOutputs");
                if (s != STATE_SUCCESS || !json_is_string(uri))
                        return 0; /* the task fails as any task whose job failed */
                json_object_set(bk, "merged", uri);
                json_object_del(bk, "subflowOutputs"); /* in the file now */
                E->progressed = true;
                int r = items_outputs(E, tr, bool_prop(t, "wait", true));
                return r < 0 ? r : 1;
        }
        if (!json_is_true(json_object_get(bk, "splitting")))
                return 0;
        json_object_del(bk, "splitting");
        if (s != STATE_SUCCESS)
                return 0; /* the task fails (or retries) as any task whose job failed */
        json_t *n = json_object_get(outputs, "numberOfBatches");
        if (!json_is_integer(n) || json_integer_value(n) < 0) {
                engine_log(E, tr, "ERROR", "ForEachItem: the split job answered without numberOfBatches");
                return 0;
        }
        json_object_set(bk, "batches", n);
        json_object_set(bk, "prefix", json_object_get(outputs, "batchPrefix"));
        json_object_set(bk, "extension", json_object_get(outputs, "extension"));
        json_object_set_new(bk, "created", json_integer(0));
        json_object_set_new(bk, "ended", json_integer(0));
        engine_log(E, tr, "INFO", "ForEachItem: %lld batch(es) of items", (long long) json_integer_value(n));
        E->progressed = true;
        return 1;
}

int engine_for_each_item_child_ended(Engine *E, const Task *t, TaskRun *tr, State child, json_t *payload) {
        json_t *bk = engine_run_bookkeeping(tr);
        if (!bk)
                return -ENOMEM;
        json_t *id = json_object_get(payload, "executionId"), *iteration = json_object_get(payload, "iteration"),
               *outputs = json_object_get(payload, "outputs");
        /* A failed batch's execution is what a RETRY_FAILED restart restarts. */
        if ((child < 0 || state_is_failed(child) || child == STATE_CANCELLED) && json_is_string(id)) {
                json_t *failed = json_object_get(bk, "failed");
                if (!failed && (!(failed = json_array()) || json_object_set_new(bk, "failed", failed) < 0))
                        return -ENOMEM;
                if (json_array_append(failed, id) < 0)
                        return -ENOMEM;
        }
        /* The batch's flow outputs, for the merged file (a restarted batch's replace its first ones). */
        if (json_is_integer(iteration) && json_object_size(outputs) > 0) {
                _cleanup_free_ char *too_big = NULL;
                json_t *kept = json_object_get(bk, "subflowOutputs");
                char key[32];
                if (json_value_check(outputs, "the subflow's outputs", &too_big) < 0) {
                        engine_log(E, tr, "ERROR", "ForEachItem: %s", too_big ? too_big : "the subflow's outputs are too large");
                        child = STATE_FAILED;
                } else {
                        if (!kept && (!(kept = json_object()) || json_object_set_new(bk, "subflowOutputs", kept) < 0))
                                return -ENOMEM;
                        snprintf(key, sizeof key, "%lld", (long long) json_integer_value(iteration));
                        if (json_object_set(kept, key, outputs) < 0)
                                return -ENOMEM;
                }
        }
        json_t *it = json_object_get(bk, "iterations");
        if (!it) {
                it = json_object();
                if (!it || json_object_set_new(bk, "iterations", it) < 0)
                        return -ENOMEM;
        }
        const char *name = state_to_string(child < 0 ? STATE_FAILED : child);
        json_object_set_new(it, name, json_integer(bk_int(it, name) + 1));
        json_object_set_new(bk, "ended", json_integer(bk_int(bk, "ended") + 1));
        /* What the task run ends with: a failed or killed batch fails it when transmitFailed (the
         * default), a warning always warns, as for a Subflow. */
        State s = STATE_SUCCESS;
        if (child == STATE_WARNING)
                s = STATE_WARNING;
        else if (child < 0 || state_is_failed(child) || child == STATE_CANCELLED)
                s = bool_prop(t, "transmitFailed", true) ? STATE_FAILED : STATE_SUCCESS;
        const char *worst = json_string_value(json_object_get(bk, "worst"));
        State w = worst ? state_worst(state_from_string(worst), s) : s;
        json_object_set_new(bk, "worst", json_string(state_to_string(w)));
        E->progressed = true;
        return items_outputs(E, tr, true);
}

int engine_for_each_item_restart(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = tr->engine;
        const char *behavior = json_string_value(task_property(t, "restartBehavior"));
        json_t *failed = json_object_get(bk, "failed");
        int64_t n = bk_int(bk, "batches");

        /* NEW_EXECUTION, or nothing to retry (the split or the creation of the batches failed):
         * everything anew. */
        if ((behavior && streq(behavior, "NEW_EXECUTION")) || !json_object_get(bk, "batches") ||
            bk_int(bk, "created") < n || bk_int(bk, "ended") < n || json_array_size(failed) == 0) {
                json_object_clear(bk);
                return 0;
        }
        /* RETRY_FAILED: the failed batches' executions restart; the others keep what they did. */
        json_t *it = json_object_get(bk, "iterations");
        const char *k;
        json_t *v;
        void *tmp;
        int64_t gone = 0;
        json_object_foreach_safe(it, tmp, k, v) {
                State st = state_from_string(k);
                if (st < 0 || state_is_failed(st) || st == STATE_CANCELLED) {
                        gone += json_integer_value(v);
                        json_object_del(it, k);
                }
        }
        size_t i;
        json_t *id;
        json_array_foreach(failed, i, id) {
                json_t *ev = json_pack("{s:O, s:s, s:{}, s:i}", "executionId", id, "type", ENGINE_EVENT_RESTART, "payload",
                                       "dueAt", 0);
                if (!ev || json_array_append_new(E->fx->events, ev) < 0)
                        return -ENOMEM;
        }
        engine_log(E, tr, "INFO", "ForEachItem: restarting %zu failed batch execution(s)", json_array_size(failed));
        json_object_set_new(bk, "ended", json_integer(bk_int(bk, "ended") - gone));
        json_object_set_new(bk, "worst", json_string(bk_int(it, "WARNING") > 0 ? "WARNING" : "SUCCESS"));
        json_object_del(bk, "failed");
        json_object_del(bk, "merging");
        E->progressed = true;
        return items_outputs(E, tr, true);
}

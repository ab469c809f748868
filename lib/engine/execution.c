/* execution.c: execution and task-run model and its Kestra-shaped JSON. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "execution.h"
#include "json-limits.h"
#include "macro.h"

static TaskRun *task_run_free(TaskRun *tr) {
        if (!tr)
                return NULL;
        free(tr->task_id);
        free(tr->parent_task_run_id);
        free(tr->value);
        state_info_done(&tr->state);
        for (size_t i = 0; i < tr->n_attempts; i++) {
                state_info_done(&tr->attempts[i].state);
                free(tr->attempts[i].worker_id);
        }
        free(tr->attempts);
        json_decref(tr->outputs);
        json_decref(tr->engine);
        free(tr);
        return NULL;
}
DEFINE_FREE_CLEANUP(TaskRun, task_run_free)

Execution *execution_free(Execution *e) {
        if (!e)
                return NULL;
        free(e->namespace);
        free(e->flow_id);
        state_info_done(&e->state);
        json_decref(e->inputs);
        json_decref(e->outputs);
        json_decref(e->labels);
        json_decref(e->variables);
        json_decref(e->trigger);
        free(e->parent_id);
        free(e->original_id);
        for (size_t i = 0; i < e->n_task_runs; i++)
                task_run_free(e->task_runs[i]);
        free(e->task_runs);
        json_decref(e->engine);
        free(e);
        return NULL;
}

static int strdup_opt(const char *s, char **ret) {
        if (!s) {
                *ret = NULL;
                return 0;
        }
        *ret = strdup(s);
        return *ret ? 0 : -ENOMEM;
}

/* Ids made elsewhere (Kestra, tests) may differ in length; keep what fits, refuse the rest. */
static int id_copy(const char *s, char out[static ID_MAX]) {
        if (!s || !*s || strlen(s) >= ID_MAX)
                return -EINVAL;
        strcpy(out, s);
        return 0;
}

int execution_new(const char *id, const char *namespace, const char *flow_id, int flow_revision, usec_t now,
                  Execution **ret) {
        _cleanup_execution_ Execution *e = calloc(1, sizeof *e);
        int r;

        if (!e)
                return -ENOMEM;
        r = id_copy(id, e->id);
        if (r < 0)
                return r;
        e->namespace = strdup(namespace);
        e->flow_id = strdup(flow_id);
        e->flow_revision = flow_revision;
        e->inputs = json_object();
        e->labels = json_array();
        if (!e->namespace || !e->flow_id || !e->inputs || !e->labels)
                return -ENOMEM;
        r = state_info_init(&e->state, STATE_CREATED, now);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

static int execution_push(Execution *e, TaskRun *tr) {
        if (e->n_task_runs == e->n_allocated) {
                size_t n = MAX(e->n_allocated * 2, 8u);
                TaskRun **a = realloc(e->task_runs, sizeof(TaskRun *) * n);
                if (!a)
                        return -ENOMEM;
                e->task_runs = a;
                e->n_allocated = n;
        }
        e->task_runs[e->n_task_runs++] = tr;
        return 0;
}

int execution_add_task_run(Execution *e, const char *id, const char *task_id, const char *parent_task_run_id,
                           const char *value, usec_t now, TaskRun **ret) {
        _cleanup_(task_run_freep) TaskRun *tr = calloc(1, sizeof *tr);
        int r;

        if (!tr)
                return -ENOMEM;
        r = id_copy(id, tr->id);
        if (r < 0)
                return r;
        tr->iteration = -1;
        if (!(tr->task_id = strdup(task_id)) || strdup_opt(parent_task_run_id, &tr->parent_task_run_id) < 0 ||
            strdup_opt(value, &tr->value) < 0)
                return -ENOMEM;
        r = state_info_init(&tr->state, STATE_CREATED, now);
        if (r < 0)
                return r;
        r = execution_push(e, tr);
        if (r < 0)
                return r;
        if (ret)
                *ret = tr;
        TAKE_PTR(tr);
        return 0;
}

TaskRun *execution_find_task_run(const Execution *e, const char *task_run_id) {
        for (size_t i = 0; i < e->n_task_runs; i++)
                if (streq(e->task_runs[i]->id, task_run_id))
                        return e->task_runs[i];
        return NULL;
}

TaskRun *execution_find_task_run_by_task(const Execution *e, const char *task_id, const char *parent_task_run_id,
                                         const char *value) {
        for (size_t i = 0; i < e->n_task_runs; i++) {
                TaskRun *tr = e->task_runs[i];
                if (streq(tr->task_id, task_id) && streq_ptr(tr->parent_task_run_id, parent_task_run_id) &&
                    streq_ptr(tr->value, value))
                        return tr;
        }
        return NULL;
}

void execution_remove_task_run(Execution *e, TaskRun *tr) {
        for (size_t i = 0; i < e->n_task_runs; i++)
                if (e->task_runs[i] == tr) {
                        memmove(e->task_runs + i, e->task_runs + i + 1, sizeof(TaskRun *) * (e->n_task_runs - i - 1));
                        e->n_task_runs--;
                        task_run_free(tr);
                        return;
                }
}

int task_run_add_attempt(TaskRun *tr, usec_t now, TaskRunAttempt **ret) {
        TaskRunAttempt *a = realloc(tr->attempts, sizeof(TaskRunAttempt) * (tr->n_attempts + 1));
        if (!a)
                return -ENOMEM;
        tr->attempts = a;
        TaskRunAttempt *n = &a[tr->n_attempts];
        *n = (TaskRunAttempt) {};
        int r = state_info_init(&n->state, STATE_CREATED, now);
        if (r < 0)
                return r;
        tr->n_attempts++;
        if (ret)
                *ret = n;
        return 0;
}

TaskRunAttempt *task_run_last_attempt(const TaskRun *tr) {
        return tr->n_attempts ? &tr->attempts[tr->n_attempts - 1] : NULL;
}

static json_t *json_string_or_null(const char *s) {
        return s ? json_string(s) : json_null();
}

static json_t *json_ref_or_null(json_t *j) {
        return j ? json_incref(j) : json_null();
}

json_t *task_run_to_json(const Execution *e, const TaskRun *tr) {
        _cleanup_json_ json_t *attempts = json_array();
        if (!attempts)
                return NULL;
        for (size_t i = 0; i < tr->n_attempts; i++) {
                json_t *a = json_pack("{s:o}", "state", state_info_to_json(&tr->attempts[i].state));
                if (!a || json_array_append_new(attempts, a) < 0)
                        return NULL;
                if (tr->attempts[i].worker_id)
                        json_object_set_new(a, "workerId", json_string(tr->attempts[i].worker_id));
        }
        json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:O, s:o, s:o}", "id", tr->id, "executionId",
                              e->id, "namespace", e->namespace, "flowId", e->flow_id, "taskId", tr->task_id,
                              "parentTaskRunId", json_string_or_null(tr->parent_task_run_id), "value",
                              json_string_or_null(tr->value), "iteration",
                              tr->iteration >= 0 ? json_integer(tr->iteration) : json_null(), "attempts", attempts,
                              "outputs", json_ref_or_null(tr->outputs), "state", state_info_to_json(&tr->state));
        if (j && tr->engine)
                json_object_set(j, "ternEngine", tr->engine);
        return j;
}

/* The execution's fields around a ready task run list (stolen). */
static json_t *execution_json_around(const Execution *e, json_t *list, json_t *labels) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "id", e->id,
                              "namespace", e->namespace, "flowId", e->flow_id, "flowRevision", e->flow_revision,
                              "state", state_info_to_json(&e->state), "inputs", json_ref_or_null(e->inputs),
                              "outputs", json_ref_or_null(e->outputs), "labels", labels ?: json_null(),
                              "trigger", json_ref_or_null(e->trigger), "parentId", json_string_or_null(e->parent_id),
                              "originalId", json_string_or_null(e->original_id), "taskRunList", list);
        if (!j)
                return NULL;
        if (e->variables)
                json_object_set(j, "variables", e->variables);
        if (e->engine)
                json_object_set(j, "ternEngine", e->engine);
        return j;
}

json_t *execution_to_json(const Execution *e) {
        _cleanup_json_ json_t *list = json_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < e->n_task_runs; i++) {
                json_t *t = task_run_to_json(e, e->task_runs[i]);
                if (!t || json_array_append_new(list, t) < 0)
                        return NULL;
        }
        return execution_json_around(e, TAKE_PTR(list), json_ref_or_null(e->labels));
}

json_t *execution_to_json_from(const Execution *e, json_t *prev_list, const bool *changed) {
        _cleanup_json_ json_t *list = json_array();
        if (!list)
                return NULL;
        for (size_t i = 0; i < e->n_task_runs; i++) {
                json_t *t;
                if (changed && !changed[i] && (t = json_array_get(prev_list, i)))
                        t = json_incref(t);
                else if ((t = task_run_to_json(e, e->task_runs[i])) && e->task_runs[i]->engine) {
                        /* Its own copy: the engine changes the bookkeeping in place at later steps. */
                        json_t *copy = json_deep_copy(e->task_runs[i]->engine);
                        if (!copy || json_object_set_new(t, "ternEngine", copy) < 0) {
                                json_decref(t);
                                t = NULL;
                        }
                }
                if (!t || json_array_append_new(list, t) < 0)
                        return NULL;
        }
        json_t *labels = e->labels ? json_deep_copy(e->labels) : json_null();
        if (!labels)
                return NULL;
        return execution_json_around(e, TAKE_PTR(list), labels);
}

/* Copy a string member; absent or null gives NULL, another type is malformed. */
static int get_opt_string(json_t *o, const char *key, char **ret) {
        json_t *v = json_object_get(o, key);
        if (!v || json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_string(v))
                return -EBADMSG;
        return strdup_opt(json_string_value(v), ret);
}

static json_t *get_opt_ref(json_t *o, const char *key) {
        json_t *v = json_object_get(o, key);
        return v && !json_is_null(v) ? json_incref(v) : NULL;
}

/* A private copy, for the values the engine changes in place (bookkeeping, labels): the document
 * read stays what was stored, so a save can tell what changed against it. */
static int get_opt_copy(json_t *o, const char *key, json_t **ret) {
        json_t *v = json_object_get(o, key);
        if (!v || json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        *ret = json_deep_copy(v);
        return *ret ? 0 : -ENOMEM;
}

static int copy_id(json_t *o, const char *key, char out[static ID_MAX]) {
        return id_copy(json_string_value(json_object_get(o, key)), out) < 0 ? -EBADMSG : 0;
}

static int task_run_from_json(json_t *j, TaskRun **ret) {
        _cleanup_(task_run_freep) TaskRun *tr = calloc(1, sizeof *tr);
        json_t *attempts, *a;
        size_t i;
        int r;

        if (!tr)
                return -ENOMEM;
        if (!json_is_object(j) || copy_id(j, "id", tr->id) < 0)
                return -EBADMSG;
        const char *task_id = json_string_value(json_object_get(j, "taskId"));
        if (!task_id)
                return -EBADMSG;
        if (!(tr->task_id = strdup(task_id)))
                return -ENOMEM;
        if ((r = get_opt_string(j, "parentTaskRunId", &tr->parent_task_run_id)) < 0 ||
            (r = get_opt_string(j, "value", &tr->value)) < 0)
                return r;
        json_t *it = json_object_get(j, "iteration");
        tr->iteration = json_is_integer(it) ? (int) json_integer_value(it) : -1;
        r = state_info_from_json(json_object_get(j, "state"), &tr->state);
        if (r < 0)
                return r;
        attempts = json_object_get(j, "attempts");
        if (attempts && !json_is_array(attempts))
                return -EBADMSG;
        if (json_array_size(attempts) > 0) {
                tr->attempts = calloc(json_array_size(attempts), sizeof(TaskRunAttempt));
                if (!tr->attempts)
                        return -ENOMEM;
                json_array_foreach(attempts, i, a) {
                        TaskRunAttempt *t = &tr->attempts[tr->n_attempts];
                        r = state_info_from_json(json_object_get(a, "state"), &t->state);
                        if (r < 0)
                                return r;
                        tr->n_attempts++;
                        if ((r = get_opt_string(a, "workerId", &t->worker_id)) < 0)
                                return r;
                }
        }
        tr->outputs = get_opt_ref(j, "outputs");
        if ((r = get_opt_copy(j, "ternEngine", &tr->engine)) < 0)
                return r;
        *ret = TAKE_PTR(tr);
        return 0;
}

int execution_from_json(json_t *j, Execution **ret) {
        _cleanup_execution_ Execution *e = calloc(1, sizeof *e);
        json_t *list, *t;
        size_t i;
        int r;

        if (!e)
                return -ENOMEM;
        if (!json_is_object(j) || copy_id(j, "id", e->id) < 0)
                return -EBADMSG;
        const char *ns = json_string_value(json_object_get(j, "namespace")),
                   *flow = json_string_value(json_object_get(j, "flowId"));
        if (!ns || !flow)
                return -EBADMSG;
        if (!(e->namespace = strdup(ns)) || !(e->flow_id = strdup(flow)))
                return -ENOMEM;
        e->flow_revision = (int) json_integer_value(json_object_get(j, "flowRevision"));
        r = state_info_from_json(json_object_get(j, "state"), &e->state);
        if (r < 0)
                return r;
        e->inputs = get_opt_ref(j, "inputs");
        if (!e->inputs && !(e->inputs = json_object()))
                return -ENOMEM;
        e->outputs = get_opt_ref(j, "outputs");
        if ((r = get_opt_copy(j, "labels", &e->labels)) < 0)
                return r;
        if (!e->labels && !(e->labels = json_array()))
                return -ENOMEM;
        e->variables = get_opt_ref(j, "variables");
        e->trigger = get_opt_ref(j, "trigger");
        if ((r = get_opt_copy(j, "ternEngine", &e->engine)) < 0)
                return r;
        if ((r = get_opt_string(j, "parentId", &e->parent_id)) < 0 ||
            (r = get_opt_string(j, "originalId", &e->original_id)) < 0)
                return r;
        list = json_object_get(j, "taskRunList");
        if (list && !json_is_array(list))
                return -EBADMSG;
        json_array_foreach(list, i, t) {
                TaskRun *tr;
                r = task_run_from_json(t, &tr);
                if (r < 0)
                        return r;
                r = execution_push(e, tr);
                if (r < 0) {
                        task_run_free(tr);
                        return r;
                }
        }
        *ret = TAKE_PTR(e);
        return 0;
}

int execution_copy(const Execution *e, Execution **ret) {
        _cleanup_json_ json_t *j = execution_to_json(e);
        if (!j)
                return -ENOMEM;
        return execution_from_json(j, ret);
}

/* Each value on its own, so that the message names the one that is too deep. */
static int check_members(json_t *o, const char *prefix, const char *suffix, char **ret_error) {
        const char *k;
        json_t *v;
        json_object_foreach(o, k, v) {
                char what[256];
                snprintf(what, sizeof what, "%s%s%s", prefix, k, suffix);
                int r = json_value_check(v, what, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int execution_check_values(const Execution *e, char **ret_error) {
        size_t i;
        json_t *l;
        int r;

        if ((r = check_members(e->inputs, "input '", "'", ret_error)) < 0)
                return r;
        json_array_foreach(e->labels, i, l) {
                char what[256];
                snprintf(what, sizeof what, "label '%s'", strna(json_string_value(json_object_get(l, "key"))));
                if ((r = json_value_check(json_object_get(l, "value"), what, ret_error)) < 0)
                        return r;
        }
        if (json_is_object(e->labels) && (r = check_members(e->labels, "label '", "'", ret_error)) < 0)
                return r;
        if ((r = check_members(json_object_get(e->trigger, "variables"), "trigger.", "", ret_error)) < 0)
                return r;
        /* The whole, for the size: many values each below the limit can add up. */
        return json_value_check(e->inputs, "the inputs", ret_error);
}

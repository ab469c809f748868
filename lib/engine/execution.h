/* execution.h: the execution and task-run model, and its JSON form with Kestra's field names. */
#pragma once

#include <jansson.h>

#include "id.h"
#include "macro.h"
#include "state.h"

typedef struct TaskRunAttempt {
        StateInfo state;
        char *worker_id; /* worker that ran this attempt, NULL until claimed */
} TaskRunAttempt;

typedef struct TaskRun {
        char id[ID_MAX];
        char *task_id;
        char *parent_task_run_id; /* NULL at the top level */
        char *value;              /* loop value (ForEach, EachSequential...), NULL otherwise */
        int iteration;            /* -1: none */
        StateInfo state;
        TaskRunAttempt *attempts;
        size_t n_attempts;
        json_t *outputs; /* object, or NULL when the task produced none */
        json_t *engine;  /* the executor's bookkeeping for this task run (opaque here), or NULL */
} TaskRun;

typedef struct Execution {
        char id[ID_MAX];
        char *namespace;
        char *flow_id;
        int flow_revision;
        StateInfo state;
        json_t *inputs;    /* object */
        json_t *outputs;   /* object or NULL */
        json_t *labels;    /* array of {"key","value"} */
        json_t *variables; /* object or NULL */
        json_t *trigger;   /* object or NULL */
        char *parent_id;   /* subflow: the parent execution */
        char *original_id; /* restart/replay: the execution this one came from */
        TaskRun **task_runs;
        size_t n_task_runs;
        size_t n_allocated;
        json_t *engine; /* the executor's bookkeeping for the whole execution (opaque here), or NULL */
} Execution;

/* The key of the execution's bookkeeping ("ternEngine" in its document) that says its afterExecution
 * tasks have yet to run: it has ended, but not finished. */
#define EXECUTION_AFTER_PENDING "afterExecution"
static inline bool execution_after_pending(const Execution *e) {
        return json_is_true(json_object_get(e->engine, EXECUTION_AFTER_PENDING));
}
/* The same of a document: whoever waits for an execution to end waits for this too. */
static inline bool execution_doc_after_pending(json_t *doc) {
        return json_is_true(json_object_get(json_object_get(doc, "ternEngine"), EXECUTION_AFTER_PENDING));
}

/* Ids are the caller's (the engine draws them from its configuration's id source). */
int execution_new(const char *id, const char *namespace, const char *flow_id, int flow_revision, usec_t now,
                  Execution **ret);
Execution *execution_free(Execution *e);
DEFINE_FREE_CLEANUP(Execution, execution_free)
#define _cleanup_execution_ _cleanup_(execution_freep)
int execution_copy(const Execution *e, Execution **ret);

/* Add a task run with id in state CREATED; the returned pointer stays valid until the execution is
 * freed. */
int execution_add_task_run(Execution *e, const char *id, const char *task_id, const char *parent_task_run_id,
                           const char *value, usec_t now, TaskRun **ret);
TaskRun *execution_find_task_run(const Execution *e, const char *task_run_id);
/* First task run of task_id under the given parent and loop value (NULL matches NULL only). */
TaskRun *execution_find_task_run_by_task(const Execution *e, const char *task_id, const char *parent_task_run_id,
                                         const char *value);
/* Remove (and free) a task run; pointers to other task runs stay valid. */
void execution_remove_task_run(Execution *e, TaskRun *tr);
int task_run_add_attempt(TaskRun *tr, usec_t now, TaskRunAttempt **ret);
TaskRunAttempt *task_run_last_attempt(const TaskRun *tr);

/* Whether what a new execution brings in (its inputs, labels and trigger variables) is within the
 * bounds of json-limits.h, checked before it is stored: 0, or -E2BIG with *ret_error (may be NULL;
 * the caller frees it) naming the value and the limit. */
int execution_check_values(const Execution *e, char **ret_error);

/* Kestra-shaped JSON ("id", "namespace", "flowId", "state", "taskRunList", ...). Engine bookkeeping is
 * kept under "ternEngine" keys, which Kestra clients ignore. */
json_t *execution_to_json(const Execution *e);
/* As execution_to_json, for an executor that keeps e between steps: the task runs not marked in
 * changed (by position) are taken from prev_list, the list of the document e was read from or saved
 * as last (changed NULL: every one is made anew). The result shares no object that the engine
 * changes in place (task-run bookkeeping, labels), so that it stays comparable with later steps. */
json_t *execution_to_json_from(const Execution *e, json_t *prev_list, const bool *changed);
int execution_from_json(json_t *j, Execution **ret);
json_t *task_run_to_json(const Execution *e, const TaskRun *tr);

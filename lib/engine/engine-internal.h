/* engine-internal.h: state shared by the engine's files during one engine_apply(). */
#pragma once

#include "engine.h"
#include "expr.h"
#include "hashmap.h"
#include "strutil.h"

typedef struct Engine {
        const EngineConfig *cfg;
        const Flow *flow;
        Execution *e;
        usec_t now;
        EngineEffects *fx;
        Hashmap tasks;    /* task id -> const Task* */
        Hashmap error_tasks; /* ids of tasks in an "errors" branch (of the flow or a flowable) */
        Hashmap after_tasks; /* ids of the flow's afterExecution tasks and of their children */
        Hashmap runs;     /* (task id, parent task run id, value) -> TaskRun* */
        Hashmap runs_id;  /* task run id -> TaskRun* */
        json_t *outputs;  /* the "outputs" variable; NULL when it must be rebuilt */
        bool killing;     /* no new task starts */
        bool holding;     /* paused by a user: no new task starts, those running finish, until resumed */
        bool progressed;  /* the last pass changed something: walk again */
        bool restarting;  /* this step applies a restart */
        State exit;       /* an Exit task ended the execution in this state in this step; _STATE_INVALID: none.
                           * Walks stop where they are: nothing new starts, nothing else ends. */
} Engine;

/* Who runs a task: a worker (the engine emits a job) or the engine itself, through the type's hook
 * (engine_resolve_flowable() switches on it). */
static inline bool engine_task_on_worker(const Task *t) {
        return t->def && t->def->runner != TASK_RUNNER_NONE;
}
static inline TaskEngineHook engine_task_hook(const Task *t) {
        return t->def ? t->def->hook : TASK_HOOK_NONE;
}
/* A task that does its work in the executor at once (Labels, Exit, SetVariables...): it changes the
 * execution itself, so no worker could. */
static inline bool engine_task_in_executor(const Task *t) {
        return t->def && t->def->role == TASK_ROLE_RUNNABLE && t->def->hook != TASK_HOOK_NONE;
}

/* A new reference to j, or a new empty object when j is NULL (for json_pack "o" / *_set_new). */
static inline json_t *json_ref_or_object(json_t *j) {
        return j ? json_incref(j) : json_object();
}

/* Something produced outputs: the "outputs" variable is rebuilt on next use. */
static inline void engine_outputs_changed(Engine *E) {
        json_decref(E->outputs);
        E->outputs = NULL;
}

/* The result of walking a list of tasks. */
typedef struct ListResult {
        bool done;   /* every task that will run has ended */
        State state; /* done: the list's outcome; else RUNNING or PAUSED */
} ListResult;

/* engine.c */
const Task *engine_task(Engine *E, const char *task_id);
TaskRun *engine_run_find(Engine *E, const Task *t, const TaskRun *parent, const char *value);
TaskRun *engine_run_by_id(Engine *E, const char *id);
int engine_run_new(Engine *E, const Task *t, const TaskRun *parent, const char *value, TaskRun **ret);
/* Move a task run to a state (with history); marks progress. */
int engine_run_set(Engine *E, TaskRun *tr, State s);
void engine_log(Engine *E, const TaskRun *tr, const char *level, const char *fmt, ...) _printf_(4, 5);
int engine_emit_job(Engine *E, const Task *t, TaskRun *tr);
/* A job for tr that runs another registered type with other properties (ForEachItem's split); NULL:
 * t's own. */
int engine_emit_job_as(Engine *E, const Task *t, TaskRun *tr, const char *type, json_t *properties);
TaskRun *engine_working_directory(Engine *E, const TaskRun *tr);
/* When a WorkingDirectory ends, the worker holding its directory removes it. */
int engine_emit_cleanup(Engine *E, TaskRun *wd);
int engine_emit_timer(Engine *E, const TaskRun *tr, const char *kind, usec_t due);
json_t *engine_run_bookkeeping(TaskRun *tr); /* tr->engine, created on demand; NULL on OOM */
bool engine_flowable_retry(Engine *E, const Task *t, TaskRun *tr);
bool engine_retry_next(Engine *E, const Task *t, TaskRun *tr, usec_t *ret_delay);
/* Start killing the execution (a kill event, an SLA, an Exit with state KILLED): running jobs are
 * cancelled, nothing new starts, the execution ends KILLED once everything has stopped. */
int engine_kill(Engine *E);
int engine_kill_subflows(Engine *E);

/* engine-walk.c */
ListResult engine_walk_list(Engine *E, Task *const *tasks, size_t n, TaskRun *parent, const char *value, bool parallel,
                            int64_t concurrency);
int engine_resolve_flowable(Engine *E, const Task *t, TaskRun *tr);

/* engine-items.c: ForEachItem */
int engine_resolve_for_each_item(Engine *E, const Task *t, TaskRun *tr);
/* The split or merge job's result: 1 when tr is a ForEachItem's and the result was taken (tr runs
 * on), 0 when the result is the task's own (a failed job ends it as any task's failure does). */
int engine_for_each_item_split_result(Engine *E, const Task *t, TaskRun *tr, State s, json_t *outputs);
/* One of its subflow executions ended (or could not be created: state FAILED); payload: the
 * subflow-ended event's (executionId, iteration, outputs). */
int engine_for_each_item_child_ended(Engine *E, const Task *t, TaskRun *tr, State child, json_t *payload);
/* The execution restarts with tr failed: RETRY_FAILED restarts the failed batches' executions and
 * keeps the rest; otherwise (or when no batch failed) the bookkeeping is cleared to start anew. */
int engine_for_each_item_restart(Engine *E, const Task *t, TaskRun *tr);

/* engine-vars.c */
/* The variables a task run's expressions see (flow, execution, task, taskrun, parent(s), outputs,
 * inputs, vars, labels, trigger, envs, globals). tr and t may be NULL (execution level). */
json_t *engine_variables(Engine *E, const Task *t, const TaskRun *tr);
/* Render a template or a JSON tree of templates for tr. On failure returns -EINVAL and a
 * malloc'ed message in *ret_error. */
int engine_render_value(Engine *E, const Task *t, const TaskRun *tr, json_t *in, json_t **ret, char **ret_error);
int engine_render_string(Engine *E, const Task *t, const TaskRun *tr, const char *in, char **ret, char **ret_error);
/* The same with variables the caller built (engine_variables() with more on top), for many renderings
 * in one step (a ForEachItem's subflows). */
int engine_render_with(Engine *E, const TaskRun *tr, json_t *vars, json_t *in, json_t **ret, char **ret_error);
/* Kestra's truthiness of a rendered condition. */
bool engine_truthy(json_t *v);
/* The loop values from the outermost loop to tr (for outputs nesting and currentEachOutput). */
int engine_loop_values(Engine *E, const TaskRun *tr, json_t **ret);

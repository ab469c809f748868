/* engine.h: the executor's transition function. Pure: (flow, execution, event, now) -> the new
 * execution and the effects to carry out (jobs, events, subflow executions, cancellations). No I/O:
 * the executor loop (daemons/executor) reads and writes the store around it, in one transaction. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "execution.h"
#include "flow.h"

/* Event types (the store's event "type"). Payloads are JSON objects. */
#define ENGINE_EVENT_CREATED "created"                 /* {force?, state?} start the execution; force: whatever
                                                          the flow's concurrency; state: end it so unstarted */
#define ENGINE_EVENT_TASK_RESULT "task_result"         /* {taskRunId, epoch, workerId, result:{state, outputs,
                                                          metrics, error, startedAt, endedAt, attempt}} */
#define ENGINE_EVENT_JOB_RESUBMITTED "job_resubmitted" /* {taskRunId, workerId, reason} */
#define ENGINE_EVENT_TIMER "timer"                     /* {taskRunId, kind: retry|pause} delayed */
#define ENGINE_EVENT_KILL "kill"                       /* {cascade?: false to spare subflows} */
#define ENGINE_EVENT_RESUME "resume"                   /* {inputs:{...}} */
#define ENGINE_EVENT_PAUSE "pause"                     /* {}: a running execution holds until resumed */
#define ENGINE_EVENT_RESTART "restart"                 /* {} */
#define ENGINE_EVENT_CHANGE_STATE "change_state"       /* {taskRunId?, state}: an ended task run's (or
                                                          without taskRunId the execution's) new state */
#define ENGINE_EVENT_SUBFLOW_ENDED "subflow_ended"     /* {taskRunId, executionId, state, outputs} */
#define ENGINE_EVENT_SUBFLOW_FAILED "subflow_failed"   /* {taskRunId, error}: it could not be created */

typedef struct EngineConfig {
        json_t *envs;    /* envs.* (object), may be NULL */
        json_t *globals; /* globals.* (object), may be NULL */
        /* secret() in expressions; NULL: secret() fails. */
        int (*secret)(void *userdata, const char *key, char **ret);
        void *userdata;
        /* Functions the host provides on top of the engine's (read(), fileSize(), fileExists() on
         * internal storage: the engine itself does no I/O), given the rendering's variables; the
         * contract of ExprContext.function (-ENOENT: unknown). NULL: none. */
        int (*function)(void *function_userdata, json_t *variables, const char *name, json_t *args, json_t **ret,
                        char **ret_message);
        void *function_userdata;
        /* Where the ids of new executions and task runs come from: 0 or a negative errno. NULL:
         * random (id_new()). Tests plug in a counter so that what they print is the same at every
         * run. */
        int (*new_id)(void *id_userdata, char ret[static ID_MAX]);
        void *id_userdata;
} EngineConfig;

/* A new id from cfg's id source (cfg NULL: random). */
int engine_new_id(const EngineConfig *cfg, char ret[static ID_MAX]);

/* What the executor loop must do after a step, in the same transaction. */
typedef struct EngineEffects {
        /* Worker jobs: [{executionId, taskRunId, taskId, attempt, type, namespace, flowId, properties,
         * variables, timeoutUsec, queue}] */
        json_t *jobs;
        /* Events: [{executionId, type, payload, dueAt (usec, 0 = now)}] */
        json_t *events;
        /* Subflow executions to create: [{namespace, flowId, revision, inputs, labels, parentExecutionId,
         * parentTaskRunId, wait}] — the loop loads the flow, resolves inputs and answers with
         * SUBFLOW_FAILED when it cannot. */
        json_t *subflows;
        /* Task runs whose jobs must be cancelled (kill): [taskRunId] */
        json_t *cancels;
        /* New executions of the same flow that retry this one (retry behavior CREATE_NEW_EXECUTION):
         * [{namespace, flowId, revision, inputs, labels, trigger, parentId, engine}] — the loop creates
         * each (its inputs as they are) in the step's transaction. */
        json_t *executions;
        /* Log lines the engine itself produces (errors in expressions, retries):
         * [{taskRunId, taskId, level, message}] */
        json_t *logs;
        bool ended; /* the execution reached a terminal state in this step */
} EngineEffects;

int engine_effects_init(EngineEffects *fx);
void engine_effects_done(EngineEffects *fx);

/* A new execution of flow (state CREATED) with resolved inputs (see flow_inputs_resolve), labels
 * (object or array of {key,value}, may be NULL: the flow's labels apply) and trigger info. Its id
 * is id when the caller has one already (a subflow's, announced by its parent's step; a trigger
 * firing's, derived so that a rerun creates nothing twice), else one from cfg's id source (cfg may
 * be NULL: random). The caller stores it with a "created" event. */
int engine_execution_new(const EngineConfig *cfg, const Flow *flow, const char *id, json_t *inputs, json_t *labels,
                         json_t *trigger, usec_t now, Execution **ret);

/* Apply one event. The execution is updated in place. Returns 0, or a negative errno for a failure
 * of the engine itself (out of memory); problems of the flow (bad expression, failed task) are
 * outcomes recorded in the execution, not errors. An event that no longer applies (a result for a
 * killed task run) is ignored. */
int engine_apply(const EngineConfig *cfg, const Flow *flow, Execution *e, const char *type, json_t *payload,
                 usec_t now, EngineEffects *fx);

/* execution-create.h: creating an execution, written once for every front end (API, CLI, scheduler, subflows, replay). */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "engine.h"
#include "execution.h"
#include "flow.h"
#include "store.h"
#include "timeutil.h"

/* How the supplied inputs become the execution's. */
typedef enum ApiInputsMode {
        API_INPUTS_RESOLVE, /* typed and validated against the flow's inputs, defaults applied (flow_inputs_resolve) */
        API_INPUTS_LENIENT, /* the same, but taken as given when refused (Kestra's Flow trigger does not validate) */
        API_INPUTS_RAW,     /* as given, unvalidated; the flow's defaults fill the rest (tern run --raw-inputs) */
} ApiInputsMode;

/* What a new execution of a flow starts with. Nothing is stolen. */
typedef struct ApiExecutionNew {
        /* The caller's id (the scheduler derives one per firing, the executor one per subflow task
         * run, the API draws one first to store FILE inputs under it); NULL: one is drawn. */
        const char *id;
        json_t *inputs; /* object of id -> raw string or typed value; NULL: none */
        ApiInputsMode inputs_mode;
        json_t *labels;  /* object, or array of {key, value}; NULL: the flow's own only */
        json_t *trigger; /* {id, type, variables}; NULL: none */
        const char *parent_id; /* a subflow's parent execution; NULL: none */
        json_t *engine;        /* the executor's bookkeeping ("ternEngine"); NULL: none */
        bool even_disabled;    /* start it even when the flow is disabled (a subflow, tern run) */
        const EngineConfig *engine_cfg; /* its id source when id is NULL; NULL: a random id */
} ApiExecutionNew;

/* Build the execution (state CREATED) without storing it: the flow's labels and the given ones,
 * the correlation label (its own id unless inherited), the trigger, the resolved inputs, every
 * value within the bounds of json-limits.h. Returns 0; -EPERM when the flow is disabled (nothing
 * starts it, as in Kestra); -EINVAL with *ret_error saying which inputs are wrong; -E2BIG with
 * *ret_error when an input, a label or a trigger variable is too deep or too large; -ENOMEM.
 * ret_error may be NULL; the caller frees it. */
int api_execution_build(const Flow *f, const ApiExecutionNew *n, usec_t now, Execution **ret, char **ret_error);

/* Store a built execution in tx with its "created" event (which starts it). ret_doc (may be NULL)
 * gets its document. -EEXIST when its id exists (a rerun of the caller's transaction with a
 * caller-chosen id), or the store's error. */
int api_execution_store(StoreTx *tx, const Execution *e, usec_t now, json_t **ret_doc);

/* Both: the one way an execution is created. Results as above. */
int api_execution_create(StoreTx *tx, const Flow *f, const ApiExecutionNew *n, usec_t now, json_t **ret_doc,
                         char **ret_error);

/* Both, in a transaction of its own rerun on a lost connection or a conflict (store_transact(), up
 * to the store's reconnect timeout): the execution, its id included, is built once before the
 * first attempt, so that a rerun after a COMMIT whose answer was lost finds it stored and takes it
 * for this one, never a second execution (n->id, when given, must be one drawn for this
 * submission: the caller's id of an earlier one would be taken for it). Results as above; on a
 * lost connection, -ECONNRESET
 * once the database did not answer for the whole timeout (store_error() says so). */
int api_execution_submit(Store *s, const Flow *f, const ApiExecutionNew *n, usec_t now, json_t **ret_doc,
                         char **ret_error);

/* Replay an ended execution (see engine_replay) from task run task_run_id (NULL: from the start):
 * the new execution is stored with its "created" event, rerun on a lost connection as
 * api_execution_submit() is. -ENOENT no such execution, -ESRCH no such task run in it, -EBUSY it
 * has not ended, or the store's error. */
int api_execution_replay(Store *s, const char *id, const char *task_run_id, json_t **ret_doc);

/* Labels whose keys start with this are tern's (and Kestra's) own: set by the system, not by a user. */
#define API_SYSTEM_LABEL_PREFIX "system."

/* Replace the labels of an ended execution by labels ([{key, value}], checked by the caller),
 * keeping its system labels (API_SYSTEM_LABEL_PREFIX), in a transaction rerun on a lost
 * connection. -ENOENT no such execution, -EBUSY it has not ended, or the store's error. */
int api_execution_set_labels(Store *s, const char *id, json_t *labels, json_t **ret_doc);

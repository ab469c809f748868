/* api.h: operations on stored flows and executions that the tern command and the webserver share. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "execution.h"
#include "flow.h"
#include "state.h"
#include "store.h"

/* A stored flow as JSON: namespace, id, revision, deleted, updated (and, when asked, source and, as
 * Kestra's flow model has them, inputs: id, type, required, defaults, description, displayName,
 * values; none when the source does not parse). */
json_t *api_flow_json(const StoreFlow *f, bool with_source);

/* An execution's document (-ENOENT when there is none). */
int api_execution_get(Store *s, const char *id, json_t **ret);
/* Drop the executor's bookkeeping ("ternEngine") from a document before showing it. */
void api_execution_strip(json_t *doc);
State api_execution_state(json_t *doc);
/* Emit an event (kill, resume, restart) for an execution; payload may be NULL. -E2BIG when the
 * payload is beyond the bounds of json-limits.h. */
int api_execution_event(Store *s, const char *id, const char *type, json_t *payload);
/* An execution's log lines of at least min_level, oldest first, as JSON (Kestra's field names).
 * NULL on failure. */
json_t *api_execution_logs_json(Store *s, const char *id, StoreLogLevel min_level);

/* Create an execution of flow f in tx: inputs resolved against the flow (raw strings or typed
 * values; defaults applied), labels (may be NULL) and trigger (may be NULL), with its "created"
 * event. Returns 0 with the document; -EPERM when the flow is disabled (nothing starts it, as in
 * Kestra); -EINVAL with *ret_error saying which inputs are wrong (the caller frees it); -E2BIG with
 * *ret_error when an input, a label or a trigger variable is nested too deep or too large
 * (json-limits.h: nothing is stored); -ENOMEM or the store's error. */
int api_execution_create(StoreTx *tx, const Flow *f, json_t *inputs, json_t *labels, json_t *trigger, usec_t now,
                         json_t **ret_doc, char **ret_error);

/* The two halves of api_execution_create, for callers that need the execution's id before its
 * inputs are final (FILE inputs are stored under it): make the execution, then resolve the inputs
 * and store it (same results as api_execution_create). */
int api_execution_new(const Flow *f, json_t *labels, json_t *trigger, usec_t now, Execution **ret);
int api_execution_insert(StoreTx *tx, const Flow *f, Execution *e, json_t *inputs, usec_t now, json_t **ret_doc,
                         char **ret_error);

/* ---- internal storage (a local directory) ---- */

/* Put the file src as FILE input `input` of execution exec_id of flow f, named name (its base name
 * is kept; an unusable one becomes the input's id), under root; moved (rename) or copied. Returns
 * the kestra:// URI the flow sees; -EINVAL for a bad input id, or a negative errno. */
int api_storage_input_put(const char *root, const Flow *f, const char *exec_id, const char *input, const char *name,
                          const char *src, bool move, char **ret_uri);
/* The local path of a kestra:// URI that belongs to the execution doc (under its
 * NAMESPACE/FLOW/executions/ID/ directory, the namespace with '.' or '/'); -EACCES for any other
 * (other executions, "..", "." or empty segments, a symbolic link out), -ENOENT when missing. */
int api_storage_execution_path(const char *root, json_t *doc, const char *uri, char **ret_path);

/* Replay an ended execution (see engine_replay) from task run task_run_id (NULL: from the start):
 * the new execution is stored with its "created" event. -ENOENT no such execution, -ESRCH no such
 * task run in it, -EBUSY it has not ended, or the store's error. */
int api_execution_replay(Store *s, const char *id, const char *task_run_id, json_t **ret_doc);
/* The contents of such a file (api_storage_execution_path's rules), NUL-terminated, at most max
 * bytes (-EFBIG beyond). */
int api_storage_read(const char *root, json_t *doc, const char *uri, size_t max, char **ret, size_t *ret_len);

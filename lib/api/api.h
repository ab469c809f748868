/* api.h: operations on stored flows and executions that the tern command and the webserver share. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "flow.h"
#include "state.h"
#include "store.h"

/* A stored flow as JSON: namespace, id, revision, deleted, updated (and source when asked). */
json_t *api_flow_json(const StoreFlow *f, bool with_source);

/* An execution's document (-ENOENT when there is none). */
int api_execution_get(Store *s, const char *id, json_t **ret);
/* Drop the executor's bookkeeping ("ternEngine") from a document before showing it. */
void api_execution_strip(json_t *doc);
State api_execution_state(json_t *doc);
/* Emit an event (kill, resume, restart) for an execution; payload may be NULL. */
int api_execution_event(Store *s, const char *id, const char *type, json_t *payload);
/* An execution's log lines of at least min_level, oldest first, as JSON (Kestra's field names).
 * NULL on failure. */
json_t *api_execution_logs_json(Store *s, const char *id, StoreLogLevel min_level);

/* Create an execution of flow f in tx: inputs resolved against the flow (raw strings or typed
 * values; defaults applied), labels (may be NULL) and trigger (may be NULL), with its "created"
 * event. Returns 0 with the document; -EINVAL with *ret_error saying which inputs are wrong (the
 * caller frees it); -ENOMEM or the store's error. */
int api_execution_create(StoreTx *tx, const Flow *f, json_t *inputs, json_t *labels, json_t *trigger, usec_t now,
                         json_t **ret_doc, char **ret_error);

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

/* Creating an execution: execution-create.h; waiting for one: execution-wait.h; loading a flow:
 * flow-cache.h; its files in internal storage: execution-files.h; retention: purge.h. */

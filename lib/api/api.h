/* api.h: operations on stored flows and executions that the tern command and the webserver share. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "execution.h"
#include "flow.h"
#include "state.h"
#include "store.h"

/* A stored flow as JSON: namespace, id, revision, deleted, disabled, updated (and, when asked, source and, as
 * Kestra's flow model has them, inputs: id, type, required, defaults, description, displayName,
 * values; none when the source does not parse). */
json_t *api_flow_json(const StoreFlow *f, bool with_source);
/* Whether the source's top-level "disabled:" line (at column 0) says true. */
bool api_flow_source_disabled(const char *src);
/* src with that line set to value (added at the end when there is none and value is true); the
 * caller checks that the result parses to what was asked. NULL when out of memory. */
char *api_flow_source_set_disabled(const char *src, bool value);

/* Delete a flow (a deleted revision), in a transaction rerun on a lost connection: -ENOENT when
 * there is no such flow (on the first attempt: one that a rerun finds deleted was deleted by an
 * earlier attempt whose COMMIT went through while its answer was lost), or the store's error. */
int api_flow_delete(Store *s, const char *ns, const char *id);

/* An execution's document (-ENOENT when there is none). */
int api_execution_get(Store *s, const char *id, json_t **ret);
/* Drop the executor's bookkeeping ("ternEngine") from a document before showing it. */
void api_execution_strip(json_t *doc);
State api_execution_state(json_t *doc);
/* Emit an event (kill, resume, restart) for an execution; payload may be NULL. -E2BIG when the
 * payload is beyond the bounds of json-limits.h. Rerun on a lost connection (store_transact()): a
 * signal whose COMMIT went through unanswered may then be sent twice, which the executor mostly
 * takes as one: a second kill, resume or pause finds it done, a second restart finds the execution
 * running (unless it failed again in between, which the first restart's answer would not have
 * said either). */
int api_execution_event(Store *s, const char *id, const char *type, json_t *payload);
/* An execution's log lines of at least min_level, oldest first, as JSON (Kestra's field names).
 * NULL on failure. */
json_t *api_execution_logs_json(Store *s, const char *id, StoreLogLevel min_level);

/* ---- metrics (metrics.c), in the shapes of Kestra's metrics API ---- */

/* A MetricEntry: namespace, flowId, taskId, executionId, taskRunId, type, name, value, timestamp,
 * tags, deleted. */
json_t *api_metric_json(const StoreMetric *m);
/* PagedResults {results: [MetricEntry], total}. */
int api_metrics_search_json(Store *s, const StoreMetricFilter *f, json_t **ret);
/* MetricAggregations {groupBy, aggregations: [{name, value, date}]} of a flow's metric (of one task
 * when task_id is set) over [from, to], one entry per minute, hour, day, week or month (after the
 * range's length, as Kestra picks it) with aggregation "sum", "avg", "min" or "max" (-EINVAL for
 * another, or to before from). */
int api_metrics_aggregate_json(Store *s, const char *ns, const char *flow_id, const char *task_id, const char *name,
                               usec_t from, usec_t to, const char *aggregation, json_t **ret);

/* Creating an execution: execution-create.h; waiting for one: execution-wait.h; loading a flow:
 * flow-cache.h; its files in internal storage: execution-files.h; retention: purge.h. */

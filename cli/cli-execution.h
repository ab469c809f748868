/* cli-execution.h: execution helpers the CLI commands share: read, signal, wait for, print. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "api.h"
#include "hashmap.h"
#include "state.h"
#include "store.h"

/* Reading and signalling executions: api.h (shared with the webserver). */

/* Live progress: task runs whose state changed and new log lines since the last call. */
typedef struct CliProgress {
        Hashmap seen;
        int64_t log_cursor;
        usec_t start;
        bool tty;
} CliProgress;
void cli_progress_show(Store *s, const char *id, json_t *doc, CliProgress *p);
void cli_progress_done(CliProgress *p);

/* Wait until the execution is terminal, or in one of the states of until_mask (bit per State) when
 * not 0; progress (may be NULL) is shown meanwhile. Returns 0 with the document, -ETIME on
 * timeout (0 = none), -EINTR when *interrupted became true, or another negative errno. */
int cli_execution_wait(Store *s, const char *id, unsigned until_mask, usec_t timeout, CliProgress *progress,
                       volatile int *interrupted, json_t **ret);
/* The same, but first until the execution's state history is longer than n_histories: after a
 * kill, resume or restart, the wait starts once the executor has applied it. */
int cli_execution_wait_after(Store *s, const char *id, size_t n_histories, unsigned until_mask, usec_t timeout,
                             volatile int *interrupted, json_t **ret);

/* A readable view of one execution: header, task runs with states and durations, outputs. */
void cli_execution_print(json_t *doc, bool tty);
/* The metrics of an execution (MetricEntry objects, api_metrics_search_json()'s results) as a table;
 * nothing when there are none. */
void cli_execution_print_metrics(json_t *entries);

/* ui-big-execution: store an ended execution with many task runs and log lines straight into a
 * database (as the executor and the workers would have written them, only faster), for the web UI's
 * test of a large execution. Usage: ui-big-execution DB-URL NAMESPACE FLOW TASK-RUNS LOG-LINES;
 * prints the execution's id. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "id.h"
#include "store.h"
#include "strutil.h"
#include "timeutil.h"

#define LOG_BATCH 5000

static json_t *state_json(const char *st, usec_t start, usec_t end) {
        char a[TIMESTAMP_MAX], b[TIMESTAMP_MAX];
        timestamp_format(a, start);
        timestamp_format(b, end);
        return json_pack("{s:s, s:s, s:s, s:[{s:s, s:s}, {s:s, s:s}, {s:s, s:s}]}", "current", st, "startDate", a, "endDate", b,
                         "histories", "state", "CREATED", "date", a, "state", "RUNNING", "date", a, "state", st, "date", b);
}

int main(int argc, char **argv) {
        _cleanup_store_ Store *s = NULL;
        _cleanup_json_ json_t *runs = json_array(), *doc = NULL;
        char id[ID_MAX];
        unsigned n_runs, n_logs;
        if (argc != 6 || safe_atou(argv[4], &n_runs) < 0 || safe_atou(argv[5], &n_logs) < 0 || n_runs < 2) {
                fprintf(stderr, "usage: ui-big-execution DB-URL NAMESPACE FLOW TASK-RUNS(>=2) LOG-LINES\n");
                return 2;
        }
        const char *ns = argv[2], *flow = argv[3];
        int r = store_open(argv[1], &s);
        if (r < 0 || id_new(id) < 0) {
                fprintf(stderr, "cannot open the store '%s': %s\n", argv[1], s ? store_error(s) : strerror(-r));
                return 1;
        }
        usec_t t0 = now_realtime() - 3600 * USEC_PER_SEC, step = 3000 * USEC_PER_SEC / n_runs;
        _cleanup_free_ StoreTaskRunMeta *meta = calloc(n_runs, sizeof *meta);
        _cleanup_free_ char *ids = calloc(n_runs, ID_MAX);
        if (!runs || !meta || !ids)
                return 1;
        /* A ForEach and one child run per value: what a loop over n_runs - 1 values leaves behind. */
        for (unsigned i = 0; i < n_runs; i++) {
                char *tid = ids + (size_t) i * ID_MAX, value[32];
                if (id_new(tid) < 0)
                        return 1;
                snprintf(value, sizeof value, "%u", i);
                usec_t a = i == 0 ? t0 : t0 + i * step, b = i == 0 ? t0 + n_runs * step : a + step;
                json_t *tr = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:s?, s:o, s:[{s:o}]}", "id", tid, "executionId", id,
                                       "namespace", ns, "flowId", flow, "taskId", i == 0 ? "loop" : "item",
                                       "parentTaskRunId", i == 0 ? NULL : ids, "value", i == 0 ? NULL : value, "state",
                                       state_json("SUCCESS", a, b), "attempts", "state", state_json("SUCCESS", a, b));
                if (!tr || json_array_append_new(runs, tr) < 0)
                        return 1;
                meta[i] = (StoreTaskRunMeta) { .id = tid, .state = "SUCCESS" };
        }
        doc = json_pack("{s:s, s:s, s:s, s:i, s:o, s:O, s:{}, s:[]}", "id", id, "namespace", ns, "flowId", flow, "flowRevision",
                        1, "state", state_json("SUCCESS", t0, t0 + n_runs * step), "taskRunList", runs, "inputs", "labels");
        StoreExecutionMeta m = { .id = id, .namespace = ns, .flow_id = flow, .flow_revision = 1, .state = "SUCCESS",
                                 .created = t0, .ended = t0 + n_runs * step, .task_runs = meta, .n_task_runs = n_runs };
        StoreTx *tx;
        StoreEvent *ev = NULL;
        size_t n_ev = 0;
        /* It has ended: its "created" event goes with the transaction that made it, so no executor
         * ever sees it. */
        if (!doc || (r = store_begin(s, &tx)) < 0) {
                fprintf(stderr, "cannot store the execution: %s\n", store_error(s));
                return 1;
        }
        if ((r = store_execution_create(tx, &m, doc, "created", NULL, t0)) < 0 ||
            (r = store_event_list(tx, id, &ev, &n_ev)) < 0) {
                fprintf(stderr, "cannot store the execution: %s\n", store_error(s));
                store_rollback(tx);
                return 1;
        }
        for (size_t i = 0; i < n_ev && r >= 0; i++)
                r = store_event_delete(tx, ev[i].seq);
        store_events_free(ev, n_ev);
        if (r < 0 || (r = store_commit(tx)) < 0) {
                fprintf(stderr, "cannot store the execution: %s\n", store_error(s));
                return 1;
        }
        _cleanup_free_ StoreLog *logs = calloc(LOG_BATCH, sizeof *logs);
        _cleanup_free_ char *msgs = calloc(LOG_BATCH, 64);
        if (!logs || !msgs)
                return 1;
        for (unsigned done = 0; done < n_logs;) {
                unsigned n = n_logs - done < LOG_BATCH ? n_logs - done : LOG_BATCH;
                for (unsigned k = 0; k < n; k++) {
                        unsigned i = done + k, run = 1 + i % (n_runs - 1);
                        snprintf(msgs + (size_t) k * 64, 64, "line %u of item %u", i, run);
                        logs[k] = (StoreLog) { .execution_id = id, .task_run_id = ids + (size_t) run * ID_MAX,
                                               .task_id = "item", .level = STORE_LOG_INFO,
                                               .timestamp = t0 + i * (3000 * USEC_PER_SEC / (n_logs ?: 1)),
                                               .message = msgs + (size_t) k * 64 };
                }
                if ((r = store_log_append(s, logs, n)) < 0) {
                        fprintf(stderr, "cannot store log lines: %s\n", store_error(s));
                        return 1;
                }
                done += n;
        }
        printf("%s\n", id);
        return 0;
}

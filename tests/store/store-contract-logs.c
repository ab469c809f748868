/* store-contract-logs.c: the store contract for logs, metrics and their retention. */
#include <inttypes.h>

#include "store-contract.h"

/* ---- logs and metrics ---- */

void test_logs(Store *s) {
        StoreLog in[] = {
                { .execution_id = "L1", .task_run_id = "tr1", .task_id = "hello", .attempt = 1, .level = STORE_LOG_INFO, .timestamp = T0 + 1, .message = "Hello World" },
                { .execution_id = "L1", .task_run_id = "tr1", .task_id = "hello", .attempt = 1, .level = STORE_LOG_DEBUG, .timestamp = T0 + 2, .message = "details 50% done" },
                { .execution_id = "L1", .task_run_id = "tr2", .task_id = "bye", .attempt = 1, .level = STORE_LOG_ERROR, .timestamp = T0 + 3, .message = "It failed: hello?" },
                { .execution_id = "L2", .level = STORE_LOG_WARN, .timestamp = T0 + 4, .message = "other execution" },
        };
        _cleanup_store_ Store *l = NULL;
        CHECK_OK(store_dup(s, &l));
        CHECK_OK(store_listen(l, STORE_CHANNEL_LOGS));
        is_int(store_log_append(s, in, ELEMENTSOF(in)), 0, "append a batch of logs");
        is_int(store_wait(l, 5 * USEC_PER_SEC), STORE_CHANNEL_LOGS, "appended log lines wake the logs channel");
        struct {
                StoreLogFilter f;
                const char *messages;
        } cases[] = {
                { { .execution_id = "L1" }, "Hello World|details 50% done|It failed: hello?" },
                { { .execution_id = "L1", .min_level = STORE_LOG_INFO }, "Hello World|It failed: hello?" },
                { { .task_run_id = "tr2" }, "It failed: hello?" },
                { { .from = T0 + 2, .to = T0 + 4 }, "details 50% done|It failed: hello?" },
                { { .text = "HELLO" }, "Hello World|It failed: hello?" },
                { { .text = "0%" }, "details 50% done" },
                { { .text = "_" }, "" },
                { { .min_level = STORE_LOG_WARN }, "It failed: hello?|other execution" },
                { { .limit = 2 }, "Hello World|details 50% done" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                StoreLog *out = NULL;
                size_t n = 0;
                char got[512] = "", name[128];
                CHECK_OK(store_log_search(s, &cases[i].f, &out, &n));
                for (size_t k = 0; k < n; k++) {
                        if (k)
                                strcat(got, "|");
                        strncat(got, out[k].message, 100);
                }
                snprintf(name, sizeof name, "log search case %zu", i);
                is_str(got, cases[i].messages, name);
                store_logs_free(out, n);
        }
        /* Paging with the cursor. */
        StoreLog *page = NULL;
        size_t n = 0;
        StoreLogFilter f = { .execution_id = "L1", .limit = 2 };
        CHECK_OK(store_log_search(s, &f, &page, &n));
        is_int(n, 2, "first page");
        if (n == 2) {
                is_int(page[0].attempt, 1, "attempt round-trips");
                is_str(page[0].task_id, "hello", "task id round-trips");
                is_int(page[0].timestamp, T0 + 1, "timestamp round-trips");
                f.after_seq = page[1].seq;
        }
        store_logs_free(page, n);
        CHECK_OK(store_log_search(s, &f, &page, &n));
        is_int(n, 1, "second page has the rest");
        if (n == 1)
                is_str(page[0].message, "It failed: hello?", "second page content");
        store_logs_free(page, n);
        /* A batch of many lines (one statement on PostgreSQL): every line once, in order, as written. */
        StoreLog many[150];
        char texts[150][64];
        for (size_t i = 0; i < ELEMENTSOF(many); i++) {
                snprintf(texts[i], sizeof texts[i], "line %zu: 'q' \"dq\" \\ tab\t\u00e9 %s", i, i % 2 ? "\n2nd" : "");
                many[i] = (StoreLog) { .execution_id = "L3", .task_run_id = i % 3 ? "tr3" : NULL, .task_id = "t",
                                       .attempt = 2, .level = STORE_LOG_INFO, .timestamp = T0 + i, .message = texts[i] };
        }
        is_int(store_log_append(s, many, ELEMENTSOF(many)), 0, "append 150 lines at once");
        f = (StoreLogFilter) { .execution_id = "L3", .limit = 1000 };
        CHECK_OK(store_log_search(s, &f, &page, &n));
        bool same = n == ELEMENTSOF(many);
        for (size_t i = 0; same && i < n; i++)
                same = streq_ptr(page[i].message, texts[i]) && streq_ptr(page[i].task_run_id, many[i].task_run_id) &&
                       page[i].attempt == 2 && page[i].timestamp == T0 + i;
        ok(same, "150 lines read back once each, in order, byte for byte (got %zu)", n);
        store_logs_free(page, n);
        /* In a deferring transaction (an executor's step): lines appended one call at a time for
         * two executions, then more than one statement's worth at once, are written at the
         * commit, not before, each once, in the order appended, and wake the logs channel. */
        _cleanup_store_ Store *other = NULL;
        CHECK_OK(store_dup(s, &other));
        while (store_wait(l, 200 * USEC_PER_MSEC) > 0) /* the wake-ups of the appends above */
                ;
        {
                StoreTx *tx = NULL;
                StoreLog one[2] = {
                        { .execution_id = "L4", .level = STORE_LOG_INFO, .timestamp = T0, .message = "Flow started" },
                        { .execution_id = "L5", .task_id = "t", .level = STORE_LOG_WARN, .timestamp = T0, .message = "other" },
                };
                CHECK_OK(store_begin(s, &tx));
                CHECK_OK(store_tx_defer(tx));
                for (size_t i = 0; i < 4; i++)
                        CHECK_OK(store_log_append_tx(tx, &one[i % 2], 1));
                for (size_t i = 0; i < ELEMENTSOF(many); i++)
                        many[i].execution_id = "L4";
                CHECK_OK(store_log_append_tx(tx, many, ELEMENTSOF(many)));
                f = (StoreLogFilter) { .execution_id = "L4", .limit = 1000 };
                CHECK_OK(store_log_search(other, &f, &page, &n));
                is_int(n, 0, "deferred log lines are not written before the commit");
                store_logs_free(page, n);
                is_int(store_commit(tx), 0, "a step's deferred log lines commit");
        }
        is_int(store_wait(l, 5 * USEC_PER_SEC), STORE_CHANNEL_LOGS, "deferred log lines wake the logs channel");
        CHECK_OK(store_log_search(other, &f, &page, &n));
        same = n == 2 + ELEMENTSOF(many) && streq_ptr(page[0].message, "Flow started") &&
               streq_ptr(page[1].message, "Flow started");
        for (size_t i = 0; same && i < ELEMENTSOF(many); i++)
                same = streq_ptr(page[2 + i].message, texts[i]) && streq_ptr(page[2 + i].task_run_id, many[i].task_run_id);
        ok(same, "%zu deferred lines of one execution read back once each, in order (got %zu)", 2 + ELEMENTSOF(many), n);
        store_logs_free(page, n);
        f = (StoreLogFilter) { .execution_id = "L5", .limit = 10 };
        CHECK_OK(store_log_search(other, &f, &page, &n));
        ok(n == 2 && streq_ptr(page[0].task_id, "t") && page[0].level == STORE_LOG_WARN && !page[0].task_run_id,
           "the other execution's deferred lines, with their columns (got %zu)", n);
        store_logs_free(page, n);
        is_int(store_log_level_from_string("warning"), STORE_LOG_WARN, "level names");
        is_str(store_log_level_to_string(STORE_LOG_ERROR), "ERROR", "level to string");
}

void test_metrics(Store *s) {
        StoreTx *tx;
        _cleanup_json_ json_t *d = make_doc("M1", "metrics.ns", "flow", "SUCCESS", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *d2 = make_doc("M2", "metrics.ns", "flow", "SUCCESS", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *tags = json_pack("{s:s}", "region", "eu-west");
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(d), d, "created", NULL, T0));
        CHECK_OK(store_execution_create(tx, META(d2), d2, "created", NULL, T0));
        StoreMetric in[] = {
                { .execution_id = "M1", .namespace = "metrics.ns", .flow_id = "flow", .task_id = "a", .task_run_id = "tr-a",
                  .type = "counter", .name = "rows", .value = 42, .tags = tags, .timestamp = T0 + 1 },
                { .execution_id = "M1", .namespace = "metrics.ns", .flow_id = "flow", .task_id = "a", .task_run_id = "tr-a",
                  .type = "timer", .name = "duration", .value = 1234.5, .timestamp = T0 + 2 },
                { .execution_id = "M1", .namespace = "metrics.ns", .flow_id = "flow", .task_id = "b", .task_run_id = "tr-b",
                  .type = "gauge", .name = "ratio", .value = 0.1, .timestamp = T0 + 3 },
                { .execution_id = "M2", .namespace = "metrics.ns", .flow_id = "flow", .task_id = "a", .task_run_id = "tr-c",
                  .type = "counter", .name = "rows", .value = -3e300, .timestamp = T0 + 4 },
        };
        is_int(store_metric_append_tx(tx, in, ELEMENTSOF(in)), 0, "append metrics");
        StoreMetric bad = in[0];
        bad.value = NAN;
        is_int(store_metric_append_tx(tx, &bad, 1), -EINVAL, "a metric whose value is not a number is refused");
        bad = in[0];
        bad.name = NULL;
        is_int(store_metric_append_tx(tx, &bad, 1), -EINVAL, "a metric without a name is refused");
        CHECK_OK(store_commit(tx));

        struct {
                StoreMetricFilter f;
                const char *want;
                int64_t total;
        } cases[] = {
                { { .execution_id = "M1" }, "rows=42|duration=1234.5|ratio=0.1", 3 },
                { { .execution_id = "M1", .task_run_id = "tr-a" }, "rows=42|duration=1234.5", 2 },
                { { .execution_id = "M1", .task_id = "b" }, "ratio=0.1", 1 },
                { { .namespace = "metrics.ns", .flow_id = "flow", .name = "rows" }, "rows=42|rows=-3e+300", 2 },
                { { .namespace = "metrics.ns", .flow_id = "flow", .from = T0 + 2, .to = T0 + 3 }, "duration=1234.5|ratio=0.1", 2 },
                { { .execution_id = "M1", .limit = 1, .offset = 1 }, "duration=1234.5", 3 },
                { { .namespace = "other" }, "", 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                StoreMetric *out = NULL;
                size_t n = 0;
                int64_t total = -1;
                char got[512] = "", name[128];
                CHECK_OK(store_metric_search(s, &cases[i].f, &out, &n, &total));
                for (size_t k = 0; k < n; k++)
                        snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s=%g", k ? "|" : "", out[k].name,
                                 out[k].value);
                snprintf(name, sizeof name, "metric search case %zu", i);
                is_str(got, cases[i].want, name);
                strcat(name, ": total");
                is_int(total, cases[i].total, name);
                store_metrics_free(out, n);
        }
        StoreMetric *out = NULL;
        size_t n = 0;
        StoreMetricFilter f = { .execution_id = "M1" };
        CHECK_OK(store_metric_search(s, &f, &out, &n, NULL));
        if (n == 3) {
                is_str(out[0].type, "counter", "type round-trips");
                is_str(out[0].task_run_id, "tr-a", "task run id round-trips");
                is_str(json_string_value(json_object_get(out[0].tags, "region")), "eu-west", "tags round-trip");
                ok(out[1].tags == NULL, "no tags: NULL");
                is_int(out[2].timestamp, T0 + 3, "timestamp round-trips");
                ok(out[2].value == 0.1, "a value round-trips exactly");
        } else
                ok(false, "three metrics for M1 (%zu)", n);
        store_metrics_free(out, n);

        _cleanup_json_ json_t *names = NULL, *task_names = NULL, *tasks = NULL;
        CHECK_OK(store_metric_distinct(s, STORE_METRIC_NAMES, "metrics.ns", "flow", NULL, &names));
        CHECK_OK(store_metric_distinct(s, STORE_METRIC_NAMES, "metrics.ns", "flow", "a", &task_names));
        CHECK_OK(store_metric_distinct(s, STORE_METRIC_TASK_IDS, "metrics.ns", "flow", NULL, &tasks));
        _cleanup_free_ char *a = json_dumps(names, JSON_COMPACT), *b = json_dumps(task_names, JSON_COMPACT),
                            *c = json_dumps(tasks, JSON_COMPACT);
        is_str(a, "[\"duration\",\"ratio\",\"rows\"]", "a flow's metric names, sorted, once each");
        is_str(b, "[\"duration\",\"rows\"]", "a task's metric names");
        is_str(c, "[\"a\",\"b\"]", "the tasks that reported metrics");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_delete(tx, "M1"));
        CHECK_OK(store_execution_delete(tx, "M2"));
        CHECK_OK(store_commit(tx));
        f = (StoreMetricFilter) { .namespace = "metrics.ns" };
        int64_t total = -1;
        CHECK_OK(store_metric_search(s, &f, &out, &n, &total));
        is_int(total, 0, "an execution's metrics go with it");
        store_metrics_free(out, n);
}

/* ---- retention ---- */

void test_purge(Store *s) {
        StoreTx *tx;
        StorePurgeStats st = {};
        const usec_t cutoff = T0 + 1000 * USEC_PER_SEC;

        CHECK_OK(store_begin(s, &tx));
        for (int i = 0; i < 5; i++) {
                char id[32];
                snprintf(id, sizeof id, "old%d", i);
                _cleanup_json_ json_t *d = make_doc(id, "p", "f", "SUCCESS", "2023-11-14T22:13:20Z");
                CHECK_OK(store_execution_create(tx, META(d), d, "created", NULL, T0));
        }
        _cleanup_json_ json_t *running = make_doc("old-running", "p", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *recent = make_doc("recent", "p", "f", "FAILED", "2023-11-14T23:13:20Z");
        CHECK_OK(store_execution_create(tx, META(running), running, "created", NULL, T0));
        CHECK_OK(store_execution_create(tx, META(recent), recent, "created", NULL, T0));
        CHECK_OK(store_commit(tx));
        StoreLog logs[7];
        for (int i = 0; i < 7; i++)
                logs[i] = (StoreLog) { .execution_id = "old0", .level = STORE_LOG_INFO,
                                       .timestamp = i < 5 ? T0 : cutoff + 1, .message = "m" };
        CHECK_OK(store_log_append(s, logs, 7));

        is_int(store_purge(s, cutoff, 2, T0 + 100 * USEC_PER_SEC, &st), 0, "purge in batches of 2");
        is_int(st.executions, 5, "terminal executions older than the cutoff are purged");
        ok(st.logs >= 5, "old logs are purged (%" PRIu64 ")", st.logs);
        ok(st.kv >= 1, "expired kv entries are purged (%" PRIu64 ")", st.kv);
        _cleanup_json_ json_t *d = NULL;
        CHECK_OK(store_begin(s, &tx));
        is_int(store_execution_get(tx, "old-running", &d), 0, "a running execution is kept whatever its age");
        json_decref(d);
        d = NULL;
        is_int(store_execution_get(tx, "recent", &d), 0, "a recent terminal execution is kept");
        is_int(store_execution_get(tx, "old3", &d), -ENOENT, "an old terminal execution is gone");
        StoreEvent *e = NULL;
        size_t n = 9;
        CHECK_OK(store_event_list(tx, "old3", &e, &n));
        is_int(n, 0, "its events went with it");
        store_events_free(e, n);
        store_rollback(tx);
        StoreLog *left = NULL;
        StoreLogFilter f = { .execution_id = "old0" };
        CHECK_OK(store_log_search(s, &f, &left, &n));
        is_int(n, 2, "recent logs are kept");
        store_logs_free(left, n);
}

/* A task's metrics arrive as one batch (store_metric_append_json_tx(), one statement on
 * PostgreSQL and MySQL): each of 150 is stored once, in its order, with its own value and tags. */
void test_metrics_batch(Store *s) {
        enum { N = 150 };
        StoreTx *tx;
        _cleanup_json_ json_t *d = make_doc("MB", "metrics.batch", "flow", "SUCCESS", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *arr = json_array();
        for (int i = 0; i < N; i++)
                json_array_append_new(arr, json_pack("{s:s, s:s, s:f, s:{s:i, s:s}, s:I}", "type", i % 2 ? "timer" : "counter",
                                                     "name", i % 3 ? "rows" : "bytes", "value", i + 0.25, "tags", "i", i,
                                                     "odd", i % 2 ? "yes" : "no", "timestamp", (json_int_t) (T0 + i)));
        /* Not metrics (no name, a value that is not a number): left out, the rest taken. */
        json_array_append_new(arr, json_pack("{s:s, s:i}", "type", "counter", "value", 1));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s}", "type", "counter", "name", "rows", "value", "x"));
        StoreMetric run = { .execution_id = "MB", .namespace = "metrics.batch", .flow_id = "flow", .task_id = "t",
                            .task_run_id = "tr-mb" };
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(d), d, "created", NULL, T0));
        is_int(store_metric_append_json_tx(tx, &run, arr, T0), 0, "a batch of 150 metrics is appended");
        CHECK_OK(store_commit(tx));

        StoreMetric *out = NULL;
        size_t n = 0;
        int64_t total = -1;
        StoreMetricFilter f = { .execution_id = "MB", .limit = 1000 };
        CHECK_OK(store_metric_search(s, &f, &out, &n, &total));
        is_int(total, N, "each metric of the batch is stored once");
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
                json_t *tags = out[i].tags;
                if (i >= N || out[i].value != (double) i + 0.25 || out[i].timestamp != T0 + i ||
                    json_integer_value(json_object_get(tags, "i")) != (json_int_t) i ||
                    !streq(strempty(json_string_value(json_object_get(tags, "odd"))), i % 2 ? "yes" : "no") ||
                    !streq(out[i].name, i % 3 ? "rows" : "bytes") || !streq(out[i].type, i % 2 ? "timer" : "counter") ||
                    !streq(strempty(out[i].task_run_id), "tr-mb") || !streq(strempty(out[i].task_id), "t")) {
                        if (bad++ == 0)
                                diag("metric %zu: %s=%g at %" PRIu64, i, out[i].name, out[i].value, out[i].timestamp);
                }
        }
        is_int(bad, 0, "each metric of the batch round-trips, in its order, with its own tags");
        store_metrics_free(out, n);

        CHECK_OK(store_begin(s, &tx));
        is_int(store_metric_append_json_tx(tx, &run, NULL, T0), 0, "no metrics: nothing to do");
        CHECK_OK(store_execution_delete(tx, "MB"));
        CHECK_OK(store_commit(tx));
}

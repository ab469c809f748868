/* test-record-tasks.c: the tasks that act on the store's records (execution.Count, PurgeExecutions,
 * log.PurgeLogs, execution.Resume, trigger.Toggle, kv.PurgeKV) and templating.TemplatedTask, run as a worker
 * runs a job, on a real store (SQLite, or PostgreSQL): what Kestra's own tests of them assert. */
#include "api.h"
#include "cleanup-jansson.h"
#include "execution-create.h"
#include "job.h"
#include "key.h"
#include "storage.h"
#include "store-test.h"
#include "strbuf.h"
#include "triggers.h"

#define NS "io.kestra.unittest"

static StoreTestEnv env;
static Store *store;
static char work[] = "/tmp/tern-test-records-XXXXXX";
static StrBuf logs = STRBUF_INIT;
static Storage *storage; /* file:// under work */

static void on_log(void *userdata, json_t *job, TaskLogLevel level, const char *message) {
        strbuf_appendf(&logs, "%s:%s|", task_log_level_to_string(level), message);
}

/* Run a task of type with props (JSON) as the worker would, in execution "runner" of NS.runner. */
static json_t *run_task(const char *type, const char *props_json, json_t *plugin_defaults) {
        json_error_t e;
        json_t *props = json_loads(props_json, 0, &e);
        if (!props) {
                diag("bad props %s: %s", props_json, e.text);
                return NULL;
        }
        _cleanup_json_ json_t *job = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:{s:{s:s}}}", "executionId",
                                               "runner", "taskRunId", "tr-runner", "taskId", "t", "attempt", 1, "type",
                                               type, "namespace", NS, "flowId", "runner", "properties", props,
                                               "variables", "flow", "namespace", NS);
        if (plugin_defaults)
                json_object_set(job, "pluginDefaults", plugin_defaults);
        const TaskServices services = { .store = store, .storage = storage };
        WorkerJobEnv jenv = { .work_root = work, .worker_id = "w", .cancel_fd = -1, .log = on_log, .services = &services };
        json_t *result = NULL;
        strbuf_truncate(&logs, 0);
        if (worker_job_run(&jenv, job, &result) < 0)
                return NULL;
        return result;
}

static const char *result_state(json_t *r) {
        return json_string_value(json_object_get(r, "state"));
}

static json_int_t out_int(json_t *r, const char *key) {
        return json_integer_value(json_object_get(json_object_get(r, "outputs"), key));
}

static const char *result_error(json_t *r) {
        return json_string_value(json_object_get(r, "error")) ?: "";
}

/* An execution of NS.flow_id in state st, created at created (ended then too when st is terminal). */
static void put_execution(const char *id, const char *ns, const char *flow_id, State st, usec_t created) {
        _cleanup_execution_ Execution *x = NULL;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        if (execution_new(id, ns, flow_id, 1, created, &x) < 0 || (st != STATE_CREATED && state_info_force(&x->state, st, created) < 0) ||
            store_begin(store, &tx) < 0 || api_execution_store(tx, x, created, NULL) < 0 || store_commit(TAKE_PTR(tx)) < 0) {
                printf("Bail out! cannot store execution %s: %s\n", id, store_error(store));
                exit(EXIT_FAILURE);
        }
}

static void put_log(const char *execution_id, StoreLogLevel level, usec_t ts, const char *message) {
        StoreLog l = { .execution_id = execution_id, .level = level, .timestamp = ts, .message = message };
        if (store_log_append(store, &l, 1) < 0) {
                printf("Bail out! cannot write a log line: %s\n", store_error(store));
                exit(EXIT_FAILURE);
        }
}

static bool execution_exists(const char *id) {
        _cleanup_json_ json_t *doc = NULL;
        return api_execution_get(store, id, &doc) == 0;
}

static char *date(usec_t t) {
        static char buf[4][TIMESTAMP_MAX];
        static unsigned k;
        return timestamp_format(buf[k++ % 4], t);
}

/* CountTest: 28 executions over three flows, counted per flow and kept by the expression. */
static void test_count(void) {
        usec_t now = now_realtime();
        for (int i = 0; i < 28; i++) {
                char id[32];
                snprintf(id, sizeof id, "count-%02d", i);
                put_execution(id, NS, i < 4 ? "first" : i < 10 ? "second" : "third",
                              i < 5 ? STATE_RUNNING : i < 8 ? STATE_FAILED : STATE_SUCCESS, now - USEC_PER_HOUR);
        }
        /* Outside the dates: not counted. */
        put_execution("count-old", NS, "third", STATE_SUCCESS, now - 40 * USEC_PER_DAY);
        _cleanup_free_ char *props = strdup_printf(
                "{\"flows\": [{\"namespace\": \"" NS "\", \"flowId\": \"first\"}, {\"namespace\": \"" NS "\", \"flowId\": \"second\"},"
                " {\"namespace\": \"" NS "\", \"flowId\": \"third\"}], \"expression\": \"{{ count >= 5 }}\","
                " \"startDate\": \"{{ now() | dateAdd(-30, 'DAYS') }}\", \"endDate\": \"{{ now() }}\"}");
        _cleanup_json_ json_t *r = run_task("io.kestra.plugin.core.execution.Count", props, NULL);
        ok(streq_ptr(result_state(r), "SUCCESS"), "Count runs (%s)", r ? result_error(r) : "no result");
        json_t *results = json_object_get(json_object_get(r, "outputs"), "results");
        is_int(json_array_size(results), 2, "Count: two flows have 5 executions or more");
        is_int(json_integer_value(json_object_get(json_array_get(results, 0), "count")), 6, "Count: 'second' has 6");
        is_str(json_string_value(json_object_get(json_array_get(results, 1), "flowId")), "third", "Count: then 'third'");
        is_int(json_integer_value(json_object_get(json_array_get(results, 1), "count")), 18, "Count: 'third' has 18");
        is_int(out_int(r, "total"), 24, "Count: total 24");

        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.Count",
                     "{\"flows\": [{\"namespace\": \"" NS "\", \"flowId\": \"first\"}, {\"namespace\": \"" NS "\", \"flowId\": \"second\"},"
                     " {\"namespace\": \"" NS "\", \"flowId\": \"third\"}], \"states\": [\"RUNNING\"],"
                     " \"expression\": \"{{ count >= 5 }}\", \"startDate\": \"2000-01-01T00:00:00Z\"}",
                     NULL);
        is_int(json_array_size(json_object_get(json_object_get(r, "outputs"), "results")), 0,
               "Count: no flow has 5 RUNNING executions");

        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.Count",
                     "{\"flows\": [{\"namespace\": \"io.kestra.test\", \"flowId\": \"missing\"}, {\"namespace\": \"" NS "\", \"flowId\": \"second\"},"
                     " {\"namespace\": \"" NS "\", \"flowId\": \"third\"}],"
                     " \"expression\": \"{{ count == 0 }}\", \"startDate\": \"2000-01-01T00:00:00Z\"}",
                     NULL);
        results = json_object_get(json_object_get(r, "outputs"), "results");
        ok(json_array_size(results) == 1 &&
                   streq_ptr(json_string_value(json_object_get(json_array_get(results, 0), "flowId")), "missing"),
           "Count: a listed flow without executions counts 0");
        is_int(out_int(r, "total"), 0, "Count: total 0");

        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.Count",
                     "{\"namespaces\": [\"" NS "\"], \"expression\": \"{{ count > 0 }}\", \"startDate\": \"2000-01-01T00:00:00Z\"}",
                     NULL);
        is_int(out_int(r, "total"), 29, "Count: namespaces count every flow of the namespace");

        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.Count", "{\"expression\": \"{{ true }}\", \"startDate\": \"2000-01-01T00:00:00Z\"}",
                     NULL);
        ok(streq_ptr(result_state(r), "FAILED") && strstr(result_error(r), "You must provide a list of flows or namespaces"),
           "Count without flows or namespaces fails saying so");
}

static ssize_t read_text(void *userdata, void *buf, size_t n) {
        const char **text = userdata;
        size_t len = MIN(strlen(*text), n);
        memcpy(buf, *text, len);
        *text += len;
        return (ssize_t) len;
}

/* PurgeExecutionsTest: the ended executions of a flow go, with their logs; the rest stays. */
static void test_purge_executions(void) {
        usec_t now = now_realtime();
        put_execution("purge-1", "run.namespace", "run-flow-id", STATE_SUCCESS, now - USEC_PER_HOUR);
        put_log("purge-1", STORE_LOG_INFO, now - USEC_PER_HOUR, "Hello World");
        /* A file of the execution in internal storage, which purgeStorage (default true) removes. */
        _cleanup_free_ char *prefix = NULL, *key = NULL;
        const char *text = "a task's output";
        if (storage_key_execution("run.namespace", "run-flow-id", "purge-1", &prefix) < 0 ||
            !(key = strjoin(prefix, "/tasks/t/out.txt")) || storage_put(storage, key, read_text, &text) < 0) {
                printf("Bail out! cannot store a file: %s\n", storage_error(storage));
                exit(EXIT_FAILURE);
        }
        put_execution("purge-running", "run.namespace", "run-flow-id", STATE_RUNNING, now - USEC_PER_HOUR);
        put_execution("purge-other", "run.namespace", "other-flow", STATE_SUCCESS, now - USEC_PER_HOUR);
        put_execution("purge-later", "run.namespace", "run-flow-id", STATE_SUCCESS, now + USEC_PER_HOUR);

        _cleanup_free_ char *props = strdup_printf(
                "{\"namespace\": \"run.namespace\", \"flowId\": \"run-flow-id\", \"endDate\": \"%s\"}", date(now + USEC_PER_MINUTE));
        _cleanup_json_ json_t *r = run_task("io.kestra.plugin.core.execution.PurgeExecutions", props, NULL);
        ok(streq_ptr(result_state(r), "SUCCESS"), "PurgeExecutions runs (%s)", r ? result_error(r) : "no result");
        is_int(out_int(r, "executionsCount"), 1, "PurgeExecutions: executionsCount 1");
        is_int(out_int(r, "logsCount"), 1, "PurgeExecutions: logsCount 1 (its log line)");
        is_int(out_int(r, "storagesCount"), 1, "PurgeExecutions: storagesCount 1 (its file)");
        is_int(storage_exists(storage, key), 0, "the execution's file is gone from internal storage");
        ok(!execution_exists("purge-1"), "the ended execution is gone");
        ok(execution_exists("purge-running") && execution_exists("purge-other") && execution_exists("purge-later"),
           "a running one, another flow's and one that ended after endDate stay");

        /* A namespace alone is a prefix; states filter. */
        put_execution("purge-sub", "run.namespace.sub", "x", STATE_FAILED, now - USEC_PER_HOUR);
        json_decref(r);
        free(props);
        props = strdup_printf("{\"namespace\": \"run\", \"states\": [\"FAILED\"], \"endDate\": \"%s\"}", date(now));
        r = run_task("io.kestra.plugin.core.execution.PurgeExecutions", props, NULL);
        is_int(out_int(r, "executionsCount"), 1, "PurgeExecutions: a namespace prefix and states");
        ok(!execution_exists("purge-sub") && execution_exists("purge-other"), "only the FAILED one below 'run' went");

        /* An endDate that rendered to nothing is no bound: refused, and the running one stays. */
        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.PurgeExecutions", "{\"namespace\": \"run\", \"endDate\": \"\"}", NULL);
        ok(streq_ptr(result_state(r), "FAILED") && strstr(result_error(r), "'endDate' is required"),
           "PurgeExecutions: an empty endDate fails saying so (%s)", r ? result_error(r) : "no result");
        ok(execution_exists("purge-running") && execution_exists("purge-other") && execution_exists("purge-later"),
           "... and purges nothing, the running execution included");

        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.PurgeExecutions", "{\"flowId\": \"x\", \"endDate\": \"2030-01-01T00:00:00Z\"}", NULL);
        ok(streq_ptr(result_state(r), "FAILED") && strstr(result_error(r), "'namespace'"),
           "PurgeExecutions: a flowId without its namespace fails saying so");
}

/* PurgeLogsTest: one line per way of missing the filter, and one that matches. */
static void test_purge_logs(void) {
        usec_t now = now_realtime();
        put_execution("logs-1", "purge.namespace", "purgeFlowId", STATE_SUCCESS, now - USEC_PER_HOUR);
        put_execution("logs-2", "incorrect.namespace", "purgeFlowId", STATE_SUCCESS, now - USEC_PER_HOUR);
        put_execution("logs-3", "purge.namespace", "wrongFlowId", STATE_SUCCESS, now - USEC_PER_HOUR);
        put_log("logs-1", STORE_LOG_INFO, now + 5 * USEC_PER_HOUR, "too recent");
        put_log("logs-1", STORE_LOG_INFO, now - 5 * USEC_PER_HOUR, "too old");
        put_log("logs-2", STORE_LOG_INFO, now - 10 * USEC_PER_SEC, "incorrect namespace");
        put_log("logs-3", STORE_LOG_INFO, now - 10 * USEC_PER_SEC, "incorrect flow");
        put_log("logs-1", STORE_LOG_WARN, now - 10 * USEC_PER_SEC, "incorrect level");
        put_log("logs-1", STORE_LOG_INFO, now - 10 * USEC_PER_SEC, "to delete");
        _cleanup_free_ char *props = strdup_printf("{\"namespace\": \"purge.namespace\", \"flowId\": \"purgeFlowId\","
                                                   " \"logLevels\": [\"INFO\"], \"startDate\": \"%s\", \"endDate\": \"%s\"}",
                                                   date(now - USEC_PER_HOUR), date(now + USEC_PER_HOUR));
        _cleanup_json_ json_t *r = run_task("io.kestra.plugin.core.log.PurgeLogs", props, NULL);
        ok(streq_ptr(result_state(r), "SUCCESS"), "PurgeLogs runs (%s)", r ? result_error(r) : "no result");
        is_int(out_int(r, "count"), 1, "PurgeLogs: only the line that matches every filter");
        is_int(out_int(r, "executionLogsCount"), 1, "PurgeLogs: executionLogsCount");
        is_int(out_int(r, "nonExecutionLogsCount"), 0, "PurgeLogs: nonExecutionLogsCount (tern has none)");
        _cleanup_json_ json_t *left = api_execution_logs_json(store, "logs-1", STORE_LOG_TRACE);
        is_int(json_array_size(left), 3, "the other lines of that execution are still there");

        json_decref(r);
        r = run_task("io.kestra.plugin.core.log.PurgeLogs", "{\"endDate\": \"\"}", NULL);
        ok(streq_ptr(result_state(r), "FAILED") && strstr(result_error(r), "'endDate' is required"),
           "PurgeLogs: an empty endDate fails saying so (%s)", r ? result_error(r) : "no result");
        json_decref(left);
        left = api_execution_logs_json(store, "logs-1", STORE_LOG_TRACE);
        is_int(json_array_size(left), 3, "... and purges nothing");

        json_decref(r);
        free(props);
        props = strdup_printf("{\"endDate\": \"%s\"}", date(now + 6 * USEC_PER_HOUR));
        r = run_task("io.kestra.plugin.core.log.PurgeLogs", props, NULL);
        ok(out_int(r, "count") >= 5, "PurgeLogs with only endDate purges every older line");
}

/* ResumeTest: a Resume task resumes another execution that is PAUSED. */
static void test_resume(void) {
        usec_t now = now_realtime();
        put_execution("paused-1", NS, "pause", STATE_PAUSED, now);
        _cleanup_json_ json_t *r = run_task("io.kestra.plugin.core.execution.Resume",
                                            "{\"executionId\": \"paused-1\", \"inputs\": {\"reason\": \"go\"}}", NULL);
        ok(streq_ptr(result_state(r), "SUCCESS"), "Resume runs (%s)", r ? result_error(r) : "no result");
        StoreEvent *ev = NULL;
        size_t n = 0;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        ok(store_begin(store, &tx) >= 0 && store_event_list(tx, "paused-1", &ev, &n) >= 0, "events listed");
        bool resumed = false;
        for (size_t i = 0; i < n; i++)
                if (streq(ev[i].type, "resume") &&
                    streq_ptr(json_string_value(json_object_get(json_object_get(ev[i].payload, "inputs"), "reason")), "go"))
                        resumed = true;
        ok(resumed, "the paused execution got a resume event with the inputs");
        store_events_free(ev, n);
        store_rollback(TAKE_PTR(tx));

        put_execution("paused-latest", NS, "pause-by-flow", STATE_PAUSED, now);
        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.Resume", "{\"namespace\": \"" NS "\", \"flowId\": \"pause-by-flow\"}", NULL);
        is_str(result_state(r), "SUCCESS", "Resume by namespace and flowId finds the paused execution");

        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.Resume", "{\"executionId\": \"count-20\"}", NULL);
        ok(streq_ptr(result_state(r), "FAILED") && strstr(result_error(r), "No paused task found on execution count-20"),
           "Resume of an execution that is not paused fails saying so");
        json_decref(r);
        r = run_task("io.kestra.plugin.core.execution.Resume", "{\"executionId\": \"nope\"}", NULL);
        ok(streq_ptr(result_state(r), "FAILED") && strstr(result_error(r), "No execution found for execution id nope"),
           "Resume of a missing execution fails saying so");
}

typedef struct FlowPut {
        const char *id, *source;
} FlowPut;

static int flow_put_tx(StoreTx *tx, void *userdata) {
        FlowPut *p = userdata;
        int r = store_flow_put(tx, NS, p->id, p->source, now_realtime(), NULL);
        return r < 0 ? r : api_trigger_sync_latest(tx, NS, p->id, NULL, now_realtime());
}

static bool trigger_disabled(const char *flow_id, const char *trigger_id) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        StoreTrigger t = {};
        bool d = store_begin(store, &tx) >= 0 && store_trigger_get(tx, NS, flow_id, trigger_id, &t) >= 0 && t.disabled;
        store_trigger_done(&t);
        return d;
}

/* Toggle: a trigger of another flow disabled, then enabled again. */
static void test_toggle(void) {
        FlowPut p = { "scheduled", "id: scheduled\nnamespace: " NS "\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                                   "    message: hi\ntriggers:\n  - id: schedule\n    type: io.kestra.plugin.core.trigger.Schedule\n"
                                   "    cron: '0 0 1 1 *'\n" };
        ok(store_transact(store, flow_put_tx, &p) >= 0, "a flow with a Schedule");
        ok(!trigger_disabled("scheduled", "schedule"), "its trigger is enabled");
        _cleanup_json_ json_t *r = run_task("io.kestra.plugin.core.trigger.Toggle",
                                            "{\"flowId\": \"scheduled\", \"trigger\": \"schedule\"}", NULL);
        ok(streq_ptr(result_state(r), "SUCCESS"), "Toggle runs (%s)", r ? result_error(r) : "no result");
        ok(trigger_disabled("scheduled", "schedule"), "Toggle (enabled: false, the default) disabled it");
        json_decref(r);
        r = run_task("io.kestra.plugin.core.trigger.Toggle",
                     "{\"namespace\": \"" NS "\", \"flowId\": \"scheduled\", \"trigger\": \"schedule\", \"enabled\": true}", NULL);
        ok(!trigger_disabled("scheduled", "schedule"), "Toggle with enabled: true enabled it again");
        json_decref(r);
        r = run_task("io.kestra.plugin.core.trigger.Toggle", "{\"flowId\": \"scheduled\", \"trigger\": \"nope\"}", NULL);
        ok(streq_ptr(result_state(r), "FAILED") && strstr(result_error(r), "trigger 'nope'"),
           "Toggle of an unknown trigger fails naming it");
}

static int kv_put(const char *ns, const char *key, usec_t expires_at) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_json_ json_t *v = json_string("unused");
        /* Written an hour ago, so that an entry may already have expired. */
        int r = store_begin(store, &tx);
        if (r >= 0)
                r = store_kv_put(tx, ns, key, v, expires_at, now_realtime() - USEC_PER_HOUR);
        return r < 0 ? r : store_commit(TAKE_PTR(tx));
}

/* Whether the entry is still in the table, expired or not. */
static bool kv_exists(const char *ns, const char *key) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_json_ json_t *v = NULL;
        return store_begin(store, &tx) >= 0 && store_kv_get(tx, ns, key, 1, &v) >= 0;
}

/* Kestra's PurgeKVTest: expired keys only by default, everywhere; every key with expiredOnly false
 * (the deprecated property overriding behavior); keys by glob; namespaces by list (with or without
 * their children) or by glob, never both. */
static void test_purge_kv(void) {
        usec_t now = now_realtime();
        const char *a = "purgekv.one", *b = "purgekv.two";
        int r = 0;
        r |= kv_put(a, "key_expired", now - USEC_PER_SEC);
        r |= kv_put(a, "key", now + USEC_PER_MINUTE);
        r |= kv_put(b, "key_expired", now - USEC_PER_SEC);
        r |= kv_put(b, "key", now + USEC_PER_MINUTE);
        r |= kv_put(b, "key2_never_expired", 0);
        /* Kestra's state files (kv.c keeps them in the store) and a reserved namespace are not the KV store's. */
        r |= kv_put(b, "__state__/flow/default", now - USEC_PER_SEC);
        r |= kv_put("_tern", "expired", now - USEC_PER_SEC);
        ok(r == 0, "key-value entries written");
        _cleanup_json_ json_t *res = run_task("io.kestra.plugin.core.kv.PurgeKV", "{}", NULL);
        ok(streq_ptr(result_state(res), "SUCCESS"), "PurgeKV runs (%s)", res ? result_error(res) : "no result");
        is_int(out_int(res, "size"), 2, "PurgeKV without properties: size 2, the expired keys of every namespace");
        ok(!kv_exists(a, "key_expired") && !kv_exists(b, "key_expired"), "the expired keys are gone");
        ok(kv_exists(a, "key") && kv_exists(b, "key") && kv_exists(b, "key2_never_expired"),
           "keys not expired yet and keys that never expire stay");
        ok(kv_exists(b, "__state__/flow/default") && kv_exists("_tern", "expired"),
           "state files and reserved namespaces are left alone");
        ok(strstr(logs.buf ?: "", "INFO:purged 2 keys|") != NULL, "it logs how many keys it purged (%s)", strna(logs.buf));

        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV",
                       "{\"namespaces\": [\"purgekv.two\"], \"behavior\": {\"type\": \"key\", \"expiredOnly\": false}}", NULL);
        is_int(out_int(res, "size"), 2, "behavior key, expiredOnly false: every key of the namespace");
        ok(!kv_exists(b, "key") && !kv_exists(b, "key2_never_expired") && kv_exists(a, "key"),
           "... of that namespace only");
        ok(kv_exists(b, "__state__/flow/default"), "... but not its state files");

        r = kv_put(b, "key", now + USEC_PER_MINUTE) | kv_put(b, "key3", 0);
        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV",
                       "{\"namespaces\": [\"purgekv.two\"], \"expiredOnly\": false,"
                       " \"behavior\": {\"type\": \"key\", \"expiredOnly\": true}}", NULL);
        ok(r == 0 && out_int(res, "size") == 2 && !kv_exists(b, "key") && !kv_exists(b, "key3"),
           "the deprecated expiredOnly overrides behavior");

        r = kv_put(b, "key_1", now - USEC_PER_SEC) | kv_put(b, "key_2", now - USEC_PER_SEC) |
            kv_put(b, "not_found", now - USEC_PER_SEC);
        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV", "{\"namespaces\": [\"purgekv.two\"], \"keyPattern\": \"*ey*\"}",
                       NULL);
        ok(r == 0 && out_int(res, "size") == 2 && kv_exists(b, "not_found") && !kv_exists(b, "key_1"),
           "keyPattern: only the expired keys matching the glob");

        /* Namespaces: a list takes their children unless told not to; a glob matches any part. */
        r = kv_put("purgekv", "k", 0) | kv_put("purgekv.parent", "k", 0) | kv_put("purgekv.parent.child", "k", 0) |
            kv_put("purgekv.parentx", "k", 0);
        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV",
                       "{\"namespaces\": [\"purgekv.parent\", \"ns1\"], \"includeChildNamespaces\": false,"
                       " \"behavior\": {\"type\": \"key\", \"expiredOnly\": false}}", NULL);
        ok(r == 0 && out_int(res, "size") == 1 && !kv_exists("purgekv.parent", "k") &&
                   kv_exists("purgekv.parent.child", "k"),
           "includeChildNamespaces false: the namespace named only");
        ok(strstr(logs.buf ?: "", "purging 2 namespaces: [\"purgekv.parent\",\"ns1\"]") != NULL,
           "a named namespace without keys is still one purged (%s)", strna(logs.buf));
        r = kv_put("purgekv.parent", "k", 0);
        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV",
                       "{\"namespaces\": [\"purgekv.parent\"], \"behavior\": {\"type\": \"key\", \"expiredOnly\": false}}",
                       NULL);
        ok(r == 0 && out_int(res, "size") == 2 && !kv_exists("purgekv.parent.child", "k") &&
                   kv_exists("purgekv.parentx", "k") && kv_exists("purgekv", "k"),
           "with children (the default): the namespace and those below it, not its siblings or parent");
        r = kv_put("purgekv.parent", "k", 0);
        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV",
                       "{\"namespacePattern\": \"*arent*\", \"behavior\": {\"type\": \"key\", \"expiredOnly\": false}}", NULL);
        ok(r == 0 && out_int(res, "size") == 2 && !kv_exists("purgekv.parentx", "k") && kv_exists("purgekv", "k"),
           "namespacePattern: every namespace the glob matches");

        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV", "{\"namespaces\": [\"a\"], \"namespacePattern\": \"*par*\"}", NULL);
        ok(streq_ptr(result_state(res), "FAILED") &&
                   strstr(result_error(res), "`namespaces` and `namespacePattern` can't be used at the same time"),
           "namespaces and namespacePattern together fail saying so");

        /* Versions: tern keeps one of each key, its last, which a date never purges (Kestra keeps the
         * last version) and keepAmount 1 keeps. */
        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV",
                       "{\"namespaces\": [\"purgekv\"], \"behavior\": {\"type\": \"version\", \"before\": \"2999-01-01T00:00:00Z\"}}",
                       NULL);
        ok(streq_ptr(result_state(res), "SUCCESS") && out_int(res, "size") == 0 && kv_exists("purgekv", "k"),
           "behavior version with before: the last version stays (%s)", result_error(res));
        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV",
                       "{\"namespaces\": [\"purgekv\"], \"behavior\": {\"type\": \"version\", \"keepAmount\": 1}}", NULL);
        ok(out_int(res, "size") == 0 && kv_exists("purgekv", "k"), "behavior version with keepAmount 1 keeps it");
        json_decref(res);
        res = run_task("io.kestra.plugin.core.kv.PurgeKV",
                       "{\"behavior\": {\"type\": \"version\", \"before\": \"2020-01-01T00:00:00Z\", \"keepAmount\": 2}}", NULL);
        ok(streq_ptr(result_state(res), "FAILED") &&
                   strstr(result_error(res), "behavior: Cannot set both 'before' and 'keepAmount' properties"),
           "before and keepAmount together fail with Kestra's message (%s)", result_error(res));
}

/* TemplatedTaskTest. */
static void test_templated(void) {
        _cleanup_json_ json_t *r = run_task("io.kestra.plugin.core.templating.TemplatedTask",
                                            "{\"spec\": \"type: io.kestra.plugin.core.debug.{{ 'Return' }}\\nformat: It's alive!\"}",
                                            NULL);
        ok(streq_ptr(json_string_value(json_object_get(json_object_get(r, "outputs"), "value")), "It's alive!"),
           "TemplatedTask runs the rendered task (%s)", r ? result_error(r) : "no result");
        json_decref(r);
        r = run_task("io.kestra.plugin.core.templating.TemplatedTask",
                     "{\"spec\": \"type: io.kestra.plugin.core.flow.Pause\\ndelay: PT10S\"}", NULL);
        is_str(result_error(r), "The templated task must be a runnable task", "a flowable is refused");
        json_decref(r);
        r = run_task("io.kestra.plugin.core.templating.TemplatedTask",
                     "{\"spec\": \"type: io.kestra.plugin.core.templating.TemplatedTask\\nspec: whatever\"}", NULL);
        is_str(result_error(r), "The templated task cannot be of type 'io.kestra.plugin.core.templating.TemplatedTask'",
               "a TemplatedTask in a TemplatedTask is refused");
        json_decref(r);
        r = run_task("io.kestra.plugin.core.templating.TemplatedTask", "{\"spec\": \"type: io.kestra.plugin.core.http.Download\"}",
                     NULL);
        ok(streq_ptr(result_state(r), "FAILED") && strstr(result_error(r), "uri"), "a missing required property is named (%s)",
           result_error(r));

        _cleanup_json_ json_t *defaults = json_loads("[{\"type\": \"io.kestra.plugin.core.debug.Return\", \"values\": "
                                                     "{\"format\": \"It's {{ flow.namespace }}!\"}}]", 0, NULL);
        json_decref(r);
        r = run_task("io.kestra.plugin.core.templating.TemplatedTask", "{\"spec\": \"type: io.kestra.plugin.core.debug.Return\"}",
                     defaults);
        is_str(json_string_value(json_object_get(json_object_get(r, "outputs"), "value")), "It's " NS "!",
               "the flow's pluginDefaults apply to the templated task, rendered");
        json_decref(r);
        r = run_task("io.kestra.plugin.core.templating.TemplatedTask",
                     "{\"spec\": \"type: io.kestra.plugin.core.debug.Return\\nformat: It's mine!\"}", defaults);
        is_str(json_string_value(json_object_get(json_object_get(r, "outputs"), "value")), "It's mine!",
               "the spec's own value wins over a default that is not forced");
}

int main(int argc, char *argv[]) {
        store_test_setup(argc > 1 ? argv[1] : "sqlite", &env);
        _cleanup_free_ char *url = NULL, *err = NULL;
        if (!mkdtemp(work) || !(url = strjoin("file://", work, "/storage")) ||
            storage_open(url, NULL, &storage, &err) < 0) {
                printf("Bail out! cannot open the storage: %s\n", strna(err));
                return EXIT_FAILURE;
        }
        if (store_open(env.url, &store) < 0 || store_migrate(store) < 0) {
                printf("Bail out! cannot open %s: %s\n", env.url, store ? store_error(store) : "");
                store_test_teardown(&env);
                return EXIT_FAILURE;
        }
        test_count();
        test_purge_executions();
        test_purge_logs();
        test_resume();
        test_toggle();
        test_purge_kv();
        test_templated();
        store_free(store);
        storage_free(storage);
        store_test_teardown(&env);
        _cleanup_free_ char *rm = strjoin("rm -rf -- '", work, "'");
        if (!rm || system(rm) != 0)
                diag("cannot remove %s", work);
        strbuf_done(&logs);
        return tap_done();
}

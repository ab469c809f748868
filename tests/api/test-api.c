/* test-api.c: lib/api's shared operations on a real store: creating executions, the flow cache, waiting on notifications. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "engine.h"
#include "execution-create.h"
#include "execution-store.h"
#include "execution-wait.h"
#include "flow-cache.h"
#include "store-test.h"

static StoreTestEnv env;

#define CHECK_OK(expr)                                                                                       \
        ({                                                                                                   \
                int _r = (expr);                                                                             \
                if (_r < 0)                                                                                  \
                        ok(false, "%s:%d: %s = %d (%s)", __FILE__, __LINE__, #expr, _r, strerror(-_r));      \
                _r;                                                                                          \
        })

#define FLOW_V1                                                                                              \
        "id: hello\nnamespace: test.api\nlabels:\n  team: core\ninputs:\n  - id: name\n    type: STRING\n"     \
        "    defaults: world\n  - id: count\n    type: INT\ntasks:\n  - id: say\n"                              \
        "    type: io.kestra.plugin.core.log.Log\n    message: \"hi {{ inputs.name }}\"\n"
#define FLOW_V2 FLOW_V1 "  - id: again\n    type: io.kestra.plugin.core.log.Log\n    message: again\n"
#define FLOW_DISABLED                                                                                        \
        "id: off\nnamespace: test.api\ndisabled: true\ntasks:\n  - id: say\n"                                 \
        "    type: io.kestra.plugin.core.log.Log\n    message: hi\n"

static Store *open_store(void) {
        Store *s = NULL;
        int r = store_open(env.url, &s);
        if (r < 0) {
                printf("Bail out! store_open(%s): %s: %s\n", env.url, strerror(-r), store_error(s));
                exit(EXIT_FAILURE);
        }
        return s;
}

static int put_flow(Store *s, const char *ns, const char *id, const char *source) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        int rev = 0, r = store_begin(s, &tx);
        if (r >= 0)
                r = store_flow_put(tx, ns, id, source, now_realtime(), &rev);
        if (r >= 0)
                r = store_commit(TAKE_PTR(tx));
        return r < 0 ? r : rev;
}

static const char *label(json_t *doc, const char *key) {
        size_t i;
        json_t *l;
        json_array_foreach(json_object_get(doc, "labels"), i, l)
                if (streq_ptr(json_string_value(json_object_get(l, "key")), key))
                        return json_string_value(json_object_get(l, "value"));
        return NULL;
}

/* Create in a transaction of its own; commits only on success. */
static int create(Store *s, const Flow *f, const ApiExecutionNew *n, json_t **ret_doc, char **ret_error) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        if ((r = api_execution_create(tx, f, n, now_realtime(), ret_doc, ret_error)) < 0)
                return r;
        return store_commit(TAKE_PTR(tx));
}

static void test_create(Store *s) {
        _cleanup_api_flow_ ApiFlow *af = NULL, *off = NULL;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        ok(put_flow(s, "test.api", "hello", FLOW_V1) == 1, "flow stored");
        ok(put_flow(s, "test.api", "off", FLOW_DISABLED) == 1, "disabled flow stored");
        if (store_begin(s, &tx) < 0 || api_flow_load(NULL, tx, "test.api", "hello", 0, &af) < 0 ||
            api_flow_load(NULL, tx, "test.api", "off", 0, &off) < 0) {
                printf("Bail out! cannot load the test flows\n");
                exit(EXIT_FAILURE);
        }
        store_rollback(TAKE_PTR(tx));

        /* Inputs resolved (typed, defaults), the flow's labels and the given ones, the trigger. */
        _cleanup_json_ json_t *inputs = json_pack("{s:s}", "count", "3");
        _cleanup_json_ json_t *labels = json_pack("{s:s}", "owner", "me");
        _cleanup_json_ json_t *trigger = json_pack("{s:s, s:s, s:{s:s}}", "id", "t", "type", "test", "variables", "k",
                                                   "v");
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_free_ char *err = NULL;
        ApiExecutionNew n = { .inputs = inputs, .labels = labels, .trigger = trigger };
        is_int(create(s, af->flow, &n, &doc, &err), 0, "create with inputs, labels and a trigger");
        const char *id = json_string_value(json_object_get(doc, "id"));
        ok(id && id_is_valid(id), "a drawn id");
        is_int(json_integer_value(json_object_get(json_object_get(doc, "inputs"), "count")), 3, "input typed");
        is_str(json_string_value(json_object_get(json_object_get(doc, "inputs"), "name")), "world", "default applied");
        is_str(label(doc, "team"), "core", "the flow's label");
        is_str(label(doc, "owner"), "me", "the given label");
        is_str(label(doc, "system.correlationId"), id, "correlation label: its own id");
        is_str(json_string_value(json_object_get(json_object_get(json_object_get(doc, "trigger"), "variables"), "k")),
               "v", "the trigger kept");
        _cleanup_json_ json_t *stored = NULL;
        is_int(api_execution_get(s, id, &stored), 0, "stored");
        is_str(json_string_value(json_object_get(json_object_get(stored, "state"), "current")), "CREATED", "state CREATED");
        StoreEvent *ev = NULL;
        size_t n_ev = 0;
        if (store_begin(s, &tx) >= 0) {
                is_int(store_event_list(tx, id, &ev, &n_ev), 0, "events listed");
                store_rollback(TAKE_PTR(tx));
        }
        ok(n_ev == 1 && streq(ev[0].type, ENGINE_EVENT_CREATED), "its \"created\" event starts it");
        store_events_free(ev, n_ev);

        /* The caller's id: kept, the correlation follows it, and a rerun finds it there. */
        _cleanup_json_ json_t *doc2 = NULL;
        ApiExecutionNew with_id = { .id = "callerChosenId00000001", .inputs = inputs };
        is_int(create(s, af->flow, &with_id, &doc2, NULL), 0, "create with the caller's id");
        is_str(json_string_value(json_object_get(doc2, "id")), "callerChosenId00000001", "the caller's id kept");
        is_str(label(doc2, "system.correlationId"), "callerChosenId00000001", "correlation label follows it");
        is_int(create(s, af->flow, &with_id, NULL, NULL), -EEXIST, "the same id again: -EEXIST");

        /* Refusals: nothing stored. */
        _cleanup_json_ json_t *bad = json_pack("{s:s}", "count", "three");
        ApiExecutionNew wrong = { .inputs = bad };
        free(TAKE_PTR(err));
        is_int(create(s, af->flow, &wrong, NULL, &err), -EINVAL, "a wrong input: -EINVAL");
        ok(err && strstr(err, "count"), "the message names the input (%s)", strna(err));
        ApiExecutionNew missing = {};
        is_int(create(s, af->flow, &missing, NULL, NULL), -EINVAL, "a required input missing: -EINVAL");
        ApiExecutionNew lenient = { .inputs = bad, .inputs_mode = API_INPUTS_LENIENT };
        _cleanup_json_ json_t *doc3 = NULL;
        is_int(create(s, af->flow, &lenient, &doc3, NULL), 0, "lenient: taken as given");
        is_str(json_string_value(json_object_get(json_object_get(doc3, "inputs"), "count")), "three", "as given");
        ApiExecutionNew raw = { .inputs = bad, .inputs_mode = API_INPUTS_RAW };
        _cleanup_json_ json_t *doc4 = NULL;
        is_int(create(s, af->flow, &raw, &doc4, NULL), 0, "raw: unvalidated");
        is_str(json_string_value(json_object_get(json_object_get(doc4, "inputs"), "name")), "world",
               "raw: the defaults fill the rest");
        ApiExecutionNew plain = {};
        is_int(create(s, off->flow, &plain, NULL, NULL), -EPERM, "a disabled flow: -EPERM");
        ApiExecutionNew anyway = { .even_disabled = true };
        is_int(create(s, off->flow, &anyway, NULL, NULL), 0, "a disabled flow when the caller says so (subflows)");
        _cleanup_json_ json_t *deep = json_loads("{\"count\": 1, \"x\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                                                 "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
                                                 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
                                                 "]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}", 0, NULL);
        ApiExecutionNew too_deep = { .inputs = deep, .inputs_mode = API_INPUTS_RAW };
        free(TAKE_PTR(err));
        int r = create(s, af->flow, &too_deep, NULL, &err);
        ok(!deep || r == -E2BIG, "a value nested too deep: -E2BIG (%d: %s)", r, strna(err));
}

static void test_cache(Store *s) {
        _cleanup_api_flow_cache_ ApiFlowCache *c = NULL;
        _cleanup_api_flow_ ApiFlow *a = NULL, *b = NULL, *v2 = NULL, *v1 = NULL, *owned_check = NULL;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        ApiFlowCacheStats st;

        if (api_flow_cache_new(2, &c) < 0 || store_begin(s, &tx) < 0) {
                printf("Bail out! cannot make a cache\n");
                exit(EXIT_FAILURE);
        }
        is_int(api_flow_load(c, tx, "test.api", "hello", 0, &a), 0, "latest loaded");
        is_int(api_flow_load(c, tx, "test.api", "hello", 0, &b), 0, "latest loaded again");
        ok(a == b, "the same parsed revision");
        api_flow_cache_stats(c, &st);
        ok(st.parsed == 1 && st.hits == 1, "parsed once (parsed %llu, hits %llu)", (unsigned long long) st.parsed,
           (unsigned long long) st.hits);
        store_rollback(TAKE_PTR(tx));

        is_int(put_flow(s, "test.api", "hello", FLOW_V2), 2, "the flow updated");
        CHECK_OK(store_begin(s, &tx));
        is_int(api_flow_load(c, tx, "test.api", "hello", 0, &v2), 0, "latest after the update");
        ok(v2 != a && v2->flow->revision == 2 && v2->flow->n_tasks == 2, "the new revision");
        is_int(api_flow_load(c, tx, "test.api", "hello", 1, &v1), 0, "revision 1 by number");
        ok(v1 == a, "revision 1 still cached");
        is_int(api_flow_load(c, tx, "test.api", "nope", 0, &owned_check), -ENOENT, "no such flow: -ENOENT");

        /* Bounded: a third revision (the off flow) makes room; flows held stay usable. */
        _cleanup_api_flow_ ApiFlow *third = NULL;
        is_int(api_flow_load(c, tx, "test.api", "off", 0, &third), 0, "another flow");
        api_flow_cache_stats(c, &st);
        ok(st.size <= 2, "the cache stays within its size (%zu)", st.size);
        is_str(a->flow->id, "hello", "a flow held across an eviction is intact");
        store_rollback(TAKE_PTR(tx));

        ok(put_flow(s, "test.api", "broken", "id: broken\nnamespace: test.api\ntasks: 12\n") == 1, "an invalid source stored");
        CHECK_OK(store_begin(s, &tx));
        _cleanup_api_flow_ ApiFlow *broken = NULL;
        is_int(api_flow_load(c, tx, "test.api", "broken", 0, &broken), -EBADMSG, "an invalid source: -EBADMSG");
        Flow *mine = NULL;
        is_int(api_flow_load_owned(tx, "test.api", "hello", 0, &mine), 0, "a revision of one's own");
        ok(mine && mine->revision == 2, "owned: the latest revision");
        flow_free(mine);
        store_rollback(TAKE_PTR(tx));
}

typedef struct Saver {
        Store *s;
        const char *id;
        usec_t delay, changing_at; /* when it began the change: the waiter cannot wake before */
        bool log;
        const char *message; /* the log line's text (log: "x" when NULL) */
} Saver;

/* Another connection changes the execution after a delay. */
static void *saver_thread(void *arg) {
        Saver *v = arg;
        usleep((useconds_t) v->delay);
        v->changing_at = now_monotonic();
        if (v->log) {
                StoreLog l = { .execution_id = v->id, .level = STORE_LOG_INFO, .timestamp = now_realtime(),
                                .message = v->message ? v->message : "x" };
                (void) store_log_append(v->s, &l, 1);
        } else {
                json_t *doc = NULL;
                StoreTx *tx;
                if (store_begin(v->s, &tx) >= 0 && store_execution_get(tx, v->id, &doc) >= 0) {
                        json_object_set_new(json_object_get(doc, "state"), "current", json_string("SUCCESS"));
                        _cleanup_execution_ Execution *e = NULL;
                        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
                        if (execution_from_json(doc, &e) >= 0 && execution_store_meta(e, now_realtime(), &m) >= 0 &&
                            store_execution_save(tx, &m, doc, now_realtime()) >= 0)
                                (void) store_commit(tx);
                }
                store_rollback(tx);
                json_decref(doc);
        }
        return NULL;
}

static int count_reads(Store *s, json_t *doc, void *userdata) {
        unsigned *n = userdata;
        (*n)++;
        return api_wait_ended(s, doc, NULL);
}

static void test_wait(Store *s) {
        _cleanup_store_ Store *w = NULL, *other = NULL;
        _cleanup_json_ json_t *doc = NULL;
        CHECK_OK(store_dup(s, &w));
        CHECK_OK(store_dup(s, &other));
        const char *id = "callerChosenId00000001";
        /* No fallback read within the test: only a notification can wake it. */
        ApiWaitOptions o = { .timeout = 300 * USEC_PER_MSEC, .fallback = 3600 * USEC_PER_SEC };
        unsigned reads = 0;
        usec_t t = now_monotonic();
        is_int(api_execution_wait(w, id, &o, count_reads, &reads, &doc), 0, "nothing happens: timeout");
        usec_t took = now_monotonic() - t;
        ok(took >= 290 * USEC_PER_MSEC && took < 3 * USEC_PER_SEC, "after the timeout (%.0f ms)", (double) took / 1000);
        /* A poll (SQLite's fallback is 100 ms) would read more often. */
        is_int(reads, 2, "read at the start and at the deadline only: no polling meanwhile");
        ok(doc && api_execution_state(doc) == STATE_CREATED, "the document as it is");

        Saver v = { .s = other, .id = id, .delay = 300 * USEC_PER_MSEC };
        pthread_t th;
        reads = 0;
        o.timeout = 30 * USEC_PER_SEC;
        pthread_create(&th, NULL, saver_thread, &v);
        is_int(api_execution_wait(w, id, &o, count_reads, &reads, &doc), 1, "woken by a commit on another connection");
        usec_t woke = now_monotonic();
        pthread_join(th, NULL);
        ok(woke - v.changing_at < 2 * USEC_PER_SEC, "promptly (%.1f ms after the change began)",
           (double) (woke - v.changing_at) / 1000);
        is_int(reads, 2, "read twice: at the start and after the commit");
        ok(doc && api_execution_state(doc) == STATE_SUCCESS, "the changed document");

        /* Log lines wake a waiter that asks for them. */
        Saver lv = { .s = other, .id = id, .delay = 200 * USEC_PER_MSEC, .log = true };
        ApiWaitOptions lo = { .timeout = 5 * USEC_PER_SEC, .fallback = 3600 * USEC_PER_SEC, .logs = true };
        reads = 0;
        pthread_create(&th, NULL, saver_thread, &lv);
        /* Ended already: a fn that waits for a second read. */
        int r = api_execution_wait(w, id, &lo, count_reads, &reads, NULL);
        pthread_join(th, NULL);
        is_int(r, 1, "ended: returns at once");
        is_int(api_execution_wait(w, "noSuchExecution0000001", &lo, NULL, NULL, NULL), -ENOENT, "no such execution: -ENOENT");
}

/* Done once the saver's line is stored: not on a count of reads, which a stray notification (another
 * test's commit on the same database) or a re-read after LISTEN would end early. */
static int line_stored(Store *s, json_t *doc, void *userdata) {
        const Saver *v = userdata;
        StoreLog *l = NULL;
        size_t n = 0;
        StoreLogFilter f = { .execution_id = v->id, .text = v->message };
        if (store_log_search(s, &f, &l, &n) < 0)
                return -EIO;
        store_logs_free(l, n);
        return n > 0;
}

static void test_wait_logs(Store *s) {
        _cleanup_store_ Store *w = NULL, *other = NULL;
        CHECK_OK(store_dup(s, &w));
        CHECK_OK(store_dup(s, &other));
        const char *id = "callerChosenId00000001";
        Saver lv = { .s = other, .id = id, .delay = 200 * USEC_PER_MSEC, .log = true, .message = "the awaited line" };
        ApiWaitOptions lo = { .timeout = 10 * USEC_PER_SEC, .fallback = 3600 * USEC_PER_SEC, .logs = true };
        pthread_t th;
        pthread_create(&th, NULL, saver_thread, &lv);
        int r = api_execution_wait(w, id, &lo, line_stored, &lv, NULL);
        usec_t woke = now_monotonic();
        pthread_join(th, NULL);
        is_int(r, 1, "a log line wakes a waiter that listens for logs");
        ok(woke - lv.changing_at < 2 * USEC_PER_SEC, "promptly (%.1f ms)", (double) (woke - lv.changing_at) / 1000);
}

/* The flow source's own "disabled:" line: read and set without touching a task's or a trigger's. */
static void test_source_disabled(void) {
        static const struct {
                const char *src;
                bool disabled;     /* api_flow_source_disabled */
                const char *on, *off; /* set to true, to false */
        } cases[] = {
                { "id: a\nnamespace: n\n", false, "id: a\nnamespace: n\ndisabled: true\n", "id: a\nnamespace: n\n" },
                { "id: a\nnamespace: n", false, "id: a\nnamespace: n\ndisabled: true\n", "id: a\nnamespace: n" },
                { "id: a\ndisabled: true # off\ntasks: []\n", true, "id: a\ndisabled: true\ntasks: []\n",
                  "id: a\ndisabled: false\ntasks: []\n" },
                { "id: a\ndisabled: True\r\n", true, "id: a\ndisabled: true\n", "id: a\ndisabled: false\n" },
                { "id: a\ntasks:\n  - id: t\n    disabled: true\n", false,
                  "id: a\ntasks:\n  - id: t\n    disabled: true\ndisabled: true\n", "id: a\ntasks:\n  - id: t\n    disabled: true\n" },
                { "id: a\ndisabledx: true\n", false, "id: a\ndisabledx: true\ndisabled: true\n", "id: a\ndisabledx: true\n" },
                { "", false, "disabled: true\n", "" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                ok(api_flow_source_disabled(cases[i].src) == cases[i].disabled, "source %zu: disabled is %s", i,
                   cases[i].disabled ? "true" : "false");
                _cleanup_free_ char *on = api_flow_source_set_disabled(cases[i].src, true);
                _cleanup_free_ char *off = api_flow_source_set_disabled(cases[i].src, false);
                char name[64];
                snprintf(name, sizeof name, "source %zu set to true", i);
                is_str(on, cases[i].on, name);
                snprintf(name, sizeof name, "source %zu set to false", i);
                is_str(off, cases[i].off, name);
                ok(on && api_flow_source_disabled(on) && off && !api_flow_source_disabled(off), "source %zu reads back", i);
        }
}

int main(int argc, char *argv[]) {
        store_test_setup(argc > 1 ? argv[1] : "sqlite", &env);
        _cleanup_store_ Store *s = open_store();
        if (store_migrate(s) < 0) {
                printf("Bail out! migrate: %s\n", store_error(s));
                exit(EXIT_FAILURE);
        }
        test_create(s);
        test_cache(s);
        test_wait(s);
        test_wait_logs(s);
        test_source_disabled();
        s = store_free(s);
        store_test_teardown(&env);
        return tap_done();
}

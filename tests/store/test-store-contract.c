/* test-store-contract.c: the store's contract suite, run once per backend (argv[1]: sqlite | postgres | mysql). */
#include <math.h>
#include <pthread.h>
#include <poll.h>
#include <stdatomic.h>
#include <time.h>

#include "cleanup-jansson.h"
#include "store-test.h"
#include "strutil.h"

static StoreTestEnv env;
static const usec_t T0 = 1700000000ULL * USEC_PER_SEC; /* a fixed "now" for reproducible times */

#define CHECK_OK(expr)                                                                       \
        ({                                                                                   \
                int _r = (expr);                                                             \
                if (_r < 0)                                                                  \
                        ok(false, "%s:%d: %s = %d (%s)", __FILE__, __LINE__, #expr, _r, strerror(-_r)); \
                _r;                                                                          \
        })

static Store *open_store(void) {
        Store *s = NULL;
        int r = store_open(env.url, &s);
        if (r < 0) {
                printf("Bail out! store_open(%s): %s: %s\n", env.url, strerror(-r), store_error(s));
                exit(EXIT_FAILURE);
        }
        return s;
}

static json_t *make_doc(const char *id, const char *ns, const char *flow, const char *state, const char *date) {
        return json_pack("{s:s, s:s, s:s, s:i, s:{s:s, s:[{s:s, s:s}]}, s:[{s:s, s:s}], s:i, s:[]}", "id", id,
                         "namespace", ns, "flowId", flow, "flowRevision", 1, "state", "current", state, "histories",
                         "state", state, "date", date, "labels", "key", "team", "value", "data", "applied", 0,
                         "taskRunList");
}

/* The test plays the engine's part: what the engine would say about one of these documents. */
typedef struct TestMeta {
        StoreExecutionMeta m;
        StoreTaskRunMeta tr[8];
} TestMeta;

static usec_t date_of(json_t *history) {
        usec_t t = 0;
        const char *d = json_string_value(json_object_get(history, "date"));
        return d && timestamp_parse(d, 0, &t) >= 0 ? t : 0;
}

static const StoreExecutionMeta *meta_of(json_t *doc, TestMeta *t) {
        static const char *const ended[] = { "SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED" };
        json_t *state = json_object_get(doc, "state"), *histories = json_object_get(state, "histories");
        json_t *list = json_object_get(doc, "taskRunList");
        const char *current = json_string_value(json_object_get(state, "current"));
        t->m = (StoreExecutionMeta) {
                .id = json_string_value(json_object_get(doc, "id")),
                .namespace = json_string_value(json_object_get(doc, "namespace")),
                .flow_id = json_string_value(json_object_get(doc, "flowId")),
                .flow_revision = (int) json_integer_value(json_object_get(doc, "flowRevision")),
                .state = current,
                .created = date_of(json_array_get(histories, 0)),
                .labels = json_object_get(doc, "labels"),
                .task_runs = t->tr,
                .n_task_runs = MIN(json_array_size(list), ELEMENTSOF(t->tr)),
        };
        for (size_t i = 0; i < ELEMENTSOF(ended); i++)
                if (streq_ptr(current, ended[i]))
                        t->m.ended = date_of(json_array_get(histories, json_array_size(histories) - 1));
        for (size_t i = 0; i < t->m.n_task_runs; i++) {
                json_t *tr = json_array_get(list, i);
                t->tr[i] = (StoreTaskRunMeta) { json_string_value(json_object_get(tr, "id")),
                                                json_string_value(json_object_get(json_object_get(tr, "state"), "current")) };
        }
        return &t->m;
}
#define META(doc) meta_of((doc), &(TestMeta) {})

/* ---- schema ---- */

static void *migrate_thread(void *arg) {
        Store *s = arg;
        return (void *) (intptr_t) store_migrate(s);
}

static void test_schema(Store *s) {
        int v = -1;
        is_int(store_check_schema(s, &v), -EPROTO, "an empty database is refused");
        is_int(v, 0, "an empty database has schema version 0");
        ok(strstr(store_error(s), "tern db migrate") != NULL, "the refusal says to run 'tern db migrate': %s",
           store_error(s));

        /* Two migrators at once: exactly one applies the migrations, the other finds them done. */
        _cleanup_store_ Store *s2 = NULL;
        is_int(store_dup(s, &s2), 0, "store_dup");
        pthread_t t1, t2;
        void *r1, *r2;
        pthread_create(&t1, NULL, migrate_thread, s);
        pthread_create(&t2, NULL, migrate_thread, s2);
        pthread_join(t1, &r1);
        pthread_join(t2, &r2);
        int a = (int) (intptr_t) r1, b = (int) (intptr_t) r2;
        ok(a >= 0 && b >= 0, "concurrent migrations both succeed (%d, %d)", a, b);
        is_int(a + b, store_schema_version_expected(store_backend(s)), "the migrations were applied once");
        is_int(store_migrate(s), 0, "migrating again applies nothing");
        is_int(store_check_schema(s, &v), 0, "the schema is accepted after migrating");
        is_int(v, store_schema_version_expected(store_backend(s)), "schema version is the expected one");
}

/* ---- flows ---- */

static void test_flows(Store *s) {
        StoreTx *tx;
        int rev = 0;
        StoreFlow f = {};
        StoreFlow *list = NULL;
        size_t n = 0;

        CHECK_OK(store_begin(s, &tx));
        is_int(store_flow_put(tx, "company.team", "hello", "id: hello\n", T0, &rev), 0, "first put creates a flow");
        is_int(rev, 1, "first revision is 1");
        is_int(store_flow_put(tx, "company.team", "hello", "id: hello\n", T0, &rev), STORE_UNCHANGED,
               "same source makes no revision");
        is_int(rev, 1, "unchanged put reports the latest revision");
        is_int(store_flow_put(tx, "company.team", "hello", "id: hello\n# v2\n", T0, &rev), 0, "changed source");
        is_int(rev, 2, "changed source makes revision 2");
        is_int(store_flow_put(tx, "company", "top", "id: top\n", T0, NULL), 0, "flow in parent namespace");
        is_int(store_flow_put(tx, "companyx", "other", "id: other\n", T0, NULL), 0, "flow in look-alike namespace");
        is_int(store_flow_get(tx, "company.team", "hello", 0, &f), 0, "get latest");
        is_str(f.source, "id: hello\n# v2\n", "latest source is kept verbatim");
        is_int(f.revision, 2, "latest revision");
        store_flow_done(&f);
        is_int(store_flow_get(tx, "company.team", "hello", 1, &f), 0, "get revision 1");
        is_str(f.source, "id: hello\n", "revision 1 source");
        store_flow_done(&f);

        is_int(store_flow_list(tx, "company", &list, &n), 0, "list by namespace prefix");
        is_int(n, 2, "prefix 'company' matches company and company.team, not companyx");
        if (n == 2) {
                is_str(list[0].id, "top", "sorted by namespace");
                is_str(list[1].id, "hello", "then id");
                is_int(list[1].revision, 2, "list shows the latest revision");
        }
        store_flows_free(list, n);
        /* Case matters on every backend (SQLite's LIKE would ignore it), and a wildcard is a character. */
        is_int(store_flow_list(tx, "Company", &list, &n), 0, "list by a prefix in another case");
        is_int(n, 0, "prefix 'Company' matches neither company nor company.team");
        store_flows_free(list, n);
        is_int(store_flow_list(tx, "COMPANY.TEAM", &list, &n), 0, "list by a dotted prefix in another case");
        is_int(n, 0, "prefix 'COMPANY.TEAM' matches nothing");
        store_flows_free(list, n);
        is_int(store_flow_list(tx, "compan_", &list, &n), 0, "list by a prefix with '_'");
        is_int(n, 0, "'_' in a prefix is no wildcard");
        store_flows_free(list, n);

        is_int(store_flow_delete(tx, "company.team", "hello", T0), 0, "delete");
        is_int(store_flow_get(tx, "company.team", "hello", 0, &f), -ENOENT, "a deleted flow is gone");
        is_int(store_flow_delete(tx, "company.team", "hello", T0), -ENOENT, "deleting twice fails");
        is_int(store_flow_list(tx, NULL, &list, &n), 0, "list all");
        is_int(n, 2, "deleted flows are not listed");
        store_flows_free(list, n);
        is_int(store_flow_revisions(tx, "company.team", "hello", &list, &n), 0, "revisions");
        is_int(n, 3, "history is kept: 2 revisions and the deletion");
        if (n == 3)
                ok(list[2].deleted && !list[1].deleted, "the last revision is the deletion");
        store_flows_free(list, n);
        is_int(store_flow_put(tx, "company.team", "hello", "id: hello\n# v2\n", T0, &rev), 0,
               "put after delete revives the flow even with the same source");
        is_int(rev, 4, "as revision 4");
        CHECK_OK(store_commit(tx));
}

/* ---- executions and events ---- */

static void test_executions(Store *s) {
        StoreTx *tx;
        _cleanup_json_ json_t *doc = make_doc("exec1", "company.team", "hello", "CREATED", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *got = NULL, *found = NULL;

        CHECK_OK(store_begin(s, &tx));
        is_int(store_execution_create(tx, META(doc), doc, "created", NULL, T0), 0, "create an execution with its first event");
        is_int(store_execution_create(tx, META(doc), doc, "created", NULL, T0), -EEXIST, "creating the same id again fails");
        is_int(store_execution_get(tx, "exec1", &got), 0, "get the document back");
        ok(json_equal(got, doc), "the document round-trips");
        StoreEvent *ev = NULL;
        size_t n = 0;
        is_int(store_event_list(tx, "exec1", &ev, &n), 0, "list events");
        is_int(n, 1, "creating wrote one event");
        if (n == 1)
                is_str(ev[0].type, "created", "the first event has the given type");
        store_events_free(ev, n);

        json_object_set_new(json_object_get(doc, "state"), "current", json_string("SUCCESS"));
        json_array_append_new(json_object_get(json_object_get(doc, "state"), "histories"),
                              json_pack("{s:s, s:s}", "state", "SUCCESS", "date", "2023-11-14T22:14:00Z"));
        is_int(store_execution_save(tx, META(doc), doc, T0), 0, "save a new document");
        _cleanup_json_ json_t *ghost = make_doc("ghost", "a", "b", "CREATED", "2023-11-14T22:13:20Z");
        is_int(store_execution_save(tx, META(ghost), ghost, T0), -ENOENT, "saving a missing execution fails");
        _cleanup_json_ json_t *bad = json_pack("{s:s}", "id", "x");
        is_int(store_execution_create(tx, META(bad), bad, "created", NULL, T0), -EINVAL, "a writer that names no namespace is refused");

        _cleanup_json_ json_t *doc2 = make_doc("exec2", "company.team.sub", "other", "RUNNING", "2023-11-14T22:15:00Z");
        CHECK_OK(store_execution_create(tx, META(doc2), doc2, "created", NULL, T0));
        struct {
                StoreExecutionFilter f;
                const char *ids;
        } cases[] = {
                { { .namespace_prefix = "company" }, "exec2,exec1" },
                { { .namespace_prefix = "company.team.sub" }, "exec2" },
                { { .namespace_prefix = "compan" }, "" },
                { { .namespace_prefix = "COMPANY" }, "" },
                { { .namespace_prefix = "Company.team" }, "" },
                { { .namespace_prefix = "company.%" }, "" },
                { { .flow_id = "hello" }, "exec1" },
                { { .state = "SUCCESS" }, "exec1" },
                { { .labels = &(StoreLabelFilter) { "team", "data" }, .n_labels = 1 }, "exec2,exec1" },
                { { .labels = &(StoreLabelFilter) { "team", "ops" }, .n_labels = 1 }, "" },
                { { .labels = (StoreLabelFilter[]) { { "team", "data" }, { "team", "ops" } }, .n_labels = 2 }, "" },
                { { .created_from = T0 + 30 * USEC_PER_SEC }, "exec2" }, /* created 22:15:00 = T0 + 100 s */
                { { .limit = 1, .offset = 1 }, "exec1" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                json_decref(found);
                found = NULL;
                is_int(store_execution_search(tx, &cases[i].f, &found), 0, "search");
                char ids[256] = "";
                size_t k;
                json_t *d;
                json_array_foreach(found, k, d) {
                        if (k)
                                strcat(ids, ",");
                        strncat(ids, json_string_value(json_object_get(d, "id")), 100);
                }
                char name[64];
                snprintf(name, sizeof name, "search case %zu finds [%s]", i, cases[i].ids);
                is_str(ids, cases[i].ids, name);
        }
        CHECK_OK(store_execution_delete(tx, "exec2"));
        CHECK_OK(store_execution_delete(tx, "exec1"));
        CHECK_OK(store_commit(tx));
}

/* The store indexes what the writer says, never what it reads in a document. */
static void test_meta(Store *s) {
        StoreTx *tx;
        _cleanup_json_ json_t *doc = json_pack("{s:s, s:[]}", "opaque", "to the store", "taskRunList");
        _cleanup_json_ json_t *found = NULL, *got = NULL;
        StoreExecutionMeta m = { .id = "m-1", .namespace = "meta", .flow_id = "f", .state = "PAUSED", .created = T0 };
        StoreExecutionFilter paused = { .namespace_prefix = "meta", .state = "PAUSED" };

        CHECK_OK(store_begin(s, &tx));
        is_int(store_execution_create(tx, &m, doc, "created", NULL, T0), 0,
               "a document without a field the store could read is stored");
        is_int(store_execution_search(tx, &paused, &found), 0, "search by the state the writer gave");
        is_int(json_array_size(found), 1, "finds it");
        json_array_append_new(json_object_get(doc, "taskRunList"), json_pack("{s:s}", "any", "thing"));
        is_int(store_execution_save(tx, &m, doc, T0), -EINVAL, "a task run the writer says nothing of is refused");
        StoreTaskRunMeta tr = { "m-tr", "RUNNING" };
        m.task_runs = &tr;
        m.n_task_runs = 1;
        m.state = "RUNNING";
        is_int(store_execution_save(tx, &m, doc, T0), 0, "described, it is saved");
        json_decref(found);
        is_int(store_execution_search(tx, &paused, &found), 0, "search by the former state");
        is_int(json_array_size(found), 0, "finds it no more");

        StoreExecutionRow row = {};
        is_int(store_execution_row(tx, "m-1", &row), 0, "read an execution's indexed columns");
        ok(streq_ptr(row.namespace, "meta") && streq_ptr(row.flow_id, "f") && row.created == T0,
           "they say its namespace, flow and creation");
        store_execution_row_done(&row);
        is_int(store_execution_row(tx, "m-none", &row), -ENOENT, "no columns for a missing execution");

        CHECK_OK(store_event_emit(tx, "m-1", "later", NULL, T0 + USEC_PER_SEC, T0, NULL));
        _cleanup_json_ json_t *minimal = json_pack("{s:s, s:[]}", "minimal", "yes", "taskRunList");
        StoreExecutionMeta failed = { .id = "m-1", .namespace = "meta", .flow_id = "f", .state = "FAILED",
                                      .created = T0, .ended = T0 + 5 };
        is_int(store_execution_set_aside(tx, &failed, minimal, T0 + 5), 0, "set an execution aside");
        is_int(store_execution_get(tx, "m-1", &got), 0, "read it back");
        ok(streq_ptr(json_string_value(json_object_get(got, "minimal")), "yes"), "it has the replacement document");
        is_int(json_array_size(json_object_get(got, "taskRunList")), 1, "and the task run that still reads back");
        StoreEvent *ev = NULL;
        size_t n = 9;
        CHECK_OK(store_event_list(tx, "m-1", &ev, &n));
        is_int(n, 0, "its events are gone");
        store_events_free(ev, n);
        StoreExecutionFilter f = { .namespace_prefix = "meta", .state = "FAILED" };
        json_decref(found);
        is_int(store_execution_search(tx, &f, &found), 0, "search by the state it was set aside in");
        is_int(json_array_size(found), 1, "finds it");
        failed.id = "m-none";
        is_int(store_execution_set_aside(tx, &failed, minimal, T0), -ENOENT, "setting a missing execution aside fails");
        CHECK_OK(store_execution_delete(tx, "m-1"));
        CHECK_OK(store_commit(tx));
}

static json_t *make_task_run(const char *id, const char *task, const char *state) {
        return json_pack("{s:s, s:s, s:{s:s}, s:{s:s}}", "id", id, "taskId", task, "state", "current", state, "outputs",
                         "text", "out of a task run");
}

static bool claim_known(void *userdata, const char *id, int64_t version) {
        return version == *(int64_t *) userdata;
}

/* Task runs are stored a row each: a save writes those that changed since the document it started
 * from, and every reader (get, search, claim) sees the whole list, in order. */
static void test_task_runs(Store *s) {
        StoreTx *tx;
        StoreClaim *c = NULL;
        size_t n = 0;
        _cleanup_json_ json_t *doc = make_doc("e-tr", "company.team", "hello", "RUNNING", "2023-11-14T22:13:20Z");
        json_t *list = json_object_get(doc, "taskRunList");
        json_array_append_new(list, make_task_run("tr1", "a", "SUCCESS"));
        json_array_append_new(list, make_task_run("tr2", "b", "RUNNING"));

        CHECK_OK(store_begin(s, &tx));
        is_int(store_execution_create(tx, META(doc), doc, "created", NULL, T0), 0, "create an execution with two task runs");
        json_t *got = NULL;
        is_int(store_execution_get(tx, "e-tr", &got), 0, "get it");
        ok(json_equal(got, doc), "its task runs come back in order");

        /* A step: the second task run ends, a third starts; saved from the document read before. */
        _cleanup_json_ json_t *next = json_deep_copy(doc);
        json_t *l2 = json_object_get(next, "taskRunList");
        json_object_set_new(json_object_get(json_array_get(l2, 1), "state"), "current", json_string("SUCCESS"));
        json_array_append_new(l2, make_task_run("tr3", "c", "CREATED"));
        int64_t v1 = 0, v2 = 0;
        is_int(store_execution_save_from(tx, META(next), next, got, T0, &v1), 0, "save a step from the document read");
        json_decref(got);
        got = NULL;
        is_int(store_execution_get(tx, "e-tr", &got), 0, "get it again");
        ok(json_equal(got, next), "the changed and the added task runs are stored");

        /* A restart drops the later task runs: the list shrinks. */
        _cleanup_json_ json_t *shorter = json_deep_copy(next);
        json_array_remove(json_object_get(shorter, "taskRunList"), 2);
        json_array_remove(json_object_get(shorter, "taskRunList"), 1);
        is_int(store_execution_save_from(tx, META(shorter), shorter, got, T0, &v2), 0, "save a shorter list");
        is_int(v2, v1 + 1, "every save gives a new version");
        json_decref(got);
        got = NULL;
        is_int(store_execution_get(tx, "e-tr", &got), 0, "get the shorter one");
        ok(json_equal(got, shorter), "dropped task runs are gone");
        json_decref(got);
        got = NULL;

        /* Saved without a document to compare with: everything is rewritten. */
        is_int(store_execution_save(tx, META(next), next, T0), 0, "save the longer list without a previous document");
        StoreExecutionFilter f = { .flow_id = "hello" };
        _cleanup_json_ json_t *found = NULL;
        is_int(store_execution_search(tx, &f, &found), 0, "search");
        ok(json_array_size(found) == 1 && json_equal(json_array_get(found, 0), next),
           "search returns the document with its task runs");
        CHECK_OK(store_commit(tx));

        CHECK_OK(store_begin(s, &tx));
        is_int(store_claim_executions(tx, T0, 10, &c, &n), 0, "claim");
        ok(n == 1 && json_equal(c[0].doc, next), "a claim carries the task runs");
        ok(n == 1 && c[0].version > v2, "and the version of the last save (%lld > %lld)",
           n == 1 ? (long long) c[0].version : 0LL, (long long) v2);
        int64_t have = n == 1 ? c[0].version : -1;
        store_claims_free(c, n);
        store_rollback(tx);
        /* An executor that holds this version is not sent the document again; another one is. */
        CHECK_OK(store_begin(s, &tx));
        is_int(store_claim_executions_known(tx, T0, 10, claim_known, &have, &c, &n), 0, "claim knowing the version");
        ok(n == 1 && !c[0].doc, "the document is not read again");
        store_claims_free(c, n);
        store_rollback(tx);
        have--;
        CHECK_OK(store_begin(s, &tx));
        is_int(store_claim_executions_known(tx, T0, 10, claim_known, &have, &c, &n), 0, "claim knowing an older version");
        ok(n == 1 && json_equal(c[0].doc, next), "the newer document is read");
        store_claims_free(c, n);
        CHECK_OK(store_execution_delete(tx, "e-tr"));
        CHECK_OK(store_commit(tx));
        CHECK_OK(store_begin(s, &tx));
        is_int(store_execution_get(tx, "e-tr", &got), -ENOENT, "deleted");
        store_rollback(tx);
}

static void test_claim_and_outbox(Store *s) {
        StoreTx *tx;
        StoreClaim *c = NULL;
        size_t n = 0;
        int64_t seq;
        _cleanup_json_ json_t *doc = make_doc("e-claim", "ns", "f", "CREATED", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p1 = json_pack("{s:i}", "n", 1);

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        CHECK_OK(store_event_emit(tx, "e-claim", "second", p1, T0, T0, &seq));
        ok(seq > 0, "emit returns a seq");
        CHECK_OK(store_event_emit(tx, "e-claim", "later", NULL, T0 + 60 * USEC_PER_SEC, T0, NULL));
        CHECK_OK(store_commit(tx));
        CHECK_OK(store_begin(s, &tx));
        is_int(store_event_emit(tx, "nope", "x", NULL, T0, T0, NULL), -ENOENT,
               "an event for a missing execution is refused");
        store_rollback(tx);

        usec_t due;
        is_int(store_next_due(s, STORE_CHANNEL_EVENTS, &due), 0, "next due");
        is_int(due, T0, "the earliest due event is due now");

        /* Outbox atomicity: apply, emit a job and an event, then roll back: all undone. */
        CHECK_OK(store_begin(s, &tx));
        is_int(store_claim_executions(tx, T0, 10, &c, &n), 0, "claim executions");
        is_int(n, 1, "one execution has due events");
        if (n == 1) {
                is_int(c[0].n_events, 2, "only the due events are returned");
                is_str(c[0].events[0].type, "created", "events come in order");
                is_str(c[0].events[1].type, "second", "events come in order (2)");
                is_int(json_integer_value(json_object_get(c[0].events[1].payload, "n")), 1, "payload round-trips");
                for (size_t i = 0; i < c[0].n_events; i++)
                        CHECK_OK(store_event_delete(tx, c[0].events[i].seq));
                CHECK_OK(store_job_enqueue(tx, "job-rolled-back", "e-claim", NULL, NULL, p1, T0, T0, NULL));
        }
        store_claims_free(c, n);
        store_rollback(tx);

        int64_t jobs = -1;
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_count(tx, &jobs));
        is_int(jobs, 0, "a rolled-back step leaves no job");
        is_int(store_claim_executions(tx, T0, 10, &c, &n), 0, "claim again");
        is_int(n == 1 ? c[0].n_events : 0, 2, "a rolled-back step leaves its events to consume");
        if (n == 1)
                for (size_t i = 0; i < c[0].n_events; i++)
                        CHECK_OK(store_event_delete(tx, c[0].events[i].seq));
        store_claims_free(c, n);
        CHECK_OK(store_commit(tx));

        CHECK_OK(store_begin(s, &tx));
        is_int(store_claim_executions(tx, T0, 10, &c, &n), 0, "claim after consuming");
        is_int(n, 0, "consumed events are gone; the delayed one is not due yet");
        store_claims_free(c, n);
        is_int(store_claim_executions(tx, T0 + 60 * USEC_PER_SEC, 10, &c, &n), 0, "claim when the delay is over");
        is_int(n, 1, "the delayed event is due");
        if (n == 1) {
                is_str(c[0].events[0].type, "later", "it is the delayed event");
                CHECK_OK(store_event_delete(tx, c[0].events[0].seq));
        }
        store_claims_free(c, n);
        CHECK_OK(store_commit(tx));
        is_int(store_next_due(s, STORE_CHANNEL_EVENTS, &due), 0, "next due");
        ok(due == USEC_INFINITY, "no pending event: next due is infinity");
}

/* A step that applies many executions at once, its writes deferred (store_tx_defer): every task
 * run, job and event deletion of every execution is written, in statements of many rows (more
 * than one statement's parameters hold, so in several), none lost, none twice. */
#define DEF_EXECS 40
#define DEF_EVENTS 3
#define DEF_TASKS 4
static void test_deferred(Store *s) {
        StoreTx *tx;
        StoreClaim *c = NULL;
        size_t n = 0;
        int64_t jobs = -1, jobs0 = -1;
        char id[64], date[] = "2023-11-14T22:13:20Z";

        CHECK_OK(store_begin(s, &tx));
        for (int i = 0; i < DEF_EXECS; i++) {
                snprintf(id, sizeof id, "e-def-%02d", i);
                _cleanup_json_ json_t *doc = make_doc(id, "ns", "deferred", "CREATED", date);
                CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        }
        /* Interleaved: the events of one execution are not adjacent in seq order. */
        for (int k = 1; k < DEF_EVENTS; k++)
                for (int i = 0; i < DEF_EXECS; i++) {
                        _cleanup_json_ json_t *p = json_pack("{s:i, s:i}", "exec", i, "k", k);
                        snprintf(id, sizeof id, "e-def-%02d", i);
                        CHECK_OK(store_event_emit(tx, id, "next", p, T0, T0, NULL));
                }
        CHECK_OK(store_commit(tx));

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_count(tx, &jobs0)); /* the earlier tests' */
        is_int(store_tx_defer(tx), 0, "defer the step's writes");
        is_int(store_claim_executions(tx, T0, 1000, &c, &n), 0, "claim them all in one step");
        /* Executions the earlier tests left with due events are claimed too: left alone. */
        size_t others = 0;
        for (size_t i = 0; i < n; i++)
                if (!startswith(c[i].execution_id, "e-def-")) {
                        free(c[i].execution_id);
                        json_decref(c[i].doc);
                        store_events_free(c[i].events, c[i].n_events);
                        others++;
                } else
                        c[i - others] = c[i];
        n -= others;
        is_int(n, DEF_EXECS, "every execution is claimed");
        int64_t version0 = n > 0 ? c[0].version : -1;
        _cleanup_free_ char *first = n > 0 ? strdup(c[0].execution_id) : NULL;
        bool events_ok = true;
        for (size_t i = 0; i < n; i++) {
                if (c[i].n_events != DEF_EVENTS || !streq(c[i].events[0].type, "created"))
                        events_ok = false;
                for (size_t k = 1; k < c[i].n_events; k++)
                        if (c[i].events[k].seq <= c[i].events[k - 1].seq ||
                            json_integer_value(json_object_get(c[i].events[k].payload, "k")) != (json_int_t) k ||
                            json_integer_value(json_object_get(c[i].events[k].payload, "exec")) !=
                                    (json_int_t) atoi(c[i].execution_id + strlen("e-def-")))
                                events_ok = false;
        }
        ok(events_ok, "each execution gets its own events, all of them, in seq order");
        for (size_t i = 0; i < n; i++) {
                json_t *doc = c[i].doc, *list = json_object_get(doc, "taskRunList");
                json_object_set_new(json_object_get(doc, "state"), "current", json_string("RUNNING"));
                /* Saved twice in the step: the second write of a task run replaces the first. */
                for (int pass = 0; pass < 2; pass++) {
                        json_array_clear(list);
                        for (int t = 0; t < DEF_TASKS; t++) {
                                char tr[80], task[16];
                                snprintf(tr, sizeof tr, "%s-tr%d", c[i].execution_id, t);
                                snprintf(task, sizeof task, "t%d", t);
                                json_array_append_new(list, make_task_run(tr, task, pass ? "RUNNING" : "CREATED"));
                        }
                        CHECK_OK(store_execution_save(tx, META(doc), doc, T0));
                }
                for (int t = 0; t < DEF_TASKS; t++) {
                        char job[96], tr[80];
                        snprintf(tr, sizeof tr, "%s-tr%d", c[i].execution_id, t);
                        snprintf(job, sizeof job, "%s-1", tr);
                        _cleanup_json_ json_t *p = json_pack("{s:s}", "taskRunId", tr);
                        CHECK_OK(store_job_enqueue(tx, job, c[i].execution_id, tr, NULL, p, T0, T0, NULL));
                }
                for (size_t k = 0; k < c[i].n_events; k++)
                        CHECK_OK(store_event_delete(tx, c[i].events[k].seq));
        }
        CHECK_OK(store_job_count(tx, &jobs));
        is_int(jobs, jobs0, "deferred jobs are not written before the flush");
        is_int(store_tx_flush(tx), 0, "flush: one statement per table and chunk");
        CHECK_OK(store_job_count(tx, &jobs));
        is_int(jobs, jobs0 + DEF_EXECS * DEF_TASKS, "every job is written");
        /* What the flush wrote, written again (a rerun after an in-doubt commit): no job twice. */
        if (n > 0) {
                _cleanup_json_ json_t *p = json_pack("{s:s}", "taskRunId", "again");
                snprintf(id, sizeof id, "%s-tr0-1", c[0].execution_id);
                CHECK_OK(store_job_enqueue(tx, id, c[0].execution_id, "again", NULL, p, T0, T0, NULL));
        }
        store_claims_free(c, n);
        is_int(store_commit(tx), 0, "commit (flushes what is left)");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_count(tx, &jobs));
        is_int(jobs, jobs0 + DEF_EXECS * DEF_TASKS, "a job enqueued again is not written twice");
        bool docs_ok = true, jobs_ok = true;
        for (int i = 0; i < DEF_EXECS; i++) {
                _cleanup_json_ json_t *got = NULL;
                snprintf(id, sizeof id, "e-def-%02d", i);
                json_t *list = store_execution_get(tx, id, &got) >= 0 ? json_object_get(got, "taskRunList") : NULL;
                if (json_array_size(list) != DEF_TASKS ||
                    !streq_ptr(json_string_value(json_object_get(json_object_get(got, "state"), "current")), "RUNNING"))
                        docs_ok = false;
                for (int t = 0; t < DEF_TASKS; t++) {
                        char tr[80], job[96];
                        json_t *run = json_array_get(list, (size_t) t);
                        snprintf(tr, sizeof tr, "%s-tr%d", id, t);
                        if (!streq_ptr(json_string_value(json_object_get(run, "id")), tr) ||
                            !streq_ptr(json_string_value(json_object_get(json_object_get(run, "state"), "current")),
                                       "RUNNING"))
                                docs_ok = false;
                        StoreJob j = {};
                        snprintf(job, sizeof job, "%s-1", tr);
                        if (store_job_get(tx, job, &j) < 0 || !streq_ptr(j.task_run_id, tr) ||
                            !streq_ptr(j.execution_id, id))
                                jobs_ok = false;
                        store_job_done(&j);
                }
        }
        ok(docs_ok, "every execution is saved, with its task runs, as last written");
        ok(jobs_ok, "every job is there, for its task run");
        is_int(store_claim_executions(tx, T0, 1000, &c, &n), 0, "claim again");
        size_t left = 0;
        for (size_t i = 0; i < n; i++)
                left += startswith(c[i].execution_id, "e-def-") != NULL;
        is_int(left, 0, "every event was deleted");
        store_claims_free(c, n);
        store_rollback(tx);
        /* Saved twice in one step: one write, one new version. */
        CHECK_OK(store_begin(s, &tx));
        if (first)
                CHECK_OK(store_event_emit(tx, first, "probe", NULL, T0, T0, NULL));
        is_int(store_claim_executions(tx, T0, 1000, &c, &n), 0, "claim one");
        int64_t version1 = -1;
        for (size_t i = 0; i < n; i++)
                if (streq_ptr(c[i].execution_id, first))
                        version1 = c[i].version;
        ok(version1 == version0 + 1, "a step's saves of an execution make one new version (%lld after %lld)",
           (long long) version1, (long long) version0);
        store_claims_free(c, n);
        store_rollback(tx);

        /* An event deleted twice (another executor applied it): the flush says so. */
        CHECK_OK(store_begin(s, &tx));
        snprintf(id, sizeof id, "e-def-%02d", 0);
        int64_t seq = 0;
        CHECK_OK(store_event_emit(tx, id, "once", NULL, T0, T0, &seq));
        CHECK_OK(store_commit(tx));
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_tx_defer(tx));
        CHECK_OK(store_event_delete(tx, seq));
        CHECK_OK(store_event_delete(tx, seq + 1000000));
        is_int(store_tx_flush(tx), -ENOENT, "a deferred deletion of a missing event fails the flush");
        store_rollback(tx);
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_tx_defer(tx));
        CHECK_OK(store_event_delete(tx, seq));
        is_int(store_commit(tx), 0, "a deferred deletion is written at commit");
        CHECK_OK(store_begin(s, &tx));
        is_int(store_claim_executions(tx, T0, 1000, &c, &n), 0, "claim after it");
        left = 0;
        for (size_t i = 0; i < n; i++)
                left += startswith(c[i].execution_id, "e-def-") != NULL;
        is_int(left, 0, "the event is gone");
        store_claims_free(c, n);
        for (int i = 0; i < DEF_EXECS; i++) {
                snprintf(id, sizeof id, "e-def-%02d", i);
                CHECK_OK(store_execution_delete(tx, id));
        }
        CHECK_OK(store_commit(tx));
}

/* Many executors on their own connections: nobody ever holds an execution another one holds,
 * and every event is applied exactly once. */
#define SER_EXECS 12
#define SER_EVENTS 5
#define SER_THREADS 4
static atomic_int ser_inflight[SER_EXECS];
static atomic_int ser_violations, ser_applied;

static int ser_step(StoreTx *tx, void *userdata) {
        StoreClaim *c = NULL;
        size_t n = 0;
        int r = store_claim_executions(tx, T0, 3, &c, &n);
        if (r < 0)
                return r;
        int applied = 0;
        for (size_t i = 0; i < n && r >= 0; i++) {
                int k = atoi(c[i].execution_id + 3);
                if (atomic_exchange(&ser_inflight[k], 1))
                        atomic_fetch_add(&ser_violations, 1);
                usleep(500);
                json_int_t a = json_integer_value(json_object_get(c[i].doc, "applied"));
                json_object_set_new(c[i].doc, "applied", json_integer(a + (json_int_t) c[i].n_events));
                for (size_t j = 0; j < c[i].n_events && r >= 0; j++)
                        r = store_event_delete(tx, c[i].events[j].seq);
                if (r >= 0)
                        r = store_execution_save(tx, META(c[i].doc), c[i].doc, T0);
                applied += (int) c[i].n_events;
                atomic_store(&ser_inflight[k], 0);
        }
        store_claims_free(c, n);
        *(int *) userdata = applied;
        return r < 0 ? r : (int) n;
}

static void *ser_thread(void *arg) {
        Store *s = arg;
        int idle = 0;
        while (idle < 3) {
                int applied = 0;
                int r = store_transact(s, ser_step, &applied);
                if (r < 0) {
                        diag("executor step: %s: %s", strerror(-r), store_error(s));
                        atomic_fetch_add(&ser_violations, 1000);
                        break;
                }
                if (r == 0)
                        idle++, usleep(2000);
                else
                        atomic_fetch_add(&ser_applied, applied);
        }
        return NULL;
}

static void test_serialization(Store *s) {
        StoreTx *tx;
        Store *st[SER_THREADS];
        pthread_t th[SER_THREADS];

        CHECK_OK(store_begin(s, &tx));
        for (int i = 0; i < SER_EXECS; i++) {
                char id[32];
                snprintf(id, sizeof id, "ser%d", i);
                _cleanup_json_ json_t *d = make_doc(id, "ser", "f", "RUNNING", "2023-11-14T22:13:20Z");
                CHECK_OK(store_execution_create(tx, META(d), d, "created", NULL, T0));
                for (int j = 1; j < SER_EVENTS; j++)
                        CHECK_OK(store_event_emit(tx, id, "tick", NULL, T0, T0, NULL));
        }
        CHECK_OK(store_commit(tx));

        for (int i = 0; i < SER_THREADS; i++) {
                CHECK_OK(store_dup(s, &st[i]));
                pthread_create(&th[i], NULL, ser_thread, st[i]);
        }
        for (int i = 0; i < SER_THREADS; i++) {
                pthread_join(th[i], NULL);
                store_free(st[i]);
        }
        is_int(atomic_load(&ser_violations), 0, "no execution was held by two executors at once");
        is_int(atomic_load(&ser_applied), SER_EXECS * SER_EVENTS, "every event was applied exactly once");
        int good = 0;
        CHECK_OK(store_begin(s, &tx));
        for (int i = 0; i < SER_EXECS; i++) {
                char id[32];
                _cleanup_json_ json_t *d = NULL;
                snprintf(id, sizeof id, "ser%d", i);
                if (store_execution_get(tx, id, &d) >= 0 &&
                    json_integer_value(json_object_get(d, "applied")) == SER_EVENTS)
                        good++;
        }
        store_rollback(tx);
        is_int(good, SER_EXECS, "each document saw each of its events once");
}

/* PostgreSQL only: an execution locked by one executor is skipped, not waited for, by another. */
typedef struct EmitArgs {
        Store *s;
        const char *execution_id;
        int r;
        atomic_bool done;
} EmitArgs;

static void *emit_thread(void *arg) {
        EmitArgs *e = arg;
        StoreTx *tx;
        e->r = store_begin(e->s, &tx);
        if (e->r >= 0) {
                e->r = store_event_emit(tx, e->execution_id, "task_result", NULL, T0 + 10, T0 + 10, NULL);
                if (e->r >= 0)
                        e->r = store_commit(tx);
                else
                        store_rollback(tx);
        }
        atomic_store(&e->done, true);
        return NULL;
}

static void test_skip_locked(Store *s) {
        _cleanup_store_ Store *s2 = NULL;
        StoreTx *a, *b;
        StoreClaim *c = NULL;
        size_t n = 0;

        CHECK_OK(store_dup(s, &s2));
        CHECK_OK(store_begin(s, &a));
        _cleanup_json_ json_t *d1 = make_doc("sk1", "sk", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *d2 = make_doc("sk2", "sk", "f", "RUNNING", "2023-11-14T22:13:21Z");
        CHECK_OK(store_execution_create(a, META(d1), d1, "created", NULL, T0));
        CHECK_OK(store_execution_create(a, META(d2), d2, "created", NULL, T0 + 1));
        CHECK_OK(store_commit(a));

        CHECK_OK(store_begin(s, &a));
        is_int(store_claim_executions(a, T0 + 10, 1, &c, &n), 0, "executor A claims one execution");
        char held[32] = "";
        if (n == 1)
                snprintf(held, sizeof held, "%s", c[0].execution_id);
        store_claims_free(c, n);
        CHECK_OK(store_begin(s2, &b));
        is_int(store_claim_executions(b, T0 + 10, 10, &c, &n), 0, "executor B claims while A holds one");
        is_int(n, 1, "B gets only the other execution");
        if (n == 1)
                ok(!streq(c[0].execution_id, held), "B skipped the execution A holds");
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < c[i].n_events; j++)
                        CHECK_OK(store_event_delete(b, c[i].events[j].seq));
        store_claims_free(c, n);
        CHECK_OK(store_commit(b));
        if (store_backend(s) == STORE_BACKEND_POSTGRES) {
                /* A worker reporting on the execution A is stepping does not wait for A's step (its
                 * event's foreign-key check must not conflict with the executor's row lock). */
                CHECK_OK(store_begin(s2, &b));
                is_int(store_event_emit(b, held, "task_result", NULL, T0 + 10, T0 + 10, NULL), 0,
                       "an event for the execution A holds is written at once");
                CHECK_OK(store_commit(b));
                store_rollback(a);
        } else {
                /* InnoDB's foreign-key check takes a shared lock on the execution's row, which
                 * A's claim holds exclusively (MySQL has no FOR NO KEY UPDATE): the worker's
                 * event waits for A's step to end, then is written. */
                EmitArgs e = { .s = s2, .execution_id = held, .r = 1 };
                pthread_t th;
                pthread_create(&th, NULL, emit_thread, &e);
                usleep(300 * 1000);
                ok(!atomic_load(&e.done), "an event for the execution A holds waits for A's step");
                store_rollback(a);
                pthread_join(th, NULL);
                is_int(e.r, 0, "and is written when A's step ends");
        }
        CHECK_OK(store_begin(s, &a));
        is_int(store_claim_executions(a, T0 + 10, 10, &c, &n), 0, "after A rolled back");
        is_int(n, 1, "A's execution is claimable again with its events");
        for (size_t i = 0; i < n; i++)
                for (size_t j = 0; j < c[i].n_events; j++)
                        CHECK_OK(store_event_delete(a, c[i].events[j].seq));
        store_claims_free(c, n);
        CHECK_OK(store_commit(a));
}

/* ---- jobs ---- */

static int64_t count_events(Store *s, const char *exec, const char *type) {
        StoreTx *tx;
        StoreEvent *e = NULL;
        size_t n = 0;
        int64_t k = 0;
        if (store_begin(s, &tx) < 0)
                return -1;
        if (store_event_list(tx, exec, &e, &n) >= 0)
                for (size_t i = 0; i < n; i++)
                        k += streq(e[i].type, type);
        store_events_free(e, n);
        store_rollback(tx);
        return k;
}

static void drain_events(Store *s, const char *exec) {
        StoreTx *tx;
        StoreEvent *e = NULL;
        size_t n = 0;
        if (store_begin(s, &tx) < 0)
                return;
        if (store_event_list(tx, exec, &e, &n) >= 0)
                for (size_t i = 0; i < n; i++)
                        (void) store_event_delete(tx, e[i].seq);
        store_events_free(e, n);
        (void) store_commit(tx);
}

static void test_jobs(Store *s) {
        StoreTx *tx;
        StoreJob *j = NULL, *j2 = NULL;
        size_t n = 0, n2 = 0;
        const usec_t lease = 30 * USEC_PER_SEC;
        _cleanup_json_ json_t *doc = make_doc("e-jobs", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *result = json_pack("{s:s}", "state", "SUCCESS");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        for (int i = 0; i < 10; i++) {
                char id[32], tr[32];
                _cleanup_json_ json_t *p = json_pack("{s:i}", "i", i);
                snprintf(id, sizeof id, "job%02d", i);
                snprintf(tr, sizeof tr, "tr%02d", i);
                CHECK_OK(store_job_enqueue(tx, id, "e-jobs", tr, NULL, p, T0 + (usec_t) i, T0, NULL));
        }
        _cleanup_json_ json_t *p = json_pack("{}");
        is_int(store_job_enqueue(tx, "job00", "e-jobs", NULL, NULL, p, T0, T0, NULL), STORE_UNCHANGED,
               "enqueueing a known id again changes nothing");
        CHECK_OK(store_job_enqueue(tx, "job-later", "e-jobs", NULL, NULL, p, T0 + 3600 * USEC_PER_SEC, T0, NULL));
        CHECK_OK(store_job_enqueue(tx, "job-gpu", "e-jobs", NULL, "gpu", p, T0, T0, NULL));
        char gen[ID_MAX] = "";
        is_int(store_job_enqueue(tx, NULL, "e-jobs", NULL, NULL, p, T0 + 100, T0, gen), 0, "enqueue with a generated id");
        ok(id_is_valid(gen), "the generated id is returned");
        CHECK_OK(store_commit(tx));
        drain_events(s, "e-jobs");

        is_int(store_job_claim(s, "w1", NULL, 4, T0 + 100, lease, &j, &n), 0, "claim a batch of 4");
        is_int(n, 4, "got 4 jobs");
        if (n == 4) {
                is_str(j[0].id, "job00", "oldest available first");
                is_int(j[0].epoch, 1, "a first claim has epoch 1");
                is_int(j[0].lease_until, T0 + 100 + lease, "lease_until = now + lease");
                is_str(j[0].worker_id, "w1", "claimed by w1");
                is_int(json_integer_value(json_object_get(j[0].payload, "i")), 0, "payload round-trips");
        }
        is_int(store_job_claim(s, "w2", NULL, 100, T0 + 100, lease, &j2, &n2), 0, "claim the rest");
        is_int(n2, 7, "7 more (not the delayed one, not the other queue)");
        store_jobs_free(j2, n2);
        is_int(store_job_claim(s, "w2", NULL, 100, T0 + 100, lease, &j2, &n2), 0, "claim on an empty queue");
        is_int(n2, 0, "nothing left");
        store_jobs_free(j2, n2);
        is_int(store_job_claim(s, "wg", "gpu", 100, T0 + 100, lease, &j2, &n2), 0, "claim another queue");
        is_int(n2, 1, "the gpu job goes to the gpu queue");
        if (n2 == 1)
                CHECK_OK(store_job_complete(s, j2[0].id, j2[0].epoch, "wg", NULL, T0));
        store_jobs_free(j2, n2);

        if (n == 4) {
                is_int(store_job_complete(s, j[0].id, j[0].epoch, "w1", result, T0 + 200), 0, "complete a job");
                is_int(store_job_complete(s, j[0].id, j[0].epoch, "w1", result, T0 + 200), STORE_STALE,
                       "completing twice is stale");
                is_int(store_job_complete(s, j[1].id, j[1].epoch + 1, "w1", result, T0 + 200), STORE_STALE,
                       "a wrong epoch is stale");
                is_int(store_job_complete(s, j[1].id, j[1].epoch, "w2", result, T0 + 200), STORE_STALE,
                       "another worker's result is stale");

                StoreTx *t;
                StoreEvent *e = NULL;
                size_t ne = 0;
                CHECK_OK(store_begin(s, &t));
                CHECK_OK(store_event_list(t, "e-jobs", &e, &ne));
                is_int(ne, 2, "completions emitted task_result events (incl. the gpu job)");
                if (ne == 2) {
                        is_str(e[1].type, "task_result", "event type task_result");
                        is_str(json_string_value(json_object_get(e[1].payload, "taskRunId")), "tr00",
                               "the result names the task run");
                        ok(json_equal(json_object_get(e[1].payload, "result"), result), "the result is carried");
                }
                store_events_free(e, ne);
                store_rollback(t);
                drain_events(s, "e-jobs");

                StoreJobRef refs[] = { { j[1].id, j[1].epoch }, { j[2].id, j[2].epoch }, { j[3].id, 99 } };
                is_int(store_job_renew(s, "w1", refs, 3, T0 + 20 * USEC_PER_SEC, lease), 2,
                       "renew extends the current-epoch leases only");
                /* j[1], j[2] now lease until T0+50s; j[3] and w2's jobs until T0+30s. */
                is_int(store_job_requeue_expired(s, T0 + 40 * USEC_PER_SEC), 8, "expired leases are re-queued");
                is_int(count_events(s, "e-jobs", "job_resubmitted"), 8, "each re-queue is recorded as an event");
                drain_events(s, "e-jobs");
                is_int(store_job_complete(s, j[3].id, j[3].epoch, "w1", result, T0), STORE_STALE,
                       "a late result from an expired lease is rejected");
                is_int(store_job_complete(s, j[1].id, j[1].epoch, "w1", result, T0), 0,
                       "a renewed lease still completes");
                is_int(store_job_requeue_worker(s, "w1", STORE_RESUBMIT_WORKER_DEAD, T0), 1, "a dead worker's job is re-queued");
                drain_events(s, "e-jobs");
                is_int(store_job_complete(s, j[2].id, j[2].epoch, "w1", result, T0), STORE_STALE,
                       "the dead worker's result is rejected");
                is_int(store_job_claim(s, "w3", NULL, 100, T0 + 100, lease, &j2, &n2), 0, "claim the re-queued jobs");
                is_int(n2, 9, "all re-queued jobs come back (8 expired, 1 of the dead worker)");
                bool epochs = true;
                for (size_t i = 0; i < n2; i++)
                        if (streq(j2[i].id, j[3].id))
                                epochs = epochs && j2[i].epoch == j[3].epoch + 2;
                ok(epochs, "a re-queued then re-claimed job has moved two epochs on");
                for (size_t i = 0; i < n2; i++)
                        CHECK_OK(store_job_complete(s, j2[i].id, j2[i].epoch, "w3", NULL, T0));
                store_jobs_free(j2, n2);
        }
        store_jobs_free(j, n);
        is_int(store_job_claim(s, "w3", NULL, 100, T0 + 3600 * USEC_PER_SEC, lease, &j2, &n2), 0, "claim delayed");
        is_int(n2, 1, "a delayed job is claimable once available");
        for (size_t i = 0; i < n2; i++)
                CHECK_OK(store_job_complete(s, j2[i].id, j2[i].epoch, "w3", NULL, T0));
        store_jobs_free(j2, n2);
        drain_events(s, "e-jobs");
}

/* Two (or more) workers claiming at once get disjoint jobs and each job is done once. */
#define RACE_JOBS 120
#define RACE_WORKERS 4
static atomic_int race_done[RACE_JOBS];
static atomic_int race_errors;

static void *race_worker(void *arg) {
        Store *s = arg;
        char wid[32];
        snprintf(wid, sizeof wid, "w-%p", arg);
        for (;;) {
                StoreJob *j = NULL;
                size_t n = 0;
                int r = store_job_claim(s, wid, NULL, 7, T0, 60 * USEC_PER_SEC, &j, &n);
                if (r < 0) {
                        diag("claim: %s: %s", strerror(-r), store_error(s));
                        atomic_fetch_add(&race_errors, 1);
                        break;
                }
                if (n == 0)
                        break;
                for (size_t i = 0; i < n; i++) {
                        int k = atoi(j[i].id + 4);
                        atomic_fetch_add(&race_done[k], 1);
                        if (store_job_complete(s, j[i].id, j[i].epoch, wid, NULL, T0) != 0)
                                atomic_fetch_add(&race_errors, 1);
                }
                store_jobs_free(j, n);
        }
        return NULL;
}

/* Kill: unclaimed jobs go at once with a KILLED result; claimed ones are flagged for their worker. */
static void test_cancel(Store *s) {
        StoreTx *tx;
        StoreJob *j = NULL;
        size_t n = 0;
        _cleanup_json_ json_t *doc = make_doc("e-cancel", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p = json_pack("{}");
        _cleanup_json_ json_t *killed = json_pack("{s:s, s:s}", "state", "KILLED", "error", "killed before it started");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        CHECK_OK(store_job_enqueue(tx, "c-held", "e-cancel", "tr-held", "cq", p, T0, T0, NULL));
        CHECK_OK(store_job_enqueue(tx, "c-queued", "e-cancel", "tr-queued", "cq", p, T0 + 1000 * USEC_PER_SEC, T0, NULL));
        CHECK_OK(store_commit(tx));
        drain_events(s, "e-cancel");
        is_int(store_job_claim(s, "wc", "cq", 10, T0 + 1, 30 * USEC_PER_SEC, &j, &n), 0, "claim the job to cancel");
        is_int(n, 1, "one job held");

        CHECK_OK(store_begin(s, &tx));
        is_int(store_job_cancel(tx, "tr-queued", killed, T0 + 2), 1, "cancel an unclaimed job");
        is_int(store_job_cancel(tx, "tr-held", killed, T0 + 2), 1, "cancel a claimed job");
        is_int(store_job_cancel(tx, "tr-none", killed, T0 + 2), 0, "cancel with no job is a no-op");
        StoreEvent *ev = NULL;
        size_t nev = 0;
        CHECK_OK(store_event_list(tx, "e-cancel", &ev, &nev));
        is_int(nev, 1, "a task_result event for the unclaimed job");
        if (nev == 1) {
                is_str(ev[0].type, "task_result", "event type");
                ok(json_equal(json_object_get(ev[0].payload, "result"), killed), "its result is the one the caller gave");
        }
        store_events_free(ev, nev);
        StoreJob gone;
        is_int(store_job_get(tx, "c-queued", &gone), -ENOENT, "the unclaimed job is gone");
        CHECK_OK(store_commit(tx));

        char **ids = NULL;
        is_int(store_job_cancelled(s, "wc", &ids), 1, "the holder sees one cancelled job");
        ok(ids && ids[0] && streq(ids[0], "c-held"), "its id");
        strv_free(ids);
        is_int(store_job_cancelled(s, "other", &ids), 0, "other workers see none");
        strv_free(ids);
        if (n == 1)
                is_int(store_job_complete(s, j[0].id, j[0].epoch, "wc", NULL, T0 + 3), 0,
                       "the holder's KILLED result still completes the job");
        store_jobs_free(j, n);
        drain_events(s, "e-cancel");
}

/* Jobs pinned to a worker ("@<id>", a WorkingDirectory's later tasks) go to it alone, until it is
 * declared dead. */
static void test_pinned(Store *s) {
        StoreTx *tx;
        StoreJob *j = NULL;
        size_t n = 0;
        _cleanup_json_ json_t *doc = make_doc("e-pin", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p = json_pack("{}");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        CHECK_OK(store_job_enqueue(tx, "pinned", "e-pin", "tr-pin", "@w-pin", p, T0, T0, NULL));
        CHECK_OK(store_commit(tx));
        drain_events(s, "e-pin");
        is_int(store_job_claim(s, "w-other", NULL, 10, T0 + 1, 30 * USEC_PER_SEC, &j, &n), 0, "another worker claims");
        is_int(n, 0, "a pinned job is not another worker's");
        store_jobs_free(j, n);
        is_int(store_job_requeue_worker(s, "w-pin", STORE_RESUBMIT_WORKER_DEAD, T0 + 2), 0, "the pinned worker is declared dead");
        is_int(store_job_claim(s, "w-other", NULL, 10, T0 + 3, 30 * USEC_PER_SEC, &j, &n), 0, "claim again");
        is_int(n, 1, "its pinned job went back to the shared queue");
        if (n == 1)
                CHECK_OK(store_job_complete(s, j[0].id, j[0].epoch, "w-other", NULL, T0 + 4));
        store_jobs_free(j, n);

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_enqueue(tx, "pinned2", "e-pin", "tr-pin2", "@w-pin2", p, T0, T0, NULL));
        CHECK_OK(store_commit(tx));
        is_int(store_job_claim(s, "w-pin2", NULL, 10, T0 + 5, 30 * USEC_PER_SEC, &j, &n), 0, "the pinned worker claims");
        is_int(n, 1, "and gets its job along with the shared queue's");
        if (n == 1)
                CHECK_OK(store_job_complete(s, j[0].id, j[0].epoch, "w-pin2", NULL, T0 + 6));
        store_jobs_free(j, n);
        drain_events(s, "e-pin");

        /* A re-queued job is its task run's next attempt: its payload says so. */
        _cleanup_json_ json_t *pa = json_pack("{s:i, s:s}", "attempt", 1, "taskId", "t");
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_enqueue(tx, "attempts", "e-pin", "tr-att", NULL, pa, T0, T0, NULL));
        CHECK_OK(store_commit(tx));
        is_int(store_job_claim(s, "w-a", NULL, 10, T0 + 7, 30 * USEC_PER_SEC, &j, &n), 0, "a job with an attempt is claimed");
        store_jobs_free(j, n);
        is_int(store_job_requeue_worker(s, "w-a", STORE_RESUBMIT_WORKER_DEAD, T0 + 8), 1, "and re-queued when its worker dies");
        is_int(store_job_claim(s, "w-b", NULL, 10, T0 + 9, 30 * USEC_PER_SEC, &j, &n), 0, "claimed again");
        ok(n == 1 && json_integer_value(json_object_get(j[0].payload, "attempt")) == 2 &&
                   streq_ptr(json_string_value(json_object_get(j[0].payload, "taskId")), "t"),
           "the payload says attempt 2, the rest unchanged");
        if (n == 1)
                CHECK_OK(store_job_complete(s, j[0].id, j[0].epoch, "w-b", NULL, T0 + 10));
        store_jobs_free(j, n);
        drain_events(s, "e-pin");
}

static void test_claim_race(Store *s) {
        StoreTx *tx;
        _cleanup_json_ json_t *doc = make_doc("e-race", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p = json_pack("{}");
        Store *st[RACE_WORKERS];
        pthread_t th[RACE_WORKERS];

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        for (int i = 0; i < RACE_JOBS; i++) {
                char id[32];
                snprintf(id, sizeof id, "race%d", i);
                CHECK_OK(store_job_enqueue(tx, id, "e-race", NULL, NULL, p, T0, T0, NULL));
        }
        CHECK_OK(store_commit(tx));
        for (int i = 0; i < RACE_WORKERS; i++) {
                CHECK_OK(store_dup(s, &st[i]));
                pthread_create(&th[i], NULL, race_worker, st[i]);
        }
        for (int i = 0; i < RACE_WORKERS; i++) {
                pthread_join(th[i], NULL);
                store_free(st[i]);
        }
        int once = 0;
        for (int i = 0; i < RACE_JOBS; i++)
                once += atomic_load(&race_done[i]) == 1;
        is_int(once, RACE_JOBS, "workers claiming at once got disjoint jobs, each done exactly once");
        is_int(atomic_load(&race_errors), 0, "no claim or completion failed");
        is_int(count_events(s, "e-race", "task_result"), RACE_JOBS, "one task_result per job");
        drain_events(s, "e-race");
}

/* A re-queue racing a completing result: exactly one of them wins. */
typedef struct RequeueRace {
        Store *s;
        pthread_barrier_t *barrier;
        const char *job;
        int64_t epoch;
        int result;
} RequeueRace;

static void *race_complete(void *arg) {
        RequeueRace *r = arg;
        pthread_barrier_wait(r->barrier);
        r->result = store_job_complete(r->s, r->job, r->epoch, "wz", NULL, T0);
        return NULL;
}

static void *race_requeue(void *arg) {
        RequeueRace *r = arg;
        pthread_barrier_wait(r->barrier);
        r->result = store_job_requeue_expired(r->s, T0 + 3600 * USEC_PER_SEC);
        return NULL;
}

static void test_requeue_race(Store *s) {
        _cleanup_store_ Store *s1 = NULL, *s2 = NULL;
        _cleanup_json_ json_t *doc = make_doc("e-rq", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p = json_pack("{}");
        StoreTx *tx;
        int exactly_one = 0, completes = 0, rounds = 30;
        pthread_barrier_t barrier;

        CHECK_OK(store_dup(s, &s1));
        CHECK_OK(store_dup(s, &s2));
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        CHECK_OK(store_commit(tx));
        pthread_barrier_init(&barrier, NULL, 2);
        for (int i = 0; i < rounds; i++) {
                char id[32];
                StoreJob *j = NULL;
                size_t n = 0;
                snprintf(id, sizeof id, "rq%d", i);
                CHECK_OK(store_begin(s, &tx));
                CHECK_OK(store_job_enqueue(tx, id, "e-rq", NULL, NULL, p, T0, T0, NULL));
                CHECK_OK(store_commit(tx));
                CHECK_OK(store_job_claim(s, "wz", NULL, 1, T0, USEC_PER_SEC, &j, &n));
                if (n != 1) {
                        store_jobs_free(j, n);
                        continue;
                }
                RequeueRace a = { s1, &barrier, id, j[0].epoch, -1 }, b = { s2, &barrier, id, 0, -1 };
                pthread_t ta, tb;
                pthread_create(&ta, NULL, race_complete, &a);
                pthread_create(&tb, NULL, race_requeue, &b);
                pthread_join(ta, NULL);
                pthread_join(tb, NULL);
                if ((a.result == 0 && b.result == 0) || (a.result == STORE_STALE && b.result == 1))
                        exactly_one++;
                else
                        diag("round %d: complete %d, requeue %d", i, a.result, b.result);
                completes += a.result == 0;
                store_jobs_free(j, n);
                /* Clean up a re-queued job. */
                CHECK_OK(store_job_claim(s, "wz", NULL, 1, T0, USEC_PER_SEC, &j, &n));
                for (size_t k = 0; k < n; k++)
                        CHECK_OK(store_job_complete(s, j[k].id, j[k].epoch, "wz", NULL, T0));
                store_jobs_free(j, n);
        }
        pthread_barrier_destroy(&barrier);
        is_int(exactly_one, rounds, "a re-queue racing a result: exactly one wins every time");
        diag("completions won %d of %d rounds", completes, rounds);
        drain_events(s, "e-rq");
}

typedef struct ManyArgs {
        StoreJobResult *r;
        size_t n;
} ManyArgs;

static int complete_many(StoreTx *tx, void *userdata) {
        ManyArgs *a = userdata;
        return store_job_complete_many_tx(tx, "wm", a->r, a->n, T0);
}

/* Several results in one transaction (a worker's batch): each fenced by its own epoch, a stale one
 * refused alone while the others are taken, none doubled when the batch is delivered again. */
static void test_complete_many(Store *s) {
        _cleanup_json_ json_t *doc = make_doc("e-many", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p = json_pack("{}");
        _cleanup_json_ json_t *ok1 = json_pack("{s:s, s:{s:s}}", "state", "SUCCESS", "outputs", "q", "it's \"quoted\"\n");
        _cleanup_json_ json_t *ok2 = json_pack("{s:s, s:i}", "state", "FAILED", "n", 2);
        StoreJob *j = NULL, *other = NULL;
        size_t n = 0, n_other = 0;
        StoreTx *tx;

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        for (int i = 0; i < 5; i++) {
                char id[32], tr[32];
                snprintf(id, sizeof id, "many%d", i);
                snprintf(tr, sizeof tr, "trm%d", i);
                CHECK_OK(store_job_enqueue(tx, id, "e-many", tr, "many", p, T0 + (usec_t) i, T0, NULL));
        }
        CHECK_OK(store_commit(tx));
        drain_events(s, "e-many");
        CHECK_OK(store_job_claim(s, "wm", "many", 4, T0 + 10, 30 * USEC_PER_SEC, &j, &n));
        CHECK_OK(store_job_claim(s, "wm-other", "many", 4, T0 + 10, 30 * USEC_PER_SEC, &other, &n_other));
        is_int(n + n_other, 5, "five jobs claimed by two workers");
        if (n != 4 || n_other != 1) {
                store_jobs_free(j, n);
                store_jobs_free(other, n_other);
                return;
        }
        /* j[1] was lost and claimed again (epoch + 2): this worker's result for it is stale. */
        StoreJobResult r[] = {
                { j[0].id, j[0].epoch, ok1, -1 },
                { j[1].id, j[1].epoch + 2, ok1, -1 },
                { j[2].id, j[2].epoch, NULL, -1 },
                { other[0].id, other[0].epoch, ok2, -1 }, /* another worker's job */
                { j[3].id, j[3].epoch, ok2, -1 },
        };
        ManyArgs a = { r, ELEMENTSOF(r) };
        is_int(store_transact(s, complete_many, &a), 3, "a batch of five: three taken");
        is_int(r[0].outcome, 0, "first taken");
        is_int(r[1].outcome, STORE_STALE, "the stale epoch is refused");
        is_int(r[2].outcome, 0, "a null result is taken");
        is_int(r[3].outcome, STORE_STALE, "another worker's job is refused");
        is_int(r[4].outcome, 0, "the last one is taken despite the refusals before it");

        StoreEvent *e = NULL;
        size_t ne = 0;
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_event_list(tx, "e-many", &e, &ne));
        is_int(ne, 3, "one task_result event per job taken");
        int matched = 0;
        for (size_t k = 0; k < ne; k++) {
                json_t *pl = e[k].payload;
                const char *jid = json_string_value(json_object_get(pl, "jobId"));
                for (size_t i = 0; i < ELEMENTSOF(r); i++)
                        if (streq_ptr(jid, r[i].job_id) && r[i].outcome == 0 && streq(e[k].type, "task_result") &&
                            json_integer_value(json_object_get(pl, "epoch")) == r[i].epoch &&
                            streq_ptr(json_string_value(json_object_get(pl, "workerId")), "wm") &&
                            json_string_value(json_object_get(pl, "taskRunId")) &&
                            json_equal(json_object_get(pl, "result"), r[i].result ? r[i].result : json_null()))
                                matched++;
        }
        is_int(matched, 3, "each event carries its job, epoch, worker, task run and result, as store_job_complete()'s");
        store_events_free(e, ne);
        StoreJob g1 = {}, g2 = {};
        ok(store_job_get(tx, j[1].id, &g1) == 0 && store_job_get(tx, other[0].id, &g2) == 0 &&
                   store_job_get(tx, j[0].id, &(StoreJob) {}) == -ENOENT,
           "the refused jobs stay queued, the taken ones are gone");
        store_job_done(&g1);
        store_job_done(&g2);
        store_rollback(tx);

        for (size_t i = 0; i < ELEMENTSOF(r); i++)
                r[i].outcome = -1;
        is_int(store_transact(s, complete_many, &a), 0, "the same batch again: nothing taken twice");
        is_int(count_events(s, "e-many", "task_result"), 3, "no event doubled");
        is_int(store_job_complete(s, j[1].id, j[1].epoch, "wm", NULL, T0), 0, "the refused job completes under its own epoch");
        is_int(store_job_complete(s, other[0].id, other[0].epoch, "wm-other", NULL, T0), 0, "and the other worker's");
        store_jobs_free(j, n);
        store_jobs_free(other, n_other);
        drain_events(s, "e-many");
}

/* ---- wake-ups ---- */

typedef struct Waiter {
        Store *s;
        int mask;
        usec_t waited;
} Waiter;

static void *waiter_thread(void *arg) {
        Waiter *w = arg;
        usec_t t = now_monotonic();
        w->mask = store_wait(w->s, 10 * USEC_PER_SEC);
        w->waited = now_monotonic() - t;
        return NULL;
}

static void test_wakeups(Store *s) {
        _cleanup_store_ Store *l = NULL;
        _cleanup_json_ json_t *doc = make_doc("e-wake", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p = json_pack("{}");
        StoreTx *tx;

        CHECK_OK(store_dup(s, &l));
        is_int(store_listen(l, STORE_CHANNEL_ALL), 0, "listen");
        ok(store_get_fd(l) >= 0, "a pollable fd");
        is_int(store_wait(l, 0), 0, "nothing pending");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        is_int(store_wait(l, 50 * USEC_PER_MSEC), 0, "no wake-up before commit");
        CHECK_OK(store_commit(tx));
        struct pollfd pfd = { .fd = store_get_fd(l), .events = POLLIN };
        is_int(poll(&pfd, 1, 5000), 1, "the fd becomes readable after the commit");
        is_int(store_wait(l, 5 * USEC_PER_SEC), STORE_CHANNEL_EVENTS | STORE_CHANNEL_EXECUTIONS,
               "a new execution wakes the events and the executions channels");
        is_int(store_wait(l, 0), 0, "the wake-up was consumed");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_save(tx, META(doc), doc, T0 + 1));
        CHECK_OK(store_commit(tx));
        is_int(store_wait(l, 5 * USEC_PER_SEC), STORE_CHANNEL_EXECUTIONS, "a saved execution wakes the executions channel");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_enqueue(tx, "wake-job", "e-wake", NULL, NULL, p, T0, T0, NULL));
        store_rollback(tx);
        is_int(store_wait(l, 100 * USEC_PER_MSEC), 0, "a rolled-back enqueue wakes nobody");

        /* A thread blocked in store_wait is woken by another thread's commit. */
        Waiter w = { .s = l, .mask = -1 };
        pthread_t th;
        pthread_create(&th, NULL, waiter_thread, &w);
        usleep(100 * 1000);
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_enqueue(tx, "wake-job", "e-wake", NULL, NULL, p, T0, T0, NULL));
        CHECK_OK(store_commit(tx));
        pthread_join(th, NULL);
        is_int(w.mask, STORE_CHANNEL_JOBS, "a blocked waiter wakes on the jobs channel");
        ok(w.waited < 5 * USEC_PER_SEC, "promptly (%.1f ms)", (double) w.waited / 1000.0);

        CHECK_OK(store_listen(l, STORE_CHANNEL_EVENTS));
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_enqueue(tx, "wake-job2", "e-wake", NULL, NULL, p, T0, T0, NULL));
        CHECK_OK(store_commit(tx));
        is_int(store_wait(l, 100 * USEC_PER_MSEC), 0, "channels not listened to do not wake");
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_delete(tx, "e-wake"));
        CHECK_OK(store_commit(tx));
}

/* Another process's commits (a handle of its own, not a store_dup()): LISTEN/NOTIFY on
 * PostgreSQL, the polled tern_wakeups on MySQL. SQLite wakes only the handles of one process. */
static void test_wakeups_other_process(Store *s) {
        _cleanup_store_ Store *other = open_store();
        _cleanup_json_ json_t *p = json_pack("{}");
        _cleanup_json_ json_t *doc = make_doc("e-xwake", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        StoreTx *tx;

        is_int(store_listen(other, STORE_CHANNEL_JOBS | STORE_CHANNEL_EXECUTIONS), 0, "listen on another connection");
        is_int(store_wait(other, 0), 0, "nothing pending");
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        CHECK_OK(store_commit(tx));
        is_int(store_wait(other, 5 * USEC_PER_SEC), STORE_CHANNEL_EXECUTIONS, "another process's commit wakes it");
        is_int(store_wait(other, 0), 0, "once");
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_enqueue(tx, "xwake-rolled", "e-xwake", NULL, NULL, p, T0, T0, NULL));
        store_rollback(tx);
        is_int(store_wait(other, 600 * USEC_PER_MSEC), 0, "a rolled-back enqueue wakes nobody");

        /* The latency a consumer in another process sees: after a quiet spell (the MySQL poller
         * has backed off) and while commits follow each other. */
        usec_t worst_idle = 0, worst_busy = 0, sum_busy = 0;
        const int rounds = 20;
        for (int i = 0; i < rounds; i++) {
                char id[32];
                usleep(i < 5 ? 600 * 1000 : 2 * 1000);
                snprintf(id, sizeof id, "xwake-%d", i);
                CHECK_OK(store_begin(s, &tx));
                CHECK_OK(store_job_enqueue(tx, id, "e-xwake", NULL, NULL, p, T0, T0, NULL));
                CHECK_OK(store_commit(tx));
                usec_t t = now_monotonic();
                int m = store_wait(other, 5 * USEC_PER_SEC);
                usec_t lat = now_monotonic() - t;
                if (m != STORE_CHANNEL_JOBS)
                        ok(false, "round %d: woken with %d", i, m);
                if (i < 5)
                        worst_idle = MAX(worst_idle, lat);
                else {
                        worst_busy = MAX(worst_busy, lat);
                        sum_busy += lat;
                }
        }
        ok(worst_idle < 2 * USEC_PER_SEC && worst_busy < 2 * USEC_PER_SEC, "every commit woke the other process");
        diag("wake-up latency across processes: after 600 ms idle at most %.1f ms; back to back %.1f ms on average, "
             "at most %.1f ms",
             (double) worst_idle / 1000.0, (double) sum_busy / (rounds - 5) / 1000.0, (double) worst_busy / 1000.0);
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_delete(tx, "e-xwake"));
        CHECK_OK(store_commit(tx));
}

/* ---- logs, triggers, kv, services ---- */

static void test_logs(Store *s) {
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
        is_int(store_log_level_from_string("warning"), STORE_LOG_WARN, "level names");
        is_str(store_log_level_to_string(STORE_LOG_ERROR), "ERROR", "level to string");
}

static void test_metrics(Store *s) {
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

static void test_triggers(Store *s) {
        StoreTx *tx;
        StoreTrigger *due = NULL, got = {};
        size_t n = 0;
        _cleanup_json_ json_t *state = json_pack("{s:i}", "count", 3);

        CHECK_OK(store_begin(s, &tx));
        StoreTrigger t1 = { .namespace = "ns", .flow_id = "f", .trigger_id = "every-minute", .next_date = T0 + 60,
                            .state = state };
        StoreTrigger t2 = { .namespace = "ns", .flow_id = "f", .trigger_id = "soon", .next_date = T0 + 10 };
        StoreTrigger t3 = { .namespace = "ns", .flow_id = "g", .trigger_id = "off", .next_date = T0, .disabled = true };
        CHECK_OK(store_trigger_put(tx, &t1));
        CHECK_OK(store_trigger_put(tx, &t2));
        CHECK_OK(store_trigger_put(tx, &t3));
        is_int(store_trigger_due(tx, T0 + 60, 10, &due, &n), 0, "due triggers");
        is_int(n, 2, "disabled triggers are not due");
        if (n == 2) {
                is_str(due[0].trigger_id, "soon", "earliest first");
                is_int(due[1].next_date, T0 + 60, "next date round-trips");
        }
        store_triggers_free(due, n);
        t2.next_date = T0 + 120;
        t2.last_execution_id = "exec9";
        t2.locked_by = "sched1";
        t2.evaluated_at = T0 + 11;
        CHECK_OK(store_trigger_put(tx, &t2));
        is_int(store_trigger_get(tx, "ns", "f", "soon", &got), 0, "get trigger");
        is_int(got.next_date, T0 + 120, "update moved next date");
        is_str(got.last_execution_id, "exec9", "last execution");
        is_str(got.locked_by, "sched1", "locked by");
        store_trigger_done(&got);
        is_int(store_trigger_get(tx, "ns", "f", "every-minute", &got), 0, "get trigger with state");
        ok(json_equal(got.state, state), "state round-trips");
        store_trigger_done(&got);
        is_int(store_trigger_delete(tx, "ns", "f", "soon"), 0, "delete trigger");
        is_int(store_trigger_get(tx, "ns", "f", "soon", &got), -ENOENT, "deleted trigger is gone");
        CHECK_OK(store_commit(tx));
}

static void test_kv(Store *s) {
        StoreTx *tx;
        _cleanup_json_ json_t *v = json_pack("{s:[i,i]}", "a", 1, 2), *got = NULL, *keys = NULL;

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_kv_put(tx, "ns", "forever", v, 0, T0));
        CHECK_OK(store_kv_put(tx, "ns", "short", v, T0 + 10, T0));
        CHECK_OK(store_kv_put(tx, "other", "x", v, 0, T0));
        is_int(store_kv_get(tx, "ns", "short", T0 + 5, &got), 0, "a value before expiry");
        ok(json_equal(got, v), "value round-trips");
        is_int(store_kv_get(tx, "ns", "short", T0 + 10, &got), -ENOENT, "an expired value is gone");
        is_int(store_kv_list(tx, "ns", T0 + 5, &keys), 0, "list keys");
        is_int(json_array_size(keys), 2, "two live keys");
        json_decref(keys);
        is_int(store_kv_list(tx, "ns", T0 + 20, &keys), 0, "list keys after expiry");
        is_int(json_array_size(keys), 1, "expired keys are not listed");
        is_int(store_kv_delete(tx, "ns", "forever"), 0, "delete key");
        is_int(store_kv_delete(tx, "ns", "forever"), -ENOENT, "delete missing key");
        CHECK_OK(store_commit(tx));
}

/* Parameters are values whatever they hold: quotes, backslashes (MySQL's literals are escaped by
 * the client, under NO_BACKSLASH_ESCAPES), "$n" (which the MySQL driver replaces in statements),
 * LIKE's wildcards, multibyte characters; an invalid UTF-8 sequence before a quote is refused or
 * kept as it is, never read as SQL. */
static void test_literals(Store *s) {
        static const char *const tricky[] = {
                "'", "''", "\\", "\\'", "a\\", "'; DELETE FROM kv; --", "\\'; DELETE FROM kv; -- ", "$1", "$2 $1 $",
                "%_", "\"q\"", "`t`", "\xc3\xa9'", "\xf0\x9f\x98\x80'\\", NULL,
        };
        StoreTx *tx;
        size_t n = 0;
        CHECK_OK(store_begin(s, &tx));
        for (const char *const *t = tricky; *t; t++, n++) {
                _cleanup_json_ json_t *v = json_string(*t), *got = NULL;
                char key[16];
                snprintf(key, sizeof key, "k%zu", n);
                CHECK_OK(store_kv_put(tx, *t, key, v, 0, T0));
                CHECK_OK(store_kv_put(tx, "lit", *t, v, 0, T0));
                ok(store_kv_get(tx, *t, key, T0, &got) == 0 && json_equal(got, v), "a namespace %s round-trips", *t);
                json_decref(got);
                got = NULL;
                ok(store_kv_get(tx, "lit", *t, T0, &got) == 0 && json_equal(got, v), "a key %s round-trips", *t);
        }
        _cleanup_json_ json_t *keys = NULL;
        is_int(store_kv_list(tx, "lit", T0, &keys), 0, "list the keys");
        is_int((int) json_array_size(keys), (int) n, "each key is one row, nothing else happened");
        CHECK_OK(store_commit(tx));

        /* A lead byte that a lenient reader could take as swallowing the quote after it. */
        static const char bad[] = "bad\xf0'; DELETE FROM kv; --";
        CHECK_OK(store_begin(s, &tx));
        int r = store_kv_put(tx, "lit", bad, json_true(), 0, T0);
        if (r >= 0)
                r = store_commit(tx);
        else
                store_rollback(tx);
        CHECK_OK(store_begin(s, &tx));
        _cleanup_json_ json_t *v = NULL;
        ok(r < 0 || (store_kv_get(tx, "lit", bad, T0, &v) == 0 && json_is_true(v)),
           "invalid UTF-8 is refused or stored as it is (%d)", r);
        size_t left = 0;
        for (const char *const *t = tricky; *t; t++) {
                _cleanup_json_ json_t *got = NULL;
                left += store_kv_get(tx, "lit", *t, T0, &got) == 0;
        }
        is_int((int) left, (int) n, "... and never run: every other key is still there");
        CHECK_OK(store_commit(tx));
}

static void test_services(Store *s) {
        StoreTx *tx;
        StoreService *l = NULL;
        size_t n = 0;

        CHECK_OK(store_begin(s, &tx));
        StoreService a = { .id = "svc-a", .component = "worker", .host = "h1", .pid = 42, .state = "RUNNING",
                           .started = T0, .heartbeat = T0 };
        StoreService b = { .id = "svc-b", .component = "executor", .host = "h2", .pid = 7, .state = "RUNNING",
                           .started = T0, .heartbeat = T0 };
        CHECK_OK(store_service_put(tx, &a));
        CHECK_OK(store_service_put(tx, &b));
        is_int(store_service_heartbeat(tx, "svc-a", NULL, T0 + 30 * USEC_PER_SEC), 0, "heartbeat");
        is_int(store_service_list(tx, T0 + 20 * USEC_PER_SEC, &l, &n), 0, "list silent services");
        is_int(n, 1, "one service is silent");
        if (n == 1)
                is_str(l[0].id, "svc-b", "the silent one");
        store_services_free(l, n);
        is_int(store_service_list(tx, 0, &l, &n), 0, "list all services");
        is_int(n, 2, "two services");
        if (n == 2)
                is_int(l[1].pid, 42, "pid round-trips");
        store_services_free(l, n);
        is_int(store_service_delete(tx, "svc-b"), 0, "delete a dead service");
        is_int(store_service_heartbeat(tx, "svc-b", "RUNNING", T0), -ENOENT, "a removed service's heartbeat fails");
        CHECK_OK(store_commit(tx));
}

/* ---- retention ---- */

static void test_purge(Store *s) {
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

static void test_open_errors(void) {
        Store *s = NULL;
        is_int(store_open("oracle://x", &s), -EINVAL, "an unknown URL scheme is refused");
        store_free(s);
        s = NULL;
        is_int(store_open("sqlite:", &s), -EINVAL, "an empty sqlite path is refused");
        store_free(s);

        /* A MySQL URL that cannot be right is refused before connecting, saying why. */
        static const struct {
                const char *url, *says;
        } bad[] = {
                { "mysql://tern@localhost", "names no database" },
                { "mariadb://tern@db.example:99999/tern", "'99999' is not a port number" },
                { "mysql://tern@localhost/tern?sslmode=require", "unknown option 'sslmode'" },
                { "mysql://tern@localhost/tern?poll-max=fast", "'fast' is not a duration" },
                { "mysql://tern@localhost/tern?socket", "option 'socket' has no value" },
                { "mysql://tern:%zz@localhost/tern", "escape is not two hexadecimal digits" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                s = NULL;
                int r = store_open(bad[i].url, &s);
                ok(r == -EINVAL, "'%s' is refused (%d)", bad[i].url, r);
                ok(s && strstr(store_error(s), bad[i].says), "saying '%s': %s", bad[i].says, store_error(s));
                store_free(s);
        }
}

/* What a MySQL user sees when the server is not there, refuses the credentials or lacks the
 * database. url is a working mysql://USER:PASSWORD@HOST:PORT/DATABASE. */
static void test_mysql_connect_errors(const char *url) {
        char user[128], pass[128], host[256], db[128], u[1024];
        unsigned port;
        Store *s = NULL;
        if (sscanf(url, "mysql://%127[^:@]:%127[^@]@%255[^:/]:%u/%127s", user, pass, host, &port, db) != 5) {
                ok(false, "cannot take apart '%s'", url);
                return;
        }
        /* A port nobody listens on: a socket bound and closed again. */
        snprintf(u, sizeof u, "mysql://%s:%s@%s:1/%s?connect-timeout=2s", user, pass, host, db);
        is_int(store_open(u, &s), -ECONNREFUSED, "no server: connection refused");
        ok(s && strstr(store_error(s), "connect"), "saying so: %s", store_error(s));
        s = store_free(s);
        snprintf(u, sizeof u, "mysql://%s:wrong-%s@%s:%u/%s", user, pass, host, port, db);
        is_int(store_open(u, &s), -EACCES, "a wrong password is refused");
        ok(s && strstr(store_error(s), "Access denied"), "saying so: %s", store_error(s));
        s = store_free(s);
        snprintf(u, sizeof u, "mysql://%s:%s@%s:%u/%s_missing", user, pass, host, port, db);
        is_int(store_open(u, &s), -ENOENT, "a missing database is reported");
        ok(s && strstr(store_error(s), "Unknown database"), "saying so: %s", store_error(s));
        s = store_free(s);
        /* The password may come from the options (tern.conf's password-file does it this way). */
        snprintf(u, sizeof u, "mariadb://%s@%s:%u/%s?password=%s&poll_min=5ms", user, host, port, db, pass);
        is_int(store_open(u, &s), 0, "mariadb:// with the password as an option");
        s = store_free(s);
}

int main(int argc, char *argv[]) {
        const char *backend = argc > 1 ? argv[1] : "sqlite";

        test_open_errors();
        store_test_setup(backend, &env);
        diag("store URL: %s", env.url);
        if (streq(backend, "mysql"))
                test_mysql_connect_errors(env.url);
        _cleanup_store_ Store *s = open_store();

        test_schema(s);
        test_flows(s);
        test_executions(s);
        test_task_runs(s);
        test_meta(s);
        test_claim_and_outbox(s);
        test_serialization(s);
        if (store_backend(s) != STORE_BACKEND_SQLITE)
                test_skip_locked(s);
        /* Before the job tests: its hundreds of jobs (deleted since) change the tables'
         * statistics, and the job claims below must take what they ask for whatever plan that
         * gives (a claim once took 11 jobs of 4 after it). */
        test_deferred(s);
        test_jobs(s);
        test_cancel(s);
        test_pinned(s);
        test_claim_race(s);
        test_requeue_race(s);
        test_complete_many(s);
        test_wakeups(s);
        if (store_backend(s) != STORE_BACKEND_SQLITE)
                test_wakeups_other_process(s);
        test_logs(s);
        test_metrics(s);
        test_triggers(s);
        test_kv(s);
        test_literals(s);
        test_services(s);
        test_purge(s);

        s = store_free(s);
        store_test_teardown(&env);
        return tap_done();
}

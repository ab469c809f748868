/* store-contract-executions.c: the store contract for executions, task runs, their metadata, the event outbox, serialization. */
#include "store-contract.h"

/* ---- executions and events ---- */

void test_executions(Store *s) {
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
                /* Keyset paging: after a row, by creation time and then id (a tie here). */
                { { .after_created = T0 + 100 * USEC_PER_SEC, .after_id = "exec2" }, "exec1" },
                { { .after_created = T0 + 100 * USEC_PER_SEC, .after_id = "exec3" }, "exec2,exec1" },
                { { .after_created = T0 + 100 * USEC_PER_SEC, .after_id = "exec2", .flow_id = "other" }, "" },
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
        StoreExecutionKey *keys = NULL;
        size_t n_keys = 0;
        StoreExecutionFilter first = { .namespace_prefix = "company", .limit = 1 };
        is_int(store_execution_keys(tx, &first, &keys, &n_keys), 0, "list the keys of a search's first row");
        ok(n_keys == 1 && streq(keys[0].id, "exec2") && keys[0].created == T0 + 100 * USEC_PER_SEC,
           "the newest one's id and creation time");
        StoreExecutionFilter next = { .namespace_prefix = "company", .limit = 1, .after_id = n_keys ? keys[0].id : "",
                                      .after_created = n_keys ? keys[0].created : 0 };
        StoreExecutionKey *keys2 = NULL;
        size_t n_keys2 = 0;
        is_int(store_execution_keys(tx, &next, &keys2, &n_keys2), 0, "list the keys after it");
        ok(n_keys2 == 1 && streq(keys2[0].id, "exec1"), "the next batch is the older one");
        store_execution_keys_free(keys, n_keys);
        store_execution_keys_free(keys2, n_keys2);
        CHECK_OK(store_execution_delete(tx, "exec2"));
        CHECK_OK(store_execution_delete(tx, "exec1"));
        CHECK_OK(store_commit(tx));
}

/* The store indexes what the writer says, never what it reads in a document. */
void test_meta(Store *s) {
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
void test_task_runs(Store *s) {
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

/* A reader following one execution parses only what changed, and gets what a whole read gives. */
void test_get_after(Store *s) {
        StoreTx *tx;
        _cleanup_json_ json_t *doc = make_doc("e-after", "company.team", "hello", "RUNNING", "2023-11-14T22:13:20Z");
        json_t *list = json_object_get(doc, "taskRunList");
        json_array_append_new(list, make_task_run("tr1", "a", "SUCCESS"));
        json_array_append_new(list, make_task_run("tr2", "b", "RUNNING"));
        _cleanup_json_ json_t *first = NULL, *got = NULL, *whole = NULL, *again = NULL;
        _cleanup_(store_follow_done) StoreFollow f = {};

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        is_int(store_execution_get_after(tx, "e-after", &f, &first), 0, "a first read");
        ok(json_equal(first, doc), "it reads the whole execution");

        /* A step: the running task run ends with an output, a third starts, the execution's own
         * document changes. */
        _cleanup_json_ json_t *next = json_deep_copy(doc);
        json_t *l2 = json_object_get(next, "taskRunList");
        json_object_set_new(json_object_get(json_array_get(l2, 1), "state"), "current", json_string("SUCCESS"));
        json_object_set_new(json_array_get(l2, 1), "outputs", json_pack("{s:i}", "n", 7));
        json_array_append_new(l2, make_task_run("tr3", "c", "CREATED"));
        json_object_set_new(next, "variables", json_pack("{s:s}", "k", "v"));
        CHECK_OK(store_execution_save_from(tx, META(next), next, first, T0, NULL));
        is_int(store_execution_get_after(tx, "e-after", &f, &got), 0, "read after a step");
        CHECK_OK(store_execution_get(tx, "e-after", &whole));
        ok(json_equal(got, whole), "the same as a whole read");
        json_t *gl = json_object_get(got, "taskRunList"), *fl = json_object_get(first, "taskRunList");
        ok(json_array_get(gl, 0) == json_array_get(fl, 0), "the unchanged task run is taken over");
        ok(json_array_get(gl, 1) != json_array_get(fl, 1) &&
           json_integer_value(json_object_get(json_object_get(json_array_get(gl, 1), "outputs"), "n")) == 7,
           "the changed one is read with its outputs");

        /* Between two reads, a restart runs an ended task run again and it ends in the same state
         * (another attempt), another one takes the place of the first, the last is dropped. */
        _cleanup_json_ json_t *restarted = json_deep_copy(next);
        json_t *l3 = json_object_get(restarted, "taskRunList");
        json_array_set_new(l3, 0, make_task_run("tr1b", "a", "SUCCESS"));
        json_object_set_new(json_array_get(l3, 1), "attempts", json_pack("[{s:s},{s:s}]", "state", "FAILED", "state", "SUCCESS"));
        json_array_remove(l3, 2);
        CHECK_OK(store_execution_save_from(tx, META(restarted), restarted, whole, T0, NULL));
        is_int(store_execution_get_after(tx, "e-after", &f, &again), 0, "read after a restart");
        json_decref(whole);
        whole = NULL;
        CHECK_OK(store_execution_get(tx, "e-after", &whole));
        ok(json_equal(again, whole) && json_array_size(json_object_get(again, "taskRunList")) == 2,
           "a task run run again in the same state is read again, the dropped one is gone");
        CHECK_OK(store_execution_delete(tx, "e-after"));
        json_decref(again);
        again = NULL;
        is_int(store_execution_get_after(tx, "e-after", &f, &again), -ENOENT, "a deleted execution");
        CHECK_OK(store_commit(tx));
}

void test_claim_and_outbox(Store *s) {
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

void test_serialization(Store *s) {
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

void test_skip_locked(Store *s) {
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

/* A step that applies many executions at once, its writes deferred (store_tx_defer): every task
 * run, job and event deletion of every execution is written, in statements of many rows (more
 * than one statement's parameters hold, so in several), none lost, none twice. */
#define DEF_EXECS 40
#define DEF_EVENTS 3
#define DEF_TASKS 4
void test_deferred(Store *s) {
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

/* A flush sends its statements together (one round trip on PostgreSQL): one the database refuses
 * fails the step's commit with its own error, nothing of the step is kept, and the connection
 * serves the next transaction, with the same statements, as before. */
void test_flush_refused(Store *s) {
        StoreTx *tx;
        int64_t seq = 0, jobs0 = -1, jobs = -1;
        char date[] = "2023-11-14T22:13:20Z";
        _cleanup_json_ json_t *doc = make_doc("e-flight", "ns", "flight", "CREATED", date);

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        CHECK_OK(store_event_emit(tx, "e-flight", "next", NULL, T0, T0, &seq));
        CHECK_OK(store_commit(tx));
        for (int pass = 0; pass < 2; pass++) {
                _cleanup_json_ json_t *p = json_pack("{s:s}", "taskRunId", "tr");
                _cleanup_json_ json_t *saved = json_deep_copy(doc);
                json_object_set_new(json_object_get(saved, "state"), "current", json_string("RUNNING"));
                CHECK_OK(store_begin(s, &tx));
                CHECK_OK(store_job_count(tx, &jobs0));
                CHECK_OK(store_tx_defer(tx));
                CHECK_OK(store_execution_save(tx, META(saved), saved, T0));
                CHECK_OK(store_job_enqueue(tx, "e-flight-j1", "e-flight", "tr", NULL, p, T0, T0, NULL));
                if (pass == 0)
                        CHECK_OK(store_job_enqueue(tx, "e-flight-j2", "e-flight-gone", "tr", NULL, p, T0, T0, NULL));
                CHECK_OK(store_event_delete(tx, seq));
                if (pass == 0) {
                        is_int(store_commit(tx), -ENOENT,
                               "a job for an execution that is not there fails the commit of the step's writes");
                        ok(!isempty(store_error(s)), "with the database's reason: %s", store_error(s));
                } else
                        is_int(store_commit(tx), 0, "the same writes without it commit, on the same connection");

                _cleanup_json_ json_t *got = NULL;
                CHECK_OK(store_begin(s, &tx));
                CHECK_OK(store_job_count(tx, &jobs));
                is_int(jobs, jobs0 + pass, pass ? "its job is written" : "no job of the refused step is written");
                CHECK_OK(store_execution_get(tx, "e-flight", &got));
                is_str(json_string_value(json_object_get(json_object_get(got, "state"), "current")),
                       pass ? "RUNNING" : "CREATED",
                       pass ? "the execution is saved" : "the execution is not saved by the refused step");
                StoreEvent *ev = NULL;
                size_t n_ev = 0;
                bool there = false;
                CHECK_OK(store_event_list(tx, "e-flight", &ev, &n_ev));
                for (size_t i = 0; i < n_ev; i++)
                        there |= ev[i].seq == seq;
                store_events_free(ev, n_ev);
                ok(there == !pass, pass ? "its event is consumed" : "its event is still there");
                store_rollback(tx);
        }
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_delete(tx, "e-flight"));
        CHECK_OK(store_commit(tx));

        /* A transaction that runs no statement commits, with or without a wake-up. */
        CHECK_OK(store_begin(s, &tx));
        is_int(store_commit(tx), 0, "an empty transaction commits");
}

/* The events a step emits (subflows ending, parents resumed) are deferred too: hundreds of them,
 * over many chunks, each written once, in the order emitted; one for an execution that is not
 * there (deleted in the step, or never was) is dropped instead of failing the others. */
#define DEV_EXECS 20
#define DEV_EVENTS 15
void test_deferred_events(Store *s) {
        StoreTx *tx;
        StoreClaim *c = NULL;
        size_t n = 0;
        char id[64];
        int64_t seq = 0;

        CHECK_OK(store_begin(s, &tx));
        for (int i = 0; i < DEV_EXECS; i++) {
                snprintf(id, sizeof id, "e-dev-%02d", i);
                _cleanup_json_ json_t *doc = make_doc(id, "ns", "deferred", "RUNNING", "2023-11-14T22:13:20Z");
                CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        }
        CHECK_OK(store_commit(tx));
        /* Their "created" events, out of the way. */
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_claim_executions(tx, T0, 1000, &c, &n));
        for (size_t i = 0; i < n; i++)
                for (size_t k = 0; k < c[i].n_events; k++)
                        if (startswith(c[i].execution_id, "e-dev-"))
                                CHECK_OK(store_event_delete(tx, c[i].events[k].seq));
        store_claims_free(c, n);
        CHECK_OK(store_commit(tx));

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_tx_defer(tx));
        int emitted = 0;
        for (int k = 0; k < DEV_EVENTS; k++) {
                for (int i = 0; i < DEV_EXECS; i++) {
                        _cleanup_json_ json_t *p = json_pack("{s:i, s:i}", "exec", i, "k", k);
                        snprintf(id, sizeof id, "e-dev-%02d", i);
                        emitted += store_event_emit(tx, id, "resumed", p, T0, T0, NULL) == 0;
                }
                emitted += store_event_emit(tx, "e-dev-gone", "resumed", NULL, T0, T0, NULL) == 0;
                if (k == DEV_EVENTS / 2)
                        CHECK_OK(store_execution_delete(tx, "e-dev-19"));
        }
        is_int(emitted, DEV_EVENTS * (DEV_EXECS + 1), "a deferred emit returns 0, also for an execution not there");
        /* Its seq asked for: written after the deferred ones, in emission order. */
        _cleanup_json_ json_t *last = json_pack("{s:i, s:i}", "exec", 0, "k", DEV_EVENTS);
        is_int(store_event_emit(tx, "e-dev-00", "resumed", last, T0, T0, &seq), 0, "an emit asking for its seq");
        is_int(store_commit(tx), 0, "a step whose events include some for executions not there commits");

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_claim_executions(tx, T0, 1000, &c, &n));
        size_t execs = 0, events = 0, bad = 0;
        for (size_t i = 0; i < n; i++) {
                if (!startswith(c[i].execution_id, "e-dev-"))
                        continue;
                int e = atoi(c[i].execution_id + strlen("e-dev-"));
                size_t want = e == 0 ? DEV_EVENTS + 1 : DEV_EVENTS;
                execs++;
                events += c[i].n_events;
                if (c[i].n_events != want || e == DEV_EXECS - 1)
                        bad++;
                for (size_t k = 0; k < c[i].n_events; k++)
                        if (json_integer_value(json_object_get(c[i].events[k].payload, "k")) != (json_int_t) k ||
                            json_integer_value(json_object_get(c[i].events[k].payload, "exec")) != e ||
                            (k > 0 && c[i].events[k].seq <= c[i].events[k - 1].seq))
                                bad++;
                if (e == 0 && c[i].n_events == want)
                        is_int(c[i].events[want - 1].seq, seq, "the seq returned is the last event's");
        }
        is_int(execs, DEV_EXECS - 1, "the executions left each have events; the deleted one none");
        is_int(events, (DEV_EXECS - 1) * DEV_EVENTS + 1, "every event emitted for an execution there is written once");
        is_int(bad, 0, "each execution has its own events, in the order emitted");
        store_claims_free(c, n);
        for (int i = 0; i < DEV_EXECS - 1; i++) {
                snprintf(id, sizeof id, "e-dev-%02d", i);
                CHECK_OK(store_execution_delete(tx, id));
        }
        CHECK_OK(store_commit(tx));
}

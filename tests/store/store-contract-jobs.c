/* store-contract-jobs.c: the store contract for the job queue (claims, cancels, pins, races, batches) and wake-ups. */
#include "store-contract.h"

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

void test_jobs(Store *s) {
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
void test_cancel(Store *s) {
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
void test_pinned(Store *s) {
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

void test_claim_race(Store *s) {
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

void test_requeue_race(Store *s) {
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
 * refused alone while the others are taken, none doubled when the batch is delivered again. The
 * ids hold what an array literal quotes (PostgreSQL passes them as one: store-jobs-pg.c). */
void test_complete_many(Store *s) {
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
                snprintf(id, sizeof id, "many%d \"{a,b}\\\"", i);
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

void test_wakeups(Store *s) {
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
void test_wakeups_other_process(Store *s) {
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

        /* A notification that comes in while the consumer runs another statement arrives with its
         * answer: PostgreSQL's client library reads it off the socket then, and a poll() of the
         * socket would sleep through it (a second's stall of the whole chain). store_wait_fds()
         * wakes for it at once. */
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_enqueue(tx, "xwake-queued", "e-xwake", NULL, NULL, p, T0, T0, NULL));
        CHECK_OK(store_commit(tx));
        usleep(300 * 1000); /* at the other connection (MySQL: its poller has seen the row) */
        usec_t due = 0;
        CHECK_OK(store_next_due(other, STORE_CHANNEL_JOBS, &due));
        int extra[2];
        CHECK_OK(pipe(extra));
        struct pollfd pe = { extra[0], POLLIN, 0 };
        usec_t t0 = now_monotonic();
        is_int(store_wait_fds(other, &pe, 1, 3 * USEC_PER_SEC), STORE_CHANNEL_JOBS,
               "a notification read with another statement's answer wakes store_wait_fds()");
        ok(now_monotonic() - t0 < USEC_PER_SEC && pe.revents == 0, "at once (%.1f ms), not for the caller's fd",
           (double) (now_monotonic() - t0) / 1000.0);
        is_int(store_wait_fds(other, &pe, 1, 50 * USEC_PER_MSEC), 0, "once");
        CHECK_OK(write(extra[1], "x", 1) == 1 ? 0 : -errno);
        is_int(store_wait_fds(other, &pe, 1, 3 * USEC_PER_SEC), 0, "the caller's fd wakes it too");
        ok(pe.revents & POLLIN, "and says so in its revents");
        safe_close(extra[0]);
        safe_close(extra[1]);

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

/* A worker's result and the claim of its slot's next job in one transaction (store_job_claim_tx):
 * both or neither; what a run rolled back claimed is freed when the claim runs again. */
void test_claim_in_tx(Store *s) {
        _cleanup_json_ json_t *doc = make_doc("e-ctx", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p = json_pack("{s:s}", "k", "v");
        _cleanup_json_ json_t *result = json_pack("{s:s}", "state", "SUCCESS");
        const usec_t lease = 30 * USEC_PER_SEC;
        StoreJob *first = NULL, *j = NULL, *rest = NULL;
        size_t n_first = 0, n = 0, n_rest = 0;
        StoreTx *tx;

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        for (int i = 0; i < 4; i++) {
                char id[32];
                snprintf(id, sizeof id, "ctx%d", i);
                CHECK_OK(store_job_enqueue(tx, id, "e-ctx", NULL, "ctx", p, T0 + (usec_t) i, T0, NULL));
        }
        CHECK_OK(store_commit(tx));
        drain_events(s, "e-ctx");
        CHECK_OK(store_job_claim(s, "wc", "ctx", 1, T0 + 10, lease, &first, &n_first));
        if (n_first != 1) {
                ok(false, "the first job was not claimed");
                store_jobs_free(first, n_first);
                return;
        }
        CHECK_OK(store_begin(s, &tx));
        if (store_backend(s) == STORE_BACKEND_POSTGRES) {
                is_int(store_job_claim_tx(tx, "wc", "ctx", 2, T0 + 20, lease, &j, &n), -EOPNOTSUPP,
                       "PostgreSQL claims in a statement of its own, not in the caller's transaction");
                store_rollback(tx);
                CHECK_OK(store_job_complete(s, first[0].id, first[0].epoch, "wc", result, T0 + 20));
                store_jobs_free(first, n_first);
                CHECK_OK(store_job_claim(s, "wc", "ctx", 10, T0 + 20, lease, &rest, &n_rest));
                for (size_t i = 0; i < n_rest; i++)
                        CHECK_OK(store_job_complete(s, rest[i].id, rest[i].epoch, "wc", NULL, T0 + 20));
                store_jobs_free(rest, n_rest);
                drain_events(s, "e-ctx");
                return;
        }
        /* A transaction rolled back: neither the result nor the claim stays. */
        is_int(store_job_complete_tx(tx, first[0].id, first[0].epoch, "wc", result, T0 + 20), 0, "the result, in a transaction");
        is_int(store_job_claim_tx(tx, "wc", "ctx", 2, T0 + 20, lease, &j, &n), 0, "the next jobs, in the same transaction");
        is_int(n, 2, "two claimed");
        store_rollback(tx);
        is_int(count_events(s, "e-ctx", "task_result"), 0, "rolled back: no result");
        /* Run again (as store_transact() runs a transaction again): the claim frees what the
         * rolled-back run took (ASan's leak check) and claims the same jobs. */
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_job_complete_tx(tx, first[0].id, first[0].epoch, "wc", result, T0 + 30));
        is_int(store_job_claim_tx(tx, "wc", "ctx", 2, T0 + 30, lease, &j, &n), 0, "claimed again after the rollback");
        is_int(store_commit(tx), 0, "result and claim committed together");
        is_int(n, 2, "two jobs, not four");
        if (n == 2) {
                is_str(j[0].id, "ctx1", "oldest available first");
                is_str(j[1].id, "ctx2", "then the next");
                is_int(j[0].epoch, 1, "a first claim has epoch 1");
                is_str(j[0].worker_id, "wc", "claimed by the worker");
                is_int(j[0].lease_until, T0 + 30 + lease, "lease_until = now + lease");
                is_str(json_string_value(json_object_get(j[0].payload, "k")), "v", "the payload is read");
        }
        is_int(count_events(s, "e-ctx", "task_result"), 1, "the result's event is there once");
        CHECK_OK(store_job_claim(s, "wd", "ctx", 10, T0 + 40, lease, &rest, &n_rest));
        is_int(n_rest, 1, "another worker finds only the job left");
        is_int(store_job_complete(s, j[0].id, 0, "wc", NULL, T0 + 40), STORE_STALE, "the claim's epoch fences");
        for (size_t i = 0; i < n; i++)
                is_int(store_job_complete(s, j[i].id, j[i].epoch, "wc", NULL, T0 + 40), 0, "a job claimed in the transaction completes");
        for (size_t i = 0; i < n_rest; i++)
                CHECK_OK(store_job_complete(s, rest[i].id, rest[i].epoch, "wd", NULL, T0 + 40));
        store_jobs_free(first, n_first);
        store_jobs_free(j, n);
        store_jobs_free(rest, n_rest);
        drain_events(s, "e-ctx");
}

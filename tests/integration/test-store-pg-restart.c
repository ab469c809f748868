/* test-store-pg-restart.c: database restarts and crashes under queue work; nothing lost or duplicated, calls reconnect (argv[1]: postgres | mysql). */
#include <pthread.h>
#include <stdatomic.h>

#include "cleanup-jansson.h"
#include "../store/store-test.h"

/* A worker keeps enqueueing, claiming and completing N jobs through the store's retrying calls
 * while another thread restarts the server twice (a fast restart, then a stop with a pause before
 * the start so the reconnect backoff is exercised). In the end every job must have produced
 * exactly one task_result event and the queue must be empty: an in-doubt COMMIT may rerun an
 * operation, and the rerun must be harmless (ids chosen before the transaction, consumed jobs
 * gone, a repeated completion STALE, a claim lost in flight comes back after its lease). */

#define N_JOBS 400
#define BATCH 8
#define LEASE (1 * USEC_PER_SEC)

static StoreTestEnv env;
static atomic_int progress;
static bool mysql;

/* The server's helper script: pg-cluster.sh or mariadb-cluster.sh, with the same verbs. */
static int server_ctl(const char *verb) {
        return mysql ? store_test_mariadb_ctl(&env, verb) : store_test_pg_ctl(&env, verb);
}

typedef struct EnqueueArgs {
        int from, to;
} EnqueueArgs;

static int enqueue_tx(StoreTx *tx, void *userdata) {
        EnqueueArgs *a = userdata;
        _cleanup_json_ json_t *p = json_object();
        if (!p)
                return -ENOMEM;
        for (int i = a->from; i < a->to; i++) {
                char id[32];
                snprintf(id, sizeof id, "job%04d", i);
                int r = store_job_enqueue(tx, id, "exec-restart", NULL, NULL, p, 0, now_realtime(), NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int create_tx(StoreTx *tx, void *userdata) {
        _cleanup_json_ json_t *doc = json_pack("{s:s, s:s, s:s, s:{s:s}}", "id", "exec-restart", "namespace", "t",
                                               "flowId", "restart", "state", "current", "RUNNING");
        StoreExecutionMeta m = { .id = "exec-restart", .namespace = "t", .flow_id = "restart", .state = "RUNNING" };
        int r = store_execution_create(tx, &m, doc, "created", NULL, now_realtime());
        return r == -EEXIST ? 0 : r;
}

static void *restarter(void *arg) {
        while (atomic_load(&progress) < N_JOBS / 4)
                usleep(1000);
        diag("restarting the server (fast) at %d completions", atomic_load(&progress));
        if (server_ctl("restart") != 0)
                diag("restart failed");
        while (atomic_load(&progress) < N_JOBS / 2)
                usleep(1000);
        diag("stopping the server at %d completions, starting again in 1 s", atomic_load(&progress));
        if (server_ctl("halt") != 0)
                diag("halt failed");
        usleep(1000 * 1000);
        if (server_ctl("resume") != 0)
                diag("resume failed");
        return NULL;
}

int main(int argc, char *argv[]) {
        char base[1024];
        _cleanup_store_ Store *s = NULL;
        int r, errors = 0, stale = 0, requeued = 0;

        mysql = argc > 1 && streq(argv[1], "mysql");
        /* Always a server of our own: the shared one must not be restarted under other tests. */
        if (mysql)
                store_test_mariadb_start(base, sizeof base, env.mariadb_dir, sizeof env.mariadb_dir);
        else
                store_test_pg_cluster(base, sizeof base, env.cluster_dir, sizeof env.cluster_dir);
        if ((mysql ? store_test_mysql_new_db(base, env.url, sizeof env.url)
                   : store_test_pg_new_db(base, env.url, sizeof env.url)) < 0) {
                printf("Bail out! cannot create a test database\n");
                store_test_teardown(&env);
                return EXIT_FAILURE;
        }
        r = store_open(env.url, &s);
        if (r < 0) {
                printf("Bail out! store_open: %s\n", store_error(s));
                store_test_teardown(&env);
                return EXIT_FAILURE;
        }
        is_int(store_migrate(s), store_schema_version_expected(store_backend(s)), "migrate a new database to the current schema");
        is_int(store_transact(s, create_tx, NULL), 0, "create the execution");

        pthread_t th;
        pthread_create(&th, NULL, restarter, NULL);

        int enqueued = 0;
        usec_t deadline = now_monotonic() + 120 * USEC_PER_SEC;
        while (atomic_load(&progress) < N_JOBS && now_monotonic() < deadline) {
                if (enqueued < N_JOBS) {
                        EnqueueArgs a = { enqueued, MIN(enqueued + BATCH, N_JOBS) };
                        r = store_transact(s, enqueue_tx, &a);
                        if (r < 0) {
                                diag("enqueue: %s: %s", strerror(-r), store_error(s));
                                errors++;
                                continue;
                        }
                        enqueued = a.to;
                }
                StoreJob *j = NULL;
                size_t n = 0;
                r = store_job_claim(s, "w-restart", NULL, BATCH, now_realtime(), LEASE, &j, &n);
                if (r < 0) {
                        diag("claim: %s: %s", strerror(-r), store_error(s));
                        errors++;
                        continue;
                }
                for (size_t i = 0; i < n; i++) {
                        _cleanup_json_ json_t *res = json_pack("{s:s}", "job", j[i].id);
                        r = store_job_complete(s, j[i].id, j[i].epoch, "w-restart", res, now_realtime());
                        if (r < 0) {
                                diag("complete: %s: %s", strerror(-r), store_error(s));
                                errors++;
                        } else if (r == STORE_STALE)
                                stale++;
                        else
                                atomic_fetch_add(&progress, 1);
                }
                store_jobs_free(j, n);
                if (n == 0 && enqueued == N_JOBS) {
                        /* Claims whose answer was lost with the connection come back once their
                         * lease runs out. */
                        usleep(100 * 1000);
                        r = store_job_requeue_expired(s, now_realtime());
                        if (r > 0)
                                requeued += r;
                }
        }
        pthread_join(th, NULL);
        diag("%d completions counted by the worker, %d stale, %d re-queued after lost claims",
             atomic_load(&progress), stale, requeued);
        is_int(errors, 0, "every operation succeeded or was retried (none reported failed)");

        /* Count in the database: one task_result per job, no job left. */
        StoreTx *tx;
        StoreEvent *e = NULL;
        size_t n = 0;
        static int seen[N_JOBS];
        int dup = 0, missing = 0, results = 0;
        int64_t left = -1;
        r = store_begin(s, &tx);
        if (r >= 0)
                r = store_event_list(tx, "exec-restart", &e, &n);
        if (r >= 0)
                r = store_job_count(tx, &left);
        store_rollback(tx);
        is_int(r, 0, "read back the results");
        for (size_t i = 0; i < n; i++) {
                if (!streq(e[i].type, "task_result"))
                        continue;
                results++;
                const char *id = json_string_value(json_object_get(e[i].payload, "jobId"));
                int k = id ? atoi(id + 3) : -1;
                if (k < 0 || k >= N_JOBS)
                        continue;
                if (seen[k]++)
                        dup++;
        }
        for (int k = 0; k < N_JOBS; k++)
                missing += seen[k] == 0;
        store_events_free(e, n);
        is_int(results, N_JOBS, "exactly one task_result per job");
        is_int(dup, 0, "no job completed twice");
        is_int(missing, 0, "no job lost");
        is_int(left, 0, "the queue is empty");

        /* A crash (immediate restart) under idle connections: the first statement each sends
         * fails in libpq without a SQLSTATE while the connection still looks fine (in
         * libmariadb with "server has gone away"), and every kind of call must see the loss
         * for what it is and reconnect. */
        _cleanup_store_ Store *a = NULL, *b = NULL, *c = NULL, *d = NULL;
        if (store_dup(s, &a) < 0 || store_dup(s, &b) < 0 || store_dup(s, &c) < 0 || store_dup(s, &d) < 0) {
                printf("Bail out! store_dup: %s\n", store_error(s));
                store_test_teardown(&env);
                return EXIT_FAILURE;
        }
        is_int(server_ctl("crash"), 0, "the server crashed and restarted (immediate)");
        StoreJob *j = NULL;
        size_t nj = 0;
        r = store_job_claim(a, "w-crash", NULL, 1, now_realtime(), LEASE, &j, &nj);
        if (!is_int(r, 0, "store_transact() (a claim) after a crash reconnects and runs"))
                diag("  %s", store_error(a));
        store_jobs_free(j, nj);
        r = store_begin(b, &tx);
        if (!is_int(r, 0, "store_begin() after a crash reconnects"))
                diag("  %s", store_error(b));
        if (r >= 0) {
                int64_t count = -1;
                is_int(store_job_count(tx, &count), 0, "and its transaction works");
                store_rollback(tx);
        }
        usec_t due;
        r = store_next_due(c, STORE_CHANNEL_JOBS, &due);
        if (!is_int(r, 0, "a read outside a transaction after a crash reconnects"))
                diag("  %s", store_error(c));

        /* The server gone for good: the error says why, on one line (libpq's spans several). */
        is_int(server_ctl("halt"), 0, "the server stopped");
        store_set_reconnect_timeout(d, 300 * USEC_PER_MSEC);
        r = store_job_claim(d, "w-crash", NULL, 1, now_realtime(), LEASE, &j, &nj);
        is_int(r, -ECONNRESET, "a claim with the server down fails as a lost connection after the reconnect timeout");
        ok(!strpbrk(store_error(d), "\n\r\t"), "its error is one line: %s", store_error(d));
        /* Back: the handle that gave up reconnects on its next call. */
        is_int(server_ctl("resume"), 0, "the server started again");
        store_set_reconnect_timeout(d, 30 * USEC_PER_SEC);
        r = store_job_claim(d, "w-crash", NULL, 1, now_realtime(), LEASE, &j, &nj);
        if (!is_int(r, 0, "a handle whose reconnect had given up connects again on its next call"))
                diag("  %s", store_error(d));
        store_jobs_free(j, nj);

        a = store_free(a), b = store_free(b), c = store_free(c), d = store_free(d);
        s = store_free(s);
        store_test_teardown(&env);
        return tap_done();
}

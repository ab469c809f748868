/* store-queue.c: benchmark of the job queue on PostgreSQL (claim+complete per second at 1, 4, 16 workers) next to pgbench -N. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#include "cleanup-jansson.h"
#include "../tests/store/store-test.h"

/* Usage: store-queue [--quick] [--batch N]. Uses $TERN_BENCH_PG_URL (or $TERN_TEST_PG_URL) when
 * set, else starts a throwaway cluster with tests/store/pg-cluster.sh ($TERN_PG_CLUSTER). Each
 * worker is a thread with its own connection that claims up to --batch jobs (default 1) in one
 * transaction and completes each in its own transaction (job deleted + task_result event), as a
 * real worker does; one operation = one job claimed and completed. */

static atomic_long done;
static atomic_bool stop;

typedef struct Worker {
        Store *s;
        char id[32];
        size_t batch;
        long errors;
} Worker;

static void *worker_run(void *arg) {
        Worker *w = arg;
        while (!atomic_load(&stop)) {
                StoreJob *j = NULL;
                size_t n = 0;
                usec_t now = now_realtime();
                if (store_job_claim(w->s, w->id, NULL, w->batch, now, 60 * USEC_PER_SEC, &j, &n) < 0) {
                        w->errors++;
                        continue;
                }
                if (n == 0)
                        break; /* queue drained: the run was too long for the jobs loaded */
                for (size_t i = 0; i < n; i++)
                        if (store_job_complete(w->s, j[i].id, j[i].epoch, w->id, NULL, now) != 0)
                                w->errors++;
                        else
                                atomic_fetch_add(&done, 1);
                store_jobs_free(j, n);
        }
        return NULL;
}

static int sql(const char *conninfo, const char *q) {
        PGconn *c = PQconnectdb(conninfo);
        int r = 0;
        if (PQstatus(c) != CONNECTION_OK) {
                fprintf(stderr, "connect: %s", PQerrorMessage(c));
                PQfinish(c);
                return -ECONNREFUSED;
        }
        PGresult *res = PQexec(c, q);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
                fprintf(stderr, "%s: %s", q, PQerrorMessage(c));
                r = -EIO;
        }
        PQclear(res);
        PQfinish(c);
        return r;
}

static double run_level(Store *s, const char *conninfo, int workers, size_t batch, double seconds, long jobs) {
        char q[512];
        Worker w[64];
        pthread_t th[64];

        /* Load the queue in one statement so that loading does not count. */
        snprintf(q, sizeof q,
                 "DELETE FROM events; DELETE FROM jobs;"
                 " INSERT INTO jobs (id, execution_id, queue, payload, available_at, created)"
                 " SELECT 'job' || g, 'bench', '', '{\"task\":\"noop\"}', g, 0 FROM generate_series(1, %ld) g",
                 jobs);
        /* VACUUM cannot run inside the implicit transaction of a multi-statement string. */
        if (sql(conninfo, q) < 0 || sql(conninfo, "VACUUM ANALYZE jobs") < 0 || sql(conninfo, "VACUUM ANALYZE events") < 0)
                return -1;

        atomic_store(&done, 0);
        atomic_store(&stop, false);
        for (int i = 0; i < workers; i++) {
                w[i] = (Worker) { .batch = batch };
                snprintf(w[i].id, sizeof w[i].id, "bench-w%d", i);
                if (store_dup(s, &w[i].s) < 0) {
                        fprintf(stderr, "store_dup: %s\n", store_error(s));
                        return -1;
                }
        }
        usec_t t0 = now_monotonic();
        for (int i = 0; i < workers; i++)
                pthread_create(&th[i], NULL, worker_run, &w[i]);
        usleep((useconds_t) (seconds * 1e6));
        atomic_store(&stop, true);
        long errors = 0;
        for (int i = 0; i < workers; i++) {
                pthread_join(th[i], NULL);
                errors += w[i].errors;
                store_free(w[i].s);
        }
        double elapsed = (double) (now_monotonic() - t0) / 1e6;
        if (errors)
                fprintf(stderr, "%d workers: %ld errors\n", workers, errors);
        return (double) atomic_load(&done) / elapsed;
}

static double pgbench_tps(const char *conninfo, int seconds) {
        char bindir[512] = "", cmd[2048], out[8192];
        if (store_test_run("ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1", bindir, sizeof bindir) != 0)
                return -1;
        strstrip(bindir);
        snprintf(cmd, sizeof cmd, "%s/pgbench -q -i -s 1 \"%s\" >/dev/null 2>&1", bindir, conninfo);
        if (store_test_run(cmd, NULL, 0) != 0)
                return -1;
        snprintf(cmd, sizeof cmd, "%s/pgbench -N -c 4 -j 2 -T %d \"%s\" 2>/dev/null", bindir, seconds, conninfo);
        if (store_test_run(cmd, out, sizeof out) != 0)
                return -1;
        const char *t = strstr(out, "tps = ");
        return t ? atof(t + 6) : -1;
}

int main(int argc, char *argv[]) {
        bool quick = false;
        size_t batch = 1;
        char base[1024], conninfo[1024];
        StoreTestEnv env = {};
        _cleanup_store_ Store *s = NULL;

        for (int i = 1; i < argc; i++) {
                if (streq(argv[i], "--quick"))
                        quick = true;
                else if (streq(argv[i], "--batch") && i + 1 < argc) {
                        int b = atoi(argv[++i]); /* not inside MAX(), which evaluates it twice */
                        batch = (size_t) MAX(b, 1);
                } else {
                        fprintf(stderr, "usage: %s [--quick] [--batch N]\n", argv[0]);
                        return 2;
                }
        }
        const char *url = getenv("TERN_BENCH_PG_URL");
        if (isempty(url))
                url = getenv("TERN_TEST_PG_URL");
        if (!isempty(url))
                snprintf(base, sizeof base, "%s", url);
        else
                store_test_pg_cluster(base, sizeof base, env.cluster_dir, sizeof env.cluster_dir);
        if (store_test_pg_new_db(base, conninfo, sizeof conninfo) < 0 || store_open(conninfo, &s) < 0 ||
            store_migrate(s) < 0) {
                fprintf(stderr, "cannot set up the bench database: %s\n", store_error(s));
                store_test_teardown(&env);
                return 1;
        }
        /* The jobs reference one execution. */
        if (sql(conninfo, "INSERT INTO executions (id, namespace, flow_id, state, created, updated, doc)"
                          " VALUES ('bench', 'bench', 'bench', 'RUNNING', 0, 0, '{}')") < 0) {
                store_test_teardown(&env);
                return 1;
        }

        double seconds = quick ? 1 : 5;
        static const int levels[] = { 1, 4, 16 };
        double ops[ELEMENTSOF(levels)];
        printf("store job queue on PostgreSQL: claim (batch %zu) + complete, %.0f s per level\n", batch, seconds);
        printf("%8s %14s\n", "workers", "ops/s");
        for (size_t i = 0; i < ELEMENTSOF(levels); i++) {
                ops[i] = run_level(s, conninfo, levels[i], batch, seconds, quick ? 20000 : 150000);
                printf("%8d %14.0f\n", levels[i], ops[i]);
                fflush(stdout);
        }
        double tps = pgbench_tps(conninfo, quick ? 2 : 10);
        printf("pgbench -N -c 4 -T %d: %.0f tps\n", quick ? 2 : 10, tps);
        if (tps > 0)
                for (size_t i = 0; i < ELEMENTSOF(levels); i++)
                        printf("ratio ops/s at %2d workers / pgbench tps: %.2f\n", levels[i], ops[i] / tps);
        s = store_free(s);
        store_test_teardown(&env);
        return 0;
}

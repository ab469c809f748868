/* store-contract-plans.c: which statements PostgreSQL plans once for any values and which at every run for theirs. */
#include "store-contract.h"
#include "store-private.h"

/* A plan made once is kept for the statements whose plan does not depend on their values (the
 * completion here), while the queue reads marked SQL_PLAN_EACH (the claim here) are never
 * prepared, so are planned for their values at every run: a generic plan of a claim misjudges a
 * backlog. What the server holds for this connection is in pg_prepared_statements. */
void test_plans(Store *s) {
        _cleanup_json_ json_t *doc = make_doc("e-plan", "ns", "f", "RUNNING", "2023-11-14T22:13:20Z");
        _cleanup_json_ json_t *p = json_pack("{}");
        _cleanup_rows_ SqlRows rows = {};
        const usec_t lease = 30 * USEC_PER_SEC;
        const int n_jobs = 8;
        int claimed = 0, oldest_first = 0;
        StoreTx *tx;

        if (store_backend(s) != STORE_BACKEND_POSTGRES)
                return;
        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_create(tx, META(doc), doc, "created", NULL, T0));
        for (int i = 0; i < n_jobs; i++) {
                char id[32];
                snprintf(id, sizeof id, "plan%d", i);
                CHECK_OK(store_job_enqueue(tx, id, "e-plan", NULL, "plan", p, T0 + (usec_t) i, T0, NULL));
        }
        CHECK_OK(store_commit(tx));
        /* More runs than the five custom plans PostgreSQL makes before it considers the generic one. */
        for (int i = 0; i < n_jobs; i++) {
                StoreJob *j = NULL;
                size_t n = 0;
                char want[32];

                snprintf(want, sizeof want, "plan%d", i);
                CHECK_OK(store_job_claim(s, "wp", "plan", 1, T0 + 10 + (usec_t) i, lease, &j, &n));
                if (n == 1) {
                        claimed++;
                        oldest_first += streq(j[0].id, want);
                        CHECK_OK(store_job_complete(s, j[0].id, j[0].epoch, "wp", NULL, T0 + 10 + (usec_t) i));
                }
                store_jobs_free(j, n);
        }
        is_int(claimed, n_jobs, "each claim took one job");
        is_int(oldest_first, n_jobs, "oldest available first, at every run");

        int r = store_exec_raw(s, "SELECT statement, generic_plans FROM pg_prepared_statements", NULL, 0, &rows);
        is_int(r, 0, "pg_prepared_statements read on the store's connection");
        size_t marked = 0, completions = 0;
        int64_t completion_generic = 0;
        for (size_t i = 0; i < rows.n_rows; i++) {
                const char *sql = sql_cell(&rows, i, 0);
                if (!sql)
                        continue;
                marked += strstr(sql, SQL_PLAN_EACH) != NULL;
                if (strstr(sql, "DELETE FROM jobs")) {
                        completions++;
                        completion_generic += sql_cell_i64(&rows, i, 1);
                }
        }
        ok(rows.n_rows > 0, "statements were prepared on the connection");
        is_int(marked, 0, "no statement marked SQL_PLAN_EACH (the claim) is prepared: each run is planned for its values");
        ok(completions > 0 && completion_generic > 0,
           "the completion keeps a plan made once (%" PRIi64 " runs with it on this connection)", completion_generic);

        CHECK_OK(store_begin(s, &tx));
        CHECK_OK(store_execution_delete(tx, "e-plan"));
        CHECK_OK(store_commit(tx));
}

/* store-jobs-sqlite.c: a worker's claim and completion as SQLite runs them best, and a claim inside the caller's transaction. */
#include "store-private.h"

/* SQLite builds a temporary table for each RETURNING clause and each IN (subquery) of a statement
 * it runs (OpenEphemeral: a page cache of its own, allocated and freed every time; an UPDATE ...
 * WHERE id IN (SELECT ...) RETURNING took three). Per job, that was most of a claim's and a
 * completion's cost. These read the rows first and then change them by primary key: the write
 * transaction is the process's only one (and another process's wait for the database lock), so
 * nothing changes the rows between the two statements. */

int store_claim_queue_sqlite(StoreTx *tx, ClaimArgs *a, const char *queue) {
        _cleanup_rows_ SqlRows rows = {};
        size_t first = a->n;
        int r;

        r = store_exec(tx,
                       "SELECT " JOB_COLUMNS " FROM jobs WHERE worker_id IS NULL AND queue = $1 AND available_at <= $2"
                       " ORDER BY available_at LIMIT $3",
                       SQL_ARGS(SQL_S(queue), SQL_I(a->now), SQL_I(a->max - a->n)), &rows);
        if (r < 0)
                return r;
        for (size_t i = 0; i < rows.n_rows; i++) {
                _cleanup_rows_ SqlRows up = {};
                r = store_exec(tx, "UPDATE jobs SET worker_id = $1, epoch = epoch + 1, lease_until = $2 WHERE id = $3",
                               SQL_ARGS(SQL_S(a->worker_id), SQL_I(a->now + a->lease), SQL_S(sql_cell(&rows, i, 0))),
                               &up);
                if (r < 0)
                        return r;
        }
        if ((r = store_claim_push(a, &rows)) < 0)
                return r;
        /* What the update wrote, as RETURNING would have read it back. */
        for (size_t i = first; i < a->n; i++) {
                StoreJob *j = &a->jobs[i];
                free(j->worker_id);
                if (!(j->worker_id = strdup(a->worker_id)))
                        return -ENOMEM;
                j->epoch++;
                j->lease_until = a->now + a->lease;
        }
        return 0;
}

int store_job_take_sqlite(StoreTx *tx, const char *job_id, int64_t epoch, const char *worker_id, SqlRows *ret) {
        _cleanup_rows_ SqlRows rows = {}, del = {};
        int r;

        r = store_exec(tx, "SELECT execution_id, task_run_id FROM jobs WHERE id = $1 AND epoch = $2 AND worker_id = $3",
                       SQL_ARGS(SQL_S(job_id), SQL_I(epoch), SQL_S(worker_id)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows > 0 &&
            (r = store_exec(tx, "DELETE FROM jobs WHERE id = $1", SQL_ARGS(SQL_S(job_id)), &del)) < 0)
                return r;
        *ret = rows;
        rows = (SqlRows) {};
        return 0;
}

int store_job_claim_tx(StoreTx *tx, const char *worker_id, const char *queue, size_t max, usec_t now, usec_t lease,
                       StoreJob **ret, size_t *ret_n) {
        /* What an earlier run of the caller's transaction took is in *ret: freed by the claim. */
        ClaimArgs a = { .worker_id = worker_id, .queue = queue, .max = max, .now = now, .lease = lease,
                        .jobs = *ret, .n = *ret_n };
        int r;

        if (isempty(worker_id) || max == 0)
                return -EINVAL;
        if (tx_is_pg(tx))
                return -EOPNOTSUPP;
        r = store_claim_tx(tx, &a);
        /* On failure the jobs read so far stay the caller's to free, with the transaction rolled back. */
        *ret = a.jobs;
        *ret_n = a.n;
        return r;
}

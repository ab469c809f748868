/* store-jobs-pg.c: a worker's job results on PostgreSQL, the jobs deleted and their events inserted by one statement. */
#include <errno.h>

#include "cleanup-jansson.h"
#include "store-private.h"
#include "strbuf.h"
#include "strutil.h"

/* The ids as an array literal ({"a","b"}), quoted and escaped whatever they hold. */
static int text_array(const StoreJobResult *jobs, size_t n, char **ret) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;

        strbuf_append_char(&b, '{');
        for (size_t i = 0; i < n; i++) {
                strbuf_append(&b, i ? ",\"" : "\"");
                for (const char *c = jobs[i].job_id; *c; c++) {
                        if (*c == '"' || *c == '\\')
                                strbuf_append_char(&b, '\\');
                        strbuf_append_char(&b, *c);
                }
                strbuf_append_char(&b, '"');
        }
        strbuf_append_char(&b, '}');
        if (b.error)
                return -ENOMEM;
        *ret = strbuf_steal(&b);
        return *ret ? 0 : -ENOMEM;
}

/* A job missing from what the statement returns was not this worker's at that epoch any more.
 * The epoch and worker are the fence, as in store_job_complete_tx(): a DELETE that waited for a
 * re-queue's row lock re-checks the join against the new row version, so exactly one of the two
 * wins. The jobs are found by primary key, named by the array $4 (a constant the planner sees:
 * prepared statements are planned for their parameters): joined to the JSON alone, with no
 * estimate of its rows, the DELETE read the worker's claimed jobs through a partial index, or all
 * of them, with the entries of completed ones that vacuum had not removed yet (45 to 65 blocks a
 * completion, against 5 a job by primary key). */
int store_job_complete_many_pg(StoreTx *tx, const char *worker_id, StoreJobResult *jobs, size_t n, usec_t now) {
        _cleanup_json_ json_t *arr = json_array();
        _cleanup_free_ char *text = NULL, *ids = NULL;
        _cleanup_rows_ SqlRows rows = {};
        int r;

        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                jobs[i].outcome = STORE_STALE;
                if (json_array_append_new(arr, json_pack("{s:s, s:I, s:O}", "id", jobs[i].job_id, "epoch",
                                                         (json_int_t) jobs[i].epoch, "result",
                                                         jobs[i].result ? jobs[i].result : json_null())) < 0)
                        return -ENOMEM;
        }
        if ((r = store_json_dump(arr, &text)) < 0 || (r = text_array(jobs, n, &ids)) < 0)
                return r;
        r = store_exec(tx,
                       "WITH v AS (SELECT * FROM json_to_recordset($1::json) AS v(id text, epoch bigint, result json)),"
                       " d AS (DELETE FROM jobs j USING v WHERE j.id = ANY($4::text[]) AND j.id = v.id"
                       " AND j.epoch = v.epoch AND j.worker_id = $2"
                       " RETURNING j.id, j.execution_id, j.task_run_id, j.epoch),"
                       " e AS (INSERT INTO events (execution_id, type, payload, due_at, created)"
                       " SELECT d.execution_id, 'task_result', jsonb_build_object('jobId', d.id, 'taskRunId', d.task_run_id,"
                       " 'epoch', d.epoch, 'workerId', $2::text, 'result', v.result), $3, $3 FROM d JOIN v ON v.id = d.id)"
                       " SELECT id FROM d",
                       SQL_ARGS(SQL_S(text), SQL_S(worker_id), SQL_I(now), SQL_S(ids)), &rows);
        if (r < 0)
                return r;
        for (size_t k = 0; k < rows.n_rows; k++)
                for (size_t i = 0; i < n; i++)
                        if (streq_ptr(sql_cell(&rows, k, 0), jobs[i].job_id))
                                jobs[i].outcome = 0;
        if (rows.n_rows > 0)
                tx->notify |= STORE_CHANNEL_EVENTS;
        return (int) rows.n_rows;
}

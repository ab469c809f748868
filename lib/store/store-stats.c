/* store-stats.c: counts over the state and the queue for monitoring (the webserver's /metrics). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store-private.h"
#include "strutil.h"

void store_stats_done(StoreStats *s) {
        if (!s)
                return;
        for (size_t i = 0; i < s->n_executions; i++)
                free(s->executions[i].key);
        for (size_t i = 0; i < s->n_task_runs; i++)
                free(s->task_runs[i].key);
        free(s->executions);
        free(s->task_runs);
        *s = (StoreStats) {};
}

/* Rows of (key, count) into an array. */
static int counts_take(SqlRows *rows, StoreCount **ret, size_t *ret_n) {
        StoreCount *c = calloc(rows->n_rows + 1, sizeof *c);
        if (!c)
                return -ENOMEM;
        for (size_t i = 0; i < rows->n_rows; i++) {
                const char *k = sql_cell(rows, i, 0);
                c[i].key = strdup(k ? k : "");
                c[i].n = sql_cell_i64(rows, i, 1);
                if (!c[i].key) {
                        for (size_t j = 0; j < i; j++)
                                free(c[j].key);
                        free(c);
                        return -ENOMEM;
                }
        }
        *ret = c;
        *ret_n = rows->n_rows;
        return 0;
}

int store_stats_get(StoreTx *tx, usec_t now, usec_t dead_after, StoreStats *ret) {
        _cleanup_(store_stats_done) StoreStats s = {};
        int r;
        {
                _cleanup_rows_ SqlRows rows = {};
                if ((r = store_exec(tx, "SELECT state, COUNT(*) FROM executions GROUP BY state ORDER BY state", NULL, 0,
                                    &rows)) < 0 ||
                    (r = counts_take(&rows, &s.executions, &s.n_executions)) < 0)
                        return r;
        }
        {
                _cleanup_rows_ SqlRows rows = {};
                const char *sql = "SELECT state, COUNT(*) FROM task_runs GROUP BY state ORDER BY state";
                if ((r = store_exec(tx, sql, NULL, 0, &rows)) < 0 ||
                    (r = counts_take(&rows, &s.task_runs, &s.n_task_runs)) < 0)
                        return r;
        }
        {
                _cleanup_rows_ SqlRows rows = {};
                if ((r = store_exec(tx, "SELECT COALESCE(SUM(CASE WHEN worker_id IS NULL THEN 1 ELSE 0 END), 0),"
                                        " COALESCE(SUM(CASE WHEN worker_id IS NULL THEN 0 ELSE 1 END), 0) FROM jobs",
                                    NULL, 0, &rows)) < 0)
                        return r;
                s.jobs_queued = sql_cell_i64(&rows, 0, 0);
                s.jobs_running = sql_cell_i64(&rows, 0, 1);
        }
        {
                _cleanup_rows_ SqlRows rows = {};
                if ((r = store_exec(tx, "SELECT COUNT(*), COALESCE(SUM(CASE WHEN due_at <= $1 THEN 1 ELSE 0 END), 0)"
                                        " FROM events", SQL_ARGS(SQL_I(now)), &rows)) < 0)
                        return r;
                s.events_pending = sql_cell_i64(&rows, 0, 0);
                s.events_due = sql_cell_i64(&rows, 0, 1);
        }
        {
                /* Live workers: a heartbeat within dead_after; their slots when the instance recorded them. */
                _cleanup_rows_ SqlRows rows = {};
                if ((r = store_exec(tx, "SELECT info FROM services WHERE component = 'worker' AND heartbeat >= $1",
                                    SQL_ARGS(SQL_I(dead_after < now ? now - dead_after : 0)), &rows)) < 0)
                        return r;
                s.workers = (int64_t) rows.n_rows;
                s.worker_slots = -1;
                for (size_t i = 0; i < rows.n_rows; i++) {
                        json_t *info = NULL;
                        if (sql_cell_json(&rows, i, 0, &info) < 0)
                                continue;
                        json_t *slots = json_object_get(info, "slots");
                        if (json_is_integer(slots))
                                s.worker_slots = (s.worker_slots < 0 ? 0 : s.worker_slots) + json_integer_value(slots);
                        json_decref(info);
                }
        }
        *ret = s;
        s = (StoreStats) {};
        return 0;
}

/* The first date a history reaches state st (0: never). */
static usec_t history_date(json_t *histories, const char *st) {
        size_t i;
        json_t *h;
        json_array_foreach(histories, i, h) {
                usec_t t = 0;
                const char *d = json_string_value(json_object_get(h, "date"));
                if ((!st || streq_ptr(json_string_value(json_object_get(h, "state")), st)) && d &&
                    timestamp_parse(d, 0, &t) >= 0)
                        return t;
                if (!st)
                        return 0;
        }
        return 0;
}

int store_execution_start_delays(StoreTx *tx, size_t limit, usec_t **ret, size_t *ret_n) {
        _cleanup_rows_ SqlRows rows = {};
        /* Only the state histories, not the documents with their task runs. */
        /* (SQLite's json_extract is MySQL's JSON_EXTRACT too.) */
        int r = store_exec(tx, tx_is_pg(tx)
                                       ? "SELECT doc->'state'->'histories' FROM executions ORDER BY created DESC LIMIT $1"
                                       : "SELECT json_extract(doc, '$.state.histories') FROM executions"
                                         " ORDER BY created DESC LIMIT $1",
                           SQL_ARGS(SQL_I(limit)), &rows);
        if (r < 0)
                return r;
        usec_t *d = calloc(rows.n_rows + 1, sizeof *d);
        size_t n = 0;
        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++) {
                json_t *h = NULL;
                if (sql_cell_json(&rows, i, 0, &h) < 0 || !h)
                        continue;
                usec_t created = history_date(h, NULL), started = history_date(h, "RUNNING");
                if (created && started >= created)
                        d[n++] = started - created;
                json_decref(h);
        }
        *ret = d;
        *ret_n = n;
        return 0;
}

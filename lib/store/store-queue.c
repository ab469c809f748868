/* store-queue.c: executions, their event queue and worker jobs with leases and fencing epochs. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "hashmap.h"
#include "id.h"
#include "store-private.h"
#include "strbuf.h"
#include "strutil.h"

/* ---- executions ----------------------------------------------------------------------------- */

/* What the columns need; the rest of m is optional. */
static int meta_check(const StoreExecutionMeta *m, json_t *doc) {
        if (!m || isempty(m->id) || isempty(m->namespace) || isempty(m->flow_id) || isempty(m->state) ||
            !json_is_object(doc))
                return -EINVAL;
        if (m->n_task_runs != json_array_size(json_object_get(doc, "taskRunList")) || (m->n_task_runs && !m->task_runs))
                return -EINVAL;
        return 0;
}

static int exec_labels_write(StoreTx *tx, const char *id, json_t *labels, bool replace) {
        size_t i;
        json_t *l;
        int r;

        if (replace) {
                r = store_exec(tx, "DELETE FROM execution_labels WHERE execution_id = $1", SQL_ARGS(SQL_S(id)), NULL);
                if (r < 0)
                        return r;
        }
        json_array_foreach(labels, i, l) {
                const char *k = json_string_value(json_object_get(l, "key"));
                const char *v = json_string_value(json_object_get(l, "value"));
                if (!k || !v)
                        continue;
                r = store_exec(tx,
                               "INSERT INTO execution_labels (execution_id, \"key\", value) VALUES ($1, $2, $3)"
                               " ON CONFLICT DO NOTHING",
                               SQL_ARGS(SQL_S(id), SQL_S(k), SQL_S(v)), NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The document as stored: without its task runs (rows of their own). */
static int exec_doc_text(json_t *doc, char **ret) {
        _cleanup_json_ json_t *stored = store_doc_without_task_runs(doc);
        if (!stored)
                return -ENOMEM;
        return store_json_dump(stored, ret);
}

int store_execution_create(StoreTx *tx, const StoreExecutionMeta *m, json_t *doc, const char *event_type,
                           json_t *payload, usec_t now) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_free_ char *text = NULL;
        int r;

        if ((r = meta_check(m, doc)) < 0)
                return r;
        if ((r = exec_doc_text(doc, &text)) < 0)
                return r;
        usec_t created = m->created ? m->created : now;
        r = store_exec(tx,
                       "INSERT INTO executions (id, namespace, flow_id, flow_revision, state, created, updated,"
                       " start_date, end_date, parent_id, doc, version)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7, $6, $8, $9, $10, $7) ON CONFLICT (id) DO NOTHING",
                       SQL_ARGS(SQL_S(m->id), SQL_S(m->namespace), SQL_S(m->flow_id),
                                m->flow_revision > 0 ? SQL_I(m->flow_revision) : SQL_S(NULL), SQL_S(m->state),
                                SQL_I(created), SQL_I(now), SQL_T(m->ended), SQL_S(m->parent_id), SQL_S(text)),
                       &rows);
        if (r < 0)
                return r;
        if (rows.changes == 0)
                return -EEXIST;
        r = store_task_runs_write(tx, m->id, m->task_runs, doc, NULL);
        if (r < 0)
                return r;
        r = exec_labels_write(tx, m->id, m->labels, false);
        if (r < 0)
                return r;
        tx->notify |= STORE_CHANNEL_EXECUTIONS;
        return event_type ? store_event_emit(tx, m->id, event_type, payload, now, now, NULL) : 0;
}

int store_execution_save_from(StoreTx *tx, const StoreExecutionMeta *m, json_t *doc, json_t *prev_doc, usec_t now,
                              int64_t *ret_version) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_free_ char *text = NULL;
        int r;

        if ((r = meta_check(m, doc)) < 0)
                return r;
        if ((r = exec_doc_text(doc, &text)) < 0)
                return r;
        if (tx->batch) {
                /* Written at the flush; the new version is not known before (0). */
                r = store_batch_add(tx, STORE_BATCH_EXECUTIONS,
                                    (const SqlArg[]) { SQL_S(m->id), SQL_S(m->namespace), SQL_S(m->flow_id),
                                                       m->flow_revision > 0 ? SQL_I(m->flow_revision) : SQL_S(NULL),
                                                       SQL_S(m->state), SQL_I(m->created ? m->created : now),
                                                       SQL_I(now), SQL_T(m->ended), SQL_S(m->parent_id),
                                                       SQL_S(text) });
                if (r < 0)
                        return r;
                if (ret_version)
                        *ret_version = 0;
                goto saved;
        }
        /* created (and start_date, the same) stay what the first write said. */
        r = store_exec(tx,
                       tx_is_mysql(tx) ? "UPDATE executions SET namespace = $2, flow_id = $3, flow_revision = $4, state = $5,"
                                         " updated = $6, end_date = $7, parent_id = $8, doc = $9, version = version + 1"
                                         " WHERE id = $1; SELECT version FROM executions WHERE id = $1"
                                       : "UPDATE executions SET namespace = $2, flow_id = $3, flow_revision = $4, state = $5,"
                                         " updated = $6, end_date = $7, parent_id = $8, doc = $9, version = version + 1"
                                         " WHERE id = $1 RETURNING version",
                       SQL_ARGS(SQL_S(m->id), SQL_S(m->namespace), SQL_S(m->flow_id),
                                m->flow_revision > 0 ? SQL_I(m->flow_revision) : SQL_S(NULL), SQL_S(m->state),
                                SQL_I(now), SQL_T(m->ended), SQL_S(m->parent_id), SQL_S(text)),
                       &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        if (ret_version)
                *ret_version = sql_cell_i64(&rows, 0, 0);
saved:
        tx->notify |= STORE_CHANNEL_EXECUTIONS;
        r = store_task_runs_write(tx, m->id, m->task_runs, doc, prev_doc);
        if (r < 0)
                return r;
        /* The label index is rewritten only when the labels changed. */
        if (prev_doc && json_equal(json_object_get(prev_doc, "labels"), m->labels))
                return 0;
        return exec_labels_write(tx, m->id, m->labels, true);
}

int store_execution_save(StoreTx *tx, const StoreExecutionMeta *m, json_t *doc, usec_t now) {
        return store_execution_save_from(tx, m, doc, NULL, now, NULL);
}

int store_execution_get(StoreTx *tx, const char *id, json_t **ret_doc) {
        _cleanup_rows_ SqlRows rows = {};
        int r;

        r = store_exec(tx,
                       tx_sql(tx, "SELECT x.doc, " SQL_TASK_RUNS_OF_PG("x") " FROM executions x WHERE x.id = $1",
                              "SELECT x.doc, " SQL_TASK_RUNS_OF_SQLITE("x") " FROM executions x WHERE x.id = $1",
                              "SELECT x.doc, " SQL_TASK_RUNS_OF_MYSQL("x") " FROM executions x WHERE x.id = $1"),
                       SQL_ARGS(SQL_S(id)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        return store_doc_from_cells(&rows, 0, 0, 1, ret_doc);
}

void store_execution_row_done(StoreExecutionRow *r) {
        free(r->namespace);
        free(r->flow_id);
        *r = (StoreExecutionRow) {};
}

int store_execution_row(StoreTx *tx, const char *id, StoreExecutionRow *ret) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "SELECT namespace, flow_id, flow_revision, created FROM executions WHERE id = $1",
                           SQL_ARGS(SQL_S(id)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        *ret = (StoreExecutionRow) {
                .namespace = sql_cell_take(&rows, 0, 0),
                .flow_id = sql_cell_take(&rows, 0, 1),
                .flow_revision = (int) sql_cell_i64(&rows, 0, 2),
                .created = (usec_t) sql_cell_i64(&rows, 0, 3),
        };
        if (!ret->namespace || !ret->flow_id) {
                store_execution_row_done(ret);
                return -ENOMEM;
        }
        return 0;
}

int store_execution_set_aside(StoreTx *tx, const StoreExecutionMeta *m, json_t *doc, usec_t now) {
        _cleanup_rows_ SqlRows rows = {}, trs = {};
        _cleanup_free_ char *text = NULL;
        int r;

        if ((r = meta_check(m, doc)) < 0)
                return r;
        if ((r = exec_doc_text(doc, &text)) < 0)
                return r;
        r = store_exec(tx,
                       "UPDATE executions SET state = $2, updated = $3, end_date = $4, doc = $5,"
                       " version = version + 1 WHERE id = $1",
                       SQL_ARGS(SQL_S(m->id), SQL_S(m->state), SQL_I(now), SQL_T(m->ended), SQL_S(text)), &rows);
        if (r < 0)
                return r;
        if (rows.changes == 0)
                return -ENOENT;
        tx->notify |= STORE_CHANNEL_EXECUTIONS;
        /* The task runs that still read back are kept (they show what ran); the others go. */
        r = store_exec(tx, "SELECT ord, doc FROM task_runs WHERE execution_id = $1", SQL_ARGS(SQL_S(m->id)), &trs);
        if (r < 0)
                return r;
        for (size_t i = 0; i < trs.n_rows; i++) {
                _cleanup_json_ json_t *tr = NULL;
                if (sql_cell_json(&trs, i, 1, &tr) >= 0 && json_is_object(tr))
                        continue;
                r = store_exec(tx, "DELETE FROM task_runs WHERE execution_id = $1 AND ord = $2",
                               SQL_ARGS(SQL_S(m->id), SQL_I(sql_cell_i64(&trs, i, 0))), NULL);
                if (r < 0)
                        return r;
        }
        return store_exec(tx, "DELETE FROM events WHERE execution_id = $1", SQL_ARGS(SQL_S(m->id)), NULL);
}

int store_execution_delete(StoreTx *tx, const char *id) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "DELETE FROM executions WHERE id = $1", SQL_ARGS(SQL_S(id)), &rows);
        if (r < 0)
                return r;
        if (rows.changes == 0)
                return -ENOENT;
        tx->notify |= STORE_CHANNEL_EXECUTIONS;
        return 0;
}

/* The WHERE conditions of a filter (search and count select the same rows). */
static int execution_filter_where(QueryBuilder *q, const StoreExecutionFilter *f) {
        int r = 0;
        strbuf_append(&q->sql, " WHERE 1 = 1");
        if (f->namespace_prefix)
                r = store_qb_namespace(q, "namespace", f->namespace_prefix) < 0 ? -ENOMEM : r;
        if (f->namespace) {
                strbuf_append(&q->sql, " AND namespace = ");
                r = store_qb_arg(q, SQL_S(f->namespace)) < 0 ? -ENOMEM : r;
        }
        if (f->flow_id) {
                strbuf_append(&q->sql, " AND flow_id = ");
                r = store_qb_arg(q, SQL_S(f->flow_id)) < 0 ? -ENOMEM : r;
        }
        if (f->state) {
                strbuf_append(&q->sql, " AND state = ");
                r = store_qb_arg(q, SQL_S(f->state)) < 0 ? -ENOMEM : r;
        }
        if (f->parent_id) {
                strbuf_append(&q->sql, " AND parent_id = ");
                r = store_qb_arg(q, SQL_S(f->parent_id)) < 0 ? -ENOMEM : r;
        }
        for (size_t i = 0; i < f->n_labels; i++) {
                strbuf_append(&q->sql, " AND id IN (SELECT execution_id FROM execution_labels WHERE \"key\" = ");
                r = store_qb_arg(q, SQL_S(f->labels[i].key)) < 0 ? -ENOMEM : r;
                strbuf_append(&q->sql, " AND value = ");
                r = store_qb_arg(q, SQL_S(f->labels[i].value)) < 0 ? -ENOMEM : r;
                strbuf_append(&q->sql, ")");
        }
        if (f->created_from) {
                strbuf_append(&q->sql, " AND created >= ");
                r = store_qb_arg(q, SQL_I(f->created_from)) < 0 ? -ENOMEM : r;
        }
        if (f->created_to) {
                strbuf_append(&q->sql, " AND created < ");
                r = store_qb_arg(q, SQL_I(f->created_to)) < 0 ? -ENOMEM : r;
        }
        if (f->ended_to) {
                strbuf_append(&q->sql, " AND end_date IS NOT NULL AND end_date <= ");
                r = store_qb_arg(q, SQL_I(f->ended_to)) < 0 ? -ENOMEM : r;
        }
        if (f->after_id) {
                /* Written out rather than as a row comparison, which not every backend's planner
                 * matches to the (created, id) order. */
                strbuf_append(&q->sql, " AND (created < ");
                r = store_qb_arg(q, SQL_I(f->after_created)) < 0 ? -ENOMEM : r;
                strbuf_append(&q->sql, " OR (created = ");
                r = store_qb_arg(q, SQL_I(f->after_created)) < 0 ? -ENOMEM : r;
                strbuf_append(&q->sql, " AND id < ");
                r = store_qb_arg(q, SQL_S(f->after_id)) < 0 ? -ENOMEM : r;
                strbuf_append(&q->sql, "))");
        }
        return q->sql.error ? q->sql.error : r;
}

void store_execution_keys_free(StoreExecutionKey *k, size_t n) {
        for (size_t i = 0; k && i < n; i++)
                free(k[i].id);
        free(k);
}

int store_execution_keys(StoreTx *tx, const StoreExecutionFilter *f, StoreExecutionKey **ret, size_t *ret_n) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        strbuf_append(&q.sql, "SELECT id, created FROM executions");
        int r = execution_filter_where(&q, f);
        if (r < 0)
                return r;
        strbuf_append(&q.sql, " ORDER BY created DESC, id DESC LIMIT ");
        store_qb_arg(&q, SQL_I(f->limit ? f->limit : 100));
        strbuf_append(&q.sql, " OFFSET ");
        r = store_qb_arg(&q, SQL_I(f->offset));
        if (r < 0 || q.sql.error)
                return r < 0 ? r : q.sql.error;
        if ((r = store_exec(tx, strbuf_str(&q.sql), q.args, q.n, &rows)) < 0)
                return r;
        StoreExecutionKey *k = calloc(rows.n_rows + 1, sizeof *k);
        if (!k)
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++) {
                k[i] = (StoreExecutionKey) { .id = sql_cell_take(&rows, i, 0), .created = (usec_t) sql_cell_i64(&rows, i, 1) };
                if (!k[i].id) {
                        store_execution_keys_free(k, i);
                        return -ENOMEM;
                }
        }
        *ret = k;
        *ret_n = rows.n_rows;
        return 0;
}

int store_execution_count(StoreTx *tx, const StoreExecutionFilter *f, int64_t *ret) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        strbuf_append(&q.sql, "SELECT COUNT(*) FROM executions");
        int r = execution_filter_where(&q, f);
        if (r < 0)
                return r;
        r = store_exec(tx, strbuf_str(&q.sql), q.args, q.n, &rows);
        if (r < 0)
                return r;
        *ret = sql_cell_i64(&rows, 0, 0);
        return 0;
}

void store_execution_days_free(StoreExecutionDay *d, size_t n) {
        for (size_t i = 0; d && i < n; i++) {
                free(d[i].namespace);
                free(d[i].flow_id);
                free(d[i].state);
        }
        free(d);
}

int store_execution_days(StoreTx *tx, const StoreExecutionFilter *f, usec_t bucket, StoreExecutionDay **ret,
                         size_t *ret_n) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        char day[80];
        /* The UTC day (or hour) as created - created % its length: the same arithmetic on every
         * backend (MySQL's '/' would not divide integers as integers). */
        snprintf(day, sizeof day, "(created - created %% %" PRIu64 ")", (uint64_t) (bucket ? bucket : 86400000000));
        strbuf_appendf(&q.sql, "SELECT namespace, flow_id, %s, state, COUNT(*),"
                              " SUM(CASE WHEN end_date IS NOT NULL AND start_date IS NOT NULL THEN end_date - start_date ELSE 0 END),"
                              " SUM(CASE WHEN end_date IS NOT NULL AND start_date IS NOT NULL THEN 1 ELSE 0 END)"
                              " FROM executions", day);
        int r = execution_filter_where(&q, f);
        if (r < 0)
                return r;
        strbuf_appendf(&q.sql, " GROUP BY namespace, flow_id, %s, state ORDER BY 3, 1, 2, 4", day);
        if (q.sql.error)
                return q.sql.error;
        if ((r = store_exec(tx, strbuf_str(&q.sql), q.args, q.n, &rows)) < 0)
                return r;
        StoreExecutionDay *d = calloc(rows.n_rows + 1, sizeof *d);
        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++) {
                d[i] = (StoreExecutionDay) {
                        .namespace = sql_cell_take(&rows, i, 0),
                        .flow_id = sql_cell_take(&rows, i, 1),
                        .day = (usec_t) sql_cell_i64(&rows, i, 2),
                        .state = sql_cell_take(&rows, i, 3),
                        .n = sql_cell_i64(&rows, i, 4),
                        .duration_sum = sql_cell_i64(&rows, i, 5),
                        .n_ended = sql_cell_i64(&rows, i, 6),
                };
                if (!d[i].namespace || !d[i].flow_id || !d[i].state) {
                        store_execution_days_free(d, i + 1);
                        return -ENOMEM;
                }
        }
        *ret = d;
        *ret_n = rows.n_rows;
        return 0;
}

int store_execution_search_skipping(StoreTx *tx, const StoreExecutionFilter *f, json_t **ret, size_t *ret_skipped) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_json_ json_t *out = NULL;
        int r;

        strbuf_append(&q.sql, tx_sql(tx, "SELECT x.doc, " SQL_TASK_RUNS_OF_PG("x") " FROM executions x",
                                     "SELECT x.doc, " SQL_TASK_RUNS_OF_SQLITE("x") " FROM executions x",
                                     "SELECT x.doc, " SQL_TASK_RUNS_OF_MYSQL("x") " FROM executions x"));
        if ((r = execution_filter_where(&q, f)) < 0)
                return r;
        strbuf_append(&q.sql, " ORDER BY created DESC, id DESC LIMIT ");
        store_qb_arg(&q, SQL_I(f->limit ? f->limit : 100));
        strbuf_append(&q.sql, " OFFSET ");
        r = store_qb_arg(&q, SQL_I(f->offset));
        if (r < 0 || q.sql.error)
                return r < 0 ? r : q.sql.error;

        r = store_exec(tx, strbuf_str(&q.sql), q.args, q.n, &rows);
        if (r < 0)
                return r;
        out = json_array();
        if (!out)
                return -ENOMEM;
        size_t skipped = 0;
        for (size_t i = 0; i < rows.n_rows; i++) {
                json_t *d;
                r = store_doc_from_cells(&rows, i, 0, 1, &d);
                if (r == -EBADMSG) {
                        skipped++;
                        continue;
                }
                if (r < 0)
                        return r;
                if (json_array_append_new(out, d) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        if (ret_skipped)
                *ret_skipped = skipped;
        return 0;
}

int store_execution_search(StoreTx *tx, const StoreExecutionFilter *f, json_t **ret) {
        return store_execution_search_skipping(tx, f, ret, NULL);
}

/* ---- events --------------------------------------------------------------------------------- */

int store_execution_concurrency(StoreTx *tx, const char *ns, const char *flow_id, const char *except_id,
                                int64_t *ret_active, char **ret_oldest_queued) {
        _cleanup_rows_ SqlRows lock = {}, count = {}, queued = {};
        int r;

        /* Deciding whether one more execution may run is a read-then-write: serialize it per flow
         * (PostgreSQL transaction-level advisory lock; on MySQL a row of tern_locks, locked by
         * the upsert until the transaction ends; SQLite has one writer anyway). */
        if (tx_has_row_locks(tx)) {
                _cleanup_free_ char *key = strjoin(ns, "\n", flow_id);
                if (!key)
                        return -ENOMEM;
                r = store_exec(tx,
                               tx_is_pg(tx) ? "SELECT pg_advisory_xact_lock(hashtextextended($1, 7))"
                                            : "INSERT INTO tern_locks (name) VALUES (SHA2($1, 256))"
                                              " ON DUPLICATE KEY UPDATE name = name",
                               SQL_ARGS(SQL_S(key)), &lock);
                if (r < 0)
                        return r;
        }
        r = store_exec(tx,
                       "SELECT COUNT(*) FROM executions WHERE namespace = $1 AND flow_id = $2 AND id <> $3"
                       " AND state IN ('RUNNING', 'PAUSED', 'RETRYING', 'KILLING', 'RESTARTED')",
                       SQL_ARGS(SQL_S(ns), SQL_S(flow_id), SQL_S(strempty(except_id))), &count);
        if (r < 0)
                return r;
        *ret_active = sql_cell_i64(&count, 0, 0);
        if (ret_oldest_queued) {
                r = store_exec(tx,
                               "SELECT id FROM executions WHERE namespace = $1 AND flow_id = $2 AND state = 'QUEUED'"
                               " AND id <> $3 ORDER BY created, id LIMIT 1",
                               SQL_ARGS(SQL_S(ns), SQL_S(flow_id), SQL_S(strempty(except_id))), &queued);
                if (r < 0)
                        return r;
                *ret_oldest_queued = queued.n_rows ? sql_cell_take(&queued, 0, 0) : NULL;
        }
        return 0;
}

int store_event_emit(StoreTx *tx, const char *execution_id, const char *type, json_t *payload, usec_t due_at,
                     usec_t now, int64_t *ret_seq) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_free_ char *text = NULL;
        int r;

        if (isempty(execution_id) || isempty(type))
                return -EINVAL;
        r = store_json_dump(payload, &text);
        if (r < 0)
                return r;
        if (tx->batch) {
                /* Deferred when its seq is not asked for; when it is, after those deferred before it,
                 * so that the events keep the order they were emitted in. */
                if (!ret_seq) {
                        r = store_batch_add(tx, STORE_BATCH_EVENTS,
                                            (const SqlArg[]) { SQL_S(execution_id), SQL_S(type), SQL_S(text),
                                                               SQL_I(MAX(due_at, (usec_t) 0)), SQL_I(now) });
                        if (r >= 0)
                                tx->notify |= STORE_CHANNEL_EVENTS;
                        return r;
                }
                if ((r = store_tx_flush(tx)) < 0)
                        return r;
        }
        r = store_exec(tx,
                       tx_is_mysql(tx) ? "INSERT INTO events (execution_id, type, payload, due_at, created)"
                                         " VALUES ($1, $2, $3, $4, $5); SELECT LAST_INSERT_ID()"
                       : ret_seq         ? "INSERT INTO events (execution_id, type, payload, due_at, created)"
                                           " VALUES ($1, $2, $3, $4, $5) RETURNING seq"
                                         /* (RETURNING costs SQLite a temporary table per row) */
                                         : "INSERT INTO events (execution_id, type, payload, due_at, created)"
                                           " VALUES ($1, $2, $3, $4, $5)",
                       SQL_ARGS(SQL_S(execution_id), SQL_S(type), SQL_S(text), SQL_I(MAX(due_at, (usec_t) 0)),
                                SQL_I(now)),
                       &rows);
        if (r < 0)
                return r;
        tx->notify |= STORE_CHANNEL_EVENTS;
        if (ret_seq)
                *ret_seq = rows.n_rows > 0 ? sql_cell_i64(&rows, 0, 0) : 0;
        return 0;
}

int store_event_delete(StoreTx *tx, int64_t seq) {
        _cleanup_rows_ SqlRows rows = {};
        if (tx->batch)
                return store_batch_add(tx, STORE_BATCH_EVENT_DELETES, (const SqlArg[]) { SQL_I(seq) });
        int r = store_exec(tx, "DELETE FROM events WHERE seq = $1", SQL_ARGS(SQL_I(seq)), &rows);
        if (r < 0)
                return r;
        return rows.changes > 0 ? 0 : -ENOENT;
}

void store_events_free(StoreEvent *e, size_t n) {
        if (!e)
                return;
        for (size_t i = 0; i < n; i++) {
                free(e[i].execution_id);
                free(e[i].type);
                json_decref(e[i].payload);
        }
        free(e);
}

/* Row i of (seq, execution_id, type, payload, due_at, created) -> e. An unreadable payload fails,
 * or, with ret_unreadable, is left NULL and noted there (-EBADMSG). */
static int event_from_row(SqlRows *rows, size_t i, StoreEvent *e, int *ret_unreadable) {
        e->seq = sql_cell_i64(rows, i, 0);
        e->execution_id = sql_cell_take(rows, i, 1);
        e->type = sql_cell_take(rows, i, 2);
        e->due_at = (usec_t) sql_cell_i64(rows, i, 4);
        e->created = (usec_t) sql_cell_i64(rows, i, 5);
        int r = sql_cell_json(rows, i, 3, &e->payload);
        if (r == -EBADMSG && ret_unreadable) {
                *ret_unreadable = r;
                r = 0;
        }
        return r;
}

/* Rows (seq, execution_id, type, payload, due_at, created) -> events. */
static int events_from_rows(SqlRows *rows, StoreEvent **ret, size_t *ret_n) {
        StoreEvent *e = NULL;
        int r;

        if (rows->n_rows > 0) {
                e = calloc(rows->n_rows, sizeof(StoreEvent));
                if (!e)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < rows->n_rows; i++)
                if ((r = event_from_row(rows, i, &e[i], NULL)) < 0) {
                        store_events_free(e, rows->n_rows);
                        return r;
                }
        *ret = e;
        *ret_n = rows->n_rows;
        return 0;
}

int store_event_list(StoreTx *tx, const char *execution_id, StoreEvent **ret, size_t *ret_n) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx,
                           "SELECT seq, execution_id, type, payload, due_at, created FROM events"
                           " WHERE execution_id = $1 ORDER BY seq",
                           SQL_ARGS(SQL_S(execution_id)), &rows);
        if (r < 0)
                return r;
        return events_from_rows(&rows, ret, ret_n);
}

void store_claims_free(StoreClaim *c, size_t n) {
        if (!c)
                return;
        for (size_t i = 0; i < n; i++) {
                free(c[i].execution_id);
                json_decref(c[i].doc);
                store_events_free(c[i].events, c[i].n_events);
        }
        free(c);
}

/* "head $k, $k+1, ... tail" over the execution ids of the claims that pick says (NULL: all),
 * after the arguments of pre (k = n_pre + 1), the list padded to a power of two (a few statement
 * texts only: store-private.h). Nothing picked: no statement, no rows. */
/* The rows of the claims picked (all without pick), by an id list; also (when not NULL) is a
 * statement sent in the same round trip, its rows in also_ret. */
static int claim_select(StoreTx *tx, const char *head, const char *tail, const SqlArg *pre, size_t n_pre,
                        const StoreClaim *c, size_t n, const bool *pick, const SqlStmt *also, SqlRows *also_ret,
                        SqlRows *ret) {
        _cleanup_strbuf_ StrBuf sql = STRBUF_INIT;
        _cleanup_free_ SqlArg *args = calloc(n_pre + sql_pow2_ceil(n), sizeof(SqlArg));
        size_t m = 0;

        *ret = (SqlRows) {};
        if (!args || strbuf_append(&sql, head) < 0)
                return -ENOMEM;
        for (; m < n_pre; m++)
                args[m] = pre[m];
        for (size_t i = 0; i < n; i++) {
                if (pick && !pick[i])
                        continue;
                args[m] = SQL_S(c[i].execution_id);
                if (strbuf_appendf(&sql, "%s$%zu", m > n_pre ? ", " : "", m + 1) < 0)
                        return -ENOMEM;
                m++;
        }
        if (m == n_pre)
                return 0;
        for (size_t pad = sql_pow2_ceil(m - n_pre) - (m - n_pre); pad > 0; pad--, m++) {
                args[m] = args[m - 1];
                if (strbuf_appendf(&sql, ", $%zu", m + 1) < 0)
                        return -ENOMEM;
        }
        if (strbuf_append(&sql, tail) < 0)
                return -ENOMEM;
        if (also) {
                SqlRows rows[2] = {};
                int r = store_exec_many(tx, (const SqlStmt[]) { { strbuf_str(&sql), args, m }, *also }, 2, rows);
                *ret = rows[0];
                *also_ret = rows[1];
                return r;
        }
        return store_exec(tx, strbuf_str(&sql), args, m, ret);
}

/* The due events of the claimed executions, one statement for all; those without any (applied by
 * another executor meanwhile) are dropped from c. */
static int claim_events(StoreTx *tx, StoreClaim *c, size_t *n, usec_t now) {
        _cleanup_rows_ SqlRows ev = {}, listeners = {};
        /* A deferring step reads whether Flow triggers listen once: with the events, not in a
         * round trip of its own when it first reports a state. */
        bool with_listeners = tx->batch && !store_batch_listeners_known(tx);
        _cleanup_hashmap_ Hashmap at = HASHMAP_INIT; /* execution id -> claim + 1 */
        int r;

        r = claim_select(tx,
                         SQL_PLAN_EACH "SELECT seq, execution_id, type, payload, due_at, created FROM events"
                         " WHERE due_at <= $1 AND execution_id IN (",
                         ") ORDER BY seq", (const SqlArg[]) { SQL_I(now) }, 1, c, *n, NULL,
                         with_listeners ? &(SqlStmt) { .sql = store_batch_listeners_sql } : NULL, &listeners, &ev);
        if (r < 0)
                return r;
        if (with_listeners && listeners.n_rows > 0)
                store_batch_listeners_set(tx, &listeners);
        for (size_t i = 0; i < *n; i++)
                if ((r = hashmap_put(&at, c[i].execution_id, (void *) (uintptr_t) (i + 1))) < 0)
                        return r;
        size_t *count = calloc(*n, sizeof(size_t));
        if (!count)
                return -ENOMEM;
        for (size_t i = 0; i < ev.n_rows; i++) {
                uintptr_t k = (uintptr_t) hashmap_get(&at, sql_cell(&ev, i, 1));
                if (k > 0)
                        count[k - 1]++;
        }
        for (size_t i = 0; i < *n; i++)
                if (count[i] > 0 && !(c[i].events = calloc(count[i], sizeof(StoreEvent)))) {
                        free(count);
                        return -ENOMEM;
                }
        free(count);
        /* Rows come in seq order: so do each execution's events. */
        for (size_t i = 0; i < ev.n_rows; i++) {
                uintptr_t k = (uintptr_t) hashmap_get(&at, sql_cell(&ev, i, 1));
                if (k == 0)
                        continue;
                StoreClaim *cl = &c[k - 1];
                if ((r = event_from_row(&ev, i, &cl->events[cl->n_events++], &cl->error)) < 0)
                        return r;
        }
        /* Keep those with events, in the order they were locked. */
        size_t m = 0;
        for (size_t i = 0; i < *n; i++) {
                if (c[i].n_events > 0) {
                        c[m++] = c[i];
                        continue;
                }
                free(c[i].execution_id);
                free(c[i].events);
        }
        for (size_t i = m; i < *n; i++)
                c[i] = (StoreClaim) {};
        *n = m;
        return 0;
}

/* The documents of the claims, but those the caller holds in this version (known): one statement. */
static int claim_docs(StoreTx *tx, StoreClaim *c, size_t n, StoreClaimKnown known, void *userdata) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_hashmap_ Hashmap at = HASHMAP_INIT; /* execution id -> row + 1 */
        _cleanup_free_ bool *want = calloc(n ? n : 1, sizeof(bool));
        int r;

        if (!want)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                want[i] = !known || !known(userdata, c[i].execution_id, c[i].version);
        r = claim_select(tx,
                         tx_sql(tx, "SELECT x.id, x.doc, " SQL_TASK_RUNS_OF_PG("x") " FROM executions x WHERE x.id IN (",
                                "SELECT x.id, x.doc, " SQL_TASK_RUNS_OF_SQLITE("x") " FROM executions x WHERE x.id IN (",
                                "SELECT x.id, x.doc, " SQL_TASK_RUNS_OF_MYSQL("x") " FROM executions x WHERE x.id IN ("),
                         ")", NULL, 0, c, n, want, NULL, NULL, &rows);
        if (r < 0)
                return r;
        for (size_t i = 0; i < rows.n_rows; i++)
                if ((r = hashmap_put(&at, sql_cell(&rows, i, 0), (void *) (uintptr_t) (i + 1))) < 0)
                        return r;
        for (size_t i = 0; i < n; i++) {
                if (!want[i])
                        continue;
                uintptr_t k = (uintptr_t) hashmap_get(&at, c[i].execution_id);
                if (k == 0)
                        return -ENOENT; /* locked, so still there: not expected */
                r = store_doc_from_cells(&rows, k - 1, 1, 2, &c[i].doc);
                if (r == -EBADMSG) {
                        /* Unreadable: handed over marked, for the caller to set aside; one bad
                         * execution must not fail every claim. */
                        c[i].error = r;
                        r = 0;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_claim_executions_known(StoreTx *tx, usec_t now, size_t max, StoreClaimKnown known, void *userdata,
                                 StoreClaim **ret, size_t *ret_n) {
        _cleanup_rows_ SqlRows rows = {};
        StoreClaim *c = NULL;
        size_t n = 0;
        int r;

        if (max == 0)
                return -EINVAL;
        /* Their events and documents are read by id lists of one statement each. */
        max = MIN(max, (size_t) SQL_EXEC_ARGS_MAX - 1);
        /* Candidates are the executions of the earliest due events; a few more than asked for
         * so that executions locked by other executors (skipped) leave enough for us. On SQLite
         * the write transaction is exclusive, which serializes executors the same way. */
        /* MySQL takes no LIMIT in an IN subquery, but does in a derived table inside it (whose
         * rows it does not lock). It has no FOR NO KEY UPDATE: a worker's event for a locked
         * execution waits for the step to commit (its foreign-key check). */
        r = store_exec(tx,
                       tx_sql(tx,
                              SQL_PLAN_EACH "SELECT x.id, x.version FROM executions x WHERE x.id IN"
                              " (SELECT ev.execution_id FROM events ev WHERE ev.due_at <= $1"
                              " ORDER BY ev.due_at LIMIT $3)"
                              " LIMIT $2 FOR NO KEY UPDATE OF x SKIP LOCKED",
                              "SELECT x.id, x.version FROM executions x WHERE x.id IN"
                              " (SELECT ev.execution_id FROM events ev WHERE ev.due_at <= $1"
                              " ORDER BY ev.due_at LIMIT $3)"
                              " LIMIT $2",
                              "SELECT x.id, x.version FROM executions x WHERE x.id IN"
                              " (SELECT e.execution_id FROM (SELECT ev.execution_id FROM events ev WHERE ev.due_at <= $1"
                              " ORDER BY ev.due_at LIMIT $3) e)"
                              " LIMIT $2 FOR UPDATE SKIP LOCKED"),
                       SQL_ARGS(SQL_I(now), SQL_I(max), SQL_I(max * 4 + 16)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0) {
                *ret = NULL;
                *ret_n = 0;
                return 0;
        }
        if (!(c = calloc(rows.n_rows, sizeof(StoreClaim))))
                return -ENOMEM;
        for (n = 0; n < rows.n_rows; n++) {
                c[n].execution_id = sql_cell_take(&rows, n, 0);
                c[n].version = sql_cell_i64(&rows, n, 1);
        }
        /* Read after the lock, in a statement of its own (a snapshot taken after it): an executor
         * that just committed one of these executions has deleted the events it applied, so they
         * are not applied twice. */
        if ((r = claim_events(tx, c, &n, now)) < 0)
                goto fail;
        /* The documents, of those the caller does not hold in this version already. */
        if ((r = claim_docs(tx, c, n, known, userdata)) < 0)
                goto fail;
        *ret = c;
        *ret_n = n;
        return 0;
fail:
        store_claims_free(c, n);
        return r;
}

int store_claim_executions(StoreTx *tx, usec_t now, size_t max, StoreClaim **ret, size_t *ret_n) {
        return store_claim_executions_known(tx, now, max, NULL, NULL, ret, ret_n);
}

/* ---- jobs ----------------------------------------------------------------------------------- */

void store_job_done(StoreJob *j) {
        free(j->id);
        free(j->execution_id);
        free(j->task_run_id);
        free(j->queue);
        free(j->worker_id);
        json_decref(j->payload);
        *j = (StoreJob) {};
}

void store_jobs_free(StoreJob *j, size_t n) {
        if (!j)
                return;
        for (size_t i = 0; i < n; i++)
                store_job_done(&j[i]);
        free(j);
}

static int job_from_row(SqlRows *rows, size_t i, StoreJob *j) {
        j->id = sql_cell_take(rows, i, 0);
        j->execution_id = sql_cell_take(rows, i, 1);
        j->task_run_id = sql_cell_take(rows, i, 2);
        j->queue = sql_cell_take(rows, i, 3);
        j->epoch = sql_cell_i64(rows, i, 5);
        j->worker_id = sql_cell_take(rows, i, 6);
        j->available_at = (usec_t) sql_cell_i64(rows, i, 7);
        j->lease_until = (usec_t) sql_cell_i64(rows, i, 8);
        return sql_cell_json(rows, i, 4, &j->payload);
}

int store_job_enqueue(StoreTx *tx, const char *id, const char *execution_id, const char *task_run_id,
                      const char *queue, json_t *payload, usec_t available_at, usec_t now, char *ret_id) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_free_ char *text = NULL;
        char buf[ID_MAX];
        int r;

        if (isempty(execution_id) || !payload)
                return -EINVAL;
        if (!id) {
                r = id_new(buf);
                if (r < 0)
                        return r;
                id = buf;
        }
        r = store_json_dump(payload, &text);
        if (r < 0)
                return r;
        if (tx->batch) {
                if (ret_id)
                        snprintf(ret_id, ID_MAX, "%s", id);
                return store_batch_add(tx, STORE_BATCH_JOBS,
                                       (const SqlArg[]) { SQL_S(id), SQL_S(execution_id), SQL_S(task_run_id),
                                                          SQL_S(strempty(queue)), SQL_S(text), SQL_I(available_at),
                                                          SQL_I(now) });
        }
        r = store_exec(tx,
                       "INSERT INTO jobs (id, execution_id, task_run_id, queue, payload, available_at, created)"
                       " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING",
                       SQL_ARGS(SQL_S(id), SQL_S(execution_id), SQL_S(task_run_id), SQL_S(strempty(queue)),
                                SQL_S(text), SQL_I(available_at), SQL_I(now)),
                       &rows);
        if (r < 0)
                return r;
        if (ret_id)
                snprintf(ret_id, ID_MAX, "%s", id);
        if (rows.changes == 0)
                return STORE_UNCHANGED;
        tx->notify |= STORE_CHANNEL_JOBS;
        return 0;
}

int store_claim_push(ClaimArgs *a, SqlRows *rows) {
        if (rows->n_rows == 0)
                return 0; /* (reallocarray() to 0 bytes would free) */
        StoreJob *j = reallocarray(a->jobs, a->n + rows->n_rows, sizeof(StoreJob));
        if (!j)
                return -ENOMEM;
        a->jobs = j;
        for (size_t i = 0; i < rows->n_rows; i++) {
                a->jobs[a->n] = (StoreJob) {};
                int r = job_from_row(rows, i, &a->jobs[a->n]);
                a->n++;
                if (r < 0)
                        return r;
        }
        return 0;
}

/* MySQL has no UPDATE ... RETURNING and no LIMIT in an IN subquery: lock the jobs (SKIP LOCKED),
 * then claim them by id and read them back in the same round trip, in batches that the
 * statement's parameters hold. */
#define CLAIM_BATCH_MYSQL (SQL_ARGS_MAX - 2)
static int claim_queue_mysql(StoreTx *tx, ClaimArgs *a, const char *queue) {
        for (;;) {
                _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
                _cleanup_strbuf_ StrBuf in = STRBUF_INIT;
                _cleanup_rows_ SqlRows ids = {}, rows = {};
                size_t want = MIN(a->max - a->n, (size_t) CLAIM_BATCH_MYSQL);
                int r;

                if (want == 0)
                        return 0;
                r = store_exec(tx,
                               "SELECT id FROM jobs WHERE worker_id IS NULL AND queue = $1 AND available_at <= $2"
                               " ORDER BY available_at LIMIT $3 FOR UPDATE SKIP LOCKED",
                               SQL_ARGS(SQL_S(queue), SQL_I(a->now), SQL_I(want)), &ids);
                if (r < 0 || ids.n_rows == 0)
                        return r;
                strbuf_append(&q.sql, "UPDATE jobs SET worker_id = ");
                store_qb_arg(&q, SQL_S(a->worker_id));
                strbuf_append(&q.sql, ", epoch = epoch + 1, lease_until = ");
                store_qb_arg(&q, SQL_I(a->now + a->lease));
                for (size_t i = 0; i < ids.n_rows; i++) {
                        strbuf_append(&in, i ? ", " : "(");
                        strbuf_appendf(&in, "$%zu", q.n + 1);
                        q.args[q.n++] = SQL_S(sql_cell(&ids, i, 0));
                }
                strbuf_append(&in, ")");
                strbuf_appendf(&q.sql, " WHERE id IN %s; SELECT " JOB_COLUMNS " FROM jobs WHERE id IN %s ORDER BY available_at",
                               strbuf_str(&in), strbuf_str(&in));
                if (q.sql.error || in.error)
                        return -ENOMEM;
                r = store_exec(tx, strbuf_str(&q.sql), q.args, q.n, &rows);
                if (r < 0)
                        return r;
                if ((r = store_claim_push(a, &rows)) < 0)
                        return r;
                if (ids.n_rows < want)
                        return 0;
        }
}

/* PostgreSQL: both queues in one statement. The LIMIT over the UNION ALL pulls rows lazily, the
 * pinned queue's first, so that only the jobs claimed are locked, and each branch stays one range
 * of jobs_available read in order. (FOR UPDATE is refused on a UNION's own branches: each is a
 * subquery in FROM.) The choice is a MATERIALIZED CTE, read once: as an IN (...) subquery the
 * planner may run it more than once, and with SKIP LOCKED each run picks other rows, so a claim
 * of 4 could take 11 jobs. One statement, so no transaction around it (BEGIN and COMMIT were two
 * of its three round trips): it commits alone, as durably (see store_claim_tx()). A claim whose
 * connection is lost is sent again after a reconnect, as a transaction whose COMMIT's answer was
 * lost is run again: jobs the lost one may have taken return when their lease ends. */
static int claim_pg(Store *s, ClaimArgs *a, const char *pinned) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec_raw(s,
                           SQL_PLAN_EACH "WITH c AS MATERIALIZED (SELECT id AS claimed FROM"
                           " (SELECT id FROM (SELECT id FROM jobs WHERE worker_id IS NULL AND queue = $3"
                           " AND available_at <= $5 ORDER BY available_at LIMIT $6 FOR UPDATE SKIP LOCKED) p"
                           " UNION ALL SELECT id FROM (SELECT id FROM jobs WHERE worker_id IS NULL AND queue = $4"
                           " AND available_at <= $5 ORDER BY available_at LIMIT $6 FOR UPDATE SKIP LOCKED) q) u LIMIT $6)"
                           " UPDATE jobs SET worker_id = $1, epoch = epoch + 1, lease_until = $2 FROM c WHERE jobs.id = c.claimed"
                           " RETURNING " JOB_COLUMNS,
                           SQL_ARGS(SQL_S(a->worker_id), SQL_I(a->now + a->lease), SQL_S(pinned),
                                    SQL_S(strempty(a->queue)), SQL_I(a->now), SQL_I(a->max)),
                           &rows);
        if (r < 0)
                return r;
        return store_claim_push(a, &rows);
}

int store_claim_tx(StoreTx *tx, void *userdata) {
        ClaimArgs *a = userdata;
        int r;

        store_jobs_free(a->jobs, a->n);
        a->jobs = NULL, a->n = 0;
        /* The claim commits durably (synchronous_commit as the server has it, on by default), as
         * every other write does: a claim lost in a server crash after its COMMIT returned would
         * make the job claimable again by the same worker with the same epoch, and the task would
         * run twice with one attempt on record (the first run's result then looks stale). */
        /* The worker's own queue (jobs pinned to it) first, then the shared one: each is one
         * range of jobs_available read in order, so a claim costs the same with 10 or 10,000
         * jobs waiting (an OR of the two queues made PostgreSQL fetch and sort them all). */
        const char *queues[2] = { NULL, strempty(a->queue) };
        _cleanup_free_ char *pinned = strjoin("@", a->worker_id);
        if (!pinned)
                return -ENOMEM;
        queues[0] = pinned;
        for (size_t q = 0; q < ELEMENTSOF(queues) && a->n < a->max; q++) {
                r = tx_is_mysql(tx) ? claim_queue_mysql(tx, a, queues[q]) : store_claim_queue_sqlite(tx, a, queues[q]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_job_claim(Store *s, const char *worker_id, const char *queue, size_t max, usec_t now, usec_t lease,
                    StoreJob **ret, size_t *ret_n) {
        ClaimArgs a = { .worker_id = worker_id, .queue = queue, .max = max, .now = now, .lease = lease };
        int r;

        if (isempty(worker_id) || max == 0)
                return -EINVAL;
        if (store_is_pg(s)) {
                _cleanup_free_ char *pinned = strjoin("@", worker_id);
                r = pinned ? claim_pg(s, &a, pinned) : -ENOMEM;
        } else
                r = store_transact(s, store_claim_tx, &a);
        if (r < 0) {
                store_jobs_free(a.jobs, a.n);
                return r;
        }
        *ret = a.jobs;
        *ret_n = a.n;
        return 0;
}

typedef struct RenewArgs {
        const char *worker_id;
        const StoreJobRef *jobs;
        size_t n;
        usec_t until;
} RenewArgs;

/* PostgreSQL: every lease in one statement, the jobs passed as one JSON array. */
static int renew_pg(StoreTx *tx, RenewArgs *a) {
        _cleanup_json_ json_t *refs = json_array();
        _cleanup_free_ char *text = NULL;
        _cleanup_rows_ SqlRows rows = {};
        int r;

        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < a->n; i++)
                if (json_array_append_new(refs, json_pack("{s:s, s:I}", "id", a->jobs[i].id, "epoch",
                                                          (json_int_t) a->jobs[i].epoch)) < 0)
                        return -ENOMEM;
        if ((r = store_json_dump(refs, &text)) < 0)
                return r;
        r = store_exec(tx,
                       "UPDATE jobs j SET lease_until = $1 FROM json_to_recordset($2::json) AS v(id text, epoch bigint)"
                       " WHERE j.id = v.id AND j.epoch = v.epoch AND j.worker_id = $3",
                       SQL_ARGS(SQL_I(a->until), SQL_S(text), SQL_S(a->worker_id)), &rows);
        return r < 0 ? r : (int) rows.changes;
}

static int renew_tx(StoreTx *tx, void *userdata) {
        RenewArgs *a = userdata;
        int count = 0, r;

        if (tx_is_pg(tx) && a->n > 1)
                return renew_pg(tx, a);
        for (size_t i = 0; i < a->n; i++) {
                _cleanup_rows_ SqlRows rows = {};
                r = store_exec(tx, "UPDATE jobs SET lease_until = $1 WHERE id = $2 AND epoch = $3 AND worker_id = $4",
                               SQL_ARGS(SQL_I(a->until), SQL_S(a->jobs[i].id), SQL_I(a->jobs[i].epoch),
                                        SQL_S(a->worker_id)),
                               &rows);
                if (r < 0)
                        return r;
                count += (int) rows.changes;
        }
        return count;
}

int store_job_renew(Store *s, const char *worker_id, const StoreJobRef *jobs, size_t n, usec_t now, usec_t lease) {
        RenewArgs a = { .worker_id = worker_id, .jobs = jobs, .n = n, .until = now + lease };
        if (isempty(worker_id))
                return -EINVAL;
        if (n == 0)
                return 0;
        return store_transact(s, renew_tx, &a);
}

int store_job_complete_tx(StoreTx *tx, const char *job_id, int64_t epoch, const char *worker_id, json_t *result,
                          usec_t now) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_json_ json_t *payload = NULL;
        int r;

        if (tx_is_pg(tx)) {
                StoreJobResult one = { job_id, epoch, result, 0 };
                r = store_job_complete_many_pg(tx, worker_id, &one, 1, now);
                return r < 0 ? r : one.outcome;
        }
        /* The epoch and worker in the WHERE clause are the fence: after a re-queue (epoch + 1)
         * this deletes nothing. On MySQL a concurrent re-queue holds the row lock; the locking
         * read waits for it and then reads the new row version, so exactly one wins. */
        r = !tx_is_mysql(tx) ? store_job_take_sqlite(tx, job_id, epoch, worker_id, &rows)
                             : store_exec(tx,
                                          "SELECT execution_id, task_run_id FROM jobs"
                                          " WHERE id = $1 AND epoch = $2 AND worker_id = $3 FOR UPDATE;"
                                          " DELETE FROM jobs WHERE id = $1 AND epoch = $2 AND worker_id = $3",
                                          SQL_ARGS(SQL_S(job_id), SQL_I(epoch), SQL_S(worker_id)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return STORE_STALE;
        const char *trid = sql_cell(&rows, 0, 1);
        payload = json_pack("{s:s, s:o, s:I, s:s, s:O}", "jobId", job_id, "taskRunId",
                            trid ? json_string(trid) : json_null(), "epoch", (json_int_t) epoch, "workerId", worker_id,
                            "result", result ? result : json_null());
        if (!payload)
                return -ENOMEM;
        return store_event_emit(tx, sql_cell(&rows, 0, 0), "task_result", payload, now, now, NULL);
}

int store_job_complete_many_tx(StoreTx *tx, const char *worker_id, StoreJobResult *jobs, size_t n, usec_t now) {
        int taken = 0, r;

        if (isempty(worker_id))
                return -EINVAL;
        for (size_t i = 0; i < n; i++)
                if (isempty(jobs[i].job_id))
                        return -EINVAL;
        if (n == 0)
                return 0;
        if (tx_is_pg(tx))
                return store_job_complete_many_pg(tx, worker_id, jobs, n, now);
        for (size_t i = 0; i < n; i++) {
                r = store_job_complete_tx(tx, jobs[i].job_id, jobs[i].epoch, worker_id, jobs[i].result, now);
                if (r < 0)
                        return r;
                jobs[i].outcome = r;
                taken += r == 0;
        }
        return taken;
}

typedef struct CompleteArgs {
        const char *job_id, *worker_id;
        int64_t epoch;
        json_t *result;
        usec_t now;
} CompleteArgs;

static int complete_tx(StoreTx *tx, void *userdata) {
        CompleteArgs *a = userdata;
        return store_job_complete_tx(tx, a->job_id, a->epoch, a->worker_id, a->result, a->now);
}

int store_job_complete(Store *s, const char *job_id, int64_t epoch, const char *worker_id, json_t *result,
                       usec_t now) {
        CompleteArgs a = { .job_id = job_id, .worker_id = worker_id, .epoch = epoch, .result = result, .now = now };
        if (isempty(job_id) || isempty(worker_id))
                return -EINVAL;
        return store_transact(s, complete_tx, &a);
}

typedef struct RequeueArgs {
        const char *worker_id; /* NULL: expired leases */
        const char *reason;    /* the job_resubmitted event's */
        usec_t now;
} RequeueArgs;

#define REQUEUE_BATCH 500

static int requeue_tx(StoreTx *tx, void *userdata) {
        RequeueArgs *a = userdata;
        _cleanup_rows_ SqlRows rows = {};
        int r, count = 0;

        const char *sql;
        /* One worker's jobs wait for their row locks: a row its own lease renewal holds at this
         * instant must not be skipped, or a worker handing its jobs back before it cancels their
         * tasks would hand back nothing and its cancelled tasks' results would count. Only the
         * sweep of expired leases, which several executors run at once, skips locked rows. */
        if (a->worker_id)
                sql = tx_has_row_locks(tx) ? "SELECT id, execution_id, task_run_id, worker_id FROM jobs WHERE worker_id = $1"
                                     " LIMIT $2 FOR UPDATE"
                                   : "SELECT id, execution_id, task_run_id, worker_id FROM jobs WHERE worker_id = $1"
                                     " LIMIT $2";
        else
                sql = tx_has_row_locks(tx) ? SQL_PLAN_EACH "SELECT id, execution_id, task_run_id, worker_id FROM jobs"
                                     " WHERE worker_id IS NOT NULL AND lease_until < $1 LIMIT $2 FOR UPDATE SKIP LOCKED"
                                   : "SELECT id, execution_id, task_run_id, worker_id FROM jobs"
                                     " WHERE worker_id IS NOT NULL AND lease_until < $1 LIMIT $2";
        r = store_exec(tx, sql,
                       SQL_ARGS(a->worker_id ? SQL_S(a->worker_id) : SQL_I(a->now), SQL_I(REQUEUE_BATCH)), &rows);
        if (r < 0)
                return r;
        for (size_t i = 0; i < rows.n_rows; i++) {
                _cleanup_rows_ SqlRows up = {};
                _cleanup_json_ json_t *payload = NULL;
                const char *trid = sql_cell(&rows, i, 2);

                /* The run that follows is the task run's next attempt (the executor opens it on the
                 * job_resubmitted event): the job says so too, so that the task sees TERN_ATTEMPT,
                 * its logs and its working directory as the history will show them. */
                r = store_exec(tx,
                               tx_sql(tx,
                                      "UPDATE jobs SET worker_id = NULL, lease_until = NULL, epoch = epoch + 1,"
                                      " payload = CASE WHEN jsonb_typeof(payload->'attempt') = 'number'"
                                      " THEN jsonb_set(payload, '{attempt}', to_jsonb((payload->>'attempt')::bigint + 1))"
                                      " ELSE payload END"
                                      " WHERE id = $1 RETURNING epoch",
                                      "UPDATE jobs SET worker_id = NULL, lease_until = NULL, epoch = epoch + 1,"
                                      " payload = CASE WHEN json_type(payload, '$.attempt') = 'integer'"
                                      " THEN json_set(payload, '$.attempt', json_extract(payload, '$.attempt') + 1)"
                                      " ELSE payload END"
                                      " WHERE id = $1 RETURNING epoch",
                                      "UPDATE jobs SET worker_id = NULL, lease_until = NULL, epoch = epoch + 1,"
                                      " payload = CASE WHEN JSON_TYPE(JSON_EXTRACT(payload, '$.attempt')) = 'INTEGER'"
                                      " THEN JSON_SET(payload, '$.attempt',"
                                      " CAST(JSON_EXTRACT(payload, '$.attempt') AS SIGNED) + 1)"
                                      " ELSE payload END"
                                      " WHERE id = $1; SELECT epoch FROM jobs WHERE id = $1"),
                               SQL_ARGS(SQL_S(sql_cell(&rows, i, 0))), &up);
                if (r < 0)
                        return r;
                if (up.n_rows == 0)
                        continue;
                payload = json_pack("{s:s, s:o, s:I, s:s, s:s}", "jobId", sql_cell(&rows, i, 0), "taskRunId",
                                    trid ? json_string(trid) : json_null(), "epoch",
                                    (json_int_t) sql_cell_i64(&up, 0, 0), "workerId", sql_cell(&rows, i, 3), "reason",
                                    a->reason);
                if (!payload)
                        return -ENOMEM;
                r = store_event_emit(tx, sql_cell(&rows, i, 1), "job_resubmitted", payload, a->now, a->now, NULL);
                if (r < 0)
                        return r;
                count++;
        }
        if (count > 0)
                tx->notify |= STORE_CHANNEL_JOBS;
        return count;
}

static int requeue(Store *s, const char *worker_id, const char *reason, usec_t now) {
        RequeueArgs a = { .worker_id = worker_id, .reason = reason, .now = now };
        int total = 0, r;

        /* Batches in short transactions; a batch with fewer rows than asked for was the last. */
        do {
                r = store_transact(s, requeue_tx, &a);
                if (r < 0)
                        return r;
                total += r;
        } while (r == REQUEUE_BATCH);
        return total;
}

int store_job_requeue_expired(Store *s, usec_t now) {
        return requeue(s, NULL, STORE_RESUBMIT_LEASE_EXPIRED, now);
}

static int unpin_tx(StoreTx *tx, void *userdata) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "UPDATE jobs SET queue = '' WHERE queue = '@' || $1 AND worker_id IS NULL",
                           SQL_ARGS(SQL_S((const char *) userdata)), &rows);
        if (r < 0)
                return r;
        if (rows.changes > 0)
                tx->notify |= STORE_CHANNEL_JOBS;
        return (int) rows.changes;
}

int store_job_requeue_worker(Store *s, const char *worker_id, const char *reason, usec_t now) {
        if (isempty(worker_id) || isempty(reason))
                return -EINVAL;
        /* Jobs pinned to the dead worker (a WorkingDirectory's later tasks) go to any worker: the
         * directory is lost with the worker, but the execution goes on. */
        int r = store_transact(s, unpin_tx, (void *) worker_id);
        if (r < 0)
                return r;
        return requeue(s, worker_id, reason, now);
}

int store_job_get(StoreTx *tx, const char *id, StoreJob *ret) {
        _cleanup_rows_ SqlRows rows = {};
        int r;

        r = store_exec(tx, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = $1", SQL_ARGS(SQL_S(id)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        *ret = (StoreJob) {};
        r = job_from_row(&rows, 0, ret);
        if (r < 0) {
                store_job_done(ret);
        }
        return r;
}

int store_job_count(StoreTx *tx, int64_t *ret) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "SELECT COUNT(*) FROM jobs", NULL, 0, &rows);
        if (r < 0)
                return r;
        *ret = sql_cell_i64(&rows, 0, 0);
        return 0;
}

int store_job_cancel(StoreTx *tx, const char *task_run_id, json_t *result, usec_t now) {
        _cleanup_rows_ SqlRows gone = {}, held = {};
        int r;

        if (isempty(task_run_id) || !result)
                return -EINVAL;
        /* Not claimed yet: the job simply goes, and its task run learns it was killed. */
        r = store_exec(tx,
                       tx_is_mysql(tx) ? "SELECT id, execution_id FROM jobs WHERE task_run_id = $1 AND worker_id IS NULL"
                                         " FOR UPDATE; DELETE FROM jobs WHERE task_run_id = $1 AND worker_id IS NULL"
                                       : "DELETE FROM jobs WHERE task_run_id = $1 AND worker_id IS NULL"
                                         " RETURNING id, execution_id",
                       SQL_ARGS(SQL_S(task_run_id)), &gone);
        if (r < 0)
                return r;
        for (size_t i = 0; i < gone.n_rows; i++) {
                _cleanup_json_ json_t *payload = json_pack("{s:s, s:s, s:O}", "jobId", sql_cell(&gone, i, 0),
                                                           "taskRunId", task_run_id, "result", result);
                if (!payload)
                        return -ENOMEM;
                r = store_event_emit(tx, sql_cell(&gone, i, 1), "task_result", payload, now, now, NULL);
                if (r < 0)
                        return r;
        }
        /* Claimed: the worker holding it sees the flag and stops the task; its KILLED result
         * completes the job as usual (fenced by the epoch). */
        r = store_exec(tx, "UPDATE jobs SET cancelled = 1 WHERE task_run_id = $1 AND worker_id IS NOT NULL",
                       SQL_ARGS(SQL_S(task_run_id)), &held);
        if (r < 0)
                return r;
        if (held.changes > 0)
                tx->notify |= STORE_CHANNEL_CANCEL;
        return (int) (gone.n_rows + held.changes);
}

/* One statement, autocommitted: a worker asks every second, and nearly always nothing is
 * cancelled (a transaction around it was three round trips and a commit for that). */
int store_job_cancelled(Store *s, const char *worker_id, char ***ret_ids) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_strv_free_ char **ids = NULL;
        int r;

        if (isempty(worker_id))
                return -EINVAL;
        r = store_exec_raw(s, "SELECT id FROM jobs WHERE worker_id = $1 AND cancelled = 1", SQL_ARGS(SQL_S(worker_id)),
                           &rows);
        if (r < 0)
                return r;
        if (!(ids = calloc(1, sizeof(char *))))
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++)
                if ((r = strv_extend(&ids, sql_cell(&rows, i, 0))) < 0)
                        return r;
        *ret_ids = TAKE_PTR(ids);
        return (int) rows.n_rows;
}

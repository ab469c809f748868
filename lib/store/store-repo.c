/* store-repo.c: the store's repositories: flows with revisions, logs, triggers, kv, services, retention. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup-jansson.h"
#include "store-private.h"
#include "strutil.h"

/* ---- flows ---------------------------------------------------------------------------------- */

void store_flow_done(StoreFlow *f) {
        if (!f)
                return;
        free(f->namespace);
        free(f->id);
        free(f->source);
        *f = (StoreFlow) {};
}

void store_flows_free(StoreFlow *f, size_t n) {
        if (!f)
                return;
        for (size_t i = 0; i < n; i++)
                store_flow_done(&f[i]);
        free(f);
}

#define FLOW_COLUMNS "namespace, id, revision, deleted, source, created"

static void flow_from_row(SqlRows *rows, size_t i, StoreFlow *f) {
        f->namespace = sql_cell_take(rows, i, 0);
        f->id = sql_cell_take(rows, i, 1);
        f->revision = (int) sql_cell_i64(rows, i, 2);
        f->deleted = sql_cell_i64(rows, i, 3) != 0;
        f->source = sql_cell_take(rows, i, 4);
        f->created = (usec_t) sql_cell_i64(rows, i, 5);
}

static int flows_from_rows(SqlRows *rows, StoreFlow **ret, size_t *ret_n) {
        StoreFlow *f = NULL;
        if (rows->n_rows > 0) {
                f = calloc(rows->n_rows, sizeof(StoreFlow));
                if (!f)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < rows->n_rows; i++) {
                flow_from_row(rows, i, &f[i]);
                if (!f[i].namespace || !f[i].id || !f[i].source) {
                        store_flows_free(f, rows->n_rows);
                        return -EBADMSG;
                }
        }
        *ret = f;
        *ret_n = rows->n_rows;
        return 0;
}

static int flow_latest(StoreTx *tx, const char *ns, const char *id, SqlRows *rows) {
        /* FOR UPDATE (PostgreSQL, MySQL) so that two concurrent puts of one flow queue up instead of
         * both computing the same next revision (the loser would hit the primary key and rerun). */
        return store_exec(tx,
                          tx_has_row_locks(tx) ? "SELECT " FLOW_COLUMNS " FROM flows WHERE namespace = $1 AND id = $2"
                                         " ORDER BY revision DESC LIMIT 1 FOR UPDATE"
                                       : "SELECT " FLOW_COLUMNS " FROM flows WHERE namespace = $1 AND id = $2"
                                         " ORDER BY revision DESC LIMIT 1",
                          SQL_ARGS(SQL_S(ns), SQL_S(id)), rows);
}

static int flow_insert(StoreTx *tx, const char *ns, const char *id, int revision, bool deleted, const char *source,
                       usec_t now) {
        int r = store_exec(tx,
                           "INSERT INTO flows (" FLOW_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6)",
                           SQL_ARGS(SQL_S(ns), SQL_S(id), SQL_I(revision), SQL_I(deleted), SQL_S(source), SQL_I(now)),
                           NULL);
        /* A concurrent first put of the same flow: rerun the transaction, it will see the row. */
        if (r < 0)
                return r == -EEXIST ? -EAGAIN : r;
        /* The scheduler learns of the new revision (its triggers) in this same transaction. */
        _cleanup_json_ json_t *p = json_pack("{s:s, s:s}", "namespace", ns, "id", id);
        if (!p)
                return -ENOMEM;
        return store_trigger_event_emit(tx, STORE_TRIGGER_EVENT_FLOW_CHANGED, p, now);
}

int store_flow_put(StoreTx *tx, const char *ns, const char *id, const char *source, usec_t now, int *ret_revision) {
        _cleanup_rows_ SqlRows rows = {};
        int revision = 1, r;

        if (isempty(ns) || isempty(id) || !source)
                return -EINVAL;
        r = flow_latest(tx, ns, id, &rows);
        if (r < 0)
                return r;
        if (rows.n_rows > 0) {
                int latest = (int) sql_cell_i64(&rows, 0, 2);
                bool deleted = sql_cell_i64(&rows, 0, 3) != 0;
                if (!deleted && streq_ptr(sql_cell(&rows, 0, 4), source)) {
                        if (ret_revision)
                                *ret_revision = latest;
                        return STORE_UNCHANGED;
                }
                revision = latest + 1;
        }
        r = flow_insert(tx, ns, id, revision, false, source, now);
        if (r < 0)
                return r;
        if (ret_revision)
                *ret_revision = revision;
        return 0;
}

int store_flow_get(StoreTx *tx, const char *ns, const char *id, int revision, StoreFlow *ret) {
        _cleanup_rows_ SqlRows rows = {};
        int r;

        if (revision > 0)
                r = store_exec(tx,
                               "SELECT " FLOW_COLUMNS " FROM flows WHERE namespace = $1 AND id = $2 AND revision = $3",
                               SQL_ARGS(SQL_S(ns), SQL_S(id), SQL_I(revision)), &rows);
        else
                r = store_exec(tx,
                               "SELECT " FLOW_COLUMNS " FROM flows WHERE namespace = $1 AND id = $2"
                               " ORDER BY revision DESC LIMIT 1",
                               SQL_ARGS(SQL_S(ns), SQL_S(id)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        if (revision <= 0 && sql_cell_i64(&rows, 0, 3) != 0)
                return -ENOENT;
        *ret = (StoreFlow) {};
        flow_from_row(&rows, 0, ret);
        return 0;
}

int store_flow_delete(StoreTx *tx, const char *ns, const char *id, usec_t now) {
        _cleanup_rows_ SqlRows rows = {};
        int r;

        r = flow_latest(tx, ns, id, &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0 || sql_cell_i64(&rows, 0, 3) != 0)
                return -ENOENT;
        return flow_insert(tx, ns, id, (int) sql_cell_i64(&rows, 0, 2) + 1, true, sql_cell(&rows, 0, 4), now);
}

int store_flow_list(StoreTx *tx, const char *ns_prefix, StoreFlow **ret, size_t *ret_n) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        int r = 0;

        strbuf_append(&q.sql, "SELECT " FLOW_COLUMNS " FROM flows f WHERE deleted = 0"
                              " AND revision = (SELECT MAX(revision) FROM flows g"
                              " WHERE g.namespace = f.namespace AND g.id = f.id)");
        if (ns_prefix)
                r = store_qb_namespace(&q, "namespace", ns_prefix);
        strbuf_append(&q.sql, " ORDER BY namespace, id");
        if (r < 0 || q.sql.error)
                return r < 0 ? r : q.sql.error;
        r = store_exec(tx, strbuf_str(&q.sql), q.args, q.n, &rows);
        if (r < 0)
                return r;
        return flows_from_rows(&rows, ret, ret_n);
}

int store_flow_revisions(StoreTx *tx, const char *ns, const char *id, StoreFlow **ret, size_t *ret_n) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx,
                           "SELECT " FLOW_COLUMNS " FROM flows WHERE namespace = $1 AND id = $2 ORDER BY revision",
                           SQL_ARGS(SQL_S(ns), SQL_S(id)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        return flows_from_rows(&rows, ret, ret_n);
}

/* ---- logs ----------------------------------------------------------------------------------- */

static const char *const log_levels[_STORE_LOG_LEVEL_MAX] = {
        [STORE_LOG_TRACE] = "TRACE", [STORE_LOG_DEBUG] = "DEBUG", [STORE_LOG_INFO] = "INFO",
        [STORE_LOG_WARN] = "WARN",   [STORE_LOG_ERROR] = "ERROR",
};

const char *store_log_level_to_string(StoreLogLevel l) {
        return l >= 0 && l < _STORE_LOG_LEVEL_MAX ? log_levels[l] : NULL;
}

int store_log_level_from_string(const char *s) {
        if (!s)
                return -EINVAL;
        for (int i = 0; i < _STORE_LOG_LEVEL_MAX; i++)
                if (strcasecmp(s, log_levels[i]) == 0)
                        return i;
        if (strcasecmp(s, "WARNING") == 0)
                return STORE_LOG_WARN;
        return -EINVAL;
}

/* Many lines in one INSERT (PostgreSQL, MySQL), the lines passed as one JSON array, inserted in
 * their order: the seq column is the order they are read back in. A NULL column is a missing key.
 * -EILSEQ: a line JSON cannot carry (not UTF-8). */
static int log_append_json(StoreTx *tx, const StoreLog *logs, size_t n) {
        _cleanup_json_ json_t *arr = json_array();
        _cleanup_free_ char *text = NULL;
        int r;

        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const StoreLog *l = &logs[i];
                json_t *m = json_string(l->message);
                if (!m)
                        return -EILSEQ;
                if (json_array_append_new(arr, json_pack("{s:s, s:s*, s:s*, s:i, s:i, s:I, s:o}", "e", l->execution_id,
                                                         "t", l->task_run_id, "k", l->task_id, "a", l->attempt, "l",
                                                         (int) l->level, "ts", (json_int_t) l->timestamp, "m", m)) < 0)
                        return -ENOMEM;
        }
        if ((r = store_json_dump(arr, &text)) < 0)
                return r;
        return store_exec(tx,
                          tx_is_mysql(tx)
                                  ? "INSERT INTO logs (execution_id, task_run_id, task_id, attempt, level, ts, message)"
                                    " SELECT v.e, v.t, v.k, v.a, v.l, v.ts, v.m FROM JSON_TABLE($1, '$[*]' COLUMNS ("
                                    "n FOR ORDINALITY, e VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.e',"
                                    " t VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.t',"
                                    " k VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.k', a INT PATH '$.a', l INT PATH '$.l',"
                                    " ts BIGINT PATH '$.ts', m LONGTEXT CHARACTER SET utf8mb4 PATH '$.m')) AS v ORDER BY v.n"
                                  : "INSERT INTO logs (execution_id, task_run_id, task_id, attempt, level, ts, message)"
                                    " SELECT v.e, v.t, v.k, v.a, v.l, v.ts, v.m FROM ROWS FROM (json_to_recordset($1::json)"
                                    " AS (e text, t text, k text, a integer, l integer, ts bigint, m text))"
                                    " WITH ORDINALITY AS v(e, t, k, a, l, ts, m, n) ORDER BY v.n",
                          SQL_ARGS(SQL_S(text)), NULL);
}

int store_log_append_tx(StoreTx *tx, const StoreLog *logs, size_t n) {
        int r;
        for (size_t i = 0; i < n; i++)
                if (isempty(logs[i].execution_id) || !logs[i].message)
                        return -EINVAL;
        /* A deferring transaction (an executor's step) writes the lines of all its executions
         * with its other rows: one statement for the step, where each execution's "Flow started"
         * was an INSERT of its own. */
        if (tx->batch) {
                for (size_t i = 0; i < n; i++) {
                        const StoreLog *l = &logs[i];
                        r = store_batch_add(tx, STORE_BATCH_LOGS,
                                            (const SqlArg[]) { SQL_S(l->execution_id), SQL_S(l->task_run_id),
                                                               SQL_S(l->task_id), SQL_I(l->attempt), SQL_I(l->level),
                                                               SQL_I(l->timestamp), SQL_S(l->message) });
                        if (r < 0)
                                return r;
                }
                if (n > 0)
                        tx->notify |= STORE_CHANNEL_LOGS;
                return 0;
        }
        /* (SQLite runs in the process: a statement per line costs no round trip.) */
        if ((tx_is_pg(tx) || tx_is_mysql(tx)) && n > 1) {
                r = log_append_json(tx, logs, n);
                if (r != -EILSEQ) {
                        if (r >= 0)
                                tx->notify |= STORE_CHANNEL_LOGS;
                        return r;
                }
                /* A line that is not UTF-8: one by one, as before (the server says which). */
        }
        for (size_t i = 0; i < n; i++) {
                const StoreLog *l = &logs[i];
                r = store_exec(tx,
                               "INSERT INTO logs (execution_id, task_run_id, task_id, attempt, level, ts, message)"
                               " VALUES ($1, $2, $3, $4, $5, $6, $7)",
                               SQL_ARGS(SQL_S(l->execution_id), SQL_S(l->task_run_id), SQL_S(l->task_id),
                                        SQL_I(l->attempt), SQL_I(l->level), SQL_I(l->timestamp), SQL_S(l->message)),
                               NULL);
                if (r < 0)
                        return r;
        }
        if (n > 0)
                tx->notify |= STORE_CHANNEL_LOGS;
        return 0;
}

typedef struct LogAppendArgs {
        const StoreLog *logs;
        size_t n;
} LogAppendArgs;

static int log_append_tx(StoreTx *tx, void *userdata) {
        LogAppendArgs *a = userdata;
        return store_log_append_tx(tx, a->logs, a->n);
}

int store_log_append(Store *s, const StoreLog *logs, size_t n) {
        LogAppendArgs a = { logs, n };
        if (n == 0)
                return 0;
        return store_transact(s, log_append_tx, &a);
}

void store_logs_free(StoreLog *l, size_t n) {
        if (!l)
                return;
        for (size_t i = 0; i < n; i++) {
                free((char *) l[i].execution_id);
                free((char *) l[i].task_run_id);
                free((char *) l[i].task_id);
                free((char *) l[i].message);
                free((char *) l[i].namespace);
                free((char *) l[i].flow_id);
        }
        free(l);
}

int store_log_purge(StoreTx *tx, const StoreLogPurgeFilter *f, int64_t *ret_deleted) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        int r = 0;

        strbuf_append(&q.sql, "DELETE FROM logs WHERE 1 = 1");
        if (f->execution_id) {
                strbuf_append(&q.sql, " AND execution_id = ");
                store_qb_arg(&q, SQL_S(f->execution_id));
        }
        if (f->namespace || f->flow_id) {
                /* Lines carry their execution only: its row says which flow it belongs to. */
                strbuf_append(&q.sql, " AND execution_id IN (SELECT id FROM executions WHERE 1 = 1");
                if (f->namespace && f->flow_id) {
                        strbuf_append(&q.sql, " AND namespace = ");
                        store_qb_arg(&q, SQL_S(f->namespace));
                } else if (f->namespace)
                        store_qb_namespace(&q, "namespace", f->namespace);
                if (f->flow_id) {
                        strbuf_append(&q.sql, " AND flow_id = ");
                        store_qb_arg(&q, SQL_S(f->flow_id));
                }
                strbuf_append(&q.sql, ")");
        }
        if (f->task_run_id) {
                strbuf_append(&q.sql, " AND task_run_id = ");
                store_qb_arg(&q, SQL_S(f->task_run_id));
        }
        if (f->task_id) {
                strbuf_append(&q.sql, " AND task_id = ");
                store_qb_arg(&q, SQL_S(f->task_id));
        }
        if (f->by_attempt) {
                strbuf_append(&q.sql, " AND attempt = ");
                store_qb_arg(&q, SQL_I(f->attempt));
        }
        if (f->levels) {
                strbuf_append(&q.sql, " AND level IN (-1");
                for (int l = 0; l < _STORE_LOG_LEVEL_MAX; l++)
                        if (f->levels & (1u << l)) {
                                strbuf_append(&q.sql, ", ");
                                store_qb_arg(&q, SQL_I(l));
                        }
                strbuf_append(&q.sql, ")");
        }
        if (f->from) {
                strbuf_append(&q.sql, " AND ts >= ");
                store_qb_arg(&q, SQL_I(f->from));
        }
        if (f->to) {
                strbuf_append(&q.sql, " AND ts <= ");
                r = store_qb_arg(&q, SQL_I(f->to));
        }
        if (r < 0 || q.sql.error)
                return r < 0 ? r : q.sql.error;
        r = store_exec(tx, strbuf_str(&q.sql), q.args, q.n, &rows);
        if (r < 0)
                return r;
        if (ret_deleted)
                *ret_deleted = (int64_t) rows.changes;
        return 0;
}

/* The FROM and WHERE of a log search: logs aliased l, their execution x when the filter names a
 * namespace or a flow, or the caller wants them (join). */
static int log_where(Store *s, QueryBuilder *q, const StoreLogFilter *f, bool join) {
        if (join || f->namespace || f->flow_id)
                strbuf_append(&q->sql, " FROM logs l LEFT JOIN executions x ON x.id = l.execution_id");
        else
                strbuf_append(&q->sql, " FROM logs l");
        strbuf_append(&q->sql, " WHERE l.seq > ");
        int r = store_qb_arg(q, SQL_I(f->after_seq)) < 0 ? -ENOMEM : 0;
        if (f->execution_id) {
                strbuf_append(&q->sql, " AND l.execution_id = ");
                r = store_qb_arg(q, SQL_S(f->execution_id)) < 0 ? -ENOMEM : r;
        }
        if (f->task_run_id) {
                strbuf_append(&q->sql, " AND l.task_run_id = ");
                r = store_qb_arg(q, SQL_S(f->task_run_id)) < 0 ? -ENOMEM : r;
        }
        if (f->namespace && f->flow_id) {
                strbuf_append(&q->sql, " AND x.namespace = ");
                r = store_qb_arg(q, SQL_S(f->namespace)) < 0 ? -ENOMEM : r;
        } else if (f->namespace)
                r = store_qb_namespace(q, "x.namespace", f->namespace) < 0 ? -ENOMEM : r;
        if (f->flow_id) {
                strbuf_append(&q->sql, " AND x.flow_id = ");
                r = store_qb_arg(q, SQL_S(f->flow_id)) < 0 ? -ENOMEM : r;
        }
        if (f->min_level > 0) {
                strbuf_append(&q->sql, " AND l.level >= ");
                r = store_qb_arg(q, SQL_I(f->min_level)) < 0 ? -ENOMEM : r;
        }
        if (f->from) {
                strbuf_append(&q->sql, " AND l.ts >= ");
                r = store_qb_arg(q, SQL_I(f->from)) < 0 ? -ENOMEM : r;
        }
        if (f->to) {
                strbuf_append(&q->sql, " AND l.ts < ");
                r = store_qb_arg(q, SQL_I(f->to)) < 0 ? -ENOMEM : r;
        }
        if (f->text) {
                /* SQLite's LIKE ignores ASCII case already; PostgreSQL needs ILIKE, MySQL a
                 * case-insensitive collation (the column's compares bytes). */
                strbuf_appendf(&q->sql, " AND l.message %s ",
                               store_is_pg(s)      ? "ILIKE"
                               : store_is_mysql(s) ? "COLLATE utf8mb4_general_ci LIKE"
                                                   : "LIKE");
                _cleanup_free_ char *e = store_like_escape(f->text, "%");
                r = store_qb_arg_owned(q, e ? strjoin("%", e) : NULL) < 0 ? -ENOMEM : r;
                strbuf_append(&q->sql, " ESCAPE '\\'");
        }
        return r < 0 ? r : q->sql.error;
}

int store_log_search(Store *s, const StoreLogFilter *f, StoreLog **ret, size_t *ret_n) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        StoreLog *out = NULL;

        strbuf_append(&q.sql, "SELECT l.seq, l.execution_id, l.task_run_id, l.task_id, l.attempt, l.level, l.ts, l.message");
        if (f->with_flow)
                strbuf_append(&q.sql, ", x.namespace, x.flow_id");
        int r = log_where(s, &q, f, f->with_flow);
        strbuf_appendf(&q.sql, " ORDER BY l.seq%s LIMIT ", f->newest_first ? " DESC" : "");
        store_qb_arg(&q, SQL_I(f->limit ? f->limit : 1000));
        if (f->offset) {
                strbuf_append(&q.sql, " OFFSET ");
                store_qb_arg(&q, SQL_I(f->offset));
        }
        if (r < 0 || q.sql.error)
                return r < 0 ? r : q.sql.error;
        r = store_exec_raw(s, strbuf_str(&q.sql), q.args, q.n, &rows);
        if (r < 0)
                return r;
        if (rows.n_rows > 0) {
                out = calloc(rows.n_rows, sizeof(StoreLog));
                if (!out)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < rows.n_rows; i++) {
                out[i] = (StoreLog) {
                        .seq = sql_cell_i64(&rows, i, 0),
                        .execution_id = sql_cell_take(&rows, i, 1),
                        .task_run_id = sql_cell_take(&rows, i, 2),
                        .task_id = sql_cell_take(&rows, i, 3),
                        .attempt = (int) sql_cell_i64(&rows, i, 4),
                        .level = (StoreLogLevel) sql_cell_i64(&rows, i, 5),
                        .timestamp = (usec_t) sql_cell_i64(&rows, i, 6),
                        .message = sql_cell_take(&rows, i, 7),
                        .namespace = f->with_flow ? sql_cell_take(&rows, i, 8) : NULL,
                        .flow_id = f->with_flow ? sql_cell_take(&rows, i, 9) : NULL,
                };
        }
        *ret = out;
        *ret_n = rows.n_rows;
        return 0;
}

int store_log_count(Store *s, const StoreLogFilter *f, int64_t *ret) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        strbuf_append(&q.sql, "SELECT COUNT(*)");
        int r = log_where(s, &q, f, false);
        if (r < 0)
                return r;
        r = store_exec_raw(s, strbuf_str(&q.sql), q.args, q.n, &rows);
        if (r < 0)
                return r;
        *ret = rows.n_rows > 0 ? sql_cell_i64(&rows, 0, 0) : 0;
        return 0;
}

/* ---- triggers ------------------------------------------------------------------------------- */

#define TRIGGER_COLUMNS \
        "namespace, flow_id, trigger_id, next_date, last_execution_id, disabled, locked_by, evaluated_at, state, kind"

void store_trigger_done(StoreTrigger *t) {
        if (!t)
                return;
        free(t->namespace);
        free(t->flow_id);
        free(t->trigger_id);
        free(t->last_execution_id);
        free(t->locked_by);
        free(t->kind);
        json_decref(t->state);
        *t = (StoreTrigger) {};
}

void store_triggers_free(StoreTrigger *t, size_t n) {
        if (!t)
                return;
        for (size_t i = 0; i < n; i++)
                store_trigger_done(&t[i]);
        free(t);
}

static int trigger_from_row(SqlRows *rows, size_t i, StoreTrigger *t) {
        *t = (StoreTrigger) {
                .namespace = sql_cell_take(rows, i, 0),
                .flow_id = sql_cell_take(rows, i, 1),
                .trigger_id = sql_cell_take(rows, i, 2),
                .next_date = (usec_t) sql_cell_i64(rows, i, 3),
                .last_execution_id = sql_cell_take(rows, i, 4),
                .disabled = sql_cell_i64(rows, i, 5) != 0,
                .locked_by = sql_cell_take(rows, i, 6),
                .evaluated_at = (usec_t) sql_cell_i64(rows, i, 7),
                .kind = sql_cell_take(rows, i, 9),
        };
        return sql_cell_json(rows, i, 8, &t->state);
}

int store_trigger_put(StoreTx *tx, const StoreTrigger *t) {
        _cleanup_free_ char *state = NULL;
        int r;

        if (isempty(t->namespace) || isempty(t->flow_id) || isempty(t->trigger_id))
                return -EINVAL;
        r = store_json_dump(t->state, &state);
        if (r < 0)
                return r;
        return store_exec(tx,
                          "INSERT INTO triggers (" TRIGGER_COLUMNS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                          " ON CONFLICT (namespace, flow_id, trigger_id) DO UPDATE SET"
                          " next_date = excluded.next_date, last_execution_id = excluded.last_execution_id,"
                          " disabled = excluded.disabled, locked_by = excluded.locked_by,"
                          " evaluated_at = excluded.evaluated_at, state = excluded.state, kind = excluded.kind",
                          SQL_ARGS(SQL_S(t->namespace), SQL_S(t->flow_id), SQL_S(t->trigger_id), SQL_T(t->next_date),
                                   SQL_S(t->last_execution_id), SQL_I(t->disabled), SQL_S(t->locked_by),
                                   SQL_T(t->evaluated_at), SQL_S(state), SQL_S(t->kind)),
                          NULL);
}

int store_trigger_get(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, StoreTrigger *ret) {
        _cleanup_rows_ SqlRows rows = {};
        /* FOR UPDATE: read-modify-write of a trigger's state (windows, backfills, enable) by
         * concurrent schedulers and CLIs must queue up, not lose updates. */
        int r = store_exec(tx,
                           tx_has_row_locks(tx) ? "SELECT " TRIGGER_COLUMNS " FROM triggers"
                                          " WHERE namespace = $1 AND flow_id = $2 AND trigger_id = $3 FOR UPDATE"
                                        : "SELECT " TRIGGER_COLUMNS " FROM triggers"
                                          " WHERE namespace = $1 AND flow_id = $2 AND trigger_id = $3",
                           SQL_ARGS(SQL_S(ns), SQL_S(flow_id), SQL_S(trigger_id)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        r = trigger_from_row(&rows, 0, ret);
        if (r < 0)
                store_trigger_done(ret);
        return r;
}

int store_trigger_delete(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "DELETE FROM triggers WHERE namespace = $1 AND flow_id = $2 AND trigger_id = $3",
                           SQL_ARGS(SQL_S(ns), SQL_S(flow_id), SQL_S(trigger_id)), &rows);
        if (r < 0)
                return r;
        return rows.changes > 0 ? 0 : -ENOENT;
}

int store_trigger_due(StoreTx *tx, usec_t now, size_t max, StoreTrigger **ret, size_t *ret_n) {
        _cleanup_rows_ SqlRows rows = {};
        StoreTrigger *t = NULL;
        int r;

        r = store_exec(tx,
                       tx_has_row_locks(tx) ? SQL_PLAN_EACH "SELECT " TRIGGER_COLUMNS
                                                            " FROM triggers WHERE disabled = 0 AND next_date <= $1"
                                      " ORDER BY next_date LIMIT $2 FOR UPDATE SKIP LOCKED"
                                    : "SELECT " TRIGGER_COLUMNS " FROM triggers WHERE disabled = 0 AND next_date <= $1"
                                      " ORDER BY next_date LIMIT $2",
                       SQL_ARGS(SQL_I(now), SQL_I(max ? max : 100)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows > 0) {
                t = calloc(rows.n_rows, sizeof(StoreTrigger));
                if (!t)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < rows.n_rows; i++) {
                r = trigger_from_row(&rows, i, &t[i]);
                if (r < 0) {
                        store_triggers_free(t, rows.n_rows);
                        return r;
                }
        }
        *ret = t;
        *ret_n = rows.n_rows;
        return 0;
}

int store_trigger_list(StoreTx *tx, const char *ns_prefix, const char *flow_id, const char *kind, StoreTrigger **ret,
                       size_t *ret_n) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        StoreTrigger *t = NULL;
        int r = 0;

        strbuf_append(&q.sql, "SELECT " TRIGGER_COLUMNS " FROM triggers WHERE 1 = 1");
        if (ns_prefix)
                r = store_qb_namespace(&q, "namespace", ns_prefix);
        if (r >= 0 && flow_id) {
                strbuf_append(&q.sql, " AND flow_id = ");
                r = store_qb_arg(&q, SQL_S(flow_id));
        }
        if (r >= 0 && kind) {
                strbuf_append(&q.sql, " AND kind = ");
                r = store_qb_arg(&q, SQL_S(kind));
        }
        strbuf_append(&q.sql, " ORDER BY namespace, flow_id, trigger_id");
        if (r < 0 || q.sql.error)
                return r < 0 ? r : q.sql.error;
        r = store_exec(tx, strbuf_str(&q.sql), q.args, q.n, &rows);
        if (r < 0)
                return r;
        if (rows.n_rows > 0 && !(t = calloc(rows.n_rows, sizeof(StoreTrigger))))
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++)
                if ((r = trigger_from_row(&rows, i, &t[i])) < 0) {
                        store_triggers_free(t, rows.n_rows);
                        return r;
                }
        *ret = t;
        *ret_n = rows.n_rows;
        return 0;
}

/* ---- key-value ------------------------------------------------------------------------------ */

int store_kv_put(StoreTx *tx, const char *ns, const char *key, json_t *value, usec_t expires_at, usec_t now) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (isempty(ns) || isempty(key) || !value)
                return -EINVAL;
        r = store_json_dump(value, &text);
        if (r < 0)
                return r;
        return store_exec(tx,
                          "INSERT INTO kv (namespace, \"key\", value, expires_at, updated) VALUES ($1, $2, $3, $4, $5)"
                          " ON CONFLICT (namespace, \"key\") DO UPDATE SET value = excluded.value,"
                          " expires_at = excluded.expires_at, updated = excluded.updated",
                          SQL_ARGS(SQL_S(ns), SQL_S(key), SQL_S(text), SQL_T(expires_at), SQL_I(now)), NULL);
}

int store_kv_get(StoreTx *tx, const char *ns, const char *key, usec_t now, json_t **ret) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx,
                           "SELECT value FROM kv WHERE namespace = $1 AND \"key\" = $2"
                           " AND (expires_at IS NULL OR expires_at > $3)",
                           SQL_ARGS(SQL_S(ns), SQL_S(key), SQL_I(now)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        return sql_cell_json(&rows, 0, 0, ret);
}

int store_kv_delete(StoreTx *tx, const char *ns, const char *key) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "DELETE FROM kv WHERE namespace = $1 AND \"key\" = $2", SQL_ARGS(SQL_S(ns), SQL_S(key)),
                           &rows);
        if (r < 0)
                return r;
        return rows.changes > 0 ? 0 : -ENOENT;
}

int store_kv_list(StoreTx *tx, const char *ns, usec_t now, json_t **ret) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_json_ json_t *out = NULL;
        int r = store_exec(tx,
                           "SELECT \"key\" FROM kv WHERE namespace = $1 AND (expires_at IS NULL OR expires_at > $2)"
                           " ORDER BY \"key\"",
                           SQL_ARGS(SQL_S(ns), SQL_I(now)), &rows);
        if (r < 0)
                return r;
        out = json_array();
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++)
                if (json_array_append_new(out, json_string(sql_cell(&rows, i, 0))) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(out);
        return 0;
}

int store_kv_entries(StoreTx *tx, json_t **ret) {
        _cleanup_rows_ SqlRows rows = {};
        _cleanup_json_ json_t *out = json_array();
        if (!out)
                return -ENOMEM;
        int r = store_exec(tx, "SELECT namespace, \"key\", COALESCE(expires_at, 0) FROM kv ORDER BY namespace, \"key\"",
                           NULL, 0, &rows);
        if (r < 0)
                return r;
        for (size_t i = 0; i < rows.n_rows; i++) {
                json_t *e = json_pack("{s:s, s:s, s:I}", "namespace", sql_cell(&rows, i, 0), "key", sql_cell(&rows, i, 1),
                                      "expiresAt", (json_int_t) sql_cell_i64(&rows, i, 2));
                if (!e || json_array_append_new(out, e) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* ---- services ------------------------------------------------------------------------------- */

void store_services_free(StoreService *s, size_t n) {
        if (!s)
                return;
        for (size_t i = 0; i < n; i++) {
                free(s[i].id);
                free(s[i].component);
                free(s[i].host);
                free(s[i].state);
                json_decref(s[i].info);
        }
        free(s);
}

int store_service_put(StoreTx *tx, const StoreService *svc) {
        _cleanup_free_ char *info = NULL;
        int r;

        if (isempty(svc->id) || isempty(svc->component) || !svc->host || !svc->state)
                return -EINVAL;
        r = store_json_dump(svc->info, &info);
        if (r < 0)
                return r;
        return store_exec(tx,
                          "INSERT INTO services (id, component, host, pid, state, started, heartbeat, info)"
                          " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                          " ON CONFLICT (id) DO UPDATE SET component = excluded.component, host = excluded.host,"
                          " pid = excluded.pid, state = excluded.state, started = excluded.started,"
                          " heartbeat = excluded.heartbeat, info = excluded.info",
                          SQL_ARGS(SQL_S(svc->id), SQL_S(svc->component), SQL_S(svc->host), SQL_I(svc->pid),
                                   SQL_S(svc->state), SQL_I(svc->started), SQL_I(svc->heartbeat), SQL_S(info)),
                          NULL);
}

int store_service_heartbeat(StoreTx *tx, const char *id, const char *state, usec_t now) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "UPDATE services SET heartbeat = $2, state = COALESCE($3, state) WHERE id = $1",
                           SQL_ARGS(SQL_S(id), SQL_I(now), SQL_S(state)), &rows);
        if (r < 0)
                return r;
        return rows.changes > 0 ? 0 : -ENOENT;
}

int store_service_delete(StoreTx *tx, const char *id) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "DELETE FROM services WHERE id = $1", SQL_ARGS(SQL_S(id)), &rows);
        if (r < 0)
                return r;
        return rows.changes > 0 ? 0 : -ENOENT;
}

int store_service_list(StoreTx *tx, usec_t silent_since, StoreService **ret, size_t *ret_n) {
        _cleanup_rows_ SqlRows rows = {};
        StoreService *out = NULL;
        int r;

        r = store_exec(tx,
                       "SELECT id, component, host, pid, state, started, heartbeat, info FROM services"
                       " WHERE heartbeat < $1 ORDER BY component, id",
                       SQL_ARGS(SQL_I(silent_since ? silent_since : (usec_t) INT64_MAX)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows > 0) {
                out = calloc(rows.n_rows, sizeof(StoreService));
                if (!out)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < rows.n_rows; i++) {
                out[i] = (StoreService) {
                        .id = sql_cell_take(&rows, i, 0),
                        .component = sql_cell_take(&rows, i, 1),
                        .host = sql_cell_take(&rows, i, 2),
                        .pid = sql_cell_i64(&rows, i, 3),
                        .state = sql_cell_take(&rows, i, 4),
                        .started = (usec_t) sql_cell_i64(&rows, i, 5),
                        .heartbeat = (usec_t) sql_cell_i64(&rows, i, 6),
                };
                r = sql_cell_json(&rows, i, 7, &out[i].info);
                if (r < 0) {
                        store_services_free(out, rows.n_rows);
                        return r;
                }
        }
        *ret = out;
        *ret_n = rows.n_rows;
        return 0;
}

/* ---- retention ------------------------------------------------------------------------------ */

typedef struct PurgeArgs {
        const char *sql;
        usec_t cutoff;
        size_t batch;
} PurgeArgs;

static int purge_tx(StoreTx *tx, void *userdata) {
        PurgeArgs *a = userdata;
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, a->sql, SQL_ARGS(SQL_I(a->cutoff), SQL_I(a->batch)), &rows);
        if (r < 0)
                return r;
        return (int) MIN(rows.changes, (uint64_t) INT32_MAX);
}

/* Delete in batches of a->batch rows, each its own short transaction, until a batch comes back
 * short. */
static int purge_loop(Store *s, PurgeArgs *a, uint64_t *count) {
        int r;
        do {
                r = store_transact(s, purge_tx, a);
                if (r < 0)
                        return r;
                *count += (uint64_t) r;
        } while ((size_t) r >= a->batch);
        return 0;
}

int store_purge(Store *s, usec_t older_than, size_t batch, usec_t now, StorePurgeStats *ret) {
        StorePurgeStats st = {};
        int r;

        if (batch == 0)
                batch = 1000;
        /* MySQL deletes from a table it reads in a subquery of the DELETE not at all, and takes a
         * LIMIT on a single-table DELETE instead. */
        bool my = store_is_mysql(s);
        PurgeArgs logs = { my ? "DELETE FROM logs WHERE ts < $1 LIMIT $2"
                              : SQL_PLAN_EACH "DELETE FROM logs WHERE seq IN"
                                              " (SELECT seq FROM logs WHERE ts < $1 LIMIT $2)",
                           older_than, batch };
        /* Only terminal executions have an end date; their labels and any leftover events go
         * with them (ON DELETE CASCADE). */
        PurgeArgs execs = { my ? "DELETE FROM executions WHERE end_date IS NOT NULL AND end_date < $1 LIMIT $2"
                               : SQL_PLAN_EACH "DELETE FROM executions WHERE id IN"
                                 " (SELECT id FROM executions WHERE end_date IS NOT NULL AND end_date < $1 LIMIT $2)",
                            older_than, batch };
        PurgeArgs kv = { my ? "DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2"
                            : SQL_PLAN_EACH "DELETE FROM kv WHERE (namespace, \"key\") IN"
                                            " (SELECT namespace, \"key\" FROM kv"
                              " WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)",
                         now, batch };
        r = purge_loop(s, &logs, &st.logs);
        if (r >= 0)
                r = purge_loop(s, &execs, &st.executions);
        if (r >= 0)
                r = purge_loop(s, &kv, &st.kv);
        if (ret)
                *ret = st;
        return r;
}

void store_execution_refs_free(StoreExecutionRef *refs, size_t n) {
        for (size_t i = 0; refs && i < n; i++) {
                free(refs[i].id);
                free(refs[i].namespace);
                free(refs[i].flow_id);
        }
        free(refs);
}

int store_execution_ended(StoreTx *tx, usec_t before, size_t limit, StoreExecutionRef **ret, size_t *ret_n) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx,
                           SQL_PLAN_EACH "SELECT id, namespace, flow_id FROM executions"
                                         " WHERE end_date IS NOT NULL AND end_date < $1"
                           " ORDER BY end_date LIMIT $2",
                           SQL_ARGS(SQL_I(before), SQL_I(limit ?: 100)), &rows);
        if (r < 0)
                return r;
        StoreExecutionRef *refs = calloc(MAX(rows.n_rows, (size_t) 1), sizeof *refs);
        if (!refs)
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++) {
                refs[i] = (StoreExecutionRef) {
                        .id = sql_cell_take(&rows, i, 0),
                        .namespace = sql_cell_take(&rows, i, 1),
                        .flow_id = sql_cell_take(&rows, i, 2),
                };
                if (!refs[i].id || !refs[i].namespace || !refs[i].flow_id) {
                        store_execution_refs_free(refs, rows.n_rows);
                        return -ENOMEM;
                }
        }
        *ret = refs;
        *ret_n = rows.n_rows;
        return 0;
}

/* store-batch.c: a transaction's deferred writes (executions, task runs, jobs, events, event deletions, log lines), one multi-row statement per table.
 *
 * An executor step applies the events of many executions in one transaction. Written as they
 * come, each save, task run, job and consumed event is a statement and a round trip of its own; deferred
 * (store_tx_defer()), they are kept in the transaction and written by store_tx_flush(), or at
 * commit, as one statement per table, in chunks of the parameters a statement takes, all sent
 * together (one round trip on PostgreSQL). What is committed together does not change: only the
 * number of statements and round trips. */
#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "store-private.h"
#include "strutil.h"

typedef struct BatchTable {
        SqlArg *args; /* n_rows * n_cols; text arguments are owned */
        size_t n_rows, cap;
        Hashmap rows; /* key columns -> row + 1: a later write of the same row replaces it */
} BatchTable;

struct StoreBatch {
        BatchTable tables[_STORE_BATCH_MAX];
        bool listeners_known;
        bool listen_states, listen_ended; /* enabled Flow triggers of each kind exist */
};

typedef struct BatchTableInfo {
        size_t n_cols;
        size_t n_key; /* the first n_key columns name a row written at most once a statement (0: none) */
        const char *head, *tail; /* the statement around its rows "(...), (...)" */
} BatchTableInfo;

/* In the order they are written. An execution saved is an upsert of a row that is there (the
 * step holds its lock): the insert never happens, and it works alike in the three dialects
 * (MySQL's driver turns it into ON DUPLICATE KEY UPDATE), where a multi-row UPDATE does not. */
static const BatchTableInfo batch_tables[_STORE_BATCH_MAX] = {
        [STORE_BATCH_EXECUTIONS] = { 10, 1,
                                     "INSERT INTO executions (id, namespace, flow_id, flow_revision, state, created,"
                                     " updated, end_date, parent_id, doc) VALUES ",
                                     " ON CONFLICT (id) DO UPDATE SET namespace = excluded.namespace,"
                                     " flow_id = excluded.flow_id, flow_revision = excluded.flow_revision,"
                                     " state = excluded.state, updated = excluded.updated, end_date = excluded.end_date,"
                                     " parent_id = excluded.parent_id, doc = excluded.doc,"
                                     " version = executions.version + 1" },
        [STORE_BATCH_TASK_RUNS] = { 5, 2, "INSERT INTO task_runs (execution_id, ord, id, state, doc) VALUES ",
                                    " ON CONFLICT (execution_id, ord) DO UPDATE SET id = excluded.id,"
                                    " state = excluded.state, doc = excluded.doc" },
        [STORE_BATCH_JOBS] = { 7, 0, "INSERT INTO jobs (id, execution_id, task_run_id, queue, payload, available_at, created) VALUES ",
                               " ON CONFLICT (id) DO NOTHING" },
        [STORE_BATCH_EVENT_DELETES] = { 1, 0, "DELETE FROM events WHERE seq IN (", ")" },
        [STORE_BATCH_EVENTS] = { 5, 0, "INSERT INTO events (execution_id, type, payload, due_at, created) VALUES ", "" },
        /* In the order they were appended: seq is the order they are read back in. */
        [STORE_BATCH_LOGS] = { 7, 0,
                               "INSERT INTO logs (execution_id, task_run_id, task_id, attempt, level, ts, message) VALUES ",
                               "" },
};

static void batch_table_clear(BatchTable *t, size_t n_cols) {
        for (size_t i = 0; i < t->n_rows * n_cols; i++)
                if (t->args[i].type == SQL_TEXT)
                        free((char *) t->args[i].s);
        t->n_rows = 0;
        hashmap_done(&t->rows);
        t->rows = (Hashmap) HASHMAP_INIT;
}

StoreBatch *store_batch_free(StoreBatch *b) {
        if (!b)
                return NULL;
        for (size_t k = 0; k < _STORE_BATCH_MAX; k++) {
                batch_table_clear(&b->tables[k], batch_tables[k].n_cols);
                free(b->tables[k].args);
        }
        free(b);
        return NULL;
}

int store_tx_defer(StoreTx *tx) {
        if (!tx->active)
                return -ENOTCONN;
        if (!tx->batch && !(tx->batch = calloc(1, sizeof(StoreBatch))))
                return -ENOMEM;
        return 0;
}

/* Copy row's n_cols arguments into place (replacing what was there). */
static int batch_set(SqlArg *dst, const SqlArg *row, size_t n_cols) {
        SqlArg copy[16];
        for (size_t c = 0; c < n_cols; c++) {
                copy[c] = row[c];
                if (row[c].type == SQL_TEXT && !(copy[c].s = strdup(row[c].s))) {
                        while (c-- > 0)
                                if (copy[c].type == SQL_TEXT)
                                        free((char *) copy[c].s);
                        return -ENOMEM;
                }
        }
        for (size_t c = 0; c < n_cols; c++) {
                if (dst[c].type == SQL_TEXT)
                        free((char *) dst[c].s);
                dst[c] = copy[c];
        }
        return 0;
}

int store_batch_add(StoreTx *tx, StoreBatchTable table, const SqlArg *row) {
        const BatchTableInfo *info = &batch_tables[table];
        BatchTable *t = &tx->batch->tables[table];
        char nums[2][24];
        const char *key[2];
        int r;

        assert(info->n_key <= ELEMENTSOF(key));
        for (size_t c = 0; c < info->n_key; c++) {
                snprintf(nums[c], sizeof nums[c], "%" PRIi64, row[c].i);
                key[c] = row[c].type == SQL_TEXT ? row[c].s : nums[c];
        }
        if (info->n_key > 0) {
                /* Once per statement: PostgreSQL refuses an upsert that would touch a row twice. */
                uintptr_t at = (uintptr_t) hashmap_get_parts(&t->rows, key, info->n_key);
                if (at > 0)
                        return batch_set(&t->args[(at - 1) * info->n_cols], row, info->n_cols);
        }
        if (t->n_rows == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 16;
                SqlArg *a = reallocarray(t->args, cap * info->n_cols, sizeof(SqlArg));
                if (!a)
                        return -ENOMEM;
                t->args = a;
                t->cap = cap;
        }
        SqlArg *dst = &t->args[t->n_rows * info->n_cols];
        for (size_t c = 0; c < info->n_cols; c++)
                dst[c] = (SqlArg) { .type = SQL_NULL };
        if ((r = batch_set(dst, row, info->n_cols)) < 0)
                return r;
        t->n_rows++;
        if (info->n_key > 0 && (r = hashmap_put_parts(&t->rows, key, info->n_key, (void *) (uintptr_t) t->n_rows)) < 0) {
                t->n_rows--;
                for (size_t c = 0; c < info->n_cols; c++)
                        if (dst[c].type == SQL_TEXT)
                                free((char *) dst[c].s);
                return r;
        }
        return 0;
}

/* One statement of a flush: rows [first, first + n) of a table. */
typedef struct BatchStmt {
        StoreBatchTable table;
        size_t n;
        StrBuf sql;
        SqlArg *padded; /* an IN list padded (the values are the table's), or NULL */
} BatchStmt;

static void batch_stmts_free(BatchStmt *st, size_t n) {
        for (size_t i = 0; st && i < n; i++) {
                strbuf_done(&st[i].sql);
                free(st[i].padded);
        }
        free(st);
}

/* The statement for rows [first, first + n) of a table; an IN list (one column) is padded to
 * n_pad by repeating its last value. */
static int batch_build(StoreTx *tx, StoreBatchTable table, size_t first, size_t n, size_t n_pad, BatchStmt *ret,
                       SqlStmt *ret_stmt) {
        const BatchTableInfo *info = &batch_tables[table];
        BatchTable *t = &tx->batch->tables[table];
        const SqlArg *args = &t->args[first * info->n_cols];
        size_t arg = 1;
        int r;

        assert(n_pad >= n && (n_pad == n || info->n_cols == 1));
        *ret = (BatchStmt) { .table = table, .n = n, .sql = STRBUF_INIT };
        if (n_pad > n) {
                if (!(ret->padded = calloc(n_pad, sizeof(SqlArg))))
                        return -ENOMEM;
                for (size_t i = 0; i < n_pad; i++)
                        ret->padded[i] = args[MIN(i, n - 1)];
                args = ret->padded;
        }
        r = strbuf_append(&ret->sql, info->head);
        for (size_t i = 0; i < n_pad && r >= 0; i++) {
                r = strbuf_append(&ret->sql, i ? ", " : "");
                if (r >= 0 && info->n_cols > 1)
                        r = strbuf_append_char(&ret->sql, '(');
                for (size_t c = 0; c < info->n_cols && r >= 0; c++)
                        r = strbuf_appendf(&ret->sql, "%s$%zu", c ? ", " : "", arg++);
                if (r >= 0 && info->n_cols > 1)
                        r = strbuf_append_char(&ret->sql, ')');
        }
        if (r >= 0)
                r = strbuf_append(&ret->sql, info->tail);
        if (r < 0)
                return r;
        *ret_stmt = (SqlStmt) { .sql = strbuf_str(&ret->sql), .args = args, .n_args = n_pad * info->n_cols };
        return 0;
}

/* What a statement's rows say, once it ran. */
static int batch_check(StoreTx *tx, const BatchStmt *st, const SqlRows *rows) {
        switch (st->table) {
        case STORE_BATCH_JOBS:
                if (rows->changes > 0)
                        tx->notify |= STORE_CHANNEL_JOBS;
                break;
        case STORE_BATCH_EVENT_DELETES:
                /* Each was there when it was read, under the execution's lock: one missing means
                 * another executor applied it too. */
                if (rows->changes != st->n) {
                        store_set_error(tx->store, "%zu of %zu consumed events were already deleted",
                                        st->n - (size_t) rows->changes, st->n);
                        return -ENOENT;
                }
                break;
        default:
                break;
        }
        return 0;
}

/* Drop the deferred events whose execution is not there (deleted since they were emitted: an
 * event for a parent that is gone), as store_event_emit() refuses each with -ENOENT when written
 * at once: one of them must not fail the statement of all. The executions found are locked
 * against deletion (what the foreign-key check of the insert would take) until the commit, so
 * that the insert cannot fail on one deleted in between. */
static int batch_events_existing(StoreTx *tx, BatchTable *t) {
        const size_t n_cols = batch_tables[STORE_BATCH_EVENTS].n_cols;
        _cleanup_hashmap_ Hashmap ids = HASHMAP_INIT, found = HASHMAP_INIT;
        _cleanup_free_ SqlArg *list = NULL;
        size_t n_ids = 0, kept = 0;
        int r;

        if (!(list = calloc(t->n_rows, sizeof(SqlArg))))
                return -ENOMEM;
        for (size_t i = 0; i < t->n_rows; i++) {
                const char *id = t->args[i * n_cols].s;
                if (hashmap_get(&ids, id))
                        continue;
                if ((r = hashmap_put(&ids, id, (void *) 1)) < 0)
                        return r;
                list[n_ids++] = SQL_S(id);
        }
        for (size_t i = 0, m; i < n_ids; i += m) {
                _cleanup_strbuf_ StrBuf sql = STRBUF_INIT;
                _cleanup_rows_ SqlRows rows = {};
                SqlArg args[SQL_EXEC_ARGS_MAX];
                size_t n_pad;

                m = MIN(n_ids - i, (size_t) SQL_EXEC_ARGS_MAX);
                n_pad = sql_pow2_ceil(m); /* a few statement texts, not one per count */
                r = strbuf_append(&sql, "SELECT id FROM executions WHERE id IN (");
                for (size_t k = 0; k < n_pad && r >= 0; k++) {
                        args[k] = list[i + MIN(k, m - 1)];
                        r = strbuf_appendf(&sql, "%s$%zu", k ? ", " : "", k + 1);
                }
                if (r >= 0)
                        r = strbuf_append(&sql, tx_is_pg(tx)      ? ") FOR KEY SHARE"
                                                : tx_is_mysql(tx) ? ") LOCK IN SHARE MODE"
                                                                  : ")");
                if (r < 0)
                        return r;
                if ((r = store_exec(tx, strbuf_str(&sql), args, n_pad, &rows)) < 0)
                        return r;
                for (size_t k = 0; k < rows.n_rows; k++)
                        if ((r = hashmap_put(&found, sql_cell(&rows, k, 0), (void *) 1)) < 0)
                                return r;
        }
        if (hashmap_size(&found) == n_ids)
                return 0;
        for (size_t i = 0; i < t->n_rows; i++) {
                SqlArg *row = &t->args[i * n_cols];
                if (hashmap_get(&found, row[0].s)) {
                        memmove(&t->args[kept++ * n_cols], row, n_cols * sizeof(SqlArg));
                        continue;
                }
                for (size_t c = 0; c < n_cols; c++)
                        if (row[c].type == SQL_TEXT)
                                free((char *) row[c].s);
        }
        t->n_rows = kept;
        return 0;
}

/* The statements of every table (in the order of batch_tables) go together: one round trip on
 * PostgreSQL, which runs them in order and stops at the first that fails, as when sent one by
 * one. What their rows say is checked before the commit. */
int store_tx_flush(StoreTx *tx) {
        StoreBatch *b = tx->batch;
        BatchStmt *st = NULL;
        _cleanup_free_ SqlStmt *stmts = NULL;
        _cleanup_free_ SqlRows *rows = NULL;
        size_t n = 0, cap = 0;
        int r = 0;

        if (!b)
                return 0;
        /* Before the statements: it drops rows of the last one. The executions it looks for were
         * there before the step (the step creates none by a deferred write). */
        BatchTable *ev = &b->tables[STORE_BATCH_EVENTS];
        if (ev->n_rows > 0 && (r = batch_events_existing(tx, ev)) < 0)
                return r;
        for (size_t k = 0; k < _STORE_BATCH_MAX && r >= 0; k++) {
                BatchTable *t = &b->tables[k];
                size_t per = sql_pow2_floor(SQL_EXEC_ARGS_MAX / batch_tables[k].n_cols);
                for (size_t i = 0, m; i < t->n_rows && r >= 0; i += m) {
                        /* Rows in chunks of powers of two; an IN list padded to one. */
                        bool in_list = batch_tables[k].n_cols == 1;
                        m = MIN(per, t->n_rows - i);
                        if (!in_list)
                                m = sql_pow2_floor(m);
                        if (n == cap) {
                                size_t c = cap ? cap * 2 : 8;
                                BatchStmt *a = reallocarray(st, c, sizeof *st);
                                if (!a) {
                                        r = -ENOMEM;
                                        break;
                                }
                                st = a;
                                SqlStmt *q = reallocarray(stmts, c, sizeof *stmts);
                                if (!q) {
                                        r = -ENOMEM;
                                        break;
                                }
                                stmts = q;
                                cap = c;
                        }
                        r = batch_build(tx, (StoreBatchTable) k, i, m, in_list ? sql_pow2_ceil(m) : m, &st[n], &stmts[n]);
                        n++; /* built or half-built: freed alike */
                }
        }
        if (r >= 0 && n > 0) {
                if (!(rows = calloc(n, sizeof *rows)))
                        r = -ENOMEM;
                else
                        r = store_exec_many(tx, stmts, n, rows);
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = batch_check(tx, &st[i], &rows[i]);
                for (size_t i = 0; rows && i < n; i++)
                        sql_rows_done(&rows[i]);
        }
        batch_stmts_free(st, n);
        if (r < 0)
                return r;
        for (size_t k = 0; k < _STORE_BATCH_MAX; k++)
                batch_table_clear(&b->tables[k], batch_tables[k].n_cols);
        return 0;
}

const char store_batch_listeners_sql[] =
        "SELECT (SELECT COUNT(*) FROM triggers WHERE kind = 'flow_states' AND disabled = 0),"
        " (SELECT COUNT(*) FROM triggers WHERE kind IN ('flow', 'flow_states') AND disabled = 0)";

bool store_batch_listeners_known(const StoreTx *tx) {
        return tx->batch && tx->batch->listeners_known;
}

void store_batch_listeners_set(StoreTx *tx, const SqlRows *rows) {
        StoreBatch *b = tx->batch;
        b->listen_states = rows->n_rows > 0 && sql_cell_i64(rows, 0, 0) > 0;
        b->listen_ended = rows->n_rows > 0 && sql_cell_i64(rows, 0, 1) > 0;
        b->listeners_known = true;
}

int store_batch_listeners(StoreTx *tx, bool states, bool *ret) {
        StoreBatch *b = tx->batch;
        if (!b->listeners_known) {
                _cleanup_rows_ SqlRows rows = {};
                int r = store_exec(tx, store_batch_listeners_sql, NULL, 0, &rows);
                if (r < 0)
                        return r;
                store_batch_listeners_set(tx, &rows);
        }
        *ret = states ? b->listen_states : b->listen_ended;
        return 0;
}

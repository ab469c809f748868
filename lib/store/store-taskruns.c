/* store-taskruns.c: an execution's task runs, one row each, beside its document.
 *
 * An execution document is stored without its "taskRunList"; each task run is a row of task_runs
 * keyed by (execution, position). A save writes only the task runs that differ from the document
 * the caller started from, so an executor step costs what it changed, not the size of the
 * execution (a 40-task chain rewrote its whole 37 kB document at every step before). Readers get
 * the list back in the same statement as the document (SQL_TASK_RUNS_OF). */
#include <errno.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "store-private.h"
#include "strutil.h"

json_t *store_doc_without_task_runs(json_t *doc) {
        json_t *d = json_copy(doc); /* shallow: the task runs themselves are not copied */
        if (d)
                json_object_del(d, "taskRunList");
        return d;
}

static int task_run_put(StoreTx *tx, const char *execution_id, size_t ord, const StoreTaskRunMeta *m, json_t *tr) {
        _cleanup_free_ char *text = NULL;
        if (isempty(m->id) || isempty(m->state))
                return -EINVAL;
        int r = store_json_dump(tr, &text);
        if (r < 0)
                return r;
        if (tx->batch)
                return store_batch_add(tx, STORE_BATCH_TASK_RUNS,
                                       (const SqlArg[]) { SQL_S(execution_id), SQL_I(ord), SQL_S(m->id),
                                                          SQL_S(m->state), SQL_S(text) });
        return store_exec(tx,
                          "INSERT INTO task_runs (execution_id, ord, id, state, doc) VALUES ($1, $2, $3, $4, $5)"
                          " ON CONFLICT (execution_id, ord) DO UPDATE SET id = excluded.id, state = excluded.state,"
                          " doc = excluded.doc",
                          SQL_ARGS(SQL_S(execution_id), SQL_I(ord), SQL_S(m->id), SQL_S(m->state), SQL_S(text)),
                          NULL);
}

int store_task_runs_write(StoreTx *tx, const char *execution_id, const StoreTaskRunMeta *meta, json_t *doc,
                          json_t *prev_doc) {
        json_t *list = json_object_get(doc, "taskRunList");
        json_t *prev = prev_doc ? json_object_get(prev_doc, "taskRunList") : NULL;
        size_t n = json_array_size(list), n_prev = json_array_size(prev);
        int r;

        if (!prev_doc)
                n_prev = SIZE_MAX; /* unknown: rewrite every row and drop any beyond the list */
        for (size_t i = 0; i < n; i++) {
                json_t *tr = json_array_get(list, i);
                if (i < n_prev && n_prev != SIZE_MAX && json_equal(tr, json_array_get(prev, i)))
                        continue;
                if ((r = task_run_put(tx, execution_id, i, &meta[i], tr)) < 0)
                        return r;
        }
        /* A restart can drop task runs (an errors branch to run again): drop their rows. */
        if (n_prev > n)
                return store_exec(tx, "DELETE FROM task_runs WHERE execution_id = $1 AND ord >= $2",
                                  SQL_ARGS(SQL_S(execution_id), SQL_I(n)), NULL);
        return 0;
}

int store_doc_from_cells(const SqlRows *rows, size_t row, size_t col_doc, size_t col_task_runs, json_t **ret) {
        _cleanup_json_ json_t *doc = NULL, *list = NULL;
        int r = sql_cell_json(rows, row, col_doc, &doc);
        if (r < 0)
                return r;
        if (!json_is_object(doc))
                return -EBADMSG;
        if ((r = sql_cell_json(rows, row, col_task_runs, &list)) < 0)
                return r;
        if (!list && !(list = json_array()))
                return -ENOMEM;
        if (!json_is_array(list))
                return -EBADMSG;
        if (json_object_set(doc, "taskRunList", list) < 0)
                return -ENOMEM;
        *ret = TAKE_PTR(doc);
        return 0;
}

int store_execution_get_after(StoreTx *tx, const char *id, json_t *prev, bool (*ended)(const char *state),
                              json_t **ret_doc) {
        _cleanup_rows_ SqlRows x = {}, t = {};
        _cleanup_json_ json_t *doc = NULL, *list = NULL;
        json_t *prev_list = json_object_get(prev, "taskRunList");
        int r;

        if (!json_is_array(prev_list))
                return store_execution_get(tx, id, ret_doc);
        /* Both reads in one transaction (the caller's), so the rows match the document. */
        if ((r = store_exec(tx, "SELECT doc FROM executions WHERE id = $1", SQL_ARGS(SQL_S(id)), &x)) < 0)
                return r;
        if (x.n_rows == 0)
                return -ENOENT;
        if ((r = sql_cell_json(&x, 0, 0, &doc)) < 0)
                return r;
        if (!json_is_object(doc))
                return -EBADMSG;
        if ((r = store_exec(tx, "SELECT id, state, doc FROM task_runs WHERE execution_id = $1 ORDER BY ord",
                            SQL_ARGS(SQL_S(id)), &t)) < 0)
                return r;
        if (!(list = json_array()))
                return -ENOMEM;
        for (size_t i = 0; i < t.n_rows; i++) {
                json_t *old = json_array_get(prev_list, i), *tr = NULL;
                const char *trid = sql_cell(&t, i, 0), *st = sql_cell(&t, i, 1);
                const char *was_id = json_string_value(json_object_get(old, "id"));
                const char *was = json_string_value(json_object_get(json_object_get(old, "state"), "current"));
                if (trid && st && was_id && was && streq(was_id, trid) && streq(was, st) && ended(st))
                        tr = json_incref(old);
                else if ((r = sql_cell_json(&t, i, 2, &tr)) < 0)
                        return r;
                if (json_array_append_new(list, tr) < 0)
                        return -ENOMEM;
        }
        if (json_object_set(doc, "taskRunList", list) < 0)
                return -ENOMEM;
        *ret_doc = TAKE_PTR(doc);
        return 0;
}

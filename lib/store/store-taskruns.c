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

void store_follow_done(StoreFollow *f) {
        json_decref(f->task_runs);
        for (size_t i = 0; i < f->n; i++)
                free(f->texts[i]);
        free(f->texts);
        *f = (StoreFollow) {};
}

int store_execution_get_after(StoreTx *tx, const char *id, StoreFollow *f, json_t **ret_doc) {
        _cleanup_rows_ SqlRows x = {}, t = {};
        _cleanup_json_ json_t *doc = NULL, *list = NULL;
        _cleanup_free_ char **texts = NULL;
        int r;

        /* Both reads in one transaction (the caller's), so the rows match the document. */
        if ((r = store_exec(tx, "SELECT doc FROM executions WHERE id = $1", SQL_ARGS(SQL_S(id)), &x)) < 0)
                return r;
        if (x.n_rows == 0)
                return -ENOENT;
        if ((r = sql_cell_json(&x, 0, 0, &doc)) < 0)
                return r;
        if (!json_is_object(doc))
                return -EBADMSG;
        if ((r = store_exec(tx, "SELECT doc FROM task_runs WHERE execution_id = $1 ORDER BY ord",
                            SQL_ARGS(SQL_S(id)), &t)) < 0)
                return r;
        if (!(list = json_array()) || (t.n_rows > 0 && !(texts = calloc(t.n_rows, sizeof(char *)))))
                return -ENOMEM;
        for (size_t i = 0; i < t.n_rows; i++) {
                const char *text = sql_cell(&t, i, 0);
                json_t *tr = NULL;
                /* The same text is the same task run: no assumption on what may change. */
                if (text && i < f->n && f->texts[i] && streq(f->texts[i], text))
                        tr = json_incref(json_array_get(f->task_runs, i));
                else if ((r = sql_cell_json(&t, i, 0, &tr)) < 0)
                        goto fail;
                if (!tr || json_array_append_new(list, tr) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                texts[i] = TAKE_PTR(t.cells[i]); /* the row's own copy, kept for the next read */
        }
        if (json_object_set(doc, "taskRunList", list) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        store_follow_done(f);
        *f = (StoreFollow) { .task_runs = TAKE_PTR(list), .texts = TAKE_PTR(texts), .n = t.n_rows };
        *ret_doc = TAKE_PTR(doc);
        return 0;
fail:
        for (size_t i = 0; i < t.n_rows && texts; i++)
                free(texts[i]);
        return r;
}

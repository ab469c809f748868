/* store-metrics.c: what tasks measured (counters, timers, gauges), per task run, searched by execution or flow. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "store-private.h"
#include "strutil.h"

/* Many metrics in one INSERT (PostgreSQL, MySQL), passed as one JSON array: a statement per
 * batch instead of one per metric, and one statement text whatever the count. A NULL column is a
 * missing key; tags go as their JSON text; the value as a JSON number jansson prints with 17
 * significant digits, which both databases read back to the same double. -EILSEQ: a metric JSON
 * cannot carry (text that is not UTF-8). */
static int metric_append_json(StoreTx *tx, const StoreMetric *m, size_t n) {
        _cleanup_json_ json_t *arr = json_array();
        _cleanup_free_ char *text = NULL;
        int r;

        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                const StoreMetric *x = &m[i];
                _cleanup_free_ char *tags = NULL;
                if ((r = store_json_dump(x->tags, &tags)) < 0)
                        return r;
                json_t *o = json_pack("{s:s, s:s, s:s, s:s*, s:s*, s:s, s:s, s:f, s:s*, s:I}", "e", x->execution_id, "s",
                                      x->namespace, "f", x->flow_id, "k", x->task_id, "t", x->task_run_id, "y", x->type,
                                      "n", x->name, "v", x->value, "g", tags, "ts", (json_int_t) x->timestamp);
                if (!o)
                        return -EILSEQ;
                if (json_array_append_new(arr, o) < 0)
                        return -ENOMEM;
        }
        if ((r = store_json_dump(arr, &text)) < 0)
                return r;
        return store_exec(tx,
                          tx_is_mysql(tx)
                                  ? "INSERT INTO metrics (execution_id, namespace, flow_id, task_id, task_run_id, type, name,"
                                    " value, tags, ts) SELECT v.e, v.s, v.f, v.k, v.t, v.y, v.n, v.v, v.g, v.ts FROM JSON_TABLE($1,"
                                    " '$[*]' COLUMNS (o FOR ORDINALITY, e VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.e',"
                                    " s VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.s',"
                                    " f VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.f',"
                                    " k VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.k',"
                                    " t VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.t',"
                                    " y VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.y',"
                                    " n VARCHAR(255) CHARACTER SET utf8mb4 PATH '$.n', v DOUBLE PATH '$.v',"
                                    " g LONGTEXT CHARACTER SET utf8mb4 PATH '$.g', ts BIGINT PATH '$.ts')) AS v ORDER BY v.o"
                                  : "INSERT INTO metrics (execution_id, namespace, flow_id, task_id, task_run_id, type, name,"
                                    " value, tags, ts) SELECT v.e, v.s, v.f, v.k, v.t, v.y, v.n, v.v, v.g::jsonb, v.ts"
                                    " FROM ROWS FROM (json_to_recordset($1::json) AS (e text, s text, f text, k text, t text,"
                                    " y text, n text, v double precision, g text, ts bigint))"
                                    " WITH ORDINALITY AS v(e, s, f, k, t, y, n, v, g, ts, o) ORDER BY v.o",
                          SQL_ARGS(SQL_S(text)), NULL);
}

int store_metric_append_tx(StoreTx *tx, const StoreMetric *m, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const StoreMetric *x = &m[i];
                if (isempty(x->execution_id) || isempty(x->namespace) || isempty(x->flow_id) || isempty(x->type) ||
                    isempty(x->name) || !isfinite(x->value))
                        return -EINVAL;
        }
        /* (SQLite runs in the process: a statement per metric costs no round trip.) */
        if ((tx_is_pg(tx) || tx_is_mysql(tx)) && n > 1) {
                int r = metric_append_json(tx, m, n);
                if (r != -EILSEQ)
                        return r;
                /* Text that is not UTF-8: one by one, as before (the server says which). */
        }
        for (size_t i = 0; i < n; i++) {
                const StoreMetric *x = &m[i];
                _cleanup_free_ char *tags = NULL;
                char value[32];
                int r;

                if ((r = store_json_dump(x->tags, &tags)) < 0)
                        return r;
                /* Text both databases convert to a double exactly (17 significant digits). */
                snprintf(value, sizeof value, "%.17g", x->value);
                r = store_exec(tx,
                               "INSERT INTO metrics (execution_id, namespace, flow_id, task_id, task_run_id, type, name,"
                               " value, tags, ts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                               SQL_ARGS(SQL_S(x->execution_id), SQL_S(x->namespace), SQL_S(x->flow_id), SQL_S(x->task_id),
                                        SQL_S(x->task_run_id), SQL_S(x->type), SQL_S(x->name), SQL_S(value), SQL_S(tags),
                                        SQL_I(x->timestamp)),
                               NULL);
                if (r < 0)
                        return r;
        }
        return 0;
}

int store_metric_append_json_tx(StoreTx *tx, const StoreMetric *run, json_t *metrics, usec_t now) {
        size_t i, n = 0;
        json_t *m;
        if (json_array_size(metrics) == 0)
                return 0;
        _cleanup_free_ StoreMetric *all = calloc(json_array_size(metrics), sizeof(StoreMetric));
        if (!all)
                return -ENOMEM;
        json_array_foreach(metrics, i, m) {
                json_t *v = json_object_get(m, "value"), *ts = json_object_get(m, "timestamp");
                StoreMetric x = *run;
                x.type = json_string_value(json_object_get(m, "type"));
                x.name = json_string_value(json_object_get(m, "name"));
                x.tags = json_object_get(m, "tags");
                x.value = json_number_value(v);
                x.timestamp = json_integer_value(ts) > 0 ? (usec_t) json_integer_value(ts) : now;
                if (!x.type || !x.name || !json_is_number(v))
                        continue;
                all[n++] = x;
        }
        return store_metric_append_tx(tx, all, n);
}

void store_metrics_free(StoreMetric *m, size_t n) {
        if (!m)
                return;
        for (size_t i = 0; i < n; i++) {
                free((char *) m[i].execution_id);
                free((char *) m[i].namespace);
                free((char *) m[i].flow_id);
                free((char *) m[i].task_id);
                free((char *) m[i].task_run_id);
                free((char *) m[i].type);
                free((char *) m[i].name);
                json_decref(m[i].tags);
        }
        free(m);
}

/* " AND ..." for each condition of f. */
static int metric_where(QueryBuilder *q, const StoreMetricFilter *f) {
        const struct {
                const char *column, *value;
        } eq[] = {
                { "execution_id", f->execution_id }, { "task_run_id", f->task_run_id }, { "task_id", f->task_id },
                { "namespace", f->namespace },       { "flow_id", f->flow_id },         { "name", f->name },
        };
        int r = 0;
        strbuf_append(&q->sql, " WHERE 1 = 1");
        for (size_t i = 0; i < ELEMENTSOF(eq) && r >= 0; i++)
                if (eq[i].value) {
                        strbuf_appendf(&q->sql, " AND %s = ", eq[i].column);
                        r = store_qb_arg(q, SQL_S(eq[i].value));
                }
        if (r >= 0 && f->from) {
                strbuf_append(&q->sql, " AND ts >= ");
                r = store_qb_arg(q, SQL_I(f->from));
        }
        if (r >= 0 && f->to) {
                strbuf_append(&q->sql, " AND ts <= ");
                r = store_qb_arg(q, SQL_I(f->to));
        }
        return r < 0 ? r : q->sql.error;
}

int store_metric_search(Store *s, const StoreMetricFilter *f, StoreMetric **ret, size_t *ret_n, int64_t *ret_total) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        int r;

        if (ret_total) {
                _cleanup_(store_qb_done) QueryBuilder c = { .sql = STRBUF_INIT };
                _cleanup_rows_ SqlRows count = {};
                strbuf_append(&c.sql, "SELECT COUNT(*) FROM metrics");
                if ((r = metric_where(&c, f)) < 0 || (r = store_exec_raw(s, strbuf_str(&c.sql), c.args, c.n, &count)) < 0)
                        return r;
                *ret_total = count.n_rows ? sql_cell_i64(&count, 0, 0) : 0;
        }
        strbuf_append(&q.sql, "SELECT seq, execution_id, namespace, flow_id, task_id, task_run_id, type, name, value, tags,"
                              " ts FROM metrics");
        if ((r = metric_where(&q, f)) < 0)
                return r;
        strbuf_append(&q.sql, " ORDER BY ts, seq LIMIT ");
        r = store_qb_arg(&q, SQL_I(f->limit ? f->limit : 1000));
        if (r >= 0) {
                strbuf_append(&q.sql, " OFFSET ");
                r = store_qb_arg(&q, SQL_I(f->offset));
        }
        if (r < 0 || q.sql.error)
                return r < 0 ? r : q.sql.error;
        if ((r = store_exec_raw(s, strbuf_str(&q.sql), q.args, q.n, &rows)) < 0)
                return r;
        StoreMetric *out = rows.n_rows ? calloc(rows.n_rows, sizeof(StoreMetric)) : NULL;
        if (rows.n_rows && !out)
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++) {
                json_t *tags = NULL;
                (void) sql_cell_json(&rows, i, 9, &tags); /* unreadable tags: shown as none */
                out[i] = (StoreMetric) {
                        .seq = sql_cell_i64(&rows, i, 0),
                        .execution_id = sql_cell_take(&rows, i, 1),
                        .namespace = sql_cell_take(&rows, i, 2),
                        .flow_id = sql_cell_take(&rows, i, 3),
                        .task_id = sql_cell_take(&rows, i, 4),
                        .task_run_id = sql_cell_take(&rows, i, 5),
                        .type = sql_cell_take(&rows, i, 6),
                        .name = sql_cell_take(&rows, i, 7),
                        .value = strtod(strempty(sql_cell(&rows, i, 8)), NULL),
                        .tags = tags,
                        .timestamp = (usec_t) sql_cell_i64(&rows, i, 10),
                };
        }
        *ret = out;
        *ret_n = rows.n_rows;
        return 0;
}

int store_metric_distinct(Store *s, StoreMetricColumn column, const char *ns, const char *flow_id, const char *task_id,
                          json_t **ret) {
        _cleanup_(store_qb_done) QueryBuilder q = { .sql = STRBUF_INIT };
        _cleanup_rows_ SqlRows rows = {};
        StoreMetricFilter f = { .namespace = ns, .flow_id = flow_id, .task_id = task_id };
        const char *col = column == STORE_METRIC_NAMES ? "name" : "task_id";
        int r;

        if (!ns || !flow_id)
                return -EINVAL;
        strbuf_appendf(&q.sql, "SELECT DISTINCT %s FROM metrics", col);
        if ((r = metric_where(&q, &f)) < 0)
                return r;
        strbuf_appendf(&q.sql, " AND %s IS NOT NULL ORDER BY %s", col, col);
        if (q.sql.error)
                return q.sql.error;
        if ((r = store_exec_raw(s, strbuf_str(&q.sql), q.args, q.n, &rows)) < 0)
                return r;
        _cleanup_json_ json_t *arr = json_array();
        if (!arr)
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++)
                if (json_array_append_new(arr, json_string(sql_cell(&rows, i, 0))) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(arr);
        return 0;
}

/* web-logs.c: the REST API's log handlers: an execution's logs, their download and deletion, and the search (Kestra's shapes). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "strbuf.h"
#include "strutil.h"
#include "timeutil.h"
#include "web-internal.h"

/* ---- logs ------------------------------------------------------------------------------------ */

int web_api_logs(WebCtx *c) {
        const char *id = c->params[0], *lvl = web_query(c, "minLevel");
        int min = STORE_LOG_TRACE;
        if (lvl && (min = store_log_level_from_string(lvl)) < 0)
                return web_reply_error(c, 400, "unknown log level '%s'", lvl);
        json_t *doc = NULL;
        int r = api_execution_get(c->store, id, &doc);
        json_decref(doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", id);
        if (r < 0)
                return web_reply_store_error(c, r);
        json_t *arr = api_execution_logs_json(c->store, id, (StoreLogLevel) min);
        if (!arr)
                return web_reply_error(c, 500, "the logs could not be read");
        return web_reply_json(c, 200, arr);
}

/* A query parameter, NULL when absent or empty (a form's blank field filters nothing). */
static const char *query_nonempty(WebCtx *c, const char *key) {
        const char *v = web_query(c, key);
        return isempty(v) ? NULL : v;
}

/* Kestra's filters of an execution's lines (download, delete): minLevel, taskRunId, taskId,
 * attempt. 0, or replies 400 and returns -EINVAL. */
typedef struct LogsQuery {
        int min_level;
        const char *task_run_id, *task_id;
        bool by_attempt;
        int attempt;
} LogsQuery;

static int logs_query(WebCtx *c, LogsQuery *q) {
        const char *lvl = query_nonempty(c, "minLevel"), *att = query_nonempty(c, "attempt");
        *q = (LogsQuery) { .min_level = STORE_LOG_TRACE, .task_run_id = query_nonempty(c, "taskRunId"),
                           .task_id = query_nonempty(c, "taskId") };
        if (lvl && (q->min_level = store_log_level_from_string(lvl)) < 0) {
                web_reply_error(c, 400, "unknown log level '%s' (TRACE, DEBUG, INFO, WARN or ERROR)", lvl);
                return -EINVAL;
        }
        if (att) {
                char *end;
                long v = strtol(att, &end, 10);
                if (*end || v < 0 || v > 100000) {
                        web_reply_error(c, 400, "attempt '%s' is not a number of 0 or more", att);
                        return -EINVAL;
                }
                q->by_attempt = true;
                q->attempt = (int) v;
        }
        return 0;
}

/* 0 when the execution exists, else replies 404 (or 500) and returns -ENOENT. */
static int logs_execution_exists(WebCtx *c, const char *id) {
        _cleanup_json_ json_t *doc = NULL;
        int r = api_execution_get(c->store, id, &doc);
        if (r == -ENOENT)
                web_reply_error(c, 404, "no execution '%s'", id);
        else if (r < 0)
                web_reply_store_error(c, r);
        return r < 0 ? -ENOENT : 0;
}

#define LOGS_DOWNLOAD_MAX (256u << 20)

/* GET /api/v1/logs/{id}/download: Kestra's download of an execution's lines as text, one line
 * each: "TIMESTAMP LEVEL [taskId] message" (the task id left out for the execution's own). */
int web_api_logs_download(WebCtx *c) {
        const char *id = c->params[0];
        LogsQuery q;
        if (logs_query(c, &q) < 0 || logs_execution_exists(c, id) < 0)
                return 0;
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        int64_t cursor = 0;
        for (;;) {
                StoreLog *logs = NULL;
                size_t n = 0;
                StoreLogFilter f = { .execution_id = id, .task_run_id = q.task_run_id,
                                     .min_level = (StoreLogLevel) q.min_level, .after_seq = cursor, .limit = 1000 };
                int r = store_log_search(c->store, &f, &logs, &n);
                if (r < 0)
                        return web_reply_store_error(c, r);
                for (size_t i = 0; i < n; i++) {
                        char ts[TIMESTAMP_MAX];
                        cursor = logs[i].seq;
                        if ((q.task_id && !streq_ptr(logs[i].task_id, q.task_id)) ||
                            (q.by_attempt && logs[i].attempt != q.attempt))
                                continue;
                        strbuf_appendf(&out, "%s %s%s%s%s %s\n", timestamp_format(ts, logs[i].timestamp),
                                       store_log_level_to_string(logs[i].level), logs[i].task_id ? " [" : "",
                                       strempty(logs[i].task_id), logs[i].task_id ? "]" : "", logs[i].message);
                }
                store_logs_free(logs, n);
                if (n == 0)
                        break;
                if (out.len > LOGS_DOWNLOAD_MAX)
                        return web_reply_error(c, 413, "the logs of execution %s are more than %u MiB; download them by task run "
                                                       "(taskRunId) or level (minLevel)", id, LOGS_DOWNLOAD_MAX >> 20);
        }
        if (out.error)
                return web_reply_error(c, 500, "out of memory");
        return web_reply_text(c, 200, "text/plain; charset=utf-8", out.buf ? out.buf : "");
}

/* DELETE /api/v1/logs/{id}: Kestra's delete of an execution's lines, all or those the filters
 * keep (minLevel: that level and above). */
int web_api_logs_delete(WebCtx *c) {
        const char *id = c->params[0];
        _cleanup_store_tx_ StoreTx *tx = NULL;
        LogsQuery q;
        if (logs_query(c, &q) < 0 || logs_execution_exists(c, id) < 0)
                return 0;
        StoreLogPurgeFilter f = { .execution_id = id, .task_run_id = q.task_run_id, .task_id = q.task_id,
                                  .by_attempt = q.by_attempt, .attempt = q.attempt };
        if (q.min_level > STORE_LOG_TRACE)
                for (int l = q.min_level; l < _STORE_LOG_LEVEL_MAX; l++)
                        f.levels |= 1u << l;
        int64_t deleted = 0;
        int r = store_begin(c->store, &tx);
        if (r >= 0)
                r = store_log_purge(tx, &f, &deleted);
        if (r >= 0)
                r = store_commit(TAKE_PTR(tx));
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, json_pack("{s:I}", "deleted", (json_int_t) deleted));
}

/* Kestra's GET /api/v1/logs/search: lines of every execution, newest first, by namespace (and
 * below), flow, lowest level, text and time range, a page at a time with the total. */
int web_api_logs_search(WebCtx *c) {
        size_t offset, limit;
        if (web_paging(c, 50, &offset, &limit) < 0)
                return 0;
        const char *lvl = web_query(c, "minLevel"), *sort = web_query(c, "sort");
        int min = STORE_LOG_TRACE;
        if (lvl && (min = store_log_level_from_string(lvl)) < 0)
                return web_reply_error(c, 400, "unknown log level '%s' (TRACE, DEBUG, INFO, WARN or ERROR)", lvl);
        if (sort && !streq(sort, "timestamp:desc") && !streq(sort, "timestamp:asc"))
                return web_reply_error(c, 400, "sort '%s' is not timestamp:desc or timestamp:asc", sort);
        StoreLogFilter f = {
                .namespace = query_nonempty(c, "namespace"),
                .flow_id = query_nonempty(c, "flowId"),
                .text = query_nonempty(c, "q"),
                .min_level = (StoreLogLevel) min,
                .offset = offset,
                .limit = limit,
                .newest_first = !sort || streq(sort, "timestamp:desc"),
                .with_flow = true,
        };
        if (web_query_date(c, "startDate", &f.from) < 0 || web_query_date(c, "endDate", &f.to) < 0)
                return 0;
        if (f.from && f.to && f.to <= f.from)
                return web_reply_error(c, 400, "endDate is not after startDate");
        StoreLog *logs = NULL;
        size_t n = 0;
        int64_t total = 0;
        int r = store_log_count(c->store, &f, &total);
        if (r >= 0)
                r = store_log_search(c->store, &f, &logs, &n);
        if (r < 0)
                return web_reply_store_error(c, r);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
                char ts[TIMESTAMP_MAX];
                if (json_array_append_new(arr, json_pack("{s:s?, s:s?, s:s, s:s?, s:s?, s:i, s:s, s:s, s:s}", "namespace",
                                                         logs[i].namespace, "flowId", logs[i].flow_id, "executionId",
                                                         logs[i].execution_id, "taskRunId", logs[i].task_run_id, "taskId",
                                                         logs[i].task_id, "attemptNumber", logs[i].attempt, "level",
                                                         store_log_level_to_string(logs[i].level), "timestamp",
                                                         timestamp_format(ts, logs[i].timestamp), "message",
                                                         logs[i].message)) < 0) {
                        json_decref(arr);
                        arr = NULL;
                }
        }
        store_logs_free(logs, n);
        if (!arr)
                return web_reply_error(c, 500, "out of memory");
        return web_reply_json(c, 200, json_pack("{s:o, s:I}", "results", arr, "total", (json_int_t) total));
}

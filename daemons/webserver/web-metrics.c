/* web-metrics.c: Kestra's metrics API: what tasks measured, by execution, and a flow's names, tasks
 * and aggregates over time. */
#include <errno.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "strutil.h"
#include "web-internal.h"

/* GET /api/v1/metrics/{executionId}?page=&size=&taskRunId=&taskId= : PagedResults of MetricEntry
 * (an unknown execution has none, as in Kestra). */
int web_api_metrics_execution(WebCtx *c) {
        StoreMetricFilter f = { .execution_id = c->params[0], .task_id = web_query(c, "taskId") };
        if (!f.task_id)
                f.task_run_id = web_query(c, "taskRunId");
        if (web_paging(c, 10, &f.offset, &f.limit) < 0)
                return 0;
        json_t *res = NULL;
        int r = api_metrics_search_json(c->store, &f, &res);
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, res);
}

/* GET /api/v1/metrics/names/{namespace}/{flowId}[/{taskId}] */
int web_api_metric_names(WebCtx *c) {
        json_t *names = NULL;
        int r = store_metric_distinct(c->store, STORE_METRIC_NAMES, c->params[0], c->params[1], c->params[2], &names);
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, names);
}

/* GET /api/v1/metrics/tasks/{namespace}/{flowId}: tasks that reported metrics (removed ones too). */
int web_api_metric_tasks(WebCtx *c) {
        json_t *tasks = NULL;
        int r = store_metric_distinct(c->store, STORE_METRIC_TASK_IDS, c->params[0], c->params[1], NULL, &tasks);
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, tasks);
}

static int date_query(WebCtx *c, const char *key, usec_t def, usec_t *ret) {
        const char *v = web_query(c, key);
        if (!v) {
                *ret = def;
                return 0;
        }
        if (timestamp_parse(v, 0, ret) < 0)
                return web_reply_error(c, 400, "%s '%s' is not a date such as 2024-01-31T10:00:00Z", key, v), -EINVAL;
        return 0;
}

/* GET /api/v1/metrics/aggregates/{namespace}/{flowId}[/{taskId}]/{metric}?startDate=&endDate=&aggregation= :
 * MetricAggregations over [startDate (default: 30 days ago), endDate (default: now)]. */
int web_api_metric_aggregates(WebCtx *c) {
        bool with_task = c->params[3] != NULL;
        const char *task_id = with_task ? c->params[2] : NULL, *metric = c->params[with_task ? 3 : 2];
        const char *agg = web_query(c, "aggregation") ?: "sum";
        usec_t now = now_realtime(), from, to;
        if (date_query(c, "endDate", now, &to) < 0 || date_query(c, "startDate", to - 30 * 86400 * USEC_PER_SEC, &from) < 0)
                return 0;
        if (to < from)
                return web_reply_error(c, 400, "endDate must be after startDate");
        if (!streq(agg, "sum") && !streq(agg, "avg") && !streq(agg, "min") && !streq(agg, "max"))
                return web_reply_error(c, 400, "Invalid aggregation: '%s' (avg, sum, min or max)", agg);
        json_t *res = NULL;
        int r = api_metrics_aggregate_json(c->store, c->params[0], c->params[1], task_id, metric, from, to, agg, &res);
        if (r == -E2BIG)
                return web_reply_error(c, 400, "the range from startDate to endDate has too many intervals");
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, res);
}

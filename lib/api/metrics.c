/* metrics.c: what tasks measured, as Kestra's metrics API shows it: an execution's entries, a flow's
 * names and tasks, and aggregates over time. */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "strutil.h"

json_t *api_metric_json(const StoreMetric *m) {
        char ts[TIMESTAMP_MAX];
        return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:s, s:s, s:f, s:s, s:O?, s:b}", "namespace", m->namespace, "flowId",
                         m->flow_id, "taskId", m->task_id, "executionId", m->execution_id, "taskRunId", m->task_run_id,
                         "type", m->type, "name", m->name, "value", m->value, "timestamp",
                         timestamp_format(ts, m->timestamp), "tags", m->tags, "deleted", false);
}

int api_metrics_search_json(Store *s, const StoreMetricFilter *f, json_t **ret) {
        StoreMetric *rows = NULL;
        size_t n = 0;
        int64_t total = 0;
        int r = store_metric_search(s, f, &rows, &n, &total);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *results = json_array();
        bool oom = !results;
        for (size_t i = 0; !oom && i < n; i++)
                oom = json_array_append_new(results, api_metric_json(&rows[i])) < 0;
        store_metrics_free(rows, n);
        if (oom)
                return -ENOMEM;
        *ret = json_pack("{s:O, s:I}", "results", results, "total", (json_int_t) total);
        return *ret ? 0 : -ENOMEM;
}

/* Kestra's DateUtils.groupByType: the bucket follows the length of the range. */
typedef enum GroupBy { GROUP_MINUTE, GROUP_HOUR, GROUP_DAY, GROUP_WEEK, GROUP_MONTH } GroupBy;
static const char *const group_names[] = { "minute", "hour", "day", "week", "month" };

static GroupBy group_by(usec_t from, usec_t to) {
        usec_t d = to > from ? to - from : 0;
        uint64_t days = d / (86400 * USEC_PER_SEC), hours = d / (3600 * USEC_PER_SEC);
        return days > 365 ? GROUP_MONTH : days > 180 ? GROUP_WEEK : days > 1 ? GROUP_DAY : hours > 6 ? GROUP_HOUR : GROUP_MINUTE;
}

/* The start of the calendar unit (UTC) that holds t. */
static time_t truncate_to(time_t t, GroupBy g) {
        struct tm tm;
        gmtime_r(&t, &tm);
        tm.tm_sec = 0;
        if (g >= GROUP_HOUR)
                tm.tm_min = 0;
        if (g >= GROUP_DAY)
                tm.tm_hour = 0;
        if (g == GROUP_MONTH)
                tm.tm_mday = 1;
        time_t r = timegm(&tm);
        if (g == GROUP_WEEK)
                r -= (time_t) ((tm.tm_wday + 6) % 7) * 86400; /* back to Monday */
        return r;
}

static time_t step(time_t t, GroupBy g) {
        static const time_t secs[] = { 60, 3600, 86400, 7 * 86400 };
        if (g != GROUP_MONTH)
                return t + secs[g];
        struct tm tm;
        gmtime_r(&t, &tm);
        tm.tm_mon++;
        return timegm(&tm);
}

int api_metrics_aggregate_json(Store *s, const char *ns, const char *flow_id, const char *task_id, const char *name,
                               usec_t from, usec_t to, const char *aggregation, json_t **ret) {
        const char *const aggs[] = { "sum", "avg", "min", "max" };
        size_t agg = ELEMENTSOF(aggs);
        for (size_t i = 0; i < ELEMENTSOF(aggs); i++)
                if (streq(aggregation, aggs[i]))
                        agg = i;
        if (agg == ELEMENTSOF(aggs) || to < from)
                return -EINVAL;
        GroupBy g = group_by(from, to);
        /* One entry per calendar unit (UTC) that the range touches, as Kestra fills the range. */
        time_t first = truncate_to((time_t) (from / USEC_PER_SEC), g), last = (time_t) (to / USEC_PER_SEC);
        size_t n_buckets = 0;
        for (time_t t = first; t < last && n_buckets <= 100000; t = step(t, g))
                n_buckets++;
        if (n_buckets > 100000)
                return -E2BIG;
        _cleanup_free_ double *value = calloc(n_buckets ?: 1, sizeof(double));
        _cleanup_free_ size_t *count = calloc(n_buckets ?: 1, sizeof(size_t));
        _cleanup_free_ time_t *unit = calloc(n_buckets ?: 1, sizeof(time_t));
        if (!value || !count || !unit)
                return -ENOMEM;
        size_t k = 0;
        for (time_t t = first; t < last && k < n_buckets; t = step(t, g))
                unit[k++] = t;

        /* The rows, a page at a time, into the bucket of their calendar unit. */
        StoreMetricFilter f = { .namespace = ns, .flow_id = flow_id, .task_id = task_id, .name = name, .from = from,
                                .to = to, .limit = 10000 };
        for (;;) {
                StoreMetric *rows = NULL;
                size_t n = 0;
                int r = store_metric_search(s, &f, &rows, &n, NULL);
                if (r < 0)
                        return r;
                for (size_t i = 0; i < n; i++) {
                        time_t u = truncate_to((time_t) (rows[i].timestamp / USEC_PER_SEC), g);
                        for (size_t b = 0; b < n_buckets; b++) {
                                if (unit[b] != u)
                                        continue;
                                double v = rows[i].value;
                                value[b] = count[b] == 0             ? v
                                         : agg == 2 && v < value[b] ? v
                                         : agg == 3 && v > value[b] ? v
                                         : agg < 2                  ? value[b] + v
                                                                    : value[b];
                                count[b]++;
                                break;
                        }
                }
                store_metrics_free(rows, n);
                if (n < f.limit)
                        break;
                f.offset += n;
        }

        _cleanup_json_ json_t *list = json_array();
        if (!list)
                return -ENOMEM;
        for (k = 0; k < n_buckets; k++) {
                char ts[TIMESTAMP_MAX];
                /* A unit without rows counts 0, without a name, as Kestra fills the range. */
                json_t *e = count[k] ? json_pack("{s:s, s:f, s:s}", "name", name, "value",
                                                 agg == 1 ? value[k] / (double) count[k] : value[k], "date",
                                                 timestamp_format(ts, (usec_t) unit[k] * USEC_PER_SEC))
                                     : json_pack("{s:n, s:f, s:s}", "name", "value", 0.0, "date",
                                                 timestamp_format(ts, (usec_t) unit[k] * USEC_PER_SEC));
                if (json_array_append_new(list, e) < 0)
                        return -ENOMEM;
        }
        *ret = json_pack("{s:s, s:O}", "groupBy", group_names[g], "aggregations", list);
        return *ret ? 0 : -ENOMEM;
}

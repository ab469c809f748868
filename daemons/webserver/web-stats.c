/* web-stats.c: Kestra's execution statistics (POST /api/v1/stats/executions/daily and its
 * group-by-flow), counts per UTC day (or hour) and state for the dashboard. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "state.h"
#include "strutil.h"
#include "timeutil.h"
#include "web-internal.h"

#define DAY_USEC (86400 * USEC_PER_SEC)
#define STATS_DAYS_MAX 366

#define HOUR_USEC (3600 * USEC_PER_SEC)
#define STATS_HOURS_MAX (24 * 31)

typedef struct StatsQuery {
        StoreExecutionFilter f;
        usec_t bucket;              /* a day, or an hour (groupBy "hour": the 24-hour view) */
        usec_t first_day, last_day; /* the buckets' first microseconds, both included */
} StatsQuery;

/* A date-time of the body: 0 and true when absent; false (and the reply set) when malformed. */
static bool body_date(WebCtx *c, json_t *body, const char *key, usec_t *ret) {
        json_t *v = json_object_get(body, key);
        *ret = 0;
        if (!v || json_is_null(v))
                return true;
        if (!json_is_string(v) || timestamp_parse(json_string_value(v), 0, ret) < 0 || *ret == 0) {
                web_reply_error(c, 400, "%s is not a date-time (2026-01-31T12:00:00Z)", key);
                return false;
        }
        return true;
}

/* The body {namespace, flowId, startDate, endDate, groupBy}, all optional (an empty body too): the
 * last 30 days up to now by default, counted by day ("day", the default) or by hour ("hour"; the
 * last 24 hours by default). False with the reply set (400) when it is malformed. */
static bool stats_query(WebCtx *c, json_t **ret_body, StatsQuery *q) {
        json_t *body = c->body_len ? json_loadb(c->body, c->body_len, 0, NULL) : json_object();
        *ret_body = body;
        if (!json_is_object(body))
                return web_reply_error(c, 400, "the body must be a JSON object: {namespace, flowId, startDate, endDate}"), false;
        json_t *ns = json_object_get(body, "namespace"), *flow = json_object_get(body, "flowId");
        if ((ns && !json_is_null(ns) && !json_is_string(ns)) || (flow && !json_is_null(flow) && !json_is_string(flow)))
                return web_reply_error(c, 400, "namespace and flowId must be strings"), false;
        json_t *group = json_object_get(body, "groupBy");
        const char *g = json_string_value(group);
        if (group && !json_is_null(group) && (!g || (!streq(g, "day") && !streq(g, "hour"))))
                return web_reply_error(c, 400, "groupBy must be \"day\" or \"hour\""), false;
        bool hourly = g && streq(g, "hour");
        q->bucket = hourly ? HOUR_USEC : DAY_USEC;
        usec_t from, to;
        if (!body_date(c, body, "startDate", &from) || !body_date(c, body, "endDate", &to))
                return false;
        if (!to)
                to = now_realtime();
        if (!from)
                from = hourly ? to - 23 * HOUR_USEC : to - 29 * DAY_USEC;
        if (to < from)
                return web_reply_error(c, 400, "endDate is before startDate"), false;
        q->first_day = from - from % q->bucket;
        q->last_day = to - to % q->bucket;
        if (!hourly && (q->last_day - q->first_day) / DAY_USEC >= STATS_DAYS_MAX)
                return web_reply_error(c, 400, "at most %d days at once", STATS_DAYS_MAX), false;
        if (hourly && (q->last_day - q->first_day) / HOUR_USEC >= STATS_HOURS_MAX)
                return web_reply_error(c, 400, "at most %d hours at once (groupBy hour)", STATS_HOURS_MAX), false;
        const char *nss = json_string_value(ns), *fid = json_string_value(flow);
        q->f = (StoreExecutionFilter) {
                /* As in Kestra: with a flow the namespace is its own; alone it covers those below. */
                .namespace = fid && !isempty(nss) ? nss : NULL,
                .namespace_prefix = !fid && !isempty(nss) ? nss : NULL,
                .flow_id = isempty(fid) ? NULL : fid,
                .created_from = q->first_day,
                .created_to = q->last_day + q->bucket,
        };
        return true;
}

/* One day in Kestra's shape: {startDate: "YYYY-MM-DD", executionCounts: {STATE: n, ...} (every
 * state), duration: {count, sum, avg} in seconds (of those that ended), groupBy: "day"}; an hour:
 * startDate the hour's UTC date-time, groupBy "hour". */
static json_t *day_new(usec_t day, bool hourly) {
        char buf[TIMESTAMP_MAX];
        timestamp_format(buf, day);
        if (!hourly)
                buf[10] = 0; /* the date of "YYYY-MM-DDT..." */
        json_t *counts = json_object();
        for (State s = 0; counts && s < _STATE_MAX; s++)
                if (json_object_set_new(counts, state_to_string(s), json_integer(0)) < 0)
                        counts = (json_decref(counts), NULL);
        if (!counts)
                return NULL;
        return json_pack("{s:s, s:o, s:{s:I, s:f, s:f}, s:s}", "startDate", buf, "executionCounts", counts, "duration",
                         "count", (json_int_t) 0, "sum", 0.0, "avg", 0.0, "groupBy", hourly ? "hour" : "day");
}

/* Add a row's counts to its day. */
static int day_add(json_t *day, const StoreExecutionDay *r) {
        json_t *counts = json_object_get(day, "executionCounts"), *dur = json_object_get(day, "duration");
        json_t *cur = json_object_get(counts, r->state);
        if (json_object_set_new(counts, r->state, json_integer(json_integer_value(cur) + r->n)) < 0)
                return -ENOMEM;
        json_int_t n = json_integer_value(json_object_get(dur, "count")) + r->n_ended;
        double sum = json_real_value(json_object_get(dur, "sum")) + (double) r->duration_sum / USEC_PER_SEC;
        if (json_object_set_new(dur, "count", json_integer(n)) < 0 || json_object_set_new(dur, "sum", json_real(sum)) < 0 ||
            json_object_set_new(dur, "avg", json_real(n ? sum / (double) n : 0.0)) < 0)
                return -ENOMEM;
        return 0;
}

/* Every day of the range, none left out (an array of day_new()). */
static json_t *days_new(const StatsQuery *q) {
        json_t *arr = json_array();
        for (usec_t d = q->first_day; arr && d <= q->last_day; d += q->bucket)
                if (json_array_append_new(arr, day_new(d, q->bucket == HOUR_USEC)) < 0)
                        arr = (json_decref(arr), NULL);
        return arr;
}

static int stats_rows(WebCtx *c, const StatsQuery *q, StoreExecutionDay **ret, size_t *ret_n) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return r;
        r = store_execution_days(tx, &q->f, q->bucket, ret, ret_n);
        store_rollback(TAKE_PTR(tx));
        return r;
}

int web_api_stats_daily(WebCtx *c) {
        _cleanup_json_ json_t *body = NULL;
        StatsQuery q;
        if (!stats_query(c, &body, &q))
                return 0;
        StoreExecutionDay *rows = NULL;
        size_t n = 0;
        int r = stats_rows(c, &q, &rows, &n);
        if (r < 0)
                return web_reply_store_error(c, r);
        json_t *days = days_new(&q);
        for (size_t i = 0; days && i < n; i++)
                if (day_add(json_array_get(days, (size_t) ((rows[i].day - q.first_day) / q.bucket)), &rows[i]) < 0)
                        days = (json_decref(days), NULL);
        store_execution_days_free(rows, n);
        return web_reply_json(c, 200, days);
}

int web_api_stats_daily_by_flow(WebCtx *c) {
        _cleanup_json_ json_t *body = NULL;
        StatsQuery q;
        if (!stats_query(c, &body, &q))
                return 0;
        StoreExecutionDay *rows = NULL;
        size_t n = 0;
        int r = stats_rows(c, &q, &rows, &n);
        if (r < 0)
                return web_reply_store_error(c, r);
        /* {namespace: {flowId: [days]}}, for the flows with executions in the range. */
        json_t *out = json_object();
        for (size_t i = 0; out && i < n; i++) {
                json_t *ns = json_object_get(out, rows[i].namespace);
                if (!ns && json_object_set_new(out, rows[i].namespace, ns = json_object()) < 0)
                        ns = NULL;
                json_t *days = ns ? json_object_get(ns, rows[i].flow_id) : NULL;
                if (ns && !days && json_object_set_new(ns, rows[i].flow_id, days = days_new(&q)) < 0)
                        days = NULL;
                if (!days || day_add(json_array_get(days, (size_t) ((rows[i].day - q.first_day) / q.bucket)), &rows[i]) < 0)
                        out = (json_decref(out), NULL);
        }
        store_execution_days_free(rows, n);
        return web_reply_json(c, 200, out);
}

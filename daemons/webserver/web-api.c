/* web-api.c: the REST API's handlers: health, metrics, flows, executions (Kestra's shapes); logs are in web-logs.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "engine.h"
#include "execution-create.h"
#include "execution-files.h"
#include "flow-cache.h"
#include "flow-deps.h"
#include "flow-graph.h"
#include "flow.h"
#include "fd-util.h"
#include "id.h"
#include "json-limits.h"
#include "key.h"
#include "log.h"
#include "flow.h"
#include "state.h"
#include "strbuf.h"
#include "strutil.h"
#include "task-types.h"
#include "timeutil.h"
#include "triggers.h"
#include "web-internal.h"
#include "web-wait.h"

/* ---- health and metrics ---------------------------------------------------------------------- */

static int db_ping(Store *s) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_json_ json_t *v = NULL;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        /* A read that must reach the database (a transaction alone may not). */
        r = store_kv_get(tx, "_tern.health", "ping", now_realtime(), &v);
        return r == -ENOENT ? 0 : r;
}

int web_api_health(WebCtx *c) {
        if (db_ping(c->store) < 0)
                return web_reply_json(c, 503, json_pack("{s:s, s:s}", "status", "DOWN", "message",
                                                         "the database is not reachable"));
        return web_reply_json(c, 200, json_pack("{s:s}", "status", "UP"));
}

/* Creation -> start (first RUNNING) delays of the latest executions, summarized. */
#define METRICS_LATENCY_WINDOW 500
/* An instance silent this long no longer counts as a live worker (liveness.dead-after's default). */
#define METRICS_DEAD_AFTER (30 * USEC_PER_SEC)

static int usec_cmp(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;
        return x < y ? -1 : x > y;
}

static void metrics_counts(StrBuf *sb, const char *name, const char *help, const StoreCount *c, size_t n) {
        strbuf_appendf(sb, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
        for (size_t i = 0; i < n; i++)
                strbuf_appendf(sb, "%s{state=\"%s\"} %lld\n", name, c[i].key, (long long) c[i].n);
}

static void metrics_gauge(StrBuf *sb, const char *name, const char *help, long long v) {
        strbuf_appendf(sb, "# HELP %s %s\n# TYPE %s gauge\n%s %lld\n", name, help, name, name, v);
}

int web_api_metrics(WebCtx *c) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        _cleanup_(store_stats_done) StoreStats st = {};
        _cleanup_free_ usec_t *delays = NULL;
        size_t n_delays = 0;
        bool have_stats = false;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        if (store_begin(c->store, &tx) >= 0) {
                have_stats = store_stats_get(tx, now_realtime(), METRICS_DEAD_AFTER, &st) >= 0;
                if (store_execution_start_delays(tx, METRICS_LATENCY_WINDOW, &delays, &n_delays) < 0)
                        n_delays = 0;
                else
                        qsort(delays, n_delays, sizeof *delays, usec_cmp);
                store_rollback(TAKE_PTR(tx));
        }
        if (have_stats) {
                metrics_counts(&sb, "tern_executions", "Stored executions by current state.", st.executions,
                               st.n_executions);
                metrics_counts(&sb, "tern_task_runs", "Task runs of the stored executions by current state.",
                               st.task_runs, st.n_task_runs);
                metrics_gauge(&sb, "tern_queue_jobs", "Worker jobs queued or running.",
                              (long long) (st.jobs_queued + st.jobs_running));
                strbuf_appendf(&sb, "# HELP tern_queue_jobs_state Worker jobs by state (running: claimed by a worker).\n"
                               "# TYPE tern_queue_jobs_state gauge\n"
                               "tern_queue_jobs_state{state=\"queued\"} %lld\ntern_queue_jobs_state{state=\"running\"} %lld\n",
                               (long long) st.jobs_queued, (long long) st.jobs_running);
                metrics_gauge(&sb, "tern_queue_events", "Execution events not yet applied by an executor.",
                              (long long) st.events_pending);
                metrics_gauge(&sb, "tern_queue_events_due", "Execution events due now and waiting for an executor.",
                              (long long) st.events_due);
                metrics_gauge(&sb, "tern_workers", "Worker instances with a recent heartbeat.", (long long) st.workers);
                if (st.worker_slots >= 0)
                        metrics_gauge(&sb, "tern_worker_slots", "Task slots of the live workers, from their heartbeats.",
                                      (long long) st.worker_slots);
        }
        /* A summary over a window rather than a histogram: the delays are read back from the
         * stored executions, which retention deletes, so cumulative buckets could go down. */
        strbuf_appendf(&sb, "# HELP tern_execution_start_delay_seconds Delay from creation to the first RUNNING state,"
                       " over the latest %d executions.\n# TYPE tern_execution_start_delay_seconds summary\n",
                       METRICS_LATENCY_WINDOW);
        usec_t sum = 0;
        for (size_t i = 0; i < n_delays; i++)
                sum += delays[i];
        static const double quantiles[] = { 0.5, 0.9, 0.99 };
        for (size_t i = 0; i < ELEMENTSOF(quantiles) && n_delays > 0; i++) {
                size_t k = (size_t) (quantiles[i] * (double) (n_delays - 1) + 0.5);
                strbuf_appendf(&sb, "tern_execution_start_delay_seconds{quantile=\"%g\"} %.6f\n", quantiles[i],
                               (double) delays[k] / USEC_PER_SEC);
        }
        strbuf_appendf(&sb, "tern_execution_start_delay_seconds_sum %.6f\ntern_execution_start_delay_seconds_count %zu\n",
                       (double) sum / USEC_PER_SEC, n_delays);
        strbuf_appendf(&sb,
                       "# HELP tern_up Whether the database answers.\n# TYPE tern_up gauge\ntern_up %d\n"
                       "# HELP tern_http_requests_total Requests received.\n# TYPE tern_http_requests_total counter\n"
                       "tern_http_requests_total %llu\n"
                       "# HELP tern_http_errors_total Responses with an error status, by class.\n"
                       "# TYPE tern_http_errors_total counter\n"
                       "tern_http_errors_total{class=\"4xx\"} %llu\ntern_http_errors_total{class=\"5xx\"} %llu\n",
                       db_ping(c->store) == 0, (unsigned long long) c->n_requests, (unsigned long long) c->n_4xx,
                       (unsigned long long) c->n_5xx);
        if (c->storages) {
                size_t idle, busy;
                uint64_t opened;
                web_storage_pool_counts(c->storages, &idle, &busy, &opened);
                strbuf_appendf(&sb,
                               "# HELP tern_storage_handles This webserver's handles on the internal storage: kept "
                               "for the next request, or in use by a request or a download.\n"
                               "# TYPE tern_storage_handles gauge\n"
                               "tern_storage_handles{state=\"idle\"} %zu\ntern_storage_handles{state=\"busy\"} %zu\n"
                               "# HELP tern_storage_handles_opened_total Handles on the internal storage opened.\n"
                               "# TYPE tern_storage_handles_opened_total counter\ntern_storage_handles_opened_total %llu\n",
                               idle, busy, (unsigned long long) opened);
        }
        const char *s = strbuf_str(&sb);
        if (!s)
                return web_reply_error(c, 500, "out of memory");
        return web_reply_text(c, 200, "text/plain; version=0.0.4", s);
}

int web_api_openapi(WebCtx *c) {
        return web_reply_text(c, 200, "application/json", web_openapi_json);
}

/* ---- flows ----------------------------------------------------------------------------------- */

static json_t *diagnostics_json(const FlowDiagnostics *d) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < d->n; i++)
                json_array_append_new(arr, json_pack("{s:i, s:i, s:s}", "line", d->items[i].line, "column",
                                                     d->items[i].column, "message", d->items[i].message));
        return arr;
}

/* Parse the body as a flow; on failure the reply (422 with positioned errors) is already set. */
static int body_flow(WebCtx *c, Flow **ret) {
        _cleanup_flow_diagnostics_ FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
        if (c->body_len == 0)
                return web_reply_error(c, 422, "the request body must be a flow's YAML source"), -EINVAL;
        if (memchr(c->body, 0, c->body_len))
                return web_reply_error(c, 422, "the flow source contains a NUL byte"), -EINVAL;
        int r = flow_load_string(c->body, c->body_len, "flow.yaml", ret, &d);
        if (r == FLOW_INVALID) {
                flow_diagnostics_sort(&d);
                web_reply_json(c, 422, json_pack("{s:s, s:o}", "message", "the flow is not valid", "errors",
                                                 diagnostics_json(&d)));
                return -EINVAL;
        }
        if (r < 0)
                return web_reply_error(c, 500, "the flow could not be read"), r;
        return 0;
}

typedef struct FlowStore {
        const Flow *f;
        bool must_exist;
        bool put;      /* an earlier run put it: after an in-doubt commit, the flow may be there now */
        StoreFlow cur; /* the revision stored */
} FlowStore;

/* Rerun safely: the same source again is no new revision (STORE_UNCHANGED). */
static int flow_store_tx(StoreTx *tx, void *userdata) {
        FlowStore *fs = userdata;
        StoreFlow old = {};
        int rev, r = store_flow_get(tx, fs->f->namespace, fs->f->id, 0, &old);
        bool existed = r == 0;
        store_flow_done(&old);
        store_flow_done(&fs->cur);
        if (r < 0 && r != -ENOENT)
                return r;
        /* Told apart from the store's errors by the caller: -ENOENT, -EEXIST. */
        if (fs->must_exist && !existed)
                return -ENOENT;
        if (!fs->must_exist && existed && !fs->put)
                return -EEXIST;
        if ((r = store_flow_put(tx, fs->f->namespace, fs->f->id, fs->f->source, now_realtime(), &rev)) < 0)
                return r;
        fs->put = true;
        return store_flow_get(tx, fs->f->namespace, fs->f->id, rev, &fs->cur);
}

static int flow_store(WebCtx *c, const Flow *f, bool must_exist) {
        FlowStore fs = { .f = f, .must_exist = must_exist };
        int r = store_transact(c->store, flow_store_tx, &fs);
        if (r == -ENOENT)
                web_reply_error(c, 404, "no flow '%s' in namespace '%s'", f->id, f->namespace);
        else if (r == -EEXIST)
                web_reply_error(c, 409, "flow '%s' already exists in namespace '%s': update it with PUT", f->id,
                                f->namespace);
        else if (r < 0)
                web_reply_store_error(c, r);
        else
                web_reply_json(c, 200, api_flow_json(&fs.cur, true));
        store_flow_done(&fs.cur);
        return 0;
}

int web_api_flow_create(WebCtx *c) {
        _cleanup_flow_ Flow *f = NULL;
        if (body_flow(c, &f) < 0)
                return 0;
        return flow_store(c, f, false);
}

int web_api_flow_update(WebCtx *c) {
        _cleanup_flow_ Flow *f = NULL;
        if (body_flow(c, &f) < 0)
                return 0;
        if (!streq(f->namespace, c->params[0]) || !streq(f->id, c->params[1]))
                return web_reply_error(c, 422, "the flow's namespace and id (%s.%s) differ from the path's (%s.%s)",
                                       f->namespace, f->id, c->params[0], c->params[1]);
        return flow_store(c, f, true);
}

/* ---- enable and disable by ids (Kestra's POST /api/v1/flows/{enable,disable}/by-ids) -------- */

typedef struct FlowsToggle {
        json_t *ids; /* [{namespace, id}] */
        bool disabled;
        size_t count;          /* flows whose source changed */
        const char *bad_ns, *bad_id; /* the flow that was missing, or whose source could not be changed */
        bool invalid;
} FlowsToggle;

static int flows_toggle_tx(StoreTx *tx, void *userdata) {
        FlowsToggle *t = userdata;
        size_t i;
        json_t *one;
        t->count = 0;
        json_array_foreach(t->ids, i, one) {
                const char *ns = json_string_value(json_object_get(one, "namespace"));
                const char *id = json_string_value(json_object_get(one, "id"));
                StoreFlow f = {};
                int r = store_flow_get(tx, ns, id, 0, &f);
                if (r == -ENOENT)
                        t->bad_ns = ns, t->bad_id = id;
                if (r < 0)
                        return r;
                _cleanup_free_ char *src = api_flow_source_set_disabled(f.source, t->disabled);
                bool same = src && streq(src, f.source);
                store_flow_done(&f);
                if (!src)
                        return -ENOMEM;
                if (same)
                        continue;
                /* What is stored must parse and say what was asked (a flow-style document, say, has
                 * no "disabled:" line to change). */
                _cleanup_flow_ Flow *parsed = NULL;
                _cleanup_flow_diagnostics_ FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
                r = flow_load_string(src, strlen(src), "flow.yaml", &parsed, &d);
                if (r < 0)
                        return r;
                if (r == FLOW_INVALID || parsed->disabled != t->disabled) {
                        t->bad_ns = ns, t->bad_id = id, t->invalid = true;
                        return -EBADMSG;
                }
                int rev;
                if ((r = store_flow_put(tx, ns, id, src, now_realtime(), &rev)) < 0)
                        return r;
                t->count++;
        }
        return 0;
}

static int flows_toggle(WebCtx *c, bool disabled) {
        _cleanup_json_ json_t *body = json_loadb(c->body, c->body_len, 0, NULL);
        size_t i;
        json_t *one;
        if (!json_is_array(body) || json_array_size(body) == 0)
                return web_reply_error(c, 400, "the body must be a list of flows: [{\"namespace\": ..., \"id\": ...}]");
        /* All in one write transaction, each flow parsed: bounded as the other bulk routes are. */
        if (json_array_size(body) > 1000)
                return web_reply_error(c, 400, "at most 1000 flows at once (%zu given)", json_array_size(body));
        json_array_foreach(body, i, one)
                if (!json_is_string(json_object_get(one, "namespace")) || !json_is_string(json_object_get(one, "id")))
                        return web_reply_error(c, 400, "flow %zu of the list has no namespace or id (strings)", i + 1);
        FlowsToggle t = { .ids = body, .disabled = disabled };
        int r = store_transact(c->store, flows_toggle_tx, &t);
        if (r == -ENOENT && t.bad_id)
                return web_reply_error(c, 404, "no flow '%s' in namespace '%s'; nothing was changed", t.bad_id, t.bad_ns);
        if (r == -EBADMSG && t.invalid)
                return web_reply_error(c, 422, "flow '%s' in namespace '%s': its source has no top-level line "
                                       "'disabled:' that could be set; nothing was changed", t.bad_id, t.bad_ns);
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, json_pack("{s:I}", "count", (json_int_t) t.count));
}

int web_api_flows_disable(WebCtx *c) {
        return flows_toggle(c, true);
}

int web_api_flows_enable(WebCtx *c) {
        return flows_toggle(c, false);
}

static bool wants_yaml(WebCtx *c) {
        const char *accept = web_header(c, "Accept");
        return accept && (strstr(accept, "application/x-yaml") || strstr(accept, "application/yaml"));
}

int web_api_flow_get(WebCtx *c) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        StoreFlow f = {};
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        r = store_flow_get(tx, c->params[0], c->params[1], 0, &f);
        store_rollback(TAKE_PTR(tx));
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no flow '%s' in namespace '%s'", c->params[1], c->params[0]);
        if (r < 0)
                return web_reply_store_error(c, r);
        if (wants_yaml(c))
                web_reply_text(c, 200, "application/x-yaml", f.source);
        else
                web_reply_json(c, 200, api_flow_json(&f, true));
        store_flow_done(&f);
        return 0;
}

/* GET /api/v1/flows/{ns}/{id}/graph[?revision=N]: the flow's topology, Kestra's FlowGraph. */
int web_api_flow_graph(WebCtx *c) {
        const char *rev = web_query(c, "revision");
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_api_flow_ ApiFlow *af = NULL;
        int revision = 0;
        if (rev && (safe_atoi(rev, &revision) < 0 || revision < 1))
                return web_reply_error(c, 400, "revision '%s' is not a positive number", rev);
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        r = api_flow_load(c->flows, tx, c->params[0], c->params[1], revision, &af);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no flow '%s' in namespace '%s'%s%s", c->params[1], c->params[0],
                                       rev ? " at revision " : "", strempty(rev));
        if (r == -EBADMSG)
                return web_reply_error(c, 422, "flow '%s' of namespace '%s' does not validate: no topology", c->params[1],
                                       c->params[0]);
        if (r < 0)
                return web_reply_store_error(c, r);
        return web_reply_json(c, 200, api_flow_graph(af->flow));
}

/* The dependency graph of the flow ns.id (its own links, or expanded), or of the namespace ns when id
 * is NULL (lib/api/flow-deps.h), among every stored flow. */
static int dependencies_reply(WebCtx *c, const char *ns, const char *id, bool expand_all) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        StoreFlow *rows = NULL;
        size_t n = 0, n_flows = 0;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        if (id) {
                _cleanup_api_flow_ ApiFlow *self = NULL; /* that it exists (valid or not) */
                r = api_flow_load(c->flows, tx, ns, id, 0, &self);
                if (r == -ENOENT)
                        return web_reply_error(c, 404, "no flow '%s' in namespace '%s'", id, ns);
                if (r < 0 && r != -EBADMSG)
                        return web_reply_store_error(c, r);
        }
        if ((r = store_flow_list(tx, NULL, &rows, &n)) < 0)
                return web_reply_store_error(c, r);
        store_rollback(TAKE_PTR(tx));
        ApiFlow **loaded = calloc(n ? n : 1, sizeof *loaded);
        const Flow **flows = calloc(n ? n : 1, sizeof *flows);
        json_t *graph = NULL;
        if (loaded && flows) {
                /* A stored flow that does not validate any more names nothing this can follow. */
                for (size_t i = 0; i < n; i++)
                        if (api_flow_from_store(c->flows, &rows[i], &loaded[n_flows]) == 0) {
                                flows[n_flows] = loaded[n_flows]->flow;
                                n_flows++;
                        }
                graph = id ? api_flow_dependencies(flows, n_flows, ns, id, expand_all)
                           : api_namespace_dependencies(flows, n_flows, ns);
        }
        for (size_t i = 0; loaded && i < n_flows; i++)
                api_flow_unref(loaded[i]);
        free(loaded);
        free(flows);
        store_flows_free(rows, n);
        return web_reply_json(c, 200, graph);
}

/* Kestra's GET /api/v1/flows/{namespace}/{id}/dependencies?expandAll=: the subflows it calls, the
 * flows it triggers and those that trigger it. */
int web_api_flow_dependencies(WebCtx *c) {
        const char *expand = web_query(c, "expandAll");
        if (expand && !streq(expand, "true") && !streq(expand, "false"))
                return web_reply_error(c, 400, "expandAll '%s' is not true or false", expand);
        return dependencies_reply(c, c->params[0], c->params[1], expand && streq(expand, "true"));
}

/* Kestra's GET /api/v1/namespaces/{namespace}/dependencies: the flows of the namespace (and below)
 * and their links. Kestra takes destinationOnly and does nothing with it; so does this. */
int web_api_namespace_dependencies(WebCtx *c) {
        const char *dest = web_query(c, "destinationOnly");
        if (dest && !streq(dest, "true") && !streq(dest, "false"))
                return web_reply_error(c, 400, "destinationOnly '%s' is not true or false", dest);
        return dependencies_reply(c, c->params[0], NULL, false);
}

int web_api_flow_revisions(WebCtx *c) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        StoreFlow *flows = NULL;
        size_t n = 0;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        r = store_flow_revisions(tx, c->params[0], c->params[1], &flows, &n);
        store_rollback(TAKE_PTR(tx));
        if (r < 0 && r != -ENOENT)
                return web_reply_store_error(c, r);
        if (r == -ENOENT || n == 0)
                return web_reply_error(c, 404, "no flow '%s' in namespace '%s'", c->params[1], c->params[0]);
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++)
                json_array_append_new(arr, api_flow_json(&flows[i], true));
        store_flows_free(flows, n);
        return web_reply_json(c, 200, arr);
}

int web_api_flow_delete(WebCtx *c) {
        int r = api_flow_delete(c->store, c->params[0], c->params[1]);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no flow '%s' in namespace '%s'", c->params[1], c->params[0]);
        if (r < 0)
                return web_reply_store_error(c, r);
        c->status = 204;
        c->content_type = NULL;
        return 0;
}

static int flow_list(WebCtx *c, const char *ns_prefix, bool exact_ns) {
        size_t offset, limit;
        if (web_paging(c, 25, &offset, &limit) < 0)
                return 0;
        const char *q = web_query(c, "q");
        _cleanup_store_tx_ StoreTx *tx = NULL;
        StoreFlow *flows = NULL;
        size_t n = 0;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        r = store_flow_list(tx, ns_prefix, &flows, &n);
        store_rollback(TAKE_PTR(tx));
        if (r < 0)
                return web_reply_store_error(c, r);
        json_t *results = json_array();
        size_t total = 0;
        for (size_t i = 0; i < n; i++) {
                if (exact_ns && !streq(flows[i].namespace, ns_prefix))
                        continue;
                if (q && !strcasestr(flows[i].id, q) && !strcasestr(flows[i].namespace, q))
                        continue;
                if (total >= offset && total < offset + limit)
                        json_array_append_new(results, api_flow_json(&flows[i], false));
                total++;
        }
        store_flows_free(flows, n);
        if (exact_ns)
                return web_reply_json(c, 200, results);
        return web_reply_json(c, 200, json_pack("{s:o, s:I}", "results", results, "total", (json_int_t) total));
}

int web_api_flow_search(WebCtx *c) {
        return flow_list(c, web_query(c, "namespace"), false);
}

int web_api_flow_list_namespace(WebCtx *c) {
        return flow_list(c, c->params[0], true);
}

/* The documents of a multi-document YAML body, split on "---" lines; a strv. */
static char **split_documents(const char *body) {
        char **docs = NULL;
        _cleanup_strbuf_ StrBuf cur = STRBUF_INIT;
        const char *p = body;
        while (*p) {
                size_t len = strcspn(p, "\n");
                bool sep = len >= 3 && strncmp(p, "---", 3) == 0 && strspn(p + 3, " \t\r") == len - 3;
                if (sep) {
                        if (cur.len && strv_extend(&docs, strbuf_str(&cur)) < 0)
                                return strv_free(docs);
                        strbuf_truncate(&cur, 0);
                } else
                        strbuf_append_n(&cur, p, len + (p[len] == '\n'));
                p += len + (p[len] == '\n');
        }
        if (cur.error || (cur.len && strspn(strbuf_str(&cur), " \t\r\n") < cur.len && strv_extend(&docs, strbuf_str(&cur)) < 0))
                return strv_free(docs);
        if (!docs)
                docs = calloc(1, sizeof(char *));
        return docs;
}

typedef struct NamespaceUpdate {
        const char *ns;
        Flow **flows;
        size_t n;
        bool delete_missing;
        usec_t now;
        json_t *result;
} NamespaceUpdate;

/* Rerun safely (store_transact()): the same source again is no new revision, and a flow deleted by
 * an earlier attempt is not listed any more. */
static int namespace_update_tx(StoreTx *tx, void *userdata) {
        NamespaceUpdate *u = userdata;
        StoreFlow *existing = NULL;
        size_t n_existing = 0;
        int r;

        json_decref(u->result);
        if (!(u->result = json_array()))
                return -ENOMEM;
        for (size_t i = 0; i < u->n; i++) {
                int rev;
                StoreFlow cur = {};
                if ((r = store_flow_put(tx, u->ns, u->flows[i]->id, u->flows[i]->source, u->now, &rev)) < 0 ||
                    (r = store_flow_get(tx, u->ns, u->flows[i]->id, rev, &cur)) < 0)
                        return r;
                json_array_append_new(u->result, api_flow_json(&cur, false));
                store_flow_done(&cur);
        }
        if (!u->delete_missing)
                return 0;
        if ((r = store_flow_list(tx, u->ns, &existing, &n_existing)) < 0)
                return r;
        for (size_t i = 0; i < n_existing && r >= 0; i++) {
                bool keep = !streq(existing[i].namespace, u->ns);
                for (size_t j = 0; j < u->n && !keep; j++)
                        keep = streq(existing[i].id, u->flows[j]->id);
                if (!keep)
                        r = store_flow_delete(tx, u->ns, existing[i].id, u->now);
        }
        store_flows_free(existing, n_existing);
        return r < 0 ? r : 0;
}

/* POST /api/v1/flows/{namespace}: make the namespace hold exactly these flows (?delete=false keeps
 * the others): every document is validated first, then all are stored in one transaction. */
int web_api_flow_namespace_update(WebCtx *c) {
        const char *ns = c->params[0], *del = web_query(c, "delete");
        bool delete_missing = !del || !streq(del, "false");
        if (memchr(c->body, 0, c->body_len))
                return web_reply_error(c, 422, "the flow source contains a NUL byte");
        _cleanup_strv_free_ char **docs = split_documents(c->body);
        if (!docs)
                return web_reply_error(c, 500, "out of memory");
        size_t n = strv_length(docs);
        _cleanup_free_ Flow **flows = calloc(n + 1, sizeof(Flow *));
        _cleanup_json_ json_t *problems = json_array();
        if (!flows || !problems)
                return web_reply_error(c, 500, "out of memory");
        int r = 0;
        for (size_t i = 0; i < n; i++) {
                _cleanup_flow_diagnostics_ FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
                r = flow_load_string(docs[i], strlen(docs[i]), "flow.yaml", &flows[i], &d);
                if (r == 0 && !streq(flows[i]->namespace, ns))
                        flow_diagnostics_add(&d, NULL, 0, 0, "namespace '%s' is not '%s'", flows[i]->namespace, ns);
                for (size_t j = 0; j < i && r == 0; j++)
                        if (flows[j] && streq(flows[j]->id, flows[i]->id))
                                flow_diagnostics_add(&d, NULL, 0, 0, "flow '%s' appears twice", flows[i]->id);
                if (d.n) {
                        flow_diagnostics_sort(&d);
                        json_array_append_new(problems, json_pack("{s:I, s:o}", "index", (json_int_t) i, "errors",
                                                                  diagnostics_json(&d)));
                } else if (r < 0)
                        break;
        }
        if (r < 0 && r != FLOW_INVALID) {
                web_reply_error(c, 500, "the flows could not be read");
                goto done;
        }
        if (json_array_size(problems) > 0) {
                web_reply_json(c, 422, json_pack("{s:s, s:O}", "message", "some flows are not valid; nothing was changed",
                                                 "errors", problems));
                goto done;
        }
        NamespaceUpdate u = { .ns = ns, .flows = flows, .n = n, .delete_missing = delete_missing, .now = now_realtime() };
        r = store_transact(c->store, namespace_update_tx, &u);
        if (r < 0)
                web_reply_store_error(c, r);
        else
                web_reply_json(c, 200, TAKE_PTR(u.result));
        json_decref(u.result);
done:
        for (size_t i = 0; i < n; i++)
                flow_free(flows[i]);
        return 0;
}

int web_api_flow_validate(WebCtx *c) {
        _cleanup_flow_diagnostics_ FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
        _cleanup_flow_ Flow *f = NULL;
        if (memchr(c->body, 0, c->body_len))
                return web_reply_error(c, 422, "the flow source contains a NUL byte");
        int r = flow_load_string(c->body, c->body_len, "flow.yaml", &f, &d);
        if (r < 0 && r != FLOW_INVALID)
                return web_reply_error(c, 500, "the flow could not be read");
        flow_diagnostics_sort(&d);
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        for (size_t i = 0; i < d.n; i++)
                strbuf_appendf(&sb, "%s%u:%u: %s", i ? "\n" : "", d.items[i].line, d.items[i].column, d.items[i].message);
        json_t *one = json_pack("{s:i, s:b, s:o}", "index", 0, "valid", r == 0, "errors", diagnostics_json(&d));
        if (one && f) {
                json_object_set_new(one, "namespace", json_string(f->namespace));
                json_object_set_new(one, "flow", json_string(f->id));
        }
        if (one && d.n)
                json_object_set_new(one, "constraints", json_string(strbuf_str(&sb)));
        return web_reply_json(c, 200, json_pack("[o]", one));
}

/* Kestra's POST /api/v1/flows/validate/task and /validate/trigger: one task's (or trigger's) YAML,
 * checked as it would be in a flow: put in a flow of its own (indented under its list), the
 * errors given back on the body's lines. */
#define VALIDATE_ONE_MAX (1u << 20)

static int validate_one(WebCtx *c, bool trigger) {
        static const char head_task[] = "id: validate\nnamespace: validate\ntasks:\n  -\n";
        static const char head_trigger[] = "id: validate\nnamespace: validate\ntasks:\n  - id: tern_validate_placeholder\n"
                                           "    type: io.kestra.plugin.core.log.Log\n    message: validate\ntriggers:\n  -\n";
        const char *head = trigger ? head_trigger : head_task, *what = trigger ? "trigger" : "task";
        unsigned offset = trigger ? 8 : 4;
        _cleanup_flow_diagnostics_ FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
        _cleanup_flow_ Flow *f = NULL;
        _cleanup_strbuf_ StrBuf src = STRBUF_INIT, sb = STRBUF_INIT;

        if (c->body_len == 0 || strspn(c->body, " \t\r\n") == c->body_len)
                return web_reply_error(c, 400, "the request body must be a %s's YAML (a mapping with id and type)", what);
        if (memchr(c->body, 0, c->body_len))
                return web_reply_error(c, 400, "the %s's YAML contains a NUL byte", what);
        if (c->body_len > VALIDATE_ONE_MAX)
                return web_reply_error(c, 413, "the %s's YAML is more than %u bytes", what, VALIDATE_ONE_MAX);
        /* Each line four spaces in: the body's own indentation stays as it was, under the "-". */
        strbuf_append(&src, head);
        for (const char *p = c->body; *p;) {
                size_t n = strcspn(p, "\n");
                strbuf_appendf(&src, "    %.*s\n", (int) n, p);
                p += n + (p[n] == '\n');
        }
        if (src.error)
                return web_reply_error(c, 500, "out of memory");
        int r = flow_load_string(src.buf, src.len, "flow.yaml", &f, &d);
        if (r < 0 && r != FLOW_INVALID)
                return web_reply_error(c, 500, "the %s could not be read", what);
        flow_diagnostics_sort(&d);
        _cleanup_json_ json_t *errors = json_array();
        if (!errors)
                return web_reply_error(c, 500, "out of memory");
        for (size_t i = 0; i < d.n; i++) {
                /* An error about the wrapping (the body is no mapping) is the body's first line. */
                unsigned line = d.items[i].line > offset ? d.items[i].line - offset : 1;
                unsigned col = d.items[i].line > offset && d.items[i].column > 4 ? d.items[i].column - 4 : 1;
                json_array_append_new(errors, json_pack("{s:i, s:i, s:s}", "line", line, "column", col, "message",
                                                        d.items[i].message));
                strbuf_appendf(&sb, "%s%u:%u: %s", i ? "\n" : "", line, col, d.items[i].message);
        }
        json_t *one = json_pack("{s:b, s:O}", "valid", r == 0, "errors", errors);
        if (one && d.n)
                json_object_set_new(one, "constraints", json_string(strbuf_str(&sb)));
        return web_reply_json(c, 200, one);
}

int web_api_flow_validate_task(WebCtx *c) {
        return validate_one(c, false);
}

int web_api_flow_validate_trigger(WebCtx *c) {
        return validate_one(c, true);
}

/* ---- executions ------------------------------------------------------------------------------ */

static int hexval(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

static char *form_decode(const char *s, size_t n) {
        char *out = malloc(n + 1);
        size_t o = 0;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '+')
                        out[o++] = ' ';
                else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 && hexval(s[i + 2]) >= 0) {
                        out[o++] = (char) (hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
                        i += 2;
                } else
                        out[o++] = s[i];
        }
        out[o] = 0;
        return out;
}

/* The inputs of a request: a JSON object, or form fields (application/x-www-form-urlencoded).
 * NULL with the reply set when the body is malformed. */
static json_t *body_inputs(WebCtx *c) {
        const char *ct = web_header(c, "Content-Type");
        if (c->form_fields) /* multipart/form-data, parsed as it arrived */
                return json_deep_copy(c->form_fields);
        if (c->body_len == 0)
                return json_object();
        if (ct && startswith(ct, "application/x-www-form-urlencoded")) {
                json_t *o = json_object();
                const char *p = c->body;
                while (o && *p) {
                        size_t len = strcspn(p, "&");
                        const char *eq = memchr(p, '=', len);
                        _cleanup_free_ char *k = form_decode(p, eq ? (size_t) (eq - p) : len);
                        _cleanup_free_ char *v = eq ? form_decode(eq + 1, len - (size_t) (eq - p) - 1) : strdup("");
                        if (!k || !v) {
                                json_decref(o);
                                return web_reply_error(c, 500, "out of memory"), NULL;
                        }
                        if (*k)
                                json_object_set_new(o, k, json_string(v));
                        p += len;
                        if (*p == '&')
                                p++;
                }
                return o;
        }
        if (ct && !startswith(ct, "application/json"))
                return web_reply_error(c, 415, "inputs must be sent as application/json or form fields"), NULL;
        json_error_t err;
        json_t *j = json_loadb(c->body, c->body_len, JSON_REJECT_DUPLICATES, &err);
        if (!j)
                return web_reply_error(c, 400, "malformed JSON at line %d, column %d: %s", err.line, err.column, err.text), NULL;
        if (!json_is_object(j)) {
                json_decref(j);
                return web_reply_error(c, 400, "the inputs must be a JSON object"), NULL;
        }
        _cleanup_free_ char *why = NULL;
        if (json_value_check(j, "the inputs", &why) < 0) {
                json_decref(j);
                return web_reply_error(c, 422, "%s", why ? why : "the inputs are too deep or too large"), NULL;
        }
        return j;
}

typedef struct LabelsCollect {
        json_t *labels;
        const char *bad;       /* not KEY:VALUE */
        char *reserved;        /* a system label the caller may not set */
        bool webhook;
} LabelsCollect;

static enum MHD_Result add_label(void *cls, enum MHD_ValueKind kind, const char *key, const char *value) {
        LabelsCollect *lc = cls;
        (void) kind;
        if (!key || !streq(key, "labels"))
                return MHD_YES;
        const char *colon = value ? strchr(value, ':') : NULL;
        if (!colon || colon == value) {
                lc->bad = value ? value : "";
                return MHD_NO;
        }
        if (!lc->labels && !(lc->labels = json_object()))
                return MHD_NO;
        _cleanup_free_ char *k = strndup(value, (size_t) (colon - value));
        if (!k)
                return MHD_NO;
        /* system.* labels are tern's own (system.backfill, system.correlationId); as in Kestra, an
         * API caller may only name the execution's correlation, and an anonymous caller nothing. */
        if (startswith(k, "system.") && (lc->webhook || !streq(k, "system.correlationId"))) {
                lc->reserved = TAKE_PTR(k);
                return MHD_NO;
        }
        if (json_object_set_new(lc->labels, k, json_string(colon + 1)) < 0)
                return MHD_NO;
        return MHD_YES;
}

/* Kestra's ?labels=key:value (repeatable): NULL when none (the flow's labels apply). -EINVAL with
 * the reply set when one is malformed or reserved (400 for a webhook, Kestra's 422 for the API). */
static int query_labels(WebCtx *c, bool webhook, json_t **ret) {
        LabelsCollect lc = { .webhook = webhook };
        MHD_get_connection_values(c->con, MHD_GET_ARGUMENT_KIND, add_label, &lc);
        if (lc.bad || lc.reserved) {
                json_decref(lc.labels);
                _cleanup_free_ char *reserved = lc.reserved;
                if (reserved)
                        return web_reply_error(c, webhook ? 400 : 422,
                                               "label '%s' is reserved: system labels can only be set by tern itself",
                                               reserved), -EINVAL;
                return web_reply_error(c, 400, "label '%s' must be KEY:VALUE", lc.bad), -EINVAL;
        }
        *ret = lc.labels;
        return 0;
}

/* Stream the uploaded files into internal storage as the FILE inputs of execution exec_id; their
 * URIs become the inputs' values and go to *stored. On failure the reply is set. */
static int form_files_store(WebCtx *c, const Flow *f, const char *exec_id, json_t *inputs, char ***stored) {
        const char *k;
        json_t *v;
        Storage *storage;
        int r;
        json_object_foreach(c->form_files, k, v) {
                const FlowInput *in = flow_find_input(f, k);
                if (!in || in->type != FLOW_INPUT_FILE)
                        return web_reply_error(c, 422, "invalid inputs: '%s' is not a FILE input of the flow", k), -EINVAL;
                if ((r = web_storage(c, &storage)) < 0)
                        return web_reply_error(c, 500, "the internal storage cannot be used"), r;
                _cleanup_close_ int fd = open(json_string_value(json_object_get(v, "path")), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
                if (fd < 0)
                        return web_reply_error(c, 500, "the uploaded file '%s' could not be stored", k), -errno;
                _cleanup_free_ char *uri = NULL;
                r = api_file_input_put(storage, f, exec_id, k, json_string_value(json_object_get(v, "filename")), fd, &uri);
                if (r == -EINVAL)
                        return web_reply_error(c, 422, "invalid inputs: '%s' cannot name a file", k), r;
                if (r < 0) {
                        log_warning("webserver: cannot store input '%s': %s", k,
                                    r == -ENOMEM ? strerror(-r) : storage_error(storage));
                        return web_reply_error(c, 500, "the uploaded file '%s' could not be stored", k), r;
                }
                if (json_object_set_new(inputs, k, json_string(uri)) < 0 || strv_extend(stored, uri) < 0)
                        return web_reply_error(c, 500, "out of memory"), -ENOMEM;
        }
        return 0;
}

/* The files a request stored for an execution (FILE inputs, a webhook's parts or body): deleted
 * when it goes out of scope unless taken, so that no refusal leaves any behind. */
typedef struct StoredFiles {
        WebCtx *c;
        char **uris;
} StoredFiles;

static void stored_files_undo(StoredFiles *sf) {
        Storage *storage;
        if (sf->uris && web_storage(sf->c, &storage) >= 0)
                for (char **u = sf->uris; *u; u++) {
                        _cleanup_free_ char *key = NULL;
                        if (storage_key_from_uri(*u, &key, NULL) >= 0 && storage_delete(storage, key) < 0)
                                log_warning("webserver: cannot delete '%s': %s", key, storage_error(storage));
                }
        sf->uris = strv_free(sf->uris);
}

/* Create an execution of ns.flow_id (webhook key: only through that flow's Webhook trigger), and
 * wait for its end when asked (?wait=true on the API, the trigger's own wait for a webhook). */
static int execution_start(WebCtx *c, const char *ns, const char *flow_id, const char *webhook_key) {
        _cleanup_json_ json_t *inputs = NULL, *doc = NULL, *labels = NULL, *trigger = NULL, *vars = NULL;
        _cleanup_free_ char *err = NULL;
        _cleanup_api_flow_ ApiFlow *af = NULL;
        _cleanup_(web_wait_slot_release) WebWaitSlot slot = {};
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_(stored_files_undo) StoredFiles stored = { .c = c };
        const Trigger *hook = NULL;
        const Flow *f = NULL;
        char id[ID_MAX];
        bool wait;
        int r;

        /* What is wrong with the request itself is answered before the flow is read: the same
         * answer whether or not it exists. */
        if (query_labels(c, webhook_key != NULL, &labels) < 0)
                return 0;
        if (webhook_key && (r = web_webhook_variables(c, &vars)) < 0)
                return r == -ENOMEM ? web_reply_error(c, 500, "out of memory")
                                    : web_reply_error(c, 413, "the webhook's body is too large");
        if ((r = store_begin(c->store, &tx)) < 0)
                return web_reply_store_error(c, r);
        r = api_flow_load(c->flows, tx, ns, flow_id, 0, &af);
        f = r == 0 ? af->flow : NULL;
        if (webhook_key) {
                if (r < 0 && r != -ENOENT && r != -EBADMSG)
                        return web_reply_store_error(c, r);
                /* Disabled by hand or by stopAfter: as if there were none. */
                hook = r == 0 && !f->disabled ? web_webhook_find(f, webhook_key) : NULL;
                if (hook && (r = api_webhook_enabled(tx, ns, flow_id, hook->id)) <= 0) {
                        if (r < 0)
                                return web_reply_store_error(c, r);
                        hook = NULL;
                }
                /* One answer for a wrong key and for a missing, invalid or disabled flow or
                 * trigger: the key is the secret, and what the namespace holds is not the caller's
                 * business. */
                if (!hook)
                        return web_reply_error(c, 404, "no webhook here");
        } else if (r < 0)
                return r == -ENOENT    ? web_reply_error(c, 404, "no flow '%s' in namespace '%s'", flow_id, ns)
                       : r == -EBADMSG ? web_reply_error(c, 422, "flow '%s.%s' is not valid", ns, flow_id)
                                       : web_reply_store_error(c, r);
        /* The trigger's author decides, not the (anonymous) caller. */
        if (hook)
                wait = web_webhook_property(hook, "wait");
        else {
                if (!(inputs = body_inputs(c)))
                        return 0;
                const char *w = web_query(c, "wait");
                wait = w && streq(w, "true");
        }
        /* What was read stays valid; the execution is stored by a transaction of its own, which
         * is rerun when the connection is lost (a failover). */
        store_rollback(TAKE_PTR(tx));
        /* Taken before anything is created, so that a refusal leaves nothing behind. */
        if (wait && web_wait_take(c, &slot) < 0)
                return web_reply_error(c, 429, "too many requests from this client are waiting for an execution's end;"
                                       " try again later");
        /* The id first: uploaded files go under it. */
        if ((r = id_new(id)) < 0)
                return web_reply_error(c, 500, "cannot draw an execution id");
        if (hook) {
                /* Before the inputs are rendered: they may name the files' URIs. */
                if (web_webhook_store(c, f, hook, id, vars, &stored.uris) < 0)
                        return 0; /* replied */
                trigger = json_pack("{s:s, s:s, s:O}", "id", hook->id, "type", hook->type, "variables", vars);
                if (!trigger)
                        return web_reply_error(c, 500, "out of memory");
                /* Refused before anything is rendered or created (json-limits.h); what was stored goes. */
                if (json_value_check(json_object_get(json_object_get(trigger, "variables"), "body"), "the webhook body",
                                     &err) < 0)
                        return web_reply_error(c, 422, "%s", err ? err : "the webhook body is too deep or too large");
                /* Its inputs may use {{ trigger.body... }}, {{ trigger.headers... }}, {{ trigger.parameters... }}. */
                r = api_webhook_inputs(f, hook, vars, NULL, now_realtime(), &inputs, &err);
                if (r < 0)
                        return r == -ENOMEM ? web_reply_error(c, 500, "out of memory")
                                            : web_reply_error(c, 422, "cannot render the webhook's inputs: %s",
                                                              err ? err : strerror(-r));
        } else if (c->form_files && form_files_store(c, f, id, inputs, &stored.uris) < 0)
                return 0; /* replied */
        ApiExecutionNew n = { .id = id, .inputs = inputs, .labels = labels, .trigger = trigger };
        r = web_execution_submit(c, f, &n, &doc, &err);
        if (r >= 0)
                stored.uris = strv_free(stored.uris); /* the execution names them now */
        if (r < 0) {
                /* Kestra's answer to starting a disabled flow: 409. */
                return r == -EINVAL  ? web_reply_error(c, 422, "invalid inputs: %s", err ? err : "out of memory")
                       : r == -EPERM ? web_reply_error(c, 409, "cannot execute disabled flow '%s' in namespace '%s'",
                                                       flow_id, ns)
                       : r == -E2BIG ? web_reply_error(c, 422, "%s", err ? err : "a value is too deep or too large")
                       : r == -ECOMM ? web_reply_queue_error(c, err ? err : "Kafka did not take the event")
                                     : web_reply_store_error(c, r);
        }
        int ended = 0;
        if (wait && (ended = web_wait_execution(c, id, &doc)) < 0)
                return web_reply_store_error(c, ended);
        if (hook)
                return web_webhook_reply(c, hook, doc, wait, ended > 0);
        api_execution_strip(doc);
        return web_reply_json(c, 200, json_incref(doc));
}

int web_api_execution_create(WebCtx *c) {
        return execution_start(c, c->params[0], c->params[1], NULL);
}

int web_api_webhook(WebCtx *c) {
        /* HEAD is served by GET routes, but a HEAD must not start anything. */
        if (streq(c->method, "HEAD"))
                return web_reply_error(c, 405, "a webhook is called with GET, POST or PUT");
        return execution_start(c, c->params[0], c->params[1], c->params[2]);
}

int web_api_execution_get(WebCtx *c) {
        json_t *doc = NULL;
        int r = api_execution_get(c->store, c->params[0], &doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", c->params[0]);
        if (r < 0)
                return web_reply_store_error(c, r);
        api_execution_strip(doc);
        return web_reply_json(c, 200, doc);
}

typedef struct ExecutionDelete {
        const char *id;
        unsigned attempts;
} ExecutionDelete;

static int execution_delete_tx(StoreTx *tx, void *userdata) {
        ExecutionDelete *d = userdata;
        bool rerun = d->attempts++ > 0;
        int r = store_execution_delete(tx, d->id);
        /* Gone on a rerun: deleted by an earlier attempt whose COMMIT went through unanswered. */
        return r == -ENOENT && rerun ? 0 : r;
}

int web_api_execution_delete(WebCtx *c) {
        const char *id = c->params[0];
        _cleanup_json_ json_t *doc = NULL;
        int r = api_execution_get(c->store, id, &doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", id);
        if (r < 0)
                return web_reply_store_error(c, r);
        /* A running one still has jobs and events in flight: kill it first. */
        State st = api_execution_state(doc);
        if (!state_is_terminal(st))
                return web_reply_error(c, 409, "execution %s is %s; only ended executions can be deleted (kill it first)",
                                       id, state_to_string(st));
        /* Its files first: a failure leaves an execution whose files a retry deletes, never files
         * that nothing names any more. */
        Storage *storage;
        if ((r = web_storage(c, &storage)) < 0 && r != -ENOTSUP)
                return web_reply_error(c, 500, "the internal storage cannot be used");
        if (r >= 0) {
                r = api_files_delete_execution(storage, json_string_value(json_object_get(doc, "namespace")),
                                               json_string_value(json_object_get(doc, "flowId")), id, NULL);
                if (r < 0 && r != -EINVAL) {
                        log_warning("webserver: cannot delete the files of execution %s: %s", id, storage_error(storage));
                        return web_reply_error(c, 502, "the files of execution %s could not be deleted from the internal "
                                                       "storage; the execution is kept", id);
                }
        }
        ExecutionDelete d = { .id = id };
        if ((r = store_transact(c->store, execution_delete_tx, &d)) < 0)
                return r == -ENOENT ? web_reply_error(c, 404, "no execution '%s'", id) : web_reply_store_error(c, r);
        c->status = 204;
        c->content_type = NULL;
        return 0;
}

/* A date-time query parameter (ISO 8601, UTC without a zone) into *ret (0 when absent); replies 400
 * and returns -EINVAL when malformed. */
int web_query_date(WebCtx *c, const char *key, usec_t *ret) {
        const char *v = web_query(c, key);
        *ret = 0;
        if (!v)
                return 0;
        if (timestamp_parse(v, 0, ret) < 0 || *ret == 0)
                return web_reply_error(c, 400, "%s '%s' is not a date-time (2026-01-31T12:00:00Z)", key, v), -EINVAL;
        return 0;
}

void web_execution_filter_done(WebExecutionFilter *f) {
        json_decref(f->keys);
        f->keys = NULL;
}

int web_execution_filter(WebCtx *c, WebExecutionFilter *ret) {
        const char *state = web_query(c, "state");
        *ret = (WebExecutionFilter) {};
        if (state && state_from_string(state) < 0)
                return web_reply_error(c, 400, "unknown state '%s'", state), -EINVAL;
        StoreExecutionFilter *f = &ret->f;
        *f = (StoreExecutionFilter) {
                .namespace_prefix = web_query(c, "namespace"),
                .flow_id = web_query(c, "flowId"),
                .state = state,
        };
        /* Kestra's labels=key:value, repeated for several (an execution has them all), and the
         * creation time range. */
        const char *label_args[WEB_LABELS_FILTER_MAX];
        size_t n_args = web_query_all(c, "labels", label_args, WEB_LABELS_FILTER_MAX), n_labels = 0;
        if (!(ret->keys = json_array())) /* holds the keys the filters point to */
                return web_reply_error(c, 500, "out of memory"), -ENOMEM;
        if (n_args > WEB_LABELS_FILTER_MAX)
                return web_reply_error(c, 400, "at most %d labels to filter on (%zu given)", WEB_LABELS_FILTER_MAX, n_args),
                       -EINVAL;
        for (size_t i = 0; i < n_args; i++) {
                const char *label = label_args[i], *colon = strchr(label, ':');
                if (isempty(label))
                        continue;
                if (!colon || colon == label)
                        return web_reply_error(c, 400, "labels '%s' is not key:value", label), -EINVAL;
                if (json_array_append_new(ret->keys, json_stringn(label, (size_t) (colon - label))) < 0)
                        return web_reply_error(c, 500, "out of memory"), -ENOMEM;
                ret->labels[n_labels++] = (StoreLabelFilter) {
                        json_string_value(json_array_get(ret->keys, json_array_size(ret->keys) - 1)), colon + 1
                };
        }
        f->labels = ret->labels;
        f->n_labels = n_labels;
        if (web_query_date(c, "startDate", &f->created_from) < 0 || web_query_date(c, "endDate", &f->created_to) < 0)
                return -EINVAL;
        return 0;
}

int web_api_execution_search(WebCtx *c) {
        size_t offset, limit;
        _cleanup_(web_execution_filter_done) WebExecutionFilter wf = {};
        if (web_paging(c, 25, &offset, &limit) < 0 || web_execution_filter(c, &wf) < 0)
                return 0;
        StoreExecutionFilter f = wf.f;
        f.limit = limit;
        f.offset = offset;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        json_t *arr = NULL;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        int64_t total = 0;
        size_t skipped = 0;
        r = store_execution_search_skipping(tx, &f, &arr, &skipped);
        if (r >= 0 && skipped > 0)
                log_warning("webserver: %zu execution(s) left out of a search: their documents cannot be read", skipped);
        /* Kestra's total: every match, not the page's size. */
        if (r >= 0)
                r = store_execution_count(tx, &f, &total);
        store_rollback(TAKE_PTR(tx));
        if (r < 0) {
                json_decref(arr);
                return web_reply_store_error(c, r);
        }
        size_t i;
        json_t *doc;
        json_array_foreach(arr, i, doc)
                api_execution_strip(doc);
        return web_reply_json(c, 200, json_pack("{s:o, s:I}", "results", arr, "total", (json_int_t) total));
}

/* Kestra's POST /api/v1/executions/latest: the newest execution of each flow of the body's list
 * ([{namespace, id}], at most 1000), as {id, namespace, flowId, startDate, status}; flows without
 * one are left out. */
int web_api_execution_latest(WebCtx *c) {
        _cleanup_json_ json_t *body = json_loadb(c->body, c->body_len, 0, NULL);
        size_t i;
        json_t *one;
        if (!json_is_array(body))
                return web_reply_error(c, 400, "the body must be a list of flows: [{\"namespace\": ..., \"id\": ...}]");
        if (json_array_size(body) > 1000)
                return web_reply_error(c, 400, "at most 1000 flows at once (%zu given)", json_array_size(body));
        json_array_foreach(body, i, one)
                if (!json_is_string(json_object_get(one, "namespace")) || !json_is_string(json_object_get(one, "id")))
                        return web_reply_error(c, 400, "flow %zu of the list has no namespace or id (strings)", i + 1);
        _cleanup_store_tx_ StoreTx *tx = NULL;
        int r = store_begin(c->store, &tx);
        if (r < 0)
                return web_reply_store_error(c, r);
        json_t *out = json_array();
        json_array_foreach(body, i, one) {
                StoreExecutionFilter f = { .namespace = json_string_value(json_object_get(one, "namespace")),
                                           .flow_id = json_string_value(json_object_get(one, "id")), .limit = 1 };
                _cleanup_json_ json_t *arr = NULL;
                if (!out || (r = store_execution_search_skipping(tx, &f, &arr, NULL)) < 0)
                        break;
                json_t *x = json_array_get(arr, 0), *st = json_object_get(x, "state");
                if (x && json_array_append_new(out, json_pack("{s:O, s:O, s:O, s:O?, s:O}", "id", json_object_get(x, "id"),
                                                              "namespace", json_object_get(x, "namespace"), "flowId",
                                                              json_object_get(x, "flowId"), "startDate",
                                                              json_object_get(st, "startDate"), "status",
                                                              json_object_get(st, "current"))) < 0)
                        r = -ENOMEM;
        }
        store_rollback(TAKE_PTR(tx));
        if (r < 0 || !out) {
                json_decref(out);
                return r == -ENOMEM || !out ? web_reply_error(c, 500, "out of memory") : web_reply_store_error(c, r);
        }
        return web_reply_json(c, 200, out);
}

/* Kill, resume, restart: an event for the executor when the execution is in a state that allows it.
 * A kill carries isOnKillCascade (true unless ?isOnKillCascade=false, as in Kestra). */
static int execution_signal(WebCtx *c, const char *type, bool (*allowed)(State), const char *not_that, unsigned status) {
        const char *id = c->params[0], *cascade = web_query(c, "isOnKillCascade");
        _cleanup_json_ json_t *doc = NULL, *inputs = NULL, *payload = NULL;
        int r = api_execution_get(c->store, id, &doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", id);
        if (r < 0)
                return web_reply_store_error(c, r);
        State st = api_execution_state(doc);
        if (!allowed(st))
                return web_reply_error(c, 409, "execution %s is %s; %s", id, state_to_string(st), not_that);
        if (cascade && !streq(cascade, "true") && !streq(cascade, "false"))
                return web_reply_error(c, 400, "isOnKillCascade is true or false, not '%s'", cascade);
        if (!(inputs = body_inputs(c)))
                return 0;
        payload = streq(type, ENGINE_EVENT_KILL)
                          ? json_pack("{s:O, s:b}", "inputs", inputs, "cascade", !cascade || streq(cascade, "true"))
                          : json_pack("{s:O}", "inputs", inputs);
        if (web_execution_event(c, id, type, payload, doc) < 0)
                return 0; /* replied */
        api_execution_strip(doc);
        return web_reply_json(c, status, json_incref(doc));
}

static bool can_kill(State s) {
        return !state_is_terminal(s);
}
static bool can_resume(State s) {
        return s == STATE_PAUSED;
}
static bool can_restart(State s) {
        return state_is_failed(s) || s == STATE_WARNING;
}

int web_api_execution_kill(WebCtx *c) {
        return execution_signal(c, ENGINE_EVENT_KILL, can_kill, "only unfinished executions can be killed", 202);
}
int web_api_execution_resume(WebCtx *c) {
        return execution_signal(c, ENGINE_EVENT_RESUME, can_resume, "only paused executions can be resumed", 202);
}
int web_api_execution_restart(WebCtx *c) {
        return execution_signal(c, ENGINE_EVENT_RESTART, can_restart, "only failed executions can be restarted", 202);
}

/* ---- bulk by ids (Kestra's .../by-ids) ------------------------------------------------------ */

#define BULK_MAX 1000

/* Do one(c) for each execution id of the body (a JSON list of strings), after checking that every
 * one exists and is in a state allowed() accepts: otherwise 422 with {message, invalidExecutions:
 * [{id, message}]} and nothing done. Answers {count}: how many one() did (one that changed state
 * meanwhile is left out). */
static int executions_bulk(WebCtx *c, WebHandler one, unsigned one_ok, bool (*allowed)(State), const char *done,
                           const char *not_that) {
        _cleanup_json_ json_t *ids = json_loadb(c->body, c->body_len, 0, NULL), *invalid = json_array();
        size_t i;
        json_t *v;
        if (!invalid)
                return web_reply_error(c, 500, "out of memory");
        if (!json_is_array(ids) || json_array_size(ids) == 0)
                return web_reply_error(c, 400, "the body must be a list of execution ids: [\"...\", ...]");
        if (json_array_size(ids) > BULK_MAX)
                return web_reply_error(c, 400, "at most %d executions at once (%zu given)", BULK_MAX, json_array_size(ids));
        json_array_foreach(ids, i, v) {
                if (!json_is_string(v))
                        return web_reply_error(c, 400, "item %zu of the list is not an execution id (a string)", i + 1);
                const char *id = json_string_value(v);
                _cleanup_json_ json_t *doc = NULL;
                _cleanup_free_ char *msg = NULL;
                int r = api_execution_get(c->store, id, &doc);
                if (r < 0 && r != -ENOENT)
                        return web_reply_store_error(c, r);
                State st = r == 0 ? api_execution_state(doc) : STATE_CREATED;
                if (r == -ENOENT)
                        msg = strdup("no such execution");
                else if (!allowed(st) && asprintf(&msg, "it is %s; %s", state_to_string(st), not_that) < 0)
                        msg = NULL;
                if ((r == -ENOENT || !allowed(st)) &&
                    (!msg || json_array_append_new(invalid, json_pack("{s:s, s:s}", "id", id, "message", msg)) < 0))
                        return web_reply_error(c, 500, "out of memory");
        }
        size_t n_invalid = json_array_size(invalid);
        if (n_invalid > 0) {
                json_t *first = json_array_get(invalid, 0);
                _cleanup_free_ char *m = NULL;
                if (asprintf(&m, "%zu of the executions cannot be %s, so none was: execution %s: %s%s", n_invalid, done,
                             json_string_value(json_object_get(first, "id")),
                             json_string_value(json_object_get(first, "message")),
                             n_invalid > 1 ? " (the others in invalidExecutions)" : "") < 0)
                        return web_reply_error(c, 500, "out of memory");
                return web_reply_json(c, 422, json_pack("{s:s, s:O}", "message", m, "invalidExecutions", invalid));
        }
        /* One request per execution, as the single routes do it, with no body of their own; an id
         * given twice is acted on once (not two kill or restart events, not counted twice). */
        const char *body = c->body;
        size_t body_len = c->body_len, count = 0;
        json_array_foreach(ids, i, v) {
                bool seen = false;
                for (size_t j = 0; j < i && !seen; j++)
                        seen = json_equal(json_array_get(ids, j), v);
                if (seen)
                        continue;
                c->params[0] = json_string_value(v);
                c->body = "";
                c->body_len = 0;
                int r = one(c);
                if (r < 0)
                        return r;
                if (c->status == one_ok)
                        count++;
                else
                        log_debug("webserver: bulk: execution %s not changed (%u)", c->params[0], c->status);
        }
        c->body = body, c->body_len = body_len, c->params[0] = NULL;
        return web_reply_json(c, 200, json_pack("{s:I}", "count", (json_int_t) count));
}

int web_api_executions_kill(WebCtx *c) {
        return executions_bulk(c, web_api_execution_kill, 202, can_kill, "killed", "only unfinished executions can be killed");
}

int web_api_executions_restart(WebCtx *c) {
        return executions_bulk(c, web_api_execution_restart, 202, can_restart, "restarted", "only failed executions can be restarted");
}

int web_api_executions_delete(WebCtx *c) {
        return executions_bulk(c, web_api_execution_delete, 204, state_is_terminal, "deleted",
                               "only ended executions can be deleted (kill it first)");
}

/* Kestra's replay: a new execution of the same flow revision, from a task run (?taskRunId=) or from
 * the start, keeping what ran before it. */
int web_api_execution_replay(WebCtx *c) {
        const char *id = c->params[0], *tr = web_query(c, "taskRunId");
        _cleanup_json_ json_t *doc = NULL;
        int r = api_execution_replay(c->store, id, isempty(tr) ? NULL : tr, &doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", id);
        if (r == -ESRCH)
                return web_reply_error(c, 404, "execution %s has no task run '%s'", id, tr);
        if (r == -EBUSY)
                return web_reply_error(c, 409, "execution %s has not ended; only ended executions can be replayed", id);
        if (r < 0)
                return web_reply_store_error(c, r);
        api_execution_strip(doc);
        return web_reply_json(c, 200, json_incref(doc));
}

#define LABELS_MAX 100
#define LABEL_MAX 1024

/* The body as a list of labels a user may set ([{key, value}]): it, or NULL after replying 400. */
static json_t *body_labels(WebCtx *c) {
        _cleanup_json_ json_t *labels = json_loadb(c->body, c->body_len, 0, NULL);
        size_t i;
        json_t *l;
        if (!json_is_array(labels))
                return web_reply_error(c, 400, "the body must be a list of labels: [{\"key\": \"...\", \"value\": \"...\"}, ...]"), NULL;
        if (json_array_size(labels) > LABELS_MAX)
                return web_reply_error(c, 400, "at most %d labels (%zu given)", LABELS_MAX, json_array_size(labels)), NULL;
        json_array_foreach(labels, i, l) {
                const char *k = json_string_value(json_object_get(l, "key")), *v = json_string_value(json_object_get(l, "value"));
                if (!json_is_object(l) || json_object_size(l) != 2 || isempty(k) || !v)
                        return web_reply_error(c, 400, "label %zu is not {\"key\": a non-empty string, \"value\": a string}", i + 1), NULL;
                if (strlen(k) > LABEL_MAX || strlen(v) > LABEL_MAX)
                        return web_reply_error(c, 400, "label '%.40s...' is longer than %d bytes", k, LABEL_MAX), NULL;
                if (startswith(k, API_SYSTEM_LABEL_PREFIX))
                        return web_reply_error(c, 400, "label '%s': labels starting with '" API_SYSTEM_LABEL_PREFIX
                                                       "' are the system's, they cannot be set", k), NULL;
                for (size_t j = 0; j < i; j++)
                        if (streq(k, json_string_value(json_object_get(json_array_get(labels, j), "key"))))
                                return web_reply_error(c, 400, "label '%s' is given twice", k), NULL;
        }
        return TAKE_PTR(labels);
}

/* Set labels (checked) on execution id and reply as POST .../labels does; quiet: an empty body
 * instead of the execution (a bulk action counts, it does not show them). */
static int labels_set(WebCtx *c, const char *id, json_t *labels, bool quiet) {
        _cleanup_json_ json_t *doc = NULL;
        int r = api_execution_set_labels(c->store, id, labels, &doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", id);
        if (r == -EBUSY)
                return web_reply_error(c, 409, "execution %s has not ended; labels can be set on ended executions only", id);
        if (r < 0)
                return web_reply_store_error(c, r);
        if (quiet)
                return web_reply_json(c, 200, json_object());
        api_execution_strip(doc);
        return web_reply_json(c, 200, json_incref(doc));
}

/* POST /api/v1/executions/{id}/labels, Kestra's: the body ([{key, value}]) replaces the labels of an
 * ended execution; its system labels ("system.") stay and cannot be set. */
int web_api_execution_labels(WebCtx *c) {
        _cleanup_json_ json_t *labels = body_labels(c);
        if (!labels)
                return 0;
        return labels_set(c, c->params[0], labels, false);
}

/* One execution of labels/by-query: its own labels, those of the body added or replacing them. */
static int labels_add_one(WebCtx *c, void *userdata) {
        json_t *add = userdata, *l;
        const char *id = c->params[0];
        _cleanup_json_ json_t *doc = NULL, *merged = json_array();
        size_t i;
        int r = api_execution_get(c->store, id, &doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", id);
        if (r < 0)
                return web_reply_store_error(c, r);
        if (!merged)
                return web_reply_error(c, 500, "out of memory");
        json_array_foreach(json_object_get(doc, "labels"), i, l) {
                const char *k = json_string_value(json_object_get(l, "key"));
                bool replaced = false;
                size_t j;
                json_t *a;
                json_array_foreach(add, j, a)
                        replaced = replaced || streq_ptr(k, json_string_value(json_object_get(a, "key")));
                if (!k || replaced || startswith(k, API_SYSTEM_LABEL_PREFIX) || !json_is_string(json_object_get(l, "value")))
                        continue;
                if (json_array_append_new(merged, json_pack("{s:s, s:O}", "key", k, "value", json_object_get(l, "value"))) < 0)
                        return web_reply_error(c, 500, "out of memory");
        }
        if (json_array_extend(merged, add) < 0)
                return web_reply_error(c, 500, "out of memory");
        if (json_array_size(merged) > LABELS_MAX)
                return web_reply_error(c, 409, "execution %s would have more than %d labels", id, LABELS_MAX);
        return labels_set(c, id, merged, true);
}

/* POST /api/v1/executions/labels/by-query: Kestra's, the body's labels added to (or replacing
 * those of the same key of) each ended execution the search's filters select. */
int web_api_executions_labels_by_query(WebCtx *c) {
        _cleanup_json_ json_t *labels = body_labels(c);
        if (!labels)
                return 0;
        return web_executions_by_query(c, labels_add_one, labels, 200);
}

/* GET /api/v1/executions/{id}/file?path=kestra:///...: a file of that execution (its inputs or
 * its tasks' outputs), nothing else from the storage; streamed as it comes from there. */
int web_api_execution_file(WebCtx *c) {
        const char *id = c->params[0], *uri = web_query(c, "path"), *why = NULL;
        _cleanup_json_ json_t *doc = NULL;
        _cleanup_free_ char *key = NULL;
        Storage *storage;
        ApiFileScope scope;
        StorageObject o;
        if (isempty(uri))
                return web_reply_error(c, 400, "the query parameter 'path' (a kestra:// URI) is missing");
        int r = api_execution_get(c->store, id, &doc);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no execution '%s'", id);
        if (r < 0)
                return web_reply_store_error(c, r);
        web_store_release(c); /* a download may take long: not with a pooled connection */
        api_file_scope_from_doc(doc, &scope);
        r = api_file_key(&scope, uri, &key, &why);
        if (r == -EINVAL)
                return web_reply_error(c, 422, "'%s' is not a valid file URI: %s", uri, strna(why));
        if (r == -EACCES)
                return web_reply_error(c, 422, "'%s' is not a file of execution %s", uri, id);
        if (r < 0)
                return web_reply_error(c, 500, "out of memory");
        if (web_storage(c, &storage) < 0)
                return web_reply_error(c, 404, "this server has no usable internal storage");
        r = storage_stat(storage, key, &o);
        uint64_t size = o.size;
        storage_object_done(&o);
        if (r == -ENOENT)
                return web_reply_error(c, 404, "no file '%s' in execution %s", uri, id);
        if (r < 0) {
                log_warning("webserver: cannot read '%s': %s", key, storage_error(storage));
                return web_reply_error(c, 502, "the file could not be read from the internal storage");
        }
        return web_reply_stored_file(c, key, size);
}

/* ---- webhooks, before their body --------------------------------------------------------------- */

int web_api_webhook_check(Store *s, ApiFlowCache *flows, const char *ns, const char *flow_id, const char *key) {
        _cleanup_api_flow_ ApiFlow *f = NULL;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        r = api_flow_load(flows, tx, ns, flow_id, 0, &f);
        if (r < 0)
                return r;
        return !f->flow->disabled && web_webhook_find(f->flow, key) ? 0 : -ENOENT;
}

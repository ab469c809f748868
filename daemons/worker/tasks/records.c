/* records.c: the tasks that act on the store's records: execution.Count, execution.PurgeExecutions,
 * log.PurgeLogs, execution.Resume, trigger.Toggle and kv.PurgeKV (Kestra's system tasks), run over the
 * worker's own store connection. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "beneath.h"
#include "cleanup-jansson.h"
#include "engine.h"
#include "strutil.h"
#include "execution-files.h"
#include "task-impl.h"
#include "triggers.h"

static Store *need_store(TaskRunContext *ctx, TaskOutcome *out) {
        if (!ctx->services || !ctx->services->store) {
                task_fail(out, "this task acts on the executions' database, which this worker does not have");
                return NULL;
        }
        return ctx->services->store;
}

/* A date property as Java's ZonedDateTime.parse() takes it ("...+02:00[Europe/Paris]" included);
 * def when the property is absent. */
static int date_prop(json_t *props, const char *name, usec_t def, usec_t *ret, TaskOutcome *out) {
        const char *s = task_prop_string(props, name, NULL);
        if (!s || isempty(s)) {
                *ret = def;
                return 0;
        }
        _cleanup_free_ char *t = strndup(s, strcspn(s, "["));
        if (!t)
                return -ENOMEM;
        if (timestamp_parse(t, 0, ret) < 0)
                return task_fail(out, "property '%s': '%s' is not a date such as 2024-01-31T00:00:00Z", name, s),
                       -EINVAL;
        return 0;
}

/* A list of execution states (Kestra's names); an empty or absent list is NULL. */
static int states_prop(json_t *props, const char *name, json_t **ret, TaskOutcome *out) {
        json_t *v = json_object_get(props, name);
        size_t i;
        json_t *s;
        *ret = NULL;
        if (!v || json_is_null(v))
                return 0;
        if (!json_is_array(v))
                return task_fail(out, "property '%s' must be a list of states", name), -EINVAL;
        json_array_foreach(v, i, s)
                if (!json_is_string(s) || state_from_string(json_string_value(s)) < 0)
                        return task_fail(out, "property '%s': '%s' is not an execution state", name,
                                         json_is_string(s) ? json_string_value(s) : "(not a string)"),
                               -EINVAL;
        *ret = json_array_size(v) > 0 ? v : NULL;
        return 0;
}

/* How many executions f matches, in any of states (NULL: any state). */
static int count_in_states(StoreTx *tx, StoreExecutionFilter f, json_t *states, int64_t *ret) {
        size_t i;
        json_t *s;
        int64_t total = 0, n;
        int r;
        if (!states)
                return store_execution_count(tx, &f, ret);
        json_array_foreach(states, i, s) {
                f.state = json_string_value(s);
                if ((r = store_execution_count(tx, &f, &n)) < 0)
                        return r;
                total += n;
        }
        *ret = total;
        return 0;
}

typedef struct CountRow {
        const char *namespace, *flow_id; /* flow_id NULL: the namespace's total */
        int64_t count;
} CountRow;

/* Count: executions per flow (and per namespace) started in [startDate, endDate]; the rows whose
 * `expression`, rendered with `count`, is true. Kestra's: a listed flow without executions counts 0. */
int task_impl_execution_count(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *flows = json_object_get(props, "flows"), *namespaces = json_object_get(props, "namespaces");
        const char *expression = task_prop_string(props, "expression", NULL);
        _cleanup_json_ json_t *results = json_array();
        _cleanup_store_tx_ StoreTx *tx = NULL;
        json_t *states;
        usec_t from, to;
        size_t i;
        json_t *v;
        int r;

        out->state = STATE_SUCCESS;
        Store *s = need_store(ctx, out);
        if (!s)
                return 0;
        if (!results)
                return -ENOMEM;
        if ((!flows || json_is_null(flows)) && (!namespaces || json_is_null(namespaces)))
                return task_fail(out, "You must provide a list of flows or namespaces.");
        if (!expression)
                return task_fail(out, "property 'expression' is required");
        if ((flows && !json_is_null(flows) && !json_is_array(flows)) ||
            (namespaces && !json_is_null(namespaces) && !json_is_array(namespaces)))
                return task_fail(out, "properties 'flows' and 'namespaces' must be lists");
        /* Kestra's defaults: the last 30 days. */
        usec_t now = now_realtime();
        if ((r = date_prop(props, "startDate", now - 30 * USEC_PER_DAY, &from, out)) < 0 ||
            (r = date_prop(props, "endDate", now, &to, out)) < 0 || (r = states_prop(props, "states", &states, out)) < 0)
                return r == -ENOMEM ? r : 0;
        if ((r = store_begin(s, &tx)) < 0)
                return task_fail(out, "cannot read the executions: %s", store_error(s));

        _cleanup_json_ json_t *rows = json_array();
        if (!rows)
                return -ENOMEM;
        json_array_foreach(flows, i, v) {
                const char *ns = json_string_value(json_object_get(v, "namespace"));
                const char *id = json_string_value(json_object_get(v, "flowId"));
                int64_t n;
                if (!ns || !id)
                        return task_fail(out, "property 'flows': each entry needs a namespace and a flowId");
                StoreExecutionFilter f = { .namespace = ns, .flow_id = id, .created_from = from, .created_to = to + 1 };
                if ((r = count_in_states(tx, f, states, &n)) < 0)
                        return task_fail(out, "cannot count the executions of '%s.%s': %s", ns, id, store_error(s));
                json_array_append_new(rows, json_pack("{s:s, s:s, s:I}", "namespace", ns, "flowId", id, "count",
                                                      (json_int_t) n));
        }
        json_array_foreach(namespaces, i, v) {
                const char *ns = json_string_value(v);
                int64_t n;
                if (!ns)
                        return task_fail(out, "property 'namespaces' must be a list of namespaces");
                StoreExecutionFilter f = { .namespace = ns, .created_from = from, .created_to = to + 1 };
                if ((r = count_in_states(tx, f, states, &n)) < 0)
                        return task_fail(out, "cannot count the executions of namespace '%s': %s", ns, store_error(s));
                /* Kestra lists a namespace only when it has executions. */
                if (n > 0)
                        json_array_append_new(rows, json_pack("{s:s, s:n, s:I}", "namespace", ns, "flowId", "count",
                                                              (json_int_t) n));
        }
        store_rollback(TAKE_PTR(tx));

        json_int_t total = 0;
        json_array_foreach(rows, i, v) {
                _cleanup_json_ json_t *vars = json_pack("{s:O}", "count", json_object_get(v, "count")), *res = NULL,
                                      *tmpl = json_string(expression);
                _cleanup_free_ char *err = NULL;
                if (!vars || !tmpl)
                        return -ENOMEM;
                r = ctx->render(ctx, tmpl, vars, &res, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return task_fail(out, "property 'expression': %s", strna(err));
                /* Kestra keeps the rows whose expression renders to the text "true". */
                if (!json_is_true(res) && !(json_is_string(res) && streq(json_string_value(res), "true")))
                        continue;
                total += json_integer_value(json_object_get(v, "count"));
                if (json_array_append(results, v) < 0)
                        return -ENOMEM;
        }
        out->outputs = json_pack("{s:O, s:I}", "results", results, "total", total);
        return out->outputs ? 0 : -ENOMEM;
}

/* Per log level name, the store's level mask (0: every level). */
static int levels_prop(json_t *props, unsigned *ret, TaskOutcome *out) {
        json_t *v = json_object_get(props, "logLevels");
        size_t i;
        json_t *l;
        unsigned mask = 0;
        if (v && !json_is_null(v) && !json_is_array(v))
                return task_fail(out, "property 'logLevels' must be a list of log levels"), -EINVAL;
        json_array_foreach(v, i, l) {
                int level = store_log_level_from_string(json_string_value(l));
                if (level < 0)
                        return task_fail(out, "property 'logLevels': '%s' is not one of TRACE, DEBUG, INFO, WARN, ERROR",
                                         json_is_string(l) ? json_string_value(l) : "(not a string)"),
                               -EINVAL;
                mask |= 1u << level;
        }
        *ret = mask;
        return 0;
}

typedef struct LogPurge {
        StoreLogPurgeFilter f;
        int64_t deleted;
} LogPurge;

static int log_purge_tx(StoreTx *tx, void *userdata) {
        LogPurge *p = userdata;
        return store_log_purge(tx, &p->f, &p->deleted);
}

/* PurgeLogs: every line of tern's is an execution's (triggers log to the journal), so
 * purgeNonExecutionLogs finds none. */
int task_impl_purge_logs(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        LogPurge p = {
                .f.namespace = task_prop_string(props, "namespace", NULL),
                .f.flow_id = task_prop_string(props, "flowId", NULL),
                .f.execution_id = task_prop_string(props, "executionId", NULL),
        };
        bool exec_logs;
        int r;

        out->state = STATE_SUCCESS;
        Store *s = need_store(ctx, out);
        if (!s)
                return 0;
        if (p.f.flow_id && !p.f.namespace)
                return task_fail(out, "property 'flowId' needs the flow's 'namespace'");
        if (task_prop_bool(props, "purgeExecutionLogs", true, &exec_logs) < 0)
                return task_fail(out, "property 'purgeExecutionLogs' must be a boolean");
        /* An empty one (an expression that rendered to nothing) is no bound: refused, not "everything". */
        if (isempty(task_prop_string(props, "endDate", NULL)))
                return task_fail(out, "property 'endDate' is required (it is missing or empty)");
        if ((r = levels_prop(props, &p.f.levels, out)) < 0 || (r = date_prop(props, "startDate", 0, &p.f.from, out)) < 0 ||
            (r = date_prop(props, "endDate", 0, &p.f.to, out)) < 0)
                return r == -ENOMEM ? r : 0;
        if (exec_logs && (r = store_transact(s, log_purge_tx, &p)) < 0)
                return task_fail(out, "cannot purge the logs: %s", store_error(s));
        if (!exec_logs)
                p.deleted = 0;
        out->outputs = json_pack("{s:I, s:I, s:i}", "count", (json_int_t) p.deleted, "executionLogsCount",
                                 (json_int_t) p.deleted, "nonExecutionLogsCount", 0);
        return out->outputs ? 0 : -ENOMEM;
}

typedef struct ExecPurge {
        StoreExecutionFilter f;
        json_t *states; /* NULL: any */
        size_t state_i;
        bool executions, logs;
        int64_t n_executions, n_logs;
        json_t *ids; /* [[id, namespace, flowId]] purged, for their files */
        bool more;
} ExecPurge;

/* One batch: the executions that match, with their logs, in one transaction. */
static int exec_purge_tx(StoreTx *tx, void *userdata) {
        ExecPurge *p = userdata;
        _cleanup_json_ json_t *docs = NULL;
        int64_t n_exec = 0, n_logs = 0;
        size_t i;
        json_t *d;
        int r;

        json_array_clear(p->ids);
        if ((r = store_execution_search(tx, &p->f, &docs)) < 0)
                return r;
        json_array_foreach(docs, i, d) {
                const char *id = json_string_value(json_object_get(d, "id"));
                int64_t n = 0;
                if (!id)
                        continue;
                if (p->logs) {
                        StoreLogPurgeFilter lf = { .execution_id = id };
                        if ((r = store_log_purge(tx, &lf, &n)) < 0)
                                return r;
                        n_logs += n;
                }
                if (p->executions) {
                        if ((r = store_execution_delete(tx, id)) < 0 && r != -ENOENT)
                                return r;
                        n_exec += r >= 0;
                }
                json_array_append_new(p->ids, json_pack("[s, O, O]", id, json_object_get(d, "namespace"),
                                                        json_object_get(d, "flowId")));
        }
        /* Without deleting executions, the next batch would find the same ones: one batch per call
         * then pages on with the offset. */
        p->more = json_array_size(docs) >= p->f.limit;
        p->n_executions += n_exec;
        p->n_logs += n_logs;
        return 0;
}

/* PurgeExecutions: terminal executions that ended by endDate (and started from startDate), of a
 * namespace (a prefix without flowId) or one flow, in batches: each with its logs and its files. */
int task_impl_purge_executions(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *ns = task_prop_string(props, "namespace", NULL), *flow_id = task_prop_string(props, "flowId", NULL);
        _cleanup_json_ json_t *ids = json_array();
        bool purge_storage, purge_metric;
        int64_t batch = 100;
        int64_t n_files = 0;
        usec_t from, to;
        int r;

        out->state = STATE_SUCCESS;
        Store *s = need_store(ctx, out);
        if (!s)
                return 0;
        if (!ids)
                return -ENOMEM;
        ExecPurge p = { .ids = ids };
        if (flow_id && !ns)
                return task_fail(out, "property 'flowId' needs the flow's 'namespace'");
        if (task_prop_bool(props, "purgeExecution", true, &p.executions) < 0 ||
            task_prop_bool(props, "purgeLog", true, &p.logs) < 0 || task_prop_bool(props, "purgeMetric", true, &purge_metric) < 0 ||
            task_prop_bool(props, "purgeStorage", true, &purge_storage) < 0)
                return task_fail(out, "properties 'purgeExecution', 'purgeLog', 'purgeMetric' and 'purgeStorage' must be booleans");
        json_t *b = json_object_get(props, "batchSize");
        if (json_is_integer(b))
                batch = json_integer_value(b);
        else if (json_is_string(b) && safe_atoi64(json_string_value(b), &batch) < 0)
                batch = 0;
        if (batch <= 0)
                return task_fail(out, "property 'batchSize' must be a positive number");
        /* Without a bound, running executions would go too (their end date is none). */
        if (isempty(task_prop_string(props, "endDate", NULL)))
                return task_fail(out, "property 'endDate' is required (it is missing or empty)");
        if ((r = date_prop(props, "startDate", 0, &from, out)) < 0 || (r = date_prop(props, "endDate", 0, &to, out)) < 0 ||
            (r = states_prop(props, "states", &p.states, out)) < 0)
                return r == -ENOMEM ? r : 0;
        /* A worker without internal storage has no execution files to purge. */
        purge_storage = purge_storage && ctx->services->storage;
        /* A flow's executions are those of its namespace exactly; a namespace alone is a prefix. */
        p.f = (StoreExecutionFilter) { .namespace_prefix = flow_id ? NULL : ns, .namespace = flow_id ? ns : NULL,
                                       .flow_id = flow_id, .created_from = from, .ended_to = to,
                                       .limit = (size_t) MIN(batch, (int64_t) 10000) };
        for (size_t si = 0; si < (p.states ? json_array_size(p.states) : 1); si++) {
                p.f.state = p.states ? json_string_value(json_array_get(p.states, si)) : NULL;
                p.f.offset = 0;
                do {
                        if ((r = store_transact(s, exec_purge_tx, &p)) < 0)
                                return task_fail(out, "cannot purge the executions: %s", store_error(s));
                        if (!p.executions)
                                p.f.offset += p.f.limit;
                        size_t i;
                        json_t *e;
                        json_array_foreach(p.ids, i, e)
                                if (purge_storage) {
                                        uint64_t n = 0;
                                        const char *eid = json_string_value(json_array_get(e, 0));
                                        r = api_files_delete_execution(ctx->services->storage,
                                                                       json_string_value(json_array_get(e, 1)),
                                                                       json_string_value(json_array_get(e, 2)), eid, &n);
                                        if (r < 0)
                                                task_logf(ctx, TASK_LOG_WARN, "cannot remove the files of execution %s: %s",
                                                          eid, storage_error(ctx->services->storage));
                                        else
                                                n_files += n;
                                }
                } while (p.more);
        }
        /* tern keeps no task outputs or metrics apart from the execution: they go with it. */
        out->outputs = json_pack("{s:I, s:i, s:I, s:I, s:i}", "executionsCount", (json_int_t) p.n_executions,
                                 "taskOutputsCount", 0, "logsCount", (json_int_t) p.n_logs, "storagesCount",
                                 (json_int_t) n_files, "metricsCount", 0);
        return out->outputs ? 0 : -ENOMEM;
}

/* The latest paused execution of a flow; -ENOENT when none. */
static int latest_paused(Store *s, const char *ns, const char *flow_id, char **ret) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        _cleanup_json_ json_t *docs = NULL;
        StoreExecutionFilter f = { .namespace = ns, .flow_id = flow_id, .state = state_to_string(STATE_PAUSED), .limit = 1 };
        int r = store_begin(s, &tx);
        if (r < 0 || (r = store_execution_search(tx, &f, &docs)) < 0)
                return r;
        const char *id = json_string_value(json_object_get(json_array_get(docs, 0), "id"));
        if (!id)
                return -ENOENT;
        *ret = strdup(id);
        return *ret ? 0 : -ENOMEM;
}

/* Resume: the execution executionId (else the latest paused one of namespace.flowId, else this
 * one) goes on, with `inputs` as its Pause's onResume values. */
int task_impl_resume(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *id = task_prop_string(props, "executionId", NULL);
        const char *ns = task_prop_string(props, "namespace", NULL), *flow_id = task_prop_string(props, "flowId", NULL);
        json_t *inputs = json_object_get(props, "inputs");
        _cleanup_json_ json_t *doc = NULL, *payload = NULL;
        _cleanup_free_ char *found = NULL;
        int r;

        out->state = STATE_SUCCESS;
        Store *s = need_store(ctx, out);
        if (!s)
                return 0;
        if (inputs && !json_is_null(inputs) && !json_is_object(inputs))
                return task_fail(out, "property 'inputs' must be a map");
        if (!id && ns && flow_id) {
                r = latest_paused(s, ns, flow_id, &found);
                if (r == -ENOENT)
                        return task_fail(out, "No paused execution found for flow '%s.%s'", ns, flow_id);
                if (r < 0)
                        return task_fail(out, "cannot look for a paused execution: %s", store_error(s));
                id = found;
        }
        if (!id)
                id = ctx->execution_id;
        r = api_execution_get(s, id, &doc);
        if (r == -ENOENT)
                return task_fail(out, "No execution found for execution id %s", id);
        if (r < 0)
                return task_fail(out, "cannot read execution %s: %s", id, store_error(s));
        /* Naming the flow makes the permission explicit (Kestra's rule): it must be the execution's. */
        if ((ns && !streq_ptr(ns, json_string_value(json_object_get(doc, "namespace")))) ||
            (flow_id && !streq_ptr(flow_id, json_string_value(json_object_get(doc, "flowId")))))
                return task_fail(out, "Execution %s is not an execution of flow '%s.%s'", id, strempty(ns),
                                 strempty(flow_id));
        State st = api_execution_state(doc);
        if (st != STATE_PAUSED)
                return task_fail(out, "No paused task found on execution %s (it is %s)", id,
                                 st >= 0 ? state_to_string(st) : "in an unknown state");
        payload = json_pack("{s:O?}", "inputs", json_is_object(inputs) ? inputs : NULL);
        if (!payload)
                return -ENOMEM;
        if (ctx->services->execution_event) {
                _cleanup_free_ char *why = NULL;
                r = ctx->services->execution_event(ctx->services->event_userdata, id, ENGINE_EVENT_RESUME, payload, &why);
                if (r == -E2BIG)
                        return task_fail(out, "property 'inputs' is too deep or too large");
                if (r < 0)
                        return task_fail(out, "cannot resume execution %s: %s", id, why ? why : strerror(-r));
        } else if ((r = api_execution_event(s, id, ENGINE_EVENT_RESUME, payload)) < 0) {
                if (r == -E2BIG)
                        return task_fail(out, "property 'inputs' is too deep or too large");
                return task_fail(out, "cannot resume execution %s: %s", id, store_error(s));
        }
        task_logf(ctx, TASK_LOG_INFO, "Execution %s resumed", id);
        return 0;
}

typedef struct Toggle {
        const char *ns, *flow_id, *trigger;
        bool enabled;
} Toggle;

static int toggle_tx(StoreTx *tx, void *userdata) {
        Toggle *t = userdata;
        return api_trigger_set_enabled(tx, t->ns, t->flow_id, t->trigger, t->enabled, now_realtime());
}

/* Toggle: enable or disable a trigger by hand, as `tern trigger enable|disable` does. */
int task_impl_trigger_toggle(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        Toggle t = {
                .ns = task_prop_string(props, "namespace", ctx->namespace),
                .flow_id = task_prop_string(props, "flowId", ctx->flow_id),
                .trigger = task_prop_string(props, "trigger", NULL),
        };
        int r;

        out->state = STATE_SUCCESS;
        Store *s = need_store(ctx, out);
        if (!s)
                return 0;
        if (!t.trigger)
                return task_fail(out, "property 'trigger' is required");
        if (task_prop_bool(props, "enabled", false, &t.enabled) < 0)
                return task_fail(out, "property 'enabled' must be a boolean");
        r = store_transact(s, toggle_tx, &t);
        if (r == -ENOENT)
                return task_fail(out, "Unable to find trigger '%s' of flow '%s.%s'", t.trigger, strna(t.ns),
                                 strna(t.flow_id));
        if (r < 0)
                return task_fail(out, "cannot %s trigger '%s': %s", t.enabled ? "enable" : "disable", t.trigger,
                                 store_error(s));
        task_logf(ctx, TASK_LOG_INFO, "Trigger '%s' of flow '%s.%s' %s", t.trigger, t.ns, t.flow_id,
                  t.enabled ? "enabled" : "disabled");
        return 0;
}

/* What PurgeKV deletes. */
typedef struct PurgeKv {
        json_t *namespaces;       /* names; NULL: any (or by pattern) */
        const char *ns_pattern;   /* glob; NULL: none */
        const char *key_pattern;  /* glob; NULL: every key */
        bool children;            /* a name in namespaces takes the namespaces below it too */
        bool expired_only;
        bool nothing;             /* a version behavior that keeps the one version tern has of each key */
        usec_t now;
        json_t *purged_namespaces; /* out: the namespaces considered, as Kestra logs them */
        int64_t purged;
} PurgeKv;

/* Kestra's FilenameUtils.wildcardMatch: '*' and '?', across dots and slashes alike. */
static bool glob_match(const char *pattern, const char *s) {
        return fnmatch(pattern, s, FNM_NOESCAPE) == 0;
}

static bool purge_kv_namespace(const PurgeKv *p, const char *ns) {
        if (ns[0] == '_') /* reserved (api_kv_namespace_reserved): not the user's store */
                return false;
        if (p->ns_pattern)
                return glob_match(p->ns_pattern, ns);
        if (!p->namespaces)
                return true;
        size_t i;
        json_t *n;
        json_array_foreach(p->namespaces, i, n) {
                const char *want = json_string_value(n);
                if (!want)
                        continue;
                if (streq(ns, want))
                        return true;
                const char *rest = startswith(ns, want);
                if (p->children && rest && rest[0] == '.')
                        return true;
        }
        return false;
}

static int purge_kv_tx(StoreTx *tx, void *userdata) {
        PurgeKv *p = userdata;
        _cleanup_json_ json_t *all = NULL, *seen = json_array();
        size_t i;
        json_t *e;
        int r;

        if (!seen)
                return -ENOMEM;
        p->purged = 0;
        if ((r = store_kv_entries(tx, &all)) < 0)
                return r;
        /* Named namespaces count even when they hold no key, as in Kestra's log line. */
        json_array_foreach(p->namespaces, i, e)
                if (json_array_append(seen, e) < 0)
                        return -ENOMEM;
        json_array_foreach(all, i, e) {
                const char *ns = json_string_value(json_object_get(e, "namespace")),
                           *key = json_string_value(json_object_get(e, "key"));
                usec_t expires = (usec_t) json_integer_value(json_object_get(e, "expiresAt"));
                if (!ns || !key || !purge_kv_namespace(p, ns))
                        continue;
                bool listed = false;
                size_t j;
                json_t *s;
                json_array_foreach(seen, j, s)
                        listed = listed || streq(json_string_value(s), ns);
                if (!listed && json_array_append_new(seen, json_string(ns)) < 0)
                        return -ENOMEM;
                if (startswith(key, "__state__/")) /* Kestra's flow state files (kv.c), not KV entries */
                        continue;
                if (p->nothing || (p->key_pattern && !glob_match(p->key_pattern, key)))
                        continue;
                if (p->expired_only && (expires == 0 || expires > p->now))
                        continue;
                if ((r = store_kv_delete(tx, ns, key)) < 0 && r != -ENOENT)
                        return r;
                p->purged += r >= 0;
        }
        json_decref(p->purged_namespaces);
        p->purged_namespaces = TAKE_PTR(seen);
        return 0;
}

/* The behavior: {type: key, expiredOnly} (the default, expired only), or {type: version, before |
 * keepAmount}. tern keeps one version of each key, its last: a version behavior with `before` or a
 * keepAmount of 1 or more keeps it (Kestra never deletes the last version by date); without either,
 * or with keepAmount 0, every matching key goes. */
static int purge_kv_behavior(json_t *props, PurgeKv *p, TaskOutcome *out) {
        json_t *b = json_object_get(props, "behavior");
        p->expired_only = true;
        if (json_object_get(props, "expiredOnly") && !json_is_null(json_object_get(props, "expiredOnly"))) {
                /* Deprecated by Kestra, and it overrides behavior. */
                if (task_prop_bool(props, "expiredOnly", true, &p->expired_only) < 0)
                        return task_fail(out, "property 'expiredOnly' must be a boolean"), -EINVAL;
                return 0;
        }
        if (!b || json_is_null(b))
                return 0;
        if (!json_is_object(b))
                return task_fail(out, "property 'behavior' must be a map with a 'type' (key or version)"), -EINVAL;
        const char *type = json_string_value(json_object_get(b, "type"));
        if (streq_ptr(type, "key")) {
                if (task_prop_bool(b, "expiredOnly", true, &p->expired_only) < 0)
                        return task_fail(out, "behavior: 'expiredOnly' must be a boolean"), -EINVAL;
                return 0;
        }
        if (!streq_ptr(type, "version"))
                return task_fail(out, "behavior: type '%s' is not one of key, version", strna(type)), -EINVAL;
        json_t *before = json_object_get(b, "before"), *keep = json_object_get(b, "keepAmount");
        bool has_before = before && !json_is_null(before), has_keep = keep && !json_is_null(keep);
        if (has_before && has_keep)
                return task_fail(out, "behavior: Cannot set both 'before' and 'keepAmount' properties"), -EINVAL;
        int64_t n = 0;
        if (has_keep && !(json_is_integer(keep) ? (n = json_integer_value(keep), true)
                                                : json_is_string(keep) && safe_atoi64(json_string_value(keep), &n) == 0))
                return task_fail(out, "behavior: 'keepAmount' must be a number"), -EINVAL;
        if (n < 0)
                return task_fail(out, "behavior: 'keepAmount' must be 0 or more"), -EINVAL;
        p->expired_only = false;
        p->nothing = has_before || n > 0;
        return 0;
}

/* PurgeKV: delete the key-value entries of the namespaces chosen (a list, with their children by
 * default, or a glob; all when neither), whose key matches keyPattern, expired ones only by default. */
int task_impl_purge_kv(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        PurgeKv p = {
                .ns_pattern = task_prop_string(props, "namespacePattern", NULL),
                .key_pattern = task_prop_string(props, "keyPattern", NULL),
                .now = now_realtime(),
        };
        json_t *nss = json_object_get(props, "namespaces");
        size_t i;
        json_t *n;
        int r;

        out->state = STATE_SUCCESS;
        Store *s = need_store(ctx, out);
        if (!s)
                return 0;
        if (nss && !json_is_null(nss)) {
                if (!json_is_array(nss))
                        return task_fail(out, "property 'namespaces' must be a list of namespaces");
                json_array_foreach(nss, i, n)
                        if (!json_is_string(n))
                                return task_fail(out, "property 'namespaces' must be a list of namespaces");
                p.namespaces = json_array_size(nss) > 0 ? nss : NULL;
        }
        if (p.ns_pattern && isempty(p.ns_pattern))
                p.ns_pattern = NULL;
        if (p.key_pattern && isempty(p.key_pattern))
                p.key_pattern = NULL;
        if (p.namespaces && p.ns_pattern)
                return task_fail(out, "Properties `namespaces` and `namespacePattern` can't be used at the same time "
                                      "— use one or the other.");
        if (task_prop_bool(props, "includeChildNamespaces", true, &p.children) < 0)
                return task_fail(out, "property 'includeChildNamespaces' must be a boolean");
        if (purge_kv_behavior(props, &p, out) < 0)
                return 0;
        r = store_transact(s, purge_kv_tx, &p);
        _cleanup_json_ json_t *seen = TAKE_PTR(p.purged_namespaces);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return task_fail(out, "cannot purge the key-value store: %s", store_error(s));
        _cleanup_free_ char *list = json_dumps(seen, JSON_COMPACT);
        task_logf(ctx, TASK_LOG_INFO, "purging %zu namespaces: %s", json_array_size(seen), strna(list));
        task_logf(ctx, TASK_LOG_INFO, "purged %" PRId64 " keys", p.purged);
        out->outputs = json_pack("{s:I}", "size", (json_int_t) p.purged);
        return out->outputs ? 0 : -ENOMEM;
}

/* kv.c: the namespace key-value store tasks (kv.Get/Set/Delete/GetKeys) and Kestra's flow state
 * tasks (state.Get/Set/Delete), kept in the same store under reserved keys. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "strutil.h"
#include "task-impl.h"

static int need_kv(TaskRunContext *ctx, TaskOutcome *out) {
        if (!ctx->services || !ctx->services->kv_get)
                return task_fail(out, "this task needs the key-value store, which this worker does not have"), -ENOTSUP;
        return 0;
}

static const char *kv_namespace(TaskRunContext *ctx, json_t *props) {
        return task_prop_string(props, "namespace", ctx->namespace);
}

int task_impl_kv_get(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *key = task_prop_string(props, "key", NULL);
        _cleanup_json_ json_t *v = NULL;
        bool error_on_missing;

        out->state = STATE_SUCCESS;
        if (need_kv(ctx, out) < 0)
                return 0;
        if (!key)
                return task_fail(out, "property 'key' is required");
        if (task_prop_bool(props, "errorOnMissing", false, &error_on_missing) < 0)
                return task_fail(out, "property 'errorOnMissing' must be a boolean");
        int r = ctx->services->kv_get(ctx->services->userdata, kv_namespace(ctx, props), key, &v);
        if (r == -ENOENT) {
                if (error_on_missing)
                        return task_fail(out, "No value found for key '%s' in namespace '%s'", key,
                                         kv_namespace(ctx, props));
                out->outputs = json_pack("{s:n}", "value");
                return out->outputs ? 0 : -ENOMEM;
        }
        if (r < 0)
                return task_fail(out, "cannot read key '%s': %s", key, strerror(-r));
        out->outputs = json_pack("{s:O}", "value", v);
        return out->outputs ? 0 : -ENOMEM;
}

int task_impl_kv_set(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *key = task_prop_string(props, "key", NULL), *ns = kv_namespace(ctx, props);
        json_t *value = json_object_get(props, "value");
        bool overwrite;
        susec_t ttl;

        out->state = STATE_SUCCESS;
        if (need_kv(ctx, out) < 0)
                return 0;
        if (!key || !value)
                return task_fail(out, "properties 'key' and 'value' are required");
        if (task_prop_bool(props, "overwrite", true, &overwrite) < 0)
                return task_fail(out, "property 'overwrite' must be a boolean");
        if (task_prop_duration(props, "ttl", 0, &ttl) < 0 || ttl < 0)
                return task_fail(out, "property 'ttl' must be an ISO-8601 duration such as P1D");
        if (!overwrite) {
                _cleanup_json_ json_t *have = NULL;
                if (ctx->services->kv_get(ctx->services->userdata, ns, key, &have) == 0)
                        return task_fail(out, "Cannot set value for key '%s': it already exists and overwrite is false", key);
        }
        /* A typed value: JSON values given as text are stored as the value they describe. */
        _cleanup_json_ json_t *typed = NULL;
        const char *kv_type = task_prop_string(props, "kvType", NULL);
        if (kv_type && !streq(kv_type, "STRING") && json_is_string(value))
                typed = json_loads(json_string_value(value), JSON_DECODE_ANY, NULL);
        int r = ctx->services->kv_put(ctx->services->userdata, ns, key, typed ? typed : value, (usec_t) ttl);
        if (r < 0)
                return task_fail(out, "cannot write key '%s': %s", key, strerror(-r));
        return 0;
}

int task_impl_kv_delete(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *key = task_prop_string(props, "key", NULL);
        bool error_on_missing;

        out->state = STATE_SUCCESS;
        if (need_kv(ctx, out) < 0)
                return 0;
        if (!key)
                return task_fail(out, "property 'key' is required");
        if (task_prop_bool(props, "errorOnMissing", false, &error_on_missing) < 0)
                return task_fail(out, "property 'errorOnMissing' must be a boolean");
        int r = ctx->services->kv_delete(ctx->services->userdata, kv_namespace(ctx, props), key);
        if (r == -ENOENT && error_on_missing)
                return task_fail(out, "No value found for key '%s'", key);
        if (r < 0 && r != -ENOENT)
                return task_fail(out, "cannot delete key '%s': %s", key, strerror(-r));
        out->outputs = json_pack("{s:b}", "deleted", r == 0);
        return out->outputs ? 0 : -ENOMEM;
}

int task_impl_kv_get_keys(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_json_ json_t *keys = NULL;
        out->state = STATE_SUCCESS;
        if (need_kv(ctx, out) < 0)
                return 0;
        int r = ctx->services->kv_keys(ctx->services->userdata, kv_namespace(ctx, props),
                                       task_prop_string(props, "prefix", NULL), &keys);
        if (r < 0)
                return task_fail(out, "cannot list keys: %s", strerror(-r));
        /* State entries are ours, not the user's keys. */
        _cleanup_json_ json_t *visible = json_array();
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k)
                if (!startswith(json_string_value(k), "__state__/"))
                        json_array_append(visible, k);
        out->outputs = json_pack("{s:O}", "keys", visible);
        return out->outputs ? 0 : -ENOMEM;
}

/* Kestra's state files live per namespace and flow, named by `name` (default "default"), and per
 * loop value unless taskrunValue is false. */
static char *state_key(TaskRunContext *ctx, json_t *props) {
        bool per_value = true;
        (void) task_prop_bool(props, "taskrunValue", true, &per_value);
        const char *name = task_prop_string(props, "name", "default");
        if (per_value && ctx->loop_value)
                return strdup_printf("__state__/%s/%s/%s", strempty(ctx->flow_id), name, ctx->loop_value);
        return strdup_printf("__state__/%s/%s", strempty(ctx->flow_id), name);
}

static const char *state_namespace(TaskRunContext *ctx, json_t *props) {
        return task_prop_string(props, "namespace", ctx->namespace);
}

int task_impl_state_get(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_free_ char *key = NULL;
        _cleanup_json_ json_t *v = NULL;
        bool error_on_missing;

        out->state = STATE_SUCCESS;
        if (need_kv(ctx, out) < 0)
                return 0;
        if (!(key = state_key(ctx, props)))
                return -ENOMEM;
        if (task_prop_bool(props, "errorOnMissing", false, &error_on_missing) < 0)
                return task_fail(out, "property 'errorOnMissing' must be a boolean");
        int r = ctx->services->kv_get(ctx->services->userdata, state_namespace(ctx, props), key, &v);
        if (r == -ENOENT && error_on_missing)
                return task_fail(out, "Unable to find the state file '%s'", task_prop_string(props, "name", "default"));
        if (r < 0 && r != -ENOENT)
                return task_fail(out, "cannot read the state: %s", strerror(-r));
        out->outputs = json_pack("{s:o, s:i}", "data", json_is_object(v) ? json_incref(v) : json_object(), "count",
                                 (int) (json_is_object(v) ? json_object_size(v) : 0));
        return out->outputs ? 0 : -ENOMEM;
}

int task_impl_state_set(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_free_ char *key = NULL;
        _cleanup_json_ json_t *have = NULL, *merged = NULL;
        json_t *data = json_object_get(props, "data");

        out->state = STATE_SUCCESS;
        if (need_kv(ctx, out) < 0)
                return 0;
        if (!(key = state_key(ctx, props)))
                return -ENOMEM;
        if (data && !json_is_object(data))
                return task_fail(out, "property 'data' must be a map");
        const char *ns = state_namespace(ctx, props);
        int r = ctx->services->kv_get(ctx->services->userdata, ns, key, &have);
        if (r < 0 && r != -ENOENT)
                return task_fail(out, "cannot read the state: %s", strerror(-r));
        /* Set merges into what is there, as Kestra's state files do. */
        merged = json_is_object(have) ? json_deep_copy(have) : json_object();
        if (!merged)
                return -ENOMEM;
        if (data)
                json_object_update(merged, data);
        r = ctx->services->kv_put(ctx->services->userdata, ns, key, merged, 0);
        if (r < 0)
                return task_fail(out, "cannot write the state: %s", strerror(-r));
        out->outputs = json_pack("{s:i, s:s}", "count", (int) json_object_size(merged), "key", key);
        return out->outputs ? 0 : -ENOMEM;
}

int task_impl_state_delete(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_free_ char *key = NULL;
        bool error_on_missing;

        out->state = STATE_SUCCESS;
        if (need_kv(ctx, out) < 0)
                return 0;
        if (!(key = state_key(ctx, props)))
                return -ENOMEM;
        if (task_prop_bool(props, "errorOnMissing", false, &error_on_missing) < 0)
                return task_fail(out, "property 'errorOnMissing' must be a boolean");
        int r = ctx->services->kv_delete(ctx->services->userdata, state_namespace(ctx, props), key);
        if (r == -ENOENT && error_on_missing)
                return task_fail(out, "Unable to find the state file '%s'", task_prop_string(props, "name", "default"));
        if (r < 0 && r != -ENOENT)
                return task_fail(out, "cannot delete the state: %s", strerror(-r));
        out->outputs = json_pack("{s:b}", "deleted", r == 0);
        return out->outputs ? 0 : -ENOMEM;
}

int task_impl_log_fetch(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        _cleanup_json_ json_t *logs = NULL;
        out->state = STATE_SUCCESS;
        if (!ctx->services || !ctx->services->logs)
                return task_fail(out, "this task needs the execution logs, which this worker cannot read");
        const char *exec = task_prop_string(props, "executionId", ctx->execution_id);
        int r = ctx->services->logs(ctx->services->userdata, exec, task_prop_string(props, "level", "INFO"), &logs);
        if (r < 0)
                return task_fail(out, "cannot read the logs of execution %s: %s", exec, strerror(-r));
        json_t *only = json_object_get(props, "tasksId");
        _cleanup_json_ json_t *kept = json_array();
        size_t i, k;
        json_t *l, *t;
        json_array_foreach(logs, i, l) {
                bool keep = !json_is_array(only) || json_array_size(only) == 0;
                json_array_foreach(only, k, t)
                        if (streq_ptr(json_string_value(t), json_string_value(json_object_get(l, "taskId"))))
                                keep = true;
                if (keep)
                        json_array_append(kept, l);
        }
        /* The lines go to a file in internal storage, one JSON document per line. */
        _cleanup_free_ char *uri = NULL;
        int fd = task_file_create(ctx, "log file", "logs.jsonl", out);
        if (fd < 0)
                return out->error ? 0 : fd;
        _cleanup_(fclosep) FILE *f = fdopen(fd, "w+e");
        if (!f) {
                safe_close(fd);
                return -errno;
        }
        json_array_foreach(kept, i, l) {
                json_dumpf(l, f, JSON_COMPACT);
                fputc('\n', f);
        }
        if (fflush(f) != 0 || fseeko(f, 0, SEEK_SET) != 0)
                return task_fail(out, "cannot write the log file: %m");
        if (ctx->store_file && ctx->store_file(ctx, "logs.jsonl", fileno(f), &uri) < 0)
                uri = NULL;
        out->outputs = json_pack("{s:I, s:s?}", "size", (json_int_t) json_array_size(kept), "uri", uri);
        return out->outputs ? 0 : -ENOMEM;
}

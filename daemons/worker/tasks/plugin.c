/* plugin.c: the runner of plugins' task types (lib/flow/plugin.h): an exec plugin runs as a script
 * task does (tasks/shell.c: sandbox, inputFiles/outputFiles, ::{...}:: lines, timeout, kill) with its
 * properties as JSON on stdin; a native plugin's run function is called in this thread with the
 * worker's services (<tern/plugin.h>). */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "ion-file.h"
#include "plugin.h"
#include "script.h"
#include "strutil.h"
#include "task-impl.h"

/* A file property's kestra:/// URI becomes a file of the working directory; the plugin gets its
 * name (relative to its working directory) instead. */
static int fetch_file_properties(TaskRunContext *ctx, const PluginType *pt, json_t *input, TaskOutcome *out) {
        for (const TaskProperty *p = pt->type.properties; p->name; p++) {
                const PluginPropertyInfo *info = plugin_property_info(pt, p);
                const char *uri = json_string_value(json_object_get(input, p->name));
                if (!info || !info->file || !uri || !startswith(uri, "kestra:///"))
                        continue;
                if (!ctx->fetch_file)
                        return task_fail(out, "property '%s' names a file of internal storage, and this worker has none",
                                         p->name), -ENXIO;
                const char *base = strrchr(uri, '/') + 1;
                _cleanup_free_ char *name = strjoin(p->name, "-", isempty(base) ? "file" : base);
                if (!name)
                        return -ENOMEM;
                _cleanup_close_ int fd = task_file_create(ctx, "file of property", name, out);
                if (fd < 0)
                        return fd;
                int r = ctx->fetch_file(ctx, uri, fd);
                if (r < 0)
                        return task_fail(out, "cannot fetch '%s' of property '%s': %s", uri, p->name,
                                         task_file_strerror(ctx, r)), r;
                if (json_object_set_new(input, p->name, json_string(name)) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Outputs as the plugin announced them, not under "vars" as a script task's are; outputFiles beside. */
static int plugin_outputs(TaskOutcome *out, json_t *announced, json_t *files) {
        json_t *o = json_object();
        if (!o || json_object_update(o, announced) < 0 ||
            (json_object_size(files) > 0 && json_object_set(o, "outputFiles", files) < 0)) {
                json_decref(o);
                return -ENOMEM;
        }
        json_decref(out->outputs);
        out->outputs = o;
        return 0;
}

/* An exec plugin has no storage_put(): it keeps a file in internal storage by writing it below
 * this directory of its working directory and announcing its name there as an output's value
 * ("uri": ".tern-store/rows.ion", or in a list or map). The worker keeps the directory's files as
 * it keeps outputFiles and puts each file's kestra:/// URI in place of its name. */
#define PLUGIN_STORE_DIR ".tern-store/"

/* The outputFiles patterns of the run: the flow's (a string or a list) and the store directory's. */
static json_t *exec_output_patterns(json_t *given) {
        json_t *all = json_is_array(given) ? json_copy(given) : json_array();
        if (!all)
                return NULL;
        if ((json_is_string(given) && json_array_append(all, given) < 0) ||
            json_array_append_new(all, json_string(PLUGIN_STORE_DIR "*")) < 0) {
                json_decref(all);
                return NULL;
        }
        return all;
}

/* The URI standing for e when it is a string naming a file of the store directory (stored: the
 * run's outputFiles); NULL otherwise, and then *missing is set if it names a file not left there. */
static json_t *stored_uri(json_t *e, json_t *stored, const char **missing) {
        const char *name = json_string_value(e);
        if (!name || !startswith(name, PLUGIN_STORE_DIR))
                return NULL;
        json_t *uri = json_object_get(stored, name);
        if (!uri && !*missing)
                *missing = name;
        return uri;
}

/* Each string of v naming a file of the store directory becomes that file's URI; *missing is the
 * first such name the plugin did not leave there. */
static int resolve_stored(json_t *v, json_t *stored, const char **missing) {
        size_t i;
        const char *k;
        json_t *e, *uri;

        if (json_is_object(v)) {
                json_object_foreach(v, k, e)
                        if ((uri = stored_uri(e, stored, missing)) ? json_object_set(v, k, uri) < 0
                                                                  : resolve_stored(e, stored, missing) < 0)
                                return -ENOMEM;
        } else if (json_is_array(v)) {
                json_array_foreach(v, i, e)
                        if ((uri = stored_uri(e, stored, missing)) ? json_array_set(v, i, uri) < 0
                                                                  : resolve_stored(e, stored, missing) < 0)
                                return -ENOMEM;
        }
        return 0;
}

static int run_exec(TaskRunContext *ctx, const PluginType *pt, json_t *props, json_t *input, TaskOutcome *out) {
        const Plugin *pl = pt->plugin;
        _cleanup_free_ char *what = strdup_printf("Plugin '%s'", pl->name);
        const ScriptLanguage lang = { .id = "plugin", .label = pl->name, .extension = "", .what = what };
        _cleanup_free_ char *in_name = strjoin(".tern-", ctx->task_run_id ?: "plugin", ".json");
        _cleanup_free_ char *text = json_dumps(input, JSON_COMPACT);
        int r;

        if (!what || !in_name || !text)
                return -ENOMEM;
        _cleanup_close_ int fd = task_file_create(ctx, "plugin input", in_name, out);
        if (fd < 0)
                return out->error ? 0 : fd;
        size_t n = strlen(text);
        if (write(fd, text, n) != (ssize_t) n)
                return task_fail(out, "cannot write the plugin's input '%s': %s", in_name, strerror(errno));
        /* The process reads its properties on stdin; the file is gone before it starts, so that it
         * is neither among its files nor among outputFiles. (No quotes in either name: the loader
         * refuses them in paths, task-run ids have none.) */
        _cleanup_free_ char *body = strdup_printf("{ rm -f '%s'; exec '%s'; } < '%s'\n", in_name, pl->program, in_name);
        /* What script_run() takes from a script task's properties, set here: the plugin's own
         * properties never reach it (a plugin may well have one named 'env' or 'interpreter'). */
        _cleanup_json_ json_t *patterns = exec_output_patterns(json_object_get(props, "outputFiles"));
        _cleanup_json_ json_t *run = json_pack("{s:O?, s:O, s:b, s:b, s:{s:s, s:s}}", "inputFiles",
                                               json_object_get(props, "inputFiles"), "outputFiles",
                                               patterns, "warningOnStdErr", false,
                                               "failFast", false, "env", "TERN_PLUGIN_DIR", pl->dir,
                                               "TERN_TASK_TYPE", task_type_kestra_name(&pt->type));
        if (!patterns || !body || !run)
                return -ENOMEM;
        r = script_run(ctx, run, &lang, body, NULL, out);
        if (r < 0 || !out->outputs)
                return r;
        json_t *vars = json_object_get(out->outputs, "vars"), *files = json_object_get(out->outputs, "outputFiles");
        const char *missing = NULL;
        if (resolve_stored(vars, files, &missing) < 0)
                return -ENOMEM;
        if (missing && out->state != STATE_FAILED)
                task_fail(out, "Plugin '%s' announced the file '%s' for internal storage, and left no such file",
                          pl->name, missing);
        /* The stored files are outputs of their own: outputFiles stays what the flow asked for. */
        const char *k;
        json_t *e;
        void *tmp;
        json_object_foreach_safe(files, tmp, k, e)
                if (startswith(k, PLUGIN_STORE_DIR))
                        (void) json_object_del(files, k);
        return plugin_outputs(out, vars, files);
}

/* ---- native plugins: the services of <tern/plugin.h> ---- */

typedef struct NativeRun {
        TaskRunContext *ctx;
        Announcements ann;
        char *error;
        usec_t deadline; /* 0: none */
} NativeRun;

/* The worker's levels are in <tern/plugin.h>'s order. */
_Static_assert((int) TERN_PLUGIN_LOG_ERROR == (int) TASK_LOG_ERROR && (int) TERN_PLUGIN_LOG_TRACE == (int) TASK_LOG_TRACE,
               "plugin log levels");

static void svc_log(void *c, TernPluginLogLevel level, const char *message) {
        NativeRun *nr = c;
        if (message && (int) level >= 0 && (int) level < _TASK_LOG_LEVEL_MAX)
                nr->ctx->log(nr->ctx, (TaskLogLevel) level, message);
}

/* Outputs and metrics take the path of the ::{...}:: lines: the same merging, checks and bounds. */
static int announce(NativeRun *nr, json_t *m) {
        _cleanup_free_ char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
        if (!text)
                return -ENOMEM;
        _cleanup_free_ char *line = strjoin("::", text, "::");
        if (!line)
                return -ENOMEM;
        if (!announcement_parse(&nr->ann, nr->ctx, line, strlen(line)))
                return -EINVAL;
        return nr->ann.too_much ? -E2BIG : 0;
}

static int svc_output(void *c, const char *name, const char *value_json) {
        if (isempty(name) || !value_json)
                return -EINVAL;
        json_t *v = json_loads(value_json, JSON_DECODE_ANY, NULL);
        if (!v)
                return -EINVAL;
        _cleanup_json_ json_t *m = json_pack("{s:{s:o}}", "outputs", name, v);
        return announce(c, m);
}

static int svc_metric(void *c, const char *type, const char *name, double value, const char *tags_json) {
        json_t *tags = tags_json ? json_loads(tags_json, 0, NULL) : json_object();
        if (!json_is_object(tags) || isempty(type) || isempty(name)) {
                json_decref(tags);
                return -EINVAL;
        }
        _cleanup_json_ json_t *m = json_pack("{s:[{s:s, s:s, s:f, s:o}]}", "metrics", "name", name, "type", type, "value",
                                             value, "tags", tags);
        return announce(c, m);
}

static int svc_storage_get(void *c, const char *uri, const char *file) {
        NativeRun *nr = c;
        TaskOutcome scratch = {};
        if (!uri || !file)
                return -EINVAL;
        if (!nr->ctx->fetch_file)
                return -ENXIO;
        _cleanup_close_ int fd = task_file_create(nr->ctx, "file", file, &scratch);
        task_outcome_done(&scratch);
        if (fd < 0)
                return fd;
        return nr->ctx->fetch_file(nr->ctx, uri, fd);
}

static int svc_storage_put(void *c, const char *file, char **ret_uri) {
        NativeRun *nr = c;
        TaskOutcome scratch = {};
        if (!file || !ret_uri)
                return -EINVAL;
        if (!nr->ctx->store_file)
                return -ENXIO;
        _cleanup_close_ int fd = task_file_open(nr->ctx, "file", file, &scratch);
        task_outcome_done(&scratch);
        if (fd < 0)
                return fd;
        return nr->ctx->store_file(nr->ctx, file, fd, ret_uri);
}

static void svc_fail(void *c, const char *message) {
        NativeRun *nr = c;
        char *m = message ? strdup(message) : NULL;
        if (m) {
                free(nr->error);
                nr->error = m;
        }
}

static bool timed_out(NativeRun *nr) {
        return nr->deadline && now_usec(CLOCK_MONOTONIC) >= nr->deadline;
}

static bool killed(NativeRun *nr) {
        struct pollfd p = { .fd = nr->ctx->cancel_fd, .events = POLLIN };
        return nr->ctx->cancel_fd >= 0 && poll(&p, 1, 0) > 0;
}

static int svc_cancelled(void *c) {
        NativeRun *nr = c;
        return killed(nr) || timed_out(nr);
}

static uint64_t svc_remaining_usec(void *c) {
        NativeRun *nr = c;
        if (!nr->deadline)
                return UINT64_MAX;
        usec_t t = now_usec(CLOCK_MONOTONIC);
        return t >= nr->deadline ? 0 : nr->deadline - t;
}

static int svc_ion_to_json(void *c, const char *text, size_t len, char **ret_json, const char **ret_why) {
        _cleanup_json_ json_t *v = NULL;
        if (!text || !ret_json || !ret_why)
                return -EINVAL;
        *ret_json = NULL;
        int r = ion_value_parse(text, len, &v, ret_why);
        if (r <= 0)
                return r;
        *ret_json = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        return *ret_json ? 1 : -ENOMEM;
}

static int svc_json_to_ion(void *c, const char *json, char **ret_ion) {
        if (!json || !ret_ion)
                return -EINVAL;
        _cleanup_json_ json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
        if (!v)
                return -EINVAL;
        return ion_value_format(v, ret_ion);
}

static int run_native(TaskRunContext *ctx, const PluginType *pt, json_t *props, json_t *input, TaskOutcome *out) {
        const Plugin *pl = pt->plugin;
        _cleanup_free_ char *text = json_dumps(input, JSON_COMPACT);
        _cleanup_json_ json_t *files = NULL;
        _cleanup_strv_free_ char **patterns = NULL;
        NativeRun nr = { .ctx = ctx, .deadline = ctx->timeout ? now_usec(CLOCK_MONOTONIC) + ctx->timeout : 0 };
        int r;

        if (!text || announcements_init(&nr.ann) < 0) {
                announcements_done(&nr.ann);
                return -ENOMEM;
        }
        out->state = STATE_SUCCESS;
        if ((r = task_write_input_files(ctx, json_object_get(props, "inputFiles"), out)) < 0) {
                announcements_done(&nr.ann);
                return out->error ? 0 : r;
        }
        TernPluginServices svc = {
                .abi_version = TERN_PLUGIN_ABI_VERSION,
                .size = sizeof svc,
                .ctx = &nr,
                .task_type = task_type_kestra_name(&pt->type),
                .execution_id = ctx->execution_id,
                .task_run_id = ctx->task_run_id,
                .task_id = ctx->task_id,
                .namespace_ = ctx->namespace,
                .flow_id = ctx->flow_id,
                .attempt = ctx->attempt,
                .working_dir = ctx->working_dir,
                .log = svc_log,
                .output = svc_output,
                .metric = svc_metric,
                .storage_get = svc_storage_get,
                .storage_put = svc_storage_put,
                .fail = svc_fail,
                .cancelled = svc_cancelled,
                .remaining_usec = svc_remaining_usec,
                .ion_to_json = svc_ion_to_json,
                .json_to_ion = svc_json_to_ion,
        };
        int rc = pl->run(svc.task_type, text, &svc);

        char d[DURATION_MAX];
        if (killed(&nr))
                out->state = STATE_KILLED;
        else if (timed_out(&nr))
                task_fail(out, "Timeout after %s: plugin '%s' was told to stop", duration_format(d, (susec_t) ctx->timeout),
                          pl->name);
        else if (rc < 0)
                task_fail(out, "Plugin '%s' failed: %s", pl->name, nr.error ?: strerror(-rc));
        else if (rc == TERN_PLUGIN_FAILED || rc > TERN_PLUGIN_FAILED)
                task_fail(out, "Plugin '%s' failed: %s", pl->name, nr.error ?: "it gave no reason");
        else if (rc == TERN_PLUGIN_WARNING)
                out->state = STATE_WARNING;
        free(nr.error);

        json_t *of = json_object_get(props, "outputFiles");
        if (json_is_string(of))
                r = strv_extend(&patterns, json_string_value(of));
        else {
                size_t i;
                json_t *e;
                r = 0;
                json_array_foreach(of, i, e)
                        if (json_is_string(e) && (r = strv_extend(&patterns, json_string_value(e))) < 0)
                                break;
        }
        if (r >= 0 && patterns && out->state != STATE_KILLED) {
                TaskOutcome scratch = { .state = STATE_SUCCESS };
                r = task_collect_output_files(ctx, patterns, &files, &scratch);
                if (scratch.error && out->state != STATE_FAILED)
                        task_fail(out, "%s", scratch.error);
                task_outcome_done(&scratch);
                if (r != -ENOMEM)
                        r = 0;
        }
        if (r >= 0)
                r = plugin_outputs(out, nr.ann.vars, files);
        if (r >= 0 && json_array_size(nr.ann.metrics) > 0)
                out->metrics = json_incref(nr.ann.metrics);
        announcements_done(&nr.ann);
        return r == -ENOMEM ? r : 0;
}

int task_impl_plugin(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const PluginType *pt = plugin_type_of(task_type_lookup(TASK_TYPE_TASK, ctx->task_type));
        int r;

        if (!pt)
                return task_fail(out, "task type '%s' is not a plugin's on this worker: is the plugin installed here?",
                                 strna(ctx->task_type));
        /* The plugin gets its own properties; inputFiles and outputFiles are the worker's to handle. */
        _cleanup_json_ json_t *input = json_copy(props);
        if (!input)
                return -ENOMEM;
        (void) json_object_del(input, "inputFiles");
        (void) json_object_del(input, "outputFiles");
        if ((r = fetch_file_properties(ctx, pt, input, out)) < 0)
                return out->error ? 0 : r;
        if (pt->plugin->kind == PLUGIN_NATIVE)
                return run_native(ctx, pt, props, input, out);
        return run_exec(ctx, pt, props, input, out);
}

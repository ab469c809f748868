/* task-impl.c: the worker's runners, indexed by the task-type registry's runner ids, and helpers they share. */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "task-impl.h"

static const char *const level_names[_TASK_LOG_LEVEL_MAX] = {
        [TASK_LOG_ERROR] = "ERROR", [TASK_LOG_WARN] = "WARN",   [TASK_LOG_INFO] = "INFO",
        [TASK_LOG_DEBUG] = "DEBUG", [TASK_LOG_TRACE] = "TRACE",
};

const char *task_log_level_to_string(TaskLogLevel l) {
        return l >= 0 && l < _TASK_LOG_LEVEL_MAX ? level_names[l] : NULL;
}

TaskLogLevel task_log_level_from_string(const char *s) {
        if (!s)
                return _TASK_LOG_LEVEL_INVALID;
        for (int i = 0; i < _TASK_LOG_LEVEL_MAX; i++)
                if (strcasecmp(s, level_names[i]) == 0)
                        return (TaskLogLevel) i;
        if (strcasecmp(s, "WARNING") == 0)
                return TASK_LOG_WARN;
        return _TASK_LOG_LEVEL_INVALID;
}

/* One entry per TaskRunnerId: which registry type uses which id is said in lib/flow/task-types.c, and
 * tests/unit/test-task-registry.c fails when an id a type uses has no entry here. */
static const TaskImpl impls[_TASK_RUNNER_MAX] = {
        [TASK_RUNNER_LOG] = { task_impl_log, false },
        [TASK_RUNNER_ECHO] = { task_impl_echo, false },
        [TASK_RUNNER_RETURN] = { task_impl_return, false },
        [TASK_RUNNER_FAIL] = { task_impl_fail, false },
        [TASK_RUNNER_OUTPUT_VALUES] = { task_impl_output_values, false },
        [TASK_RUNNER_SLEEP] = { task_impl_sleep, false },
        [TASK_RUNNER_SHELL_COMMANDS] = { task_impl_shell_commands, true },
        [TASK_RUNNER_SHELL_SCRIPT] = { task_impl_shell_script, true },
        [TASK_RUNNER_SCRIPT_COMMANDS] = { task_impl_script_commands, true },
        [TASK_RUNNER_SCRIPT_SCRIPT] = { task_impl_script_script, true },
        [TASK_RUNNER_BASH] = { task_impl_bash, true },
        [TASK_RUNNER_KV_GET] = { task_impl_kv_get, false },
        [TASK_RUNNER_KV_SET] = { task_impl_kv_set, false },
        [TASK_RUNNER_KV_DELETE] = { task_impl_kv_delete, false },
        [TASK_RUNNER_KV_GET_KEYS] = { task_impl_kv_get_keys, false },
        /* A directory for the files they pass through, and UploadFiles' patterns. */
        [TASK_RUNNER_NS_UPLOAD_FILES] = { task_impl_ns_upload_files, true },
        [TASK_RUNNER_NS_DOWNLOAD_FILES] = { task_impl_ns_download_files, true },
        [TASK_RUNNER_NS_DELETE_FILES] = { task_impl_ns_delete_files, false },
        [TASK_RUNNER_STATE_GET] = { task_impl_state_get, false },
        [TASK_RUNNER_STATE_SET] = { task_impl_state_set, false },
        [TASK_RUNNER_STATE_DELETE] = { task_impl_state_delete, false },
        [TASK_RUNNER_LOG_FETCH] = { task_impl_log_fetch, true },
        [TASK_RUNNER_HTTP_REQUEST] = { task_impl_http_request, false },
        [TASK_RUNNER_HTTP_DOWNLOAD] = { task_impl_http_download, true },
        [TASK_RUNNER_EXECUTION_COUNT] = { task_impl_execution_count, false },
        [TASK_RUNNER_PURGE_EXECUTIONS] = { task_impl_purge_executions, false },
        [TASK_RUNNER_PURGE_LOGS] = { task_impl_purge_logs, false },
        [TASK_RUNNER_PURGE_KV] = { task_impl_purge_kv, false },
        [TASK_RUNNER_RESUME] = { task_impl_resume, false },
        [TASK_RUNNER_TRIGGER_TOGGLE] = { task_impl_trigger_toggle, false },
        /* The task it runs may want one. */
        [TASK_RUNNER_TEMPLATED] = { task_impl_templated, true },
        /* Internal storage tasks: those that make files make them in a directory of their own. */
        [TASK_RUNNER_STORAGE_WRITE] = { task_impl_storage_write, true },
        [TASK_RUNNER_STORAGE_DELETE] = { task_impl_storage_delete, false },
        [TASK_RUNNER_STORAGE_SIZE] = { task_impl_storage_size, false },
        [TASK_RUNNER_STORAGE_CONCAT] = { task_impl_storage_concat, true },
        [TASK_RUNNER_STORAGE_SPLIT] = { task_impl_storage_split, true },
        [TASK_RUNNER_STORAGE_REVERSE] = { task_impl_storage_reverse, true },
        [TASK_RUNNER_STORAGE_FILTER_ITEMS] = { task_impl_storage_filter_items, true },
        [TASK_RUNNER_STORAGE_DEDUPLICATE_ITEMS] = { task_impl_storage_deduplicate_items, true },
        [TASK_RUNNER_STORAGE_PURGE_EXECUTION] = { task_impl_storage_purge_execution, false },
        [TASK_RUNNER_STORAGE_LOCAL_FILES] = { task_impl_storage_local_files, true },
        [TASK_RUNNER_ASSERT] = { task_impl_assert, false },
        [TASK_RUNNER_FOR_EACH_ITEM_SPLIT] = { task_impl_for_each_item_split, true },
        [TASK_RUNNER_FOR_EACH_ITEM_MERGE] = { task_impl_for_each_item_merge, true },
        /* Exec plugins run as script tasks do; native ones get a directory for their files too. */
        [TASK_RUNNER_PLUGIN] = { task_impl_plugin, true },
};

const char *task_file_strerror(TaskRunContext *ctx, int r) {
        const char *e = ctx->file_error ? ctx->file_error(ctx) : NULL;
        return e ?: strerror(-r);
}

const TaskImpl *task_impl_for(const TaskType *t) {
        if (!t || t->kind != TASK_TYPE_TASK || t->runner <= TASK_RUNNER_NONE || t->runner >= _TASK_RUNNER_MAX)
                return NULL;
        return impls[t->runner].run ? &impls[t->runner] : NULL;
}

const TaskImpl *task_impl_lookup(const char *type) {
        return task_impl_for(task_type_lookup(TASK_TYPE_TASK, type));
}

void task_outcome_done(TaskOutcome *o) {
        json_decref(o->outputs);
        json_decref(o->metrics);
        free(o->error);
        *o = (TaskOutcome) {};
}

int task_fail(TaskOutcome *o, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(o->error);
        o->error = m;
        o->state = STATE_FAILED;
        return m ? 0 : -ENOMEM;
}

void task_logf(TaskRunContext *ctx, TaskLogLevel level, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r >= 0 && ctx->log)
                ctx->log(ctx, level, m);
        free(m);
}

int task_check_stop(TaskRunContext *ctx, TaskOutcome *out, const char *fmt, ...) {
        usec_t now = now_monotonic();

        if (ctx->cancel_fd >= 0 && (ctx->stop_looked == 0 || now - ctx->stop_looked >= TASK_STOP_LOOK_USEC)) {
                struct pollfd p = { ctx->cancel_fd, POLLIN, 0 };
                ctx->stop_looked = now;
                if (poll(&p, 1, 0) > 0) {
                        out->state = STATE_KILLED;
                        return -ECANCELED;
                }
        }
        if (!ctx->deadline || now < ctx->deadline)
                return 0;

        _cleanup_free_ char *what = NULL;
        char d[DURATION_MAX];
        va_list ap;
        va_start(ap, fmt);
        int r = vasprintf(&what, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return task_fail(out, "Timeout after %s: %s", duration_format(d, (susec_t) ctx->timeout), what) < 0
                       ? -ENOMEM : -ETIMEDOUT;
}

const char *task_prop_string(json_t *props, const char *name, const char *def) {
        json_t *v = json_object_get(props, name);
        return json_is_string(v) ? json_string_value(v) : def;
}

int task_prop_bool(json_t *props, const char *name, bool def, bool *ret) {
        json_t *v = json_object_get(props, name);
        if (!v || json_is_null(v))
                *ret = def;
        else if (json_is_boolean(v))
                *ret = json_is_true(v);
        else if (json_is_string(v) && (strcasecmp(json_string_value(v), "true") == 0 ||
                                       strcasecmp(json_string_value(v), "false") == 0))
                *ret = strcasecmp(json_string_value(v), "true") == 0;
        else
                return -EINVAL;
        return 0;
}

int task_prop_duration(json_t *props, const char *name, susec_t def, susec_t *ret) {
        json_t *v = json_object_get(props, name);
        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_string(v))
                return -EINVAL;
        return duration_parse(json_string_value(v), ret);
}

/* task-impl.c: the table of runnable task implementations and helpers they share. */
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

static const TaskImpl impls[] = {
        { "Log", task_run_log, false },
        { "Echo", task_run_echo, false },
        { "Return", task_run_return, false },
        { "Fail", task_run_fail, false },
        { "OutputValues", task_run_output_values, false },
        { "Sleep", task_run_sleep, false },
        { "shell.Commands", task_run_shell_commands, true },
        { "shell.Script", task_run_shell_script, true },
        { "kv.Get", task_run_kv_get, false },
        { "kv.Set", task_run_kv_set, false },
        { "kv.Delete", task_run_kv_delete, false },
        { "kv.GetKeys", task_run_kv_get_keys, false },
        { "state.Get", task_run_state_get, false },
        { "state.Set", task_run_state_set, false },
        { "state.Delete", task_run_state_delete, false },
        { "log.Fetch", task_run_log_fetch, true },
        { "http.Request", task_run_http_request, false },
        { "http.Download", task_run_http_download, true },
};

const TaskImpl *task_impl_lookup(const char *type) {
        for (size_t i = 0; i < ELEMENTSOF(impls); i++)
                if (streq(impls[i].type, type))
                        return &impls[i];
        return NULL;
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

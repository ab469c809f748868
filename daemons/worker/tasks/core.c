/* core.c: the core runnable tasks: Log, Echo, Return, Fail, Assert, OutputValues, Sleep. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <strings.h>

#include "cleanup-jansson.h"
#include "macro.h"
#include "strutil.h"
#include "task-impl.h"

static int log_level_prop(json_t *props, TaskLogLevel *ret, TaskOutcome *out) {
        const char *s = task_prop_string(props, "level", "INFO");
        TaskLogLevel l = task_log_level_from_string(s);
        if (l < 0)
                return task_fail(out, "level '%s' is not one of TRACE, DEBUG, INFO, WARN, ERROR", s), -EINVAL;
        *ret = l;
        return 0;
}

int task_impl_log(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *m = json_object_get(props, "message");
        TaskLogLevel level;

        out->state = STATE_SUCCESS;
        if (log_level_prop(props, &level, out) < 0)
                return 0;
        if (json_is_array(m)) {
                size_t i;
                json_t *e;
                json_array_foreach(m, i, e)
                        if (json_is_string(e))
                                ctx->log(ctx, level, json_string_value(e));
        } else if (json_is_string(m))
                ctx->log(ctx, level, json_string_value(m));
        else if (m && !json_is_null(m)) {
                _cleanup_free_ char *s = json_dumps(m, JSON_COMPACT | JSON_ENCODE_ANY);
                if (!s)
                        return -ENOMEM;
                ctx->log(ctx, level, s);
        } else
                return task_fail(out, "property 'message' is required");
        return 0;
}

int task_impl_echo(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        TaskLogLevel level;

        out->state = STATE_SUCCESS;
        if (log_level_prop(props, &level, out) < 0)
                return 0;
        ctx->log(ctx, level, task_prop_string(props, "format", ""));
        return 0;
}

int task_impl_return(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *f = json_object_get(props, "format");

        out->state = STATE_SUCCESS;
        /* Return's output is always text, whatever the template evaluated to. */
        if (f && !json_is_null(f) && !json_is_string(f)) {
                _cleanup_free_ char *s = json_dumps(f, JSON_COMPACT | JSON_ENCODE_ANY);
                out->outputs = json_pack("{s:s?}", "value", s);
        } else
                out->outputs = json_pack("{s:O?}", "value", f && json_is_string(f) ? f : NULL);
        return out->outputs ? 0 : -ENOMEM;
}

static bool condition_is_true(json_t *v) {
        if (json_is_boolean(v))
                return json_is_true(v);
        if (json_is_string(v))
                return strcasecmp(json_string_value(v), "true") == 0;
        if (json_is_integer(v))
                return json_integer_value(v) != 0;
        return false;
}

int task_impl_fail(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *cond = json_object_get(props, "condition");
        const char *msg = task_prop_string(props, "errorMessage", "Task failure");

        out->state = STATE_SUCCESS;
        if (cond && !json_is_null(cond) && !condition_is_true(cond))
                return 0;
        return task_fail(out, "%s", msg);
}

/* Kestra's TruthUtils.isFalsy() of a condition's rendered text: "false", "0", "-0" or empty (trimmed). */
static bool assertion_is_false(json_t *v) {
        if (!v || json_is_null(v))
                return true; /* Pebble renders null as an empty text */
        if (json_is_boolean(v))
                return !json_is_true(v);
        if (json_is_integer(v))
                return json_integer_value(v) == 0;
        if (json_is_real(v))
                return json_real_value(v) == 0.0;
        if (!json_is_string(v))
                return false;
        const char *s = json_string_value(v);
        s += strspn(s, " \t\r\n");
        size_t n = strlen(s);
        while (n > 0 && strchr(" \t\r\n", s[n - 1]))
                n--;
        return n == 0 || (n == 5 && strncmp(s, "false", 5) == 0) || (n == 1 && s[0] == '0') ||
               (n == 2 && strncmp(s, "-0", 2) == 0);
}

/* Assert: each condition is rendered here (the property is raw), so that one that fails to render
 * counts as a failed assertion rather than failing the task before the others are checked. */
int task_impl_assert(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *conds = json_object_get(props, "conditions"), *c;
        json_int_t failed = 0, succeeded = 0;
        size_t i;

        out->state = STATE_SUCCESS;
        if (!json_is_array(conds))
                return task_fail(out, "property 'conditions' must be a list of expressions");
        json_array_foreach(conds, i, c) {
                _cleanup_json_ json_t *res = NULL;
                _cleanup_free_ char *err = NULL, *text = NULL;
                const char *shown = json_string_value(c);
                if (!shown)
                        shown = text = json_dumps(c, JSON_COMPACT | JSON_ENCODE_ANY);
                int r = ctx->render(ctx, c, NULL, &res, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        task_logf(ctx, TASK_LOG_ERROR, "Assertion `%s` failed, failed to render `%s`", strna(shown),
                                  strna(err));
                        failed++;
                } else if (assertion_is_false(res)) {
                        task_logf(ctx, TASK_LOG_ERROR, "Assertion `%s` failed!", strna(shown));
                        failed++;
                } else
                        succeeded++;
        }
        out->metrics = json_pack("[{s:s, s:s, s:I, s:{}}, {s:s, s:s, s:I, s:{}}]", "name", "success", "type", "counter",
                                 "value", succeeded, "tags", "name", "failed", "type", "counter", "value", failed,
                                 "tags");
        if (!out->metrics)
                return -ENOMEM;
        if (failed == 0)
                return 0;
        const char *msg = task_prop_string(props, "errorMessage", NULL);
        return task_fail(out, "%lld assertion%s failed!%s%s", (long long) failed, failed > 1 ? "s" : "", msg ? "\n" : "",
                         strempty(msg));
}

int task_impl_output_values(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        json_t *v = json_object_get(props, "values");

        out->state = STATE_SUCCESS;
        if (v && !json_is_object(v))
                return task_fail(out, "property 'values' must be a map");
        out->outputs = json_pack("{s:O}", "values", v ? v : json_object());
        return out->outputs ? 0 : -ENOMEM;
}

int task_impl_sleep(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        susec_t d;

        out->state = STATE_SUCCESS;
        if (task_prop_duration(props, "duration", -1, &d) < 0 || d < 0)
                return task_fail(out, "property 'duration' must be an ISO-8601 duration such as PT5S");
        usec_t end = now_monotonic() + (usec_t) d;
        for (;;) {
                /* a kill, or the task's timeout ending before the sleep does */
                int r = task_check_stop(ctx, out, "the sleep was cut short");
                if (r < 0)
                        return r == -ENOMEM ? r : 0;
                usec_t now = now_monotonic();
                if (now >= end)
                        return 0;
                usec_t wake = ctx->deadline ? MIN(end, ctx->deadline) : end;
                struct pollfd p = { ctx->cancel_fd, POLLIN, 0 };
                int ms = wake <= now ? 0 : (int) MIN((wake - now + 999) / 1000, 60000u);
                r = poll(&p, ctx->cancel_fd >= 0 ? 1 : 0, ms);
                if (r < 0 && errno != EINTR)
                        return -errno;
                if (r > 0)
                        ctx->stop_looked = 0; /* readable: task_check_stop() looks at once */
        }
}

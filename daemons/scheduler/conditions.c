/* conditions.c: trigger conditions (execution, flow, date and expression conditions, Flow trigger preconditions) evaluated for the scheduler. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdio.h>

#include "cleanup-jansson.h"
#include "conditions.h"
#include "expr.h"
#include "strutil.h"
#include "task-types.h"
#include "user-regex.h"

static const char *str_prop(json_t *c, const char *name) {
        return json_string_value(json_object_get(c, name));
}

static bool state_in(json_t *list, const char *state) {
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v)
                if (streq_ptr(json_string_value(v), state))
                        return true;
        return false;
}

static const char *exec_state(const ConditionCtx *ctx) {
        return json_string_value(json_object_get(json_object_get(ctx->execution, "state"), "current"));
}

/* Does the execution carry label key=value? Labels are [{key, value}]. */
static bool has_label(json_t *labels, const char *key, json_t *value) {
        size_t i;
        json_t *l;
        _cleanup_free_ char *want = NULL;
        if (expr_value_to_string(value, &want) < 0)
                return false;
        json_array_foreach(labels, i, l) {
                _cleanup_free_ char *got = NULL;
                if (!streq_ptr(json_string_value(json_object_get(l, "key")), key))
                        continue;
                if (expr_value_to_string(json_object_get(l, "value"), &got) >= 0 && streq(got, want))
                        return true;
        }
        return false;
}

static int eval_expression(const char *expression, const ConditionCtx *ctx) {
        ExprContext ec = { .variables = ctx->variables, .secret = ctx->secret, .userdata = ctx->userdata,
                           .now = ctx->now };
        _cleanup_free_ char *out = NULL;
        ExprError err = {};
        if (!expression)
                return 0;
        int r = expr_render(expression, &ec, &out, &err);
        expr_error_done(&err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return 0; /* a failing expression does not hold */
        strstrip(out);
        return streq(out, "true");
}

static int weekday_of(const char *name) {
        static const char *const days[] = { "SUNDAY", "MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY",
                                            "SATURDAY" };
        for (int i = 0; i < 7; i++)
                if (name && strcasecmp(name, days[i]) == 0)
                        return i;
        return -1;
}

static int local_date(const ConditionCtx *ctx, LocalTime *lt) {
        if (!ctx->date)
                return -ENODATA;
        return tz_utc_to_local(ctx->tz, ctx->date, lt);
}

static int eval_between(json_t *c, const ConditionCtx *ctx, bool time_only) {
        const char *after = str_prop(c, "after"), *before = str_prop(c, "before");
        LocalTime lt;
        int r;
        if ((r = local_date(ctx, &lt)) < 0)
                return 0;
        if (time_only) {
                /* "HH:MM[:SS]" against the slot's wall-clock time. */
                unsigned now_s = lt.hour * 3600 + lt.minute * 60 + lt.second, h, m, sec = 0;
                if (after && sscanf(after, "%u:%u:%u", &h, &m, &sec) >= 2 && now_s < h * 3600 + m * 60 + sec)
                        return 0;
                sec = 0;
                if (before && sscanf(before, "%u:%u:%u", &h, &m, &sec) >= 2 && now_s > h * 3600 + m * 60 + sec)
                        return 0;
                return 1;
        }
        usec_t t;
        if (after && timestamp_parse(after, lt.offset_sec, &t) >= 0 && ctx->date < t)
                return 0;
        if (before && timestamp_parse(before, lt.offset_sec, &t) >= 0 && ctx->date > t)
                return 0;
        return 1;
}

static int eval_day_week_in_month(json_t *c, const ConditionCtx *ctx) {
        LocalTime lt;
        int wd = weekday_of(str_prop(c, "dayOfWeek"));
        const char *which = str_prop(c, "dayInMonth");
        if (local_date(ctx, &lt) < 0 || wd < 0 || !which)
                return 0;
        if ((int) lt.weekday != wd)
                return 0;
        unsigned nth = (lt.day - 1) / 7 + 1, dim = days_in_month(lt.year, lt.month);
        if (!strcasecmp(which, "FIRST"))
                return nth == 1;
        if (!strcasecmp(which, "SECOND"))
                return nth == 2;
        if (!strcasecmp(which, "THIRD"))
                return nth == 3;
        if (!strcasecmp(which, "FOURTH"))
                return nth == 4;
        if (!strcasecmp(which, "LAST"))
                return lt.day + 7 > dim;
        return 0;
}

/* preconditions.flows[]: namespace, flowId, states, labels (each optional but namespace). */
static int eval_upstream_flow(json_t *c, const ConditionCtx *ctx) {
        const char *ns = str_prop(c, "namespace"), *flow_id = str_prop(c, "flowId"), *k;
        json_t *states = json_object_get(c, "states"), *labels = json_object_get(c, "labels"), *v;
        if (!ctx->execution)
                return 0;
        if (ns && !streq_ptr(ns, str_prop(ctx->execution, "namespace")))
                return 0;
        if (flow_id && !streq_ptr(flow_id, str_prop(ctx->execution, "flowId")))
                return 0;
        if (json_is_array(states) && !state_in(states, exec_state(ctx)))
                return 0;
        json_object_foreach(labels, k, v)
                if (!has_label(json_object_get(ctx->execution, "labels"), k, v))
                        return 0;
        return 1;
}

static int filter_match(json_t *f, const ConditionCtx *ctx) {
        const char *field = str_prop(f, "field"), *type = str_prop(f, "type"), *want = str_prop(f, "value");
        _cleanup_free_ char *rendered = NULL;
        const char *got = NULL;
        if (streq_ptr(field, "FLOW_ID"))
                got = str_prop(ctx->execution, "flowId");
        else if (streq_ptr(field, "NAMESPACE"))
                got = str_prop(ctx->execution, "namespace");
        else if (streq_ptr(field, "STATE"))
                got = exec_state(ctx);
        else if (streq_ptr(field, "EXPRESSION") && want) {
                ExprContext ec = { .variables = ctx->variables, .secret = ctx->secret, .userdata = ctx->userdata,
                                   .now = ctx->now };
                ExprError err = {};
                int r = expr_render(want, &ec, &rendered, &err);
                expr_error_done(&err);
                if (r == -ENOMEM)
                        return r;
                got = r < 0 ? NULL : strstrip(rendered);
        }
        if (!type)
                return 0;
        if (streq(type, "IS_NULL") || streq(type, "IS_NOT_NULL"))
                return !got == streq(type, "IS_NULL");
        if (streq(type, "IS_TRUE") || streq(type, "IS_FALSE")) {
                bool truthy = got && !isempty(got) && !streq(got, "false") && !streq(got, "0");
                return truthy == streq(type, "IS_TRUE");
        }
        if (streq(type, "IN") || streq(type, "NOT_IN"))
                return got && state_in(json_object_get(f, "values"), got) == streq(type, "IN");
        if (!got || !want)
                return streq(type, "NOT_EQUAL_TO") && got != want;
        if (streq(type, "EQUAL_TO") || streq(type, "NOT_EQUAL_TO"))
                return streq(got, want) == streq(type, "EQUAL_TO");
        if (streq(type, "STARTS_WITH"))
                return startswith(got, want) != NULL;
        if (streq(type, "ENDS_WITH"))
                return strlen(got) >= strlen(want) && streq(got + strlen(got) - strlen(want), want);
        if (streq(type, "CONTAINS"))
                return strstr(got, want) != NULL;
        if (streq(type, "REGEX")) {
                regex_t re;
                /* Java's matches(): the whole value. A refused expression (backreferences) matches nothing. */
                int r = user_regex_compile(want, USER_REGEX_WHOLE | USER_REGEX_NOSUB, &re, NULL);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return 0;
                int m = regexec(&re, got, 0, NULL, 0) == 0;
                regfree(&re);
                return m;
        }
        return 0;
}

/* preconditions.where[]: filters joined by operand (AND by default). */
static int eval_execution_filter(json_t *c, const ConditionCtx *ctx) {
        bool any = streq_ptr(str_prop(c, "operand"), "OR");
        size_t i;
        json_t *f;
        if (!ctx->execution)
                return 0;
        json_array_foreach(json_object_get(c, "filters"), i, f) {
                int r = filter_match(f, ctx);
                if (r < 0)
                        return r;
                if (any && r > 0)
                        return 1;
                if (!any && r == 0)
                        return 0;
        }
        return !any;
}

int condition_eval(json_t *c, const ConditionCtx *ctx) {
        /* The scheduler's own types, made from a Flow trigger's preconditions. */
        if (streq_ptr(str_prop(c, "type"), CONDITION_UPSTREAM_FLOW))
                return eval_upstream_flow(c, ctx);
        if (streq_ptr(str_prop(c, "type"), CONDITION_EXECUTION_FILTER))
                return eval_execution_filter(c, ctx);

        const TaskType *t = task_type_lookup(TASK_TYPE_CONDITION, str_prop(c, "type"));
        const char *name = t ? t->name : "";
        size_t i;
        json_t *v;
        int r;

        if (streq(name, "ExecutionStatus")) {
                const char *st = exec_state(ctx);
                json_t *in = json_object_get(c, "in"), *not_in = json_object_get(c, "notIn");
                if (!st)
                        return 0;
                if (json_array_size(in) > 0 && !state_in(in, st))
                        return 0;
                return !state_in(not_in, st);
        }
        if (streq(name, "HasRetryAttempt")) {
                /* A task run that was retried (more than one attempt) with an attempt in one of `in`
                 * (any state when not given) and in none of `notIn`. (Kestra's current code compares
                 * the rendered state names with the attempts' enum values, so that its `in` never
                 * matches; this is what its documentation and earlier versions do.) */
                json_t *in = json_object_get(c, "in"), *not_in = json_object_get(c, "notIn"), *tr, *a;
                size_t j;
                json_array_foreach(json_object_get(ctx->execution, "taskRunList"), i, tr) {
                        json_t *attempts = json_object_get(tr, "attempts");
                        if (json_array_size(attempts) < 2)
                                continue;
                        json_array_foreach(attempts, j, a) {
                                const char *st = json_string_value(json_object_get(json_object_get(a, "state"), "current"));
                                if (st && (json_array_size(in) == 0 || state_in(in, st)) && !state_in(not_in, st))
                                        return 1;
                        }
                }
                return 0;
        }
        if (streq(name, "ExecutionFlow"))
                return ctx->execution &&
                       streq_ptr(str_prop(c, "namespace"), str_prop(ctx->execution, "namespace")) &&
                       streq_ptr(str_prop(c, "flowId"), str_prop(ctx->execution, "flowId"));
        if (streq(name, "ExecutionNamespace") || streq(name, "FlowNamespaceCondition")) {
                const char *want = str_prop(c, "namespace"), *cmp = str_prop(c, "comparison");
                const char *ns = streq(name, "ExecutionNamespace") ? str_prop(ctx->execution, "namespace")
                                                                   : ctx->flow_namespace;
                if (!want || !ns)
                        return 0;
                if (json_is_true(json_object_get(c, "prefix")) || streq_ptr(cmp, "PREFIX"))
                        return startswith(ns, want) != NULL;
                if (streq_ptr(cmp, "SUFFIX"))
                        return strlen(ns) >= strlen(want) && streq(ns + strlen(ns) - strlen(want), want);
                return streq(ns, want);
        }
        if (streq(name, "FlowCondition"))
                return streq_ptr(str_prop(c, "namespace"), ctx->flow_namespace) &&
                       streq_ptr(str_prop(c, "flowId"), ctx->flow_id);
        if (streq(name, "ExecutionLabels")) {
                json_t *want = json_object_get(c, "labels"), *have = json_object_get(ctx->execution, "labels");
                const char *k;
                if (json_is_object(want)) {
                        json_object_foreach(want, k, v)
                                if (!has_label(have, k, v))
                                        return 0;
                } else
                        json_array_foreach(want, i, v)
                                if (!has_label(have, str_prop(v, "key"), json_object_get(v, "value")))
                                        return 0;
                return 1;
        }
        if (streq(name, "Expression") || streq(name, "ExecutionOutputs"))
                return eval_expression(str_prop(c, "expression"), ctx);
        if (streq(name, "Not") || streq(name, "Or")) {
                bool any = false;
                json_array_foreach(json_object_get(c, "conditions"), i, v) {
                        if ((r = condition_eval(v, ctx)) < 0)
                                return r;
                        any = any || r > 0;
                }
                return streq(name, "Or") ? any : !any;
        }
        if (streq(name, "Weekend") || streq(name, "DayWeek")) {
                LocalTime lt;
                if (local_date(ctx, &lt) < 0)
                        return 0;
                if (streq(name, "Weekend"))
                        return lt.weekday == 0 || lt.weekday == 6;
                return (int) lt.weekday == weekday_of(str_prop(c, "dayOfWeek"));
        }
        if (streq(name, "DayWeekInMonth"))
                return eval_day_week_in_month(c, ctx);
        if (streq(name, "DateTimeBetween") || streq(name, "TimeBetween"))
                return eval_between(c, ctx, streq(name, "TimeBetween"));
        if (streq(name, "MultipleCondition"))
                return 1; /* evaluated by the caller, with its window */
        /* PublicHoliday, HasRetryAttempt: refused by validation (lib/flow/task-types.c); a flow
         * stored before that is never satisfied rather than starting executions its author ruled out. */
        return 0;
}

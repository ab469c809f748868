/* conditions.h: evaluating trigger conditions (Kestra's condition types) against an ended execution or a slot date. */
#pragma once

#include <jansson.h>

#include "timeutil.h"
#include "tz.h"

typedef struct ConditionCtx {
        json_t *execution;          /* the ended execution's document (Flow triggers), or NULL */
        json_t *variables;          /* expression variables (Expression, ExecutionOutputs) */
        const char *flow_namespace; /* the flow that owns the trigger (FlowCondition...) */
        const char *flow_id;
        usec_t date;                /* slot date (date conditions); 0: none */
        const TimeZone *tz;         /* the Schedule's zone for date conditions; NULL = UTC */
        usec_t now;
        int (*secret)(void *userdata, const char *key, char **ret);
        void *userdata;
} ConditionCtx;

/* 1 when the condition holds, 0 when not (also for types not supported by tern's scheduler:
 * PublicHoliday, which validation refuses), negative errno on failure. MultipleCondition returns 1: its
 * window is the caller's business. */
int condition_eval(json_t *condition, const ConditionCtx *ctx);

/* Condition types of the scheduler's own, made from a Flow trigger's `preconditions` (never
 * written in flows): one of its `flows` ({namespace, flowId, states, labels}) and one of its
 * `where` filters ({operand, filters: [{field, type, value, values}]}). */
#define CONDITION_UPSTREAM_FLOW "tern.preconditions.flow"
#define CONDITION_EXECUTION_FILTER "tern.preconditions.where"

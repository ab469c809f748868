/* test-conditions: conditions the scheduler evaluates against a watched execution's document, here
 * HasRetryAttempt (Kestra's HasRetryAttemptConditionTest: a retried task run's attempts). */
#include "cleanup-jansson.h"
#include "conditions.h"
#include "tap.h"

/* An execution whose task run "t" has attempts in these states (space separated). */
static json_t *execution_with_attempts(const char *states) {
        json_t *attempts = json_array();
        char buf[128];
        snprintf(buf, sizeof buf, "%s", states);
        for (char *s = strtok(buf, " "); s; s = strtok(NULL, " "))
                json_array_append_new(attempts, json_pack("{s:{s:s}}", "state", "current", s));
        return json_pack("{s:s, s:s, s:[{s:s, s:o}]}", "namespace", "t", "flowId", "f", "taskRunList", "taskId", "t",
                         "attempts", attempts);
}

static int eval(const char *condition, const char *states) {
        _cleanup_json_ json_t *c = json_loads(condition, 0, NULL), *e = execution_with_attempts(states);
        ConditionCtx ctx = { .execution = e };
        return condition_eval(c, &ctx);
}

int main(void) {
        const char *in_failed = "{\"type\": \"io.kestra.plugin.core.condition.HasRetryAttempt\", \"in\": [\"FAILED\"]}";
        is_int(eval(in_failed, "FAILED SUCCESS"), 1, "a retried task run with a FAILED attempt: holds for in [FAILED]");
        is_int(eval(in_failed, "FAILED"), 0, "one attempt only (not retried): does not hold");
        is_int(eval(in_failed, "KILLED SUCCESS"), 0, "retried, but no attempt in `in`: does not hold");
        is_int(eval("{\"type\": \"io.kestra.plugin.core.condition.HasRetryAttemptCondition\"}", "FAILED SUCCESS"), 1,
               "without in nor notIn (old name): any retried task run");
        is_int(eval("{\"type\": \"io.kestra.plugin.core.condition.HasRetryAttempt\", \"notIn\": [\"FAILED\", \"SUCCESS\"]}",
                    "FAILED SUCCESS"),
               0, "every attempt in notIn: does not hold");
        is_int(eval("{\"type\": \"io.kestra.plugin.core.condition.HasRetryAttempt\", \"notIn\": [\"SUCCESS\"]}",
                    "FAILED SUCCESS"),
               1, "an attempt outside notIn: holds");
        ConditionCtx none = {};
        _cleanup_json_ json_t *c = json_loads(in_failed, 0, NULL);
        is_int(condition_eval(c, &none), 0, "no execution: does not hold");
        return tap_done();
}

/* executor-subflow.c: what a subflow or retry execution starts with (labels, trigger, the parent's bookkeeping). */
#include <errno.h>

#include "executor-subflow.h"
#include "strutil.h"

void executor_subflow_done(ExecutorSubflow *s) {
        json_decref(s->labels);
        json_decref(s->trigger);
        json_decref(s->engine);
        *s = (ExecutorSubflow) {};
}

int executor_subflow_prepare(const Execution *parent, json_t *req, ExecutorSubflow *ret) {
        *ret = (ExecutorSubflow) {};
        ret->labels = json_array();
        json_t *pl = json_object_get(req, "parentLabels"), *own = json_object_get(req, "labels"), *l;
        size_t i;
        if (!ret->labels)
                return -ENOMEM;
        json_array_foreach(pl, i, l)
                json_array_append(ret->labels, l);
        json_array_foreach(parent->labels, i, l)
                if (streq_ptr(json_string_value(json_object_get(l, "key")), "system.correlationId") && !pl)
                        json_array_append(ret->labels, l);
        if (json_is_object(own)) {
                const char *k;
                json_t *v;
                json_object_foreach(own, k, v)
                        json_array_append_new(ret->labels, json_pack("{s:s, s:O}", "key", k, "value", v));
        } else if (json_is_array(own))
                json_array_extend(ret->labels, own);
        ret->trigger = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i}}", "id", "subflow", "type",
                                 "io.kestra.plugin.core.flow.Subflow", "variables", "executionId", parent->id,
                                 "namespace", parent->namespace, "flowId", parent->flow_id, "flowRevision",
                                 parent->flow_revision);
        ret->engine = json_pack("{s:O, s:O}", "parentTaskRunId", json_object_get(req, "parentTaskRunId"), "wait",
                                json_object_get(req, "wait"));
        if (!ret->trigger || !ret->engine)
                return -ENOMEM;
        /* A ForEachItem's batch: which one, as Kestra's trigger.taskRunIteration says. */
        if (json_is_integer(json_object_get(req, "iteration"))) {
                json_object_set(json_object_get(ret->trigger, "variables"), "taskRunIteration",
                                json_object_get(req, "iteration"));
                json_object_set(ret->engine, "iteration", json_object_get(req, "iteration")); /* told back when it ends */
        }
        ret->n = (ApiExecutionNew) {
                .id = json_string_value(json_object_get(req, "executionId")),
                .inputs = json_object_get(req, "inputs"),
                .labels = ret->labels,
                .trigger = ret->trigger,
                .parent_id = parent->id,
                .engine = ret->engine,
                .even_disabled = true,
        };
        return 0;
}

ApiExecutionNew executor_retry_new(json_t *req, const EngineConfig *cfg) {
        return (ApiExecutionNew) {
                .inputs = json_object_get(req, "inputs"),
                .inputs_mode = API_INPUTS_RAW,
                .labels = json_object_get(req, "labels"),
                .trigger = json_object_get(req, "trigger"),
                .parent_id = json_string_value(json_object_get(req, "parentId")),
                .engine = json_object_get(req, "engine"),
                .even_disabled = true,
                .engine_cfg = cfg,
        };
}

/* templated.c: templating.TemplatedTask: a runnable task whose definition is the rendered `spec`,
 * validated as a task of the flow would be (the flow's pluginDefaults apply), then run here. */
#include <errno.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "flow.h"
#include "strbuf.h"
#include "strutil.h"
#include "task-impl.h"
#include "yaml-tree.h"

/* The spec's YAML as JSON. -EINVAL with *ret_why (free it) when it does not parse. */
static int spec_parse(const char *text, json_t **ret, char **ret_why) {
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_(yaml_node_unrefp) YamlNode *root = NULL;
        int r = yaml_tree_parse(text, strlen(text), "spec", NULL, &diags, &root);
        if (r < 0)
                return r;
        if (r == YAML_TREE_INVALID || !root) {
                *ret_why = diags.n > 0 ? strdup(diags.items[0].message) : NULL;
                return -EINVAL;
        }
        return yaml_node_to_json(root, ret);
}

/* Every problem the loader found, "; " separated (their positions are in the generated flow). */
static char *diagnostics_join(const FlowDiagnostics *d) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        for (size_t i = 0; i < d->n; i++) {
                if (i > 0)
                        strbuf_append(&sb, "; ");
                strbuf_append(&sb, d->items[i].message);
        }
        return strbuf_steal(&sb);
}

/* The task `spec` describes, checked by the flow loader: a one-task flow of the spec (JSON is YAML),
 * with the flow's pluginDefaults (the job carries them). */
static int spec_load(TaskRunContext *ctx, json_t *spec, json_t *plugin_defaults, Flow **ret, TaskOutcome *out) {
        _cleanup_json_ json_t *task = json_deep_copy(spec), *flow = NULL;
        _cleanup_free_ char *text = NULL;
        if (!task)
                return -ENOMEM;
        if (!json_object_get(task, "id"))
                json_object_set_new(task, "id", json_string(ctx->task_id ? ctx->task_id : "templated"));
        flow = json_pack("{s:s, s:s, s:[O]}", "id", ctx->flow_id ? ctx->flow_id : "templated", "namespace",
                         ctx->namespace ? ctx->namespace : "templated", "tasks", task);
        if (!flow)
                return -ENOMEM;
        if (json_is_array(plugin_defaults))
                json_object_set(flow, "pluginDefaults", plugin_defaults);
        if (!(text = json_dumps(flow, JSON_COMPACT)))
                return -ENOMEM;
        FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        int r = flow_load_string(text, strlen(text), "spec", ret, &diags);
        if (r == FLOW_INVALID) {
                _cleanup_free_ char *why = diagnostics_join(&diags);
                flow_diagnostics_done(&diags);
                return task_fail(out, "The templated task is not valid: %s", why ? why : "(no reason given)"), -EINVAL;
        }
        flow_diagnostics_done(&diags);
        return r;
}

int task_impl_templated(TaskRunContext *ctx, json_t *props, TaskOutcome *out) {
        const char *spec_text = task_prop_string(props, "spec", NULL);
        _cleanup_flow_ Flow *f = NULL;
        _cleanup_json_ json_t *spec = NULL, *inner = NULL;
        _cleanup_free_ char *err = NULL;
        int r;

        out->state = STATE_SUCCESS;
        if (!spec_text)
                return task_fail(out, "property 'spec' is required");
        r = spec_parse(spec_text, &spec, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0 || !json_is_object(spec))
                return task_fail(out, "The templated task's spec is not a YAML map%s%s", err ? ": " : "", strempty(err));
        const char *type = json_string_value(json_object_get(spec, "type"));
        if (!type)
                return task_fail(out, "The templated task's spec has no 'type'");
        const TaskType *t = task_type_lookup(TASK_TYPE_TASK, type);
        if (t && t->runner == TASK_RUNNER_TEMPLATED)
                return task_fail(out, "The templated task cannot be of type '%s'", type);
        if (t && t->role != TASK_ROLE_RUNNABLE)
                return task_fail(out, "The templated task must be a runnable task");
        r = spec_load(ctx, spec, ctx->plugin_defaults, &f, out);
        if (r < 0)
                return r == -ENOMEM ? r : 0;
        const Task *task = f->tasks[0];
        const TaskImpl *impl = task_impl_for(task->def);
        if (!impl)
                return task_fail(out, "The templated task must be a runnable task");
        /* Its own properties (pluginDefaults included) are templates too, rendered as any task's. */
        r = ctx->render(ctx, task->properties, NULL, &inner, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return task_fail(out, "%s", strna(err));
        return impl->run(ctx, inner, out);
}

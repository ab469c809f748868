/* engine-vars.c: the variables task expressions see, and rendering with them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup-jansson.h"
#include "engine-internal.h"
#include "strutil.h"

static json_t *timestamp_json(usec_t t) {
        char buf[TIMESTAMP_MAX];
        return json_string(timestamp_format(buf, t));
}

static bool task_is_loop(const Task *t) {
        TaskEngineHook h = t ? engine_task_hook(t) : TASK_HOOK_NONE;
        return h == TASK_HOOK_FOR_EACH || h == TASK_HOOK_EACH_SEQUENTIAL || h == TASK_HOOK_EACH_PARALLEL;
}

int engine_loop_values(Engine *E, const TaskRun *tr, json_t **ret) {
        _cleanup_json_ json_t *l = json_array();
        const TaskRun *cur = tr;

        if (!l)
                return -ENOMEM;
        /* Bounded by the number of task runs: a corrupt parent cycle must not loop forever. */
        for (size_t guard = 0; cur && cur->parent_task_run_id && guard <= E->e->n_task_runs; guard++) {
                const TaskRun *p = engine_run_by_id(E, cur->parent_task_run_id);
                if (!p)
                        break;
                if (task_is_loop(engine_task(E, p->task_id)) && cur->value)
                        json_array_insert_new(l, 0, json_string(cur->value));
                cur = p;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* outputs[key][v1][v2]... = outputs, loop values from the outermost loop in. */
static void put_outputs(json_t *all, const char *key, json_t *values, json_t *outputs) {
        size_t n = json_array_size(values);
        if (n == 0) {
                json_object_set(all, key, outputs);
                return;
        }
        json_t *node = json_object_get(all, key);
        if (!json_is_object(node)) {
                node = json_object();
                json_object_set_new(all, key, node);
        }
        for (size_t k = 0; k + 1 < n; k++) {
                const char *v = json_string_value(json_array_get(values, k));
                json_t *child = json_object_get(node, v);
                if (!json_is_object(child)) {
                        child = json_object();
                        json_object_set_new(node, v, child);
                }
                node = child;
        }
        json_object_set(node, json_string_value(json_array_get(values, n - 1)), outputs);
}

/* outputs[taskId]... = each task run's outputs. */
static json_t *build_outputs(Engine *E) {
        _cleanup_json_ json_t *all = json_object();
        if (!all)
                return NULL;
        for (size_t i = 0; i < E->e->n_task_runs; i++) {
                TaskRun *tr = E->e->task_runs[i];
                _cleanup_json_ json_t *values = NULL;
                if (!tr->outputs || !json_is_object(tr->outputs))
                        continue;
                if (engine_loop_values(E, tr, &values) < 0)
                        return NULL;
                put_outputs(all, tr->task_id, values, tr->outputs);
                /* Kestra keeps a ForEachItem's outputs on its internal "<id>_items" task run, and
                 * subflowOutputs on "<id>_merge": flows written for it read them there. */
                const Task *t = engine_task(E, tr->task_id);
                if (t && engine_task_hook(t) == TASK_HOOK_FOR_EACH_ITEM) {
                        _cleanup_free_ char *alias = strjoin(tr->task_id, "_items"),
                                            *merge = strjoin(tr->task_id, "_merge");
                        if (!alias || !merge)
                                return NULL;
                        put_outputs(all, alias, values, tr->outputs);
                        put_outputs(all, merge, values, tr->outputs);
                }
        }
        return TAKE_PTR(all);
}

/* labels.a.b: dotted keys ("system.correlationId") become nested maps, as Kestra exposes them. */
static json_t *labels_object(json_t *labels) {
        json_t *o = json_object();
        size_t i;
        json_t *l;
        json_array_foreach(labels, i, l) {
                const char *k = json_string_value(json_object_get(l, "key"));
                json_t *v = json_object_get(l, "value");
                if (!k || !v)
                        continue;
                json_t *node = o;
                const char *p = k, *dot;
                while ((dot = strchr(p, '.')) && dot > p && dot[1]) {
                        char part[256];
                        snprintf(part, sizeof part, "%.*s", (int) MIN((size_t) (dot - p), sizeof part - 1), p);
                        json_t *child = json_object_get(node, part);
                        if (!json_is_object(child)) {
                                child = json_object();
                                json_object_set_new(node, part, child);
                        }
                        node = child;
                        p = dot + 1;
                }
                json_object_set(node, p, v);
        }
        return o;
}

static json_t *taskrun_json(const TaskRun *tr) {
        /* attemptsCount counts the attempts before the one being rendered for (Kestra's worker sees
         * the list before its own attempt is added). */
        json_int_t done = 0;
        for (size_t i = 0; i < tr->n_attempts; i++)
                if (state_is_terminal(tr->attempts[i].state.current))
                        done++;
        json_t *j = json_pack("{s:s, s:s, s:o, s:I}", "id", tr->id, "taskId", tr->task_id, "startDate",
                              timestamp_json(state_info_start_date(&tr->state)), "attemptsCount", done);
        if (!j)
                return NULL;
        json_object_set_new(j, "parentId", tr->parent_task_run_id ? json_string(tr->parent_task_run_id) : json_null());
        json_object_set_new(j, "value", tr->value ? json_string(tr->value) : json_null());
        if (tr->iteration >= 0)
                json_object_set_new(j, "iteration", json_integer(tr->iteration));
        return j;
}

json_t *engine_variables(Engine *E, const Task *t, const TaskRun *tr) {
        const Flow *f = E->flow;
        Execution *e = E->e;
        _cleanup_json_ json_t *v = NULL;

        if (!E->outputs && !(E->outputs = build_outputs(E)))
                return NULL;
        v = json_pack("{s:{s:s, s:s, s:I}, s:{s:s, s:o, s:s}, s:O, s:o, s:o}", "flow", "id", f->id, "namespace",
                      f->namespace, "revision", (json_int_t) e->flow_revision, "execution", "id", e->id, "startDate",
                      timestamp_json(state_info_start_date(&e->state)), "state", state_to_string(e->state.current),
                      "outputs", E->outputs, "inputs", json_ref_or_object(e->inputs), "labels",
                      labels_object(e->labels));
        if (!v)
                return NULL;
        if (e->original_id)
                json_object_set_new(json_object_get(v, "execution"), "originalId", json_string(e->original_id));
        /* The flow's outputs, once the execution has ended (what afterExecution tasks see). */
        if (e->outputs)
                json_object_set(json_object_get(v, "execution"), "outputs", e->outputs);
        /* The execution's variables: the flow's, as SetVariables and UnsetVariables changed them. */
        json_object_set_new(v, "vars", json_ref_or_object(e->variables ? e->variables : f->variables));
        json_object_set_new(v, "trigger", e->trigger && json_object_get(e->trigger, "variables")
                                                  ? json_incref(json_object_get(e->trigger, "variables"))
                                                  : json_object());
        json_object_set_new(v, "envs", json_ref_or_object(E->cfg ? E->cfg->envs : NULL));
        json_object_set_new(v, "globals", json_ref_or_object(E->cfg ? E->cfg->globals : NULL));
        if (t)
                json_object_set_new(v, "task", json_pack("{s:s, s:s}", "id", t->id, "type", t->type));
        if (tr) {
                json_object_set_new(v, "taskrun", taskrun_json(tr));
                /* parents: nearest first, each with its task run and outputs. */
                json_t *parents = json_array();
                const TaskRun *cur = tr;
                bool in_working_dir = false;
                for (size_t guard = 0; cur->parent_task_run_id && guard <= e->n_task_runs; guard++) {
                        const TaskRun *p = engine_run_by_id(E, cur->parent_task_run_id);
                        if (!p)
                                break;
                        /* Kestra's parent entries: the parent's loop value and outputs, nothing more. */
                        json_t *pj = json_pack("{s:{}}", "taskrun");
                        if (p->value)
                                json_object_set_new(json_object_get(pj, "taskrun"), "value", json_string(p->value));
                        if (p->outputs && json_object_size(p->outputs) > 0)
                                json_object_set(pj, "outputs", p->outputs);
                        json_array_append_new(parents, pj);
                        const Task *pt = engine_task(E, p->task_id);
                        if (pt && engine_task_hook(pt) == TASK_HOOK_WORKING_DIRECTORY)
                                in_working_dir = true;
                        cur = p;
                }
                if (json_array_size(parents) > 0)
                        json_object_set(v, "parent", json_array_get(parents, 0));
                json_object_set_new(v, "parents", parents);
                /* Tasks of a WorkingDirectory also see the task run the worker runs. */
                if (in_working_dir)
                        json_object_set(v, "workerTaskrun", json_object_get(v, "taskrun"));
        }
        return TAKE_PTR(v);
}

typedef struct RenderUser {
        Engine *E;
        const TaskRun *tr;
        json_t *vars; /* the rendering's variables, for the host's functions */
} RenderUser;

/* Functions the expression engine leaves to its host. */
static int engine_function(void *userdata, const char *name, json_t *args, json_t **ret, char **ret_message) {
        RenderUser *u = userdata;

        if (streq(name, "currentEachOutput")) {
                /* outputs.t is nested by loop values; pick the current iteration's entry. */
                _cleanup_json_ json_t *values = NULL;
                json_t *node = json_array_get(args, 0);
                if (!u->tr || engine_loop_values(u->E, u->tr, &values) < 0)
                        return -EINVAL;
                size_t i;
                json_t *val;
                json_array_foreach(values, i, val) {
                        json_t *next = json_object_get(node, json_string_value(val));
                        if (!next)
                                break;
                        node = next;
                }
                *ret = node ? json_incref(node) : json_null();
                return 0;
        }
        if (u->E->cfg && u->E->cfg->function)
                return u->E->cfg->function(u->E->cfg->function_userdata, u->vars, name, args, ret, ret_message);
        return -ENOENT;
}

static int engine_secret(void *userdata, const char *key, char **ret) {
        RenderUser *u = userdata;
        if (!u->E->cfg || !u->E->cfg->secret)
                return -ENOENT;
        return u->E->cfg->secret(u->E->cfg->userdata, key, ret);
}

static int render_error(ExprError *err, int r, char **ret_error) {
        if (ret_error) {
                if (err->message)
                        *ret_error = TAKE_PTR(err->message);
                else
                        *ret_error = strdup_printf("cannot render expression: %s", strerror(-r));
        }
        expr_error_done(err);
        return r == -ENOMEM ? -ENOMEM : -EINVAL;
}

int engine_render_value(Engine *E, const Task *t, const TaskRun *tr, json_t *in, json_t **ret, char **ret_error) {
        _cleanup_json_ json_t *vars = NULL;
        ExprError err = {};
        int r;

        if (!in) {
                *ret = json_null();
                return 0;
        }
        /* Nothing to render: skip building the variables, which is the expensive part. */
        if (json_is_string(in) && !expr_has_template(json_string_value(in))) {
                *ret = json_incref(in);
                return 0;
        }
        if (!json_is_string(in) && !json_is_object(in) && !json_is_array(in)) {
                *ret = json_incref(in);
                return 0;
        }
        vars = engine_variables(E, t, tr);
        if (!vars)
                return -ENOMEM;
        RenderUser u = { E, tr, vars };
        ExprContext ctx = { .variables = vars, .secret = engine_secret, .function = engine_function, .userdata = &u,
                            .now = E->now };
        if (json_is_string(in))
                r = expr_render_value(json_string_value(in), &ctx, ret, &err);
        else
                r = expr_render_tree(in, &ctx, ret, &err);
        if (r < 0)
                return render_error(&err, r, ret_error);
        return 0;
}

int engine_render_with(Engine *E, const TaskRun *tr, json_t *vars, json_t *in, json_t **ret, char **ret_error) {
        ExprError err = {};
        int r;

        if (!in || (!json_is_string(in) && !json_is_object(in) && !json_is_array(in))) {
                *ret = in ? json_incref(in) : json_null();
                return 0;
        }
        RenderUser u = { E, tr, vars };
        ExprContext ctx = { .variables = vars, .secret = engine_secret, .function = engine_function, .userdata = &u,
                            .now = E->now };
        if (json_is_string(in))
                r = expr_render_value(json_string_value(in), &ctx, ret, &err);
        else
                r = expr_render_tree(in, &ctx, ret, &err);
        if (r < 0)
                return render_error(&err, r, ret_error);
        return 0;
}

int engine_render_string(Engine *E, const Task *t, const TaskRun *tr, const char *in, char **ret, char **ret_error) {
        _cleanup_json_ json_t *vars = NULL;
        ExprError err = {};
        int r;

        if (!expr_has_template(in)) {
                *ret = strdup(in);
                return *ret ? 0 : -ENOMEM;
        }
        vars = engine_variables(E, t, tr);
        if (!vars)
                return -ENOMEM;
        RenderUser u = { E, tr, vars };
        ExprContext ctx = { .variables = vars, .secret = engine_secret, .function = engine_function, .userdata = &u,
                            .now = E->now };
        r = expr_render(in, &ctx, ret, &err);
        if (r < 0)
                return render_error(&err, r, ret_error);
        return 0;
}

bool engine_truthy(json_t *v) {
        if (!v || json_is_null(v))
                return false;
        if (json_is_boolean(v))
                return json_is_true(v);
        if (json_is_integer(v))
                return json_integer_value(v) != 0;
        if (json_is_real(v))
                return json_real_value(v) != 0.0;
        if (json_is_string(v)) {
                _cleanup_free_ char *s = strdup(json_string_value(v));
                if (!s)
                        return false;
                strstrip(s);
                return !(isempty(s) || strcasecmp(s, "false") == 0 || streq(s, "0") || streq(s, "-0") ||
                         streq(s, "0.0") || strcasecmp(s, "null") == 0);
        }
        return true; /* lists and maps */
}

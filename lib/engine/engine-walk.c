/* engine-walk.c: walking task lists (sequential, parallel, DAG) and resolving each flowable task:
 * which children start now, and when the flowable itself has ended and how. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "engine-internal.h"
#include "json-limits.h"
#include "strbuf.h"
#include "strutil.h"

static int fail_run(Engine *E, TaskRun *tr, const char *fmt, ...) _printf_(3, 4);
static int fail_run(Engine *E, TaskRun *tr, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r >= 0)
                engine_log(E, tr, "ERROR", "%s", m);
        free(m);
        return engine_run_set(E, tr, STATE_FAILED);
}

static int64_t int_property(const Task *t, const char *name, int64_t def) {
        json_t *v = task_property(t, name);
        if (json_is_integer(v))
                return json_integer_value(v);
        if (json_is_string(v)) {
                int64_t i;
                if (safe_atoi64(json_string_value(v), &i) == 0)
                        return i;
        }
        return def;
}

/* Labels runs in the executor: it changes the execution itself. */
static int run_labels(Engine *E, const Task *t, TaskRun *tr) {
        _cleanup_json_ json_t *labels = NULL;
        _cleanup_free_ char *err = NULL;
        json_t *all = E->e->labels;

        if (engine_render_value(E, t, tr, task_property(t, "labels"), &labels, &err) < 0)
                return fail_run(E, tr, "Failed to render labels: %s", strempty(err));
        if (json_is_string(labels)) {
                json_t *parsed = json_loads(json_string_value(labels), 0, NULL);
                json_decref(labels);
                labels = parsed;
        }
        _cleanup_json_ json_t *pairs = json_array();
        if (json_is_object(labels)) {
                const char *k;
                json_t *v;
                json_object_foreach(labels, k, v) {
                        /* Map keys may be expressions too. */
                        _cleanup_free_ char *key = NULL, *kerr = NULL;
                        int rk = engine_render_string(E, t, tr, k, &key, &kerr);
                        if (rk == -ENOMEM)
                                return rk;
                        if (rk < 0)
                                return fail_run(E, tr, "Failed to render label key: %s", strempty(kerr));
                        json_array_append_new(pairs, json_pack("{s:s, s:O}", "key", key, "value", v));
                }
        } else if (json_is_array(labels))
                json_array_extend(pairs, labels);
        else
                return fail_run(E, tr, "labels must be a map or a list of {key, value}");

        size_t i;
        json_t *p;
        json_array_foreach(pairs, i, p) {
                const char *k = json_string_value(json_object_get(p, "key"));
                json_t *v = json_object_get(p, "value");
                _cleanup_free_ char *s = NULL;
                if (!k || !v)
                        return fail_run(E, tr, "every label needs a key and a value");
                if (json_is_string(v))
                        s = strdup(json_string_value(v));
                else if (expr_value_to_string(v, &s) < 0)
                        return -ENOMEM;
                if (!s)
                        return -ENOMEM;
                size_t j;
                json_t *l;
                bool replaced = false;
                json_array_foreach(all, j, l)
                        if (streq_ptr(json_string_value(json_object_get(l, "key")), k)) {
                                json_object_set_new(l, "value", json_string(s));
                                replaced = true;
                        }
                if (!replaced)
                        json_array_append_new(all, json_pack("{s:s, s:s}", "key", k, "value", s));
        }
        return engine_run_set(E, tr, STATE_SUCCESS);
}

/* A boolean property, rendered (Kestra's Property<Boolean>): true/false, or their text. */
static int bool_property(Engine *E, const Task *t, TaskRun *tr, const char *name, bool def, bool *ret, char **ret_error) {
        _cleanup_json_ json_t *v = NULL;
        int r = engine_render_value(E, t, tr, task_property(t, name), &v, ret_error);
        if (r < 0)
                return r;
        if (json_is_null(v))
                *ret = def;
        else if (json_is_boolean(v))
                *ret = json_is_true(v);
        else if (json_is_string(v) && (streq(json_string_value(v), "true") || streq(json_string_value(v), "false")))
                *ret = streq(json_string_value(v), "true");
        else {
                *ret_error = strdup_printf("property '%s' must be true or false", name);
                return -EINVAL;
        }
        return 0;
}

/* Exit ends the execution in its state. KILLED kills what still runs (a kill, as Kestra sends one);
 * any other state is the state of the Exit task run, of each task run above it and of the
 * execution, which ends in this step: walks stop where they are (E->exit), and tasks already running
 * elsewhere (a parallel branch) are left to finish, as Kestra's documentation says. */
static int run_exit(Engine *E, const Task *t, TaskRun *tr) {
        _cleanup_json_ json_t *v = NULL;
        _cleanup_free_ char *err = NULL;
        int r = engine_render_value(E, t, tr, task_property(t, "state"), &v, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail_run(E, tr, "Failed to render state: %s", strempty(err));
        const char *name = json_is_null(v) ? "SUCCESS" : json_string_value(v);
        State s = !name                           ? _STATE_INVALID
                  : streq(name, "CANCELED")       ? STATE_CANCELLED /* Kestra's ExitState spelling */
                  : streq(name, "SUCCESS") || streq(name, "WARNING") || streq(name, "KILLED") ||
                                    streq(name, "FAILED") || streq(name, "CANCELLED")
                          ? state_from_string(name)
                          : _STATE_INVALID;
        if (s < 0)
                return fail_run(E, tr, "Exit: state '%s' is not one of SUCCESS, WARNING, KILLED, FAILED, CANCELED",
                                strna(name));
        engine_log(E, tr, state_is_failed(s) || s == STATE_CANCELLED ? "WARN" : "INFO",
                   "Exit: ending the execution with state %s", state_to_string(s));
        if ((r = engine_run_set(E, tr, s)) < 0)
                return r;
        if (s == STATE_KILLED)
                return engine_kill(E);
        for (size_t guard = 0; tr->parent_task_run_id && guard <= E->e->n_task_runs; guard++) {
                TaskRun *p = engine_run_by_id(E, tr->parent_task_run_id);
                if (!p)
                        break;
                if ((r = engine_run_set(E, p, s)) < 0)
                        return r;
                tr = p;
        }
        E->exit = s;
        return 0;
}

/* A kill event for each unfinished subflow execution a Subflow task of this execution started (waited
 * for or not): Kestra's kill cascade. The child does the same for its own subflows. */
int engine_kill_subflows(Engine *E) {
        for (size_t i = 0; i < E->e->n_task_runs; i++) {
                const TaskRun *c = E->e->task_runs[i];
                const Task *ct = engine_task(E, c->task_id);
                if (!ct || !ct->def || ct->def->hook != TASK_HOOK_SUBFLOW)
                        continue;
                const char *child = json_string_value(json_object_get(c->engine, "executionId"));
                if (!child)
                        continue;
                json_t *ev = json_pack("{s:s, s:s, s:{}, s:i}", "executionId", child, "type", ENGINE_EVENT_KILL,
                                       "payload", "dueAt", 0);
                if (!ev || json_array_append_new(E->fx->events, ev) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* Kill (Kestra's execution.Kill) kills its own execution: its task run and the execution end KILLED,
 * as Exit with state KILLED does. With propagateKill, its subflow executions are killed too. */
static int run_kill(Engine *E, const Task *t, TaskRun *tr) {
        _cleanup_free_ char *err = NULL;
        bool propagate;
        int r = bool_property(E, t, tr, "propagateKill", false, &propagate, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail_run(E, tr, "Kill: %s", strempty(err));
        engine_log(E, tr, "INFO", "Kill: killing the execution%s", propagate ? " and its subflow executions" : "");
        if (propagate && (r = engine_kill_subflows(E)) < 0)
                return r;
        if ((r = engine_run_set(E, tr, STATE_KILLED)) < 0)
                return r;
        return engine_kill(E);
}

/* Merge src into dst: maps merge key by key, anything else replaces (Kestra's MapUtils.deepMerge). */
static int merge_deep(json_t *dst, json_t *src) {
        const char *k;
        json_t *v;
        json_object_foreach(src, k, v) {
                json_t *have = json_object_get(dst, k);
                if (json_is_object(have) && json_is_object(v)) {
                        int r = merge_deep(have, v);
                        if (r < 0)
                                return r;
                } else if (json_object_set(dst, k, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* The execution's variables, ready to change: a copy of its own, which may still be the flow's
 * (shared with the loaded flow, never changed in place). */
static json_t *variables_copy(Engine *E) {
        return E->e->variables ? json_deep_copy(E->e->variables) : json_object();
}

static int variables_replace(Engine *E, TaskRun *tr, json_t *vars) {
        _cleanup_free_ char *too_big = NULL;
        if (json_value_check(vars, "the execution's variables", &too_big) < 0)
                return fail_run(E, tr, "%s", too_big ? too_big : "the execution's variables are too deep or too large");
        json_decref(E->e->variables);
        E->e->variables = json_incref(vars);
        return engine_run_set(E, tr, STATE_SUCCESS);
}

/* SetVariables merges a rendered map into the execution's variables ({{ vars.x }} in every later
 * rendering, the workers' included: they get the variables with each job). The execution's document
 * keeps them, so they survive an executor's restart. */
static int run_set_variables(Engine *E, const Task *t, TaskRun *tr) {
        _cleanup_json_ json_t *rendered = NULL, *vars = NULL, *keyed = json_object();
        _cleanup_free_ char *err = NULL;
        bool overwrite;
        int r;

        if (!keyed)
                return -ENOMEM;
        if ((r = engine_render_value(E, t, tr, task_property(t, "variables"), &rendered, &err)) < 0 ||
            (r = bool_property(E, t, tr, "overwrite", true, &overwrite, &err)) < 0)
                return r == -ENOMEM ? r : fail_run(E, tr, "SetVariables: %s", strempty(err));
        if (!json_is_object(rendered))
                return fail_run(E, tr, "SetVariables: property 'variables' must be a map");
        const char *k;
        json_t *v;
        json_object_foreach(rendered, k, v) {
                /* Map keys may be expressions too. */
                _cleanup_free_ char *key = NULL, *kerr = NULL;
                r = engine_render_string(E, t, tr, k, &key, &kerr);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail_run(E, tr, "SetVariables: failed to render key '%s': %s", k, strempty(kerr));
                if (json_object_set(keyed, key, v) < 0)
                        return -ENOMEM;
        }
        if (!overwrite) {
                _cleanup_strbuf_ StrBuf dup = STRBUF_INIT;
                json_object_foreach(keyed, k, v)
                        if (json_object_get(E->e->variables, k))
                                strbuf_appendf(&dup, "%s%s", dup.len ? "," : "", k);
                if (dup.len)
                        return fail_run(E, tr, "`overwrite` is set to false and the following variables already exist: %s",
                                        dup.buf);
        }
        if (!(vars = variables_copy(E)))
                return -ENOMEM;
        if ((r = merge_deep(vars, keyed)) < 0)
                return r;
        return variables_replace(E, tr, vars);
}

/* UnsetVariables removes variables by name; a dotted name reaches into maps ("a.b"). A missing one
 * fails the task unless ignoreMissing is true. */
static int run_unset_variables(Engine *E, const Task *t, TaskRun *tr) {
        _cleanup_json_ json_t *names = NULL, *vars = NULL;
        _cleanup_free_ char *err = NULL;
        bool ignore_missing;
        int r;

        if ((r = engine_render_value(E, t, tr, task_property(t, "variables"), &names, &err)) < 0 ||
            (r = bool_property(E, t, tr, "ignoreMissing", false, &ignore_missing, &err)) < 0)
                return r == -ENOMEM ? r : fail_run(E, tr, "UnsetVariables: %s", strempty(err));
        if (json_is_string(names)) {
                json_t *one = json_pack("[O]", names);
                json_decref(names);
                names = one;
        }
        if (!json_is_array(names))
                return fail_run(E, tr, "UnsetVariables: property 'variables' must be a list of names");
        if (!(vars = variables_copy(E)))
                return -ENOMEM;
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n) {
                const char *name = json_string_value(n);
                if (!name)
                        return fail_run(E, tr, "UnsetVariables: every name must be a string");
                _cleanup_free_ char *path = strdup(name);
                if (!path)
                        return -ENOMEM;
                json_t *map = vars;
                char *key = path, *dot;
                while (map && (dot = strchr(key, '.'))) {
                        *dot = 0;
                        map = json_object_get(map, key);
                        key = dot + 1;
                }
                if (json_is_object(map) && json_object_get(map, key))
                        json_object_del(map, key);
                else if (!ignore_missing)
                        return fail_run(E, tr, "UnsetVariables: there is no variable '%s' (set ignoreMissing to skip it)",
                                        name);
        }
        return variables_replace(E, tr, vars);
}

static int start_task(Engine *E, const Task *t, TaskRun *parent, const char *value, TaskRun **ret) {
        TaskRun *tr;
        int r = engine_run_new(E, t, parent, value, &tr);
        if (r < 0)
                return r;
        *ret = tr;
        if (t->run_if) {
                _cleanup_json_ json_t *v = NULL;
                _cleanup_free_ char *err = NULL;
                json_t *cond = json_string(t->run_if);
                r = engine_render_value(E, t, tr, cond, &v, &err);
                json_decref(cond);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail_run(E, tr, "Failed to evaluate runIf: %s", strempty(err));
                if (!engine_truthy(v))
                        return engine_run_set(E, tr, STATE_SKIPPED);
        }
        if (engine_task_in_executor(t))
                return engine_resolve_flowable(E, t, tr);
        if (engine_task_on_worker(t))
                return engine_emit_job(E, t, tr);
        return engine_run_set(E, tr, STATE_RUNNING);
}

/* A runnable task run that is not ended but has no attempt in flight (a restart) gets a job. */
static int ensure_job(Engine *E, const Task *t, TaskRun *tr) {
        TaskRunAttempt *a = task_run_last_attempt(tr);
        if (tr->state.current == STATE_RETRYING || E->killing)
                return 0;
        if (a && !state_is_terminal(a->state.current))
                return 0;
        return engine_emit_job(E, t, tr);
}

/* Bring one existing task run forward; *paused tells whether it waits on a pause. */
static int advance(Engine *E, const Task *t, TaskRun *tr, bool *paused) {
        *paused = false;
        if (state_is_terminal(tr->state.current))
                return 0;
        if (tr->state.current == STATE_PAUSED) {
                *paused = true;
                if (engine_task_hook(t) != TASK_HOOK_PAUSE || !E->killing)
                        return 0;
        }
        if (engine_task_on_worker(t))
                return ensure_job(E, t, tr);
        if (tr->state.current == STATE_RESTARTED)
                engine_run_set(E, tr, STATE_RUNNING);
        return engine_resolve_flowable(E, t, tr);
}

typedef enum WalkMode {
        WALK_SEQUENTIAL,
        WALK_PARALLEL,
        WALK_DAG,
} WalkMode;

/* In a DAG, whether t's dependencies allow it to start. */
typedef enum DagReadiness {
        DAG_WAIT,  /* not yet: a dependency has not ended */
        DAG_READY, /* every dependency ended well (or is disabled) */
        DAG_NEVER, /* a dependency failed (or is unknown): t will not run */
} DagReadiness;

static DagReadiness dag_ready(Engine *E, const Task *t, TaskRun *parent, const char *value) {
        for (char **d = t->depends_on; d && *d; d++) {
                const Task *dep = engine_task(E, *d);
                TaskRun *dr = dep ? engine_run_find(E, dep, parent, value) : NULL;
                if (!dep)
                        return DAG_NEVER;
                if (dep->disabled)
                        continue;
                if (!dr || !state_is_terminal(dr->state.current))
                        return DAG_WAIT;
                if ((state_is_failed(dr->state.current) || dr->state.current == STATE_CANCELLED) && !dep->allow_failure)
                        return DAG_NEVER;
        }
        return DAG_READY;
}

static ListResult walk(Engine *E, Task *const *tasks, size_t n, TaskRun *parent, const char *value, WalkMode mode,
                       int64_t concurrency) {
        ListResult res = { .done = true, .state = STATE_SUCCESS };
        bool blocked = E->killing; /* after a failure (or a kill) nothing new starts */
        bool late_block = false;   /* a failure among tasks started in this pass */
        size_t active = 0, paused = 0;

        for (size_t i = 0; i < n; i++) {
                const Task *t = tasks[i];
                bool p = false;
                if (E->exit >= 0)
                        return (ListResult) { .done = false, .state = STATE_RUNNING };
                if (t->disabled)
                        continue;
                TaskRun *tr = engine_run_find(E, t, parent, value);
                bool fresh = false;
                if (!tr) {
                        /* A kill made earlier in this pass (an Exit with state KILLED) starts nothing more. */
                        if (blocked || E->killing)
                                continue;
                        if (mode == WALK_DAG) {
                                DagReadiness ready = dag_ready(E, t, parent, value);
                                if (ready == DAG_NEVER)
                                        continue;
                                if (ready == DAG_WAIT) {
                                        res.done = false;
                                        continue;
                                }
                        }
                        if (mode != WALK_SEQUENTIAL && concurrency > 0 && (int64_t) active >= concurrency) {
                                res.done = false;
                                continue;
                        }
                        if (E->holding) {
                                /* Paused by a user: it waits for the resume as a paused task would. */
                                res.done = false;
                                active++;
                                paused++;
                                if (mode == WALK_SEQUENTIAL)
                                        break;
                                continue;
                        }
                        if (start_task(E, t, parent, value, &tr) < 0)
                                return (ListResult) { .done = false, .state = STATE_RUNNING };
                        fresh = true;
                }
                if (advance(E, t, tr, &p) < 0)
                        return (ListResult) { .done = false, .state = STATE_RUNNING };
                State s = tr->state.current;
                if (!state_is_terminal(s)) {
                        res.done = false;
                        active++;
                        if (p || s == STATE_PAUSED)
                                paused++;
                        if (mode == WALK_SEQUENTIAL)
                                break;
                        continue;
                }
                /* allowFailure turns a failure into a warning, allowWarning a warning into success. */
                if ((state_is_failed(s) || s == STATE_CANCELLED) && t->allow_failure)
                        s = STATE_WARNING;
                if (s == STATE_WARNING && t->allow_warning)
                        s = STATE_SUCCESS;
                if (state_is_failed(s) || s == STATE_CANCELLED) {
                        res.state = state_worst(res.state, s);
                        if (mode == WALK_SEQUENTIAL)
                                break;
                        /* Siblings created in the same step as the failure were started
                         * together (as Kestra creates them); only later starts are held back. */
                        if (!fresh)
                                blocked = true;
                        else
                                late_block = true;
                } else if (s == STATE_WARNING)
                        res.state = state_worst(res.state, STATE_WARNING);
        }
        blocked = blocked || late_block;
        if (!res.done) {
                /* Waiting only on pauses: the list is paused; waiting on nothing that will ever
                 * start (a DAG whose dependencies failed, a kill) is not "running". */
                if (active == 0 && blocked) {
                        res.done = true;
                        if (E->killing)
                                res.state = STATE_KILLED;
                } else
                        res.state = active > 0 && paused == active ? STATE_PAUSED : STATE_RUNNING;
        } else if (E->killing && res.state == STATE_SUCCESS) {
                /* Killed before the list could finish. */
                for (size_t i = 0; i < n; i++)
                        if (!tasks[i]->disabled && !engine_run_find(E, tasks[i], parent, value)) {
                                res.state = STATE_KILLED;
                                break;
                        }
        }
        return res;
}

ListResult engine_walk_list(Engine *E, Task *const *tasks, size_t n, TaskRun *parent, const char *value, bool parallel,
                            int64_t concurrency) {
        return walk(E, tasks, n, parent, value, parallel ? WALK_PARALLEL : WALK_SEQUENTIAL, concurrency);
}

static ListResult walk_branch(Engine *E, const Task *t, TaskRun *tr, const char *name, WalkMode mode,
                              int64_t concurrency) {
        const TaskBranch *b = task_find_branch(t, name, NULL);
        if (!b)
                return (ListResult) { .done = true, .state = STATE_SUCCESS };
        return walk(E, b->tasks, b->n_tasks, tr, tr->value, mode, concurrency);
}

/* Put the failed task runs under tr back to work for a retry of the flowable: runnable ones get a
 * new attempt after the delay, flowable ones are resolved again. */
static int retry_children(Engine *E, TaskRun *tr, usec_t delay) {
        for (size_t i = 0; i < E->e->n_task_runs; i++) {
                TaskRun *c = E->e->task_runs[i];
                if (!streq_ptr(c->parent_task_run_id, tr->id) || !state_is_failed(c->state.current))
                        continue;
                const Task *ct = engine_task(E, c->task_id);
                if (!ct)
                        continue;
                int r;
                if (engine_task_on_worker(ct)) {
                        if ((r = engine_run_set(E, c, STATE_RETRYING)) < 0 ||
                            (r = engine_emit_timer(E, c, "retry", E->now + delay)) < 0)
                                return r;
                } else {
                        if ((r = engine_run_set(E, c, STATE_RUNNING)) < 0 || (r = retry_children(E, c, delay)) < 0)
                                return r;
                }
        }
        return 0;
}

/* The common tail of every flowable: a retry when it failed and may retry, else errors when the
 * main part failed, then finally. */
static int finish(Engine *E, const Task *t, TaskRun *tr, ListResult main) {
        if (!main.done || E->exit >= 0)
                return 0;
        State st = main.state;
        if (state_is_failed(st) && !E->killing && engine_flowable_retry(E, t, tr)) {
                usec_t delay;
                if (engine_retry_next(E, t, tr, &delay)) {
                        TaskRunAttempt *a = task_run_last_attempt(tr);
                        if (a)
                                state_info_force(&a->state, STATE_FAILED, E->now);
                        int r = task_run_add_attempt(tr, E->now, NULL);
                        if (r < 0)
                                return r;
                        E->progressed = true;
                        return retry_children(E, tr, delay);
                }
        }
        if ((state_is_failed(st) || st == STATE_CANCELLED) && !E->killing) {
                ListResult er = walk_branch(E, t, tr, "errors", WALK_SEQUENTIAL, 0);
                if (!er.done)
                        return 0;
        }
        if (!E->killing) {
                ListResult fr = walk_branch(E, t, tr, "finally", WALK_SEQUENTIAL, 0);
                if (!fr.done)
                        return 0;
                st = state_worst(st, fr.state);
        }
        if (E->killing && !state_is_failed(st))
                st = STATE_KILLED;
        return engine_run_set(E, tr, st);
}

static int resolve_if(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = engine_run_bookkeeping(tr);
        if (!bk)
                return -ENOMEM;
        const char *branch = json_string_value(json_object_get(bk, "branch"));
        if (!branch) {
                _cleanup_json_ json_t *v = NULL;
                _cleanup_free_ char *err = NULL;
                int r = engine_render_value(E, t, tr, task_property(t, "condition"), &v, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail_run(E, tr, "Failed to evaluate condition: %s", strempty(err));
                branch = engine_truthy(v) ? "then" : "else";
                json_object_set_new(bk, "branch", json_string(branch));
        }
        return finish(E, t, tr, walk_branch(E, t, tr, branch, WALK_SEQUENTIAL, 0));
}

static int resolve_switch(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = engine_run_bookkeeping(tr);
        if (!bk)
                return -ENOMEM;
        if (!json_object_get(bk, "case")) {
                _cleanup_free_ char *v = NULL, *err = NULL;
                json_t *vp = task_property(t, "value");
                int r = engine_render_string(E, t, tr, json_is_string(vp) ? json_string_value(vp) : "", &v, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return fail_run(E, tr, "Failed to render value: %s", strempty(err));
                const TaskBranch *b = task_find_branch(t, "cases", v);
                const TaskBranch *d = task_find_branch(t, "defaults", NULL);
                tr->outputs = json_pack("{s:s, s:b}", "value", v, "defaults", !b);
                engine_outputs_changed(E);
                if (!b && !d)
                        return fail_run(E, tr, "Switch: no case matches '%s' and there are no defaults", v);
                json_object_set_new(bk, "case", b ? json_string(v) : json_null());
        }
        json_t *c = json_object_get(bk, "case");
        const TaskBranch *b = json_is_string(c) ? task_find_branch(t, "cases", json_string_value(c))
                                                : task_find_branch(t, "defaults", NULL);
        ListResult res = b ? walk(E, b->tasks, b->n_tasks, tr, tr->value, WALK_SEQUENTIAL, 0)
                           : (ListResult) { .done = true, .state = STATE_SUCCESS };
        return finish(E, t, tr, res);
}

/* The loop values, rendered once and kept on the task run. */
static int loop_values(Engine *E, const Task *t, TaskRun *tr, json_t **ret) {
        json_t *bk = engine_run_bookkeeping(tr);
        if (!bk)
                return -ENOMEM;
        json_t *have = json_object_get(bk, "values");
        if (have) {
                *ret = have;
                return 0;
        }
        _cleanup_json_ json_t *v = NULL;
        _cleanup_free_ char *err = NULL;
        /* EachSequential and EachParallel call the list "value", ForEach "values". */
        json_t *prop = task_property(t, "values");
        if (!prop)
                prop = task_property(t, "value");
        int r = engine_render_value(E, t, tr, prop, &v, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail_run(E, tr, "Failed to render values: %s", strempty(err)), -EINVAL;
        if (json_is_string(v)) {
                json_error_t jerr;
                json_t *parsed = json_loads(json_string_value(v), JSON_DECODE_ANY, &jerr);
                if (json_is_array(parsed)) {
                        json_decref(v);
                        v = parsed;
                } else {
                        json_decref(parsed);
                        json_t *one = json_pack("[O]", v);
                        json_decref(v);
                        v = one;
                }
        }
        if (!json_is_array(v))
                return fail_run(E, tr, "values must be a list"), -EINVAL;
        size_t nulls = 0, i;
        json_t *x;
        json_array_foreach(v, i, x)
                if (json_is_null(x))
                        nulls++;
        if (nulls > 0) {
                _cleanup_free_ char *dump = json_dumps(v, JSON_COMPACT);
                return fail_run(E, tr, "Found '%zu' null values on Each, with values=%s", nulls, strempty(dump)),
                       -EINVAL;
        }
        /* Task run values are strings: keep strings as they are, encode the rest as JSON. */
        _cleanup_json_ json_t *strs = json_array();
        json_array_foreach(v, i, x) {
                if (json_is_string(x))
                        json_array_append(strs, x);
                else {
                        _cleanup_free_ char *s = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
                        json_array_append_new(strs, json_string(s ? s : ""));
                }
        }
        json_object_set(bk, "values", strs);
        *ret = strs;
        return 0;
}

static int resolve_loop(Engine *E, const Task *t, TaskRun *tr) {
        json_t *values;
        int r = loop_values(E, t, tr, &values);
        if (r < 0 || state_is_terminal(tr->state.current))
                return r == -EINVAL ? 0 : r;
        const TaskBranch *b = task_find_branch(t, "tasks", NULL);
        bool each_parallel = engine_task_hook(t) == TASK_HOOK_EACH_PARALLEL;
        int64_t limit = engine_task_hook(t) == TASK_HOOK_FOR_EACH ? int_property(t, "concurrencyLimit", 1)
                        : each_parallel                          ? int_property(t, "concurrent", 0)
                                                                 : 1;
        ListResult res = { .done = true, .state = STATE_SUCCESS };
        bool blocked = false;
        size_t active = 0, paused = 0, i;
        json_t *v;

        /* First the iterations already started, then new ones up to the limit: iterations created in
         * the same step all start, as Kestra creates them together. */
        for (int phase = 0; phase < 2; phase++)
                json_array_foreach(values, i, v) {
                        const char *value = json_string_value(v);
                        bool started = false;
                        for (size_t k = 0; b && k < b->n_tasks && !started; k++)
                                started = engine_run_find(E, b->tasks[k], tr, value) != NULL;
                        if (started != (phase == 0))
                                continue;
                        if (!started && (blocked || E->killing))
                                continue;
                        if (!started && limit > 0 && (int64_t) active >= limit) {
                                res.done = false;
                                continue;
                        }
                        ListResult it = b ? walk(E, b->tasks, b->n_tasks, tr, value,
                                                 each_parallel ? WALK_PARALLEL : WALK_SEQUENTIAL, 0)
                                          : (ListResult) { .done = true, .state = STATE_SUCCESS };
                        if (!it.done) {
                                res.done = false;
                                active++;
                                if (it.state == STATE_PAUSED)
                                        paused++;
                                continue;
                        }
                        if (state_is_failed(it.state) && phase == 0)
                                blocked = true;
                        res.state = state_worst(res.state, it.state);
                }
        if (!res.done)
                res.state = active > 0 && paused == active ? STATE_PAUSED : STATE_RUNNING;
        return finish(E, t, tr, res);
}

static int resolve_pause(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = engine_run_bookkeeping(tr);
        if (!bk)
                return -ENOMEM;
        if (E->killing && tr->state.current == STATE_PAUSED)
                return engine_run_set(E, tr, STATE_KILLED);
        if (tr->state.current == STATE_PAUSED)
                return 0;
        if (!json_is_true(json_object_get(bk, "paused"))) {
                /* First time: pause, with a timer when a delay or timeout is set. */
                /* pauseDuration (old name: delay) ends the pause as `behavior` says (RESUME by
                 * default); a plain task timeout on a Pause fails it. */
                json_t *delay = task_property(t, "pauseDuration");
                if (!delay)
                        delay = task_property(t, "delay");
                json_t *b = task_property(t, "behavior");
                const char *behavior = json_is_string(b) ? json_string_value(b) : "RESUME";
                _cleanup_json_ json_t *timeout = NULL;
                if (!delay && (t->timeout || task_property(t, "timeout"))) {
                        json_t *tp = task_property(t, "timeout");
                        delay = timeout = t->timeout ? json_string(t->timeout) : json_incref(tp);
                        behavior = "FAIL";
                }
                json_object_set_new(bk, "paused", json_true());
                if (delay && json_is_string(delay)) {
                        _cleanup_free_ char *s = NULL, *err = NULL;
                        susec_t d;
                        int r = engine_render_string(E, t, tr, json_string_value(delay), &s, &err);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0 || duration_parse(s, &d) < 0 || d < 0)
                                return fail_run(E, tr, "Pause: invalid duration '%s'%s%s", json_string_value(delay),
                                                err ? ": " : "", strempty(err));
                        json_object_set_new(bk, "onTimeout", json_string(behavior));
                        int rr = engine_emit_timer(E, tr, "pause", E->now + (usec_t) d);
                        if (rr < 0)
                                return rr;
                }
                return engine_run_set(E, tr, STATE_PAUSED);
        }
        /* Resumed: old-style Pause runs its tasks after a resume (not after a timeout that fails). */
        const char *end = json_string_value(json_object_get(bk, "resumeState"));
        State s = end ? state_from_string(end) : STATE_SUCCESS;
        if (s != STATE_SUCCESS && s >= 0)
                return engine_run_set(E, tr, s);
        ListResult res = walk_branch(E, t, tr, "tasks", WALK_SEQUENTIAL, 0);
        if (res.done)
                res.state = state_worst(res.state, s < 0 ? STATE_SUCCESS : s);
        if (res.done && s == STATE_CANCELLED)
                res.state = STATE_CANCELLED;
        return finish(E, t, tr, res);
}

static int resolve_subflow(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = engine_run_bookkeeping(tr);
        if (!bk)
                return -ENOMEM;
        if (json_object_get(bk, "executionId"))
                return 0; /* waiting for SUBFLOW_ENDED */

        _cleanup_json_ json_t *ns = NULL, *flow_id = NULL, *inputs = NULL, *labels = NULL;
        _cleanup_free_ char *err = NULL;
        int r;
        if ((r = engine_render_value(E, t, tr, task_property(t, "namespace"), &ns, &err)) < 0 ||
            (r = engine_render_value(E, t, tr, task_property(t, "flowId"), &flow_id, &err)) < 0 ||
            (r = engine_render_value(E, t, tr, task_property(t, "inputs"), &inputs, &err)) < 0 ||
            (r = engine_render_value(E, t, tr, task_property(t, "labels"), &labels, &err)) < 0)
                return r == -ENOMEM ? r : fail_run(E, tr, "Subflow: %s", strempty(err));
        if (!json_is_string(ns) || !json_is_string(flow_id))
                return fail_run(E, tr, "Subflow: namespace and flowId are required");
        bool wait = true, inherit = false;
        json_t *w = task_property(t, "wait"), *il = task_property(t, "inheritLabels");
        if (json_is_boolean(w))
                wait = json_is_true(w);
        if (json_is_boolean(il))
                inherit = json_is_true(il);
        char child[ID_MAX];
        if ((r = engine_new_id(E->cfg, child)) < 0)
                return r;
        json_t *req = json_pack("{s:s, s:O, s:O, s:o, s:O, s:s, s:s, s:b, s:b}", "executionId", child, "namespace", ns,
                                "flowId", flow_id, "inputs", json_ref_or_object(json_is_object(inputs) ? inputs : NULL), "labels",
                                labels ? labels : json_null(), "parentExecutionId", E->e->id, "parentTaskRunId",
                                tr->id, "wait", wait, "inheritLabels", inherit);
        if (!req)
                return -ENOMEM;
        json_t *rev = task_property(t, "revision");
        if (json_is_integer(rev))
                json_object_set(req, "revision", rev);
        if (inherit)
                json_object_set(req, "parentLabels", E->e->labels);
        json_array_append_new(E->fx->subflows, req);
        json_object_set_new(bk, "executionId", json_string(child));
        TaskRunAttempt *a;
        if ((r = task_run_add_attempt(tr, E->now, &a)) < 0)
                return r;
        state_info_set(&a->state, STATE_RUNNING, E->now);
        E->progressed = true;
        if (!wait) {
                json_decref(tr->outputs);
                tr->outputs = json_pack("{s:s}", "executionId", child);
                return engine_run_set(E, tr, STATE_SUCCESS);
        }
        return 0;
}

static int64_t waitfor_int(json_t *check, const char *name, int64_t def) {
        json_t *v = json_object_get(check, name);
        if (json_is_integer(v))
                return json_integer_value(v);
        int64_t i;
        if (json_is_string(v) && safe_atoi64(json_string_value(v), &i) == 0)
                return i;
        return def;
}

static usec_t waitfor_duration(json_t *check, const char *name, usec_t def) {
        json_t *v = json_object_get(check, name);
        susec_t d;
        if (json_is_string(v) && duration_parse(json_string_value(v), &d) == 0 && d >= 0)
                return (usec_t) d;
        if (json_is_integer(v) && json_integer_value(v) >= 0) /* seconds, as Kestra's defaults are written */
                return (usec_t) json_integer_value(v) * USEC_PER_SEC;
        return def;
}

/* WaitFor (LoopUntil): run the tasks, then evaluate the condition; again after the check interval
 * until it holds or the iteration/duration bounds are reached. */
static int resolve_waitfor(Engine *E, const Task *t, TaskRun *tr) {
        json_t *bk = engine_run_bookkeeping(tr);
        if (!bk)
                return -ENOMEM;
        if (json_is_true(json_object_get(bk, "waiting")))
                return 0;
        if (!json_object_get(bk, "iteration")) {
                json_object_set_new(bk, "iteration", json_integer(0));
                json_object_set_new(bk, "started", json_integer((json_int_t) E->now));
                /* outputs.<id>.iterationCount is there from the first iteration on (Kestra's example
                 * renders it in the loop's own tasks). */
                json_decref(tr->outputs);
                tr->outputs = json_pack("{s:i}", "iterationCount", 0);
                engine_outputs_changed(E);
        }
        int64_t it = json_integer_value(json_object_get(bk, "iteration"));
        ListResult res = walk_branch(E, t, tr, "tasks", WALK_SEQUENTIAL, 0);
        if (!res.done)
                return 0;
        if (state_is_failed(res.state) || E->killing)
                return finish(E, t, tr, res);

        json_decref(tr->outputs);
        tr->outputs = json_pack("{s:I}", "iterationCount", (json_int_t) (it + 1));
        engine_outputs_changed(E);
        _cleanup_json_ json_t *v = NULL;
        _cleanup_free_ char *err = NULL;
        int r = engine_render_value(E, t, tr, task_property(t, "condition"), &v, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return fail_run(E, tr, "Failed to evaluate condition: %s", strempty(err));
        if (engine_truthy(v))
                return finish(E, t, tr, res);

        json_t *check = task_property(t, "checkFrequency");
        int64_t max_it = waitfor_int(check, "maxIterations", 100);
        usec_t max_d = waitfor_duration(check, "maxDuration", USEC_PER_HOUR);
        usec_t interval = waitfor_duration(check, "interval", USEC_PER_SEC);
        usec_t started = (usec_t) json_integer_value(json_object_get(bk, "started"));
        if (it + 1 >= max_it || E->now + interval - started > max_d) {
                bool fail = json_is_true(task_property(t, "failOnMaxReached"));
                engine_log(E, tr, fail ? "ERROR" : "WARN", "WaitFor stopped after %lld iteration(s): %s reached",
                           (long long) (it + 1), it + 1 >= max_it ? "maxIterations" : "maxDuration");
                if (fail)
                        return engine_run_set(E, tr, STATE_FAILED);
                return finish(E, t, tr, res);
        }
        json_object_set_new(bk, "iteration", json_integer(it + 1));
        json_object_set_new(bk, "waiting", json_true());
        E->progressed = true;
        return engine_emit_timer(E, tr, "waitfor", E->now + interval);
}

/* The engine's side of the task-type registry: each hook a type may name, and no default, so that a
 * hook added to lib/flow/task-types.h without its code here breaks the build (-Wswitch). */
int engine_resolve_flowable(Engine *E, const Task *t, TaskRun *tr) {
        if (state_is_terminal(tr->state.current))
                return 0;
        switch (engine_task_hook(t)) {
        case TASK_HOOK_SEQUENTIAL:
                return finish(E, t, tr, walk_branch(E, t, tr, "tasks", WALK_SEQUENTIAL, 0));
        case TASK_HOOK_WORKING_DIRECTORY: {
                int r = finish(E, t, tr, walk_branch(E, t, tr, "tasks", WALK_SEQUENTIAL, 0));
                if (r >= 0 && state_is_terminal(tr->state.current))
                        r = engine_emit_cleanup(E, tr);
                return r;
        }
        case TASK_HOOK_PARALLEL:
                return finish(E, t, tr,
                              walk_branch(E, t, tr, "tasks", WALK_PARALLEL, int_property(t, "concurrent", 0)));
        case TASK_HOOK_DAG:
                return finish(E, t, tr, walk_branch(E, t, tr, "tasks", WALK_DAG, int_property(t, "concurrent", 0)));
        case TASK_HOOK_ALLOW_FAILURE: {
                ListResult res = walk_branch(E, t, tr, "tasks", WALK_SEQUENTIAL, 0);
                if (res.done && state_is_failed(res.state) && !E->killing)
                        res.state = STATE_WARNING;
                return finish(E, t, tr, res);
        }
        case TASK_HOOK_IF:
                return resolve_if(E, t, tr);
        case TASK_HOOK_SWITCH:
                return resolve_switch(E, t, tr);
        case TASK_HOOK_FOR_EACH:
        case TASK_HOOK_EACH_SEQUENTIAL:
        case TASK_HOOK_EACH_PARALLEL:
                return resolve_loop(E, t, tr);
        case TASK_HOOK_PAUSE:
                return resolve_pause(E, t, tr);
        case TASK_HOOK_WAIT_FOR:
                return resolve_waitfor(E, t, tr);
        case TASK_HOOK_SUBFLOW:
                return resolve_subflow(E, t, tr);
        case TASK_HOOK_FOR_EACH_ITEM:
                return engine_resolve_for_each_item(E, t, tr);
        /* Started by start_task(); here again when retried or restarted. */
        case TASK_HOOK_LABELS:
                return run_labels(E, t, tr);
        case TASK_HOOK_EXIT:
                return run_exit(E, t, tr);
        case TASK_HOOK_KILL:
                return run_kill(E, t, tr);
        case TASK_HOOK_SET_VARIABLES:
                return run_set_variables(E, t, tr);
        case TASK_HOOK_UNSET_VARIABLES:
                return run_unset_variables(E, t, tr);
        case TASK_HOOK_NONE:
        case _TASK_HOOK_MAX:
                break;
        }
        /* Validation refuses such types; a flow stored by an older build may still hold one. */
        return fail_run(E, tr, "task type '%s' cannot be run by this version of tern", t->type);
}

/* engine.c: engine_apply(): apply one event to an execution, then reconcile the task tree to
 * start what can start and end what has ended. Pure: effects are returned, never performed. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "engine-internal.h"
#include "json-limits.h"
#include "store.h" /* the job_resubmitted reasons */
#include "strutil.h"

int engine_effects_init(EngineEffects *fx) {
        *fx = (EngineEffects) {
                .jobs = json_array(), .events = json_array(), .subflows = json_array(),
                .cancels = json_array(), .logs = json_array(), .executions = json_array(),
        };
        if (!fx->jobs || !fx->events || !fx->subflows || !fx->cancels || !fx->logs || !fx->executions) {
                engine_effects_done(fx);
                return -ENOMEM;
        }
        return 0;
}

void engine_effects_done(EngineEffects *fx) {
        json_decref(fx->jobs);
        json_decref(fx->events);
        json_decref(fx->subflows);
        json_decref(fx->cancels);
        json_decref(fx->logs);
        json_decref(fx->executions);
        *fx = (EngineEffects) {};
}

/* ---- lookups ---------------------------------------------------------------------------------- */

static void index_tasks(Engine *E, Task *const *tasks, size_t n, bool errors, bool after) {
        for (size_t i = 0; i < n; i++) {
                hashmap_put(&E->tasks, tasks[i]->id, (void *) tasks[i]);
                if (errors)
                        hashmap_put(&E->error_tasks, tasks[i]->id, (void *) tasks[i]);
                if (after)
                        hashmap_put(&E->after_tasks, tasks[i]->id, (void *) tasks[i]);
                for (size_t b = 0; b < tasks[i]->n_branches; b++)
                        index_tasks(E, tasks[i]->branches[b].tasks, tasks[i]->branches[b].n_tasks,
                                    streq(tasks[i]->branches[b].name, "errors"), after);
        }
}

/* Children of a loop that repeats its body (WaitFor) carry the iteration they belong to. */
static int parent_iteration(const TaskRun *parent) {
        json_t *it = parent && parent->engine ? json_object_get(parent->engine, "iteration") : NULL;
        return json_is_integer(it) ? (int) json_integer_value(it) : -1;
}

static int index_run(Engine *E, TaskRun *tr) {
        char iteration[16] = "";
        if (tr->iteration >= 0)
                snprintf(iteration, sizeof iteration, "%d", tr->iteration);
        const char *key[] = { tr->task_id, tr->parent_task_run_id, tr->value, iteration };
        int r = hashmap_put_parts(&E->runs, key, 4, tr);
        if (r < 0)
                return r;
        return hashmap_put(&E->runs_id, tr->id, tr);
}

const Task *engine_task(Engine *E, const char *task_id) {
        return hashmap_get(&E->tasks, task_id);
}

TaskRun *engine_run_find(Engine *E, const Task *t, const TaskRun *parent, const char *value) {
        char iteration[16] = "";
        int it = parent_iteration(parent);
        if (it >= 0)
                snprintf(iteration, sizeof iteration, "%d", it);
        const char *key[] = { t->id, parent ? parent->id : NULL, value, iteration };
        return hashmap_get_parts(&E->runs, key, 4);
}

TaskRun *engine_run_by_id(Engine *E, const char *id) {
        return hashmap_get(&E->runs_id, id);
}

int engine_new_id(const EngineConfig *cfg, char ret[static ID_MAX]) {
        if (cfg && cfg->new_id)
                return cfg->new_id(cfg->id_userdata, ret);
        return id_new(ret);
}

int engine_run_new(Engine *E, const Task *t, const TaskRun *parent, const char *value, TaskRun **ret) {
        char id[ID_MAX];
        TaskRun *tr;
        int r = engine_new_id(E->cfg, id);
        if (r < 0)
                return r;
        r = execution_add_task_run(E->e, id, t->id, parent ? parent->id : NULL, value, E->now, &tr);
        if (r < 0)
                return r;
        tr->iteration = parent_iteration(parent);
        r = index_run(E, tr);
        if (r < 0)
                return r;
        E->progressed = true;
        *ret = tr;
        return 0;
}

int engine_run_set(Engine *E, TaskRun *tr, State s) {
        if (tr->state.current == s)
                return 0;
        /* The engine is the authority on its own task runs: a transition Kestra would not make
         * (e.g. a kill racing a result) is still recorded rather than lost. */
        int r = state_info_set(&tr->state, s, E->now);
        if (r == -EPERM)
                r = state_info_force(&tr->state, s, E->now);
        if (r < 0)
                return r;
        E->progressed = true;
        if (state_is_terminal(s))
                engine_outputs_changed(E);
        return 0;
}

json_t *engine_run_bookkeeping(TaskRun *tr) {
        if (!tr->engine)
                tr->engine = json_object();
        return tr->engine;
}

void engine_log(Engine *E, const TaskRun *tr, const char *level, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&m, fmt, ap);
        va_end(ap);
        if (r < 0)
                return;
        json_t *l = json_pack("{s:s?, s:s?, s:s, s:s}", "taskRunId", tr ? tr->id : NULL, "taskId",
                              tr ? tr->task_id : NULL, "level", level, "message", m);
        if (l)
                json_array_append_new(E->fx->logs, l);
        free(m);
}

int engine_emit_timer(Engine *E, const TaskRun *tr, const char *kind, usec_t due) {
        json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s}, s:I}", "executionId", E->e->id, "type", ENGINE_EVENT_TIMER,
                               "payload", "taskRunId", tr->id, "kind", kind, "dueAt", (json_int_t) due);
        if (!ev || json_array_append_new(E->fx->events, ev) < 0)
                return -ENOMEM;
        return 0;
}

/* The WorkingDirectory task run whose directory tr works in, if any (the nearest one above it). */
TaskRun *engine_working_directory(Engine *E, const TaskRun *tr) {
        for (size_t guard = 0; tr && tr->parent_task_run_id && guard <= E->e->n_task_runs; guard++) {
                TaskRun *p = engine_run_by_id(E, tr->parent_task_run_id);
                const Task *pt = p ? engine_task(E, p->task_id) : NULL;
                if (pt && engine_task_hook(pt) == TASK_HOOK_WORKING_DIRECTORY)
                        return p;
                tr = p;
        }
        return NULL;
}

int engine_emit_job(Engine *E, const Task *t, TaskRun *tr) {
        return engine_emit_job_as(E, t, tr, NULL, NULL);
}

int engine_emit_job_as(Engine *E, const Task *t, TaskRun *tr, const char *type, json_t *properties) {
        TaskRunAttempt *a;
        int r = task_run_add_attempt(tr, E->now, &a);
        if (r < 0)
                return r;
        _cleanup_json_ json_t *vars = engine_variables(E, t, tr);
        /* The loader already merged the flow's pluginDefaults into the properties. */
        json_t *props = properties ? json_incref(properties) : t->properties ? json_incref(t->properties) : json_object();
        if (!vars || !props)
                return -ENOMEM;
        json_t *job = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:o, s:O, s:s}", "executionId", E->e->id,
                                "taskRunId", tr->id, "taskId", t->id, "attempt", (int) tr->n_attempts, "type",
                                type ? type : t->def ? t->def->name : t->type, "namespace", E->e->namespace, "flowId", E->e->flow_id,
                                "properties", props, "variables", vars, "queue",
                                t->worker_group ? t->worker_group : strempty(E->flow->worker_group));
        if (!job)
                return -ENOMEM;
        if (t->timeout_usec > 0)
                json_object_set_new(job, "timeoutUsec", json_integer(t->timeout_usec));
        else if (t->timeout) {
                /* A timeout given as an expression is rendered now, with the task's variables. */
                _cleanup_free_ char *s = NULL, *err = NULL;
                susec_t d;
                if (engine_render_string(E, t, tr, t->timeout, &s, &err) == 0 && duration_parse(s, &d) == 0 && d > 0)
                        json_object_set_new(job, "timeoutUsec", json_integer(d));
                else
                        engine_log(E, tr, "WARN", "ignoring timeout '%s': %s", t->timeout,
                                   err ? err : "not an ISO-8601 duration");
        }
        if (t->log_level)
                json_object_set_new(job, "logLevel", json_string(t->log_level));
        /* The task a TemplatedTask renders gets the flow's pluginDefaults, as a task of the flow would. */
        if (t->def && t->def->runner == TASK_RUNNER_TEMPLATED && E->flow->plugin_defaults)
                json_object_set(job, "pluginDefaults", E->flow->plugin_defaults);
        json_t *loop = NULL;
        if (engine_loop_values(E, tr, &loop) < 0)
                return -ENOMEM;
        json_object_set_new(job, "loopValues", loop);
        /* Tasks of a WorkingDirectory share one directory, so they run on the worker that ran the
         * first of them: their jobs are pinned to it. */
        TaskRun *wd = engine_working_directory(E, tr);
        if (wd) {
                const char *worker = json_string_value(json_object_get(wd->engine, "worker"));
                json_object_set_new(job, "workingDirectory", json_string(wd->id));
                if (worker) {
                        _cleanup_free_ char *q = strjoin("@", worker);
                        json_object_set_new(job, "queue", json_string(q));
                }
        }
        if (json_array_append_new(E->fx->jobs, job) < 0)
                return -ENOMEM;
        E->progressed = true;
        return 0;
}

int engine_emit_cleanup(Engine *E, TaskRun *wd) {
        const char *worker = json_string_value(json_object_get(wd->engine, "worker"));
        if (!worker)
                return 0; /* no task ran in it: nothing to remove */
        _cleanup_free_ char *q = strjoin("@", worker);
        json_t *job = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s}", "executionId", E->e->id, "taskRunId",
                                wd->id, "taskId", wd->task_id, "attempt", 0, "type", "_cleanup", "namespace",
                                E->e->namespace, "flowId", E->e->flow_id, "workingDirectory", wd->id, "queue", q);
        if (!job || json_array_append_new(E->fx->jobs, job) < 0)
                return -ENOMEM;
        return 0;
}

/* ---- retries ---------------------------------------------------------------------------------- */

/* The retry that applies to a task's failure in place; a CREATE_NEW_EXECUTION one applies to the
 * whole execution instead (execution_retry()). */
static const Retry *task_retry(Engine *E, const Task *t) {
        if (t->retry)
                return t->retry->behavior == RETRY_BEHAVIOR_RETRY_FAILED_TASK ? t->retry : NULL;
        if (E->flow->retry && E->flow->retry->behavior == RETRY_BEHAVIOR_RETRY_FAILED_TASK)
                return E->flow->retry;
        return NULL;
}

/* Deterministic jitter for random retries: the same task run and attempt give the same delay. */
static double retry_unit_random(const TaskRun *tr) {
        uint64_t h = 1469598103934665603ULL;
        for (const char *p = tr->id; *p; p++)
                h = (h ^ (unsigned char) *p) * 1099511628211ULL;
        h = (h ^ tr->n_attempts) * 1099511628211ULL;
        return (double) (h >> 11) / (double) (1ULL << 53);
}

/* Whether a failed attempt gets another, and after how long. */
static bool retry_next(const Retry *rt, const TaskRun *tr, usec_t now, usec_t *ret_delay) {
        size_t done = tr->n_attempts;
        usec_t first = tr->n_attempts ? state_info_start_date(&tr->attempts[0].state) : state_info_start_date(&tr->state);
        usec_t delay = 0;

        if (rt->max_attempt >= 0 && (int64_t) done >= rt->max_attempt)
                return false;
        switch (rt->type) {
        case RETRY_CONSTANT:
                delay = rt->interval > 0 ? (usec_t) rt->interval : 0;
                break;
        case RETRY_EXPONENTIAL: {
                double factor = rt->delay_factor > 0 ? rt->delay_factor : 2.0;
                double d = (double) (rt->interval > 0 ? rt->interval : 0) * pow(factor, (double) (done - 1));
                if (rt->max_interval > 0 && d > (double) rt->max_interval)
                        d = (double) rt->max_interval;
                delay = (usec_t) d;
                break;
        }
        case RETRY_RANDOM: {
                usec_t lo = rt->min_interval > 0 ? (usec_t) rt->min_interval : 0;
                usec_t hi = rt->max_interval > 0 ? (usec_t) rt->max_interval : lo;
                delay = lo + (usec_t) ((double) (hi > lo ? hi - lo : 0) * retry_unit_random(tr));
                break;
        }
        }
        if (rt->max_duration >= 0 && now + delay > first + (usec_t) rt->max_duration)
                return false;
        *ret_delay = delay;
        return true;
}

/* A flowable with a retry policy keeps one attempt per try (the first made on demand). */
bool engine_flowable_retry(Engine *E, const Task *t, TaskRun *tr) {
        if (!t->retry)
                return false;
        if (tr->n_attempts == 0) {
                TaskRunAttempt *a;
                if (task_run_add_attempt(tr, state_info_start_date(&tr->state), &a) < 0)
                        return false;
                state_info_force(&a->state, STATE_RUNNING, state_info_start_date(&tr->state));
        }
        return true;
}

bool engine_retry_next(Engine *E, const Task *t, TaskRun *tr, usec_t *ret_delay) {
        const Retry *rt = task_retry(E, t);
        return rt && retry_next(rt, tr, E->now, ret_delay);
}

/* ---- event handlers --------------------------------------------------------------------------- */

static usec_t payload_time(json_t *o, const char *key, usec_t def) {
        json_t *v = json_object_get(o, key);
        return json_is_integer(v) && json_integer_value(v) > 0 ? (usec_t) json_integer_value(v) : def;
}

static int start_attempt_now(Engine *E, const Task *t, TaskRun *tr) {
        int r = engine_emit_job(E, t, tr);
        if (r < 0)
                return r;
        return 0;
}

static int on_task_result(Engine *E, json_t *payload) {
        const char *id = json_string_value(json_object_get(payload, "taskRunId"));
        json_t *res = json_object_get(payload, "result");
        TaskRun *tr = id ? engine_run_by_id(E, id) : NULL;
        TaskRunAttempt *a;
        int r;

        if (!tr || state_is_terminal(tr->state.current) || !(a = task_run_last_attempt(tr)))
                return 0; /* stale: killed meanwhile, or unknown */
        const Task *t = engine_task(E, tr->task_id);
        if (!t)
                return 0;
        State s = state_from_string(json_string_value(json_object_get(res, "state")));
        if (s < 0 || !state_is_terminal(s))
                s = STATE_FAILED;
        usec_t started = payload_time(res, "startedAt", E->now), ended = payload_time(res, "endedAt", E->now);
        const char *worker = json_string_value(json_object_get(payload, "workerId"));

        if (worker) {
                free(a->worker_id);
                a->worker_id = strdup(worker);
                TaskRun *wd = engine_working_directory(E, tr);
                json_t *bk = wd ? engine_run_bookkeeping(wd) : NULL;
                if (bk && !json_object_get(bk, "worker"))
                        json_object_set_new(bk, "worker", json_string(worker));
        }
        if (a->state.current != STATE_RUNNING)
                state_info_set(&a->state, STATE_RUNNING, started);
        state_info_force(&a->state, s, ended);
        if (tr->state.current != STATE_RUNNING)
                state_info_force(&tr->state, STATE_RUNNING, started);
        E->progressed = true;

        /* A ForEachItem's split job answered: its subflows come next. */
        if ((r = engine_for_each_item_split_result(E, t, tr, s, json_object_get(res, "outputs"))) != 0)
                return r < 0 ? r : 0;
        const char *error = json_string_value(json_object_get(res, "error"));
        if (s == STATE_FAILED) {
                const Retry *rt = task_retry(E, t);
                usec_t delay;
                if (rt && !E->killing && retry_next(rt, tr, E->now, &delay)) {
                        char d[DURATION_MAX];
                        engine_log(E, tr, "WARN", "Attempt %zu failed%s%s; retrying in %s", tr->n_attempts,
                                   error ? ": " : "", strempty(error), duration_format(d, (susec_t) delay));
                        if ((r = engine_run_set(E, tr, STATE_RETRYING)) < 0)
                                return r;
                        if (delay == 0 && engine_task_on_worker(t))
                                return start_attempt_now(E, t, tr);
                        return engine_emit_timer(E, tr, "retry", E->now + delay);
                }
        }
        json_t *outputs = json_object_get(res, "outputs");
        _cleanup_free_ char *too_big = NULL;
        if (json_value_check(outputs, "the task's outputs", &too_big) < 0) {
                /* The worker refuses them already; this is for any other source of results. */
                engine_log(E, tr, "ERROR", "%s", too_big ? too_big : "the task's outputs are too deep or too large");
                outputs = NULL;
                s = STATE_FAILED;
        }
        if (json_is_object(outputs) && json_object_size(outputs) > 0) {
                json_decref(tr->outputs);
                tr->outputs = json_incref(outputs);
        }
        if (s == STATE_SUCCESS && tr->n_attempts > 1) {
                const Retry *rt = task_retry(E, t);
                if (rt && rt->warning_on_retry)
                        s = STATE_WARNING;
        }
        return engine_run_set(E, tr, s);
}

static State sla_violated(Engine *E, json_t *sla);
static int execution_retry_fire(Engine *E);

static int on_timer(Engine *E, json_t *payload) {
        const char *id = json_string_value(json_object_get(payload, "taskRunId"));
        const char *kind = json_string_value(json_object_get(payload, "kind"));
        if (kind && streq(kind, "retryExecution"))
                return execution_retry_fire(E);
        if (kind && streq(kind, "sla")) {
                /* MAX_DURATION passed while the execution still runs. */
                json_t *sla = json_array_get(E->flow->sla, (size_t) json_integer_value(json_object_get(payload, "index")));
                if (!sla || state_is_terminal(E->e->state.current))
                        return 0;
                State s = sla_violated(E, sla);
                if (s < 0)
                        return 0;
                if (!E->e->engine && !(E->e->engine = json_object()))
                        return -ENOMEM;
                json_object_set_new(E->e->engine, "slaState", json_string(state_to_string(s)));
                return engine_kill(E); /* stop what runs; the end state is the SLA's */
        }
        TaskRun *tr = id ? engine_run_by_id(E, id) : NULL;

        if (!tr || !kind || state_is_terminal(tr->state.current))
                return 0;
        const Task *t = engine_task(E, tr->task_id);
        if (!t)
                return 0;
        if (streq(kind, "retry") && tr->state.current == STATE_RETRYING) {
                if (E->killing)
                        return engine_run_set(E, tr, STATE_KILLED);
                if (engine_task_on_worker(t))
                        return start_attempt_now(E, t, tr);
                /* A flowable, subflow or Labels starts over: the walk resolves it again. */
                if (tr->engine)
                        json_object_clear(tr->engine);
                return engine_run_set(E, tr, STATE_RUNNING);
        }
        if (streq(kind, "foreachitem")) {
                /* A ForEachItem creates its next subflow executions. */
                json_object_del(engine_run_bookkeeping(tr), "pending");
                E->progressed = true;
                return 0;
        }
        if (streq(kind, "waitfor")) {
                /* The pause between two iterations is over: the walk starts the next one. */
                json_object_del(engine_run_bookkeeping(tr), "waiting");
                E->progressed = true;
                return 0;
        }
        if (streq(kind, "pause") && tr->state.current == STATE_PAUSED) {
                /* The pause delay is over (or its timeout hit): what happens depends on behavior. */
                const char *behavior = json_string_value(json_object_get(engine_run_bookkeeping(tr), "onTimeout"));
                State end = STATE_SUCCESS;
                if (behavior && streq(behavior, "FAIL"))
                        end = STATE_FAILED;
                else if (behavior && streq(behavior, "WARN"))
                        end = STATE_WARNING;
                else if (behavior && streq(behavior, "CANCEL"))
                        end = STATE_CANCELLED;
                json_object_set_new(engine_run_bookkeeping(tr), "resumed", json_true());
                json_object_set_new(engine_run_bookkeeping(tr), "resumeState", json_string(state_to_string(end)));
                return engine_run_set(E, tr, STATE_RUNNING);
        }
        return 0;
}

static int on_resume(Engine *E, json_t *payload) {
        json_t *inputs = json_object_get(payload, "inputs");
        int r;

        for (size_t i = 0; i < E->e->n_task_runs; i++) {
                TaskRun *tr = E->e->task_runs[i];
                if (tr->state.current != STATE_PAUSED)
                        continue;
                json_object_set_new(engine_run_bookkeeping(tr), "resumed", json_true());
                /* onResume: every declared input, given or defaulted or null. */
                const Task *t = engine_task(E, tr->task_id);
                json_t *decl = t ? task_property(t, "onResume") : NULL;
                _cleanup_json_ json_t *values = json_object();
                size_t k;
                json_t *d;
                json_array_foreach(decl, k, d) {
                        const char *id = json_string_value(json_object_get(d, "id"));
                        if (!id)
                                id = json_string_value(json_object_get(d, "name"));
                        if (!id)
                                continue;
                        json_t *v = json_object_get(inputs, id);
                        if (!v)
                                v = json_object_get(d, "defaults");
                        json_object_set(values, id, v ? v : json_null());
                }
                if (json_is_object(inputs))
                        json_object_update_missing(values, inputs);
                if (json_object_size(values) > 0) {
                        json_decref(tr->outputs);
                        tr->outputs = json_pack("{s:O}", "onResume", values);
                        engine_outputs_changed(E);
                }
                if ((r = engine_run_set(E, tr, STATE_RUNNING)) < 0)
                        return r;
        }
        json_object_del(E->e->engine, "held");
        E->holding = false;
        if (E->e->state.current == STATE_PAUSED)
                state_info_set(&E->e->state, STATE_RUNNING, E->now);
        return 0;
}

/* A subflow that its parent waits for tells the parent how it ended. */
static int notify_parent(Engine *E, State st) {
        Execution *e = E->e;
        const char *parent_tr = json_string_value(json_object_get(e->engine, "parentTaskRunId"));
        if (e->parent_id && parent_tr && !json_is_false(json_object_get(e->engine, "wait"))) {
                json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:o}, s:i}", "executionId", e->parent_id, "type",
                                       ENGINE_EVENT_SUBFLOW_ENDED, "payload", "taskRunId", parent_tr, "executionId",
                                       e->id, "state", state_to_string(st), "outputs",
                                       json_ref_or_object(e->outputs), "dueAt", 0);
                if (!ev || json_array_append_new(E->fx->events, ev) < 0)
                        return -ENOMEM;
                /* A ForEachItem's batch says which: its outputs go to the merged file in batch order. */
                json_t *it = json_object_get(e->engine, "iteration");
                if (json_is_integer(it))
                        json_object_set(json_object_get(ev, "payload"), "iteration", it);
        }
        return 0;
}

/* Kestra's pause of a running execution: the task runs in flight go on and end, nothing new starts
 * (the walks see E->holding) until a resume; the execution shows PAUSED meanwhile. */
static int on_pause(Engine *E) {
        Execution *e = E->e;
        if (e->state.current != STATE_RUNNING || E->killing || E->holding)
                return 0; /* the API checked; a stale event changes nothing */
        if (!e->engine && !(e->engine = json_object()))
                return -ENOMEM;
        if (json_object_set_new(e->engine, "held", json_true()) < 0)
                return -ENOMEM;
        E->holding = true;
        engine_log(E, NULL, "INFO", "Execution paused by a user: the running tasks end, no new one starts until resumed");
        state_info_set(&e->state, STATE_PAUSED, E->now);
        E->progressed = true;
        return 0;
}

int engine_kill(Engine *E) {
        int r;

        if (state_is_terminal(E->e->state.current))
                return 0;
        if (E->e->state.current == STATE_QUEUED || E->e->state.current == STATE_CREATED) {
                /* Nothing started yet: it ends here, and a parent waiting for it hears so (a kill
                 * propagated by the parent's Kill may come before the subflow starts). */
                state_info_force(&E->e->state, STATE_KILLED, E->now);
                E->fx->ended = true;
                return notify_parent(E, STATE_KILLED);
        }
        state_info_force(&E->e->state, STATE_KILLING, E->now);
        E->killing = true;
        for (size_t i = 0; i < E->e->n_task_runs; i++) {
                TaskRun *tr = E->e->task_runs[i];
                const Task *t = engine_task(E, tr->task_id);
                State s = tr->state.current;
                if (state_is_terminal(s) || !t)
                        continue;
                if (engine_task_on_worker(t) && s != STATE_RETRYING) {
                        /* The job is queued or running: the loop cancels it and a KILLED result follows. */
                        json_array_append_new(E->fx->cancels, json_string(tr->id));
                        continue;
                }
                if (s == STATE_PAUSED || s == STATE_RETRYING || s == STATE_CREATED)
                        if ((r = engine_run_set(E, tr, STATE_KILLED)) < 0)
                                return r;
        }
        return 0;
}

/* A kill asked for from outside (API, CLI, a parent's cascade): the execution, and unless the event
 * says "cascade": false, its subflow executions (Kestra's isOnKillCascade, true by default). */
static int on_kill(Engine *E, json_t *payload) {
        int r;
        if (!state_is_terminal(E->e->state.current) && !json_is_false(json_object_get(payload, "cascade")) &&
            (r = engine_kill_subflows(E)) < 0)
                return r;
        return engine_kill(E);
}

/* A subflow attempt ended: retry it (a new child execution) when the task's retry allows. */
static int subflow_attempt_ended(Engine *E, const Task *t, TaskRun *tr, State s) {
        TaskRunAttempt *a = task_run_last_attempt(tr);
        if (a)
                state_info_force(&a->state, s, E->now);
        if (s == STATE_FAILED && t) {
                const Retry *rt = task_retry(E, t);
                usec_t delay;
                if (rt && !E->killing && retry_next(rt, tr, E->now, &delay)) {
                        int r = engine_run_set(E, tr, STATE_RETRYING);
                        if (r < 0)
                                return r;
                        return engine_emit_timer(E, tr, "retry", E->now + delay);
                }
        }
        return engine_run_set(E, tr, s);
}

static int on_subflow(Engine *E, json_t *payload, bool failed) {
        const char *id = json_string_value(json_object_get(payload, "taskRunId"));
        TaskRun *tr = id ? engine_run_by_id(E, id) : NULL;

        if (!tr || state_is_terminal(tr->state.current))
                return 0;
        const Task *t = engine_task(E, tr->task_id);
        if (t && engine_task_hook(t) == TASK_HOOK_FOR_EACH_ITEM) {
                if (failed)
                        engine_log(E, tr, "ERROR", "%s", strempty(json_string_value(json_object_get(payload, "error"))));
                return engine_for_each_item_child_ended(
                        E, t, tr, failed ? STATE_FAILED : state_from_string(json_string_value(json_object_get(payload, "state"))),
                        payload);
        }
        if (failed) {
                engine_log(E, tr, "ERROR", "%s", strempty(json_string_value(json_object_get(payload, "error"))));
                return subflow_attempt_ended(E, t, tr, STATE_FAILED);
        }
        State child = state_from_string(json_string_value(json_object_get(payload, "state")));
        json_t *outputs = json_object_get(payload, "outputs");
        _cleanup_free_ char *too_big = NULL;
        if (json_value_check(outputs, "the subflow's outputs", &too_big) < 0) {
                engine_log(E, tr, "ERROR", "%s", too_big ? too_big : "the subflow's outputs are too deep or too large");
                return subflow_attempt_ended(E, t, tr, STATE_FAILED);
        }
        json_t *o = json_pack("{s:s?, s:s?}", "executionId", json_string_value(json_object_get(payload, "executionId")),
                              "state", state_to_string(child));
        if (o && json_is_object(outputs))
                json_object_set(o, "outputs", outputs);
        json_decref(tr->outputs);
        tr->outputs = o;
        bool transmit = true;
        json_t *tf = task_property(t, "transmitFailed");
        if (json_is_boolean(tf))
                transmit = json_is_true(tf);
        State s = STATE_SUCCESS;
        if (child == STATE_WARNING)
                s = STATE_WARNING;
        else if (child < 0 || state_is_failed(child) || child == STATE_CANCELLED)
                s = transmit ? (child == STATE_KILLED ? STATE_KILLED : STATE_FAILED) : STATE_SUCCESS;
        return subflow_attempt_ended(E, t, tr, s);
}

static int on_job_resubmitted(Engine *E, json_t *payload) {
        const char *id = json_string_value(json_object_get(payload, "taskRunId"));
        TaskRun *tr = id ? engine_run_by_id(E, id) : NULL;
        TaskRunAttempt *a;

        if (!tr || state_is_terminal(tr->state.current) || !(a = task_run_last_attempt(tr)))
                return 0;
        /* The attempt's worker vanished: the same job runs again under a new epoch. The attempt is
         * closed as RESUBMITTED and a fresh one opened, so the resubmission shows on the task run. */
        const char *worker = json_string_value(json_object_get(payload, "workerId"));
        if (worker && !a->worker_id)
                a->worker_id = strdup(worker);
        state_info_force(&a->state, STATE_RESUBMITTED, E->now);
        /* Which of the three it was matters when reading a timeline: a released job is no fault. */
        const char *reason = json_string_value(json_object_get(payload, "reason"));
        worker = worker ? worker : "(unknown)";
        if (reason && streq(reason, STORE_RESUBMIT_RELEASED))
                engine_log(E, tr, "WARN", "worker %s handed the task back as it stopped; task resubmitted", worker);
        else if (reason && streq(reason, STORE_RESUBMIT_LEASE_EXPIRED))
                engine_log(E, tr, "WARN", "the lease of worker %s on the task expired without renewal; task resubmitted", worker);
        else
                engine_log(E, tr, "WARN", "worker %s stopped answering; task resubmitted", worker);
        E->progressed = true;
        return task_run_add_attempt(tr, E->now, NULL);
}

static void index_all_runs(Engine *E) {
        hashmap_done(&E->runs);
        hashmap_done(&E->runs_id);
        for (size_t i = 0; i < E->e->n_task_runs; i++)
                (void) index_run(E, E->e->task_runs[i]);
}

/* Whether tr ran as (or under) an error handler, or after the execution ended (afterExecution):
 * restart drops those so they can run again. */
static bool run_is_error_handler(Engine *E, const TaskRun *tr) {
        for (size_t guard = 0; tr && guard <= E->e->n_task_runs; guard++) {
                if (hashmap_get(&E->error_tasks, tr->task_id) || hashmap_get(&E->after_tasks, tr->task_id))
                        return true;
                tr = tr->parent_task_run_id ? engine_run_by_id(E, tr->parent_task_run_id) : NULL;
        }
        return false;
}

static int on_restart(Engine *E) {
        Execution *e = E->e;

        if (!state_is_failed(e->state.current) && e->state.current != STATE_WARNING)
                return 0;
        /* Error handlers that ran are dropped, so they run again if the restart fails too. */
        for (size_t i = e->n_task_runs; i > 0; i--) {
                TaskRun *tr = e->task_runs[i - 1];
                if (run_is_error_handler(E, tr))
                        execution_remove_task_run(e, tr);
        }
        index_all_runs(E);
        json_object_del(e->engine, "afterExecution");
        json_object_del(e->engine, "held");
        /* Failed runnable tasks get a new attempt (RESTARTED until it starts); failed flowables
         * (the parents of those) run again from where they were. */
        for (size_t i = 0; i < e->n_task_runs; i++) {
                TaskRun *tr = e->task_runs[i];
                const Task *t = engine_task(E, tr->task_id);
                if (!t || !(state_is_failed(tr->state.current) || tr->state.current == STATE_CANCELLED))
                        continue;
                if (engine_task_on_worker(t))
                        state_info_force(&tr->state, STATE_RESTARTED, E->now);
                else {
                        int r;
                        if (engine_task_hook(t) == TASK_HOOK_FOR_EACH_ITEM && tr->engine) {
                                if ((r = engine_for_each_item_restart(E, t, tr)) < 0)
                                        return r;
                        } else if (t->def && t->def->role == TASK_ROLE_EXECUTABLE && tr->engine)
                                json_object_clear(tr->engine); /* a subflow starts a new child */
                        state_info_force(&tr->state, STATE_RUNNING, E->now);
                }
        }
        state_info_force(&e->state, STATE_RESTARTED, E->now);
        E->restarting = true;
        E->progressed = true;
        engine_outputs_changed(E);
        return 0;
}

/* Kestra's "change state" of a task run (markAs): an ended task run of an ended execution gets the
 * state the user chose, its flowable ancestors walk again from where they were, and the execution
 * goes on as that outcome decides (a FAILED task changed to SUCCESS lets the next tasks run). The
 * API checks what it can; a stale event (the execution moved on meanwhile) changes nothing. */
static int on_change_state(Engine *E, json_t *payload) {
        Execution *e = E->e;
        const char *id = json_string_value(json_object_get(payload, "taskRunId"));
        State to = state_from_string(json_string_value(json_object_get(payload, "state")));
        TaskRun *tr = id ? engine_run_by_id(E, id) : NULL;
        int r;

        if (!state_is_terminal(e->state.current) || to < 0 || !state_is_terminal(to))
                return 0;
        if (!id) {
                /* The execution's own state (Kestra's change-status): nothing runs again. */
                if (to != e->state.current) {
                        engine_log(E, NULL, "INFO", "Execution state changed from %s to %s by a user",
                                   state_to_string(e->state.current), state_to_string(to));
                        if ((r = state_info_force(&e->state, to, E->now)) < 0)
                                return r;
                }
                return 0;
        }
        if (!tr || !state_is_terminal(tr->state.current))
                return 0;
        /* Error handlers that ran are dropped as on a restart: whether they run again depends on how
         * the execution ends now (unless the changed run is one of them). */
        if (!run_is_error_handler(E, tr)) {
                for (size_t i = e->n_task_runs; i > 0; i--)
                        if (run_is_error_handler(E, e->task_runs[i - 1]))
                                execution_remove_task_run(e, e->task_runs[i - 1]);
                index_all_runs(E);
                tr = engine_run_by_id(E, id);
        }
        json_object_del(e->engine, "afterExecution");
        json_object_del(e->engine, "held");
        if ((r = state_info_force(&tr->state, to, E->now)) < 0)
                return r;
        for (TaskRun *p = tr->parent_task_run_id ? engine_run_by_id(E, tr->parent_task_run_id) : NULL; p;
             p = p->parent_task_run_id ? engine_run_by_id(E, p->parent_task_run_id) : NULL)
                if ((r = state_info_force(&p->state, STATE_RUNNING, E->now)) < 0)
                        return r;
        engine_log(E, tr, "INFO", "Task run state changed to %s by a user", state_to_string(to));
        if ((r = state_info_force(&e->state, STATE_RESTARTED, E->now)) < 0)
                return r;
        E->progressed = true;
        engine_outputs_changed(E);
        return 0;
}

/* ---- SLA ---------------------------------------------------------------------------------------- */

/* A violated SLA adds its labels; FAIL and CANCEL also decide how the execution ends. */
static State sla_violated(Engine *E, json_t *sla) {
        const char *id = json_string_value(json_object_get(sla, "id"));
        const char *behavior = json_string_value(json_object_get(sla, "behavior"));
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(sla, "labels"), k, v) {
                _cleanup_free_ char *s = NULL;
                if (json_is_string(v))
                        s = strdup(json_string_value(v));
                else if (expr_value_to_string(v, &s) < 0)
                        continue;
                size_t i;
                json_t *l;
                bool replaced = false;
                json_array_foreach(E->e->labels, i, l)
                        if (streq_ptr(json_string_value(json_object_get(l, "key")), k)) {
                                json_object_set_new(l, "value", json_string(strempty(s)));
                                replaced = true;
                        }
                if (!replaced)
                        json_array_append_new(E->e->labels, json_pack("{s:s, s:s}", "key", k, "value", strempty(s)));
        }
        engine_log(E, NULL, "WARN", "SLA '%s' violated (behavior %s)", strna(id), behavior ? behavior : "NONE");
        if (behavior && streq(behavior, "FAIL"))
                return STATE_FAILED;
        if (behavior && streq(behavior, "CANCEL"))
                return STATE_CANCELLED;
        return _STATE_INVALID;
}

/* At the start: a timer for each MAX_DURATION SLA. */
static int sla_start(Engine *E) {
        size_t i;
        json_t *sla;
        json_array_foreach(E->flow->sla, i, sla) {
                const char *type = json_string_value(json_object_get(sla, "type"));
                const char *d = json_string_value(json_object_get(sla, "duration"));
                susec_t dur;
                if (!type || !streq(type, "MAX_DURATION") || !d || duration_parse(d, &dur) < 0 || dur < 0)
                        continue;
                json_t *ev = json_pack("{s:s, s:s, s:{s:s, s:I}, s:I}", "executionId", E->e->id, "type",
                                       ENGINE_EVENT_TIMER, "payload", "kind", "sla", "index", (json_int_t) i, "dueAt",
                                       (json_int_t) (E->now + (usec_t) dur));
                if (!ev || json_array_append_new(E->fx->events, ev) < 0)
                        return -ENOMEM;
        }
        return 0;
}

/* At the end: EXECUTION_ASSERTION SLAs; returns the state the execution ends in. */
static State sla_assertions(Engine *E, State st) {
        size_t i;
        json_t *sla;
        json_array_foreach(E->flow->sla, i, sla) {
                const char *type = json_string_value(json_object_get(sla, "type"));
                if (!type || !streq(type, "EXECUTION_ASSERTION"))
                        continue;
                _cleanup_json_ json_t *v = NULL;
                _cleanup_free_ char *err = NULL;
                if (engine_render_value(E, NULL, NULL, json_object_get(sla, "assert"), &v, &err) < 0) {
                        engine_log(E, NULL, "ERROR", "SLA '%s': cannot evaluate its assertion: %s",
                                   strna(json_string_value(json_object_get(sla, "id"))), strempty(err));
                        continue;
                }
                if (engine_truthy(v))
                        continue;
                State s = sla_violated(E, sla);
                if (s >= 0)
                        st = s;
        }
        return st;
}

/* ---- retries as new executions (behavior CREATE_NEW_EXECUTION) -------------------------------- */

/* The CREATE_NEW_EXECUTION retry of a failed execution: that of a failed task that has one, else the
 * flow's. NULL: none applies. */
static const Retry *execution_retry(Engine *E) {
        for (size_t i = 0; i < E->e->n_task_runs; i++) {
                const TaskRun *tr = E->e->task_runs[i];
                const Task *t = state_is_failed(tr->state.current) ? engine_task(E, tr->task_id) : NULL;
                if (t && t->retry && t->retry->behavior == RETRY_BEHAVIOR_CREATE_NEW_EXECUTION)
                        return t->retry;
        }
        const Retry *rt = E->flow->retry;
        return rt && rt->behavior == RETRY_BEHAVIOR_CREATE_NEW_EXECUTION ? rt : NULL;
}

static int64_t engine_int(const Execution *e, const char *key, int64_t def) {
        json_t *v = json_object_get(e->engine, key);
        return json_is_integer(v) ? json_integer_value(v) : def;
}

/* A failed execution with such a retry left becomes RETRYING until the retry's delay passes (a
 * "retryExecution" timer), then RETRIED with a new execution in its place. Returns 1 when it is
 * retried that way. The attempts and maxDuration count from the first execution of the chain. */
static int execution_retry_start(Engine *E) {
        Execution *e = E->e;
        const Retry *rt = execution_retry(E);
        if (!rt || E->killing)
                return 0;
        /* retry_next() counts a task run's attempts: this chain's executions stand in for them. */
        int64_t attempt = engine_int(e, "retryAttempt", 1);
        usec_t first = (usec_t) engine_int(e, "retryFirstDate", (int64_t) state_info_start_date(&e->state));
        TaskRun fake = { .n_attempts = (size_t) attempt };
        snprintf(fake.id, sizeof fake.id, "%s", e->id);
        TaskRunAttempt a = {};
        state_info_force(&a.state, STATE_RUNNING, first);
        fake.attempts = &a;
        usec_t delay;
        bool again = retry_next(rt, &fake, E->now, &delay);
        state_info_done(&a.state);
        if (!again)
                return 0;
        if (!e->engine && !(e->engine = json_object()))
                return -ENOMEM;
        char d[DURATION_MAX];
        engine_log(E, NULL, "WARN", "Execution failed (attempt %lld); a new execution retries it in %s", (long long) attempt,
                   duration_format(d, (susec_t) delay));
        state_info_force(&e->state, STATE_RETRYING, E->now);
        json_t *ev = json_pack("{s:s, s:s, s:{s:s}, s:I}", "executionId", e->id, "type", ENGINE_EVENT_TIMER, "payload",
                               "kind", "retryExecution", "dueAt", (json_int_t) (E->now + delay));
        if (!ev || json_array_append_new(E->fx->events, ev) < 0)
                return -ENOMEM;
        return 1;
}

/* The delay is over: this execution ends RETRIED and the next one of the chain is created. */
static int execution_retry_fire(Engine *E) {
        Execution *e = E->e;
        if (e->state.current != STATE_RETRYING)
                return 0;
        _cleanup_json_ json_t *engine = json_pack("{s:I, s:I}", "retryAttempt", (json_int_t) engine_int(e, "retryAttempt", 1) + 1,
                                                  "retryFirstDate",
                                                  (json_int_t) engine_int(e, "retryFirstDate",
                                                                          (int64_t) state_info_start_date(&e->state)));
        if (!engine)
                return -ENOMEM;
        /* A subflow's retry answers its parent in its place. */
        const char *keep[] = { "parentTaskRunId", "wait", "iteration" };
        for (size_t i = 0; i < ELEMENTSOF(keep); i++)
                if (json_object_get(e->engine, keep[i]))
                        json_object_set(engine, keep[i], json_object_get(e->engine, keep[i]));
        json_t *x = json_pack("{s:s, s:s, s:i, s:o, s:O, s:O?, s:s?, s:O}", "namespace", e->namespace, "flowId", e->flow_id,
                              "revision", e->flow_revision, "inputs", json_ref_or_object(e->inputs), "labels", e->labels,
                              "trigger", e->trigger, "parentId", e->parent_id, "engine", engine);
        if (!x || json_array_append_new(E->fx->executions, x) < 0)
                return -ENOMEM;
        state_info_force(&e->state, STATE_RETRIED, E->now);
        /* Its parent (a subflow's) hears from the execution that retries it, not from this one. */
        json_object_del(e->engine, "parentTaskRunId");
        E->fx->ended = true;
        engine_log(E, NULL, "WARN", "Flow completed with state RETRIED");
        return 0;
}

/* ---- reconcile --------------------------------------------------------------------------------- */

static int end_execution(Engine *E, State st) {
        Execution *e = E->e;

        /* An SLA that stopped the execution decides its end state. */
        const char *forced = json_string_value(json_object_get(e->engine, "slaState"));
        if (forced && state_from_string(forced) >= 0)
                st = state_from_string(forced);
        else if (E->flow->sla)
                st = sla_assertions(E, st);

        if (!state_is_failed(st) && st != STATE_CANCELLED && E->flow->n_outputs > 0) {
                _cleanup_json_ json_t *outs = json_object();
                for (size_t i = 0; i < E->flow->n_outputs && outs; i++) {
                        const FlowOutput *o = &E->flow->outputs[i];
                        _cleanup_free_ char *err = NULL;
                        json_t *v = NULL;
                        if (engine_render_value(E, NULL, NULL, o->value, &v, &err) < 0) {
                                engine_log(E, NULL, "ERROR", "Failed to render output '%s': %s", o->id, strempty(err));
                                st = STATE_FAILED;
                                continue;
                        }
                        json_object_set_new(outs, o->id, v);
                }
                json_decref(e->outputs);
                e->outputs = TAKE_PTR(outs);
        }
        state_info_force(&e->state, st, E->now);
        E->fx->ended = true;
        engine_log(E, NULL, state_is_failed(st) ? "ERROR" : st == STATE_WARNING ? "WARN" : "INFO",
                   "Flow completed with state %s", state_to_string(st));
        /* afterExecution runs now, with the end state visible to it; until it is done, whoever waits
         * for the execution to end waits on (execution_after_pending()). */
        if (E->flow->n_after_execution > 0) {
                if (!e->engine && !(e->engine = json_object()))
                        return -ENOMEM;
                if (json_object_set_new(e->engine, EXECUTION_AFTER_PENDING, json_true()) < 0)
                        return -ENOMEM;
                E->progressed = true; /* the next pass starts them */
        }

        return notify_parent(E, st);
}

/* The flow's afterExecution tasks, once the execution has ended: they do not change its state. */
static int after_execution(Engine *E) {
        Execution *e = E->e;
        if (!execution_after_pending(e))
                return 0;
        /* A kill ended the execution; what runs after it still runs. */
        E->killing = false;
        ListResult r = engine_walk_list(E, E->flow->after_execution, E->flow->n_after_execution, NULL, NULL, false, 0);
        if (r.done || E->exit >= 0) { /* an Exit there ends what runs after the execution */
                json_object_del(e->engine, EXECUTION_AFTER_PENDING);
                E->progressed = true;
        }
        return 0;
}

static int reconcile(Engine *E) {
        Execution *e = E->e;
        const Flow *f = E->flow;

        if (state_is_terminal(e->state.current))
                return after_execution(E);
        if (e->state.current == STATE_RETRYING)
                return 0; /* a new execution retries it once the delay is over */
        ListResult main = engine_walk_list(E, f->tasks, f->n_tasks, NULL, NULL, false, 0);
        if (!main.done || E->exit >= 0)
                goto running;
        State st = main.state;
        if (state_is_failed(st) && !E->killing && f->n_errors > 0) {
                ListResult er = engine_walk_list(E, f->errors, f->n_errors, NULL, NULL, false, 0);
                if (!er.done)
                        goto running;
        }
        if (f->n_finally > 0 && !E->killing) {
                ListResult fr = engine_walk_list(E, f->finally, f->n_finally, NULL, NULL, false, 0);
                if (!fr.done)
                        goto running;
                st = state_worst(st, fr.state);
        }
        if (E->killing)
                st = STATE_KILLED;
        if (state_is_failed(st)) {
                int r = execution_retry_start(E);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        return end_execution(E, st);

running:
        /* An Exit task ended the execution: the walks stopped where they were (errors and finally do
         * not run, as in Kestra, whose Exit sets the execution's state itself). */
        if (E->exit >= 0) {
                State s = E->exit;
                E->exit = _STATE_INVALID; /* what runs after the end (afterExecution) walks again */
                return end_execution(E, s);
        }
        if (E->killing)
                return 0;
        if (E->restarting)
                return 0; /* RESTARTED stays visible until the next event moves the execution on */
        if (E->holding) {
                if (e->state.current != STATE_PAUSED)
                        state_info_force(&e->state, STATE_PAUSED, E->now);
                return 0;
        }
        if (main.state == STATE_PAUSED && !main.done)
                state_info_set(&e->state, STATE_PAUSED, E->now);
        else if (e->state.current != STATE_RUNNING)
                state_info_force(&e->state, STATE_RUNNING, E->now);
        return 0;
}

int engine_execution_new(const EngineConfig *cfg, const Flow *flow, const char *id, json_t *inputs, json_t *labels,
                         json_t *trigger, usec_t now, Execution **ret) {
        _cleanup_execution_ Execution *e = NULL;
        char drawn[ID_MAX];
        int r;
        if (!id) {
                if ((r = engine_new_id(cfg, drawn)) < 0)
                        return r;
                id = drawn;
        }
        r = execution_new(id, flow->namespace, flow->id, (int) (flow->revision > 0 ? flow->revision : 1), now, &e);
        if (r < 0)
                return r;
        if (inputs) {
                json_decref(e->inputs);
                e->inputs = json_incref(inputs);
        }
        /* Flow labels first, then the execution's own (which win on the same key). */
        json_t *all = e->labels;
        const char *k;
        json_t *v;
        json_object_foreach(flow->labels, k, v) {
                _cleanup_free_ char *s = json_is_string(v) ? strdup(json_string_value(v))
                                                           : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
                json_array_append_new(all, json_pack("{s:s, s:s}", "key", k, "value", s ? s : ""));
        }
        if (json_is_object(labels))
                json_object_foreach(labels, k, v) {
                        size_t i;
                        json_t *l;
                        json_array_foreach(all, i, l)
                                if (streq(json_string_value(json_object_get(l, "key")), k)) {
                                        json_array_remove(all, i);
                                        break;
                                }
                        json_array_append_new(all, json_pack("{s:s, s:O}", "key", k, "value", v));
                }
        else if (json_is_array(labels))
                json_array_extend(all, labels);
        /* Kestra's correlation label: the id of the first execution of a chain (subflows keep their
         * parent's when they inherit labels). */
        bool has_corr = false;
        size_t li;
        json_t *lv;
        json_array_foreach(all, li, lv)
                if (streq_ptr(json_string_value(json_object_get(lv, "key")), "system.correlationId"))
                        has_corr = true;
        if (!has_corr)
                json_array_append_new(all, json_pack("{s:s, s:s}", "key", "system.correlationId", "value", e->id));
        if (trigger)
                e->trigger = json_incref(trigger);
        if (flow->variables)
                e->variables = json_incref(flow->variables);
        *ret = TAKE_PTR(e);
        return 0;
}

int engine_apply(const EngineConfig *cfg, const Flow *flow, Execution *e, const char *type, json_t *payload,
                 usec_t now, EngineEffects *fx) {
        Engine E = {
                .cfg = cfg, .flow = flow, .e = e, .now = now, .fx = fx,
                .tasks = HASHMAP_INIT, .error_tasks = HASHMAP_INIT, .after_tasks = HASHMAP_INIT, .runs = HASHMAP_INIT,
                .runs_id = HASHMAP_INIT, .exit = _STATE_INVALID,
        };
        int r = 0;

        index_tasks(&E, flow->tasks, flow->n_tasks, false, false);
        index_tasks(&E, flow->errors, flow->n_errors, true, false);
        index_tasks(&E, flow->finally, flow->n_finally, false, false);
        index_tasks(&E, flow->after_execution, flow->n_after_execution, false, true);
        for (size_t i = 0; i < e->n_task_runs; i++)
                if ((r = index_run(&E, e->task_runs[i])) < 0)
                        goto finish;
        E.killing = e->state.current == STATE_KILLING;
        E.holding = json_is_true(json_object_get(e->engine, "held")) && !state_is_terminal(e->state.current);

        if (e->state.current == STATE_QUEUED && !streq(type, ENGINE_EVENT_CREATED) && !streq(type, ENGINE_EVENT_KILL))
                goto finish; /* a queued execution waits for its slot */
        if (streq(type, ENGINE_EVENT_CREATED)) {
                if (e->state.current != STATE_CREATED && e->state.current != STATE_QUEUED)
                        goto finish; /* a stale "created" (dequeue raced a kill): nothing to start */
                /* Flow concurrency: the loop counted the flow's active executions ("running"). */
                json_t *running = json_object_get(payload, "running");
                const Concurrency *cc = &flow->concurrency;
                /* Kestra's unqueue to an end state: the execution ends without running. */
                State end = state_from_string(json_string_value(json_object_get(payload, "state")));
                if (end >= 0 && state_is_terminal(end)) {
                        state_info_force(&e->state, end, now);
                        engine_log(&E, NULL, "WARN", "Execution unqueued as %s by a user", state_to_string(end));
                        fx->ended = true;
                        goto finish;
                }
                /* force-run (and unqueue to RUNNING): no concurrency limit for this one. */
                bool force = json_is_true(json_object_get(payload, "force"));
                if (cc->limit > 0 && !force && json_is_integer(running) && json_integer_value(running) >= cc->limit) {
                        State s = cc->behavior == CONCURRENCY_CANCEL ? STATE_CANCELLED
                                  : cc->behavior == CONCURRENCY_FAIL ? STATE_FAILED
                                                                     : STATE_QUEUED;
                        state_info_set(&e->state, s, now);
                        if (s != STATE_QUEUED) {
                                engine_log(&E, NULL, s == STATE_FAILED ? "ERROR" : "WARN",
                                           "Flow concurrency limit of %lld reached", (long long) cc->limit);
                                fx->ended = true;
                        }
                        goto finish;
                }
                state_info_set(&e->state, STATE_RUNNING, now);
                engine_log(&E, NULL, "INFO", "Flow started");
                if ((r = sla_start(&E)) < 0)
                        goto finish;
        } else if (streq(type, ENGINE_EVENT_TASK_RESULT))
                r = on_task_result(&E, payload);
        else if (streq(type, ENGINE_EVENT_TIMER))
                r = on_timer(&E, payload);
        else if (streq(type, ENGINE_EVENT_RESUME))
                r = on_resume(&E, payload);
        else if (streq(type, ENGINE_EVENT_KILL))
                r = on_kill(&E, payload);
        else if (streq(type, ENGINE_EVENT_SUBFLOW_ENDED))
                r = on_subflow(&E, payload, false);
        else if (streq(type, ENGINE_EVENT_SUBFLOW_FAILED))
                r = on_subflow(&E, payload, true);
        else if (streq(type, ENGINE_EVENT_JOB_RESUBMITTED))
                r = on_job_resubmitted(&E, payload);
        else if (streq(type, ENGINE_EVENT_RESTART))
                r = on_restart(&E);
        else if (streq(type, ENGINE_EVENT_CHANGE_STATE))
                r = on_change_state(&E, payload);
        else if (streq(type, ENGINE_EVENT_PAUSE))
                r = on_pause(&E);
        if (r < 0)
                goto finish;

        /* Walk until nothing changes: a task that ends at once (skipped, engine-side) lets the
         * next one start in the same step. Bounded, as every pass must make progress. */
        for (unsigned pass = 0; pass < 64; pass++) {
                E.progressed = false;
                if ((r = reconcile(&E)) < 0 || !E.progressed)
                        break;
        }
finish:
        json_decref(E.outputs);
        hashmap_done(&E.tasks);
        hashmap_done(&E.error_tasks);
        hashmap_done(&E.after_tasks);
        hashmap_done(&E.runs);
        hashmap_done(&E.runs_id);
        return r;
}

/* driver.c: in-memory executor loop for engine tests. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "driver.h"
#include "execution-create.h"
#include "execution-files.h"
#include "job.h"
#include "storage.h"
#include "strutil.h"
#include "variables.h"

typedef struct Pending {
        char *execution_id;
        char *type;
        json_t *payload;
        usec_t due;
} Pending;

struct Driver {
        char *work_root;
        Flow **flows;
        size_t n_flows;
        Execution **execs;
        const Flow **exec_flows;
        size_t n_execs;
        Pending *queue;
        size_t n_queue;
        json_t *logs;
        json_t *jobs; /* pending worker jobs */
        json_t *cancelled; /* task run ids */
        EngineConfig cfg;
        unsigned long long last_id;
        Storage *storage; /* a local directory below work_root: the files tasks keep and read */
};

/* The engine's id source: ids count up from 1, zero-padded to an id's length, so that a run shows
 * the same ids every time. */
static int driver_new_id(void *userdata, char ret[static ID_MAX]) {
        Driver *d = userdata;
        snprintf(ret, ID_MAX, "%0*llu", ID_LEN, ++d->last_id);
        return 0;
}

static int driver_file_function(void *userdata, json_t *variables, const char *name, json_t *args, json_t **ret,
                                char **ret_message) {
        Driver *d = userdata;
        return api_file_function(d->storage, variables, name, args, ret, ret_message);
}

int driver_new(const char *work_root, Driver **ret) {
        Driver *d = calloc(1, sizeof *d);
        int r;
        if (!d || !(d->work_root = strdup(work_root)) || !(d->logs = json_array()) || !(d->jobs = json_array()) ||
            !(d->cancelled = json_array())) {
                driver_free(d);
                return -ENOMEM;
        }
        if ((r = runtime_engine_config(&d->cfg, NULL)) < 0) {
                driver_free(d);
                return r;
        }
        d->cfg.new_id = driver_new_id;
        d->cfg.id_userdata = d;
        d->cfg.function = driver_file_function;
        d->cfg.function_userdata = d;
        _cleanup_free_ char *url = strjoin("file://", work_root, "/storage"), *err = NULL;
        if (!url)
                r = -ENOMEM;
        else if ((r = storage_open(url, NULL, &d->storage, &err)) < 0)
                fprintf(stderr, "driver: storage '%s': %s\n", url, err ?: strerror(-r));
        if (r < 0) {
                driver_free(d);
                return r;
        }
        *ret = d;
        return 0;
}

Driver *driver_free(Driver *d) {
        if (!d)
                return NULL;
        for (size_t i = 0; i < d->n_flows; i++)
                flow_free(d->flows[i]);
        for (size_t i = 0; i < d->n_execs; i++)
                execution_free(d->execs[i]);
        for (size_t i = 0; i < d->n_queue; i++) {
                free(d->queue[i].execution_id);
                free(d->queue[i].type);
                json_decref(d->queue[i].payload);
        }
        free(d->queue);
        free(d->flows);
        free(d->execs);
        free(d->exec_flows);
        json_decref(d->logs);
        json_decref(d->jobs);
        json_decref(d->cancelled);
        runtime_engine_config_done(&d->cfg);
        storage_free(d->storage);
        free(d->work_root);
        free(d);
        return NULL;
}

int driver_add_flow(Driver *d, Flow *f) {
        Flow **n = realloc(d->flows, sizeof(Flow *) * (d->n_flows + 1));
        if (!n)
                return -ENOMEM;
        d->flows = n;
        d->flows[d->n_flows++] = f;
        return 0;
}

static int queue_push(Driver *d, const char *exec, const char *type, json_t *payload, usec_t due) {
        Pending *n = realloc(d->queue, sizeof(Pending) * (d->n_queue + 1));
        if (!n)
                return -ENOMEM;
        d->queue = n;
        d->queue[d->n_queue++] = (Pending) { strdup(exec), strdup(type), payload ? json_incref(payload) : json_object(), due };
        return 0;
}

static int add_execution(Driver *d, Execution *e, const Flow *f) {
        Execution **n = realloc(d->execs, sizeof(Execution *) * (d->n_execs + 1));
        const Flow **nf = realloc(d->exec_flows, sizeof(Flow *) * (d->n_execs + 1));
        if (n)
                d->execs = n;
        if (nf)
                d->exec_flows = nf;
        if (!n || !nf)
                return -ENOMEM;
        d->execs[d->n_execs] = e;
        d->exec_flows[d->n_execs++] = f;
        return 0;
}

Execution *driver_execution(Driver *d, const char *id) {
        for (size_t i = 0; i < d->n_execs; i++)
                if (streq(d->execs[i]->id, id))
                        return d->execs[i];
        return NULL;
}

static const Flow *execution_flow(Driver *d, const char *id) {
        for (size_t i = 0; i < d->n_execs; i++)
                if (streq(d->execs[i]->id, id))
                        return d->exec_flows[i];
        return NULL;
}

int driver_start(Driver *d, const Flow *f, json_t *inputs, json_t *labels, Execution **ret) {
        Execution *e;
        /* As given: the engine tests pass the inputs an execution starts with. */
        ApiExecutionNew n = { .inputs = inputs, .inputs_mode = API_INPUTS_RAW, .labels = labels, .even_disabled = true,
                              .engine_cfg = &d->cfg };
        int r = api_execution_build(f, &n, now_realtime(), &e, NULL);
        if (r < 0)
                return r;
        if ((r = add_execution(d, e, f)) < 0) {
                execution_free(e);
                return r;
        }
        if (ret)
                *ret = e;
        return queue_push(d, e->id, ENGINE_EVENT_CREATED, NULL, 0);
}

int driver_send(Driver *d, const char *execution_id, const char *type, json_t *payload) {
        return queue_push(d, execution_id, type, payload, 0);
}

json_t *driver_logs(Driver *d) {
        return d->logs;
}

static void job_log(void *userdata, json_t *job, TaskLogLevel level, const char *message) {
        Driver *d = userdata;
        json_array_append_new(d->logs, json_pack("{s:O, s:O, s:O, s:s, s:s}", "executionId",
                                                 json_object_get(job, "executionId"), "taskRunId",
                                                 json_object_get(job, "taskRunId"), "taskId",
                                                 json_object_get(job, "taskId"), "level",
                                                 task_log_level_to_string(level), "message", message));
}

static int create_subflow(Driver *d, json_t *req) {
        const char *ns = json_string_value(json_object_get(req, "namespace"));
        const char *id = json_string_value(json_object_get(req, "flowId"));
        const char *parent = json_string_value(json_object_get(req, "parentExecutionId"));
        const Flow *f = NULL;
        for (size_t i = 0; i < d->n_flows; i++)
                if (streq(d->flows[i]->namespace, ns) && streq(d->flows[i]->id, id))
                        f = d->flows[i];
        if (!f) {
                _cleanup_free_ char *msg = strdup_printf("Subflow '%s.%s' not found", ns, id);
                json_t *p = json_pack("{s:O, s:s}", "taskRunId", json_object_get(req, "parentTaskRunId"), "error", msg);
                int r = queue_push(d, parent, ENGINE_EVENT_SUBFLOW_FAILED, p, 0);
                json_decref(p);
                return r;
        }
        _cleanup_free_ char *err = NULL;
        _cleanup_json_ json_t *engine = json_pack("{s:O, s:O}", "parentTaskRunId", json_object_get(req, "parentTaskRunId"),
                                                  "wait", json_object_get(req, "wait"));
        if (!engine)
                return -ENOMEM;
        if (json_is_integer(json_object_get(req, "iteration")))
                json_object_set(engine, "iteration", json_object_get(req, "iteration"));
        ApiExecutionNew n = {
                .id = json_string_value(json_object_get(req, "executionId")),
                .inputs = json_object_get(req, "inputs"),
                .labels = json_object_get(req, "labels"),
                .parent_id = parent,
                .engine = engine,
                .even_disabled = true,
        };
        Execution *e;
        int r = api_execution_build(f, &n, now_realtime(), &e, &err);
        if (r == -EINVAL || r == -E2BIG) {
                json_t *p = json_pack("{s:O, s:s}", "taskRunId", json_object_get(req, "parentTaskRunId"), "error",
                                      err ? err : "invalid inputs");
                r = queue_push(d, parent, ENGINE_EVENT_SUBFLOW_FAILED, p, 0);
                json_decref(p);
                return r;
        }
        if (r < 0)
                return r;
        if ((r = add_execution(d, e, f)) < 0) {
                execution_free(e);
                return r;
        }
        return queue_push(d, e->id, ENGINE_EVENT_CREATED, NULL, 0);
}

static int run_jobs(Driver *d) {
        while (json_array_size(d->jobs) > 0) {
                _cleanup_json_ json_t *job = json_incref(json_array_get(d->jobs, 0));
                json_array_remove(d->jobs, 0);
                const char *tr = json_string_value(json_object_get(job, "taskRunId"));
                const char *exec = json_string_value(json_object_get(job, "executionId"));
                _cleanup_json_ json_t *result = NULL;
                bool cancelled = false;
                size_t i;
                json_t *c;
                json_array_foreach(d->cancelled, i, c)
                        if (streq(json_string_value(c), tr))
                                cancelled = true;
                if (cancelled)
                        result = json_pack("{s:s}", "state", "KILLED");
                else {
                        static char *const base_env[] = { (char *) "PATH=/usr/bin:/bin", NULL };
                        WorkerJobEnv env = { .work_root = d->work_root, .base_env = base_env, .worker_id = "driver",
                                             .cancel_fd = -1, .log = job_log, .storage = d->storage,
                                             .secret = runtime_secret, .userdata = d };
                        int r = worker_job_run(&env, job, &result);
                        if (r < 0)
                                return r;
                }
                json_t *p = json_pack("{s:s, s:s, s:O}", "taskRunId", tr, "workerId", "driver", "result", result);
                int r = queue_push(d, exec, ENGINE_EVENT_TASK_RESULT, p, 0);
                json_decref(p);
                if (r < 0)
                        return r;
        }
        return 0;
}

int driver_run(Driver *d, usec_t max_wait) {
        int applied = 0, r;

        for (;;) {
                if ((r = run_jobs(d)) < 0)
                        return r;
                if (d->n_queue == 0)
                        return applied;
                /* The first due event in queue order, else the earliest timer. */
                usec_t now = now_realtime();
                size_t pick = SIZE_MAX, earliest = 0;
                for (size_t i = 0; i < d->n_queue; i++) {
                        if (d->queue[i].due <= now) {
                                pick = i;
                                break;
                        }
                        if (d->queue[i].due < d->queue[earliest].due)
                                earliest = i;
                }
                if (pick == SIZE_MAX) {
                        if (d->queue[earliest].due - now > max_wait)
                                return applied;
                        usleep((useconds_t) (d->queue[earliest].due - now));
                        continue;
                }
                Pending p = d->queue[pick];
                memmove(d->queue + pick, d->queue + pick + 1, sizeof(Pending) * (d->n_queue - pick - 1));
                d->n_queue--;

                Execution *e = driver_execution(d, p.execution_id);
                const Flow *f = execution_flow(d, p.execution_id);
                EngineEffects fx;
                r = engine_effects_init(&fx);
                if (r >= 0 && e && f) {
                        r = engine_apply(&d->cfg, f, e, p.type, p.payload, now_realtime(), &fx);
                        applied++;
                }
                if (r >= 0) {
                        size_t i;
                        json_t *x;
                        json_array_extend(d->jobs, fx.jobs);
                        json_array_extend(d->cancelled, fx.cancels);
                        json_array_foreach(fx.events, i, x)
                                queue_push(d, json_string_value(json_object_get(x, "executionId")),
                                           json_string_value(json_object_get(x, "type")), json_object_get(x, "payload"),
                                           (usec_t) json_integer_value(json_object_get(x, "dueAt")));
                        json_array_foreach(fx.subflows, i, x)
                                if ((r = create_subflow(d, x)) < 0)
                                        break;
                        json_array_foreach(fx.logs, i, x) {
                                json_object_set_new(x, "executionId", json_string(p.execution_id));
                                json_array_append(d->logs, x);
                        }
                }
                engine_effects_done(&fx);
                free(p.execution_id);
                free(p.type);
                json_decref(p.payload);
                if (r < 0)
                        return r;
        }
}

Flow *driver_load_yaml(const char *yaml) {
        Flow *f = NULL;
        FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        if (flow_load_string(yaml, strlen(yaml), "test.yaml", &f, &diags) != 0) {
                flow_diagnostics_print(&diags, stdout);
                f = NULL;
        }
        flow_diagnostics_done(&diags);
        return f;
}

Execution *driver_run_yaml(const char *work_root, Driver **d, const char *yaml) {
        Flow *f = driver_load_yaml(yaml);
        Execution *e = NULL;
        _cleanup_json_ json_t *inputs = NULL;
        _cleanup_free_ char *err = NULL;
        *d = NULL;
        if (!f || driver_new(work_root, d) < 0 || driver_add_flow(*d, f) < 0 ||
            flow_inputs_resolve(f, NULL, &inputs, &err) < 0 || driver_start(*d, f, inputs, NULL, &e) < 0 ||
            driver_run(*d, 5 * USEC_PER_SEC) < 0)
                return NULL;
        return e;
}

const TaskRun *driver_run_of(const Execution *e, const char *task_id) {
        for (size_t i = 0; e && i < e->n_task_runs; i++)
                if (streq(e->task_runs[i]->task_id, task_id))
                        return e->task_runs[i];
        return NULL;
}

const char *driver_state_of(const Execution *e, const char *task_id) {
        const TaskRun *tr = driver_run_of(e, task_id);
        return tr ? state_to_string(tr->state.current) : "(none)";
}

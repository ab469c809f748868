/* execution-create.c: the one way an execution is created (see execution-create.h). */
#include <errno.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "engine-replay.h"
#include "engine.h"
#include "execution-store.h"
#include "execution-create.h"
#include "expr.h"
#include "id.h"
#include "strbuf.h"
#include "strutil.h"

/* Kestra's checks: each `when` must render to the boolean true with the flow and the execution's
 * inputs; one that does not (or cannot be rendered: a broken gate lets nothing through) has
 * failed. The most restrictive behavior of the failed checks applies; *ret_messages gets their
 * messages, ", " separated (NULL when none failed). */
static int checks_evaluate(const Flow *f, const ApiExecutionNew *n, json_t *inputs, FlowCheckBehavior *ret,
                           char **ret_messages) {
        const EngineConfig *cfg = n->engine_cfg;
        _cleanup_json_ json_t *vars = json_pack("{s:{s:s, s:s, s:I}, s:O, s:O, s:O, s:O}", "flow", "id", f->id,
                                                "namespace", f->namespace, "revision", (json_int_t) f->revision,
                                                "inputs", inputs, "vars", f->variables ? f->variables : json_null(),
                                                "envs", cfg && cfg->envs ? cfg->envs : json_null(), "globals",
                                                cfg && cfg->globals ? cfg->globals : json_null());
        _cleanup_strbuf_ StrBuf failed = STRBUF_INIT;
        FlowCheckBehavior worst = FLOW_CHECK_CREATE_EXECUTION;
        bool any = false;
        size_t i;
        json_t *c;

        if (!vars)
                return -ENOMEM;
        json_array_foreach(f->checks, i, c) {
                json_t *when = json_object_get(c, "when") ?: json_object_get(c, "condition");
                _cleanup_json_ json_t *v = NULL;
                ExprError err = {};
                ExprContext ctx = { .variables = vars, .secret = cfg ? cfg->secret : NULL,
                                    .userdata = cfg ? cfg->userdata : NULL };
                FlowCheckBehavior b = flow_check_behavior(c);
                int r = 0;
                if (json_is_string(when))
                        r = expr_render_value(json_string_value(when), &ctx, &v, &err);
                else
                        v = json_incref(when);
                expr_error_done(&err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        b = FLOW_CHECK_BLOCK_EXECUTION;
                else if (json_is_true(v))
                        continue;
                if (any)
                        strbuf_append(&failed, ", ");
                strbuf_append(&failed, strempty(json_string_value(json_object_get(c, "message"))));
                worst = MIN(worst, b);
                any = true;
        }
        if (failed.error)
                return failed.error;
        *ret = worst;
        *ret_messages = any ? strbuf_steal(&failed) : NULL;
        return 0;
}

static int inputs_make(const Flow *f, const ApiExecutionNew *n, json_t **ret, char **ret_error) {
        _cleanup_free_ char *err = NULL;
        int r;
        if (n->inputs_mode == API_INPUTS_RAW) {
                _cleanup_json_ json_t *o = json_object();
                if (!o)
                        return -ENOMEM;
                for (size_t i = 0; i < f->n_inputs; i++)
                        if (f->inputs[i].defaults && json_object_set(o, f->inputs[i].id, f->inputs[i].defaults) < 0)
                                return -ENOMEM;
                if (json_is_object(n->inputs) && json_object_update(o, n->inputs) < 0)
                        return -ENOMEM;
                *ret = TAKE_PTR(o);
                return 0;
        }
        r = flow_inputs_resolve(f, n->inputs, ret, &err);
        if (r == -EINVAL && n->inputs_mode == API_INPUTS_LENIENT) {
                *ret = json_is_object(n->inputs) ? json_deep_copy(n->inputs) : json_object();
                return *ret ? 0 : -ENOMEM;
        }
        if (r < 0 && ret_error)
                *ret_error = TAKE_PTR(err);
        return r;
}

int api_execution_build(const Flow *f, const ApiExecutionNew *n, usec_t now, Execution **ret, char **ret_error) {
        _cleanup_execution_ Execution *e = NULL;
        _cleanup_json_ json_t *inputs = NULL;
        int r;

        if (ret_error)
                *ret_error = NULL;
        if (f->disabled && !n->even_disabled)
                return -EPERM;
        if (n->id && strlen(n->id) >= ID_MAX)
                return -EINVAL;
        if ((r = inputs_make(f, n, &inputs, ret_error)) < 0)
                return r;
        /* A subflow's parent decided already: checks guard the executions that start a chain. */
        FlowCheckBehavior checked = FLOW_CHECK_CREATE_EXECUTION;
        _cleanup_free_ char *failed = NULL;
        if (f->checks && !n->parent_id && (r = checks_evaluate(f, n, inputs, &checked, &failed)) < 0)
                return r;
        if (failed && checked == FLOW_CHECK_BLOCK_EXECUTION) {
                if (ret_error)
                        *ret_error = strjoin("Flow execution blocked: one or more condition checks evaluated to false.\n"
                                             "Failed checks: ",
                                             failed);
                return -EINVAL;
        }
        if ((r = engine_execution_new(n->engine_cfg, f, n->id, inputs, n->labels, n->trigger, now, &e)) < 0)
                return r;
        if (failed && checked == FLOW_CHECK_FAIL_EXECUTION) {
                /* Created FAILED: the executor starts nothing of it (api_execution_store logs why). */
                if ((r = state_info_force(&e->state, STATE_FAILED, now)) < 0)
                        return r;
                if (!(e->engine = json_pack("{s:s}", "failedChecks", failed)))
                        return -ENOMEM;
        }
        if (n->parent_id && !(e->parent_id = strdup(n->parent_id)))
                return -ENOMEM;
        if (n->engine && !e->engine)
                e->engine = json_incref(n->engine);
        else if (n->engine && json_object_update(e->engine, n->engine) < 0)
                return -ENOMEM;
        if ((r = execution_check_values(e, ret_error)) < 0)
                return r;
        *ret = TAKE_PTR(e);
        return 0;
}

int api_execution_store(StoreTx *tx, const Execution *e, usec_t now, json_t **ret_doc) {
        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
        _cleanup_json_ json_t *doc = execution_to_json(e);
        if (!doc || execution_store_meta(e, now, &m) < 0)
                return -ENOMEM;
        int r = store_execution_create(tx, &m, doc, ENGINE_EVENT_CREATED, NULL, now);
        if (r < 0)
                return r;
        const char *failed = json_string_value(json_object_get(e->engine, "failedChecks"));
        if (failed) {
                _cleanup_free_ char *m1 = strjoin("Flow execution failed because one or more condition checks "
                                                  "evaluated to false. Failed checks: ", failed);
                StoreLog l = { .execution_id = e->id, .level = STORE_LOG_WARN, .timestamp = now, .message = m1 };
                if (!m1)
                        return -ENOMEM;
                if ((r = store_log_append_tx(tx, &l, 1)) < 0)
                        return r;
        }
        if (ret_doc)
                *ret_doc = TAKE_PTR(doc);
        return 0;
}

int api_execution_create(StoreTx *tx, const Flow *f, const ApiExecutionNew *n, usec_t now, json_t **ret_doc,
                         char **ret_error) {
        _cleanup_execution_ Execution *e = NULL;
        int r = api_execution_build(f, n, now, &e, ret_error);
        if (r < 0)
                return r;
        return api_execution_store(tx, e, now, ret_doc);
}

typedef struct Submit {
        const Execution *e;
        usec_t now;
        unsigned attempts;
        json_t *doc;
} Submit;

static int submit_tx(StoreTx *tx, void *userdata) {
        Submit *sub = userdata;
        bool rerun = sub->attempts++ > 0;
        json_decref(sub->doc);
        sub->doc = NULL;
        int r = api_execution_store(tx, sub->e, sub->now, &sub->doc);
        /* Its id was drawn for this submission: on a rerun, stored already means stored by an
         * earlier attempt whose COMMIT went through while its answer was lost. */
        if (r == -EEXIST && rerun)
                return store_execution_get(tx, sub->e->id, &sub->doc);
        return r;
}

int api_execution_submit(Store *s, const Flow *f, const ApiExecutionNew *n, usec_t now, json_t **ret_doc,
                         char **ret_error) {
        _cleanup_execution_ Execution *e = NULL;
        int r = api_execution_build(f, n, now, &e, ret_error);
        if (r < 0)
                return r;
        Submit sub = { .e = e, .now = now };
        r = store_transact(s, submit_tx, &sub);
        if (r >= 0 && ret_doc)
                *ret_doc = TAKE_PTR(sub.doc);
        json_decref(sub.doc);
        return r < 0 ? r : 0;
}

typedef struct Replay {
        const char *id, *task_run_id;
        usec_t now;
        Execution *e; /* built by the first attempt that got so far, stored by every one after it */
        Submit sub;
} Replay;

static int replay_tx(StoreTx *tx, void *userdata) {
        Replay *rp = userdata;
        int r;
        if (!rp->e) {
                _cleanup_json_ json_t *old_doc = NULL;
                _cleanup_execution_ Execution *old = NULL;
                if ((r = store_execution_get(tx, rp->id, &old_doc)) < 0 || (r = execution_from_json(old_doc, &old)) < 0)
                        return r;
                if (!state_is_terminal(old->state.current))
                        return -EBUSY;
                if ((r = engine_replay(NULL, old, rp->task_run_id, rp->now, &rp->e)) < 0)
                        return r == -ENOENT ? -ESRCH : r;
                rp->sub = (Submit) { .e = rp->e, .now = rp->now };
        }
        /* Its new id is drawn once: a rerun stores the same execution, or finds it stored. */
        return submit_tx(tx, &rp->sub);
}

int api_execution_replay(Store *s, const char *id, const char *task_run_id, json_t **ret_doc) {
        Replay rp = { .id = id, .task_run_id = task_run_id, .now = now_realtime() };
        int r = store_transact(s, replay_tx, &rp);
        execution_free(rp.e);
        if (r < 0) {
                json_decref(rp.sub.doc);
                return r;
        }
        *ret_doc = rp.sub.doc;
        return 0;
}

typedef struct SetLabels {
        const char *id;
        json_t *labels;
        usec_t now;
        json_t *doc;
} SetLabels;

/* Rerun safely (store_transact()): the labels are set from the list, not added to the stored ones. */
static int set_labels_tx(StoreTx *tx, void *userdata) {
        SetLabels *sl = userdata;
        _cleanup_json_ json_t *old_doc = NULL, *keep = json_array();
        _cleanup_execution_ Execution *e = NULL;
        _cleanup_(execution_store_meta_done) StoreExecutionMeta m = {};
        size_t i;
        json_t *l;
        int r;

        if (!keep)
                return -ENOMEM;
        json_array_foreach(sl->labels, i, l)
                if (json_array_append(keep, l) < 0)
                        return -ENOMEM;
        if ((r = store_execution_get(tx, sl->id, &old_doc)) < 0 || (r = execution_from_json(old_doc, &e)) < 0)
                return r;
        if (!state_is_terminal(e->state.current))
                return -EBUSY;
        /* tern's own labels stay as they are, whatever the list says. */
        json_array_foreach(e->labels, i, l)
                if (startswith(json_string_value(json_object_get(l, "key")) ?: "", API_SYSTEM_LABEL_PREFIX) &&
                    json_array_append(keep, l) < 0)
                        return -ENOMEM;
        json_decref(e->labels);
        e->labels = TAKE_PTR(keep);
        _cleanup_json_ json_t *doc = execution_to_json(e);
        if (!doc || execution_store_meta(e, sl->now, &m) < 0)
                return -ENOMEM;
        if ((r = store_execution_save(tx, &m, doc, sl->now)) < 0)
                return r;
        json_decref(sl->doc);
        sl->doc = TAKE_PTR(doc);
        return 0;
}

int api_execution_set_labels(Store *s, const char *id, json_t *labels, json_t **ret_doc) {
        SetLabels sl = { .id = id, .labels = labels, .now = now_realtime() };
        int r = store_transact(s, set_labels_tx, &sl);
        if (r < 0) {
                json_decref(sl.doc);
                return r;
        }
        *ret_doc = sl.doc;
        return 0;
}

/* execution-create.c: the one way an execution is created (see execution-create.h). */
#include <errno.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "engine-replay.h"
#include "engine.h"
#include "execution-store.h"
#include "execution-create.h"
#include "id.h"

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
        if ((r = engine_execution_new(n->engine_cfg, f, n->id, inputs, n->labels, n->trigger, now, &e)) < 0)
                return r;
        if (n->parent_id && !(e->parent_id = strdup(n->parent_id)))
                return -ENOMEM;
        if (n->engine)
                e->engine = json_incref(n->engine);
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

int api_execution_replay(Store *s, const char *id, const char *task_run_id, json_t **ret_doc) {
        _cleanup_json_ json_t *old_doc = NULL, *doc = NULL;
        _cleanup_execution_ Execution *old = NULL, *e = NULL;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        usec_t now = now_realtime();
        int r;

        if ((r = store_begin(s, &tx)) < 0)
                return r;
        if ((r = store_execution_get(tx, id, &old_doc)) < 0 || (r = execution_from_json(old_doc, &old)) < 0)
                return r;
        if (!state_is_terminal(old->state.current))
                return -EBUSY;
        if ((r = engine_replay(NULL, old, task_run_id, now, &e)) < 0)
                return r == -ENOENT ? -ESRCH : r;
        if ((r = api_execution_store(tx, e, now, &doc)) < 0)
                return r;
        r = store_commit(TAKE_PTR(tx));
        if (r < 0)
                return r;
        *ret_doc = TAKE_PTR(doc);
        return 0;
}

/* api.c: flow and execution operations shared by the tern command and the webserver (see api.h). */
#include <errno.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "engine.h"
#include "execution.h"
#include "strutil.h"

json_t *api_flow_json(const StoreFlow *f, bool with_source) {
        char ts[TIMESTAMP_MAX];
        json_t *j = json_pack("{s:s, s:s, s:i, s:b, s:s}", "namespace", f->namespace, "id", f->id, "revision",
                              f->revision, "deleted", f->deleted, "updated", timestamp_format(ts, f->created));
        if (j && with_source && json_object_set_new(j, "source", json_string(f->source)) < 0) {
                json_decref(j);
                return NULL;
        }
        return j;
}

int api_execution_get(Store *s, const char *id, json_t **ret) {
        StoreTx *tx;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        r = store_execution_get(tx, id, ret);
        store_rollback(tx);
        return r;
}

void api_execution_strip(json_t *doc) {
        size_t i;
        json_t *tr;
        json_object_del(doc, "ternEngine");
        json_array_foreach(json_object_get(doc, "taskRunList"), i, tr)
                json_object_del(tr, "ternEngine");
}

State api_execution_state(json_t *doc) {
        return state_from_string(json_string_value(json_object_get(json_object_get(doc, "state"), "current")));
}

int api_execution_event(Store *s, const char *id, const char *type, json_t *payload) {
        StoreTx *tx;
        _cleanup_json_ json_t *empty = json_object();
        usec_t now = now_realtime();
        if (!empty)
                return -ENOMEM;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        if ((r = store_event_emit(tx, id, type, payload ? payload : empty, now, now, NULL)) < 0) {
                store_rollback(tx);
                return r;
        }
        return store_commit(tx);
}

json_t *api_execution_logs_json(Store *s, const char *id, StoreLogLevel min_level) {
        json_t *arr = json_array();
        int64_t cursor = 0;
        while (arr) {
                StoreLog *logs = NULL;
                size_t n = 0;
                StoreLogFilter f = { .execution_id = id, .min_level = min_level, .after_seq = cursor, .limit = 1000 };
                if (store_log_search(s, &f, &logs, &n) < 0) {
                        json_decref(arr);
                        return NULL;
                }
                if (n == 0)
                        break;
                for (size_t i = 0; i < n; i++) {
                        char ts[TIMESTAMP_MAX];
                        json_array_append_new(arr, json_pack("{s:s, s:s?, s:s?, s:i, s:s, s:s, s:s}", "executionId", id,
                                                             "taskRunId", logs[i].task_run_id, "taskId",
                                                             logs[i].task_id, "attemptNumber", logs[i].attempt,
                                                             "level", store_log_level_to_string(logs[i].level),
                                                             "timestamp", timestamp_format(ts, logs[i].timestamp),
                                                             "message", logs[i].message));
                        cursor = logs[i].seq;
                }
                store_logs_free(logs, n);
        }
        return arr;
}

int api_execution_create(StoreTx *tx, const Flow *f, json_t *inputs, json_t *labels, json_t *trigger, usec_t now,
                         json_t **ret_doc, char **ret_error) {
        _cleanup_json_ json_t *resolved = NULL, *doc = NULL;
        _cleanup_execution_ Execution *e = NULL;
        int r = flow_inputs_resolve(f, inputs, &resolved, ret_error);
        if (r < 0)
                return r;
        if ((r = engine_execution_new(f, resolved, labels, trigger, now, &e)) < 0)
                return r;
        if (!(doc = execution_to_json(e)))
                return -ENOMEM;
        if ((r = store_execution_create(tx, doc, ENGINE_EVENT_CREATED, NULL, now)) < 0)
                return r;
        *ret_doc = TAKE_PTR(doc);
        return 0;
}

/* api.c: flow and execution operations shared by the tern command and the webserver (see api.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "engine.h"
#include "execution.h"
#include "json-limits.h"
#include "strbuf.h"
#include "strutil.h"

/* The flow's inputs in Kestra's shape (what a form to start an execution is made from). */
static json_t *flow_inputs_json(const char *source) {
        _cleanup_flow_ Flow *flow = NULL;
        if (!source || flow_load_string(source, strlen(source), "flow.yaml", &flow, NULL) != 0)
                return NULL;
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < flow->n_inputs; i++) {
                const FlowInput *in = &flow->inputs[i];
                json_t *o = json_pack("{s:s, s:s, s:b, s:O?, s:s?, s:s?, s:O?}", "id", in->id, "type",
                                      in->type_name ?: flow_input_type_to_string(in->type), "required", in->required,
                                      "defaults", in->defaults, "description", in->description, "displayName",
                                      in->display_name, "values", in->values);
                if (!o || json_array_append_new(arr, o) < 0)
                        return json_decref(arr), NULL;
        }
        return arr;
}

/* The value after "disabled:" when the line [p, e) is the flow's own (at column 0), else NULL. */
static const char *disabled_line(const char *p, const char *e) {
        if ((size_t) (e - p) < 9 || strncmp(p, "disabled:", 9) != 0)
                return NULL;
        const char *rest = p + 9; /* "disabled: x" and "disabled:" alone, not "disabledX:" */
        return rest == e || *rest == ' ' || *rest == '\t' || *rest == '\r' ? rest : NULL;
}

bool api_flow_source_disabled(const char *src) {
        for (const char *p = src; p && *p;) {
                const char *e = strchrnul(p, '\n'), *v = disabled_line(p, e);
                if (v) {
                        v += strspn(v, " \t");
                        size_t n = strcspn(v, " \t\r\n#");
                        return n == 4 && strncasecmp(v, "true", 4) == 0;
                }
                p = *e ? e + 1 : e;
        }
        return false;
}

/* src with its top-level "disabled:" line set to value (added at the end when there is none and
 * value is true). Only a line at column 0 is the flow's own: an indented one is a task's or a
 * trigger's. NULL when out of memory. */
char *api_flow_source_set_disabled(const char *src, bool value) {
        StrBuf sb = STRBUF_INIT;
        bool found = false;
        for (const char *p = src; *p;) {
                const char *e = strchrnul(p, '\n');
                size_t n = (size_t) (e - p);
                if (!found && disabled_line(p, e)) {
                        strbuf_appendf(&sb, "disabled: %s", value ? "true" : "false");
                        found = true;
                } else
                        strbuf_append_n(&sb, p, n);
                if (*e)
                        strbuf_append(&sb, "\n");
                p = *e ? e + 1 : e;
        }
        if (!found && value) {
                if (sb.len > 0 && sb.buf[sb.len - 1] != '\n')
                        strbuf_append(&sb, "\n");
                strbuf_append(&sb, "disabled: true\n");
        }
        return strbuf_steal(&sb);
}

json_t *api_flow_json(const StoreFlow *f, bool with_source) {
        char ts[TIMESTAMP_MAX];
        json_t *j = json_pack("{s:s, s:s, s:i, s:b, s:b, s:s}", "namespace", f->namespace, "id", f->id, "revision",
                              f->revision, "deleted", f->deleted, "disabled", api_flow_source_disabled(f->source),
                              "updated", timestamp_format(ts, f->created));
        if (j && with_source && json_object_set_new(j, "source", json_string(f->source)) < 0) {
                json_decref(j);
                return NULL;
        }
        json_t *inputs = j && with_source ? flow_inputs_json(f->source) : NULL;
        if (inputs && json_object_set_new(j, "inputs", inputs) < 0) {
                json_decref(j);
                return NULL;
        }
        return j;
}

typedef struct FlowDelete {
        const char *ns, *id;
        usec_t now;
        unsigned attempts;
} FlowDelete;

static int flow_delete_tx(StoreTx *tx, void *userdata) {
        FlowDelete *d = userdata;
        bool rerun = d->attempts++ > 0;
        int r = store_flow_delete(tx, d->ns, d->id, d->now);
        return r == -ENOENT && rerun ? 0 : r;
}

int api_flow_delete(Store *s, const char *ns, const char *id) {
        FlowDelete d = { .ns = ns, .id = id, .now = now_realtime() };
        int r = store_transact(s, flow_delete_tx, &d);
        return r < 0 ? r : 0;
}

int api_execution_get(Store *s, const char *id, json_t **ret) {
        _cleanup_store_tx_ StoreTx *tx = NULL;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        return store_execution_get(tx, id, ret);
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

typedef struct ExecutionEvent {
        const char *id, *type;
        json_t *payload;
        usec_t now;
} ExecutionEvent;

static int execution_event_tx(StoreTx *tx, void *userdata) {
        ExecutionEvent *ev = userdata;
        return store_event_emit(tx, ev->id, ev->type, ev->payload, ev->now, ev->now, NULL);
}

int api_execution_event(Store *s, const char *id, const char *type, json_t *payload) {
        _cleanup_json_ json_t *empty = json_object();
        if (!empty)
                return -ENOMEM;
        /* Resume inputs become task outputs: bounded like every value that enters an execution. */
        int r = json_value_check(payload, "the inputs", NULL);
        if (r < 0)
                return r;
        ExecutionEvent ev = { .id = id, .type = type, .payload = payload ? payload : empty, .now = now_realtime() };
        r = store_transact(s, execution_event_tx, &ev);
        return r < 0 ? r : 0;
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

/* flow-parse.c: the flow's top level (id, namespace, labels, triggers, ...) and the checks every part shares. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "flow-internal.h"
#include "hashmap.h"
#include "strutil.h"
#include "timeutil.h"

static void fp_verror_at(FlowParser *p, FlowPos pos, const char *fmt, va_list ap) _printf_(3, 0);
static void fp_verror_at(FlowParser *p, FlowPos pos, const char *fmt, va_list ap) {
        _cleanup_free_ char *msg = NULL;

        p->invalid = true;
        p->n_errors++;
        if (vasprintf(&msg, fmt, ap) < 0) {
                fp_oom(p);
                return;
        }
        if (flow_diagnostics_add(p->diags, p->file, pos.line, pos.column, "%s", msg) < 0)
                fp_oom(p);
}

void fp_error_at(FlowParser *p, FlowPos pos, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fp_verror_at(p, pos, fmt, ap);
        va_end(ap);
}

void fp_error(FlowParser *p, const YamlNode *at, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        fp_verror_at(p, flow_pos(at), fmt, ap);
        va_end(ap);
}

void fp_oom(FlowParser *p) {
        p->invalid = true;
        if (p->error == 0)
                p->error = -ENOMEM;
}

char *fp_strdup_scalar(FlowParser *p, const YamlNode *n, const char *what) {
        if (!yaml_node_is_scalar(n)) {
                fp_error(p, n, "%s must be a string, not %s", what, yaml_node_describe(n));
                return NULL;
        }
        char *s = strdup(n->value);
        if (!s)
                fp_oom(p);
        return s;
}

bool fp_is_expression(const YamlNode *n) {
        return yaml_node_is_scalar(n) && (strstr(n->value, "{{") || strstr(n->value, "{%"));
}

void fp_unknown_key(FlowParser *p, const YamlNode *key, const char *where, const char *const *allowed) {
        const char *hint = task_type_closest(key->value, allowed);
        if (hint)
                fp_error(p, key, "unknown property '%.100s' in %s; did you mean '%s'?", key->value, where, hint);
        else
                fp_error(p, key, "unknown property '%.100s' in %s", key->value, where);
}

json_t *fp_to_json(FlowParser *p, const YamlNode *n) {
        json_t *j = NULL;
        int r = yaml_node_to_json(n, &j);
        if (r == -ENOMEM)
                fp_oom(p);
        else if (r < 0)
                fp_error(p, n, "cannot convert to JSON: map keys must be scalars");
        return j;
}

int fp_parse_duration(FlowParser *p, const YamlNode *n, const char *what, susec_t *ret) {
        if (!yaml_node_is_scalar(n) || duration_parse(n->value, ret) < 0) {
                fp_error(p, n, "%s: invalid duration '%.100s', expected ISO-8601 like PT30S, PT5M or P1D", what,
                         yaml_node_is_scalar(n) ? n->value : yaml_node_describe(n));
                return -EINVAL;
        }
        return 0;
}

bool fp_check_bool(FlowParser *p, const YamlNode *n, const char *what, bool *ret) {
        if (yaml_scalar_bool(n, ret) < 0) {
                if (yaml_node_is_scalar(n))
                        fp_error(p, n, "%s must be a boolean (true or false), not '%.100s'", what, n->value);
                else
                        fp_error(p, n, "%s must be a boolean (true or false), not %s", what, yaml_node_describe(n));
                return false;
        }
        return true;
}

bool fp_check_int(FlowParser *p, const YamlNode *n, const char *what, int64_t *ret) {
        if (yaml_scalar_int(n, ret) < 0) {
                fp_error(p, n, "%s must be an integer, not %s", what, yaml_node_describe(n));
                return false;
        }
        return true;
}

static bool fp_wrong_kind(FlowParser *p, const YamlNode *v, const TaskProperty *prop, const char *what) {
        fp_error(p, v, "%s must be %s, not %s", what, prop_kind_to_string(prop->kind), yaml_node_describe(v));
        return false;
}

static bool all_scalars(const YamlNode *n) {
        for (size_t i = 0; i < n->n_children; i++)
                if (n->children[i]->kind != YAML_NODE_SCALAR)
                        return false;
        return true;
}

bool fp_check_value(FlowParser *p, const YamlNode *v, const TaskProperty *prop, const char *where) {
        int64_t i;
        double d;
        bool b;
        susec_t u;

        if (!v || yaml_scalar_type(v) == YAML_SCALAR_NULL)
                return true; /* absent; required properties are checked by the caller */
        /* Kestra renders expressions at run time wherever a typed value is expected. */
        if (fp_is_expression(v) && prop->kind != PROP_TASKS && prop->kind != PROP_TASK_MAP &&
            prop->kind != PROP_DAG_TASKS && prop->kind != PROP_CONDITIONS && prop->kind != PROP_CONDITION_MAP &&
            prop->kind != PROP_INPUTS)
                return true;

        switch (prop->kind) {
        case PROP_STRING:
                return v->kind == YAML_NODE_SCALAR || fp_wrong_kind(p, v, prop, where);
        case PROP_INT:
                return yaml_scalar_int(v, &i) >= 0 || fp_wrong_kind(p, v, prop, where);
        case PROP_NUMBER:
                return yaml_scalar_double(v, &d) >= 0 || fp_wrong_kind(p, v, prop, where);
        case PROP_BOOL:
                return yaml_scalar_bool(v, &b) >= 0 || fp_wrong_kind(p, v, prop, where);
        case PROP_DURATION:
                return fp_parse_duration(p, v, where, &u) >= 0;
        case PROP_ENUM:
                if (yaml_node_is_scalar(v) && strv_contains((char **) prop->values, v->value))
                        return true;
                if (yaml_node_is_scalar(v)) {
                        _cleanup_free_ char *list = strv_join((char **) prop->values, ", ");
                        fp_error(p, v, "%s: invalid value '%.100s', expected one of: %s", where, v->value, strempty(list));
                        return false;
                }
                return fp_wrong_kind(p, v, prop, where);
        case PROP_LIST:
                return v->kind == YAML_NODE_SEQ || fp_wrong_kind(p, v, prop, where);
        case PROP_STRING_LIST:
                return (v->kind == YAML_NODE_SEQ && all_scalars(v)) || fp_wrong_kind(p, v, prop, where);
        case PROP_MAP:
                return v->kind == YAML_NODE_MAP || fp_wrong_kind(p, v, prop, where);
        case PROP_ANY:
                return true;
        case PROP_STRING_OR_LIST:
                return v->kind == YAML_NODE_SCALAR || (v->kind == YAML_NODE_SEQ && all_scalars(v)) ||
                       fp_wrong_kind(p, v, prop, where);
        case PROP_MAP_OR_LIST:
                if (v->kind == YAML_NODE_MAP)
                        return true;
                if (v->kind == YAML_NODE_SEQ) {
                        for (size_t k = 0; k < v->n_children; k++) {
                                const YamlNode *e = v->children[k];
                                if (e->kind != YAML_NODE_MAP || !yaml_node_get(e, "key")) {
                                        fp_error(p, e, "%s: list entries must be maps with 'key' and 'value'", where);
                                        return false;
                                }
                        }
                        return true;
                }
                return fp_wrong_kind(p, v, prop, where);
        case PROP_LIST_OR_STRING:
                if (v->kind == YAML_NODE_SEQ)
                        return true;
                if (v->kind == YAML_NODE_SCALAR) {
                        /* A literal string must hold a JSON list, which Kestra parses at run time. */
                        _cleanup_json_ json_t *j = json_loads(v->value, JSON_DECODE_ANY, NULL);
                        if (json_is_array(j))
                                return true;
                        fp_error(p, v, "%s must be a list or a string holding a JSON list, not '%.100s'", where,
                                 v->value);
                        return false;
                }
                return fp_wrong_kind(p, v, prop, where);
        case PROP_CONDITIONS:
                return fp_parse_conditions(p, v, where) >= 0;
        case PROP_CONDITION_MAP:
                if (v->kind != YAML_NODE_MAP)
                        return fp_wrong_kind(p, v, prop, where);
                for (size_t k = 0; k + 1 < v->n_children; k += 2)
                        (void) fp_parse_condition(p, v->children[k + 1], "a condition");
                return true;
        case PROP_INPUTS: {
                FlowInput *inputs = NULL;
                size_t n = 0;
                int r = fp_parse_inputs(p, v, &inputs, &n);
                for (size_t k = 0; k < n; k++)
                        flow_input_done(&inputs[k]);
                free(inputs);
                return r >= 0;
        }
        case PROP_TASKS:
        case PROP_TASK_MAP:
        case PROP_DAG_TASKS:
        case _PROP_KIND_MAX:
                break;
        }
        return true;
}

static bool flow_id_valid(const char *s) {
        size_t l = strlen(s);
        if (l == 0 || l > 100)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == l;
}

static bool namespace_valid(const char *s) {
        size_t l = strlen(s);
        if (l == 0 || l > 150)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789._-") == l;
}

/* Internal storage keeps a namespace as a path ('.' becomes '/'), next to its flows' executions
 * (NS/FLOW/executions/ID), its files (NS/_files) and its KV (NS/_kv). A segment that is empty, starts
 * with '_' or '-', or is "executions" would put one namespace inside another's or inside an
 * execution's files, so that purging one deletes the other's: the segment at fault, or NULL. */
static const char *namespace_bad_segment(const char *s, char buf[static 64]) {
        for (const char *p = s;;) {
                size_t n = strcspn(p, ".");
                if (n == 0 || p[0] == '_' || p[0] == '-' || (n == 10 && strncmp(p, "executions", 10) == 0)) {
                        snprintf(buf, 64, "%.*s", (int) MIN(n, (size_t) 60), p);
                        return buf;
                }
                if (!p[n])
                        return NULL;
                p += n + 1;
        }
}

static void fp_parse_labels(FlowParser *p, const YamlNode *n, Flow *f) {
        f->labels = json_object();
        if (!f->labels) {
                fp_oom(p);
                return;
        }
        if (yaml_scalar_type(n) == YAML_SCALAR_NULL)
                return;
        if (n->kind == YAML_NODE_MAP) {
                for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                        const YamlNode *k = n->children[i], *v = n->children[i + 1];
                        if (!yaml_node_is_scalar(v)) {
                                fp_error(p, v, "label '%.100s' must have a string value, not %s", k->value,
                                         yaml_node_describe(v));
                                continue;
                        }
                        /* Kestra stores label values as text, whatever YAML type they were. */
                        if (json_object_set_new(f->labels, k->value, json_string(v->value)) < 0)
                                fp_oom(p);
                }
        } else if (n->kind == YAML_NODE_SEQ) {
                for (size_t i = 0; i < n->n_children; i++) {
                        const YamlNode *e = n->children[i];
                        const YamlNode *k = yaml_node_get(e, "key"), *v = yaml_node_get(e, "value");
                        if (!yaml_node_is_scalar(k) || !yaml_node_is_scalar(v)) {
                                fp_error(p, e, "labels list entries must be maps with a string 'key' and 'value'");
                                continue;
                        }
                        if (json_object_set_new(f->labels, k->value, json_string(v->value)) < 0)
                                fp_oom(p);
                }
        } else
                fp_error(p, n, "labels must be a map or a list of key/value pairs, not %s", yaml_node_describe(n));
}

static void fp_parse_concurrency(FlowParser *p, const YamlNode *n, Concurrency *c) {
        static const char *const keys[] = { "limit", "behavior", NULL };
        c->pos = flow_pos(n);
        if (!n || n->kind != YAML_NODE_MAP) {
                fp_error(p, n, "concurrency must be a map with 'limit' and 'behavior', not %s", yaml_node_describe(n));
                return;
        }
        for (size_t i = 0; i + 1 < n->n_children; i += 2)
                if (!strv_contains((char **) keys, n->children[i]->value))
                        fp_unknown_key(p, n->children[i], "concurrency", keys);
        const YamlNode *limit = yaml_node_get(n, "limit"), *behavior = yaml_node_get(n, "behavior");
        if (!limit)
                fp_error(p, n, "concurrency is missing required property 'limit'");
        else if (fp_check_int(p, limit, "concurrency limit", &c->limit) && c->limit < 1)
                fp_error(p, limit, "concurrency limit must be at least 1");
        if (behavior) {
                if (yaml_node_is_scalar(behavior) && streq(behavior->value, "QUEUE"))
                        c->behavior = CONCURRENCY_QUEUE;
                else if (yaml_node_is_scalar(behavior) && streq(behavior->value, "CANCEL"))
                        c->behavior = CONCURRENCY_CANCEL;
                else if (yaml_node_is_scalar(behavior) && streq(behavior->value, "FAIL"))
                        c->behavior = CONCURRENCY_FAIL;
                else
                        fp_error(p, behavior, "invalid concurrency behavior '%.100s', expected QUEUE, CANCEL or FAIL",
                                 yaml_node_is_scalar(behavior) ? behavior->value : yaml_node_describe(behavior));
        }
}

static const char *const trigger_common_keys[] = { "id",        "type",      "description", "disabled",    "conditions",
                                                    "stopAfter", "logToFile", "workerGroup", "minLogLevel", NULL };

static void fp_parse_trigger(FlowParser *p, const YamlNode *n, Trigger *t) {
        t->pos = flow_pos(n);
        if (!n || n->kind != YAML_NODE_MAP) {
                fp_error(p, n, "a trigger must be a map with 'id' and 'type', not %s", yaml_node_describe(n));
                return;
        }
        const YamlNode *id = yaml_node_get(n, "id"), *type = yaml_node_get(n, "type");
        if (!id)
                fp_error(p, n, "trigger without 'id'");
        else if ((t->id = fp_strdup_scalar(p, id, "trigger id")) && !flow_id_valid(t->id))
                fp_error(p, id, "invalid trigger id '%.100s'", t->id);
        if (!type) {
                fp_error(p, n, "trigger without 'type'");
                return;
        }
        t->type = fp_strdup_scalar(p, type, "trigger type");
        if (!t->type)
                return;
        t->def = task_type_lookup(TASK_TYPE_TRIGGER, t->type);
        if (!t->def) {
                const char *hint = task_type_suggest(TASK_TYPE_TRIGGER, t->type);
                if (hint)
                        fp_error(p, type, "unknown trigger type '%.200s'; did you mean '%s'?", t->type, hint);
                else
                        fp_error(p, type, "unknown trigger type '%.200s'", t->type);
                return;
        }
        if (!task_type_can_run(t->def))
                /* Known, but it would never fire: refused rather than accepted and ignored. */
                fp_error(p, type, "trigger type '%.200s' is known but this build cannot run it (%s)", t->type,
                         t->def->unsupported);
        t->properties = json_object();
        if (!t->properties) {
                fp_oom(p);
                return;
        }
        for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                const YamlNode *k = n->children[i], *v = n->children[i + 1];
                const char *key = k->value;
                _cleanup_free_ char *what = strdup_printf("'%s' of trigger '%s'", key, strempty(t->id));
                if (!what) {
                        fp_oom(p);
                        return;
                }
                if (streq(key, "id") || streq(key, "type"))
                        continue;
                if (streq(key, "description"))
                        t->description = fp_strdup_scalar(p, v, what);
                else if (streq(key, "disabled"))
                        (void) fp_check_bool(p, v, what, &t->disabled);
                else if (streq(key, "conditions")) {
                        if (fp_parse_conditions(p, v, what) >= 0)
                                t->conditions = fp_to_json(p, v);
                } else if (streq(key, "stopAfter")) {
                        static const TaskProperty prop = { .name = "stopAfter", .kind = PROP_STRING_LIST };
                        /* Kept with the properties: the executor disables the trigger by it. */
                        if (fp_check_value(p, v, &prop, what))
                                json_object_set_new(t->properties, "stopAfter", fp_to_json(p, v));
                } else if (streq(key, "logToFile")) {
                        bool b;
                        (void) fp_check_bool(p, v, what, &b);
                } else if (strv_contains((char **) trigger_common_keys, key))
                        continue;
                else {
                        const TaskProperty *prop = task_type_property(t->def, key);
                        if (!prop) {
                                const char *cands[64];
                                size_t c = 0;
                                for (const TaskProperty *q = t->def->properties; q && q->name && c < 50; q++)
                                        cands[c++] = q->name;
                                for (const char *const *q = trigger_common_keys; *q && c < 62; q++)
                                        cands[c++] = *q;
                                cands[c] = NULL;
                                _cleanup_free_ char *where = strdup_printf("trigger '%s' (%s)", strempty(t->id), t->def->name);
                                fp_unknown_key(p, k, where ?: "trigger", cands);
                                continue;
                        }
                        if (fp_check_value(p, v, prop, what)) {
                                json_t *j = fp_to_json(p, v);
                                if (j && json_object_set_new(t->properties, key, j) < 0)
                                        fp_oom(p);
                        }
                        if (streq(t->def->name, "ScheduleOnDates") && streq(key, "dates") && v->kind == YAML_NODE_SEQ)
                                /* The scheduler reads them as they are: each must be a date-time. */
                                for (size_t d = 0; d < v->n_children; d++) {
                                        const YamlNode *dn = v->children[d];
                                        usec_t when;
                                        if (!yaml_node_is_scalar(dn) || timestamp_parse(dn->value, 0, &when) < 0)
                                                fp_error(p, dn, "%s: '%.100s' is not an ISO-8601 date-time such as "
                                                                "2025-12-24T17:00:00+01:00", what,
                                                         yaml_node_is_scalar(dn) ? dn->value : yaml_node_describe(dn));
                                }
                }
        }
        _cleanup_free_ char *what = strdup_printf("trigger '%s' (%s)", strempty(t->id), t->def->name);
        fp_check_http_properties(p, n, t->def, t->properties, what ?: "trigger");
        for (const TaskProperty *prop = t->def->properties; prop && prop->name; prop++) {
                if (prop->required && !yaml_node_get(n, prop->name))
                        fp_error(p, n, "trigger '%s' (%s) is missing required property '%s'", strempty(t->id),
                                 t->def->name, prop->name);
                if (prop->default_json && !json_object_get(t->properties, prop->name)) {
                        json_t *j = json_loads(prop->default_json, JSON_DECODE_ANY, NULL);
                        if (!j || json_object_set_new(t->properties, prop->name, j) < 0)
                                fp_oom(p);
                }
        }
}

static void fp_parse_outputs(FlowParser *p, const YamlNode *n, Flow *f) {
        static const char *const keys[] = { "id", "type", "value", "description", "displayName", "required", NULL };
        if (yaml_scalar_type(n) == YAML_SCALAR_NULL)
                return;
        if (n->kind != YAML_NODE_SEQ) {
                fp_error(p, n, "outputs must be a list, not %s", yaml_node_describe(n));
                return;
        }
        f->outputs = calloc(n->n_children ?: 1, sizeof *f->outputs);
        if (!f->outputs) {
                fp_oom(p);
                return;
        }
        for (size_t i = 0; i < n->n_children; i++) {
                const YamlNode *e = n->children[i];
                if (e->kind != YAML_NODE_MAP) {
                        fp_error(p, e, "an output must be a map with 'id', 'type' and 'value', not %s", yaml_node_describe(e));
                        continue;
                }
                FlowOutput *o = &f->outputs[f->n_outputs++];
                o->pos = flow_pos(e);
                o->required = true;
                for (size_t k = 0; k + 1 < e->n_children; k += 2)
                        if (!strv_contains((char **) keys, e->children[k]->value))
                                fp_unknown_key(p, e->children[k], "an output", keys);
                const YamlNode *id = yaml_node_get(e, "id"), *type = yaml_node_get(e, "type"),
                               *value = yaml_node_get(e, "value"), *desc = yaml_node_get(e, "description"),
                               *req = yaml_node_get(e, "required");
                if (!id)
                        fp_error(p, e, "output without 'id'");
                else
                        o->id = fp_strdup_scalar(p, id, "output id");
                if (!type)
                        fp_error(p, e, "output '%s' without 'type'", strempty(o->id));
                else if (!yaml_node_is_scalar(type) || (o->type = flow_input_type_from_string(type->value)) < 0)
                        fp_error(p, type, "invalid output type '%.100s'",
                                 yaml_node_is_scalar(type) ? type->value : yaml_node_describe(type));
                if (!value)
                        fp_error(p, e, "output '%s' without 'value'", strempty(o->id));
                else
                        o->value = fp_to_json(p, value);
                if (desc)
                        o->description = fp_strdup_scalar(p, desc, "output description");
                if (req)
                        (void) fp_check_bool(p, req, "output 'required'", &o->required);
        }
}

static void fp_check_list_of_maps(FlowParser *p, const YamlNode *n, const char *what, const char *const *keys,
                                  const char *const *required) {
        if (n->kind != YAML_NODE_SEQ) {
                fp_error(p, n, "%s must be a list, not %s", what, yaml_node_describe(n));
                return;
        }
        for (size_t i = 0; i < n->n_children; i++) {
                const YamlNode *e = n->children[i];
                if (e->kind != YAML_NODE_MAP) {
                        fp_error(p, e, "%s entries must be maps, not %s", what, yaml_node_describe(e));
                        continue;
                }
                if (keys)
                        for (size_t k = 0; k + 1 < e->n_children; k += 2)
                                if (!strv_contains((char **) keys, e->children[k]->value))
                                        fp_unknown_key(p, e->children[k], what, keys);
                for (const char *const *r = required; r && *r; r++)
                        if (!yaml_node_get(e, *r))
                                fp_error(p, e, "%s entry is missing required property '%s'", what, *r);
        }
}

static void fp_parse_sla(FlowParser *p, const YamlNode *n) {
        static const char *const keys[] = { "id", "type", "behavior", "duration", "assert", "labels", NULL };
        static const char *const required[] = { "id", "type", "behavior", NULL };
        fp_check_list_of_maps(p, n, "sla", keys, required);
        if (n->kind != YAML_NODE_SEQ)
                return;
        for (size_t i = 0; i < n->n_children; i++) {
                const YamlNode *e = n->children[i];
                const YamlNode *type = yaml_node_get(e, "type"), *behavior = yaml_node_get(e, "behavior");
                if (yaml_node_is_scalar(type)) {
                        if (streq(type->value, "MAX_DURATION")) {
                                const YamlNode *d = yaml_node_get(e, "duration");
                                susec_t u;
                                if (!d)
                                        fp_error(p, e, "MAX_DURATION sla is missing required property 'duration'");
                                else
                                        (void) fp_parse_duration(p, d, "sla duration", &u);
                        } else if (streq(type->value, "EXECUTION_ASSERTION")) {
                                if (!yaml_node_get(e, "assert"))
                                        fp_error(p, e, "EXECUTION_ASSERTION sla is missing required property 'assert'");
                        } else
                                fp_error(p, type, "invalid sla type '%.100s', expected MAX_DURATION or EXECUTION_ASSERTION",
                                         type->value);
                }
                if (yaml_node_is_scalar(behavior) && !streq(behavior->value, "FAIL") &&
                    !streq(behavior->value, "CANCEL") && !streq(behavior->value, "NONE"))
                        fp_error(p, behavior, "invalid sla behavior '%.100s', expected FAIL, CANCEL or NONE", behavior->value);
        }
}

/* Kestra's checks: `when` (formerly `condition`) and `message` each, a style and a behavior. */
static void fp_parse_checks(FlowParser *p, const YamlNode *n) {
        static const char *const keys[] = { "when", "condition", "message", "style", "behavior", NULL };
        static const char *const required[] = { "message", NULL };
        fp_check_list_of_maps(p, n, "checks", keys, required);
        if (n->kind != YAML_NODE_SEQ)
                return;
        for (size_t i = 0; i < n->n_children; i++) {
                const YamlNode *e = n->children[i];
                const YamlNode *when = yaml_node_get(e, "when"), *cond = yaml_node_get(e, "condition");
                const YamlNode *style = yaml_node_get(e, "style"), *behavior = yaml_node_get(e, "behavior");
                if (e->kind != YAML_NODE_MAP)
                        continue;
                if (!when && !cond)
                        fp_error(p, e, "checks entry is missing required property 'when'");
                else if (when && cond)
                        fp_error(p, cond, "checks entry has both 'when' and its old name 'condition': keep 'when'");
                else if (!yaml_node_is_scalar(when ? when : cond))
                        fp_error(p, when ? when : cond, "check 'when' must be an expression, not %s",
                                 yaml_node_describe(when ? when : cond));
                if (style && (!yaml_node_is_scalar(style) ||
                              !(streq(style->value, "ERROR") || streq(style->value, "SUCCESS") ||
                                streq(style->value, "WARNING") || streq(style->value, "INFO"))))
                        fp_error(p, style, "invalid check style '%.100s', expected ERROR, SUCCESS, WARNING or INFO",
                                 yaml_node_is_scalar(style) ? style->value : yaml_node_describe(style));
                if (behavior && (!yaml_node_is_scalar(behavior) ||
                                 !(streq(behavior->value, "BLOCK_EXECUTION") || streq(behavior->value, "FAIL_EXECUTION") ||
                                   streq(behavior->value, "CREATE_EXECUTION"))))
                        fp_error(p, behavior,
                                 "invalid check behavior '%.100s', expected BLOCK_EXECUTION, FAIL_EXECUTION or CREATE_EXECUTION",
                                 yaml_node_is_scalar(behavior) ? behavior->value : yaml_node_describe(behavior));
        }
}

static bool is_literal(const json_t *j, const char *value) {
        return json_is_string(j) && !strstr(json_string_value(j), "{{") && streq(json_string_value(j), value);
}

/* Kestra refuses a flow whose subflow task starts the flow itself: every execution would start
 * another one. Only literal names can be checked here; expressions are checked at run time. */
static void fp_check_self_calls(FlowParser *p, const Flow *f, Task *const *tasks, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const Task *t = tasks[i];
                if (t->def && t->def->role == TASK_ROLE_EXECUTABLE && f->id && f->namespace &&
                    is_literal(task_property(t, "namespace"), f->namespace) && is_literal(task_property(t, "flowId"), f->id))
                        fp_error_at(p, t->pos, "task '%s' starts its own flow '%s.%s': a flow cannot be its own subflow",
                                    strempty(t->id), f->namespace, f->id);
                for (size_t b = 0; b < t->n_branches; b++)
                        fp_check_self_calls(p, f, t->branches[b].tasks, t->branches[b].n_tasks);
        }
}

/* pos must outlive the map: it points into the flow. */
static void fp_check_unique(FlowParser *p, const char *what, const char *id, const FlowPos *pos, Hashmap *seen) {
        const FlowPos *first;
        if (!id)
                return;
        if ((first = hashmap_get(seen, id)))
                fp_error_at(p, *pos, "duplicate %s id '%s' (first defined at line %u)", what, id, first->line);
        else if (hashmap_put(seen, id, (void *) pos) < 0)
                fp_oom(p);
}

static void fp_check_flow_refs(FlowParser *p, const Flow *f) {
        _cleanup_hashmap_ Hashmap triggers = HASHMAP_INIT, outputs = HASHMAP_INIT;

        fp_check_self_calls(p, f, f->tasks, f->n_tasks);
        fp_check_self_calls(p, f, f->errors, f->n_errors);
        fp_check_self_calls(p, f, f->finally, f->n_finally);
        for (size_t i = 0; i < f->n_triggers; i++)
                fp_check_unique(p, "trigger", f->triggers[i].id, &f->triggers[i].pos, &triggers);
        for (size_t i = 0; i < f->n_outputs; i++)
                fp_check_unique(p, "output", f->outputs[i].id, &f->outputs[i].pos, &outputs);
}

static const char *const flow_keys[] = {
        "id",          "namespace", "revision",    "description",    "labels",  "inputs",   "variables",
        "tasks",       "errors",    "finally",     "afterExecution", "triggers", "outputs", "concurrency",
        "retry",       "pluginDefaults", "taskDefaults", "disabled", "deleted", "sla",      "checks",
        "tenantId",    "listeners", "workerGroup", NULL,
};

const char *const *flow_language_keys(FlowKeySet set) {
        switch (set) {
        case FLOW_KEYS_FLOW:
                return flow_keys;
        case FLOW_KEYS_TASK:
                return fp_task_keys(false);
        case FLOW_KEYS_FLOWABLE:
                return fp_task_keys(true);
        case FLOW_KEYS_TRIGGER:
                return trigger_common_keys;
        case FLOW_KEYS_INPUT:
                return fp_input_keys();
        default:
                return NULL;
        }
}

int fp_parse_flow(FlowParser *p, const YamlNode *root, Flow *f) {
        if (!root) {
                fp_error(p, NULL, "empty file: a flow needs at least 'id', 'namespace' and 'tasks'");
                return 0;
        }
        if (root->kind != YAML_NODE_MAP) {
                fp_error(p, root, "a flow must be a map with 'id', 'namespace' and 'tasks', not %s",
                         yaml_node_describe(root));
                return 0;
        }

        const YamlNode *id = yaml_node_get(root, "id"), *ns = yaml_node_get(root, "namespace"),
                       *tasks = yaml_node_get(root, "tasks");
        if (!id)
                fp_error(p, root, "flow without 'id'");
        else if ((f->id = fp_strdup_scalar(p, id, "flow id")) && !flow_id_valid(f->id))
                fp_error(p, id,
                         "invalid flow id '%.120s': must match ^[a-zA-Z0-9][a-zA-Z0-9._-]* and be at most 100 characters",
                         f->id);
        if (!ns)
                fp_error(p, root, "flow without 'namespace'");
        else if ((f->namespace = fp_strdup_scalar(p, ns, "namespace")) && !namespace_valid(f->namespace))
                fp_error(p, ns,
                         "invalid namespace '%.160s': lowercase letters, digits, '.', '_' and '-' only, starting with a "
                         "letter or digit, at most 150 characters",
                         f->namespace);
        else if (f->namespace) {
                char seg[64];
                if (namespace_bad_segment(f->namespace, seg))
                        fp_error(p, ns,
                                 "invalid namespace '%.160s': its part '%s' %s (internal storage keeps each part as a "
                                 "directory beside executions, '_files' and '_kv')",
                                 f->namespace, seg,
                                 !*seg                        ? "is empty"
                                 : streq(seg, "executions")   ? "is reserved"
                                                              : "starts with '_' or '-'");
        }
        if (!tasks || yaml_scalar_type(tasks) == YAML_SCALAR_NULL)
                fp_error(p, tasks ?: root, "flow has no 'tasks': at least one task is required");
        else if (tasks->kind == YAML_NODE_SEQ && tasks->n_children == 0)
                fp_error(p, tasks, "flow 'tasks' is empty: at least one task is required");

        /* Tasks take their defaults from pluginDefaults, wherever it is written in the file. */
        p->plugin_defaults = yaml_node_get(root, "pluginDefaults") ?: yaml_node_get(root, "taskDefaults");
        if (p->plugin_defaults && p->plugin_defaults->kind != YAML_NODE_SEQ)
                p->plugin_defaults = NULL;

        for (size_t i = 0; i + 1 < root->n_children; i += 2) {
                const YamlNode *k = root->children[i], *v = root->children[i + 1];
                const char *key = k->value;
                if (!strv_contains((char **) flow_keys, key)) {
                        fp_unknown_key(p, k, "the flow", flow_keys);
                        continue;
                }
                if (streq(key, "id") || streq(key, "namespace"))
                        continue;
                if (streq(key, "tasks"))
                        (void) fp_parse_task_list(p, v, NULL, "tasks", &f->tasks, &f->n_tasks);
                else if (streq(key, "errors"))
                        (void) fp_parse_task_list(p, v, NULL, "errors", &f->errors, &f->n_errors);
                else if (streq(key, "finally"))
                        (void) fp_parse_task_list(p, v, NULL, "finally", &f->finally, &f->n_finally);
                else if (streq(key, "afterExecution"))
                        (void) fp_parse_task_list(p, v, NULL, "afterExecution", &f->after_execution,
                                                  &f->n_after_execution);
                else if (streq(key, "revision"))
                        (void) fp_check_int(p, v, "revision", &f->revision);
                else if (streq(key, "description")) {
                        if (yaml_scalar_type(v) != YAML_SCALAR_NULL)
                                f->description = fp_strdup_scalar(p, v, "description");
                } else if (streq(key, "labels"))
                        fp_parse_labels(p, v, f);
                else if (streq(key, "inputs"))
                        (void) fp_parse_inputs(p, v, &f->inputs, &f->n_inputs);
                else if (streq(key, "variables")) {
                        if (yaml_scalar_type(v) == YAML_SCALAR_NULL)
                                continue;
                        if (v->kind != YAML_NODE_MAP)
                                fp_error(p, v, "variables must be a map, not %s", yaml_node_describe(v));
                        else
                                f->variables = fp_to_json(p, v);
                } else if (streq(key, "triggers")) {
                        if (yaml_scalar_type(v) == YAML_SCALAR_NULL)
                                continue;
                        if (v->kind != YAML_NODE_SEQ) {
                                fp_error(p, v, "triggers must be a list, not %s", yaml_node_describe(v));
                                continue;
                        }
                        f->triggers = calloc(v->n_children ?: 1, sizeof *f->triggers);
                        if (!f->triggers) {
                                fp_oom(p);
                                continue;
                        }
                        for (size_t j = 0; j < v->n_children; j++)
                                fp_parse_trigger(p, v->children[j], &f->triggers[f->n_triggers++]);
                } else if (streq(key, "outputs"))
                        fp_parse_outputs(p, v, f);
                else if (streq(key, "concurrency"))
                        fp_parse_concurrency(p, v, &f->concurrency);
                else if (streq(key, "retry"))
                        f->retry = fp_parse_retry(p, v);
                else if (streq(key, "pluginDefaults") || streq(key, "taskDefaults")) {
                        static const char *const keys[] = { "type", "forced", "values", NULL };
                        static const char *const required[] = { "type", NULL };
                        if (yaml_scalar_type(v) == YAML_SCALAR_NULL)
                                continue;
                        fp_check_list_of_maps(p, v, key, keys, required);
                        json_decref(f->plugin_defaults);
                        f->plugin_defaults = fp_to_json(p, v);
                } else if (streq(key, "disabled"))
                        (void) fp_check_bool(p, v, "disabled", &f->disabled);
                else if (streq(key, "deleted"))
                        (void) fp_check_bool(p, v, "deleted", &f->deleted);
                else if (streq(key, "sla")) {
                        if (yaml_scalar_type(v) == YAML_SCALAR_NULL)
                                continue;
                        fp_parse_sla(p, v);
                        f->sla = fp_to_json(p, v);
                } else if (streq(key, "checks")) {
                        if (yaml_scalar_type(v) == YAML_SCALAR_NULL)
                                continue;
                        fp_parse_checks(p, v);
                        f->checks = fp_to_json(p, v);
                } else if (streq(key, "workerGroup")) {
                        /* The queue of every task of the flow that names none of its own. */
                        const YamlNode *wk = yaml_node_get(v, "key");
                        if (yaml_scalar_type(v) == YAML_SCALAR_NULL)
                                continue;
                        if (v->kind != YAML_NODE_MAP || !yaml_node_is_scalar(wk))
                                fp_error(p, v, "workerGroup must be a map with a 'key'");
                        else {
                                free(f->worker_group);
                                f->worker_group = fp_strdup_scalar(p, wk, "workerGroup");
                        }
                } else if (streq(key, "listeners")) {
                        /* Kestra deprecated listeners (tasks run when the execution ends, under conditions)
                         * and tern does not run them: refused rather than accepted and ignored. An empty
                         * list asks for nothing. */
                        if (yaml_scalar_type(v) == YAML_SCALAR_NULL || (v->kind == YAML_NODE_SEQ && v->n_children == 0))
                                continue;
                        fp_error(p, k,
                                 "'listeners' are not supported (Kestra deprecated them): use a flow with an "
                                 "io.kestra.plugin.core.trigger.Flow trigger (its conditions select the executions), or "
                                 "the flow's 'afterExecution' tasks");
                }
                /* tenantId: accepted for compatibility, not used. */
        }
        /* Before the duplicate check, which sorts the ids: the first task past the limit is
         * where the error points. */
        size_t max = flow_max_tasks();
        if (p->n_ids > max)
                fp_error_at(p, p->ids[max].pos,
                            "the flow has %zu tasks (counting those inside flowable tasks, errors, finally and "
                            "afterExecution); the limit is %zu ([flow] max-tasks in tern.conf, TERN_FLOW_MAX_TASKS)",
                            p->n_ids, max);
        fp_check_duplicate_ids(p);
        fp_check_flow_refs(p, f);
        return 0;
}

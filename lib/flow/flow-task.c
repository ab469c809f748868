/* flow-task.c: tasks, retries and conditions of a flow: YAML nodes -> model, checked against the registry. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "flow-internal.h"
#include "hashmap.h"
#include "strbuf.h"
#include "strutil.h"

static const char *const log_levels[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", NULL };

/* Keys every task accepts, whatever its type. */
static const char *const task_common_keys[] = {
        "id",       "type",     "description", "retry",      "timeout",     "disabled", "allowFailure",
        "allowWarning", "runIf", "logLevel",   "logToFile",  "workerGroup", "version", NULL,
};
/* Flowable tasks also have their own error and finally branches. */
static const char *const flowable_keys[] = { "errors", "finally", NULL };

const char *const *fp_task_keys(bool flowable) {
        return flowable ? flowable_keys : task_common_keys;
}

Task *task_free(Task *t) {
        if (!t)
                return NULL;
        free(t->id);
        free(t->type);
        free(t->description);
        free(t->retry);
        free(t->timeout);
        free(t->run_if);
        free(t->log_level);
        free(t->worker_group);
        strv_free(t->depends_on);
        json_decref(t->properties);
        for (size_t i = 0; i < t->n_branches; i++) {
                TaskBranch *b = &t->branches[i];
                for (size_t j = 0; j < b->n_tasks; j++)
                        task_free(b->tasks[j]);
                free(b->tasks);
                free(b->name);
                free(b->case_value);
        }
        free(t->branches);
        free(t);
        return NULL;
}
DEFINE_FREE_CLEANUP(Task, task_free)

static bool task_id_valid(const char *s) {
        size_t l = strlen(s);
        if (l == 0 || l > 100)
                return false;
        if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= '0' && s[0] <= '9')))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == l;
}

static void fp_register_id(FlowParser *p, const char *id, const YamlNode *at) {
        if (p->n_ids == p->ids_cap) {
                size_t c = p->ids_cap ? p->ids_cap * 2 : 32;
                FlowIdRef *a = reallocarray(p->ids, c, sizeof *a);
                if (!a) {
                        fp_oom(p);
                        return;
                }
                p->ids = a;
                p->ids_cap = c;
        }
        p->ids[p->n_ids] = (FlowIdRef) { id, flow_pos(at), p->n_ids };
        p->n_ids++;
}

static int id_cmp(const void *a, const void *b) {
        const FlowIdRef *x = a, *y = b;
        int c = strcmp(x->id, y->id);
        if (c)
                return c;
        return x->order < y->order ? -1 : x->order > y->order;
}

void fp_check_duplicate_ids(FlowParser *p) {
        if (p->n_ids < 2)
                return;
        qsort(p->ids, p->n_ids, sizeof p->ids[0], id_cmp);
        size_t first = 0;
        for (size_t i = 1; i < p->n_ids; i++) {
                if (!streq(p->ids[first].id, p->ids[i].id)) {
                        first = i;
                        continue;
                }
                p->invalid = true;
                if (flow_diagnostics_add(p->diags, p->file, p->ids[i].pos.line, p->ids[i].pos.column,
                                         "duplicate task id '%s' (first defined at line %u)", p->ids[i].id,
                                         p->ids[first].pos.line) < 0)
                        fp_oom(p);
        }
}

static TaskBranch *task_add_branch(FlowParser *p, Task *t, const char *name, const char *case_value,
                                   const YamlNode *at) {
        /* Capacity doubles at each power of two, so a Switch with very many cases stays linear. */
        size_t n = t->n_branches;
        if ((n & (n - 1)) == 0) {
                TaskBranch *a = reallocarray(t->branches, n ? 2 * n : 1, sizeof *a);
                if (!a) {
                        fp_oom(p);
                        return NULL;
                }
                t->branches = a;
        }
        TaskBranch *b = &t->branches[n];
        *b = (TaskBranch) { .name = strdup(name), .case_value = case_value ? strdup(case_value) : NULL, .pos = flow_pos(at) };
        if (!b->name || (case_value && !b->case_value)) {
                free(b->name);
                free(b->case_value);
                fp_oom(p);
                return NULL;
        }
        t->n_branches++;
        return b;
}

static void task_parse_branch(FlowParser *p, Task *t, const char *name, const char *case_value, const YamlNode *v,
                              const char *what) {
        TaskBranch *b = task_add_branch(p, t, name, case_value, v);
        if (b)
                (void) fp_parse_task_list(p, v, t, what, &b->tasks, &b->n_tasks);
}

/* Every dependsOn names a sibling, and the dependencies have no cycle (Kahn's algorithm: what
 * cannot be ordered is on or behind a cycle). */
static void dag_check(FlowParser *p, const Task *dag, const TaskBranch *b) {
        _cleanup_hashmap_ Hashmap index = HASHMAP_INIT;
        size_t n = b->n_tasks, n_edges = 0;

        for (size_t i = 0; i < n; i++)
                if (b->tasks[i]->id && hashmap_put(&index, b->tasks[i]->id, (void *) (uintptr_t) (i + 1)) < 0) {
                        fp_oom(p);
                        return;
                }
        for (size_t i = 0; i < n; i++)
                for (char **d = b->tasks[i]->depends_on; d && *d; d++) {
                        if (hashmap_get(&index, *d))
                                n_edges++;
                        else
                                fp_error_at(p, b->tasks[i]->pos, "task '%s' of Dag '%s' depends on '%s', which is not a task of this Dag",
                                            strempty(b->tasks[i]->id), strempty(dag->id), *d);
                }

        /* Out-edges dependency -> dependent, in compressed rows. */
        _cleanup_free_ size_t *indeg = calloc(n + 1, sizeof(size_t)), *start = calloc(n + 2, sizeof(size_t)),
                              *edges = calloc(n_edges + 1, sizeof(size_t)), *fill = calloc(n + 1, sizeof(size_t)),
                              *queue = calloc(n + 1, sizeof(size_t));
        if (!indeg || !start || !edges || !fill || !queue) {
                fp_oom(p);
                return;
        }
        for (size_t i = 0; i < n; i++)
                for (char **d = b->tasks[i]->depends_on; d && *d; d++) {
                        uintptr_t from = (uintptr_t) hashmap_get(&index, *d);
                        if (from) {
                                start[from]++; /* row of from-1, shifted by one for the prefix sum */
                                indeg[i]++;
                        }
                }
        for (size_t i = 1; i <= n; i++)
                start[i] += start[i - 1];
        for (size_t i = 0; i < n; i++)
                for (char **d = b->tasks[i]->depends_on; d && *d; d++) {
                        uintptr_t from = (uintptr_t) hashmap_get(&index, *d);
                        if (from)
                                edges[start[from - 1] + fill[from - 1]++] = i;
                }
        size_t head = 0, tail = 0, done = 0;
        for (size_t i = 0; i < n; i++)
                if (indeg[i] == 0)
                        queue[tail++] = i;
        while (head < tail) {
                size_t u = queue[head++];
                done++;
                for (size_t e = start[u]; e < start[u + 1]; e++)
                        if (--indeg[edges[e]] == 0)
                                queue[tail++] = edges[e];
        }
        if (done == n)
                return;
        _cleanup_strbuf_ StrBuf ids = STRBUF_INIT;
        size_t listed = 0;
        for (size_t i = 0; i < n && listed < 5; i++)
                if (indeg[i] > 0)
                        strbuf_appendf(&ids, "%s'%s'", listed++ ? ", " : "", strempty(b->tasks[i]->id));
        fp_error_at(p, dag->pos, "Dag '%s' has a dependency cycle (tasks that can never start: %s%s)", strempty(dag->id),
                    strempty(strbuf_str(&ids)), n - done > listed ? ", ..." : "");
}

/* Dag: a list of {task: TASK, dependsOn: [ids]}; the children go to the "tasks" branch. */
static void task_parse_dag(FlowParser *p, Task *t, const YamlNode *v, const char *what) {
        static const char *const keys[] = { "task", "dependsOn", NULL };
        TaskBranch *b = task_add_branch(p, t, "tasks", NULL, v);
        if (!b)
                return;
        if (!v || v->kind != YAML_NODE_SEQ) {
                fp_error(p, v, "%s must be a list of {task, dependsOn}, not %s", what, yaml_node_describe(v));
                return;
        }
        b->tasks = calloc(v->n_children ?: 1, sizeof *b->tasks);
        if (!b->tasks) {
                fp_oom(p);
                return;
        }
        for (size_t i = 0; i < v->n_children; i++) {
                const YamlNode *e = v->children[i];
                if (e->kind != YAML_NODE_MAP) {
                        fp_error(p, e, "%s entries must be maps with 'task' and 'dependsOn'", what);
                        continue;
                }
                for (size_t k = 0; k + 1 < e->n_children; k += 2)
                        if (!strv_contains((char **) keys, e->children[k]->value))
                                fp_unknown_key(p, e->children[k], "a Dag entry", keys);
                const YamlNode *tn = yaml_node_get(e, "task");
                if (!tn) {
                        fp_error(p, e, "Dag entry without 'task'");
                        continue;
                }
                Task **one = NULL;
                size_t n_one = 0;
                /* Reuse the list parser on a one-element view. */
                YamlNode view = { .kind = YAML_NODE_SEQ, .line = tn->line, .column = tn->column,
                                  .children = (YamlNode **) &tn, .n_children = 1 };
                if (fp_parse_task_list(p, &view, t, what, &one, &n_one) < 0 || n_one != 1) {
                        free(one);
                        continue;
                }
                Task *child = one[0];
                free(one);
                const YamlNode *deps = yaml_node_get(e, "dependsOn");
                if (deps && deps->kind == YAML_NODE_SEQ) {
                        size_t k = 0;
                        child->depends_on = calloc(deps->n_children + 1, sizeof(char *));
                        if (!child->depends_on)
                                fp_oom(p);
                        for (size_t j = 0; child->depends_on && j < deps->n_children; j++) {
                                if (!yaml_node_is_scalar(deps->children[j])) {
                                        fp_error(p, deps->children[j], "dependsOn entries must be task ids");
                                        continue;
                                }
                                if (!(child->depends_on[k++] = strdup(deps->children[j]->value)))
                                        fp_oom(p);
                        }
                } else if (deps && yaml_scalar_type(deps) != YAML_SCALAR_NULL)
                        fp_error(p, deps, "dependsOn must be a list of task ids, not %s", yaml_node_describe(deps));
                b->tasks[b->n_tasks++] = child;
        }
        dag_check(p, t, b);
}

static void task_parse_property(FlowParser *p, Task *t, const TaskProperty *prop, const YamlNode *v) {
        _cleanup_free_ char *what = strdup_printf("'%s' of task '%s'", prop->name, strempty(t->id));
        if (!what) {
                fp_oom(p);
                return;
        }
        switch (prop->kind) {
        case PROP_TASKS:
                /* Kestra wants at least one child where the list is required. */
                if (prop->required && v && v->kind == YAML_NODE_SEQ && v->n_children == 0)
                        fp_error(p, v, "%s must not be empty", what);
                task_parse_branch(p, t, prop->name, NULL, v, what);
                return;
        case PROP_TASK_MAP:
                if (!v || yaml_scalar_type(v) == YAML_SCALAR_NULL)
                        return;
                if (v->kind != YAML_NODE_MAP) {
                        fp_error(p, v, "%s must be a map of task lists, not %s", what, yaml_node_describe(v));
                        return;
                }
                for (size_t i = 0; i + 1 < v->n_children; i += 2)
                        task_parse_branch(p, t, prop->name, v->children[i]->value, v->children[i + 1], what);
                return;
        case PROP_DAG_TASKS:
                task_parse_dag(p, t, v, what);
                return;
        default:
                break;
        }
        if (!fp_check_value(p, v, prop, what))
                return;
        json_t *j = fp_to_json(p, v);
        if (j && json_object_set_new(t->properties, prop->name, j) < 0)
                fp_oom(p);
}

static void task_fill_defaults(FlowParser *p, Task *t) {
        for (const TaskProperty *prop = t->def->properties; prop && prop->name; prop++) {
                if (!prop->default_json || json_object_get(t->properties, prop->name))
                        continue;
                json_t *j = json_loads(prop->default_json, JSON_DECODE_ANY, NULL);
                if (!j || json_object_set_new(t->properties, prop->name, j) < 0)
                        fp_oom(p);
        }
}

/* Kestra matches a pluginDefaults entry by the task's type: the exact name, or a prefix of it
 * ("io.kestra.plugin.core.log" covers Log and Fetch). */
static bool plugin_default_matches(const Task *t, const char *type) {
        if (isempty(type))
                return false;
        if (streq(type, t->def->name) || startswith(t->type, type))
                return true;
        for (const char *const *k = t->def->kestra_names; *k; k++)
                if (startswith(*k, type))
                        return true;
        return false;
}

/* Values of matching entries fill the properties the task does not set ("forced" ones replace
 * them). Child task lists are never defaulted. */
static void task_apply_plugin_defaults(FlowParser *p, Task *t) {
        const YamlNode *list = p->plugin_defaults;
        for (size_t i = 0; list && i < list->n_children; i++) {
                const YamlNode *e = list->children[i];
                const YamlNode *type = yaml_node_get(e, "type"), *values = yaml_node_get(e, "values");
                bool forced = false;
                if (!yaml_node_is_scalar(type) || !values || values->kind != YAML_NODE_MAP ||
                    !plugin_default_matches(t, type->value))
                        continue;
                (void) yaml_scalar_bool(yaml_node_get(e, "forced"), &forced);
                for (size_t k = 0; k + 1 < values->n_children; k += 2) {
                        const char *name = values->children[k]->value;
                        const TaskProperty *prop = task_type_property(t->def, name);
                        if (!prop || prop->kind == PROP_TASKS || prop->kind == PROP_TASK_MAP || prop->kind == PROP_DAG_TASKS)
                                continue;
                        if (!forced && json_object_get(t->properties, name))
                                continue;
                        json_t *j = fp_to_json(p, values->children[k + 1]);
                        if (j && json_object_set_new(t->properties, name, j) < 0)
                                fp_oom(p);
                }
        }
}

static void task_parse_common(FlowParser *p, Task *t, const char *key, const YamlNode *v) {
        _cleanup_free_ char *what = strdup_printf("'%s' of task '%s'", key, strempty(t->id));
        bool b;

        if (!what) {
                fp_oom(p);
                return;
        }
        if (streq(key, "description")) {
                if (yaml_scalar_type(v) != YAML_SCALAR_NULL)
                        t->description = fp_strdup_scalar(p, v, what);
        } else if (streq(key, "retry")) {
                t->retry = fp_parse_retry(p, v);
        } else if (streq(key, "timeout")) {
                if (yaml_scalar_type(v) == YAML_SCALAR_NULL)
                        return;
                t->timeout = fp_strdup_scalar(p, v, what);
                if (t->timeout && !fp_is_expression(v))
                        (void) fp_parse_duration(p, v, what, &t->timeout_usec);
        } else if (streq(key, "disabled") || streq(key, "allowFailure") || streq(key, "allowWarning") ||
                   streq(key, "logToFile")) {
                if (!fp_check_bool(p, v, what, &b))
                        return;
                if (streq(key, "disabled"))
                        t->disabled = b;
                else if (streq(key, "allowFailure"))
                        t->allow_failure = b;
                else if (streq(key, "allowWarning"))
                        t->allow_warning = b;
                else
                        t->log_to_file = b;
        } else if (streq(key, "runIf")) {
                t->run_if = fp_strdup_scalar(p, v, what);
        } else if (streq(key, "logLevel")) {
                static const TaskProperty prop = { .name = "logLevel", .kind = PROP_ENUM, .values = log_levels };
                if (fp_check_value(p, v, &prop, what))
                        t->log_level = fp_strdup_scalar(p, v, what);
        } else if (streq(key, "workerGroup")) {
                const YamlNode *k = yaml_node_get(v, "key");
                if (!v || v->kind != YAML_NODE_MAP || !yaml_node_is_scalar(k))
                        fp_error(p, v, "%s must be a map with a 'key'", what);
                else
                        t->worker_group = fp_strdup_scalar(p, k, what);
        }
}

static Task *fp_parse_task(FlowParser *p, const YamlNode *n, Task *parent) {
        _cleanup_(task_freep) Task *t = NULL;

        if (!n || n->kind != YAML_NODE_MAP) {
                fp_error(p, n, "a task must be a map with at least 'id' and 'type', not %s", yaml_node_describe(n));
                return NULL;
        }
        t = calloc(1, sizeof *t);
        if (!t) {
                fp_oom(p);
                return NULL;
        }
        t->pos = flow_pos(n);
        t->parent = parent;
        t->timeout_usec = -1;
        t->properties = json_object();
        if (!t->properties) {
                fp_oom(p);
                return NULL;
        }

        const YamlNode *id = yaml_node_get(n, "id"), *type = yaml_node_get(n, "type");
        if (!id)
                fp_error(p, n, "task without 'id'");
        else if (!yaml_node_is_scalar(id) || yaml_scalar_type(id) == YAML_SCALAR_NULL)
                fp_error(p, id, "task id must be a string, not %s", yaml_node_describe(id));
        else {
                t->id = fp_strdup_scalar(p, id, "task id");
                if (t->id && !task_id_valid(t->id))
                        fp_error(p, id,
                                 "invalid task id '%.120s': must start with a letter or digit, contain only letters, "
                                 "digits, '_' and '-', and be at most 100 characters",
                                 t->id);
                if (t->id)
                        fp_register_id(p, t->id, id);
        }
        if (!type)
                fp_error(p, n, "task '%s' without 'type'", strempty(t->id));
        else if (!yaml_node_is_scalar(type))
                fp_error(p, type, "task type must be a string, not %s", yaml_node_describe(type));
        else {
                t->type = fp_strdup_scalar(p, type, "task type");
                if (t->type) {
                        t->def = task_type_lookup(TASK_TYPE_TASK, t->type);
                        if (!t->def) {
                                const char *hint = task_type_suggest(TASK_TYPE_TASK, t->type);
                                if (hint)
                                        fp_error(p, type, "unknown task type '%.200s'; did you mean '%s'?", t->type, hint);
                                else
                                        fp_error(p, type, "unknown task type '%.200s'", t->type);
                        } else if (!task_type_can_run(t->def))
                                /* Known (its properties are still checked below), but nothing in this
                                 * build runs it: refused here rather than failing at run time. */
                                fp_error(p, type, "task type '%.200s' is known but this build cannot run it (%s)",
                                         t->type, t->def->unsupported ?: "not implemented");
                }
        }

        for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                const YamlNode *k = n->children[i], *v = n->children[i + 1];
                const char *key = k->value;
                if (streq(key, "id") || streq(key, "type"))
                        continue;
                /* A type may have a property of a common key's name (Kestra's Jira Create has its
                 * issue's description): the type's property wins, as its field hides Task's there. */
                if (strv_contains((char **) task_common_keys, key) && !(t->def && task_type_property(t->def, key))) {
                        task_parse_common(p, t, key, v);
                        continue;
                }
                if (!t->def)
                        continue; /* unknown type: its properties cannot be checked */
                if (t->def->role == TASK_ROLE_FLOWABLE && strv_contains((char **) flowable_keys, key)) {
                        _cleanup_free_ char *what = strdup_printf("'%s' of task '%s'", key, strempty(t->id));
                        if (!what)
                                fp_oom(p);
                        else
                                task_parse_branch(p, t, key, NULL, v, what);
                        continue;
                }
                const TaskProperty *prop = task_type_property(t->def, key);
                if (!prop) {
                        /* Hint from every key the type accepts. */
                        const char *cands[128];
                        size_t c = 0;
                        for (const TaskProperty *q = t->def->properties; q && q->name && c < 100; q++)
                                cands[c++] = q->name;
                        for (const char *const *q = task_common_keys; *q && c < 120; q++)
                                cands[c++] = *q;
                        if (t->def->role == TASK_ROLE_FLOWABLE)
                                for (const char *const *q = flowable_keys; *q && c < 126; q++)
                                        cands[c++] = *q;
                        cands[c] = NULL;
                        _cleanup_free_ char *where = strdup_printf("task '%s' (%s)", strempty(t->id), t->def->name);
                        fp_unknown_key(p, k, where ?: "task", cands);
                        continue;
                }
                task_parse_property(p, t, prop, v);
        }

        if (t->def) {
                task_apply_plugin_defaults(p, t);
                for (const TaskProperty *prop = t->def->properties; prop && prop->name; prop++) {
                        if (!prop->required)
                                continue;
                        const YamlNode *v = yaml_node_get(n, prop->name);
                        if ((!v || yaml_scalar_type(v) == YAML_SCALAR_NULL) && !json_object_get(t->properties, prop->name))
                                fp_error(p, v ?: n, "task '%s' (%s) is missing required property '%s'", strempty(t->id),
                                         t->def->name, prop->name);
                }
                task_fill_defaults(p, t);
                /* Kestra keeps a WorkingDirectory's cache (files matched by patterns, restored on the
                 * next execution until a TTL) in internal storage; this build has no such cache:
                 * refused rather than a directory that silently starts empty. */
                const YamlNode *cache = t->def->hook == TASK_HOOK_WORKING_DIRECTORY ? yaml_node_get(n, "cache") : NULL;
                if (cache && yaml_scalar_type(cache) != YAML_SCALAR_NULL)
                        fp_error(p, cache, "task '%s' (%s): 'cache' is not supported by this build (files are not kept "
                                           "between executions); remove it, or keep the files with outputFiles or "
                                           "namespace.UploadFiles and fetch them back",
                                 strempty(t->id), t->def->name);
                _cleanup_free_ char *what = strdup_printf("task '%s' (%s)", strempty(t->id), t->def->name);
                fp_check_http_properties(p, n, t->def, t->properties, what ?: "task");
        }
        return TAKE_PTR(t);
}

void fp_check_http_properties(FlowParser *p, const YamlNode *n, const TaskType *def, json_t *props, const char *what) {
        if (!def || !(def->runner == TASK_RUNNER_HTTP_REQUEST || def->runner == TASK_RUNNER_HTTP_DOWNLOAD ||
                      (def->kind == TASK_TYPE_TRIGGER && streq(def->name, "http.Trigger"))))
                return;
        /* Kestra encrypts the body with its own secret key, which tern does not have. */
        json_t *enc = json_object_get(props, "encryptBody");
        if (enc && !json_is_null(enc) && !json_is_false(enc) &&
            !(json_is_string(enc) && streq(json_string_value(enc), "false")))
                fp_error(p, yaml_node_get(n, "encryptBody") ?: n,
                         "%s: 'encryptBody' is not supported by this build (Kestra encrypts the body with its own "
                         "secret key); remove it or set it to false", what);
        json_t *ssl = json_object_get(props, "sslOptions");
        const char *k;
        json_t *v;
        json_object_foreach(ssl, k, v) {
                (void) v;
                if (!streq(k, "insecureTrustAllCertificates"))
                        fp_error(p, yaml_node_get(n, "sslOptions") ?: n,
                                 "%s: sslOptions '%.100s' is not supported by this build; only "
                                 "insecureTrustAllCertificates is",
                                 what, k);
        }
}

int fp_parse_task_list(FlowParser *p, const YamlNode *n, Task *parent, const char *what, Task ***ret, size_t *n_ret) {
        *ret = NULL;
        *n_ret = 0;
        if (!n || yaml_scalar_type(n) == YAML_SCALAR_NULL)
                return 0;
        if (n->kind != YAML_NODE_SEQ) {
                fp_error(p, n, "%s must be a list of tasks, not %s", what, yaml_node_describe(n));
                return -EINVAL;
        }
        Task **tasks = calloc(n->n_children ?: 1, sizeof *tasks);
        size_t k = 0;
        if (!tasks) {
                fp_oom(p);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n->n_children; i++) {
                Task *t = fp_parse_task(p, n->children[i], parent);
                if (t)
                        tasks[k++] = t;
        }
        *ret = tasks;
        *n_ret = k;
        return 0;
}

static const char *const retry_types[] = { "constant", "exponential", "random", NULL };

/* Kestra 0.24 renamed maxAttempt to maxAttempts and kept the old name as an alias: both are read. */
Retry *fp_parse_retry(FlowParser *p, const YamlNode *n) {
        static const char *const common[] = { "type", "behavior", "maxAttempts", "maxAttempt", "maxDuration", "warningOnRetry", NULL };
        static const char *const constant_keys[] = { "type", "behavior", "maxAttempts", "maxAttempt", "maxDuration",
                                                     "warningOnRetry", "interval", NULL };
        static const char *const exponential_keys[] = { "type",        "behavior",       "maxAttempts", "maxAttempt",
                                                        "maxDuration", "warningOnRetry", "interval",    "maxInterval",
                                                        "delayFactor", NULL };
        static const char *const random_keys[] = { "type",           "behavior",    "maxAttempts", "maxAttempt", "maxDuration",
                                                   "warningOnRetry", "minInterval", "maxInterval", NULL };
        _cleanup_free_ Retry *r = NULL;

        if (!n || n->kind != YAML_NODE_MAP) {
                fp_error(p, n, "retry must be a map with a 'type' (constant, exponential or random), not %s",
                         yaml_node_describe(n));
                return NULL;
        }
        r = calloc(1, sizeof *r);
        if (!r) {
                fp_oom(p);
                return NULL;
        }
        *r = (Retry) { .max_attempt = -1, .max_duration = -1, .interval = -1, .min_interval = -1,
                       .max_interval = -1, .pos = flow_pos(n) };

        const YamlNode *type = yaml_node_get(n, "type");
        const char *const *keys = common;
        if (!type)
                fp_error(p, n, "retry without 'type' (constant, exponential or random)");
        else if (!yaml_node_is_scalar(type) || !strv_contains((char **) retry_types, type->value))
                fp_error(p, type, "invalid retry type '%.100s', expected constant, exponential or random",
                         yaml_node_is_scalar(type) ? type->value : yaml_node_describe(type));
        else if (streq(type->value, "constant"))
                r->type = RETRY_CONSTANT, keys = constant_keys;
        else if (streq(type->value, "exponential"))
                r->type = RETRY_EXPONENTIAL, keys = exponential_keys;
        else
                r->type = RETRY_RANDOM, keys = random_keys;

        for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                const YamlNode *k = n->children[i], *v = n->children[i + 1];
                const char *key = k->value;
                _cleanup_free_ char *what = strdup_printf("retry '%s'", key);
                if (!what) {
                        fp_oom(p);
                        return NULL;
                }
                if (!strv_contains((char **) keys, key)) {
                        fp_unknown_key(p, k, keys == common ? "retry" : type->value, keys);
                        continue;
                }
                if (streq(key, "type"))
                        continue;
                if (streq(key, "behavior")) {
                        if (!yaml_node_is_scalar(v) ||
                            !(streq(v->value, "RETRY_FAILED_TASK") || streq(v->value, "CREATE_NEW_EXECUTION")))
                                fp_error(p, v, "invalid retry behavior '%.100s', expected RETRY_FAILED_TASK or CREATE_NEW_EXECUTION",
                                         yaml_node_is_scalar(v) ? v->value : yaml_node_describe(v));
                        else
                                r->behavior = streq(v->value, "CREATE_NEW_EXECUTION") ? RETRY_BEHAVIOR_CREATE_NEW_EXECUTION
                                                                                      : RETRY_BEHAVIOR_RETRY_FAILED_TASK;
                } else if (streq(key, "maxAttempts") || streq(key, "maxAttempt")) {
                        if (streq(key, "maxAttempt") && yaml_node_get(n, "maxAttempts"))
                                fp_error(p, k, "retry has both 'maxAttempts' and 'maxAttempt' (its older name): keep one");
                        else if (fp_check_int(p, v, what, &r->max_attempt) && r->max_attempt < 1)
                                fp_error(p, v, "retry %s must be at least 1", key);
                } else if (streq(key, "maxDuration"))
                        (void) fp_parse_duration(p, v, what, &r->max_duration);
                else if (streq(key, "interval"))
                        (void) fp_parse_duration(p, v, what, &r->interval);
                else if (streq(key, "minInterval"))
                        (void) fp_parse_duration(p, v, what, &r->min_interval);
                else if (streq(key, "maxInterval"))
                        (void) fp_parse_duration(p, v, what, &r->max_interval);
                else if (streq(key, "warningOnRetry"))
                        (void) fp_check_bool(p, v, what, &r->warning_on_retry);
                else if (streq(key, "delayFactor")) {
                        if (yaml_scalar_double(v, &r->delay_factor) < 0)
                                fp_error(p, v, "retry delayFactor must be a number, not %s", yaml_node_describe(v));
                }
        }
        if (type && yaml_node_is_scalar(type)) {
                const char *missing = NULL;
                if ((r->type == RETRY_CONSTANT || r->type == RETRY_EXPONENTIAL) && !yaml_node_get(n, "interval"))
                        missing = "interval";
                else if (r->type == RETRY_EXPONENTIAL && !yaml_node_get(n, "maxInterval"))
                        missing = "maxInterval";
                else if (r->type == RETRY_RANDOM && !yaml_node_get(n, "minInterval"))
                        missing = "minInterval";
                else if (r->type == RETRY_RANDOM && !yaml_node_get(n, "maxInterval"))
                        missing = "maxInterval";
                if (missing && strv_contains((char **) retry_types, type->value))
                        fp_error(p, n, "%s retry is missing required property '%s'", type->value, missing);
        }
        return TAKE_PTR(r);
}

int fp_parse_condition(FlowParser *p, const YamlNode *n, const char *what) {
        if (!n || n->kind != YAML_NODE_MAP) {
                fp_error(p, n, "%s must be a map with a 'type', not %s", what, yaml_node_describe(n));
                return -EINVAL;
        }
        const YamlNode *type = yaml_node_get(n, "type");
        if (!type || !yaml_node_is_scalar(type)) {
                fp_error(p, type ?: n, "%s without a 'type'", what);
                return -EINVAL;
        }
        const TaskType *def = task_type_lookup(TASK_TYPE_CONDITION, type->value);
        if (!def) {
                const char *hint = task_type_suggest(TASK_TYPE_CONDITION, type->value);
                if (hint)
                        fp_error(p, type, "unknown condition type '%.200s'; did you mean '%s'?", type->value, hint);
                else
                        fp_error(p, type, "unknown condition type '%.200s'", type->value);
                return -EINVAL;
        }
        if (!task_type_can_run(def))
                fp_error(p, type, "condition type '%.200s' is known but this build cannot evaluate it (%s)", type->value,
                         def->unsupported); /* its properties are still checked below */
        for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                const YamlNode *k = n->children[i], *v = n->children[i + 1];
                if (streq(k->value, "type"))
                        continue;
                const TaskProperty *prop = task_type_property(def, k->value);
                if (!prop) {
                        const char *cands[64];
                        size_t c = 0;
                        for (const TaskProperty *q = def->properties; q && q->name && c < 62; q++)
                                cands[c++] = q->name;
                        cands[c++] = "type";
                        cands[c] = NULL;
                        _cleanup_free_ char *where = strdup_printf("condition %s", def->name);
                        fp_unknown_key(p, k, where ?: "condition", cands);
                        continue;
                }
                _cleanup_free_ char *w = strdup_printf("'%s' of condition %s", prop->name, def->name);
                if (!w) {
                        fp_oom(p);
                        return -ENOMEM;
                }
                (void) fp_check_value(p, v, prop, w);
        }
        for (const TaskProperty *prop = def->properties; prop && prop->name; prop++)
                if (prop->required && !yaml_node_get(n, prop->name))
                        fp_error(p, n, "condition %s is missing required property '%s'", def->name, prop->name);
        return 0;
}

int fp_parse_conditions(FlowParser *p, const YamlNode *n, const char *what) {
        if (!n || yaml_scalar_type(n) == YAML_SCALAR_NULL)
                return 0;
        if (n->kind != YAML_NODE_SEQ) {
                fp_error(p, n, "%s must be a list of conditions, not %s", what, yaml_node_describe(n));
                return -EINVAL;
        }
        for (size_t i = 0; i < n->n_children; i++)
                (void) fp_parse_condition(p, n->children[i], "a condition");
        return 0;
}

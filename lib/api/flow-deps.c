/* flow-deps.c: the flow dependency graph (see flow-deps.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "flow-deps.h"
#include "strutil.h"
#include "task-types.h"

static char *uid(const char *ns, const char *id) {
        return strdup_printf("%s_%s", ns, id);
}

/* A literal flow name: a string without an expression. */
static bool literal(const char *s) {
        return !isempty(s) && !strstr(s, "{{") && !strstr(s, "{%");
}

static int edge_add(json_t *edges, const char *src_ns, const char *src_id, const char *dst_ns, const char *dst_id,
                    const char *relation) {
        _cleanup_free_ char *s = uid(src_ns, src_id), *d = uid(dst_ns, dst_id);
        if (!s || !d)
                return -1;
        json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "source", s, "target", d, "relation", relation,
                              "_sns", src_ns, "_sid", src_id, "_dns", dst_ns, "_did", dst_id);
        size_t i;
        json_t *o;
        json_array_foreach(edges, i, o)
                if (streq(json_string_value(json_object_get(o, "source")), s) &&
                    streq(json_string_value(json_object_get(o, "target")), d) &&
                    streq(json_string_value(json_object_get(o, "relation")), relation)) {
                        json_decref(e);
                        return 0;
                }
        return e ? json_array_append_new(edges, e) : -1;
}

static int tasks_edges(json_t *edges, const Flow *f, Task *const *tasks, size_t n) {
        for (size_t i = 0; i < n; i++) {
                const Task *t = tasks[i];
                const char *ns = json_string_value(json_object_get(t->properties, "namespace"));
                const char *id = json_string_value(json_object_get(t->properties, "flowId"));
                if (t->def && t->def->role == TASK_ROLE_EXECUTABLE && literal(ns) && literal(id) &&
                    edge_add(edges, f->namespace, f->id, ns, id, "FLOW_TASK") < 0)
                        return -1;
                for (size_t b = 0; b < t->n_branches; b++)
                        if (tasks_edges(edges, f, t->branches[b].tasks, t->branches[b].n_tasks) < 0)
                                return -1;
        }
        return 0;
}

/* {namespace, flowId} objects of a list (conditions, preconditions.flows) naming a flow whose
 * executions trigger f. */
static int trigger_edges(json_t *edges, const Flow *f, json_t *list, bool conditions) {
        size_t i;
        json_t *c;
        json_array_foreach(list, i, c) {
                const char *type = json_string_value(json_object_get(c, "type"));
                const char *ns = json_string_value(json_object_get(c, "namespace"));
                const char *id = json_string_value(json_object_get(c, "flowId"));
                if (conditions && (!type || !strstr(type, "ExecutionFlow")))
                        continue;
                if (literal(ns) && literal(id) && edge_add(edges, ns, id, f->namespace, f->id, "FLOW_TRIGGER") < 0)
                        return -1;
        }
        return 0;
}

static int flow_edges(json_t *edges, const Flow *f) {
        if (tasks_edges(edges, f, f->tasks, f->n_tasks) < 0 || tasks_edges(edges, f, f->errors, f->n_errors) < 0 ||
            tasks_edges(edges, f, f->finally, f->n_finally) < 0 ||
            tasks_edges(edges, f, f->after_execution, f->n_after_execution) < 0)
                return -1;
        for (size_t i = 0; i < f->n_triggers; i++) {
                const Trigger *t = &f->triggers[i];
                if (!t->def || t->def->kind != TASK_TYPE_TRIGGER || !streq(t->def->name, "Flow"))
                        continue;
                json_t *pre = json_object_get(t->properties, "preconditions");
                if (trigger_edges(edges, f, t->conditions, true) < 0 ||
                    trigger_edges(edges, f, json_object_get(pre, "flows"), false) < 0)
                        return -1;
        }
        return 0;
}

static int node_add(json_t *nodes, const char *ns, const char *id) {
        _cleanup_free_ char *u = uid(ns, id);
        if (!u)
                return -1;
        if (json_object_get(nodes, u))
                return 0;
        return json_object_set_new(nodes, u, json_pack("{s:s, s:s, s:s}", "uid", u, "namespace", ns, "id", id));
}

/* The graph's JSON: the nodes (an object by uid) as a list, and the edges; consumes neither. */
static json_t *graph_json(json_t *nodes, json_t *edges) {
        json_t *list = json_array();
        const char *k;
        json_t *v;
        json_object_foreach(nodes, k, v)
                if (!list || json_array_append(list, v) < 0) {
                        json_decref(list);
                        return NULL;
                }
        return json_pack("{s:o, s:O}", "nodes", list, "edges", edges);
}

/* Every edge among the flows, with its ends' namespaces and ids ("_sns", "_sid", "_dns", "_did"). */
static json_t *all_edges(const Flow *const *flows, size_t n) {
        json_t *all = json_array();
        for (size_t i = 0; all && i < n; i++)
                if (flow_edges(all, flows[i]) < 0)
                        return json_decref(all), NULL;
        return all;
}

json_t *api_flow_dependencies(const Flow *const *flows, size_t n, const char *ns, const char *id, bool expand_all) {
        _cleanup_json_ json_t *all = all_edges(flows, n), *nodes = json_object(), *edges = json_array();
        if (!all || !nodes || !edges)
                return NULL;
        _cleanup_free_ char *me = uid(ns, id);
        if (!me || node_add(nodes, ns, id) < 0)
                return NULL;
        /* From the flow outwards: the edges touching a node in the graph bring their other end in;
         * without expand_all only the flow's own edges. */
        bool grew = true;
        json_t *taken = json_object();
        if (!taken)
                return NULL;
        while (grew) {
                grew = false;
                size_t i;
                json_t *e;
                json_array_foreach(all, i, e) {
                        const char *s = json_string_value(json_object_get(e, "source"));
                        const char *t = json_string_value(json_object_get(e, "target"));
                        char key[32];
                        snprintf(key, sizeof key, "%zu", i);
                        if (json_object_get(taken, key))
                                continue;
                        bool touches = expand_all ? (json_object_get(nodes, s) || json_object_get(nodes, t))
                                                  : (streq_ptr(s, me) || streq_ptr(t, me));
                        if (!touches)
                                continue;
                        if (node_add(nodes, json_string_value(json_object_get(e, "_sns")),
                                     json_string_value(json_object_get(e, "_sid"))) < 0 ||
                            node_add(nodes, json_string_value(json_object_get(e, "_dns")),
                                     json_string_value(json_object_get(e, "_did"))) < 0 ||
                            json_array_append_new(edges, json_pack("{s:s, s:s, s:O}", "source", s, "target", t, "relation",
                                                                   json_object_get(e, "relation"))) < 0 ||
                            json_object_set_new(taken, key, json_true()) < 0) {
                                json_decref(taken);
                                return NULL;
                        }
                        grew = expand_all;
                }
        }
        json_decref(taken);
        return graph_json(nodes, edges);
}

/* ns itself or below it: "a" holds "a" and "a.b", not "ab". */
static bool in_namespace(const char *flow_ns, const char *ns) {
        size_t len = strlen(ns);
        return flow_ns && strncmp(flow_ns, ns, len) == 0 && (flow_ns[len] == '\0' || flow_ns[len] == '.');
}

json_t *api_namespace_dependencies(const Flow *const *flows, size_t n, const char *ns) {
        _cleanup_json_ json_t *all = all_edges(flows, n), *nodes = json_object(), *edges = json_array();
        if (!all || !nodes || !edges)
                return NULL;
        for (size_t i = 0; i < n; i++)
                if (in_namespace(flows[i]->namespace, ns) && node_add(nodes, flows[i]->namespace, flows[i]->id) < 0)
                        return NULL;
        size_t i;
        json_t *e;
        json_array_foreach(all, i, e) {
                const char *sns = json_string_value(json_object_get(e, "_sns"));
                const char *dns = json_string_value(json_object_get(e, "_dns"));
                if (!in_namespace(sns, ns) && !in_namespace(dns, ns))
                        continue;
                if (node_add(nodes, sns, json_string_value(json_object_get(e, "_sid"))) < 0 ||
                    node_add(nodes, dns, json_string_value(json_object_get(e, "_did"))) < 0 ||
                    json_array_append_new(edges, json_pack("{s:O, s:O, s:O}", "source", json_object_get(e, "source"),
                                                           "target", json_object_get(e, "target"), "relation",
                                                           json_object_get(e, "relation"))) < 0)
                        return NULL;
        }
        return graph_json(nodes, edges);
}

/* flow-graph.c: a flow's topology as Kestra's FlowGraph (see flow-graph.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "flow-graph.h"
#include "strutil.h"
#include "task-types.h"

#define HIER "io.kestra.core.models.hierarchies."

typedef struct Graph {
        json_t *nodes, *edges, *clusters;
        bool oom;
} Graph;

static void add_node(Graph *g, const char *uid, const char *type, const char *what, const char *id, const char *cls,
                     const char *relation) {
        json_t *n = json_pack("{s:s, s:s}", "uid", uid, "type", type);
        if (n && what && json_object_set_new(n, what, json_pack("{s:s, s:s}", "id", id, "type", cls)) < 0)
                json_decref(n), n = NULL;
        if (n && relation && json_object_set_new(n, "relationType", json_string(relation)) < 0)
                json_decref(n), n = NULL;
        if (!n || json_array_append_new(g->nodes, n) < 0)
                g->oom = true;
}

static void add_edge(Graph *g, const char *source, const char *target, const char *relation, const char *value) {
        json_t *e = json_pack("{s:s, s:s, s:{s:s, s:s?}}", "source", source, "target", target, "relation",
                              "relationType", relation, "value", value);
        if (!e || json_array_append_new(g->edges, e) < 0)
                g->oom = true;
}

/* How a flowable task's branch runs. */
static const char *branch_relation(const Task *t, const TaskBranch *b) {
        if (streq(b->name, "errors"))
                return "ERROR";
        if (streq(b->name, "finally"))
                return "FINALLY";
        switch (t->def ? t->def->hook : TASK_HOOK_NONE) {
        case TASK_HOOK_IF:
        case TASK_HOOK_SWITCH:
                return "CHOICE";
        case TASK_HOOK_PARALLEL:
        case TASK_HOOK_DAG:
                return "PARALLEL";
        case TASK_HOOK_FOR_EACH:
        case TASK_HOOK_EACH_SEQUENTIAL:
        case TASK_HOOK_EACH_PARALLEL:
                return "DYNAMIC";
        default:
                return "SEQUENTIAL";
        }
}

static void add_tasks(Graph *g, Task **tasks, size_t n, const char *prefix, const char *relation, json_t *parents,
                      const char *from, const char *to);

/* A cluster for a list of tasks (their uids below prefix; task ids are unique in a flow), with its
 * own start and end nodes, linked from 'from' and to 'to'. */
static void add_cluster(Graph *g, const char *uid, const char *prefix, const char *task_node, const char *relation,
                        const char *value, Task **tasks, size_t n, json_t *parents, const char *from, const char *to) {
        _cleanup_free_ char *start = strjoin(uid, ".root"), *end = strjoin(uid, ".end");
        _cleanup_json_ json_t *inner = json_deep_copy(parents);
        size_t first = json_array_size(g->nodes);
        if (!start || !end || !inner || json_array_append_new(inner, json_string(uid)) < 0) {
                g->oom = true;
                return;
        }
        add_node(g, start, HIER "GraphClusterRoot", NULL, NULL, NULL, NULL);
        add_node(g, end, HIER "GraphClusterEnd", NULL, NULL, NULL, NULL);
        add_edge(g, from, start, relation, value);
        add_tasks(g, tasks, n, prefix, relation, inner, start, end);
        if (to)
                add_edge(g, end, to, "SEQUENTIAL", NULL);
        json_t *members = json_array();
        for (size_t i = first; members && i < json_array_size(g->nodes); i++)
                if (json_array_append(members, json_object_get(json_array_get(g->nodes, i), "uid")) < 0)
                        g->oom = true;
        json_t *c =
                members ? json_pack("{s:{s:s, s:s, s:s, s:s?, s:s?}, s:o, s:O, s:s, s:s}", "cluster", "uid", uid,
                                    "type", HIER "GraphCluster", "relationType", relation, "value", value, "taskNode",
                                    task_node, "nodes", members, "parents", parents, "start", start, "end", end)
                        : NULL;
        if (!c || json_array_append_new(g->clusters, c) < 0)
                g->oom = true;
}

/* The tasks of a list, one after the other (or side by side for PARALLEL), from 'from' to 'to'. */
static void add_tasks(Graph *g, Task **tasks, size_t n, const char *prefix, const char *relation, json_t *parents,
                      const char *from, const char *to) {
        _cleanup_free_ char *prev = strdup(from);
        bool side_by_side = streq(relation, "PARALLEL");
        if (!prev) {
                g->oom = true;
                return;
        }
        for (size_t i = 0; i < n && !g->oom; i++) {
                const Task *t = tasks[i];
                _cleanup_free_ char *uid = strjoin(prefix, ".", t->id);
                if (!uid) {
                        g->oom = true;
                        return;
                }
                add_node(g, uid, HIER "GraphTask", "task", t->id, t->type, relation);
                /* A Pause's onResume inputs: what a page asks for to resume it. */
                json_t *on_resume = task_property(t, "onResume");
                if (!g->oom && on_resume &&
                    json_object_set(json_object_get(json_array_get(g->nodes, json_array_size(g->nodes) - 1), "task"),
                                    "onResume", on_resume) < 0)
                        g->oom = true;
                add_edge(g, side_by_side ? from : prev, uid, relation, NULL);
                const char *exit = uid;
                _cleanup_free_ char *end = NULL;
                if (t->n_branches > 0) {
                        /* Its branches come out of the task and meet again at its end. */
                        if (!(end = strjoin(uid, ".end"))) {
                                g->oom = true;
                                return;
                        }
                        add_node(g, end, HIER "GraphClusterEnd", NULL, NULL, NULL, NULL);
                        for (size_t b = 0; b < t->n_branches; b++) {
                                const TaskBranch *br = &t->branches[b];
                                _cleanup_free_ char *cuid = strjoin("cluster_", uid, "_", br->case_value ?: br->name);
                                if (!cuid) {
                                        g->oom = true;
                                        return;
                                }
                                add_cluster(g, cuid, uid, uid, branch_relation(t, br), br->case_value ?: br->name,
                                            br->tasks, br->n_tasks, parents, uid, end);
                        }
                        exit = end;
                }
                if (side_by_side) {
                        if (to)
                                add_edge(g, exit, to, "SEQUENTIAL", NULL);
                } else {
                        char *x = strdup(exit);
                        if (!x) {
                                g->oom = true;
                                return;
                        }
                        free(prev);
                        prev = x;
                }
        }
        if (!side_by_side && to)
                add_edge(g, prev, to, "SEQUENTIAL", NULL);
}

json_t *api_flow_graph(const Flow *f) {
        Graph g = {json_array(), json_array(), json_array(), false};
        _cleanup_json_ json_t *none = json_array();
        if (!g.nodes || !g.edges || !g.clusters || !none)
                g.oom = true;
        if (!g.oom) {
                add_node(&g, "root.root", HIER "GraphClusterRoot", NULL, NULL, NULL, NULL);
                add_node(&g, "root.end", HIER "GraphClusterEnd", NULL, NULL, NULL, NULL);
        }
        if (!g.oom && f->n_triggers > 0) {
                /* Triggers start the flow: each one leads to its root. */
                _cleanup_json_ json_t *members = json_array();
                for (size_t i = 0; members && i < f->n_triggers; i++) {
                        _cleanup_free_ char *uid = strjoin("Triggers.", f->triggers[i].id);
                        if (!uid || json_array_append_new(members, json_string(uid)) < 0) {
                                g.oom = true;
                                break;
                        }
                        add_node(&g, uid, HIER "GraphTrigger", "trigger", f->triggers[i].id, f->triggers[i].type, NULL);
                        add_edge(&g, uid, "root.root", "SEQUENTIAL", NULL);
                }
                json_t *c = members ? json_pack("{s:{s:s, s:s, s:s}, s:O, s:O}", "cluster", "uid", "Triggers", "type",
                                                HIER "GraphCluster", "relationType", "SEQUENTIAL", "nodes", members,
                                                "parents", none)
                                    : NULL;
                if (!c || json_array_append_new(g.clusters, c) < 0)
                        g.oom = true;
        }
        if (!g.oom)
                add_tasks(&g, f->tasks, f->n_tasks, "root", "SEQUENTIAL", none, "root.root", "root.end");
        /* errors run when a task failed, finally and afterExecution after all: from the root. */
        if (!g.oom && f->n_errors > 0)
                add_cluster(&g, "cluster_root_errors", "root", NULL, "ERROR", "errors", f->errors, f->n_errors, none,
                            "root.root", NULL);
        if (!g.oom && f->n_finally > 0)
                add_cluster(&g, "cluster_root_finally", "root", NULL, "FINALLY", "finally", f->finally, f->n_finally,
                            none, "root.root", "root.end");
        if (!g.oom && f->n_after_execution > 0)
                add_cluster(&g, "cluster_root_afterExecution", "root", NULL, "SEQUENTIAL", "afterExecution",
                            f->after_execution, f->n_after_execution, none, "root.root", "root.end");
        if (g.oom) {
                json_decref(g.nodes);
                json_decref(g.edges);
                json_decref(g.clusters);
                return NULL;
        }
        return json_pack("{s:o, s:o, s:o}", "nodes", g.nodes, "edges", g.edges, "clusters", g.clusters);
}

/* flow-deps.h: Kestra's flow dependencies (GET /api/v1/flows/{namespace}/{id}/dependencies, and
 * of a namespace): which flows a flow calls as subflows, and which flows' executions trigger it or
 * it triggers. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "flow.h"

/* The graph around ns.id among flows (every stored flow, latest revisions): Kestra's
 * FlowTopologyGraph, {nodes: [{uid, namespace, id}], edges: [{source, target, relation}]}, uid
 * "namespace_id"; relation FLOW_TASK (source calls target: Subflow, ForEachItem) or FLOW_TRIGGER
 * (source's executions trigger target: a Flow trigger's ExecutionFlow conditions and
 * preconditions). Only what names its flows literally counts (an expression cannot be followed).
 * expand_all: the flows linked to those too, and so on; otherwise the edges touching ns.id. NULL
 * when out of memory. */
json_t *api_flow_dependencies(const Flow *const *flows, size_t n, const char *ns, const char *id, bool expand_all);

/* The same graph around a namespace: every flow of ns or below it ("a" holds "a.b") as a node, even
 * without links, and every edge with an end there (its other end may be elsewhere), as Kestra's
 * namespace graph. NULL when out of memory. */
json_t *api_namespace_dependencies(const Flow *const *flows, size_t n, const char *ns);

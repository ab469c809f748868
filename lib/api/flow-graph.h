/* flow-graph.h: a flow's topology as Kestra's FlowGraph (GET /api/v1/flows/{ns}/{id}/graph). */
#pragma once

#include <jansson.h>

#include "flow.h"

/* {nodes, edges, clusters}, Kestra's shape: nodes {uid, type (GraphTask, GraphTrigger,
 * GraphClusterRoot, GraphClusterEnd, io.kestra.core.models.hierarchies.*), task|trigger {id, type;
 * a Pause's onResume input declarations as written},
 * relationType}; edges {source, target, relation {relationType, value}} (SEQUENTIAL, PARALLEL,
 * CHOICE, ERROR, FINALLY, DYNAMIC); clusters {cluster {uid, type, relationType, value, taskNode},
 * nodes, parents, start, end}: one per branch of a flowable task (value: the branch's name or the
 * Switch case), and one each for the flow's triggers, errors, finally and afterExecution. NULL when
 * out of memory. */
json_t *api_flow_graph(const Flow *f);

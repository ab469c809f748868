/* executor-subflow.h: what a subflow or retry execution the engine asked for starts with, the same on every
 * queue backend (the database's executor.c and Kafka's executor-kafka.c). */
#pragma once

#include <jansson.h>

#include "execution-create.h"
#include "execution.h"

typedef struct ExecutorSubflow {
        json_t *labels, *trigger, *engine; /* owned; n points at them */
        ApiExecutionNew n;
} ExecutorSubflow;

/* From req (an EngineEffects.subflows entry) of parent: labels (the parent's when inherited, the
 * task's own on top; the correlation id follows the chain of executions), the trigger naming the
 * parent, the bookkeeping that tells the parent when the child ends, and req's id and inputs.
 * 0 or -ENOMEM; free with executor_subflow_done() either way. */
int executor_subflow_prepare(const Execution *parent, json_t *req, ExecutorSubflow *ret);
void executor_subflow_done(ExecutorSubflow *s);

/* What the next execution of a retry chain (retry behavior CREATE_NEW_EXECUTION) starts with, from
 * the engine's request: the same inputs (as they were resolved), labels, trigger and parent. The
 * fields borrow from req. */
ApiExecutionNew executor_retry_new(json_t *req, const EngineConfig *cfg);

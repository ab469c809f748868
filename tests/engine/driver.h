/* driver.h: an in-memory executor for tests: runs executions with the real engine and the real
 * worker task implementations, without a database. Delayed events wait in real time. Ids count up
 * from 0000000000000000000001 in the order the engine asks for them, so a run's ids are the same at
 * every run. */
#pragma once

#include "engine.h"
#include "flow.h"

typedef struct Driver Driver;

int driver_new(const char *work_root, Driver **ret);
Driver *driver_free(Driver *d);
DEFINE_FREE_CLEANUP(Driver, driver_free)
/* Make a flow available for subflows (the driver takes ownership). */
int driver_add_flow(Driver *d, Flow *f);
/* Create an execution of flow (inputs already resolved) and queue its "created" event. */
int driver_start(Driver *d, const Flow *f, json_t *inputs, json_t *labels, Execution **ret);
/* Queue an event (kill, resume, restart...) for an execution. */
int driver_send(Driver *d, const char *execution_id, const char *type, json_t *payload);
/* Process events until none is left or every remaining one is a timer further than max_wait away.
 * Returns the number of events applied. */
int driver_run(Driver *d, usec_t max_wait);
/* Logs of every execution: [{executionId, taskRunId, taskId, level, message}] (borrowed). */
json_t *driver_logs(Driver *d);
Execution *driver_execution(Driver *d, const char *id);

/* What the engine tests share: a flow from YAML (its diagnostics printed on stdout when it does not
 * load), and a run of it to its end in a new driver under work_root (NULL when anything fails; the
 * driver keeps the flow). */
Flow *driver_load_yaml(const char *yaml);
Execution *driver_run_yaml(const char *work_root, Driver **d, const char *yaml);
/* A task's run by task id, and its state's name ("(none)" when it has none). */
const TaskRun *driver_run_of(const Execution *e, const char *task_id);
const char *driver_state_of(const Execution *e, const char *task_id);

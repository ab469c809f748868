/* engine-replay.h: Kestra's replay: a new execution of the same flow revision that keeps what ran
 * before a chosen task run and runs again from it. Pure: no I/O. */
#pragma once

#include "engine.h"
#include "execution.h"
#include "timeutil.h"

/* Build the new execution from old (an ended one; the caller checks): a new id from cfg's id source
 * (cfg may be NULL: random), state CREATED at
 * now, old's inputs, labels, variables and trigger, originalId = old's id. With task_run_id, the
 * task runs listed before it are kept as they ended, except its flowable ancestors, which are kept
 * RUNNING so that the engine walks them again; the chosen one, everything under it and everything
 * listed after it are dropped, so they run again. Without (NULL), no task run is kept: the flow
 * runs again from the start. Store it with a "created" event. -ENOENT when old has no such task
 * run, -ENOMEM. */
int engine_replay(const EngineConfig *cfg, const Execution *old, const char *task_run_id, usec_t now, Execution **ret);

/* engine-replay.c: the new execution of a replay (see engine-replay.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "engine-replay.h"
#include "strutil.h"

/* Whether tr is chosen or one of its ancestors (all of old). */
static bool is_ancestor_of(const Execution *e, const TaskRun *tr, const TaskRun *chosen) {
        for (size_t guard = 0; chosen && guard <= e->n_task_runs; guard++) {
                if (chosen == tr)
                        return true;
                chosen = chosen->parent_task_run_id ? execution_find_task_run(e, chosen->parent_task_run_id) : NULL;
        }
        return false;
}

int engine_replay(const EngineConfig *cfg, const Execution *old, const char *task_run_id, usec_t now, Execution **ret) {
        _cleanup_execution_ Execution *e = NULL;
        StateInfo created;
        int r;

        if (task_run_id && !execution_find_task_run(old, task_run_id))
                return -ENOENT;
        /* A copy keeps the task runs with their ids, attempts, outputs and bookkeeping; the
         * execution itself is new: its own id, and CREATED now. */
        if ((r = execution_copy(old, &e)) < 0 || (r = engine_new_id(cfg, e->id)) < 0 ||
            (r = state_info_init(&created, STATE_CREATED, now)) < 0)
                return r;
        state_info_done(&e->state);
        e->state = created;
        free(e->original_id);
        if (!(e->original_id = strdup(old->id)))
                return -ENOMEM;
        /* A replay is a top-level execution of its own: no parent to report to, no SLA verdict,
         * no outputs yet. */
        free(e->parent_id);
        e->parent_id = NULL;
        json_decref(e->engine);
        e->engine = NULL;
        json_decref(e->outputs);
        e->outputs = NULL;

        TaskRun *chosen = task_run_id ? execution_find_task_run(e, task_run_id) : NULL;
        size_t keep = 0;
        if (chosen)
                while (keep < e->n_task_runs && e->task_runs[keep] != chosen)
                        keep++;
        /* Drop from the end so that the indexes below stay valid. */
        while (e->n_task_runs > keep)
                execution_remove_task_run(e, e->task_runs[e->n_task_runs - 1]);
        /* What is left was listed before the chosen one: ended runs stay as they are; its
         * flowable ancestors run again from where they were (their children decide what is next). */
        const TaskRun *target = task_run_id ? execution_find_task_run(old, task_run_id) : NULL;
        for (size_t i = 0; target && i < e->n_task_runs; i++) {
                TaskRun *tr = e->task_runs[i];
                if (!is_ancestor_of(old, execution_find_task_run(old, tr->id), target))
                        continue;
                if ((r = state_info_force(&tr->state, STATE_RUNNING, now)) < 0)
                        return r;
                /* A WorkingDirectory's pinned worker held the original's directory, which is gone. */
                if (tr->engine)
                        json_object_del(tr->engine, "worker");
        }
        *ret = TAKE_PTR(e);
        return 0;
}

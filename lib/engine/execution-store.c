/* execution-store.c: an execution's indexed columns for the store (see execution-store.h). */
#include <errno.h>
#include <stdlib.h>

#include "execution-store.h"

int execution_store_meta(const Execution *e, usec_t now, StoreExecutionMeta *ret) {
        StoreTaskRunMeta *trs = NULL;

        if (e->n_task_runs > 0) {
                trs = calloc(e->n_task_runs, sizeof *trs);
                if (!trs)
                        return -ENOMEM;
        }
        for (size_t i = 0; i < e->n_task_runs; i++)
                trs[i] = (StoreTaskRunMeta) { .id = e->task_runs[i]->id,
                                              .state = state_to_string(e->task_runs[i]->state.current) };
        usec_t created = state_info_start_date(&e->state), ended = 0;
        if (state_is_terminal(e->state.current) && (ended = state_info_end_date(&e->state)) == 0)
                ended = now;
        *ret = (StoreExecutionMeta) {
                .id = e->id,
                .namespace = e->namespace,
                .flow_id = e->flow_id,
                .flow_revision = e->flow_revision,
                .state = state_to_string(e->state.current),
                .parent_id = e->parent_id,
                .created = created ? created : now,
                .ended = ended,
                .labels = e->labels,
                .task_runs = trs,
                .n_task_runs = e->n_task_runs,
        };
        return 0;
}

void execution_store_meta_done(StoreExecutionMeta *m) {
        free((StoreTaskRunMeta *) m->task_runs);
        *m = (StoreExecutionMeta) {};
}

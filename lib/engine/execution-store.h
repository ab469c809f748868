/* execution-store.h: what the store indexes an execution by, derived from the execution by the engine
 * (which knows what its states and dates mean) so that the store never reads the document. */
#pragma once

#include "execution.h"
#include "store.h"

/* Fill *ret for e and its document (execution_to_json(e)): ids, state, dates (the end only once e is
 * terminal), labels and each task run's id and state. Strings and labels are borrowed from e, which
 * must outlive *ret and stay unchanged; dates missing from e's history (a document made elsewhere)
 * count as now. Free with execution_store_meta_done(). 0 or -ENOMEM. */
int execution_store_meta(const Execution *e, usec_t now, StoreExecutionMeta *ret);
void execution_store_meta_done(StoreExecutionMeta *m);

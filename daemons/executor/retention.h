/* retention.h: [storage] retention: a thread of the executor component that deletes ended
 * executions older than the retention period, with their files and logs (lib/api/purge.h). */
#pragma once

#include "store.h"
#include "timeutil.h"

typedef struct Retention Retention;

/* Purge now and then every `every` (0: a fraction of keep, at most an hour), on a thread with
 * store (taken over: a connection of its own) and its own handle on storage_url. */
int retention_start(Store *store, const char *storage_url, usec_t keep, usec_t every, Retention **ret);
/* Stop the thread (a purge in progress ends after its batch) and free everything. */
Retention *retention_free(Retention *r);
DEFINE_FREE_CLEANUP(Retention, retention_free)

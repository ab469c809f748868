/* purge.h: retention: ended executions older than a cutoff are deleted with their files in
 * internal storage, then old logs and expired KV entries, in batches of short transactions. */
#pragma once

#include <stdint.h>

#include "storage.h"
#include "store.h"

typedef struct ApiPurgeStats {
        uint64_t executions, logs, kv;
} ApiPurgeStats;

/* Executions that ended before older_than, batch (0: 100) per transaction: each batch's files are
 * deleted first, then its rows, so that a failure leaves rows whose files a later run deletes,
 * never files nobody knows of. Returns 0, or a negative errno with *ret_error (what failed, on
 * what); *ret counts what went before the failure too. */
int api_purge(Store *st, Storage *storage, usec_t older_than, size_t batch, usec_t now, ApiPurgeStats *ret,
              char **ret_error);

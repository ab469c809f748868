/* purge.h: retention: ended executions older than a cutoff are deleted with their files in
 * internal storage, then old logs and expired KV entries, in batches of short transactions. */
#pragma once

#include <stdint.h>

#include "storage.h"
#include "store.h"

typedef struct ApiPurgeStats {
        uint64_t executions, logs, kv;
        uint64_t uploads; /* incomplete uploads aborted (storage_abort_incomplete) */
} ApiPurgeStats;

/* Executions that ended before older_than, batch (0: 100) per transaction: each batch's files are
 * deleted first, then its rows, so that a failure leaves rows whose files a later run deletes,
 * never files nobody knows of. Then the storage's uploads begun more than API_PURGE_UPLOAD_AGE
 * before now and never completed (a killed process's) are aborted, whatever older_than is. Returns
 * 0, or a negative errno with *ret_error (what failed, on what); *ret counts what went before the
 * failure too. */
#define API_PURGE_UPLOAD_AGE (24 * 3600 * USEC_PER_SEC)
int api_purge(Store *st, Storage *storage, usec_t older_than, size_t batch, usec_t now, ApiPurgeStats *ret,
              char **ret_error);

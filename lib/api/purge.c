/* purge.c: retention of executions, their files and logs (see purge.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "execution-files.h"
#include "purge.h"
#include "strutil.h"

typedef struct PurgeBatch {
        StoreExecutionRef *refs;
        size_t n;
} PurgeBatch;

static int delete_rows_tx(StoreTx *tx, void *userdata) {
        PurgeBatch *b = userdata;
        for (size_t i = 0; i < b->n; i++) {
                int r = store_execution_delete(tx, b->refs[i].id);
                if (r < 0 && r != -ENOENT) /* gone already: another purge, a DELETE */
                        return r;
        }
        return 0;
}

int api_purge(Store *st, Storage *storage, usec_t older_than, size_t batch, usec_t now, ApiPurgeStats *ret,
              char **ret_error) {
        ApiPurgeStats stats = {};
        int r;

        *ret_error = NULL;
        if (batch == 0)
                batch = 100;
        for (;;) {
                PurgeBatch b = {};
                StoreTx *tx;
                if ((r = store_begin(st, &tx)) < 0) {
                        *ret_error = strdup_printf("cannot read the ended executions: %s", store_error(st));
                        break;
                }
                r = store_execution_ended(tx, older_than, batch, &b.refs, &b.n);
                store_rollback(tx);
                if (r < 0) {
                        *ret_error = strdup_printf("cannot read the ended executions: %s", store_error(st));
                        break;
                }
                for (size_t i = 0; i < b.n && r >= 0; i++) {
                        r = api_files_delete_execution(storage, b.refs[i].namespace, b.refs[i].flow_id, b.refs[i].id, NULL);
                        /* A namespace or flow id that makes no key: nothing was ever stored under it. */
                        if (r == -EINVAL)
                                r = 0;
                        if (r < 0)
                                *ret_error = strdup_printf("cannot delete the files of execution %s: %s", b.refs[i].id,
                                                           storage_error(storage));
                }
                if (r >= 0 && (r = store_transact(st, delete_rows_tx, &b)) < 0)
                        *ret_error = strdup_printf("cannot delete ended executions: %s", store_error(st));
                if (r >= 0)
                        stats.executions += b.n;
                size_t got = b.n;
                store_execution_refs_free(b.refs, b.n);
                if (r < 0 || got < batch)
                        break;
        }
        if (r >= 0) {
                /* Then the logs and expired KV entries. No execution is left for store_purge's own
                 * sweep of them: the cutoff lies in the past, and nothing ends before it any more. */
                StorePurgeStats ps = {};
                r = store_purge(st, older_than, batch, now, &ps);
                if (r < 0)
                        *ret_error = strdup_printf("cannot purge old logs: %s", store_error(st));
                stats.logs = ps.logs;
                stats.kv = ps.kv;
                stats.executions += ps.executions;
        }
        if (r >= 0) {
                /* A day is far longer than any upload takes: only abandoned ones are that old. */
                r = storage_abort_incomplete(storage, now > API_PURGE_UPLOAD_AGE ? now - API_PURGE_UPLOAD_AGE : 0,
                                             &stats.uploads);
                if (r < 0)
                        *ret_error = strdup_printf("cannot abort the incomplete uploads: %s", storage_error(storage));
        }
        if (ret)
                *ret = stats;
        if (r < 0 && !*ret_error)
                return -ENOMEM;
        return r;
}

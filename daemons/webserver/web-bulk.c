/* web-bulk.c: Kestra's bulk actions by query (.../by-query): the search's filters choose, each single route acts (by-ids: web-api.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "log.h"
#include "strutil.h"
#include "web-internal.h"

/* Executions listed per read. Each batch is a short read of its own and each execution is acted
 * on in the single route's own transaction, so that a query matching 100,000 executions holds no
 * long lock and no list of them all; the walk goes by (created, id) from the newest, so that
 * executions changed or deleted meanwhile move nothing, and those it creates (a replay) are newer
 * than where it is and are not visited. */
#define BULK_BATCH 100

/* A 5xx from one of them: its message, with how far the walk went. */
static int bulk_stopped(WebCtx *c, size_t count) {
        unsigned status = c->status;
        _cleanup_json_ json_t *resp = c->resp ? json_loads(c->resp, 0, NULL) : NULL;
        const char *msg = json_string_value(json_object_get(resp, "message"));
        _cleanup_free_ char *m = NULL;
        if (asprintf(&m, "%s; %zu execution(s) had been acted on before, the rest were not", msg ? msg : "failed", count) < 0)
                return web_reply_error(c, 500, "out of memory");
        return web_reply_json(c, status, json_pack("{s:s, s:I}", "message", m, "count", (json_int_t) count));
}

int web_executions_by_query(WebCtx *c, WebBulkOne one, void *userdata, unsigned one_ok) {
        _cleanup_(web_execution_filter_done) WebExecutionFilter wf = {};
        _cleanup_free_ char *after = NULL;
        const char *body = c->body;
        size_t body_len = c->body_len, count = 0, skipped = 0;
        bool stopped = false;
        int r;

        if (web_execution_filter(c, &wf) < 0)
                return 0;
        StoreExecutionFilter f = wf.f;
        f.limit = BULK_BATCH;
        for (;;) {
                StoreExecutionKey *keys = NULL;
                size_t n = 0;
                StoreTx *tx = NULL;
                if ((r = store_begin(c->store, &tx)) >= 0) {
                        r = store_execution_keys(tx, &f, &keys, &n);
                        store_rollback(tx);
                }
                if (r < 0) {
                        web_reply_store_error(c, r);
                        stopped = true;
                        break;
                }
                for (size_t i = 0; i < n && !stopped; i++) {
                        c->params[0] = keys[i].id;
                        c->body = "";
                        c->body_len = 0;
                        r = one(c, userdata);
                        if (!c->store) /* it gave the pooled connection back (to wait): none to go on with */
                                web_reply_error(c, 500, "the walk over the executions could not go on");
                        if (r < 0 || c->status >= 500)
                                stopped = true;
                        else if (c->status == one_ok)
                                count++;
                        else
                                skipped++;
                }
                c->params[0] = NULL;
                if (n > 0 && !stopped) {
                        free(after);
                        after = TAKE_PTR(keys[n - 1].id);
                        f.after_id = after;
                        f.after_created = keys[n - 1].created;
                }
                store_execution_keys_free(keys, n);
                if (stopped || n < BULK_BATCH)
                        break;
        }
        c->body = body;
        c->body_len = body_len;
        if (stopped)
                return bulk_stopped(c, count);
        log_debug("webserver: bulk by query: %zu execution(s) acted on, %zu skipped", count, skipped);
        return web_reply_json(c, 200, json_pack("{s:I}", "count", (json_int_t) count));
}

/* A single route's handler as the action (WebBulkOne takes a pointer to data, not to code). */
typedef struct BulkSingle {
        WebHandler handler;
} BulkSingle;

static int bulk_single(WebCtx *c, void *userdata) {
        return ((BulkSingle *) userdata)->handler(c);
}

static int by_query(WebCtx *c, WebHandler handler, unsigned ok) {
        BulkSingle s = { handler };
        return web_executions_by_query(c, bulk_single, &s, ok);
}

/* DELETE /api/v1/executions/by-query: ended executions, with their files. */
int web_api_executions_delete_by_query(WebCtx *c) {
        return by_query(c, web_api_execution_delete, 204);
}

/* DELETE /api/v1/executions/kill/by-query: those not ended. */
int web_api_executions_kill_by_query(WebCtx *c) {
        return by_query(c, web_api_execution_kill, 202);
}

/* POST /api/v1/executions/restart/by-query: failed (and warning) ones. */
int web_api_executions_restart_by_query(WebCtx *c) {
        return by_query(c, web_api_execution_restart, 202);
}

/* POST /api/v1/executions/resume/by-query: paused ones. */
int web_api_executions_resume_by_query(WebCtx *c) {
        return by_query(c, web_api_execution_resume, 202);
}

/* POST /api/v1/executions/replay/by-query: ended ones, each replayed from the start. */
int web_api_executions_replay_by_query(WebCtx *c) {
        return by_query(c, web_api_execution_replay, 200);
}

/* POST /api/v1/executions/pause/by-query: running ones. */
int web_api_executions_pause_by_query(WebCtx *c) {
        return by_query(c, web_api_execution_pause, 202);
}

/* POST /api/v1/executions/force-run/by-query: created or queued ones. */
int web_api_executions_force_run_by_query(WebCtx *c) {
        return by_query(c, web_api_execution_force_run, 202);
}

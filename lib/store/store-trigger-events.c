/* store-trigger-events.c: the scheduler's inbox: flow changes and ended executions, consumed once. */
#include <errno.h>
#include <stdlib.h>

#include "cleanup-jansson.h"
#include "store-private.h"
#include "strutil.h"

int store_trigger_event_emit(StoreTx *tx, const char *type, json_t *payload, usec_t now) {
        _cleanup_free_ char *text = NULL;
        int r;

        if (isempty(type))
                return -EINVAL;
        if ((r = store_json_dump(payload, &text)) < 0)
                return r;
        r = store_exec(tx, "INSERT INTO trigger_events (type, payload, created) VALUES ($1, $2, $3)",
                       SQL_ARGS(SQL_S(type), SQL_S(text), SQL_I(now)), NULL);
        if (r < 0)
                return r;
        tx->notify |= STORE_CHANNEL_TRIGGERS;
        return 0;
}

/* Insert a report with sql (an INSERT ... SELECT ... WHERE EXISTS a listener): 0 when written,
 * STORE_SKIPPED when no trigger listens. */
static int report_insert(StoreTx *tx, const char *sql, const char *type, json_t *payload, usec_t now) {
        _cleanup_free_ char *text = NULL;
        _cleanup_rows_ SqlRows rows = {};
        bool listened = true;
        int r;

        /* A deferring transaction (an executor's step) knows once whether anyone listens. */
        if (tx->batch) {
                if ((r = store_batch_listeners(tx, streq(type, STORE_TRIGGER_EVENT_EXECUTION_STATES), &listened)) < 0)
                        return r;
                if (!listened)
                        return STORE_SKIPPED;
        }
        if ((r = store_json_dump(payload, &text)) < 0)
                return r;
        if ((r = store_exec(tx, sql, SQL_ARGS(SQL_S(type), SQL_S(text), SQL_I(now)), &rows)) < 0)
                return r;
        if (rows.changes == 0)
                return STORE_SKIPPED;
        tx->notify |= STORE_CHANNEL_TRIGGERS;
        return 0;
}

int store_execution_ended_emit(StoreTx *tx, const char *execution_id, const char *ns, const char *flow_id,
                               const char *state, usec_t now) {
        _cleanup_json_ json_t *p = NULL;

        if (isempty(execution_id) || isempty(ns) || isempty(flow_id) || isempty(state))
                return -EINVAL;
        p = json_pack("{s:s, s:s, s:s, s:s}", "executionId", execution_id, "namespace", ns, "flowId", flow_id,
                      "state", state);
        if (!p)
                return -ENOMEM;
        /* One statement: the existence check costs an index probe (triggers_kind). */
        return report_insert(tx,
                             "INSERT INTO trigger_events (type, payload, created) SELECT $1, $2, $3"
                             " WHERE EXISTS (SELECT 1 FROM triggers WHERE kind IN ('flow', 'flow_states') AND disabled = 0)",
                             STORE_TRIGGER_EVENT_EXECUTION_ENDED, p, now);
}

int store_execution_states_emit(StoreTx *tx, const char *execution_id, const char *ns, const char *flow_id,
                                json_t *states, usec_t now) {
        _cleanup_json_ json_t *p = NULL;

        if (isempty(execution_id) || isempty(ns) || isempty(flow_id) || !json_is_array(states))
                return -EINVAL;
        if (json_array_size(states) == 0)
                return STORE_SKIPPED;
        p = json_pack("{s:s, s:s, s:s, s:O}", "executionId", execution_id, "namespace", ns, "flowId", flow_id,
                      "states", states);
        if (!p)
                return -ENOMEM;
        return report_insert(tx,
                             "INSERT INTO trigger_events (type, payload, created) SELECT $1, $2, $3"
                             " WHERE EXISTS (SELECT 1 FROM triggers WHERE kind = 'flow_states' AND disabled = 0)",
                             STORE_TRIGGER_EVENT_EXECUTION_STATES, p, now);
}

int store_trigger_event_claim(StoreTx *tx, size_t max, StoreEvent **ret, size_t *ret_n) {
        _cleanup_rows_ SqlRows rows = {};
        StoreEvent *e = NULL;
        int r;

        r = store_exec(tx,
                       tx_has_row_locks(tx) ? "SELECT seq, type, payload, created FROM trigger_events ORDER BY seq LIMIT $1"
                                      " FOR UPDATE SKIP LOCKED"
                                    : "SELECT seq, type, payload, created FROM trigger_events ORDER BY seq LIMIT $1",
                       SQL_ARGS(SQL_I(max ? max : 100)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows > 0 && !(e = calloc(rows.n_rows, sizeof(StoreEvent))))
                return -ENOMEM;
        for (size_t i = 0; i < rows.n_rows; i++) {
                e[i].seq = sql_cell_i64(&rows, i, 0);
                e[i].type = sql_cell_take(&rows, i, 1);
                e[i].created = (usec_t) sql_cell_i64(&rows, i, 3);
                r = sql_cell_json(&rows, i, 2, &e[i].payload);
                if (r < 0 || !e[i].type) {
                        store_events_free(e, rows.n_rows);
                        return r < 0 ? r : -ENOMEM;
                }
        }
        *ret = e;
        *ret_n = rows.n_rows;
        return 0;
}

int store_trigger_event_delete(StoreTx *tx, int64_t seq) {
        _cleanup_rows_ SqlRows rows = {};
        int r = store_exec(tx, "DELETE FROM trigger_events WHERE seq = $1", SQL_ARGS(SQL_I(seq)), &rows);
        if (r < 0)
                return r;
        return rows.changes > 0 ? 0 : -ENOENT;
}

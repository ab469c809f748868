/* store-queue-offsets.c: where a consumer of a queue outside the database (the Kafka indexer) has
 * written up to, kept in the transaction that wrote the rows, compared and set as a fence. */
#include <errno.h>

#include "store-private.h"
#include "strutil.h"

int store_queue_offset_get(StoreTx *tx, const char *consumer, const char *topic, int part, int64_t *ret) {
        _cleanup_rows_ SqlRows rows = {};
        int r;

        if (isempty(consumer) || isempty(topic) || part < 0)
                return -EINVAL;
        r = store_exec(tx, "SELECT next_offset FROM queue_offsets WHERE consumer = $1 AND topic = $2 AND part = $3",
                       SQL_ARGS(SQL_S(consumer), SQL_S(topic), SQL_I(part)), &rows);
        if (r < 0)
                return r;
        if (rows.n_rows == 0)
                return -ENOENT;
        *ret = sql_cell_i64(&rows, 0, 0);
        return 0;
}

int store_queue_offset_set(StoreTx *tx, const char *consumer, const char *topic, int part, int64_t expected,
                           int64_t next) {
        _cleanup_rows_ SqlRows rows = {};
        int r;

        if (isempty(consumer) || isempty(topic) || part < 0 || next < 0)
                return -EINVAL;
        /* A compare and set: two readers of one partition (the old owner not yet told of a
         * rebalance) cannot both write the same records; the second one's transaction is refused. */
        if (expected < 0)
                r = store_exec(tx,
                               "INSERT INTO queue_offsets (consumer, topic, part, next_offset) VALUES ($1, $2, $3, $4)"
                               " ON CONFLICT DO NOTHING",
                               SQL_ARGS(SQL_S(consumer), SQL_S(topic), SQL_I(part), SQL_I(next)), &rows);
        else
                r = store_exec(tx,
                               "UPDATE queue_offsets SET next_offset = $4"
                               " WHERE consumer = $1 AND topic = $2 AND part = $3 AND next_offset = $5",
                               SQL_ARGS(SQL_S(consumer), SQL_S(topic), SQL_I(part), SQL_I(next), SQL_I(expected)),
                               &rows);
        if (r < 0)
                return r;
        return rows.changes == 0 ? STORE_STALE : 0;
}

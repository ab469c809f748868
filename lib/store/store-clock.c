/* store-clock.c: the cluster's clock: the database server's, followed on this host's monotonic clock. */
#include <errno.h>

#include "log.h"
#include "store-private.h"

/* How often the offset is measured again: it follows the server's clock (NTP slews it, and an
 * operator may set it) without a round trip per use. */
#define STORE_CLOCK_RESYNC_USEC (60 * USEC_PER_SEC)

/* The server's time now, in usec since the epoch; read within one round trip. (MySQL: from UTC, as
 * UNIX_TIMESTAMP() of a local time is ambiguous in the hour a DST change repeats.) Straight to the
 * driver, without store_exec_raw()'s reconnects: on a lost connection this fails at once and the
 * last offset serves, instead of the caller waiting up to the reconnect timeout here (a worker's
 * result then waited out a whole outage before its first delivery attempt, which is the one that
 * logs and counts the delay). */
static int store_clock_query(Store *s, usec_t *ret) {
        _cleanup_rows_ SqlRows rows = {};
        const char *sql = store_is_pg(s) ? "SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint"
                                         : "SELECT TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', UTC_TIMESTAMP(6))";
        int r = s->driver->exec(s, sql, NULL, 0, &rows);
        if (r < 0)
                return r;
        if (rows.n_rows != 1)
                return -EPROTO;
        int64_t v = sql_cell_i64(&rows, 0, 0);
        if (v <= 0)
                return -EPROTO;
        *ret = (usec_t) v;
        return 0;
}

static void store_clock_sync(Store *s) {
        usec_t before = now_monotonic(), server;
        /* A handle in a transaction cannot ask (the statement would join it): keep the last offset. */
        if (s->tx.active)
                return;
        int r = store_clock_query(s, &server);
        if (r < 0) {
                log_debug_errno(r, "Cannot read the database server's clock: %s", store_error(s));
                return; /* the last offset (or none yet) until the server answers */
        }
        usec_t after = now_monotonic();
        /* The server read its clock somewhere in the round trip: its middle is the best guess. */
        s->clock_offset = (susec_t) server - (susec_t) (before + (after - before) / 2);
        s->clock_synced = before;
}

usec_t store_clock_now(Store *s) {
        /* SQLite is one host's: its clock is everybody's, also the one the rows were written with. */
        if (s->backend == STORE_BACKEND_SQLITE)
                return now_realtime();
        usec_t mono = now_monotonic();
        if (s->clock_synced == 0 || mono - s->clock_synced >= STORE_CLOCK_RESYNC_USEC) {
                store_clock_sync(s);
                mono = now_monotonic();
        }
        if (s->clock_synced == 0)
                return now_realtime(); /* never measured (the server did not answer yet) */
        return (usec_t) ((susec_t) mono + s->clock_offset);
}

/* postgres.c: the PostgreSQL backend of the store (libpq, pipelined statements, LISTEN/NOTIFY wake-ups, reconnect). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-libpq.h"
#include "hashmap.h"
#include "store-private.h"
#include "strutil.h"

/* Migrators serialize on this transaction-level advisory lock ("tern" in ASCII). */
#define MIGRATION_LOCK_KEY "1952805486"

static const struct {
        unsigned channel;
        const char *name;
} pg_channels[] = {
        { STORE_CHANNEL_EVENTS, "tern_events" },
        { STORE_CHANNEL_JOBS, "tern_jobs" },
        { STORE_CHANNEL_TRIGGERS, "tern_triggers" },
        { STORE_CHANNEL_CANCEL, "tern_cancel" },
        { STORE_CHANNEL_EXECUTIONS, "tern_executions" },
        { STORE_CHANNEL_LOGS, "tern_logs" },
};

/* A connection and the statements prepared on it. Every parameterized statement but the queue
 * reads (SQL_PLAN_EACH, see pg_flight()) is prepared on first use and executed by name afterwards:
 * parsing and planning were most of the server's CPU per step (the store's statements are a
 * small, fixed set of texts). */
typedef struct PgConn {
        PGconn *conn;
        Hashmap prepared; /* SQL text -> statement number (from 1, as a pointer) */
        unsigned n_prepared; /* numbers handed out (one that failed to prepare is not reused) */
        bool begin_pending; /* a transaction begun whose BEGIN goes with its first statement */
} PgConn;

static PGconn *conn(Store *s) {
        PgConn *p = s->backend_data;
        return p ? p->conn : NULL;
}

/* After a reset the server has forgotten the connection's prepared statements. */
static void pg_forget_prepared(Store *s) {
        PgConn *p = s->backend_data;
        hashmap_done(&p->prepared);
        p->n_prepared = 0;
        p->begin_pending = false;
}

static void pg_set_error_conn(Store *s) {
        store_set_error(s, "%s", conn(s) ? PQerrorMessage(conn(s)) : "no connection");
}

static void pg_notice_ignore(void *arg, const char *message) {
}

/* Connection defaults that make a cut link fail a statement in about 20 s instead of blocking it
 * for TCP's retransmissions (minutes): no unacknowledged data or keepalive answer for
 * tcp_user_timeout (ms) ends the connection, and an idle one is probed after 10 s. Under the
 * worker's 30 s lease (renewed every 10 s): a renewal fails, and the reconnect is tried, before
 * the lease ends. target_session_attrs=read-write: every component writes, so with several hosts
 * (postgresql://h1,h2/db) libpq passes over a standby to the primary, on connecting and on each
 * reconnect after a failover; a connection that could only reach a standby fails, and is retried,
 * instead of failing each write with "read-only transaction". They come before the user's
 * connection string, which overrides any of them. */
static const char *const pg_default_keywords[] = {
        "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count", "tcp_user_timeout",
        "target_session_attrs",
};
static const char *const pg_default_values[] = { "10", "1", "10", "5", "3", "20000", "read-write" };

static PGconn *pg_connectdb(const char *conninfo) {
        const char *keywords[ELEMENTSOF(pg_default_keywords) + 2], *values[ELEMENTSOF(pg_default_keywords) + 2];
        size_t n = 0;

        for (; n < ELEMENTSOF(pg_default_keywords); n++) {
                keywords[n] = pg_default_keywords[n];
                values[n] = pg_default_values[n];
        }
        /* expand_dbname: the first "dbname" is the whole connection string (URL or key=value),
         * whose settings replace those before it. */
        keywords[n] = "dbname";
        values[n++] = conninfo;
        keywords[n] = values[n] = NULL;
        return PQconnectdbParams(keywords, values, 1);
}

static int pg_connect(Store *s) {
        PgConn *p = s->backend_data;
        if (!p) {
                p = calloc(1, sizeof *p);
                if (!p)
                        return -ENOMEM;
                s->backend_data = p;
        }
        pg_forget_prepared(s);
        PGconn *c = pg_connectdb(s->conninfo);
        if (!c)
                return -ENOMEM;
        p->conn = c;
        if (PQstatus(c) != CONNECTION_OK) {
                pg_set_error_conn(s);
                return -ECONNREFUSED;
        }
        /* Notices (e.g. "relation already exists, skipping") are not for the user's stderr. */
        PQsetNoticeProcessor(c, pg_notice_ignore, NULL);
        return 0;
}

static int pg_open(Store *s, const char *conninfo) {
        return pg_connect(s);
}

static int pg_dup(Store *s, Store *n) {
        return pg_open(n, n->conninfo);
}

static void pg_close(Store *s) {
        PgConn *p = s->backend_data;
        if (!p)
                return;
        if (p->conn)
                PQfinish(p->conn);
        hashmap_done(&p->prepared);
        free(p);
        s->backend_data = NULL;
}

/* Whether the connection is gone. libpq does not always know yet when a statement fails: the
 * first statement sent after the server went away (e.g. an immediate restart) fails with "server
 * closed the connection unexpectedly", no SQLSTATE, and PQstatus() still CONNECTION_OK. Reading
 * what the socket holds (non-blocking: nothing, or the end of the stream) settles it. */
static bool pg_connection_lost(Store *s) {
        PGconn *c = conn(s);
        if (!c || PQstatus(c) == CONNECTION_BAD || PQsocket(c) < 0)
                return true;
        if (PQconsumeInput(c) == 0)
                return true;
        return PQstatus(c) == CONNECTION_BAD || PQtransactionStatus(c) == PQTRANS_UNKNOWN;
}

/* Map a failed result to an errno, keeping the server's message. */
static int pg_result_errno(Store *s, const PGresult *res) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *msg = res ? PQresultErrorMessage(res) : NULL;

        if (msg && *msg)
                store_set_error(s, "%s", msg); /* flattened to one line there */
        else
                pg_set_error_conn(s);

        /* Without a SQLSTATE the error is libpq's own: a lost connection, or out of memory. */
        if (!state)
                return pg_connection_lost(s) ? -ECONNRESET : res ? -EIO : -ENOMEM;
        if (PQstatus(conn(s)) == CONNECTION_BAD)
                return -ECONNRESET;
        if (streq(state, "40001") || streq(state, "40P01") || streq(state, "55P03"))
                return -EAGAIN;
        if (streq(state, "23505"))
                return -EEXIST;
        if (streq(state, "23503"))
                return -ENOENT;
        /* Connection exceptions, admin shutdown, crash shutdown, cannot connect now, idle session
         * timeout, read-only standby after a failover: reconnecting (target_session_attrs) is the
         * cure. Not 57P04 (database dropped): no reconnect brings it back. */
        if (startswith(state, "08") || streq(state, "57P01") || streq(state, "57P02") || streq(state, "57P03") ||
            streq(state, "57P05") || streq(state, "25006"))
                return -ECONNRESET;
        if (startswith(state, "22") || startswith(state, "23") || startswith(state, "42"))
                return -EINVAL;
        if (startswith(state, "53"))
                return -ENOSPC;
        return -EIO;
}

static int pg_copy_rows(PGresult *res, SqlRows *ret) {
        SqlRows rows = {};
        rows.n_rows = (size_t) PQntuples(res);
        rows.n_cols = (size_t) PQnfields(res);
        const char *ct = PQcmdTuples(res);
        rows.changes = ct && *ct ? strtoull(ct, NULL, 10) : 0;
        if (rows.n_rows > 0 && rows.n_cols > 0) {
                rows.cells = calloc(rows.n_rows * rows.n_cols, sizeof(char *));
                if (!rows.cells)
                        return -ENOMEM;
                for (size_t i = 0; i < rows.n_rows; i++)
                        for (size_t j = 0; j < rows.n_cols; j++) {
                                if (PQgetisnull(res, (int) i, (int) j))
                                        continue;
                                char *v = strdup(PQgetvalue(res, (int) i, (int) j));
                                if (!v) {
                                        sql_rows_done(&rows);
                                        return -ENOMEM;
                                }
                                rows.cells[i * rows.n_cols + j] = v;
                        }
        }
        *ret = rows;
        return 0;
}

/* Arguments as libpq takes them: text, or NULL for SQL NULL. */
typedef struct PgArgs {
        const char *values[SQL_EXEC_ARGS_MAX];
        char nums[SQL_EXEC_ARGS_MAX][24];
} PgArgs;

static void pg_args(const SqlArg *args, size_t n, PgArgs *a) {
        for (size_t i = 0; i < n; i++)
                switch (args[i].type) {
                case SQL_NULL:
                        a->values[i] = NULL;
                        break;
                case SQL_TEXT:
                        a->values[i] = args[i].s;
                        break;
                case SQL_INT:
                        snprintf(a->nums[i], sizeof a->nums[i], "%" PRIi64, args[i].i);
                        a->values[i] = a->nums[i];
                        break;
                }
}

/* What each answer of a flight is for. */
typedef struct PgSent {
        size_t stmt; /* the statement's index; SIZE_MAX: the transaction's BEGIN */
        bool prepare; /* its Parse, on this connection's first use of the text */
        unsigned k; /* the prepared statement's number */
} PgSent;

static void pg_rows_clear(SqlRows *rets, size_t n) {
        for (size_t i = 0; rets && i < n; i++)
                sql_rows_done(&rets[i]);
}

/* Statements in one round trip (libpq's pipeline mode): the transaction's BEGIN when it has not
 * been sent yet, each statement's Parse when this connection has not prepared its text yet (a
 * text that fails to prepare is not remembered, so its error shows at every call), each
 * statement's execution by name, then one Sync. The server runs them in order, each as if sent
 * alone (under READ COMMITTED each with its own snapshot); after one fails it skips the rest up
 * to the Sync, so the flight's error is the first one. rets (NULL: rows not wanted) gets each
 * statement's rows, nothing on failure. The connection stays blocking: the server's answers to a
 * write are a few bytes, so they cannot fill the socket while libpq still sends (a flight that
 * reads rows, the step's events, is small enough to go in one write). */
static int pg_flight(Store *s, const SqlStmt *st, size_t n, SqlRows *rets) {
        PgConn *p = s->backend_data;
        PGconn *c = conn(s);
        _cleanup_free_ PgSent *sent = NULL;
        _cleanup_free_ PgArgs *args = NULL;
        _cleanup_pgresult_ PGresult *sync = NULL;
        size_t n_sent = 0;
        bool ok = true;
        int r = 0;

        if (!c)
                return -ENOTCONN;
        for (size_t i = 0; i < n; i++)
                if (st[i].n_args > SQL_EXEC_ARGS_MAX)
                        return -E2BIG;
        if (!(sent = calloc(2 * n + 1, sizeof *sent)) || !(args = malloc(sizeof *args)))
                return -ENOMEM;
        /* Still in pipeline mode: an earlier flight's answers were not all read (see below). */
        if (PQpipelineStatus(c) != PQ_PIPELINE_OFF) {
                store_set_error(s, "connection left in an unfinished pipeline");
                return -ECONNRESET;
        }
        if (PQenterPipelineMode(c) == 0) {
                pg_set_error_conn(s);
                return pg_connection_lost(s) ? -ECONNRESET : -EIO;
        }
        if (p->begin_pending) {
                p->begin_pending = false;
                ok = PQsendQueryParams(c, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
                sent[n_sent++] = (PgSent) { .stmt = SIZE_MAX };
        }
        for (size_t i = 0; i < n && ok; i++) {
                unsigned k = (unsigned) (uintptr_t) hashmap_get(&p->prepared, st[i].sql);
                char name[32];

                /* Plans: a prepared statement is planned for its values five times, then keeps a
                 * plan made once for any values when that one is not dearer (plan_cache_mode
                 * auto, the server's default): the step's inserts and upserts, deletes and
                 * updates by key, the completion by an id array, whose plan is the same for any
                 * values, are then no longer planned at every run (planning was a quarter of the
                 * server's CPU under force_custom_plan). The reads marked SQL_PLAN_EACH are not:
                 * a generic plan misjudges a due range on a backlog (the executors' claim took
                 * 5 ms instead of 0.1 ms with 10,000 executions queued) and cannot use a partial
                 * index whose predicate follows from a parameter. They go as the unnamed
                 * statement, parsed and planned for their values at every run, without a session
                 * setting to switch back and forth (a SET inside a transaction is undone by its
                 * rollback). */
                if (startswith(st[i].sql, SQL_PLAN_EACH)) {
                        pg_args(st[i].args, st[i].n_args, args);
                        ok = PQsendQueryParams(c, st[i].sql, (int) st[i].n_args, NULL, args->values, NULL, NULL, 0);
                        sent[n_sent++] = (PgSent) { .stmt = i };
                        continue;
                }

                for (size_t j = 0; j < n_sent && k == 0; j++)
                        if (sent[j].prepare && streq(st[sent[j].stmt].sql, st[i].sql))
                                k = sent[j].k;
                if (k == 0) {
                        k = ++p->n_prepared;
                        snprintf(name, sizeof name, "tern_%u", k);
                        ok = PQsendPrepare(c, name, st[i].sql, (int) st[i].n_args, NULL);
                        sent[n_sent++] = (PgSent) { .stmt = i, .prepare = true, .k = k };
                } else
                        snprintf(name, sizeof name, "tern_%u", k);
                pg_args(st[i].args, st[i].n_args, args);
                /* libpq copies the values into its output buffer here. */
                ok = ok && PQsendQueryPrepared(c, name, (int) st[i].n_args, args->values, NULL, NULL, 0);
                sent[n_sent++] = (PgSent) { .stmt = i, .k = k };
        }
        if (!ok || PQpipelineSync(c) == 0) {
                /* Nothing to read back for certain: the connection is reset before its next use. */
                pg_set_error_conn(s);
                (void) pg_connection_lost(s);
                r = -ECONNRESET;
                goto out;
        }
        for (size_t i = 0; i < n_sent; i++) {
                _cleanup_pgresult_ PGresult *res = PQgetResult(c);
                if (!res) {
                        if (r == 0) {
                                pg_set_error_conn(s);
                                r = pg_connection_lost(s) ? -ECONNRESET : -EIO;
                        }
                        goto out;
                }
                ExecStatusType t = PQresultStatus(res);
                if (t == PGRES_COMMAND_OK || t == PGRES_TUPLES_OK) {
                        if (sent[i].prepare)
                                /* Out of memory here only costs a Parse under a new name next time. */
                                (void) hashmap_put(&p->prepared, st[sent[i].stmt].sql, (void *) (uintptr_t) sent[i].k);
                        else if (sent[i].stmt != SIZE_MAX && rets && r == 0) {
                                int q = pg_copy_rows(res, &rets[sent[i].stmt]);
                                if (q < 0)
                                        r = q;
                        }
                } else if (t != PGRES_PIPELINE_ABORTED && r == 0)
                        r = pg_result_errno(s, res);
                if (PQstatus(c) == CONNECTION_BAD) {
                        r = -ECONNRESET;
                        goto out;
                }
                /* Each command's answers end with a NULL. */
                PGresult *end = PQgetResult(c);
                if (end) {
                        PQclear(end);
                        store_set_error(s, "unexpected answer in a pipeline");
                        r = -ECONNRESET;
                        goto out;
                }
        }
        sync = PQgetResult(c);
        if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC) {
                if (r == 0)
                        pg_set_error_conn(s);
                r = -ECONNRESET;
        }
out:
        /* A connection whose answers could not all be read cannot leave pipeline mode: reported
         * lost, it is reset before its next use (which leaves pipeline mode). */
        if (PQexitPipelineMode(c) == 0 && r != -ECONNRESET) {
                if (r == 0)
                        pg_set_error_conn(s);
                r = -ECONNRESET;
        }
        if (r < 0)
                pg_rows_clear(rets, n);
        return r;
}

static int pg_exec(Store *s, const char *sql, const SqlArg *args, size_t n_args, SqlRows *ret) {
        PgConn *p = s->backend_data;
        _cleanup_pgresult_ PGresult *res = NULL;
        _cleanup_free_ char *with_begin = NULL;

        if (!conn(s))
                return -ENOTCONN;
        if (n_args > 0)
                return pg_flight(s, &(SqlStmt) { .sql = sql, .args = args, .n_args = n_args }, 1, ret);
        /* Without parameters a text may hold several statements (migrations): the simple query
         * protocol, the BEGIN still to send in the same text. */
        if (p->begin_pending) {
                if (!(with_begin = strjoin("BEGIN;", sql)))
                        return -ENOMEM;
                p->begin_pending = false;
                sql = with_begin;
        }
        res = PQexec(conn(s), sql);
        ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
                return pg_result_errno(s, res);
        if (!ret)
                return 0;
        return pg_copy_rows(res, ret);
}

static int pg_listen_channels(Store *s, unsigned channels) {
        char sql[512] = "";
        for (size_t i = 0; i < ELEMENTSOF(pg_channels); i++) {
                size_t l = strlen(sql);
                snprintf(sql + l, sizeof sql - l, "%s %s;", channels & pg_channels[i].channel ? "LISTEN" : "UNLISTEN",
                         pg_channels[i].name);
        }
        return pg_exec(s, sql, NULL, 0, NULL);
}

static int pg_reconnect(Store *s) {
        if (!conn(s))
                return pg_connect(s);
        PQreset(conn(s));
        pg_forget_prepared(s);
        if (PQstatus(conn(s)) != CONNECTION_OK) {
                pg_set_error_conn(s);
                return -ECONNRESET;
        }
        if (s->listening)
                return pg_listen_channels(s, s->listening);
        return 0;
}

/* Every transaction of the store may write, so a session on a standby (the URL sets
 * target_session_attrs=any) counts as a lost connection when a transaction begins: store_begin()
 * reconnects until a primary answers (the standby promoted, or another host of the URL) instead
 * of the transaction failing at its first write, which only store_transact() would rerun. The
 * server reports in_hot_standby (PostgreSQL 14 and later) on connecting and when it changes, so
 * this costs no round trip; older servers fail that first write with SQLSTATE 25006. */
static int pg_check_primary(Store *s) {
        const char *standby = conn(s) ? PQparameterStatus(conn(s), "in_hot_standby") : NULL;
        if (standby && streq(standby, "on")) {
                store_set_error(s, "the server is a standby (in hot standby), not the primary");
                return -ECONNRESET;
        }
        return 0;
}

/* A transaction's BEGIN is not a round trip of its own: it goes with the first statement (in its
 * flight, or before it in a simple query's text). A connection known to be lost is reported here,
 * so that store_begin() reconnects. */
static int pg_begin(Store *s, TxMode mode) {
        PgConn *p = s->backend_data;
        int r = pg_check_primary(s);
        if (r < 0)
                return r;
        if (mode == TX_EXCLUSIVE)
                return pg_exec(s, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATION_LOCK_KEY ")", NULL, 0, NULL);
        if (!conn(s) || PQstatus(conn(s)) != CONNECTION_OK || PQpipelineStatus(conn(s)) != PQ_PIPELINE_OFF) {
                pg_set_error_conn(s);
                return -ECONNRESET;
        }
        p->begin_pending = true;
        return 0;
}

static int pg_commit(Store *s, unsigned notify) {
        PgConn *p = s->backend_data;
        _cleanup_pgresult_ PGresult *res = NULL;
        char sql[512] = "";
        bool begun = !p->begin_pending;

        p->begin_pending = false;

        /* NOTIFY inside the transaction: PostgreSQL delivers it at commit, and not at all on
         * rollback, so a woken consumer always finds the rows. One round trip with the COMMIT. */
        for (size_t i = 0; i < ELEMENTSOF(pg_channels); i++)
                if (notify & pg_channels[i].channel) {
                        size_t l = strlen(sql);
                        snprintf(sql + l, sizeof sql - l, "NOTIFY %s;", pg_channels[i].name);
                }
        /* A transaction that ran no statement never began on the server: its notifications
         * alone, or nothing. */
        if (!begun && !*sql)
                return 0;
        if (begun)
                strcat(sql, "COMMIT");
        res = PQexec(conn(s), sql);
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
                return pg_result_errno(s, res);
        /* COMMIT of a transaction that failed earlier answers "ROLLBACK" without an error. */
        if (begun && !streq(PQcmdStatus(res), "COMMIT")) {
                store_set_error(s, "transaction was rolled back");
                return -EIO;
        }
        return 0;
}

static void pg_rollback(Store *s) {
        PgConn *p = s->backend_data;
        if (p)
                p->begin_pending = false;
        if (!conn(s) || PQstatus(conn(s)) != CONNECTION_OK)
                return;
        if (PQtransactionStatus(conn(s)) == PQTRANS_IDLE)
                return;
        PGresult *res = PQexec(conn(s), "ROLLBACK");
        PQclear(res);
}

static int pg_listen(Store *s, unsigned channels) {
        return pg_listen_channels(s, channels);
}

static int pg_get_fd(Store *s) {
        int fd = conn(s) ? PQsocket(conn(s)) : -1;
        return fd >= 0 ? fd : -ENOTCONN;
}

static unsigned pg_take_notifies(Store *s) {
        unsigned m = 0;
        PGnotify *n;
        while ((n = PQnotifies(conn(s)))) {
                for (size_t i = 0; i < ELEMENTSOF(pg_channels); i++)
                        if (streq(n->relname, pg_channels[i].name))
                                m |= pg_channels[i].channel;
                PQfreemem(n);
        }
        return m & s->listening;
}

/* After a lost connection, reconnect once; notifications may have been missed, so report every
 * listened channel and let the consumer look. */
static int pg_wait_reconnect(Store *s) {
        int r = pg_reconnect(s);
        if (r < 0)
                return -ECONNRESET;
        return (int) s->listening;
}

static int pg_wait(Store *s, usec_t timeout) {
        unsigned m;

        if (!conn(s))
                return -ENOTCONN;
        /* Notifications that arrived while other statements ran are already queued in libpq. */
        if (PQconsumeInput(conn(s)) == 0)
                return pg_wait_reconnect(s);
        m = pg_take_notifies(s);
        if (m || timeout == 0)
                return (int) m;

        usec_t end = timeout == USEC_INFINITY ? USEC_INFINITY : now_monotonic() + timeout;
        for (;;) {
                usec_t n = now_monotonic();
                if (end != USEC_INFINITY && n >= end)
                        return 0;
                int ms = end == USEC_INFINITY ? -1 : (int) MIN((end - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT32_MAX);
                struct pollfd pfd = { .fd = PQsocket(conn(s)), .events = POLLIN };
                if (pfd.fd < 0)
                        return pg_wait_reconnect(s);
                int k = poll(&pfd, 1, ms);
                if (k < 0 && errno != EINTR)
                        return -errno;
                if (k <= 0)
                        continue;
                if (PQconsumeInput(conn(s)) == 0)
                        return pg_wait_reconnect(s);
                m = pg_take_notifies(s);
                if (m)
                        return (int) m;
        }
}

const StoreDriver store_driver_postgres = {
        .name = "postgresql",
        .open = pg_open,
        .dup = pg_dup,
        .close = pg_close,
        .reconnect = pg_reconnect,
        .begin = pg_begin,
        .commit = pg_commit,
        .rollback = pg_rollback,
        .exec = pg_exec,
        .exec_many = pg_flight,
        .listen = pg_listen,
        .get_fd = pg_get_fd,
        .wait = pg_wait,
};

/* store-private.h: what the store's repositories share with its backends (driver vtable, SQL rows). */
#pragma once

#include <stdarg.h>

#include "store.h"

/* The repositories (store-*.c) are written once in the SQL the databases understand, with
 * "$1"-style parameters (the SQLite driver rewrites them to "?1"); the few dialect differences
 * (row locks, ILIKE, RETURNING, JSON functions) are picked with store_is_pg(), store_is_mysql()
 * and store_has_row_locks(). The MySQL driver (mysql.c) takes the shared text as it is: its
 * session runs with ANSI_QUOTES and PIPES_AS_CONCAT (so "key" and || mean what they mean
 * elsewhere), and it rewrites PostgreSQL's upsert, "ON CONFLICT [(...)] DO NOTHING" and "ON
 * CONFLICT (...) DO UPDATE SET c = excluded.c", into MySQL's; it has no RETURNING (MySQL 8 has
 * none, MariaDB none on UPDATE), so those statements have MySQL variants that read the rows in
 * the same round trip ("UPDATE ...; SELECT ..." — rows come from the last statement that has
 * columns, changes from the last that has none). Values travel as text or int64 with NULL for
 * SQL NULL; rows come back as text cells. Times are BIGINT microseconds in every database. */

typedef enum SqlArgType {
        SQL_NULL,
        SQL_TEXT,
        SQL_INT,
} SqlArgType;

#define SQL_ARGS_MAX 32
/* What one statement may take (a driver's limit): a deferred multi-row write (store-batch.c) is
 * cut into statements of at most this many parameters. SQL_ARGS_MAX bounds a QueryBuilder. */
#define SQL_EXEC_ARGS_MAX 256
/* Such statements come in a few sizes only: each text is a statement PostgreSQL prepares and
 * keeps for the connection (and a copy in the driver), so IN lists are padded (repeating their
 * last value) and rows cut into chunks of powers of two. */
static inline size_t sql_pow2_floor(size_t n) {
        size_t p = 1;
        while (p * 2 <= n)
                p *= 2;
        return p;
}
static inline size_t sql_pow2_ceil(size_t n) {
        size_t p = 1;
        while (p < n)
                p *= 2;
        return p;
}

typedef struct SqlArg {
        SqlArgType type;
        const char *s;
        int64_t i;
} SqlArg;

#define SQL_S(v) ((SqlArg) { .type = (v) ? SQL_TEXT : SQL_NULL, .s = (v) })
#define SQL_I(v) ((SqlArg) { .type = SQL_INT, .i = (int64_t) (v) })
/* 0 stands for "no time" and is stored as NULL. */
#define SQL_T(v) ((SqlArg) { .type = (v) ? SQL_INT : SQL_NULL, .i = (int64_t) (v) })
#define SQL_ARGS(...) ((const SqlArg[]) { __VA_ARGS__ }), ELEMENTSOF(((const SqlArg[]) { __VA_ARGS__ }))

typedef struct SqlRows {
        size_t n_rows, n_cols;
        char **cells; /* n_rows * n_cols, NULL = SQL NULL */
        uint64_t changes;
} SqlRows;

void sql_rows_done(SqlRows *r);
#define _cleanup_rows_ _cleanup_(sql_rows_done)
static inline const char *sql_cell(const SqlRows *r, size_t row, size_t col) {
        return r->cells ? r->cells[row * r->n_cols + col] : NULL;
}
int64_t sql_cell_i64(const SqlRows *r, size_t row, size_t col);
/* Steal a cell's string (caller frees). */
char *sql_cell_take(SqlRows *r, size_t row, size_t col);
/* Parse a JSON cell; NULL cell gives NULL with success. */
int sql_cell_json(const SqlRows *r, size_t row, size_t col, json_t **ret);

/* Put before the text of a read whose best plan depends on its values (a due range over a queue
 * that may hold a backlog, a LIMIT over a range): PostgreSQL plans it for its values at every run
 * (postgres.c sends it unprepared); every other statement may take a plan made once for any
 * values. The other backends see a comment. */
#define SQL_PLAN_EACH "/* planned each run */ "

/* One statement of several sent together (store_exec_many()). */
typedef struct SqlStmt {
        const char *sql;
        const SqlArg *args;
        size_t n_args;
} SqlStmt;

typedef enum TxMode {
        TX_READ_WRITE,
        TX_EXCLUSIVE, /* migrations: SQLite BEGIN EXCLUSIVE; PostgreSQL adds an advisory lock */
} TxMode;

/* Backend driver: one connection. Errors: -EAGAIN transient (serialization failure, deadlock,
 * busy: rerun the transaction), -ECONNRESET connection lost (reconnect, rerun), -EEXIST unique
 * violation, others as they come; the server's message goes to store_set_error(). */
typedef struct StoreDriver {
        const char *name;
        int (*open)(Store *s, const char *conninfo);
        int (*dup)(Store *s, Store *n);
        void (*close)(Store *s);
        int (*reconnect)(Store *s);
        int (*begin)(Store *s, TxMode mode);
        int (*commit)(Store *s, unsigned notify);
        void (*rollback)(Store *s);
        int (*exec)(Store *s, const char *sql, const SqlArg *args, size_t n_args, SqlRows *ret);
        /* Optional: statements (one each, not texts of several) sent in one round trip, run in
         * order, the first failure's error (those after it not run); rets (NULL: rows not
         * wanted) gets each one's rows, nothing on failure. Without it they go one by one. */
        int (*exec_many)(Store *s, const SqlStmt *stmts, size_t n, SqlRows *rets);
        int (*listen)(Store *s, unsigned channels);
        int (*get_fd)(Store *s);
        int (*wait)(Store *s, usec_t timeout);
} StoreDriver;

extern const StoreDriver store_driver_sqlite;
extern const StoreDriver store_driver_postgres;
extern const StoreDriver store_driver_mysql;

/* store-batch.c: writes kept in the transaction until store_tx_flush() (or the commit). */
typedef enum StoreBatchTable {
        STORE_BATCH_EXECUTIONS,    /* id, namespace, flow_id, flow_revision, state, created, updated, end_date,
                                    * parent_id, doc: a save of an execution the transaction holds */
        STORE_BATCH_TASK_RUNS,     /* execution_id, ord, id, state, doc: an upsert */
        STORE_BATCH_JOBS,          /* id, execution_id, task_run_id, queue, payload, available_at, created */
        STORE_BATCH_EVENT_DELETES, /* seq: each must still be there */
        STORE_BATCH_EVENTS,        /* execution_id, type, payload, due_at, created: one whose execution
                                    * is gone at the flush is dropped */
        STORE_BATCH_LOGS,          /* execution_id, task_run_id, task_id, attempt, level, ts, message */
        _STORE_BATCH_MAX,
} StoreBatchTable;
typedef struct StoreBatch StoreBatch;
/* Keep a row (the arguments are copied) to write at the flush. */
int store_batch_add(StoreTx *tx, StoreBatchTable table, const SqlArg *row);
StoreBatch *store_batch_free(StoreBatch *b);
/* Do enabled Flow triggers listen to the states executions enter (states) or to their ends? Read
 * once per deferring transaction, instead of a check in every report's statement. */
int store_batch_listeners(StoreTx *tx, bool states, bool *ret);
/* Its statement, for a caller that sends it with another (the step's read of its events), and
 * what the row it read says. */
extern const char store_batch_listeners_sql[];
bool store_batch_listeners_known(const StoreTx *tx);
void store_batch_listeners_set(StoreTx *tx, const SqlRows *rows);

struct StoreTx {
        Store *store;
        unsigned notify; /* channels to wake at commit */
        bool active;
        bool fresh; /* store_begin()'s, no statement run yet: a lost connection is begun again */
        TxMode mode;
        StoreBatch *batch; /* deferred writes (store_tx_defer()); NULL: each is written at once */
};

struct Store {
        const StoreDriver *driver;
        StoreBackend backend;
        char *conninfo;
        char *error;
        usec_t reconnect_timeout;
        int cancel_fd; /* store_set_cancel_fd(): readable once the process stops; -1: none */
        unsigned listening;
        StoreTx tx;
        void *backend_data;
        usec_t clock_synced;  /* monotonic time of the last measurement of clock_offset (0: none) */
        susec_t clock_offset; /* the server's real-time clock minus this host's monotonic one */
};

/* store.c: has a stop been requested (store_set_cancel_fd())? fd: a Store's cancel_fd (-1: never). */
bool store_cancel_requested(int fd);

static inline bool store_is_pg(const Store *s) {
        return s->backend == STORE_BACKEND_POSTGRES;
}
static inline bool tx_is_pg(const StoreTx *tx) {
        return store_is_pg(tx->store);
}
static inline bool store_is_mysql(const Store *s) {
        return s->backend == STORE_BACKEND_MYSQL;
}
static inline bool tx_is_mysql(const StoreTx *tx) {
        return store_is_mysql(tx->store);
}
/* FOR UPDATE [SKIP LOCKED] exists (PostgreSQL, MySQL): SQLite's single writer serializes instead. */
static inline bool tx_has_row_locks(const StoreTx *tx) {
        return tx->store->backend != STORE_BACKEND_SQLITE;
}
/* One statement text per dialect. */
static inline const char *tx_sql(const StoreTx *tx, const char *pg, const char *sqlite, const char *mysql) {
        return tx_is_pg(tx) ? pg : tx_is_mysql(tx) ? mysql : sqlite;
}

/* store-jobs-pg.c: store_job_complete_many_tx() on PostgreSQL. */
int store_job_complete_many_pg(StoreTx *tx, const char *worker_id, StoreJobResult *jobs, size_t n, usec_t now);

void store_set_error(Store *s, const char *fmt, ...) _printf_(2, 3);
int store_exec(StoreTx *tx, const char *sql, const SqlArg *args, size_t n, SqlRows *ret);
/* Statements whose texts and arguments do not depend on each other's rows, sent together: one
 * round trip on PostgreSQL. The first failure's error; rets (NULL: rows not wanted) gets each
 * statement's rows, nothing on failure. */
int store_exec_many(StoreTx *tx, const SqlStmt *stmts, size_t n, SqlRows *rets);
/* Same as store_exec(), for statements run outside a StoreTx (migrations, checks). */
int store_exec_raw(Store *s, const char *sql, const SqlArg *args, size_t n, SqlRows *ret);
/* Run fn in a transaction of the given mode, with retries. */
int store_transact_mode(Store *s, TxMode mode, StoreTxFn fn, void *userdata);

/* The in-process notifier shared by SQLite handles made with store_dup(). */
typedef struct Notifier Notifier;
typedef struct NotifierSub NotifierSub;
Notifier *notifier_new(void);
Notifier *notifier_ref(Notifier *n);
Notifier *notifier_unref(Notifier *n);
int notifier_subscribe(Notifier *n, NotifierSub **ret);
void notifier_unsubscribe(Notifier *n, NotifierSub *sub);
void notifier_set_channels(Notifier *n, NotifierSub *sub, unsigned channels);
void notifier_post(Notifier *n, unsigned channels);
int notifier_sub_fd(NotifierSub *sub);
/* Take and clear the pending mask, draining the eventfd. */
unsigned notifier_take(Notifier *n, NotifierSub *sub);

/* Migrations per backend: SQL scripts, index i is version i + 1. */
typedef struct StoreMigration {
        const char *name;
        const char *sql;
} StoreMigration;
extern const StoreMigration store_migrations_sqlite[];
extern const size_t store_n_migrations_sqlite;
extern const StoreMigration store_migrations_postgres[];
extern const size_t store_n_migrations_postgres;
extern const StoreMigration store_migrations_mysql[]; /* schema-mysql.c */
extern const size_t store_n_migrations_mysql;

/* Helpers for repository code. */
#include "strbuf.h"
typedef struct QueryBuilder {
        StrBuf sql;
        SqlArg args[SQL_ARGS_MAX];
        char *owned[SQL_ARGS_MAX];
        size_t n, n_owned;
} QueryBuilder;
void store_qb_done(QueryBuilder *q);
/* Append an argument and its "$n" placeholder. */
int store_qb_arg(QueryBuilder *q, SqlArg a);
/* Same, taking ownership of s (NULL: -ENOMEM). */
int store_qb_arg_owned(QueryBuilder *q, char *s);
/* " AND (col = $a OR col LIKE $b)": namespace prefix "a" matches "a" and "a.b", not "ab". */
int store_qb_namespace(QueryBuilder *q, const char *column, const char *prefix);
/* Escape LIKE wildcards for ESCAPE '\' and append suffix. NULL on OOM. */
char *store_like_escape(const char *s, const char *suffix);
/* NULL j -> NULL string; -E2BIG when j nests deeper than JSON_DOC_DEPTH_MAX (json-limits.h). */
int store_json_dump(json_t *j, char **ret);

/* A worker's claim (store-queue.c): its arguments, and the jobs it took (jobs, n). */
typedef struct ClaimArgs {
        const char *worker_id, *queue;
        size_t max;
        usec_t now, lease;
        StoreJob *jobs;
        size_t n;
} ClaimArgs;
#define JOB_COLUMNS "id, execution_id, task_run_id, queue, payload, epoch, worker_id, available_at, lease_until"
/* The claim's statements in tx (a StoreTxFn on ClaimArgs; PostgreSQL's own claim is claim_pg()).
 * What an earlier run of it took is freed first: a transaction run again claims again. */
int store_claim_tx(StoreTx *tx, void *userdata);
/* Rows of JOB_COLUMNS appended to a's jobs. */
int store_claim_push(ClaimArgs *a, SqlRows *rows);
/* store-jobs-sqlite.c: SQLite's claim of one queue's jobs for a; and a job's completion: its row
 * (execution_id, task_run_id) deleted and returned in ret when the epoch and worker match, else no
 * row. Without RETURNING or IN (subquery), each a temporary table to SQLite. */
int store_claim_queue_sqlite(StoreTx *tx, ClaimArgs *a, const char *queue);
int store_job_take_sqlite(StoreTx *tx, const char *job_id, int64_t epoch, const char *worker_id, SqlRows *ret);

/* store-taskruns.c: task runs are rows of task_runs, not part of the stored document. The list of
 * an execution aliased X, as one JSON text column (NULL when it has none), per dialect: */
#define SQL_TASK_RUNS_OF_PG(X)                                                                           \
        "('[' || (SELECT string_agg(t.doc, ',' ORDER BY t.ord) FROM task_runs t"                        \
        " WHERE t.execution_id = " X ".id) || ']')"
#define SQL_TASK_RUNS_OF_SQLITE(X)                                                                       \
        "('[' || (SELECT group_concat(s.doc, ',') FROM (SELECT t.doc FROM task_runs t"                  \
        " WHERE t.execution_id = " X ".id ORDER BY t.ord) s) || ']')"
/* (the session's group_concat_max_len is raised so that nothing is cut; max_allowed_packet bounds it) */
#define SQL_TASK_RUNS_OF_MYSQL(X)                                                                        \
        "('[' || (SELECT GROUP_CONCAT(t.doc ORDER BY t.ord SEPARATOR ',') FROM task_runs t"             \
        " WHERE t.execution_id = " X ".id) || ']')"
/* The document to store: doc without its task runs (a shallow copy; NULL on OOM). */
json_t *store_doc_without_task_runs(json_t *doc);
/* Write doc's task runs for an execution (meta[i] says what the i-th is): only those that differ
 * from prev_doc's at the same position (prev_doc NULL: all of them), and drop rows past the end of
 * the list. */
int store_task_runs_write(StoreTx *tx, const char *execution_id, const StoreTaskRunMeta *meta, json_t *doc,
                          json_t *prev_doc);
/* A stored document (column col_doc) with its task runs (column col_task_runs) put back. */
int store_doc_from_cells(const SqlRows *rows, size_t row, size_t col_doc, size_t col_task_runs, json_t **ret);

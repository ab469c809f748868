/* store.c: opening a store by URL, backend dispatch, transactions with retry, migrations and wake-ups. */
#include <assert.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "json-limits.h"
#include "store-private.h"
#include "strbuf.h"
#include "strutil.h"

#define RECONNECT_TIMEOUT_DEFAULT (30 * USEC_PER_SEC)
/* Transient failures (deadlock, serialization, busy) rerun at once with a short random backoff;
 * past this many something is wrong enough to report. */
#define TRANSIENT_RETRIES_MAX 1000
/* ... or this many once the process is stopping (store_set_cancel_fd()): about a second. */
#define TRANSIENT_RETRIES_STOPPING 40

/* An error text becomes one line, for the one log line that quotes it: libpq's own messages span
 * lines ("server closed the connection unexpectedly\n\tThis probably means..."), the server's
 * have DETAIL and HINT lines. A continuation line (indented) joins with a space, a new line with
 * "; "; other control characters become spaces; trailing blanks go. NULL on OOM. */
static char *error_flatten(const char *m) {
        char *f = malloc(2 * strlen(m) + 1), *w = f; /* "\n" may become "; " */
        if (!f)
                return NULL;
        for (const char *p = m; *p;) {
                if (*p == '\n' || *p == '\r') {
                        bool indented = false;
                        while (*p == '\n' || *p == '\r')
                                p++;
                        while (*p == ' ' || *p == '\t') {
                                indented = true;
                                p++;
                        }
                        if (*p && w > f)
                                w = stpcpy(w, indented ? " " : "; ");
                        continue;
                }
                *w++ = (unsigned char) *p < 0x20 || *p == 0x7f ? ' ' : *p;
                p++;
        }
        while (w > f && w[-1] == ' ')
                w--;
        *w = 0;
        return f;
}

void store_set_error(Store *s, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        free(s->error);
        s->error = m ? error_flatten(m) : NULL; /* NULL on OOM: store_error() then says so */
        free(m);
}

const char *store_error(const Store *s) {
        if (!s || !s->error)
                return "no error information";
        return s->error;
}

StoreBackend store_backend(const Store *s) {
        return s->backend;
}

void store_set_reconnect_timeout(Store *s, usec_t timeout) {
        s->reconnect_timeout = timeout;
}

void store_set_cancel_fd(Store *s, int fd) {
        s->cancel_fd = fd;
}

/* Sleep u, or less when a stop is requested: -ECANCELED then. */
static int store_sleep(const Store *s, usec_t u) {
        struct pollfd p = { .fd = s->cancel_fd, .events = POLLIN };
        usec_t end = now_monotonic() + u;
        for (;;) {
                usec_t n = now_monotonic();
                int k = poll(&p, 1, n >= end ? 0 : (int) ((end - n + USEC_PER_MSEC - 1) / USEC_PER_MSEC));
                if (k > 0)
                        return -ECANCELED;
                if (k == 0 || (errno != EINTR && errno != EAGAIN))
                        return 0;
        }
}

bool store_cancel_requested(int fd) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        return fd >= 0 && poll(&p, 1, 0) > 0;
}

static Store *store_alloc(const StoreDriver *d, StoreBackend b, const char *conninfo) {
        Store *s = calloc(1, sizeof(Store));
        if (!s)
                return NULL;
        s->driver = d;
        s->backend = b;
        s->reconnect_timeout = RECONNECT_TIMEOUT_DEFAULT;
        s->cancel_fd = -EBADF;
        s->tx.store = s;
        s->conninfo = strdup(conninfo);
        if (!s->conninfo) {
                free(s);
                return NULL;
        }
        return s;
}

int store_open(const char *url, Store **ret) {
        const StoreDriver *d;
        StoreBackend b;
        const char *conninfo, *p;
        int r;

        if (!url || !ret)
                return -EINVAL;
        if ((p = startswith(url, "sqlite://"))) {
                /* sqlite:///abs/path: the authority is empty, the path absolute. */
                if (p[0] != '/')
                        return -EINVAL;
                d = &store_driver_sqlite, b = STORE_BACKEND_SQLITE, conninfo = p;
        } else if ((p = startswith(url, "sqlite:"))) {
                if (isempty(p))
                        return -EINVAL;
                d = &store_driver_sqlite, b = STORE_BACKEND_SQLITE, conninfo = p;
        } else if (startswith(url, "mysql://") || startswith(url, "mariadb://")) {
                d = &store_driver_mysql, b = STORE_BACKEND_MYSQL, conninfo = url;
        } else if (startswith(url, "postgresql://") || startswith(url, "postgres://") || strchr(url, '=')) {
                d = &store_driver_postgres, b = STORE_BACKEND_POSTGRES, conninfo = url;
        } else
                return -EINVAL;

        _cleanup_store_ Store *s = store_alloc(d, b, conninfo);
        if (!s)
                return -ENOMEM;
        r = d->open(s, conninfo);
        if (r < 0) {
                /* Keep the reason for the caller. */
                *ret = TAKE_PTR(s);
                return r;
        }
        *ret = TAKE_PTR(s);
        return 0;
}

int store_dup(Store *s, Store **ret) {
        int r;

        _cleanup_store_ Store *n = store_alloc(s->driver, s->backend, s->conninfo);
        if (!n)
                return -ENOMEM;
        n->reconnect_timeout = s->reconnect_timeout;
        n->cancel_fd = s->cancel_fd;
        r = s->driver->dup(s, n);
        if (r < 0) {
                store_set_error(s, "%s", store_error(n));
                return r;
        }
        *ret = TAKE_PTR(n);
        return 0;
}

Store *store_free(Store *s) {
        if (!s)
                return NULL;
        if (s->tx.active)
                s->driver->rollback(s);
        s->driver->close(s);
        free(s->conninfo);
        free(s->error);
        free(s);
        return NULL;
}

/* ---- rows ----------------------------------------------------------------------------------- */

void sql_rows_done(SqlRows *r) {
        if (!r->cells)
                return;
        for (size_t i = 0; i < r->n_rows * r->n_cols; i++)
                free(r->cells[i]);
        free(r->cells);
        r->cells = NULL;
        r->n_rows = r->n_cols = 0;
}

int64_t sql_cell_i64(const SqlRows *r, size_t row, size_t col) {
        const char *c = sql_cell(r, row, col);
        int64_t v = 0;
        if (!c || safe_atoi64(c, &v) < 0)
                return 0;
        return v;
}

char *sql_cell_take(SqlRows *r, size_t row, size_t col) {
        if (!r->cells)
                return NULL;
        return TAKE_PTR(r->cells[row * r->n_cols + col]);
}

int sql_cell_json(const SqlRows *r, size_t row, size_t col, json_t **ret) {
        const char *c = sql_cell(r, row, col);
        if (!c) {
                *ret = NULL;
                return 0;
        }
        json_t *j = json_loads(c, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!j)
                return -EBADMSG;
        *ret = j;
        return 0;
}

int store_json_dump(json_t *j, char **ret) {
        if (!j) {
                *ret = NULL;
                return 0;
        }
        /* The last line behind the checks where values enter: nothing is stored that the store
         * could not read back (jansson's parser stops at 2048 levels). */
        if (json_depth(j, JSON_DOC_DEPTH_MAX) > JSON_DOC_DEPTH_MAX)
                return -E2BIG;
        char *t = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!t)
                return -ENOMEM;
        *ret = t;
        return 0;
}

/* ---- transactions --------------------------------------------------------------------------- */

static int store_reconnect_lost(Store *s, usec_t *deadline);

static int store_exec_once(Store *s, const SqlStmt *stmts, size_t n, SqlRows *rets) {
        int r;

        /* (One statement goes to exec(), which also takes a text of several without parameters.) */
        if (s->driver->exec_many && n > 1)
                return s->driver->exec_many(s, stmts, n, rets);
        for (size_t i = 0; i < n; i++)
                if ((r = s->driver->exec(s, stmts[i].sql, stmts[i].args, stmts[i].n_args, rets ? &rets[i] : NULL)) < 0) {
                        for (size_t j = 0; rets && j < i; j++)
                                sql_rows_done(&rets[j]);
                        return r;
                }
        return 0;
}

int store_exec_many(StoreTx *tx, const SqlStmt *stmts, size_t n, SqlRows *rets) {
        Store *s = tx->store;
        usec_t deadline = 0;
        int r;

        if (!tx->active)
                return -ENOTCONN;
        r = store_exec_once(s, stmts, n, rets);
        /* The first statement carries the BEGIN on PostgreSQL (pg_begin()): a connection found
         * lost there is one where nothing of the transaction happened yet, which store_begin()
         * begins again after a reconnect, as it did when the BEGIN was sent alone. */
        while (r == -ECONNRESET && tx->fresh) {
                if (store_reconnect_lost(s, &deadline) < 0)
                        break;
                if ((r = s->driver->begin(s, tx->mode)) >= 0)
                        r = store_exec_once(s, stmts, n, rets);
        }
        tx->fresh = false;
        return r;
}

int store_exec(StoreTx *tx, const char *sql, const SqlArg *args, size_t n, SqlRows *ret) {
        return store_exec_many(tx, &(SqlStmt) { .sql = sql, .args = args, .n_args = n }, 1, ret);
}

static int store_reconnect_until(Store *s, usec_t deadline);

/* After a lost connection: reconnect with backoff until *deadline (set on the first call, the
 * reconnect timeout from then). 0 when the caller may try again. */
static int store_reconnect_lost(Store *s, usec_t *deadline) {
        if (*deadline == 0)
                *deadline = now_monotonic() + s->reconnect_timeout;
        int r = store_reconnect_until(s, *deadline);
        if (r >= 0)
                return 0;
        /* Say that it waited, not only the last refusal: the caller gives up for good here. */
        _cleanup_free_ char *why = strdup(store_error(s));
        if (r == -ECANCELED)
                store_set_error(s, "stopping, not waiting for the database: %s", why ? why : "out of memory");
        else
                store_set_error(s, "the database did not answer for %.3g s: %s", (double) s->reconnect_timeout / USEC_PER_SEC,
                                why ? why : "out of memory");
        return -ECONNRESET;
}

/* Outside a transaction the statement ran alone (autocommit): it is rerun after a reconnect. The
 * callers read (store_next_due(), store_log_search(), store_job_cancelled()), or claim jobs on
 * PostgreSQL (store_job_claim(): jobs a lost claim took come back when their lease ends). */
int store_exec_raw(Store *s, const char *sql, const SqlArg *args, size_t n, SqlRows *ret) {
        usec_t deadline = 0;
        for (;;) {
                int r = s->driver->exec(s, sql, args, n, ret);
                if (r != -ECONNRESET || s->tx.active)
                        return r;
                if (store_reconnect_lost(s, &deadline) < 0)
                        return r;
        }
}

static int store_begin_mode(Store *s, TxMode mode, StoreTx **ret) {
        int r;

        if (s->tx.active)
                return -EBUSY;
        r = s->driver->begin(s, mode);
        if (r < 0)
                return r;
        s->tx = (StoreTx) { .store = s, .active = true, .mode = mode };
        *ret = &s->tx;
        return 0;
}

/* Nothing has happened yet in a transaction that could not begin: on a lost connection it is
 * begun again after a reconnect. A connection lost later in it is the caller's to handle (the next
 * store_begin() reconnects). */
int store_begin(Store *s, StoreTx **ret) {
        usec_t deadline = 0;
        for (;;) {
                int r = store_begin_mode(s, TX_READ_WRITE, ret);
                if (r >= 0)
                        (*ret)->fresh = true; /* (store_transact() reruns the whole transaction itself) */
                if (r != -ECONNRESET)
                        return r;
                if (store_reconnect_lost(s, &deadline) < 0)
                        return r;
        }
}

int store_commit(StoreTx *tx) {
        Store *s = tx->store;
        int r;

        if (!tx->active)
                return -ENOTCONN;
        r = store_tx_flush(tx);
        if (r >= 0)
                r = s->driver->commit(s, tx->notify);
        if (r < 0)
                s->driver->rollback(s);
        tx->active = false;
        tx->notify = 0;
        tx->batch = store_batch_free(tx->batch);
        return r;
}

void store_rollback(StoreTx *tx) {
        if (!tx || !tx->active)
                return;
        tx->store->driver->rollback(tx->store);
        tx->active = false;
        tx->notify = 0;
        tx->batch = store_batch_free(tx->batch);
}

static usec_t jitter(usec_t max) {
        uint32_t v = 0;
        if (max == 0)
                return 0;
        if (getrandom(&v, sizeof v, GRND_NONBLOCK) != sizeof v)
                v = (uint32_t) now_monotonic();
        return v % max;
}

/* Reconnect with exponential backoff until the deadline; once a stop is requested, one attempt
 * and -ECANCELED if it fails. */
static int store_reconnect_until(Store *s, usec_t deadline) {
        usec_t delay = 50 * USEC_PER_MSEC;
        int r;

        for (;;) {
                r = s->driver->reconnect(s);
                if (r >= 0)
                        return 0;
                if (now_monotonic() + delay > deadline)
                        return r;
                if (store_sleep(s, delay + jitter(delay / 2)) < 0)
                        return -ECANCELED;
                delay = MIN(delay * 2, 2 * USEC_PER_SEC);
        }
}

int store_transact_mode(Store *s, TxMode mode, StoreTxFn fn, void *userdata) {
        usec_t deadline = 0;
        unsigned transient = 0;
        StoreTx *tx;
        int r;

        for (;;) {
                r = store_begin_mode(s, mode, &tx);
                if (r >= 0) {
                        r = fn(tx, userdata);
                        if (r >= 0) {
                                int q = store_commit(tx);
                                if (q >= 0)
                                        return r;
                                r = q;
                        } else
                                store_rollback(tx);
                }
                if (r == -EAGAIN) {
                        /* Stopping: a deadlock still reruns, but SQLite's busy waits end at once
                         * then, and a thousand quick reruns of one busy database are no wait cut short. */
                        unsigned max = store_cancel_requested(s->cancel_fd) ? TRANSIENT_RETRIES_STOPPING : TRANSIENT_RETRIES_MAX;
                        if (++transient > max)
                                return r;
                        if (transient > 1)
                                (void) store_sleep(s, jitter(MIN(transient, 50u) * USEC_PER_MSEC));
                        continue;
                }
                if (r == -ECONNRESET) {
                        if (store_reconnect_lost(s, &deadline) < 0)
                                return -ECONNRESET;
                        continue;
                }
                return r;
        }
}

int store_transact(Store *s, StoreTxFn fn, void *userdata) {
        return store_transact_mode(s, TX_READ_WRITE, fn, userdata);
}

/* ---- schema --------------------------------------------------------------------------------- */

static const StoreMigration *store_migrations(StoreBackend b, size_t *n) {
        if (b == STORE_BACKEND_POSTGRES) {
                *n = store_n_migrations_postgres;
                return store_migrations_postgres;
        }
        if (b == STORE_BACKEND_MYSQL) {
                *n = store_n_migrations_mysql;
                return store_migrations_mysql;
        }
        *n = store_n_migrations_sqlite;
        return store_migrations_sqlite;
}

int store_schema_version_expected(StoreBackend b) {
        size_t n;
        (void) store_migrations(b, &n);
        return (int) n;
}

static int schema_version_read(StoreTx *tx, int *ret) {
        _cleanup_rows_ SqlRows rows = {};
        int r;

        r = store_exec(tx, "SELECT COALESCE(MAX(version), 0) FROM schema_version", NULL, 0, &rows);
        if (r < 0)
                return r;
        *ret = rows.n_rows > 0 ? (int) sql_cell_i64(&rows, 0, 0) : 0;
        return 0;
}

static int migrate_tx(StoreTx *tx, void *userdata) {
        Store *s = tx->store;
        size_t n;
        const StoreMigration *m = store_migrations(s->backend, &n);
        int version, r, applied = 0;

        r = store_exec(tx,
                       "CREATE TABLE IF NOT EXISTS schema_version ("
                       "version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)",
                       NULL, 0, NULL);
        if (r < 0)
                return r;
        r = schema_version_read(tx, &version);
        if (r < 0)
                return r;
        if (version > (int) n) {
                store_set_error(s, "database schema version %d is newer than this tern supports (%zu)", version, n);
                return -EPROTO;
        }
        for (size_t i = (size_t) version; i < n; i++) {
                r = store_exec(tx, m[i].sql, NULL, 0, NULL);
                if (r < 0)
                        return r;
                r = store_exec(tx, "INSERT INTO schema_version (version, name, applied) VALUES ($1, $2, $3)",
                               SQL_ARGS(SQL_I(i + 1), SQL_S(m[i].name), SQL_I(now_realtime())), NULL);
                if (r < 0)
                        return r;
                applied++;
        }
        return applied;
}

int store_migrate(Store *s) {
        return store_transact_mode(s, TX_EXCLUSIVE, migrate_tx, NULL);
}

static int check_schema_tx(StoreTx *tx, void *userdata) {
        _cleanup_rows_ SqlRows rows = {};
        int *version = userdata, r;

        /* A missing schema_version table means an empty database: version 0. */
        r = store_exec(tx,
                       tx_sql(tx, "SELECT to_regclass('schema_version') IS NOT NULL",
                              "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
                              "SELECT COUNT(*) FROM information_schema.tables"
                              " WHERE table_schema = DATABASE() AND table_name = 'schema_version'"),
                       NULL, 0, &rows);
        if (r < 0)
                return r;
        const char *c = sql_cell(&rows, 0, 0);
        if (!c || streq(c, "0") || streq(c, "f")) {
                *version = 0;
                return 0;
        }
        return schema_version_read(tx, version);
}

int store_check_schema(Store *s, int *ret_version) {
        int version = 0, expected = store_schema_version_expected(s->backend), r;

        r = store_transact(s, check_schema_tx, &version);
        if (r < 0)
                return r;
        if (ret_version)
                *ret_version = version;
        if (version < expected) {
                store_set_error(s,
                                "database schema version %d is older than this tern's (%d): run 'tern db migrate'",
                                version, expected);
                return -EPROTO;
        }
        if (version > expected) {
                store_set_error(s,
                                "database schema version %d is newer than this tern's (%d): upgrade tern",
                                version, expected);
                return -EPROTO;
        }
        return 0;
}

/* ---- wake-ups ------------------------------------------------------------------------------- */

int store_listen(Store *s, unsigned channels) {
        int r = s->driver->listen(s, channels);
        if (r >= 0)
                s->listening = channels;
        return r;
}

int store_get_fd(Store *s) {
        return s->driver->get_fd(s);
}

int store_wait(Store *s, usec_t timeout) {
        return s->driver->wait(s, timeout);
}

int store_wait_fds(Store *s, struct pollfd *fds, size_t n_fds, usec_t timeout) {
        struct pollfd p[8];

        assert(n_fds < ELEMENTSOF(p));
        for (size_t i = 0; i < n_fds; i++)
                fds[i].revents = 0;
        int ms = timeout == USEC_INFINITY ? -1 : (int) MIN((timeout + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT32_MAX);
        /* What libpq read while the caller's last statements ran: the socket has nothing more. */
        int m = store_wait(s, 0);
        if (m > 0 || timeout == 0)
                return m;
        if (m < 0) {
                /* The connection is lost and the reconnect failed: wait on the caller's fds alone
                 * before saying so. Returning at once would make a caller's wait loop a busy
                 * reconnect loop that never sees its stop fd (a worker whose database crashed
                 * then ignored SIGTERM); the timeout (a second at most) is also the reconnects'
                 * pace. */
                for (size_t i = 0; i < n_fds; i++)
                        p[i] = fds[i];
                if (poll(p, n_fds, ms < 0 || ms > 1000 ? 1000 : ms) > 0)
                        for (size_t i = 0; i < n_fds; i++)
                                fds[i].revents = p[i].revents;
                return m;
        }
        p[0] = (struct pollfd) { store_get_fd(s), POLLIN, 0 };
        if (p[0].fd < 0 && n_fds == 0)
                return store_wait(s, timeout); /* reconnects */
        for (size_t i = 0; i < n_fds; i++)
                p[i + 1] = fds[i];
        /* A negative fd is ignored by poll(): without a connection, the caller's fds alone. */
        if (poll(p, n_fds + 1, ms) < 0 && errno != EINTR)
                return -errno;
        for (size_t i = 0; i < n_fds; i++)
                fds[i].revents = p[i + 1].revents;
        return store_wait(s, 0);
}

int store_next_due(Store *s, unsigned channels, usec_t *ret) {
        usec_t best = USEC_INFINITY;
        int r;

        if (channels & STORE_CHANNEL_EVENTS) {
                _cleanup_rows_ SqlRows rows = {};
                r = store_exec_raw(s, "SELECT MIN(due_at) FROM events", NULL, 0, &rows);
                if (r < 0)
                        return r;
                if (rows.n_rows > 0 && sql_cell(&rows, 0, 0))
                        best = MIN(best, (usec_t) sql_cell_i64(&rows, 0, 0));
        }
        if (channels & STORE_CHANNEL_JOBS) {
                _cleanup_rows_ SqlRows rows = {};
                r = store_exec_raw(s, "SELECT MIN(available_at) FROM jobs WHERE worker_id IS NULL", NULL, 0, &rows);
                if (r < 0)
                        return r;
                if (rows.n_rows > 0 && sql_cell(&rows, 0, 0))
                        best = MIN(best, (usec_t) sql_cell_i64(&rows, 0, 0));
        }
        if (channels & STORE_CHANNEL_TRIGGERS) {
                _cleanup_rows_ SqlRows rows = {};
                r = store_exec_raw(s, "SELECT MIN(next_date) FROM triggers WHERE disabled = 0", NULL, 0, &rows);
                if (r < 0)
                        return r;
                if (rows.n_rows > 0 && sql_cell(&rows, 0, 0))
                        best = MIN(best, (usec_t) sql_cell_i64(&rows, 0, 0));
        }
        *ret = best;
        return 0;
}

/* ---- query building ------------------------------------------------------------------------- */

/* Escape LIKE wildcards (ESCAPE '\'). */
char *store_like_escape(const char *s, const char *suffix) {
        StrBuf b = STRBUF_INIT;
        for (const char *p = s; *p; p++) {
                if (*p == '%' || *p == '_' || *p == '\\')
                        strbuf_append_char(&b, '\\');
                strbuf_append_char(&b, *p);
        }
        strbuf_append(&b, suffix);
        return strbuf_steal(&b);
}


void store_qb_done(QueryBuilder *q) {
        strbuf_done(&q->sql);
        for (size_t i = 0; i < q->n_owned; i++)
                free(q->owned[i]);
}

/* Append an argument and its "$n" placeholder. */
int store_qb_arg(QueryBuilder *q, SqlArg a) {
        if (q->n >= SQL_ARGS_MAX)
                return -E2BIG;
        q->args[q->n++] = a;
        return strbuf_appendf(&q->sql, "$%zu", q->n);
}

int store_qb_arg_owned(QueryBuilder *q, char *s) {
        if (!s)
                return -ENOMEM;
        if (q->n_owned >= SQL_ARGS_MAX) {
                free(s);
                return -E2BIG;
        }
        q->owned[q->n_owned++] = s;
        return store_qb_arg(q, SQL_S(s));
}

/* Characters (UTF-8 code points), as both backends' substr() and length() count them. */
static int64_t utf8_chars(const char *s) {
        int64_t n = 0;
        for (; *s; s++)
                n += ((unsigned char) *s & 0xc0) != 0x80;
        return n;
}

/* Add "AND (ns = $a OR substr(ns, 1, n) = $a.)" for a namespace prefix: "a" matches "a" and "a.*",
 * not "ab", and case matters on both backends (SQLite's LIKE ignores ASCII case, and would make
 * "Company" list "company"'s executions). */
int store_qb_namespace(QueryBuilder *q, const char *column, const char *prefix) {
        strbuf_appendf(&q->sql, " AND (%s = ", column);
        store_qb_arg(q, SQL_S(prefix));
        strbuf_appendf(&q->sql, " OR substr(%s, 1, ", column);
        store_qb_arg(q, SQL_I(utf8_chars(prefix) + 1));
        strbuf_append(&q->sql, ") = ");
        store_qb_arg_owned(q, strjoin(prefix, "."));
        return strbuf_append(&q->sql, ")");
}


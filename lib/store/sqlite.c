/* sqlite.c: the embedded SQLite backend of the store (one file, WAL, one handle per thread). */
#include <errno.h>
#include <poll.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store-private.h"

/* Writers serialize on BEGIN IMMEDIATE (SQLite has one writer at a time), which also gives the
 * per-execution serialization and the disjoint job claims that PostgreSQL gets from row locks. */
#define BUSY_TIMEOUT_MS 10000

typedef struct SqliteData {
        sqlite3 *db;
        Notifier *notifier;
        NotifierSub *sub;
} SqliteData;

static SqliteData *data(Store *s) {
        return s->backend_data;
}

static int sqlite_errno(Store *s, int rc) {
        SqliteData *d = data(s);
        store_set_error(s, "%s", d && d->db ? sqlite3_errmsg(d->db) : sqlite3_errstr(rc));
        switch (rc & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
                return -EAGAIN;
        case SQLITE_NOMEM:
                return -ENOMEM;
        case SQLITE_CONSTRAINT:
                if (rc == SQLITE_CONSTRAINT_UNIQUE || rc == SQLITE_CONSTRAINT_PRIMARYKEY)
                        return -EEXIST;
                if (rc == SQLITE_CONSTRAINT_FOREIGNKEY)
                        return -ENOENT;
                return -EINVAL;
        case SQLITE_CANTOPEN:
                return -ENOENT;
        case SQLITE_READONLY:
        case SQLITE_PERM:
        case SQLITE_AUTH:
                return -EACCES;
        case SQLITE_FULL:
                return -ENOSPC;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
                return -EBADMSG;
        default:
                return -EIO;
        }
}

static int sqlite_connect(Store *s, const char *path) {
        SqliteData *d = data(s);
        int rc;

        rc = sqlite3_open_v2(path, &d->db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(s, rc);
        sqlite3_extended_result_codes(d->db, 1);
        sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
        /* WAL lets readers run beside the writer; NORMAL is durable across process crashes (a
         * power loss may drop the last commits, not corrupt). */
        rc = sqlite3_exec(d->db,
                          "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                          NULL, NULL, NULL);
        if (rc != SQLITE_OK)
                return sqlite_errno(s, rc);
        return 0;
}

static int sqlite_setup(Store *s, Notifier *shared) {
        SqliteData *d = calloc(1, sizeof(SqliteData));
        int r;

        if (!d)
                return -ENOMEM;
        s->backend_data = d;
        d->notifier = shared ? notifier_ref(shared) : notifier_new();
        if (!d->notifier)
                return -ENOMEM;
        r = notifier_subscribe(d->notifier, &d->sub);
        if (r < 0)
                return r;
        return sqlite_connect(s, s->conninfo);
}

static int sqlite_open(Store *s, const char *path) {
        return sqlite_setup(s, NULL);
}

static int sqlite_dup(Store *s, Store *n) {
        return sqlite_setup(n, data(s)->notifier);
}

static void sqlite_close(Store *s) {
        SqliteData *d = data(s);
        if (!d)
                return;
        if (d->db)
                sqlite3_close_v2(d->db);
        if (d->notifier) {
                notifier_unsubscribe(d->notifier, d->sub);
                notifier_unref(d->notifier);
        }
        free(d);
        s->backend_data = NULL;
}

static int sqlite_reconnect(Store *s) {
        SqliteData *d = data(s);
        if (d->db)
                sqlite3_close_v2(d->db);
        d->db = NULL;
        return sqlite_connect(s, s->conninfo);
}

/* "$1" -> "?1" outside quoted literals. */
static char *sqlite_translate(const char *sql) {
        char *t = strdup(sql);
        char quote = 0;
        if (!t)
                return NULL;
        for (char *p = t; *p; p++) {
                if (quote) {
                        if (*p == quote)
                                quote = 0;
                } else if (*p == '\'' || *p == '"')
                        quote = *p;
                else if (*p == '$' && p[1] >= '0' && p[1] <= '9')
                        *p = '?';
        }
        return t;
}

static int sqlite_bind(Store *s, sqlite3_stmt *st, const SqlArg *args, size_t n) {
        for (size_t i = 0; i < n; i++) {
                int rc, idx = (int) i + 1;
                switch (args[i].type) {
                case SQL_NULL:
                        rc = sqlite3_bind_null(st, idx);
                        break;
                case SQL_TEXT:
                        rc = sqlite3_bind_text(st, idx, args[i].s, -1, SQLITE_STATIC);
                        break;
                case SQL_INT:
                        rc = sqlite3_bind_int64(st, idx, args[i].i);
                        break;
                default:
                        return -EINVAL;
                }
                /* A parameter number the statement does not use is fine ($3 reused, $2 absent). */
                if (rc != SQLITE_OK && rc != SQLITE_RANGE)
                        return sqlite_errno(s, rc);
        }
        return 0;
}

static int rows_push(SqlRows *rows, sqlite3_stmt *st, size_t *cap) {
        size_t nc = rows->n_cols;
        if ((rows->n_rows + 1) * nc > *cap) {
                size_t ncap = MAX(*cap * 2, nc * 8);
                char **c = realloc(rows->cells, ncap * sizeof(char *));
                if (!c)
                        return -ENOMEM;
                rows->cells = c;
                *cap = ncap;
        }
        char **row = rows->cells + rows->n_rows * nc;
        for (size_t i = 0; i < nc; i++) {
                row[i] = NULL;
                const unsigned char *v = sqlite3_column_text(st, (int) i);
                if (v) {
                        row[i] = strdup((const char *) v);
                        if (!row[i]) {
                                rows->n_rows++; /* so the partial row is freed */
                                return -ENOMEM;
                        }
                }
        }
        rows->n_rows++;
        return 0;
}

static int sqlite_exec(Store *s, const char *sql, const SqlArg *args, size_t n_args, SqlRows *ret) {
        SqliteData *d = data(s);
        _cleanup_free_ char *t = NULL;
        SqlRows rows = {};
        size_t cap = 0;
        const char *p;
        int r = 0;

        if (!d->db)
                return -ENOTCONN;
        t = sqlite_translate(sql);
        if (!t)
                return -ENOMEM;
        p = t;
        /* Migrations are several statements; the rows of the last one with columns are kept. */
        while (*p) {
                sqlite3_stmt *st = NULL;
                const char *tail = NULL;
                int rc = sqlite3_prepare_v3(d->db, p, -1, 0, &st, &tail);
                if (rc != SQLITE_OK) {
                        r = sqlite_errno(s, rc);
                        break;
                }
                p = tail;
                if (!st)
                        continue; /* whitespace or comment */
                if (n_args > 0 && (r = sqlite_bind(s, st, args, n_args)) < 0) {
                        sqlite3_finalize(st);
                        break;
                }
                int nc = sqlite3_column_count(st);
                if (nc > 0) {
                        sql_rows_done(&rows);
                        rows.n_cols = (size_t) nc;
                        cap = 0;
                }
                while ((rc = sqlite3_step(st)) == SQLITE_ROW)
                        if (ret && nc > 0 && (r = rows_push(&rows, st, &cap)) < 0)
                                break;
                if (r >= 0 && rc != SQLITE_DONE)
                        r = sqlite_errno(s, rc);
                sqlite3_finalize(st);
                if (r < 0)
                        break;
                rows.changes = (uint64_t) sqlite3_changes64(d->db);
        }
        if (r < 0 || !ret) {
                sql_rows_done(&rows);
                return r;
        }
        *ret = rows;
        return 0;
}

static int sqlite_begin(Store *s, TxMode mode) {
        return sqlite_exec(s, mode == TX_EXCLUSIVE ? "BEGIN EXCLUSIVE" : "BEGIN IMMEDIATE", NULL, 0, NULL);
}

static int sqlite_commit(Store *s, unsigned notify) {
        int r = sqlite_exec(s, "COMMIT", NULL, 0, NULL);
        if (r < 0)
                return r;
        notifier_post(data(s)->notifier, notify);
        return 0;
}

static void sqlite_rollback(Store *s) {
        SqliteData *d = data(s);
        if (d->db && !sqlite3_get_autocommit(d->db))
                (void) sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sqlite_listen(Store *s, unsigned channels) {
        notifier_set_channels(data(s)->notifier, data(s)->sub, channels);
        return 0;
}

static int sqlite_get_fd(Store *s) {
        return notifier_sub_fd(data(s)->sub);
}

static int sqlite_wait(Store *s, usec_t timeout) {
        SqliteData *d = data(s);
        unsigned m = notifier_take(d->notifier, d->sub);
        if (m || timeout == 0)
                return (int) m;
        struct pollfd pfd = { .fd = notifier_sub_fd(d->sub), .events = POLLIN };
        int ms = timeout == USEC_INFINITY ? -1 : (int) MIN((timeout + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT32_MAX);
        if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
                return -errno;
        return (int) notifier_take(d->notifier, d->sub);
}

const StoreDriver store_driver_sqlite = {
        .name = "sqlite",
        .open = sqlite_open,
        .dup = sqlite_dup,
        .close = sqlite_close,
        .reconnect = sqlite_reconnect,
        .begin = sqlite_begin,
        .commit = sqlite_commit,
        .rollback = sqlite_rollback,
        .exec = sqlite_exec,
        .listen = sqlite_listen,
        .get_fd = sqlite_get_fd,
        .wait = sqlite_wait,
};

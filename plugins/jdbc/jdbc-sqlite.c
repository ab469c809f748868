/* jdbc-sqlite.c: the jdbc plugin's SQLite driver: jdbc:sqlite:FILE URLs (relative to the task's working
 * directory, where sqliteFile puts a database of internal storage), cells typed by their storage class. */
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jdbc.h"

static int progress(void *j) {
        return jdbc_cancelled(j); /* non-zero interrupts the statement */
}

static int sqlite_fail(Jdbc *j, sqlite3 *db) {
        return jdbc_fail(j, "SQLite: %s", db ? sqlite3_errmsg(db) : "out of memory");
}

static int sqlite_connect(Jdbc *j, const JdbcConnect *c, void **ret) {
        /* jdbc:sqlite:PATH, jdbc:sqlite::memory:, sqlite:///ABSOLUTE, or a path */
        const char *path = c->url;
        if (strncmp(path, "sqlite:", 7) == 0)
                path += 7;
        if (strncmp(path, "//", 2) == 0)
                path += 2;
        if (!*path)
                return jdbc_fail(j, "'url' names no SQLite database (jdbc:sqlite:FILE)");
        if (c->sqlite_file && strcmp(path, ":memory:") != 0 && strcmp(c->sqlite_file, path) != 0 && path[0] != '/') {
                /* The fetched database takes the URL's name, as Kestra copies it there. */
                char *from = NULL, *to = NULL;
                int r = asprintf(&from, "%s/%s", c->working_dir, c->sqlite_file) < 0 ||
                                        asprintf(&to, "%s/%s", c->working_dir, path) < 0
                                ? -ENOMEM
                                : rename(from, to) < 0 ? -errno : 0;
                free(from);
                free(to);
                if (r < 0)
                        return jdbc_fail(j, "cannot put the database of 'sqliteFile' at '%s': %s", path, strerror(-r));
        } else if (c->sqlite_file && strcmp(path, ":memory:") == 0)
                path = c->sqlite_file;

        char *full = NULL;
        if (strcmp(path, ":memory:") != 0 && path[0] != '/' ? asprintf(&full, "%s/%s", c->working_dir, path) < 0
                                                             : !(full = strdup(path)))
                return -ENOMEM;
        sqlite3 *db = NULL;
        int k = sqlite3_open_v2(full, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
        free(full);
        *ret = db;
        if (k != SQLITE_OK)
                return jdbc_fail(j, "cannot open the SQLite database '%s': %s", path,
                                 db ? sqlite3_errmsg(db) : sqlite3_errstr(k));
        sqlite3_busy_timeout(db, 5000);
        sqlite3_progress_handler(db, 1000, progress, j);
        return 0;
}

static void sqlite_disconnect(void *conn) {
        sqlite3_close_v2(conn);
}

static int sqlite_placeholder(void *conn, FILE *sql, size_t i, json_t *value) {
        (void) conn;
        (void) value;
        fprintf(sql, "?%zu", i + 1);
        return 1;
}

static int bind(sqlite3_stmt *st, int i, json_t *v) {
        switch (json_typeof(v)) {
        case JSON_NULL: return sqlite3_bind_null(st, i);
        case JSON_TRUE: return sqlite3_bind_int(st, i, 1);
        case JSON_FALSE: return sqlite3_bind_int(st, i, 0);
        case JSON_INTEGER: return sqlite3_bind_int64(st, i, json_integer_value(v));
        case JSON_REAL: return sqlite3_bind_double(st, i, json_real_value(v));
        case JSON_STRING: return sqlite3_bind_text(st, i, json_string_value(v), (int) json_string_length(v), SQLITE_TRANSIENT);
        default: {
                char *text = json_dumps(v, JSON_COMPACT);
                return text ? sqlite3_bind_text(st, i, text, -1, free) : SQLITE_NOMEM;
        }
        }
}

static int rows(Jdbc *j, sqlite3_stmt *st, int k) {
        int n = sqlite3_column_count(st), r;
        const char **names = calloc((size_t) n + 1, sizeof *names);
        Cell *cells = calloc((size_t) n + 1, sizeof *cells);
        if (!names || !cells) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < n; i++)
                names[i] = sqlite3_column_name(st, i);
        if ((r = jdbc_result_begin(j, (size_t) n, names)) < 0)
                goto out;
        for (; k == SQLITE_ROW; k = sqlite3_step(st)) {
                for (int i = 0; i < n; i++) {
                        Cell *c = &cells[i];
                        switch (sqlite3_column_type(st, i)) {
                        case SQLITE_NULL: *c = (Cell) { .kind = CELL_NULL }; continue;
                        case SQLITE_INTEGER: c->kind = CELL_INT; break;
                        case SQLITE_FLOAT: c->kind = CELL_FLOAT; break;
                        case SQLITE_BLOB:
                                c->kind = CELL_BYTES;
                                c->text = sqlite3_column_blob(st, i);
                                c->len = (size_t) sqlite3_column_bytes(st, i);
                                continue;
                        default: c->kind = CELL_STRING;
                        }
                        c->text = (const char *) sqlite3_column_text(st, i);
                        c->len = (size_t) sqlite3_column_bytes(st, i);
                }
                if ((r = jdbc_result_row(j, cells)) < 0)
                        goto out;
        }
        r = k == SQLITE_DONE ? jdbc_result_end(j) : k;
out:
        free(cells);
        free(names);
        return r;
}

static int sqlite_execute(Jdbc *j, void *conn, const char *sql, json_t *params) {
        sqlite3 *db = conn;
        /* One statement after another: the text may hold several where splitting could not see them. */
        for (const char *tail = sql; tail && *tail;) {
                sqlite3_stmt *st = NULL;
                if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK)
                        return jdbc_cancelled(j) ? -ECANCELED : sqlite_fail(j, db);
                if (!st)
                        break; /* blank or a comment */
                int r = 0, k;
                for (size_t i = 0; i < json_array_size(params) && i < (size_t) sqlite3_bind_parameter_count(st); i++)
                        if (bind(st, (int) i + 1, json_array_get(params, i)) != SQLITE_OK) {
                                r = sqlite_fail(j, db);
                                break;
                        }
                if (r >= 0) {
                        k = sqlite3_step(st);
                        if (k == SQLITE_ROW || (k == SQLITE_DONE && sqlite3_column_count(st) > 0))
                                k = rows(j, st, k);
                        if (k == SQLITE_INTERRUPT || jdbc_cancelled(j))
                                r = -ECANCELED;
                        else if (k < 0)
                                r = k;
                        else if (k != SQLITE_DONE && k != SQLITE_OK)
                                r = sqlite_fail(j, db);
                }
                sqlite3_finalize(st);
                if (r < 0)
                        return r;
        }
        return 0;
}

const JdbcDriver jdbc_sqlite = {
        .name = "SQLite",
        .placeholder = sqlite_placeholder,
        .connect = sqlite_connect,
        .execute = sqlite_execute,
        .disconnect = sqlite_disconnect,
};

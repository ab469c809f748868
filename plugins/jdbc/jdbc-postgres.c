/* jdbc-postgres.c: the jdbc plugin's PostgreSQL driver (libpq): connect and run statements without
 * blocking the worker past a kill or a timeout, rows read one at a time, cells typed by column OID. */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "jdbc.h"

/* Column type OIDs (pg_type.dat): those rendered other than as text. */
enum {
        OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_OID = 26,
        OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_DATE = 1082, OID_TIME = 1083, OID_TIMESTAMP = 1114,
        OID_TIMESTAMPTZ = 1184, OID_NUMERIC = 1700,
};

typedef struct PgConn {
        PGconn *pg;
        const char *local_offset; /* of timestamps without a time zone: "Z" in UTC, none otherwise */
} PgConn;

static bool is_utc(const char *zone) {
        return !zone || strcmp(zone, "UTC") == 0 || strcmp(zone, "Z") == 0 || strcmp(zone, "Etc/UTC") == 0 ||
               strcmp(zone, "GMT") == 0;
}

/* Waits until the socket is ready for ev, a tenth of a second at most: 1 ready, 0 not yet, -ECANCELED. */
static int wait_socket(Jdbc *j, int fd, short ev) {
        if (jdbc_cancelled(j))
                return -ECANCELED;
        struct pollfd p = { .fd = fd, .events = ev };
        int k = poll(&p, 1, 100);
        return k < 0 && errno != EINTR ? -errno : k > 0;
}

static char *trimmed_error(const char *m) {
        char *s = strdup(m ?: "unknown error");
        size_t n = s ? strlen(s) : 0;
        while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
                s[--n] = 0;
        return s;
}

/* The server's notices ("table does not exist, skipping") go to the task's log, not the worker's stderr. */
static void notice(void *j, const PGresult *res) {
        const TernPluginServices *s = jdbc_services(j);
        char *m = trimmed_error(PQresultErrorMessage(res));
        if (m)
                s->log(s->ctx, TERN_PLUGIN_LOG_INFO, m);
        free(m);
}

static int pg_connect(Jdbc *j, const JdbcConnect *c, void **ret) {
        const char *keys[8], *values[8];
        size_t n = 0;
        /* A URI (Kestra's jdbc:postgresql://HOST:PORT/DB, postgres://...) or libpq's "host=... dbname=...". */
        keys[n] = "dbname", values[n++] = c->url;
        if (c->username)
                keys[n] = "user", values[n++] = c->username;
        if (c->password)
                keys[n] = "password", values[n++] = c->password;
        keys[n] = "client_encoding", values[n++] = "UTF8";
        keys[n] = "fallback_application_name", values[n++] = "tern";
        keys[n] = NULL, values[n] = NULL;

        PgConn *pc = calloc(1, sizeof *pc);
        if (!pc)
                return -ENOMEM;
        pc->local_offset = is_utc(c->time_zone) ? "Z" : NULL;
        *ret = pc;
        pc->pg = PQconnectStartParams(keys, values, 1);
        if (!pc->pg)
                return -ENOMEM;
        for (PostgresPollingStatusType st = PGRES_POLLING_WRITING;;) {
                if (PQstatus(pc->pg) == CONNECTION_BAD || st == PGRES_POLLING_FAILED) {
                        char *m = trimmed_error(PQerrorMessage(pc->pg));
                        int r = jdbc_fail(j, "cannot connect to PostgreSQL: %s", m ?: "out of memory");
                        free(m);
                        return r;
                }
                if (st == PGRES_POLLING_OK)
                        break;
                int k = wait_socket(j, PQsocket(pc->pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT);
                if (k < 0)
                        return k;
                if (k > 0)
                        st = PQconnectPoll(pc->pg);
        }
        PQsetNoticeReceiver(pc->pg, notice, j);
        if (PQsetnonblocking(pc->pg, 1) < 0)
                return jdbc_fail(j, "PostgreSQL: %s", PQerrorMessage(pc->pg));

        /* Timestamps come back as ISO text in the task's time zone (timeZoneId, UTC by default). */
        char *zone = PQescapeLiteral(pc->pg, c->time_zone ?: "UTC", strlen(c->time_zone ?: "UTC")), *set = NULL;
        if (!zone || asprintf(&set, "SET DateStyle = ISO; SET TIME ZONE %s", zone) < 0) {
                PQfreemem(zone);
                return -ENOMEM;
        }
        PQfreemem(zone);
        int r = jdbc_postgres.execute(j, pc, set, NULL);
        free(set);
        return r;
}

static void pg_disconnect(void *conn) {
        PgConn *pc = conn;
        PQfinish(pc->pg);
        free(pc);
}

static int pg_placeholder(void *conn, FILE *sql, size_t i, json_t *value) {
        (void) conn;
        (void) value;
        fprintf(sql, "$%zu", i + 1);
        return 1;
}

static int pg_row(Jdbc *j, PgConn *pc, PGresult *res, int row) {
        int ncols = PQnfields(res), r = 0;
        Cell *cells = calloc((size_t) ncols + 1, sizeof *cells);
        char **owned = calloc((size_t) ncols + 1, sizeof *owned);
        if (!cells || !owned) {
                r = -ENOMEM;
                goto out;
        }
        for (int i = 0; i < ncols; i++) {
                Cell *c = &cells[i];
                if (PQgetisnull(res, row, i)) {
                        c->kind = CELL_NULL;
                        continue;
                }
                c->text = PQgetvalue(res, row, i);
                c->len = (size_t) PQgetlength(res, row, i);
                /* infinity and BC dates have no ISO form: left as text */
                bool special = strstr(c->text, "infinity") || strstr(c->text, "BC");
                switch (PQftype(res, i)) {
                case OID_BOOL: c->kind = CELL_BOOL; break;
                case OID_INT2: case OID_INT4: case OID_INT8: case OID_OID: c->kind = CELL_INT; break;
                case OID_FLOAT4: case OID_FLOAT8: c->kind = CELL_FLOAT; break;
                case OID_NUMERIC: c->kind = CELL_DECIMAL; break;
                case OID_DATE: c->kind = special ? CELL_STRING : CELL_DATE; break;
                case OID_TIME: c->kind = CELL_TIME; break;
                case OID_TIMESTAMP:
                case OID_TIMESTAMPTZ:
                        if (special) {
                                c->kind = CELL_STRING;
                                break;
                        }
                        if (!(owned[i] = jdbc_timestamp(c->text, PQftype(res, i) == OID_TIMESTAMP ? pc->local_offset : NULL))) {
                                r = -ENOMEM;
                                goto out;
                        }
                        c->kind = CELL_TIMESTAMP;
                        c->text = owned[i];
                        c->len = strlen(owned[i]);
                        break;
                case OID_BYTEA: {
                        size_t len = 0;
                        unsigned char *b = PQunescapeBytea((const unsigned char *) c->text, &len);
                        if (!b) {
                                r = -ENOMEM;
                                goto out;
                        }
                        /* owned[] is freed with free(); PQfreemem is free() on every platform but Windows */
                        owned[i] = (char *) b;
                        c->kind = CELL_BYTES;
                        c->text = owned[i];
                        c->len = len;
                        break;
                }
                default: c->kind = CELL_STRING;
                }
        }
        r = jdbc_result_row(j, cells);
out:
        for (int i = 0; owned && i < ncols; i++)
                free(owned[i]);
        free(owned);
        free(cells);
        return r;
}

static int pg_begin(Jdbc *j, PGresult *res) {
        int n = PQnfields(res);
        const char **names = calloc((size_t) n + 1, sizeof *names);
        if (!names)
                return -ENOMEM;
        for (int i = 0; i < n; i++)
                names[i] = PQfname(res, i);
        int r = jdbc_result_begin(j, (size_t) n, names);
        free(names);
        return r;
}

static int pg_execute(Jdbc *j, void *conn, const char *sql, json_t *params) {
        PgConn *pc = conn;
        size_t n = json_array_size(params);
        char **values = calloc(n + 1, sizeof *values);
        int r = 0, sent;
        if (!values)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                json_t *v = json_array_get(params, i);
                if (json_is_null(v))
                        continue;
                values[i] = json_is_string(v) ? strdup(json_string_value(v))
                                              : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(17));
                if (!values[i]) {
                        r = -ENOMEM;
                        goto out;
                }
        }
        sent = n > 0 ? PQsendQueryParams(pc->pg, sql, (int) n, NULL, (const char *const *) values, NULL, NULL, 0)
                     : PQsendQuery(pc->pg, sql);
        if (!sent) {
                char *m = trimmed_error(PQerrorMessage(pc->pg));
                r = jdbc_fail(j, "PostgreSQL: %s", m ?: "out of memory");
                free(m);
                goto out;
        }
        /* Rows one at a time: a STORE of many rows never holds them all. */
        PQsetSingleRowMode(pc->pg);
        while (PQflush(pc->pg) > 0)
                if ((r = wait_socket(j, PQsocket(pc->pg), POLLOUT)) < 0)
                        break;

        bool begun = false;
        char *error = NULL;
        for (;;) {
                while (r >= 0 && PQisBusy(pc->pg)) {
                        r = wait_socket(j, PQsocket(pc->pg), POLLIN);
                        if (r >= 0 && !PQconsumeInput(pc->pg))
                                r = jdbc_fail(j, "PostgreSQL: %s", PQerrorMessage(pc->pg));
                }
                if (r == -ECANCELED) {
                        /* Killed or timed out: the server stops the statement, its error ignored. */
                        PGcancel *cancel = PQgetCancel(pc->pg);
                        char buf[256];
                        if (cancel)
                                (void) PQcancel(cancel, buf, sizeof buf);
                        PQfreeCancel(cancel);
                        PQsetnonblocking(pc->pg, 0);
                        PGresult *res;
                        while ((res = PQgetResult(pc->pg)))
                                PQclear(res);
                        break;
                }
                if (r < 0)
                        break;
                PGresult *res = PQgetResult(pc->pg);
                if (!res)
                        break;
                switch (PQresultStatus(res)) {
                case PGRES_SINGLE_TUPLE:
                case PGRES_TUPLES_OK:
                        if (error)
                                break;
                        if (!begun && (r = pg_begin(j, res)) >= 0)
                                begun = true;
                        for (int i = 0; r >= 0 && i < PQntuples(res); i++)
                                r = pg_row(j, pc, res, i);
                        if (r >= 0 && PQresultStatus(res) == PGRES_TUPLES_OK) {
                                r = jdbc_result_end(j);
                                begun = false;
                        }
                        break;
                case PGRES_COMMAND_OK:
                case PGRES_EMPTY_QUERY:
                        break;
                default:
                        if (!error) {
                                const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY),
                                           *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
                                if (primary && asprintf(&error, "%s (SQLSTATE %s)", primary, state ?: "?") < 0)
                                        error = NULL;
                                if (!primary)
                                        error = trimmed_error(PQresultErrorMessage(res));
                        }
                }
                PQclear(res);
                if (r < 0) {
                        /* Drain what is left of the statement's results before saying so. */
                        while ((res = PQgetResult(pc->pg)))
                                PQclear(res);
                        break;
                }
        }
        if (r >= 0 && error)
                r = jdbc_fail(j, "PostgreSQL: %s", error);
        free(error);
out:
        for (size_t i = 0; i < n; i++)
                free(values[i]);
        free(values);
        return r < 0 ? r : 0;
}

const JdbcDriver jdbc_postgres = {
        .name = "PostgreSQL",
        .placeholder = pg_placeholder,
        .connect = pg_connect,
        .execute = pg_execute,
        .disconnect = pg_disconnect,
};

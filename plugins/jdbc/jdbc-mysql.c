/* jdbc-mysql.c: the jdbc plugin's MySQL and MariaDB driver (libmariadb): Kestra's jdbc:mysql:// URLs,
 * parameters as escaped literals, a statement stopped by KILL QUERY when the task must stop. */
#include <errno.h>
#include <mysql.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "jdbc.h"

typedef struct MyConn {
        MYSQL *my;
        /* To connect again for a KILL QUERY. */
        char *host, *user, *password, *db, *socket;
        unsigned port;
        const char *local_offset;
} MyConn;

static void my_disconnect(void *conn) {
        MyConn *mc = conn;
        if (mc->my)
                mysql_close(mc->my);
        free(mc->host);
        free(mc->user);
        free(mc->password);
        free(mc->db);
        free(mc->socket);
        free(mc);
}

/* %XX of a URL's part. */
static char *url_decode(const char *s, size_t n) {
        char *out = malloc(n + 1), *p = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                unsigned v;
                if (s[i] == '%' && i + 2 < n && sscanf(s + i + 1, "%2x", &v) == 1) {
                        *p++ = (char) v;
                        i += 2;
                } else
                        *p++ = s[i];
        }
        *p = 0;
        return out;
}

/* mysql://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE][?user=&password=&socket=] (Kestra's jdbc:mysql:// and
 * jdbc:mariadb:// with "jdbc:" taken off); other query parameters are the Java driver's, ignored. */
static int parse_url(Jdbc *j, MyConn *mc, const char *url) {
        const char *p = strstr(url, "://");
        if (!p || (strncmp(url, "mysql", 5) != 0 && strncmp(url, "mariadb", 7) != 0))
                return jdbc_fail(j, "'url' is not a MySQL URL (jdbc:mysql://HOST:PORT/DATABASE or mysql://USER:PASSWORD@HOST:PORT/DATABASE)");
        p += 3;
        const char *end = p + strcspn(p, "/?"), *at = memchr(p, '@', (size_t) (end - p));
        if (at) {
                const char *colon = memchr(p, ':', (size_t) (at - p));
                mc->user = url_decode(p, (size_t) ((colon ?: at) - p));
                if (colon)
                        mc->password = url_decode(colon + 1, (size_t) (at - colon - 1));
                p = at + 1;
        }
        const char *colon = memchr(p, ':', (size_t) (end - p));
        mc->host = url_decode(p, (size_t) ((colon ?: end) - p));
        if (colon)
                mc->port = (unsigned) strtoul(colon + 1, NULL, 10);
        if (*end == '/') {
                const char *q = end + 1 + strcspn(end + 1, "?");
                mc->db = url_decode(end + 1, (size_t) (q - end - 1));
                end = q;
        }
        if (*end == '?')
                for (const char *k = end + 1; *k;) {
                        size_t n = strcspn(k, "&"), kl = strcspn(k, "=");
                        char **dst = kl < n && strncmp(k, "user", kl) == 0 && kl == 4       ? &mc->user
                                     : kl < n && strncmp(k, "password", kl) == 0 && kl == 8 ? &mc->password
                                     : kl < n && strncmp(k, "socket", kl) == 0 && kl == 6   ? &mc->socket
                                                                                            : NULL;
                        if (dst) {
                                free(*dst);
                                *dst = url_decode(k + kl + 1, n - kl - 1);
                        }
                        k += n + (k[n] == '&');
                }
        return mc->host ? 0 : -ENOMEM;
}

static MYSQL *my_open(MyConn *mc, const TernPluginServices *s) {
        MYSQL *my = mysql_init(NULL);
        if (!my)
                return NULL;
        uint64_t left = s->remaining_usec(s->ctx);
        unsigned timeout = left / 1000000 < 30 ? (unsigned) (left / 1000000) + 1 : 30;
        mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        mysql_real_connect(my, *mc->host ? mc->host : "localhost", mc->user, mc->password, mc->db, mc->port, mc->socket,
                           CLIENT_MULTI_RESULTS);
        return my;
}

static int my_fail(Jdbc *j, MYSQL *my) {
        return jdbc_fail(j, "MySQL: %s (error %u)", mysql_error(my), mysql_errno(my));
}

static int my_connect(Jdbc *j, const JdbcConnect *c, void **ret) {
        MyConn *mc = calloc(1, sizeof *mc);
        int r;
        if (!mc)
                return -ENOMEM;
        *ret = mc;
        if ((r = parse_url(j, mc, c->url)) < 0)
                return r;
        /* The KILL QUERY connection uses the same account. */
        if (c->username) {
                free(mc->user);
                mc->user = strdup(c->username);
        }
        if (c->password) {
                free(mc->password);
                mc->password = strdup(c->password);
        }
        mc->local_offset = !c->time_zone || strcmp(c->time_zone, "UTC") == 0 || strcmp(c->time_zone, "Z") == 0 ? "Z" : NULL;
        if (!(mc->my = my_open(mc, jdbc_services(j))))
                return -ENOMEM;
        if (mysql_errno(mc->my))
                return jdbc_fail(j, "cannot connect to MySQL: %s", mysql_error(mc->my));
        const char *zone = c->time_zone && !mc->local_offset ? c->time_zone : "+00:00";
        char *esc = malloc(strlen(zone) * 2 + 1), *set = NULL;
        if (!esc)
                return -ENOMEM;
        mysql_real_escape_string(mc->my, esc, zone, strlen(zone));
        r = asprintf(&set, "SET time_zone = '%s'", esc);
        free(esc);
        if (r < 0)
                return -ENOMEM;
        r = jdbc_mysql.execute(j, mc, set, NULL);
        free(set);
        return r;
}

/* MySQL has placeholders only in its binary protocol: parameters are written as literals, escaped
 * for the connection's character set. */
static int my_placeholder(void *conn, FILE *sql, size_t i, json_t *value) {
        MyConn *mc = conn;
        (void) i;
        switch (json_typeof(value)) {
        case JSON_NULL: fputs("NULL", sql); return 0;
        case JSON_TRUE: fputs("TRUE", sql); return 0;
        case JSON_FALSE: fputs("FALSE", sql); return 0;
        case JSON_INTEGER: fprintf(sql, "%" JSON_INTEGER_FORMAT, json_integer_value(value)); return 0;
        case JSON_REAL: fprintf(sql, "%.17g", json_real_value(value)); return 0;
        default: break;
        }
        char *text = json_is_string(value) ? strdup(json_string_value(value)) : json_dumps(value, JSON_COMPACT);
        size_t n = text ? strlen(text) : 0;
        char *esc = text ? malloc(n * 2 + 1) : NULL;
        if (!esc) {
                free(text);
                return -ENOMEM;
        }
        mysql_real_escape_string(mc->my, esc, text, n);
        fprintf(sql, "'%s'", esc);
        free(esc);
        free(text);
        return 0;
}

static void kill_query(MyConn *mc, Jdbc *j) {
        MYSQL *k = my_open(mc, jdbc_services(j));
        char q[64];
        snprintf(q, sizeof q, "KILL QUERY %lu", mysql_thread_id(mc->my));
        if (k && !mysql_errno(k))
                (void) mysql_query(k, q);
        if (k)
                mysql_close(k);
}

static int my_cell(MyConn *mc, const MYSQL_FIELD *f, const char *v, unsigned long len, Cell *c, char **owned) {
        if (!v) {
                c->kind = CELL_NULL;
                return 0;
        }
        c->text = v;
        c->len = len;
        switch (f->type) {
        case MYSQL_TYPE_TINY:
                /* TINYINT(1) is MySQL's BOOLEAN, a Boolean for Kestra's driver */
                c->kind = f->length == 1 ? CELL_BOOL : CELL_INT;
                break;
        case MYSQL_TYPE_BIT:
                if (f->length == 1) {
                        c->kind = CELL_BOOL;
                        c->text = len > 0 && v[0] ? "1" : "0";
                        c->len = 1;
                } else
                        c->kind = CELL_BYTES;
                break;
        case MYSQL_TYPE_SHORT: case MYSQL_TYPE_LONG: case MYSQL_TYPE_INT24: case MYSQL_TYPE_LONGLONG: case MYSQL_TYPE_YEAR:
                c->kind = CELL_INT;
                break;
        case MYSQL_TYPE_DECIMAL: case MYSQL_TYPE_NEWDECIMAL: c->kind = CELL_DECIMAL; break;
        case MYSQL_TYPE_FLOAT: case MYSQL_TYPE_DOUBLE: c->kind = CELL_FLOAT; break;
        case MYSQL_TYPE_DATE: case MYSQL_TYPE_NEWDATE:
                c->kind = strncmp(v, "0000", 4) == 0 ? CELL_STRING : CELL_DATE;
                break;
        case MYSQL_TYPE_TIME: c->kind = CELL_TIME; break;
        case MYSQL_TYPE_DATETIME: case MYSQL_TYPE_TIMESTAMP:
                if (strncmp(v, "0000", 4) == 0) {
                        c->kind = CELL_STRING;
                        break;
                }
                if (!(*owned = jdbc_timestamp(v, mc->local_offset)))
                        return -ENOMEM;
                c->kind = CELL_TIMESTAMP;
                c->text = *owned;
                c->len = strlen(*owned);
                break;
        case MYSQL_TYPE_TINY_BLOB: case MYSQL_TYPE_MEDIUM_BLOB: case MYSQL_TYPE_LONG_BLOB: case MYSQL_TYPE_BLOB:
        case MYSQL_TYPE_STRING: case MYSQL_TYPE_VAR_STRING: case MYSQL_TYPE_VARCHAR:
                c->kind = f->charsetnr == 63 ? CELL_BYTES : CELL_STRING; /* 63: the binary "character set" */
                break;
        default: c->kind = CELL_STRING;
        }
        return 0;
}

static int my_result(Jdbc *j, MyConn *mc, MYSQL_RES *res) {
        unsigned n = mysql_num_fields(res);
        MYSQL_FIELD *fields = mysql_fetch_fields(res);
        const char **names = calloc(n + 1, sizeof *names);
        Cell *cells = calloc(n + 1, sizeof *cells);
        char **owned = calloc(n + 1, sizeof *owned);
        int r = 0;
        if (!names || !cells || !owned) {
                r = -ENOMEM;
                goto out;
        }
        for (unsigned i = 0; i < n; i++)
                names[i] = fields[i].name;
        if ((r = jdbc_result_begin(j, n, names)) < 0)
                goto out;
        MYSQL_ROW row;
        while (r >= 0 && (row = mysql_fetch_row(res))) {
                unsigned long *lens = mysql_fetch_lengths(res);
                for (unsigned i = 0; r >= 0 && i < n; i++)
                        r = my_cell(mc, &fields[i], row[i], lens[i], &cells[i], &owned[i]);
                if (r >= 0)
                        r = jdbc_result_row(j, cells);
                for (unsigned i = 0; i < n; i++) {
                        free(owned[i]);
                        owned[i] = NULL;
                }
                if (r >= 0 && jdbc_cancelled(j))
                        r = -ECANCELED;
        }
        if (r >= 0 && mysql_errno(mc->my))
                r = my_fail(j, mc->my);
        if (r >= 0)
                r = jdbc_result_end(j);
out:
        free(owned);
        free(cells);
        free(names);
        return r;
}

static int my_execute(Jdbc *j, void *conn, const char *sql, json_t *params) {
        MyConn *mc = conn;
        (void) params; /* inlined by my_placeholder() */
        if (mysql_send_query(mc->my, sql, strlen(sql)) != 0)
                return my_fail(j, mc->my);
        /* Wait for the answer, checking whether the task must stop meanwhile. */
        for (;;) {
                struct pollfd p = { .fd = mysql_get_socket(mc->my), .events = POLLIN };
                if (jdbc_cancelled(j)) {
                        kill_query(mc, j);
                        (void) mysql_read_query_result(mc->my);
                        return -ECANCELED;
                }
                if (poll(&p, 1, 100) > 0)
                        break;
        }
        if (mysql_read_query_result(mc->my) != 0)
                return my_fail(j, mc->my);
        int r = 0;
        do {
                if (mysql_field_count(mc->my) == 0)
                        continue;
                MYSQL_RES *res = mysql_use_result(mc->my);
                if (!res)
                        return my_fail(j, mc->my);
                if (r >= 0)
                        r = my_result(j, mc, res);
                mysql_free_result(res);
        } while (mysql_next_result(mc->my) == 0);
        if (r >= 0 && mysql_errno(mc->my))
                r = my_fail(j, mc->my);
        return r;
}

const JdbcDriver jdbc_mysql = {
        .name = "MySQL",
        .placeholder = my_placeholder,
        .connect = my_connect,
        .execute = my_execute,
        .disconnect = my_disconnect,
};

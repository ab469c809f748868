/* jdbc.c: Kestra's JDBC Query and Queries tasks (PostgreSQL, MySQL/MariaDB, SQLite) as a native plugin:
 * properties, statements and named parameters, fetchType's outputs and Ion files, the drivers' rows. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "jdbc.h"

struct Jdbc {
        const TernPluginServices *s;
        FetchType fetch;
        bool failed;

        /* The statement whose rows come in. */
        size_t ncols;
        char **names;
        uint64_t size;
        json_t *row, *rows;
        FILE *store;
        char *store_file;

        json_t *results; /* one output object per statement with a result */
        size_t kept;     /* how many of them are the task's statements' (not afterSQL's) */
        uint64_t total;
        unsigned n_files;
};

int jdbc_fail(Jdbc *j, const char *fmt, ...) {
        char *m = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        j->s->fail(j->s->ctx, m ?: "out of memory");
        j->failed = true;
        free(m);
        return -EIO;
}

const TernPluginServices *jdbc_services(Jdbc *j) {
        return j->s;
}

bool jdbc_cancelled(Jdbc *j) {
        return j->s->cancelled(j->s->ctx);
}

char *jdbc_timestamp(const char *text, const char *zone_offset) {
        size_t n = strlen(text);
        char *out = malloc(n + 16), *p = out;
        if (!out)
                return NULL;
        /* Date part, T, time part up to an offset (a sign or Z after the time's first colon). */
        const char *t = text, *colon = strchr(text, ':');
        for (; *t; t++) {
                if (colon && t > colon && (*t == '+' || *t == '-' || *t == 'Z'))
                        break;
                *p++ = *t == ' ' ? 'T' : *t;
        }
        if (*t == 'Z' || ((*t == '+' || *t == '-') && strspn(t + 1, "0:") == strlen(t + 1)))
                *p++ = 'Z';
        else if (*t) {
                /* +HH, +HHMM, +HH:MM, +HH:MM:SS: Kestra's offsets are +HH:MM (seconds dropped). */
                const char *d = t + 1;
                *p++ = *t;
                *p++ = d[0] ?: '0';
                *p++ = d[0] ? d[1] : '0';
                *p++ = ':';
                d += strlen(d) >= 2 ? 2 : strlen(d);
                if (*d == ':')
                        d++;
                *p++ = d[0] ?: '0';
                *p++ = d[0] ? d[1] : '0';
        } else if (zone_offset)
                p = stpcpy(p, zone_offset);
        *p = 0;
        return out;
}

/* ---- cells as JSON and as Ion text ---- */

static char *base64(const char *data, size_t len) {
        static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        const unsigned char *d = (const unsigned char *) data;
        char *out = malloc((len + 2) / 3 * 4 + 1), *p = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < len; i += 3) {
                uint32_t v = (uint32_t) d[i] << 16 | (i + 1 < len ? (uint32_t) d[i + 1] << 8 : 0) |
                             (i + 2 < len ? d[i + 2] : 0);
                *p++ = a[v >> 18 & 63];
                *p++ = a[v >> 12 & 63];
                *p++ = i + 1 < len ? a[v >> 6 & 63] : '=';
                *p++ = i + 2 < len ? a[v & 63] : '=';
        }
        *p = 0;
        return out;
}

static bool cell_true(const Cell *c) {
        return c->len > 0 && (c->text[0] == 't' || c->text[0] == 'T' || c->text[0] == '1');
}

static json_t *cell_json(const Cell *c) {
        char *end;
        switch (c->kind) {
        case CELL_NULL:
                return json_null();
        case CELL_BOOL:
                return json_boolean(cell_true(c));
        case CELL_INT: {
                errno = 0;
                long long v = strtoll(c->text, &end, 10);
                if (errno == 0 && *end == 0)
                        return json_integer(v);
                return json_stringn(c->text, c->len); /* past 64 bits: as Kestra gives a BigInteger */
        }
        case CELL_DECIMAL:
        case CELL_FLOAT: {
                double d = strtod(c->text, &end);
                if (*end == 0 && isfinite(d))
                        return json_real(d);
                return json_stringn(c->text, c->len); /* NaN and infinities have no JSON number */
        }
        case CELL_BYTES: {
                char *b = base64(c->text, c->len);
                json_t *v = b ? json_string(b) : NULL;
                free(b);
                return v;
        }
        default:
                return json_stringn(c->text, c->len);
        }
}

static void ion_string(FILE *f, const char *s, size_t len, char quote) {
        fputc(quote, f);
        for (size_t i = 0; i < len; i++) {
                unsigned char ch = (unsigned char) s[i];
                if (ch == (unsigned char) quote || ch == '\\')
                        fprintf(f, "\\%c", ch);
                else if (ch == '\n')
                        fputs("\\n", f);
                else if (ch == '\t')
                        fputs("\\t", f);
                else if (ch == '\r')
                        fputs("\\r", f);
                else if (ch < 0x20 || ch == 0x7f)
                        fprintf(f, "\\x%02x", ch);
                else
                        fputc(ch, f);
        }
        fputc(quote, f);
}

static void ion_field_name(FILE *f, const char *name) {
        static const char *const keywords[] = { "null", "true", "false", "nan", NULL };
        bool ident = (name[0] >= 'a' && name[0] <= 'z') || (name[0] >= 'A' && name[0] <= 'Z') || name[0] == '_' ||
                     name[0] == '$';
        for (const char *p = name; ident && *p; p++)
                ident = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '_' ||
                        *p == '$';
        for (size_t i = 0; ident && keywords[i]; i++)
                ident = strcmp(name, keywords[i]) != 0;
        if (ident)
                fputs(name, f);
        else
                ion_string(f, name, strlen(name), '\'');
}

/* The shortest text of d that reads back as d, as an Ion float (an exponent is what makes it one). */
static void ion_float(FILE *f, double d) {
        if (isnan(d)) {
                fputs("nan", f);
                return;
        }
        if (isinf(d)) {
                fputs(d > 0 ? "+inf" : "-inf", f);
                return;
        }
        char buf[64];
        for (int prec = 15; prec <= 17; prec++) {
                snprintf(buf, sizeof buf, "%.*g", prec, d);
                if (strtod(buf, NULL) == d)
                        break;
        }
        char *e = strchr(buf, 'e');
        if (!e) {
                fprintf(f, "%se0", buf);
                return;
        }
        *e = 0;
        const char *exp = e + 1;
        if (*exp == '+')
                exp++;
        fprintf(f, "%se%s", buf, exp);
}

static int cell_ion(FILE *f, const Cell *c) {
        switch (c->kind) {
        case CELL_NULL:
                fputs("null", f);
                break;
        case CELL_BOOL:
                fputs(cell_true(c) ? "true" : "false", f);
                break;
        case CELL_INT:
                fwrite(c->text, 1, c->len, f);
                break;
        case CELL_DECIMAL:
                if (strspn(c->text, "+-0123456789.") != c->len)
                        ion_float(f, strtod(c->text, NULL)); /* NaN: no Ion decimal says it */
                else {
                        fwrite(c->text, 1, c->len, f);
                        if (!memchr(c->text, '.', c->len))
                                fputc('.', f); /* "12." is a decimal, "12" an int */
                }
                break;
        case CELL_FLOAT:
                ion_float(f, strtod(c->text, NULL));
                break;
        case CELL_TIMESTAMP:
                fwrite(c->text, 1, c->len, f);
                /* Ion timestamps with a time have an offset: -00:00 is Ion's "unknown". */
                if (!memchr(c->text, 'Z', c->len) && !memchr(c->text + 11, '+', c->len - 11) &&
                    !memchr(c->text + 11, '-', c->len - 11))
                        fputs("-00:00", f);
                break;
        case CELL_DATE:
                fwrite(c->text, 1, c->len, f);
                break;
        case CELL_BYTES: {
                char *b = base64(c->text, c->len);
                if (!b)
                        return -ENOMEM;
                fprintf(f, "{{%s}}", b);
                free(b);
                break;
        }
        default:
                ion_string(f, c->text, c->len, '"');
        }
        return 0;
}

/* ---- results ---- */

static void result_reset(Jdbc *j) {
        for (size_t i = 0; i < j->ncols; i++)
                free(j->names[i]);
        free(j->names);
        j->names = NULL;
        j->ncols = 0;
        json_decref(j->row);
        json_decref(j->rows);
        j->row = j->rows = NULL;
        if (j->store)
                fclose(j->store);
        j->store = NULL;
        free(j->store_file);
        j->store_file = NULL;
}

int jdbc_result_begin(Jdbc *j, size_t ncols, const char *const *names) {
        result_reset(j);
        j->size = 0;
        j->names = calloc(ncols ?: 1, sizeof(char *));
        if (!j->names)
                return -ENOMEM;
        for (size_t i = 0; i < ncols; i++)
                if (!(j->names[j->ncols++] = strdup(names[i] ?: "")))
                        return -ENOMEM;
        if (j->fetch == FETCH_ALL && !(j->rows = json_array()))
                return -ENOMEM;
        if (j->fetch == FETCH_STORE) {
                if (asprintf(&j->store_file, "result-%u.ion", ++j->n_files) < 0) {
                        j->store_file = NULL;
                        return -ENOMEM;
                }
                char *path = NULL;
                if (asprintf(&path, "%s/%s", j->s->working_dir, j->store_file) < 0)
                        return -ENOMEM;
                j->store = fopen(path, "wxe");
                free(path);
                if (!j->store)
                        return jdbc_fail(j, "cannot write the result file '%s': %s", j->store_file, strerror(errno));
        }
        return 0;
}

static json_t *row_json(Jdbc *j, const Cell *cells) {
        json_t *o = json_object();
        for (size_t i = 0; o && i < j->ncols; i++)
                if (json_object_set_new(o, j->names[i], cell_json(&cells[i])) < 0) {
                        json_decref(o);
                        return NULL;
                }
        return o;
}

int jdbc_result_row(Jdbc *j, const Cell *cells) {
        switch (j->fetch) {
        case FETCH_NONE:
                return 0;
        case FETCH_ONE:
                if (j->size > 0)
                        return 0;
                if (!(j->row = row_json(j, cells)))
                        return -ENOMEM;
                break;
        case FETCH_ALL:
                if (json_array_append_new(j->rows, row_json(j, cells)) < 0)
                        return -ENOMEM;
                break;
        case FETCH_STORE:
                /* One Ion struct a line, columns in order: Kestra's item files. */
                fputc('{', j->store);
                for (size_t i = 0; i < j->ncols; i++) {
                        if (i > 0)
                                fputc(',', j->store);
                        ion_field_name(j->store, j->names[i]);
                        fputc(':', j->store);
                        if (cell_ion(j->store, &cells[i]) < 0)
                                return -ENOMEM;
                }
                fputs("}\n", j->store);
                break;
        }
        j->size++;
        return 0;
}

int jdbc_result_end(Jdbc *j) {
        json_t *o = json_object();
        int r = 0;
        if (!o)
                return -ENOMEM;
        switch (j->fetch) {
        case FETCH_NONE:
                break;
        case FETCH_ONE:
                if (j->row)
                        json_object_set(o, "row", j->row);
                json_object_set_new(o, "size", json_integer(j->size > 0));
                break;
        case FETCH_ALL:
                json_object_set(o, "rows", j->rows);
                json_object_set_new(o, "size", json_integer((json_int_t) j->size));
                break;
        case FETCH_STORE: {
                FILE *f = j->store;
                j->store = NULL;
                if (fclose(f) != 0) {
                        r = jdbc_fail(j, "cannot write the result file '%s': %s", j->store_file, strerror(errno));
                        break;
                }
                char *uri = NULL;
                r = j->s->storage_put(j->s->ctx, j->store_file, &uri);
                if (r < 0) {
                        r = jdbc_fail(j, "cannot keep the result file '%s' in internal storage: %s", j->store_file,
                                      strerror(-r));
                        break;
                }
                json_object_set_new(o, "uri", json_string(uri));
                json_object_set_new(o, "size", json_integer((json_int_t) j->size));
                free(uri);
                break;
        }
        }
        if (r >= 0 && json_array_append(j->results, o) < 0)
                r = -ENOMEM;
        json_decref(o);
        j->total += j->fetch == FETCH_ONE ? j->size > 0 : j->size;
        result_reset(j);
        return r;
}

/* ---- statements ---- */

/* The statements of sql, split at semicolons outside quotes and comments; blank ones dropped. Named
 * parameters (":name" outside quotes, "::" casts left alone) are replaced by the driver's
 * placeholders when params has any (as Kestra does), their values appended to *ret_values. */
typedef struct Statement {
        char *sql;
        json_t *values;
} Statement;

static int split_statements(Jdbc *j, const JdbcDriver *drv, void *conn, const char *sql, json_t *params,
                            Statement **ret, size_t *ret_n) {
        Statement *st = NULL;
        size_t n = 0;
        char *buf = NULL;
        size_t len = 0;
        FILE *f = NULL;
        json_t *values = NULL;
        bool named = json_object_size(params) > 0, blank = true;
        int r = 0;

        for (const char *p = sql;; p++) {
                if (!f) {
                        if (!(f = open_memstream(&buf, &len)) || !(values = json_array()))
                                goto oom;
                        blank = true;
                }
                if (*p == 0 || *p == ';') {
                        fclose(f);
                        f = NULL;
                        if (!blank) {
                                Statement *ns = realloc(st, (n + 1) * sizeof *st);
                                if (!ns)
                                        goto oom;
                                st = ns;
                                st[n++] = (Statement) { .sql = buf, .values = values };
                        } else {
                                free(buf);
                                json_decref(values);
                        }
                        buf = NULL;
                        values = NULL;
                        if (*p == 0)
                                break;
                        continue;
                }
                if (*p == '\'' || *p == '"' || *p == '`') {
                        const char *e = p + 1;
                        while (*e && *e != *p)
                                e += *e == '\\' && drv == &jdbc_mysql && e[1] ? 2 : 1;
                        fwrite(p, 1, (size_t) (e - p) + (*e != 0), f);
                        p = *e ? e : e - 1;
                        blank = false;
                        continue;
                }
                if (*p == '$' && drv == &jdbc_postgres) {
                        /* PostgreSQL's dollar quotes ($$ or $tag$), function bodies with semicolons in them */
                        size_t k = 1 + strspn(p + 1, "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ");
                        if (p[k] == '$') {
                                char *tag = strndup(p, k + 1);
                                const char *e = tag ? strstr(p + k + 1, tag) : NULL;
                                free(tag);
                                e = e ? e + k + 1 : p + strlen(p);
                                fwrite(p, 1, (size_t) (e - p), f);
                                p = e - 1;
                                blank = false;
                                continue;
                        }
                }
                if ((p[0] == '-' && p[1] == '-') || (p[0] == '/' && p[1] == '*')) {
                        const char *e = p[0] == '-' ? strchr(p, '\n') : strstr(p + 2, "*/");
                        e = e ? e + (p[0] == '-' ? 0 : 2) : p + strlen(p);
                        fwrite(p, 1, (size_t) (e - p), f);
                        p = e - 1;
                        continue;
                }
                if (p[0] == ':' && p[1] == ':') {
                        fputs("::", f);
                        p++;
                        continue;
                }
                if (named && p[0] == ':' && (p[1] == '_' || (p[1] >= 'a' && p[1] <= 'z') || (p[1] >= 'A' && p[1] <= 'Z') ||
                                             (p[1] >= '0' && p[1] <= '9'))) {
                        size_t k = strspn(p + 1, "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
                        char *name = strndup(p + 1, k);
                        if (!name)
                                goto oom;
                        json_t *v = json_object_get(params, name);
                        if (!v) {
                                r = jdbc_fail(j, "the SQL names the parameter ':%s', which is not in 'parameters'", name);
                                free(name);
                                goto fail;
                        }
                        free(name);
                        r = drv->placeholder(conn, f, json_array_size(values), v);
                        if (r < 0)
                                goto fail;
                        if (r > 0 && json_array_append(values, v) < 0)
                                goto oom;
                        p += k;
                        blank = false;
                        continue;
                }
                if (!strchr(" \t\r\n", *p))
                        blank = false;
                fputc(*p, f);
        }
        *ret = st;
        *ret_n = n;
        return 0;
oom:
        r = -ENOMEM;
fail:
        if (f)
                fclose(f);
        free(buf);
        json_decref(values);
        for (size_t i = 0; i < n; i++) {
                free(st[i].sql);
                json_decref(st[i].values);
        }
        free(st);
        return r;
}

/* ---- the task ---- */

static const char *prop_string(json_t *props, const char *name) {
        return json_string_value(json_object_get(props, name));
}

static int fetch_type(Jdbc *j, json_t *props, FetchType *ret) {
        static const char *const names[] = { [FETCH_NONE] = "NONE", [FETCH_ONE] = "FETCH_ONE", [FETCH_ALL] = "FETCH",
                                             [FETCH_STORE] = "STORE" };
        /* Kestra's deprecated booleans win over fetchType, as there. */
        if (json_is_true(json_object_get(props, "fetch")))
                return *ret = FETCH_ALL, 0;
        if (json_is_true(json_object_get(props, "fetchOne")))
                return *ret = FETCH_ONE, 0;
        if (json_is_true(json_object_get(props, "store")))
                return *ret = FETCH_STORE, 0;
        const char *t = prop_string(props, "fetchType") ?: "NONE";
        for (size_t i = 0; i < sizeof names / sizeof *names; i++)
                if (strcmp(t, names[i]) == 0)
                        return *ret = (FetchType) i, 0;
        return jdbc_fail(j, "'fetchType' is '%s', not one of NONE, FETCH_ONE, FETCH and STORE", t);
}

/* The driver of a type: io.kestra.plugin.jdbc.<driver>.Query[ies]. */
static const JdbcDriver *type_driver(const char *type, bool *ret_queries) {
        static const struct {
                const char *prefix;
                const JdbcDriver *drv;
        } drivers[] = {
                { "io.kestra.plugin.jdbc.postgresql.", &jdbc_postgres },
                { "io.kestra.plugin.jdbc.mysql.", &jdbc_mysql },
                { "io.kestra.plugin.jdbc.sqlite.", &jdbc_sqlite },
        };
        for (size_t i = 0; i < sizeof drivers / sizeof *drivers; i++) {
                size_t n = strlen(drivers[i].prefix);
                if (strncmp(type, drivers[i].prefix, n) == 0) {
                        *ret_queries = strcmp(type + n, "Queries") == 0;
                        return drivers[i].drv;
                }
        }
        return NULL;
}

/* The statements in order, in one transaction when asked (a failure rolls it back). Those from
 * 'main' on are the task's own; the ones after (afterSQL) have their rows ignored. */
static int run_statements(Jdbc *j, const JdbcDriver *drv, void *conn, Statement *st, size_t n, size_t main,
                          bool transaction) {
        int r;
        if (transaction && (r = drv->execute(j, conn, "BEGIN", NULL)) < 0)
                return r;
        for (size_t i = 0; i < n; i++) {
                if (jdbc_cancelled(j))
                        return -ECANCELED;
                if (i == main)
                        j->fetch = FETCH_NONE;
                r = drv->execute(j, conn, st[i].sql, st[i].values);
                if (r < 0) {
                        /* Closing the connection without a COMMIT rolls the transaction back. */
                        if (transaction)
                                j->s->log(j->s->ctx, TERN_PLUGIN_LOG_WARN, "statement failed: the transaction is rolled back");
                        return r;
                }
                if (i + 1 == main)
                        j->kept = json_array_size(j->results);
        }
        if (transaction && (r = drv->execute(j, conn, "COMMIT", NULL)) < 0)
                return r;
        return 0;
}

static int jdbc_run(const char *type, const char *properties_json, const TernPluginServices *s) {
        Jdbc j = { .s = s };
        json_t *props = json_loads(properties_json, 0, NULL);
        Statement *st = NULL;
        size_t n = 0;
        void *conn = NULL;
        bool queries = false;
        const JdbcDriver *drv = type_driver(type, &queries);
        int r;

        if (!props || !(j.results = json_array())) {
                r = -ENOMEM;
                goto out;
        }
        if (!drv) {
                r = jdbc_fail(&j, "the jdbc plugin has no driver for type '%s'", type);
                goto out;
        }
        if ((r = fetch_type(&j, props, &j.fetch)) < 0)
                goto out;
        const char *url = prop_string(props, "url"), *sql = prop_string(props, "sql");
        if (!url || !sql) {
                r = jdbc_fail(&j, "'url' and 'sql' are required");
                goto out;
        }
        if (strncmp(url, "jdbc:", 5) == 0)
                url += 5;
        json_t *params = json_object_get(props, "parameters");
        if (params && !json_is_object(params) && !json_is_null(params)) {
                r = jdbc_fail(&j, "'parameters' must be a map of names to values");
                goto out;
        }
        JdbcConnect c = {
                .url = url,
                .username = prop_string(props, "username"),
                .password = prop_string(props, "password"),
                .time_zone = prop_string(props, "timeZoneId"),
                .working_dir = s->working_dir,
                .sqlite_file = prop_string(props, "sqliteFile"),
        };
        if ((r = drv->connect(&j, &c, &conn)) < 0)
                goto out;
        if ((r = split_statements(&j, drv, conn, sql, params, &st, &n)) < 0)
                goto out;
        if (!queries && n > 1) {
                r = jdbc_fail(&j, "Query runs one SQL statement, and 'sql' has %zu: use the Queries task to run several", n);
                goto out;
        }
        json_t *tx = json_object_get(props, "transaction");
        bool transaction = queries && (!tx || json_is_true(tx));
        size_t main = n;
        const char *after = prop_string(props, "afterSQL");
        if (after && !queries) {
                /* Kestra runs it after the query in the same transaction (marking rows as done, say). */
                Statement *more = NULL;
                size_t m = 0;
                if ((r = split_statements(&j, drv, conn, after, params, &more, &m)) < 0)
                        goto out;
                Statement *all = m == 1 ? realloc(st, (n + 1) * sizeof *st) : NULL;
                if (!all) {
                        for (size_t i = 0; i < m; i++) {
                                free(more[i].sql);
                                json_decref(more[i].values);
                        }
                        free(more);
                        r = m == 1 ? -ENOMEM : jdbc_fail(&j, "'afterSQL' must be one SQL statement, and it has %zu", m);
                        goto out;
                }
                st = all;
                st[n++] = more[0];
                free(more);
                transaction = true;
        }
        FetchType fetch = j.fetch; /* run_statements() changes it for afterSQL */
        r = run_statements(&j, drv, conn, st, n, main, transaction);
        if (r < 0)
                goto out;
        while (json_array_size(j.results) > j.kept)
                json_array_remove(j.results, json_array_size(j.results) - 1);

        char tags[64];
        snprintf(tags, sizeof tags, "{\"fetch\":\"%s\",\"store\":\"%s\"}",
                 fetch == FETCH_ALL || fetch == FETCH_ONE ? "true" : "false", fetch == FETCH_STORE ? "true" : "false");
        s->metric(s->ctx, "counter", "fetch.size", (double) j.total, tags);

        /* Query: the statement's output object; Queries: every one's, as 'outputs'. */
        json_t *outputs = queries ? json_pack("{sO}", "outputs", j.results) : json_incref(json_array_get(j.results, 0));
        const char *key;
        json_t *v;
        json_object_foreach(outputs, key, v) {
                char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                if (!text || (r = s->output(s->ctx, key, text)) < 0) {
                        free(text);
                        json_decref(outputs);
                        r = r < 0 ? r : -ENOMEM;
                        goto out;
                }
                free(text);
        }
        json_decref(outputs);
out:
        if (r < 0 && !j.failed && r != -ECANCELED && !jdbc_cancelled(&j))
                r = jdbc_fail(&j, "%s", strerror(-r));
        if (conn)
                drv->disconnect(conn);
        for (size_t i = 0; i < n; i++) {
                free(st[i].sql);
                json_decref(st[i].values);
        }
        free(st);
        result_reset(&j);
        json_decref(j.results);
        json_decref(props);
        if (r < 0 && j.failed)
                return TERN_PLUGIN_FAILED;
        return r < 0 ? r : TERN_PLUGIN_SUCCESS;
}

TERN_PLUGIN_DEFINE(jdbc_run)

/* mysql.c: the MySQL/MariaDB backend of the store (libmariadb, polled wake-ups, reconnect). */
#include <ctype.h>
#include <errno.h>
#include <errmsg.h>
#include <inttypes.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "store-private.h"
#include "strbuf.h"
#include "strutil.h"

/* URL: mysql://[USER[:PASSWORD]@][HOST][:PORT]/DATABASE[?KEY=VALUE&...] (or mariadb://), the
 * parts percent-decoded. Without a host, or with "localhost", libmariadb uses the unix socket.
 * Options ('_' may stand for '-'):
 *   socket=PATH                the server's unix socket
 *   password=SECRET            (tern.conf's [database] password-file and the db-password credential
 *                              arrive this way); else the URL's, else $MYSQL_PWD
 *   ssl=1                      refuse a connection without TLS
 *   ssl-ca, ssl-capath, ssl-cert, ssl-key, ssl-cipher, ssl-crl, ssl-crlpath, tls-version
 *                              as libmariadb's MYSQL_OPT_SSL_* and MARIADB_OPT_TLS_VERSION
 *   ssl-verify-server-cert=1   check the server's certificate and name
 *   connect-timeout=DURATION   (default 10s)
 *   poll-min=DURATION, poll-max=DURATION
 *                              the wake-up poller's interval while notifications come in, and the
 *                              longest it backs off to when none do (defaults 10ms, 250ms)
 * Durations: "250ms", "2s" or ISO 8601 ("PT0.5S"). */

#define POLL_MIN_DEFAULT (10 * USEC_PER_MSEC)
#define POLL_MAX_DEFAULT (250 * USEC_PER_MSEC)
#define CONNECT_TIMEOUT_DEFAULT (10 * USEC_PER_SEC)
/* Wake-up rows are kept this long: a poller that was away longer reports every channel. */
#define WAKEUP_KEEP_SEC 60
#define WAKEUP_PURGE_EVERY (30 * USEC_PER_SEC)
/* How long a migrator waits for another one to finish. */
#define MIGRATION_LOCK_TIMEOUT_SEC 600
/* FOR UPDATE SKIP LOCKED. */
#define MARIADB_VERSION_MIN 100600
#define MYSQL_VERSION_MIN 80001

#define STR_(x) #x
#define STR(x) STR_(x)

/* The session every connection runs: standard string literals and identifiers (the shared SQL's
 * '\' in LIKE ... ESCAPE, "key", ||), strict writes (a too long value is an error, not cut), and
 * READ COMMITTED as PostgreSQL has it: each statement sees what committed before it (the
 * executor reads the events after locking the execution) and no gap locks. */
#define SESSION_SETUP                                                                                    \
        "SET SESSION sql_mode = 'STRICT_ALL_TABLES,NO_BACKSLASH_ESCAPES,ANSI_QUOTES,PIPES_AS_CONCAT,"  \
        "NO_ENGINE_SUBSTITUTION,ERROR_FOR_DIVISION_BY_ZERO', SESSION group_concat_max_len = 4294967295;" \
        "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"

typedef struct MyOptions {
        char *host, *user, *password, *database, *socket;
        unsigned port;
        char *ssl_ca, *ssl_capath, *ssl_cert, *ssl_key, *ssl_cipher, *ssl_crl, *ssl_crlpath, *tls_version;
        bool ssl_enforce, ssl_verify;
        usec_t connect_timeout, poll_min, poll_max;
} MyOptions;

/* What the handles made from one store_open() share: the options, the in-process notifier and the
 * poller thread that brings other processes' notifications in. */
typedef struct MyShared {
        pthread_mutex_t lock;
        unsigned n_ref;
        MyOptions opt;
        Notifier *notifier;
        uint64_t origin; /* marks this group's own rows in tern_wakeups */
        bool poller_started;
        pthread_t poller;
        int stop_fd;
        int64_t poll_from; /* the newest wake-up row when the poller starts */
} MyShared;

typedef struct MyData {
        MYSQL *conn;
        MyShared *shared;
        NotifierSub *sub;
        bool mysql8;       /* MySQL rather than MariaDB */
        bool migrate_lock; /* holds the migrators' named lock */
} MyData;

static MyData *data(Store *s) {
        return s->backend_data;
}

/* ---- options -------------------------------------------------------------------------------- */

static void my_options_done(MyOptions *o) {
        char **strings[] = { &o->host,    &o->user,       &o->password, &o->database, &o->socket,
                             &o->ssl_ca,  &o->ssl_capath, &o->ssl_cert, &o->ssl_key,  &o->ssl_cipher,
                             &o->ssl_crl, &o->ssl_crlpath, &o->tls_version };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                if (*strings[i])
                        explicit_bzero(*strings[i], strlen(*strings[i]));
                free(*strings[i]);
        }
        *o = (MyOptions) {};
}

static int unhex(char c) {
        return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decode n bytes of s; NULL on OOM or a bad escape (*bad set then). */
static char *url_decode(const char *s, size_t n, bool *bad) {
        char *d = malloc(n + 1), *w = d;
        if (!d)
                return NULL;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '%') {
                        int h = i + 2 < n ? unhex(s[i + 1]) : -1, l = h >= 0 ? unhex(s[i + 2]) : -1;
                        if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                                *bad = true;
                                free(d);
                                return NULL;
                        }
                        *w++ = (char) (h * 16 + l);
                        i += 2;
                } else
                        *w++ = s[i];
        }
        *w = 0;
        return d;
}

static int parse_duration_option(const char *v, usec_t *ret) {
        susec_t d;
        char *end;
        if (duration_parse(v, &d) >= 0 && d >= 0) {
                *ret = (usec_t) d;
                return 0;
        }
        errno = 0;
        unsigned long long n = strtoull(v, &end, 10);
        if (errno || end == v || v[0] == '-' || n > UINT32_MAX)
                return -EINVAL;
        if (streq(end, "ms"))
                *ret = (usec_t) n * USEC_PER_MSEC;
        else if (streq(end, "s") || !*end)
                *ret = (usec_t) n * USEC_PER_SEC;
        else
                return -EINVAL;
        return 0;
}

static int parse_bool_option(const char *v, bool *ret) {
        if (streq(v, "1") || streq(v, "true") || streq(v, "yes") || streq(v, "on"))
                *ret = true;
        else if (streq(v, "0") || streq(v, "false") || streq(v, "no") || streq(v, "off"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

static int my_option_set(Store *s, MyOptions *o, const char *key, char *value) {
        static const struct {
                const char *name;
                size_t offset;
        } strings[] = {
                { "socket", offsetof(MyOptions, socket) },         { "password", offsetof(MyOptions, password) },
                { "ssl-ca", offsetof(MyOptions, ssl_ca) },         { "ssl-capath", offsetof(MyOptions, ssl_capath) },
                { "ssl-cert", offsetof(MyOptions, ssl_cert) },     { "ssl-key", offsetof(MyOptions, ssl_key) },
                { "ssl-cipher", offsetof(MyOptions, ssl_cipher) }, { "ssl-crl", offsetof(MyOptions, ssl_crl) },
                { "ssl-crlpath", offsetof(MyOptions, ssl_crlpath) }, { "tls-version", offsetof(MyOptions, tls_version) },
        };
        _cleanup_free_ char *v = value;
        int r = 0;

        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                if (streq(key, strings[i].name)) {
                        char **p = (char **) ((char *) o + strings[i].offset);
                        free(*p);
                        *p = TAKE_PTR(v);
                        return 0;
                }
        if (streq(key, "ssl"))
                r = parse_bool_option(v, &o->ssl_enforce);
        else if (streq(key, "ssl-verify-server-cert"))
                r = parse_bool_option(v, &o->ssl_verify);
        else if (streq(key, "connect-timeout"))
                r = parse_duration_option(v, &o->connect_timeout);
        else if (streq(key, "poll-min"))
                r = parse_duration_option(v, &o->poll_min);
        else if (streq(key, "poll-max"))
                r = parse_duration_option(v, &o->poll_max);
        else {
                store_set_error(s,
                                "unknown option '%s' in the MySQL URL (known: socket, password, ssl, ssl-ca, ssl-capath, "
                                "ssl-cert, ssl-key, ssl-cipher, ssl-crl, ssl-crlpath, tls-version, "
                                "ssl-verify-server-cert, connect-timeout, poll-min, poll-max)",
                                key);
                return -EINVAL;
        }
        if (r < 0)
                store_set_error(s, "option '%s' of the MySQL URL: '%s' is not %s", key, v,
                                startswith(key, "ssl") ? "a boolean (1, 0, true, false)"
                                                       : "a duration (250ms, 2s, PT0.5S)");
        return r;
}

/* Parse the part after "mysql://". */
static int my_options_parse(Store *s, const char *rest, MyOptions *o) {
        bool bad = false;
        int r;

        *o = (MyOptions) { .connect_timeout = CONNECT_TIMEOUT_DEFAULT,
                           .poll_min = POLL_MIN_DEFAULT,
                           .poll_max = POLL_MAX_DEFAULT };
        size_t auth_len = strcspn(rest, "/?");
        const char *at = memrchr(rest, '@', auth_len), *hostport = at ? at + 1 : rest;
        if (at) {
                const char *colon = memchr(rest, ':', (size_t) (at - rest));
                size_t user_len = colon ? (size_t) (colon - rest) : (size_t) (at - rest);
                if (user_len > 0 && !(o->user = url_decode(rest, user_len, &bad)))
                        goto fail;
                if (colon && !(o->password = url_decode(colon + 1, (size_t) (at - colon - 1), &bad)))
                        goto fail;
        }
        size_t hp_len = (size_t) (rest + auth_len - hostport);
        const char *port = NULL, *host_end = hostport + hp_len;
        if (hp_len > 0 && hostport[0] == '[') {
                /* [IPv6]:PORT */
                const char *close = memchr(hostport, ']', hp_len);
                if (!close) {
                        store_set_error(s, "MySQL URL: '[' without ']' around an IPv6 address");
                        return -EINVAL;
                }
                if (!(o->host = strndup(hostport + 1, (size_t) (close - hostport - 1))))
                        return -ENOMEM;
                if (close + 1 < host_end) {
                        if (close[1] != ':') {
                                store_set_error(s, "MySQL URL: ':PORT' expected after the IPv6 address");
                                return -EINVAL;
                        }
                        port = close + 2;
                }
        } else if (hp_len > 0) {
                const char *colon = memchr(hostport, ':', hp_len);
                size_t host_len = colon ? (size_t) (colon - hostport) : hp_len;
                if (host_len > 0 && !(o->host = url_decode(hostport, host_len, &bad)))
                        goto fail;
                port = colon ? colon + 1 : NULL;
        }
        if (port) {
                _cleanup_free_ char *p = strndup(port, (size_t) (host_end - port));
                if (!p)
                        return -ENOMEM;
                if (safe_atou(p, &o->port) < 0 || o->port == 0 || o->port > 65535) {
                        store_set_error(s, "MySQL URL: '%s' is not a port number", p);
                        return -EINVAL;
                }
        }

        const char *path = rest + auth_len;
        if (*path == '/') {
                path++;
                size_t n = strcspn(path, "?");
                if (n > 0 && !(o->database = url_decode(path, n, &bad)))
                        goto fail;
                path += n;
        }
        if (!o->database) {
                store_set_error(s, "the MySQL URL names no database: mysql://USER@HOST[:PORT]/DATABASE");
                return -EINVAL;
        }
        if (*path == '?')
                for (const char *p = path + 1; *p;) {
                        size_t n = strcspn(p, "&");
                        const char *eq = memchr(p, '=', n);
                        if (n == 0) {
                                p++;
                                continue;
                        }
                        if (!eq) {
                                _cleanup_free_ char *k = strndup(p, n);
                                store_set_error(s, "MySQL URL: option '%s' has no value (KEY=VALUE)", strna(k));
                                return -EINVAL;
                        }
                        _cleanup_free_ char *k = url_decode(p, (size_t) (eq - p), &bad);
                        if (!k)
                                goto fail;
                        for (char *c = k; *c; c++)
                                if (*c == '_')
                                        *c = '-';
                        char *v = url_decode(eq + 1, (size_t) (p + n - eq - 1), &bad);
                        if (!v)
                                goto fail;
                        if ((r = my_option_set(s, o, k, v)) < 0)
                                return r;
                        p += n;
                        if (*p == '&')
                                p++;
                }
        if (o->poll_min == 0 || o->poll_max < o->poll_min) {
                store_set_error(s, "MySQL URL: poll-min must be above zero and poll-max at least poll-min");
                return -EINVAL;
        }
        if (!o->password) {
                const char *e = getenv("MYSQL_PWD");
                if (e && !(o->password = strdup(e)))
                        return -ENOMEM;
        }
        return 0;
fail:
        if (!bad)
                return -ENOMEM;
        store_set_error(s, "MySQL URL: a '%%' escape is not two hexadecimal digits (or encodes NUL)");
        return -EINVAL;
}

/* ---- connections ---------------------------------------------------------------------------- */

static pthread_once_t library_once = PTHREAD_ONCE_INIT;
static int library_status;

/* mysql_library_init() is not thread-safe; mysql_init() would call it on first use. */
static void library_init(void) {
        library_status = mysql_library_init(0, NULL, NULL);
}

/* Map a server or client error number to an errno (store-private.h's driver conventions). */
static int my_errno_of(unsigned e) {
        switch (e) {
        case ER_LOCK_DEADLOCK:
        case ER_LOCK_WAIT_TIMEOUT:
        case ER_CHECKREAD:
                return -EAGAIN;
        case ER_DUP_ENTRY:
        case ER_DUP_ENTRY_WITH_KEY_NAME:
                return -EEXIST;
        case ER_NO_REFERENCED_ROW:
        case ER_NO_REFERENCED_ROW_2:
        case ER_ROW_IS_REFERENCED:
        case ER_ROW_IS_REFERENCED_2:
        case ER_BAD_DB_ERROR:
                return -ENOENT;
        /* Gone: the server went away or was shut down, the connection was killed, or the server
         * is read-only (a former primary after a failover). Reconnecting is the cure. */
        case CR_SERVER_GONE_ERROR:
        case CR_SERVER_LOST:
        case CR_SERVER_LOST_EXTENDED:
        case CR_CONNECTION_ERROR:
        case CR_CONN_HOST_ERROR:
        case ER_CONNECTION_KILLED:
        case ER_SERVER_SHUTDOWN:
        case ER_NORMAL_SHUTDOWN:
        case ER_OPTION_PREVENTS_STATEMENT:
        case ER_CON_COUNT_ERROR:
        case 4031: /* MySQL 8: ER_CLIENT_INTERACTION_TIMEOUT */
                return -ECONNRESET;
        case ER_ACCESS_DENIED_ERROR:
        case ER_DBACCESS_DENIED_ERROR:
        case ER_TABLEACCESS_DENIED_ERROR:
                return -EACCES;
        case ER_RECORD_FILE_FULL:
        case ER_DISK_FULL:
        case ER_OUTOFMEMORY:
                return -ENOSPC;
        case CR_OUT_OF_MEMORY:
                return -ENOMEM;
        default:
                /* The rest of the server's 1xxx codes are the statement's fault (syntax, unknown
                 * table, too long, wrong value); 2xxx are the client's. */
                return e >= 1000 && e < 2000 ? -EINVAL : -EIO;
        }
}

static int my_error(Store *s, MYSQL *c) {
        store_set_error(s, "%s", mysql_error(c));
        return my_errno_of(mysql_errno(c));
}

/* Run statements whose results do not matter (set-up). */
static int my_query_simple(MYSQL *c) {
        int status = 0;
        do {
                MYSQL_RES *res = mysql_store_result(c);
                mysql_free_result(res);
        } while ((status = mysql_next_result(c)) == 0);
        return status > 0 ? -1 : 0;
}

/* Connect as o says, set the session up and check the server's version. The error text goes to
 * err (size n). */
static int my_connect_raw(const MyOptions *o, MYSQL **ret, bool *ret_mysql8, char *err, size_t n) {
        unsigned timeout = (unsigned) MAX(o->connect_timeout / USEC_PER_SEC, (usec_t) 1);
        my_bool yes = 1, no = 0;
        unsigned infile = 0;
        MYSQL *c;

        pthread_once(&library_once, library_init);
        if (library_status != 0) {
                snprintf(err, n, "libmariadb could not be initialized");
                return -ENOMEM;
        }
        c = mysql_init(NULL);
        if (!c) {
                snprintf(err, n, "out of memory");
                return -ENOMEM;
        }
        (void) mysql_options(c, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        (void) mysql_options(c, MYSQL_SET_CHARSET_NAME, "utf8mb4");
        /* Never LOAD DATA LOCAL: a server must not read the client's files. */
        (void) mysql_options(c, MYSQL_OPT_LOCAL_INFILE, &infile);
        /* A silent reconnect would lose the transaction under the caller's feet: store.c does it. */
        (void) mysql_options(c, MYSQL_OPT_RECONNECT, &no);
        if (o->ssl_key)
                (void) mysql_options(c, MYSQL_OPT_SSL_KEY, o->ssl_key);
        if (o->ssl_cert)
                (void) mysql_options(c, MYSQL_OPT_SSL_CERT, o->ssl_cert);
        if (o->ssl_ca)
                (void) mysql_options(c, MYSQL_OPT_SSL_CA, o->ssl_ca);
        if (o->ssl_capath)
                (void) mysql_options(c, MYSQL_OPT_SSL_CAPATH, o->ssl_capath);
        if (o->ssl_cipher)
                (void) mysql_options(c, MYSQL_OPT_SSL_CIPHER, o->ssl_cipher);
        if (o->ssl_crl)
                (void) mysql_options(c, MYSQL_OPT_SSL_CRL, o->ssl_crl);
        if (o->ssl_crlpath)
                (void) mysql_options(c, MYSQL_OPT_SSL_CRLPATH, o->ssl_crlpath);
        if (o->tls_version)
                (void) mysql_options(c, MARIADB_OPT_TLS_VERSION, o->tls_version);
        if (o->ssl_enforce)
                (void) mysql_options(c, MYSQL_OPT_SSL_ENFORCE, &yes);
        if (o->ssl_verify)
                (void) mysql_options(c, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &yes);

        /* FOUND_ROWS: an UPDATE counts the rows it matched, as PostgreSQL's does, not only those
         * whose values changed (a lease renewed to the same time is still renewed). */
        if (!mysql_real_connect(c, o->host, o->user, o->password, o->database, o->port, o->socket,
                                CLIENT_MULTI_STATEMENTS | CLIENT_FOUND_ROWS)) {
                int r = my_errno_of(mysql_errno(c));
                snprintf(err, n, "%s", mysql_error(c));
                mysql_close(c);
                return r == -ECONNRESET || r == -EIO ? -ECONNREFUSED : r;
        }

        const char *info = mysql_get_server_info(c);
        unsigned long version = mysql_get_server_version(c);
        bool mysql8 = !strstr(strempty(info), "MariaDB");
        if (version < (mysql8 ? MYSQL_VERSION_MIN : MARIADB_VERSION_MIN)) {
                snprintf(err, n,
                         "the server is %s %s: tern needs MariaDB 10.6 or MySQL 8.0.1 or later "
                         "(FOR UPDATE SKIP LOCKED)",
                         mysql8 ? "MySQL" : "MariaDB", strna(info));
                mysql_close(c);
                return -EPROTONOSUPPORT;
        }
        if (mysql_real_query(c, SESSION_SETUP, strlen(SESSION_SETUP)) != 0 || my_query_simple(c) < 0) {
                int r = my_errno_of(mysql_errno(c));
                snprintf(err, n, "cannot set the session up: %s", mysql_error(c));
                mysql_close(c);
                return r;
        }
        *ret = c;
        *ret_mysql8 = mysql8;
        return 0;
}

static int my_connect(Store *s) {
        MyData *d = data(s);
        char err[512];
        if (d->conn) {
                mysql_close(d->conn);
                d->conn = NULL;
        }
        d->migrate_lock = false; /* a named lock ends with its session */
        int r = my_connect_raw(&d->shared->opt, &d->conn, &d->mysql8, err, sizeof err);
        if (r < 0)
                store_set_error(s, "%s", err);
        return r;
}

/* ---- statements ----------------------------------------------------------------------------- */

static bool word_at(const char *sql, const char *p, const char *word) {
        size_t n = strlen(word);
        return (p == sql || !(isalnum((unsigned char) p[-1]) || p[-1] == '_')) && strncmp(p, word, n) == 0 &&
               !(isalnum((unsigned char) p[n]) || p[n] == '_');
}

static const char *skip_space(const char *p) {
        while (isspace((unsigned char) *p))
                p++;
        return p;
}

static int my_append_literal(MYSQL *c, StrBuf *b, const SqlArg *a) {
        switch (a->type) {
        case SQL_NULL:
                return strbuf_append(b, "NULL");
        case SQL_INT:
                return strbuf_appendf(b, "%" PRIi64, a->i);
        case SQL_TEXT: {
                size_t n = strlen(a->s);
                _cleanup_free_ char *e = malloc(2 * n + 1);
                if (!e)
                        return -ENOMEM;
                /* Escaped by the rules the session told the client (NO_BACKSLASH_ESCAPES: quotes
                 * doubled), so a value is a value whatever the server's mode. */
                unsigned long l = mysql_real_escape_string(c, e, a->s, (unsigned long) n);
                if (l == (unsigned long) -1)
                        return -EINVAL;
                strbuf_append_char(b, '\'');
                strbuf_append_n(b, e, l);
                return strbuf_append_char(b, '\'');
        }
        }
        return -EINVAL;
}

/* The statement as the server takes it: "$n" parameters become literals, PostgreSQL's upsert
 * becomes MySQL's (see store-private.h); *ignore_dup says a duplicate key means "nothing done".
 * Quoted text ('...', "...") is copied as it is. */
static int my_render(Store *s, const char *sql, const SqlArg *args, size_t n_args, StrBuf *b, bool *ignore_dup) {
        MyData *d = data(s);
        bool upsert = false;
        char quote = 0;
        int r;

        for (const char *p = sql; *p;) {
                if (quote) {
                        if (*p == quote)
                                quote = 0;
                        strbuf_append_char(b, *p++);
                } else if (*p == '\'' || *p == '"' || *p == '`') {
                        quote = *p;
                        strbuf_append_char(b, *p++);
                } else if (*p == '$' && isdigit((unsigned char) p[1])) {
                        char *end;
                        unsigned long k = strtoul(p + 1, &end, 10);
                        if (k == 0 || k > n_args) {
                                store_set_error(s, "statement parameter $%lu has no value", k);
                                return -EINVAL;
                        }
                        if ((r = my_append_literal(d->conn, b, &args[k - 1])) < 0)
                                return r;
                        p = end;
                } else if (word_at(sql, p, "ON CONFLICT")) {
                        const char *q = skip_space(p + strlen("ON CONFLICT"));
                        if (*q == '(') {
                                q = strchr(q, ')');
                                if (!q)
                                        return -EINVAL;
                                q = skip_space(q + 1);
                        }
                        if (word_at(sql, q, "DO NOTHING")) {
                                *ignore_dup = true;
                                p = q + strlen("DO NOTHING");
                        } else if (word_at(sql, q, "DO UPDATE SET")) {
                                strbuf_append(b, "ON DUPLICATE KEY UPDATE");
                                upsert = true;
                                p = q + strlen("DO UPDATE SET");
                        } else {
                                store_set_error(s, "an ON CONFLICT clause the MySQL driver cannot translate");
                                return -EINVAL;
                        }
                } else if (upsert && word_at(sql, p, "excluded") && p[strlen("excluded")] == '.') {
                        const char *col = p + strlen("excluded.");
                        size_t n = strspn(col, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_\"");
                        strbuf_append(b, "VALUES(");
                        strbuf_append_n(b, col, n);
                        strbuf_append_char(b, ')');
                        p = col + n;
                } else
                        strbuf_append_char(b, *p++);
        }
        /* The migrations name MariaDB's binary collation without pad; MySQL 8 calls it otherwise. */
        if (d->mysql8 && n_args == 0 && strstr(strbuf_str(b), "utf8mb4_nopad_bin")) {
                StrBuf t = STRBUF_INIT;
                const char *from = strbuf_str(b);
                for (const char *m; (m = strstr(from, "utf8mb4_nopad_bin")); from = m + strlen("utf8mb4_nopad_bin")) {
                        strbuf_append_n(&t, from, (size_t) (m - from));
                        strbuf_append(&t, "utf8mb4_0900_bin");
                }
                strbuf_append(&t, from);
                strbuf_done(b);
                *b = t;
        }
        return b->error;
}

static int my_copy_result(MYSQL_RES *res, SqlRows *rows) {
        *rows = (SqlRows) { .n_rows = (size_t) mysql_num_rows(res), .n_cols = mysql_num_fields(res) };
        if (rows->n_rows == 0 || rows->n_cols == 0)
                return 0;
        rows->cells = calloc(rows->n_rows * rows->n_cols, sizeof(char *));
        if (!rows->cells)
                return -ENOMEM;
        MYSQL_ROW row;
        for (size_t i = 0; (row = mysql_fetch_row(res)) && i < rows->n_rows; i++) {
                unsigned long *len = mysql_fetch_lengths(res);
                for (size_t j = 0; j < rows->n_cols; j++) {
                        if (!row[j])
                                continue;
                        char *v = strndup(row[j], len[j]);
                        if (!v)
                                return -ENOMEM;
                        rows->cells[i * rows->n_cols + j] = v;
                }
        }
        return 0;
}

/* Send one text (possibly several statements) and collect its results. */
static int my_query(Store *s, const char *text, size_t len, bool ignore_dup, SqlRows *ret) {
        MyData *d = data(s);
        SqlRows rows = {};
        uint64_t changes = 0;
        int status, r = 0;

        if (mysql_real_query(d->conn, text, (unsigned long) len) != 0) {
                if (ignore_dup && mysql_errno(d->conn) == ER_DUP_ENTRY) {
                        if (ret)
                                *ret = (SqlRows) {};
                        return 0;
                }
                return my_error(s, d->conn);
        }
        /* Every result is read, even after a failure, or the connection is out of step. */
        do {
                MYSQL_RES *res = mysql_store_result(d->conn);
                if (res) {
                        sql_rows_done(&rows);
                        if (r >= 0)
                                r = my_copy_result(res, &rows);
                        mysql_free_result(res);
                } else if (mysql_field_count(d->conn) == 0)
                        changes = mysql_affected_rows(d->conn);
                else if (r >= 0)
                        r = my_error(s, d->conn);
        } while ((status = mysql_next_result(d->conn)) == 0);
        if (status > 0 && r >= 0)
                r = my_error(s, d->conn);
        rows.changes = changes;
        if (r < 0 || !ret) {
                sql_rows_done(&rows);
                return r;
        }
        *ret = rows;
        return 0;
}

/* No connection: the last reconnect failed. A lost connection to store.c, which reconnects (the
 * error text stays the reason it failed). */
#define NO_CONNECTION (-ECONNRESET)

static int my_exec(Store *s, const char *sql, const SqlArg *args, size_t n_args, SqlRows *ret) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        bool ignore_dup = false;
        int r;

        if (!data(s)->conn)
                return NO_CONNECTION;
        if (n_args > SQL_EXEC_ARGS_MAX)
                return -E2BIG;
        if ((r = my_render(s, sql, args, n_args, &b, &ignore_dup)) < 0)
                return r;
        return my_query(s, strbuf_str(&b), b.len, ignore_dup, ret);
}

static int my_exec_text(Store *s, const char *sql, SqlRows *ret) {
        if (!data(s)->conn)
                return NO_CONNECTION;
        return my_query(s, sql, strlen(sql), false, ret);
}

/* For the clean-ups after a failure: the failure's message stays the one store_error() shows. */
static void my_exec_quiet(Store *s, const char *sql) {
        MYSQL *c = data(s)->conn;
        if (c && mysql_real_query(c, sql, strlen(sql)) == 0)
                (void) my_query_simple(c);
}

/* ---- wake-ups ------------------------------------------------------------------------------- */

/* MySQL has no LISTEN/NOTIFY. A commit that notifies adds a row (origin, channels) to
 * tern_wakeups in the same round trip as its COMMIT (so the row is there exactly when the data
 * is), and posts to the handles of its own process at once (the in-process notifier, as SQLite
 * does). One poller thread per process (per store_open() and its store_dup()s) reads the rows
 * other processes added: every poll-min while rows come in, doubling up to poll-max while none
 * do. A row's id is taken at INSERT and commits need not come in id order, so the poller looks
 * back over the 64 ids below the newest it saw and remembers which of them it had. Rows older
 * than WAKEUP_KEEP_SEC are deleted by the pollers. Cross-process latency is thus up to poll-max
 * after a quiet spell and up to poll-min while work flows (docs/OPERATIONS.md has measurements). */

#define LOOKBACK 64

typedef struct Poller {
        MyShared *shared;
        MYSQL *conn;
        int64_t last;  /* newest id seen */
        uint64_t seen; /* bit i: id last - i seen */
        usec_t interval, last_poll, last_purge;
} Poller;

/* Sleep up to u; false when told to stop. */
static bool poller_sleep(Poller *p, usec_t u) {
        struct pollfd pfd = { .fd = p->shared->stop_fd, .events = POLLIN };
        int ms = (int) MIN((u + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT32_MAX);
        int k = poll(&pfd, 1, ms);
        return !(k > 0 && (pfd.revents & POLLIN));
}

static void poller_disconnect(Poller *p) {
        if (p->conn)
                mysql_close(p->conn);
        p->conn = NULL;
}

/* One poll: the channels other processes notified. < 0 when the connection failed. */
static int poller_poll(Poller *p, unsigned *ret) {
        char sql[160];
        MYSQL_RES *res;
        MYSQL_ROW row;
        unsigned m = 0;

        snprintf(sql, sizeof sql, "SELECT id, origin, channels FROM tern_wakeups WHERE id > %" PRIi64 " ORDER BY id",
                 p->last - LOOKBACK);
        if (mysql_real_query(p->conn, sql, strlen(sql)) != 0 || !(res = mysql_store_result(p->conn)))
                return my_errno_of(mysql_errno(p->conn));
        while ((row = mysql_fetch_row(res))) {
                int64_t id = row[0] ? strtoll(row[0], NULL, 10) : 0;
                uint64_t origin = row[1] ? strtoull(row[1], NULL, 10) : 0;
                unsigned ch = row[2] ? (unsigned) strtoul(row[2], NULL, 10) : 0;
                if (id <= p->last - LOOKBACK)
                        continue;
                if (id <= p->last) {
                        uint64_t bit = UINT64_C(1) << (p->last - id);
                        if (p->seen & bit)
                                continue;
                        p->seen |= bit;
                } else {
                        int64_t shift = id - p->last;
                        p->seen = (shift >= LOOKBACK ? 0 : p->seen << shift) | 1;
                        p->last = id;
                }
                if (origin != p->shared->origin)
                        m |= ch;
        }
        mysql_free_result(res);
        *ret = m;
        return 0;
}

static void poller_purge(Poller *p) {
        static const char sql[] = "DELETE FROM tern_wakeups WHERE created < NOW(6) - INTERVAL " STR(
                WAKEUP_KEEP_SEC) " SECOND LIMIT 10000";
        if (mysql_real_query(p->conn, sql, strlen(sql)) == 0)
                (void) my_query_simple(p->conn);
}

static void *poller_thread(void *arg) {
        MyShared *sh = arg;
        Poller p = { .shared = sh, .last = sh->poll_from, .seen = ~UINT64_C(0), .interval = sh->opt.poll_min };
        usec_t retry = sh->opt.poll_max;
        bool lost = false;

        p.last_poll = p.last_purge = now_monotonic();
        while (poller_sleep(&p, p.conn ? p.interval : retry)) {
                char err[512];
                bool mysql8;
                unsigned m = 0;

                if (!p.conn) {
                        if (my_connect_raw(&sh->opt, &p.conn, &mysql8, err, sizeof err) < 0) {
                                retry = MIN(retry * 2, 5 * USEC_PER_SEC);
                                lost = true;
                                continue;
                        }
                        retry = sh->opt.poll_max;
                }
                if (poller_poll(&p, &m) < 0) {
                        /* Lost (or the table is missing: not migrated yet): start over, and
                         * report everything once back, as PostgreSQL's driver does. */
                        poller_disconnect(&p);
                        lost = true;
                        continue;
                }
                usec_t now = now_monotonic();
                /* Away longer than the rows are kept (a stopped process, a long stall): some
                 * were purged unseen. */
                if (lost || now - p.last_poll > WAKEUP_KEEP_SEC * USEC_PER_SEC / 2)
                        m = STORE_CHANNEL_ALL;
                lost = false;
                p.last_poll = now;
                notifier_post(sh->notifier, m);
                p.interval = m ? sh->opt.poll_min : MIN(p.interval * 2, sh->opt.poll_max);
                if (now - p.last_purge > WAKEUP_PURGE_EVERY) {
                        poller_purge(&p);
                        p.last_purge = now;
                }
        }
        poller_disconnect(&p);
        return NULL;
}

/* ---- shared state and handles --------------------------------------------------------------- */

static MyShared *my_shared_unref(MyShared *sh) {
        if (!sh)
                return NULL;
        pthread_mutex_lock(&sh->lock);
        unsigned left = --sh->n_ref;
        pthread_mutex_unlock(&sh->lock);
        if (left > 0)
                return NULL;
        if (sh->poller_started) {
                static const uint64_t one = 1;
                (void) !write(sh->stop_fd, &one, sizeof one);
                pthread_join(sh->poller, NULL);
        }
        safe_close(sh->stop_fd);
        notifier_unref(sh->notifier);
        my_options_done(&sh->opt);
        pthread_mutex_destroy(&sh->lock);
        free(sh);
        return NULL;
}

static int my_shared_new(MyShared **ret) {
        MyShared *sh = calloc(1, sizeof *sh);
        if (!sh)
                return -ENOMEM;
        sh->stop_fd = -EBADF;
        if (pthread_mutex_init(&sh->lock, NULL) != 0) {
                free(sh);
                return -ENOMEM;
        }
        sh->n_ref = 1;
        sh->notifier = notifier_new();
        if (getrandom(&sh->origin, sizeof sh->origin, 0) != sizeof sh->origin)
                sh->origin = (uint64_t) now_realtime() ^ ((uint64_t) getpid() << 32);
        sh->origin &= INT64_MAX; /* fits a signed BIGINT as well */
        sh->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (!sh->notifier || sh->stop_fd < 0) {
                int r = sh->stop_fd < 0 ? -errno : -ENOMEM;
                my_shared_unref(sh);
                return r;
        }
        *ret = sh;
        return 0;
}

static int my_setup(Store *s, MyShared *sh) {
        MyData *d = calloc(1, sizeof *d);
        int r;
        if (!d) {
                my_shared_unref(sh);
                return -ENOMEM;
        }
        d->shared = sh;
        s->backend_data = d;
        r = notifier_subscribe(sh->notifier, &d->sub);
        if (r < 0)
                return r;
        return my_connect(s);
}

static int my_open(Store *s, const char *conninfo) {
        const char *rest = startswith(conninfo, "mysql://") ?: startswith(conninfo, "mariadb://");
        MyShared *sh = NULL;
        int r;

        if (!rest)
                return -EINVAL;
        if ((r = my_shared_new(&sh)) < 0)
                return r;
        r = my_options_parse(s, rest, &sh->opt);
        if (r < 0) {
                my_shared_unref(sh);
                return r;
        }
        return my_setup(s, sh);
}

static int my_dup(Store *s, Store *n) {
        MyShared *sh = data(s)->shared;
        pthread_mutex_lock(&sh->lock);
        sh->n_ref++;
        pthread_mutex_unlock(&sh->lock);
        return my_setup(n, sh);
}

static void my_close(Store *s) {
        MyData *d = data(s);
        if (!d)
                return;
        if (d->conn)
                mysql_close(d->conn);
        if (d->sub)
                notifier_unsubscribe(d->shared->notifier, d->sub);
        my_shared_unref(d->shared);
        free(d);
        s->backend_data = NULL;
}

static int my_reconnect(Store *s) {
        return my_connect(s);
}

/* ---- transactions --------------------------------------------------------------------------- */

#define MIGRATION_LOCK_NAME "CONCAT('tern-migrate.', DATABASE())"

static void my_release_migrate_lock(Store *s) {
        MyData *d = data(s);
        if (!d->migrate_lock)
                return;
        d->migrate_lock = false;
        my_exec_quiet(s, "DO RELEASE_LOCK(" MIGRATION_LOCK_NAME ")");
}

static int my_begin(Store *s, TxMode mode) {
        MyData *d = data(s);
        int r;

        if (mode == TX_EXCLUSIVE && !d->migrate_lock) {
                /* DDL commits on MySQL, so migrators serialize on a named lock (the session's,
                 * released at commit or rollback) rather than on the transaction. */
                _cleanup_rows_ SqlRows rows = {};
                r = my_exec_text(s, "SELECT GET_LOCK(" MIGRATION_LOCK_NAME ", " STR(MIGRATION_LOCK_TIMEOUT_SEC) ")",
                                 &rows);
                if (r < 0)
                        return r;
                if (!streq_ptr(sql_cell(&rows, 0, 0), "1")) {
                        store_set_error(s, "another 'tern db migrate' has held the migration lock for %d s",
                                        MIGRATION_LOCK_TIMEOUT_SEC);
                        return -ETIMEDOUT;
                }
                d->migrate_lock = true;
        }
        r = my_exec_text(s, "START TRANSACTION", NULL);
        if (r < 0)
                my_release_migrate_lock(s);
        return r;
}

static int my_commit(Store *s, unsigned notify) {
        MyData *d = data(s);
        char sql[160] = "COMMIT";
        int r;

        if (notify)
                snprintf(sql, sizeof sql, "INSERT INTO tern_wakeups (origin, channels) VALUES (%" PRIu64 ", %u); COMMIT",
                         d->shared->origin, notify);
        r = my_exec_text(s, sql, NULL);
        my_release_migrate_lock(s);
        if (r < 0)
                return r;
        notifier_post(d->shared->notifier, notify);
        return 0;
}

static void my_rollback(Store *s) {
        MyData *d = data(s);
        if (!d->conn)
                return;
        my_exec_quiet(s, "ROLLBACK");
        my_release_migrate_lock(s);
}

static int my_listen(Store *s, unsigned channels) {
        MyData *d = data(s);
        MyShared *sh = d->shared;
        int r = 0;

        notifier_set_channels(sh->notifier, d->sub, channels);
        pthread_mutex_lock(&sh->lock);
        if (channels && !sh->poller_started) {
                /* Where the poller starts is read here, before listen returns: what commits after
                 * it wakes this handle, as a LISTEN would. A missing table (not migrated yet) is
                 * the poller's to find. */
                _cleanup_rows_ SqlRows rows = {};
                if (my_exec_text(s, "SELECT COALESCE(MAX(id), 0) FROM tern_wakeups", &rows) >= 0)
                        sh->poll_from = sql_cell_i64(&rows, 0, 0);
                r = -pthread_create(&sh->poller, NULL, poller_thread, sh);
                sh->poller_started = r >= 0;
        }
        pthread_mutex_unlock(&sh->lock);
        return r;
}

static int my_get_fd(Store *s) {
        return notifier_sub_fd(data(s)->sub);
}

static int my_wait(Store *s, usec_t timeout) {
        MyData *d = data(s);
        unsigned m = notifier_take(d->shared->notifier, d->sub);
        if (m || timeout == 0)
                return (int) m;
        struct pollfd pfd = { .fd = notifier_sub_fd(d->sub), .events = POLLIN };
        int ms = timeout == USEC_INFINITY ? -1 : (int) MIN((timeout + USEC_PER_MSEC - 1) / USEC_PER_MSEC, (usec_t) INT32_MAX);
        if (poll(&pfd, 1, ms) < 0 && errno != EINTR)
                return -errno;
        return (int) notifier_take(d->shared->notifier, d->sub);
}

const StoreDriver store_driver_mysql = {
        .name = "mysql",
        .open = my_open,
        .dup = my_dup,
        .close = my_close,
        .reconnect = my_reconnect,
        .begin = my_begin,
        .commit = my_commit,
        .rollback = my_rollback,
        .exec = my_exec,
        .listen = my_listen,
        .get_fd = my_get_fd,
        .wait = my_wait,
};

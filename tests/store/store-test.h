/* store-test.h: opening a fresh store for tests: a temp SQLite file or a new database on a throwaway PostgreSQL or MariaDB. */
#pragma once

#include <libpq-fe.h>
#include <mysql.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "id.h"
#include "store.h"
#include "strutil.h"
#include "tap.h"

/* What a test set up, to tear it down at the end. */
typedef struct StoreTestEnv {
        char url[1024];        /* open this (and store_dup it) */
        char sqlite_dir[256];  /* SQLite: temp dir holding the file */
        char cluster_dir[512]; /* PostgreSQL: cluster this test started itself ("" when shared) */
        char mariadb_dir[512]; /* MariaDB: server this test started itself ("" when shared) */
} StoreTestEnv;

static inline int store_test_run(const char *cmd, char *out, size_t n) {
        FILE *f = popen(cmd, "re");
        size_t l = 0;
        if (!f)
                return -errno;
        if (out && n > 0) {
                l = fread(out, 1, n - 1, f);
                out[l] = 0;
        }
        int st = pclose(f);
        if (st < 0)
                return -errno;
        return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* Start a cluster of our own through the helper script; exits 77 when PostgreSQL is missing. */
static inline void store_test_pg_cluster(char *url, size_t url_size, char *dir, size_t dir_size) {
        const char *script = getenv("TERN_PG_CLUSTER");
        char cmd[4096], out[1024];
        if (!script)
                script = "tests/store/pg-cluster.sh";
        snprintf(cmd, sizeof cmd, "%s start", script);
        int r = store_test_run(cmd, out, sizeof out);
        if (r == 77)
                tap_skip_all("no PostgreSQL server binaries");
        if (r != 0) {
                printf("Bail out! could not start a PostgreSQL cluster with %s (status %d)\n", script, r);
                exit(EXIT_FAILURE);
        }
        char *nl = strchr(out, '\n');
        if (!nl) {
                printf("Bail out! unexpected output from %s\n", script);
                exit(EXIT_FAILURE);
        }
        *nl = 0;
        snprintf(url, url_size, "%s", out);
        snprintf(dir, dir_size, "%s", strstrip(nl + 1));
}

static inline int store_test_pg_ctl(const StoreTestEnv *env, const char *verb) {
        const char *script = getenv("TERN_PG_CLUSTER");
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s %s '%s' >&2", script ? script : "tests/store/pg-cluster.sh", verb,
                 env->cluster_dir);
        return store_test_run(cmd, NULL, 0);
}

/* A conninfo for a new, empty database on the server of base (URL or key=value). */
static inline int store_test_pg_new_db(const char *base, char *ret, size_t n) {
        char id[ID_MAX], db[64], *err = NULL;
        PGconn *c;
        PGresult *res;

        if (id_new(id) < 0)
                return -EIO;
        snprintf(db, sizeof db, "tern_test_%s", id);
        for (char *p = db; *p; p++)
                *p = (char) (*p >= 'A' && *p <= 'Z' ? *p + 32 : *p); /* unquoted identifiers fold */
        c = PQconnectdb(base);
        if (PQstatus(c) != CONNECTION_OK) {
                printf("# cannot connect to %s: %s", base, PQerrorMessage(c));
                PQfinish(c);
                return -ECONNREFUSED;
        }
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s", db);
        res = PQexec(c, sql);
        bool good = PQresultStatus(res) == PGRES_COMMAND_OK;
        if (!good)
                printf("# %s: %s", sql, PQerrorMessage(c));
        PQclear(res);
        PQfinish(c);
        if (!good)
                return -EIO;

        /* Rebuild the connection options with our database. */
        PQconninfoOption *opts = PQconninfoParse(base, &err);
        if (!opts) {
                PQfreemem(err);
                return -EINVAL;
        }
        size_t l = 0;
        for (PQconninfoOption *o = opts; o->keyword; o++) {
                const char *v = streq(o->keyword, "dbname") ? db : o->val;
                if (!v)
                        continue;
                l += (size_t) snprintf(ret + l, l < n ? n - l : 0, "%s%s='%s'", l ? " " : "", o->keyword, v);
        }
        PQconninfoFree(opts);
        return l < n ? 0 : -ENAMETOOLONG;
}

/* Start a MariaDB server of our own (tests/store/mariadb-cluster.sh, $TERN_MARIADB_CLUSTER); skips
 * the test when MariaDB is missing. */
static inline void store_test_mariadb_start(char *url, size_t url_size, char *dir, size_t dir_size) {
        const char *script = getenv("TERN_MARIADB_CLUSTER");
        char cmd[4096], out[1024];
        if (!script)
                script = "tests/store/mariadb-cluster.sh";
        snprintf(cmd, sizeof cmd, "%s start", script);
        int r = store_test_run(cmd, out, sizeof out);
        if (r == 77)
                tap_skip_all("no MariaDB server binaries (apt-get install mariadb-server)");
        if (r != 0) {
                printf("Bail out! could not start a MariaDB server with %s (status %d)\n", script, r);
                exit(EXIT_FAILURE);
        }
        char *nl = strchr(out, '\n');
        if (!nl) {
                printf("Bail out! unexpected output from %s\n", script);
                exit(EXIT_FAILURE);
        }
        *nl = 0;
        snprintf(url, url_size, "%s", out);
        snprintf(dir, dir_size, "%s", strstrip(nl + 1));
}

static inline int store_test_mariadb_ctl(const StoreTestEnv *env, const char *verb) {
        const char *script = getenv("TERN_MARIADB_CLUSTER");
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "%s %s '%s' >&2", script ? script : "tests/store/mariadb-cluster.sh", verb,
                 env->mariadb_dir);
        return store_test_run(cmd, NULL, 0);
}

/* A URL for a new, empty database on the server of base, a URL as mariadb-cluster.sh prints them:
 * mysql://USER:PASSWORD@HOST:PORT/DATABASE (no escapes, no options). */
static inline int store_test_mysql_new_db(const char *base, char *ret, size_t n) {
        char user[128] = "", pass[128] = "", host[256] = "", db[64], id[ID_MAX];
        unsigned port = 0;
        if (sscanf(base, "mysql://%127[^:@]:%127[^@]@%255[^:/]:%u/", user, pass, host, &port) != 4) {
                printf("# cannot take apart '%s' (mysql://USER:PASSWORD@HOST:PORT/DATABASE)\n", base);
                return -EINVAL;
        }
        if (id_new(id) < 0)
                return -EIO;
        snprintf(db, sizeof db, "tern_test_%s", id);
        MYSQL *c = mysql_init(NULL);
        if (!c)
                return -ENOMEM;
        if (!mysql_real_connect(c, host, user, pass, NULL, port, NULL, 0)) {
                printf("# cannot connect to %s: %s\n", base, mysql_error(c));
                mysql_close(c);
                return -ECONNREFUSED;
        }
        char sql[128];
        snprintf(sql, sizeof sql, "CREATE DATABASE %s CHARACTER SET utf8mb4", db);
        bool good = mysql_query(c, sql) == 0;
        if (!good)
                printf("# %s: %s\n", sql, mysql_error(c));
        mysql_close(c);
        if (!good)
                return -EIO;
        int l = snprintf(ret, n, "mysql://%s:%s@%s:%u/%s", user, pass, host, port, db);
        return l >= 0 && (size_t) l < n ? 0 : -ENAMETOOLONG;
}

/* backend: "sqlite", "postgres" or "mysql". */
static inline void store_test_setup(const char *backend, StoreTestEnv *env) {
        *env = (StoreTestEnv) {};
        if (streq(backend, "sqlite")) {
                snprintf(env->sqlite_dir, sizeof env->sqlite_dir, "/tmp/tern-store-test.XXXXXX");
                if (!mkdtemp(env->sqlite_dir)) {
                        printf("Bail out! mkdtemp: %m\n");
                        exit(EXIT_FAILURE);
                }
                snprintf(env->url, sizeof env->url, "sqlite://%s/tern.db", env->sqlite_dir);
                return;
        }
        char base[1024];
        if (streq(backend, "mysql")) {
                const char *mshared = getenv("TERN_TEST_MYSQL_URL");
                if (!isempty(mshared))
                        snprintf(base, sizeof base, "%s", mshared);
                else
                        store_test_mariadb_start(base, sizeof base, env->mariadb_dir, sizeof env->mariadb_dir);
                if (store_test_mysql_new_db(base, env->url, sizeof env->url) < 0) {
                        printf("Bail out! cannot create a test database\n");
                        exit(EXIT_FAILURE);
                }
                return;
        }
        const char *shared = getenv("TERN_TEST_PG_URL");
        if (!isempty(shared))
                snprintf(base, sizeof base, "%s", shared);
        else
                store_test_pg_cluster(base, sizeof base, env->cluster_dir, sizeof env->cluster_dir);
        if (store_test_pg_new_db(base, env->url, sizeof env->url) < 0) {
                printf("Bail out! cannot create a test database\n");
                exit(EXIT_FAILURE);
        }
}

static inline void store_test_teardown(StoreTestEnv *env) {
        if (env->sqlite_dir[0]) {
                char cmd[512];
                snprintf(cmd, sizeof cmd, "rm -rf '%s'", env->sqlite_dir);
                (void) !system(cmd);
        }
        if (env->cluster_dir[0])
                (void) store_test_pg_ctl(env, "stop");
        if (env->mariadb_dir[0])
                (void) store_test_mariadb_ctl(env, "stop");
}

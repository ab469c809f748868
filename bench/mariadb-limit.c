/* mariadb-limit.c: the database's limit on MariaDB/MySQL for bench/run: pgbench -N's transaction and the queue cycle, N clients for T seconds. */
#include <errno.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "macro.h"
#include "strutil.h"
#include "timeutil.h"

/* pgbench speaks only to PostgreSQL, and mariadb-slap has neither pgbench's random keys nor a
 * transaction per client loop: this runs the same transactions as bench/run's scenario 1 does
 * with pgbench, statement by statement in the text protocol (as pgbench's default simple
 * protocol), one connection and thread per client, in READ COMMITTED (tern's sessions' level and
 * PostgreSQL's default). A transaction that fails (deadlock, lock wait timeout) is rolled back and
 * not counted.
 *
 *   mariadb-limit --socket PATH --user U [--password P] --database DB init
 *       creates pgbench's tables at scale 1 (100,000 accounts) and the queue table
 *   mariadb-limit ... [--clients N] [--seconds S] simple-update | queue-cycle
 *       prints "tps = X" (committed transactions per second)
 *
 * simple-update is pgbench -N's built-in script: UPDATE an account's balance, SELECT it, INSERT a
 * history row. queue-cycle inserts a row and deletes the oldest unlocked one: MariaDB refuses
 * pgbench's one-statement DELETE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED) on the same
 * table, so the claim is a SELECT ... FOR UPDATE SKIP LOCKED then a DELETE (one round trip more
 * than on PostgreSQL, as tern's own claim on MySQL). */

#define ACCOUNTS 100000
#define STR_(x) #x
#define STR(x) STR_(x)

typedef struct Conf {
        const char *socket, *user, *password, *database;
        unsigned clients, seconds;
        bool queue;
} Conf;

typedef struct Client {
        const Conf *conf;
        MYSQL *c;
        unsigned seed;
        long committed, failed;
} Client;

static atomic_bool stop;

static int connect_to(const Conf *conf, MYSQL **ret) {
        MYSQL *c = mysql_init(NULL);
        if (!c)
                return -ENOMEM;
        if (!mysql_real_connect(c, "localhost", conf->user, conf->password, conf->database, 0, conf->socket,
                                CLIENT_MULTI_STATEMENTS) ||
            mysql_query(c, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED") != 0) {
                fprintf(stderr, "mariadb-limit: connecting to '%s': %s\n", conf->socket, mysql_error(c));
                mysql_close(c);
                return -ECONNREFUSED;
        }
        *ret = c;
        return 0;
}

/* One statement; its rows (if any) are read and dropped. Returns the first column of the first
 * row as a number in *ret_first when asked (0 when there is no row). */
static int run(MYSQL *c, const char *q, long long *ret_first) {
        if (mysql_query(c, q) != 0)
                return -EIO;
        MYSQL_RES *res = mysql_store_result(c);
        if (ret_first)
                *ret_first = 0;
        if (res) {
                MYSQL_ROW row = mysql_fetch_row(res);
                if (ret_first && row && row[0])
                        *ret_first = atoll(row[0]);
                mysql_free_result(res);
        } else if (mysql_field_count(c) != 0)
                return -EIO;
        return 0;
}

static int simple_update(Client *cl) {
        char q[256];
        int aid = 1 + rand_r(&cl->seed) % ACCOUNTS, tid = 1 + rand_r(&cl->seed) % 10;
        int delta = rand_r(&cl->seed) % 10001 - 5000;
        if (run(cl->c, "BEGIN", NULL) < 0)
                return -EIO;
        snprintf(q, sizeof q, "UPDATE pgbench_accounts SET abalance = abalance + %d WHERE aid = %d", delta, aid);
        if (run(cl->c, q, NULL) < 0)
                return -EIO;
        snprintf(q, sizeof q, "SELECT abalance FROM pgbench_accounts WHERE aid = %d", aid);
        if (run(cl->c, q, NULL) < 0)
                return -EIO;
        snprintf(q, sizeof q,
                 "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (%d, 1, %d, %d, CURRENT_TIMESTAMP)",
                 tid, aid, delta);
        if (run(cl->c, q, NULL) < 0)
                return -EIO;
        return run(cl->c, "COMMIT", NULL);
}

static int queue_cycle(Client *cl) {
        char q[128];
        long long id;
        if (run(cl->c, "BEGIN", NULL) < 0 || run(cl->c, "INSERT INTO bench_queue (payload) VALUES ('{}')", NULL) < 0 ||
            run(cl->c, "SELECT id FROM bench_queue ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED", &id) < 0)
                return -EIO;
        snprintf(q, sizeof q, "DELETE FROM bench_queue WHERE id = %lld", id);
        if (run(cl->c, q, NULL) < 0)
                return -EIO;
        return run(cl->c, "COMMIT", NULL);
}

static void *client_run(void *arg) {
        Client *cl = arg;
        while (!atomic_load(&stop)) {
                if ((cl->conf->queue ? queue_cycle(cl) : simple_update(cl)) < 0) {
                        unsigned e = mysql_errno(cl->c);
                        if (e != ER_LOCK_DEADLOCK && e != ER_LOCK_WAIT_TIMEOUT) {
                                fprintf(stderr, "mariadb-limit: %s\n", mysql_error(cl->c));
                                atomic_store(&stop, true);
                        }
                        cl->failed++;
                        (void) mysql_query(cl->c, "ROLLBACK");
                } else
                        cl->committed++;
        }
        return NULL;
}

static int init(const Conf *conf) {
        MYSQL *c;
        int r = connect_to(conf, &c);
        if (r < 0)
                return r;
        /* pgbench -i -s 1's tables (branches and tellers exist for the shape; -N does not touch them);
         * the accounts from MariaDB's sequence engine in one statement. */
        static const char *const statements[] = {
                "DROP TABLE IF EXISTS pgbench_accounts, pgbench_branches, pgbench_tellers, pgbench_history, bench_queue",
                "CREATE TABLE pgbench_branches (bid INT PRIMARY KEY, bbalance INT, filler CHAR(88)) ENGINE=InnoDB",
                "CREATE TABLE pgbench_tellers (tid INT PRIMARY KEY, bid INT, tbalance INT, filler CHAR(84)) ENGINE=InnoDB",
                "CREATE TABLE pgbench_accounts (aid INT PRIMARY KEY, bid INT, abalance INT, filler CHAR(84)) ENGINE=InnoDB",
                "CREATE TABLE pgbench_history (tid INT, bid INT, aid INT, delta INT, mtime TIMESTAMP NULL,"
                " filler CHAR(22)) ENGINE=InnoDB",
                "INSERT INTO pgbench_branches VALUES (1, 0, '')",
                "INSERT INTO pgbench_tellers SELECT seq, 1, 0, '' FROM seq_1_to_10",
                "INSERT INTO pgbench_accounts SELECT seq, 1, 0, '' FROM seq_1_to_" STR(ACCOUNTS),
                "CREATE TABLE bench_queue (id BIGINT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL) ENGINE=InnoDB",
                "ANALYZE TABLE pgbench_accounts",
        };
        for (size_t i = 0; i < ELEMENTSOF(statements); i++)
                if (run(c, statements[i], NULL) < 0) {
                        fprintf(stderr, "mariadb-limit: %s: %s\n", statements[i], mysql_error(c));
                        r = -EIO;
                        break;
                }
        mysql_close(c);
        return r;
}

static int measure(const Conf *conf) {
        Client cl[64] = {};
        pthread_t th[64];
        unsigned n = 0;
        int r = 0;

        for (; n < conf->clients; n++) {
                cl[n] = (Client) { .conf = conf, .seed = 0x9e3779b9u * (n + 1) };
                if ((r = connect_to(conf, &cl[n].c)) < 0)
                        break;
        }
        atomic_store(&stop, false);
        usec_t t0 = now_monotonic();
        unsigned started = 0;
        if (r == 0)
                for (; started < n; started++)
                        if (pthread_create(&th[started], NULL, client_run, &cl[started]) != 0) {
                                atomic_store(&stop, true);
                                r = -EAGAIN;
                                break;
                        }
        usec_t deadline = t0 + (usec_t) conf->seconds * USEC_PER_SEC;
        while (r == 0 && !atomic_load(&stop) && now_monotonic() < deadline)
                usleep(10000);
        bool failed = atomic_load(&stop); /* a client stopped everyone on an error */
        atomic_store(&stop, true);
        long committed = 0;
        for (unsigned i = 0; i < started; i++) {
                pthread_join(th[i], NULL);
                committed += cl[i].committed;
        }
        double secs = (double) (now_monotonic() - t0) / USEC_PER_SEC;
        for (unsigned i = 0; i < n; i++)
                mysql_close(cl[i].c);
        if (r < 0 || failed)
                return r < 0 ? r : -EIO;
        printf("tps = %.1f\n", committed / secs);
        return 0;
}

int main(int argc, char *argv[]) {
        Conf conf = { .clients = 4, .seconds = 10 };
        const char *mode = NULL;

        for (int i = 1; i < argc; i++) {
                const char *next = i + 1 < argc ? argv[i + 1] : NULL;
                if (streq(argv[i], "--socket") && next)
                        conf.socket = argv[++i];
                else if (streq(argv[i], "--user") && next)
                        conf.user = argv[++i];
                else if (streq(argv[i], "--password") && next)
                        conf.password = argv[++i];
                else if (streq(argv[i], "--database") && next)
                        conf.database = argv[++i];
                else if (streq(argv[i], "--clients") && next && safe_atou(next, &conf.clients) == 0 &&
                         conf.clients >= 1 && conf.clients <= 64)
                        i++;
                else if (streq(argv[i], "--seconds") && next && safe_atou(next, &conf.seconds) == 0 && conf.seconds >= 1)
                        i++;
                else if (!mode && argv[i][0] != '-')
                        mode = argv[i];
                else
                        mode = NULL, i = argc;
        }
        if (!conf.socket || !conf.user || !conf.database || !mode ||
            !(streq(mode, "init") || streq(mode, "simple-update") || streq(mode, "queue-cycle"))) {
                fprintf(stderr, "usage: %s --socket PATH --user USER [--password P] --database DB [--clients N (1-64)]"
                                " [--seconds S] init|simple-update|queue-cycle\n", argv[0]);
                return 2;
        }
        if (mysql_library_init(0, NULL, NULL) != 0)
                return 1;
        conf.queue = streq(mode, "queue-cycle");
        int r = streq(mode, "init") ? init(&conf) : measure(&conf);
        mysql_library_end();
        return r < 0 ? 1 : 0;
}

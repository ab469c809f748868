/* test-sqlite-writer: one process's SQLite transactions wait their turn on its one writer, woken when it is free. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store-private.h"
#include "tap.h"
#include "timeutil.h"

static char dir[] = "/tmp/tern-test-sqlite-writer.XXXXXX";
static char url[sizeof dir + 32];

#define HOLD_MS 300

typedef struct Holder {
        Store *s;
        usec_t began, released; /* released: the commit (or rollback) is called */
        int r;
} Holder;

/* Holds a transaction for HOLD_MS, then commits. */
static void *hold(void *p) {
        Holder *h = p;
        StoreTx *tx;
        if ((h->r = store_begin(h->s, &tx)) < 0)
                return NULL;
        h->began = now_monotonic();
        h->r = store_exec(tx, "INSERT INTO scratch (x) VALUES (1)", NULL, 0, NULL);
        usleep(HOLD_MS * 1000);
        /* Before the commit: one that a waiter's transaction joins returns after that one ended. */
        __atomic_store_n(&h->released, now_monotonic(), __ATOMIC_SEQ_CST);
        if (h->r >= 0)
                h->r = store_commit(tx);
        else
                store_rollback(tx);
        return NULL;
}

/* Waits for h's transaction to begin. */
static void wait_began(Holder *h) {
        while (!__atomic_load_n(&h->began, __ATOMIC_SEQ_CST) && h->r >= 0)
                usleep(1000);
        usleep(20 * 1000);
}

static int64_t count_rows(Store *s) {
        SqlRows rows = {};
        int64_t n = -1;
        if (store_exec_raw(s, "SELECT COUNT(*) FROM scratch", NULL, 0, &rows) >= 0 && rows.n_rows == 1)
                n = sql_cell_i64(&rows, 0, 0);
        sql_rows_done(&rows);
        return n;
}

/* Commits in the WAL file: its frames that end a transaction (a database size in their header),
 * of the WAL's current generation (the header's salts). -1 without a WAL. */
static int wal_commits(void) {
        char path[sizeof dir + 16];
        unsigned char h[32], f[24];
        int n = 0;
        snprintf(path, sizeof path, "%s/tern.db-wal", dir);
        FILE *fp = fopen(path, "re");
        if (!fp)
                return -1;
        if (fread(h, 1, sizeof h, fp) != sizeof h) {
                fclose(fp);
                return -1;
        }
        long page = (long) h[8] << 24 | (long) h[9] << 16 | (long) h[10] << 8 | h[11];
        while (fread(f, 1, sizeof f, fp) == sizeof f && memcmp(f + 8, h + 16, 8) == 0) {
                n += (f[4] | f[5] | f[6] | f[7]) != 0;
                if (fseek(fp, page, SEEK_CUR) < 0)
                        break;
        }
        fclose(fp);
        return n;
}

/* A transaction of its own that inserts x, waits for a start signal (the others queued behind),
 * and commits (or rolls back); then looks through another Store whether its row is committed. */
typedef struct Member {
        Store *s, *reader;
        int x;
        bool fail;
        int r;
        int seen; /* its row, read by the reader right after its commit returned */
} Member;

static int64_t count_x(Store *s, int x) {
        SqlRows rows = {};
        int64_t n = -1;
        if (store_exec_raw(s, "SELECT COUNT(*) FROM scratch WHERE x = $1", SQL_ARGS(SQL_I(x)), &rows) >= 0 &&
            rows.n_rows == 1)
                n = sql_cell_i64(&rows, 0, 0);
        sql_rows_done(&rows);
        return n;
}

static void *member(void *p) {
        Member *m = p;
        StoreTx *tx;
        if ((m->r = store_begin(m->s, &tx)) < 0)
                return NULL;
        m->r = store_exec(tx, "INSERT INTO scratch (x) VALUES ($1)", SQL_ARGS(SQL_I(m->x)), NULL);
        if (m->r < 0 || m->fail) {
                store_rollback(tx);
                return NULL;
        }
        m->r = store_commit(tx);
        m->seen = (int) count_x(m->reader, m->x);
        return NULL;
}

/* The child of the crash test: 4 threads commit rows as fast as they can (they queue on the
 * writer, so most commits are group commits), and each row's number is written to the pipe once
 * its commit returned: what the parent kills is a process in the middle of groups. */
typedef struct Writer {
        Store *s;
        int fd, id;
} Writer;

static void *writer_loop(void *p) {
        Writer *w = p;
        for (int i = 0;; i++) {
                int x = w->id * 1000000 + i;
                StoreTx *tx;
                if (store_begin(w->s, &tx) < 0)
                        continue;
                if (store_exec(tx, "INSERT INTO scratch (x) VALUES ($1)", SQL_ARGS(SQL_I(x)), NULL) < 0 ||
                    store_exec(tx, "UPDATE scratch SET x = x WHERE x = $1", SQL_ARGS(SQL_I(x)), NULL) < 0) {
                        store_rollback(tx);
                        continue;
                }
                if (store_commit(tx) < 0)
                        continue;
                char line[32];
                int n = snprintf(line, sizeof line, "%d\n", x);
                if (write(w->fd, line, (size_t) n) != n)
                        _exit(3);
        }
        return NULL;
}

static void crash_child(const char *u, int fd) {
        Store *s[4] = {};
        Writer w[4];
        pthread_t t[4];
        for (int i = 0; i < 4; i++) {
                if ((i == 0 ? store_open(u, &s[0]) : store_dup(s[0], &s[i])) < 0)
                        _exit(2);
                w[i] = (Writer) { .s = s[i], .fd = fd, .id = i + 1 };
        }
        for (int i = 0; i < 4; i++)
                if (pthread_create(&t[i], NULL, writer_loop, &w[i]) != 0)
                        _exit(2);
        pause();
        _exit(0);
}

/* SIGKILL of a process whose threads commit in groups: every commit that returned is there after. */
static void test_crash(void) {
        char u[sizeof dir + 32];
        Store *s = NULL;
        int fds[2];

        snprintf(u, sizeof u, "sqlite://%s/crash.db", dir);
        if (store_open(u, &s) < 0 || store_migrate(s) < 0 ||
            store_exec_raw(s, "CREATE TABLE scratch (x INTEGER)", NULL, 0, NULL) < 0) {
                ok(false, "the crash test's database: %s", s ? store_error(s) : "");
                store_free(s);
                return;
        }
        store_free(s);
        s = NULL;
        if (pipe2(fds, O_CLOEXEC) < 0) {
                ok(false, "pipe: %s", strerror(errno));
                return;
        }
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
                close(fds[0]);
                crash_child(u, fds[1]);
        }
        close(fds[1]);
        /* Read the acknowledgements until 2,000 came (or 20 s), kill, then read what is left. */
        size_t cap = 1 << 16, len = 0, lines = 0;
        char *buf = malloc(cap);
        usec_t end = now_monotonic() + 20 * USEC_PER_SEC;
        bool killed = false;
        for (;;) {
                if (!killed && (lines >= 2000 || now_monotonic() > end)) {
                        kill(pid, SIGKILL);
                        killed = true;
                }
                if (len + 4096 > cap)
                        buf = realloc(buf, cap *= 2);
                ssize_t n = read(fds[0], buf + len, 4096);
                if (n <= 0)
                        break;
                for (ssize_t i = 0; i < n; i++)
                        lines += buf[len + i] == '\n';
                len += (size_t) n;
        }
        close(fds[0]);
        int status = 0;
        waitpid(pid, &status, 0);
        ok(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the writers' process was killed by SIGKILL (status %d)",
           status);
        ok(lines >= 100, "%zu commits acknowledged before the kill", lines);
        int missing = 0, first_missing = -1;
        if (store_open(u, &s) < 0) {
                ok(false, "the database opens after the kill: %s", s ? store_error(s) : "");
                free(buf);
                store_free(s);
                return;
        }
        buf[len] = 0;
        for (char *p = buf, *nl; (nl = strchr(p, '\n')); p = nl + 1) {
                int x = atoi(p);
                if (count_x(s, x) != 1 && missing++ == 0)
                        first_missing = x;
        }
        ok(missing == 0, "every acknowledged commit is in the database after the kill (%d of %zu missing, first %d)",
           missing, lines, first_missing);
        free(buf);
        store_free(s);
}

int main(void) {
        Store *a = NULL, *b = NULL, *c = NULL;
        StoreTx *tx, *tx2;

        if (!mkdtemp(dir)) {
                printf("Bail out! mkdtemp: %s\n", strerror(errno));
                return 1;
        }
        snprintf(url, sizeof url, "sqlite://%s/tern.db", dir);
        if (store_open(url, &a) < 0 || store_migrate(a) < 0 || store_dup(a, &b) < 0 || store_open(url, &c) < 0) {
                printf("Bail out! cannot open and migrate %s: %s\n", url, a ? store_error(a) : "");
                return 1;
        }
        is_int(store_exec_raw(a, "CREATE TABLE scratch (x INTEGER)", NULL, 0, NULL), 0, "a write outside a transaction");
        is_int(store_exec_raw(b, "INSERT INTO scratch (x) VALUES (0)", NULL, 0, NULL), 0, "another one, on a dup");
        int64_t n0 = count_rows(c);
        is_int((int) n0, 1, "both landed, seen by a third Store");

        /* A thread that already holds the writer cannot wait for it: an error at once, not a
         * 10 s wait that could never end well. */
        is_int(store_begin(a, &tx), 0, "a transaction begins");
        usec_t t0 = now_monotonic();
        int r = store_begin(c, &tx2);
        is_int(r, -EDEADLK, "a second transaction of the same thread on the same file is refused");
        ok(now_monotonic() - t0 < USEC_PER_SEC, "at once (%.1f ms)", (double) (now_monotonic() - t0) / USEC_PER_MSEC);
        ok(strstr(store_error(c), "tern.db") != NULL, "the error names the database: %s", store_error(c));
        /* Reads outside transactions have their own connection: they do not wait. */
        t0 = now_monotonic();
        is_int((int) count_rows(b), (int) n0, "a read beside the open transaction sees the committed rows");
        ok(now_monotonic() - t0 < 100 * USEC_PER_MSEC, "without waiting for it");
        store_rollback(tx);
        is_int(store_begin(c, &tx2), 0, "once it ended, the other Store's transaction begins");
        store_rollback(tx2);

        /* Another thread's transaction: the next one begins as soon as it ends. SQLite's busy
         * handler would try again 1, 2, 5, 10, 15, 20, 25... ms apart (about 25 ms late on average
         * here); the writer's turn wakes its waiter. The best of three, for a busy machine. */
        usec_t best = USEC_INFINITY;
        for (int i = 0; i < 3; i++) {
                Holder h = { .s = a };
                pthread_t t;
                if (pthread_create(&t, NULL, hold, &h) != 0) {
                        printf("Bail out! pthread_create\n");
                        return 1;
                }
                wait_began(&h);
                r = store_begin(i % 2 ? b : c, &tx);
                usec_t got = now_monotonic();
                /* Ended before the join: the other's commit may wait for this transaction's end
                 * (its group goes on in this one), so no transaction waits for another thread. */
                if (r >= 0)
                        store_rollback(tx);
                pthread_join(t, NULL);
                ok(h.r >= 0 && r >= 0, "run %d: both transactions ran (%d, %d)", i, h.r, r);
                if (h.r >= 0 && r >= 0 && got >= h.released - USEC_PER_MSEC)
                        best = MIN(best, got > h.released ? got - h.released : 0);
                diag("run %d: began %.2f ms after the other committed", i,
                     (double) ((int64_t) got - (int64_t) h.released) / USEC_PER_MSEC);
        }
        ok(best < 10 * USEC_PER_MSEC, "the waiting transaction began within 10 ms of the other's commit (best %.2f ms)",
           (double) best / USEC_PER_MSEC);

        /* A write outside a transaction waits its turn too, and lands. */
        Holder h = { .s = a };
        pthread_t t;
        pthread_create(&t, NULL, hold, &h);
        wait_began(&h);
        is_int(store_exec_raw(b, "DELETE FROM scratch", NULL, 0, NULL), 0, "a write outside a transaction waits for the writer");
        pthread_join(t, NULL);
        is_int((int) count_rows(c), 0, "and ran after the other transaction's commit (its row deleted too)");

        /* Group commit: a transaction that ends while others wait for the turn leaves its commit to
         * the last of them; one of the group that fails takes only its own writes back, and each
         * commit returns once its row is committed (another connection sees it). h holds the
         * turn while m1 (which fails) and m2 queue behind it. */
        {
                /* Each reads through a Store of its own: a Store is one thread's at a time. */
                Store *r1 = NULL;
                if (store_dup(a, &r1) < 0) {
                        printf("Bail out! store_dup\n");
                        return 1;
                }
                Holder g = { .s = a };
                Member m[2] = { { .s = b, .x = 101, .fail = true }, { .s = c, .reader = r1, .x = 102 } };
                pthread_t tg, tm[2];
                int commits = wal_commits();
                pthread_create(&tg, NULL, hold, &g);
                wait_began(&g);
                for (int i = 0; i < 2; i++) {
                        pthread_create(&tm[i], NULL, member, &m[i]);
                        usleep(20 * 1000);
                }
                pthread_join(tg, NULL);
                for (int i = 0; i < 2; i++)
                        pthread_join(tm[i], NULL);
                is_int(wal_commits() - commits, 1, "group: the two transactions that ended well were one commit");
                is_int(g.r, 0, "group: the first transaction's commit returned success");
                is_int(m[1].r, 0, "group: the last one's too");
                is_int(m[1].seen, 1, "group: its row was committed when its commit returned");
                is_int((int) count_x(c, 1), 1, "group: the first one's row is committed");
                is_int((int) count_x(c, 101), 0, "group: the one that rolled back left nothing");
                is_int(store_exec_raw(b, "DELETE FROM scratch", NULL, 0, NULL), 0, "group: the writer is free again");
                store_free(r1);
        }
        /* Many threads, many small transactions (groups form as they queue): every commit returns
         * with its row committed, and all land. */
        {
                enum { THREADS = 6, EACH = 50 };
                Store *st[THREADS] = {}, *rd[THREADS] = {};
                Member mm[THREADS];
                int bad = 0, unseen = 0, commits = wal_commits();
                for (int i = 0; i < THREADS; i++)
                        if (store_dup(a, &st[i]) < 0 || store_dup(a, &rd[i]) < 0)
                                bad++;
                for (int k = 0; k < EACH && !bad; k++) {
                        pthread_t tt[THREADS];
                        for (int i = 0; i < THREADS; i++) {
                                mm[i] = (Member) { .s = st[i], .reader = rd[i], .x = 1000 + k * THREADS + i };
                                pthread_create(&tt[i], NULL, member, &mm[i]);
                        }
                        for (int i = 0; i < THREADS; i++) {
                                pthread_join(tt[i], NULL);
                                bad += mm[i].r < 0;
                                unseen += mm[i].seen != 1;
                        }
                }
                diag("300 transactions were %d commits", wal_commits() - commits);
                is_int(bad, 0, "group: 300 transactions of 6 threads at once committed");
                is_int(unseen, 0, "group: each row was committed when its own commit returned");
                is_int((int) count_rows(c), THREADS * EACH, "group: all 300 rows are there");
                for (int i = 0; i < THREADS; i++) {
                        store_free(st[i]);
                        store_free(rd[i]);
                }
                is_int(store_exec_raw(b, "DELETE FROM scratch", NULL, 0, NULL), 0, "group: cleared");
        }

        /* Checkpoints run beside the commits (the writer's checkpointer), not in them: still, the
         * WAL is copied back into the database as it fills, and does not grow to the size where
         * commits checkpoint themselves (16,000 pages). 20,000 pages written, about 75 a commit;
         * the bound leaves room for a checkpointer slowed down by a loaded machine. */
        char wal[sizeof dir + 16];
        struct stat st;
        off_t wal_max = 0;
        int failed = 0;
        snprintf(wal, sizeof wal, "%s/tern.db-wal", dir);
        for (int i = 0; i < 270; i++) {
                if (store_exec_raw(i % 2 ? a : b, "INSERT INTO scratch (x) VALUES (randomblob(300000))", NULL, 0, NULL) < 0)
                        failed++;
                if (stat(wal, &st) == 0)
                        wal_max = MAX(wal_max, st.st_size);
                usleep(2000); /* room for the checkpointer on a loaded machine */
        }
        is_int(failed, 0, "270 commits of 300 kB each");
        ok(wal_max > 0 && wal_max < 12000 * 4096, "the WAL stayed under 12,000 pages (largest %.1f MB)", (double) wal_max / 1e6);
        store_free(c);
        store_free(b);
        store_free(a);
        a = NULL;
        is_int(store_open(url, &a), 0, "the database opens again");
        is_int((int) (a ? count_rows(a) : -1), 270, "with every committed row");
        store_free(a);
        test_crash();
        char cmd[sizeof dir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        (void) !system(cmd);
        return tap_done();
}

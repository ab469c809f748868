/* test-sqlite-writer: one process's SQLite transactions wait their turn on its one writer, woken when it is free. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store-private.h"
#include "tap.h"
#include "timeutil.h"

static char dir[] = "/tmp/tern-test-sqlite-writer.XXXXXX";
static char url[sizeof dir + 32];

#define HOLD_MS 300

typedef struct Holder {
        Store *s;
        usec_t began, released;
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
        if (h->r >= 0)
                h->r = store_commit(tx);
        else
                store_rollback(tx);
        h->released = now_monotonic();
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
                pthread_join(t, NULL);
                ok(h.r >= 0 && r >= 0, "run %d: both transactions ran (%d, %d)", i, h.r, r);
                if (r >= 0)
                        store_rollback(tx);
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
        char cmd[sizeof dir + 16];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        (void) !system(cmd);
        return tap_done();
}

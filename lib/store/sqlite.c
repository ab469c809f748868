/* sqlite.c: the embedded SQLite backend of the store (one file, WAL, one writer connection per process). */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "hashmap.h"
#include "store-private.h"

/* SQLite has one writer at a time, and every transaction of the store begins IMMEDIATE (that gives
 * the per-execution serialization and the disjoint job claims PostgreSQL gets from row locks). When
 * each thread's connection took the write lock itself, the losers slept in SQLite's busy handler
 * (1, 2, 5, 10... ms between tries): a shell task under `tern run` waited ~10 ms that way. So the
 * process's transactions on one file all run on one writer connection, one after the other, each
 * waiting its turn on a mutex (woken when the turn is free, no polling); a Store's own connection
 * serves its reads outside transactions, beside the writer (WAL). Only another process's writer
 * (a CLI command beside a server) still meets the busy handler, a finer one than SQLite's. */
#define BUSY_TIMEOUT_MS 10000
#define BUSY_STEP_MAX_US 2000
/* Prepared statements kept per connection, by text: the repositories' SQL is a fixed set of
 * texts, each parsed again at every call otherwise. Past this many the cache is emptied. */
#define STMT_CACHE_MAX 512
/* WAL frames (pages) after which a commit asks for a checkpoint: SQLite's own default. SQLite would
 * run it inside that commit, fsyncs included (tens of ms on a busy disk), with the writer's turn
 * held and every other transaction of the process waiting; the writer's checkpointer thread runs
 * it on its own connection instead, beside the next transactions (a PASSIVE checkpoint takes no
 * write lock). But SQLite starts the WAL over from its beginning only when a write transaction
 * begins on a WAL copied back whole, which commits meanwhile prevent: past CKPT_WRAP_FRAMES the
 * checkpointer takes the turn once for the frames its pass left (a few: little to sync), so that
 * the next transaction starts the WAL over. Only a WAL CKPT_INLINE_FACTOR times the first size, a
 * checkpointer that cannot keep up, makes a commit checkpoint itself again (the file stays bounded). */
#define CKPT_FRAMES 1000
#define CKPT_WRAP_FRAMES 4000
#define CKPT_INLINE_FACTOR 16
/* Group commit. Each small transaction of the process wrote every B-tree page it touched whole to
 * the WAL at its COMMIT (about 50 pages per one-task execution, the same pages of the jobs, events
 * and executions tables again and again). So a transaction that ends while others wait for the
 * turn does not commit: it ends its savepoint (RELEASE), hands the turn on and waits; the next one
 * runs inside the same SQLite transaction, and the first that ends with nobody waiting (or the
 * GROUP_MAX-th) commits for all and wakes them. Every member learns its outcome only after that
 * COMMIT: nothing is acknowledged before it is as durable as a commit of its own would have been
 * (WAL, synchronous = NORMAL: a crash of the process loses nothing committed). A member that
 * fails rolls back to its savepoint only; a COMMIT that fails (or an error that makes SQLite roll
 * the whole transaction back) fails every member, none of which was acknowledged. Hence an open
 * transaction must not wait for another thread of the process (store.h): that thread may be a
 * member waiting for it. */
#define GROUP_MAX 32
/* A member waiting for its group's COMMIT looks this often whether the turn was left free with
 * the group open (a waiter that timed out in the meantime), and commits it itself then. */
#define GROUP_CHECK_MS 100

/* A connection and the statements prepared on it, by their (translated) text. */
typedef struct SqliteConn {
        sqlite3 *db;
        Hashmap stmts;
} SqliteConn;

/* A transaction that ended in an open group and waits for its COMMIT (on its thread's stack). */
typedef struct GroupMember GroupMember;
struct GroupMember {
        GroupMember *next;
        bool done; /* (group_lock) */
        int result;
        char error[256];
};

typedef struct SqliteWriter SqliteWriter;
struct SqliteWriter {
        SqliteWriter *next;
        char *path;
        unsigned n_ref;
        pthread_mutex_t turn; /* held from BEGIN to COMMIT or ROLLBACK (error-checking: no self-deadlock) */
        atomic_uint waiting;  /* threads waiting for the turn: a member ending now joins a group */
        SqliteConn conn;
        /* The group (GROUP_MAX above). The first three change only with the turn held. */
        bool group_open;        /* a transaction is open on conn (BEGIN done, no COMMIT yet) */
        unsigned group_members; /* members that ended in it and wait for its COMMIT */
        GroupMember *group;     /* those members */
        pthread_mutex_t group_lock;
        pthread_cond_t group_cv; /* a group ended: its members' done set */
        int cancel_fd; /* the turn holder's (turn_take()): its busy waits end when it stops */
        /* The checkpointer: started at the first full WAL (short-lived CLI commands never get one). */
        pthread_mutex_t ckpt_lock;
        pthread_cond_t ckpt_cv;
        pthread_t ckpt_thread;
        bool ckpt_started, ckpt_wanted, ckpt_stop;
        int ckpt_next; /* the WAL's size in frames at which to ask again (a pass a commit is too many) */
};

/* The writers of this process, one per database path. */
static pthread_mutex_t writers_lock = PTHREAD_MUTEX_INITIALIZER;
static SqliteWriter *writers;

typedef struct SqliteData {
        SqliteConn conn;      /* this Store's own: statements outside transactions */
        SqliteWriter *writer; /* NULL for a private database (":memory:"): everything on db */
        bool has_turn;        /* in a transaction (or one autocommit write) on the writer */
        bool savepoint;       /* this transaction is a savepoint in a group's transaction */
        Notifier *notifier;
        NotifierSub *sub;
} SqliteData;

static SqliteData *data(Store *s) {
        return s->backend_data;
}

/* The connection statements go to now. */
static SqliteConn *conn(SqliteData *d) {
        return d->has_turn ? &d->writer->conn : &d->conn;
}

static void stmts_clear(SqliteConn *c) {
        sqlite3_stmt *st;
        /* Every statement of the connection is one of the cache's (the others are finalized
         * after their use). */
        while (c->db && (st = sqlite3_next_stmt(c->db, NULL)))
                sqlite3_finalize(st);
        hashmap_done(&c->stmts);
}

static void conn_close(SqliteConn *c) {
        stmts_clear(c);
        sqlite3_close_v2(c->db);
        c->db = NULL;
}

static int rc_errno(int rc) {
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

static int sqlite_errno(Store *s, sqlite3 *db, int rc) {
        store_set_error(s, "%s", db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
        return rc_errno(rc);
}

/* Another process holds the write lock: SQLite gives no wake-up across processes, so try again
 * after 0.1 ms, doubling to 2 ms (SQLite's own handler goes to 100 ms), for BUSY_TIMEOUT_MS; not
 * at all once this process is stopping (store_set_cancel_fd()). */
static int busy_wait(void *userdata, int n) {
        if (store_cancel_requested(*(const int *) userdata))
                return 0;
        long step = MIN(100L << MIN(n, 5), (long) BUSY_STEP_MAX_US);
        /* Steps 0-4 sleep 3.1 ms in all; every later one BUSY_STEP_MAX_US. */
        if (n > 5 && (long) (n - 5) * BUSY_STEP_MAX_US > BUSY_TIMEOUT_MS * 1000L)
                return 0;
        struct timespec ts = { .tv_nsec = step * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        return 1;
}

/* cancel_fd: where the stop request of the Store that uses the connection is (busy_wait()). */
static int db_open(Store *s, const char *path, const int *cancel_fd, SqliteConn *ret) {
        sqlite3 *db = NULL;
        int rc;

        rc = sqlite3_open_v2(path, &db,
                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE,
                             NULL);
        if (rc != SQLITE_OK) {
                int r = sqlite_errno(s, db, rc);
                sqlite3_close_v2(db);
                return r;
        }
        sqlite3_extended_result_codes(db, 1);
        sqlite3_busy_handler(db, busy_wait, (void *) cancel_fd);
        /* WAL lets readers run beside the writer; NORMAL is durable across process crashes (a
         * power loss may drop the last commits, not corrupt). */
        rc = sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                          NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
                int r = sqlite_errno(s, db, rc);
                sqlite3_close_v2(db);
                return r;
        }
        *ret = (SqliteConn) { .db = db, .stmts = HASHMAP_INIT };
        return 0;
}

/* A database no other connection sees (":memory:", "", a memory URI) has no shared writer. */
static bool path_is_private(const char *path) {
        return isempty(path) || streq(path, ":memory:") || strstr(path, "mode=memory");
}

/* The open group ends, with the turn held: its members learn the outcome r (why: what failed). */
static void group_finish(SqliteWriter *w, int r, const char *why) {
        GroupMember *m = w->group;

        w->group_open = false;
        w->group_members = 0;
        w->group = NULL;
        if (!m)
                return;
        pthread_mutex_lock(&w->group_lock);
        for (; m; m = m->next) {
                m->result = r;
                if (r < 0)
                        snprintf(m->error, sizeof m->error, "%s", why);
                m->done = true;
        }
        pthread_cond_broadcast(&w->group_cv);
        pthread_mutex_unlock(&w->group_lock);
}

/* Commit the open group, if any, with the turn held. s (or NULL) gets the error message. */
static int group_end(SqliteWriter *w, Store *s) {
        sqlite3 *db = w->conn.db;
        char why[256];
        int rc, r;

        if (!w->group_open)
                return 0;
        if (sqlite3_get_autocommit(db)) {
                /* An error of the last member (SQLITE_FULL, _IOERR, _NOMEM...) made SQLite roll
                 * the whole transaction back: the earlier members' work is gone with it. */
                snprintf(why, sizeof why, "database \"%s\": rolled back with another transaction of this process",
                         w->path);
                r = -EIO;
        } else if ((rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) == SQLITE_OK) {
                group_finish(w, 0, NULL);
                return 0;
        } else {
                snprintf(why, sizeof why, "%s", sqlite3_errmsg(db));
                r = rc_errno(rc);
                if (!sqlite3_get_autocommit(db))
                        (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        }
        if (s)
                store_set_error(s, "%s", why);
        group_finish(w, r, why);
        return r;
}

/* A member that ended in the open group (the turn given on) waits for the group's COMMIT. */
static int group_wait(Store *s, SqliteWriter *w, GroupMember *me) {
        pthread_mutex_lock(&w->group_lock);
        while (!me->done) {
                struct timespec t;
                clock_gettime(CLOCK_MONOTONIC, &t);
                t.tv_nsec += GROUP_CHECK_MS * 1000000L;
                if (t.tv_nsec >= 1000000000L) {
                        t.tv_sec++;
                        t.tv_nsec -= 1000000000L;
                }
                if (pthread_cond_clockwait(&w->group_cv, &w->group_lock, CLOCK_MONOTONIC, &t) != ETIMEDOUT)
                        continue;
                /* Whoever takes the turn ends an open group it does not go on with; a turn left free
                 * with the group open (its waiter timed out) has nobody to do that. */
                pthread_mutex_unlock(&w->group_lock);
                if (pthread_mutex_trylock(&w->turn) == 0) {
                        (void) group_end(w, NULL);
                        pthread_mutex_unlock(&w->turn);
                }
                pthread_mutex_lock(&w->group_lock);
        }
        pthread_mutex_unlock(&w->group_lock);
        if (me->result < 0)
                store_set_error(s, "database \"%s\": this transaction was committed with others, and that failed: %s",
                                w->path, me->error);
        return me->result;
}

static void *checkpointer(void *arg) {
        SqliteWriter *w = arg;
        sqlite3 *db = NULL;

        /* Its own connection: a checkpoint on the writer's would need the writer's turn. A
         * connection checkpoints only once it has read the file in WAL mode (before, -1 frames). */
        if (sqlite3_open_v2(w->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) != SQLITE_OK) {
                sqlite3_close_v2(db);
                db = NULL;
        }
        pthread_mutex_lock(&w->ckpt_lock);
        for (;;) {
                while (!w->ckpt_wanted && !w->ckpt_stop)
                        pthread_cond_wait(&w->ckpt_cv, &w->ckpt_lock);
                if (w->ckpt_stop)
                        break;
                w->ckpt_wanted = false;
                pthread_mutex_unlock(&w->ckpt_lock);
                /* What fails (no connection, another process's checkpoint) is tried at the next
                 * request; past CKPT_INLINE_FACTOR the commits checkpoint themselves. */
                int frames = 0, next = CKPT_FRAMES;
                if (db && sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, &frames, NULL) == SQLITE_OK) {
                        next = frames + CKPT_FRAMES / 4;
                        if (frames >= CKPT_WRAP_FRAMES && pthread_mutex_lock(&w->turn) == 0) {
                                /* What was committed during the pass; nothing commits now. A group
                                 * handed on to this turn is committed first (group_end()). */
                                (void) group_end(w, NULL);
                                (void) sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
                                pthread_mutex_unlock(&w->turn);
                                next = CKPT_FRAMES;
                        }
                }
                pthread_mutex_lock(&w->ckpt_lock);
                w->ckpt_next = next;
        }
        pthread_mutex_unlock(&w->ckpt_lock);
        sqlite3_close_v2(db);
        return NULL;
}

/* Called by SQLite after each commit on the writer's connection (in place of its auto-checkpoint),
 * with the turn still held: only a wake-up here, unless the WAL is far past its size. */
static int wal_hook(void *userdata, sqlite3 *db, const char *name, int frames) {
        SqliteWriter *w = userdata;

        if (frames < CKPT_FRAMES)
                return SQLITE_OK;
        if (frames >= CKPT_FRAMES * CKPT_INLINE_FACTOR) {
                (void) sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
                return SQLITE_OK;
        }
        pthread_mutex_lock(&w->ckpt_lock);
        if (frames < w->ckpt_next) {
                pthread_mutex_unlock(&w->ckpt_lock);
                return SQLITE_OK;
        }
        if (!w->ckpt_started && !w->ckpt_stop)
                /* Without a thread (none left to make) the WAL grows to the inline checkpoint. */
                w->ckpt_started = pthread_create(&w->ckpt_thread, NULL, checkpointer, w) == 0;
        w->ckpt_wanted = true;
        pthread_cond_signal(&w->ckpt_cv);
        pthread_mutex_unlock(&w->ckpt_lock);
        return SQLITE_OK;
}

static void checkpointer_stop(SqliteWriter *w) {
        pthread_mutex_lock(&w->ckpt_lock);
        w->ckpt_stop = true;
        pthread_cond_signal(&w->ckpt_cv);
        pthread_mutex_unlock(&w->ckpt_lock);
        if (w->ckpt_started)
                pthread_join(w->ckpt_thread, NULL);
}

static int writer_get(Store *s, const char *path, SqliteWriter **ret) {
        SqliteWriter *w;
        int r = 0;

        pthread_mutex_lock(&writers_lock);
        for (w = writers; w; w = w->next)
                if (streq(w->path, path))
                        break;
        if (w)
                w->n_ref++;
        else {
                pthread_mutexattr_t a;
                w = calloc(1, sizeof(SqliteWriter));
                if (!w || !(w->path = strdup(path))) {
                        r = -ENOMEM;
                        goto fail;
                }
                w->cancel_fd = -EBADF;
                r = db_open(s, path, &w->cancel_fd, &w->conn);
                if (r < 0)
                        goto fail;
                pthread_mutexattr_init(&a);
                pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
                pthread_mutex_init(&w->turn, &a);
                pthread_mutexattr_destroy(&a);
                pthread_mutex_init(&w->ckpt_lock, NULL);
                pthread_cond_init(&w->ckpt_cv, NULL);
                pthread_mutex_init(&w->group_lock, NULL);
                pthread_cond_init(&w->group_cv, NULL);
                w->ckpt_next = CKPT_FRAMES;
                sqlite3_wal_hook(w->conn.db, wal_hook, w);
                w->n_ref = 1;
                w->next = writers;
                writers = w;
        }
        pthread_mutex_unlock(&writers_lock);
        *ret = w;
        return 0;
fail:
        pthread_mutex_unlock(&writers_lock);
        if (w)
                free(w->path);
        free(w);
        return r;
}

static void writer_put(SqliteWriter *w) {
        if (!w)
                return;
        pthread_mutex_lock(&writers_lock);
        if (--w->n_ref > 0) {
                pthread_mutex_unlock(&writers_lock);
                return;
        }
        for (SqliteWriter **p = &writers; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        break;
                }
        pthread_mutex_unlock(&writers_lock);
        checkpointer_stop(w);
        conn_close(&w->conn);
        pthread_mutex_destroy(&w->turn);
        pthread_mutex_destroy(&w->ckpt_lock);
        pthread_cond_destroy(&w->ckpt_cv);
        pthread_mutex_destroy(&w->group_lock);
        pthread_cond_destroy(&w->group_cv);
        free(w->path);
        free(w);
}

/* Wait for the writer's turn (the queue of this process's transactions), as long as SQLite would
 * have waited for the lock. */
static int turn_take(Store *s) {
        SqliteData *d = data(s);
        struct timespec deadline;
        int e;

        if (!d->writer)
                return 0;
        e = pthread_mutex_trylock(&d->writer->turn);
        if (e == EBUSY) {
                clock_gettime(CLOCK_MONOTONIC, &deadline);
                deadline.tv_sec += BUSY_TIMEOUT_MS / 1000;
                atomic_fetch_add(&d->writer->waiting, 1);
                e = pthread_mutex_clocklock(&d->writer->turn, CLOCK_MONOTONIC, &deadline);
                atomic_fetch_sub(&d->writer->waiting, 1);
        }
        if (e == ETIMEDOUT) {
                store_set_error(s, "database \"%s\" is busy: another transaction of this process held it for %d s",
                                d->writer->path, BUSY_TIMEOUT_MS / 1000);
                return -EAGAIN;
        }
        if (e != 0) {
                /* EDEADLK: this thread's own transaction, on another Store, holds the turn. */
                store_set_error(s, "database \"%s\": cannot begin a transaction: %s", d->writer->path, strerror(e));
                return -e;
        }
        d->has_turn = true;
        d->writer->cancel_fd = s->cancel_fd;
        return 0;
}

static void turn_give(SqliteData *d) {
        if (!d->has_turn)
                return;
        d->has_turn = false;
        pthread_mutex_unlock(&d->writer->turn);
}

static int sqlite_connect(Store *s, const char *path) {
        return db_open(s, path, &s->cancel_fd, &data(s)->conn);
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
        if (!path_is_private(s->conninfo) && (r = writer_get(s, s->conninfo, &d->writer)) < 0)
                return r;
        return sqlite_connect(s, s->conninfo);
}

static int sqlite_open(Store *s, const char *path) {
        return sqlite_setup(s, NULL);
}

static int sqlite_dup(Store *s, Store *n) {
        return sqlite_setup(n, data(s)->notifier);
}

static void sqlite_rollback(Store *s);

static void sqlite_close(Store *s) {
        SqliteData *d = data(s);
        if (!d)
                return;
        if (d->has_turn) /* a transaction left open */
                sqlite_rollback(s);
        writer_put(d->writer);
        conn_close(&d->conn);
        if (d->notifier) {
                notifier_unsubscribe(d->notifier, d->sub);
                notifier_unref(d->notifier);
        }
        free(d);
        s->backend_data = NULL;
}

static int sqlite_reconnect(Store *s) {
        SqliteData *d = data(s);
        conn_close(&d->conn);
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
                        return sqlite_errno(s, sqlite3_db_handle(st), rc);
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

/* The statement at *sql on c: the cached one when it is the whole text, else prepared (and cached
 * when it is); *cached says whether the caller resets it rather than finalizes it. */
static int stmt_get(SqliteConn *c, const char *sql, bool first, sqlite3_stmt **ret, const char **tail,
                    bool *cached) {
        sqlite3_stmt *st = first ? hashmap_get(&c->stmts, sql) : NULL;
        int rc;

        if (st) {
                *ret = st, *tail = sql + strlen(sql), *cached = true;
                return SQLITE_OK;
        }
        rc = sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, tail);
        if (rc != SQLITE_OK || !st) {
                *ret = NULL, *cached = false;
                return rc;
        }
        *cached = false;
        if (first && (*tail)[strspn(*tail, " \t\r\n;")] == 0) {
                if (hashmap_size(&c->stmts) >= STMT_CACHE_MAX)
                        stmts_clear(c); /* finalizes every statement of c: only cached ones are left between calls */
                if (hashmap_put(&c->stmts, sql, st) >= 0)
                        *cached = true;
        }
        *ret = st;
        return SQLITE_OK;
}

static void stmt_put(sqlite3_stmt *st, bool cached) {
        if (!cached) {
                sqlite3_finalize(st);
                return;
        }
        /* Reset ends its read of the database (no read transaction left open between calls). */
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
}

static int sqlite_exec(Store *s, const char *sql, const SqlArg *args, size_t n_args, SqlRows *ret) {
        SqliteData *d = data(s);
        _cleanup_free_ char *t = NULL;
        SqlRows rows = {};
        bool own_turn = false;
        size_t cap = 0;
        const char *p;
        int r = 0;

        if (!d->conn.db)
                return -ENOTCONN;
        t = sqlite_translate(sql);
        if (!t)
                return -ENOMEM;
        p = t;
        /* Migrations are several statements; the rows of the last one with columns are kept. */
        while (*p) {
                SqliteConn *c = conn(d);
                sqlite3_stmt *st = NULL;
                const char *tail = NULL;
                bool cached = false;
                int rc = stmt_get(c, p, p == t, &st, &tail, &cached);
                if (rc == SQLITE_OK && st && !d->has_turn && d->writer && !sqlite3_stmt_readonly(st)) {
                        /* A write outside a transaction waits for the writer like a transaction. */
                        stmt_put(st, cached);
                        st = NULL;
                        if ((r = turn_take(s)) < 0)
                                break;
                        own_turn = true;
                        c = conn(d);
                        rc = stmt_get(c, p, p == t, &st, &tail, &cached);
                }
                if (rc != SQLITE_OK) {
                        r = sqlite_errno(s, c->db, rc);
                        break;
                }
                p = tail;
                if (!st)
                        continue; /* whitespace or comment */
                if (n_args > 0 && (r = sqlite_bind(s, st, args, n_args)) < 0) {
                        stmt_put(st, cached);
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
                        r = sqlite_errno(s, c->db, rc);
                stmt_put(st, cached);
                if (r < 0)
                        break;
                rows.changes = (uint64_t) sqlite3_changes64(c->db);
        }
        if (own_turn) {
                /* It ran inside the group handed on to it, if any: commit that now. */
                int q = group_end(d->writer, r < 0 ? NULL : s);
                if (r >= 0)
                        r = q;
                turn_give(d);
        }
        if (r < 0 || !ret) {
                sql_rows_done(&rows);
                return r;
        }
        *ret = rows;
        return 0;
}

static int sqlite_begin(Store *s, TxMode mode) {
        SqliteData *d = data(s);
        SqliteWriter *w = d->writer;
        int r;

        if ((r = turn_take(s)) < 0)
                return r;
        if (w && w->group_open && (mode == TX_EXCLUSIVE || sqlite3_get_autocommit(w->conn.db)))
                (void) group_end(w, NULL); /* a migration runs alone; a group rolled back fails */
        if (w && w->group_open) {
                /* A group was handed on to this turn: go on with it. */
                r = sqlite_exec(s, "SAVEPOINT member", NULL, 0, NULL);
                if (r < 0) {
                        (void) group_end(w, NULL);
                        turn_give(d);
                        return r;
                }
                d->savepoint = true;
                return 0;
        }
        r = sqlite_exec(s, mode == TX_EXCLUSIVE ? "BEGIN EXCLUSIVE" : "BEGIN IMMEDIATE", NULL, 0, NULL);
        if (r < 0) {
                turn_give(d);
                return r;
        }
        if (w)
                w->group_open = true;
        return 0;
}

/* A failed COMMIT (or RELEASE) with the turn held is followed by sqlite_rollback() (store_commit()),
 * which gives the turn back; a failed group's members have given it already. */
static int sqlite_commit(Store *s, unsigned notify) {
        SqliteData *d = data(s);
        SqliteWriter *w = d->writer;
        int r;

        if (!w)
                r = sqlite_exec(s, "COMMIT", NULL, 0, NULL);
        else {
                if (d->savepoint && (r = sqlite_exec(s, "RELEASE member", NULL, 0, NULL)) < 0)
                        return r;
                d->savepoint = false;
                if (atomic_load(&w->waiting) > 0 && w->group_members + 1 < GROUP_MAX &&
                    !sqlite3_get_autocommit(w->conn.db)) {
                        GroupMember me = { .next = w->group };
                        w->group = &me;
                        w->group_members++;
                        turn_give(d);
                        r = group_wait(s, w, &me);
                } else {
                        r = group_end(w, s);
                        turn_give(d);
                }
        }
        if (r < 0)
                return r;
        notifier_post(d->notifier, notify);
        return 0;
}

static void sqlite_rollback(Store *s) {
        SqliteData *d = data(s);
        SqliteWriter *w = d->writer;

        if (!w) {
                if (d->conn.db && !sqlite3_get_autocommit(d->conn.db))
                        (void) sqlite3_exec(d->conn.db, "ROLLBACK", NULL, NULL, NULL);
                return;
        }
        if (!d->has_turn)
                return; /* never began, or ended in a group (its outcome already told) */
        sqlite3 *db = w->conn.db;
        if (d->savepoint) {
                d->savepoint = false;
                if (!sqlite3_get_autocommit(db) &&
                    sqlite3_exec(db, "ROLLBACK TO member; RELEASE member", NULL, NULL, NULL) == SQLITE_OK) {
                        /* The group goes on without this member's writes. */
                        if (atomic_load(&w->waiting) == 0)
                                (void) group_end(w, NULL);
                        turn_give(d);
                        return;
                }
        }
        /* The group's first transaction (nobody ended in it yet), or a member that could not roll
         * back to its savepoint or that SQLite rolled back whole: the members fail with it. */
        if (!sqlite3_get_autocommit(db))
                (void) sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        (void) group_end(w, NULL);
        turn_give(d);
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

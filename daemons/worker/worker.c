/* worker.c: claim loop, slot threads, lease renewal and cancellation. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "fd-util.h"
#include "id.h"
#include "job.h"
#include "kv-function.h"
#include "log.h"
#include "storage.h"
#include "strutil.h"
#include "task-services.h"
#include "variables.h"
#include "worker.h"

#define LOG_FLUSH_LINES 100
#define LOG_FLUSH_USEC (200 * USEC_PER_MSEC)

typedef struct Slot {
        Worker *w;
        unsigned index;
        pthread_t thread;
        Store *store;
        int cancel_fd;         /* eventfd: written to stop the running task */
        /* The job in flight, for the maintenance thread (under w->lock). */
        char job_id[128];
        char execution_id[128];
        int64_t epoch;
        bool busy;
        usec_t renewed; /* monotonic: the job's claim or its last lease renewal was sent */
        bool lease_expired; /* stopped by the lease guard: its result is not reported */
        bool reporting;     /* the task ended: only its result is delivered now */
        /* Log lines not yet written. */
        StoreLog *logs;
        char **messages;
        size_t n_logs, n_logs_alloc;
        usec_t logs_since;
        /* What the running task run logged so far, against the options' limits. */
        unsigned log_lines;
        uint64_t log_bytes, dropped_lines, dropped_bytes;
        Storage *storage; /* internal storage, this slot's own handle (connections kept alive); NULL: none */
        json_t *job; /* running job (slot thread only) */
} Slot;

struct Worker {
        WorkerOptions opt;
        Store *main_store;
        Slot *slots;
        pthread_t maint;
        Store *maint_store;
        pthread_t guard; /* lease_guard_thread(): runs on without the store */
        int stop_fd;           /* eventfd: stop claiming */
        pthread_mutex_t lock;
        /* The threads that run (worker_start() may fail halfway: worker_stop() ends those). */
        bool reporter_running, claimer_running, maint_running, guard_running;
        unsigned slots_running;
        atomic_uint busy;
        atomic_uint_fast64_t jobs_done, jobs_lost, last_progress;
        char *work_root;
        char *id, *queue, *storage_url, *cache_root, *pip_index_url; /* copies of the options' strings */
        /* One claimer takes as many jobs as there are idle slots in one round trip (and is the only
         * connection woken by new jobs); slots wait on work_cv for what it hands them. */
        pthread_t claimer;
        Store *claim_store;
        pthread_cond_t work_cv;
        StoreJob *queue_jobs; /* claimed, not yet started (under lock) */
        size_t n_queue, n_queue_alloc;
        unsigned idle;        /* slots waiting for a job (under lock) */
        bool stopping;        /* under lock */
        int idle_fd;          /* eventfd: a slot became idle, the claimer may claim */
        /* One reporter delivers finished tasks' results: those that end while a delivery is on its
         * way go together in the next transaction (a lone result waits for nothing). */
        pthread_t reporter;
        Store *report_store;
        pthread_mutex_t report_lock;
        pthread_cond_t report_cv; /* a result is queued, or the reporter stops */
        pthread_cond_t done_cv;   /* a result's delivery is over */
        struct Completion *pending, **pending_tail;
        bool report_stop;
        /* The reporter claims too, in its results' transactions (report_claim_max()): held from
         * that choice until the jobs are queued, so that worker_stop_claiming() waits for it. */
        pthread_mutex_t claim_lock;
        bool claims_stopped; /* under claim_lock */
};

static char *const default_env[] = { (char *) "PATH=/usr/local/bin:/usr/bin:/bin", (char *) "LANG=C.UTF-8", NULL };

int worker_new(Store *store, const WorkerOptions *opt, Worker **ret) {
        Worker *w = calloc(1, sizeof *w);
        if (!w)
                return -ENOMEM;
        w->opt = *opt;
        w->main_store = store;
        if (!w->opt.slots)
                w->opt.slots = 4;
        if (!w->opt.lease)
                w->opt.lease = 30 * USEC_PER_SEC;
        if (!w->opt.base_env)
                w->opt.base_env = default_env;
        if (!w->opt.max_log_lines)
                w->opt.max_log_lines = WORKER_MAX_LOG_LINES_DEFAULT;
        if (!w->opt.max_log_bytes)
                w->opt.max_log_bytes = WORKER_MAX_LOG_BYTES_DEFAULT;
        if (!w->opt.max_output_bytes)
                w->opt.max_output_bytes = WORKER_MAX_OUTPUT_BYTES_DEFAULT;
        w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        w->work_root = strdup(opt->work_root ? opt->work_root : "/tmp");
        w->opt.id = w->id = strdup(opt->id ? opt->id : "worker");
        w->opt.queue = w->queue = opt->queue ? strdup(opt->queue) : NULL;
        w->opt.storage_url = w->storage_url = opt->storage_url ? strdup(opt->storage_url) : NULL;
        w->opt.cache_root = w->cache_root = opt->cache_root ? strdup(opt->cache_root) : NULL;
        w->opt.pip_index_url = w->pip_index_url = opt->pip_index_url ? strdup(opt->pip_index_url) : NULL;
        w->slots = calloc(w->opt.slots, sizeof(Slot));
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->work_cv, NULL);
        pthread_mutex_init(&w->report_lock, NULL);
        pthread_mutex_init(&w->claim_lock, NULL);
        pthread_cond_init(&w->report_cv, NULL);
        pthread_cond_init(&w->done_cv, NULL);
        w->pending_tail = &w->pending;
        w->idle_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (w->stop_fd < 0 || w->idle_fd < 0 || !w->work_root || !w->slots || !w->id ||
            (opt->cache_root && !w->cache_root) || (opt->pip_index_url && !w->pip_index_url)) {
                worker_free(w);
                return -ENOMEM;
        }
        (void) mkdir(w->work_root, 0700);
        for (unsigned i = 0; i < w->opt.slots; i++) {
                w->slots[i] = (Slot) { .w = w, .index = i, .cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
                if (w->slots[i].cancel_fd < 0) {
                        worker_free(w);
                        return -errno;
                }
                /* A handle per slot: a Storage is not thread-safe. Opening makes no request. */
                int r = w->opt.storage_url ? storage_open(w->opt.storage_url, NULL, &w->slots[i].storage, NULL) : 0;
                if (r < 0) {
                        worker_free(w);
                        return r;
                }
        }
        atomic_store(&w->last_progress, now_monotonic());
        *ret = w;
        return 0;
}

static void slot_logs_clear(Slot *s);

/* Lines that cannot be written now stay buffered: they go with the next flush or with the task's
 * result, whose delivery is retried, so that no result is recorded without the lines before it. */
static void slot_flush_logs(Slot *s) {
        if (s->n_logs == 0)
                return;
        int r = store_log_append(s->store, s->logs, s->n_logs);
        if (r < 0) {
                log_warning_errno(r, "Cannot write %zu task log line(s) yet, kept for the next attempt: %s", s->n_logs,
                                  store_error(s->store));
                s->logs_since = now_monotonic();
                return;
        }
        slot_logs_clear(s);
}

/* Room for one more buffered line (more than LOG_FLUSH_LINES only while the store fails). */
static int slot_logs_reserve(Slot *s) {
        if (s->n_logs < s->n_logs_alloc)
                return 0;
        size_t na = MAX(s->n_logs_alloc * 2, (size_t) LOG_FLUSH_LINES);
        StoreLog *l = reallocarray(s->logs, na, sizeof *l);
        if (!l)
                return -ENOMEM;
        s->logs = l;
        char **m = reallocarray(s->messages, na, sizeof *m);
        if (!m)
                return -ENOMEM;
        s->messages = m;
        s->n_logs_alloc = na;
        return 0;
}

static const StoreLogLevel level_map[_TASK_LOG_LEVEL_MAX] = {
        [TASK_LOG_ERROR] = STORE_LOG_ERROR, [TASK_LOG_WARN] = STORE_LOG_WARN, [TASK_LOG_INFO] = STORE_LOG_INFO,
        [TASK_LOG_DEBUG] = STORE_LOG_DEBUG, [TASK_LOG_TRACE] = STORE_LOG_TRACE,
};

/* A task run's log is bounded (a `yes` loop would write millions of rows): past the limit, one
 * WARN line says so and the rest is counted, not kept. The process's output is still read to its
 * end, so the task neither blocks on a full pipe nor loses its ::{"outputs":...}:: lines, which
 * never reach this function. */
static void slot_log(void *userdata, json_t *job, TaskLogLevel level, const char *message) {
        Slot *s = userdata;
        const WorkerOptions *o = &s->w->opt;
        size_t len = strlen(message);
        char limit[200];

        if (s->dropped_lines > 0 || s->log_lines >= o->max_log_lines || s->log_bytes + len > o->max_log_bytes) {
                s->dropped_lines++;
                s->dropped_bytes += len;
                if (s->dropped_lines > 1)
                        return;
                snprintf(limit, sizeof limit,
                         "Log limit reached (%u lines or %" PRIu64 " bytes per task run): further log lines of this task run are dropped",
                         o->max_log_lines, o->max_log_bytes);
                message = limit;
                level = TASK_LOG_WARN;
        } else {
                s->log_lines++;
                s->log_bytes += len;
        }
        if (s->n_logs == 0)
                s->logs_since = now_monotonic();
        if (slot_logs_reserve(s) < 0)
                return;
        char *m = strdup(message);
        if (!m)
                return;
        s->messages[s->n_logs] = m;
        s->logs[s->n_logs++] = (StoreLog) {
                .execution_id = json_string_value(json_object_get(job, "executionId")),
                .task_run_id = json_string_value(json_object_get(job, "taskRunId")),
                .task_id = json_string_value(json_object_get(job, "taskId")),
                .attempt = (int) json_integer_value(json_object_get(job, "attempt")),
                .level = level_map[level],
                .timestamp = now_realtime(),
                .message = m,
        };
        /* Under journald task output also goes there (with the job's context fields) so that
         * journalctl TERN_EXECUTION_ID=... shows it next to the executor's lines; on a terminal
         * it stays at debug ('tern run' prints task output its own way). */
        log_full(log_get_target() == LOG_TARGET_JOURNAL ? LOG_INFO : LOG_DEBUG, "[%s] %s",
                 strna(json_string_value(json_object_get(job, "taskId"))), message);
        /* (After a failed flush, the next attempt is LOG_FLUSH_LINES lines or LOG_FLUSH_USEC later.) */
        if (s->n_logs % LOG_FLUSH_LINES == 0 || now_monotonic() - s->logs_since >= LOG_FLUSH_USEC)
                slot_flush_logs(s);
}

/* Buffered lines belong to the running task: written before a task reads its execution's logs. */
static void slot_flush_logs_hook(void *userdata) {
        slot_flush_logs(userdata);
}

static bool stopping(Worker *w);

/* A result that is not delivered costs a second run of the task after the lease (and the store
 * being unreachable for a moment is not a reason): delivery is retried with this backoff until the
 * store takes the result or says the lease was lost, or the worker stops and gives up its tasks. */
#define RESULT_RETRY_FIRST (250 * USEC_PER_MSEC)
#define RESULT_RETRY_MAX (5 * USEC_PER_SEC)
/* batch_tx(): the job is no longer queued at all after a commit that may have gone through. */
#define RESULT_GONE 100
/* The most results one transaction delivers. */
#define REPORT_BATCH_MAX 64

/* A finished task's result on its way to the store (on the slot thread's stack while it waits). */
typedef struct Completion {
        Slot *s;
        StoreJob *job;
        json_t *result;
        unsigned runs;     /* transactions it was part of */
        unsigned failures; /* failed deliveries */
        usec_t since;      /* monotonic: the first attempt */
        int outcome;
        bool done;
        struct Completion *next;
} Completion;

typedef struct Batch {
        Worker *w;
        Completion **c;
        size_t n;
        usec_t now;
        size_t claim_max;  /* jobs to claim in the same transaction (0: none) */
        StoreJob *claimed; /* what the last run of batch_tx claimed */
        size_t n_claimed;
} Batch;

static int queue_push(Worker *w, StoreJob *jobs, size_t n);

/* Whether the job's row is still there (under any epoch or worker). */
static int job_queued(StoreTx *tx, const char *id) {
        StoreJob j = {};
        int r = store_job_get(tx, id, &j);
        store_job_done(&j);
        return r == -ENOENT ? 0 : r < 0 ? r : 1;
}

/* What a task measured, only with a result that was taken (a zombie's would count twice). */
static int metrics_append(StoreTx *tx, Completion *c, usec_t now) {
        json_t *job = c->job->payload, *metrics = json_object_get(c->result, "metrics");
        StoreMetric run = {
                .execution_id = c->job->execution_id,
                .namespace = json_string_value(json_object_get(job, "namespace")),
                .flow_id = json_string_value(json_object_get(job, "flowId")),
                .task_id = json_string_value(json_object_get(job, "taskId")),
                .task_run_id = c->job->task_run_id,
        };
        if (!run.namespace || !run.flow_id || json_array_size(metrics) == 0)
                return 0;
        return store_metric_append_json_tx(tx, &run, metrics, now);
}

/* The tasks' results, their last log lines and their metrics in one transaction: one commit for
 * the results of slots that ended together, each result fenced by its own epoch (a stale one is
 * refused alone). Results go first: run again after a commit that was in doubt (the connection
 * lost while committing), a job no longer queued at all means that commit went through (or
 * another worker's did: the result had nowhere to go then), and its log lines must not be written
 * twice. A stale result keeps its log lines: they say what the zombie did. */
static int batch_tx(StoreTx *tx, void *userdata) {
        Batch *b = userdata;
        StoreJobResult res[REPORT_BATCH_MAX];
        _cleanup_free_ StoreLog *logs = NULL;
        size_t n_logs = 0;
        int q, r;

        for (size_t i = 0; i < b->n; i++)
                res[i] = (StoreJobResult) { .job_id = b->c[i]->job->id, .epoch = b->c[i]->job->epoch, .result = b->c[i]->result };
        r = store_job_complete_many_tx(tx, b->w->opt.id, res, b->n, b->now);
        if (r < 0)
                return r;
        for (size_t i = 0; i < b->n; i++) {
                Completion *c = b->c[i];
                bool rerun = c->runs++ > 0; /* (a batch that failed before this point committed nothing) */
                c->outcome = res[i].outcome;
                if (c->outcome == STORE_STALE && rerun) {
                        if ((q = job_queued(tx, c->job->id)) < 0)
                                return q;
                        if (q == 0)
                                c->outcome = RESULT_GONE;
                }
                if (c->outcome != RESULT_GONE)
                        n_logs += c->s->n_logs;
        }
        /* Every line of the batch in one INSERT (in order: a slot's lines stay together). */
        if (n_logs > 0) {
                if (!(logs = calloc(n_logs, sizeof *logs)))
                        return -ENOMEM;
                n_logs = 0;
                for (size_t i = 0; i < b->n; i++)
                        if (b->c[i]->outcome != RESULT_GONE && b->c[i]->s->n_logs > 0) {
                                memcpy(logs + n_logs, b->c[i]->s->logs, b->c[i]->s->n_logs * sizeof *logs);
                                n_logs += b->c[i]->s->n_logs;
                        }
                if ((r = store_log_append_tx(tx, logs, n_logs)) < 0)
                        return r;
        }
        for (size_t i = 0; i < b->n; i++)
                if (b->c[i]->outcome == 0 && (r = metrics_append(tx, b->c[i], b->now)) < 0)
                        return r;
        if (b->claim_max > 0)
                return store_job_claim_tx(tx, b->w->opt.id, b->w->opt.queue, b->claim_max, b->now, b->w->opt.lease,
                                          &b->claimed, &b->n_claimed);
        return 0;
}

/* The slots of a batch are free once it is delivered. On SQLite their next jobs are claimed in its
 * transaction (the caller holds claim_lock; none once claims stopped): one commit for the process's
 * one writer instead of two, and the pages of the jobs table and its indexes, which the results'
 * deletes and the claim's update both change, written to the WAL once. On PostgreSQL and MySQL
 * the claimer alone claims. */
static size_t report_claim_max(Worker *w, size_t n) {
        if (store_backend(w->report_store) != STORE_BACKEND_SQLITE || w->claims_stopped || stopping(w))
                return 0;
        return MIN(n, 64u);
}

/* After the batch's transaction: the jobs it claimed go to the slots' queue (before the slots
 * learn their results are delivered, so that they find them), or are dropped with a failed one. */
static void report_claimed(Worker *w, Batch *b, bool committed) {
        if (committed && b->n_claimed > 0 && queue_push(w, b->claimed, b->n_claimed) >= 0)
                free(b->claimed); /* the queue holds the jobs now */
        else
                store_jobs_free(b->claimed, b->n_claimed); /* a claim not committed; or leases that expire */
        b->claimed = NULL;
        b->n_claimed = 0;
}

/* Failures worth another try: the connection (lost, or not back yet: for as long as it takes, as
 * nobody can re-queue the job meanwhile either), or what may pass (a transaction the server rolled
 * back, a full disk, an error the store cannot classify: for one lease's time, as the lease is
 * renewed meanwhile). Not a result the store refuses as such (too large, invalid). */
static bool connection_error(int r) {
        return r == -ECONNRESET || r == -ECONNREFUSED || r == -ENOTCONN;
}

static bool result_error_retry(int r, usec_t retrying, usec_t lease) {
        if (connection_error(r))
                return true;
        return (r == -EAGAIN || r == -EIO || r == -ENOSPC || r == -ETIMEDOUT) && retrying < lease;
}

/* A result's delivery is over: its slot goes on. */
static void completion_finish(Worker *w, Completion *c, int outcome) {
        pthread_mutex_lock(&w->report_lock);
        c->outcome = outcome;
        c->done = true;
        pthread_cond_broadcast(&w->done_cv);
        pthread_mutex_unlock(&w->report_lock);
}

/* Sleep before the next delivery attempt. Once the worker stops, its grace time over (worker_stop()
 * cancels the busy slots then), the results of the cancelled slots are given up: their flags are
 * set in gave_up and true is returned. */
static bool report_retry_wait(Worker *w, Completion **c, size_t n, usec_t delay, bool *gave_up) {
        struct pollfd p[REPORT_BATCH_MAX];
        bool any = false;

        if (!stopping(w)) {
                p[0] = (struct pollfd) { w->stop_fd, POLLIN, 0 };
                (void) poll(p, 1, (int) (delay / USEC_PER_MSEC));
                return false;
        }
        /* Once stopping, stop_fd stays readable: wait on the cancellations instead. */
        for (size_t i = 0; i < n; i++)
                p[i] = (struct pollfd) { c[i]->s->cancel_fd, POLLIN, 0 };
        if (poll(p, n, (int) (delay / USEC_PER_MSEC)) <= 0)
                return false;
        for (size_t i = 0; i < n; i++)
                any |= gave_up[i] = (p[i].revents & POLLIN) != 0;
        return any;
}

/* Results queued meanwhile join a batch that is retried (c has room for cap). */
static size_t report_take(Worker *w, Completion **c, size_t n, size_t cap) {
        pthread_mutex_lock(&w->report_lock);
        while (w->pending && n < cap) {
                c[n++] = w->pending;
                w->pending = w->pending->next;
        }
        if (!w->pending)
                w->pending_tail = &w->pending;
        pthread_mutex_unlock(&w->report_lock);
        return n;
}

/* Deliver results, retrying while the store is unreachable: a batch that fails on the connection
 * is retried whole, every result in it, with those that ended meanwhile; one that fails otherwise
 * is split, each result then delivered alone (a result the store refuses must not hold back the
 * others). Logged once per result when delivery is delayed, once when it is given up. */
static void report_batch(Worker *w, Completion **c, size_t n, size_t cap) {
        Batch b = { .w = w, .c = c, .n = n };
        usec_t delay = RESULT_RETRY_FIRST;
        int r;

        for (;;) {
                b.now = store_clock_now(w->report_store); /* the results' events are due then */
                pthread_mutex_lock(&w->claim_lock);
                b.claim_max = report_claim_max(w, b.n);
                r = store_transact(w->report_store, batch_tx, &b);
                report_claimed(w, &b, r >= 0);
                pthread_mutex_unlock(&w->claim_lock);
                if (r >= 0)
                        break;
                if (b.n > 1 && !connection_error(r)) {
                        for (size_t i = 0; i < b.n; i++)
                                report_batch(w, &b.c[i], 1, 1);
                        return;
                }
                if (!result_error_retry(r, now_monotonic() - b.c[0]->since, w->opt.lease))
                        break;
                for (size_t i = 0; i < b.n; i++)
                        if (b.c[i]->failures++ == 0)
                                log_warning_errno(r, "Cannot report the result of job %s yet, retrying until it is taken or its lease is lost: %s",
                                                  b.c[i]->job->id, store_error(w->report_store));
                bool gave_up[REPORT_BATCH_MAX] = {};
                if (report_retry_wait(w, b.c, b.n, delay, gave_up)) {
                        size_t k = 0;
                        for (size_t i = 0; i < b.n; i++) {
                                if (!gave_up[i]) {
                                        b.c[k++] = b.c[i];
                                        continue;
                                }
                                log_error_errno(r, "Result of job %s dropped: the worker stops, and the store is still unreachable: %s",
                                                b.c[i]->job->id, store_error(w->report_store));
                                completion_finish(w, b.c[i], r);
                        }
                        if ((b.n = k) == 0)
                                return;
                }
                delay = MIN(delay * 2, RESULT_RETRY_MAX);
                b.n = report_take(w, b.c, b.n, cap);
        }
        for (size_t i = 0; i < b.n; i++) {
                Completion *c1 = b.c[i];
                int outcome = r < 0 ? r : c1->outcome;
                if (outcome < 0)
                        log_error_errno(outcome, "Cannot report the result of job %s: %s", c1->job->id,
                                        store_error(w->report_store));
                else if (outcome == RESULT_GONE)
                        log_info("Result of job %s: the connection was lost while it was committed, and the job is no longer queued: it was taken.",
                                 c1->job->id);
                else if (c1->failures > 0 && outcome != STORE_STALE)
                        log_notice("Result of job %s reported after %u failed attempt(s) over %.1f s.", c1->job->id,
                                   c1->failures, (double) (now_monotonic() - c1->since) / USEC_PER_SEC);
                completion_finish(w, c1, outcome);
        }
}

/* Take what is queued (up to a batch) and deliver it; results that end meanwhile wait for the
 * next transaction, which is how they come to share one. */
static void *report_thread(void *arg) {
        Worker *w = arg;
        Completion *batch[REPORT_BATCH_MAX];

        for (;;) {
                pthread_mutex_lock(&w->report_lock);
                while (!w->pending && !w->report_stop)
                        pthread_cond_wait(&w->report_cv, &w->report_lock);
                pthread_mutex_unlock(&w->report_lock);
                size_t n = report_take(w, batch, 0, REPORT_BATCH_MAX);
                if (n == 0)
                        break; /* stopping, nothing queued */
                report_batch(w, batch, n, REPORT_BATCH_MAX);
        }
        return NULL;
}

/* Hand a finished task's result to the reporter and wait until it is delivered, refused or given
 * up. The slot's buffered log lines go with it (the slot waits, so they stay as they are). */
static int slot_report_result(Slot *s, StoreJob *job, json_t *result) {
        Worker *w = s->w;
        Completion c = { .s = s, .job = job, .result = result, .since = now_monotonic() };

        pthread_mutex_lock(&w->report_lock);
        *w->pending_tail = &c;
        w->pending_tail = &c.next;
        pthread_cond_signal(&w->report_cv);
        while (!c.done)
                pthread_cond_wait(&w->done_cv, &w->report_lock);
        pthread_mutex_unlock(&w->report_lock);
        return c.outcome;
}

static void slot_logs_clear(Slot *s) {
        for (size_t i = 0; i < s->n_logs; i++)
                free(s->messages[i]);
        s->n_logs = 0;
}

/* When the claim was sent, on the monotonic clock: its lease ends a lease later (lease_until was
 * computed from the cluster's clock at the claim, which a step of this host's clock does not move). */
static usec_t claimed_monotonic(Store *store, const StoreJob *job, usec_t lease) {
        usec_t now = now_monotonic(), real = store_clock_now(store);
        if (job->lease_until == 0 || job->lease_until < lease)
                return now;
        usec_t claimed = job->lease_until - lease;
        return claimed >= real ? now : now - MIN(now, real - claimed);
}

static void slot_run_job(Slot *s, StoreJob *job) {
        Worker *w = s->w;
        _cleanup_json_ json_t *result = NULL;
        const char *exec_id = json_string_value(json_object_get(job->payload, "executionId"));
        const char *tr_id = json_string_value(json_object_get(job->payload, "taskRunId"));
        const LogField fields[] = {
                { "TERN_EXECUTION_ID", exec_id },
                { "TERN_TASK_RUN_ID", tr_id },
                { "TERN_TASK_ID", json_string_value(json_object_get(job->payload, "taskId")) },
                { "TERN_FLOW", json_string_value(json_object_get(job->payload, "flowId")) },
                { "TERN_NAMESPACE", json_string_value(json_object_get(job->payload, "namespace")) },
        };
        _cleanup_log_context_ LogContext *ctx = log_context_push(fields, ELEMENTSOF(fields));
        uint64_t drain;

        (void) !read(s->cancel_fd, &drain, sizeof drain); /* a stale cancel must not hit this job */
        /* Before the lock: reading the cluster's clock may ask the database (once a minute), and the
         * lease guard must never wait for that. */
        usec_t renewed = claimed_monotonic(s->store, job, w->opt.lease);
        s->log_lines = 0;
        s->log_bytes = s->dropped_lines = s->dropped_bytes = 0;
        pthread_mutex_lock(&w->lock);
        snprintf(s->job_id, sizeof s->job_id, "%s", job->id);
        snprintf(s->execution_id, sizeof s->execution_id, "%s", job->execution_id);
        s->epoch = job->epoch;
        s->renewed = renewed;
        s->lease_expired = false;
        s->busy = true;
        pthread_mutex_unlock(&w->lock);
        atomic_fetch_add(&w->busy, 1);

        TaskStoreServices ts = { .store = s->store, .flush_logs = slot_flush_logs_hook, .userdata = s };
        TaskServices services;
        task_store_services(&ts, &services);
        services.store = s->store;
        services.storage = s->storage;
        WorkerJobEnv env = {
                .work_root = w->work_root, .base_env = w->opt.base_env, .worker_id = w->opt.id,
                .cancel_fd = s->cancel_fd, .log = slot_log, .storage = s->storage,
                .secret = runtime_secret, .services = &services, .userdata = s, .sandbox = w->opt.sandbox,
                .output_bytes_max = w->opt.max_output_bytes, .epoch = job->epoch,
                .cache_root = w->opt.cache_root, .pip_index_url = w->opt.pip_index_url,
        };
        log_debug("Running task %s (job %s, epoch %lld).", strna(tr_id), job->id, (long long) job->epoch);
        int r = worker_job_run(&env, job->payload, &result);
        if (r < 0) {
                log_error_errno(r, "Cannot run job %s: %m", job->id);
                result = json_pack("{s:s, s:s}", "state", "FAILED", "error", "the worker could not run the task");
        }
        if (s->dropped_lines > 0)
                log_notice("Task %s logged more than the limit: %" PRIu64 " line(s) (%" PRIu64 " bytes) dropped.", strna(tr_id),
                           s->dropped_lines, s->dropped_bytes);
        pthread_mutex_lock(&w->lock);
        bool expired = s->lease_expired;
        s->reporting = true;
        pthread_mutex_unlock(&w->lock);
        /* Stopped for a lease that ran out: the job is (or is about to be) re-queued, and what the
         * stopped task returns (KILLED) must not become the task run's state. */
        if (expired) {
                r = STORE_STALE;
                atomic_fetch_add(&w->jobs_lost, 1);
        } else
                r = slot_report_result(s, job, result);
        if (r == STORE_STALE && !expired) {
                atomic_fetch_add(&w->jobs_lost, 1);
                log_warning("Result of job %s dropped: its lease was lost and the job was resubmitted.", job->id);
        }
        /* Written with the result (a stale result keeps its logs too: they say what the zombie did). */
        if (r < 0 || expired)
                slot_flush_logs(s);
        slot_logs_clear(s); /* (what could not be written: its job's strings go with the job) */
        pthread_mutex_lock(&w->lock);
        s->busy = false;
        s->lease_expired = s->reporting = false;
        s->job_id[0] = 0;
        pthread_mutex_unlock(&w->lock);
        atomic_fetch_sub(&w->busy, 1);
        atomic_fetch_add(&w->jobs_done, 1);
        atomic_store(&w->last_progress, now_monotonic());
}

static bool stopping(Worker *w) {
        struct pollfd p = { w->stop_fd, POLLIN, 0 };
        return poll(&p, 1, 0) > 0;
}

static void *slot_thread(void *arg) {
        Slot *s = arg;
        Worker *w = s->w;
        uint64_t one = 1;

        for (;;) {
                StoreJob job;
                pthread_mutex_lock(&w->lock);
                w->idle++;
                (void) !write(w->idle_fd, &one, sizeof one);
                while (w->n_queue == 0 && !w->stopping)
                        pthread_cond_wait(&w->work_cv, &w->lock);
                w->idle--;
                if (w->n_queue == 0) {
                        pthread_mutex_unlock(&w->lock);
                        break; /* stopping */
                }
                job = w->queue_jobs[--w->n_queue];
                pthread_mutex_unlock(&w->lock);
                slot_run_job(s, &job);
                store_job_done(&job);
        }
        return NULL;
}

static int queue_push(Worker *w, StoreJob *jobs, size_t n) {
        pthread_mutex_lock(&w->lock);
        if (w->n_queue + n > w->n_queue_alloc) {
                size_t na = MAX(w->n_queue + n, w->n_queue_alloc * 2);
                StoreJob *q = realloc(w->queue_jobs, sizeof(StoreJob) * na);
                if (!q) {
                        pthread_mutex_unlock(&w->lock);
                        return -ENOMEM;
                }
                w->queue_jobs = q;
                w->n_queue_alloc = na;
        }
        memcpy(w->queue_jobs + w->n_queue, jobs, sizeof(StoreJob) * n);
        w->n_queue += n;
        pthread_cond_broadcast(&w->work_cv);
        pthread_mutex_unlock(&w->lock);
        return 0;
}

/* The first fallback poll after a claim that got jobs: what a lost notification costs while jobs
 * flow. Each claim that finds none doubles it, up to the slow poll. */
#define CLAIM_FALLBACK_MIN (100 * USEC_PER_MSEC)

/* Claim for the idle slots; sleep until a job may be available (notification, a delayed job's
 * time, the fallback poll), a slot frees up, or the worker stops. */
static void *claim_thread(void *arg) {
        Worker *w = arg;
        uint64_t drain;
        const usec_t slow = store_backend(w->claim_store) == STORE_BACKEND_SQLITE ? 100 * USEC_PER_MSEC : USEC_PER_SEC;
        usec_t fallback = slow;

        while (!stopping(w)) {
                pthread_mutex_lock(&w->lock);
                size_t want = w->idle > w->n_queue ? w->idle - w->n_queue : 0;
                pthread_mutex_unlock(&w->lock);
                atomic_store(&w->last_progress, now_monotonic());
                if (want > 0) {
                        StoreJob *jobs = NULL;
                        size_t n = 0;
                        int r = store_job_claim(w->claim_store, w->opt.id, w->opt.queue, MIN(want, 64u), store_clock_now(w->claim_store),
                                                w->opt.lease, &jobs, &n);
                        if (r < 0) {
                                log_warning_errno(r, "Cannot claim jobs: %s", store_error(w->claim_store));
                                struct pollfd p = { w->stop_fd, POLLIN, 0 };
                                (void) poll(&p, 1, 1000);
                                continue;
                        }
                        fallback = n > 0 ? CLAIM_FALLBACK_MIN : MIN(fallback * 2, slow);
                        if (n > 0) {
                                if (queue_push(w, jobs, n) < 0)
                                        store_jobs_free(jobs, n); /* their leases expire: run elsewhere */
                                else
                                        free(jobs);
                                /* Fewer than asked for: nothing else is available now, so wait
                                 * instead of asking again at once. */
                                if (n == MIN(want, 64u))
                                        continue;
                        } else
                                free(jobs);
                }
                usec_t timeout = want > 0 ? fallback : slow;
                usec_t next = USEC_INFINITY, now = store_clock_now(w->claim_store);
                if (want > 0 && store_next_due(w->claim_store, STORE_CHANNEL_JOBS, &next) >= 0 && next != USEC_INFINITY)
                        timeout = next <= now ? 0 : MIN(timeout, next - now);
                struct pollfd p[2] = { { w->stop_fd, POLLIN, 0 }, { w->idle_fd, POLLIN, 0 } };
                (void) store_wait_fds(w->claim_store, p, 2, timeout);
                (void) !read(w->idle_fd, &drain, sizeof drain);
        }
        return NULL;
}

static void cancel_slots(Worker *w, char **ids) {
        uint64_t one = 1;
        pthread_mutex_lock(&w->lock);
        for (unsigned i = 0; i < w->opt.slots; i++) {
                Slot *s = &w->slots[i];
                if (s->busy && (!ids || strv_contains(ids, s->job_id)))
                        (void) !write(s->cancel_fd, &one, sizeof one);
        }
        pthread_mutex_unlock(&w->lock);
}

/* The leases sent at `sent` were renewed until sent + lease (a lost one too: the guard then has
 * nothing to add to the "lease(s) lost" warning, and the refused result says the rest). */
static void slots_renewed(Worker *w, const StoreJobRef *refs, size_t n, usec_t sent) {
        pthread_mutex_lock(&w->lock);
        for (size_t k = 0; k < n; k++)
                for (unsigned i = 0; i < w->opt.slots; i++) {
                        Slot *s = &w->slots[i];
                        if (s->busy && s->epoch == refs[k].epoch && streq(s->job_id, refs[k].id))
                                s->renewed = MAX(s->renewed, sent);
                }
        pthread_mutex_unlock(&w->lock);
}

/* The lease is this long past its last renewal when the guard stops the task: a little before the
 * executors may re-queue the job, so that the task is not still running when it starts elsewhere. */
/* The lease guard's tick came this many ticks (and a second) late: the process was not running. */
#define LEASE_GUARD_FROZEN_TICKS 5

static usec_t lease_guard_deadline(usec_t lease) {
        return lease - MIN(lease / 10, 3 * USEC_PER_SEC);
}

/* Stop the tasks whose lease could not be renewed in time. Its own thread, with no store: the
 * renewals (and every other store call) may block for as long as the database is unreachable,
 * e.g. on a partitioned host, and the task must stop anyway, as its job runs elsewhere. */
static void *lease_guard_thread(void *arg) {
        Worker *w = arg;
        usec_t deadline = lease_guard_deadline(w->opt.lease);
        int interval = (int) (MIN(MAX(deadline / 10, 100 * USEC_PER_MSEC), USEC_PER_SEC) / USEC_PER_MSEC);
        uint64_t one = 1;
        bool stop = false;
        usec_t last = now_monotonic(), frozen_end = 0, frozen = 0;

        for (;;) {
                /* Once stopping, stop_fd stays readable: sleep without it until no task runs. */
                struct pollfd p = { stop ? -1 : w->stop_fd, POLLIN, 0 };
                if (poll(&p, 1, interval) > 0)
                        stop = true;
                if (stop && atomic_load(&w->busy) == 0)
                        break;
                usec_t now = now_monotonic();
                /* A tick far later than asked for: the process did not run (SIGSTOP, a frozen cgroup or
                 * VM), which is why nothing was renewed, not the database. */
                if (now - last > LEASE_GUARD_FROZEN_TICKS * (usec_t) interval * USEC_PER_MSEC + USEC_PER_SEC) {
                        frozen = now - last;
                        frozen_end = now;
                }
                last = now;
                pthread_mutex_lock(&w->lock);
                for (unsigned i = 0; i < w->opt.slots; i++) {
                        Slot *s = &w->slots[i];
                        /* A task that ended keeps its result: delivery gives up on a lost lease. */
                        if (!s->busy || s->reporting || s->lease_expired || now < s->renewed + deadline)
                                continue;
                        s->lease_expired = true;
                        (void) !write(s->cancel_fd, &one, sizeof one);
                        if (frozen_end > s->renewed)
                                log_warning("Lease of job %s of execution %s not renewed for %.0f s: this worker did not run "
                                            "for %.0f s (stopped or frozen); stopping the task, it will run elsewhere.",
                                            s->job_id, s->execution_id, (double) (now - s->renewed) / USEC_PER_SEC,
                                            (double) frozen / USEC_PER_SEC);
                        else
                                log_warning("Lease of job %s of execution %s not renewed for %.0f s: the database is "
                                            "unreachable; stopping the task, it will run elsewhere.",
                                            s->job_id, s->execution_id, (double) (now - s->renewed) / USEC_PER_SEC);
                }
                pthread_mutex_unlock(&w->lock);
        }
        return NULL;
}

/* Renew leases every lease/3; pass kills on as soon as they are announced (and every second, for
 * a lost notification). */
static void *maint_thread(void *arg) {
        Worker *w = arg;
        usec_t last_renew = now_monotonic(), last_cancelled = 0;
        bool stop = false;

        (void) store_listen(w->maint_store, STORE_CHANNEL_CANCEL);
        for (;;) {
                /* Once stopping, stop_fd stays readable: without it, and woken often enough to leave
                 * soon after the last task ends, but asking for kills no more often than before. */
                struct pollfd p = { stop ? -1 : w->stop_fd, POLLIN, 0 };
                int m = store_wait_fds(w->maint_store, &p, 1, (stop ? 100 : 1000) * USEC_PER_MSEC);
                bool announced = m > 0 && (m & STORE_CHANNEL_CANCEL);
                if (p.revents)
                        stop = true;
                /* Leave when stopped and no task runs any more. */
                if (stop && atomic_load(&w->busy) == 0)
                        break;
                usec_t now = now_monotonic();
                if (!announced && now - last_cancelled < USEC_PER_SEC)
                        continue;
                last_cancelled = now;
                char **cancelled = NULL;
                /* Nothing to cancel on a worker without tasks: asked when a cancellation is
                 * announced (a job just claimed may not have its slot yet), and every second while
                 * tasks run, for an announcement lost. */
                if ((announced || atomic_load(&w->busy) > 0) &&
                    store_job_cancelled(w->maint_store, w->opt.id, &cancelled) > 0)
                        cancel_slots(w, cancelled);
                strv_free(cancelled);
                if (now_monotonic() - last_renew < w->opt.lease / 3)
                        continue;
                last_renew = now_monotonic();
                StoreJobRef refs[256];
                char ids[256][128];
                size_t n = 0;
                pthread_mutex_lock(&w->lock);
                for (unsigned i = 0; i < w->opt.slots && n < ELEMENTSOF(refs); i++)
                        if (w->slots[i].busy) {
                                snprintf(ids[n], sizeof ids[n], "%s", w->slots[i].job_id);
                                refs[n] = (StoreJobRef) { ids[n], w->slots[i].epoch };
                                n++;
                        }
                pthread_mutex_unlock(&w->lock);
                usec_t sent = now_monotonic();
                int r = store_job_renew(w->maint_store, w->opt.id, refs, n, store_clock_now(w->maint_store), w->opt.lease);
                if (r < 0)
                        log_warning_errno(r, "Cannot renew leases: %s", store_error(w->maint_store));
                else
                        slots_renewed(w, refs, n, sent);
                if (r >= 0 && (size_t) r < n) {
                        /* A job whose task ended meanwhile was completed (deleted), not lost: only those
                         * still running under the same epoch count. */
                        size_t running = 0;
                        pthread_mutex_lock(&w->lock);
                        for (size_t k = 0; k < n; k++)
                                for (unsigned i = 0; i < w->opt.slots; i++)
                                        if (w->slots[i].busy && w->slots[i].epoch == refs[k].epoch &&
                                            streq(w->slots[i].job_id, refs[k].id))
                                                running++;
                        pthread_mutex_unlock(&w->lock);
                        size_t finished = n - running, missing = n - (size_t) r;
                        if (missing > finished)
                                log_warning("%zu job lease(s) of running tasks lost (re-queued for another worker): "
                                            "their results will be refused.",
                                            missing - finished);
                }
        }
        return NULL;
}

int worker_start(Worker *w) {
        int r;
        if ((r = store_dup(w->main_store, &w->maint_store)) < 0 || (r = store_dup(w->main_store, &w->claim_store)) < 0 ||
            (r = store_listen(w->claim_store, STORE_CHANNEL_JOBS)) < 0 ||
            (r = store_dup(w->main_store, &w->report_store)) < 0)
                return r;
        if ((r = -pthread_create(&w->reporter, NULL, report_thread, w)) < 0)
                return r;
        w->reporter_running = true;
        for (unsigned i = 0; i < w->opt.slots; i++)
                if ((r = store_dup(w->main_store, &w->slots[i].store)) < 0)
                        goto fail;
        for (; w->slots_running < w->opt.slots; w->slots_running++)
                if ((r = -pthread_create(&w->slots[w->slots_running].thread, NULL, slot_thread, &w->slots[w->slots_running])) < 0)
                        goto fail;
        if ((r = -pthread_create(&w->claimer, NULL, claim_thread, w)) < 0)
                goto fail;
        w->claimer_running = true;
        if ((r = -pthread_create(&w->maint, NULL, maint_thread, w)) < 0)
                goto fail;
        w->maint_running = true;
        if ((r = -pthread_create(&w->guard, NULL, lease_guard_thread, w)) < 0)
                goto fail;
        w->guard_running = true;
        return 0;
fail:
        /* A connection refused halfway (the database went away during the start): the threads
         * already running wait on what worker_free() destroys (freeing a condition variable that
         * the reporter waited on hung the process for good, deaf to SIGTERM). */
        worker_stop(w, 0);
        return r;
}

void worker_stop_claiming(Worker *w) {
        uint64_t one = 1;
        pthread_mutex_lock(&w->claim_lock);
        w->claims_stopped = true;
        pthread_mutex_unlock(&w->claim_lock);
        if (!w->claimer_running)
                return;
        (void) !write(w->stop_fd, &one, sizeof one);
        pthread_join(w->claimer, NULL);
        w->claimer_running = false;
}

void worker_stop(Worker *w, usec_t grace) {
        uint64_t one = 1;
        if (!w->reporter_running) /* the first thread started: none is */
                return;
        (void) !write(w->stop_fd, &one, sizeof one);
        usec_t until = now_monotonic() + grace;
        while (atomic_load(&w->busy) > 0 && now_monotonic() < until)
                usleep(20000);
        if (atomic_load(&w->busy) > 0)
                cancel_slots(w, NULL);
        worker_stop_claiming(w);
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        /* Without grace nothing new starts: jobs claimed but not started were handed back with
         * the running ones (or their leases expire). */
        if (grace == 0) {
                for (size_t i = 0; i < w->n_queue; i++)
                        store_job_done(&w->queue_jobs[i]);
                w->n_queue = 0;
        }
        pthread_cond_broadcast(&w->work_cv);
        pthread_mutex_unlock(&w->lock);
        for (unsigned i = 0; i < w->slots_running; i++)
                pthread_join(w->slots[i].thread, NULL);
        w->slots_running = 0;
        /* No slot waits for a delivery any more: nothing is queued. */
        pthread_mutex_lock(&w->report_lock);
        w->report_stop = true;
        pthread_cond_signal(&w->report_cv);
        pthread_mutex_unlock(&w->report_lock);
        pthread_join(w->reporter, NULL);
        w->reporter_running = false;
        w->report_stop = false;
        if (w->maint_running)
                pthread_join(w->maint, NULL);
        if (w->guard_running)
                pthread_join(w->guard, NULL);
        w->maint_running = w->guard_running = false;
}

Worker *worker_free(Worker *w) {
        if (!w)
                return NULL;
        worker_stop(w, 0);
        for (unsigned i = 0; w->slots && i < w->opt.slots; i++) {
                Slot *s = &w->slots[i];
                slot_flush_logs(s);
                slot_logs_clear(s);
                free(s->logs);
                free(s->messages);
                safe_close(s->cancel_fd);
                store_free(s->store);
                storage_free(s->storage);
        }
        free(w->slots);
        /* Claimed jobs no slot started: their leases expire and they run elsewhere. */
        for (size_t i = 0; i < w->n_queue; i++)
                store_job_done(&w->queue_jobs[i]);
        free(w->queue_jobs);
        store_free(w->claim_store);
        store_free(w->report_store);
        pthread_cond_destroy(&w->report_cv);
        pthread_cond_destroy(&w->done_cv);
        pthread_mutex_destroy(&w->report_lock);
        pthread_mutex_destroy(&w->claim_lock);
        safe_close(w->idle_fd);
        pthread_cond_destroy(&w->work_cv);
        store_free(w->maint_store);
        safe_close(w->stop_fd);
        pthread_mutex_destroy(&w->lock);
        free(w->work_root);
        free(w->id);
        free(w->queue);
        free(w->storage_url);
        free(w->cache_root);
        free(w->pip_index_url);
        free(w);
        return NULL;
}

void worker_stats(Worker *w, WorkerStats *ret) {
        *ret = (WorkerStats) {
                .slots = w->opt.slots,
                .busy = atomic_load(&w->busy),
                .jobs_done = atomic_load(&w->jobs_done),
                .jobs_lost = atomic_load(&w->jobs_lost),
                .last_progress = atomic_load(&w->last_progress),
        };
}

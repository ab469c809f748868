/* worker-kafka.c: the worker on Kafka: a fetcher thread that takes jobs while a slot is free, slot
 * threads that claim them (a heartbeat naming the job, then the offset committed), run them and
 * produce their results, and a heartbeat thread that keeps saying which jobs this worker holds. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "execution-kafka.h"
#include "fd-util.h"
#include "job.h"
#include "json-limits.h"
#include "log.h"
#include "storage.h"
#include "strutil.h"
#include "task-services.h"
#include "variables.h"
#include "worker-kafka-kills.h"
#include "worker-kafka.h"

#define LOG_FLUSH_LINES 100
/* How long a result may take to be acknowledged by the brokers before the slot tries again. */
#define RESULT_TIMEOUT_MS 30000
/* How long a claim (a heartbeat naming the job) may take to be acknowledged before it is sent again. */
#define CLAIM_TIMEOUT_USEC (10 * USEC_PER_SEC)
/* How long a job given up after a silence stays listed as released in the heartbeats: executors
 * read them as they come, this is for one that is restarting meanwhile. */
#define RELEASED_KEEP_USEC (10 * USEC_PER_MINUTE)

/* A job fetched and not yet done: its offset may not be committed before it is. */
typedef struct Pending {
        int32_t partition;
        int64_t offset;
        bool done;
} Pending;

typedef struct KJob {
        json_t *job;
        int32_t partition;
        int64_t offset;
} KJob;

typedef struct KSlot {
        struct WorkerKafka *w;
        pthread_t thread;
        Store *store;    /* its own connection, for the task's log lines */
        Storage *storage; /* its own handle; NULL: none */
        int cancel_fd;
        StoreLog *logs;
        char **messages;
        size_t n_logs, n_alloc;
        bool started;
        atomic_bool cancelled; /* by worker_kafka_stop(): the running task's result is not reported */
        atomic_bool abandoned; /* this worker was silent past dead-after: the job is another's now */
        atomic_bool killed;    /* its execution was killed (worker-kills): the task is stopped */
        json_t *held;          /* the job being claimed, or claimed and not reported (under lock) */
        bool claimed;          /* held is claimed: its offset committed (under lock) */
} KSlot;

struct WorkerKafka {
        WorkerKafkaOptions opt;
        char *id, *work_root, *storage_url, *jobs_topic, *results_topic, *heartbeats_topic;
        rd_kafka_t *consumer, *producer;
        WorkerKills *kills;    /* reads worker-kills */
        KSlot *slots;
        pthread_t fetcher, beater;
        bool fetcher_started, beater_started;
        pthread_mutex_t lock;
        pthread_cond_t cv;     /* a job is queued, or the worker stops */
        pthread_cond_t done_cv; /* a slot finished its job, or claimed it */
        pthread_cond_t beat_cv; /* the worker stops (wakes the heartbeat thread) */
        pthread_mutex_t beat_lock; /* heartbeats are enqueued in the order they were taken */
        uint64_t beat_seq;     /* heartbeats enqueued (under beat_lock) */
        atomic_uint_fast64_t beat_acked, beat_acked_at; /* the latest acknowledged one, and when */
        KJob *queue;           /* fetched, not started (under lock) */
        size_t n_queue, n_queue_alloc;
        Pending *pending;      /* fetched, not done (under lock), in fetch order */
        size_t n_pending, n_pending_alloc;
        unsigned busy;         /* under lock */
        unsigned claiming;     /* slots whose job is not yet claimed and committed (under lock) */
        json_t *released;      /* jobs given up after a silence, [{..., until}] (under lock) */
        bool stopping;         /* under lock */
        bool beat_stop;        /* under lock: the heartbeat thread ends (after the slots) */
        atomic_uint_fast64_t jobs_done, jobs_lost, last_progress;
};

static char *const default_env[] = { (char *) "PATH=/usr/local/bin:/usr/bin:/bin", (char *) "LANG=C.UTF-8", NULL };

static void kslot_logs_flush(KSlot *s) {
        if (s->n_logs == 0)
                return;
        int r = store_log_append(s->store, s->logs, s->n_logs);
        if (r < 0)
                log_warning_errno(r, "Cannot write %zu task log line(s): %s", s->n_logs, store_error(s->store));
        for (size_t i = 0; i < s->n_logs; i++)
                free(s->messages[i]);
        s->n_logs = 0;
}

static void kslot_flush_logs_hook(void *userdata) {
        kslot_logs_flush(userdata);
}

static void kslot_log(void *userdata, json_t *job, TaskLogLevel level, const char *message) {
        KSlot *s = userdata;
        if (s->n_logs == s->n_alloc) {
                size_t na = MAX(s->n_alloc * 2, (size_t) LOG_FLUSH_LINES);
                StoreLog *l = reallocarray(s->logs, na, sizeof *l);
                if (!l)
                        return;
                s->logs = l;
                char **m = reallocarray(s->messages, na, sizeof *m);
                if (!m)
                        return;
                s->messages = m;
                s->n_alloc = na;
        }
        char *m = strdup(message);
        if (!m)
                return;
        int l = store_log_level_from_string(task_log_level_to_string(level));
        s->messages[s->n_logs] = m;
        s->logs[s->n_logs++] = (StoreLog) {
                .execution_id = json_string_value(json_object_get(job, "executionId")),
                .task_run_id = json_string_value(json_object_get(job, "taskRunId")),
                .task_id = json_string_value(json_object_get(job, "taskId")),
                .attempt = (int) json_integer_value(json_object_get(job, "attempt")),
                .level = l < 0 ? STORE_LOG_INFO : (StoreLogLevel) l,
                .timestamp = now_realtime(),
                .message = m,
        };
        log_debug("[%s] %s", strna(json_string_value(json_object_get(job, "taskId"))), message);
        if (s->n_logs >= LOG_FLUSH_LINES)
                kslot_logs_flush(s);
}

/* The offsets of partition p up to the first job not done are behind us: commit them (a worker that
 * dies leaves every job it had not claimed to the partition's next owner). Under lock. -ESTALE when
 * the partition is not this worker's any more (revoked, or the group moved on without it: a worker
 * back from a freeze), so that the job is left to its owner; 0 otherwise. */
static int pending_done(WorkerKafka *w, int32_t partition, int64_t offset) {
        int64_t first_open = -1, last = -1;
        size_t k = 0;
        bool found = false;
        for (size_t i = 0; i < w->n_pending; i++) {
                Pending *p = &w->pending[i];
                if (p->partition == partition && p->offset == offset)
                        p->done = found = true;
        }
        if (!found)
                return -ESTALE; /* its partition was revoked meanwhile: its offsets are another member's now */
        for (size_t i = 0; i < w->n_pending; i++) {
                Pending *p = &w->pending[i];
                if (p->partition != partition)
                        continue;
                if (!p->done && (first_open < 0 || p->offset < first_open))
                        first_open = p->offset;
                last = MAX(last, p->offset);
        }
        int64_t commit = first_open >= 0 ? first_open : last + 1;
        /* One pass that keeps the other partitions' jobs and this one's not committed yet, in
         * place (two passes writing the same array lost jobs of this partition that sat where the
         * first had put another's: they were then taken for revoked, "not run here"). */
        for (size_t i = 0; i < w->n_pending; i++) {
                Pending *p = &w->pending[i];
                if (p->partition != partition || p->offset >= commit)
                        w->pending[k++] = *p;
        }
        w->n_pending = k;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        if (!l)
                return 0;
        rd_kafka_topic_partition_list_add(l, w->jobs_topic, partition)->offset = commit;
        /* Synchronous: a partition revoked waits for it (worker_rebalance()). */
        rd_kafka_resp_err_t e = rd_kafka_commit(w->consumer, l, 0);
        if (e)
                log_debug("Cannot commit offset %lld of partition %d of '%s': %s", (long long) commit, (int) partition,
                          w->jobs_topic, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(l);
        switch (e) {
        case RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION:
        case RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID:
        case RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS:
        case RD_KAFKA_RESP_ERR_FENCED_INSTANCE_ID:
        case RD_KAFKA_RESP_ERR__ASSIGNMENT_LOST:
                return -ESTALE;
        default:
                return 0;
        }
}

static void result_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
        WorkerKafka *w = opaque;
        if (streq(rd_kafka_topic_name(m->rkt), w->heartbeats_topic)) {
                /* A heartbeat: its opaque is its number. They go to one partition, in order, so
                 * the highest acknowledged says that every earlier one is in too. */
                uint_fast64_t seq = (uintptr_t) m->_private, cur = atomic_load(&w->beat_acked);
                if (m->err)
                        return;
                while (seq > cur && !atomic_compare_exchange_weak(&w->beat_acked, &cur, seq))
                        ;
                atomic_store(&w->beat_acked_at, now_monotonic());
                return;
        }
        atomic_int *status = m->_private;
        if (status)
                atomic_store(status, m->err ? kafka_errno(m->err) : 1);
}

/* Produce the result and wait for the brokers to have it (idempotent producer: retried without
 * duplicates). 0, or a negative errno when it could not be delivered. */
static int produce_result(WorkerKafka *w, json_t *job, json_t *result) {
        const char *exec_id = json_string_value(json_object_get(job, "executionId"));
        json_t *partition = json_object_get(job, "partition");
        _cleanup_json_ json_t *v = json_pack("{s:s, s:{s:O?, s:O?, s:O?, s:s, s:O}}", "type", "task_result", "payload",
                                             "jobId", json_object_get(job, "jobId"), "taskRunId",
                                             json_object_get(job, "taskRunId"), "epoch", json_object_get(job, "epoch"),
                                             "workerId", w->id, "result", result);
        _cleanup_free_ char *buf = v ? json_dumps(v, JSON_COMPACT) : NULL;
        if (!buf)
                return -ENOMEM;
        if (!exec_id)
                return -EINVAL;
        for (;;) {
                atomic_int status = 0;
                rd_kafka_resp_err_t e = rd_kafka_producev(
                        w->producer, RD_KAFKA_V_TOPIC(w->results_topic),
                        RD_KAFKA_V_PARTITION(json_is_integer(partition) ? (int32_t) json_integer_value(partition)
                                                                        : RD_KAFKA_PARTITION_UA),
                        RD_KAFKA_V_KEY(exec_id, strlen(exec_id)), RD_KAFKA_V_VALUE(buf, strlen(buf)),
                        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE(&status), RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                        rd_kafka_poll(w->producer, 100);
                        continue;
                }
                if (e)
                        return kafka_errno(e);
                usec_t until = now_monotonic() + RESULT_TIMEOUT_MS * USEC_PER_MSEC;
                while (atomic_load(&status) == 0 && now_monotonic() < until)
                        rd_kafka_poll(w->producer, 100);
                int st = atomic_load(&status);
                if (st == 1)
                        return 0;
                if (st == 0) {
                        /* Not acknowledged in time: the message is still the producer's, and status
                         * on this stack must outlive it: wait for its report. */
                        (void) rd_kafka_flush(w->producer, -1);
                        if (atomic_load(&status) == 1)
                                return 0;
                }
                log_warning("Cannot deliver the result of job '%s' to '%s' (%s); trying again.",
                            strna(json_string_value(json_object_get(job, "jobId"))), w->results_topic,
                            strerror(-atomic_load(&status)));
                return -EIO;
        }
}

/* ---- heartbeats -------------------------------------------------------------------------------- */

static json_t *job_summary(json_t *j) {
        return json_pack("{s:O?, s:O?, s:O?, s:O?}", "executionId", json_object_get(j, "executionId"), "taskRunId",
                         json_object_get(j, "taskRunId"), "epoch", json_object_get(j, "epoch"), "jobId",
                         json_object_get(j, "jobId"));
}

/* What this worker holds: {workerId, at, state, slots, jobs, released}, jobs and released lists
 * of {executionId, taskRunId, epoch, jobId}: those it runs (or is claiming), and those it gave up
 * after a silence (for the executor to resubmit, whether or not it took this worker for dead). */
static json_t *heartbeat_record(WorkerKafka *w, const char *state) {
        _cleanup_json_ json_t *jobs = json_array(), *released = json_array();
        usec_t now = now_monotonic();
        int r = jobs && released ? 0 : -ENOMEM;
        pthread_mutex_lock(&w->lock);
        for (unsigned i = 0; i < w->opt.slots && r >= 0; i++)
                if (w->slots[i].held && !atomic_load(&w->slots[i].abandoned))
                        r = json_array_append_new(jobs, job_summary(w->slots[i].held));
        for (size_t i = 0; i < json_array_size(w->released) && r >= 0;) {
                json_t *j = json_array_get(w->released, i);
                if ((usec_t) json_integer_value(json_object_get(j, "until")) < now)
                        r = json_array_remove(w->released, i);
                else {
                        r = json_array_append_new(released, job_summary(j));
                        i++;
                }
        }
        pthread_mutex_unlock(&w->lock);
        if (r < 0)
                return NULL;
        return json_pack("{s:s, s:I, s:s, s:I, s:O, s:O}", "workerId", w->id, "at", (json_int_t) now_realtime(), "state",
                         state, "slots", (json_int_t) w->opt.slots, "jobs", jobs, "released", released);
}

/* Enqueue a heartbeat (state "RUNNING" or "STOPPED"); *ret_seq (optional): its number, for
 * heartbeat_wait(). */
static int heartbeat_send(WorkerKafka *w, const char *state, uint64_t *ret_seq) {
        rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;
        /* Taken and enqueued under one lock: the latest record of this worker is its latest view. */
        pthread_mutex_lock(&w->beat_lock);
        _cleanup_json_ json_t *v = heartbeat_record(w, state);
        _cleanup_free_ char *buf = v ? json_dumps(v, JSON_COMPACT) : NULL;
        uint64_t seq = ++w->beat_seq;
        if (buf)
                e = rd_kafka_producev(w->producer, RD_KAFKA_V_TOPIC(w->heartbeats_topic),
                                      RD_KAFKA_V_KEY(w->id, strlen(w->id)), RD_KAFKA_V_VALUE(buf, strlen(buf)),
                                      RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_OPAQUE((void *) (uintptr_t) seq),
                                      RD_KAFKA_V_END);
        pthread_mutex_unlock(&w->beat_lock);
        if (!buf)
                return -ENOMEM;
        if (e)
                return kafka_errno(e);
        if (ret_seq)
                *ret_seq = seq;
        return 0;
}

/* Wait up to timeout for heartbeat seq to be acknowledged by the brokers: 0, or -ETIMEDOUT. */
static int heartbeat_wait(WorkerKafka *w, uint64_t seq, usec_t timeout) {
        usec_t until = now_monotonic() + timeout;
        while (atomic_load(&w->beat_acked) < seq) {
                if (now_monotonic() >= until)
                        return -ETIMEDOUT;
                rd_kafka_poll(w->producer, 100);
        }
        return 0;
}

/* Whether no heartbeat of this worker was acknowledged for [liveness] dead-after (the process was
 * frozen, or the brokers out of reach): an executor may have resubmitted its jobs to others. */
static bool worker_silent(WorkerKafka *w) {
        usec_t acked = atomic_load(&w->beat_acked_at), now = now_monotonic();
        return now > acked && now - acked > w->opt.dead_after;
}

/* The silence may have made an executor resubmit the jobs this worker runs: they are given up, and
 * listed as released (resubmitted by the executor if it has not done so already). Their tasks are
 * stopped and their results dropped, so that a worker back from a freeze does not go on with work
 * that is another's now (were a result sent, the executor would refuse its old epoch). */
static void abandon_held(WorkerKafka *w) {
        uint64_t one = 1;
        unsigned n = 0;
        usec_t until = now_monotonic() + RELEASED_KEEP_USEC;
        pthread_mutex_lock(&w->lock);
        for (unsigned i = 0; i < w->opt.slots; i++) {
                KSlot *s = &w->slots[i];
                json_t *j;
                if (!s->held || !s->claimed || atomic_load(&s->abandoned))
                        continue;
                atomic_store(&s->abandoned, true);
                (void) !write(s->cancel_fd, &one, sizeof one);
                if ((j = job_summary(s->held)))
                        (void) json_object_set_new(j, "until", json_integer((json_int_t) until));
                if (!j || json_array_append_new(w->released, j) < 0)
                        log_error("Out of memory: job '%s' is given up without being listed as released.",
                                  strna(json_string_value(json_object_get(s->held, "jobId"))));
                n++;
        }
        pthread_mutex_unlock(&w->lock);
        if (n > 0)
                log_warning("No heartbeat of this worker reached '%s' for more than %llus ([liveness] dead-after): "
                            "its %u task(s) are resubmitted elsewhere; they are stopped here and their results dropped.",
                            w->heartbeats_topic, (unsigned long long) (w->opt.dead_after / USEC_PER_SEC), n);
}

static void *beat_thread(void *arg) {
        WorkerKafka *w = arg;
        for (;;) {
                rd_kafka_poll(w->producer, 0);
                if (worker_silent(w))
                        abandon_held(w);
                int r = heartbeat_send(w, "RUNNING", NULL);
                if (r < 0)
                        log_warning_errno(r, "Cannot send a heartbeat to '%s': %m", w->heartbeats_topic);
                struct timespec until;
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_sec += (time_t) (w->opt.heartbeat / USEC_PER_SEC);
                until.tv_nsec += (long) (w->opt.heartbeat % USEC_PER_SEC) * 1000;
                if (until.tv_nsec >= 1000000000) {
                        until.tv_sec++;
                        until.tv_nsec -= 1000000000;
                }
                pthread_mutex_lock(&w->lock);
                if (!w->beat_stop)
                        (void) pthread_cond_timedwait(&w->beat_cv, &w->lock, &until);
                bool stop = w->beat_stop;
                pthread_mutex_unlock(&w->lock);
                if (stop)
                        return NULL;
        }
}

/* Claim kj: a heartbeat naming it, acknowledged by the brokers, then its offset committed. From
 * then on the job is the executor's to resubmit should this worker die or hang (its heartbeats
 * stop), not Kafka's to redeliver. False when the worker stops first: the job is not run, and its
 * offset, uncommitted, leaves it to the partition's next owner. */
static bool kslot_claim(KSlot *s, KJob *kj) {
        WorkerKafka *w = s->w;
        bool claimed = false;
        for (;;) {
                uint64_t seq = 0;
                int r = heartbeat_send(w, "RUNNING", &seq);
                if (r >= 0 && (r = heartbeat_wait(w, seq, CLAIM_TIMEOUT_USEC)) >= 0) {
                        claimed = true;
                        break;
                }
                log_warning_errno(r, "Cannot claim job '%s' on '%s' (%m); trying again.",
                                  strna(json_string_value(json_object_get(kj->job, "jobId"))), w->heartbeats_topic);
                pthread_mutex_lock(&w->lock);
                bool stop = w->stopping;
                pthread_mutex_unlock(&w->lock);
                if (stop)
                        break;
                struct pollfd p = { s->cancel_fd, POLLIN, 0 };
                (void) poll(&p, 1, 1000);
        }
        pthread_mutex_lock(&w->lock);
        if (claimed && pending_done(w, kj->partition, kj->offset) == -ESTALE) {
                log_warning("Job '%s' not run here: its partition of '%s' went to another worker meanwhile.",
                            strna(json_string_value(json_object_get(kj->job, "jobId"))), w->jobs_topic);
                claimed = false;
        }
        if (claimed)
                s->claimed = true;
        else {
                json_decref(s->held);
                s->held = NULL;
                w->busy--;
                atomic_fetch_add(&w->jobs_lost, 1);
        }
        w->claiming--;
        pthread_cond_broadcast(&w->done_cv);
        pthread_mutex_unlock(&w->lock);
        return claimed;
}

/* A task's event for an execution (Resume): to execution-events keyed by its id, as 'tern execution
 * resume' sends it, applied by the executor holding it after its earlier events. */
static int kslot_execution_event(void *userdata, const char *id, const char *type, json_t *payload, char **ret_error) {
        WorkerKafka *w = userdata;
        _cleanup_(kafka_sender_freep) KafkaSender *k = NULL;
        int r = json_value_check(payload, "the event's payload", ret_error);
        if (r < 0)
                return r;
        /* A producer for the event (Resume is rare: not worth one held for the worker's life). */
        if ((r = kafka_sender_new(w->opt.kafka, RESULT_TIMEOUT_MS * USEC_PER_MSEC, &k, ret_error)) < 0)
                return r;
        return api_kafka_event(k, id, type, payload, NULL, RESULT_TIMEOUT_MS * USEC_PER_MSEC, ret_error);
}

/* The slot's job is over (r: how its result went; -ECANCELED: handed back by the worker's stop). */
static void kslot_done(KSlot *s, int r) {
        WorkerKafka *w = s->w;
        pthread_mutex_lock(&w->lock);
        if (r == -ECANCELED)
                /* Kept: the last heartbeat hands it back (worker_kafka_stop()). */
                atomic_fetch_add(&w->jobs_lost, 1);
        else {
                if (r < 0)
                        atomic_fetch_add(&w->jobs_lost, 1);
                json_decref(s->held);
                s->held = NULL;
                s->claimed = false;
                atomic_store(&s->abandoned, false);
        }
        w->busy--;
        pthread_cond_broadcast(&w->done_cv);
        pthread_mutex_unlock(&w->lock);
        atomic_fetch_add(&w->jobs_done, 1);
        atomic_store(&w->last_progress, now_monotonic());
}

/* A kill read on worker-kills: the slot running that job stops its task as the database worker's
 * does (the task's cancellation: its process signalled, then killed after the grace), and its result,
 * KILLED, is sent and refused by the executor, which ended the task run when it sent the kill. */
static void worker_kafka_kill(const char *task_run_id, int64_t epoch, void *userdata) {
        WorkerKafka *w = userdata;
        uint64_t one = 1;
        pthread_mutex_lock(&w->lock);
        for (unsigned i = 0; i < w->opt.slots; i++) {
                KSlot *s = &w->slots[i];
                if (!s->held || atomic_load(&s->abandoned) || atomic_load(&s->killed) ||
                    json_integer_value(json_object_get(s->held, "epoch")) != epoch ||
                    !streq_ptr(json_string_value(json_object_get(s->held, "taskRunId")), task_run_id))
                        continue;
                atomic_store(&s->killed, true);
                (void) !write(s->cancel_fd, &one, sizeof one);
                log_info("Stopping task %s (epoch %lld): its execution was killed.", task_run_id, (long long) epoch);
        }
        pthread_mutex_unlock(&w->lock);
}

static void kslot_run(KSlot *s, KJob *kj) {
        WorkerKafka *w = s->w;
        _cleanup_json_ json_t *result = NULL;
        json_t *job = kj->job;
        const LogField fields[] = {
                { "TERN_EXECUTION_ID", json_string_value(json_object_get(job, "executionId")) },
                { "TERN_TASK_RUN_ID", json_string_value(json_object_get(job, "taskRunId")) },
                { "TERN_TASK_ID", json_string_value(json_object_get(job, "taskId")) },
                { "TERN_FLOW", json_string_value(json_object_get(job, "flowId")) },
                { "TERN_NAMESPACE", json_string_value(json_object_get(job, "namespace")) },
        };
        _cleanup_log_context_ LogContext *ctx = log_context_push(fields, ELEMENTSOF(fields));
        uint64_t drain;

        (void) !read(s->cancel_fd, &drain, sizeof drain);
        /* After the drain: a kill read from now on writes cancel_fd again, one read before is here. */
        if (atomic_load(&s->killed) || worker_kills_has(w->kills, json_string_value(json_object_get(job, "taskRunId")),
                                                        json_integer_value(json_object_get(job, "epoch")))) {
                log_info("Task %s not run: its execution was killed before it started.",
                         strna(json_string_value(json_object_get(job, "taskRunId"))));
                kslot_done(s, 0);
                return;
        }
        /* The key-value store, the logs and the repositories stay in the database with the Kafka
         * queue (the indexer's: Count, the purges and Toggle act on it as on the database queue);
         * events for executions go to execution-events (Resume). */
        TaskStoreServices ts = { .store = s->store, .flush_logs = kslot_flush_logs_hook, .userdata = s };
        TaskServices services;
        task_store_services(&ts, &services);
        services.store = s->store;
        services.storage = s->storage;
        services.execution_event = kslot_execution_event;
        services.event_userdata = w;
        WorkerJobEnv env = {
                .work_root = w->work_root, .base_env = w->opt.base_env, .worker_id = w->id,
                .cancel_fd = s->cancel_fd, .log = kslot_log, .storage = s->storage, .secret = runtime_secret,
                .services = &services, .userdata = s, .sandbox = w->opt.sandbox, .output_bytes_max = w->opt.max_output_bytes,
                .epoch = json_integer_value(json_object_get(job, "epoch")),
        };
        log_debug("Running task %s (job %s, epoch %lld).", strna(json_string_value(json_object_get(job, "taskRunId"))),
                  strna(json_string_value(json_object_get(job, "jobId"))), (long long) env.epoch);
        int r = worker_job_run(&env, job, &result);
        if (r < 0) {
                log_error_errno(r, "Cannot run job %s: %m", strna(json_string_value(json_object_get(job, "jobId"))));
                result = json_pack("{s:s, s:s}", "state", "FAILED", "error", "the worker could not run the task");
        }
        /* The lines before the result, so that no result is read without them. */
        kslot_logs_flush(s);
        /* (Back from a freeze before the heartbeat thread saw it.) */
        if (worker_silent(w))
                abandon_held(w);
        if (atomic_load(&s->cancelled)) {
                /* Stopped by this worker's own stop, not by the task: its job is handed back (the
                 * last heartbeat lists it) and runs again elsewhere rather than end KILLED. */
                log_warning("Task %s stopped with the worker: handed back to the executor.",
                            strna(json_string_value(json_object_get(job, "taskRunId"))));
                r = -ECANCELED;
        } else if (atomic_load(&s->abandoned)) {
                log_warning("Result of task %s (epoch %lld) dropped: this worker was silent for more than %llus, "
                            "its job was resubmitted elsewhere.",
                            strna(json_string_value(json_object_get(job, "taskRunId"))), (long long) env.epoch,
                            (unsigned long long) (w->opt.dead_after / USEC_PER_SEC));
                r = -ESTALE;
        } else
                for (;;) {
                        r = result ? produce_result(w, job, result) : -ENOMEM;
                        if (r >= 0 || r == -ENOMEM || r == -EINVAL || atomic_load(&s->cancelled))
                                break;
                        struct pollfd p = { s->cancel_fd, POLLIN, 0 };
                        (void) poll(&p, 1, 1000);
                }
        if (r < 0 && r != -ESTALE && atomic_load(&s->cancelled))
                r = -ECANCELED; /* (its result undelivered as the worker stops: handed back too) */
        kslot_done(s, r);
}

static void *kslot_thread(void *arg) {
        KSlot *s = arg;
        WorkerKafka *w = s->w;
        for (;;) {
                pthread_mutex_lock(&w->lock);
                while (w->n_queue == 0 && !w->stopping)
                        pthread_cond_wait(&w->cv, &w->lock);
                if (w->stopping) {
                        pthread_mutex_unlock(&w->lock);
                        break;
                }
                KJob kj = w->queue[0];
                memmove(w->queue, w->queue + 1, --w->n_queue * sizeof *w->queue);
                w->busy++;
                w->claiming++;
                s->held = json_incref(kj.job);
                atomic_store(&s->killed, false);
                pthread_mutex_unlock(&w->lock);
                if (kslot_claim(s, &kj))
                        kslot_run(s, &kj);
                json_decref(kj.job);
        }
        return NULL;
}

static int queue_job(WorkerKafka *w, json_t *job, int32_t partition, int64_t offset) {
        if (w->n_queue == w->n_queue_alloc) {
                size_t na = MAX(w->n_queue_alloc * 2, (size_t) 16);
                KJob *q = reallocarray(w->queue, na, sizeof *q);
                if (!q)
                        return -ENOMEM;
                w->queue = q;
                w->n_queue_alloc = na;
        }
        if (w->n_pending == w->n_pending_alloc) {
                size_t na = MAX(w->n_pending_alloc * 2, (size_t) 16);
                Pending *p = reallocarray(w->pending, na, sizeof *p);
                if (!p)
                        return -ENOMEM;
                w->pending = p;
                w->n_pending_alloc = na;
        }
        w->pending[w->n_pending++] = (Pending) { .partition = partition, .offset = offset };
        if (!job) {
                /* Not a job: nothing to run, its offset goes with the others. */
                (void) pending_done(w, partition, offset);
                return 0;
        }
        w->queue[w->n_queue++] = (KJob) { .job = job, .partition = partition, .offset = offset };
        pthread_cond_signal(&w->cv);
        return 0;
}

/* How long a revocation waits for the claims under way in the partitions it takes away. */
#define REVOKE_WAIT_USEC (30 * USEC_PER_SEC)

/* Eager rebalancing: every partition is revoked, then the new share assigned. Jobs fetched and not
 * started are given back (the partition's next owner fetches them from the committed offset); the
 * claims under way are waited for, so that their offsets are committed before another member
 * starts the partition there and runs them a second time. Running jobs are claimed: they stay
 * here, in the executor's care (heartbeats), whoever reads their partition next. Past
 * REVOKE_WAIT_USEC (brokers out of reach) the partition goes without them: that job may run twice,
 * and the executor takes the result of the epoch in flight. */
static void worker_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err, rd_kafka_topic_partition_list_t *parts,
                             void *opaque) {
        WorkerKafka *w = opaque;
        if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
                (void) rd_kafka_assign(rk, parts);
                return;
        }
        pthread_mutex_lock(&w->lock);
        for (size_t i = 0; i < w->n_queue; i++)
                json_decref(w->queue[i].job);
        w->n_queue = 0;
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += REVOKE_WAIT_USEC / USEC_PER_SEC;
        while (w->claiming > 0 && !w->stopping)
                if (pthread_cond_timedwait(&w->done_cv, &w->lock, &until) != 0)
                        break;
        if (w->claiming > 0)
                log_warning("Partitions of '%s' taken away while %u job(s) are being claimed here: another worker may run them too.",
                            w->jobs_topic, w->claiming);
        w->n_pending = 0;
        pthread_mutex_unlock(&w->lock);
        (void) rd_kafka_assign(rk, NULL);
}

/* Pause or resume every assigned partition: a job waits in Kafka while the slots are full, not in
 * this worker's memory, so that another worker of the group may take its partition meanwhile. */
static void set_paused(WorkerKafka *w, bool pause) {
        rd_kafka_topic_partition_list_t *l = NULL;
        if (rd_kafka_assignment(w->consumer, &l) || !l)
                return;
        if (l->cnt > 0)
                (void) (pause ? rd_kafka_pause_partitions(w->consumer, l) : rd_kafka_resume_partitions(w->consumer, l));
        rd_kafka_topic_partition_list_destroy(l);
}

static void *fetch_thread(void *arg) {
        WorkerKafka *w = arg;
        bool paused = false;
        for (;;) {
                pthread_mutex_lock(&w->lock);
                bool stop = w->stopping;
                bool full = w->busy + w->n_queue >= w->opt.slots;
                pthread_mutex_unlock(&w->lock);
                if (stop)
                        break;
                atomic_store(&w->last_progress, now_monotonic());
                /* (Paused again at every turn while full: a rebalance hands partitions over unpaused.) */
                if (full)
                        set_paused(w, true);
                else if (paused)
                        set_paused(w, false);
                paused = full;
                rd_kafka_message_t *m = rd_kafka_consumer_poll(w->consumer, 200);
                if (!m)
                        continue;
                if (m->err) {
                        log_debug("Kafka consumer of '%s': %s", w->jobs_topic, rd_kafka_message_errstr(m));
                        rd_kafka_message_destroy(m);
                        continue;
                }
                json_error_t jerr;
                json_t *job = json_loadb(m->payload, m->len, 0, &jerr);
                if (job && !json_is_string(json_object_get(job, "taskRunId"))) {
                        json_decref(job);
                        job = NULL;
                        snprintf(jerr.text, sizeof jerr.text, "no taskRunId");
                }
                if (!job)
                        log_error("Dropping the record at offset %lld of partition %d of '%s': not a job (%s).",
                                  (long long) m->offset, (int) m->partition, w->jobs_topic, jerr.text);
                pthread_mutex_lock(&w->lock);
                int r = queue_job(w, job, m->partition, m->offset);
                pthread_mutex_unlock(&w->lock);
                if (r < 0) {
                        /* Left uncommitted: run by this partition's next owner. */
                        log_error_errno(r, "Cannot queue a job: %m");
                        json_decref(job);
                }
                rd_kafka_message_destroy(m);
        }
        return NULL;
}

int worker_kafka_new(Store *store, const WorkerKafkaOptions *opt, WorkerKafka **ret, char **ret_error) {
        _cleanup_(worker_kafka_freep) WorkerKafka *w = calloc(1, sizeof *w);
        int r;
        if (!w)
                return -ENOMEM;
        w->opt = *opt;
        if (!w->opt.slots)
                w->opt.slots = 4;
        if (!w->opt.base_env)
                w->opt.base_env = default_env;
        if (!w->opt.max_output_bytes)
                w->opt.max_output_bytes = WORKER_MAX_OUTPUT_BYTES_DEFAULT;
        pthread_mutex_init(&w->lock, NULL);
        pthread_cond_init(&w->cv, NULL);
        pthread_cond_init(&w->done_cv, NULL);
        pthread_cond_init(&w->beat_cv, NULL);
        pthread_mutex_init(&w->beat_lock, NULL);
        if (!w->opt.heartbeat)
                w->opt.heartbeat = 5 * USEC_PER_SEC;
        if (!w->opt.dead_after)
                w->opt.dead_after = 30 * USEC_PER_SEC;
        atomic_store(&w->beat_acked_at, now_monotonic());
        if (!(w->released = json_array()))
                return -ENOMEM;
        w->id = strdup(opt->id ?: "worker");
        w->work_root = strdup(opt->work_root ?: "/tmp");
        w->storage_url = opt->storage_url ? strdup(opt->storage_url) : NULL;
        w->slots = calloc(w->opt.slots, sizeof *w->slots);
        if (!w->id || !w->work_root || !w->slots || (opt->storage_url && !w->storage_url))
                return -ENOMEM;
        w->opt.id = w->id;
        w->opt.work_root = w->work_root;
        w->opt.storage_url = w->storage_url;
        (void) mkdir(w->work_root, 0700);
        if ((r = kafka_topic_name(opt->kafka, KAFKA_TOPIC_WORKER_JOBS, &w->jobs_topic)) < 0 ||
            (r = kafka_topic_name(opt->kafka, KAFKA_TOPIC_WORKER_RESULTS, &w->results_topic)) < 0 ||
            (r = kafka_topic_name(opt->kafka, KAFKA_TOPIC_WORKER_HEARTBEATS, &w->heartbeats_topic)) < 0)
                return r;
        for (unsigned i = 0; i < w->opt.slots; i++) {
                KSlot *s = &w->slots[i];
                *s = (KSlot) { .w = w, .cancel_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
                if (s->cancel_fd < 0)
                        return -errno;
                if ((r = store_dup(store, &s->store)) < 0)
                        return r;
                if (w->storage_url && (r = storage_open(w->storage_url, NULL, &s->storage, NULL)) < 0)
                        return r;
        }
        /* Offsets are committed by hand, behind the results; a job is fetched once a slot is free. */
        const char *cextra[] = { "group.id", "tern-worker", "enable.auto.commit", "false", "enable.auto.offset.store",
                                 "false", "auto.offset.reset", "earliest", "isolation.level", "read_committed",
                                 "queued.max.messages.kbytes", "1024", NULL };
        rd_kafka_conf_t *cconf;
        if ((r = kafka_conf_new(opt->kafka, cextra, &cconf, ret_error)) < 0)
                return r;
        rd_kafka_conf_set_rebalance_cb(cconf, worker_rebalance);
        rd_kafka_conf_set_opaque(cconf, w);
        char cwhy[512];
        if (!(w->consumer = rd_kafka_new(RD_KAFKA_CONSUMER, cconf, cwhy, sizeof cwhy))) {
                rd_kafka_conf_destroy(cconf);
                if (ret_error)
                        *ret_error = strdup_printf("cannot make a Kafka consumer for '%s': %s", opt->kafka->brokers, cwhy);
                return -EINVAL;
        }
        (void) rd_kafka_poll_set_consumer(w->consumer);
        rd_kafka_conf_t *conf;
        const char *pextra[] = { "enable.idempotence", "true", NULL };
        if ((r = kafka_conf_new(opt->kafka, pextra, &conf, ret_error)) < 0)
                return r;
        rd_kafka_conf_set_dr_msg_cb(conf, result_delivered);
        rd_kafka_conf_set_opaque(conf, w);
        char why[512];
        if (!(w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
                rd_kafka_conf_destroy(conf);
                if (ret_error)
                        *ret_error = strdup_printf("cannot make a Kafka producer for '%s': %s", opt->kafka->brokers, why);
                return -EINVAL;
        }
        if ((r = worker_kills_new(opt->kafka, worker_kafka_kill, w, &w->kills, ret_error)) < 0)
                return r;
        rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
        if (!sub)
                return -ENOMEM;
        rd_kafka_topic_partition_list_add(sub, w->jobs_topic, RD_KAFKA_PARTITION_UA);
        rd_kafka_resp_err_t e = rd_kafka_subscribe(w->consumer, sub);
        rd_kafka_topic_partition_list_destroy(sub);
        if (e) {
                if (ret_error)
                        *ret_error = strdup_printf("cannot join the Kafka consumer group 'tern-worker' on '%s': %s",
                                                   opt->kafka->brokers, rd_kafka_err2str(e));
                return kafka_errno(e);
        }
        atomic_store(&w->last_progress, now_monotonic());
        *ret = TAKE_PTR(w);
        return 0;
}

int worker_kafka_start(WorkerKafka *w) {
        int r = worker_kills_start(w->kills);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < w->opt.slots; i++) {
                if (pthread_create(&w->slots[i].thread, NULL, kslot_thread, &w->slots[i]) != 0)
                        return -EAGAIN;
                w->slots[i].started = true;
        }
        if (pthread_create(&w->beater, NULL, beat_thread, w) != 0)
                return -EAGAIN;
        w->beater_started = true;
        if (pthread_create(&w->fetcher, NULL, fetch_thread, w) != 0)
                return -EAGAIN;
        w->fetcher_started = true;
        return 0;
}

void worker_kafka_stop(WorkerKafka *w, usec_t grace) {
        uint64_t one = 1;
        /* Fetching stops first; the slots finish what they run (queued jobs stay uncommitted). */
        pthread_mutex_lock(&w->lock);
        w->stopping = true;
        pthread_cond_broadcast(&w->cv);
        pthread_mutex_unlock(&w->lock);
        if (w->fetcher_started) {
                pthread_join(w->fetcher, NULL);
                w->fetcher_started = false;
        }
        usec_t until = now_monotonic() + grace;
        for (;;) {
                pthread_mutex_lock(&w->lock);
                unsigned busy = w->busy;
                pthread_mutex_unlock(&w->lock);
                if (busy == 0 || now_monotonic() >= until)
                        break;
                (void) poll(NULL, 0, 100);
        }
        for (unsigned i = 0; i < w->opt.slots; i++)
                if (w->slots[i].started) {
                        atomic_store(&w->slots[i].cancelled, true);
                        (void) !write(w->slots[i].cancel_fd, &one, sizeof one);
                }
        for (unsigned i = 0; i < w->opt.slots; i++)
                if (w->slots[i].started) {
                        pthread_join(w->slots[i].thread, NULL);
                        w->slots[i].started = false;
                }
        /* Heartbeats went on through the grace period (else the executor would have resubmitted the
         * tasks finishing here); the last one says STOPPED and lists the jobs cancelled, which the
         * executor resubmits at once. */
        pthread_mutex_lock(&w->lock);
        w->beat_stop = true;
        pthread_cond_broadcast(&w->beat_cv);
        pthread_mutex_unlock(&w->lock);
        if (w->beater_started) {
                pthread_join(w->beater, NULL);
                w->beater_started = false;
                uint64_t seq = 0;
                int r = heartbeat_send(w, "STOPPED", &seq);
                if (r >= 0)
                        r = heartbeat_wait(w, seq, 5 * USEC_PER_SEC);
                if (r < 0)
                        log_warning_errno(r, "Cannot hand this worker's jobs back on '%s' (%m): the executor resubmits "
                                          "them after [liveness] dead-after.", w->heartbeats_topic);
        }
}

WorkerKafka *worker_kafka_free(WorkerKafka *w) {
        if (!w)
                return NULL;
        worker_kafka_stop(w, 0);
        w->kills = worker_kills_free(w->kills); /* (before the slots it stops tasks in) */
        if (w->consumer) {
                (void) rd_kafka_consumer_close(w->consumer);
                rd_kafka_destroy(w->consumer);
        }
        if (w->producer) {
                (void) rd_kafka_flush(w->producer, 5000);
                rd_kafka_destroy(w->producer);
        }
        for (unsigned i = 0; w->slots && i < w->opt.slots; i++) {
                KSlot *s = &w->slots[i];
                kslot_logs_flush(s);
                json_decref(s->held);
                free(s->logs);
                free(s->messages);
                store_free(s->store);
                storage_free(s->storage);
                safe_close(s->cancel_fd);
        }
        for (size_t i = 0; i < w->n_queue; i++)
                json_decref(w->queue[i].job);
        free(w->queue);
        free(w->pending);
        free(w->slots);
        free(w->id);
        free(w->work_root);
        free(w->storage_url);
        free(w->jobs_topic);
        free(w->results_topic);
        free(w->heartbeats_topic);
        json_decref(w->released);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->done_cv);
        pthread_cond_destroy(&w->beat_cv);
        pthread_mutex_destroy(&w->beat_lock);
        free(w);
        return NULL;
}

void worker_kafka_stats(WorkerKafka *w, WorkerStats *ret) {
        pthread_mutex_lock(&w->lock);
        *ret = (WorkerStats) { .slots = w->opt.slots, .busy = w->busy };
        pthread_mutex_unlock(&w->lock);
        ret->jobs_done = atomic_load(&w->jobs_done);
        ret->jobs_lost = atomic_load(&w->jobs_lost);
        ret->last_progress = atomic_load(&w->last_progress);
}

/* worker-kafka.c: the worker on Kafka: a fetcher thread that takes jobs while a slot is free, slot
 * threads that run them and produce their results, offsets committed behind the results. */
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
#include "fd-util.h"
#include "job.h"
#include "log.h"
#include "storage.h"
#include "strutil.h"
#include "task-services.h"
#include "variables.h"
#include "worker-kafka.h"

#define LOG_FLUSH_LINES 100
/* How long a result may take to be acknowledged by the brokers before the slot tries again. */
#define RESULT_TIMEOUT_MS 30000

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
} KSlot;

struct WorkerKafka {
        WorkerKafkaOptions opt;
        char *id, *work_root, *storage_url, *jobs_topic, *results_topic;
        rd_kafka_t *consumer, *producer;
        KSlot *slots;
        pthread_t fetcher;
        bool fetcher_started;
        pthread_mutex_t lock;
        pthread_cond_t cv;     /* a job is queued, or the worker stops */
        pthread_cond_t done_cv; /* a slot finished its job */
        KJob *queue;           /* fetched, not started (under lock) */
        size_t n_queue, n_queue_alloc;
        Pending *pending;      /* fetched, not done (under lock), in fetch order */
        size_t n_pending, n_pending_alloc;
        unsigned busy;         /* under lock */
        bool stopping;         /* under lock */
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
 * dies leaves every job it had not finished to the partition's next owner). Under lock. */
static void pending_done(WorkerKafka *w, int32_t partition, int64_t offset) {
        int64_t first_open = -1, last = -1;
        size_t k = 0;
        bool found = false;
        for (size_t i = 0; i < w->n_pending; i++) {
                Pending *p = &w->pending[i];
                if (p->partition == partition && p->offset == offset)
                        p->done = found = true;
        }
        if (!found)
                return; /* its partition was revoked meanwhile: its offsets are another member's now */
        for (size_t i = 0; i < w->n_pending; i++) {
                Pending *p = &w->pending[i];
                if (p->partition != partition) {
                        w->pending[k++] = *p;
                        continue;
                }
                if (!p->done && (first_open < 0 || p->offset < first_open))
                        first_open = p->offset;
                last = MAX(last, p->offset);
        }
        int64_t commit = first_open >= 0 ? first_open : last + 1;
        for (size_t i = 0; i < w->n_pending; i++) {
                Pending *p = &w->pending[i];
                if (p->partition == partition && p->offset >= commit)
                        w->pending[k++] = *p;
        }
        w->n_pending = k;
        rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
        if (!l)
                return;
        rd_kafka_topic_partition_list_add(l, w->jobs_topic, partition)->offset = commit;
        /* Synchronous: a partition revoked waits for it (worker_rebalance()). */
        rd_kafka_resp_err_t e = rd_kafka_commit(w->consumer, l, 0);
        if (e)
                log_debug("Cannot commit offset %lld of partition %d of '%s': %s", (long long) commit, (int) partition,
                          w->jobs_topic, rd_kafka_err2str(e));
        rd_kafka_topic_partition_list_destroy(l);
}

static void result_delivered(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
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
        /* The key-value store and the logs stay in the database with the Kafka queue. Not the
         * store itself (.store): the tasks that act on its records (Resume, Toggle, purges) would
         * signal executions through the database's queue, which nothing reads here. */
        TaskStoreServices ts = { .store = s->store, .flush_logs = kslot_flush_logs_hook, .userdata = s };
        TaskServices services;
        task_store_services(&ts, &services);
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
        if (atomic_load(&s->cancelled)) {
                /* Stopped by this worker's own stop, not by the task: its job stays uncommitted and
                 * runs again on the partition's next owner rather than end KILLED. */
                log_warning("Task %s stopped with the worker: left to another worker.",
                            strna(json_string_value(json_object_get(job, "taskRunId"))));
                r = -ECANCELED;
        } else
                for (;;) {
                        r = result ? produce_result(w, job, result) : -ENOMEM;
                        if (r >= 0 || r == -ENOMEM || r == -EINVAL || atomic_load(&s->cancelled))
                                break;
                        struct pollfd p = { s->cancel_fd, POLLIN, 0 };
                        (void) poll(&p, 1, 1000);
                }
        pthread_mutex_lock(&w->lock);
        if (r >= 0)
                pending_done(w, kj->partition, kj->offset);
        else
                /* Its offset stays uncommitted: the partition's next owner runs it again. */
                atomic_fetch_add(&w->jobs_lost, 1);
        w->busy--;
        pthread_cond_broadcast(&w->done_cv);
        pthread_mutex_unlock(&w->lock);
        atomic_fetch_add(&w->jobs_done, 1);
        atomic_store(&w->last_progress, now_monotonic());
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
                pthread_mutex_unlock(&w->lock);
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
                pending_done(w, partition, offset);
                return 0;
        }
        w->queue[w->n_queue++] = (KJob) { .job = job, .partition = partition, .offset = offset };
        pthread_cond_signal(&w->cv);
        return 0;
}

/* How long a revocation waits for the running jobs of the partitions it takes away. */
#define REVOKE_WAIT_USEC (60 * USEC_PER_SEC)

/* Eager rebalancing: every partition is revoked, then the new share assigned. Jobs fetched and not
 * started are given back (the partition's next owner fetches them from the committed offset); the
 * running ones are waited for, so that their results are produced and their offsets committed
 * before another member starts the partition there and runs them a second time. Past
 * REVOKE_WAIT_USEC (a task longer than that) the partition goes without them: that job may run
 * twice, once here and once on the new owner, and the executor takes the first result. */
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
        while (w->busy > 0 && !w->stopping)
                if (pthread_cond_timedwait(&w->done_cv, &w->lock, &until) != 0)
                        break;
        if (w->busy > 0)
                log_warning("Partitions of '%s' taken away while %u task(s) still run here: another worker may run them too.",
                            w->jobs_topic, w->busy);
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
            (r = kafka_topic_name(opt->kafka, KAFKA_TOPIC_WORKER_RESULTS, &w->results_topic)) < 0)
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
        char why[512];
        if (!(w->producer = rd_kafka_new(RD_KAFKA_PRODUCER, conf, why, sizeof why))) {
                rd_kafka_conf_destroy(conf);
                if (ret_error)
                        *ret_error = strdup_printf("cannot make a Kafka producer for '%s': %s", opt->kafka->brokers, why);
                return -EINVAL;
        }
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
        for (unsigned i = 0; i < w->opt.slots; i++) {
                if (pthread_create(&w->slots[i].thread, NULL, kslot_thread, &w->slots[i]) != 0)
                        return -EAGAIN;
                w->slots[i].started = true;
        }
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
}

WorkerKafka *worker_kafka_free(WorkerKafka *w) {
        if (!w)
                return NULL;
        worker_kafka_stop(w, 0);
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
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->done_cv);
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

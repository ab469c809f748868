/* worker-component.c: the worker's descriptor for the daemon frame: its sandbox checked at start,
 * its slots (threads of its own), the graceful stop that hands back what outlives the grace period. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "log.h"
#include "pool.h"
#include "strutil.h"
#include "worker-component.h"
#include "worker.h"
#if HAVE_KAFKA
#include "worker-kafka.h"
#endif

/* After the grace period the jobs still running are handed back (new epoch) this long before
 * their tasks are cancelled, so that the cancelled tasks' results are refused as stale and the
 * jobs run again elsewhere instead of ending KILLED. */
#define RELEASE_MARGIN_USEC (2 * USEC_PER_SEC)

typedef struct WorkerComponent {
        Worker *worker;
#if HAVE_KAFKA
        WorkerKafka *kafka; /* [queue] type = kafka: the worker is this instead */
        KafkaOptions kafka_options;
#endif
        const char *id; /* the lease holder (the frame's, for as long as the component lives) */
        char *work_root, *cache_root;
        SandboxConfig own_sandbox; /* [sandbox], when the host passed none */
        SandboxConfig *sandbox;    /* every shell task runs in it unless its mode is off */
        usec_t stop_grace;
        int done_fd;
} WorkerComponent;

/* The [sandbox] settings, checked by starting one sandboxed process: a worker that cannot isolate
 * its tasks says so at start (mode required: its shell tasks fail with the same reason). */
static int wd_sandbox(WorkerComponent *wd, const TernConfig *cfg) {
        _cleanup_free_ char *err = NULL;
        int r;

        /* Auto by default: the limits need cgroup controllers that not every host delegates, the
         * namespaces do not; a daemon never falls back to plain processes unless told to. */
        wd->sandbox = &wd->own_sandbox;
        sandbox_config_init(wd->sandbox, true);
        wd->sandbox->fallback_off = false;
        if ((r = sandbox_config_load(wd->sandbox, cfg, &err)) < 0) {
                if (err)
                        log_error("Invalid configuration: %s", err);
                return r;
        }
        _cleanup_free_ char *problem = NULL, *desc = NULL;
        r = sandbox_config_resolve(wd->sandbox, cfg->state_dir, &problem);
        if (r == -EINVAL)
                log_error("Invalid configuration: [sandbox] %s", strna(problem));
        if (r < 0)
                return r;
        desc = sandbox_config_describe(wd->sandbox);
        if (wd->sandbox->options.mode == SANDBOX_OFF)
                log_warning("Shell tasks run WITHOUT sandbox ([sandbox] mode = off): they can do anything this worker's user can.");
        else if (problem && wd->sandbox->works)
                log_warning("Shell tasks run in the sandbox (%s), incomplete here: %s.",
                            strna(desc), problem);
        else if (problem && wd->sandbox->options.mode == SANDBOX_BEST_EFFORT)
                log_warning("Shell tasks run WITHOUT sandbox ([sandbox] mode = best-effort): %s.", problem);
        else if (problem)
                log_error("The task sandbox does not work here (%s): %s; shell tasks will fail until this is fixed "
                          "(or set [sandbox] mode = best-effort or off).",
                          strna(desc), problem);
        else
                log_info("Shell tasks run in the sandbox (%s).", strna(desc));
        return 0;
}

static void wd_free(void *state) {
        WorkerComponent *wd = state;
        if (!wd)
                return;
        worker_free(wd->worker);
#if HAVE_KAFKA
        worker_kafka_free(wd->kafka);
#endif
        free(wd->work_root);
        free(wd->cache_root);
        if (wd->sandbox == &wd->own_sandbox)
                sandbox_config_done(&wd->own_sandbox);
        safe_close(wd->done_fd);
        free(wd);
}

static int wd_start(Daemon *d, const char *id, const void *params, void **ret) {
        const WorkerComponentParams *p = params;
        const TernConfig *cfg = daemon_config(d);
        int r;

        WorkerComponent *wd = calloc(1, sizeof *wd);
        if (!wd)
                return -ENOMEM;
        *ret = wd; /* freed by wd_free whatever happens next */
        wd->done_fd = -EBADF;
        wd->id = id;
        wd->work_root = strjoin(cfg->state_dir, "/work");
        wd->cache_root = strjoin(cfg->state_dir, "/cache");
        if (!wd->work_root || !wd->cache_root)
                return -ENOMEM;
        if (p && p->sandbox)
                wd->sandbox = p->sandbox;
        else if ((r = wd_sandbox(wd, cfg)) < 0)
                return r;
#if HAVE_KAFKA
        if (config_queue_is_kafka(cfg)) {
                _cleanup_free_ char *err = NULL;
                if (cfg->worker_queue)
                        log_warning("[worker] queue = '%s' is not used on Kafka yet: this worker takes every job.",
                                    cfg->worker_queue);
                wd->kafka_options = (KafkaOptions) { .brokers = cfg->queue_brokers, .topic_prefix = cfg->queue_topic_prefix,
                                                     .partitions = cfg->queue_partitions,
                                                     .replication = cfg->queue_replication,
                                                     .properties = cfg->queue_kafka };
                WorkerKafkaOptions ko = {
                        .id = id, .kafka = &wd->kafka_options, .slots = cfg->worker_slots, .work_root = wd->work_root,
                        .storage_url = cfg->storage_url, .sandbox = &wd->sandbox->options,
                        .max_output_bytes = (uint64_t) cfg->worker_output_mib << 20,
                        .heartbeat = cfg->heartbeat, .dead_after = cfg->dead_after,
                };
                if ((r = worker_kafka_new(daemon_store(d), &ko, &wd->kafka, &err)) < 0)
                        return log_error_errno(r, "Cannot start the worker on Kafka: %s", err ? err : strerror(-r));
                log_info("Worker on Kafka ('%s'), member of group 'tern-worker'.", cfg->queue_brokers);
                return worker_kafka_start(wd->kafka);
        }
#else
        if (config_queue_is_kafka(cfg)) {
                log_error("[queue] type = kafka: this tern was built without the Kafka queue backend (librdkafka).");
                return -EINVAL;
        }
#endif
        WorkerOptions opt = {
                .id = id, /* the lease holder: the coordinator re-queues by this name */
                .slots = cfg->worker_slots,
                .queue = cfg->worker_queue,
                .lease = cfg->worker_lease,
                .work_root = wd->work_root,
                .cache_root = wd->cache_root,
                .pip_index_url = cfg->worker_pip_index_url,
                .storage_url = cfg->storage_url,
                .sandbox = &wd->sandbox->options,
                .max_log_lines = cfg->worker_log_lines,
                .max_log_bytes = cfg->worker_log_bytes,
                .max_output_bytes = (uint64_t) cfg->worker_output_mib << 20,
        };
        if ((r = worker_new(daemon_store(d), &opt, &wd->worker)) < 0)
                return r;
        return worker_start(wd->worker);
}

static void *stop_thread(void *arg) {
        WorkerComponent *wd = arg;
        uint64_t one = 1;
        worker_stop(wd->worker, wd->stop_grace);
        (void) !write(wd->done_fd, &one, sizeof one);
        return NULL;
}

static void wd_stop(Daemon *d, void *state, usec_t grace) {
        WorkerComponent *wd = state;
        pthread_t t;

#if HAVE_KAFKA
        if (wd->kafka) {
                /* What has not ended within grace stays uncommitted in Kafka: another worker runs it. */
                worker_kafka_stop(wd->kafka, grace);
                return;
        }
#endif
        if (!wd->worker)
                return;
        if (grace == 0) {
                /* No grace (grace = 0, or this worker was declared dead and stops at once): hand
                 * the running jobs back before cancelling their tasks, as after a grace period, so
                 * that the cancelled tasks' results are refused as stale and the jobs run again
                 * elsewhere. A worker declared dead may have claimed jobs after the coordinator
                 * re-queued its old ones (its claims and its heartbeat use different connections,
                 * one back before the other after a partition): without this, those ended KILLED.
                 * Claims stop first, or the claimer takes the released jobs again at once. */
                worker_stop_claiming(wd->worker);
                /* The cluster's clock, not this host's: the job_resubmitted event is due at that
                 * time, and one stamped by a clock ahead would wait, letting the next run's result
                 * go first and the resubmission be lost from the task run's history. */
                int r = store_job_requeue_worker(daemon_store(d), wd->id, STORE_RESUBMIT_RELEASED,
                                                 store_clock_now(daemon_store(d)));
                if (r > 0)
                        log_warning("Released %d running job(s) to other workers before stopping at once.", r);
                else if (r < 0)
                        log_error_errno(r, "Cannot release the jobs still running: %s", store_error(daemon_store(d)));
                worker_stop(wd->worker, 0);
                return;
        }
        wd->stop_grace = grace + RELEASE_MARGIN_USEC;
        wd->done_fd = eventfd(0, EFD_CLOEXEC);
        if (wd->done_fd < 0 || pthread_create(&t, NULL, stop_thread, wd) != 0) {
                wd->done_fd = safe_close(wd->done_fd);
                worker_stop(wd->worker, grace);
                return;
        }
        struct pollfd p = { wd->done_fd, POLLIN, 0 };
        usec_t until = now_monotonic() + grace;
        int r;
        while ((r = poll(&p, 1, (int) ((until - MIN(until, now_monotonic())) / USEC_PER_MSEC))) < 0 && errno == EINTR)
                ;
        if (r == 0) {
                /* Tasks still running after the grace period: hand their jobs back now. */
                r = store_job_requeue_worker(daemon_store(d), wd->id, STORE_RESUBMIT_RELEASED,
                                             store_clock_now(daemon_store(d)));
                if (r >= 0)
                        log_warning("Grace period over: released %d job(s) to other workers.", r);
                else
                        log_error_errno(r, "Cannot release the jobs still running: %s", store_error(daemon_store(d)));
        }
        pthread_join(t, NULL);
        wd->done_fd = safe_close(wd->done_fd);
}

static void wd_stats(WorkerComponent *wd, WorkerStats *st) {
#if HAVE_KAFKA
        if (wd->kafka) {
                worker_kafka_stats(wd->kafka, st);
                return;
        }
#endif
        worker_stats(wd->worker, st);
}

static bool wd_progress(void *state, usec_t window) {
        WorkerComponent *wd = state;
        WorkerStats st;
        wd_stats(wd, &st);
        /* Idle slots claim or wait at least every second; every slot busy means tasks are running
         * (bounded by their timeouts, the lease renewals show the process alive to the cluster). */
        return st.busy >= st.slots || now_monotonic() - st.last_progress < window;
}

static void wd_status(void *state, StrBuf *out) {
        WorkerComponent *wd = state;
        WorkerStats st;
        wd_stats(wd, &st);
        strbuf_appendf(out, "%u/%u slots busy, %llu jobs done, %llu lost", st.busy, st.slots,
                       (unsigned long long) st.jobs_done, (unsigned long long) st.jobs_lost);
}

static void wd_metrics(void *state, StrBuf *out) {
        WorkerComponent *wd = state;
        WorkerStats st;
        wd_stats(wd, &st);
        strbuf_appendf(out,
                       "tern_worker_slots %u\ntern_worker_slots_busy %u\ntern_worker_jobs_done_total %llu\n"
                       "tern_worker_jobs_lost_total %llu\n",
                       st.slots, st.busy, (unsigned long long) st.jobs_done, (unsigned long long) st.jobs_lost);
        if (wd->sandbox->options.pool) {
                SandboxPoolStats ps;
                sandbox_pool_stats(wd->sandbox->options.pool, &ps);
                strbuf_appendf(out,
                               "tern_worker_sandbox_starts_total{sandbox=\"made_ahead\"} %llu\n"
                               "tern_worker_sandbox_starts_total{sandbox=\"built\"} %llu\n"
                               "tern_worker_sandboxes_ready %u\n",
                               (unsigned long long) ps.starts_made_ahead, (unsigned long long) ps.starts_built, ps.ready);
        }
}

/* Its task slots go into its services record, where the webserver's /metrics finds them. */
static void wd_info(Daemon *d, void *state, json_t *info) {
        json_object_set_new(info, "slots", json_integer(daemon_config(d)->worker_slots));
}

const DaemonComponent worker_component = {
        .name = "worker",
        .storage = true,
        .start = wd_start,
        .stop = wd_stop,
        .free = wd_free,
        .progress = wd_progress,
        .status = wd_status,
        .metrics = wd_metrics,
        .info = wd_info,
};

/* executor-component.c: the executor's descriptor for the daemon frame: its options from the
 * configuration, its loop on a thread of its own, its status and metrics. */
#include <stdlib.h>

#include "executor-component.h"
#include "executor.h"
#include "flow-cache.h"
#include "log.h"
#include "retention.h"
#include "variables.h"
#if HAVE_KAFKA
#include "executor-kafka.h"
#endif

typedef struct ExecutorComponent {
        Executor *executor;
#if HAVE_KAFKA
        ExecutorKafka *kafka; /* [queue] type = kafka: the executor is this instead */
        KafkaOptions kafka_options;
#endif
        EngineConfig engine;
        Retention *retention; /* [storage] retention; NULL: executions are kept */
} ExecutorComponent;

static void xc_free(void *state) {
        ExecutorComponent *xc = state;
        if (!xc)
                return;
        retention_free(xc->retention);
        executor_free(xc->executor);
#if HAVE_KAFKA
        executor_kafka_free(xc->kafka);
#endif
        runtime_engine_config_done(&xc->engine);
        free(xc);
}

static bool xc_on_kafka(const ExecutorComponent *xc) {
#if HAVE_KAFKA
        return xc->kafka;
#else
        return false;
#endif
}

static int xc_start(Daemon *d, const char *id, const void *params, void **ret) {
        const TernConfig *cfg = daemon_config(d);
        _cleanup_free_ char *err = NULL;
        Store *s = NULL;
        int r;

        ExecutorComponent *xc = calloc(1, sizeof *xc);
        if (!xc)
                return -ENOMEM;
        *ret = xc; /* freed by xc_free whatever happens next */
        if ((r = runtime_engine_config(&xc->engine, &err)) < 0) {
                if (err)
                        log_error("%s", err);
                return r;
        }
        if ((r = store_dup(daemon_store(d), &s)) < 0)
                return r;
#if HAVE_KAFKA
        if (config_queue_is_kafka(cfg)) {
                /* The configuration is the daemon's for as long as the component lives (a reload that
                 * changes [queue] needs a restart, as config_restart_needed() says). */
                xc->kafka_options = (KafkaOptions) { .brokers = cfg->queue_brokers, .topic_prefix = cfg->queue_topic_prefix,
                                                     .partitions = cfg->queue_partitions,
                                                     .replication = cfg->queue_replication,
                                                     .properties = cfg->queue_kafka };
                ExecutorKafkaOptions ko = { .id = id, .kafka = &xc->kafka_options, .batch = cfg->executor_batch,
                                            .engine = xc->engine, .flows = api_flow_cache_process(),
                                            .storage_url = cfg->storage_url, .dead_after = cfg->dead_after };
                if ((r = executor_kafka_new(s, &ko, &xc->kafka, &err)) < 0) {
                        store_free(s);
                        return log_error_errno(r, "Cannot start the executor on Kafka: %s", err ? err : strerror(-r));
                }
                log_info("Executor on Kafka ('%s'), member of group 'tern-executor'.", cfg->queue_brokers);
        }
#else
        if (config_queue_is_kafka(cfg)) {
                log_error("[queue] type = kafka: this tern was built without the Kafka queue backend (librdkafka).");
                return -EINVAL;
        }
#endif
        ExecutorOptions opt = { .id = id, .batch = cfg->executor_batch, .poll = cfg->executor_poll, .engine = xc->engine,
                                .flows = api_flow_cache_process(), .storage_url = cfg->storage_url };
        if (!xc_on_kafka(xc) && (r = executor_new(s, &opt, &xc->executor)) < 0) {
                store_free(s);
                return r;
        }
        if (cfg->storage_retention == 0)
                return 0;
        if ((r = store_dup(daemon_store(d), &s)) < 0 ||
            (r = retention_start(s, cfg->storage_url, cfg->storage_retention, 0, &xc->retention)) < 0)
                return log_error_errno(r, "Cannot start the retention of executions: %m");
        char keep[DURATION_MAX];
        log_info("Ended executions are deleted with their files and logs after %s ([storage] retention).",
                 duration_format(keep, (susec_t) cfg->storage_retention));
        return 0;
}

static void xc_stop(Daemon *d, void *state, usec_t grace) {
        ExecutorComponent *xc = state;
        /* A purge in progress ends after its batch. */
        xc->retention = retention_free(xc->retention);
}

static int xc_run(void *state, int stop_fd) {
        ExecutorComponent *xc = state;
        /* Each step is one transaction: stopping between steps loses nothing. */
#if HAVE_KAFKA
        if (xc->kafka)
                return executor_kafka_run(xc->kafka, stop_fd);
#endif
        return executor_run(xc->executor, stop_fd);
}

static void xc_stats(ExecutorComponent *xc, ExecutorStats *st) {
#if HAVE_KAFKA
        if (xc->kafka) {
                executor_kafka_stats(xc->kafka, st);
                return;
        }
#endif
        executor_stats(xc->executor, st);
}

static bool xc_progress(void *state, usec_t window) {
        ExecutorComponent *xc = state;
        ExecutorStats st;
        xc_stats(xc, &st);
        return now_monotonic() - st.last_progress < window;
}

static void xc_status(void *state, StrBuf *out) {
        ExecutorComponent *xc = state;
        ExecutorStats st;
        xc_stats(xc, &st);
        strbuf_appendf(out, "%llu events applied, %llu executions ended, %llu jobs re-queued",
                       (unsigned long long) st.events, (unsigned long long) st.executions_ended,
                       (unsigned long long) st.requeued);
}

static void xc_metrics(void *state, StrBuf *out) {
        ExecutorComponent *xc = state;
        ExecutorStats st;
        xc_stats(xc, &st);
        strbuf_appendf(out,
                       "tern_executor_steps_total %llu\ntern_executor_events_total %llu\n"
                       "tern_executor_executions_ended_total %llu\ntern_executor_jobs_requeued_total %llu\n",
                       (unsigned long long) st.steps, (unsigned long long) st.events,
                       (unsigned long long) st.executions_ended, (unsigned long long) st.requeued);
}

const DaemonComponent executor_component = {
        .name = "executor",
        .coordinator = true,
        .storage = true,
        .start = xc_start,
        .run = xc_run,
        .stop = xc_stop,
        .free = xc_free,
        .progress = xc_progress,
        .status = xc_status,
        .metrics = xc_metrics,
};

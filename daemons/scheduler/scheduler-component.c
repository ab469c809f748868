/* scheduler-component.c: the scheduler's descriptor for the daemon frame: its loop on a thread of
 * its own, its status and metrics. */
#include <stdlib.h>

#include "flow-cache.h"
#include "log.h"
#include "scheduler-component.h"
#include "scheduler.h"
#include "variables.h"
#if HAVE_KAFKA
#include "scheduler-kafka.h"
#endif

typedef struct SchedulerComponent {
        Scheduler *scheduler;
        EngineConfig engine;
#if HAVE_KAFKA
        KafkaOptions kafka_options;
        SchedulerKafka *kafka; /* [queue] type = kafka: where firings start their executions */
#endif
} SchedulerComponent;

static void sc_free(void *state) {
        SchedulerComponent *sc = state;
        if (!sc)
                return;
        scheduler_free(sc->scheduler);
#if HAVE_KAFKA
        scheduler_kafka_free(sc->kafka);
#endif
        runtime_engine_config_done(&sc->engine);
        free(sc);
}

static int sc_start(Daemon *d, const char *id, const void *params, void **ret) {
        _cleanup_free_ char *err = NULL;
        Store *s = NULL;
        int r;

        SchedulerComponent *sc = calloc(1, sizeof *sc);
        if (!sc)
                return -ENOMEM;
        *ret = sc; /* freed by sc_free whatever happens next */
        if ((r = runtime_engine_config(&sc->engine, &err)) < 0) {
                if (err)
                        log_error("%s", err);
                return r;
        }
        SchedulerOptions opt = { .id = id, .engine = sc->engine, .flows = api_flow_cache_process() };
        if (config_queue_is_kafka(daemon_config(d))) {
#if HAVE_KAFKA
                const TernConfig *cfg = daemon_config(d);
                /* The configuration is the daemon's for as long as the component lives (a change
                 * of [queue] needs a restart: config_restart_needed()). */
                sc->kafka_options = (KafkaOptions) { .brokers = cfg->queue_brokers,
                                                     .topic_prefix = cfg->queue_topic_prefix,
                                                     .partitions = cfg->queue_partitions,
                                                     .replication = cfg->queue_replication,
                                                     .properties = cfg->queue_kafka };
                if ((r = scheduler_kafka_new(&sc->kafka_options, &sc->kafka, &err)) < 0)
                        return log_error_errno(r, "Cannot start the scheduler on Kafka: %s", err ? err : strerror(-r));
                opt.start = scheduler_kafka_start;
                opt.start_userdata = sc->kafka;
                opt.kafka = true;
                log_info("Scheduler on Kafka ('%s'): triggers start executions on execution-events.",
                         cfg->queue_brokers);
#else
                log_error("[queue] type = kafka: this tern was built without the Kafka queue backend (librdkafka).");
                return -EINVAL;
#endif
        }
        if ((r = store_dup(daemon_store(d), &s)) < 0)
                return r;
        if ((r = scheduler_new(s, &opt, &sc->scheduler)) < 0)
                store_free(s);
        return r;
}

static int sc_run(void *state, int stop_fd) {
        SchedulerComponent *sc = state;
        /* Flows stored before this scheduler ran get their trigger rows first; then each step is one
         * transaction: stopping between steps loses nothing. */
        return scheduler_run(sc->scheduler, stop_fd);
}

static bool sc_progress(void *state, usec_t window) {
        SchedulerComponent *sc = state;
        SchedulerStats st;
        scheduler_stats(sc->scheduler, &st);
        return now_monotonic() - st.last_progress < window;
}

static void sc_status(void *state, StrBuf *out) {
        SchedulerComponent *sc = state;
        SchedulerStats st;
        scheduler_stats(sc->scheduler, &st);
        strbuf_appendf(out, "%llu executions triggered, %llu skipped, %llu flows synced",
                       (unsigned long long) st.executions, (unsigned long long) st.skipped,
                       (unsigned long long) st.flows_synced);
}

static void sc_metrics(void *state, StrBuf *out) {
        SchedulerComponent *sc = state;
        SchedulerStats st;
        scheduler_stats(sc->scheduler, &st);
        strbuf_appendf(out,
                       "tern_scheduler_steps_total %llu\ntern_scheduler_executions_total %llu\n"
                       "tern_scheduler_skipped_total %llu\n",
                       (unsigned long long) st.steps, (unsigned long long) st.executions,
                       (unsigned long long) st.skipped);
}

const DaemonComponent scheduler_component = {
        .name = "scheduler",
        .start = sc_start,
        .run = sc_run,
        .free = sc_free,
        .progress = sc_progress,
        .status = sc_status,
        .metrics = sc_metrics,
};

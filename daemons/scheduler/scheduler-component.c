/* scheduler-component.c: the scheduler's descriptor for the daemon frame: its loop on a thread of
 * its own, its status and metrics. */
#include <stdlib.h>

#include "flow-cache.h"
#include "log.h"
#include "scheduler-component.h"
#include "scheduler.h"
#include "variables.h"

typedef struct SchedulerComponent {
        Scheduler *scheduler;
        EngineConfig engine;
} SchedulerComponent;

static void sc_free(void *state) {
        SchedulerComponent *sc = state;
        if (!sc)
                return;
        scheduler_free(sc->scheduler);
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
        if ((r = store_dup(daemon_store(d), &s)) < 0)
                return r;
        SchedulerOptions opt = { .id = id, .engine = sc->engine, .flows = api_flow_cache_process() };
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

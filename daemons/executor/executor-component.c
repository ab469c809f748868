/* executor-component.c: the executor's descriptor for the daemon frame: its options from the
 * configuration, its loop on a thread of its own, its status and metrics. */
#include <stdlib.h>

#include "executor-component.h"
#include "executor.h"
#include "flow-cache.h"
#include "log.h"
#include "retention.h"
#include "variables.h"

typedef struct ExecutorComponent {
        Executor *executor;
        EngineConfig engine;
        Retention *retention; /* [storage] retention; NULL: executions are kept */
} ExecutorComponent;

static void xc_free(void *state) {
        ExecutorComponent *xc = state;
        if (!xc)
                return;
        retention_free(xc->retention);
        executor_free(xc->executor);
        runtime_engine_config_done(&xc->engine);
        free(xc);
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
        ExecutorOptions opt = { .id = id, .batch = cfg->executor_batch, .poll = cfg->executor_poll, .engine = xc->engine,
                                .flows = api_flow_cache_process(), .storage_url = cfg->storage_url };
        if ((r = executor_new(s, &opt, &xc->executor)) < 0) {
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
        return executor_run(xc->executor, stop_fd);
}

static bool xc_progress(void *state, usec_t window) {
        ExecutorComponent *xc = state;
        ExecutorStats st;
        executor_stats(xc->executor, &st);
        return now_monotonic() - st.last_progress < window;
}

static void xc_status(void *state, StrBuf *out) {
        ExecutorComponent *xc = state;
        ExecutorStats st;
        executor_stats(xc->executor, &st);
        strbuf_appendf(out, "%llu events applied, %llu executions ended, %llu jobs re-queued",
                       (unsigned long long) st.events, (unsigned long long) st.executions_ended,
                       (unsigned long long) st.requeued);
}

static void xc_metrics(void *state, StrBuf *out) {
        ExecutorComponent *xc = state;
        ExecutorStats st;
        executor_stats(xc->executor, &st);
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

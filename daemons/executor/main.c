/* main.c: tern-executor, the executor component as a systemd service (and the liveness coordinator). */
#include "daemon.h"
#include "executor.h"
#include "log.h"
#include "variables.h"

typedef struct ExecutorDaemon {
        Executor *executor;
        EngineConfig engine;
} ExecutorDaemon;

static int xd_start(Daemon *d, void *userdata) {
        ExecutorDaemon *xd = userdata;
        const TernConfig *cfg = daemon_config(d);
        _cleanup_free_ char *err = NULL;
        Store *s = NULL;
        int r;

        if ((r = runtime_engine_config(&xd->engine, &err)) < 0) {
                if (err)
                        log_error("%s", err);
                return r;
        }
        if ((r = store_dup(daemon_store(d), &s)) < 0)
                return r;
        ExecutorOptions opt = {
                .id = daemon_id(d), .batch = cfg->executor_batch, .poll = cfg->executor_poll, .engine = xd->engine,
        };
        return executor_new(s, &opt, &xd->executor);
}

static int xd_step(Daemon *d, void *userdata) {
        ExecutorDaemon *xd = userdata;
        int r = executor_step(xd->executor);
        if (r < 0)
                log_error_errno(r, "Executor step failed: %m");
        return r > 0 && !executor_more_due(xd->executor) ? 0 : r;
}

static int xd_wait(Daemon *d, void *userdata, int fd) {
        ExecutorDaemon *xd = userdata;
        return executor_wait(xd->executor, fd);
}

static void xd_stop(Daemon *d, void *userdata, usec_t grace) {
        /* Each step is one transaction: stopping between steps loses nothing. */
}

static void xd_status(void *userdata, StrBuf *out) {
        ExecutorDaemon *xd = userdata;
        ExecutorStats st;
        executor_stats(xd->executor, &st);
        strbuf_appendf(out, "%llu events applied, %llu executions ended, %llu jobs re-queued",
                       (unsigned long long) st.events, (unsigned long long) st.executions_ended,
                       (unsigned long long) st.requeued);
}

static void xd_metrics(void *userdata, StrBuf *out) {
        ExecutorDaemon *xd = userdata;
        ExecutorStats st;
        executor_stats(xd->executor, &st);
        strbuf_appendf(out,
                       "tern_executor_steps_total %llu\ntern_executor_events_total %llu\n"
                       "tern_executor_executions_ended_total %llu\ntern_executor_jobs_requeued_total %llu\n",
                       (unsigned long long) st.steps, (unsigned long long) st.events,
                       (unsigned long long) st.executions_ended, (unsigned long long) st.requeued);
}

int main(int argc, char *argv[]) {
        static const DaemonOps ops = {
                .component = "executor",
                .coordinator = true,
                .start = xd_start,
                .step = xd_step,
                .wait = xd_wait,
                .stop = xd_stop,
                .status = xd_status,
                .metrics = xd_metrics,
        };
        ExecutorDaemon xd = {};
        int r = daemon_main(&ops, &xd, argc, argv);
        executor_free(xd.executor);
        runtime_engine_config_done(&xd.engine);
        return r;
}

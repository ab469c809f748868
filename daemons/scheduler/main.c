/* main.c: tern-scheduler, the scheduler component (Schedule and Flow triggers) as a systemd service. */
#include "daemon.h"
#include "log.h"
#include "scheduler.h"
#include "variables.h"

typedef struct SchedulerDaemon {
        Scheduler *scheduler;
        EngineConfig engine;
        bool synced;
} SchedulerDaemon;

static int sd_start(Daemon *d, void *userdata) {
        SchedulerDaemon *sd = userdata;
        _cleanup_free_ char *err = NULL;
        Store *s = NULL;
        int r;

        if ((r = runtime_engine_config(&sd->engine, &err)) < 0) {
                if (err)
                        log_error("%s", err);
                return r;
        }
        if ((r = store_dup(daemon_store(d), &s)) < 0)
                return r;
        SchedulerOptions opt = { .id = daemon_id(d), .engine = sd->engine };
        return scheduler_new(s, &opt, &sd->scheduler);
}

static int sd_step(Daemon *d, void *userdata) {
        SchedulerDaemon *sd = userdata;
        int r;
        if (!sd->synced) {
                /* Flows stored before this scheduler ran get their trigger rows first. */
                if ((r = scheduler_sync_all(sd->scheduler)) < 0)
                        return log_error_errno(r, "Cannot register the triggers of stored flows: %m");
                sd->synced = true;
        }
        r = scheduler_step(sd->scheduler);
        if (r < 0)
                log_error_errno(r, "Scheduler step failed: %m");
        return r;
}

static int sd_wait(Daemon *d, void *userdata, int fd) {
        SchedulerDaemon *sd = userdata;
        return scheduler_wait(sd->scheduler, fd);
}

static void sd_stop(Daemon *d, void *userdata, usec_t grace) {
        /* Each step is one transaction: stopping between steps loses nothing. */
}

static void sd_status(void *userdata, StrBuf *out) {
        SchedulerDaemon *sd = userdata;
        SchedulerStats st;
        scheduler_stats(sd->scheduler, &st);
        strbuf_appendf(out, "%llu executions triggered, %llu skipped, %llu flows synced",
                       (unsigned long long) st.executions, (unsigned long long) st.skipped,
                       (unsigned long long) st.flows_synced);
}

static void sd_metrics(void *userdata, StrBuf *out) {
        SchedulerDaemon *sd = userdata;
        SchedulerStats st;
        scheduler_stats(sd->scheduler, &st);
        strbuf_appendf(out,
                       "tern_scheduler_steps_total %llu\ntern_scheduler_executions_total %llu\n"
                       "tern_scheduler_skipped_total %llu\n",
                       (unsigned long long) st.steps, (unsigned long long) st.executions,
                       (unsigned long long) st.skipped);
}

int main(int argc, char *argv[]) {
        static const DaemonOps ops = {
                .component = "scheduler",
                .start = sd_start,
                .step = sd_step,
                .wait = sd_wait,
                .stop = sd_stop,
                .status = sd_status,
                .metrics = sd_metrics,
        };
        SchedulerDaemon sd = {};
        int r = daemon_main(&ops, &sd, argc, argv);
        scheduler_free(sd.scheduler);
        runtime_engine_config_done(&sd.engine);
        return r;
}

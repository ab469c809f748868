/* daemon.c: the shared life cycle of the tern daemons and of 'tern server ...', one or several
 * components per process. */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "daemon.h"
#include "flow.h"
#include "liveness.h"
#include "log.h"
#include "notify.h"
#include "plugin.h"
#include "status-socket.h"
#include "storage.h"
#include "strutil.h"
#include "version.h"

#define DAEMON_TICK_USEC (1 * USEC_PER_SEC)

/* Named outcome of daemon_setup(): asked to stop (SIGTERM) before it was ready, a clean exit. */
#define DAEMON_SETUP_STOPPED 1

/* One component of this process. */
typedef struct DaemonUnit {
        const DaemonComponent *c;
        const void *params;
        char *id;
        void *state;
        Liveness *liveness;
        int stop_fd; /* eventfd: run() returns once it is readable */
        pthread_t thread;
        bool started, thread_running;
} DaemonUnit;

struct Daemon {
        const DaemonOptions *opt;
        char label[64]; /* "worker", "worker@1", "standalone" */
        TernConfig cfg;
        sd_event *event;
        Store *store;
        StatusSocket *status;
        NotifyWatchdog *watchdog;
        sd_event_source *tick;
        DaemonUnit *units;
        size_t n_units;
        /* Monotonic: a step of this host's clock neither hurries nor holds back beats and sweeps
         * (the heartbeats themselves are stamped with the cluster's clock, liveness.c). */
        usec_t last_beat;
        usec_t reap_after; /* the coordinator sweeps from then on (USEC_INFINITY: after the next good beat) */
        bool db_ok, stopping, declared_dead, started;
        int exit_code;
        uint64_t beat_failures, reaped_instances, reaped_jobs;
        /* eventfd, readable from the stop request on: every Store of the process has it as its
         * cancel fd (store_set_cancel_fd()), so that no database wait outlives a stop. */
        int stop_fd;
        /* Takes SIGTERM and SIGINT: the main thread, which runs sd-event, may itself be in a
         * database call (a heartbeat, a component's start) when the stop request comes. */
        pthread_t signal_thread;
        bool signal_thread_running;
        atomic_bool exiting; /* the signal thread is being ended without a signal */
};

const TernConfig *daemon_config(const Daemon *d) {
        return &d->cfg;
}
Store *daemon_store(Daemon *d) {
        return d->store;
}
const char *daemon_instance(const Daemon *d) {
        return d->opt->instance;
}

static void daemon_status_line(Daemon *d, StrBuf *out) {
        if (d->stopping)
                strbuf_append(out, "stopping; ");
        if (!d->started)
                strbuf_append(out, "starting");
        else
                for (size_t i = 0; i < d->n_units; i++) {
                        DaemonUnit *u = &d->units[i];
                        if (!u->c->status)
                                continue;
                        /* Several components: each summary says whose it is. */
                        if (d->n_units > 1)
                                strbuf_appendf(out, "%s%s: ", i ? "; " : "", u->c->name);
                        u->c->status(u->state, out);
                }
        strbuf_appendf(out, "%s%sdb %s", out->len ? "," : "", out->len ? " " : "", d->db_ok ? "ok" : "unreachable");
}

static int on_status_request(void *userdata, StatusRequest what, StrBuf *out) {
        Daemon *d = userdata;
        switch (what) {
        case STATUS_HEALTH:
                if (d->stopping || !d->db_ok) {
                        strbuf_append(out, d->stopping ? "stopping" : "database unreachable");
                        return 1;
                }
                strbuf_append(out, "ok");
                return 0;
        case STATUS_STATUS:
                if (d->n_units == 1)
                        strbuf_appendf(out, "%s %s: ", d->label, d->units[0].id);
                else
                        strbuf_appendf(out, "%s (pid %d): ", d->label, (int) getpid());
                daemon_status_line(d, out);
                return 0;
        case STATUS_METRICS: {
                uint64_t pings, skipped;
                bool coordinator = false;
                notify_watchdog_counts(d->watchdog, &pings, &skipped);
                for (size_t i = 0; i < d->n_units; i++) {
                        strbuf_appendf(out, "tern_up{component=\"%s\"} 1\n", d->units[i].c->name);
                        coordinator = coordinator || d->units[i].c->coordinator;
                }
                strbuf_appendf(out,
                               "tern_database_ok %d\n"
                               "tern_heartbeat_failures_total %llu\n"
                               "tern_watchdog_pings_total %llu\n"
                               "tern_watchdog_skipped_total %llu\n",
                               d->db_ok, (unsigned long long) d->beat_failures, (unsigned long long) pings,
                               (unsigned long long) skipped);
                if (coordinator)
                        strbuf_appendf(out,
                                       "tern_instances_declared_dead_total %llu\n"
                                       "tern_jobs_requeued_from_dead_total %llu\n",
                                       (unsigned long long) d->reaped_instances, (unsigned long long) d->reaped_jobs);
                for (size_t i = 0; d->started && i < d->n_units; i++)
                        if (d->units[i].c->metrics)
                                d->units[i].c->metrics(d->units[i].state, out);
                return 0;
        }
        }
        return 0;
}

static bool daemon_progress(void *userdata, usec_t window) {
        Daemon *d = userdata;
        /* Every component must be turning: one hung loop is a hung process. */
        for (size_t i = 0; i < d->n_units; i++)
                if (d->units[i].c->progress && !d->units[i].c->progress(d->units[i].state, window))
                        return false;
        return true;
}

static void daemon_request_stop(Daemon *d) {
        uint64_t one = 1;
        (void) !write(d->stop_fd, &one, sizeof one);
}

static void daemon_begin_stop(Daemon *d) {
        daemon_request_stop(d);
        if (d->stopping)
                return;
        d->stopping = true;
        (void) sd_event_exit(d->event, 0);
}

static void *signal_thread(void *arg) {
        Daemon *d = arg;
        sigset_t ss;
        int sig;

        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        while ((sig = sigwaitinfo(&ss, NULL)) < 0 && errno == EINTR)
                ;
        if (atomic_load(&d->exiting))
                return NULL;
        log_info("Received %s; stopping.", sig > 0 ? strsignal(sig) : "a stop request");
        daemon_request_stop(d);
        return NULL;
}

/* The main thread learns of the stop request from stop_fd (the signal thread wrote it). */
static int on_stop_request(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        (void) sd_event_source_set_enabled(s, SD_EVENT_OFF); /* it stays readable */
        daemon_begin_stop(userdata);
        return 0;
}

static void daemon_reap(Daemon *d, DaemonUnit *u) {
        unsigned jobs = 0;
        int r = liveness_reap(u->liveness, &jobs);
        if (r > 0) {
                d->reaped_instances += (uint64_t) r;
                d->reaped_jobs += jobs;
                log_warning("Declared %d silent instance(s) dead (no heartbeat for %llus); re-queued %u of their job(s).",
                            r, (unsigned long long) (d->cfg.dead_after / USEC_PER_SEC), jobs);
        } else if (r < 0)
                log_warning_errno(r, "Cannot sweep dead instances: %m");
}

static void daemon_heartbeat(Daemon *d, usec_t now) {
        bool ok = true;
        for (size_t i = 0; i < d->n_units && !d->declared_dead; i++) {
                DaemonUnit *u = &d->units[i];
                int r = liveness_beat(u->liveness, d->stopping ? "STOPPING" : "RUNNING");
                if (r == LIVENESS_DEAD) {
                        log_error("This %s (%s) was declared dead by the coordinator (silent for more than %llus); "
                                  "its work was handed to others. Exiting.",
                                  u->c->name, u->id, (unsigned long long) (d->cfg.dead_after / USEC_PER_SEC));
                        d->declared_dead = true;
                        d->exit_code = 1;
                        daemon_begin_stop(d);
                        return;
                }
                if (r < 0) {
                        ok = false;
                        d->beat_failures++;
                        log_warning_errno(r, "Cannot write the heartbeat of the %s: %m", u->c->name);
                }
        }
        d->db_ok = ok;
        if (!ok) {
                /* Everyone lost the database with us: once it is back, the others need a whole
                 * dead-after period to show that they live before any of them is declared dead. */
                d->reap_after = USEC_INFINITY;
                return;
        }
        if (d->reap_after == USEC_INFINITY)
                d->reap_after = now + d->cfg.dead_after;
        for (size_t i = 0; i < d->n_units && now >= d->reap_after; i++)
                if (d->units[i].c->coordinator)
                        daemon_reap(d, &d->units[i]);
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        usec_t now = now_monotonic();
        if (now - d->last_beat >= d->cfg.heartbeat) {
                d->last_beat = now;
                daemon_heartbeat(d, now);
        }
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        daemon_status_line(d, &sb);
        if (!sb.error)
                notify_status(sb.buf);
        return sd_event_source_set_time(s, usec + DAEMON_TICK_USEC);
}

static void daemon_reload(Daemon *d) {
        TernConfig n;
        _cleanup_strv_free_ char **errors = NULL;

        notify_reloading();
        int r = config_load_from(&d->opt->config, &n, &errors);
        if (r < 0) {
                for (size_t i = 0; errors && errors[i]; i++)
                        log_error("%s", errors[i]);
                log_error_errno(r, "Reload refused: the new configuration is invalid; keeping the running one.");
                notify_ready(NULL);
                return;
        }
        _cleanup_free_ char *restart = config_restart_needed(&d->cfg, &n);
        if (restart && *restart)
                log_notice("Configuration reloaded; these settings take effect on restart only: %s.", restart);
        else
                log_info("Configuration reloaded.");
        if (!getenv("TERN_LOG_LEVEL"))
                log_set_max_level(n.log_level);
        flow_set_max_tasks(n.flow_max_tasks);
        /* Components copied what they use at start; the rest (grace, liveness, log level) is read live. */
        config_done(&d->cfg);
        d->cfg = n;
        notify_ready(NULL);
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        daemon_reload(userdata);
        return 0;
}

static int daemon_open_store(Daemon *d) {
        _cleanup_free_ char *url = NULL;
        int r = d->opt->db_url ? ((url = strdup(d->opt->db_url)) ? 0 : -ENOMEM) : config_db_url(&d->cfg, &url);
        if (r < 0)
                return log_oom();
        /* READY=1 waits for the database: keep trying (and answering signals) until it answers. */
        for (unsigned attempt = 0;; attempt++) {
                Store *s = NULL;
                r = store_open(url, &s);
                if (r >= 0) {
                        store_set_cancel_fd(s, d->stop_fd);
                        r = store_check_schema(s, NULL);
                        if (r == -EPROTO && store_backend(s) == STORE_BACKEND_SQLITE) {
                                r = store_migrate(s);
                                r = r < 0 ? r : store_check_schema(s, NULL);
                        }
                        if (r == -EPROTO) {
                                log_error("Database schema mismatch: %s", store_error(s));
                                store_free(s);
                                return -EPROTO;
                        }
                }
                if (r >= 0) {
                        d->store = s;
                        return 0;
                }
                char msg[256];
                snprintf(msg, sizeof msg, "waiting for the database: %s", s ? store_error(s) : strerror(-r));
                if (r == -EINVAL) {
                        log_error("Invalid database URL%s.", d->opt->db_url ? "" : " in the configuration");
                        store_free(s);
                        return r;
                }
                if (attempt == 0 || attempt % 30 == 0)
                        log_warning("Cannot connect to the database (%s); retrying.", s ? store_error(s) : strerror(-r));
                store_free(s);
                notify_status(msg);
                /* Sleep a second in the event loop so that SIGTERM ends the wait. */
                r = sd_event_run(d->event, USEC_PER_SEC);
                if (r < 0 || d->stopping || sd_event_get_state(d->event) == SD_EVENT_FINISHED) {
                        log_notice("Stopped before the database answered (%s).", msg + strlen("waiting for the database: "));
                        return -ECANCELED;
                }
        }
}

static int daemon_register(Daemon *d, DaemonUnit *u) {
        Store *ls = NULL;
        int r;
        if ((r = store_dup(d->store, &ls)) < 0 ||
            (r = liveness_new(ls, &(LivenessOptions) { .id = u->id, .component = u->c->name, .dead_after = d->cfg.dead_after },
                              &u->liveness)) < 0)
                return log_error_errno(r, "Cannot open the liveness connection: %s",
                                       store_error(ls ? ls : d->store)); /* (a failed dup says why on d->store) */
        _cleanup_json_ json_t *info = json_pack("{s:s, s:s?, s:s}", "version", version_string(), "instance", d->opt->instance,
                                                "unit", getenv("INVOCATION_ID") ? "systemd" : "foreground");
        if (info && u->c->info)
                u->c->info(d, u->state, info);
        if ((r = liveness_register(u->liveness, info)) < 0)
                return log_error_errno(r, "Cannot register this %s: %m", u->c->name);
        return 0;
}

/* The internal storage, once for the process when one of its components uses it: a URL or
 * credentials it cannot use are a configuration error; a service that does not answer yet is not
 * (the components' requests retry, and say why they fail). */
static int daemon_check_storage(Daemon *d) {
        bool needed = false;
        for (size_t i = 0; i < d->n_units; i++)
                needed = needed || d->units[i].c->storage;
        if (!needed)
                return 0;
        _cleanup_storage_ Storage *s = NULL;
        _cleanup_free_ char *err = NULL;
        /* Only a warning: not worth the requests' 30 s of retries before the start. */
        const StorageOptions quick = { .retry_for = 3 * USEC_PER_SEC };
        int r = storage_open(d->cfg.storage_url, &quick, &s, &err);
        if (r == -ENOMEM)
                return log_oom();
        if (r < 0) {
                log_error("Invalid configuration: [storage] url: %s", err ? err : strerror(-r));
                return -EINVAL;
        }
        notify_status("checking the internal storage");
        if ((r = storage_check(s)) < 0)
                log_warning("The internal storage does not answer as it should yet: %s", storage_error(s));
        else
                log_debug("Internal storage: %s (%s).", d->cfg.storage_url, storage_kind_name(s));
        return 0;
}

/* 0 when ready to start the components, DAEMON_SETUP_STOPPED, or a negative errno (logged):
 * -EINVAL for an invalid configuration or database URL. */
static int daemon_setup(Daemon *d) {
        int r;

        if (d->opt->loaded) {
                d->cfg = *d->opt->loaded;
                *d->opt->loaded = (TernConfig) {};
        } else {
                _cleanup_strv_free_ char **errors = NULL;
                r = config_load_from(&d->opt->config, &d->cfg, &errors);
                if (r < 0) {
                        for (size_t i = 0; errors && errors[i]; i++)
                                log_error("%s", errors[i]);
                        return log_error_errno(r, "Invalid configuration; see 'tern config check'.");
                }
        }
        if (!getenv("TERN_LOG_LEVEL"))
                log_set_max_level(d->cfg.log_level);
        for (size_t i = 0; i < d->n_units; i++) {
                const char *unsupported = config_queue_unsupported(&d->cfg, d->units[i].c->name);
                if (unsupported) {
                        log_error("%s.", unsupported);
                        return -EINVAL;
                }
        }
        flow_set_max_tasks(d->cfg.flow_max_tasks);
        /* Before any thread: every component looks task types up (flows are validated by the webserver
         * and the executor, run by the worker). Already done by a front end that validated first. */
        _cleanup_strv_free_ char **problems = NULL;
        r = plugins_setup(d->cfg.plugins_path, &problems);
        if (r == -ENOMEM)
                return log_oom();
        for (char **p = problems; p && *p; p++)
                log_warning("Plugin: %s", *p);
        for (size_t i = 0; i < d->n_units; i++)
                if ((r = liveness_make_id(d->units[i].c->name, d->opt->instance, &d->units[i].id)) < 0)
                        return log_oom();

        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        /* Blocked in every thread (started later, they inherit the mask): the signal thread takes
         * SIGTERM and SIGINT, the event loop SIGHUP. */
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m");
        signal(SIGPIPE, SIG_IGN);
        if ((d->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
                return log_error_errno(errno, "Cannot set up the event loop: %m");
        if ((r = sd_event_default(&d->event)) < 0 || (r = sd_event_add_signal(d->event, NULL, SIGHUP, on_sighup, d)) < 0 ||
            (r = sd_event_add_io(d->event, NULL, d->stop_fd, EPOLLIN, on_stop_request, d)) < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m");
        if ((r = -pthread_create(&d->signal_thread, NULL, signal_thread, d)) < 0)
                return log_error_errno(r, "Cannot start the signal thread: %m");
        d->signal_thread_running = true;

        _cleanup_free_ char *sock = strdup_printf("%s/%s.sock", d->cfg.runtime_dir, d->label);
        if (!sock)
                return log_oom();
        r = status_socket_new(d->event, sock, on_status_request, d, &d->status);
        if (r < 0)
                log_warning_errno(r, "Cannot listen on the status socket '%s': %m; running without it.", sock);
        else if (status_socket_activated(d->status))
                log_debug("Status socket passed by systemd.");

        if ((r = daemon_check_storage(d)) < 0)
                return r;

        notify_status("connecting to the database");
        r = daemon_open_store(d);
        if (r == -ECANCELED)
                return DAEMON_SETUP_STOPPED;
        if (r < 0)
                return r;
        d->db_ok = true;
        return 0;
}

static void *unit_thread(void *arg) {
        DaemonUnit *u = arg;
        (void) u->c->run(u->state, u->stop_fd);
        return NULL;
}

static int daemon_start_unit(Daemon *d, DaemonUnit *u) {
        int r = u->c->start(d, u->id, u->params, &u->state);
        if (r < 0 && store_error_unreachable(r))
                /* The connections a component opens from the process's say why on it. */
                return log_error_errno(r, "Cannot start the %s: %s", u->c->name, store_error(d->store));
        if (r < 0)
                return log_error_errno(r, "Cannot start the %s: %m", u->c->name);
        u->started = true;
        if ((r = daemon_register(d, u)) < 0)
                return r;
        if (!u->c->run)
                return 0;
        if ((u->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0)
                return log_error_errno(errno, "Cannot start the %s: %m", u->c->name);
        if ((r = -pthread_create(&u->thread, NULL, unit_thread, u)) < 0)
                return log_error_errno(r, "Cannot start the %s's thread: %m", u->c->name);
        u->thread_running = true;
        return 0;
}

/* Last started, first stopped: the workers finish their tasks while the executor still applies
 * their results. */
static void daemon_stop_units(Daemon *d, usec_t grace) {
        uint64_t one = 1;
        for (size_t i = d->n_units; i-- > 0;) {
                DaemonUnit *u = &d->units[i];
                if (u->thread_running) {
                        (void) !write(u->stop_fd, &one, sizeof one);
                        pthread_join(u->thread, NULL);
                        u->thread_running = false;
                }
                if (u->started && u->c->stop)
                        u->c->stop(d, u->state, grace);
        }
}

static void daemon_loop(Daemon *d) {
        int r;

        for (size_t i = 0; i < d->n_units; i++)
                if ((r = daemon_start_unit(d, &d->units[i])) < 0) {
                        d->exit_code = 1;
                        daemon_stop_units(d, 0);
                        for (size_t j = 0; j <= i; j++)
                                if (d->units[j].liveness)
                                        (void) liveness_unregister(d->units[j].liveness);
                        return;
                }
        d->started = true;
        d->last_beat = now_monotonic();
        d->reap_after = d->last_beat + d->cfg.dead_after;

        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        daemon_status_line(d, &sb);
        notify_ready(sb.buf);
        if (d->n_units == 1)
                log_info("%s %s running (%s).", d->label, d->units[0].id, strempty(sb.buf));
        else
                log_info("%s running (%s).", d->label, strempty(sb.buf));
        if ((r = notify_watchdog_new(d->event, daemon_progress, d, &d->watchdog)) < 0)
                log_warning_errno(r, "Cannot arm the watchdog: %m");
        if (sd_event_add_time_relative(d->event, &d->tick, CLOCK_MONOTONIC, DAEMON_TICK_USEC, 0, on_tick, d) >= 0)
                (void) sd_event_source_set_enabled(d->tick, SD_EVENT_ON); /* not one-shot */
        if (!d->stopping)
                (void) sd_event_loop(d->event);

        notify_stopping("stopping");
        for (size_t i = 0; i < d->n_units && !d->declared_dead; i++)
                (void) liveness_beat(d->units[i].liveness, "STOPPING");
        log_info("Stopping%s.", d->declared_dead ? " at once" : "");
        daemon_stop_units(d, d->declared_dead ? 0 : d->cfg.grace);
        /* With the database gone, each of these tried once (the stop request cut their waits). */
        const Liveness *unreachable = NULL;
        for (size_t i = 0; i < d->n_units && !d->declared_dead; i++)
                if (d->units[i].liveness && (r = liveness_unregister(d->units[i].liveness)) < 0 && store_error_unreachable(r))
                        unreachable = d->units[i].liveness;
        if (unreachable)
                log_warning("Stopped without the database (%s): this %s's heartbeat row stays until the coordinator "
                            "declares it dead, and what it held comes back when its leases end.",
                            liveness_error(unreachable), d->label);
        else
                log_info("Stopped.");
}

int daemon_run(const DaemonOptions *opt) {
        Daemon d = { .opt = opt, .n_units = opt->n_parts };
        int r;

        /* The state the servers write (database, storage, task directories) is not world-readable,
         * also when they run outside their units (whose UMask=0027 says the same). */
        umask(0027);
        snprintf(d.label, sizeof d.label, "%s%s%s", opt->name, opt->instance ? "@" : "", strempty(opt->instance));
        d.stop_fd = -EBADF;
        d.units = calloc(opt->n_parts, sizeof *d.units);
        if (!d.units)
                return log_oom(), 1;
        for (size_t i = 0; i < d.n_units; i++)
                d.units[i] = (DaemonUnit) { .c = opt->parts[i].component, .params = opt->parts[i].params, .stop_fd = -EBADF };

        r = daemon_setup(&d);
        if (r == 0)
                daemon_loop(&d);
        r = r == DAEMON_SETUP_STOPPED ? 0 : r == -EINVAL ? DAEMON_EXIT_CONFIG : r < 0 ? 1 : d.exit_code;

        if (d.signal_thread_running) {
                atomic_store(&d.exiting, true);
                (void) pthread_kill(d.signal_thread, SIGTERM); /* (returned already if one came) */
                pthread_join(d.signal_thread, NULL);
        }
        notify_watchdog_free(d.watchdog);
        sd_event_source_disable_unref(d.tick);
        status_socket_free(d.status);
        for (size_t i = 0; i < d.n_units; i++) {
                DaemonUnit *u = &d.units[i];
                if (u->state && u->c->free)
                        u->c->free(u->state);
                liveness_free(u->liveness);
                safe_close(u->stop_fd);
                free(u->id);
        }
        free(d.units);
        store_free(d.store);
        sd_event_unref(d.event);
        safe_close(d.stop_fd);
        config_done(&d.cfg);
        return r;
}

static void daemon_help(const DaemonComponent *c) {
        printf("Usage: tern-%s [--config FILE] [--instance NAME]\n\n"
               "Run the tern %s as a service (systemd Type=notify, socket activation of its status socket).\n\n"
               "Options:\n"
               "  -c, --config FILE    configuration file (default: $TERN_CONFIG, else %s; drop-ins in FILE.d/)\n"
               "  -i, --instance NAME  instance name (tern-worker@NAME.service passes %%i)\n"
               "  -h, --help           this help\n"
               "      --version        print the version\n\n"
               "Signals: SIGTERM stops gracefully, SIGHUP reloads the configuration.\n"
               "Check the configuration with 'tern config check'.\n",
               c->name, c->name, CONFIG_DEFAULT_PATH);
}

int daemon_main(const DaemonComponent *c, const void *params, int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "instance", required_argument, NULL, 'i' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        const DaemonPart part = { c, params };
        DaemonOptions opt = { .name = c->name, .parts = &part, .n_parts = 1 };
        char ident[64];
        int ch;

        while ((ch = getopt_long(argc, argv, "c:i:h", options, NULL)) >= 0)
                switch (ch) {
                case 'c':
                        opt.config.path = optarg;
                        break;
                case 'i':
                        opt.instance = optarg;
                        break;
                case 'h':
                        daemon_help(c);
                        return 0;
                case 'V':
                        printf("tern %s\n", version_string());
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "tern-%s: unexpected argument '%s'\n", c->name, argv[optind]);
                return 2;
        }
        snprintf(ident, sizeof ident, "tern-%s", c->name);
        log_setup(ident, c->name);
        return daemon_run(&opt);
}

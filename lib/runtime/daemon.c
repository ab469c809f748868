/* daemon.c: the shared life cycle of tern-executor, tern-worker and tern-scheduler. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "daemon.h"
#include "flow.h"
#include "liveness.h"
#include "log.h"
#include "notify.h"
#include "status-socket.h"
#include "strutil.h"
#include "version.h"

#define DAEMON_TICK_USEC (1 * USEC_PER_SEC)

struct Daemon {
        const DaemonOps *ops;
        void *userdata;
        const char *config_path, *instance;
        char *id;
        char component[64]; /* "worker" or "worker@1" */
        TernConfig cfg;
        sd_event *event;
        Store *store;
        Liveness *liveness;
        StatusSocket *status;
        NotifyWatchdog *watchdog;
        sd_event_source *tick;
        usec_t last_beat;
        bool db_ok, stopping, declared_dead, started;
        int exit_code;
        uint64_t beat_failures, reaped_instances, reaped_jobs;
};

const TernConfig *daemon_config(const Daemon *d) {
        return &d->cfg;
}
Store *daemon_store(Daemon *d) {
        return d->store;
}
const char *daemon_id(const Daemon *d) {
        return d->id;
}
const char *daemon_instance(const Daemon *d) {
        return d->instance;
}

static void daemon_status_line(Daemon *d, StrBuf *out) {
        if (d->stopping)
                strbuf_append(out, "stopping; ");
        if (!d->started)
                strbuf_append(out, "starting");
        else if (d->ops->status)
                d->ops->status(d->userdata, out);
        strbuf_appendf(out, "%sdb %s", out->len ? ", " : "", d->db_ok ? "ok" : "unreachable");
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
                strbuf_appendf(out, "%s %s: ", d->component, d->id);
                daemon_status_line(d, out);
                return 0;
        case STATUS_METRICS: {
                uint64_t pings, skipped;
                notify_watchdog_counts(d->watchdog, &pings, &skipped);
                strbuf_appendf(out,
                               "tern_up{component=\"%s\"} 1\n"
                               "tern_database_ok %d\n"
                               "tern_heartbeat_failures_total %llu\n"
                               "tern_watchdog_pings_total %llu\n"
                               "tern_watchdog_skipped_total %llu\n",
                               d->ops->component, d->db_ok, (unsigned long long) d->beat_failures,
                               (unsigned long long) pings, (unsigned long long) skipped);
                if (d->ops->coordinator)
                        strbuf_appendf(out,
                                       "tern_instances_declared_dead_total %llu\n"
                                       "tern_jobs_requeued_from_dead_total %llu\n",
                                       (unsigned long long) d->reaped_instances, (unsigned long long) d->reaped_jobs);
                if (d->started && d->ops->metrics)
                        d->ops->metrics(d->userdata, out);
                return 0;
        }
        }
        return 0;
}

static void daemon_begin_stop(Daemon *d) {
        if (d->stopping)
                return;
        d->stopping = true;
        (void) sd_event_exit(d->event, 0);
}

static void daemon_heartbeat(Daemon *d, usec_t now) {
        int r = liveness_beat(d->liveness, d->stopping ? "STOPPING" : "RUNNING");
        d->db_ok = r >= 0;
        if (r == LIVENESS_DEAD) {
                log_error("This %s (%s) was declared dead by the coordinator (silent for more than %llus); "
                          "its work was handed to others. Exiting.",
                          d->component, d->id, (unsigned long long) (d->cfg.dead_after / USEC_PER_SEC));
                d->declared_dead = true;
                d->exit_code = 1;
                daemon_begin_stop(d);
                return;
        }
        if (r < 0) {
                d->beat_failures++;
                log_warning_errno(r, "Cannot write the heartbeat: %m");
                return;
        }
        if (!d->ops->coordinator)
                return;
        unsigned jobs = 0;
        r = liveness_reap(d->liveness, now, &jobs);
        if (r > 0) {
                d->reaped_instances += (uint64_t) r;
                d->reaped_jobs += jobs;
                log_warning("Declared %d silent instance(s) dead (no heartbeat for %llus); re-queued %u of their job(s).",
                            r, (unsigned long long) (d->cfg.dead_after / USEC_PER_SEC), jobs);
        } else if (r < 0)
                log_warning_errno(r, "Cannot sweep dead instances: %m");
}

static int on_tick(sd_event_source *s, uint64_t usec, void *userdata) {
        Daemon *d = userdata;
        usec_t now = now_realtime();
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
        int r = config_load(d->config_path, &n, &errors);
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

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        if (si->ssi_signo == SIGHUP) {
                daemon_reload(d);
                return 0;
        }
        log_info("Received %s; stopping.", strsignal((int) si->ssi_signo));
        daemon_begin_stop(d);
        return 0;
}

static void daemon_help(const DaemonOps *ops) {
        printf("Usage: tern-%s [--config FILE] [--instance NAME]\n\n"
               "Run the tern %s as a service (systemd Type=notify, socket activation of its status socket).\n\n"
               "Options:\n"
               "  -c, --config FILE    configuration file (default: $TERN_CONFIG, else %s; drop-ins in FILE.d/)\n"
               "  -i, --instance NAME  instance name (tern-worker@NAME.service passes %%i)\n"
               "  -h, --help           this help\n"
               "      --version        print the version\n\n"
               "Signals: SIGTERM stops gracefully, SIGHUP reloads the configuration.\n"
               "Check the configuration with 'tern config check'.\n",
               ops->component, ops->component, CONFIG_DEFAULT_PATH);
}

static int daemon_open_store(Daemon *d) {
        _cleanup_free_ char *url = NULL;
        int r = config_db_url(&d->cfg, &url);
        if (r < 0)
                return log_oom();
        /* READY=1 waits for the database: keep trying (and answering signals) until it answers. */
        for (unsigned attempt = 0;; attempt++) {
                Store *s = NULL;
                r = store_open(url, &s);
                if (r >= 0) {
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
                        log_error("Invalid database URL in the configuration.");
                        store_free(s);
                        return r;
                }
                if (attempt == 0 || attempt % 30 == 0)
                        log_warning("Cannot connect to the database (%s); retrying.", s ? store_error(s) : strerror(-r));
                store_free(s);
                notify_status(msg);
                /* Sleep a second in the event loop so that SIGTERM ends the wait. */
                r = sd_event_run(d->event, USEC_PER_SEC);
                if (r < 0 || d->stopping || sd_event_get_state(d->event) == SD_EVENT_FINISHED)
                        return -ECANCELED;
        }
}

static int daemon_setup(Daemon *d) {
        int r;
        _cleanup_strv_free_ char **errors = NULL;

        r = config_load(d->config_path, &d->cfg, &errors);
        if (r < 0) {
                for (size_t i = 0; errors && errors[i]; i++)
                        log_error("%s", errors[i]);
                log_error_errno(r, "Invalid configuration; see 'tern config check'.");
                return DAEMON_EXIT_CONFIG;
        }
        if (!getenv("TERN_LOG_LEVEL"))
                log_set_max_level(d->cfg.log_level);
        flow_set_max_tasks(d->cfg.flow_max_tasks);
        if ((r = liveness_make_id(d->ops->component, d->instance, &d->id)) < 0)
                return log_oom(), 1;

        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGINT);
        sigaddset(&ss, SIGHUP);
        /* Blocked in every thread (started later, they inherit the mask): the event loop takes them. */
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return log_error_errno(errno, "Cannot block signals: %m"), 1;
        signal(SIGPIPE, SIG_IGN);
        if ((r = sd_event_default(&d->event)) < 0 || (r = sd_event_add_signal(d->event, NULL, SIGTERM, on_signal, d)) < 0 ||
            (r = sd_event_add_signal(d->event, NULL, SIGINT, on_signal, d)) < 0 ||
            (r = sd_event_add_signal(d->event, NULL, SIGHUP, on_signal, d)) < 0)
                return log_error_errno(r, "Cannot set up the event loop: %m"), 1;

        _cleanup_free_ char *sock = strdup_printf("%s/%s.sock", d->cfg.runtime_dir, d->component);
        if (!sock)
                return log_oom(), 1;
        r = status_socket_new(d->event, sock, on_status_request, d, &d->status);
        if (r < 0)
                log_warning_errno(r, "Cannot listen on the status socket '%s': %m; running without it.", sock);
        else if (status_socket_activated(d->status))
                log_debug("Status socket passed by systemd.");

        notify_status("connecting to the database");
        r = daemon_open_store(d);
        if (r == -ECANCELED)
                return 0;
        if (r < 0)
                return 1;
        d->db_ok = true;

        Store *ls = NULL;
        if ((r = store_dup(d->store, &ls)) < 0 ||
            (r = liveness_new(ls, &(LivenessOptions) { .id = d->id, .component = d->ops->component,
                                                       .dead_after = d->cfg.dead_after },
                              &d->liveness)) < 0)
                return log_error_errno(r, "Cannot open the liveness connection: %s", ls ? store_error(ls) : ""), 1;
        _cleanup_json_ json_t *info = json_pack("{s:s, s:s?, s:s}", "version", version_string(), "instance", d->instance,
                                                "unit", getenv("INVOCATION_ID") ? "systemd" : "foreground");
        if (info && d->ops->info)
                d->ops->info(d, d->userdata, info);
        if ((r = liveness_register(d->liveness, info)) < 0)
                return log_error_errno(r, "Cannot register this instance: %m"), 1;
        d->last_beat = now_realtime();
        return -1;
}

int daemon_main(const DaemonOps *ops, void *userdata, int argc, char *argv[]) {
        static const struct option options[] = {
                { "config", required_argument, NULL, 'c' },
                { "instance", required_argument, NULL, 'i' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {},
        };
        Daemon d = { .ops = ops, .userdata = userdata };
        char ident[64];
        int c, r;

        /* The state the daemons write (database, storage, task directories) is not world-readable,
         * also when they run outside their units (whose UMask=0027 says the same). */
        umask(0027);
        while ((c = getopt_long(argc, argv, "c:i:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        d.config_path = optarg;
                        break;
                case 'i':
                        d.instance = optarg;
                        break;
                case 'h':
                        daemon_help(ops);
                        return 0;
                case 'V':
                        printf("tern %s\n", version_string());
                        return 0;
                default:
                        return 2;
                }
        if (optind < argc) {
                fprintf(stderr, "tern-%s: unexpected argument '%s'\n", ops->component, argv[optind]);
                return 2;
        }
        snprintf(d.component, sizeof d.component, "%s%s%s", ops->component, d.instance ? "@" : "", strempty(d.instance));
        snprintf(ident, sizeof ident, "tern-%s", ops->component);
        log_setup(ident, ops->component);

        r = daemon_setup(&d);
        if (r < 0) {
                r = ops->start(&d, userdata);
                if (r < 0) {
                        log_error_errno(r, "Cannot start the %s: %m", ops->component);
                        r = 1;
                } else {
                        d.started = true;
                        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
                        daemon_status_line(&d, &sb);
                        notify_ready(sb.buf);
                        log_info("%s %s ready (%s).", ops->component, d.id, strempty(sb.buf));
                        if ((r = notify_watchdog_new(d.event, ops->progress, userdata, &d.watchdog)) < 0)
                                log_warning_errno(r, "Cannot arm the watchdog: %m");
                        if (sd_event_add_time_relative(d.event, &d.tick, CLOCK_MONOTONIC, DAEMON_TICK_USEC, 0, on_tick,
                                                       &d) >= 0)
                                (void) sd_event_source_set_enabled(d.tick, SD_EVENT_ON); /* not one-shot */
                        if (ops->step) {
                                int efd = sd_event_get_fd(d.event);
                                while (!d.stopping) {
                                        if ((r = sd_event_run(d.event, 0)) < 0 || d.stopping)
                                                break;
                                        r = ops->step(&d, userdata);
                                        if (r > 0)
                                                continue;
                                        if (r < 0) {
                                                d.db_ok = false;
                                                (void) sd_event_run(d.event, USEC_PER_SEC); /* no spinning on a failure */
                                                continue;
                                        }
                                        (void) ops->wait(&d, userdata, efd);
                                }
                        } else
                                (void) sd_event_loop(d.event);
                        notify_stopping("stopping");
                        if (d.liveness && !d.declared_dead)
                                (void) liveness_beat(d.liveness, "STOPPING");
                        log_info("Stopping%s.", d.declared_dead ? " at once" : "");
                        ops->stop(&d, userdata, d.declared_dead ? 0 : d.cfg.grace);
                        if (d.liveness && !d.declared_dead)
                                (void) liveness_unregister(d.liveness);
                        r = d.exit_code;
                }
        }
        notify_watchdog_free(d.watchdog);
        sd_event_source_disable_unref(d.tick);
        status_socket_free(d.status);
        liveness_free(d.liveness);
        store_free(d.store);
        sd_event_unref(d.event);
        config_done(&d.cfg);
        free(d.id);
        return r;
}

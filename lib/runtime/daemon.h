/* daemon.h: the one life cycle of every tern server process (tern-executor, tern-worker@N,
 * tern-scheduler, tern-webserver and 'tern server executor|worker|scheduler|webserver|standalone'):
 * configuration, the database with its schema checked before READY=1, signals (SIGHUP reloads),
 * the status socket, the watchdog, heartbeats and (for the coordinator) the dead-instance sweep. A
 * component plugs in through a DaemonComponent; a process runs one or several of them.
 *
 * Threads: the main thread runs sd-event (signals, status socket, watchdog, heartbeats, STATUS=).
 * A component with a loop of its own (executor, scheduler) gets a thread that calls run(stop_fd):
 * it blocks on its own store connection and polls that connection's fd and stop_fd, because a
 * libpq or SQLite call blocks and must not stall the signals, the status socket or the other
 * components of the process. Components whose libraries own their threads (the worker's slots,
 * libmicrohttpd) have no run. SIGTERM and SIGINT go to a thread of their own: it sets the stop
 * request, which every Store of the process (daemon_store() and its store_dup()s) has as its cancel
 * fd, so that a stop cuts every database wait short, the main thread's own included (a heartbeat,
 * a component's start). docs/ARCHITECTURE.md says more. */
#pragma once

#include <stdbool.h>
#include <systemd/sd-event.h>

#include "config.h"
#include "store.h"
#include "strbuf.h"

/* Exit codes: 0 clean stop, 1 failure (systemd restarts), 78 (EX_CONFIG) invalid configuration
 * (the units list it in RestartPreventExitStatus=: restarting cannot fix it). */
#define DAEMON_EXIT_CONFIG 78

typedef struct Daemon Daemon;

typedef struct DaemonComponent {
        const char *name;  /* "executor", "worker", "scheduler", "webserver" */
        bool coordinator;  /* sweeps dead instances (the executor) */
        bool storage;      /* uses the internal storage ([storage]), checked once at the process's start */
        /* Create and start the component once the store is ready (main thread). id is this
         * component's instance id (its services row, the worker's lease holder); params the
         * host's (DaemonPart.params, may be NULL). *ret is its state, given to every other call. */
        int (*start)(Daemon *d, const char *id, const void *params, void **ret);
        /* The component's loop, on a thread of its own: returns once stop_fd is readable. NULL for
         * a component whose library runs its own threads. */
        int (*run)(void *state, int stop_fd);
        /* After run returned: grace is how long running work may finish (0: at once, e.g. declared
         * dead). NULL: nothing to do. */
        void (*stop)(Daemon *d, void *state, usec_t grace);
        void (*free)(void *state);
        /* Watchdog gate: progress within window (NULL: the process's event loop turning is enough). */
        bool (*progress)(void *state, usec_t window);
        /* One-line summary, and Prometheus lines (each NULL: none). */
        void (*status)(void *state, StrBuf *out);
        void (*metrics)(void *state, StrBuf *out);
        /* Add to this instance's record in the services table (the worker: its slots, which the
         * webserver's /metrics sums); NULL: nothing. */
        void (*info)(Daemon *d, void *state, json_t *info);
} DaemonComponent;

/* One component of a process, with what its host passes it (the CLI's --sandbox-* options...). */
typedef struct DaemonPart {
        const DaemonComponent *component;
        const void *params;
} DaemonPart;

typedef struct DaemonOptions {
        const char *name;       /* status socket and messages: "executor", "standalone" */
        const char *instance;   /* --instance (tern-worker@N), or NULL */
        ConfigSource config;    /* read at start (unless loaded) and again on SIGHUP */
        TernConfig *loaded;     /* the configuration as the host already loaded it from config
                                 * (taken over, left empty), or NULL */
        const char *db_url;     /* the command line's database, over [database] url; NULL: none */
        const DaemonPart *parts;
        size_t n_parts;
} DaemonOptions;

/* Runs until SIGTERM/SIGINT (or declared dead); SIGHUP reloads the configuration (an invalid one
 * is logged and the old one kept). Returns the exit code. The caller has set up logging. */
int daemon_run(const DaemonOptions *opt);

/* A daemon's main(): parses --config FILE, --instance NAME, --help, --version, sets up logging,
 * and runs the one component. Returns the exit code. */
int daemon_main(const DaemonComponent *c, const void *params, int argc, char *argv[]);

/* The configuration in force (the latest reload: components copy at start what they use). */
const TernConfig *daemon_config(const Daemon *d);
/* The process's own connection (main thread only); components store_dup() it for theirs. */
Store *daemon_store(Daemon *d);
const char *daemon_instance(const Daemon *d); /* --instance, or NULL */

/* daemon.h: what every tern daemon's main shares: configuration, the database with its schema
 * checked before READY=1, signals on sd-event, the status socket, the watchdog, heartbeats and
 * (for the coordinator) the dead-instance sweep. A component plugs in through DaemonOps. */
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

typedef struct DaemonOps {
        const char *component;  /* "executor", "worker", "scheduler" */
        bool coordinator;       /* sweeps dead instances (the executor) */
        /* Create and start the component once the store is ready. */
        int (*start)(Daemon *d, void *userdata);
        /* Components with a blocking loop (executor, scheduler): step returns > 0 when more work is
         * ready at once; wait blocks until work may be due or fd (the event loop's) is readable.
         * NULL for components that run their own threads (worker). */
        int (*step)(Daemon *d, void *userdata);
        int (*wait)(Daemon *d, void *userdata, int fd);
        /* Stop: grace is how long running work may finish (0: at once, e.g. declared dead). */
        void (*stop)(Daemon *d, void *userdata, usec_t grace);
        /* Watchdog gate (NULL: the loop turning is enough). */
        bool (*progress)(void *userdata, usec_t window);
        /* One-line summary without the trailing "db ..." part, and Prometheus lines. */
        void (*status)(void *userdata, StrBuf *out);
        void (*metrics)(void *userdata, StrBuf *out);
        /* Add to this instance's record in the services table (the worker: its slots, which the
         * webserver's /metrics sums); NULL: nothing. */
        void (*info)(Daemon *d, void *userdata, json_t *info);
} DaemonOps;

/* Parses --config FILE, --instance NAME, --help, --version; runs until SIGTERM/SIGINT; SIGHUP
 * reloads the configuration (an invalid one is logged and the old one kept). Returns the exit code. */
int daemon_main(const DaemonOps *ops, void *userdata, int argc, char *argv[]);

const TernConfig *daemon_config(const Daemon *d);
/* The daemon's own connection (main thread only); components store_dup() it for theirs. */
Store *daemon_store(Daemon *d);
/* This process's instance id (the worker's lease holder name). */
const char *daemon_id(const Daemon *d);
const char *daemon_instance(const Daemon *d); /* --instance, or NULL */

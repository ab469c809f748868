/* worker-component.h: the worker as the daemon frame runs it (tern-worker@N, tern server worker|standalone). */
#pragma once

#include "daemon.h"
#include "sandbox-config.h"

typedef struct WorkerComponentParams {
        /* How shell tasks are isolated, as the host resolved it (the CLI: tern.conf's [sandbox] under
         * its --sandbox-* options, with its own default mode); not owned. NULL: [sandbox], as a
         * daemon takes it (mode auto, never plain processes unless told to). */
        SandboxConfig *sandbox;
} WorkerComponentParams;

extern const DaemonComponent worker_component;

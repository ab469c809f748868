/* liveness.h: service-instance heartbeats in the store's services table; the coordinator
 * (executor) declares silent instances dead and re-queues their jobs. */
#pragma once

#include <jansson.h>

#include "macro.h"
#include "store.h"

/* Named outcome of liveness_beat(): this instance was declared dead by a coordinator (its row is
 * gone and its jobs were handed to others). The daemon must stop working and exit. */
#define LIVENESS_DEAD 1

typedef struct LivenessOptions {
        const char *id;        /* unique per process; for workers the lease holder's name */
        const char *component; /* "executor", "worker", "scheduler" */
        usec_t dead_after;     /* silence after which an instance is declared dead */
} LivenessOptions;

typedef struct Liveness Liveness;

/* Takes ownership of store (give it its own connection). */
int liveness_new(Store *store, const LivenessOptions *opt, Liveness **ret);
Liveness *liveness_free(Liveness *l);
DEFINE_FREE_CLEANUP(Liveness, liveness_free)

/* Insert this instance (state "RUNNING"); info (may be NULL) is stored as is. */
int liveness_register(Liveness *l, json_t *info);
/* Heartbeat with a state ("RUNNING", "STOPPING"). 0, LIVENESS_DEAD, or a negative errno (the
 * database is unreachable: try again at the next beat). */
int liveness_beat(Liveness *l, const char *state);
/* Remove this instance's row on a clean stop. */
int liveness_unregister(Liveness *l);
/* Why the last call failed (its connection's store_error()). */
const char *liveness_error(const Liveness *l);

/* Coordinator: declare every other instance silent for longer than dead_after (on the cluster's
 * clock, store_clock_now(), as the heartbeats are stamped) dead: re-queue
 * the jobs it holds (new epoch, resubmission on the task run) and delete its row. Returns how
 * many instances were declared dead; ret_jobs (optional) gets how many jobs were re-queued. */
int liveness_reap(Liveness *l, unsigned *ret_jobs);

/* A process-unique instance id: "<component>[@<instance>]-<host>-<pid>-<random>". */
int liveness_make_id(const char *component, const char *instance, char **ret);

/* executor.h: the executor component: claims executions with due events, applies them through
 * the engine and writes the new state, jobs and events in the same transaction. Also re-queues
 * jobs whose lease expired (the liveness coordinator's share of the work). */
#pragma once

#include "engine.h"
#include "flow-cache.h"
#include "store.h"

typedef struct ExecutorOptions {
        const char *id;          /* this executor's service id (logs) */
        size_t batch;            /* executions per transaction; 0 = 32 */
        usec_t poll;             /* fallback poll for lost notifications; 0 = 1 s */
        usec_t requeue_every;    /* how often expired leases are looked for; 0 = 1 s */
        EngineConfig engine;     /* its function hook is the executor's own (files in storage_url) */
        ApiFlowCache *flows;     /* parsed flows, shared with the process's other components; NULL: its own */
        const char *storage_url; /* internal storage for read(), fileSize(), fileExists() in the
                                  * expressions the executor renders; NULL: none (they fail) */
} ExecutorOptions;

typedef struct Executor Executor;

/* Takes ownership of store (give it its own connection: store_dup). */
int executor_new(Store *store, const ExecutorOptions *opt, Executor **ret);
Executor *executor_free(Executor *x);
DEFINE_FREE_CLEANUP(Executor, executor_free)

/* One transaction: claim, apply and write. Returns the number of events applied (0: nothing due). */
int executor_step(Executor *x);
/* Whether the last step claimed a full batch, so that more may be due at once; otherwise the next
 * due event wakes executor_wait. */
bool executor_more_due(const Executor *x);
/* Block until events may be due (a notification, the next delayed event, or the poll), or until
 * stop_fd (may be -1) becomes readable. */
int executor_wait(Executor *x, int stop_fd);
/* Steps until stop_fd is readable. */
int executor_run(Executor *x, int stop_fd);

typedef struct ExecutorStats {
        uint64_t steps, events, executions_ended, requeued;
        usec_t last_progress; /* monotonic time of the last step or wake-up (the watchdog's gate) */
} ExecutorStats;
/* Safe from another thread than the one stepping (the frame's status socket and watchdog). */
void executor_stats(Executor *x, ExecutorStats *ret);


/* scheduler.h: the scheduler component: Schedule (cron) and Flow triggers and backfills, turned into executions. */
#pragma once

/* How it works (all state is in the store, so any number of schedulers may share PostgreSQL and
 * a restarted one carries on where the last one stopped):
 *
 *  - Every trigger of every flow has a row in the triggers table (kind "schedule", "flow",
 *    "webhook"), created and updated from the scheduler's inbox: store_flow_put/delete write a
 *    "flow_changed" row in their own transaction. A new flow revision keeps the rows (next date,
 *    backfill, windows); a deleted flow or a removed trigger loses its row. What a row holds, and
 *    the operations on it that the tern command and the webserver share (enable, disable, unlock,
 *    backfills, webhook calls), are lib/api's triggers.h.
 *  - A Schedule row's next_date is its next slot (or an active backfill's next slot when earlier).
 *    A step claims due rows with FOR UPDATE SKIP LOCKED (triggers_next index: idle triggers cost
 *    nothing), creates the executions of the due slots and moves next_date on, in one
 *    transaction. Each slot's execution id is derived from (namespace, flow, trigger, slot), so
 *    even a rerun after an in-doubt commit cannot start a slot twice.
 *  - A polling http.Trigger's row (kind "poll") is due every `interval`: the step that claims it moves
 *    it on and renders the request; the request is made after that transaction (at most
 *    HTTP_POLL_TIMEOUT), and when responseCondition holds on the response a second transaction starts
 *    the execution, its id derived from the poll's due date, with the response as trigger.* (uri,
 *    code, headers, body).
 *  - Flow triggers consume "execution_ended" rows that the executor writes in the transaction
 *    that ends an execution; the triggered execution's id is derived from the listener and the
 *    inbox row. MultipleCondition windows live in the listener's trigger row. A Flow trigger
 *    whose `states` list a non-terminal state (RUNNING, PAUSED...) is of kind "flow_states": only
 *    while one exists does the executor write "execution_states" rows (the states an execution
 *    entered in one step), which go to those triggers the same way.
 *  - stopAfter: the executor marks the "execution_ended" row of an execution whose own trigger
 *    lists its final state in stopAfter; the scheduler then disables that trigger (userDisabled,
 *    with stoppedAfter saying why) until it is enabled by hand.
 *  - On the Kafka queue backend the state is the same; a firing's execution is started by
 *    SchedulerOptions.start (scheduler-kafka.h: its "created" event sent and acknowledged inside
 *    the transaction that records the firing), and the "execution_ended" rows come from the
 *    indexer (docs/KAFKA.md).
 *
 * Missed slots (scheduler down, or a flow whose next_date is in the past) follow
 * recoverMissedSchedules: ALL starts every missed slot (batch per step), LAST only the latest,
 * NONE none of those older than missed_after. */

#include "engine.h"
#include "flow-cache.h"
#include "store.h"

typedef usec_t (*SchedulerClock)(void *userdata);

typedef struct SchedulerOptions {
        const char *id;             /* this scheduler's name (logs) */
        size_t batch;               /* triggers or inbox rows per transaction; 0 = 100 */
        usec_t poll;                /* longest sleep between steps; 0 = 1 s (SQLite: 200 ms) */
        usec_t missed_after;        /* NONE: a slot older than this was missed; 0 = 60 s */
        unsigned backfill_rate;     /* executions per second per backfill; 0 = 10 */
        const char *recover_default; /* recoverMissedSchedules when a trigger does not say; NULL = "ALL" */
        SchedulerClock clock;       /* NULL: the cluster's, store_clock_now() (tests inject one) */
        void *clock_userdata;
        EngineConfig engine;        /* rendering Flow trigger inputs (envs, globals, secrets) */
        ApiFlowCache *flows;        /* parsed flows, shared with the process's other components; NULL: its own */
        /* How a firing's built execution is started in the transaction that records the firing:
         * NULL stores it with its "created" event on the database queue (api_execution_store);
         * on Kafka, scheduler_kafka_start(). 0, -EEXIST (started already: nothing to do), or an
         * error that rolls the transaction back. */
        int (*start)(StoreTx *tx, const Execution *e, usec_t now, void *userdata);
        void *start_userdata;
        bool kafka; /* on the Kafka queue backend: what a trigger asks that it lacks there is logged */
} SchedulerOptions;

typedef struct Scheduler Scheduler;

/* Takes ownership of store (give it its own connection: store_dup). */
int scheduler_new(Store *store, const SchedulerOptions *opt, Scheduler **ret);
Scheduler *scheduler_free(Scheduler *s);
DEFINE_FREE_CLEANUP(Scheduler, scheduler_free)

/* Register the triggers of every flow (flows stored before the inbox existed, or whose inbox rows
 * another scheduler lost). Runs once at the start of scheduler_run(). */
int scheduler_sync_all(Scheduler *s);
/* One round: the inbox (flow changes, ended executions), then due triggers. Returns the number of
 * executions created (0: nothing to do). */
int scheduler_step(Scheduler *s);
/* Block until work may be there (a notification, the next trigger date, or the poll), or until
 * stop_fd (may be -1) becomes readable. */
int scheduler_wait(Scheduler *s, int stop_fd);
/* Steps until stop_fd is readable. */
int scheduler_run(Scheduler *s, int stop_fd);

typedef struct SchedulerStats {
        uint64_t steps, executions, skipped, flows_synced, inbox;
        usec_t last_due_usec; /* wall time of the last step's due-trigger pass (bench) */
        usec_t last_progress; /* monotonic time of the last step or wake-up (the watchdog's gate) */
} SchedulerStats;
/* Safe from another thread than the one stepping (the frame's status socket and watchdog). */
void scheduler_stats(Scheduler *s, SchedulerStats *ret);

/* The execution id of one trigger firing: 22 base62 characters derived from the four parts. */
void scheduler_execution_id(const char *ns, const char *flow_id, const char *trigger_id, const char *key,
                            char ret[static ID_MAX]);

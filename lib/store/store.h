/* store.h: tern's state store and queue: one interface over PostgreSQL (libpq), MySQL/MariaDB (libmariadb) and SQLite. */
#pragma once

/* Every component shares state through this interface. The point of it is the engine rules of
 * DESIGN.md: events and jobs are rows written in the same transaction as the state change that
 * caused them (transactional outbox), consumed rows are deleted in the transaction that applies
 * them, workers hold jobs under a lease with a fencing epoch, and one execution is applied by one
 * executor at a time.
 *
 * Conventions: functions return >= 0 on success and a negative errno on failure; expected
 * outcomes a caller must handle are named positive codes (STORE_STALE, STORE_UNCHANGED). Times
 * are usec_t microseconds since the Unix epoch and are passed in by the caller ("now"), so
 * behaviour is reproducible and hosts only need synchronized clocks (NTP). JSON goes in and out
 * as jansson json_t; functions never steal the caller's references. Strings returned inside
 * result structs are owned by the struct and freed with its *_free function.
 *
 * A Store is one connection and is not thread-safe; give each thread its own with store_dup(). */

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "timeutil.h"

typedef struct Store Store;
typedef struct StoreTx StoreTx;

/* Named positive outcomes. */
enum {
        STORE_OK = 0,
        STORE_STALE = 1,     /* job result refused: the job is gone or its epoch is not current */
        STORE_UNCHANGED = 2, /* flow_put: same source as the latest revision, no new revision */
        STORE_SKIPPED = 3,   /* a report nobody listens to was not written */
};

/* Wake-up channels (bit mask) for store_listen()/store_wait(). */
enum {
        STORE_CHANNEL_EVENTS = 1u << 0, /* new execution events (executor) */
        STORE_CHANNEL_JOBS = 1u << 1,   /* new or re-queued worker jobs (workers) */
        STORE_CHANNEL_TRIGGERS = 1u << 2, /* new trigger events: flow changes, ended executions (scheduler) */
        STORE_CHANNEL_CANCEL = 1u << 3,   /* claimed jobs flagged by a kill (workers holding them) */
        /* An execution's document was created, saved or deleted (whoever waits for an execution to
         * change or end: the CLI, ?wait, follow streams). */
        STORE_CHANNEL_EXECUTIONS = 1u << 4,
        STORE_CHANNEL_LOGS = 1u << 5, /* log lines were appended (follow streams, tern run's progress) */
        STORE_CHANNEL_ALL = STORE_CHANNEL_EVENTS | STORE_CHANNEL_JOBS | STORE_CHANNEL_TRIGGERS | STORE_CHANNEL_CANCEL |
                            STORE_CHANNEL_EXECUTIONS | STORE_CHANNEL_LOGS,
};

typedef enum StoreBackend {
        STORE_BACKEND_SQLITE,
        STORE_BACKEND_POSTGRES,
        STORE_BACKEND_MYSQL,
} StoreBackend;

/* ---- connection ---------------------------------------------------------------------------- */

/* url: "sqlite:///abs/path.db", "sqlite:relative.db", "postgresql://...", "postgres://..." or a
 * libpq "key=value" conninfo (multi-host and target_session_attrs work as in libpq), or
 * "mysql://[USER[:PASSWORD]@][HOST][:PORT]/DATABASE[?OPTIONS]" ("mariadb://" alike; the options
 * are listed in mysql.c: socket, password, TLS, timeouts, wake-up polling). Opening
 * does not migrate: call store_migrate() (tern db migrate) or store_check_schema().
 * -EINVAL for a URL of no known kind. When connecting fails, *ret is still set to a handle that
 * only serves store_error() (the server's reason): free it (with _cleanup_store_ that is done). */
int store_open(const char *url, Store **ret);
/* A new connection to the same database. For SQLite the handles share the in-process notifier,
 * so a commit on one wakes store_wait() on the others (one process, several threads). */
int store_dup(Store *s, Store **ret);
Store *store_free(Store *s);
DEFINE_FREE_CLEANUP(Store, store_free);
#define _cleanup_store_ _cleanup_(store_freep)

StoreBackend store_backend(const Store *s);
/* The cluster's clock, the "now" of leases, heartbeats, due dates and triggers: the database
 * server's real-time clock (PostgreSQL, MySQL), measured once a minute and followed meanwhile on
 * this host's monotonic clock, so that this host's own clock, stepped or wrong, moves no lease or
 * heartbeat and fires no slot twice. SQLite lives on one host: its real-time clock. Never fails:
 * before the server first answers, this host's real-time clock. Not within a transaction of s. */
usec_t store_clock_now(Store *s);
/* Human-readable text of the last failure on this handle (server message, schema mismatch...);
 * never NULL. */
const char *store_error(const Store *s);
/* How long store_transact() keeps reconnecting after a lost connection before it reports the
 * failure (default 30 s). */
void store_set_reconnect_timeout(Store *s, usec_t timeout);
/* A stop request: once fd (not owned; an eventfd that stays readable) is readable, every wait of
 * this store ends at once: a lost connection is tried once more, not for the reconnect timeout,
 * and busy or transient backoffs give up, so that a process asked to stop while its database is
 * gone stops in a moment instead of after each caller's 30 s. What reaches the database still
 * runs (a stopping worker still reports and hands back). store_dup() passes it on; -1: none. */
void store_set_cancel_fd(Store *s, int fd);
/* Whether a store error r means that the database could not be reached (a lost connection that
 * the reconnect timeout did not bring back, a refused or timed-out connect), as opposed to the
 * database refusing what was asked: worth retrying later, not a fault of the request. */
static inline bool store_error_unreachable(int r) {
        return r == -ECONNRESET || r == -ECONNREFUSED || r == -ETIMEDOUT || r == -ECONNABORTED || r == -EHOSTUNREACH ||
               r == -ENETUNREACH || r == -EPIPE;
}

/* ---- schema -------------------------------------------------------------------------------- */

int store_schema_version_expected(StoreBackend b);
/* Apply missing migrations in one transaction (concurrent callers serialize). Returns the number
 * of migrations applied. */
int store_migrate(Store *s);
/* 0 when the database schema is the one this build expects; -EPROTO (with store_error() saying
 * whether the database is older — run 'tern db migrate' — or newer than this tern) otherwise.
 * ret_version (optional) gets the database's version (0 = empty database). */
int store_check_schema(Store *s, int *ret_version);

/* ---- transactions -------------------------------------------------------------------------- */

/* Explicit transactions: no rerun; on error the caller rolls back (or lets _cleanup_store_tx_ do
 * it). store_begin() reconnects when the connection was lost before the transaction began (with
 * backoff, up to the reconnect timeout; on PostgreSQL, whose BEGIN goes with the first statement,
 * that statement does it); a loss later in the transaction fails its statement with -ECONNRESET,
 * and the next store_begin() reconnects. Only one at a time per Store. An open transaction never
 * waits for another thread of the process: on SQLite that thread's commit may be waiting for this
 * transaction's end (group commit, sqlite.c). */
int store_begin(Store *s, StoreTx **ret);
int store_commit(StoreTx *tx);
void store_rollback(StoreTx *tx);
/* A transaction that goes out of scope uncommitted is rolled back: declare it
 * `_cleanup_store_tx_ StoreTx *tx = NULL;` (committing or rolling back first makes this a no-op). */
static inline void store_rollbackp(StoreTx **tx) {
        if (*tx)
                store_rollback(*tx);
}
#define _cleanup_store_tx_ _cleanup_(store_rollbackp)

/* Run fn in a transaction and commit. When the database reports a serialization failure or a
 * deadlock (or SQLite is busy), or the connection is lost (it reconnects with backoff), the
 * transaction is rolled back and fn is run again from the start: fn must not keep side effects
 * outside the transaction, and should be written so that a rerun after an in-doubt COMMIT is
 * harmless (consumed events are gone; a duplicate job completion is STORE_STALE; inserts with
 * caller-chosen ids are skipped when present). fn's return value (>= 0) is returned; a negative
 * one rolls back and is returned (-EAGAIN from fn also asks for a rerun). */
/* From here on, the transaction keeps the saves of executions (store_execution_save*(): of
 * executions it holds, claimed; their new version is not known, *ret_version is 0), task-run
 * writes (also store_execution_create()'s), job enqueues, emitted events (store_event_emit()
 * without ret_seq), event deletions and log lines (store_log_append_tx()), and writes them as
 * one multi-row statement per table at store_tx_flush() or at the commit. What is deferred is not
 * visible to the transaction's own reads until then (flush before reading executions, jobs or
 * task runs written in it); errors a write would have returned (an event already deleted:
 * -ENOENT) come from the flush; store_job_enqueue() returns 0, not STORE_UNCHANGED; an event
 * emitted for an execution that is not there (deleted meanwhile) is dropped at the flush, where
 * store_event_emit() would have returned -ENOENT. */
int store_tx_defer(StoreTx *tx);
int store_tx_flush(StoreTx *tx);

typedef int (*StoreTxFn)(StoreTx *tx, void *userdata);
int store_transact(Store *s, StoreTxFn fn, void *userdata);

/* ---- wake-ups ------------------------------------------------------------------------------ */

/* Subscribe this handle to channels (LISTEN on PostgreSQL). Commits on any handle to the same
 * database that emitted events/jobs wake it. MySQL has no LISTEN: commits there are seen by a
 * poller thread at an adaptive interval (mysql.c), and at once by handles of the same process
 * made with store_dup(). */
int store_listen(Store *s, unsigned channels);
/* A pollable fd that becomes readable when a notification may be pending; call store_wait(s,
 * ..., 0) then. On PostgreSQL it is the connection's socket and changes after a reconnect: query
 * it again after every store_wait(). */
int store_get_fd(Store *s);
/* Wait up to timeout (USEC_INFINITY: forever, 0: just check) for a notification on the listened
 * channels. Returns the mask of channels notified (0 on timeout). Notifications may be lost
 * (e.g. across a reconnect): consumers also poll slowly, and use store_next_due() for timers. */
int store_wait(Store *s, usec_t timeout);
/* Sleep until a notification on the listened channels, one of the caller's fds (may be none) is
 * readable, or timeout; the fds' revents say which woke. Use this, not a poll() of
 * store_get_fd(): on PostgreSQL a notification that arrived with the answer to another statement
 * (one sent after a commit elsewhere) is already read off the socket, which would not wake the
 * poll. Returns the mask of channels notified (0: an fd, the timeout, or nothing listened) or a
 * negative errno. */
int store_wait_fds(Store *s, struct pollfd *fds, size_t n_fds, usec_t timeout);

/* Earliest due_at of a pending event (channel EVENTS), available_at of an unclaimed job (JOBS)
 * or next_date of an enabled trigger (TRIGGERS) among the channels; USEC_INFINITY if none. Lets
 * a consumer sleep exactly until a delayed event, job or trigger becomes due. */
int store_next_due(Store *s, unsigned channels, usec_t *ret);

/* ---- executions and their events (executor) ----------------------------------------------- */

/* An execution is stored as the document it is given (Kestra's shape; what it says is the engine's
 * business, not the store's) and indexed by what its writer says about it with every write: the
 * store never reads an execution document, apart from splitting off its "taskRunList" (a row per
 * task run, see store-taskruns.c). The engine derives these from an execution
 * (execution_store_meta()). Strings and labels are borrowed. */
typedef struct StoreTaskRunMeta {
        const char *id;
        const char *state; /* current state, counted by store_stats_get() */
} StoreTaskRunMeta;

typedef struct StoreExecutionMeta {
        const char *id, *namespace, *flow_id; /* required */
        int flow_revision;                   /* 0: none */
        const char *state;                   /* current state (required): StoreExecutionFilter.state */
        const char *parent_id;               /* the parent of a subflow; NULL at the top */
        usec_t created;                      /* when it was created (0: now); executions sort by it */
        usec_t ended;                        /* when it ended, 0 while it has not: retention purges by it */
        json_t *labels;                      /* [{key, value}] for StoreExecutionFilter.labels; may be NULL */
        /* One per element of the document's "taskRunList", in the same order (-EINVAL otherwise). */
        const StoreTaskRunMeta *task_runs;
        size_t n_task_runs;
} StoreExecutionMeta;

typedef struct StoreEvent {
        int64_t seq; /* monotonic per database; the order events are applied in */
        char *execution_id;
        char *type;
        json_t *payload; /* may be NULL */
        usec_t due_at;
        usec_t created;
} StoreEvent;

typedef struct StoreClaim {
        char *execution_id;
        int64_t version; /* changes with every save */
        json_t *doc;     /* NULL when the caller said it holds this version (StoreClaimKnown) */
        StoreEvent *events; /* due events in seq order */
        size_t n_events;
        /* Negative errno when the document or one of the events could not be read back (-EBADMSG:
         * not JSON, or nested beyond what the parser takes): doc and the events' payloads may then
         * be NULL, and the caller is to set the execution aside (store_execution_fail_unreadable). */
        int error;
} StoreClaim;

void store_claims_free(StoreClaim *c, size_t n);

/* Insert a new execution (doc, indexed as m says) and its first event (type, payload) in tx;
 * event_type NULL: no event (the repositories of the Kafka queue backend, whose events travel in
 * Kafka). -EEXIST if the id exists; -EINVAL when m lacks a required field or does not match doc's
 * task runs. */
int store_execution_create(StoreTx *tx, const StoreExecutionMeta *m, json_t *doc, const char *event_type,
                           json_t *payload, usec_t now);
/* Replace the document (and indexed columns) of an existing execution; -ENOENT if missing. */
int store_execution_save(StoreTx *tx, const StoreExecutionMeta *m, json_t *doc, usec_t now);
/* The same, from prev_doc (the document as read in this transaction): only the task runs and
 * labels that differ from it are written, so a step costs what it changed. */
int store_execution_save_from(StoreTx *tx, const StoreExecutionMeta *m, json_t *doc, json_t *prev_doc, usec_t now,
                              int64_t *ret_version);
int store_execution_get(StoreTx *tx, const char *id, json_t **ret_doc);
/* What a reader following one execution (tern run's wait) keeps between its reads: the task runs
 * of the last read and the text each was stored as. */
typedef struct StoreFollow {
        json_t *task_runs;
        char **texts;
        size_t n;
} StoreFollow;
void store_follow_done(StoreFollow *f);
/* The same as store_execution_get(), for such a reader: a task run whose stored text is what f
 * holds for its place is taken over by reference instead of parsed again, so a read costs what
 * changed since the last one, not the execution's size. f is then updated to this read. The
 * result shares those task-run objects with earlier results: none may be changed in place. */
int store_execution_get_after(StoreTx *tx, const char *id, StoreFollow *f, json_t **ret_doc);
int store_execution_delete(StoreTx *tx, const char *id);

/* What the indexed columns say of an execution whose document cannot be used (the caller frees
 * the strings with store_execution_row_done()). -ENOENT when there is none. */
typedef struct StoreExecutionRow {
        char *namespace, *flow_id;
        int flow_revision;
        usec_t created;
} StoreExecutionRow;
void store_execution_row_done(StoreExecutionRow *r);
int store_execution_row(StoreTx *tx, const char *id, StoreExecutionRow *ret);
/* Put an execution whose document cannot be read or written out of the way, so that it blocks
 * nothing: doc (the caller's minimal replacement, with no task runs) replaces it, its task runs
 * that cannot be read back are dropped (the others stay: they show what ran) and its events are
 * deleted. The caller logs why. -ENOENT when there is no such execution. */
int store_execution_set_aside(StoreTx *tx, const StoreExecutionMeta *m, json_t *doc, usec_t now);

typedef struct StoreLabelFilter {
        const char *key, *value;
} StoreLabelFilter;

typedef struct StoreExecutionFilter {
        const char *namespace_prefix; /* NULL: any */
        const char *namespace;        /* this namespace exactly; NULL: any */
        const char *flow_id;
        const char *state;
        const char *parent_id;
        const StoreLabelFilter *labels;       /* executions with every one of these labels */
        size_t n_labels;
        usec_t created_from, created_to;      /* 0: unbounded */
        usec_t ended_to;                      /* ended at or before it (so: terminal); 0: unbounded */
        size_t limit, offset;                 /* limit 0: 100 */
        /* Keyset paging, to walk every match while they change (an offset would skip or repeat
         * rows): only those after (after_created, after_id) in the search's order; NULL: from the
         * first. */
        usec_t after_created;
        const char *after_id;
} StoreExecutionFilter;
/* Newest first. ret gets a json array of documents. A document that cannot be read back is left
 * out (one bad row does not fail the search): ret_skipped (may be NULL) counts them. */
int store_execution_search_skipping(StoreTx *tx, const StoreExecutionFilter *f, json_t **ret, size_t *ret_skipped);
int store_execution_search(StoreTx *tx, const StoreExecutionFilter *f, json_t **ret);
/* The ids and creation times of the executions matching f, in the search's order, without their
 * documents: a batch of a walk over many (f->after_id from the last one of the batch before). */
typedef struct StoreExecutionKey {
        char *id;
        usec_t created;
} StoreExecutionKey;
int store_execution_keys(StoreTx *tx, const StoreExecutionFilter *f, StoreExecutionKey **ret, size_t *ret_n);
void store_execution_keys_free(StoreExecutionKey *k, size_t n);
/* How many executions match f (limit and offset ignored). */
int store_execution_count(StoreTx *tx, const StoreExecutionFilter *f, int64_t *ret);

/* Executions counted per flow, UTC day (or hour: bucket) of creation and current state (Kestra's
 * daily statistics). */
typedef struct StoreExecutionDay {
        char *namespace, *flow_id;
        usec_t day; /* the day's (the bucket's) first microsecond */
        char *state;
        int64_t n;
        int64_t duration_sum; /* microseconds from start to end, of the n_ended that have both */
        int64_t n_ended;
} StoreExecutionDay;
/* The executions matching f (limit and offset ignored) counted so, ordered by day, namespace,
 * flow and state. bucket: the length of a "day" (0: a day; an hour for a 24-hour view). */
int store_execution_days(StoreTx *tx, const StoreExecutionFilter *f, usec_t bucket, StoreExecutionDay **ret,
                         size_t *ret_n);
void store_execution_days_free(StoreExecutionDay *d, size_t n);

/* Flow concurrency: how many executions of a flow are active (RUNNING, PAUSED, RETRYING, KILLING,
 * RESTARTED), besides except_id, and (optional) the oldest QUEUED one waiting for a slot (NULL
 * when none; the caller frees it). Serialized per flow until tx ends. */
int store_execution_concurrency(StoreTx *tx, const char *ns, const char *flow_id, const char *except_id,
                                int64_t *ret_active, char **ret_oldest_queued);

/* Append an event for an execution, due at due_at (<= now: at once). Returns the new seq (> 0)
 * through ret_seq (optional). Wakes executors at commit. */
int store_event_emit(StoreTx *tx, const char *execution_id, const char *type, json_t *payload, usec_t due_at,
                     usec_t now, int64_t *ret_seq);
/* Delete consumed events (in the transaction that applied them). */
int store_event_delete(StoreTx *tx, int64_t seq);
/* Pending events of one execution (all, due or not), in seq order. For inspection and tests. */
int store_event_list(StoreTx *tx, const char *execution_id, StoreEvent **ret, size_t *ret_n);
void store_events_free(StoreEvent *e, size_t n);

/* Lock up to max executions that have due events (FOR UPDATE SKIP LOCKED: executions held by
 * other executors are skipped) and return each with its document and its due events. The locks
 * are held until tx ends; the caller saves documents, emits, and deletes the events it applied. */
int store_claim_executions(StoreTx *tx, usec_t now, size_t max, StoreClaim **ret, size_t *ret_n);
/* The same for a caller that keeps documents between steps: known(id, version) true means it
 * holds that version, and the claim leaves doc NULL instead of reading it. */
typedef bool (*StoreClaimKnown)(void *userdata, const char *execution_id, int64_t version);
int store_claim_executions_known(StoreTx *tx, usec_t now, size_t max, StoreClaimKnown known, void *userdata,
                                 StoreClaim **ret, size_t *ret_n);

/* ---- worker jobs ---------------------------------------------------------------------------- */

typedef struct StoreJob {
        char *id;
        char *execution_id;
        char *task_run_id; /* may be NULL */
        char *queue;       /* worker group; "" = default */
        json_t *payload;
        int64_t epoch;     /* fencing token: changes on every claim and re-queue */
        char *worker_id;   /* NULL when not claimed */
        usec_t available_at;
        usec_t lease_until; /* 0 when not claimed */
} StoreJob;

void store_job_done(StoreJob *j);
void store_jobs_free(StoreJob *j, size_t n);

/* Enqueue a job in tx (with the state change that caused it). id may be NULL (one is generated)
 * or caller-chosen, in which case an existing job with that id is left alone (returns
 * STORE_UNCHANGED) so a rerun after an in-doubt commit does not duplicate it. ret_id (optional,
 * ID_MAX bytes) gets the id. Wakes workers at commit. */
int store_job_enqueue(StoreTx *tx, const char *id, const char *execution_id, const char *task_run_id,
                      const char *queue, json_t *payload, usec_t available_at, usec_t now, char *ret_id);

/* Claim up to max available jobs of queue (NULL = "") or pinned to this worker (queue "@<worker_id>",
 * e.g. a WorkingDirectory's later tasks) for worker_id in one round trip; each claim increments the
 * job's epoch and sets lease_until = now + lease. */
int store_job_claim(Store *s, const char *worker_id, const char *queue, size_t max, usec_t now, usec_t lease,
                    StoreJob **ret, size_t *ret_n);
/* The same claim inside tx, committed with whatever else tx writes (a worker's results: one
 * transaction for the results and the next jobs of the slots they free). SQLite and MySQL only
 * (-EOPNOTSUPP on PostgreSQL, whose claim is one statement of its own). *ret and *ret_n start as
 * NULL and 0: a run of tx again frees what the last run took and claims again; after a failure
 * they hold what was read before it, for the caller to free. */
int store_job_claim_tx(StoreTx *tx, const char *worker_id, const char *queue, size_t max, usec_t now, usec_t lease,
                       StoreJob **ret, size_t *ret_n);

typedef struct StoreJobRef {
        const char *id;
        int64_t epoch;
} StoreJobRef;
/* Extend the leases of worker_id's jobs (only those still at the given epoch) to now + lease.
 * Returns how many were renewed; a job missing from the count was lost (re-queued). */
int store_job_renew(Store *s, const char *worker_id, const StoreJobRef *jobs, size_t n, usec_t now, usec_t lease);

/* Delete the job and emit a "task_result" event {jobId, taskRunId, epoch, workerId, result} for
 * its execution, in one transaction. STORE_STALE (and nothing changes) when the job is gone or
 * the epoch or worker is not current (a zombie's late result). */
int store_job_complete(Store *s, const char *job_id, int64_t epoch, const char *worker_id, json_t *result,
                       usec_t now);
int store_job_complete_tx(StoreTx *tx, const char *job_id, int64_t epoch, const char *worker_id, json_t *result,
                          usec_t now);

/* One finished job for store_job_complete_many_tx(). */
typedef struct StoreJobResult {
        const char *job_id;
        int64_t epoch;
        json_t *result; /* NULL: null */
        int outcome;    /* set: 0 taken, STORE_STALE refused (as store_job_complete_tx()) */
} StoreJobResult;
/* Complete several of worker_id's jobs in tx, each fenced by its own epoch: a stale one is refused
 * alone (its outcome STORE_STALE) while the others are taken. Returns how many were taken. One
 * statement on PostgreSQL; elsewhere two round trips per job, as store_job_complete_tx(). */
int store_job_complete_many_tx(StoreTx *tx, const char *worker_id, StoreJobResult *jobs, size_t n, usec_t now);

/* Put jobs whose lease expired before now back in the queue (epoch + 1) and emit a
 * "job_resubmitted" event {jobId, taskRunId, epoch, workerId, reason} for each. Returns the
 * number re-queued. */
int store_job_requeue_expired(Store *s, usec_t now);
/* The same for every job claimed by a worker, with reason STORE_RESUBMIT_WORKER_DEAD (declared
 * dead by liveness) or STORE_RESUBMIT_RELEASED (the worker handing its jobs back as it stops); jobs
 * pinned to it go back to the shared queue. */
int store_job_requeue_worker(Store *s, const char *worker_id, const char *reason, usec_t now);
/* The job_resubmitted event's reasons. */
#define STORE_RESUBMIT_WORKER_DEAD "worker dead"
#define STORE_RESUBMIT_LEASE_EXPIRED "lease expired"
#define STORE_RESUBMIT_RELEASED "released by the worker"
/* Kill: delete the task run's unclaimed jobs, emitting a "task_result" event with result (what the
 * engine makes of a job killed before it started) for each, and flag its claimed ones for their
 * worker. Returns how many jobs were affected. */
int store_job_cancel(StoreTx *tx, const char *task_run_id, json_t *result, usec_t now);
/* Ids of worker_id's jobs that were flagged by store_job_cancel(). Returns the count. */
int store_job_cancelled(Store *s, const char *worker_id, char ***ret_ids);
int store_job_get(StoreTx *tx, const char *id, StoreJob *ret);
/* Count of jobs (claimed or not); for tests and status. */
int store_job_count(StoreTx *tx, int64_t *ret);

/* ---- where a consumer of a queue outside the database is (store-queue-offsets.c) ------------ */

/* The Kafka indexer writes records of a topic's partitions into the repositories together with
 * the next offset to read, in one transaction: a replay after a crash or a rebalance starts there
 * and writes nothing twice. consumer names the reader ("tern-indexer"). */

/* The next offset of partition part of topic that consumer wrote, in tx; -ENOENT when none. */
int store_queue_offset_get(StoreTx *tx, const char *consumer, const char *topic, int part, int64_t *ret);
/* Move it from expected (-1: none written yet) to next, in tx. STORE_STALE (nothing changes) when it
 * is not at expected: another reader of the partition wrote meanwhile, and this one is to read it
 * again from store_queue_offset_get(). */
int store_queue_offset_set(StoreTx *tx, const char *consumer, const char *topic, int part, int64_t expected,
                           int64_t next);

/* ---- logs ----------------------------------------------------------------------------------- */

typedef enum StoreLogLevel {
        STORE_LOG_TRACE,
        STORE_LOG_DEBUG,
        STORE_LOG_INFO,
        STORE_LOG_WARN,
        STORE_LOG_ERROR,
        _STORE_LOG_LEVEL_MAX,
} StoreLogLevel;
const char *store_log_level_to_string(StoreLogLevel l);
int store_log_level_from_string(const char *s);

typedef struct StoreLog {
        int64_t seq;
        const char *execution_id;
        const char *task_run_id; /* may be NULL */
        const char *task_id;     /* may be NULL */
        int attempt;
        StoreLogLevel level;
        usec_t timestamp;
        const char *message;
        const char *namespace, *flow_id; /* of the execution, from a search with_flow (NULL if gone) */
} StoreLog;

/* Append a batch in one statement per row, one transaction. */
int store_log_append(Store *s, const StoreLog *logs, size_t n);
int store_log_append_tx(StoreTx *tx, const StoreLog *logs, size_t n);

typedef struct StoreLogFilter {
        const char *execution_id; /* NULL: any */
        const char *task_run_id;
        StoreLogLevel min_level;
        usec_t from, to;     /* timestamp range [from, to); 0: unbounded */
        const char *text;    /* case-insensitive substring; NULL: any */
        int64_t after_seq;   /* paging cursor: the seq of the last row of the previous page */
        size_t limit;        /* 0: 1000 */
        /* Lines of the executions of a namespace (a prefix: "a" is "a" and "a.b"; exact with
         * flow_id) or of a flow (NULL: any); lines of deleted executions match neither. */
        const char *namespace, *flow_id;
        size_t offset;       /* rows skipped (a page of a search) */
        bool newest_first;
        bool with_flow;      /* fill each line's namespace and flow_id */
} StoreLogFilter;
/* Oldest first (newest_first: the reverse). Results point into an owned block: free with
 * store_logs_free(). */
int store_log_search(Store *s, const StoreLogFilter *f, StoreLog **ret, size_t *ret_n);
/* How many lines match f (its after_seq too; offset and limit do not count). */
int store_log_count(Store *s, const StoreLogFilter *f, int64_t *ret);

/* Which log lines store_log_purge() deletes: all conditions hold (unset ones hold always). */
typedef struct StoreLogPurgeFilter {
        const char *execution_id;
        const char *namespace; /* of the line's execution: a prefix ("a" is "a" and "a.b"), exact with flow_id */
        const char *flow_id;
        unsigned levels;       /* mask of 1u << StoreLogLevel; 0: every level */
        usec_t from, to;       /* timestamp range [from, to]; 0: unbounded */
        const char *task_run_id, *task_id; /* lines of that task run, of that task */
        bool by_attempt;       /* only the lines of that attempt */
        int attempt;
} StoreLogPurgeFilter;
/* Delete the matching lines in tx; ret_deleted (optional) gets how many. */
int store_log_purge(StoreTx *tx, const StoreLogPurgeFilter *f, int64_t *ret_deleted);
void store_logs_free(StoreLog *l, size_t n);

/* ---- metrics -------------------------------------------------------------------------------- */

/* What tasks measured (Kestra's MetricEntry): counters, timers (in milliseconds) and gauges a task
 * reported, one row per task run, type, name and tags. They belong to their execution and go with
 * it (store_execution_delete(), store_purge()). */
typedef struct StoreMetric {
        int64_t seq;
        const char *execution_id, *namespace, *flow_id; /* required */
        const char *task_id, *task_run_id;             /* may be NULL */
        const char *type;                               /* "counter", "timer", "gauge" */
        const char *name;
        double value;
        json_t *tags;    /* object of strings; may be NULL */
        usec_t timestamp;
} StoreMetric;

/* -EINVAL for a metric without an execution, namespace, flow, type or name, or a value that is not
 * finite; a negative errno (the foreign key) when the execution does not exist. */
int store_metric_append_tx(StoreTx *tx, const StoreMetric *m, size_t n);
/* The same for a task run's metrics as its result carries them, [{name, type, value, tags,
 * timestamp}] (timestamp: usec; missing: now), with the ids (and namespace, flow) of run. Entries
 * that are not such objects are skipped. */
int store_metric_append_json_tx(StoreTx *tx, const StoreMetric *run, json_t *metrics, usec_t now);

typedef struct StoreMetricFilter {
        const char *execution_id, *task_run_id, *task_id; /* NULL: any */
        const char *namespace, *flow_id, *name;           /* exact; NULL: any */
        usec_t from, to;                                   /* timestamp range [from, to]; 0: unbounded */
        size_t limit, offset;                              /* limit 0: 1000 */
} StoreMetricFilter;
/* Oldest first (then in the order they were written). ret_total (may be NULL) gets how many match
 * without limit and offset. Free the rows with store_metrics_free(). */
int store_metric_search(Store *s, const StoreMetricFilter *f, StoreMetric **ret, size_t *ret_n, int64_t *ret_total);
void store_metrics_free(StoreMetric *m, size_t n);

typedef enum StoreMetricColumn {
        STORE_METRIC_NAMES,    /* the metric names */
        STORE_METRIC_TASK_IDS, /* the ids of the tasks that reported metrics */
} StoreMetricColumn;
/* The distinct values of a column among a flow's metrics (of one task when task_id is set), sorted,
 * as a json array of strings. */
int store_metric_distinct(Store *s, StoreMetricColumn column, const char *ns, const char *flow_id, const char *task_id,
                          json_t **ret);

/* ---- flows ---------------------------------------------------------------------------------- */

typedef struct StoreFlow {
        char *namespace;
        char *id;
        int revision;
        bool deleted;
        char *source; /* verbatim YAML */
        usec_t created;
} StoreFlow;
void store_flows_free(StoreFlow *f, size_t n);
void store_flow_done(StoreFlow *f);

/* New revision when source differs from the latest (or the flow was deleted): returns 0 and the
 * new revision; STORE_UNCHANGED and the latest revision when equal. */
int store_flow_put(StoreTx *tx, const char *ns, const char *id, const char *source, usec_t now, int *ret_revision);
/* revision 0 = latest. -ENOENT when missing or (latest) deleted. */
int store_flow_get(StoreTx *tx, const char *ns, const char *id, int revision, StoreFlow *ret);
/* Marks deleted with a new revision; history kept. -ENOENT if missing or already deleted. */
int store_flow_delete(StoreTx *tx, const char *ns, const char *id, usec_t now);
/* Latest non-deleted revision of each flow whose namespace is ns_prefix or below it
 * ("a" matches "a" and "a.b", not "ab"); NULL = all. Sorted by namespace, id. */
int store_flow_list(StoreTx *tx, const char *ns_prefix, StoreFlow **ret, size_t *ret_n);
int store_flow_revisions(StoreTx *tx, const char *ns, const char *id, StoreFlow **ret, size_t *ret_n);

/* ---- triggers ------------------------------------------------------------------------------- */

typedef struct StoreTrigger {
        char *namespace;
        char *flow_id;
        char *trigger_id;
        usec_t next_date;        /* 0: none */
        char *last_execution_id; /* may be NULL */
        bool disabled;
        char *locked_by;         /* evaluating scheduler, may be NULL */
        usec_t evaluated_at;
        json_t *state;           /* may be NULL */
        char *kind;              /* "schedule", "flow", ...; may be NULL */
} StoreTrigger;
void store_trigger_done(StoreTrigger *t);
void store_triggers_free(StoreTrigger *t, size_t n);

int store_trigger_put(StoreTx *tx, const StoreTrigger *t);
/* Locks the row (PostgreSQL: FOR UPDATE) until tx ends, for a read-modify-write. */
int store_trigger_get(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id, StoreTrigger *ret);
int store_trigger_delete(StoreTx *tx, const char *ns, const char *flow_id, const char *trigger_id);
/* Enabled triggers with next_date <= now, earliest first, locked (SKIP LOCKED) until tx ends. */
int store_trigger_due(StoreTx *tx, usec_t now, size_t max, StoreTrigger **ret, size_t *ret_n);
/* Triggers of flows whose namespace is ns_prefix or below (NULL: all), of one flow when flow_id is
 * set, of one kind when kind is set; sorted by namespace, flow, trigger. */
int store_trigger_list(StoreTx *tx, const char *ns_prefix, const char *flow_id, const char *kind, StoreTrigger **ret,
                       size_t *ret_n);

/* The scheduler's inbox (store-trigger-events.c). Rows are StoreEvents without an execution id.
 * Types: "flow_changed" {namespace, id} is written by store_flow_put()/store_flow_delete() in
 * their transaction; "execution_ended" {executionId, namespace, flowId, state} by the executor,
 * through store_execution_ended_emit(). Commits wake STORE_CHANNEL_TRIGGERS. */
#define STORE_TRIGGER_EVENT_FLOW_CHANGED "flow_changed"
#define STORE_TRIGGER_EVENT_EXECUTION_ENDED "execution_ended"
int store_trigger_event_emit(StoreTx *tx, const char *type, json_t *payload, usec_t now);
/* Only when an enabled trigger of kind "flow" or "flow_states" exists (nobody listens otherwise,
 * and a store used without a scheduler must not fill up). Returns 0 when written, STORE_SKIPPED when
 * not. */
int store_execution_ended_emit(StoreTx *tx, const char *execution_id, const char *ns, const char *flow_id,
                               const char *state, usec_t now);
/* "execution_states" {executionId, namespace, flowId, states: [...]}: the non-terminal states an
 * execution entered in one executor step, in order. Only when an enabled trigger of kind
 * "flow_states" (a Flow trigger that lists such states) exists: other stores pay one index probe.
 * Returns 0 when written, STORE_SKIPPED when not. */
#define STORE_TRIGGER_EVENT_EXECUTION_STATES "execution_states"
int store_execution_states_emit(StoreTx *tx, const char *execution_id, const char *ns, const char *flow_id,
                                json_t *states, usec_t now);
/* Oldest first, up to max, locked (SKIP LOCKED) until tx ends; delete each one consumed. */
int store_trigger_event_claim(StoreTx *tx, size_t max, StoreEvent **ret, size_t *ret_n);
int store_trigger_event_delete(StoreTx *tx, int64_t seq);

/* ---- key-value store ------------------------------------------------------------------------ */

/* expires_at 0: never. */
int store_kv_put(StoreTx *tx, const char *ns, const char *key, json_t *value, usec_t expires_at, usec_t now);
/* -ENOENT when missing or expired at now. */
int store_kv_get(StoreTx *tx, const char *ns, const char *key, usec_t now, json_t **ret);
int store_kv_delete(StoreTx *tx, const char *ns, const char *key);
/* Keys (json array of strings, sorted) not expired at now. */
int store_kv_list(StoreTx *tx, const char *ns, usec_t now, json_t **ret);
/* Every entry, expired ones included (PurgeKV chooses): [{namespace, key, expiresAt (usec, 0: never)}],
 * sorted by namespace and key. */
int store_kv_entries(StoreTx *tx, json_t **ret);

/* ---- service instances ---------------------------------------------------------------------- */

typedef struct StoreService {
        char *id;
        char *component;
        char *host;
        int64_t pid;
        char *state;
        usec_t started;
        usec_t heartbeat;
        json_t *info; /* may be NULL */
} StoreService;
void store_services_free(StoreService *s, size_t n);

int store_service_put(StoreTx *tx, const StoreService *svc);
/* Update heartbeat (and state when not NULL); -ENOENT if the instance was removed (declared
 * dead): the caller should re-register or stop. */
int store_service_heartbeat(StoreTx *tx, const char *id, const char *state, usec_t now);
int store_service_delete(StoreTx *tx, const char *id);
/* since 0: all instances; else those whose last heartbeat is older than since. */
int store_service_list(StoreTx *tx, usec_t silent_since, StoreService **ret, size_t *ret_n);

/* ---- monitoring ----------------------------------------------------------------------------- */

typedef struct StoreCount {
        char *key;
        int64_t n;
} StoreCount;

typedef struct StoreStats {
        StoreCount *executions; /* by state, stored executions */
        size_t n_executions;
        StoreCount *task_runs; /* by state, the task runs of stored executions */
        size_t n_task_runs;
        int64_t jobs_queued, jobs_running; /* running: claimed by a worker */
        int64_t events_pending, events_due; /* due: due_at reached, waiting for an executor */
        int64_t workers;      /* worker instances with a heartbeat within dead_after */
        int64_t worker_slots; /* their slots, summed from the "slots" of their info; -1 when none recorded */
} StoreStats;
void store_stats_done(StoreStats *s);
int store_stats_get(StoreTx *tx, usec_t now, usec_t dead_after, StoreStats *ret);
/* Creation to first RUNNING of the latest limit executions that have run, in no particular order. */
int store_execution_start_delays(StoreTx *tx, size_t limit, usec_t **ret, size_t *ret_n);

/* ---- retention ------------------------------------------------------------------------------ */

typedef struct StorePurgeStats {
        uint64_t logs, executions, kv;
} StorePurgeStats;
/* Delete logs older than older_than, terminal executions that ended before it (with their
 * events and labels) and expired kv entries, batch rows per short transaction. */
int store_purge(Store *s, usec_t older_than, size_t batch, usec_t now, StorePurgeStats *ret);

/* A terminal execution as retention finds it: its id and what locates its files. */
typedef struct StoreExecutionRef {
        char *id, *namespace, *flow_id;
} StoreExecutionRef;
void store_execution_refs_free(StoreExecutionRef *refs, size_t n);
/* Up to limit terminal executions that ended before `before`, oldest first (the caller deletes
 * their files, then each with store_execution_delete()). */
int store_execution_ended(StoreTx *tx, usec_t before, size_t limit, StoreExecutionRef **ret, size_t *ret_n);

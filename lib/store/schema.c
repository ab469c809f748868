/* schema.c: the store's versioned migrations for PostgreSQL and SQLite, and why each index exists. */
#include "store-private.h"

/* Hot queries and the index that serves each (same names in both dialects):
 *
 *  executor claim   SELECT execution_id FROM events WHERE due_at <= now ORDER BY due_at LIMIT k
 *                   -> events_due; then the executions row by primary key, FOR NO KEY UPDATE
 *                   SKIP LOCKED (not FOR UPDATE: the foreign-key checks of events and jobs
 *                   inserted meanwhile by workers take KEY SHARE and must not wait for the step).
 *  executor read    SELECT ... FROM events WHERE execution_id = $1 AND due_at <= now ORDER BY seq
 *                   -> events_execution (execution_id, seq).
 *  worker claim     SELECT id FROM jobs WHERE worker_id IS NULL AND queue = $q AND available_at <= now
 *                   ORDER BY available_at LIMIT n FOR UPDATE SKIP LOCKED
 *                   -> jobs_available, partial on unclaimed rows so claimed jobs cost nothing.
 *  lease expiry     SELECT id FROM jobs WHERE worker_id IS NOT NULL AND lease_until < now
 *                   -> jobs_lease (partial on claimed rows).
 *  dead worker      ... WHERE worker_id = $w -> jobs_worker (PostgreSQL: jobs_lease, every claimed
 *                   job read; its cancelled ones -> jobs_cancelled: see JOBS_WORKER_PG).
 *  complete/renew   by jobs primary key.
 *  execution list   WHERE namespace/flow_id ... ORDER BY created DESC -> executions_ns_flow_created,
 *                   executions_created, executions_state; subflows -> executions_parent;
 *                   labels -> execution_labels_kv (key, value).
 *  retention        executions WHERE end_date < cutoff -> executions_end (partial: terminal only);
 *                   logs WHERE ts < cutoff -> logs_ts; kv WHERE expires_at < now -> kv_expires.
 *  log view         WHERE execution_id = $1 AND seq > cursor ORDER BY seq -> logs_execution.
 *  scheduler        triggers WHERE disabled = 0 AND next_date <= now ORDER BY next_date -> triggers_next;
 *                   "any Flow trigger?" on every ended execution -> triggers_kind; its inbox
 *                   trigger_events by primary key (seq).
 *  liveness         services WHERE heartbeat < since -> services_heartbeat.
 *  concurrency      executions of one flow in an active state (count, oldest QUEUED)
 *                   -> executions_active (partial: active and queued rows only).
 *  flows            latest revision: primary key (namespace, id, revision) scanned backwards.
 *
 * Consumed events and completed jobs are deleted, so events and jobs stay small. */

#define COMMON_INDEXES                                                                                   \
        "CREATE INDEX executions_ns_flow_created ON executions (namespace, flow_id, created DESC);\n"   \
        "CREATE INDEX executions_created ON executions (created DESC);\n"                                \
        "CREATE INDEX executions_state ON executions (state, created DESC);\n"                          \
        "CREATE INDEX executions_parent ON executions (parent_id) WHERE parent_id IS NOT NULL;\n"       \
        "CREATE INDEX executions_end ON executions (end_date) WHERE end_date IS NOT NULL;\n"            \
        "CREATE INDEX execution_labels_kv ON execution_labels (key, value);\n"                          \
        "CREATE INDEX events_due ON events (due_at);\n"                                                  \
        "CREATE INDEX events_execution ON events (execution_id, seq);\n"                                 \
        "CREATE INDEX jobs_available ON jobs (queue, available_at) WHERE worker_id IS NULL;\n"          \
        "CREATE INDEX jobs_lease ON jobs (lease_until) WHERE worker_id IS NOT NULL;\n"                  \
        "CREATE INDEX jobs_worker ON jobs (worker_id) WHERE worker_id IS NOT NULL;\n"                   \
        "CREATE INDEX jobs_execution ON jobs (execution_id);\n"                                          \
        "CREATE INDEX logs_execution ON logs (execution_id, seq);\n"                                     \
        "CREATE INDEX logs_ts ON logs (ts);\n"                                                           \
        "CREATE INDEX triggers_next ON triggers (next_date) WHERE disabled = 0;\n"                       \
        "CREATE INDEX kv_expires ON kv (expires_at) WHERE expires_at IS NOT NULL;\n"                     \
        "CREATE INDEX services_heartbeat ON services (heartbeat);\n"

/* The tables, with the dialect's spelling of an auto-increment key and of a JSON column. */
#define TABLES(SEQ, JSON)                                                                                \
        "CREATE TABLE flows (\n"                                                                         \
        "  namespace TEXT NOT NULL, id TEXT NOT NULL, revision INTEGER NOT NULL,\n"                      \
        "  deleted INTEGER NOT NULL DEFAULT 0, source TEXT NOT NULL, created BIGINT NOT NULL,\n"         \
        "  PRIMARY KEY (namespace, id, revision));\n"                                                    \
        "CREATE TABLE executions (\n"                                                                    \
        "  id TEXT PRIMARY KEY, namespace TEXT NOT NULL, flow_id TEXT NOT NULL, flow_revision INTEGER,\n" \
        "  state TEXT NOT NULL, created BIGINT NOT NULL, updated BIGINT NOT NULL,\n"                    \
        "  start_date BIGINT, end_date BIGINT, parent_id TEXT, doc " JSON " NOT NULL);\n"               \
        "CREATE TABLE execution_labels (\n"                                                              \
        "  execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,\n"                  \
        "  key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (execution_id, key, value));\n"          \
        "CREATE TABLE events (\n"                                                                        \
        "  seq " SEQ ",\n"                                                                               \
        "  execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,\n"                  \
        "  type TEXT NOT NULL, payload " JSON ", due_at BIGINT NOT NULL, created BIGINT NOT NULL);\n"   \
        "CREATE TABLE jobs (\n"                                                                          \
        "  id TEXT PRIMARY KEY,\n"                                                                       \
        "  execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,\n"                  \
        "  task_run_id TEXT, queue TEXT NOT NULL DEFAULT '', payload " JSON " NOT NULL,\n"              \
        "  epoch BIGINT NOT NULL DEFAULT 0, worker_id TEXT, available_at BIGINT NOT NULL,\n"            \
        "  lease_until BIGINT, created BIGINT NOT NULL);\n"                                              \
        "CREATE TABLE logs (\n"                                                                          \
        "  seq " SEQ ", execution_id TEXT NOT NULL, task_run_id TEXT, task_id TEXT,\n"                   \
        "  attempt INTEGER NOT NULL DEFAULT 0, level INTEGER NOT NULL, ts BIGINT NOT NULL,\n"           \
        "  message TEXT NOT NULL);\n"                                                                    \
        "CREATE TABLE triggers (\n"                                                                      \
        "  namespace TEXT NOT NULL, flow_id TEXT NOT NULL, trigger_id TEXT NOT NULL,\n"                  \
        "  next_date BIGINT, last_execution_id TEXT, disabled INTEGER NOT NULL DEFAULT 0,\n"            \
        "  locked_by TEXT, evaluated_at BIGINT, state " JSON ",\n"                                       \
        "  PRIMARY KEY (namespace, flow_id, trigger_id));\n"                                             \
        "CREATE TABLE kv (\n"                                                                            \
        "  namespace TEXT NOT NULL, key TEXT NOT NULL, value " JSON " NOT NULL,\n"                      \
        "  expires_at BIGINT, updated BIGINT NOT NULL, PRIMARY KEY (namespace, key));\n"                \
        "CREATE TABLE services (\n"                                                                      \
        "  id TEXT PRIMARY KEY, component TEXT NOT NULL, host TEXT NOT NULL, pid BIGINT NOT NULL,\n"    \
        "  state TEXT NOT NULL, started BIGINT NOT NULL, heartbeat BIGINT NOT NULL, info " JSON ");\n"

/* Flow concurrency counts a flow's active executions and finds its oldest queued one. */
#define EXECUTIONS_ACTIVE                                                                                \
        "CREATE INDEX executions_active ON executions (namespace, flow_id, created)"                     \
        " WHERE state IN ('RUNNING', 'PAUSED', 'RETRYING', 'KILLING', 'RESTARTED', 'QUEUED');\n"

/* A kill asks workers to stop jobs they hold: the flag is read with the lease renewal. */
#define JOBS_CANCELLED "ALTER TABLE jobs ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;\n"

/* An execution's task runs, a row each (store-taskruns.c), moved out of the documents. */
#define TASK_RUNS                                                                                        \
        "CREATE TABLE task_runs (\n"                                                                     \
        "  execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,\n"                  \
        "  ord INTEGER NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, doc TEXT NOT NULL,\n"           \
        "  PRIMARY KEY (execution_id, ord));\n"
#define TASK_RUNS_MOVE_PG                                                                                \
        "INSERT INTO task_runs (execution_id, ord, id, state, doc)"                                      \
        " SELECT x.id, (t.o - 1)::int, COALESCE(t.v->>'id', ''),"                                       \
        " COALESCE(t.v->'state'->>'current', 'CREATED'), t.v::text"                                     \
        " FROM executions x, jsonb_array_elements(x.doc->'taskRunList') WITH ORDINALITY t(v, o)"        \
        " WHERE jsonb_typeof(x.doc->'taskRunList') = 'array';\n"                                        \
        "UPDATE executions SET doc = doc - 'taskRunList' WHERE doc ? 'taskRunList';\n"
#define TASK_RUNS_MOVE_SQLITE                                                                            \
        "INSERT INTO task_runs (execution_id, ord, id, state, doc)"                                      \
        " SELECT x.id, t.key, COALESCE(json_extract(t.value, '$.id'), ''),"                             \
        " COALESCE(json_extract(t.value, '$.state.current'), 'CREATED'), t.value"                       \
        " FROM executions x, json_each(x.doc, '$.taskRunList') t"                                        \
        " WHERE json_type(x.doc, '$.taskRunList') = 'array';\n"                                         \
        "UPDATE executions SET doc = json_remove(doc, '$.taskRunList')"                                  \
        " WHERE json_type(doc, '$.taskRunList') IS NOT NULL;\n"

/* A version per execution document, so that an executor can keep documents between steps. */
#define EXECUTION_VERSION "ALTER TABLE executions ADD COLUMN version BIGINT NOT NULL DEFAULT 0;\n"

/* A worker's next due time (the earliest unclaimed job of any queue) without reading them all. */
#define JOBS_DUE "CREATE INDEX jobs_due ON jobs (available_at) WHERE worker_id IS NULL;\n"

/* The scheduler's inbox: flow changes and ended executions, written in the transaction that
 * caused them and consumed (deleted) by one scheduler. A trigger's kind lets the executor skip
 * the "execution ended" row when no Flow trigger listens (triggers_kind). */
#define SCHEDULER_QUEUE(SEQ, JSON)                                                                       \
        "CREATE TABLE trigger_events (\n"                                                                \
        "  seq " SEQ ", type TEXT NOT NULL, payload " JSON ", created BIGINT NOT NULL);\n"              \
        "ALTER TABLE triggers ADD COLUMN kind TEXT;\n"                                                   \
        "CREATE INDEX triggers_kind ON triggers (kind) WHERE disabled = 0;\n"

/* What tasks measured (store-metrics.c): an execution's by execution (metrics_execution), a flow's
 * names and aggregates by flow, name and time (metrics_flow). */
#define METRICS(SEQ, JSON)                                                                               \
        "CREATE TABLE metrics (\n"                                                                       \
        "  seq " SEQ ", execution_id TEXT NOT NULL REFERENCES executions (id) ON DELETE CASCADE,\n"     \
        "  namespace TEXT NOT NULL, flow_id TEXT NOT NULL, task_id TEXT, task_run_id TEXT,\n"           \
        "  type TEXT NOT NULL, name TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, tags " JSON ",\n"   \
        "  ts BIGINT NOT NULL);\n"                                                                       \
        "CREATE INDEX metrics_execution ON metrics (execution_id, seq);\n"                               \
        "CREATE INDEX metrics_flow ON metrics (namespace, flow_id, name, ts);\n"

/* Where each consumer of a queue outside the database (the Kafka indexer) has written up to, per
 * partition, in the transaction that wrote the rows: a replay starts there, so it writes nothing
 * twice (store-queue-offsets.c). */
#define QUEUE_OFFSETS                                                                                    \
        "CREATE TABLE queue_offsets (\n"                                                                 \
        "  consumer TEXT NOT NULL, topic TEXT NOT NULL, part INTEGER NOT NULL,\n"                       \
        "  next_offset BIGINT NOT NULL, PRIMARY KEY (consumer, topic, part));\n"

/* PostgreSQL: jobs_worker cost more than it served. A claim sets worker_id, so it is never an
 * in-place (HOT) update and writes a new entry into every index the claimed row belongs to;
 * jobs_worker was one of them, and the completion's DELETE ... USING found the worker's jobs
 * through it, reading the entries of every job the worker completed since the last vacuum (15
 * blocks a task, against 4 or 5 by primary key). What it served reads the claimed jobs, as many as
 * tasks run: a dead worker's (rare) through jobs_lease, the same rows; the cancellation check
 * (every second per busy worker) through jobs_cancelled, which holds only the jobs a kill
 * flagged, so no claim writes to it. */
#define JOBS_WORKER_PG                                                                                   \
        "DROP INDEX jobs_worker;\n"                                                                      \
        "CREATE INDEX jobs_cancelled ON jobs (worker_id) WHERE cancelled = 1;\n"

const StoreMigration store_migrations_postgres[] = {
        { "initial schema", TABLES("BIGSERIAL PRIMARY KEY", "JSONB") COMMON_INDEXES },
        { "job cancellation", JOBS_CANCELLED },
        { "scheduler queue", SCHEDULER_QUEUE("BIGSERIAL PRIMARY KEY", "JSONB") },
        { "flow concurrency index", EXECUTIONS_ACTIVE },
        { "task runs table", TASK_RUNS TASK_RUNS_MOVE_PG },
        { "execution versions", EXECUTION_VERSION },
        { "jobs due index", JOBS_DUE },
        { "task metrics", METRICS("BIGSERIAL PRIMARY KEY", "JSONB") },
        { "queue offsets", QUEUE_OFFSETS },
        { "jobs by worker index dropped", JOBS_WORKER_PG },
};
const size_t store_n_migrations_postgres = ELEMENTSOF(store_migrations_postgres);

/* AUTOINCREMENT so that a seq is never reused after the newest row is deleted (log paging
 * cursors and event order rely on it). */
const StoreMigration store_migrations_sqlite[] = {
        { "initial schema", TABLES("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT") COMMON_INDEXES },
        { "job cancellation", JOBS_CANCELLED },
        { "scheduler queue", SCHEDULER_QUEUE("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT") },
        { "flow concurrency index", EXECUTIONS_ACTIVE },
        { "task runs table", TASK_RUNS TASK_RUNS_MOVE_SQLITE },
        { "execution versions", EXECUTION_VERSION },
        { "jobs due index", JOBS_DUE },
        { "task metrics", METRICS("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT") },
        { "queue offsets", QUEUE_OFFSETS },
};
const size_t store_n_migrations_sqlite = ELEMENTSOF(store_migrations_sqlite);

/* schema-mysql.c: the store's versioned migrations for MySQL/MariaDB (the same versions and indexes as schema.c). */
#include "store-private.h"

/* What differs from schema.c, and why:
 *  - Keys are VARCHAR(255): MySQL indexes no TEXT without a prefix, and InnoDB's 3072-byte key
 *    limit takes three utf8mb4 columns of 255 characters (the triggers' and labels' keys). Longer
 *    ids, namespaces, label keys and values or kv keys are refused ("Data too long", strict mode).
 *  - Documents are LONGTEXT, not JSON: the store never looks inside them in SQL beyond a job's
 *    attempt and a state history (JSON_EXTRACT reads text as well), MariaDB's JSON is LONGTEXT
 *    anyway, and MySQL's binary JSON would cost a parse per write and reorder the keys.
 *  - Text compares by code point and trailing spaces count, as in the other databases:
 *    utf8mb4_nopad_bin (MariaDB; the driver says utf8mb4_0900_bin on MySQL 8).
 *  - No partial indexes: each becomes a plain index led by its predicate's column, e.g. the
 *    worker claim's jobs_available is (queue, worker_id, available_at), serving "worker_id IS
 *    NULL AND queue = ? AND available_at <= ? ORDER BY available_at" as one range.
 *  - AUTO_INCREMENT keeps seq unique for good (the counter is persistent since MariaDB 10.2.4 and
 *    MySQL 8.0), as SQLite's AUTOINCREMENT does.
 *  - Two tables of the driver's own (mysql.c): tern_wakeups, a short log of committed
 *    notifications that replaces LISTEN/NOTIFY, and tern_locks, rows locked in place of
 *    PostgreSQL's transaction-level advisory locks (flow concurrency).
 * DDL commits on MySQL, so each migration is applied on its own, not all in one transaction:
 * a failure leaves the versions before it recorded, and concurrent migrators serialize on a
 * named lock (mysql.c, TX_EXCLUSIVE). */

#define TABLE_OPTIONS " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_nopad_bin;\n"
#define KEY "VARCHAR(255)"

#define MYSQL_TABLES                                                                                     \
        "CREATE TABLE flows (\n"                                                                         \
        "  namespace " KEY " NOT NULL, id " KEY " NOT NULL, revision INTEGER NOT NULL,\n"                \
        "  deleted INTEGER NOT NULL DEFAULT 0, source LONGTEXT NOT NULL, created BIGINT NOT NULL,\n"     \
        "  PRIMARY KEY (namespace, id, revision))" TABLE_OPTIONS                                          \
        "CREATE TABLE executions (\n"                                                                    \
        "  id " KEY " PRIMARY KEY, namespace " KEY " NOT NULL, flow_id " KEY " NOT NULL,\n"             \
        "  flow_revision INTEGER, state " KEY " NOT NULL, created BIGINT NOT NULL,\n"                    \
        "  updated BIGINT NOT NULL, start_date BIGINT, end_date BIGINT, parent_id " KEY ",\n"          \
        "  doc LONGTEXT NOT NULL)" TABLE_OPTIONS                                                          \
        "CREATE TABLE execution_labels (\n"                                                              \
        "  execution_id " KEY " NOT NULL, \"key\" " KEY " NOT NULL, value " KEY " NOT NULL,\n"         \
        "  PRIMARY KEY (execution_id, \"key\", value),\n"                                               \
        "  FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE)" TABLE_OPTIONS        \
        "CREATE TABLE events (\n"                                                                        \
        "  seq BIGINT AUTO_INCREMENT PRIMARY KEY, execution_id " KEY " NOT NULL,\n"                      \
        "  type " KEY " NOT NULL, payload LONGTEXT, due_at BIGINT NOT NULL, created BIGINT NOT NULL,\n" \
        "  FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE)" TABLE_OPTIONS        \
        "CREATE TABLE jobs (\n"                                                                          \
        "  id " KEY " PRIMARY KEY, execution_id " KEY " NOT NULL, task_run_id " KEY ",\n"                \
        "  queue " KEY " NOT NULL DEFAULT '', payload LONGTEXT NOT NULL, epoch BIGINT NOT NULL DEFAULT 0,\n" \
        "  worker_id " KEY ", available_at BIGINT NOT NULL, lease_until BIGINT, created BIGINT NOT NULL,\n" \
        "  FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE)" TABLE_OPTIONS        \
        "CREATE TABLE logs (\n"                                                                          \
        "  seq BIGINT AUTO_INCREMENT PRIMARY KEY, execution_id " KEY " NOT NULL, task_run_id " KEY ",\n" \
        "  task_id " KEY ", attempt INTEGER NOT NULL DEFAULT 0, level INTEGER NOT NULL,\n"               \
        "  ts BIGINT NOT NULL, message LONGTEXT NOT NULL)" TABLE_OPTIONS                                  \
        "CREATE TABLE triggers (\n"                                                                      \
        "  namespace " KEY " NOT NULL, flow_id " KEY " NOT NULL, trigger_id " KEY " NOT NULL,\n"         \
        "  next_date BIGINT, last_execution_id " KEY ", disabled INTEGER NOT NULL DEFAULT 0,\n"          \
        "  locked_by " KEY ", evaluated_at BIGINT, state LONGTEXT,\n"                                     \
        "  PRIMARY KEY (namespace, flow_id, trigger_id))" TABLE_OPTIONS                                   \
        "CREATE TABLE kv (\n"                                                                            \
        "  namespace " KEY " NOT NULL, \"key\" " KEY " NOT NULL, value LONGTEXT NOT NULL,\n"            \
        "  expires_at BIGINT, updated BIGINT NOT NULL, PRIMARY KEY (namespace, \"key\"))" TABLE_OPTIONS   \
        "CREATE TABLE services (\n"                                                                      \
        "  id " KEY " PRIMARY KEY, component " KEY " NOT NULL, host " KEY " NOT NULL,\n"                 \
        "  pid BIGINT NOT NULL, state " KEY " NOT NULL, started BIGINT NOT NULL,\n"                      \
        "  heartbeat BIGINT NOT NULL, info LONGTEXT)" TABLE_OPTIONS                                       \
        "CREATE TABLE tern_wakeups (\n"                                                                  \
        "  id BIGINT AUTO_INCREMENT PRIMARY KEY, origin BIGINT UNSIGNED NOT NULL,\n"                     \
        "  channels INTEGER NOT NULL, created TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n"     \
        "  INDEX tern_wakeups_created (created))" TABLE_OPTIONS                                           \
        "CREATE TABLE tern_locks (name CHAR(64) PRIMARY KEY)" TABLE_OPTIONS

#define MYSQL_INDEXES                                                                                    \
        "CREATE INDEX executions_ns_flow_created ON executions (namespace, flow_id, created DESC);\n"   \
        "CREATE INDEX executions_created ON executions (created DESC);\n"                                \
        "CREATE INDEX executions_state ON executions (state, created DESC);\n"                          \
        "CREATE INDEX executions_parent ON executions (parent_id);\n"                                   \
        "CREATE INDEX executions_end ON executions (end_date);\n"                                        \
        "CREATE INDEX execution_labels_kv ON execution_labels (\"key\", value);\n"                      \
        "CREATE INDEX events_due ON events (due_at);\n"                                                  \
        "CREATE INDEX events_execution ON events (execution_id, seq);\n"                                 \
        "CREATE INDEX jobs_available ON jobs (queue, worker_id, available_at);\n"                       \
        "CREATE INDEX jobs_lease ON jobs (lease_until);\n"                                               \
        "CREATE INDEX jobs_worker ON jobs (worker_id);\n"                                                \
        "CREATE INDEX jobs_execution ON jobs (execution_id);\n"                                          \
        "CREATE INDEX logs_execution ON logs (execution_id, seq);\n"                                     \
        "CREATE INDEX logs_ts ON logs (ts);\n"                                                           \
        "CREATE INDEX triggers_next ON triggers (disabled, next_date);\n"                               \
        "CREATE INDEX kv_expires ON kv (expires_at);\n"                                                  \
        "CREATE INDEX services_heartbeat ON services (heartbeat);\n"

#define MYSQL_SCHEDULER_QUEUE                                                                            \
        "CREATE TABLE trigger_events (\n"                                                                \
        "  seq BIGINT AUTO_INCREMENT PRIMARY KEY, type " KEY " NOT NULL, payload LONGTEXT,\n"            \
        "  created BIGINT NOT NULL)" TABLE_OPTIONS                                                        \
        "ALTER TABLE triggers ADD COLUMN kind " KEY ";\n"                                                \
        "CREATE INDEX triggers_kind ON triggers (kind, disabled);\n"

/* No MySQL database predates version 5 (the backend came later), so there are no documents
 * whose task runs would have to move into the table. */
#define MYSQL_TASK_RUNS                                                                                  \
        "CREATE TABLE task_runs (\n"                                                                     \
        "  execution_id " KEY " NOT NULL, ord INTEGER NOT NULL, id " KEY " NOT NULL,\n"                  \
        "  state " KEY " NOT NULL, doc LONGTEXT NOT NULL, PRIMARY KEY (execution_id, ord),\n"            \
        "  FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE)" TABLE_OPTIONS

/* What tasks measured (store-metrics.c), as on the other backends. */
#define MYSQL_METRICS                                                                                    \
        "CREATE TABLE metrics (\n"                                                                       \
        "  seq BIGINT AUTO_INCREMENT PRIMARY KEY, execution_id " KEY " NOT NULL,\n"                      \
        "  namespace " KEY " NOT NULL, flow_id " KEY " NOT NULL, task_id " KEY ", task_run_id " KEY ",\n" \
        "  type " KEY " NOT NULL, name " KEY " NOT NULL, value DOUBLE NOT NULL, tags LONGTEXT,\n"        \
        "  ts BIGINT NOT NULL,\n"                                                                        \
        "  FOREIGN KEY (execution_id) REFERENCES executions (id) ON DELETE CASCADE)" TABLE_OPTIONS        \
        "CREATE INDEX metrics_execution ON metrics (execution_id, seq);\n"                               \
        "CREATE INDEX metrics_flow ON metrics (namespace, flow_id, name, ts);\n"

/* Where the Kafka indexer has written up to (store-queue-offsets.c), as on the other backends. */
#define MYSQL_QUEUE_OFFSETS                                                                              \
        "CREATE TABLE queue_offsets (\n"                                                                 \
        "  consumer " KEY " NOT NULL, topic " KEY " NOT NULL, part INTEGER NOT NULL,\n"                 \
        "  next_offset BIGINT NOT NULL, PRIMARY KEY (consumer, topic, part))" TABLE_OPTIONS

const StoreMigration store_migrations_mysql[] = {
        { "initial schema", MYSQL_TABLES MYSQL_INDEXES },
        { "job cancellation", "ALTER TABLE jobs ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;\n" },
        { "scheduler queue", MYSQL_SCHEDULER_QUEUE },
        { "flow concurrency index",
          "CREATE INDEX executions_active ON executions (namespace, flow_id, state, created);\n" },
        { "task runs table", MYSQL_TASK_RUNS },
        { "execution versions", "ALTER TABLE executions ADD COLUMN version BIGINT NOT NULL DEFAULT 0;\n" },
        { "jobs due index", "CREATE INDEX jobs_due ON jobs (worker_id, available_at);\n" },
        { "task metrics", MYSQL_METRICS },
        { "queue offsets", MYSQL_QUEUE_OFFSETS },
};
const size_t store_n_migrations_mysql = ELEMENTSOF(store_migrations_mysql);

/* config.h: the daemons' configuration: /etc/tern/tern.conf, tern.conf.d drop-ins, environment
 * overrides and secrets read from files or systemd credentials. */
#pragma once

#include <stdbool.h>
#include <stdio.h>

#include "macro.h"
#include "timeutil.h"

/* Format: INI sections of "key = value" lines, '#' or ';' comments (see etc/tern.conf).
 * Precedence, later wins: built-in defaults, the main file, the drop-ins (*.conf in the
 * directory "<main file>.d", in name order), then environment variables TERN_<SECTION>_<KEY>
 * (upper case, '-' as '_': TERN_WORKER_SLOTS=8; TERN_DB is accepted for database.url and
 * TERN_STATE_DIR for server.state-dir, the names the CLI has always read), then the command line of
 * a front end that has one (tern server, tern run: ConfigSource.overrides).
 *
 * Secrets never come from the command line or the environment: the database password is read
 * from database.password-file, else from the systemd credential "db-password"
 * ($CREDENTIALS_DIRECTORY/db-password, LoadCredential= in the unit). */

#define CONFIG_DEFAULT_PATH "/etc/tern/tern.conf"

typedef struct TernConfig {
        /* [database] */
        char *db_url;          /* NULL: the embedded SQLite file in state_dir */
        char *db_password_file;
        char *db_password;     /* secret: never printed */
        /* [server] */
        char *state_dir;       /* default /var/lib/tern ($STATE_DIRECTORY under systemd) */
        char *runtime_dir;     /* status sockets; default /run/tern ($RUNTIME_DIRECTORY) */
        usec_t grace;          /* graceful stop: how long running tasks may finish */
        /* [flow] */
        unsigned flow_max_tasks; /* tasks per flow at validation (flow_set_max_tasks) */
        /* [executor] */
        unsigned executor_batch;
        usec_t executor_poll;  /* 0: the backend's (SQLite has no notifications across processes) */
        /* [worker] */
        unsigned worker_slots;
        char *worker_queue;    /* NULL: the default group */
        usec_t worker_lease;
        unsigned worker_log_lines;  /* task log kept per task run: lines, then bytes (then one WARN) */
        unsigned worker_log_bytes;
        unsigned worker_output_mib; /* a task run's output files and downloads, in all */
        char *worker_pip_index_url; /* where Python tasks' dependencies come from (pip's --index-url);
                                     * NULL: pip's own default */
        /* [sandbox]: how the worker isolates shell tasks; kept as written, checked and applied by
         * sandbox-config.h (which names the keys and values) */
        char *sandbox_mode, *sandbox_network, *sandbox_user_namespace, *sandbox_uid, *sandbox_memory,
                *sandbox_pids, *sandbox_cpu, *sandbox_bind_ro, *sandbox_bind_rw, *sandbox_hide, *sandbox_made_ahead,
                *sandbox_require_image;
        /* [liveness] */
        usec_t heartbeat;      /* how often each daemon writes its heartbeat */
        usec_t dead_after;     /* an instance silent this long is declared dead */
        /* [webserver] */
        char *webserver_listen; /* "HOST:PORT[, HOST:PORT...]"; NULL: 127.0.0.1:8080 */
        char *webserver_ui_dir; /* the web UI's files; NULL: where meson installed them; "": no UI */
        unsigned webserver_max_upload_mib; /* a multipart/form-data body at most (FILE inputs, webhook parts) */
        /* [storage]: the internal storage every component shares (lib/storage/storage.h names the
         * URLs and where each backend finds its credentials: never in this file) */
        char *storage_url;     /* default file://<state-dir>/storage */
        usec_t storage_retention; /* ended executions older than this go, with their files and logs; 0: kept */
        /* [queue]: where events and jobs travel (docs/KAFKA.md) */
        char *queue_type;        /* "database" (NULL) or "kafka" */
        char *queue_brokers;     /* Kafka bootstrap servers */
        char *queue_topic_prefix; /* NULL: "tern." */
        unsigned queue_partitions;
        unsigned queue_replication;
        char **queue_kafka;      /* "property=value" handed to librdkafka as written ([queue] kafka.PROPERTY) */
        /* [plugins] */
        char *plugins_path;    /* directories of plugins searched after libdir/tern/plugins, ':'-separated
                                * (lib/flow/plugin.h); NULL: none */
        /* [log] */
        int log_level;         /* syslog level */

        char **sources;        /* files read, in order (for 'tern config check') */
        char **skipped;        /* default files this user may not read (ConfigSource.command) */
} TernConfig;

/* Where a configuration comes from, read again as it was on each reload (SIGHUP). */
typedef struct ConfigSource {
        const char *path;  /* NULL: $TERN_CONFIG, else CONFIG_DEFAULT_PATH */
        char **defaults;   /* "section.key=value": the front end's own defaults (the CLI's state
                            * directory for a user), under the files; NULL: none */
        char **overrides;  /* "section.key=value": the command line's settings, over the
                            * environment; NULL: none */
        bool command;      /* a command run by hand (tern server, tern run), not a unit: the
                            * default file and drop-ins (not one named by path or $TERN_CONFIG),
                            * when this user may not read them, are the daemons' and are skipped
                            * (listed in skipped); runtime-dir defaults to <state-dir>/run, so that
                            * servers with state directories of their own never share a socket */
} ConfigSource;

/* Load path (NULL: $TERN_CONFIG, else CONFIG_DEFAULT_PATH; a missing default file means defaults)
 * and its drop-ins. Problems are collected as "file:line: message" lines in *ret_errors
 * (optional; a NULL-terminated vector, the caller frees it) and make it return -EINVAL; the
 * config is then left empty. -ENOMEM on allocation failure. */
int config_load(const char *path, TernConfig *ret, char ***ret_errors);
/* The same with a front end's defaults and command-line overrides (src NULL: config_load(NULL)).
 * A malformed or unknown setting among them is reported like a bad line of a file. */
int config_load_from(const ConfigSource *src, TernConfig *ret, char ***ret_errors);
void config_done(TernConfig *c);

/* The database URL with the password folded in (a libpq URI query parameter or conninfo key). */
int config_db_url(const TernConfig *c, char **ret);

/* Durations as tern.conf takes them: ISO-8601 (PT30S, P30D) or a number of seconds with an
 * optional unit (30, 30s, 500ms, 2min, 1h, 30d). -EINVAL, -ERANGE. */
int config_parse_duration(const char *v, usec_t *ret);

/* [queue] type = kafka. */
bool config_queue_is_kafka(const TernConfig *c);
/* NULL when component ("executor", "worker", "scheduler", "webserver", "indexer", or a command
 * such as "tern run") can run with c's [queue] type, else why not (a sentence for the log): a queue a
 * component cannot run on yet is refused at start, never accepted and ignored. */
const char *config_queue_unsupported(const TernConfig *c, const char *component);

/* Print the effective configuration in the file format, secrets replaced by "(set)". */
void config_dump(const TernConfig *c, FILE *f);

/* Which settings differ between old and new and cannot change without a restart: a
 * comma-separated list of "section.key" (empty string when none). NULL on ENOMEM. */
char *config_restart_needed(const TernConfig *old, const TernConfig *new);

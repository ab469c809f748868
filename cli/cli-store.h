/* cli-store.h: how CLI commands find and open the store, and run the components in process. */
#pragma once

#include "engine.h"
#include "store.h"

/* The state directory: $TERN_STATE_DIR, else /var/lib/tern for root, else
 * $XDG_STATE_HOME/tern or ~/.local/state/tern. Created on demand by cli_state_dir_make(). */
const char *cli_state_dir(void);
int cli_state_dir_make(const char *cmd, char **ret_path);
/* The database: url when given, else $TERN_DB, else the embedded default
 * sqlite:///<state dir>/tern.db. Returns a new string. */
char *cli_db_url(const char *url);

typedef enum CliStoreMode {
        CLI_STORE_CHECK,           /* refuse an unmigrated or newer schema (with the fix named) */
        CLI_STORE_MIGRATE_EMBEDDED, /* migrate an SQLite store on the fly; check PostgreSQL */
        CLI_STORE_RAW,             /* no schema check (tern db) */
} CliStoreMode;

/* Open and check; prints what went wrong. Returns 0, 1 (failed) or EXIT_USAGE (bad URL). */
int cli_store_open(const char *cmd, const char *url, CliStoreMode mode, Store **ret);

/* The engine configuration from the environment (envs, globals, secrets). */
int cli_engine_config(const char *cmd, EngineConfig *ret);
void cli_engine_config_done(EngineConfig *c);

/* Executor and worker threads in this process (tern run, tern server standalone). */
typedef struct Inproc Inproc;
typedef struct InprocOptions {
        unsigned workers;  /* worker slots */
        const char *state_dir;
        bool scheduler;    /* also run a scheduler thread (tern server standalone) */
        const EngineConfig *engine;
} InprocOptions;
int inproc_start(Store *store, const InprocOptions *opt, Inproc **ret);
/* Stop claiming; running tasks get grace to finish. */
void inproc_stop(Inproc *p, usec_t grace);
Inproc *inproc_free(Inproc *p);
DEFINE_FREE_CLEANUP(Inproc, inproc_free)

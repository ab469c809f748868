/* cli-store.h: how CLI commands find and open the store, and run the components in process. */
#pragma once

#include <getopt.h>

#include "engine.h"
#include "flow-cache.h"
#include "sandbox-config.h"
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

/* The database URL (or libpq keywords) holds a password. */
bool cli_db_url_has_password(const char *url);
/* Open and check; prints what went wrong (and warns when url, given as --db, holds a password).
 * Returns 0, 1 (failed) or EXIT_USAGE (bad URL). */
int cli_store_open(const char *cmd, const char *url, CliStoreMode mode, Store **ret);

/* The engine configuration from the environment (envs, globals, secrets), or a message on stderr. */
int cli_engine_config(const char *cmd, EngineConfig *ret);

/* Executor and worker threads in this process (tern run, tern server standalone). */
typedef struct Inproc Inproc;
typedef struct InprocOptions {
        unsigned workers;  /* worker slots */
        const char *state_dir;
        bool scheduler;    /* also run a scheduler thread (tern server standalone) */
        const EngineConfig *engine;
        const SandboxOptions *sandbox; /* shell tasks' isolation; NULL or mode off: plain processes */
        ApiFlowCache *flows;           /* parsed flows shared with the process's webserver; NULL: its own */
} InprocOptions;
int inproc_start(Store *store, const InprocOptions *opt, Inproc **ret);
/* Stop claiming; running tasks get grace to finish. */
void inproc_stop(Inproc *p, usec_t grace);
Inproc *inproc_free(Inproc *p);
DEFINE_FREE_CLEANUP(Inproc, inproc_free)

/* The --sandbox-* options that tern run and tern server standalone|worker share: getopt entries
 * (values above any short option), their help, and one parser (sandbox-config.h's). */
enum {
        CLI_OPT_SANDBOX = 0x5300,
        CLI_OPT_SANDBOX_NETWORK,
        CLI_OPT_SANDBOX_USERNS,
        CLI_OPT_SANDBOX_UID,
        CLI_OPT_SANDBOX_MEMORY,
        CLI_OPT_SANDBOX_PIDS,
        CLI_OPT_SANDBOX_CPU,
        CLI_OPT_SANDBOX_BIND_RO,
        CLI_OPT_SANDBOX_BIND_RW,
        CLI_OPT_SANDBOX_HIDE,
        CLI_OPT_SANDBOX_MADE_AHEAD,
};
#define CLI_SANDBOX_OPTIONS                                                          \
        { "sandbox", required_argument, NULL, CLI_OPT_SANDBOX },                     \
        { "sandbox-network", no_argument, NULL, CLI_OPT_SANDBOX_NETWORK },           \
        { "sandbox-userns", no_argument, NULL, CLI_OPT_SANDBOX_USERNS },             \
        { "sandbox-uid", required_argument, NULL, CLI_OPT_SANDBOX_UID },             \
        { "sandbox-memory", required_argument, NULL, CLI_OPT_SANDBOX_MEMORY },       \
        { "sandbox-pids", required_argument, NULL, CLI_OPT_SANDBOX_PIDS },           \
        { "sandbox-cpu", required_argument, NULL, CLI_OPT_SANDBOX_CPU },             \
        { "sandbox-bind-ro", required_argument, NULL, CLI_OPT_SANDBOX_BIND_RO },     \
        { "sandbox-bind-rw", required_argument, NULL, CLI_OPT_SANDBOX_BIND_RW },     \
        { "sandbox-hide", required_argument, NULL, CLI_OPT_SANDBOX_HIDE },           \
        { "sandbox-made-ahead", required_argument, NULL, CLI_OPT_SANDBOX_MADE_AHEAD }
/* The options' help; automatic: the default mode is auto (else required). */
void cli_sandbox_help(bool automatic);
/* Returns 0 when c was a sandbox option and is applied, 1 when c is another option, or EXIT_USAGE. */
int cli_sandbox_option(const char *cmd, int c, const char *arg, SandboxConfig *sc);
/* Finish the options (sandbox_config_resolve) and say once what they are: mode auto falling back
 * to plain processes is a warning; mode required that cannot work here is an error (returns 1); an
 * option that cannot work (a bind whose path is missing) is a usage error (returns EXIT_USAGE). */
int cli_sandbox_setup(const char *cmd, SandboxConfig *sc, const char *state_dir);

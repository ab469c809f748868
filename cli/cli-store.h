/* cli-store.h: how CLI commands find and open the store, and run the components in process. */
#pragma once

#include <getopt.h>

#include "config.h"
#include "engine.h"
#include "flow-cache.h"
#include "sandbox-config.h"
#include "storage.h"
#include "store.h"

/* The state directory: $TERN_STATE_DIR, else /var/lib/tern for root, else
 * $XDG_STATE_HOME/tern or ~/.local/state/tern. Created on demand by cli_state_dir_make(). */
const char *cli_state_dir(void);
int cli_state_dir_make(const char *cmd, char **ret_path);
/* The same without $TERN_STATE_DIR: the default of tern.conf's server.state-dir for the commands
 * that read tern.conf (which takes $TERN_STATE_DIR as that setting's environment variable). */
const char *cli_state_dir_default(void);
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
/* The same for a command that read tern.conf: url (--db) when given, else [database] of cfg. */
int cli_store_open_config(const char *cmd, const char *url, const TernConfig *cfg, CliStoreMode mode, Store **ret);

/* tern.conf as the daemons read it (file, drop-ins, TERN_<SECTION>_<KEY>), for the commands that
 * run components (tern server, tern run): under the command line's settings, with this user's
 * state directory as the default (ConfigSource.command). */
typedef struct CliConfig {
        const char *path;  /* --config FILE, or NULL */
        char **defaults, **overrides;
        ConfigSource source; /* points into the above: read again on SIGHUP */
        TernConfig cfg;
} CliConfig;
/* An override from the command line ("worker.slots", "8"). 0, or 1 (out of memory, said). */
int cli_config_add(CliConfig *c, const char *section_key, const char *value);
/* Load into c->cfg and create its state directory. Prints what is wrong; returns 0 or 1. */
int cli_config_load(const char *cmd, CliConfig *c);
void cli_config_done(CliConfig *c);
/* The internal storage cfg names ([storage] url, --storage URL). Prints what is wrong; 0 or 1. */
int cli_storage_open(const char *cmd, const TernConfig *cfg, Storage **ret);
/* The engine configuration from the environment (envs, globals, secrets). */
int cli_engine_config(const char *cmd, EngineConfig *ret);

/* Executor and worker threads in this process, for tern run (whose own thread follows its
 * execution; the servers run their components in the daemon frame, lib/runtime/daemon.h). */
typedef struct Inproc Inproc;
typedef struct InprocOptions {
        const TernConfig *cfg; /* state directory, [executor] and [worker] settings */
        const EngineConfig *engine;
        const SandboxOptions *sandbox; /* shell tasks' isolation; NULL or mode off: plain processes */
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
/* The options as given, applied over tern.conf's [sandbox] once it is read. */
typedef struct CliSandboxFlag {
        int c;
        const char *arg; /* in argv */
} CliSandboxFlag;
typedef struct CliSandboxFlags {
        CliSandboxFlag *v;
        size_t n;
} CliSandboxFlags;
/* Like cli_sandbox_option, checking the value at once and keeping it for cli_sandbox_build. */
int cli_sandbox_record(const char *cmd, int c, const char *arg, CliSandboxFlags *flags);
void cli_sandbox_flags_done(CliSandboxFlags *flags);
/* sc (initialized; made anew) from [sandbox] of cfg, then the options (the command line wins); automatic: the default mode
 * is auto with plain processes as the fallback (else required). Returns 0, 1 (a bad [sandbox]
 * value, said) or EXIT_USAGE. */
int cli_sandbox_build(const char *cmd, const TernConfig *cfg, bool automatic, const CliSandboxFlags *flags,
                      SandboxConfig *sc);
/* Finish the options (sandbox_config_resolve) and say once what they are: mode auto falling back
 * to plain processes is a warning; mode required that cannot work here is an error (returns 1); an
 * option that cannot work (a bind whose path is missing) is a usage error (returns EXIT_USAGE). */
int cli_sandbox_setup(const char *cmd, SandboxConfig *sc, const char *state_dir);

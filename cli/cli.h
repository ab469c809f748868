/* cli.h: what the tern command's subcommands share: the verb table and option-error helpers. */
#pragma once

#include <getopt.h>
#include <stdbool.h>

#include "macro.h"

/* Exit codes: 0 success, 1 the operation failed (invalid flow, failed execution), 2 usage error. */
#define EXIT_USAGE 2

typedef struct Verb {
        const char *name;
        const char *args;     /* synopsis of arguments, for help */
        const char *summary;  /* one line */
        int (*run)(int argc, char *argv[]);
        const struct Verb *children; /* sub-verbs, NULL-name terminated */
} Verb;

/* Dispatch argv[0] among verbs; prefix is the command path so far ("tern flow"). */
int cli_dispatch(const Verb *verbs, const char *prefix, int argc, char *argv[]);
void cli_print_verbs(const Verb *verbs, const char *prefix);

/* getopt_long with one-line errors: returns the option, -1 at the end, or -EXIT_USAGE - 1000
 * after printing "tern CMD: unrecognized option '--x'" (callers return EXIT_USAGE). */
#define CLI_OPT_ERROR (-1000)
int cli_getopt(const char *cmd, int argc, char *argv[], const char *shortopts, const struct option *longopts);
int cli_usage_error(const char *cmd, const char *fmt, ...) _printf_(2, 3);

/* Common output format option. */
typedef enum OutputFormat {
        OUTPUT_TABLE,
        OUTPUT_JSON,
} OutputFormat;
int cli_parse_output(const char *cmd, const char *arg, OutputFormat *ret);

/* Load the plugins of the search path (lib/flow/plugin.h) into this process's task-type registry, once:
 * path is [plugins] path (or --plugins-path); each plugin that cannot be loaded is said on stderr.
 * Returns 0, or 1 after saying it is out of memory. */
int cli_plugins_setup(const char *cmd, const char *path);
/* The same for a command that reads no configuration otherwise: path_option (--plugins-path) when
 * given, else tern.conf's [plugins] path ($TERN_PLUGINS_PATH wins over it). */
int cli_plugins_setup_from_config(const char *cmd, const char *path_option);
extern const Verb plugins_verbs[]; /* cmd-plugins.c */

/* Verb implementations (one file per command group). */
extern const Verb flow_verbs[]; /* cmd-flow.c */
extern const Verb db_verbs[];   /* cmd-db.c */

int verb_run(int argc, char *argv[]);
extern const Verb execution_verbs[];
/* cmd-execution-files.c (listed in cmd-execution.c's execution_verbs) */
int verb_execution_files(int argc, char *argv[]);
int verb_execution_purge(int argc, char *argv[]);
/* cmd-flow-store.c: flows in the database (listed in cmd-flow.c's flow_verbs) */
int verb_flow_apply(int argc, char *argv[]);
int verb_flow_list(int argc, char *argv[]);
int verb_flow_show(int argc, char *argv[]);
int verb_flow_delete(int argc, char *argv[]);
extern const Verb server_verbs[];
/* cmd-trigger.c */
extern const Verb trigger_verbs[];
extern const Verb backfill_verbs[];
/* cmd-namespace.c */
extern const Verb namespace_verbs[];
/* cmd-config.c */
extern const Verb config_verbs[];
/* cmd-kafka.c */
extern const Verb kafka_verbs[];
/* cmd-user.c: the webserver's users and API tokens */
extern const Verb user_verbs[];
extern const Verb token_verbs[];

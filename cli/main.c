/* main.c: the tern command: option parsing and dispatch to subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "flow.h"
#include "log.h"
#include "strutil.h"
#include "version.h"

static const Verb top_verbs[] = {
        { "run", "FLOW.yaml", "run a flow to its end in this process (embedded database by default)", verb_run, NULL },
        { "execution", "COMMAND", "start, list, show, kill, resume, restart executions", NULL, execution_verbs },
        { "server", "COMPONENT", "run the standalone server or one component (executor, worker, scheduler, webserver)", NULL, server_verbs },
        { "flow", "COMMAND", "validate flow files; apply, list, show, delete stored flows", NULL, flow_verbs },
        { "namespace", "COMMAND", "namespace files in internal storage: upload, list, get, delete", NULL, namespace_verbs },
        { "trigger", "COMMAND", "list, enable, disable, unlock triggers", NULL, trigger_verbs },
        { "backfill", "COMMAND", "run a schedule's past slots: create, pause, resume, delete", NULL, backfill_verbs },
        { "db", "COMMAND", "migrate the database, show its schema status", NULL, db_verbs },
        { "config", "COMMAND", "check the daemons' configuration (/etc/tern/tern.conf)", NULL, config_verbs },
        { "kafka", "COMMAND", "create the topics of the Kafka queue backend", NULL, kafka_verbs },
        { "plugins", "COMMAND", "list the task types of plugins, show one's documentation", NULL, plugins_verbs },
        { "user", "COMMAND", "add webserver users", NULL, user_verbs },
        { "token", "COMMAND", "create API tokens for the webserver", NULL, token_verbs },
        {},
};

static int cli_opt_index_name(const char *arg, char *buf, size_t n) {
        size_t l = strcspn(arg, "=");
        snprintf(buf, n, "%.*s", (int) MIN(l, 200u), arg);
        return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
        va_list ap;
        fprintf(stderr, "%s: ", cmd);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fprintf(stderr, " (see '%s --help')\n", cmd);
        return EXIT_USAGE;
}

int cli_getopt(const char *cmd, int argc, char *argv[], const char *shortopts, const struct option *longopts) {
        char buf[256];
        int c;

        opterr = 0;
        c = getopt_long(argc, argv, shortopts, longopts, NULL);
        if (c != '?' && c != ':')
                return c;
        const char *bad = argv[optind - 1];
        if (c == ':' || (optopt && strchr(shortopts, optopt) && strchr(shortopts, optopt)[1] == ':')) {
                if (optopt)
                        cli_usage_error(cmd, "option '-%c' needs a value", optopt);
                else {
                        cli_opt_index_name(bad, buf, sizeof buf);
                        cli_usage_error(cmd, "option '%s' needs a value", buf);
                }
        } else if (optopt)
                cli_usage_error(cmd, "unknown option '-%c'", optopt);
        else {
                cli_opt_index_name(bad, buf, sizeof buf);
                /* getopt reports "--x=1" for a flag without value as '?' too; say which. */
                bool known = false;
                for (const struct option *o = longopts; o && o->name; o++)
                        if (streq(buf + 2, o->name))
                                known = true;
                if (known)
                        cli_usage_error(cmd, "option '%s' takes no value", buf);
                else
                        cli_usage_error(cmd, "unknown option '%s'", buf);
        }
        return CLI_OPT_ERROR;
}

int cli_parse_output(const char *cmd, const char *arg, OutputFormat *ret) {
        if (streq(arg, "json"))
                *ret = OUTPUT_JSON;
        else if (streq(arg, "table") || streq(arg, "text"))
                *ret = OUTPUT_TABLE;
        else
                return cli_usage_error(cmd, "unknown output format '%s', expected 'table' or 'json'", arg);
        return 0;
}

void cli_print_verbs(const Verb *verbs, const char *prefix) {
        for (const Verb *v = verbs; v->name; v++) {
                char left[128];
                snprintf(left, sizeof left, "%s %s", v->name, v->args ? v->args : "");
                printf("  %-28s %s\n", left, v->summary);
        }
        (void) prefix;
}

static void help_group(const Verb *verbs, const char *prefix) {
        printf("Usage: %s COMMAND [OPTIONS] [ARGS]\n\nCommands:\n", prefix);
        cli_print_verbs(verbs, prefix);
        printf("\nRun '%s COMMAND --help' for a command's options.\n", prefix);
}

int cli_dispatch(const Verb *verbs, const char *prefix, int argc, char *argv[]) {
        if (argc < 1) {
                help_group(verbs, prefix);
                return EXIT_USAGE;
        }
        const char *name = argv[0];
        if (streq(name, "--help") || streq(name, "-h") || streq(name, "help")) {
                help_group(verbs, prefix);
                return 0;
        }
        for (const Verb *v = verbs; v->name; v++) {
                if (!streq(v->name, name))
                        continue;
                char sub[256];
                snprintf(sub, sizeof sub, "%s %s", prefix, name);
                if (v->children)
                        return cli_dispatch(v->children, sub, argc - 1, argv + 1);
                optind = 0; /* reset getopt for the verb's own parsing (0 = full re-init in glibc) */
                return v->run(argc, argv);
        }
        if (name[0] == '-')
                return cli_usage_error(prefix, "unknown option '%s'", name);
        /* A near miss gets a hint. */
        const char *best = NULL;
        size_t best_d = 3;
        for (const Verb *v = verbs; v->name; v++) {
                size_t d = 0;
                const char *a = name, *b = v->name;
                while (*a && *b && *a == *b)
                        a++, b++;
                d = strlen(a) + strlen(b);
                if (d < best_d)
                        best_d = d, best = v->name;
        }
        if (best)
                return cli_usage_error(prefix, "unknown command '%s'; did you mean '%s'?", name, best);
        return cli_usage_error(prefix, "unknown command '%s'", name);
}

static void help_top(void) {
        printf("tern %s: a systemd-native workflow orchestrator (Kestra-compatible flows)\n\n", TERN_VERSION);
        printf("Usage: tern [--version] [--help] COMMAND [ARGS]\n\nCommands:\n");
        cli_print_verbs(top_verbs, "tern");
        printf("\nEnvironment:\n"
               "  TERN_LOG_LEVEL    debug, info (default), notice, warning, error\n"
               "  TERN_LOG_TARGET   auto (default), console, journal, null\n"
               "\nRun 'tern COMMAND --help' for a command's options.\n");
}

int main(int argc, char *argv[]) {
        /* The database (tern.db and its -wal and -shm), the storage and the tasks' directories hold
         * secrets and execution data: never world-readable, as the units' UMask=0027 has them. */
        umask(0027);
        log_setup("tern", "cli");
        if (argc < 2) {
                help_top();
                return EXIT_USAGE;
        }
        if (streq(argv[1], "--version") || streq(argv[1], "-V")) {
                printf("tern %s\n", version_string());
                return 0;
        }
        if (streq(argv[1], "--help") || streq(argv[1], "-h") || streq(argv[1], "help")) {
                if (argc > 2 && streq(argv[1], "help")) {
                        /* "tern help flow validate" == "tern flow validate --help" */
                        char *args[16];
                        int n = 0;
                        for (int i = 2; i < argc && n < 14; i++)
                                args[n++] = argv[i];
                        args[n++] = (char *) "--help";
                        args[n] = NULL;
                        return cli_dispatch(top_verbs, "tern", n, args);
                }
                help_top();
                return 0;
        }
        /* The daemons read it from [flow] max-tasks (the same variable overrides that); the
         * commands that validate flows without a daemon read the variable. */
        const char *max_tasks = getenv("TERN_FLOW_MAX_TASKS");
        if (max_tasks) {
                uint64_t v;
                if (safe_atou64(max_tasks, &v) < 0 || v == 0 || v > 1000000) {
                        fprintf(stderr, "tern: TERN_FLOW_MAX_TASKS='%s' is not a number from 1 to 1000000\n", max_tasks);
                        return EXIT_USAGE;
                }
                flow_set_max_tasks((size_t) v);
        }
        return cli_dispatch(top_verbs, "tern", argc - 1, argv + 1);
}

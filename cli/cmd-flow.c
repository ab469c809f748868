/* cmd-flow.c: the "tern flow" commands: validate flow files. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cleanup-jansson.h"
#include "cli.h"
#include "flow.h"
#include "strutil.h"

static void flow_validate_help(void) {
        printf("Usage: tern flow validate [OPTIONS] FILE|DIRECTORY...\n\n"
               "Check Kestra-compatible flow files: YAML syntax, flow and task properties, task types\n"
               "(tern's short names and Kestra's names), durations, ids, inputs, triggers.\n"
               "A directory stands for its *.yaml and *.yml files (not recursive).\n"
               "Prints 'FILE: OK' for each valid file, and every problem of an invalid one as\n"
               "'FILE:LINE:COLUMN: message'. Expressions ({{ ... }}) are not evaluated.\n\n"
               "Options:\n"
               "  -o, --output FORMAT  'text' (default) or 'json': a list of\n"
               "                       {file, valid, errors: [{line, column, message}]}\n"
               "  -q, --quiet          do not print 'FILE: OK' lines\n"
               "      --plugins-path DIRS  plugin directories, ':'-separated, whose task types are\n"
               "                       known too (instead of tern.conf's [plugins] path; docs/PLUGINS.md)\n"
               "  -h, --help           show this help\n\n"
               "Exit status: 0 when every file is valid, 1 when one is not (or cannot be read),\n"
               "2 on a usage error.\n");
}

static json_t *diagnostics_to_json(const FlowDiagnostics *d) {
        json_t *a = json_array();
        if (!a)
                return NULL;
        for (size_t i = 0; i < d->n; i++) {
                const FlowDiagnostic *e = &d->items[i];
                if (json_array_append_new(a, json_pack("{s:i, s:i, s:s}", "line", (json_int_t) e->line, "column",
                                                       (json_int_t) e->column, "message", e->message)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        }
        return a;
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* A directory stands for its flow files, in name order; anything else is taken as it is (and
 * reported if it cannot be read). */
static int flow_validate_expand(const char *arg, char ***paths) {
        struct stat st;
        if (stat(arg, &st) < 0 || !S_ISDIR(st.st_mode))
                return strv_extend(paths, arg);
        DIR *d = opendir(arg);
        if (!d)
                return strv_extend(paths, arg);
        _cleanup_strv_free_ char **found = NULL;
        struct dirent *de;
        int r = 0;
        while (r >= 0 && (de = readdir(d)))
                if (de->d_name[0] != '.' && (endswith(de->d_name, ".yaml") || endswith(de->d_name, ".yml")))
                        r = strv_consume(&found, strjoin(arg, endswith(arg, "/") ? "" : "/", de->d_name));
        closedir(d);
        if (r < 0)
                return r;
        if (!found) /* reported as a directory without flows */
                return strv_extend(paths, arg);
        qsort(found, strv_length(found), sizeof(char *), str_cmp);
        for (char **f = found; f && *f; f++)
                if ((r = strv_extend(paths, *f)) < 0)
                        return r;
        return 0;
}

static int verb_flow_validate(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "output", required_argument, NULL, 'o' },
                { "quiet", no_argument, NULL, 'q' },
                { "plugins-path", required_argument, NULL, 'P' },
                {},
        };
        const char *cmd = "tern flow validate", *plugins_path = NULL;
        OutputFormat output = OUTPUT_TABLE;
        bool quiet = false;
        int c, ret = 0;

        while ((c = cli_getopt(cmd, argc, argv, "ho:q", options)) >= 0) {
                switch (c) {
                case 'h':
                        flow_validate_help();
                        return 0;
                case 'o':
                        if (cli_parse_output(cmd, optarg, &output) != 0)
                                return EXIT_USAGE;
                        break;
                case 'q':
                        quiet = true;
                        break;
                case 'P':
                        plugins_path = optarg;
                        break;
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind >= argc)
                return cli_usage_error(cmd, "no flow file given");
        if (cli_plugins_setup_from_config(cmd, plugins_path) != 0)
                return 1;

        _cleanup_json_ json_t *results = output == OUTPUT_JSON ? json_array() : NULL;
        if (output == OUTPUT_JSON && !results) {
                fprintf(stderr, "%s: out of memory\n", cmd);
                return 1;
        }
        _cleanup_strv_free_ char **paths = NULL;
        for (int i = optind; i < argc; i++)
                if (flow_validate_expand(argv[i], &paths) < 0) {
                        fprintf(stderr, "%s: out of memory\n", cmd);
                        return 1;
                }
        for (char **p = paths; p && *p; p++) {
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_flow_ Flow *f = NULL;
                const char *path = *p;
                int r = flow_load_file(path, &f, &diags);

                if (r < 0) {
                        /* The file could not be read: a problem of this file, reported like the others. */
                        flow_diagnostics_done(&diags);
                        if (r == -EISDIR)
                                flow_diagnostics_add(&diags, path, 0, 0, "no flow files (*.yaml, *.yml) in this directory");
                        else
                                flow_diagnostics_add(&diags, path, 0, 0, "cannot read: %s", strerror(-r));
                }
                if (r != 0)
                        ret = 1;
                if (output == OUTPUT_JSON) {
                        json_t *errs = diagnostics_to_json(&diags);
                        if (!errs || json_array_append_new(results, json_pack("{s:s, s:b, s:o}", "file", path, "valid",
                                                                              r == 0, "errors", errs)) < 0) {
                                fprintf(stderr, "%s: out of memory\n", cmd);
                                return 1;
                        }
                        continue;
                }
                if (r == 0) {
                        if (!quiet)
                                printf("%s: OK\n", path);
                } else {
                        fflush(stdout);
                        flow_diagnostics_print(&diags, stdout);
                }
        }
        if (output == OUTPUT_JSON) {
                if (json_dumpf(results, stdout, JSON_INDENT(2)) < 0)
                        return 1;
                putchar('\n');
        }
        fflush(stdout);
        return ret;
}

const Verb flow_verbs[] = {
        { "validate", "FILE|DIR...", "check flow files and print every problem", verb_flow_validate, NULL },
        { "apply", "FILE|DIR...", "create or update flows in the database", verb_flow_apply, NULL },
        { "list", "[--namespace NS]", "list the stored flows", verb_flow_list, NULL },
        { "show", "NAMESPACE ID", "print a stored flow", verb_flow_show, NULL },
        { "delete", "NAMESPACE ID", "delete a stored flow (history kept)", verb_flow_delete, NULL },
        {},
};

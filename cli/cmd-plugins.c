/* cmd-plugins.c: the "tern plugins" commands (list the task types plugins provide, show one's
 * documentation) and the loading of plugins that every command validating or running flows does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "cli.h"
#include "config.h"
#include "log.h"
#include "plugin.h"
#include "strutil.h"

/* Problems of this process's load, for the commands that report them in their exit status. */
static size_t n_problems;

int cli_plugins_setup(const char *cmd, const char *path) {
        _cleanup_strv_free_ char **problems = NULL;
        int r = plugins_setup(path, &problems);
        if (r == -ENOMEM) {
                fprintf(stderr, "%s: out of memory\n", cmd);
                return 1;
        }
        for (char **p = problems; p && *p; p++, n_problems++)
                fprintf(stderr, "%s: plugin: %s\n", cmd, *p);
        return 0;
}

int cli_plugins_setup_from_config(const char *cmd, const char *path_option) {
        _cleanup_strv_free_ char **errors = NULL;
        _cleanup_(config_done) TernConfig cfg = {};

        if (path_option)
                return cli_plugins_setup(cmd, path_option);
        int r = config_load_from(&(ConfigSource) { .command = true }, &cfg, &errors);
        if (r == -ENOMEM) {
                fprintf(stderr, "%s: out of memory\n", cmd);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: the configuration cannot be read for its [plugins] path (see 'tern config check'); "
                                "using $TERN_PLUGINS_PATH only\n", cmd);
                return cli_plugins_setup(cmd, getenv("TERN_PLUGINS_PATH"));
        }
        return cli_plugins_setup(cmd, cfg.plugins_path);
}

static void plugins_list_help(void) {
        printf("Usage: tern plugins list [OPTIONS]\n\n"
               "List the task types that plugins provide: TYPE (its Kestra name), PLUGIN, KIND (exec or native)\n"
               "and PATH (the plugin's descriptor). Plugins are searched in %s, then in\n"
               "[plugins] path of tern.conf ($TERN_PLUGINS_PATH wins over it). A plugin that cannot be loaded\n"
               "is said on stderr, and the exit status is then 1.\n\n"
               "Options:\n"
               "  -a, --all                also the built-in task, trigger and condition types (KIND builtin)\n"
               "  -o, --output FORMAT      'table' (default) or 'json'\n"
               "      --plugins-path DIRS  plugin directories, ':'-separated (instead of [plugins] path)\n"
               "  -h, --help               show this help\n",
               TERN_PLUGIN_DIR);
}

static const char *kind_of(const TaskType *t) {
        const PluginType *pt = plugin_type_of(t);
        return pt ? plugin_kind_to_string(pt->plugin->kind) : "builtin";
}

static int verb_plugins_list(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "all", no_argument, NULL, 'a' },
                { "output", required_argument, NULL, 'o' },
                { "plugins-path", required_argument, NULL, 'P' },
                {},
        };
        const char *cmd = "tern plugins list", *path = NULL;
        OutputFormat output = OUTPUT_TABLE;
        bool all = false;
        int c;

        while ((c = cli_getopt(cmd, argc, argv, "hao:", options)) >= 0)
                switch (c) {
                case 'h':
                        plugins_list_help();
                        return 0;
                case 'a':
                        all = true;
                        break;
                case 'o':
                        if (cli_parse_output(cmd, optarg, &output) != 0)
                                return EXIT_USAGE;
                        break;
                case 'P':
                        path = optarg;
                        break;
                }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        if (cli_plugins_setup_from_config(cmd, path) != 0)
                return 1;

        _cleanup_json_ json_t *list = json_array();
        if (!list)
                return log_oom(), 1;
        for (size_t i = 0; task_type_get(i); i++) {
                const TaskType *t = task_type_get(i);
                const PluginType *pt = plugin_type_of(t);
                if (!pt && !all)
                        continue;
                json_t *e = json_pack("{s:s, s:s, s:s, s:s, s:s?, s:s?}", "type", task_type_kestra_name(t), "name", t->name,
                                      "kind", kind_of(t), "role", task_type_kind_to_string(t->kind), "plugin",
                                      pt ? pt->plugin->name : NULL, "path", pt ? pt->plugin->descriptor : NULL);
                if (json_array_append_new(list, e) < 0)
                        return log_oom(), 1;
        }
        if (output == OUTPUT_JSON) {
                if (json_dumpf(list, stdout, JSON_INDENT(2)) < 0)
                        return 1;
                putchar('\n');
        } else if (json_array_size(list) == 0)
                printf("No plugins (searched %s and [plugins] path).\n", TERN_PLUGIN_DIR);
        else {
                size_t i;
                json_t *e;
                printf("%-48s %-20s %-8s %s\n", "TYPE", "PLUGIN", "KIND", "PATH");
                json_array_foreach(list, i, e) {
                        const char *plugin = json_string_value(json_object_get(e, "plugin"));
                        const char *p = json_string_value(json_object_get(e, "path"));
                        printf("%-48s %-20s %-8s %s\n", json_string_value(json_object_get(e, "type")), plugin ?: "-",
                               json_string_value(json_object_get(e, "kind")), p ?: "-");
                }
        }
        fflush(stdout);
        return n_problems > 0;
}

static void plugins_doc_help(void) {
        printf("Usage: tern plugins doc [OPTIONS] TYPE\n\n"
               "Show a task type's documentation: its names, properties (type, required, default), outputs\n"
               "and an example. TYPE is a Kestra name or tern's short name; built-in types work too.\n\n"
               "Options:\n"
               "      --plugins-path DIRS  plugin directories, ':'-separated (instead of [plugins] path)\n"
               "  -h, --help               show this help\n");
}

/* A property's type in words: the descriptor's name for a plugin's. */
static const char *prop_type_name(const PluginType *pt, const TaskProperty *p) {
        static const char *const names[_PROP_KIND_MAX] = {
                [PROP_STRING] = "string", [PROP_INT] = "integer", [PROP_NUMBER] = "number", [PROP_BOOL] = "boolean",
                [PROP_DURATION] = "duration", [PROP_ENUM] = "enum", [PROP_LIST] = "list",
                [PROP_STRING_LIST] = "string-list", [PROP_MAP] = "map", [PROP_ANY] = "any", [PROP_TASKS] = "tasks",
                [PROP_TASK_MAP] = "task-map", [PROP_DAG_TASKS] = "dag-tasks", [PROP_CONDITIONS] = "conditions",
                [PROP_CONDITION_MAP] = "condition-map", [PROP_INPUTS] = "inputs", [PROP_STRING_OR_LIST] = "string-or-list",
                [PROP_MAP_OR_LIST] = "map-or-list", [PROP_LIST_OR_STRING] = "list-or-string",
        };
        const PluginPropertyInfo *info = plugin_property_info(pt, p);
        if (info)
                return info->type_name;
        return p->kind < _PROP_KIND_MAX && names[p->kind] ? names[p->kind] : "any";
}

static void print_indented(const char *text, const char *indent) {
        for (const char *s = text; s && *s;) {
                size_t n = strcspn(s, "\n");
                printf("%s%.*s\n", indent, (int) n, s);
                s += n + (s[n] == '\n');
        }
}

static int verb_plugins_doc(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "plugins-path", required_argument, NULL, 'P' },
                {},
        };
        const char *cmd = "tern plugins doc", *path = NULL;
        int c;

        while ((c = cli_getopt(cmd, argc, argv, "h", options)) >= 0)
                switch (c) {
                case 'h':
                        plugins_doc_help();
                        return 0;
                case 'P':
                        path = optarg;
                        break;
                }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind >= argc)
                return cli_usage_error(cmd, "no task type given");
        if (optind + 1 < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
        if (cli_plugins_setup_from_config(cmd, path) != 0)
                return 1;

        const char *name = argv[optind];
        const TaskType *t = NULL;
        for (TaskTypeKind k = 0; !t && k < _TASK_TYPE_KIND_MAX; k++)
                t = task_type_lookup(k, name);
        if (!t) {
                const char *hint = task_type_suggest(TASK_TYPE_TASK, name);
                fprintf(stderr, "%s: unknown task type '%s'%s%s%s\n", cmd, name, hint ? "; did you mean '" : "",
                        strempty(hint), hint ? "'?" : "");
                return 1;
        }
        const PluginType *pt = plugin_type_of(t);
        printf("%s\n", task_type_kestra_name(t));
        if (pt)
                printf("  %s of plugin '%s'%s%s (%s plugin, %s)\n", task_type_kind_to_string(t->kind), pt->plugin->name,
                       pt->plugin->version ? " " : "", strempty(pt->plugin->version), plugin_kind_to_string(pt->plugin->kind),
                       pt->plugin->descriptor);
        else
                printf("  built-in %s\n", task_type_kind_to_string(t->kind));
        if (!streq(t->name, task_type_kestra_name(t)))
                printf("  short name: %s\n", t->name);
        if (t->kestra_names[0] && t->kestra_names[1]) {
                printf("  aliases:");
                for (const char *const *k = t->kestra_names + 1; *k; k++)
                        printf(" %s", *k);
                printf("\n");
        }
        printf("\n");
        print_indented(pt && pt->description ? pt->description : t->summary, "");
        if (!task_type_can_run(t))
                printf("\nThis build cannot run it: %s\n", t->unsupported ?: "not implemented");

        printf("\nProperties:\n");
        if (!t->properties || !t->properties->name)
                printf("  (none of its own)\n");
        for (const TaskProperty *p = t->properties; p && p->name; p++) {
                const PluginPropertyInfo *info = plugin_property_info(pt, p);
                printf("  %-24s %s", p->name, prop_type_name(pt, p));
                if (p->required)
                        printf(", required");
                if (p->default_json)
                        printf(", default %s", p->default_json);
                if (p->raw)
                        printf(", not rendered");
                printf("\n");
                if (p->values) {
                        _cleanup_free_ char *v = strv_join((char **) p->values, ", ");
                        printf("      one of: %s\n", strna(v));
                }
                if (info && info->file)
                        printf("      a kestra:/// file: the plugin gets it as a file of its working directory\n");
                if (info && info->description)
                        print_indented(info->description, "      ");
        }
        if (pt) {
                printf("\nOutputs:\n");
                if (pt->n_outputs == 0)
                        printf("  (none declared)\n");
                for (size_t i = 0; i < pt->n_outputs; i++) {
                        printf("  %s\n", pt->outputs[i].name);
                        if (pt->outputs[i].description)
                                print_indented(pt->outputs[i].description, "      ");
                }
                if (pt->example) {
                        printf("\nExample:\n");
                        print_indented(pt->example, "  ");
                }
        }
        fflush(stdout);
        return 0;
}

const Verb plugins_verbs[] = {
        { "list", "[--all]", "list the task types of plugins (with --all, the built-in ones too)", verb_plugins_list, NULL },
        { "doc", "TYPE", "show a task type's properties, outputs and example", verb_plugins_doc, NULL },
        {},
};

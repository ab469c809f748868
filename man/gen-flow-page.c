/* gen-flow-page.c: writes tern-flow(5)'s scdoc source from its hand-written template, filling in the
 * parts the code owns (task, trigger and condition types from the registry, the flow language's keys,
 * input types, the expression engine's filters, functions and tests) so that the page cannot drift. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expr.h"
#include "flow.h"
#include "macro.h"
#include "task-types.h"

/* scdoc text: its markup characters escaped. */
static void put_text(const char *s) {
        for (; *s; s++) {
                if (strchr("*_\\", *s))
                        putchar('\\');
                putchar(*s);
        }
}

/* A comma-separated list of names, each in bold. */
static void put_names(const char *const *names) {
        for (const char *const *k = names; *k; k++) {
                fputs(k == names ? "*" : ", *", stdout);
                put_text(*k);
                putchar('*');
        }
}

static void put_keys(FlowKeySet set) {
        put_names(flow_language_keys(set));
        putchar('\n');
}

static void put_input_types(void) {
        for (int t = 0; t < _FLOW_INPUT_TYPE_MAX; t++) {
                fputs(t == 0 ? "*" : ", *", stdout);
                put_text(flow_input_type_to_string((FlowInputType) t));
                putchar('*');
        }
        putchar('\n');
}

static void put_property(const TaskProperty *p) {
        fputs("\t- *", stdout);
        put_text(p->name);
        fputs(p->required ? "* (required): " : "*: ", stdout);
        if (p->kind == PROP_ENUM && p->values) {
                fputs("one of ", stdout);
                put_names(p->values);
        } else
                put_text(prop_kind_to_string(p->kind));
        if (p->default_json) {
                fputs("; default ", stdout);
                put_text(p->default_json);
        }
        if (p->raw)
                fputs("; rendered by the task itself", stdout);
        putchar('\n');
}

static const char *runs_on(const TaskType *t) {
        if (t->hook != TASK_HOOK_NONE)
                return "the executor resolves it";
        if (t->runner != TASK_RUNNER_NONE)
                return "a worker runs it";
        return NULL;
}

static void put_types(TaskTypeKind kind) {
        const TaskType *t;
        for (size_t i = 0; (t = task_type_get(i)); i++) {
                if (t->kind != kind)
                        continue;
                putchar('*');
                put_text(task_type_kestra_name(t));
                fputs("* (*", stdout);
                put_text(t->name);
                fputs("*)\n\t", stdout);
                if (t->summary) {
                        /* the registry's summaries start in lower case: a sentence here */
                        putchar(t->summary[0] >= 'a' && t->summary[0] <= 'z' ? t->summary[0] - 'a' + 'A' : t->summary[0]);
                        put_text(t->summary + 1);
                        fputs(". ", stdout);
                }
                if (t->unsupported) {
                        fputs("Refused by this build: ", stdout);
                        put_text(t->unsupported);
                        putchar('.');
                } else if (kind == TASK_TYPE_TASK) {
                        const char *who = runs_on(t);
                        if (who) {
                                putchar(who[0] - 'a' + 'A');
                                fputs(who + 1, stdout);
                                putchar('.');
                        } else
                                fputs("Refused by this build: nothing runs it.", stdout);
                }
                putchar('\n');
                if (t->kestra_names[1]) {
                        fputs("\n\tAlso accepted as: ", stdout);
                        for (const char *const *n = t->kestra_names + 1; *n; n++) {
                                if (n != t->kestra_names + 1)
                                        fputs(", ", stdout);
                                put_text(*n);
                        }
                        putchar('\n');
                }
                if (t->properties && t->properties[0].name) {
                        fputs("\n", stdout);
                        for (const TaskProperty *p = t->properties; p->name; p++)
                                put_property(p);
                }
                putchar('\n');
        }
}

static void put_expr_names(const char *(*get)(size_t i)) {
        const char *name;
        for (size_t i = 0; (name = get(i)); i++) {
                fputs(i == 0 ? "*" : ", *", stdout);
                put_text(name);
                putchar('*');
        }
        putchar('\n');
}

static void put_functions(bool host) {
        const char *name, *needs;
        bool first = true;
        for (size_t i = 0; (name = expr_function_name(i, &needs)); i++) {
                if ((needs != NULL) != host)
                        continue;
                if (host) {
                        fputs("*", stdout);
                        put_text(name);
                        fputs("()*\n\t", stdout);
                        fputs("Rendered where the renderer provides it; where it cannot, the expression fails: it needs ",
                              stdout);
                        put_text(needs);
                        fputs(".\n\n", stdout);
                        continue;
                }
                fputs(first ? "*" : ", *", stdout);
                put_text(name);
                fputs("()*", stdout);
                first = false;
        }
        if (!host)
                putchar('\n');
}

static int put_part(const char *marker) {
        static const struct {
                const char *marker;
                FlowKeySet set;
        } keys[] = {
                { "%%FLOW_KEYS%%", FLOW_KEYS_FLOW },       { "%%TASK_KEYS%%", FLOW_KEYS_TASK },
                { "%%FLOWABLE_KEYS%%", FLOW_KEYS_FLOWABLE }, { "%%TRIGGER_KEYS%%", FLOW_KEYS_TRIGGER },
                { "%%INPUT_KEYS%%", FLOW_KEYS_INPUT },
        };
        for (size_t i = 0; i < ELEMENTSOF(keys); i++)
                if (streq(marker, keys[i].marker)) {
                        put_keys(keys[i].set);
                        return 0;
                }
        if (streq(marker, "%%INPUT_TYPES%%"))
                put_input_types();
        else if (streq(marker, "%%TASK_TYPES%%"))
                put_types(TASK_TYPE_TASK);
        else if (streq(marker, "%%TRIGGER_TYPES%%"))
                put_types(TASK_TYPE_TRIGGER);
        else if (streq(marker, "%%CONDITION_TYPES%%"))
                put_types(TASK_TYPE_CONDITION);
        else if (streq(marker, "%%FILTERS%%"))
                put_expr_names(expr_filter_name);
        else if (streq(marker, "%%TESTS%%"))
                put_expr_names(expr_test_name);
        else if (streq(marker, "%%FUNCTIONS%%"))
                put_functions(false);
        else if (streq(marker, "%%HOST_FUNCTIONS%%"))
                put_functions(true);
        else
                return -ENOENT;
        return 0;
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "usage: %s TEMPLATE.scd > PAGE.scd\n", argv[0]);
                return EXIT_FAILURE;
        }
        _cleanup_(fclosep) FILE *f = fopen(argv[1], "re");
        if (!f) {
                fprintf(stderr, "%s: cannot open '%s': %m\n", argv[0], argv[1]);
                return EXIT_FAILURE;
        }
        char line[4096];
        unsigned lineno = 0;
        while (fgets(line, sizeof line, f)) {
                lineno++;
                size_t l = strlen(line);
                /* A part is a line of its own, %%NAME%% (not @NAME@: meson's configure_file, which fills in
                 * @VERSION@ first, would empty it). */
                if (l > 5 && startswith(line, "%%") && line[l - 1] == '\n' && line[l - 2] == '%' && line[l - 3] == '%') {
                        line[l - 1] = '\0';
                        if (put_part(line) < 0) {
                                fprintf(stderr, "%s:%u: unknown part '%s'\n", argv[1], lineno, line);
                                return EXIT_FAILURE;
                        }
                } else
                        fputs(line, stdout);
        }
        if (ferror(f) || fflush(stdout) != 0) {
                fprintf(stderr, "%s: cannot copy '%s': %m\n", argv[0], argv[1]);
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}

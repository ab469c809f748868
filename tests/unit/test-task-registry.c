/* test-task-registry: the one task-type registry holds together: every task type that validates is run
 * by something in this build (a worker runner or an engine hook), and every other one is refused by
 * validation at its `type:` line, saying why; so are the triggers and conditions the scheduler cannot
 * evaluate. The types of a plugin (lib/flow/plugin.h) are in the same registry and held to the same. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flow.h"
#include "plugin.h"
#include "strutil.h"
#include "tap.h"
#include "task-impl.h"

/* A flow whose task `t` has type `name`: the refusal must name line 5, column 11 (the type's value). */
static void check_refused(const TaskType *tt, const char *name) {
        _cleanup_free_ char *yaml =
                strdup_printf("id: refused\nnamespace: tern.tests\ntasks:\n  - id: t\n    type: %s\n", name);
        _cleanup_free_ char *want =
                strdup_printf("task type '%s' is known but this build cannot run it (%s)", name, tt->unsupported);
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_flow_ Flow *f = NULL;
        bool found = false;

        int r = flow_load_string(yaml, strlen(yaml), "refused.yaml", &f, &diags);
        for (size_t i = 0; i < diags.n; i++)
                found = found || (diags.items[i].line == 5 && diags.items[i].column == 11 &&
                                  streq(diags.items[i].message, want));
        if (!ok(r == FLOW_INVALID && !f && found, "'%s' is refused at 5:11 saying why", name))
                for (size_t i = 0; i < diags.n; i++)
                        diag("  got %u:%u: %s", diags.items[i].line, diags.items[i].column, diags.items[i].message);
}

/* The same for a trigger (its type at 9:11) or a condition of a Flow trigger (at 11:15). */
static void check_refused_scheduled(const TaskType *tt, const char *name) {
        bool trigger = tt->kind == TASK_TYPE_TRIGGER;
        _cleanup_free_ char *yaml = trigger
                ? strdup_printf("id: refused\nnamespace: tern.tests\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                                "    message: hi\ntriggers:\n  - id: tr\n    type: %s\n", name)
                : strdup_printf("id: refused\nnamespace: tern.tests\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n"
                                "    message: hi\ntriggers:\n  - id: tr\n    type: io.kestra.plugin.core.trigger.Flow\n"
                                "    conditions:\n      - type: %s\n", name);
        _cleanup_free_ char *want = trigger
                ? strdup_printf("trigger type '%s' is known but this build cannot run it (%s)", name, tt->unsupported)
                : strdup_printf("condition type '%s' is known but this build cannot evaluate it (%s)", name,
                                tt->unsupported);
        unsigned line = trigger ? 9 : 11, column = trigger ? 11 : 15;
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_flow_ Flow *f = NULL;
        bool found = false;

        int r = flow_load_string(yaml, strlen(yaml), "refused.yaml", &f, &diags);
        for (size_t i = 0; i < diags.n; i++)
                found = found || (diags.items[i].line == line && diags.items[i].column == column &&
                                  streq(diags.items[i].message, want));
        if (!ok(r == FLOW_INVALID && !f && found, "'%s' is refused at %u:%u saying why", name, line, column))
                for (size_t i = 0; i < diags.n; i++)
                        diag("  got %u:%u: %s", diags.items[i].line, diags.items[i].column, diags.items[i].message);
}

/* A plugin of one exec type, installed before the registry is walked. */
static void install_plugin(char *dir) {
        _cleanup_free_ char *yaml = strjoin(dir, "/plugin.yaml"), *run = strjoin(dir, "/run.sh");
        _cleanup_strv_free_ char **problems = NULL;
        FILE *f = yaml ? fopen(yaml, "we") : NULL;
        if (f) {
                fputs("name: registry-test\nexec: run.sh\ntypes:\n  - type: io.tern.tests.Plugged\n    name: tests.Plugged\n"
                      "    properties:\n      n: {type: integer, required: true}\n", f);
                fclose(f);
        }
        f = run ? fopen(run, "we") : NULL;
        if (f) {
                fputs("#!/bin/sh\n", f);
                fclose(f);
                chmod(run, 0755);
        }
        int r = plugins_setup(dir, &problems);
        ok(r == 0 && !problems, "a plugin installed into the registry (%s)", problems ? problems[0] : strerror(-r));
        const TaskType *t = task_type_lookup(TASK_TYPE_TASK, "io.tern.tests.Plugged");
        ok(t && t == task_type_lookup(TASK_TYPE_TASK, "tests.Plugged") && plugin_type_of(t) &&
                   !plugin_type_of(task_type_lookup(TASK_TYPE_TASK, "Log")),
           "its type is found by both names, after the built-in table");
        (void) unlink(yaml);
        (void) unlink(run);
        (void) rmdir(dir);
}

int main(void) {
        bool runner_used[_TASK_RUNNER_MAX] = {}, hook_used[_TASK_HOOK_MAX] = {};
        size_t n_refused = 0, n_refused_scheduled = 0;
        char dir[] = "/tmp/test-task-registry.XXXXXX";

        if (!mkdtemp(dir))
                return printf("Bail out! mkdtemp: %m\n"), 1;
        install_plugin(dir);

        for (size_t i = 0; task_type_get(i); i++) {
                const TaskType *t = task_type_get(i);
                if (t->kind != TASK_TYPE_TASK) {
                        /* The scheduler's: no hook, no runner; refused when it cannot evaluate them. */
                        ok(t->hook == TASK_HOOK_NONE && t->runner == TASK_RUNNER_NONE,
                           "%s %s: neither hook nor runner", task_type_kind_to_string(t->kind), t->name);
                        if (t->unsupported) {
                                n_refused_scheduled++;
                                check_refused_scheduled(t, t->name);
                                for (const char *const *k = t->kestra_names; k && *k; k++)
                                        check_refused_scheduled(t, *k);
                        }
                        continue;
                }
                bool runner = t->runner != TASK_RUNNER_NONE, hook = t->hook != TASK_HOOK_NONE;
                ok(t->runner >= 0 && t->runner < _TASK_RUNNER_MAX && t->hook >= 0 && t->hook < _TASK_HOOK_MAX,
                   "%s: hook and runner ids in range", t->name);
                ok(!(runner && hook), "%s: run by one thing only", t->name);
                if (runner) {
                        runner_used[t->runner] = true;
                        ok(t->role == TASK_ROLE_RUNNABLE, "%s: a worker runs only runnable types", t->name);
                        ok(task_impl_for(t), "%s: runnable, the worker has its runner", t->name);
                        ok(task_impl_lookup(t->name) == task_impl_for(t) &&
                                   task_impl_lookup(task_type_kestra_name(t)) == task_impl_for(t),
                           "%s: a job's type name finds the same runner", t->name);
                } else
                        ok(!task_impl_for(t), "%s: no worker runner", t->name);
                if (hook)
                        hook_used[t->hook] = true;
                if (t->role == TASK_ROLE_FLOWABLE || t->role == TASK_ROLE_EXECUTABLE)
                        ok(hook || t->unsupported, "%s: flowable/executable, has an engine hook or is refused",
                           t->name);
                /* What neither runs must say why; what runs must not be refused. */
                ok(task_type_can_run(t) == !t->unsupported, "%s: runnable by this build, or refused with a reason",
                   t->name);
                if (!task_type_can_run(t)) {
                        n_refused++;
                        check_refused(t, t->name);
                        for (const char *const *k = t->kestra_names; *k; k++)
                                check_refused(t, *k);
                }
        }
        for (int id = TASK_RUNNER_NONE + 1; id < _TASK_RUNNER_MAX; id++)
                ok(runner_used[id], "runner id %d is used by a registered type", id);
        for (int h = TASK_HOOK_NONE + 1; h < _TASK_HOOK_MAX; h++)
                ok(hook_used[h], "engine hook %d is used by a registered type", h);

        /* The list in docs/COMPAT.md: a change here is a change there. */
        is_int(n_refused, 6,
               "task types known but refused by this build (Template, Loop, Approval, flow.PurgeFlows, "
               "namespace.PurgeFiles, storage.PurgeStorage)");
        is_int(n_refused_scheduled, 3, "triggers and conditions known but refused (PublicHoliday, BatchWebhook, "
                                       "McpToolTrigger)");
        ok(!task_impl_lookup("Nope") && !task_impl_lookup("Labels") && !task_impl_lookup("Exit") && !task_impl_lookup("Kill") &&
                   !task_impl_lookup("SetVariables") && !task_impl_lookup("ForEachItem") && !task_impl_lookup("Template"),
           "no runner for unknown, executor-run and refused types");
        return tap_done();
}

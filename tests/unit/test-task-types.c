/* test-task-types: the registry answers to tern's and Kestra's names, old aliases included, and hints near misses. */
#include <string.h>

#include "macro.h"
#include "tap.h"
#include "task-types.h"

int main(void) {
        static const struct {
                TaskTypeKind kind;
                const char *name, *short_name;
                TaskRole role;
        } names[] = {
                { TASK_TYPE_TASK, "io.kestra.plugin.core.log.Log", "Log", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.log.Log", "Log", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "Log", "Log", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.debug.Return", "Return", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.debugs.Return", "Return", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.debugs.Echo", "Echo", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.executions.Fail", "Fail", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.output.OutputValues", "OutputValues", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.execution.Labels", "Labels", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.flows.Sleep", "Sleep", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.flows.Sequential", "Sequential", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.Parallel", "Parallel", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.flows.If", "If", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.Switch", "Switch", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.ForEach", "ForEach", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.flows.EachSequential", "EachSequential", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.EachParallel", "EachParallel", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.Dag", "Dag", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.AllowFailure", "AllowFailure", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.flows.WorkingDirectory", "WorkingDirectory", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.flows.Flow", "Subflow", TASK_ROLE_EXECUTABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.Subflow", "Subflow", TASK_ROLE_EXECUTABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.Pause", "Pause", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.WaitFor", "WaitFor", TASK_ROLE_FLOWABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.scripts.shell.Commands", "shell.Commands", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.scripts.shell.Script", "shell.Script", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.http.Request", "http.Request", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.fs.http.Download", "http.Download", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.core.tasks.states.Get", "state.Get", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.log.Fetch", "log.Fetch", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.kv.Set", "kv.Set", TASK_ROLE_RUNNABLE },
                { TASK_TYPE_TRIGGER, "io.kestra.plugin.core.trigger.Schedule", "Schedule", TASK_ROLE_NONE },
                { TASK_TYPE_TRIGGER, "io.kestra.core.models.triggers.types.Flow", "Flow", TASK_ROLE_NONE },
                { TASK_TYPE_TRIGGER, "io.kestra.plugin.core.trigger.Webhook", "Webhook", TASK_ROLE_NONE },
                { TASK_TYPE_CONDITION, "io.kestra.plugin.core.condition.ExecutionFlow", "ExecutionFlow", TASK_ROLE_NONE },
                { TASK_TYPE_CONDITION, "io.kestra.core.models.conditions.types.ExecutionStatusCondition",
                  "ExecutionStatus", TASK_ROLE_NONE },
                { TASK_TYPE_CONDITION, "io.kestra.plugin.core.condition.MultipleCondition", "MultipleCondition",
                  TASK_ROLE_NONE },
        };
        for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                const TaskType *t = task_type_lookup(names[i].kind, names[i].name);
                ok(t && streq(t->name, names[i].short_name) && t->role == names[i].role && t->kind == names[i].kind,
                   "%s -> %s", names[i].name, names[i].short_name);
        }
        ok(!task_type_lookup(TASK_TYPE_TRIGGER, "io.kestra.plugin.core.log.Log"), "a task is not a trigger");
        ok(!task_type_lookup(TASK_TYPE_TASK, "io.kestra.plugin.core.trigger.Schedule"), "a trigger is not a task");
        ok(!task_type_lookup(TASK_TYPE_TASK, NULL), "NULL name");

        static const struct {
                TaskTypeKind kind;
                const char *name, *hint;
        } hints[] = {
                { TASK_TYPE_TASK, "io.kestra.plugin.core.log.Logg", "io.kestra.plugin.core.log.Log" },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.flow.Foreach", "io.kestra.plugin.core.flow.ForEach" },
                { TASK_TYPE_TASK, "io.kestra.plugin.core.Return", "io.kestra.plugin.core.debug.Return" },
                { TASK_TYPE_TASK, "Sequentail", "Sequential" },
                { TASK_TYPE_TASK, "Nothing.Like.This.At.All", NULL },
                { TASK_TYPE_TRIGGER, "io.kestra.plugin.core.trigger.Shedule", "io.kestra.plugin.core.trigger.Schedule" },
        };
        for (size_t i = 0; i < ELEMENTSOF(hints); i++)
                is_str(task_type_suggest(hints[i].kind, hints[i].name), hints[i].hint, hints[i].name);

        /* Table sanity: every entry has names, and every property a kind; enums have values. */
        size_t n = 0;
        bool sane = true;
        for (const TaskType *t; (t = task_type_get(n)); n++) {
                sane = sane && t->name && t->kestra_names && t->kestra_names[0];
                for (const TaskProperty *p = t->properties; p && p->name; p++) {
                        sane = sane && p->kind < _PROP_KIND_MAX && (p->kind != PROP_ENUM || p->values);
                        sane = sane && !(p->required && p->default_json);
                }
                /* No two entries of one kind share a name. */
                for (const char *const *k = t->kestra_names; *k; k++)
                        sane = sane && task_type_lookup(t->kind, *k) == t;
                sane = sane && task_type_lookup(t->kind, t->name) == t;
        }
        ok(sane, "registry table is consistent (%zu types)", n);
        ok(n >= 50, "at least 50 types");
        const TaskType *log = task_type_lookup(TASK_TYPE_TASK, "Log");
        const TaskProperty *msg = log ? task_type_property(log, "message") : NULL;
        ok(msg && msg->required, "Log.message is required");
        ok(log && !task_type_property(log, "nope"), "unknown property");
        is_str(task_type_kind_to_string(TASK_TYPE_CONDITION), "condition", "kind name");
        return tap_done();
}

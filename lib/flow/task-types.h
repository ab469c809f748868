/* task-types.h: the registry of task, trigger and condition types: names (tern and Kestra), properties,
 * role, and what runs each task type in this build (an engine hook or a worker runner). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

typedef enum TaskTypeKind {
        TASK_TYPE_TASK,
        TASK_TYPE_TRIGGER,
        TASK_TYPE_CONDITION,
        _TASK_TYPE_KIND_MAX,
} TaskTypeKind;

typedef enum TaskRole {
        TASK_ROLE_RUNNABLE,   /* run by a worker */
        TASK_ROLE_FLOWABLE,   /* children resolved by the executor */
        TASK_ROLE_EXECUTABLE, /* resolved by the executor without children (Subflow, ForEachItem) */
        TASK_ROLE_NONE,       /* triggers and conditions */
} TaskRole;

/* How the executor resolves a task type that no worker runs: lib/engine switches on this (its switch has
 * no default, so a new hook that the engine does not handle breaks the build). */
typedef enum TaskEngineHook {
        TASK_HOOK_NONE,              /* not the executor's: a worker runs it, or (unsupported) nothing does */
        TASK_HOOK_SEQUENTIAL,
        TASK_HOOK_PARALLEL,
        TASK_HOOK_DAG,
        TASK_HOOK_ALLOW_FAILURE,
        TASK_HOOK_WORKING_DIRECTORY,
        TASK_HOOK_IF,
        TASK_HOOK_SWITCH,
        TASK_HOOK_FOR_EACH,
        TASK_HOOK_EACH_SEQUENTIAL,
        TASK_HOOK_EACH_PARALLEL,
        TASK_HOOK_PAUSE,
        TASK_HOOK_WAIT_FOR,
        TASK_HOOK_SUBFLOW,
        TASK_HOOK_FOR_EACH_ITEM,     /* subflows per batch of a file: a worker splits it (ForEachItem.split) */
        TASK_HOOK_LABELS,            /* a runnable type that changes the execution itself: the executor runs it */
        TASK_HOOK_EXIT,              /* the same: ends the execution (Exit) */
        TASK_HOOK_KILL,              /* the same: kills the execution, and its subflows when asked (Kill) */
        TASK_HOOK_SET_VARIABLES,     /* the same: the execution's variables (SetVariables, UnsetVariables) */
        TASK_HOOK_UNSET_VARIABLES,
        _TASK_HOOK_MAX,
} TaskEngineHook;

/* Which of the worker's runners runs a task type: daemons/worker/task-impl.c holds the code, in a table
 * indexed by this (tests/unit/test-task-registry.c checks that every id used here has one). */
typedef enum TaskRunnerId {
        TASK_RUNNER_NONE,
        TASK_RUNNER_LOG,
        TASK_RUNNER_ECHO,
        TASK_RUNNER_RETURN,
        TASK_RUNNER_FAIL,
        TASK_RUNNER_OUTPUT_VALUES,
        TASK_RUNNER_SLEEP,
        TASK_RUNNER_SHELL_COMMANDS,
        TASK_RUNNER_SHELL_SCRIPT,
        TASK_RUNNER_SCRIPT_COMMANDS, /* Commands of another language (python, node...): by the type's name */
        TASK_RUNNER_SCRIPT_SCRIPT,   /* Script of another language */
        TASK_RUNNER_BASH,            /* Kestra's old io.kestra.core.tasks.scripts.Bash */
        TASK_RUNNER_KV_GET,
        TASK_RUNNER_KV_SET,
        TASK_RUNNER_KV_DELETE,
        TASK_RUNNER_KV_GET_KEYS,
        TASK_RUNNER_NS_UPLOAD_FILES,
        TASK_RUNNER_NS_DOWNLOAD_FILES,
        TASK_RUNNER_NS_DELETE_FILES,
        TASK_RUNNER_STATE_GET,
        TASK_RUNNER_STATE_SET,
        TASK_RUNNER_STATE_DELETE,
        TASK_RUNNER_LOG_FETCH,
        TASK_RUNNER_HTTP_REQUEST,
        TASK_RUNNER_HTTP_DOWNLOAD,
        TASK_RUNNER_EXECUTION_COUNT,
        TASK_RUNNER_PURGE_EXECUTIONS,
        TASK_RUNNER_PURGE_LOGS,
        TASK_RUNNER_RESUME,
        TASK_RUNNER_TRIGGER_TOGGLE,
        TASK_RUNNER_PURGE_KV,
        TASK_RUNNER_TEMPLATED,
        TASK_RUNNER_STORAGE_WRITE,
        TASK_RUNNER_STORAGE_DELETE,
        TASK_RUNNER_STORAGE_SIZE,
        TASK_RUNNER_STORAGE_CONCAT,
        TASK_RUNNER_STORAGE_SPLIT,
        TASK_RUNNER_STORAGE_REVERSE,
        TASK_RUNNER_STORAGE_FILTER_ITEMS,
        TASK_RUNNER_STORAGE_DEDUPLICATE_ITEMS,
        TASK_RUNNER_STORAGE_PURGE_EXECUTION,
        TASK_RUNNER_STORAGE_LOCAL_FILES,
        TASK_RUNNER_ASSERT,
        TASK_RUNNER_FOR_EACH_ITEM_SPLIT,
        TASK_RUNNER_FOR_EACH_ITEM_MERGE,
        TASK_RUNNER_PLUGIN,          /* a plugin's type (lib/flow/plugin.h): exec or native, by its descriptor */
        _TASK_RUNNER_MAX,
} TaskRunnerId;

typedef enum PropKind {
        PROP_STRING,        /* any scalar (Jackson turns numbers and booleans into text) */
        PROP_INT,
        PROP_NUMBER,
        PROP_BOOL,
        PROP_DURATION,      /* ISO-8601 duration, PT1S */
        PROP_ENUM,          /* one of values[] */
        PROP_LIST,          /* a list of anything */
        PROP_STRING_LIST,   /* a list of scalars */
        PROP_MAP,           /* a map of anything */
        PROP_ANY,
        PROP_TASKS,         /* a list of tasks (a child branch) */
        PROP_TASK_MAP,      /* name -> list of tasks (Switch cases) */
        PROP_DAG_TASKS,     /* list of {task, dependsOn} */
        PROP_CONDITIONS,    /* list of conditions */
        PROP_CONDITION_MAP, /* name -> condition (MultipleCondition) */
        PROP_INPUTS,        /* list of input declarations (Pause onResume) */
        PROP_STRING_OR_LIST, /* a scalar or a list of scalars (Log message) */
        PROP_MAP_OR_LIST,   /* a map, or a list of {key, value} (labels) */
        PROP_LIST_OR_STRING, /* a list, or a string holding a JSON list (ForEach values) */
        _PROP_KIND_MAX,
} PropKind;

typedef struct TaskProperty {
        const char *name;
        PropKind kind;
        bool required;
        const char *default_json;       /* JSON text of the default, NULL when none */
        const char *const *values;      /* PROP_ENUM: allowed values, NULL-terminated */
        bool raw;                       /* left unrendered for the task, which renders it itself with
                                         * variables of its own (Count's expression sees `count`) */
} TaskProperty;

/* One descriptor per type, used by validation, the engine and the worker alike. A task type is run by
 * exactly one of: an engine hook, a worker runner; one with neither is known (its properties are
 * checked, Kestra flows get a precise message) but refused by validation, saying `unsupported`. */
typedef struct TaskType {
        const char *name;                   /* tern's short name ("Log", "shell.Commands") */
        const char *const *kestra_names;    /* current name first, then old aliases */
        TaskTypeKind kind;
        TaskRole role;
        TaskEngineHook hook;                /* tasks the executor resolves */
        TaskRunnerId runner;                /* tasks a worker runs */
        const char *unsupported;            /* why this build cannot run it (a task neither runs, a
                                             * trigger or condition the scheduler cannot evaluate) */
        const TaskProperty *properties;     /* type's own properties, NULL-name terminated */
        const char *summary;
} TaskType;

/* Whether this build can run a task of this type, or evaluate a trigger or condition of it (those
 * are the scheduler's: all but the ones marked unsupported). */
static inline bool task_type_can_run(const TaskType *t) {
        if (t->kind != TASK_TYPE_TASK)
                return !t->unsupported;
        return t->hook != TASK_HOOK_NONE || t->runner != TASK_RUNNER_NONE;
}

/* Look a type up by its short name or any Kestra name: the built-in table, then the installed plugins'
 * types (lib/flow/plugin.h). NULL when unknown. */
const TaskType *task_type_lookup(TaskTypeKind kind, const char *name);
/* The closest known name to an unknown one ("did you mean"), or NULL when nothing is close. */
const char *task_type_suggest(TaskTypeKind kind, const char *name);
const TaskProperty *task_type_property(const TaskType *t, const char *name);
/* Iterate, the built-in table then the plugins' types: returns NULL past the end. */
const TaskType *task_type_get(size_t i);
static inline const char *task_type_kestra_name(const TaskType *t) {
        return t->kestra_names[0];
}
const char *task_type_kind_to_string(TaskTypeKind k);
const char *prop_kind_to_string(PropKind k);
/* Closest name among a NULL-terminated list, for hints; NULL when none is close enough. */
const char *task_type_closest(const char *name, const char *const *candidates);

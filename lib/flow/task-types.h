/* task-types.h: the registry of task, trigger and condition types: names (tern and Kestra), properties, role. */
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
} TaskProperty;

typedef struct TaskType {
        const char *name;                   /* tern's short name ("Log", "shell.Commands") */
        const char *const *kestra_names;    /* current name first, then old aliases */
        TaskTypeKind kind;
        TaskRole role;
        const TaskProperty *properties;     /* type's own properties, NULL-name terminated */
        const char *summary;
} TaskType;

/* Look a type up by its short name or any Kestra name. NULL when unknown. */
const TaskType *task_type_lookup(TaskTypeKind kind, const char *name);
/* The closest known name to an unknown one ("did you mean"), or NULL when nothing is close. */
const char *task_type_suggest(TaskTypeKind kind, const char *name);
const TaskProperty *task_type_property(const TaskType *t, const char *name);
/* Iterate: returns NULL past the end. */
const TaskType *task_type_get(size_t i);
static inline const char *task_type_kestra_name(const TaskType *t) {
        return t->kestra_names[0];
}
const char *task_type_kind_to_string(TaskTypeKind k);
const char *prop_kind_to_string(PropKind k);
/* Closest name among a NULL-terminated list, for hints; NULL when none is close enough. */
const char *task_type_closest(const char *name, const char *const *candidates);

/* flow.h: the flow language model (Kestra-compatible YAML flows): loading, validation, lookup. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "flow-diag.h"
#include "macro.h"
#include "task-types.h"
#include "timeutil.h"

/* A flow_load_*() outcome other than success: the flow is not valid, the reasons are in the
 * diagnostics. (Negative errno values are system failures: unreadable file, out of memory.) */
#define FLOW_INVALID 1

typedef struct FlowPos {
        unsigned line, column; /* 1-based; 0 when unknown */
} FlowPos;

typedef enum RetryType {
        RETRY_CONSTANT,
        RETRY_EXPONENTIAL,
        RETRY_RANDOM,
} RetryType;

typedef enum RetryBehavior {
        RETRY_BEHAVIOR_RETRY_FAILED_TASK,
        RETRY_BEHAVIOR_CREATE_NEW_EXECUTION,
} RetryBehavior;

typedef struct Retry {
        RetryType type;
        RetryBehavior behavior;
        int64_t max_attempt;   /* -1 when not set */
        susec_t max_duration;  /* -1 when not set */
        susec_t interval;      /* constant, exponential; -1 when not set */
        susec_t min_interval;  /* random */
        susec_t max_interval;  /* exponential, random */
        double delay_factor;   /* exponential; 0 when not set (Kestra's default is 2) */
        bool warning_on_retry;
        FlowPos pos;
} Retry;

typedef enum ConcurrencyBehavior {
        CONCURRENCY_QUEUE,
        CONCURRENCY_CANCEL,
        CONCURRENCY_FAIL,
} ConcurrencyBehavior;

typedef struct Concurrency {
        int64_t limit; /* 0: no concurrency limit declared */
        ConcurrencyBehavior behavior;
        FlowPos pos;
} Concurrency;

typedef struct Task Task;

/* A named list of child tasks: "tasks", "then", "else", "errors", "finally", "defaults",
 * "cases" (one branch per case, with case set), Pause's "tasks", ... */
typedef struct TaskBranch {
        char *name;
        char *case_value; /* Switch: the case key; NULL otherwise */
        Task **tasks;
        size_t n_tasks;
        FlowPos pos;
} TaskBranch;

struct Task {
        char *id;
        char *type;               /* as written in the flow */
        const TaskType *def;      /* never NULL in a valid flow */
        FlowPos pos;
        Task *parent;             /* NULL at the top level (tasks, errors, finally, afterExecution) */

        char *description;
        Retry *retry;             /* NULL when not set */
        char *timeout;            /* as written (a duration or an expression), NULL when not set */
        susec_t timeout_usec;     /* parsed timeout; -1 when not set or an expression */
        bool disabled;
        bool allow_failure;
        bool allow_warning;
        bool log_to_file;
        char *run_if;
        char *log_level;
        char *worker_group;       /* workerGroup.key */
        char **depends_on;        /* Dag children only */

        /* The type's own properties, exactly as written (to be rendered with expressions at run
         * time); for those not written, the flow's matching pluginDefaults values and then the
         * registry's defaults are filled in (a "forced" pluginDefaults value replaces the written
         * one). Child task lists are not in here: see branches. */
        json_t *properties;
        TaskBranch *branches;
        size_t n_branches;
};

typedef enum FlowInputType {
        FLOW_INPUT_STRING,
        FLOW_INPUT_INT,
        FLOW_INPUT_FLOAT,
        FLOW_INPUT_BOOLEAN,
        FLOW_INPUT_DATE,
        FLOW_INPUT_DATETIME,
        FLOW_INPUT_TIME,
        FLOW_INPUT_DURATION,
        FLOW_INPUT_FILE,
        FLOW_INPUT_JSON,
        FLOW_INPUT_YAML,
        FLOW_INPUT_URI,
        FLOW_INPUT_SECRET,
        FLOW_INPUT_ENUM,   /* also SELECT */
        FLOW_INPUT_MULTISELECT,
        FLOW_INPUT_ARRAY,
        FLOW_INPUT_EMAIL,
        _FLOW_INPUT_TYPE_MAX,
        _FLOW_INPUT_TYPE_INVALID = -EINVAL,
} FlowInputType;

typedef struct FlowInput {
        char *id;
        FlowInputType type;
        char *type_name;         /* as written: "SELECT" and "ENUM" are both FLOW_INPUT_ENUM */
        FlowPos pos;
        char *description;
        char *display_name;
        bool required;           /* Kestra's default: true */
        json_t *defaults;        /* NULL when none; a string may hold an expression */
        char *validator;         /* STRING: regular expression the whole value must match */
        json_t *min, *max;       /* INT, FLOAT: numbers; DURATION: min/max, DATE/DATETIME/TIME:
                                  * after/before, as strings */
        json_t *values;          /* ENUM/SELECT/MULTISELECT: allowed values (array of strings) */
        bool allow_custom_value; /* SELECT/MULTISELECT */
        FlowInputType item_type; /* ARRAY */
        json_t *extra;           /* every other key as written (dependsOn, extension, ...) */
} FlowInput;

typedef struct FlowOutput {
        char *id;
        FlowInputType type;
        FlowPos pos;
        json_t *value;           /* usually an expression string */
        char *description;
        bool required;
} FlowOutput;

typedef struct Trigger {
        char *id;
        char *type;
        const TaskType *def;
        FlowPos pos;
        char *description;
        bool disabled;
        json_t *conditions;      /* as written (validated against the condition registry); may be NULL */
        json_t *properties;      /* the type's own properties, defaults filled in */
} Trigger;

typedef struct Flow {
        char *file;              /* where it was loaded from, NULL for a string */
        char *source;            /* the verbatim YAML text */
        char *id;
        char *namespace;
        int64_t revision;        /* 0 when not set */
        char *description;
        bool disabled;
        bool deleted;
        json_t *labels;          /* object: key -> value (list form converted) */
        json_t *variables;       /* object or NULL */
        FlowInput *inputs;
        size_t n_inputs;
        FlowOutput *outputs;
        size_t n_outputs;
        Task **tasks;
        size_t n_tasks;
        Task **errors;
        size_t n_errors;
        Task **finally;
        size_t n_finally;
        Task **after_execution;
        size_t n_after_execution;
        Trigger *triggers;
        size_t n_triggers;
        Concurrency concurrency;
        Retry *retry;
        json_t *plugin_defaults; /* list as written (also from the old name taskDefaults), or NULL */
        json_t *sla;             /* list as written, or NULL */
        json_t *checks;          /* list as written, or NULL */
        char *worker_group;      /* workerGroup.key: the queue of tasks that name none; NULL: the default */
} Flow;

/* How many tasks a flow may have, counting every task: those nested in flowable tasks, errors,
 * finally and afterExecution. A flow's every step costs more with its size, and a flow is written
 * by anyone who may apply one: validation refuses more. Set once at startup from the configuration
 * ([flow] max-tasks, TERN_FLOW_MAX_TASKS), like the log level; 0 restores the default. */
#define FLOW_TASKS_MAX_DEFAULT 10000u
void flow_set_max_tasks(size_t n);
size_t flow_max_tasks(void);

/* Load and validate. Returns 0 with *ret set; FLOW_INVALID with every problem in diags (which
 * may be NULL to only check); or a negative errno. file names the source in diagnostics. */
int flow_load_file(const char *path, Flow **ret, FlowDiagnostics *diags);
int flow_load_string(const char *text, size_t len, const char *file, Flow **ret, FlowDiagnostics *diags);

Flow *flow_free(Flow *f);
DEFINE_FREE_CLEANUP(Flow, flow_free)
#define _cleanup_flow_ _cleanup_(flow_freep)

/* Checks (the flow's `checks`), evaluated before an execution is created (lib/api). */
typedef enum FlowCheckBehavior {
        FLOW_CHECK_BLOCK_EXECUTION,  /* no execution: the most restrictive, Kestra's default */
        FLOW_CHECK_FAIL_EXECUTION,   /* created, FAILED at once */
        FLOW_CHECK_CREATE_EXECUTION, /* created as if the check held */
} FlowCheckBehavior;
FlowCheckBehavior flow_check_behavior(json_t *check);
/* The check's expression (`when`, or its old name `condition`); NULL when it has none. */
const char *flow_check_when(json_t *check);

/* Any task of the flow by id, at any depth, in tasks, errors, finally and afterExecution. */
const Task *flow_find_task(const Flow *f, const char *id);
const FlowInput *flow_find_input(const Flow *f, const char *id);
/* A branch of a task by name ("then", "tasks", ...); for Switch cases pass "cases" and the key. */
const TaskBranch *task_find_branch(const Task *t, const char *name, const char *case_value);
/* A property of the task's own (after defaults), borrowed; NULL when absent. */
json_t *task_property(const Task *t, const char *name);

/* The keys the flow language accepts at each level, NULL-terminated (besides a task type's own
 * properties, which the registry in task-types.h holds): what tern-flow(5) is generated from. */
typedef enum FlowKeySet {
        FLOW_KEYS_FLOW,     /* a flow's top level */
        FLOW_KEYS_TASK,     /* every task */
        FLOW_KEYS_FLOWABLE, /* flowable tasks, besides FLOW_KEYS_TASK */
        FLOW_KEYS_TRIGGER,  /* every trigger */
        FLOW_KEYS_INPUT,    /* an input declaration */
        _FLOW_KEYS_MAX,
} FlowKeySet;
const char *const *flow_language_keys(FlowKeySet set);

/* Inputs (flow-inputs.c). */
FlowInputType flow_input_type_from_string(const char *s);
const char *flow_input_type_to_string(FlowInputType t);
/* Convert a user-supplied string (CLI --input k=v, form field) to the input's typed JSON value.
 * Returns 0; -EINVAL with *error saying what is wrong (caller frees); -ENOMEM. */
int flow_input_parse(const FlowInput *in, const char *raw, json_t **ret, char **error);
/* Build the execution's inputs: supplied is an object of id -> raw string or typed JSON value
 * (may be NULL). Applies defaults, converts and validates, checks required inputs. Unknown keys
 * are ignored, as Kestra does. Returns 0 with *ret an object; -EINVAL with *error listing every
 * problem ("; " separated); -ENOMEM. Defaults holding an expression are kept as strings. */
int flow_inputs_resolve(const Flow *f, json_t *supplied, json_t **ret, char **error);

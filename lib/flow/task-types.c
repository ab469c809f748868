/* task-types.c: the registry of task, trigger and condition types: names (tern and Kestra), properties, role,
 * and what runs each task type (an engine hook or a worker runner; none: refused by validation). */
#include <string.h>

#include "macro.h"
#include "plugin.h"
#include "strutil.h"
#include "task-types.h"

#define NAMES(...) ((const char *const[]) { __VA_ARGS__, NULL })
#define PROPS(...) ((const TaskProperty[]) { __VA_ARGS__, {} })
#define NO_PROPS ((const TaskProperty[]) { {} })
#define P(n, k) { .name = (n), .kind = (k) }
#define REQ(n, k) { .name = (n), .kind = (k), .required = true }
#define DEF(n, k, d) { .name = (n), .kind = (k), .default_json = (d) }
#define ENUM(n, vals, d) { .name = (n), .kind = PROP_ENUM, .values = (vals), .default_json = (d) }
#define RAW_REQ(n, k) { .name = (n), .kind = (k), .required = true, .raw = true }

/* Who runs a task type, and the kind and role of the others: the first fields of an entry. */
#define WORKER(runner) TASK_TYPE_TASK, TASK_ROLE_RUNNABLE, TASK_HOOK_NONE, (runner), NULL
#define FLOWABLE(hook) TASK_TYPE_TASK, TASK_ROLE_FLOWABLE, (hook), TASK_RUNNER_NONE, NULL
#define EXECUTABLE(hook) TASK_TYPE_TASK, TASK_ROLE_EXECUTABLE, (hook), TASK_RUNNER_NONE, NULL
#define RUN_BY_EXECUTOR(hook) TASK_TYPE_TASK, TASK_ROLE_RUNNABLE, (hook), TASK_RUNNER_NONE, NULL
#define UNSUPPORTED(role, why) TASK_TYPE_TASK, (role), TASK_HOOK_NONE, TASK_RUNNER_NONE, (why)
#define TRIGGER TASK_TYPE_TRIGGER, TASK_ROLE_NONE, TASK_HOOK_NONE, TASK_RUNNER_NONE, NULL
#define CONDITION TASK_TYPE_CONDITION, TASK_ROLE_NONE, TASK_HOOK_NONE, TASK_RUNNER_NONE, NULL
/* Known triggers and conditions the scheduler cannot evaluate: refused by validation, saying why. */
#define CONDITION_REFUSED(why) TASK_TYPE_CONDITION, TASK_ROLE_NONE, TASK_HOOK_NONE, TASK_RUNNER_NONE, why
#define TRIGGER_REFUSED(why) TASK_TYPE_TRIGGER, TASK_ROLE_NONE, TASK_HOOK_NONE, TASK_RUNNER_NONE, why

#define LOG_LEVELS NAMES("TRACE", "DEBUG", "INFO", "WARN", "ERROR")
#define HTTP_METHODS NAMES("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE")
#define STATES \
        NAMES("CREATED", "RUNNING", "PAUSED", "RESTARTED", "KILLING", "SUCCESS", "WARNING", "FAILED", "KILLED", \
              "CANCELLED", "QUEUED", "RETRYING", "RETRIED", "SKIPPED", "BREAKPOINT", "RESUBMITTED")

/* Properties every subflow-launching task shares (Subflow, its old name Flow, ForEachItem). */
#define SUBFLOW_PROPS                                                                                 \
        REQ("namespace", PROP_STRING), REQ("flowId", PROP_STRING), P("revision", PROP_INT),          \
                P("inputs", PROP_MAP), P("labels", PROP_MAP_OR_LIST), DEF("wait", PROP_BOOL, "true"), \
                DEF("transmitFailed", PROP_BOOL, "true"), DEF("inheritLabels", PROP_BOOL, "false"),   \
                P("scheduleDate", PROP_STRING), P("outputs", PROP_MAP)

/* What shell Commands and Script share (Kestra's script plugin base). */
#define SCRIPT_PROPS                                                                                      \
        P("env", PROP_MAP), P("interpreter", PROP_STRING_LIST), P("beforeCommands", PROP_STRING_LIST),   \
                P("containerImage", PROP_STRING), P("taskRunner", PROP_MAP), P("docker", PROP_MAP),      \
                ENUM("runner", NAMES("PROCESS", "DOCKER"), NULL), DEF("warningOnStdErr", PROP_BOOL, "true"), \
                P("outputFiles", PROP_STRING_LIST), P("inputFiles", PROP_ANY), P("namespaceFiles", PROP_MAP), \
                DEF("outputDirectory", PROP_BOOL, "false"), DEF("failFast", PROP_BOOL, "true"),          \
                ENUM("targetOS", NAMES("LINUX", "WINDOWS", "AUTO"), "\"AUTO\"")

/* What Kestra's Python tasks add: packages pip installs first (daemons/worker/tasks/python-deps.c). */
#define PYTHON_PROPS                                                                                       \
        P("dependencies", PROP_STRING_LIST), P("pythonVersion", PROP_STRING),                              \
                DEF("dependencyCacheEnabled", PROP_BOOL, "true"), ENUM("packageManager", NAMES("UV", "PIP"), NULL)

#define HTTP_PROPS                                                                                              \
        REQ("uri", PROP_STRING), ENUM("method", HTTP_METHODS, "\"GET\""), P("body", PROP_ANY),                 \
                P("contentType", PROP_STRING), P("headers", PROP_MAP), P("formData", PROP_MAP),                 \
                P("options", PROP_MAP), P("sslOptions", PROP_MAP), P("basicAuthUser", PROP_STRING),             \
                P("basicAuthPassword", PROP_STRING), P("auth", PROP_MAP)

#define STATE_PROPS                                                                           \
        DEF("name", PROP_STRING, "\"default\""), DEF("namespace", PROP_BOOL, "false"),       \
                DEF("taskrunValue", PROP_BOOL, "true")

static const TaskType task_types[] = {
        /* ---- runnable core tasks ---- */
        { "Log", NAMES("io.kestra.plugin.core.log.Log", "io.kestra.core.tasks.log.Log"), WORKER(TASK_RUNNER_LOG),
          PROPS(REQ("message", PROP_STRING_OR_LIST), ENUM("level", LOG_LEVELS, "\"INFO\"")),
          "log a message" },
        { "Return", NAMES("io.kestra.plugin.core.debug.Return", "io.kestra.core.tasks.debugs.Return"),
          WORKER(TASK_RUNNER_RETURN),
          PROPS(P("format", PROP_STRING)), "output a rendered value" },
        { "Echo", NAMES("io.kestra.plugin.core.debug.Echo", "io.kestra.core.tasks.debugs.Echo"),
          WORKER(TASK_RUNNER_ECHO),
          PROPS(REQ("format", PROP_STRING), ENUM("level", LOG_LEVELS, "\"INFO\"")),
          "log a rendered value (deprecated by Kestra for Log)" },
        { "Fail", NAMES("io.kestra.plugin.core.execution.Fail", "io.kestra.core.tasks.executions.Fail"),
          WORKER(TASK_RUNNER_FAIL),
          PROPS(P("condition", PROP_STRING), DEF("errorMessage", PROP_STRING, "\"Task failure\"")),
          "fail the execution, optionally on a condition" },
        { "OutputValues",
          NAMES("io.kestra.plugin.core.output.OutputValues", "io.kestra.core.tasks.outputs.OutputValues"),
          WORKER(TASK_RUNNER_OUTPUT_VALUES), PROPS(P("values", PROP_MAP)), "output a map of values" },
        { "Labels", NAMES("io.kestra.plugin.core.execution.Labels", "io.kestra.core.tasks.executions.Labels"),
          RUN_BY_EXECUTOR(TASK_HOOK_LABELS), PROPS(REQ("labels", PROP_MAP_OR_LIST)),
          "add or replace execution labels" },
        { "Exit", NAMES("io.kestra.plugin.core.execution.Exit"), RUN_BY_EXECUTOR(TASK_HOOK_EXIT),
          PROPS(ENUM("state", NAMES("SUCCESS", "WARNING", "KILLED", "FAILED", "CANCELED"), "\"SUCCESS\"")),
          "end the execution with a state" },
        { "Kill", NAMES("io.kestra.plugin.core.execution.Kill"), RUN_BY_EXECUTOR(TASK_HOOK_KILL),
          PROPS(DEF("propagateKill", PROP_BOOL, "false")),
          "kill the execution, and its subflow executions when propagateKill is true" },
        { "Assert", NAMES("io.kestra.plugin.core.execution.Assert"), WORKER(TASK_RUNNER_ASSERT),
          PROPS(RAW_REQ("conditions", PROP_STRING_LIST), P("errorMessage", PROP_STRING)),
          "fail when an expression is false" },
        { "SetVariables", NAMES("io.kestra.plugin.core.execution.SetVariables"),
          RUN_BY_EXECUTOR(TASK_HOOK_SET_VARIABLES),
          PROPS(REQ("variables", PROP_MAP), DEF("overwrite", PROP_BOOL, "true")), "set execution variables" },
        { "UnsetVariables", NAMES("io.kestra.plugin.core.execution.UnsetVariables"),
          RUN_BY_EXECUTOR(TASK_HOOK_UNSET_VARIABLES),
          PROPS(REQ("variables", PROP_STRING_LIST), DEF("ignoreMissing", PROP_BOOL, "false")),
          "remove execution variables" },
        { "Sleep", NAMES("io.kestra.plugin.core.flow.Sleep", "io.kestra.core.tasks.flows.Sleep"),
          WORKER(TASK_RUNNER_SLEEP),
          PROPS(REQ("duration", PROP_DURATION)), "wait for a duration" },
        { "log.Fetch", NAMES("io.kestra.plugin.core.log.Fetch", "io.kestra.core.tasks.log.Fetch"),
          WORKER(TASK_RUNNER_LOG_FETCH),
          PROPS(P("namespace", PROP_STRING), P("flowId", PROP_STRING), P("executionId", PROP_STRING),
                P("tasksId", PROP_STRING_LIST), ENUM("level", LOG_LEVELS, "\"INFO\"")),
          "fetch the logs of an execution into a file" },
        { "state.Get", NAMES("io.kestra.plugin.core.state.Get", "io.kestra.core.tasks.states.Get"),
          WORKER(TASK_RUNNER_STATE_GET),
          PROPS(STATE_PROPS, DEF("errorOnMissing", PROP_BOOL, "false")),
          "read a flow state file" },
        { "state.Set", NAMES("io.kestra.plugin.core.state.Set", "io.kestra.core.tasks.states.Set"),
          WORKER(TASK_RUNNER_STATE_SET),
          PROPS(STATE_PROPS, P("data", PROP_ANY)), "merge values into a flow state file" },
        { "state.Delete", NAMES("io.kestra.plugin.core.state.Delete", "io.kestra.core.tasks.states.Delete"),
          WORKER(TASK_RUNNER_STATE_DELETE), PROPS(STATE_PROPS, DEF("errorOnMissing", PROP_BOOL, "false")),
          "delete a flow state file" },
        { "kv.Get", NAMES("io.kestra.plugin.core.kv.Get"), WORKER(TASK_RUNNER_KV_GET),
          PROPS(REQ("key", PROP_STRING), P("namespace", PROP_STRING), DEF("errorOnMissing", PROP_BOOL, "false")),
          "read a key-value entry" },
        { "kv.Set", NAMES("io.kestra.plugin.core.kv.Set"), WORKER(TASK_RUNNER_KV_SET),
          PROPS(REQ("key", PROP_STRING), REQ("value", PROP_ANY), P("namespace", PROP_STRING),
                DEF("overwrite", PROP_BOOL, "true"), P("ttl", PROP_DURATION),
                ENUM("kvType", NAMES("STRING", "NUMBER", "BOOLEAN", "DATETIME", "DATE", "DURATION", "JSON"), NULL)),
          "write a key-value entry" },
        { "kv.Delete", NAMES("io.kestra.plugin.core.kv.Delete"), WORKER(TASK_RUNNER_KV_DELETE),
          PROPS(REQ("key", PROP_STRING), P("namespace", PROP_STRING), DEF("errorOnMissing", PROP_BOOL, "false")),
          "delete a key-value entry" },
        { "kv.GetKeys", NAMES("io.kestra.plugin.core.kv.GetKeys"), WORKER(TASK_RUNNER_KV_GET_KEYS),
          PROPS(P("prefix", PROP_STRING), P("namespace", PROP_STRING)), "list key-value keys" },
        { "namespace.UploadFiles", NAMES("io.kestra.plugin.core.namespace.UploadFiles"),
          WORKER(TASK_RUNNER_NS_UPLOAD_FILES),
          PROPS(P("namespace", PROP_STRING), P("files", PROP_ANY), P("filesMap", PROP_ANY),
                DEF("destination", PROP_STRING, "\"/\""), ENUM("conflict", NAMES("OVERWRITE", "ERROR", "SKIP"), "\"OVERWRITE\"")),
          "store working-directory files or stored files as namespace files" },
        { "namespace.DownloadFiles", NAMES("io.kestra.plugin.core.namespace.DownloadFiles"),
          WORKER(TASK_RUNNER_NS_DOWNLOAD_FILES),
          PROPS(REQ("namespace", PROP_STRING), REQ("files", PROP_STRING_OR_LIST)),
          "make namespace files the task's output files" },
        { "namespace.DeleteFiles", NAMES("io.kestra.plugin.core.namespace.DeleteFiles"),
          WORKER(TASK_RUNNER_NS_DELETE_FILES),
          PROPS(REQ("namespace", PROP_STRING), REQ("files", PROP_STRING_OR_LIST),
                DEF("deleteParentFolder", PROP_BOOL, "false")),
          "delete namespace files matching patterns" },
        { "shell.Commands", NAMES("io.kestra.plugin.scripts.shell.Commands"), WORKER(TASK_RUNNER_SHELL_COMMANDS),
          PROPS(REQ("commands", PROP_STRING_LIST), SCRIPT_PROPS), "run shell commands" },
        { "shell.Script", NAMES("io.kestra.plugin.scripts.shell.Script"), WORKER(TASK_RUNNER_SHELL_SCRIPT),
          PROPS(REQ("script", PROP_STRING), SCRIPT_PROPS), "run a shell script" },
        /* Kestra's script tasks of other languages: the host's interpreter, in the sandbox (tasks/languages.c). */
        { "python.Commands", NAMES("io.kestra.plugin.scripts.python.Commands"), WORKER(TASK_RUNNER_SCRIPT_COMMANDS),
          PROPS(REQ("commands", PROP_STRING_LIST), SCRIPT_PROPS, PYTHON_PROPS), "run Python commands" },
        { "python.Script", NAMES("io.kestra.plugin.scripts.python.Script"), WORKER(TASK_RUNNER_SCRIPT_SCRIPT),
          PROPS(REQ("script", PROP_STRING), SCRIPT_PROPS, PYTHON_PROPS), "run a Python script" },
        { "node.Commands", NAMES("io.kestra.plugin.scripts.node.Commands"), WORKER(TASK_RUNNER_SCRIPT_COMMANDS),
          PROPS(REQ("commands", PROP_STRING_LIST), SCRIPT_PROPS), "run Node.js commands" },
        { "node.Script", NAMES("io.kestra.plugin.scripts.node.Script"), WORKER(TASK_RUNNER_SCRIPT_SCRIPT),
          PROPS(REQ("script", PROP_STRING), SCRIPT_PROPS), "run a Node.js script" },
        { "r.Commands", NAMES("io.kestra.plugin.scripts.r.Commands"), WORKER(TASK_RUNNER_SCRIPT_COMMANDS),
          PROPS(REQ("commands", PROP_STRING_LIST), SCRIPT_PROPS), "run R commands" },
        { "r.Script", NAMES("io.kestra.plugin.scripts.r.Script"), WORKER(TASK_RUNNER_SCRIPT_SCRIPT),
          PROPS(REQ("script", PROP_STRING), SCRIPT_PROPS), "run a R script" },
        { "ruby.Commands", NAMES("io.kestra.plugin.scripts.ruby.Commands"), WORKER(TASK_RUNNER_SCRIPT_COMMANDS),
          PROPS(REQ("commands", PROP_STRING_LIST), SCRIPT_PROPS), "run Ruby commands" },
        { "ruby.Script", NAMES("io.kestra.plugin.scripts.ruby.Script"), WORKER(TASK_RUNNER_SCRIPT_SCRIPT),
          PROPS(REQ("script", PROP_STRING), SCRIPT_PROPS), "run a Ruby script" },
        { "julia.Commands", NAMES("io.kestra.plugin.scripts.julia.Commands"), WORKER(TASK_RUNNER_SCRIPT_COMMANDS),
          PROPS(REQ("commands", PROP_STRING_LIST), SCRIPT_PROPS), "run Julia commands" },
        { "julia.Script", NAMES("io.kestra.plugin.scripts.julia.Script"), WORKER(TASK_RUNNER_SCRIPT_SCRIPT),
          PROPS(REQ("script", PROP_STRING), SCRIPT_PROPS), "run a Julia script" },
        { "powershell.Commands", NAMES("io.kestra.plugin.scripts.powershell.Commands"), WORKER(TASK_RUNNER_SCRIPT_COMMANDS),
          PROPS(REQ("commands", PROP_STRING_LIST), SCRIPT_PROPS), "run PowerShell commands" },
        { "powershell.Script", NAMES("io.kestra.plugin.scripts.powershell.Script"), WORKER(TASK_RUNNER_SCRIPT_SCRIPT),
          PROPS(REQ("script", PROP_STRING), SCRIPT_PROPS), "run a PowerShell script" },
        { "go.Commands", NAMES("io.kestra.plugin.scripts.go.Commands"), WORKER(TASK_RUNNER_SCRIPT_COMMANDS),
          PROPS(REQ("commands", PROP_STRING_LIST), SCRIPT_PROPS), "run Go commands" },
        { "go.Script", NAMES("io.kestra.plugin.scripts.go.Script"), WORKER(TASK_RUNNER_SCRIPT_SCRIPT),
          PROPS(REQ("script", PROP_STRING), SCRIPT_PROPS), "run a Go script" },
        { "http.Request", NAMES("io.kestra.plugin.core.http.Request", "io.kestra.plugin.fs.http.Request"),
          WORKER(TASK_RUNNER_HTTP_REQUEST),
          PROPS(HTTP_PROPS, DEF("allowFailed", PROP_BOOL, "false"), P("allowedResponseCodes", PROP_LIST),
                DEF("encryptBody", PROP_BOOL, "false")),
          "make an HTTP request" },
        { "http.Download", NAMES("io.kestra.plugin.core.http.Download", "io.kestra.plugin.fs.http.Download"),
          WORKER(TASK_RUNNER_HTTP_DOWNLOAD),
          PROPS(HTTP_PROPS, DEF("failOnEmptyResponse", PROP_BOOL, "true"), P("saveAs", PROP_STRING)),
          "download a file over HTTP into internal storage" },

        /* ---- runnable tasks that act on the store's records (daemons/worker/tasks/records.c) ---- */
        { "Count", NAMES("io.kestra.plugin.core.execution.Count", "io.kestra.core.tasks.executions.Counts"),
          WORKER(TASK_RUNNER_EXECUTION_COUNT),
          PROPS(P("flows", PROP_LIST), RAW_REQ("expression", PROP_STRING), REQ("startDate", PROP_STRING),
                P("endDate", PROP_STRING), P("states", PROP_STRING_LIST), P("namespaces", PROP_STRING_LIST)),
          "count executions matching criteria" },
        { "PurgeExecutions",
          NAMES("io.kestra.plugin.core.execution.PurgeExecutions", "io.kestra.core.tasks.storages.Purge",
                "io.kestra.plugin.core.storage.Purge"),
          WORKER(TASK_RUNNER_PURGE_EXECUTIONS),
          PROPS(P("namespace", PROP_STRING), P("flowId", PROP_STRING), P("startDate", PROP_STRING),
                REQ("endDate", PROP_STRING), P("states", PROP_STRING_LIST), DEF("purgeExecution", PROP_BOOL, "true"),
                DEF("purgeLog", PROP_BOOL, "true"), DEF("purgeMetric", PROP_BOOL, "true"),
                DEF("purgeStorage", PROP_BOOL, "true"), DEF("batchSize", PROP_INT, "100")),
          "delete old executions and what they produced" },
        { "log.PurgeLogs", NAMES("io.kestra.plugin.core.log.PurgeLogs"), WORKER(TASK_RUNNER_PURGE_LOGS),
          PROPS(P("namespace", PROP_STRING), P("flowId", PROP_STRING), P("executionId", PROP_STRING),
                P("logLevels", PROP_STRING_LIST), P("startDate", PROP_STRING), REQ("endDate", PROP_STRING),
                DEF("purgeExecutionLogs", PROP_BOOL, "true"), DEF("purgeNonExecutionLogs", PROP_BOOL, "true"),
                P("batchSize", PROP_INT)),
          "delete old logs" },
        { "Resume", NAMES("io.kestra.plugin.core.execution.Resume"), WORKER(TASK_RUNNER_RESUME),
          PROPS(P("executionId", PROP_STRING), P("namespace", PROP_STRING), P("flowId", PROP_STRING),
                P("inputs", PROP_MAP)),
          "resume a paused execution" },
        { "Toggle", NAMES("io.kestra.plugin.core.trigger.Toggle"), WORKER(TASK_RUNNER_TRIGGER_TOGGLE),
          PROPS(P("namespace", PROP_STRING), P("flowId", PROP_STRING), REQ("trigger", PROP_STRING),
                DEF("enabled", PROP_BOOL, "false")),
          "enable or disable a trigger" },
        { "kv.PurgeKV", NAMES("io.kestra.plugin.core.kv.PurgeKV"), WORKER(TASK_RUNNER_PURGE_KV),
          PROPS(P("namespaces", PROP_STRING_LIST), P("namespacePattern", PROP_STRING), P("keyPattern", PROP_STRING),
                P("behavior", PROP_MAP), DEF("includeChildNamespaces", PROP_BOOL, "true"),
                P("expiredOnly", PROP_BOOL)),
          "delete key-value entries of namespaces: expired ones by default" },
        { "TemplatedTask", NAMES("io.kestra.plugin.core.templating.TemplatedTask"), WORKER(TASK_RUNNER_TEMPLATED),
          PROPS(REQ("spec", PROP_STRING)), "run a runnable task whose definition is rendered from a template" },

        /* ---- flowable core tasks ---- */
        { "Sequential", NAMES("io.kestra.plugin.core.flow.Sequential", "io.kestra.core.tasks.flows.Sequential"),
          FLOWABLE(TASK_HOOK_SEQUENTIAL),
          PROPS(REQ("tasks", PROP_TASKS)), "run tasks one after the other" },
        { "Parallel", NAMES("io.kestra.plugin.core.flow.Parallel", "io.kestra.core.tasks.flows.Parallel"),
          FLOWABLE(TASK_HOOK_PARALLEL),
          PROPS(REQ("tasks", PROP_TASKS), DEF("concurrent", PROP_INT, "0")),
          "run tasks at the same time" },
        { "If", NAMES("io.kestra.plugin.core.flow.If", "io.kestra.core.tasks.flows.If"), FLOWABLE(TASK_HOOK_IF),
          PROPS(REQ("condition", PROP_STRING), REQ("then", PROP_TASKS), P("else", PROP_TASKS)),
          "run one branch or the other" },
        { "Switch", NAMES("io.kestra.plugin.core.flow.Switch", "io.kestra.core.tasks.flows.Switch"),
          FLOWABLE(TASK_HOOK_SWITCH),
          PROPS(REQ("value", PROP_STRING), P("cases", PROP_TASK_MAP), P("defaults", PROP_TASKS)),
          "run the branch named by a value" },
        { "ForEach", NAMES("io.kestra.plugin.core.flow.ForEach", "io.kestra.core.tasks.flows.ForEach"),
          FLOWABLE(TASK_HOOK_FOR_EACH),
          PROPS(REQ("values", PROP_LIST_OR_STRING), REQ("tasks", PROP_TASKS), DEF("concurrencyLimit", PROP_INT, "1")),
          "run tasks for each value" },
        { "EachSequential",
          NAMES("io.kestra.plugin.core.flow.EachSequential", "io.kestra.core.tasks.flows.EachSequential"),
          FLOWABLE(TASK_HOOK_EACH_SEQUENTIAL),
          PROPS(REQ("value", PROP_LIST_OR_STRING), REQ("tasks", PROP_TASKS)),
          "run tasks for each value, one value after the other (deprecated by Kestra for ForEach)" },
        { "EachParallel",
          NAMES("io.kestra.plugin.core.flow.EachParallel", "io.kestra.core.tasks.flows.EachParallel"),
          FLOWABLE(TASK_HOOK_EACH_PARALLEL),
          PROPS(REQ("value", PROP_LIST_OR_STRING), REQ("tasks", PROP_TASKS), DEF("concurrent", PROP_INT, "0")),
          "run tasks for each value, values in parallel (deprecated by Kestra for ForEach)" },
        { "Dag", NAMES("io.kestra.plugin.core.flow.Dag", "io.kestra.core.tasks.flows.Dag"), FLOWABLE(TASK_HOOK_DAG),
          PROPS(REQ("tasks", PROP_DAG_TASKS), DEF("concurrent", PROP_INT, "0")),
          "run tasks in dependency order" },
        { "AllowFailure", NAMES("io.kestra.plugin.core.flow.AllowFailure", "io.kestra.core.tasks.flows.AllowFailure"),
          FLOWABLE(TASK_HOOK_ALLOW_FAILURE), PROPS(REQ("tasks", PROP_TASKS)),
          "run tasks; a failure ends in WARNING" },
        { "WorkingDirectory",
          NAMES("io.kestra.plugin.core.flow.WorkingDirectory", "io.kestra.core.tasks.flows.WorkingDirectory"),
          FLOWABLE(TASK_HOOK_WORKING_DIRECTORY),
          PROPS(REQ("tasks", PROP_TASKS), P("cache", PROP_MAP), P("inputFiles", PROP_ANY),
                P("outputFiles", PROP_STRING_LIST), P("namespaceFiles", PROP_MAP)),
          "run tasks on one worker in a shared directory" },
        { "Pause", NAMES("io.kestra.plugin.core.flow.Pause", "io.kestra.core.tasks.flows.Pause"),
          FLOWABLE(TASK_HOOK_PAUSE),
          PROPS(P("delay", PROP_DURATION), P("pauseDuration", PROP_DURATION), P("tasks", PROP_TASKS),
                P("onResume", PROP_INPUTS),
                ENUM("behavior", NAMES("RESUME", "WARN", "FAIL", "CANCEL"), "\"RESUME\"")),
          "pause until resumed or a delay passed" },
        { "WaitFor", NAMES("io.kestra.plugin.core.flow.WaitFor", "io.kestra.plugin.core.flow.LoopUntil"),
          FLOWABLE(TASK_HOOK_WAIT_FOR),
          PROPS(REQ("condition", PROP_STRING), REQ("tasks", PROP_TASKS), P("checkFrequency", PROP_MAP),
                DEF("failOnMaxReached", PROP_BOOL, "false")),
          "run tasks again until a condition holds" },

        /* ---- executable: the executor creates other executions ---- */
        { "Subflow",
          NAMES("io.kestra.plugin.core.flow.Subflow", "io.kestra.core.tasks.flows.Subflow",
                "io.kestra.core.tasks.flows.Flow"),
          EXECUTABLE(TASK_HOOK_SUBFLOW), PROPS(SUBFLOW_PROPS), "run another flow" },
        { "ForEachItem", NAMES("io.kestra.plugin.core.flow.ForEachItem", "io.kestra.core.tasks.flows.ForEachItem"),
          EXECUTABLE(TASK_HOOK_FOR_EACH_ITEM),
          PROPS(REQ("items", PROP_STRING), P("batch", PROP_MAP), SUBFLOW_PROPS,
                ENUM("restartBehavior", NAMES("RETRY_FAILED", "NEW_EXECUTION"), NULL)),
          "run another flow for each batch of items of a file" },
        /* ForEachItem's first step, as a job the executor emits (Kestra's internal ForEachItemSplit). */
        { "ForEachItem.split", NAMES("io.kestra.plugin.core.flow.ForEachItem$ForEachItemSplit"),
          WORKER(TASK_RUNNER_FOR_EACH_ITEM_SPLIT), PROPS(REQ("items", PROP_STRING), P("batch", PROP_MAP)),
          "split a file of internal storage into batch files (ForEachItem's first step)" },
        /* Its last (Kestra's internal ForEachItemMergeOutputs): the outputs are the subflows', not rendered. */
        { "ForEachItem.merge", NAMES("io.kestra.plugin.core.flow.ForEachItem$ForEachItemMergeOutputs"),
          WORKER(TASK_RUNNER_FOR_EACH_ITEM_MERGE), PROPS(RAW_REQ("outputs", PROP_ANY)),
          "write the outputs of a ForEachItem's subflows into one file (ForEachItem's last step)" },

        /* ---- known but not runnable by this build: validation refuses them, saying why (docs/COMPAT.md) ---- */
        { "storage.Write", NAMES("io.kestra.plugin.core.storage.Write"), WORKER(TASK_RUNNER_STORAGE_WRITE),
          PROPS(REQ("content", PROP_STRING), DEF("extension", PROP_STRING, "\".ion\"")),
          "write content to an internal storage file" },
        { "storage.Delete", NAMES("io.kestra.plugin.core.storage.Delete", "io.kestra.core.tasks.storages.Delete"),
          WORKER(TASK_RUNNER_STORAGE_DELETE),
          PROPS(REQ("uri", PROP_STRING), DEF("errorOnMissing", PROP_BOOL, "false")),
          "delete an internal storage file" },
        { "storage.Size", NAMES("io.kestra.plugin.core.storage.Size", "io.kestra.core.tasks.storages.Size"),
          WORKER(TASK_RUNNER_STORAGE_SIZE),
          PROPS(REQ("uri", PROP_STRING)), "size of an internal storage file" },
        { "storage.Concat", NAMES("io.kestra.plugin.core.storage.Concat", "io.kestra.core.tasks.storages.Concat"),
          WORKER(TASK_RUNNER_STORAGE_CONCAT),
          PROPS(REQ("files", PROP_LIST_OR_STRING), P("separator", PROP_STRING), DEF("extension", PROP_STRING, "\".tmp\"")),
          "concatenate internal storage files" },
        { "storage.Split", NAMES("io.kestra.plugin.core.storage.Split", "io.kestra.core.tasks.storages.Split"),
          WORKER(TASK_RUNNER_STORAGE_SPLIT),
          PROPS(REQ("from", PROP_STRING), P("bytes", PROP_STRING), P("partitions", PROP_INT), P("rows", PROP_INT),
                P("regexPattern", PROP_STRING), DEF("separator", PROP_STRING, "\"\\n\"")),
          "split an internal storage file" },
        { "storage.Reverse", NAMES("io.kestra.plugin.core.storage.Reverse", "io.kestra.core.tasks.storages.Reverse"),
          WORKER(TASK_RUNNER_STORAGE_REVERSE),
          PROPS(REQ("from", PROP_STRING), DEF("separator", PROP_STRING, "\"\\n\""),
                DEF("charset", PROP_STRING, "\"UTF-8\"")),
          "reverse the lines of an internal storage file" },
        { "storage.FilterItems",
          NAMES("io.kestra.plugin.core.storage.FilterItems", "io.kestra.core.tasks.storages.FilterItems"),
          WORKER(TASK_RUNNER_STORAGE_FILTER_ITEMS),
          PROPS(REQ("from", PROP_STRING), RAW_REQ("filterCondition", PROP_STRING),
                ENUM("filterType", NAMES("INCLUDE", "EXCLUDE"), "\"INCLUDE\""),
                ENUM("errorOrNullBehavior", NAMES("FAIL", "INCLUDE", "EXCLUDE"), "\"FAIL\"")),
          "keep or drop the items of an Ion file by an expression" },
        { "storage.DeduplicateItems",
          NAMES("io.kestra.plugin.core.storage.DeduplicateItems", "io.kestra.core.tasks.storages.DeduplicateItems"),
          WORKER(TASK_RUNNER_STORAGE_DEDUPLICATE_ITEMS),
          PROPS(REQ("from", PROP_STRING), RAW_REQ("expr", PROP_STRING)),
          "keep the last item of an Ion file for each key an expression gives" },
        { "storage.PurgeCurrentExecutionFiles",
          NAMES("io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles", "io.kestra.plugin.core.storage.PurgeExecution",
                "io.kestra.core.tasks.storages.PurgeExecution"),
          WORKER(TASK_RUNNER_STORAGE_PURGE_EXECUTION),
          PROPS(DEF("includeChildExecutions", PROP_BOOL, "false"), DEF("includeStates", PROP_BOOL, "false")),
          "delete every internal storage file of the current execution" },
        { "storage.LocalFiles",
          NAMES("io.kestra.plugin.core.storage.LocalFiles", "io.kestra.core.tasks.storages.LocalFiles"),
          WORKER(TASK_RUNNER_STORAGE_LOCAL_FILES),
          PROPS(P("inputs", PROP_ANY), P("outputs", PROP_STRING_LIST)),
          "files in the working directory (deprecated by Kestra for inputFiles/outputFiles)" },
        { "scripts.Bash", NAMES("io.kestra.core.tasks.scripts.Bash"), WORKER(TASK_RUNNER_BASH),
          PROPS(RAW_REQ("commands", PROP_STRING_LIST), P("env", PROP_MAP), P("interpreter", PROP_STRING),
                P("interpreterArgs", PROP_STRING_LIST), P("files", PROP_STRING_LIST), P("inputFiles", PROP_ANY),
                P("outputFiles", PROP_STRING_LIST), P("outputsFiles", PROP_STRING_LIST),
                P("outputDirs", PROP_STRING_LIST), DEF("exitOnFailed", PROP_BOOL, "true"),
                DEF("warningOnStdErr", PROP_BOOL, "true"), ENUM("runner", NAMES("PROCESS", "DOCKER"), NULL),
                P("dockerOptions", PROP_MAP)),
          "run bash commands (Kestra's old script task)" },
        { "Template", NAMES("io.kestra.plugin.core.flow.Template", "io.kestra.core.tasks.flows.Template"),
          UNSUPPORTED(TASK_ROLE_FLOWABLE,
                      "templates are deprecated by Kestra and not implemented; use io.kestra.plugin.core.flow.Subflow"),
          PROPS(REQ("namespace", PROP_STRING), REQ("templateId", PROP_STRING), P("tenantId", PROP_STRING),
                P("args", PROP_MAP)),
          "include a template's tasks (deprecated by Kestra; needs template storage)" },
        { "Loop", NAMES("io.kestra.plugin.core.flow.Loop"),
          UNSUPPORTED(TASK_ROLE_FLOWABLE,
                      "each iteration of a Loop is an execution of its own, which this build does not implement; "
                      "use io.kestra.plugin.core.flow.ForEach"),
          PROPS(REQ("values", PROP_LIST_OR_STRING), REQ("tasks", PROP_TASKS), DEF("concurrencyLimit", PROP_INT, "0"),
                DEF("transmitFailed", PROP_BOOL, "true"), P("outputs", PROP_LIST),
                ENUM("fetchType", NAMES("AUTO", "FETCH", "STORE"), "\"AUTO\""), P("breakWhen", PROP_STRING)),
          "run tasks for each value, each iteration an execution of its own" },
        { "Approval", NAMES("io.kestra.plugin.core.flow.Approval"),
          UNSUPPORTED(TASK_ROLE_FLOWABLE,
                      "reviews (decisions, the review API) are not implemented; use io.kestra.plugin.core.flow.Pause "
                      "with onResume inputs"),
          PROPS(P("inputs", PROP_INPUTS), P("decisions", PROP_MAP), P("commentRequired", PROP_STRING),
                DEF("autoApprove", PROP_BOOL, "false"), P("approveBehavior", PROP_STRING),
                P("denyBehavior", PROP_STRING), P("expireBehavior", PROP_STRING), P("onWait", PROP_TASKS),
                P("onApprove", PROP_TASKS), P("onDeny", PROP_TASKS)),
          "pause until a reviewer approves or denies" },
        { "flow.PurgeFlows", NAMES("io.kestra.plugin.core.flow.PurgeFlows"),
          UNSUPPORTED(TASK_ROLE_RUNNABLE, "purging flow revisions is not implemented in this build"),
          PROPS(P("namespaces", PROP_STRING_LIST), P("namespacePattern", PROP_STRING), P("flowPattern", PROP_STRING),
                P("behavior", PROP_MAP), DEF("includeChildNamespaces", PROP_BOOL, "true")),
          "delete old flow revisions" },
        { "namespace.PurgeFiles", NAMES("io.kestra.plugin.core.namespace.PurgeFiles"),
          UNSUPPORTED(TASK_ROLE_RUNNABLE,
                      "it purges old versions of namespace files, and tern keeps no versions of them; "
                      "use io.kestra.plugin.core.namespace.DeleteFiles"),
          PROPS(P("namespaces", PROP_STRING_LIST), P("namespacePattern", PROP_STRING), P("filePattern", PROP_STRING),
                P("behavior", PROP_MAP), DEF("includeChildNamespaces", PROP_BOOL, "true")),
          "delete old versions of namespace files" },
        { "storage.PurgeStorage", NAMES("io.kestra.plugin.core.storage.PurgeStorage"),
          UNSUPPORTED(TASK_ROLE_RUNNABLE,
                      "purging internal storage by last-modified date is not implemented; "
                      "use io.kestra.plugin.core.execution.PurgeExecutions with purgeStorage"),
          PROPS(P("namespace", PROP_STRING), P("flowId", PROP_STRING), P("startDate", PROP_STRING),
                REQ("endDate", PROP_STRING), DEF("dryRun", PROP_BOOL, "true")),
          "delete execution files of internal storage by date" },
        /* ---- triggers (common: id, type, description, disabled, conditions, ...) ---- */
        { "Schedule",
          NAMES("io.kestra.plugin.core.trigger.Schedule", "io.kestra.core.models.triggers.types.Schedule"),
          TRIGGER,
          PROPS(REQ("cron", PROP_STRING), DEF("timezone", PROP_STRING, "\"Etc/UTC\""),
                DEF("withSeconds", PROP_BOOL, "false"), P("inputs", PROP_MAP), P("backfill", PROP_MAP),
                P("lateMaximumDelay", PROP_DURATION), P("scheduleConditions", PROP_CONDITIONS),
                ENUM("recoverMissedSchedules", NAMES("LAST", "NONE", "ALL"), NULL), P("labels", PROP_MAP_OR_LIST)),
          "start executions on a cron schedule" },
        { "Flow", NAMES("io.kestra.plugin.core.trigger.Flow", "io.kestra.core.models.triggers.types.Flow"),
          TRIGGER,
          PROPS(P("inputs", PROP_MAP), P("states", PROP_STRING_LIST), P("preconditions", PROP_MAP),
                P("labels", PROP_MAP_OR_LIST)),
          "start an execution when other executions end" },
        { "Webhook", NAMES("io.kestra.plugin.core.trigger.Webhook", "io.kestra.core.models.triggers.types.Webhook"),
          TRIGGER,
          PROPS(REQ("key", PROP_STRING), DEF("wait", PROP_BOOL, "false"), DEF("returnOutputs", PROP_BOOL, "false"),
                P("inputs", PROP_MAP), ENUM("fetchType", NAMES("NONE", "FETCH", "STORE"), "\"FETCH\"")),
          "start an execution on an HTTP call" },

        { "ScheduleOnDates", NAMES("io.kestra.plugin.core.trigger.ScheduleOnDates"),
          TRIGGER,
          PROPS(REQ("dates", PROP_LIST), DEF("timezone", PROP_STRING, "\"Etc/UTC\""), P("inputs", PROP_MAP),
                ENUM("recoverMissedSchedules", NAMES("LAST", "NONE", "ALL"), NULL), P("labels", PROP_MAP_OR_LIST)),
          "start executions at given dates" },
        { "http.Trigger", NAMES("io.kestra.plugin.core.http.Trigger", "io.kestra.plugin.fs.http.Trigger"),
          TRIGGER, PROPS(HTTP_PROPS, DEF("interval", PROP_DURATION, "\"PT1M\""),
                DEF("responseCondition", PROP_STRING, "\"{{ response.statusCode < 400 }}\""), P("inputs", PROP_MAP),
                DEF("encryptBody", PROP_BOOL, "false")),
          "start an execution when an HTTP endpoint answers as expected" },
        { "BatchWebhook", NAMES("io.kestra.plugin.core.trigger.BatchWebhook"),
          TRIGGER_REFUSED("buffering webhook calls into batches is not implemented; use "
                          "io.kestra.plugin.core.trigger.Webhook"),
          PROPS(REQ("key", PROP_STRING), P("eventsCount", PROP_INT), P("pollingInterval", PROP_DURATION),
                P("eventFilter", PROP_STRING), P("inputs", PROP_MAP)),
          "start an execution for each batch of HTTP calls" },
        { "McpToolTrigger", NAMES("io.kestra.plugin.core.trigger.McpToolTrigger"),
          TRIGGER_REFUSED("this build has no MCP server to expose the flow as a tool"),
          PROPS(REQ("toolName", PROP_STRING), REQ("title", PROP_STRING), REQ("toolDescription", PROP_STRING),
                P("annotations", PROP_MAP), DEF("mcpServer", PROP_STRING, "\"default\"")),
          "expose the flow as an MCP tool" },

        /* ---- conditions ---- */
        { "ExecutionFlow",
          NAMES("io.kestra.plugin.core.condition.ExecutionFlow", "io.kestra.plugin.core.condition.ExecutionFlowCondition",
                "io.kestra.core.models.conditions.types.ExecutionFlowCondition"),
          CONDITION, PROPS(REQ("namespace", PROP_STRING), REQ("flowId", PROP_STRING)),
          "the triggering execution is of this flow" },
        { "ExecutionNamespace",
          NAMES("io.kestra.plugin.core.condition.ExecutionNamespace",
                "io.kestra.plugin.core.condition.ExecutionNamespaceCondition",
                "io.kestra.core.models.conditions.types.ExecutionNamespaceCondition"),
          CONDITION,
          PROPS(REQ("namespace", PROP_STRING), ENUM("comparison", NAMES("EQUALS", "PREFIX", "SUFFIX"), NULL),
                DEF("prefix", PROP_BOOL, "false")),
          "the triggering execution is in this namespace" },
        { "ExecutionStatus",
          NAMES("io.kestra.plugin.core.condition.ExecutionStatus",
                "io.kestra.plugin.core.condition.ExecutionStatusCondition",
                "io.kestra.core.models.conditions.types.ExecutionStatusCondition"),
          CONDITION, PROPS(P("in", PROP_STRING_LIST), P("notIn", PROP_STRING_LIST)),
          "the triggering execution ended in one of these states" },
        { "ExecutionLabels",
          NAMES("io.kestra.plugin.core.condition.ExecutionLabels",
                "io.kestra.plugin.core.condition.ExecutionLabelsCondition",
                "io.kestra.core.models.conditions.types.ExecutionLabelsCondition"),
          CONDITION, PROPS(REQ("labels", PROP_MAP_OR_LIST)),
          "the triggering execution has these labels" },
        { "ExecutionOutputs",
          NAMES("io.kestra.plugin.core.condition.ExecutionOutputs",
                "io.kestra.plugin.core.condition.ExecutionOutputsCondition",
                "io.kestra.core.models.conditions.types.ExecutionOutputsCondition"),
          CONDITION, PROPS(REQ("expression", PROP_STRING)),
          "an expression over the triggering execution's outputs is true" },
        { "Expression",
          NAMES("io.kestra.plugin.core.condition.Expression", "io.kestra.plugin.core.condition.ExpressionCondition",
                "io.kestra.core.models.conditions.types.VariableCondition"),
          CONDITION, PROPS(REQ("expression", PROP_STRING)), "an expression is true" },
        { "MultipleCondition",
          NAMES("io.kestra.plugin.core.condition.MultipleCondition",
                "io.kestra.core.models.conditions.types.MultipleCondition"),
          CONDITION,
          PROPS(P("id", PROP_STRING), DEF("window", PROP_DURATION, "\"P1D\""),
                DEF("windowAdvance", PROP_DURATION, "\"P0D\""), REQ("conditions", PROP_CONDITION_MAP),
                DEF("resetOnSuccess", PROP_BOOL, "true")),
          "all named conditions were met within a time window" },
        { "DayWeek",
          NAMES("io.kestra.plugin.core.condition.DayWeek", "io.kestra.plugin.core.condition.DayWeekCondition",
                "io.kestra.core.models.conditions.types.DayWeekCondition"),
          CONDITION,
          PROPS(REQ("dayOfWeek", PROP_STRING), DEF("date", PROP_STRING, "\"{{ trigger.date }}\"")),
          "the date is this day of the week" },
        { "DayWeekInMonth",
          NAMES("io.kestra.plugin.core.condition.DayWeekInMonth",
                "io.kestra.plugin.core.condition.DayWeekInMonthCondition",
                "io.kestra.core.models.conditions.types.DayWeekInMonthCondition"),
          CONDITION,
          PROPS(REQ("dayOfWeek", PROP_STRING), REQ("dayInMonth", PROP_STRING),
                DEF("date", PROP_STRING, "\"{{ trigger.date }}\"")),
          "the date is the first/last/... such weekday of its month" },
        { "DateTimeBetween",
          NAMES("io.kestra.plugin.core.condition.DateTimeBetween",
                "io.kestra.plugin.core.condition.DateTimeBetweenCondition",
                "io.kestra.core.models.conditions.types.DateTimeBetweenCondition"),
          CONDITION,
          PROPS(P("after", PROP_STRING), P("before", PROP_STRING), DEF("date", PROP_STRING, "\"{{ trigger.date }}\"")),
          "the date is between two instants" },
        { "TimeBetween",
          NAMES("io.kestra.plugin.core.condition.TimeBetween", "io.kestra.plugin.core.condition.TimeBetweenCondition",
                "io.kestra.core.models.conditions.types.TimeBetweenCondition"),
          CONDITION,
          PROPS(P("after", PROP_STRING), P("before", PROP_STRING), DEF("date", PROP_STRING, "\"{{ trigger.date }}\"")),
          "the time of day is between two times" },
        { "Weekend",
          NAMES("io.kestra.plugin.core.condition.Weekend", "io.kestra.plugin.core.condition.WeekendCondition",
                "io.kestra.core.models.conditions.types.WeekendCondition"),
          CONDITION, PROPS(DEF("date", PROP_STRING, "\"{{ trigger.date }}\"")),
          "the date is a Saturday or Sunday" },
        { "PublicHoliday",
          NAMES("io.kestra.plugin.core.condition.PublicHoliday", "io.kestra.plugin.core.condition.PublicHolidayCondition",
                "io.kestra.core.models.conditions.types.PublicHolidayCondition"),
          CONDITION_REFUSED("public holiday calendars are not implemented: the condition would never hold"),
          PROPS(DEF("date", PROP_STRING, "\"{{ trigger.date }}\""), P("country", PROP_STRING),
                P("subDivision", PROP_STRING)),
          "the date is a public holiday" },
        { "Not",
          NAMES("io.kestra.plugin.core.condition.Not", "io.kestra.plugin.core.condition.NotCondition",
                "io.kestra.core.models.conditions.types.NotCondition"),
          CONDITION, PROPS(REQ("conditions", PROP_CONDITIONS)), "none of the conditions hold" },
        { "Or",
          NAMES("io.kestra.plugin.core.condition.Or", "io.kestra.plugin.core.condition.OrCondition",
                "io.kestra.core.models.conditions.types.OrCondition"),
          CONDITION, PROPS(REQ("conditions", PROP_CONDITIONS)), "any condition holds" },
        { "HasRetryAttempt",
          NAMES("io.kestra.plugin.core.condition.HasRetryAttempt", "io.kestra.plugin.core.condition.HasRetryAttemptCondition",
                "io.kestra.core.models.conditions.types.HasRetryAttemptCondition"),
          CONDITION, PROPS(P("in", PROP_STRING_LIST), P("notIn", PROP_STRING_LIST)),
          "the execution has a task run that was retried" },
        { "FlowCondition",
          NAMES("io.kestra.plugin.core.condition.FlowCondition", "io.kestra.core.models.conditions.types.FlowCondition"),
          CONDITION, PROPS(REQ("namespace", PROP_STRING), REQ("flowId", PROP_STRING)),
          "the flow is this one" },
        { "FlowNamespaceCondition",
          NAMES("io.kestra.plugin.core.condition.FlowNamespaceCondition",
                "io.kestra.core.models.conditions.types.FlowNamespaceCondition"),
          CONDITION,
          PROPS(REQ("namespace", PROP_STRING), DEF("prefix", PROP_BOOL, "false")), "the flow is in this namespace" },
};

const TaskType *task_type_get(size_t i) {
        if (i < ELEMENTSOF(task_types))
                return &task_types[i];
        const PluginType *pt = plugin_type_get(i - ELEMENTSOF(task_types));
        return pt ? &pt->type : NULL;
}

const TaskType *task_type_lookup(TaskTypeKind kind, const char *name) {
        if (!name)
                return NULL;
        for (size_t i = 0; i < ELEMENTSOF(task_types); i++) {
                const TaskType *t = &task_types[i];
                if (t->kind != kind)
                        continue;
                if (streq(t->name, name))
                        return t;
                for (const char *const *n = t->kestra_names; *n; n++)
                        if (streq(*n, name))
                                return t;
        }
        return plugin_registry_lookup(kind, name);
}

const char *task_type_closest(const char *name, const char *const *candidates) {
        size_t max = MAX((size_t) 2, strlen(name) / 4), best_d = max + 1;
        const char *best = NULL;
        for (const char *const *c = candidates; c && *c; c++) {
                size_t d = str_edit_distance(name, *c, max);
                if (d < best_d)
                        best_d = d, best = *c;
        }
        return best;
}

const char *task_type_suggest(TaskTypeKind kind, const char *name) {
        /* Suggest in the style the user wrote: a dotted Kestra name gets the current Kestra name. */
        bool kestra = strchr(name, '.') && startswith(name, "io.");
        size_t max = MAX((size_t) 2, strlen(name) / 4), best_d = max + 1;
        const char *best = NULL;
        const char *last = strrchr(name, '.');
        last = last ? last + 1 : name;

        for (size_t i = 0; task_type_get(i); i++) {
                const TaskType *t = task_type_get(i);
                const char *suggestion = kestra ? t->kestra_names[0] : t->name;
                if (t->kind != kind)
                        continue;
                size_t d = str_edit_distance(name, t->name, max);
                for (const char *const *n = t->kestra_names; *n; n++)
                        d = MIN(d, str_edit_distance(name, *n, max));
                if (d < best_d)
                        best_d = d, best = suggestion;
        }
        if (best)
                return best;
        /* A right class name in a wrong package ("io.kestra.core.tasks.Log"): match the last part. */
        for (size_t i = 0; task_type_get(i); i++) {
                const TaskType *t = task_type_get(i);
                const char *tl = strrchr(t->kestra_names[0], '.');
                if (t->kind == kind && tl && str_edit_distance(last, tl + 1, 1) <= 1)
                        return kestra ? t->kestra_names[0] : t->name;
        }
        return NULL;
}

const TaskProperty *task_type_property(const TaskType *t, const char *name) {
        for (const TaskProperty *p = t->properties; p && p->name; p++)
                if (streq(p->name, name))
                        return p;
        return NULL;
}

const char *task_type_kind_to_string(TaskTypeKind k) {
        static const char *const names[] = {
                [TASK_TYPE_TASK] = "task",
                [TASK_TYPE_TRIGGER] = "trigger",
                [TASK_TYPE_CONDITION] = "condition",
        };
        return k < ELEMENTSOF(names) ? names[k] : "?";
}

const char *prop_kind_to_string(PropKind k) {
        static const char *const names[] = {
                [PROP_STRING] = "a string",
                [PROP_INT] = "an integer",
                [PROP_NUMBER] = "a number",
                [PROP_BOOL] = "a boolean",
                [PROP_DURATION] = "an ISO-8601 duration (e.g. PT30S)",
                [PROP_ENUM] = "one of the allowed values",
                [PROP_LIST] = "a list",
                [PROP_STRING_LIST] = "a list of strings",
                [PROP_MAP] = "a map",
                [PROP_ANY] = "a value",
                [PROP_TASKS] = "a list of tasks",
                [PROP_TASK_MAP] = "a map of task lists",
                [PROP_DAG_TASKS] = "a list of {task, dependsOn}",
                [PROP_CONDITIONS] = "a list of conditions",
                [PROP_CONDITION_MAP] = "a map of conditions",
                [PROP_INPUTS] = "a list of inputs",
                [PROP_STRING_OR_LIST] = "a string or a list of strings",
                [PROP_MAP_OR_LIST] = "a map or a list of key/value pairs",
                [PROP_LIST_OR_STRING] = "a list or a JSON list in a string",
        };
        return k < ELEMENTSOF(names) && names[k] ? names[k] : "?";
}

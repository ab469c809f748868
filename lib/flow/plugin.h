/* plugin.h: task types from plugins: descriptors (plugin.yaml) found on the plugin search path,
 * native plugins' shared objects, and the registry that task_type_lookup() consults after the
 * built-in table. docs/PLUGINS.md describes the descriptor and both kinds of plugins. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"
#include "task-types.h"
#include "tern/plugin.h"

/* Searched first, always: where packages install plugins (meson's libdir). */
#ifndef TERN_PLUGIN_DIR
#define TERN_PLUGIN_DIR "/usr/lib/tern/plugins"
#endif
#define PLUGIN_DESCRIPTOR "plugin.yaml"

typedef enum PluginKind {
        PLUGIN_EXEC,   /* an executable run in the task's sandbox, properties on stdin */
        PLUGIN_NATIVE, /* a shared object run in the worker's process (trusted code) */
        _PLUGIN_KIND_MAX,
} PluginKind;

typedef struct Plugin {
        char *name;
        char *version;     /* may be NULL */
        char *description; /* may be NULL */
        char *dir;         /* absolute */
        char *descriptor;  /* dir/plugin.yaml */
        PluginKind kind;
        char *program;     /* absolute path of the executable or the shared object */
        void *dl;          /* native: dlopen() handle */
        TernPluginRunFn run; /* native: its tern_plugin_run */
} Plugin;

/* What a plugin's descriptor says beyond the registry's TaskProperty, one per property (same order). */
typedef struct PluginPropertyInfo {
        const char *type_name;   /* as the descriptor writes it ("string", "file") */
        char *description;       /* may be NULL */
        bool file;               /* a kestra:/// URI the worker fetches; the plugin gets a path */
} PluginPropertyInfo;

typedef struct PluginOutput {
        char *name;
        char *description; /* may be NULL */
} PluginOutput;

/* A plugin's task type: the registry's descriptor first, so that a TaskType * of a plugin (runner
 * TASK_RUNNER_PLUGIN) is one of these. */
typedef struct PluginType {
        TaskType type;
        const Plugin *plugin;
        PluginPropertyInfo *info; /* parallel to type.properties */
        PluginOutput *outputs;
        size_t n_outputs;
        char *description;        /* longer than type.summary (its first line); may be NULL */
        char *example;            /* a task in YAML; may be NULL */
        unsigned line, column;    /* where the descriptor declares it */
} PluginType;

typedef struct PluginRegistry PluginRegistry;

/* Load every plugin on the search path: TERN_PLUGIN_DIR, then each directory of path (colon-separated,
 * may be NULL). A directory holding plugin.yaml is a plugin; any other holds plugins, one per
 * subdirectory. A plugin that cannot be loaded (a broken descriptor, a type another plugin or the
 * built-in table already has, a native plugin of another ABI version) is left out and said in
 * *ret_problems ("file:line:col: message", NULL-terminated; the caller frees it); the others load.
 * Returns 0 or -ENOMEM. */
int plugin_registry_load(const char *path, PluginRegistry **ret, char ***ret_problems);
PluginRegistry *plugin_registry_free(PluginRegistry *r);
DEFINE_FREE_CLEANUP(PluginRegistry, plugin_registry_free)

/* Make r what task_type_lookup() and friends see, for the rest of the process (it takes r). Once,
 * before any thread looks types up: -EALREADY when a registry is installed (r is then freed). */
int plugin_registry_install(PluginRegistry *r);
bool plugin_registry_installed(void);
/* Load and install in one step (what the daemons and the CLI do at start); -EALREADY as above, with
 * no problems reported. */
int plugins_setup(const char *path, char ***ret_problems);

/* The installed registry's contents; NULL past the end. */
const PluginType *plugin_type_get(size_t i);
const Plugin *plugin_get(size_t i);
/* The plugin type behind a registry entry; NULL for a built-in. */
const PluginType *plugin_type_of(const TaskType *t);
const PluginPropertyInfo *plugin_property_info(const PluginType *pt, const TaskProperty *p);
/* Lookup among the installed plugins' types (task_type_lookup() calls it after its table). */
const TaskType *plugin_registry_lookup(TaskTypeKind kind, const char *name);

const char *plugin_kind_to_string(PluginKind k);

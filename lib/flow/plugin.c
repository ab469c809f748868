/* plugin.c: the plugin search path, plugin.yaml descriptors, native plugins' shared objects (dlopen,
 * ABI check) and the registry of their task types that task_type_lookup() consults. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "plugin.h"
#include "strutil.h"
#include "tern/plugin.h"
#include "yaml-tree.h"

#define DESCRIPTOR_SIZE_MAX ((size_t) 1024 * 1024)

struct PluginRegistry {
        Plugin **plugins;
        size_t n_plugins;
        PluginType **types;
        size_t n_types;
};

/* Set once at start, before threads, and read-only afterwards (plugin_registry_install()). */
static PluginRegistry *installed;

static void plugin_free(Plugin *p) {
        if (!p)
                return;
        if (p->dl)
                dlclose(p->dl);
        free(p->name);
        free(p->version);
        free(p->description);
        free(p->dir);
        free(p->descriptor);
        free(p->program);
        free(p);
}

static void plugin_type_free(PluginType *pt) {
        if (!pt)
                return;
        free((char *) pt->type.name);
        strv_free((char **) pt->type.kestra_names);
        for (size_t i = 0; pt->info && pt->type.properties && pt->type.properties[i].name; i++)
                free(pt->info[i].description);
        for (const TaskProperty *p = pt->type.properties; p && p->name; p++) {
                free((char *) p->name);
                free((char *) p->default_json);
                strv_free((char **) p->values);
        }
        free((TaskProperty *) pt->type.properties);
        free((char *) pt->type.summary);
        free(pt->info);
        for (size_t i = 0; i < pt->n_outputs; i++) {
                free(pt->outputs[i].name);
                free(pt->outputs[i].description);
        }
        free(pt->outputs);
        free(pt->description);
        free(pt->example);
        free(pt);
}

PluginRegistry *plugin_registry_free(PluginRegistry *r) {
        if (!r)
                return NULL;
        for (size_t i = 0; i < r->n_types; i++)
                plugin_type_free(r->types[i]);
        for (size_t i = 0; i < r->n_plugins; i++)
                plugin_free(r->plugins[i]);
        free(r->types);
        free(r->plugins);
        free(r);
        return NULL;
}

/* ---- one descriptor ---- */

typedef struct Loader {
        const char *file;
        FlowDiagnostics diags;
        PluginRegistry *reg;  /* what is loaded so far: types must not repeat theirs */
        Plugin *plugin;
        PluginType **types;   /* this plugin's, until it is known to load */
        size_t n_types;
} Loader;

static void lerr(Loader *l, const YamlNode *n, const char *fmt, ...) _printf_(3, 4);
static void lerr(Loader *l, const YamlNode *n, const char *fmt, ...) {
        va_list ap;
        _cleanup_free_ char *m = NULL;
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        (void) flow_diagnostics_add(&l->diags, l->file, n ? n->line : 0, n ? n->column : 0, "%s", m ?: "out of memory");
}

/* Keys of a map node, each known or reported with a hint. */
static void check_keys(Loader *l, const YamlNode *map, const char *where, const char *const *known) {
        for (size_t i = 0; i + 1 < map->n_children; i += 2) {
                const YamlNode *k = map->children[i];
                if (strv_contains((char **) known, k->value))
                        continue;
                const char *hint = task_type_closest(k->value, known);
                if (hint)
                        lerr(l, k, "unknown key '%.100s' in %s; did you mean '%s'?", k->value, where, hint);
                else
                        lerr(l, k, "unknown key '%.100s' in %s", k->value, where);
        }
}

static char *scalar_dup(Loader *l, const YamlNode *n, const char *what) {
        if (!n)
                return NULL;
        if (!yaml_node_is_scalar(n) || yaml_scalar_type(n) == YAML_SCALAR_NULL) {
                lerr(l, n, "%s must be a string, not %s", what, yaml_node_describe(n));
                return NULL;
        }
        char *s = strdup(n->value);
        if (!s)
                l->diags.error = -ENOMEM;
        return s;
}

static bool get_bool(Loader *l, const YamlNode *n, const char *what, bool def) {
        bool b;
        if (!n)
                return def;
        if (yaml_scalar_bool(n, &b) < 0) {
                lerr(l, n, "%s must be true or false, not '%.60s'", what, yaml_node_is_scalar(n) ? n->value : yaml_node_describe(n));
                return def;
        }
        return b;
}

/* A list of scalars (or one scalar) as a NULL-terminated vector. */
static char **scalar_list(Loader *l, const YamlNode *n, const char *what) {
        _cleanup_strv_free_ char **v = calloc(1, sizeof(char *));
        if (!v) {
                l->diags.error = -ENOMEM;
                return NULL;
        }
        if (!n)
                return TAKE_PTR(v);
        if (yaml_node_is_scalar(n))
                return strv_extend(&v, n->value) < 0 ? (l->diags.error = -ENOMEM, NULL) : TAKE_PTR(v);
        if (n->kind != YAML_NODE_SEQ) {
                lerr(l, n, "%s must be a list of strings, not %s", what, yaml_node_describe(n));
                return TAKE_PTR(v);
        }
        for (size_t i = 0; i < n->n_children; i++) {
                if (!yaml_node_is_scalar(n->children[i]))
                        lerr(l, n->children[i], "%s must be a list of strings, not a list of %s", what,
                             yaml_node_describe(n->children[i]));
                else if (strv_extend(&v, n->children[i]->value) < 0) {
                        l->diags.error = -ENOMEM;
                        return NULL;
                }
        }
        return TAKE_PTR(v);
}

static const struct {
        const char *name;
        PropKind kind;
        bool file;
} prop_types[] = {
        { "string", PROP_STRING, false },       { "integer", PROP_INT, false },         { "number", PROP_NUMBER, false },
        { "boolean", PROP_BOOL, false },        { "duration", PROP_DURATION, false },   { "enum", PROP_ENUM, false },
        { "list", PROP_LIST, false },           { "string-list", PROP_STRING_LIST, false }, { "map", PROP_MAP, false },
        { "any", PROP_ANY, false },             { "file", PROP_STRING, true },
};

static int parse_property(Loader *l, const char *tname, const YamlNode *key, const YamlNode *n, TaskProperty *p,
                          PluginPropertyInfo *info) {
        static const char *const keys[] = { "type", "required", "default", "rendered", "description", "values", NULL };
        _cleanup_free_ char *where = strdup_printf("property '%s' of type '%s'", key->value, tname);
        if (!where)
                return -ENOMEM;
        if (!(p->name = strdup(key->value)))
                return -ENOMEM;
        if (!n || n->kind != YAML_NODE_MAP) {
                lerr(l, n ?: key, "%s must be a map with at least 'type', not %s", where, yaml_node_describe(n));
                return 0;
        }
        check_keys(l, n, where, keys);
        const YamlNode *type = yaml_node_get(n, "type");
        p->kind = PROP_ANY;
        info->type_name = "any";
        if (!type)
                lerr(l, n, "%s has no 'type' (string, integer, number, boolean, duration, enum, list, string-list, map, "
                           "any or file)", where);
        else {
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(prop_types); i++)
                        if (yaml_node_is_scalar(type) && streq(type->value, prop_types[i].name)) {
                                p->kind = prop_types[i].kind;
                                info->type_name = prop_types[i].name;
                                info->file = prop_types[i].file;
                                found = true;
                        }
                if (!found) {
                        const char *names[ELEMENTSOF(prop_types) + 1] = {};
                        for (size_t i = 0; i < ELEMENTSOF(prop_types); i++)
                                names[i] = prop_types[i].name;
                        const char *hint = yaml_node_is_scalar(type) ? task_type_closest(type->value, names) : NULL;
                        lerr(l, type, "%s: unknown type '%.60s'%s%s%s (string, integer, number, boolean, duration, enum, "
                                      "list, string-list, map, any or file)",
                             where, yaml_node_is_scalar(type) ? type->value : yaml_node_describe(type),
                             hint ? "; did you mean '" : "", strempty(hint), hint ? "'?" : "");
                }
        }
        p->required = get_bool(l, yaml_node_get(n, "required"), "'required'", false);
        p->raw = !get_bool(l, yaml_node_get(n, "rendered"), "'rendered'", true);
        info->description = scalar_dup(l, yaml_node_get(n, "description"), "'description'");
        const YamlNode *values = yaml_node_get(n, "values");
        if (p->kind == PROP_ENUM) {
                if (!values || values->kind != YAML_NODE_SEQ || values->n_children == 0)
                        lerr(l, values ?: n, "%s is an enum: it needs 'values', a list of the allowed values", where);
                else
                        p->values = (const char *const *) scalar_list(l, values, "'values'");
        } else if (values)
                lerr(l, values, "%s: 'values' is for type enum only", where);
        const YamlNode *def = yaml_node_get(n, "default");
        if (def && yaml_scalar_type(def) != YAML_SCALAR_NULL) {
                _cleanup_json_ json_t *j = NULL;
                if (yaml_node_to_json(def, &j) < 0)
                        lerr(l, def, "%s: the default cannot be converted to JSON", where);
                else if (!(p->default_json = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY)))
                        return -ENOMEM;
                if (p->required)
                        lerr(l, def, "%s is required and has a default: one or the other", where);
        }
        return 0;
}

/* The properties every plugin type takes, as script tasks do (docs/PLUGINS.md). */
static const char *const common_props[] = { "inputFiles", "outputFiles", NULL };

static int parse_type(Loader *l, const YamlNode *n) {
        static const char *const keys[] = { "type", "aliases", "name", "description", "properties", "outputs", "example", NULL };
        PluginType *pt;
        int r;

        if (!n || n->kind != YAML_NODE_MAP) {
                lerr(l, n, "each entry of 'types' must be a map with at least 'type', not %s", yaml_node_describe(n));
                return 0;
        }
        pt = calloc(1, sizeof *pt);
        PluginType **grown = pt ? reallocarray(l->types, l->n_types + 1, sizeof *grown) : NULL;
        if (!grown) {
                free(pt);
                return -ENOMEM;
        }
        l->types = grown;
        l->types[l->n_types++] = pt;
        pt->line = n->line;
        pt->column = n->column;
        pt->plugin = l->plugin;

        const YamlNode *type = yaml_node_get(n, "type");
        _cleanup_free_ char *tname = type ? scalar_dup(l, type, "'type'") : NULL;
        if (!type)
                lerr(l, n, "a type without 'type' (its Kestra name, such as io.example.plugin.Greet)");
        _cleanup_free_ char *where = strdup_printf("type '%s'", strna(tname));
        if (!where)
                return -ENOMEM;
        check_keys(l, n, where, keys);

        _cleanup_strv_free_ char **names = calloc(1, sizeof(char *));
        if (!names || (tname && strv_extend(&names, tname) < 0))
                return -ENOMEM;
        _cleanup_strv_free_ char **aliases = scalar_list(l, yaml_node_get(n, "aliases"), "'aliases'");
        for (char **a = aliases; a && *a; a++)
                if (strv_extend(&names, *a) < 0)
                        return -ENOMEM;
        pt->type.kestra_names = (const char *const *) TAKE_PTR(names);
        const YamlNode *short_name = yaml_node_get(n, "name");
        pt->type.name = short_name ? scalar_dup(l, short_name, "'name'") : tname ? strdup(tname) : NULL;
        pt->type.kind = TASK_TYPE_TASK;
        pt->type.role = TASK_ROLE_RUNNABLE;
        pt->type.hook = TASK_HOOK_NONE;
        pt->type.runner = TASK_RUNNER_PLUGIN;
        pt->description = scalar_dup(l, yaml_node_get(n, "description"), "'description'");
        pt->example = scalar_dup(l, yaml_node_get(n, "example"), "'example'");
        pt->type.summary = pt->description ? strndup(pt->description, strcspn(pt->description, "\n"))
                                           : strdup_printf("a task of plugin '%s'", l->plugin->name);
        if (!pt->type.summary)
                return -ENOMEM;

        /* Each name once in the whole registry: a second provider is refused, never shadows. */
        _cleanup_strv_free_ char **all = NULL;
        for (const char *const *k = pt->type.kestra_names; *k; k++)
                if (strv_extend(&all, *k) < 0)
                        return -ENOMEM;
        if (pt->type.name && !strv_contains(all, pt->type.name) && strv_extend(&all, pt->type.name) < 0)
                return -ENOMEM;
        for (char **k = all; k && *k; k++) {
                const TaskType *other = task_type_lookup(TASK_TYPE_TASK, *k);
                if (other)
                        lerr(l, type ?: n, "type '%s' is already a built-in task type (%s): a plugin cannot replace it", *k,
                             other->name);
                for (size_t i = 0; i < l->reg->n_types; i++) {
                        const TaskType *t = &l->reg->types[i]->type;
                        if (streq(t->name, *k) || strv_contains((char **) t->kestra_names, *k))
                                lerr(l, type ?: n, "type '%s' is already provided by plugin '%s' (%s)", *k,
                                     l->reg->types[i]->plugin->name, l->reg->types[i]->plugin->descriptor);
                }
                for (size_t i = 0; i + 1 < l->n_types; i++)
                        if (streq_ptr(l->types[i]->type.name, *k) || strv_contains((char **) l->types[i]->type.kestra_names, *k))
                                lerr(l, type ?: n, "type '%s' is declared twice in this descriptor", *k);
        }

        const YamlNode *props = yaml_node_get(n, "properties");
        size_t np = props && props->kind == YAML_NODE_MAP ? props->n_children / 2 : 0;
        if (props && props->kind != YAML_NODE_MAP && yaml_scalar_type(props) != YAML_SCALAR_NULL)
                lerr(l, props, "'properties' of %s must be a map of property name to its description", where);
        TaskProperty *tp = calloc(np + ELEMENTSOF(common_props), sizeof *tp);
        pt->info = calloc(np + ELEMENTSOF(common_props), sizeof *pt->info);
        pt->type.properties = tp;
        if (!tp || !pt->info)
                return -ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < np; i++) {
                const YamlNode *key = props->children[2 * i];
                if (strv_contains((char **) common_props, key->value)) {
                        lerr(l, key, "property '%s' of %s: every plugin type has it already (the task's files)",
                             key->value, where);
                        continue;
                }
                if ((r = parse_property(l, strna(tname), key, props->children[2 * i + 1], &tp[k], &pt->info[k])) < 0)
                        return r;
                k++;
        }
        for (const char *const *c = common_props; *c; c++, k++) {
                tp[k] = (TaskProperty) { .name = strdup(*c), .kind = streq(*c, "inputFiles") ? PROP_ANY : PROP_STRING_LIST };
                pt->info[k].type_name = streq(*c, "inputFiles") ? "map" : "string-list";
                pt->info[k].description = strdup(streq(*c, "inputFiles")
                                                         ? "files written to the task's working directory first: name to content"
                                                         : "files of the working directory kept in internal storage after the run "
                                                           "(names or glob patterns)");
                if (!tp[k].name || !pt->info[k].description)
                        return -ENOMEM;
        }

        const YamlNode *outs = yaml_node_get(n, "outputs");
        if (outs && outs->kind == YAML_NODE_MAP) {
                pt->outputs = calloc(outs->n_children / 2 + 1, sizeof *pt->outputs);
                if (!pt->outputs)
                        return -ENOMEM;
                for (size_t i = 0; i + 1 < outs->n_children; i += 2) {
                        PluginOutput *o = &pt->outputs[pt->n_outputs++];
                        if (!(o->name = strdup(outs->children[i]->value)))
                                return -ENOMEM;
                        const YamlNode *d = outs->children[i + 1];
                        if (yaml_scalar_type(d) != YAML_SCALAR_NULL)
                                o->description = scalar_dup(l, d, "an output's description");
                }
        } else if (outs && outs->kind == YAML_NODE_SEQ) {
                _cleanup_strv_free_ char **v = scalar_list(l, outs, "'outputs'");
                pt->outputs = calloc(strv_length(v) + 1, sizeof *pt->outputs);
                if (!pt->outputs)
                        return -ENOMEM;
                for (char **o = v; o && *o; o++)
                        if (!(pt->outputs[pt->n_outputs++].name = strdup(*o)))
                                return -ENOMEM;
        } else if (outs && yaml_scalar_type(outs) != YAML_SCALAR_NULL)
                lerr(l, outs, "'outputs' of %s must be a map of output name to its description", where);
        return 0;
}

/* Why a plugin's file or directory may not be trusted, or NULL: a native plugin runs inside the
 * daemon (often root), and an exec plugin's descriptor says what the worker runs. Another local
 * user able to change it, or to replace it in its directory, would run code as the daemon's user.
 * Writable by the group is fine when the group is root's or the process's own (a user's private
 * group, umask 002); a sticky directory (/tmp) lets others add names but not replace one. */
static const char *untrusted(const struct stat *st, bool parent) {
        if (st->st_uid != 0 && st->st_uid != geteuid())
                return "is owned by another user (it must be root's or this process's)";
        if (parent && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX))
                return NULL;
        if (st->st_mode & S_IWOTH)
                return "is writable by every user (chmod o-w it)";
        if ((st->st_mode & S_IWGRP) && st->st_gid != 0 && st->st_gid != getegid())
                return "is writable by its group (chmod g-w it)";
        return NULL;
}

/* The executable or shared object a descriptor names: a file inside the plugin's directory. */
static char *program_path(Loader *l, const YamlNode *n, bool exec) {
        _cleanup_free_ char *rel = scalar_dup(l, n, exec ? "'exec'" : "'native'");
        struct stat st;
        if (!rel)
                return NULL;
        if (rel[0] == '/' || strstr(rel, "..") || strchr(rel, '\'')) {
                lerr(l, n, "'%s' must name a file inside the plugin's directory (a relative path without '..' or quotes)",
                     rel);
                return NULL;
        }
        char *p = strjoin(l->plugin->dir, "/", rel);
        if (!p) {
                l->diags.error = -ENOMEM;
                return NULL;
        }
        if (exec && strchr(l->plugin->dir, '\'')) /* the worker quotes it in a shell command */
                lerr(l, n, "the plugin's directory '%s' must not contain quotes", l->plugin->dir);
        const char *why = NULL;
        if (stat(p, &st) < 0)
                lerr(l, n, "%s '%s': %s", exec ? "executable" : "shared object", p, strerror(errno));
        else if ((why = untrusted(&st, false)))
                lerr(l, n, "%s '%s' %s", exec ? "executable" : "shared object", p, why);
        else if (!S_ISREG(st.st_mode))
                lerr(l, n, "%s '%s' is not a regular file", exec ? "executable" : "shared object", p);
        else if (exec && access(p, X_OK) < 0)
                lerr(l, n, "executable '%s' is not executable (chmod +x it)", p);
        else if (exec && (st.st_mode & 0005) != 0005)
                /* Tasks run as nobody in the sandbox. */
                lerr(l, n, "executable '%s' must be readable and executable by others: the worker runs it as an "
                           "unprivileged user (chmod a+rx it)", p);
        return p;
}

static void native_open(Loader *l, const YamlNode *n) {
        Plugin *p = l->plugin;
        p->dl = dlopen(p->program, RTLD_NOW | RTLD_LOCAL);
        if (!p->dl) {
                const char *e = dlerror();
                lerr(l, n, "cannot load shared object '%s': %s", p->program, e ?: "unknown error");
                return;
        }
        const uint32_t *abi = dlsym(p->dl, "tern_plugin_abi_version");
        if (!abi) {
                lerr(l, n, "'%s' is not a tern plugin: it exports no tern_plugin_abi_version (use TERN_PLUGIN_DEFINE "
                           "of <tern/plugin.h>)", p->program);
                return;
        }
        if (*abi != TERN_PLUGIN_ABI_VERSION) {
                lerr(l, n, "'%s' was built for plugin ABI version %u, and this tern has version %u: rebuild it against "
                           "this tern's <tern/plugin.h>", p->program, (unsigned) *abi, (unsigned) TERN_PLUGIN_ABI_VERSION);
                return;
        }
        void *run = dlsym(p->dl, "tern_plugin_run");
        if (!run) {
                lerr(l, n, "'%s' exports no tern_plugin_run (use TERN_PLUGIN_DEFINE of <tern/plugin.h>)", p->program);
                return;
        }
        /* ISO C has no conversion of object to function pointers; POSIX dlsym() guarantees it works. */
        memcpy(&p->run, &run, sizeof run);
}

static int load_descriptor(Loader *l, const char *dir) {
        static const char *const keys[] = { "name", "version", "description", "exec", "native", "types", NULL };
        _cleanup_yaml_node_ YamlNode *root = NULL;
        _cleanup_free_ char *buf = NULL;
        _cleanup_close_ int fd = -EBADF;
        struct stat st;
        int r;

        l->plugin = calloc(1, sizeof(Plugin));
        if (!l->plugin)
                return -ENOMEM;
        l->plugin->dir = realpath(dir, NULL);
        if (!l->plugin->dir)
                return errno == ENOMEM ? -ENOMEM : (lerr(l, NULL, "%s", strerror(errno)), 0);
        l->plugin->descriptor = strjoin(l->plugin->dir, "/" PLUGIN_DESCRIPTOR);
        if (!l->plugin->descriptor)
                return -ENOMEM;
        l->file = l->plugin->descriptor;

        /* The directory, the one that holds it, and the descriptor: none another user may change. */
        _cleanup_free_ char *parent = strndup(l->plugin->dir, (size_t) (strrchr(l->plugin->dir, '/') - l->plugin->dir));
        if (!parent)
                return -ENOMEM;
        const char *why = NULL;
        if (stat(l->plugin->dir, &st) == 0 && (why = untrusted(&st, false)))
                return lerr(l, NULL, "the plugin's directory '%s' %s", l->plugin->dir, why), 0;
        if (*parent && stat(parent, &st) == 0 && (why = untrusted(&st, true)))
                return lerr(l, NULL, "the directory '%s' that holds the plugin %s", parent, why), 0;

        fd = open(l->file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0)
                return lerr(l, NULL, "cannot read: %s", strerror(errno)), 0;
        if (!S_ISREG(st.st_mode) || (size_t) st.st_size > DESCRIPTOR_SIZE_MAX)
                return lerr(l, NULL, "not a regular file of at most 1 MiB"), 0;
        if ((why = untrusted(&st, false)))
                return lerr(l, NULL, "the descriptor %s", why), 0;
        buf = malloc((size_t) st.st_size + 1);
        if (!buf)
                return -ENOMEM;
        ssize_t n = read(fd, buf, (size_t) st.st_size);
        if (n < 0)
                return lerr(l, NULL, "cannot read: %s", strerror(errno)), 0;
        buf[n] = 0;
        r = yaml_tree_parse(buf, (size_t) n, l->file, NULL, &l->diags, &root);
        if (r < 0)
                return r;
        if (r > 0)
                return 0;
        if (!root || root->kind != YAML_NODE_MAP)
                return lerr(l, root, "a plugin descriptor must be a map with 'name', 'exec' or 'native', and 'types'"), 0;
        check_keys(l, root, "the plugin descriptor", keys);

        const YamlNode *name = yaml_node_get(root, "name");
        l->plugin->name = name ? scalar_dup(l, name, "'name'") : strdup(strrchr(l->plugin->dir, '/') + 1);
        if (!l->plugin->name)
                return l->diags.error ?: (name ? 0 : -ENOMEM);
        for (size_t i = 0; i < l->reg->n_plugins; i++)
                if (streq(l->reg->plugins[i]->name, l->plugin->name))
                        lerr(l, name ?: root, "plugin '%s' is already loaded from '%s'", l->plugin->name,
                             l->reg->plugins[i]->descriptor);
        l->plugin->version = scalar_dup(l, yaml_node_get(root, "version"), "'version'");
        l->plugin->description = scalar_dup(l, yaml_node_get(root, "description"), "'description'");

        const YamlNode *exec = yaml_node_get(root, "exec"), *native = yaml_node_get(root, "native");
        if (!!exec == !!native)
                lerr(l, root, "a plugin descriptor names its code with exactly one of 'exec' (an executable) and 'native' "
                              "(a shared object)");
        else if (exec) {
                l->plugin->kind = PLUGIN_EXEC;
                l->plugin->program = program_path(l, exec, true);
        } else {
                l->plugin->kind = PLUGIN_NATIVE;
                l->plugin->program = program_path(l, native, false);
                /* The shared object is only opened when all else is right. */
                if (l->plugin->program && l->diags.n == 0)
                        native_open(l, native);
        }

        const YamlNode *types = yaml_node_get(root, "types");
        if (!types || types->kind != YAML_NODE_SEQ || types->n_children == 0)
                lerr(l, types ?: root, "a plugin descriptor needs 'types', a list of the task types it provides");
        for (size_t i = 0; types && types->kind == YAML_NODE_SEQ && i < types->n_children; i++)
                if ((r = parse_type(l, types->children[i])) < 0)
                        return r;
        return l->diags.error;
}

static int add_problem(char ***problems, const FlowDiagnostic *d) {
        char *s = d->line ? strdup_printf("%s:%u:%u: %s", strna(d->file), d->line, d->column, d->message)
                          : strdup_printf("%s: %s", strna(d->file), d->message);
        return strv_consume(problems, s);
}

/* One plugin directory: loaded into reg whole, or not at all with its problems. */
static int load_plugin(PluginRegistry *reg, const char *dir, char ***problems) {
        Loader l = { .file = dir, .reg = reg };
        int r = load_descriptor(&l, dir);

        if (r >= 0 && l.diags.n == 0 && l.diags.error == 0) {
                Plugin **p = reallocarray(reg->plugins, reg->n_plugins + 1, sizeof *p);
                if (p)
                        reg->plugins = p;
                PluginType **t = p ? reallocarray(reg->types, reg->n_types + l.n_types, sizeof *t) : NULL;
                if (t) {
                        reg->types = t;
                        reg->plugins[reg->n_plugins++] = TAKE_PTR(l.plugin);
                        memcpy(reg->types + reg->n_types, l.types, l.n_types * sizeof *t);
                        reg->n_types += l.n_types;
                        l.n_types = 0;
                } else
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = l.diags.error;
        flow_diagnostics_sort(&l.diags);
        for (size_t i = 0; r >= 0 && i < l.diags.n; i++)
                r = add_problem(problems, &l.diags.items[i]);
        if (r >= 0 && l.diags.n > 0)
                r = strv_consume(problems, strdup_printf("%s: plugin '%s' is not loaded", l.file,
                                                         l.plugin && l.plugin->name ? l.plugin->name : dir));
        for (size_t i = 0; i < l.n_types; i++)
                plugin_type_free(l.types[i]);
        free(l.types);
        plugin_free(l.plugin);
        flow_diagnostics_done(&l.diags);
        return r < 0 ? r : 0;
}

static int str_cmp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

static bool has_descriptor(const char *dir) {
        _cleanup_free_ char *f = strjoin(dir, "/" PLUGIN_DESCRIPTOR);
        return f && access(f, F_OK) == 0;
}

/* A directory of the search path: itself a plugin, or plugins in its subdirectories (name order). */
static int load_dir(PluginRegistry *reg, const char *dir, bool must_exist, char ***problems) {
        _cleanup_strv_free_ char **subdirs = NULL;
        struct dirent *de;
        int r = 0;

        if (has_descriptor(dir))
                return load_plugin(reg, dir, problems);
        DIR *d = opendir(dir);
        if (!d) {
                if (errno == ENOENT && !must_exist)
                        return 0;
                return strv_consume(problems, strdup_printf("plugin directory '%s': %s", dir, strerror(errno)));
        }
        while (r >= 0 && (de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                _cleanup_free_ char *sub = strjoin(dir, "/", de->d_name);
                struct stat st;
                if (!sub)
                        r = -ENOMEM;
                else if (stat(sub, &st) == 0 && S_ISDIR(st.st_mode) && has_descriptor(sub))
                        r = strv_consume(&subdirs, TAKE_PTR(sub));
        }
        closedir(d);
        if (r < 0)
                return r;
        if (subdirs)
                qsort(subdirs, strv_length(subdirs), sizeof(char *), str_cmp);
        for (char **s = subdirs; s && *s; s++)
                if ((r = load_plugin(reg, *s, problems)) < 0)
                        return r;
        return 0;
}

int plugin_registry_load(const char *path, PluginRegistry **ret, char ***ret_problems) {
        _cleanup_(plugin_registry_freep) PluginRegistry *reg = calloc(1, sizeof *reg);
        _cleanup_strv_free_ char **problems = NULL, **dirs = NULL;
        int r;

        if (!reg)
                return -ENOMEM;
        if ((r = load_dir(reg, TERN_PLUGIN_DIR, false, &problems)) < 0)
                return r;
        if (!isempty(path) && (r = strv_split(path, ":", &dirs)) < 0)
                return r;
        for (char **d = dirs; d && *d; d++)
                if (!isempty(*d) && !streq(*d, TERN_PLUGIN_DIR) && (r = load_dir(reg, *d, true, &problems)) < 0)
                        return r;
        *ret = TAKE_PTR(reg);
        if (ret_problems)
                *ret_problems = TAKE_PTR(problems);
        return 0;
}

int plugin_registry_install(PluginRegistry *r) {
        if (installed) {
                plugin_registry_free(r);
                return -EALREADY;
        }
        installed = r;
        return 0;
}

bool plugin_registry_installed(void) {
        return installed;
}

int plugins_setup(const char *path, char ***ret_problems) {
        _cleanup_(plugin_registry_freep) PluginRegistry *reg = NULL;
        if (ret_problems)
                *ret_problems = NULL;
        if (installed)
                return -EALREADY;
        int r = plugin_registry_load(path, &reg, ret_problems);
        if (r < 0)
                return r;
        return plugin_registry_install(TAKE_PTR(reg));
}

const PluginType *plugin_type_get(size_t i) {
        return installed && i < installed->n_types ? installed->types[i] : NULL;
}

const Plugin *plugin_get(size_t i) {
        return installed && i < installed->n_plugins ? installed->plugins[i] : NULL;
}

const PluginType *plugin_type_of(const TaskType *t) {
        /* Only plugin types have this runner, and their TaskType is a PluginType's first member. */
        return t && t->runner == TASK_RUNNER_PLUGIN ? (const PluginType *) t : NULL;
}

const PluginPropertyInfo *plugin_property_info(const PluginType *pt, const TaskProperty *p) {
        if (!pt || !p || p < pt->type.properties)
                return NULL;
        return &pt->info[p - pt->type.properties];
}

const TaskType *plugin_registry_lookup(TaskTypeKind kind, const char *name) {
        if (!installed || !name || kind != TASK_TYPE_TASK)
                return NULL;
        for (size_t i = 0; i < installed->n_types; i++) {
                const TaskType *t = &installed->types[i]->type;
                if (streq(t->name, name))
                        return t;
                for (const char *const *n = t->kestra_names; *n; n++)
                        if (streq(*n, name))
                                return t;
        }
        return NULL;
}

const char *plugin_kind_to_string(PluginKind k) {
        static const char *const names[_PLUGIN_KIND_MAX] = { [PLUGIN_EXEC] = "exec", [PLUGIN_NATIVE] = "native" };
        return k < _PLUGIN_KIND_MAX ? names[k] : "?";
}

/* web-plugins.c: Kestra's plugin API: the task, trigger and condition types this server knows (built-in and
 * from plugins, one registry) and each one's properties as a JSON schema, for an editor's completion. */
#include <errno.h>

#include "cleanup-jansson.h"
#include "plugin.h"
#include "strbuf.h"
#include "strutil.h"
#include "web-internal.h"

/* The list of one kind's types, as Kestra's PluginElementMetadata: {cls, deprecated}. */
static int add_element(json_t *plugin, const TaskType *t) {
        static const char *const lists[_TASK_TYPE_KIND_MAX] = {
                [TASK_TYPE_TASK] = "tasks", [TASK_TYPE_TRIGGER] = "triggers", [TASK_TYPE_CONDITION] = "conditions",
        };
        json_t *l = json_object_get(plugin, lists[t->kind]);
        return json_array_append_new(l, json_pack("{s:s, s:b}", "cls", task_type_kestra_name(t), "deprecated", false));
}

static json_t *plugin_entry(const char *name, const char *title, const char *description, const char *version,
                            const char *group) {
        return json_pack("{s:s, s:s, s:s?, s:s?, s:s?, s:[], s:[], s:[]}", "name", name, "title", title, "description",
                         description, "version", version, "group", group, "tasks", "triggers", "conditions");
}

/* GET /api/v1/plugins: the built-in types as one plugin ("core"), then each plugin's, as Kestra's Plugin
 * list. Types this build cannot run are left out: the editor offers what works. */
int web_api_plugins(WebCtx *c) {
        _cleanup_json_ json_t *list = json_array(), *core = plugin_entry("core", "Core", "tern's built-in types", TERN_VERSION,
                                                                          "io.kestra.plugin.core");
        if (!list || !core || json_array_append(list, core) < 0)
                return web_reply_json(c, 500, NULL);
        for (size_t i = 0; plugin_get(i); i++) {
                const Plugin *p = plugin_get(i);
                if (json_array_append_new(list, plugin_entry(p->name, p->name, p->description, p->version, NULL)) < 0)
                        return web_reply_json(c, 500, NULL);
        }
        for (size_t i = 0; task_type_get(i); i++) {
                const TaskType *t = task_type_get(i);
                const PluginType *pt = plugin_type_of(t);
                json_t *owner = core;
                if (!task_type_can_run(t))
                        continue;
                for (size_t k = 0; pt && plugin_get(k); k++)
                        if (plugin_get(k) == pt->plugin)
                                owner = json_array_get(list, k + 1);
                if (add_element(owner, t) < 0)
                        return web_reply_json(c, 500, NULL);
        }
        return web_reply_json(c, 200, TAKE_PTR(list));
}

/* A property as JSON Schema, the way Kestra's schemas write them ($dynamic: rendered). */
static json_t *property_schema(const PluginType *pt, const TaskProperty *p) {
        const PluginPropertyInfo *info = plugin_property_info(pt, p);
        json_t *s;

        switch (p->kind) {
        case PROP_STRING:
                s = info && info->file ? json_pack("{s:s, s:s}", "type", "string", "format", "uri")
                                       : json_pack("{s:s}", "type", "string");
                break;
        case PROP_INT:
                s = json_pack("{s:s}", "type", "integer");
                break;
        case PROP_NUMBER:
                s = json_pack("{s:s}", "type", "number");
                break;
        case PROP_BOOL:
                s = json_pack("{s:s}", "type", "boolean");
                break;
        case PROP_DURATION:
                s = json_pack("{s:s, s:s}", "type", "string", "format", "duration");
                break;
        case PROP_ENUM: {
                json_t *values = json_array();
                bool oom = !values;
                for (const char *const *v = p->values; !oom && v && *v; v++)
                        oom = json_array_append_new(values, json_string(*v)) < 0;
                s = oom ? NULL : json_pack("{s:s, s:O}", "type", "string", "enum", values);
                json_decref(values);
                break;
        }
        case PROP_LIST:
        case PROP_TASKS:
        case PROP_DAG_TASKS:
        case PROP_CONDITIONS:
        case PROP_INPUTS:
                s = json_pack("{s:s}", "type", "array");
                break;
        case PROP_STRING_LIST:
                s = json_pack("{s:s, s:{s:s}}", "type", "array", "items", "type", "string");
                break;
        case PROP_MAP:
        case PROP_TASK_MAP:
        case PROP_CONDITION_MAP:
                s = json_pack("{s:s}", "type", "object");
                break;
        case PROP_STRING_OR_LIST:
                s = json_pack("{s:[{s:s}, {s:s, s:{s:s}}]}", "anyOf", "type", "string", "type", "array", "items", "type",
                              "string");
                break;
        case PROP_MAP_OR_LIST:
                s = json_pack("{s:[{s:s}, {s:s}]}", "anyOf", "type", "object", "type", "array");
                break;
        case PROP_LIST_OR_STRING:
                s = json_pack("{s:[{s:s}, {s:s}]}", "anyOf", "type", "array", "type", "string");
                break;
        default:
                s = json_object();
                break;
        }
        if (!s)
                return NULL;
        json_t *def = p->default_json ? json_loads(p->default_json, JSON_DECODE_ANY, NULL) : NULL;
        if ((def && json_object_set_new(s, "default", def) < 0) || json_object_set_new(s, "$dynamic", json_boolean(!p->raw)) < 0 ||
            (info && info->description && json_object_set_new(s, "title", json_string(info->description)) < 0))
                return json_decref(s), NULL;
        return s;
}

static char *type_markdown(const TaskType *t, const PluginType *pt) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        strbuf_appendf(&sb, "# %s\n\n%s\n", task_type_kestra_name(t), pt && pt->description ? pt->description : t->summary);
        if (pt)
                strbuf_appendf(&sb, "\nFrom plugin `%s` (%s).\n", pt->plugin->name, plugin_kind_to_string(pt->plugin->kind));
        if (!task_type_can_run(t))
                strbuf_appendf(&sb, "\nThis server cannot run it: %s\n", t->unsupported ?: "not implemented");
        if (pt && pt->example)
                strbuf_appendf(&sb, "\n## Example\n\n```yaml\n%s%s```\n", pt->example, endswith(pt->example, "\n") ? "" : "\n");
        return sb.error ? NULL : strdup(strbuf_str(&sb));
}

/* GET /api/v1/plugins/{cls}: Kestra's DocumentationWithSchema, {markdown, schema: {properties, outputs,
 * definitions}}, of any name of a type (its aliases and tern's short name too). */
int web_api_plugin_get(WebCtx *c) {
        const TaskType *t = NULL;
        for (TaskTypeKind k = 0; !t && k < _TASK_TYPE_KIND_MAX; k++)
                t = task_type_lookup(k, c->params[0]);
        if (!t) {
                const char *hint = task_type_suggest(TASK_TYPE_TASK, c->params[0]);
                return web_reply_error(c, 404, "Unknown type '%s'%s%s%s", c->params[0], hint ? "; did you mean '" : "",
                                       strempty(hint), hint ? "'?" : "");
        }
        const PluginType *pt = plugin_type_of(t);
        _cleanup_json_ json_t *props = json_object(), *required = json_array(), *outs = json_object(), *aliases = json_array();
        _cleanup_free_ char *md = type_markdown(t, pt);
        if (!props || !required || !outs || !aliases || !md)
                return web_reply_json(c, 500, NULL);
        for (const TaskProperty *p = t->properties; p && p->name; p++) {
                json_t *s = property_schema(pt, p);
                if (!s || json_object_set_new(props, p->name, s) < 0 ||
                    (p->required && json_array_append_new(required, json_string(p->name)) < 0))
                        return web_reply_json(c, 500, NULL);
        }
        for (size_t i = 0; pt && i < pt->n_outputs; i++)
                if (json_object_set_new(outs, pt->outputs[i].name,
                                        json_pack("{s:s?}", "title", pt->outputs[i].description)) < 0)
                        return web_reply_json(c, 500, NULL);
        for (const char *const *k = t->kestra_names + 1; *k; k++)
                if (json_array_append_new(aliases, json_string(*k)) < 0)
                        return web_reply_json(c, 500, NULL);
        json_t *doc = json_pack("{s:s, s:{s:{s:s, s:s, s:s, s:O, s:O, s:O, s:s?}, s:{s:s, s:O}, s:{}}}", "markdown", md,
                                "schema", "properties", "type", "object", "title", t->summary, "$id", task_type_kestra_name(t),
                                "properties", props, "required", required, "$aliases", aliases, "$examples",
                                pt ? pt->example : NULL, "outputs", "type", "object", "properties", outs, "definitions");
        return web_reply_json(c, 200, doc);
}

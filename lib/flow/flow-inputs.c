/* flow-inputs.c: flow input declarations, and turning user-supplied values into typed, validated inputs. */
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "flow-internal.h"
#include "hashmap.h"
#include "strbuf.h"
#include "strutil.h"
#include "user-regex.h"

static const char *const input_type_names[_FLOW_INPUT_TYPE_MAX] = {
        [FLOW_INPUT_STRING] = "STRING",     [FLOW_INPUT_INT] = "INT",
        [FLOW_INPUT_FLOAT] = "FLOAT",       [FLOW_INPUT_BOOLEAN] = "BOOLEAN",
        [FLOW_INPUT_DATE] = "DATE",         [FLOW_INPUT_DATETIME] = "DATETIME",
        [FLOW_INPUT_TIME] = "TIME",         [FLOW_INPUT_DURATION] = "DURATION",
        [FLOW_INPUT_FILE] = "FILE",         [FLOW_INPUT_JSON] = "JSON",
        [FLOW_INPUT_YAML] = "YAML",         [FLOW_INPUT_URI] = "URI",
        [FLOW_INPUT_SECRET] = "SECRET",     [FLOW_INPUT_ENUM] = "ENUM",
        [FLOW_INPUT_MULTISELECT] = "MULTISELECT", [FLOW_INPUT_ARRAY] = "ARRAY",
        [FLOW_INPUT_EMAIL] = "EMAIL",
};

FlowInputType flow_input_type_from_string(const char *s) {
        if (!s)
                return _FLOW_INPUT_TYPE_INVALID;
        for (size_t i = 0; i < ELEMENTSOF(input_type_names); i++)
                if (streq(input_type_names[i], s))
                        return (FlowInputType) i;
        if (streq(s, "SELECT"))
                return FLOW_INPUT_ENUM;
        if (streq(s, "BOOL"))
                return FLOW_INPUT_BOOLEAN;
        return _FLOW_INPUT_TYPE_INVALID;
}

const char *flow_input_type_to_string(FlowInputType t) {
        return t >= 0 && t < _FLOW_INPUT_TYPE_MAX ? input_type_names[t] : NULL;
}

void flow_input_done(FlowInput *in) {
        if (!in)
                return;
        free(in->id);
        free(in->type_name);
        free(in->description);
        free(in->display_name);
        json_decref(in->defaults);
        free(in->validator);
        json_decref(in->min);
        json_decref(in->max);
        json_decref(in->values);
        json_decref(in->extra);
        *in = (FlowInput) {};
}

/* Kestra validators are Java regular expressions that must match the whole value. */
static int validator_compile(const char *validator, regex_t *re, const char **ret_why) {
        return user_regex_compile(validator, USER_REGEX_WHOLE | USER_REGEX_NOSUB, re, ret_why);
}

static bool input_id_valid(const char *s) {
        size_t l = strlen(s);
        if (l == 0 || l > 100 || !isalnum((unsigned char) s[0]))
                return false;
        return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == l;
}

static const char *const input_keys[] = {
        "id",        "name",         "type",          "description", "displayName", "required",
        "defaults",  "prefill",      "validator",     "min",         "max",         "after",
        "before",    "values",       "options",       "expression",  "allowCustomValue", "itemType",
        "dependsOn", "extension",    "isRadio",       "autoSelectFirst", "allowedFileExtensions", NULL,
};

const char *const *fp_input_keys(void) {
        return input_keys;
}

static bool input_key_applies(FlowInputType t, const char *key) {
        if (streq(key, "validator"))
                return t == FLOW_INPUT_STRING;
        if (streq(key, "min") || streq(key, "max"))
                return t == FLOW_INPUT_INT || t == FLOW_INPUT_FLOAT || t == FLOW_INPUT_DURATION;
        if (streq(key, "after") || streq(key, "before"))
                return t == FLOW_INPUT_DATE || t == FLOW_INPUT_DATETIME || t == FLOW_INPUT_TIME;
        if (streq(key, "values") || streq(key, "options") || streq(key, "expression") ||
            streq(key, "allowCustomValue") || streq(key, "isRadio") || streq(key, "autoSelectFirst"))
                return t == FLOW_INPUT_ENUM || t == FLOW_INPUT_MULTISELECT;
        if (streq(key, "itemType"))
                return t == FLOW_INPUT_ARRAY;
        if (streq(key, "extension") || streq(key, "allowedFileExtensions"))
                return t == FLOW_INPUT_FILE;
        return true;
}

static void fp_parse_input(FlowParser *p, const YamlNode *n, FlowInput *in) {
        size_t errors_before = p->n_errors;

        in->pos = flow_pos(n);
        in->required = true;
        in->item_type = _FLOW_INPUT_TYPE_INVALID;
        if (!n || n->kind != YAML_NODE_MAP) {
                fp_error(p, n, "an input must be a map with 'id' and 'type', not %s", yaml_node_describe(n));
                return;
        }
        const YamlNode *id = yaml_node_get(n, "id") ?: yaml_node_get(n, "name"), *type = yaml_node_get(n, "type");
        if (!id)
                fp_error(p, n, "input without 'id'");
        else if ((in->id = fp_strdup_scalar(p, id, "input id")) && !input_id_valid(in->id))
                fp_error(p, id, "invalid input id '%.100s': letters, digits, '.', '_' and '-', starting with a letter or digit",
                         in->id);
        if (!type) {
                fp_error(p, n, "input '%s' without 'type'", strempty(in->id));
                return;
        }
        in->type_name = fp_strdup_scalar(p, type, "input type");
        if (!in->type_name)
                return;
        in->type = flow_input_type_from_string(in->type_name);
        if (in->type < 0) {
                const char *cands[_FLOW_INPUT_TYPE_MAX + 2];
                size_t c = 0;
                for (size_t i = 0; i < _FLOW_INPUT_TYPE_MAX; i++)
                        cands[c++] = input_type_names[i];
                cands[c++] = "SELECT";
                cands[c] = NULL;
                const char *hint = task_type_closest(in->type_name, cands);
                if (hint)
                        fp_error(p, type, "unknown input type '%.100s'; did you mean '%s'?", in->type_name, hint);
                else
                        fp_error(p, type, "unknown input type '%.100s'", in->type_name);
                return;
        }
        in->extra = json_object();
        if (!in->extra) {
                fp_oom(p);
                return;
        }

        for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                const YamlNode *k = n->children[i], *v = n->children[i + 1];
                const char *key = k->value;
                _cleanup_free_ char *what = strdup_printf("'%s' of input '%s'", key, strempty(in->id));
                if (!what) {
                        fp_oom(p);
                        return;
                }
                if (!strv_contains((char **) input_keys, key)) {
                        fp_unknown_key(p, k, "an input", input_keys);
                        continue;
                }
                if (!input_key_applies(in->type, key)) {
                        fp_error(p, k, "property '%s' does not apply to %s inputs", key, in->type_name);
                        continue;
                }
                if (streq(key, "id") || streq(key, "name") || streq(key, "type"))
                        continue;
                if (streq(key, "description"))
                        in->description = fp_strdup_scalar(p, v, what);
                else if (streq(key, "displayName"))
                        in->display_name = fp_strdup_scalar(p, v, what);
                else if (streq(key, "required"))
                        (void) fp_check_bool(p, v, what, &in->required);
                else if (streq(key, "defaults") || streq(key, "prefill")) {
                        if (streq(key, "defaults") || !in->defaults) {
                                json_decref(in->defaults);
                                in->defaults = fp_to_json(p, v);
                        }
                } else if (streq(key, "validator")) {
                        in->validator = fp_strdup_scalar(p, v, what);
                        if (in->validator) {
                                regex_t re;
                                const char *why;
                                int r = validator_compile(in->validator, &re, &why);
                                if (r == -ENOMEM)
                                        fp_oom(p);
                                else if (r < 0)
                                        fp_error(p, v, "invalid validator regular expression '%.100s': %s", in->validator, why);
                                else
                                        regfree(&re);
                        }
                } else if ((streq(key, "min") || streq(key, "max")) && in->type == FLOW_INPUT_DURATION) {
                        susec_t u;
                        if (fp_parse_duration(p, v, what, &u) < 0)
                                continue;
                        json_t **slot = streq(key, "min") ? &in->min : &in->max;
                        *slot = json_string(v->value);
                        if (!*slot)
                                fp_oom(p);
                } else if (streq(key, "min") || streq(key, "max")) {
                        double d;
                        if (yaml_scalar_double(v, &d) < 0) {
                                fp_error(p, v, "%s must be a number, not %s", what, yaml_node_describe(v));
                                continue;
                        }
                        json_t **slot = streq(key, "min") ? &in->min : &in->max;
                        *slot = fp_to_json(p, v);
                } else if (streq(key, "after") || streq(key, "before")) {
                        if (!yaml_node_is_scalar(v)) {
                                fp_error(p, v, "%s must be a string, not %s", what, yaml_node_describe(v));
                                continue;
                        }
                        json_t **slot = streq(key, "after") ? &in->min : &in->max;
                        *slot = json_string(v->value);
                        if (!*slot)
                                fp_oom(p);
                } else if (streq(key, "values") || streq(key, "options")) {
                        if (fp_is_expression(v))
                                continue;
                        if (v->kind != YAML_NODE_SEQ) {
                                fp_error(p, v, "%s must be a list of strings, not %s", what, yaml_node_describe(v));
                                continue;
                        }
                        json_decref(in->values);
                        in->values = json_array();
                        if (!in->values) {
                                fp_oom(p);
                                continue;
                        }
                        for (size_t j = 0; j < v->n_children; j++) {
                                const YamlNode *e = v->children[j];
                                if (!yaml_node_is_scalar(e))
                                        fp_error(p, e, "%s entries must be strings, not %s", what, yaml_node_describe(e));
                                else if (json_array_append_new(in->values, json_string(e->value)) < 0)
                                        fp_oom(p);
                        }
                } else if (streq(key, "allowCustomValue"))
                        (void) fp_check_bool(p, v, what, &in->allow_custom_value);
                else if (streq(key, "itemType")) {
                        if (!yaml_node_is_scalar(v) || (in->item_type = flow_input_type_from_string(v->value)) < 0 ||
                            in->item_type == FLOW_INPUT_ARRAY || in->item_type == FLOW_INPUT_FILE)
                                fp_error(p, v, "invalid itemType '%.100s'",
                                         yaml_node_is_scalar(v) ? v->value : yaml_node_describe(v));
                } else {
                        json_t *j = fp_to_json(p, v);
                        if (j && json_object_set_new(in->extra, key, j) < 0)
                                fp_oom(p);
                }
        }

        if (in->type == FLOW_INPUT_ENUM || in->type == FLOW_INPUT_MULTISELECT) {
                if (!yaml_node_get(n, "values") && !yaml_node_get(n, "options") && !yaml_node_get(n, "expression"))
                        fp_error(p, n, "%s input '%s' is missing required property 'values'", in->type_name,
                                 strempty(in->id));
        }
        if (in->type == FLOW_INPUT_ARRAY && !yaml_node_get(n, "itemType"))
                fp_error(p, n, "ARRAY input '%s' is missing required property 'itemType'", strempty(in->id));

        /* A literal default must be a valid value; expressions are rendered at execution time. */
        const YamlNode *def = yaml_node_get(n, "defaults");
        if (def && !fp_is_expression(def) && yaml_scalar_type(def) != YAML_SCALAR_NULL && in->id && p->n_errors == errors_before) {
                _cleanup_free_ char *err = NULL;
                _cleanup_json_ json_t *out = NULL, *tmp = NULL;
                _cleanup_free_ char *text = NULL;
                if (def->kind == YAML_NODE_SCALAR)
                        text = strdup(def->value);
                else if ((tmp = fp_to_json(p, def)))
                        text = json_dumps(tmp, JSON_ENCODE_ANY | JSON_COMPACT);
                if (!text)
                        return;
                int r = flow_input_parse(in, text, &out, &err);
                if (r == -ENOMEM)
                        fp_oom(p);
                else if (r < 0)
                        fp_error(p, def, "invalid default for input '%s': %s", in->id, strempty(err));
        }
}

int fp_parse_inputs(FlowParser *p, const YamlNode *n, FlowInput **ret, size_t *n_ret) {
        *ret = NULL;
        *n_ret = 0;
        if (!n || yaml_scalar_type(n) == YAML_SCALAR_NULL)
                return 0;
        if (n->kind != YAML_NODE_SEQ) {
                fp_error(p, n, "inputs must be a list, not %s", yaml_node_describe(n));
                return -EINVAL;
        }
        _cleanup_hashmap_ Hashmap seen = HASHMAP_INIT;
        FlowInput *a = calloc(n->n_children ?: 1, sizeof *a);
        if (!a) {
                fp_oom(p);
                return -ENOMEM;
        }
        for (size_t i = 0; i < n->n_children; i++) {
                fp_parse_input(p, n->children[i], &a[i]);
                if (!a[i].id)
                        continue;
                const FlowInput *first = hashmap_get(&seen, a[i].id);
                if (first)
                        fp_error(p, n->children[i], "duplicate input id '%s' (first defined at line %u)", a[i].id,
                                 first->pos.line);
                else if (hashmap_put(&seen, a[i].id, &a[i]) < 0)
                        fp_oom(p);
        }
        *ret = a;
        *n_ret = n->n_children;
        return 0;
}

/* ---- values ---- */

static int input_fail(char **error, const char *fmt, ...) _printf_(2, 3);
static int input_fail(char **error, const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        if (error)
                *error = s;
        else
                free(s);
        return -EINVAL;
}

static int parse_date(const char *s, int64_t *ret_days) {
        unsigned y, m, d;
        int n = 0;
        if (strlen(s) != 10 || sscanf(s, "%4u-%2u-%2u%n", &y, &m, &d, &n) != 3 || n != 10 || s[4] != '-' || s[7] != '-')
                return -EINVAL;
        if (m < 1 || m > 12 || d < 1 || d > days_in_month(y, m))
                return -EINVAL;
        *ret_days = days_from_civil(y, m, d);
        return 0;
}

static int parse_time(const char *s, double *ret_seconds) {
        unsigned h, m;
        double sec = 0;
        int n = 0;
        if (sscanf(s, "%2u:%2u%n", &h, &m, &n) != 2 || n != 5 || !isdigit((unsigned char) s[0]) ||
            !isdigit((unsigned char) s[3]))
                return -EINVAL;
        if (s[5] == ':') {
                const char *p = s + 6;
                if (!isdigit((unsigned char) p[0]) || !isdigit((unsigned char) p[1]))
                        return -EINVAL;
                if (p[2] && !(p[2] == '.' && strlen(p + 3) > 0 && strspn(p + 3, "0123456789") == strlen(p + 3)))
                        return -EINVAL;
                if (safe_atod(p, &sec) < 0 || sec >= 60)
                        return -EINVAL;
        } else if (s[5])
                return -EINVAL;
        if (h > 23 || m > 59)
                return -EINVAL;
        *ret_seconds = h * 3600.0 + m * 60.0 + sec;
        return 0;
}

static bool email_valid(const char *s) {
        const char *at = strchr(s, '@');
        if (!at || at == s || strchr(at + 1, '@') || !at[1])
                return false;
        const char *dot = strrchr(at + 1, '.');
        if (!dot || dot == at + 1 || !dot[1])
                return false;
        for (const char *p = s; *p; p++)
                if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
                        return false;
        return true;
}

static bool uri_valid(const char *s) {
        if (!isalpha((unsigned char) s[0]))
                return false;
        size_t l = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
        if (s[l] != ':' || !s[l + 1])
                return false;
        for (const char *p = s; *p; p++)
                if (isspace((unsigned char) *p) || iscntrl((unsigned char) *p))
                        return false;
        return true;
}

static bool values_contain(const json_t *values, const char *s) {
        size_t i;
        json_t *v;
        json_array_foreach(values, i, v)
                if (json_is_string(v) && streq(json_string_value(v), s))
                        return true;
        return false;
}

static char *values_list(const json_t *values) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        size_t i;
        json_t *v;
        json_array_foreach(values, i, v) {
                if (i > 0)
                        strbuf_append(&sb, ", ");
                strbuf_append(&sb, json_string_value(v) ?: "?");
        }
        return strbuf_steal(&sb);
}

static int check_range(const FlowInput *in, double v, const char *raw, char **error) {
        if (in->min && json_is_number(in->min) && v < json_number_value(in->min))
                return input_fail(error, "%s is less than the minimum %g", raw, json_number_value(in->min));
        if (in->max && json_is_number(in->max) && v > json_number_value(in->max))
                return input_fail(error, "%s is greater than the maximum %g", raw, json_number_value(in->max));
        return 0;
}

static int parse_select(const FlowInput *in, const char *raw, json_t **ret, char **error) {
        if (in->values && !in->allow_custom_value && !values_contain(in->values, raw)) {
                _cleanup_free_ char *list = values_list(in->values);
                return input_fail(error, "'%.200s' is not one of the allowed values: %s", raw, strempty(list));
        }
        *ret = json_string(raw);
        return *ret ? 0 : -ENOMEM;
}

static int parse_multiselect(const FlowInput *in, const char *raw, json_t **ret, char **error) {
        _cleanup_json_ json_t *list = NULL;
        if (raw[0] == '[') {
                list = json_loads(raw, 0, NULL);
                if (!json_is_array(list))
                        return input_fail(error, "expected a JSON list of strings, got '%.200s'", raw);
        } else {
                _cleanup_strv_free_ char **parts = NULL;
                if (strv_split(raw, ",", &parts) < 0)
                        return -ENOMEM;
                list = json_array();
                if (!list)
                        return -ENOMEM;
                for (char **p = parts; p && *p; p++)
                        if (json_array_append_new(list, json_string(strstrip(*p))) < 0)
                                return -ENOMEM;
        }
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v) {
                if (!json_is_string(v))
                        return input_fail(error, "expected a list of strings");
                if (in->values && !in->allow_custom_value && !values_contain(in->values, json_string_value(v))) {
                        _cleanup_free_ char *vl = values_list(in->values);
                        return input_fail(error, "'%.200s' is not one of the allowed values: %s", json_string_value(v),
                                          strempty(vl));
                }
        }
        *ret = TAKE_PTR(list);
        return 0;
}

static int parse_array(const FlowInput *in, const char *raw, json_t **ret, char **error) {
        _cleanup_json_ json_t *list = json_loads(raw, 0, NULL), *out = json_array();
        if (!out)
                return -ENOMEM;
        if (!json_is_array(list))
                return input_fail(error, "expected a JSON list, got '%.200s'", raw);
        FlowInput item = { .id = in->id, .type = in->item_type >= 0 ? in->item_type : FLOW_INPUT_STRING };
        size_t i;
        json_t *v;
        json_array_foreach(list, i, v) {
                _cleanup_free_ char *text = json_is_string(v) ? strdup(json_string_value(v))
                                                              : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                _cleanup_free_ char *err = NULL;
                json_t *c = NULL;
                if (!text)
                        return -ENOMEM;
                int r = flow_input_parse(&item, text, &c, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        return input_fail(error, "item %zu: %s", i, strempty(err));
                if (json_array_append_new(out, c) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int flow_input_parse(const FlowInput *in, const char *raw, json_t **ret, char **error) {
        json_t *j = NULL;
        int64_t i;
        double d;
        susec_t u;
        usec_t t;

        if (error)
                *error = NULL;
        if (!in || !raw || !ret)
                return -EINVAL;
        switch (in->type) {
        case FLOW_INPUT_STRING:
                if (in->validator) {
                        regex_t re;
                        const char *why;
                        int r = validator_compile(in->validator, &re, &why);
                        if (r == -ENOMEM)
                                return r;
                        if (r < 0)
                                return input_fail(error, "invalid validator '%s': %s", in->validator, why);
                        int m = regexec(&re, raw, 0, NULL, 0);
                        regfree(&re);
                        if (m != 0)
                                return input_fail(error, "'%.200s' does not match the validator '%s'", raw, in->validator);
                }
                j = json_string(raw);
                break;
        case FLOW_INPUT_SECRET:
        case FLOW_INPUT_FILE:
                if (!*raw)
                        return input_fail(error, "empty value");
                j = json_string(raw);
                break;
        case FLOW_INPUT_INT:
                if (safe_atoi64(raw, &i) < 0)
                        return input_fail(error, "'%.200s' is not an integer", raw);
                if (check_range(in, (double) i, raw, error) < 0)
                        return -EINVAL;
                j = json_integer(i);
                break;
        case FLOW_INPUT_FLOAT:
                if (safe_atod(raw, &d) < 0 || !isfinite(d))
                        return input_fail(error, "'%.200s' is not a number", raw);
                if (check_range(in, d, raw, error) < 0)
                        return -EINVAL;
                j = json_real(d);
                break;
        case FLOW_INPUT_BOOLEAN:
                if (strcasecmp(raw, "true") == 0)
                        j = json_true();
                else if (strcasecmp(raw, "false") == 0)
                        j = json_false();
                else
                        return input_fail(error, "'%.200s' is not a boolean (true or false)", raw);
                break;
        case FLOW_INPUT_DATE: {
                int64_t days, bound;
                if (parse_date(raw, &days) < 0)
                        return input_fail(error, "'%.200s' is not a date (YYYY-MM-DD)", raw);
                if (in->min && parse_date(json_string_value(in->min) ?: "", &bound) >= 0 && days < bound)
                        return input_fail(error, "%s is before %s", raw, json_string_value(in->min));
                if (in->max && parse_date(json_string_value(in->max) ?: "", &bound) >= 0 && days > bound)
                        return input_fail(error, "%s is after %s", raw, json_string_value(in->max));
                j = json_string(raw);
                break;
        }
        case FLOW_INPUT_DATETIME: {
                char buf[TIMESTAMP_MAX];
                usec_t bound;
                if (timestamp_parse(raw, 0, &t) < 0)
                        return input_fail(error, "'%.200s' is not a date-time (ISO-8601, e.g. 2024-01-31T10:00:00Z)", raw);
                if (in->min && timestamp_parse(json_string_value(in->min) ?: "", 0, &bound) >= 0 && t < bound)
                        return input_fail(error, "%s is before %s", raw, json_string_value(in->min));
                if (in->max && timestamp_parse(json_string_value(in->max) ?: "", 0, &bound) >= 0 && t > bound)
                        return input_fail(error, "%s is after %s", raw, json_string_value(in->max));
                j = json_string(timestamp_format(buf, t));
                break;
        }
        case FLOW_INPUT_TIME: {
                double secs, bound;
                if (parse_time(raw, &secs) < 0)
                        return input_fail(error, "'%.200s' is not a time of day (HH:MM[:SS])", raw);
                if (in->min && parse_time(json_string_value(in->min) ?: "", &bound) >= 0 && secs < bound)
                        return input_fail(error, "%s is before %s", raw, json_string_value(in->min));
                if (in->max && parse_time(json_string_value(in->max) ?: "", &bound) >= 0 && secs > bound)
                        return input_fail(error, "%s is after %s", raw, json_string_value(in->max));
                j = json_string(raw);
                break;
        }
        case FLOW_INPUT_DURATION: {
                char buf[DURATION_MAX];
                susec_t bound;
                if (duration_parse(raw, &u) < 0)
                        return input_fail(error, "'%.200s' is not an ISO-8601 duration (e.g. PT30S, PT5M, P1D)", raw);
                if (in->min && duration_parse(json_string_value(in->min) ?: "", &bound) >= 0 && u < bound)
                        return input_fail(error, "%s is shorter than the minimum %s", raw, json_string_value(in->min));
                if (in->max && duration_parse(json_string_value(in->max) ?: "", &bound) >= 0 && u > bound)
                        return input_fail(error, "%s is longer than the maximum %s", raw, json_string_value(in->max));
                j = json_string(duration_format(buf, u));
                break;
        }
        case FLOW_INPUT_JSON: {
                json_error_t e;
                j = json_loads(raw, JSON_DECODE_ANY, &e);
                if (!j)
                        return input_fail(error, "not valid JSON: %s (column %d)", e.text, e.column);
                break;
        }
        case FLOW_INPUT_YAML: {
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_yaml_node_ YamlNode *root = NULL;
                int r = yaml_tree_parse(raw, strlen(raw), NULL, NULL, &diags, &root);
                if (r < 0)
                        return r;
                if (r > 0)
                        return input_fail(error, "not valid YAML: %s", diags.n > 0 ? diags.items[0].message : "error");
                r = yaml_node_to_json(root, &j);
                if (r == -EINVAL)
                        return input_fail(error, "not valid YAML: map keys must be scalars");
                if (r < 0)
                        return r;
                break;
        }
        case FLOW_INPUT_URI:
                if (!uri_valid(raw))
                        return input_fail(error, "'%.200s' is not a URI (scheme:..., e.g. https://example.com)", raw);
                j = json_string(raw);
                break;
        case FLOW_INPUT_EMAIL:
                if (!email_valid(raw))
                        return input_fail(error, "'%.200s' is not an email address", raw);
                j = json_string(raw);
                break;
        case FLOW_INPUT_ENUM:
                return parse_select(in, raw, ret, error);
        case FLOW_INPUT_MULTISELECT:
                return parse_multiselect(in, raw, ret, error);
        case FLOW_INPUT_ARRAY:
                return parse_array(in, raw, ret, error);
        default:
                return input_fail(error, "unsupported input type");
        }
        if (!j)
                return -ENOMEM; /* json_string() fails on invalid UTF-8 too: treat as the caller's problem */
        *ret = j;
        return 0;
}

/* A typed value (from JSON, or a YAML default) is checked by its text, so that both paths apply
 * the same rules; JSON and YAML inputs take structured values as they are. */
static int input_from_json(const FlowInput *in, json_t *v, json_t **ret, char **error) {
        if (json_is_string(v))
                return flow_input_parse(in, json_string_value(v), ret, error);
        if ((in->type == FLOW_INPUT_JSON || in->type == FLOW_INPUT_YAML) && !json_is_null(v)) {
                *ret = json_incref(v);
                return 0;
        }
        _cleanup_free_ char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!text)
                return -ENOMEM;
        return flow_input_parse(in, text, ret, error);
}

int flow_inputs_resolve(const Flow *f, json_t *supplied, json_t **ret, char **error) {
        _cleanup_json_ json_t *out = json_object();
        _cleanup_strbuf_ StrBuf errs = STRBUF_INIT;

        if (error)
                *error = NULL;
        if (!out)
                return -ENOMEM;
        if (supplied && !json_is_object(supplied))
                return input_fail(error, "inputs must be an object of name -> value");
        for (size_t i = 0; i < f->n_inputs; i++) {
                const FlowInput *in = &f->inputs[i];
                json_t *v = supplied ? json_object_get(supplied, in->id) : NULL;
                _cleanup_free_ char *err = NULL;
                json_t *val = NULL;
                int r;

                if (!in->id)
                        continue;
                if (v && json_is_null(v))
                        v = NULL;
                if (!v && in->defaults && json_is_string(in->defaults) &&
                    (strstr(json_string_value(in->defaults), "{{") || strstr(json_string_value(in->defaults), "{%"))) {
                        /* Rendered by the executor, which has the expression context. */
                        if (json_object_set(out, in->id, in->defaults) < 0)
                                return -ENOMEM;
                        continue;
                }
                if (!v)
                        v = in->defaults;
                if (!v) {
                        if (in->required) {
                                if (errs.len > 0)
                                        strbuf_append(&errs, "; ");
                                strbuf_appendf(&errs, "input '%s' is required", in->id);
                        } else if (json_object_set_new(out, in->id, json_null()) < 0)
                                return -ENOMEM;
                        continue;
                }
                r = input_from_json(in, v, &val, &err);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (errs.len > 0)
                                strbuf_append(&errs, "; ");
                        strbuf_appendf(&errs, "input '%s': %s", in->id, strempty(err));
                        continue;
                }
                if (json_object_set_new(out, in->id, val) < 0)
                        return -ENOMEM;
        }
        if (errs.error < 0)
                return -ENOMEM;
        if (errs.len > 0) {
                if (error)
                        *error = strbuf_steal(&errs);
                return -EINVAL;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

/* expr-yaml.c: the yaml filter (a value as YAML text, as Kestra's Jackson writes it) and the yaml() function. */
#include <ctype.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "expr-internal.h"
#include "strutil.h"
#include "yaml-tree.h"

#define FAIL(...) expr_fail(ev, n, -EINVAL, __VA_ARGS__)

static void indent(StrBuf *sb, size_t n) {
        strbuf_append_repeat(sb, ' ', n);
}

/* Jackson's MINIMIZE_QUOTES: plain unless the text would read back as something else (a number,
 * true, null, ...), has YAML syntax in it, or cannot be written plain at all. */
static bool yaml_needs_quotes(const char *s, size_t len) {
        if (len == 0 || strlen(s) != len)
                return true;
        if (yaml_plain_text_type(s) != YAML_SCALAR_STRING)
                return true;
        static const char *const words[] = { "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N" };
        for (size_t i = 0; i < ELEMENTSOF(words); i++)
                if (streq(s, words[i]))
                        return true; /* YAML 1.1 booleans for other readers */
        if (isspace((unsigned char) s[0]) || isspace((unsigned char) s[len - 1]))
                return true;
        if (strchr("-?:,[]{}#&*!|>'\"%@`~", s[0]))
                return true;
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c < 0x20 || c == 0x7F || strchr("[]{},", c))
                        return true;
                if (c == '#' && i > 0 && (s[i - 1] == ' ' || s[i - 1] == '\t'))
                        return true;
                if (c == ':' && (i + 1 == len || s[i + 1] == ' ' || s[i + 1] == '\t'))
                        return true;
        }
        return false;
}

static void yaml_double_quoted(StrBuf *sb, const char *s, size_t len) {
        strbuf_append_char(sb, '"');
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                switch (c) {
                case '"': strbuf_append(sb, "\\\""); break;
                case '\\': strbuf_append(sb, "\\\\"); break;
                case '\n': strbuf_append(sb, "\\n"); break;
                case '\t': strbuf_append(sb, "\\t"); break;
                case '\r': strbuf_append(sb, "\\r"); break;
                case 0: strbuf_append(sb, "\\0"); break;
                default:
                        if (c < 0x20 || c == 0x7F)
                                strbuf_appendf(sb, "\\x%02X", c);
                        else
                                strbuf_append_char(sb, (char) c);
                }
        }
        strbuf_append_char(sb, '"');
}

/* Several lines are a literal block ("|", with "-" or "+" for the final line breaks), as Jackson writes
 * them with MINIMIZE_QUOTES; text a block cannot hold (a leading blank, other control characters) is
 * quoted instead. at is the indentation of the block's lines. */
static void yaml_string(StrBuf *sb, const char *s, size_t len, size_t at) {
        bool multiline = memchr(s, '\n', len) != NULL;
        if (multiline && len > 0 && s[0] != ' ' && s[0] != '\t' && strlen(s) == len) {
                bool block_ok = true;
                for (size_t i = 0; i < len; i++)
                        if (((unsigned char) s[i] < 0x20 && s[i] != '\n' && s[i] != '\t') || s[i] == 0x7F)
                                block_ok = false;
                if (block_ok) {
                        size_t trailing = 0;
                        while (trailing < len && s[len - 1 - trailing] == '\n')
                                trailing++;
                        strbuf_append(sb, trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+");
                        for (const char *p = s, *end = s + len - (trailing > 0 ? 1 : 0); p < end;) {
                                const char *nl = memchr(p, '\n', (size_t) (end - p));
                                size_t l = nl ? (size_t) (nl - p) : (size_t) (end - p);
                                strbuf_append_char(sb, '\n');
                                if (l > 0)
                                        indent(sb, at);
                                strbuf_append_n(sb, p, l);
                                p += l + 1;
                                if (!nl)
                                        break;
                        }
                        return;
                }
        }
        if (yaml_needs_quotes(s, len))
                yaml_double_quoted(sb, s, len);
        else
                strbuf_append_n(sb, s, len);
}

static int yaml_scalar(StrBuf *sb, json_t *v, size_t at) {
        switch (json_typeof(v)) {
        case JSON_STRING:
                /* a block's lines go deeper than their parent; at the top level that is 2 */
                yaml_string(sb, json_string_value(v), json_string_length(v), MAX(at, (size_t) 2));
                return 0;
        case JSON_NULL:
                strbuf_append(sb, "null");
                return 0;
        default:
                return expr_append_value(sb, v);
        }
}

static bool is_empty_collection(json_t *v) {
        return (json_is_array(v) && json_array_size(v) == 0) || (json_is_object(v) && json_object_size(v) == 0);
}

static int yaml_value(StrBuf *sb, json_t *v, size_t at, unsigned depth);

/* A map's entries at column at; the first one where the cursor is (after "- " in a list). */
static int yaml_map(StrBuf *sb, json_t *v, size_t at, unsigned depth) {
        const char *k;
        json_t *x;
        bool first = true;
        json_object_foreach(v, k, x) {
                if (!first)
                        indent(sb, at);
                first = false;
                yaml_string(sb, k, strlen(k), at + 2);
                strbuf_append_char(sb, ':');
                if (json_is_object(x) && !is_empty_collection(x)) {
                        strbuf_append_char(sb, '\n');
                        indent(sb, at + 2);
                        int r = yaml_map(sb, x, at + 2, depth + 1);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (json_is_array(x) && !is_empty_collection(x)) {
                        strbuf_append_char(sb, '\n');
                        int r = yaml_value(sb, x, at, depth + 1);
                        if (r < 0)
                                return r;
                        continue;
                }
                strbuf_append_char(sb, ' ');
                int r = yaml_value(sb, x, at + 2, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Jackson's INDENT_ARRAYS: a list's "- " one column in from its parent. The first item goes where the
 * cursor is when the list is an item of another ("- - a"). */
static int yaml_list(StrBuf *sb, json_t *v, size_t at, bool inline_first, unsigned depth) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) {
                if (i > 0 || !inline_first)
                        indent(sb, at + 1);
                strbuf_append(sb, "- ");
                int r;
                if (json_is_object(x) && !is_empty_collection(x))
                        r = yaml_map(sb, x, at + 3, depth + 1);
                else if (json_is_array(x) && !is_empty_collection(x))
                        r = yaml_list(sb, x, at + 2, true, depth + 1);
                else
                        r = yaml_value(sb, x, at + 3, depth + 1);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Writes v and the line break after it. */
static int yaml_value(StrBuf *sb, json_t *v, size_t at, unsigned depth) {
        if (depth > EXPR_MAX_DEPTH)
                return -E2BIG;
        if (sb->len > EXPR_MAX_OUTPUT)
                return -E2BIG;
        if (json_is_object(v) && json_object_size(v) > 0)
                return yaml_map(sb, v, at, depth);
        if (json_is_array(v) && json_array_size(v) > 0)
                return yaml_list(sb, v, at, false, depth);
        if (json_is_object(v))
                strbuf_append(sb, "{}");
        else if (json_is_array(v))
                strbuf_append(sb, "[]");
        else {
                int r = yaml_scalar(sb, v, at);
                if (r < 0)
                        return r;
        }
        strbuf_append_char(sb, '\n');
        return 0;
}

int expr_filter_yaml(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        if (json_is_null(in)) {
                *ret = json_string("null");
                return *ret ? 0 : -ENOMEM;
        }
        int r = yaml_value(&sb, in, 0, 0);
        if (r == -E2BIG)
                return expr_fail(ev, n, r, "Filter `yaml`: value too large or nested too deeply");
        if (r < 0)
                return r;
        if (sb.error)
                return sb.error;
        *ret = json_stringn_nocheck(strbuf_str(&sb), sb.len);
        return *ret ? 0 : -ENOMEM;
}

/* yaml(text): the value a YAML document holds, its scalars typed as in flows (Jackson's rules). */
int expr_function_yaml(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_yaml_node_ YamlNode *root = NULL;
        json_t *text = expr_arg(a, 0, "yaml");

        if (!text)
                return FAIL("yaml() needs a YAML string");
        if (json_is_null(text)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_string(text))
                return FAIL("yaml() needs a YAML string, not a %s", expr_type_name(text));
        int r = yaml_tree_parse(json_string_value(text), json_string_length(text), NULL, NULL, &diags, &root);
        if (r < 0)
                return r;
        if (r > 0) {
                const FlowDiagnostic *d = diags.n > 0 ? &diags.items[0] : NULL;
                if (d && d->line > 0)
                        return FAIL("yaml(): invalid YAML: %s (line %u, column %u of the text)", d->message, d->line, d->column);
                return FAIL("yaml(): invalid YAML: %s", d ? d->message : "cannot parse");
        }
        r = yaml_node_to_json(root, ret);
        if (r == -EINVAL)
                return FAIL("yaml(): a map key in the YAML text is not a scalar");
        return r;
}

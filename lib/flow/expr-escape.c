/* expr-escape.c: escaping filters: Pebble's escape (html, js, css, url_param, json) and raw, Kestra's escapeChar. */
#include <ctype.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "expr-internal.h"
#include "strutil.h"

#define FAIL(...) expr_fail(ev, n, -EINVAL, __VA_ARGS__)

/* One UTF-8 character at s (n bytes left): its code point and length. A byte that starts no valid
 * sequence is its own character (strings built with json_stringn_nocheck() may hold one). */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *ret) {
        size_t len = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
        if (len == 0 || len > n) {
                *ret = s[0];
                return 1;
        }
        uint32_t cp = len == 1 ? s[0] : s[0] & (0x7F >> len);
        for (size_t i = 1; i < len; i++) {
                if ((s[i] & 0xC0) != 0x80) {
                        *ret = s[0];
                        return 1;
                }
                cp = (cp << 6) | (s[i] & 0x3F);
        }
        *ret = cp;
        return len;
}

/* \uXXXX, as a surrogate pair past the Basic Multilingual Plane (JavaScript and JSON strings are UTF-16). */
static void append_u_escape(StrBuf *sb, uint32_t cp) {
        if (cp >= 0x10000) {
                cp -= 0x10000;
                strbuf_appendf(sb, "\\u%04X\\u%04X", 0xD800 + (cp >> 10), 0xDC00 + (cp & 0x3FF));
        } else
                strbuf_appendf(sb, "\\u%04X", cp);
}

/* HTML 4 level 1, XML style (unbescape's escapeHtml4Xml, which Pebble uses): the five markup characters. */
static void escape_html(const char *s, size_t n, StrBuf *sb) {
        for (size_t i = 0; i < n; i++)
                switch (s[i]) {
                case '&': strbuf_append(sb, "&amp;"); break;
                case '<': strbuf_append(sb, "&lt;"); break;
                case '>': strbuf_append(sb, "&gt;"); break;
                case '"': strbuf_append(sb, "&quot;"); break;
                case '\'': strbuf_append(sb, "&#39;"); break;
                default: strbuf_append_char(sb, s[i]);
                }
}

/* JavaScript and JSON string contents, level 2 (non-ASCII escaped too): JavaScript writes \xHH up to
 * U+00FF and \' as well, JSON only \uXXXX; "/" is escaped after "<" (no "</script>" in the output). */
static void escape_js_or_json(const char *s, size_t n, bool js, StrBuf *sb) {
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len = utf8_next((const unsigned char *) s + i, n - i, &cp);
                const char *e = NULL;
                switch (cp) {
                case '\b': e = "\\b"; break;
                case '\t': e = "\\t"; break;
                case '\n': e = "\\n"; break;
                case '\f': e = "\\f"; break;
                case '\r': e = "\\r"; break;
                case '"': e = "\\\""; break;
                case '\\': e = "\\\\"; break;
                case '\'': e = js ? "\\'" : NULL; break;
                case '/': e = i > 0 && s[i - 1] == '<' ? "\\/" : NULL; break;
                }
                if (e)
                        strbuf_append(sb, e);
                else if (cp >= 0x20 && cp < 0x7F)
                        strbuf_append_char(sb, (char) cp);
                else if (js && cp <= 0xFF)
                        strbuf_appendf(sb, "\\x%02X", cp);
                else
                        append_u_escape(sb, cp);
                i += len;
        }
}

/* A CSS identifier, level 2: letters, digits, '-' and '_' stay (but a leading digit, or a digit after
 * a leading '-', is escaped); other ASCII takes a backslash; the rest is a hexadecimal escape. */
static void escape_css(const char *s, size_t n, StrBuf *sb) {
        for (size_t i = 0; i < n;) {
                uint32_t cp;
                size_t len = utf8_next((const unsigned char *) s + i, n - i, &cp);
                bool digit = cp < 0x80 && isdigit((int) cp);
                bool leading = i == 0 || (i == 1 && s[0] == '-');
                if (cp < 0x80 && (isalpha((int) cp) || cp == '_' || cp == '-' || (digit && !leading)))
                        strbuf_append_char(sb, (char) cp);
                else if (cp >= 0x20 && cp < 0x7F && !digit)
                        strbuf_appendf(sb, "\\%c", (char) cp);
                else
                        strbuf_appendf(sb, "\\%X ", cp);
                i += len;
        }
}

/* A URI query parameter (unbescape's escapeUriQueryParam): UTF-8 percent-encoded, except unreserved
 * characters and the sub-delimiters that do not end a parameter. */
static void escape_url_param(const char *s, size_t n, StrBuf *sb) {
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                if (isalnum(c) || (c && strchr("-._~!$'()*,;:@/?", c)))
                        strbuf_append_char(sb, (char) c);
                else
                        strbuf_appendf(sb, "%%%02X", c);
        }
}

int expr_filter_escape(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        _cleanup_free_ char *s = NULL;
        json_t *st = expr_arg(a, 0, "strategy");
        const char *strategy = json_is_string(st) ? json_string_value(st) : "html";

        if (st && !json_is_null(st) && !json_is_string(st))
                return FAIL("Filter `escape`: argument `strategy` must be a string, not a %s", expr_type_name(st));
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        int r = expr_to_string(in, &s);
        if (r < 0)
                return r;
        size_t len = json_is_string(in) ? json_string_length(in) : strlen(s);
        if (streq(strategy, "html"))
                escape_html(s, len, &sb);
        else if (streq(strategy, "js"))
                escape_js_or_json(s, len, true, &sb);
        else if (streq(strategy, "json"))
                escape_js_or_json(s, len, false, &sb);
        else if (streq(strategy, "css"))
                escape_css(s, len, &sb);
        else if (streq(strategy, "url_param"))
                escape_url_param(s, len, &sb);
        else
                return FAIL("Filter `escape`: unknown escaping strategy \"%s\" (html, js, css, url_param, json)", strategy);
        if (sb.error)
                return sb.error;
        if (sb.len > EXPR_MAX_OUTPUT)
                return expr_fail(ev, n, -E2BIG, "Filter `escape`: result too large");
        *ret = json_stringn_nocheck(strbuf_str(&sb), sb.len);
        return *ret ? 0 : -ENOMEM;
}

/* Pebble's raw marks a string as already escaped; tern does not escape output, so it is the text itself. */
int expr_filter_raw(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        if (json_is_null(in) || json_is_string(in)) {
                *ret = json_incref(in);
                return 0;
        }
        int r = expr_to_string(in, &s);
        if (r < 0)
                return r;
        *ret = json_string_nocheck(s);
        return *ret ? 0 : -ENOMEM;
}

typedef enum EscapeCharType {
        ESCAPE_CHAR_SINGLE, /* ' -> \' */
        ESCAPE_CHAR_DOUBLE, /* " -> \" */
        ESCAPE_CHAR_SHELL,  /* ' -> '\'' (inside single quotes in a shell) */
} EscapeCharType;

static int escape_char_string(ExprEval *ev, const ExprNode *n, json_t *v, EscapeCharType type, json_t **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        _cleanup_free_ char *s = NULL;
        if (json_is_null(v))
                return FAIL("Filter `escapeChar`: cannot escape a null inside a list or map");
        int r = expr_to_string(v, &s);
        if (r < 0)
                return r;
        size_t len = json_is_string(v) ? json_string_length(v) : strlen(s);
        char quote = type == ESCAPE_CHAR_DOUBLE ? '"' : '\'';
        const char *with = type == ESCAPE_CHAR_SHELL ? "'\\''" : type == ESCAPE_CHAR_DOUBLE ? "\\\"" : "\\'";
        for (size_t i = 0; i < len; i++)
                if (s[i] == quote)
                        strbuf_append(&sb, with);
                else
                        strbuf_append_char(&sb, s[i]);
        if (sb.error)
                return sb.error;
        if (sb.len > EXPR_MAX_OUTPUT)
                return expr_fail(ev, n, -E2BIG, "Filter `escapeChar`: result too large");
        *ret = json_stringn_nocheck(strbuf_str(&sb), sb.len);
        return *ret ? 0 : -ENOMEM;
}

/* Lists and maps are escaped item by item, nested ones too; other items become escaped strings. */
static int escape_char_value(ExprEval *ev, const ExprNode *n, json_t *v, EscapeCharType type, unsigned depth, json_t **ret) {
        int r;
        if (depth > EXPR_MAX_DEPTH)
                return expr_fail(ev, n, -E2BIG, "Filter `escapeChar`: value nested too deeply");
        if (json_is_array(v)) {
                _cleanup_json_ json_t *l = json_array();
                size_t i;
                json_t *x;
                if (!l)
                        return -ENOMEM;
                json_array_foreach(v, i, x) {
                        json_t *y = NULL;
                        r = escape_char_value(ev, n, x, type, depth + 1, &y);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(l, y) < 0)
                                return -ENOMEM;
                }
                *ret = TAKE_PTR(l);
                return 0;
        }
        if (json_is_object(v)) {
                _cleanup_json_ json_t *o = json_object();
                const char *k;
                json_t *x;
                if (!o)
                        return -ENOMEM;
                json_object_foreach(v, k, x) {
                        json_t *y = NULL;
                        r = escape_char_value(ev, n, x, type, depth + 1, &y);
                        if (r < 0)
                                return r;
                        if (json_object_set_new(o, k, y) < 0)
                                return -ENOMEM;
                }
                *ret = TAKE_PTR(o);
                return 0;
        }
        return escape_char_string(ev, n, v, type, ret);
}

int expr_filter_escape_char(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        json_t *t = expr_arg(a, 0, "type");
        EscapeCharType type;
        if (!t)
                return FAIL("Filter `escapeChar` needs the argument `type` ('single', 'double' or 'shell')");
        const char *ts = json_string_value(t);
        if (ts && strcasecmp(ts, "single") == 0)
                type = ESCAPE_CHAR_SINGLE;
        else if (ts && strcasecmp(ts, "double") == 0)
                type = ESCAPE_CHAR_DOUBLE;
        else if (ts && strcasecmp(ts, "shell") == 0)
                type = ESCAPE_CHAR_SHELL;
        else
                return FAIL("Filter `escapeChar`: argument `type` must be 'single', 'double' or 'shell'");
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        return escape_char_value(ev, n, in, type, 0, ret);
}

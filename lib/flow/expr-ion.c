/* expr-ion.c: Amazon Ion text, Kestra's file format: the toIon filter writes it, fromIon() reads it. */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "expr-internal.h"
#include "ion-file.h"
#include "strutil.h"

#define FAIL(...) expr_fail(ev, n, -EINVAL, __VA_ARGS__)

/* ---- writing ---- */

static bool ion_is_identifier(const char *s) {
        if (!*s || !(isalpha((unsigned char) *s) || *s == '_' || *s == '$'))
                return false;
        for (const char *p = s; *p; p++)
                if (!(isalnum((unsigned char) *p) || *p == '_' || *p == '$'))
                        return false;
        return !streq(s, "null") && !streq(s, "true") && !streq(s, "false") && !streq(s, "nan");
}

static void ion_quoted(StrBuf *sb, const char *s, size_t len, char quote) {
        strbuf_append_char(sb, quote);
        for (size_t i = 0; i < len; i++) {
                unsigned char c = (unsigned char) s[i];
                if (c == (unsigned char) quote || c == '\\') {
                        strbuf_append_char(sb, '\\');
                        strbuf_append_char(sb, (char) c);
                } else if (c == '\n')
                        strbuf_append(sb, "\\n");
                else if (c == '\t')
                        strbuf_append(sb, "\\t");
                else if (c == '\r')
                        strbuf_append(sb, "\\r");
                else if (c < 0x20 || c == 0x7F)
                        strbuf_appendf(sb, "\\x%02x", c);
                else
                        strbuf_append_char(sb, (char) c);
        }
        strbuf_append_char(sb, quote);
}

/* An Ion float: Java's Double.toString with the exponent Ion requires ("1.5e0", "1e0", "1.0e7"). */
static void ion_float(StrBuf *sb, double d) {
        char buf[32];
        expr_format_double(buf, d);
        char *e = strchr(buf, 'E');
        if (e) {
                *e = 'e';
                strbuf_append(sb, buf);
        } else if (endswith(buf, ".0")) {
                buf[strlen(buf) - 2] = 0;
                strbuf_appendf(sb, "%se0", buf);
        } else
                strbuf_appendf(sb, "%se0", buf);
}

static int ion_write(StrBuf *sb, json_t *v, unsigned depth) {
        size_t i;
        const char *k;
        json_t *x;
        if (depth > EXPR_MAX_DEPTH || sb->len > EXPR_MAX_OUTPUT)
                return -E2BIG;
        switch (json_typeof(v)) {
        case JSON_NULL: strbuf_append(sb, "null"); break;
        case JSON_TRUE: strbuf_append(sb, "true"); break;
        case JSON_FALSE: strbuf_append(sb, "false"); break;
        case JSON_INTEGER: strbuf_appendf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v)); break;
        case JSON_REAL: ion_float(sb, json_real_value(v)); break;
        case JSON_STRING: ion_quoted(sb, json_string_value(v), json_string_length(v), '"'); break;
        case JSON_ARRAY:
                strbuf_append_char(sb, '[');
                json_array_foreach(v, i, x) {
                        if (i > 0)
                                strbuf_append_char(sb, ',');
                        int r = ion_write(sb, x, depth + 1);
                        if (r < 0)
                                return r;
                }
                strbuf_append_char(sb, ']');
                break;
        case JSON_OBJECT: {
                bool first = true;
                strbuf_append_char(sb, '{');
                json_object_foreach(v, k, x) {
                        if (!first)
                                strbuf_append_char(sb, ',');
                        first = false;
                        /* field names are symbols: bare when they can be, else in single quotes */
                        if (ion_is_identifier(k))
                                strbuf_append(sb, k);
                        else
                                ion_quoted(sb, k, strlen(k), '\'');
                        strbuf_append_char(sb, ':');
                        int r = ion_write(sb, x, depth + 1);
                        if (r < 0)
                                return r;
                }
                strbuf_append_char(sb, '}');
                break;
        }
        }
        return sb->error;
}

int ion_value_format(json_t *v, char **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        int r = ion_write(&sb, v, 0);
        if (r < 0)
                return r;
        *ret = strndup(strbuf_str(&sb), sb.len);
        return *ret ? 0 : -ENOMEM;
}

int expr_filter_to_ion(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        int r = ion_write(&sb, in, 0);
        if (r == -E2BIG)
                return expr_fail(ev, n, r, "Filter `toIon`: value too large or nested too deeply");
        if (r < 0)
                return r;
        *ret = json_stringn_nocheck(strbuf_str(&sb), sb.len);
        return *ret ? 0 : -ENOMEM;
}

/* ---- reading ---- */

typedef struct IonReader {
        const char *p, *end;
        const char *error; /* static text */
        unsigned depth;
} IonReader;

static int ion_fail(IonReader *r, const char *why) {
        if (!r->error)
                r->error = why;
        return -EINVAL;
}

static void ion_skip_space(IonReader *r) {
        while (r->p < r->end) {
                if (isspace((unsigned char) *r->p))
                        r->p++;
                else if (r->end - r->p >= 2 && r->p[0] == '/' && r->p[1] == '/') {
                        while (r->p < r->end && *r->p != '\n')
                                r->p++;
                } else if (r->end - r->p >= 2 && r->p[0] == '/' && r->p[1] == '*') {
                        const char *e = memmem(r->p + 2, (size_t) (r->end - r->p - 2), "*/", 2);
                        r->p = e ? e + 2 : r->end;
                } else
                        break;
        }
}

static bool ion_ident_start(char c) {
        return isalpha((unsigned char) c) || c == '_' || c == '$';
}

static bool ion_ident_char(char c) {
        return isalnum((unsigned char) c) || c == '_' || c == '$';
}

static void utf8_append(StrBuf *sb, uint32_t cp) {
        if (cp < 0x80)
                strbuf_append_char(sb, (char) cp);
        else if (cp < 0x800) {
                strbuf_append_char(sb, (char) (0xC0 | (cp >> 6)));
                strbuf_append_char(sb, (char) (0x80 | (cp & 0x3F)));
        } else if (cp < 0x10000) {
                strbuf_append_char(sb, (char) (0xE0 | (cp >> 12)));
                strbuf_append_char(sb, (char) (0x80 | ((cp >> 6) & 0x3F)));
                strbuf_append_char(sb, (char) (0x80 | (cp & 0x3F)));
        } else {
                strbuf_append_char(sb, (char) (0xF0 | (cp >> 18)));
                strbuf_append_char(sb, (char) (0x80 | ((cp >> 12) & 0x3F)));
                strbuf_append_char(sb, (char) (0x80 | ((cp >> 6) & 0x3F)));
                strbuf_append_char(sb, (char) (0x80 | (cp & 0x3F)));
        }
}

/* The body of a quoted string or symbol, after its opening quote, up to and past the closing one. */
static int ion_quoted_body(IonReader *r, const char *close, StrBuf *sb) {
        size_t cl = strlen(close);
        for (;;) {
                if ((size_t) (r->end - r->p) < cl)
                        return ion_fail(r, "unterminated string");
                if (memcmp(r->p, close, cl) == 0) {
                        r->p += cl;
                        return 0;
                }
                char c = *r->p++;
                if (c == '\n' && cl == 1)
                        return ion_fail(r, "line break in a quoted string");
                if (c != '\\') {
                        strbuf_append_char(sb, c);
                        continue;
                }
                if (r->p >= r->end)
                        return ion_fail(r, "unterminated string");
                char e = *r->p++;
                unsigned digits = 0;
                switch (e) {
                case 'n': strbuf_append_char(sb, '\n'); break;
                case 't': strbuf_append_char(sb, '\t'); break;
                case 'r': strbuf_append_char(sb, '\r'); break;
                case '0': strbuf_append_char(sb, '\0'); break;
                case 'a': strbuf_append_char(sb, '\a'); break;
                case 'b': strbuf_append_char(sb, '\b'); break;
                case 'v': strbuf_append_char(sb, '\v'); break;
                case 'f': strbuf_append_char(sb, '\f'); break;
                case '\n': break; /* a line continuation */
                case 'x': digits = 2; break;
                case 'u': digits = 4; break;
                case 'U': digits = 8; break;
                default: strbuf_append_char(sb, e); break; /* \" \' \\ \/ \? */
                }
                if (digits) {
                        uint32_t cp = 0;
                        for (unsigned i = 0; i < digits; i++) {
                                if (r->p >= r->end || !isxdigit((unsigned char) *r->p))
                                        return ion_fail(r, "invalid escape in a string");
                                char h = *r->p++;
                                cp = cp * 16 + (uint32_t) (isdigit((unsigned char) h) ? h - '0' : tolower((unsigned char) h) - 'a' + 10);
                        }
                        if (cp > 0x10FFFF)
                                return ion_fail(r, "invalid escape in a string");
                        utf8_append(sb, cp);
                }
        }
}

static int ion_string_json(IonReader *r, StrBuf *sb, json_t **ret) {
        if (sb->error)
                return sb->error;
        *ret = json_stringn(strbuf_str(sb), sb->len);
        return *ret ? 0 : ion_fail(r, "a string is not valid UTF-8");
}

/* A field name or symbol: identifier, 'quoted', "string" or '''long string'''. */
static int ion_read_name(IonReader *r, StrBuf *sb) {
        if (r->p < r->end && ion_ident_start(*r->p)) {
                const char *s = r->p;
                while (r->p < r->end && ion_ident_char(*r->p))
                        r->p++;
                return strbuf_append_n(sb, s, (size_t) (r->p - s));
        }
        if (r->end - r->p >= 3 && memcmp(r->p, "'''", 3) == 0) {
                r->p += 3;
                return ion_quoted_body(r, "'''", sb);
        }
        if (r->p < r->end && (*r->p == '\'' || *r->p == '"')) {
                char q[2] = { *r->p++, 0 };
                return ion_quoted_body(r, q, sb);
        }
        return ion_fail(r, "expected a field name");
}

static int ion_read_value(IonReader *r, json_t **ret);

/* Numbers and timestamps: a run of characters up to a delimiter. */
static int ion_read_number(IonReader *r, json_t **ret) {
        const char *s = r->p;
        while (r->p < r->end && !isspace((unsigned char) *r->p) && !strchr(",]})[{(\"'", *r->p) &&
               !(r->end - r->p >= 2 && r->p[0] == '/' && (r->p[1] == '/' || r->p[1] == '*')))
                r->p++;
        size_t len = (size_t) (r->p - s);
        char buf[128];
        if (len == 0 || len >= sizeof buf)
                return ion_fail(r, "invalid number or timestamp");
        /* underscores separate digits */
        size_t j = 0;
        for (size_t i = 0; i < len; i++)
                if (s[i] != '_')
                        buf[j++] = s[i];
        buf[j] = 0;
        if (streq(buf, "+inf") || streq(buf, "-inf")) {
                *ret = json_null(); /* JSON has no infinity */
                return 0;
        }
        /* a timestamp: 2024-04-21T23:00:00.000Z, 2007-02-23, 2007T; kept as its text */
        if (j >= 5 && isdigit((unsigned char) buf[0]) && isdigit((unsigned char) buf[3]) && (buf[4] == '-' || buf[4] == 'T')) {
                *ret = json_stringn(s, len);
                return *ret ? 0 : -ENOMEM;
        }
        int64_t i;
        const char *digits = buf[0] == '-' ? buf + 1 : buf;
        if (startswith(digits, "0x") || startswith(digits, "0X") || startswith(digits, "0b") || startswith(digits, "0B")) {
                bool bin = digits[1] == 'b' || digits[1] == 'B';
                char *e;
                errno = 0;
                unsigned long long u = strtoull(digits + 2, &e, bin ? 2 : 16);
                if (*e || e == digits + 2 || errno || u > (unsigned long long) INT64_MAX)
                        return ion_fail(r, "invalid integer");
                *ret = json_integer(buf[0] == '-' ? -(json_int_t) u : (json_int_t) u);
                return *ret ? 0 : -ENOMEM;
        }
        if (safe_atoi64(buf, &i) >= 0) {
                *ret = json_integer(i);
                return *ret ? 0 : -ENOMEM;
        }
        /* decimals may write their exponent with d */
        for (char *p = buf; *p; p++)
                if (*p == 'd' || *p == 'D')
                        *p = 'e';
        double d;
        if (safe_atod(buf, &d) < 0 || !isfinite(d))
                return ion_fail(r, "invalid number");
        *ret = json_real(d);
        return *ret ? 0 : -ENOMEM;
}

static int ion_read_container(IonReader *r, char close, json_t **ret) {
        bool is_struct = close == '}';
        _cleanup_json_ json_t *c = is_struct ? json_object() : json_array();
        int rr;
        if (!c)
                return -ENOMEM;
        if (++r->depth > EXPR_MAX_DEPTH)
                return ion_fail(r, "nested too deeply");
        for (;;) {
                ion_skip_space(r);
                if (r->p >= r->end)
                        return ion_fail(r, is_struct ? "unterminated struct" : "unterminated list");
                if (*r->p == close) {
                        r->p++;
                        break;
                }
                _cleanup_strbuf_ StrBuf key = STRBUF_INIT;
                if (is_struct) {
                        rr = ion_read_name(r, &key);
                        if (rr < 0)
                                return rr;
                        ion_skip_space(r);
                        if (r->p >= r->end || *r->p != ':')
                                return ion_fail(r, "expected ':' after a field name");
                        r->p++;
                        ion_skip_space(r);
                }
                json_t *v = NULL;
                if (close == ')' && r->p < r->end && !isalnum((unsigned char) *r->p) && !strchr("\"'[({_$-+", *r->p)) {
                        /* an operator symbol inside an s-expression */
                        const char *s = r->p;
                        while (r->p < r->end && strchr("!#%&*+-./;<=>?@^`|~", *r->p))
                                r->p++;
                        if (r->p == s)
                                return ion_fail(r, "unexpected character");
                        v = json_stringn(s, (size_t) (r->p - s));
                        if (!v)
                                return -ENOMEM;
                } else {
                        rr = ion_read_value(r, &v);
                        if (rr < 0)
                                return rr;
                }
                if (is_struct) {
                        if (key.error) {
                                json_decref(v);
                                return key.error;
                        }
                        if (json_object_setn_new(c, strbuf_str(&key), key.len, v) < 0)
                                return ion_fail(r, "a field name is not valid UTF-8");
                } else if (json_array_append_new(c, v) < 0)
                        return -ENOMEM;
                ion_skip_space(r);
                if (close != ')' && r->p < r->end && *r->p == ',')
                        r->p++;
                else if (close != ')' && r->p < r->end && *r->p != close)
                        return ion_fail(r, is_struct ? "expected ',' or '}'" : "expected ',' or ']'");
        }
        r->depth--;
        *ret = TAKE_PTR(c);
        return 0;
}

static int ion_read_value(IonReader *r, json_t **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        int rr;
        ion_skip_space(r);
        if (r->p >= r->end)
                return ion_fail(r, "expected a value");
        char c = *r->p;
        if (c == '{' && r->end - r->p >= 2 && r->p[1] == '{') {
                /* a blob (base64, kept as text) or a clob (its string) */
                r->p += 2;
                ion_skip_space(r);
                if (r->p < r->end && (*r->p == '"' || *r->p == '\'')) {
                        rr = ion_read_name(r, &sb);
                        if (rr < 0)
                                return rr;
                } else
                        while (r->p < r->end && *r->p != '}')
                                if (!isspace((unsigned char) *r->p++))
                                        strbuf_append_char(&sb, r->p[-1]);
                ion_skip_space(r);
                if (r->end - r->p < 2 || r->p[0] != '}' || r->p[1] != '}')
                        return ion_fail(r, "unterminated blob");
                r->p += 2;
                return ion_string_json(r, &sb, ret);
        }
        if (c == '{' || c == '[' || c == '(') {
                r->p++;
                return ion_read_container(r, c == '{' ? '}' : c == '[' ? ']' : ')', ret);
        }
        if (c == '"') {
                r->p++;
                rr = ion_quoted_body(r, "\"", &sb);
                if (rr < 0)
                        return rr;
                return ion_string_json(r, &sb, ret);
        }
        if (c == '\'') {
                bool long_string = r->end - r->p >= 3 && memcmp(r->p, "'''", 3) == 0;
                rr = ion_read_name(r, &sb);
                if (rr < 0)
                        return rr;
                /* adjacent long strings are one string */
                while (long_string) {
                        const char *save = r->p;
                        ion_skip_space(r);
                        if (!(r->end - r->p >= 3 && memcmp(r->p, "'''", 3) == 0)) {
                                r->p = save;
                                break;
                        }
                        rr = ion_read_name(r, &sb);
                        if (rr < 0)
                                return rr;
                }
                ion_skip_space(r);
                if (!long_string && r->end - r->p >= 2 && r->p[0] == ':' && r->p[1] == ':') {
                        r->p += 2; /* an annotation: the value follows */
                        return ion_read_value(r, ret);
                }
                return ion_string_json(r, &sb, ret);
        }
        if (ion_ident_start(c)) {
                rr = ion_read_name(r, &sb);
                if (rr < 0)
                        return rr;
                const char *word = strbuf_str(&sb);
                const char *after = r->p;
                ion_skip_space(r);
                if (r->end - r->p >= 2 && r->p[0] == ':' && r->p[1] == ':') {
                        r->p += 2; /* an annotation ("ZonedDateTime::\"...\""): the value follows */
                        return ion_read_value(r, ret);
                }
                r->p = after;
                if (streq(word, "null")) {
                        /* null.int, null.string, ... */
                        if (r->p < r->end && *r->p == '.') {
                                r->p++;
                                while (r->p < r->end && ion_ident_char(*r->p))
                                        r->p++;
                        }
                        *ret = json_null();
                        return 0;
                }
                if (streq(word, "true") || streq(word, "false")) {
                        *ret = json_boolean(streq(word, "true"));
                        return 0;
                }
                if (streq(word, "nan")) {
                        *ret = json_null();
                        return 0;
                }
                return ion_string_json(r, &sb, ret); /* a symbol reads as its text */
        }
        if (isdigit((unsigned char) c) || c == '-' || c == '+')
                return ion_read_number(r, ret);
        return ion_fail(r, "unexpected character");
}

/* fromIon(ion, allRows=false): the first value of Ion text, or all of them as a list. */
int expr_function_from_ion(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret) {
        json_t *text = expr_arg(a, 0, "ion"), *all = expr_arg(a, 1, "allRows");
        if (!text)
                return FAIL("fromIon() needs the argument `ion`");
        if (json_is_null(text)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_string(text))
                return FAIL("fromIon(): argument `ion` must be a string, not a %s", expr_type_name(text));
        if (all && !json_is_boolean(all))
                return FAIL("fromIon(): argument `allRows` must be a boolean, not a %s", expr_type_name(all));

        IonReader r = { json_string_value(text), json_string_value(text) + json_string_length(text), NULL, 0 };
        _cleanup_json_ json_t *rows = json_array();
        if (!rows)
                return -ENOMEM;
        for (;;) {
                ion_skip_space(&r);
                if (r.p >= r.end)
                        break;
                json_t *v = NULL;
                int rr = ion_read_value(&r, &v);
                if (rr == -ENOMEM)
                        return rr;
                if (rr < 0)
                        return FAIL("fromIon(): invalid Ion: %s at offset %zu", r.error ? r.error : "cannot parse",
                                    (size_t) (r.p - json_string_value(text)));
                if (json_array_append_new(rows, v) < 0)
                        return -ENOMEM;
                if (json_array_size(rows) > EXPR_MAX_ITERATIONS)
                        return expr_fail(ev, n, -E2BIG, "fromIon(): more than %u values", EXPR_MAX_ITERATIONS);
                if (!json_is_true(all))
                        break;
        }
        if (json_is_true(all)) {
                *ret = TAKE_PTR(rows);
                return 0;
        }
        *ret = json_incref(json_array_get(rows, 0) ?: json_null());
        return 0;
}

int ion_value_parse(const char *text, size_t len, json_t **ret, const char **ret_why) {
        IonReader r = { text, text + len, NULL, 0 };
        _cleanup_json_ json_t *v = NULL;
        ion_skip_space(&r);
        if (r.p >= r.end) {
                *ret = NULL;
                return 0;
        }
        int rr = ion_read_value(&r, &v);
        if (rr == -ENOMEM)
                return rr;
        if (rr >= 0) {
                ion_skip_space(&r);
                if (r.p < r.end)
                        rr = ion_fail(&r, "more than one value");
        }
        if (rr < 0) {
                *ret_why = r.error ?: "cannot parse";
                return -EINVAL;
        }
        *ret = TAKE_PTR(v);
        return 1;
}

/* expr-value.c: how template values print, compare and convert (Pebble/Kestra conventions on jansson). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "expr-internal.h"

json_t *expr_real(double d) {
        if (!isfinite(d))
                return NULL;
        return json_real(d);
}

bool expr_is_number(json_t *v) {
        return json_is_integer(v) || json_is_real(v);
}

double expr_number(json_t *v) {
        return json_is_integer(v) ? (double) json_integer_value(v) : json_real_value(v);
}

const char *expr_type_name(json_t *v) {
        switch (json_typeof(v)) {
        case JSON_OBJECT: return "map";
        case JSON_ARRAY: return "list";
        case JSON_STRING: return "string";
        case JSON_INTEGER: return "integer";
        case JSON_REAL: return "number";
        case JSON_TRUE:
        case JSON_FALSE: return "boolean";
        case JSON_NULL: return "null";
        }
        return "value";
}

/* Java's Double.toString: shortest digits that read back the same; plain notation for
 * 1e-3 <= |d| < 1e7, else d.dddE±n; always at least one fractional digit. */
int expr_format_double(char buf[static 32], double d) {
        if (isnan(d))
                return snprintf(buf, 32, "NaN");
        if (isinf(d))
                return snprintf(buf, 32, d < 0 ? "-Infinity" : "Infinity");
        if (d == 0)
                return snprintf(buf, 32, signbit(d) ? "-0.0" : "0.0");

        char tmp[40];
        int prec;
        for (prec = 1; prec <= 17; prec++) {
                snprintf(tmp, sizeof tmp, "%.*e", prec - 1, d);
                if (strtod(tmp, NULL) == d)
                        break;
        }
        /* tmp is [-]D[.DDD]e[+-]XX */
        char digits[24];
        size_t nd = 0;
        const char *s = tmp;
        bool neg = *s == '-';
        if (neg)
                s++;
        for (; *s && *s != 'e'; s++)
                if (*s != '.')
                        digits[nd++] = *s;
        digits[nd] = 0;
        int exp10 = atoi(s + 1);
        while (nd > 1 && digits[nd - 1] == '0')
                digits[--nd] = 0;

        char *o = buf;
        if (neg)
                *o++ = '-';
        double a = fabs(d);
        if (a >= 1e-3 && a < 1e7) {
                if (exp10 >= 0) {
                        for (int i = 0; i <= exp10; i++)
                                *o++ = (size_t) i < nd ? digits[i] : '0';
                        *o++ = '.';
                        if ((size_t) exp10 + 1 < nd)
                                for (size_t i = (size_t) exp10 + 1; i < nd; i++)
                                        *o++ = digits[i];
                        else
                                *o++ = '0';
                } else {
                        *o++ = '0';
                        *o++ = '.';
                        for (int i = -1; i > exp10; i--)
                                *o++ = '0';
                        for (size_t i = 0; i < nd; i++)
                                *o++ = digits[i];
                }
                *o = 0;
        } else {
                *o++ = digits[0];
                *o++ = '.';
                if (nd > 1)
                        for (size_t i = 1; i < nd; i++)
                                *o++ = digits[i];
                else
                        *o++ = '0';
                snprintf(o, 32 - (size_t) (o - buf), "E%d", exp10);
        }
        return (int) strlen(buf);
}

static int append_json_string(StrBuf *sb, const char *s, size_t n) {
        strbuf_append_char(sb, '"');
        for (size_t i = 0; i < n; i++) {
                unsigned char c = (unsigned char) s[i];
                switch (c) {
                case '"': strbuf_append(sb, "\\\""); break;
                case '\\': strbuf_append(sb, "\\\\"); break;
                case '\n': strbuf_append(sb, "\\n"); break;
                case '\r': strbuf_append(sb, "\\r"); break;
                case '\t': strbuf_append(sb, "\\t"); break;
                case '\b': strbuf_append(sb, "\\b"); break;
                case '\f': strbuf_append(sb, "\\f"); break;
                default:
                        if (c < 0x20)
                                strbuf_appendf(sb, "\\u%04x", c);
                        else
                                strbuf_append_char(sb, (char) c);
                }
        }
        return strbuf_append_char(sb, '"');
}

/* Compact JSON as Kestra's Jackson writes it (doubles in Java notation). Depth is bounded by the
 * values a template can build, which the parser and jansson bound. */
int expr_append_json(StrBuf *sb, json_t *v) {
        char buf[32];
        switch (json_typeof(v)) {
        case JSON_OBJECT: {
                const char *k;
                json_t *x;
                bool first = true;
                strbuf_append_char(sb, '{');
                json_object_foreach(v, k, x) {
                        if (!first)
                                strbuf_append_char(sb, ',');
                        first = false;
                        append_json_string(sb, k, strlen(k));
                        strbuf_append_char(sb, ':');
                        expr_append_json(sb, x);
                }
                return strbuf_append_char(sb, '}');
        }
        case JSON_ARRAY: {
                size_t i;
                json_t *x;
                strbuf_append_char(sb, '[');
                json_array_foreach(v, i, x) {
                        if (i > 0)
                                strbuf_append_char(sb, ',');
                        expr_append_json(sb, x);
                }
                return strbuf_append_char(sb, ']');
        }
        case JSON_STRING:
                return append_json_string(sb, json_string_value(v), json_string_length(v));
        case JSON_INTEGER:
                return strbuf_appendf(sb, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        case JSON_REAL:
                expr_format_double(buf, json_real_value(v));
                return strbuf_append(sb, buf);
        case JSON_TRUE:
                return strbuf_append(sb, "true");
        case JSON_FALSE:
                return strbuf_append(sb, "false");
        case JSON_NULL:
                return strbuf_append(sb, "null");
        }
        return -EINVAL;
}

int expr_append_value(StrBuf *sb, json_t *v) {
        char buf[32];
        if (!v || json_is_null(v))
                return sb->error;
        switch (json_typeof(v)) {
        case JSON_STRING:
                return strbuf_append_n(sb, json_string_value(v), json_string_length(v));
        case JSON_REAL:
                expr_format_double(buf, json_real_value(v));
                return strbuf_append(sb, buf);
        default:
                return expr_append_json(sb, v);
        }
}

int expr_to_string(json_t *v, char **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        int r = expr_append_value(&sb, v);
        if (r < 0)
                return r;
        char *s = strbuf_steal(&sb);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int expr_value_to_string(json_t *v, char **ret) {
        return expr_to_string(v, ret);
}

bool expr_truthy(json_t *v) {
        switch (json_typeof(v)) {
        case JSON_TRUE: return true;
        case JSON_FALSE:
        case JSON_NULL: return false;
        case JSON_INTEGER: return json_integer_value(v) != 0;
        case JSON_REAL: return json_real_value(v) != 0;
        case JSON_STRING: {
                const char *s = json_string_value(v);
                return *s && strcasecmp(s, "false") != 0;
        }
        case JSON_ARRAY: return json_array_size(v) > 0;
        case JSON_OBJECT: return json_object_size(v) > 0;
        }
        return false;
}

bool expr_equal(json_t *a, json_t *b) {
        if (expr_is_number(a) && expr_is_number(b)) {
                if (json_is_integer(a) && json_is_integer(b))
                        return json_integer_value(a) == json_integer_value(b);
                return expr_number(a) == expr_number(b);
        }
        return json_equal(a, b);
}

int expr_compare(json_t *a, json_t *b, int *ret) {
        if (expr_is_number(a) && expr_is_number(b)) {
                if (json_is_integer(a) && json_is_integer(b)) {
                        json_int_t x = json_integer_value(a), y = json_integer_value(b);
                        *ret = x < y ? -1 : x > y;
                } else {
                        double x = expr_number(a), y = expr_number(b);
                        *ret = x < y ? -1 : x > y;
                }
                return 0;
        }
        if (json_is_string(a) && json_is_string(b)) {
                int c = strcmp(json_string_value(a), json_string_value(b));
                *ret = c < 0 ? -1 : c > 0;
                return 0;
        }
        return -EINVAL;
}

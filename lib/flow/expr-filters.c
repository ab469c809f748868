/* expr-filters.c: the "| filter" library (Pebble's core filters and Kestra's additions). */
#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "expr-filters.h"
#include "strutil.h"

typedef int (*FilterFn)(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);

/* ---- JSON ---- */

static int f_toJson(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        expr_append_json(&sb, in);
        return ret_strbuf(&sb, ret);
}

int expr_parse_json(ExprEval *ev, const ExprNode *n, const char *what, json_t *in, json_t **ret) {
        json_error_t e;
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_string(in))
                return FAIL("`%s` needs a JSON string, not a %s", what, expr_type_name(in));
        *ret = json_loadb(json_string_value(in), json_string_length(in), JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!*ret)
                return FAIL("`%s`: invalid JSON (%s at position %d)", what, e.text, e.position);
        return 0;
}

static int f_fromJson(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        return expr_parse_json(ev, n, n->name, in, ret);
}

/* Kestra's jq: a JSON string input is parsed first; the results come as a list. */
static int f_jq(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_json_ json_t *parsed = NULL;
        _cleanup_free_ char *message = NULL;
        const char *program;
        int r = arg_str(ev, n, a, 0, "expression", NULL, &program);
        if (r < 0)
                return r;
        if (!program)
                return FAIL("Filter `jq` needs an expression");
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        if (json_is_string(in)) {
                json_error_t e;
                parsed = json_loadb(json_string_value(in), json_string_length(in), JSON_DECODE_ANY, &e);
                if (!parsed)
                        return FAIL("Filter `jq`: the input string is not JSON (%s at position %d)", e.text, e.position);
                in = parsed;
        }
        r = expr_jq_run(program, in, ev->ctx->jq_timeout, ev->ctx->jq_max_memory, ret, &message);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return expr_fail(ev, n, r == -ETIME || r == -E2BIG ? -E2BIG : -EINVAL, "Filter `jq`: %s (program \"%s\")",
                                 message ? message : strerror(-r), program);
        return 0;
}

/* ---- collections ---- */

static int f_keys(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_object(in))
                return FAIL("Filter `%s` needs a map, not a %s", n->name, expr_type_name(in));
        _cleanup_json_ json_t *l = json_array();
        const char *k;
        json_t *v;
        if (!l)
                return -ENOMEM;
        bool values = streq(n->name, "values");
        json_object_foreach(in, k, v)
                if ((values ? json_array_append(l, v) : json_array_append_new(l, json_string(k))) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static size_t utf8_length(const char *s, size_t len) {
        size_t n = 0;
        for (size_t i = 0; i < len; i++)
                if (((unsigned char) s[i] & 0xC0) != 0x80)
                        n++;
        return n;
}

static int f_length(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        size_t l;
        if (json_is_string(in))
                l = utf8_length(json_string_value(in), json_string_length(in));
        else if (json_is_array(in))
                l = json_array_size(in);
        else if (json_is_object(in))
                l = json_object_size(in);
        else if (json_is_null(in))
                l = 0;
        else {
                _cleanup_free_ char *s = NULL;
                int r = expr_to_string(in, &s);
                if (r < 0)
                        return r;
                l = strlen(s);
        }
        *ret = json_integer((json_int_t) l);
        return *ret ? 0 : -ENOMEM;
}

static int f_first(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        bool last = streq(n->name, "last");
        if (json_is_array(in)) {
                size_t sz = json_array_size(in);
                *ret = sz ? json_incref(json_array_get(in, last ? sz - 1 : 0)) : json_null();
                return 0;
        }
        if (json_is_string(in)) {
                const char *s = json_string_value(in);
                size_t len = json_string_length(in);
                if (len == 0)
                        return ret_string_n("", 0, ret);
                size_t start = 0, end;
                if (last) {
                        start = len - 1;
                        while (start > 0 && ((unsigned char) s[start] & 0xC0) == 0x80)
                                start--;
                        end = len;
                } else {
                        end = 1;
                        while (end < len && ((unsigned char) s[end] & 0xC0) == 0x80)
                                end++;
                }
                return ret_string_n(s + start, end - start, ret);
        }
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        return FAIL("Filter `%s` needs a list or a string, not a %s", n->name, expr_type_name(in));
}

static bool is_empty(json_t *v) {
        if (!v || json_is_null(v))
                return true;
        if (json_is_string(v)) {
                const char *s = json_string_value(v);
                while (isspace((unsigned char) *s))
                        s++;
                return !*s;
        }
        if (json_is_array(v))
                return json_array_size(v) == 0;
        if (json_is_object(v))
                return json_object_size(v) == 0;
        return false;
}

static int f_default(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        json_t *d;
        int r = need_arg(ev, n, a, 0, "default", &d);
        if (r < 0)
                return r;
        *ret = json_incref(is_empty(in) ? d : in);
        return 0;
}

static int sort_cmp(const void *x, const void *y) {
        json_t *a = *(json_t *const *) x, *b = *(json_t *const *) y;
        int c;
        if (expr_compare(a, b, &c) < 0)
                return (int) json_typeof(a) - (int) json_typeof(b);
        return c;
}

static int f_sort(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_array(in))
                return FAIL("Filter `%s` needs a list, not a %s", n->name, expr_type_name(in));
        size_t sz = json_array_size(in);
        _cleanup_free_ json_t **items = calloc(sz ? sz : 1, sizeof(json_t *));
        if (!items)
                return -ENOMEM;
        for (size_t i = 0; i < sz; i++) {
                items[i] = json_array_get(in, i);
                int c;
                if (i > 0 && expr_compare(items[0], items[i], &c) < 0)
                        return FAIL("Filter `%s`: cannot compare a %s with a %s", n->name, expr_type_name(items[0]),
                                    expr_type_name(items[i]));
        }
        qsort(items, sz, sizeof(json_t *), sort_cmp);
        _cleanup_json_ json_t *l = json_array();
        if (!l)
                return -ENOMEM;
        bool descending = streq(n->name, "rsort");
        for (size_t i = 0; i < sz; i++)
                if (json_array_append(l, items[descending ? sz - 1 - i : i]) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int f_reverse(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        if (json_is_array(in)) {
                _cleanup_json_ json_t *l = json_array();
                if (!l)
                        return -ENOMEM;
                for (size_t i = json_array_size(in); i > 0; i--)
                        if (json_array_append(l, json_array_get(in, i - 1)) < 0)
                                return -ENOMEM;
                *ret = TAKE_PTR(l);
                return 0;
        }
        if (json_is_string(in)) {
                /* reverse by UTF-8 character */
                const char *s = json_string_value(in);
                size_t len = json_string_length(in);
                _cleanup_free_ char *o = malloc(len + 1);
                if (!o)
                        return -ENOMEM;
                size_t w = len;
                for (size_t i = 0; i < len;) {
                        size_t e = i + 1;
                        while (e < len && ((unsigned char) s[e] & 0xC0) == 0x80)
                                e++;
                        w -= e - i;
                        memcpy(o + w, s + i, e - i);
                        i = e;
                }
                return ret_string_n(o, len, ret);
        }
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        return FAIL("Filter `reverse` needs a list or a string, not a %s", expr_type_name(in));
}

static int f_slice(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        int64_t from, to;
        size_t len;
        if (json_is_array(in))
                len = json_array_size(in);
        else if (json_is_string(in))
                len = json_string_length(in);
        else if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        } else
                return FAIL("Filter `slice` needs a list or a string, not a %s", expr_type_name(in));
        int r = arg_int(ev, n, a, 0, "fromIndex", 0, &from);
        if (r < 0)
                return r;
        r = arg_int(ev, n, a, 1, "toIndex", (int64_t) len, &to);
        if (r < 0)
                return r;
        if (from < 0 || to > (int64_t) len || from > to)
                return FAIL("Filter `slice`: indexes %" PRId64 "..%" PRId64 " out of range for length %zu", from, to, len);
        if (json_is_string(in))
                return ret_string_n(json_string_value(in) + from, (size_t) (to - from), ret);
        _cleanup_json_ json_t *l = json_array();
        if (!l)
                return -ENOMEM;
        for (int64_t i = from; i < to; i++)
                if (json_array_append(l, json_array_get(in, (size_t) i)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

static int f_merge(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        json_t *other;
        int r = need_arg(ev, n, a, 0, "items", &other);
        if (r < 0)
                return r;
        if (json_is_object(in) && json_is_object(other)) {
                _cleanup_json_ json_t *m = json_copy(in);
                if (!m || json_object_update(m, other) < 0)
                        return -ENOMEM;
                *ret = TAKE_PTR(m);
                return 0;
        }
        if (json_is_array(in)) {
                _cleanup_json_ json_t *l = json_copy(in);
                if (!l || (json_is_array(other) ? json_array_extend(l, other) : json_array_append(l, other)) < 0)
                        return -ENOMEM;
                *ret = TAKE_PTR(l);
                return 0;
        }
        return FAIL("Filter `merge` needs two maps or a list, got %s and %s", expr_type_name(in), expr_type_name(other));
}

/* Kestra's chunk: the list cut into lists of size items (the last one shorter). */
static int f_chunk(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        json_t *size_arg;
        int r = need_arg(ev, n, a, 0, "size", &size_arg);
        if (r < 0)
                return r;
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_array(in))
                return FAIL("Filter `chunk` needs a list, not a %s", expr_type_name(in));
        if (!expr_is_number(size_arg))
                return FAIL("Filter `chunk`: argument `size` must be a number, not a %s", expr_type_name(size_arg));
        double size = expr_number(size_arg);
        if (!(size >= 1))
                return FAIL("Filter `chunk`: argument `size` must be at least 1");
        _cleanup_json_ json_t *l = json_array();
        if (!l)
                return -ENOMEM;
        size_t sz = json_array_size(in), step = size >= (double) sz ? MAX(sz, (size_t) 1) : (size_t) size;
        for (size_t i = 0; i < sz; i += step) {
                json_t *part = json_array();
                if (!part || json_array_append_new(l, part) < 0)
                        return -ENOMEM;
                for (size_t k = i; k < sz && k < i + step; k++)
                        if (json_array_append(part, json_array_get(in, k)) < 0)
                                return -ENOMEM;
        }
        *ret = TAKE_PTR(l);
        return 0;
}

/* Kestra's flatten: one level of nested lists. */
static int f_flatten(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_array(in))
                return FAIL("Filter `flatten` needs a list, not a %s", expr_type_name(in));
        _cleanup_json_ json_t *l = json_array();
        size_t i;
        json_t *x;
        if (!l)
                return -ENOMEM;
        json_array_foreach(in, i, x)
                if ((json_is_array(x) ? json_array_extend(l, x) : json_array_append(l, x)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

/* Kestra's distinct: the list without repeated items, in their first order. */
static int f_distinct(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_array(in))
                return FAIL("Filter `distinct` needs a list, not a %s", expr_type_name(in));
        _cleanup_json_ json_t *l = json_array();
        size_t i, j;
        json_t *x, *y;
        if (!l)
                return -ENOMEM;
        uint64_t compared = 0;
        json_array_foreach(in, i, x) {
                bool seen = false;
                /* quadratic: the comparisons count against the loop budget, 64 to a turn */
                compared += json_array_size(l);
                if (ev->iterations + compared / 64 > EXPR_MAX_ITERATIONS)
                        return expr_fail(ev, n, -E2BIG, "Filter `distinct`: list too large");
                json_array_foreach(l, j, y)
                        if (expr_equal(x, y)) {
                                seen = true;
                                break;
                        }
                if (!seen && json_array_append(l, x) < 0)
                        return -ENOMEM;
        }
        ev->iterations += compared / 64;
        *ret = TAKE_PTR(l);
        return 0;
}

/* ---- numbers ---- */

static int to_number(ExprEval *ev, const ExprNode *n, json_t *in, json_t **ret) {
        if (expr_is_number(in)) {
                *ret = json_incref(in);
                return 0;
        }
        if (json_is_string(in)) {
                _cleanup_free_ char *s = strdup(json_string_value(in));
                int64_t i;
                double d;
                if (!s)
                        return -ENOMEM;
                char *t = strstrip(s);
                if (safe_atoi64(t, &i) >= 0) {
                        *ret = json_integer(i);
                        return *ret ? 0 : -ENOMEM;
                }
                if (safe_atod(t, &d) >= 0 && isfinite(d)) {
                        *ret = json_real(d);
                        return *ret ? 0 : -ENOMEM;
                }
                return FAIL("Filter `%s`: \"%s\" is not a number", n->name, json_string_value(in));
        }
        if (json_is_boolean(in)) {
                *ret = json_integer(json_is_true(in));
                return *ret ? 0 : -ENOMEM;
        }
        return FAIL("Filter `%s` needs a number, not a %s", n->name, expr_type_name(in));
}

static int f_number(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_json_ json_t *v = NULL;
        const char *type;
        int r = arg_str(ev, n, a, 0, "type", NULL, &type);
        if (r < 0)
                return r;
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        r = to_number(ev, n, in, &v);
        if (r < 0)
                return r;
        if (type && (strcasecmp(type, "INT") == 0 || strcasecmp(type, "LONG") == 0 || strcasecmp(type, "BIGINTEGER") == 0)) {
                if (json_is_real(v)) {
                        double d = json_real_value(v);
                        if (!(fabs(d) < 9.2e18))
                                return FAIL("Filter `number`: %g does not fit an integer", d);
                        *ret = json_integer((json_int_t) d);
                        return *ret ? 0 : -ENOMEM;
                }
        } else if (type && (strcasecmp(type, "FLOAT") == 0 || strcasecmp(type, "DOUBLE") == 0 || strcasecmp(type, "BIGDECIMAL") == 0)) {
                *ret = json_real(expr_number(v));
                return *ret ? 0 : -ENOMEM;
        } else if (type)
                return FAIL("Filter `number`: unknown type \"%s\" (INT, LONG, FLOAT, DOUBLE, BIGDECIMAL, BIGINTEGER)", type);
        *ret = TAKE_PTR(v);
        return 0;
}

static int f_abs(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_json_ json_t *v = NULL;
        int r = to_number(ev, n, in, &v);
        if (r < 0)
                return r;
        if (json_is_integer(v)) {
                json_int_t i = json_integer_value(v);
                if (i == INT64_MIN)
                        return expr_fail(ev, n, -ERANGE, "Filter `abs`: integer overflow");
                *ret = json_integer(i < 0 ? -i : i);
        } else
                *ret = json_real(fabs(json_real_value(v)));
        return *ret ? 0 : -ENOMEM;
}

static int f_round(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_json_ json_t *v = NULL;
        int64_t prec;
        int r = arg_int(ev, n, a, 0, "precision", 0, &prec);
        if (r < 0)
                return r;
        if (prec < 0 || prec > 15)
                return FAIL("Filter `round`: precision must be between 0 and 15");
        r = to_number(ev, n, in, &v);
        if (r < 0)
                return r;
        if (json_is_integer(v)) {
                *ret = TAKE_PTR(v);
                return 0;
        }
        double d = json_real_value(v), m = pow(10, (double) prec);
        double x = round(d * m) / m; /* half away from zero */
        if (prec == 0 && fabs(x) < 9.2e18)
                *ret = json_integer((json_int_t) x);
        else
                *ret = expr_real(x);
        return *ret ? 0 : -ENOMEM;
}

/* DecimalFormat subset: "#,##0.00": grouping, minimum/maximum fraction digits. */
static int f_numberFormat(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_json_ json_t *v = NULL;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        const char *fmt;
        int r = arg_str(ev, n, a, 0, "format", NULL, &fmt);
        if (r < 0)
                return r;
        if (!fmt)
                return FAIL("Filter `%s` needs a format like \"#,##0.00\"", n->name);
        r = to_number(ev, n, in, &v);
        if (r < 0)
                return r;
        const char *dot = strchr(fmt, '.');
        int min_frac = 0, max_frac = 0;
        bool grouping = strchr(fmt, ',') && (!dot || strchr(fmt, ',') < dot);
        for (const char *p = dot ? dot + 1 : ""; *p; p++)
                if (*p == '0') {
                        min_frac++;
                        max_frac++;
                } else if (*p == '#')
                        max_frac++;
        char buf[512];
        snprintf(buf, sizeof buf, "%.*f", max_frac, expr_number(v));
        char *frac = strchr(buf, '.');
        if (frac) {
                *frac++ = 0;
                size_t fl = strlen(frac);
                while ((int) fl > min_frac && frac[fl - 1] == '0')
                        frac[--fl] = 0;
        }
        const char *ip = buf;
        if (*ip == '-') {
                strbuf_append_char(&sb, '-');
                ip++;
        }
        size_t il = strlen(ip);
        for (size_t i = 0; i < il; i++) {
                strbuf_append_char(&sb, ip[i]);
                if (grouping && (il - i - 1) % 3 == 0 && i + 1 < il)
                        strbuf_append_char(&sb, ',');
        }
        if (frac && *frac)
                strbuf_appendf(&sb, ".%s", frac);
        return ret_strbuf(&sb, ret);
}

/* ---- dates ---- */

static int date_in(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, ExprDate *d) {
        const char *existing, *zone;
        int r = arg_str(ev, n, a, 99, "existingFormat", NULL, &existing);
        if (r < 0)
                return r;
        r = arg_str(ev, n, a, 99, "timeZone", NULL, &zone);
        if (r < 0)
                return r;
        r = expr_date_from_value(in, existing, d);
        if (r == -EOPNOTSUPP)
                return FAIL("Filter `%s`: unsupported letters in the format \"%s\"", n->name, existing);
        if (r < 0) {
                _cleanup_free_ char *s = NULL;
                (void) expr_to_string(in, &s);
                return FAIL("Filter `%s`: cannot read \"%s\" as a date%s%s", n->name, strempty(s),
                            existing ? " with the format " : "", strempty(existing));
        }
        if (zone) {
                int off;
                if (expr_parse_zone(zone, &off) < 0)
                        return FAIL("Filter `%s`: unsupported time zone \"%s\" (use UTC or an offset like +02:00)", n->name, zone);
                d->offset_sec = off;
        }
        return 0;
}

static int date_out(ExprEval *ev, const ExprNode *n, const ExprDate *d, const char *fmt, json_t **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        int r = expr_date_format(d, fmt, &sb);
        if (r == -EOPNOTSUPP)
                return FAIL("Filter `%s`: unsupported letters in the format \"%s\"", n->name, fmt);
        if (r < 0)
                return r == -ERANGE ? FAIL("Filter `%s`: date out of range", n->name) : r;
        if (!sb.buf)
                return ret_string_n("", 0, ret);
        return ret_strbuf(&sb, ret);
}

static int f_date(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        ExprDate d;
        const char *fmt;
        int r = arg_str(ev, n, a, 0, "format", "iso", &fmt);
        if (r < 0)
                return r;
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        r = date_in(ev, n, in, a, &d);
        if (r < 0)
                return r;
        return date_out(ev, n, &d, fmt, ret);
}

static int f_dateAdd(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        static const struct {
                const char *unit;
                int64_t usec;
        } units[] = {
                { "NANOS", 0 },  { "MICROS", 1 },
                { "MILLIS", USEC_PER_MSEC },  { "SECONDS", USEC_PER_SEC },
                { "MINUTES", USEC_PER_MINUTE }, { "HOURS", USEC_PER_HOUR },
                { "HALF_DAYS", 12 * USEC_PER_HOUR }, { "DAYS", USEC_PER_DAY },
                { "WEEKS", USEC_PER_WEEK },  { "MONTHS", -1 },
                { "YEARS", -12 }, { "DECADES", -120 },
                { "CENTURIES", -1200 }, { "MILLENNIA", -12000 },
        };
        ExprDate d;
        int64_t amount;
        const char *unit, *fmt;
        int r = arg_int(ev, n, a, 0, "amount", INT64_MIN, &amount);
        if (r < 0)
                return r;
        r = arg_str(ev, n, a, 1, "unit", NULL, &unit);
        if (r < 0)
                return r;
        if (amount == INT64_MIN || !unit)
                return FAIL("Filter `dateAdd` needs an amount and a unit, like dateAdd(-1, 'DAYS')");
        r = arg_str(ev, n, a, 99, "format", "iso", &fmt);
        if (r < 0)
                return r;
        r = date_in(ev, n, in, a, &d);
        if (r < 0)
                return r;
        size_t i;
        for (i = 0; i < ELEMENTSOF(units); i++)
                if (strcasecmp(unit, units[i].unit) == 0)
                        break;
        if (i == ELEMENTSOF(units))
                return FAIL("Filter `dateAdd`: unknown unit \"%s\" (SECONDS, MINUTES, HOURS, DAYS, WEEKS, MONTHS, YEARS, ...)", unit);
        if (units[i].usec >= 0) {
                int64_t delta;
                if (units[i].usec == 0)
                        delta = amount / 1000;
                else if (__builtin_mul_overflow(amount, units[i].usec, &delta))
                        return FAIL("Filter `dateAdd`: amount out of range");
                if (__builtin_add_overflow(d.usec, delta, &d.usec))
                        return FAIL("Filter `dateAdd`: date out of range");
        } else {
                /* calendar months in the date's own offset, the day clamped to the month's length */
                int64_t months;
                if (__builtin_mul_overflow(amount, -units[i].usec, &months) || months > 12 * 100000 || months < -12 * 100000)
                        return FAIL("Filter `dateAdd`: amount out of range");
                int64_t local = d.usec + (int64_t) d.offset_sec * (int64_t) USEC_PER_SEC;
                int64_t days = local >= 0 ? local / (int64_t) USEC_PER_DAY : -((-local + (int64_t) USEC_PER_DAY - 1) / (int64_t) USEC_PER_DAY);
                int64_t rest = local - days * (int64_t) USEC_PER_DAY;
                int64_t y;
                unsigned m, dd;
                civil_from_days(days, &y, &m, &dd);
                int64_t total = y * 12 + (m - 1) + months;
                y = total >= 0 ? total / 12 : -((-total + 11) / 12);
                m = (unsigned) (total - y * 12) + 1;
                dd = MIN(dd, days_in_month(y, m));
                d.usec = days_from_civil(y, m, dd) * (int64_t) USEC_PER_DAY + rest - (int64_t) d.offset_sec * (int64_t) USEC_PER_SEC;
        }
        return date_out(ev, n, &d, fmt, ret);
}

static int f_timestamp(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        ExprDate d;
        int r = date_in(ev, n, in, a, &d);
        if (r < 0)
                return r;
        int64_t v;
        if (streq(n->name, "timestampMilli"))
                v = d.usec / (int64_t) USEC_PER_MSEC;
        else if (streq(n->name, "timestampMicro"))
                v = d.usec;
        else if (streq(n->name, "timestampNano")) {
                if (__builtin_mul_overflow(d.usec, 1000, &v))
                        return FAIL("Filter `timestampNano`: date out of range");
        } else
                v = d.usec >= 0 ? d.usec / (int64_t) USEC_PER_SEC : -((-d.usec + (int64_t) USEC_PER_SEC - 1) / (int64_t) USEC_PER_SEC);
        *ret = json_integer(v);
        return *ret ? 0 : -ENOMEM;
}

static int f_className(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        const char *c;
        switch (json_typeof(in)) {
        case JSON_STRING: c = "java.lang.String"; break;
        case JSON_INTEGER: c = json_integer_value(in) >= INT32_MIN && json_integer_value(in) <= INT32_MAX ? "java.lang.Integer" : "java.lang.Long"; break;
        case JSON_REAL: c = "java.lang.Double"; break;
        case JSON_TRUE:
        case JSON_FALSE: c = "java.lang.Boolean"; break;
        case JSON_ARRAY: c = "java.util.ArrayList"; break;
        case JSON_OBJECT: c = "java.util.LinkedHashMap"; break;
        default: *ret = json_null(); return 0;
        }
        return ret_string_n(c, strlen(c), ret);
}

static const struct {
        const char *name;
        FilterFn fn;
        bool lenient;
} filters[] = {
        { "abbreviate", expr_filter_abbreviate, false },
        { "abs", f_abs, false },
        { "base64decode", expr_filter_base64decode, false },
        { "base64encode", expr_filter_base64encode, false },
        { "capitalize", expr_filter_capitalize, false },
        { "chunk", f_chunk, false },
        { "className", f_className, false },
        { "date", f_date, false },
        { "dateAdd", f_dateAdd, false },
        { "default", f_default, true },
        { "distinct", f_distinct, false },
        { "endsWith", expr_filter_ends_with, false },
        { "escape", expr_filter_escape, false },
        { "escapeChar", expr_filter_escape_char, false },
        { "first", f_first, false },
        { "flatten", f_flatten, false },
        { "fromJson", f_fromJson, false },
        { "indent", expr_filter_indent, false },
        { "join", expr_filter_join, false },
        { "jq", f_jq, false },
        { "json", f_toJson, false },
        { "keys", f_keys, false },
        { "last", f_first, false },
        { "length", f_length, false },
        { "lower", expr_filter_lower, false },
        { "md5", expr_filter_md5, false },
        { "merge", f_merge, false },
        { "nindent", expr_filter_nindent, false },
        { "number", f_number, false },
        { "numberFormat", f_numberFormat, false },
        { "numberformat", f_numberFormat, false },
        { "raw", expr_filter_raw, false },
        { "replace", expr_filter_replace, false },
        { "reverse", f_reverse, false },
        { "round", f_round, false },
        { "rsort", f_sort, false },
        { "sha1", expr_filter_sha1, false },
        { "sha256", expr_filter_sha256, false },
        { "sha512", expr_filter_sha512, false },
        { "slice", f_slice, false },
        { "slugify", expr_filter_slugify, false },
        { "sort", f_sort, false },
        { "split", expr_filter_split, false },
        { "startsWith", expr_filter_starts_with, false },
        { "string", expr_filter_string, false },
        { "substringAfter", expr_filter_substring_after, false },
        { "substringAfterLast", expr_filter_substring_after_last, false },
        { "substringBefore", expr_filter_substring_before, false },
        { "substringBeforeLast", expr_filter_substring_before_last, false },
        { "timestamp", f_timestamp, false },
        { "timestampMicro", f_timestamp, false },
        { "timestampMilli", f_timestamp, false },
        { "timestampNano", f_timestamp, false },
        { "title", expr_filter_title, false },
        { "toIon", expr_filter_to_ion, false },
        { "toJson", f_toJson, false },
        { "trim", expr_filter_trim, false },
        { "upper", expr_filter_upper, false },
        { "urldecode", expr_filter_urldecode, false },
        { "urlencode", expr_filter_urlencode, false },
        { "values", f_keys, false },
        { "yaml", expr_filter_yaml, false },
};

/* The index of the filter called name, or -ENOENT. */
static int filter_find(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(filters); i++)
                if (streq(filters[i].name, name))
                        return (int) i;
        return -ENOENT;
}

bool expr_filter_exists(const char *name) {
        return filter_find(name) >= 0;
}

const char *expr_filter_suggest(const char *name) {
        const char *names[ELEMENTSOF(filters)];
        for (size_t k = 0; k < ELEMENTSOF(filters); k++)
                names[k] = filters[k].name;
        return expr_suggest(name, names, ELEMENTSOF(filters));
}

const char *expr_filter_name(size_t i) {
        return i < ELEMENTSOF(filters) ? filters[i].name : NULL;
}

bool expr_filter_is_lenient(const char *name) {
        int i = filter_find(name);
        return i >= 0 && filters[i].lenient;
}

const char *expr_suggest(const char *s, const char *const *names, size_t count) {
        const char *best = NULL;
        size_t best_d = 3;
        for (size_t i = 0; i < count; i++) {
                size_t d = str_edit_distance(s, names[i], 2);
                if (d < best_d) {
                        best = names[i];
                        best_d = d;
                }
        }
        return best;
}

int expr_apply_filter(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *args, json_t **ret) {
        int i = filter_find(n->name);
        if (i < 0) {
                const char *hint = expr_filter_suggest(n->name);
                if (hint)
                        return FAIL("Unknown filter `%s`, did you mean `%s`?", n->name, hint);
                return FAIL("Unknown filter `%s`", n->name);
        }
        *ret = NULL;
        return filters[i].fn(ev, n, in ? in : json_null(), args, ret);
}

/* ---- tests: "x is defined", "x is not empty", ... ---- */

static const char *const tests[] = { "defined", "null", "empty", "even", "odd", "iterable", "map", "divisibleBy", "divisibleby",
                                     "startsWith", "endsWith", "json" };

bool expr_test_exists(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(tests); i++)
                if (streq(tests[i], name))
                        return true;
        return false;
}

const char *expr_test_name(size_t i) {
        return i < ELEMENTSOF(tests) ? tests[i] : NULL;
}

const char *expr_test_suggest(const char *name) {
        return expr_suggest(name, tests, ELEMENTSOF(tests));
}

int expr_apply_test(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *args, bool *ret) {
        const char *t = n->name;
        if (streq(t, "defined")) {
                *ret = in != NULL;
                return 0;
        }
        if (streq(t, "null")) {
                *ret = !in || json_is_null(in);
                return 0;
        }
        if (streq(t, "empty")) {
                *ret = is_empty(in);
                return 0;
        }
        if (streq(t, "even") || streq(t, "odd")) {
                if (!json_is_integer(in))
                        return FAIL("Test `%s` needs an integer, not a %s", t, expr_type_name(in));
                *ret = (json_integer_value(in) % 2 == 0) == streq(t, "even");
                return 0;
        }
        if (streq(t, "iterable")) {
                *ret = json_is_array(in) || json_is_object(in);
                return 0;
        }
        if (streq(t, "map")) {
                *ret = json_is_object(in);
                return 0;
        }
        if (streq(t, "divisibleBy") || streq(t, "divisibleby")) {
                json_t *d = expr_arg(args, 0, "divisor");
                if (!json_is_integer(in) || !json_is_integer(d) || json_integer_value(d) == 0)
                        return FAIL("Test `%s` needs an integer and a non-zero integer divisor", t);
                *ret = json_integer_value(d) == -1 || json_integer_value(in) % json_integer_value(d) == 0;
                return 0;
        }
        if (streq(t, "json")) {
                /* Kestra's: a list or map, or a string that parses as JSON */
                _cleanup_json_ json_t *parsed = NULL;
                if (json_is_string(in))
                        parsed = json_loadb(json_string_value(in), json_string_length(in), JSON_DECODE_ANY, NULL);
                *ret = json_is_array(in) || json_is_object(in) || parsed;
                return 0;
        }
        if (streq(t, "startsWith") || streq(t, "endsWith")) {
                json_t *v = NULL;
                int r = expr_filter_affix(ev, n, in, args, streq(t, "endsWith"), &v);
                if (r < 0)
                        return r;
                *ret = json_is_true(v);
                json_decref(v);
                return 0;
        }
        const char *hint = expr_test_suggest(t);
        if (hint)
                return FAIL("Unknown test `%s`, did you mean `%s`?", t, hint);
        return FAIL("Unknown test `%s`", t);
}

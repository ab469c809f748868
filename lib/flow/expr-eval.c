/* expr-eval.c: evaluates parsed templates against JSON variables, within bounded time and memory. */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "expr-internal.h"
#include "strutil.h"

/* Values built by templates nest at most this deep, so printing and freeing them cannot exhaust the stack. */
#define EXPR_MAX_VALUE_DEPTH 512

void expr_error_done(ExprError *e) {
        if (!e)
                return;
        free(e->message);
        *e = (ExprError) {};
}

void expr_set_error(ExprError *err, unsigned line, unsigned column, const char *fmt, ...) {
        va_list ap;
        char *m = NULL;

        if (!err || err->message)
                return; /* the innermost failure explains best; keep it */
        va_start(ap, fmt);
        if (vasprintf(&m, fmt, ap) < 0)
                m = NULL;
        va_end(ap);
        err->message = m;
        err->line = line;
        err->column = column;
}

static int fail_v(ExprEval *ev, const ExprNode *n, int r, const char *joiner, const char *fmt, va_list ap) _printf_(5, 0);
static int fail_v(ExprEval *ev, const ExprNode *n, int r, const char *joiner, const char *fmt, va_list ap) {
        _cleanup_free_ char *what = NULL;

        if (r == -ENOMEM || !ev->err || ev->err->message)
                return r;
        if (vasprintf(&what, fmt, ap) < 0)
                return -ENOMEM;
        if (n->stmt_src)
                expr_set_error(ev->err, n->line, n->column, "%s %s the expression `%.*s` at line %u, column %u", what, joiner,
                               (int) MIN(n->stmt_len, (size_t) 200), n->stmt_src, n->line, n->column);
        else
                expr_set_error(ev->err, n->line, n->column, "%s at line %u, column %u", what, n->line, n->column);
        return r;
}

int expr_fail(ExprEval *ev, const ExprNode *n, int r, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        r = fail_v(ev, n, r, "in", fmt, ap);
        va_end(ap);
        return r;
}

static int fail_undefined(ExprEval *ev, const ExprNode *n, const char *path) {
        _cleanup_free_ char *what = strdup_printf("Unable to find `%s`", path);
        if (!what)
                return -ENOMEM;
        /* wording as Kestra's: "Unable to find `x` used in the expression `{{ x }}` at line 1" */
        if (!ev->err || ev->err->message)
                return -EINVAL;
        expr_set_error(ev->err, n->line, n->column, "%s used in the expression `%.*s` at line %u, column %u", what,
                       (int) MIN(n->stmt_len, (size_t) 200), strempty(n->stmt_src), n->line, n->column);
        return -EINVAL;
}

bool expr_has_template(const char *s) {
        return s && (strstr(s, "{{") || strstr(s, "{%"));
}

/* "a.b['c'][0]" for messages about missing variables. */
static void describe_path(const ExprNode *n, StrBuf *sb) {
        switch (n->type) {
        case EXPR_NODE_VAR:
                strbuf_append(sb, n->name);
                return;
        case EXPR_NODE_ATTR:
                describe_path(n->children[0], sb);
                strbuf_appendf(sb, ".%s", n->name);
                return;
        case EXPR_NODE_INDEX:
                describe_path(n->children[0], sb);
                if (n->children[1]->type == EXPR_NODE_LITERAL && json_is_string(n->children[1]->value))
                        strbuf_appendf(sb, "['%s']", json_string_value(n->children[1]->value));
                else if (n->children[1]->type == EXPR_NODE_LITERAL)
                        strbuf_appendf(sb, "[%" JSON_INTEGER_FORMAT "]", json_integer_value(n->children[1]->value));
                else
                        strbuf_append(sb, "[...]");
                return;
        case EXPR_NODE_CALL:
                strbuf_appendf(sb, "%s(...)", n->name);
                return;
        default:
                strbuf_append(sb, "(...)");
        }
}

static int fail_missing(ExprEval *ev, const ExprNode *n) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        describe_path(n, &sb);
        if (sb.error)
                return -ENOMEM;
        return fail_undefined(ev, n, sb.buf);
}

static json_t *lookup(ExprEval *ev, const char *name) {
        for (size_t i = ev->n_scopes; i > ev->scope_base; i--) {
                json_t *v = json_object_get(ev->scopes[i - 1], name);
                if (v)
                        return v;
        }
        /* as Pebble's macros: their arguments only, not the template's variables */
        if (ev->scope_base > 0)
                return NULL;
        return json_object_get(ev->ctx->variables, name);
}

static int scope_push(ExprEval *ev) {
        if (ev->n_scopes == ev->cap_scopes) {
                size_t cap = ev->cap_scopes ? ev->cap_scopes * 2 : 8;
                json_t **s = reallocarray(ev->scopes, cap, sizeof(json_t *));
                if (!s)
                        return -ENOMEM;
                ev->scopes = s;
                ev->cap_scopes = cap;
        }
        json_t *o = json_object();
        if (!o)
                return -ENOMEM;
        ev->scopes[ev->n_scopes++] = o;
        return 0;
}

static void scope_pop(ExprEval *ev) {
        json_decref(ev->scopes[--ev->n_scopes]);
}

/* How deep a value nests, stopping early past the limit. */
static size_t value_depth(json_t *v, size_t limit) {
        size_t d = 0, i;
        const char *k;
        json_t *x;
        if (limit == 0)
                return 1;
        if (json_is_array(v)) {
                json_array_foreach(v, i, x)
                        if (json_is_array(x) || json_is_object(x)) {
                                size_t sub = value_depth(x, limit - 1);
                                d = MAX(d, sub);
                        }
        } else if (json_is_object(v)) {
                json_object_foreach(v, k, x)
                        if (json_is_array(x) || json_is_object(x)) {
                                size_t sub = value_depth(x, limit - 1);
                                d = MAX(d, sub);
                        }
        } else
                return 0;
        return d + 1;
}

static int check_value_depth(ExprEval *ev, const ExprNode *n, json_t *v) {
        if (value_depth(v, EXPR_MAX_VALUE_DEPTH) > EXPR_MAX_VALUE_DEPTH)
                return expr_fail(ev, n, -E2BIG, "Value nested too deeply (more than %d levels)", EXPR_MAX_VALUE_DEPTH);
        return 0;
}

/* Count the work done building large values, so that loops cannot grow them without bound. */
static int charge(ExprEval *ev, const ExprNode *n, json_t *v) {
        size_t cost = 1;
        if (json_is_string(v))
                cost += json_string_length(v);
        else if (json_is_array(v))
                cost += json_array_size(v);
        else if (json_is_object(v))
                cost += json_object_size(v);
        if ((json_is_array(v) || json_is_object(v)) && cost - 1 > EXPR_MAX_ITERATIONS)
                return expr_fail(ev, n, -E2BIG, "List or map larger than %u items", EXPR_MAX_ITERATIONS);
        if (json_is_string(v) && json_string_length(v) > EXPR_MAX_OUTPUT)
                return expr_fail(ev, n, -E2BIG, "String longer than %u bytes", EXPR_MAX_OUTPUT);
        if (cost > ev->output_budget)
                return expr_fail(ev, n, -E2BIG, "Template evaluation too large (work limit reached)");
        ev->output_budget -= cost;
        return 0;
}

static int eval_attr(ExprEval *ev, const ExprNode *n, bool lenient, json_t **ret) {
        _cleanup_json_ json_t *obj = NULL, *key = NULL;
        int r;

        r = expr_eval_node(ev, n->children[0], lenient, &obj);
        if (r < 0)
                return r;
        if (!obj) {
                *ret = NULL;
                return 0;
        }
        if (n->type == EXPR_NODE_ATTR) {
                key = json_string(n->name);
                if (!key)
                        return -ENOMEM;
        } else {
                r = expr_eval_node(ev, n->children[1], false, &key);
                if (r < 0)
                        return r;
        }

        json_t *v = NULL;
        if (json_is_object(obj)) {
                if (json_is_string(key))
                        v = json_object_get(obj, json_string_value(key));
                else if (json_is_integer(key)) {
                        char buf[32];
                        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(key));
                        v = json_object_get(obj, buf);
                } else
                        return expr_fail(ev, n, -EINVAL, "A map key must be a string, not a %s", expr_type_name(key));
        } else if (json_is_array(obj)) {
                json_int_t i;
                if (json_is_integer(key))
                        i = json_integer_value(key);
                else if (json_is_string(key) && safe_atoi64(json_string_value(key), &(int64_t) { 0 }) >= 0) {
                        int64_t x;
                        (void) safe_atoi64(json_string_value(key), &x);
                        i = x;
                } else if (json_is_string(key) && (streq(json_string_value(key), "size") || streq(json_string_value(key), "length"))) {
                        *ret = json_integer((json_int_t) json_array_size(obj));
                        return *ret ? 0 : -ENOMEM;
                } else
                        return expr_fail(ev, n, -EINVAL, "A list index must be an integer, not a %s", expr_type_name(key));
                if (i < 0)
                        i += (json_int_t) json_array_size(obj);
                if (i >= 0)
                        v = json_array_get(obj, (size_t) i);
        } else if (!json_is_null(obj) && !lenient) {
                _cleanup_free_ char *ks = NULL;
                r = expr_to_string(key, &ks);
                if (r < 0)
                        return r;
                return expr_fail(ev, n, -EINVAL, "Cannot read `%s` of a %s", ks, expr_type_name(obj));
        }

        if (!v) {
                if (lenient) {
                        *ret = NULL;
                        return 0;
                }
                return fail_missing(ev, n);
        }
        *ret = json_incref(v);
        return 0;
}

static int eval_arith(ExprEval *ev, const ExprNode *n, int op, json_t *a, json_t *b, json_t **ret) {
        static const char *const names[] = {
                [EXPR_OP_ADD] = "+", [EXPR_OP_SUB] = "-", [EXPR_OP_MUL] = "*", [EXPR_OP_DIV] = "/", [EXPR_OP_MOD] = "%",
        };

        if (!expr_is_number(a) || !expr_is_number(b))
                return expr_fail(ev, n, -EINVAL, "Operator `%s` needs numbers, got %s and %s", names[op], expr_type_name(a),
                                 expr_type_name(b));
        if (json_is_integer(a) && json_is_integer(b)) {
                json_int_t x = json_integer_value(a), y = json_integer_value(b), z;
                bool overflow = false;
                switch (op) {
                case EXPR_OP_ADD: overflow = __builtin_add_overflow(x, y, &z); break;
                case EXPR_OP_SUB: overflow = __builtin_sub_overflow(x, y, &z); break;
                case EXPR_OP_MUL: overflow = __builtin_mul_overflow(x, y, &z); break;
                case EXPR_OP_DIV:
                case EXPR_OP_MOD:
                        if (y == 0)
                                return expr_fail(ev, n, -EINVAL, "Division by zero");
                        if (x == LLONG_MIN && y == -1) {
                                overflow = op == EXPR_OP_DIV;
                                z = 0;
                        } else
                                z = op == EXPR_OP_DIV ? x / y : x % y;
                        break;
                default: return -EINVAL;
                }
                if (overflow)
                        return expr_fail(ev, n, -ERANGE, "Integer overflow in `%s`", names[op]);
                *ret = json_integer(z);
                return *ret ? 0 : -ENOMEM;
        }
        double x = expr_number(a), y = expr_number(b), z;
        switch (op) {
        case EXPR_OP_ADD: z = x + y; break;
        case EXPR_OP_SUB: z = x - y; break;
        case EXPR_OP_MUL: z = x * y; break;
        case EXPR_OP_DIV:
        case EXPR_OP_MOD:
                if (y == 0)
                        return expr_fail(ev, n, -EINVAL, "Division by zero");
                z = op == EXPR_OP_DIV ? x / y : fmod(x, y);
                break;
        default: return -EINVAL;
        }
        if (!isfinite(z))
                return expr_fail(ev, n, -ERANGE, "Number out of range in `%s`", names[op]);
        *ret = json_real(z);
        return *ret ? 0 : -ENOMEM;
}

static int eval_binary(ExprEval *ev, const ExprNode *n, json_t **ret) {
        _cleanup_json_ json_t *a = NULL, *b = NULL;
        int r, c;

        r = expr_eval_node(ev, n->children[0], false, &a);
        if (r < 0)
                return r;
        r = expr_eval_node(ev, n->children[1], false, &b);
        if (r < 0)
                return r;

        switch (n->op) {
        case EXPR_OP_EQ:
        case EXPR_OP_NE:
                *ret = json_boolean(expr_equal(a, b) == (n->op == EXPR_OP_EQ));
                return 0;
        case EXPR_OP_LT:
        case EXPR_OP_GT:
        case EXPR_OP_LE:
        case EXPR_OP_GE:
                if (expr_compare(a, b, &c) < 0)
                        return expr_fail(ev, n, -EINVAL, "Cannot compare a %s with a %s", expr_type_name(a), expr_type_name(b));
                *ret = json_boolean(n->op == EXPR_OP_LT ? c < 0 : n->op == EXPR_OP_GT ? c > 0 : n->op == EXPR_OP_LE ? c <= 0 : c >= 0);
                return 0;
        case EXPR_OP_ADD:
                if (json_is_array(a)) {
                        _cleanup_json_ json_t *l = json_copy(a);
                        if (!l)
                                return -ENOMEM;
                        if (json_is_array(b) ? json_array_extend(l, b) < 0 : json_array_append(l, b) < 0)
                                return -ENOMEM;
                        r = charge(ev, n, l);
                        if (r < 0)
                                return r;
                        r = check_value_depth(ev, n, l);
                        if (r < 0)
                                return r;
                        *ret = TAKE_PTR(l);
                        return 0;
                }
                if (json_is_string(a) || json_is_string(b))
                        goto concat;
                __attribute__((fallthrough));
        case EXPR_OP_SUB:
        case EXPR_OP_MUL:
        case EXPR_OP_DIV:
        case EXPR_OP_MOD:
                return eval_arith(ev, n, n->op, a, b, ret);
        case EXPR_OP_CONCAT:
        concat: {
                _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
                expr_append_value(&sb, a);
                expr_append_value(&sb, b);
                if (sb.error)
                        return sb.error;
                json_t *s = json_stringn_nocheck(strbuf_str(&sb), sb.len);
                if (!s)
                        return -ENOMEM;
                r = charge(ev, n, s);
                if (r < 0) {
                        json_decref(s);
                        return r;
                }
                *ret = s;
                return 0;
        }
        case EXPR_OP_RANGE: {
                if (!json_is_integer(a) || !json_is_integer(b))
                        return expr_fail(ev, n, -EINVAL, "Range `..` needs integers, got %s and %s", expr_type_name(a),
                                         expr_type_name(b));
                return expr_range(ev, n, json_integer_value(a), json_integer_value(b), 1, ret);
        }
        case EXPR_OP_CONTAINS:
                if (json_is_array(a)) {
                        size_t i;
                        json_t *x;
                        bool found = false;
                        /* Pebble: a list contains a list when it contains all of its items */
                        if (json_is_array(b)) {
                                size_t j;
                                json_t *y;
                                found = true;
                                json_array_foreach(b, j, y) {
                                        bool f = false;
                                        json_array_foreach(a, i, x)
                                                if (expr_equal(x, y)) {
                                                        f = true;
                                                        break;
                                                }
                                        if (!f) {
                                                found = false;
                                                break;
                                        }
                                }
                        } else
                                json_array_foreach(a, i, x)
                                        if (expr_equal(x, b)) {
                                                found = true;
                                                break;
                                        }
                        *ret = json_boolean(found);
                        return 0;
                }
                if (json_is_object(a)) {
                        if (!json_is_string(b))
                                return expr_fail(ev, n, -EINVAL, "A map key must be a string, not a %s", expr_type_name(b));
                        *ret = json_boolean(json_object_get(a, json_string_value(b)) != NULL);
                        return 0;
                }
                if (json_is_string(a)) {
                        _cleanup_free_ char *needle = NULL;
                        r = expr_to_string(b, &needle);
                        if (r < 0)
                                return r;
                        *ret = json_boolean(strstr(json_string_value(a), needle) != NULL);
                        return 0;
                }
                if (json_is_null(a)) {
                        *ret = json_false();
                        return 0;
                }
                return expr_fail(ev, n, -EINVAL, "`contains` needs a list, a map or a string, not a %s", expr_type_name(a));
        }
        return -EINVAL;
}

int expr_range(ExprEval *ev, const ExprNode *n, int64_t from, int64_t to, int64_t step, json_t **ret) {
        if (step == 0)
                return expr_fail(ev, n, -EINVAL, "Range step must not be zero");
        /* count in unsigned arithmetic so that extreme bounds cannot overflow */
        uint64_t count;
        if ((step > 0 && from > to) || (step < 0 && from < to))
                count = 0;
        else {
                uint64_t span = step > 0 ? (uint64_t) to - (uint64_t) from : (uint64_t) from - (uint64_t) to;
                uint64_t st = step > 0 ? (uint64_t) step : -(uint64_t) step;
                count = span / st + 1;
        }
        if (count > EXPR_MAX_ITERATIONS || count > ev->output_budget)
                return expr_fail(ev, n, -E2BIG, "Range too large (more than %u items)", EXPR_MAX_ITERATIONS);
        _cleanup_json_ json_t *l = json_array();
        if (!l)
                return -ENOMEM;
        int64_t v = from;
        for (uint64_t i = 0; i < count; i++) {
                if (json_array_append_new(l, json_integer(v)) < 0)
                        return -ENOMEM;
                if (i + 1 < count)
                        v += step;
        }
        ev->output_budget -= count;
        *ret = TAKE_PTR(l);
        return 0;
}

static void args_done(ExprArgs *a) {
        for (size_t i = 0; i < a->n; i++)
                json_decref(a->values[i]);
        free(a->values);
        a->values = NULL;
        a->n = 0;
}

/* Evaluate children[first..] of n as call arguments. */
static int eval_args(ExprEval *ev, const ExprNode *n, size_t first, ExprArgs *ret) {
        size_t cnt = n->n_children - first;
        *ret = (ExprArgs) { .names = n->arg_names ? n->arg_names + first : NULL };
        if (cnt == 0)
                return 0;
        ret->values = calloc(cnt, sizeof(json_t *));
        if (!ret->values)
                return -ENOMEM;
        for (size_t i = 0; i < cnt; i++) {
                int r = expr_eval_node(ev, n->children[first + i], false, &ret->values[i]);
                ret->n = i + 1;
                if (r < 0) {
                        args_done(ret);
                        return r;
                }
        }
        return 0;
}

json_t *expr_arg(const ExprArgs *a, size_t pos, const char *name) {
        if (name && a->names)
                for (size_t i = 0; i < a->n; i++)
                        if (a->names[i] && streq(a->names[i], name))
                                return a->values[i];
        /* positional arguments count only those without a name */
        size_t k = 0;
        for (size_t i = 0; i < a->n; i++) {
                if (a->names && a->names[i])
                        continue;
                if (k++ == pos)
                        return a->values[i];
        }
        return NULL;
}

int expr_eval_node(ExprEval *ev, const ExprNode *n, bool lenient, json_t **ret) {
        _cleanup_json_ json_t *a = NULL, *b = NULL;
        int r;

        *ret = NULL;
        switch (n->type) {
        case EXPR_NODE_LITERAL:
                *ret = json_incref(n->value);
                return 0;

        case EXPR_NODE_VAR: {
                json_t *v = lookup(ev, n->name);
                if (!v) {
                        if (streq(n->name, "_context") && ev->ctx->variables && ev->scope_base == 0) {
                                *ret = json_incref(ev->ctx->variables);
                                return 0;
                        }
                        if (lenient)
                                return 0;
                        return fail_missing(ev, n);
                }
                *ret = json_incref(v);
                return 0;
        }

        case EXPR_NODE_ATTR:
        case EXPR_NODE_INDEX:
                return eval_attr(ev, n, lenient, ret);

        case EXPR_NODE_LIST:
        case EXPR_NODE_MAP: {
                bool map = n->type == EXPR_NODE_MAP;
                _cleanup_json_ json_t *c = map ? json_object() : json_array();
                if (!c)
                        return -ENOMEM;
                for (size_t i = 0; i < n->n_children; i++) {
                        json_t *v = NULL;
                        r = expr_eval_node(ev, n->children[i], false, &v);
                        if (r < 0)
                                return r;
                        if (!map) {
                                if (json_array_append_new(c, v) < 0)
                                        return -ENOMEM;
                                continue;
                        }
                        _cleanup_json_ json_t *key = v;
                        _cleanup_free_ char *ks = NULL;
                        if (!json_is_string(key) && !expr_is_number(key) && !json_is_boolean(key))
                                return expr_fail(ev, n->children[i], -EINVAL, "A map key must be a string, not a %s",
                                                 expr_type_name(key));
                        r = expr_to_string(key, &ks);
                        if (r < 0)
                                return r;
                        i++;
                        r = expr_eval_node(ev, n->children[i], false, &v);
                        if (r < 0)
                                return r;
                        if (json_object_set_new(c, ks, v) < 0)
                                return -ENOMEM;
                }
                r = check_value_depth(ev, n, c);
                if (r < 0)
                        return r;
                r = charge(ev, n, c);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(c);
                return 0;
        }

        case EXPR_NODE_UNARY:
                r = expr_eval_node(ev, n->children[0], false, &a);
                if (r < 0)
                        return r;
                if (n->op == EXPR_OP_NOT) {
                        *ret = json_boolean(!expr_truthy(a));
                        return 0;
                }
                if (!expr_is_number(a))
                        return expr_fail(ev, n, -EINVAL, "Unary `%c` needs a number, not a %s", n->op == EXPR_OP_NEG ? '-' : '+',
                                         expr_type_name(a));
                if (n->op == EXPR_OP_PLUS) {
                        *ret = TAKE_PTR(a);
                        return 0;
                }
                if (json_is_integer(a)) {
                        if (json_integer_value(a) == LLONG_MIN)
                                return expr_fail(ev, n, -ERANGE, "Integer overflow in unary `-`");
                        *ret = json_integer(-json_integer_value(a));
                } else
                        *ret = json_real(-json_real_value(a));
                return *ret ? 0 : -ENOMEM;

        case EXPR_NODE_AND:
        case EXPR_NODE_OR: {
                r = expr_eval_node(ev, n->children[0], false, &a);
                if (r < 0)
                        return r;
                bool v = expr_truthy(a);
                if (v == (n->type == EXPR_NODE_AND)) {
                        r = expr_eval_node(ev, n->children[1], false, &b);
                        if (r < 0)
                                return r;
                        v = expr_truthy(b);
                }
                *ret = json_boolean(v);
                return 0;
        }

        case EXPR_NODE_TERNARY:
                r = expr_eval_node(ev, n->children[0], false, &a);
                if (r < 0)
                        return r;
                return expr_eval_node(ev, n->children[expr_truthy(a) ? 1 : 2], lenient, ret);

        case EXPR_NODE_COALESCE:
                r = expr_eval_node(ev, n->children[0], true, &a);
                if (r < 0)
                        return r;
                if (a && (n->op == EXPR_OP_UNDEF_COALESCE || !json_is_null(a))) {
                        *ret = TAKE_PTR(a);
                        return 0;
                }
                return expr_eval_node(ev, n->children[1], lenient, ret);

        case EXPR_NODE_BINARY:
                return eval_binary(ev, n, ret);

        case EXPR_NODE_FILTER: {
                _cleanup_(args_done) ExprArgs args = {};
                r = expr_eval_node(ev, n->children[0], lenient || expr_filter_is_lenient(n->name), &a);
                if (r < 0)
                        return r;
                r = eval_args(ev, n, 1, &args);
                if (r < 0)
                        return r;
                if (!a && !expr_filter_is_lenient(n->name)) {
                        /* undefined reached a filter in lenient context: stays undefined */
                        *ret = NULL;
                        return 0;
                }
                r = expr_apply_filter(ev, n, a, &args, ret);
                if (r < 0)
                        return r;
                return *ret ? charge(ev, n, *ret) : 0;
        }

        case EXPR_NODE_CALL: {
                _cleanup_(args_done) ExprArgs args = {};
                r = eval_args(ev, n, 0, &args);
                if (r < 0)
                        return r;
                r = expr_call_function(ev, n, &args, ret);
                if (r < 0)
                        return r;
                return charge(ev, n, *ret);
        }

        case EXPR_NODE_TEST: {
                _cleanup_(args_done) ExprArgs args = {};
                bool lenient_test = streq(n->name, "defined") || streq(n->name, "null");
                bool v;
                r = expr_eval_node(ev, n->children[0], lenient_test, &a);
                if (r < 0)
                        return r;
                r = eval_args(ev, n, 1, &args);
                if (r < 0)
                        return r;
                r = expr_apply_test(ev, n, a, &args, &v);
                if (r < 0)
                        return r;
                *ret = json_boolean(n->op == EXPR_OP_NOT ? !v : v);
                return 0;
        }

        case EXPR_NODE_CAPTURE: {
                _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
                r = expr_render_node(ev, n->children[0], &out);
                if (r < 0)
                        return r;
                *ret = json_stringn_nocheck(strbuf_str(&out), out.len);
                return *ret ? 0 : -ENOMEM;
        }

        default:
                return expr_fail(ev, n, -EINVAL, "Statement used as an expression");
        }
}

static int out_check(ExprEval *ev, const ExprNode *n, StrBuf *out, size_t before) {
        if (out->error)
                return out->error;
        size_t added = out->len - before;
        if (out->len > EXPR_MAX_OUTPUT || added > ev->output_budget)
                return expr_fail(ev, n, -E2BIG, "Rendered output larger than %u bytes", EXPR_MAX_OUTPUT);
        ev->output_budget -= added;
        return 0;
}

static int render_for(ExprEval *ev, const ExprNode *n, StrBuf *out) {
        _cleanup_json_ json_t *it = NULL;
        int r;

        r = expr_eval_node(ev, n->children[0], false, &it);
        if (r < 0)
                return r;
        if (!json_is_array(it) && !json_is_object(it) && !json_is_null(it))
                return expr_fail(ev, n->children[0], -EINVAL, "Cannot iterate over a %s", expr_type_name(it));

        size_t len = json_is_array(it) ? json_array_size(it) : json_is_object(it) ? json_object_size(it) : 0;
        if (len == 0) {
                if (n->n_children > 2)
                        return expr_render_node(ev, n->children[2], out);
                return 0;
        }

        r = scope_push(ev);
        if (r < 0)
                return r;
        json_t *scope = ev->scopes[ev->n_scopes - 1];
        void *iter = json_is_object(it) ? json_object_iter(it) : NULL;
        for (size_t i = 0; i < len; i++) {
                json_t *item, *key = NULL;
                if (++ev->iterations > EXPR_MAX_ITERATIONS) {
                        r = expr_fail(ev, n, -E2BIG, "Too many loop iterations (more than %u)", EXPR_MAX_ITERATIONS);
                        break;
                }
                if (json_is_array(it)) {
                        item = json_incref(json_array_get(it, i));
                        if (n->name2)
                                key = json_integer((json_int_t) i);
                } else {
                        const char *k = json_object_iter_key(iter);
                        json_t *v = json_object_iter_value(iter);
                        iter = json_object_iter_next(it, iter);
                        if (n->name2) {
                                key = json_string(k);
                                item = json_incref(v);
                        } else
                                /* like Pebble's Map.Entry: {{ entry.key }} / {{ entry.value }} */
                                item = json_pack("{s:s,s:O}", "key", k, "value", v);
                }
                json_t *loop = json_pack("{s:I,s:I,s:I,s:b,s:b}", "index", (json_int_t) i, "revindex", (json_int_t) (len - 1 - i),
                                         "length", (json_int_t) len, "first", i == 0, "last", i + 1 == len);
                if (!item || !loop || (n->name2 && !key)) {
                        json_decref(item);
                        json_decref(loop);
                        json_decref(key);
                        r = -ENOMEM;
                        break;
                }
                if (n->name2) {
                        if (json_object_set_new(scope, n->name, key) < 0 || json_object_set_new(scope, n->name2, item) < 0) {
                                json_decref(loop);
                                r = -ENOMEM;
                                break;
                        }
                } else if (json_object_set_new(scope, n->name, item) < 0) {
                        json_decref(loop);
                        r = -ENOMEM;
                        break;
                }
                if (json_object_set_new(scope, "loop", loop) < 0) {
                        r = -ENOMEM;
                        break;
                }
                r = expr_render_node(ev, n->children[1], out);
                if (r < 0)
                        break;
        }
        scope_pop(ev);
        return r;
}

int expr_render_node(ExprEval *ev, const ExprNode *n, StrBuf *out) {
        int r;

        switch (n->type) {
        case EXPR_NODE_BLOCK:
                for (size_t i = 0; i < n->n_children; i++) {
                        r = expr_render_node(ev, n->children[i], out);
                        if (r < 0)
                                return r;
                }
                return 0;
        case EXPR_NODE_TEXT: {
                size_t before = out->len;
                strbuf_append_n(out, n->text, n->text_len);
                return out_check(ev, n, out, before);
        }
        case EXPR_NODE_PRINT: {
                _cleanup_json_ json_t *v = NULL;
                r = expr_eval_node(ev, n->children[0], false, &v);
                if (r < 0)
                        return r;
                size_t before = out->len;
                expr_append_value(out, v);
                return out_check(ev, n, out, before);
        }
        case EXPR_NODE_IF:
                for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                        _cleanup_json_ json_t *c = NULL;
                        r = expr_eval_node(ev, n->children[i], false, &c);
                        if (r < 0)
                                return r;
                        if (expr_truthy(c))
                                return expr_render_node(ev, n->children[i + 1], out);
                }
                if (n->n_children % 2 == 1)
                        return expr_render_node(ev, n->children[n->n_children - 1], out);
                return 0;
        case EXPR_NODE_FOR:
                return render_for(ev, n, out);
        case EXPR_NODE_SET: {
                json_t *v = NULL;
                r = expr_eval_node(ev, n->children[0], false, &v);
                if (r < 0)
                        return r;
                if (json_object_set_new(ev->scopes[ev->n_scopes - 1], n->name, v) < 0)
                        return -ENOMEM;
                return 0;
        }
        case EXPR_NODE_MACRO:
                return 0; /* a definition: it prints where it is called */
        default:
                return expr_fail(ev, n, -EINVAL, "Expression used as a statement");
        }
}

const ExprNode *expr_find_macro(const ExprEval *ev, const char *name) {
        for (size_t i = 0; ev->tmpl && i < ev->tmpl->n_macros; i++)
                if (streq(ev->tmpl->macros[i]->name, name))
                        return ev->tmpl->macros[i];
        return NULL;
}

size_t expr_macro_names(const ExprEval *ev, const char ***ret) {
        *ret = NULL;
        if (!ev->tmpl || ev->tmpl->n_macros == 0)
                return 0;
        const char **names = calloc(ev->tmpl->n_macros, sizeof(char *));
        if (!names)
                return 0;
        for (size_t i = 0; i < ev->tmpl->n_macros; i++)
                names[i] = ev->tmpl->macros[i]->name;
        *ret = names;
        return ev->tmpl->n_macros;
}

/* Pebble's macro call: arguments by position or name, the others their defaults; the body rendered in
 * a scope of its own that sees nothing else. */
int expr_call_macro(ExprEval *ev, const ExprNode *call, const ExprNode *macro, const ExprArgs *args, json_t **ret) {
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        size_t n_params = macro->n_children - 1, positional = 0;
        int r;

        for (size_t i = 0; i < args->n; i++) {
                const char *name = args->names ? args->names[i] : NULL;
                if (!name) {
                        positional++;
                        continue;
                }
                bool found = false;
                for (size_t k = 1; k < macro->n_children; k++)
                        found = found || streq(macro->arg_names[k], name);
                if (!found)
                        return expr_fail(ev, call, -EINVAL, "Macro `%s` has no argument `%s`", macro->name, name);
        }
        if (positional > n_params)
                return expr_fail(ev, call, -EINVAL, "Macro `%s` takes %zu arguments, not %zu", macro->name, n_params, positional);
        if (ev->macro_depth >= EXPR_MAX_MACRO_DEPTH)
                return expr_fail(ev, call, -ELOOP, "Macro calls nested more than %u deep (in `%s`)", EXPR_MAX_MACRO_DEPTH, macro->name);

        size_t saved_base = ev->scope_base;
        r = scope_push(ev);
        if (r < 0)
                return r;
        ev->scope_base = ev->n_scopes - 1;
        ev->macro_depth++;
        json_t *scope = ev->scopes[ev->n_scopes - 1];
        for (size_t k = 1; r >= 0 && k < macro->n_children; k++) {
                json_t *v = expr_arg(args, k - 1, macro->arg_names[k]);
                if (v)
                        v = json_incref(v);
                else
                        /* defaults see the arguments before them */
                        r = expr_eval_node(ev, macro->children[k], false, &v);
                if (r >= 0 && json_object_set_new(scope, macro->arg_names[k], v) < 0)
                        r = -ENOMEM;
        }
        if (r >= 0)
                r = expr_render_node(ev, macro->children[0], &out);
        ev->macro_depth--;
        ev->scope_base = saved_base;
        scope_pop(ev);
        if (r < 0)
                return r;
        *ret = json_stringn_nocheck(strbuf_str(&out), out.len);
        return *ret ? 0 : -ENOMEM;
}

ExprTemplate *expr_template_free(ExprTemplate *t) {
        if (!t)
                return NULL;
        free(t->macros);
        expr_node_free(t->root);
        free(t->source);
        free(t);
        return NULL;
}

static bool is_blank_text(const ExprNode *n) {
        if (n->type != EXPR_NODE_TEXT)
                return false;
        for (size_t i = 0; i < n->text_len; i++)
                if (!strchr(" \t\r\n", n->text[i]))
                        return false;
        return true;
}

/* Every {% macro %} of the template, wherever it is: Pebble registers them while parsing. */
static int collect_macros(ExprTemplate *t, const ExprNode *n, ExprError *err) {
        if (n->type == EXPR_NODE_MACRO) {
                for (size_t i = 0; i < t->n_macros; i++)
                        if (streq(t->macros[i]->name, n->name)) {
                                expr_set_error(err, n->line, n->column, "Macro `%s` is defined twice (at line %u, column %u and at line %u, column %u)",
                                               n->name, t->macros[i]->line, t->macros[i]->column, n->line, n->column);
                                return -EINVAL;
                        }
                const ExprNode **m = reallocarray(t->macros, t->n_macros + 1, sizeof(ExprNode *));
                if (!m)
                        return -ENOMEM;
                t->macros = m;
                t->macros[t->n_macros++] = n;
        }
        /* only statements hold macros: expressions cannot */
        if (n->type == EXPR_NODE_BLOCK || n->type == EXPR_NODE_IF || n->type == EXPR_NODE_FOR || n->type == EXPR_NODE_MACRO)
                for (size_t i = 0; i < n->n_children; i++) {
                        int r = collect_macros(t, n->children[i], err);
                        if (r < 0)
                                return r;
                }
        return 0;
}

int expr_compile(const char *tmpl, ExprTemplate **ret, ExprError *err) {
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        size_t len = strlen(tmpl);
        int r;

        if (len > EXPR_MAX_TEMPLATE) {
                expr_set_error(err, 1, 1, "Template too large (%zu bytes, at most %u)", len, EXPR_MAX_TEMPLATE);
                return -E2BIG;
        }
        t = calloc(1, sizeof(ExprTemplate));
        if (!t)
                return -ENOMEM;
        t->source = strndup(tmpl, len);
        if (!t->source)
                return -ENOMEM;
        t->source_len = len;
        r = expr_parse(t->source, len, &t->root, err);
        if (r < 0)
                return r;
        r = collect_macros(t, t->root, err);
        if (r < 0)
                return r;

        /* exactly one {{ expr }}, maybe between blanks: its value keeps its type */
        const ExprNode *print = NULL;
        for (size_t i = 0; i < t->root->n_children; i++) {
                const ExprNode *c = t->root->children[i];
                if (is_blank_text(c))
                        continue;
                if (c->type != EXPR_NODE_PRINT || print) {
                        print = NULL;
                        break;
                }
                print = c;
        }
        for (size_t i = 0; print && i < t->root->n_children; i++)
                if (t->root->children[i]->type != EXPR_NODE_PRINT && !is_blank_text(t->root->children[i]))
                        print = NULL;
        if (print)
                t->single_expr = print->children[0];
        *ret = TAKE_PTR(t);
        return 0;
}

bool expr_template_is_single_value(const ExprTemplate *t) {
        return t && t->single_expr;
}

static void eval_done(ExprEval *ev) {
        while (ev->n_scopes > 0)
                scope_pop(ev);
        free(ev->scopes);
}

static int eval_begin(ExprEval *ev, const ExprTemplate *t, const ExprContext *ctx, ExprError *err) {
        *ev = (ExprEval) {
                .ctx = ctx,
                .tmpl = t,
                .err = err,
                /* work budget: output bytes plus the size of values built along the way */
                .output_budget = (size_t) EXPR_MAX_OUTPUT * 16,
        };
        return scope_push(ev);
}

int expr_eval(const ExprTemplate *t, const ExprContext *ctx, char **ret, ExprError *err) {
        _cleanup_(eval_done) ExprEval ev;
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        int r;

        r = eval_begin(&ev, t, ctx, err);
        if (r < 0)
                return r;
        r = expr_render_node(&ev, t->root, &out);
        if (r < 0)
                return r;
        char *s = strbuf_steal(&out);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int expr_eval_value(const ExprTemplate *t, const ExprContext *ctx, json_t **ret, ExprError *err) {
        int r;

        if (!t->single_expr) {
                _cleanup_free_ char *s = NULL;
                r = expr_eval(t, ctx, &s, err);
                if (r < 0)
                        return r;
                *ret = json_string_nocheck(s);
                return *ret ? 0 : -ENOMEM;
        }
        _cleanup_(eval_done) ExprEval ev;
        r = eval_begin(&ev, t, ctx, err);
        if (r < 0)
                return r;
        json_t *v = NULL;
        r = expr_eval_node(&ev, t->single_expr, false, &v);
        if (r < 0)
                return r;
        *ret = v;
        return 0;
}

int expr_render(const char *tmpl, const ExprContext *ctx, char **ret, ExprError *err) {
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        int r;

        if (!expr_has_template(tmpl) && !strstr(tmpl, "{#")) {
                char *s = strdup(tmpl);
                if (!s)
                        return -ENOMEM;
                *ret = s;
                return 0;
        }
        r = expr_compile(tmpl, &t, err);
        if (r < 0)
                return r;
        return expr_eval(t, ctx, ret, err);
}

int expr_render_value(const char *tmpl, const ExprContext *ctx, json_t **ret, ExprError *err) {
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        int r;

        r = expr_compile(tmpl, &t, err);
        if (r < 0)
                return r;
        return expr_eval_value(t, ctx, ret, err);
}

int expr_render_nested(ExprEval *ev, const ExprNode *at, const char *tmpl, json_t **ret) {
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        _cleanup_strbuf_ StrBuf out = STRBUF_INIT;
        unsigned max = ev->ctx->max_render_depth ? ev->ctx->max_render_depth : 10;
        int r;

        if (ev->render_depth >= max)
                return expr_fail(ev, at, -ELOOP, "render() nested more than %u levels deep", max);
        r = expr_compile(tmpl, &t, ev->err);
        if (r < 0)
                return r;
        ev->render_depth++;
        const ExprTemplate *outer = ev->tmpl;
        ev->tmpl = t; /* the rendered text's macros, not the caller's */
        if (t->single_expr)
                r = expr_eval_node(ev, t->single_expr, false, ret);
        else {
                r = expr_render_node(ev, t->root, &out);
                if (r >= 0) {
                        *ret = json_stringn_nocheck(strbuf_str(&out), out.len);
                        if (!*ret)
                                r = -ENOMEM;
                }
        }
        ev->tmpl = outer;
        ev->render_depth--;
        if (r < 0 && ev->err && ev->err->message && at->stmt_src && !strstr(ev->err->message, " (in render() at line ")) {
                /* the inner position is inside the rendered string: say where that render() was */
                _cleanup_free_ char *m = strdup_printf("%s (in render() at line %u, column %u of `%.*s`)", ev->err->message, at->line,
                                                       at->column, (int) MIN(at->stmt_len, (size_t) 200), at->stmt_src);
                if (m) {
                        free(ev->err->message);
                        ev->err->message = TAKE_PTR(m);
                        ev->err->line = at->line;
                        ev->err->column = at->column;
                }
        }
        return r;
}

static int render_tree(json_t *in, const ExprContext *ctx, unsigned depth, json_t **ret, ExprError *err) {
        int r;

        if (depth > EXPR_MAX_VALUE_DEPTH) {
                expr_set_error(err, 1, 1, "Value nested too deeply (more than %d levels)", EXPR_MAX_VALUE_DEPTH);
                return -E2BIG;
        }
        if (json_is_string(in)) {
                if (!expr_has_template(json_string_value(in))) {
                        *ret = json_incref(in);
                        return 0;
                }
                _cleanup_free_ char *s = NULL;
                r = expr_render(json_string_value(in), ctx, &s, err);
                if (r < 0)
                        return r;
                *ret = json_string_nocheck(s);
                return *ret ? 0 : -ENOMEM;
        }
        if (json_is_array(in)) {
                _cleanup_json_ json_t *a = json_array();
                size_t i;
                json_t *x;
                if (!a)
                        return -ENOMEM;
                json_array_foreach(in, i, x) {
                        json_t *y = NULL;
                        r = render_tree(x, ctx, depth + 1, &y, err);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(a, y) < 0)
                                return -ENOMEM;
                }
                *ret = TAKE_PTR(a);
                return 0;
        }
        if (json_is_object(in)) {
                _cleanup_json_ json_t *o = json_object();
                const char *k;
                json_t *x;
                if (!o)
                        return -ENOMEM;
                json_object_foreach(in, k, x) {
                        _cleanup_free_ char *key = NULL;
                        json_t *y = NULL;
                        if (expr_has_template(k)) {
                                r = expr_render(k, ctx, &key, err);
                                if (r < 0)
                                        return r;
                        }
                        r = render_tree(x, ctx, depth + 1, &y, err);
                        if (r < 0)
                                return r;
                        if (json_object_set_new(o, key ? key : k, y) < 0)
                                return -ENOMEM;
                }
                *ret = TAKE_PTR(o);
                return 0;
        }
        *ret = json_incref(in);
        return 0;
}

int expr_render_tree(json_t *in, const ExprContext *ctx, json_t **ret, ExprError *err) {
        return render_tree(in, ctx, 0, ret, err);
}

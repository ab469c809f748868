/* expr-filters.h: what the filter files share: argument and result helpers, the filters of expr-filters-*.c. */
#pragma once

#include <math.h>

#include "expr-internal.h"
#include "strutil.h"

/* An argument error of the filter being applied (ev and n in scope). */
#define FAIL(...) expr_fail(ev, n, -EINVAL, __VA_ARGS__)

static inline int ret_string_n(const char *s, size_t len, json_t **ret) {
        *ret = json_stringn_nocheck(s, len);
        return *ret ? 0 : -ENOMEM;
}

static inline int ret_strbuf(StrBuf *sb, json_t **ret) {
        if (sb->error)
                return sb->error;
        return ret_string_n(strbuf_str(sb), sb->len, ret);
}

/* The input as a string (scalars print as in templates); NULL input gives *ret NULL. */
static inline int in_string(json_t *in, char **ret) {
        if (json_is_null(in)) {
                *ret = NULL;
                return 0;
        }
        return expr_to_string(in, ret);
}

static inline int arg_int(ExprEval *ev, const ExprNode *n, const ExprArgs *a, size_t pos, const char *name, int64_t def,
                          int64_t *ret) {
        json_t *v = expr_arg(a, pos, name);
        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (json_is_integer(v)) {
                *ret = json_integer_value(v);
                return 0;
        }
        if (json_is_real(v) && fabs(json_real_value(v)) < 9e18) {
                *ret = (int64_t) json_real_value(v);
                return 0;
        }
        if (json_is_string(v) && safe_atoi64(json_string_value(v), ret) >= 0)
                return 0;
        return FAIL("Filter `%s`: argument `%s` must be an integer, not a %s", n->name, name, expr_type_name(v));
}

static inline int arg_str(ExprEval *ev, const ExprNode *n, const ExprArgs *a, size_t pos, const char *name, const char *def,
                          const char **ret) {
        json_t *v = expr_arg(a, pos, name);
        if (!v || json_is_null(v)) {
                *ret = def;
                return 0;
        }
        if (!json_is_string(v))
                return FAIL("Filter `%s`: argument `%s` must be a string, not a %s", n->name, name, expr_type_name(v));
        *ret = json_string_value(v);
        return 0;
}

static inline int need_arg(ExprEval *ev, const ExprNode *n, const ExprArgs *a, size_t pos, const char *name, json_t **ret) {
        *ret = expr_arg(a, pos, name);
        if (!*ret)
                return FAIL("Filter `%s` needs the argument `%s`", n->name, name);
        return 0;
}

/* expr-filters-string.c */
int expr_filter_upper(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_lower(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_capitalize(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_title(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_trim(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_string(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_replace(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_split(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_join(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_substring_before(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_substring_after(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_substring_before_last(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_substring_after_last(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
/* startsWith/endsWith, also behind the tests "x is startsWith(...)". */
int expr_filter_affix(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, bool end, json_t **ret);
int expr_filter_starts_with(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_ends_with(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_slugify(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_abbreviate(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_indent(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_nindent(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_urlencode(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_urldecode(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_base64encode(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_base64decode(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_md5(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_sha1(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_sha256(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_sha512(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);

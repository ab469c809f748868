/* expr-filters-string.c: the string filters (case, trim, replace, split, substrings, indent, URL, base64, digests). */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "expr-filters.h"
#include "strutil.h"
#include "user-regex.h"

/* ---- strings ---- */

static int map_chars(json_t *in, int mode, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        int r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        bool start = true;
        for (char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;
                switch (mode) {
                case 'u': *p = (char) toupper(c); break;
                case 'l': *p = (char) tolower(c); break;
                case 'c': if (p == s) *p = (char) toupper(c); break;
                case 't':
                        if (start)
                                *p = (char) toupper(c);
                        start = isspace(c);
                        break;
                }
        }
        return ret_string_n(s, strlen(s), ret);
}

int expr_filter_upper(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return map_chars(in, 'u', ret); }
int expr_filter_lower(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return map_chars(in, 'l', ret); }
int expr_filter_capitalize(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return map_chars(in, 'c', ret); }
int expr_filter_title(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return map_chars(in, 't', ret); }

int expr_filter_trim(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        int r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        char *t = strstrip(s);
        return ret_string_n(t, strlen(t), ret);
}

int expr_filter_string(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        int r = expr_to_string(in, &s);
        if (r < 0)
                return r;
        return ret_string_n(s, strlen(s), ret);
}

/* Replace every occurrence of from by to in s. */
static int replace_all(const char *s, const char *from, const char *to, char **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        size_t fl = strlen(from);
        if (fl == 0) {
                *ret = strdup(s);
                return *ret ? 0 : -ENOMEM;
        }
        for (const char *p = s, *q; ; p = q + fl) {
                q = strstr(p, from);
                if (!q) {
                        strbuf_append(&sb, p);
                        break;
                }
                strbuf_append_n(&sb, p, (size_t) (q - p));
                strbuf_append(&sb, to);
                if (sb.len > EXPR_MAX_OUTPUT)
                        return -E2BIG;
        }
        if (sb.error)
                return sb.error;
        *ret = strbuf_steal(&sb);
        return *ret ? 0 : -ENOMEM;
}

/* Java's Matcher.appendReplacement(): $n is capture group n (the longest number that is a group),
 * \x is x; anything else after '$' is an error, as in Kestra. A group that did not take part in the
 * match adds nothing. */
static int regex_append_replacement(ExprEval *ev, const ExprNode *n, StrBuf *sb, const char *to, const char *subject,
                                    const regmatch_t *m, size_t n_groups) {
        for (const char *t = to; *t; t++) {
                if (*t == '\\') {
                        if (!t[1])
                                return FAIL("Filter `replace`: the replacement \"%s\" ends with a lone '\\'", to);
                        strbuf_append_char(sb, *++t);
                        continue;
                }
                if (*t != '$') {
                        strbuf_append_char(sb, *t);
                        continue;
                }
                if (t[1] == '{')
                        return FAIL("Filter `replace`: the replacement \"%s\" names a group, and named groups are not supported", to);
                if (t[1] < '0' || t[1] > '9')
                        return FAIL("Filter `replace`: illegal group reference in the replacement \"%s\" (write \\$ for a '$')", to);
                size_t g = (size_t) (*++t - '0');
                if (g >= n_groups)
                        return FAIL("Filter `replace`: the replacement \"%s\" refers to group %zu, the expression has %zu", to, g,
                                    n_groups - 1);
                while (t[1] >= '0' && t[1] <= '9' && g * 10 + (size_t) (t[1] - '0') < n_groups)
                        g = g * 10 + (size_t) (*++t - '0');
                if (m[g].rm_so >= 0)
                        strbuf_append_n(sb, subject + m[g].rm_so, (size_t) (m[g].rm_eo - m[g].rm_so));
        }
        return 0;
}

static int regex_replace_all(ExprEval *ev, const ExprNode *n, const char *s, const char *pattern, const char *to, char **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        _cleanup_free_ regmatch_t *m = NULL;
        const char *why;
        size_t len = strlen(s);
        regex_t re;
        int r;

        /* bounded before anything runs: glibc searches in time quadratic in the subject */
        if (len > USER_REGEX_MAX_SUBJECT)
                return FAIL("Filter `replace`: the string is %zu bytes long, regular expressions apply to at most %u bytes",
                            len, USER_REGEX_MAX_SUBJECT);
        uint64_t cost = user_regex_cost(len, strlen(pattern));
        if (ev->regex_work + cost > USER_REGEX_MAX_WORK)
                return expr_fail(ev, n, -E2BIG, "Filter `replace`: too much regular expression work in one render");
        ev->regex_work += cost;

        r = user_regex_compile(pattern, 0, &re, &why);
        if (r == -EINVAL)
                return FAIL("Filter `replace`: invalid regular expression \"%s\": %s", pattern, why);
        if (r < 0)
                return r;
        size_t n_groups = re.re_nsub + 1;
        m = calloc(n_groups, sizeof(regmatch_t));
        if (!m) {
                regfree(&re);
                return -ENOMEM;
        }
        const char *p = s;
        while (*p && regexec(&re, p, n_groups, m, p == s ? 0 : REG_NOTBOL) == 0) {
                strbuf_append_n(&sb, p, (size_t) m[0].rm_so);
                r = regex_append_replacement(ev, n, &sb, to, p, m, n_groups);
                if (r < 0)
                        break;
                if (m[0].rm_eo == m[0].rm_so) {
                        if (!p[m[0].rm_eo]) {
                                p += m[0].rm_eo;
                                break;
                        }
                        strbuf_append_char(&sb, p[m[0].rm_eo]);
                        p += m[0].rm_eo + 1;
                } else
                        p += m[0].rm_eo;
                if (sb.len > EXPR_MAX_OUTPUT)
                        break;
        }
        regfree(&re);
        if (r < 0)
                return r;
        strbuf_append(&sb, p);
        if (sb.error)
                return sb.error;
        if (sb.len > EXPR_MAX_OUTPUT)
                return expr_fail(ev, n, -E2BIG, "Filter `replace`: result too large");
        *ret = strbuf_steal(&sb);
        return *ret ? 0 : -ENOMEM;
}

int expr_filter_replace(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        json_t *what;
        int r;

        r = need_arg(ev, n, a, 0, "replace_pairs", &what);
        if (r < 0)
                return r;
        r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        if (json_is_object(what)) {
                const char *k;
                json_t *v;
                json_object_foreach(what, k, v) {
                        _cleanup_free_ char *to = NULL, *res = NULL;
                        r = expr_to_string(v, &to);
                        if (r < 0)
                                return r;
                        r = replace_all(s, k, to, &res);
                        if (r == -E2BIG)
                                return expr_fail(ev, n, r, "Filter `replace`: result too large");
                        if (r < 0)
                                return r;
                        free(s);
                        s = TAKE_PTR(res);
                }
                return ret_string_n(s, strlen(s), ret);
        }
        json_t *to = expr_arg(a, 1, "replacement");
        if (!json_is_string(what) || !json_is_string(to))
                return FAIL("Filter `replace` needs a map of replacements, or a target and a replacement string");
        json_t *re = expr_arg(a, 2, "regexp");
        _cleanup_free_ char *res = NULL;
        if (re && expr_truthy(re))
                r = regex_replace_all(ev, n, s, json_string_value(what), json_string_value(to), &res);
        else {
                r = replace_all(s, json_string_value(what), json_string_value(to), &res);
                if (r == -E2BIG)
                        return expr_fail(ev, n, r, "Filter `replace`: result too large");
        }
        if (r < 0)
                return r;
        return ret_string_n(res, strlen(res), ret);
}

int expr_filter_split(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        _cleanup_json_ json_t *l = json_array();
        const char *sep;
        int64_t limit;
        int r;

        if (!l)
                return -ENOMEM;
        r = arg_str(ev, n, a, 0, "delimiter", NULL, &sep);
        if (r < 0)
                return r;
        if (!sep)
                return FAIL("Filter `split` needs the argument `delimiter`");
        r = arg_int(ev, n, a, 1, "limit", 0, &limit);
        if (r < 0)
                return r;
        r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        size_t sl = strlen(sep);
        const char *p = s;
        for (;;) {
                const char *q = sl ? strstr(p, sep) : (*p && p[1] ? p + 1 : NULL);
                if (!q || (limit > 0 && (int64_t) json_array_size(l) == limit - 1)) {
                        if (json_array_append_new(l, json_string_nocheck(p)) < 0)
                                return -ENOMEM;
                        break;
                }
                if (json_array_append_new(l, json_stringn_nocheck(p, (size_t) (q - p))) < 0)
                        return -ENOMEM;
                p = q + sl;
        }
        /* like Java's String.split: trailing empty strings are dropped when there is no limit */
        if (limit == 0)
                while (json_array_size(l) > 0 && json_string_length(json_array_get(l, json_array_size(l) - 1)) == 0)
                        json_array_remove(l, json_array_size(l) - 1);
        *ret = TAKE_PTR(l);
        return 0;
}

int expr_filter_join(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        const char *sep;
        size_t i;
        json_t *x;
        int r = arg_str(ev, n, a, 0, "separator", "", &sep);
        if (r < 0)
                return r;
        if (json_is_null(in)) {
                *ret = json_null();
                return 0;
        }
        if (!json_is_array(in))
                return FAIL("Filter `join` needs a list, not a %s", expr_type_name(in));
        json_array_foreach(in, i, x) {
                if (i > 0)
                        strbuf_append(&sb, sep);
                expr_append_value(&sb, x);
                if (sb.len > EXPR_MAX_OUTPUT)
                        return expr_fail(ev, n, -E2BIG, "Filter `join`: result too large");
        }
        return ret_strbuf(&sb, ret);
}

static int substring_filter(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, bool after, bool last, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        const char *sep;
        int r = arg_str(ev, n, a, 0, "separator", NULL, &sep);
        if (r < 0)
                return r;
        if (!sep)
                return FAIL("Filter `%s` needs the argument `separator`", n->name);
        r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        const char *q = strstr(s, sep);
        if (last && q)
                for (const char *x; (x = strstr(q + 1, sep)) && *sep;)
                        q = x;
        /* as commons-lang: not found gives the whole string before, "" after (BeforeLast/AfterLast alike) */
        if (!q)
                return after ? ret_string_n("", 0, ret) : ret_string_n(s, strlen(s), ret);
        if (after)
                return ret_string_n(q + strlen(sep), strlen(q + strlen(sep)), ret);
        return ret_string_n(s, (size_t) (q - s), ret);
}
int expr_filter_substring_before(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return substring_filter(ev, n, in, a, false, false, ret); }
int expr_filter_substring_after(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return substring_filter(ev, n, in, a, true, false, ret); }
int expr_filter_substring_before_last(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return substring_filter(ev, n, in, a, false, true, ret); }
int expr_filter_substring_after_last(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return substring_filter(ev, n, in, a, true, true, ret); }

int expr_filter_affix(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, bool end, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        const char *x;
        int r = arg_str(ev, n, a, 0, "value", NULL, &x);
        if (r < 0)
                return r;
        if (!x)
                return FAIL("Filter `%s` needs an argument", n->name);
        r = in_string(in, &s);
        if (r < 0)
                return r;
        *ret = json_boolean(s && (end ? endswith(s, x) : startswith(s, x) != NULL));
        return 0;
}
int expr_filter_starts_with(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return expr_filter_affix(ev, n, in, a, false, ret); }
int expr_filter_ends_with(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return expr_filter_affix(ev, n, in, a, true, ret); }

int expr_filter_slugify(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        int r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        bool dash = false;
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;
                if (isalnum(c)) {
                        if (dash && sb.len > 0)
                                strbuf_append_char(&sb, '-');
                        dash = false;
                        strbuf_append_char(&sb, (char) tolower(c));
                } else if (c < 0x80 || (c & 0xC0) == 0xC0)
                        dash = true; /* a separator, or the start of a non-ASCII character that is dropped */
        }
        if (!sb.buf)
                return ret_string_n("", 0, ret);
        return ret_strbuf(&sb, ret);
}

int expr_filter_abbreviate(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        int64_t width;
        int r = arg_int(ev, n, a, 0, "length", -1, &width);
        if (r < 0)
                return r;
        if (width < 0)
                return FAIL("Filter `abbreviate` needs the argument `length`");
        r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        size_t len = strlen(s);
        if ((int64_t) len <= width)
                return ret_string_n(s, len, ret);
        if (width < 3)
                return FAIL("Filter `abbreviate`: length must be at least 3");
        /* cut on a UTF-8 character boundary */
        size_t cut = (size_t) width - 3;
        while (cut > 0 && ((unsigned char) s[cut] & 0xC0) == 0x80)
                cut--;
        memcpy(s + cut, "...", 4);
        return ret_string_n(s, strlen(s), ret);
}

static int indent_filter(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, bool first_too, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        int64_t amount;
        const char *prefix;
        int r = arg_int(ev, n, a, 0, "amount", -1, &amount);
        if (r < 0)
                return r;
        if (amount < 0 || amount > 1024)
                return FAIL("Filter `%s` needs an amount between 0 and 1024", n->name);
        r = arg_str(ev, n, a, 1, "prefix", " ", &prefix);
        if (r < 0)
                return r;
        r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        if (first_too)
                strbuf_append_char(&sb, '\n');
        for (const char *p = s; ; ) {
                const char *nl = strchr(p, '\n');
                if (p != s || first_too)
                        for (int64_t i = 0; i < amount; i++)
                                strbuf_append(&sb, prefix);
                if (!nl) {
                        strbuf_append(&sb, p);
                        break;
                }
                strbuf_append_n(&sb, p, (size_t) (nl - p + 1));
                p = nl + 1;
                if (sb.len > EXPR_MAX_OUTPUT)
                        return expr_fail(ev, n, -E2BIG, "Filter `%s`: result too large", n->name);
        }
        return ret_strbuf(&sb, ret);
}
int expr_filter_indent(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return indent_filter(ev, n, in, a, false, ret); }
int expr_filter_nindent(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return indent_filter(ev, n, in, a, true, ret); }

int expr_filter_urlencode(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        int r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        /* application/x-www-form-urlencoded, as Java's URLEncoder */
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if (isalnum(*p) || strchr(".-*_", *p))
                        strbuf_append_char(&sb, (char) *p);
                else if (*p == ' ')
                        strbuf_append_char(&sb, '+');
                else
                        strbuf_appendf(&sb, "%%%02X", *p);
        }
        if (!sb.buf)
                return ret_string_n("", 0, ret);
        return ret_strbuf(&sb, ret);
}

static int hexval(char c) {
        return isdigit((unsigned char) c) ? c - '0' : isxdigit((unsigned char) c) ? tolower((unsigned char) c) - 'a' + 10 : -1;
}

static int ret_checked_utf8(ExprEval *ev, const ExprNode *n, const char *s, size_t len, json_t **ret) {
        *ret = json_stringn(s, len);
        if (!*ret)
                return string_is_printable_utf8(s, len) || len == 0 ? -ENOMEM : FAIL("Filter `%s`: the result is not UTF-8 text", n->name);
        return 0;
}

int expr_filter_urldecode(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        int r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        char *o = s;
        for (const char *p = s; *p; p++) {
                if (*p == '+')
                        *o++ = ' ';
                else if (*p == '%') {
                        int h = hexval(p[1]), l = h >= 0 ? hexval(p[2]) : -1;
                        if (h < 0 || l < 0)
                                return FAIL("Filter `urldecode`: invalid escape sequence");
                        *o++ = (char) (h * 16 + l);
                        p += 2;
                } else
                        *o++ = *p;
        }
        return ret_checked_utf8(ev, n, s, (size_t) (o - s), ret);
}

int expr_filter_base64encode(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL, *o = NULL;
        int r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        size_t len = json_is_string(in) ? json_string_length(in) : strlen(s);
        if (len > EXPR_MAX_OUTPUT)
                return expr_fail(ev, n, -E2BIG, "Filter `base64encode`: input too large");
        o = malloc(4 * ((len + 2) / 3) + 1);
        if (!o)
                return -ENOMEM;
        int w = EVP_EncodeBlock((unsigned char *) o, (const unsigned char *) s, (int) len);
        return ret_string_n(o, (size_t) w, ret);
}

int expr_filter_base64decode(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) {
        _cleanup_free_ char *s = NULL, *o = NULL;
        int r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        char *t = strstrip(s);
        size_t len = strlen(t);
        if (len % 4 != 0)
                return FAIL("Filter `base64decode`: the input is not valid base64");
        o = malloc(len / 4 * 3 + 1);
        if (!o)
                return -ENOMEM;
        int w = len ? EVP_DecodeBlock((unsigned char *) o, (const unsigned char *) t, (int) len) : 0;
        if (w < 0)
                return FAIL("Filter `base64decode`: the input is not valid base64");
        if (len >= 1 && t[len - 1] == '=')
                w--;
        if (len >= 2 && t[len - 2] == '=')
                w--;
        return ret_checked_utf8(ev, n, o, (size_t) w, ret);
}

static int digest_filter(ExprEval *ev, const ExprNode *n, json_t *in, const EVP_MD *md, json_t **ret) {
        _cleanup_free_ char *s = NULL;
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned dl = 0;
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        int r = in_string(in, &s);
        if (r < 0)
                return r;
        if (!s) {
                *ret = json_null();
                return 0;
        }
        size_t len = json_is_string(in) ? json_string_length(in) : strlen(s);
        if (!md || EVP_Digest(s, len, d, &dl, md, NULL) != 1)
                return expr_fail(ev, n, -EIO, "Filter `%s`: digest failed", n->name);
        for (unsigned i = 0; i < dl; i++)
                snprintf(hex + 2 * i, 3, "%02x", d[i]);
        return ret_string_n(hex, 2 * dl, ret);
}
int expr_filter_md5(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return digest_filter(ev, n, in, EVP_md5(), ret); }
int expr_filter_sha1(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return digest_filter(ev, n, in, EVP_sha1(), ret); }
int expr_filter_sha256(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return digest_filter(ev, n, in, EVP_sha256(), ret); }
int expr_filter_sha512(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret) { return digest_filter(ev, n, in, EVP_sha512(), ret); }

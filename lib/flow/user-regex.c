/* user-regex.c: flow authors' Java-syntax regular expressions, compiled as POSIX ones that cannot backtrack. */
#include <errno.h>
#include <string.h>

#include "strbuf.h"
#include "strutil.h"
#include "user-regex.h"

static const char *regcomp_why(int code) {
        switch (code) {
        case REG_EPAREN: return "unbalanced parentheses";
        case REG_EBRACK: return "unbalanced brackets";
        case REG_EBRACE: return "unbalanced braces";
        case REG_BADBR: return "invalid repetition count in braces";
        case REG_BADRPT: return "a repetition operator (*, +, ?, {) has nothing to repeat";
        case REG_ERANGE: return "invalid character range";
        case REG_ECTYPE: return "unknown character class";
        case REG_EESCAPE: return "trailing backslash";
        default: return "not a regular expression this engine supports";
        }
}

/* A bracket expression starting at *pp ('['), rewritten for POSIX, which wants ']' first, '-' last,
 * '^' not first, and takes a backslash literally. Leaves *pp on the closing ']'. */
static int bracket_translate(const char **pp, StrBuf *sb) {
        _cleanup_strbuf_ StrBuf set = STRBUF_INIT;
        const char *p = *pp;
        bool neg = false, rb = false, dash = false, caret = false;

        if (p[1] == '^')
                neg = true, p++;
        if (p[1] == ']')
                rb = true, p++;
        for (p++; *p && *p != ']'; p++) {
                if (*p != '\\' || !p[1]) {
                        strbuf_append_char(&set, *p);
                        continue;
                }
                char c = *++p;
                if (c == 'd')
                        strbuf_append(&set, "0-9");
                else if (c == 's')
                        strbuf_append(&set, "[:space:]");
                else if (c == 'w')
                        strbuf_append(&set, "[:alnum:]_");
                else if (c == '-')
                        dash = true;
                else if (c == ']')
                        rb = true;
                else if (c == '^')
                        caret = true;
                else
                        strbuf_append_char(&set, c);
        }
        if (!*p)
                return -EINVAL;
        if (set.error)
                return set.error;
        if (!neg && !rb && set.len == 0 && caret && !dash)
                strbuf_append(sb, "\\^");
        else if (!neg && !rb && set.len == 0)
                strbuf_appendf(sb, "[%s%s]", dash ? "-" : "", caret ? "^" : "");
        else
                strbuf_appendf(sb, "[%s%s%s%s%s]", neg ? "^" : "", rb ? "]" : "", strempty(strbuf_str(&set)),
                               caret ? "^" : "", dash ? "-" : "");
        *pp = p;
        return 0;
}

/* Java syntax to POSIX extended syntax, refusing what would backtrack or silently mean something
 * else. Lookarounds, lazy quantifiers and inline flags are not supported: "(?" is refused here,
 * the rest by regcomp(). */
static int translate(const char *pattern, UserRegexFlags flags, StrBuf *sb, const char **ret_why) {
        unsigned depth = 0;

        if (strlen(pattern) > USER_REGEX_MAX_PATTERN) {
                *ret_why = "longer than 1024 characters";
                return -EINVAL;
        }
        if (flags & USER_REGEX_WHOLE)
                strbuf_append(sb, "^(");
        for (const char *p = pattern; *p; p++) {
                if (*p == '[') {
                        int r = bracket_translate(&p, sb);
                        if (r == -EINVAL)
                                *ret_why = "unterminated '['";
                        if (r < 0)
                                return r;
                        continue;
                }
                if (*p == '(' && p[1] == '?') {
                        *ret_why = "groups starting with \"(?\" (lookarounds, non-capturing or named groups, inline flags) are not supported";
                        return -EINVAL;
                }
                if (*p == '(')
                        depth++;
                else if (*p == ')') {
                        /* a stray ')' would close our own "^(" and unanchor what follows */
                        if (depth == 0) {
                                *ret_why = "unbalanced ')'";
                                return -EINVAL;
                        }
                        depth--;
                }
                if (*p != '\\' || !p[1]) {
                        strbuf_append_char(sb, *p);
                        continue;
                }
                char c = *++p;
                if ((c >= '1' && c <= '9') || c == 'k') {
                        *ret_why = "backreferences (\\1 to \\9, \\k<name>) are not supported: their matching time grows exponentially";
                        return -EINVAL;
                }
                if (c == 'd')
                        strbuf_append(sb, "[0-9]");
                else if (c == 'D')
                        strbuf_append(sb, "[^0-9]");
                else {
                        strbuf_append_char(sb, '\\');
                        strbuf_append_char(sb, c);
                }
        }
        if (flags & USER_REGEX_WHOLE)
                strbuf_append(sb, ")$");
        return sb->error;
}

int user_regex_compile(const char *pattern, UserRegexFlags flags, regex_t *re, const char **ret_why) {
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;
        const char *why = NULL;
        int r;

        r = translate(pattern, flags, &sb, &why);
        if (r == 0) {
                r = regcomp(re, strbuf_str(&sb), REG_EXTENDED | (flags & USER_REGEX_NOSUB ? REG_NOSUB : 0));
                if (r == REG_ESPACE)
                        return -ENOMEM;
                if (r != 0) {
                        why = regcomp_why(r);
                        r = -EINVAL;
                }
        }
        if (ret_why)
                *ret_why = r == -EINVAL ? why : NULL;
        return r;
}

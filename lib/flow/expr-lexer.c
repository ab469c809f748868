/* expr-lexer.c: splits a Pebble template into text, delimiters and expression tokens. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "expr-internal.h"
#include "strbuf.h"

typedef struct Lexer {
        const char *src, *end, *p;
        unsigned line, column;
        ExprTokens *out;
        ExprError *err;
} Lexer;

void expr_tokens_done(ExprTokens *t) {
        if (!t)
                return;
        for (size_t i = 0; i < t->n; i++)
                free(t->tokens[i].str);
        free(t->tokens);
        *t = (ExprTokens) {};
}

static void lexer_advance(Lexer *l, size_t n) {
        for (; n > 0 && l->p < l->end; n--, l->p++) {
                if (*l->p == '\n') {
                        l->line++;
                        l->column = 1;
                } else
                        l->column++;
        }
}

static bool lexer_at(const Lexer *l, const char *s) {
        size_t n = strlen(s);
        return (size_t) (l->end - l->p) >= n && memcmp(l->p, s, n) == 0;
}

static ExprToken *lexer_push(Lexer *l, ExprTokenType type, const char *start, size_t len, unsigned line,
                             unsigned column) {
        ExprTokens *t = l->out;
        if (t->n == t->cap) {
                size_t cap = t->cap ? t->cap * 2 : 64;
                ExprToken *n = reallocarray(t->tokens, cap, sizeof(ExprToken));
                if (!n)
                        return NULL;
                t->tokens = n;
                t->cap = cap;
        }
        ExprToken *tok = &t->tokens[t->n++];
        *tok = (ExprToken) {
                .type = type,
                .line = line,
                .column = column,
                .src = start,
                .src_len = len,
        };
        return tok;
}

static int lexer_error(Lexer *l, unsigned line, unsigned column, const char *what) {
        expr_set_error(l->err, line, column, "%s at line %u, column %u", what, line, column);
        return -EINVAL;
}

static int lex_string(Lexer *l) {
        unsigned line = l->line, column = l->column;
        const char *start = l->p;
        char quote = *l->p;
        _cleanup_strbuf_ StrBuf sb = STRBUF_INIT;

        lexer_advance(l, 1);
        for (;;) {
                if (l->p >= l->end)
                        return lexer_error(l, line, column, "Unclosed string literal");
                char c = *l->p;
                if (c == quote) {
                        lexer_advance(l, 1);
                        break;
                }
                if (c != '\\') {
                        strbuf_append_char(&sb, c);
                        lexer_advance(l, 1);
                        continue;
                }
                if (l->p + 1 >= l->end)
                        return lexer_error(l, line, column, "Unclosed string literal");
                char e = l->p[1];
                switch (e) {
                case 'n': strbuf_append_char(&sb, '\n'); break;
                case 't': strbuf_append_char(&sb, '\t'); break;
                case 'r': strbuf_append_char(&sb, '\r'); break;
                case 'b': strbuf_append_char(&sb, '\b'); break;
                case 'f': strbuf_append_char(&sb, '\f'); break;
                case '0': strbuf_append_char(&sb, '\0'); break;
                case 'u': {
                        unsigned cp = 0;
                        if (l->end - l->p < 6)
                                return lexer_error(l, l->line, l->column, "Invalid \\u escape in string literal");
                        for (int i = 2; i < 6; i++) {
                                char h = l->p[i];
                                if (!isxdigit((unsigned char) h))
                                        return lexer_error(l, l->line, l->column,
                                                           "Invalid \\u escape in string literal");
                                cp = cp * 16 + (unsigned) (isdigit((unsigned char) h) ? h - '0' : (tolower((unsigned char) h) - 'a' + 10));
                        }
                        /* UTF-8 encode the BMP code point; surrogates are kept as their own sequence */
                        if (cp < 0x80)
                                strbuf_append_char(&sb, (char) cp);
                        else if (cp < 0x800) {
                                strbuf_append_char(&sb, (char) (0xC0 | (cp >> 6)));
                                strbuf_append_char(&sb, (char) (0x80 | (cp & 0x3F)));
                        } else {
                                strbuf_append_char(&sb, (char) (0xE0 | (cp >> 12)));
                                strbuf_append_char(&sb, (char) (0x80 | ((cp >> 6) & 0x3F)));
                                strbuf_append_char(&sb, (char) (0x80 | (cp & 0x3F)));
                        }
                        lexer_advance(l, 6);
                        continue;
                }
                default:
                        /* \\, \', \", and anything else stand for themselves */
                        strbuf_append_char(&sb, e);
                        break;
                }
                lexer_advance(l, 2);
        }
        if (sb.error)
                return sb.error;
        /* a string may contain NUL through \0 or \u0000: keep the length */
        size_t len = sb.len;
        char *s = strbuf_steal(&sb);
        if (!s)
                return -ENOMEM;
        ExprToken *t = lexer_push(l, EXPR_TOK_STRING, start, (size_t) (l->p - start), line, column);
        if (!t) {
                free(s);
                return -ENOMEM;
        }
        t->str = s;
        t->len = len;
        return 0;
}

static int lex_number(Lexer *l) {
        unsigned line = l->line, column = l->column;
        const char *start = l->p, *q = l->p;
        bool is_float = false;

        while (q < l->end && isdigit((unsigned char) *q))
                q++;
        /* "1..3" is a range, not a decimal */
        if (q + 1 < l->end && q[0] == '.' && isdigit((unsigned char) q[1])) {
                is_float = true;
                q++;
                while (q < l->end && isdigit((unsigned char) *q))
                        q++;
        }
        char buf[64];
        size_t n = (size_t) (q - start);
        if (n >= sizeof buf)
                return lexer_error(l, line, column, "Number literal too long");
        memcpy(buf, start, n);
        buf[n] = 0;

        ExprToken *t = lexer_push(l, is_float ? EXPR_TOK_FLOAT : EXPR_TOK_INT, start, n, line, column);
        if (!t)
                return -ENOMEM;
        if (is_float)
                t->d = strtod(buf, NULL);
        else {
                errno = 0;
                long long v = strtoll(buf, NULL, 10);
                if (errno == ERANGE) {
                        l->out->n--;
                        return lexer_error(l, line, column, "Integer literal out of range");
                }
                t->i = v;
        }
        lexer_advance(l, n);
        return 0;
}

/* Operators, longest first. */
static const char *const lexer_ops[] = {
        "???", "??", "==", "!=", "<=", ">=", "..", "<", ">", "+", "-", "*", "/", "%", "~", "|", ".",
        ",",   ":",  "(",  ")",  "[",  "]",  "{", "}", "?", "=",
};

/* Lex the inside of {{ }} or {% %} up to and including the closing delimiter. */
static int lex_code(Lexer *l, bool print, unsigned open_line, unsigned open_column) {
        const char *close = print ? "}}" : "%}";
        unsigned depth = 0;
        int r;

        for (;;) {
                while (l->p < l->end && isspace((unsigned char) *l->p))
                        lexer_advance(l, 1);
                if (l->p >= l->end)
                        return lexer_error(l, open_line, open_column,
                                           print ? "Unclosed \"{{\"" : "Unclosed \"{%\"");

                if (depth == 0 && (lexer_at(l, close) || (*l->p == '-' && l->p + 1 < l->end && memcmp(l->p + 1, close, 2) == 0))) {
                        bool trim = *l->p == '-';
                        ExprToken *t = lexer_push(l, print ? EXPR_TOK_PRINT_CLOSE : EXPR_TOK_TAG_CLOSE, l->p,
                                                  trim ? 3 : 2, l->line, l->column);
                        if (!t)
                                return -ENOMEM;
                        t->i = trim;
                        lexer_advance(l, trim ? 3 : 2);
                        return 0;
                }

                char c = *l->p;
                if (c == '\'' || c == '"') {
                        r = lex_string(l);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (isdigit((unsigned char) c)) {
                        r = lex_number(l);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (isalpha((unsigned char) c) || c == '_') {
                        const char *q = l->p;
                        while (q < l->end && (isalnum((unsigned char) *q) || *q == '_'))
                                q++;
                        size_t n = (size_t) (q - l->p);
                        ExprToken *t = lexer_push(l, EXPR_TOK_NAME, l->p, n, l->line, l->column);
                        if (!t)
                                return -ENOMEM;
                        t->str = strndup(l->p, n);
                        if (!t->str)
                                return -ENOMEM;
                        t->len = n;
                        lexer_advance(l, n);
                        continue;
                }
                bool found = false;
                for (size_t i = 0; i < ELEMENTSOF(lexer_ops); i++) {
                        if (!lexer_at(l, lexer_ops[i]))
                                continue;
                        size_t n = strlen(lexer_ops[i]);
                        ExprToken *t = lexer_push(l, EXPR_TOK_OP, l->p, n, l->line, l->column);
                        if (!t)
                                return -ENOMEM;
                        memcpy(t->op, lexer_ops[i], n + 1);
                        /* only braces matter: "}}" closes the tag unless a map literal is open */
                        if (c == '{')
                                depth++;
                        else if (c == '}' && depth > 0)
                                depth--;
                        lexer_advance(l, n);
                        found = true;
                        break;
                }
                if (!found) {
                        char what[64];
                        if (isprint((unsigned char) c))
                                snprintf(what, sizeof what, "Unexpected character '%c'", c);
                        else
                                snprintf(what, sizeof what, "Unexpected byte 0x%02x", (unsigned) (unsigned char) c);
                        return lexer_error(l, l->line, l->column, what);
                }
        }
}

static int lex_text(Lexer *l, const char *start, const char *end, unsigned line, unsigned column) {
        if (end <= start)
                return 0;
        ExprToken *t = lexer_push(l, EXPR_TOK_TEXT, start, (size_t) (end - start), line, column);
        return t ? 0 : -ENOMEM;
}

/* After "{% raw %}": everything up to "{% endraw %}" is text. */
static int lex_raw(Lexer *l, unsigned open_line, unsigned open_column) {
        const char *start = l->p;
        unsigned line = l->line, column = l->column;

        for (;;) {
                const char *q = memmem(l->p, (size_t) (l->end - l->p), "{%", 2);
                if (!q)
                        return lexer_error(l, open_line, open_column, "Unclosed \"{% raw %}\" (missing \"{% endraw %}\")");
                lexer_advance(l, (size_t) (q - l->p));
                const char *s = q + 2;
                bool trim_before = s < l->end && *s == '-';
                if (trim_before)
                        s++;
                while (s < l->end && isspace((unsigned char) *s))
                        s++;
                if ((size_t) (l->end - s) >= 6 && memcmp(s, "endraw", 6) == 0) {
                        s += 6;
                        while (s < l->end && isspace((unsigned char) *s))
                                s++;
                        bool trim_after = s < l->end && *s == '-';
                        if (trim_after)
                                s++;
                        if ((size_t) (l->end - s) >= 2 && memcmp(s, "%}", 2) == 0) {
                                const char *text_end = q;
                                int r = lex_text(l, start, text_end, line, column);
                                if (r < 0)
                                        return r;
                                if (r == 0 && text_end > start && trim_before) {
                                        ExprToken *t = &l->out->tokens[l->out->n - 1];
                                        while (t->src_len > 0 && isspace((unsigned char) t->src[t->src_len - 1]))
                                                t->src_len--;
                                }
                                /* a zero-width marker so that "-%}" trims the following text */
                                ExprToken *m = lexer_push(l, EXPR_TOK_TAG_CLOSE, s, 0, l->line, l->column);
                                if (!m)
                                        return -ENOMEM;
                                m->i = trim_after;
                                m->op[0] = 'r'; /* raw end marker: not a real tag, the parser skips it */
                                lexer_advance(l, (size_t) (s + 2 - l->p));
                                return 0;
                        }
                }
                lexer_advance(l, 2);
        }
}

int expr_lex(const char *src, size_t len, ExprTokens *ret, ExprError *err) {
        Lexer l = {
                .src = src,
                .end = src + len,
                .p = src,
                .line = 1,
                .column = 1,
                .out = ret,
                .err = err,
        };
        int r;

        *ret = (ExprTokens) {};
        while (l.p < l.end) {
                const char *text = l.p;
                unsigned line = l.line, column = l.column;
                const char *q = l.p;
                while ((q = memchr(q, '{', (size_t) (l.end - q)))) {
                        if (q + 1 < l.end && (q[1] == '{' || q[1] == '%' || q[1] == '#'))
                                break;
                        q++;
                }
                if (!q)
                        q = l.end;
                r = lex_text(&l, text, q, line, column);
                if (r < 0)
                        goto fail;
                lexer_advance(&l, (size_t) (q - l.p));
                if (l.p >= l.end)
                        break;

                unsigned open_line = l.line, open_column = l.column;
                char kind = l.p[1];
                bool trim = l.p + 2 < l.end && l.p[2] == '-';
                if (kind == '#') {
                        const char *e = memmem(l.p + 2, (size_t) (l.end - l.p - 2), "#}", 2);
                        if (!e) {
                                r = lexer_error(&l, open_line, open_column, "Unclosed comment \"{#\"");
                                goto fail;
                        }
                        lexer_advance(&l, (size_t) (e + 2 - l.p));
                        continue;
                }
                ExprToken *t = lexer_push(&l, kind == '{' ? EXPR_TOK_PRINT_OPEN : EXPR_TOK_TAG_OPEN, l.p, trim ? 3 : 2,
                                          open_line, open_column);
                if (!t) {
                        r = -ENOMEM;
                        goto fail;
                }
                t->i = trim;
                size_t open_index = l.out->n - 1;
                lexer_advance(&l, trim ? 3 : 2);
                r = lex_code(&l, kind == '{', open_line, open_column);
                if (r < 0)
                        goto fail;
                /* {% raw %} switches to verbatim text until {% endraw %} */
                if (kind == '%' && l.out->n == open_index + 3 && l.out->tokens[open_index + 1].type == EXPR_TOK_NAME &&
                    streq(l.out->tokens[open_index + 1].str, "raw")) {
                        r = lex_raw(&l, open_line, open_column);
                        if (r < 0)
                                goto fail;
                }
        }
        if (!lexer_push(&l, EXPR_TOK_EOF, l.p, 0, l.line, l.column)) {
                r = -ENOMEM;
                goto fail;
        }

        /* whitespace control: "{{-" trims the text before, "-}}" the text after */
        for (size_t i = 0; i < ret->n; i++) {
                ExprToken *t = &ret->tokens[i];
                if (t->type != EXPR_TOK_TEXT)
                        continue;
                if (i > 0 && (ret->tokens[i - 1].type == EXPR_TOK_PRINT_CLOSE || ret->tokens[i - 1].type == EXPR_TOK_TAG_CLOSE) &&
                    ret->tokens[i - 1].i) {
                        while (t->src_len > 0 && isspace((unsigned char) *t->src)) {
                                if (*t->src == '\n') {
                                        t->line++;
                                        t->column = 1;
                                } else
                                        t->column++;
                                t->src++;
                                t->src_len--;
                        }
                }
                if (i + 1 < ret->n && (ret->tokens[i + 1].type == EXPR_TOK_PRINT_OPEN || ret->tokens[i + 1].type == EXPR_TOK_TAG_OPEN) &&
                    ret->tokens[i + 1].i)
                        while (t->src_len > 0 && isspace((unsigned char) t->src[t->src_len - 1]))
                                t->src_len--;
        }
        return 0;

fail:
        expr_tokens_done(ret);
        return r;
}

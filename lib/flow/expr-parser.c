/* expr-parser.c: builds the syntax tree of a template (tags and Pebble-precedence expressions). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "expr-internal.h"
#include "strutil.h"

typedef struct Parser {
        ExprTokens toks;
        size_t pos;
        unsigned depth;
        const char *stmt_src; /* the {{ }} / {% %} being parsed */
        size_t stmt_len;
        ExprError *err;
} Parser;

ExprNode *expr_node_free(ExprNode *n) {
        if (!n)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++) {
                expr_node_free(n->children[i]);
                if (n->arg_names)
                        free(n->arg_names[i]);
        }
        free(n->children);
        free(n->arg_names);
        free(n->name);
        free(n->name2);
        json_decref(n->value);
        free(n);
        return NULL;
}
DEFINE_FREE_CLEANUP(ExprNode, expr_node_free)

static const ExprToken *peek(const Parser *p) {
        return &p->toks.tokens[p->pos];
}
static const ExprToken *peek_at(const Parser *p, size_t k) {
        size_t i = MIN(p->pos + k, p->toks.n - 1);
        return &p->toks.tokens[i];
}
static const ExprToken *next(Parser *p) {
        const ExprToken *t = &p->toks.tokens[p->pos];
        if (t->type != EXPR_TOK_EOF)
                p->pos++;
        return t;
}
static bool is_op(const ExprToken *t, const char *op) {
        return t->type == EXPR_TOK_OP && streq(t->op, op);
}
static bool is_name(const ExprToken *t, const char *name) {
        return t->type == EXPR_TOK_NAME && streq(t->str, name);
}

static const char *token_describe(const ExprToken *t, char buf[static 64]) {
        switch (t->type) {
        case EXPR_TOK_EOF:
                return "end of template";
        case EXPR_TOK_PRINT_CLOSE:
        case EXPR_TOK_TAG_CLOSE:
        case EXPR_TOK_PRINT_OPEN:
        case EXPR_TOK_TAG_OPEN:
        default:
                snprintf(buf, 64, "\"%.*s\"", (int) MIN(t->src_len, (size_t) 40), t->src);
                return buf;
        }
}

static int parser_fail(Parser *p, const ExprToken *at, const char *fmt, ...) _printf_(3, 4);
static int parser_fail(Parser *p, const ExprToken *at, const char *fmt, ...) {
        _cleanup_free_ char *what = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&what, fmt, ap) < 0)
                what = NULL;
        va_end(ap);
        if (!what)
                return -ENOMEM;
        if (p->stmt_src)
                expr_set_error(p->err, at->line, at->column, "%s in the expression `%.*s` at line %u, column %u", what,
                               (int) MIN(p->stmt_len, (size_t) 200), p->stmt_src, at->line, at->column);
        else
                expr_set_error(p->err, at->line, at->column, "%s at line %u, column %u", what, at->line, at->column);
        return -EINVAL;
}

static int unexpected(Parser *p, const char *expected) {
        char buf[64];
        const ExprToken *t = peek(p);
        return parser_fail(p, t, "Unexpected %s, expected %s", token_describe(t, buf), expected);
}

static ExprNode *node_new(const Parser *p, ExprNodeType type, const ExprToken *at) {
        ExprNode *n = calloc(1, sizeof(ExprNode));
        if (!n)
                return NULL;
        n->type = type;
        n->line = at->line;
        n->column = at->column;
        n->stmt_src = p->stmt_src;
        n->stmt_len = p->stmt_len;
        return n;
}

/* Append child (taking it; freed on failure). */
static int node_add(ExprNode *n, ExprNode *child, char *arg_name) {
        if (!child) {
                free(arg_name);
                return -ENOMEM;
        }
        ExprNode **c = reallocarray(n->children, n->n_children + 1, sizeof(ExprNode *));
        if (!c)
                goto oom;
        n->children = c;
        if (arg_name || n->arg_names) {
                char **a = reallocarray(n->arg_names, n->n_children + 1, sizeof(char *));
                if (!a)
                        goto oom;
                if (!n->arg_names)
                        memset(a, 0, n->n_children * sizeof(char *));
                n->arg_names = a;
                a[n->n_children] = arg_name;
        }
        n->children[n->n_children++] = child;
        n->depth = MAX(n->depth, child->depth + 1);
        return 0;
oom:
        expr_node_free(child);
        free(arg_name);
        return -ENOMEM;
}

static int parse_expr(Parser *p, ExprNode **ret);
static int parse_binary(Parser *p, int min_prec, ExprNode **ret);

static int depth_enter(Parser *p) {
        if (++p->depth > EXPR_MAX_DEPTH)
                return parser_fail(p, peek(p), "Expression nested too deeply (more than %u levels)", EXPR_MAX_DEPTH);
        return 0;
}

/* "(" [arg {"," arg}] ")" where arg is "name = expr" or "expr"; appended to n after its existing children. */
static int parse_args(Parser *p, ExprNode *n) {
        int r;
        next(p); /* ( */
        if (is_op(peek(p), ")")) {
                next(p);
                return 0;
        }
        for (;;) {
                char *name = NULL;
                if (peek(p)->type == EXPR_TOK_NAME && is_op(peek_at(p, 1), "=")) {
                        name = strdup(next(p)->str);
                        if (!name)
                                return -ENOMEM;
                        next(p);
                }
                ExprNode *a = NULL;
                r = parse_expr(p, &a);
                if (r < 0) {
                        free(name);
                        return r;
                }
                r = node_add(n, a, name);
                if (r < 0)
                        return r;
                if (is_op(peek(p), ",")) {
                        next(p);
                        continue;
                }
                if (is_op(peek(p), ")")) {
                        next(p);
                        return 0;
                }
                return unexpected(p, "\",\" or \")\" in the argument list");
        }
}

static int parse_literal(Parser *p, const ExprToken *t, json_t *v, ExprNode **ret) {
        if (!v)
                return -ENOMEM;
        ExprNode *n = node_new(p, EXPR_NODE_LITERAL, t);
        if (!n) {
                json_decref(v);
                return -ENOMEM;
        }
        n->value = v;
        *ret = n;
        return 0;
}

static int parse_primary(Parser *p, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *n = NULL;
        const ExprToken *t = peek(p);
        int r;

        switch (t->type) {
        case EXPR_TOK_INT:
                next(p);
                return parse_literal(p, t, json_integer(t->i), ret);
        case EXPR_TOK_FLOAT:
                next(p);
                return parse_literal(p, t, json_real(t->d), ret);
        case EXPR_TOK_STRING:
                next(p);
                return parse_literal(p, t, json_stringn_nocheck(t->str, t->len), ret);
        case EXPR_TOK_NAME:
                next(p);
                if (streq(t->str, "true") || streq(t->str, "false"))
                        return parse_literal(p, t, json_boolean(streq(t->str, "true")), ret);
                if (streq(t->str, "null") || streq(t->str, "none"))
                        return parse_literal(p, t, json_null(), ret);
                if (is_op(peek(p), "(")) {
                        n = node_new(p, EXPR_NODE_CALL, t);
                        if (!n || !(n->name = strdup(t->str)))
                                return -ENOMEM;
                        r = parse_args(p, n);
                        if (r < 0)
                                return r;
                        *ret = TAKE_PTR(n);
                        return 0;
                }
                n = node_new(p, EXPR_NODE_VAR, t);
                if (!n || !(n->name = strdup(t->str)))
                        return -ENOMEM;
                *ret = TAKE_PTR(n);
                return 0;
        case EXPR_TOK_OP:
                if (is_op(t, "(")) {
                        next(p);
                        r = parse_expr(p, &n);
                        if (r < 0)
                                return r;
                        if (!is_op(peek(p), ")"))
                                return unexpected(p, "\")\"");
                        next(p);
                        *ret = TAKE_PTR(n);
                        return 0;
                }
                if (is_op(t, "[") || is_op(t, "{")) {
                        bool map = is_op(t, "{");
                        const char *close = map ? "}" : "]";
                        next(p);
                        n = node_new(p, map ? EXPR_NODE_MAP : EXPR_NODE_LIST, t);
                        if (!n)
                                return -ENOMEM;
                        while (!is_op(peek(p), close)) {
                                ExprNode *item = NULL;
                                r = parse_expr(p, &item);
                                if (r < 0)
                                        return r;
                                r = node_add(n, item, NULL);
                                if (r < 0)
                                        return r;
                                if (map) {
                                        if (!is_op(peek(p), ":"))
                                                return unexpected(p, "\":\" after a map key");
                                        next(p);
                                        r = parse_expr(p, &item);
                                        if (r < 0)
                                                return r;
                                        r = node_add(n, item, NULL);
                                        if (r < 0)
                                                return r;
                                }
                                if (is_op(peek(p), ","))
                                        next(p);
                                else if (!is_op(peek(p), close))
                                        return unexpected(p, map ? "\",\" or \"}\"" : "\",\" or \"]\"");
                        }
                        next(p);
                        *ret = TAKE_PTR(n);
                        return 0;
                }
                break;
        default:
                break;
        }
        return unexpected(p, "a value");
}

static int parse_postfix(Parser *p, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *n = NULL;
        int r;

        r = parse_primary(p, &n);
        if (r < 0)
                return r;
        for (;;) {
                const ExprToken *t = peek(p);
                if (is_op(t, ".")) {
                        next(p);
                        const ExprToken *name = peek(p);
                        ExprNode *a;
                        if (name->type == EXPR_TOK_NAME) {
                                next(p);
                                if (is_op(peek(p), "("))
                                        return parser_fail(p, name, "Method calls like `.%s()` are not supported", name->str);
                                a = node_new(p, EXPR_NODE_ATTR, name);
                                if (!a)
                                        return -ENOMEM;
                                a->name = strdup(name->str);
                                if (!a->name) {
                                        free(a);
                                        return -ENOMEM;
                                }
                        } else if (name->type == EXPR_TOK_INT) {
                                /* list.0 is list[0] */
                                next(p);
                                ExprNode *idx = NULL;
                                r = parse_literal(p, name, json_integer(name->i), &idx);
                                if (r < 0)
                                        return r;
                                a = node_new(p, EXPR_NODE_INDEX, name);
                                if (!a) {
                                        expr_node_free(idx);
                                        return -ENOMEM;
                                }
                                r = node_add(a, TAKE_PTR(n), NULL);
                                if (r < 0) {
                                        expr_node_free(a);
                                        expr_node_free(idx);
                                        return r;
                                }
                                r = node_add(a, idx, NULL);
                                if (r < 0) {
                                        expr_node_free(a);
                                        return r;
                                }
                                n = a;
                                continue;
                        } else
                                return unexpected(p, "an attribute name after \".\"");
                        r = node_add(a, TAKE_PTR(n), NULL);
                        if (r < 0) {
                                expr_node_free(a);
                                return r;
                        }
                        n = a;
                } else if (is_op(t, "[")) {
                        next(p);
                        ExprNode *idx = NULL;
                        r = parse_expr(p, &idx);
                        if (r < 0)
                                return r;
                        if (!is_op(peek(p), "]")) {
                                expr_node_free(idx);
                                return unexpected(p, "\"]\"");
                        }
                        next(p);
                        ExprNode *a = node_new(p, EXPR_NODE_INDEX, t);
                        if (!a) {
                                expr_node_free(idx);
                                return -ENOMEM;
                        }
                        r = node_add(a, TAKE_PTR(n), NULL);
                        if (r < 0) {
                                expr_node_free(a);
                                expr_node_free(idx);
                                return r;
                        }
                        r = node_add(a, idx, NULL);
                        if (r < 0) {
                                expr_node_free(a);
                                return r;
                        }
                        n = a;
                } else
                        break;
                if (n->depth > EXPR_MAX_DEPTH)
                        return parser_fail(p, t, "Expression nested too deeply (more than %u levels)", EXPR_MAX_DEPTH);
        }
        *ret = TAKE_PTR(n);
        return 0;
}

static int parse_unary(Parser *p, ExprNode **ret) {
        const ExprToken *t = peek(p);
        int op = 0, prec = 0;

        if (is_name(t, "not")) {
                op = EXPR_OP_NOT;
                prec = 5; /* Pebble: "not a and b" is "not (a and b)" */
        } else if (is_op(t, "-")) {
                op = EXPR_OP_NEG;
                prec = 500;
        } else if (is_op(t, "+")) {
                op = EXPR_OP_PLUS;
                prec = 500;
        } else
                return parse_postfix(p, ret);

        next(p);
        _cleanup_(expr_node_freep) ExprNode *n = node_new(p, EXPR_NODE_UNARY, t);
        if (!n)
                return -ENOMEM;
        n->op = op;
        ExprNode *operand = NULL;
        int r = parse_binary(p, prec, &operand);
        if (r < 0)
                return r;
        r = node_add(n, operand, NULL);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

typedef struct BinOp {
        const char *tok;
        bool word;
        int prec;
        ExprNodeType type;
        int op;
} BinOp;

/* Pebble's precedences, plus Kestra's ?? and ???. */
static const BinOp binops[] = {
        { "or", true, 10, EXPR_NODE_OR, 0 },
        { "and", true, 15, EXPR_NODE_AND, 0 },
        { "is", true, 20, EXPR_NODE_TEST, 0 },
        { "contains", true, 20, EXPR_NODE_BINARY, EXPR_OP_CONTAINS },
        { "==", false, 30, EXPR_NODE_BINARY, EXPR_OP_EQ },
        { "equals", true, 30, EXPR_NODE_BINARY, EXPR_OP_EQ },
        { "!=", false, 30, EXPR_NODE_BINARY, EXPR_OP_NE },
        { "<", false, 30, EXPR_NODE_BINARY, EXPR_OP_LT },
        { ">", false, 30, EXPR_NODE_BINARY, EXPR_OP_GT },
        { "<=", false, 30, EXPR_NODE_BINARY, EXPR_OP_LE },
        { ">=", false, 30, EXPR_NODE_BINARY, EXPR_OP_GE },
        { "+", false, 40, EXPR_NODE_BINARY, EXPR_OP_ADD },
        { "-", false, 40, EXPR_NODE_BINARY, EXPR_OP_SUB },
        { "*", false, 60, EXPR_NODE_BINARY, EXPR_OP_MUL },
        { "/", false, 60, EXPR_NODE_BINARY, EXPR_OP_DIV },
        { "%", false, 60, EXPR_NODE_BINARY, EXPR_OP_MOD },
        { "|", false, 100, EXPR_NODE_FILTER, 0 },
        { "~", false, 110, EXPR_NODE_BINARY, EXPR_OP_CONCAT },
        { "..", false, 120, EXPR_NODE_BINARY, EXPR_OP_RANGE },
        { "??", false, 120, EXPR_NODE_COALESCE, EXPR_OP_NULL_COALESCE },
        { "???", false, 120, EXPR_NODE_COALESCE, EXPR_OP_UNDEF_COALESCE },
};

static const BinOp *binop_find(const ExprToken *t) {
        for (size_t i = 0; i < ELEMENTSOF(binops); i++)
                if (binops[i].word ? is_name(t, binops[i].tok) : is_op(t, binops[i].tok))
                        return &binops[i];
        return NULL;
}

static int parse_binary(Parser *p, int min_prec, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *left = NULL;
        int r;

        r = depth_enter(p);
        if (r < 0)
                return r;
        r = parse_unary(p, &left);
        if (r < 0)
                return r;
        for (;;) {
                const ExprToken *t = peek(p);
                const BinOp *op = binop_find(t);
                if (!op || op->prec < min_prec)
                        break;
                next(p);
                _cleanup_(expr_node_freep) ExprNode *n = node_new(p, op->type, t);
                if (!n)
                        return -ENOMEM;
                n->op = op->op;
                r = node_add(n, TAKE_PTR(left), NULL);
                if (r < 0)
                        return r;

                if (op->type == EXPR_NODE_TEST || op->type == EXPR_NODE_FILTER) {
                        if (op->type == EXPR_NODE_TEST && is_name(peek(p), "not")) {
                                next(p);
                                n->op = EXPR_OP_NOT;
                        }
                        const ExprToken *name = peek(p);
                        if (name->type != EXPR_TOK_NAME)
                                return unexpected(p, op->type == EXPR_NODE_TEST ? "a test name after \"is\"" : "a filter name after \"|\"");
                        next(p);
                        n->name = strdup(name->str);
                        if (!n->name)
                                return -ENOMEM;
                        n->line = name->line;
                        n->column = name->column;
                        if (is_op(peek(p), "(")) {
                                r = parse_args(p, n);
                                if (r < 0)
                                        return r;
                        }
                } else {
                        ExprNode *right = NULL;
                        r = parse_binary(p, op->prec + 1, &right);
                        if (r < 0)
                                return r;
                        r = node_add(n, right, NULL);
                        if (r < 0)
                                return r;
                }
                left = TAKE_PTR(n);
                /* long left-associative chains ("a ~ b ~ c ...", "x | f | g ...") are built without
                 * recursion, but evaluating them recurses: bound their height too */
                if (left->depth > EXPR_MAX_DEPTH)
                        return parser_fail(p, t, "Expression nested too deeply (more than %u levels)", EXPR_MAX_DEPTH);
        }
        p->depth--;
        *ret = TAKE_PTR(left);
        return 0;
}

static int parse_expr(Parser *p, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *cond = NULL;
        int r;

        r = depth_enter(p);
        if (r < 0)
                return r;
        r = parse_binary(p, 0, &cond);
        if (r < 0)
                return r;
        const ExprToken *t = peek(p);
        if (is_op(t, "?")) {
                next(p);
                _cleanup_(expr_node_freep) ExprNode *n = node_new(p, EXPR_NODE_TERNARY, t);
                if (!n)
                        return -ENOMEM;
                r = node_add(n, TAKE_PTR(cond), NULL);
                if (r < 0)
                        return r;
                ExprNode *a = NULL;
                r = parse_expr(p, &a);
                if (r < 0)
                        return r;
                r = node_add(n, a, NULL);
                if (r < 0)
                        return r;
                if (!is_op(peek(p), ":"))
                        return unexpected(p, "\":\" in the conditional expression");
                next(p);
                r = parse_expr(p, &a);
                if (r < 0)
                        return r;
                r = node_add(n, a, NULL);
                if (r < 0)
                        return r;
                cond = TAKE_PTR(n);
        }
        p->depth--;
        *ret = TAKE_PTR(cond);
        return 0;
}

/* Remember the source span of the statement starting at the current open token. */
static void stmt_begin(Parser *p) {
        const ExprToken *open = peek(p);
        ExprTokenType close = open->type == EXPR_TOK_PRINT_OPEN ? EXPR_TOK_PRINT_CLOSE : EXPR_TOK_TAG_CLOSE;
        size_t j = p->pos + 1;
        while (j < p->toks.n - 1 && p->toks.tokens[j].type != close)
                j++;
        const ExprToken *end = &p->toks.tokens[j];
        p->stmt_src = open->src;
        p->stmt_len = (size_t) (end->src + end->src_len - open->src);
}

static int expect_tag_close(Parser *p) {
        if (peek(p)->type != EXPR_TOK_TAG_CLOSE)
                return unexpected(p, "\"%}\"");
        next(p);
        return 0;
}

static int parse_block(Parser *p, const char *const *ends, const ExprToken *opener, ExprNode **ret);

/* "%} BODY" after a tag: the body, up to one of ends, becomes a child of n. */
static int parse_body(Parser *p, ExprNode *n, const char *const *ends, const ExprToken *at) {
        ExprNode *body = NULL;
        int r = expect_tag_close(p);
        if (r < 0)
                return r;
        r = parse_block(p, ends, at, &body);
        if (r < 0)
                return r;
        return node_add(n, body, NULL);
}

/* "EXPR %} BODY" of {% if EXPR %} and {% for x in EXPR %}: both become children of n. */
static int parse_expr_and_body(Parser *p, ExprNode *n, const char *const *ends, const ExprToken *at) {
        ExprNode *e = NULL;
        int r = parse_expr(p, &e);
        if (r < 0)
                return r;
        r = node_add(n, e, NULL);
        if (r < 0)
                return r;
        return parse_body(p, n, ends, at);
}

static int parse_if(Parser *p, const ExprToken *at, ExprNode **ret) {
        static const char *const ends[] = { "elseif", "elif", "else", "endif", NULL };
        _cleanup_(expr_node_freep) ExprNode *n = node_new(p, EXPR_NODE_IF, at);
        int r;

        if (!n)
                return -ENOMEM;
        for (;;) {
                /* at the condition of "if" / "elseif" */
                r = parse_expr_and_body(p, n, ends, at);
                if (r < 0)
                        return r;
                /* parse_block stopped at "{%" NAME */
                stmt_begin(p);
                next(p);
                const ExprToken *kw = next(p);
                if (streq(kw->str, "elseif") || streq(kw->str, "elif"))
                        continue;
                if (streq(kw->str, "else")) {
                        static const char *const endif[] = { "endif", NULL };
                        r = parse_body(p, n, endif, at);
                        if (r < 0)
                                return r;
                        stmt_begin(p);
                        next(p);
                        next(p);
                }
                r = expect_tag_close(p);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(n);
                return 0;
        }
}

static int parse_for(Parser *p, const ExprToken *at, ExprNode **ret) {
        static const char *const ends[] = { "else", "endfor", NULL };
        _cleanup_(expr_node_freep) ExprNode *n = node_new(p, EXPR_NODE_FOR, at);
        int r;

        if (!n)
                return -ENOMEM;
        if (peek(p)->type != EXPR_TOK_NAME)
                return unexpected(p, "a loop variable name");
        n->name = strdup(next(p)->str);
        if (!n->name)
                return -ENOMEM;
        if (is_op(peek(p), ",")) {
                next(p);
                if (peek(p)->type != EXPR_TOK_NAME)
                        return unexpected(p, "a second loop variable name");
                n->name2 = strdup(next(p)->str);
                if (!n->name2)
                        return -ENOMEM;
        }
        if (!is_name(peek(p), "in"))
                return unexpected(p, "\"in\"");
        next(p);
        r = parse_expr_and_body(p, n, ends, at);
        if (r < 0)
                return r;
        stmt_begin(p);
        next(p);
        if (streq(next(p)->str, "else")) {
                static const char *const endfor[] = { "endfor", NULL };
                r = parse_body(p, n, endfor, at);
                if (r < 0)
                        return r;
                stmt_begin(p);
                next(p);
                next(p);
        }
        r = expect_tag_close(p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

/* After an end tag's name: an optional repeated name ("{% endmacro name %}"), then "%}". */
static int parse_end_tag(Parser *p) {
        stmt_begin(p);
        next(p); /* {% */
        next(p); /* the end tag's name */
        if (peek(p)->type == EXPR_TOK_NAME)
                next(p);
        return expect_tag_close(p);
}

/* {% macro name(a, b = default) %}body{% endmacro %}: children[0] is the body, then one child per
 * argument (its default, null when none) named in arg_names. */
static int parse_macro(Parser *p, const ExprToken *at, ExprNode **ret) {
        static const char *const ends[] = { "endmacro", NULL };
        _cleanup_(expr_node_freep) ExprNode *n = node_new(p, EXPR_NODE_MACRO, at);
        ExprNode *body = NULL;
        int r;

        if (!n)
                return -ENOMEM;
        if (peek(p)->type != EXPR_TOK_NAME)
                return unexpected(p, "a macro name");
        n->name = strdup(next(p)->str);
        if (!n->name)
                return -ENOMEM;
        if (!is_op(peek(p), "("))
                return unexpected(p, "\"(\" after the macro name");
        next(p);
        /* the body comes first among the children: an empty block holds its place until it is parsed */
        r = node_add(n, node_new(p, EXPR_NODE_BLOCK, at), NULL);
        if (r < 0)
                return r;
        while (!is_op(peek(p), ")")) {
                if (peek(p)->type != EXPR_TOK_NAME)
                        return unexpected(p, "an argument name");
                char *arg = strdup(next(p)->str);
                if (!arg)
                        return -ENOMEM;
                ExprNode *def = NULL;
                if (is_op(peek(p), "=")) {
                        next(p);
                        r = parse_expr(p, &def);
                        if (r < 0) {
                                free(arg);
                                return r;
                        }
                } else {
                        r = parse_literal(p, peek(p), json_null(), &def);
                        if (r < 0) {
                                free(arg);
                                return r;
                        }
                }
                r = node_add(n, def, arg);
                if (r < 0)
                        return r;
                if (is_op(peek(p), ","))
                        next(p);
                else if (!is_op(peek(p), ")"))
                        return unexpected(p, "\",\" or \")\" in the macro's arguments");
        }
        next(p);
        r = expect_tag_close(p);
        if (r < 0)
                return r;
        r = parse_block(p, ends, at, &body);
        if (r < 0)
                return r;
        expr_node_free(n->children[0]);
        n->children[0] = body;
        n->depth = MAX(n->depth, body->depth + 1);
        r = parse_end_tag(p);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(n);
        return 0;
}

/* {% filter upper | replace('a', 'b') %}body{% endfilter %}: the body rendered to a string, through
 * the filters, printed. Built as PRINT(FILTER(..., FILTER(CAPTURE(body)))). */
static int parse_filter_tag(Parser *p, const ExprToken *at, ExprNode **ret) {
        static const char *const ends[] = { "endfilter", NULL };
        _cleanup_(expr_node_freep) ExprNode *chain = node_new(p, EXPR_NODE_CAPTURE, at);
        ExprNode *capture = chain, *body = NULL;
        int r;

        if (!chain)
                return -ENOMEM;
        for (;;) {
                const ExprToken *name = peek(p);
                if (name->type != EXPR_TOK_NAME)
                        return unexpected(p, "a filter name");
                next(p);
                ExprNode *f = node_new(p, EXPR_NODE_FILTER, name);
                if (!f)
                        return -ENOMEM;
                r = node_add(f, TAKE_PTR(chain), NULL);
                chain = f;
                if (r < 0)
                        return r;
                f->name = strdup(name->str);
                if (!f->name)
                        return -ENOMEM;
                if (is_op(peek(p), "(")) {
                        r = parse_args(p, f);
                        if (r < 0)
                                return r;
                }
                if (!is_op(peek(p), "|"))
                        break;
                next(p);
        }
        r = expect_tag_close(p);
        if (r < 0)
                return r;
        r = parse_block(p, ends, at, &body);
        if (r < 0)
                return r;
        r = node_add(capture, body, NULL);
        if (r < 0)
                return r;
        /* the filters above the capture are as deep as the body makes them */
        unsigned levels = 0;
        for (ExprNode *f = chain; f != capture; f = f->children[0])
                levels++;
        for (ExprNode *f = chain; f != capture; f = f->children[0])
                f->depth = MAX(f->depth, capture->depth + levels--);
        r = parse_end_tag(p);
        if (r < 0)
                return r;
        ExprNode *print = node_new(p, EXPR_NODE_PRINT, at);
        if (!print)
                return -ENOMEM;
        r = node_add(print, TAKE_PTR(chain), NULL);
        if (r < 0) {
                expr_node_free(print);
                return r;
        }
        *ret = print;
        return 0;
}

static int parse_tag(Parser *p, ExprNode **ret) {
        const ExprToken *open = next(p);
        const ExprToken *kw = peek(p);
        int r;

        if (kw->type != EXPR_TOK_NAME)
                return unexpected(p, "a tag name (if, for, set, raw, macro, filter)");
        next(p);
        if (streq(kw->str, "if"))
                return parse_if(p, open, ret);
        if (streq(kw->str, "for"))
                return parse_for(p, open, ret);
        if (streq(kw->str, "macro"))
                return parse_macro(p, open, ret);
        if (streq(kw->str, "filter"))
                return parse_filter_tag(p, open, ret);
        if (streq(kw->str, "set")) {
                if (peek(p)->type != EXPR_TOK_NAME)
                        return unexpected(p, "a variable name");
                _cleanup_(expr_node_freep) ExprNode *n = node_new(p, EXPR_NODE_SET, open);
                if (!n || !(n->name = strdup(next(p)->str)))
                        return -ENOMEM;
                if (!is_op(peek(p), "="))
                        return unexpected(p, "\"=\"");
                next(p);
                ExprNode *v = NULL;
                r = parse_expr(p, &v);
                if (r < 0)
                        return r;
                r = node_add(n, v, NULL);
                if (r < 0)
                        return r;
                r = expect_tag_close(p);
                if (r < 0)
                        return r;
                *ret = TAKE_PTR(n);
                return 0;
        }
        if (streq(kw->str, "raw")) {
                /* the lexer turned the content into one text token followed by an end marker */
                r = expect_tag_close(p);
                if (r < 0)
                        return r;
                _cleanup_(expr_node_freep) ExprNode *n = node_new(p, EXPR_NODE_TEXT, open);
                if (!n)
                        return -ENOMEM;
                if (peek(p)->type == EXPR_TOK_TEXT) {
                        const ExprToken *t = next(p);
                        n->text = (char *) t->src;
                        n->text_len = t->src_len;
                }
                if (peek(p)->type != EXPR_TOK_TAG_CLOSE || peek(p)->op[0] != 'r')
                        return unexpected(p, "\"{% endraw %}\"");
                next(p);
                *ret = TAKE_PTR(n);
                return 0;
        }
        static const char *const known[] = { "if", "for", "set", "raw", "macro", "filter", "elseif", "else", "endif", "endfor",
                                             "endraw", "endmacro", "endfilter" };
        const char *hint = expr_suggest(kw->str, known, ELEMENTSOF(known));
        if (p->err && !p->err->message)
                p->err->unknown_tag = true;
        if (hint)
                return parser_fail(p, kw, "Unknown tag `%s`, did you mean `%s`?", kw->str, hint);
        return parser_fail(p, kw, "Unknown tag `%s`", kw->str);
}

static bool at_end_tag(const Parser *p, const char *const *ends) {
        if (peek(p)->type != EXPR_TOK_TAG_OPEN || peek_at(p, 1)->type != EXPR_TOK_NAME)
                return false;
        for (size_t i = 0; ends && ends[i]; i++)
                if (streq(peek_at(p, 1)->str, ends[i]))
                        return true;
        return false;
}

/* Parse statements until one of the end tags (not consumed) or the end of input. */
static int parse_block(Parser *p, const char *const *ends, const ExprToken *opener, ExprNode **ret) {
        _cleanup_(expr_node_freep) ExprNode *block = node_new(p, EXPR_NODE_BLOCK, peek(p));
        int r;

        if (!block)
                return -ENOMEM;
        r = depth_enter(p);
        if (r < 0)
                return r;
        for (;;) {
                const ExprToken *t = peek(p);
                ExprNode *n = NULL;

                if (t->type == EXPR_TOK_EOF) {
                        if (ends) {
                                const char *last = ends[0];
                                for (size_t i = 0; ends[i]; i++)
                                        last = ends[i];
                                p->stmt_src = NULL;
                                return parser_fail(p, t, "Unclosed \"{%% %s %%}\" opened at line %u, column %u (expected \"{%% %s %%}\")",
                                                   opener[1].type == EXPR_TOK_NAME ? opener[1].str : "?", opener->line,
                                                   opener->column, last);
                        }
                        break;
                }
                if (at_end_tag(p, ends))
                        break;
                switch (t->type) {
                case EXPR_TOK_TEXT:
                        next(p);
                        if (t->src_len == 0)
                                continue;
                        n = node_new(p, EXPR_NODE_TEXT, t);
                        if (!n)
                                return -ENOMEM;
                        n->text = (char *) t->src;
                        n->text_len = t->src_len;
                        break;
                case EXPR_TOK_PRINT_OPEN: {
                        stmt_begin(p);
                        next(p);
                        if (peek(p)->type == EXPR_TOK_PRINT_CLOSE)
                                return unexpected(p, "an expression");
                        ExprNode *e = NULL;
                        r = parse_expr(p, &e);
                        if (r < 0)
                                return r;
                        if (peek(p)->type != EXPR_TOK_PRINT_CLOSE) {
                                expr_node_free(e);
                                return unexpected(p, "\"}}\"");
                        }
                        next(p);
                        n = node_new(p, EXPR_NODE_PRINT, t);
                        if (!n) {
                                expr_node_free(e);
                                return -ENOMEM;
                        }
                        r = node_add(n, e, NULL);
                        if (r < 0) {
                                expr_node_free(n);
                                return r;
                        }
                        break;
                }
                case EXPR_TOK_TAG_OPEN:
                        stmt_begin(p);
                        if (peek_at(p, 1)->type == EXPR_TOK_NAME) {
                                const char *kw = peek_at(p, 1)->str;
                                if (streq(kw, "elseif") || streq(kw, "elif") || streq(kw, "else") || streq(kw, "endif") ||
                                    streq(kw, "endfor") || streq(kw, "endraw") || streq(kw, "endmacro") || streq(kw, "endfilter"))
                                        return parser_fail(p, peek_at(p, 1), "Unexpected \"{%% %s %%}\" without a matching opening tag", kw);
                        }
                        r = parse_tag(p, &n);
                        if (r < 0)
                                return r;
                        break;
                case EXPR_TOK_TAG_CLOSE:
                        /* raw end marker outside raw cannot happen; a stray one is skipped */
                        next(p);
                        continue;
                default:
                        return unexpected(p, "text, \"{{\" or \"{%\"");
                }
                r = node_add(block, n, NULL);
                if (r < 0)
                        return r;
        }
        p->depth--;
        *ret = TAKE_PTR(block);
        return 0;
}

int expr_parse(const char *src, size_t len, ExprNode **ret, ExprError *err) {
        Parser p = { .err = err };
        int r;

        r = expr_lex(src, len, &p.toks, err);
        if (r < 0)
                return r;
        r = parse_block(&p, NULL, NULL, ret);
        expr_tokens_done(&p.toks);
        return r;
}

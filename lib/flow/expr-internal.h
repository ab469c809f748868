/* expr-internal.h: tokens, syntax tree and evaluator state shared by the expr-*.c files (not public). */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "expr.h"
#include "strbuf.h"

typedef enum ExprTokenType {
        EXPR_TOK_EOF,
        EXPR_TOK_TEXT,        /* literal text between tags (str, len; already whitespace-trimmed) */
        EXPR_TOK_PRINT_OPEN,  /* {{ */
        EXPR_TOK_PRINT_CLOSE, /* }} */
        EXPR_TOK_TAG_OPEN,    /* {% */
        EXPR_TOK_TAG_CLOSE,   /* %} */
        EXPR_TOK_NAME,
        EXPR_TOK_INT,
        EXPR_TOK_FLOAT,
        EXPR_TOK_STRING, /* decoded into str/len */
        EXPR_TOK_OP,     /* punctuation or operator in op[] */
} ExprTokenType;

typedef struct ExprToken {
        ExprTokenType type;
        unsigned line, column;
        const char *src; /* start in the template source */
        size_t src_len;
        char *str; /* TEXT (borrowed slice copy), NAME, STRING: owned, NUL-terminated */
        size_t len;
        int64_t i;
        double d;
        char op[4];
} ExprToken;

typedef struct ExprTokens {
        ExprToken *tokens;
        size_t n, cap;
} ExprTokens;

/* Split a template into tokens; text segments are trimmed for {{- -}} and {% raw %} is resolved. */
int expr_lex(const char *src, size_t len, ExprTokens *ret, ExprError *err);
void expr_tokens_done(ExprTokens *t);

typedef enum ExprNodeType {
        /* expressions */
        EXPR_NODE_LITERAL, /* value */
        EXPR_NODE_VAR,     /* name */
        EXPR_NODE_ATTR,    /* children[0] . name */
        EXPR_NODE_INDEX,   /* children[0] [ children[1] ] */
        EXPR_NODE_LIST,    /* children */
        EXPR_NODE_MAP,     /* children: key, value, key, value... */
        EXPR_NODE_UNARY,   /* op: '-', '+', '!' (not) */
        EXPR_NODE_BINARY,  /* op, children[0..1] */
        EXPR_NODE_AND,
        EXPR_NODE_OR,
        EXPR_NODE_TERNARY,  /* cond, then, else */
        EXPR_NODE_COALESCE, /* op '?' for ??, 'u' for ??? */
        EXPR_NODE_FILTER,   /* name; children[0] input, then arguments (arg_names parallel) */
        EXPR_NODE_CALL,     /* name; children are arguments (arg_names parallel) */
        EXPR_NODE_TEST,     /* name; op '!' when negated; children[0] operand, then arguments */
        EXPR_NODE_CAPTURE,  /* children[0] a block, rendered to a string ({% filter %}'s body) */
        /* statements */
        EXPR_NODE_BLOCK, /* children */
        EXPR_NODE_TEXT,  /* text, text_len */
        EXPR_NODE_PRINT, /* children[0] */
        EXPR_NODE_IF,    /* cond, body, cond, body, ..., [else body] */
        EXPR_NODE_FOR,   /* name [, name2]; children: iterable, body [, else body] */
        EXPR_NODE_SET,   /* name; children[0] */
        EXPR_NODE_MACRO, /* name; children[0] body, then each argument's default, named in arg_names */
} ExprNodeType;

/* Binary operator codes stored in ExprNode.op. */
enum {
        EXPR_OP_EQ = 1,
        EXPR_OP_NE,
        EXPR_OP_LT,
        EXPR_OP_GT,
        EXPR_OP_LE,
        EXPR_OP_GE,
        EXPR_OP_ADD,
        EXPR_OP_SUB,
        EXPR_OP_MUL,
        EXPR_OP_DIV,
        EXPR_OP_MOD,
        EXPR_OP_CONCAT,
        EXPR_OP_RANGE,
        EXPR_OP_CONTAINS,
        EXPR_OP_NEG,
        EXPR_OP_PLUS,
        EXPR_OP_NOT,
        EXPR_OP_NULL_COALESCE,
        EXPR_OP_UNDEF_COALESCE,
};

typedef struct ExprNode ExprNode;
struct ExprNode {
        ExprNodeType type;
        int op;
        unsigned line, column;
        /* the {{ }} or {% %} this node belongs to, for error messages */
        const char *stmt_src;
        size_t stmt_len;
        char *name, *name2;
        char *text;
        size_t text_len;
        json_t *value;
        ExprNode **children;
        char **arg_names; /* calls and filters: NULL, or one per child (NULL = positional) */
        size_t n_children;
        unsigned depth; /* height of the subtree: evaluation recurses this deep */
};

ExprNode *expr_node_free(ExprNode *n);

struct ExprTemplate {
        char *source;
        size_t source_len;
        ExprNode *root;        /* EXPR_NODE_BLOCK */
        ExprNode *single_expr; /* borrowed: set when the template is one {{ expr }} */
        const ExprNode **macros; /* borrowed: every {% macro %}, callable anywhere in the template */
        size_t n_macros;
};

int expr_parse(const char *src, size_t len, ExprNode **ret, ExprError *err);

/* Evaluator state for one render. */
typedef struct ExprScope {
        json_t *vars; /* object */
} ExprScope;

typedef struct ExprEval {
        const ExprContext *ctx;
        const ExprTemplate *tmpl; /* the template being rendered (render() switches to its own) */
        json_t **scopes; /* innermost last; each an object */
        size_t n_scopes, cap_scopes;
        size_t scope_base;    /* a macro sees only the scopes from here on, and no context variables */
        unsigned macro_depth;
        uint64_t iterations;
        size_t output_budget; /* bytes left for all output of this render, nested renders included */
        uint64_t regex_work;  /* regular expression searches' cost so far (user_regex_cost()) */
        unsigned render_depth;
        ExprError *err;
} ExprEval;

/* Record an error at node n (first error wins) and return r. */
int expr_fail(ExprEval *ev, const ExprNode *n, int r, const char *fmt, ...) _printf_(4, 5);
void expr_set_error(ExprError *err, unsigned line, unsigned column, const char *fmt, ...) _printf_(4, 5);

/* Evaluate an expression node. *ret receives a new reference, or NULL for "undefined", which only
 * happens when lenient is true (left of ??, "is defined", default filter). */
int expr_eval_node(ExprEval *ev, const ExprNode *n, bool lenient, json_t **ret);
int expr_render_node(ExprEval *ev, const ExprNode *n, StrBuf *out);
/* [from, to] by step as a list, bounded by the iteration limit. */
int expr_range(ExprEval *ev, const ExprNode *n, int64_t from, int64_t to, int64_t step, json_t **ret);
/* Render a nested template string (render() function) within the same evaluation limits. */
int expr_render_nested(ExprEval *ev, const ExprNode *at, const char *tmpl, json_t **ret);

/* Value helpers (expr-value.c). */
int expr_append_value(StrBuf *sb, json_t *v);
int expr_append_json(StrBuf *sb, json_t *v);
int expr_format_double(char buf[static 32], double d);
bool expr_truthy(json_t *v);
const char *expr_type_name(json_t *v);
bool expr_is_number(json_t *v);
double expr_number(json_t *v);
/* Numeric equality across int/real, json_equal otherwise. */
bool expr_equal(json_t *a, json_t *b);
/* *ret gets -1, 0 or 1 (a before, equal to, after b); returns 0, or -EINVAL when not comparable. */
int expr_compare(json_t *a, json_t *b, int *ret);
json_t *expr_real(double d); /* NULL for NaN/infinite as well as OOM */
int expr_to_string(json_t *v, char **ret);

/* Filters, tests and functions (expr-filters.c, expr-functions.c). args is an array; names parallel or
 * NULL. */
typedef struct ExprArgs {
        json_t **values;
        char **names;
        size_t n;
} ExprArgs;

/* Find a positional argument at index pos, or a named one; NULL when absent. */
json_t *expr_arg(const ExprArgs *a, size_t pos, const char *name);

int expr_apply_filter(ExprEval *ev, const ExprNode *n, json_t *input, const ExprArgs *args, json_t **ret);
int expr_apply_test(ExprEval *ev, const ExprNode *n, json_t *input, const ExprArgs *args, bool *ret);
int expr_call_function(ExprEval *ev, const ExprNode *n, const ExprArgs *args, json_t **ret);
/* fromJson()/json(): parse a JSON string (null stays null); errors name `what`. */
int expr_parse_json(ExprEval *ev, const ExprNode *n, const char *what, json_t *in, json_t **ret);
/* Filters that want the undefined value themselves (default). */
bool expr_filter_is_lenient(const char *name);
/* Known names, and the closest known one to an unknown name (NULL when none is close). Functions
 * include those the host provides (kv(), read(), ...); extra are more candidates (macros). */
bool expr_filter_exists(const char *name);
const char *expr_filter_suggest(const char *name);
bool expr_function_exists(const char *name);
const char *expr_function_refused(const char *name);
const char *expr_function_suggest(const char *name, const char *const *extra, size_t n_extra);
bool expr_test_exists(const char *name);
const char *expr_test_suggest(const char *name);

/* Macros (expr-eval.c): the one named so in the template being rendered, calling one, and the names of
 * all (a malloc'ed array, its count returned; 0 and NULL when none or out of memory). */
const ExprNode *expr_find_macro(const ExprEval *ev, const char *name);
int expr_call_macro(ExprEval *ev, const ExprNode *call, const ExprNode *macro, const ExprArgs *args, json_t **ret);
size_t expr_macro_names(const ExprEval *ev, const char ***ret);
/* Macro calls nest at most this deep (each level may nest expressions EXPR_MAX_DEPTH deep). */
#define EXPR_MAX_MACRO_DEPTH 16u

/* Filters and functions that live in their own files. */
int expr_filter_escape(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_escape_char(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_raw(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_yaml(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_filter_to_ion(ExprEval *ev, const ExprNode *n, json_t *in, const ExprArgs *a, json_t **ret);
int expr_function_yaml(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret);
int expr_function_from_ion(ExprEval *ev, const ExprNode *n, const ExprArgs *a, json_t **ret);

/* Run a jq program over input (expr-jq.c): 0 and the list of its results, or a negative errno with a
 * message in *ret_error (-EINVAL: the program is invalid or failed; -ETIME, -E2BIG: a limit). 0 for
 * timeout or max_memory is the default. */
int expr_jq_run(const char *program, json_t *input, usec_t timeout, size_t max_memory, json_t **ret, char **ret_error);

/* Suggest the closest of names[] to s, or NULL. */
const char *expr_suggest(const char *s, const char *const *names, size_t n);

/* Dates (expr-date.c). A point in time with the UTC offset it was written in. */
typedef struct ExprDate {
        int64_t usec;  /* since the epoch, UTC */
        int offset_sec;
} ExprDate;

int expr_date_from_value(json_t *v, const char *existing_format, ExprDate *ret);
int expr_date_format(const ExprDate *d, const char *format, StrBuf *out);
int expr_parse_zone(const char *s, int *ret_offset_sec);

/* expr.h: the {{ }} expression engine: Kestra's Pebble-flavoured templates rendered against JSON variables. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "macro.h"
#include "timeutil.h"

/* Where and why a template failed. message names the expression and its position; line and column
 * (1-based) point inside the template. */
typedef struct ExprError {
        char *message;
        unsigned line, column;
        bool unknown_tag; /* the template failed to compile on a tag name that does not exist */
} ExprError;

void expr_error_done(ExprError *e);

typedef struct ExprContext {
        /* Root scope (borrowed): flow, execution, task, taskrun, outputs, inputs, vars, labels, trigger,
         * envs, parent, parents, ... May be NULL (no variables). */
        json_t *variables;
        /* secret(key) provider: 0 and a malloc'ed value in *ret, -ENOENT when the key does not exist,
         * another negative errno on failure. NULL: secret() is an error. */
        int (*secret)(void *userdata, const char *key, char **ret);
        /* Extension functions the engine does not know itself (kv(), read(), ...): called with the
         * function name and its positional arguments (a JSON array, borrowed); return 0 and a new
         * reference in *ret, -ENOENT when the name is unknown (the engine then reports an unknown
         * function), or another negative errno with an optional malloc'ed message in *ret_message. */
        int (*function)(void *userdata, const char *name, json_t *args, json_t **ret, char **ret_message);
        void *userdata;
        usec_t now;                /* 0 = real clock; tests pin it */
        unsigned max_render_depth; /* bound for render() recursion; 0 = default 10 */
        usec_t jq_timeout;         /* wall-clock bound of one jq filter; 0 = EXPR_JQ_TIMEOUT */
        size_t jq_max_memory;      /* memory one jq filter may take; 0 = EXPR_JQ_MAX_MEMORY */
} ExprContext;

/* Limits: templates over EXPR_MAX_TEMPLATE bytes and expressions nested deeper than EXPR_MAX_DEPTH are
 * refused; a render stops with -E2BIG after EXPR_MAX_OUTPUT bytes or EXPR_MAX_ITERATIONS loop turns. */
#define EXPR_MAX_TEMPLATE (1024u * 1024u)
#define EXPR_MAX_DEPTH 256u
#define EXPR_MAX_OUTPUT (16u * 1024u * 1024u)
#define EXPR_MAX_ITERATIONS 1000000u
/* A jq filter runs in a child process, stopped after EXPR_JQ_TIMEOUT or past EXPR_JQ_MAX_MEMORY bytes. */
#define EXPR_JQ_TIMEOUT (10 * USEC_PER_SEC)
#define EXPR_JQ_MAX_MEMORY ((size_t) 256 << 20)
/* At most this many jq children per process at once (a webserver rendering many webhooks, a worker
 * with many slots): a render past it waits for a slot within its own time limit, so that memory stays
 * bounded at EXPR_JQ_MAX_CHILDREN × the memory limit. */
#define EXPR_JQ_MAX_CHILDREN 4u
/* jq children running now, and the most that ever ran at once in this process (status, tests). */
void expr_jq_children(unsigned *ret_running, unsigned *ret_peak);

/* Contains "{{" or "{%" (a string without them renders to itself). */
bool expr_has_template(const char *s);

/* A parsed template, to be evaluated many times. Immutable once compiled: one template may be
 * evaluated from several threads at once. */
typedef struct ExprTemplate ExprTemplate;

int expr_compile(const char *tmpl, ExprTemplate **ret, ExprError *err);
ExprTemplate *expr_template_free(ExprTemplate *t);
DEFINE_FREE_CLEANUP(ExprTemplate, expr_template_free)
/* True when the template is exactly one {{ expr }} (surrounding whitespace aside). */
bool expr_template_is_single_value(const ExprTemplate *t);

/* A filter, function or test name that a template uses and this engine does not know. */
typedef struct ExprUnknownName {
        const char *kind;       /* "filter", "function" or "test" */
        const char *name;
        const char *suggestion; /* the closest known name, or NULL */
        const char *refused;    /* a known function this build cannot run: what it would need; else NULL */
        const char *statement;  /* the {{ }} or {% %} it is in: statement_len bytes, not NUL-terminated */
        size_t statement_len;
        unsigned line, column;  /* of the name, 1-based, in the template */
} ExprUnknownName;

/* Call cb for every unknown name in the template (its own macros are known functions; so are the
 * functions hosts provide: kv(), read(), ...). Unknown tags are syntax errors, which expr_compile()
 * reports. Returns 0, or the first negative value cb returns. */
int expr_template_check_names(const ExprTemplate *t, int (*cb)(void *userdata, const ExprUnknownName *u), void *userdata);

/* Render a compiled template to a string. Returns 0, or -EINVAL with *err filled, -ENOMEM, -ELOOP
 * (render() recursion too deep), -E2BIG (output or iteration limit). err may be NULL. */
int expr_eval(const ExprTemplate *t, const ExprContext *ctx, char **ret, ExprError *err);
/* Like expr_eval, but a single {{ expr }} template yields its typed value (number, list, map, ...). */
int expr_eval_value(const ExprTemplate *t, const ExprContext *ctx, json_t **ret, ExprError *err);

/* Compile and render in one go. */
int expr_render(const char *tmpl, const ExprContext *ctx, char **ret, ExprError *err);
/* When the whole template is one {{ expr }} return the typed value, else the rendered string. */
int expr_render_value(const char *tmpl, const ExprContext *ctx, json_t **ret, ExprError *err);
/* Render every string inside a JSON tree (maps' values and lists, recursively; keys are left alone);
 * returns a new tree. Strings without templates are shared, not copied. */
int expr_render_tree(json_t *in, const ExprContext *ctx, json_t **ret, ExprError *err);

/* Format a value the way templates print it: strings as is, null as "", integers without a decimal
 * point, doubles like Java's Double.toString, lists and maps as compact JSON. */
int expr_value_to_string(json_t *v, char **ret);

/* The names the engine knows, for the flow language's manual page (tern-flow(5) is generated from
 * them so that it cannot drift): the i-th filter, function or test, NULL past the end. For a function
 * that the host provides (kv(), read(), ...) *ret_needs says what it needs; NULL for the engine's own. */
const char *expr_filter_name(size_t i);
const char *expr_function_name(size_t i, const char **ret_needs);
const char *expr_test_name(size_t i);

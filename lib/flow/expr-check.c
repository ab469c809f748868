/* expr-check.c: static checks of a compiled template: every filter, function and test name it uses is known. */
#include "expr-internal.h"
#include "strutil.h"

typedef struct CheckState {
        const ExprTemplate *t;
        int (*cb)(void *userdata, const ExprUnknownName *u);
        void *userdata;
        const char **macros;
        size_t n_macros;
} CheckState;

static bool is_macro(const CheckState *c, const char *name) {
        for (size_t i = 0; i < c->n_macros; i++)
                if (streq(c->macros[i], name))
                        return true;
        return false;
}

static int check_node(CheckState *c, const ExprNode *n) {
        ExprUnknownName u = {
                .name = n->name,
                .statement = n->stmt_src,
                .statement_len = n->stmt_len,
                .line = n->line,
                .column = n->column,
        };
        switch (n->type) {
        case EXPR_NODE_FILTER:
                if (!expr_filter_exists(n->name)) {
                        u.kind = "filter";
                        u.suggestion = expr_filter_suggest(n->name);
                }
                break;
        case EXPR_NODE_CALL:
                if (!expr_function_exists(n->name) && !is_macro(c, n->name)) {
                        u.kind = "function";
                        u.suggestion = expr_function_suggest(n->name, c->macros, c->n_macros);
                } else if (!is_macro(c, n->name) && (u.refused = expr_function_refused(n->name)))
                        u.kind = "function";
                break;
        case EXPR_NODE_TEST:
                if (!expr_test_exists(n->name)) {
                        u.kind = "test";
                        u.suggestion = expr_test_suggest(n->name);
                }
                break;
        default:
                break;
        }
        if (u.kind) {
                int r = c->cb(c->userdata, &u);
                if (r < 0)
                        return r;
        }
        for (size_t i = 0; i < n->n_children; i++) {
                int r = check_node(c, n->children[i]);
                if (r < 0)
                        return r;
        }
        return 0;
}

int expr_template_check_names(const ExprTemplate *t, int (*cb)(void *userdata, const ExprUnknownName *u), void *userdata) {
        _cleanup_free_ const char **macros = NULL;
        if (t->n_macros > 0) {
                macros = calloc(t->n_macros, sizeof(char *));
                if (!macros)
                        return -ENOMEM;
                for (size_t i = 0; i < t->n_macros; i++)
                        macros[i] = t->macros[i]->name;
        }
        CheckState c = { t, cb, userdata, macros, t->n_macros };
        return check_node(&c, t->root);
}

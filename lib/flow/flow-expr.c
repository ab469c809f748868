/* flow-expr.c: a flow's expressions checked when it loads: they name only filters, functions, tests and tags that exist. */
#include <string.h>

#include "expr.h"
#include "flow-internal.h"
#include "strutil.h"

/* Values Kestra never renders, which may hold any text: descriptions, and the flow's variables (a
 * variable's expressions are rendered only where render() asks for it, and may be meant for another
 * template engine). */
static bool key_is_not_rendered(const char *key, unsigned depth) {
        return streq(key, "description") || (depth == 0 && streq(key, "variables"));
}

/* Byte offset of a 1-based line and column (in characters) in text; SIZE_MAX when past its end. */
static size_t text_offset(const char *text, size_t len, unsigned line, unsigned column) {
        size_t o = 0;
        for (unsigned l = 1; l < line; l++) {
                const char *nl = memchr(text + o, '\n', len - o);
                if (!nl)
                        return SIZE_MAX;
                o = (size_t) (nl - text) + 1;
        }
        for (unsigned c = 1; c < column && o < len && text[o] != '\n'; c++)
                do
                        o++;
                while (o < len && ((unsigned char) text[o] & 0xC0) == 0x80);
        return o;
}

static FlowPos text_pos(const char *text, size_t offset) {
        FlowPos pos = { 1, 1 };
        for (size_t i = 0; i < offset; i++)
                if (text[i] == '\n') {
                        pos.line++;
                        pos.column = 1;
                } else if (((unsigned char) text[i] & 0xC0) != 0x80)
                        pos.column++;
        return pos;
}

/* The k-th (0-based) occurrence of needle in [from, to) of text, or NULL. */
static const char *find_nth(const char *from, const char *to, const char *needle, size_t n, size_t k) {
        for (const char *p = from; p < to;) {
                const char *f = memmem(p, (size_t) (to - p), needle, n);
                if (!f)
                        return NULL;
                if (k-- == 0)
                        return f;
                p = f + 1;
        }
        return NULL;
}

/* Where a position inside the template held by scalar n is in the file. Quotes, escapes and the
 * indentation of block scalars move columns, so the template's line is searched for in the source from
 * the scalar on (then the text from the position to the end of that line); the scalar's own position
 * when neither is found. */
static FlowPos template_pos(FlowParser *p, const YamlNode *n, unsigned line, unsigned column) {
        const char *t = n->value;
        size_t tlen = strlen(t);
        if (!p->source || line == 0)
                return flow_pos(n);
        size_t start = text_offset(p->source, p->source_len, n->line, n->column);
        size_t at = text_offset(t, tlen, line, column);
        if (start == SIZE_MAX || at == SIZE_MAX)
                return flow_pos(n);
        size_t ls = at;
        while (ls > 0 && t[ls - 1] != '\n')
                ls--;
        size_t le = at + strcspn(t + at, "\n");
        /* the source of a scalar is longer than its value by quotes, escapes and indentation only */
        size_t window = 4 * tlen + 16 * (size_t) line + 256;
        const char *from = p->source + start, *to = p->source + MIN(p->source_len, start + window);

        /* the same line may come earlier in the template: skip as many matches */
        size_t earlier = 0;
        for (size_t o = 0; o < ls;) {
                size_t e = o + strcspn(t + o, "\n");
                if (e - o == le - ls && memcmp(t + o, t + ls, le - ls) == 0)
                        earlier++;
                o = e + 1;
        }
        const char *f = find_nth(from, to, t + ls, le - ls, earlier);
        if (f)
                return text_pos(p->source, (size_t) (f - p->source) + (at - ls));
        f = find_nth(from, to, t + at, le - at, 0);
        if (f)
                return text_pos(p->source, (size_t) (f - p->source));
        return flow_pos(n);
}

typedef struct NameCheck {
        FlowParser *p;
        const YamlNode *n;
} NameCheck;

static int report_unknown(void *userdata, const ExprUnknownName *u) {
        NameCheck *c = userdata;
        FlowPos pos = template_pos(c->p, c->n, u->line, u->column);
        int len = (int) MIN(u->statement_len, (size_t) 200);
        if (u->refused)
                fp_error_at(c->p, pos, "%s '%s' in `%.*s` is known but this build cannot run it: it needs %s", u->kind,
                            u->name, len, u->statement, u->refused);
        else if (u->suggestion)
                fp_error_at(c->p, pos, "unknown %s '%s' in `%.*s`; did you mean '%s'?", u->kind, u->name, len, u->statement,
                            u->suggestion);
        else
                fp_error_at(c->p, pos, "unknown %s '%s' in `%.*s`", u->kind, u->name, len, u->statement);
        return 0;
}

static void check_scalar(FlowParser *p, const YamlNode *n) {
        _cleanup_(expr_template_freep) ExprTemplate *t = NULL;
        ExprError err = {};
        int r = expr_compile(n->value, &t, &err);
        if (r == -ENOMEM) {
                fp_oom(p);
                return;
        }
        /* Other syntax errors are the render's, as in Kestra, which saves such a flow and fails the task
         * (the compatibility corpus has one: flowable-with-parent-fail.yaml). */
        if (r < 0 && !err.unknown_tag) {
                expr_error_done(&err);
                return;
        }
        if (r < 0) {
                /* the message ends with the position inside the template; the diagnostic has the file's */
                char *m = err.message, *tail = NULL;
                for (char *q = m; q && (q = strstr(q, " at line ")); q++)
                        tail = q;
                unsigned l, c;
                int end = 0;
                if (tail && sscanf(tail, " at line %u, column %u%n", &l, &c, &end) == 2 && tail[end] == 0)
                        *tail = 0;
                fp_error_at(p, template_pos(p, n, err.line, err.column), "%s", m ? m : strerror(-r));
                expr_error_done(&err);
                return;
        }
        NameCheck c = { p, n };
        (void) expr_template_check_names(t, report_unknown, &c);
}

static void check_node(FlowParser *p, const YamlNode *n, unsigned depth) {
        switch (n->kind) {
        case YAML_NODE_SCALAR:
                if (fp_is_expression(n))
                        check_scalar(p, n);
                return;
        case YAML_NODE_SEQ:
                for (size_t i = 0; i < n->n_children; i++)
                        check_node(p, n->children[i], depth + 1);
                return;
        case YAML_NODE_MAP:
                for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                        const YamlNode *k = n->children[i];
                        if (yaml_node_is_scalar(k) && key_is_not_rendered(k->value, depth))
                                continue;
                        check_node(p, k, depth + 1); /* map keys are rendered too */
                        check_node(p, n->children[i + 1], depth + 1);
                }
                return;
        }
}

void fp_check_expressions(FlowParser *p, const YamlNode *root) {
        if (root)
                check_node(p, root, 0);
}

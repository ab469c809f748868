/* yaml-tree.c: YAML text -> tree of nodes with positions (libyaml event API), bounded against hostile input. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "cleanup-jansson.h"
#include "cleanup-yaml.h"
#include "hashmap.h"
#include "strutil.h"
#include "yaml-tree.h"

YamlNode *yaml_node_ref(YamlNode *n) {
        if (n)
                n->n_ref++;
        return n;
}

YamlNode *yaml_node_unref(YamlNode *n) {
        /* Depth is bounded by the loader's max_depth, so recursion is safe here. */
        if (!n || --n->n_ref > 0)
                return NULL;
        for (size_t i = 0; i < n->n_children; i++)
                yaml_node_unref(n->children[i]);
        free(n->children);
        free(n->value);
        free(n->tag);
        free(n);
        return NULL;
}

static YamlNode *node_new(YamlNodeKind kind, const yaml_mark_t *mark) {
        YamlNode *n = calloc(1, sizeof *n);
        if (!n)
                return NULL;
        n->kind = kind;
        n->n_ref = 1;
        n->weight = 1;
        n->line = (unsigned) MIN(mark->line + 1, (size_t) UINT_MAX);
        n->column = (unsigned) MIN(mark->column + 1, (size_t) UINT_MAX);
        return n;
}

static int node_add_child(YamlNode *parent, YamlNode *child, size_t *cap) {
        if (parent->n_children == *cap) {
                size_t c = *cap ? *cap * 2 : 4;
                YamlNode **a = reallocarray(parent->children, c, sizeof *a);
                if (!a)
                        return -ENOMEM;
                parent->children = a;
                *cap = c;
        }
        parent->children[parent->n_children++] = child;
        return 0;
}

typedef struct Frame {
        YamlNode *node;
        size_t cap;
        char *anchor;
} Frame;

typedef struct Loader {
        const char *file;
        FlowDiagnostics *diags;
        Frame *stack;
        size_t depth, stack_cap, max_depth;
        Hashmap anchors; /* name -> YamlNode, borrowed: the tree owns the nodes */
        size_t expanded, max_expanded;
        YamlNode *root;
        bool invalid;
} Loader;

static void loader_done(Loader *l) {
        for (size_t i = 0; i < l->depth; i++) {
                yaml_node_unref(l->stack[i].node);
                free(l->stack[i].anchor);
        }
        free(l->stack);
        hashmap_done(&l->anchors);
        yaml_node_unref(l->root);
}

static int loader_error(Loader *l, const yaml_mark_t *m, const char *msg) {
        l->invalid = true;
        return flow_diagnostics_add(l->diags, l->file, (unsigned) (m->line + 1), (unsigned) (m->column + 1), "%s", msg);
}

static int loader_register_anchor(Loader *l, const char *name, YamlNode *node) {
        /* A later definition of the same name replaces the earlier one, as YAML says. */
        return name ? hashmap_put(&l->anchors, name, node) : 0;
}

/* Attach a finished node to its parent (or make it the root); takes the reference. */
static int loader_attach(Loader *l, YamlNode *node) {
        if (l->depth == 0) {
                if (l->root) {
                        yaml_node_unref(node);
                        return 0;
                }
                l->root = node;
                return 0;
        }
        Frame *top = &l->stack[l->depth - 1];
        int r = node_add_child(top->node, node, &top->cap);
        if (r < 0) {
                yaml_node_unref(node);
                return r;
        }
        /* Weight bounded by max_expanded, so this cannot overflow. */
        top->node->weight += node->weight;
        return 0;
}

static int loader_charge(Loader *l, size_t weight, const yaml_mark_t *m) {
        l->expanded += weight;
        if (l->expanded > l->max_expanded) {
                loader_error(l, m, "document expands to too many nodes through aliases (refusing a possible YAML bomb)");
                return -E2BIG;
        }
        return 0;
}

static int key_cmp(const void *a, const void *b) {
        const YamlNode *x = *(YamlNode *const *) a, *y = *(YamlNode *const *) b;
        size_t l = MIN(x->length, y->length);
        int c = memcmp(x->value, y->value, l);
        if (c != 0)
                return c;
        if (x->length != y->length)
                return x->length < y->length ? -1 : 1;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        return x->column < y->column ? -1 : x->column > y->column;
}

/* Sorting keeps the check O(n log n) even for maps with very many keys. */
static int loader_check_map(Loader *l, const YamlNode *map) {
        size_t n = map->n_children / 2;
        if (n < 2)
                return 0;
        _cleanup_free_ YamlNode **keys = calloc(n, sizeof *keys);
        size_t k = 0;
        if (!keys)
                return -ENOMEM;
        for (size_t i = 0; i + 1 < map->n_children; i += 2)
                if (map->children[i]->kind == YAML_NODE_SCALAR)
                        keys[k++] = map->children[i];
        qsort(keys, k, sizeof *keys, key_cmp);
        for (size_t i = 1; i < k; i++) {
                const YamlNode *a = keys[i - 1], *b = keys[i];
                if (a->length != b->length || memcmp(a->value, b->value, a->length) != 0)
                        continue;
                /* Aliased keys share one node: the same position twice is still a duplicate. */
                l->invalid = true;
                int r = flow_diagnostics_add(l->diags, l->file, b->line, b->column,
                                             "duplicate key '%.100s' (first at line %u)", b->value, a->line);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int loader_push(Loader *l, YamlNode *node, const char *anchor, const yaml_mark_t *m) {
        if (l->depth >= l->max_depth) {
                char msg[128];
                snprintf(msg, sizeof msg, "nesting deeper than %zu levels", l->max_depth);
                loader_error(l, m, msg);
                yaml_node_unref(node);
                return -E2BIG;
        }
        if (l->depth == l->stack_cap) {
                size_t c = l->stack_cap ? l->stack_cap * 2 : 16;
                Frame *s = reallocarray(l->stack, c, sizeof *s);
                if (!s) {
                        yaml_node_unref(node);
                        return -ENOMEM;
                }
                l->stack = s;
                l->stack_cap = c;
        }
        char *a = NULL;
        if (anchor) {
                a = strdup(anchor);
                if (!a) {
                        yaml_node_unref(node);
                        return -ENOMEM;
                }
        }
        l->stack[l->depth++] = (Frame) { node, 0, a };
        return 0;
}

static int loader_pop(Loader *l) {
        Frame f = l->stack[--l->depth];
        _cleanup_free_ char *anchor = f.anchor;
        int r;

        if (f.node->kind == YAML_NODE_MAP) {
                r = loader_check_map(l, f.node);
                if (r < 0) {
                        yaml_node_unref(f.node);
                        return r;
                }
        }
        r = loader_register_anchor(l, anchor, f.node);
        if (r < 0) {
                yaml_node_unref(f.node);
                return r;
        }
        return loader_attach(l, f.node);
}

static int loader_scalar(Loader *l, const yaml_event_t *e) {
        YamlNode *n = node_new(YAML_NODE_SCALAR, &e->start_mark);
        if (!n)
                return -ENOMEM;
        n->value = malloc(e->data.scalar.length + 1);
        if (!n->value) {
                yaml_node_unref(n);
                return -ENOMEM;
        }
        memcpy(n->value, e->data.scalar.value, e->data.scalar.length);
        n->value[e->data.scalar.length] = 0;
        n->length = e->data.scalar.length;
        n->plain = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        if (e->data.scalar.tag && !e->data.scalar.plain_implicit && !e->data.scalar.quoted_implicit) {
                n->tag = strdup((const char *) e->data.scalar.tag);
                if (!n->tag) {
                        yaml_node_unref(n);
                        return -ENOMEM;
                }
        }
        int r = loader_charge(l, 1, &e->start_mark);
        if (r < 0) {
                yaml_node_unref(n);
                return r;
        }
        r = loader_register_anchor(l, (const char *) e->data.scalar.anchor, n);
        if (r < 0) {
                yaml_node_unref(n);
                return r;
        }
        return loader_attach(l, n);
}

static int loader_alias(Loader *l, const yaml_event_t *e) {
        const char *name = (const char *) e->data.alias.anchor;
        /* Anchors of unfinished collections are not registered yet, which also refuses a
         * recursive alias (an alias to its own ancestor). */
        YamlNode *target = hashmap_get(&l->anchors, name);
        if (target) {
                int r = loader_charge(l, target->weight, &e->start_mark);
                if (r < 0)
                        return r;
                return loader_attach(l, yaml_node_ref(target));
        }
        char msg[256];
        bool open = false;
        for (size_t i = 0; i < l->depth; i++)
                if (l->stack[i].anchor && streq(l->stack[i].anchor, name))
                        open = true;
        snprintf(msg, sizeof msg, open ? "recursive alias '*%.100s'" : "unknown alias '*%.100s'", name);
        loader_error(l, &e->start_mark, msg);
        return -EINVAL;
}

static int loader_collection(Loader *l, const yaml_event_t *e, YamlNodeKind kind) {
        const yaml_char_t *anchor = kind == YAML_NODE_MAP ? e->data.mapping_start.anchor : e->data.sequence_start.anchor;
        YamlNode *n = node_new(kind, &e->start_mark);
        if (!n)
                return -ENOMEM;
        int r = loader_charge(l, 1, &e->start_mark);
        if (r < 0) {
                yaml_node_unref(n);
                return r;
        }
        return loader_push(l, n, (const char *) anchor, &e->start_mark);
}

/* Map keys must be scalars: JSON objects (and Kestra's model) have string keys only. */
static int loader_check_keys(Loader *l) {
        if (l->depth == 0)
                return 0;
        const YamlNode *top = l->stack[l->depth - 1].node;
        if (top->kind != YAML_NODE_MAP || top->n_children % 2 == 0)
                return 0;
        const YamlNode *key = top->children[top->n_children - 1];
        if (key->kind == YAML_NODE_SCALAR)
                return 0;
        l->invalid = true;
        return flow_diagnostics_add(l->diags, l->file, key->line, key->column, "map key must be a scalar, not %s",
                                    yaml_node_describe(key));
}

int yaml_tree_parse(const char *buf, size_t len, const char *file, const YamlLimits *limits,
                    FlowDiagnostics *diags, YamlNode **ret) {
        static const YamlLimits defaults = YAML_LIMITS_DEFAULT;
        _cleanup_yaml_parser_ yaml_parser_t parser;
        Loader l = { .file = file, .diags = diags };
        int r = 0, documents = 0;
        bool done = false;

        if (!limits)
                limits = &defaults;
        *ret = NULL;
        memset(&parser, 0, sizeof parser);
        if (!yaml_parser_initialize(&parser))
                return -ENOMEM;
        if (len > limits->max_size) {
                flow_diagnostics_add(diags, file, 1, 1, "file too large (%zu bytes, the limit is %zu)", len,
                                     limits->max_size);
                return YAML_TREE_INVALID;
        }
        l.max_depth = limits->max_depth;
        l.max_expanded = MAX(limits->min_expand, len > SIZE_MAX / MAX(limits->expand_factor, 1u)
                                                         ? SIZE_MAX
                                                         : len * limits->expand_factor);
        yaml_parser_set_input_string(&parser, (const unsigned char *) buf, len);

        while (!done) {
                _cleanup_yaml_event_ yaml_event_t e;
                memset(&e, 0, sizeof e);
                if (!yaml_parser_parse(&parser, &e)) {
                        if (parser.error == YAML_MEMORY_ERROR) {
                                r = -ENOMEM;
                                break;
                        }
                        char msg[512];
                        const yaml_mark_t *m = &parser.problem_mark;
                        if (parser.context && parser.context_mark.line != m->line)
                                snprintf(msg, sizeof msg, "YAML syntax error: %s %s (started at line %zu)",
                                         parser.problem ?: "error", parser.context, parser.context_mark.line + 1);
                        else if (parser.context)
                                snprintf(msg, sizeof msg, "YAML syntax error: %s %s", parser.problem ?: "error",
                                         parser.context);
                        else
                                snprintf(msg, sizeof msg, "YAML syntax error: %s", parser.problem ?: "error");
                        loader_error(&l, m, msg);
                        r = -EINVAL;
                        break;
                }
                switch (e.type) {
                case YAML_STREAM_END_EVENT:
                        done = true;
                        break;
                case YAML_DOCUMENT_START_EVENT:
                        if (++documents > 1) {
                                loader_error(&l, &e.start_mark, "more than one YAML document in the file");
                                r = -EINVAL;
                        }
                        break;
                case YAML_SCALAR_EVENT:
                        r = loader_scalar(&l, &e);
                        break;
                case YAML_ALIAS_EVENT:
                        r = loader_alias(&l, &e);
                        break;
                case YAML_MAPPING_START_EVENT:
                        r = loader_collection(&l, &e, YAML_NODE_MAP);
                        break;
                case YAML_SEQUENCE_START_EVENT:
                        r = loader_collection(&l, &e, YAML_NODE_SEQ);
                        break;
                case YAML_MAPPING_END_EVENT:
                case YAML_SEQUENCE_END_EVENT:
                        if (l.depth > 0)
                                r = loader_pop(&l);
                        break;
                default:
                        break;
                }
                if (r >= 0 && (e.type == YAML_SCALAR_EVENT || e.type == YAML_ALIAS_EVENT ||
                               e.type == YAML_MAPPING_END_EVENT || e.type == YAML_SEQUENCE_END_EVENT))
                        r = loader_check_keys(&l);
                if (r < 0)
                        break;
        }

        if (r == -ENOMEM || diags->error == -ENOMEM) {
                loader_done(&l);
                return -ENOMEM;
        }
        if (l.invalid || r < 0) {
                loader_done(&l);
                return YAML_TREE_INVALID;
        }
        *ret = TAKE_PTR(l.root);
        loader_done(&l);
        return 0;
}

YamlNode *yaml_node_get(const YamlNode *n, const char *key) {
        if (!n || n->kind != YAML_NODE_MAP)
                return NULL;
        for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                const YamlNode *k = n->children[i];
                if (k->kind == YAML_NODE_SCALAR && streq(k->value, key))
                        return n->children[i + 1];
        }
        return NULL;
}

static bool is_digits(const char *s, bool allow_underscore) {
        if (!*s)
                return false;
        if (!(*s >= '0' && *s <= '9'))
                return false;
        for (; *s; s++)
                if (!((*s >= '0' && *s <= '9') || (allow_underscore && *s == '_')))
                        return false;
        return true;
}

static bool text_is_int(const char *s) {
        if (*s == '-' || *s == '+')
                s++;
        if (startswith(s, "0x") && s[2])
                return strspn(s + 2, "0123456789abcdefABCDEF_") == strlen(s + 2);
        return is_digits(s, true);
}

static bool text_is_float(const char *s) {
        bool digits = false;
        if (*s == '-' || *s == '+')
                s++;
        while ((*s >= '0' && *s <= '9') || (digits && *s == '_'))
                s++, digits = true;
        bool dot = *s == '.';
        if (dot) {
                s++;
                while ((*s >= '0' && *s <= '9') || *s == '_')
                        s++, digits = true;
        }
        if (!digits)
                return false;
        if (*s == 'e' || *s == 'E') {
                s++;
                if (*s == '-' || *s == '+')
                        s++;
                if (!(*s >= '0' && *s <= '9'))
                        return false;
                while (*s >= '0' && *s <= '9')
                        s++;
        } else if (!dot)
                return false;
        return *s == 0;
}

static bool text_is_null(const char *s) {
        return !*s || streq(s, "~") || streq(s, "null") || streq(s, "Null") || streq(s, "NULL");
}

static int text_bool(const char *s, bool *ret) {
        if (streq(s, "true") || streq(s, "True") || streq(s, "TRUE"))
                *ret = true;
        else if (streq(s, "false") || streq(s, "False") || streq(s, "FALSE"))
                *ret = false;
        else
                return -EINVAL;
        return 0;
}

YamlScalarType yaml_scalar_type(const YamlNode *n) {
        if (!n || n->kind != YAML_NODE_SCALAR)
                return YAML_SCALAR_STRING;
        if (n->tag) {
                if (streq(n->tag, YAML_STR_TAG))
                        return YAML_SCALAR_STRING;
                if (streq(n->tag, YAML_NULL_TAG))
                        return YAML_SCALAR_NULL;
        }
        if (!n->plain || strlen(n->value) != n->length)
                return YAML_SCALAR_STRING;
        return yaml_plain_text_type(n->value);
}

YamlScalarType yaml_plain_text_type(const char *s) {
        bool b;
        if (text_is_null(s))
                return YAML_SCALAR_NULL;
        if (text_bool(s, &b) >= 0)
                return YAML_SCALAR_BOOL;
        if (text_is_int(s))
                return YAML_SCALAR_INT;
        if (text_is_float(s))
                return YAML_SCALAR_FLOAT;
        return YAML_SCALAR_STRING;
}

/* Underscores are digit separators in YAML 1.1 numbers. */
static int text_strip_underscores(const char *s, char *buf, size_t size) {
        size_t j = 0;
        for (; *s; s++) {
                if (*s == '_')
                        continue;
                if (j + 1 >= size)
                        return -ERANGE;
                buf[j++] = *s;
        }
        buf[j] = 0;
        return 0;
}

int yaml_scalar_int(const YamlNode *n, int64_t *ret) {
        char buf[64];
        if (!yaml_node_is_scalar(n) || strlen(n->value) != n->length || !text_is_int(n->value))
                return -EINVAL;
        if (text_strip_underscores(n->value, buf, sizeof buf) < 0)
                return -ERANGE;
        const char *p = buf;
        bool neg = false;
        if (*p == '-' || *p == '+')
                neg = *p++ == '-';
        if (startswith(p, "0x")) {
                errno = 0;
                char *end;
                unsigned long long v = strtoull(p + 2, &end, 16);
                if (errno || *end || v > (unsigned long long) INT64_MAX)
                        return -ERANGE;
                *ret = neg ? -(int64_t) v : (int64_t) v;
                return 0;
        }
        return safe_atoi64(buf, ret);
}

int yaml_scalar_double(const YamlNode *n, double *ret) {
        char buf[128];
        int64_t i;
        if (yaml_scalar_int(n, &i) >= 0) {
                *ret = (double) i;
                return 0;
        }
        if (!yaml_node_is_scalar(n) || strlen(n->value) != n->length ||
            !(text_is_float(n->value) || (text_is_int(n->value) && !strstr(n->value, "0x"))))
                return -EINVAL;
        if (text_strip_underscores(n->value, buf, sizeof buf) < 0)
                return -ERANGE;
        int r = safe_atod(buf, ret);
        if (r < 0)
                return r;
        return isfinite(*ret) ? 0 : -ERANGE;
}

int yaml_scalar_bool(const YamlNode *n, bool *ret) {
        if (!yaml_node_is_scalar(n))
                return -EINVAL;
        return text_bool(n->value, ret);
}

const char *yaml_node_describe(const YamlNode *n) {
        if (!n)
                return "nothing";
        switch (n->kind) {
        case YAML_NODE_MAP:
                return "a map";
        case YAML_NODE_SEQ:
                return "a list";
        case YAML_NODE_SCALAR:
                switch (yaml_scalar_type(n)) {
                case YAML_SCALAR_NULL:
                        return "null";
                case YAML_SCALAR_BOOL:
                        return "a boolean";
                case YAML_SCALAR_INT:
                case YAML_SCALAR_FLOAT:
                        return "a number";
                case YAML_SCALAR_STRING:
                        return "a string";
                }
        }
        return "a value";
}

static int scalar_to_json(const YamlNode *n, json_t **ret) {
        json_t *j = NULL;
        int64_t i;
        double d;
        bool b;

        switch (yaml_scalar_type(n)) {
        case YAML_SCALAR_NULL:
                j = json_null();
                break;
        case YAML_SCALAR_BOOL:
                (void) text_bool(n->value, &b);
                j = json_boolean(b);
                break;
        case YAML_SCALAR_INT:
                if (yaml_scalar_int(n, &i) >= 0)
                        j = json_integer(i);
                else if (yaml_scalar_double(n, &d) >= 0)
                        j = json_real(d); /* beyond 64 bits: Jackson has BigInteger, we keep the magnitude */
                else
                        j = json_stringn(n->value, n->length);
                break;
        case YAML_SCALAR_FLOAT:
                j = yaml_scalar_double(n, &d) >= 0 ? json_real(d) : json_stringn(n->value, n->length);
                break;
        case YAML_SCALAR_STRING:
                j = json_stringn(n->value, n->length);
                break;
        }
        if (!j)
                return -ENOMEM;
        *ret = j;
        return 0;
}

int yaml_node_to_json(const YamlNode *n, json_t **ret) {
        int r;

        if (!n) {
                *ret = json_null();
                return 0;
        }
        if (n->kind == YAML_NODE_SCALAR)
                return scalar_to_json(n, ret);

        _cleanup_json_ json_t *j = n->kind == YAML_NODE_MAP ? json_object() : json_array();
        if (!j)
                return -ENOMEM;
        if (n->kind == YAML_NODE_SEQ) {
                for (size_t i = 0; i < n->n_children; i++) {
                        json_t *c;
                        r = yaml_node_to_json(n->children[i], &c);
                        if (r < 0)
                                return r;
                        if (json_array_append_new(j, c) < 0)
                                return -ENOMEM;
                }
        } else {
                for (size_t i = 0; i + 1 < n->n_children; i += 2) {
                        const YamlNode *k = n->children[i];
                        json_t *c;
                        if (k->kind != YAML_NODE_SCALAR)
                                return -EINVAL;
                        r = yaml_node_to_json(n->children[i + 1], &c);
                        if (r < 0)
                                return r;
                        if (json_object_setn_new(j, k->value, k->length, c) < 0)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_PTR(j);
        return 0;
}

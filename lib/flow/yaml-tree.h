/* yaml-tree.h: YAML text -> tree of nodes with positions (libyaml event API), bounded against hostile input. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "flow-diag.h"
#include "macro.h"

typedef enum YamlNodeKind {
        YAML_NODE_SCALAR,
        YAML_NODE_MAP,
        YAML_NODE_SEQ,
} YamlNodeKind;

/* How a scalar resolves to a JSON value, as Kestra's Jackson YAML does: only plain (unquoted)
 * scalars are typed; quoted and block scalars are always strings. */
typedef enum YamlScalarType {
        YAML_SCALAR_NULL,
        YAML_SCALAR_BOOL,
        YAML_SCALAR_INT,
        YAML_SCALAR_FLOAT,
        YAML_SCALAR_STRING,
} YamlScalarType;

typedef struct YamlNode YamlNode;
struct YamlNode {
        YamlNodeKind kind;
        unsigned line, column; /* 1-based position of the node's first character */
        unsigned n_ref;        /* aliases share the anchored node */
        bool plain;            /* scalar written without quotes or block indicator */
        char *tag;             /* explicit tag (resolved, e.g. "tag:yaml.org,2002:str") or NULL */
        char *value;           /* scalar text, NUL-terminated (may contain NULs: see length) */
        size_t length;
        /* map: key0, value0, key1, value1, ...; seq: the items */
        YamlNode **children;
        size_t n_children;
        size_t weight; /* nodes in the fully expanded subtree, aliases counted at their full size */
};

typedef struct YamlLimits {
        size_t max_size;   /* bytes of input */
        size_t max_depth;  /* nesting of collections */
        size_t min_expand; /* allowed expanded nodes: max(min_expand, expand_factor * size) */
        size_t expand_factor;
} YamlLimits;

#define YAML_MAX_SIZE_DEFAULT ((size_t) 10 * 1024 * 1024)
#define YAML_LIMITS_DEFAULT { YAML_MAX_SIZE_DEFAULT, 256, 4096, 4 }

/* Returned when the input is not acceptable; the reasons are in the diagnostics. */
#define YAML_TREE_INVALID 1

/* Parse one YAML document. Returns 0 with *ret set (NULL for an empty document), YAML_TREE_INVALID
 * after adding every problem found to diags (syntax errors stop the parse; duplicate keys do not),
 * or -ENOMEM. limits may be NULL for the defaults. */
int yaml_tree_parse(const char *buf, size_t len, const char *file, const YamlLimits *limits,
                    FlowDiagnostics *diags, YamlNode **ret);

YamlNode *yaml_node_ref(YamlNode *n);
YamlNode *yaml_node_unref(YamlNode *n);
DEFINE_FREE_CLEANUP(YamlNode, yaml_node_unref)
#define _cleanup_yaml_node_ _cleanup_(yaml_node_unrefp)

/* Map lookup by scalar key; NULL when absent or n is not a map. */
YamlNode *yaml_node_get(const YamlNode *n, const char *key);
static inline bool yaml_node_is_scalar(const YamlNode *n) {
        return n && n->kind == YAML_NODE_SCALAR;
}

YamlScalarType yaml_scalar_type(const YamlNode *n);
/* What a plain (unquoted) scalar with this text resolves to. */
YamlScalarType yaml_plain_text_type(const char *s);
/* Integer / float value of a scalar that resolves to one (quoted digits too, as Jackson coerces). */
int yaml_scalar_int(const YamlNode *n, int64_t *ret);
int yaml_scalar_double(const YamlNode *n, double *ret);
/* "true"/"false" in any of the spellings Jackson accepts, quoted or not. */
int yaml_scalar_bool(const YamlNode *n, bool *ret);
/* A kind name for messages: "a string", "a list", "a map", "a number", "a boolean", "null". */
const char *yaml_node_describe(const YamlNode *n);

/* Convert to a JSON value with Kestra's scalar resolution. Returns 0, -ENOMEM or -EINVAL (a map
 * key that is not a scalar). */
int yaml_node_to_json(const YamlNode *n, json_t **ret);

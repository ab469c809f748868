/* test-yaml-tree: YAML -> node tree with positions, Kestra's scalar typing, and refusal of hostile input. */
#include <string.h>

#include "cleanup-jansson.h"
#include "tap.h"
#include "yaml-tree.h"

static void test_scalars(void) {
        /* Jackson YAML typing: only plain scalars are typed; quoted and block scalars stay text. */
        static const struct {
                const char *yaml, *json;
        } cases[] = {
                { "v: true", "true" },         { "v: False", "false" },      { "v: TRUE", "true" },
                { "v: yes", "\"yes\"" },       { "v: on", "\"on\"" },         { "v: \"true\"", "\"true\"" },
                { "v: 42", "42" },             { "v: -7", "-7" },            { "v: +5", "5" },
                { "v: 1_000", "1000" },        { "v: 0x1F", "31" },          { "v: '42'", "\"42\"" },
                { "v: 1.5", "1.5" },           { "v: -2.5e3", "-2500.0" },   { "v: .5", "0.5" },
                { "v: 1e3", "1000.0" },        { "v: 1.2.3", "\"1.2.3\"" },  { "v: .inf", "\".inf\"" },
                { "v: null", "null" },         { "v: ~", "null" },           { "v:", "null" },
                { "v: Null", "null" },         { "v: 'null'", "\"null\"" },   { "v: nil", "\"nil\"" },
                { "v: !!str 5", "\"5\"" },     { "v: PT1S", "\"PT1S\"" },    { "v: 2024-01-01", "\"2024-01-01\"" },
                { "v: |\n  a\n  b\n", "\"a\\nb\\n\"" }, { "v: >-\n  a\n  b\n", "\"a b\"" },
                { "v: [1, a, {b: c}]", "[1, \"a\", {\"b\": \"c\"}]" },
                { "v: 99999999999999999999", "1e+20" },
                { "1: x", NULL }, /* keys are text: checked below */
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_yaml_node_ YamlNode *root = NULL;
                _cleanup_json_ json_t *j = NULL, *want = NULL;
                int r = yaml_tree_parse(cases[i].yaml, strlen(cases[i].yaml), NULL, NULL, &diags, &root);
                if (!is_int(r, 0, cases[i].yaml))
                        continue;
                is_int(yaml_node_to_json(root, &j), 0, "to json");
                if (!cases[i].json) {
                        ok(json_is_string(json_object_get(j, "1")), "integer-looking key is a string key");
                        continue;
                }
                want = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
                json_t *got = json_object_get(j, "v");
                _cleanup_free_ char *gs = json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT);
                ok(want && json_equal(got, want) && json_typeof(got) == json_typeof(want), "%s -> %s (got %s)",
                   cases[i].yaml, cases[i].json, gs ? gs : "?");
        }
}

static void test_positions(void) {
        const char *y = "a: 1\nlist:\n  - x\n  -   {k: v}\n";
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_yaml_node_ YamlNode *root = NULL;
        is_int(yaml_tree_parse(y, strlen(y), NULL, NULL, &diags, &root), 0, "parse");
        const YamlNode *a = yaml_node_get(root, "a"), *list = yaml_node_get(root, "list");
        ok(a && a->line == 1 && a->column == 4, "scalar position 1:4");
        ok(list && list->kind == YAML_NODE_SEQ && list->line == 3 && list->column == 3, "sequence position 3:3");
        ok(list && list->n_children == 2 && list->children[1]->line == 4 && list->children[1]->column == 7,
           "flow map position 4:7");
        is_str(yaml_node_describe(list), "a list", "describe list");
        is_str(yaml_node_describe(a), "a number", "describe number");
        ok(!yaml_node_get(root, "missing") && !yaml_node_get(a, "x"), "absent keys");
}

static void test_errors(void) {
        static const struct {
                const char *name, *yaml, *message;
                unsigned line, column;
        } cases[] = {
                { "duplicate key", "a: 1\nb: 2\na: 3\n", "duplicate key 'a' (first at line 1)", 3, 1 },
                { "duplicate nested", "m:\n  x: 1\n  x: 2\n", "duplicate key 'x'", 3, 3 },
                { "bad indent", "a:\n  b: 1\n c: 2\n", "YAML syntax error", 3, 2 },
                { "unclosed flow", "a: [1, 2\n", "YAML syntax error", 2, 1 },
                { "tab", "a:\n\tb: 1\n", "YAML syntax error", 2, 1 },
                { "unknown alias", "a: *x\n", "unknown alias '*x'", 1, 4 },
                { "recursive alias", "a: &x [*x]\n", "recursive alias '*x'", 1, 8 },
                { "two documents", "a: 1\n---\nb: 2\n", "more than one YAML document", 2, 1 },
                { "complex key", "? [a]\n: b\n", "map key must be a scalar", 1, 3 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_yaml_node_ YamlNode *root = NULL;
                int r = yaml_tree_parse(cases[i].yaml, strlen(cases[i].yaml), "f.yaml", NULL, &diags, &root);
                is_int(r, YAML_TREE_INVALID, cases[i].name);
                ok(!root, "%s: no tree", cases[i].name);
                bool found = false;
                for (size_t j = 0; j < diags.n; j++)
                        if (strstr(diags.items[j].message, cases[i].message) && diags.items[j].line == cases[i].line &&
                            diags.items[j].column == cases[i].column)
                                found = true;
                if (!ok(found, "%s: %u:%u: %s", cases[i].name, cases[i].line, cases[i].column, cases[i].message))
                        flow_diagnostics_print(&diags, stdout);
        }
}

static void test_aliases_and_limits(void) {
        /* Aliases share the anchored node; the tree counts their expanded size. */
        const char *y = "base: &b {x: 1, y: 2}\nuse: *b\n";
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        _cleanup_yaml_node_ YamlNode *root = NULL;
        is_int(yaml_tree_parse(y, strlen(y), NULL, NULL, &diags, &root), 0, "alias parses");
        ok(yaml_node_get(root, "base") == yaml_node_get(root, "use"), "alias shares the node");
        _cleanup_json_ json_t *j = NULL;
        is_int(yaml_node_to_json(root, &j), 0, "alias to json");
        ok(json_equal(json_object_get(j, "base"), json_object_get(j, "use")), "alias expands in JSON");

        /* Limits are parameters. */
        YamlLimits small = { .max_size = 10, .max_depth = 2, .min_expand = 5, .expand_factor = 1 };
        const char *cases[][2] = {
                { "0123456789012", "file too large" },
                { "[[[1]]]", "nesting deeper than 2" },
                { "a: &a [1, 1]\nb: [*a, *a]", "YAML bomb" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_flow_diagnostics_ FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
                _cleanup_yaml_node_ YamlNode *r = NULL;
                YamlLimits l = small;
                if (i == 2) /* 7 nodes written, each alias adds 3: the second alias passes 10 */
                        l.max_size = 100, l.max_depth = 10, l.min_expand = 10, l.expand_factor = 0;
                is_int(yaml_tree_parse(cases[i][0], strlen(cases[i][0]), NULL, &l, &d, &r), YAML_TREE_INVALID, cases[i][1]);
                ok(d.n == 1 && strstr(d.items[0].message, cases[i][1]), "message: %s", cases[i][1]);
        }

        _cleanup_flow_diagnostics_ FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
        _cleanup_yaml_node_ YamlNode *empty = NULL;
        is_int(yaml_tree_parse("", 0, NULL, NULL, &d, &empty), 0, "empty input parses");
        ok(!empty, "empty input has no root");
}

int main(void) {
        test_scalars();
        test_positions();
        test_errors();
        test_aliases_and_limits();
        return tap_done();
}

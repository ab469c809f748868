/* test-flow-inputs: user-supplied input values become typed JSON, or a clear message says what is wrong. */
#include <string.h>

#include "cleanup-jansson.h"
#include "flow.h"
#include "tap.h"

static void test_parse(void) {
        static const char *const colors[] = { "red", "green", NULL };
        static const struct {
                FlowInputType type;
                const char *raw;
                const char *json;    /* expected value, NULL when refused */
                const char *message; /* substring of the error when refused */
                int option;          /* 1: validator/min/max/values set (see below) */
        } cases[] = {
                { FLOW_INPUT_STRING, "hello", "\"hello\"", NULL, 0 },
                { FLOW_INPUT_STRING, "", "\"\"", NULL, 0 },
                { FLOW_INPUT_STRING, "abc", "\"abc\"", NULL, 1 },
                { FLOW_INPUT_STRING, "abc1", NULL, "does not match the validator '[a-z]+'", 1 },
                { FLOW_INPUT_STRING, "555-1234", "\"555-1234\"", NULL, 2 },
                { FLOW_INPUT_STRING, "ddd-dddd", NULL, "does not match the validator", 2 },
                { FLOW_INPUT_STRING, "a.b-c_d", "\"a.b-c_d\"", NULL, 3 },
                { FLOW_INPUT_STRING, "a\\b", NULL, "does not match", 3 },
                { FLOW_INPUT_STRING, "x]^", "\"x]^\"", NULL, 4 },
                { FLOW_INPUT_STRING, "x y", "\"x y\"", NULL, 5 },
                { FLOW_INPUT_STRING, "x  y", NULL, "does not match", 5 },
                /* backreferences make glibc exponential: refused, whatever the value */
                { FLOW_INPUT_STRING, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", NULL,
                  "invalid validator '(a*)(a*)(a*)(a*)\\4\\3\\2\\1c': backreferences (\\1 to \\9, \\k<name>) are not supported", 6 },
                /* a stray ')' would unanchor the rest of the expression */
                { FLOW_INPUT_STRING, "xb", NULL, "invalid validator 'a)|(b': unbalanced ')'", 7 },
                { FLOW_INPUT_INT, "42", "42", NULL, 0 },
                { FLOW_INPUT_INT, "-3", "-3", NULL, 0 },
                { FLOW_INPUT_INT, "4.5", NULL, "'4.5' is not an integer", 0 },
                { FLOW_INPUT_INT, "x", NULL, "not an integer", 0 },
                { FLOW_INPUT_INT, "99999999999999999999", NULL, "not an integer", 0 },
                { FLOW_INPUT_INT, "0", NULL, "0 is less than the minimum 1", 1 },
                { FLOW_INPUT_INT, "11", NULL, "11 is greater than the maximum 10", 1 },
                { FLOW_INPUT_INT, "10", "10", NULL, 1 },
                { FLOW_INPUT_FLOAT, "1.5", "1.5", NULL, 0 },
                { FLOW_INPUT_FLOAT, "2", "2.0", NULL, 0 },
                { FLOW_INPUT_FLOAT, "nan", NULL, "not a number", 0 },
                { FLOW_INPUT_FLOAT, "abc", NULL, "not a number", 0 },
                { FLOW_INPUT_FLOAT, "10.5", NULL, "greater than the maximum 10", 1 },
                { FLOW_INPUT_BOOLEAN, "true", "true", NULL, 0 },
                { FLOW_INPUT_BOOLEAN, "FALSE", "false", NULL, 0 },
                { FLOW_INPUT_BOOLEAN, "yes", NULL, "not a boolean", 0 },
                { FLOW_INPUT_DATE, "2024-02-29", "\"2024-02-29\"", NULL, 0 },
                { FLOW_INPUT_DATE, "2023-02-29", NULL, "not a date (YYYY-MM-DD)", 0 },
                { FLOW_INPUT_DATE, "2024-1-01", NULL, "not a date", 0 },
                { FLOW_INPUT_DATE, "2019-12-31", NULL, "is before 2020-01-01", 1 },
                { FLOW_INPUT_DATETIME, "2024-01-31T10:00:00Z", "\"2024-01-31T10:00:00Z\"", NULL, 0 },
                { FLOW_INPUT_DATETIME, "2024-01-31T12:00:00+02:00", "\"2024-01-31T10:00:00Z\"", NULL, 0 },
                { FLOW_INPUT_DATETIME, "yesterday", NULL, "not a date-time", 0 },
                { FLOW_INPUT_TIME, "10:15", "\"10:15\"", NULL, 0 },
                { FLOW_INPUT_TIME, "23:59:59.5", "\"23:59:59.5\"", NULL, 0 },
                { FLOW_INPUT_TIME, "24:00", NULL, "not a time of day", 0 },
                { FLOW_INPUT_TIME, "07:00", NULL, "is before 08:00", 1 },
                { FLOW_INPUT_DURATION, "PT90S", "\"PT1M30S\"", NULL, 0 },
                { FLOW_INPUT_DURATION, "P1D", "\"P1D\"", NULL, 0 },
                { FLOW_INPUT_DURATION, "90s", NULL, "not an ISO-8601 duration", 0 },
                { FLOW_INPUT_DURATION, "PT30S", NULL, "PT30S is shorter than the minimum PT1M", 1 },
                { FLOW_INPUT_DURATION, "PT2H", NULL, "PT2H is longer than the maximum PT1H", 1 },
                { FLOW_INPUT_DURATION, "PT1H", "\"PT1H\"", NULL, 1 },
                { FLOW_INPUT_FILE, "/tmp/data.csv", "\"/tmp/data.csv\"", NULL, 0 },
                { FLOW_INPUT_FILE, "", NULL, "empty value", 0 },
                { FLOW_INPUT_JSON, "{\"a\": [1, 2]}", "{\"a\": [1, 2]}", NULL, 0 },
                { FLOW_INPUT_JSON, "3", "3", NULL, 0 },
                { FLOW_INPUT_JSON, "{a:}", NULL, "not valid JSON", 0 },
                { FLOW_INPUT_YAML, "a: 1\nb: [x]\n", "{\"a\": 1, \"b\": [\"x\"]}", NULL, 0 },
                { FLOW_INPUT_YAML, "a: [\n", NULL, "not valid YAML", 0 },
                { FLOW_INPUT_URI, "https://example.com/x?y=1", "\"https://example.com/x?y=1\"", NULL, 0 },
                { FLOW_INPUT_URI, "kestra:///ns/file.txt", "\"kestra:///ns/file.txt\"", NULL, 0 },
                { FLOW_INPUT_URI, "not a uri", NULL, "not a URI", 0 },
                { FLOW_INPUT_SECRET, "s3cr3t", "\"s3cr3t\"", NULL, 0 },
                { FLOW_INPUT_ENUM, "red", "\"red\"", NULL, 1 },
                { FLOW_INPUT_ENUM, "blue", NULL, "'blue' is not one of the allowed values: red, green", 1 },
                { FLOW_INPUT_MULTISELECT, "[\"red\", \"green\"]", "[\"red\", \"green\"]", NULL, 1 },
                { FLOW_INPUT_MULTISELECT, "red, green", "[\"red\", \"green\"]", NULL, 1 },
                { FLOW_INPUT_MULTISELECT, "red,blue", NULL, "'blue' is not one of the allowed values", 1 },
                { FLOW_INPUT_ARRAY, "[1, \"2\", 3]", "[1, 2, 3]", NULL, 1 },
                { FLOW_INPUT_ARRAY, "[1, \"x\"]", NULL, "item 1: 'x' is not an integer", 1 },
                { FLOW_INPUT_ARRAY, "1,2", NULL, "expected a JSON list", 1 },
                { FLOW_INPUT_EMAIL, "a.b@example.com", "\"a.b@example.com\"", NULL, 0 },
                { FLOW_INPUT_EMAIL, "a@b", NULL, "not an email address", 0 },
                { FLOW_INPUT_EMAIL, "@example.com", NULL, "not an email address", 0 },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_json_ json_t *values = json_pack("[ss]", colors[0], colors[1]);
                _cleanup_json_ json_t *min = NULL, *max = NULL, *got = NULL, *want = NULL;
                _cleanup_free_ char *error = NULL;
                FlowInput in = { .id = (char *) "x", .type = cases[i].type, .required = true,
                                 .item_type = _FLOW_INPUT_TYPE_INVALID };
                const char *tname = flow_input_type_to_string(cases[i].type);

                if (cases[i].option) {
                        switch (cases[i].type) {
                        case FLOW_INPUT_STRING: {
                                /* Java syntax: \\d, escapes inside brackets, \\s. */
                                static const char *const validators[] = { NULL, "[a-z]+", "\\d{3}-\\d{4}",
                                                                          "[\\w.\\-]+", "[x\\]\\^]+", "\\w\\s\\w",
                                                                          "(a*)(a*)(a*)(a*)\\4\\3\\2\\1c", "a)|(b" };
                                in.validator = (char *) validators[cases[i].option];
                                break;
                        }
                        case FLOW_INPUT_INT:
                        case FLOW_INPUT_FLOAT:
                                in.min = min = json_integer(1);
                                in.max = max = json_integer(10);
                                break;
                        case FLOW_INPUT_DATE:
                                in.min = min = json_string("2020-01-01");
                                break;
                        case FLOW_INPUT_DURATION:
                                in.min = min = json_string("PT1M");
                                in.max = max = json_string("PT1H");
                                break;
                        case FLOW_INPUT_TIME:
                                in.min = min = json_string("08:00");
                                break;
                        case FLOW_INPUT_ARRAY:
                                in.item_type = FLOW_INPUT_INT;
                                break;
                        default:
                                in.values = values;
                        }
                }
                int r = flow_input_parse(&in, cases[i].raw, &got, &error);
                if (cases[i].json) {
                        want = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
                        _cleanup_free_ char *gs = got ? json_dumps(got, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
                        bool same = json_equal(got, want);
                        usec_t a, b;
                        /* An instant is compared as an instant: the text form (fraction digits) is timeutil's. */
                        if (cases[i].type == FLOW_INPUT_DATETIME && json_is_string(got))
                                same = timestamp_parse(json_string_value(got), 0, &a) >= 0 &&
                                       timestamp_parse(json_string_value(want), 0, &b) >= 0 && a == b &&
                                       endswith(json_string_value(got), "Z");
                        ok(r == 0 && same, "%s '%s' -> %s (got %s, error %s)", tname, cases[i].raw,
                           cases[i].json, gs ? gs : "nothing", error ? error : "none");
                } else
                        ok(r == -EINVAL && error && strstr(error, cases[i].message), "%s '%s' refused: %s (got: %s)",
                           tname, cases[i].raw, cases[i].message, error ? error : "no error");
        }
}

static const char flow_yaml[] =
        "id: f\n"
        "namespace: t\n"
        "inputs:\n"
        "  - id: name\n"
        "    type: STRING\n"
        "  - id: count\n"
        "    type: INT\n"
        "    defaults: 3\n"
        "  - id: flag\n"
        "    type: BOOLEAN\n"
        "    required: false\n"
        "  - id: when\n"
        "    type: DATETIME\n"
        "    defaults: \"{{ now() }}\"\n"
        "  - id: data\n"
        "    type: JSON\n"
        "    required: false\n"
        "    defaults: {a: 1}\n"
        "  - id: color\n"
        "    type: SELECT\n"
        "    values: [red, green]\n"
        "    defaults: green\n"
        "tasks:\n"
        "  - id: t\n"
        "    type: Return\n";

static void test_resolve(void) {
        _cleanup_flow_ Flow *f = NULL;
        _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
        if (!is_int(flow_load_string(flow_yaml, strlen(flow_yaml), NULL, &f, &diags), 0, "inputs flow loads")) {
                flow_diagnostics_print(&diags, stdout);
                return;
        }

        static const struct {
                const char *name, *supplied, *expect, *error;
        } cases[] = {
                { "defaults applied", "{\"name\": \"bob\"}",
                  "{\"name\": \"bob\", \"count\": 3, \"flag\": null, \"when\": \"{{ now() }}\", \"data\": {\"a\": 1}, "
                  "\"color\": \"green\"}",
                  NULL },
                { "strings converted", "{\"name\": \"bob\", \"count\": \"7\", \"flag\": \"true\", \"color\": \"red\", "
                                       "\"data\": \"[1]\", \"extra\": 1}",
                  "{\"name\": \"bob\", \"count\": 7, \"flag\": true, \"when\": \"{{ now() }}\", \"data\": [1], "
                  "\"color\": \"red\"}",
                  NULL },
                { "typed values", "{\"name\": \"bob\", \"count\": 8, \"flag\": false, \"data\": {\"b\": 2}}",
                  "{\"name\": \"bob\", \"count\": 8, \"flag\": false, \"when\": \"{{ now() }}\", \"data\": {\"b\": 2}, "
                  "\"color\": \"green\"}",
                  NULL },
                { "required missing", "{}", NULL, "input 'name' is required" },
                { "null is missing", "{\"name\": null}", NULL, "input 'name' is required" },
                { "every error", "{\"count\": \"x\", \"color\": \"blue\"}", NULL,
                  "input 'name' is required; input 'count': 'x' is not an integer; input 'color': 'blue' is not one of" },
                { "bad typed value", "{\"name\": \"a\", \"flag\": 3}", NULL, "input 'flag': '3' is not a boolean" },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_json_ json_t *supplied = json_loads(cases[i].supplied, 0, NULL), *got = NULL, *want = NULL;
                _cleanup_free_ char *error = NULL;
                int r = flow_inputs_resolve(f, supplied, &got, &error);
                if (cases[i].expect) {
                        want = json_loads(cases[i].expect, 0, NULL);
                        _cleanup_free_ char *gs = got ? json_dumps(got, JSON_COMPACT) : NULL;
                        ok(r == 0 && json_equal(got, want), "%s (got %s, error %s)", cases[i].name, gs ? gs : "nothing",
                           error ? error : "none");
                } else
                        ok(r == -EINVAL && error && strstr(error, cases[i].error), "%s: %s (got %s)", cases[i].name,
                           cases[i].error, error ? error : "no error");
        }
        _cleanup_json_ json_t *got = NULL;
        _cleanup_free_ char *error = NULL;
        json_t *bad = json_array();
        is_int(flow_inputs_resolve(f, bad, &got, &error), -EINVAL, "supplied must be an object");
        json_decref(bad);

        static const char *const types[] = { "STRING", "INT", "FLOAT", "BOOLEAN", "BOOL", "DATE", "DATETIME", "TIME",
                                             "DURATION", "FILE", "JSON", "YAML", "URI", "SECRET", "ENUM", "SELECT",
                                             "MULTISELECT", "ARRAY", "EMAIL" };
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                ok(flow_input_type_from_string(types[i]) >= 0, "input type %s", types[i]);
        ok(flow_input_type_from_string("STRIN") < 0, "unknown input type");
}

int main(void) {
        test_parse();
        test_resolve();
        return tap_done();
}

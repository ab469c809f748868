/* test-json-limits.c: the depth and size bounds of values that enter an execution. */
#include <jansson.h>

#include "json-limits.h"
#include "tap.h"

/* n arrays one inside the other, parsed the way a request body is. */
static json_t *nested(unsigned n) {
        char *s = malloc(2 * (size_t) n + 2);
        if (!s)
                return NULL;
        memset(s, '[', n);
        memset(s + n, ']', n);
        s[2 * n] = 0;
        json_t *j = json_loads(s, 0, NULL);
        free(s);
        return j;
}

int main(void) {
        json_t *v;
        char *err = NULL;

        is_int(json_depth(NULL, 64), 0, "no value has depth 0");
        v = json_integer(1);
        is_int(json_depth(v, 64), 0, "a scalar has depth 0");
        json_decref(v);
        v = json_loads("{\"a\": [1, {\"b\": []}], \"c\": {}}", 0, NULL);
        is_int(json_depth(v, 64), 4, "an object holding a list holding an object holding a list: 4");
        is_int(json_value_check(v, "x", &err), 0, "a shallow value passes");
        json_decref(v);

        v = nested(JSON_VALUE_DEPTH_MAX);
        is_int(json_depth(v, JSON_VALUE_DEPTH_MAX), JSON_VALUE_DEPTH_MAX, "64 levels measured as 64");
        is_int(json_value_check(v, "x", NULL), 0, "64 levels pass");
        json_decref(v);

        v = nested(JSON_VALUE_DEPTH_MAX + 1);
        is_int(json_value_check(v, "trigger.body", &err), -E2BIG, "65 levels are refused");
        ok(err && strstr(err, "trigger.body") && strstr(err, "64"), "the message names the value and the limit: %s",
           err ? err : "(none)");
        free(err);
        err = NULL;
        json_decref(v);

        /* The webhook body of the finding: 2,045 levels, just below jansson's parser limit. */
        v = nested(2045);
        ok(v, "jansson parses 2,045 levels");
        is_int(json_depth(v, JSON_VALUE_DEPTH_MAX), JSON_VALUE_DEPTH_MAX + 1, "the walk stops past the limit");
        is_int(json_value_check(v, "x", NULL), -E2BIG, "2,045 levels are refused");
        ok(json_depth(v, 5000) == 2045, "measured in full when the limit allows");
        json_decref(v);

        /* Size: a long string. */
        size_t big = JSON_VALUE_SIZE_MAX + 10;
        char *s = malloc(big + 1);
        memset(s, 'a', big);
        s[big] = 0;
        v = json_pack("{s:s}", "k", s);
        free(s);
        is_int(json_value_check(v, "outputs of task 't'", &err), -E2BIG, "a value above the size limit is refused");
        ok(err && strstr(err, "larger than"), "the message says it is too large: %s", err ? err : "(none)");
        free(err);
        json_decref(v);
        return tap_done();
}

/* json-limits.c: measure a JSON value's nesting and size, stopping at the limit (see json-limits.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json-limits.h"

/* The recursion stops at max + 1 levels whatever the value's real depth: the caller's bound is
 * also the bound on the stack this uses. */
static unsigned depth_at(const json_t *v, unsigned level, unsigned max) {
        unsigned deepest = level;
        size_t i;
        const char *k;
        json_t *c;

        if (!json_is_object(v) && !json_is_array(v))
                return level;
        if (level + 1 > max)
                return max + 1;
        if (json_is_array(v)) {
                json_array_foreach((json_t *) v, i, c) {
                        unsigned d = depth_at(c, level + 1, max);
                        if (d > deepest)
                                deepest = d;
                        if (deepest > max)
                                break;
                }
        } else {
                json_object_foreach((json_t *) v, k, c) {
                        unsigned d = depth_at(c, level + 1, max);
                        if (d > deepest)
                                deepest = d;
                        if (deepest > max)
                                break;
                }
        }
        return deepest < level + 1 ? level + 1 : deepest;
}

unsigned json_depth(const json_t *v, unsigned max) {
        return v ? depth_at(v, 0, max) : 0;
}

static size_t size_of(const json_t *v, size_t max) {
        size_t n = 0, i;
        const char *k;
        json_t *c;

        switch (json_typeof(v)) {
        case JSON_OBJECT:
                n = 2;
                json_object_foreach((json_t *) v, k, c) {
                        n += strlen(k) + 4 + size_of(c, max);
                        if (n > max)
                                return max + 1;
                }
                return n;
        case JSON_ARRAY:
                n = 2;
                json_array_foreach((json_t *) v, i, c) {
                        n += 1 + size_of(c, max);
                        if (n > max)
                                return max + 1;
                }
                return n;
        case JSON_STRING:
                return json_string_length(v) + 2;
        case JSON_INTEGER:
        case JSON_REAL:
                return 8;
        default:
                return 5;
        }
}

size_t json_size_estimate(const json_t *v, size_t max) {
        return v ? size_of(v, max) : 0;
}

int json_value_check(const json_t *v, const char *what, char **ret_error) {
        char *m = NULL;
        int r = 0;

        if (!v)
                return 0;
        if (json_depth(v, JSON_VALUE_DEPTH_MAX) > JSON_VALUE_DEPTH_MAX)
                r = asprintf(&m, "%s is nested more than %u levels deep (the limit)", what, JSON_VALUE_DEPTH_MAX);
        else if (json_size_estimate(v, JSON_VALUE_SIZE_MAX) > JSON_VALUE_SIZE_MAX)
                r = asprintf(&m, "%s is larger than %u bytes (the limit)", what, JSON_VALUE_SIZE_MAX);
        else
                return 0;
        if (ret_error)
                *ret_error = r < 0 ? NULL : m;
        else if (r >= 0)
                free(m);
        return -E2BIG;
}

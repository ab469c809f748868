/* json-limits.h: the bounds on a JSON value that enters an execution (nesting depth, size). */
#pragma once

#include <jansson.h>
#include <stddef.h>

/* How deep a value that enters an execution may nest: inputs, labels, webhook bodies, trigger
 * variables, task outputs. Far below jansson's parser limit (2048 levels), so that a stored
 * document (a few levels of its own around its values) can always be read back. */
#define JSON_VALUE_DEPTH_MAX 64u
/* How large such a value may be, as compact JSON text (about). Task outputs have no other bound
 * (any number of ::{"outputs":...}:: lines); requests are bounded by the webserver's body limit. */
#define JSON_VALUE_SIZE_MAX (16u * 1024u * 1024u)
/* How deep a whole stored document (an execution, an event's payload, a job) may nest: the
 * store's last line, well below what jansson can read back. */
#define JSON_DOC_DEPTH_MAX 512u

/* How many containers v nests (a scalar 0, [] 1, [[1]] 2), counted up to max + 1 at most: the
 * walk never goes deeper than that. */
unsigned json_depth(const json_t *v, unsigned max);
/* About how many bytes v takes as compact JSON, counted up to max + 1 at most. Call it only on a
 * value of bounded depth (it recurses). */
size_t json_size_estimate(const json_t *v, size_t max);

/* 0 when v (may be NULL) is within JSON_VALUE_DEPTH_MAX and JSON_VALUE_SIZE_MAX; otherwise -E2BIG
 * and, when ret_error is not NULL, a message naming what (e.g. "input 'x'", "trigger.body") and the
 * limit, for the caller to free (NULL when out of memory). */
int json_value_check(const json_t *v, const char *what, char **ret_error);

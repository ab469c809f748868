/* web-route.h: request paths in canonical form and matching them against route patterns. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define WEB_PATH_MAX 2048
#define WEB_ROUTE_PARAMS_MAX 4

/* Split the raw request path (as sent, before '?', still percent-encoded) into decoded segments.
 * Authorization is decided on these, so anything with two spellings is refused rather than
 * normalized: empty segments ("//", a trailing "/"), "." and ".." (also encoded), an encoded or
 * decoded '/', '\\', NUL or control character, a malformed escape. "/" gives no segments.
 * Returns the count (>= 0; *ret is a NULL-terminated strv), -EINVAL or -ENOMEM. */
int web_path_parse(const char *raw, char ***ret);

/* Kestra 1.x serves its API under /api/v1/{tenant}/...; tern has one tenant. */
#define WEB_TENANT "main"

/* When segs are /api/v1/TENANT/REST (REST not empty), take the tenant segment out: segs then name
 * /api/v1/REST, and the tenant is returned (the caller frees it). NULL, segs untouched, otherwise. */
char *web_path_take_tenant(char **segs);

/* Match segments against a pattern such as "/api/v1/flows/{}/{}": literal segments compare
 * exactly (case-sensitive); "{}" matches one segment, whose value goes to params in order. */
bool web_route_match(const char *pattern, char *const *segments, const char *params[WEB_ROUTE_PARAMS_MAX]);

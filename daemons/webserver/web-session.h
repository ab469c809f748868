/* web-session.h: the web UI's login: session cookies, their CSRF tokens, and the /api/v1/session endpoints. */
#pragma once

#include <stdbool.h>

/* The cookie (HttpOnly; SameSite=Strict; Secure behind TLS) and the header that must carry its
 * CSRF token on every request but GET and HEAD that it authenticates. */
#define WEB_SESSION_COOKIE "tern_session"
#define WEB_SESSION_CSRF_HEADER "X-CSRF-Token"
/* How long a session lasts from its login (absolute: no renewal). */
#define WEB_SESSION_TTL_SEC (12 * 3600)

/* The value of a Set-Cookie header for cookie (NULL: one that removes it), Secure when secure. */
char *web_session_cookie_header(const char *cookie, bool secure);

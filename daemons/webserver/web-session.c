/* web-session.c: POST/GET/DELETE /api/v1/session: log in with a password or an API token, who is logged in, log out. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup-jansson.h"
#include "strutil.h"
#include "users.h"
#include "web-auth.h"
#include "web-internal.h"
#include "web-session.h"

char *web_session_cookie_header(const char *cookie, bool secure) {
        char age[32];
        snprintf(age, sizeof age, "%d", cookie ? WEB_SESSION_TTL_SEC : 0);
        return strjoin(WEB_SESSION_COOKIE "=", cookie ?: "", "; Path=/; HttpOnly; SameSite=Strict; Max-Age=", age,
                       secure ? "; Secure" : "");
}

/* Whether the browser reached us over TLS: tern serves plain HTTP, so only a proxy in front says so. */
static bool request_secure(WebCtx *c) {
        const char *proto = web_header(c, "X-Forwarded-Proto"), *fwd = web_header(c, "Forwarded");
        return (proto && strcasecmp(proto, "https") == 0) || (fwd && strcasestr(fwd, "proto=https"));
}

static int reply_session(WebCtx *c, unsigned status, const char *user, const char *cookie) {
        char csrf[API_SESSION_CSRF_LEN + 1];
        json_t *j = json_pack("{s:s}", "username", user);
        if (j && cookie) {
                api_session_csrf(cookie, csrf);
                if (json_object_set_new(j, "csrfToken", json_string(csrf)) < 0)
                        j = (json_decref(j), NULL);
        }
        return web_reply_json(c, status, j);
}

int web_session_login(WebCtx *c) {
        json_error_t e;
        _cleanup_json_ json_t *body = json_loadb(c->body, c->body_len, 0, &e);
        const char *name = json_string_value(json_object_get(body, "username"));
        const char *password = json_string_value(json_object_get(body, "password"));
        const char *token = json_string_value(json_object_get(body, "token"));
        if (!json_is_object(body) || (!token && (!name || !password)))
                return web_reply_error(c, 400, "log in with {\"username\": ..., \"password\": ...} or {\"token\": ...}");
        _cleanup_free_ char *user = NULL;
        int r;
        if (token) {
                /* Tokens are 256 random bits: not throttled, as in the Authorization header. */
                r = api_token_user(token, api_users_lookup, c->store, &user);
                if (r == -EINVAL || r == -ENOENT)
                        return web_reply_error(c, 401, "unknown API token");
                if (r < 0)
                        return web_reply_store_error(c, r);
        } else {
                unsigned retry = 0;
                r = web_password_check(c, name, password, &user, &retry);
                if (r < 0)
                        return web_reply_error(c, 500, "the password could not be checked");
                if (r == WEB_AUTH_THROTTLED || r == WEB_AUTH_BUSY)
                        return web_reply_error(c, r == WEB_AUTH_THROTTLED ? 429 : 503,
                                               "too many password checks; retry in %u s", retry);
                if (r != WEB_AUTH_OK)
                        return web_reply_error(c, 401, "wrong user name or password");
        }
        _cleanup_free_ char *cookie = NULL;
        r = api_session_create(c->store, user, token, (usec_t) WEB_SESSION_TTL_SEC * USEC_PER_SEC, &cookie);
        if (r == -ENOENT)
                return web_reply_error(c, 401, "user '%s' was removed", user);
        if (r < 0)
                return web_reply_store_error(c, r);
        free(c->set_cookie);
        if (!(c->set_cookie = web_session_cookie_header(cookie, request_secure(c))))
                return web_reply_error(c, 500, "out of memory");
        reply_session(c, 200, user, cookie);
        explicit_bzero(cookie, strlen(cookie));
        return 0;
}

int web_session_get(WebCtx *c) {
        /* Also for Basic and bearer clients, without a CSRF token: they need none. */
        return reply_session(c, 200, c->user, c->session);
}

int web_session_logout(WebCtx *c) {
        if (c->session) {
                int r = api_session_delete(c->store, c->session);
                if (r < 0)
                        return web_reply_store_error(c, r);
        }
        free(c->set_cookie);
        if (!(c->set_cookie = web_session_cookie_header(NULL, request_secure(c))))
                return web_reply_error(c, 500, "out of memory");
        c->status = 204;
        c->content_type = NULL;
        return 0;
}

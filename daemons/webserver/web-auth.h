/* web-auth.h: webserver users (yescrypt password hashes) and API tokens (stored as SHA-256). */
#pragma once

#include "store.h"

/* Users and tokens live in the store's kv table under this namespace. Flow namespaces cannot
 * start with '_' (flow validation), so flows' kv tasks cannot reach it. */
#define WEB_AUTH_NAMESPACE "_tern.auth"

/* Names: 1-64 of [A-Za-z0-9._@-]. */
bool web_auth_user_name_valid(const char *name);
/* Create or replace a user's password. -EINVAL for a bad name or an empty password. */
int web_auth_user_add(Store *s, const char *name, const char *password);
/* 0 when the password is right; -EACCES when wrong or the user is unknown. */
int web_auth_check_password(Store *s, const char *name, const char *password);
/* A new random token for an existing user (-ENOENT otherwise), printed once: only its hash is
 * kept. *ret is "tern_" followed by 64 hex digits. */
int web_auth_token_create(Store *s, const char *user, char **ret);
/* 0 and the token's user (optional) when the token is known; -EACCES otherwise. */
int web_auth_check_token(Store *s, const char *token, char **ret_user);

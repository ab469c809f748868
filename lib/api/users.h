/* users.h: the webserver's users, API tokens and browser sessions, as the tern command makes them and the webserver checks them. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "store.h"

/* Passwords are kept as crypt hashes, tokens as their SHA-256: neither can be read back. Users and
 * tokens live in the store's kv table under this namespace, as "user/NAME" -> {hash, created} and
 * "token/SHA256HEX" -> {user, created}, browser sessions as "session/SHA256HEX" -> {user, created,
 * pw[, tok]} (expiring with the kv entry; tok: the hash of the API token that opened it). Flow namespaces cannot start with '_' (flow validation), so
 * flows' kv tasks cannot reach it. */
#define API_USERS_NAMESPACE "_tern.auth"

/* The crypt method (yescrypt) and cost of new password hashes (0: libcrypt's default for the method). */
#define API_PASSWORD_HASH_PREFIX "$y$"
#define API_PASSWORD_HASH_COST 0UL

/* A token: this prefix and 64 hex digits (256 random bits). */
#define API_TOKEN_PREFIX "tern_"
#define API_TOKEN_LEN 69

/* Names: 1-64 of [A-Za-z0-9._@-]. */
bool api_user_name_valid(const char *name);

/* A new hash of password with a fresh salt, by method prefix and cost (API_PASSWORD_HASH_* for
 * users). -EINVAL when the method does not hash. */
int api_password_hash(const char *prefix, unsigned long cost, const char *password, char **ret);
/* 1 when password matches hash, 0 when not (also for a malformed hash), -ENOMEM. Takes what the
 * hash's method costs, and compares in constant time. */
int api_password_check(const char *password, const char *hash);

/* Create or replace a user's password. -EINVAL for a bad name or an empty password. */
int api_user_add(Store *s, const char *name, const char *password);
/* A new random token for an existing user (-ENOENT otherwise, -EINVAL for a bad name), to be shown
 * once: only its hash is kept. *ret is API_TOKEN_PREFIX followed by 64 hex digits. */
int api_token_create(Store *s, const char *user, char **ret);

/* A token's id, as 'tern token list' shows it and 'tern token revoke' takes it: the first
 * API_TOKEN_ID_LEN hex digits of its hash (any unique prefix of at least API_TOKEN_ID_MIN is taken). */
#define API_TOKEN_ID_LEN 12
#define API_TOKEN_ID_MIN 6
/* Users, sorted by name: a JSON array of {"name", "created", "tokens": count}. */
int api_user_list(Store *s, json_t **ret);
/* Tokens (of user, or of everyone when NULL), sorted by user then creation: a JSON array of
 * {"id", "user", "created"}. Never the token itself: it is not kept. */
int api_token_list(Store *s, const char *user, json_t **ret);
/* Revoke one token, named by its id (a prefix of its hash's hex digits) or by the token itself;
 * sessions opened with it end with it. *ret_user and *ret_id (may be NULL) say whose and which.
 * -ENOENT: no such token; -ENOTUNIQ: the prefix names several; -EINVAL: too short, not hex. */
int api_token_revoke(Store *s, const char *id_or_token, char **ret_user, char **ret_id);
/* Remove a user with all of its tokens and sessions. -ENOENT when there is no such user. */
int api_user_remove(Store *s, const char *name, unsigned *ret_tokens, unsigned *ret_sessions);

/* Where users and tokens are looked up: the JSON value stored under key (under
 * API_USERS_NAMESPACE) in *ret; -ENOENT when there is none; another negative errno on failure. A
 * webserver's lookup takes a pooled connection and gives it back before any password is hashed. */
typedef int (*ApiUsersLookup)(void *userdata, const char *key, json_t **ret);
/* The lookup on a store (userdata is the Store). */
int api_users_lookup(void *userdata, const char *key, json_t **ret);

/* The password hash of user name (*ret, the caller frees it). -ENOENT when there is no such user
 * (an invalid name is not looked up); the lookup's error. */
int api_user_hash(const char *name, ApiUsersLookup lookup, void *userdata, char **ret);
/* The user a token belongs to (*ret, the caller frees it). -EINVAL when it is not a token's shape
 * (not looked up); -ENOENT when there is no such token; the lookup's error. Found by the token's
 * hash, so that how long a lookup takes says nothing about valid tokens. */
int api_token_user(const char *token, ApiUsersLookup lookup, void *userdata, char **ret);

/* ---- browser sessions (the web UI's login) ---- */

/* A session cookie's value: 64 hex digits (256 random bits); its CSRF token is as long. */
#define API_SESSION_LEN 64
#define API_SESSION_CSRF_LEN 64

/* A new session of user, valid for ttl (µs) from now: *ret is the cookie's value, to be given to
 * the browser only; the store keeps its hash, with a fingerprint of the user's password hash so
 * that a new password (or the user's removal) ends every session. token: the API token the session
 * was opened with (NULL: a password), which must still exist for the session to live: revoking it
 * ends the session. -ENOENT when the user (or the token, for that user) does not exist, -EINVAL for a
 * bad name. */
int api_session_create(Store *s, const char *user, const char *token, usec_t ttl, char **ret);
/* The user whose live session cookie is (*ret, the caller frees it). -EINVAL when it is not a
 * session's shape (not looked up); -ENOENT when there is no such session, it expired, its user's
 * password changed since, or the token that opened it was revoked; the lookup's error. */
int api_session_user(const char *cookie, ApiUsersLookup lookup, void *userdata, char **ret);
/* End a session (logout); missing is success. */
int api_session_delete(Store *s, const char *cookie);
/* The CSRF token that goes with a session cookie: derived from it (a keyed hash under a fixed
 * label), so nothing more is stored, and only who can read the cookie, or was given the token by
 * the server, has it. buf gets API_SESSION_CSRF_LEN hex digits and a NUL. */
void api_session_csrf(const char *cookie, char buf[static API_SESSION_CSRF_LEN + 1]);
/* Whether token is the CSRF token of cookie (constant time). */
bool api_session_csrf_check(const char *cookie, const char *token);

/* users.c: users (password hashes) and API tokens in the store's kv table (see users.h). */
#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "cleanup-jansson.h"
#include "strutil.h"
#include "users.h"

bool api_user_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-", name[i]))
                        return false;
        return true;
}

/* The one place that picks the salt, for users and for the webserver's dummy hash of unknown ones alike. */
int api_password_hash(const char *prefix, unsigned long cost, const char *password, char **ret) {
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        errno = 0;
        if (!crypt_gensalt_rn(prefix, cost, NULL, 0, salt, sizeof salt))
                return -errno ?: -EINVAL;
        _cleanup_free_ struct crypt_data *cd = calloc(1, sizeof *cd);
        if (!cd)
                return -ENOMEM;
        const char *hash = crypt_rn(password, salt, cd, sizeof *cd);
        int r = 0;
        /* A failed crypt is NULL or starts with '*'; a hash has the salt's method in front. */
        if (!hash || hash[0] == '*' || !startswith(hash, prefix))
                r = -EINVAL;
        else if (!(*ret = strdup(hash)))
                r = -ENOMEM;
        explicit_bzero(cd, sizeof *cd);
        return r;
}

int api_password_check(const char *password, const char *hash) {
        /* Some MiB with yescrypt: not on the stack of a webserver thread. */
        _cleanup_free_ struct crypt_data *cd = calloc(1, sizeof *cd);
        if (!cd)
                return -ENOMEM;
        const char *h = crypt_rn(password, hash, cd, sizeof *cd);
        size_t n = strlen(hash);
        bool match = h && h[0] != '*' && strlen(h) == n && CRYPTO_memcmp(h, hash, n) == 0;
        explicit_bzero(cd, sizeof *cd);
        return match;
}

/* ---- the kv table -------------------------------------------------------------------------- */

typedef struct KvCtx {
        const char *key;
        json_t *value;      /* put: the value; get: the result */
        const char *user;   /* put: a user who must exist (tokens) */
} KvCtx;

static int get_tx(StoreTx *tx, void *userdata) {
        KvCtx *c = userdata;
        json_decref(c->value); /* a rerun starts over */
        c->value = NULL;
        return store_kv_get(tx, API_USERS_NAMESPACE, c->key, now_realtime(), &c->value);
}

int api_users_lookup(void *userdata, const char *key, json_t **ret) {
        KvCtx c = { .key = key };
        int r = store_transact(userdata, get_tx, &c);
        if (r < 0) {
                json_decref(c.value);
                return r;
        }
        *ret = c.value;
        return 0;
}

static int put_tx(StoreTx *tx, void *userdata) {
        KvCtx *c = userdata;
        usec_t now = now_realtime();
        if (c->user) {
                _cleanup_free_ char *ukey = strjoin("user/", c->user);
                _cleanup_json_ json_t *u = NULL;
                if (!ukey)
                        return -ENOMEM;
                int r = store_kv_get(tx, API_USERS_NAMESPACE, ukey, now, &u);
                if (r < 0)
                        return r;
        }
        return store_kv_put(tx, API_USERS_NAMESPACE, c->key, c->value, 0, now);
}

/* ---- users and tokens ---------------------------------------------------------------------- */

int api_user_add(Store *s, const char *name, const char *password) {
        if (!api_user_name_valid(name) || isempty(password))
                return -EINVAL;
        _cleanup_free_ char *hash = NULL;
        int r = api_password_hash(API_PASSWORD_HASH_PREFIX, API_PASSWORD_HASH_COST, password, &hash);
        if (r < 0)
                return r;
        _cleanup_free_ char *key = strjoin("user/", name);
        char ts[TIMESTAMP_MAX];
        _cleanup_json_ json_t *v = json_pack("{s:s, s:s}", "hash", hash, "created", timestamp_format(ts, now_realtime()));
        if (!key || !v)
                return -ENOMEM;
        KvCtx c = { .key = key, .value = v };
        return store_transact(s, put_tx, &c);
}

static void sha256_hex(const char *s, char out[static SHA256_DIGEST_LENGTH * 2 + 1]) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *) s, strlen(s), md);
        for (size_t i = 0; i < sizeof md; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
}

int api_token_create(Store *s, const char *user, char **ret) {
        if (!api_user_name_valid(user))
                return -EINVAL;
        unsigned char rnd[32];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
                return -EIO;
        char token[API_TOKEN_LEN + 1] = API_TOKEN_PREFIX;
        for (size_t i = 0; i < sizeof rnd; i++)
                sprintf(token + strlen(API_TOKEN_PREFIX) + 2 * i, "%02x", rnd[i]);
        explicit_bzero(rnd, sizeof rnd);
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        sha256_hex(token, hex);
        _cleanup_free_ char *key = strjoin("token/", hex), *copy = strdup(token);
        explicit_bzero(token, sizeof token);
        char ts[TIMESTAMP_MAX];
        _cleanup_json_ json_t *v = json_pack("{s:s, s:s}", "user", user, "created", timestamp_format(ts, now_realtime()));
        if (!key || !copy || !v)
                return -ENOMEM;
        /* The user is checked in the transaction that stores the token: none for a user gone meanwhile. */
        KvCtx c = { .key = key, .value = v, .user = user };
        int r = store_transact(s, put_tx, &c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(copy);
        return 0;
}

int api_user_hash(const char *name, ApiUsersLookup lookup, void *userdata, char **ret) {
        if (!api_user_name_valid(name))
                return -ENOENT;
        _cleanup_free_ char *key = strjoin("user/", name);
        _cleanup_json_ json_t *v = NULL;
        if (!key)
                return -ENOMEM;
        int r = lookup(userdata, key, &v);
        if (r < 0)
                return r;
        const char *hash = json_string_value(json_object_get(v, "hash"));
        if (!hash)
                return -ENOENT;
        return (*ret = strdup(hash)) ? 0 : -ENOMEM;
}

int api_token_user(const char *token, ApiUsersLookup lookup, void *userdata, char **ret) {
        if (!startswith(token, API_TOKEN_PREFIX) || strlen(token) != API_TOKEN_LEN)
                return -EINVAL;
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        sha256_hex(token, hex);
        _cleanup_free_ char *key = strjoin("token/", hex);
        _cleanup_json_ json_t *v = NULL;
        if (!key)
                return -ENOMEM;
        int r = lookup(userdata, key, &v);
        if (r < 0)
                return r;
        const char *user = json_string_value(json_object_get(v, "user"));
        if (!user)
                return -ENOENT;
        return (*ret = strdup(user)) ? 0 : -ENOMEM;
}

/* ---- browser sessions ---------------------------------------------------------------------- */

/* What ties a session to the password it was opened with: a prefix of its hash's hash. */
static void password_fingerprint(const char *hash, char out[static 17]) {
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        sha256_hex(hash, hex);
        memcpy(out, hex, 16);
        out[16] = 0;
}

static bool session_shape(const char *cookie) {
        return cookie && strlen(cookie) == API_SESSION_LEN && strspn(cookie, "0123456789abcdef") == API_SESSION_LEN;
}

typedef struct SessionCtx {
        const char *user, *key;
        usec_t ttl;
} SessionCtx;

static int session_put_tx(StoreTx *tx, void *userdata) {
        SessionCtx *c = userdata;
        usec_t now = now_realtime();
        _cleanup_free_ char *ukey = strjoin("user/", c->user);
        _cleanup_json_ json_t *u = NULL;
        if (!ukey)
                return -ENOMEM;
        int r = store_kv_get(tx, API_USERS_NAMESPACE, ukey, now, &u);
        if (r < 0)
                return r;
        const char *hash = json_string_value(json_object_get(u, "hash"));
        if (!hash)
                return -ENOENT;
        char fp[17], ts[TIMESTAMP_MAX];
        password_fingerprint(hash, fp);
        _cleanup_json_ json_t *v = json_pack("{s:s, s:s, s:s}", "user", c->user, "created", timestamp_format(ts, now), "pw", fp);
        if (!v)
                return -ENOMEM;
        return store_kv_put(tx, API_USERS_NAMESPACE, c->key, v, now + c->ttl, now);
}

int api_session_create(Store *s, const char *user, usec_t ttl, char **ret) {
        if (!api_user_name_valid(user))
                return -EINVAL;
        unsigned char rnd[API_SESSION_LEN / 2];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
                return -EIO;
        char cookie[API_SESSION_LEN + 1];
        for (size_t i = 0; i < sizeof rnd; i++)
                sprintf(cookie + 2 * i, "%02x", rnd[i]);
        explicit_bzero(rnd, sizeof rnd);
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        sha256_hex(cookie, hex);
        _cleanup_free_ char *key = strjoin("session/", hex), *copy = strdup(cookie);
        explicit_bzero(cookie, sizeof cookie);
        if (!key || !copy)
                return -ENOMEM;
        SessionCtx c = { .user = user, .key = key, .ttl = ttl };
        int r = store_transact(s, session_put_tx, &c);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(copy);
        return 0;
}

int api_session_user(const char *cookie, ApiUsersLookup lookup, void *userdata, char **ret) {
        if (!session_shape(cookie))
                return -EINVAL;
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        sha256_hex(cookie, hex);
        _cleanup_free_ char *key = strjoin("session/", hex);
        _cleanup_json_ json_t *v = NULL;
        if (!key)
                return -ENOMEM;
        int r = lookup(userdata, key, &v);
        if (r < 0)
                return r;
        const char *user = json_string_value(json_object_get(v, "user"));
        const char *pw = json_string_value(json_object_get(v, "pw"));
        if (!user || !pw)
                return -ENOENT;
        _cleanup_free_ char *hash = NULL;
        if ((r = api_user_hash(user, lookup, userdata, &hash)) < 0)
                return r;
        char fp[17];
        password_fingerprint(hash, fp);
        if (!streq(fp, pw))
                return -ENOENT;
        return (*ret = strdup(user)) ? 0 : -ENOMEM;
}

static int session_delete_tx(StoreTx *tx, void *userdata) {
        return store_kv_delete(tx, API_USERS_NAMESPACE, userdata);
}

int api_session_delete(Store *s, const char *cookie) {
        if (!session_shape(cookie))
                return 0;
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        sha256_hex(cookie, hex);
        _cleanup_free_ char *key = strjoin("session/", hex);
        if (!key)
                return -ENOMEM;
        int r = store_transact(s, session_delete_tx, key);
        return r == -ENOENT ? 0 : r;
}

void api_session_csrf(const char *cookie, char buf[static API_SESSION_CSRF_LEN + 1]) {
        /* The cookie is 256 secret random bits: a hash of it under a label of its own cannot be
         * turned back into it, and nobody without it can make one. */
        _cleanup_free_ char *in = strjoin("tern-csrf:", cookie ?: "");
        if (!in) {
                memset(buf, 0, API_SESSION_CSRF_LEN + 1);
                return;
        }
        sha256_hex(in, buf);
}

bool api_session_csrf_check(const char *cookie, const char *token) {
        if (!session_shape(cookie) || !token || strlen(token) != API_SESSION_CSRF_LEN)
                return false;
        char want[API_SESSION_CSRF_LEN + 1];
        api_session_csrf(cookie, want);
        return want[0] && CRYPTO_memcmp(want, token, API_SESSION_CSRF_LEN) == 0;
}

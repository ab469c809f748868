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

/* ---- listing, revoking, removing -------------------------------------------------------- */

/* The entries whose key starts with prefix, as {key-without-prefix: value}: one transaction. */
typedef struct CollectCtx {
        const char *prefix;
        json_t *found;
} CollectCtx;

static int collect_tx(StoreTx *tx, void *userdata) {
        CollectCtx *c = userdata;
        usec_t now = now_realtime();
        _cleanup_json_ json_t *keys = NULL;
        json_decref(c->found); /* a rerun starts over */
        if (!(c->found = json_object()))
                return -ENOMEM;
        int r = store_kv_list(tx, API_USERS_NAMESPACE, now, &keys);
        if (r < 0)
                return r;
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k) {
                const char *key = json_string_value(k), *rest = key ? startswith(key, c->prefix) : NULL;
                json_t *v = NULL;
                if (!rest)
                        continue;
                r = store_kv_get(tx, API_USERS_NAMESPACE, key, now, &v);
                if (r == -ENOENT) /* expired between the list and the read */
                        continue;
                if (r < 0)
                        return r;
                if (json_object_set_new(c->found, rest, v) < 0)
                        return -ENOMEM;
        }
        return 0;
}

static int collect(Store *s, const char *prefix, json_t **ret) {
        CollectCtx c = { .prefix = prefix };
        int r = store_transact(s, collect_tx, &c);
        if (r < 0) {
                json_decref(c.found);
                return r;
        }
        *ret = c.found;
        return 0;
}

static int by_user_then_created(const void *a, const void *b) {
        json_t *x = *(json_t *const *) a, *y = *(json_t *const *) b;
        const char *ux = json_string_value(json_object_get(x, "user")) ?: "";
        const char *uy = json_string_value(json_object_get(y, "user")) ?: "";
        int c = strcmp(ux, uy);
        if (c == 0)
                c = strcmp(json_string_value(json_object_get(x, "created")) ?: "",
                           json_string_value(json_object_get(y, "created")) ?: "");
        return c;
}

int api_token_list(Store *s, const char *user, json_t **ret) {
        _cleanup_json_ json_t *tokens = NULL;
        int r = collect(s, "token/", &tokens);
        if (r < 0)
                return r;
        size_t n = json_object_size(tokens), k = 0;
        _cleanup_free_ json_t **rows = calloc(n ? n : 1, sizeof *rows);
        if (!rows)
                return -ENOMEM;
        const char *hex;
        json_t *v;
        json_object_foreach(tokens, hex, v) {
                const char *u = json_string_value(json_object_get(v, "user"));
                if (!u || (user && !streq(u, user)))
                        continue;
                char id[API_TOKEN_ID_LEN + 1];
                snprintf(id, sizeof id, "%s", hex);
                rows[k++] = v;
                json_object_set_new(v, "id", json_string(id));
        }
        qsort(rows, k, sizeof *rows, by_user_then_created);
        _cleanup_json_ json_t *out = json_array();
        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < k; i++) {
                json_t *row = json_pack("{s:O, s:O, s:O}", "id", json_object_get(rows[i], "id"), "user",
                                        json_object_get(rows[i], "user"), "created", json_object_get(rows[i], "created"));
                if (!row || json_array_append_new(out, row) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

int api_user_list(Store *s, json_t **ret) {
        _cleanup_json_ json_t *users = NULL, *tokens = NULL, *out = json_array();
        int r;
        if (!out)
                return -ENOMEM;
        if ((r = collect(s, "user/", &users)) < 0 || (r = collect(s, "token/", &tokens)) < 0)
                return r;
        /* json_object_foreach follows insertion order, which is the store's sorted key order. */
        const char *name, *hex;
        json_t *v, *t;
        json_object_foreach(users, name, v) {
                json_int_t count = 0;
                json_object_foreach(tokens, hex, t)
                        count += streq_ptr(json_string_value(json_object_get(t, "user")), name);
                json_t *row = json_pack("{s:s, s:O, s:I}", "name", name, "created", json_object_get(v, "created"),
                                        "tokens", count);
                if (!row || json_array_append_new(out, row) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(out);
        return 0;
}

typedef struct RevokeCtx {
        const char *prefix; /* hex digits of a token's hash */
        bool whole;         /* prefix is a whole hash: no listing needed */
        char *user, *hex;   /* out */
} RevokeCtx;

static int revoke_tx(StoreTx *tx, void *userdata) {
        RevokeCtx *c = userdata;
        usec_t now = now_realtime();
        _cleanup_json_ json_t *keys = NULL;
        _cleanup_free_ char *match = NULL;
        int r;
        free(c->user);
        free(c->hex);
        c->user = c->hex = NULL;
        if (c->whole) {
                if (!(match = strjoin("token/", c->prefix)))
                        return -ENOMEM;
        } else {
                if ((r = store_kv_list(tx, API_USERS_NAMESPACE, now, &keys)) < 0)
                        return r;
                size_t i;
                json_t *k;
                json_array_foreach(keys, i, k) {
                        const char *hex = startswith(json_string_value(k) ?: "", "token/");
                        if (!hex || !startswith(hex, c->prefix))
                                continue;
                        if (match)
                                return -ENOTUNIQ;
                        if (!(match = strdup(json_string_value(k))))
                                return -ENOMEM;
                }
                if (!match)
                        return -ENOENT;
        }
        _cleanup_json_ json_t *v = NULL;
        if ((r = store_kv_get(tx, API_USERS_NAMESPACE, match, now, &v)) < 0)
                return r;
        if ((r = store_kv_delete(tx, API_USERS_NAMESPACE, match)) < 0)
                return r;
        c->user = strdup(json_string_value(json_object_get(v, "user")) ?: "");
        c->hex = strndup(match + strlen("token/"), API_TOKEN_ID_LEN);
        return c->user && c->hex ? 0 : -ENOMEM;
}

int api_token_revoke(Store *s, const char *id_or_token, char **ret_user, char **ret_id) {
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        RevokeCtx c = {};
        if (startswith(id_or_token, API_TOKEN_PREFIX)) {
                if (strlen(id_or_token) != API_TOKEN_LEN)
                        return -EINVAL;
                sha256_hex(id_or_token, hex);
                c.prefix = hex;
                c.whole = true;
        } else {
                size_t n = strlen(id_or_token);
                if (n < API_TOKEN_ID_MIN || n > SHA256_DIGEST_LENGTH * 2 ||
                    strspn(id_or_token, "0123456789abcdef") != n)
                        return -EINVAL;
                c.prefix = id_or_token;
                c.whole = n == SHA256_DIGEST_LENGTH * 2;
        }
        int r = store_transact(s, revoke_tx, &c);
        if (r >= 0 && ret_user)
                *ret_user = TAKE_PTR(c.user);
        if (r >= 0 && ret_id)
                *ret_id = TAKE_PTR(c.hex);
        free(c.user);
        free(c.hex);
        return r;
}

typedef struct RemoveCtx {
        const char *name;
        unsigned tokens, sessions;
} RemoveCtx;

static int remove_tx(StoreTx *tx, void *userdata) {
        RemoveCtx *c = userdata;
        usec_t now = now_realtime();
        _cleanup_free_ char *ukey = strjoin("user/", c->name);
        _cleanup_json_ json_t *u = NULL, *keys = NULL;
        int r;
        c->tokens = c->sessions = 0;
        if (!ukey)
                return -ENOMEM;
        if ((r = store_kv_get(tx, API_USERS_NAMESPACE, ukey, now, &u)) < 0 ||
            (r = store_kv_delete(tx, API_USERS_NAMESPACE, ukey)) < 0)
                return r;
        /* Sessions would end anyway (their user's hash is gone); tokens would wait for a user of the
         * same name to be made again. Both go now. */
        if ((r = store_kv_list(tx, API_USERS_NAMESPACE, now, &keys)) < 0)
                return r;
        size_t i;
        json_t *k;
        json_array_foreach(keys, i, k) {
                const char *key = json_string_value(k) ?: "";
                bool token = startswith(key, "token/"), session = startswith(key, "session/");
                if (!token && !session)
                        continue;
                _cleanup_json_ json_t *v = NULL;
                r = store_kv_get(tx, API_USERS_NAMESPACE, key, now, &v);
                if (r == -ENOENT)
                        continue;
                if (r < 0)
                        return r;
                if (!streq_ptr(json_string_value(json_object_get(v, "user")), c->name))
                        continue;
                if ((r = store_kv_delete(tx, API_USERS_NAMESPACE, key)) < 0)
                        return r;
                if (token)
                        c->tokens++;
                else
                        c->sessions++;
        }
        return 0;
}

int api_user_remove(Store *s, const char *name, unsigned *ret_tokens, unsigned *ret_sessions) {
        if (!api_user_name_valid(name))
                return -ENOENT;
        RemoveCtx c = { .name = name };
        int r = store_transact(s, remove_tx, &c);
        if (r < 0)
                return r;
        if (ret_tokens)
                *ret_tokens = c.tokens;
        if (ret_sessions)
                *ret_sessions = c.sessions;
        return 0;
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
        const char *token_hex; /* the hash of the API token that opens it, or NULL */
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
        if (c->token_hex) {
                _cleanup_free_ char *tkey = strjoin("token/", c->token_hex);
                _cleanup_json_ json_t *t = NULL;
                if (!tkey)
                        return -ENOMEM;
                if ((r = store_kv_get(tx, API_USERS_NAMESPACE, tkey, now, &t)) < 0)
                        return r;
                if (!streq_ptr(json_string_value(json_object_get(t, "user")), c->user))
                        return -ENOENT;
                if (json_object_set_new(v, "tok", json_string(c->token_hex)) < 0)
                        return -ENOMEM;
        }
        return store_kv_put(tx, API_USERS_NAMESPACE, c->key, v, now + c->ttl, now);
}

int api_session_create(Store *s, const char *user, const char *token, usec_t ttl, char **ret) {
        if (!api_user_name_valid(user))
                return -EINVAL;
        char token_hex[SHA256_DIGEST_LENGTH * 2 + 1];
        if (token)
                sha256_hex(token, token_hex);
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
        SessionCtx c = { .user = user, .key = key, .token_hex = token ? token_hex : NULL, .ttl = ttl };
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
        /* Opened with an API token: it lives only as long as the token does. */
        const char *tok = json_string_value(json_object_get(v, "tok"));
        if (tok) {
                _cleanup_free_ char *tkey = strjoin("token/", tok);
                _cleanup_json_ json_t *t = NULL;
                if (!tkey)
                        return -ENOMEM;
                if ((r = lookup(userdata, tkey, &t)) < 0)
                        return r;
                if (!streq_ptr(json_string_value(json_object_get(t, "user")), user))
                        return -ENOENT;
        }
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

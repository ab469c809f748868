/* web-auth.c: users and API tokens of the webserver, kept in the store's kv table. */
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
#include "web-auth.h"

bool web_auth_user_name_valid(const char *name) {
        size_t n = name ? strlen(name) : 0;
        if (n == 0 || n > 64)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._@-", name[i]))
                        return false;
        return true;
}

static int kv_get(Store *s, const char *key, json_t **ret) {
        StoreTx *tx;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        r = store_kv_get(tx, WEB_AUTH_NAMESPACE, key, now_realtime(), ret);
        store_rollback(tx);
        return r;
}

static int kv_put(Store *s, const char *key, json_t *value) {
        StoreTx *tx;
        int r = store_begin(s, &tx);
        if (r < 0)
                return r;
        if ((r = store_kv_put(tx, WEB_AUTH_NAMESPACE, key, value, 0, now_realtime())) < 0) {
                store_rollback(tx);
                return r;
        }
        return store_commit(tx);
}

int web_auth_user_add(Store *s, const char *name, const char *password) {
        if (!web_auth_user_name_valid(name) || isempty(password))
                return -EINVAL;
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        if (!crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof salt))
                return -errno ?: -EINVAL;
        _cleanup_free_ struct crypt_data *cd = calloc(1, sizeof *cd);
        if (!cd)
                return -ENOMEM;
        const char *hash = crypt_rn(password, salt, cd, sizeof *cd);
        if (!hash || hash[0] == '*')
                return -EINVAL;
        _cleanup_free_ char *key = strjoin("user/", name);
        char ts[TIMESTAMP_MAX];
        _cleanup_json_ json_t *v = json_pack("{s:s, s:s}", "hash", hash, "created", timestamp_format(ts, now_realtime()));
        explicit_bzero(cd, sizeof *cd);
        if (!key || !v)
                return -ENOMEM;
        return kv_put(s, key, v);
}

int web_auth_check_password(Store *s, const char *name, const char *password) {
        /* An unknown user costs a hash too, so that timing does not tell which names exist. */
        static const char dummy[] = "$y$j9T$abcdefghijklmnopqrstuv$";
        _cleanup_json_ json_t *v = NULL;
        const char *stored = NULL;
        if (web_auth_user_name_valid(name)) {
                _cleanup_free_ char *key = strjoin("user/", name);
                if (!key)
                        return -ENOMEM;
                int r = kv_get(s, key, &v);
                if (r < 0 && r != -ENOENT)
                        return r;
                stored = json_string_value(json_object_get(v, "hash"));
        }
        _cleanup_free_ struct crypt_data *cd = calloc(1, sizeof *cd);
        if (!cd)
                return -ENOMEM;
        const char *h = crypt_rn(password ? password : "", stored ? stored : dummy, cd, sizeof *cd);
        bool ok = stored && h && strlen(h) == strlen(stored) && CRYPTO_memcmp(h, stored, strlen(stored)) == 0;
        explicit_bzero(cd, sizeof *cd);
        return ok ? 0 : -EACCES;
}

static void sha256_hex(const char *s, char out[SHA256_DIGEST_LENGTH * 2 + 1]) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *) s, strlen(s), md);
        for (size_t i = 0; i < sizeof md; i++)
                sprintf(out + 2 * i, "%02x", md[i]);
}

int web_auth_token_create(Store *s, const char *user, char **ret) {
        if (!web_auth_user_name_valid(user))
                return -EINVAL;
        _cleanup_free_ char *ukey = strjoin("user/", user);
        _cleanup_json_ json_t *u = NULL;
        if (!ukey)
                return -ENOMEM;
        int r = kv_get(s, ukey, &u);
        if (r < 0)
                return r;
        unsigned char rnd[32];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
                return -EIO;
        char token[5 + 64 + 1] = "tern_";
        for (size_t i = 0; i < sizeof rnd; i++)
                sprintf(token + 5 + 2 * i, "%02x", rnd[i]);
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        sha256_hex(token, hex);
        _cleanup_free_ char *key = strjoin("token/", hex);
        char ts[TIMESTAMP_MAX];
        _cleanup_json_ json_t *v = json_pack("{s:s, s:s}", "user", user, "created", timestamp_format(ts, now_realtime()));
        if (!key || !v)
                return -ENOMEM;
        if ((r = kv_put(s, key, v)) < 0)
                return r;
        if (!(*ret = strdup(token)))
                return -ENOMEM;
        explicit_bzero(token, sizeof token);
        return 0;
}

int web_auth_check_token(Store *s, const char *token, char **ret_user) {
        if (!token || !startswith(token, "tern_") || strlen(token) != 69)
                return -EACCES;
        char hex[SHA256_DIGEST_LENGTH * 2 + 1];
        sha256_hex(token, hex);
        _cleanup_free_ char *key = strjoin("token/", hex);
        _cleanup_json_ json_t *v = NULL;
        if (!key)
                return -ENOMEM;
        int r = kv_get(s, key, &v);
        if (r == -ENOENT)
                return -EACCES;
        if (r < 0)
                return r;
        const char *user = json_string_value(json_object_get(v, "user"));
        if (!user)
                return -EACCES;
        if (ret_user && !(*ret_user = strdup(user)))
                return -ENOMEM;
        return 0;
}

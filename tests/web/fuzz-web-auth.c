/* fuzz-web-auth: libFuzzer target for the authentication step: an Authorization header in, a user
 * or a refusal out (invariants trap). */
#include <crypt.h>
#include <errno.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cleanup-jansson.h"
#include "strutil.h"
#include "web-auth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* sha256crypt with few rounds: the users' yescrypt would make each run take 50 ms. */
#define PREFIX "$5$"
#define COST 1000UL
#define TOKEN "tern_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static WebAuth *auth;
static json_t *kv;
static usec_t clock_now = USEC_PER_SEC;

static int lookup(void *userdata, const char *key, json_t **ret) {
        json_t *v = json_object_get(userdata, key);
        if (!v)
                return -ENOENT;
        *ret = json_incref(v);
        return 0;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The one canonical base64 of s (n bytes). */
static char *encode(const char *s, size_t n) {
        char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
        if (!out)
                return NULL;
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned char) s[i] << 16 | (i + 1 < n ? (unsigned char) s[i + 1] << 8 : 0) |
                             (i + 2 < n ? (unsigned char) s[i + 2] : 0);
                *o++ = b64[v >> 18 & 63];
                *o++ = b64[v >> 12 & 63];
                *o++ = i + 1 < n ? b64[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? b64[v & 63] : '=';
        }
        *o = 0;
        return out;
}

static void setup(void) {
        WebAuthOptions opt = { .hash_prefix = PREFIX, .hash_cost = COST, .user_failures = 5, .client_failures = 20,
                               .window_sec = 60, .table_size = 64 };
        if (web_auth_new(&opt, &auth) < 0)
                __builtin_trap();
        kv = json_object();
        /* alice's hash, of the dummy's method, so that a real check runs. */
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        struct crypt_data *cd = calloc(1, sizeof *cd);
        const char *h = cd && crypt_gensalt_rn(PREFIX, COST, NULL, 0, salt, sizeof salt) ? crypt_rn("pw", salt, cd, sizeof *cd) : NULL;
        if (!h || h[0] == '*')
                __builtin_trap();
        json_object_set_new(kv, "user/alice", json_pack("{s:s}", "hash", h));
        free(cd);
        unsigned char md[32];
        char key[6 + 65] = "token/";
        SHA256((const unsigned char *) TOKEN, strlen(TOKEN), md);
        for (size_t i = 0; i < sizeof md; i++)
                sprintf(key + 6 + 2 * i, "%02x", md[i]);
        json_object_set_new(kv, key, json_pack("{s:s}", "user", "alice"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (!auth)
                setup();
        if (size < 1 || size > 2048)
                return 0;
        /* The first byte picks one of four clients, the rest is the header's value. */
        static const char *const clients[] = { "192.0.2.1", "192.0.2.2", "2001:db8::/64", NULL };
        const char *client = clients[data[0] & 3];
        _cleanup_free_ char *header = strndup((const char *) data + 1, size - 1);
        if (!header)
                return 0;
        clock_now += USEC_PER_SEC / 4; /* windows end now and then */

        /* The decoder alone: what it accepts is the one canonical spelling of what it returns. */
        const char *cred = header + strcspn(header, " ");
        cred += strspn(cred, " ");
        _cleanup_free_ char *u = NULL, *p = NULL;
        if (web_auth_basic_decode(cred, &u, &p) == 0) {
                _cleanup_free_ char *joined = strjoin(u, ":", p);
                _cleanup_free_ char *again = joined ? encode(joined, strlen(joined)) : NULL;
                if (again && !streq(again, cred))
                        __builtin_trap();
        } else if (u || p)
                __builtin_trap();

        char *user = NULL;
        unsigned retry = 0;
        int r = web_auth_authenticate(auth, header, client, clock_now, lookup, kv, &user, &retry);
        size_t sl = strcspn(header, " ");
        switch (r) {
        case WEB_AUTH_OK:
                /* Only alice's password, canonically encoded, or her token. */
                if (!user || !streq(user, "alice"))
                        __builtin_trap();
                if (!((sl == 5 && strncasecmp(header, "basic", 5) == 0 && streq(cred, "YWxpY2U6cHc=")) ||
                      (sl == 6 && strncasecmp(header, "bearer", 6) == 0 && streq(cred, TOKEN))))
                        __builtin_trap();
                break;
        case WEB_AUTH_REFUSED:
                if (user)
                        __builtin_trap();
                break;
        case WEB_AUTH_THROTTLED:
                if (user || retry < 1 || retry > 60 || !(sl == 5 && strncasecmp(header, "basic", 5) == 0))
                        __builtin_trap();
                break;
        default:
                __builtin_trap();
        }
        free(user);
        return 0;
}

/* test-web-auth.c: the webserver's authentication step without a server: strict Basic decoding,
 * passwords and tokens through a lookup, the dummy hash of unknown users, the failure backoff and
 * its answer to lockouts, the bound on hashes at once. */
#include <arpa/inet.h>
#include <crypt.h>
#include <errno.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup-jansson.h"
#include "strutil.h"
#include "tap.h"
#include "timeutil.h"
#include "web-auth.h"

/* A cheap method for most checks; the timing checks use the users' real one. */
#define CHEAP "$5$"
#define CHEAP_COST 1000UL
#define TOKEN "tern_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

typedef struct Users {
        json_t *kv;           /* key -> stored value */
        int fail;             /* a lookup failure to return, 0 for none */
        unsigned calls;
        usec_t returned;      /* when the last lookup returned */
} Users;

static int users_lookup(void *userdata, const char *key, json_t **ret) {
        Users *u = userdata;
        u->calls++;
        u->returned = now_monotonic();
        if (u->fail)
                return u->fail;
        json_t *v = json_object_get(u->kv, key);
        if (!v)
                return -ENOENT;
        *ret = json_incref(v);
        return 0;
}

static void user_add(Users *u, const char *name, const char *password, const char *prefix, unsigned long cost) {
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        struct crypt_data cd = {};
        const char *h = crypt_gensalt_rn(prefix, cost, NULL, 0, salt, sizeof salt) ? crypt_rn(password, salt, &cd, sizeof cd) : NULL;
        _cleanup_free_ char *key = strjoin("user/", name);
        json_object_set_new(u->kv, key, json_pack("{s:s}", "hash", h ? h : "*"));
}

static char *basic(const char *cred) {
        static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t n = strlen(cred);
        char *out = malloc(6 + (n + 2) / 3 * 4 + 1), *o = out;
        o = stpcpy(o, "Basic ");
        for (size_t i = 0; i < n; i += 3) {
                unsigned v = (unsigned char) cred[i] << 16 | (i + 1 < n ? (unsigned char) cred[i + 1] << 8 : 0) |
                             (i + 2 < n ? (unsigned char) cred[i + 2] : 0);
                *o++ = tbl[v >> 18 & 63];
                *o++ = tbl[v >> 12 & 63];
                *o++ = i + 1 < n ? tbl[v >> 6 & 63] : '=';
                *o++ = i + 2 < n ? tbl[v & 63] : '=';
        }
        *o = 0;
        return out;
}

static int auth(WebAuth *a, Users *u, const char *header, const char *client, usec_t now, char **user,
                unsigned *retry) {
        free(*user);
        *user = NULL;
        return web_auth_authenticate(a, header, client, now, users_lookup, u, user, retry);
}

static void decode_ok(const char *b64, const char *user, const char *password) {
        _cleanup_free_ char *u = NULL, *p = NULL;
        int r = web_auth_basic_decode(b64, &u, &p);
        ok(r == 0 && streq_ptr(u, user) && streq_ptr(p, password), "'%s' decodes to '%s' and '%s'", b64, user, password);
}

static void decode_refused(const char *what, const char *b64) {
        _cleanup_free_ char *u = NULL, *p = NULL;
        ok(web_auth_basic_decode(b64, &u, &p) == -EINVAL && !u && !p, "Basic decoding refuses %s", what);
}

/* Checks run at once from threads, released together; the lookup is read-only. */
typedef struct Racer {
        WebAuth *a;
        const char *header, *hash;
        char client[32];
        pthread_barrier_t *start;
        int r;
        unsigned retry;
} Racer;

static int racer_lookup(void *userdata, const char *key, json_t **ret) {
        (void) key;
        return (*ret = json_pack("{s:s}", "hash", (const char *) userdata)) ? 0 : -ENOMEM;
}

static void *racer_run(void *p) {
        Racer *x = p;
        char *user = NULL;
        pthread_barrier_wait(x->start);
        x->r = web_auth_authenticate(x->a, x->header, x->client, now_monotonic(), racer_lookup, (void *) x->hash, &user,
                                     &x->retry);
        free(user);
        return NULL;
}

/* n checks of header at once from n addresses; how many ended in each outcome (WEB_AUTH_*). */
static void race(WebAuth *a, const char *header, const char *hash, size_t n, unsigned counts[static 4], unsigned *ret_retry) {
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, (unsigned) n);
        Racer x[16] = {};
        pthread_t t[16];
        n = MIN(n, ELEMENTSOF(x));
        for (size_t i = 0; i < n; i++) {
                x[i] = (Racer) { .a = a, .header = header, .hash = hash, .start = &start };
                snprintf(x[i].client, sizeof x[i].client, "10.9.0.%zu", i);
                pthread_create(&t[i], NULL, racer_run, &x[i]);
        }
        memset(counts, 0, 4 * sizeof *counts);
        for (size_t i = 0; i < n; i++) {
                pthread_join(t[i], NULL);
                if (x[i].r >= 0 && x[i].r < 4)
                        counts[x[i].r]++;
                if (x[i].r == WEB_AUTH_BUSY)
                        *ret_retry = x[i].retry;
        }
        pthread_barrier_destroy(&start);
}

static usec_t median3(usec_t a, usec_t b, usec_t c) {
        return MAX(MIN(a, b), MIN(MAX(a, b), c));
}

int main(void) {
        /* ---- decoding ---- */
        decode_ok("YWxpY2U6cHc=", "alice", "pw");
        decode_ok("YWxpY2U6cDp3", "alice", "p:w");
        decode_ok("YTo=", "a", "");
        decode_ok("OmI=", "", "b");
        char eq32[33];
        memset(eq32, '=', 32);
        eq32[32] = 0;
        decode_refused("32 '=' (wrote before its buffer)", eq32);
        decode_refused("'===='", "====");
        decode_refused("three '='", "YQ===");
        decode_refused("'=' alone at the end of a quartet of three", "Y===");
        decode_refused("'=' in the middle", "YW=6cHc=");
        decode_refused("'=' at the start", "=Wxp");
        decode_refused("padding then more", "YTo=YTo=");
        decode_refused("a length that is not a multiple of 4", "YWxpY2U6cHc");
        decode_refused("a trailing newline", "YWxpY2U6cHc=\n");
        decode_refused("a space inside", "YWxp Y2U6cHc=");
        decode_refused("URL-safe characters", "YWxp-2U6cHc_");
        decode_refused("unused bits set (two '=')", "YR==");
        decode_refused("unused bits set (one '=')", "YTp=");
        decode_refused("no ':'", "YWxpY2U=");
        decode_refused("a NUL byte", "YQA6Yg==");
        decode_refused("nothing", "");
        char *longer = malloc(1029);
        memset(longer, 'Q', 1028);
        longer[1028] = 0;
        decode_refused("more than 1024 characters", longer);
        free(longer);

        /* ---- passwords and tokens through a lookup ---- */
        Users u = { .kv = json_object() };
        user_add(&u, "alice", "pw", CHEAP, CHEAP_COST);
        user_add(&u, "bob", "secret", CHEAP, CHEAP_COST);
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *) TOKEN, strlen(TOKEN), md);
        char key[6 + 65] = "token/";
        for (size_t i = 0; i < sizeof md; i++)
                sprintf(key + 6 + 2 * i, "%02x", md[i]);
        json_object_set_new(u.kv, key, json_pack("{s:s}", "user", "alice"));

        WebAuth *a = NULL;
        WebAuthOptions opt = { .hash_prefix = CHEAP, .hash_cost = CHEAP_COST, .user_failures = 3, .client_failures = 5,
                               .window_sec = 60, .locked_checks = 4, .locked_window_sec = 30, .table_size = 16 };
        ok(web_auth_new(&opt, &a) == 0 && startswith(web_auth_dummy_hash(a), CHEAP), "a WebAuth with a cheap dummy hash");
        usec_t t0 = 1000 * USEC_PER_SEC;
        char *user = NULL;
        unsigned retry = 0;
        _cleanup_free_ char *good = basic("alice:pw"), *wrong = basic("alice:nope"), *bob = basic("bob:secret"),
                            *nobody = basic("nobody:pw"), *bad_name = basic("a/b:pw");
        ok(auth(a, &u, good, "10.0.0.1", t0, &user, &retry) == WEB_AUTH_OK && streq_ptr(user, "alice"), "the right password");
        _cleanup_free_ char *lower = strjoin("basic   ", good + 6);
        ok(auth(a, &u, lower, "10.0.0.1", t0, &user, &retry) == WEB_AUTH_OK, "the scheme in any case, several spaces");
        ok(auth(a, &u, "Bearer " TOKEN, "10.0.0.1", t0, &user, &retry) == WEB_AUTH_OK && streq_ptr(user, "alice"),
           "a known token");
        ok(auth(a, &u, "bearer " TOKEN, "10.0.0.1", t0, &user, &retry) == WEB_AUTH_OK, "bearer in lower case");
        ok(auth(a, &u, "Bearer tern_0000000000000000000000000000000000000000000000000000000000000000", "10.0.0.1", t0,
                &user, &retry) == WEB_AUTH_REFUSED && !user, "an unknown token");
        ok(auth(a, &u, "Bearer " TOKEN "0", "10.0.0.1", t0, &user, &retry) == WEB_AUTH_REFUSED, "a token too long");
        ok(auth(a, &u, NULL, "10.0.0.1", t0, &user, &retry) == WEB_AUTH_REFUSED, "no header");
        ok(auth(a, &u, "Digest x", "10.0.0.1", t0, &user, &retry) == WEB_AUTH_REFUSED, "another scheme");
        ok(auth(a, &u, "Basic", "10.0.0.1", t0, &user, &retry) == WEB_AUTH_REFUSED, "Basic without credentials");
        _cleanup_free_ char *eq = strjoin("Basic ", eq32);
        ok(auth(a, &u, eq, "10.0.0.1", t0, &user, &retry) == WEB_AUTH_REFUSED, "Basic with 32 '='");
        u.calls = 0;
        ok(auth(a, &u, bad_name, "10.0.0.9", t0, &user, &retry) == WEB_AUTH_REFUSED && u.calls == 0,
           "an invalid user name is refused without a lookup");
        u.fail = -EIO;
        ok(auth(a, &u, bob, "10.0.0.9", t0, &user, &retry) == -EIO && !user, "a lookup failure is an error, not a refusal");
        u.fail = 0;

        /* ---- backoff ---- */
        for (int i = 0; i < 3; i++)
                ok(auth(a, &u, wrong, "10.0.0.2", t0 + i, &user, &retry) == WEB_AUTH_REFUSED, "wrong password %d", i + 1);
        ok(auth(a, &u, good, "10.0.0.2", t0 + 5, &user, &retry) == WEB_AUTH_THROTTLED && retry == 60 && !user,
           "after 3 failures from an address the user is throttled from there, even with the right password (retry %u s)",
           retry);
        /* F4: failing for a user from one address must not lock her out everywhere. */
        ok(auth(a, &u, good, "10.0.0.3", t0 + 6, &user, &retry) == WEB_AUTH_OK && streq_ptr(user, "alice"),
           "the right password from another address without failures still gets in");
        ok(auth(a, &u, good, "10.0.0.3", t0 + 7, &user, &retry) == WEB_AUTH_OK, "again: a success costs the address nothing");
        ok(auth(a, &u, wrong, "10.0.0.4", t0 + 8, &user, &retry) == WEB_AUTH_REFUSED,
           "a new address has one guess at a user over her limit");
        ok(auth(a, &u, wrong, "10.0.0.4", t0 + 9, &user, &retry) == WEB_AUTH_THROTTLED && retry == 60,
           "its second guess is throttled (retry %u s)", retry);
        ok(auth(a, &u, good, "10.0.0.4", t0 + 10, &user, &retry) == WEB_AUTH_THROTTLED && !user,
           "so is the right password from it");
        ok(auth(a, &u, bob, "10.0.0.4", t0 + 11, &user, &retry) == WEB_AUTH_OK, "another user from that address is not");
        ok(auth(a, &u, bob, "10.0.0.2", t0 + 12, &user, &retry) == WEB_AUTH_OK, "not even from the first one");
        ok(auth(a, &u, "Bearer " TOKEN, "10.0.0.2", t0 + 13, &user, &retry) == WEB_AUTH_OK, "nor are the user's tokens");
        ok(auth(a, &u, good, NULL, t0 + 14, &user, &retry) == WEB_AUTH_THROTTLED,
           "without a client address a user over her limit is throttled");
        /* The budget of checks of names over their limit: 4 per 30 s here, 1 taken by 10.0.0.4. */
        for (int i = 5; i < 8; i++) {
                char addr[32];
                snprintf(addr, sizeof addr, "10.0.0.%d", i);
                ok(auth(a, &u, wrong, addr, t0 + 10 + i, &user, &retry) == WEB_AUTH_REFUSED, "new address %s guesses once", addr);
        }
        ok(auth(a, &u, good, "10.0.0.8", t0 + 20, &user, &retry) == WEB_AUTH_THROTTLED && retry == 30,
           "past 4 such checks in 30 s, new addresses wait too (retry %u s)", retry);
        ok(auth(a, &u, good, "10.0.0.8", t0 + 31 * USEC_PER_SEC, &user, &retry) == WEB_AUTH_OK,
           "and get in with the right password once the 30 s are over");
        ok(auth(a, &u, good, "10.0.0.2", t0 + 59 * USEC_PER_SEC, &user, &retry) == WEB_AUTH_THROTTLED && retry == 1,
           "the failing address is still throttled for her 1 s before its window ends");
        ok(auth(a, &u, good, "10.0.0.2", t0 + 60 * USEC_PER_SEC, &user, &retry) == WEB_AUTH_OK, "and no more once it ended");
        usec_t tn = t0 + 100 * USEC_PER_SEC;
        for (int i = 0; i < 3; i++)
                auth(a, &u, nobody, "10.0.0.4", tn + i, &user, &retry);
        ok(auth(a, &u, nobody, "10.0.0.4", tn + 3, &user, &retry) == WEB_AUTH_THROTTLED,
           "an unknown user is throttled like a known one (no hint that it does not exist)");
        ok(auth(a, &u, nobody, "10.0.0.5", tn + 4, &user, &retry) == WEB_AUTH_REFUSED &&
           auth(a, &u, nobody, "10.0.0.5", tn + 5, &user, &retry) == WEB_AUTH_THROTTLED,
           "and gets one guess from a new address, like a known one");

        usec_t t1 = t0 + 1000 * USEC_PER_SEC;
        char name[32];
        for (int i = 0; i < 5; i++) {
                snprintf(name, sizeof name, "u%d:x", i);
                _cleanup_free_ char *h = basic(name);
                auth(a, &u, h, "10.0.0.6", t1 + i, &user, &retry);
        }
        ok(auth(a, &u, bob, "10.0.0.6", t1 + 10, &user, &retry) == WEB_AUTH_THROTTLED,
           "after 5 failures the address is throttled, whatever the user");
        ok(auth(a, &u, bob, "10.0.0.7", t1 + 11, &user, &retry) == WEB_AUTH_OK, "another address is not");
        ok(auth(a, &u, "Bearer " TOKEN, "10.0.0.6", t1 + 12, &user, &retry) == WEB_AUTH_OK, "tokens are not throttled");
        ok(auth(a, &u, bob, NULL, t1 + 13, &user, &retry) == WEB_AUTH_OK, "without an address only the user counts");
        for (int i = 0; i < 10; i++)
                ok(auth(a, &u, good, "10.0.0.8", t1 + 20 + i, &user, &retry) == WEB_AUTH_OK, "success %d is not counted", i + 1);

        /* A full table: those with the fewest failures make room, the throttled entries stay. */
        usec_t t2 = t1 + 1000 * USEC_PER_SEC;
        for (int i = 0; i < 3; i++)
                auth(a, &u, wrong, "10.1.0.1", t2 + i, &user, &retry);
        for (int i = 0; i < 40; i++) {
                snprintf(name, sizeof name, "flood%d:x", i);
                _cleanup_free_ char *h = basic(name);
                char addr[32];
                snprintf(addr, sizeof addr, "10.2.0.%d", i);
                auth(a, &u, h, addr, t2 + 10 + i, &user, &retry);
        }
        ok(auth(a, &u, good, NULL, t2 + 100, &user, &retry) == WEB_AUTH_THROTTLED,
           "a user over her limit stays so when the table overflows");
        ok(auth(a, &u, good, "10.1.0.1", t2 + 101, &user, &retry) == WEB_AUTH_THROTTLED,
           "and so does the address that failed for her");
        web_auth_free(a);

        /* ---- hashes at once (F5): bounded, and a check that waits too long is "busy" ---- */
        char salt[CRYPT_GENSALT_OUTPUT_SIZE];
        struct crypt_data slow = {};
        const char *slow_hash = crypt_gensalt_rn(CHEAP, 100000, NULL, 0, salt, sizeof salt) ?
                                crypt_rn("pw", salt, &slow, sizeof slow) : NULL;
        _cleanup_free_ char *slow_hash_copy = strdup(slow_hash ? slow_hash : "*");
        WebAuthOptions sopt = { .hash_prefix = CHEAP, .hash_cost = 100000, .user_failures = 100, .client_failures = 100,
                                .max_hashes = 2, .hash_wait_ms = 60000 };
        unsigned counts[4], busy_retry = 0;
        ok(web_auth_new(&sopt, &a) == 0, "a WebAuth with 2 hash slots");
        race(a, wrong, slow_hash_copy, 8, counts, &busy_retry);
        ok(counts[WEB_AUTH_REFUSED] == 8, "8 wrong passwords at once are all refused (%u)", counts[WEB_AUTH_REFUSED]);
        ok(web_auth_hashes_peak(a) <= 2, "with at most 2 hashes running at once (%u)", web_auth_hashes_peak(a));
        web_auth_free(a);
        sopt = (WebAuthOptions) { .hash_prefix = CHEAP, .hash_cost = 1000000, .user_failures = 4, .client_failures = 100,
                                  .max_hashes = 1, .hash_wait_ms = 1 };
        crypt_gensalt_rn(CHEAP, 1000000, NULL, 0, salt, sizeof salt);
        _cleanup_free_ char *slower = strdup(crypt_rn("pw", salt, &slow, sizeof slow) ?: "*");
        ok(web_auth_new(&sopt, &a) == 0, "a WebAuth with 1 hash slot and 1 ms to wait for it");
        race(a, wrong, slower, 4, counts, &busy_retry);
        ok(counts[WEB_AUTH_BUSY] >= 1 && counts[WEB_AUTH_BUSY] + counts[WEB_AUTH_REFUSED] == 4 &&
           busy_retry == WEB_AUTH_BUSY_RETRY_SEC,
           "4 checks at once: those that find no slot in time are busy, retry in %u s (%u busy, %u refused)", busy_retry,
           counts[WEB_AUTH_BUSY], counts[WEB_AUTH_REFUSED]);
        Users su = { .kv = json_pack("{s:{s:s}}", "user/alice", "hash", slower) };
        /* Without an address, so that only the user's count decides. */
        ok(auth(a, &su, good, NULL, now_monotonic(), &user, &retry) == WEB_AUTH_OK,
           "then the right password gets in: the slot is free again, and the busy answers were not counted "
           "as failures (4 would have reached the user's limit)");
        json_decref(su.kv);
        web_auth_free(a);

        /* ---- the dummy hash: real, and as slow as a user's ---- */
        ok(web_auth_new(NULL, &a) == 0, "a WebAuth with the users' hash method");
        const char *dummy = web_auth_dummy_hash(a);
        struct crypt_data cd = {};
        const char *again = crypt_rn("x", dummy, &cd, sizeof cd);
        ok(startswith(dummy, API_PASSWORD_HASH_PREFIX) && again && again[0] != '*' && strlen(again) == strlen(dummy),
           "the dummy hash is a valid %s hash (%s)", API_PASSWORD_HASH_PREFIX, dummy);
        user_add(&u, "carol", "pw", API_PASSWORD_HASH_PREFIX, API_PASSWORD_HASH_COST);
        _cleanup_free_ char *carol = basic("carol:wrong"), *ghost = basic("ghost:wrong");
        usec_t known[3], unknown[3], after_lookup = 0;
        for (int i = 0; i < 3; i++) {
                usec_t s = now_monotonic();
                auth(a, &u, carol, NULL, now_monotonic(), &user, &retry);
                usec_t e = now_monotonic();
                known[i] = e - s;
                after_lookup = MAX(after_lookup, e - u.returned);
                s = now_monotonic();
                auth(a, &u, ghost, NULL, now_monotonic(), &user, &retry);
                unknown[i] = now_monotonic() - s;
        }
        usec_t k = median3(known[0], known[1], known[2]), n = median3(unknown[0], unknown[1], unknown[2]);
        ok(n * 10 >= k * 3, "an unknown user costs about what a known one does (%.1f ms against %.1f ms)", n / 1000.0,
           k / 1000.0);
        ok(after_lookup * 2 >= k, "the hash is checked after the lookup returned (%.1f ms of %.1f ms after it)",
           after_lookup / 1000.0, k / 1000.0);
        web_auth_free(a);
        free(user);
        json_decref(u.kv);

        char buf[WEB_AUTH_CLIENT_MAX];
        struct sockaddr_in6 s6 = { .sin6_family = AF_INET6 };
        inet_pton(AF_INET6, "2001:db8:1:2:3:4:5:6", &s6.sin6_addr);
        is_str(web_auth_client_address((struct sockaddr *) &s6, buf), "2001:db8:1:2::/64", "an IPv6 client is its /64");
        inet_pton(AF_INET6, "::ffff:192.0.2.7", &s6.sin6_addr);
        is_str(web_auth_client_address((struct sockaddr *) &s6, buf), "192.0.2.7", "an IPv4-mapped one is IPv4");
        struct sockaddr_in s4 = { .sin_family = AF_INET };
        inet_pton(AF_INET, "192.0.2.8", &s4.sin_addr);
        is_str(web_auth_client_address((struct sockaddr *) &s4, buf), "192.0.2.8", "IPv4 as is");
        return tap_done();
}

/* web-auth.c: request authentication (HTTP Basic, bearer tokens) and its failure backoff. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "strutil.h"
#include "web-auth.h"

/* ---- HTTP Basic ------------------------------------------------------------------------------ */

static int b64_value(char c) {
        if (c >= 'A' && c <= 'Z')
                return c - 'A';
        if (c >= 'a' && c <= 'z')
                return c - 'a' + 26;
        if (c >= '0' && c <= '9')
                return c - '0' + 52;
        return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* The header is bounded by the server's header memory; this bounds what a password check hashes. */
#define WEB_AUTH_BASIC_MAX 1024

int web_auth_basic_decode(const char *b64, char **ret_user, char **ret_password) {
        size_t n = strlen(b64);
        if (n == 0 || n > WEB_AUTH_BASIC_MAX || n % 4 != 0)
                return -EINVAL;
        /* Padding: "x===" cannot occur (a byte needs two characters), and nothing after it. */
        size_t pad = n - strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/");
        if (pad > 2 || strspn(b64 + n - pad, "=") != pad)
                return -EINVAL;
        size_t len = n / 4 * 3 - pad;
        _cleanup_free_ char *dec = malloc(len + 1);
        if (!dec)
                return -ENOMEM;
        size_t o = 0;
        uint32_t acc = 0;
        unsigned bits = 0;
        for (size_t i = 0; i < n - pad; i++) {
                acc = (acc << 6) | (uint32_t) b64_value(b64[i]);
                bits += 6;
                if (bits >= 8) {
                        bits -= 8;
                        dec[o++] = (char) (acc >> bits);
                        acc &= (1u << bits) - 1;
                }
        }
        /* What is left are the unused bits of the last character: one spelling per value. */
        int r = 0;
        if (o != len || acc != 0 || memchr(dec, 0, len))
                r = -EINVAL;
        dec[o < len ? o : len] = 0;
        char *colon = r == 0 ? strchr(dec, ':') : NULL;
        if (!colon)
                r = -EINVAL;
        if (r == 0) {
                *colon = 0;
                char *user = strdup(dec), *password = strdup(colon + 1);
                if (!user || !password) {
                        free(user);
                        if (password)
                                explicit_bzero(password, strlen(password));
                        free(password);
                        r = -ENOMEM;
                } else {
                        *ret_user = user;
                        *ret_password = password;
                }
        }
        explicit_bzero(dec, len + 1);
        return r;
}

/* ---- authentication and its backoff ---------------------------------------------------------- */

typedef struct ThrottleEntry {
        unsigned char id[16]; /* SHA-256 of the kind and the name, truncated */
        unsigned failures;    /* 0: free */
        usec_t start;         /* of the entry's window */
} ThrottleEntry;

struct WebAuth {
        WebAuthOptions opt;
        char *dummy;
        pthread_mutex_t lock;
        ThrottleEntry *table;
        /* Checks of names over their limit in the current locked window; under lock. */
        unsigned locked_used;
        usec_t locked_start;
        /* Hash slots: hashes running, waited for on hash_cond (CLOCK_MONOTONIC); under hash_lock. */
        pthread_mutex_t hash_lock;
        pthread_cond_t hash_cond;
        unsigned hashes, hashes_peak;
};

/* The CPUs this process may run on (its affinity mask: a container's or a unit's CPU set). */
static unsigned cpus_usable(void) {
        cpu_set_t set;
        if (sched_getaffinity(0, sizeof set, &set) == 0)
                return (unsigned) CPU_COUNT(&set);
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        return n > 0 ? (unsigned) n : 1;
}

int web_auth_new(const WebAuthOptions *opt, WebAuth **ret) {
        _cleanup_(web_auth_freep) WebAuth *a = calloc(1, sizeof *a);
        if (!a)
                return -ENOMEM;
        pthread_mutex_init(&a->lock, NULL);
        pthread_mutex_init(&a->hash_lock, NULL);
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&a->hash_cond, &ca);
        pthread_condattr_destroy(&ca);
        if (opt)
                a->opt = *opt;
        if (!a->opt.hash_prefix) {
                a->opt.hash_prefix = API_PASSWORD_HASH_PREFIX;
                a->opt.hash_cost = API_PASSWORD_HASH_COST;
        }
        if (!a->opt.user_failures)
                a->opt.user_failures = WEB_AUTH_USER_FAILURES;
        if (!a->opt.client_failures)
                a->opt.client_failures = WEB_AUTH_CLIENT_FAILURES;
        if (!a->opt.window_sec)
                a->opt.window_sec = WEB_AUTH_WINDOW_SEC;
        if (!a->opt.locked_checks)
                a->opt.locked_checks = WEB_AUTH_LOCKED_CHECKS;
        if (!a->opt.locked_window_sec)
                a->opt.locked_window_sec = WEB_AUTH_LOCKED_WINDOW_SEC;
        if (!a->opt.table_size)
                a->opt.table_size = WEB_AUTH_TABLE_SIZE;
        if (!a->opt.max_hashes)
                a->opt.max_hashes = MIN(MAX(cpus_usable(), (unsigned) WEB_AUTH_HASHES_MIN), (unsigned) WEB_AUTH_HASHES_MAX);
        if (!a->opt.hash_wait_ms)
                a->opt.hash_wait_ms = WEB_AUTH_HASH_WAIT_MS;
        if (!(a->table = calloc(a->opt.table_size, sizeof *a->table)))
                return -ENOMEM;
        /* A real hash, so that checking a password against it costs what checking a user's does
         * (a malformed one fails at once: the difference is what gives names away). */
        unsigned char rnd[16];
        char password[sizeof rnd * 2 + 1];
        if (getrandom(rnd, sizeof rnd, 0) != (ssize_t) sizeof rnd)
                return -EIO;
        for (size_t i = 0; i < sizeof rnd; i++)
                sprintf(password + 2 * i, "%02x", rnd[i]);
        int r = api_password_hash(a->opt.hash_prefix, a->opt.hash_cost, password, &a->dummy);
        explicit_bzero(password, sizeof password);
        if (r < 0)
                return r;
        a->opt.hash_prefix = NULL; /* the caller's string; not needed any more */
        *ret = TAKE_PTR(a);
        return 0;
}

WebAuth *web_auth_free(WebAuth *a) {
        if (!a)
                return NULL;
        free(a->dummy);
        free(a->table);
        pthread_mutex_destroy(&a->lock);
        pthread_mutex_destroy(&a->hash_lock);
        pthread_cond_destroy(&a->hash_cond);
        free(a);
        return NULL;
}

const char *web_auth_dummy_hash(const WebAuth *a) {
        return a->dummy;
}

static void throttle_id(const char *kind, const char *name, unsigned char id[static 16]) {
        /* Names are bounded by the Basic decoder, addresses by WEB_AUTH_CLIENT_MAX. */
        char buf[16 + WEB_AUTH_BASIC_MAX];
        int n = snprintf(buf, sizeof buf, "%s%c%s", kind, 0, name);
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *) buf, (size_t) MIN(MAX(n, 0), (int) sizeof buf - 1), md);
        memcpy(id, md, 16);
}

static bool throttle_live(const WebAuth *a, const ThrottleEntry *e, usec_t now) {
        return e->failures > 0 && now < e->start + a->opt.window_sec * USEC_PER_SEC;
}

/* Whether e makes room for a new entry better than victim: an expired one first, else the one with
 * the fewest failures, the oldest among equals; those at their limit go last. */
static bool throttle_better_victim(const WebAuth *a, const ThrottleEntry *e, const ThrottleEntry *victim, usec_t now) {
        if (!victim)
                return true;
        bool live = throttle_live(a, e, now), victim_live = throttle_live(a, victim, now);
        if (live != victim_live)
                return !live;
        return live && (e->failures < victim->failures || (e->failures == victim->failures && e->start < victim->start));
}

/* The entry of id, or NULL; with make, a new one in its place when there is none. Under a->lock. */
static ThrottleEntry *throttle_get(WebAuth *a, const unsigned char id[static 16], usec_t now, bool make) {
        ThrottleEntry *victim = NULL;
        for (size_t i = 0; i < a->opt.table_size; i++) {
                ThrottleEntry *e = &a->table[i];
                if (throttle_live(a, e, now) && memcmp(e->id, id, 16) == 0)
                        return e;
                if (make && throttle_better_victim(a, e, victim, now))
                        victim = e;
        }
        if (!victim)
                return NULL;
        *victim = (ThrottleEntry) { .failures = 0, .start = now };
        memcpy(victim->id, id, 16);
        return victim;
}

/* Seconds until a window that started at start ends, at least 1. */
static unsigned window_left(usec_t start, unsigned window_sec, usec_t now) {
        usec_t end = start + window_sec * USEC_PER_SEC;
        return (unsigned) MAX((end > now ? end - now : 0) + USEC_PER_SEC - 1, USEC_PER_SEC) / USEC_PER_SEC;
}

/* Seconds until the window of an entry at its limit ends (at least 1), or 0 when below it. */
static unsigned throttle_wait(WebAuth *a, const unsigned char id[static 16], unsigned limit, usec_t now) {
        ThrottleEntry *e = throttle_get(a, id, now, false);
        if (!e || e->failures < limit)
                return 0;
        return window_left(e->start, a->opt.window_sec, now);
}

/* Seconds until an address with failures in its window has none (at least 1), or 0 when it has none. */
static unsigned throttle_fresh_wait(WebAuth *a, const unsigned char id[static 16], usec_t now) {
        ThrottleEntry *e = throttle_get(a, id, now, false);
        return e ? window_left(e->start, a->opt.window_sec, now) : 0;
}

/* Count a failure ahead of the check (so that checks running at once cannot pass the limit
 * together), or take it back when the check succeeded. Under a->lock. */
static void throttle_count(WebAuth *a, const unsigned char id[static 16], usec_t now, bool undo) {
        ThrottleEntry *e = throttle_get(a, id, now, !undo);
        if (!e)
                return;
        if (!undo)
                e->failures++;
        else if (e->failures > 0)
                e->failures--;
}

static int authenticate_token(const char *token, ApiUsersLookup lookup, void *userdata, char **ret_user) {
        int r = api_token_user(token, lookup, userdata, ret_user);
        if (r == -EINVAL || r == -ENOENT)
                return WEB_AUTH_REFUSED;
        return r < 0 ? r : WEB_AUTH_OK;
}

/* Whether a check of a name over its limit may run: from an address without failures of its own,
 * within the locked checks' budget. 0 with the budget taken, or the seconds to wait. Under lock. */
static unsigned locked_admit(WebAuth *a, const unsigned char *cid, unsigned user_wait, usec_t now) {
        if (!cid)
                return user_wait; /* no address to tell the user from her attacker */
        unsigned fresh = throttle_fresh_wait(a, cid, now);
        if (fresh > 0)
                return MIN(user_wait, fresh);
        if (now >= a->locked_start + a->opt.locked_window_sec * USEC_PER_SEC || now < a->locked_start) {
                a->locked_start = now;
                a->locked_used = 0;
        }
        if (a->locked_used >= a->opt.locked_checks)
                return MIN(user_wait, window_left(a->locked_start, a->opt.locked_window_sec, now));
        a->locked_used++;
        return 0;
}

/* Wait (real time, at most opt.hash_wait_ms) for one of the hash slots: true when taken. */
static bool hash_slot_take(WebAuth *a) {
        struct timespec deadline;
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += a->opt.hash_wait_ms / 1000;
        deadline.tv_nsec += (long) (a->opt.hash_wait_ms % 1000) * 1000000L;
        if (deadline.tv_nsec >= 1000000000L) {
                deadline.tv_sec++;
                deadline.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&a->hash_lock);
        int r = 0;
        while (a->hashes >= a->opt.max_hashes && r != ETIMEDOUT)
                r = pthread_cond_timedwait(&a->hash_cond, &a->hash_lock, &deadline);
        bool taken = a->hashes < a->opt.max_hashes;
        if (taken) {
                a->hashes++;
                a->hashes_peak = MAX(a->hashes_peak, a->hashes);
        }
        pthread_mutex_unlock(&a->hash_lock);
        return taken;
}

static void hash_slot_give(WebAuth *a) {
        pthread_mutex_lock(&a->hash_lock);
        a->hashes--;
        pthread_cond_signal(&a->hash_cond);
        pthread_mutex_unlock(&a->hash_lock);
}

unsigned web_auth_hashes_peak(WebAuth *a) {
        pthread_mutex_lock(&a->hash_lock);
        unsigned n = a->hashes_peak;
        pthread_mutex_unlock(&a->hash_lock);
        return n;
}

/* Check password against stored (NULL: the dummy hash) in one of the hash slots: WEB_AUTH_OK when
 * it matches, WEB_AUTH_REFUSED when not, WEB_AUTH_BUSY when no slot came free in time; -ENOMEM. */
static int hash_check(WebAuth *a, const char *password, const char *stored) {
        if (!hash_slot_take(a))
                return WEB_AUTH_BUSY;
        /* In the slot: waiting checks hold no hashing memory. */
        int r = api_password_check(password, stored ?: a->dummy);
        hash_slot_give(a);
        if (r < 0)
                return r;
        return r > 0 && stored ? WEB_AUTH_OK : WEB_AUTH_REFUSED;
}

static int authenticate_password(WebAuth *a, const char *name, const char *password, const char *client, usec_t now,
                                 ApiUsersLookup lookup, void *userdata, unsigned *ret_retry_sec) {
        unsigned char uid[16], cid[16];
        throttle_id("user", name, uid);
        if (client)
                throttle_id("client", client, cid);

        /* An address over its limit waits; a name over its limit is checked only from a fresh
         * address (see WEB_AUTH_LOCKED_CHECKS). Counted ahead, so that checks running at once
         * cannot pass a limit together. */
        pthread_mutex_lock(&a->lock);
        unsigned wait = client ? throttle_wait(a, cid, a->opt.client_failures, now) : 0;
        bool locked = false;
        if (wait == 0) {
                unsigned user_wait = throttle_wait(a, uid, a->opt.user_failures, now);
                if (user_wait > 0) {
                        wait = locked_admit(a, client ? cid : NULL, user_wait, now);
                        locked = wait == 0;
                }
        }
        usec_t locked_start = a->locked_start;
        if (wait == 0) {
                throttle_count(a, uid, now, false);
                if (client)
                        throttle_count(a, cid, now, false);
        }
        pthread_mutex_unlock(&a->lock);
        if (wait > 0) {
                *ret_retry_sec = wait;
                return WEB_AUTH_THROTTLED;
        }

        /* The hash is fetched first (the lookup gives back any connection it took), then checked:
         * against the dummy for an unknown or invalid name, which costs the same. */
        _cleanup_free_ char *hash = NULL;
        int r = api_user_hash(name, lookup, userdata, &hash);
        if (r >= 0 || r == -ENOENT)
                r = hash_check(a, password, hash);
        if (r != WEB_AUTH_REFUSED) {
                /* A match, an error or no check at all: not a failure of the password. */
                pthread_mutex_lock(&a->lock);
                throttle_count(a, uid, now, true);
                if (client)
                        throttle_count(a, cid, now, true);
                if (locked && a->locked_start == locked_start && a->locked_used > 0)
                        a->locked_used--;
                pthread_mutex_unlock(&a->lock);
        }
        if (r == WEB_AUTH_BUSY)
                *ret_retry_sec = WEB_AUTH_BUSY_RETRY_SEC;
        return r;
}

int web_auth_authenticate(WebAuth *a, const char *authorization, const char *client, usec_t now,
                          ApiUsersLookup lookup, void *userdata, char **ret_user, unsigned *ret_retry_sec) {
        if (!authorization)
                return WEB_AUTH_REFUSED;
        /* auth-scheme is case-insensitive (RFC 9110 11.1), then one or more spaces. */
        size_t sl = strcspn(authorization, " ");
        const char *cred = authorization + sl + strspn(authorization + sl, " ");
        if (sl == 6 && strncasecmp(authorization, "Bearer", 6) == 0)
                return authenticate_token(cred, lookup, userdata, ret_user);
        if (sl != 5 || strncasecmp(authorization, "Basic", 5) != 0)
                return WEB_AUTH_REFUSED;

        _cleanup_free_ char *name = NULL, *password = NULL;
        int r = web_auth_basic_decode(cred, &name, &password);
        if (r == -EINVAL)
                return WEB_AUTH_REFUSED;
        if (r < 0)
                return r;
        r = web_auth_password(a, name, password, client, now, lookup, userdata, ret_user, ret_retry_sec);
        explicit_bzero(password, strlen(password));
        return r;
}

int web_auth_password(WebAuth *a, const char *name, const char *password, const char *client, usec_t now,
                      ApiUsersLookup lookup, void *userdata, char **ret_user, unsigned *ret_retry_sec) {
        /* What a Basic header can carry, no more: bounds the backoff's names and the hashing. */
        if (strlen(name) + strlen(password) + 1 > WEB_AUTH_BASIC_MAX || memchr(name, ':', strlen(name)))
                return WEB_AUTH_REFUSED;
        unsigned retry = 0;
        int r = authenticate_password(a, name, password, isempty(client) ? NULL : client, now, lookup, userdata, &retry);
        if ((r == WEB_AUTH_THROTTLED || r == WEB_AUTH_BUSY) && ret_retry_sec)
                *ret_retry_sec = retry;
        if (r == WEB_AUTH_OK && !(*ret_user = strdup(name)))
                return -ENOMEM;
        return r;
}

const char *web_auth_client_address(const struct sockaddr *sa, char buf[static WEB_AUTH_CLIENT_MAX]) {
        buf[0] = 0;
        if (!sa)
                return buf;
        if (sa->sa_family == AF_INET) {
                inet_ntop(AF_INET, &((const struct sockaddr_in *) sa)->sin_addr, buf, WEB_AUTH_CLIENT_MAX);
                return buf;
        }
        if (sa->sa_family != AF_INET6)
                return buf;
        struct in6_addr a6 = ((const struct sockaddr_in6 *) sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(&a6)) {
                inet_ntop(AF_INET, &a6.s6_addr[12], buf, WEB_AUTH_CLIENT_MAX);
                return buf;
        }
        memset(&a6.s6_addr[8], 0, 8);
        if (inet_ntop(AF_INET6, &a6, buf, WEB_AUTH_CLIENT_MAX - 4))
                strcat(buf, "/64");
        return buf;
}

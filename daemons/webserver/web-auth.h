/* web-auth.h: the authentication of an Authorization header: HTTP Basic, bearer tokens, the failure backoff. */
#pragma once

#include <sys/socket.h>

#include "timeutil.h"
#include "users.h"

/* Users and tokens, and how passwords are hashed, are lib/api's users.h. */

/* Failure backoff, per window: password checks that failed for one client address (IPv6: its
 * /64) before further password checks from that address answer "throttled" until the window
 * ends, and that failed for one user name (from anywhere) before that name is checked only as
 * below. Unknown names count as known ones do.
 *
 * A name over its limit is not locked out, or anyone could keep any user out by failing 10 times
 * for her from anywhere: it still gets checks from client addresses without failures of their own
 * in the window (the user's own address, usually). Each such check counts for its address first,
 * so a fresh address has one guess at a name over its limit, then waits out its own window; and
 * all of them together are capped by WEB_AUTH_LOCKED_CHECKS per WEB_AUTH_LOCKED_WINDOW_SEC (all
 * names together), so that an attacker with many addresses gains at most 20 guesses a minute over
 * what the per-name limit allows. Past that cap, names over their limit are throttled for every
 * address until the minute ends: keeping a user out then takes 20 new addresses a minute, some 100
 * in all, as each waits out its 5 minutes before its next guess.
 * There is no ceiling on all failed checks together: it would let one attacker keep every user
 * out; what failed checks cost is bounded by WEB_AUTH_HASHES_* instead. */
#define WEB_AUTH_USER_FAILURES 10
#define WEB_AUTH_CLIENT_FAILURES 30
#define WEB_AUTH_WINDOW_SEC 300
#define WEB_AUTH_LOCKED_CHECKS 20
#define WEB_AUTH_LOCKED_WINDOW_SEC 60
/* Password hashes that run at once: yescrypt takes some MiB and a CPU for tens of milliseconds
 * each, so unbounded, a few hundred failed checks at once took a GiB and every CPU. The number of
 * CPUs the process may use, at least WEB_AUTH_HASHES_MIN and at most WEB_AUTH_HASHES_MAX. A check
 * waits at most WEB_AUTH_HASH_WAIT_MS for its turn (holding no store connection), then is answered
 * "busy" without being counted as a failure. */
#define WEB_AUTH_HASHES_MIN 2
#define WEB_AUTH_HASHES_MAX 16
#define WEB_AUTH_HASH_WAIT_MS 5000
#define WEB_AUTH_BUSY_RETRY_SEC 2
/* Names and addresses tracked at once (about 32 bytes each); when full, the entry with the fewest
 * failures (the oldest among equals) makes room, so the ones at their limit stay. */
#define WEB_AUTH_TABLE_SIZE 4096

/* Strict RFC 4648 base64 of "user:password" (RFC 7617): length a multiple of 4, at most two '='
 * and only at the end, no other character outside the alphabet, unused bits zero, no NUL byte in
 * the result, a ':' in it. 0 and both parts (the caller frees; the password should be wiped with
 * explicit_bzero); -EINVAL when malformed; -ENOMEM. */
int web_auth_basic_decode(const char *b64, char **ret_user, char **ret_password);

/* ---- authenticating requests ---- */

typedef struct WebAuthOptions {
        /* Crypt method and cost of the hash checked for unknown users: NULL/0 for those of
         * new users (API_PASSWORD_HASH_*); a test may pick a cheaper method its users also have. */
        const char *hash_prefix;
        unsigned long hash_cost;
        /* 0: the WEB_AUTH_* defaults */
        unsigned user_failures, client_failures, window_sec;
        unsigned locked_checks, locked_window_sec;
        size_t table_size;
        unsigned max_hashes, hash_wait_ms;
} WebAuthOptions;

typedef struct WebAuth WebAuth;

/* Makes the dummy hash (a real one of a random password, same method and cost as users'), so that
 * an unknown user costs the same time as a known one. -EINVAL when the method does not hash. */
int web_auth_new(const WebAuthOptions *opt, WebAuth **ret);
WebAuth *web_auth_free(WebAuth *a);
DEFINE_FREE_CLEANUP(WebAuth, web_auth_free)
/* The hash checked for unknown users. */
const char *web_auth_dummy_hash(const WebAuth *a);

enum {
        WEB_AUTH_OK = 0,        /* *ret_user set */
        WEB_AUTH_REFUSED = 1,   /* no, malformed or wrong credentials */
        WEB_AUTH_THROTTLED = 2, /* too many failures; *ret_retry_sec says for how long */
        WEB_AUTH_BUSY = 3,      /* too many password checks at once; retry in *ret_retry_sec */
};

/* Authenticate an Authorization header value ("Basic ..." or "Bearer tern_...", the scheme in any
 * case; NULL when absent) from client (an address from web_auth_client_address(), or NULL) at
 * time now (monotonic; the backoff's clock, while the wait for a hash slot is in real time).
 * Password checks take the same time for known and unknown user names and count towards the
 * backoff; tokens are 256 random bits and are not throttled. Users and tokens are looked up
 * through lookup (api_users_lookup on a store), at most once, and any hash is checked after it
 * returned: a lookup that takes a pooled connection gives it back before the slow part. Returns a
 * WEB_AUTH_* outcome or a negative errno (the lookup's, -ENOMEM). Safe to call from several
 * threads at once. */
int web_auth_authenticate(WebAuth *a, const char *authorization, const char *client, usec_t now,
                          ApiUsersLookup lookup, void *userdata, char **ret_user, unsigned *ret_retry_sec);

/* The same check for a name and a password given otherwise (the web UI's login form): the same
 * backoff and cost, the same outcomes. */
int web_auth_password(WebAuth *a, const char *name, const char *password, const char *client, usec_t now,
                      ApiUsersLookup lookup, void *userdata, char **ret_user, unsigned *ret_retry_sec);

/* The most password hashes that ran at once so far. */
unsigned web_auth_hashes_peak(WebAuth *a);

/* The backoff's name of a client address: IPv4 as is (also when IPv4-mapped), IPv6 its /64 (one
 * host usually has a whole /64). buf needs WEB_AUTH_CLIENT_MAX; "" for other families. */
#define WEB_AUTH_CLIENT_MAX 64
const char *web_auth_client_address(const struct sockaddr *sa, char buf[static WEB_AUTH_CLIENT_MAX]);

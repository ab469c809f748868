/* test-users.c: lib/api's users, API tokens and browser sessions on a real store (SQLite, or PostgreSQL): names, password hashes and their check, tokens and sessions made and looked up. */
#include "cleanup-jansson.h"
#include "store-test.h"
#include "users.h"

static StoreTestEnv env;

/* A cheap method, so that the checks below do not each take yescrypt's time. */
#define CHEAP "$5$"
#define CHEAP_COST 1000UL

static void test_names(void) {
        ok(api_user_name_valid("alice"), "'alice' is a valid user name");
        ok(api_user_name_valid("a.b_c-d@example.org"), "so is an address with . _ - @");
        ok(!api_user_name_valid(""), "'' is not");
        ok(!api_user_name_valid(NULL), "nor is none");
        ok(!api_user_name_valid("al ice"), "nor a name with a blank");
        ok(!api_user_name_valid("bob/../x"), "nor one with a slash");
        char long_name[66];
        memset(long_name, 'a', 65);
        long_name[65] = 0;
        ok(!api_user_name_valid(long_name), "nor one of 65 characters");
        long_name[64] = 0;
        ok(api_user_name_valid(long_name), "while 64 are fine");
}

static void test_passwords(void) {
        _cleanup_free_ char *h = NULL, *h2 = NULL;
        is_int(api_password_hash(CHEAP, CHEAP_COST, "pw", &h), 0, "a password hashes");
        ok(h && startswith(h, CHEAP), "with the method asked for (%s)", strna(h));
        is_int(api_password_hash(CHEAP, CHEAP_COST, "pw", &h2), 0, "the same password again");
        ok(h && h2 && !streq(h, h2), "gets another salt");
        is_int(api_password_check("pw", h), 1, "the password matches its hash");
        is_int(api_password_check("pw", h2), 1, "and the other one");
        is_int(api_password_check("pW", h), 0, "another password does not");
        is_int(api_password_check("", h), 0, "nor an empty one");
        is_int(api_password_check("pw", "*"), 0, "nothing matches a malformed hash");
        _cleanup_free_ char *bad = NULL;
        is_int(api_password_hash("$nonsense$", 0, "pw", &bad), -EINVAL, "a method that does not hash: -EINVAL");
}

static void test_users(Store *s) {
        _cleanup_free_ char *hash = NULL, *user = NULL, *token = NULL, *token2 = NULL;

        is_int(api_user_add(s, "bad name", "pw"), -EINVAL, "adding a user with a bad name: -EINVAL");
        is_int(api_user_add(s, "alice", ""), -EINVAL, "adding one with an empty password: -EINVAL");
        is_int(api_user_hash("alice", api_users_lookup, s, &hash), -ENOENT, "no user alice yet");

        is_int(api_user_add(s, "alice", "correct horse"), 0, "user alice added");
        is_int(api_user_hash("alice", api_users_lookup, s, &hash), 0, "her hash is found");
        ok(hash && startswith(hash, API_PASSWORD_HASH_PREFIX), "a %s hash", API_PASSWORD_HASH_PREFIX);
        ok(hash && !strstr(hash, "correct horse"), "which does not hold the password");
        is_int(api_password_check("correct horse", hash), 1, "her password matches it");
        is_int(api_password_check("wrong horse", hash), 0, "another does not");

        is_int(api_user_add(s, "alice", "battery staple"), 0, "her password replaced");
        free(hash);
        hash = NULL;
        is_int(api_user_hash("alice", api_users_lookup, s, &hash), 0, "her hash is found");
        is_int(api_password_check("battery staple", hash), 1, "the new password matches");
        is_int(api_password_check("correct horse", hash), 0, "the old one no more");
        free(hash);
        hash = NULL;
        is_int(api_user_hash("al ice", api_users_lookup, s, &hash), -ENOENT, "an invalid name is nobody");

        is_int(api_token_create(s, "bob", &token), -ENOENT, "a token for an unknown user: -ENOENT");
        is_int(api_token_create(s, "b b", &token), -EINVAL, "a token for an invalid name: -EINVAL");
        ok(!token, "and no token");
        is_int(api_token_create(s, "alice", &token), 0, "a token for alice");
        ok(token && startswith(token, API_TOKEN_PREFIX) && strlen(token) == API_TOKEN_LEN, "of the shape %s + 64 hex",
           API_TOKEN_PREFIX);
        is_int(api_token_create(s, "alice", &token2), 0, "a second token for alice");
        ok(token && token2 && !streq(token, token2), "is another one");

        is_int(api_token_user(token, api_users_lookup, s, &user), 0, "the token is found");
        is_str(user, "alice", "and belongs to alice");
        free(user);
        user = NULL;
        is_int(api_token_user(token2, api_users_lookup, s, &user), 0, "so does the second");
        free(user);
        user = NULL;
        char forged[API_TOKEN_LEN + 1];
        snprintf(forged, sizeof forged, "%s", token);
        forged[API_TOKEN_LEN - 1] = forged[API_TOKEN_LEN - 1] == '0' ? '1' : '0';
        is_int(api_token_user(forged, api_users_lookup, s, &user), -ENOENT, "a token one digit off is unknown");
        is_int(api_token_user("tern_123", api_users_lookup, s, &user), -EINVAL, "a short one is malformed");
        is_int(api_token_user("Bearer x", api_users_lookup, s, &user), -EINVAL, "and so is anything else");
        ok(!user, "none of them gives a user");

        /* Only the token's hash is stored: the kv table does not hold the token itself. */
        _cleanup_free_ char *key = strjoin("token/", token);
        _cleanup_json_ json_t *v = NULL;
        is_int(api_users_lookup(s, key, &v), -ENOENT, "the token itself is not a key of the store");
}

static void test_sessions(Store *s) {
        _cleanup_free_ char *cookie = NULL, *other = NULL, *user = NULL, *expired = NULL;
        is_int(api_session_create(s, "nobody", NULL, USEC_PER_HOUR, &cookie), -ENOENT, "no session for an unknown user");
        is_int(api_session_create(s, "a b", NULL, USEC_PER_HOUR, &cookie), -EINVAL, "nor for an invalid name");
        is_int(api_user_add(s, "carol", "first"), 0, "user carol added");
        is_int(api_session_create(s, "carol", NULL, USEC_PER_HOUR, &cookie), 0, "a session for carol");
        ok(cookie && strlen(cookie) == API_SESSION_LEN && strspn(cookie, "0123456789abcdef") == API_SESSION_LEN,
           "its cookie is %d hex digits", API_SESSION_LEN);
        is_int(api_session_create(s, "carol", NULL, USEC_PER_HOUR, &other), 0, "a second session for carol");
        ok(cookie && other && !streq(cookie, other), "with another cookie");
        is_int(api_session_user(cookie, api_users_lookup, s, &user), 0, "the cookie is a live session");
        is_str(user, "carol", "of carol");
        free(user);
        user = NULL;

        _cleanup_free_ char *key = strjoin("session/", cookie);
        _cleanup_json_ json_t *v = NULL;
        is_int(api_users_lookup(s, key, &v), -ENOENT, "the cookie itself is not a key of the store");

        char csrf[API_SESSION_CSRF_LEN + 1], csrf2[API_SESSION_CSRF_LEN + 1];
        api_session_csrf(cookie, csrf);
        api_session_csrf(other, csrf2);
        ok(strlen(csrf) == API_SESSION_CSRF_LEN && !streq(csrf, csrf2) && !strstr(csrf, cookie),
           "each session has a CSRF token of its own, which is not its cookie");
        ok(api_session_csrf_check(cookie, csrf), "its token checks");
        ok(!api_session_csrf_check(cookie, csrf2), "another session's does not");
        ok(!api_session_csrf_check(cookie, NULL) && !api_session_csrf_check(cookie, ""), "no token does not");
        ok(!api_session_csrf_check("x", csrf), "nor does a token for a cookie of a wrong shape");

        is_int(api_session_delete(s, other), 0, "logging out of the second session");
        is_int(api_session_user(other, api_users_lookup, s, &user), -ENOENT, "ends it");
        is_int(api_session_user(cookie, api_users_lookup, s, &user), 0, "but not the first");
        free(user);
        user = NULL;
        is_int(api_session_delete(s, other), 0, "logging out twice is fine");

        is_int(api_session_create(s, "carol", NULL, 1, &expired), 0, "a session that lasts 1 µs");
        is_int(api_session_user(expired, api_users_lookup, s, &user), -ENOENT, "has expired");
        is_int(api_session_user("tern_x", api_users_lookup, s, &user), -EINVAL, "a malformed cookie is not looked up");

        is_int(api_user_add(s, "carol", "second"), 0, "carol's password changed");
        is_int(api_session_user(cookie, api_users_lookup, s, &user), -ENOENT, "which ends her sessions");
        ok(!user, "none of them gave a user");
}

/* Listing, revoking and removing, as 'tern user list|remove' and 'tern token list|revoke' do. */
static void test_revoke(Store *s) {
        _cleanup_free_ char *t1 = NULL, *t2 = NULL, *tb = NULL, *cookie = NULL, *pw_cookie = NULL, *user = NULL,
                            *who = NULL, *id = NULL;
        _cleanup_json_ json_t *list = NULL, *users = NULL;
        is_int(api_user_add(s, "dave", "pw"), 0, "user dave added");
        is_int(api_user_add(s, "erin", "pw"), 0, "user erin added");
        is_int(api_token_create(s, "dave", &t1), 0, "a token for dave");
        is_int(api_token_create(s, "dave", &t2), 0, "a second token for dave");
        is_int(api_token_create(s, "erin", &tb), 0, "a token for erin");

        is_int(api_token_list(s, "dave", &list), 0, "dave's tokens listed");
        is_int(json_array_size(list), 2, "two of them");
        const char *id0 = json_string_value(json_object_get(json_array_get(list, 0), "id"));
        ok(id0 && strlen(id0) == API_TOKEN_ID_LEN && !strstr(t1, id0) && !strstr(t2, id0),
           "each has a %d-digit id that is not part of the token", API_TOKEN_ID_LEN);
        is_int(api_user_list(s, &users), 0, "users listed");
        json_t *row;
        size_t i;
        json_int_t dave_tokens = -1;
        json_array_foreach(users, i, row)
                if (streq_ptr(json_string_value(json_object_get(row, "name")), "dave"))
                        dave_tokens = json_integer_value(json_object_get(row, "tokens"));
        is_int(dave_tokens, 2, "the user list counts dave's two tokens");

        /* A session opened with a token ends when the token is revoked; a password session does not. */
        is_int(api_session_create(s, "dave", t1, USEC_PER_HOUR, &cookie), 0, "a session opened with dave's token");
        is_int(api_session_create(s, "erin", t1, USEC_PER_HOUR, &pw_cookie), -ENOENT,
               "dave's token does not open a session for erin");
        is_int(api_session_create(s, "dave", NULL, USEC_PER_HOUR, &pw_cookie), 0, "a password session for dave");
        is_int(api_session_user(cookie, api_users_lookup, s, &user), 0, "the token session is live");
        free(user);
        user = NULL;

        is_int(api_token_revoke(s, "abc", &who, &id), -EINVAL, "an id shorter than 6 digits is refused");
        is_int(api_token_revoke(s, "zzzzzzzz", &who, &id), -EINVAL, "and one that is not hex");
        is_int(api_token_revoke(s, "ffffffffffff", &who, &id), -ENOENT, "an id that names no token: -ENOENT");
        is_int(api_token_revoke(s, t1, &who, &id), 0, "dave's first token revoked, named by itself");
        is_str(who, "dave", "it was dave's");
        is_int(api_token_user(t1, api_users_lookup, s, &user), -ENOENT, "the token no longer authenticates");
        is_int(api_session_user(cookie, api_users_lookup, s, &user), -ENOENT, "and its session has ended");
        is_int(api_session_user(pw_cookie, api_users_lookup, s, &user), 0, "while the password session lives");
        free(user);
        user = NULL;
        is_int(api_token_user(t2, api_users_lookup, s, &user), 0, "and dave's other token still works");
        free(user);
        user = NULL;

        json_decref(list);
        list = NULL;
        is_int(api_token_list(s, "dave", &list), 0, "dave's tokens listed again");
        _cleanup_free_ char *id2 = strdup(json_string_value(json_object_get(json_array_get(list, 0), "id")) ?: "");
        is_int(json_array_size(list), 1, "one left");
        free(who);
        free(id);
        who = id = NULL;
        is_int(api_token_revoke(s, id2, &who, &id), 0, "revoked by its listed id");
        is_str(id, id2, "which it names");
        is_int(api_token_user(t2, api_users_lookup, s, &user), -ENOENT, "that token is gone too");

        free(who);
        who = NULL;
        unsigned tokens = 0, sessions = 0;
        is_int(api_user_remove(s, "nobody", &tokens, &sessions), -ENOENT, "removing an unknown user: -ENOENT");
        free(t1);
        t1 = NULL;
        is_int(api_token_create(s, "dave", &t1), 0, "one more token for dave");
        is_int(api_user_remove(s, "dave", &tokens, &sessions), 0, "dave removed");
        ok(tokens == 1 && sessions >= 1, "with his token and his sessions (%u, %u)", tokens, sessions);
        is_int(api_token_user(t1, api_users_lookup, s, &user), -ENOENT, "his token is gone");
        is_int(api_user_add(s, "dave", "pw"), 0, "a new user named dave");
        is_int(api_token_user(t1, api_users_lookup, s, &user), -ENOENT, "does not inherit the old dave's token");
        is_int(api_token_user(tb, api_users_lookup, s, &user), 0, "erin's token was left alone");
        is_str(user, "erin", "and is hers");
}

int main(int argc, char *argv[]) {
        test_names();
        test_passwords();
        store_test_setup(argc > 1 ? argv[1] : "sqlite", &env);
        _cleanup_store_ Store *s = NULL;
        if (store_open(env.url, &s) < 0 || store_migrate(s) < 0) {
                printf("Bail out! cannot open %s: %s\n", env.url, s ? store_error(s) : "");
                store_test_teardown(&env);
                return EXIT_FAILURE;
        }
        test_users(s);
        test_sessions(s);
        test_revoke(s);
        store_free(TAKE_PTR(s));
        store_test_teardown(&env);
        return tap_done();
}

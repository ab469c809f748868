/* test-users.c: lib/api's users and API tokens on a real store (SQLite, or PostgreSQL): names, password hashes and their check, tokens made and looked up. */
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
        store_free(TAKE_PTR(s));
        store_test_teardown(&env);
        return tap_done();
}

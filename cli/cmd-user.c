/* cmd-user.c: "tern user add|list|remove" and "tern token create|list|revoke": the webserver's users and API tokens. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-store.h"
#include "cleanup-jansson.h"
#include "cli.h"
#include "strutil.h"
#include "users.h"

typedef struct UserArgs {
        const char *db;
        OutputFormat output;
} UserArgs;

/* Options shared by the verbs; between min_args and max_args operands. Returns -1 to go on, else the
 * exit status (0 after --help). A NAME operand (the first, when name_first) must be a valid user name. */
static int parse(const char *cmd, const char *usage, int argc, char *argv[], int min_args, int max_args,
                 bool name_first, UserArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "db", required_argument, NULL, 'd' },
                { "output", required_argument, NULL, 'o' },
                {},
        };
        int c;
        while ((c = cli_getopt(cmd, argc, argv, "ho:", options)) >= 0) {
                if (c == 'h') {
                        printf("%s", usage);
                        return 0;
                }
                if (c == 'd')
                        a->db = optarg;
                if (c == 'o' && cli_parse_output(cmd, optarg, &a->output) < 0)
                        return EXIT_USAGE;
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        int n = argc - optind;
        if (n < min_args)
                return cli_usage_error(cmd, "%s is required", name_first ? "NAME" : "an argument");
        if (n > max_args)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + max_args]);
        if (name_first && n > 0 && !api_user_name_valid(argv[optind]))
                return cli_usage_error(cmd, "'%s' is not a valid user name: 1 to 64 of A-Z a-z 0-9 . _ @ -",
                                       argv[optind]);
        return -1;
}

static int parse_db(const char *cmd, const char *usage, int argc, char *argv[], const char **db) {
        UserArgs a = {};
        int r = parse(cmd, usage, argc, argv, 1, 1, true, &a);
        *db = a.db;
        return r;
}

static void print_json(json_t *v) {
        char *text = json_dumps(v, JSON_INDENT(2));
        printf("%s\n", strempty(text));
        free(text);
}

static const char usage_user_add[] =
        "Usage: tern user add NAME [--db URL]\n\n"
        "Create a webserver user, or set a new password for an existing one. The password is read\n"
        "from standard input (one line) and stored as a yescrypt hash.\n";

static int verb_user_add(int argc, char *argv[]) {
        const char *cmd = "tern user add", *db = NULL;
        int r = parse_db(cmd, usage_user_add, argc, argv, &db);
        if (r >= 0)
                return r;
        const char *name = argv[optind];
        if (isatty(STDIN_FILENO))
                fprintf(stderr, "Password for %s: ", name);
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        ssize_t n = getline(&line, &cap, stdin);
        if (n <= 0) {
                fprintf(stderr, "%s: no password on standard input\n", cmd);
                return 1;
        }
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                line[--n] = 0;
        if (n == 0) {
                fprintf(stderr, "%s: the password is empty\n", cmd);
                return 1;
        }
        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open(cmd, db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        r = api_user_add(s, name, line);
        explicit_bzero(line, cap);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, r == -EINVAL ? strerror(-r) : store_error(s));
                return 1;
        }
        fprintf(stderr, "User %s saved.\n", name);
        return 0;
}

static const char usage_token_create[] =
        "Usage: tern token create NAME [--db URL]\n\n"
        "Create an API token for user NAME and print it once: only its hash is kept. Send it as\n"
        "'Authorization: Bearer TOKEN'.\n";

static int verb_token_create(int argc, char *argv[]) {
        const char *cmd = "tern token create", *db = NULL;
        int r = parse_db(cmd, usage_token_create, argc, argv, &db);
        if (r >= 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open(cmd, db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        _cleanup_free_ char *token = NULL;
        r = api_token_create(s, argv[optind], &token);
        if (r == -ENOENT) {
                fprintf(stderr, "%s: no user '%s' (see 'tern user add')\n", cmd, argv[optind]);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        printf("%s\n", token);
        return 0;
}

static const char usage_user_list[] =
        "Usage: tern user list [--output table|json] [--db URL]\n\n"
        "The webserver's users, with when each was made and how many API tokens each has.\n";

static int verb_user_list(int argc, char *argv[]) {
        const char *cmd = "tern user list";
        UserArgs a = {};
        int r = parse(cmd, usage_user_list, argc, argv, 0, 0, false, &a);
        if (r >= 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        _cleanup_json_ json_t *users = NULL;
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        if ((r = api_user_list(s, &users)) < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        if (a.output == OUTPUT_JSON) {
                print_json(users);
                return 0;
        }
        printf("%-32s %-24s %s\n", "NAME", "CREATED", "TOKENS");
        size_t i;
        json_t *u;
        json_array_foreach(users, i, u)
                printf("%-32s %-24s %lld\n", json_string_value(json_object_get(u, "name")),
                       strna(json_string_value(json_object_get(u, "created"))),
                       (long long) json_integer_value(json_object_get(u, "tokens")));
        return 0;
}

static const char usage_user_remove[] =
        "Usage: tern user remove NAME [--db URL]\n\n"
        "Remove a webserver user with all of its API tokens and browser sessions: requests made with\n"
        "them are refused from now on.\n";

static int verb_user_remove(int argc, char *argv[]) {
        const char *cmd = "tern user remove", *db = NULL;
        int r = parse_db(cmd, usage_user_remove, argc, argv, &db);
        if (r >= 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open(cmd, db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        unsigned tokens = 0, sessions = 0;
        r = api_user_remove(s, argv[optind], &tokens, &sessions);
        if (r == -ENOENT) {
                fprintf(stderr, "%s: no user '%s' (see 'tern user list')\n", cmd, argv[optind]);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        fprintf(stderr, "User %s removed, with %u API token(s) and %u session(s).\n", argv[optind], tokens, sessions);
        return 0;
}

static const char usage_token_list[] =
        "Usage: tern token list [NAME] [--output table|json] [--db URL]\n\n"
        "API tokens (of user NAME, or of every user): their ID, whose they are and when each was made.\n"
        "A token itself cannot be shown again: only its hash is kept. The ID is what 'tern token revoke'\n"
        "takes.\n";

static int verb_token_list(int argc, char *argv[]) {
        const char *cmd = "tern token list";
        UserArgs a = {};
        int r = parse(cmd, usage_token_list, argc, argv, 0, 1, true, &a);
        if (r >= 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        _cleanup_json_ json_t *tokens = NULL;
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        if ((r = api_token_list(s, optind < argc ? argv[optind] : NULL, &tokens)) < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        if (a.output == OUTPUT_JSON) {
                print_json(tokens);
                return 0;
        }
        printf("%-14s %-32s %s\n", "ID", "USER", "CREATED");
        size_t i;
        json_t *t;
        json_array_foreach(tokens, i, t)
                printf("%-14s %-32s %s\n", json_string_value(json_object_get(t, "id")),
                       json_string_value(json_object_get(t, "user")),
                       strna(json_string_value(json_object_get(t, "created"))));
        return 0;
}

static const char usage_token_revoke[] =
        "Usage: tern token revoke ID|- [--db URL]\n\n"
        "Revoke an API token, named by its ID from 'tern token list' (any unique prefix of 6 or more\n"
        "digits), or by the token itself read from standard input with '-' (so that it does not show\n"
        "in the process list). Requests and browser sessions made with it are refused from now on.\n";

static int verb_token_revoke(int argc, char *argv[]) {
        const char *cmd = "tern token revoke";
        UserArgs a = {};
        int r = parse(cmd, usage_token_revoke, argc, argv, 1, 1, false, &a);
        if (r >= 0)
                return r;
        const char *what = argv[optind];
        _cleanup_free_ char *line = NULL;
        if (streq(what, "-")) {
                size_t cap = 0;
                ssize_t n = getline(&line, &cap, stdin);
                while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
                        line[--n] = 0;
                if (n <= 0) {
                        fprintf(stderr, "%s: no token on standard input\n", cmd);
                        return 1;
                }
                what = line;
        }
        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        _cleanup_free_ char *user = NULL, *id = NULL;
        r = api_token_revoke(s, what, &user, &id);
        if (line)
                explicit_bzero(line, strlen(line));
        switch (r) {
        case 0:
                fprintf(stderr, "Token %s of user %s revoked.\n", id, user);
                return 0;
        case -EINVAL:
                return cli_usage_error(cmd, "'%s' is neither a token ID (6 to 64 hex digits) nor a token",
                                       streq(argv[optind], "-") ? "(standard input)" : argv[optind]);
        case -ENOENT:
                fprintf(stderr, "%s: no token %s (see 'tern token list')\n", cmd,
                        streq(argv[optind], "-") ? "matches standard input" : argv[optind]);
                return 1;
        case -ENOTUNIQ:
                fprintf(stderr, "%s: '%s' names more than one token; give more of its digits\n", cmd, argv[optind]);
                return 1;
        default:
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
}

const Verb user_verbs[] = {
        { "add", "NAME [--db URL]", "create a webserver user (password on standard input)", verb_user_add, NULL },
        { "list", "[--output table|json] [--db URL]", "list the webserver's users", verb_user_list, NULL },
        { "remove", "NAME [--db URL]", "remove a user with its tokens and sessions", verb_user_remove, NULL },
        {},
};

const Verb token_verbs[] = {
        { "create", "NAME [--db URL]", "print a new API token for a user", verb_token_create, NULL },
        { "list", "[NAME] [--output table|json] [--db URL]", "list API tokens by ID", verb_token_list, NULL },
        { "revoke", "ID|- [--db URL]", "revoke an API token", verb_token_revoke, NULL },
        {},
};

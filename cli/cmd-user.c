/* cmd-user.c: "tern user add" and "tern token create": the webserver's users and API tokens. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli-store.h"
#include "cli.h"
#include "strutil.h"
#include "users.h"

static int parse_db(const char *cmd, const char *usage, int argc, char *argv[], const char **db) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "db", required_argument, NULL, 'd' },
                {},
        };
        int c;
        while ((c = cli_getopt(cmd, argc, argv, "h", options)) >= 0) {
                if (c == 'h') {
                        printf("%s", usage);
                        return 0;
                }
                if (c == 'd')
                        *db = optarg;
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (argc - optind != 1)
                return cli_usage_error(cmd, "NAME is required");
        if (!api_user_name_valid(argv[optind]))
                return cli_usage_error(cmd, "'%s' is not a valid user name: 1 to 64 of A-Z a-z 0-9 . _ @ -",
                                       argv[optind]);
        return -1;
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

const Verb user_verbs[] = {
        { "add", "NAME [--db URL]", "create a webserver user (password on standard input)", verb_user_add, NULL },
        {},
};

const Verb token_verbs[] = {
        { "create", "NAME [--db URL]", "print a new API token for a user", verb_token_create, NULL },
        {},
};

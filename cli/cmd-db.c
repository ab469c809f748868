/* cmd-db.c: the "tern db" commands: apply the store's migrations and show the schema status. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli-store.h"
#include "cli.h"
#include "store.h"

/* The database comes from --db, else $TERN_DB, else the embedded one in the state directory (the
 * same default as every other command). */
static void db_help(const char *verb, const char *what) {
        printf("Usage: tern db %s [--db URL]\n\n%s\n\n"
               "Options:\n"
               "  --db URL     sqlite:///abs/path.db, sqlite:relative.db, postgresql://..., a libpq\n"
               "               'key=value' connection string or mysql://USER@HOST[:PORT]/DATABASE\n"
               "               (default: $TERN_DB, else the embedded database in the state directory)\n"
               "  -h, --help   show this help\n",
               verb, what);
}

static int db_parse(const char *cmd, const char *verb, const char *what, int argc, char *argv[], const char **ret_url) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "db", required_argument, NULL, 'd' },
                {},
        };
        const char *url = NULL;
        int c;

        while ((c = cli_getopt(cmd, argc, argv, "h", options)) >= 0) {
                switch (c) {
                case 'h':
                        db_help(verb, what);
                        return 0;
                case 'd':
                        url = optarg;
                        break;
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        *ret_url = url;
        return -1; /* go on */
}

static int verb_db_migrate(int argc, char *argv[]) {
        const char *cmd = "tern db migrate", *url = NULL;
        _cleanup_store_ Store *s = NULL;
        int r = db_parse(cmd, "migrate", "Apply the missing schema migrations (concurrent runs are safe).", argc, argv,
                         &url);
        if (r >= 0)
                return r;
        r = cli_store_open(cmd, url, CLI_STORE_RAW, &s);
        if (r != 0)
                return r;
        r = store_migrate(s);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        printf("%d migration%s applied; schema version %d\n", r, r == 1 ? "" : "s",
               store_schema_version_expected(store_backend(s)));
        return 0;
}

static int verb_db_status(int argc, char *argv[]) {
        const char *cmd = "tern db status", *url = NULL;
        _cleanup_store_ Store *s = NULL;
        int version = 0;
        int r = db_parse(cmd, "status", "Show the database's schema version and whether it matches this tern.\n"
                                        "Exit status 1 when it does not (run 'tern db migrate' or upgrade tern).",
                         argc, argv, &url);
        if (r >= 0)
                return r;
        r = cli_store_open(cmd, url, CLI_STORE_RAW, &s);
        if (r != 0)
                return r;
        int expected = store_schema_version_expected(store_backend(s));
        r = store_check_schema(s, &version);
        if (r == -EPROTO) {
                printf("schema version %d, this tern expects %d: %s\n", version, expected, store_error(s));
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        printf("schema version %d: up to date\n", version);
        return 0;
}

const Verb db_verbs[] = {
        { "migrate", "[--db URL]", "apply the store's schema migrations", verb_db_migrate, NULL },
        { "status", "[--db URL]", "show the schema version", verb_db_status, NULL },
        {},
};

/* cmd-flow-store.c: "tern flow apply|list|show|delete|revisions": flows in the database. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "cli-store.h"
#include "cli.h"
#include "flow.h"
#include "strutil.h"

typedef struct FlowArgs {
        const char *db;
        const char *ns;
        OutputFormat output;
        int revision; /* show: 0 = latest */
} FlowArgs;

static int parse(const char *cmd, const char *usage, int argc, char *argv[], FlowArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "db", required_argument, NULL, 'd' },
                { "namespace", required_argument, NULL, 'n' },
                { "output", required_argument, NULL, 'o' },
                { "revision", required_argument, NULL, 'r' },
                {},
        };
        int c, r;
        while ((c = cli_getopt(cmd, argc, argv, "ho:n:", options)) >= 0) {
                switch (c) {
                case 'h':
                        printf("%s", usage);
                        return 0;
                case 'd':
                        a->db = optarg;
                        break;
                case 'n':
                        a->ns = optarg;
                        break;
                case 'o':
                        if ((r = cli_parse_output(cmd, optarg, &a->output)) != 0)
                                return r;
                        break;
                case 'r':
                        if (safe_atoi(optarg, &a->revision) < 0 || a->revision < 1)
                                return cli_usage_error(cmd, "--revision '%s' must be a revision number (1, 2, ...)", optarg);
                        break;
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        return -1;
}

/* The preamble of the commands on one stored flow (NAMESPACE ID): options, arguments, the store and
 * a transaction. Returns -1 to go on with *ret_store and *ret_tx, else the exit status. */
static int one_flow_begin(const char *cmd, const char *usage, int argc, char *argv[], FlowArgs *a, Store **ret_store,
                          StoreTx **ret_tx) {
        int r = parse(cmd, usage, argc, argv, a);
        if (r >= 0)
                return r;
        if (argc - optind != 2)
                return cli_usage_error(cmd, "NAMESPACE and ID are required");
        if ((r = cli_store_open(cmd, a->db, CLI_STORE_MIGRATE_EMBEDDED, ret_store)) != 0)
                return r;
        if (store_begin(*ret_store, ret_tx) < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(*ret_store));
                return 1;
        }
        return -1;
}

static int no_such_flow(const char *cmd, const char *ns, const char *id) {
        fprintf(stderr, "%s: no flow '%s' in namespace '%s'\n", cmd, id, ns);
        return 1;
}

static int collect_files(const char *cmd, const char *arg, char ***files) {
        struct stat st;
        if (stat(arg, &st) < 0) {
                fprintf(stderr, "%s: cannot read '%s': %m\n", cmd, arg);
                return 1;
        }
        if (!S_ISDIR(st.st_mode))
                return strv_extend(files, arg) < 0 ? 1 : 0;
        struct dirent **names = NULL;
        int n = scandir(arg, &names, NULL, alphasort);
        if (n < 0) {
                fprintf(stderr, "%s: cannot list '%s': %m\n", cmd, arg);
                return 1;
        }
        int r = 0;
        for (int i = 0; i < n; i++) {
                const char *nm = names[i]->d_name;
                if (!r && nm[0] != '.' && (endswith(nm, ".yaml") || endswith(nm, ".yml")) &&
                    strv_consume(files, strjoin(arg, "/", nm)) < 0)
                        r = 1;
                free(names[i]);
        }
        free(names);
        return r;
}

typedef struct FlowsPut {
        Flow **flows;
        size_t n;
        usec_t now;
        int *outcome, *revision; /* per flow: store_flow_put()'s result and the revision stored */
} FlowsPut;

/* Rerun safely (store_transact()): the same source again is no new revision. */
static int flows_put_tx(StoreTx *tx, void *userdata) {
        FlowsPut *p = userdata;
        for (size_t i = 0; i < p->n; i++) {
                Flow *f = p->flows[i];
                int r = store_flow_put(tx, f->namespace, f->id, f->source, p->now, &p->revision[i]);
                if (r < 0)
                        return r;
                p->outcome[i] = r;
        }
        return 0;
}

static const char usage_apply[] =
        "Usage: tern flow apply FILE|DIR... [--db URL]\n\n"
        "Create or update flows in the database. Every file is validated first: when any is invalid,\n"
        "its errors are printed and nothing is stored. A flow whose source did not change keeps its\n"
        "revision; a changed one gets a new revision (earlier ones are kept). Plugins' task types are\n"
        "known from tern.conf's [plugins] path ($TERN_PLUGINS_PATH), as on the servers.\n";

int verb_flow_apply(int argc, char *argv[]) {
        const char *cmd = "tern flow apply";
        FlowArgs a = {};
        _cleanup_strv_free_ char **files = NULL;
        int r = parse(cmd, usage_apply, argc, argv, &a);
        if (r >= 0)
                return r;
        if (optind >= argc)
                return cli_usage_error(cmd, "at least one flow file or directory is required");
        for (int i = optind; i < argc; i++)
                if ((r = collect_files(cmd, argv[i], &files)) != 0)
                        return r;
        if (strv_length(files) == 0) {
                fprintf(stderr, "%s: no *.yaml or *.yml file found\n", cmd);
                return 1;
        }
        /* Plugins' types validate here as they will on the servers ([plugins] path, $TERN_PLUGINS_PATH). */
        if ((r = cli_plugins_setup_from_config(cmd, NULL)) != 0)
                return r;
        size_t n = strv_length(files);
        _cleanup_free_ Flow **flows = calloc(n, sizeof(Flow *));
        if (!flows)
                return 1;
        bool invalid = false;
        for (size_t i = 0; i < n; i++) {
                FlowDiagnostics d = FLOW_DIAGNOSTICS_INIT;
                r = flow_load_file(files[i], &flows[i], &d);
                if (r == FLOW_INVALID)
                        flow_diagnostics_print(&d, stderr);
                else if (r < 0)
                        fprintf(stderr, "%s: cannot read '%s': %s\n", cmd, files[i], strerror(-r));
                if (r != 0)
                        invalid = true;
                flow_diagnostics_done(&d);
        }
        int status = 1;
        _cleanup_store_ Store *s = NULL;
        if (invalid)
                goto done;
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0) {
                status = r;
                goto done;
        }
        /* All or nothing: one transaction for every file, rerun when the connection is lost. */
        FlowsPut put = { .flows = flows, .n = n, .now = now_realtime(), .outcome = calloc(n ? n : 1, sizeof(int)),
                         .revision = calloc(n ? n : 1, sizeof(int)) };
        if (!put.outcome || !put.revision) {
                free(put.outcome);
                free(put.revision);
                fprintf(stderr, "%s: %s\n", cmd, strerror(ENOMEM));
                goto done;
        }
        r = store_transact(s, flows_put_tx, &put);
        for (size_t i = 0; r >= 0 && i < n; i++)
                printf("%s.%s: %s revision %d\n", flows[i]->namespace, flows[i]->id,
                       put.outcome[i] == STORE_UNCHANGED ? "unchanged," : put.revision[i] == 1 ? "created," : "updated to",
                       put.revision[i]);
        free(put.outcome);
        free(put.revision);
        if (r < 0)
                goto db_error;
        status = 0;
        goto done;
db_error:
        fprintf(stderr, "%s: %s\n", cmd, store_error(s));
done:
        for (size_t i = 0; i < n; i++)
                flow_free(flows[i]);
        return status;
}

static const char usage_list[] = "Usage: tern flow list [--namespace NS] [-o json] [--db URL]\n\n"
                                 "List the latest revision of each flow (NS and namespaces below it).\n";

int verb_flow_list(int argc, char *argv[]) {
        const char *cmd = "tern flow list";
        FlowArgs a = {};
        int r = parse(cmd, usage_list, argc, argv, &a);
        if (r >= 0)
                return r;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        StoreFlow *flows = NULL;
        size_t n = 0;
        if (store_begin(s, &tx) < 0 || (r = store_flow_list(tx, a.ns, &flows, &n)) < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        store_rollback(TAKE_PTR(tx));
        if (a.output == OUTPUT_JSON) {
                _cleanup_json_ json_t *arr = json_array();
                for (size_t i = 0; i < n; i++)
                        json_array_append_new(arr, api_flow_json(&flows[i], false));
                json_dumpf(arr, stdout, JSON_INDENT(2));
                printf("\n");
        } else {
                printf("%-40s %-30s %s\n", "NAMESPACE", "ID", "REVISION");
                for (size_t i = 0; i < n; i++)
                        printf("%-40s %-30s %d\n", flows[i].namespace, flows[i].id, flows[i].revision);
        }
        store_flows_free(flows, n);
        return 0;
}

static const char usage_show[] = "Usage: tern flow show NAMESPACE ID [--revision N] [-o json] [--db URL]\n\n"
                                 "Print a flow's YAML source (latest revision), or its metadata as JSON.\n";

int verb_flow_show(int argc, char *argv[]) {
        const char *cmd = "tern flow show";
        FlowArgs a = {};
        _cleanup_store_ Store *s = NULL;
        _cleanup_store_tx_ StoreTx *tx = NULL;
        StoreFlow f = {};
        int r = one_flow_begin(cmd, usage_show, argc, argv, &a, &s, &tx);
        if (r >= 0)
                return r;
        r = store_flow_get(tx, argv[optind], argv[optind + 1], a.revision, &f);
        store_rollback(TAKE_PTR(tx));
        if (r == -ENOENT)
                return no_such_flow(cmd, argv[optind], argv[optind + 1]);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        if (a.output == OUTPUT_JSON) {
                _cleanup_json_ json_t *j = api_flow_json(&f, true);
                json_dumpf(j, stdout, JSON_INDENT(2));
                printf("\n");
        } else
                fputs(f.source, stdout);
        store_flow_done(&f);
        return 0;
}

static const char usage_delete[] = "Usage: tern flow delete NAMESPACE ID [--db URL]\n\n"
                                   "Delete a flow: it can no longer be started; its revisions and executions are kept.\n";

int verb_flow_delete(int argc, char *argv[]) {
        const char *cmd = "tern flow delete";
        FlowArgs a = {};
        _cleanup_store_ Store *s = NULL;
        int r = parse(cmd, usage_delete, argc, argv, &a);
        if (r >= 0)
                return r;
        if (argc - optind != 2)
                return cli_usage_error(cmd, "NAMESPACE and ID are required");
        if ((r = cli_store_open(cmd, a.db, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        r = api_flow_delete(s, argv[optind], argv[optind + 1]);
        if (r == -ENOENT)
                return no_such_flow(cmd, argv[optind], argv[optind + 1]);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        printf("%s.%s: deleted\n", argv[optind], argv[optind + 1]);
        return 0;
}

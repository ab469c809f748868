/* cmd-execution-files.c: "tern execution files|purge": an execution's files in internal storage,
 * and the retention of ended executions with their files and logs. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "cleanup-jansson.h"
#include "cli-store.h"
#include "cli.h"
#include "execution-files.h"
#include "key.h"
#include "log.h"
#include "purge.h"
#include "strutil.h"

typedef struct FilesArgs {
        CliConfig conf;
        const char *db, *get;
        OutputFormat output;
        usec_t older_than;
        bool has_older_than;
        size_t batch;
} FilesArgs;

static void files_args_done(FilesArgs *a) {
        cli_config_done(&a->conf);
}

enum { OPT_DB = 1000, OPT_STORAGE, OPT_GET, OPT_OLDER_THAN, OPT_BATCH };

static int parse(const char *cmd, void (*help)(void), int argc, char *argv[], FilesArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "db", required_argument, NULL, OPT_DB },
                { "storage", required_argument, NULL, OPT_STORAGE },
                { "output", required_argument, NULL, 'o' },
                { "get", required_argument, NULL, OPT_GET },
                { "older-than", required_argument, NULL, OPT_OLDER_THAN },
                { "batch", required_argument, NULL, OPT_BATCH },
                {},
        };
        int c, r;
        while ((c = cli_getopt(cmd, argc, argv, "hc:o:", options)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'c':
                        a->conf.path = optarg;
                        break;
                case OPT_DB:
                        a->db = optarg;
                        break;
                case OPT_STORAGE:
                        if ((r = cli_config_add(&a->conf, "storage.url", optarg)) != 0)
                                return r;
                        break;
                case 'o':
                        if ((r = cli_parse_output(cmd, optarg, &a->output)) != 0)
                                return r;
                        break;
                case OPT_GET:
                        a->get = optarg;
                        break;
                case OPT_OLDER_THAN:
                        if (config_parse_duration(optarg, &a->older_than) < 0 || a->older_than == 0)
                                return cli_usage_error(cmd, "--older-than '%s' is not a duration such as 30d, 12h or P30D",
                                                       optarg);
                        a->has_older_than = true;
                        break;
                case OPT_BATCH: {
                        unsigned n;
                        if (safe_atou(optarg, &n) < 0 || n == 0 || n > 10000)
                                return cli_usage_error(cmd, "--batch '%s' must be a number from 1 to 10000", optarg);
                        a->batch = n;
                        break;
                }
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        return -1;
}

static void help_files(void) {
        printf("Usage: tern execution files ID [--get URI|PATH] [-o json] [--config FILE] [--db URL] [--storage URL]\n\n"
               "List the files of an execution in internal storage (its FILE inputs and its tasks' output\n"
               "files) with their kestra:/// URIs; --get writes one of them to standard output, named by\n"
               "its URI or by its path below the execution (inputs/NAME/FILE, tasks/TASK/RUN/FILE).\n"
               "Only the execution's own files can be read. The storage is tern.conf's [storage] url\n"
               "(default file://<state dir>/storage), or --storage URL.\n");
}

/* The key of --get's argument: a URI of the execution, or a path below its directory. */
static int files_key(const char *cmd, json_t *doc, const char *prefix, const char *arg, char **ret) {
        _cleanup_free_ char *uri = NULL, *key = NULL;
        const char *why = NULL;
        ApiFileScope scope;
        if (!startswith(arg, "kestra:")) {
                _cleanup_free_ char *k = strjoin(prefix, "/", arg);
                if (!k || !(uri = storage_key_to_uri(k)))
                        return log_oom(), 1;
                if (storage_key_invalid(k)) {
                        fprintf(stderr, "%s: '%s' is not a path below the execution: %s\n", cmd, arg, storage_key_invalid(k));
                        return 1;
                }
                arg = uri;
        }
        api_file_scope_from_doc(doc, &scope);
        int r = api_file_key(&scope, arg, &key, &why);
        if (r == -EINVAL)
                fprintf(stderr, "%s: '%s' is not a valid file URI: %s\n", cmd, arg, strna(why));
        else if (r == -EACCES)
                fprintf(stderr, "%s: '%s' is not a file of execution %s\n", cmd, arg,
                        json_string_value(json_object_get(doc, "id")));
        else if (r < 0)
                return log_oom(), 1;
        if (r < 0)
                return 1;
        *ret = TAKE_PTR(key);
        return 0;
}

static int files_list(const char *cmd, Storage *storage, const char *prefix, OutputFormat output) {
        _cleanup_json_ json_t *all = output == OUTPUT_JSON ? json_array() : NULL;
        _cleanup_free_ char *token = NULL;
        size_t n = 0;
        if (output == OUTPUT_JSON && !all)
                return log_oom(), 1;
        do {
                _cleanup_storage_list_ StorageList l = {};
                int r = storage_list(storage, prefix, token, 0, &l);
                if (r < 0) {
                        fprintf(stderr, "%s: cannot list the files: %s\n", cmd, storage_error(storage));
                        return 1;
                }
                for (size_t i = 0; i < l.n; i++, n++) {
                        _cleanup_free_ char *uri = storage_key_to_uri(l.objects[i].key);
                        char ts[TIMESTAMP_MAX];
                        if (!uri)
                                return log_oom(), 1;
                        timestamp_format(ts, l.objects[i].mtime);
                        if (all)
                                json_array_append_new(all, json_pack("{s:s, s:I, s:s}", "uri", uri, "size",
                                                                     (json_int_t) l.objects[i].size, "updated", ts));
                        else
                                printf("%12llu  %s  %s\n", (unsigned long long) l.objects[i].size, ts, uri);
                }
                free(token);
                token = TAKE_PTR(l.next);
        } while (token);
        if (all) {
                json_dumpf(all, stdout, JSON_INDENT(2));
                printf("\n");
        } else if (n == 0 && isatty(STDOUT_FILENO))
                printf("(no files)\n");
        return 0;
}

int verb_execution_files(int argc, char *argv[]) {
        const char *cmd = "tern execution files";
        _cleanup_(files_args_done) FilesArgs a = {};
        int r = parse(cmd, help_files, argc, argv, &a);
        if (r >= 0)
                return r;
        if (argc - optind != 1)
                return cli_usage_error(cmd, argc - optind < 1 ? "an execution ID is required" : "only one execution ID");
        const char *id = argv[optind];
        if ((r = cli_config_load(cmd, &a.conf)) != 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open_config(cmd, a.db, &a.conf.cfg, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        _cleanup_json_ json_t *doc = NULL;
        r = api_execution_get(s, id, &doc);
        if (r == -ENOENT) {
                fprintf(stderr, "%s: no execution '%s'\n", cmd, id);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, store_error(s));
                return 1;
        }
        _cleanup_free_ char *prefix = NULL;
        r = storage_key_execution(json_string_value(json_object_get(doc, "namespace")),
                                  json_string_value(json_object_get(doc, "flowId")), id, &prefix);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r < 0) {
                fprintf(stderr, "%s: execution %s cannot have files (its namespace or flow id makes no storage key)\n",
                        cmd, id);
                return 1;
        }
        _cleanup_storage_ Storage *storage = NULL;
        if ((r = cli_storage_open(cmd, &a.conf.cfg, &storage)) != 0)
                return r;
        if (!a.get)
                return files_list(cmd, storage, prefix, a.output);

        _cleanup_free_ char *key = NULL;
        if ((r = files_key(cmd, doc, prefix, a.get, &key)) != 0)
                return r;
        /* Streamed: a file of any size passes through a fixed amount of memory. */
        r = storage_get_fd(storage, key, STDOUT_FILENO);
        if (r == -ENOENT) {
                fprintf(stderr, "%s: no file '%s' in execution %s\n", cmd, a.get, id);
                return 1;
        }
        if (r < 0) {
                fprintf(stderr, "%s: cannot read '%s': %s\n", cmd, a.get, r == -EPIPE ? strerror(-r) : storage_error(storage));
                return 1;
        }
        return 0;
}

static void help_purge(void) {
        printf("Usage: tern execution purge --older-than DURATION [--batch N] [--config FILE] [--db URL] [--storage URL]\n\n"
               "Delete the executions that ended more than DURATION ago (30d, 12h, P30D) with their files in\n"
               "internal storage, and the log lines older than that, N executions (default 100) per short\n"
               "transaction; running executions are never touched. Uploads to the internal storage begun over a\n"
               "day ago and never completed (S3 and GCS multipart uploads, local temporary files of a killed\n"
               "process) are aborted. [storage] retention in tern.conf has the executors do the same periodically.\n");
}

int verb_execution_purge(int argc, char *argv[]) {
        const char *cmd = "tern execution purge";
        _cleanup_(files_args_done) FilesArgs a = {};
        _cleanup_free_ char *err = NULL;
        int r = parse(cmd, help_purge, argc, argv, &a);
        if (r >= 0)
                return r;
        if (optind < argc)
                return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        if (!a.has_older_than)
                return cli_usage_error(cmd, "--older-than DURATION is required (e.g. 30d)");
        if ((r = cli_config_load(cmd, &a.conf)) != 0)
                return r;
        _cleanup_store_ Store *s = NULL;
        if ((r = cli_store_open_config(cmd, a.db, &a.conf.cfg, CLI_STORE_MIGRATE_EMBEDDED, &s)) != 0)
                return r;
        _cleanup_storage_ Storage *storage = NULL;
        if ((r = cli_storage_open(cmd, &a.conf.cfg, &storage)) != 0)
                return r;
        usec_t now = now_realtime();
        ApiPurgeStats st = {};
        r = api_purge(s, storage, now > a.older_than ? now - a.older_than : 0, a.batch, now, &st, &err);
        printf("%llu execution(s) deleted with their files, %llu log line(s), %llu expired KV entr%s\n",
               (unsigned long long) st.executions, (unsigned long long) st.logs, (unsigned long long) st.kv,
               st.kv == 1 ? "y" : "ies");
        if (st.uploads)
                printf("%llu incomplete upload(s) begun over a day ago aborted\n", (unsigned long long) st.uploads);
        if (r < 0) {
                fprintf(stderr, "%s: %s\n", cmd, err ? err : strerror(-r));
                return 1;
        }
        return 0;
}

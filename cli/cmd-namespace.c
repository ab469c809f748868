/* cmd-namespace.c: "tern namespace files upload|list|get|delete": a namespace's files in internal
 * storage (Kestra's namespace files), straight through lib/storage: no database, no server. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "cli-store.h"
#include "cli.h"
#include "fd-util.h"
#include "key.h"
#include "log.h"
#include "namespace-files.h"
#include "strutil.h"

typedef struct NsArgs {
        CliConfig conf;
        const char *output_file;
        OutputFormat output;
        bool recursive;
} NsArgs;

static void ns_args_done(NsArgs *a) {
        cli_config_done(&a->conf);
}

enum { OPT_STORAGE = 1000, OPT_RECURSIVE };

/* -o is the output format of list and the output file of get. */
static int parse(const char *cmd, void (*help)(void), bool output_is_file, int argc, char *argv[], NsArgs *a) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "config", required_argument, NULL, 'c' },
                { "storage", required_argument, NULL, OPT_STORAGE },
                { "output", required_argument, NULL, 'o' },
                { "recursive", no_argument, NULL, 'r' },
                {},
        };
        int c, r;
        while ((c = cli_getopt(cmd, argc, argv, "hc:o:r", options)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'c':
                        a->conf.path = optarg;
                        break;
                case OPT_STORAGE:
                        if ((r = cli_config_add(&a->conf, "storage.url", optarg)) != 0)
                                return r;
                        break;
                case 'o':
                        if (output_is_file)
                                a->output_file = optarg;
                        else if ((r = cli_parse_output(cmd, optarg, &a->output)) != 0)
                                return r;
                        break;
                case 'r':
                        a->recursive = true;
                        break;
                }
        }
        if (c == CLI_OPT_ERROR)
                return EXIT_USAGE;
        return -1;
}

/* Arguments, the configuration and the storage, for every verb: 0 to go on, else the exit code. */
static int setup(const char *cmd, NsArgs *a, int argc, char *argv[], int min, int max, const char *usage,
                 Storage **ret) {
        int n = argc - optind;
        if (n < min || n > max)
                return cli_usage_error(cmd, n < min ? "missing arguments: %s" : "too many arguments: %s", usage);
        const char *ns = argv[optind];
        _cleanup_free_ char *key = NULL;
        int r = storage_key_namespace_file(ns, NULL, &key);
        if (r == -ENOMEM)
                return log_oom(), 1;
        if (r < 0)
                return cli_usage_error(cmd, "'%s' is not a namespace (lowercase letters, digits, '.', '_' and '-')", ns);
        if ((r = cli_config_load(cmd, &a->conf)) != 0)
                return r;
        return cli_storage_open(cmd, &a->conf.cfg, ret);
}

/* One line for a failed operation on path: what, on what, why. */
static int ns_error(const char *cmd, Storage *s, int r, const char *what, const char *ns, const char *path) {
        switch (r) {
        case -EINVAL:
                fprintf(stderr, "%s: '%s' is not a valid namespace file path (no '..', '.', empty segments, "
                                "backslashes, encoded '/' or '.', control characters or '%s')\n",
                        cmd, path, API_NS_DIR_MARKER);
                break;
        case -ENOENT:
                fprintf(stderr, "%s: no file or directory '%s' in namespace '%s'\n", cmd, path, ns);
                break;
        case -ENOTDIR:
                fprintf(stderr, "%s: cannot %s '%s' in namespace '%s': a file stands where a directory is needed\n", cmd,
                        what, path, ns);
                break;
        case -EISDIR:
                fprintf(stderr, "%s: cannot %s '%s' in namespace '%s': it is a directory\n", cmd, what, path, ns);
                break;
        case -ENOTEMPTY:
                fprintf(stderr, "%s: directory '%s' of namespace '%s' is not empty: --recursive deletes it with what it "
                                "holds\n", cmd, path, ns);
                break;
        case -E2BIG:
                fprintf(stderr, "%s: cannot %s '%s': more than %u files\n", cmd, what, path, API_NS_FILES_MAX);
                break;
        case -ENOMEM:
                log_oom();
                break;
        default:
                fprintf(stderr, "%s: cannot %s '%s' in namespace '%s': %s\n", cmd, what, path, ns,
                        r == -EPIPE ? strerror(-r) : storage_error(s));
        }
        return 1;
}

/* ---- upload --------------------------------------------------------------------------------------- */

typedef struct Upload {
        const char *cmd, *ns;
        Storage *storage;
        unsigned files;
        uint64_t bytes;
} Upload;

static int upload_fd(Upload *u, int fd, const char *remote) {
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        int r = api_ns_file_put_fd(u->storage, u->ns, remote, fd);
        if (r < 0)
                return ns_error(u->cmd, u->storage, r, "upload", u->ns, remote), -ECANCELED;
        printf("%s\n", remote);
        u->files++;
        u->bytes += (uint64_t) st.st_size;
        return 0;
}

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

/* Every regular file below dir (an open directory), its path below it appended to remote. Links
 * are not followed: what a directory holds is uploaded, not what it points to. */
static int upload_dir(Upload *u, int dirfd, const char *local, const char *remote) {
        _cleanup_(closedirp) DIR *d = fdopendir(dirfd);
        if (!d) {
                safe_close(dirfd);
                return -errno;
        }
        /* Sorted: the order the files are uploaded (and printed) in does not depend on the disk. */
        struct dirent **names = NULL;
        int n = scandirat(dirfd, ".", &names, NULL, alphasort);
        if (n < 0)
                return -errno;
        int r = 0;
        for (int i = 0; i < n; i++) {
                const char *name = names[i]->d_name;
                if (r < 0 || streq(name, ".") || streq(name, ".."))
                        continue;
                _cleanup_free_ char *l = strjoin(local, "/", name), *rp = strjoin(remote, streq(remote, "/") ? "" : "/", name);
                if (!l || !rp) {
                        r = -ENOMEM;
                        continue;
                }
                int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
                struct stat st;
                if (fd < 0 && errno == ELOOP) {
                        fprintf(stderr, "%s: skipping '%s': a symbolic link\n", u->cmd, l);
                        continue;
                }
                if (fd < 0 || fstat(fd, &st) < 0) {
                        fprintf(stderr, "%s: cannot read '%s': %m\n", u->cmd, l);
                        safe_close(fd);
                        r = -ECANCELED;
                        continue;
                }
                if (S_ISDIR(st.st_mode))
                        r = upload_dir(u, fd, l, rp);
                else if (S_ISREG(st.st_mode)) {
                        r = upload_fd(u, fd, rp);
                        safe_close(fd);
                } else {
                        fprintf(stderr, "%s: skipping '%s': not a regular file\n", u->cmd, l);
                        safe_close(fd);
                }
                if (r < 0 && r != -ECANCELED) {
                        fprintf(stderr, "%s: cannot upload '%s': %s\n", u->cmd, l, strerror(-r));
                        r = -ECANCELED;
                }
        }
        for (int i = 0; i < n; i++)
                free(names[i]);
        free(names);
        return r;
}

static void help_upload(void) {
        printf("Usage: tern namespace files upload NAMESPACE LOCAL [REMOTE-DIR] [--config FILE] [--storage URL]\n\n"
               "Store LOCAL as namespace files of NAMESPACE, below REMOTE-DIR (default '/', the namespace's\n"
               "root): a file under its own name, a directory's contents with their paths below it, at any\n"
               "depth (symbolic links are skipped). A file of the same path is replaced. Each stored path is\n"
               "printed. Tasks get them with namespaceFiles, namespace.DownloadFiles and read('PATH'). The\n"
               "storage is tern.conf's [storage] url (default file://<state dir>/storage), or --storage URL.\n");
}

static int verb_upload(int argc, char *argv[]) {
        const char *cmd = "tern namespace files upload";
        _cleanup_(ns_args_done) NsArgs a = {};
        _cleanup_storage_ Storage *storage = NULL;
        int r = parse(cmd, help_upload, false, argc, argv, &a);
        if (r >= 0)
                return r;
        if ((r = setup(cmd, &a, argc, argv, 2, 3, "NAMESPACE LOCAL [REMOTE-DIR]", &storage)) != 0)
                return r;
        const char *ns = argv[optind], *local = argv[optind + 1], *dir = argv[optind + 2] ?: "/";
        _cleanup_free_ char *rel = NULL;
        if ((r = api_ns_path_normalize(dir, &rel)) < 0)
                return ns_error(cmd, storage, r, "upload to", ns, dir);
        _cleanup_free_ char *remote_dir = strjoin("/", rel);
        if (!remote_dir)
                return log_oom(), 1;
        int fd = open(local, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
                fprintf(stderr, "%s: cannot read '%s': %m\n", cmd, local);
                safe_close(fd);
                return 1;
        }
        Upload u = { .cmd = cmd, .ns = ns, .storage = storage };
        if (S_ISDIR(st.st_mode))
                r = upload_dir(&u, fd, local, remote_dir);
        else if (S_ISREG(st.st_mode)) {
                const char *base = strrchr(local, '/');
                _cleanup_free_ char *remote = strjoin(remote_dir, streq(remote_dir, "/") ? "" : "/", base ? base + 1 : local);
                r = remote ? upload_fd(&u, fd, remote) : -ENOMEM;
                safe_close(fd);
        } else {
                fprintf(stderr, "%s: '%s' is neither a regular file nor a directory\n", cmd, local);
                safe_close(fd);
                return 1;
        }
        if (r < 0 && r != -ECANCELED)
                fprintf(stderr, "%s: cannot upload '%s': %s\n", cmd, local, strerror(-r));
        fprintf(stderr, "%u file(s), %llu bytes, uploaded to namespace '%s'\n", u.files, (unsigned long long) u.bytes, ns);
        return r < 0 ? 1 : 0;
}

/* ---- list ----------------------------------------------------------------------------------------- */

static void help_list(void) {
        printf("Usage: tern namespace files list NAMESPACE [PATH] [--recursive] [-o json] [--config FILE] [--storage URL]\n\n"
               "List the namespace files of NAMESPACE in directory PATH (default '/'): its files and\n"
               "directories (shown with a trailing '/'), or with --recursive every file below it. Columns:\n"
               "size in bytes, last modification, path.\n");
}

static int verb_list(int argc, char *argv[]) {
        const char *cmd = "tern namespace files list";
        _cleanup_(ns_args_done) NsArgs a = {};
        _cleanup_storage_ Storage *storage = NULL;
        _cleanup_api_ns_file_list_ ApiNsFileList l = {};
        int r = parse(cmd, help_list, false, argc, argv, &a);
        if (r >= 0)
                return r;
        if ((r = setup(cmd, &a, argc, argv, 1, 2, "NAMESPACE [PATH]", &storage)) != 0)
                return r;
        const char *ns = argv[optind], *dir = argv[optind + 1] ?: "/";
        if ((r = api_ns_files_list(storage, ns, dir, a.recursive, &l)) < 0)
                return ns_error(cmd, storage, r, "list", ns, dir);
        _cleanup_json_ json_t *all = a.output == OUTPUT_JSON ? json_array() : NULL;
        if (a.output == OUTPUT_JSON && !all)
                return log_oom(), 1;
        for (size_t i = 0; i < l.n; i++) {
                const ApiNsFile *f = &l.files[i];
                char ts[TIMESTAMP_MAX] = "-";
                if (f->mtime)
                        timestamp_format(ts, f->mtime);
                if (all)
                        json_array_append_new(all, json_pack("{s:s, s:s, s:I, s:s?}", "path", f->path, "type",
                                                             f->directory ? "Directory" : "File", "size",
                                                             (json_int_t) f->size, "updated", f->mtime ? ts : NULL));
                else
                        printf("%12llu  %-24s  %s%s\n", (unsigned long long) f->size, ts, f->path, f->directory ? "/" : "");
        }
        if (all) {
                json_dumpf(all, stdout, JSON_INDENT(2));
                printf("\n");
        } else if (l.n == 0 && isatty(STDOUT_FILENO))
                printf("(no files)\n");
        return 0;
}

/* ---- get ------------------------------------------------------------------------------------------ */

static void help_get(void) {
        printf("Usage: tern namespace files get NAMESPACE PATH [-o FILE] [--config FILE] [--storage URL]\n\n"
               "Write namespace file PATH of NAMESPACE to standard output, or to FILE (replaced only once\n"
               "the whole file has arrived). The file is streamed: any size passes through little memory.\n");
}

static int verb_get(int argc, char *argv[]) {
        const char *cmd = "tern namespace files get";
        _cleanup_(ns_args_done) NsArgs a = {};
        _cleanup_storage_ Storage *storage = NULL;
        _cleanup_free_ char *key = NULL, *tmp = NULL;
        int r = parse(cmd, help_get, true, argc, argv, &a);
        if (r >= 0)
                return r;
        if ((r = setup(cmd, &a, argc, argv, 2, 2, "NAMESPACE PATH", &storage)) != 0)
                return r;
        const char *ns = argv[optind], *path = argv[optind + 1];
        if ((r = api_ns_file_key(ns, path, &key)) < 0)
                return ns_error(cmd, storage, r, "read", ns, path);
        if (!a.output_file) {
                r = storage_get_fd(storage, key, STDOUT_FILENO);
                if (r == -ENOENT) {
                        ApiNsFile f = {};
                        if (api_ns_file_stat(storage, ns, path, &f) >= 0 && f.directory)
                                r = -EISDIR;
                        api_ns_file_done(&f);
                }
                return r < 0 ? ns_error(cmd, storage, r, "read", ns, path) : 0;
        }
        if (!(tmp = strjoin(a.output_file, ".tern-XXXXXX")))
                return log_oom(), 1;
        _cleanup_close_ int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "%s: cannot write '%s': %m\n", cmd, a.output_file);
                return 1;
        }
        r = storage_get_fd(storage, key, fd);
        mode_t mask = umask(0);
        umask(mask);
        if (r >= 0 && (fchmod(fd, 0666 & ~mask) < 0 || rename(tmp, a.output_file) < 0)) {
                fprintf(stderr, "%s: cannot write '%s': %m\n", cmd, a.output_file);
                (void) unlink(tmp);
                return 1;
        }
        if (r < 0) {
                (void) unlink(tmp);
                return ns_error(cmd, storage, r, "read", ns, path);
        }
        return 0;
}

/* ---- delete --------------------------------------------------------------------------------------- */

static void help_delete(void) {
        printf("Usage: tern namespace files delete NAMESPACE PATH [--recursive] [--config FILE] [--storage URL]\n\n"
               "Delete namespace file PATH of NAMESPACE, or directory PATH: an empty one as it is, one that\n"
               "holds files only with --recursive (then everything below it goes).\n");
}

static int verb_delete(int argc, char *argv[]) {
        const char *cmd = "tern namespace files delete";
        _cleanup_(ns_args_done) NsArgs a = {};
        _cleanup_storage_ Storage *storage = NULL;
        uint64_t n = 0;
        int r = parse(cmd, help_delete, false, argc, argv, &a);
        if (r >= 0)
                return r;
        if ((r = setup(cmd, &a, argc, argv, 2, 2, "NAMESPACE PATH", &storage)) != 0)
                return r;
        const char *ns = argv[optind], *path = argv[optind + 1];
        if ((r = api_ns_file_delete(storage, ns, path, a.recursive, &n)) < 0)
                return ns_error(cmd, storage, r, "delete", ns, path);
        fprintf(stderr, "%llu file(s) deleted from namespace '%s'\n", (unsigned long long) n, ns);
        return 0;
}

static const Verb files_verbs[] = {
        { "upload", "NS LOCAL [DIR]", "store a file or a directory's files as namespace files", verb_upload, NULL },
        { "list", "NS [PATH]", "list a namespace directory (--recursive: every file below it)", verb_list, NULL },
        { "get", "NS PATH", "write a namespace file to standard output or a file", verb_get, NULL },
        { "delete", "NS PATH", "delete a namespace file or directory", verb_delete, NULL },
        {},
};

const Verb namespace_verbs[] = {
        { "files", "COMMAND", "namespace files in internal storage: upload, list, get, delete", NULL, files_verbs },
        {},
};

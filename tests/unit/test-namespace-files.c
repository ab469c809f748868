/* test-namespace-files.c: namespace files (lib/api/namespace-files.c): Kestra's glob selection, path
 * checks, and listing, directories, delete and move on a local storage. */
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "namespace-files.h"
#include "strutil.h"
#include "tap.h"

static void test_patterns(void) {
        static const struct {
                const char *pattern, *path;
                bool match;
        } cases[] = {
                /* A pattern that starts with a word character matches at any depth. */
                { "x.sql", "/x.sql", true },
                { "x.sql", "/a/b/x.sql", true },
                { "x.sql", "/a/bx.sql", false },
                { "scripts/*.py", "/scripts/a.py", true },
                { "scripts/*.py", "/deep/scripts/a.py", true },
                { "scripts/*.py", "/scripts/sub/a.py", false },
                /* Others are matched against the whole path, its '/' included. */
                { "*.py", "/a.py", false },
                { "**.py", "/a.py", true },
                { "**.py", "/d/e/a.py", true },
                { "/*.py", "/a.py", true },
                { "/*.py", "/d/a.py", false },
                { "/scripts/**", "/scripts/a/b.py", true },
                { "/scripts/**", "/other/b.py", false },
                { "**/*.{sql,py}", "/q/a.py", true },
                { "**/*.{sql,py}", "/q/a.sh", false },
                { "/[a-c]?.txt", "/b1.txt", true },
                { "/[!a-c]?.txt", "/b1.txt", false },
                { "/a\\*b", "/a*b", true },
                { "/a\\*b", "/axb", false },
                { "glob:/x.sql", "/x.sql", true },
                { "glob:x.sql", "/x.sql", false },
                { "**", "/anything/at/all", true },
                { "/a/****.sql", "/a/b/c.sql", true },
                { "/a/\\***", "/a/*b/c", true },
                { "/a/\\***", "/a/b", false },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                ok(api_ns_pattern_match(cases[i].pattern, cases[i].path) == cases[i].match, "'%s' %s '%s'",
                   cases[i].pattern, cases[i].match ? "matches" : "does not match", cases[i].path);
        ok(api_ns_pattern_invalid("regex:.*") != NULL, "regex: patterns are refused, saying why");
        ok(api_ns_pattern_invalid("/a[b") != NULL && api_ns_pattern_invalid("{a,{b}}") != NULL &&
                   api_ns_pattern_invalid("[a/b]") != NULL && api_ns_pattern_invalid("") != NULL,
           "unclosed classes, nested groups, '/' in a class and empty patterns are refused");
        /* Many '*' on a long path end within the budget, whatever they answer. */
        char path[901];
        memset(path, 'a', 900);
        path[0] = '/';
        path[900] = 0;
        ok(!api_ns_pattern_match("**a*a*a*a*a*a*a*a*a*a*b", path), "a backtracking pattern ends (no match)");
}

static void test_paths(void) {
        static const char *const bad[] = { "../x", "/a/../b", "a//b", "a\\b", "a/%2e%2e/b", "a/" API_NS_DIR_MARKER "/b",
                                           "a/\n" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *rel = NULL;
                ok(api_ns_path_normalize(bad[i], &rel) == -EINVAL, "path '%s' is refused", bad[i]);
        }
        _cleanup_free_ char *rel = NULL, *root = NULL, *key = NULL;
        is_int(api_ns_path_normalize("/dir/f.txt", &rel), 0, "'/dir/f.txt' is a path");
        is_str(rel, "dir/f.txt", "... normalized without its leading '/'");
        is_int(api_ns_path_normalize("/", &root), 0, "'/' is the root");
        is_str(root, "", "... as ''");
        is_int(api_ns_file_key("company.team", "/q/x.sql", &key), 0, "a namespace file's key");
        is_str(key, "company/team/_files/q/x.sql", "... is Kestra's NS/_files/PATH");
}

static int put_text(Storage *s, const char *ns, const char *path, const char *text) {
        char tmpl[] = "/tmp/tern-nsf-XXXXXX";
        int fd = mkostemp(tmpl, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        unlink(tmpl);
        if (write(fd, text, strlen(text)) != (ssize_t) strlen(text) || lseek(fd, 0, SEEK_SET) < 0) {
                close(fd);
                return -EIO;
        }
        int r = api_ns_file_put_fd(s, ns, path, fd);
        close(fd);
        return r;
}

static char *list_str(Storage *s, const char *ns, const char *dir, bool recursive) {
        ApiNsFileList l = {};
        int r = api_ns_files_list(s, ns, dir, recursive, &l);
        if (r < 0)
                return strdup_printf("error %d", r);
        char *out = strdup("");
        for (size_t i = 0; i < l.n && out; i++) {
                char *n = strdup_printf("%s%s%s%s", out, *out ? " " : "", l.files[i].path, l.files[i].directory ? "/" : "");
                free(out);
                out = n;
        }
        api_ns_file_list_done(&l);
        return out;
}

static void test_operations(void) {
        char dir[] = "/tmp/tern-nsfiles-XXXXXX";
        if (!mkdtemp(dir)) {
                ok(false, "a temporary directory");
                return;
        }
        _cleanup_free_ char *url = strjoin("file://", dir, "/storage");
        Storage *s = NULL;
        is_int(storage_open(url, NULL, &s, NULL), 0, "a local storage");
        const char *ns = "t.nsf";
        is_int(put_text(s, ns, "/a.txt", "A"), 0, "upload /a.txt");
        is_int(put_text(s, ns, "q/x.sql", "select 1"), 0, "upload q/x.sql");
        is_int(put_text(s, ns, "q/deep/y.sql", "select 2"), 0, "upload q/deep/y.sql");
        is_int(put_text(s, ns, "/a.txt/inside", "no"), -ENOTDIR, "a file below a file is refused (-ENOTDIR)");
        is_int(put_text(s, ns, "/q", "no"), -EISDIR, "a file over a directory is refused (-EISDIR)");
        is_int(api_ns_dir_create(s, ns, "/empty"), 0, "create the empty directory /empty");

        _cleanup_free_ char *top = list_str(s, ns, "/", false), *rec = list_str(s, ns, "", true),
                             *sub = list_str(s, ns, "/q", false), *missing = list_str(s, ns, "/nope", false),
                             *of_file = list_str(s, ns, "/a.txt", false);
        is_str(top, "/a.txt /empty/ /q/", "the root lists its files and directories (the empty one too)");
        is_str(rec, "/a.txt /q/deep/y.sql /q/x.sql", "a recursive listing has every file, no directory marker");
        is_str(sub, "/q/deep/ /q/x.sql", "a directory lists its own entries");
        is_str(missing, "error -2", "a missing directory is -ENOENT");
        is_str(of_file, "error -20", "listing a file is -ENOTDIR");

        ApiNsFile f = {};
        is_int(api_ns_file_stat(s, ns, "q/x.sql", &f), 0, "stat of a file");
        ok(!f.directory && f.size == 8 && streq(f.path, "/q/x.sql"), "... its size and path");
        api_ns_file_done(&f);
        is_int(api_ns_file_stat(s, ns, "/q/deep", &f), 0, "stat of a directory");
        ok(f.directory, "... says directory");
        api_ns_file_done(&f);

        uint64_t n = 0;
        is_int(api_ns_file_delete(s, ns, "/q", false, &n), -ENOTEMPTY, "a non-empty directory needs recursive");
        is_int(api_ns_file_move(s, ns, "/q", "/r"), 0, "move a directory");
        is_int(api_ns_file_move(s, ns, "/a.txt", "/r/x.sql"), -EEXIST, "a move onto an existing file is refused");
        is_int(api_ns_file_move(s, ns, "/r", "/r/inner"), -EINVAL, "a move into itself is refused");
        _cleanup_free_ char *moved = list_str(s, ns, "", true);
        is_str(moved, "/a.txt /r/deep/y.sql /r/x.sql", "the directory's files moved with it");
        is_int(api_ns_file_delete(s, ns, "/r", true, &n), 0, "delete a directory recursively");
        is_int((int) n, 2, "... two files went");
        is_int(api_ns_file_delete(s, ns, "/empty", false, &n), 0, "an empty directory goes without recursive");
        is_int(api_ns_file_delete(s, ns, "/r", true, &n), -ENOENT, "deleting what is not there is -ENOENT");
        _cleanup_free_ char *left = list_str(s, ns, "/", false);
        is_str(left, "/a.txt", "only /a.txt is left");
        storage_free(s);
        _cleanup_free_ char *rm = strdup_printf("rm -rf '%s'", dir);
        (void) !system(rm);
}

int main(void) {
        test_patterns();
        test_paths();
        test_operations();
        return tap_done();
}

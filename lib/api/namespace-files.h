/* namespace-files.h: a namespace's files in internal storage (Kestra's namespace files, keys
 * NS/_files/PATH): listing, stat, upload, directories, delete and move, and the glob patterns that
 * select them (include/exclude, the namespace tasks), one implementation for the CLI, the API and
 * the worker. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "storage.h"
#include "timeutil.h"

/* Paths are written as Kestra writes them, "/dir/file", or without the leading '/'; "" and "/" are
 * the namespace's root directory; one trailing '/' is allowed. Anything else a storage key refuses
 * (key.h: "..", empty segments, backslashes, encoded traversal, control characters) is -EINVAL, as
 * is the name API_NS_DIR_MARKER.
 *
 * Object stores have no directories: a directory is what has files below it, or an empty one that
 * was created explicitly, kept as an empty object named API_NS_DIR_MARKER inside it (never listed).
 *
 * Errors: negative errno; -EINVAL a path refused before any request, -ENOENT nothing there,
 * -ENOTDIR a file where a directory is needed, -EISDIR the reverse, -EEXIST the target of a move
 * exists, -ENOTEMPTY a directory deleted without recursive, -E2BIG more than API_NS_FILES_MAX
 * entries; any other error is the storage's (storage_error()). */

#define API_NS_DIR_MARKER ".tern-directory"
#define API_NS_FILES_MAX 100000u

typedef struct ApiNsFile {
        char *path;      /* "/dir/name" */
        bool directory;
        uint64_t size;   /* 0 for a directory */
        usec_t mtime;    /* a directory's: its newest file's (0 when it has none) */
} ApiNsFile;

typedef struct ApiNsFileList {
        ApiNsFile *files; /* sorted by path, byte order */
        size_t n;
} ApiNsFileList;

void api_ns_file_list_done(ApiNsFileList *l);
static inline void api_ns_file_list_donep(ApiNsFileList *l) {
        api_ns_file_list_done(l);
}
#define _cleanup_api_ns_file_list_ _cleanup_(api_ns_file_list_donep)
void api_ns_file_done(ApiNsFile *f);

/* path without its leading and trailing '/' ("" for the root), checked. */
int api_ns_path_normalize(const char *path, char **ret);
/* The storage key of path in namespace ns (the root: the namespace's files directory). */
int api_ns_file_key(const char *ns, const char *path, char **ret);

/* The entries of directory dir: recursive, every file below it at any depth (no directories);
 * otherwise its files and directories. -ENOENT when dir is neither the root nor a directory,
 * -ENOTDIR when it is a file. */
int api_ns_files_list(Storage *s, const char *ns, const char *dir, bool recursive, ApiNsFileList *ret);

/* A file or a directory (the root always exists). */
int api_ns_file_stat(Storage *s, const char *ns, const char *path, ApiNsFile *ret);

/* Store fd (from its offset to its end) as file path, replacing a file of that name. -EISDIR when
 * path is a directory, -ENOTDIR when one of its parents is a file. */
int api_ns_file_put_fd(Storage *s, const char *ns, const char *path, int fd);

/* An empty directory (nothing when it exists); -ENOTDIR when path or a parent is a file. */
int api_ns_dir_create(Storage *s, const char *ns, const char *path);

/* Delete a file, or a directory with what it holds (-ENOTEMPTY unless recursive when it holds
 * anything). *ret_count (may be NULL): how many files went. */
int api_ns_file_delete(Storage *s, const char *ns, const char *path, bool recursive, uint64_t *ret_count);

/* Rename a file or a directory (each of its objects); -EEXIST when to exists, -EINVAL when to lies
 * inside from. */
int api_ns_file_move(Storage *s, const char *ns, const char *from, const char *to);

/* Kestra's selection of namespace files by pattern (PathMatcherPredicate): Java's glob syntax ('*'
 * within a segment, '**' across them, '?', [...] and [!...], {a,b}, '\\' escapes) matched against
 * the whole path with its leading '/'; a pattern that starts with a letter, digit or '_' matches at
 * any depth ("x.sql" matches /x.sql and /a/b/x.sql). "regex:" patterns are not supported: api_ns_pattern_invalid()
 * says why, a constant, or NULL for a usable pattern. A match is bounded work: a pattern that would
 * need more backtracking than that on a path does not match it. */
const char *api_ns_pattern_invalid(const char *pattern);
bool api_ns_pattern_match(const char *pattern, const char *path);

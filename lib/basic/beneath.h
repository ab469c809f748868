/* beneath.h: file operations on paths beneath a directory fd that never follow a symbolic link, never
 * leave the directory and never cross a mount point: for directories whose contents somebody else
 * controls (a task's working directory, where the task may plant links, FIFOs or hard links).
 *
 * Paths are relative, '/'-separated, without empty, "." or ".." components. Every function returns a
 * negative errno on failure; the refusals that mean "the path is not what it should be" are:
 *   -EINVAL   the path is empty, absolute, or has an empty, "." or ".." component
 *   -ELOOP    a component is a symbolic link
 *   -EXDEV    a component is a mount point, or the path would lead out of the directory
 *   -ENOTDIR  a parent component is not a directory
 *   -EISDIR   a regular file was wanted and this is a directory
 *   -EPERM    a regular file was wanted and this is a FIFO, socket or device
 *   -EMLINK   a regular file was wanted and it has other hard links (it may be a file from outside)
 * beneath_refusal() words them for a message. */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

typedef enum BeneathFlags {
        /* Resolve by a component walk (O_NOFOLLOW per step) even where openat2() exists: what
         * kernels before 5.6 get; tests use it to cover both ways. */
        BENEATH_NO_OPENAT2 = 1u << 0,
} BeneathFlags;

/* At most this many matches per beneath_glob() call, this deep below the directory, and this many
 * directory entries looked at in all (each "**" multiplies the ways a tree can be walked: the
 * work, not only the matches, must be bounded). */
#define BENEATH_GLOB_MAX_MATCHES 10000u
#define BENEATH_GLOB_MAX_DEPTH 64u
#define BENEATH_GLOB_MAX_WORK 100000u

/* True when path is relative and every component means only itself. */
bool beneath_path_valid(const char *path);

/* Why a path was refused, for "cannot keep 'PATH': <this>"; strerror() for other errors. */
const char *beneath_refusal(int r);

/* open(2) of path beneath dirfd; flags as for openat(2) (O_CLOEXEC and O_NOFOLLOW are added).
 * Returns the fd. */
int beneath_open(int dirfd, const char *path, int flags, mode_t mode, unsigned bflags);

/* The parent directory of path as an fd (O_RDONLY|O_DIRECTORY), creating missing directories with
 * dir_mode when create is set; *ret_base points into path at its last component. */
int beneath_open_parent(int dirfd, const char *path, bool create, mode_t dir_mode, unsigned bflags,
                        const char **ret_base);

/* A new regular file at path, opened O_RDWR, its parents created (0755). An existing file, FIFO or
 * symbolic link of that name is replaced (removed first, never followed); a directory is -EISDIR. */
int beneath_create(int dirfd, const char *path, mode_t mode, unsigned bflags);

/* An existing regular file with no other hard link, opened O_RDONLY (never blocking on a FIFO, and
 * looked at with O_PATH before it is opened, so that no device is ever opened; -EEXIST when it was
 * replaced in between); its stat in *ret_st when not NULL. */
int beneath_open_regular(int dirfd, const char *path, unsigned bflags, struct stat *ret_st);

/* Remove name (a file, a link or a whole tree) below dirfd without following any link. Missing is
 * success. */
int beneath_remove_tree(int dirfd, const char *name);
/* The same for an absolute path whose parent is trusted (a worker's own directory). */
int beneath_remove_path(const char *path);

/* Called for each entry matching a pattern: parentfd is its directory, name its last component,
 * rel its path below the glob's directory. A negative return stops the walk and is returned. */
typedef int (*BeneathGlobFn)(int parentfd, const char *name, const char *rel, void *userdata);

/* The entries below dirfd matching pattern: '/'-separated components with fnmatch(3) wildcards
 * (a leading '.' is matched only explicitly), and "**" for any number of directories. Symbolic
 * links are never followed: a link matched by the last component is passed to fn (which should
 * refuse it), one matched by a wildcard on the way is not entered, and a literal component on the
 * way that is a link fails with -ELOOP, with that path in *ret_refused (malloc'ed) when not NULL.
 * Entries come sorted per directory; "**" twice in a row counts once. Returns the number of matches, -E2BIG past
 * BENEATH_GLOB_MAX_MATCHES, BENEATH_GLOB_MAX_DEPTH or BENEATH_GLOB_MAX_WORK. */
int beneath_glob(int dirfd, const char *pattern, unsigned bflags, BeneathGlobFn fn, void *userdata,
                 char **ret_refused);

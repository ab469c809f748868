/* test-beneath: paths beneath a directory fd never follow a link or leave the directory, by openat2()
 * and by the component walk older kernels get; a link swapped in during the open is never followed. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "strutil.h"
#include "tap.h"

static char top[256];

static void put(const char *rel, const char *content) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", top, rel);
        FILE *f = fopen(p, "we");
        if (f) {
                fputs(content, f);
                fclose(f);
        }
}

static void at(const char *fmt, const char *rel, char *out, size_t n) {
        (void) fmt; /* always "%s/%s" */
        snprintf(out, n, "%s/%s", top, rel);
}

static char *slurp_fd(int fd) {
        char buf[256];
        ssize_t n = read(fd, buf, sizeof buf - 1);
        return n < 0 ? NULL : strndup(buf, (size_t) n);
}

typedef struct Collected {
        char **names;
        int refuse_links; /* count links seen */
} Collected;

static int collect(int parentfd, const char *name, const char *rel, void *userdata) {
        Collected *c = userdata;
        struct stat st;
        if (fstatat(parentfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
                c->refuse_links++;
        return strv_extend(&c->names, rel);
}

typedef struct Swapper {
        atomic_bool stop;
        char dir[512], tmp[512], outside[512];
} Swapper;

/* Flips "race/d" between a real directory and a link to the outside, as a task could. */
static void *swapper(void *userdata) {
        Swapper *s = userdata;
        while (!atomic_load(&s->stop)) {
                (void) symlink(s->outside, s->tmp);
                (void) rename(s->tmp, s->dir);   /* d is now the link */
                (void) unlink(s->dir);
                (void) mkdir(s->dir, 0755);
                char f[600];
                snprintf(f, sizeof f, "%s/secret", s->dir);
                FILE *fp = fopen(f, "we");
                if (fp) {
                        fputs("inside", fp);
                        fclose(fp);
                }
                (void) unlink(f);
                (void) rmdir(s->dir);
        }
        return NULL;
}

static void run(unsigned fl, const char *how) {
        char p[512], q[512];
        _cleanup_close_ int root = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        /* Escapes refused before any look-up. */
        is_int(beneath_open(root, "../outside/secret", O_RDONLY, 0, fl), -EINVAL, "'..' is refused");
        at("%s/%s", "outside/secret", p, sizeof p);
        is_int(beneath_open(root, p, O_RDONLY, 0, fl), -EINVAL, "an absolute path is refused");
        is_int(beneath_open(root, "work//x", O_RDONLY, 0, fl), -EINVAL, "an empty component is refused");

        _cleanup_close_ int work = beneath_open(root, "work", O_RDONLY | O_DIRECTORY, 0, fl);
        ok(work >= 0, "%s: the working directory opens", how);

        /* A link as the file, as its parent, and two levels up. */
        is_int(beneath_open_regular(work, "link-file", fl, NULL), -ELOOP, "a link to a file outside is refused");
        is_int(beneath_open_regular(work, "d/secret", fl, NULL), -ELOOP, "a linked parent is refused");
        is_int(beneath_open_regular(work, "a/b/c/secret", fl, NULL), -ELOOP, "a link two levels up is refused");
        is_int(beneath_open_regular(work, "abs/secret", fl, NULL), -ELOOP, "an absolute link is refused");
        is_int(beneath_open_regular(work, "fifo", fl, NULL), -EPERM, "a FIFO is refused, without blocking");
        is_int(beneath_open_regular(work, "sub", fl, NULL), -EISDIR, "a directory is refused");
        is_int(beneath_open_regular(work, "hard", fl, NULL), -EMLINK, "a hard link to a file outside is refused");
        is_int(beneath_open_regular(work, "missing", fl, NULL), -ENOENT, "a missing file is -ENOENT");
        _cleanup_close_ int fd = beneath_open_regular(work, "sub/ok.txt", fl, NULL);
        _cleanup_free_ char *got = fd >= 0 ? slurp_fd(fd) : NULL;
        is_str(got, "fine", "a regular file below opens");

        /* Creating never writes through a link: the link itself is replaced. */
        is_int(beneath_create(work, "d/pwned.txt", 0644, fl), -ELOOP, "creating below a linked directory is refused");
        at("%s/%s", "outside/pwned.txt", q, sizeof q);
        ok(access(q, F_OK) < 0, "and nothing was written outside");
        _cleanup_close_ int c = beneath_create(work, "link-victim", 0644, fl);
        ok(c >= 0 && write(c, "x", 1) == 1, "creating over a link replaces the link");
        at("%s/%s", "outside/victim", q, sizeof q);
        FILE *vf = fopen(q, "re");
        char v[16] = "";
        if (vf) {
                (void) !fgets(v, sizeof v, vf);
                fclose(vf);
        }
        is_str(v, "untouched", "the link's target is untouched");
        _cleanup_close_ int nested = beneath_create(work, "new/deep/file", 0644, fl);
        ok(nested >= 0, "parents are created");
        is_int(beneath_create(work, "sub", 0644, fl), -EISDIR, "a directory is not replaced by a file");

        /* Glob: sorted, links not entered, a literal link on the way refused with its path. */
        Collected col = { .names = calloc(1, sizeof(char *)) };
        int n = beneath_glob(work, "**/*.txt", fl, collect, &col, NULL);
        _cleanup_free_ char *joined = strv_join(col.names, ",");
        is_str(joined, "new/deep/x.txt,sub/ok.txt", "** matches below, sorted, without entering links");
        is_int(n, 2, "two matches");
        strv_free(col.names);
        col = (Collected) { .names = calloc(1, sizeof(char *)) };
        _cleanup_free_ char *refused = NULL;
        is_int(beneath_glob(work, "d/*", fl, collect, &col, &refused), -ELOOP, "a literal link on the way is refused");
        is_str(refused, "d", "and named");
        strv_free(col.names);
        col = (Collected) { .names = calloc(1, sizeof(char *)) };
        n = beneath_glob(work, "link-f*", fl, collect, &col, NULL);
        ok(n == 1 && col.refuse_links == 1, "a link matched at the end is handed over (for the caller to refuse)");
        strv_free(col.names);

        /* Removal never follows a link. */
        is_int(beneath_remove_tree(root, "work"), 0, "a tree with links in it is removed");
        at("%s/%s", "outside/secret", q, sizeof q);
        ok(access(q, F_OK) == 0, "and what the links pointed to is still there");
}

static void setup(void) {
        char p[512], q[512];
        const char *dirs[] = { "outside", "work", "work/sub", "work/a", "work/a/b", "work/new", "work/new/deep", "race" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                at("%s/%s", dirs[i], p, sizeof p);
                (void) mkdir(p, 0755);
        }
        put("outside/secret", "host secret");
        put("outside/victim", "untouched");
        put("work/sub/ok.txt", "fine");
        put("work/new/deep/x.txt", "x");
        at("%s/%s", "outside", p, sizeof p);
        at("%s/%s", "work/d", q, sizeof q);
        (void) symlink("../outside", q);
        at("%s/%s", "work/abs", q, sizeof q);
        (void) symlink(p, q);
        at("%s/%s", "work/a/b/c", q, sizeof q);
        (void) symlink("../../../outside", q);
        at("%s/%s", "work/link-file", q, sizeof q);
        (void) symlink("../outside/secret", q);
        at("%s/%s", "work/link-victim", q, sizeof q);
        (void) symlink("../outside/victim", q);
        at("%s/%s", "work/fifo", q, sizeof q);
        (void) mkfifo(q, 0644);
        at("%s/%s", "outside/secret", p, sizeof p);
        at("%s/%s", "work/hard", q, sizeof q);
        (void) link(p, q);
}

static char cmd0[512];

int main(void) {
        snprintf(top, sizeof top, "%s/test-beneath.XXXXXX", getenv("TMPDIR") ?: "/tmp");
        if (!mkdtemp(top)) {
                printf("1..0 # SKIP cannot make a temporary directory\n");
                return 0;
        }
        ok(beneath_path_valid("a/b.txt") && !beneath_path_valid("a/./b") && !beneath_path_valid("") &&
                   !beneath_path_valid("a/"),
           "path validity");
        setup();
        run(0, "openat2");
        setup();
        run(BENEATH_NO_OPENAT2, "component walk");

        /* The race: a task flips a directory and a link to the outside while the worker opens. */
        for (unsigned fl = 0; fl <= BENEATH_NO_OPENAT2; fl++) {
                Swapper s = {};
                snprintf(s.dir, sizeof s.dir, "%s/race/d", top);
                snprintf(s.tmp, sizeof s.tmp, "%s/race/d.tmp", top);
                snprintf(s.outside, sizeof s.outside, "%s/outside", top);
                pthread_t t;
                pthread_create(&t, NULL, swapper, &s);
                char rp[300];
                snprintf(rp, sizeof rp, "%s/race", top);
                _cleanup_close_ int race = open(rp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                unsigned leaked = 0, opened = 0;
                unsigned naive = 0;
                for (unsigned i = 0; i < 20000; i++) {
                        if (i % 2 == 0) { /* what a plain openat() would have read meanwhile */
                                int fd = openat(race, "d/secret", O_RDONLY | O_CLOEXEC);
                                char *c = fd >= 0 ? slurp_fd(fd) : NULL;
                                naive += c && strstr(c, "host");
                                free(c);
                                safe_close(fd);
                        }
                        int fd = beneath_open_regular(race, "d/secret", fl, NULL);
                        if (fd < 0)
                                continue;
                        opened++;
                        char *c = slurp_fd(fd);
                        if (c && strstr(c, "host"))
                                leaked++;
                        free(c);
                        close(fd);
                }
                atomic_store(&s.stop, true);
                pthread_join(t, NULL);
                ok(leaked == 0, "%s: a link swapped in while opening is never followed (%u opened inside, %u outside; "
                   "a plain openat() read the outside %u times)",
                   fl ? "walk" : "openat2", opened, leaked, naive);
        }

        /* "**" patterns over a deep tree: the work is bounded, not only the matches. */
        char deep[2048];
        int n = snprintf(deep, sizeof deep, "%s/deep", top);
        (void) mkdir(deep, 0755);
        for (unsigned i = 0; i < 40 && n < 1900; i++) {
                n += snprintf(deep + n, sizeof deep - (size_t) n, "/d");
                (void) mkdir(deep, 0755);
        }
        snprintf(cmd0, sizeof cmd0, "%s/deep", top);
        _cleanup_close_ int deepfd = open(cmd0, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        Collected col = { .names = calloc(1, sizeof(char *)) };
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int k = beneath_glob(deepfd, "**/**/**/**/**/**/**/**/**/**/nomatch", 0, collect, &col, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double dt = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        ok(k == 0 && dt < 2, "ten \"**\" in a row walk a 40-deep tree once (%d, %.2f s)", k, dt);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        k = beneath_glob(deepfd, "**/d/**/d/**/d/**/d/**/d/**/nomatch", 0, collect, &col, NULL);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        dt = (double) (t1.tv_sec - t0.tv_sec) + (double) (t1.tv_nsec - t0.tv_nsec) / 1e9;
        /* The budget is counted in steps, not time: the bound only catches a walk that does not stop (an
         * exponential one takes hours); a loaded machine under ASan takes seconds. */
        ok(k == -E2BIG && dt < 30, "\"**\" between names over a 40-deep tree stops at the work budget (%d, %.2f s)", k, dt);
        strv_free(col.names);

        /* A tree deeper than the worker has file descriptors, with a file at the bottom: removed. */
        _cleanup_close_ int topfd = open(top, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        (void) mkdirat(topfd, "tall", 0755);
        int cur = openat(topfd, "tall", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        unsigned levels = 0;
        for (; cur >= 0 && levels < 5000; levels++) {
                (void) mkdirat(cur, "d", 0700);
                int next = openat(cur, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
                close(cur);
                cur = next;
        }
        if (cur >= 0) {
                int f = openat(cur, "bottom", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
                safe_close(f);
                (void) fchmod(cur, 0500);
                close(cur);
        }
        struct stat st;
        ok(beneath_remove_tree(topfd, "tall") == 0 && fstatat(topfd, "tall", &st, AT_SYMLINK_NOFOLLOW) < 0 &&
                   errno == ENOENT,
           "a tree %u directories deep is removed whole", levels);
        DIR *dir = fdopendir(dup(topfd));
        unsigned left = 0;
        for (struct dirent *de; dir && (de = readdir(dir));)
                left += strstr(de->d_name, ".rm-") != NULL;
        if (dir)
                closedir(dir);
        is_int(left, 0, "nothing of it is left beside it");

        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", top);
        (void) !system(cmd);
        printf("1..%u\n", tap_count);
        return tap_failed ? 1 : 0;
}

/* test-macro: cleanup attributes run on scope exit; TAKE_PTR/TAKE_FD transfer ownership. */
#include <fcntl.h>
#include <sys/stat.h>

#include "macro.h"
#include "tap.h"

static int freed;
typedef struct Thing {
        int v;
} Thing;
static Thing *thing_free(Thing *t) {
        if (t)
                freed++;
        free(t);
        return NULL;
}
DEFINE_FREE_CLEANUP(Thing, thing_free)

static Thing *make(bool keep) {
        _cleanup_(thing_freep) Thing *t = calloc(1, sizeof *t);
        if (!keep)
                return NULL;
        return TAKE_PTR(t);
}

static int open_and_leak(bool keep, int *out) {
        _cleanup_close_ int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (keep)
                *out = TAKE_FD(fd);
        return 0;
}

int main(void) {
        freed = 0;
        Thing *t = make(false);
        ok(!t && freed == 1, "cleanup frees on early return");
        t = make(true);
        ok(t && freed == 1, "TAKE_PTR keeps the object alive");
        thing_free(t);

        int fd = -1;
        open_and_leak(true, &fd);
        struct stat st;
        ok(fd >= 0 && fstat(fd, &st) == 0, "TAKE_FD keeps the fd open");
        ok(fcntl(fd, F_GETFD) & FD_CLOEXEC, "fds are opened O_CLOEXEC");
        safe_close(fd);
        open_and_leak(false, &fd);

        ok(streq("a", "a") && !streq("a", "b"), "streq");
        ok(streq_ptr(NULL, NULL) && !streq_ptr("a", NULL), "streq_ptr handles NULL");
        is_str(startswith("io.kestra.x", "io.kestra."), "x", "startswith returns the rest");
        ok(startswith("abc", "b") == NULL, "startswith mismatch");
        ok(endswith("flow.yaml", ".yaml") && !endswith("a", "yaml"), "endswith");
        is_int(neg_errno(5), -5, "neg_errno");
        is_int(ELEMENTSOF(((int[]) { 1, 2, 3 })), 3, "ELEMENTSOF");
        return tap_done();
}

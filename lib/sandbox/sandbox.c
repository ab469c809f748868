/* sandbox.c: sandbox options: safe defaults, mode names, the byte sizes Kestra and Docker write. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "macro.h"
#include "sandbox.h"

void sandbox_options_init(SandboxOptions *o) {
        *o = (SandboxOptions) {
                .mode = SANDBOX_REQUIRED,
                .uid = SANDBOX_NOBODY,
                .gid = SANDBOX_NOBODY,
                .pids_max = 1024,
                .nofile = 1024,
        };
}

static const char *const mode_names[_SANDBOX_MODE_MAX] = {
        [SANDBOX_OFF] = "off",
        [SANDBOX_REQUIRED] = "required",
        [SANDBOX_BEST_EFFORT] = "best-effort",
};

const char *sandbox_mode_to_string(SandboxMode m) {
        return m >= 0 && m < _SANDBOX_MODE_MAX ? mode_names[m] : NULL;
}

SandboxMode sandbox_mode_from_string(const char *s) {
        for (int i = 0; s && i < _SANDBOX_MODE_MAX; i++)
                if (streq(s, mode_names[i]))
                        return (SandboxMode) i;
        return _SANDBOX_MODE_INVALID;
}

static const char *const step_names[_SANDBOX_STEP_MAX] = {
        [SANDBOX_STEP_PLAN] = "plan",
        [SANDBOX_STEP_CLONE] = "clone",
        [SANDBOX_STEP_HANDOFF] = "handoff",
        [SANDBOX_STEP_TREES] = "host trees",
        [SANDBOX_STEP_NAMESPACES] = "ids, hostname, loopback",
        [SANDBOX_STEP_MOUNTS] = "root mounts",
        [SANDBOX_STEP_PIVOT] = "pivot_root",
        [SANDBOX_STEP_CGROUP] = "(parallel) cgroup, net ns",
        [SANDBOX_STEP_CGROUP_WAIT] = "wait for the cgroup",
        [SANDBOX_STEP_EXEC] = "until exec",
        [SANDBOX_STEP_RUN] = "task runs",
        [SANDBOX_STEP_TEARDOWN] = "namespace teardown",
        [SANDBOX_STEP_CLEANUP] = "cgroup cleanup",
};

const char *sandbox_step_to_string(SandboxStep s) {
        return s >= 0 && s < _SANDBOX_STEP_MAX ? step_names[s] : NULL;
}

int sandbox_parse_bytes(const char *s, uint64_t *ret) {
        static const struct {
                const char *suffix;
                uint64_t factor;
        } units[] = {
                { "", 1 },          { "b", 1 },           { "k", 1024 },        { "kb", 1024 },
                { "kib", 1024 },    { "m", 1024 * 1024 }, { "mb", 1024 * 1024 }, { "mib", 1024 * 1024 },
                { "g", 1ULL << 30 }, { "gb", 1ULL << 30 }, { "gib", 1ULL << 30 }, { "t", 1ULL << 40 },
                { "tb", 1ULL << 40 }, { "tib", 1ULL << 40 },
        };
        char *end;

        if (!s || !isdigit((unsigned char) *s))
                return -EINVAL;
        errno = 0;
        unsigned long long v = strtoull(s, &end, 10);
        if (errno)
                return -errno;
        while (*end == ' ')
                end++;
        for (size_t i = 0; i < ELEMENTSOF(units); i++)
                if (strcasecmp(end, units[i].suffix) == 0) {
                        if (v > UINT64_MAX / units[i].factor)
                                return -ERANGE;
                        *ret = v * units[i].factor;
                        return 0;
                }
        return -EINVAL;
}

/* sandbox-config.h: the worker's sandbox settings as tern.conf's [sandbox] section and the CLI's
 * --sandbox-* options spell them (one parser for both), and the start-up check of what this
 * process can isolate. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "sandbox.h"

typedef struct SandboxConfig {
        SandboxOptions options; /* complete after sandbox_config_resolve(), with a pool (owned) */
        bool automatic;         /* mode "auto": the sandbox, without cgroup limits where there are none */
        bool works;             /* after resolve: the probe ran sandboxed (maybe without limits) */
        bool fallback_off;      /* auto: plain processes where no sandbox can be made (tern run; never
                                 * a daemon, whose tasks fail instead) */
        int userns;             /* -1: a user namespace when the process is not root; 0 no; 1 yes */
        char **binds_ro, **binds_rw, **hidden;
        int made_ahead;         /* sandboxes made ahead per plan (pool.h); -1: the pool's default */
} SandboxConfig;

/* Defaults: sandbox_options_init(), user namespace when not root; automatic selects mode "auto"
 * (with fallback_off). */
void sandbox_config_init(SandboxConfig *c, bool automatic);
void sandbox_config_done(SandboxConfig *c);

/* One setting: key is "mode" (auto, required, best-effort, off), "network" (yes/no),
 * "user-namespace" (auto/yes/no), "uid" (UID[:GID], not 0), "memory" (512MB...), "pids", "cpu"
 * (percent of one CPU), "bind-ro", "bind-rw", "hide" (absolute paths; several separated by blanks,
 * each call adds), "made-ahead" (0 to 3), "require-image" (yes/no). Returns 0, -EINVAL with *ret_error saying why ("'VALUE' must be ..."; the caller
 * frees it and names the setting), -ENOMEM. */
int sandbox_config_set(SandboxConfig *c, const char *key, const char *value, char **ret_error);

/* Every setting of tern.conf's [sandbox] section. -EINVAL with *ret_error = "[sandbox] KEY = 'VALUE'
 * must be ..." (the caller frees it), -ENOMEM. */
int sandbox_config_load(SandboxConfig *c, const TernConfig *cfg, char **ret_error);

/* Finish the options for a worker whose state lives in state_dir (masked inside the sandbox) and
 * check that a sandboxed process starts here. Mode auto becomes required when everything works,
 * best-effort when only the cgroup limits cannot be had, else off (fallback_off) or required; the
 * other modes stay as they are
 * (required: tasks will fail with the reason). *ret_problem (may be NULL) says what is missing, or
 * is NULL. The options keep pointers into c. -EINVAL: a setting cannot work (a bind whose host path
 * is not there, or whose INSIDE path cannot be made), *ret_problem says which and why; -ENOMEM. */
int sandbox_config_resolve(SandboxConfig *c, const char *state_dir, char **ret_problem);

/* "required, no network, user namespace, 1024 pids" for the start-up log line. */
char *sandbox_config_describe(const SandboxConfig *c);

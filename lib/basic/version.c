/* version.c: the version string, from meson's project version and the revision vcs_tag wrote. */
#include "version.h"
#include "revision.h"

const char *version_string(void) {
        return TERN_REVISION[0] ? TERN_VERSION " (git " TERN_REVISION ")" : TERN_VERSION;
}

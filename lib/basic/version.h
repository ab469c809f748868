/* version.h: the version tern was built as, with the source revision, for --version and logs. */
#pragma once

/* "0.1.0 (git 1a2b3c4d5e6f)", or just the version when the build did not know its revision
 * (a copy of the sources that came neither from git nor from git archive). Static storage. */
const char *version_string(void);

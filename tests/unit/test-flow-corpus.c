/* test-flow-corpus: every flow of the Kestra compatibility corpus loads and validates without an error. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include "flow.h"
#include "strutil.h"
#include "tap.h"

int main(void) {
        const char *root = getenv("KESTRA_COMPAT");
        _cleanup_free_ char *dir = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        DIR *d;

        if (!root)
                tap_skip_all("KESTRA_COMPAT not set");
        dir = strjoin(root, "/flows");
        d = dir ? opendir(dir) : NULL;
        if (!d)
                tap_skip_all("no Kestra corpus at $KESTRA_COMPAT/flows");
        while ((de = readdir(d)))
                if (endswith(de->d_name, ".yaml") || endswith(de->d_name, ".yml"))
                        strv_extend(&names, de->d_name);
        closedir(d);

        ok(strv_length(names) >= 104, "the corpus has at least 104 flows (%zu)", strv_length(names));
        for (char **n = names; n && *n; n++) {
                _cleanup_free_ char *path = strjoin(dir, "/", *n);
                _cleanup_flow_diagnostics_ FlowDiagnostics diags = FLOW_DIAGNOSTICS_INIT;
                _cleanup_flow_ Flow *f = NULL;
                int r = flow_load_file(path, &f, &diags);
                if (!ok(r == 0 && f && f->n_tasks > 0, "%s validates", *n))
                        for (size_t i = 0; i < diags.n; i++)
                                diag("  %u:%u: %s", diags.items[i].line, diags.items[i].column, diags.items[i].message);
        }
        return tap_done();
}

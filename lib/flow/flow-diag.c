/* flow-diag.c: positioned diagnostics (file:line:col: message) collected while loading a flow. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "flow-diag.h"
#include "strutil.h"

int flow_diagnostics_add(FlowDiagnostics *d, const char *file, unsigned line, unsigned column,
                         const char *fmt, ...) {
        va_list ap;
        char *msg = NULL;

        if (!d)
                return 0;
        if (d->n >= FLOW_DIAGNOSTICS_MAX) {
                d->n_dropped++;
                return 0;
        }
        if (d->n == d->cap) {
                size_t cap = d->cap ? d->cap * 2 : 8;
                FlowDiagnostic *n = reallocarray(d->items, cap, sizeof *n);
                if (!n)
                        return d->error = -ENOMEM;
                d->items = n;
                d->cap = cap;
        }
        va_start(ap, fmt);
        int r = vasprintf(&msg, fmt, ap);
        va_end(ap);
        if (r < 0)
                return d->error = -ENOMEM;
        FlowDiagnostic *e = &d->items[d->n];
        *e = (FlowDiagnostic) { .line = line, .column = column, .message = msg };
        if (file) {
                e->file = strdup(file);
                if (!e->file) {
                        free(msg);
                        return d->error = -ENOMEM;
                }
        }
        d->n++;
        return 0;
}

static int diag_cmp(const void *a, const void *b) {
        const FlowDiagnostic *x = a, *y = b;
        if (x->line != y->line)
                return x->line < y->line ? -1 : 1;
        if (x->column != y->column)
                return x->column < y->column ? -1 : 1;
        /* qsort is not stable: break ties by text so that the output is deterministic. */
        return strcmp(x->message, y->message);
}

void flow_diagnostics_sort(FlowDiagnostics *d) {
        if (d && d->n > 1)
                qsort(d->items, d->n, sizeof d->items[0], diag_cmp);
}

void flow_diagnostics_print(const FlowDiagnostics *d, FILE *f) {
        for (size_t i = 0; i < d->n; i++) {
                const FlowDiagnostic *e = &d->items[i];
                if (e->line > 0)
                        fprintf(f, "%s:%u:%u: %s\n", e->file ?: "<string>", e->line, e->column, e->message);
                else
                        fprintf(f, "%s: %s\n", e->file ?: "<string>", e->message);
        }
        if (d->n_dropped > 0)
                fprintf(f, "%s: %zu more errors not shown\n",
                        d->n > 0 && d->items[0].file ? d->items[0].file : "<string>", d->n_dropped);
}

void flow_diagnostics_done(FlowDiagnostics *d) {
        if (!d)
                return;
        for (size_t i = 0; i < d->n; i++) {
                free(d->items[i].file);
                free(d->items[i].message);
        }
        free(d->items);
        *d = (FlowDiagnostics) FLOW_DIAGNOSTICS_INIT;
}

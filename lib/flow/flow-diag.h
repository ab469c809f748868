/* flow-diag.h: positioned diagnostics (file:line:col: message) collected while loading a flow. */
#pragma once

#include <stdio.h>

#include "macro.h"

typedef struct FlowDiagnostic {
        char *file;      /* may be NULL (flow loaded from a string without a name) */
        unsigned line;   /* 1-based; 0 when the problem has no position */
        unsigned column; /* 1-based */
        char *message;
} FlowDiagnostic;

/* All problems of one load, not only the first. Zero-initialize (FLOW_DIAGNOSTICS_INIT) and release
 * with flow_diagnostics_done(). After FLOW_DIAGNOSTICS_MAX entries further ones are counted in
 * n_dropped only, so that a pathological file cannot make the list huge. */
typedef struct FlowDiagnostics {
        FlowDiagnostic *items;
        size_t n, cap;
        size_t n_dropped;
        int error; /* sticky -ENOMEM from an add that could not be recorded */
} FlowDiagnostics;

#define FLOW_DIAGNOSTICS_INIT { NULL, 0, 0, 0, 0 }
#define FLOW_DIAGNOSTICS_MAX 1000

int flow_diagnostics_add(FlowDiagnostics *d, const char *file, unsigned line, unsigned column,
                         const char *fmt, ...) _printf_(5, 6);
/* Stable sort by line then column, so that output reads top to bottom. */
void flow_diagnostics_sort(FlowDiagnostics *d);
/* Print every entry as "file:line:col: message\n" (file "<string>" when unnamed). */
void flow_diagnostics_print(const FlowDiagnostics *d, FILE *f);
void flow_diagnostics_done(FlowDiagnostics *d);

static inline void flow_diagnostics_donep(FlowDiagnostics *d) {
        flow_diagnostics_done(d);
}
#define _cleanup_flow_diagnostics_ _cleanup_(flow_diagnostics_donep)

/* fuzz-expr: libFuzzer target rendering arbitrary templates against a fixed context (invariants trap). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const vars_json =
        "{\"name\": \"World\", \"n\": 5, \"f\": 1.5, \"t\": true, \"nul\": null, \"list\": [1, 2, 3],"
        " \"map\": {\"a\": 1, \"b\": \"two\", \"c\": [{\"d\": 4}]}, \"date\": \"2024-03-15T10:20:30Z\","
        " \"json\": \"{\\\"a\\\": [1, {\\\"b\\\": null}]}\", \"tpl\": \"{{ name }}\", \"self\": \"{{ render(self) }}\","
        " \"outputs\": {\"t1\": {\"value\": \"v\"}}, \"taskrun\": {\"value\": \"v\"}, \"parents\": []}";

static int secret_cb(void *userdata, const char *key, char **ret) {
        if (strcmp(key, "s") != 0)
                return -ENOENT;
        *ret = strdup("secret");
        return *ret ? 0 : -ENOMEM;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static json_t *vars;
        char *tmpl, *out = NULL;
        json_t *v = NULL;
        ExprError err = {};

        if (!vars)
                vars = json_loads(vars_json, 0, NULL); /* kept for the process lifetime */
        if (size > 64 * 1024)
                return 0;
        tmpl = strndup((const char *) data, size);
        if (!tmpl)
                return 0;

        /* jq programs run in a child: short limits keep a looping one from eating the fuzzing time */
        ExprContext ctx = { .variables = vars, .secret = secret_cb, .now = 1710498030000000ULL,
                            .jq_timeout = 200 * USEC_PER_MSEC, .jq_max_memory = (size_t) 512 << 20 };
        int r = expr_render(tmpl, &ctx, &out, &err);
        if (r == -EINVAL && !err.message)
                __builtin_trap(); /* a refusal must say why */
        if (r >= 0 && !out)
                __builtin_trap();
        free(out);
        expr_error_done(&err);

        /* the typed path shares the parser but not the printing */
        r = expr_render_value(tmpl, &ctx, &v, &err);
        if (r >= 0 && !v)
                __builtin_trap();
        json_decref(v);
        expr_error_done(&err);
        free(tmpl);
        return 0;
}

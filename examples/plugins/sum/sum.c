/* sum.c: a native plugin of tern (docs/PLUGINS.md): the rendered properties as JSON, the worker's services. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include <tern/plugin.h>

static int sum_run(const char *type, const char *properties_json, const TernPluginServices *s) {
        json_t *props = json_loads(properties_json, 0, NULL);
        json_t *numbers = json_object_get(props, "numbers"), *n;
        const char *label = json_string_value(json_object_get(props, "label"));
        double sum = 0, delay = json_number_value(json_object_get(props, "delay"));
        char text[128], file[256];
        size_t i;
        int r = TERN_PLUGIN_SUCCESS;

        json_array_foreach(numbers, i, n) {
                if (!json_is_number(n)) {
                        s->fail(s->ctx, "every entry of 'numbers' must be a number");
                        r = TERN_PLUGIN_FAILED;
                        goto out;
                }
                /* Long work checks whether it must stop: it runs in the worker, nothing kills it. */
                for (double waited = 0; waited < delay; waited += 0.01) {
                        if (s->cancelled(s->ctx))
                                goto out;
                        nanosleep(&(struct timespec) { .tv_nsec = 10 * 1000 * 1000 }, NULL);
                }
                sum += json_number_value(n);
        }
        snprintf(text, sizeof text, "%s of %zu numbers: %g", label, json_array_size(numbers), sum);
        s->log(s->ctx, TERN_PLUGIN_LOG_INFO, text);
        snprintf(text, sizeof text, "%.17g", sum);
        s->output(s->ctx, "sum", text);
        s->metric(s->ctx, "gauge", label, sum, "{\"type\":\"example\"}");

        /* A file of the working directory, kept in internal storage. */
        snprintf(file, sizeof file, "%s/%s.txt", s->working_dir, label);
        FILE *f = fopen(file, "w");
        if (!f || fprintf(f, "%g\n", sum) < 0 || fclose(f) != 0) {
                r = -errno;
                goto out;
        }
        char *uri = NULL, quoted[1024];
        snprintf(file, sizeof file, "%s.txt", label);
        if ((r = s->storage_put(s->ctx, file, &uri)) < 0)
                goto out;
        snprintf(quoted, sizeof quoted, "\"%s\"", uri);
        s->output(s->ctx, "uri", quoted);
        free(uri);
out:
        json_decref(props);
        return r;
}

TERN_PLUGIN_DEFINE(sum_run)

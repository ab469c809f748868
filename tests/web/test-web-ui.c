/* test-web-ui.c: which files the web UI serves: known types only, nothing hidden, no link, no hard link, no FIFO, only the allowed Debian packages. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "strutil.h"
#include "tap.h"
#include "web-route.h"
#include "web-ui.h"

static char root[] = "/tmp/tern-test-web-ui.XXXXXX";

static void put(const char *rel, const char *content) {
        _cleanup_free_ char *p = strjoin(root, "/", rel);
        FILE *f = fopen(p, "we");
        if (f) {
                fputs(content, f);
                fclose(f);
        }
}

static void mk(const char *rel) {
        _cleanup_free_ char *p = strjoin(root, "/", rel);
        (void) mkdir(p, 0755);
}

/* The answer for a raw request path: the file's content, or NULL with *ret_r the error. */
static char *serve(WebUi *ui, const char *raw, int *ret_r, const char **ret_type) {
        _cleanup_strv_free_ char **segs = NULL;
        int r = web_path_parse(raw, &segs);
        if (r < 0) {
                *ret_r = r;
                return NULL;
        }
        WebUiFile f;
        r = web_ui_open(ui, segs, &f);
        *ret_r = r;
        if (r < 0)
                return NULL;
        char *buf = calloc(1, f.size + 1);
        if (buf && read(f.fd, buf, f.size) != (ssize_t) f.size)
                buf[0] = 0;
        close(f.fd);
        if (ret_type)
                *ret_type = f.content_type;
        return buf;
}

static void served(WebUi *ui, const char *raw, const char *content, const char *type) {
        int r;
        const char *t = NULL;
        _cleanup_free_ char *got = serve(ui, raw, &r, &t);
        ok(got && streq(got, content) && streq_ptr(t, type), "%s is served as %s (%s)", raw, type, got ? got : strerror(-r));
}

static void not_served(WebUi *ui, const char *raw, const char *why) {
        int r;
        _cleanup_free_ char *got = serve(ui, raw, &r, NULL);
        ok(!got && (r == -ENOENT || r == -EINVAL), "%s is not served: %s (%s)", raw, why, got ? "served" : strerror(-r));
}

int main(void) {
        if (!mkdtemp(root)) {
                printf("Bail out! mkdtemp: %m\n");
                return EXIT_FAILURE;
        }
        mk("ui");
        mk("ui/js");
        mk("ui/css");
        put("ui/index.html", "<!DOCTYPE html>");
        put("ui/js/app.js", "export {};");
        put("ui/css/tern.css", "body{}");
        put("ui/.secret.js", "hidden");
        put("ui/tool.sh", "#!/bin/sh");
        put("ui/README", "no extension");
        put("outside.js", "outside");
        _cleanup_free_ char *outside = strjoin(root, "/outside.js"), *slink = strjoin(root, "/ui/js/link.js"),
                            *dlink = strjoin(root, "/ui/up"), *hard = strjoin(root, "/ui/js/hard.js"),
                            *fifo = strjoin(root, "/ui/js/fifo.js"), *ui_dir = strjoin(root, "/ui"),
                            *js_dir = strjoin(root, "/js"), *parent = strdup(root);
        (void) !symlink(outside, slink);
        (void) !symlink(parent, dlink);
        (void) !link(outside, hard);
        (void) !mkfifo(fifo, 0644);
        mk("js");
        mk("js/codemirror");
        mk("js/codemirror/lib");
        mk("js/jquery");
        put("js/codemirror/lib/codemirror.js", "cm");
        put("js/jquery/jquery.js", "jq");
        _cleanup_free_ char *cm_alias = strjoin(root, "/js/codemirror/codemirror.js");
        (void) !symlink("lib/codemirror.js", cm_alias);

        WebUi *ui = NULL;
        is_int(web_ui_new("/nonexistent/tern-ui", NULL, &ui), -ENOENT, "a missing UI directory: -ENOENT");
        is_int(web_ui_new(ui_dir, js_dir, &ui), 0, "the UI directory opens");

        served(ui, "/", "<!DOCTYPE html>", "text/html; charset=utf-8");
        served(ui, "/index.html", "<!DOCTYPE html>", "text/html; charset=utf-8");
        served(ui, "/js/app.js", "export {};", "text/javascript; charset=utf-8");
        served(ui, "/css/tern.css", "body{}", "text/css; charset=utf-8");
        served(ui, "/vendor/codemirror/lib/codemirror.js", "cm", "text/javascript; charset=utf-8");
        not_served(ui, "/js/nothing.js", "no such file");
        not_served(ui, "/js", "a directory");
        not_served(ui, "/.secret.js", "hidden");
        not_served(ui, "/tool.sh", "an unknown type");
        not_served(ui, "/README", "no type at all");
        not_served(ui, "/js/link.js", "a symbolic link");
        not_served(ui, "/up/outside.js", "behind a symbolic link to a directory");
        not_served(ui, "/js/hard.js", "a hard link to a file from elsewhere");
        not_served(ui, "/js/fifo.js", "a FIFO");
        not_served(ui, "/js/../../outside.js", "'..' (refused by the path parser)");
        not_served(ui, "/js/%2e%2e/%2e%2e/outside.js", "an encoded '..'");
        not_served(ui, "/js%2f..%2f..%2foutside.js", "an encoded '/'");
        not_served(ui, "/api/v1/index.html", "anything under /api");
        not_served(ui, "/vendor/jquery/jquery.js", "a package that is not allowed");
        not_served(ui, "/vendor/codemirror/codemirror.js", "a package's own symbolic link");
        not_served(ui, "/vendor", "the vendor directory itself");
        not_served(ui, "/vendor/codemirror", "a package's directory");

        WebUiFile f1, f2;
        _cleanup_strv_free_ char **segs = NULL;
        web_path_parse("/js/app.js", &segs);
        int r1 = web_ui_open(ui, segs, &f1);
        if (r1 == 0)
                close(f1.fd);
        put("ui/js/app.js", "export const changed = 1;");
        int r2 = web_ui_open(ui, segs, &f2);
        if (r2 == 0)
                close(f2.fd);
        ok(r1 == 0 && r2 == 0 && f1.etag[0] == '"' && !streq(f1.etag, f2.etag), "a changed file gets another ETag (%s, %s)",
           r1 == 0 ? f1.etag : "", r2 == 0 ? f2.etag : "");
        web_ui_free(ui);

        _cleanup_free_ char *cmd = strjoin("rm -rf '", root, "'");
        if (cmd && system(cmd) != 0)
                fprintf(stderr, "cannot remove %s\n", root);
        return tap_done();
}

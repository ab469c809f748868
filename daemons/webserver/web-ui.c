/* web-ui.c: the web UI's static files and Debian's JavaScript packages (see web-ui.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "beneath.h"
#include "macro.h"
#include "strbuf.h"
#include "strutil.h"
#include "web-ui.h"

/* The third-party code the pages may load: Debian package directories under WEB_UI_JS_DIR. */
static const char *const vendor_packages[] = { "codemirror", "chart.js", NULL };

#define WEB_UI_DEPTH_MAX 16

struct WebUi {
        int dir_fd; /* O_PATH of ui_dir */
        int js_fd;  /* O_PATH of js_dir, or -1 */
};

int web_ui_new(const char *ui_dir, const char *js_dir, WebUi **ret) {
        _cleanup_(web_ui_freep) WebUi *ui = calloc(1, sizeof *ui);
        if (!ui)
                return -ENOMEM;
        ui->js_fd = -1;
        /* The directories themselves are the administrator's choice: followed if they are links. */
        ui->dir_fd = open(ui_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (ui->dir_fd < 0)
                return -errno;
        ui->js_fd = open(js_dir ?: WEB_UI_JS_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
        *ret = TAKE_PTR(ui);
        return 0;
}

WebUi *web_ui_free(WebUi *ui) {
        if (!ui)
                return NULL;
        safe_close(ui->dir_fd);
        safe_close(ui->js_fd);
        free(ui);
        return NULL;
}

static const char *content_type(const char *name) {
        static const struct {
                const char *ext, *type;
        } types[] = {
                { ".html", "text/html; charset=utf-8" },
                { ".js", "text/javascript; charset=utf-8" },
                { ".mjs", "text/javascript; charset=utf-8" },
                { ".css", "text/css; charset=utf-8" },
                { ".svg", "image/svg+xml" },
                { ".png", "image/png" },
                { ".ico", "image/vnd.microsoft.icon" },
                { ".json", "application/json" },
                { ".woff2", "font/woff2" },
                { ".txt", "text/plain; charset=utf-8" },
        };
        const char *dot = strrchr(name, '.');
        for (size_t i = 0; dot && i < ELEMENTSOF(types); i++)
                if (streq(dot, types[i].ext))
                        return types[i].type;
        return NULL;
}

int web_ui_open(WebUi *ui, char *const *segs, WebUiFile *ret) {
        static char *const index_segs[] = { (char *) "index.html", NULL };
        int dir = ui->dir_fd;
        if (!segs[0])
                segs = index_segs;
        else if (streq(segs[0], "api"))
                return -ENOENT;
        else if (streq(segs[0], "vendor")) {
                if (!segs[1] || !strv_contains((char **) vendor_packages, segs[1]) || ui->js_fd < 0)
                        return -ENOENT;
                dir = ui->js_fd;
                segs++;
        }
        /* Segments are decoded and free of '/', "." and ".." already (web_path_parse). */
        _cleanup_strbuf_ StrBuf path = STRBUF_INIT;
        size_t n = 0;
        for (char *const *s = segs; *s; s++, n++) {
                if ((*s)[0] == '.' || n >= WEB_UI_DEPTH_MAX)
                        return -ENOENT;
                strbuf_appendf(&path, "%s%s", n ? "/" : "", *s);
        }
        if (path.error)
                return path.error;
        const char *type = content_type(segs[n - 1]);
        if (!type)
                return -ENOENT;
        struct stat st;
        /* No symbolic link, no hard link to a file from elsewhere, no device, no other mount. */
        int fd = beneath_open_regular(dir, strbuf_str(&path), 0, &st);
        if (fd < 0)
                return fd == -ENOMEM ? fd : -ENOENT;
        *ret = (WebUiFile) { .fd = fd, .size = (uint64_t) st.st_size, .content_type = type };
        snprintf(ret->etag, sizeof ret->etag, "\"%llx-%llx-%llx\"", (unsigned long long) st.st_ino,
                 (unsigned long long) st.st_size,
                 (unsigned long long) st.st_mtim.tv_sec * 1000000000ULL + (unsigned long long) st.st_mtim.tv_nsec);
        return 0;
}

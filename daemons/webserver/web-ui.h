/* web-ui.h: the web UI's static files (HTML, CSS, ES modules) and Debian's JavaScript packages, resolved safely. */
#pragma once

#include <stdint.h>

#include "macro.h"

/* Where Debian's libjs-* packages put their files; served under /vendor/NAME/ for the packages
 * in WEB_UI_VENDOR_PACKAGES only. */
#define WEB_UI_JS_DIR "/usr/share/javascript"

/* Every UI answer carries these: no inline scripts or styles, nothing from elsewhere, no framing. */
#define WEB_UI_CSP                                                                                           \
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
        "font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

typedef struct WebUi WebUi;

/* Open ui_dir (the UI's files) and js_dir (NULL: WEB_UI_JS_DIR; a missing one only means no
 * third-party code, which the pages do without). -ENOENT or -ENOTDIR when ui_dir is not a directory. */
int web_ui_new(const char *ui_dir, const char *js_dir, WebUi **ret);
WebUi *web_ui_free(WebUi *ui);
DEFINE_FREE_CLEANUP(WebUi, web_ui_free)

typedef struct WebUiFile {
        int fd;                   /* O_RDONLY, the caller's */
        uint64_t size;
        const char *content_type; /* static */
        char etag[64];            /* quoted, from the file's inode, size and mtime */
} WebUiFile;

/* The file for a request path's segments (as web_path_parse() gave them): "/" is index.html,
 * /vendor/NAME/... a file of a Debian package, anything else a file below ui_dir. Only regular
 * files with a known extension are served; nothing hidden (a segment starting with '.'), no
 * symbolic link anywhere on the way, nothing on another mount, nothing under /api.
 * 0 with *ret; -ENOENT when there is no such file to serve (the caller answers as for an unknown
 * path); another negative errno on failure. */
int web_ui_open(WebUi *ui, char *const *segs, WebUiFile *ret);

/* web-nsfiles.c: Kestra's namespace file API (/api/v1/namespaces/{namespace}/files...): content,
 * stats, directory listings, upload, directories, delete, move and search, over the internal
 * storage (lib/api/namespace-files.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "fd-util.h"
#include "key.h"
#include "log.h"
#include "namespace-files.h"
#include "strutil.h"
#include "web-internal.h"

/* The namespace of the path and the storage; 0, or the reply is made (-1). These requests need no
 * database: the pooled connection goes back at once. */
static int nsfiles_begin(WebCtx *c, Storage **ret) {
        _cleanup_free_ char *key = NULL;
        web_store_release(c);
        int r = storage_key_namespace_file(c->params[0], NULL, &key);
        if (r == -ENOMEM)
                return web_reply_error(c, 500, "out of memory"), -1;
        if (r < 0)
                return web_reply_error(c, 422, "'%s' is not a valid namespace", c->params[0]), -1;
        if (web_storage(c, ret) < 0)
                return web_reply_error(c, 404, "this server has no usable internal storage"), -1;
        return 0;
}

/* The reply for a failed operation on path. */
static int nsfiles_error(WebCtx *c, Storage *s, int r, const char *path) {
        const char *ns = c->params[0];
        switch (r) {
        case -EINVAL:
                return web_reply_error(c, 422, "'%s' is not a valid namespace file path (no '..', '.', empty segments, "
                                               "backslashes, encoded '/' or '.', or control characters)", path);
        case -ENOENT:
                return web_reply_error(c, 404, "no file or directory '%s' in namespace '%s'", path, ns);
        case -ENOTDIR:
                return web_reply_error(c, 409, "'%s' in namespace '%s': a file stands where a directory is needed", path, ns);
        case -EISDIR:
                return web_reply_error(c, 409, "'%s' in namespace '%s' is a directory", path, ns);
        case -EEXIST:
                return web_reply_error(c, 409, "'%s' already exists in namespace '%s'", path, ns);
        case -E2BIG:
                return web_reply_error(c, 422, "namespace '%s' has more than %u files below '%s'", ns, API_NS_FILES_MAX, path);
        case -ENOMEM:
                return web_reply_error(c, 500, "out of memory");
        default:
                log_warning("webserver: namespace file '%s' of '%s': %s", path, ns, storage_error(s));
                return web_reply_error(c, 502, "the internal storage failed");
        }
}

static int no_content(WebCtx *c) {
        c->status = 204;
        c->content_type = NULL;
        return 0;
}

/* Kestra's FileAttributes. */
static json_t *file_attributes(const ApiNsFile *f) {
        const char *base = strrchr(f->path, '/');
        json_int_t ms = (json_int_t) (f->mtime / USEC_PER_MSEC);
        return json_pack("{s:s, s:I, s:I, s:s, s:I, s:{}}", "fileName", base ? base + 1 : f->path, "lastModifiedTime", ms,
                         "creationTime", ms, "type", f->directory ? "Directory" : "File", "size", (json_int_t) f->size,
                         "metadata");
}

int web_api_nsfile_content(WebCtx *c) {
        const char *path = web_query(c, "path");
        _cleanup_free_ char *key = NULL;
        ApiNsFile f = {};
        Storage *s;
        if (isempty(path))
                return web_reply_error(c, 400, "the query parameter 'path' is missing");
        if (nsfiles_begin(c, &s) < 0)
                return 0;
        int r = api_ns_file_stat(s, c->params[0], path, &f);
        bool directory = f.directory;
        uint64_t size = f.size;
        api_ns_file_done(&f);
        if (r < 0)
                return nsfiles_error(c, s, r, path);
        if (directory)
                return nsfiles_error(c, s, -EISDIR, path);
        if ((r = api_ns_file_key(c->params[0], path, &key)) < 0)
                return nsfiles_error(c, s, r, path);
        return web_reply_stored_file(c, key, size);
}

int web_api_nsfile_stats(WebCtx *c) {
        const char *path = web_query(c, "path") ?: "/";
        ApiNsFile f = {};
        Storage *s;
        if (nsfiles_begin(c, &s) < 0)
                return 0;
        int r = api_ns_file_stat(s, c->params[0], path, &f);
        if (r < 0)
                return nsfiles_error(c, s, r, path);
        json_t *j = file_attributes(&f);
        api_ns_file_done(&f);
        return web_reply_json(c, 200, j);
}

int web_api_nsfile_directory(WebCtx *c) {
        const char *path = web_query(c, "path") ?: "/";
        _cleanup_api_ns_file_list_ ApiNsFileList l = {};
        _cleanup_json_ json_t *arr = json_array();
        Storage *s;
        if (!arr)
                return web_reply_error(c, 500, "out of memory");
        if (nsfiles_begin(c, &s) < 0)
                return 0;
        int r = api_ns_files_list(s, c->params[0], path, false, &l);
        if (r < 0)
                return nsfiles_error(c, s, r, path);
        for (size_t i = 0; i < l.n; i++)
                if (json_array_append_new(arr, file_attributes(&l.files[i])) < 0)
                        return web_reply_error(c, 500, "out of memory");
        return web_reply_json(c, 200, TAKE_PTR(arr));
}

int web_api_nsfile_mkdir(WebCtx *c) {
        const char *path = web_query(c, "path") ?: "/";
        Storage *s;
        if (nsfiles_begin(c, &s) < 0)
                return 0;
        int r = api_ns_dir_create(s, c->params[0], path);
        return r < 0 ? nsfiles_error(c, s, r, path) : no_content(c);
}

int web_api_nsfile_create(WebCtx *c) {
        const char *path = web_query(c, "path");
        json_t *part = json_object_get(c->form_files, "fileContent");
        Storage *s;
        if (isempty(path))
                return web_reply_error(c, 400, "the query parameter 'path' is missing");
        if (!c->form_files && c->body_len > 0)
                return web_reply_error(c, 415, "expected a multipart/form-data body with the file as part 'fileContent'");
        if (c->form_files && !part)
                return web_reply_error(c, 400, "the multipart body has no part 'fileContent'");
        if (!part)
                return web_api_nsfile_mkdir(c); /* no content: a directory, as Kestra's older API did */
        if (nsfiles_begin(c, &s) < 0)
                return 0;
        const char *tmp = json_string_value(json_object_get(part, "path"));
        _cleanup_close_ int fd = tmp ? open(tmp, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -EBADF;
        if (fd < 0)
                return web_reply_error(c, 500, "the upload could not be read");
        int r = api_ns_file_put_fd(s, c->params[0], path, fd);
        return r < 0 ? nsfiles_error(c, s, r, path) : no_content(c);
}

int web_api_nsfile_delete(WebCtx *c) {
        const char *path = web_query(c, "path");
        Storage *s;
        if (isempty(path))
                return web_reply_error(c, 400, "the query parameter 'path' is missing");
        if (nsfiles_begin(c, &s) < 0)
                return 0;
        /* As Kestra: a directory goes with everything below it. */
        int r = api_ns_file_delete(s, c->params[0], path, true, NULL);
        return r < 0 ? nsfiles_error(c, s, r, path) : no_content(c);
}

int web_api_nsfile_move(WebCtx *c) {
        const char *from = web_query(c, "from"), *to = web_query(c, "to");
        Storage *s;
        if (isempty(from) || isempty(to))
                return web_reply_error(c, 400, "the query parameters 'from' and 'to' are required");
        if (nsfiles_begin(c, &s) < 0)
                return 0;
        int r = api_ns_file_move(s, c->params[0], from, to);
        if (r == -EINVAL)
                return web_reply_error(c, 422, "cannot move '%s' to '%s': a path is invalid, the root, or the target lies "
                                               "inside the source", from, to);
        if (r == -ENOENT)
                return nsfiles_error(c, s, r, from);
        return r < 0 ? nsfiles_error(c, s, r, to) : no_content(c);
}

int web_api_nsfile_search(WebCtx *c) {
        const char *q = web_query(c, "q") ?: "";
        _cleanup_api_ns_file_list_ ApiNsFileList l = {};
        _cleanup_json_ json_t *arr = json_array();
        Storage *s;
        if (!arr)
                return web_reply_error(c, 500, "out of memory");
        if (nsfiles_begin(c, &s) < 0)
                return 0;
        int r = api_ns_files_list(s, c->params[0], "/", true, &l);
        if (r < 0)
                return nsfiles_error(c, s, r, "/");
        for (size_t i = 0; i < l.n; i++)
                if (strstr(l.files[i].path, q) && json_array_append_new(arr, json_string(l.files[i].path)) < 0)
                        return web_reply_error(c, 500, "out of memory");
        return web_reply_json(c, 200, TAKE_PTR(arr));
}

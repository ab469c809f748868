/* web-files.c: the internal storage as the webserver uses it: a handle per request, and a stored
 * file streamed to the client as it comes from the storage, never held whole in memory. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "strutil.h"
#include "web-internal.h"

int web_storage(WebCtx *c, Storage **ret) {
        if (!c->storage_url)
                return -ENOTSUP;
        if (!c->storage) {
                /* A handle per request: a Storage serves one thread at a time, and requests have
                 * threads of their own. Opening one makes no request. */
                _cleanup_free_ char *err = NULL;
                int r = storage_open(c->storage_url, NULL, &c->storage, &err);
                if (r < 0) {
                        log_warning("webserver: cannot use the internal storage: %s", err ? err : strerror(-r));
                        return r;
                }
        }
        *ret = c->storage;
        return 0;
}

/* The storage writes into a pipe on a thread of its own; the connection's thread reads the other
 * end as libmicrohttpd asks for more. A client that goes away closes the reading end, and the
 * transfer stops at its next write (EPIPE: the daemons ignore SIGPIPE). */
typedef struct FileStream {
        Storage *storage;
        char *key;
        int pipe_r, pipe_w;
        pthread_t thread;
        bool started;
} FileStream;

static void *stream_thread(void *arg) {
        FileStream *f = arg;
        int r = storage_get_fd(f->storage, f->key, f->pipe_w);
        if (r < 0 && r != -EPIPE)
                log_warning("webserver: download of '%s' cut short: %s", f->key, storage_error(f->storage));
        f->pipe_w = safe_close(f->pipe_w);
        return NULL;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
        FileStream *f = cls;
        for (;;) {
                ssize_t n = read(f->pipe_r, buf, max);
                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return MHD_CONTENT_READER_END_WITH_ERROR;
                /* Short of the announced length: the storage failed midway; the client must see a
                 * broken transfer, not a complete-looking one. */
                return n == 0 ? MHD_CONTENT_READER_END_WITH_ERROR : n;
        }
}

static void stream_free(void *cls) {
        FileStream *f = cls;
        if (!f)
                return;
        f->pipe_r = safe_close(f->pipe_r);
        if (f->started)
                pthread_join(f->thread, NULL);
        safe_close(f->pipe_w);
        storage_free(f->storage);
        free(f->key);
        free(f);
}

int web_reply_stored_file(WebCtx *c, const char *key, uint64_t size) {
        int p[2];
        FileStream *f = calloc(1, sizeof *f);
        if (!f)
                return web_reply_error(c, 500, "out of memory");
        f->pipe_r = f->pipe_w = -EBADF;
        if (!(f->key = strdup(key)) || pipe2(p, O_CLOEXEC) < 0) {
                stream_free(f);
                return web_reply_error(c, 500, "the file could not be read");
        }
        f->pipe_r = p[0];
        f->pipe_w = p[1];
        f->storage = TAKE_PTR(c->storage); /* the thread's from now on */
        if (pthread_create(&f->thread, NULL, stream_thread, f) != 0) {
                stream_free(f);
                return web_reply_error(c, 500, "the file could not be read");
        }
        f->started = true;
        c->stream = MHD_create_response_from_callback(size, 64 * 1024, stream_read, f, stream_free);
        if (!c->stream) {
                stream_free(f);
                return web_reply_error(c, 500, "out of memory");
        }
        const char *base = strrchr(key, '/');
        _cleanup_free_ char *disp = strdup_printf("attachment; filename=\"%s\"", base ? base + 1 : key);
        for (char *q = disp ? disp + 22 : NULL; q && q[1]; q++)
                if (*q == '"' || *q == '\\' || (unsigned char) *q < 0x20)
                        *q = '_'; /* the header must stay one well-formed line */
        if (disp)
                MHD_add_response_header(c->stream, "Content-Disposition", disp);
        c->status = 200;
        c->content_type = "application/octet-stream";
        return 0;
}

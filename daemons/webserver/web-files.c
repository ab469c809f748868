/* web-files.c: the internal storage as the webserver uses it: handles pooled across requests, and a
 * stored file streamed to the client as it comes from the storage, never held whole in memory. */
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

/* A Storage serves one thread at a time and requests have threads of their own, so each request
 * takes a handle for itself; kept ones spare the next request the service's connection setup (a
 * TCP and TLS handshake per request otherwise). Never waited for: a download holds its handle as
 * long as its client reads, and slow clients must not hold up other requests; MHD's connection
 * limit bounds how many are in use at once. */
struct WebStoragePool {
        char *url;
        pthread_mutex_t lock;
        Storage **idle; /* n_idle of max_idle */
        size_t n_idle, max_idle, n_busy;
        uint64_t n_opened;
};

WebStoragePool *web_storage_pool_new(const char *url, size_t max_idle) {
        WebStoragePool *p = calloc(1, sizeof *p);
        if (!p)
                return NULL;
        p->max_idle = MAX(max_idle, (size_t) 1);
        if (!(p->url = strdup(url)) || !(p->idle = calloc(p->max_idle, sizeof(Storage *)))) {
                free(p->url);
                free(p);
                return NULL;
        }
        pthread_mutex_init(&p->lock, NULL);
        return p;
}

WebStoragePool *web_storage_pool_free(WebStoragePool *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_idle; i++)
                storage_free(p->idle[i]);
        free(p->idle);
        free(p->url);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return NULL;
}

static int pool_take(WebStoragePool *p, Storage **ret) {
        pthread_mutex_lock(&p->lock);
        Storage *s = p->n_idle > 0 ? p->idle[--p->n_idle] : NULL;
        p->n_busy++;
        pthread_mutex_unlock(&p->lock);
        if (!s) {
                /* Opening one makes no request. */
                _cleanup_free_ char *err = NULL;
                int r = storage_open(p->url, NULL, &s, &err);
                pthread_mutex_lock(&p->lock);
                if (r < 0)
                        p->n_busy--;
                else
                        p->n_opened++;
                pthread_mutex_unlock(&p->lock);
                if (r < 0) {
                        log_warning("webserver: cannot use the internal storage: %s", err ? err : strerror(-r));
                        return r;
                }
        }
        *ret = s;
        return 0;
}

void web_storage_pool_put(WebStoragePool *p, Storage *s) {
        if (!s)
                return;
        pthread_mutex_lock(&p->lock);
        p->n_busy--;
        if (p->n_idle < p->max_idle) {
                p->idle[p->n_idle++] = s;
                s = NULL;
        }
        pthread_mutex_unlock(&p->lock);
        storage_free(s); /* beyond what is kept */
}

void web_storage_pool_counts(WebStoragePool *p, size_t *ret_idle, size_t *ret_busy, uint64_t *ret_opened) {
        pthread_mutex_lock(&p->lock);
        *ret_idle = p->n_idle;
        *ret_busy = p->n_busy;
        *ret_opened = p->n_opened;
        pthread_mutex_unlock(&p->lock);
}

int web_storage(WebCtx *c, Storage **ret) {
        if (!c->storages)
                return -ENOTSUP;
        if (!c->storage) {
                int r = pool_take(c->storages, &c->storage);
                if (r < 0)
                        return r;
        }
        *ret = c->storage;
        return 0;
}

void web_storage_release(WebCtx *c) {
        if (c->storage)
                web_storage_pool_put(c->storages, c->storage);
        c->storage = NULL;
}

/* The storage writes into a pipe on a thread of its own; the connection's thread reads the other
 * end as libmicrohttpd asks for more. A client that goes away closes the reading end, and the
 * transfer stops at its next write (EPIPE: the daemons ignore SIGPIPE). */
typedef struct FileStream {
        WebStoragePool *pool; /* where storage goes back */
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
        web_storage_pool_put(f->pool, f->storage);
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
        f->pool = c->storages;
        f->storage = TAKE_PTR(c->storage); /* the thread's from now on, back in the pool when the reply is done */
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

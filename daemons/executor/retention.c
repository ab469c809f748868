/* retention.c: the periodic purge of old executions, their files and logs (see retention.h).
 *
 * It runs in the executor: every deployment has one (a scheduler is optional), and the executor
 * already holds the internal storage for the file functions of expressions. Several executors
 * purging at once is harmless: each batch deletes files first, then rows, and a file or row
 * another executor deleted meanwhile is simply gone. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "fd-util.h"
#include "log.h"
#include "purge.h"
#include "retention.h"
#include "storage.h"

struct Retention {
        Store *store;
        Storage *storage;
        usec_t keep, every;
        int stop_fd;
        pthread_t thread;
        bool running;
};

static void retention_once(Retention *t) {
        _cleanup_free_ char *err = NULL;
        ApiPurgeStats st = {};
        usec_t now = now_realtime();
        int r = api_purge(t->store, t->storage, now - t->keep, 100, now, &st, &err);
        if (r < 0)
                log_warning("Retention: %s; trying again later.", err ? err : strerror(-r));
        if (st.executions || st.logs || st.kv)
                log_info("Retention: deleted %llu ended execution(s) with their files, %llu log line(s), %llu expired "
                         "KV entr%s.",
                         (unsigned long long) st.executions, (unsigned long long) st.logs, (unsigned long long) st.kv,
                         st.kv == 1 ? "y" : "ies");
        if (st.uploads)
                log_info("Retention: aborted %llu upload(s) to the internal storage begun over a day ago and never completed.",
                         (unsigned long long) st.uploads);
}

static void *retention_thread(void *arg) {
        Retention *t = arg;
        for (;;) {
                retention_once(t);
                struct pollfd p = { t->stop_fd, POLLIN, 0 };
                if (poll(&p, 1, (int) MIN(t->every / USEC_PER_MSEC, (usec_t) INT32_MAX)) != 0)
                        break;
        }
        return NULL;
}

int retention_start(Store *store, const char *storage_url, usec_t keep, usec_t every, Retention **ret) {
        Retention *t = calloc(1, sizeof *t);
        if (!t) {
                store_free(store);
                return -ENOMEM;
        }
        t->store = store;
        t->keep = keep;
        t->every = every ?: MAX(MIN(keep / 10, 3600 * USEC_PER_SEC), USEC_PER_SEC);
        t->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        int r = t->stop_fd < 0 ? -errno : storage_open(storage_url, NULL, &t->storage, NULL);
        if (r >= 0 && (r = -pthread_create(&t->thread, NULL, retention_thread, t)) >= 0)
                t->running = true;
        if (r < 0) {
                retention_free(t);
                return r;
        }
        *ret = t;
        return 0;
}

Retention *retention_free(Retention *t) {
        uint64_t one = 1;
        if (!t)
                return NULL;
        if (t->running) {
                (void) !write(t->stop_fd, &one, sizeof one);
                pthread_join(t->thread, NULL);
        }
        safe_close(t->stop_fd);
        storage_free(t->storage);
        store_free(t->store);
        free(t);
        return NULL;
}

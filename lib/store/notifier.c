/* notifier.c: the in-process wake-up shared by the SQLite store handles of one process (eventfd + mutex). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "store-private.h"

/* SQLite has no LISTEN/NOTIFY; a standalone process runs all its components as threads with
 * their own handles (store_dup), so a commit posts to the other handles here. Each subscriber
 * owns an eventfd so it can be polled from a plain loop or an sd-event source. */

struct NotifierSub {
        NotifierSub *next;
        int fd;
        unsigned channels;
        unsigned pending;
};

struct Notifier {
        pthread_mutex_t lock;
        unsigned n_ref;
        NotifierSub *subs;
};

Notifier *notifier_new(void) {
        Notifier *n = calloc(1, sizeof(Notifier));
        if (!n)
                return NULL;
        if (pthread_mutex_init(&n->lock, NULL) != 0) {
                free(n);
                return NULL;
        }
        n->n_ref = 1;
        return n;
}

Notifier *notifier_ref(Notifier *n) {
        pthread_mutex_lock(&n->lock);
        n->n_ref++;
        pthread_mutex_unlock(&n->lock);
        return n;
}

Notifier *notifier_unref(Notifier *n) {
        unsigned left;
        if (!n)
                return NULL;
        pthread_mutex_lock(&n->lock);
        left = --n->n_ref;
        pthread_mutex_unlock(&n->lock);
        if (left == 0) {
                pthread_mutex_destroy(&n->lock);
                free(n);
        }
        return NULL;
}

int notifier_subscribe(Notifier *n, NotifierSub **ret) {
        NotifierSub *sub = calloc(1, sizeof(NotifierSub));
        if (!sub)
                return -ENOMEM;
        sub->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (sub->fd < 0) {
                int r = -errno;
                free(sub);
                return r;
        }
        pthread_mutex_lock(&n->lock);
        sub->next = n->subs;
        n->subs = sub;
        pthread_mutex_unlock(&n->lock);
        *ret = sub;
        return 0;
}

void notifier_unsubscribe(Notifier *n, NotifierSub *sub) {
        if (!n || !sub)
                return;
        pthread_mutex_lock(&n->lock);
        for (NotifierSub **p = &n->subs; *p; p = &(*p)->next)
                if (*p == sub) {
                        *p = sub->next;
                        break;
                }
        pthread_mutex_unlock(&n->lock);
        safe_close(sub->fd);
        free(sub);
}

void notifier_set_channels(Notifier *n, NotifierSub *sub, unsigned channels) {
        pthread_mutex_lock(&n->lock);
        sub->channels = channels;
        pthread_mutex_unlock(&n->lock);
}

void notifier_post(Notifier *n, unsigned channels) {
        static const uint64_t one = 1;

        if (channels == 0)
                return;
        pthread_mutex_lock(&n->lock);
        for (NotifierSub *s = n->subs; s; s = s->next) {
                unsigned m = s->channels & channels;
                if (m == 0)
                        continue;
                s->pending |= m;
                /* EAGAIN only when the counter is about to overflow: it is readable then anyway. */
                (void) !write(s->fd, &one, sizeof one);
        }
        pthread_mutex_unlock(&n->lock);
}

int notifier_sub_fd(NotifierSub *sub) {
        return sub->fd;
}

unsigned notifier_take(Notifier *n, NotifierSub *sub) {
        uint64_t v;
        unsigned m;

        pthread_mutex_lock(&n->lock);
        (void) !read(sub->fd, &v, sizeof v);
        m = sub->pending;
        sub->pending = 0;
        pthread_mutex_unlock(&n->lock);
        return m;
}

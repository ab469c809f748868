/* web-wait.c: requests that wait for an execution's end, bounded per client address and in all. */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "execution-wait.h"
#include "timeutil.h"
#include "web-wait.h"

/* One address family byte and up to 16 address bytes; family 0 is every client without an IP
 * address (a Unix socket), which are one client. */
#define WAIT_KEY_SIZE 17

typedef struct WaitClient {
        unsigned char key[WAIT_KEY_SIZE];
        unsigned n; /* 0: the entry is free */
} WaitClient;

struct WebWaits {
        pthread_mutex_t lock;
        unsigned max, per_client, n;
        WaitClient *clients; /* max entries: each waiting request uses at most one */
};

WebWaits *web_waits_new(unsigned max, unsigned per_client) {
        WebWaits *w = calloc(1, sizeof *w);
        if (!w)
                return NULL;
        if (!(w->clients = calloc(max ? max : 1, sizeof *w->clients))) {
                free(w);
                return NULL;
        }
        pthread_mutex_init(&w->lock, NULL);
        w->max = max;
        w->per_client = per_client;
        return w;
}

WebWaits *web_waits_free(WebWaits *w) {
        if (!w)
                return NULL;
        pthread_mutex_destroy(&w->lock);
        free(w->clients);
        free(w);
        return NULL;
}

/* An IPv4 client is the same one whether it arrives on an IPv4 or a dual-stack socket. */
static void client_key(const struct sockaddr *sa, unsigned char key[WAIT_KEY_SIZE]) {
        memset(key, 0, WAIT_KEY_SIZE);
        if (sa && sa->sa_family == AF_INET) {
                key[0] = 4;
                memcpy(key + 1, &((const struct sockaddr_in *) sa)->sin_addr, 4);
        } else if (sa && sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;
                if (IN6_IS_ADDR_V4MAPPED(a)) {
                        key[0] = 4;
                        memcpy(key + 1, a->s6_addr + 12, 4);
                } else {
                        key[0] = 6;
                        memcpy(key + 1, a->s6_addr, 16);
                }
        }
}

int web_wait_take(WebCtx *c, WebWaitSlot *ret) {
        return web_waits_take(c->waits, c, ret);
}

int web_waits_take(WebWaits *w, WebCtx *c, WebWaitSlot *ret) {
        const union MHD_ConnectionInfo *ci = c->con ? MHD_get_connection_info(c->con, MHD_CONNECTION_INFO_CLIENT_ADDRESS) : NULL;
        unsigned char key[WAIT_KEY_SIZE];
        size_t found = SIZE_MAX, free_entry = SIZE_MAX;
        int r = -EBUSY;

        if (!w) {
                *ret = (WebWaitSlot) {};
                return 0;
        }
        client_key(ci ? ci->client_addr : NULL, key);
        pthread_mutex_lock(&w->lock);
        for (size_t i = 0; i < w->max && found == SIZE_MAX; i++) {
                if (w->clients[i].n > 0 && memcmp(w->clients[i].key, key, WAIT_KEY_SIZE) == 0)
                        found = i;
                else if (w->clients[i].n == 0 && free_entry == SIZE_MAX)
                        free_entry = i;
        }
        if (w->n < w->max && (found != SIZE_MAX ? w->clients[found].n < w->per_client : free_entry != SIZE_MAX)) {
                if (found == SIZE_MAX) {
                        found = free_entry;
                        memcpy(w->clients[found].key, key, WAIT_KEY_SIZE);
                }
                w->clients[found].n++;
                w->n++;
                *ret = (WebWaitSlot) { .waits = w, .index = found };
                r = 0;
        }
        pthread_mutex_unlock(&w->lock);
        return r;
}

void web_wait_slot_release(WebWaitSlot *s) {
        WebWaits *w = s->waits;
        if (!w)
                return;
        pthread_mutex_lock(&w->lock);
        w->clients[s->index].n--;
        w->n--;
        pthread_mutex_unlock(&w->lock);
        *s = (WebWaitSlot) {};
}

int web_wait_execution(WebCtx *c, const char *id, json_t **doc) {
        _cleanup_store_ Store *s = NULL;
        int r = c->store ? store_dup(c->store, &s) : -EBADF;
        /* Either way the pooled connection goes back now: four slow callers must not starve every
         * other request, /health included. */
        web_store_release(c);
        if (r < 0)
                return r;
        ApiWaitOptions o = { .timeout = (usec_t) c->wait_max_sec * USEC_PER_SEC };
        return api_execution_wait(s, id, &o, api_wait_ended, NULL, doc);
}

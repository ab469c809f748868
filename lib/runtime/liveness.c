/* liveness.c: heartbeats and the coordinator's dead-instance sweep over the services table. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cleanup-jansson.h"
#include "liveness.h"
#include "strutil.h"

struct Liveness {
        Store *store;
        char *id, *component, *host;
        usec_t dead_after, started;
        json_t *info;
};

const char *liveness_error(const Liveness *l) {
        return store_error(l->store);
}

int liveness_new(Store *store, const LivenessOptions *opt, Liveness **ret) {
        Liveness *l = calloc(1, sizeof *l);
        if (!l) {
                store_free(store);
                return -ENOMEM;
        }
        char host[256] = "";
        (void) gethostname(host, sizeof host - 1);
        l->store = store;
        l->id = strdup(opt->id);
        l->component = strdup(opt->component);
        l->host = strdup(host);
        l->dead_after = opt->dead_after ? opt->dead_after : 30 * USEC_PER_SEC;
        if (!l->id || !l->component || !l->host) {
                liveness_free(l);
                return -ENOMEM;
        }
        *ret = l;
        return 0;
}

Liveness *liveness_free(Liveness *l) {
        if (!l)
                return NULL;
        store_free(l->store);
        free(l->id);
        free(l->component);
        free(l->host);
        json_decref(l->info);
        free(l);
        return NULL;
}

typedef struct PutCtx {
        Liveness *l;
        const char *state;
        usec_t now;
} PutCtx;

static int put_tx(StoreTx *tx, void *userdata) {
        PutCtx *c = userdata;
        StoreService svc = {
                .id = c->l->id, .component = c->l->component, .host = c->l->host, .pid = (int64_t) getpid(),
                .state = (char *) c->state, .started = c->l->started, .heartbeat = c->now, .info = c->l->info,
        };
        return store_service_put(tx, &svc);
}

int liveness_register(Liveness *l, json_t *info) {
        json_decref(l->info);
        l->info = json_incref(info);
        l->started = now_realtime();
        PutCtx c = { l, "RUNNING", store_clock_now(l->store) };
        return store_transact(l->store, put_tx, &c);
}

static int beat_tx(StoreTx *tx, void *userdata) {
        PutCtx *c = userdata;
        int r = store_service_heartbeat(tx, c->l->id, c->state, c->now);
        return r == -ENOENT ? LIVENESS_DEAD : r;
}

int liveness_beat(Liveness *l, const char *state) {
        /* The cluster's clock, which the coordinator compares it with: a step of this host's clock
         * must not make it look silent (stepped back) or immortal (stepped forward). */
        PutCtx c = { l, state, store_clock_now(l->store) };
        return store_transact(l->store, beat_tx, &c);
}

static int delete_tx(StoreTx *tx, void *userdata) {
        const char *id = userdata;
        int r = store_service_delete(tx, id);
        return r == -ENOENT ? 0 : r;
}

int liveness_unregister(Liveness *l) {
        return store_transact(l->store, delete_tx, l->id);
}

typedef struct ListCtx {
        usec_t since;
        StoreService *list;
        size_t n;
} ListCtx;

static int list_tx(StoreTx *tx, void *userdata) {
        ListCtx *c = userdata;
        store_services_free(c->list, c->n); /* a rerun starts over */
        c->list = NULL;
        c->n = 0;
        return store_service_list(tx, c->since, &c->list, &c->n);
}

int liveness_reap(Liveness *l, unsigned *ret_jobs) {
        usec_t now = store_clock_now(l->store);
        ListCtx c = { .since = now > l->dead_after ? now - l->dead_after : 1 };
        unsigned dead = 0, jobs = 0;
        int r = store_transact(l->store, list_tx, &c);
        if (r < 0)
                return r;
        for (size_t i = 0; i < c.n; i++) {
                if (streq(c.list[i].id, l->id))
                        continue; /* never ourselves: our own silence means our loop was stuck, not gone */
                /* Jobs first: if we fail half-way the row stays and the next sweep retries. A worker
                 * that comes back finds its row gone and exits; its late results are refused by epoch. */
                r = store_job_requeue_worker(l->store, c.list[i].id, STORE_RESUBMIT_WORKER_DEAD, now);
                if (r < 0)
                        break;
                jobs += (unsigned) r;
                r = store_transact(l->store, delete_tx, c.list[i].id);
                if (r < 0)
                        break;
                dead++;
        }
        store_services_free(c.list, c.n);
        if (ret_jobs)
                *ret_jobs = jobs;
        return r < 0 ? r : (int) dead;
}

int liveness_make_id(const char *component, const char *instance, char **ret) {
        char host[64] = "";
        uint32_t rnd = 0;
        (void) gethostname(host, sizeof host - 1);
        if (getrandom(&rnd, sizeof rnd, GRND_NONBLOCK) != sizeof rnd)
                rnd = (uint32_t) now_monotonic();
        char *s = strdup_printf("%s%s%s-%s-%d-%04x", component, isempty(instance) ? "" : "@", strempty(instance),
                                host[0] ? host : "localhost", (int) getpid(), (unsigned) (rnd & 0xffff));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

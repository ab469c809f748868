/* flow-cache.c: stored flow revisions parsed once per process (see flow-cache.h). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flow-cache.h"
#include "hashmap.h"

struct ApiFlowCache {
        pthread_mutex_t lock;
        Hashmap flows; /* "ns\0id\0revision" -> ApiFlow* (the cache holds one reference) */
        size_t max;
        uint64_t hits, parsed;
};

ApiFlow *api_flow_ref(ApiFlow *f) {
        if (f)
                atomic_fetch_add_explicit(&f->n_ref, 1, memory_order_relaxed);
        return f;
}

ApiFlow *api_flow_unref(ApiFlow *f) {
        if (!f)
                return NULL;
        if (atomic_fetch_sub_explicit(&f->n_ref, 1, memory_order_acq_rel) == 1) {
                flow_free((Flow *) f->flow);
                free(f);
        }
        return NULL;
}

int api_flow_cache_new(size_t max, ApiFlowCache **ret) {
        ApiFlowCache *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        if (pthread_mutex_init(&c->lock, NULL) != 0) {
                free(c);
                return -ENOMEM;
        }
        c->max = max ? max : API_FLOW_CACHE_SIZE_DEFAULT;
        *ret = c;
        return 0;
}

static ApiFlowCache *process_cache;
static pthread_once_t process_once = PTHREAD_ONCE_INIT;

static void process_cache_make(void) {
        (void) api_flow_cache_new(0, &process_cache);
}

ApiFlowCache *api_flow_cache_process(void) {
        (void) pthread_once(&process_once, process_cache_make);
        return process_cache;
}

static void drop_all(Hashmap *h) {
        for (size_t i = 0; i < h->n_buckets; i++)
                if (h->entries[i].key)
                        api_flow_unref(h->entries[i].value);
        hashmap_done(h);
}

ApiFlowCache *api_flow_cache_free(ApiFlowCache *c) {
        if (!c)
                return NULL;
        drop_all(&c->flows);
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
}

void api_flow_cache_stats(ApiFlowCache *c, ApiFlowCacheStats *ret) {
        pthread_mutex_lock(&c->lock);
        *ret = (ApiFlowCacheStats) { .hits = c->hits, .parsed = c->parsed, .size = hashmap_size(&c->flows) };
        pthread_mutex_unlock(&c->lock);
}

/* A new reference to the cached revision, or NULL; source (may be NULL: not read) must be its text. */
static ApiFlow *cache_get(ApiFlowCache *c, const char *const key[3], const char *source) {
        pthread_mutex_lock(&c->lock);
        ApiFlow *f = hashmap_get_parts(&c->flows, key, 3);
        if (f && source && !streq_ptr(f->flow->source, source))
                f = NULL; /* the row was rewritten behind the store's back: what it says now counts */
        if (f) {
                api_flow_ref(f);
                c->hits++;
        }
        pthread_mutex_unlock(&c->lock);
        return f;
}

/* Keep f (parsed by this thread) unless another thread was quicker: *f becomes the cached one. */
static int cache_put(ApiFlowCache *c, const char *const key[3], ApiFlow **f) {
        int r = 0;
        pthread_mutex_lock(&c->lock);
        ApiFlow *have = hashmap_get_parts(&c->flows, key, 3);
        if (have && streq_ptr(have->flow->source, (*f)->flow->source)) {
                api_flow_unref(*f);
                *f = api_flow_ref(have);
                goto done;
        }
        if (have) {
                /* Replaced: the cache's reference goes, holders keep theirs. */
                if ((r = hashmap_put_parts(&c->flows, key, 3, *f)) >= 0) {
                        api_flow_unref(have);
                        api_flow_ref(*f);
                        c->parsed++;
                }
                goto done;
        }
        c->parsed++;
        /* Full: start over. Entries in use stay alive with their holders; the revisions that are
         * still needed come back at their next use. */
        if (hashmap_size(&c->flows) >= c->max) {
                drop_all(&c->flows);
                c->flows = (Hashmap) HASHMAP_INIT;
        }
        if ((r = hashmap_put_parts(&c->flows, key, 3, *f)) >= 0)
                api_flow_ref(*f);
done:
        pthread_mutex_unlock(&c->lock);
        return r;
}

static int parse(const StoreFlow *sf, ApiFlow **ret) {
        char name[512];
        Flow *flow = NULL;
        snprintf(name, sizeof name, "%s.%s@%d", sf->namespace, sf->id, sf->revision);
        int r = flow_load_string(sf->source, strlen(sf->source), name, &flow, NULL);
        if (r == FLOW_INVALID)
                return -EBADMSG;
        if (r < 0)
                return r;
        flow->revision = sf->revision;
        ApiFlow *f = calloc(1, sizeof *f);
        if (!f) {
                flow_free(flow);
                return -ENOMEM;
        }
        f->flow = flow;
        atomic_init(&f->n_ref, 1);
        *ret = f;
        return 0;
}

int api_flow_from_store(ApiFlowCache *c, const StoreFlow *sf, ApiFlow **ret) {
        char rev[16];
        snprintf(rev, sizeof rev, "%d", sf->revision);
        const char *key[3] = { sf->namespace, sf->id, rev };
        ApiFlow *f = c ? cache_get(c, key, sf->source) : NULL;
        if (f) {
                *ret = f;
                return 0;
        }
        int r = parse(sf, &f);
        if (r < 0)
                return r;
        if (c && (r = cache_put(c, key, &f)) < 0) {
                api_flow_unref(f);
                return r;
        }
        *ret = f;
        return 0;
}

int api_flow_load(ApiFlowCache *c, StoreTx *tx, const char *ns, const char *id, int revision, ApiFlow **ret) {
        if (c && revision > 0) {
                /* A fixed revision never changes: no need to read it again. */
                char rev[16];
                snprintf(rev, sizeof rev, "%d", revision);
                const char *key[3] = { ns, id, rev };
                ApiFlow *f = cache_get(c, key, NULL);
                if (f) {
                        *ret = f;
                        return 0;
                }
        }
        _cleanup_(store_flow_done) StoreFlow sf = {};
        int r = store_flow_get(tx, ns, id, revision, &sf);
        if (r < 0)
                return r;
        return api_flow_from_store(c, &sf, ret);
}

int api_flow_load_owned(StoreTx *tx, const char *ns, const char *id, int revision, Flow **ret) {
        ApiFlow *f = NULL;
        int r = api_flow_load(NULL, tx, ns, id, revision, &f);
        if (r < 0)
                return r;
        /* Not cached: this is the only reference, and the flow can be handed over. */
        *ret = (Flow *) TAKE_PTR(f->flow);
        api_flow_unref(f);
        return 0;
}

/* flow-cache.h: loading a stored flow revision, parsed once per process and revision (one bounded, shared cache). */
#pragma once

#include <stdatomic.h>

#include "flow.h"
#include "macro.h"
#include "store.h"

/* Every front end that runs or starts a flow (executor, scheduler, webserver, CLI) reads the
 * revision it needs from the store and parses it here. Parsing is most of the cost, so a parsed
 * revision is kept in a cache keyed by (namespace, id, revision); a revision's source never
 * changes through the store, so an entry does not go stale. "Latest" (revision 0) costs one read
 * of the row to learn which revision that is (and a comparison of its text with the cached one's:
 * a row rewritten by hand is parsed again).
 *
 * One cache may be shared by the threads of one process (tern server standalone runs the
 * components as threads, each with its own Store): lookups are serialized by a mutex, and a
 * loaded flow is reference counted, so that one thread evicting an entry never frees a flow
 * another thread is using. The cache is bounded: beyond its size the entries not in use are
 * dropped (flows in use stay alive until their holders release them). */

typedef struct ApiFlowCache ApiFlowCache;

/* A loaded flow revision (flow->revision is set). Shared and read-only: release it with
 * api_flow_unref(). n_ref is the cache's business. */
typedef struct ApiFlow {
        const Flow *flow;
        atomic_uint n_ref;
} ApiFlow;

ApiFlow *api_flow_ref(ApiFlow *f);
ApiFlow *api_flow_unref(ApiFlow *f);
DEFINE_FREE_CLEANUP(ApiFlow, api_flow_unref)
#define _cleanup_api_flow_ _cleanup_(api_flow_unrefp)

#define API_FLOW_CACHE_SIZE_DEFAULT 256u

/* max: parsed revisions kept (0: API_FLOW_CACHE_SIZE_DEFAULT). */
int api_flow_cache_new(size_t max, ApiFlowCache **ret);
/* The cache must outlive no flow it handed out: a released flow goes back to it. (Flows still
 * held when it is freed stay valid until released.) */
ApiFlowCache *api_flow_cache_free(ApiFlowCache *c);
DEFINE_FREE_CLEANUP(ApiFlowCache, api_flow_cache_free)
#define _cleanup_api_flow_cache_ _cleanup_(api_flow_cache_freep)

/* The process's cache, made on first use and kept until exit: what the components of one process
 * (tern server standalone, tern run) share. NULL when it cannot be made (callers then parse afresh:
 * api_flow_load accepts a NULL cache). */
ApiFlowCache *api_flow_cache_process(void);

typedef struct ApiFlowCacheStats {
        uint64_t hits, parsed; /* parsed: revisions read and parsed (misses) */
        size_t size;           /* entries now */
} ApiFlowCacheStats;
void api_flow_cache_stats(ApiFlowCache *c, ApiFlowCacheStats *ret);

/* Flow ns.id at revision (0: the latest) as stored, read in tx. c may be NULL: parsed afresh, not
 * kept. Returns 0 with a reference; -ENOENT when there is no such revision (or the latest is
 * deleted); -EBADMSG when the stored source does not validate (with this tern's rules); or the
 * store's error. */
int api_flow_load(ApiFlowCache *c, StoreTx *tx, const char *ns, const char *id, int revision, ApiFlow **ret);
/* A revision of one's own (not cached, not shared: the caller may change it and frees it). */
int api_flow_load_owned(StoreTx *tx, const char *ns, const char *id, int revision, Flow **ret);
/* The same as api_flow_load for a row already read (store_flow_list, store_flow_get). */
int api_flow_from_store(ApiFlowCache *c, const StoreFlow *sf, ApiFlow **ret);

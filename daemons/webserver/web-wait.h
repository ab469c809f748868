/* web-wait.h: requests that wait for an execution's end: how many may wait at once, and the wait. */
#pragma once

#include <jansson.h>

#include "web-internal.h"

/* At most max waiting requests in all, per_client of them from one client address. */
WebWaits *web_waits_new(unsigned max, unsigned per_client);
WebWaits *web_waits_free(WebWaits *w);

/* A request's place among the waiting ones; {} holds none. */
typedef struct WebWaitSlot {
        WebWaits *waits;
        size_t index;
} WebWaitSlot;

/* Take a place for the client of c's connection: 0, or -EBUSY when that client (or the server in
 * all) already has as many requests waiting as allowed. Take it before creating what the request
 * waits for, so that a refusal changes nothing. */
int web_wait_take(WebCtx *c, WebWaitSlot *ret);
/* The same in another table (the server's follow streams). */
int web_waits_take(WebWaits *w, WebCtx *c, WebWaitSlot *ret);
/* Give the place back (nothing for {}); a cleanup. */
void web_wait_slot_release(WebWaitSlot *s);

/* Wait until execution id ended or c->wait_max_sec passed, on a store connection of its own: the
 * pooled one is released first (web_store_release), so c->store is NULL afterwards. *doc is
 * replaced by the latest document. Returns 1 when it ended, 0 at the deadline, or a negative errno. */
int web_wait_execution(WebCtx *c, const char *id, json_t **doc);

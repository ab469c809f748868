/* hashmap.h: a small open-addressing hash map from strings to pointers (keys are copied). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct HashmapEntry {
        char *key;  /* NULL: empty slot */
        void *value;
        size_t hash;
} HashmapEntry;

typedef struct Hashmap {
        HashmapEntry *entries;
        size_t n_entries;
        size_t n_buckets; /* power of two, or 0 */
} Hashmap;

#define HASHMAP_INIT { NULL, 0, 0 }

/* Insert or replace. Returns 0, or -ENOMEM. */
int hashmap_put(Hashmap *h, const char *key, void *value);
/* Same, with a key given as several parts joined by '\0' (compound keys without formatting). */
int hashmap_put_parts(Hashmap *h, const char *const *parts, size_t n, void *value);
void *hashmap_get(const Hashmap *h, const char *key);
void *hashmap_get_parts(const Hashmap *h, const char *const *parts, size_t n);
size_t hashmap_size(const Hashmap *h);
void hashmap_done(Hashmap *h);
static inline void hashmap_donep(Hashmap *h) {
        hashmap_done(h);
}
#define _cleanup_hashmap_ _cleanup_(hashmap_donep)

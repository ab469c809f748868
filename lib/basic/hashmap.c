/* hashmap.c: open addressing with linear probing; no removal (maps are built, used, dropped). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

/* Keys are stored as the parts joined with '\0' plus a length, so compound keys need no escaping. */
typedef struct Key {
        const char *const *parts;
        size_t n;
} Key;

static size_t key_len(Key k) {
        size_t l = 0;
        for (size_t i = 0; i < k.n; i++)
                l += strlen(k.parts[i] ? k.parts[i] : "") + 1;
        return l;
}

static size_t key_hash(Key k) {
        uint64_t h = 1469598103934665603ULL; /* FNV-1a */
        for (size_t i = 0; i < k.n; i++) {
                for (const unsigned char *p = (const unsigned char *) (k.parts[i] ? k.parts[i] : ""); *p; p++)
                        h = (h ^ *p) * 1099511628211ULL;
                h = (h ^ 0xff) * 1099511628211ULL;
        }
        return (size_t) (h ^ (h >> 29));
}

static bool key_equal(Key k, const char *stored) {
        for (size_t i = 0; i < k.n; i++) {
                const char *p = k.parts[i] ? k.parts[i] : "";
                size_t l = strlen(p);
                if (memcmp(stored, p, l) != 0 || stored[l] != 0)
                        return false;
                stored += l + 1;
        }
        return *stored == 1; /* terminator */
}

static char *key_store(Key k) {
        size_t l = key_len(k);
        char *s = malloc(l + 1), *p = s;
        if (!s)
                return NULL;
        for (size_t i = 0; i < k.n; i++) {
                const char *part = k.parts[i] ? k.parts[i] : "";
                size_t pl = strlen(part);
                memcpy(p, part, pl + 1);
                p += pl + 1;
        }
        *p = 1;
        return s;
}

static HashmapEntry *find_slot(HashmapEntry *entries, size_t n_buckets, Key k, size_t hash) {
        for (size_t i = hash & (n_buckets - 1);; i = (i + 1) & (n_buckets - 1)) {
                HashmapEntry *e = &entries[i];
                if (!e->key || (e->hash == hash && key_equal(k, e->key)))
                        return e;
        }
}

static int grow(Hashmap *h) {
        size_t nb = h->n_buckets ? h->n_buckets * 2 : 16;
        HashmapEntry *ne = calloc(nb, sizeof(HashmapEntry));
        if (!ne)
                return -ENOMEM;
        for (size_t i = 0; i < h->n_buckets; i++) {
                HashmapEntry *e = &h->entries[i];
                if (!e->key)
                        continue;
                size_t j = e->hash & (nb - 1);
                while (ne[j].key)
                        j = (j + 1) & (nb - 1);
                ne[j] = *e;
        }
        free(h->entries);
        h->entries = ne;
        h->n_buckets = nb;
        return 0;
}

int hashmap_put_parts(Hashmap *h, const char *const *parts, size_t n, void *value) {
        Key k = { parts, n };
        if ((h->n_entries + 1) * 4 > h->n_buckets * 3 && grow(h) < 0)
                return -ENOMEM;
        size_t hash = key_hash(k);
        HashmapEntry *e = find_slot(h->entries, h->n_buckets, k, hash);
        if (!e->key) {
                e->key = key_store(k);
                if (!e->key)
                        return -ENOMEM;
                e->hash = hash;
                h->n_entries++;
        }
        e->value = value;
        return 0;
}

int hashmap_put(Hashmap *h, const char *key, void *value) {
        return hashmap_put_parts(h, &key, 1, value);
}

void *hashmap_get_parts(const Hashmap *h, const char *const *parts, size_t n) {
        if (!h->n_buckets)
                return NULL;
        Key k = { parts, n };
        HashmapEntry *e = find_slot(h->entries, h->n_buckets, k, key_hash(k));
        return e->key ? e->value : NULL;
}

void *hashmap_get(const Hashmap *h, const char *key) {
        return hashmap_get_parts(h, &key, 1);
}

size_t hashmap_size(const Hashmap *h) {
        return h->n_entries;
}

void hashmap_done(Hashmap *h) {
        for (size_t i = 0; i < h->n_buckets; i++)
                free(h->entries[i].key);
        free(h->entries);
        *h = (Hashmap) HASHMAP_INIT;
}

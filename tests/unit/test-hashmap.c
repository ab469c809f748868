/* test-hashmap: insert, replace, lookup, growth, compound keys (NULL parts and embedded boundaries). */
#include <stdio.h>

#include "hashmap.h"
#include "tap.h"

int main(void) {
        _cleanup_hashmap_ Hashmap h = HASHMAP_INIT;
        char key[32];
        int values[5000];

        ok(hashmap_get(&h, "missing") == NULL, "empty map finds nothing");
        for (int i = 0; i < 5000; i++) {
                values[i] = i;
                snprintf(key, sizeof key, "key-%d", i);
                if (hashmap_put(&h, key, &values[i]) < 0)
                        break;
        }
        is_int(hashmap_size(&h), 5000, "5000 entries");
        bool all = true;
        for (int i = 0; i < 5000; i++) {
                snprintf(key, sizeof key, "key-%d", i);
                int *v = hashmap_get(&h, key);
                if (!v || *v != i)
                        all = false;
        }
        ok(all, "every entry found after growth");
        hashmap_put(&h, "key-7", &values[8]);
        ok(*(int *) hashmap_get(&h, "key-7") == 8 && hashmap_size(&h) == 5000, "replace keeps the size");

        int a = 1, b = 2, c = 3;
        const char *k1[] = { "task", "parent", NULL };
        const char *k2[] = { "task", "parent", "" };
        const char *k3[] = { "taskparent", "", NULL };
        hashmap_put_parts(&h, k1, 3, &a);
        hashmap_put_parts(&h, k2, 3, &b);
        ok(hashmap_get_parts(&h, k1, 3) == &b, "a NULL part equals an empty part");
        hashmap_put_parts(&h, k3, 3, &c);
        ok(hashmap_get_parts(&h, k1, 3) == &b && hashmap_get_parts(&h, k3, 3) == &c, "part boundaries matter");
        const char *k4[] = { "task" };
        ok(hashmap_get_parts(&h, k4, 1) == NULL, "a prefix of a compound key is another key");
        return tap_done();
}

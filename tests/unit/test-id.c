/* test-id: identifiers are 22 URL-safe characters and do not repeat. */
#include <stdlib.h>

#include "id.h"
#include "tap.h"

static int cmp(const void *a, const void *b) {
        return strcmp(a, b);
}

int main(void) {
        enum { N = 20000 };
        char(*ids)[ID_MAX] = calloc(N, ID_MAX);
        bool all_valid = true;

        for (int i = 0; i < N; i++) {
                if (id_new(ids[i]) < 0 || !id_is_valid(ids[i]))
                        all_valid = false;
                for (const char *c = ids[i]; *c; c++)
                        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
                                all_valid = false;
        }
        ok(all_valid, "every id is 22 base62 characters");
        qsort(ids, N, ID_MAX, cmp);
        bool unique = true;
        for (int i = 1; i < N; i++)
                if (strcmp(ids[i - 1], ids[i]) == 0)
                        unique = false;
        ok(unique, "%d ids are unique", N);
        ok(!id_is_valid("short"), "short string is not an id");
        ok(!id_is_valid("0123456789abcdefghij-_"), "'-' and '_' are not id characters");
        free(ids);
        return tap_done();
}

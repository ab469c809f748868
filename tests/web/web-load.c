/* web-load.c: a bounded HTTP load client: N requests over C keep-alive connections (libcurl),
 * prints requests/second and latency percentiles. Usage: web-load URL AUTH N C [POST-BODY]. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timeutil.h"

typedef struct Load {
        const char *url, *auth, *body;
        size_t per_thread;
        usec_t *lat;
        size_t failed;
} Load;

static size_t discard(char *p, size_t s, size_t n, void *u) {
        (void) p, (void) u;
        return s * n;
}

static void *run(void *arg) {
        Load *l = arg;
        CURL *c = curl_easy_init();
        struct curl_slist *h = curl_slist_append(NULL, l->auth);
        if (l->body)
                h = curl_slist_append(h, "Content-Type: application/json");
        if (!c || !h) {
                l->failed = l->per_thread;
                return NULL;
        }
        curl_easy_setopt(c, CURLOPT_URL, l->url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        if (l->body)
                curl_easy_setopt(c, CURLOPT_POSTFIELDS, l->body);
        for (size_t i = 0; i < l->per_thread; i++) {
                usec_t t0 = now_monotonic();
                long code = 0;
                if (curl_easy_perform(c) != CURLE_OK || curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
                    code != 200)
                        l->failed++;
                l->lat[i] = now_monotonic() - t0;
        }
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        return NULL;
}

static int cmp(const void *a, const void *b) {
        usec_t x = *(const usec_t *) a, y = *(const usec_t *) b;
        return x < y ? -1 : x > y;
}

int main(int argc, char *argv[]) {
        if (argc < 5) {
                fprintf(stderr, "Usage: web-load URL AUTH-HEADER N CONNECTIONS [POST-BODY]\n");
                return 2;
        }
        size_t n = strtoul(argv[3], NULL, 10), conns = strtoul(argv[4], NULL, 10);
        if (n == 0 || conns == 0 || conns > 256)
                return 2;
        curl_global_init(CURL_GLOBAL_DEFAULT);
        Load *loads = calloc(conns, sizeof *loads);
        pthread_t *threads = calloc(conns, sizeof *threads);
        usec_t *all = calloc(n, sizeof *all);
        if (!loads || !threads || !all)
                return 1;
        size_t per = n / conns;
        usec_t t0 = now_monotonic();
        for (size_t i = 0; i < conns; i++) {
                loads[i] = (Load) { argv[1], argv[2], argc > 5 ? argv[5] : NULL, per, all + i * per, 0 };
                pthread_create(&threads[i], NULL, run, &loads[i]);
        }
        size_t failed = 0;
        for (size_t i = 0; i < conns; i++) {
                pthread_join(threads[i], NULL);
                failed += loads[i].failed;
        }
        usec_t total = now_monotonic() - t0;
        size_t done = per * conns;
        qsort(all, done, sizeof *all, cmp);
        printf("%zu requests over %zu connections: %.0f requests/s, p50 %.2f ms, p99 %.2f ms, %zu failed\n", done, conns,
               (double) done * 1e6 / (double) total, all[done / 2] / 1000.0, all[done * 99 / 100] / 1000.0, failed);
        free(all);
        free(threads);
        free(loads);
        curl_global_cleanup();
        return failed ? 1 : 0;
}

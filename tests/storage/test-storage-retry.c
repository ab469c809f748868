/* test-storage-retry: the service backends' retries against flaky-s3.py: 503 SlowDown, 500 and 429
 * are retried with backoff, a body cut off midway is resumed where it stopped (never twice), an
 * object replaced meanwhile is -ESTALE, and a service that keeps failing gives a clear error. And
 * against a port where nothing listens for a while: a service down for seconds is waited out
 * (retry_for), and one that stays down fails once retry_for has passed. Uploads from a file: a part
 * retried is read again from its own range of the file, none is held in memory, a file that shrank
 * fails clearly; from a pipe, parts in memory as before. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "storage.h"
#include "strutil.h"
#include "tap.h"

typedef struct Sink {
        unsigned char *buf;
        size_t len, cap;
} Sink;

/* Grown by doubling: 16 MiB objects arrive 16 KiB at a time, and a copy per chunk takes long. */
static int sink_write(void *userdata, const void *buf, size_t n) {
        Sink *k = userdata;
        if (k->len + n > k->cap) {
                size_t cap = MAX(k->len + n, 2 * k->cap);
                unsigned char *b = realloc(k->buf, cap);
                if (!b)
                        return -ENOMEM;
                k->buf = b;
                k->cap = cap;
        }
        memcpy(k->buf + k->len, buf, n);
        k->len += n;
        return 0;
}

typedef struct Mem {
        const char *data;
        size_t len, off;
} Mem;

static ssize_t mem_read(void *userdata, void *buf, size_t n) {
        Mem *m = userdata;
        n = MIN(n, m->len - m->off);
        memcpy(buf, m->data + m->off, n);
        m->off += n;
        return (ssize_t) n;
}

static size_t keep(char *data, size_t size, size_t n, void *userdata) {
        return fwrite(data, size, n, userdata) * size;
}

/* GET endpoint/path with plain curl (the server's own control paths). */
static char *fetch(const char *endpoint, const char *path) {
        char *out = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&out, &len);
        CURL *c = curl_easy_init();
        _cleanup_free_ char *url = strjoin(endpoint, path);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, f);
        (void) curl_easy_perform(c);
        curl_easy_cleanup(c);
        fclose(f);
        return out;
}

/* A loopback port nobody listens on (yet). */
static int free_port(void) {
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t len = sizeof a;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) < 0 || getsockname(fd, (struct sockaddr *) &a, &len) < 0)
                return -1;
        close(fd);
        return ntohs(a.sin_port);
}

/* After a while (a restart), a server on the port that answers one request 200. */
typedef struct LateServer {
        int port;
        usec_t after;
} LateServer;

static void *late_server(void *userdata) {
        LateServer *l = userdata;
        usleep(l->after);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                                 .sin_port = htons((uint16_t) l->port) };
        int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (fd < 0 || bind(fd, (struct sockaddr *) &a, sizeof a) < 0 || listen(fd, 4) < 0)
                return NULL;
        int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
        char buf[8192];
        size_t n = 0;
        ssize_t k;
        /* The request's head, then its 7-byte body. */
        while (c >= 0 && n < sizeof buf - 1 && (k = read(c, buf + n, sizeof buf - 1 - n)) > 0) {
                n += (size_t) k;
                buf[n] = 0;
                char *end = strstr(buf, "\r\n\r\n");
                if (end && n >= (size_t) (end - buf) + 4 + 7)
                        break;
        }
        static const char reply[] = "HTTP/1.1 200 OK\r\nETag: \"late\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        if (c >= 0)
                (void) !write(c, reply, sizeof reply - 1);
        if (c >= 0)
                close(c);
        close(fd);
        return NULL;
}

static void test_down_for_a_while(void) {
        int port = free_port();
        if (port < 0) {
                ok(false, "a free port: %m");
                return;
        }
        _cleanup_free_ char *url = strdup_printf("s3://late?endpoint=http://127.0.0.1:%d", port);
        /* The default options: before retry_for, five attempts gave up after about 3 s. */
        StorageOptions opt = { .access_key = "AK", .secret_key = "SK" };
        _cleanup_storage_ Storage *s = NULL;
        is_int(storage_open(url, &opt, &s, NULL), 0, "open a store whose service is down");
        LateServer l = { port, 4500 * USEC_PER_MSEC };
        pthread_t t;
        pthread_create(&t, NULL, late_server, &l);
        usec_t since = now_monotonic();
        Mem m = { "payload", 7, 0 };
        int r = storage_put(s, "after-restart", mem_read, &m);
        if (!is_int(r, 0, "a put while the service is down for 4.5 s (connections refused): stored once it is back"))
                diag("%s", storage_error(s));
        ok(now_monotonic() - since >= l.after, "after it came back (%.1f s)", (double) (now_monotonic() - since) / USEC_PER_SEC);
        pthread_join(t, NULL);

        /* Down for good: the retries end once retry_for has passed, and the message says so. */
        _cleanup_storage_ Storage *d = NULL;
        opt.retry_for = 1 * USEC_PER_SEC;
        opt.retry_delay = 50 * USEC_PER_MSEC;
        is_int(storage_open(url, &opt, &d, NULL), 0, "open it again with retry_for 1 s");
        since = now_monotonic();
        m.off = 0;
        is_int(storage_put(d, "never", mem_read, &m), -ECONNREFUSED, "a service that stays down: -ECONNREFUSED");
        usec_t took = now_monotonic() - since;
        ok(took >= 500 * USEC_PER_MSEC && took < 3 * USEC_PER_SEC, "given up within retry_for (%.1f s)",
           (double) took / USEC_PER_SEC);
        ok(strstr(storage_error(d), "attempts over") && strstr(storage_error(d), "never"),
           "the message says how often and how long: %s", storage_error(d));
}

/* The bytes of a large object: not one part like another. */
static ssize_t pattern_read(void *userdata, void *buf, size_t n) {
        size_t *left = userdata, k = MIN(n, *left);
        for (size_t i = 0; i < k; i++)
                ((unsigned char *) buf)[i] = (unsigned char) ((*left - i) * 13 % 253);
        *left -= k;
        return (ssize_t) k;
}

static void test_parts(const char *url, const char *endpoint) {
        const size_t part = 5u << 20, total = 3 * part + 12345;
        StorageOptions opt = { .access_key = "AK", .secret_key = "SK", .attempts = 2, .retry_delay = 10 * USEC_PER_MSEC,
                               .part_size = part };
        _cleanup_storage_ Storage *s = NULL;
        _cleanup_free_ char *err = NULL;
        if (!is_int(storage_open(url, &opt, &s, &err), 0, "open with 5 MiB parts"))
                diag("%s", strna(err));
        size_t left = total;
        int r = storage_put(s, "parts", pattern_read, &left);
        if (!is_int(r, 0, "a 4-part upload whose parts take 0.3 s each"))
                diag("%s", storage_error(s));
        Sink k = { 0 };
        is_int(storage_get(s, "parts", sink_write, &k), 0, "get it");
        bool same = k.len == total;
        for (size_t i = 0; same && i < k.len; i++)
                same = k.buf[i] == (unsigned char) ((total - i) * 13 % 253);
        ok(same, "every byte in order (%zu of %zu)", k.len, total);
        free(k.buf);
        _cleanup_free_ char *maxpar = fetch(endpoint, "/__maxpar");
        ok(maxpar && streq(maxpar, "2"), "two parts were in flight at once, never more (%s)", strna(maxpar));

        /* parts_in_flight: three at once, in order all the same. */
        _cleanup_storage_ Storage *s3 = NULL;
        StorageOptions opt3 = opt;
        opt3.parts_in_flight = 3;
        const size_t total5 = 5 * part + 777;
        left = total5;
        r = storage_open(url, &opt3, &s3, NULL);
        r = r < 0 ? r : storage_put(s3, "parts3", pattern_read, &left);
        if (!is_int(r, 0, "a 6-part upload, three parts in flight"))
                diag("%s", s3 ? storage_error(s3) : "cannot open");
        k = (Sink) { 0 };
        is_int(storage_get(s, "parts3", sink_write, &k), 0, "get it");
        same = k.len == total5;
        for (size_t i = 0; same && i < k.len; i++)
                same = k.buf[i] == (unsigned char) ((total5 - i) * 13 % 253);
        ok(same, "every byte in order (%zu of %zu)", k.len, total5);
        free(k.buf);
        free(maxpar);
        maxpar = fetch(endpoint, "/__maxpar");
        ok(maxpar && streq(maxpar, "3"), "three parts were in flight at once, never more (%s)", strna(maxpar));

        left = total;
        r = storage_put(s, "parts-fail", pattern_read, &left);
        is_int(r, -EACCES, "a part refused with 403: the upload fails");
        ok(strstr(storage_error(s), "403") && strstr(storage_error(s), "AccessDenied") && strstr(storage_error(s), "parts-fail"),
           "saying which object and why: %s", storage_error(s));
        k = (Sink) { 0 };
        is_int(storage_get(s, "parts-fail", sink_write, &k), -ENOENT, "no object is visible");
        free(k.buf);
        _cleanup_free_ char *log = fetch(endpoint, "/__log");
        ok(log && strstr(log, "DELETE /flaky/parts-fail"), "the multipart upload was aborted");
}

/* Bytes other than the object's, before it in the files below: a part read from the wrong offset
 * shows. */
#define FILE_LEAD 1000u

/* An unnamed temporary file: FILE_LEAD bytes of 0xee, then total bytes of pattern_read's. */
static int pattern_file(size_t total) {
        const char *dir = getenv("TMPDIR") ?: "/tmp";
        _cleanup_free_ char *path = strjoin(dir, "/test-storage-retry.XXXXXX");
        int fd = path ? mkstemp(path) : -1;
        if (fd < 0)
                return -1;
        (void) unlink(path);
        static char buf[1u << 16];
        memset(buf, 0xee, FILE_LEAD);
        bool ok = write(fd, buf, FILE_LEAD) == FILE_LEAD;
        for (size_t left = total; ok && left > 0;) {
                size_t k = (size_t) pattern_read(&left, buf, sizeof buf);
                ok = write(fd, buf, k) == (ssize_t) k;
        }
        if (!ok) {
                close(fd);
                return -1;
        }
        return fd;
}

/* Part 2 of a 4-part upload refused once with 503: that part alone is sent again, the others
 * once each, within the one multipart upload (S3, GCS's XML API) or set of staged blocks (Azure).
 * From pattern_read, or (fd >= 0) from pattern_file()'s file, its parts read from it as they go. */
static void test_part_retried(const char *url, const char *endpoint, const char *path, const char *kind, int fd) {
        const size_t part = 5u << 20, total = 3 * part + 12345;
        StorageOptions opt = { .access_key = "AK", .secret_key = "SK", .sas_token = "sv=x&sig=y", .attempts = 3,
                               .retry_delay = 10 * USEC_PER_MSEC, .part_size = part, .file_part_size = part };
        _cleanup_storage_ Storage *s = NULL;
        _cleanup_free_ char *err = NULL;
        const char *key = strrchr(path, '/') + 1;
        if (!ok(storage_open(url, &opt, &s, &err) == 0, "%s: open '%s'", kind, url)) {
                diag("%s", strna(err));
                return;
        }
        size_t left = total;
        int r = fd >= 0 ? storage_put_file(s, key, fd, FILE_LEAD, total) : storage_put(s, key, pattern_read, &left);
        if (!ok(r == 0, "%s: a 4-part upload%s whose part 2 is answered 503 once: stored", kind,
                fd >= 0 ? " from a file" : ""))
                diag("%s", storage_error(s));
        Sink k = { 0 };
        ok(storage_get(s, key, sink_write, &k) == 0, "%s: get it", kind);
        bool same = k.len == total;
        for (size_t i = 0; same && i < k.len; i++)
                same = k.buf[i] == (unsigned char) ((total - i) * 13 % 253);
        ok(same, "%s: every byte in order (%zu of %zu)", kind, k.len, total);
        free(k.buf);

        _cleanup_free_ char *plog = fetch(endpoint, "/__parts");
        _cleanup_strv_free_ char **lines = NULL;
        (void) strv_split(strempty(plog), "\n", &lines);
        unsigned tries[5] = { 0 }, refused = 0;
        for (char **l = lines; l && *l; l++) {
                unsigned n;
                char status[8];
                const char *rest = startswith(*l, path);
                if (!rest || sscanf(rest, " %u %7s", &n, status) != 2 || n == 0 || n > 4)
                        continue;
                tries[n]++;
                refused += streq(status, "503");
        }
        ok(tries[1] == 1 && tries[2] == 2 && tries[3] == 1 && tries[4] == 1 && refused == 1,
           "%s: part 2 was sent twice (refused, then stored), parts 1, 3 and 4 once (%u %u %u %u)", kind, tries[1],
           tries[2], tries[3], tries[4]);
        if (!streq(kind, "azure")) {
                _cleanup_free_ char *log = fetch(endpoint, "/__log");
                _cleanup_free_ char *start = strdup_printf("POST %s - uploads=", path);
                unsigned begun = 0;
                for (const char *q = log; q && (q = strstr(q, start)); q++)
                        begun++;
                ok(begun == 1, "%s: one multipart upload, not begun again (%u)", kind, begun);
        }
}

/* What the process has had in memory at most, in KiB. */
static long peak_rss_kib(void) {
        _cleanup_(fclosep) FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        long kb = -1;
        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "VmHWM: %ld", &kb) == 1)
                        break;
        return kb;
}

/* A 64 MiB file in two 32 MiB parts, both in flight at once: none of it in memory (held in two
 * buffers, fresh pages, the parts would raise the process's peak by 64 MiB). After test_parts:
 * run before it, it left test_parts seeing two parts in flight where three were sent. */
static void test_file_memory(const char *url) {
        const size_t total = 64u << 20;
        int fd = pattern_file(total);
        if (!ok(fd >= 0, "a 64 MiB file"))
                return;
        StorageOptions opt = { .access_key = "AK", .secret_key = "SK", .attempts = 2, .file_part_size = 32u << 20 };
        _cleanup_storage_ Storage *s = NULL;
        long before = peak_rss_kib();
        int r = storage_open(url, &opt, &s, NULL);
        r = r < 0 ? r : storage_put_file(s, "parts-big", fd, FILE_LEAD, total);
        if (!is_int(r, 0, "a 64 MiB file in 32 MiB parts, two in flight"))
                diag("%s", s ? storage_error(s) : "cannot open");
        long after = peak_rss_kib();
        ok(before > 0 && after - before < 16 * 1024, "the process's peak memory grew by %ld KiB (under 16 MiB)",
           after - before);
        close(fd);
}

typedef struct Feed {
        int fd;
        size_t left;
} Feed;

static void *feed_pipe(void *userdata) {
        Feed *f = userdata;
        static char buf[1u << 16];
        while (f->left > 0) {
                size_t k = (size_t) pattern_read(&f->left, buf, sizeof buf);
                if (write(f->fd, buf, k) != (ssize_t) k)
                        break;
        }
        close(f->fd);
        return NULL;
}

/* storage_put_fd: from a file at its offset, in one request (retried: read again from the file);
 * from a pipe, which cannot be read twice, in parts held in memory; a file shorter than said. */
static void test_put_fd(const char *url, const char *endpoint) {
        StorageOptions opt = { .access_key = "AK", .secret_key = "SK", .attempts = 4, .retry_delay = 10 * USEC_PER_MSEC,
                               .part_size = 5u << 20 };
        _cleanup_storage_ Storage *s = NULL;
        _cleanup_free_ char *err = NULL;
        if (!ok(storage_open(url, &opt, &s, &err) == 0, "open %s", url)) {
                diag("%s", strna(err));
                return;
        }
        const size_t small = 300000;
        int fd = pattern_file(small);
        if (!ok(fd >= 0 && lseek(fd, FILE_LEAD, SEEK_SET) == FILE_LEAD, "a file, at offset %u", FILE_LEAD))
                return;
        int r = storage_put_fd(s, "slow-put", fd);
        if (!is_int(r, 0, "a file put, answered 503, then 500, then 200: stored"))
                diag("%s", storage_error(s));
        ok(lseek(fd, 0, SEEK_CUR) == (off_t) (FILE_LEAD + small), "the file's offset is left at its end");
        Sink k = { 0 };
        is_int(storage_get(s, "slow-put", sink_write, &k), 0, "get it");
        bool same = k.len == small;
        for (size_t i = 0; same && i < k.len; i++)
                same = k.buf[i] == (unsigned char) ((small - i) * 13 % 253);
        ok(same, "the third try sent the file's bytes from its offset on (%zu of %zu)", k.len, small);
        free(k.buf);

        r = storage_put_file(s, "payload-short", fd, FILE_LEAD, small + 5000);
        is_int(r, -ENODATA, "a file shorter than the size given: -ENODATA");
        ok(strstr(storage_error(s), "payload-short") && strstr(storage_error(s), "shrank"), "saying so: %s",
           storage_error(s));
        close(fd);

        const size_t total = 2 * (5u << 20) + 4321;
        int p[2];
        if (!ok(pipe2(p, O_CLOEXEC) == 0, "a pipe"))
                return;
        Feed f = { p[1], total };
        pthread_t t;
        pthread_create(&t, NULL, feed_pipe, &f);
        r = storage_put_fd(s, "parts-pipe", p[0]);
        if (!is_int(r, 0, "a 3-part upload from a pipe"))
                diag("%s", storage_error(s));
        pthread_join(t, NULL);
        close(p[0]);
        k = (Sink) { 0 };
        is_int(storage_get(s, "parts-pipe", sink_write, &k), 0, "get it");
        same = k.len == total;
        for (size_t i = 0; same && i < k.len; i++)
                same = k.buf[i] == (unsigned char) ((total - i) * 13 % 253);
        ok(same, "every byte in order (%zu of %zu)", k.len, total);
        free(k.buf);
        (void) endpoint;
}

/* An object's content goes as UNSIGNED-PAYLOAD to a loopback endpoint (nothing on its way to
 * change it), signed by its SHA-256 with payload=signed; a part as a whole object. */
static void test_payload(const char *endpoint, const char *port) {
        _cleanup_free_ char *u0 = strdup_printf("s3://flaky?endpoint=%s", endpoint);
        _cleanup_free_ char *u1 = strdup_printf("s3://flaky?endpoint=%s&payload=signed", endpoint);
        _cleanup_free_ char *u2 = strdup_printf("s3://flaky?endpoint=http://localhost:%s", port);
        const char *urls[] = { u0, u1, u2 };
        for (size_t i = 0; i < ELEMENTSOF(urls); i++) {
                _cleanup_free_ char *key = strdup_printf("payload-%zu", i);
                _cleanup_storage_ Storage *s = NULL;
                Mem m = { "payload", 7, 0 };
                StorageOptions opt = { .access_key = "AK", .secret_key = "SK", .attempts = 2 };
                int r = storage_open(urls[i], &opt, &s, NULL);
                r = r < 0 ? r : storage_put(s, key, mem_read, &m);
                ok(r == 0, "put through '%s'", urls[i]);
                if (r < 0 && s)
                        diag("%s", storage_error(s));
        }
        /* style=virtual: the bucket in the host name (flaky.localhost, which libcurl resolves to
         * loopback), not in the path. */
        _cleanup_free_ char *vurl = strdup_printf("s3://flaky?endpoint=http://localhost:%s&style=virtual", port);
        _cleanup_storage_ Storage *v = NULL;
        Mem m = { "payload", 7, 0 };
        StorageOptions vopt = { .access_key = "AK", .secret_key = "SK", .attempts = 2 };
        int r = storage_open(vurl, &vopt, &v, NULL);
        r = r < 0 ? r : storage_put(v, "vhost-put", mem_read, &m);
        ok(r == 0, "put through '%s'", vurl);
        _cleanup_free_ char *log = fetch(endpoint, "/__log");
        _cleanup_free_ char *line = strdup_printf("PUT /vhost-put -  host=flaky.localhost:%s\n", port);
        ok(log && strstr(log, line), "virtual-host style: the bucket is in the Host header, not the path");

        _cleanup_free_ char *shas = fetch(endpoint, "/__sha");
        ok(shas && strstr(shas, "/flaky/payload-0 UNSIGNED-PAYLOAD\n"), "to 127.0.0.1 the content is sent unsigned");
        ok(shas && strstr(shas, "/flaky/payload-1 239f59ed55e737c77147cf55ad0c1b030b6d7ee748a7426952f9b852d5a935e5"),
           "with payload=signed, signed by its SHA-256");
        ok(shas && strstr(shas, "/flaky/payload-2 UNSIGNED-PAYLOAD"), "to localhost unsigned too");
        ok(shas && strstr(shas, "/flaky/parts UNSIGNED-PAYLOAD"), "and the parts of a multipart upload");
        _cleanup_strv_free_ char **lines = NULL;
        (void) strv_split(strempty(shas), "\n", &lines);
        for (char **l = lines; l && *l; l++)
                diag("signed: %s", *l);
}

int main(void) {
        const char *script = getenv("TERN_FLAKY_S3");
        if (!script)
                tap_skip_all("TERN_FLAKY_S3 (tests/storage/flaky-s3.py) is not set");
        _cleanup_free_ char *cmd = strjoin("python3 '", script, "'");
        FILE *p = popen(cmd, "r");
        char line[64] = "";
        if (!p || !fgets(line, sizeof line, p))
                tap_skip_all("flaky-s3.py did not start (python3 missing?)");
        _cleanup_free_ char *endpoint = strjoin("http://127.0.0.1:", strstrip(line));
        _cleanup_free_ char *url = strjoin("s3://flaky?endpoint=", endpoint);
        test_down_for_a_while();

        StorageOptions opt = { .access_key = "AK", .secret_key = "SK", .attempts = 4, .retry_delay = 10 * USEC_PER_MSEC };
        _cleanup_storage_ Storage *s = NULL;
        _cleanup_free_ char *err = NULL;
        if (!is_int(storage_open(url, &opt, &s, &err), 0, "open"))
                diag("%s", strna(err));

        Mem m = { "payload", 7, 0 };
        int r = storage_put(s, "slow-put", mem_read, &m);
        if (!is_int(r, 0, "a put answered 503 SlowDown, then 500, then 200: stored"))
                diag("%s", storage_error(s));
        Sink k = { 0 };
        is_int(storage_get(s, "slow-put", sink_write, &k), 0, "get it");
        ok(k.len == 7 && memcmp(k.buf, "payload", 7) == 0, "the body sent on the third try is the whole one");
        free(k.buf);

        k = (Sink) { 0 };
        r = storage_get(s, "throttled", sink_write, &k);
        is_int(r, 0, "a get throttled twice with 429: served at the third try");
        ok(k.len == 7 && memcmp(k.buf, "at last", 7) == 0, "its body");
        free(k.buf);

        k = (Sink) { 0 };
        r = storage_get(s, "cut", sink_write, &k);
        if (!is_int(r, 0, "a body cut off midway is resumed"))
                diag("%s", storage_error(s));
        bool same = k.len == 200000;
        for (size_t i = 0; same && i < k.len; i++)
                same = k.buf[i] == (unsigned char) ((i * 7 + 3) % 251);
        ok(same, "the sink got every byte once, in order (%zu bytes)", k.len);
        free(k.buf);

        k = (Sink) { 0 };
        r = storage_get(s, "replaced", sink_write, &k);
        is_int(r, -ESTALE, "an object replaced while its read was resumed: -ESTALE");
        ok(strstr(storage_error(s), "replaced") && strstr(storage_error(s), "changed"), "saying so: %s", storage_error(s));
        free(k.buf);

        k = (Sink) { 0 };
        r = storage_get(s, "always-503", sink_write, &k);
        is_int(r, -EIO, "a service that keeps answering 503: -EIO after the attempts");
        ok(strstr(storage_error(s), "503") && strstr(storage_error(s), "SlowDown") && strstr(storage_error(s), "always-503"),
           "the message has the object, the status and the code: %s", storage_error(s));
        free(k.buf);

        test_parts(url, endpoint);
        test_file_memory(url);
        _cleanup_free_ char *gurl = strjoin("gs://flakyg?endpoint=", endpoint);
        _cleanup_free_ char *aurl = strjoin("azure://flakyacct/flakya?endpoint=", endpoint);
        test_part_retried(url, endpoint, "/flaky/parts-retry", "s3", -1);
        test_part_retried(gurl, endpoint, "/flakyg/parts-retry", "gcs", -1);
        test_part_retried(aurl, endpoint, "/flakya/blocks-retry", "azure", -1);
        int fd = pattern_file(3 * (5u << 20) + 12345);
        ok(fd >= 0, "a file of 3 parts and a bit");
        test_part_retried(url, endpoint, "/flaky/parts-file-retry", "s3", fd);
        test_part_retried(gurl, endpoint, "/flakyg/parts-file-retry", "gcs", fd);
        test_part_retried(aurl, endpoint, "/flakya/blocks-file-retry", "azure", fd);
        close(fd);
        _cleanup_free_ char *furl = strjoin("s3://flakyf?endpoint=", endpoint);
        test_put_fd(furl, endpoint);
        test_payload(endpoint, strstrip(line));

        _cleanup_free_ char *log = fetch(endpoint, "/__log");
        _cleanup_strv_free_ char **lines = NULL;
        (void) strv_split(strempty(log), "\n", &lines);
        for (char **l = lines; l && *l; l++)
                diag("request: %s", *l);
        ok(log && strstr(log, "GET /flaky/cut bytes=100000-"), "the resumed read asked for the rest only");
        unsigned n503 = 0;
        for (const char *q = log; q && (q = strstr(q, "/always-503")); q++)
                n503++;
        is_int(n503, 4, "the failing request was tried 4 times (the attempts option)");
        free(fetch(endpoint, "/__quit"));
        pclose(p);
        return tap_done();
}

/* http.c: the service backends' HTTP requests: one libcurl handle per storage, retries with backoff,
 * downloads resumed where they broke off. */
#include <errno.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "cleanup-curl.h"
#include "storage-http.h"
#include "storage-xml.h"
#include "strutil.h"

/* Error answers and listings are kept in memory: bounded, a service never sends more. */
#define BODY_MAX (32u * 1024 * 1024)

struct Http {
        Storage *storage;
        CURL *curl;
        char error[CURL_ERROR_SIZE];
};

/* The state of one attempt, for the callbacks. */
typedef struct Attempt {
        const HttpCall *call;
        HttpResult *res;
        CURL *curl;
        long status;            /* known once the body starts */
        uint64_t skip;          /* bytes of a resumed body the sink already had (when Range is ignored) */
        size_t upload_off;
        int sink_error;
        int upload_error;       /* reading a file body failed (-ENODATA: it ended early) */
        bool too_big;
        usec_t retry_after;
} Attempt;

void http_result_done(HttpResult *r) {
        if (!r)
                return;
        free(r->body);
        free(r->etag);
        free(r->error_code);
        free(r->request_id);
        free(r->copy_status);
        *r = (HttpResult) { 0 };
}

int http_new(Storage *s, Http **ret) {
        Http *h = calloc(1, sizeof(Http));
        if (!h)
                return -ENOMEM;
        h->storage = s;
        h->curl = curl_easy_init();
        if (!h->curl) {
                free(h);
                return -ENOMEM;
        }
        *ret = h;
        return 0;
}

Http *http_free(Http *h) {
        if (!h)
                return NULL;
        curl_easy_cleanup(h->curl);
        free(h);
        return NULL;
}

char *http_encode(const char *s, bool keep_slash) {
        static const char hex[] = "0123456789ABCDEF";
        char *out = malloc(strlen(s) * 3 + 1), *w = out;
        if (!out)
                return NULL;
        for (const unsigned char *p = (const unsigned char *) s; *p; p++) {
                if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
                    *p == '.' || *p == '_' || *p == '~' || (keep_slash && *p == '/'))
                        *w++ = (char) *p;
                else {
                        *w++ = '%';
                        *w++ = hex[*p >> 4];
                        *w++ = hex[*p & 15];
                }
        }
        *w = 0;
        return out;
}

static char *header_value(const char *line, size_t n, const char *name) {
        size_t l = strlen(name);
        if (n <= l || strncasecmp(line, name, l) != 0 || line[l] != ':')
                return NULL;
        const char *v = line + l + 1, *end = line + n;
        while (v < end && (*v == ' ' || *v == '\t'))
                v++;
        while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
        return strndup(v, (size_t) (end - v));
}

static void replace(char **field, char *v) {
        free(*field);
        *field = v;
}

static size_t on_header(char *line, size_t size, size_t n, void *userdata) {
        Attempt *a = userdata;
        HttpResult *res = a->res;
        n *= size;
        char *v;
        if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
                /* A new response (after a 100 Continue, say): forget the previous one's headers. */
                replace(&res->etag, NULL);
                replace(&res->error_code, NULL);
                res->has_content_length = false;
                res->last_modified = 0;
                a->retry_after = 0;
        } else if ((v = header_value(line, n, "etag"))) {
                size_t l = strlen(v);
                if (l >= 2 && v[0] == '"' && v[l - 1] == '"') {
                        memmove(v, v + 1, l - 2);
                        v[l - 2] = 0;
                }
                replace(&res->etag, v);
        } else if ((v = header_value(line, n, "content-length"))) {
                res->has_content_length = safe_atou64(v, &res->content_length) >= 0;
                free(v);
        } else if ((v = header_value(line, n, "last-modified"))) {
                time_t t = curl_getdate(v, NULL);
                res->last_modified = t > 0 ? (usec_t) t * USEC_PER_SEC : 0;
                free(v);
        } else if ((v = header_value(line, n, "retry-after"))) {
                uint64_t sec;
                if (safe_atou64(v, &sec) >= 0)
                        a->retry_after = MIN(sec, 60u) * USEC_PER_SEC;
                free(v);
        } else if ((v = header_value(line, n, "x-ms-error-code")))
                replace(&res->error_code, v);
        else if ((v = header_value(line, n, "x-ms-copy-status")))
                replace(&res->copy_status, v);
        else if ((v = header_value(line, n, "x-amz-request-id")) || (v = header_value(line, n, "x-ms-request-id")))
                replace(&res->request_id, v);
        return n;
}

static size_t on_body(char *data, size_t size, size_t n, void *userdata) {
        Attempt *a = userdata;
        const HttpCall *call = a->call;
        HttpResult *res = a->res;
        n *= size;
        if (a->status == 0)
                (void) curl_easy_getinfo(a->curl, CURLINFO_RESPONSE_CODE, &a->status);
        if (call->sink && a->status >= 200 && a->status < 300) {
                size_t off = 0;
                if (a->status == 206)
                        a->skip = 0; /* the Range was honoured: this is the rest */
                if (a->skip > 0) {
                        off = (size_t) MIN((uint64_t) n, a->skip);
                        a->skip -= off;
                }
                if (off < n) {
                        int r = call->sink(call->sink_userdata, data + off, n - off);
                        if (r < 0) {
                                a->sink_error = r;
                                return 0; /* stops the transfer */
                        }
                        res->delivered += n - off;
                }
                return n;
        }
        if (res->body_len + n > BODY_MAX) {
                a->too_big = true;
                return 0;
        }
        char *b = realloc(res->body, res->body_len + n + 1);
        if (!b) {
                a->sink_error = -ENOMEM;
                return 0;
        }
        memcpy(b + res->body_len, data, n);
        res->body = b;
        res->body_len += n;
        b[res->body_len] = 0;
        return n;
}

/* Read k bytes of a file body at off into buf: the count (k but at an error), 0 and -errno. */
static ssize_t file_read(const HttpFileBody *f, void *buf, size_t k, uint64_t off) {
        for (;;) {
                ssize_t got = pread(f->fd, buf, k, (off_t) (f->off + off));
                if (got >= 0 || errno != EINTR)
                        return got < 0 ? -errno : got;
        }
}

static size_t on_upload(char *buf, size_t size, size_t n, void *userdata) {
        Attempt *a = userdata;
        const HttpCall *call = a->call;
        size_t left = call->body_len - a->upload_off, k = MIN(left, size * n);
        if (k == 0)
                return 0;
        if (call->file) {
                ssize_t got = file_read(call->file, buf, k, a->upload_off);
                if (got <= 0) {
                        a->upload_error = got < 0 ? (int) got : -ENODATA;
                        return CURL_READFUNC_ABORT;
                }
                k = (size_t) got;
        } else
                memcpy(buf, (const char *) call->body + a->upload_off, k);
        a->upload_off += k;
        return k;
}

int http_body_sha256(const HttpCall *call, char hex[static 65]) {
        unsigned char d[EVP_MAX_MD_SIZE];
        unsigned dn = 0;
        bool ok;
        if (!call->file)
                ok = EVP_Digest(call->body ?: "", call->body_len, d, &dn, EVP_sha256(), NULL);
        else {
                /* A slice at a time: a part sent from a file is never all in memory. */
                const size_t slice = 256u * 1024;
                _cleanup_free_ char *buf = malloc(MIN(slice, MAX(call->body_len, (size_t) 1)));
                EVP_MD_CTX *md = buf ? EVP_MD_CTX_new() : NULL;
                if (!md)
                        return -ENOMEM;
                ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL);
                for (size_t off = 0; ok && off < call->body_len;) {
                        ssize_t got = file_read(call->file, buf, MIN(slice, call->body_len - off), off);
                        if (got <= 0) {
                                EVP_MD_CTX_free(md);
                                return got < 0 ? (int) got : -ENODATA;
                        }
                        ok = EVP_DigestUpdate(md, buf, (size_t) got);
                        off += (size_t) got;
                }
                ok = ok && EVP_DigestFinal_ex(md, d, &dn);
                EVP_MD_CTX_free(md);
        }
        if (!ok)
                return -EIO;
        for (unsigned i = 0; i < dn; i++)
                sprintf(hex + 2 * i, "%02x", d[i]);
        return 0;
}

static int curl_errno(CURLcode rc) {
        switch (rc) {
        case CURLE_COULDNT_CONNECT:
                return -ECONNREFUSED;
        case CURLE_OPERATION_TIMEDOUT:
                return -ETIMEDOUT;
        case CURLE_COULDNT_RESOLVE_HOST:
        case CURLE_COULDNT_RESOLVE_PROXY:
                return -EHOSTUNREACH;
        case CURLE_SEND_ERROR:
        case CURLE_RECV_ERROR:
        case CURLE_GOT_NOTHING:
        case CURLE_PARTIAL_FILE:
        case CURLE_HTTP2:
        case CURLE_HTTP2_STREAM:
        case CURLE_SSL_CONNECT_ERROR:
                return -ECONNRESET;
        case CURLE_OUT_OF_MEMORY:
                return -ENOMEM;
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CACERT_BADFILE:
                return -EPROTO;
        default:
                return -EIO;
        }
}

static bool status_retryable(long status) {
        return status == 408 || status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

static usec_t backoff_delay(const Storage *s, unsigned attempt, usec_t retry_after) {
        usec_t d = s->retry_delay << MIN(attempt, 16u);
        d = MIN(d, 20 * USEC_PER_SEC);
        /* Spread the retries of many clients throttled at once: 75% to 125% of the delay. */
        uint16_t jitter = 0;
        (void) getrandom(&jitter, sizeof jitter, GRND_NONBLOCK);
        d = d * 3 / 4 + d / 2 * jitter / UINT16_MAX;
        return MAX(d, retry_after);
}

static void backoff(usec_t d) {
        struct timespec ts = { .tv_sec = (time_t) (d / USEC_PER_SEC), .tv_nsec = (long) (d % USEC_PER_SEC) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int setup(Http *h, const HttpCall *call, Attempt *a, struct curl_slist **headers) {
        Storage *s = h->storage;
        CURL *c = h->curl;
        curl_easy_reset(c); /* keeps the live connections */
        h->error[0] = 0;
        bool ok = curl_easy_setopt(c, CURLOPT_URL, call->url) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->error) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long) (s->connect_timeout / USEC_PER_MSEC)) == CURLE_OK &&
                  /* A transfer that stalls fails (and is retried) instead of hanging a worker. */
                  curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long) MAX(s->stall_timeout / USEC_PER_SEC, 1u)) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_HEADERDATA, a) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_WRITEDATA, a) == CURLE_OK &&
                  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK;
        if (!ok)
                return -EIO;
        if (streq(call->method, "HEAD"))
                ok = curl_easy_setopt(c, CURLOPT_NOBODY, 1L) == CURLE_OK;
        else if (streq(call->method, "PUT") || streq(call->method, "POST")) {
                ok = curl_easy_setopt(c, CURLOPT_UPLOAD, 1L) == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_READFUNCTION, on_upload) == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_READDATA, a) == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, (curl_off_t) call->body_len) == CURLE_OK &&
                     curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call->method) == CURLE_OK;
        } else if (!streq(call->method, "GET"))
                ok = curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, call->method) == CURLE_OK;
        if (!ok)
                return -EIO;
        /* (No "Expect:" to drop curl's 100-continue: curl's SigV4 would sign the empty header it
         * then does not send.) */
        struct curl_slist *l = NULL;
        for (const char *const *p = call->headers; p && *p; p++) {
                struct curl_slist *n = curl_slist_append(l, *p);
                if (!n) {
                        curl_slist_free_all(l);
                        return -ENOMEM;
                }
                l = n;
        }
        *headers = l;
        return 0;
}

int http_perform(Http *h, const HttpCall *call, HttpResult *res, const char *what) {
        Storage *s = h->storage;
        *res = (HttpResult) { 0 };
        _cleanup_free_ char *resume_etag = NULL;
        usec_t since = now_monotonic();
        int r = 0;
        for (unsigned attempt = 0;; attempt++) {
                Attempt a = { .call = call, .res = res, .curl = h->curl };
                _cleanup_curl_slist_ struct curl_slist *headers = NULL;
                free(res->body);
                res->body = NULL;
                res->body_len = 0;
                res->status = 0;
                r = setup(h, call, &a, &headers);
                if (r >= 0 && res->delivered > 0) {
                        /* Where the previous attempt broke off, of the same object only. */
                        _cleanup_free_ char *range = strdup_printf("Range: bytes=%llu-", (unsigned long long) res->delivered);
                        _cleanup_free_ char *match = strdup_printf("If-Match: \"%s\"", resume_etag);
                        struct curl_slist *l = range && match ? curl_slist_append(headers, range) : NULL;
                        l = l ? curl_slist_append(l, match) : NULL;
                        if (!l)
                                r = -ENOMEM;
                        else
                                headers = l;
                        a.skip = res->delivered;
                }
                if (r >= 0 && call->sign)
                        r = call->sign(call->sign_userdata, h->curl, call, &headers);
                if (r >= 0 && curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, headers) != CURLE_OK)
                        r = -EIO;
                if (r < 0)
                        return storage_fail(s, r, "%s: cannot make the request: %s", what, strerror(-r));

                uint64_t delivered_before = res->delivered;
                CURLcode rc = curl_easy_perform(h->curl);
                /* Another try only if it starts within retry_for of the first: by time rather than
                 * by count, so that a service restarting for a few seconds is waited out however
                 * quickly it refuses connections meanwhile. */
                usec_t delay = backoff_delay(s, attempt, a.retry_after);
                bool again = (!s->attempts || attempt + 1 < s->attempts) &&
                             now_monotonic() - since + delay <= s->retry_for;
                if (a.sink_error)
                        return storage_fail(s, a.sink_error, "%s: the transfer was stopped: %s", what, strerror(-a.sink_error));
                if (a.upload_error == -ENODATA)
                        return storage_fail(s, -ENODATA, "%s: the file ended at byte %llu, short of the %zu bytes from byte "
                                            "%llu being sent (it shrank meanwhile)", what,
                                            (unsigned long long) (call->file->off + a.upload_off), call->body_len,
                                            (unsigned long long) call->file->off);
                if (a.upload_error)
                        return storage_fail(s, a.upload_error, "%s: reading the file at byte %llu failed: %s", what,
                                            (unsigned long long) (call->file->off + a.upload_off), strerror(-a.upload_error));
                if (a.too_big)
                        return storage_fail(s, -EFBIG, "%s: the service's answer is over %u bytes", what, BODY_MAX);
                if (rc == CURLE_OK) {
                        (void) curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &res->status);
                        if (delivered_before > 0 && res->status == 412)
                                return storage_fail(s, -ESTALE, "%s: the object changed while it was being read", what);
                        if (!status_retryable(res->status) || !again)
                                return 0;
                        r = -EIO;
                } else {
                        r = curl_errno(rc);
                        bool transient = r == -ECONNREFUSED || r == -ETIMEDOUT || r == -ECONNRESET || r == -EHOSTUNREACH;
                        /* Bytes already in the sink: only a resume of the same version can go on. */
                        if (res->delivered > 0) {
                                if (!resume_etag && res->etag && !(resume_etag = strdup(res->etag)))
                                        return storage_fail(s, -ENOMEM, "%s: out of memory", what);
                                if (!resume_etag)
                                        transient = false;
                        }
                        if (!transient || !again)
                                return storage_fail(s, r, "%s: %s (%u attempt%s over %.1f s)", what,
                                                    h->error[0] ? h->error : curl_easy_strerror(rc), attempt + 1,
                                                    attempt ? "s" : "", (double) (now_monotonic() - since) / USEC_PER_SEC);
                }
                backoff(delay);
        }
}

/* ---- large uploads, several parts in flight -------------------------------------------------- */

/* One part in flight. Threads rather than curl's multi interface: the source is read by a blocking
 * callback meanwhile, and each part keeps http_perform()'s retries unchanged. */
typedef struct PartSlot {
        Storage shadow; /* the handle as the part's thread sees it: its own error */
        Http *http;     /* its own connection, kept from part to part */
        char *buf;      /* made when the slot is first needed: a small object takes few */
        bool own_buf;
        HttpFileBody file; /* a file's part instead, when from_file: no buffer */
        bool from_file;
        size_t n;
        unsigned part;
        HttpPartFn put;
        void *userdata;
        char *tag;
        int r;
        bool running;
        pthread_t thread;
} PartSlot;

static void *part_thread(void *p) {
        PartSlot *x = p;
        x->r = x->put(&x->shadow, x->http, x->part, x->from_file ? NULL : x->buf, x->from_file ? &x->file : NULL, x->n,
                      x->userdata, &x->tag);
        return NULL;
}

/* Wait for the slot's part, if any: r if r already failed; else the part's failure (its error now
 * s's) or done's answer. */
static int part_join(Storage *s, PartSlot *x, HttpPartDoneFn done, void *userdata, int r) {
        if (!x->running)
                return r;
        (void) pthread_join(x->thread, NULL);
        x->running = false;
        _cleanup_free_ char *tag = TAKE_PTR(x->tag);
        if (r < 0)
                return r;
        if (x->r < 0) {
                storage_set_error(s, "%s", x->shadow.error ?: "part failed");
                return x->r;
        }
        return done(s, x->part, TAKE_PTR(tag), userdata);
}

/* The slot's connection and (unless its parts come from a file) buffer, made on its first use. */
static int part_slot_ready(Storage *s, PartSlot *x, HttpPartFn put, void *userdata, const char *what) {
        if (x->http)
                return 0;
        x->shadow = *s;
        x->shadow.error = NULL;
        x->put = put;
        x->userdata = userdata;
        if (!x->buf && !x->from_file) {
                if (!(x->buf = malloc(s->part_size)))
                        return storage_fail(s, -ENOMEM, "%s: out of memory", what);
                x->own_buf = true;
        }
        int r = http_new(&x->shadow, &x->http);
        return r < 0 ? storage_fail(s, r, "%s: out of memory", what) : 0;
}

int http_upload_parts(Storage *s, char *buf, size_t n, StorageReadFn fn, void *fn_userdata, unsigned max_parts,
                      HttpPartFn put, HttpPartDoneFn done, void *userdata, const char *what) {
        PartSlot slots[STORAGE_PARTS_IN_FLIGHT_MAX] = { { .buf = buf } };
        unsigned k = MAX(MIN(s->parts_in_flight, STORAGE_PARTS_IN_FLIGHT_MAX), 1u);
        unsigned part = 0, cur = k - 1;
        int r = 0;
        /* Slots in a ring: the part after cur's is the oldest in flight, whose buffer takes the
         * next part once it is stored, so parts are told to done in order. */
        while (r >= 0) {
                part++;
                cur = (cur + 1) % k;
                PartSlot *x = &slots[cur], *oldest = &slots[(cur + 1) % k];
                if ((r = part_slot_ready(s, x, put, userdata, what)) < 0)
                        break;
                x->part = part;
                x->n = n;
                int e = pthread_create(&x->thread, NULL, part_thread, x);
                if (e != 0) {
                        r = storage_fail(s, -e, "%s: cannot start a thread for part %u: %s", what, part, strerror(e));
                        break;
                }
                x->running = true;
                /* The oldest part must be stored before its buffer takes the next. */
                if ((r = part_join(s, oldest, done, userdata, r)) < 0 ||
                    (r = part_slot_ready(s, oldest, put, userdata, what)) < 0)
                        break;
                ssize_t got = storage_fill(fn, fn_userdata, oldest->buf, s->part_size);
                if (got < 0) {
                        r = storage_fail(s, (int) got, "%s: reading its content failed: %s", what, strerror((int) -got));
                        break;
                }
                if (got == 0)
                        break;
                if (part >= max_parts) {
                        r = storage_fail(s, -EFBIG, "%s: more than %u parts of %llu bytes", what, max_parts,
                                         (unsigned long long) s->part_size);
                        break;
                }
                n = (size_t) got;
        }
        /* The rest in order, oldest first. */
        for (unsigned i = 1; i <= k; i++)
                r = part_join(s, &slots[(cur + i) % k], done, userdata, r);
        for (unsigned i = 0; i < k; i++) {
                http_free(slots[i].http);
                free(slots[i].shadow.error);
                if (slots[i].own_buf)
                        free(slots[i].buf);
        }
        return r;
}

int http_upload_file_parts(Storage *s, int fd, uint64_t off, uint64_t size, uint64_t part_size, unsigned max_parts,
                           HttpPartFn put, HttpPartDoneFn done, void *userdata, const char *what) {
        PartSlot slots[STORAGE_PARTS_IN_FLIGHT_MAX] = { 0 };
        unsigned k = MAX(MIN(s->parts_in_flight, STORAGE_PARTS_IN_FLIGHT_MAX), 1u);
        if (size > part_size * max_parts)
                return storage_fail(s, -EFBIG, "%s: more than %u parts of %llu bytes", what, max_parts,
                                    (unsigned long long) part_size);
        for (unsigned i = 0; i < k; i++)
                slots[i].from_file = true;
        /* Part p in slot (p - 1) % k: the slot's previous part, the oldest in flight, is stored
         * (and told to done, in order) before the slot takes the next. */
        unsigned part = 0;
        int r = 0;
        for (uint64_t at = 0; at < size && r >= 0; at += part_size) {
                PartSlot *x = &slots[part % k];
                part++;
                if ((r = part_join(s, x, done, userdata, r)) < 0 || (r = part_slot_ready(s, x, put, userdata, what)) < 0)
                        break;
                x->part = part;
                x->file = (HttpFileBody) { .fd = fd, .off = off + at };
                x->n = (size_t) MIN(part_size, size - at);
                int e = pthread_create(&x->thread, NULL, part_thread, x);
                if (e != 0) {
                        r = storage_fail(s, -e, "%s: cannot start a thread for part %u: %s", what, part, strerror(e));
                        break;
                }
                x->running = true;
        }
        /* The rest in order, oldest first: the slot the next part would have taken. */
        for (unsigned i = 0; i < k; i++)
                r = part_join(s, &slots[(part + i) % k], done, userdata, r);
        for (unsigned i = 0; i < k; i++) {
                http_free(slots[i].http);
                free(slots[i].shadow.error);
        }
        return r;
}

/* ---- object operations the service backends share ---------------------------------------- */

int http_status_error(Storage *s, const HttpService *svc, const HttpResult *res, const char *what) {
        _cleanup_free_ char *xcode = xml_find(res->body, res->body_len, "Error/Code");
        _cleanup_free_ char *msg = xml_find(res->body, res->body_len, "Error/Message");
        /* Azure says it in a header too, and in the only place for a HEAD. */
        const char *code = res->error_code ?: xcode;
        if (msg)
                msg[strcspn(msg, "\r\n")] = 0; /* Azure's: the rest is the request id and time again */
        int r;
        const char *hint = "";
        switch (res->status) {
        case 404:
                r = code && streq(code, svc->no_container_code) ? -ENXIO : -ENOENT;
                if (r == -ENXIO)
                        hint = svc->no_container_hint;
                break;
        case 401:
        case 403:
                r = -EACCES;
                if (!code || !svc->auth_hint_codes || strv_contains((char **) svc->auth_hint_codes, code))
                        hint = svc->auth_hint;
                break;
        case 412:
                r = -ESTALE;
                break;
        default:
                r = -EIO;
        }
        return storage_fail(s, r, "%s: HTTP %ld%s%s%s%s%s%s%s", what, res->status, code ? " " : "", strempty(code),
                            !isempty(msg) ? ": " : "", strempty(msg), hint, res->request_id ? ", request " : "",
                            strempty(res->request_id));
}

int http_simple(Storage *s, const HttpService *svc, const char *method, const char *key, const char *query,
                const char *const *headers, const void *body, size_t body_len, long ok1, long ok2, const char *what,
                HttpResult *keep) {
        HttpResult res;
        int r = svc->request(s, method, key, query, headers, body, body_len, NULL, NULL, &res, what);
        if (r < 0)
                return r;
        if (res.status != ok1 && res.status != ok2)
                r = http_status_error(s, svc, &res, what);
        if (r >= 0 && keep)
                *keep = res;
        else
                http_result_done(&res);
        return r;
}

int http_object_get(Storage *s, const HttpService *svc, const char *key, StorageWriteFn fn, void *userdata,
                    const char *what) {
        HttpResult res;
        int r = svc->request(s, "GET", key, NULL, NULL, NULL, 0, fn, userdata, &res, what);
        if (r >= 0 && res.status != 200 && res.status != 206)
                r = http_status_error(s, svc, &res, what);
        http_result_done(&res);
        return r;
}

int http_object_stat(Storage *s, const HttpService *svc, const char *key, StorageObject *ret, const char *what) {
        HttpResult res;
        int r = svc->request(s, "HEAD", key, NULL, NULL, NULL, 0, NULL, NULL, &res, what);
        if (r < 0)
                return r;
        if (res.status == 404 && !res.error_code && svc->check_container) {
                /* No body to tell a missing object from a missing bucket: ask the bucket. */
                http_result_done(&res);
                r = svc->check_container(s, what);
                return r < 0 ? r : storage_fail(s, -ENOENT, "%s: no such object", what);
        }
        if (res.status != 200) {
                r = http_status_error(s, svc, &res, what);
                http_result_done(&res);
                return r;
        }
        ret->size = res.content_length;
        ret->mtime = res.last_modified;
        ret->etag = TAKE_PTR(res.etag);
        ret->key = strdup(key);
        http_result_done(&res);
        return ret->key && ret->etag ? 0 : storage_fail(s, -EIO, "%s: the answer had no ETag", what);
}

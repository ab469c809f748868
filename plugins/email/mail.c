/* mail.c: Kestra's MailSend (io.kestra.plugin.email.MailSend) as a native plugin: a MIME message (text
 * and HTML alternatives, attachments from internal storage) sent over SMTP, STARTTLS or SMTPS with libcurl. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tern/plugin.h>

typedef struct Mail {
        const TernPluginServices *s;
        json_t *props;
        bool failed;
        char answer[256]; /* the server's last reply line, for a failure's message */
} Mail;

static int fail(Mail *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(Mail *m, const char *fmt, ...) {
        char *t = NULL;
        va_list ap;
        va_start(ap, fmt);
        if (vasprintf(&t, fmt, ap) < 0)
                t = NULL;
        va_end(ap);
        m->s->fail(m->s->ctx, t ?: "out of memory");
        m->failed = true;
        free(t);
        return -EIO;
}

static const char *prop(Mail *m, const char *name) {
        return json_string_value(json_object_get(m->props, name));
}

/* The addresses of a list ("a@x; b@y", commas too), each without its display name for the SMTP
 * envelope: "Name <a@x>" gives a@x. */
static int add_recipients(const char *list, struct curl_slist **rcpt) {
        char *copy = strdup(list ?: ""), *save = NULL;
        if (!copy)
                return -ENOMEM;
        for (char *t = strtok_r(copy, ";,", &save); t; t = strtok_r(NULL, ";,", &save)) {
                char *lt = strchr(t, '<'), *gt = lt ? strchr(lt, '>') : NULL, *addr = NULL;
                if (lt && gt)
                        *gt = 0, t = lt + 1;
                t += strspn(t, " \t\r\n");
                size_t n = strlen(t);
                while (n > 0 && strchr(" \t\r\n", t[n - 1]))
                        t[--n] = 0;
                if (!*t)
                        continue;
                if (asprintf(&addr, "<%s>", t) < 0) {
                        free(copy);
                        return -ENOMEM;
                }
                struct curl_slist *l = curl_slist_append(*rcpt, addr);
                free(addr);
                if (!l) {
                        free(copy);
                        return -ENOMEM;
                }
                *rcpt = l;
        }
        free(copy);
        return 0;
}

/* A header's value: as it is when ASCII, else an RFC 2047 encoded word (base64 UTF-8). */
static char *header_value(const char *v) {
        bool ascii = true;
        for (const unsigned char *p = (const unsigned char *) v; *p; p++)
                ascii = ascii && *p >= 0x20 && *p < 0x7f;
        if (ascii)
                return strdup(v);
        static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        size_t len = strlen(v);
        char *out = malloc(len / 3 * 4 + 32), *p = out;
        if (!out)
                return NULL;
        const unsigned char *d = (const unsigned char *) v;
        p = stpcpy(p, "=?UTF-8?B?");
        for (size_t i = 0; i < len; i += 3) {
                uint32_t x = (uint32_t) d[i] << 16 | (i + 1 < len ? (uint32_t) d[i + 1] << 8 : 0) | (i + 2 < len ? d[i + 2] : 0);
                *p++ = a[x >> 18 & 63];
                *p++ = a[x >> 12 & 63];
                *p++ = i + 1 < len ? a[x >> 6 & 63] : '=';
                *p++ = i + 2 < len ? a[x & 63] : '=';
        }
        strcpy(p, "?=");
        return out;
}

static int add_header(struct curl_slist **h, const char *name, const char *value) {
        if (!value || !*value)
                return 0;
        char *v = header_value(value), *line = NULL;
        if (!v || asprintf(&line, "%s: %s", name, v) < 0) {
                free(v);
                return -ENOMEM;
        }
        free(v);
        struct curl_slist *l = curl_slist_append(*h, line);
        free(line);
        if (!l)
                return -ENOMEM;
        *h = l;
        return 0;
}

/* attachments and embeddedImages: a list of {name, uri, contentType}, or that list as JSON text
 * (Kestra's "{{ inputs.attachments | toJson }}"). */
static json_t *attachment_list(Mail *m, const char *name) {
        json_t *v = json_object_get(m->props, name);
        if (json_is_string(v)) {
                const char *t = json_string_value(v);
                if (strspn(t, " \t\r\n") == strlen(t))
                        return json_array();
                v = json_loads(t, JSON_DECODE_ANY, NULL);
                if (json_is_string(v)) { /* JSON text of JSON text, as Kestra accepts */
                        json_t *inner = json_loads(json_string_value(v), JSON_DECODE_ANY, NULL);
                        json_decref(v);
                        v = inner;
                }
                if (json_is_object(v))
                        v = json_pack("[o]", v);
                return json_is_array(v) ? v : (json_decref(v), NULL);
        }
        if (!v || json_is_null(v))
                return json_array();
        if (json_is_object(v))
                return json_pack("[O]", v);
        return json_is_array(v) ? json_incref(v) : NULL;
}

static int add_files(Mail *m, curl_mime *mime, const char *prop_name, bool inline_, unsigned *n) {
        json_t *list = attachment_list(m, prop_name), *a;
        size_t i;
        int r = 0;
        if (!list)
                return fail(m, "'%s' must be a list of {name, uri, contentType}, or that list as JSON text", prop_name);
        json_array_foreach(list, i, a) {
                const char *name = json_string_value(json_object_get(a, "name")),
                           *uri = json_string_value(json_object_get(a, "uri")),
                           *type = json_string_value(json_object_get(a, "contentType"));
                if (!name || !uri || strchr(name, '/') || strcmp(name, "..") == 0) {
                        r = fail(m, "'%s' entry %zu needs a 'name' (a file name, no '/') and a 'uri' of internal storage",
                                 prop_name, i + 1);
                        break;
                }
                char *file = NULL, *path = NULL, *cid = NULL;
                if (asprintf(&file, "mail-%u-%s", ++*n, name) < 0 ||
                    asprintf(&path, "%s/%s", m->s->working_dir, file) < 0) {
                        free(file);
                        r = -ENOMEM;
                        break;
                }
                r = m->s->storage_get(m->s->ctx, uri, file);
                if (r < 0) {
                        r = fail(m, "cannot read the attachment '%s' (%s): %s", name, uri, strerror(-r));
                        free(file);
                        free(path);
                        break;
                }
                curl_mimepart *part = curl_mime_addpart(mime);
                struct curl_slist *h = NULL;
                if (inline_ && asprintf(&cid, "Content-ID: <%s>", name) >= 0)
                        h = curl_slist_append(NULL, cid);
                if (!part || curl_mime_filedata(part, path) != CURLE_OK || curl_mime_filename(part, name) != CURLE_OK ||
                    curl_mime_type(part, type ?: "application/octet-stream") != CURLE_OK ||
                    curl_mime_encoder(part, "base64") != CURLE_OK ||
                    (h && curl_mime_headers(part, h, 1) != CURLE_OK))
                        r = -ENOMEM;
                free(cid);
                free(file);
                free(path);
                if (r < 0)
                        break;
        }
        json_decref(list);
        return r;
}

/* libcurl gives the server's replies to the debug function only. */
static int debug(CURL *curl, curl_infotype type, char *data, size_t size, void *userdata) {
        Mail *m = userdata;
        if (type != CURLINFO_HEADER_IN || size < 3 || (data[0] != '4' && data[0] != '5'))
                return 0; /* only refusals */
        while (size > 0 && (data[size - 1] == '\n' || data[size - 1] == '\r'))
                size--;
        snprintf(m->answer, sizeof m->answer, "%.*s", (int) size, data);
        return 0;
}

static int progress(void *m, curl_off_t a, curl_off_t b, curl_off_t c, curl_off_t d) {
        const TernPluginServices *s = ((Mail *) m)->s;
        return s->cancelled(s->ctx); /* non-zero aborts the transfer */
}

static int mail_run(const char *type, const char *properties_json, const TernPluginServices *s) {
        Mail m = { .s = s, .props = json_loads(properties_json, 0, NULL) };
        CURL *curl = curl_easy_init();
        curl_mime *mime = NULL, *alt = NULL;
        struct curl_slist *headers = NULL, *rcpt = NULL;
        char *url = NULL, errbuf[CURL_ERROR_SIZE] = "";
        unsigned nfiles = 0;
        int r = 0;

        if (!m.props || !curl) {
                r = -ENOMEM;
                goto out;
        }
        const char *host = prop(&m, "host"), *from = prop(&m, "from"), *to = prop(&m, "to"), *cc = prop(&m, "cc"),
                   *strategy = prop(&m, "transportStrategy") ?: "SMTPS";
        if (!host || !from || !to) {
                r = fail(&m, "'host', 'from' and 'to' are required");
                goto out;
        }
        bool smtps = strcmp(strategy, "SMTPS") == 0, starttls = strcmp(strategy, "SMTP_TLS") == 0;
        if (!smtps && !starttls && strcmp(strategy, "SMTP") != 0) {
                r = fail(&m, "'transportStrategy' is '%s': this plugin knows SMTP, SMTP_TLS (STARTTLS) and SMTPS", strategy);
                goto out;
        }
        json_int_t port = json_integer_value(json_object_get(m.props, "port"));
        if (asprintf(&url, "%s://%s:%lld", smtps ? "smtps" : "smtp", host,
                     port > 0 ? (long long) port : smtps ? 465LL : starttls ? 587LL : 25LL) < 0) {
                url = NULL;
                r = -ENOMEM;
                goto out;
        }

        /* The envelope: the sender, and every To and Cc address. */
        if ((r = add_recipients(to, &rcpt)) < 0 || (r = add_recipients(cc, &rcpt)) < 0)
                goto out;
        if (!rcpt) {
                r = fail(&m, "'to' names no address");
                goto out;
        }
        struct curl_slist *sender = NULL;
        if ((r = add_recipients(from, &sender)) < 0)
                goto out;
        char *mail_from = sender ? strdup(sender->data) : NULL;
        curl_slist_free_all(sender);
        if (!mail_from) {
                r = fail(&m, "'from' is not an address");
                goto out;
        }

        char date[64], msgid[128];
        time_t now = time(NULL);
        struct tm tm;
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", gmtime_r(&now, &tm));
        snprintf(msgid, sizeof msgid, "<%s.%lld@tern>", s->task_run_id ?: "mail", (long long) now);
        if ((r = add_header(&headers, "Date", date)) < 0 || (r = add_header(&headers, "From", from)) < 0 ||
            (r = add_header(&headers, "To", to)) < 0 || (r = add_header(&headers, "Cc", cc)) < 0 ||
            (r = add_header(&headers, "Subject", prop(&m, "subject"))) < 0 ||
            (r = add_header(&headers, "Message-ID", msgid)) < 0)
                goto out;

        /* The body: text and HTML as alternatives, then the files. */
        const char *html = prop(&m, "htmlTextContent"),
                   *text = prop(&m, "plainTextContent") ?: "Please view this email in a modern email client";
        mime = curl_mime_init(curl);
        alt = curl_mime_init(curl);
        curl_mimepart *p = alt ? curl_mime_addpart(alt) : NULL;
        if (!mime || !p || curl_mime_data(p, text, CURL_ZERO_TERMINATED) != CURLE_OK ||
            curl_mime_type(p, "text/plain; charset=UTF-8") != CURLE_OK ||
            curl_mime_encoder(p, "quoted-printable") != CURLE_OK) {
                r = -ENOMEM;
                goto out;
        }
        if (html && ((p = curl_mime_addpart(alt)) == NULL || curl_mime_data(p, html, CURL_ZERO_TERMINATED) != CURLE_OK ||
                     curl_mime_type(p, "text/html; charset=UTF-8") != CURLE_OK ||
                     curl_mime_encoder(p, "quoted-printable") != CURLE_OK)) {
                r = -ENOMEM;
                goto out;
        }
        p = curl_mime_addpart(mime);
        struct curl_slist *alt_headers = curl_slist_append(NULL, "Content-Disposition: inline");
        if (!p || !alt_headers || curl_mime_subparts(p, alt) != CURLE_OK ||
            curl_mime_type(p, "multipart/alternative") != CURLE_OK || curl_mime_headers(p, alt_headers, 1) != CURLE_OK) {
                curl_slist_free_all(alt_headers);
                r = -ENOMEM;
                goto out;
        }
        alt = NULL; /* the message owns it now */
        if ((r = add_files(&m, mime, "attachments", false, &nfiles)) < 0 ||
            (r = add_files(&m, mime, "embeddedImages", true, &nfiles)) < 0)
                goto out;

        json_int_t session = json_integer_value(json_object_get(m.props, "sessionTimeout"));
        uint64_t timeout_ms = session > 0 ? (uint64_t) session : 10000, left = s->remaining_usec(s->ctx) / 1000;
        json_t *trusted = json_object_get(m.props, "trustedHosts"), *th;
        size_t i;
        bool verify = !json_is_false(json_object_get(m.props, "verifyServerIdentity"));
        json_array_foreach(trusted, i, th)
                if (json_is_string(th) && strcmp(json_string_value(th), host) == 0)
                        verify = false; /* a trusted host's certificate is taken as it is */

        curl_easy_setopt(curl, CURLOPT_URL, url);
        curl_easy_setopt(curl, CURLOPT_MAIL_FROM, mail_from);
        curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpt);
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, (long) (left < timeout_ms ? left + 1 : timeout_ms));
        curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, progress);
        curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &m);
        curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, debug);
        curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &m);
        curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
        if (starttls)
                curl_easy_setopt(curl, CURLOPT_USE_SSL, (long) CURLUSESSL_ALL);
        if (!verify) {
                curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
        }
        if (prop(&m, "username")) {
                curl_easy_setopt(curl, CURLOPT_USERNAME, prop(&m, "username"));
                curl_easy_setopt(curl, CURLOPT_PASSWORD, prop(&m, "password") ?: "");
        }
        CURLcode cc_ = curl_easy_perform(curl);
        free(mail_from);
        if (cc_ == CURLE_ABORTED_BY_CALLBACK) {
                r = -ECANCELED;
                goto out;
        }
        if (cc_ != CURLE_OK) {
                long code = 0;
                curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
                r = fail(&m, "sending the email through %s failed: %s%s%s%s", host, *errbuf ? errbuf : curl_easy_strerror(cc_),
                         code > 0 && *m.answer ? " (the server answered '" : "", code > 0 ? m.answer : "",
                         code > 0 && *m.answer ? "')" : "");
                goto out;
        }
        size_t k = 0;
        for (struct curl_slist *l = rcpt; l; l = l->next)
                k++;
        char line[256];
        snprintf(line, sizeof line, "Sent to %zu recipient(s) through %s, %u file(s) attached", k, host, nfiles);
        s->log(s->ctx, TERN_PLUGIN_LOG_INFO, line);
out:
        if (r < 0 && !m.failed && r != -ECANCELED)
                r = fail(&m, "%s", strerror(-r));
        curl_mime_free(alt);
        curl_mime_free(mime);
        curl_slist_free_all(headers);
        curl_slist_free_all(rcpt);
        if (curl)
                curl_easy_cleanup(curl);
        free(url);
        json_decref(m.props);
        return r < 0 && m.failed ? TERN_PLUGIN_FAILED : r < 0 ? r : TERN_PLUGIN_SUCCESS;
}

TERN_PLUGIN_DEFINE(mail_run)

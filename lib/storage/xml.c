/* xml.c: the services' XML answers, read with expat: element paths and texts, nothing more. */
#include <errno.h>
#include <expat.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "storage-xml.h"
#include "strbuf.h"

#define XML_DEPTH_MAX 32

typedef struct Walker {
        XML_Parser parser;
        XmlFn fn;
        void *userdata;
        StrBuf path;
        size_t ends[XML_DEPTH_MAX]; /* path length before each open element */
        unsigned depth;
        StrBuf text;
        int error;
} Walker;

static void stop(Walker *w, int r) {
        if (!w->error)
                w->error = r;
        XML_StopParser(w->parser, XML_FALSE);
}

static void on_start(void *userdata, const XML_Char *name, const XML_Char **attrs) {
        Walker *w = userdata;
        if (w->error)
                return;
        if (w->depth >= XML_DEPTH_MAX)
                return stop(w, -EBADMSG);
        /* "uri name" when namespaces are on: the local name is what the services document. */
        const char *local = strrchr(name, ' ');
        local = local ? local + 1 : name;
        w->ends[w->depth++] = w->path.len;
        if (w->path.len)
                strbuf_append_char(&w->path, '/');
        strbuf_append(&w->path, local);
        strbuf_truncate(&w->text, 0);
        if (w->path.error)
                stop(w, -ENOMEM);
}

static void on_end(void *userdata, const XML_Char *name) {
        Walker *w = userdata;
        if (w->error || w->depth == 0)
                return;
        int r = w->fn(w->userdata, strbuf_str(&w->path) ?: "", strbuf_str(&w->text) ?: "");
        if (r < 0)
                return stop(w, r);
        strbuf_truncate(&w->path, w->ends[--w->depth]);
        strbuf_truncate(&w->text, 0);
}

static void on_text(void *userdata, const XML_Char *s, int len) {
        Walker *w = userdata;
        if (w->error)
                return;
        if (strbuf_append_n(&w->text, s, (size_t) len) < 0)
                stop(w, -ENOMEM);
}

int xml_walk(const char *doc, size_t len, XmlFn fn, void *userdata) {
        Walker w = { .fn = fn, .userdata = userdata, .path = STRBUF_INIT, .text = STRBUF_INIT };
        w.parser = XML_ParserCreateNS(NULL, ' ');
        if (!w.parser)
                return -ENOMEM;
        XML_SetUserData(w.parser, &w);
        XML_SetElementHandler(w.parser, on_start, on_end);
        XML_SetCharacterDataHandler(w.parser, on_text);
        /* strbuf_str() of a builder nothing was appended to is NULL: make both non-empty-safe. */
        strbuf_append(&w.path, "");
        strbuf_append(&w.text, "");
        enum XML_Status st = XML_Parse(w.parser, doc, (int) MIN(len, (size_t) INT32_MAX), XML_TRUE);
        int r = w.error ? w.error : st == XML_STATUS_OK ? 0 : -EBADMSG;
        XML_ParserFree(w.parser);
        strbuf_done(&w.path);
        strbuf_done(&w.text);
        return r;
}

typedef struct Find {
        const char *path;
        char *found;
} Find;

static int find_one(void *userdata, const char *path, const char *text) {
        Find *f = userdata;
        if (strcmp(path, f->path) != 0)
                return 0;
        f->found = strdup(text);
        return -ECANCELED; /* found: stop reading */
}

char *xml_find(const char *doc, size_t len, const char *path) {
        Find f = { .path = path };
        if (doc)
                (void) xml_walk(doc, len, find_one, &f);
        return f.found;
}

char *xml_escape(const char *s) {
        _cleanup_strbuf_ StrBuf b = STRBUF_INIT;
        strbuf_append(&b, "");
        for (const char *p = s; *p; p++)
                switch (*p) {
                case '&': strbuf_append(&b, "&amp;"); break;
                case '<': strbuf_append(&b, "&lt;"); break;
                case '>': strbuf_append(&b, "&gt;"); break;
                case '"': strbuf_append(&b, "&quot;"); break;
                case '\'': strbuf_append(&b, "&apos;"); break;
                default: strbuf_append_char(&b, *p);
                }
        return strbuf_steal(&b);
}

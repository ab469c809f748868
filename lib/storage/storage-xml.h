/* storage-xml.h: reading the services' XML answers (expat): each element's text with its path. Internal. */
#pragma once

#include <stddef.h>

/* Called at the end of each element with its path from the root ("ListBucketResult/Contents/Key",
 * namespaces dropped) and its text (NUL-terminated, whitespace kept). A negative return stops. */
typedef int (*XmlFn)(void *userdata, const char *path, const char *text);

/* -EBADMSG for a document that is not well-formed XML. */
int xml_walk(const char *doc, size_t len, XmlFn fn, void *userdata);
/* The text of the first element at path, malloc'ed; NULL when none (or out of memory). */
char *xml_find(const char *doc, size_t len, const char *path);
/* Text escaped for an XML element. */
char *xml_escape(const char *s);

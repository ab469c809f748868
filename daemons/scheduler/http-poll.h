/* http-poll.h: the request of a polling HTTP trigger (io.kestra.plugin.core.http.Trigger), over libcurl. */
#pragma once

#include <jansson.h>

#include "timeutil.h"

/* At most this much of a response body is kept: the trigger's variables hold it. */
#define HTTP_POLL_BODY_MAX (1024u * 1024u)
/* The whole request, when the trigger's options do not say less (the scheduler waits for it). */
#define HTTP_POLL_TIMEOUT (30 * USEC_PER_SEC)

/* props: the trigger's rendered properties (uri, method, headers, body, contentType, formData,
 * basicAuthUser/basicAuthPassword, options.connectTimeout/readTimeout). On an answer, whatever its
 * status, returns 0 with *ret the response as Kestra's Request outputs it: {uri, code, headers
 * (name -> [values]), body (text, or null when empty)}. Otherwise a negative errno with *ret_error
 * (malloc'ed) saying why: -EINVAL for properties, -EIO for a failed transfer, -E2BIG for a body
 * over HTTP_POLL_BODY_MAX. */
int http_poll(json_t *props, json_t **ret, char **ret_error);

/* cleanup-curl.h: cleanup helpers for libcurl handles and header lists. */
#pragma once

#include <curl/curl.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(CURL *, curl_easy_cleanup)
DEFINE_TRIVIAL_CLEANUP_FUNC(struct curl_slist *, curl_slist_free_all)
#define _cleanup_curl_ _cleanup_(curl_easy_cleanupp)
#define _cleanup_curl_slist_ _cleanup_(curl_slist_free_allp)

/* cleanup-jansson.h: cleanup helpers for jansson's json_t (include only where jansson is a dependency). */
#pragma once

#include <jansson.h>

#include "macro.h"

static inline void json_decrefp(json_t **j) {
        if (*j) {
                json_decref(*j);
                *j = NULL;
        }
}
#define _cleanup_json_ _cleanup_(json_decrefp)

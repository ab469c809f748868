/* cleanup-jansson.h: cleanup helper for jansson's json_t (include only where jansson is a dependency). */
#pragma once

#include <jansson.h>

#include "macro.h"

/* jansson ships json_decrefp() for its own json_auto_t; reuse it under our naming. */
#define _cleanup_json_ _cleanup_(json_decrefp)

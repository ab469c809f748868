/* cleanup-libpq.h: cleanup helpers for libpq's PGconn and PGresult. */
#pragma once

#include <libpq-fe.h>

#include "macro.h"

DEFINE_TRIVIAL_CLEANUP_FUNC(PGresult *, PQclear)
DEFINE_TRIVIAL_CLEANUP_FUNC(PGconn *, PQfinish)
#define _cleanup_pgresult_ _cleanup_(PQclearp)
#define _cleanup_pgconn_ _cleanup_(PQfinishp)

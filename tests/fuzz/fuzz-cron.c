/* fuzz-cron: libFuzzer target for the cron parser and next/previous search (invariants trap). */
#include <stdio.h>

#include "cron.h"
#include "tz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: byte 0 = flags (bit 0: seconds field, bits 1-2: zone), bytes 1-4 = start (seconds,
 * little endian, scaled up to reach far years), then the expression text. */
static const char *const zones[] = { "UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_cron_free_ Cron *c = NULL;
        _cleanup_tz_free_ TimeZone *tz = NULL;
        _cleanup_free_ char *err = NULL;
        char expr[512];

        if (size < 5 || size - 5 >= sizeof(expr))
                return 0;
        memcpy(expr, data + 5, size - 5);
        expr[size - 5] = 0;

        int r = cron_parse(expr, data[0] & 1 ? CRON_WITH_SECONDS : 0, &c, &err);
        if (r < 0) {
                /* A refusal must say why. */
                if (r == -EINVAL && !err)
                        __builtin_trap();
                return 0;
        }
        /* Zone files are read per input: slower, but no state is carried between inputs. */
        if (tz_load(zones[(data[0] >> 1) & 3], &tz) < 0)
                return 0;

        uint32_t raw = (uint32_t) data[1] | (uint32_t) data[2] << 8 | (uint32_t) data[3] << 16 | (uint32_t) data[4] << 24;
        usec_t t = (usec_t) raw * 3 * USEC_PER_SEC, next, prev;

        for (unsigned i = 0; i < 4; i++) {
                if (cron_next(c, tz, t, &next) < 0)
                        break;
                if (next <= t)
                        __builtin_trap();
                /* The fire before the next one is never after where we started. */
                if (cron_previous(c, tz, next, &prev) == 0 && prev > t)
                        __builtin_trap();
                t = next;
        }
        return 0;
}

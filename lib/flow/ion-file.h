/* ion-file.h: Kestra's item files: Amazon Ion text, one value per line (what serdes tasks write and
 * FilterItems, DeduplicateItems and ForEachItem read), read as a stream, one item at a time. */
#pragma once

#include <jansson.h>
#include <stdint.h>

#include "line-reader.h"

/* One value of Ion text (the reader of fromIon(), lib/flow/expr-ion.c), with nothing but space and
 * comments around it. Returns 1 with the value in *ret, 0 with *ret NULL when the text holds
 * nothing, -EINVAL with *ret_why (a constant) when it is not one valid value, or -ENOMEM. */
int ion_value_parse(const char *text, size_t len, json_t **ret, const char **ret_why);
/* The Ion text of a value, on one line (as toIon() writes it): *ret malloc'ed. -E2BIG when too large
 * or nested too deeply, -ENOMEM. */
int ion_value_format(json_t *v, char **ret);

typedef struct IonItemReader {
        LineReader lines;
        uint64_t n;      /* items read so far (the current one's 1-based number) */
} IonItemReader;

/* fd: borrowed, read from its offset. */
void ion_item_reader_init(IonItemReader *r, int fd);
void ion_item_reader_done(IonItemReader *r);

/* The next item: its line as it is in the file (*ret_line, *ret_len: valid until the next call)
 * and its value in *ret (a blank line is an item with no value: NULL). Returns 1, 0 at the end,
 * -EINVAL with *ret_why (a constant) for a line that is not one Ion value, -E2BIG for a line over
 * 16 MiB, or another negative errno. */
int ion_item_reader_next(IonItemReader *r, json_t **ret, const char **ret_line, size_t *ret_len,
                         const char **ret_why);

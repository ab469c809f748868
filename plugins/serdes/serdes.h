/* serdes.h: the serdes plugin's CSV reader and writer (serdes-csv.c), used by its tasks (serdes.c). */
#pragma once

#include <stdbool.h>
#include <stdio.h>

typedef struct CsvRecord {
        char **fields; /* NUL-terminated each */
        size_t n, allocated;
        unsigned long line; /* the line it starts on, 1-based */
} CsvRecord;

/* The next record of f (fields split at sep, quoted by quote, which doubles inside a quoted field;
 * lines end with \n or \r\n). 1, 0 at the end, -ENOMEM. A blank line is a record of one empty field. */
int csv_read(FILE *f, char sep, char quote, unsigned long *line, CsvRecord *rec);
void csv_record_done(CsvRecord *rec);

typedef enum CsvQuote { CSV_QUOTE_REQUIRED, CSV_QUOTE_ALWAYS, CSV_QUOTE_NON_NUMERIC } CsvQuote;

/* One field, quoted as mode says (REQUIRED: when it holds sep, quote or a line break). */
void csv_write_field(FILE *f, const char *s, char sep, char quote, CsvQuote mode);

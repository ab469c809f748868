/* line-reader.h: read a file descriptor line by line through a bounded buffer, lines ending as
 * Java's BufferedReader.readLine() ends them (Kestra's item and text files are read that way). */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

typedef struct LineReader {
        int fd;          /* borrowed */
        char *buf;
        size_t cap, start, end, scan;
        size_t max;      /* longest line accepted */
        bool eof;
} LineReader;

/* max: the longest line (its terminator aside) the reader holds; 0: 16 MiB. */
void line_reader_init(LineReader *lr, int fd, size_t max);
void line_reader_done(LineReader *lr);

/* The next line, without its terminator ("\n", "\r\n" or a lone "\r"), in *ret (not NUL-terminated,
 * valid until the next call) and *ret_len. Returns 1, 0 at the end of the file (a last line without
 * a terminator is still a line), -E2BIG for a line longer than max, or a negative errno. */
int line_reader_next(LineReader *lr, const char **ret, size_t *ret_len);

/* strutil.h: string helpers: NULL-terminated string vectors, joining, number parsing, trimming. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

char *strdup_printf(const char *fmt, ...) _printf_(1, 2);
/* *ret_error (freed first) becomes the formatted message, NULL when out of memory; nothing when
 * ret_error is NULL. For functions that hand their caller an error text to free. */
void error_setf(char **ret_error, const char *fmt, ...) _printf_(2, 3);
/* Concatenate a NULL-terminated list of strings. */
char *strjoin_real(const char *first, ...) _sentinel_;
#define strjoin(a, ...) strjoin_real((a), __VA_ARGS__, NULL)

char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free)
#define _cleanup_strv_free_ _cleanup_(strv_freep)
size_t strv_length(char *const *l);
/* Append a copy of s; *l may be NULL. */
int strv_extend(char ***l, const char *s);
/* Append s itself, taking ownership (freed on failure). */
int strv_consume(char ***l, char *s);
bool strv_contains(char *const *l, const char *s);
/* Split on any character of sep; empty fields are dropped. */
int strv_split(const char *s, const char *sep, char ***ret);
char *strv_join(char *const *l, const char *sep);

/* Strict number parsing: whole string, no trailing garbage, range-checked. */
int safe_atoi64(const char *s, int64_t *ret);
int safe_atou64(const char *s, uint64_t *ret);
int safe_atoi(const char *s, int *ret);
int safe_atou(const char *s, unsigned *ret);
int safe_atod(const char *s, double *ret);

/* Trim ASCII whitespace in place; returns s. */
char *strstrip(char *s);
bool string_is_printable_utf8(const char *s, size_t n);
/* Levenshtein distance, capped at max+1 (for "did you mean" hints). */
size_t str_edit_distance(const char *a, const char *b, size_t max);

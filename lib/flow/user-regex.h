/* user-regex.h: regular expressions written by flow authors (Java syntax, as in Kestra), compiled as
 * POSIX extended ones whose matching cost stays bounded. */
#pragma once

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

/* Every regular expression that comes from a flow, an input or a trigger goes through
 * user_regex_compile(), which refuses what glibc can only match by backtracking: backreferences
 * (\1 to \9, \k<name>) make regexec() exponential, 56 characters of input took 14 s of CPU that
 * nothing could cancel. Without them glibc's matcher is polynomial: linear for a match anchored at
 * both ends, but quadratic for a search anywhere in the subject (16 KiB took 0.5 s), so searches
 * are given at most USER_REGEX_MAX_SUBJECT bytes of subject. */
#define USER_REGEX_MAX_PATTERN 1024u
#define USER_REGEX_MAX_SUBJECT (16u * 1024u)
/* A search costs about the square of its subject, and compiling a long expression is not free:
 * one render gets a budget of USER_REGEX_MAX_WORK (four searches in full-size subjects, any number
 * of small ones, some thousand compilations of long expressions). */
#define USER_REGEX_MAX_WORK (4ull * USER_REGEX_MAX_SUBJECT * USER_REGEX_MAX_SUBJECT)

typedef enum UserRegexFlags {
        USER_REGEX_WHOLE = 1 << 0, /* match the whole subject, as Java's String.matches() */
        USER_REGEX_NOSUB = 1 << 1, /* no capture groups wanted (REG_NOSUB) */
} UserRegexFlags;

/* Compile a Java-syntax regular expression into *re (free it with regfree()). Java's \d and \D,
 * and escapes inside brackets, are rewritten to their POSIX spelling; capture groups keep their
 * numbers. Returns 0; -EINVAL with *ret_why (a static English phrase) when the expression is
 * refused or invalid; -ENOMEM. */
int user_regex_compile(const char *pattern, UserRegexFlags flags, regex_t *re, const char **ret_why);

/* What compiling a pattern of pattern_len bytes and searching a subject of subject_len bytes is
 * charged against USER_REGEX_MAX_WORK. */
static inline uint64_t user_regex_cost(size_t subject_len, size_t pattern_len) {
        uint64_t n = (uint64_t) subject_len + pattern_len + 1;
        return n * n;
}

/* id.h: short, unique, URL-safe identifiers for executions, task runs and services. */
#pragma once

#include <stdbool.h>

/* 128 random bits in base62: 22 characters, [0-9A-Za-z], as Kestra's ids look. */
#define ID_LEN 22
#define ID_MAX (ID_LEN + 1)

int id_new(char buf[static ID_MAX]);
bool id_is_valid(const char *s);

/* jdbc.h: the JDBC-style query plugin's parts: the task run (jdbc.c: properties, fetchType, outputs, Ion
 * files) and the database drivers it calls (jdbc-postgres.c, jdbc-mysql.c, jdbc-sqlite.c). */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include <tern/plugin.h>

/* A value of a result's cell, as the driver read it; jdbc.c renders it as Kestra's JDBC plugins do:
 * numbers as numbers, timestamps as ISO-8601 with their offset (Ion timestamps in STORE files),
 * dates and times as text, binary data as base64 (Ion blobs). */
typedef enum CellKind {
        CELL_NULL,
        CELL_BOOL,      /* text "t"/"1" is true */
        CELL_INT,       /* decimal digits, maybe past 64 bits */
        CELL_DECIMAL,   /* an exact number with a point: numeric, DECIMAL */
        CELL_FLOAT,     /* text as the server printed it (maybe "NaN", "Infinity") */
        CELL_STRING,
        CELL_TIMESTAMP, /* ISO-8601 already (jdbc_timestamp()) */
        CELL_DATE,      /* YYYY-MM-DD */
        CELL_TIME,      /* HH:MM:SS[.f] */
        CELL_BYTES,
} CellKind;

typedef struct Cell {
        CellKind kind;
        const char *text; /* not NUL-terminated for CELL_BYTES */
        size_t len;
} Cell;

typedef enum FetchType { FETCH_NONE, FETCH_ONE, FETCH_ALL, FETCH_STORE } FetchType;

typedef struct Jdbc Jdbc;

/* A statement's rows, from the driver to jdbc.c. The driver calls begin once for a statement that
 * returns rows (even none), row for each, end after the last. Each returns 0 or a negative errno
 * (with jdbc_fail() said). */
int jdbc_result_begin(Jdbc *j, size_t ncols, const char *const *names);
int jdbc_result_row(Jdbc *j, const Cell *cells);
int jdbc_result_end(Jdbc *j);

/* Fails the task run with a message (printf-style); returns -EIO, for 'return jdbc_fail(...)'. */
int jdbc_fail(Jdbc *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
const TernPluginServices *jdbc_services(Jdbc *j);
bool jdbc_cancelled(Jdbc *j);

/* "2024-01-02 03:04:05.5+02" (or with a T, offsets +HH, +HH:MM, none) into ISO-8601 as Kestra
 * prints it, "2024-01-02T03:04:05.5+02:00", "Z" for UTC; without an offset in the text, zone_offset
 * is appended when not NULL. Returns the text (free() it), or NULL when out of memory. */
char *jdbc_timestamp(const char *text, const char *zone_offset);

/* What a driver is given to connect. */
typedef struct JdbcConnect {
        const char *url;      /* without "jdbc:" */
        const char *username; /* NULL: the URL's */
        const char *password;
        const char *time_zone; /* timeZoneId, NULL: UTC */
        const char *working_dir;
        const char *sqlite_file; /* sqliteFile: a database fetched from internal storage, in working_dir */
} JdbcConnect;

typedef struct JdbcDriver {
        const char *name; /* for messages: "PostgreSQL" */
        /* How the i-th (0-based) parameter of a rewritten statement is written: a placeholder, or
         * (drivers without them) the value as an SQL literal. */
        int (*placeholder)(void *conn, FILE *sql, size_t i, json_t *value);
        int (*connect)(Jdbc *j, const JdbcConnect *c, void **ret_conn);
        /* Runs one statement with its parameters (those placeholder() did not inline), its rows given
         * to jdbc_result_*(). Stops early when jdbc_cancelled(). */
        int (*execute)(Jdbc *j, void *conn, const char *sql, json_t *params);
        void (*disconnect)(void *conn);
} JdbcDriver;

extern const JdbcDriver jdbc_postgres, jdbc_mysql, jdbc_sqlite;

/* variables.h: what the process environment gives flows: envs.* (variables with a prefix),
 * globals.* (a JSON document) and secret() values (base64 SECRET_* variables, as Kestra's
 * default secret backend reads them). */
#pragma once

#include <jansson.h>

#include "engine.h"

/* envs: every environment variable named PREFIX<NAME> as envs.<name> (lower-cased), prefix from
 * $TERN_ENV_PREFIX (default "ENV_"). Returns a new object. */
json_t *runtime_envs(void);
/* globals: $TERN_GLOBALS holds a JSON object; NULL (and *error set) when it is not one. Returns a
 * new object ({} when unset). */
json_t *runtime_globals(char **error);
/* secret(key): $SECRET_<KEY> (key upper-cased, '-' and '.' as '_'), base64-decoded. 0 and a new
 * string; -ENOENT when unset; -EBADMSG when not base64. Signature fits EngineConfig.secret. */
int runtime_secret(void *userdata, const char *key, char **ret);

/* The engine's configuration from the environment (the three above): what every component that
 * runs or starts executions passes to the engine. 0; -EINVAL with *ret_error (free it) when
 * TERN_GLOBALS is not a JSON object; -ENOMEM. Release it with runtime_engine_config_done(). */
int runtime_engine_config(EngineConfig *ret, char **ret_error);
void runtime_engine_config_done(EngineConfig *c);

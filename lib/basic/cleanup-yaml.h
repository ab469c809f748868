/* cleanup-yaml.h: cleanup helpers for libyaml's parser, event and document (stack-allocated structs). */
#pragma once

#include <yaml.h>

#include "macro.h"

/* libyaml's objects live on the stack and are torn down with *_delete(); these helpers make that
 * automatic. Initialize with memset/yaml_parser_initialize before the first early return. */
static inline void yaml_parser_deletep(yaml_parser_t *p) {
        yaml_parser_delete(p);
}
static inline void yaml_event_deletep(yaml_event_t *e) {
        yaml_event_delete(e);
}
static inline void yaml_document_deletep(yaml_document_t *d) {
        yaml_document_delete(d);
}
#define _cleanup_yaml_parser_ _cleanup_(yaml_parser_deletep)
#define _cleanup_yaml_event_ _cleanup_(yaml_event_deletep)
#define _cleanup_yaml_document_ _cleanup_(yaml_document_deletep)

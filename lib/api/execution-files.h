/* execution-files.h: an execution's files in internal storage (lib/storage): which kestra:/// URIs a
 * reader may use, FILE inputs stored at creation, reading, deleting, and the file functions of
 * expressions (read(), fileURI(), fileSize(), fileExists()). */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "flow.h"
#include "storage.h"

/* Whose files a reader may use: an execution's own and, as Kestra allows, those of the execution
 * that started it (a subflow's parent, the execution behind a Flow trigger). Strings borrowed. */
typedef struct ApiFileScope {
        const char *namespace, *flow_id, *execution_id;
        const char *parent_namespace, *parent_flow_id, *parent_execution_id; /* NULL: none */
} ApiFileScope;

/* From an execution document (namespace, flowId, id): its own files only (the API's and the CLI's
 * rule: a request names the execution, and gets nothing else). */
void api_file_scope_from_doc(json_t *doc, ApiFileScope *ret);
/* From the variables of a rendering (flow.namespace, flow.id, execution.id; trigger.executionId,
 * trigger.namespace and trigger.flowId for the starting execution). */
void api_file_scope_from_variables(json_t *vars, ApiFileScope *ret);

/* The storage key of uri when it names a file of scope's executions. -EINVAL (with *ret_why, a
 * constant) when uri is not a valid kestra:/// URI (traversal, encoded traversal, NUL...), -EACCES
 * when it is a file of something else. */
int api_file_key(const ApiFileScope *scope, const char *uri, char **ret_key, const char **ret_why);

/* Store fd, read from its offset to its end, as FILE input `input` of execution exec_id of flow f,
 * named as name's base name (an unusable one becomes the input's id): Kestra's
 * .../executions/ID/inputs/INPUT/FILE. *ret_uri: the kestra:/// URI the flow sees. -EINVAL for an
 * input id that cannot name a file; other errors are the storage's (storage_error()). */
int api_file_input_put(Storage *s, const Flow *f, const char *exec_id, const char *input, const char *name, int fd,
                       char **ret_uri);

/* The contents of key, NUL-terminated, at most max bytes (-EFBIG beyond). */
int api_file_read(Storage *s, const char *key, size_t max, char **ret, size_t *ret_len);

/* Every file of an execution (inputs and task outputs); none is not an error. ret_count (may be
 * NULL) gets how many there were. */
int api_files_delete_execution(Storage *s, const char *ns, const char *flow_id, const char *exec_id,
                               uint64_t *ret_count);

/* read(path), fileURI(path), fileSize(path), fileExists(path) as Kestra has them, for an
 * ExprContext.function: path is a kestra:/// URI of scope's executions (the rendering's variables
 * say which) or a namespace file's path (in the flow's namespace, or the second argument's).
 * -ENOENT for any other name; -EINVAL with *ret_message for a refused or failed call. s NULL: the
 * functions that need the storage say it is missing here. */
#define API_FILE_READ_MAX (16u * 1024 * 1024)
int api_file_function(Storage *s, json_t *variables, const char *name, json_t *args, json_t **ret,
                      char **ret_message);

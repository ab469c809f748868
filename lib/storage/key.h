/* key.h: the keys of the internal storage: which are valid, and Kestra's kestra:/// addressing of
 * execution, task, input, namespace and key-value files. */
#pragma once

#include <stdbool.h>

/* Longest key accepted (S3's limit, less room for a URL's prefix) and longest segment (a file name). */
#define STORAGE_KEY_MAX 900u
#define STORAGE_SEGMENT_MAX 255u

/* NULL when key is valid: relative, '/'-separated, at most STORAGE_KEY_MAX bytes; else why not
 * (a constant string). Refused: an empty key, an absolute one, empty, "." or ".." segments, a
 * backslash, a control character, a segment longer than STORAGE_SEGMENT_MAX, and a percent-encoded
 * '.', '/', '\\', '%' or control character (encoded traversal, for whoever decodes the key later). */
const char *storage_key_invalid(const char *key);
static inline bool storage_key_valid(const char *key) {
        return !storage_key_invalid(key);
}
/* A directory prefix for list/delete_prefix: "" or a valid key. */
const char *storage_prefix_invalid(const char *prefix);

/* The key of a kestra:///KEY URI (percent-decoded once, then checked as a key). -EINVAL with *ret_why
 * (a constant, when not NULL) for any other URI. */
int storage_key_from_uri(const char *uri, char **ret_key, const char **ret_why);
/* kestra:///KEY, with what a URI cannot hold as is percent-encoded. */
char *storage_key_to_uri(const char *key);

/* Kestra's Slugify: spaces and '_' become '-', other characters that are not [A-Za-z0-9-] are
 * dropped, runs of '-' collapse, no '-' at either end, lower case. Used for flow and task ids. */
char *storage_slugify(const char *s);

/* Kestra's layout (StorageContext): the namespace as a path ('.' becomes '/'), the flow's and the
 * task's ids slugified. Each returns -EINVAL when a part would not make a valid key.
 *   NS/FLOW/executions/EXEC                                   storage_key_execution
 *   NS/FLOW/executions/EXEC/tasks/TASK/TASKRUN/FILE           storage_key_task_file
 *   NS/FLOW/executions/EXEC/inputs/INPUT/FILE                 storage_key_input_file
 *   NS/FLOW/executions/EXEC/trigger/TRIGGER/FILE              storage_key_trigger_file
 *   NS/_files[/PATH]                                          storage_key_namespace_file
 *   NS/_kv[/KEY.ion]                                          storage_key_kv */
int storage_key_execution(const char *ns, const char *flow, const char *exec_id, char **ret);
int storage_key_task_file(const char *ns, const char *flow, const char *exec_id, const char *task_id,
                          const char *task_run_id, const char *file, char **ret);
int storage_key_input_file(const char *ns, const char *flow, const char *exec_id, const char *input,
                           const char *file, char **ret);
/* What the call that created the execution brought (a webhook's files and stored body); file may
 * hold directories of its own. */
int storage_key_trigger_file(const char *ns, const char *flow, const char *exec_id, const char *trigger_id,
                             const char *file, char **ret);
/* path NULL: the namespace's files directory itself. */
int storage_key_namespace_file(const char *ns, const char *path, char **ret);
/* kv_key NULL: the namespace's KV directory; else Kestra's rule for a KV key applies
 * ([A-Za-z0-9][A-Za-z0-9._-]*). */
int storage_key_kv(const char *ns, const char *kv_key, char **ret);

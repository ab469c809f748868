/* cli-kafka.h: what the commands share that talk to the Kafka queue backend ([queue] type = kafka):
 * tern.conf read for it, and events sent to the executors on execution-events. */
#pragma once

#include <jansson.h>
#include <stdbool.h>

#include "config.h"
#include "execution.h"
#include "store.h"
#include "timeutil.h"

/* How long a command waits for the brokers' acknowledgement of an event by default. */
#define CLI_KAFKA_TIMEOUT_USEC (30 * USEC_PER_SEC)

/* tern.conf (path, else $TERN_CONFIG, else the default file) with overrides ("section.key=value")
 * as a command reads it, into *ret; prints what is wrong. 0, or 1 (said). */
int cli_kafka_config_load(const char *cmd, const char *path, char **overrides, TernConfig *ret);

/* Whether tern.conf says [queue] type = kafka, for the commands that signal executions through
 * the database otherwise ('tern execution start|kill|resume|restart'); *ret then holds it (the
 * caller calls config_done()). A tern.conf that cannot be read is the database queue: those
 * commands never read it before. */
bool cli_queue_is_kafka(TernConfig *ret);

/* Send the engine event {type, payload, execution} for execution id to execution-events, keyed by
 * the id (so that it lands in the partition of the executor that holds the execution, after the
 * execution's earlier events), and wait for the brokers. execution (may be NULL) is the document
 * an executor takes the execution from when it does not hold it: a new one, a restarted one.
 * Prints what failed; 0, or 1 (said). */
int cli_kafka_event(const char *cmd, const TernConfig *cfg, const char *id, const char *type, json_t *payload,
                    json_t *execution, usec_t timeout);

/* Start the built execution e on Kafka (its "created" event carrying its document) and write it
 * to s, so that it shows at once (the executor's indexing writes it again with each step). 0, or 1
 * (said). */
int cli_kafka_submit(const char *cmd, const TernConfig *cfg, Store *s, const Execution *e, usec_t timeout);

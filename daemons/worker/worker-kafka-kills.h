/* worker-kafka-kills.h: the kills of running tasks that the executors send to the workers on Kafka
 * (worker-kills, docs/KAFKA.md), read whole by every worker, in no group. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "kafka.h"

typedef struct WorkerKills WorkerKills;

/* Called from the reading thread for every kill read: the job of task run task_run_id at epoch is
 * to be stopped wherever it runs. */
typedef void (*WorkerKillFn)(const char *task_run_id, int64_t epoch, void *userdata);

/* A reader of worker-kills from the records of the last WORKER_KILLS_KEEP_USEC on (a job fetched
 * after its kill was sent is then known as killed, whenever this worker started). *ret_error
 * (optional) says why the brokers refused. */
int worker_kills_new(const KafkaOptions *o, WorkerKillFn fn, void *userdata, WorkerKills **ret, char **ret_error);
int worker_kills_start(WorkerKills *k);
/* Whether a kill of that job was read in the last WORKER_KILLS_KEEP_USEC. */
bool worker_kills_has(WorkerKills *k, const char *task_run_id, int64_t epoch);
/* Stops the reading thread; accepts NULL. */
WorkerKills *worker_kills_free(WorkerKills *k);
DEFINE_FREE_CLEANUP(WorkerKills, worker_kills_free)

/* How long a kill is remembered: longer than a job waits in worker-jobs on a loaded cluster. */
#define WORKER_KILLS_KEEP_USEC (10 * USEC_PER_MINUTE)

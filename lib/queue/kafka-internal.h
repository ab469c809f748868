/* kafka-internal.h: what the Kafka client's files share and nobody else needs. */
#pragma once

#include "macro.h"

/* Replace *ret_error (when ret_error is not NULL) with the formatted sentence; -ENOMEM, else 0. */
int kafka_set_error(char **ret_error, const char *fmt, ...) _printf_(2, 3);

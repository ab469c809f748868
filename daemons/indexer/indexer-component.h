/* indexer-component.h: the Kafka indexer as the daemon frame runs it (tern-indexer, tern server indexer|standalone). */
#pragma once

#include "daemon.h"

extern const DaemonComponent indexer_component;

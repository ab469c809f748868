/* executor-component.h: the executor as the daemon frame runs it (tern-executor, tern server executor|standalone). */
#pragma once

#include "daemon.h"

extern const DaemonComponent executor_component;

/* scheduler-component.h: the scheduler as the daemon frame runs it (tern-scheduler, tern server scheduler|standalone). */
#pragma once

#include "daemon.h"

extern const DaemonComponent scheduler_component;

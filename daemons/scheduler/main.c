/* main.c: tern-scheduler, the scheduler component (Schedule and Flow triggers) as a systemd service. */
#include "scheduler-component.h"

int main(int argc, char *argv[]) {
        return daemon_main(&scheduler_component, NULL, argc, argv);
}

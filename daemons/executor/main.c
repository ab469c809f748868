/* main.c: tern-executor, the executor component as a systemd service (and the liveness coordinator). */
#include "executor-component.h"

int main(int argc, char *argv[]) {
        return daemon_main(&executor_component, NULL, argc, argv);
}

/* main.c: tern-worker, the worker component as a systemd service (tern-worker@N.service). */
#include "worker-component.h"

int main(int argc, char *argv[]) {
        return daemon_main(&worker_component, NULL, argc, argv);
}

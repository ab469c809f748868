/* main.c: tern-indexer, the Kafka queue backend's indexer as a systemd service. */
#include "indexer-component.h"

int main(int argc, char *argv[]) {
        return daemon_main(&indexer_component, NULL, argc, argv);
}

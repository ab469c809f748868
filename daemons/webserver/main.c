/* main.c: tern-webserver, the REST API as a systemd service, socket-activated or listening itself. */
#include "web-component.h"

int main(int argc, char *argv[]) {
        /* Before the frame takes the first passed socket for its status socket. */
        const WebComponentParams params = { .http_fd = web_take_http_socket() };
        return daemon_main(&web_component, &params, argc, argv);
}

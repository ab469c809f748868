/* web-component.h: the webserver as the daemon frame runs it (tern-webserver, tern server webserver|standalone). */
#pragma once

#include "daemon.h"

typedef struct WebComponentParams {
        int http_fd; /* the HTTP socket systemd passed (web_take_http_socket()), or -1: [webserver] listen */
} WebComponentParams;

extern const DaemonComponent web_component;

/* Take the socket named "http" (FileDescriptorName=http) out of what systemd passed, and leave the
 * rest (the status socket) as the only passed fd, for the frame's status socket. Call it before
 * the frame starts. Returns the http fd or -1. */
int web_take_http_socket(void);

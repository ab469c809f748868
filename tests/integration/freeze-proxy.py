#!/usr/bin/env python3
# freeze-proxy.py: a TCP relay that stops relaying on SIGUSR1 (a cut link: nothing passes, no
# connection is closed) and resumes on SIGUSR2. Usage: freeze-proxy.py TARGET_PORT; prints its port.
import selectors
import signal
import socket
import sys
import time

target = ("127.0.0.1", int(sys.argv[1]))
frozen = False


def freeze(*_):
    global frozen
    frozen = True


def thaw(*_):
    global frozen
    frozen = False


signal.signal(signal.SIGUSR1, freeze)
signal.signal(signal.SIGUSR2, thaw)

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
print(listener.getsockname()[1], flush=True)

sel = selectors.DefaultSelector()
sel.register(listener, selectors.EVENT_READ, None)


def close_pair(a, b):
    for s in (a, b):
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()


while True:
    # Frozen: nothing is read, accepted or forwarded; the kernel keeps acknowledging what it can
    # buffer, as a switch with its uplink cut would not, so only the client's own clock notices.
    if frozen:
        time.sleep(0.1)
        continue
    events = sel.select(timeout=0.1)
    for key, _ in events:
        if key.data is None:
            client, _ = listener.accept()
            try:
                server = socket.create_connection(target)
            except OSError:
                client.close()
                continue
            sel.register(client, selectors.EVENT_READ, server)
            sel.register(server, selectors.EVENT_READ, client)
            continue
        src, dst = key.fileobj, key.data
        try:
            data = src.recv(65536)
        except OSError:
            data = b""
        if not data:
            close_pair(src, dst)
            continue
        try:
            dst.sendall(data)
        except OSError:
            close_pair(src, dst)

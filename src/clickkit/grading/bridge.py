"""Join a sandboxed kernel's private network to the grader: Kafka out, the student's endpoint in, over Unix sockets.

The kernel runs in a network namespace of its own, with only a loopback. Inside it, this process listens where
the notebook expects Kafka and passes each connection to the grader's broker link (a Unix socket the grader
owns), and it exposes the student's endpoint port as a Unix socket in the submission's folder, for the grader's
requests. Then it runs the kernel and waits for it.

    python -m clickkit.grading.bridge --kafka PORT=SOCKET --endpoint SOCKET=PORT -- kernel command...
"""

import argparse
import os
import socket
import subprocess
import sys
import threading

from clickkit.broker.gate import pump


def serve(listener: socket.socket, connect) -> None:
    """Accept connections forever; join each one to a fresh connection from `connect()`."""
    while True:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        try:
            upstream = connect()
        except OSError:
            client.close()  # the grader has cut this path: to the client, the far side went away
            continue
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(source, sink), daemon=True).start()


def unix_client(path: str):
    """Return a function that connects to the Unix socket at path."""
    def connect():
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(path)
        except OSError:
            sock.close()
            raise
        return sock
    return connect


def tcp_client(port: int):
    """Return a function that connects to port on this namespace's loopback."""
    def connect():
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.settimeout(None)  # a slow endpoint is the grader's to time out, not the bridge's
        return sock
    return connect


def main(argv=None) -> int:
    """Open the bridges, run the command after `--`, and return its exit status."""
    args = sys.argv[1:] if argv is None else argv
    split = args.index("--")
    parser = argparse.ArgumentParser(prog="python -m clickkit.grading.bridge")
    parser.add_argument("--kafka", action="append", default=[], help="PORT=SOCKET: Kafka's address, inside")
    parser.add_argument("--endpoint", help="SOCKET=PORT: the student's endpoint, for the grader")
    options = parser.parse_args(args[:split])
    for pair in options.kafka:
        port, path = pair.split("=", 1)
        listener = socket.create_server(("127.0.0.1", int(port)))
        threading.Thread(target=serve, args=(listener, unix_client(path)), daemon=True).start()
    if options.endpoint:
        path, port = options.endpoint.rsplit("=", 1)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(path)
        listener.listen(64)
        threading.Thread(target=serve, args=(listener, tcp_client(int(port))), daemon=True).start()
    kernel = subprocess.Popen(args[split + 1:])
    try:
        return kernel.wait()
    except KeyboardInterrupt:  # interrupts reach the kernel as messages; this process has nothing to stop
        return kernel.wait()


if __name__ == "__main__":
    os._exit(main())  # daemon threads blocked in accept() must not hold the exit

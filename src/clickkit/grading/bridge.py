"""Join a sandboxed kernel's private network to the grader: Kafka out, the student's endpoint in, over Unix sockets.

The kernel runs in a network namespace of its own, with only a loopback. Inside it, this process listens where
the notebook expects Kafka and passes each connection to the grader's broker link (a Unix socket the grader
owns), and it exposes the student's endpoint port as a Unix socket in the submission's folder, for the grader's
requests. Then it runs the kernel and waits for it.

    python -m clickkit.grading.bridge --kafka PORT=SOCKET --endpoint SOCKET=PORT -- kernel command...
"""

import argparse
import contextlib
import os
import socket
import stat
import subprocess
import sys
import threading

from clickkit.broker.gate import pump

MAX_REFUSALS = 10  # different reasons kept for the log: the grader connects once per request


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


def owned_unix_client(path: str, owner: int, refusals: list):
    """Return a function that connects to the Unix socket at path only if `owner` made it there (see pinned_socket).

    A refusal raises PermissionError, and its reason is appended to `refusals` (each reason once).
    """

    def connect():
        try:
            descriptor = pinned_socket(path, owner)
        except OSError as refused:
            gone = isinstance(refused, FileNotFoundError)
            why = "the endpoint socket was removed" if gone else f"the endpoint socket was replaced by {refused}"
            if why not in refusals and len(refusals) < MAX_REFUSALS:
                refusals.append(why)
            raise
        try:
            return unix_client(f"/proc/self/fd/{descriptor}")()
        finally:
            os.close(descriptor)

    return connect


def pinned_socket(path: str, owner: int) -> int:
    """Open the Unix socket at path itself, never a link's target, and return the descriptor if `owner` made it.

    The path is in a folder the sandbox may write: its code could put there a link to any socket of the host.
    Raise PermissionError saying what is there instead. Connecting to /proc/self/fd/<descriptor> reaches the very
    socket checked, whatever has become of the path since.
    """
    descriptor = os.open(path, os.O_PATH | os.O_NOFOLLOW)
    found = os.fstat(descriptor)
    if stat.S_ISLNK(found.st_mode):
        target = "?"
        with contextlib.suppress(OSError):
            target = os.readlink(path)[:200]
        why = f"a symbolic link to {target!r}"
    elif not stat.S_ISSOCK(found.st_mode):
        why = "a file that is not a socket"
    elif found.st_uid != owner:
        why = f"a socket of uid {found.st_uid}, not the sandbox's"
    elif found.st_nlink != 1:
        why = f"a socket linked {found.st_nlink} times"
    else:
        return descriptor
    os.close(descriptor)
    raise PermissionError(why)


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
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # whatever the folder held there before: the socket is this process's
        listener.bind(path)
        listener.listen(64)
        threading.Thread(target=serve, args=(listener, tcp_client(int(port))), daemon=True).start()
    kernel = subprocess.Popen(args[split + 1 :])
    try:
        return kernel.wait()
    except KeyboardInterrupt:  # interrupts reach the kernel as messages; this process has nothing to stop
        return kernel.wait()


if __name__ == "__main__":
    os._exit(main())  # daemon threads blocked in accept() must not hold the exit

"""Serve a Flask app from a notebook: in a background thread, or in the foreground while a client runs.

Also: `cell_output()`, which keeps what a thread prints under the cell that started it.
"""

import contextvars
import errno
import functools
import socket
import sys
import threading
import time
from dataclasses import dataclass

from werkzeug.serving import make_server

from clickkit.errors import KitError


class BackgroundServer:
    """A Werkzeug server on its own thread, stopped with `stop()` instead of a KeyboardInterrupt.

    In a notebook, the server's log and errors appear under the cell that called `start()`, even after other
    cells ran: its threads, and the thread of every request, print there (see `cell_output()`).
    """

    def __init__(self, app, port: int = 5000, host: str = "127.0.0.1"):
        self.app, self.host, self.port = app, host, port
        self._server = None
        self._thread = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> "BackgroundServer":
        """Start serving; a busy port gets an error that says what to do."""
        if self._server is not None:
            print(f"Already serving on {self.url}")
            return self
        self._server = bind(self.app, self.host, self.port)
        self.port = self._server.port  # port 0 means "any free port"
        serve = cell_output(self._server.serve_forever)
        self._thread = threading.Thread(target=serve, name="flask-server", daemon=True)
        self._thread.start()
        print(f"Serving on {self.url}")
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is None:
            print("The server was not running.")
            return
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
        self._server = self._thread = None
        print("Server stopped.")


@dataclass
class Served:
    """What happened while serving in the foreground."""

    requests: int = 0
    seconds: float = 0.0
    most_lines: int = 0  # the most lines the cell showed at once, clear_output() taken into account
    client_result: object = None
    log_error: str = ""  # what on_request raised, if it did


def serve_while(app, port: int, client, on_request=None, seconds: float = 120.0, host: str = "127.0.0.1") -> Served:
    """Serve in this cell while `client()` runs in a thread, at most `seconds`; return what happened.

    Output printed while serving lands in this cell, as with app.run(). `on_request(method, path, status)`
    is called for every answer, from the server's threads.
    """
    served, started, lock = Served(), time.monotonic(), threading.Lock()

    def logged(environ, start_response):
        def start(status, headers, exc_info=None):
            with lock:
                served.requests += 1
            if on_request is not None and not served.log_error:
                try:
                    on_request(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""), int(status.split()[0]))
                except Exception as error:  # the student's log must not break the endpoint
                    served.log_error = f"{type(error).__name__}: {error}"
            return start_response(status, headers, exc_info)

        return app(environ, start)

    with OutputMeter() as meter:
        server = bind(logged, host, port)
        worker = threading.Thread(target=cell_output(lambda: setattr(served, "client_result", client())), daemon=True)

        def stop_when_done():
            worker.join(timeout=seconds)
            server.shutdown()

        worker.start()
        threading.Thread(target=stop_when_done, daemon=True).start()
        try:
            server.serve_forever(poll_interval=0.1)
        except KeyboardInterrupt:
            print("(stopped by you)")
        finally:
            server.server_close()
        served.seconds = time.monotonic() - started
        if served.log_error:
            print(f"Your request log raised {served.log_error.rstrip('.')}; the server went on without it.")
    served.most_lines = meter.most
    return served


NOTEBOOK_BUSY_HINT = (
    "Stop the other server (is an earlier one still running? call .stop() on it), or pick another "
    "port with INGEST_PORT=5001. On macOS the AirPlay Receiver takes port 5000."
)


def bind(app, host: str, port: int, busy_hint: str = NOTEBOOK_BUSY_HINT):
    """Return a threaded Werkzeug server listening on host:port (0: any free port), or raise KitError with busy_hint."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Werkzeug does: a quick restart may reuse it
    try:
        listening.bind((host, port))
        listening.listen(128)
    except OSError as error:
        listening.close()
        problem = (
            f"Port {port} is busy."
            if error.errno == errno.EADDRINUSE
            else f"Cannot listen on {host}:{port}: {error.strerror}."
        )
        raise KitError(f"{problem} {busy_hint}") from None
    # Werkzeug 3.1 prints its own message and exits the whole program when it cannot bind: it gets a bound socket.
    server = make_server(host, port, app, threaded=True, fd=listening.fileno())
    listening.close()  # the server holds its own duplicate of the socket
    # Each request gets a thread of its own (socketserver's ThreadingMixIn starts it with this method as its
    # target): its log line and any error belong under the cell that made the server, however late it runs.
    server.process_request_thread = cell_output(server.process_request_thread)
    return server


def cell_output(target):
    """Return `target` bound to the cell running now: called on any thread, later, its output lands there.

    ipykernel 7 sends what a thread prints (print, logging to stderr, tracebacks, display) to the cell that
    ran last, unless the thread names its own parent message (ipykernel pull request #1451); ipykernel 6.29
    guessed it from the thread that started it. Here the running cell's message is taken now, and set as
    the parent of the thread that runs `target`: with the shell's set_thread_parent() where ipykernel has
    it (7.4 on), else in each output object's own per-thread parent (a ContextVar, ipykernel 6.29 on). A
    target that raises leaves its parent set, so the traceback printed as its thread ends lands there too.
    Outside a kernel `target` is returned as it is.
    """
    parent = _running_cell()
    if not parent:
        return target

    @functools.wraps(target)
    def in_cell(*args, **kwargs):
        undo = _set_thread_parent(parent)
        result = target(*args, **kwargs)
        undo()  # a thread of a pool runs other work next: that work names its own cell, or none
        return result

    return in_cell


def _running_cell():
    """Return the message of the cell whose output this thread writes to now, or None outside a kernel."""
    shell = _shell()
    if shell is None or not hasattr(shell, "kernel"):  # plain IPython or no IPython: output goes to the terminal
        return None
    from jupyter_client.session import extract_header  # ipykernel's own dependency

    message = shell.get_parent() if hasattr(shell, "get_parent") else None
    header = getattr(sys.stdout, "parent_header", None) or getattr(sys.stderr, "parent_header", None)
    if header and header.get("msg_id") and extract_header(message).get("msg_id") != header["msg_id"]:
        return {"header": header}  # a thread routed before ipykernel 7.4: only its streams know its cell
    return message or None


def _set_thread_parent(parent):
    """Make `parent` the parent message of this thread's output only; return a function that undoes it."""
    shell = _shell()
    if shell is None:
        return lambda: None
    if hasattr(shell, "set_thread_parent") and hasattr(shell, "reset_thread_parent"):  # ipykernel >= 7.4
        tokens = shell.set_thread_parent(parent)
        return lambda: shell.reset_thread_parent(tokens)
    from jupyter_client.session import extract_header  # ipykernel's own dependency

    header, tokens = extract_header(parent), []
    for target in (shell, sys.stdout, sys.stderr, shell.display_pub, shell.displayhook):
        variable = getattr(target, "_parent_header", None)  # set_parent() would move every other thread too
        if isinstance(variable, contextvars.ContextVar):  # the shell keeps the whole message, the others its header
            tokens.append((variable, variable.set(parent if target is shell else header)))

    def undo():
        for variable, token in reversed(tokens):
            variable.reset(token)

    return undo


class OutputMeter:
    """Count the lines a cell shows while it runs: what is printed, less what clear_output() wipes."""

    def __init__(self):
        self.visible = self.most = self.clears = 0
        self._lock = threading.Lock()
        self._saved = None

    def add(self, lines: int) -> None:
        with self._lock:
            self.visible += lines
            self.most = max(self.most, self.visible)

    def cleared(self) -> None:
        with self._lock:
            self.visible, self.clears = 0, self.clears + 1

    def __enter__(self) -> "OutputMeter":
        publisher = getattr(_shell(), "display_pub", None)
        self._saved = (sys.stdout, sys.stderr, publisher)
        sys.stdout, sys.stderr = _CountingStream(sys.stdout, self), _CountingStream(sys.stderr, self)
        if publisher is not None:  # IPython's clear_output() and display() go through the display publisher
            clear, publish = publisher.clear_output, publisher.publish

            def counting_clear(*args, **kwargs):
                sys.stdout.flush()  # what was printed before the clear belongs before it
                self.cleared()
                return clear(*args, **kwargs)

            def counting_publish(*args, **kwargs):
                self.add(1)
                return publish(*args, **kwargs)

            publisher.clear_output, publisher.publish = counting_clear, counting_publish
        return self

    def __exit__(self, *exc) -> None:
        sys.stdout, sys.stderr, publisher = self._saved
        if publisher is not None:
            del publisher.clear_output, publisher.publish  # back to the class's own methods


class _CountingStream:
    """A text stream that tells an OutputMeter how many lines pass through it."""

    def __init__(self, stream, meter: OutputMeter):
        self._stream, self._meter = stream, meter

    def write(self, text: str) -> int:
        self._meter.add(text.count("\n"))
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _shell():
    """Return the running IPython shell, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()

"""Serve a Flask app from a background thread, so a notebook can start, test and stop it."""

import threading

from werkzeug.serving import make_server


class BackgroundServer:
    """A Werkzeug server on its own thread, stopped with `stop()` instead of a KeyboardInterrupt."""

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
        try:
            self._server = make_server(self.host, self.port, self.app, threaded=True)
        except OSError as error:
            raise RuntimeError(
                f"Port {self.port} is busy ({error.strerror}). Stop the other server (is an earlier one still "
                "running? call .stop() on it), or pick another port with INGEST_PORT=5001. On macOS the "
                "AirPlay Receiver takes port 5000."
            ) from None
        self.port = self._server.server_port  # port 0 means "any free port"
        self._thread = threading.Thread(target=self._server.serve_forever, name="flask-server", daemon=True)
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

"""What the grader runs inside a student's kernel: app.run() serves in the background, and serves again at the end.

The only grading module a sandboxed kernel can import besides the bridge (sandbox.VISIBLE_GRADING): it holds no
check, variant or answer, only how the grader reaches the student's endpoint without changing their code.
"""

import os
import socket

import flask

from clickkit.course.notebook_server import BackgroundServer

served = []  # every app the notebook served, the last one last
start_as_taught = BackgroundServer.start


def install() -> None:
    """Make a blocking Flask.run() serve in the background on INGEST_PORT, and remember every app served."""

    def remember(server):
        served.append(server.app)
        return start_as_taught(server)

    def run_in_background(app, *args, **kwargs):
        BackgroundServer(app, port=int(os.environ["INGEST_PORT"])).start()

    BackgroundServer.start = remember
    flask.Flask.run = run_in_background


def serve_again(port: int) -> None:
    """Serve the app the notebook served last on `port` once more, when nothing answers there (the lesson stops it)."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", port)) == 0:
            return
    from IPython import get_ipython

    shell = get_ipython()
    app = served[-1] if served else (shell.user_ns.get("app") if shell else None)
    if isinstance(app, flask.Flask):
        start_as_taught(BackgroundServer(app, port=port))

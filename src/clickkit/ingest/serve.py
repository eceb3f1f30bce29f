"""Serve the reference ingest app the recommended way: granian, one worker process per core, many threads each.

Run it with: python -m clickkit.ingest.serve --port 5000 --workers 2 --threads 32
`--server gunicorn` serves it with gunicorn's gthread workers instead (the kit's earlier recommendation).
"""

import argparse
import atexit
import multiprocessing
import os

from clickkit.config import load_settings
from clickkit.ingest import app as ingest_app


def default_workers() -> int:
    """Return one worker per core: each worker is a process, so together they use every core."""
    return max(2, os.cpu_count() or 1)


# Each request waits a few ms for Kafka's acknowledgement while holding no CPU, so a worker needs many
# threads to keep busy; requests that wait together share a producer batch (one trip to Kafka).
# 32 did better than 16 and as well as 64 in `python -m clickkit.bench.variants` on a 2-core machine.
DEFAULT_THREADS = 32
GRACE_S = 15  # long enough for in-flight sends (6 s at most) and the final flush


def worker_app():
    """Build the reference app in a granian worker, and flush its producer when that worker exits."""
    app = ingest_app.create_app(producer_settings())
    atexit.register(ingest_app.close_producer, app)  # runs because workers are spawned, see serve_granian
    return app


def producer_settings() -> dict:
    """Return the app config that carries --linger-ms to the workers, if it was given."""
    linger_ms = load_settings().linger_ms
    return {"PRODUCER_SETTINGS": {"linger_ms": linger_ms}} if linger_ms is not None else {}


def serve_granian(host: str, port: int, workers: int, threads: int) -> None:
    """Serve with granian: HTTP in Rust, the Flask app on `threads` Python threads in each worker process."""
    from granian import Granian

    # Spawned workers end through sys.exit, which runs atexit (forked ones end with os._exit, which does not).
    multiprocessing.set_start_method("spawn", force=True)
    Granian(
        "clickkit.ingest.serve:worker_app",
        factory=True,
        address=host,
        port=port,
        interface="wsgi",
        workers=workers,
        blocking_threads=threads,
        websockets=False,
        workers_kill_timeout=GRACE_S,
        # A request no thread is free for waits on its connection rather than in the worker's memory.
        backpressure=threads,
        log_level="warning",
    ).serve()


def serve_gunicorn(host: str, port: int, workers: int, threads: int) -> None:
    """Serve with gunicorn's gthread workers: HTTP in Python, a thread pool per worker process."""
    from gunicorn.app.base import BaseApplication

    class IngestServer(BaseApplication):
        """Build the reference app in each gunicorn worker."""

        def load_config(self):
            options = {
                "bind": f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "graceful_timeout": GRACE_S,
                "timeout": 60,
                "keepalive": 5,
                "accesslog": None,
                "loglevel": "warning",
                "worker_exit": close_worker_producer,
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            return ingest_app.create_app(producer_settings())

    IngestServer().run()


def close_worker_producer(arbiter, worker) -> None:
    """Flush and close a gunicorn worker's producer when it stops (SIGTERM)."""
    app = getattr(worker, "wsgi", None)  # the arbiter also calls this hook for workers that never booted
    if "clickkit_producer" in getattr(app, "extensions", {}):
        ingest_app.close_producer(app)


SERVERS = {"granian": serve_granian, "gunicorn": serve_gunicorn}


def main(argv=None) -> None:
    """Parse the command line and serve until SIGTERM or Ctrl+C."""
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m clickkit.ingest.serve", description=__doc__)
    parser.add_argument("--port", type=int, default=settings.ingest_port)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to accept connections from other machines")
    parser.add_argument("--workers", type=int, default=default_workers())
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    parser.add_argument("--topic", default=None, help=f"topic to write to (default: {settings.topic})")
    parser.add_argument("--server", choices=SERVERS, default="granian")
    parser.add_argument(
        "--linger-ms", type=int, default=None, help="the producer's linger_ms (default: make_producer's, 0)"
    )
    args = parser.parse_args(argv)
    # The workers build their app from the environment: granian starts them as fresh interpreters.
    if args.topic:
        os.environ["CLICKS_TOPIC"] = args.topic
    if args.linger_ms is not None:
        os.environ["CLICKKIT_LINGER_MS"] = str(args.linger_ms)
    print(
        f"Serving the reference ingest app with {args.server} on http://{args.host}:{args.port}/clicks "
        f"({args.workers} workers x {args.threads} threads); stop with Ctrl+C.",
        flush=True,
    )
    SERVERS[args.server](args.host, args.port, args.workers, args.threads)


if __name__ == "__main__":
    main()

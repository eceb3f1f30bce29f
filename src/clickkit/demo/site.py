"""Serve the fake website with its click tracker, and forward its POST /clicks to the ingest endpoint."""

import argparse
import sys
from urllib.parse import urlsplit

import requests
from flask import Flask, Response, jsonify, request

from clickkit.config import REPO_ROOT, load_settings
from clickkit.course.notebook_server import BackgroundServer, bind
from clickkit.errors import KitError

SITE_DIR = REPO_ROOT / "site"
FORWARD_TIMEOUT_S = 10  # a little over the endpoint's own bounded 503, so its answer gets through


def create_site(ingest_url: str) -> Flask:
    """Build the site: static pages, plus /clicks forwarded to `ingest_url` (same origin, so no CORS)."""
    app = Flask(__name__, static_folder=str(SITE_DIR), static_url_path="")
    app.config["INGEST_URL"] = ingest_url

    @app.get("/")
    def index():
        return app.send_static_file("index.html")

    @app.post("/clicks")
    def forward_click():
        """Pass the tracker's event on unchanged and answer with whatever the endpoint answered."""
        url = app.config["INGEST_URL"]
        try:
            answer = requests.post(
                url,
                data=request.get_data(),
                timeout=FORWARD_TIMEOUT_S,
                headers={"Content-Type": request.content_type or "application/json"},
            )
        except requests.RequestException as error:
            message = (
                f"The ingest endpoint at {url} did not answer ({type(error).__name__}). Start it (notebook 01, "
                "or make demo-site ARGS=--with-solution), or set INGEST_URL to where it runs."
            )
            return jsonify(error=message), 502
        headers = {
            key: value for key, value in answer.headers.items() if key.lower() in ("content-type", "retry-after")
        }
        return Response(answer.content, answer.status_code, headers)

    return app


def points_at_itself(ingest_url: str, host: str, port: int) -> bool:
    """Tell whether forwarding to the URL would loop back into this very site."""
    target = urlsplit(ingest_url)
    local = {"localhost", "127.0.0.1", "::1", "0.0.0.0", host}
    return target.hostname in local and (target.port or 80) == port


def main(argv=None) -> int:
    """Serve the site until Ctrl-C."""
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m clickkit.demo.site", description=__doc__)
    parser.add_argument("--port", type=int, default=8000, help="port of the site (default 8000)")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to let other machines in the room connect")
    parser.add_argument(
        "--url", default=settings.ingest_url, help=f"endpoint to forward to (INGEST_URL, now {settings.ingest_url})"
    )
    parser.add_argument(
        "--with-solution", action="store_true", help="also run the solution endpoint on a free port and forward to it"
    )
    args = parser.parse_args(argv)
    solution_server = None
    if args.with_solution:
        from clickkit.ingest.app import create_app  # imports kafka-python, needed only here

        solution_server = BackgroundServer(create_app(), port=0).start()
        args.url = f"{solution_server.url}/clicks"
    if points_at_itself(args.url, args.host, args.port):
        print(
            f"error: {args.url} is this site itself. Serve the site on another --port, or point --url / "
            "INGEST_URL at the endpoint.",
            file=sys.stderr,
        )
        return 2
    try:
        server = bind(
            create_site(args.url),
            args.host,
            args.port,
            "Stop the program on it, or choose another port: make demo-site ARGS='--port 8001'.",
        )
    except KitError as error:
        print(f"error: {error}", file=sys.stderr)
        if solution_server:
            solution_server.stop()
        return 1
    print(
        f"The fake website is at http://{args.host}:{server.port}/ ; its clicks go to {args.url}. Ctrl-C stops it.",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        if solution_server:
            solution_server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The live page: a Kafka consumer of the clicks topic, and a read-only Flask app that streams its totals."""

import json
import threading
from pathlib import Path

from flask import Flask, Response, jsonify
from kafka.errors import KafkaError

from clickkit.broker.topics import consumer_at
from clickkit.demo.tally import LiveTotals
from clickkit.errors import LiveError, UnknownTopic

PAGE_DIR = Path(__file__).parent / "live_page"
POLL_MS = 200  # how long the consumer waits for records before checking whether to stop
UPDATES_PER_S = 10  # a page gets at most this many updates a second, however fast events arrive
HEARTBEAT_S = 1.0  # and at least one a second, so the chart slides even when nothing arrives
MAX_OPEN_PAGES = 100  # each open page holds one server thread


class LiveFeed:
    """Read every new record of the topic on a thread of its own, into its LiveTotals."""

    def __init__(self, bootstrap_servers: str, topic: str, from_beginning: bool = False):
        start = "the beginning of the topic" if from_beginning else "the moment the live page started"
        self.tally = LiveTotals(topic, bootstrap_servers, start)
        self.bootstrap_servers, self.topic, self.from_beginning = bootstrap_servers, topic, from_beginning
        self.stopping = threading.Event()
        self._thread = None

    def start(self) -> "LiveFeed":
        """Place the consumer on the topic, then read on a thread; every record sent after this is counted."""
        # No consumer group: the page reads without committing anything, so it changes nothing in Kafka.
        try:
            consumer = consumer_at(self.bootstrap_servers, self.topic, "beginning" if self.from_beginning else "end")
        except UnknownTopic as error:
            raise LiveError(f"{error} The live page reads the topic the endpoint writes to.") from error
        self._thread = threading.Thread(target=self._read, args=(consumer,), name="live-consumer", daemon=True)
        self._thread.start()
        return self

    def _read(self, consumer) -> None:
        try:
            while not self.stopping.is_set():
                try:
                    batches = consumer.poll(timeout_ms=POLL_MS)
                except KafkaError as error:
                    self.tally.report_kafka(
                        f"{type(error).__name__}: {error}. Check that the broker at "
                        f"{self.bootstrap_servers} runs (make kafka-status)."
                    )
                    self.stopping.wait(1.0)
                    continue
                self.tally.report_kafka("")
                for records in batches.values():
                    for record in records:
                        self.tally.add(record.partition, record.offset, record.timestamp, record.value)
        finally:
            consumer.close(timeout_ms=5000)  # the consumer is not thread-safe: close it on its own thread

    def stop(self) -> None:
        """Stop reading, close the consumer and end every open page's stream."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def create_live_app(feed: LiveFeed, answers=None) -> Flask:
    """Build the read-only live page on `feed`; `answers` (an Answers) adds the endpoint's rejections."""
    app = Flask(__name__, static_folder=str(PAGE_DIR), static_url_path="/static")
    open_pages = threading.BoundedSemaphore(MAX_OPEN_PAGES)

    @app.get("/")
    def page():
        return app.send_static_file("index.html")

    @app.get("/stream")
    def stream():
        """Send the totals as server-sent events, on every change and every second, until the page closes."""
        if not open_pages.acquire(blocking=False):
            return jsonify(error=f"{MAX_OPEN_PAGES} live pages are open already: close some and reload."), 503
        response = Response(
            updates(feed, answers),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
        response.call_on_close(open_pages.release)
        return response

    @app.after_request
    def read_only_and_self_contained(response):
        # The page shows whatever is on the topic: never let it run scripts or load anything from elsewhere.
        response.headers["Content-Security-Policy"] = (
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        return response

    return app


def updates(feed: LiveFeed, answers=None):
    """Yield the feed's totals as server-sent events until the feed stops."""
    version = -1
    while not feed.stopping.is_set():
        version = feed.tally.wait(version, HEARTBEAT_S)
        data = feed.tally.snapshot()
        data["answers"] = answers.snapshot() if answers is not None else None
        yield f"data: {json.dumps(data)}\n\n"
        feed.stopping.wait(1 / UPDATES_PER_S)

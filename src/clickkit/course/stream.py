"""What notebook 04 leans on: where its clicks enter Kafka, and a consumer group's lag sampled over time."""

import logging
import threading
import time
import uuid

from clickkit import schema
from clickkit.broker.groups import LagWatch
from clickkit.broker.topics import create_topic, delete_topics_with_prefix
from clickkit.course.endpoint import load_endpoint
from clickkit.course.notebook_server import BackgroundServer, cell_output
from clickkit.traffic.send import send

KAFKA_MODE = "the fake website's Kafka mode (make fake-website ARGS='--mode kafka'), with no endpoint in between"


class ClickSource:
    """Send clicks to the lab's topic: through the student's 01 endpoint when it works, else straight to Kafka."""

    def __init__(self, settings, topic: str, endpoint=None, why_not: str = ""):
        self.settings, self.topic, self.endpoint, self.why_not = settings, topic, endpoint, why_not
        self.app = self.server = None
        if endpoint is not None:
            self.app = endpoint.create_app({"CLICKS_TOPIC": topic})
            self.server = BackgroundServer(self.app, port=0)  # any free port: 01's own server may hold INGEST_PORT

    @property
    def through_endpoint(self) -> bool:
        return self.endpoint is not None

    def start(self) -> "ClickSource":
        """Serve the endpoint, if there is one, and say which way the clicks go."""
        if self.through_endpoint:
            # Werkzeug logs a line per request from the server's threads, into whichever cell runs (02).
            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self.server.start()
            print(f"The clicks go through your endpoint from 01, at {self.server.url}/clicks.")
        else:
            print(
                f"Your endpoint from 01 is not used: {self.why_not}\nThe clicks go straight to Kafka with "
                f"{KAFKA_MODE}. Once 01's checks pass, save it and run this cell again."
            )
        return self

    def send(self, events, concurrency: int = 4):
        """Send the events and return the sender's Summary (accepted, rejected, failed)."""
        events = list(events)
        if self.through_endpoint:
            return send(
                iter(events),
                "http",
                url=f"{self.server.url}/clicks",
                concurrency=concurrency,
                total=len(events),
                progress=False,
            )
        return send(
            iter(events),
            "kafka",
            bootstrap_servers=self.settings.bootstrap_servers,
            topic=self.topic,
            total=len(events),
            progress=False,
        )

    def close(self) -> None:
        """Stop the server and flush the endpoint's producer."""
        if self.through_endpoint:
            self.server.stop()
            self.endpoint.close_producer(self.app)


def click_source(settings, topic: str, notebook: str = "01-ingest-api.ipynb") -> ClickSource:
    """Return the ClickSource of this lab: the 01 endpoint if it stores a probe click, else the Kafka mode."""
    try:
        endpoint = load_endpoint(notebook)
    except Exception as error:  # the student's cells may raise anything: say what, and carry on without them
        return ClickSource(settings, topic, why_not=f"loading {notebook} raised {type(error).__name__}: {error}")
    why_not = probe(settings, endpoint)
    return ClickSource(settings, topic, None if why_not else endpoint, why_not)


def probe(settings, endpoint) -> str:
    """Post one click to the endpoint, on a topic of its own; return '' if it was stored, else what went wrong."""
    probe_topic = create_topic(settings.bootstrap_servers, f"{settings.topic}-probe-{uuid.uuid4().hex[:8]}")
    try:
        app = endpoint.create_app({"CLICKS_TOPIC": probe_topic})
        try:
            answer = app.test_client().post("/clicks", json=schema.sample())
        finally:
            endpoint.close_producer(app)
        body = answer.get_json(silent=True)
        if answer.status_code == 200 and isinstance(body, dict) and "offset" in body:
            return ""
        return f"POST /clicks answered {answer.status_code} {answer.get_data(as_text=True)[:120].strip()}"
    except Exception as error:
        return f"it raised {type(error).__name__}: {error}"
    finally:
        delete_topics_with_prefix(settings.bootstrap_servers, probe_topic)


class LagSampler:
    """Measure a consumer group's lag every `every_s` seconds on a thread of its own, as (seconds, lag) pairs."""

    def __init__(self, bootstrap_servers: str, topic: str, group: str, every_s: float = 0.05):
        self.bootstrap_servers, self.topic, self.group, self.every_s = bootstrap_servers, topic, group, every_s
        self.samples, self.error = [], None
        self._stopping, self._ready = threading.Event(), threading.Event()
        self._thread = None
        self._started = time.monotonic()

    def elapsed(self) -> float:
        """Return the seconds since sampling started, on the samples' clock."""
        return time.monotonic() - self._started

    def start(self, timeout_s: float = 15.0) -> "LagSampler":
        """Start sampling, and return once the first sample is taken."""
        self._started = time.monotonic()
        self._thread = threading.Thread(target=cell_output(self._run), name="lag-sampler", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise TimeoutError(f"No lag could be measured within {timeout_s:.0f} s: is Kafka overloaded?")
        if self.error:
            raise self.error
        return self

    def _run(self) -> None:
        try:
            watch = LagWatch(self.bootstrap_servers, self.topic, self.group)
        except Exception as error:  # reported by start()
            self.error = error
            self._ready.set()
            return
        try:
            while not self._stopping.is_set():
                self.samples.append((self.elapsed(), watch.lag()))
                self._ready.set()
                self._stopping.wait(self.every_s)
        except Exception as error:  # a broker gone mid-way: the samples so far stay
            self.error = error
        finally:
            watch.close()
            self._ready.set()

    def wait_for(self, condition, timeout_s: float = 30.0) -> bool:
        """Wait until condition(samples) holds, at most timeout_s; return whether it did."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.error:
            if condition(list(self.samples)):
                return True
            time.sleep(self.every_s)
        return condition(list(self.samples))

    def stop(self) -> list:
        """Stop sampling and return the samples."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=15)
        return list(self.samples)

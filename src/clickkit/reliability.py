"""Reliability scenarios for the solution's ingest endpoint; `make reliability` runs them and prints a table.

Each scenario posts clicks that carry a `click_id`, counts the answers, then reads the topic back to find
acknowledged events that are missing and events stored twice. The tests call the same scenario functions.
"""

import argparse
import contextlib
import itertools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import requests
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType, NewTopic

from clickkit.broker import KitError, LocalKafka, port_is_open
from clickkit.config import load_settings
from clickkit.notebook_server import BackgroundServer
from clickkit.solution import load_endpoint
from clickkit.traffic import generate

COLUMNS = ("scenario", "requests", "2xx", "4xx", "5xx", "acknowledged_missing", "duplicates")
# The hang guard: the endpoint should answer within ~10 s even while Kafka is down.
HTTP_TIMEOUT_S = 30
ADMIN_TIMEOUT_MS = 15000
MAX_CLICKS_PER_FLOW = 10_000  # with the waits' deadlines, keeps every scenario bounded in count and time


@dataclass
class Tally:
    """What one scenario sent, what came back, and what the topic holds afterwards."""

    scenario: str
    statuses: Counter = field(default_factory=Counter)
    sent: set = field(default_factory=set)  # the click_id of every click posted
    acknowledged: set = field(default_factory=set)
    unanswered: int = 0  # connections refused or reset: no answer, so no promise was made
    problems: list = field(default_factory=list)  # broken promises of the contract, in words
    facts: dict = field(default_factory=dict)  # figures worth printing, e.g. the slowest 503
    acknowledged_missing: int = 0
    duplicates: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, low: int) -> int:
        """Return how many answers had a status in low..low+99."""
        return sum(n for status, n in self.statuses.items() if low <= status < low + 100)

    def row(self) -> dict:
        """Return this scenario's row of the report."""
        return {"scenario": self.scenario, "requests": sum(self.statuses.values()) + self.unanswered,
                "2xx": self.count(200), "4xx": self.count(400), "5xx": self.count(500),
                "acknowledged_missing": self.acknowledged_missing, "duplicates": self.duplicates}

    def record(self, response, seconds: float, click_id=None) -> None:
        """Count one answer and note any way it breaks the endpoint's contract."""
        with self.lock:
            if response is None:
                self.unanswered += 1
                return
            status = response.status_code
            self.statuses[status] += 1
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                self.problems.append(f"{status} answer without a JSON object body: {response.text[:80]!r}")
            elif status == 200 and click_id is not None:
                self.acknowledged.add(click_id)
            elif status >= 400 and not body.get("error"):
                self.problems.append(f"{status} answer without an error message: {body}")
            if status >= 500:
                self.facts["slowest_503_s"] = round(max(seconds, self.facts.get("slowest_503_s", 0.0)), 2)
                if status != 503 or not response.headers.get("Retry-After"):
                    self.problems.append(f"{status} answer (want 503 with Retry-After): {response.text[:80]!r}")


def post(url: str, body: bytes, content_type="application/json", tally=None, click_id=None, method="POST"):
    """Send one request; return the response, or None when the server did not answer."""
    headers = {"Content-Type": content_type} if content_type else {}
    started = time.monotonic()
    try:
        response = requests.request(method, url, data=body, headers=headers, timeout=HTTP_TIMEOUT_S)
    except requests.Timeout:
        response = None
        if tally is not None:
            tally.problems.append(f"no answer within {HTTP_TIMEOUT_S} s: the endpoint hangs")
    except requests.ConnectionError:
        response = None
    if tally is not None:
        tally.record(response, time.monotonic() - started, click_id)
    return response


class Flow:
    """Post generated clicks, each with a fresh `click_id`, from a few threads until stopped."""

    def __init__(self, url: str, tally: Tally, threads: int = 2, seed: int = 6):
        self.url, self.tally = url, tally
        self._events, self._events_lock = generate(seed), threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]

    def __enter__(self) -> "Flow":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=HTTP_TIMEOUT_S + 5)

    def _run(self) -> None:
        while not self._stop.is_set() and len(self.tally.sent) < MAX_CLICKS_PER_FLOW:
            answered = send_click(self.url, self.tally, self._next_event()) is not None
            time.sleep(0.01 if answered else 0.2)  # a steady flow, not a load test; slower while refused

    def _next_event(self) -> dict:
        with self._events_lock:
            return next(self._events)

    def wait(self, condition, timeout_s: float, what: str) -> bool:
        """Wait until condition(tally) holds; note a problem if it never does."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if condition(self.tally):
                return True
            time.sleep(0.1)
        self.tally.problems.append(f"gave up after {timeout_s:.0f} s waiting for {what}")
        return False


def send_click(url: str, tally: Tally, event: dict):
    """Post one click with a fresh id and record the answer."""
    click_id = uuid.uuid4().hex
    with tally.lock:
        tally.sent.add(click_id)
    body = json.dumps({**event, "click_id": click_id}).encode()
    return post(url, body, tally=tally, click_id=click_id)


def read_topic(bootstrap_servers: str, topic: str, timeout_s: float = 60.0) -> list:
    """Return every record value on the topic, from the beginning to the current end."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False,
                             request_timeout_ms=ADMIN_TIMEOUT_MS)
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        end = consumer.end_offsets(partitions)
        values, deadline = [], time.monotonic() + timeout_s
        while any(consumer.position(p) < end[p] for p in partitions):
            if time.monotonic() > deadline:
                raise TimeoutError(f"Reading {topic} took over {timeout_s:.0f} s: is the broker overloaded?")
            for records in consumer.poll(timeout_ms=1000).values():
                values.extend(record.value for record in records)
        return values
    finally:
        consumer.close()


def audit(bootstrap_servers: str, topic: str, *tallies: Tally) -> None:
    """Read the topic back and fill in each tally's missing and duplicated acknowledged events."""
    ids = Counter()
    for value in read_topic(bootstrap_servers, topic):
        event = json.loads(value)
        if not isinstance(event, dict):
            tallies[0].problems.append(f"a record on {topic} is not a JSON object: {value[:80]!r}")
            continue
        ids[event.get("click_id")] += 1
    strangers = set(ids) - set().union(*(tally.sent for tally in tallies))
    if strangers:
        tallies[0].problems.append(f"{sum(ids[i] for i in strangers)} records on {topic} that no scenario sent")
    for tally in tallies:
        tally.acknowledged_missing = sum(1 for click_id in tally.acknowledged if not ids[click_id])
        tally.duplicates = sum(ids[click_id] - 1 for click_id in tally.sent if ids[click_id] > 1)
        # Not a broken promise: a click that got a 503 after a timeout may still have reached Kafka.
        tally.facts["unacknowledged_on_topic"] = sum(1 for i in tally.sent - tally.acknowledged if ids[i])


@dataclass(frozen=True)
class BadCase:
    """A request the endpoint must refuse with a 4xx and a JSON message, writing nothing."""

    name: str
    body: bytes
    status: int
    content_type: str | None = "application/json"
    method: str = "POST"
    path: str = "/clicks"


BAD_CASES = [
    BadCase("empty body", b"", 400),
    BadCase("blank body", b"  \n", 400),
    BadCase("not JSON", b"ts_ingest=1", 400),
    BadCase("truncated JSON", b'{"ts_ingest": 1', 400),
    BadCase("invalid UTF-8", b'{"article_title": "\xff\xfe"}', 400),
    BadCase("JSON list", b'[{"ts_ingest": 1}]', 400),
    BadCase("JSON string", b'"click"', 400),
    BadCase("JSON number", b"42", 400),
    BadCase("JSON null", b"null", 400),
    BadCase("JSON boolean", b"true", 400),
    BadCase("NaN", b'{"visitor_page_timer": NaN}', 400),
    BadCase("number too large for a float", b'{"visitor_page_timer": 1e999}', 400),
    BadCase("integer of 5000 digits", b'{"ts_ingest": ' + b"9" * 5000 + b"}", 400),
    BadCase("lone surrogate", b'{"article_title": "\\ud800"}', 400),
    BadCase("nested 17 levels", b'{"a": ' + b"[" * 16 + b"]" * 16 + b"}", 400),
    BadCase("nested 20000 levels", b'{"a": ' + b"[" * 20000 + b"]" * 20000 + b"}", 400),
    BadCase("missing Content-Type", b'{"ts_ingest": 1}', 415, content_type=None),
    BadCase("text/plain Content-Type", b'{"ts_ingest": 1}', 415, content_type="text/plain"),
    BadCase("form Content-Type", b"ts_ingest=1", 415, content_type="application/x-www-form-urlencoded"),
    BadCase("body over 64 KiB", b'{"article_title": "' + b"x" * 70_000 + b'"}', 413),
    BadCase("unknown route", b'{"ts_ingest": 1}', 404, path="/click"),
    BadCase("GET /clicks", b"", 405, content_type=None, method="GET"),
    BadCase("PUT /clicks", b'{"ts_ingest": 1}', 405, method="PUT"),
    BadCase("batch that is not a list", b'{"ts_ingest": 1}', 400, path="/clicks/batch"),
]


def send_bad_case(base_url: str, case: BadCase, tally: Tally):
    """Send one bad request; note a problem if the status differs or the server stops serving."""
    response = post(base_url + case.path, case.body, case.content_type, tally, method=case.method)
    got = response.status_code if response is not None else "no answer"
    if got != case.status:
        tally.problems.append(f"{case.name}: got {got}, want {case.status}")
    health = requests.get(base_url + "/health", timeout=HTTP_TIMEOUT_S)
    if health.status_code != 200:
        tally.problems.append(f"{case.name}: /health answered {health.status_code} afterwards")
    return response


def serve_solution(bootstrap_servers: str, topic: str) -> BackgroundServer:
    """Serve the solution notebook's app on a free loopback port."""
    endpoint = load_endpoint()
    app = endpoint["create_app"]({"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "CLICKS_TOPIC": topic})
    app.extensions["close_producer"] = endpoint["close_producer"]
    return BackgroundServer(app, port=0).start()


def stop_solution(server: BackgroundServer) -> None:
    """Stop serving, then flush and close the producer with the notebook's own close_producer."""
    server.stop()
    server.app.extensions["close_producer"](server.app)


def bad_input_scenario(bootstrap_servers: str, topic: str, good_clicks: int = 5) -> Tally:
    """Send every bad case, then a few good clicks; only the good ones may reach the topic."""
    tally = Tally("bad input")
    server = serve_solution(bootstrap_servers, topic)
    try:
        for case in BAD_CASES:
            send_bad_case(server.url, case, tally)
        for event in itertools.islice(generate(seed=6), good_clicks):
            send_click(server.url + "/clicks", tally, event)
    finally:
        stop_solution(server)
    audit(bootstrap_servers, topic, tally)
    return tally



def free_port_pair() -> int:
    """Return a free port whose neighbour (a KRaft controller's port) is free too."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port < 65000 and not port_is_open(port + 1):
            return port
    raise RuntimeError("No free pair of ports on 127.0.0.1: stop some servers and try again.")


def outage_scenarios(kafka: LocalKafka, topic: str = "clicks") -> tuple:
    """Start the app while Kafka is down, start Kafka, then kill and restart it while clicks flow."""
    at_start, mid_run = Tally("kafka down at start"), Tally("kafka down mid-run")
    server = serve_solution(kafka.bootstrap_servers, topic)
    url = server.url + "/clicks"
    try:
        with Flow(url, at_start) as flow:
            flow.wait(lambda t: t.count(500) >= 3, 60, "503s while Kafka is down")
            kafka.start()
            flow.wait(lambda t: len(t.acknowledged) >= 20, 90, "20 clicks accepted after Kafka started")
        with Flow(url, mid_run) as flow:
            flow.wait(lambda t: len(t.acknowledged) >= 20, 60, "20 clicks accepted before the crash")
            kafka.kill_node(1)
            flow.wait(lambda t: t.count(500) >= 3, 60, "503s while Kafka is down")
            kafka.start()
            accepted = len(mid_run.acknowledged)
            flow.wait(lambda t: len(t.acknowledged) >= accepted + 20, 90, "20 clicks accepted after the restart")
    finally:
        stop_solution(server)
    audit(kafka.bootstrap_servers, topic, at_start, mid_run)
    return at_start, mid_run


def create_replicated_topic(bootstrap_servers: str, topic: str, partitions: int = 3) -> dict:
    """Create the topic with 3 replicas and min.insync.replicas=2; return what the cluster reports."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=ADMIN_TIMEOUT_MS)
    try:
        admin.create_topics([NewTopic(topic, partitions, 3, topic_configs={"min.insync.replicas": "2"})],
                            timeout_ms=ADMIN_TIMEOUT_MS)
        described = admin.describe_topics([topic])[0]["partitions"]
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
    finally:
        admin.close()
    return {"replicas": sorted({len(p["replica_nodes"]) for p in described}),
            "min.insync.replicas": configs.get("min.insync.replicas", {}).get("value"),
            "leaders": {p["partition_index"]: p["leader_id"] for p in described}}


def cluster_scenario(kafka: LocalKafka, topic: str = "clicks") -> Tally:
    """Kill the broker that leads partition 0 while clicks flow into a 3-replica topic."""
    tally = Tally("cluster: leader killed")
    tally.facts["topic"] = create_replicated_topic(kafka.bootstrap_servers, topic)
    victim = tally.facts["topic"]["leaders"][0]
    server = serve_solution(kafka.bootstrap_servers, topic)
    try:
        with Flow(server.url + "/clicks", tally, threads=3) as flow:
            flow.wait(lambda t: len(t.acknowledged) >= 30, 60, "30 clicks accepted before the crash")
            kafka.kill_node(victim)
            accepted = len(tally.acknowledged)
            flow.wait(lambda t: len(t.acknowledged) >= accepted + 60, 90, "60 clicks accepted after the crash")
    finally:
        stop_solution(server)
    tally.facts["killed_node"] = victim
    audit(kafka.bootstrap_servers, topic, tally)
    return tally


def wait_until_serving(base_url: str, process: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Wait until the server answers /health, or raise with what to look at."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(base_url + "/health", timeout=2).status_code == 200:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"The ingest server at {base_url} did not answer /health within {timeout_s:.0f} s "
                       f"(exit code {process.poll()}): see its output above.")


def shutdown_scenario(bootstrap_servers: str, topic: str, log_file: Path) -> Tally:
    """Send SIGTERM to the gunicorn server (python -m clickkit.serve) while clicks flow into it."""
    tally = Tally("shutdown (SIGTERM)")
    port = free_port_pair()
    command = [sys.executable, "-m", "clickkit.serve", "--port", str(port), "--workers", "2",
               "--threads", "4", "--topic", topic]
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers}
    with open(log_file, "w") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base_url, process)
        with Flow(base_url + "/clicks", tally, threads=4) as flow:
            flow.wait(lambda t: len(t.acknowledged) >= 30, 60, "30 clicks accepted before SIGTERM")
            process.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            tally.facts["exit_code"] = process.wait(timeout=40)
            tally.facts["seconds_to_exit"] = round(time.monotonic() - stopping, 2)
    finally:
        if process.poll() is None:
            process.kill()
            tally.problems.append("the server was still running 40 s after SIGTERM")
    audit(bootstrap_servers, topic, tally)
    return tally


def cluster_ports() -> list:
    """Return three free ports, each with a free neighbour, none adjacent to another."""
    ports = []
    while len(ports) < 3:
        port = free_port_pair()
        if all(abs(port - other) > 1 for other in ports):
            ports.append(port)
    return ports


def start_cluster(home: Path, cache: Path, attempts: int = 2) -> LocalKafka:
    """Start three brokers on free ports, with fresh ports on a second try: another program may take one."""
    for attempt in range(1, attempts + 1):
        kafka = LocalKafka(home / f"try-{attempt}", cluster_ports(), cache)
        try:
            kafka.start(timeout_s=240)
            return kafka
        except KitError:
            if attempt == attempts:
                raise


def markdown_table(tallies) -> str:
    """Return the report as a Markdown table, one row per scenario."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for tally in tallies:
        row = tally.row()
        lines.append("| " + " | ".join(str(row[column]) for column in COLUMNS) + " |")
    return "\n".join(lines)


def run_all(workdir: Path, cluster: bool = True) -> list:
    """Run every scenario on brokers of its own under workdir and return the tallies."""
    cache = load_settings().kafka_cache
    single = LocalKafka(workdir / "single", [free_port_pair()], cache)
    tallies = []
    try:
        tallies.extend(outage_scenarios(single))  # starts the broker itself: Kafka is down at first
        tallies.append(bad_input_scenario(single.bootstrap_servers, "clicks-bad-input"))
        tallies.append(shutdown_scenario(single.bootstrap_servers, "clicks-shutdown", workdir / "serve.log"))
    finally:
        single.stop()
    if cluster:
        three = start_cluster(workdir / "cluster", cache)
        try:
            tallies.append(cluster_scenario(three))
        finally:
            three.stop()
    return tallies


def main(argv=None) -> int:
    """Run the scenarios, print the table and the details; exit 1 if a promise was broken."""
    parser = argparse.ArgumentParser(prog="python -m clickkit.reliability", description=__doc__)
    parser.add_argument("--no-cluster", action="store_true", help="skip the three-broker scenario (saves ~1 min)")
    args = parser.parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would drown the table
    with tempfile.TemporaryDirectory(prefix="clickkit-reliability-") as workdir:
        # Progress lines (servers starting, Kafka fetched) go to stderr, so stdout is just the report.
        with contextlib.redirect_stdout(sys.stderr):
            try:
                tallies = run_all(Path(workdir), cluster=not args.no_cluster)
            except KitError as error:
                print(f"error: {error}", file=sys.stderr)
                return 1
    print(markdown_table(tallies))
    broken = False
    for tally in tallies:
        facts = {key: value for key, value in tally.facts.items() if key != "topic"}
        print(f"\n{tally.scenario}: unanswered={tally.unanswered} {facts}")
        for problem in tally.problems:
            print(f"  PROBLEM: {problem}")
        broken = broken or bool(tally.problems) or tally.acknowledged_missing > 0 or tally.duplicates > 0
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

"""Reliability scenarios for the reference ingest endpoint; `make reliability` runs them and prints a table.

Each scenario posts clicks that carry a `click_id`, counts the answers, then reads the topic back to find
acknowledged events that are missing and events stored twice. The tests call the same scenario functions.
"""

import argparse
import contextlib
import itertools
import logging
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from clickkit import contract
from clickkit.broker.local import LocalKafka, start_on_free_ports
from clickkit.broker.topics import create_topic, describe_topic
from clickkit.config import load_settings
from clickkit.course.notebook_server import BackgroundServer
from clickkit.errors import KitError
from clickkit.ingest import app as ingest_app
from clickkit.ingest.process import ServerProcess
from clickkit.ports import free_port_pair
from clickkit.reliability.flow import HTTP_TIMEOUT_S, Flow, Tally, audit, post, send_click
from clickkit.tables import markdown_table
from clickkit.traffic.generate import generate

COLUMNS = ("scenario", "requests", "2xx", "4xx", "5xx", "acknowledged_missing", "duplicates")


@dataclass(frozen=True)
class BadCase:
    """A request the endpoint must refuse with a 4xx and a JSON message, writing nothing."""

    name: str
    body: bytes
    status: int
    content_type: str | None = "application/json"
    method: str = "POST"
    path: str = contract.PATH


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
    BadCase(
        f"body over {contract.MAX_BODY_KIB} KiB",
        b'{"article_title": "' + b"x" * (contract.MAX_BODY_BYTES + 4_000) + b'"}',
        contract.TOO_LARGE,
    ),
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


def serve_reference(bootstrap_servers: str, topic: str) -> BackgroundServer:
    """Serve the reference app on a free loopback port."""
    app = ingest_app.create_app({"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "CLICKS_TOPIC": topic})
    return BackgroundServer(app, port=0).start()


def stop_reference(server: BackgroundServer) -> None:
    """Stop serving, then flush and close the producer."""
    server.stop()
    ingest_app.close_producer(server.app)


def bad_input_scenario(bootstrap_servers: str, topic: str, good_clicks: int = 5) -> Tally:
    """Send every bad case, then a few good clicks; only the good ones may reach the topic."""
    tally = Tally("bad input")
    server = serve_reference(bootstrap_servers, topic)
    try:
        for case in BAD_CASES:
            send_bad_case(server.url, case, tally)
        for event in itertools.islice(generate(seed=6), good_clicks):
            send_click(server.url + contract.PATH, tally, event)
    finally:
        stop_reference(server)
    audit(bootstrap_servers, topic, tally)
    return tally


def outage_scenarios(kafka: LocalKafka, topic: str = contract.TOPIC) -> tuple:
    """Start the app while Kafka is down, start Kafka, then kill and restart it while clicks flow."""
    at_start, mid_run = Tally("kafka down at start"), Tally("kafka down mid-run")
    server = serve_reference(kafka.bootstrap_servers, topic)
    url = server.url + contract.PATH
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
        stop_reference(server)
    audit(kafka.bootstrap_servers, topic, at_start, mid_run)
    return at_start, mid_run


def create_replicated_topic(bootstrap_servers: str, topic: str, partitions: int = 3) -> dict:
    """Create the topic with 3 replicas and min.insync.replicas=2; return what the cluster reports."""
    create_topic(bootstrap_servers, topic, partitions, replicas=3, configs={"min.insync.replicas": "2"})
    # A new topic reaches every broker's metadata a moment after it is created: on a busy machine the first
    # answer can list no partitions, or partitions without a leader yet.
    deadline = time.monotonic() + 60
    described, configs = describe_topic(bootstrap_servers, topic)
    while (len(described) < partitions or any(p["leader_id"] < 0 for p in described)) and time.monotonic() < deadline:
        time.sleep(0.5)
        described, configs = describe_topic(bootstrap_servers, topic)
    if len(described) < partitions:
        raise KitError(
            f"Kafka lists {len(described)} of the {partitions} partitions of {topic} a minute after "
            "creating it: see each node's broker.log in the cluster's folder."
        )
    return {
        "replicas": sorted({len(p["replica_nodes"]) for p in described}),
        "min.insync.replicas": configs.get("min.insync.replicas"),
        "leaders": {p["partition_index"]: p["leader_id"] for p in described},
    }


def cluster_scenario(kafka: LocalKafka, topic: str = contract.TOPIC) -> Tally:
    """Kill the broker that leads partition 0 while clicks flow into a 3-replica topic."""
    tally = Tally("cluster: leader killed")
    tally.facts["topic"] = create_replicated_topic(kafka.bootstrap_servers, topic)
    victim = tally.facts["topic"]["leaders"][0]
    server = serve_reference(kafka.bootstrap_servers, topic)
    try:
        with Flow(server.url + contract.PATH, tally, threads=3) as flow:
            flow.wait(lambda t: len(t.acknowledged) >= 30, 60, "30 clicks accepted before the crash")
            kafka.kill_node(victim)
            accepted = len(tally.acknowledged)
            flow.wait(lambda t: len(t.acknowledged) >= accepted + 60, 90, "60 clicks accepted after the crash")
    finally:
        stop_reference(server)
    tally.facts["killed_node"] = victim
    audit(kafka.bootstrap_servers, topic, tally)
    return tally


def shutdown_scenario(bootstrap_servers: str, topic: str, log_file: Path) -> Tally:
    """Send SIGTERM to the recommended server (python -m clickkit.ingest.serve) while clicks flow into it."""
    tally = Tally("shutdown (SIGTERM)")
    port = free_port_pair()
    server = ServerProcess(
        ["clickkit.ingest.serve", "--port", port, "--workers", 2, "--threads", 4, "--topic", topic],
        port,
        topic,
        log_file,
        env={"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers},
    ).start()
    try:
        with Flow(f"http://127.0.0.1:{port}/clicks", tally, threads=4) as flow:
            flow.wait(lambda t: len(t.acknowledged) >= 30, 60, "30 clicks accepted before SIGTERM")
            server.process.send_signal(signal.SIGTERM)
            stopping = time.monotonic()
            tally.facts["exit_code"] = server.process.wait(timeout=40)
            tally.facts["seconds_to_exit"] = round(time.monotonic() - stopping, 2)
    except subprocess.TimeoutExpired:
        tally.problems.append("the server was still running 40 s after SIGTERM")
    finally:
        server.stop()
    audit(bootstrap_servers, topic, tally)
    return tally


def start_cluster(home: Path, cache: Path) -> LocalKafka:
    """Start three brokers on free ports."""
    return start_on_free_ports(home, 3, cache, timeout_s=240, attempts=2)


def report_table(tallies) -> str:
    """Return the report as a Markdown table, one row per scenario."""
    return markdown_table(COLUMNS, ([tally.row()[column] for column in COLUMNS] for tally in tallies))


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
    print(report_table(tallies))
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

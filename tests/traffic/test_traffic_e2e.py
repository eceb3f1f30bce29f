"""Generated traffic through the solution endpoint into a real Kafka topic: every event accounted for."""

import itertools
import json
import threading
import time
from collections import Counter

import pytest
from flask import Flask, jsonify, request

from clickkit.broker.topics import read_topic
from clickkit.course.notebook_server import BackgroundServer
from clickkit.ingest import app as ingest_app
from clickkit.traffic.generate import Dirt, generate, take
from clickkit.traffic.send import send


def read_events(bootstrap_servers, topic):
    """Return every event on the topic, decoded from JSON."""
    return [json.loads(value) for value in read_topic(bootstrap_servers, topic)]


def key(event):
    return json.dumps(event, sort_keys=True, ensure_ascii=False)


@pytest.fixture
def endpoint(bootstrap_servers, topic):
    """Serve the solution notebook's app on a free port, writing to the test's own topic."""
    solution = ingest_app
    app = solution.create_app({"KAFKA_BOOTSTRAP_SERVERS": bootstrap_servers, "CLICKS_TOPIC": topic})
    server = BackgroundServer(app, port=0).start()
    yield f"{server.url}/clicks"
    server.stop()
    solution.close_producer(app)


@pytest.mark.timeout(90)  # ~15 s normally; a dead broker must not stall the suite for minutes
def test_5000_generated_events_reach_kafka_through_the_solution_endpoint(endpoint, bootstrap_servers, topic):
    dirt = Dirt(nulls=0.01, lowercase=0.02, missing=0.01, probes=0.005, burst=0.0005, burst_size=30)
    events = take(generate(seed=11, start_ms=1_750_000_000_000, dirt=dirt), 5000)
    started = time.monotonic()
    summary = send(iter(events), mode="http", url=endpoint, concurrency=8, total=len(events), progress=False)
    elapsed = time.monotonic() - started
    print(f"\n5000 events through the endpoint: {summary} -> {len(events) / elapsed:.0f} events/s")
    assert summary.counts()["sent"] == 5000 and summary.accepted == 5000, str(summary)
    assert summary.ok
    on_topic = read_events(bootstrap_servers, topic)
    missing = Counter(map(key, events)) - Counter(map(key, on_topic))
    extra = Counter(map(key, on_topic)) - Counter(map(key, events))
    assert not missing, f"{sum(missing.values())} accepted events are not on the topic"
    assert not extra, f"{sum(extra.values())} events on the topic were never sent (duplicates?)"


def test_kafka_mode_writes_straight_to_the_topic(bootstrap_servers, topic):
    events = take(generate(seed=12), 300)
    summary = send(iter(events), mode="kafka", bootstrap_servers=bootstrap_servers, topic=topic, progress=False)
    assert summary.counts() == {"sent": 300, "accepted": 300, "rejected": 0, "retried": 0, "failed": 0}
    assert Counter(map(key, read_events(bootstrap_servers, topic))) == Counter(map(key, events))


def test_5xx_answers_are_retried_and_4xx_answers_are_counted_as_rejected():
    """A stand-in endpoint (no Kafka involved) that fails every third request once, and refuses one event."""
    app, calls, lock, stored = Flask("flaky"), itertools.count(1), threading.Lock(), []

    @app.post("/clicks")
    def flaky():
        with lock:
            call = next(calls)
        event = request.get_json()
        if event["visitor_page_timer"] == -1:
            return jsonify(error="visitor_page_timer must not be negative"), 400
        if call % 3 == 0:
            return jsonify(error="try again"), 503, {"Retry-After": "0"}
        with lock:
            stored.append(event)
        return jsonify(status="stored")

    events = take(generate(seed=13), 60)
    events[10] = {**events[10], "visitor_page_timer": -1}
    server = BackgroundServer(app, port=0).start()
    try:
        summary = send(iter(events), mode="http", url=f"{server.url}/clicks", concurrency=3, progress=False)
    finally:
        server.stop()
    assert summary.sent == 60 and summary.accepted == 59 and summary.rejected == 1 and summary.failed == 0
    assert summary.retried >= 15  # about one request in three was answered 503 and sent again
    assert "must not be negative" in str(summary)
    assert Counter(map(key, stored)) == Counter(map(key, events[:10] + events[11:]))

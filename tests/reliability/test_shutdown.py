"""Shutting down: SIGTERM to the recommended server and close_producer lose no accepted event."""

import json

from kafka import KafkaProducer
from kafka.serializer import JsonSerializer

from clickkit.broker.topics import read_topic
from clickkit.ingest import app as ingest_app
from clickkit.reliability.scenarios import shutdown_scenario


def test_sigterm_while_clicks_flow_loses_no_acknowledged_click(bootstrap_servers, topic, tmp_path):
    log = tmp_path / "serve.log"
    tally = shutdown_scenario(bootstrap_servers, topic, log)
    print(tally.row(), tally.facts, log.read_text()[-2000:])
    assert tally.facts["exit_code"] == 0, log.read_text()[-2000:]
    assert tally.problems == []
    assert len(tally.acknowledged) >= 30
    assert tally.acknowledged_missing == 0
    assert tally.duplicates == 0


def test_close_producer_delivers_events_still_in_the_buffer(bootstrap_servers, topic):
    endpoint = ingest_app
    # A long linger keeps the events in the producer's buffer until close_producer flushes them.
    producer = KafkaProducer(
        bootstrap_servers=bootstrap_servers,
        acks="all",
        linger_ms=60_000,
        max_block_ms=15_000,
        value_serializer=JsonSerializer(),
    )
    app = endpoint.create_app({"KAFKA_PRODUCER": producer, "CLICKS_TOPIC": topic})
    for number in range(50):
        producer.send(topic, {"number": number})
    assert read_topic(bootstrap_servers, topic) == []
    endpoint.close_producer(app)
    assert app.extensions["clickkit_producer"].producer is None
    assert [json.loads(value)["number"] for value in read_topic(bootstrap_servers, topic)] == list(range(50))

"""The reference endpoint's deadline: however many requests queue while Kafka is down, each gets its 503 in time."""

import time
from concurrent.futures import ThreadPoolExecutor

from clickkit.ingest import app as ingest_app
from clickkit.broker.gate import KafkaGate


def test_eight_requests_at_once_without_kafka_all_get_an_honest_503_within_the_lessons_bound(bootstrap_servers):
    gate = KafkaGate(bootstrap_servers)  # closed: nothing listens at its address
    app = ingest_app.create_app({"KAFKA_BOOTSTRAP_SERVERS": gate.address})

    def post(_):
        started = time.monotonic()
        response = app.test_client().post("/clicks", json={"article_title": "Kafka"})
        return response, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(post, range(8)))
    for response, seconds in answers:
        assert response.status_code == 503 and response.headers["Retry-After"] == "5"
        assert response.get_json() == {"error": ingest_app.UNAVAILABLE} and "may not" in ingest_app.UNAVAILABLE
        # The deadline is REPLY_WITHIN_S (8 s); the lesson promises 10 s. Before the deadline, the lock,
        # the producer's creation, send() and the wait could add up to 18 s.
        assert seconds < 10, f"a 503 took {seconds:.1f} s"
    ingest_app.close_producer(app)
